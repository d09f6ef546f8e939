/**
 * Contract tests of kubemu.apiserver.v1.ApiServerService: every RPC called through the generated
 * grpc-js client against a real apiserver (real etcd, real NATS, real gRPC over TCP), with its
 * success path and its error codes, including the kubemu-status-bin Status in the trailers.
 */
import * as grpc from '@grpc/grpc-js';
import { ApiServerServiceClient, Object as ApiObject } from '../../services/lib/generated/kubemu/apiserver/v1/apiserver';
import { Status } from '../../services/lib/generated/kubemu/meta/v1/meta';
import { STATUS_METADATA_KEY } from '../../services/lib/errors';
import { wrap } from '../../services/lib/resources';
import { startTestApiServer, TestApiServer } from './env';

let env: TestApiServer;
let client: ApiServerServiceClient;

beforeAll(async () => {
  env = await startTestApiServer();
  client = new ApiServerServiceClient(env.address, grpc.credentials.createInsecure());
}, 120000);

afterAll(async () => {
  client?.close();
  await env?.stop();
});

type Cb<T> = (err: grpc.ServiceError | null, res: T) => void;
function call<T>(fn: (cb: Cb<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}
async function callError(fn: (cb: Cb<unknown>) => void): Promise<{ code: grpc.status; details: string; status: Status }> {
  try {
    await call(fn);
  } catch (err) {
    const e = err as grpc.ServiceError;
    const raw = e.metadata.get(STATUS_METADATA_KEY)[0] as Buffer;
    return { code: e.code, details: e.details, status: raw ? Status.decode(raw) : {} };
  }
  throw new Error('expected the call to fail');
}

const cm = (name: string, data: Record<string, string> = { a: '1' }, ns = 'default'): ApiObject =>
  wrap('configMap', { metadata: { name, namespace: ns, labels: { app: 'web', tier: name.length % 2 ? 'a' : 'b' } }, data });

describe('ApiServerService/Create', () => {
  test('Create - stores the object and fills uid, resourceVersion, creationTimestamp', async () => {
    const res = await call<ApiObject>((cb) => client.create({ resource: 'configmaps', namespace: 'default', object: cm('create-ok') }, cb));
    const value = res.object?.value as { metadata: { uid: string; resourceVersion: string; creationTimestamp: string } };
    expect(res.object?.$case).toBe('configMap');
    expect(value.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(value.metadata.resourceVersion)).toBeGreaterThan(0);
    expect(value.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  test('Create - ALREADY_EXISTS for a taken name', async () => {
    await call((cb) => client.create({ resource: 'configmaps', namespace: 'default', object: cm('dup') }, cb));
    const e = await callError((cb) => client.create({ resource: 'configmaps', namespace: 'default', object: cm('dup') }, cb));
    expect(e.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(e.status.reason).toBe('AlreadyExists');
    expect(e.details).toBe('configmaps "dup" already exists');
  });

  test('Create - INVALID_ARGUMENT with every field error, nothing written', async () => {
    const bad = wrap('pod', { metadata: { name: 'Bad_Name', namespace: 'default' }, spec: { containers: [{ name: 'c' }] } });
    const e = await callError((cb) => client.create({ resource: 'pods', namespace: 'default', object: bad }, cb));
    expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(e.status.reason).toBe('Invalid');
    const fields = (e.status.details?.causes ?? []).map((c) => c.field);
    expect(fields).toEqual(expect.arrayContaining(['metadata.name', 'spec.containers[0].image']));
    const get = await callError((cb) => client.get({ resource: 'pods', namespace: 'default', name: 'Bad_Name' }, cb));
    expect(get.code).toBe(grpc.status.NOT_FOUND);
  });

  test('Create - NOT_FOUND when the namespace does not exist', async () => {
    const e = await callError((cb) => client.create({ resource: 'configmaps', namespace: 'nope', object: cm('x', {}, 'nope') }, cb));
    expect(e.code).toBe(grpc.status.NOT_FOUND);
    expect(e.details).toBe('namespaces "nope" not found');
  });

  test('Create - NOT_FOUND for an unknown resource, INVALID_ARGUMENT for a kind that does not match it', async () => {
    const unknown = await callError((cb) => client.create({ resource: 'widgets', namespace: 'default', object: cm('w') }, cb));
    expect(unknown.code).toBe(grpc.status.NOT_FOUND);
    const mismatch = await callError((cb) => client.create({ resource: 'secrets', namespace: 'default', object: cm('w') }, cb));
    expect(mismatch.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  test('Create - generateName gives a unique name', async () => {
    const obj = wrap('configMap', { metadata: { generateName: 'gen-', namespace: 'default' } });
    const a = await call<ApiObject>((cb) => client.create({ resource: 'configmaps', namespace: 'default', object: obj }, cb));
    const b = await call<ApiObject>((cb) => client.create({ resource: 'configmaps', namespace: 'default', object: obj }, cb));
    const na = (a.object?.value as { metadata: { name: string } }).metadata.name;
    const nb = (b.object?.value as { metadata: { name: string } }).metadata.name;
    expect(na).toMatch(/^gen-[a-z0-9]{5}$/);
    expect(na).not.toBe(nb);
  });

  test('Create - Secret stringData is merged into data and never stored or returned', async () => {
    const secret = wrap('secret', { metadata: { name: 'creds', namespace: 'default' }, data: { a: Buffer.from('x') }, stringData: { password: 's3cret' } });
    await call((cb) => client.create({ resource: 'secrets', namespace: 'default', object: secret }, cb));
    const got = (await call<ApiObject>((cb) => client.get({ resource: 'secrets', namespace: 'default', name: 'creds' }, cb))).object!.value as any;
    expect(Buffer.from(got.data.password).toString()).toBe('s3cret');
    expect(Buffer.from(got.data.a).toString()).toBe('x');
    expect(got.stringData ?? {}).toEqual({});
    expect(got.type).toBe('Opaque');
  });

  test('Create - dryRun validates but stores nothing', async () => {
    await call((cb) => client.create({ resource: 'configmaps', namespace: 'default', object: cm('dry'), dryRun: ['All'] }, cb));
    const e = await callError((cb) => client.get({ resource: 'configmaps', namespace: 'default', name: 'dry' }, cb));
    expect(e.code).toBe(grpc.status.NOT_FOUND);
  });

  test('Create - a malformed request body is INVALID_ARGUMENT, and the server keeps serving', async () => {
    const raw = new grpc.Client(env.address, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      raw.makeUnaryRequest(
        '/kubemu.apiserver.v1.ApiServerService/Create',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        (e) => resolve(e as grpc.ServiceError),
      ),
    );
    raw.close();
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    await call((cb) => client.get({ resource: 'namespaces', name: 'default' }, cb));
  });

  test('Create - a request over the size limit is RESOURCE_EXHAUSTED', async () => {
    const big = cm('big', { blob: 'x'.repeat(5 * 1024 * 1024) });
    const e = await callError((cb) => client.create({ resource: 'configmaps', namespace: 'default', object: big }, cb));
    expect(e.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });
});

describe('ApiServerService/Get', () => {
  test('Get - returns the stored object with its resourceVersion', async () => {
    const created = await call<ApiObject>((cb) => client.create({ resource: 'configmaps', namespace: 'default', object: cm('get-me') }, cb));
    const got = await call<ApiObject>((cb) => client.get({ resource: 'configmaps', namespace: 'default', name: 'get-me' }, cb));
    expect(got).toEqual(created);
  });

  test('Get - NOT_FOUND for a missing object, in Kubernetes words', async () => {
    const e = await callError((cb) => client.get({ resource: 'deployments', namespace: 'default', name: 'missing' }, cb));
    expect(e.code).toBe(grpc.status.NOT_FOUND);
    expect(e.details).toBe('deployments.apps "missing" not found');
    expect(e.status.code).toBe(404);
  });

  test('Get - system namespaces exist from the start', async () => {
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      const ns = await call<ApiObject>((cb) => client.get({ resource: 'namespaces', name }, cb));
      expect((ns.object?.value as { status: { phase: string } }).status.phase).toBe('Active');
    }
  });
});

describe('ApiServerService/List', () => {
  beforeAll(async () => {
    await call((cb) => client.create({ resource: 'namespaces', object: wrap('namespace', { metadata: { name: 'list-ns' } }) }, cb));
    for (const [name, app] of [['l1', 'web'], ['l2', 'web'], ['l3', 'db'], ['l4', 'cache']]) {
      await call((cb) =>
        client.create({ resource: 'configmaps', namespace: 'list-ns', object: wrap('configMap', { metadata: { name, namespace: 'list-ns', labels: { app } } }) }, cb),
      );
    }
  });

  const names = (r: { items?: ApiObject[] }) => (r.items ?? []).map((i) => (i.object?.value as { metadata: { name: string } }).metadata.name);

  test('List - a namespace, at a revision', async () => {
    const r = await call<{ items?: ApiObject[]; metadata?: { resourceVersion?: string } }>((cb) => client.list({ resource: 'configmaps', namespace: 'list-ns' }, cb));
    expect(names(r)).toEqual(['l1', 'l2', 'l3', 'l4']);
    expect(Number(r.metadata?.resourceVersion)).toBeGreaterThan(0);
  });

  test('List - label selectors, equality and set-based', async () => {
    const eq = await call<{ items?: ApiObject[] }>((cb) => client.list({ resource: 'configmaps', namespace: 'list-ns', labelSelector: 'app=web' }, cb));
    expect(names(eq)).toEqual(['l1', 'l2']);
    const set = await call<{ items?: ApiObject[] }>((cb) => client.list({ resource: 'configmaps', namespace: 'list-ns', labelSelector: 'app in (db,cache)' }, cb));
    expect(names(set)).toEqual(['l3', 'l4']);
    const notin = await call<{ items?: ApiObject[] }>((cb) => client.list({ resource: 'configmaps', namespace: 'list-ns', labelSelector: 'app notin (web),app!=db' }, cb));
    expect(names(notin)).toEqual(['l4']);
  });

  test('List - field selectors on metadata.name and metadata.namespace', async () => {
    const r = await call<{ items?: ApiObject[] }>((cb) => client.list({ resource: 'configmaps', fieldSelector: 'metadata.namespace=list-ns,metadata.name!=l1' }, cb));
    expect(names(r)).toEqual(['l2', 'l3', 'l4']);
  });

  test('List - limit and continue page through a consistent snapshot', async () => {
    const p1 = await call<{ items?: ApiObject[]; metadata?: { continue?: string; resourceVersion?: string } }>((cb) => client.list({ resource: 'configmaps', namespace: 'list-ns', limit: 3 }, cb));
    expect(names(p1)).toEqual(['l1', 'l2', 'l3']);
    await call((cb) => client.create({ resource: 'configmaps', namespace: 'list-ns', object: wrap('configMap', { metadata: { name: 'l5', namespace: 'list-ns' } }) }, cb));
    const p2 = await call<{ items?: ApiObject[]; metadata?: { continue?: string; resourceVersion?: string } }>((cb) => client.list({ resource: 'configmaps', namespace: 'list-ns', limit: 3, continue: p1.metadata?.continue }, cb));
    expect(names(p2)).toEqual(['l4']);
    expect(p2.metadata?.resourceVersion).toBe(p1.metadata?.resourceVersion);
  });

  test('List - INVALID_ARGUMENT for a bad selector or an unsupported field', async () => {
    const bad = await callError((cb) => client.list({ resource: 'configmaps', labelSelector: 'app in (' }, cb));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    const unsupported = await callError((cb) => client.list({ resource: 'configmaps', fieldSelector: 'spec.nodeName=x' }, cb));
    expect(unsupported.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(unsupported.details).toBe('field label not supported: spec.nodeName');
    const token = await callError((cb) => client.list({ resource: 'configmaps', continue: 'garbage' }, cb));
    expect(token.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe('ApiServerService/Update', () => {
  test('Update - compare-and-swap: the current resourceVersion wins, a stale one is ABORTED (Conflict)', async () => {
    const created = (await call<ApiObject>((cb) => client.create({ resource: 'configmaps', namespace: 'default', object: cm('upd') }, cb))).object!.value as never as {
      metadata: { resourceVersion: string };
      data: Record<string, string>;
    };
    const v1 = { ...created, data: { a: '2' } };
    const updated = await call<ApiObject>((cb) => client.update({ resource: 'configmaps', namespace: 'default', object: wrap('configMap', v1 as never) }, cb));
    const rv2 = (updated.object?.value as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    expect(Number(rv2)).toBeGreaterThan(Number(created.metadata.resourceVersion));
    const stale = { ...created, data: { a: 'lost' } };
    const e = await callError((cb) => client.update({ resource: 'configmaps', namespace: 'default', object: wrap('configMap', stale as never) }, cb));
    expect(e.code).toBe(grpc.status.ABORTED);
    expect(e.status.reason).toBe('Conflict');
    expect(e.details).toBe('Operation cannot be fulfilled on configmaps "upd": the object has been modified; please apply your changes to the latest version and try again');
    const now = await call<ApiObject>((cb) => client.get({ resource: 'configmaps', namespace: 'default', name: 'upd' }, cb));
    expect((now.object?.value as { data: Record<string, string> }).data).toEqual({ a: '2' });
  });

  test('Update - generation moves with spec only, status is kept', async () => {
    const dep = wrap('deployment', {
      metadata: { name: 'gen', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'gen' } }, template: { metadata: { labels: { app: 'gen' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
    });
    const created = (await call<ApiObject>((cb) => client.create({ resource: 'deployments', namespace: 'default', object: dep }, cb))).object!.value as any;
    expect(created.metadata.generation).toBe(1);
    const withStatus = await call<ApiObject>((cb) =>
      client.updateStatus({ resource: 'deployments', namespace: 'default', object: wrap('deployment', { ...created, status: { replicas: 1, observedGeneration: 1 } }) }, cb),
    );
    const s = withStatus.object!.value as any;
    expect(s.metadata.generation).toBe(1);
    const labelsOnly = await call<ApiObject>((cb) =>
      client.update({ resource: 'deployments', namespace: 'default', object: wrap('deployment', { ...s, metadata: { ...s.metadata, labels: { x: 'y' } } }) }, cb),
    );
    expect((labelsOnly.object!.value as any).metadata.generation).toBe(1);
    const l = labelsOnly.object!.value as any;
    const scaled = await call<ApiObject>((cb) =>
      client.update({ resource: 'deployments', namespace: 'default', object: wrap('deployment', { ...l, spec: { ...l.spec, replicas: 3 }, status: { replicas: 99 } }) }, cb),
    );
    const sc = scaled.object!.value as any;
    expect(sc.metadata.generation).toBe(2);
    expect(sc.status.replicas).toBe(1);
  });

  test('Update - a Service update that leaves clusterIP out keeps the allocated one; changing it is INVALID_ARGUMENT', async () => {
    const svc = wrap('service', { metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '127.128.0.5', ports: [{ port: 80 }], selector: { app: 'web' } } });
    const created = (await call<ApiObject>((cb) => client.create({ resource: 'services', namespace: 'default', object: svc }, cb))).object!.value as any;
    const replaced = { ...created, spec: { ports: [{ port: 8080 }], selector: { app: 'web' } } };
    const updated = (await call<ApiObject>((cb) => client.update({ resource: 'services', namespace: 'default', object: wrap('service', replaced) }, cb))).object!.value as any;
    expect(updated.spec.clusterIP).toBe('127.128.0.5');
    expect(updated.spec.ports[0].port).toBe(8080);
    const moved = { ...updated, spec: { ...updated.spec, clusterIP: '127.128.0.6', clusterIPs: ['127.128.0.6'] } };
    const e = await callError((cb) => client.update({ resource: 'services', namespace: 'default', object: wrap('service', moved) }, cb));
    expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(e.details).toContain('spec.clusterIPs[0]');
  });

  test('Update - NOT_FOUND for a missing object; INVALID_ARGUMENT for an immutable field', async () => {
    const missing = await callError((cb) => client.update({ resource: 'configmaps', namespace: 'default', object: cm('never-created') }, cb));
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
    const dep = (await call<ApiObject>((cb) => client.get({ resource: 'deployments', namespace: 'default', name: 'gen' }, cb))).object!.value as any;
    const changed = { ...dep, spec: { ...dep.spec, selector: { matchLabels: { app: 'other' } }, template: { ...dep.spec.template, metadata: { labels: { app: 'other' } } } } };
    const e = await callError((cb) => client.update({ resource: 'deployments', namespace: 'default', object: wrap('deployment', changed) }, cb));
    expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(e.details).toContain('spec.selector');
  });
});

describe('ApiServerService/UpdateStatus', () => {
  test('UpdateStatus - writes status only, ignores spec, ABORTED when stale', async () => {
    const pod = wrap('pod', { metadata: { name: 'st', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });
    const created = (await call<ApiObject>((cb) => client.create({ resource: 'pods', namespace: 'default', object: pod }, cb))).object!.value as any;
    expect(created.status.phase).toBe('Pending');
    const next = { ...created, spec: { ...created.spec, containers: [{ name: 'c', image: 'changed' }] }, status: { ...created.status, phase: 'Running' } };
    const res = (await call<ApiObject>((cb) => client.updateStatus({ resource: 'pods', namespace: 'default', object: wrap('pod', next) }, cb))).object!.value as any;
    expect(res.status.phase).toBe('Running');
    expect(res.spec.containers[0].image).toBe('nginx');
    const e = await callError((cb) => client.updateStatus({ resource: 'pods', namespace: 'default', object: wrap('pod', next) }, cb));
    expect(e.code).toBe(grpc.status.ABORTED);
  });

  test('UpdateStatus - UNIMPLEMENTED for a resource without a status subresource', async () => {
    const e = await callError((cb) => client.updateStatus({ resource: 'configmaps', namespace: 'default', object: cm('create-ok') }, cb));
    expect(e.code).toBe(grpc.status.UNIMPLEMENTED);
  });
});

describe('ApiServerService/Patch', () => {
  test('Patch - JSON merge patch', async () => {
    await call((cb) => client.create({ resource: 'configmaps', namespace: 'default', object: cm('mp', { a: '1', b: '2' }) }, cb));
    const res = await call<ApiObject>((cb) =>
      client.patch({ resource: 'configmaps', namespace: 'default', name: 'mp', patchType: 'application/merge-patch+json', patch: Buffer.from(JSON.stringify({ data: { a: null, c: '3' }, metadata: { labels: { x: 'y' } } })) }, cb),
    );
    const v = res.object!.value as any;
    expect(v.data).toEqual({ b: '2', c: '3' });
    expect(v.metadata.labels.x).toBe('y');
  });

  test('Patch - JSON patch, including a failed test op', async () => {
    const res = await call<ApiObject>((cb) =>
      client.patch({ resource: 'configmaps', namespace: 'default', name: 'mp', patchType: 'application/json-patch+json', patch: Buffer.from(JSON.stringify([{ op: 'replace', path: '/data/b', value: 'two' }])) }, cb),
    );
    expect((res.object!.value as any).data.b).toBe('two');
    const e = await callError((cb) =>
      client.patch({ resource: 'configmaps', namespace: 'default', name: 'mp', patchType: 'application/json-patch+json', patch: Buffer.from(JSON.stringify([{ op: 'test', path: '/data/b', value: 'nope' }])) }, cb),
    );
    expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  test('Patch - status subresource, stale resourceVersion in the patch is ABORTED', async () => {
    const pod = (await call<ApiObject>((cb) => client.get({ resource: 'pods', namespace: 'default', name: 'st' }, cb))).object!.value as any;
    const res = await call<ApiObject>((cb) =>
      client.patch({ resource: 'pods', namespace: 'default', name: 'st', patchType: 'application/merge-patch+json', subresource: 'status', patch: Buffer.from(JSON.stringify({ status: { podIP: '127.1.0.5' } })) }, cb),
    );
    expect((res.object!.value as any).status.podIP).toBe('127.1.0.5');
    const e = await callError((cb) =>
      client.patch({ resource: 'pods', namespace: 'default', name: 'st', patchType: 'application/merge-patch+json', patch: Buffer.from(JSON.stringify({ metadata: { resourceVersion: pod.metadata.resourceVersion, labels: { a: 'b' } } })) }, cb),
    );
    expect(e.code).toBe(grpc.status.ABORTED);
  });

  test('Patch - INVALID_ARGUMENT for malformed JSON or an unsupported patch type; NOT_FOUND for a missing object', async () => {
    const malformed = await callError((cb) => client.patch({ resource: 'configmaps', namespace: 'default', name: 'mp', patchType: 'application/merge-patch+json', patch: Buffer.from('{nope') }, cb));
    expect(malformed.code).toBe(grpc.status.INVALID_ARGUMENT);
    const type = await callError((cb) => client.patch({ resource: 'configmaps', namespace: 'default', name: 'mp', patchType: 'text/plain', patch: Buffer.from('{}') }, cb));
    expect(type.code).toBe(grpc.status.INVALID_ARGUMENT);
    const missing = await callError((cb) => client.patch({ resource: 'configmaps', namespace: 'default', name: 'ghost', patchType: 'application/merge-patch+json', patch: Buffer.from('{}') }, cb));
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
  });
});

describe('ApiServerService/Delete', () => {
  test('Delete - removes the object and returns a Success status', async () => {
    await call((cb) => client.create({ resource: 'configmaps', namespace: 'default', object: cm('del') }, cb));
    const res = await call<{ status?: Status; object?: ApiObject }>((cb) => client.delete({ resource: 'configmaps', namespace: 'default', name: 'del' }, cb));
    expect(res.status?.status).toBe('Success');
    expect(res.object).toBeUndefined();
    const e = await callError((cb) => client.delete({ resource: 'configmaps', namespace: 'default', name: 'del' }, cb));
    expect(e.code).toBe(grpc.status.NOT_FOUND);
  });

  test('Delete - preconditions: a wrong uid or resourceVersion is ABORTED (Conflict)', async () => {
    await call((cb) => client.create({ resource: 'configmaps', namespace: 'default', object: cm('pre') }, cb));
    const uid = await callError((cb) => client.delete({ resource: 'configmaps', namespace: 'default', name: 'pre', options: { preconditions: { uid: 'not-it' } } }, cb));
    expect(uid.code).toBe(grpc.status.ABORTED);
    expect(uid.details).toContain('Precondition failed: UID in precondition: not-it');
    const rv = await callError((cb) => client.delete({ resource: 'configmaps', namespace: 'default', name: 'pre', options: { preconditions: { resourceVersion: '1' } } }, cb));
    expect(rv.code).toBe(grpc.status.ABORTED);
  });

  test('Delete - finalizers hold deletion until the last one is removed', async () => {
    const obj = wrap('configMap', { metadata: { name: 'fin', namespace: 'default', finalizers: ['example.com/hold'] } });
    await call((cb) => client.create({ resource: 'configmaps', namespace: 'default', object: obj }, cb));
    const res = await call<{ object?: ApiObject }>((cb) => client.delete({ resource: 'configmaps', namespace: 'default', name: 'fin' }, cb));
    const pending = res.object!.object!.value as any;
    expect(pending.metadata.deletionTimestamp).toBeTruthy();
    const added = await callError((cb) =>
      client.update({ resource: 'configmaps', namespace: 'default', object: wrap('configMap', { ...pending, metadata: { ...pending.metadata, finalizers: ['example.com/hold', 'x.io/more'] } }) }, cb),
    );
    expect(added.code).toBe(grpc.status.INVALID_ARGUMENT);
    await call((cb) => client.update({ resource: 'configmaps', namespace: 'default', object: wrap('configMap', { ...pending, metadata: { ...pending.metadata, finalizers: [] } }) }, cb));
    const gone = await callError((cb) => client.get({ resource: 'configmaps', namespace: 'default', name: 'fin' }, cb));
    expect(gone.code).toBe(grpc.status.NOT_FOUND);
  });

  test('Delete - propagation policy Orphan and Foreground add their finalizers; an unknown one is INVALID_ARGUMENT', async () => {
    await call((cb) => client.create({ resource: 'configmaps', namespace: 'default', object: cm('orphan-me') }, cb));
    const res = await call<{ object?: ApiObject }>((cb) => client.delete({ resource: 'configmaps', namespace: 'default', name: 'orphan-me', options: { propagationPolicy: 'Orphan' } }, cb));
    expect((res.object!.object!.value as any).metadata.finalizers).toEqual(['orphan']);
    await call((cb) => client.create({ resource: 'configmaps', namespace: 'default', object: cm('fg') }, cb));
    const fg = await call<{ object?: ApiObject }>((cb) => client.delete({ resource: 'configmaps', namespace: 'default', name: 'fg', options: { propagationPolicy: 'Foreground' } }, cb));
    expect((fg.object!.object!.value as any).metadata.finalizers).toEqual(['foregroundDeletion']);
    const e = await callError((cb) => client.delete({ resource: 'configmaps', namespace: 'default', name: 'create-ok', options: { propagationPolicy: 'Sideways' } }, cb));
    expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  test('Delete - a pod on a node is deleted gracefully; grace period 0 removes it', async () => {
    await call((cb) => client.create({ resource: 'pods', namespace: 'default', object: wrap('pod', { metadata: { name: 'graceful', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } }) }, cb));
    await call((cb) => client.bind({ namespace: 'default', name: 'graceful', binding: { target: { kind: 'Node', name: 'node-1' } } }, cb));
    const res = await call<{ object?: ApiObject }>((cb) => client.delete({ resource: 'pods', namespace: 'default', name: 'graceful' }, cb));
    const pod = res.object!.object!.value as any;
    expect(pod.metadata.deletionGracePeriodSeconds).toBe(30);
    expect(pod.metadata.deletionTimestamp).toBeTruthy();
    const done = await call<{ status?: Status }>((cb) => client.delete({ resource: 'pods', namespace: 'default', name: 'graceful', options: { gracePeriodSeconds: 0 } }, cb));
    expect(done.status?.status).toBe('Success');
  });

  test('Delete - objects cannot be created in a terminating namespace', async () => {
    await call((cb) => client.create({ resource: 'namespaces', object: wrap('namespace', { metadata: { name: 'doomed' } }) }, cb));
    const res = await call<{ object?: ApiObject }>((cb) => client.delete({ resource: 'namespaces', name: 'doomed' }, cb));
    expect((res.object!.object!.value as any).status.phase).toBe('Terminating');
    const e = await callError((cb) => client.create({ resource: 'configmaps', namespace: 'doomed', object: cm('late', {}, 'doomed') }, cb));
    expect(e.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(e.details).toBe('unable to create new content in namespace doomed because it is being terminated');
  });
});

describe('ApiServerService/Bind', () => {
  test('Bind - sets spec.nodeName and PodScheduled once; a second binding is ABORTED', async () => {
    await call((cb) => client.create({ resource: 'pods', namespace: 'default', object: wrap('pod', { metadata: { name: 'bindme', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } }) }, cb));
    const res = await call<{ status?: Status }>((cb) => client.bind({ namespace: 'default', name: 'bindme', binding: { target: { kind: 'Node', name: 'node-1' } } }, cb));
    expect(res.status?.status).toBe('Success');
    const pod = (await call<ApiObject>((cb) => client.get({ resource: 'pods', namespace: 'default', name: 'bindme' }, cb))).object!.value as any;
    expect(pod.spec.nodeName).toBe('node-1');
    expect(pod.status.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'PodScheduled', status: 'True' })]));
    const again = await callError((cb) => client.bind({ namespace: 'default', name: 'bindme', binding: { target: { kind: 'Node', name: 'node-2' } } }, cb));
    expect(again.code).toBe(grpc.status.ABORTED);
    expect(again.details).toContain('is already assigned to node "node-1"');
  });

  test('Bind - NOT_FOUND for a missing pod, INVALID_ARGUMENT without a target', async () => {
    const missing = await callError((cb) => client.bind({ namespace: 'default', name: 'nobody', binding: { target: { kind: 'Node', name: 'node-1' } } }, cb));
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
    const noTarget = await callError((cb) => client.bind({ namespace: 'default', name: 'bindme', binding: {} }, cb));
    expect(noTarget.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe('ApiServerService/GetScale', () => {
  const deploy = (name: string) =>
    wrap('deployment', {
      metadata: { name, namespace: 'default' },
      spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
    });

  test('GetScale - the replicas and selector of a deployment; NOT_FOUND for a missing one or a resource without scale', async () => {
    await call((cb) => client.create({ resource: 'deployments', namespace: 'default', object: deploy('scaled') }, cb));
    const scale = await call<any>((cb) => client.getScale({ resource: 'deployments', namespace: 'default', name: 'scaled' }, cb));
    expect(scale).toMatchObject({ apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'scaled', namespace: 'default' }, spec: { replicas: 2 }, status: { selector: 'app=scaled' } });
    expect(scale.metadata.resourceVersion).toMatch(/^\d+$/);
    expect((await callError((cb) => client.getScale({ resource: 'deployments', namespace: 'default', name: 'nope' }, cb))).code).toBe(grpc.status.NOT_FOUND);
    const noScale = await callError((cb) => client.getScale({ resource: 'configmaps', namespace: 'default', name: 'x' }, cb));
    expect(noScale.code).toBe(grpc.status.NOT_FOUND);
    expect(noScale.details).toContain('configmaps/scale');
  });
});

describe('ApiServerService/UpdateScale', () => {
  test('UpdateScale - sets spec.replicas only; a stale resourceVersion is ABORTED; negative replicas INVALID_ARGUMENT', async () => {
    const before = (await call<ApiObject>((cb) => client.get({ resource: 'deployments', namespace: 'default', name: 'scaled' }, cb))).object!.value as any;
    const res = await call<any>((cb) => client.updateScale({ resource: 'deployments', namespace: 'default', scale: { metadata: { name: 'scaled' }, spec: { replicas: 5 } } }, cb));
    expect(res.spec.replicas).toBe(5);
    const after = (await call<ApiObject>((cb) => client.get({ resource: 'deployments', namespace: 'default', name: 'scaled' }, cb))).object!.value as any;
    expect(after.spec.replicas).toBe(5);
    expect(after.spec.template).toEqual(before.spec.template);
    expect(after.metadata.generation).toBe(before.metadata.generation + 1);
    const stale = await callError((cb) => client.updateScale({ resource: 'deployments', namespace: 'default', scale: { metadata: { name: 'scaled', resourceVersion: before.metadata.resourceVersion }, spec: { replicas: 1 } } }, cb));
    expect(stale.code).toBe(grpc.status.ABORTED);
    expect(stale.status.reason).toBe('Conflict');
    const negative = await callError((cb) => client.updateScale({ resource: 'deployments', namespace: 'default', scale: { metadata: { name: 'scaled' }, spec: { replicas: -1 } } }, cb));
    expect(negative.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(negative.details).toContain('spec.replicas: Invalid value: -1: must be greater than or equal to 0');
    const missing = await callError((cb) => client.updateScale({ resource: 'deployments', namespace: 'default', scale: { metadata: { name: 'ghost' }, spec: { replicas: 1 } } }, cb));
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
    expect((await callError((cb) => client.updateScale({ resource: 'deployments', namespace: 'default' }, cb))).code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Etcd3 } = require('etcd3') as typeof import('etcd3');

describe('ApiServerService - Service address allocation', () => {
  const svcObj = (name: string, spec: Record<string, unknown>): ApiObject =>
    wrap('service', { metadata: { name, namespace: 'default' }, spec: { ports: [{ port: 80 }], selector: { app: name }, ...spec } });
  const createSvc = async (name: string, spec: Record<string, unknown> = {}) =>
    (await call<ApiObject>((cb) => client.create({ resource: 'services', namespace: 'default', object: svcObj(name, spec) }, cb))).object!.value as any;
  const deleteSvc = (name: string) => call((cb) => client.delete({ resource: 'services', namespace: 'default', name }, cb));
  const ipNumber = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);

  test('Services - a ClusterIP service without clusterIP gets a free one in 127.128.0.0/16, with SingleStack IPv4', async () => {
    const a = await createSvc('alloc-a');
    const b = await createSvc('alloc-b');
    for (const s of [a, b]) {
      expect(s.spec.clusterIP).toMatch(/^127\.128\.\d+\.\d+$/);
      expect(s.spec.clusterIPs).toEqual([s.spec.clusterIP]);
      expect(s.spec.ipFamilies).toEqual(['IPv4']);
      expect(s.spec.ipFamilyPolicy).toBe('SingleStack');
    }
    expect(a.spec.clusterIP).not.toBe(b.spec.clusterIP);
    const n = ipNumber(a.spec.clusterIP);
    expect(n > ipNumber('127.128.0.0') && n < ipNumber('127.128.255.255')).toBe(true);
  });

  test('Services - a requested clusterIP is kept; taken or out of range is INVALID_ARGUMENT in Kubernetes words', async () => {
    const s = await createSvc('asked', { clusterIP: '127.128.7.7' });
    expect(s.spec.clusterIPs).toEqual(['127.128.7.7']);
    const taken = await callError((cb) => client.create({ resource: 'services', namespace: 'default', object: svcObj('asked-too', { clusterIP: '127.128.7.7' }) }, cb));
    expect(taken.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(taken.details).toBe('Service "asked-too" is invalid: spec.clusterIPs: Invalid value: []string{"127.128.7.7"}: failed to allocate IP 127.128.7.7: provided IP is already allocated');
    const out = await callError((cb) => client.create({ resource: 'services', namespace: 'default', object: svcObj('far', { clusterIP: '10.0.0.1' }) }, cb));
    expect(out.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(out.details).toBe(
      'Service "far" is invalid: spec.clusterIPs: Invalid value: []string{"10.0.0.1"}: failed to allocate IP 10.0.0.1: provided IP is not in the valid range. The range of valid IPs is 127.128.0.0/16',
    );
    expect((await callError((cb) => client.get({ resource: 'services', namespace: 'default', name: 'far' }, cb))).code).toBe(grpc.status.NOT_FOUND);
  });

  test('Services - delete releases the clusterIP, nodePort and LoadBalancer IP', async () => {
    const lb = await createSvc('released', { type: 'LoadBalancer', clusterIP: '127.128.9.9', ports: [{ port: 80, nodePort: 30999 }] });
    const lbIP = lb.status.loadBalancer.ingress[0].ip;
    await deleteSvc('released');
    const again = await createSvc('released-again', { type: 'NodePort', clusterIP: '127.128.9.9', ports: [{ port: 80, nodePort: 30999 }] });
    expect(again.spec.clusterIP).toBe('127.128.9.9');
    expect(again.spec.ports[0].nodePort).toBe(30999);
    await deleteSvc('released-again');
    // Every claim key is gone from etcd.
    const etcd = new Etcd3({ hosts: env.etcdEndpoints });
    try {
      expect(await etcd.get(`/registry/ranges/loadbalancerips/${lbIP}`).string()).toBeNull();
      expect(await etcd.get('/registry/ranges/serviceips/127.128.9.9').string()).toBeNull();
      expect(await etcd.get('/registry/ranges/servicenodeports/30999').string()).toBeNull();
    } finally {
      etcd.close();
    }
  });

  test('Services - headless gets None, ExternalName gets no clusterIP', async () => {
    const headless = await createSvc('headless', { clusterIP: 'None' });
    expect(headless.spec.clusterIPs).toEqual(['None']);
    const ext = (await call<ApiObject>((cb) => client.create({ resource: 'services', namespace: 'default', object: wrap('service', { metadata: { name: 'ext', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'example.com' } }) }, cb))).object!.value as any;
    expect(ext.spec.clusterIP ?? '').toBe('');
    expect(ext.spec.clusterIPs ?? []).toEqual([]);
  });

  test('Services - NodePort services get nodePorts in 30000-32767; out of range and taken are INVALID_ARGUMENT', async () => {
    const np = await createSvc('np', { type: 'NodePort', ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81 }] });
    const ports = np.spec.ports.map((p: any) => p.nodePort);
    for (const p of ports) expect(p >= 30000 && p <= 32767).toBe(true);
    expect(ports[0]).not.toBe(ports[1]);
    const low = await callError((cb) => client.create({ resource: 'services', namespace: 'default', object: svcObj('np-low', { type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] }) }, cb));
    expect(low.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(low.details).toBe('Service "np-low" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767');
    const taken = await callError((cb) => client.create({ resource: 'services', namespace: 'default', object: svcObj('np-taken', { type: 'NodePort', ports: [{ port: 80, nodePort: ports[0] }] }) }, cb));
    expect(taken.details).toBe(`Service "np-taken" is invalid: spec.ports[0].nodePort: Invalid value: ${ports[0]}: provided port is already allocated`);
    // The clusterIP claimed before the nodePort failed was given back.
    expect((await createSvc('np-after', { clusterIP: '127.128.44.44' })).spec.clusterIP).toBe('127.128.44.44');
    // An update that leaves the nodePorts out keeps them.
    const replaced = { ...np, spec: { ...np.spec, ports: np.spec.ports.map((p: any) => ({ ...p, nodePort: 0 })) } };
    const updated = (await call<ApiObject>((cb) => client.update({ resource: 'services', namespace: 'default', object: wrap('service', replaced) }, cb))).object!.value as any;
    expect(updated.spec.ports.map((p: any) => p.nodePort)).toEqual(ports);
  });

  test('Services - a LoadBalancer service gets an ingress IP from 127.129.0.0/16 at creation', async () => {
    const a = await createSvc('lb-a', { type: 'LoadBalancer' });
    const b = await createSvc('lb-b', { type: 'LoadBalancer' });
    for (const s of [a, b]) {
      expect(s.status.loadBalancer.ingress[0].ip).toMatch(/^127\.129\.\d+\.\d+$/);
      expect(s.spec.ports[0].nodePort).toBeGreaterThanOrEqual(30000);
    }
    expect(a.status.loadBalancer.ingress[0].ip).not.toBe(b.status.loadBalancer.ingress[0].ip);
    const got = (await call<ApiObject>((cb) => client.get({ resource: 'services', namespace: 'default', name: 'lb-a' }, cb))).object!.value as any;
    expect(got.status.loadBalancer.ingress).toEqual(a.status.loadBalancer.ingress);
    // Changing the type to ClusterIP gives the ingress IP back and drops it from status.
    const toClusterIP = { ...got, spec: { ...got.spec, type: 'ClusterIP', ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }], externalTrafficPolicy: undefined, allocateLoadBalancerNodePorts: undefined } };
    const changed = (await call<ApiObject>((cb) => client.update({ resource: 'services', namespace: 'default', object: wrap('service', toClusterIP) }, cb))).object!.value as any;
    expect(changed.status?.loadBalancer?.ingress ?? []).toEqual([]);
  });

  test('Services - changing only the type: NodePort to ClusterIP gives the nodePorts back, to ExternalName the clusterIP', async () => {
    const np = await createSvc('retype', { type: 'NodePort', clusterIP: '127.128.66.66', ports: [{ port: 80, nodePort: 31066 }] });
    const asClusterIP = (await call<ApiObject>((cb) => client.update({ resource: 'services', namespace: 'default', object: wrap('service', { ...np, spec: { ...np.spec, type: 'ClusterIP' } }) }, cb))).object!.value as any;
    expect(asClusterIP.spec.ports[0].nodePort ?? 0).toBe(0);
    expect(asClusterIP.spec.clusterIP).toBe('127.128.66.66');
    const asExternal = (await call<ApiObject>((cb) => client.update({ resource: 'services', namespace: 'default', object: wrap('service', { ...asClusterIP, spec: { ...asClusterIP.spec, type: 'ExternalName', externalName: 'example.com' } }) }, cb))).object!.value as any;
    expect(asExternal.spec.clusterIP ?? '').toBe('');
    // Both are free again.
    const reuse = await createSvc('retype-reuse', { type: 'NodePort', clusterIP: '127.128.66.66', ports: [{ port: 80, nodePort: 31066 }] });
    expect([reuse.spec.clusterIP, reuse.spec.ports[0].nodePort]).toEqual(['127.128.66.66', 31066]);
  });

  test('Services - the kubernetes service in default: the first address, https 443, endpoints of the apiserver', async () => {
    const svc = (await call<ApiObject>((cb) => client.get({ resource: 'services', namespace: 'default', name: 'kubernetes' }, cb))).object!.value as any;
    expect(svc.spec.clusterIP).toBe('127.128.0.1');
    expect(svc.spec.ports).toEqual([expect.objectContaining({ name: 'https', port: 443, protocol: 'TCP' })]);
    const target = svc.spec.ports[0].targetPort;
    expect(target).toBe(Number(env.address.split(':')[1]) + 100);
    const ep = (await call<ApiObject>((cb) => client.get({ resource: 'endpoints', namespace: 'default', name: 'kubernetes' }, cb))).object!.value as any;
    expect(ep.subsets).toEqual([expect.objectContaining({ addresses: [expect.objectContaining({ ip: '127.0.0.1' })], ports: [expect.objectContaining({ name: 'https', port: target })] })]);
  });
});
