/**
 * Registry.patch with strategic merge patches and server-side apply, against a real etcd (one
 * member on a free port): merge keys and directives through the whole write path, Kubernetes'
 * errors for malformed patches, apply creating, re-applying without a field, conflicts with
 * another manager, force, and managedFields as kubectl shows them.
 */
import { ApiError } from '../../services/lib/errors';
import { Deployment } from '../../services/lib/generated/kubemu/apps/v1/apps';
import { ConfigMap } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { Registry } from '../../services/kube-apiserver/registry';
import { EtcdStorage } from '../../services/kube-apiserver/storage';
import { EtcdCluster, startEtcdCluster } from '../harness';

jest.setTimeout(120000);

const DEPLOYMENTS = resourceForCase('deployment');
const CONFIGMAPS = resourceForCase('configMap');
const NAMESPACES = resourceForCase('namespace');
const SMP = 'application/strategic-merge-patch+json';
const APPLY = 'application/apply-patch+yaml';

let etcd: EtcdCluster;
let storage: EtcdStorage;
let registry: Registry;
let ns = '';
let seq = 0;

beforeAll(async () => {
  etcd = await startEtcdCluster({ members: 1 });
  storage = new EtcdStorage(etcd.endpoints);
  registry = new Registry(storage, { defaultTolerationSeconds: 300, maxObjectBytes: 1536 * 1024 });
});

afterAll(async () => {
  await registry?.namespaces.stop();
  storage?.close();
  await etcd?.stop();
});

beforeEach(async () => {
  ns = `patch-${++seq}`;
  await registry.create(NAMESPACES, '', { metadata: { name: ns } });
});

function deployment(name: string, replicas = 2): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            { name: 'web', image: 'nginx:1', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: '1' }] },
            { name: 'sidecar', image: 'busybox', command: ['sleep', '3600'] },
          ],
        },
      },
    },
  } as Deployment;
}

async function expectApiError(p: Promise<unknown>, code: number, reason: string, message?: string | RegExp): Promise<ApiError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ApiError);
  const e = caught as ApiError;
  expect({ code: e.code, reason: e.reason }).toEqual({ code, reason });
  if (typeof message === 'string') expect(e.message).toBe(message);
  else if (message) expect(e.message).toMatch(message);
  return e;
}

const managed = (obj: { metadata?: { managedFields?: { manager?: string; operation?: string; fieldsV1?: string }[] } }) =>
  (obj.metadata?.managedFields ?? []).map((e) => ({ manager: e.manager, operation: e.operation, fields: JSON.parse(e.fieldsV1 || '{}') }));

describe('registry patch - strategic merge patch', () => {
  test('kubectl set image: merges the container by name, keeps the others, bumps generation', async () => {
    await registry.create(DEPLOYMENTS, ns, deployment('web'));
    const out = (await registry.patch(DEPLOYMENTS, ns, 'web', SMP, JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:2' }] } } } }), '')) as Deployment;
    const containers = out.spec!.template!.spec!.containers!;
    expect(containers.map((c) => [c.name, c.image])).toEqual([
      ['web', 'nginx:2'],
      ['sidecar', 'busybox'],
    ]);
    expect(containers[0].ports?.[0]?.containerPort).toBe(80);
    expect(containers[0].env).toEqual([{ name: 'A', value: '1' }]);
    expect(out.metadata!.generation).toBe(2);
  });

  test('kubectl apply (client-side) patch: $setElementOrder, $patch: delete, labels null', async () => {
    await registry.create(DEPLOYMENTS, ns, deployment('web'));
    const patch = {
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"x":1}' }, labels: { app: null, tier: 'front' } },
      spec: {
        replicas: 3,
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'web' }],
            containers: [{ name: 'web', '$setElementOrder/env': [{ name: 'A' }, { name: 'B' }], env: [{ name: 'B', value: '2' }] }, { name: 'sidecar', $patch: 'delete' }],
          },
        },
      },
    };
    const out = (await registry.patch(DEPLOYMENTS, ns, 'web', SMP, JSON.stringify(patch), '', { fieldManager: 'kubectl-client-side-apply' })) as Deployment;
    expect(out.metadata!.labels).toEqual({ tier: 'front' });
    expect(out.metadata!.annotations!['kubectl.kubernetes.io/last-applied-configuration']).toBe('{"x":1}');
    expect(out.spec!.replicas).toBe(3);
    expect(out.spec!.template!.spec!.containers!.map((c) => c.name)).toEqual(['web']);
    expect(out.spec!.template!.spec!.containers![0].env).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: '2' },
    ]);
    // The patch's manager owns what it changed.
    const entry = managed(out).find((e) => e.manager === 'kubectl-client-side-apply');
    expect(entry?.operation).toBe('Update');
    expect(entry?.fields['f:spec']['f:replicas']).toEqual({});
  });

  test('malformed patches: Kubernetes codes and messages', async () => {
    await registry.create(DEPLOYMENTS, ns, deployment('web'));
    await expectApiError(registry.patch(DEPLOYMENTS, ns, 'web', SMP, '{not json', ''), 400, 'BadRequest', /not valid JSON/);
    await expectApiError(registry.patch(DEPLOYMENTS, ns, 'web', SMP, '[1]', ''), 400, 'BadRequest', 'json: cannot unmarshal array into Go value of type map[string]interface {}');
    await expectApiError(
      registry.patch(DEPLOYMENTS, ns, 'web', SMP, JSON.stringify({ spec: { template: { spec: { containers: [{ image: 'x' }] } } } }), ''),
      500,
      'InternalError',
      /does not contain declared merge key: name/,
    );
    await expectApiError(registry.patch(DEPLOYMENTS, ns, 'web', SMP, JSON.stringify({ spec: { strategy: { $retainKeys: 'type' } } }), ''), 400, 'BadRequest', 'invalid patch format of retainKeys');
    await expectApiError(registry.patch(DEPLOYMENTS, ns, 'web', SMP, JSON.stringify({ spec: { replicas: 'three' } }), ''), 422, 'Invalid', /patch: Invalid value: "map\[spec:map\[replicas:three\]\]": json: cannot unmarshal string/);
    await expectApiError(registry.patch(DEPLOYMENTS, ns, 'web', SMP, '{}', '', { force: true }), 422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch');
    await expectApiError(registry.patch(DEPLOYMENTS, ns, 'web', 'application/yaml', '{}', ''), 415, 'UnsupportedMediaType', /strategic-merge-patch\+json, application\/apply-patch\+yaml/);
  });

  test('status subresource: conditions merge by type', async () => {
    await registry.create(DEPLOYMENTS, ns, deployment('web'));
    await registry.patch(DEPLOYMENTS, ns, 'web', SMP, JSON.stringify({ status: { conditions: [{ type: 'Available', status: 'True' }] } }), 'status');
    const out = (await registry.patch(DEPLOYMENTS, ns, 'web', SMP, JSON.stringify({ status: { conditions: [{ type: 'Progressing', status: 'True' }] } }), 'status')) as Deployment;
    expect(out.status!.conditions!.map((c) => c.type).sort()).toEqual(['Available', 'Progressing']);
  });
});

describe('registry patch - server-side apply', () => {
  const applyYaml = (replicas: number | undefined, extraLabel?: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web${extraLabel ? `\n    ${extraLabel}: "yes"` : ''}
spec:
${replicas === undefined ? '' : `  replicas: ${replicas}\n`}  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1
`;

  test('apply creates the object and records the manager', async () => {
    const out = (await registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(3), '', { fieldManager: 'kubectl' })) as Deployment;
    expect(out.metadata!.uid).toBeTruthy();
    expect(out.spec!.replicas).toBe(3);
    const entries = managed(out);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ manager: 'kubectl', operation: 'Apply' });
    expect(entries[0].fields['f:spec']['f:template']['f:spec']['f:containers']['k:{"name":"web"}']).toEqual({ '.': {}, 'f:name': {}, 'f:image': {} });
    const stored = (await registry.get(DEPLOYMENTS, ns, 'web')) as Deployment;
    expect(stored.metadata!.managedFields![0].manager).toBe('kubectl');
  });

  test('re-apply without a field removes it (defaulted again); unchanged re-apply writes nothing', async () => {
    await registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(3, 'tier'), '', { fieldManager: 'kubectl' });
    const again = (await registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(3, 'tier'), '', { fieldManager: 'kubectl' })) as Deployment;
    const out = (await registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(undefined), '', { fieldManager: 'kubectl' })) as Deployment;
    expect(out.metadata!.labels).toEqual({ app: 'web' });
    expect(out.spec!.replicas).toBe(1); // removed, then defaulted as Kubernetes does
    expect(managed(out)[0].fields['f:spec']['f:replicas']).toBeUndefined();
    expect(Number(out.metadata!.resourceVersion)).toBeGreaterThan(Number(again.metadata!.resourceVersion));
    const same = (await registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(undefined), '', { fieldManager: 'kubectl' })) as Deployment;
    expect(same.metadata!.resourceVersion).toBe(out.metadata!.resourceVersion);
  });

  test('a field another manager set is a conflict with Kubernetes message; force takes it', async () => {
    await registry.create(DEPLOYMENTS, ns, deployment('web', 3), { fieldManager: 'kubectl-client-side-apply' });
    const err = await expectApiError(
      registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(5), '', { fieldManager: 'kubectl' }),
      409,
      'Conflict',
      'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas',
    );
    expect(err.details?.causes).toEqual([{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl-client-side-apply" using apps/v1', field: '.spec.replicas' }]);
    // The same value is no conflict: ownership is shared.
    const shared = (await registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(3), '', { fieldManager: 'kubectl' })) as Deployment;
    expect(managed(shared).map((e) => e.manager).sort()).toEqual(['kubectl', 'kubectl-client-side-apply']);
    const forced = (await registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(5), '', { fieldManager: 'kubectl', force: true })) as Deployment;
    expect(forced.spec!.replicas).toBe(5);
    const csa = managed(forced).find((e) => e.manager === 'kubectl-client-side-apply');
    expect(csa?.fields['f:spec']?.['f:replicas']).toBeUndefined();
  });

  test('two appliers: conflicts listed per manager; a field the other still owns is kept', async () => {
    await registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(2, 'tier'), '', { fieldManager: 'alice' });
    await expectApiError(
      registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(4).replace('image: nginx:1', 'image: nginx:9'), '', { fieldManager: 'bob' }),
      409,
      'Conflict',
      'Apply failed with 2 conflicts: conflicts with "alice":\n- .spec.replicas\n- .spec.template.spec.containers[name="web"].image',
    );
    await registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(2, 'tier'), '', { fieldManager: 'bob' });
    // alice drops the tier label, bob still applies it: it stays.
    const out = (await registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(2), '', { fieldManager: 'alice' })) as Deployment;
    expect(out.metadata!.labels).toEqual({ app: 'web', tier: 'yes' });
  });

  test('apply errors: fieldManager required, managedFields, name, kind, YAML', async () => {
    await expectApiError(
      registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(1), ''),
      422,
      'Invalid',
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    );
    await expectApiError(registry.patch(DEPLOYMENTS, ns, 'other', APPLY, applyYaml(1), '', { fieldManager: 'm' }), 400, 'BadRequest', 'the name of the object (web) does not match the name on the URL (other)');
    await expectApiError(registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(1).replace('kind: Deployment', 'kind: Pod'), '', { fieldManager: 'm' }), 400, 'BadRequest', /does not match the expected kind/);
    await expectApiError(
      registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(1).replace('  name: web', '  name: web\n  managedFields: []'), '', { fieldManager: 'm' }),
      400,
      'BadRequest',
      'metadata.managedFields must be nil',
    );
    await expectApiError(registry.patch(DEPLOYMENTS, ns, 'web', APPLY, 'a: [b', '', { fieldManager: 'm' }), 400, 'BadRequest', /^error decoding YAML/);
  });

  test('apply of a JSON body (kubectl sends JSON) to a ConfigMap; data keys removed on re-apply', async () => {
    const cm = (data: Record<string, string>) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data });
    await registry.patch(CONFIGMAPS, ns, 'cfg', APPLY, cm({ a: '1', b: '2' }), '', { fieldManager: 'kubectl' });
    await registry.patch(CONFIGMAPS, ns, 'cfg', SMP, JSON.stringify({ data: { c: '3' } }), '', { fieldManager: 'kubectl-edit' });
    const out = (await registry.patch(CONFIGMAPS, ns, 'cfg', APPLY, cm({ a: '1' }), '', { fieldManager: 'kubectl' })) as ConfigMap;
    expect(out.data).toEqual({ a: '1', c: '3' });
  });

  test('kubectl client-side-apply upgrade: a JSON patch replacing managedFields with fieldsV1 objects', async () => {
    const created = (await registry.create(DEPLOYMENTS, ns, deployment('web', 3), { fieldManager: 'kubectl-client-side-apply' })) as Deployment;
    const fields = { 'f:spec': { 'f:replicas': {} } };
    const ops = [
      { op: 'test', path: '/metadata/resourceVersion', value: created.metadata!.resourceVersion },
      { op: 'replace', path: '/metadata/managedFields', value: [{ manager: 'kubectl', operation: 'Apply', apiVersion: 'apps/v1', time: '2026-11-23T07:00:00Z', fieldsType: 'FieldsV1', fieldsV1: fields }] },
    ];
    const out = (await registry.patch(DEPLOYMENTS, ns, 'web', 'application/json-patch+json', JSON.stringify(ops), '')) as Deployment;
    expect(managed(out)).toEqual([{ manager: 'kubectl', operation: 'Apply', fields }]);
    // Now the applier owns replicas: changing it is no conflict.
    const applied = (await registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(5), '', { fieldManager: 'kubectl' })) as Deployment;
    expect(applied.spec!.replicas).toBe(5);
  });

  test('dry-run apply creates nothing', async () => {
    await registry.patch(DEPLOYMENTS, ns, 'web', APPLY, applyYaml(1), '', { fieldManager: 'kubectl', dryRun: ['All'] });
    await expectApiError(registry.get(DEPLOYMENTS, ns, 'web'), 404, 'NotFound');
  });
});
