/**
 * The Job controller's reconcile on an in-memory cache and a fake API client: pods created up to
 * min(parallelism, remaining completions) with the tracking finalizer, finished pods counted
 * through uncountedTerminatedPods, backoffLimit and activeDeadlineSeconds (interim FailureTarget,
 * then Failed once nothing terminates), SuccessCriteriaMet then Complete, Indexed Jobs, suspend;
 * and the pure helpers: pod-failure backoff and completed-index ranges.
 */
import { Job } from '../../services/lib/generated/kubemu/batch/v1/batch';
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { NAMESPACE_INDEX } from '../../services/lib/informer';
import { logger } from '../../services/lib/log';
import { formatTime } from '../../services/lib/time';
import { backoffRemainingMs, nextBackoffRecord } from '../../services/kube-controller-manager/job/backoff';
import { JobController, JOB_TRACKING_FINALIZER, podGenerateNameWithIndex } from '../../services/kube-controller-manager/job/controller';
import { firstPendingIndexes, formatIntervals, parseIndexesFromString, withIndexes } from '../../services/kube-controller-manager/job/indexes';

const NOW = Date.parse('2026-11-23T05:00:00Z');
const NS = 'default';

/** Informer-shaped maps and a client that records every call and applies it to them. */
class Fake {
  jobs = new Map<string, Job>();
  pods = new Map<string, Pod>();
  calls: { verb: string; obj?: unknown; name?: string; patch?: unknown; opts?: unknown }[] = [];
  statusWrites: Job[] = [];
  events: { reason: string; type: string; message: string }[] = [];
  private seq = 0;
  now = NOW;

  addJob(job: Job): Job {
    this.jobs.set(`${NS}/${job.metadata!.name}`, job);
    return job;
  }
  addPod(pod: Pod): Pod {
    this.pods.set(`${NS}/${pod.metadata!.name}`, pod);
    return pod;
  }

  controller(): JobController {
    return new JobController({
      jobs: { get: (k) => this.jobs.get(k) },
      pods: {
        get: (k) => this.pods.get(k),
        byIndex: (name, v) => (name === NAMESPACE_INDEX ? [...this.pods.values()].filter((p) => p.metadata?.namespace === v) : []),
      },
      client: {
        create: (async (_info: unknown, obj: Pod) => {
          const name = `${obj.metadata?.generateName}${String(++this.seq).padStart(5, 'x')}`;
          const created = { ...obj, metadata: { ...obj.metadata, name, uid: `pod-uid-${this.seq}` } };
          this.calls.push({ verb: 'create', obj: created });
          return created;
        }) as never,
        delete: (async (_info: unknown, _ns: string, name: string, opts: unknown) => {
          this.calls.push({ verb: 'delete', name, opts });
          return {};
        }) as never,
        patch: (async (_info: unknown, _ns: string, name: string, patch: unknown) => {
          this.calls.push({ verb: 'patch', name, patch });
          return {};
        }) as never,
        updateStatus: (async (_info: unknown, obj: Job) => {
          const copy: Job = JSON.parse(JSON.stringify(obj));
          this.statusWrites.push(copy);
          this.calls.push({ verb: 'updateStatus', obj: copy });
          return JSON.parse(JSON.stringify(obj));
        }) as never,
      },
      recorder: { record: async (_o, type, reason, _a, message) => void this.events.push({ type, reason, message }) },
      timings: { crashLoopBackoffInitialSeconds: 10, crashLoopBackoffMaxSeconds: 360 },
      log: logger('test'),
      now: () => this.now,
    });
  }

  verbs(): string[] {
    return this.calls.map((c) => c.verb);
  }
  lastStatus(): Job['status'] {
    return this.statusWrites[this.statusWrites.length - 1]?.status;
  }
}

function job(name: string, spec: Job['spec'], status: Job['status'] = {}): Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: NS, uid: `${name}-uid`, resourceVersion: '5' },
    spec: {
      parallelism: 1,
      backoffLimit: 6,
      completionMode: 'NonIndexed',
      podReplacementPolicy: 'TerminatingOrFailed',
      template: { metadata: { labels: { 'batch.kubernetes.io/job-name': name } }, spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } },
      ...spec,
    },
    status,
  };
}

let podSeq = 0;
function pod(owner: Job, phase: string, over: { finalizer?: boolean; index?: number; deleting?: boolean; finishedAt?: number; ready?: boolean } = {}): Pod {
  const n = ++podSeq;
  const annotations: Record<string, string> = over.index !== undefined ? { 'batch.kubernetes.io/job-completion-index': String(over.index) } : {};
  return {
    metadata: {
      name: `${owner.metadata!.name}-p${n}`,
      namespace: NS,
      uid: `p${n}`,
      annotations,
      finalizers: over.finalizer === false ? [] : [JOB_TRACKING_FINALIZER],
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: owner.metadata!.name, uid: owner.metadata!.uid, controller: true }],
      deletionTimestamp: over.deleting ? formatTime(NOW - 1000) : undefined,
      creationTimestamp: formatTime(NOW - 60_000),
    },
    spec: { nodeName: 'n1' },
    status: {
      phase,
      conditions: over.ready ? [{ type: 'Ready', status: 'True' }] : [],
      containerStatuses:
        over.finishedAt !== undefined ? [{ name: 'c', state: { terminated: { exitCode: phase === 'Failed' ? 1 : 0, finishedAt: formatTime(over.finishedAt) } } }] : [],
    },
  };
}

const cond = (s: Job['status'], type: string) => (s?.conditions ?? []).find((c) => c.type === type && c.status === 'True');

describe('job controller - reconcile', () => {
  test('a new Job: min(parallelism, completions) pods with the tracking finalizer, then nothing more until they are seen', async () => {
    const f = new Fake();
    f.addJob(job('j', { completions: 5, parallelism: 2 }));
    const c = f.controller();
    await c.reconcile(`${NS}/j`);
    const created = f.calls.filter((x) => x.verb === 'create').map((x) => x.obj as Pod);
    expect(created).toHaveLength(2);
    for (const p of created) {
      expect(p.metadata?.generateName).toBe('j-');
      expect(p.metadata?.finalizers).toEqual([JOB_TRACKING_FINALIZER]);
      expect(p.metadata?.ownerReferences).toEqual([{ apiVersion: 'batch/v1', kind: 'Job', name: 'j', uid: 'j-uid', controller: true, blockOwnerDeletion: true }]);
      expect(p.metadata?.labels).toEqual({ 'batch.kubernetes.io/job-name': 'j' });
    }
    expect(f.lastStatus()).toMatchObject({ active: 2, ready: 0, terminating: 0, startTime: formatTime(NOW) });
    expect(f.events.filter((e) => e.reason === 'SuccessfulCreate').map((e) => e.message)).toEqual(created.map((p) => `Created pod: ${p.metadata?.name}`));
    // The informer has not shown the pods yet: the expectations hold further creations back.
    f.calls = [];
    await c.reconcile(`${NS}/j`);
    expect(f.verbs()).not.toContain('create');
  });

  test('finished pods: recorded as uncounted, finalizers removed, then counted; replacements up to the remaining completions', async () => {
    const f = new Fake();
    const j = f.addJob(job('j', { completions: 3, parallelism: 2 }, { startTime: formatTime(NOW - 5000), active: 2 }));
    const a = f.addPod(pod(j, 'Succeeded', { finishedAt: NOW - 1000 }));
    const b = f.addPod(pod(j, 'Succeeded', { finishedAt: NOW - 500 }));
    await f.controller().reconcile(`${NS}/j`);
    // One replacement: 3 completions - 2 succeeded.
    expect(f.calls.filter((x) => x.verb === 'create')).toHaveLength(1);
    const [first, last] = [f.statusWrites[0].status!, f.lastStatus()!];
    expect(first.uncountedTerminatedPods?.succeeded?.sort()).toEqual([a.metadata!.uid, b.metadata!.uid].sort());
    expect(first.succeeded ?? 0).toBe(0);
    const patches = f.calls.filter((x) => x.verb === 'patch');
    expect(patches.map((p) => p.name).sort()).toEqual([a.metadata!.name, b.metadata!.name].sort());
    expect(patches[0].patch).toEqual([
      { op: 'test', path: '/metadata/finalizers/0', value: JOB_TRACKING_FINALIZER },
      { op: 'remove', path: '/metadata/finalizers/0' },
    ]);
    // The status write comes before the finalizer removals, the counters after.
    expect(f.verbs().indexOf('updateStatus')).toBeLessThan(f.verbs().indexOf('patch'));
    expect(last).toMatchObject({ succeeded: 2, active: 1, uncountedTerminatedPods: { succeeded: [], failed: [] } });
  });

  test('a pod whose finalizer removal is in flight is not counted twice', async () => {
    const f = new Fake();
    const j = f.addJob(job('j', { completions: 3, parallelism: 1 }, { startTime: formatTime(NOW - 5000), active: 1 }));
    const a = f.addPod(pod(j, 'Succeeded', { finishedAt: NOW - 1000 }));
    const c = f.controller();
    await c.reconcile(`${NS}/j`);
    expect(f.lastStatus()?.succeeded).toBe(1);
    // The cache still shows the old pod (finalizer) but the Job's status already counted it.
    f.jobs.set(`${NS}/j`, { ...j, status: f.lastStatus() });
    f.calls = [];
    f.statusWrites = [];
    await c.reconcile(`${NS}/j`);
    expect(f.statusWrites.every((w) => (w.status?.succeeded ?? 0) === 1)).toBe(true);
    expect(f.calls.filter((x) => x.verb === 'patch' && x.name === a.metadata!.name)).toHaveLength(0);
  });

  test('status arithmetic: deleted running pods count as failed, finished ones not active, ready counted', async () => {
    const f = new Fake();
    const j = f.addJob(job('j', { completions: 10, parallelism: 3 }, { startTime: formatTime(NOW - 5000), succeeded: 4, failed: 1 }));
    f.addPod(pod(j, 'Running', { ready: true }));
    f.addPod(pod(j, 'Running', { ready: false }));
    f.addPod(pod(j, 'Running', { deleting: true }));
    f.addPod(pod(j, 'Succeeded', { finalizer: false }));
    await f.controller().reconcile(`${NS}/j`);
    expect(f.lastStatus()).toMatchObject({ succeeded: 4, failed: 2, active: 2, ready: 1, terminating: 1 });
  });

  test('backoffLimit exceeded: FailureTarget written and active pods deleted; Failed once none terminates', async () => {
    const f = new Fake();
    const j = f.addJob(job('j', { completions: 1, backoffLimit: 1 }, { startTime: formatTime(NOW - 5000), failed: 1, active: 1 }));
    f.addPod(pod(j, 'Failed', { finishedAt: NOW - 100 }));
    const running = f.addPod(pod(j, 'Running'));
    const c = f.controller();
    await c.reconcile(`${NS}/j`);
    expect(f.calls.filter((x) => x.verb === 'delete').map((x) => x.name)).toEqual([running.metadata!.name]);
    let s = f.lastStatus()!;
    expect(cond(s, 'FailureTarget')).toMatchObject({ reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    expect(cond(s, 'Failed')).toBeUndefined();
    // Both the failed pod and the deleted running one are counted as failed.
    expect(s).toMatchObject({ failed: 3, active: 0, terminating: 1 });
    expect(f.events.map((e) => e.reason)).not.toContain('BackoffLimitExceeded');
    // The pods are gone: the terminal condition follows, with a Warning event.
    f.pods.clear();
    f.jobs.set(`${NS}/j`, { ...j, status: s });
    await c.reconcile(`${NS}/j`);
    s = f.lastStatus()!;
    expect(cond(s, 'Failed')).toMatchObject({ reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    expect(s.completionTime).toBeFalsy();
    expect(f.events).toContainEqual({ type: 'Warning', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
  });

  test('activeDeadlineSeconds: requeued for the deadline, then DeadlineExceeded', async () => {
    const f = new Fake();
    const j = f.addJob(job('j', { completions: 1, activeDeadlineSeconds: 30 }, { startTime: formatTime(NOW - 10_000), active: 1 }));
    f.addPod(pod(j, 'Running'));
    const c = f.controller();
    expect(await c.reconcile(`${NS}/j`)).toEqual({ requeueAfterMs: 20_000 });
    f.now = NOW + 20_000;
    await c.reconcile(`${NS}/j`);
    expect(cond(f.lastStatus(), 'FailureTarget')).toMatchObject({ reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' });
    expect(f.verbs()).toContain('delete');
  });

  test('success: SuccessCriteriaMet then Complete with completionTime and the Completed event', async () => {
    const f = new Fake();
    f.addJob(job('j', { completions: 2 }, { startTime: formatTime(NOW - 5000), succeeded: 2 }));
    await f.controller().reconcile(`${NS}/j`);
    const s = f.lastStatus()!;
    expect(cond(s, 'SuccessCriteriaMet')).toMatchObject({ reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' });
    expect(cond(s, 'Complete')).toMatchObject({ reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' });
    expect(s.completionTime).toBe(formatTime(NOW));
    expect(f.events).toContainEqual({ type: 'Normal', reason: 'Completed', message: 'Job completed' });
  });

  test('without completions: complete once one pod succeeded and none is active', async () => {
    const f = new Fake();
    const j = f.addJob(job('j', { parallelism: 2 }, { startTime: formatTime(NOW - 5000), active: 2 }));
    f.addPod(pod(j, 'Succeeded', { finishedAt: NOW - 10 }));
    const other = f.addPod(pod(j, 'Running'));
    await f.controller().reconcile(`${NS}/j`);
    // The running pod is left running and nothing new starts.
    expect(f.verbs()).not.toContain('create');
    expect(f.calls.filter((x) => x.verb === 'delete')).toHaveLength(0);
    expect(cond(f.lastStatus(), 'Complete')).toBeUndefined();
    expect(other).toBeDefined();
  });

  test('pod failure backoff: no replacement before it passed, a requeue for when it has', async () => {
    const f = new Fake();
    const j = f.addJob(job('j', { completions: 1 }, { startTime: formatTime(NOW - 60_000), active: 1 }));
    f.addPod(pod(j, 'Failed', { finishedAt: NOW - 4000 }));
    const r = await f.controller().reconcile(`${NS}/j`);
    expect(f.verbs()).not.toContain('create');
    expect(r).toEqual({ requeueAfterMs: 6000 });
    expect(f.lastStatus()).toMatchObject({ failed: 1, active: 0 });
  });

  test('Indexed: the lowest pending indexes, with index annotation, label, hostname and env', async () => {
    const f = new Fake();
    f.addJob(job('ix', { completions: 4, parallelism: 2, completionMode: 'Indexed' }, { startTime: formatTime(NOW - 5000), completedIndexes: '0,2', succeeded: 2 }));
    await f.controller().reconcile(`${NS}/ix`);
    const created = f.calls.filter((x) => x.verb === 'create').map((x) => x.obj as Pod);
    expect(created.map((p) => p.metadata?.annotations?.['batch.kubernetes.io/job-completion-index']).sort()).toEqual(['1', '3']);
    const p1 = created.find((p) => p.metadata?.annotations?.['batch.kubernetes.io/job-completion-index'] === '1')!;
    expect(p1.metadata?.generateName).toBe('ix-1-');
    expect(p1.metadata?.labels?.['batch.kubernetes.io/job-completion-index']).toBe('1');
    expect(p1.spec?.hostname).toBe('ix-1');
    expect(p1.spec?.containers?.[0].env).toEqual([
      { name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } },
    ]);
  });

  test('Indexed: a succeeded index joins completedIndexes; a duplicate index is deleted', async () => {
    const f = new Fake();
    const j = f.addJob(job('ix', { completions: 5, parallelism: 3, completionMode: 'Indexed' }, { startTime: formatTime(NOW - 5000), completedIndexes: '0-2' }));
    f.addPod(pod(j, 'Succeeded', { index: 4, finishedAt: NOW - 10 }));
    f.addPod(pod(j, 'Running', { index: 3, ready: true }));
    const dup = f.addPod(pod(j, 'Pending', { index: 3 }));
    await f.controller().reconcile(`${NS}/ix`);
    expect(f.calls.filter((x) => x.verb === 'delete').map((x) => x.name)).toEqual([dup.metadata!.name]);
    expect(f.lastStatus()).toMatchObject({ completedIndexes: '0-2,4', succeeded: 4 });
  });

  test('suspend: active pods deleted (finalizer first), Suspended condition and event; resume restarts the clock', async () => {
    const f = new Fake();
    const j = f.addJob(job('j', { completions: 2, parallelism: 2, suspend: true }, { startTime: formatTime(NOW - 5000), active: 2 }));
    f.addPod(pod(j, 'Running'));
    f.addPod(pod(j, 'Running'));
    const c = f.controller();
    await c.reconcile(`${NS}/j`);
    expect(f.verbs().filter((v) => v === 'delete')).toHaveLength(2);
    expect(f.verbs().indexOf('patch')).toBeLessThan(f.verbs().indexOf('delete'));
    const s = f.lastStatus()!;
    expect(cond(s, 'Suspended')).toMatchObject({ reason: 'JobSuspended', message: 'Job suspended' });
    expect(s.active).toBe(0);
    expect(f.events).toContainEqual({ type: 'Normal', reason: 'Suspended', message: 'Job suspended' });
    // Resumed later: the Suspended condition turns False and startTime is now.
    for (const p of [...f.pods.values()]) c.onPodDelete(p);
    f.pods.clear();
    f.now = NOW + 60_000;
    f.jobs.set(`${NS}/j`, { ...j, spec: { ...j.spec, suspend: false }, status: s });
    await c.reconcile(`${NS}/j`);
    const r = f.lastStatus()!;
    expect((r.conditions ?? []).find((x) => x.type === 'Suspended')).toMatchObject({ status: 'False', reason: 'JobResumed', message: 'Job resumed' });
    expect(r.startTime).toBe(formatTime(NOW + 60_000));
    expect(f.events).toContainEqual({ type: 'Normal', reason: 'Resumed', message: 'Job resumed' });
  });

  test('a finished Job only releases finalizers left on its pods', async () => {
    const f = new Fake();
    const j = f.addJob(job('j', { completions: 1 }, { conditions: [{ type: 'Complete', status: 'True' }], succeeded: 1 }));
    const straggler = f.addPod(pod(j, 'Running'));
    await f.controller().reconcile(`${NS}/j`);
    expect(f.calls.map((x) => [x.verb, x.name])).toEqual([['patch', straggler.metadata!.name]]);
  });
});

describe('job controller - pod failure backoff', () => {
  const failed = (t: number) => pod(job('b', {}), 'Failed', { finishedAt: t });
  const succeeded = (t: number) => pod(job('b', {}), 'Succeeded', { finishedAt: t });
  const cases: { name: string; failures: number; sinceLastMs: number; remaining: number }[] = [
    { name: 'no failure', failures: 0, sinceLastMs: 0, remaining: 0 },
    { name: '1st failure: 10 s', failures: 1, sinceLastMs: 3000, remaining: 7000 },
    { name: '2nd: 20 s', failures: 2, sinceLastMs: 0, remaining: 20_000 },
    { name: '3rd: 40 s', failures: 3, sinceLastMs: 10_000, remaining: 30_000 },
    { name: '7th: 640 s capped at 360 s', failures: 7, sinceLastMs: 0, remaining: 360_000 },
    { name: 'backoff passed', failures: 2, sinceLastMs: 25_000, remaining: 0 },
  ];
  test.each(cases)('$name', ({ failures, sinceLastMs, remaining }) => {
    const rec = { failuresAfterLastSuccess: failures, lastFailureTime: failures ? NOW - sinceLastMs : undefined };
    expect(backoffRemainingMs(rec, NOW, 10_000, 360_000)).toBe(remaining);
  });
  test('records: failures add up, a success resets, failures after the success still count', () => {
    let r = nextBackoffRecord(undefined, [], [failed(NOW - 5000), failed(NOW - 3000)], NOW);
    expect(r).toEqual({ failuresAfterLastSuccess: 2, lastFailureTime: Date.parse(formatTime(NOW - 3000)) });
    r = nextBackoffRecord(r, [], [failed(NOW - 1000)], NOW);
    expect(r.failuresAfterLastSuccess).toBe(3);
    expect(nextBackoffRecord(r, [succeeded(NOW - 500)], [], NOW)).toEqual({ failuresAfterLastSuccess: 0, lastFailureTime: undefined });
    expect(nextBackoffRecord(r, [succeeded(NOW - 2000)], [failed(NOW - 3000), failed(NOW - 1000)], NOW)).toEqual({
      failuresAfterLastSuccess: 1,
      lastFailureTime: NOW - 1000,
    });
  });
});

describe('job controller - completed indexes', () => {
  const cases: { input: string; completions: number; add: number[]; output: string }[] = [
    { input: '', completions: 5, add: [], output: '' },
    { input: '', completions: 5, add: [0, 1, 2, 4], output: '0-2,4' },
    { input: '3', completions: 5, add: [4], output: '3,4' },
    { input: '1,3-5,7', completions: 10, add: [2, 6], output: '1-7' },
    { input: '0-2', completions: 10, add: [9, 5], output: '0-2,5,9' },
    { input: '0-20', completions: 10, add: [], output: '0-9' },
    { input: 'x,2,7-3', completions: 10, add: [], output: '2' },
  ];
  test.each(cases)('"$input" + $add of $completions → "$output"', ({ input, completions, add, output }) => {
    expect(formatIntervals(withIndexes(parseIndexesFromString(input, completions), add))).toBe(output);
  });
  test('first pending indexes skip succeeded and active ones', () => {
    expect(firstPendingIndexes(parseIndexesFromString('0,2', 6), new Set([1, 4]), 2, 6)).toEqual([3, 5]);
    expect(firstPendingIndexes(parseIndexesFromString('0-5', 6), new Set(), 2, 6)).toEqual([]);
  });
  test('generated names with an index fit 63 characters', () => {
    expect(podGenerateNameWithIndex('job', 12)).toBe('job-12-');
    const long = 'a'.repeat(60);
    expect(podGenerateNameWithIndex(long, 12)).toBe('a'.repeat(54) + '-12-');
  });
});
