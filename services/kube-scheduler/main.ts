import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'crypto';
import { ApiClient } from '../lib/apiclient';
import { configFromEnv } from '../lib/config';
import { HealthImplementation, ServingStatus } from '../lib/health';
import { stopOnSignals } from '../lib/component';
import { logger } from '../lib/log';
import { connectBus } from '../lib/watchbus';
import { Scheduler } from './scheduler';

/**
 * kube-scheduler: reads its config from the environment (see services/lib/config.ts), schedules
 * while it holds the kube-system/kube-scheduler Lease, exits when it loses it (pm2 starts it
 * again as a candidate), and serves grpc.health.v1 on
 * KUBEMU_SCHEDULER_HEALTH_LISTEN (default 127.0.0.1:0), SERVING once its informers synced.
 */
async function main(): Promise<void> {
  const config = configFromEnv(process.env, 'kube-scheduler');
  const log = logger('kube-scheduler', { id: config.componentId });
  const health = new HealthImplementation();
  const server = new grpc.Server();
  health.addTo(server);
  const listen = process.env.KUBEMU_SCHEDULER_HEALTH_LISTEN || '127.0.0.1:0';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  log.info('health service listening', { address: `${listen.replace(/:\d+$/, '')}:${port}` });

  const client = new ApiClient(config.apiservers);
  const nats = await connectBus(config.natsServers, config.componentId);
  // As kube-scheduler's <hostname>_<uuid>: a replica restarted by pm2 is a new candidate and must
  // wait for its dead predecessor's lease to expire like everyone else, never inheriting it.
  const identity = `${config.componentId}_${randomUUID()}`;
  const scheduler = new Scheduler({
    client,
    nats,
    identity,
    timings: config.profile.timings,
    log,
    // As kube-scheduler ("leaderelection lost"): exit, and pm2 starts a fresh candidate.
    onLostLeadership: () => {
      log.error('leader election lost; exiting so that a fresh candidate takes this replica\'s place');
      process.exit(1);
    },
  });
  await scheduler.start();
  health.set('', ServingStatus.SERVING);
  log.info('informers synced; scheduling while leading', { profile: config.profile.name });

  stopOnSignals(log, async () => {
    health.set('', ServingStatus.NOT_SERVING);
    await scheduler.stop();
    await nats.close();
    client.close();
    health.dispose();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });
}

main().catch((err) => {
  logger('kube-scheduler').error('failed to start', { err: err instanceof Error ? err.stack : String(err) });
  process.exit(1);
});
