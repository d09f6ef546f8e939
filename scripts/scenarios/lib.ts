/**
 * What every guided scenario (`npm run scenario -- <name>`) shares: the running cluster's
 * topology and API client, pm2 pids, fault injection by pid, polling with deadlines, and a
 * timeline whose times are relative to the fault.
 */
import * as http from 'http';
import { spawn } from 'child_process';
import * as path from 'path';
import { ApiClient } from '../../services/lib/apiclient';
import { resourceForCase } from '../../services/lib/resources';
import { Topology } from '../../services/lib/topology';
import { Pm2Client } from '../lib/pm2';
import { waitFor as harnessWaitFor } from '../../test/harness/wait';

export const NAMESPACE = resourceForCase('namespace');
export const POD = resourceForCase('pod');

/** One guided scenario: what Kubernetes promises, and a run that returns the problems found. */
export interface Scenario {
  name: string;
  /** Its number in issue 7's list (the order `npm run scenario` lists them in). */
  number: number;
  /** One line each: what Kubernetes promises under this fault. */
  promises: string[];
  /** Sets up, injects the fault, records the timeline; returns what went wrong (empty: PASS). Throws on a set-up failure. */
  run(ctx: ScenarioContext): Promise<string[]>;
}

/** A named moment of a scenario. */
interface Mark {
  at: number;
  what: string;
}

/**
 * Moments of a scenario, printed relative to the fault (negative before it). Not for
 * concurrent writers from several processes; within one process any order is fine.
 */
export class Timeline {
  private readonly marks: Mark[] = [];
  private faultAt: number | undefined;

  /** Records the fault; every other mark is printed relative to it. */
  fault(what: string, at = Date.now()): void {
    this.faultAt = at;
    this.marks.push({ at, what: `FAULT: ${what}` });
  }

  mark(what: string, at = Date.now()): number {
    this.marks.push({ at, what });
    return at;
  }

  /** Milliseconds from the fault to `at` (NaN before the fault is recorded). */
  sinceFault(at: number): number {
    return this.faultAt === undefined ? NaN : at - this.faultAt;
  }

  /** The timeline as lines, in time order. */
  format(): string[] {
    const zero = this.faultAt ?? this.marks[0]?.at ?? Date.now();
    return [...this.marks]
      .sort((a, b) => a.at - b.at)
      .map((m) => {
        const s = (m.at - zero) / 1000;
        return `  ${((s >= 0 ? '+' : '') + s.toFixed(2)).padStart(8)} s  ${m.what}`;
      });
  }
}

export interface ScenarioContext {
  topology: Topology;
  client: ApiClient;
  /** scenario-<name>, created before run and deleted after it. */
  namespace: string;
  timeline: Timeline;
  /** Prints a progress line. */
  log(line: string): void;
  /** pm2's pid of each process by name (0 or absent when not running). */
  pids(): Promise<Map<string, number>>;
  /** Runs pm2 (`stop` / `start`) on one process, as systemctl stop/start on a node. */
  pm2(action: 'stop' | 'start', name: string): Promise<void>;
}

export function pm2HomeOf(topology: Topology): string {
  return path.join(topology.settings.stateDir, 'pm2');
}

/**
 * `pm2 stop|start <name>` with this checkout's pm2 CLI and the cluster's PM2_HOME, as a person
 * would run it, without blocking the event loop (a scenario's probes and writers go on meanwhile).
 * Throws when pm2 fails or takes over a minute.
 */
export function runPm2(topology: Topology, action: 'stop' | 'start', name: string): Promise<void> {
  const cli = path.join(topology.repoRoot, 'node_modules', 'pm2', 'bin', 'pm2');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, action, name], { env: { ...process.env, PM2_HOME: pm2HomeOf(topology) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`pm2 ${action} ${name} failed (exit ${code}): ${output.slice(-500)}`));
    });
  });
}

/** The pm2 pid of every process of the cluster. Throws when the pm2 daemon does not run. */
export async function pm2Pids(topology: Topology): Promise<Map<string, number>> {
  const pm2 = new Pm2Client(pm2HomeOf(topology));
  await pm2.connect(false);
  try {
    return new Map((await pm2.list()).map((p) => [p.name, p.status === 'online' ? p.pid : 0]));
  } finally {
    await pm2.disconnect();
  }
}

/** Is `value` a Scenario (how scripts/scenario.ts finds them among a module's exports)? */
export function isScenario(value: unknown): value is Scenario {
  const v = value as Partial<Scenario> | undefined;
  return typeof v === 'object' && v !== null && typeof v.name === 'string' && typeof v.number === 'number' && Array.isArray(v.promises) && typeof v.run === 'function';
}

/** Sends `signal` to `pid`; throws when the process does not exist. */
export function signalPid(pid: number, signal: NodeJS.Signals): void {
  if (!pid) throw new Error(`no pid to send ${signal} to`);
  process.kill(pid, signal);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `get` returns a value (the harness's waitFor, with the interval as a plain argument). */
export function waitFor<T>(what: string, get: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs = 100): Promise<T> {
  return harnessWaitFor(what, get, timeoutMs, { intervalMs });
}

/** Like waitFor, but undefined instead of a throw on timeout. */
export async function pollUntil<T>(get: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs = 100): Promise<T | undefined> {
  try {
    return await waitFor('', get, timeoutMs, intervalMs);
  } catch {
    return undefined;
  }
}

/** GET http://host:port/path with a timeout: the status code and body, or an error. Never rejects. */
export function httpGet(host: string, port: number, urlPath = '/', timeoutMs = 1000): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: urlPath, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (err) => resolve({ error: err.message }));
    });
    req.on('error', (err) => resolve({ error: err.message }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

/** Seconds with two decimals, for durations in ms. */
export const secs = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : '-');

export const isReady = (p: { status?: { conditions?: Array<{ type?: string; status?: string }> } }) =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
