/**
 * TaintToleration (pkg/scheduler/framework/plugins/tainttoleration).
 * Filter: the first NoSchedule/NoExecute taint not tolerated rejects the
 * node. Score: fewer untolerated PreferNoSchedule taints is better.
 */
import type { Pod, Taint, Toleration } from '../../../lib/generated/kubemu/core/v1/core';
import type { FilterPlugin, ScorePlugin } from '../types';
import { MAX_NODE_SCORE } from '../types';

/** Kubernetes' Toleration.ToleratesTaint: empty effect matches every effect, empty key (with Exists) every key. */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== (taint.effect ?? '')) return false;
  if (t.key && t.key !== (taint.key ?? '')) return false;
  switch (t.operator ?? '') {
    case '':
    case 'Equal':
      return (t.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    default:
      return false;
  }
}

export function tolerationsTolerateTaint(tolerations: Toleration[] | undefined, taint: Taint): boolean {
  return (tolerations ?? []).some((t) => toleratesTaint(t, taint));
}

/** Kubernetes' wording for an untolerated taint, e.g. `node(s) had untolerated taint {dedicated: gpu}`. */
export function untoleratedTaintReason(taint: Taint): string {
  return `node(s) had untolerated taint {${taint.key ?? ''}: ${taint.value ?? ''}}`;
}

function filter(pod: Pod, taints: Taint[] | undefined): string[] | undefined {
  for (const taint of taints ?? []) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (!tolerationsTolerateTaint(pod.spec?.tolerations, taint)) return [untoleratedTaintReason(taint)];
  }
  return undefined;
}

export const taintTolerationFilter: FilterPlugin = {
  name: 'TaintToleration',
  filter: (pod, nodeInfo) => filter(pod, nodeInfo.node.spec?.taints),
};

export const taintTolerationScore: ScorePlugin = {
  name: 'TaintToleration',
  score(pod, nodeInfo) {
    const taints = nodeInfo.node.spec?.taints;
    if (!taints?.length) return 0;
    // Only tolerations that can apply to PreferNoSchedule count (getAllTolerationPreferNoSchedule).
    const tolerations = (pod.spec?.tolerations ?? []).filter((t) => !t.effect || t.effect === 'PreferNoSchedule');
    let n = 0;
    for (const taint of taints) {
      if (taint.effect === 'PreferNoSchedule' && !tolerationsTolerateTaint(tolerations, taint)) n++;
    }
    return n;
  },
  normalize: (_pod, scores) => defaultNormalizeScore(scores, true),
};

/**
 * Kubernetes' helper.DefaultNormalizeScore: scale so the highest raw score
 * becomes 100 (integer division); reverse flips it (100 - scaled). When
 * every raw score is 0, all become 100 if reverse, else stay 0.
 */
export function defaultNormalizeScore(scores: number[], reverse: boolean): void {
  let maxCount = 0;
  for (const s of scores) maxCount = Math.max(maxCount, s);
  if (maxCount === 0) {
    if (reverse) scores.fill(MAX_NODE_SCORE);
    return;
  }
  for (let i = 0; i < scores.length; i++) {
    let s = Math.trunc((MAX_NODE_SCORE * scores[i]) / maxCount);
    if (reverse) s = MAX_NODE_SCORE - s;
    scores[i] = s;
  }
}
