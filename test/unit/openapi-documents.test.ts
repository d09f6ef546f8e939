// openapi - the documents generated from proto/: index, per group-version v3 documents, swagger
// 2.0, and the unknown-field check of strict field validation.
import { openapiV2, openapiV3Document, openapiV3Index, unknownFields } from '../../services/kube-apiserver/openapi';
import { findResource, RESOURCES } from '../../services/lib/resources';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const gvPathOf = (group: string, version: string): string => (group ? `apis/${group}/${version}` : `api/${version}`);

function v3(path: string): Json {
  const doc = openapiV3Document(path) as Json | undefined;
  if (!doc) throw new Error(`no document for ${path}`);
  return doc;
}

/** Follows a $ref (plain or wrapped in a one-element allOf) inside a v3 document. */
function resolve(doc: Json, schema: Json): Json {
  const r = schema.$ref ?? schema.allOf?.[0]?.$ref;
  if (!r) return schema;
  return doc.components.schemas[String(r).replace('#/components/schemas/', '')];
}

/** kubectl's supportsQueryParamV3: the first PATCH operation of the GVK, and whether it has the query parameter. */
function patchSupports(doc: Json, gvk: { group: string; version: string; kind: string }, param: string): boolean | undefined {
  for (const item of Object.values(doc.paths as Json)) {
    const op = item.patch;
    if (!op) continue;
    const g = op['x-kubernetes-group-version-kind'];
    if (!g || g.group !== gvk.group || g.version !== gvk.version || g.kind !== gvk.kind) continue;
    return (op.parameters as Json[]).some((p) => p.name === param && p.in === 'query');
  }
  return undefined;
}

describe('openapi - v3 index and documents', () => {
  test('openapi - the index lists every group-version of RESOURCES with a hashed URL, and nothing else', () => {
    const index = openapiV3Index() as Json;
    const expected = [...new Set(RESOURCES.map((r) => gvPathOf(r.group, r.version)))].sort();
    expect(Object.keys(index.paths).sort()).toEqual(expected);
    for (const [path, entry] of Object.entries(index.paths as Json)) {
      expect(entry.serverRelativeURL).toMatch(new RegExp(`^/openapi/v3/${path}\\?hash=[0-9A-F]{128}$`));
      expect(openapiV3Document(path)).toBeDefined();
    }
    expect(openapiV3Document('apis/nope/v1')).toBeUndefined();
    expect(openapiV3Document('/api/v1')).toBe(openapiV3Document('api/v1'));
  });

  test('openapi - documents are computed once', () => {
    expect(openapiV3Index()).toBe(openapiV3Index());
    expect(openapiV3Document('apis/apps/v1')).toBe(openapiV3Document('apis/apps/v1'));
    expect(openapiV2()).toBe(openapiV2());
  });

  test('openapi - Pod: Kubernetes model names, GVK, spec.containers items with name and image', () => {
    const doc = v3('api/v1');
    const schemas = doc.components.schemas as Json;
    const pod = schemas['io.k8s.api.core.v1.Pod'];
    expect(pod['x-kubernetes-group-version-kind']).toEqual([{ group: '', version: 'v1', kind: 'Pod' }]);
    expect(resolve(doc, pod.properties.metadata)).toBe(schemas['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta']);
    const spec = resolve(doc, pod.properties.spec);
    expect(spec).toBe(schemas['io.k8s.api.core.v1.PodSpec']);
    expect(spec.required).toEqual(['containers']);
    const containers = spec.properties.containers;
    expect(containers.type).toBe('array');
    expect(containers['x-kubernetes-patch-merge-key']).toBe('name');
    expect(containers['x-kubernetes-patch-strategy']).toBe('merge');
    const container = resolve(doc, containers.items);
    expect(container).toBe(schemas['io.k8s.api.core.v1.Container']);
    expect(container.properties.name).toMatchObject({ type: 'string' });
    expect(container.properties.image).toMatchObject({ type: 'string' });
    expect(container.required).toEqual(['name']);
    expect(container.properties.env['x-kubernetes-patch-merge-key']).toBe('name');
    expect(container.properties.volumeMounts['x-kubernetes-patch-merge-key']).toBe('mountPath');
    expect(container.properties.ports['x-kubernetes-patch-merge-key']).toBe('containerPort');
    expect(spec.properties.volumes['x-kubernetes-patch-strategy']).toBe('merge,retainKeys');
    // Map fields are free-form string maps; Quantity maps refer to the Quantity model.
    expect(schemas['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'].properties.labels).toMatchObject({ type: 'object', additionalProperties: { type: 'string' } });
    expect(schemas['io.k8s.api.core.v1.ResourceRequirements'].properties.limits.additionalProperties).toEqual({ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity' });
    expect(schemas['io.k8s.api.core.v1.PodList']['x-kubernetes-group-version-kind']).toEqual([{ group: '', version: 'v1', kind: 'PodList' }]);
    // Proto comments become descriptions.
    expect(container.properties.imagePullPolicy.description).toBe('Always, Never or IfNotPresent.');
  });

  test('openapi - IntOrString, Quantity and Time as Kubernetes models them', () => {
    const doc = v3('apis/apps/v1');
    const schemas = doc.components.schemas as Json;
    const rolling = schemas['io.k8s.api.apps.v1.RollingUpdateDeployment'];
    expect(resolve(doc, rolling.properties.maxSurge)).toBe(schemas['io.k8s.apimachinery.pkg.util.intstr.IntOrString']);
    expect(schemas['io.k8s.apimachinery.pkg.util.intstr.IntOrString']).toMatchObject({ format: 'int-or-string', 'x-kubernetes-int-or-string': true });
    expect(schemas['io.k8s.apimachinery.pkg.api.resource.Quantity'].oneOf).toEqual([{ type: 'string' }, { type: 'number' }]);
    const meta = schemas['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'];
    expect(resolve(doc, meta.properties.creationTimestamp)).toMatchObject({ type: 'string', format: 'date-time' });
    expect(schemas['io.k8s.api.autoscaling.v1.Scale']['x-kubernetes-group-version-kind']).toEqual([{ group: 'autoscaling', version: 'v1', kind: 'Scale' }]);
    expect(meta.properties.generation).toMatchObject({ type: 'integer', format: 'int64' });
  });

  test('openapi - every resource has its paths, and its PATCH operation carries fieldValidation, dryRun, fieldManager, force', () => {
    for (const r of RESOURCES) {
      const doc = v3(gvPathOf(r.group, r.version));
      const gvk = { group: r.group, version: r.version, kind: r.kind };
      expect([r.resource, patchSupports(doc, gvk, 'fieldValidation')]).toEqual([r.resource, true]);
      for (const p of ['dryRun', 'fieldManager', 'force']) expect([r.resource, p, patchSupports(doc, gvk, p)]).toEqual([r.resource, p, true]);
      const prefix = `/${gvPathOf(r.group, r.version)}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.resource}`;
      const collection = doc.paths[prefix];
      const item = doc.paths[`${prefix}/{name}`];
      expect(Object.keys(collection).filter((k) => k !== 'parameters').sort()).toEqual(['delete', 'get', 'post']);
      expect(Object.keys(item).filter((k) => k !== 'parameters').sort()).toEqual(['delete', 'get', 'patch', 'put']);
      expect(item.patch['x-kubernetes-action']).toBe('patch');
      expect(Object.keys(item.patch.requestBody.content)).toContain('application/strategic-merge-patch+json');
      expect(collection.post.parameters.map((p: Json) => p.name)).toEqual(['dryRun', 'fieldManager', 'fieldValidation']);
      if (r.hasStatus) expect(doc.paths[`${prefix}/{name}/status`].patch).toBeDefined();
      if (r.namespaced) expect(doc.paths[`/${gvPathOf(r.group, r.version)}/${r.resource}`].get['x-kubernetes-action']).toBe('list');
    }
    const apps = v3('apis/apps/v1');
    expect(apps.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale'].patch['x-kubernetes-group-version-kind']).toEqual({ group: 'autoscaling', version: 'v1', kind: 'Scale' });
    const core = v3('api/v1');
    expect(core.paths['/api/v1/namespaces/{namespace}/pods/{name}/log'].get.parameters.map((p: Json) => p.name)).toContain('tailLines');
  });

  test('openapi - every $ref of every document resolves inside it', () => {
    const check = (doc: Json, section: Json, prefix: string): void => {
      const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
      for (const r of refs) {
        const name = r.slice(8, -1).replace(prefix, '');
        expect([name, section[name] !== undefined]).toEqual([name, true]);
      }
    };
    for (const path of Object.keys((openapiV3Index() as Json).paths)) check(v3(path), v3(path).components.schemas, '#/components/schemas/');
    const v2 = openapiV2() as Json;
    check(v2, v2.definitions, '#/definitions/');
  });

  test('openapi - swagger 2.0: same model names, GVK, body parameters', () => {
    const v2 = openapiV2() as Json;
    expect(v2.swagger).toBe('2.0');
    expect(v2.definitions['io.k8s.api.apps.v1.Deployment']['x-kubernetes-group-version-kind']).toEqual([{ group: 'apps', version: 'v1', kind: 'Deployment' }]);
    expect(v2.definitions['io.k8s.api.core.v1.Container'].properties.ports['x-kubernetes-patch-merge-key']).toBe('containerPort');
    expect(v2.definitions['io.k8s.apimachinery.pkg.util.intstr.IntOrString']).toMatchObject({ type: 'string', format: 'int-or-string' });
    const patch = v2.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'].patch;
    expect(patch.parameters[0]).toMatchObject({ name: 'body', in: 'body', required: true });
    expect(patch.parameters.map((p: Json) => p.name)).toEqual(['body', 'dryRun', 'fieldManager', 'fieldValidation', 'force']);
    expect(patch.consumes).toContain('application/apply-patch+yaml');
    for (const r of RESOURCES) expect(v2.definitions[`io.k8s.api.${r.group === '' ? 'core' : r.group.split('.')[0]}.${r.version}.${r.kind}`]).toBeDefined();
  });
});

describe('openapi - unknownFields', () => {
  const pods = findResource('pods')!;
  const deployments = findResource('deployments')!;

  test('openapi - a known object has no unknown fields, whatever its map keys and IntOrString values', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', labels: { app: 'web', 'example.com/anything': 'x' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
      spec: {
        nodeSelector: { 'kubernetes.io/os': 'linux' },
        containers: [
          {
            name: 'web',
            image: 'nginx',
            imagePullPolicy: 'IfNotPresent',
            env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
            resources: { limits: { cpu: '100m', memory: '64Mi' } },
            readinessProbe: { httpGet: { port: 'http', path: '/' } },
          },
        ],
      },
    };
    expect(unknownFields(pods, pod)).toEqual([]);
    expect(unknownFields(findResource('configmaps')!, { data: { 'any.key': 'v' }, binaryData: { b: 'AA==' } })).toEqual([]);
    expect(unknownFields(deployments, { spec: { strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } } } })).toEqual([]);
  });

  test('openapi - typos are reported at depth with Kubernetes paths, in document order', () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metdata: { name: 'x' },
      metadata: { name: 'web', labls: { a: 'b' } },
      spec: {
        replicas: 2,
        template: {
          spec: {
            containers: [
              { name: 'a', image: 'b' },
              { name: 'web', image: 'nginx', imagePullPolcy: 'Always', ports: [{ containerPort: 80, protocl: 'TCP' }], env: [{ name: 'A', valueFrom: { secretKeyRef: { nam: 'x', key: 'k' } } }] },
            ],
          },
        },
      },
    };
    expect(unknownFields(deployments, deployment)).toEqual([
      'metdata',
      'metadata.labls',
      'spec.template.spec.containers[1].imagePullPolcy',
      'spec.template.spec.containers[1].ports[0].protocl',
      'spec.template.spec.containers[1].env[0].valueFrom.secretKeyRef.nam',
    ]);
  });

  test('openapi - values of the wrong JSON type are skipped, never thrown on', () => {
    expect(unknownFields(pods, null)).toEqual([]);
    expect(unknownFields(pods, [1, 2])).toEqual([]);
    expect(unknownFields(pods, { spec: { containers: 'nope' }, metadata: 'x' })).toEqual([]);
    expect(unknownFields(pods, { spec: { containers: [null, 3, { bogus: 1 }] } })).toEqual(['spec.containers[2].bogus']);
  });
});
