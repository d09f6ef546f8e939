import * as grpc from '@grpc/grpc-js';
import { stopOnSignals } from '../lib/component';
import { HealthImplementation, ServingStatus } from '../lib/health';
import { logger } from '../lib/log';
import { runtimeConfigFromEnv } from './config';
import { addRuntimeServices } from './grpc-service';
import { ImageCatalog } from './images/catalog';
import { ContainerRuntime } from './runtime';

/** Keepalive as the other kubemu servers: below the clients' 5 s ping interval. */
const serverOptions: grpc.ServerOptions = {
  'grpc.keepalive_time_ms': 10000,
  'grpc.keepalive_timeout_ms': 5000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 4000,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  'grpc.enable_channelz': 0,
};

/**
 * container-runtime: one per node. Serves RuntimeService, ImageService and grpc.health.v1 on
 * KUBEMU_RUNTIME_LISTEN, keeping its state in KUBEMU_RUNTIME_ROOT (see ./config.ts). On SIGTERM or
 * SIGINT its containers are killed (they die with the runtime, as they would with SIGKILL) and it exits.
 */
async function main(): Promise<void> {
  const config = runtimeConfigFromEnv(process.env);
  const log = logger('container-runtime', { id: config.componentId, node: config.nodeName });
  const catalog = new ImageCatalog();
  const runtime = new ContainerRuntime({ root: config.root, nodeName: config.nodeName, nodeIndex: config.nodeIndex, podCIDR: config.podCIDR, catalog, log });
  runtime.start();

  const health = new HealthImplementation();
  const server = new grpc.Server(serverOptions);
  health.addTo(server);
  addRuntimeServices(server, runtime, catalog, log);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(config.listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  health.set('', ServingStatus.SERVING);
  log.info('container runtime serving', { address: `${config.listen.replace(/:\d+$/, '')}:${port}`, root: config.root, podCIDR: runtime.podCIDR });

  stopOnSignals(log, async () => {
    health.set('', ServingStatus.NOT_SERVING);
    runtime.shutdown();
    health.dispose();
    server.forceShutdown();
  });
}

main().catch((err) => {
  logger('container-runtime').error('failed to start', { err: err instanceof Error ? err.stack : String(err) });
  process.exit(1);
});
