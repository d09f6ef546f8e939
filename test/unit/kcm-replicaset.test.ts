/**
 * The ReplicaSet controller's reconcile on an in-memory cache and a recording client: pod
 * ranking for deletion (ActivePodsWithRanks), slow-start batches, status, and the reconcile
 * cases (create with expectations, adopt, release, delete the least valuable, FailedCreate,
 * requeue after minReadySeconds).
 */
import { ReplicaSet } from '../../services/lib/generated/kubemu/apps/v1/apps';
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { logger } from '../../services/lib/log';
import { ApiError, errors } from '../../services/lib/errors';
import { NAMESPACE_INDEX } from '../../services/lib/informer';
import { logarithmicRankDiff, podDeletesBefore, podsToDelete } from '../../services/kube-controller-manager/replicaset/ranking';
import {
  calculateStatus,
  CONTROLLER_UID_INDEX,
  controllerUidIndex,
  ReplicaSetReconciler,
  slowStartBatch,
} from '../../services/kube-controller-manager/replicaset/replicaset';

const NOW = Date.parse('2026-11-23T04:00:00Z');
const iso = (msAgo: number) => new Date(NOW - msAgo).toISOString().replace(/\.\d{3}Z$/, 'Z');

type Meta = { metadata?: { namespace?: string; name?: string; uid?: string; resourceVersion?: string } };

/** An informer's read side over a Map, with the indexers the controller asks for. */
class FakeCache<T extends Meta> {
  readonly items = new Map<string, T>();
  constructor(private readonly indexers: Record<string, (o: T) => string[]> = {}) {}
  set(o: T): T {
    this.items.set(`${o.metadata?.namespace}/${o.metadata?.name}`, o);
    return o;
  }
  get(key: string): T | undefined {
    return this.items.get(key);
  }
  list(): T[] {
    return [...this.items.values()];
  }
  byIndex(name: string, value: string): T[] {
    if (name === NAMESPACE_INDEX) return this.list().filter((o) => (o.metadata?.namespace ?? '') === value);
    const fn = this.indexers[name];
    if (!fn) throw new Error(`no index ${name}`);
    return this.list().filter((o) => fn(o).includes(value));
  }
}

interface Call {
  verb: string;
  resource: string;
  name?: string;
  body?: unknown;
}

/** Records every call; creates get a generated name and uid; `failCreates` makes creates fail. */
class FakeClient {
  calls: Call[] = [];
  failCreates = 0;
  private n = 0;
  rsStore = new Map<string, ReplicaSet>();
  async create(info: { resource: string }, obj: Pod): Promise<Pod> {
    if (this.failCreates > 0) {
      this.failCreates--;
      this.calls.push({ verb: 'create-failed', resource: info.resource });
      throw errors.forbidden('pods', '', 'web-xxxxx', 'exceeded quota: compute-resources');
    }
    const name = `${obj.metadata?.generateName}${String(++this.n).padStart(5, 'x')}`;
    const created = { ...obj, metadata: { ...obj.metadata, name, uid: `uid-${name}`, resourceVersion: '100' } };
    this.calls.push({ verb: 'create', resource: info.resource, name, body: created });
    return created;
  }
  async delete(info: { resource: string }, _ns: string, name: string) {
    this.calls.push({ verb: 'delete', resource: info.resource, name });
    return {};
  }
  async patch(info: { resource: string }, _ns: string, name: string, patch: unknown) {
    this.calls.push({ verb: 'patch', resource: info.resource, name, body: patch });
    return {};
  }
  async updateStatus(info: { resource: string }, obj: ReplicaSet) {
    this.calls.push({ verb: 'updateStatus', resource: info.resource, name: obj.metadata?.name, body: obj });
    return obj;
  }
  async get(_info: { resource: string }, ns: string, name: string) {
    const rs = this.rsStore.get(`${ns}/${name}`);
    if (!rs) throw errors.notFound('replicasets', 'apps', name);
    return rs;
  }
  of(verb: string) {
    return this.calls.filter((c) => c.verb === verb);
  }
}

function pod(name: string, opts: { node?: string; phase?: string; ready?: boolean; readyMsAgo?: number; createdMsAgo?: number; restarts?: number; cost?: string; labels?: Record<string, string>; owner?: ReplicaSet; uid?: string } = {}): Pod {
  const labels = opts.labels ?? { app: 'web' };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: opts.uid ?? `uid-${name}`,
      resourceVersion: '10',
      labels,
      creationTimestamp: iso(opts.createdMsAgo ?? 60_000),
      annotations: opts.cost !== undefined ? { 'controller.kubernetes.io/pod-deletion-cost': opts.cost } : {},
      ownerReferences: opts.owner
        ? [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: opts.owner.metadata?.name, uid: opts.owner.metadata?.uid, controller: true, blockOwnerDeletion: true }]
        : [],
    },
    spec: { nodeName: opts.node ?? 'node-1', containers: [{ name: 'c', image: 'nginx' }] },
    status: {
      phase: opts.phase ?? 'Running',
      conditions: opts.ready === false ? [{ type: 'Ready', status: 'False' }] : [{ type: 'Ready', status: 'True', lastTransitionTime: iso(opts.readyMsAgo ?? 30_000) }],
      containerStatuses: [{ name: 'c', restartCount: opts.restarts ?? 0 }],
    },
  };
}

function replicaSet(name: string, replicas: number, extra: Partial<NonNullable<ReplicaSet['spec']>> = {}): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '5', generation: 2 },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
      ...extra,
    },
    status: {},
  };
}

function setup() {
  const replicaSets = new FakeCache<ReplicaSet>({ [CONTROLLER_UID_INDEX]: controllerUidIndex });
  const pods = new FakeCache<Pod>({ [CONTROLLER_UID_INDEX]: controllerUidIndex });
  const client = new FakeClient();
  const events: { reason: string; message: string; type: string }[] = [];
  const requeued: [string, number][] = [];
  const reconciler = new ReplicaSetReconciler({
    listers: { replicaSets, pods },
    client: client as never,
    recorder: { record: async (_o, type, reason, _a, message) => void events.push({ type, reason, message }) },
    log: logger('test', { quiet: true }),
    now: () => NOW,
    enqueueAfter: (k, ms) => requeued.push([k, ms]),
  });
  return { replicaSets, pods, client, events, reconciler, requeued };
}

describe('replicaset ranking - ActivePodsWithRanks', () => {
  // Each row: the pod expected to go first, the other, and why.
  const cases: [string, Pod, number, Pod, number][] = [
    ['unscheduled before scheduled', pod('a', { node: '' }), 0, pod('b'), 0],
    ['pending before running', pod('a', { phase: 'Pending' }), 0, pod('b'), 0],
    ['unknown before running', pod('a', { phase: 'Unknown' }), 0, pod('b'), 0],
    ['pending before unknown', pod('a', { phase: 'Pending' }), 0, pod('b', { phase: 'Unknown' }), 0],
    ['not ready before ready', pod('a', { ready: false }), 0, pod('b'), 0],
    ['lower deletion cost first', pod('a', { cost: '-5' }), 0, pod('b', { cost: '10' }), 0],
    ['an invalid deletion cost counts as 0', pod('a', { cost: 'x' }), 0, pod('b', { cost: '1' }), 0],
    ['more pods on the node (doubled up) first', pod('a'), 3, pod('b'), 1],
    ['ready for less time first (another log2 bucket)', pod('a', { readyMsAgo: 2_000 }), 0, pod('b', { readyMsAgo: 600_000 }), 0],
    ['more restarts first', pod('a', { restarts: 4 }), 0, pod('b', { restarts: 1 }), 0],
    ['newer first', pod('a', { createdMsAgo: 1_000 }), 0, pod('b', { createdMsAgo: 3_600_000 }), 0],
    ['same log2 bucket: lower uid first', pod('a', { readyMsAgo: 20_000, uid: 'uid-1' }), 0, pod('b', { readyMsAgo: 21_000, uid: 'uid-2' }), 0],
  ];
  test.each(cases)('%s', (_why, first, rf, second, rs) => {
    expect(podDeletesBefore(first, rf, second, rs, NOW)).toBe(true);
    expect(podDeletesBefore(second, rs, first, rf, NOW)).toBe(false);
  });

  test('scheduling outranks everything after it', () => {
    expect(podDeletesBefore(pod('a', { node: '', cost: '100' }), 0, pod('b', { ready: false, cost: '-100' }), 5, NOW)).toBe(true);
  });

  test('logarithmicRankDiff compares floor(log2(age in ns))', () => {
    // 1 s = 2^29.9 ns (bucket 29), 1.5 s = 2^30.5 (30), 1.1 s and 1.9 s both bucket 30.
    expect(logarithmicRankDiff(NOW - 1000, NOW - 1500, NOW)).toBe(-1);
    expect(logarithmicRankDiff(NOW - 1100, NOW - 1900, NOW)).toBe(0);
    // A time in the future (or now) is bucket -1.
    expect(logarithmicRankDiff(NOW, NOW - 1, NOW)).toBe(-1 - 19);
  });

  test('podsToDelete takes the least valuable, counting related pods per node', () => {
    const a = pod('a', { node: 'n1' });
    const b = pod('b', { node: 'n2' });
    const c = pod('c', { node: 'n2' });
    const d = pod('d', { node: 'n3', ready: false });
    const related = [a, b, c, d, pod('other', { node: 'n1' }), pod('other2', { node: 'n2' })];
    expect(podsToDelete([a, b, c, d], related, 2, NOW).map((p) => p.metadata?.name)).toEqual(['d', expect.stringMatching(/^[bc]$/)]);
    expect(podsToDelete([a, b], related, 5, NOW)).toHaveLength(2);
  });
});

describe('replicaset slowStartBatch', () => {
  test('runs 1, 2, 4, … at a time and stops after a failing batch', async () => {
    let calls = 0;
    let inFlight = 0;
    const batches: number[] = [];
    const r = await slowStartBatch(10, 1, async () => {
      calls++;
      inFlight++;
      if (inFlight === 1) batches.push(0);
      batches[batches.length - 1]++;
      await new Promise((res) => setTimeout(res, 1));
      inFlight--;
    });
    expect(r).toEqual({ successes: 10 });
    expect(batches).toEqual([1, 2, 4, 3]);
    let n = 0;
    const failing = await slowStartBatch(10, 1, async () => {
      if (++n === 3) throw new Error('quota');
    });
    expect(failing.successes).toBe(2);
    expect((failing.error as Error).message).toBe('quota');
    expect(n).toBe(3);
  });
});

describe('replicaset calculateStatus', () => {
  test('counts replicas, fully labeled, ready and available (minReadySeconds)', () => {
    const rs = replicaSet('web', 3, { minReadySeconds: 10, template: { metadata: { labels: { app: 'web', tier: 'fe' } } } });
    const pods = [
      pod('a', { labels: { app: 'web', tier: 'fe' }, readyMsAgo: 60_000 }),
      pod('b', { labels: { app: 'web' }, readyMsAgo: 2_000 }),
      pod('c', { labels: { app: 'web', tier: 'fe' }, ready: false }),
    ];
    const s = calculateStatus(rs, pods, undefined, NOW);
    expect(s).toMatchObject({ replicas: 3, fullyLabeledReplicas: 2, readyReplicas: 2, availableReplicas: 1 });
    expect(s.conditions).toBeUndefined();
  });

  test('a manage error sets ReplicaFailure once; success removes it', () => {
    const rs = replicaSet('web', 3);
    const failed = calculateStatus(rs, [], new Error('pods "x" is forbidden: exceeded quota'), NOW);
    expect(failed.conditions).toEqual([{ type: 'ReplicaFailure', status: 'True', lastTransitionTime: iso(0), reason: 'FailedCreate', message: 'pods "x" is forbidden: exceeded quota' }]);
    const ok = calculateStatus({ ...rs, status: failed }, [], undefined, NOW);
    expect(ok.conditions).toBeUndefined();
  });
});

describe('replicaset reconcile', () => {
  test('creates the missing pods once, while the informer has not shown them', async () => {
    const { replicaSets, pods, client, events, reconciler } = setup();
    const rs = replicaSets.set(replicaSet('web', 3));
    pods.set(pod('existing', { owner: rs }));
    await reconciler.reconcile('default/web');
    const created = client.of('create');
    expect(created).toHaveLength(2);
    const body = created[0].body as Pod;
    expect(body.metadata?.generateName).toBe('web-');
    expect(body.metadata?.ownerReferences).toEqual([{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'uid-web', controller: true, blockOwnerDeletion: true }]);
    expect(events.map((e) => e.reason)).toEqual(['SuccessfulCreate', 'SuccessfulCreate']);
    expect(events[0].message).toBe(`Created pod: ${created[0].name}`);
    // The status write carries observedGeneration.
    expect((client.of('updateStatus')[0].body as ReplicaSet).status).toMatchObject({ replicas: 1, observedGeneration: 2 });

    // The informer has not delivered the pods: a second sync must not create again.
    await reconciler.reconcile('default/web');
    expect(client.of('create')).toHaveLength(2);
    // Once it shows them, expectations are met and nothing more is needed.
    for (const c of created) expect(reconciler.onPodAdd(pods.set(c.body as Pod))).toEqual(['default/web']);
    expect(reconciler.expectations.satisfied('default/web')).toBe(true);
    await reconciler.reconcile('default/web');
    expect(client.of('create')).toHaveLength(2);
  });

  test('adopts a matching orphan and releases an owned pod that stopped matching', async () => {
    const { replicaSets, pods, client, reconciler } = setup();
    const rs = replicaSets.set(replicaSet('web', 2));
    client.rsStore.set('default/web', rs);
    pods.set(pod('orphan'));
    pods.set(pod('owned', { owner: rs }));
    pods.set(pod('strayed', { owner: rs, labels: { app: 'other' } }));
    pods.set(pod('foreign', { labels: { app: 'web' }, owner: replicaSet('other', 1) }));
    await reconciler.reconcile('default/web');
    const patches = client.of('patch');
    expect(patches.map((p) => p.name).sort()).toEqual(['orphan', 'strayed']);
    const adopt = patches.find((p) => p.name === 'orphan')!.body as { metadata: { ownerReferences: unknown[]; resourceVersion: string } };
    expect(adopt.metadata.ownerReferences).toEqual([{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'uid-web', controller: true, blockOwnerDeletion: true }]);
    expect(adopt.metadata.resourceVersion).toBe('10');
    const release = patches.find((p) => p.name === 'strayed')!.body as { metadata: { ownerReferences: unknown } };
    expect(release.metadata.ownerReferences).toBeNull();
    // orphan + owned = 2 replicas: nothing to create or delete.
    expect(client.of('create')).toHaveLength(0);
    expect(client.of('delete')).toHaveLength(0);
  });

  test('does not adopt when a fresh read shows the ReplicaSet was replaced', async () => {
    const { replicaSets, pods, client, reconciler } = setup();
    replicaSets.set(replicaSet('web', 1));
    client.rsStore.set('default/web', { ...replicaSet('web', 1), metadata: { ...replicaSet('web', 1).metadata, uid: 'uid-new' } });
    pods.set(pod('orphan'));
    await expect(reconciler.reconcile('default/web')).rejects.toThrow(/original ReplicaSet default\/web is gone/);
    expect(client.of('patch')).toHaveLength(0);
  });

  test('deletes the least valuable pods first and expects exactly them', async () => {
    const { replicaSets, pods, client, events, reconciler } = setup();
    const rs = replicaSets.set(replicaSet('web', 2));
    pods.set(pod('ready-old', { owner: rs, readyMsAgo: 3_600_000 }));
    pods.set(pod('not-ready', { owner: rs, ready: false }));
    pods.set(pod('pending', { owner: rs, phase: 'Pending', ready: false }));
    pods.set(pod('ready-new', { owner: rs, readyMsAgo: 1_000 }));
    await reconciler.reconcile('default/web');
    expect(client.of('delete').map((c) => c.name).sort()).toEqual(['not-ready', 'pending']);
    expect(events.filter((e) => e.reason === 'SuccessfulDelete').map((e) => e.message).sort()).toEqual(['Deleted pod: not-ready', 'Deleted pod: pending']);
    expect(reconciler.expectations.satisfied('default/web')).toBe(false);
    // Seen first with a deletionTimestamp, then deleted: counted once.
    const gone = pods.get('default/pending')!;
    reconciler.onPodUpdate(gone, { ...gone, metadata: { ...gone.metadata, resourceVersion: '11', deletionTimestamp: iso(0) } });
    reconciler.onPodDelete(gone);
    expect(reconciler.expectations.satisfied('default/web')).toBe(false);
    reconciler.onPodDelete(pods.get('default/not-ready')!);
    expect(reconciler.expectations.satisfied('default/web')).toBe(true);
  });

  test('a failed creation records FailedCreate, sets ReplicaFailure and is retried', async () => {
    const { replicaSets, client, events, reconciler } = setup();
    replicaSets.set(replicaSet('web', 3));
    client.failCreates = 1;
    await expect(reconciler.reconcile('default/web')).rejects.toBeInstanceOf(ApiError);
    // Slow start: the first batch of one failed, so nothing else was tried.
    expect(client.of('create')).toHaveLength(0);
    expect(client.of('create-failed')).toHaveLength(1);
    expect(events).toEqual([{ type: 'Warning', reason: 'FailedCreate', message: expect.stringMatching(/^Error creating: .*exceeded quota/) }]);
    const status = (client.of('updateStatus')[0].body as ReplicaSet).status!;
    expect(status.conditions?.[0]).toMatchObject({ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate' });
    // The expectations were lowered for the creations that never happened.
    expect(reconciler.expectations.satisfied('default/web')).toBe(true);
  });

  test('requeues after minReadySeconds while ready pods are not yet available', async () => {
    const { replicaSets, pods, reconciler } = setup();
    const rs = replicaSets.set(replicaSet('web', 1, { minReadySeconds: 30 }));
    pods.set(pod('a', { owner: rs, readyMsAgo: 1_000 }));
    expect(await reconciler.reconcile('default/web')).toEqual({ requeueAfterMs: 30_000 });
  });

  test('a pod turning ready is looked at again after minReadySeconds', () => {
    const { replicaSets, requeued, reconciler } = setup();
    const rs = replicaSets.set(replicaSet('web', 1, { minReadySeconds: 5 }));
    const before = pod('a', { owner: rs, ready: false });
    const after = { ...pod('a', { owner: rs }), metadata: { ...before.metadata, resourceVersion: '11' } };
    expect(reconciler.onPodUpdate(before, after)).toEqual(['default/web']);
    expect(requeued).toEqual([['default/web', 5000]]);
  });

  test('an unchanged status is not written', async () => {
    const { replicaSets, pods, client, reconciler } = setup();
    const rs = replicaSet('web', 1);
    rs.status = { replicas: 1, fullyLabeledReplicas: 1, readyReplicas: 1, availableReplicas: 1, observedGeneration: 2 };
    replicaSets.set(rs);
    pods.set(pod('a', { owner: rs }));
    await reconciler.reconcile('default/web');
    expect(client.calls).toEqual([]);
  });
});
