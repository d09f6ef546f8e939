import * as grpc from '@grpc/grpc-js';
import { ApiClient } from '../lib/apiclient';
import { configFromEnv } from '../lib/config';
import { HealthImplementation, ServingStatus } from '../lib/health';
import { stopOnSignals } from '../lib/component';
import { Informer } from '../lib/informer';
import { logger } from '../lib/log';
import { resourceForCase } from '../lib/resources';
import { connectBus } from '../lib/watchbus';
import { ClusterDnsResolver, DEFAULT_TTL, DEFAULT_ZONE, DNS_INDEXERS } from './records';
import { Forwarder, hostUpstreams, parseUpstreams } from './forward';
import { DnsServer } from './server';
import { publishClusterDns, publishSettingsFromEnv } from './addon';

/**
 * cluster-dns (CoreDNS's role): follows Services, Endpoints and Pods and answers DNS for
 * KUBEMU_DNS_ZONE (default KUBEMU_CLUSTER_DOMAIN, the kubelets' setting, else cluster.local) over UDP and TCP on KUBEMU_DNS_LISTEN (default
 * 127.0.0.1:53 as root, 127.0.0.1:1053 otherwise). Names outside the zone are forwarded to
 * KUBEMU_DNS_UPSTREAMS (host:port,...; default the nameservers of /etc/resolv.conf; "none" answers
 * them REFUSED). KUBEMU_DNS_PODS: insecure (default, as CoreDNS's default Corefile), verified (follows
 * Pods too) or disabled.
 * grpc.health.v1 on KUBEMU_DNS_HEALTH_LISTEN (default 127.0.0.1:0), SERVING once the caches synced
 * and the listeners are bound.
 * As an addon (KUBEMU_DNS_PUBLISH, default on when KUBEMU_CLUSTER_DNS is set): ensures the
 * kube-system/kube-dns Service with ClusterIP = the first address of KUBEMU_CLUSTER_DNS and keeps
 * its own listen address in that Service's Endpoints until SIGTERM (see addon.ts).
 */
async function main(): Promise<void> {
  const config = configFromEnv(process.env, 'cluster-dns');
  const log = logger('cluster-dns', { id: config.componentId });
  // Read before anything starts: a bad setting fails the start, not the first registration.
  const publishing = publishSettingsFromEnv(process.env);
  const health = new HealthImplementation();
  const server = new grpc.Server();
  health.addTo(server);
  const healthListen = process.env.KUBEMU_DNS_HEALTH_LISTEN || '127.0.0.1:0';
  const healthPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(healthListen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  log.info('health service listening', { address: `${healthListen.replace(/:\d+$/, '')}:${healthPort}` });

  const client = new ApiClient(config.apiservers);
  const nats = await connectBus(config.natsServers, config.componentId);
  const services = new Informer({ client, nats, info: resourceForCase('service'), indexers: DNS_INDEXERS.services, log });
  const endpoints = new Informer({ client, nats, info: resourceForCase('endpoints'), indexers: DNS_INDEXERS.endpoints, log });
  const podsMode = process.env.KUBEMU_DNS_PODS || 'insecure';
  if (podsMode !== 'insecure' && podsMode !== 'verified' && podsMode !== 'disabled') throw new Error(`KUBEMU_DNS_PODS must be insecure, verified or disabled, got "${podsMode}"`);
  // Only verified mode needs the pods; following every pod in the cluster is not free.
  const pods = podsMode === 'verified' ? new Informer({ client, nats, info: resourceForCase('pod'), indexers: DNS_INDEXERS.pods, log }) : undefined;
  await Promise.all([services.start(), endpoints.start(), pods?.start()]);

  const resolver = new ClusterDnsResolver(
    { services, endpoints, pods },
    { zone: process.env.KUBEMU_DNS_ZONE || process.env.KUBEMU_CLUSTER_DOMAIN || DEFAULT_ZONE, ttl: Number(process.env.KUBEMU_DNS_TTL || DEFAULT_TTL), pods: podsMode },
  );
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const listen = process.env.KUBEMU_DNS_LISTEN || `127.0.0.1:${isRoot ? 53 : 1053}`;
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m) throw new Error(`KUBEMU_DNS_LISTEN must be host:port, got "${listen}"`);
  const upstreamSetting = process.env.KUBEMU_DNS_UPSTREAMS || '';
  // Never forward to ourselves, directly or through the kube-dns ClusterIP (a host whose
  // resolv.conf names the cluster DNS): a loop would turn every outside query into a timeout.
  const upstreams = (upstreamSetting === 'none' ? [] : upstreamSetting ? parseUpstreams(upstreamSetting) : hostUpstreams()).filter(
    (u) => !(u.host === m[1] && u.port === Number(m[2])) && !publishing.clusterDnsIPs.includes(u.host),
  );
  const forwarder = upstreams.length > 0 ? new Forwarder(upstreams) : undefined;
  const dns = new DnsServer({ resolver, host: m[1], port: Number(m[2]), forwarder, log });
  await dns.start();
  health.set('', ServingStatus.SERVING);
  log.info('serving DNS', { address: dns.address, zone: resolver.zone, ttl: resolver.ttl, upstreams: upstreams.map((u) => `${u.host}:${u.port}`) });
  // Registered only once the listeners are bound: kube-proxy must not send queries before we answer.
  const registration = publishing.publish
    ? await publishClusterDns(client, { clusterIP: publishing.clusterIP!, host: m[1], port: dns.port, componentId: config.componentId, log })
    : undefined;

  stopOnSignals(log, async () => {
    health.set('', ServingStatus.NOT_SERVING);
    // Leave the Endpoints first, so kube-proxy stops sending queries before the listeners close.
    await registration?.stop();
    await dns.stop();
    await Promise.all([services.stop(), endpoints.stop(), pods?.stop()]);
    await nats.close();
    client.close();
    health.dispose();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });
}

main().catch((err) => {
  logger('cluster-dns').error('failed to start', { err: err instanceof Error ? err.stack : String(err) });
  process.exit(1);
});
