import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'crypto';
import { ApiClient } from '../lib/apiclient';
import { configFromEnv } from '../lib/config';
import { HealthImplementation, ServingStatus } from '../lib/health';
import { stopOnSignals } from '../lib/component';
import { logger } from '../lib/log';
import { connectBus } from '../lib/watchbus';
import { ControllerManager } from './manager';

/**
 * kube-controller-manager: reads its config from the environment (services/lib/config.ts), runs
 * every controller while it holds the kube-system/kube-controller-manager Lease, exits when it
 * loses it (pm2 starts it again as a candidate), and serves grpc.health.v1 on
 * KUBEMU_CONTROLLER_MANAGER_HEALTH_LISTEN (SERVING once it campaigns: a standby is healthy).
 */
async function main(): Promise<void> {
  const config = configFromEnv(process.env, 'kube-controller-manager');
  const log = logger('kube-controller-manager', { id: config.componentId });
  const health = new HealthImplementation();
  const server = new grpc.Server();
  health.addTo(server);
  const listen = process.env.KUBEMU_CONTROLLER_MANAGER_HEALTH_LISTEN || '127.0.0.1:0';
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );

  const client = new ApiClient(config.apiservers);
  const nats = await connectBus(config.natsServers, config.componentId);
  // As kube-controller-manager's <hostname>_<uuid>: a restarted replica never inherits its dead predecessor's lease.
  const identity = `${config.componentId}_${randomUUID()}`;
  const manager = new ControllerManager({
    client,
    nats,
    identity,
    timings: config.profile.timings,
    stateDir: config.stateDir,
    log,
    onLostLeadership: () => {
      log.error('leader election lost; exiting so that a fresh candidate takes this replica\'s place');
      process.exit(1);
    },
  });
  manager.start();
  health.set('', ServingStatus.SERVING);
  log.info('campaigning for leadership', { identity, profile: config.profile.name });

  stopOnSignals(log, async () => {
    health.set('', ServingStatus.NOT_SERVING);
    await manager.stop();
    await nats.close();
    client.close();
    health.dispose();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });
}

main().catch((err) => {
  logger('kube-controller-manager').error('failed to start', { err: err instanceof Error ? err.stack : String(err) });
  process.exit(1);
});
