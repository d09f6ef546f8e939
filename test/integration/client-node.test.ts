/**
 * The official JavaScript client, @kubernetes/client-node, against a real apiserver process
 * (etcd, nats-server, kube-apiserver with KUBEMU_APISERVER_HTTP_LISTEN): a second real client
 * beside kubectl, unchanged. Typed CRUD of a ConfigMap (CoreV1Api) and a Deployment (AppsV1Api),
 * errors as the client's HttpError carrying the Status body, Watch from a resourceVersion, and the
 * list-watch informer: ADD/UPDATE/DELETE, its cache equal to a fresh list after a burst of writes,
 * and its relist when a watch from a resourceVersion the stream no longer holds ends in 410.
 *
 * The client is 0.22.x (CommonJS, request-based): 1.x is ESM-only and jest here runs ts-jest in
 * CommonJS. In 0.22 failures reject with HttpError { statusCode, body } (1.x: ApiException), and
 * the informer's ListWatch resets its resourceVersion and relists on an ERROR event whose Status
 * has code 410 (cache.js doneHandler).
 */
import * as http from 'http';
import { connect, NatsConnection } from 'nats';
import {
  AppsV1Api,
  CoreV1Api,
  HttpError,
  KubeConfig,
  KubernetesObject,
  ListWatch,
  PatchUtils,
  V1ConfigMap,
  V1Deployment,
  Watch,
  makeInformer,
} from '@kubernetes/client-node';
import { REVISION_HEADER, WATCH_STREAM } from '../../services/lib/watchbus';
import { startTestApiServer, TestApiServer } from '../contract/env';
import { freePort } from '../harness';
import { waitFor } from '../harness/wait';

jest.setTimeout(120000);

const NS = 'default';
const CM_PATH = `/api/v1/namespaces/${NS}/configmaps`;

let env: TestApiServer;
let port: number;
let kc: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
/** Informers and watches to stop after each test even when it fails half-way. */
const cleanups: (() => void | Promise<void>)[] = [];

function readyz(): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/readyz' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
  });
}

function configMap(name: string, data: Record<string, string> = { a: '1' }, labels: Record<string, string> = {}): V1ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data };
}

/** The client's rejection for a failed call: HttpError with the server's Status as body. */
async function failure(p: Promise<unknown>): Promise<HttpError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/** name → resourceVersion of the configmaps in NS, from a fresh list. */
async function listed(): Promise<Record<string, string>> {
  const list = await core.listNamespacedConfigMap(NS);
  return Object.fromEntries(list.body.items.map((cm) => [cm.metadata!.name!, cm.metadata!.resourceVersion!]));
}

function cached(informer: ListWatch<V1ConfigMap>): Record<string, string> {
  return Object.fromEntries(informer.list(NS).map((cm) => [cm.metadata!.name!, cm.metadata!.resourceVersion!]));
}

/** Waits until the informer's cache holds exactly what a fresh list holds (names and versions). */
async function cacheMatchesList(informer: ListWatch<V1ConfigMap>, what: string): Promise<void> {
  let last = '';
  await waitFor(
    what,
    async () => {
      const want = JSON.stringify(Object.entries(await listed()).sort());
      const got = JSON.stringify(Object.entries(cached(informer)).sort());
      last = `cache ${got}\nlist  ${want}`;
      return want === got;
    },
    20000,
    { intervalMs: 200, detail: () => last },
  );
}

/** An informer on the configmaps of NS that records every callback, and counts its lists. */
function startRecordingInformer() {
  const events: string[] = [];
  const errors: unknown[] = [];
  let lists = 0;
  // makeInformer builds a ListWatch (informer.js); the cast reaches its latestResourceVersion().
  const informer = makeInformer<V1ConfigMap>(kc, CM_PATH, () => {
    lists++;
    return core.listNamespacedConfigMap(NS);
  }) as ListWatch<V1ConfigMap>;
  informer.on('add', (o) => events.push(`add:${o.metadata?.name}`));
  informer.on('update', (o) => events.push(`update:${o.metadata?.name}`));
  informer.on('delete', (o) => events.push(`delete:${o.metadata?.name}`));
  informer.on('error', (e) => errors.push(e));
  cleanups.push(() => informer.stop());
  return {
    informer,
    events,
    errors,
    get lists() {
      return lists;
    },
  };
}

beforeAll(async () => {
  port = await freePort();
  env = await startTestApiServer({ KUBEMU_APISERVER_HTTP_LISTEN: `127.0.0.1:${port}` });
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'kubemu', server: `http://127.0.0.1:${port}`, skipTLSVerify: false }],
    users: [{ name: 'kubemu' }],
    contexts: [{ name: 'kubemu', cluster: 'kubemu', user: 'kubemu', namespace: NS }],
    currentContext: 'kubemu',
  });
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  await waitFor('the REST API ready', async () => (await readyz()) === 200, 30000);
});

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

afterAll(async () => {
  await env?.stop();
});

describe('client-node', () => {
  test('client-node - ConfigMap create, read, list, replace, patch, delete', async () => {
    const created = await core.createNamespacedConfigMap(NS, configMap('cn-cm', { a: '1' }, { app: 'cn' }));
    expect(created.response.statusCode).toBe(201);
    expect(created.body.metadata).toMatchObject({ name: 'cn-cm', namespace: NS });
    expect(created.body.metadata?.uid).toBeTruthy();
    expect(created.body.metadata?.creationTimestamp).toBeInstanceOf(Date);

    const read = await core.readNamespacedConfigMap('cn-cm', NS);
    expect(read.body.data).toEqual({ a: '1' });

    const list = await core.listNamespacedConfigMap(NS, undefined, undefined, undefined, undefined, 'app=cn');
    expect(list.body.items.map((i) => i.metadata?.name)).toEqual(['cn-cm']);
    expect(list.body.metadata?.resourceVersion).toMatch(/^\d+$/);

    const replaced = await core.replaceNamespacedConfigMap('cn-cm', NS, { ...read.body, data: { a: '2' } });
    expect(replaced.body.data).toEqual({ a: '2' });
    expect(replaced.body.metadata?.resourceVersion).not.toBe(read.body.metadata?.resourceVersion);

    // The generated client sends application/json unless told otherwise, which PATCH refuses (415
    // as in Kubernetes): each patch type is named in the Content-Type header.
    const patch = (body: object, type: string) =>
      core.patchNamespacedConfigMap('cn-cm', NS, body, undefined, undefined, undefined, undefined, undefined, { headers: { 'Content-Type': type } });
    const merged = await patch({ data: { b: 'x' } }, PatchUtils.PATCH_FORMAT_JSON_MERGE_PATCH);
    expect(merged.body.data).toEqual({ a: '2', b: 'x' });
    const strategic = await patch({ metadata: { labels: { tier: 'web' } } }, PatchUtils.PATCH_FORMAT_STRATEGIC_MERGE_PATCH);
    expect(strategic.body.metadata?.labels).toEqual({ app: 'cn', tier: 'web' });
    const jsonPatched = await patch([{ op: 'remove', path: '/data/b' }], PatchUtils.PATCH_FORMAT_JSON_PATCH);
    expect(jsonPatched.body.data).toEqual({ a: '2' });
    const untyped = await failure(core.patchNamespacedConfigMap('cn-cm', NS, { data: { c: '1' } }));
    expect(untyped.statusCode).toBe(415);
    expect(untyped.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'UnsupportedMediaType', code: 415 });

    const deleted = await core.deleteNamespacedConfigMap('cn-cm', NS);
    expect(deleted.response.statusCode).toBe(200);
    expect((await failure(core.readNamespacedConfigMap('cn-cm', NS))).statusCode).toBe(404);
  });

  test('client-node - Deployment create, read, list, replace, patch, delete', async () => {
    const dep: V1Deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'cn-dep', labels: { app: 'cn-dep' } },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'cn-dep' } },
        template: { metadata: { labels: { app: 'cn-dep' } }, spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }] }] } },
      },
    };
    const created = await apps.createNamespacedDeployment(NS, dep);
    expect(created.response.statusCode).toBe(201);
    // Defaulting happened server-side and survives the client's deserialisation.
    expect(created.body.spec?.strategy?.type).toBe('RollingUpdate');
    expect(created.body.spec?.template.spec?.containers[0].ports?.[0].protocol).toBe('TCP');
    expect(created.body.metadata?.generation).toBe(1);

    const read = await apps.readNamespacedDeployment('cn-dep', NS);
    expect(read.body.spec?.replicas).toBe(2);
    const list = await apps.listNamespacedDeployment(NS);
    expect(list.body.items.map((d) => d.metadata?.name)).toContain('cn-dep');

    const replaced = await apps.replaceNamespacedDeployment('cn-dep', NS, { ...read.body, spec: { ...read.body.spec!, replicas: 3 } });
    expect(replaced.body.spec?.replicas).toBe(3);
    expect(replaced.body.metadata?.generation).toBe(2);

    // A strategic merge patch of the container list, merged by name as Kubernetes does.
    const patched = await apps.patchNamespacedDeployment(
      'cn-dep',
      NS,
      { spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } } },
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      { headers: { 'Content-Type': PatchUtils.PATCH_FORMAT_STRATEGIC_MERGE_PATCH } },
    );
    expect(patched.body.spec?.template.spec?.containers).toHaveLength(1);
    expect(patched.body.spec?.template.spec?.containers[0]).toMatchObject({ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80 }] });

    const scale = await apps.readNamespacedDeploymentScale('cn-dep', NS);
    expect(scale.body.spec?.replicas).toBe(3);
    expect(scale.body.status?.selector).toBe('app=cn-dep');

    await apps.deleteNamespacedDeployment('cn-dep', NS);
    await waitFor('the deployment gone', async () => (await failure(apps.readNamespacedDeployment('cn-dep', NS))).statusCode === 404);
  });

  test('client-node - 404, 409 and 422 reject with HttpError carrying the Status', async () => {
    const missing = await failure(core.readNamespacedConfigMap('cn-nope', NS));
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'NotFound',
      message: 'configmaps "cn-nope" not found',
      details: { name: 'cn-nope', kind: 'configmaps' },
      code: 404,
    });

    await core.createNamespacedConfigMap(NS, configMap('cn-dup'));
    const dup = await failure(core.createNamespacedConfigMap(NS, configMap('cn-dup')));
    expect(dup.statusCode).toBe(409);
    expect(dup.body).toMatchObject({ kind: 'Status', reason: 'AlreadyExists', message: 'configmaps "cn-dup" already exists', code: 409 });

    const current = (await core.readNamespacedConfigMap('cn-dup', NS)).body;
    await core.replaceNamespacedConfigMap('cn-dup', NS, { ...current, data: { a: '2' } });
    const stale = await failure(core.replaceNamespacedConfigMap('cn-dup', NS, { ...current, data: { a: '3' } }));
    expect(stale.statusCode).toBe(409);
    expect(stale.body).toMatchObject({ reason: 'Conflict', code: 409 });

    const invalid = await failure(core.createNamespacedConfigMap(NS, configMap('Not_A_Name')));
    expect(invalid.statusCode).toBe(422);
    expect(invalid.body).toMatchObject({ reason: 'Invalid', code: 422, details: { name: 'Not_A_Name', kind: 'ConfigMap' } });
    expect(invalid.body.details.causes[0]).toMatchObject({ field: 'metadata.name' });

    await core.deleteNamespacedConfigMap('cn-dup', NS);
  });

  test('client-node - Watch from a resourceVersion sees only what came after it', async () => {
    await core.createNamespacedConfigMap(NS, configMap('cn-w-before'));
    const rv = (await core.listNamespacedConfigMap(NS)).body.metadata!.resourceVersion!;
    const seen: string[] = [];
    let done: unknown = 'open';
    const req = await new Watch(kc).watch(
      CM_PATH,
      { resourceVersion: rv, allowWatchBookmarks: true },
      (type: string, obj: KubernetesObject) => {
        if (type !== 'BOOKMARK') seen.push(`${type}:${obj.metadata?.name}`);
      },
      (err: unknown) => (done = err),
    );
    cleanups.push(() => req.abort());
    await core.createNamespacedConfigMap(NS, configMap('cn-w-after'));
    await core.patchNamespacedConfigMap('cn-w-after', NS, { data: { a: '2' } }, undefined, undefined, undefined, undefined, undefined, {
      headers: { 'Content-Type': PatchUtils.PATCH_FORMAT_JSON_MERGE_PATCH },
    });
    await core.deleteNamespacedConfigMap('cn-w-after', NS);
    await waitFor('ADDED, MODIFIED, DELETED', async () => seen.length >= 3, 10000, { detail: () => seen.join(' ') });
    expect(seen).toEqual(['ADDED:cn-w-after', 'MODIFIED:cn-w-after', 'DELETED:cn-w-after']);
    expect(done).toBe('open');
    await core.deleteNamespacedConfigMap('cn-w-before', NS);
  });

  test('client-node - informer: ADD for existing and new objects, UPDATE, DELETE, cache equal to a list after 50 writes', async () => {
    await core.createNamespacedConfigMap(NS, configMap('cn-inf-old'));
    const rec = startRecordingInformer();
    await rec.informer.start();
    await waitFor('ADD of the existing object', async () => rec.events.includes('add:cn-inf-old'), 10000);
    expect(rec.informer.get('cn-inf-old', NS)?.data).toEqual({ a: '1' });

    await core.createNamespacedConfigMap(NS, configMap('cn-inf-new'));
    await waitFor('ADD of a new object', async () => rec.events.includes('add:cn-inf-new'), 10000);
    // Read through the typed client: the informer's cache holds watch events' raw JSON (dates as
    // strings), which the client's serializer cannot send back.
    const fresh = (await core.readNamespacedConfigMap('cn-inf-new', NS)).body;
    await core.replaceNamespacedConfigMap('cn-inf-new', NS, { ...fresh, data: { a: 'changed' } });
    await waitFor('UPDATE', async () => rec.events.includes('update:cn-inf-new'), 10000);
    expect(rec.informer.get('cn-inf-new', NS)?.data).toEqual({ a: 'changed' });
    await core.deleteNamespacedConfigMap('cn-inf-old', NS);
    await waitFor('DELETE', async () => rec.events.includes('delete:cn-inf-old'), 10000);
    expect(rec.informer.get('cn-inf-old', NS)).toBeUndefined();

    // 50 writes without waiting between them: 20 creates, 20 updates, 10 deletes.
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) writes.push(core.createNamespacedConfigMap(NS, configMap(`cn-burst-${i}`)));
    await Promise.all(writes.splice(0));
    for (let i = 0; i < 20; i++) {
      writes.push(
        core.patchNamespacedConfigMap(`cn-burst-${i}`, NS, { data: { a: `v${i}` } }, undefined, undefined, undefined, undefined, undefined, {
          headers: { 'Content-Type': PatchUtils.PATCH_FORMAT_JSON_MERGE_PATCH },
        }),
      );
    }
    await Promise.all(writes.splice(0));
    for (let i = 0; i < 10; i++) writes.push(core.deleteNamespacedConfigMap(`cn-burst-${i}`, NS));
    await Promise.all(writes.splice(0));
    await cacheMatchesList(rec.informer, 'the informer cache to equal a fresh list after the burst');
    expect(rec.informer.get('cn-burst-15', NS)?.data).toEqual({ a: 'v15' });
    expect(rec.events.filter((e) => e.startsWith('add:cn-burst-'))).toHaveLength(20);
    expect(rec.events.filter((e) => e.startsWith('delete:cn-burst-'))).toHaveLength(10);
    expect(rec.errors).toEqual([]);
    expect(rec.lists).toBe(1);
  });

  test('client-node - informer relists after a watch from a resourceVersion the stream no longer holds (410)', async () => {
    await core.createNamespacedConfigMap(NS, configMap('cn-410-keep'));
    await core.createNamespacedConfigMap(NS, configMap('cn-410-gone'));
    await core.createNamespacedConfigMap(NS, configMap('cn-410-changed'));
    const rec = startRecordingInformer();
    await rec.informer.start();
    await cacheMatchesList(rec.informer, 'the informer synced');
    const staleRv = rec.informer.latestResourceVersion();

    // While the informer is stopped: a delete, an update and a create it does not see.
    await rec.informer.stop();
    await core.deleteNamespacedConfigMap('cn-410-gone', NS);
    const changed = (await core.readNamespacedConfigMap('cn-410-changed', NS)).body;
    await core.replaceNamespacedConfigMap('cn-410-changed', NS, { ...changed, data: { a: 'while-stopped' } });
    await core.createNamespacedConfigMap(NS, configMap('cn-410-added'));
    // Purge the stream's history as max_age/max_bytes would, keeping only the newest message:
    // the informer's resourceVersion is now older than anything the stream holds.
    const lastRv = Number((await core.readNamespacedConfigMap('cn-410-added', NS)).body.metadata!.resourceVersion);
    expect(lastRv).toBeGreaterThan(Number(staleRv));
    const nc: NatsConnection = await connect({ servers: env.natsUrls });
    try {
      const jsm = await nc.jetstreamManager();
      const tailRevision = async () => {
        const info = await jsm.streams.info(WATCH_STREAM);
        if (info.state.messages === 0) return 0;
        return Number((await jsm.streams.getMessage(WATCH_STREAM, { seq: info.state.last_seq })).header.get(REVISION_HEADER));
      };
      await waitFor('the publisher to catch up', async () => (await tailRevision()) >= lastRv);
      await jsm.streams.purge(WATCH_STREAM, { keep: 1 });
    } finally {
      await nc.close();
    }

    // start() keeps the old resourceVersion, so it watches from it: the server answers with an
    // ERROR event (Status 410 Expired), and the informer lists again. (0.22's ListWatch may list
    // twice here: once for the ERROR event, once more when the ended stream's close arrives
    // while that list is still in flight.)
    rec.events.length = 0;
    await rec.informer.start();
    await waitFor('the relist', async () => rec.lists >= 2, 20000, { detail: () => rec.events.join(' ') });
    await cacheMatchesList(rec.informer, 'the informer cache to equal a fresh list after the relist');
    expect(rec.events).toEqual(expect.arrayContaining(['delete:cn-410-gone', 'update:cn-410-changed', 'add:cn-410-added']));
    expect(rec.informer.get('cn-410-changed', NS)?.data).toEqual({ a: 'while-stopped' });
    expect(rec.errors).toEqual([]);

    // And it keeps watching after the relist.
    await core.createNamespacedConfigMap(NS, configMap('cn-410-after'));
    await waitFor('ADD after the relist', async () => rec.events.includes('add:cn-410-after'), 10000);
    await cacheMatchesList(rec.informer, 'the informer cache to equal a fresh list at the end');
  });
});
