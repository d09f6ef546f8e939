/**
 * NodeResourcesFit (filter + LeastAllocated score) and
 * NodeResourcesBalancedAllocation (pkg/scheduler/framework/plugins/noderesources).
 */
import { allocatable, podRequest } from '../resources';
import type { FilterPlugin, ScorePlugin } from '../types';
import { MAX_NODE_SCORE } from '../types';

export const ERR_REASON_TOO_MANY_PODS = 'Too many pods';
export const ERR_REASON_INSUFFICIENT_CPU = 'Insufficient cpu';
export const ERR_REASON_INSUFFICIENT_MEMORY = 'Insufficient memory';

/** Reasons in Kubernetes' order: pods, cpu, memory; every shortfall is listed. Allocates nothing on a fit (it runs for every node). */
export const nodeResourcesFitFilter: FilterPlugin = {
  name: 'NodeResourcesFit',
  filter(pod, nodeInfo) {
    const alloc = allocatable(nodeInfo.node);
    const req = podRequest(pod);
    const tooMany = nodeInfo.pods.size + 1 > alloc.pods;
    const cpu = req.milliCPU > 0 && req.milliCPU > alloc.milliCPU - nodeInfo.requested.milliCPU;
    const memory = req.memory > 0 && req.memory > alloc.memory - nodeInfo.requested.memory;
    if (!tooMany && !cpu && !memory) return undefined;
    const reasons: string[] = [];
    if (tooMany) reasons.push(ERR_REASON_TOO_MANY_PODS);
    if (cpu) reasons.push(ERR_REASON_INSUFFICIENT_CPU);
    if (memory) reasons.push(ERR_REASON_INSUFFICIENT_MEMORY);
    return reasons;
  },
};

/** One resource's LeastAllocated score, or -1 when the node does not offer it (left out of the average). */
function leastAllocated(requested: number, alloc: number): number {
  if (alloc === 0) return -1;
  if (requested > alloc) return 0;
  return Math.trunc(((alloc - requested) * MAX_NODE_SCORE) / alloc);
}

/**
 * LeastAllocated, cpu and memory weighted 1 each: ((allocatable - requested) * 100 / allocatable),
 * integer arithmetic as in Go, over requested (with this pod, scoring defaults applied) as
 * resourceAllocationScorer sees it. Straight-line arithmetic: it runs for every feasible node.
 */
export const nodeResourcesFitScore: ScorePlugin = {
  name: 'NodeResourcesFit',
  score(pod, nodeInfo) {
    const alloc = allocatable(nodeInfo.node);
    const req = podRequest(pod, true);
    const onNode = nodeInfo.nonZeroRequested;
    const cpu = leastAllocated(onNode.milliCPU + req.milliCPU, alloc.milliCPU);
    const mem = leastAllocated(onNode.memory + req.memory, alloc.memory);
    // A resource the node does not offer is left out of the average, as leastResourceScorer does.
    const weightSum = (cpu >= 0 ? 1 : 0) + (mem >= 0 ? 1 : 0);
    return weightSum === 0 ? 0 : Math.trunc((Math.max(cpu, 0) + Math.max(mem, 0)) / weightSum);
  },
};

/** BalancedAllocation: (1 - standard deviation of the cpu and memory fractions) * 100; uses the requests as written (useRequested). */
export const nodeResourcesBalancedAllocation: ScorePlugin = {
  name: 'NodeResourcesBalancedAllocation',
  score(pod, nodeInfo) {
    const alloc = allocatable(nodeInfo.node);
    const req = podRequest(pod);
    const onNode = nodeInfo.requested;
    const hasCpu = alloc.milliCPU !== 0;
    const hasMem = alloc.memory !== 0;
    let std = 0;
    if (hasCpu && hasMem) {
      const fc = Math.min(1, (onNode.milliCPU + req.milliCPU) / alloc.milliCPU);
      const fm = Math.min(1, (onNode.memory + req.memory) / alloc.memory);
      std = Math.abs((fc - fm) / 2);
    }
    return Math.trunc((1 - std) * MAX_NODE_SCORE);
  },
};
