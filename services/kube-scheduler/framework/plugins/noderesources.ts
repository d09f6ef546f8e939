/**
 * NodeResourcesFit (filter + LeastAllocated score) and
 * NodeResourcesBalancedAllocation (pkg/scheduler/framework/plugins/noderesources).
 */
import { allocatable, podRequest } from '../resources';
import type { FilterPlugin, NodeInfo, ScorePlugin } from '../types';
import { MAX_NODE_SCORE } from '../types';
import type { Pod } from '../../../lib/generated/kubemu/core/v1/core';

export const ERR_REASON_TOO_MANY_PODS = 'Too many pods';
export const ERR_REASON_INSUFFICIENT_CPU = 'Insufficient cpu';
export const ERR_REASON_INSUFFICIENT_MEMORY = 'Insufficient memory';

/** Reasons in Kubernetes' order: pods, cpu, memory; every shortfall is listed. */
export const nodeResourcesFitFilter: FilterPlugin = {
  name: 'NodeResourcesFit',
  filter(pod, nodeInfo) {
    const alloc = allocatable(nodeInfo.node);
    const req = podRequest(pod);
    const reasons: string[] = [];
    if (nodeInfo.pods.size + 1 > alloc.pods) reasons.push(ERR_REASON_TOO_MANY_PODS);
    if (req.milliCPU > 0 && req.milliCPU > alloc.milliCPU - nodeInfo.requested.milliCPU) reasons.push(ERR_REASON_INSUFFICIENT_CPU);
    if (req.memory > 0 && req.memory > alloc.memory - nodeInfo.requested.memory) reasons.push(ERR_REASON_INSUFFICIENT_MEMORY);
    return reasons.length ? reasons : undefined;
  },
};

/** requested (with this pod) and allocatable, cpu then memory, as resourceAllocationScorer sees them. */
function usage(pod: Pod, nodeInfo: NodeInfo, nonZero: boolean): { requested: number[]; allocatable: number[] } {
  const alloc = allocatable(nodeInfo.node);
  const onNode = nonZero ? nodeInfo.nonZeroRequested : nodeInfo.requested;
  const req = podRequest(pod, nonZero);
  return {
    requested: [onNode.milliCPU + req.milliCPU, onNode.memory + req.memory],
    allocatable: [alloc.milliCPU, alloc.memory],
  };
}

/** LeastAllocated, cpu and memory weighted 1 each: ((allocatable - requested) * 100 / allocatable), integer arithmetic as in Go. */
export const nodeResourcesFitScore: ScorePlugin = {
  name: 'NodeResourcesFit',
  score(pod, nodeInfo) {
    const { requested, allocatable: alloc } = usage(pod, nodeInfo, true);
    let sum = 0;
    let weightSum = 0;
    for (let i = 0; i < requested.length; i++) {
      // A resource the node does not offer is left out of the average, as leastResourceScorer does.
      if (alloc[i] === 0) continue;
      weightSum++;
      if (requested[i] > alloc[i]) continue;
      sum += Math.trunc(((alloc[i] - requested[i]) * MAX_NODE_SCORE) / alloc[i]);
    }
    return weightSum === 0 ? 0 : Math.trunc(sum / weightSum);
  },
};

/** BalancedAllocation: (1 - standard deviation of the cpu and memory fractions) * 100; uses the requests as written (useRequested). */
export const nodeResourcesBalancedAllocation: ScorePlugin = {
  name: 'NodeResourcesBalancedAllocation',
  score(pod, nodeInfo) {
    const { requested, allocatable: alloc } = usage(pod, nodeInfo, false);
    const fractions: number[] = [];
    for (let i = 0; i < requested.length; i++) {
      if (alloc[i] === 0) continue;
      fractions.push(Math.min(1, requested[i] / alloc[i]));
    }
    let std = 0;
    if (fractions.length === 2) {
      std = Math.abs((fractions[0] - fractions[1]) / 2);
    } else if (fractions.length > 2) {
      const mean = fractions.reduce((a, b) => a + b, 0) / fractions.length;
      std = Math.sqrt(fractions.reduce((a, f) => a + (f - mean) * (f - mean), 0) / fractions.length);
    }
    return Math.trunc((1 - std) * MAX_NODE_SCORE);
  },
};
