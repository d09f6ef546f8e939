/**
 * kube-scheduler throughput, end to end through the apiserver and etcd (the role of Kubernetes'
 * scheduler_perf SchedulingBasic), against a private cluster this script starts on free ports in
 * temporary folders: a 3-member etcd, one nats-server with JetStream, one kube-apiserver, a
 * simulated kubelet process hosting --nodes nodes (they register, renew leases and turn bound pods
 * Running, so the apiserver carries a live cluster's load) and finally a kube-scheduler process.
 *
 * It creates --pods pending pods first, then starts the scheduler and measures, through a pods
 * informer, the time from the scheduler's start and from its first binding to the last binding:
 * pods/s overall and per second (p50, min over the full seconds), the scheduler's own attempt and
 * binding latencies (from its 'scheduler stopped' log line), and the CPU each process used while
 * scheduling. Target: ≥ 300 pods/s at 1,000 nodes and 5,000 pods (scheduler_perf's bar is 270).
 *
 * Usage: npm run build && npm run bench:scheduler [-- --nodes 1000 --pods 5000 --seconds 120 --etcd 3
 *        --pod-start-delay-ms 200]
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { NatsConnection } from 'nats';
import { ApiClient } from '../../services/lib/apiclient';
import type { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { Informer } from '../../services/lib/informer';
import { resourceForCase } from '../../services/lib/resources';
import { componentEnv, nodeServiceSpec } from '../../services/lib/topology';
import { connectBus } from '../../services/lib/watchbus';
import { makeTempDir, ManagedProcess, removeTempDir, startApiserver, startEtcdCluster, startNats, freePort } from '../../test/harness';
import { formatTable } from '../lib/table';

const POD = resourceForCase('pod');
const NODE = resourceForCase('node');
const NAMESPACE = resourceForCase('namespace');
const NS = 'bench-scheduler';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** scheduler_perf's pod-default.yaml: a pause container asking for 100m and 500Mi. */
function benchPod(i: number): Pod {
  return {
    metadata: { name: `pod-${i}`, namespace: NS, labels: { app: 'bench' } },
    spec: {
      containers: [{ name: 'pause', image: 'registry.k8s.io/pause:3.10', resources: { requests: { cpu: '100m', memory: '500Mi' }, limits: { cpu: '100m', memory: '500Mi' } } }],
    },
  };
}

/** utime + stime of a process in seconds (Linux /proc), or NaN. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": field 3 is state, so utime (14) and stime (15) are at 11 and 12.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Busy CPU seconds of the whole machine so far (all cores, /proc/stat: everything but idle and iowait), or NaN. */
function machineBusySeconds(): number {
  try {
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = cpu[3] + (cpu[4] ?? 0);
    return (cpu.reduce((a, b) => a + b, 0) - idle) / 100;
  } catch {
    return NaN;
  }
}

async function runAll(concurrency: number, total: number, op: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await op(next++);
    }),
  );
}

async function until(what: string, ms: number, probe: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<void> {
  const nodes = arg('nodes', 1000);
  const pods = arg('pods', 5000);
  const seconds = arg('seconds', 120);
  const etcdMembers = arg('etcd', 3);
  const podStartDelayMs = arg('pod-start-delay-ms', 200);
  const profile = 'k8s';
  console.log(`scheduler benchmark: ${nodes} simulated nodes, ${pods} pods; starting a private cluster (${etcdMembers}-member etcd, 1 nats-server, 1 kube-apiserver) ...`);
  const dir = makeTempDir('bench-scheduler');
  const etcd = await startEtcdCluster({ members: etcdMembers });
  const nats = await startNats({ servers: 1 });
  const api = await startApiserver({ etcd, nats, id: 'kube-apiserver-0', profile });
  const cluster = { profile, stateDir: dir, etcdEndpoints: etcd.endpoints, natsServers: nats.urls, apiservers: [api.address], jetstreamReplicas: 1 };
  const client = new ApiClient([api.address], { timeoutMs: 30000 });
  const conns: NatsConnection[] = [];
  const procs: ManagedProcess[] = [];
  let informer: Informer<'pod'> | undefined;
  try {
    // 1. The simulated nodes, in their own process.
    // The real kubelet's entry point: KUBEMU_SIMULATED_NODES makes it a simulated kubelet.
    const simMain = 'services/kubelet/main.ts';
    const sim = new ManagedProcess(
      nodeServiceSpec({
        name: 'kubelet-simulated',
        component: 'kubelet',
        index: 0,
        tier: 3,
        main: simMain,
        ports: {},
        address: '',
        env: {
          ...componentEnv('kubelet-simulated', cluster),
          KUBEMU_SIMULATED_NODES: String(nodes),
          KUBEMU_SIMULATED_POD_START_DELAY_MS: String(podStartDelayMs),
          KUBEMU_LOG_LEVEL: 'info',
        },
        health: { kind: 'grpc', address: '' },
      }),
      path.join(dir, 'kubelet-simulated.log'),
    );
    procs.push(sim);
    const t0 = Date.now();
    await sim.start();
    await until(`${nodes} Ready nodes`, 180000, async () => {
      if (!sim.running) throw new Error(`simulated kubelet exited:\n${sim.logs(30)}`);
      const list = await client.list(NODE, '', { limit: 0 });
      return list.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length >= nodes;
    });
    console.log(`  ${nodes} nodes Ready after ${((Date.now() - t0) / 1000).toFixed(1)} s (simulated kubelet: ${simMain.replace(/\.ts$/, '.js')})`);

    // 2. The pending pods.
    await client.create(NAMESPACE, { metadata: { name: NS } });
    const nc = await connectBus(nats.urls, 'bench-scheduler-observer');
    conns.push(nc);
    const boundAt = new Map<string, number>();
    let running = 0;
    informer = new Informer({ client, nats: nc, info: POD, namespace: NS });
    informer.addHandlers({
      onUpdate: (o, p) => {
        if (p.spec?.nodeName && !o.spec?.nodeName && !boundAt.has(p.metadata!.name!)) boundAt.set(p.metadata!.name!, Date.now());
        if (p.status?.phase === 'Running' && o.status?.phase !== 'Running') running++;
      },
    });
    await informer.start();
    const c0 = Date.now();
    await runAll(64, pods, (i) => client.create(POD, benchPod(i)));
    const createSeconds = (Date.now() - c0) / 1000;
    await until('the observer to see every pod', 60000, () => informer!.list().length >= pods);
    console.log(`  ${pods} pods created in ${createSeconds.toFixed(1)} s (${(pods / createSeconds).toFixed(0)}/s); starting kube-scheduler ...`);
    // Let the apiserver's and etcd's write backlog settle so the measurement starts from quiet.
    await new Promise((r) => setTimeout(r, 3000));

    // 3. The scheduler, measured.
    const healthPort = await freePort();
    const healthAddress = `127.0.0.1:${healthPort}`;
    const scheduler = new ManagedProcess(
      nodeServiceSpec({
        name: 'kube-scheduler-0',
        component: 'kube-scheduler',
        index: 0,
        tier: 2,
        main: 'services/kube-scheduler/main.ts',
        ports: { health: healthPort },
        address: healthAddress,
        env: { ...componentEnv('kube-scheduler-0', cluster), KUBEMU_SCHEDULER_HEALTH_LISTEN: healthAddress, KUBEMU_SCHEDULER_PROFILE_DIR: process.env.KUBEMU_SCHEDULER_PROFILE_DIR ?? '' },
        health: { kind: 'grpc', address: healthAddress },
      }),
      path.join(dir, 'kube-scheduler.log'),
    );
    if (process.env.KUBEMU_SCHEDULER_PROFILE_DIR) scheduler.spec.nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${process.env.KUBEMU_SCHEDULER_PROFILE_DIR}`);
    procs.push(scheduler);
    const others: [string, () => number | undefined][] = [
      ...etcd.members.map((m) => [m.name, () => m.pid] as [string, () => number | undefined]),
      ['nats-server', () => nats.servers[0].pid],
      ['kube-apiserver', () => api.pid],
      ['kubelet-simulated', () => sim.pid],
      ['bench (observer)', () => process.pid],
    ];
    const cpuBefore = new Map(others.map(([n, pid]) => [n, cpuSeconds(pid())]));
    const machineBefore = machineBusySeconds();
    const start = Date.now();
    await scheduler.start();
    await until(`all ${pods} pods bound`, seconds * 1000, () => {
      if (!scheduler.running) throw new Error(`kube-scheduler exited:\n${scheduler.logs(30)}`);
      return boundAt.size >= pods;
    });
    const end = Math.max(...boundAt.values());
    const wall = (Date.now() - start) / 1000;
    const cpu = [...others, ['kube-scheduler', () => scheduler.pid] as [string, () => number | undefined]].map(([n, pid]) => {
      const used = cpuSeconds(pid()) - (cpuBefore.get(n) ?? 0);
      return [n, used] as [string, number];
    });
    const machine = machineBusySeconds() - machineBefore;
    const times = [...boundAt.values()].sort((a, b) => a - b);
    const first = times[0];
    // Bindings per second, over the full seconds between the first and the last binding.
    const buckets = new Array<number>(Math.max(1, Math.floor((end - first) / 1000))).fill(0);
    for (const t of times) {
      const b = Math.floor((t - first) / 1000);
      if (b < buckets.length) buckets[b]++;
    }
    const perSecond = [...buckets].sort((a, b) => a - b);
    if (podStartDelayMs < 60000) await until('every pod Running', 60000, () => running >= pods).catch(() => undefined);
    await scheduler.stop();
    const summaryLine = scheduler
      .logs(400)
      .split('\n')
      .reverse()
      .find((l) => l.includes('"scheduler stopped"'));
    const summary = summaryLine ? (JSON.parse(summaryLine.slice(summaryLine.indexOf('{'))) as Record<string, number>) : {};

    const overall = pods / ((end - start) / 1000);
    const fromFirst = (pods - 1) / Math.max(0.001, (end - first) / 1000);
    console.log('');
    console.log(`kube-scheduler benchmark (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown cpu'}; one run)`);
    console.log(
      formatTable([
        ['measure', 'value'],
        ['nodes / pods', `${nodes} / ${pods}`],
        ['etcd members / pod start delay', `${etcdMembers} / ${podStartDelayMs} ms`],
        ['scheduler start → first binding', `${((first - start) / 1000).toFixed(2)} s`],
        ['first → last binding', `${((end - first) / 1000).toFixed(2)} s`],
        ['throughput from scheduler start', `${overall.toFixed(0)} pods/s`],
        ['throughput from first binding', `${fromFirst.toFixed(0)} pods/s   target ≥ 300   ${fromFirst >= 300 ? 'PASS' : 'FAIL'}`],
        ['per-second throughput p50 / min', `${percentile(perSecond, 50)} / ${perSecond[0]} pods/s (over ${buckets.length} full seconds)`],
        ['scheduling attempt p50 / p99', `${summary.attemptMsP50 ?? '?'} / ${summary.attemptMsP99 ?? '?'} ms`],
        ['binding call p50 / p99', `${summary.bindingMsP50 ?? '?'} / ${summary.bindingMsP99 ?? '?'} ms`],
        ['queued → bound p50 / p99', `${summary.e2eMsP50 ?? '?'} / ${summary.e2eMsP99 ?? '?'} ms`],
        ['pods Running (simulated kubelet)', `${running}`],
      ]),
    );
    console.log('');
    console.log(`CPU while scheduling (${wall.toFixed(1)} s wall; 100% = one core):`);
    const ours = cpu.reduce((a, [, s]) => a + s, 0);
    // Whatever else runs on the machine (other test runs, builds) competes for the same cores; a
    // run with much of it is not comparable to a quiet one.
    const rows = [...cpu, ['(everything else on the machine)', Math.max(0, machine - ours)] as [string, number], ['machine total', machine] as [string, number]];
    console.log(formatTable([['process', 'cpu s', 'cpu %'], ...rows.map(([n, s]) => [n, s.toFixed(2), `${((100 * s) / wall).toFixed(0)}%`])]));
  } finally {
    await informer?.stop();
    for (const c of conns) await c.close().catch(() => undefined);
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    client.close();
    await api.stop();
    await nats.stop();
    await etcd.stop();
    // KUBEMU_KEEP_TEST_DIRS=1 keeps the processes' logs (the harness then leaves every folder).
    if (process.env.KUBEMU_KEEP_TEST_DIRS) console.log(`logs kept in ${dir}`);
    removeTempDir(dir);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
