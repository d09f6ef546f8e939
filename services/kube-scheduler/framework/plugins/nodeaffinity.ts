/**
 * NodeAffinity (pkg/scheduler/framework/plugins/nodeaffinity): the filter
 * requires spec.nodeSelector and the required node affinity to both match;
 * the score sums the weights of matching preferred terms, normalised so the
 * best node gets 100.
 */
import type { Node, NodeSelectorRequirement, NodeSelectorTerm, Pod } from '../../../lib/generated/kubemu/core/v1/core';
import type { FilterPlugin, ScorePlugin } from '../types';
import { defaultNormalizeScore } from './tainttoleration';

export const ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector";

/** Go's strconv.ParseInt(s, 10, 64), as far as a safe integer goes; undefined when it is not an integer. */
function parseInt64(s: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** One requirement against a label set (labels.Requirement.Matches); an invalid requirement matches nothing. */
function matchesRequirement(req: NodeSelectorRequirement, labels: { [key: string]: string }): boolean {
  const key = req.key ?? '';
  const values = req.values ?? [];
  const has = Object.prototype.hasOwnProperty.call(labels, key);
  switch (req.operator) {
    case 'In':
      return has && values.includes(labels[key]);
    case 'NotIn':
      return !has || !values.includes(labels[key]);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      if (!has || values.length !== 1) return false;
      const actual = parseInt64(labels[key]);
      const bound = parseInt64(values[0]);
      if (actual === undefined || bound === undefined) return false;
      return req.operator === 'Gt' ? actual > bound : actual < bound;
    }
    default:
      return false;
  }
}

/** matchFields supports only metadata.name with In / NotIn (as Kubernetes' node field selector). */
function matchesField(req: NodeSelectorRequirement, node: Node): boolean {
  if (req.key !== 'metadata.name') return false;
  const name = node.metadata?.name ?? '';
  const values = req.values ?? [];
  if (req.operator === 'In') return values.includes(name);
  if (req.operator === 'NotIn') return !values.includes(name);
  return false;
}

/** A term ANDs its requirements; an empty term matches no node. */
export function nodeMatchesTerm(term: NodeSelectorTerm | undefined, node: Node): boolean {
  const exprs = term?.matchExpressions ?? [];
  const fields = term?.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = node.metadata?.labels ?? {};
  return exprs.every((r) => matchesRequirement(r, labels)) && fields.every((r) => matchesField(r, node));
}

/** spec.nodeSelector (every label equal) and required node affinity (any term). */
export function podMatchesNodeSelectorAndAffinityTerms(pod: Pod, node: Node): boolean {
  const labels = node.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec?.nodeSelector ?? {})) {
    if (labels[k] !== v) return false;
  }
  const required = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (required) {
    // Terms are ORed; no terms matches nothing.
    if (!(required.nodeSelectorTerms ?? []).some((t) => nodeMatchesTerm(t, node))) return false;
  }
  return true;
}

export const nodeAffinityFilter: FilterPlugin = {
  name: 'NodeAffinity',
  applies: (pod) => Object.keys(pod.spec?.nodeSelector ?? {}).length > 0 || !!pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
  filter: (pod, nodeInfo) => (podMatchesNodeSelectorAndAffinityTerms(pod, nodeInfo.node) ? undefined : [ERR_REASON_POD]),
};

export const nodeAffinityScore: ScorePlugin = {
  name: 'NodeAffinity',
  applies: (pod) => (pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.length ?? 0) > 0,
  score(pod, nodeInfo) {
    let sum = 0;
    for (const t of pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
      if (!t.weight) continue;
      if (nodeMatchesTerm(t.preference, nodeInfo.node)) sum += t.weight;
    }
    return sum;
  },
  normalize: (_pod, scores) => defaultNormalizeScore(scores, false),
};
