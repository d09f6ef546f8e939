/**
 * One scheduling cycle's decision (pkg/scheduler/schedule_one.go
 * schedulePod: findNodesThatFitPod → prioritizeNodes → selectHost), pure
 * and synchronous. Assume, bind and events are the caller's.
 */
import type { Pod } from '../../lib/generated/kubemu/core/v1/core';
import { DEFAULT_FILTERS, DEFAULT_SCORES, WeightedScorePlugin } from './registry';
import type { FilterPlugin, NodeInfo } from './types';

/** Kubernetes' ErrNoNodesAvailable. */
export const ERR_NO_NODES_AVAILABLE = 'no nodes available to schedule pods';

/**
 * The pod fits no node. message is FitError.Error() without the
 * preemption suffix: `0/3 nodes are available: 1 Insufficient cpu, 2
 * node(s) didn't match Pod's node affinity/selector.` (each "count reason"
 * string sorted as strings, as Kubernetes' sort.Strings does).
 */
export class FitError extends Error {
  constructor(
    readonly numAllNodes: number,
    /** reason → how many nodes gave it. */
    readonly reasons: ReadonlyMap<string, number>,
    /** node name → its reasons. */
    readonly nodeToReasons: ReadonlyMap<string, readonly string[]>,
  ) {
    super(FitError.format(numAllNodes, reasons));
    this.name = 'FitError';
  }

  static format(numAllNodes: number, reasons: ReadonlyMap<string, number>): string {
    const parts = [...reasons].map(([reason, count]) => `${count} ${reason}`);
    parts.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `0/${numAllNodes} nodes are available: ${parts.join(', ')}.`;
  }
}

/** Thrown when there are no nodes at all (Kubernetes' ErrNoNodesAvailable). */
export class NoNodesAvailableError extends Error {
  constructor() {
    super(ERR_NO_NODES_AVAILABLE);
    this.name = 'NoNodesAvailableError';
  }
}

export interface ScheduleOptions {
  /** [0, 1) source for tie-breaking; Math.random by default, seededRandom() in tests. */
  random?: () => number;
  filters?: readonly FilterPlugin[];
  scores?: readonly WeightedScorePlugin[];
}

export interface ScheduleResult {
  node: string;
  /** How many nodes passed the filters. */
  feasibleNodes: number;
}

/** A small deterministic PRNG (mulberry32) for reproducible tie-breaking. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs the filters over every node: the feasible nodes, and the reasons of the rest. */
export function findNodesThatFit(
  pod: Pod,
  nodeInfos: readonly NodeInfo[],
  filters: readonly FilterPlugin[] = DEFAULT_FILTERS,
): { feasible: NodeInfo[]; nodeToReasons: Map<string, string[]> } {
  const feasible: NodeInfo[] = [];
  const nodeToReasons = new Map<string, string[]>();
  for (const info of nodeInfos) {
    let failed: string[] | undefined;
    for (const f of filters) {
      failed = f.filter(pod, info);
      if (failed) break;
    }
    if (failed) nodeToReasons.set(info.node.metadata?.name ?? '', failed);
    else feasible.push(info);
  }
  return { feasible, nodeToReasons };
}

/** Weighted sum of every score plugin (each normalised to 0..100) per feasible node, in the order given. */
export function prioritizeNodes(pod: Pod, feasible: readonly NodeInfo[], scores: readonly WeightedScorePlugin[] = DEFAULT_SCORES): number[] {
  const total = new Array<number>(feasible.length).fill(0);
  for (const { plugin, weight } of scores) {
    const s = feasible.map((info) => plugin.score(pod, info, feasible));
    plugin.normalize?.(pod, s);
    for (let i = 0; i < s.length; i++) total[i] += s[i] * weight;
  }
  return total;
}

/**
 * Chooses the node for pod among nodeInfos. Returns the node's name;
 * throws FitError when no node passes the filters, NoNodesAvailableError
 * when there are no nodes. Ties between best scores are broken uniformly
 * at random (reservoir sampling, as selectHost). Reads, never mutates, its
 * arguments; safe to call concurrently.
 */
export function schedulePod(pod: Pod, nodeInfos: readonly NodeInfo[], opts: ScheduleOptions = {}): ScheduleResult {
  if (nodeInfos.length === 0) throw new NoNodesAvailableError();
  const { feasible, nodeToReasons } = findNodesThatFit(pod, nodeInfos, opts.filters ?? DEFAULT_FILTERS);
  if (feasible.length === 0) {
    const reasons = new Map<string, number>();
    for (const rs of nodeToReasons.values()) for (const r of rs) reasons.set(r, (reasons.get(r) ?? 0) + 1);
    throw new FitError(nodeInfos.length, reasons, nodeToReasons);
  }
  if (feasible.length === 1) return { node: feasible[0].node.metadata?.name ?? '', feasibleNodes: 1 };

  const totals = prioritizeNodes(pod, feasible, opts.scores ?? DEFAULT_SCORES);
  const random = opts.random ?? Math.random;
  let best = 0;
  let bestScore = totals[0];
  let countOfBest = 1;
  for (let i = 1; i < totals.length; i++) {
    if (totals[i] > bestScore) {
      best = i;
      bestScore = totals[i];
      countOfBest = 1;
    } else if (totals[i] === bestScore) {
      countOfBest++;
      if (Math.floor(random() * countOfBest) === 0) best = i;
    }
  }
  return { node: feasible[best].node.metadata?.name ?? '', feasibleNodes: feasible.length };
}
