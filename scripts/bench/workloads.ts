/**
 * kube-controller-manager benchmark: how long the workload controllers take, end to end through
 * real processes, against a private environment this script starts on free ports in temporary
 * folders (demo profile): an etcd of --etcd members (default 3, as the demo profile), one
 * nats-server with JetStream, one kube-apiserver, one kube-scheduler, one kube-controller-manager
 * (every controller), a simulated kubelet process hosting --nodes nodes (sim-node-1..N) and, per
 * run, a second simulated kubelet process hosting one node (lost-node-1) that is SIGKILLed in
 * phase 3. Simulated pods turn Running+Ready KUBEMU_SIMULATED_POD_START_DELAY_MS after binding.
 *
 * Each run, observed through informers (pods, nodes, deployments) in this process:
 *   1. create   a --replicas Deployment → every pod created, every pod scheduled, and available as
 *               `kubectl rollout status` decides (observedGeneration ≥ generation, updated = replicas
 *               = available, no old replicas);
 *   2. rollout  an image change with the default RollingUpdate 25%/25% → rolled out (the same, and no
 *               pod of the old template left), sampling on every pod event the live pods (not
 *               terminating) and the available ones (Ready, not terminating; minReadySeconds is 0) to
 *               show maxSurge and maxUnavailable held;
 *   3. node loss SIGKILL of the lost-node process → its node Ready=Unknown, the unreachable NoExecute
 *               taint, every Deployment pod there evicted (deletionTimestamp set: nobody is left to
 *               finish the graceful deletion), and the Deployment available again with every live
 *               pod on another node. Demo profile: node monitor grace 10 s, the apiserver's default
 *               tolerationSeconds 15 → about 25–30 s.
 * and the CPU seconds each process used in each phase (/proc/<pid>/stat utime+stime). The grace
 * period runs from the last lease renewal the controller saw, and the simulated kubelet renews every
 * 4 s in the demo profile, so kill → Unknown varies between about 6 and 11 s; the table also shows
 * the lost node's last renewal before the kill.
 *
 * Usage: npm run build && npm run bench:workloads [-- --runs 3 --replicas 100 --nodes 10 --etcd 3
 *        --pod-start-delay-ms 200]
 * KUBEMU_KEEP_TEST_DIRS=1 keeps the processes' logs. Ctrl-C stops everything it started.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { NatsConnection } from 'nats';
import { ApiClient } from '../../services/lib/apiclient';
import { isReason } from '../../services/lib/errors';
import type { Deployment } from '../../services/lib/generated/kubemu/apps/v1/apps';
import type { Node, Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { Informer } from '../../services/lib/informer';
import { resourceForCase } from '../../services/lib/resources';
import { componentEnv, nodeServiceSpec } from '../../services/lib/topology';
import { connectBus } from '../../services/lib/watchbus';
import { freePort, makeTempDir, ManagedProcess, removeTempDir, startApiserver, startEtcdCluster, startNats } from '../../test/harness';
import { formatTable } from '../lib/table';

const POD = resourceForCase('pod');
const NODE = resourceForCase('node');
const DEPLOY = resourceForCase('deployment');
const LEASE = resourceForCase('lease');
const NAMESPACE = resourceForCase('namespace');
const NS = 'bench-workloads';
const PROFILE = 'demo';
const LOST_PREFIX = 'lost-node-';
const LOST_NODE = `${LOST_PREFIX}1`;
const UNREACHABLE = 'node.kubernetes.io/unreachable';

// ---------------------------------------------------------------------------------------------
// Options, time, statistics

interface Options {
  runs: number;
  replicas: number;
  nodes: number;
  etcd: number;
  podStartDelayMs: number;
}

function parseOptions(argv: string[]): Options {
  const opts: Options = { runs: 3, replicas: 100, nodes: 10, etcd: 3, podStartDelayMs: 200 };
  const keys: Record<string, keyof Options> = { '--runs': 'runs', '--replicas': 'replicas', '--nodes': 'nodes', '--etcd': 'etcd', '--pod-start-delay-ms': 'podStartDelayMs' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node dist/scripts/bench/workloads.js [--runs 3] [--replicas 100] [--nodes 10] [--etcd 3] [--pod-start-delay-ms 200]\n');
      process.exit(0);
    }
    const key = keys[a];
    if (!key) throw new Error(`unknown option ${a}`);
    const n = Number(argv[++i]);
    if (!Number.isInteger(n) || n < (key === 'podStartDelayMs' ? 0 : 1)) throw new Error(`${a} needs a positive integer, not ${argv[i]}`);
    opts[key] = n;
  }
  return opts;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => process.stdout.write(`[${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
const secs = (ms: number | undefined) => (ms === undefined || !Number.isFinite(ms) ? '-' : (ms / 1000).toFixed(2));

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** utime + stime of a process in seconds (Linux /proc), or NaN when it is gone. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Busy CPU seconds of the whole machine so far (all cores; everything but idle and iowait). */
function machineBusySeconds(): number {
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (cpu.slice(0, 8).reduce((a, b) => a + b, 0) - cpu[3] - (cpu[4] ?? 0)) / 100;
}

// ---------------------------------------------------------------------------------------------
// Objects and predicates

function deployment(name: string, replicas: number, image: string): Deployment {
  // No strategy: the apiserver's defaults (RollingUpdate, maxSurge 25%, maxUnavailable 25%).
  return {
    metadata: { name, namespace: NS },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image, resources: { requests: { cpu: '10m', memory: '16Mi' } } }] } },
    },
  };
}

const isTerminating = (p: Pod) => !!p.metadata?.deletionTimestamp;
const isReady = (p: Pod) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const imageOf = (p: Pod) => p.spec?.containers?.[0]?.image;
const readyStatus = (n: Node | undefined) => n?.status?.conditions?.find((c) => c.type === 'Ready')?.status;
const hasUnreachableTaint = (n: Node | undefined) => (n?.spec?.taints ?? []).some((t) => t.key === UNREACHABLE && t.effect === 'NoExecute');

/** `kubectl rollout status`'s verdict: the generation observed, every replica updated and available, no old replica left. */
function rolledOut(d: Deployment | undefined, replicas: number): boolean {
  if (!d) return false;
  const s = d.status ?? {};
  return (
    (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
    (s.updatedReplicas ?? 0) === replicas &&
    (s.replicas ?? 0) === replicas &&
    (s.availableReplicas ?? 0) === replicas
  );
}

// ---------------------------------------------------------------------------------------------
// The environment

interface Env {
  client: ApiClient;
  pods: Informer<'pod'>;
  nodes: Informer<'node'>;
  deployments: Informer<'deployment'>;
  /** Called on every informer event (after the cache changed). */
  listeners: Set<() => void>;
  /** The measured processes by name, their pid read when sampled (undefined once stopped). */
  processes: [string, () => number | undefined][];
}

/**
 * Resolves the wall-clock time at which `probe` first held, evaluated on every informer event and
 * every 100 ms (whichever first); rejects after `timeoutMs`.
 */
function when(env: Env, what: string, probe: () => boolean, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let poll: NodeJS.Timeout | undefined;
    const finish = (err?: Error) => {
      env.listeners.delete(check);
      clearTimeout(timer);
      clearInterval(poll);
      if (err) reject(err);
      else resolve(Date.now());
    };
    const check = () => {
      try {
        if (probe()) finish();
      } catch (err) {
        finish(err as Error);
      }
    };
    env.listeners.add(check);
    poll = setInterval(check, 100);
    timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`)), timeoutMs);
    check();
  });
}

/** CPU seconds of every measured process (and the machine) over one phase. */
class CpuMeter {
  private readonly before = new Map<string, number>();
  private readonly machineBefore = machineBusySeconds();
  private readonly t0 = Date.now();
  constructor(private readonly env: Env) {
    for (const [name, pid] of env.processes) this.before.set(name, cpuSeconds(pid()));
  }
  /** name → CPU seconds since construction; NaN for a process gone before this call. */
  stop(): { byProcess: Map<string, number>; machine: number; wallMs: number } {
    const byProcess = new Map<string, number>();
    for (const [name, pid] of this.env.processes) byProcess.set(name, cpuSeconds(pid()) - (this.before.get(name) ?? NaN));
    return { byProcess, machine: machineBusySeconds() - this.machineBefore, wallMs: Date.now() - this.t0 };
  }
}

type Cpu = ReturnType<CpuMeter['stop']>;

interface RunResult {
  run: number;
  create: { created: number; scheduled: number; available: number; cpu: Cpu };
  rollout: { done: number; maxLive: number; maxWithTerminating: number; minAvailable: number; cpu: Cpu };
  loss: { podsOnLost: number; leaseAge: number; unknown: number; tainted: number; firstEvicted: number; evicted: number; recreated: number; available: number; cpu: Cpu };
  loadavg: number[];
}

// ---------------------------------------------------------------------------------------------
// One run

async function oneRun(run: number, opts: Options, env: Env, lost: ManagedProcess): Promise<RunResult> {
  const { client } = env;
  const name = `web-${run}`;
  const mine = () => env.pods.list().filter((p) => p.metadata?.labels?.app === name);
  const deploy = () => env.deployments.list().find((d) => d.metadata?.name === name);
  const lostNode = () => env.nodes.list().find((n) => n.metadata?.name === LOST_NODE);
  const R = opts.replicas;

  // The node that will be lost, in its own process, Ready and untainted before the clock starts.
  await lost.start();
  await when(env, `${LOST_NODE} Ready and untainted`, () => {
    if (!lost.running) throw new Error(`the lost-node kubelet exited:\n${lost.logs(30)}`);
    const n = lostNode();
    return readyStatus(n) === 'True' && !(n?.spec?.taints ?? []).length;
  }, 60000);

  // 1. Create → available.
  let cpuMeter = new CpuMeter(env);
  let t0 = Date.now();
  await client.create(DEPLOY, deployment(name, R, 'nginx:1'));
  const [created, scheduled, available] = await Promise.all([
    when(env, `${R} pods created`, () => mine().length >= R, 120000),
    when(env, `${R} pods scheduled`, () => mine().filter((p) => p.spec?.nodeName).length >= R, 120000),
    when(env, `${name} available`, () => rolledOut(deploy(), R), 180000),
  ]);
  const create = { created: created - t0, scheduled: scheduled - t0, available: available - t0, cpu: cpuMeter.stop() };
  log(`run ${run}: created ${secs(create.created)} s, scheduled ${secs(create.scheduled)} s, available ${secs(create.available)} s`);

  // 2. Rolling update, sampled on every event.
  let maxLive = 0;
  let maxWithTerminating = 0;
  let minAvailable = Infinity;
  const sample = () => {
    const ps = mine();
    const live = ps.filter((p) => !isTerminating(p));
    maxWithTerminating = Math.max(maxWithTerminating, ps.length);
    maxLive = Math.max(maxLive, live.length);
    minAvailable = Math.min(minAvailable, live.filter(isReady).length);
  };
  env.listeners.add(sample);
  cpuMeter = new CpuMeter(env);
  t0 = Date.now();
  await client.patch(DEPLOY, NS, name, { spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:2' }] } } } });
  const done = await when(
    env,
    `${name} rolled out to nginx:2`,
    () => {
      const d = deploy();
      return (d?.metadata?.generation ?? 0) >= 2 && rolledOut(d, R) && mine().every((p) => imageOf(p) === 'nginx:2');
    },
    180000,
  );
  env.listeners.delete(sample);
  const rollout = { done: done - t0, maxLive, maxWithTerminating, minAvailable, cpu: cpuMeter.stop() };
  log(`run ${run}: rolled out ${secs(rollout.done)} s; max live pods ${maxLive} (with terminating ${maxWithTerminating}), min available ${minAvailable}`);

  // 3. Node loss.
  const onLost = () => mine().filter((p) => p.spec?.nodeName === LOST_NODE);
  const podsOnLost = onLost().length;
  if (podsOnLost === 0) log(`run ${run}: warning: no pod of ${name} on ${LOST_NODE}; the node loss phase measures the node only`);
  // The node lifecycle controller counts its grace period from the last renewal it saw; the
  // simulated kubelet renews every 4 s in the demo profile (simulatedTimings), so this varies.
  const lease = await client.tryGet(LEASE, 'kube-node-lease', LOST_NODE);
  cpuMeter = new CpuMeter(env);
  t0 = Date.now();
  await lost.kill('SIGKILL');
  const leaseAge = t0 - Date.parse(lease?.spec?.renewTime ?? '');
  const lostUids = new Set(onLost().map((p) => p.metadata!.uid!));
  const [unknown, tainted, firstEvicted, evicted, recreated, recovered] = await Promise.all([
    when(env, `${LOST_NODE} Ready=Unknown`, () => readyStatus(lostNode()) === 'Unknown', 120000),
    when(env, `${LOST_NODE} tainted ${UNREACHABLE}:NoExecute`, () => hasUnreachableTaint(lostNode()), 120000),
    when(env, `a pod on ${LOST_NODE} evicted`, () => lostUids.size === 0 || mine().some((p) => lostUids.has(p.metadata!.uid!) && isTerminating(p)) || mine().filter((p) => lostUids.has(p.metadata!.uid!)).length < lostUids.size, 120000),
    when(env, `every pod on ${LOST_NODE} evicted`, () => onLost().every(isTerminating), 120000),
    when(env, `${R} live pods off ${LOST_NODE}`, () => mine().filter((p) => !isTerminating(p) && p.spec?.nodeName !== LOST_NODE).length >= R, 120000),
    when(
      env,
      `${name} available again off ${LOST_NODE}`,
      () => {
        const live = mine().filter((p) => !isTerminating(p));
        return onLost().every(isTerminating) && live.length === R && live.every((p) => p.spec?.nodeName !== LOST_NODE && isReady(p)) && rolledOut(deploy(), R);
      },
      180000,
    ),
  ]);
  const loss = { podsOnLost, leaseAge, unknown: unknown - t0, tainted: tainted - t0, firstEvicted: firstEvicted - t0, evicted: evicted - t0, recreated: recreated - t0, available: recovered - t0, cpu: cpuMeter.stop() };
  log(`run ${run}: node loss (${podsOnLost} pods there): Unknown ${secs(loss.unknown)} s, tainted ${secs(loss.tainted)} s, evicted ${secs(loss.evicted)} s, available again ${secs(loss.available)} s`);

  // Clean up: the Deployment (its ReplicaSets and pods by the garbage collector), the pods stuck
  // terminating on the dead node (nothing finishes their graceful deletion), the node and its lease.
  await client.delete(DEPLOY, NS, name, { propagationPolicy: 'Background' });
  const forced = new Set<string>();
  await when(env, `the pods of ${name} gone`, () => {
    for (const p of mine()) {
      if (p.spec?.nodeName === LOST_NODE && !forced.has(p.metadata!.uid!)) {
        forced.add(p.metadata!.uid!);
        client.delete(POD, NS, p.metadata!.name!, { gracePeriodSeconds: 0 }).catch(() => undefined);
      }
    }
    return mine().length === 0;
  }, 120000);
  await client.delete(NODE, '', LOST_NODE).catch((err) => {
    if (!isReason(err, 'NotFound')) throw err;
  });
  await client.delete(LEASE, 'kube-node-lease', LOST_NODE).catch((err) => {
    if (!isReason(err, 'NotFound')) throw err;
  });
  await when(env, `${LOST_NODE} gone`, () => !lostNode(), 30000);
  return { run, create, rollout, loss, loadavg: os.loadavg() };
}

// ---------------------------------------------------------------------------------------------
// Reporting

function cpuTable(results: RunResult[], names: string[]): string {
  const phases: [string, (r: RunResult) => Cpu][] = [
    ['create', (r) => r.create.cpu],
    ['rollout', (r) => r.rollout.cpu],
    ['node loss', (r) => r.loss.cpu],
  ];
  const rows = [['process (CPU s, median of runs)', ...phases.map(([p]) => p)]];
  const cell = (xs: number[]) => {
    const m = median(xs);
    return Number.isFinite(m) ? m.toFixed(2) : '-';
  };
  for (const n of names) rows.push([n, ...phases.map(([, pick]) => cell(results.map((r) => pick(r).byProcess.get(n) ?? NaN)))]);
  rows.push(['all of the above', ...phases.map(([, pick]) => cell(results.map((r) => [...pick(r).byProcess.values()].filter(Number.isFinite).reduce((a, b) => a + b, 0))))]);
  rows.push(['machine (all processes)', ...phases.map(([, pick]) => cell(results.map((r) => pick(r).machine)))]);
  rows.push(['phase wall time s', ...phases.map(([, pick]) => cell(results.map((r) => pick(r).wallMs / 1000)))]);
  return formatTable(rows);
}

function report(results: RunResult[], opts: Options, names: string[]): void {
  const measures: [string, (r: RunResult) => number, string][] = [
    ['1. create → all pods created', (r) => r.create.created, 's'],
    ['1. create → all pods scheduled', (r) => r.create.scheduled, 's'],
    ['1. create → available (rollout status)', (r) => r.create.available, 's'],
    ['2. image change → rolled out, no old pod', (r) => r.rollout.done, 's'],
    [`2.   max live pods (≤ ${opts.replicas + Math.ceil(opts.replicas / 4)})`, (r) => r.rollout.maxLive, 'n'],
    ['2.   max pods incl. terminating', (r) => r.rollout.maxWithTerminating, 'n'],
    [`2.   min available (≥ ${opts.replicas - Math.floor(opts.replicas / 4)})`, (r) => r.rollout.minAvailable, 'n'],
    [`3. pods on ${LOST_NODE} when killed`, (r) => r.loss.podsOnLost, 'n'],
    ['3. last lease renewal → kill', (r) => r.loss.leaseAge, 's'],
    ['3. kill → node Ready=Unknown', (r) => r.loss.unknown, 's'],
    ['3.   last lease renewal → Unknown', (r) => r.loss.leaseAge + r.loss.unknown, 's'],
    ['3. kill → unreachable NoExecute taint', (r) => r.loss.tainted, 's'],
    ['3. kill → first pod evicted', (r) => r.loss.firstEvicted, 's'],
    ['3. kill → every pod there evicted', (r) => r.loss.evicted, 's'],
    [`3. kill → ${opts.replicas} live pods elsewhere`, (r) => r.loss.recreated, 's'],
    ['3. kill → available again', (r) => r.loss.available, 's'],
  ];
  const rows = [['measure', ...results.map((r) => `run ${r.run}`), 'min', 'median', 'max']];
  for (const [label, pick, unit] of measures) {
    const xs = results.map(pick);
    const f = (x: number) => (unit === 's' ? secs(x) : String(x));
    rows.push([label + (unit === 's' ? ' (s)' : ''), ...xs.map(f), f(Math.min(...xs)), f(median(xs)), f(Math.max(...xs))]);
  }
  process.stdout.write(
    `\n=== kube-controller-manager benchmark: ${opts.runs} run(s), Deployment of ${opts.replicas} on ${opts.nodes} simulated nodes + ${LOST_NODE}; ` +
      `profile ${PROFILE}; ${opts.etcd}-member etcd; pod start delay ${opts.podStartDelayMs} ms ===\n`,
  );
  process.stdout.write(formatTable(rows) + '\n\n');
  process.stdout.write(cpuTable(results, names) + '\n\n');
  const surgeOk = results.every((r) => r.rollout.maxLive <= opts.replicas + Math.ceil(opts.replicas / 4));
  const unavailOk = results.every((r) => r.rollout.minAvailable >= opts.replicas - Math.floor(opts.replicas / 4));
  process.stdout.write(`maxSurge respected: ${surgeOk ? 'yes' : 'NO'}; maxUnavailable respected: ${unavailOk ? 'yes' : 'NO'}\n`);
  process.stdout.write(`load average after each run: ${results.map((r) => r.loadavg.map((x) => x.toFixed(2)).join('/')).join(', ')}\n`);
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const cpus = os.cpus();
  log(`machine: ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  log(
    `${opts.runs} run(s): Deployment of ${opts.replicas} on ${opts.nodes} simulated nodes + 1 to lose; KUBEMU_SIMULATED_POD_START_DELAY_MS=${opts.podStartDelayMs}; ` +
      `starting a private cluster (${opts.etcd}-member etcd, 1 nats-server, 1 kube-apiserver, 1 kube-scheduler, 1 kube-controller-manager; profile ${PROFILE}) ...`,
  );
  const dir = makeTempDir('bench-workloads');
  const procs: ManagedProcess[] = [];
  const conns: NatsConnection[] = [];
  const informers: Informer<'pod' | 'node' | 'deployment'>[] = [];
  let etcd: Awaited<ReturnType<typeof startEtcdCluster>> | undefined;
  let nats: Awaited<ReturnType<typeof startNats>> | undefined;
  let api: Awaited<ReturnType<typeof startApiserver>> | undefined;
  let client: ApiClient | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const i of informers) await i.stop().catch(() => undefined);
      for (const c of conns) await c.close().catch(() => undefined);
      for (const p of [...procs].reverse()) await p.stop().catch(() => undefined);
      client?.close();
      await api?.stop().catch(() => undefined);
      await nats?.stop().catch(() => undefined);
      await etcd?.stop().catch(() => undefined);
      if (process.env.KUBEMU_KEEP_TEST_DIRS) log(`logs kept in ${dir}`);
      removeTempDir(dir);
    })());
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      log(`${sig}: stopping everything`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    const t0 = Date.now();
    etcd = await startEtcdCluster({ members: opts.etcd });
    nats = await startNats({ servers: 1 });
    api = await startApiserver({ etcd, nats, id: 'kube-apiserver-0', profile: PROFILE });
    const cluster = { profile: PROFILE, stateDir: dir, etcdEndpoints: etcd.endpoints, natsServers: nats.urls, apiservers: [api.address], jetstreamReplicas: 1 };
    client = new ApiClient([api.address], { timeoutMs: 30000 });

    const kubelet = (name: string, count: number, prefix: string) =>
      new ManagedProcess(
        nodeServiceSpec({
          name,
          component: 'kubelet',
          index: 0,
          tier: 3,
          main: 'services/kubelet/main.ts',
          ports: {},
          address: '',
          env: {
            ...componentEnv(name, cluster),
            KUBEMU_SIMULATED_NODES: String(count),
            KUBEMU_SIMULATED_NODE_PREFIX: prefix,
            KUBEMU_SIMULATED_POD_START_DELAY_MS: String(opts.podStartDelayMs),
          },
          health: { kind: 'grpc', address: '' },
        }),
        path.join(dir, `${name}.log`),
      );
    const component = async (name: string, component: string, main: string, listenVar: string) => {
      const port = await freePort();
      const address = `127.0.0.1:${port}`;
      return new ManagedProcess(
        nodeServiceSpec({
          name,
          component,
          index: 0,
          tier: 2,
          main,
          ports: { health: port },
          address,
          env: { ...componentEnv(name, cluster), [listenVar]: address },
          health: { kind: 'grpc', address },
        }),
        path.join(dir, `${name}.log`),
      );
    };
    const sim = kubelet('kubelet-simulated', opts.nodes, 'sim-node-');
    const lost = kubelet('kubelet-lost-node', 1, LOST_PREFIX);
    const scheduler = await component('kube-scheduler-0', 'kube-scheduler', 'services/kube-scheduler/main.ts', 'KUBEMU_SCHEDULER_HEALTH_LISTEN');
    const kcm = await component('kube-controller-manager-0', 'kube-controller-manager', 'services/kube-controller-manager/main.ts', 'KUBEMU_CONTROLLER_MANAGER_HEALTH_LISTEN');
    procs.push(sim, scheduler, kcm, lost);
    await sim.start();
    await scheduler.start();
    await kcm.start();
    await scheduler.waitHealthy(60000);
    await kcm.waitHealthy(60000);

    const nc = await connectBus(nats.urls, 'bench-workloads-observer');
    conns.push(nc);
    const listeners = new Set<() => void>();
    const notify = () => {
      for (const l of [...listeners]) l();
    };
    const pods = new Informer({ client, nats: nc, info: POD, namespace: NS });
    const nodes = new Informer({ client, nats: nc, info: NODE });
    const deployments = new Informer({ client, nats: nc, info: DEPLOY, namespace: NS });
    for (const i of [pods, nodes, deployments] as Informer<'pod' | 'node' | 'deployment'>[]) {
      i.addHandlers({ onAdd: notify, onUpdate: notify, onDelete: notify });
      informers.push(i);
      await i.start();
    }
    const env: Env = {
      client,
      pods,
      nodes,
      deployments,
      listeners,
      processes: [
        ...etcd.members.map((m) => [m.name, () => m.pid] as [string, () => number | undefined]),
        ['nats-server', () => nats!.servers[0].pid],
        ['kube-apiserver', () => api!.pid],
        ['kube-scheduler', () => scheduler.pid],
        ['kube-controller-manager', () => kcm.pid],
        [`kubelet-simulated (${opts.nodes} nodes)`, () => sim.pid],
        ['kubelet-lost-node (1 node)', () => lost.pid],
        ['bench (observer)', () => process.pid],
      ],
    };
    await when(env, `${opts.nodes} Ready nodes`, () => {
      if (!sim.running) throw new Error(`the simulated kubelet exited:\n${sim.logs(30)}`);
      return nodes.list().filter((n) => readyStatus(n) === 'True').length >= opts.nodes;
    }, 120000);
    // Every controller runs only on the leader: wait for it to hold the lease.
    let leaderHolder: string | undefined;
    const leaderDeadline = Date.now() + 60000;
    while (!leaderHolder) {
      leaderHolder = (await client.tryGet(LEASE, 'kube-system', 'kube-controller-manager'))?.spec?.holderIdentity || undefined;
      if (!leaderHolder && Date.now() > leaderDeadline) throw new Error(`kube-controller-manager did not take the lease in 60 s:\n${kcm.logs(30)}`);
      if (!leaderHolder) await sleep(200);
    }
    await client.create(NAMESPACE, { metadata: { name: NS } });
    log(`ready after ${secs(Date.now() - t0)} s: ${opts.nodes} nodes Ready, kube-controller-manager leading (${leaderHolder})`);

    const results: RunResult[] = [];
    for (let run = 1; run <= opts.runs; run++) {
      results.push(await oneRun(run, opts, env, lost));
    }
    report(results, opts, env.processes.map(([n]) => n));
    const ok = results.every((r) => r.rollout.maxLive <= opts.replicas + Math.ceil(opts.replicas / 4) && r.rollout.minAvailable >= opts.replicas - Math.floor(opts.replicas / 4));
    return ok ? 0 : 1;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench workloads: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(2);
  },
);
