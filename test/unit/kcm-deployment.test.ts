/**
 * The Deployment controller's arithmetic and reconcile on an in-memory cache and a recording
 * client: the pod-template hash and naming, maxSurge/maxUnavailable resolution, NewRSNewReplicas,
 * reconcileNewReplicaSet / reconcileOldReplicaSets / cleanupUnhealthyReplicas (Kubernetes'
 * rolling_test.go cases), proportional scaling, revision annotations, and condition transitions.
 */
import { Deployment, ReplicaSet } from '../../services/lib/generated/kubemu/apps/v1/apps';
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { errors } from '../../services/lib/errors';
import { NAMESPACE_INDEX } from '../../services/lib/informer';
import { logger } from '../../services/lib/log';
import { DeploymentReconciler } from '../../services/kube-controller-manager/deployment/deployment';
import {
  computeHash,
  equalIgnoreHash,
  fnv32a,
  maxSurge,
  maxUnavailable,
  newRSNewReplicas,
  proportionalSizes,
  resolveFenceposts,
  safeEncodeString,
  setCondition,
  setNewReplicaSetAnnotations,
} from '../../services/kube-controller-manager/deployment/util';
import { CONTROLLER_UID_INDEX, controllerUidIndex } from '../../services/kube-controller-manager/replicaset/replicaset';

const NOW = Date.parse('2026-11-23T04:00:00Z');
const iso = (msAgo: number) => new Date(NOW - msAgo).toISOString().replace(/\.\d{3}Z$/, 'Z');

type Meta = { metadata?: { namespace?: string; name?: string } };

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
  byIndex(name: string, value: string): T[] {
    const all = [...this.items.values()];
    if (name === NAMESPACE_INDEX) return all.filter((o) => (o.metadata?.namespace ?? '') === value);
    return all.filter((o) => this.indexers[name](o).includes(value));
  }
}

interface Call {
  verb: string;
  resource: string;
  body?: unknown;
  name?: string;
}

/** Records calls; writes answer with the object and a higher resourceVersion. */
class FakeClient {
  calls: Call[] = [];
  /** When set, the next create fails with it. */
  createError?: Error;
  private rv = 1000;
  private bump<T extends { metadata?: object }>(o: T): T {
    return { ...o, metadata: { ...(o.metadata ?? {}), resourceVersion: String(++this.rv) } };
  }
  async create(info: { resource: string }, obj: ReplicaSet) {
    if (this.createError) {
      const err = this.createError;
      this.createError = undefined;
      this.calls.push({ verb: 'create-failed', resource: info.resource, name: obj.metadata?.name });
      throw err;
    }
    const created = this.bump({ ...obj, metadata: { ...obj.metadata, uid: `uid-${obj.metadata?.name}`, creationTimestamp: iso(0) } });
    this.calls.push({ verb: 'create', resource: info.resource, body: created, name: obj.metadata?.name });
    return created;
  }
  async update(info: { resource: string }, obj: ReplicaSet) {
    this.calls.push({ verb: 'update', resource: info.resource, body: obj, name: obj.metadata?.name });
    return this.bump(obj);
  }
  async updateStatus(info: { resource: string }, obj: Deployment) {
    this.calls.push({ verb: 'updateStatus', resource: info.resource, body: obj, name: obj.metadata?.name });
    return this.bump(obj);
  }
  async patch(info: { resource: string }, _ns: string, name: string, patch: unknown) {
    this.calls.push({ verb: 'patch', resource: info.resource, body: patch, name });
    return { metadata: { resourceVersion: String(++this.rv) } };
  }
  async delete(info: { resource: string }, _ns: string, name: string) {
    this.calls.push({ verb: 'delete', resource: info.resource, name });
    return {};
  }
  async get(): Promise<never> {
    throw new Error('not expected');
  }
  of(verb: string, resource?: string) {
    return this.calls.filter((c) => c.verb === verb && (!resource || c.resource === resource));
  }
}

function deployment(replicas: number, opts: { maxSurge?: unknown; maxUnavailable?: unknown; type?: string; image?: string; progressDeadlineSeconds?: number; paused?: boolean } = {}): Deployment {
  const type = opts.type ?? 'RollingUpdate';
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', uid: 'uid-web', generation: 1, resourceVersion: '10' },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: opts.image ?? 'nginx:1' }] } },
      strategy: type === 'RollingUpdate' ? { type, rollingUpdate: { maxSurge: opts.maxSurge ?? '25%', maxUnavailable: opts.maxUnavailable ?? '25%' } } : { type },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: opts.progressDeadlineSeconds ?? 600,
      paused: opts.paused,
    },
    status: {},
  };
}

function rs(name: string, replicas: number, available: number, createdMsAgo = 60_000, image = 'nginx:0'): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      resourceVersion: '20',
      creationTimestamp: iso(createdMsAgo),
      labels: { app: 'web' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-web', controller: true }],
    },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image }] } },
    },
    status: { replicas, readyReplicas: available, availableReplicas: available },
  };
}

function setup(now = NOW) {
  const deployments = new FakeCache<Deployment>();
  const replicaSets = new FakeCache<ReplicaSet>({ [CONTROLLER_UID_INDEX]: controllerUidIndex });
  const pods = new FakeCache<Pod>({ [CONTROLLER_UID_INDEX]: controllerUidIndex });
  const client = new FakeClient();
  const events: { type: string; reason: string; message: string }[] = [];
  const reconciler = new DeploymentReconciler({
    listers: { deployments, replicaSets, pods },
    client: client as never,
    recorder: { record: async (_o, type, reason, _a, message) => void events.push({ type, reason, message }) },
    log: logger('test'),
    now: () => now,
  });
  return { deployments, replicaSets, pods, client, events, reconciler };
}

describe('deployment hash and naming', () => {
  test('fnv32a and SafeEncodeString as Kubernetes', () => {
    expect(fnv32a(Buffer.from(''))).toBe(0x811c9dc5);
    expect(fnv32a(Buffer.from('a'))).toBe(0xe40c292c);
    expect(fnv32a(Buffer.from('foobar'))).toBe(0xbf9cf968);
    expect(safeEncodeString('0123456789')).toBe('456789bcdf');
  });

  test('computeHash is stable, ignores key order, and moves with the template and collisionCount', () => {
    const t1 = { metadata: { labels: { app: 'web', tier: 'fe' } }, spec: { containers: [{ name: 'web', image: 'nginx:1' }] } };
    const t1b = { spec: { containers: [{ image: 'nginx:1', name: 'web' }] }, metadata: { labels: { tier: 'fe', app: 'web' } } };
    const h = computeHash(t1, undefined);
    expect(h).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    expect(computeHash(t1b, undefined)).toBe(h);
    expect(computeHash({ ...t1, spec: { containers: [{ name: 'web', image: 'nginx:2' }] } }, undefined)).not.toBe(h);
    expect(computeHash(t1, 0)).not.toBe(h);
    expect(computeHash(t1, 1)).not.toBe(computeHash(t1, 0));
    expect(computeHash(t1, 1)).toBe(computeHash(t1, 1));
  });

  test('equalIgnoreHash ignores the pod-template-hash label and nil/empty differences only', () => {
    const a = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1' }] } };
    const b = { metadata: { labels: { app: 'web', 'pod-template-hash': 'abc' }, annotations: {} }, spec: { containers: [{ name: 'web', image: 'nginx:1', args: [] }] } };
    expect(equalIgnoreHash(a, b)).toBe(true);
    expect(equalIgnoreHash(a, { ...b, metadata: { labels: { app: 'web', x: 'y' } } })).toBe(false);
  });

  test('a new deployment creates <name>-<hash> with the hash label everywhere and the revision annotations', async () => {
    const { deployments, client, events, reconciler } = setup();
    const d = deployments.set(deployment(3));
    await reconciler.reconcile('default/web');
    const [create] = client.of('create', 'replicasets');
    const created = create.body as ReplicaSet;
    const hash = computeHash(d.spec?.template, undefined);
    expect(created.metadata?.name).toBe(`web-${hash}`);
    expect(created.metadata?.labels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(created.spec?.selector?.matchLabels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(created.spec?.template?.metadata?.labels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(equalIgnoreHash(created.spec?.template, d.spec?.template)).toBe(true);
    expect(created.spec?.replicas).toBe(3);
    expect(created.metadata?.ownerReferences).toEqual([{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-web', controller: true, blockOwnerDeletion: true }]);
    expect(created.metadata?.annotations).toEqual({
      'deployment.kubernetes.io/revision': '1',
      'deployment.kubernetes.io/desired-replicas': '3',
      'deployment.kubernetes.io/max-replicas': '4',
    });
    expect(events).toContainEqual({ type: 'Normal', reason: 'ScalingReplicaSet', message: `Scaled up replica set web-${hash} from 0 to 3` });
    expect(client.of('patch', 'deployments')[0].body).toEqual({ metadata: { annotations: { 'deployment.kubernetes.io/revision': '1' } } });
    const statuses = client.of('updateStatus').map((c) => (c.body as Deployment).status!);
    expect(statuses[0].conditions).toEqual([
      { type: 'Progressing', status: 'True', reason: 'NewReplicaSetCreated', message: `Created new replica set "web-${hash}"`, lastUpdateTime: iso(0), lastTransitionTime: iso(0) },
    ]);
  });

  test('a rollback reuses the ReplicaSet of the same template and raises its revision', async () => {
    const { deployments, replicaSets, client, reconciler } = setup();
    deployments.set(deployment(2, { image: 'nginx:1' }));
    const first = rs('web-first', 0, 0, 120_000, 'nginx:1');
    first.metadata!.annotations = { 'deployment.kubernetes.io/revision': '1' };
    const second = rs('web-second', 2, 2, 60_000, 'nginx:2');
    second.metadata!.annotations = { 'deployment.kubernetes.io/revision': '2' };
    replicaSets.set(first);
    replicaSets.set(second);
    await reconciler.reconcile('default/web');
    expect(client.of('create')).toHaveLength(0);
    const update = client.of('update', 'replicasets')[0].body as ReplicaSet;
    expect(update.metadata?.name).toBe('web-first');
    expect(update.metadata?.annotations).toMatchObject({ 'deployment.kubernetes.io/revision': '3', 'deployment.kubernetes.io/revision-history': '1' });
  });
});

describe('deployment ReplicaSet ownership', () => {
  test('adopts a matching orphan ReplicaSet and ignores one owned by another controller', async () => {
    const { deployments, replicaSets, client, reconciler } = setup();
    deployments.set(deployment(1));
    const orphan = rs('web-orphan', 1, 1, 60_000, 'nginx:1');
    orphan.metadata!.ownerReferences = [];
    replicaSets.set(orphan);
    const foreign = rs('web-foreign', 1, 1);
    foreign.metadata!.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'other', uid: 'uid-other', controller: true }];
    replicaSets.set(foreign);
    (client as unknown as { get: () => Promise<Deployment> }).get = async () => deployment(1);
    await reconciler.reconcile('default/web');
    const patches = client.of('patch', 'replicasets');
    expect(patches.map((p) => p.name)).toEqual(['web-orphan']);
    expect(patches[0].body).toEqual({
      metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-web', controller: true, blockOwnerDeletion: true }], resourceVersion: '20' },
    });
  });

  test('a name taken by another template bumps collisionCount, and the next hash differs', async () => {
    const { deployments, replicaSets, client, reconciler } = setup();
    const d = deployments.set(deployment(1));
    const hash = computeHash(d.spec?.template, undefined);
    const squatter = rs(`web-${hash}`, 1, 1, 60_000, 'something-else');
    squatter.metadata!.ownerReferences = [];
    squatter.metadata!.labels = { other: 'x' };
    replicaSets.set(squatter);
    client.createError = errors.alreadyExists('replicasets', 'apps', `web-${hash}`);
    await expect(reconciler.reconcile('default/web')).rejects.toThrow(/already exists/);
    const status = client.of('updateStatus').map((c) => (c.body as Deployment).status!).pop()!;
    expect(status.collisionCount).toBe(1);
    expect(computeHash(d.spec?.template, 1)).not.toBe(hash);
  });
});

describe('deployment maxSurge / maxUnavailable', () => {
  const cases: [unknown, unknown, number, number, number][] = [
    // maxSurge, maxUnavailable, replicas → surge (rounded up), unavailable (rounded down)
    ['25%', '25%', 3, 1, 0],
    ['25%', '25%', 4, 1, 1],
    ['25%', '25%', 10, 3, 2],
    [1, 0, 3, 1, 0],
    [0, 1, 3, 0, 1],
    [0, 0, 5, 0, 1],
    ['0%', '10%', 5, 0, 1],
    ['10%', '10%', 1, 1, 0],
    [2, '50%', 5, 2, 2],
    ['100%', 0, 4, 4, 0],
  ];
  test.each(cases)('maxSurge %p, maxUnavailable %p of %p → surge %p, unavailable %p', (s, u, replicas, surge, unavailable) => {
    expect(resolveFenceposts(s, u, replicas)).toEqual({ surge, unavailable });
    const d = deployment(replicas, { maxSurge: s, maxUnavailable: u });
    expect(maxSurge(d)).toBe(surge);
    expect(maxUnavailable(d)).toBe(Math.min(unavailable, replicas));
  });

  test('Recreate and zero replicas have no surge or unavailability', () => {
    expect(maxSurge(deployment(3, { type: 'Recreate' }))).toBe(0);
    expect(maxUnavailable(deployment(3, { type: 'Recreate' }))).toBe(0);
    expect(maxUnavailable(deployment(0))).toBe(0);
  });

  test('a string that is not a percentage is refused', () => {
    expect(() => resolveFenceposts('3', 0, 3)).toThrow(/not a percentage/);
  });
});

describe('deployment NewRSNewReplicas', () => {
  const cases: [string, number, unknown, number, number, number][] = [
    // name, deployment replicas, maxSurge, old replicas, new replicas → new size
    ['no room to surge', 10, 0, 10, 0, 0],
    ['surge by 2', 10, 2, 10, 0, 2],
    ['old ones half gone', 10, 2, 5, 0, 7],
    ['already at the surge limit', 10, 2, 10, 2, 2],
    ['never above spec.replicas', 3, '100%', 0, 1, 3],
  ];
  test.each(cases)('%s', (_n, replicas, surge, oldR, newR, expected) => {
    const d = deployment(replicas, { maxSurge: surge, maxUnavailable: 1 });
    const oldRS = rs('old', oldR, oldR);
    const newRS = rs('new', newR, newR);
    expect(newRSNewReplicas(d, [oldRS, newRS], newRS)).toBe(expected);
  });

  test('Recreate asks for everything at once', () => {
    expect(newRSNewReplicas(deployment(4, { type: 'Recreate' }), [], rs('new', 0, 0))).toBe(4);
  });
});

describe('deployment rolling update steps (rolling_test.go)', () => {
  const sizeOf = (client: FakeClient, name: string) => (client.of('update', 'replicasets').filter((c) => c.name === name).pop()?.body as ReplicaSet | undefined)?.spec?.replicas;

  const newCases: [string, number, unknown, number, number, boolean, number | undefined][] = [
    ['should not scale up', 10, 0, 10, 0, false, undefined],
    ['scales up by maxSurge', 10, 2, 10, 0, true, 2],
    ['scales up to replicas + surge - old', 10, 2, 5, 0, true, 7],
    ['at the surge limit', 10, 2, 10, 2, false, undefined],
    ['should scale down', 2, 0, 2, 4, true, 2],
  ];
  test.each(newCases)('reconcileNewReplicaSet: %s', async (_n, replicas, surge, oldR, newR, scaled, expected) => {
    const { client, reconciler } = setup();
    const d = deployment(replicas, { maxSurge: surge, maxUnavailable: surge === 0 ? 1 : 0 });
    const oldRS = rs('old', oldR, oldR);
    const newRS = rs('new', newR, newR);
    expect(await reconciler.reconcileNewReplicaSet([oldRS, newRS], newRS, d)).toBe(scaled);
    expect(sizeOf(client, 'new')).toBe(expected);
  });

  const oldCases: [string, number, number, number, number, number, number, boolean, number | undefined][] = [
    // name, replicas, maxUnavailable, old, new, old available, new available → scaled, old size
    ['maxUnavailable 0 resolves to 1', 10, 0, 10, 0, 10, 0, true, 9],
    ['scales down by maxUnavailable', 10, 2, 10, 0, 10, 0, true, 8],
    ['unhealthy old replicas cleaned up first', 10, 2, 10, 0, 8, 0, true, 8],
    ['one unhealthy cleaned up, one ready scaled down', 10, 2, 10, 0, 9, 0, true, 8],
    ['unavailable new pods block further scale down', 10, 2, 8, 2, 8, 0, false, undefined],
  ];
  test.each(oldCases)('reconcileOldReplicaSets: %s', async (_n, replicas, unavailable, oldR, newR, oldAvail, newAvail, scaled, expected) => {
    const { client, reconciler } = setup();
    const d = deployment(replicas, { maxSurge: 0, maxUnavailable: unavailable });
    const oldRS = rs('old', oldR, oldAvail);
    const newRS = rs('new', newR, newAvail);
    expect(await reconciler.reconcileOldReplicaSets([oldRS, newRS], [oldRS], newRS, d)).toBe(scaled);
    expect(sizeOf(client, 'old')).toBe(expected);
  });

  const cleanupCases: [number, number, number, number][] = [
    // old replicas, available, maxCleanupCount → cleaned up
    [10, 8, 1, 1],
    [10, 8, 3, 2],
    [10, 8, 0, 0],
    [10, 10, 3, 0],
  ];
  test.each(cleanupCases)('cleanupUnhealthyReplicas: %p replicas, %p available, at most %p → %p', async (oldR, avail, max, expected) => {
    const { reconciler } = setup();
    const r = await reconciler.cleanupUnhealthyReplicas([rs('old', oldR, avail)], deployment(10, { maxSurge: 2, maxUnavailable: 2 }), max);
    expect(r.count).toBe(expected);
    expect(r.oldRSs[0].spec?.replicas).toBe(oldR - expected);
  });

  test('cleanupUnhealthyReplicas takes the oldest ReplicaSets first', async () => {
    const { reconciler } = setup();
    const r = await reconciler.cleanupUnhealthyReplicas([rs('newer', 3, 1, 1_000), rs('older', 3, 1, 9_000)], deployment(10), 3);
    expect(r.oldRSs.map((x) => [x.metadata?.name, x.spec?.replicas])).toEqual([
      ['older', 1],
      ['newer', 2],
    ]);
  });
});

describe('deployment proportional scaling', () => {
  function annotated(name: string, replicas: number, maxReplicas: number, createdMsAgo: number): ReplicaSet {
    const r = rs(name, replicas, replicas, createdMsAgo);
    r.metadata!.annotations = { 'deployment.kubernetes.io/max-replicas': String(maxReplicas), 'deployment.kubernetes.io/desired-replicas': String(maxReplicas) };
    return r;
  }
  const cases: [string, number, [number, number], [number, number]][] = [
    // name, new deployment size (surge 0), [new, old] sizes at max-replicas 5 or 10 → [new, old]
    ['5 → 10', 10, [3, 2], [6, 4]],
    ['5 → 7 with rounding', 7, [3, 2], [4, 3]],
    ['10 → 5', 5, [6, 4], [3, 2]],
    ['to 0', 0, [3, 2], [0, 0]],
  ];
  test.each(cases)('%s', (_n, replicas, [n, o], [en, eo]) => {
    const before = n + o;
    const d = deployment(replicas, { maxSurge: 0, maxUnavailable: 1 });
    const sizes = proportionalSizes(d, [annotated('old', o, before, 60_000), annotated('new', n, before, 1_000)]);
    const by = Object.fromEntries(sizes.map((s) => [s.rs.metadata?.name, s.size]));
    expect([by.new, by.old]).toEqual([en, eo]);
  });

  test('a resize mid-rollout scales every active ReplicaSet and records it', async () => {
    const { deployments, replicaSets, client, events, reconciler } = setup();
    const d = deployment(10, { maxSurge: 0, maxUnavailable: 1, image: 'nginx:2' });
    deployments.set(d);
    replicaSets.set(annotated('web-old', 2, 5, 60_000));
    const newRS = annotated('web-new', 3, 5, 1_000);
    newRS.spec!.template!.spec!.containers![0].image = 'nginx:2';
    newRS.metadata!.annotations!['deployment.kubernetes.io/revision'] = '2';
    replicaSets.set(newRS);
    await reconciler.reconcile('default/web');
    const sizes = Object.fromEntries(client.of('update', 'replicasets').map((c) => [c.name, (c.body as ReplicaSet).spec?.replicas]));
    expect(sizes).toEqual({ 'web-new': 6, 'web-old': 4 });
    expect(events.map((e) => e.message).sort()).toEqual(['Scaled up replica set web-new from 3 to 6', 'Scaled up replica set web-old from 2 to 4']);
  });
});

describe('deployment revision annotations', () => {
  test('a reused ReplicaSet keeps its former revisions in revision-history', () => {
    const d = deployment(1);
    d.metadata!.annotations = { team: 'a', 'deployment.kubernetes.io/revision': '9' };
    const r = rs('x', 1, 1);
    r.metadata!.annotations = { 'deployment.kubernetes.io/revision': '3', 'deployment.kubernetes.io/revision-history': '1' };
    expect(setNewReplicaSetAnnotations(d, r, 5, true)).toBe(true);
    expect(r.metadata?.annotations).toEqual({ team: 'a', 'deployment.kubernetes.io/revision': '5', 'deployment.kubernetes.io/revision-history': '1,3' });
    // Never lowered.
    expect(setNewReplicaSetAnnotations(d, r, 4, true)).toBe(false);
    // The history is bounded: the oldest revisions go first.
    r.metadata!.annotations!['deployment.kubernetes.io/revision-history'] = '1,2,3';
    setNewReplicaSetAnnotations(d, r, 6, true, 6);
    expect(r.metadata?.annotations?.['deployment.kubernetes.io/revision-history']).toBe('2,3,5');
  });
});

describe('deployment conditions', () => {
  test('setCondition keeps lastTransitionTime while the status stays, and ignores same status and reason', () => {
    const status = { conditions: [{ type: 'Progressing', status: 'True', reason: 'NewReplicaSetCreated', lastTransitionTime: iso(60_000), lastUpdateTime: iso(60_000) }] };
    setCondition(status, { type: 'Progressing', status: 'True', reason: 'NewReplicaSetCreated', lastTransitionTime: iso(0), lastUpdateTime: iso(0) });
    expect(status.conditions[0].lastUpdateTime).toBe(iso(60_000));
    setCondition(status, { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', lastTransitionTime: iso(0), lastUpdateTime: iso(0) });
    expect(status.conditions[0]).toMatchObject({ reason: 'ReplicaSetUpdated', lastTransitionTime: iso(60_000), lastUpdateTime: iso(0) });
    setCondition(status, { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', lastTransitionTime: iso(0), lastUpdateTime: iso(0) });
    expect(status.conditions[0]).toMatchObject({ status: 'False', lastTransitionTime: iso(0) });
  });

  function progressing(reason: string, msAgo: number) {
    return { type: 'Progressing', status: 'True', reason, message: '', lastUpdateTime: iso(msAgo), lastTransitionTime: iso(120_000) };
  }

  test('complete → NewReplicaSetAvailable and Available', async () => {
    const { client, reconciler } = setup();
    const d = deployment(3, { progressDeadlineSeconds: 60 });
    d.status = { conditions: [progressing('ReplicaSetUpdated', 5_000)] };
    const newRS = rs('web-abc', 3, 3);
    await reconciler.syncRolloutStatus([newRS], newRS, d);
    const s = (client.of('updateStatus')[0].body as Deployment).status!;
    expect(s).toMatchObject({ observedGeneration: 1, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, unavailableReplicas: 0 });
    // As Kubernetes: a replaced condition moves to the end.
    expect(s.conditions).toEqual([
      { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.', lastUpdateTime: iso(0), lastTransitionTime: iso(0) },
      { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: 'ReplicaSet "web-abc" has successfully progressed.', lastUpdateTime: iso(0), lastTransitionTime: iso(120_000) },
    ]);
  });

  test('progress refreshes lastUpdateTime of ReplicaSetUpdated, keeping lastTransitionTime', async () => {
    const { client, reconciler } = setup();
    const d = deployment(3, { progressDeadlineSeconds: 60 });
    d.status = { replicas: 3, updatedReplicas: 1, availableReplicas: 3, readyReplicas: 3, conditions: [progressing('ReplicaSetUpdated', 30_000)] };
    const oldRS = rs('web-old', 1, 1);
    const newRS = rs('web-new', 3, 2);
    await reconciler.syncRolloutStatus([oldRS, newRS], newRS, d);
    const c = (client.of('updateStatus')[0].body as Deployment).status!.conditions!.find((x) => x.type === 'Progressing');
    expect(c).toEqual({ type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: 'ReplicaSet "web-new" is progressing.', lastUpdateTime: iso(0), lastTransitionTime: iso(120_000) });
  });

  test('no progress past the deadline → ProgressDeadlineExceeded; before it, a requeue for when it passes', async () => {
    const stuckStatus = () => ({ replicas: 1, updatedReplicas: 1, availableReplicas: 0, readyReplicas: 0, unavailableReplicas: 1, observedGeneration: 1 });
    const newRS = rs('web-new', 1, 0);
    newRS.status = { replicas: 1, readyReplicas: 0, availableReplicas: 0 };

    const late = setup();
    const d1 = deployment(1, { progressDeadlineSeconds: 10 });
    d1.status = { ...stuckStatus(), conditions: [progressing('NewReplicaSetCreated', 11_000)] };
    await late.reconciler.syncRolloutStatus([newRS], newRS, d1);
    const c = (late.client.of('updateStatus')[0].body as Deployment).status!.conditions!.find((x) => x.type === 'Progressing');
    expect(c).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "web-new" has timed out progressing.', lastTransitionTime: iso(0) });

    const early = setup();
    const d2 = deployment(1, { progressDeadlineSeconds: 10 });
    const available = { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.', lastUpdateTime: iso(4_000), lastTransitionTime: iso(4_000) };
    d2.status = { ...stuckStatus(), conditions: [progressing('NewReplicaSetCreated', 4_000), available] };
    expect(await early.reconciler.syncRolloutStatus([newRS], newRS, d2)).toEqual({ requeueAfterMs: 7_000 });
    expect(early.client.of('updateStatus')).toHaveLength(0);
  });

  test('pausing and resuming set Progressing Unknown with Kubernetes reasons; a paused deployment does not roll', async () => {
    const { deployments, replicaSets, client, reconciler } = setup();
    const d = deployment(2, { paused: true, image: 'nginx:2' });
    deployments.set(d);
    const cur = rs('web-cur', 2, 2, 60_000, 'nginx:1');
    cur.metadata!.annotations = { 'deployment.kubernetes.io/revision': '1', 'deployment.kubernetes.io/desired-replicas': '2', 'deployment.kubernetes.io/max-replicas': '3' };
    replicaSets.set(cur);
    await reconciler.reconcile('default/web');
    expect(client.of('create')).toHaveLength(0);
    const paused = (client.of('updateStatus')[0].body as Deployment).status!.conditions!.find((c) => c.type === 'Progressing');
    expect(paused).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused', message: 'Deployment is paused' });

    const resumed = setup();
    const d2 = deployment(2, { image: 'nginx:1' });
    d2.status = { conditions: [{ ...paused! }] };
    resumed.deployments.set(d2);
    resumed.replicaSets.set(cur);
    await resumed.reconciler.reconcile('default/web');
    const first = (resumed.client.of('updateStatus')[0].body as Deployment).status!.conditions!.find((c) => c.type === 'Progressing');
    expect(first).toMatchObject({ status: 'Unknown', reason: 'DeploymentResumed', message: 'Deployment is resumed' });
  });
});

describe('deployment rollout after a failed scale-down', () => {
  test('an old ReplicaSet that cannot be scaled down (Conflict) brings the deployment back within a second, even with no further event', async () => {
    // The new ReplicaSet as the controller names it: made by a first sync of a fresh reconciler.
    const first = setup();
    const d = deployment(3, { maxSurge: 1, maxUnavailable: 0, image: 'nginx:2' });
    first.deployments.set(d);
    first.replicaSets.set(rs('web-old', 3, 3));
    await first.reconciler.reconcile('default/web');
    const created = first.client.of('create', 'replicasets')[0].body as ReplicaSet;

    // A failed-over controller finds the new ReplicaSet fully ready and one old replica left.
    const { deployments, replicaSets, client, reconciler } = setup();
    deployments.set(d);
    replicaSets.set(rs('web-old', 1, 1));
    replicaSets.set({ ...created, spec: { ...created.spec, replicas: 3 }, status: { replicas: 3, readyReplicas: 3, availableReplicas: 3 } });
    const update = client.update.bind(client);
    client.update = async (info, obj) => {
      if (obj.metadata?.name === 'web-old') throw errors.conflict('replicasets', 'apps', 'web-old', 'the object has been modified; please apply your changes to the latest version and try again');
      return update(info, obj);
    };
    const result = await reconciler.reconcile('default/web');
    expect(result).toEqual({ requeueAfterMs: expect.any(Number) });
    expect((result as { requeueAfterMs: number }).requeueAfterMs).toBeLessThanOrEqual(1000);

  });
});

describe('deployment sync waiting for its own writes', () => {
  test('a deployment whose namespace has a ReplicaSet write not yet in the cache looks again by itself', async () => {
    const { deployments, client, reconciler } = setup();
    const other = deployment(1);
    other.metadata = { ...other.metadata, name: 'api', uid: 'uid-api' };
    other.spec!.selector = { matchLabels: { app: 'api' } };
    other.spec!.template!.metadata = { labels: { app: 'api' } };
    deployments.set(other);
    await reconciler.reconcile('default/api'); // creates api's ReplicaSet; the informer has not shown it yet
    expect(client.of('create', 'replicasets')).toHaveLength(1);

    deployments.set(deployment(3));
    // Only api is enqueued when its ReplicaSet shows up; web must not wait for that forever.
    expect(await reconciler.reconcile('default/web')).toEqual({ requeueAfterMs: expect.any(Number) });
    expect(client.of('create', 'replicasets')).toHaveLength(1);
  });

  test('an echo that never comes (the ReplicaSet was deleted meanwhile) holds the namespace for 10 s at most', async () => {
    let now = NOW;
    const deployments = new FakeCache<Deployment>();
    const replicaSets = new FakeCache<ReplicaSet>({ [CONTROLLER_UID_INDEX]: controllerUidIndex });
    const pods = new FakeCache<Pod>({ [CONTROLLER_UID_INDEX]: controllerUidIndex });
    const client = new FakeClient();
    const reconciler = new DeploymentReconciler({
      listers: { deployments, replicaSets, pods },
      client: client as never,
      recorder: { record: async () => undefined },
      log: logger('test'),
      now: () => now,
    });
    const other = deployment(1);
    other.metadata = { ...other.metadata, name: 'api', uid: 'uid-api' };
    other.spec!.selector = { matchLabels: { app: 'api' } };
    other.spec!.template!.metadata = { labels: { app: 'api' } };
    deployments.set(other);
    await reconciler.reconcile('default/api'); // its ReplicaSet never shows up in the cache
    deployments.set(deployment(3));
    expect(await reconciler.reconcile('default/web')).toEqual({ requeueAfterMs: expect.any(Number) });
    now += 11_000;
    await reconciler.reconcile('default/web');
    expect(client.of('create', 'replicasets')).toHaveLength(2);
  });
});
