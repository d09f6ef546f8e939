/**
 * Pod startup latency: create → Running (all containers ready) as observed through the watch, for
 * N real-process pods (nginx) on the 3 nodes of a private cluster this script starts with
 * scripts/cluster.ts (3 etcd, 3 NATS, 2 apiservers, 2 schedulers, 3 runtimes + 3 kubelets) in a
 * temporary state folder on a free port base, and resets at the end (also on Ctrl-C or failure).
 *
 * Per pod it records, as wall-clock ms:
 *   created    the create request was sent (t0; every other stage is relative to it)
 *   acked      the apiserver answered the create
 *   seen       the watch delivered the pod for the first time (ADDED)
 *   decided    the leading scheduler logged its decision ("scheduled", a debug line: the cluster
 *              runs with KUBEMU_LOG_LEVEL=debug, which only the scheduler uses)
 *   scheduled  the watch showed spec.nodeName set (the scheduler's binding)
 *   sandbox    the node's container runtime logged "pod sandbox created" (its log, ms precision)
 *   started    the runtime logged "container started" for the pod's container
 *   running    the watch showed phase Running with every container ready (the measured latency)
 *   http       GET http://<podIP>:80/ answered 200 (tried from the moment Running was seen, retried
 *              every 50 ms for up to 5 s; a pod that never answers is counted as a failure)
 * status.containerStatuses[].state.running.startedAt is only second precision (metav1.Time), so
 * the container start comes from the runtime's log instead.
 *
 * Target: p99 create → Running ≤ 2 s (Kubernetes' SLO: 5 s).
 *
 * Usage: npm run build && npm run bench:pods -- [--pods 30] [--runs 3] [--image nginx]
 *        [--parallel | --qps 5] [--keep] [--cpu-prof <pm2 app, e.g. kube-apiserver-0>]
 * --cpu-prof opens the inspector of that one running process (SIGUSR1, port 9229), records a CPU
 * profile over each run, writes it as a .cpuprofile (Chrome DevTools) and prints its top functions.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { NatsConnection } from 'nats';
import { ApiClient } from '../../services/lib/apiclient';
import { isReason } from '../../services/lib/errors';
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { Informer } from '../../services/lib/informer';
import { resourceForCase } from '../../services/lib/resources';
import { connectBus } from '../../services/lib/watchbus';
import { BenchCluster } from './cluster';
import { formatTable } from '../lib/table';
import { freePortBase } from '../../test/harness/ports';

const POD = resourceForCase('pod');
const NODE = resourceForCase('node');
const NS = resourceForCase('namespace');
const NAMESPACE = 'bench-pods';
const REPO = path.resolve(__dirname, '..', '..', '..');
const CLUSTER_JS = path.join(REPO, 'dist', 'scripts', 'cluster.js');

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  pods: number;
  runs: number;
  image: string;
  /** Creations per second; 0 means all at once. */
  qps: number;
  keep: boolean;
  /** The pm2 app whose CPU is profiled during each run. */
  cpuProf?: string;
}

function parseOptions(argv: string[]): Options {
  const opts: Options = { pods: 30, runs: 3, image: 'nginx', qps: 0, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const positive = (v: string): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${a} needs a positive number, not ${v}`);
      return n;
    };
    if (a === '--pods') opts.pods = Math.floor(positive(value()));
    else if (a === '--runs') opts.runs = Math.floor(positive(value()));
    else if (a === '--image') opts.image = value();
    else if (a === '--qps') opts.qps = positive(value());
    else if (a === '--parallel') opts.qps = 0;
    else if (a === '--keep') opts.keep = true;
    else if (a === '--cpu-prof') opts.cpuProf = value();
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node dist/scripts/bench/pod-startup.js [--pods 30] [--runs 3] [--image nginx] [--parallel | --qps Q] [--keep]\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------
// Time and statistics

/** Wall-clock milliseconds with sub-millisecond resolution (comparable with other processes' logs). */
const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function summarize(samples: number[]): Summary {
  const s = samples.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
}

const ms = (x: number) => (Number.isFinite(x) ? `${Math.round(x)}` : '-');

// ---------------------------------------------------------------------------------------------
// Machine CPU

interface CpuSample {
  total: number;
  idle: number;
}

function readCpu(): CpuSample {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const idle = fields[3] + (fields[4] ?? 0);
  return { total: fields.slice(0, 8).reduce((a, b) => a + b, 0), idle };
}

function busyPercent(a: CpuSample, b: CpuSample): number {
  const total = b.total - a.total;
  return total > 0 ? (100 * (total - (b.idle - a.idle))) / total : NaN;
}

/** CPU seconds (user + system) a process has used, or undefined when it is gone. */
function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after "(comm)": state=0 ... utime=11 stime=12, in clock ticks (100 per second on Linux).
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
}

/**
 * The main thread's time on a CPU and time runnable but waiting for one, in seconds
 * (/proc/<pid>/schedstat; the main thread is the event loop), or undefined when it is gone.
 */
function schedstat(pid: number): { onCpu: number; waiting: number } | undefined {
  try {
    const [onCpu, waiting] = fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    return { onCpu: onCpu / 1e9, waiting: waiting / 1e9 };
  } catch {
    return undefined;
  }
}

/** CPU seconds used so far by the children of `pid` (the container runtime's pod processes). */
function childrenCpuSeconds(pid: number): number {
  let total = 0;
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const children = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      for (const c of children) total += processCpuSeconds(Number(c)) ?? 0;
    }
  } catch {
    // the runtime is gone
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// CPU profiles of a component, through its inspector (Chrome DevTools Protocol)

/** The part of the `ws` package (a dependency of pm2) used here. */
interface WebSocketLike {
  on(event: 'open' | 'close', cb: () => void): void;
  on(event: 'message', cb: (data: Buffer) => void): void;
  on(event: 'error', cb: (err: Error) => void): void;
  send(data: string): void;
  close(): void;
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

/** A CPU profiler attached to one node process through its inspector. Owns the inspector session. */
class Profiler {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly ws: WebSocketLike) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
      const p = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
      if (!p) return;
      this.pending.delete(msg.id!);
      if (msg.error) p.reject(new Error(msg.error.message));
      else p.resolve(msg.result);
    });
  }

  /** Opens the inspector of `pid` (SIGUSR1: it listens on 127.0.0.1:9229) and connects. */
  static async attach(pid: number): Promise<Profiler> {
    process.kill(pid, 'SIGUSR1');
    let url: string | undefined;
    for (let i = 0; i < 50 && !url; i++) {
      await sleep(100);
      url = await new Promise<string | undefined>((resolve) => {
        http
          .get('http://127.0.0.1:9229/json/list', (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => {
              try {
                resolve((JSON.parse(body) as { webSocketDebuggerUrl?: string }[])[0]?.webSocketDebuggerUrl);
              } catch {
                resolve(undefined);
              }
            });
          })
          .on('error', () => resolve(undefined));
      });
    }
    if (!url) throw new Error(`the inspector of pid ${pid} did not open on 127.0.0.1:9229`);
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const WebSocket = require('ws') as new (url: string) => WebSocketLike;
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.on('open', resolve);
      ws.on('error', reject);
    });
    const profiler = new Profiler(ws);
    await profiler.send('Profiler.enable');
    await profiler.send('Profiler.setSamplingInterval', { interval: 500 });
    return profiler;
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  async start(): Promise<void> {
    await this.send('Profiler.start');
  }

  async stop(): Promise<CpuProfile> {
    return ((await this.send('Profiler.stop')) as { profile: CpuProfile }).profile;
  }

  close(): void {
    this.ws.close();
  }
}

/** The functions with the most self time in a profile, as text lines. */
function topFunctions(profile: CpuProfile, count: number): string {
  const total = profile.samples?.length ?? profile.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0);
  const byFrame = new Map<string, number>();
  for (const n of profile.nodes) {
    const f = n.callFrame;
    const file = f.url ? f.url.replace(/^file:\/\//, '').replace(REPO + '/', '') : '';
    const key = `${f.functionName || '(anonymous)'} ${file}${file ? `:${f.lineNumber + 1}` : ''}`;
    byFrame.set(key, (byFrame.get(key) ?? 0) + (n.hitCount ?? 0));
  }
  const seconds = (profile.endTime - profile.startTime) / 1e6;
  const idle = byFrame.get('(idle) ') ?? 0;
  const lines = [`${total} samples over ${seconds.toFixed(2)} s, ${total ? ((100 * (total - idle)) / total).toFixed(0) : 0}% not idle; top self time:`];
  for (const [k, v] of [...byFrame].filter(([k]) => k !== '(idle) ').sort((a, b) => b[1] - a[1]).slice(0, count)) {
    lines.push(`  ${((100 * v) / Math.max(1, total - idle)).toFixed(1).padStart(5)}%  ${k}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// The cluster

function log(msg: string): void {
  process.stdout.write(`pod-startup: ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------
// One run

interface PodTimes {
  name: string;
  created: number;
  acked?: number;
  seen?: number;
  decided?: number;
  scheduled?: number;
  sandbox?: number;
  started?: number;
  running?: number;
  http?: number;
  /** Watch events seen for the pod until it was Running (the ADDED one included). */
  updates: number;
  node?: string;
  ip?: string;
  httpError?: string;
  createError?: string;
}

const isRunningReady = (p: Pod): boolean =>
  p.status?.phase === 'Running' && (p.status.containerStatuses?.length ?? 0) > 0 && !!p.status.containerStatuses?.every((c) => c.ready);

function httpGet(ip: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: ip, port, path: '/', timeout: 1000, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

/** GETs / until 200 or 5 s passed; records the time of the first 200 or the last error. */
async function checkHttp(t: PodTimes): Promise<void> {
  const giveUp = now() + 5000;
  let lastErr = 'no attempt';
  while (now() < giveUp) {
    try {
      const status = await httpGet(t.ip!, 80);
      if (status === 200) {
        t.http = now();
        return;
      }
      lastErr = `HTTP ${status}`;
    } catch (err) {
      lastErr = (err as Error).message;
    }
    await sleep(50);
  }
  t.httpError = lastErr;
}

interface LogEntry {
  ts?: string;
  msg?: string;
  pod?: string;
  sandbox?: string;
}

/** The JSON lines of a component's stdout log. */
function* logEntries(file: string): Generator<LogEntry> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return;
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      yield JSON.parse(line) as LogEntry;
    } catch {
      // a line cut by a concurrent write
    }
  }
}

/** Reads the schedulers' debug logs for when each of the run's pods was decided. */
function readSchedulerLogs(cluster: BenchCluster, byName: Map<string, PodTimes>): void {
  for (const s of cluster.topology.processes.filter((p) => p.component === 'kube-scheduler')) {
    for (const e of logEntries(cluster.logFile(s.name))) {
      if (e.msg !== 'scheduled' || !e.pod?.startsWith(`${NAMESPACE}/`)) continue;
      const t = byName.get(e.pod.slice(NAMESPACE.length + 1));
      const ts = Date.parse(e.ts ?? '');
      if (t && ts >= t.created - 1) t.decided ??= ts;
    }
  }
}

/** Reads the runtimes' logs for the sandbox-created and container-started times of the run's pods. */
function readRuntimeLogs(cluster: BenchCluster, byName: Map<string, PodTimes>): void {
  const runtimes = cluster.topology.processes.filter((p) => p.component === 'container-runtime');
  for (const rt of runtimes) {
    const sandboxPod = new Map<string, PodTimes>();
    for (const entry of logEntries(cluster.logFile(rt.name))) {
      const ts = Date.parse(entry.ts ?? '');
      if (entry.msg === 'pod sandbox created' && entry.pod?.startsWith(`${NAMESPACE}/`)) {
        const t = byName.get(entry.pod.slice(NAMESPACE.length + 1));
        if (t && entry.sandbox && ts >= t.created - 1) {
          t.sandbox ??= ts;
          sandboxPod.set(entry.sandbox, t);
        }
      } else if (entry.msg === 'container started' && entry.sandbox) {
        const t = sandboxPod.get(entry.sandbox);
        if (t) t.started ??= ts;
      }
    }
  }
}

interface RunResult {
  run: number;
  pods: PodTimes[];
  wallMs: number;
  cpuBusy: number;
  loadavg: number[];
  componentCpu: Map<string, number>;
  /** Seconds each process's event loop thread waited for a CPU while runnable. */
  componentWait: Map<string, number>;
  /** CPU seconds of the run's pod processes (all of them new in this run). */
  podCpu: number;
  /** Events recorded about the run's pods, by reason. */
  events: Map<string, number>;
}

function podManifest(name: string, image: string): Pod {
  return {
    metadata: { name, namespace: NAMESPACE, labels: { app: 'bench-pods' } },
    spec: {
      containers: [{ name: 'web', image, ports: [{ containerPort: 80, protocol: 'TCP' }] }],
      terminationGracePeriodSeconds: 2,
      restartPolicy: 'Always',
    },
  };
}

/** The pod informer's one handler forwards to the run in progress (an Informer cannot drop handlers). */
const podObserver: { current?: (p: Pod) => void } = {};

async function oneRun(run: number, opts: Options, client: ApiClient, cluster: BenchCluster, profiler?: Profiler): Promise<RunResult> {
  const byName = new Map<string, PodTimes>();
  const names = Array.from({ length: opts.pods }, (_, i) => `pod-r${run}-${String(i).padStart(3, '0')}`);
  let allRunning!: () => void;
  const done = new Promise<void>((r) => (allRunning = r));
  let runningCount = 0;
  const httpChecks: Promise<void>[] = [];
  const observe = (p: Pod) => {
    const t = byName.get(p.metadata?.name ?? '');
    if (!t) return;
    const at = now();
    t.seen ??= at;
    if (t.running === undefined) t.updates++;
    if (p.spec?.nodeName && t.scheduled === undefined) {
      t.scheduled = at;
      t.node = p.spec.nodeName;
    }
    if (t.running === undefined && isRunningReady(p)) {
      t.running = at;
      t.ip = p.status?.podIP;
      if (t.ip) httpChecks.push(checkHttp(t));
      else t.httpError = 'no pod IP in the status';
      if (++runningCount === opts.pods) allRunning();
    }
  };
  podObserver.current = observe;

  const pids = await cluster.pids();
  const cpuBefore = new Map<string, number>();
  const schedBefore = new Map<string, number>();
  for (const [name, pid] of pids) {
    cpuBefore.set(name, processCpuSeconds(pid) ?? 0);
    schedBefore.set(name, schedstat(pid)?.waiting ?? 0);
  }
  await profiler?.start();
  const machineBefore = readCpu();
  const start = now();

  const creates: Promise<void>[] = [];
  for (let i = 0; i < names.length; i++) {
    if (opts.qps > 0) {
      const wait = start + (i * 1000) / opts.qps - now();
      if (wait > 0) await sleep(wait);
    }
    const t: PodTimes = { name: names[i], created: now(), updates: 0 };
    byName.set(t.name, t);
    creates.push(
      client.create(POD, podManifest(t.name, opts.image)).then(
        () => void (t.acked = now()),
        (err: Error) => {
          t.createError = err.message;
          if (++runningCount === opts.pods) allRunning();
        },
      ),
    );
  }
  await Promise.all(creates);
  const timeout = 60_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([done.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeout)))]);
  clearTimeout(timer);
  const wallMs = now() - start;
  const machineAfter = readCpu();
  if (profiler) {
    const profile = await profiler.stop();
    const file = path.join(os.tmpdir(), `kubemu-pod-startup-${opts.cpuProf}-run${run}-${Date.now()}.cpuprofile`);
    fs.writeFileSync(file, JSON.stringify(profile));
    log(`CPU profile of ${opts.cpuProf} over run ${run}: ${file}\n${topFunctions(profile, 25)}`);
  }
  const componentCpu = new Map<string, number>();
  const componentWait = new Map<string, number>();
  for (const [name, pid] of pids) {
    const after = processCpuSeconds(pid);
    if (after !== undefined) componentCpu.set(name, after - (cpuBefore.get(name) ?? 0));
    const sched = schedstat(pid);
    if (sched) componentWait.set(name, sched.waiting - (schedBefore.get(name) ?? 0));
  }
  if (timedOut) log(`run ${run}: ${opts.pods - runningCount} pods not Running after ${timeout / 1000} s`);

  let podCpu = 0;
  for (const [name, pid] of pids) if (name.startsWith('container-runtime')) podCpu += childrenCpuSeconds(pid);
  await Promise.all(httpChecks);
  const events = new Map<string, number>();
  for (const e of (await client.list(resourceForCase('event'), NAMESPACE)).items) {
    if (!byName.has(e.involvedObject?.name ?? '')) continue;
    events.set(e.reason ?? '?', (events.get(e.reason ?? '?') ?? 0) + 1);
  }
  // Components write their log lines before the API shows the result: by now they are on disk.
  readRuntimeLogs(cluster, byName);
  readSchedulerLogs(cluster, byName);
  podObserver.current = undefined;
  return { run, pods: [...byName.values()], wallMs, cpuBusy: busyPercent(machineBefore, machineAfter), loadavg: os.loadavg(), componentCpu, componentWait, podCpu, events };
}

/** Deletes every bench pod and waits until the watch shows none left. */
async function cleanup(client: ApiClient, informer: Informer<'pod'>): Promise<void> {
  const t0 = now();
  const pods = informer.byIndex('namespace', NAMESPACE);
  await Promise.all(
    pods.map((p) =>
      client.delete(POD, NAMESPACE, p.metadata!.name!).catch((err) => {
        if (!isReason(err, 'NotFound')) throw err;
      }),
    ),
  );
  const deadline = now() + 60_000;
  while (informer.byIndex('namespace', NAMESPACE).length > 0) {
    if (now() > deadline) throw new Error(`pods still present 60 s after deletion: ${informer.byIndex('namespace', NAMESPACE).map((p) => p.metadata?.name).join(', ')}`);
    await sleep(100);
  }
  log(`deleted ${pods.length} pods in ${Math.round(now() - t0)} ms`);
}

// ---------------------------------------------------------------------------------------------
// Reporting

type Stage = [label: string, pick: (t: PodTimes) => number | undefined];

const rel = (t: PodTimes, x: number | undefined) => (x === undefined ? undefined : x - t.created);
const between = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : b - a);

const STAGES: Stage[] = [
  ['create → Running (watch)', (t) => rel(t, t.running)],
  ['create → scheduled (watch)', (t) => rel(t, t.scheduled)],
  ['create → API ack', (t) => rel(t, t.acked)],
  ['create → first watch event', (t) => rel(t, t.seen)],
  ['create → sandbox (runtime log)', (t) => rel(t, t.sandbox)],
  ['create → container started (log)', (t) => rel(t, t.started)],
  ['create → HTTP 200', (t) => rel(t, t.http)],
  ['  ack → first watch event', (t) => between(t.acked, t.seen)],
  ['  seen → scheduled', (t) => between(t.seen, t.scheduled)],
  ['    seen → scheduler decided (log)', (t) => between(t.seen, t.decided)],
  ['    decided → scheduled seen', (t) => between(t.decided, t.scheduled)],
  ['  scheduled → sandbox', (t) => between(t.scheduled, t.sandbox)],
  ['  sandbox → container started', (t) => between(t.sandbox, t.started)],
  ['  container started → Running seen', (t) => between(t.started, t.running)],
  ['  Running seen → HTTP 200', (t) => between(t.running, t.http)],
];

function stageTable(pods: PodTimes[]): string {
  const rows = [['stage (ms)', 'n', 'p50', 'p90', 'p99', 'max']];
  for (const [label, pick] of STAGES) {
    const s = summarize(pods.map(pick).filter((x): x is number => x !== undefined));
    rows.push([label, String(s.n), ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max)]);
  }
  return formatTable(rows);
}

function perNode(pods: PodTimes[]): string {
  const counts = new Map<string, number>();
  for (const t of pods) counts.set(t.node ?? 'unscheduled', (counts.get(t.node ?? 'unscheduled') ?? 0) + 1);
  return [...counts].sort().map(([n, c]) => `${n}=${c}`).join(' ');
}

function componentTable(cpu: Map<string, number>, wallMs: number): string {
  const byComponent = new Map<string, number>();
  for (const [name, s] of cpu) {
    const component = name.replace(/-(\d+|node-\d+)$/, '');
    byComponent.set(component, (byComponent.get(component) ?? 0) + s);
  }
  return [...byComponent]
    .sort((a, b) => b[1] - a[1])
    .map(([c, s]) => `${c} ${s.toFixed(2)} s (${((100 * s * 1000) / wallMs).toFixed(0)}% of a core)`)
    .join(', ');
}

function reportRun(r: RunResult, opts: Options): void {
  const failures = {
    create: r.pods.filter((t) => t.createError).length,
    notRunning: r.pods.filter((t) => !t.createError && t.running === undefined).length,
    http: r.pods.filter((t) => t.running !== undefined && t.http === undefined).length,
  };
  process.stdout.write(`\n=== run ${r.run}: ${opts.pods} pods, ${opts.qps > 0 ? `${opts.qps} creates/s` : 'all created at once'}, all Running after ${Math.round(r.wallMs)} ms ===\n`);
  process.stdout.write(stageTable(r.pods) + '\n');
  process.stdout.write(`pods per node: ${perNode(r.pods)}\n`);
  const updates = summarize(r.pods.map((t) => t.updates));
  const eventCount = [...r.events.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(
    `API writes seen per pod until Running: watch events p50 ${updates.p50} max ${updates.max}; ` +
      `${eventCount} Events (${(eventCount / r.pods.length).toFixed(1)} per pod: ${[...r.events].map(([k, v]) => `${k} ${v}`).join(', ')})\n`,
  );
  process.stdout.write(`failures: create ${failures.create}, not Running ${failures.notRunning}, HTTP ${failures.http}\n`);
  for (const t of r.pods.filter((p) => p.httpError || p.createError)) process.stdout.write(`  ${t.name}: ${t.createError ?? `http://${t.ip}:80/ ${t.httpError}`}\n`);
  process.stdout.write(`machine CPU busy during the run: ${r.cpuBusy.toFixed(0)}% of ${os.cpus().length} cores; load average ${r.loadavg.map((x) => x.toFixed(2)).join(' ')}\n`);
  process.stdout.write(`CPU by component during the run: ${componentTable(r.componentCpu, r.wallMs)}, pod processes ${r.podCpu.toFixed(2)} s\n`);
  process.stdout.write(`runnable but waiting for a CPU (event loop threads, summed): ${componentTable(r.componentWait, r.wallMs).replace(/of a core/g, 'of the run')}\n`);
  const machine = (r.cpuBusy / 100) * os.cpus().length * (r.wallMs / 1000);
  const cluster = [...r.componentCpu.values()].reduce((a, b) => a + b, 0) + r.podCpu;
  process.stdout.write(`CPU seconds: machine ${machine.toFixed(2)}, this cluster and its pods ${cluster.toFixed(2)}, anything else on the machine ${Math.max(0, machine - cluster).toFixed(2)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (!fs.existsSync(CLUSTER_JS)) throw new Error(`${CLUSTER_JS} is missing: npm run build first`);
  const cpus = os.cpus();
  log(`machine: ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  log(`${opts.runs} run(s) of ${opts.pods} ${opts.image} pods, ${opts.qps > 0 ? `${opts.qps} creates/s` : 'created all at once'}`);

  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubemu-bench-pods-'));
  const cluster = new BenchCluster(stateDir, await freePortBase('demo'), 'pod-startup');
  let interrupted = false;
  const onSignal = (sig: string) => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: ${opts.keep ? 'leaving the cluster running' : 'resetting the cluster'}`);
    void (opts.keep ? Promise.resolve() : cluster.reset()).finally(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  let client: ApiClient | undefined;
  let nats: NatsConnection | undefined;
  let informer: Informer<'pod'> | undefined;
  let profiler: Profiler | undefined;
  try {
    log(`starting a cluster (port base ${cluster.portBase}) ...`);
    await cluster.start();
    client = new ApiClient(cluster.topology.apiservers);
    nats = await connectBus(cluster.topology.natsServers, 'bench-pod-startup');

    // Every node Ready before the clock starts.
    const nodeCount = cluster.topology.processes.filter((p) => p.component === 'kubelet').length;
    const nodesDeadline = Date.now() + 60_000;
    for (;;) {
      const nodes = (await client.list(NODE)).items;
      const ready = nodes.filter((n) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
      if (ready.length >= nodeCount) break;
      if (Date.now() > nodesDeadline) throw new Error(`only ${ready.length} of ${nodeCount} nodes Ready after 60 s`);
      await sleep(250);
    }
    await client.create(NS, { metadata: { name: NAMESPACE } }).catch((err) => {
      if (!isReason(err, 'AlreadyExists')) throw err;
    });
    informer = new Informer({ client, nats, info: POD, namespace: NAMESPACE });
    informer.addHandlers({ onAdd: (p) => podObserver.current?.(p), onUpdate: (_, p) => podObserver.current?.(p) });
    await informer.start();
    log(`${nodeCount} nodes Ready; pod informer synced`);

    // The idle cluster's own load (leases, heartbeats, etcd), the floor under every run.
    {
      const pids = await cluster.pids();
      const before = [...pids.values()].reduce((a, pid) => a + (processCpuSeconds(pid) ?? 0), 0);
      const m0 = readCpu();
      await sleep(3000);
      const after = [...pids.values()].reduce((a, pid) => a + (processCpuSeconds(pid) ?? 0), 0);
      log(`idle cluster for 3 s: its processes used ${(((after - before) / 3) * 100).toFixed(0)}% of a core; machine ${busyPercent(m0, readCpu()).toFixed(0)}% busy (of ${os.cpus().length} cores)`);
    }

    if (opts.cpuProf) {
      const pid = (await cluster.pids()).get(opts.cpuProf);
      if (!pid) throw new Error(`--cpu-prof ${opts.cpuProf}: no such process (${[...(await cluster.pids()).keys()].join(', ')})`);
      profiler = await Profiler.attach(pid);
    }
    const results: RunResult[] = [];
    for (let run = 1; run <= opts.runs; run++) {
      const r = await oneRun(run, opts, client, cluster, profiler);
      results.push(r);
      reportRun(r, opts);
      await cleanup(client, informer);
    }

    const all = results.flatMap((r) => r.pods);
    const rows = [['run', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'sched p50', 'sched p99', 'per node', 'HTTP fail', 'CPU busy']];
    for (const r of results) {
      const s = summarize(r.pods.map((t) => rel(t, t.running) ?? NaN));
      const sc = summarize(r.pods.map((t) => rel(t, t.scheduled) ?? NaN));
      rows.push([
        String(r.run),
        ms(s.p50),
        ms(s.p90),
        ms(s.p99),
        ms(s.max),
        ms(sc.p50),
        ms(sc.p99),
        perNode(r.pods),
        String(r.pods.filter((t) => t.running !== undefined && t.http === undefined).length),
        `${r.cpuBusy.toFixed(0)}%`,
      ]);
    }
    const o = summarize(all.map((t) => rel(t, t.running) ?? NaN));
    const osc = summarize(all.map((t) => rel(t, t.scheduled) ?? NaN));
    rows.push(['all', ms(o.p50), ms(o.p90), ms(o.p99), ms(o.max), ms(osc.p50), ms(osc.p99), perNode(all), String(all.filter((t) => t.running !== undefined && t.http === undefined).length), '']);
    process.stdout.write(`\n=== overall: ${opts.runs} run(s) × ${opts.pods} pods, create → Running observed through the watch ===\n`);
    process.stdout.write(formatTable(rows) + '\n');
    process.stdout.write(`\nall runs, by stage:\n${stageTable(all)}\n`);
    const p99s = results.map((r) => summarize(r.pods.map((t) => rel(t, t.running) ?? NaN)).p99).sort((a, b) => a - b);
    const target = 2000;
    const pass = o.n === all.length && o.p99 <= target;
    process.stdout.write(
      `\np99 per run: min ${ms(p99s[0])} / median ${ms(percentile(p99s, 50))} / max ${ms(p99s[p99s.length - 1])} ms; ` +
        `overall p99 ${ms(o.p99)} ms: ${pass ? 'PASS' : 'FAIL'} (target ≤ ${target} ms; Kubernetes' SLO 5000 ms)\n`,
    );
    if (opts.keep) log(`--keep: the cluster keeps running; KUBEMU_STATE_DIR=${stateDir} node dist/scripts/cluster.js reset to remove it`);
    return pass ? 0 : 1;
  } finally {
    profiler?.close();
    await informer?.stop().catch(() => undefined);
    await nats?.close().catch(() => undefined);
    client?.close();
    if (!opts.keep && !interrupted) await cluster.reset();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`pod-startup: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(2);
  },
);
