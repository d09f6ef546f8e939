/**
 * The PersistentVolume binder against a real etcd, nats-server and apiserver: a claim binds to
 * the smallest fitting Available volume (both ways, with Kubernetes' annotations), a claim of the
 * default class that nothing fits gets a provisioned hostPath volume in the state folder, a
 * Retain volume turns Released when its claim goes, and a Delete volume is removed with its
 * folder.
 */
import { existsSync } from 'fs';
import * as path from 'path';
import { PersistentVolume, PersistentVolumeClaim } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { persistentVolumeBinderController } from '../../services/kube-controller-manager/volume/controller';
import { startWorkloadEnv, WorkloadEnv } from './workload-env';

jest.setTimeout(60000);

const PV = resourceForCase('persistentVolume');
const PVC = resourceForCase('persistentVolumeClaim');
const EVENT = resourceForCase('event');
const NS = 'default';

let env: WorkloadEnv;

beforeAll(async () => {
  env = await startWorkloadEnv({ controllers: [persistentVolumeBinderController], nodes: 1 });
});

afterAll(async () => {
  await env?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 20000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const pv = (name: string, storage: string, opts: Partial<NonNullable<PersistentVolume['spec']>> = {}): PersistentVolume => ({
  metadata: { name },
  spec: { capacity: { storage }, accessModes: ['ReadWriteOnce'], hostPath: { path: `/tmp/kubemu-test-${name}` }, storageClassName: 'manual', ...opts },
});
const pvc = (name: string, storage: string, storageClassName?: string): PersistentVolumeClaim => ({
  metadata: { name, namespace: NS },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } }, storageClassName },
});

async function boundClaim(name: string): Promise<PersistentVolumeClaim> {
  return until(`claim ${name} Bound`, async () => {
    const c = await env.client.get(PVC, NS, name);
    return c.status?.phase === 'Bound' ? c : undefined;
  });
}

test('volume binder - a claim binds to the smallest fitting Available volume, both ways', async () => {
  await env.client.create(PV, pv('big', '10Gi'));
  await env.client.create(PV, pv('small', '2Gi'));
  await env.client.create(PV, pv('tiny', '500Mi'));
  await env.client.create(PV, pv('other-class', '2Gi', { storageClassName: 'slow' }));
  await until('volumes Available', async () => {
    const { items } = await env.client.list(PV);
    return items.filter((v) => v.status?.phase === 'Available').length >= 4 ? true : undefined;
  });
  await env.client.create(PVC, pvc('data', '1Gi', 'manual'));
  const claim = await boundClaim('data');
  expect(claim.spec?.volumeName).toBe('small');
  expect(claim.metadata?.annotations).toMatchObject({ 'pv.kubernetes.io/bind-completed': 'yes', 'pv.kubernetes.io/bound-by-controller': 'yes' });
  expect(claim.status?.capacity).toEqual({ storage: '2Gi' });
  expect(claim.status?.accessModes).toEqual(['ReadWriteOnce']);
  const vol = await until('volume small Bound', async () => {
    const v = await env.client.get(PV, '', 'small');
    return v.status?.phase === 'Bound' ? v : undefined;
  });
  expect(vol.spec?.claimRef).toMatchObject({ kind: 'PersistentVolumeClaim', namespace: NS, name: 'data', uid: claim.metadata?.uid });
  expect(vol.metadata?.annotations?.['pv.kubernetes.io/bound-by-controller']).toBe('yes');

  // Retain (the default for a volume created by hand): Released once the claim is gone.
  await env.client.delete(PVC, NS, 'data');
  const released = await until('volume small Released', async () => {
    const v = await env.client.get(PV, '', 'small');
    return v.status?.phase === 'Released' ? v : undefined;
  });
  expect(released.spec?.claimRef?.name).toBe('data');
});

test('volume binder - a default-class claim nothing fits is provisioned in the state folder; Delete removes the folder', async () => {
  await env.client.create(PVC, pvc('web-data', '1Gi'));
  const claim = await boundClaim('web-data');
  const uid = claim.metadata?.uid;
  expect(claim.spec?.volumeName).toBe(`pvc-${uid}`);
  expect(claim.metadata?.annotations?.['volume.kubernetes.io/storage-provisioner']).toBe('kubernetes.io/host-path');
  const vol = await env.client.get(PV, '', `pvc-${uid}`);
  expect(vol.spec?.storageClassName).toBe('standard');
  expect(vol.spec?.persistentVolumeReclaimPolicy).toBe('Delete');
  expect(vol.metadata?.annotations?.['pv.kubernetes.io/provisioned-by']).toBe('kubernetes.io/host-path');
  const dir = vol.spec?.hostPath?.path ?? '';
  expect(path.basename(dir)).toBe(`pvc-${uid}`);
  expect(path.basename(path.dirname(dir))).toBe('volumes');
  expect(existsSync(dir)).toBe(true);
  const events = await until('ProvisioningSucceeded', async () => {
    const { items } = await env.client.list(EVENT, NS);
    const e = items.find((x) => x.involvedObject?.name === 'web-data' && x.reason === 'ProvisioningSucceeded');
    return e;
  });
  expect(events.message).toBe(`Successfully provisioned volume pvc-${uid} using kubernetes.io/host-path`);

  await env.client.delete(PVC, NS, 'web-data');
  await until('provisioned volume deleted', async () => ((await env.client.tryGet(PV, '', `pvc-${uid}`)) ? undefined : true));
  expect(existsSync(dir)).toBe(false);
});

test('volume binder - a claim naming no fitting class waits Pending with an event; a volume created later binds it', async () => {
  await env.client.create(PVC, pvc('later', '1Gi', ''));
  await until('FailedBinding', async () => {
    const { items } = await env.client.list(EVENT, NS);
    return items.find((x) => x.involvedObject?.name === 'later' && x.reason === 'FailedBinding');
  });
  expect((await env.client.get(PVC, NS, 'later')).status?.phase).toBe('Pending');
  await env.client.create(PV, pv('no-class', '1Gi', { storageClassName: '' }));
  const claim = await boundClaim('later');
  expect(claim.spec?.volumeName).toBe('no-class');
});
