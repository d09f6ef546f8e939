/**
 * Spreading of pods that share a controller owner (the role of Kubernetes'
 * SelectorSpread / PodTopologySpread system defaults, on the hostname
 * topology): the fewer siblings a node already holds, the higher it
 * scores. Siblings are pods of the same namespace whose controller
 * ownerReference has the same uid. A pod without a controller scores 0
 * everywhere (no preference).
 */
import type { Pod } from '../../../lib/generated/kubemu/core/v1/core';
import type { ScorePlugin } from '../types';
import { defaultNormalizeScore } from './tainttoleration';

const controllers = new WeakMap<Pod, { owner: string | undefined }>();

/** The uid (or kind/name when there is no uid) of the pod's controller owner, if any. Cached per pod object (read for every pod of every node). */
export function controllerOf(pod: Pod): string | undefined {
  let c = controllers.get(pod);
  if (!c) controllers.set(pod, (c = { owner: computeControllerOf(pod) }));
  return c.owner;
}

function computeControllerOf(pod: Pod): string | undefined {
  const ref = (pod.metadata?.ownerReferences ?? []).find((r) => r.controller);
  if (!ref) return undefined;
  return ref.uid || `${ref.kind ?? ''}/${ref.name ?? ''}`;
}

export const podSpread: ScorePlugin = {
  name: 'PodTopologySpread',
  applies: (pod) => controllerOf(pod) !== undefined,
  score(pod, nodeInfo) {
    const owner = controllerOf(pod);
    if (owner === undefined) return 0;
    const ns = pod.metadata?.namespace ?? '';
    let n = 0;
    for (const p of nodeInfo.pods.values()) {
      if ((p.metadata?.namespace ?? '') === ns && controllerOf(p) === owner && !p.metadata?.deletionTimestamp) n++;
    }
    return n;
  },
  normalize(pod, scores) {
    if (controllerOf(pod) === undefined) {
      scores.fill(0);
      return;
    }
    defaultNormalizeScore(scores, true);
  },
};
