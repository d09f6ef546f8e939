/**
 * The endpoints controller in the workload environment: a Service's Endpoints list its selected
 * pods on their named port, follow a pod's readiness within a second or so, drop a deleted pod,
 * and go away with the Service; a Service without a selector is left alone.
 */
import { Endpoints, Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { endpointsController, LAST_CHANGE_TRIGGER_TIME } from '../../services/kube-controller-manager/endpoints/controller';
import { ControllerDescriptor } from '../../services/kube-controller-manager/context';
import { startWorkloadEnv, WorkloadEnv } from './workload-env';

jest.setTimeout(60000);

const POD = resourceForCase('pod');
const SERVICE = resourceForCase('service');
const ENDPOINTS = resourceForCase('endpoints');
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
  env = await startWorkloadEnv({ controllers: [endpointsController, lateIndexer], nodes: 2 });
});

afterAll(async () => {
  await env?.stop();
});

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function webPod(name: string): Pod {
  return {
    metadata: { name, namespace: NS, labels: { app: 'web' } },
    spec: { containers: [{ name: 'c', image: 'nginx', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] } as Pod['spec'],
  };
}

const ready = (e: Endpoints | undefined) => (e?.subsets ?? []).flatMap((s) => s.addresses ?? []).map((a) => a.targetRef?.name).sort();
const notReady = (e: Endpoints | undefined) => (e?.subsets ?? []).flatMap((s) => s.notReadyAddresses ?? []).map((a) => a.targetRef?.name).sort();

test('endpoints - follow pod readiness, deletion and the Service', async () => {
  await env.client.create(SERVICE, { metadata: { name: 'web', namespace: NS, labels: { app: 'web' } }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] } as never });
  await env.client.create(POD, webPod('web-a'));
  await env.client.create(POD, webPod('web-b'));
  let ep = await until('both pods ready in the Endpoints', async () => {
    const e = await env.client.tryGet(ENDPOINTS, NS, 'web');
    return ready(e).join() === 'web-a,web-b' && e;
  });
  expect(ep.subsets).toHaveLength(1);
  expect(ep.subsets![0].ports).toEqual([expect.objectContaining({ name: 'http', port: 8080, protocol: 'TCP' })]);
  expect(ep.metadata?.labels).toEqual({ app: 'web' });
  expect(ep.metadata?.annotations?.[LAST_CHANGE_TRIGGER_TIME]).toMatch(/^\d{4}-\d\d-\d\dT/);
  expect(ep.subsets![0].addresses![0].nodeName).toMatch(/^sim-node-/);

  // web-a turns not ready (as the node lifecycle controller or a failing probe would write it).
  const a = await env.client.get(POD, NS, 'web-a');
  const conditions = (a.status?.conditions ?? []).map((c) => (c.type === 'Ready' ? { ...c, status: 'False' } : c));
  const changedAt = Date.now();
  await env.client.updateStatus(POD, { ...a, status: { ...a.status, conditions } });
  ep = await until('web-a among notReadyAddresses', async () => {
    const e = await env.client.tryGet(ENDPOINTS, NS, 'web');
    return notReady(e).join() === 'web-a' && ready(e).join() === 'web-b' && e;
  });
  // Within a second on an idle machine; generous here for a shared one.
  expect(Date.now() - changedAt).toBeLessThan(5000);

  await env.client.delete(POD, NS, 'web-b');
  await until('web-b gone from the Endpoints', async () => {
    const e = await env.client.tryGet(ENDPOINTS, NS, 'web');
    return ready(e).length === 0 && notReady(e).join() === 'web-a';
  });

  await env.client.delete(SERVICE, NS, 'web');
  await until('Endpoints deleted with the Service', async () => !(await env.client.tryGet(ENDPOINTS, NS, 'web')));
});

test('endpoints - a Service without a selector keeps the Endpoints its user wrote', async () => {
  await env.client.create(SERVICE, { metadata: { name: 'external', namespace: NS }, spec: { ports: [{ port: 80, protocol: 'TCP' }] } as never });
  await env.client.create(ENDPOINTS, { metadata: { name: 'external', namespace: NS }, subsets: [{ addresses: [{ ip: '127.9.9.9' }], ports: [{ port: 80, protocol: 'TCP' }] }] } as never);
  await new Promise((r) => setTimeout(r, 1500));
  const e = await env.client.get(ENDPOINTS, NS, 'external');
  expect(e.subsets![0].addresses![0].ip).toBe('127.9.9.9');
});
