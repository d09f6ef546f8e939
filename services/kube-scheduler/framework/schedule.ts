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
  /** Kubernetes' percentageOfNodesToScore: 0 or undefined = adaptive (see numFeasibleNodesToFind), 100 = every node. */
  percentageOfNodesToScore?: number;
  /** Where in nodeInfos the search starts (the caller's nextStartNodeIndex); default 0. */
  startIndex?: number;
}

export interface ScheduleResult {
  node: string;
  /** How many nodes passed the filters (at most numFeasibleNodesToFind). */
  feasibleNodes: number;
  /** How many nodes were filtered; the caller advances its start index by this much. */
  processedNodes: number;
}

/** Below this many nodes every node is filtered and scored (minFeasibleNodesToFind). */
export const MIN_FEASIBLE_NODES_TO_FIND = 100;
/** The adaptive percentage never goes below this (minFeasibleNodesPercentageToFind). */
export const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5;
/** The adaptive percentage at zero nodes (DefaultPercentageOfNodesToScore's basis). */
const BASE_PERCENTAGE_OF_NODES_TO_SCORE = 50;

/**
 * How many feasible nodes a cycle looks for before it stops filtering and scores them
 * (pkg/scheduler/schedule_one.go numFeasibleNodesToFind). Kubernetes' adaptive default: every node
 * below 100 nodes; otherwise 50% minus 1% per 125 nodes, at least 5%, and never fewer than 100
 * nodes. At 1,000 nodes: 50 − 8 = 42% → 420 nodes; at 5,000: 10% → 500; at 6,000 and more: 5%.
 * The rest of the cluster is not worse for it: the next cycle starts where this one stopped, so
 * pods are spread over all nodes in turn. `percentage` (1..100) replaces the adaptive value. Pure.
 */
export function numFeasibleNodesToFind(numAllNodes: number, percentage = 0): number {
  if (numAllNodes < MIN_FEASIBLE_NODES_TO_FIND || percentage >= 100) return numAllNodes;
  let adaptive = percentage;
  if (adaptive <= 0) {
    adaptive = BASE_PERCENTAGE_OF_NODES_TO_SCORE - Math.trunc(numAllNodes / 125);
    if (adaptive < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND) adaptive = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND;
  }
  const numNodes = Math.trunc((numAllNodes * adaptive) / 100);
  return numNodes < MIN_FEASIBLE_NODES_TO_FIND ? MIN_FEASIBLE_NODES_TO_FIND : numNodes;
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

/**
 * Runs the filters over the nodes, starting at `startIndex` and wrapping around, until `limit`
 * nodes passed (default: no limit): the feasible nodes, the reasons of those that failed, and how
 * many nodes were looked at.
 */
export function findNodesThatFit(
  pod: Pod,
  nodeInfos: readonly NodeInfo[],
  filters: readonly FilterPlugin[] = DEFAULT_FILTERS,
  limit = Infinity,
  startIndex = 0,
): { feasible: NodeInfo[]; nodeToReasons: Map<string, string[]>; processed: number } {
  const feasible: NodeInfo[] = [];
  const nodeToReasons = new Map<string, string[]>();
  // Filters with nothing to check for this pod are left out once, not asked per node.
  const active = filters.filter((f) => !f.applies || f.applies(pod));
  const n = nodeInfos.length;
  const start = n > 0 ? ((startIndex % n) + n) % n : 0;
  let processed = 0;
  for (; processed < n && feasible.length < limit; processed++) {
    const info = nodeInfos[(start + processed) % n];
    let failed: string[] | undefined;
    for (let j = 0; j < active.length; j++) {
      failed = active[j].filter(pod, info);
      if (failed) break;
    }
    if (failed) nodeToReasons.set(info.node.metadata?.name ?? '', failed);
    else feasible.push(info);
  }
  return { feasible, nodeToReasons, processed };
}

/** Weighted sum of every score plugin (each normalised to 0..100) per feasible node, in the order given. */
export function prioritizeNodes(pod: Pod, feasible: readonly NodeInfo[], scores: readonly WeightedScorePlugin[] = DEFAULT_SCORES): number[] {
  const n = feasible.length;
  const total = new Array<number>(n).fill(0);
  const s = new Array<number>(n);
  for (const { plugin, weight } of scores) {
    // A plugin that does not apply scores 0 everywhere: skipping it changes no total.
    if (plugin.applies && !plugin.applies(pod)) continue;
    for (let i = 0; i < n; i++) s[i] = plugin.score(pod, feasible[i], feasible);
    plugin.normalize?.(pod, s);
    for (let i = 0; i < n; i++) total[i] += s[i] * weight;
  }
  return total;
}

/**
 * Chooses the node for pod among nodeInfos, filtering from opts.startIndex until
 * numFeasibleNodesToFind nodes passed and scoring only those (Kubernetes' percentageOfNodesToScore). Returns the node's name;
 * throws FitError when no node passes the filters, NoNodesAvailableError
 * when there are no nodes. Ties between best scores are broken uniformly
 * at random (reservoir sampling, as selectHost). Reads, never mutates, its
 * arguments; safe to call concurrently.
 */
export function schedulePod(pod: Pod, nodeInfos: readonly NodeInfo[], opts: ScheduleOptions = {}): ScheduleResult {
  if (nodeInfos.length === 0) throw new NoNodesAvailableError();
  const limit = numFeasibleNodesToFind(nodeInfos.length, opts.percentageOfNodesToScore);
  const { feasible, nodeToReasons, processed } = findNodesThatFit(pod, nodeInfos, opts.filters ?? DEFAULT_FILTERS, limit, opts.startIndex ?? 0);
  if (feasible.length === 0) {
    const reasons = new Map<string, number>();
    for (const rs of nodeToReasons.values()) for (const r of rs) reasons.set(r, (reasons.get(r) ?? 0) + 1);
    throw new FitError(nodeInfos.length, reasons, nodeToReasons);
  }
  if (feasible.length === 1) return { node: feasible[0].node.metadata?.name ?? '', feasibleNodes: 1, processedNodes: processed };

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
  return { node: feasible[best].node.metadata?.name ?? '', feasibleNodes: feasible.length, processedNodes: processed };
}
