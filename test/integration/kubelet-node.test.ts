/**
 * The kubelet's node registration, Lease and status (services/kubelet/node) against a real etcd,
 * nats-server and apiserver: the Node is registered in Kubernetes' shape, the Lease is renewed,
 * a health failure turns Ready False within one status interval, a deleted Node is registered
 * again, and a restarted kubelet keeps the taints and unschedulable flag others set.
 */
import { ApiClient } from '../../services/lib/apiclient';
import type { Node } from '../../services/lib/generated/kubemu/core/v1/core';
import { logger } from '../../services/lib/log';
import { resourceForCase } from '../../services/lib/resources';
import { NodeHealth, NodeStatusManager, NodeStatusManagerOptions } from '../../services/kubelet/node';
import { startTestApiServer, TestApiServer } from '../contract/env';

jest.setTimeout(60000);

const NODE = resourceForCase('node');
const LEASE = resourceForCase('lease');
const TIMINGS = { nodeLeaseDurationSeconds: 4, nodeLeaseRenewSeconds: 1, nodeStatusUpdateSeconds: 1 };

let env: TestApiServer;
let client: ApiClient;
const managers: NodeStatusManager[] = [];

beforeAll(async () => {
  env = await startTestApiServer();
  client = new ApiClient([env.address]);
});

afterAll(async () => {
  for (const m of managers) await m.stop();
  client?.close();
  await env?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 10000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function manager(name: string, health: () => NodeHealth = () => ({ ready: true }), extra: Partial<NodeStatusManagerOptions> = {}): NodeStatusManager {
  const m = new NodeStatusManager({
    client,
    nodeName: name,
    nodeIP: '127.1.0.1',
    podCIDR: '127.10.0.0/16',
    resources: { cpu: '4', memory: '8Gi', pods: 110 },
    kubeletPort: 20700,
    images: [{ names: ['kubemu/pause:3.9'], sizeBytes: 1024 }],
    runtimeVersion: 'kubemu://0.1.0',
    timings: TIMINGS,
    health,
    log: logger('kubelet-test'),
    ...extra,
  });
  managers.push(m);
  return m;
}

const ready = (n: Node | undefined) => n?.status?.conditions?.find((c) => c.type === 'Ready');

test('kubelet node - registers the Node with labels, capacity, Ready True and a Lease owned by it', async () => {
  const m = manager('node-a');
  expect(await m.start()).toBe(true);
  const node = await client.get(NODE, '', 'node-a');
  expect(node.metadata?.labels?.['kubernetes.io/hostname']).toBe('node-a');
  expect(node.metadata?.labels?.['kubernetes.io/os']).toBe('linux');
  expect(node.spec?.podCIDR).toBe('127.10.0.0/16');
  expect(node.status?.allocatable?.cpu).toBe('4');
  expect(node.status?.capacity?.pods).toBe('110');
  expect(node.status?.capacity?.['ephemeral-storage']).toBeTruthy();
  expect(ready(node)).toMatchObject({ status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' });
  expect(node.status?.nodeInfo?.kubeletVersion).toBe('v1.32.0');
  expect(node.status?.addresses).toEqual([
    { type: 'InternalIP', address: '127.1.0.1' },
    { type: 'Hostname', address: 'node-a' },
  ]);
  const lease = await until('the lease', () => client.tryGet(LEASE, 'kube-node-lease', 'node-a'));
  expect(lease.spec?.holderIdentity).toBe('node-a');
  expect(lease.spec?.leaseDurationSeconds).toBe(4);
  expect(lease.metadata?.ownerReferences).toEqual([expect.objectContaining({ apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: node.metadata?.uid })]);
});

test('kubelet node - the Lease is renewed (renewTime moves) while an unchanged status is not rewritten', async () => {
  const first = (await client.get(LEASE, 'kube-node-lease', 'node-a')).spec?.renewTime;
  const writes = managers[0].statusWrites;
  const moved = await until('renewTime to move', async () => {
    const t = (await client.get(LEASE, 'kube-node-lease', 'node-a')).spec?.renewTime;
    return t !== first ? t : undefined;
  }, 5000);
  expect(Date.parse(moved)).toBeGreaterThan(Date.parse(first!));
  await sleep(2500);
  // Status syncs ran (every 1 s) but nothing changed and the 5-minute report is not due.
  expect(managers[0].statusWrites).toBe(writes);
});

test('kubelet node - health false turns Ready False within one status interval, and back', async () => {
  let health: NodeHealth = { ready: true };
  const m = manager('node-b', () => health);
  await m.start();
  const before = ready(await client.get(NODE, '', 'node-b'));
  health = { ready: false, reason: 'KubeletNotReady', message: 'container runtime is down' };
  const t0 = Date.now();
  const down = await until('Ready False', async () => {
    const c = ready(await client.get(NODE, '', 'node-b'));
    return c?.status === 'False' ? c : undefined;
  }, 5000);
  expect(Date.now() - t0).toBeLessThan(TIMINGS.nodeStatusUpdateSeconds * 1000 + 1000);
  expect(down).toMatchObject({ reason: 'KubeletNotReady', message: 'container runtime is down' });
  expect(Date.parse(down.lastTransitionTime!)).toBeGreaterThanOrEqual(Date.parse(before!.lastTransitionTime!));
  // poke() writes a transition at once.
  health = { ready: true };
  await m.poke();
  expect(ready(await client.get(NODE, '', 'node-b'))?.status).toBe('True');
});

test('kubelet node - a Node deleted while the kubelet runs is registered again', async () => {
  const m = manager('node-c');
  await m.start();
  const uid = (await client.get(NODE, '', 'node-c')).metadata?.uid;
  await client.delete(NODE, '', 'node-c');
  // The new Node can be read a moment before the manager has the create's answer and counts it.
  const back = await until('re-registration', async () => {
    const n = await client.tryGet(NODE, '', 'node-c');
    return n && n.metadata?.uid !== uid && m.registrations > 1 ? n : undefined;
  }, 5000);
  expect(ready(back)?.status).toBe('True');
  expect(m.registrations).toBe(2);
  // The lease follows the new Node.
  await until('lease owned by the new Node', async () => {
    const l = await client.tryGet(LEASE, 'kube-node-lease', 'node-c');
    return l?.metadata?.ownerReferences?.[0]?.uid === back.metadata?.uid ? l : undefined;
  }, 5000);
});

test('kubelet node - a restarted kubelet keeps the taints, unschedulable and labels set by others, and reports its health', async () => {
  const m = manager('node-d');
  await m.start();
  const n = await client.get(NODE, '', 'node-d');
  await client.update(NODE, {
    ...n,
    metadata: { ...n.metadata, labels: { ...n.metadata?.labels, role: 'gpu' } },
    spec: { ...n.spec, unschedulable: true, taints: [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }] },
  });
  await m.stop();
  const restarted = manager('node-d', () => ({ ready: false, message: 'container runtime is down' }));
  await restarted.start();
  const after = await client.get(NODE, '', 'node-d');
  expect(after.metadata?.uid).toBe(n.metadata?.uid);
  expect(after.spec?.unschedulable).toBe(true);
  expect(after.spec?.taints).toEqual([expect.objectContaining({ key: 'dedicated', value: 'x', effect: 'NoSchedule' })]);
  expect(after.metadata?.labels?.role).toBe('gpu');
  expect(ready(after)).toMatchObject({ status: 'False', message: 'container runtime is down' });
  expect(restarted.registrations).toBe(1);
});

test('kubelet node - stop() disposes every timer: no writes after it', async () => {
  const m = manager('node-e');
  await m.start();
  await m.stop();
  const lease = await client.get(LEASE, 'kube-node-lease', 'node-e');
  await sleep(2500);
  expect((await client.get(LEASE, 'kube-node-lease', 'node-e')).metadata?.resourceVersion).toBe(lease.metadata?.resourceVersion);
});
