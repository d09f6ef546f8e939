/**
 * The Deployment controller (pkg/controller/deployment): a Deployment owns ReplicaSets named
 * `<deployment>-<pod-template-hash>`, one per template it has had; it rolls from the old ones to
 * the new one with the RollingUpdate (maxSurge/maxUnavailable) or Recreate strategy, scales them
 * proportionally when resized mid-rollout, keeps revisionHistoryLimit old ones, and reports
 * status and the Progressing/Available conditions that `kubectl rollout status` reads.
 */
import { ApiClient } from '../../lib/apiclient';
import { isReason } from '../../lib/errors';
import { EventRecorder } from '../../lib/events';
import { Deployment, DeploymentStatus, ReplicaSet } from '../../lib/generated/kubemu/apps/v1/apps';
import { Pod } from '../../lib/generated/kubemu/core/v1/core';
import { OwnerReference } from '../../lib/generated/kubemu/meta/v1/meta';
import { Informer, NAMESPACE_INDEX } from '../../lib/informer';
import { LabelSelector, labelSelectorFromMeta } from '../../lib/labels';
import { Logger } from '../../lib/log';
import { resourceForCase } from '../../lib/resources';
import { ReconcileResult } from '../../lib/workqueue';
import { ControllerContext, ControllerDescriptor } from '../context';
import { ReconcileLoop } from '../loop';
import { controllerOf, controllerRef } from '../podutil';
import { claimObjects } from '../replicaset/refmanager';
import { CONTROLLER_UID_INDEX, controllerUidIndex } from '../replicaset/replicaset';
import {
  activeReplicaSets,
  byCreationTimestamp,
  byRevision,
  calculateStatus,
  computeHash,
  DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY,
  deploymentComplete,
  deploymentProgressing,
  deploymentTimedOut,
  desiredReplicasAnnotation,
  equalIgnoreHash,
  FAILED_RS_CREATE_REASON,
  findActiveOrLatest,
  findNewReplicaSet,
  findOldReplicaSets,
  FOUND_NEW_RS_REASON,
  getCondition,
  hasProgressDeadline,
  hasRevisionHistoryLimit,
  isRollingUpdate,
  isSaturated,
  maxRevision,
  maxSurge,
  maxUnavailable,
  NEW_RS_AVAILABLE_REASON,
  NEW_RS_REASON,
  newCondition,
  newRSNewReplicas,
  PAUSED_DEPLOY_REASON,
  proportionalSizes,
  removeCondition,
  replicaCount,
  replicaSetToDeploymentCondition,
  replicasAnnotationsNeedUpdate,
  replicasOf,
  REVISION_ANNOTATION,
  RESUMED_DEPLOY_REASON,
  RS_UPDATED_REASON,
  rsReplicas,
  sameDeploymentStatus,
  setCondition,
  setNewReplicaSetAnnotations,
  setReplicasAnnotations,
  TIMED_OUT_REASON,
  actualReplicaCount,
  availableReplicaCount,
} from './util';

const DEPLOY = resourceForCase('deployment');
const RS = resourceForCase('replicaSet');

export interface DeploymentListers {
  deployments: Pick<Informer<'deployment'>, 'get' | 'byIndex'>;
  replicaSets: Pick<Informer<'replicaSet'>, 'get' | 'byIndex'>;
  pods: Pick<Informer<'pod'>, 'byIndex'>;
}

export type DeploymentClient = Pick<ApiClient, 'create' | 'update' | 'updateStatus' | 'patch' | 'delete' | 'get'>;

export interface DeploymentControllerDeps {
  listers: DeploymentListers;
  client: DeploymentClient;
  recorder: Pick<EventRecorder, 'record'>;
  log: Logger;
  now: () => number;
}

const keyOf = (o: { metadata?: { namespace?: string; name?: string } }) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
/** How soon a deployment whose sync waits for the echo of our own writes looks again. */
const ECHO_WAIT_RETRY_MS = 250;
/** How long a sync waits at most for the echo of one of our writes. */
const ECHO_WAIT_MAX_MS = 10_000;
/** When a rollout whose old ReplicaSets could not be scaled down is looked at again. */
const SCALE_DOWN_RETRY_MS = 1000;
const errorMessage = (err: unknown) => (err instanceof Error ? err.message : String(err));

function selectorIsEmpty(d: Deployment): boolean {
  const s = d.spec?.selector;
  if (!s) return false;
  return Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0;
}

/**
 * The reconcile logic over narrow listers and a client, so unit tests can drive it on fake
 * caches. reconcile(key) may run concurrently for different keys, never for the same key.
 */
export class DeploymentReconciler {
  /**
   * The resourceVersion of every object this controller last wrote (by `kind:namespace/name`),
   * until the informer shows it: a sync on a cache older than our own writes would only
   * conflict (or create twice), so it waits for the echo, which enqueues the deployment again.
   */
  private readonly written = new Map<string, { rv: number; at: number }>();
  /** Deployments whose old ReplicaSets could not be scaled down in this sync (a key is never synced by two workers at once). */
  private readonly scaleDownFailed = new Set<string>();

  constructor(private readonly deps: DeploymentControllerDeps) {}

  private noteWritten(kind: 'deployment' | 'replicaset', obj: { metadata?: { namespace?: string; name?: string; resourceVersion?: string } }): void {
    const rv = Number(obj.metadata?.resourceVersion ?? 0);
    if (rv > 0) this.written.set(`${kind}:${keyOf(obj)}`, { rv, at: this.deps.now() });
  }

  /** Whether the cache is behind our own last write of the object with this key (`undefined`: not cached). */
  private behindOwnWrite(kind: 'deployment' | 'replicaset', key: string, cached: { metadata?: { resourceVersion?: string } } | undefined): boolean {
    const k = `${kind}:${key}`;
    const w = this.written.get(k);
    if (w === undefined) return false;
    // An echo that never comes (the object was deleted before our write was noted, its delete
    // event handled first) must not hold the namespace's deployments forever: after a while
    // the sync goes ahead, and a stale cache costs at most a Conflict, which is retried.
    if ((cached && Number(cached.metadata?.resourceVersion ?? 0) >= w.rv) || this.deps.now() - w.at > ECHO_WAIT_MAX_MS) {
      this.written.delete(k);
      return false;
    }
    return true;
  }

  /** True when some ReplicaSet of `namespace` we wrote is not yet in the cache as written. */
  private replicaSetsBehind(namespace: string): boolean {
    const prefix = `replicaset:${namespace}/`;
    for (const k of [...this.written.keys()]) {
      if (!k.startsWith(prefix)) continue;
      const key = k.slice('replicaset:'.length);
      if (this.behindOwnWrite('replicaset', key, this.deps.listers.replicaSets.get(key))) return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- handlers

  private resolveControllerRef(namespace: string, ref: OwnerReference | undefined): Deployment | undefined {
    if (!ref || ref.kind !== 'Deployment') return undefined;
    const d = this.deps.listers.deployments.get(`${namespace}/${ref.name}`);
    return d && d.metadata?.uid === ref.uid ? d : undefined;
  }

  /** Deployments of the ReplicaSet's namespace whose selector matches an orphan ReplicaSet's labels. */
  private deploymentsMatching(rs: ReplicaSet): Deployment[] {
    return this.deps.listers.deployments.byIndex(NAMESPACE_INDEX, rs.metadata?.namespace ?? '').filter((d) => {
      try {
        const sel = labelSelectorFromMeta(d.spec?.selector);
        return !sel.isEmpty() && sel.matches(rs.metadata?.labels);
      } catch {
        return false;
      }
    });
  }

  onReplicaSetAdd(rs: ReplicaSet): string[] {
    if (rs.metadata?.deletionTimestamp) return this.onReplicaSetDelete(rs);
    const ref = controllerOf(rs.metadata);
    if (ref) {
      const d = this.resolveControllerRef(rs.metadata?.namespace ?? '', ref);
      return d ? [keyOf(d)] : [];
    }
    return this.deploymentsMatching(rs).map(keyOf);
  }

  onReplicaSetUpdate(old: ReplicaSet, cur: ReplicaSet): string[] {
    if (old.metadata?.resourceVersion === cur.metadata?.resourceVersion) return [];
    const oldRef = controllerOf(old.metadata);
    const curRef = controllerOf(cur.metadata);
    const refChanged = JSON.stringify(oldRef ?? null) !== JSON.stringify(curRef ?? null);
    const keys: string[] = [];
    if (refChanged && oldRef) {
      const d = this.resolveControllerRef(old.metadata?.namespace ?? '', oldRef);
      if (d) keys.push(keyOf(d));
    }
    if (curRef) {
      const d = this.resolveControllerRef(cur.metadata?.namespace ?? '', curRef);
      if (d) keys.push(keyOf(d));
      return keys;
    }
    const labelsChanged = JSON.stringify(old.metadata?.labels ?? {}) !== JSON.stringify(cur.metadata?.labels ?? {});
    if (labelsChanged || refChanged) keys.push(...this.deploymentsMatching(cur).map(keyOf));
    return keys;
  }

  onReplicaSetDelete(rs: ReplicaSet): string[] {
    this.written.delete(`replicaset:${keyOf(rs)}`);
    const d = this.resolveControllerRef(rs.metadata?.namespace ?? '', controllerOf(rs.metadata));
    return d ? [keyOf(d)] : [];
  }

  /** A Recreate deployment waits for its old pods to be gone: their deletion is worth a look. */
  onPodDelete(pod: Pod): string[] {
    const ns = pod.metadata?.namespace ?? '';
    const ref = controllerOf(pod.metadata);
    if (!ref || ref.kind !== 'ReplicaSet') return [];
    const rs = this.deps.listers.replicaSets.get(`${ns}/${ref.name}`);
    if (!rs || rs.metadata?.uid !== ref.uid) return [];
    const d = this.resolveControllerRef(ns, controllerOf(rs.metadata));
    return d && d.spec?.strategy?.type === 'Recreate' ? [keyOf(d)] : [];
  }

  // ---------------------------------------------------------------- reconcile

  /**
   * syncDeployment: claims ReplicaSets, then (unless deleting or paused or merely scaled) rolls
   * out with the deployment's strategy and writes status. Throws on API errors (the key is
   * retried with backoff); asks to be requeued when a progress deadline needs checking.
   */
  async reconcile(key: string): Promise<ReconcileResult> {
    const { listers, log, recorder } = this.deps;
    const cached = listers.deployments.get(key);
    if (!cached) {
      this.written.delete(`deployment:${key}`);
      return;
    }
    if (this.behindOwnWrite('deployment', key, cached) || this.replicaSetsBehind(cached.metadata?.namespace ?? '')) {
      // The echo of a ReplicaSet of another deployment of the namespace enqueues only that
      // deployment, so this one looks again by itself (it stayed half rolled out before).
      log.debug('cache behind our own writes; waiting for the informer', { deployment: key });
      return { requeueAfterMs: ECHO_WAIT_RETRY_MS };
    }
    const started = Date.now();
    const d: Deployment = structuredClone(cached);
    if (selectorIsEmpty(d)) {
      void recorder.record(d, 'Warning', 'SelectingAll', '', 'This deployment is selecting all pods. A non-empty selector is required.');
      if ((d.status?.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) {
        await this.writeStatus(d, { ...(d.status ?? {}), observedGeneration: d.metadata?.generation });
      }
      return;
    }
    let selector: LabelSelector;
    try {
      selector = labelSelectorFromMeta(d.spec?.selector);
    } catch (err) {
      log.error('invalid selector; not syncing', { deployment: key, err: errorMessage(err) });
      return;
    }
    const rsList = await this.getReplicaSetsForDeployment(d, selector);
    let result: ReconcileResult;
    if (d.metadata?.deletionTimestamp) {
      result = await this.syncStatusOnly(d, rsList);
    } else {
      await this.checkPausedConditions(d);
      if (d.spec?.paused || (await this.isScalingEvent(d, rsList))) {
        result = await this.sync(d, rsList);
      } else {
        const type = d.spec?.strategy?.type ?? 'RollingUpdate';
        if (type === 'Recreate') result = await this.rolloutRecreate(d, rsList, selector);
        else if (type === 'RollingUpdate') result = await this.rolloutRolling(d, rsList);
        else throw new Error(`unexpected deployment strategy type: ${type}`);
      }
    }
    log.debug('synced deployment', { deployment: key, durationMs: Date.now() - started });
    return result;
  }

  /** ReplicaSets of the namespace claimed for the deployment (adopting matching orphans, releasing those that stopped matching). */
  private async getReplicaSetsForDeployment(d: Deployment, selector: LabelSelector): Promise<ReplicaSet[]> {
    const { client, listers } = this.deps;
    const all = listers.replicaSets.byIndex(NAMESPACE_INDEX, d.metadata?.namespace ?? '');
    return claimObjects(all, {
      owner: d,
      ref: controllerRef(d, DEPLOY.apiVersion, DEPLOY.kind),
      selector,
      canAdopt: async () => {
        const fresh = await client.get(DEPLOY, d.metadata?.namespace ?? '', d.metadata?.name ?? '');
        if (fresh.metadata?.uid !== d.metadata?.uid) throw new Error(`original Deployment ${keyOf(d)} is gone: got uid ${fresh.metadata?.uid}, wanted ${d.metadata?.uid}`);
        if (fresh.metadata?.deletionTimestamp) throw new Error(`Deployment ${keyOf(d)} has just been deleted at ${fresh.metadata.deletionTimestamp}`);
      },
      patch: async (obj, patch) => {
        await client.patch(RS, obj.metadata?.namespace ?? '', obj.metadata?.name ?? '', patch);
      },
    });
  }

  /** Writes `status` (and remembers the new resourceVersion and status on `d`, as k8s' in-place object). */
  private async writeStatus(d: Deployment, status: DeploymentStatus): Promise<void> {
    const updated = await this.deps.client.updateStatus(DEPLOY, { ...d, status });
    this.noteWritten('deployment', updated);
    d.status = status;
    d.metadata = { ...(d.metadata ?? {}), resourceVersion: updated.metadata?.resourceVersion };
  }

  /**
   * SetDeploymentRevision. Kubernetes writes the annotation with the status (its status strategy
   * keeps metadata); kubemu's status subresource keeps only status, so it is a metadata patch.
   */
  private async syncDeploymentRevision(d: Deployment, revision: string | undefined): Promise<void> {
    if (revision === undefined || d.metadata?.annotations?.[REVISION_ANNOTATION] === revision) return;
    const updated = await this.deps.client.patch(DEPLOY, d.metadata?.namespace ?? '', d.metadata?.name ?? '', { metadata: { annotations: { [REVISION_ANNOTATION]: revision } } });
    this.noteWritten('deployment', updated);
    d.metadata = { ...(d.metadata ?? {}), annotations: { ...(d.metadata?.annotations ?? {}), [REVISION_ANNOTATION]: revision }, resourceVersion: updated.metadata?.resourceVersion };
  }

  /** checkPausedConditions: a Progressing Unknown condition when paused or resumed, so a resumed deployment does not time out at once. */
  private async checkPausedConditions(d: Deployment): Promise<void> {
    if (!hasProgressDeadline(d)) return;
    const cond = getCondition(d.status, 'Progressing');
    if (cond?.reason === TIMED_OUT_REASON) return;
    const pausedCondExists = cond?.reason === PAUSED_DEPLOY_REASON;
    const status: DeploymentStatus = { ...(d.status ?? {}), conditions: [...(d.status?.conditions ?? [])] };
    const now = this.deps.now();
    if (d.spec?.paused && !pausedCondExists) {
      setCondition(status, newCondition('Progressing', 'Unknown', PAUSED_DEPLOY_REASON, 'Deployment is paused', now));
    } else if (!d.spec?.paused && pausedCondExists) {
      setCondition(status, newCondition('Progressing', 'Unknown', RESUMED_DEPLOY_REASON, 'Deployment is resumed', now));
    } else {
      return;
    }
    await this.writeStatus(d, status);
  }

  /** isScalingEvent: an active ReplicaSet was sized for a different spec.replicas (desired-replicas annotation). */
  private async isScalingEvent(d: Deployment, rsList: ReplicaSet[]): Promise<boolean> {
    const { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(d, rsList, false);
    for (const rs of activeReplicaSets([...oldRSs, newRS])) {
      const desired = desiredReplicasAnnotation(rs);
      if (desired === undefined) continue;
      if (desired !== replicasOf(d)) return true;
    }
    return false;
  }

  private async getAllReplicaSetsAndSyncRevision(d: Deployment, rsList: ReplicaSet[], createIfNotExisted: boolean): Promise<{ newRS?: ReplicaSet; oldRSs: ReplicaSet[] }> {
    const oldRSs = findOldReplicaSets(d, rsList);
    const newRS = await this.getNewReplicaSet(d, rsList, oldRSs, createIfNotExisted);
    return { newRS, oldRSs };
  }

  /**
   * getNewReplicaSet: the ReplicaSet whose template is the deployment's, its revision raised
   * above every old one's (a rollback reuses an old ReplicaSet and bumps its revision); created
   * (`<name>-<hash>`, sized by NewRSNewReplicas) when asked and missing. Replaces the entry in
   * `rsList` with what it wrote so later steps of this sync see it.
   */
  private async getNewReplicaSet(d: Deployment, rsList: ReplicaSet[], oldRSs: ReplicaSet[], createIfNotExisted: boolean): Promise<ReplicaSet | undefined> {
    const { client, recorder, log } = this.deps;
    const existing = findNewReplicaSet(d, rsList);
    const newRevision = maxRevision(oldRSs) + 1;
    const now = this.deps.now();

    if (existing) {
      const rsCopy: ReplicaSet = structuredClone(existing);
      const annotationsUpdated = setNewReplicaSetAnnotations(d, rsCopy, newRevision, true);
      const minReadyNeedsUpdate = (rsCopy.spec?.minReadySeconds ?? 0) !== (d.spec?.minReadySeconds ?? 0);
      if (annotationsUpdated || minReadyNeedsUpdate) {
        rsCopy.spec = { ...(rsCopy.spec ?? {}), minReadySeconds: d.spec?.minReadySeconds ?? 0 };
        const updated = await client.update(RS, rsCopy);
        this.noteWritten('replicaset', updated);
        replaceIn(rsList, updated);
        return updated;
      }
      await this.syncDeploymentRevision(d, rsCopy.metadata?.annotations?.[REVISION_ANNOTATION]);
      if (hasProgressDeadline(d) && !getCondition(d.status, 'Progressing')) {
        const status: DeploymentStatus = { ...(d.status ?? {}), conditions: [...(d.status?.conditions ?? [])] };
        setCondition(status, newCondition('Progressing', 'True', FOUND_NEW_RS_REASON, `Found new replica set "${rsCopy.metadata?.name}"`, now));
        await this.writeStatus(d, status);
      }
      return rsCopy;
    }
    if (!createIfNotExisted) return undefined;

    const template = structuredClone(d.spec?.template ?? {});
    const hash = computeHash(template, d.status?.collisionCount);
    const labels = { ...(d.spec?.template?.metadata?.labels ?? {}), [DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY]: hash };
    template.metadata = { ...(template.metadata ?? {}), labels };
    const sel = d.spec?.selector ?? {};
    const name = `${d.metadata?.name}-${hash}`;
    const newRS: ReplicaSet = {
      metadata: { name, namespace: d.metadata?.namespace, ownerReferences: [controllerRef(d, DEPLOY.apiVersion, DEPLOY.kind)], labels: { ...labels } },
      spec: {
        replicas: 0,
        minReadySeconds: d.spec?.minReadySeconds ?? 0,
        selector: { matchLabels: { ...(sel.matchLabels ?? {}), [DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY]: hash }, matchExpressions: sel.matchExpressions },
        template,
      },
    };
    const count = newRSNewReplicas(d, [...oldRSs, newRS], newRS);
    newRS.spec!.replicas = count;
    setNewReplicaSetAnnotations(d, newRS, newRevision, false);

    let createdRS: ReplicaSet;
    let alreadyExists = false;
    try {
      createdRS = await client.create(RS, newRS);
      this.noteWritten('replicaset', createdRS);
    } catch (err) {
      if (isReason(err, 'AlreadyExists')) {
        alreadyExists = true;
        const rs = this.deps.listers.replicaSets.get(`${d.metadata?.namespace}/${name}`);
        if (!rs) throw err;
        const ref = controllerOf(rs.metadata);
        if (ref && ref.uid === d.metadata?.uid && equalIgnoreHash(d.spec?.template, rs.spec?.template)) {
          createdRS = rs;
        } else {
          // A hash collision: another template (or owner) holds the name. Bump collisionCount
          // and let the retry compute a different hash.
          const status = { ...(d.status ?? {}), collisionCount: (d.status?.collisionCount ?? 0) + 1 };
          try {
            await this.writeStatus(d, status);
            log.info('found a hash collision for deployment - bumping collisionCount to resolve it', { deployment: keyOf(d), collisionCount: status.collisionCount });
          } catch {
            // The retry will try again.
          }
          throw err;
        }
      } else if (isReason(err, 'Forbidden') && /being terminated/.test(errorMessage(err))) {
        throw err;
      } else {
        const msg = `Failed to create new replica set "${name}": ${errorMessage(err)}`;
        if (hasProgressDeadline(d)) {
          const status: DeploymentStatus = { ...(d.status ?? {}), conditions: [...(d.status?.conditions ?? [])] };
          setCondition(status, newCondition('Progressing', 'False', FAILED_RS_CREATE_REASON, msg, now));
          await this.writeStatus(d, status).catch(() => undefined);
        }
        void recorder.record(d, 'Warning', FAILED_RS_CREATE_REASON, '', msg);
        throw err;
      }
    }
    if (!alreadyExists) {
      rsList.push(createdRS);
      if (count > 0) void recorder.record(d, 'Normal', 'ScalingReplicaSet', '', `Scaled up replica set ${createdRS.metadata?.name} from 0 to ${count}`);
      log.info('created new replica set', { deployment: keyOf(d), replicaset: createdRS.metadata?.name, replicas: count });
    }
    await this.syncDeploymentRevision(d, String(newRevision));
    if (!alreadyExists && hasProgressDeadline(d)) {
      const status: DeploymentStatus = { ...(d.status ?? {}), conditions: [...(d.status?.conditions ?? [])] };
      setCondition(status, newCondition('Progressing', 'True', NEW_RS_REASON, `Created new replica set "${createdRS.metadata?.name}"`, now));
      await this.writeStatus(d, status);
    }
    return createdRS;
  }

  /**
   * scaleReplicaSet: sets spec.replicas and the desired/max-replicas annotations; records
   * ScalingReplicaSet when the size changed. Returns whether it scaled and the ReplicaSet as written.
   */
  private async scaleReplicaSet(rs: ReplicaSet, newScale: number, d: Deployment): Promise<{ scaled: boolean; rs: ReplicaSet }> {
    const oldScale = rsReplicas(rs);
    const sizeNeedsUpdate = oldScale !== newScale;
    const max = replicasOf(d) + maxSurge(d);
    if (!sizeNeedsUpdate && !replicasAnnotationsNeedUpdate(rs, replicasOf(d), max)) return { scaled: false, rs };
    const copy: ReplicaSet = structuredClone(rs);
    copy.spec = { ...(copy.spec ?? {}), replicas: newScale };
    setReplicasAnnotations(copy, replicasOf(d), max);
    const updated = await this.deps.client.update(RS, copy);
    this.noteWritten('replicaset', updated);
    if (sizeNeedsUpdate) {
      const op = oldScale < newScale ? 'up' : 'down';
      void this.deps.recorder.record(d, 'Normal', 'ScalingReplicaSet', '', `Scaled ${op} replica set ${updated.metadata?.name} from ${oldScale} to ${newScale}`);
    }
    return { scaled: sizeNeedsUpdate, rs: updated };
  }

  /** scaleReplicaSetAndRecordEvent: nothing when the size is already right. */
  private async scaleReplicaSetAndRecordEvent(rs: ReplicaSet, newScale: number, d: Deployment): Promise<{ scaled: boolean; rs: ReplicaSet }> {
    if (rsReplicas(rs) === newScale) return { scaled: false, rs };
    return this.scaleReplicaSet(rs, newScale, d);
  }

  /**
   * scale (sync.go): the only active ReplicaSet (or the newest) takes spec.replicas; a saturated
   * new ReplicaSet means the old ones go to 0; otherwise a rolling deployment resizes every
   * active ReplicaSet in proportion (proportionalSizes).
   */
  private async scale(d: Deployment, newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): Promise<void> {
    const only = findActiveOrLatest(newRS, oldRSs);
    if (only) {
      if (rsReplicas(only) === replicasOf(d)) return;
      await this.scaleReplicaSetAndRecordEvent(only, replicasOf(d), d);
      return;
    }
    if (isSaturated(d, newRS)) {
      for (const old of activeReplicaSets(oldRSs)) await this.scaleReplicaSetAndRecordEvent(old, 0, d);
      return;
    }
    if (isRollingUpdate(d)) {
      for (const { rs, size } of proportionalSizes(d, activeReplicaSets([...oldRSs, newRS]))) {
        await this.scaleReplicaSet(rs, size, d);
      }
    }
  }

  /** cleanupDeployment: deletes the oldest old ReplicaSets beyond revisionHistoryLimit that are empty and settled. */
  private async cleanupDeployment(oldRSs: ReplicaSet[], d: Deployment): Promise<void> {
    if (!hasRevisionHistoryLimit(d)) return;
    const cleanable = oldRSs.filter((rs) => !rs.metadata?.deletionTimestamp).sort(byRevision);
    const diff = cleanable.length - (d.spec?.revisionHistoryLimit ?? 0);
    for (let i = 0; i < diff; i++) {
      const rs = cleanable[i];
      if ((rs.status?.replicas ?? 0) !== 0 || rsReplicas(rs) !== 0 || (rs.metadata?.generation ?? 0) > (rs.status?.observedGeneration ?? 0) || rs.metadata?.deletionTimestamp) continue;
      this.deps.log.info('cleaning up old replica set', { deployment: keyOf(d), replicaset: rs.metadata?.name });
      try {
        await this.deps.client.delete(RS, rs.metadata?.namespace ?? '', rs.metadata?.name ?? '');
      } catch (err) {
        if (!isReason(err, 'NotFound')) throw err;
      }
    }
  }

  private async syncStatusOnly(d: Deployment, rsList: ReplicaSet[]): Promise<ReconcileResult> {
    const { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(d, rsList, false);
    await this.syncDeploymentStatus([...oldRSs, newRS], newRS, d);
  }

  /** sync: scaling and status only (paused deployments, resizes). */
  private async sync(d: Deployment, rsList: ReplicaSet[]): Promise<ReconcileResult> {
    const { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(d, rsList, false);
    await this.scale(d, newRS, oldRSs);
    if (d.spec?.paused) await this.cleanupDeployment(oldRSs, d);
    await this.syncDeploymentStatus([...oldRSs, newRS], newRS, d);
  }

  private async syncDeploymentStatus(allRSs: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined, d: Deployment): Promise<void> {
    const status = calculateStatus(allRSs, newRS, d, this.deps.now());
    if (sameDeploymentStatus(d.status, status)) return;
    await this.writeStatus(d, status);
  }

  // ---------------------------------------------------------------- RollingUpdate

  private async rolloutRolling(d: Deployment, rsList: ReplicaSet[]): Promise<ReconcileResult> {
    const got = await this.getAllReplicaSetsAndSyncRevision(d, rsList, true);
    const newRS = got.newRS!;
    const oldRSs = got.oldRSs;
    const allRSs = [...oldRSs, newRS];
    if (await this.reconcileNewReplicaSet(allRSs, newRS, d)) return this.syncRolloutStatus(allRSs, newRS, d);
    const key = keyOf(d);
    this.scaleDownFailed.delete(key);
    if (await this.reconcileOldReplicaSets(allRSs, activeReplicaSets(oldRSs), newRS, d)) return this.syncRolloutStatus(allRSs, newRS, d);
    if (this.scaleDownFailed.delete(key)) {
      // Kubernetes drops this error and counts on a later ReplicaSet or pod event to sync again;
      // after a controller-manager failover none may come (the new ReplicaSet already reported
      // every replica ready), and the rollout stayed half done. So the key is looked at again.
      const result = await this.syncRolloutStatus(allRSs, newRS, d);
      return { requeueAfterMs: Math.min(typeof result === 'object' ? result.requeueAfterMs : Infinity, SCALE_DOWN_RETRY_MS) };
    }
    if (deploymentComplete(d, d.status ?? {})) await this.cleanupDeployment(oldRSs, d);
    return this.syncRolloutStatus(allRSs, newRS, d);
  }

  /** reconcileNewReplicaSet: scale the new ReplicaSet down to spec.replicas, or up as far as maxSurge allows. */
  async reconcileNewReplicaSet(allRSs: ReplicaSet[], newRS: ReplicaSet, d: Deployment): Promise<boolean> {
    const replicas = replicasOf(d);
    if (rsReplicas(newRS) === replicas) return false;
    if (rsReplicas(newRS) > replicas) return (await this.scaleReplicaSetAndRecordEvent(newRS, replicas, d)).scaled;
    const count = newRSNewReplicas(d, allRSs, newRS);
    return (await this.scaleReplicaSetAndRecordEvent(newRS, count, d)).scaled;
  }

  /**
   * reconcileOldReplicaSets: scale old ReplicaSets down by at most
   * allPods - (spec.replicas - maxUnavailable) - unavailable pods of the new ReplicaSet,
   * unhealthy replicas first (cleanupUnhealthyReplicas), then while availability allows.
   */
  async reconcileOldReplicaSets(allRSs: ReplicaSet[], oldRSs: ReplicaSet[], newRS: ReplicaSet, d: Deployment): Promise<boolean> {
    if (replicaCount(oldRSs) === 0) return false;
    const allPods = replicaCount(allRSs);
    const minAvailable = replicasOf(d) - maxUnavailable(d);
    const newRSUnavailable = rsReplicas(newRS) - (newRS.status?.availableReplicas ?? 0);
    const maxScaledDown = allPods - minAvailable - newRSUnavailable;
    if (maxScaledDown <= 0) return false;
    let cleaned: { oldRSs: ReplicaSet[]; count: number };
    try {
      cleaned = await this.cleanupUnhealthyReplicas(oldRSs, d, maxScaledDown);
    } catch (err) {
      // As Kubernetes: logged, and the next sync tries again (rolloutRolling makes sure there is one).
      this.deps.log.warn('cleaning up unhealthy replicas failed', { deployment: keyOf(d), err: errorMessage(err) });
      this.scaleDownFailed.add(keyOf(d));
      return false;
    }
    let scaledDown = 0;
    try {
      scaledDown = await this.scaleDownOldReplicaSetsForRollingUpdate([...cleaned.oldRSs, newRS], cleaned.oldRSs, d);
    } catch (err) {
      this.deps.log.warn('scaling down old replica sets failed', { deployment: keyOf(d), err: errorMessage(err) });
      this.scaleDownFailed.add(keyOf(d));
      return false;
    }
    return cleaned.count + scaledDown > 0;
  }

  /** cleanupUnhealthyReplicas: removes old replicas that are not available (oldest ReplicaSets first), up to maxCleanupCount. */
  async cleanupUnhealthyReplicas(oldRSs: ReplicaSet[], d: Deployment, maxCleanupCount: number): Promise<{ oldRSs: ReplicaSet[]; count: number }> {
    const sorted = [...oldRSs].sort(byCreationTimestamp);
    let total = 0;
    for (let i = 0; i < sorted.length; i++) {
      if (total >= maxCleanupCount) break;
      const rs = sorted[i];
      const replicas = rsReplicas(rs);
      const available = rs.status?.availableReplicas ?? 0;
      if (replicas === 0 || replicas === available) continue;
      const count = Math.min(maxCleanupCount - total, replicas - available);
      const next = replicas - count;
      if (next > replicas) throw new Error(`when cleaning up unhealthy replicas, got invalid request to scale down ${keyOf(rs)} ${replicas} -> ${next}`);
      const { rs: updated } = await this.scaleReplicaSetAndRecordEvent(rs, next, d);
      total += count;
      sorted[i] = updated;
    }
    return { oldRSs: sorted, count: total };
  }

  /** scaleDownOldReplicaSetsForRollingUpdate: scale old ReplicaSets (oldest first) down by available - minAvailable. */
  async scaleDownOldReplicaSetsForRollingUpdate(allRSs: ReplicaSet[], oldRSs: ReplicaSet[], d: Deployment): Promise<number> {
    const minAvailable = replicasOf(d) - maxUnavailable(d);
    const available = availableReplicaCount(allRSs);
    if (available <= minAvailable) return 0;
    const total = available - minAvailable;
    let scaled = 0;
    for (const rs of [...oldRSs].sort(byCreationTimestamp)) {
      if (scaled >= total) break;
      if (rsReplicas(rs) === 0) continue;
      const count = Math.min(rsReplicas(rs), total - scaled);
      await this.scaleReplicaSetAndRecordEvent(rs, rsReplicas(rs) - count, d);
      scaled += count;
    }
    return scaled;
  }

  // ---------------------------------------------------------------- Recreate

  private async rolloutRecreate(d: Deployment, rsList: ReplicaSet[], selector: LabelSelector): Promise<ReconcileResult> {
    let { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(d, rsList, false);
    let allRSs = [...oldRSs, newRS];
    let scaledDown = false;
    for (const rs of activeReplicaSets(oldRSs)) {
      if ((await this.scaleReplicaSetAndRecordEvent(rs, 0, d)).scaled) scaledDown = true;
    }
    if (scaledDown) return this.syncRolloutStatus(allRSs, newRS, d);
    if (this.oldPodsRunning(newRS, oldRSs, selector)) return this.syncRolloutStatus(allRSs, newRS, d);
    if (!newRS) {
      ({ newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(d, rsList, true));
      allRSs = [...oldRSs, newRS];
    }
    await this.scaleReplicaSetAndRecordEvent(newRS!, replicasOf(d), d);
    if (deploymentComplete(d, d.status ?? {})) await this.cleanupDeployment(oldRSs, d);
    return this.syncRolloutStatus(allRSs, newRS, d);
  }

  /** oldPodsRunning: old ReplicaSets still report pods, or a pod of one is not finished. */
  private oldPodsRunning(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[], selector: LabelSelector): boolean {
    if (actualReplicaCount(oldRSs) > 0) return true;
    for (const rs of oldRSs) {
      if (newRS && rs.metadata?.uid === newRS.metadata?.uid) continue;
      for (const pod of this.deps.listers.pods.byIndex(CONTROLLER_UID_INDEX, rs.metadata?.uid ?? '')) {
        if (pod.metadata?.namespace !== rs.metadata?.namespace || !selector.matches(pod.metadata?.labels)) continue;
        const phase = pod.status?.phase;
        if (phase === 'Failed' || phase === 'Succeeded') continue;
        return true;
      }
    }
    return false;
  }

  // ---------------------------------------------------------------- progress

  /**
   * syncRolloutStatus (progress.go): status plus the Progressing condition (NewReplicaSetAvailable
   * when complete, ReplicaSetUpdated while progressing, ProgressDeadlineExceeded after
   * progressDeadlineSeconds without progress) and ReplicaFailure from the ReplicaSets. When
   * nothing changed and the rollout is neither complete nor timed out, asks to look again when
   * the deadline would pass.
   */
  async syncRolloutStatus(allRSs: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined, d: Deployment): Promise<ReconcileResult> {
    const now = this.deps.now();
    const status = calculateStatus(allRSs, newRS, d, now);
    if (!hasProgressDeadline(d)) removeCondition(status, 'Progressing');
    const current = getCondition(d.status, 'Progressing');
    const isComplete = status.replicas === status.updatedReplicas && current?.reason === NEW_RS_AVAILABLE_REASON;
    if (hasProgressDeadline(d) && !isComplete) {
      const name = newRS?.metadata?.name;
      if (deploymentComplete(d, status)) {
        const msg = name ? `ReplicaSet "${name}" has successfully progressed.` : `Deployment "${d.metadata?.name}" has successfully progressed.`;
        setCondition(status, newCondition('Progressing', 'True', NEW_RS_AVAILABLE_REASON, msg, now));
      } else if (deploymentProgressing(d, status)) {
        const msg = name ? `ReplicaSet "${name}" is progressing.` : `Deployment "${d.metadata?.name}" is progressing.`;
        const cond = newCondition('Progressing', 'True', RS_UPDATED_REASON, msg, now);
        // Progress refreshes lastUpdateTime even with the same reason (SetDeploymentCondition would not).
        if (current) {
          if (current.status === 'True') cond.lastTransitionTime = current.lastTransitionTime;
          removeCondition(status, 'Progressing');
        }
        setCondition(status, cond);
      } else if (deploymentTimedOut(d, status, now)) {
        const msg = name ? `ReplicaSet "${name}" has timed out progressing.` : `Deployment "${d.metadata?.name}" has timed out progressing.`;
        setCondition(status, newCondition('Progressing', 'False', TIMED_OUT_REASON, msg, now));
      }
    }
    const failures = replicaFailures(allRSs, newRS);
    if (failures.length) setCondition(status, failures[0]);
    else removeCondition(status, 'ReplicaFailure');
    if ((status.conditions ?? []).length === 0) status.conditions = undefined;

    if (sameDeploymentStatus(d.status, status)) return this.requeueStuckDeployment(d, status, now);
    await this.writeStatus(d, status);
  }

  /** requeueStuckDeployment: when to look again for a progress deadline (lastUpdateTime + deadline - now, plus a second). */
  private requeueStuckDeployment(d: Deployment, status: DeploymentStatus, now: number): ReconcileResult {
    const current = getCondition(d.status, 'Progressing');
    if (!hasProgressDeadline(d) || !current) return;
    if (deploymentComplete(d, status) || current.reason === TIMED_OUT_REASON) return;
    const last = current.lastUpdateTime ? Date.parse(current.lastUpdateTime) : now;
    const after = last + (d.spec?.progressDeadlineSeconds ?? 0) * 1000 - now;
    return { requeueAfterMs: Math.max(after, 0) + 1000 };
  }
}

/** getReplicaFailures: the new ReplicaSet's ReplicaFailure conditions, else the old ones'. */
function replicaFailures(allRSs: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined) {
  const of = (rs: ReplicaSet | undefined) => (rs?.status?.conditions ?? []).filter((c) => c.type === 'ReplicaFailure').map(replicaSetToDeploymentCondition);
  const fromNew = of(newRS);
  if (fromNew.length) return fromNew;
  return allRSs.flatMap(of);
}

function replaceIn(list: ReplicaSet[], rs: ReplicaSet): void {
  const i = list.findIndex((x) => x.metadata?.uid === rs.metadata?.uid);
  if (i >= 0) list[i] = rs;
  else list.push(rs);
}

/** The deployment row of the controller table. */
export const deploymentController: ControllerDescriptor = {
  name: 'deployment',
  create(ctx: ControllerContext) {
    const log = ctx.log.with({ controller: 'deployment' });
    const indexers = { [CONTROLLER_UID_INDEX]: controllerUidIndex };
    // Indexers registered before start; informers taken in run() (see the replicaset controller:
    // SharedInformers may replace an informer when a later controller adds indexers).
    ctx.informers.informer('deployment');
    ctx.informers.informer('replicaSet', indexers);
    ctx.informers.informer('pod', indexers);
    return {
      run: () => {
        const deployments = ctx.informers.informer('deployment');
        const replicaSets = ctx.informers.informer('replicaSet', indexers);
        const pods = ctx.informers.informer('pod', indexers);
        const reconciler = new DeploymentReconciler({ listers: { deployments, replicaSets, pods }, client: ctx.client, recorder: ctx.recorder('deployment-controller'), log, now: ctx.now });
        const loop = new ReconcileLoop({ name: 'deployment', reconcile: (key) => reconciler.reconcile(key), log });
        const enqueue = (keys: string[]) => keys.forEach((k) => loop.enqueue(k));
        deployments.addHandlers({
          onAdd: (d) => enqueue([keyOf(d)]),
          onUpdate: (_old, cur) => enqueue([keyOf(cur)]),
          onDelete: (d) => enqueue([keyOf(d)]),
        });
        replicaSets.addHandlers({
          onAdd: (rs) => enqueue(reconciler.onReplicaSetAdd(rs)),
          onUpdate: (old, cur) => enqueue(reconciler.onReplicaSetUpdate(old, cur)),
          onDelete: (rs) => enqueue(reconciler.onReplicaSetDelete(rs)),
        });
        pods.addHandlers({ onDelete: (pod) => enqueue(reconciler.onPodDelete(pod)) });
        return loop.run();
      },
    };
  },
};
