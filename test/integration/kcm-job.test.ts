/**
 * The Job and TTL-after-finished controllers against a real etcd, nats-server and apiserver, with
 * the scheduler and simulated nodes in process. Simulated pods turn Running but never finish, so
 * the test plays the kubelet: it writes phase Succeeded or Failed with terminated container states
 * through the status subresource (the simulated kubelet leaves finished pods alone). The garbage
 * collector runs too, for the TTL controller's foreground deletion.
 */
import { Job } from '../../services/lib/generated/kubemu/batch/v1/batch';
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { formatTime } from '../../services/lib/time';
import { jobController, JOB_TRACKING_FINALIZER } from '../../services/kube-controller-manager/job/controller';
import { ttlAfterFinishedController } from '../../services/kube-controller-manager/ttlafterfinished/controller';
import { garbageCollectorController } from '../../services/kube-controller-manager/garbagecollector/controller';
import { startWorkloadEnv, WorkloadEnv } from './workload-env';

jest.setTimeout(90000);

const JOB = resourceForCase('job');
const POD = resourceForCase('pod');
const EVENT = resourceForCase('event');
const NS = 'default';

let env: WorkloadEnv;

beforeAll(async () => {
  env = await startWorkloadEnv({ controllers: [jobController, ttlAfterFinishedController, garbageCollectorController] });
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

const podsOf = async (job: string): Promise<Pod[]> => (await env.client.list(POD, NS, { labelSelector: `batch.kubernetes.io/job-name=${job}` })).items;
const isRunning = (p: Pod) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp;
const isActive = (p: Pod) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed' && !p.metadata?.deletionTimestamp;

/** Finishes a pod as a kubelet would: every container terminated with `exitCode`, phase Succeeded or Failed. */
async function finish(pod: Pod, exitCode: number): Promise<string> {
  const at = formatTime(Date.now());
  const reason = exitCode === 0 ? 'Completed' : 'Error';
  await env.client.updateStatus(POD, {
    ...pod,
    status: {
      ...pod.status,
      phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      conditions: (pod.status?.conditions ?? []).map((c) => (c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, status: 'False', reason: 'PodCompleted' } : c)),
      containerStatuses: (pod.status?.containerStatuses ?? []).map((c) => ({
        ...c,
        ready: false,
        started: false,
        state: { terminated: { exitCode, reason, startedAt: c.state?.running?.startedAt, finishedAt: at, containerID: c.containerID } },
      })),
    },
  });
  return at;
}

const jobSpec = (name: string, spec: Job['spec']): Job => ({
  metadata: { name, namespace: NS },
  spec: { ...spec, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'work', image: 'busybox' }] } } },
});

const condition = (job: Job, type: string) => (job.status?.conditions ?? []).find((c) => c.type === type && c.status === 'True');
const eventsFor = async (job: Job, reason: string) =>
  (await env.client.list(EVENT, NS)).items.filter((e) => e.involvedObject?.uid === job.metadata?.uid && e.reason === reason);

test('job - completions 5, parallelism 2: never more than 2 active, completes with 5 succeeded', async () => {
  const job = await env.client.create(JOB, jobSpec('five', { completions: 5, parallelism: 2 }));
  let maxActive = 0;
  const done = await until(
    'the Job to complete',
    async () => {
      const pods = await podsOf('five');
      maxActive = Math.max(maxActive, pods.filter(isActive).length);
      // Finish one running pod per round so that replacements are created in between.
      const running = pods.find(isRunning);
      if (running) await finish(running, 0).catch(() => undefined);
      const cur = await env.client.get(JOB, NS, 'five');
      return condition(cur, 'Complete') ? cur : undefined;
    },
    45000,
  );
  expect(maxActive).toBeLessThanOrEqual(2);
  expect(done.status?.succeeded).toBe(5);
  expect(done.status?.failed ?? 0).toBe(0);
  expect(done.status?.active ?? 0).toBe(0);
  expect(done.status?.completionTime).toBeTruthy();
  expect(done.status?.startTime).toBeTruthy();
  expect(condition(done, 'SuccessCriteriaMet')?.reason).toBe('CompletionsReached');
  expect(condition(done, 'Complete')).toMatchObject({ reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' });
  expect(done.status?.uncountedTerminatedPods?.succeeded ?? []).toEqual([]);
  // Every pod counted has lost its tracking finalizer; pods carry the Job's labels.
  const pods = await until('finalizers removed', async () => {
    const ps = await podsOf('five');
    return ps.every((p) => !(p.metadata?.finalizers ?? []).includes(JOB_TRACKING_FINALIZER)) ? ps : undefined;
  });
  expect(pods).toHaveLength(5);
  for (const p of pods) {
    expect(p.metadata?.labels).toMatchObject({ 'batch.kubernetes.io/controller-uid': job.metadata?.uid, 'job-name': 'five', 'controller-uid': job.metadata?.uid });
    expect(p.metadata?.name).toMatch(/^five-[a-z0-9]{5}$/);
  }
  await until('Completed event', async () => (await eventsFor(job, 'Completed')).length === 1);
  expect((await eventsFor(job, 'SuccessfulCreate')).length).toBeGreaterThanOrEqual(1);
  const created = await eventsFor(job, 'SuccessfulCreate');
  expect(created[0].message).toMatch(/^Created pod: five-[a-z0-9]{5}$/);
});

test('job - failing pods exceed backoffLimit: Failed BackoffLimitExceeded after backoff between retries', async () => {
  const job = await env.client.create(JOB, jobSpec('flaky', { completions: 1, parallelism: 1, backoffLimit: 1 }));
  const failedAt: string[] = [];
  const finished: Pod[] = [];
  const done = await until(
    'the Job to fail',
    async () => {
      const running = (await podsOf('flaky')).find(isRunning);
      if (running) {
        failedAt.push(await finish(running, 1));
        finished.push(running);
      }
      const cur = await env.client.get(JOB, NS, 'flaky');
      return condition(cur, 'Failed') ? cur : undefined;
    },
    45000,
  );
  expect(done.status?.failed).toBe(2);
  expect(done.status?.succeeded ?? 0).toBe(0);
  expect(condition(done, 'FailureTarget')?.reason).toBe('BackoffLimitExceeded');
  expect(condition(done, 'Failed')).toMatchObject({ reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
  expect(done.status?.completionTime).toBeFalsy();
  expect(failedAt).toHaveLength(2);
  // The replacement waited out the pod-failure backoff (demo profile: 1 s after the first pod's
  // finishedAt, which has second precision as in Kubernetes).
  const firstFinished = Date.parse(failedAt[0]);
  expect(Date.parse(finished[1].metadata!.creationTimestamp!) - firstFinished).toBeGreaterThanOrEqual(1000);
  const ev = await until('BackoffLimitExceeded event', async () => {
    const evs = await eventsFor(job, 'BackoffLimitExceeded');
    return evs.length ? evs : undefined;
  });
  expect(ev[0]).toMatchObject({ type: 'Warning', message: 'Job has reached the specified backoff limit' });
});

test('job - activeDeadlineSeconds: Failed DeadlineExceeded and its active pods deleted', async () => {
  const job = await env.client.create(JOB, jobSpec('slow', { completions: 2, parallelism: 2, activeDeadlineSeconds: 3 }));
  await until('2 running pods', async () => (await podsOf('slow')).filter(isRunning).length === 2);
  const done = await until('the Job to fail', async () => {
    const cur = await env.client.get(JOB, NS, 'slow');
    return condition(cur, 'Failed') ? cur : undefined;
  });
  expect(condition(done, 'Failed')).toMatchObject({ reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' });
  expect(done.status?.active ?? 0).toBe(0);
  expect(done.status?.failed).toBe(2);
  await until('its pods gone', async () => (await podsOf('slow')).length === 0);
  const ev = await until('DeadlineExceeded event', async () => {
    const evs = await eventsFor(job, 'DeadlineExceeded');
    return evs.length ? evs : undefined;
  });
  expect(ev[0].type).toBe('Warning');
});

test('job - Indexed: index annotation, label, env and hostname; completedIndexes as ranges', async () => {
  await env.client.create(JOB, jobSpec('idx', { completions: 4, parallelism: 4, completionMode: 'Indexed' }));
  const pods = await until('4 running pods', async () => {
    const ps = (await podsOf('idx')).filter(isRunning);
    return ps.length === 4 ? ps : undefined;
  });
  const byIndex = new Map(pods.map((p) => [p.metadata?.annotations?.['batch.kubernetes.io/job-completion-index'], p]));
  expect([...byIndex.keys()].sort()).toEqual(['0', '1', '2', '3']);
  const p2 = byIndex.get('2')!;
  expect(p2.metadata?.labels?.['batch.kubernetes.io/job-completion-index']).toBe('2');
  expect(p2.spec?.hostname).toBe('idx-2');
  expect(p2.metadata?.name).toMatch(/^idx-2-[a-z0-9]{5}$/);
  expect(p2.spec?.containers?.[0].env?.find((e) => e.name === 'JOB_COMPLETION_INDEX')).toMatchObject({
    valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } },
  });
  for (const ix of ['0', '1', '3']) await finish(byIndex.get(ix)!, 0);
  const partial = await until('completedIndexes 0,1,3', async () => {
    const cur = await env.client.get(JOB, NS, 'idx');
    return cur.status?.completedIndexes === '0,1,3' ? cur : undefined;
  });
  expect(partial.status?.succeeded).toBe(3);
  await finish(byIndex.get('2')!, 0);
  const done = await until('the Job to complete', async () => {
    const cur = await env.client.get(JOB, NS, 'idx');
    return condition(cur, 'Complete') ? cur : undefined;
  });
  expect(done.status?.completedIndexes).toBe('0-3');
});

test('ttl-after-finished - a finished Job with ttlSecondsAfterFinished is deleted', async () => {
  await env.client.create(JOB, jobSpec('short', { completions: 1, ttlSecondsAfterFinished: 1 }));
  const pod = await until('a running pod', async () => (await podsOf('short')).find(isRunning));
  await finish(pod, 0);
  await until('the Job to complete', async () => !!condition(await env.client.get(JOB, NS, 'short'), 'Complete'));
  // Foreground deletion: the garbage collector deletes the pod first, then the Job goes.
  await until('the Job and its pod gone', async () => !(await env.client.tryGet(JOB, NS, 'short')) && (await podsOf('short')).length === 0);
});

test('job - a running Job deleted in the background: its pods lose the tracking finalizer and go', async () => {
  await env.client.create(JOB, jobSpec('dropped', { completions: 2, parallelism: 2 }));
  const pods = await until('2 running pods', async () => {
    const ps = (await podsOf('dropped')).filter(isRunning);
    return ps.length === 2 ? ps : undefined;
  });
  for (const p of pods) expect(p.metadata?.finalizers).toContain(JOB_TRACKING_FINALIZER);
  await env.client.delete(JOB, NS, 'dropped', { propagationPolicy: 'Background' });
  // No Job is left to count them: the controller releases the finalizers, the collector deletes the pods.
  await until('its pods gone', async () => (await podsOf('dropped')).length === 0);
});
