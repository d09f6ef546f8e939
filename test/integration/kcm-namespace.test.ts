/**
 * The namespace controller in the workload environment (with the garbage collector, as in a
 * cluster): a deleted namespace with pods and configmaps is emptied, reports what remains in its
 * conditions while a finalizer holds an object, and is removed once that finalizer goes.
 */
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { garbageCollectorController } from '../../services/kube-controller-manager/garbagecollector/controller';
import { namespaceController } from '../../services/kube-controller-manager/namespace/controller';
import { ControllerDescriptor } from '../../services/kube-controller-manager/context';
import { startWorkloadEnv, WorkloadEnv } from './workload-env';

jest.setTimeout(60000);

const NSR = resourceForCase('namespace');
const POD = resourceForCase('pod');
const CM = resourceForCase('configMap');

/**
 * A controller created after ours that adds an indexer to the pod informer: SharedInformers then
 * replaces the informer, so this checks our controllers use the instance that is started.
 */
const lateIndexer: ControllerDescriptor = {
  name: 'late-pod-indexer',
  create(ctx) {
    ctx.informers.informer('pod', { 'test/late': () => [] });
    ctx.informers.informer('node', { 'test/late': () => [] });
    return { run: () => ({ stop: async () => undefined }) };
  },
};

let env: WorkloadEnv;

beforeAll(async () => {
  env = await startWorkloadEnv({ controllers: [namespaceController, garbageCollectorController, lateIndexer], nodes: 1 });
});

afterAll(async () => {
  await env?.stop();
});

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('namespace - emptied, conditions while a finalizer holds content, then removed', async () => {
  const ns = 'team-a';
  await env.client.create(NSR, { metadata: { name: ns } });
  for (const name of ['p1', 'p2']) {
    await env.client.create(POD, { metadata: { name, namespace: ns }, spec: { containers: [{ name: 'c', image: 'nginx' }] } as Pod['spec'] });
  }
  await env.client.create(CM, { metadata: { name: 'plain', namespace: ns } });
  await env.client.create(CM, { metadata: { name: 'held', namespace: ns, finalizers: ['example.com/hold'] } });
  await until('pods running', async () => (await env.client.list(POD, ns)).items.every((p) => p.status?.phase === 'Running'));

  await env.client.delete(NSR, '', ns);
  // The first pass may still see pods in their grace period; then only the held configmap remains.
  const held = await until('conditions naming only the held configmap', async () => {
    const n = await env.client.tryGet(NSR, '', ns);
    const c = n?.status?.conditions?.find((x) => x.type === 'NamespaceContentRemaining');
    return c?.message === 'Some resources are remaining: configmaps. has 1 resource instances' && n;
  });
  expect(held.status?.phase).toBe('Terminating');
  const byType = new Map((held.status?.conditions ?? []).map((c) => [c.type, c]));
  expect(byType.get('NamespaceContentRemaining')).toMatchObject({ status: 'True', reason: 'SomeResourcesRemain', message: 'Some resources are remaining: configmaps. has 1 resource instances' });
  expect(byType.get('NamespaceFinalizersRemaining')).toMatchObject({ reason: 'SomeFinalizersRemain', message: 'Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances' });
  expect(byType.get('NamespaceDeletionContentFailure')).toMatchObject({ status: 'False', reason: 'ContentDeleted' });
  expect((await env.client.list(POD, ns)).items).toEqual([]);
  expect((await env.client.list(CM, ns)).items.map((c) => c.metadata?.name)).toEqual(['held']);

  // The finalizer's owner lets go: the namespace finishes.
  const cm = await env.client.get(CM, ns, 'held');
  await env.client.update(CM, { ...cm, metadata: { ...cm.metadata, finalizers: [] } });
  await until('namespace gone', async () => !(await env.client.tryGet(NSR, '', ns)));
});

test('namespace - an empty namespace goes at once', async () => {
  await env.client.create(NSR, { metadata: { name: 'empty' } });
  const started = Date.now();
  await env.client.delete(NSR, '', 'empty');
  await until('namespace gone', async () => !(await env.client.tryGet(NSR, '', 'empty')));
  expect(Date.now() - started).toBeLessThan(10000);
});
