/**
 * The CronJob controller (pkg/controller/cronjob/cronjob_controllerv2.go, Kubernetes 1.32): at each
 * time the schedule fires (in spec.timeZone) it creates a Job named `<cronjob>-<minutes since the
 * epoch>` from the job template — the deterministic name is the lock against creating one twice —
 * honouring suspend, startingDeadlineSeconds and the concurrency policy (Allow, Forbid: skip while
 * one runs, Replace: delete the running ones first), keeps status.active, lastScheduleTime and
 * lastSuccessfulTime, and deletes finished Jobs beyond the history limits, oldest first. The key
 * is requeued for the next schedule time (plus 100 ms), never polled.
 */
import { ApiClient } from '../../lib/apiclient';
import { isReason } from '../../lib/errors';
import { EventRecorder } from '../../lib/events';
import { CronJob, Job } from '../../lib/generated/kubemu/batch/v1/batch';
import { ObjectReference } from '../../lib/generated/kubemu/core/v1/core';
import { Informer, NAMESPACE_INDEX } from '../../lib/informer';
import { Logger } from '../../lib/log';
import { objectKey, resourceForCase } from '../../lib/resources';
import { formatTime } from '../../lib/time';
import { ReconcileResult } from '../../lib/workqueue';
import { ControllerContext, ControllerDescriptor } from '../context';
import { isJobFinished } from '../job/controller';
import { ReconcileLoop } from '../loop';
import { controllerOf, controllerRef } from '../podutil';
import { formatRFC3339In, parseSchedule, Schedule, ScheduleParseError } from './schedule';

const JOB = resourceForCase('job');
const CRONJOB = resourceForCase('cronJob');

export const CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
/** Requeues land this long after the schedule time, against clock skew (nextScheduleDelta). */
export const NEXT_SCHEDULE_DELTA_MS = 100;

/** The Jobs of `namespace` that the CronJob of `uid` controls (as Kubernetes: the namespace's Jobs, filtered by controllerRef). */
export function jobsControlledBy(jobs: Pick<Informer<'job'>, 'byIndex'>, namespace: string, uid: string): Job[] {
  return jobs.byIndex(NAMESPACE_INDEX, namespace).filter((j) => {
    const ref = controllerOf(j.metadata);
    return ref?.kind === 'CronJob' && ref.uid === uid;
  });
}

/** `<cronjob>-<scheduled time in minutes since the epoch>` (getJobName). */
export function jobNameFor(cronJobName: string, scheduledMs: number): string {
  return `${cronJobName}-${Math.floor(scheduledMs / 60000)}`;
}

/** Go's time.RFC1123Z in UTC: "Mon, 23 Nov 2026 04:31:00 +0000". */
export function formatRFC1123Z(t: number): string {
  const d = new Date(t);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${p(d.getUTCDate())} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function ms(time: string | undefined): number | undefined {
  if (!time) return undefined;
  const t = Date.parse(time);
  return Number.isFinite(t) ? t : undefined;
}

/**
 * The most recent schedule time in (earliest, now] and roughly how many were missed
 * (mostRecentScheduleTime). earliest is the last schedule time, else the creation time, moved up
 * to now - startingDeadlineSeconds when asked. Throws when two schedule times are less than a
 * second apart (an impossible schedule such as Feb 31 yields none: undefined).
 */
export function mostRecentScheduleTime(
  cj: CronJob,
  now: number,
  sched: Schedule,
  includeStartingDeadline: boolean,
): { earliest: number; mostRecent?: number; missed: number } {
  let earliest = ms(cj.status?.lastScheduleTime) ?? ms(cj.metadata?.creationTimestamp) ?? now;
  const deadline = cj.spec?.startingDeadlineSeconds;
  if (includeStartingDeadline && deadline !== undefined && deadline !== null) {
    const schedulingDeadline = now - Number(deadline) * 1000;
    if (schedulingDeadline > earliest) earliest = schedulingDeadline;
  }
  const t1 = sched.next(earliest);
  if (t1 === undefined || now < t1) return { earliest, missed: 0 };
  const t2 = sched.next(t1);
  if (t2 === undefined || now < t2) return { earliest, mostRecent: t1, missed: 1 };
  const between = Math.round((t2 - t1) / 1000);
  if (between < 1) throw new Error('time difference between two schedules is less than 1 second');
  const elapsed = Math.floor((now - t1) / 1000);
  const missed = Math.floor(elapsed / between) + 1;
  // Jump close to now by the interval, then let the schedule walk the rest (irregular schedules).
  let mostRecent: number | undefined;
  const potentialEarliest = t1 + (missed - 2) * between * 1000;
  for (let t = sched.next(potentialEarliest); t !== undefined && t <= now; t = sched.next(t)) mostRecent = t;
  return { earliest, mostRecent: mostRecent ?? t1, missed };
}

/** ms from now until the next schedule time after the most recent one, plus the skew margin (nextScheduleTimeDuration). */
export function nextScheduleDelay(cj: CronJob, now: number, sched: Schedule): number | undefined {
  let from: number;
  try {
    const r = mostRecentScheduleTime(cj, now, sched, false);
    from = r.mostRecent ?? r.earliest;
  } catch {
    from = now;
  }
  const next = sched.next(from);
  return next === undefined ? undefined : next + NEXT_SCHEDULE_DELTA_MS - now;
}

export interface CronJobControllerDeps {
  cronJobs: Pick<Informer<'cronJob'>, 'get'>;
  jobs: Pick<Informer<'job'>, 'byIndex'>;
  client: Pick<ApiClient, 'create' | 'get' | 'tryGet' | 'delete' | 'updateStatus'>;
  recorder: Pick<EventRecorder, 'record'>;
  log: Logger;
  now(): number;
}

/** The CronJob controller's reconcile; may run concurrently for different keys. */
export class CronJobController {
  constructor(private readonly d: CronJobControllerDeps) {}

  /** The CronJob key a Job belongs to, if a CronJob controls it. */
  static cronJobKeyOf(job: Job): string | undefined {
    const ref = controllerOf(job.metadata);
    return ref && ref.kind === 'CronJob' && ref.name ? `${job.metadata?.namespace ?? ''}/${ref.name}` : undefined;
  }

  /**
   * Syncs the CronJob `key` (sync): trims history, reconciles the active list, starts a Job if a
   * schedule time is due, writes status when it changed, and asks to be requeued for the next
   * schedule time. Throws on API errors (the loop retries).
   */
  async reconcile(key: string): Promise<ReconcileResult> {
    const shared = this.d.cronJobs.get(key);
    if (!shared) return;
    const cj: CronJob = JSON.parse(JSON.stringify(shared));
    cj.status ??= {};
    const uid = cj.metadata?.uid ?? '';
    const jobs = uid ? jobsControlledBy(this.d.jobs, cj.metadata?.namespace ?? '', uid) : [];
    const cleaned = await this.cleanupFinishedJobs(cj, jobs);
    let syncErr: unknown;
    let result: { requeueAfterMs?: number; updateStatus: boolean } = { updateStatus: false };
    try {
      result = await this.syncCronJob(cj, jobs);
    } catch (err) {
      syncErr = err;
      this.d.log.info('error reconciling cronjob', { cronjob: key, err: (err as Error).message });
    }
    if (cleaned || result.updateStatus) await this.writeStatus(cj);
    if (result.requeueAfterMs !== undefined) return { requeueAfterMs: Math.max(0, result.requeueAfterMs) };
    if (syncErr) throw syncErr;
    return undefined;
  }

  /**
   * Writes status; on a Conflict (a spec or metadata change raced us) it is written once more onto
   * the fresh object: this controller is the only writer of CronJob status, and losing the write
   * after creating a Job would drop that Job from status.active (so Forbid would start another).
   */
  private async writeStatus(cj: CronJob): Promise<void> {
    try {
      await this.d.client.updateStatus(CRONJOB, cj);
    } catch (err) {
      if (!isReason(err, 'Conflict')) throw err;
      const fresh = await this.d.client.tryGet(CRONJOB, cj.metadata?.namespace ?? '', cj.metadata?.name ?? '');
      if (!fresh || fresh.metadata?.uid !== cj.metadata?.uid) return;
      await this.d.client.updateStatus(CRONJOB, { ...fresh, status: cj.status });
    }
  }

  private async syncCronJob(cj: CronJob, jobs: Job[]): Promise<{ requeueAfterMs?: number; updateStatus: boolean }> {
    const now = this.d.now();
    const status = cj.status!;
    let updateStatus = false;
    const children = new Set<string>();
    for (const j of jobs) {
      const juid = j.metadata?.uid ?? '';
      children.add(juid);
      const found = inActiveList(cj, juid);
      if (!found && !isJobFinished(j)) {
        const fresh = await this.d.client.get(CRONJOB, cj.metadata?.namespace ?? '', cj.metadata?.name ?? '');
        if (inActiveList(fresh, juid)) {
          // Our cache was behind our own status write; work on the fresh copy.
          Object.assign(cj, JSON.parse(JSON.stringify(fresh)));
          cj.status ??= {};
          continue;
        }
        void this.d.recorder.record(cj, 'Warning', 'UnexpectedJob', '', `Saw a job that the controller did not create or forgot: ${j.metadata?.name}`);
      } else if (found && isJobFinished(j)) {
        const cond = finishedConditionType(j);
        deleteFromActiveList(cj, juid);
        void this.d.recorder.record(cj, 'Normal', 'SawCompletedJob', '', `Saw completed job: ${j.metadata?.name}, condition: ${cond}`);
        updateStatus = true;
      } else if (isJobFinished(j)) {
        // A finished Job need not be active to count for lastSuccessfulTime.
        const done = ms(j.status?.completionTime);
        if (done !== undefined && (status.lastSuccessfulTime === undefined || status.lastSuccessfulTime === '' || done > (ms(status.lastSuccessfulTime) ?? 0))) {
          cj.status!.lastSuccessfulTime = j.status!.completionTime;
          updateStatus = true;
        }
      }
    }
    // An active Job that no longer exists would keep a Forbid CronJob from ever running again.
    for (const ref of [...(cj.status!.active ?? [])]) {
      if (children.has(ref.uid ?? '')) continue;
      const live = await this.d.client.tryGet(JOB, ref.namespace ?? '', ref.name ?? '');
      if (!live) {
        void this.d.recorder.record(cj, 'Normal', 'MissingJob', '', `Active job went missing: ${ref.name}`);
        deleteFromActiveList(cj, ref.uid ?? '');
        updateStatus = true;
      }
    }
    if (cj.metadata?.deletionTimestamp) return { updateStatus };
    if (cj.spec?.suspend) return { updateStatus };

    let sched: Schedule;
    try {
      sched = parseSchedule(cj.spec?.schedule ?? '', cj.spec?.timeZone ?? undefined);
    } catch (err) {
      if (cj.spec?.timeZone && /bad location/.test((err as Error).message)) {
        void this.d.recorder.record(cj, 'Warning', 'UnknownTimeZone', '', `invalid timeZone: ${JSON.stringify(cj.spec.timeZone)}: ${(err as Error).message.replace(/^provided bad location [^:]*: /, '')}`);
      } else if (err instanceof ScheduleParseError) {
        void this.d.recorder.record(cj, 'Warning', 'UnparseableSchedule', '', `unparseable schedule: ${JSON.stringify(cj.spec?.schedule ?? '')} : ${err.message}`);
      } else throw err;
      // A user error: nothing to do until the spec changes (which enqueues the key).
      return { updateStatus };
    }

    let scheduled: number | undefined;
    try {
      const r = mostRecentScheduleTime(cj, now, sched, true);
      if (r.mostRecent !== undefined && r.mostRecent <= now) {
        scheduled = r.mostRecent;
        if (r.missed > 100) {
          void this.d.recorder.record(
            cj,
            'Warning',
            'TooManyMissedTimes',
            '',
            `too many missed start times: ${r.missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew`,
          );
          this.d.log.info('too many missed times', { cronjob: objectKey(cj), missedTimes: r.missed });
        }
      }
    } catch (err) {
      void this.d.recorder.record(cj, 'Warning', 'InvalidSchedule', '', `invalid schedule: ${cj.spec?.schedule} : ${(err as Error).message}`);
      return { updateStatus };
    }
    const requeue = () => ({ requeueAfterMs: nextScheduleDelay(cj, now, sched), updateStatus });
    if (scheduled === undefined) return requeue();

    const deadline = cj.spec?.startingDeadlineSeconds;
    if (deadline !== undefined && deadline !== null && scheduled + Number(deadline) * 1000 < now) {
      void this.d.recorder.record(cj, 'Warning', 'MissSchedule', '', `Missed scheduled time to start a job: ${formatRFC1123Z(scheduled)}`);
      return requeue();
    }
    const name = jobNameFor(cj.metadata?.name ?? '', scheduled);
    if ((cj.status!.active ?? []).some((r) => r.name === name) || ms(cj.status!.lastScheduleTime) === scheduled) return requeue();
    const policy = cj.spec?.concurrencyPolicy || 'Allow';
    if (policy === 'Forbid' && (cj.status!.active ?? []).length > 0) {
      void this.d.recorder.record(cj, 'Normal', 'JobAlreadyActive', '', 'Not starting job because prior execution is running and concurrency policy is Forbid');
      return requeue();
    }
    if (policy === 'Replace') {
      for (const ref of [...(cj.status!.active ?? [])]) {
        let job: Job;
        try {
          job = await this.d.client.get(JOB, ref.namespace ?? '', ref.name ?? '');
        } catch (err) {
          void this.d.recorder.record(cj, 'Warning', 'FailedGet', '', `Get job: ${(err as Error).message}`);
          throw err;
        }
        if (!(await this.deleteJob(cj, job))) throw new Error(`could not replace job ${ref.namespace}/${ref.name}`);
        updateStatus = true;
      }
    }

    const ns = cj.metadata?.namespace ?? '';
    const zone = cj.spec?.timeZone || 'UTC';
    const tmpl = cj.spec?.jobTemplate ?? {};
    const jobReq: Job = {
      metadata: {
        name,
        namespace: ns,
        labels: { ...(tmpl.metadata?.labels ?? {}) },
        annotations: { ...(tmpl.metadata?.annotations ?? {}), [CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION]: formatRFC3339In(scheduled, zone) },
        ownerReferences: [controllerRef(cj, 'batch/v1', 'CronJob')],
      },
      spec: JSON.parse(JSON.stringify(tmpl.spec ?? {})),
    };
    let created: Job;
    try {
      created = await this.d.client.create(JOB, jobReq);
      void this.d.recorder.record(cj, 'Normal', 'SuccessfulCreate', '', `Created job ${created.metadata?.name}`);
      this.d.log.info('created job', { cronjob: objectKey(cj), job: name, scheduled: formatTime(scheduled), lateMs: now - scheduled });
    } catch (err) {
      if (isReason(err, 'AlreadyExists')) {
        // Created earlier but the status write was lost: record it as active now, if it is ours.
        const existing = await this.d.client.get(JOB, ns, name);
        const ref = controllerOf(existing.metadata);
        if (!ref || ref.uid !== cj.metadata?.uid) return { updateStatus };
        if (inActiveList(cj, existing.metadata?.uid ?? '')) return { updateStatus };
        this.d.log.info('job already exists', { cronjob: objectKey(cj), job: name });
        created = existing;
      } else {
        if (!(isReason(err, 'Forbidden') && /being terminated/.test((err as Error).message))) {
          void this.d.recorder.record(cj, 'Warning', 'FailedCreate', '', `Error creating job: ${(err as Error).message}`);
        }
        throw err;
      }
    }
    const jobRef: ObjectReference = {
      kind: 'Job',
      namespace: created.metadata?.namespace,
      name: created.metadata?.name,
      uid: created.metadata?.uid,
      apiVersion: 'batch/v1',
      resourceVersion: created.metadata?.resourceVersion,
    };
    cj.status!.active = [...(cj.status!.active ?? []), jobRef];
    cj.status!.lastScheduleTime = formatTime(scheduled);
    updateStatus = true;
    return requeue();
  }

  /** Deletes finished Jobs beyond the history limits, oldest start first (cleanupFinishedJobs). */
  private async cleanupFinishedJobs(cj: CronJob, jobs: Job[]): Promise<boolean> {
    const succeededLimit = cj.spec?.successfulJobsHistoryLimit;
    const failedLimit = cj.spec?.failedJobsHistoryLimit;
    if ((succeededLimit === undefined || succeededLimit === null) && (failedLimit === undefined || failedLimit === null)) return false;
    const succeeded = jobs.filter((j) => finishedConditionType(j) === 'Complete');
    const failed = jobs.filter((j) => finishedConditionType(j) === 'Failed');
    let changed = false;
    if (succeededLimit !== undefined && succeededLimit !== null && (await this.removeOldestJobs(cj, succeeded, succeededLimit))) changed = true;
    if (failedLimit !== undefined && failedLimit !== null && (await this.removeOldestJobs(cj, failed, failedLimit))) changed = true;
    return changed;
  }

  private async removeOldestJobs(cj: CronJob, jobs: Job[], keep: number): Promise<boolean> {
    const n = jobs.length - keep;
    if (n <= 0) return false;
    // byJobStartTime: Jobs that never started sort last, ties by name.
    const sorted = [...jobs].sort((a, b) => {
      const sa = ms(a.status?.startTime);
      const sb = ms(b.status?.startTime);
      if (sa === undefined && sb !== undefined) return 1;
      if (sb === undefined && sa !== undefined) return -1;
      if (sa !== sb) return (sa ?? 0) - (sb ?? 0);
      return (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');
    });
    let changed = false;
    for (const j of sorted.slice(0, n)) if (await this.deleteJob(cj, j)) changed = true;
    return changed;
  }

  /** Deletes a Job in the background and drops it from the active list (deleteJob). */
  private async deleteJob(cj: CronJob, job: Job): Promise<boolean> {
    try {
      await this.d.client.delete(JOB, job.metadata?.namespace ?? '', job.metadata?.name ?? '', { propagationPolicy: 'Background' });
    } catch (err) {
      if (!isReason(err, 'NotFound')) {
        void this.d.recorder.record(cj, 'Warning', 'FailedDelete', '', `Deleted job: ${(err as Error).message}`);
        return false;
      }
    }
    deleteFromActiveList(cj, job.metadata?.uid ?? '');
    void this.d.recorder.record(cj, 'Normal', 'SuccessfulDelete', '', `Deleted job ${job.metadata?.name}`);
    return true;
  }
}

function inActiveList(cj: CronJob, uid: string): boolean {
  return (cj.status?.active ?? []).some((r) => r.uid === uid);
}

function deleteFromActiveList(cj: CronJob, uid: string): void {
  const active = (cj.status?.active ?? []).filter((r) => r.uid !== uid);
  (cj.status ??= {}).active = active;
}

function finishedConditionType(job: Job): string | undefined {
  return (job.status?.conditions ?? []).find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')?.type;
}

/**
 * The cronjob controller's row for a given clock: the table uses ctx.now; tests may pass a clock
 * running ahead so that schedules fire without waiting for the wall clock.
 */
export function cronJobControllerWithClock(now?: () => number): ControllerDescriptor {
  return {
    name: 'cronjob',
    create(ctx: ControllerContext) {
      const log = ctx.log.with({ controller: 'cronjob' });
      const cronJobs = ctx.informers.informer('cronJob');
      const jobs = ctx.informers.informer('job');
      const controller = new CronJobController({ cronJobs, jobs, client: ctx.client, recorder: ctx.recorder('cronjob-controller'), log, now: now ?? ctx.now });
      const loop = new ReconcileLoop({ name: 'cronjob', reconcile: (key) => controller.reconcile(key), log });
      cronJobs.addHandlers({
        onAdd: (cj) => loop.enqueue(objectKey(cj)),
        onUpdate: (_old, cj) => loop.enqueue(objectKey(cj)),
      });
      const byJob = (j: Job) => {
        const key = CronJobController.cronJobKeyOf(j);
        if (key) loop.enqueue(key);
      };
      jobs.addHandlers({ onAdd: byJob, onUpdate: (_old, j) => byJob(j), onDelete: byJob });
      return { run: () => loop.run() };
    },
  };
}

/** The cronjob controller's row of the controller table. */
export const cronJobController: ControllerDescriptor = cronJobControllerWithClock();
