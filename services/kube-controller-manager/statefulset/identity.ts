/**
 * A StatefulSet pod's stable identity and revisions (pkg/controller/statefulset
 * stateful_set_utils.go), as pure functions: ordinals and names, the pod and claims built for an
 * ordinal, and the revision names.
 *
 * kubemu serves no ControllerRevision, so a revision is only a name, `<set>-<hash>`, where the
 * hash is computed as Kubernetes' HashControllerRevision does (FNV-32a, then SafeEncodeString)
 * over the pod template (and collisionCount when set). Pods carry it in the
 * controller-revision-hash label, and status.currentRevision/updateRevision name it.
 */
import { StatefulSet } from '../../lib/generated/kubemu/apps/v1/apps';
import { PersistentVolumeClaim, Pod, PodTemplateSpec } from '../../lib/generated/kubemu/core/v1/core';
import { controllerRef } from '../podutil';

export const REVISION_LABEL = 'controller-revision-hash';
export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';

/** The first ordinal (spec.ordinals.start, default 0). */
export function startOrdinal(set: StatefulSet): number {
  return set.spec?.ordinals?.start ?? 0;
}

/** The ordinal of a pod named `<set>-<n>` owned by `set`, or -1 (getParentNameAndOrdinal). */
export function ordinalOf(setName: string, podName: string): number {
  if (!podName.startsWith(setName + '-')) return -1;
  const rest = podName.slice(setName.length + 1);
  if (!/^(0|[1-9][0-9]*)$/.test(rest)) return -1;
  return Number(rest);
}

export function podName(set: StatefulSet, ordinal: number): string {
  return `${set.metadata?.name}-${ordinal}`;
}

/** `<template>-<set>-<ordinal>` (getPersistentVolumeClaimName). */
export function claimName(set: StatefulSet, template: PersistentVolumeClaim, ordinal: number): string {
  return `${template.metadata?.name}-${set.metadata?.name}-${ordinal}`;
}

const SAFE_ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

/** k8s.io/apimachinery/pkg/util/rand.SafeEncodeString: no vowels, no look-alike characters. */
export function safeEncodeString(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += SAFE_ALPHANUMS[s.charCodeAt(i) % SAFE_ALPHANUMS.length];
  return out;
}

/** FNV-32a of a byte string. */
export function fnv32a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * JSON with object keys sorted and absent-equivalent fields (undefined, null, empty lists and
 * objects) left out, so equal templates hash equally however they were decoded (a protobuf
 * decode may give [] where a JSON one gives nothing). Pure.
 */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(prune(v) ?? null);
}

function prune(v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) return v.length ? v.map((x) => prune(x) ?? null) : undefined;
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as Record<string, unknown>).sort()) {
      const x = prune((v as Record<string, unknown>)[k]);
      if (x !== undefined) out[k] = x;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return v;
}

/** The revision name of a template: `<set>-<SafeEncodeString(fnv32a)>`. Pure. */
export function revisionName(set: StatefulSet, template: PodTemplateSpec | undefined, collisionCount = 0): string {
  let data = canonicalJson(template ?? {});
  if (collisionCount) data += `#${collisionCount}`;
  const hash = safeEncodeString(String(fnv32a(Buffer.from(data, 'utf8'))));
  return `${set.metadata?.name}-${hash}`;
}

/** The revision of a pod (its controller-revision-hash label). */
export function podRevision(pod: Pod): string {
  return pod.metadata?.labels?.[REVISION_LABEL] ?? '';
}

/**
 * The claims of an ordinal (getPersistentVolumeClaims): one per volumeClaimTemplate, named
 * `<template>-<set>-<ordinal>`, labelled with the template's labels and the set's selector
 * matchLabels. Owned by the set only under the whenDeleted: Delete retention policy (claimOwnerRefs).
 */
export function claimsFor(set: StatefulSet, ordinal: number): PersistentVolumeClaim[] {
  const ns = set.metadata?.namespace ?? '';
  return (set.spec?.volumeClaimTemplates ?? []).map((t): PersistentVolumeClaim => ({
    metadata: {
      name: claimName(set, t, ordinal),
      namespace: ns,
      labels: { ...(t.metadata?.labels ?? {}), ...(set.spec?.selector?.matchLabels ?? {}) },
      annotations: t.metadata?.annotations && Object.keys(t.metadata.annotations).length ? { ...t.metadata.annotations } : undefined,
    },
    spec: JSON.parse(JSON.stringify(t.spec ?? {})),
  })).map((c) => {
    const refs = claimOwnerRefs(set, c, undefined, ordinal);
    if (refs?.length) c.metadata!.ownerReferences = refs;
    return c;
  });
}

/**
 * The pod of `ordinal` built from `template` at `revision` (newStatefulSetPod + setPodRevision):
 * name `<set>-<ordinal>`, the pod-name, pod-index and revision labels, hostname and subdomain
 * (spec.serviceName) for the headless Service's DNS, and one volume per claim template pointing
 * at the ordinal's claim (replacing a template volume of the same name).
 */
export function newStatefulSetPod(set: StatefulSet, template: PodTemplateSpec | undefined, revision: string, ordinal: number): Pod {
  const name = podName(set, ordinal);
  const meta = template?.metadata ?? {};
  const spec = JSON.parse(JSON.stringify(template?.spec ?? {})) as NonNullable<Pod['spec']>;
  spec.hostname = name;
  if (set.spec?.serviceName) spec.subdomain = set.spec.serviceName;
  const claimVolumes = (set.spec?.volumeClaimTemplates ?? []).map((t) => ({
    name: t.metadata?.name,
    persistentVolumeClaim: { claimName: claimName(set, t, ordinal) },
  }));
  if (claimVolumes.length) {
    const names = new Set(claimVolumes.map((v) => v.name));
    spec.volumes = [...(spec.volumes ?? []).filter((v) => !names.has(v.name)), ...claimVolumes];
  }
  return {
    metadata: {
      name,
      namespace: set.metadata?.namespace,
      labels: { ...(meta.labels ?? {}), [POD_NAME_LABEL]: name, [POD_INDEX_LABEL]: String(ordinal), [REVISION_LABEL]: revision },
      annotations: meta.annotations && Object.keys(meta.annotations).length ? { ...meta.annotations } : undefined,
      finalizers: meta.finalizers?.length ? [...meta.finalizers] : undefined,
      ownerReferences: [controllerRef(set, 'apps/v1', 'StatefulSet')],
    },
    spec,
  };
}

/**
 * Which revision a missing pod of `ordinal` is created at (newVersionedStatefulSetPod): under
 * RollingUpdate, ordinals below the partition keep the current revision; otherwise (and under
 * OnDelete) the update revision.
 */
export function revisionForNewPod(set: StatefulSet, ordinal: number): 'current' | 'update' {
  const us = set.spec?.updateStrategy;
  if ((us?.type ?? 'RollingUpdate') === 'RollingUpdate' && ordinal < startOrdinal(set) + (us?.rollingUpdate?.partition ?? 0)) return 'current';
  return 'update';
}

export type PodState = 'missing' | 'terminating' | 'failed' | 'unhealthy' | 'healthy';

/**
 * The next rolling-update step (RollingUpdate strategy, maxUnavailable 1): from the highest
 * ordinal down to the partition, the first pod not at the update revision and not terminating is
 * to be deleted; an unhealthy (or terminating, or missing) pod on the way means wait. Returns the
 * ordinal to delete, 'wait', or 'done'. `replicas[i]` describes ordinal start+i. Pure.
 */
export function nextRollingUpdateStep(
  replicas: readonly { state: PodState; revision: string }[],
  updateRevision: string,
  partition: number,
): { delete: number } | 'wait' | 'done' {
  for (let i = replicas.length - 1; i >= Math.max(0, partition); i--) {
    const r = replicas[i];
    if (r.state !== 'missing' && r.state !== 'terminating' && r.revision !== updateRevision) return { delete: i };
    if (r.state !== 'healthy') return 'wait';
  }
  return 'done';
}

/**
 * The ownerReferences a claim of `ordinal` should carry under the set's
 * persistentVolumeClaimRetentionPolicy (updateClaimOwnerRefForSetAndPod): whenDeleted Delete
 * adds the set (the garbage collector deletes the claim with the set); whenScaled Delete makes the
 * pod the only owner once its ordinal is condemned by a scale-down (the claim goes with the pod). References to
 * other owners are kept; ours are removed when the policy no longer asks for them. Pure.
 */
export function claimOwnerRefs(set: StatefulSet, claim: PersistentVolumeClaim, pod: Pod | undefined, ordinal: number): NonNullable<PersistentVolumeClaim['metadata']>['ownerReferences'] {
  const policy = set.spec?.persistentVolumeClaimRetentionPolicy ?? {};
  const setUid = set.metadata?.uid;
  const podUid = pod?.metadata?.uid;
  const condemned = ordinal < startOrdinal(set) || ordinal >= startOrdinal(set) + (set.spec?.replicas ?? 1);
  const refs = (claim.metadata?.ownerReferences ?? []).filter((r) => !(r.kind === 'StatefulSet' && r.uid === setUid) && !(r.kind === 'Pod' && r.name === pod?.metadata?.name));
  if (policy.whenScaled === 'Delete' && condemned) {
    // A condemned ordinal's claims belong to its pod alone (the set's reference is dropped too).
    if (podUid) refs.push({ apiVersion: 'v1', kind: 'Pod', name: pod?.metadata?.name, uid: podUid });
  } else if (policy.whenDeleted === 'Delete') {
    refs.push({ apiVersion: 'apps/v1', kind: 'StatefulSet', name: set.metadata?.name, uid: setUid });
  }
  return refs;
}
