/**
 * The StatefulSet controller (pkg/controller/statefulset, stateful_set_control.go
 * updateStatefulSet): pods `<set>-<ordinal>` with a stable identity and their own claims,
 * created in order and removed in reverse under OrderedReady (or all at once under Parallel),
 * failed or deleted pods recreated under the same name, and the RollingUpdate (highest ordinal
 * first, one at a time, down to the partition) and OnDelete update strategies.
 *
 * No expectations are needed (as in Kubernetes): pod and claim names are deterministic, so a sync
 * on a stale cache at worst asks to create what exists (AlreadyExists, ignored) and waits.
 *
 * Revisions: see identity.ts. The template of the current revision — needed to recreate a pod
 * below the partition — is remembered from the StatefulSets the informer has shown (old and new
 * objects of each update). A controller that restarted mid-rollout and never saw the old template
 * recreates such a pod at the update revision (Kubernetes would read its ControllerRevision).
 */
import { ApiClient } from '../../lib/apiclient';
import { isReason } from '../../lib/errors';
import { EventRecorder } from '../../lib/events';
import { StatefulSet, StatefulSetStatus } from '../../lib/generated/kubemu/apps/v1/apps';
import { PersistentVolumeClaim, Pod, PodTemplateSpec } from '../../lib/generated/kubemu/core/v1/core';
import { Informer, NAMESPACE_INDEX } from '../../lib/informer';
import { labelSelectorFromMeta } from '../../lib/labels';
import { Logger } from '../../lib/log';
import { objectKey, resourceForCase } from '../../lib/resources';
import { ReconcileResult } from '../../lib/workqueue';
import { ControllerDescriptor } from '../context';
import { ReconcileLoop } from '../loop';
import { controllerOf, controllerRef, isPodAvailable, isPodReady } from '../podutil';
import { claimObjects } from '../replicaset/refmanager';
import {
  canonicalJson,
  claimOwnerRefs,
  claimsFor,
  newStatefulSetPod,
  nextRollingUpdateStep,
  ordinalOf,
  PodState,
  podRevision,
  revisionForNewPod,
  revisionName,
  startOrdinal,
} from './identity';

const POD = resourceForCase('pod');
const PVC = resourceForCase('persistentVolumeClaim');
const STS = resourceForCase('statefulSet');
export const COMPONENT = 'statefulset-controller';
/** Pods by the `namespace/name` of the StatefulSet controlling them. */
export const PODS_BY_STATEFULSET = 'statefulset-controller/owner';

export interface StatefulSetDeps {
  client: Pick<ApiClient, 'create' | 'delete' | 'get' | 'patch' | 'update' | 'updateStatus'>;
  sets: { get(key: string): StatefulSet | undefined };
  pods: { byIndex(name: string, value: string): Pod[] };
  claims: { get(key: string): PersistentVolumeClaim | undefined };
  recorder: Pick<EventRecorder, 'record'>;
  log: Logger;
  now(): number;
  /** Templates of revisions seen (revision name → template), see the file comment. */
  revisions: RevisionHistory;
}

/** Remembers the template of every revision of every StatefulSet the informer has shown. */
export class RevisionHistory {
  private readonly byName = new Map<string, PodTemplateSpec | undefined>();

  /** Records the revision of `set`'s template. */
  observe(set: StatefulSet): void {
    const name = revisionName(set, set.spec?.template, set.status?.collisionCount ?? 0);
    this.byName.set(`${set.metadata?.namespace}/${name}`, set.spec?.template);
  }

  get(namespace: string, revision: string): PodTemplateSpec | undefined {
    return this.byName.get(`${namespace}/${revision}`);
  }

  /** Forgets the revisions of a deleted set. */
  forget(set: StatefulSet): void {
    const prefix = `${set.metadata?.namespace}/${set.metadata?.name}-`;
    for (const k of this.byName.keys()) if (k.startsWith(prefix) && !k.slice(prefix.length).includes('-')) this.byName.delete(k);
  }
}

/** The index function of PODS_BY_STATEFULSET. */
export function podsByStatefulSet(pod: Pod): string[] {
  const ref = controllerOf(pod.metadata);
  return ref?.kind === 'StatefulSet' && ref.name ? [`${pod.metadata?.namespace}/${ref.name}`] : [];
}

function podState(pod: Pod | undefined, minReadySeconds: number, now: number): PodState {
  if (!pod) return 'missing';
  if (pod.metadata?.deletionTimestamp) return 'terminating';
  const phase = pod.status?.phase;
  if (phase === 'Failed' || phase === 'Succeeded') return 'failed';
  if (phase === 'Running' && isPodReady(pod) && isPodAvailable(pod, minReadySeconds, now)) return 'healthy';
  return 'unhealthy';
}

/**
 * One sync of a StatefulSet (updateStatefulSet). Reads the caches, performs at most the steps the
 * policy allows (under OrderedReady: one creation or deletion, then waits for the informer), then
 * writes status when it changed. Throws on API errors (the loop retries with backoff).
 */
export async function syncStatefulSet(d: StatefulSetDeps, key: string): Promise<ReconcileResult> {
  const cached = d.sets.get(key);
  if (!cached || cached.metadata?.deletionTimestamp) return;
  const set = cached;
  const ns = set.metadata?.namespace ?? '';
  const setName = set.metadata?.name ?? '';
  const now = d.now();
  const spec = set.spec ?? {};
  const replicaCount = spec.replicas ?? 1;
  const start = startOrdinal(set);
  const monotonic = (spec.podManagementPolicy ?? 'OrderedReady') !== 'Parallel';
  const minReadySeconds = spec.minReadySeconds ?? 0;
  const collisionCount = set.status?.collisionCount ?? 0;

  const updateRevision = revisionName(set, spec.template, collisionCount);
  let currentRevision = set.status?.currentRevision || updateRevision;
  let currentTemplate = currentRevision === updateRevision ? spec.template : d.revisions.get(ns, currentRevision);
  if (!currentTemplate) {
    // The current revision's template is unknown (see the file comment): treat the update as current.
    currentRevision = updateRevision;
    currentTemplate = spec.template;
  }

  const selector = labelSelectorFromMeta(spec.selector);
  // ClaimPods with isMemberOf: orphans named <set>-<ordinal> that match the selector are adopted,
  // our pods that stopped matching are released.
  const candidates = [
    ...d.pods.byIndex(PODS_BY_STATEFULSET, key),
    ...d.pods.byIndex(NAMESPACE_INDEX, ns).filter((p) => !controllerOf(p.metadata) && ordinalOf(setName, p.metadata?.name ?? '') >= 0),
  ];
  const owned = await claimObjects(candidates, {
    owner: set,
    ref: controllerRef(set, 'apps/v1', 'StatefulSet'),
    selector,
    canAdopt: async () => {
      const fresh = await d.client.get(STS, ns, setName);
      if (fresh.metadata?.uid !== set.metadata?.uid || fresh.metadata?.deletionTimestamp) throw new Error(`statefulset ${key}: no longer adopting (gone, replaced or being deleted)`);
    },
    patch: async (obj, patch) => {
      await d.client.patch(POD, obj.metadata?.namespace ?? '', obj.metadata?.name ?? '', patch);
    },
  });
  const replicas: (Pod | undefined)[] = new Array(replicaCount).fill(undefined);
  const condemned: Pod[] = [];
  for (const p of owned) {
    const ord = ordinalOf(setName, p.metadata?.name ?? '');
    if (ord < 0) continue;
    if (ord >= start && ord < start + replicaCount) replicas[ord - start] = p;
    else condemned.push(p);
  }
  condemned.sort((a, b) => ordinalOf(setName, a.metadata?.name ?? '') - ordinalOf(setName, b.metadata?.name ?? ''));

  const act = async (): Promise<void> => {
    // The replicas in ordinal order (processReplica): replace failed pods, create missing ones
    // (claims first), keep claims present; under OrderedReady stop at the first pod not healthy.
    for (let i = 0; i < replicaCount; i++) {
      const ord = start + i;
      const pod = replicas[i];
      const st = podState(pod, minReadySeconds, now);
      if (st === 'failed') {
        await deletePod(d, set, pod!);
        // The pod is recreated under the same name once the informer shows it gone.
        return;
      }
      if (st === 'missing') {
        const which = revisionForNewPod(set, ord);
        const revision = which === 'current' ? currentRevision : updateRevision;
        const template = which === 'current' ? currentTemplate : spec.template;
        const pod = newStatefulSetPod(set, template, revision, ord);
        if (!(await createClaims(d, set, ord, pod.metadata?.name ?? ''))) return;
        await createPod(d, set, pod);
        if (monotonic) return;
        continue;
      }
      if (st === 'terminating' && monotonic) return;
      if (st !== 'terminating') {
        if (!(await createClaims(d, set, ord, pod!.metadata?.name ?? ''))) return;
        await syncClaimOwners(d, set, ord, pod!);
      }
      if (st === 'unhealthy' && monotonic) return;
    }

    // Scale down: highest ordinal first; under OrderedReady one at a time, each gone before the
    // next, and an unhealthy pod blocks unless it is the lowest unhealthy one (firstUnhealthyPod).
    const firstUnhealthy = condemned.find((p) => podState(p, minReadySeconds, now) !== 'healthy');
    for (let t = condemned.length - 1; t >= 0; t--) {
      const pod = condemned[t];
      if (pod.metadata?.deletionTimestamp) {
        if (monotonic) return;
        continue;
      }
      if (monotonic && podState(pod, minReadySeconds, now) !== 'healthy' && pod !== firstUnhealthy) return;
      // Under whenScaled: Delete the claims now name the pod as owner, so they go with it.
      await syncClaimOwners(d, set, ordinalOf(setName, pod.metadata?.name ?? ''), pod);
      await deletePod(d, set, pod);
      if (monotonic) return;
    }

    // Rolling update: one pod at a time, highest ordinal first, down to the partition.
    if ((spec.updateStrategy?.type ?? 'RollingUpdate') !== 'RollingUpdate') return;
    const partition = spec.updateStrategy?.rollingUpdate?.partition ?? 0;
    const step = nextRollingUpdateStep(
      replicas.map((p) => ({ state: podState(p, minReadySeconds, now), revision: p ? podRevision(p) : '' })),
      updateRevision,
      partition,
    );
    if (typeof step === 'object') {
      d.log.info('rolling update: replacing pod', { controller: COMPONENT, statefulset: key, pod: replicas[step.delete]?.metadata?.name, updateRevision });
      await deletePod(d, set, replicas[step.delete]!);
    }
  };
  await act();

  // Status (computeReplicaStatus + completeRollingUpdate).
  const status: StatefulSetStatus = {
    observedGeneration: set.metadata?.generation,
    replicas: 0,
    readyReplicas: 0,
    currentReplicas: 0,
    updatedReplicas: 0,
    availableReplicas: 0,
    currentRevision,
    updateRevision,
    collisionCount,
  };
  let requeueAfterMs: number | undefined;
  for (const p of [...replicas, ...condemned]) {
    if (!p || !p.status?.phase) continue;
    status.replicas!++;
    if (p.status.phase === 'Running' && isPodReady(p)) {
      status.readyReplicas!++;
      if (isPodAvailable(p, minReadySeconds, now)) status.availableReplicas!++;
      // Ready but not yet available for minReadySeconds: look again when it will be.
      else requeueAfterMs = minReadySeconds * 1000 + 100;
    }
    if (!p.metadata?.deletionTimestamp) {
      if (podRevision(p) === currentRevision) status.currentReplicas!++;
      if (podRevision(p) === updateRevision) status.updatedReplicas!++;
    }
  }
  if ((spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate' && status.updatedReplicas === status.replicas && status.readyReplicas === status.replicas) {
    status.currentReplicas = status.updatedReplicas;
    status.currentRevision = status.updateRevision;
  }
  const old = set.status ?? {};
  const changed = (Object.keys(status) as (keyof StatefulSetStatus)[]).some((k) => (old[k] ?? 0) !== (status[k] ?? 0));
  if (changed) {
    const next: StatefulSet = JSON.parse(JSON.stringify(set));
    next.status = { ...(next.status ?? {}), ...status };
    try {
      await d.client.updateStatus(STS, next);
    } catch (err) {
      if (!isReason(err, 'Conflict')) throw err;
      // Our cache is behind (often our own previous status write): retry once on the latest
      // object of the same generation (updateStatefulSetStatus' RetryOnConflict); else resync.
      const latest = await d.client.get(STS, ns, setName);
      if (latest.metadata?.uid !== set.metadata?.uid || latest.metadata?.generation !== set.metadata?.generation) throw err;
      latest.status = { ...(latest.status ?? {}), ...status };
      await d.client.updateStatus(STS, latest);
    }
  }
  return requeueAfterMs !== undefined ? { requeueAfterMs } : undefined;
}

/**
 * Brings the ownerReferences of an existing pod's claims in line with the retention policy
 * (claimOwnerRefs); a claim not in the cache is left to createClaims.
 */
async function syncClaimOwners(d: StatefulSetDeps, set: StatefulSet, ordinal: number, pod: Pod): Promise<void> {
  for (const claim of claimsFor(set, ordinal)) {
    const existing = d.claims.get(objectKey(claim));
    if (!existing || existing.metadata?.deletionTimestamp) continue;
    const want = claimOwnerRefs(set, existing, pod, ordinal) ?? [];
    if (canonicalJson(want) === canonicalJson(existing.metadata?.ownerReferences ?? [])) continue;
    const next: PersistentVolumeClaim = JSON.parse(JSON.stringify(existing));
    next.metadata!.ownerReferences = want;
    await d.client.update(PVC, next);
  }
}

/** Creates the ordinal's missing claims; false when one is being deleted (the pod must wait for it). */
async function createClaims(d: StatefulSetDeps, set: StatefulSet, ordinal: number, pod: string): Promise<boolean> {
  for (const claim of claimsFor(set, ordinal)) {
    const existing = d.claims.get(objectKey(claim));
    if (existing) {
      if (existing.metadata?.deletionTimestamp) {
        d.log.info('claim is being deleted; pod waits', { controller: COMPONENT, claim: objectKey(claim), pod });
        return false;
      }
      continue;
    }
    try {
      await d.client.create(PVC, claim);
    } catch (err) {
      if (isReason(err, 'AlreadyExists')) continue;
      await d.recorder.record(set, 'Warning', 'FailedCreate', '', `create Claim ${claim.metadata?.name} for Pod ${pod} in StatefulSet ${set.metadata?.name} failed error: ${(err as Error).message}`);
      throw err;
    }
    await d.recorder.record(set, 'Normal', 'SuccessfulCreate', '', `create Claim ${claim.metadata?.name} Pod ${pod} in StatefulSet ${set.metadata?.name} success`);
  }
  return true;
}

async function createPod(d: StatefulSetDeps, set: StatefulSet, pod: Pod): Promise<void> {
  const name = pod.metadata?.name;
  try {
    await d.client.create(POD, pod);
  } catch (err) {
    // Already there: the cache is behind; the informer will show it.
    if (isReason(err, 'AlreadyExists')) return;
    await d.recorder.record(set, 'Warning', 'FailedCreate', '', `create Pod ${name} in StatefulSet ${set.metadata?.name} failed error: ${(err as Error).message}`);
    throw err;
  }
  d.log.info('pod created', { controller: COMPONENT, statefulset: objectKey(set), pod: name });
  await d.recorder.record(set, 'Normal', 'SuccessfulCreate', '', `create Pod ${name} in StatefulSet ${set.metadata?.name} successful`);
}

async function deletePod(d: StatefulSetDeps, set: StatefulSet, pod: Pod): Promise<void> {
  const name = pod.metadata?.name ?? '';
  try {
    // The uid precondition: never delete a namesake created after the pod this decision saw.
    await d.client.delete(POD, pod.metadata?.namespace ?? '', name, { preconditions: { uid: pod.metadata?.uid } });
  } catch (err) {
    if (isReason(err, 'NotFound') || isReason(err, 'Conflict')) return;
    await d.recorder.record(set, 'Warning', 'FailedDelete', '', `delete Pod ${name} in StatefulSet ${set.metadata?.name} failed error: ${(err as Error).message}`);
    throw err;
  }
  d.log.info('pod deleted', { controller: COMPONENT, statefulset: objectKey(set), pod: name });
  await d.recorder.record(set, 'Normal', 'SuccessfulDelete', '', `delete Pod ${name} in StatefulSet ${set.metadata?.name} successful`);
}

/** The statefulset controller. */
export const statefulSetController: ControllerDescriptor = {
  name: 'statefulset',
  create(ctx) {
    const sets: Informer<'statefulSet'> = ctx.informers.informer('statefulSet');
    const pods: Informer<'pod'> = ctx.informers.informer('pod', { [PODS_BY_STATEFULSET]: podsByStatefulSet });
    const claims: Informer<'persistentVolumeClaim'> = ctx.informers.informer('persistentVolumeClaim');
    const log = ctx.log.with({ controller: COMPONENT });
    const revisions = new RevisionHistory();
    const deps: StatefulSetDeps = { client: ctx.client, sets, pods, claims, recorder: ctx.recorder(COMPONENT), log, now: ctx.now, revisions };
    const loop = new ReconcileLoop({ name: COMPONENT, log, reconcile: (k) => syncStatefulSet(deps, k) });
    sets.addHandlers({
      onAdd: (s) => {
        revisions.observe(s);
        loop.enqueue(objectKey(s));
      },
      onUpdate: (o, s) => {
        revisions.observe(o);
        revisions.observe(s);
        loop.enqueue(objectKey(s));
      },
      onDelete: (s) => revisions.forget(s),
    });
    const enqueueOwner = (p: Pod): void => {
      const keys = podsByStatefulSet(p);
      if (keys.length === 0 && !controllerOf(p.metadata)) {
        // An orphan: the set it is named after may adopt it.
        const m = /^(.*)-(0|[1-9][0-9]*)$/.exec(p.metadata?.name ?? '');
        if (m && sets.get(`${p.metadata?.namespace}/${m[1]}`)) keys.push(`${p.metadata?.namespace}/${m[1]}`);
      }
      for (const k of keys) loop.enqueue(k);
    };
    pods.addHandlers({
      onAdd: enqueueOwner,
      onUpdate: (o, p) => {
        enqueueOwner(o);
        enqueueOwner(p);
      },
      onDelete: enqueueOwner,
    });
    return { run: () => loop.run() };
  },
};
