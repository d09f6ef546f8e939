/**
 * The simulated kubelet (services/kubelet/simulated) against a real etcd, nats-server and
 * apiserver: 20 nodes register and are Ready with leases, pods bound to them turn Running with
 * IPs from their node's range, gracefully deleted pods go away at once, a deleted node comes back.
 */
import { NatsConnection } from 'nats';
import { ApiClient } from '../../services/lib/apiclient';
import type { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { logger } from '../../services/lib/log';
import { resourceForCase } from '../../services/lib/resources';
import { connectBus } from '../../services/lib/watchbus';
import { SimulatedKubelet, simulatedKubeletFromEnv, startSimulatedKubelet } from '../../services/kubelet/simulated';
import { startTestApiServer, TestApiServer } from '../contract/env';

jest.setTimeout(60000);

const POD = resourceForCase('pod');
const NODE = resourceForCase('node');
const LEASE = resourceForCase('lease');
const NS = 'default';
const TIMINGS = { nodeLeaseDurationSeconds: 8, nodeLeaseRenewSeconds: 2, nodeStatusUpdateSeconds: 2, nodeMonitorGracePeriodSeconds: 10 };

let env: TestApiServer;
let client: ApiClient;
let nc: NatsConnection;
let sim: SimulatedKubelet;

beforeAll(async () => {
  env = await startTestApiServer();
  client = new ApiClient([env.address]);
  nc = await connectBus(env.natsUrls, 'simulated-test');
  sim = await startSimulatedKubelet({
    client,
    nats: nc,
    nodes: { count: 20, prefix: 'sim-node-' },
    resources: { cpu: '8', memory: '32Gi', pods: 110 },
    podStartDelayMs: 100,
    timings: TIMINGS,
    log: logger('kubelet-simulated-test'),
  });
});

afterAll(async () => {
  await sim?.stop();
  await nc?.close();
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
    await sleep(100);
  }
}

const pod = (name: string, node: string): Pod => ({
  metadata: { name, namespace: NS },
  spec: { nodeName: node, containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10', resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
});

test('simulated nodes - settings from the environment', () => {
  expect(simulatedKubeletFromEnv({})).toBeUndefined();
  expect(simulatedKubeletFromEnv({ KUBEMU_SIMULATED_NODES: '0' })).toBeUndefined();
  expect(simulatedKubeletFromEnv({ KUBEMU_SIMULATED_NODES: '1000' })).toEqual({ count: 1000, prefix: 'sim-node-', podStartDelayMs: 200 });
  expect(simulatedKubeletFromEnv({ KUBEMU_SIMULATED_NODES: '5', KUBEMU_SIMULATED_NODE_PREFIX: 'fake-', KUBEMU_SIMULATED_POD_START_DELAY_MS: '0' })).toEqual({
    count: 5,
    prefix: 'fake-',
    podStartDelayMs: 0,
  });
  expect(() => simulatedKubeletFromEnv({ KUBEMU_SIMULATED_NODES: 'many' })).toThrow(/KUBEMU_SIMULATED_NODES/);
});

test('simulated nodes - 20 nodes register, are Ready and hold leases', async () => {
  const nodes = (await client.list(NODE)).items.filter((n) => n.metadata?.name?.startsWith('sim-node-'));
  expect(nodes.map((n) => n.metadata?.name).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `sim-node-${i + 1}`).sort());
  for (const n of nodes) {
    expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(n.status?.allocatable?.cpu).toBe('8');
    expect(n.spec?.podCIDR).toMatch(/^10\.0\.\d+\.0\/24$/);
    expect(n.status?.addresses?.[0]).toEqual({ type: 'InternalIP', address: expect.stringMatching(/^127\.2\.0\.\d+$/) });
  }
  // Leases are spread over the first renew interval (4 s here: 40% of the 10 s grace period).
  await until('20 leases', async () => {
    const leases = (await client.list(LEASE, 'kube-node-lease')).items.filter((l) => l.metadata?.name?.startsWith('sim-node-'));
    return leases.length === 20 ? leases : undefined;
  }, 10000);
});

test('simulated nodes - bound pods turn Running with an IP of their node, deleted pods go away', async () => {
  const names = Array.from({ length: 40 }, (_, i) => `sim-pod-${i}`);
  await Promise.all(names.map((n, i) => client.create(POD, pod(n, `sim-node-${(i % 20) + 1}`))));
  for (const n of names) {
    const p = await until(`${n} Running`, async () => {
      const got = await client.get(POD, NS, n);
      return got.status?.phase === 'Running' ? got : undefined;
    });
    const node = await client.get(NODE, '', p.spec!.nodeName!);
    const prefix = node.spec!.podCIDR!.replace(/0\/24$/, '');
    expect(p.status?.podIP?.startsWith(prefix)).toBe(true);
    expect(p.status?.podIPs).toEqual([{ ip: p.status?.podIP }]);
    expect(p.status?.hostIP).toBe(node.status?.addresses?.[0].address);
    expect(p.status?.startTime).toBeTruthy();
    const ready = Object.fromEntries((p.status?.conditions ?? []).map((c) => [c.type, c.status]));
    expect(ready).toMatchObject({ PodScheduled: 'True', Initialized: 'True', ContainersReady: 'True', Ready: 'True' });
    const cs = p.status?.containerStatuses?.[0];
    expect(cs).toMatchObject({ name: 'app', ready: true, started: true, restartCount: 0, image: 'registry.k8s.io/pause:3.10' });
    expect(cs?.imageID).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(cs?.state?.running?.startedAt).toBeTruthy();
  }
  const ips = new Set<string>();
  for (const n of names) ips.add((await client.get(POD, NS, n)).status!.podIP!);
  expect(ips.size).toBe(names.length);

  // A graceful delete (the default 30 s) is finished at once by the simulated node.
  await Promise.all(names.map((n) => client.delete(POD, NS, n)));
  await until('pods gone', async () => {
    const left = (await client.list(POD, NS)).items.filter((p) => p.metadata?.name?.startsWith('sim-pod-'));
    return left.length === 0 ? true : undefined;
  }, 10000);
  expect(sim.podsDeleted).toBe(names.length);
});

test('simulated nodes - a deleted simulated node is registered again', async () => {
  const uid = (await client.get(NODE, '', 'sim-node-7')).metadata?.uid;
  await client.delete(NODE, '', 'sim-node-7');
  const back = await until('sim-node-7 back', async () => {
    const n = await client.tryGet(NODE, '', 'sim-node-7');
    return n && n.metadata?.uid !== uid ? n : undefined;
  });
  expect(back.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
});
