/**
 * The StatefulSet controller against a real etcd, nats-server and apiserver, with the scheduler,
 * three simulated nodes and the PersistentVolume binder: pods web-0..2 come up in order (web-1
 * never exists before web-0 is Ready), each with its hostname, subdomain (named in the headless
 * Service's Endpoints) and its own bound claim;
 * a deleted pod comes back under its name with its claim; scale-down goes in reverse and keeps
 * the claims; a rolling update with a partition replaces only the ordinals at or above it,
 * highest first; persistentVolumeClaimRetentionPolicy Delete removes claims on scale-down and
 * with the set (through the garbage collector).
 */
import { StatefulSet } from '../../services/lib/generated/kubemu/apps/v1/apps';
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { Informer } from '../../services/lib/informer';
import { resourceForCase } from '../../services/lib/resources';
import { statefulSetController } from '../../services/kube-controller-manager/statefulset/controller';
import { persistentVolumeBinderController } from '../../services/kube-controller-manager/volume/controller';
import { garbageCollectorController } from '../../services/kube-controller-manager/garbagecollector/controller';
import { endpointsController } from '../../services/kube-controller-manager/endpoints/controller';
import { startWorkloadEnv, WorkloadEnv } from './workload-env';

jest.setTimeout(90000);

const POD = resourceForCase('pod');
const PVC = resourceForCase('persistentVolumeClaim');
const STS = resourceForCase('statefulSet');
const SVC = resourceForCase('service');
const EP = resourceForCase('endpoints');
const EVENT = resourceForCase('event');
const NS = 'default';

let env: WorkloadEnv;
let pods: Informer<'pod'>;
/** Every pod change seen, in order: `ADDED web-1`, `READY web-0`, `DELETED web-2`. */
const history: string[] = [];

const ready = (p: Pod) => p.status?.phase === 'Running' && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

beforeAll(async () => {
  env = await startWorkloadEnv({ controllers: [statefulSetController, persistentVolumeBinderController, garbageCollectorController, endpointsController] });
  pods = new Informer({ client: env.client, nats: env.nats, info: POD });
  pods.addHandlers({
    onAdd: (p) => history.push(`ADDED ${p.metadata?.name}`),
    onUpdate: (o, p) => {
      if (!ready(o) && ready(p)) history.push(`READY ${p.metadata?.name}`);
    },
    onDelete: (p) => history.push(`DELETED ${p.metadata?.name}`),
  });
  await pods.start();
});

afterAll(async () => {
  await pods?.stop();
  await env?.stop();
});

/** get → change → update, again on a Conflict (the controller writes status concurrently). */
async function mutate(name: string, change: (o: StatefulSet) => void): Promise<void> {
  for (let i = 0; ; i++) {
    const cur = await env.client.get(STS, NS, name);
    change(cur);
    try {
      await env.client.update(STS, cur);
      return;
    } catch (err) {
      if (i > 20 || !(err instanceof Error) || !/the object has been modified/.test(err.message)) throw err;
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 30000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const set = (name: string, replicas: number, image = 'nginx:1.27'): StatefulSet => ({
  metadata: { name, namespace: NS },
  spec: {
    replicas,
    serviceName: name,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image }] } },
    volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
  },
});

const podsOf = (name: string) => pods.list().filter((p) => p.metadata?.labels?.app === name);
const readyNames = (name: string) =>
  podsOf(name)
    .filter((p) => ready(p) && !p.metadata?.deletionTimestamp)
    .map((p) => p.metadata!.name!)
    .sort();
const idx = (e: string) => history.indexOf(e);

async function statusOf(name: string) {
  return (await env.client.get(STS, NS, name)).status ?? {};
}

test('statefulset - pods are created in order with identity and claims, recreated by name, scaled down in reverse', async () => {
  // The governing headless Service: its Endpoints give each pod its stable DNS name.
  await env.client.create(SVC, { metadata: { name: 'web', namespace: NS }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] } });
  await env.client.create(STS, set('web', 3));
  await until('3 ready pods', () => (readyNames('web').length === 3 ? true : undefined));
  // Ordered: each pod appears only after its predecessor was Ready.
  expect(idx('ADDED web-0')).toBeGreaterThanOrEqual(0);
  expect(idx('ADDED web-1')).toBeGreaterThan(idx('READY web-0'));
  expect(idx('ADDED web-2')).toBeGreaterThan(idx('READY web-1'));

  const web1 = pods.get(`${NS}/web-1`)!;
  expect(web1.spec?.hostname).toBe('web-1');
  expect(web1.spec?.subdomain).toBe('web');
  expect(web1.metadata?.labels).toMatchObject({ 'statefulset.kubernetes.io/pod-name': 'web-1', 'apps.kubernetes.io/pod-index': '1' });
  expect(web1.metadata?.labels?.['controller-revision-hash']).toMatch(/^web-[a-z0-9]+$/);
  expect(web1.spec?.volumes).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'data', persistentVolumeClaim: expect.objectContaining({ claimName: 'data-web-1' }) })]));
  for (const n of [0, 1, 2]) {
    const claim = await until(`claim data-web-${n} bound`, async () => {
      const c = await env.client.tryGet(PVC, NS, `data-web-${n}`);
      return c?.status?.phase === 'Bound' ? c : undefined;
    });
    expect(claim.metadata?.labels).toEqual({ app: 'web' });
  }
  const st = await until('status ready 3', async () => {
    const s = await statusOf('web');
    return s.readyReplicas === 3 && s.currentReplicas === 3 ? s : undefined;
  });
  expect(st).toMatchObject({ replicas: 3, readyReplicas: 3, availableReplicas: 3, currentReplicas: 3, updatedReplicas: 3, observedGeneration: 1, collisionCount: 0 });
  expect(st.currentRevision).toBe(st.updateRevision);
  await until('endpoints with the pods\' hostnames', async () => {
    const ep = await env.client.tryGet(EP, NS, 'web');
    const hosts = (ep?.subsets ?? []).flatMap((x) => x.addresses ?? []).map((a) => a.hostname).sort();
    return hosts.join(',') === 'web-0,web-1,web-2' ? true : undefined;
  });
  const { items: events } = await env.client.list(EVENT, NS);
  const messages = events.filter((e) => e.involvedObject?.name === 'web').map((e) => `${e.reason} ${e.message}`);
  expect(messages).toEqual(expect.arrayContaining([
    'SuccessfulCreate create Pod web-0 in StatefulSet web successful',
    'SuccessfulCreate create Claim data-web-0 Pod web-0 in StatefulSet web success',
  ]));

  // A deleted pod comes back under its name, with the same claim.
  const oldUid = web1.metadata?.uid;
  const claimUid = (await env.client.get(PVC, NS, 'data-web-1')).metadata?.uid;
  await env.client.delete(POD, NS, 'web-1');
  await until('web-1 recreated and ready', () => {
    const p = pods.get(`${NS}/web-1`);
    return p && p.metadata?.uid !== oldUid && ready(p) ? true : undefined;
  });
  expect((await env.client.get(PVC, NS, 'data-web-1')).metadata?.uid).toBe(claimUid);

  // Scale down to 1: web-2 goes first, then web-1; claims stay (Retain).
  const mark = history.length;
  await mutate('web', (o) => void (o.spec!.replicas = 1));
  await until('only web-0 left', () => (podsOf('web').map((p) => p.metadata?.name).join(',') === 'web-0' ? true : undefined));
  const later = history.slice(mark);
  expect(later.indexOf('DELETED web-2')).toBeGreaterThanOrEqual(0);
  expect(later.indexOf('DELETED web-1')).toBeGreaterThan(later.indexOf('DELETED web-2'));
  for (const n of [1, 2]) expect(await env.client.tryGet(PVC, NS, `data-web-${n}`)).toBeDefined();
  await until('status replicas 1', async () => ((await statusOf('web')).replicas === 1 ? true : undefined));
});

test('statefulset - a rolling update with a partition replaces only ordinals at or above it, highest first', async () => {
  const s = set('db', 3);
  s.spec!.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition: 1 } };
  await env.client.create(STS, s);
  await until('3 ready db pods', () => (readyNames('db').length === 3 ? true : undefined));
  const before = await until('db status settled', async () => {
    const st = await statusOf('db');
    return st.readyReplicas === 3 ? st : undefined;
  });
  const oldRev = before.currentRevision!;

  const mark = history.length;
  await mutate('db', (o) => void (o.spec!.template!.spec!.containers![0].image = 'nginx:1.28'));
  const st = await until('db-1 and db-2 updated', async () => {
    const x = await statusOf('db');
    return x.updatedReplicas === 2 && x.readyReplicas === 3 && x.observedGeneration === 2 ? x : undefined;
  });
  expect(st.updateRevision).not.toBe(oldRev);
  expect(st.currentRevision).toBe(oldRev);
  expect(st.currentReplicas).toBe(1);
  const byName = (n: string) => pods.get(`${NS}/${n}`)!;
  expect(byName('db-0').metadata?.labels?.['controller-revision-hash']).toBe(oldRev);
  expect(byName('db-0').spec?.containers?.[0].image).toBe('nginx:1.27');
  expect(byName('db-1').metadata?.labels?.['controller-revision-hash']).toBe(st.updateRevision);
  expect(byName('db-2').spec?.containers?.[0].image).toBe('nginx:1.28');
  const later = history.slice(mark);
  expect(later.indexOf('DELETED db-1')).toBeGreaterThan(later.indexOf('READY db-2'));
  expect(later).not.toContain('DELETED db-0');

  // A pod below the partition that is deleted comes back at the current revision.
  await env.client.delete(POD, NS, 'db-0');
  await until('db-0 back', () => {
    const p = pods.get(`${NS}/db-0`);
    return p && !history.slice(mark).includes('DELETED db-0') ? undefined : p && ready(p) ? true : undefined;
  });
  expect(byName('db-0').spec?.containers?.[0].image).toBe('nginx:1.27');

  // Partition 0 finishes the rollout: currentRevision becomes the update revision.
  await mutate('db', (o) => void (o.spec!.updateStrategy!.rollingUpdate!.partition = 0));
  const done = await until('rollout complete', async () => {
    const x = await statusOf('db');
    return x.currentRevision === x.updateRevision && x.updatedReplicas === 3 && x.readyReplicas === 3 ? x : undefined;
  });
  expect(done.currentReplicas).toBe(3);
  expect(byName('db-0').spec?.containers?.[0].image).toBe('nginx:1.28');
});

test('statefulset - Parallel creates all pods at once', async () => {
  const s = set('par', 3);
  s.spec!.podManagementPolicy = 'Parallel';
  s.spec!.volumeClaimTemplates = [];
  const mark = history.length;
  await env.client.create(STS, s);
  await until('3 ready par pods', () => (readyNames('par').length === 3 ? true : undefined));
  const later = history.slice(mark);
  // All three were created before the first became Ready.
  const firstReady = later.findIndex((e) => e.startsWith('READY par-'));
  expect(['ADDED par-0', 'ADDED par-1', 'ADDED par-2'].every((e) => later.indexOf(e) >= 0 && later.indexOf(e) < firstReady)).toBe(true);
});

test('statefulset - retention policy Delete: claims go with scaled-down pods and with the set', async () => {
  const s = set('cache', 2);
  s.spec!.persistentVolumeClaimRetentionPolicy = { whenDeleted: 'Delete', whenScaled: 'Delete' };
  const created = await env.client.create(STS, s);
  await until('2 ready cache pods', () => (readyNames('cache').length === 2 ? true : undefined));
  const claim0 = await until('claim data-cache-0', () => env.client.tryGet(PVC, NS, 'data-cache-0'));
  expect(claim0.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'StatefulSet', name: 'cache', uid: created.metadata?.uid })]);

  await mutate('cache', (o) => void (o.spec!.replicas = 1));
  await until('claim data-cache-1 deleted with its pod', async () => ((await env.client.tryGet(PVC, NS, 'data-cache-1')) ? undefined : true));
  expect(await env.client.tryGet(PVC, NS, 'data-cache-0')).toBeDefined();

  await env.client.delete(STS, NS, 'cache');
  await until('claim data-cache-0 deleted with the set', async () => ((await env.client.tryGet(PVC, NS, 'data-cache-0')) ? undefined : true));
});

test('statefulset - a recreated set adopts the pods orphaned by its predecessor', async () => {
  const s = set('keep', 2);
  s.spec!.volumeClaimTemplates = [];
  await env.client.create(STS, s);
  await until('2 ready keep pods', () => (readyNames('keep').length === 2 ? true : undefined));
  const uids = podsOf('keep').map((p) => p.metadata?.uid).sort();
  await env.client.delete(STS, NS, 'keep', { propagationPolicy: 'Orphan' });
  await until('pods orphaned', () => (podsOf('keep').length === 2 && podsOf('keep').every((p) => !(p.metadata?.ownerReferences ?? []).length) ? true : undefined));
  const again = await env.client.create(STS, s);
  await until('pods adopted', () => (podsOf('keep').every((p) => p.metadata?.ownerReferences?.[0]?.uid === again.metadata?.uid) ? true : undefined));
  expect(podsOf('keep').map((p) => p.metadata?.uid).sort()).toEqual(uids);
  await until('status 2 ready', async () => ((await statusOf('keep')).readyReplicas === 2 ? true : undefined));
});
