/** A private cluster for a benchmark: `cluster.js start` on its own state folder and port base, and `reset` at the end. */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { buildTopology, settingsFromEnv, Topology } from '../../services/lib/topology';
import { Pm2Client } from '../lib/pm2';

const REPO = path.resolve(__dirname, '..', '..', '..');
const CLUSTER_JS = path.join(REPO, 'dist', 'scripts', 'cluster.js');

/** Runs `node dist/scripts/cluster.js <command>` for the bench's state folder; resolves its exit code and output. */
export function clusterCommand(command: string, env: NodeJS.ProcessEnv, echo: boolean): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(process.execPath, [CLUSTER_JS, command], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const take = (d: Buffer) => {
      output += d.toString();
      if (echo) process.stdout.write(d);
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

export class BenchCluster {
  readonly env: NodeJS.ProcessEnv;
  topology!: Topology;
  private started = false;
  private resetting?: Promise<void>;

  constructor(readonly stateDir: string, readonly portBase: number, private readonly name = 'bench', extraEnv: NodeJS.ProcessEnv = { KUBEMU_LOG_LEVEL: 'debug' }) {
    // Debug logs give the scheduler's per-pod decision time; no other component logs at debug.
    this.env = { ...process.env, KUBEMU_STATE_DIR: stateDir, KUBEMU_PORT_BASE: String(portBase), KUBEMU_PROFILE: 'demo', ...extraEnv };
  }

  async start(): Promise<void> {
    this.started = true;
    const t0 = Date.now();
    const { code, output } = await clusterCommand('start', this.env, false);
    if (code !== 0) {
      process.stdout.write(output);
      throw new Error(`cluster start failed (exit ${code})`);
    }
    this.topology = buildTopology(settingsFromEnv(this.env));
    this.log(`cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${this.topology.processes.length} processes, state in ${this.stateDir}, port base ${this.portBase}`);
  }

  /** Tears the cluster down and deletes its state folder. Idempotent. */
  reset(): Promise<void> {
    if (!this.started) {
      fs.rmSync(this.stateDir, { recursive: true, force: true });
      return Promise.resolve();
    }
    this.resetting ??= (async () => {
      const { code, output } = await clusterCommand('reset', this.env, false);
      if (code !== 0) process.stderr.write(`${this.name}: cluster reset failed (exit ${code}):\n${output}`);
      else this.log(`cluster reset (${this.stateDir} deleted)`);
    })();
    return this.resetting;
  }

  /** The pid of every process pm2 runs, by name. */
  async pids(): Promise<Map<string, number>> {
    const saved = process.env.PM2_HOME;
    const client = new Pm2Client(path.join(this.stateDir, 'pm2'));
    try {
      await client.connect(false);
      return new Map((await client.list()).map((p) => [p.name, p.pid]));
    } catch {
      return new Map();
    } finally {
      await client.disconnect().catch(() => undefined);
      if (saved === undefined) delete process.env.PM2_HOME;
      else process.env.PM2_HOME = saved;
    }
  }

  logFile(name: string): string {
    return path.join(this.topology.logDir, `${name}.out.log`);
  }

  private log(msg: string): void {
    process.stdout.write(`${this.name}: ${msg}\n`);
  }
}
