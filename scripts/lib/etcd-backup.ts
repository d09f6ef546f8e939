/**
 * Backup and restore of the store behind `npm run etcd:snapshot [-- <file>]` and
 * `npm run etcd:restore -- <file>`. Both use etcdctl (Debian package etcd-client, the same
 * 3.4 release as etcd-server): `snapshot save` takes a consistent point-in-time copy of one
 * member's keyspace, `snapshot restore` turns it into a fresh data folder per member.
 *
 * Restore stops the cluster, moves the etcd data aside (never deletes it), restores every member
 * with the topology's names, peer URLs and cluster token, removes the NATS JetStream store (the
 * watch stream holds revisions of the discarded history; with it gone every component lists
 * afresh when it starts) and starts the cluster again.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { HOST, Topology, buildTopology, etcdClusterToken, settingsFromEnv } from '../../services/lib/topology';
import { CommandContext, CommandError, startCluster, stopCluster } from './cluster-commands';
import { formatDuration } from './table';

const ETCDCTL_DIRS = ['/usr/bin', '/usr/local/bin', '/usr/sbin'];

/**
 * Finds etcdctl: ETCDCTL_BIN when set, else PATH, else the Debian locations. Throws
 * CommandError naming the package when it is nowhere.
 */
export function resolveEtcdctl(env: NodeJS.ProcessEnv = process.env): string {
  const isFile = (f: string) => fs.existsSync(f) && fs.statSync(f).isFile();
  if (env.ETCDCTL_BIN) {
    if (isFile(env.ETCDCTL_BIN)) return env.ETCDCTL_BIN;
    throw new CommandError(`ETCDCTL_BIN=${env.ETCDCTL_BIN} is not an executable file`, 2);
  }
  const dirs = [...(env.PATH ?? '').split(path.delimiter).filter(Boolean), ...ETCDCTL_DIRS];
  for (const dir of dirs) {
    const f = path.join(dir, 'etcdctl');
    if (isFile(f)) return f;
  }
  throw new CommandError('etcdctl not found: install the Debian package etcd-client (bash scripts/setup.sh does as root), or set ETCDCTL_BIN', 2);
}

/** `20261123T081500Z`: sortable, and usable in a file name. */
export function timestamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** Where `etcd:snapshot` writes when given no file. */
export function defaultSnapshotFile(stateDir: string, now: Date): string {
  return path.join(stateDir, 'backups', `snapshot-${timestamp(now)}.db`);
}

/** One etcdctl invocation. */
export interface EtcdctlStep {
  member: string;
  args: string[];
}

/** What a restore does, computed without touching anything (so that it can be shown and tested). */
export interface RestorePlan {
  snapshot: string;
  /** The etcd data root (<stateDir>/etcd), moved to `etcdAside`. */
  etcdRoot: string;
  etcdAside: string;
  /** NATS JetStream store folders to remove (the watch stream of the old history). */
  natsStores: string[];
  restores: EtcdctlStep[];
}

/**
 * The restore of `snapshot` into the cluster `topology`: one `etcdctl snapshot restore` per
 * member with the member names, peer URLs and token the etcd processes are started with.
 * Throws CommandError when the topology has no etcd member or a member has no data folder.
 */
export function restorePlan(topology: Topology, snapshot: string, now: Date): RestorePlan {
  const { stateDir } = topology.settings;
  const members = topology.processes.filter((p) => p.component === 'etcd');
  if (members.length === 0) throw new CommandError('the topology has no etcd member', 2);
  const initialCluster = members.map((m) => `${m.name}=http://${HOST}:${m.ports.peer}`).join(',');
  const token = etcdClusterToken(stateDir);
  const restores = members.map((m) => {
    if (!m.dataDir) throw new CommandError(`${m.name} has no data folder`, 2);
    return {
      member: m.name,
      args: [
        'snapshot', 'restore', path.resolve(snapshot),
        '--name', m.name,
        '--data-dir', m.dataDir,
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', token,
        '--initial-advertise-peer-urls', `http://${HOST}:${m.ports.peer}`,
      ],
    };
  });
  const natsStores = topology.processes.filter((p) => p.component === 'nats' && p.dataDir).map((p) => p.dataDir!);
  return {
    snapshot: path.resolve(snapshot),
    etcdRoot: path.join(stateDir, 'etcd'),
    etcdAside: path.join(stateDir, `etcd.before-restore-${timestamp(now)}`),
    natsStores,
    restores,
  };
}

/** Runs etcdctl (v3 API, no inherited ETCDCTL_* settings); resolves stdout, throws CommandError with stderr. */
function etcdctl(bin: string, args: string[]): Promise<string> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCDCTL_')) env[k] = v;
  env.ETCDCTL_API = '3';
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(out);
      else reject(new CommandError(`etcdctl ${args.slice(0, 2).join(' ')} failed (exit ${code}): ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

/** What `etcdctl snapshot status` reports about a snapshot file. */
export interface SnapshotStatus {
  revision: number;
  totalKey: number;
  totalSize: number;
}

/** Reads a snapshot file's revision, key count and size; throws CommandError when it is not one. */
export async function snapshotStatus(file: string, bin = resolveEtcdctl()): Promise<SnapshotStatus> {
  const raw = JSON.parse(await etcdctl(bin, ['snapshot', 'status', file, '-w', 'json'])) as Record<string, number>;
  return { revision: raw.revision, totalKey: raw.totalKey, totalSize: raw.totalSize };
}

/**
 * `etcd:snapshot [file]`: a consistent snapshot of the running cluster's store, taken from the
 * first member that answers, written to `file` (default <stateDir>/backups/snapshot-<ts>.db).
 * Resolves the exit code; throws CommandError when no member could be snapshotted.
 */
export async function snapshotCommand(ctx: CommandContext, file: string | undefined): Promise<number> {
  const topology = buildTopology(settingsFromEnv(process.env));
  const bin = resolveEtcdctl();
  const target = path.resolve(file ?? defaultSnapshotFile(topology.settings.stateDir, new Date()));
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const started = Date.now();
  const failures: string[] = [];
  for (const endpoint of topology.etcdEndpoints) {
    try {
      await etcdctl(bin, ['--endpoints', endpoint, '--dial-timeout', '3s', '--command-timeout', '60s', 'snapshot', 'save', target]);
      const status = await snapshotStatus(target, bin);
      ctx.out(`kubemu: snapshot of ${endpoint} at revision ${status.revision}: ${status.totalKey} keys, ${status.totalSize} bytes in ${formatDuration(Date.now() - started)}`);
      ctx.out(target);
      return 0;
    } catch (err) {
      failures.push(`${endpoint}: ${(err as Error).message}`);
    }
  }
  throw new CommandError(`kubemu: no etcd member could be snapshotted (is the cluster running?):\n  ${failures.join('\n  ')}`);
}

/**
 * `etcd:restore <file>`: replaces the cluster's store by the snapshot and starts the cluster on
 * it (see the file comment). The snapshot is checked before anything is stopped. Resolves the
 * exit code of the final start.
 */
export async function restoreCommand(ctx: CommandContext, file: string | undefined): Promise<number> {
  if (!file) throw new CommandError('usage: npm run etcd:restore -- <snapshot file>', 2);
  if (!fs.existsSync(file)) throw new CommandError(`${file} does not exist`, 2);
  const bin = resolveEtcdctl();
  const status = await snapshotStatus(file, bin);
  const topology = buildTopology(settingsFromEnv(process.env));
  const plan = restorePlan(topology, file, new Date());
  ctx.out(`kubemu: restoring ${plan.snapshot} (revision ${status.revision}, ${status.totalKey} keys)`);

  const stopped = await stopCluster(ctx);
  if (stopped !== 0) return stopped;
  if (fs.existsSync(plan.etcdRoot)) {
    fs.renameSync(plan.etcdRoot, plan.etcdAside);
    ctx.out(`kubemu: the previous etcd data is kept in ${plan.etcdAside}`);
  }
  fs.mkdirSync(plan.etcdRoot, { recursive: true });
  for (const step of plan.restores) {
    await etcdctl(bin, step.args);
    ctx.out(`kubemu: restored ${step.member}`);
  }
  for (const store of plan.natsStores) fs.rmSync(store, { recursive: true, force: true });
  ctx.out('kubemu: removed the NATS JetStream store (watchers relist from the restored store)');
  return startCluster(ctx);
}
