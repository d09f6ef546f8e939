/**
 * StatefulSet controller: ordinals and identity, revision names, the rolling-update order with a
 * partition (table-driven), and syncStatefulSet on an in-memory cache with a recording client.
 */
import { StatefulSet } from '../../services/lib/generated/kubemu/apps/v1/apps';
import { PersistentVolumeClaim, Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { logger } from '../../services/lib/log';
import { KubeObject } from '../../services/lib/resources';
import {
  claimOwnerRefs,
  claimsFor,
  newStatefulSetPod,
  nextRollingUpdateStep,
  ordinalOf,
  PodState,
  revisionForNewPod,
  revisionName,
  safeEncodeString,
} from '../../services/kube-controller-manager/statefulset/identity';
import { PODS_BY_STATEFULSET, RevisionHistory, syncStatefulSet } from '../../services/kube-controller-manager/statefulset/controller';

const sts = (replicas = 3, extra: Partial<NonNullable<StatefulSet['spec']>> = {}): StatefulSet => ({
  metadata: { name: 'web', namespace: 'default', uid: 'set-uid', generation: 1 },
  spec: {
    replicas,
    serviceName: 'web',
    podManagementPolicy: 'OrderedReady',
    updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }], volumes: [{ name: 'data', emptyDir: {} }] } },
    volumeClaimTemplates: [{ metadata: { name: 'data', labels: { tier: 'db' } }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
    ...extra,
  },
});

describe('statefulset - identity', () => {
  test.each([
    ['web-0', 0],
    ['web-12', 12],
    ['web-01', -1],
    ['web-', -1],
    ['web-x', -1],
    ['webx-1', -1],
    ['other-1', -1],
    ['web-1-2', -1],
  ])('ordinalOf(web, %s) = %d', (name, want) => {
    expect(ordinalOf('web', name)).toBe(want);
  });

  test('a pod has its name, hostname, subdomain, identity labels and its claim as volume', () => {
    const set = sts();
    const pod = newStatefulSetPod(set, set.spec!.template, 'web-abc', 2);
    expect(pod.metadata?.name).toBe('web-2');
    expect(pod.metadata?.labels).toEqual({ app: 'web', 'statefulset.kubernetes.io/pod-name': 'web-2', 'apps.kubernetes.io/pod-index': '2', 'controller-revision-hash': 'web-abc' });
    expect(pod.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'StatefulSet', name: 'web', uid: 'set-uid', controller: true })]);
    expect(pod.spec?.hostname).toBe('web-2');
    expect(pod.spec?.subdomain).toBe('web');
    expect(pod.spec?.volumes).toEqual([{ name: 'data', persistentVolumeClaim: { claimName: 'data-web-2' } }]);
  });

  test('claims are named <template>-<set>-<ordinal> and carry template and selector labels', () => {
    const [c] = claimsFor(sts(), 1);
    expect(c.metadata).toMatchObject({ name: 'data-web-1', namespace: 'default', labels: { tier: 'db', app: 'web' } });
    expect(c.metadata?.ownerReferences).toBeUndefined();
  });

  test.each([
    ['Retain', 'Retain', 1, []],
    ['Delete', 'Retain', 1, ['StatefulSet web']],
    ['Delete', 'Retain', 5, ['StatefulSet web']],
    ['Retain', 'Delete', 1, []],
    ['Retain', 'Delete', 5, ['Pod web-5']],
    ['Delete', 'Delete', 5, ['Pod web-5']],
    ['Delete', 'Delete', 1, ['StatefulSet web']],
  ])('retention whenDeleted %s whenScaled %s, ordinal %d of 3: claim owners %j', (whenDeleted, whenScaled, ordinal, want) => {
    const set = sts(3, { persistentVolumeClaimRetentionPolicy: { whenDeleted, whenScaled } });
    const pod = newStatefulSetPod(set, set.spec!.template, 'r', ordinal);
    pod.metadata!.uid = 'pod-uid';
    const [claim] = claimsFor(set, ordinal);
    // A foreign owner is always kept; a stale pod reference is dropped when not wanted.
    claim.metadata!.ownerReferences = [{ kind: 'Thing', name: 'x', uid: 'x' }, { kind: 'Pod', name: `web-${ordinal}`, uid: 'old' }];
    expect((claimOwnerRefs(set, claim, pod, ordinal) ?? []).map((r) => `${r.kind} ${r.name}`)).toEqual(['Thing x', ...want]);
  });

  test('revision names: <set>-<safe-encoded fnv32a>, stable across key order, different per template', () => {
    const set = sts();
    const a = revisionName(set, { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });
    const b = revisionName(set, { spec: { containers: [{ image: 'nginx', name: 'c' }] }, metadata: { labels: { app: 'web' } } });
    const c = revisionName(set, { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx:2' }] } });
    expect(a).toBe(b);
    // Absent-equivalent fields (as decoders differ on them) do not change the revision.
    expect(revisionName(set, { metadata: { labels: { app: 'web' }, annotations: {} }, spec: { containers: [{ name: 'c', image: 'nginx', env: [] }], volumes: undefined } })).toBe(a);
    expect(a).not.toBe(c);
    expect(a).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]+$/);
    expect(safeEncodeString('0123')).toBe('4567'); // '0' is 48, 48 % 27 = 21
  });

  test.each([
    ['RollingUpdate', 2, 0, 'current'],
    ['RollingUpdate', 2, 1, 'current'],
    ['RollingUpdate', 2, 2, 'update'],
    ['RollingUpdate', 0, 0, 'update'],
    ['OnDelete', 2, 0, 'update'],
  ])('%s partition %d: a new pod of ordinal %d is made at the %s revision', (type, partition, ordinal, want) => {
    const set = sts(3, { updateStrategy: { type, rollingUpdate: type === 'RollingUpdate' ? { partition } : undefined } });
    expect(revisionForNewPod(set, ordinal)).toBe(want);
  });
});

describe('statefulset - rolling update order', () => {
  const H = (revision: string): { state: PodState; revision: string } => ({ state: 'healthy', revision });
  const cases: { name: string; replicas: { state: PodState; revision: string }[]; partition: number; want: ReturnType<typeof nextRollingUpdateStep> }[] = [
    { name: 'highest ordinal first', replicas: [H('old'), H('old'), H('old')], partition: 0, want: { delete: 2 } },
    { name: 'then the next one down', replicas: [H('old'), H('old'), H('new')], partition: 0, want: { delete: 1 } },
    { name: 'waits for the replaced pod to be healthy', replicas: [H('old'), H('old'), { state: 'unhealthy', revision: 'new' }], partition: 0, want: 'wait' },
    { name: 'waits for a missing pod (being recreated)', replicas: [H('old'), H('old'), { state: 'missing', revision: '' }], partition: 0, want: 'wait' },
    { name: 'waits for a terminating pod', replicas: [H('old'), H('old'), { state: 'terminating', revision: 'old' }], partition: 0, want: 'wait' },
    { name: 'partition 1 stops above ordinal 0', replicas: [H('old'), H('new'), H('new')], partition: 1, want: 'done' },
    { name: 'partition 2 updates only ordinal 2', replicas: [H('old'), H('old'), H('old')], partition: 2, want: { delete: 2 } },
    { name: 'partition above replicas updates nothing', replicas: [H('old'), H('old')], partition: 5, want: 'done' },
    { name: 'all updated', replicas: [H('new'), H('new')], partition: 0, want: 'done' },
    { name: 'an unhealthy old pod is still replaced', replicas: [H('new'), { state: 'unhealthy', revision: 'old' }], partition: 0, want: { delete: 1 } },
  ];
  test.each(cases)('$name', ({ replicas, partition, want }) => {
    expect(nextRollingUpdateStep(replicas, 'new', partition)).toEqual(want);
  });
});

class FakeClient {
  calls: string[] = [];
  statuses: StatefulSet[] = [];
  async create(_i: unknown, obj: KubeObject) {
    this.calls.push(`create ${obj.kind ?? (obj.spec && 'containers' in (obj.spec as object) ? 'pod' : 'claim')} ${obj.metadata?.name}`);
    return obj;
  }
  async delete(_i: unknown, _ns: string, name: string) {
    this.calls.push(`delete ${name}`);
    return {};
  }
  async get(): Promise<never> {
    throw new Error('unused');
  }
  async updateStatus(_i: unknown, obj: StatefulSet) {
    this.statuses.push(obj);
    return obj;
  }
}

const running = (set: StatefulSet, ordinal: number, revision: string, ready = true): Pod => {
  const p = newStatefulSetPod(set, set.spec!.template, revision, ordinal);
  p.metadata!.uid = `pod-${ordinal}`;
  p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] };
  return p;
};

function sync(set: StatefulSet, pods: Pod[], claims: PersistentVolumeClaim[] = []) {
  const client = new FakeClient();
  const events: string[] = [];
  const cmap = new Map(claims.map((c) => [`default/${c.metadata!.name}`, c]));
  const revisions = new RevisionHistory();
  revisions.observe(set);
  const done = syncStatefulSet(
    {
      client: client as never,
      sets: { get: () => set },
      pods: { byIndex: (name, v) => (name === PODS_BY_STATEFULSET && v === 'default/web' ? pods : []) },
      claims: { get: (k) => cmap.get(k) },
      recorder: { record: async (_o, _t, reason, _a, message) => void events.push(`${reason} ${message}`) },
      log: logger('test'),
      now: () => Date.now(),
      revisions,
    },
    'default/web',
  );
  return done.then((result) => ({ client, events, result }));
}

describe('statefulset - sync', () => {
  test('OrderedReady: creates the claim then web-0 only, with the events', async () => {
    const set = sts();
    const { client, events } = await sync(set, []);
    expect(client.calls).toEqual(['create claim data-web-0', 'create pod web-0']);
    expect(events).toEqual(['SuccessfulCreate create Claim data-web-0 Pod web-0 in StatefulSet web success', 'SuccessfulCreate create Pod web-0 in StatefulSet web successful']);
  });

  test('OrderedReady: web-1 waits for web-0 to be Ready', async () => {
    const set = sts();
    const rev = revisionName(set, set.spec!.template);
    const claims = claimsFor(set, 0);
    expect((await sync(set, [running(set, 0, rev, false)], claims)).client.calls).toEqual([]);
    expect((await sync(set, [running(set, 0, rev)], claims)).client.calls).toEqual(['create claim data-web-1', 'create pod web-1']);
  });

  test('minReadySeconds: a ready pod must stay ready that long before the next one starts; the sync asks to look again then', async () => {
    const set = sts(2, { minReadySeconds: 10, volumeClaimTemplates: [] });
    const rev = revisionName(set, set.spec!.template);
    const pod = running(set, 0, rev);
    pod.status!.conditions![0].lastTransitionTime = new Date().toISOString();
    const { client, result } = await sync(set, [pod]);
    expect(client.calls).toEqual([]);
    expect(result).toEqual({ requeueAfterMs: 10100 });
    expect(client.statuses[0].status).toMatchObject({ readyReplicas: 1, availableReplicas: 0 });
  });

  test('Parallel: creates every missing pod at once', async () => {
    const set = sts(3, { podManagementPolicy: 'Parallel', volumeClaimTemplates: [] });
    expect((await sync(set, [])).client.calls).toEqual(['create pod web-0', 'create pod web-1', 'create pod web-2']);
  });

  test('scale down removes the highest ordinal first, one at a time', async () => {
    const set = sts(1, { volumeClaimTemplates: [] });
    const rev = revisionName(set, set.spec!.template);
    const { client, events } = await sync(set, [0, 1, 2].map((i) => running(set, i, rev)));
    expect(client.calls).toEqual(['delete web-2']);
    expect(events).toEqual(['SuccessfulDelete delete Pod web-2 in StatefulSet web successful']);
  });

  test('a failed pod is deleted (to be recreated under its name)', async () => {
    const set = sts(2, { volumeClaimTemplates: [] });
    const rev = revisionName(set, set.spec!.template);
    const failed = running(set, 0, rev);
    failed.status = { phase: 'Failed' };
    expect((await sync(set, [failed, running(set, 1, rev)])).client.calls).toEqual(['delete web-0']);
  });

  test('status counts replicas and revisions; a finished rollout makes the update revision current', async () => {
    const set = sts(2, { volumeClaimTemplates: [] });
    const rev = revisionName(set, set.spec!.template);
    const { client } = await sync(set, [running(set, 0, rev), running(set, 1, rev)]);
    expect(client.statuses[0].status).toMatchObject({
      observedGeneration: 1,
      replicas: 2,
      readyReplicas: 2,
      availableReplicas: 2,
      currentReplicas: 2,
      updatedReplicas: 2,
      currentRevision: rev,
      updateRevision: rev,
      collisionCount: 0,
    });
  });
});
