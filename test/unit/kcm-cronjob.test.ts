/**
 * The CronJob controller's reconcile on an in-memory cache, a fake client and an injected clock:
 * a Job per due schedule time with its deterministic name and annotation, requeue at the next
 * time, Forbid / Replace / Allow, suspend, startingDeadlineSeconds (MissSchedule), too many missed
 * times, active-list bookkeeping (SawCompletedJob, MissingJob, lastSuccessfulTime), history
 * limits; and the TTL-after-finished controller's expiry and delete.
 */
import { CronJob, Job } from '../../services/lib/generated/kubemu/batch/v1/batch';
import { NAMESPACE_INDEX } from '../../services/lib/informer';
import { logger } from '../../services/lib/log';
import { formatTime } from '../../services/lib/time';
import { CronJobController, CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION } from '../../services/kube-controller-manager/cronjob/controller';
import { TTLAfterFinishedController } from '../../services/kube-controller-manager/ttlafterfinished/controller';
import { ApiError } from '../../services/lib/errors';

const NS = 'default';
const at = (s: string) => Date.parse(s);

class Fake {
  cronJobs = new Map<string, CronJob>();
  jobs = new Map<string, Job>();
  live = new Map<string, Job>();
  created: Job[] = [];
  deleted: { name: string; opts: unknown }[] = [];
  statusWrites: CronJob[] = [];
  events: { type: string; reason: string; message: string }[] = [];
  now: number;
  private seq = 0;

  constructor(now: string) {
    this.now = at(now);
  }

  controller(): CronJobController {
    return new CronJobController({
      cronJobs: { get: (k) => this.cronJobs.get(k) },
      jobs: { byIndex: (n, v) => (n === NAMESPACE_INDEX ? [...this.jobs.values()].filter((j) => j.metadata?.namespace === v) : []) },
      client: {
        create: (async (_i: unknown, job: Job) => {
          const c = { ...job, metadata: { ...job.metadata, uid: `job-uid-${++this.seq}`, resourceVersion: '1' } };
          this.created.push(c);
          return c;
        }) as never,
        get: (async (_i: unknown, _ns: string, name: string) => {
          const cj = this.cronJobs.get(`${NS}/${name}`) ?? this.live.get(name) ?? this.jobs.get(`${NS}/${name}`);
          if (!cj) throw new ApiError('NotFound', 404, 'not found');
          return cj;
        }) as never,
        tryGet: (async (_i: unknown, _ns: string, name: string) => this.live.get(name)) as never,
        delete: (async (_i: unknown, _ns: string, name: string, opts: unknown) => {
          this.deleted.push({ name, opts });
          return {};
        }) as never,
        updateStatus: (async (_i: unknown, cj: CronJob) => {
          this.statusWrites.push(JSON.parse(JSON.stringify(cj)));
          return cj;
        }) as never,
      },
      recorder: { record: async (_o, type, reason, _a, message) => void this.events.push({ type, reason, message }) },
      log: logger('test'),
      now: () => this.now,
    });
  }

  add(cj: CronJob): CronJob {
    this.cronJobs.set(`${NS}/${cj.metadata!.name}`, cj);
    return cj;
  }
  addJob(j: Job): Job {
    this.jobs.set(`${NS}/${j.metadata!.name}`, j);
    this.live.set(j.metadata!.name!, j);
    return j;
  }
  status(): CronJob['status'] {
    return this.statusWrites[this.statusWrites.length - 1]?.status;
  }
  reasons(): string[] {
    return this.events.map((e) => e.reason);
  }
}

function cronJob(name: string, spec: Partial<CronJob['spec']> = {}, status: CronJob['status'] = {}): CronJob {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: NS, uid: `${name}-uid`, creationTimestamp: '2026-11-23T04:00:30Z', resourceVersion: '3' },
    spec: {
      schedule: '*/5 * * * *',
      concurrencyPolicy: 'Allow',
      suspend: false,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 1,
      jobTemplate: { metadata: { labels: { team: 'a' }, annotations: { note: 'x' } }, spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'c', image: 'busybox' }] } } } },
      ...spec,
    },
    status,
  };
}

function childJob(cj: CronJob, minuteIso: string, finished?: 'Complete' | 'Failed', extra: Partial<Job['status']> = {}): Job {
  const t = at(minuteIso);
  return {
    metadata: {
      name: `${cj.metadata!.name}-${t / 60000}`,
      namespace: NS,
      uid: `uid-${t / 60000}`,
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: cj.metadata!.name, uid: cj.metadata!.uid, controller: true }],
    },
    status: {
      startTime: minuteIso,
      conditions: finished ? [{ type: finished, status: 'True' }] : [],
      completionTime: finished === 'Complete' ? formatTime(t + 30_000) : undefined,
      ...extra,
    },
  };
}
const ref = (j: Job) => ({ kind: 'Job', namespace: NS, name: j.metadata!.name, uid: j.metadata!.uid, apiVersion: 'batch/v1' });

describe('cronjob controller - reconcile', () => {
  test('a due schedule time: a Job named by its minute, annotated, owned, in status; requeued for the next time', async () => {
    const f = new Fake('2026-11-23T04:05:02Z');
    const cj = f.add(cronJob('tick'));
    const r = await f.controller().reconcile(`${NS}/tick`);
    expect(f.created).toHaveLength(1);
    const job = f.created[0];
    const scheduled = at('2026-11-23T04:05:00Z');
    expect(job.metadata?.name).toBe(`tick-${scheduled / 60000}`);
    expect(job.metadata?.labels).toEqual({ team: 'a' });
    expect(job.metadata?.annotations).toEqual({ note: 'x', [CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION]: '2026-11-23T04:05:00Z' });
    expect(job.metadata?.ownerReferences).toEqual([{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'tick', uid: cj.metadata!.uid, controller: true, blockOwnerDeletion: true }]);
    expect(job.spec?.template?.spec?.restartPolicy).toBe('OnFailure');
    expect(f.status()?.lastScheduleTime).toBe('2026-11-23T04:05:00Z');
    expect(f.status()?.active).toEqual([{ ...ref(job), resourceVersion: '1' }]);
    expect(f.events).toContainEqual({ type: 'Normal', reason: 'SuccessfulCreate', message: `Created job ${job.metadata?.name}` });
    expect(r).toEqual({ requeueAfterMs: at('2026-11-23T04:10:00Z') + 100 - f.now });
  });

  test('nothing due: no Job, a requeue for the first schedule time', async () => {
    const f = new Fake('2026-11-23T04:03:00Z');
    f.add(cronJob('tick'));
    expect(await f.controller().reconcile(`${NS}/tick`)).toEqual({ requeueAfterMs: 2 * 60_000 + 100 });
    expect(f.created).toHaveLength(0);
    expect(f.statusWrites).toHaveLength(0);
  });

  test('the scheduled time already processed: no second Job', async () => {
    const f = new Fake('2026-11-23T04:05:40Z');
    f.add(cronJob('tick', {}, { lastScheduleTime: '2026-11-23T04:05:00Z' }));
    await f.controller().reconcile(`${NS}/tick`);
    expect(f.created).toHaveLength(0);
  });

  test('time zone: the schedule is read in spec.timeZone and the annotation carries its offset', async () => {
    const f = new Fake('2026-11-23T08:00:05Z');
    f.add(cronJob('tz', { schedule: '0 9 * * *', timeZone: 'Europe/Berlin' }, { lastScheduleTime: '2026-11-22T08:00:00Z' }));
    await f.controller().reconcile(`${NS}/tz`);
    expect(f.created[0].metadata?.annotations?.[CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION]).toBe('2026-11-23T09:00:00+01:00');
  });

  test('Forbid: JobAlreadyActive while one runs', async () => {
    const f = new Fake('2026-11-23T04:10:01Z');
    const cj = cronJob('f', { concurrencyPolicy: 'Forbid' });
    const running = f.addJob(childJob(cj, '2026-11-23T04:05:00Z'));
    f.add({ ...cj, status: { active: [ref(running)], lastScheduleTime: '2026-11-23T04:05:00Z' } });
    await f.controller().reconcile(`${NS}/f`);
    expect(f.created).toHaveLength(0);
    expect(f.events).toContainEqual({ type: 'Normal', reason: 'JobAlreadyActive', message: 'Not starting job because prior execution is running and concurrency policy is Forbid' });
  });

  test('Replace: the running Job is deleted (background), the new one takes its place', async () => {
    const f = new Fake('2026-11-23T04:10:01Z');
    const cj = cronJob('r', { concurrencyPolicy: 'Replace' });
    const running = f.addJob(childJob(cj, '2026-11-23T04:05:00Z'));
    f.add({ ...cj, status: { active: [ref(running)], lastScheduleTime: '2026-11-23T04:05:00Z' } });
    await f.controller().reconcile(`${NS}/r`);
    expect(f.deleted).toEqual([{ name: running.metadata!.name, opts: { propagationPolicy: 'Background' } }]);
    expect(f.events).toContainEqual({ type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted job ${running.metadata!.name}` });
    expect(f.status()?.active?.map((r) => r.name)).toEqual([f.created[0].metadata?.name]);
  });

  test('Allow: a second Job runs beside the first', async () => {
    const f = new Fake('2026-11-23T04:10:01Z');
    const cj = cronJob('a');
    const running = f.addJob(childJob(cj, '2026-11-23T04:05:00Z'));
    f.add({ ...cj, status: { active: [ref(running)], lastScheduleTime: '2026-11-23T04:05:00Z' } });
    await f.controller().reconcile(`${NS}/a`);
    expect(f.status()?.active?.map((r) => r.name)).toEqual([running.metadata!.name, f.created[0].metadata?.name]);
  });

  test('suspend: no Job', async () => {
    const f = new Fake('2026-11-23T04:05:02Z');
    f.add(cronJob('s', { suspend: true }));
    expect(await f.controller().reconcile(`${NS}/s`)).toBeUndefined();
    expect(f.created).toHaveLength(0);
  });

  // As in Kubernetes 1.32, the deadline also bounds the search for due times (earliest =
  // now - startingDeadlineSeconds), so a time past its deadline is simply never found.
  test('startingDeadlineSeconds: a time older than the deadline is skipped, one within it starts', async () => {
    const late = new Fake('2026-11-23T04:06:00Z');
    late.add(cronJob('late', { startingDeadlineSeconds: 30 }, { lastScheduleTime: '2026-11-23T04:00:00Z' }));
    expect(await late.controller().reconcile(`${NS}/late`)).toEqual({ requeueAfterMs: 4 * 60_000 + 100 });
    expect(late.created).toHaveLength(0);
    const inTime = new Fake('2026-11-23T04:06:00Z');
    inTime.add(cronJob('late', { startingDeadlineSeconds: 100 }, { lastScheduleTime: '2026-11-23T04:00:00Z' }));
    await inTime.controller().reconcile(`${NS}/late`);
    expect(inTime.created.map((j) => j.metadata?.annotations?.[CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION])).toEqual(['2026-11-23T04:05:00Z']);
  });

  test('too many missed start times: a warning, and the most recent one still starts', async () => {
    const f = new Fake('2026-11-23T04:31:00Z');
    f.add(cronJob('m', {}, { lastScheduleTime: '2026-11-22T04:00:00Z' }));
    await f.controller().reconcile(`${NS}/m`);
    const ev = f.events.find((e) => e.reason === 'TooManyMissedTimes')!;
    expect(ev.type).toBe('Warning');
    expect(ev.message).toMatch(/^too many missed start times: \d+\. Set or decrease \.spec\.startingDeadlineSeconds or check clock skew$/);
    expect(f.created[0].metadata?.annotations?.[CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION]).toBe('2026-11-23T04:30:00Z');
  });

  test('active list: a finished Job leaves it (SawCompletedJob), a vanished one too (MissingJob); lastSuccessfulTime', async () => {
    const f = new Fake('2026-11-23T04:07:00Z');
    const cj = cronJob('l');
    const done = f.addJob(childJob(cj, '2026-11-23T04:00:00Z', 'Complete'));
    const gone = childJob(cj, '2026-11-23T04:05:00Z');
    const older = f.addJob(childJob(cj, '2026-11-23T03:55:00Z', 'Complete'));
    f.add({ ...cj, status: { active: [ref(done), ref(gone)], lastScheduleTime: '2026-11-23T04:05:00Z' } });
    await f.controller().reconcile(`${NS}/l`);
    expect(f.status()?.active).toEqual([]);
    expect(f.events).toContainEqual({ type: 'Normal', reason: 'SawCompletedJob', message: `Saw completed job: ${done.metadata!.name}, condition: Complete` });
    expect(f.events).toContainEqual({ type: 'Normal', reason: 'MissingJob', message: `Active job went missing: ${gone.metadata!.name}` });
    expect(f.status()?.lastSuccessfulTime).toBe(older.status!.completionTime);
  });

  test('an unfinished Job missing from the active list: UnexpectedJob', async () => {
    const f = new Fake('2026-11-23T04:07:00Z');
    const cj = f.add(cronJob('u', {}, { lastScheduleTime: '2026-11-23T04:05:00Z' }));
    const stray = f.addJob(childJob(cj, '2026-11-23T04:05:00Z'));
    await f.controller().reconcile(`${NS}/u`);
    expect(f.events).toContainEqual({ type: 'Warning', reason: 'UnexpectedJob', message: `Saw a job that the controller did not create or forgot: ${stray.metadata!.name}` });
  });

  test('history: the oldest finished Jobs beyond the limits are deleted', async () => {
    const f = new Fake('2026-11-23T04:07:00Z');
    const cj = f.add(cronJob('h', { successfulJobsHistoryLimit: 2, failedJobsHistoryLimit: 1 }, { lastScheduleTime: '2026-11-23T04:05:00Z' }));
    const s = ['03:40', '03:45', '03:50'].map((m) => f.addJob(childJob(cj, `2026-11-23T${m}:00Z`, 'Complete')));
    const x = ['03:55', '04:00'].map((m) => f.addJob(childJob(cj, `2026-11-23T${m}:00Z`, 'Failed')));
    await f.controller().reconcile(`${NS}/h`);
    expect(f.deleted.map((d) => d.name).sort()).toEqual([s[0].metadata!.name!, x[0].metadata!.name!].sort());
    expect(f.reasons().filter((r) => r === 'SuccessfulDelete')).toHaveLength(2);
  });

  test('an unknown time zone: UnknownTimeZone, no Job', async () => {
    const f = new Fake('2026-11-23T04:05:02Z');
    f.add(cronJob('z', { timeZone: 'Mars/Olympus' }));
    await f.controller().reconcile(`${NS}/z`);
    expect(f.events).toContainEqual({ type: 'Warning', reason: 'UnknownTimeZone', message: 'invalid timeZone: "Mars/Olympus": unknown time zone Mars/Olympus' });
    expect(f.created).toHaveLength(0);
  });
});

describe('ttl-after-finished controller', () => {
  const finishedJob = (ttl: number | undefined, finishedAt: string): Job => ({
    metadata: { name: 'j', namespace: NS, uid: 'j-uid' },
    spec: { ttlSecondsAfterFinished: ttl },
    status: { conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: finishedAt }] },
  });
  function ttl(cached: Job | undefined, live: Job | undefined, now: string) {
    const deleted: unknown[] = [];
    const c = new TTLAfterFinishedController({
      jobs: { get: () => cached },
      client: {
        tryGet: (async () => live) as never,
        delete: (async (_i: unknown, ns: string, name: string, opts: unknown) => void deleted.push({ ns, name, opts })) as never,
      },
      log: logger('test'),
      now: () => at(now),
    });
    return { run: () => c.reconcile(`${NS}/j`), deleted };
  }

  test('not yet expired: requeued for the expiry', async () => {
    const j = finishedJob(100, '2026-11-23T04:00:00Z');
    const t = ttl(j, j, '2026-11-23T04:01:00Z');
    expect(await t.run()).toEqual({ requeueAfterMs: 40_000 });
    expect(t.deleted).toEqual([]);
  });
  test('expired: deleted in the foreground with a uid precondition', async () => {
    const j = finishedJob(100, '2026-11-23T04:00:00Z');
    const t = ttl(j, j, '2026-11-23T04:01:40Z');
    await t.run();
    expect(t.deleted).toEqual([{ ns: NS, name: 'j', opts: { propagationPolicy: 'Foreground', preconditions: { uid: 'j-uid' } } }]);
  });
  test('the live Job had its TTL raised: requeued instead', async () => {
    const t = ttl(finishedJob(10, '2026-11-23T04:00:00Z'), finishedJob(600, '2026-11-23T04:00:00Z'), '2026-11-23T04:01:00Z');
    expect(await t.run()).toEqual({ requeueAfterMs: 540_000 });
    expect(t.deleted).toEqual([]);
  });
  test('no TTL or not finished: nothing', async () => {
    expect(await ttl(finishedJob(undefined, '2026-11-23T04:00:00Z'), undefined, '2026-11-24T00:00:00Z').run()).toBeUndefined();
    const running: Job = { metadata: { name: 'j', namespace: NS }, spec: { ttlSecondsAfterFinished: 0 }, status: {} };
    expect(await ttl(running, running, '2026-11-24T00:00:00Z').run()).toBeUndefined();
  });
});
