/**
 * The ReplicaSet controller (pkg/controller/replicaset/replica_set.go): keeps spec.replicas active
 * pods matching the selector, adopting matching orphans and releasing pods that stop matching;
 * creates in slow-start batches and deletes the least valuable pods first; reports replicas,
 * fullyLabeledReplicas, readyReplicas, availableReplicas and observedGeneration. Expectations keep
 * it from acting twice on one decision while the informer catches up with its own writes.
 */
import { ApiClient } from '../../lib/apiclient';
import { isReason } from '../../lib/errors';
import { EventRecorder } from '../../lib/events';
import { Pod } from '../../lib/generated/kubemu/core/v1/core';
import { ReplicaSet, ReplicaSetCondition, ReplicaSetStatus } from '../../lib/generated/kubemu/apps/v1/apps';
import { OwnerReference } from '../../lib/generated/kubemu/meta/v1/meta';
import { Informer, NAMESPACE_INDEX } from '../../lib/informer';
import { LabelSelector, labelSelectorFromMeta, labelSelectorFromSet } from '../../lib/labels';
import { Logger } from '../../lib/log';
import { resourceForCase } from '../../lib/resources';
import { formatTime } from '../../lib/time';
import { ReconcileResult } from '../../lib/workqueue';
import { ControllerContext, ControllerDescriptor } from '../context';
import { ReconcileLoop } from '../loop';
import { controllerOf, controllerRef, isPodActive, isPodAvailable, isPodReady, podFromTemplate } from '../podutil';
import { podsToDelete } from './ranking';
import { claimObjects } from './refmanager';
import { UIDTrackingExpectations } from './uid-expectations';

const RS = resourceForCase('replicaSet');
const POD = resourceForCase('pod');

/** Pods (and ReplicaSets) by the uid of their controller, so an owner finds its dependents without a scan. */
export const CONTROLLER_UID_INDEX = 'kcm:controllerUID';
export const controllerUidIndex = (o: { metadata?: { ownerReferences?: OwnerReference[] } }): string[] => {
  const uid = controllerOf(o.metadata)?.uid;
  return uid ? [uid] : [];
};

/** kube-controller-manager's burstReplicas: at most this many creations or deletions per sync. */
export const BURST_REPLICAS = 500;
/** controller.SlowStartInitialBatchSize. */
export const SLOW_START_INITIAL_BATCH_SIZE = 1;

export interface ReplicaSetListers {
  replicaSets: Pick<Informer<'replicaSet'>, 'get' | 'byIndex'>;
  pods: Pick<Informer<'pod'>, 'get' | 'byIndex'>;
}

export type ReplicaSetClient = Pick<ApiClient, 'create' | 'delete' | 'patch' | 'updateStatus' | 'get'>;

export interface ReplicaSetControllerDeps {
  listers: ReplicaSetListers;
  client: ReplicaSetClient;
  recorder: Pick<EventRecorder, 'record'>;
  log: Logger;
  now: () => number;
  /** Where a key goes to be looked at again after a delay (the loop's queue; tests may capture it). */
  enqueueAfter?: (key: string, ms: number) => void;
}

const keyOf = (o: { metadata?: { namespace?: string; name?: string } }) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/**
 * Runs `fn` `count` times, in batches of 1, 2, 4, … (controller.slowStartBatch) so that a
 * template that cannot be created (quota, admission) fails one call instead of hundreds. Stops
 * after the first batch with an error; returns how many calls succeeded and that error.
 */
export async function slowStartBatch(count: number, initialBatchSize: number, fn: () => Promise<void>): Promise<{ successes: number; error?: unknown }> {
  let remaining = count;
  let successes = 0;
  for (let batch = Math.min(remaining, initialBatchSize); batch > 0; batch = Math.min(2 * batch, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: batch }, () => fn()));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    successes += batch - failed.length;
    if (failed.length) return { successes, error: failed[0].reason };
    remaining -= batch;
  }
  return { successes };
}

/** The status a ReplicaSet should report for its pods (calculateStatus). Pure. */
export function calculateStatus(rs: ReplicaSet, filteredPods: Pod[], manageErr: unknown, now: number): ReplicaSetStatus {
  const status: ReplicaSetStatus = { ...(rs.status ?? {}), conditions: [...(rs.status?.conditions ?? [])] };
  const templateLabels = labelSelectorFromSet(rs.spec?.template?.metadata?.labels);
  let fullyLabeled = 0;
  let ready = 0;
  let available = 0;
  for (const pod of filteredPods) {
    if (templateLabels.matches(pod.metadata?.labels)) fullyLabeled++;
    if (isPodReady(pod)) {
      ready++;
      if (isPodAvailable(pod, rs.spec?.minReadySeconds ?? 0, now)) available++;
    }
  }
  const failure = status.conditions!.find((c) => c.type === 'ReplicaFailure');
  if (manageErr && !failure) {
    const diff = filteredPods.length - (rs.spec?.replicas ?? 1);
    const reason = diff < 0 ? 'FailedCreate' : diff > 0 ? 'FailedDelete' : '';
    const cond: ReplicaSetCondition = { type: 'ReplicaFailure', status: 'True', lastTransitionTime: formatTime(now), reason, message: errorMessage(manageErr) };
    status.conditions!.push(cond);
  } else if (!manageErr && failure) {
    status.conditions = status.conditions!.filter((c) => c.type !== 'ReplicaFailure');
  }
  if (status.conditions!.length === 0) status.conditions = undefined;
  status.replicas = filteredPods.length;
  status.fullyLabeledReplicas = fullyLabeled;
  status.readyReplicas = ready;
  status.availableReplicas = available;
  return status;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sameStatus(a: ReplicaSetStatus | undefined, b: ReplicaSetStatus): boolean {
  return (
    (a?.replicas ?? 0) === (b.replicas ?? 0) &&
    (a?.fullyLabeledReplicas ?? 0) === (b.fullyLabeledReplicas ?? 0) &&
    (a?.readyReplicas ?? 0) === (b.readyReplicas ?? 0) &&
    (a?.availableReplicas ?? 0) === (b.availableReplicas ?? 0) &&
    (a?.observedGeneration ?? 0) === (b.observedGeneration ?? 0) &&
    JSON.stringify(a?.conditions ?? []) === JSON.stringify(b.conditions ?? [])
  );
}

/**
 * The reconcile logic, independent of informers and queues so that unit tests drive it against
 * fake caches. Event handlers (onPod*, onReplicaSet*) return the keys to enqueue and keep the
 * expectations; reconcile(key) may be called concurrently for different keys, never for one key.
 */
export class ReplicaSetReconciler {
  readonly expectations: UIDTrackingExpectations;

  constructor(private readonly deps: ReplicaSetControllerDeps) {
    this.expectations = new UIDTrackingExpectations(deps.now);
  }

  // ---------------------------------------------------------------- handlers

  /** The ReplicaSet of `ref` in `namespace` if it is still that object (uid). */
  private resolveControllerRef(namespace: string, ref: OwnerReference | undefined): ReplicaSet | undefined {
    if (!ref || ref.kind !== 'ReplicaSet') return undefined;
    const rs = this.deps.listers.replicaSets.get(`${namespace}/${ref.name}`);
    return rs && rs.metadata?.uid === ref.uid ? rs : undefined;
  }

  /** ReplicaSets of the pod's namespace whose selector matches an orphan pod (getPodReplicaSets). */
  private replicaSetsMatching(pod: Pod): ReplicaSet[] {
    const ns = pod.metadata?.namespace ?? '';
    return this.deps.listers.replicaSets.byIndex(NAMESPACE_INDEX, ns).filter((rs) => {
      let sel: LabelSelector;
      try {
        sel = labelSelectorFromMeta(rs.spec?.selector);
      } catch {
        return false;
      }
      return !sel.isEmpty() && sel.matches(pod.metadata?.labels);
    });
  }

  onPodAdd(pod: Pod): string[] {
    if (pod.metadata?.deletionTimestamp) return this.onPodDelete(pod);
    const ref = controllerOf(pod.metadata);
    if (ref) {
      const rs = this.resolveControllerRef(pod.metadata?.namespace ?? '', ref);
      if (!rs) return [];
      const key = keyOf(rs);
      this.expectations.creationObserved(key);
      return [key];
    }
    return this.replicaSetsMatching(pod).map(keyOf);
  }

  onPodUpdate(old: Pod, cur: Pod): string[] {
    if (old.metadata?.resourceVersion === cur.metadata?.resourceVersion) return [];
    const labelsChanged = JSON.stringify(old.metadata?.labels ?? {}) !== JSON.stringify(cur.metadata?.labels ?? {});
    const keys: string[] = [];
    if (cur.metadata?.deletionTimestamp) {
      // Deleted gracefully: the deletion is observed now (the pod no longer counts as active).
      keys.push(...this.onPodDelete(cur));
      if (labelsChanged) keys.push(...this.onPodDelete(old));
      return keys;
    }
    const oldRef = controllerOf(old.metadata);
    const curRef = controllerOf(cur.metadata);
    const refChanged = JSON.stringify(oldRef ?? null) !== JSON.stringify(curRef ?? null);
    if (refChanged && oldRef) {
      const rs = this.resolveControllerRef(old.metadata?.namespace ?? '', oldRef);
      if (rs) keys.push(keyOf(rs));
    }
    if (curRef) {
      const rs = this.resolveControllerRef(cur.metadata?.namespace ?? '', curRef);
      if (!rs) return keys;
      keys.push(keyOf(rs));
      // A pod that just turned ready becomes available minReadySeconds later: look again then.
      const minReady = rs.spec?.minReadySeconds ?? 0;
      if (!isPodReady(old) && isPodReady(cur) && minReady > 0) this.deps.enqueueAfter?.(keyOf(rs), minReady * 1000);
      return keys;
    }
    if (labelsChanged || refChanged) keys.push(...this.replicaSetsMatching(cur).map(keyOf));
    return keys;
  }

  onPodDelete(pod: Pod): string[] {
    const rs = this.resolveControllerRef(pod.metadata?.namespace ?? '', controllerOf(pod.metadata));
    if (!rs) return [];
    const key = keyOf(rs);
    this.expectations.deletionObserved(key, keyOf(pod));
    return [key];
  }

  onReplicaSetDelete(rs: ReplicaSet): string[] {
    const key = keyOf(rs);
    this.expectations.delete(key);
    return [key];
  }

  // ---------------------------------------------------------------- reconcile

  /**
   * syncReplicaSet: claims pods, creates or deletes to reach spec.replicas when the expectations
   * are satisfied, writes status when it changed. Throws (so the key is retried with backoff) on
   * API errors; asks to be requeued after minReadySeconds while ready pods are not yet available.
   */
  async reconcile(key: string): Promise<ReconcileResult> {
    const { listers, log } = this.deps;
    const started = Date.now();
    const rs = listers.replicaSets.get(key);
    if (!rs) {
      this.expectations.delete(key);
      return;
    }
    const needsSync = this.expectations.satisfied(key);
    let selector: LabelSelector;
    try {
      selector = labelSelectorFromMeta(rs.spec?.selector);
    } catch (err) {
      // A selector the apiserver should have refused: retrying cannot help.
      log.error('invalid selector; not syncing', { replicaset: key, err: errorMessage(err) });
      return;
    }
    const active = listers.pods.byIndex(NAMESPACE_INDEX, rs.metadata?.namespace ?? '').filter(isPodActive);
    const filtered = await this.claimPods(rs, selector, active);

    let manageErr: unknown;
    if (needsSync && !rs.metadata?.deletionTimestamp) {
      try {
        await this.manageReplicas(key, filtered, rs);
      } catch (err) {
        manageErr = err ?? new Error('unknown error');
      }
    }
    const now = this.deps.now();
    const status = calculateStatus(rs, filtered, manageErr, now);
    const updated = await this.updateStatus(rs, status);
    log.debug('synced replicaset', { replicaset: key, durationMs: Date.now() - started });
    if (manageErr) throw manageErr;
    const replicas = updated.spec?.replicas ?? 1;
    const minReady = updated.spec?.minReadySeconds ?? 0;
    if (minReady > 0 && (updated.status?.readyReplicas ?? 0) === replicas && (updated.status?.availableReplicas ?? 0) !== replicas) {
      return { requeueAfterMs: minReady * 1000 };
    }
  }

  private async claimPods(rs: ReplicaSet, selector: LabelSelector, pods: Pod[]): Promise<Pod[]> {
    const { client } = this.deps;
    return claimObjects(pods, {
      owner: rs,
      ref: controllerRef(rs, RS.apiVersion, RS.kind),
      selector,
      canAdopt: async () => {
        // RecheckDeletionTimestamp: a quorum read, so a ReplicaSet deleted (or replaced) since the
        // cache saw it never adopts.
        const fresh = await client.get(RS, rs.metadata?.namespace ?? '', rs.metadata?.name ?? '');
        if (fresh.metadata?.uid !== rs.metadata?.uid) throw new Error(`original ReplicaSet ${keyOf(rs)} is gone: got uid ${fresh.metadata?.uid}, wanted ${rs.metadata?.uid}`);
        if (fresh.metadata?.deletionTimestamp) throw new Error(`ReplicaSet ${keyOf(rs)} has just been deleted at ${fresh.metadata.deletionTimestamp}`);
      },
      patch: async (obj, patch) => {
        await client.patch(POD, obj.metadata?.namespace ?? '', obj.metadata?.name ?? '', patch);
      },
    });
  }

  /** Pods of every ReplicaSet sharing this one's controller (getIndirectlyRelatedPods). */
  private relatedPods(rs: ReplicaSet): Pod[] {
    const { listers } = this.deps;
    const owner = controllerOf(rs.metadata);
    const family = owner
      ? listers.replicaSets.byIndex(CONTROLLER_UID_INDEX, owner.uid ?? '').filter((r) => r.metadata?.namespace === rs.metadata?.namespace)
      : [rs];
    if (!family.some((r) => r.metadata?.uid === rs.metadata?.uid)) family.push(rs);
    return family.flatMap((r) => listers.pods.byIndex(CONTROLLER_UID_INDEX, r.metadata?.uid ?? ''));
  }

  private async manageReplicas(key: string, filtered: Pod[], rs: ReplicaSet): Promise<void> {
    const { client, recorder, log } = this.deps;
    const ns = rs.metadata?.namespace ?? '';
    let diff = filtered.length - (rs.spec?.replicas ?? 1);
    if (diff < 0) {
      diff = Math.min(-diff, BURST_REPLICAS);
      // Expect before creating: the informer may show the new pods before create() returns.
      this.expectations.expectCreations(key, diff);
      log.info('too few replicas; creating', { replicaset: key, need: rs.spec?.replicas ?? 1, creating: diff });
      const ref = controllerRef(rs, RS.apiVersion, RS.kind);
      const { successes, error } = await slowStartBatch(diff, SLOW_START_INITIAL_BATCH_SIZE, async () => {
        try {
          const pod = await client.create(POD, podFromTemplate(rs.spec?.template, ns, `${rs.metadata?.name}-`, ref));
          void recorder.record(rs, 'Normal', 'SuccessfulCreate', '', `Created pod: ${pod.metadata?.name}`);
        } catch (err) {
          // A namespace being terminated refuses new pods; that is not this ReplicaSet's failure.
          if (isReason(err, 'Forbidden') && /being terminated/.test(errorMessage(err))) return;
          void recorder.record(rs, 'Warning', 'FailedCreate', '', `Error creating: ${errorMessage(err)}`);
          throw err;
        }
      });
      // The creations that were skipped or failed will never be observed.
      for (let i = successes; i < diff; i++) this.expectations.creationObserved(key);
      if (error) throw error;
      return;
    }
    if (diff > 0) {
      diff = Math.min(diff, BURST_REPLICAS);
      const victims = podsToDelete(filtered, this.relatedPods(rs), diff, this.deps.now());
      this.expectations.expectDeletions(key, victims.map(keyOf));
      log.info('too many replicas; deleting', { replicaset: key, need: rs.spec?.replicas ?? 1, deleting: diff });
      const results = await Promise.allSettled(
        victims.map(async (pod) => {
          try {
            await client.delete(POD, ns, pod.metadata?.name ?? '');
            void recorder.record(rs, 'Normal', 'SuccessfulDelete', '', `Deleted pod: ${pod.metadata?.name}`);
          } catch (err) {
            // The deletion will not be observed through this call.
            this.expectations.deletionObserved(key, keyOf(pod));
            if (isReason(err, 'NotFound')) return;
            void recorder.record(rs, 'Warning', 'FailedDelete', '', `Error deleting: ${errorMessage(err)}`);
            throw err;
          }
        }),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
  }

  /** Writes status (with observedGeneration) when it differs; one re-read on Conflict (updateReplicaSetStatus). */
  private async updateStatus(rs: ReplicaSet, status: ReplicaSetStatus): Promise<ReplicaSet> {
    const { client } = this.deps;
    status.observedGeneration = rs.metadata?.generation ?? 0;
    if (sameStatus(rs.status, status)) return rs;
    let current = rs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await client.updateStatus(RS, { ...current, status });
      } catch (err) {
        if (!isReason(err, 'Conflict') || attempt >= 1) throw err;
        current = await client.get(RS, rs.metadata?.namespace ?? '', rs.metadata?.name ?? '');
        status.observedGeneration = current.metadata?.generation ?? 0;
      }
    }
  }
}

/** The replicaset row of the controller table. */
export const replicaSetController: ControllerDescriptor = {
  name: 'replicaset',
  create(ctx: ControllerContext) {
    const log = ctx.log.with({ controller: 'replicaset' });
    const indexers = { [CONTROLLER_UID_INDEX]: controllerUidIndex };
    // The indexers are registered now, before the shared informers start; the informers
    // themselves are taken in run(): SharedInformers replaces an informer when a later controller
    // asks for more indexers, so a reference taken here could be one that never starts.
    ctx.informers.informer('replicaSet', indexers);
    ctx.informers.informer('pod', indexers);
    return {
      run: () => {
        const replicaSets = ctx.informers.informer('replicaSet', indexers);
        const pods = ctx.informers.informer('pod', indexers);
        let loop: ReconcileLoop | undefined;
        const reconciler = new ReplicaSetReconciler({
          listers: { replicaSets, pods },
          client: ctx.client,
          recorder: ctx.recorder('replicaset-controller'),
          log,
          now: ctx.now,
          enqueueAfter: (key, ms) => loop?.enqueueAfter(key, ms),
        });
        loop = new ReconcileLoop({ name: 'replicaset', reconcile: (key) => reconciler.reconcile(key), log });
        const enqueue = (keys: string[]) => keys.forEach((k) => loop!.enqueue(k));
        // Handlers added to synced informers get every cached object as an add: the initial sync.
        replicaSets.addHandlers({
          onAdd: (rs) => enqueue([keyOf(rs)]),
          onUpdate: (_old, cur) => enqueue([keyOf(cur)]),
          onDelete: (rs) => enqueue(reconciler.onReplicaSetDelete(rs)),
        });
        pods.addHandlers({
          onAdd: (pod) => enqueue(reconciler.onPodAdd(pod)),
          onUpdate: (old, cur) => enqueue(reconciler.onPodUpdate(old, cur)),
          onDelete: (pod) => enqueue(reconciler.onPodDelete(pod)),
        });
        return loop.run();
      },
    };
  },
};
