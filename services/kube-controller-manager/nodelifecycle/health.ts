/**
 * Node health as the node lifecycle controller tracks it (tryUpdateNodeHealth): when the
 * controller last saw a sign of life from a node's kubelet (a new status heartbeat or a renewed
 * Lease), measured on the controller's own clock so that skew between machines does not matter,
 * and the conditions it writes when that is longer ago than the grace period. Pure.
 */
import { Lease } from '../../lib/generated/kubemu/coordination/v1/coordination';
import { Node, NodeCondition } from '../../lib/generated/kubemu/core/v1/core';
import { formatTime } from '../../lib/time';

/** The conditions set to Unknown with Ready (nodelifecycle's remainingNodeConditionTypes). */
export const MONITORED_CONDITIONS = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

export interface NodeHealth {
  /** When the controller last observed a sign of life (its clock, ms). */
  probeTimestamp: number;
  /** The Ready condition's lastHeartbeatTime last seen. */
  heartbeat: string;
  /** The Lease's renewTime last seen. */
  leaseRenewTime: string;
  /** The Ready status as of the previous pass (to notice True → not True). */
  readyStatus?: string;
}

/**
 * The health record after observing `node` and its `lease` at `now`: a first observation starts
 * the clock at `now` (a restarted controller gives every node a full grace period); a changed
 * heartbeat or renewTime moves probeTimestamp to `now`.
 */
export function observeHealth(prev: NodeHealth | undefined, node: Node, lease: Lease | undefined, now: number): NodeHealth {
  const heartbeat = node.status?.conditions?.find((c) => c.type === 'Ready')?.lastHeartbeatTime ?? '';
  const leaseRenewTime = lease?.spec?.renewTime ?? '';
  if (!prev) return { probeTimestamp: now, heartbeat, leaseRenewTime };
  const alive = heartbeat !== prev.heartbeat || leaseRenewTime !== prev.leaseRenewTime;
  return { ...prev, heartbeat, leaseRenewTime, probeTimestamp: alive ? now : prev.probeTimestamp };
}

/**
 * The conditions of a node whose kubelet has been silent past the grace period: Ready and the
 * pressure conditions Unknown with reason NodeStatusUnknown ("Kubelet stopped posting node
 * status."), keeping lastHeartbeatTime; a condition never posted is added with
 * NodeStatusNeverUpdated ("Kubelet never posted node status.") and the node's creation time as
 * heartbeat. Undefined when every one already is Unknown.
 */
export function unknownConditions(node: Node, now: number): NodeCondition[] | undefined {
  const at = formatTime(now);
  const conditions = (node.status?.conditions ?? []).map((c) => ({ ...c }));
  let changed = false;
  for (const type of MONITORED_CONDITIONS) {
    const c = conditions.find((x) => x.type === type);
    if (!c) {
      conditions.push({ type, status: 'Unknown', reason: 'NodeStatusNeverUpdated', message: 'Kubelet never posted node status.', lastHeartbeatTime: node.metadata?.creationTimestamp ?? at, lastTransitionTime: at });
      changed = true;
    } else if (c.status !== 'Unknown') {
      c.status = 'Unknown';
      c.reason = 'NodeStatusUnknown';
      c.message = 'Kubelet stopped posting node status.';
      c.lastTransitionTime = at;
      changed = true;
    }
  }
  return changed ? conditions : undefined;
}
