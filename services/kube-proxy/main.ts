import * as grpc from '@grpc/grpc-js';
import { ApiClient } from '../lib/apiclient';
import { configFromEnv } from '../lib/config';
import { HealthImplementation, ServingStatus } from '../lib/health';
import { stopOnSignals } from '../lib/component';
import { Informer } from '../lib/informer';
import { logger } from '../lib/log';
import { resourceForCase } from '../lib/resources';
import { connectBus } from '../lib/watchbus';
import { nodeChangeMatters, Proxier } from './proxier';
import { parseCidr } from './servicemap';
import { startStatusServer } from './status';
import { DEFAULT_UDP_IDLE_MS } from './udpproxy';

/**
 * kube-proxy, one per node: follows Services, Endpoints and Nodes and proxies Service traffic
 * (TCP, and UDP for UDP ports) in userspace to ready endpoints. Every kube-proxy can serve every
 * address; the kernel decides which one holds each (see README.md).
 *
 * Environment (besides the common ones of lib/config.ts):
 *   KUBEMU_NODE_NAME (required), KUBEMU_NODE_IP (optional: this node's IP until its Node has one),
 *   KUBEMU_NODE_CIDR (default 127.1.0.0/16: node ports are served for nodes with an InternalIP in it),
 *   KUBEMU_PROXY_HEALTH_LISTEN (grpc.health.v1, default 127.0.0.1:0),
 *   KUBEMU_PROXY_STATUS_LISTEN (HTTP /healthz, /proxies, /metrics; default 127.0.0.1:0),
 *   KUBEMU_PROXY_STANDBY_DELAY_MS (default 1000), KUBEMU_PROXY_STANDBY_RETRY_MS (default 100),
 *   KUBEMU_PROXY_UDP_IDLE_MS (default 30000).
 */
function hostPort(name: string, value: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(value);
  if (!m) throw new Error(`${name} must be host:port, got "${value}"`);
  return { host: m[1], port: Number(m[2]) };
}

function numberEnv(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${v}"`);
  return n;
}

async function main(): Promise<void> {
  const config = configFromEnv(process.env, 'kube-proxy');
  const nodeName = process.env.KUBEMU_NODE_NAME || '';
  if (!nodeName) throw new Error('KUBEMU_NODE_NAME is required');
  const log = logger('kube-proxy', { id: config.componentId, node: nodeName });
  const nodeCidrText = process.env.KUBEMU_NODE_CIDR || '127.1.0.0/16';
  const nodeCidr = parseCidr(nodeCidrText);
  if (!nodeCidr) throw new Error(`KUBEMU_NODE_CIDR must be an IPv4 CIDR, got "${nodeCidrText}"`);

  const health = new HealthImplementation();
  const server = new grpc.Server();
  health.addTo(server);
  const healthListen = process.env.KUBEMU_PROXY_HEALTH_LISTEN || '127.0.0.1:0';
  const healthPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(healthListen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  log.info('health service listening', { address: `${healthListen.replace(/:\d+$/, '')}:${healthPort}` });

  const client = new ApiClient(config.apiservers);
  const nats = await connectBus(config.natsServers, config.componentId);
  const services = new Informer({ client, nats, info: resourceForCase('service'), log });
  const endpoints = new Informer({ client, nats, info: resourceForCase('endpoints'), log });
  const nodes = new Informer({ client, nats, info: resourceForCase('node'), log });

  const proxier = new Proxier({
    source: { services: () => services.list(), endpoints: (k) => endpoints.get(k), nodes: () => nodes.list() },
    nodeName,
    nodeIP: process.env.KUBEMU_NODE_IP || undefined,
    nodeCidr,
    standbyDelayMs: numberEnv('KUBEMU_PROXY_STANDBY_DELAY_MS', 1000),
    retryMs: Math.max(10, numberEnv('KUBEMU_PROXY_STANDBY_RETRY_MS', 100)),
    udpIdleMs: numberEnv('KUBEMU_PROXY_UDP_IDLE_MS', DEFAULT_UDP_IDLE_MS),
    log,
  });
  const changed = () => proxier.changed();
  services.addHandlers({ onAdd: changed, onUpdate: changed, onDelete: changed });
  endpoints.addHandlers({ onAdd: changed, onUpdate: changed, onDelete: changed });
  nodes.addHandlers({ onAdd: changed, onUpdate: (o, n) => nodeChangeMatters(o, n) && changed(), onDelete: changed });

  const statusListen = hostPort('KUBEMU_PROXY_STATUS_LISTEN', process.env.KUBEMU_PROXY_STATUS_LISTEN || '127.0.0.1:0');
  const status = await startStatusServer(proxier, statusListen.host, statusListen.port);
  log.info('status server listening', { address: status.address });

  await Promise.all([services.start(), endpoints.start(), nodes.start()]);
  proxier.start();
  health.set('', ServingStatus.SERVING);
  log.info('proxying', { nodeCidr: nodeCidrText, addresses: proxier.wantedCount });

  stopOnSignals(log, async () => {
    health.set('', ServingStatus.NOT_SERVING);
    proxier.stop();
    const closed = new Promise<void>((resolve) => status.server.close(() => resolve()));
    status.server.closeAllConnections();
    await closed;
    await Promise.all([services.stop(), endpoints.stop(), nodes.stop()]);
    await nats.close();
    client.close();
    health.dispose();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });
}

main().catch((err) => {
  logger('kube-proxy').error('failed to start', { err: err instanceof Error ? err.stack : String(err) });
  process.exit(1);
});
