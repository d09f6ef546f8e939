/**
 * The plugins kube-scheduler runs by default, in its order, with its score
 * weights (pkg/scheduler/apis/config/v1 getDefaultPlugins). Filters run in
 * this order and a node's first failing filter decides its reasons.
 */
import { nodeAffinityFilter, nodeAffinityScore } from './plugins/nodeaffinity';
import { nodeName } from './plugins/nodename';
import { nodePorts } from './plugins/nodeports';
import { nodeResourcesBalancedAllocation, nodeResourcesFitFilter, nodeResourcesFitScore } from './plugins/noderesources';
import { nodeUnschedulable } from './plugins/nodeunschedulable';
import { podSpread } from './plugins/spread';
import { taintTolerationFilter, taintTolerationScore } from './plugins/tainttoleration';
import type { FilterPlugin, ScorePlugin } from './types';

export const DEFAULT_FILTERS: readonly FilterPlugin[] = [
  nodeUnschedulable,
  nodeName,
  taintTolerationFilter,
  nodeAffinityFilter,
  nodePorts,
  nodeResourcesFitFilter,
];

export interface WeightedScorePlugin {
  plugin: ScorePlugin;
  weight: number;
}

export const DEFAULT_SCORES: readonly WeightedScorePlugin[] = [
  { plugin: taintTolerationScore, weight: 3 },
  { plugin: nodeAffinityScore, weight: 2 },
  { plugin: podSpread, weight: 2 },
  { plugin: nodeResourcesFitScore, weight: 1 },
  { plugin: nodeResourcesBalancedAllocation, weight: 1 },
];
