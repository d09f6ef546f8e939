import { parsePath, verbFor, ResourceRequest } from '../../services/kube-apiserver/rest/paths';
import { resolve } from '../../services/kube-apiserver/rest/router';
import { chooseForm, decodeBody, dryRunOf, parseAccept } from '../../services/kube-apiserver/rest/request';
import { apiGroupList, apiResourceList } from '../../services/kube-apiserver/rest/discovery';
import { ApiError } from '../../services/lib/errors';

function resource(path: string): ResourceRequest {
  const p = parsePath(path);
  if (p.kind !== 'resource') throw new Error(`${path} is ${p.kind}`);
  return p.req;
}

describe('rest paths', () => {
  test('rest paths - discovery, health, version and openapi paths', () => {
    expect(parsePath('/')).toEqual({ kind: 'root' });
    expect(parsePath('/api')).toEqual({ kind: 'apiVersions' });
    expect(parsePath('/api/v1')).toEqual({ kind: 'resourceList', group: '', version: 'v1' });
    expect(parsePath('/apis')).toEqual({ kind: 'apiGroupList' });
    expect(parsePath('/apis/apps')).toEqual({ kind: 'apiGroup', group: 'apps' });
    expect(parsePath('/apis/apps/v1/')).toEqual({ kind: 'resourceList', group: 'apps', version: 'v1' });
    expect(parsePath('/version')).toEqual({ kind: 'version' });
    expect(parsePath('/readyz/etcd')).toEqual({ kind: 'health', check: 'readyz', sub: 'etcd' });
    expect(parsePath('/openapi/v3/apis/apps/v1')).toEqual({ kind: 'openapi', which: 'v3doc', groupVersion: 'apis/apps/v1' });
    expect(parsePath('/openapi/v2')).toEqual({ kind: 'openapi', which: 'v2' });
    expect(parsePath('/nonsense')).toEqual({ kind: 'unknown' });
  });

  test('rest paths - namespaced, cluster-scoped and all-namespaces resource paths', () => {
    expect(resource('/api/v1/namespaces/default/pods')).toMatchObject({ group: '', version: 'v1', namespace: 'default', resource: 'pods', name: '', subresource: '' });
    expect(resource('/api/v1/namespaces/default/pods/web-1/status')).toMatchObject({ namespace: 'default', resource: 'pods', name: 'web-1', subresource: 'status' });
    expect(resource('/api/v1/pods')).toMatchObject({ namespace: '', resource: 'pods', name: '' });
    expect(resource('/apis/apps/v1/namespaces/ns1/deployments/web/scale')).toMatchObject({ group: 'apps', namespace: 'ns1', resource: 'deployments', name: 'web', subresource: 'scale' });
    expect(resource('/api/v1/nodes/node-1')).toMatchObject({ namespace: '', resource: 'nodes', name: 'node-1' });
    // The Namespace object itself and its subresources.
    expect(resource('/api/v1/namespaces/default')).toMatchObject({ namespace: '', resource: 'namespaces', name: 'default' });
    expect(resource('/api/v1/namespaces/default/status')).toMatchObject({ namespace: '', resource: 'namespaces', name: 'default', subresource: 'status' });
    expect(resource('/api/v1/namespaces/default/finalize')).toMatchObject({ resource: 'namespaces', name: 'default', subresource: 'finalize' });
    // Percent-encoded segments are decoded.
    expect(resource('/api/v1/namespaces/default/configmaps/a%2Eb')).toMatchObject({ name: 'a.b' });
  });

  test('rest paths - resolve refuses unknown resources and wrong scopes', () => {
    expect(resolve(resource('/api/v1/namespaces/default/pods'))?.kind).toBe('Pod');
    expect(resolve(resource('/api/v1/pods'))?.kind).toBe('Pod');
    expect(resolve(resource('/api/v1/pods/x'))).toBeUndefined();
    expect(resolve(resource('/api/v1/namespaces/default/nodes'))).toBeUndefined();
    expect(resolve(resource('/api/v1/deployments'))).toBeUndefined();
    expect(resolve(resource('/apis/apps/v1/namespaces/default/deployments'))?.kind).toBe('Deployment');
    expect(resolve(resource('/apis/apps/v2/namespaces/default/deployments'))).toBeUndefined();
    expect(resolve(resource('/api/v1/widgets'))).toBeUndefined();
  });

  test('rest paths - verbs from methods', () => {
    const q = (s = '') => new URLSearchParams(s);
    expect(verbFor('GET', resource('/api/v1/pods'), q())).toBe('list');
    expect(verbFor('GET', resource('/api/v1/pods'), q('watch=true'))).toBe('watch');
    expect(verbFor('GET', resource('/api/v1/namespaces/a/pods/x'), q())).toBe('get');
    expect(verbFor('DELETE', resource('/api/v1/namespaces/a/pods'), q())).toBe('deletecollection');
    expect(verbFor('DELETE', resource('/api/v1/namespaces/a/pods/x'), q())).toBe('delete');
    expect(verbFor('PATCH', resource('/api/v1/namespaces/a/pods/x'), q())).toBe('patch');
  });
});

describe('rest negotiation', () => {
  test('rest negotiation - Table when asked and available, JSON otherwise, 406 for protobuf only', () => {
    const kubectlGet = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
    expect(chooseForm(kubectlGet, true)).toBe('table');
    expect(chooseForm(kubectlGet, false)).toBe('json');
    expect(chooseForm(undefined, true)).toBe('json');
    expect(chooseForm('*/*', true)).toBe('json');
    expect(chooseForm('application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io', true)).toBe('metadata');
    expect(() => chooseForm('application/vnd.kubernetes.protobuf', true)).toThrow(ApiError);
    expect(parseAccept('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList')[0]).toEqual({
      type: 'application/json',
      params: { g: 'apidiscovery.k8s.io', v: 'v2', as: 'APIGroupDiscoveryList' },
    });
  });

  test('rest negotiation - bodies: JSON, YAML, malformed and unsupported media types', () => {
    expect(decodeBody(Buffer.from('{"a":1}'), 'application/json')).toEqual({ a: 1 });
    expect(decodeBody(Buffer.from('a: 1\n'), 'application/yaml')).toEqual({ a: 1 });
    const bad = () => decodeBody(Buffer.from('{"a":'), 'application/json');
    expect(bad).toThrow(ApiError);
    try {
      bad();
    } catch (err) {
      expect((err as ApiError).reason).toBe('BadRequest');
      expect((err as ApiError).message).toMatch(/json parse error/);
    }
    try {
      decodeBody(Buffer.from('x'), 'application/cbor');
      throw new Error('no error');
    } catch (err) {
      expect((err as ApiError).reason).toBe('UnsupportedMediaType');
    }
    expect(dryRunOf(['All'])).toEqual(['All']);
    expect(dryRunOf([])).toBeUndefined();
    expect(() => dryRunOf(['Some'])).toThrow(/Invalid dryRun value/);
  });
});

describe('rest discovery', () => {
  test('rest discovery - core resource list with short names, categories and subresources', () => {
    const list = apiResourceList('', 'v1', [{ resource: 'pods', subresource: 'log', verbs: ['get'], kind: 'Pod' }], []) as { groupVersion: string; resources: Record<string, unknown>[] };
    expect(list.groupVersion).toBe('v1');
    const byName = new Map(list.resources.map((r) => [r.name, r]));
    expect(byName.get('pods')).toMatchObject({ singularName: 'pod', namespaced: true, kind: 'Pod', shortNames: ['po'], categories: ['all'] });
    expect(byName.get('pods')!.verbs).toEqual(expect.arrayContaining(['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']));
    expect(byName.get('pods/status')).toMatchObject({ kind: 'Pod', verbs: ['get', 'patch', 'update'] });
    expect(byName.get('pods/eviction')).toMatchObject({ group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] });
    expect(byName.get('pods/binding')).toMatchObject({ kind: 'Binding' });
    expect(byName.get('pods/log')).toMatchObject({ kind: 'Pod', verbs: ['get'] });
    expect(byName.get('namespaces')).toMatchObject({ namespaced: false, shortNames: ['ns'] });
    expect(byName.get('configmaps')!.categories).toBeUndefined();
  });

  test('rest discovery - apps scale subresources and the group list', () => {
    const apps = apiResourceList('apps', 'v1', [], []) as { resources: Record<string, unknown>[] };
    expect(apps.resources.find((r) => r.name === 'deployments/scale')).toMatchObject({ group: 'autoscaling', version: 'v1', kind: 'Scale' });
    expect(apiResourceList('apps', 'v9', [], [])).toBeUndefined();
    const groups = apiGroupList([{ group: 'metrics.k8s.io', version: 'v1beta1', resources: [] }]) as { groups: { name: string; preferredVersion: { groupVersion: string } }[] };
    expect(groups.groups.map((g) => g.name)).toEqual(expect.arrayContaining(['apps', 'batch', 'coordination.k8s.io', 'networking.k8s.io', 'metrics.k8s.io']));
    expect(groups.groups.find((g) => g.name === 'apps')!.preferredVersion.groupVersion).toBe('apps/v1');
  });
});
