/**
 * kubemu cluster operations: start | stop | status [--json] | reset | logs <component> [lines].
 * Settings: KUBEMU_STATE_DIR, KUBEMU_PORT_BASE, KUBEMU_PROFILE, KUBEMU_START_TIMEOUT_SECONDS.
 */
import { CommandError, clusterStatus, resetCluster, showLogs, startCluster, stopCluster } from './lib/cluster-commands';
import { runCli } from './lib/cli';

const USAGE = 'usage: node dist/scripts/cluster.js start | stop | status [--json] | reset | logs <component> [lines]';

// `cluster.js status | head` must not crash when the reader goes away.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

async function main(argv: string[]): Promise<number> {
  const ctx = { out: (line: string) => process.stdout.write(line + '\n') };
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return startCluster(ctx);
    case 'stop':
      return stopCluster(ctx);
    case 'status':
      return clusterStatus(ctx, rest.includes('--json'));
    case 'reset':
      return resetCluster(ctx);
    case 'logs':
      return showLogs(ctx, rest[0], Number(rest[1] ?? 50));
    default:
      process.stderr.write(USAGE + '\n');
      return 2;
  }
}

runCli('kubemu', main, (err): err is CommandError => err instanceof CommandError);
