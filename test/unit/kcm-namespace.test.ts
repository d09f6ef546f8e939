/**
 * Namespace controller: the status conditions with Kubernetes' messages, the estimate of how long
 * remaining content takes, and one deletion pass against a fake API.
 */
import { Namespace } from '../../services/lib/generated/kubemu/core/v1/core';
import { logger } from '../../services/lib/log';
import { KubeObject, resourceForCase, ResourceInfo } from '../../services/lib/resources';
import { deleteNamespaceContent, estimateSeconds, namespaceConditions } from '../../services/kube-controller-manager/namespace/deleter';

const POD = resourceForCase('pod');
const CM = resourceForCase('configMap');
const DEPLOY = resourceForCase('deployment');
const NOW = Date.parse('2026-11-23T00:00:00Z');

describe('namespace - conditions', () => {
  test('remaining resources and finalizers, in Kubernetes words', () => {
    const c = namespaceConditions(
      undefined,
      [
        { info: POD, count: 2, finalizers: new Map() },
        { info: DEPLOY, count: 1, finalizers: new Map([['example.com/hold', 1]]) },
      ],
      [],
      NOW,
    );
    expect(c.map((x) => x.type)).toEqual(['NamespaceDeletionDiscoveryFailure', 'NamespaceDeletionGroupVersionParsingFailure', 'NamespaceDeletionContentFailure', 'NamespaceContentRemaining', 'NamespaceFinalizersRemaining']);
    expect(c[3]).toMatchObject({ status: 'True', reason: 'SomeResourcesRemain', message: 'Some resources are remaining: deployments.apps has 1 resource instances, pods. has 2 resource instances' });
    expect(c[4]).toMatchObject({ status: 'True', reason: 'SomeFinalizersRemain', message: 'Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances' });
    expect(c[2]).toMatchObject({ status: 'False', reason: 'ContentDeleted' });
  });

  test('all gone; an unchanged condition keeps its transition time; errors reported', () => {
    const first = namespaceConditions(undefined, [], [], NOW);
    expect(first[3]).toMatchObject({ status: 'False', reason: 'ContentRemoved', message: 'All content successfully removed' });
    expect(first[4]).toMatchObject({ status: 'False', reason: 'ContentHasNoFinalizers', message: 'All content-preserving finalizers finished' });
    const later = namespaceConditions(first, [], ['pods.: boom'], NOW + 60000);
    expect(later[3].lastTransitionTime).toBe(first[3].lastTransitionTime);
    expect(later[2]).toMatchObject({ status: 'True', reason: 'ContentDeletionFailed', message: 'Failed to delete all resource types, 1 remaining: pods.: boom' });
    expect(later[2].lastTransitionTime).not.toBe(first[2].lastTransitionTime);
  });
});

describe('namespace - estimate', () => {
  test.each<[string, ResourceInfo, KubeObject[], number]>([
    ['pod in its grace period: until its deletionTimestamp', POD, [{ metadata: { deletionTimestamp: '2026-11-23T00:00:30Z' } }], 30],
    ['terminal pod: nothing to wait for', POD, [{ metadata: { deletionTimestamp: '2026-11-23T00:00:30Z' }, status: { phase: 'Succeeded' } } as KubeObject], 0],
    ['object with a finalizer: the finalizer estimate', CM, [{ metadata: { finalizers: ['x/y'] } }], 5],
    ['object with neither: zero (unexpected)', CM, [{ metadata: {} }], 0],
  ])('%s', (_n, info, items, want) => {
    expect(estimateSeconds(info, items, NOW)).toBe(want);
  });
});

describe('namespace - deletion pass', () => {
  function fake(objects: Map<string, KubeObject[]>, ns: Namespace) {
    const calls: string[] = [];
    const client = {
      get: async () => ns,
      list: async (info: ResourceInfo) => ({ items: objects.get(info.resource) ?? [], resourceVersion: '1' }),
      delete: async (info: ResourceInfo, _ns: string, name: string) => {
        calls.push(`delete ${info.resource}/${name}`);
        objects.set(info.resource, (objects.get(info.resource) ?? []).filter((o) => o.metadata?.name !== name || (o.metadata?.finalizers ?? []).length > 0));
        return {};
      },
      update: async (_i: ResourceInfo, o: Namespace) => (calls.push(`update finalizers=${(o.spec?.finalizers ?? []).join(',')}`), o),
      updateStatus: async (_i: ResourceInfo, o: Namespace) => (calls.push(`status ${o.status?.conditions?.find((c) => c.type === 'NamespaceContentRemaining')?.message}`), o),
    };
    return { d: { client: client as never, log: logger('test'), now: () => NOW }, calls };
  }
  const terminating: Namespace = { metadata: { name: 'team', deletionTimestamp: '2026-11-23T00:00:00Z' }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Terminating' } };

  test('deletes everything, then removes the kubernetes finalizer', async () => {
    const { d, calls } = fake(new Map([['pods', [{ metadata: { name: 'p', uid: 'u' } }]], ['configmaps', [{ metadata: { name: 'c', uid: 'v' } }]]]), terminating);
    expect(await deleteNamespaceContent(d, 'team')).toEqual({ done: true });
    expect(calls).toEqual(['delete pods/p', 'delete configmaps/c', 'status All content successfully removed', 'update finalizers=']);
  });

  test('content held by a finalizer: conditions written, looked at again later', async () => {
    const { d, calls } = fake(new Map([['configmaps', [{ metadata: { name: 'c', uid: 'v', finalizers: ['example.com/hold'] } }]]]), terminating);
    expect(await deleteNamespaceContent(d, 'team')).toEqual({ done: false, retryAfterSeconds: 5 });
    expect(calls).toEqual(['delete configmaps/c', 'status Some resources are remaining: configmaps. has 1 resource instances']);
  });

  test('a namespace not being deleted is left alone', async () => {
    const { d, calls } = fake(new Map(), { metadata: { name: 'team' }, spec: { finalizers: ['kubernetes'] } });
    expect(await deleteNamespaceContent(d, 'team')).toEqual({ done: true });
    expect(calls).toEqual([]);
  });
});
