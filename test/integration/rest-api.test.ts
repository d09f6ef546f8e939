/**
 * The Kubernetes REST API of a real apiserver process (etcd, nats-server, kube-apiserver with
 * KUBEMU_APISERVER_HTTP_LISTEN) through plain HTTP requests and the real kubectl: discovery,
 * every status code as a Kubernetes Status, list (selectors, paging), watch (initial state,
 * changes, selector exits as DELETED, timeout, 410 after the stream lost history), the status,
 * scale, binding and eviction subresources.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { connect, NatsConnection } from 'nats';
import { WATCH_STREAM } from '../../services/lib/watchbus';
import { startTestApiServer, TestApiServer } from '../contract/env';
import { freePort } from '../harness';
import { waitFor } from '../harness/wait';

jest.setTimeout(120000);

let env: TestApiServer;
let port: number;
let kubeconfig: string;
let tmp: string;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function request(method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request(
      { host: '127.0.0.1', port, method, path: urlPath, headers: { ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** A streaming watch: collects event lines until stop() or the server ends the stream. */
function watch(urlPath: string, headers: Record<string, string> = {}) {
  const events: { type: string; object: any }[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  let ended = false;
  let status = 0;
  let buf = '';
  const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers }, (res) => {
    status = res.statusCode ?? 0;
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) events.push(JSON.parse(line));
      }
    });
    res.on('end', () => (ended = true));
    res.on('close', () => (ended = true));
  });
  req.on('error', () => (ended = true));
  return {
    events,
    get ended() {
      return ended;
    },
    get status() {
      return status;
    },
    stop: () => req.destroy(),
  };
}

function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('kubectl', ['--kubeconfig', kubeconfig, ...args], { timeout: 30000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const hasKubectl = fs.existsSync('/usr/bin/kubectl');

function configMap(name: string, labels: Record<string, string> = {}, data: Record<string, string> = { a: '1' }) {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data };
}

function deployment(name: string, replicas = 1) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } },
    },
  };
}

beforeAll(async () => {
  port = await freePort();
  env = await startTestApiServer({ KUBEMU_APISERVER_HTTP_LISTEN: `127.0.0.1:${port}` });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rest-api-'));
  kubeconfig = path.join(tmp, 'kubeconfig');
  fs.writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: t, cluster: {server: "http://127.0.0.1:${port}"}}]`,
      'users: [{name: t, user: {}}]',
      'contexts: [{name: t, context: {cluster: t, user: t, namespace: default}}]',
      'current-context: t',
      '',
    ].join('\n'),
  );
  await waitFor('the REST API ready', async () => (await request('GET', '/readyz')).status === 200, 30000);
});

afterAll(async () => {
  await env?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('rest api', () => {
  test('rest api - discovery, version and health', async () => {
    const api = await request('GET', '/api');
    expect(api.json).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const apis = await request('GET', '/apis');
    expect(apis.json.kind).toBe('APIGroupList');
    expect(apis.json.groups.find((g: { name: string }) => g.name === 'apps').preferredVersion).toEqual({ groupVersion: 'apps/v1', version: 'v1' });
    const v1 = await request('GET', '/api/v1');
    const pods = v1.json.resources.find((r: { name: string }) => r.name === 'pods');
    expect(pods).toMatchObject({ singularName: 'pod', namespaced: true, kind: 'Pod', shortNames: ['po'], categories: ['all'] });
    expect(v1.json.resources.map((r: { name: string }) => r.name)).toEqual(expect.arrayContaining(['pods/status', 'pods/binding', 'pods/eviction', 'pods/log', 'pods/exec']));
    const apps = await request('GET', '/apis/apps/v1');
    expect(apps.json.resources.find((r: { name: string }) => r.name === 'deployments/scale')).toMatchObject({ group: 'autoscaling', version: 'v1', kind: 'Scale' });
    expect((await request('GET', '/apis/nope/v1')).status).toBe(404);
    expect((await request('GET', '/version')).json.gitVersion).toBe('v1.32.0-kubemu');
    for (const p of ['/healthz', '/livez', '/readyz']) expect((await request('GET', p)).text).toBe('ok');
    const verbose = await request('GET', '/readyz?verbose');
    expect(verbose.text).toContain('[+]etcd ok');
    expect(verbose.text).toContain('readyz check passed');
  });

  test('rest api - create, get, update, patch, delete and every error as a Status', async () => {
    const base = '/api/v1/namespaces/default/configmaps';
    const created = await request('POST', base, configMap('cm1', { app: 'x' }));
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'cm1', namespace: 'default' } });
    const rv = created.json.metadata.resourceVersion;

    const dup = await request('POST', base, configMap('cm1'));
    expect(dup.status).toBe(409);
    expect(dup.json).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'AlreadyExists', message: 'configmaps "cm1" already exists', code: 409 });

    const missing = await request('GET', `${base}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.json).toMatchObject({ reason: 'NotFound', message: 'configmaps "nope" not found', details: { name: 'nope', kind: 'configmaps' } });

    const got = await request('GET', `${base}/cm1`);
    expect(got.json.data).toEqual({ a: '1' });

    const updated = await request('PUT', `${base}/cm1`, { ...got.json, data: { a: '2' } });
    expect(updated.status).toBe(200);
    expect(updated.json.data).toEqual({ a: '2' });
    const stale = await request('PUT', `${base}/cm1`, { ...got.json, metadata: { ...got.json.metadata, resourceVersion: rv }, data: { a: '3' } });
    expect(stale.status).toBe(409);
    expect(stale.json.reason).toBe('Conflict');
    const renamed = await request('PUT', `${base}/cm1`, { ...got.json, metadata: { ...got.json.metadata, name: 'other' } });
    expect(renamed.status).toBe(400);
    expect(renamed.json.message).toBe('the name of the object (other) does not match the name on the URL (cm1)');

    const merged = await request('PATCH', `${base}/cm1`, { data: { b: 'x' } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(merged.status).toBe(200);
    expect(merged.json.data).toEqual({ a: '2', b: 'x' });
    const jsonPatched = await request('PATCH', `${base}/cm1`, [{ op: 'remove', path: '/data/b' }], { 'Content-Type': 'application/json-patch+json' });
    expect(jsonPatched.json.data).toEqual({ a: '2' });
    const noType = await request('PATCH', `${base}/cm1`, '{}', { 'Content-Type': 'text/plain' });
    expect(noType.status).toBe(415);

    const invalid = await request('POST', '/apis/apps/v1/namespaces/default/deployments', deployment('bad', -1));
    expect(invalid.status).toBe(422);
    expect(invalid.json).toMatchObject({ reason: 'Invalid', details: { name: 'bad', kind: 'Deployment' } });
    expect(invalid.json.details.causes).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'spec.replicas', reason: 'FieldValueInvalid' })]));
    expect(invalid.json.message).toContain('spec.replicas: Invalid value: -1: must be greater than or equal to 0');

    expect((await request('POST', `${base}/cm1`, configMap('cm1'))).status).toBe(405);
    expect((await request('PUT', base, configMap('cm1'))).status).toBe(405);
    const malformed = await request('POST', base, '{"metadata":');
    expect(malformed.status).toBe(400);
    expect(malformed.json.reason).toBe('BadRequest');
    const tooLarge = await request('POST', base, configMap('big', {}, { a: 'x'.repeat(3 * 1024 * 1024 + 10) }));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.json.reason).toBe('RequestEntityTooLarge');
    const proto = await request('POST', base, Buffer.from('k8s\0'), { 'Content-Type': 'application/vnd.kubernetes.protobuf' });
    expect([400, 415]).toContain(proto.status);
    const protoOnly = await request('GET', `${base}/cm1`, undefined, { Accept: 'application/vnd.kubernetes.protobuf' });
    expect(protoOnly.status).toBe(406);
    expect(protoOnly.json.reason).toBe('NotAcceptable');
    const unknown = await request('GET', '/api/v1/namespaces/default/widgets');
    expect(unknown.status).toBe(404);
    expect(unknown.json.message).toBe('the server could not find the requested resource');
    const wrongNs = await request('POST', base, { ...configMap('cm9'), metadata: { name: 'cm9', namespace: 'kube-system' } });
    expect(wrongNs.status).toBe(400);
    expect(wrongNs.json.message).toBe('the namespace of the provided object does not match the namespace sent on the request');
    const dry = await request('POST', `${base}?dryRun=All`, configMap('dry'));
    expect(dry.status).toBe(201);
    expect((await request('GET', `${base}/dry`)).status).toBe(404);

    const deleted = await request('DELETE', `${base}/cm1`, { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: '1' } });
    expect(deleted.status).toBe(409);
    const gone = await request('DELETE', `${base}/cm1`);
    expect(gone.status).toBe(200);
    expect(gone.json).toMatchObject({ kind: 'Status', status: 'Success', details: { name: 'cm1', kind: 'configmaps' } });
    expect((await request('DELETE', `${base}/cm1`)).status).toBe(404);
  });

  test('rest api - list with label and field selectors, paging, all namespaces, deletecollection', async () => {
    const base = '/api/v1/namespaces/default/configmaps';
    for (const [name, tier] of [['l1', 'web'], ['l2', 'web'], ['l3', 'db']]) {
      expect((await request('POST', base, configMap(name, { tier, group: 'list' }))).status).toBe(201);
    }
    const all = await request('GET', `${base}?labelSelector=group%3Dlist`);
    expect(all.json.kind).toBe('ConfigMapList');
    expect(all.json.apiVersion).toBe('v1');
    expect(all.json.metadata.resourceVersion).toMatch(/^\d+$/);
    expect(all.json.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['l1', 'l2', 'l3']);
    const setBased = await request('GET', `${base}?labelSelector=${encodeURIComponent('tier in (db),group')}`);
    expect(setBased.json.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['l3']);
    const byField = await request('GET', `${base}?fieldSelector=metadata.name%3Dl2`);
    expect(byField.json.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['l2']);
    const badField = await request('GET', `${base}?fieldSelector=spec.foo%3Dx`);
    expect(badField.status).toBe(400);
    const page1 = await request('GET', `${base}?labelSelector=group%3Dlist&limit=2`);
    expect(page1.json.items).toHaveLength(2);
    expect(page1.json.metadata.continue).toBeTruthy();
    const page2 = await request('GET', `${base}?labelSelector=group%3Dlist&limit=2&continue=${encodeURIComponent(page1.json.metadata.continue)}`);
    expect(page2.json.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['l3']);
    const cluster = await request('GET', '/api/v1/configmaps?labelSelector=group%3Dlist&resourceVersion=0&resourceVersionMatch=NotOlderThan');
    expect(cluster.json.items).toHaveLength(3);
    const removed = await request('DELETE', `${base}?labelSelector=tier%3Dweb`);
    expect(removed.status).toBe(200);
    expect(removed.json.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['l1', 'l2']);
    const left = await request('GET', `${base}?labelSelector=group%3Dlist`);
    expect(left.json.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['l3']);
  });

  test('rest api - watch: current state, changes, leaving the selector, single object, timeout', async () => {
    const base = '/api/v1/namespaces/default/configmaps';
    expect((await request('POST', base, configMap('w0', { watch: 'yes' }))).status).toBe(201);
    const w = watch(`${base}?watch=true&labelSelector=watch%3Dyes`);
    await waitFor('the initial ADDED', async () => w.events.length >= 1);
    expect(w.events[0]).toMatchObject({ type: 'ADDED', object: { kind: 'ConfigMap', metadata: { name: 'w0' } } });
    const one = watch(`${base}?watch=true&fieldSelector=metadata.name%3Dw1&timeoutSeconds=30`);
    expect((await request('POST', base, configMap('w1', { watch: 'yes' }))).status).toBe(201);
    await waitFor('ADDED w1', async () => w.events.some((e) => e.type === 'ADDED' && e.object.metadata.name === 'w1'));
    const patch = (labels: Record<string, string | null>) =>
      request('PATCH', `${base}/w1`, { metadata: { labels } }, { 'Content-Type': 'application/merge-patch+json' });
    expect((await patch({ extra: 'a' })).status).toBe(200);
    await waitFor('MODIFIED w1', async () => w.events.some((e) => e.type === 'MODIFIED' && e.object.metadata.name === 'w1'));
    expect((await patch({ watch: 'no' })).status).toBe(200);
    await waitFor('w1 leaving the selector as DELETED', async () => w.events.some((e) => e.type === 'DELETED' && e.object.metadata.name === 'w1'));
    expect((await request('DELETE', `${base}/w1`)).status).toBe(200);
    await waitFor('the single-object watch sees the deletion', async () => one.events.some((e) => e.type === 'DELETED'));
    expect(one.events.every((e) => e.object.metadata.name === 'w1')).toBe(true);
    expect(one.events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'MODIFIED', 'DELETED']);
    w.stop();
    one.stop();

    // From a resourceVersion: only what came after it; timeoutSeconds ends the stream.
    const list = await request('GET', base);
    const after = watch(`${base}?watch=true&resourceVersion=${list.json.metadata.resourceVersion}&timeoutSeconds=2&allowWatchBookmarks=true`);
    expect((await request('POST', base, configMap('w2'))).status).toBe(201);
    await waitFor('the stream to end after timeoutSeconds', async () => after.ended, 10000);
    expect(after.events.map((e) => `${e.type}:${e.object.metadata.name}`)).toEqual(['ADDED:w2']);
  });

  test('rest api - a resourceVersion the stream no longer holds is an ERROR event with 410 Expired', async () => {
    const base = '/api/v1/namespaces/default/configmaps';
    expect((await request('POST', base, configMap('expire-me'))).status).toBe(201);
    const before = await request('GET', base);
    const oldRv = Number(before.json.metadata.resourceVersion) - 1;
    // Purge the stream's history as max_age/max_bytes would, keeping only the newest message.
    const nc: NatsConnection = await connect({ servers: env.natsUrls });
    try {
      const jsm = await nc.jetstreamManager();
      await request('POST', base, configMap('expire-2'));
      await waitFor('the publisher to catch up', async () => (await jsm.streams.info(WATCH_STREAM)).state.messages > 0);
      await jsm.streams.purge(WATCH_STREAM, { keep: 1 });
    } finally {
      await nc.close();
    }
    const w = watch(`${base}?watch=true&resourceVersion=${oldRv}`);
    await waitFor('the ERROR event', async () => w.events.length > 0 || w.ended);
    expect(w.status).toBe(200);
    expect(w.events[0].type).toBe('ERROR');
    expect(w.events[0].object).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Expired', code: 410 });
    expect(w.events[0].object.message).toMatch(/too old resource version/);
    await waitFor('the stream to end', async () => w.ended);
  });

  test('rest api - status, scale, binding and eviction subresources', async () => {
    const deps = '/apis/apps/v1/namespaces/default/deployments';
    expect((await request('POST', deps, deployment('web', 2))).status).toBe(201);
    const scale = await request('GET', `${deps}/web/scale`);
    expect(scale.json).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: { name: 'web' }, spec: { replicas: 2 }, status: { selector: 'app=web' } });
    const put = await request('PUT', `${deps}/web/scale`, { ...scale.json, spec: { replicas: 3 } });
    expect(put.json.spec.replicas).toBe(3);
    const patched = await request('PATCH', `${deps}/web/scale`, { spec: { replicas: 4 } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(patched.status).toBe(200);
    expect(patched.json.spec.replicas).toBe(4);
    const negative = await request('PATCH', `${deps}/web/scale`, { spec: { replicas: -1 } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(negative.status).toBe(422);
    expect((await request('GET', `${deps}/web`)).json.spec.replicas).toBe(4);
    expect((await request('GET', '/api/v1/namespaces/default/configmaps/x/scale')).status).toBe(404);

    const current = (await request('GET', `${deps}/web`)).json;
    const status = await request('PUT', `${deps}/web/status`, { ...current, status: { observedGeneration: 1, replicas: 4 } });
    expect(status.status).toBe(200);
    expect(status.json.status.replicas).toBe(4);
    const statusPatch = await request('PATCH', `${deps}/web/status`, { status: { readyReplicas: 1 } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(statusPatch.json.status).toMatchObject({ replicas: 4, readyReplicas: 1 });

    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'rest-node' } };
    expect((await request('POST', '/api/v1/nodes', node)).status).toBe(201);
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } };
    expect((await request('POST', '/api/v1/namespaces/default/pods', pod)).status).toBe(201);
    const bind = await request('POST', '/api/v1/namespaces/default/pods/p1/binding', { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p1' }, target: { kind: 'Node', name: 'rest-node' } });
    expect(bind.status).toBe(201);
    expect((await request('GET', '/api/v1/namespaces/default/pods/p1')).json.spec.nodeName).toBe('rest-node');

    const evict = await request('POST', '/api/v1/namespaces/default/pods/p1/eviction', {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'p1', namespace: 'default' },
      deleteOptions: { gracePeriodSeconds: 0 },
    });
    expect(evict.status).toBe(201);
    expect(evict.json).toMatchObject({ kind: 'Status', status: 'Success' });
    await waitFor('the evicted pod gone', async () => (await request('GET', '/api/v1/namespaces/default/pods/p1')).status === 404);
    expect((await request('GET', '/api/v1/namespaces/default/pods/p1/eviction')).status).toBe(405);
  });

  test('rest api - server-side apply: managedFields[].fieldsV1 as objects out and in; no fieldManager is 422', async () => {
    const url = '/api/v1/namespaces/default/configmaps/ssa';
    const apply = { 'Content-Type': 'application/apply-patch+yaml' };
    const body = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  k: v\n';
    const noManager = await request('PATCH', url, body, apply);
    expect(noManager.status).toBe(422);
    expect(noManager.json).toMatchObject({ reason: 'Invalid', message: expect.stringContaining('fieldManager: Required value: is required for apply patch') });
    const applied = await request('PATCH', `${url}?fieldManager=e2e`, body, apply);
    expect(applied.status).toBe(201);
    const entry = { manager: 'e2e', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { 'f:k': {} } } };
    expect(applied.json.metadata.managedFields).toEqual([expect.objectContaining(entry)]);
    const listed = await request('GET', '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dssa');
    expect(listed.json.items[0].metadata.managedFields).toEqual([expect.objectContaining(entry)]);
    // A PUT of what was read (fieldsV1 objects) keeps the entries as they were.
    const put = await request('PUT', url, { ...applied.json, data: { k: 'v' } });
    expect(put.status).toBe(200);
    expect(put.json.metadata.managedFields).toEqual([expect.objectContaining(entry)]);
  });

  test('rest api - self reviews: access always allowed, rules grant everything, the anonymous user', async () => {
    const spec = { resourceAttributes: { namespace: 'default', verb: 'create', group: 'apps', resource: 'deployments' } };
    const access = await request('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', spec });
    expect([access.status, access.json]).toEqual([201, { kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: {}, spec, status: { allowed: true } }]);
    const rules = await request('POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', { spec: { namespace: 'default' } });
    expect(rules.json.status).toMatchObject({ resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }], incomplete: false });
    const who = await request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { kind: 'SelfSubjectReview', apiVersion: 'authentication.k8s.io/v1' });
    expect(who.json.status.userInfo).toEqual({ username: 'system:anonymous', groups: ['system:unauthenticated'] });
    expect((await request('GET', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews')).status).toBe(405);
    const discovery = await request('GET', '/apis/authorization.k8s.io/v1');
    expect(discovery.json.resources).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview', verbs: ['create'] })]));
  });

  (hasKubectl ? test : test.skip)('rest api - kubectl get, create, errors and get -w', async () => {
    const ns = await kubectl('get', 'ns');
    expect(ns.code).toBe(0);
    expect(ns.stdout).toMatch(/^NAME\s+STATUS\s+AGE/);
    expect(ns.stdout).toMatch(/kube-system\s+Active/);
    const manifest = path.join(tmp, 'dep.json');
    fs.writeFileSync(manifest, JSON.stringify(deployment('kc')));
    const created = await kubectl('create', '-f', manifest);
    expect(created.stdout.trim()).toBe('deployment.apps/kc created');
    const again = await kubectl('create', '-f', manifest);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('Error from server (AlreadyExists): error when creating');
    const missing = await kubectl('get', 'pod', 'nope');
    expect(missing.stderr.trim()).toBe('Error from server (NotFound): pods "nope" not found');
    // Typed clients (create configmap, create namespace) write protobuf bodies.
    expect((await kubectl('create', 'configmap', 'kc-cm', '--from-literal=k=v')).stdout.trim()).toBe('configmap/kc-cm created');
    expect((await kubectl('get', 'configmap', 'kc-cm', '-o', 'jsonpath={.data.k}')).stdout).toBe('v');
    expect((await kubectl('create', 'namespace', 'kc-ns')).stdout.trim()).toBe('namespace/kc-ns created');
    const invalid = await kubectl('scale', 'deployment', 'kc', '--replicas=-1');
    expect(invalid.code).not.toBe(0);

    const watcher = kubectl('get', 'deployments', '-w', '--request-timeout=4s');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await kubectl('label', 'deployment', 'kc', 'seen=yes')).code).toBe(0);
    const watched = await watcher;
    const lines = watched.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE/);
    expect(lines.filter((l) => l.startsWith('kc ')).length).toBeGreaterThanOrEqual(2);
  });
});
