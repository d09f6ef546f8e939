/**
 * The CronJob controller (with the Job controller) against a real etcd, nats-server and
 * apiserver, the scheduler and simulated nodes in process. The CronJob controller runs on a clock
 * the test moves: each step jumps it just past the next minute boundary and touches the CronJob
 * (an annotation) so the controller looks at once, so `* * * * *` fires every step instead of
 * every wall-clock minute. Pods are finished by the test, as a kubelet would.
 */
import { CronJob, Job } from '../../services/lib/generated/kubemu/batch/v1/batch';
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { formatTime } from '../../services/lib/time';
import { jobController } from '../../services/kube-controller-manager/job/controller';
import { cronJobControllerWithClock, CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION } from '../../services/kube-controller-manager/cronjob/controller';
import { startWorkloadEnv, WorkloadEnv } from './workload-env';

jest.setTimeout(90000);

const CRONJOB = resourceForCase('cronJob');
const JOB = resourceForCase('job');
const POD = resourceForCase('pod');
const EVENT = resourceForCase('event');
const NS = 'default';

let env: WorkloadEnv;
let offsetMs = 0;
const clock = () => Date.now() + offsetMs;

beforeAll(async () => {
  env = await startWorkloadEnv({ controllers: [jobController, cronJobControllerWithClock(clock)] });
});

afterAll(async () => {
  await env?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 30000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(50);
  }
}

let pokes = 0;
/** Moves the controller's clock 1 s past the next minute boundary and makes it look at `name`; returns that minute. */
async function nextMinute(name: string): Promise<number> {
  const minute = Math.floor(clock() / 60000) + 1;
  offsetMs += minute * 60000 + 1000 - clock();
  await env.client.patch(CRONJOB, NS, name, { metadata: { annotations: { 'test.kubemu/poke': String(++pokes) } } });
  return minute;
}

const jobsOf = async (cj: CronJob): Promise<Job[]> =>
  (await env.client.list(JOB, NS)).items.filter((j) => (j.metadata?.ownerReferences ?? []).some((r) => r.uid === cj.metadata?.uid) && !j.metadata?.deletionTimestamp);
const eventsFor = async (obj: CronJob, reason: string) =>
  (await env.client.list(EVENT, NS)).items.filter((e) => e.involvedObject?.uid === obj.metadata?.uid && e.reason === reason);

async function finishJobPod(jobName: string): Promise<void> {
  const pod = await until(`a running pod of ${jobName}`, async () =>
    (await env.client.list(POD, NS, { labelSelector: `batch.kubernetes.io/job-name=${jobName}` })).items.find((p) => p.status?.phase === 'Running'),
  );
  const at = formatTime(Date.now());
  await env.client.updateStatus(POD, {
    ...pod,
    status: {
      ...pod.status,
      phase: 'Succeeded',
      containerStatuses: (pod.status?.containerStatuses ?? []).map((c) => ({ ...c, ready: false, state: { terminated: { exitCode: 0, reason: 'Completed', finishedAt: at } } })),
    } as Pod['status'],
  });
}

const cronJob = (name: string, spec: Partial<CronJob['spec']>): CronJob => ({
  metadata: { name, namespace: NS },
  spec: {
    schedule: '* * * * *',
    ...spec,
    jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'tick', image: 'busybox' }] } } } },
  },
});

test('cronjob - creates a Job per schedule time, records history and trims it to successfulJobsHistoryLimit', async () => {
  const cj = await env.client.create(CRONJOB, cronJob('hist', { successfulJobsHistoryLimit: 2 }));
  const names: string[] = [];
  for (let i = 0; i < 3; i++) {
    const minute = await nextMinute('hist');
    const name = `hist-${minute}`;
    names.push(name);
    const job = await until(`Job ${name}`, () => env.client.tryGet(JOB, NS, name));
    expect(job.metadata?.annotations?.[CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION]).toBe(new Date(minute * 60000).toISOString().replace('.000Z', 'Z'));
    expect(job.metadata?.ownerReferences).toEqual([{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'hist', uid: cj.metadata?.uid, controller: true, blockOwnerDeletion: true }]);
    const active = await until('the Job in status.active', async () => {
      const cur = await env.client.get(CRONJOB, NS, 'hist');
      return (cur.status?.active ?? []).some((r) => r.name === name) ? cur : undefined;
    });
    expect(active.status?.lastScheduleTime).toBe(formatTime(minute * 60000));
    await finishJobPod(name);
    await until(`${name} complete`, async () => ((await env.client.get(JOB, NS, name)).status?.conditions ?? []).some((c) => c.type === 'Complete' && c.status === 'True'));
  }
  const status = await until('no active Job and lastSuccessfulTime', async () => {
    const cur = await env.client.get(CRONJOB, NS, 'hist');
    return (cur.status?.active ?? []).length === 0 && cur.status?.lastSuccessfulTime ? cur : undefined;
  });
  expect(status.status?.lastScheduleTime).toBe(formatTime(Number(names[2].split('-')[1]) * 60000));
  // The oldest of three successful Jobs is deleted: two remain.
  const left = await until('history trimmed to 2', async () => {
    const js = await jobsOf(cj);
    return js.length === 2 ? js : undefined;
  });
  expect(left.map((j) => j.metadata?.name).sort()).toEqual([names[1], names[2]].sort());
  const created = await eventsFor(cj, 'SuccessfulCreate');
  expect(created.map((e) => e.message).sort()).toEqual(names.map((n) => `Created job ${n}`).sort());
  await until('SawCompletedJob events', async () => (await eventsFor(cj, 'SawCompletedJob')).length >= 3);
  expect((await eventsFor(cj, 'SawCompletedJob'))[0].message).toMatch(/^Saw completed job: hist-\d+, condition: Complete$/);
  await until('SuccessfulDelete event', async () => (await eventsFor(cj, 'SuccessfulDelete')).some((e) => e.message === `Deleted job ${names[0]}`));
});

// The controller's clock runs ahead of the apiserver's by now, so a new CronJob may already be
// due when it is created (as with clock skew in Kubernetes); the tests below allow for that Job.
const activeNames = async (name: string) => ((await env.client.get(CRONJOB, NS, name)).status?.active ?? []).map((r) => r.name);

test('cronjob - Forbid skips a schedule time while a Job runs', async () => {
  const cj = await env.client.create(CRONJOB, cronJob('forbid', { concurrencyPolicy: 'Forbid' }));
  await nextMinute('forbid');
  const [first] = await until('one Job active', async () => {
    const names = await activeNames('forbid');
    return names.length === 1 ? names : undefined;
  });
  // Repeats of an event raise its count (the recorder's aggregation), so count occurrences.
  const occurrences = async () => (await eventsFor(cj, 'JobAlreadyActive')).reduce((n, e) => n + (e.count ?? 1), 0);
  const before = await occurrences();
  const skipped = await nextMinute('forbid');
  await until('JobAlreadyActive event', async () => (await occurrences()) > before);
  const ev = (await eventsFor(cj, 'JobAlreadyActive'))[0];
  expect(ev.message).toBe('Not starting job because prior execution is running and concurrency policy is Forbid');
  expect(await env.client.tryGet(JOB, NS, `forbid-${skipped}`)).toBeUndefined();
  expect((await jobsOf(cj)).map((j) => j.metadata?.name)).toEqual([first]);
  expect(await activeNames('forbid')).toEqual([first]);
});

test('cronjob - Replace deletes the running Job and starts the new one', async () => {
  const cj = await env.client.create(CRONJOB, cronJob('replace', { concurrencyPolicy: 'Replace' }));
  const first = `replace-${await nextMinute('replace')}`;
  await until('the first Job the only active one', async () => (await activeNames('replace')).join() === first);
  const second = `replace-${await nextMinute('replace')}`;
  await until('the second Job the only active one', async () => (await activeNames('replace')).join() === second);
  await until('the first Job gone', async () => !(await jobsOf(cj)).some((j) => j.metadata?.name === first));
  expect((await eventsFor(cj, 'SuccessfulDelete')).map((e) => e.message)).toContain(`Deleted job ${first}`);
  expect((await jobsOf(cj)).map((j) => j.metadata?.name)).toContain(second);
});

test('cronjob - the controller wakes itself at the next schedule time, without being touched', async () => {
  await env.client.create(CRONJOB, cronJob('wake', {}));
  // The controller's clock 2 s before a minute boundary; the touch makes it compute its requeue from there.
  const minute = Math.floor(clock() / 60000) + 1;
  offsetMs += minute * 60000 - 2000 - clock();
  await env.client.patch(CRONJOB, NS, 'wake', { metadata: { annotations: { 'test.kubemu/poke': String(++pokes) } } });
  const touched = Date.now();
  const job = await until(`Job wake-${minute}`, () => env.client.tryGet(JOB, NS, `wake-${minute}`), 15000);
  // Created by the requeue at the boundary (+100 ms), not by the touch.
  expect(Date.now() - touched).toBeGreaterThanOrEqual(1500);
  expect(job.metadata?.annotations?.[CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION]).toBe(formatTime(minute * 60000));
});
