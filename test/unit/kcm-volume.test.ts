/**
 * PersistentVolume binder: which volume a claim gets (table-driven), and the binder's syncs on an
 * in-memory cache with a recording fake client (bind both ways, provisioning, reclaim).
 */
import { mkdtempSync, existsSync, mkdirSync, rmSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PersistentVolume, PersistentVolumeClaim } from '../../services/lib/generated/kubemu/core/v1/core';
import { logger } from '../../services/lib/log';
import { KubeObject } from '../../services/lib/resources';
import { findBestMatch, volumeSatisfiesClaim } from '../../services/kube-controller-manager/volume/matching';
import { PersistentVolumeBinder } from '../../services/kube-controller-manager/volume/controller';

const pv = (name: string, storage: string, spec: Partial<NonNullable<PersistentVolume['spec']>> = {}, extra: Partial<PersistentVolume> = {}): PersistentVolume => ({
  metadata: { name, labels: {}, ...(extra.metadata ?? {}) },
  spec: { capacity: { storage }, accessModes: ['ReadWriteOnce'], storageClassName: 'standard', volumeMode: 'Filesystem', ...spec },
  status: { phase: 'Available', ...(extra.status ?? {}) },
});
const pvc = (spec: Partial<NonNullable<PersistentVolumeClaim['spec']>> = {}): PersistentVolumeClaim => ({
  metadata: { name: 'data', namespace: 'default', uid: 'uid-1', resourceVersion: '5' },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, volumeMode: 'Filesystem', ...spec },
  status: { phase: 'Pending' },
});

describe('volume binder - findBestMatch', () => {
  const cases: { name: string; claim: PersistentVolumeClaim; volumes: PersistentVolume[]; want?: string }[] = [
    { name: 'smallest fitting', claim: pvc(), volumes: [pv('a', '10Gi'), pv('b', '2Gi'), pv('c', '500Mi')], want: 'b' },
    { name: 'exact size', claim: pvc(), volumes: [pv('a', '1Gi'), pv('b', '2Gi')], want: 'a' },
    { name: 'too small', claim: pvc({ resources: { requests: { storage: '5Gi' } } }), volumes: [pv('a', '1Gi')], want: undefined },
    { name: 'access modes must be a superset', claim: pvc({ accessModes: ['ReadWriteMany'] }), volumes: [pv('a', '1Gi'), pv('b', '5Gi', { accessModes: ['ReadWriteOnce', 'ReadWriteMany'] })], want: 'b' },
    { name: 'fewer access modes on a tie', claim: pvc(), volumes: [pv('a', '1Gi', { accessModes: ['ReadWriteOnce', 'ReadOnlyMany'] }), pv('b', '1Gi')], want: 'b' },
    { name: 'class must be equal (unset claim class is the default "standard")', claim: pvc(), volumes: [pv('a', '1Gi', { storageClassName: 'fast' }), pv('b', '3Gi')], want: 'b' },
    { name: 'empty claim class matches only classless volumes', claim: pvc({ storageClassName: '' }), volumes: [pv('a', '1Gi'), pv('b', '3Gi', { storageClassName: '' })], want: 'b' },
    { name: 'volume mode must be equal', claim: pvc({ volumeMode: 'Block' }), volumes: [pv('a', '1Gi'), pv('b', '3Gi', { volumeMode: 'Block' })], want: 'b' },
    { name: 'selector', claim: pvc({ selector: { matchLabels: { tier: 'gold' } } }), volumes: [pv('a', '1Gi'), pv('b', '3Gi', {}, { metadata: { name: 'b', labels: { tier: 'gold' } } })], want: 'b' },
    { name: 'only Available volumes', claim: pvc(), volumes: [pv('a', '1Gi', {}, { status: { phase: 'Released' } }), pv('b', '3Gi')], want: 'b' },
    { name: 'bound volumes are skipped', claim: pvc(), volumes: [pv('a', '1Gi', { claimRef: { namespace: 'default', name: 'other', uid: 'x' } }), pv('b', '3Gi')], want: 'b' },
    { name: 'pre-bound to this claim wins', claim: pvc(), volumes: [pv('a', '1Gi'), pv('b', '9Gi', { claimRef: { namespace: 'default', name: 'data' } }, { status: { phase: 'Available' } })], want: 'b' },
  ];
  test.each(cases)('$name', ({ claim, volumes, want }) => {
    expect(findBestMatch(claim, volumes)?.metadata?.name).toBe(want);
  });

  test('volumeSatisfiesClaim explains a mismatch', () => {
    expect(volumeSatisfiesClaim(pv('a', '500Mi'), pvc())).toBe('requested PV is too small');
    expect(volumeSatisfiesClaim(pv('a', '1Gi', { storageClassName: 'x' }), pvc())).toBe('storageClassName does not match');
    expect(volumeSatisfiesClaim(pv('a', '1Gi'), pvc())).toBeUndefined();
  });
});

class FakeClient {
  calls: { verb: string; obj: KubeObject }[] = [];
  async create(_i: unknown, obj: KubeObject) {
    this.calls.push({ verb: 'create', obj });
    return obj;
  }
  async update(_i: unknown, obj: KubeObject) {
    this.calls.push({ verb: 'update', obj });
    return obj;
  }
  async updateStatus(_i: unknown, obj: KubeObject) {
    this.calls.push({ verb: 'updateStatus', obj });
    return obj;
  }
  async delete(_i: unknown, _ns: string, name: string) {
    this.calls.push({ verb: 'delete', obj: { metadata: { name } } });
    return {};
  }
}

function binder(volumes: PersistentVolume[], claims: PersistentVolumeClaim[], volumesDir = '/nonexistent') {
  const client = new FakeClient();
  const events: string[] = [];
  const vmap = new Map(volumes.map((v) => [v.metadata!.name!, v]));
  const cmap = new Map(claims.map((c) => [`${c.metadata!.namespace}/${c.metadata!.name}`, c]));
  const b = new PersistentVolumeBinder({
    client: client as never,
    volumes: { get: (k) => vmap.get(k), list: () => [...vmap.values()] },
    claims: { get: (k) => cmap.get(k), list: () => [...cmap.values()] },
    recorder: { record: async (_o, type, reason, _a, message) => void events.push(`${type} ${reason} ${message}`) },
    log: logger('test'),
    volumesDir,
    now: () => 0,
    enqueueClaim: () => undefined,
  });
  return { b, client, events };
}

describe('volume binder - syncs', () => {
  test('an unbound claim is bound both ways: claimRef, volume Bound, volumeName and annotations, claim status', async () => {
    const { b, client } = binder([pv('small', '2Gi'), pv('big', '5Gi')], [pvc()]);
    await b.syncClaim('default/data');
    expect(client.calls.map((c) => `${c.verb} ${c.obj.metadata?.name}`)).toEqual(['update small', 'updateStatus small', 'update data', 'updateStatus data']);
    const vol = client.calls[0].obj as PersistentVolume;
    expect(vol.spec?.claimRef).toMatchObject({ kind: 'PersistentVolumeClaim', namespace: 'default', name: 'data', uid: 'uid-1' });
    expect(vol.metadata?.annotations?.['pv.kubernetes.io/bound-by-controller']).toBe('yes');
    expect((client.calls[1].obj as PersistentVolume).status?.phase).toBe('Bound');
    const claim = client.calls[2].obj as PersistentVolumeClaim;
    expect(claim.spec?.volumeName).toBe('small');
    expect(claim.metadata?.annotations).toMatchObject({ 'pv.kubernetes.io/bind-completed': 'yes', 'pv.kubernetes.io/bound-by-controller': 'yes' });
    expect((client.calls[3].obj as PersistentVolumeClaim).status).toMatchObject({ phase: 'Bound', capacity: { storage: '2Gi' }, accessModes: ['ReadWriteOnce'] });
  });

  test('a default-class claim nothing fits is provisioned as pvc-<uid> in the volumes folder', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kcm-volume-'));
    try {
      const { b, client, events } = binder([], [pvc()], dir);
      await b.syncClaim('default/data');
      const created = client.calls.find((c) => c.verb === 'create')!.obj as PersistentVolume;
      expect(created.metadata?.name).toBe('pvc-uid-1');
      expect(created.spec).toMatchObject({ storageClassName: 'standard', persistentVolumeReclaimPolicy: 'Delete', hostPath: { path: path.join(dir, 'pvc-uid-1') }, claimRef: { uid: 'uid-1' } });
      expect(existsSync(path.join(dir, 'pvc-uid-1'))).toBe(true);
      expect(events).toEqual(['Normal ProvisioningSucceeded Successfully provisioned volume pvc-uid-1 using kubernetes.io/host-path']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a Delete volume whose claim is gone is Released, its folder and the volume deleted; Retain stays Released', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kcm-volume-'));
    try {
      mkdirSync(path.join(dir, 'pvc-x'));
      const provisioned = pv('pvc-x', '1Gi', { persistentVolumeReclaimPolicy: 'Delete', hostPath: { path: path.join(dir, 'pvc-x') }, claimRef: { namespace: 'default', name: 'gone', uid: 'u' } }, {
        metadata: { name: 'pvc-x', annotations: { 'pv.kubernetes.io/provisioned-by': 'kubernetes.io/host-path' } },
        status: { phase: 'Bound' },
      });
      const kept = pv('kept', '1Gi', { persistentVolumeReclaimPolicy: 'Retain', claimRef: { namespace: 'default', name: 'gone', uid: 'u2' } }, { status: { phase: 'Bound' } });
      const { b, client } = binder([provisioned, kept], [], dir);
      await b.syncVolume('pvc-x');
      await b.syncVolume('kept');
      expect(client.calls.map((c) => `${c.verb} ${c.obj.metadata?.name} ${(c.obj as PersistentVolume).status?.phase ?? ''}`.trim())).toEqual([
        'updateStatus pvc-x Released',
        'delete pvc-x',
        'updateStatus kept Released',
      ]);
      expect(existsSync(path.join(dir, 'pvc-x'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a bound claim whose volume is gone is Lost', async () => {
    const claim = pvc({ volumeName: 'vanished' });
    claim.metadata!.annotations = { 'pv.kubernetes.io/bind-completed': 'yes' };
    claim.status = { phase: 'Bound' };
    const { b, client, events } = binder([], [claim]);
    await b.syncClaim('default/data');
    expect((client.calls[0].obj as PersistentVolumeClaim).status?.phase).toBe('Lost');
    expect(events).toEqual(['Warning ClaimLost Bound claim has lost its PersistentVolume. Data on the volume is lost!']);
  });
});
