/**
 * Node lifecycle and taint eviction in the workload environment (demo timings: 10 s grace,
 * 15 s default tolerations): a simulated node whose kubelet stops goes Unknown, is tainted
 * unreachable (NoSchedule and NoExecute), its pods are marked not ready at once (and leave their
 * Service's ready addresses), a pod tolerating the taint for 3 s is evicted after 3 s and one
 * with the default toleration after 15 s; a new kubelet for the same node name brings it back
 * Ready and untainted.
 */
import { Node, Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { loadProfile } from '../../services/lib/config';
import { logger } from '../../services/lib/log';
import { resourceForCase } from '../../services/lib/resources';
import { SimulatedKubelet, startSimulatedKubelet } from '../../services/kubelet/simulated/kubelet';
import { endpointsController } from '../../services/kube-controller-manager/endpoints/controller';
import { nodeLifecycleController } from '../../services/kube-controller-manager/nodelifecycle/controller';
import { taintEvictionController } from '../../services/kube-controller-manager/nodelifecycle/tainteviction';
import { ControllerDescriptor } from '../../services/kube-controller-manager/context';
import { startWorkloadEnv, WorkloadEnv } from './workload-env';

jest.setTimeout(90000);

const POD = resourceForCase('pod');
const NODE = resourceForCase('node');
const EVENT = resourceForCase('event');
const SERVICE = resourceForCase('service');
const ENDPOINTS = resourceForCase('endpoints');
const NS = 'default';
const LOST = 'lost-node';
const timings = loadProfile('demo').timings;

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
const kubelets: SimulatedKubelet[] = [];

async function startLostNodeKubelet(): Promise<SimulatedKubelet> {
  const k = await startSimulatedKubelet({ client: env.client, nats: env.nats, nodes: [LOST], podStartDelayMs: 100, timings, log: logger('kubelet-simulated', { node: LOST }) });
  kubelets.push(k);
  return k;
}

beforeAll(async () => {
  env = await startWorkloadEnv({ controllers: [nodeLifecycleController, taintEvictionController, endpointsController, lateIndexer], nodes: 2 });
});

afterAll(async () => {
  for (const k of kubelets) await k.stop();
  await env?.stop();
});

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const condition = (obj: Node | Pod | undefined, type: string) => (obj?.status?.conditions as { type?: string; status?: string; reason?: string; message?: string }[] | undefined)?.find((c) => c.type === type);
const taintKeys = (n: Node | undefined) => (n?.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).sort();

test('node lifecycle - lost node: Unknown, tainted, pods not ready then evicted; back untainted', async () => {
  const first = await startLostNodeKubelet();
  await env.client.create(SERVICE, { metadata: { name: 'web', namespace: NS }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }] } as never });
  const mk = (name: string, tolerationSeconds?: number): Pod => ({
    metadata: { name, namespace: NS, labels: { app: 'web' } },
    spec: {
      nodeName: LOST,
      containers: [{ name: 'c', image: 'nginx' }],
      tolerations: tolerationSeconds === undefined ? undefined : [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds }],
    } as Pod['spec'],
  });
  await env.client.create(POD, mk('default-toleration'));
  await env.client.create(POD, mk('short-toleration', 3));
  await until('pods ready and in the Endpoints', async () => {
    const e = await env.client.tryGet(ENDPOINTS, NS, 'web');
    return (e?.subsets ?? []).flatMap((s) => s.addresses ?? []).length === 2;
  });
  const created = await env.client.get(POD, NS, 'default-toleration');
  expect(created.spec?.tolerations).toEqual(expect.arrayContaining([expect.objectContaining({ key: 'node.kubernetes.io/unreachable', tolerationSeconds: timings.podEvictionTimeoutSeconds })]));

  await first.stop();
  const stoppedAt = Date.now();
  const lost = await until('node Ready Unknown', async () => {
    const n = await env.client.get(NODE, '', LOST);
    return condition(n, 'Ready')?.status === 'Unknown' && n;
  }, 40000);
  const unknownAfter = Date.now() - stoppedAt;
  // Not before the grace period (the last renewal may be a few seconds before the stop).
  expect(unknownAfter).toBeGreaterThan((timings.nodeMonitorGracePeriodSeconds - 5) * 1000);
  expect(condition(lost, 'Ready')).toMatchObject({ reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' });
  expect(condition(lost, 'MemoryPressure')?.status).toBe('Unknown');

  const tainted = await until('unreachable taints', async () => {
    const n = await env.client.get(NODE, '', LOST);
    return taintKeys(n).join() === 'node.kubernetes.io/unreachable:NoExecute,node.kubernetes.io/unreachable:NoSchedule' && n;
  });
  const taintedAt = Date.now();
  expect(tainted).toBeDefined();

  const notReady = await until('pods marked not ready', async () => {
    const p = await env.client.get(POD, NS, 'default-toleration');
    return condition(p, 'Ready')?.status === 'False' && p;
  });
  expect(notReady.metadata?.deletionTimestamp).toBeFalsy();
  await until('pods out of the ready addresses', async () => {
    const e = await env.client.tryGet(ENDPOINTS, NS, 'web');
    return (e?.subsets ?? []).flatMap((s) => s.addresses ?? []).length === 0;
  });

  const short = await until('short-toleration evicted', async () => {
    const p = await env.client.tryGet(POD, NS, 'short-toleration');
    return !p || p.metadata?.deletionTimestamp ? { at: Date.now() } : undefined;
  });
  expect(short.at - taintedAt).toBeGreaterThan(2000);
  expect((await env.client.get(POD, NS, 'default-toleration')).metadata?.deletionTimestamp).toBeFalsy();
  const evicted = await until('default-toleration evicted', async () => {
    const p = await env.client.tryGet(POD, NS, 'default-toleration');
    return p?.metadata?.deletionTimestamp ? p : undefined;
  }, 40000);
  expect(Date.now() - taintedAt).toBeGreaterThan((timings.podEvictionTimeoutSeconds - 2) * 1000);
  expect(condition(evicted, 'DisruptionTarget')).toMatchObject({ status: 'True', reason: 'DeletionByTaintManager' });

  const events = (await env.client.list(EVENT, NS)).items;
  expect(events).toEqual(expect.arrayContaining([
    expect.objectContaining({ reason: 'NodeNotReady', message: `Node ${LOST} status is now: NodeNotReady`, involvedObject: expect.objectContaining({ kind: 'Node', name: LOST }) }),
    expect.objectContaining({ reason: 'NodeNotReady', message: 'Node is not ready', involvedObject: expect.objectContaining({ kind: 'Pod', name: 'default-toleration' }) }),
    expect.objectContaining({ reason: 'TaintManagerEviction', message: `Marking for deletion Pod ${NS}/default-toleration` }),
  ]));

  // The node comes back: a new kubelet for the same name posts Ready, the taints go, and it finishes the evicted pods.
  await startLostNodeKubelet();
  await until('node Ready and untainted', async () => {
    const n = await env.client.get(NODE, '', LOST);
    return condition(n, 'Ready')?.status === 'True' && taintKeys(n).length === 0;
  });
  await until('evicted pods gone', async () => (await env.client.list(POD, NS, { labelSelector: 'app=web' })).items.length === 0);
});
