/**
 * A whole kubemu cluster started the way a person starts one (`node dist/scripts/cluster.js start`,
 * pm2 and all), on a private state folder and a free port block, for e2e tests. Every pid it ever
 * had is tracked so that nothing outlives a failed test.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { repoRoot } from '../../services/lib/config';
import { killGroupNow, makeTempDir, removeTempDir, trackGroup, untrackGroup } from './cleanup';
import { freePortBase, releasePortBase } from './ports';

const CLUSTER_JS = path.join(repoRoot(), 'dist', 'scripts', 'cluster.js');
const PM2_JS = path.join(repoRoot(), 'node_modules', 'pm2', 'bin', 'pm2');

/** What `cluster.js status --json` reports. */
export interface StatusJson {
  stateDir: string;
  pm2DaemonPid: number | null;
  healthy: boolean;
  processes: Array<{ name: string; component: string; address: string; pid: number | null; pm2Status: string; restarts: number | null; healthy: boolean; health: string }>;
}

export interface ClusterRun {
  code: number | null;
  output: string;
}

export interface E2ECluster {
  stateDir: string;
  portBase: number;
  env: NodeJS.ProcessEnv;
  /** Runs `cluster.js <args>` against this cluster. */
  run(args: string[], timeoutMs?: number): Promise<ClusterRun>;
  /** Runs another of the repo's scripts (`scenario`, `chaos`, `etcd-backup`: dist/scripts/<name>.js) against this cluster; killed after `timeoutMs`. */
  script(name: string, args: string[], timeoutMs: number): Promise<ClusterRun>;
  /** `cluster.js status --json`, remembering every pid for cleanup. */
  status(): Promise<{ code: number | null; report: StatusJson }>;
  /** The address of each process of `component`, from the last status. */
  addresses(component: string): Promise<string[]>;
  /** The pid of process `name` now (undefined when it is not running). */
  pid(name: string): Promise<number | undefined>;
  /** Runs this cluster's pm2 (`stop kubelet-node-2`, `start kubelet-node-2`): a component kept down, as systemctl stop. */
  pm2(args: string[]): Promise<ClusterRun>;
  /** `reset`, then kills whatever is left and removes the folder. Idempotent. */
  destroy(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Throws with the command's output when it failed. */
export function expectSucceeded(result: ClusterRun): void {
  if (result.code !== 0) throw new Error(`exit code ${result.code}:\n${result.output}`);
}

/**
 * Prepares (does not start) a cluster on a fresh state folder and a free port base. Throws when
 * the build is missing.
 */
export async function prepareCluster(profile = 'demo'): Promise<E2ECluster> {
  if (!fs.existsSync(CLUSTER_JS)) throw new Error(`${CLUSTER_JS} is missing: run 'bash scripts/setup.sh' (npm test does)`);
  const stateDir = path.join(makeTempDir('e2e'), 'state');
  const portBase = await freePortBase(profile);
  const env: NodeJS.ProcessEnv = { ...process.env, KUBEMU_STATE_DIR: stateDir, KUBEMU_PORT_BASE: String(portBase), KUBEMU_PROFILE: profile };
  const seenPids = new Set<number>();
  let last: StatusJson | undefined;

  const exec = (file: string, args: string[], timeoutMs: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<ClusterRun> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [file, ...args], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', reject);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });
  const run = (args: string[], timeoutMs = 180000) => exec(CLUSTER_JS, args, timeoutMs);

  const status = async () => {
    const { code, output } = await run(['status', '--json'], 60000);
    const report = JSON.parse(output) as StatusJson;
    for (const pid of [report.pm2DaemonPid, ...report.processes.map((p) => p.pid)]) {
      if (pid && !seenPids.has(pid)) {
        seenPids.add(pid);
        trackGroup(pid); // pm2 starts every app, and itself, in its own process group
      }
    }
    last = report;
    return { code, report };
  };

  let destroyed = false;
  return {
    stateDir,
    portBase,
    env,
    run,
    script: (name, args, timeoutMs) => exec(path.join(repoRoot(), 'dist', 'scripts', `${name}.js`), args, timeoutMs),
    status,
    addresses: async (component) => {
      const report = last ?? (await status()).report;
      return report.processes.filter((p) => p.component === component).map((p) => p.address);
    },
    pid: async (name) => (await status()).report.processes.find((p) => p.name === name)?.pid ?? undefined,
    pm2: (args) => exec(PM2_JS, args, 60000, { PM2_HOME: path.join(stateDir, 'pm2') }),
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      if (fs.existsSync(stateDir)) await run(['reset'], 60000);
      for (const pid of seenPids) {
        if (alive(pid)) killGroupNow(pid, 'SIGKILL');
        untrackGroup(pid);
      }
      removeTempDir(path.dirname(stateDir));
      releasePortBase(portBase);
    },
  };
}

/**
 * For a test file that works on one demo cluster started as a person starts it: registers a
 * beforeAll that starts it (and remembers every pid for cleanup) and an afterAll that runs
 * `beforeDestroy` (if any) and destroys it. Returns the cluster's getter, valid from beforeAll on.
 */
export function startedClusterSuite(beforeDestroy?: () => void): () => E2ECluster {
  let cluster: E2ECluster | undefined;
  beforeAll(async () => {
    cluster = await prepareCluster('demo');
    expectSucceeded(await cluster.run(['start']));
    await cluster.status(); // remembers every pid for cleanup
  }, 180000);
  afterAll(async () => {
    beforeDestroy?.();
    await cluster?.destroy();
  }, 120000);
  return () => {
    if (!cluster) throw new Error('the cluster is not started yet (use it from beforeAll on)');
    return cluster;
  };
}

/**
 * For a file of scenario tests: one started demo cluster (startedClusterSuite). The function
 * returned runs `npm run scenario -- <name>` on it, remembers the pids of whatever the scenario
 * restarted (for cleanup) and resolves the scenario's output when it passed; throws with the
 * output when it did not (exit code other than 0, or killed after `timeoutMs`).
 */
export function scenarioSuite(): (name: string, timeoutMs: number) => Promise<string> {
  const cluster = startedClusterSuite();
  return async (name, timeoutMs) => {
    const r = await cluster().script('scenario', [name], timeoutMs);
    await cluster().status();
    if (r.code !== 0) throw new Error(`scenario ${name}: exit code ${r.code}\n${r.output}`);
    return r.output;
  };
}
