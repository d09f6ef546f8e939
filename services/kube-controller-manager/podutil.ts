/**
 * Helpers every workload controller needs, as Kubernetes' pkg/controller and pkg/api/v1/pod:
 * controller references, pod readiness and availability, and pods from a template.
 */
import { ObjectMeta, OwnerReference } from '../lib/generated/kubemu/meta/v1/meta';
import { Pod, PodTemplateSpec } from '../lib/generated/kubemu/core/v1/core';

/** The ownerReference with controller: true, if any. */
export function controllerOf(meta: ObjectMeta | undefined): OwnerReference | undefined {
  return (meta?.ownerReferences ?? []).find((r) => r.controller);
}

/** An ownerReference making `owner` the controller of a dependent (blockOwnerDeletion, as Kubernetes sets it). */
export function controllerRef(owner: { metadata?: ObjectMeta }, apiVersion: string, kind: string): OwnerReference {
  return { apiVersion, kind, name: owner.metadata?.name, uid: owner.metadata?.uid, controller: true, blockOwnerDeletion: true };
}

/** Whether the pod's Ready condition is True. */
export function isPodReady(pod: Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Ready for at least minReadySeconds (podutil.IsPodAvailable). */
export function isPodAvailable(pod: Pod, minReadySeconds: number, now: number): boolean {
  const ready = (pod.status?.conditions ?? []).find((c) => c.type === 'Ready' && c.status === 'True');
  if (!ready) return false;
  if (!minReadySeconds) return true;
  const since = ready.lastTransitionTime ? Date.parse(ready.lastTransitionTime) : NaN;
  return Number.isFinite(since) && since + minReadySeconds * 1000 <= now;
}

/** Not finished and not being deleted (controller.IsPodActive). */
export function isPodActive(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !pod.metadata?.deletionTimestamp;
}

/**
 * A pod for `template` owned by `ref` (controller.GetPodFromTemplate): labels, annotations and
 * finalizers copied, name generated from `generateName` (Kubernetes uses `<owner>-`).
 */
export function podFromTemplate(template: PodTemplateSpec | undefined, namespace: string, generateName: string, ref: OwnerReference): Pod {
  const meta = template?.metadata ?? {};
  return {
    metadata: {
      generateName,
      namespace,
      labels: { ...(meta.labels ?? {}) },
      annotations: { ...(meta.annotations ?? {}) },
      finalizers: meta.finalizers ? [...meta.finalizers] : undefined,
      ownerReferences: [ref],
    },
    spec: JSON.parse(JSON.stringify(template?.spec ?? {})),
  };
}
