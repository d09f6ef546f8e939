/**
 * One robustness run against a running cluster: history recorder up, workloads created and
 * converged, then load and random faults for the asked duration, then the faults stop, the
 * cluster settles (bounded waits), the final state is read and every check runs. Returns the
 * summary lines and the check results; writes a report (history JSON, violated checks, fault
 * timeline and seed) on failure, or always when `reportFile` is given.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import { NatsConnection } from 'nats';
import { KubeletServiceClient, RunningPodsResponse } from '../../../services/lib/generated/kubemu/kubelet/v1/kubelet';
import { ApiClient } from '../../../services/lib/apiclient';
import { KindMap, ObjectCase, objectKey, resourceForCase } from '../../../services/lib/resources';
import { Topology } from '../../../services/lib/topology';
import { connectBus } from '../../../services/lib/watchbus';
import { Pm2Client } from '../../../scripts/lib/pm2';
import { etcdLeader } from '../../../scripts/lib/probe';
import { CheckInput, CheckResult, FinalValue, InformerComparison, compareCache, deploymentProblem, runChecks, statefulSetProblem } from './checks';
import { FaultInjector, FaultRecord } from './faults';
import { DEPLOYMENT_NAMES, Load, STATEFULSET_NAME, WriteLog, createWorkloads, initialWorkloadRegisters } from './load';
import { FOLLOWED, HistoryRecorder } from './recorder';
import { Rng } from './rng';

const NAMESPACE = resourceForCase('namespace');

/** How hard a run pushes: the short one for npm test, the long one for the script. */
export interface RunIntensity {
  faultIntervalMs: [number, number];
  freezeSeconds: [number, number];
  /** Chance and length of a kubelet freeze past node grace and pod eviction (0: never). */
  longKubeletFreezeChance: number;
  maxConcurrentFaults: number;
  configMapWorkers: number;
  keysPerWorker: number;
  configMapPauseMs: [number, number];
  workloadPauseMs: [number, number];
  maxReplicas: number;
}

export const SHORT: RunIntensity = {
  faultIntervalMs: [2500, 5000],
  freezeSeconds: [1, 5],
  longKubeletFreezeChance: 0,
  maxConcurrentFaults: 2,
  configMapWorkers: 3,
  keysPerWorker: 6,
  configMapPauseMs: [20, 150],
  workloadPauseMs: [2000, 4000],
  maxReplicas: 3,
};

export const LONG: RunIntensity = {
  faultIntervalMs: [2000, 6000],
  freezeSeconds: [1, 12],
  longKubeletFreezeChance: 0.5,
  maxConcurrentFaults: 3,
  configMapWorkers: 4,
  keysPerWorker: 8,
  configMapPauseMs: [20, 150],
  workloadPauseMs: [2000, 5000],
  maxReplicas: 3,
};

export interface RunOptions {
  topology: Topology;
  seed: number;
  /** How long load and faults run. */
  durationMs: number;
  intensity: RunIntensity;
  /** Bounded wait for the cluster to converge once the faults stopped. */
  settleMs: number;
  namespace: string;
  /** Write the report here, always; otherwise only on failure, into os.tmpdir(). */
  reportFile?: string;
  /** Delete the namespace at the end (a shared cluster). */
  cleanup: boolean;
  out(line: string): void;
}

export interface RunResult {
  ok: boolean;
  checks: CheckResult[];
  faults: FaultRecord[];
  summary: string[];
  reportPath?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function pollUntil(get: () => Promise<boolean>, timeoutMs: number, intervalMs = 1000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await get()) return true;
    } catch {
      // not yet
    }
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

async function listAll<C extends ObjectCase>(client: ApiClient, c: C, namespace = ''): Promise<KindMap[C][]> {
  const info = resourceForCase(c);
  const items: KindMap[C][] = [];
  let cont: string | undefined;
  do {
    const page = await client.list(info, namespace, { limit: 500, continue: cont });
    items.push(...page.items);
    cont = page.continue;
  } while (cont);
  return items;
}

/** Emergency handlers: whatever happens, frozen processes are resumed before this process exits. */
const liveInjectors = new Set<FaultInjector>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const f of liveInjectors) f.resumeAllNow();
  });
}

/** Resumes every process frozen by a run still going (for SIGINT handlers and test teardown). */
export function resumeAllFrozen(): void {
  for (const f of liveInjectors) f.resumeAllNow();
}

export async function runRobustness(opts: RunOptions): Promise<RunResult> {
  const { topology, namespace, out } = opts;
  const t0 = Date.now();
  const rng = new Rng(opts.seed);
  const pm2 = new Pm2Client(path.join(topology.settings.stateDir, 'pm2'));
  await pm2.connect(false);
  const client = new ApiClient(topology.apiservers);
  let nats: NatsConnection | undefined;
  let recorder: HistoryRecorder | undefined;
  let faults: FaultInjector | undefined;
  let load: Load | undefined;
  const log = new WriteLog();
  const durations: Record<string, number> = {};
  try {
    out(`robustness: seed ${opts.seed}, ${secs(opts.durationMs)} of load and faults on ${topology.settings.stateDir} (profile ${topology.settings.profile}), namespace ${namespace}`);
    if (await client.tryGet(NAMESPACE, '', namespace)) {
      await client.delete(NAMESPACE, '', namespace);
      await pollUntil(async () => !(await client.tryGet(NAMESPACE, '', namespace)), 60000, 500);
    }
    await client.create(NAMESPACE, { metadata: { name: namespace } });

    nats = await connectBus(topology.natsServers, 'robustness');
    const runtimes = topology.processes.filter((p) => p.component === 'container-runtime').map((p) => ({ node: p.name.replace(/^container-runtime-/, ''), address: p.address }));
    recorder = new HistoryRecorder({ client, nats, runtimes, sampleMs: 1000, log: out });
    await recorder.start();

    await createWorkloads(client, namespace);
    const setupOk = await pollUntil(async () => (await workloadProblems(client, namespace)).length === 0, 120000);
    if (!setupOk) throw new Error(`the workloads did not converge before any fault: ${(await workloadProblems(client, namespace)).join('; ')}`);
    durations.setup = Date.now() - t0;
    out(`workloads converged after ${secs(durations.setup)}; load and faults for ${secs(opts.durationMs)}`);

    const it = opts.intensity;
    const t = topology.profile.timings;
    const longFreeze = t.nodeMonitorGracePeriodSeconds + t.podEvictionTimeoutSeconds + 15;
    installExitHook();
    faults = new FaultInjector({
      rng: rng.fork(),
      processes: topology.processes.map((p) => ({ name: p.name, component: p.component })),
      pm2List: () => pm2.list(),
      leaseHolder: async (ns, name) => (await client.getLease(ns, name))?.spec?.holderIdentity || undefined,
      etcdLeader: () => etcdLeader(topology.processes.filter((p) => p.component === 'etcd').map((p) => ({ name: p.name, address: p.address }))),
      intervalMs: it.faultIntervalMs,
      freezeSeconds: it.freezeSeconds,
      longKubeletFreezeChance: it.longKubeletFreezeChance,
      // Past node grace and eviction, so that the node's pods are evicted while their containers
      // still run; not in profiles where that takes minutes (k8s: 50 s + 300 s).
      longFreezeSeconds: longFreeze <= 90 ? longFreeze : undefined,
      preferLongFreezeKubelet: async () => {
        const pods = await client.list(resourceForCase('pod'), namespace, { labelSelector: `app=${STATEFULSET_NAME}` });
        const node = pods.items.find((p) => p.spec?.nodeName && !p.metadata?.deletionTimestamp)?.spec?.nodeName;
        return node ? `kubelet-${node}` : undefined;
      },
      maxConcurrent: it.maxConcurrentFaults,
      log: (line) => out(`  ${line}`),
    });
    liveInjectors.add(faults);
    load = new Load({
      client,
      namespace,
      rng: rng.fork(),
      log,
      configMapWorkers: it.configMapWorkers,
      keysPerWorker: it.keysPerWorker,
      configMapPauseMs: it.configMapPauseMs,
      workloadPauseMs: it.workloadPauseMs,
      maxReplicas: it.maxReplicas,
    });
    const loadStart = Date.now();
    load.start();
    faults.start();
    let lastProgress = Date.now();
    while (Date.now() - loadStart < opts.durationMs) {
      await sleep(Math.min(1000, opts.durationMs - (Date.now() - loadStart)));
      if (Date.now() - lastProgress >= 30000) {
        lastProgress = Date.now();
        const c = log.counts();
        out(`  ${secs(Date.now() - loadStart)}: ${faults.faults.length} faults, ${c.issued} writes (${c.acknowledged} acknowledged, ${c.failed} failed)`);
      }
    }
    out('faults stop: resuming frozen processes, waiting for killed ones to be back');
    await faults.stop();
    await load.stop();
    durations.load = Date.now() - loadStart;

    const settleStart = Date.now();
    const allOnline = await pollUntil(async () => (await pm2.list()).every((p) => p.status === 'online' && p.pid > 0), 60000);
    durations.processesOnline = Date.now() - settleStart;
    out(allOnline ? `every process online ${secs(durations.processesOnline)} after the faults stopped` : 'not every process is online 60 s after the faults stopped');
    const converged = await pollUntil(async () => (await workloadProblems(client, namespace)).length === 0, opts.settleMs);
    durations.converged = Date.now() - settleStart;
    out(converged ? `workloads converged ${secs(durations.converged)} after the faults stopped` : `workloads not converged ${secs(opts.settleMs)} after the faults stopped`);

    // The informers against a fresh list, until equal (they may trail a change by a moment).
    let comparisons: InformerComparison[] = [];
    const kubelets = topology.processes.filter((p) => p.component === 'kubelet').map((p) => ({ node: p.name.replace(/^kubelet-/, ''), address: p.address }));
    const equal = await pollUntil(async () => {
      comparisons = [...(await compareInformers(client, recorder!)), ...(await compareKubelets(client, kubelets))];
      return comparisons.every((c) => !c.missing.length && !c.extra.length && !c.stale.length);
    }, 30000, 1000);
    durations.informersEqual = Date.now() - settleStart;
    if (equal) out(`informer and kubelet caches equal a fresh list ${secs(durations.informersEqual)} after the faults stopped`);

    const finalState = await readFinal(client, namespace);
    await sleep(2000); // a last runtime sample of the settled cluster
    await recorder.stop();

    const input: CheckInput = {
      namespace,
      writes: log.writes,
      initial: initialWorkloadRegisters(namespace),
      final: finalState.registers,
      deployments: finalState.deployments,
      replicaSets: finalState.replicaSets,
      statefulSets: finalState.statefulSets,
      pods: finalState.pods,
      podHistory: [...recorder.pods.values()],
      sightings: [...recorder.sightings.values()],
      overlaps: recorder.overlaps,
      informers: comparisons,
    };
    const checks = runChecks(input, [STATEFULSET_NAME]);
    durations.total = Date.now() - t0;
    const ok = checks.every((c) => c.ok) && allOnline;
    const summary = summarize(opts, faults.faults, log, checks, durations, recorder, allOnline);
    let reportPath: string | undefined;
    if (!ok || opts.reportFile) {
      reportPath = opts.reportFile ?? path.join(os.tmpdir(), `kubemu-robustness-${opts.seed}-${new Date(t0).toISOString().replace(/[:.]/g, '-')}.json`);
      const report = {
        seed: opts.seed,
        ok,
        startedAt: new Date(t0).toISOString(),
        profile: topology.settings.profile,
        stateDir: topology.settings.stateDir,
        namespace,
        intensity: opts.intensity,
        durations,
        summary,
        violated: checks.filter((c) => !c.ok),
        checks,
        faults: faults.faults.map((f) => ({ ...f, atIso: new Date(f.at).toISOString(), seconds: f.seconds, endedAtIso: f.endedAt ? new Date(f.endedAt).toISOString() : undefined })),
        history: {
          writes: log.writes,
          final: Object.fromEntries(finalState.registers),
          pods: input.podHistory,
          sightings: input.sightings,
          overlaps: input.overlaps,
          runtimeSamples: Object.fromEntries(recorder.sampleStats),
          informers: comparisons,
        },
      };
      fs.mkdirSync(path.dirname(reportPath), { recursive: true });
      fs.writeFileSync(reportPath, JSON.stringify(report, null, 1));
      summary.push(`report: ${reportPath}`);
    }
    for (const line of summary) out(line);
    return { ok, checks, faults: faults.faults, summary, reportPath };
  } finally {
    if (faults) {
      await faults.stop().catch(() => undefined);
      liveInjectors.delete(faults);
    }
    await load?.stop().catch(() => undefined);
    await recorder?.stop().catch(() => undefined);
    if (opts.cleanup) await client.delete(NAMESPACE, '', namespace).catch(() => undefined);
    await nats?.close().catch(() => undefined);
    client.close();
    await pm2.disconnect().catch(() => undefined);
  }
}

/** What keeps the run's workloads from having converged (empty: converged). */
async function workloadProblems(client: ApiClient, namespace: string): Promise<string[]> {
  const [deployments, replicaSets, statefulSets, pods] = await Promise.all([
    listAll(client, 'deployment', namespace),
    listAll(client, 'replicaSet', namespace),
    listAll(client, 'statefulSet', namespace),
    listAll(client, 'pod', namespace),
  ]);
  const problems = deployments.map((d) => deploymentProblem(d, replicaSets)).concat(statefulSets.map((s) => statefulSetProblem(s, pods)));
  if (deployments.length !== DEPLOYMENT_NAMES.length || statefulSets.length !== 1) problems.push('workloads missing');
  return problems.filter((x): x is string => !!x);
}

async function compareInformers(client: ApiClient, recorder: HistoryRecorder): Promise<InformerComparison[]> {
  const result: InformerComparison[] = [];
  for (const c of FOLLOWED) {
    const listed = new Map((await listAll(client, c)).map((o) => [objectKey(o as never), (o as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion ?? '']));
    const cache = new Map(recorder.informer(c).list().map((o) => [objectKey(o as never), (o as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion ?? '']));
    result.push(compareCache(resourceForCase(c).resource, cache, listed));
  }
  return result;
}

/**
 * Each kubelet's own pod cache (its RunningPods answer, the kubelet's /pods) compared with the
 * pods etcd has bound to its node, by namespace/name/uid. A kubelet that does not answer counts
 * as everything missing.
 */
async function compareKubelets(client: ApiClient, kubelets: Array<{ node: string; address: string }>): Promise<InformerComparison[]> {
  const pods = await listAll(client, 'pod');
  return Promise.all(
    kubelets.map(async ({ node, address }) => {
      const listed = new Map(pods.filter((p) => p.spec?.nodeName === node).map((p) => [`${p.metadata?.namespace}/${p.metadata?.name}/${p.metadata?.uid}`, '']));
      const kc = new KubeletServiceClient(address, grpc.credentials.createInsecure());
      try {
        const res = await new Promise<RunningPodsResponse>((resolve, reject) =>
          kc.runningPods({}, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, r) => (err ? reject(err) : resolve(r))),
        );
        const cache = new Map((res.pods ?? []).map((p) => [`${p.namespace}/${p.name}/${p.uid}`, '']));
        return compareCache(`kubelet-${node} pods`, cache, listed);
      } catch {
        return compareCache(`kubelet-${node} pods (no answer)`, new Map(), listed);
      } finally {
        kc.close();
      }
    }),
  );
}

async function readFinal(client: ApiClient, namespace: string) {
  const [configMaps, deployments, replicaSets, statefulSets, pods] = await Promise.all([
    listAll(client, 'configMap', namespace),
    listAll(client, 'deployment', namespace),
    listAll(client, 'replicaSet', namespace),
    listAll(client, 'statefulSet', namespace),
    listAll(client, 'pod', namespace),
  ]);
  const registers = new Map<string, FinalValue>();
  for (const cm of configMaps) registers.set(`configmaps/${namespace}/${cm.metadata?.name}`, { value: cm.data?.value ?? null, rv: cm.metadata?.resourceVersion });
  for (const d of deployments) {
    const prefix = `deployments/${namespace}/${d.metadata?.name}/`;
    const c = d.spec?.template?.spec?.containers?.[0];
    registers.set(prefix + 'replicas', { value: String(d.spec?.replicas ?? 1), rv: d.metadata?.resourceVersion });
    registers.set(prefix + 'version', { value: c?.env?.find((e) => e.name === 'VERSION')?.value ?? null, rv: d.metadata?.resourceVersion });
    registers.set(prefix + 'image', { value: c?.image ?? null, rv: d.metadata?.resourceVersion });
  }
  for (const s of statefulSets) registers.set(`statefulsets/${namespace}/${s.metadata?.name}/replicas`, { value: String(s.spec?.replicas ?? 1), rv: s.metadata?.resourceVersion });
  return { registers, deployments, replicaSets, statefulSets, pods };
}

function summarize(opts: RunOptions, faults: FaultRecord[], log: WriteLog, checks: CheckResult[], durations: Record<string, number>, recorder: HistoryRecorder, allOnline: boolean): string[] {
  const lines: string[] = [];
  const kills = faults.filter((f) => f.action === 'kill').length;
  const byComponent = new Map<string, number>();
  for (const f of faults) byComponent.set(f.component, (byComponent.get(f.component) ?? 0) + 1);
  lines.push('');
  lines.push(`seed ${opts.seed}`);
  lines.push(`faults injected: ${faults.length} (${kills} SIGKILL, ${faults.length - kills} SIGSTOP/SIGCONT): ${[...byComponent].map(([c, n]) => `${c} ${n}`).join(', ')}`);
  const roles = faults.filter((f) => !f.chosen.startsWith('random'));
  if (roles.length) lines.push(`  of which at a role: ${roles.map((f) => `${f.chosen} → ${f.process}`).join(', ')}`);
  for (const f of faults.filter((x) => x.problem)) lines.push(`  fault ${f.id} problem: ${f.problem}`);
  const c = log.counts();
  lines.push(`operations: ${c.issued} register writes issued, ${c.acknowledged} acknowledged, ${c.failed} failed (indeterminate), ${c.inFlight} in flight`);
  const byKind = new Map<string, { ok: number; failed: number }>();
  for (const w of log.writes) {
    const kind = `${w.register.split('/')[0]} ${w.op}`;
    const k = byKind.get(kind) ?? { ok: 0, failed: 0 };
    if (w.outcome === 'ok') k.ok++;
    else k.failed++;
    byKind.set(kind, k);
  }
  lines.push(`  ${[...byKind].map(([k, v]) => `${k}: ${v.ok} ok / ${v.failed} failed`).join('; ')}`);
  const samples = [...recorder.sampleStats].map(([n, s]) => `${n} ${s.ok} ok / ${s.failed} failed`).join(', ');
  lines.push(`history: ${recorder.pods.size} pod uids followed, ${recorder.sightings.size} running containers seen; runtime samples: ${samples}`);
  lines.push(`durations: setup ${secs(durations.setup ?? 0)}, load ${secs(durations.load ?? 0)}, all processes online after ${secs(durations.processesOnline ?? 0)}, converged after ${secs(durations.converged ?? 0)}, total ${secs(durations.total ?? 0)}`);
  if (!allOnline) lines.push('FAIL: not every process was online 60 s after the faults stopped');
  for (const ch of checks) {
    lines.push(`${ch.ok ? 'PASS' : 'FAIL'}: ${ch.name} (${ch.summary})`);
    for (const v of ch.violations.slice(0, 10)) lines.push(`    - ${v}`);
    if (ch.violations.length > 10) lines.push(`    ... ${ch.violations.length - 10} more in the report`);
  }
  return lines;
}
