/**
 * Backup and restore of the store: `snapshot [file]` | `restore <file>` (npm run etcd:snapshot,
 * npm run etcd:restore). Settings as for cluster.js: KUBEMU_STATE_DIR, KUBEMU_PORT_BASE,
 * KUBEMU_PROFILE; ETCDCTL_BIN to use another etcdctl.
 */
import { CommandError } from './lib/cluster-commands';
import { restoreCommand, snapshotCommand } from './lib/etcd-backup';
import { runCli } from './lib/cli';

const USAGE = 'usage: node dist/scripts/etcd-backup.js snapshot [file] | restore <file>';

async function main(argv: string[]): Promise<number> {
  const ctx = { out: (line: string) => process.stdout.write(line + '\n') };
  const [command, file, ...extra] = argv;
  if (extra.length > 0) {
    process.stderr.write(USAGE + '\n');
    return 2;
  }
  switch (command) {
    case 'snapshot':
      return snapshotCommand(ctx, file);
    case 'restore':
      return restoreCommand(ctx, file);
    default:
      process.stderr.write(USAGE + '\n');
      return 2;
  }
}

runCli('kubemu', main, (err): err is CommandError => err instanceof CommandError);
