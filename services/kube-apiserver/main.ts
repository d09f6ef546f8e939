import { configFromEnv } from '../lib/config';
import { stopOnSignals } from '../lib/component';
import { logger } from '../lib/log';
import { startApiServer } from './apiserver';
import { allocatorOptionsFromEnv } from './serviceallocator';

/** kube-apiserver: reads its config from the environment (see services/lib/config.ts) and serves. */
async function main(): Promise<void> {
  const config = configFromEnv(process.env, 'kube-apiserver');
  const log = logger('kube-apiserver', { id: config.componentId });
  const listen = process.env.KUBEMU_APISERVER_LISTEN || '127.0.0.1:0';
  const httpListen = process.env.KUBEMU_APISERVER_HTTP_LISTEN || undefined;
  const compactionSeconds = Number(process.env.KUBEMU_COMPACTION_INTERVAL_SECONDS || '0');
  const server = await startApiServer({
    config,
    listen,
    publisherMaxInFlight: Number(process.env.KUBEMU_PUBLISHER_MAX_IN_FLIGHT || '0') || undefined,
    compactionIntervalMs: compactionSeconds > 0 ? compactionSeconds * 1000 : undefined,
    ...allocatorOptionsFromEnv(process.env),
    httpPort: Number(process.env.KUBEMU_APISERVER_HTTP_PORT || '0') || (httpListen ? Number(httpListen.slice(httpListen.lastIndexOf(':') + 1)) || undefined : undefined),
    httpListen,
  });
  stopOnSignals(log, () => server.stop());
}

main().catch((err) => {
  logger('kube-apiserver').error('failed to start', { err: err instanceof Error ? err.stack : String(err) });
  process.exit(1);
});
