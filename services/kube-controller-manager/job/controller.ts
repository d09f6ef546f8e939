/**
 * The Job controller (pkg/controller/job/job_controller.go, Kubernetes 1.32): runs pods of a Job
 * until `completions` of them succeeded (or, without completions, until one succeeded and the rest
 * finished), at most `parallelism` at a time, replacing failed pods after a growing backoff until
 * failures exceed backoffLimit or the Job ran longer than activeDeadlineSeconds. Indexed Jobs give
 * each pod a completion index. Pods carry the batch.kubernetes.io/job-tracking finalizer so that a
 * finished or deleted pod is counted before it can disappear: finished pods are first recorded in
 * status.uncountedTerminatedPods, then their finalizer is removed, then they move to the counters.
 * A finishing Job first gets the interim SuccessCriteriaMet / FailureTarget condition and only
 * gets Complete / Failed once none of its pods is terminating any more.
 */
import { ApiClient } from '../../lib/apiclient';
import { Timings } from '../../lib/config';
import { isReason } from '../../lib/errors';
import { EventRecorder } from '../../lib/events';
import { Job, JobCondition, JobStatus } from '../../lib/generated/kubemu/batch/v1/batch';
import { EnvVar, Pod, PodTemplateSpec } from '../../lib/generated/kubemu/core/v1/core';
import { Informer, NAMESPACE_INDEX } from '../../lib/informer';
import { Logger } from '../../lib/log';
import { objectKey, resourceForCase } from '../../lib/resources';
import { formatTime } from '../../lib/time';
import { ReconcileResult } from '../../lib/workqueue';
import { ControllerContext, ControllerDescriptor } from '../context';
import { ControllerExpectations } from '../expectations';
import { ReconcileLoop } from '../loop';
import { controllerOf, controllerRef, isPodActive, isPodReady, podFromTemplate } from '../podutil';
import { backoffRemainingMs, BackoffRecord, nextBackoffRecord } from './backoff';
import {
  completionIndexOf,
  firstPendingIndexes,
  formatIntervals,
  Interval,
  intervalsHas,
  intervalsTotal,
  JOB_COMPLETION_INDEX_ANNOTATION,
  JOB_COMPLETION_INDEX_ENV,
  parseIndexesFromString,
  UNKNOWN_COMPLETION_INDEX,
  withIndexes,
} from './indexes';

const POD = resourceForCase('pod');
const JOB = resourceForCase('job');

export const JOB_TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';
/** Work-queue keys of orphaned pods that still carry the tracking finalizer. */
const ORPHAN_POD_PREFIX = 'pod:';
/** At most this many pods are created or deleted in one sync (MaxPodCreateDeletePerSync). */
export const MAX_POD_CREATE_DELETE_PER_SYNC = 500;
/** At most this many pods are in status.uncountedTerminatedPods at once (MaxUncountedPods). */
export const MAX_UNCOUNTED_PODS = 500;
const SLOW_START_INITIAL_BATCH_SIZE = 1;

/** The pods of `namespace` that the Job of `uid` controls (as Kubernetes: the namespace's pods, filtered by controllerRef). */
export function podsControlledBy(pods: Pick<Informer<'pod'>, 'byIndex'>, namespace: string, uid: string): Pod[] {
  return pods.byIndex(NAMESPACE_INDEX, namespace).filter((p) => {
    const ref = controllerOf(p.metadata);
    return ref?.kind === 'Job' && ref.uid === uid;
  });
}

/** Whether the Job has a Complete or Failed condition that is True (util.IsJobFinished). */
export function isJobFinished(job: Job): boolean {
  return (job.status?.conditions ?? []).some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
}

/** When the Job finished: the lastTransitionTime of its Complete or Failed condition (ms), if finished. */
export function jobFinishTime(job: Job): number | undefined {
  const c = (job.status?.conditions ?? []).find((x) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True');
  if (!c) return undefined;
  const t = Date.parse(c.lastTransitionTime ?? '');
  return Number.isFinite(t) ? t : undefined;
}

function hasFinalizer(pod: Pod): boolean {
  return (pod.metadata?.finalizers ?? []).includes(JOB_TRACKING_FINALIZER);
}

function isIndexed(job: Job): boolean {
  return job.spec?.completionMode === 'Indexed';
}

function isSuspended(job: Job): boolean {
  return job.spec?.suspend === true;
}

/** Whether a pod counts as failed (isPodFailed): phase Failed, or deleted before succeeding (policy TerminatingOrFailed). */
function isPodFailed(pod: Pod, job: Job): boolean {
  if (pod.status?.phase === 'Failed') return true;
  if (job.spec?.podReplacementPolicy === 'Failed') return false;
  return !!pod.metadata?.deletionTimestamp && pod.status?.phase !== 'Succeeded';
}

/** Deleted but not finished (controller.CountTerminatingPods). */
function isTerminating(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return !!pod.metadata?.deletionTimestamp && phase !== 'Failed' && phase !== 'Succeeded';
}

function condition(type: string, status: string, reason: string, message: string, now: number): JobCondition {
  const at = formatTime(now);
  return { type, status, reason, message, lastProbeTime: at, lastTransitionTime: at };
}

/**
 * Sets a condition of `type` to `status` (ensureJobConditionStatus): an existing one is updated
 * (transition time only when its status changes), a missing one is added unless it would be False.
 * Returns whether anything changed.
 */
function ensureCondition(status: JobStatus, type: string, value: string, reason: string, message: string, now: number): boolean {
  const conds = (status.conditions ??= []);
  const existing = conds.find((c) => c.type === type);
  if (existing) {
    if (existing.status === value && existing.reason === reason && existing.message === message) return false;
    if (existing.status !== value) existing.lastTransitionTime = formatTime(now);
    existing.status = value;
    existing.reason = reason;
    existing.message = message;
    existing.lastProbeTime = formatTime(now);
    return true;
  }
  if (value === 'False') return false;
  conds.push(condition(type, value, reason, message, now));
  return true;
}

function findCondition(job: Job, type: string): JobCondition | undefined {
  return (job.status?.conditions ?? []).find((c) => c.type === type && c.status === 'True');
}

/**
 * Pods in the order they should be deleted when there are too many (controller.ActivePods):
 * unscheduled before scheduled, pending before running, not ready before ready, newer first.
 */
function removalOrder(a: Pod, b: Pod): number {
  const scheduled = (p: Pod) => (p.spec?.nodeName ? 1 : 0);
  const phaseRank = (p: Pod) => (p.status?.phase === 'Pending' || !p.status?.phase ? 0 : p.status.phase === 'Running' ? 2 : 1);
  const ready = (p: Pod) => (isPodReady(p) ? 1 : 0);
  const created = (p: Pod) => Date.parse(p.metadata?.creationTimestamp ?? '') || 0;
  return scheduled(a) - scheduled(b) || phaseRank(a) - phaseRank(b) || ready(a) - ready(b) || created(b) - created(a);
}

/** The pod template with JOB_COMPLETION_INDEX set from the index annotation in every container (addCompletionIndexEnvVariables). */
function withCompletionIndexEnv(template: PodTemplateSpec): void {
  const env: EnvVar = { name: JOB_COMPLETION_INDEX_ENV, valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${JOB_COMPLETION_INDEX_ANNOTATION}']` } } };
  for (const c of [...(template.spec?.initContainers ?? []), ...(template.spec?.containers ?? [])]) {
    if ((c.env ?? []).some((e) => e.name === JOB_COMPLETION_INDEX_ENV)) continue;
    c.env = [...(c.env ?? []), JSON.parse(JSON.stringify(env)) as EnvVar];
  }
}

/** `<job>-<index>-`, the job name cut so that the generated name fits 63 characters (podGenerateNameWithIndex). */
export function podGenerateNameWithIndex(jobName: string, index: number): string {
  const suffix = `-${index}-`;
  const max = 58;
  return (jobName + suffix).length > max ? jobName.slice(0, max - suffix.length) + suffix : jobName + suffix;
}

/** What reconcile reads and acts through; narrow so unit tests can fake it. */
export interface JobControllerDeps {
  jobs: Pick<Informer<'job'>, 'get'>;
  pods: Pick<Informer<'pod'>, 'get' | 'byIndex'>;
  client: Pick<ApiClient, 'create' | 'delete' | 'patch' | 'updateStatus'>;
  recorder: Pick<EventRecorder, 'record'>;
  timings: Pick<Timings, 'crashLoopBackoffInitialSeconds' | 'crashLoopBackoffMaxSeconds'>;
  log: Logger;
  now(): number;
}

/** One sync's view of a Job (syncJobCtx). */
interface SyncCtx {
  job: Job;
  pods: Pod[];
  active: Pod[];
  ready: number;
  terminating: number;
  succeeded: number;
  failed: number;
  uncountedSucceeded: Set<string>;
  uncountedFailed: Set<string>;
  expectedRmFinalizers: Set<string>;
  finishedCondition?: JobCondition;
  prevSucceededIndexes: Interval[];
  succeededIndexes: Interval[];
  backoff: BackoffRecord;
  requeueAfterMs?: number;
}

/**
 * The Job controller's state and reconcile. Handlers (wired by the descriptor) call the on*
 * methods; reconcile(key) may run concurrently for different keys, never for the same key.
 */
export class JobController {
  readonly expectations: ControllerExpectations;
  /** Pod uids per Job key whose finalizer removal was sent but not yet seen (uidTrackingExpectations). */
  private readonly finalizerExpectations = new Map<string, Set<string>>();
  private readonly backoffs = new Map<string, BackoffRecord>();

  constructor(private readonly d: JobControllerDeps) {
    this.expectations = new ControllerExpectations(d.now);
  }

  /** The Job key a pod belongs to, if a Job controls it. */
  static jobKeyOf(pod: Pod): string | undefined {
    const ref = controllerOf(pod.metadata);
    if (!ref || ref.kind !== 'Job' || !ref.name) return undefined;
    return `${pod.metadata?.namespace ?? ''}/${ref.name}`;
  }

  onPodAdd(pod: Pod): string | undefined {
    const key = JobController.jobKeyOf(pod);
    if (!key) return undefined;
    if (pod.metadata?.deletionTimestamp) this.expectations.deletionObserved(key);
    else this.expectations.creationObserved(key);
    return key;
  }

  onPodUpdate(old: Pod, pod: Pod): string | undefined {
    const key = JobController.jobKeyOf(pod) ?? JobController.jobKeyOf(old);
    if (!key) return undefined;
    if (pod.metadata?.deletionTimestamp && !old.metadata?.deletionTimestamp) this.expectations.deletionObserved(key);
    // Only the absence of the finalizer proves that a removal we sent was applied.
    if (!hasFinalizer(pod)) this.finalizerRemovalObserved(key, pod.metadata?.uid ?? '');
    return key;
  }

  onPodDelete(pod: Pod): string | undefined {
    const key = JobController.jobKeyOf(pod);
    if (!key) return undefined;
    // A pod deleted without passing through a deletionTimestamp we saw is a deletion we may expect.
    this.expectations.deletionObserved(key);
    this.finalizerRemovalObserved(key, pod.metadata?.uid ?? '');
    return key;
  }

  /**
   * Keys for a pod event: its Job's key, plus `pod:<ns>/<name>` when the pod carries the tracking
   * finalizer but no Job of its uid exists to remove it (deleted Job, released pod).
   */
  keysFor(pod: Pod, jobKey: string | undefined): string[] {
    const keys = jobKey ? [jobKey] : [];
    if (hasFinalizer(pod)) {
      const ref = controllerOf(pod.metadata);
      const job = jobKey ? this.d.jobs.get(jobKey) : undefined;
      if (!ref || ref.kind !== 'Job' || !job || job.metadata?.uid !== ref.uid) keys.push(`${ORPHAN_POD_PREFIX}${objectKey(pod)}`);
    }
    return keys;
  }

  private finalizerRemovalObserved(key: string, uid: string): void {
    const set = this.finalizerExpectations.get(key);
    if (!set) return;
    set.delete(uid);
    if (set.size === 0) this.finalizerExpectations.delete(key);
  }

  /**
   * Brings the Job `key` (namespace/name) one step closer to its spec (syncJob). Throws on API
   * errors (the loop retries with backoff); returns a requeue delay when a deadline or the pod
   * failure backoff needs a later look.
   */
  async reconcile(key: string): Promise<ReconcileResult> {
    if (key.startsWith(ORPHAN_POD_PREFIX)) return this.reconcileOrphanPod(key.slice(ORPHAN_POD_PREFIX.length));
    const shared = this.d.jobs.get(key);
    if (!shared) {
      this.expectations.delete(key);
      this.finalizerExpectations.delete(key);
      this.backoffs.delete(key);
      return;
    }
    if (isJobFinished(shared)) {
      this.backoffs.delete(key);
      // Pods a finished Job still holds (e.g. they finished after it) must not be kept forever.
      const inFlight = this.finalizerExpectations.get(key);
      const { err } = await this.removeFinalizers(
        key,
        this.podsOf(shared).filter((p) => hasFinalizer(p) && !inFlight?.has(p.metadata?.uid ?? '')),
      );
      if (err) throw err;
      return;
    }
    const mode = shared.spec?.completionMode ?? 'NonIndexed';
    if (mode !== 'NonIndexed' && mode !== 'Indexed') {
      void this.d.recorder.record(shared, 'Warning', 'UnknownCompletionMode', '', 'Skipped Job sync because completion mode is unknown');
      return;
    }
    const job: Job = JSON.parse(JSON.stringify(shared));
    const status = (job.status ??= {});
    status.uncountedTerminatedPods ??= {};
    status.uncountedTerminatedPods.succeeded ??= [];
    status.uncountedTerminatedPods.failed ??= [];
    const now = this.d.now();
    // Checked before the pods are read, so a pod created meanwhile cannot sneak past it.
    const satisfied = this.expectations.satisfied(key);
    const pods = this.podsOf(job);
    const active = pods.filter(isPodActive);
    const ctx: SyncCtx = {
      job,
      pods,
      active,
      ready: active.filter(isPodReady).length,
      terminating: pods.filter(isTerminating).length,
      succeeded: 0,
      failed: 0,
      uncountedSucceeded: new Set(status.uncountedTerminatedPods.succeeded),
      uncountedFailed: new Set(status.uncountedTerminatedPods.failed),
      expectedRmFinalizers: new Set(this.finalizerExpectations.get(key) ?? []),
      prevSucceededIndexes: [],
      succeededIndexes: [],
      backoff: { failuresAfterLastSuccess: 0 },
    };
    let activeCount = active.length;
    const newSucceeded = this.newFinishedPods(ctx, ctx.uncountedSucceeded, (p) => p.status?.phase === 'Succeeded');
    const newFailed = this.newFinishedPods(ctx, ctx.uncountedFailed, (p) => isPodFailed(p, job));
    ctx.succeeded = (status.succeeded ?? 0) + newSucceeded.length + ctx.uncountedSucceeded.size;
    ctx.failed = (status.failed ?? 0) + newFailed.length + ctx.uncountedFailed.size;

    if (!status.startTime && !isSuspended(job)) status.startTime = formatTime(now);
    ctx.backoff = nextBackoffRecord(this.backoffs.get(key), newSucceeded, newFailed, now);

    const backoffLimit = job.spec?.backoffLimit ?? 6;
    ctx.finishedCondition = findCondition(job, 'SuccessCriteriaMet');
    if (!ctx.finishedCondition) {
      const target = findCondition(job, 'FailureTarget');
      if (target) ctx.finishedCondition = condition('Failed', 'True', target.reason ?? '', target.message ?? '', now);
    }
    if (!ctx.finishedCondition) {
      if (ctx.failed > backoffLimit || this.pastBackoffLimitOnFailure(job, pods)) {
        ctx.finishedCondition = condition('FailureTarget', 'True', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit', now);
      } else if (this.pastActiveDeadline(job, now)) {
        ctx.finishedCondition = condition('FailureTarget', 'True', 'DeadlineExceeded', 'Job was active longer than specified deadline', now);
      } else if (job.spec?.activeDeadlineSeconds !== undefined && !isSuspended(job)) {
        const started = Date.parse(status.startTime ?? '');
        ctx.requeueAfterMs = Math.max(0, started + Number(job.spec.activeDeadlineSeconds) * 1000 - now);
      }
    }
    const completions = job.spec?.completions;
    if (isIndexed(job)) {
      ctx.prevSucceededIndexes = parseIndexesFromString(status.completedIndexes, completions ?? 0);
      const fromPods = pods
        .filter((p) => p.status?.phase === 'Succeeded')
        .map(completionIndexOf)
        .filter((ix) => ix !== UNKNOWN_COMPLETION_INDEX && ix < (completions ?? 0));
      ctx.succeededIndexes = withIndexes(ctx.prevSucceededIndexes, fromPods);
      ctx.succeeded = intervalsTotal(ctx.succeededIndexes);
    }

    let suspendChanged = false;
    let manageErr: unknown;
    if (ctx.finishedCondition) {
      const { deleted, deletedReady, err } = await this.deleteActivePods(job, active);
      // Not finished while pods may remain that the cache does not show yet.
      if (deleted !== active.length || !satisfied) ctx.finishedCondition = undefined;
      activeCount -= deleted;
      ctx.terminating += deleted;
      ctx.ready -= deletedReady;
      manageErr = err;
    } else {
      let manageCalled = false;
      if (satisfied && !job.metadata?.deletionTimestamp) {
        const r = await this.manageJob(key, ctx);
        activeCount = r.active;
        manageErr = r.err;
        manageCalled = true;
      }
      const complete =
        completions === undefined ? ctx.succeeded > 0 && activeCount === 0 : ctx.succeeded >= completions && activeCount === 0;
      if (complete) {
        ctx.finishedCondition = condition('SuccessCriteriaMet', 'True', 'CompletionsReached', 'Reached expected number of succeeded pods', now);
      } else if (manageCalled) {
        if (isSuspended(job)) {
          if (ensureCondition(status, 'Suspended', 'True', 'JobSuspended', 'Job suspended', now)) {
            suspendChanged = true;
            void this.d.recorder.record(job, 'Normal', 'Suspended', '', 'Job suspended');
          }
        } else if (ensureCondition(status, 'Suspended', 'False', 'JobResumed', 'Job resumed', now)) {
          suspendChanged = true;
          void this.d.recorder.record(job, 'Normal', 'Resumed', '', 'Job resumed');
          // activeDeadlineSeconds counts the time a Job is continuously active.
          status.startTime = formatTime(now);
        }
      }
    }
    const needsUpdate =
      suspendChanged || activeCount !== (status.active ?? 0) || ctx.ready !== status.ready || ctx.terminating !== status.terminating || status.startTime !== shared.status?.startTime;
    status.active = activeCount;
    status.ready = ctx.ready;
    status.terminating = ctx.terminating;
    await this.trackStatusAndRemoveFinalizers(key, ctx, needsUpdate);
    if (manageErr) throw manageErr;
    return ctx.requeueAfterMs !== undefined ? { requeueAfterMs: ctx.requeueAfterMs } : undefined;
  }

  /** A pod with the tracking finalizer whose Job is gone (or never was) loses the finalizer: nobody is left to count it. */
  private async reconcileOrphanPod(podKey: string): Promise<void> {
    const pod = this.d.pods.get(podKey);
    if (!pod || !hasFinalizer(pod)) return;
    const ref = controllerOf(pod.metadata);
    if (ref?.kind === 'Job') {
      const job = this.d.jobs.get(`${pod.metadata?.namespace ?? ''}/${ref.name}`);
      if (job && job.metadata?.uid === ref.uid) return;
    }
    try {
      await this.patchOutFinalizer(pod);
    } catch (err) {
      if (!isReason(err, 'NotFound')) throw err;
    }
  }

  private podsOf(job: Job): Pod[] {
    const uid = job.metadata?.uid;
    return uid ? podsControlledBy(this.d.pods, job.metadata?.namespace ?? '', uid) : [];
  }

  /** Finished pods not yet counted: they still carry the finalizer and are in no uncounted list (getNewFinishedPods). */
  private newFinishedPods(ctx: SyncCtx, uncounted: Set<string>, filter: (p: Pod) => boolean): Pod[] {
    return ctx.pods.filter((p) => {
      const uid = p.metadata?.uid ?? '';
      if (!hasFinalizer(p) || uncounted.has(uid) || ctx.expectedRmFinalizers.has(uid)) return false;
      if (isIndexed(ctx.job)) {
        const ix = completionIndexOf(p);
        if (ix === UNKNOWN_COMPLETION_INDEX || ix >= (ctx.job.spec?.completions ?? 0)) return false;
      }
      return filter(p);
    });
  }

  /** restartPolicy OnFailure: container restarts of running pods count against backoffLimit. */
  private pastBackoffLimitOnFailure(job: Job, pods: Pod[]): boolean {
    if (job.spec?.template?.spec?.restartPolicy !== 'OnFailure') return false;
    let restarts = 0;
    for (const p of pods) {
      if (p.status?.phase !== 'Running' && p.status?.phase !== 'Pending') continue;
      for (const s of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) restarts += s.restartCount ?? 0;
    }
    const limit = job.spec?.backoffLimit ?? 6;
    return limit === 0 ? restarts > 0 : restarts >= limit;
  }

  private pastActiveDeadline(job: Job, now: number): boolean {
    if (job.spec?.activeDeadlineSeconds === undefined || !job.status?.startTime || isSuspended(job)) return false;
    return now - Date.parse(job.status.startTime) >= Number(job.spec.activeDeadlineSeconds) * 1000;
  }

  /**
   * Starts or deletes pods so that the Job has as many active pods as it wants (manageJob). Pod
   * creation waits out the failure backoff. Returns the active count after its actions.
   */
  private async manageJob(key: string, ctx: SyncCtx): Promise<{ active: number; err?: unknown }> {
    const job = ctx.job;
    let active = ctx.active.length;
    if (isSuspended(job)) {
      const toDelete = [...ctx.active].sort(removalOrder);
      this.expectations.expect(key, 0, toDelete.length);
      const r = await this.deleteJobPods(key, job, toDelete);
      ctx.terminating += r.deleted;
      ctx.ready -= r.deletedReady;
      return { active: active - r.deleted, err: r.err };
    }
    const parallelism = job.spec?.parallelism ?? 1;
    const completions = job.spec?.completions;
    let wantActive: number;
    if (completions === undefined) wantActive = ctx.succeeded > 0 ? active : parallelism;
    else wantActive = Math.max(0, Math.min(parallelism, completions - ctx.succeeded));

    const rmAtLeast = Math.max(0, active - wantActive);
    let toDelete = this.activePodsForRemoval(job, ctx.active, rmAtLeast);
    if (toDelete.length > MAX_POD_CREATE_DELETE_PER_SYNC) toDelete = toDelete.slice(0, MAX_POD_CREATE_DELETE_PER_SYNC);
    if (toDelete.length > 0) {
      this.expectations.expect(key, 0, toDelete.length);
      const r = await this.deleteJobPods(key, job, toDelete);
      ctx.terminating += r.deleted;
      ctx.ready -= r.deletedReady;
      // Deleting takes precedence over creating in one sync.
      return { active: active - r.deleted, err: r.err };
    }

    const terminating = job.spec?.podReplacementPolicy === 'Failed' ? ctx.terminating : 0;
    let diff = wantActive - terminating - active;
    if (diff <= 0) return { active };
    const remaining = backoffRemainingMs(
      ctx.backoff,
      this.d.now(),
      this.d.timings.crashLoopBackoffInitialSeconds * 1000,
      this.d.timings.crashLoopBackoffMaxSeconds * 1000,
    );
    if (remaining > 0) {
      ctx.requeueAfterMs = ctx.requeueAfterMs === undefined ? remaining : Math.min(ctx.requeueAfterMs, remaining);
      // Kubernetes returns 0 here, reporting active: 0 while pods still run during the backoff;
      // the pods that run are what status.active should say.
      return { active };
    }
    diff = Math.min(diff, MAX_POD_CREATE_DELETE_PER_SYNC);
    let indexes: number[] = [];
    if (isIndexed(job)) {
      const activeIndexes = new Set(ctx.active.map(completionIndexOf));
      indexes = firstPendingIndexes(ctx.succeededIndexes, activeIndexes, diff, completions ?? 0);
      diff = indexes.length;
    }
    if (diff <= 0) return { active };
    this.expectations.expect(key, diff, 0);
    const template: PodTemplateSpec = JSON.parse(JSON.stringify(job.spec?.template ?? {}));
    if (isIndexed(job)) withCompletionIndexEnv(template);
    const meta = (template.metadata ??= {});
    if (!(meta.finalizers ?? []).includes(JOB_TRACKING_FINALIZER)) meta.finalizers = [...(meta.finalizers ?? []), JOB_TRACKING_FINALIZER];
    const ref = controllerRef(job, 'batch/v1', 'Job');
    const name = job.metadata?.name ?? '';
    const ns = job.metadata?.namespace ?? '';
    active += diff;
    let firstErr: unknown;
    // Slow start: batches of 1, 2, 4... so a failing create (quota, admission) fails once, not diff times.
    for (let batch = Math.min(diff, SLOW_START_INITIAL_BATCH_SIZE); diff > 0; batch = Math.min(2 * batch, diff)) {
      const thisBatch = Array.from({ length: batch }, () => indexes.shift());
      const results = await Promise.all(
        thisBatch.map(async (ix) => {
          let pod: Pod;
          if (ix !== undefined) {
            const t: PodTemplateSpec = JSON.parse(JSON.stringify(template));
            const m = (t.metadata ??= {});
            m.annotations = { ...(m.annotations ?? {}), [JOB_COMPLETION_INDEX_ANNOTATION]: String(ix) };
            m.labels = { ...(m.labels ?? {}), [JOB_COMPLETION_INDEX_ANNOTATION]: String(ix) };
            (t.spec ??= {}).hostname = `${name}-${ix}`;
            pod = podFromTemplate(t, ns, podGenerateNameWithIndex(name, ix), ref);
          } else {
            pod = podFromTemplate(template, ns, `${name}-`, ref);
          }
          try {
            const created = await this.d.client.create(POD, pod);
            void this.d.recorder.record(job, 'Normal', 'SuccessfulCreate', '', `Created pod: ${created.metadata?.name}`);
            return undefined;
          } catch (err) {
            this.expectations.creationObserved(key);
            active--;
            if (isReason(err, 'Forbidden') && /being terminated/.test((err as Error).message)) return undefined;
            void this.d.recorder.record(job, 'Warning', 'FailedCreate', '', `Error creating: ${(err as Error).message}`);
            return err;
          }
        }),
      );
      diff -= batch;
      const err = results.find((e) => e !== undefined);
      if (err !== undefined) {
        firstErr ??= err;
        // The pods never attempted are not expected either.
        for (let i = 0; i < diff; i++) this.expectations.creationObserved(key);
        active -= diff;
        break;
      }
    }
    return { active, err: firstErr };
  }

  /** Pods to delete: duplicates and out-of-range indexes of Indexed Jobs first, then the cheapest to lose. */
  private activePodsForRemoval(job: Job, pods: Pod[], rmAtLeast: number): Pod[] {
    const rm: Pod[] = [];
    let left = pods;
    if (isIndexed(job)) {
      const completions = job.spec?.completions ?? 0;
      left = [];
      const byIndex = new Map<number, Pod[]>();
      for (const p of pods) {
        const ix = completionIndexOf(p);
        if (ix === UNKNOWN_COMPLETION_INDEX || ix >= completions) rm.push(p);
        else byIndex.set(ix, [...(byIndex.get(ix) ?? []), p]);
      }
      for (const group of byIndex.values()) {
        // Keep the most advanced pod of an index.
        const sorted = [...group].sort(removalOrder);
        left.push(sorted[sorted.length - 1]);
        rm.push(...sorted.slice(0, -1));
      }
    }
    if (rm.length < rmAtLeast) rm.push(...[...left].sort(removalOrder).slice(0, rmAtLeast - rm.length));
    return rm;
  }

  /** Deletes pods keeping their finalizer (the tracking removes it once counted): deleteActivePods. */
  private async deleteActivePods(job: Job, pods: Pod[]): Promise<{ deleted: number; deletedReady: number; err?: unknown }> {
    let deleted = 0;
    let deletedReady = 0;
    let err: unknown;
    await Promise.all(
      pods.map(async (p) => {
        try {
          await this.d.client.delete(POD, p.metadata?.namespace ?? '', p.metadata?.name ?? '', { preconditions: { uid: p.metadata?.uid } });
          void this.d.recorder.record(job, 'Normal', 'SuccessfulDelete', '', `Deleted pod: ${p.metadata?.name}`);
        } catch (e) {
          if (!isReason(e, 'NotFound')) {
            err ??= e;
            return;
          }
        }
        deleted++;
        if (isPodReady(p)) deletedReady++;
      }),
    );
    return { deleted, deletedReady, err };
  }

  /** Removes the finalizer, then deletes (deleteJobPods, for pods that are too many or of a suspended Job). */
  private async deleteJobPods(key: string, job: Job, pods: Pod[]): Promise<{ deleted: number; deletedReady: number; err?: unknown }> {
    let deleted = 0;
    let deletedReady = 0;
    let err: unknown;
    await Promise.all(
      pods.map(async (p) => {
        try {
          if (hasFinalizer(p)) await this.patchOutFinalizer(p);
          await this.d.client.delete(POD, p.metadata?.namespace ?? '', p.metadata?.name ?? '', { preconditions: { uid: p.metadata?.uid } });
          void this.d.recorder.record(job, 'Normal', 'SuccessfulDelete', '', `Deleted pod: ${p.metadata?.name}`);
        } catch (e) {
          this.expectations.deletionObserved(key);
          if (!isReason(e, 'NotFound')) {
            err ??= e;
            return;
          }
        }
        deleted++;
        if (isPodReady(p)) deletedReady++;
      }),
    );
    return { deleted, deletedReady, err };
  }

  /** Removes the tracking finalizer with a JSON patch whose test fails if the list changed meanwhile. */
  private async patchOutFinalizer(p: Pod): Promise<void> {
    const i = (p.metadata?.finalizers ?? []).indexOf(JOB_TRACKING_FINALIZER);
    if (i < 0) return;
    await this.d.client.patch(
      POD,
      p.metadata?.namespace ?? '',
      p.metadata?.name ?? '',
      [
        { op: 'test', path: `/metadata/finalizers/${i}`, value: JOB_TRACKING_FINALIZER },
        { op: 'remove', path: `/metadata/finalizers/${i}` },
      ],
      { patchType: 'application/json-patch+json' },
    );
  }

  /**
   * Removes finalizers from `pods`; returns, per pod, whether it is gone (removed, or the pod no
   * longer exists), and the first error. Expected removals are remembered until the informer shows
   * them, so a pod whose removal is in flight is never counted twice.
   */
  private async removeFinalizers(key: string, pods: Pod[]): Promise<{ removed: boolean[]; err?: unknown }> {
    if (pods.length === 0) return { removed: [] };
    let set = this.finalizerExpectations.get(key);
    if (!set) this.finalizerExpectations.set(key, (set = new Set()));
    for (const p of pods) set.add(p.metadata?.uid ?? '');
    let err: unknown;
    const removed = await Promise.all(
      pods.map(async (p) => {
        try {
          await this.patchOutFinalizer(p);
          return true;
        } catch (e) {
          this.finalizerRemovalObserved(key, p.metadata?.uid ?? '');
          if (isReason(e, 'NotFound')) return true;
          err ??= e;
          return false;
        }
      }),
    );
    return { removed, err };
  }

  /**
   * Counts finished pods safely (trackJobStatusAndRemoveFinalizers): adds newly finished pods to
   * status.uncountedTerminatedPods and writes that, removes their finalizers, moves the pods whose
   * finalizer is gone to the counters, and adds the terminal condition once nothing is uncounted
   * or terminating.
   */
  private async trackStatusAndRemoveFinalizers(key: string, ctx: SyncCtx, needsFlushIn: boolean): Promise<void> {
    let needsFlush = needsFlushIn;
    const indexed = isIndexed(ctx.job);
    const completions = ctx.job.spec?.completions ?? 0;
    const pods = indexed ? [...ctx.pods].sort((a, b) => completionIndexOf(a) - completionIndexOf(b)) : ctx.pods;
    const withFinalizer = new Set(
      pods.filter((p) => hasFinalizer(p) && !ctx.expectedRmFinalizers.has(p.metadata?.uid ?? '')).map((p) => p.metadata?.uid ?? ''),
    );
    if (cleanUncounted(ctx.job.status!, withFinalizer)) needsFlush = true;
    const uncounted = ctx.job.status!.uncountedTerminatedPods!;
    const toRemove: Pod[] = [];
    const newSucceededIndexes: number[] = [];
    let reachedMax = false;
    for (const pod of pods) {
      const uid = pod.metadata?.uid ?? '';
      if (!hasFinalizer(pod) || ctx.expectedRmFinalizers.has(uid)) continue;
      const failed = isPodFailed(pod, ctx.job);
      const canRemove = !!ctx.job.metadata?.deletionTimestamp || !!ctx.finishedCondition || pod.status?.phase === 'Succeeded' || failed;
      if (!canRemove) continue;
      toRemove.push(pod);
      if (pod.status?.phase === 'Succeeded' && !ctx.uncountedFailed.has(uid)) {
        if (indexed) {
          const ix = completionIndexOf(pod);
          if (ix !== UNKNOWN_COMPLETION_INDEX && ix < completions && !intervalsHas(ctx.prevSucceededIndexes, ix)) {
            newSucceededIndexes.push(ix);
            needsFlush = true;
          }
        } else if (!ctx.uncountedSucceeded.has(uid)) {
          uncounted.succeeded!.push(uid);
          needsFlush = true;
        }
      } else if (failed || (ctx.finishedCondition && ctx.finishedCondition.type !== 'SuccessCriteriaMet')) {
        // Once the Job is finishing, every pod not succeeded counts as failed.
        const ix = completionIndexOf(pod);
        if (!ctx.uncountedFailed.has(uid) && (!indexed || (ix !== UNKNOWN_COMPLETION_INDEX && ix < completions))) {
          uncounted.failed!.push(uid);
          needsFlush = true;
        }
      }
      if (newSucceededIndexes.length + uncounted.succeeded!.length + uncounted.failed!.length >= MAX_UNCOUNTED_PODS) {
        reachedMax = true;
        break;
      }
    }
    const status = ctx.job.status!;
    if (indexed) {
      ctx.succeededIndexes = withIndexes(ctx.succeededIndexes, newSucceededIndexes);
      const s = formatIntervals(ctx.succeededIndexes);
      if (s !== (status.completedIndexes ?? '')) needsFlush = true;
      status.succeeded = intervalsTotal(ctx.succeededIndexes);
      status.completedIndexes = s;
    }
    const now = this.d.now();
    let finished = ctx.finishedCondition;
    if (finished?.type === 'FailureTarget') {
      // The interim condition is written before finalizers go, so the failure's reason survives a crash.
      (status.conditions ??= []).push(finished);
      needsFlush = true;
      finished = condition('Failed', 'True', finished.reason ?? '', finished.message ?? '', now);
    }
    if (finished?.type === 'SuccessCriteriaMet') {
      if (!findCondition(ctx.job, 'SuccessCriteriaMet')) {
        (status.conditions ??= []).push(finished);
        needsFlush = true;
      }
      finished = condition('Complete', 'True', finished.reason ?? '', finished.message ?? '', now);
    }

    // Flush the uncounted pods before touching finalizers, then count those whose finalizer went.
    if (needsFlush) {
      ctx.job = await this.writeStatus(ctx.job);
      this.backoffs.set(key, ctx.backoff);
      needsFlush = false;
    }
    let rmErr: unknown;
    if (toRemove.length > 0) {
      const r = await this.removeFinalizers(key, toRemove);
      rmErr = r.err;
      toRemove.forEach((p, i) => {
        if (r.removed[i]) withFinalizer.delete(p.metadata?.uid ?? '');
      });
    }
    if (cleanUncounted(ctx.job.status!, withFinalizer)) needsFlush = true;
    if (rmErr) {
      if (needsFlush) ctx.job = await this.writeStatus(ctx.job);
      throw rmErr;
    }
    const jobFinished = !reachedMax && this.enactJobFinished(ctx, finished);
    if (jobFinished) needsFlush = true;
    if (needsFlush) {
      ctx.job = await this.writeStatus(ctx.job);
      if (jobFinished && finished) {
        if (finished.type === 'Complete') {
          const succeeded = ctx.job.status?.succeeded ?? 0;
          if (ctx.job.spec?.completions !== undefined && succeeded > ctx.job.spec.completions) {
            void this.d.recorder.record(ctx.job, 'Warning', 'TooManySucceededPods', '', 'Too many succeeded pods running after completion count reached');
          }
          void this.d.recorder.record(ctx.job, 'Normal', 'Completed', '', 'Job completed');
        } else {
          void this.d.recorder.record(ctx.job, 'Warning', finished.reason ?? '', '', finished.message ?? '');
        }
        this.d.log.info('job finished', { job: key, condition: finished.type, reason: finished.reason, succeeded: ctx.job.status?.succeeded, failed: ctx.job.status?.failed });
      }
    }
  }

  /** Adds Complete or Failed once no pod is uncounted or terminating (enactJobFinished). */
  private enactJobFinished(ctx: SyncCtx, finished: JobCondition | undefined): boolean {
    if (!finished) return false;
    const status = ctx.job.status!;
    const u = status.uncountedTerminatedPods;
    if ((u?.succeeded?.length ?? 0) + (u?.failed?.length ?? 0) > 0) return false;
    if (ctx.terminating > 0) return false;
    const now = this.d.now();
    ensureCondition(status, finished.type!, finished.status!, finished.reason ?? '', finished.message ?? '', now);
    if (finished.type === 'Complete') status.completionTime = formatTime(now);
    return true;
  }

  private async writeStatus(job: Job): Promise<Job> {
    const written = await this.d.client.updateStatus(JOB, job);
    // Keep what we computed even if the echo drops empty lists.
    const status = written.status ?? {};
    status.uncountedTerminatedPods ??= {};
    status.uncountedTerminatedPods.succeeded ??= [];
    status.uncountedTerminatedPods.failed ??= [];
    return { ...written, status };
  }
}

/** Moves uncounted pods whose finalizer is gone to the counters (cleanUncountedPodsWithoutFinalizers). Returns whether anything moved. */
function cleanUncounted(status: JobStatus, withFinalizer: Set<string>): boolean {
  const u = (status.uncountedTerminatedPods ??= {});
  let changed = false;
  const keepS = (u.succeeded ?? []).filter((uid) => withFinalizer.has(uid));
  if (keepS.length !== (u.succeeded ?? []).length) {
    status.succeeded = (status.succeeded ?? 0) + (u.succeeded ?? []).length - keepS.length;
    u.succeeded = keepS;
    changed = true;
  }
  const keepF = (u.failed ?? []).filter((uid) => withFinalizer.has(uid));
  if (keepF.length !== (u.failed ?? []).length) {
    status.failed = (status.failed ?? 0) + (u.failed ?? []).length - keepF.length;
    u.failed = keepF;
    changed = true;
  }
  return changed;
}

/** The job controller's row of the controller table (kube-controller-manager's "job"). */
export const jobController: ControllerDescriptor = {
  name: 'job',
  create(ctx: ControllerContext) {
    const log = ctx.log.with({ controller: 'job' });
    const jobs = ctx.informers.informer('job');
    const pods = ctx.informers.informer('pod');
    const controller = new JobController({ jobs, pods, client: ctx.client, recorder: ctx.recorder('job-controller'), timings: ctx.timings, log, now: ctx.now });
    const loop = new ReconcileLoop({ name: 'job', reconcile: (key) => controller.reconcile(key), log });
    const enqueue = (keys: string[]) => keys.forEach((k) => loop.enqueue(k));
    jobs.addHandlers({
      onAdd: (j) => loop.enqueue(objectKey(j)),
      onUpdate: (_old, j) => loop.enqueue(objectKey(j)),
      onDelete: (j) => {
        loop.enqueue(objectKey(j));
        // Its pods' finalizers are now nobody's: release them.
        const uid = j.metadata?.uid;
        if (uid) for (const p of podsControlledBy(pods, j.metadata?.namespace ?? '', uid)) enqueue(controller.keysFor(p, undefined));
      },
    });
    pods.addHandlers({
      onAdd: (p) => enqueue(controller.keysFor(p, controller.onPodAdd(p))),
      onUpdate: (old, p) => enqueue(controller.keysFor(p, controller.onPodUpdate(old, p))),
      onDelete: (p) => enqueue(controller.keysFor(p, controller.onPodDelete(p))),
    });
    return { run: () => loop.run() };
  },
};
