/**
 * The garbage collector in the workload environment (no other controller runs): background,
 * foreground and orphan deletion of a parent ConfigMap with child ConfigMaps, a child with two
 * owners, and pods owned by a bare ReplicaSet object deleted in the foreground (the ReplicaSet
 * waits for its pods).
 */
import { ConfigMap, Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { OwnerReference } from '../../services/lib/generated/kubemu/meta/v1/meta';
import { resourceForCase } from '../../services/lib/resources';
import { garbageCollectorController } from '../../services/kube-controller-manager/garbagecollector/controller';
import { ControllerDescriptor } from '../../services/kube-controller-manager/context';
import { startWorkloadEnv, WorkloadEnv } from './workload-env';

jest.setTimeout(60000);

const CM = resourceForCase('configMap');
const POD = resourceForCase('pod');
const RS = resourceForCase('replicaSet');
const NS = 'default';

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
  env = await startWorkloadEnv({ controllers: [garbageCollectorController, lateIndexer], nodes: 1 });
});

afterAll(async () => {
  await env?.stop();
});

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ownerRef = (o: ConfigMap, block = false): OwnerReference => ({ apiVersion: 'v1', kind: 'ConfigMap', name: o.metadata!.name!, uid: o.metadata!.uid!, blockOwnerDeletion: block });

async function family(prefix: string, block = false): Promise<{ parent: ConfigMap; children: string[] }> {
  const parent = await env.client.create(CM, { metadata: { name: `${prefix}-parent`, namespace: NS } });
  const children = [`${prefix}-a`, `${prefix}-b`];
  for (const name of children) await env.client.create(CM, { metadata: { name, namespace: NS, ownerReferences: [ownerRef(parent, block)] } });
  return { parent, children };
}

const exists = async (name: string) => !!(await env.client.tryGet(CM, NS, name));

test('gc - background: children deleted once the parent is gone', async () => {
  const { children } = await family('bg');
  await env.client.delete(CM, NS, 'bg-parent', { propagationPolicy: 'Background' });
  await until('children gone', async () => !(await exists(children[0])) && !(await exists(children[1])));
});

test('gc - a child with two owners loses only the dead one', async () => {
  const p1 = await env.client.create(CM, { metadata: { name: 'two-p1', namespace: NS } });
  const p2 = await env.client.create(CM, { metadata: { name: 'two-p2', namespace: NS } });
  await env.client.create(CM, { metadata: { name: 'two-child', namespace: NS, ownerReferences: [ownerRef(p1), ownerRef(p2)] } });
  await env.client.delete(CM, NS, 'two-p1');
  const child = await until('the dead owner reference removed', async () => {
    const c = await env.client.tryGet(CM, NS, 'two-child');
    return c && (c.metadata?.ownerReferences ?? []).length === 1 && c;
  });
  expect(child.metadata!.ownerReferences![0].uid).toBe(p2.metadata!.uid);
  await env.client.delete(CM, NS, 'two-p2');
  await until('child deleted with its last owner', async () => !(await exists('two-child')));
});

test('gc - foreground: the parent stays until its blocking children are gone', async () => {
  const { children } = await family('fg', true);
  const res = await env.client.delete(CM, NS, 'fg-parent', { propagationPolicy: 'Foreground' });
  expect(res.object?.metadata?.finalizers).toContain('foregroundDeletion');
  await until('children and then the parent gone', async () => !(await exists(children[0])) && !(await exists(children[1])) && !(await exists('fg-parent')));
});

test('gc - orphan: children keep living without the reference, the parent goes', async () => {
  const { children } = await family('or');
  await env.client.delete(CM, NS, 'or-parent', { propagationPolicy: 'Orphan' });
  await until('parent gone', async () => !(await exists('or-parent')));
  for (const name of children) {
    const c = await env.client.get(CM, NS, name);
    expect(c.metadata?.ownerReferences ?? []).toEqual([]);
  }
});

test('gc - pods of a ReplicaSet object deleted in the foreground', async () => {
  const rs = await env.client.create(RS, {
    metadata: { name: 'web', namespace: NS },
    spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
  } as never);
  const ref: OwnerReference = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: rs.metadata!.uid!, controller: true, blockOwnerDeletion: true };
  const pod = (name: string): Pod => ({ metadata: { name, namespace: NS, labels: { app: 'web' }, ownerReferences: [ref] }, spec: { containers: [{ name: 'c', image: 'nginx' }] } as Pod['spec'] });
  await env.client.create(POD, pod('web-1'));
  await env.client.create(POD, pod('web-2'));
  await env.client.delete(RS, NS, 'web', { propagationPolicy: 'Foreground' });
  await until('pods and the ReplicaSet gone', async () => {
    const pods = await env.client.list(POD, NS, { labelSelector: 'app=web' });
    return pods.items.length === 0 && !(await env.client.tryGet(RS, NS, 'web'));
  });
});
