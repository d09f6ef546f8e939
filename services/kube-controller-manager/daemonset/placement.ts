/**
 * Where a DaemonSet's pods belong (pkg/controller/daemon: NodeShouldRunDaemonPod, predicates;
 * pkg/controller/daemon/util: AddOrUpdateDaemonPodTolerations, ReplaceDaemonSetPodNodeNameNodeAffinity,
 * GetTargetNodeName) and the rolling-update arithmetic, as pure functions.
 */
import { DaemonSet } from '../../lib/generated/kubemu/apps/v1/apps';
import { Affinity, Node, Pod, PodSpec, Taint, Toleration } from '../../lib/generated/kubemu/core/v1/core';
import { podMatchesNodeSelectorAndAffinityTerms } from '../../kube-scheduler/framework/plugins/nodeaffinity';
import { tolerationsTolerateTaint } from '../../kube-scheduler/framework/plugins/tainttoleration';
import { canonicalJson, fnv32a, safeEncodeString } from '../statefulset/identity';

/** The label a DaemonSet pod carries with its template's hash (apps.DefaultDaemonSetUniqueLabelKey). */
export const REVISION_LABEL = 'controller-revision-hash';
/** The deprecated label with the DaemonSet's generation at the pod's creation (still set by Kubernetes). */
export const TEMPLATE_GENERATION_LABEL = 'pod-template-generation';

/**
 * The tolerations every DaemonSet pod gets (AddOrUpdateDaemonPodTolerations): a daemon keeps
 * running on a not-ready or unreachable node and is placed on nodes under pressure or cordoned;
 * host-network pods also tolerate network-unavailable.
 */
export function daemonPodTolerations(hostNetwork: boolean): Toleration[] {
  const t: Toleration[] = [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
  ];
  if (hostNetwork) t.push({ key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' });
  return t;
}

const sameToleration = (a: Toleration, b: Toleration): boolean =>
  (a.key ?? '') === (b.key ?? '') && (a.operator || 'Equal') === (b.operator || 'Equal') && (a.value ?? '') === (b.value ?? '') && (a.effect ?? '') === (b.effect ?? '');

/** The template's tolerations plus the daemon defaults it does not already carry (a copy). */
export function withDaemonTolerations(spec: PodSpec | undefined): Toleration[] {
  const out = [...(spec?.tolerations ?? []).map((t) => ({ ...t }))];
  for (const t of daemonPodTolerations(!!spec?.hostNetwork)) if (!out.some((o) => sameToleration(o, t))) out.push(t);
  return out;
}

/**
 * The affinity of a daemon pod for `nodeName` (ReplaceDaemonSetPodNodeNameNodeAffinity): the
 * required node affinity becomes the single term `metadata.name In [nodeName]` (the scheduler
 * places the pod there), preferred terms and pod (anti-)affinity are kept.
 */
export function affinityForNode(affinity: Affinity | undefined, nodeName: string): Affinity {
  const a: Affinity = JSON.parse(JSON.stringify(affinity ?? {}));
  a.nodeAffinity ??= {};
  a.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = {
    nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }],
  };
  return a;
}

/** The node a daemon pod is for: spec.nodeName, else its required `metadata.name In [one]` term (GetTargetNodeName). */
export function targetNodeName(pod: Pod): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  for (const term of pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []) {
    for (const f of term.matchFields ?? []) {
      if (f.key === 'metadata.name' && f.operator === 'In' && f.values?.length === 1) return f.values[0];
    }
  }
  return undefined;
}

function untolerated(taints: Taint[] | undefined, tolerations: Toleration[], effects: string[]): Taint | undefined {
  return (taints ?? []).find((t) => effects.includes(t.effect ?? '') && !tolerationsTolerateTaint(tolerations, t));
}

/**
 * NodeShouldRunDaemonPod: shouldRun when the node matches the template's nodeName (if set),
 * nodeSelector and required node affinity, and every NoSchedule/NoExecute taint is tolerated
 * (with the daemon tolerations added); shouldContinueRunning also when only NoSchedule taints are
 * untolerated (a daemon already there stays). Pure.
 */
export function nodeShouldRunDaemonPod(ds: DaemonSet, node: Node): { shouldRun: boolean; shouldContinueRunning: boolean } {
  const spec = ds.spec?.template?.spec;
  const name = node.metadata?.name ?? '';
  if (spec?.nodeName && spec.nodeName !== name) return { shouldRun: false, shouldContinueRunning: false };
  const pod: Pod = { spec: { ...(spec ?? {}), tolerations: withDaemonTolerations(spec) } };
  if (!podMatchesNodeSelectorAndAffinityTerms(pod, node)) return { shouldRun: false, shouldContinueRunning: false };
  const tolerations = pod.spec!.tolerations!;
  if (untolerated(node.spec?.taints, tolerations, ['NoSchedule', 'NoExecute'])) {
    return { shouldRun: false, shouldContinueRunning: !untolerated(node.spec?.taints, tolerations, ['NoExecute']) };
  }
  return { shouldRun: true, shouldContinueRunning: true };
}

/**
 * The hash of a DaemonSet's template (controller.ComputeHash: FNV-32a, SafeEncodeString, the
 * collision count folded in when set), the value of the pods' controller-revision-hash label.
 */
export function templateHash(ds: DaemonSet): string {
  let data = canonicalJson(ds.spec?.template ?? {});
  const collisions = ds.status?.collisionCount ?? 0;
  if (collisions) data += `#${collisions}`;
  return safeEncodeString(String(fnv32a(Buffer.from(data, 'utf8'))));
}

/** Whether a pod is of the DaemonSet's current template (IsPodUpdated: hash label, or the generation label). */
export function isPodUpdated(pod: Pod, hash: string, generation: number | undefined): boolean {
  const labels = pod.metadata?.labels ?? {};
  if (labels[REVISION_LABEL] !== undefined) return labels[REVISION_LABEL] === hash;
  return generation !== undefined && labels[TEMPLATE_GENERATION_LABEL] === String(generation);
}

/** An IntOrString against a total (GetScaledValueFromIntOrPercent); percentages round up when `roundUp`. */
export function scaledValue(v: unknown, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const m = /^(\d+)%$/.exec(v);
    if (m) {
      const x = (Number(m[1]) * total) / 100;
      return roundUp ? Math.ceil(x) : Math.floor(x);
    }
    if (/^\d+$/.test(v)) return Number(v);
  }
  return 0;
}

/**
 * The rolling update's deletions with maxSurge 0 (update.go rollingUpdate): per node that should
 * run the daemon, an updated pod that is not available counts as unavailable, as does a node with
 * no pod or with both an old and a new one; old pods that are not available are replaced at once;
 * old available pods are replaced while fewer than maxUnavailable are unavailable. Returns the
 * pod names to delete. Pure.
 */
export function rollingUpdateDeletions(
  nodes: readonly { old?: { name: string; available: boolean }; updated?: { available: boolean }; many?: boolean }[],
  maxUnavailable: number,
): string[] {
  let numUnavailable = 0;
  const allowed: string[] = [];
  const candidates: string[] = [];
  for (const n of nodes) {
    if (n.many) {
      numUnavailable++;
      continue;
    }
    if ((!n.old && !n.updated) || (n.old && n.updated)) {
      numUnavailable++;
      continue;
    }
    if (n.updated) {
      if (!n.updated.available) numUnavailable++;
      continue;
    }
    const old = n.old!;
    if (!old.available) allowed.push(old.name);
    else if (numUnavailable < maxUnavailable) candidates.push(old.name);
  }
  const remaining = Math.min(Math.max(0, maxUnavailable - numUnavailable), candidates.length);
  return [...allowed, ...candidates.slice(0, remaining)];
}

/** What the surge rolling update knows of one node that should or did run the daemon. */
export interface SurgeNode {
  node: string;
  shouldRun: boolean;
  /** More than one old or more than one new pod: manage's job; counts as surging. */
  many?: boolean;
  old?: { name: string; available: boolean };
  updated?: { available: boolean };
}

/**
 * The rolling update with maxSurge > 0 (update.go rollingUpdate, surge branch): on a node whose
 * new pod is available the old pod is deleted; a node with an unavailable old pod gets its new pod
 * at once (or, if the daemon no longer belongs there, loses the old one); other old nodes get a new
 * pod while fewer than maxSurge nodes are surging. Returns the pods to delete and the nodes to
 * create on. Pure.
 */
export function surgeUpdate(nodes: readonly SurgeNode[], maxSurge: number): { deletePods: string[]; createOn: string[] } {
  const deletePods: string[] = [];
  const allowed: string[] = [];
  const candidates: string[] = [];
  let numSurge = 0;
  for (const n of nodes) {
    if (n.many) {
      numSurge++;
      continue;
    }
    if (!n.old) continue;
    if (!n.updated) {
      if (!n.old.available) {
        if (!n.shouldRun) deletePods.push(n.old.name);
        else allowed.push(n.node);
      } else if (n.shouldRun && numSurge < maxSurge) {
        candidates.push(n.node);
      }
      continue;
    }
    if (!n.updated.available) {
      numSurge++;
      continue;
    }
    deletePods.push(n.old.name);
  }
  const remaining = Math.min(Math.max(0, maxSurge - numSurge), candidates.length);
  return { deletePods, createOn: [...allowed, ...candidates.slice(0, remaining)] };
}
