/**
 * The checks of a robustness run: pure functions of the recorded history and the final state,
 * each returning what it checked and every violation found. They are written to have no false
 * positives under faults: an indeterminate write may or may not have been applied, a container
 * counts as running only between samples that showed it running, and so on.
 */
import { KindMap } from '../../../services/lib/resources';
import { WriteRecord } from './load';
import { ContainerSighting, PodHistory, SameAnswerOverlap } from './recorder';

export interface CheckResult {
  name: string;
  ok: boolean;
  /** One line: what was checked, how much of it. */
  summary: string;
  violations: string[];
}

/** The final value of a register: null when the object is absent. */
export interface FinalValue {
  value: string | null;
  rv?: string;
}

/** One resource's informer cache compared with a fresh list. */
export interface InformerComparison {
  resource: string;
  listed: number;
  cached: number;
  /** Keys listed but not cached, cached but not listed, and cached at another resourceVersion. */
  missing: string[];
  extra: string[];
  stale: string[];
}

export interface CheckInput {
  namespace: string;
  writes: WriteRecord[];
  /** Registers' values before any write (absent: the object did not exist). */
  initial: Map<string, string>;
  final: Map<string, FinalValue>;
  deployments: KindMap['deployment'][];
  replicaSets: KindMap['replicaSet'][];
  statefulSets: KindMap['statefulSet'][];
  /** The namespace's pods at the end. */
  pods: KindMap['pod'][];
  podHistory: PodHistory[];
  sightings: ContainerSighting[];
  overlaps: SameAnswerOverlap[];
  informers: InformerComparison[];
}

const limit = (v: string[], n = 50) => (v.length > n ? [...v.slice(0, n), `... and ${v.length - n} more`] : v);

function result(name: string, summary: string, violations: string[]): CheckResult {
  return { name, ok: violations.length === 0, summary, violations: limit(violations) };
}

const show = (v: string | null | undefined) => (v === null || v === undefined ? '(absent)' : JSON.stringify(v));

/**
 * Every register's final value is its last acknowledged value, or the value of an indeterminate
 * (failed) write issued after it; with no acknowledged write, its initial value or an
 * indeterminate write's. After an acknowledged delete, also an indeterminate create issued
 * before it, applied late (at a newer resourceVersion). For registers whose values are unique (ConfigMaps), a final value equal
 * to the last acknowledged one must also carry its resourceVersion. Split into two results:
 * writes kept, and acknowledged deletes that stayed deleted.
 */
export function checkWrites(input: Pick<CheckInput, 'writes' | 'initial' | 'final'>): CheckResult[] {
  const byRegister = new Map<string, WriteRecord[]>();
  for (const w of input.writes) {
    if (!byRegister.has(w.register)) byRegister.set(w.register, []);
    byRegister.get(w.register)!.push(w);
  }
  const lost: string[] = [];
  const resurrected: string[] = [];
  let acked = 0;
  let ackedDeletes = 0;
  for (const [register, ws] of byRegister) {
    ws.sort((a, b) => a.start - b.start || a.id - b.id);
    let lastAck = -1;
    ws.forEach((w, i) => {
      if (w.outcome === 'ok') lastAck = i;
    });
    const final = input.final.get(register) ?? { value: null };
    const base: string | null = lastAck >= 0 ? ws[lastAck].value : (input.initial.get(register) ?? null);
    const later = ws.slice(lastAck + 1).filter((w) => w.outcome !== 'ok');
    const allowed = new Set<string | null>([base, ...later.map((w) => w.value)]);
    // A create's only precondition is that the object is absent, and an acknowledged delete
    // makes it absent again: an indeterminate create issued before that delete (held by a frozen
    // apiserver or etcd member) can still be applied after it, as in Kubernetes. Its value is
    // then allowed, but only at a resourceVersion newer than every acknowledged write's.
    const mayBeAbsent = lastAck >= 0 && (ws[lastAck].op === 'delete' || later.some((w) => w.op === 'delete'));
    const newest = Math.max(0, ...ws.filter((w) => w.outcome === 'ok' && w.rv).map((w) => Number(w.rv)));
    const lateCreates = mayBeAbsent ? ws.slice(0, lastAck).filter((w) => w.outcome === 'failed' && w.op === 'create') : [];
    if (lateCreates.some((w) => w.value === final.value) && final.rv && Number(final.rv) > newest) allowed.add(final.value);
    if (lastAck >= 0) {
      acked++;
      if (ws[lastAck].op === 'delete') ackedDeletes++;
    }
    const uniqueValues = register.startsWith('configmaps/');
    if (!allowed.has(final.value)) {
      const last = lastAck >= 0 ? ws[lastAck] : undefined;
      const what =
        `${register}: final ${show(final.value)}${final.rv ? ` (rv ${final.rv})` : ''}, but the last acknowledged write was ` +
        (last ? `${last.op} ${show(last.value)} (write ${last.id}, rv ${last.rv ?? '-'}, acknowledged at ${new Date(last.end!).toISOString()})` : `none (initial ${show(base)})`) +
        (later.length ? `; indeterminate writes after it: ${later.map((w) => `${w.op} ${show(w.value)}`).join(', ')}` : '') +
        (lateCreates.length ? `; indeterminate creates before it: ${lateCreates.map((w) => show(w.value)).join(', ')} (newest acknowledged rv ${newest})` : '');
      if (last?.op === 'delete') resurrected.push(what);
      else lost.push(what);
    } else if (uniqueValues && lastAck >= 0 && final.value !== null && final.value === base && ws[lastAck].rv && final.rv && final.rv !== ws[lastAck].rv) {
      lost.push(`${register}: final value ${show(final.value)} at rv ${final.rv}, but it was acknowledged at rv ${ws[lastAck].rv}`);
    }
  }
  return [
    result('acknowledged writes are there', `${byRegister.size} registers, ${acked} with an acknowledged last write`, lost),
    result('acknowledged deletes stay deleted', `${ackedDeletes} registers whose last acknowledged write was a delete`, resurrected),
  ];
}

/**
 * resourceVersions respect real time: a write acknowledged before another was issued has the
 * smaller resourceVersion (the apiserver's writes are linearizable, as etcd's are). Updates
 * that changed nothing (no write, the old resourceVersion answered) are left out.
 */
export function checkRevisionOrder(writes: WriteRecord[]): CheckResult {
  const acked = writes.filter((w) => w.outcome === 'ok' && w.rv && w.end !== undefined && !w.noop);
  // One record per (write call): registers written by one update share it.
  const calls = [...new Map(acked.map((w) => [`${w.worker}/${w.start}/${w.rv}`, w])).values()];
  const byEnd = [...calls].sort((a, b) => a.end! - b.end!);
  const byStart = [...calls].sort((a, b) => a.start - b.start);
  const violations: string[] = [];
  let i = 0;
  let maxRv = 0;
  let maxW: WriteRecord | undefined;
  for (const b of byStart) {
    while (i < byEnd.length && byEnd[i].end! < b.start) {
      const rv = Number(byEnd[i].rv);
      if (rv > maxRv) {
        maxRv = rv;
        maxW = byEnd[i];
      }
      i++;
    }
    if (maxW && Number(b.rv) <= maxRv) {
      violations.push(`write ${b.id} (${b.register}) issued at ${new Date(b.start).toISOString()} got rv ${b.rv}, not above rv ${maxRv} of write ${maxW.id} (${maxW.register}) acknowledged before it`);
    }
  }
  return result('resourceVersions follow real time', `${calls.length} acknowledged write calls`, violations);
}

const ownedBy = (o: { metadata?: { ownerReferences?: Array<{ uid?: string }> } }, uid: string | undefined) => !!uid && (o.metadata?.ownerReferences ?? []).some((r) => r.uid === uid);
const isReady = (p: KindMap['pod']) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** Why a Deployment has not converged, or undefined when it has. */
export function deploymentProblem(d: KindMap['deployment'], replicaSets: KindMap['replicaSet'][]): string | undefined {
  const name = d.metadata?.name;
  const want = d.spec?.replicas ?? 1;
  const s = d.status ?? {};
  const gen = Number(d.metadata?.generation ?? 0);
  if (Number(s.observedGeneration ?? 0) < gen) return `deployment ${name}: observedGeneration ${s.observedGeneration ?? 0} < generation ${gen}`;
  const counts = { replicas: s.replicas ?? 0, updatedReplicas: s.updatedReplicas ?? 0, readyReplicas: s.readyReplicas ?? 0, availableReplicas: s.availableReplicas ?? 0 };
  const off = Object.entries(counts).filter(([, v]) => v !== want);
  if (off.length) return `deployment ${name}: spec.replicas ${want} but ${off.map(([k, v]) => `${k} ${v}`).join(', ')}`;
  const active = replicaSets.filter((rs) => ownedBy(rs, d.metadata?.uid) && ((rs.spec?.replicas ?? 0) > 0 || (rs.status?.replicas ?? 0) > 0));
  if (active.length !== 1) return `deployment ${name}: ${active.length} active ReplicaSets (${active.map((rs) => `${rs.metadata?.name} spec ${rs.spec?.replicas} status ${rs.status?.replicas ?? 0}`).join(', ')})`;
  return undefined;
}

/** Why a StatefulSet has not converged, or undefined when it has. */
export function statefulSetProblem(sts: KindMap['statefulSet'], pods: KindMap['pod'][]): string | undefined {
  const name = sts.metadata?.name ?? '';
  const want = sts.spec?.replicas ?? 1;
  const s = sts.status ?? {};
  const gen = Number(sts.metadata?.generation ?? 0);
  if (Number(s.observedGeneration ?? 0) < gen) return `statefulset ${name}: observedGeneration ${s.observedGeneration ?? 0} < generation ${gen}`;
  if ((s.replicas ?? 0) !== want || (s.readyReplicas ?? 0) !== want) return `statefulset ${name}: spec.replicas ${want} but replicas ${s.replicas ?? 0}, readyReplicas ${s.readyReplicas ?? 0}`;
  const mine = pods.filter((p) => ownedBy(p, sts.metadata?.uid));
  for (let i = 0; i < want; i++) {
    const p = mine.find((x) => x.metadata?.name === `${name}-${i}`);
    if (!p) return `statefulset ${name}: pod ${name}-${i} missing`;
    if (p.metadata?.deletionTimestamp || p.status?.phase !== 'Running' || !isReady(p)) return `statefulset ${name}: pod ${name}-${i} is ${p.metadata?.deletionTimestamp ? 'terminating' : (p.status?.phase ?? 'without phase')}${isReady(p) ? '' : ', not Ready'}`;
  }
  const extra = mine.filter((p) => Number(/-(\d+)$/.exec(p.metadata?.name ?? '')?.[1] ?? -1) >= want);
  if (extra.length) return `statefulset ${name}: pods beyond ordinal ${want - 1}: ${extra.map((p) => p.metadata?.name).join(', ')}`;
  return undefined;
}

export function checkConvergence(input: Pick<CheckInput, 'deployments' | 'replicaSets' | 'statefulSets' | 'pods'>): CheckResult[] {
  const dep = input.deployments.map((d) => deploymentProblem(d, input.replicaSets)).filter((x): x is string => !!x);
  const sts = input.statefulSets.map((s) => statefulSetProblem(s, input.pods)).filter((x): x is string => !!x);
  return [
    result('every Deployment converged', `${input.deployments.length} Deployments: observedGeneration, replicas = updated = ready = available = spec, one active ReplicaSet`, dep),
    result('the StatefulSet converged', `${input.statefulSets.length} StatefulSets: replicas = ready = spec, ordinals 0..n-1 Running and Ready, none beyond`, sts),
  ];
}

/** No pod uid ever had two nodeNames (the informer's history and the final list). */
export function checkBindings(history: PodHistory[], pods: KindMap['pod'][]): CheckResult {
  const violations: string[] = [];
  const byUid = new Map(history.map((h) => [h.uid, h]));
  for (const h of history) {
    const nodes = [...new Set(h.nodes.map((n) => n.node))];
    if (nodes.length > 1) violations.push(`pod ${h.namespace}/${h.name} uid ${h.uid} was bound to ${h.nodes.map((n) => `${n.node} (rv ${n.rv})`).join(', then ')}`);
  }
  for (const p of pods) {
    const h = byUid.get(p.metadata?.uid ?? '');
    const node = p.spec?.nodeName;
    if (h && node && h.nodes.length && !h.nodes.some((n) => n.node === node)) violations.push(`pod ${p.metadata?.namespace}/${p.metadata?.name} is bound to ${node} at the end, the informer saw only ${h.nodes.map((n) => n.node).join(', ')}`);
  }
  return result('no pod bound to two nodes', `${history.length} pod uids followed`, violations);
}

/** The interval a sighting was certainly running in: from the end of its first sample to the start of its last. */
function certainly(s: ContainerSighting): [number, number] {
  return [s.first[1], s.last[0]];
}

/**
 * From the runtimes' answers: no pod uid had containers running on two nodes, and none ran on a
 * node it was not bound to.
 */
export function checkRunningPlacement(sightings: ContainerSighting[], history: PodHistory[]): CheckResult[] {
  const byUid = new Map<string, ContainerSighting[]>();
  for (const s of sightings) {
    if (!byUid.has(s.podUid)) byUid.set(s.podUid, []);
    byUid.get(s.podUid)!.push(s);
  }
  const twoNodes: string[] = [];
  const elsewhere: string[] = [];
  const bound = new Map(history.map((h) => [h.uid, h]));
  for (const [uid, ss] of byUid) {
    const nodes = [...new Set(ss.map((s) => s.node))];
    if (nodes.length > 1) {
      twoNodes.push(`pod ${ss[0].podNamespace}/${ss[0].podName} uid ${uid} ran on ${ss.map((s) => `${s.node} (container ${s.container} ${s.containerId.slice(0, 12)} seen ${new Date(s.first[0]).toISOString()}..${new Date(s.last[1]).toISOString()})`).join(' and ')}`);
    }
    const h = bound.get(uid);
    if (h && h.nodes.length) {
      for (const s of ss) {
        if (!h.nodes.some((n) => n.node === s.node)) elsewhere.push(`pod ${s.podNamespace}/${s.podName} uid ${uid} bound to ${h.nodes.map((n) => n.node).join(', ')} ran on ${s.node}`);
      }
    }
  }
  return [
    result('no pod running on two nodes', `${byUid.size} pod uids seen running in ${sightings.length} containers`, twoNodes),
    result('pods run only on their node', `${byUid.size} pod uids seen running`, elsewhere),
  ];
}

/**
 * No StatefulSet ordinal ran twice at once: two uids of one pod name were never both running in
 * one runtime answer, nor (across nodes) in overlapping intervals where each was certainly running.
 */
export function checkOrdinals(namespace: string, statefulSetNames: string[], sightings: ContainerSighting[], overlaps: SameAnswerOverlap[]): CheckResult {
  const isOrdinal = (ns: string, name: string) => ns === namespace && statefulSetNames.some((s) => new RegExp(`^${s}-\\d+$`).test(name));
  const violations: string[] = [];
  for (const o of overlaps) {
    if (isOrdinal(o.podNamespace, o.podName)) violations.push(`${o.podNamespace}/${o.podName}: uids ${o.uids.join(' and ')} both running on ${o.node} at ${new Date(o.at).toISOString()}`);
  }
  const byName = new Map<string, ContainerSighting[]>();
  for (const s of sightings) {
    if (!isOrdinal(s.podNamespace, s.podName)) continue;
    const k = `${s.podNamespace}/${s.podName}`;
    if (!byName.has(k)) byName.set(k, []);
    byName.get(k)!.push(s);
  }
  let pairs = 0;
  for (const [name, ss] of byName) {
    for (let i = 0; i < ss.length; i++) {
      for (let j = i + 1; j < ss.length; j++) {
        const a = ss[i];
        const b = ss[j];
        if (a.podUid === b.podUid) continue;
        pairs++;
        const [a0, a1] = certainly(a);
        const [b0, b1] = certainly(b);
        const from = Math.max(a0, b0);
        const to = Math.min(a1, b1);
        if (to > from) {
          violations.push(`${name}: uid ${a.podUid} on ${a.node} and uid ${b.podUid} on ${b.node} both running from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}`);
        }
      }
    }
  }
  return result('no StatefulSet ordinal running twice at once', `${byName.size} ordinals seen running, ${pairs} pairs of incarnations compared`, violations);
}

/** A pod that reached Succeeded or Failed never went back to Pending or Running. */
export function checkPhases(history: PodHistory[]): CheckResult {
  const violations: string[] = [];
  for (const h of history) {
    const i = h.phases.findIndex((p) => p.phase === 'Succeeded' || p.phase === 'Failed');
    if (i >= 0 && h.phases.slice(i + 1).some((p) => p.phase === 'Running' || p.phase === 'Pending')) {
      violations.push(`pod ${h.namespace}/${h.name} uid ${h.uid}: phases ${h.phases.map((p) => `${p.phase}@${p.rv}`).join(' → ')}`);
    }
  }
  return result('terminal pod phases stay terminal', `${history.length} pod uids`, violations);
}

export function checkInformers(comparisons: InformerComparison[]): CheckResult {
  const violations: string[] = [];
  for (const c of comparisons) {
    if (c.missing.length) violations.push(`${c.resource}: listed but not in the informer's cache: ${limit(c.missing, 10).join(', ')}`);
    if (c.extra.length) violations.push(`${c.resource}: in the informer's cache but not listed: ${limit(c.extra, 10).join(', ')}`);
    if (c.stale.length) violations.push(`${c.resource}: cached at another resourceVersion: ${limit(c.stale, 10).join(', ')}`);
  }
  return result('informer and kubelet caches equal etcd', comparisons.map((c) => `${c.resource} ${c.listed}`).join(', ') + ' objects listed', violations);
}

/** Every check, in the order the report prints them. */
export function runChecks(input: CheckInput, statefulSetNames: string[]): CheckResult[] {
  return [
    ...checkWrites(input),
    checkRevisionOrder(input.writes),
    ...checkConvergence(input),
    checkBindings(input.podHistory, input.pods),
    ...checkRunningPlacement(input.sightings, input.podHistory),
    checkOrdinals(input.namespace, statefulSetNames, input.sightings, input.overlaps),
    checkPhases(input.podHistory),
    checkInformers(input.informers),
  ];
}

/** Compares an informer's cache (key → resourceVersion) with a list. */
export function compareCache(resource: string, cache: Map<string, string>, listed: Map<string, string>): InformerComparison {
  const missing: string[] = [];
  const stale: string[] = [];
  for (const [k, rv] of listed) {
    const c = cache.get(k);
    if (c === undefined) missing.push(k);
    else if (c !== rv) stale.push(`${k} (cache ${c}, etcd ${rv})`);
  }
  const extra = [...cache.keys()].filter((k) => !listed.has(k));
  return { resource, listed: listed.size, cached: cache.size, missing, extra, stale };
}
