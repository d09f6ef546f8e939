import { Logger } from './log';

/**
 * Wires a component's shutdown: on SIGTERM or SIGINT (pm2 sends either), runs `stop` once and
 * exits 0, or exits 1 if stopping takes longer than `graceMs`. Call once per process.
 */
export function stopOnSignals(log: Logger, stop: () => Promise<void>, graceMs = 10000): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    setTimeout(() => process.exit(1), graceMs).unref();
    try {
      await stop();
    } catch (err) {
      log.error('shutdown failed', { err: (err as Error).message });
      process.exit(1);
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
