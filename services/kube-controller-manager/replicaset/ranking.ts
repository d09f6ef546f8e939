/**
 * Which pods a ReplicaSet deletes first when it scales down: Kubernetes' ActivePodsWithRanks
 * ordering (pkg/controller/controller_utils.go) with the PodDeletionCost and LogarithmicScaleDown
 * features on, as they are by default since 1.22.
 */
import { Pod } from '../../lib/generated/kubemu/core/v1/core';
import { isPodActive, isPodReady } from '../podutil';

/** The annotation that lets a user say which pods are cheaper to delete (lower goes first). */
export const POD_DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';

const PHASE_ORDINAL: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/** Milliseconds since the epoch of an RFC 3339 time, 0 (Go's zero time) when absent or unparsable. */
function timeOf(s: string | undefined): number {
  if (!s) return 0;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : 0;
}

/** The Ready condition's lastTransitionTime of a ready pod, else 0. */
function podReadyTime(pod: Pod): number {
  if (!isPodReady(pod)) return 0;
  const c = (pod.status?.conditions ?? []).find((x) => x.type === 'Ready' && x.status === 'True');
  return timeOf(c?.lastTransitionTime);
}

/** The pod-deletion-cost annotation as an int32; 0 when missing or invalid (as GetDeletionCostFromPodAnnotations). */
export function deletionCost(pod: Pod): number {
  const v = pod.metadata?.annotations?.[POD_DELETION_COST_ANNOTATION];
  if (v === undefined || !/^[+-]?\d+$/.test(v.trim())) return 0;
  const n = Number(v.trim());
  return n >= -2147483648 && n <= 2147483647 ? n : 0;
}

function maxContainerRestarts(pod: Pod): number {
  return Math.max(0, ...(pod.status?.containerStatuses ?? []).map((c) => c.restartCount ?? 0));
}

/** t1 after t2, a zero time counting as after any other (afterOrZero). */
function afterOrZero(t1: number, t2: number): boolean {
  if (t1 === 0 || t2 === 0) return t1 === 0;
  return t1 > t2;
}

/** floor(log2(age in ns)) of t1 minus that of t2, -1 for a non-positive age (logarithmicRankDiff). */
export function logarithmicRankDiff(t1: number, t2: number, now: number): number {
  const rank = (t: number) => {
    const d = (now - t) * 1e6;
    return d > 0 ? Math.floor(Math.log2(d)) : -1;
  };
  return rank(t1) - rank(t2);
}

function uidLess(a: Pod, b: Pod): boolean {
  return (a.metadata?.uid ?? '') < (b.metadata?.uid ?? '');
}

/** Compares two timestamps the logarithmic way: true when `a`'s time makes it the one to delete first. */
function newerFirst(a: Pod, b: Pod, ta: number, tb: number, now: number): boolean {
  if (now === 0 || ta === 0 || tb === 0) return afterOrZero(ta, tb);
  const diff = logarithmicRankDiff(ta, tb, now);
  if (diff === 0) return uidLess(a, b);
  return diff < 0;
}

/**
 * ActivePodsWithRanks.Less: true when pod `a` (with rank `ra`, the number of related active pods
 * on its node) should be deleted before pod `b`. Order: unscheduled < scheduled; Pending <
 * Unknown < Running; not ready < ready; lower deletion cost < higher; more pods of the same
 * owner family on the node < fewer; ready for less time < longer (log2 buckets); more restarts <
 * fewer; newer < older (log2 buckets, then uid). Pure.
 */
export function podDeletesBefore(a: Pod, ra: number, b: Pod, rb: number, now: number): boolean {
  const na = a.spec?.nodeName ?? '';
  const nb = b.spec?.nodeName ?? '';
  // 1. Unassigned < assigned.
  if (na !== nb && (na === '' || nb === '')) return na === '';
  // 2. Pending < Unknown < Running.
  const pa = PHASE_ORDINAL[a.status?.phase ?? ''] ?? 0;
  const pb = PHASE_ORDINAL[b.status?.phase ?? ''] ?? 0;
  if (pa !== pb) return pa < pb;
  // 3. Not ready < ready.
  const readyA = isPodReady(a);
  const readyB = isPodReady(b);
  if (readyA !== readyB) return !readyA;
  // 4. Lower pod-deletion-cost < higher.
  const ca = deletionCost(a);
  const cb = deletionCost(b);
  if (ca !== cb) return ca < cb;
  // 5. Doubled up < not doubled up.
  if (ra !== rb) return ra > rb;
  // 6. Been ready for empty time < less time < more time.
  if (readyA && readyB) {
    const ta = podReadyTime(a);
    const tb = podReadyTime(b);
    if (ta !== tb) return newerFirst(a, b, ta, tb, now);
  }
  // 7. Higher restart counts < lower.
  const xa = maxContainerRestarts(a);
  const xb = maxContainerRestarts(b);
  if (xa !== xb) return xa > xb;
  // 8. Empty creation time < newer < older.
  const cta = timeOf(a.metadata?.creationTimestamp);
  const ctb = timeOf(b.metadata?.creationTimestamp);
  if (cta !== ctb) return newerFirst(a, b, cta, ctb, now);
  return false;
}

/**
 * The `diff` pods of `filteredPods` to delete first (getPodsToDelete): ranked by how many active
 * pods of `relatedPods` (the pods of every ReplicaSet of the same owner) share their node, then by
 * podDeletesBefore. Returns a new array; inputs are not changed. Pure.
 */
export function podsToDelete(filteredPods: Pod[], relatedPods: Pod[], diff: number, now: number): Pod[] {
  if (diff >= filteredPods.length) return [...filteredPods];
  const onNode = new Map<string, number>();
  for (const p of relatedPods) {
    if (!isPodActive(p)) continue;
    const n = p.spec?.nodeName ?? '';
    onNode.set(n, (onNode.get(n) ?? 0) + 1);
  }
  const ranked = filteredPods.map((pod) => ({ pod, rank: onNode.get(pod.spec?.nodeName ?? '') ?? 0 }));
  ranked.sort((x, y) => (podDeletesBefore(x.pod, x.rank, y.pod, y.rank, now) ? -1 : podDeletesBefore(y.pod, y.rank, x.pod, x.rank, now) ? 1 : 0));
  return ranked.slice(0, diff).map((r) => r.pod);
}
