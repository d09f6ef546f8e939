/** One real process of a test cluster, started from a topology ProcessSpec, in its own process group. */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ProcessSpec, commandLine } from '../../services/lib/topology';
import { ProbeResult, probe, waitUntilHealthy } from '../../scripts/lib/probe';
import { killGroupNow, removeTempDir, trackGroup, untrackGroup } from './cleanup';

export type ExitStatus = { code: number | null; signal: NodeJS.Signals | null };

/** The environment a spec's process gets: ours without the filtered prefixes, plus its own. */
export function specEnv(spec: ProcessSpec): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!spec.filterEnvPrefixes.some((prefix) => key.startsWith(prefix))) env[key] = value;
  }
  return { ...env, ...spec.env };
}

/** Creates the folders and files a spec needs before it starts. Idempotent. */
export function prepareSpec(spec: ProcessSpec): void {
  for (const dir of spec.dirs) fs.mkdirSync(dir, { recursive: true });
  for (const f of spec.files) fs.writeFileSync(f.path, f.content);
}

/**
 * A restartable process with its output appended to `logFile`. Not safe for concurrent
 * start/kill calls on the same instance: await each.
 */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<ExitStatus> | undefined;
  private paused = false;

  constructor(
    readonly spec: ProcessSpec,
    readonly logFile: string,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  /** The pid while running, else undefined. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Spawns the process; resolves once it runs. Throws when it is already running or cannot be spawned. */
  async start(): Promise<void> {
    if (this.child) throw new Error(`${this.name} is already running (pid ${this.child.pid})`);
    prepareSpec(this.spec);
    const { file, args } = commandLine(this.spec);
    const out = fs.openSync(this.logFile, 'a');
    fs.writeSync(out, `---- ${new Date().toISOString()} start: ${file} ${args.join(' ')}\n`);
    let child: ChildProcess;
    try {
      child = spawn(file, args, { detached: true, stdio: ['ignore', out, out], env: specEnv(this.spec) });
    } finally {
      fs.closeSync(out);
    }
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    const pid = child.pid as number;
    trackGroup(pid);
    child.unref();
    this.child = child;
    this.paused = false;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        untrackGroup(pid);
        if (this.child === child) {
          this.child = undefined;
          this.exited = undefined;
        }
        resolve({ code, signal });
      });
    });
  }

  /**
   * Sends `signal` (default SIGKILL) to the process group and resolves when the process has
   * exited; SIGKILLs it when a softer signal did not end it within `timeoutMs`. No-op when not
   * running.
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 15000): Promise<ExitStatus | undefined> {
    const child = this.child;
    const exited = this.exited;
    if (!child || !exited) return undefined;
    const pid = child.pid as number;
    killGroupNow(pid, signal);
    // A stopped process acts on its signals only once continued.
    if (this.paused) killGroupNow(pid, 'SIGCONT');
    this.paused = false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const result = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    if (result !== 'timeout') return result;
    killGroupNow(pid, 'SIGKILL');
    return exited;
  }

  /** Graceful stop: SIGTERM, then SIGKILL after `timeoutMs`. */
  stop(timeoutMs = 10000): Promise<ExitStatus | undefined> {
    return this.kill('SIGTERM', timeoutMs);
  }

  /** SIGSTOP to the process group: it keeps its sockets but answers nothing (a hung process or a partition). */
  pause(): void {
    if (!this.child) throw new Error(`${this.name} is not running`);
    killGroupNow(this.child.pid as number, 'SIGSTOP');
    this.paused = true;
  }

  /** SIGCONT after pause(). */
  resume(): void {
    if (!this.child) throw new Error(`${this.name} is not running`);
    killGroupNow(this.child.pid as number, 'SIGCONT');
    this.paused = false;
  }

  /** One health probe now. */
  probe(): Promise<ProbeResult> {
    return probe(this.spec.health);
  }

  /** Resolves when healthy; throws with the log tail after `timeoutMs`. */
  async waitHealthy(timeoutMs = 30000): Promise<void> {
    const { healthy, results } = await waitUntilHealthy([this.spec], timeoutMs);
    if (!healthy) {
      throw new Error(`${this.name} not healthy after ${timeoutMs} ms (${results.get(this.name)?.detail})\n${this.logs(40)}`);
    }
  }

  /** The last `lines` lines of its output (all runs). */
  logs(lines = 200): string {
    try {
      const all = fs.readFileSync(this.logFile, 'utf8').split('\n');
      if (all[all.length - 1] === '') all.pop();
      return all.slice(-lines).join('\n');
    } catch {
      return '';
    }
  }
}

/**
 * Starts `spec`, a process of the build, with its output in `dir`/<name>.log, and resolves once it
 * is healthy. On failure (not built, not started, not healthy within `timeoutMs`) kills it, deletes
 * `dir` and throws (`who` names the caller in the error; the health error carries the log tail).
 */
export async function startHealthyIn(who: string, spec: ProcessSpec, dir: string, timeoutMs: number): Promise<ManagedProcess> {
  if (!fs.existsSync(spec.command)) {
    removeTempDir(dir);
    throw new Error(`${who}: ${spec.command} does not exist; build first (bash scripts/setup.sh or npm run build)`);
  }
  const proc = new ManagedProcess(spec, path.join(dir, `${spec.name}.log`));
  try {
    await proc.start();
    await proc.waitHealthy(timeoutMs);
  } catch (err) {
    await proc.kill('SIGKILL');
    removeTempDir(dir);
    throw err;
  }
  return proc;
}

/** Waits until every process is healthy; throws naming the unhealthy ones with their log tails. */
export async function waitAllHealthy(procs: ManagedProcess[], timeoutMs: number): Promise<void> {
  const { healthy, results } = await waitUntilHealthy(
    procs.map((p) => p.spec),
    timeoutMs,
  );
  if (healthy) return;
  const failing = procs.filter((p) => !results.get(p.name)?.healthy);
  throw new Error(
    `not healthy after ${timeoutMs} ms: ${failing.map((p) => `${p.name} (${results.get(p.name)?.detail})`).join(', ')}\n` +
      failing.map((p) => `---- ${p.name} (${p.logFile})\n${p.logs(30)}`).join('\n'),
  );
}

/** What every harness-started process lets a test do to it. */
export interface ProcessControls {
  /** The pid while running. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Signals the process (default SIGKILL) and resolves once it exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again with its data; resolves once it is healthy unless { wait: false }. */
  start(opts?: { wait?: boolean }): Promise<void>;
  /** SIGSTOP / SIGCONT: the process hangs with its connections open. */
  pause(): void;
  resume(): void;
  waitHealthy(timeoutMs?: number): Promise<void>;
  logs(lines?: number): string;
}

/** The controls of `p`, with `extra` fields added (the returned object keeps live pid/running). */
export function withControls<T extends object>(p: ManagedProcess, extra: T, startTimeoutMs = 30000): ProcessControls & T {
  const controls: ProcessControls = {
    get pid() {
      return p.pid;
    },
    get running() {
      return p.running;
    },
    kill: async (signal?: NodeJS.Signals) => {
      await p.kill(signal);
    },
    start: async (o?: { wait?: boolean }) => {
      await p.start();
      if (o?.wait !== false) await p.waitHealthy(startTimeoutMs);
    },
    pause: () => p.pause(),
    resume: () => p.resume(),
    waitHealthy: (timeoutMs?: number) => p.waitHealthy(timeoutMs ?? startTimeoutMs),
    logs: (lines?: number) => p.logs(lines),
  };
  // Object.assign keeps the getters of its target.
  return Object.assign(controls, extra);
}
