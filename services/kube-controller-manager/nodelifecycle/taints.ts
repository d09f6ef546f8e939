/**
 * Taints and tolerations as the node lifecycle and taint-eviction controllers use them
 * (k8s.io/api/core/v1 toleration.go, pkg/controller/tainteviction, nodelifecycle's
 * nodeConditionToTaintKeyStatusMap). Everything here is pure.
 */
import { Node, Pod, Taint, Toleration } from '../../lib/generated/kubemu/core/v1/core';

export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';
export const TAINT_MEMORY_PRESSURE = 'node.kubernetes.io/memory-pressure';
export const TAINT_DISK_PRESSURE = 'node.kubernetes.io/disk-pressure';
export const TAINT_PID_PRESSURE = 'node.kubernetes.io/pid-pressure';
export const TAINT_NETWORK_UNAVAILABLE = 'node.kubernetes.io/network-unavailable';

/** The NoSchedule taints the node lifecycle controller owns (taintKeyToNodeConditionMap plus unschedulable). */
export const NO_SCHEDULE_KEYS = [TAINT_NOT_READY, TAINT_UNREACHABLE, TAINT_UNSCHEDULABLE, TAINT_MEMORY_PRESSURE, TAINT_DISK_PRESSURE, TAINT_PID_PRESSURE, TAINT_NETWORK_UNAVAILABLE];
/** The NoExecute taints the node lifecycle controller owns. */
export const NO_EXECUTE_KEYS = [TAINT_NOT_READY, TAINT_UNREACHABLE];

/**
 * Whether `t` tolerates `taint` (Toleration.ToleratesTaint): effects match (an empty toleration
 * effect matches all), keys match (an empty key with Exists matches all), and the operator holds
 * (Exists: any value; Equal or empty: same value).
 */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  switch (t.operator || 'Equal') {
    case 'Exists':
      return true;
    case 'Equal':
      return (t.value ?? '') === (taint.value ?? '');
    default:
      return false;
  }
}

/**
 * The tolerations matching `taints` (GetMatchingTolerations): undefined when some taint is not
 * tolerated, else for each taint the first toleration tolerating it.
 */
export function matchingTolerations(taints: Taint[], tolerations: Toleration[]): Toleration[] | undefined {
  const out: Toleration[] = [];
  for (const taint of taints) {
    const t = tolerations.find((x) => toleratesTaint(x, taint));
    if (!t) return undefined;
    out.push(t);
  }
  return out;
}

/**
 * How long a pod may stay given the tolerations matching its node's NoExecute taints
 * (getMinTolerationTime): the smallest tolerationSeconds (negative counts as 0); Infinity when
 * none sets one (tolerated forever); 0 for no tolerations.
 */
export function minTolerationSeconds(tolerations: Toleration[]): number {
  if (tolerations.length === 0) return 0;
  let min = Infinity;
  for (const t of tolerations) {
    if (t.tolerationSeconds === undefined || t.tolerationSeconds === null) continue;
    min = Math.min(min, Math.max(0, Number(t.tolerationSeconds)));
  }
  return min;
}

export type EvictionDecision =
  | { action: 'keep' }
  | { action: 'evictNow' }
  | { action: 'evictAt'; at: number };

/**
 * What the taint-eviction controller does with `pod` on a node with `noExecuteTaints`
 * (processPodOnNode): keep it when there is no such taint or its tolerations last forever, evict at
 * once when one taint is not tolerated, else evict at `since` + the smallest tolerationSeconds,
 * `since` being when the pod was first found under these taints.
 */
export function evictionDecision(pod: Pod, noExecuteTaints: Taint[], since: number): EvictionDecision {
  if (noExecuteTaints.length === 0) return { action: 'keep' };
  const matching = matchingTolerations(noExecuteTaints, pod.spec?.tolerations ?? []);
  if (!matching) return { action: 'evictNow' };
  const seconds = minTolerationSeconds(matching);
  if (seconds === Infinity) return { action: 'keep' };
  if (seconds <= 0) return { action: 'evictNow' };
  return { action: 'evictAt', at: since + seconds * 1000 };
}

/** The node's taints with effect NoExecute. */
export function noExecuteTaints(node: Node | undefined): Taint[] {
  return (node?.spec?.taints ?? []).filter((t) => t.effect === 'NoExecute');
}

function condition(node: Node, type: string): string | undefined {
  return node.status?.conditions?.find((c) => c.type === type)?.status;
}

/**
 * The NoSchedule taints a node should carry (doNoScheduleTaintingPass): not-ready for Ready False,
 * unreachable for Ready Unknown, the pressure taints for MemoryPressure / DiskPressure /
 * PIDPressure True, network-unavailable for NetworkUnavailable True, unschedulable for a cordoned
 * node.
 */
export function desiredNoScheduleKeys(node: Node): string[] {
  const keys: string[] = [];
  const ready = condition(node, 'Ready');
  if (ready === 'False') keys.push(TAINT_NOT_READY);
  if (ready === 'Unknown') keys.push(TAINT_UNREACHABLE);
  if (condition(node, 'MemoryPressure') === 'True') keys.push(TAINT_MEMORY_PRESSURE);
  if (condition(node, 'DiskPressure') === 'True') keys.push(TAINT_DISK_PRESSURE);
  if (condition(node, 'PIDPressure') === 'True') keys.push(TAINT_PID_PRESSURE);
  if (condition(node, 'NetworkUnavailable') === 'True') keys.push(TAINT_NETWORK_UNAVAILABLE);
  if (node.spec?.unschedulable) keys.push(TAINT_UNSCHEDULABLE);
  return keys;
}

/**
 * `taints` with the controller-owned taints of `effect` among `ownedKeys` made exactly `wanted`
 * (others' taints untouched; a kept taint keeps its timeAdded, a new one gets `now`'s). Undefined
 * when nothing changes.
 */
export function reconcileTaints(taints: Taint[], effect: string, ownedKeys: string[], wanted: string[], now: string): Taint[] | undefined {
  const has = (k: string) => taints.some((t) => t.key === k && t.effect === effect);
  const toRemove = taints.filter((t) => t.effect === effect && ownedKeys.includes(t.key ?? '') && !wanted.includes(t.key ?? ''));
  const toAdd = wanted.filter((k) => !has(k));
  if (toRemove.length === 0 && toAdd.length === 0) return undefined;
  return [...taints.filter((t) => !toRemove.includes(t)), ...toAdd.map((key) => ({ key, value: '', effect, timeAdded: now }))];
}

/** Zone states as the node lifecycle controller computes them (ComputeZoneState). */
export type ZoneState = 'Normal' | 'FullDisruption' | 'PartialDisruption';

/**
 * A zone's state from its nodes' Ready conditions: FullDisruption when none is ready and some are
 * not, PartialDisruption when more than 2 are not ready and they are at least `unhealthyThreshold`
 * (0.55) of the zone, Normal otherwise.
 */
export function zoneState(readyStatuses: (string | undefined)[], unhealthyThreshold = 0.55): ZoneState {
  const ready = readyStatuses.filter((s) => s === 'True').length;
  const notReady = readyStatuses.length - ready;
  if (ready === 0 && notReady > 0) return 'FullDisruption';
  if (notReady > 2 && notReady / readyStatuses.length >= unhealthyThreshold) return 'PartialDisruption';
  return 'Normal';
}
