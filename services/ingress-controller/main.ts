import * as grpc from '@grpc/grpc-js';
import { AddonEndpoints, ensureAddonService } from '../lib/addon';
import { ApiClient } from '../lib/apiclient';
import { stopOnSignals } from '../lib/component';
import { configFromEnv } from '../lib/config';
import { isReason } from '../lib/errors';
import { EventRecorder } from '../lib/events';
import { HealthImplementation, ServingStatus } from '../lib/health';
import { Informer } from '../lib/informer';
import { logger } from '../lib/log';
import { resourceForCase } from '../lib/resources';
import { connectBus } from '../lib/watchbus';
import { CertificateStore, selfSignedCertificate } from './certs';
import { IngressController } from './controller';
import { LoadBalancerListeners } from './lblisteners';
import { IngressProxy } from './proxy';
import { buildRoutingTable, ownIngressClass } from './routes';
import { controllerService } from './status';

function hostPort(name: string, value: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(value);
  if (!m) throw new Error(`${name} must be host:port, got "${value}"`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/**
 * ingress-controller (ingress-nginx's role): serves the Ingresses of IngressClass
 * KUBEMU_INGRESS_CLASS (default kubemu, created as the default class when absent) with an HTTP
 * reverse proxy on KUBEMU_INGRESS_HTTP_LISTEN (default 127.0.0.1:8080) and TLS termination on
 * KUBEMU_INGRESS_HTTPS_LISTEN (default 127.0.0.1:8443), straight to Service endpoints.
 * Publishes itself through the LoadBalancer Service KUBEMU_INGRESS_SERVICE (default
 * ingress-nginx/ingress-nginx-controller) and writes that Service's address into Ingress status.
 * As that Service's load balancer it marks its ingress IPs ipMode Proxy (kube-proxy leaves them
 * alone) and listens on <LB IP>:80 (HTTP) and :443 (HTTPS) itself, retrying binds every 200 ms.
 * KUBEMU_INGRESS_UPSTREAM_TIMEOUT_MS (default 60000): idle upstream time before 504.
 * KUBEMU_INGRESS_FAST_PATH (default on; "false"/"0" sends every request through node's http server).
 * grpc.health.v1 on KUBEMU_INGRESS_HEALTH_LISTEN (default 127.0.0.1:0), SERVING once the caches
 * synced and the listeners are bound.
 */
async function main(): Promise<void> {
  const config = configFromEnv(process.env, 'ingress-controller');
  const log = logger('ingress-controller', { id: config.componentId });
  const health = new HealthImplementation();
  const server = new grpc.Server();
  health.addTo(server);
  const healthListen = process.env.KUBEMU_INGRESS_HEALTH_LISTEN || '127.0.0.1:0';
  const healthPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(healthListen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  log.info('health service listening', { address: `${healthListen.replace(/:\d+$/, '')}:${healthPort}` });

  const className = process.env.KUBEMU_INGRESS_CLASS || 'kubemu';
  const fastPath = !/^(false|0|off|no)$/i.test(process.env.KUBEMU_INGRESS_FAST_PATH ?? '');
  const publish = process.env.KUBEMU_INGRESS_SERVICE || 'ingress-nginx/ingress-nginx-controller';
  if (!/^[a-z0-9-]+\/[a-z0-9-.]+$/.test(publish)) throw new Error(`KUBEMU_INGRESS_SERVICE must be namespace/name, got "${publish}"`);
  const [publishNs, publishName] = publish.split('/');
  const httpListen = hostPort('KUBEMU_INGRESS_HTTP_LISTEN', process.env.KUBEMU_INGRESS_HTTP_LISTEN || '127.0.0.1:8080');
  const httpsListen = hostPort('KUBEMU_INGRESS_HTTPS_LISTEN', process.env.KUBEMU_INGRESS_HTTPS_LISTEN || '127.0.0.1:8443');
  const upstreamTimeoutMs = Number(process.env.KUBEMU_INGRESS_UPSTREAM_TIMEOUT_MS || '60000');
  if (!(upstreamTimeoutMs > 0)) throw new Error(`KUBEMU_INGRESS_UPSTREAM_TIMEOUT_MS must be a positive number of ms`);

  const client = new ApiClient(config.apiservers);
  const nats = await connectBus(config.natsServers, config.componentId);
  const informers = {
    ingresses: new Informer({ client, nats, info: resourceForCase('ingress'), log }),
    ingressClasses: new Informer({ client, nats, info: resourceForCase('ingressClass'), log }),
    services: new Informer({ client, nats, info: resourceForCase('service'), log }),
    endpoints: new Informer({ client, nats, info: resourceForCase('endpoints'), log }),
    secrets: new Informer({ client, nats, info: resourceForCase('secret'), log }),
  };
  await Promise.all(Object.values(informers).map((i) => i.start()));

  if (!informers.ingressClasses.get(className)) {
    try {
      await client.create(resourceForCase('ingressClass'), ownIngressClass(className));
      log.info('created ingress class', { ingressClass: className, default: true });
    } catch (err) {
      if (!isReason(err, 'AlreadyExists')) throw err;
    }
  }

  const fallback = selfSignedCertificate();
  if (!fallback) log.warn('openssl unavailable: HTTPS is served only for hosts with a TLS secret');
  const certs = new CertificateStore(fallback);
  const emptyTable = buildRoutingTable({ ingresses: [], ingressClasses: [], service: () => undefined, endpoints: () => undefined }, className);
  const proxy = new IngressProxy({ table: emptyTable, certs, upstreamTimeoutMs, fastPath, log });
  // The Service's load balancer: the controller itself on <LB IP>:80/443 (ipMode Proxy).
  const loadBalancer = new LoadBalancerListeners({ accept: (socket, secure) => proxy.accept(socket, secure), log });
  const recorder = new EventRecorder(client, 'nginx-ingress-controller', config.componentId, log);
  // An unspecified listen address is not an address to publish: loopback is.
  const advertised = (h: string) => (h === '0.0.0.0' || h === '::' || h === '' ? '127.0.0.1' : h);
  const controller = new IngressController({
    client,
    informers,
    proxy,
    certs,
    recorder,
    className,
    publishService: publish,
    fallbackIP: advertised(httpListen.host),
    loadBalancer,
    log,
  });
  controller.start();

  const httpPort = await proxy.listenHttp(httpListen.host, httpListen.port);
  const httpsPort = await proxy.listenHttps(httpsListen.host, httpsListen.port);
  log.info('proxy listening', { http: `${httpListen.host}:${httpPort}`, https: `${httpsListen.host}:${httpsPort}`, ingressClass: className, fastPath });

  const publishedService = await ensureAddonService(client, controllerService(publishNs, publishName, httpPort, httpsPort), log);
  controller.startStatus(publishedService);
  const httpIP = advertised(httpListen.host);
  const httpsIP = advertised(httpsListen.host);
  // One subset per address: both ports on one IP, or one each when the listeners differ.
  const registrations =
    httpIP === httpsIP
      ? [{ ip: httpIP, ports: [{ name: 'http', port: httpPort, protocol: 'TCP' }, { name: 'https', port: httpsPort, protocol: 'TCP' }] }]
      : [
          { ip: httpIP, ports: [{ name: 'http', port: httpPort, protocol: 'TCP' }] },
          { ip: httpsIP, ports: [{ name: 'https', port: httpsPort, protocol: 'TCP' }] },
        ];
  const addonEndpoints = registrations.map((r) => new AddonEndpoints(client, { namespace: publishNs, name: publishName, ...r, hostname: config.componentId, log }));
  for (const a of addonEndpoints) await a.start();

  health.set('', ServingStatus.SERVING);
  log.info('serving ingresses', { ingresses: controller.routingTable?.ingresses.length ?? 0 });

  // The proxy logs nothing per request; its counters are written here when they moved.
  let lastStats = '';
  const statsTimer = setInterval(() => {
    const s = JSON.stringify(proxy.stats);
    if (s !== lastStats) log.info('proxy counters', { ...proxy.stats });
    lastStats = s;
  }, 60000);
  statsTimer.unref();

  stopOnSignals(log, async () => {
    health.set('', ServingStatus.NOT_SERVING);
    clearInterval(statsTimer);
    await Promise.all(addonEndpoints.map((a) => a.stop()));
    await loadBalancer.close();
    await proxy.close();
    await controller.stop();
    await Promise.all(Object.values(informers).map((i) => i.stop()));
    await nats.close();
    client.close();
    health.dispose();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });
}

main().catch((err) => {
  logger('ingress-controller').error('failed to start', { err: err instanceof Error ? err.stack : String(err) });
  process.exit(1);
});
