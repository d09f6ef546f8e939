/**
 * e2e: pods on a whole cluster started as a person starts it (pm2, 3 etcd, 3 NATS, 2 apiservers,
 * 2 schedulers, 3 nodes with a runtime and a kubelet each), on a private state folder and port
 * block. Pods are scheduled and run as real processes on their pod IPs; killing the kubelet or
 * the scheduler leader shows what Kubernetes promises.
 */
import * as http from 'http';
import { ApiClient } from '../../services/lib/apiclient';
import { Event, Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { isReason } from '../../services/lib/errors';
import { resourceForCase } from '../../services/lib/resources';
import { E2ECluster, expectSucceeded, prepareCluster } from '../harness/cluster';
import { sleep, waitFor } from '../harness/wait';

jest.setTimeout(180000);

const POD = resourceForCase('pod');
const EVENT = resourceForCase('event');
const NS = 'default';

let cluster: E2ECluster;
let client: ApiClient;

beforeAll(async () => {
  cluster = await prepareCluster('demo');
  expectSucceeded(await cluster.run(['start']));
  client = new ApiClient(await cluster.addresses('kube-apiserver'));
});

afterAll(async () => {
  client?.close();
  await cluster?.destroy();
});

async function waitPod(name: string, check: (p: Pod) => boolean, timeoutMs?: number): Promise<Pod> {
  return waitFor(`pod ${name}`, async () => {
    const p = await client.tryGet(POD, NS, name);
    return p && check(p) ? p : undefined;
  }, timeoutMs);
}

const running = (p: Pod) => p.status?.phase === 'Running' && !!p.status.containerStatuses?.every((c) => c.ready);

function httpGet(ip: string, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: ip, port, path: '/', timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

const httpGetEventually = (ip: string, port = 80) => waitFor(`http://${ip}:${port}/`, () => httpGet(ip, port), 5000);

async function events(podName: string): Promise<Event[]> {
  return (await client.list(EVENT, NS)).items.filter((e) => e.involvedObject?.name === podName);
}

function nginx(name: string, extra: Partial<NonNullable<Pod['spec']>> = {}): Pod {
  return { metadata: { name, namespace: NS }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }], ...extra } };
}

async function deletePod(name: string, wait = true): Promise<void> {
  try {
    await client.delete(POD, NS, name);
  } catch (err) {
    if (!isReason(err, 'NotFound')) throw err;
  }
  if (wait) await waitFor(`pod ${name} gone`, async () => !(await client.tryGet(POD, NS, name)));
}

test('pods - an nginx pod is scheduled, becomes Running and answers HTTP on its pod IP', async () => {
  await client.create(POD, nginx('web'));
  const pod = await waitPod('web', running);
  expect(pod.spec?.nodeName).toMatch(/^node-[123]$/);
  expect((await httpGetEventually(pod.status!.podIP!)).body).toContain('web');
  const reasons = (await events('web')).map((e) => e.reason);
  expect(reasons).toEqual(expect.arrayContaining(['Scheduled', 'Pulled', 'Created', 'Started']));
  await deletePod('web');
});

test('pods - two pods of one image on one node answer on different IPs and the same port', async () => {
  const onNode1 = { nodeSelector: { 'kubernetes.io/hostname': 'node-1' } };
  await client.create(POD, nginx('pair-a', onNode1));
  await client.create(POD, nginx('pair-b', onNode1));
  const [a, b] = await Promise.all([waitPod('pair-a', running), waitPod('pair-b', running)]);
  expect(a.spec?.nodeName).toBe('node-1');
  expect(b.spec?.nodeName).toBe('node-1');
  expect(a.status!.podIP).not.toBe(b.status!.podIP);
  expect((await httpGetEventually(a.status!.podIP!)).body).toContain('pair-a');
  expect((await httpGetEventually(b.status!.podIP!)).body).toContain('pair-b');
  await Promise.all([deletePod('pair-a'), deletePod('pair-b')]);
});

test('pods - a crashing container goes into CrashLoopBackOff with growing delays', async () => {
  await client.create(POD, { metadata: { name: 'crasher', namespace: NS }, spec: { containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'exit 2'] }] } });
  const restartedAt: number[] = [];
  let waitingReason = '';
  await waitFor('3 restarts', async () => {
    const p = await client.tryGet(POD, NS, 'crasher');
    const cs = p?.status?.containerStatuses?.[0];
    const n = cs?.restartCount ?? 0;
    if (restartedAt[n] === undefined) restartedAt[n] = Date.now();
    if (cs?.state?.waiting?.reason) waitingReason = cs.state.waiting.reason;
    return n >= 3;
  });
  expect(waitingReason).toBe('CrashLoopBackOff');
  expect(restartedAt[3] - restartedAt[2]).toBeGreaterThan((restartedAt[2] - restartedAt[1]) * 1.3);
  await deletePod('crasher', false);
});

test('pods - a failing liveness probe restarts the container; a memory hog is OOMKilled', async () => {
  await client.create(POD, {
    metadata: { name: 'unhealthy', namespace: NS },
    spec: { containers: [{ name: 'web', image: 'nginx', livenessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, periodSeconds: 1, failureThreshold: 1 } }] },
  });
  await client.create(POD, {
    metadata: { name: 'hog', namespace: NS },
    spec: {
      restartPolicy: 'Never',
      containers: [{ name: 'hog', image: 'python:3', command: ['python3', '-c', 'import time\nb=[]\nwhile True:\n  b.append(bytearray(16*1024*1024)); time.sleep(0.02)'], resources: { limits: { memory: '128Mi' } } }],
    },
  });
  await waitPod('unhealthy', (p) => (p.status?.containerStatuses?.[0].restartCount ?? 0) >= 1);
  expect((await events('unhealthy')).some((e) => e.reason === 'Unhealthy' && (e.message ?? '').startsWith('Liveness probe failed:'))).toBe(true);
  const hog = await waitPod('hog', (p) => p.status?.phase === 'Failed');
  expect(hog.status?.containerStatuses?.[0].state?.terminated).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
  await Promise.all([deletePod('unhealthy', false), deletePod('hog', false)]);
});

test('pods - a killed kubelet leaves its containers serving; restarted by pm2 it adopts them without a restart', async () => {
  await client.create(POD, nginx('steady', { nodeSelector: { 'kubernetes.io/hostname': 'node-2' } }));
  const before = await waitPod('steady', running);
  await httpGetEventually(before.status!.podIP!);
  const pid = await cluster.pid('kubelet-node-2');
  process.kill(pid!, 'SIGKILL');
  expect((await httpGet(before.status!.podIP!, 80)).status).toBe(200);
  await waitFor('kubelet-node-2 restarted', async () => {
    const { report } = await cluster.status();
    const k = report.processes.find((p) => p.name === 'kubelet-node-2');
    return !!k && k.pid !== pid && k.healthy;
  });
  // The restarted kubelet syncs the pod: same container, no restart, still serving.
  const marker = `marker-${Date.now()}`;
  await client.patch(POD, NS, 'steady', { metadata: { labels: { marker } } });
  await sleep(1000);
  const after = await waitPod('steady', running);
  expect(after.status!.containerStatuses![0].containerID).toBe(before.status!.containerStatuses![0].containerID);
  expect(after.status!.containerStatuses![0].restartCount ?? 0).toBe(0);
  expect((await httpGet(after.status!.podIP!, 80)).status).toBe(200);
  await deletePod('steady');
});

test('pods - the scheduler leader dies: the standby takes over and schedules new pods', async () => {
  const lease = await client.getLease('kube-system', 'kube-scheduler');
  const leader = lease?.spec?.holderIdentity;
  expect(leader).toMatch(/^kube-scheduler-[01]_[0-9a-f-]{36}$/);
  const pid = await cluster.pid(leader!.split('_')[0]);
  process.kill(pid!, 'SIGKILL');
  const killedAt = Date.now();
  await client.create(POD, nginx('after-failover'));
  const pod = await waitPod('after-failover', (p) => !!p.spec?.nodeName);
  const tookMs = Date.now() - killedAt;
  const now = await client.getLease('kube-system', 'kube-scheduler');
  // The standby took the lease, or the killed replica restarted by pm2 did as a new candidate,
  // once the dead leader's lease expired: never the dead identity.
  expect(now?.spec?.holderIdentity).toMatch(/^kube-scheduler-[01]_/);
  expect(now?.spec?.holderIdentity).not.toBe(leader);
  expect(tookMs).toBeLessThan(15000);
  expect(pod.spec?.nodeName).toMatch(/^node-/);
  await waitPod('after-failover', running);
  process.stdout.write(`e2e: pod scheduled ${tookMs} ms after the scheduler leader ${leader} was killed (new holder ${now?.spec?.holderIdentity})\n`);
  await deletePod('after-failover');
});

test('pods - a pod that fits nowhere gets FailedScheduling and is scheduled as soon as a node frees up', async () => {
  // Every node has 4 CPUs: three pods of 3 CPUs fill them, a fourth fits nowhere.
  const big = (name: string): Pod => ({
    metadata: { name, namespace: NS },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'nginx', resources: { requests: { cpu: '3' } } }] },
  });
  for (const n of ['big-1', 'big-2', 'big-3']) await client.create(POD, big(n));
  await Promise.all(['big-1', 'big-2', 'big-3'].map((n) => waitPod(n, (p) => !!p.spec?.nodeName)));
  await client.create(POD, big('big-4'));
  const failed = await waitFor('FailedScheduling', async () => (await events('big-4')).find((e) => e.reason === 'FailedScheduling'));
  expect(failed.message).toMatch(/^0\/3 nodes are available: 3 Insufficient cpu\./);
  const pending = await waitPod('big-4', (p) => !!p.status?.conditions?.some((c) => c.type === 'PodScheduled'));
  expect(pending.status?.conditions?.find((c) => c.type === 'PodScheduled')).toMatchObject({ status: 'False', reason: 'Unschedulable' });
  const freed = Date.now();
  await deletePod('big-2');
  const scheduled = await waitPod('big-4', (p) => !!p.spec?.nodeName, 15000);
  process.stdout.write(`e2e: unschedulable pod bound ${Date.now() - freed} ms after a node freed up\n`);
  expect(scheduled.spec?.nodeName).toMatch(/^node-/);
  await Promise.all(['big-1', 'big-3', 'big-4'].map((n) => deletePod(n, false)));
});
