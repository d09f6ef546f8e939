/**
 * The DaemonSet controller against a real etcd, nats-server and apiserver, with the scheduler and
 * three simulated nodes: one pod per node, placed through a required `metadata.name In [node]`
 * affinity with the daemon tolerations; a fourth node joining gets a pod, and loses it when it
 * leaves; a nodeSelector and an untolerated NoSchedule taint are honoured; a rolling update
 * replaces every pod, never more than maxUnavailable at once, or with maxSurge, each new pod
 * before its old one.
 */
import { DaemonSet } from '../../services/lib/generated/kubemu/apps/v1/apps';
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { Informer } from '../../services/lib/informer';
import { loadProfile } from '../../services/lib/config';
import { logger } from '../../services/lib/log';
import { resourceForCase } from '../../services/lib/resources';
import { startSimulatedKubelet } from '../../services/kubelet/simulated/kubelet';
import { daemonSetController } from '../../services/kube-controller-manager/daemonset/controller';
import { startWorkloadEnv, WorkloadEnv } from './workload-env';

jest.setTimeout(90000);

const NODE = resourceForCase('node');
const POD = resourceForCase('pod');
const DS = resourceForCase('daemonSet');
const EVENT = resourceForCase('event');
const NS = 'default';

let env: WorkloadEnv;
let pods: Informer<'pod'>;

beforeAll(async () => {
  env = await startWorkloadEnv({ controllers: [daemonSetController] });
  pods = new Informer({ client: env.client, nats: env.nats, info: POD });
  await pods.start();
});

afterAll(async () => {
  await pods?.stop();
  await env?.stop();
});

/** get → change → update, again on a Conflict (the controller writes status concurrently). */
async function mutate(name: string, change: (o: DaemonSet) => void): Promise<void> {
  for (let i = 0; ; i++) {
    const cur = await env.client.get(DS, NS, name);
    change(cur);
    try {
      await env.client.update(DS, cur);
      return;
    } catch (err) {
      if (i > 20 || !(err instanceof Error) || !/the object has been modified/.test(err.message)) throw err;
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 30000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const ready = (p: Pod) => p.status?.phase === 'Running' && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const ds = (name: string, extra: Partial<NonNullable<NonNullable<DaemonSet['spec']>['template']>['spec']> = {}): DaemonSet => ({
  metadata: { name, namespace: NS },
  spec: {
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx:1.27' }], ...extra } },
  },
});
const live = (name: string) => pods.list().filter((p) => p.metadata?.labels?.app === name && !p.metadata?.deletionTimestamp);
/** Sorted node names of the DaemonSet's ready pods. */
const readyNodes = (name: string) =>
  live(name)
    .filter(ready)
    .map((p) => p.spec?.nodeName ?? '')
    .sort()
    .join(',');
const statusOf = async (name: string) => (await env.client.get(DS, NS, name)).status ?? {};

test('daemonset - one pod per node, placed by node affinity with the daemon tolerations; follows a node joining and leaving', async () => {
  await env.client.create(DS, ds('agent'));
  await until('agent on 3 nodes', () => (readyNodes('agent') === 'sim-node-1,sim-node-2,sim-node-3' ? true : undefined));
  const pod = live('agent').find((p) => p.spec?.nodeName === 'sim-node-2')!;
  expect(pod.metadata?.generateName).toBe('agent-');
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  expect(terms).toHaveLength(1);
  expect(terms[0].matchExpressions ?? []).toEqual([]);
  expect(terms[0].matchFields).toEqual([{ key: 'metadata.name', operator: 'In', values: ['sim-node-2'] }]);
  expect(pod.spec?.nodeName).toBe('sim-node-2'); // bound by the scheduler, not by the controller
  const tolerations = (pod.spec?.tolerations ?? []).map((t) => `${t.key}:${t.effect}`);
  expect(tolerations).toEqual(expect.arrayContaining([
    'node.kubernetes.io/not-ready:NoExecute',
    'node.kubernetes.io/unreachable:NoExecute',
    'node.kubernetes.io/disk-pressure:NoSchedule',
    'node.kubernetes.io/memory-pressure:NoSchedule',
    'node.kubernetes.io/pid-pressure:NoSchedule',
    'node.kubernetes.io/unschedulable:NoSchedule',
  ]));
  expect(pod.metadata?.labels?.['controller-revision-hash']).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
  expect(pod.metadata?.labels?.['pod-template-generation']).toBe('1');
  const st = await until('status 3/3', async () => {
    const s = await statusOf('agent');
    return s.numberAvailable === 3 ? s : undefined;
  });
  expect(st).toMatchObject({ desiredNumberScheduled: 3, currentNumberScheduled: 3, numberMisscheduled: 0, numberReady: 3, numberAvailable: 3, numberUnavailable: 0, updatedNumberScheduled: 3, observedGeneration: 1 });
  const { items: events } = await env.client.list(EVENT, NS);
  expect(events.some((e) => e.involvedObject?.name === 'agent' && e.reason === 'SuccessfulCreate' && /^Created pod: agent-/.test(e.message ?? ''))).toBe(true);

  // A fourth node joins: it gets a daemon pod.
  const timings = loadProfile('demo').timings;
  const extra = await startSimulatedKubelet({ client: env.client, nats: env.nats, nodes: ['extra-node'], podStartDelayMs: 100, timings, log: logger('kubelet-simulated-extra') });
  try {
    await until('agent on 4 nodes', () => (readyNodes('agent') === 'extra-node,sim-node-1,sim-node-2,sim-node-3' ? true : undefined));
    await until('status 4', async () => ((await statusOf('agent')).numberAvailable === 4 ? true : undefined));
  } finally {
    await extra.stop();
  }
  // ...and leaves: its pod goes.
  await env.client.delete(NODE, '', 'extra-node');
  await until('agent back on 3 nodes', () => (live('agent').length === 3 && readyNodes('agent') === 'sim-node-1,sim-node-2,sim-node-3' ? true : undefined));
  await until('status 3 again', async () => {
    const s = await statusOf('agent');
    return s.desiredNumberScheduled === 3 && s.currentNumberScheduled === 3 ? true : undefined;
  });
});

test('daemonset - a rolling update replaces every pod, at most maxUnavailable (1) at a time', async () => {
  const name = 'agent';
  const before = new Set(live(name).map((p) => p.metadata?.uid));
  let maxUnavailable = 0;
  const watch = setInterval(() => {
    const unavailable = 3 - live(name).filter(ready).length;
    maxUnavailable = Math.max(maxUnavailable, unavailable);
  }, 20);
  try {
    await mutate(name, (o) => void (o.spec!.template!.spec!.containers![0].image = 'nginx:1.28'));
    await until('all pods updated', async () => {
      const s = await statusOf(name);
      const now = live(name);
      return s.observedGeneration === 2 && s.updatedNumberScheduled === 3 && s.numberAvailable === 3 && now.length === 3 && now.every((p) => !before.has(p.metadata?.uid) && ready(p)) ? true : undefined;
    });
  } finally {
    clearInterval(watch);
  }
  expect(live(name).every((p) => p.spec?.containers?.[0].image === 'nginx:1.28' && p.metadata?.labels?.['pod-template-generation'] === '2')).toBe(true);
  expect(maxUnavailable).toBeLessThanOrEqual(1);
});

test('daemonset - a rolling update with maxSurge starts each new pod before deleting the old one', async () => {
  const s = ds('surge');
  s.spec!.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
  await env.client.create(DS, s);
  await until('surge on 3 nodes', () => (readyNodes('surge') === 'sim-node-1,sim-node-2,sim-node-3' ? true : undefined));
  let minReady = 3;
  let maxPods = 0;
  const watch = setInterval(() => {
    minReady = Math.min(minReady, live('surge').filter(ready).length);
    maxPods = Math.max(maxPods, live('surge').length);
  }, 20);
  try {
    await mutate('surge', (o) => void (o.spec!.template!.spec!.containers![0].image = 'nginx:1.28'));
    await until('surge updated', async () => {
      const x = await statusOf('surge');
      const now = live('surge');
      return x.observedGeneration === 2 && x.updatedNumberScheduled === 3 && x.numberAvailable === 3 && now.length === 3 && now.every((p) => ready(p) && p.spec?.containers?.[0].image === 'nginx:1.28') ? true : undefined;
    });
  } finally {
    clearInterval(watch);
  }
  expect(minReady).toBe(3);
  expect(maxPods).toBe(4);
});

test('daemonset - a nodeSelector and an untolerated NoSchedule taint limit the nodes', async () => {
  await env.client.patch(NODE, '', 'sim-node-1', { metadata: { labels: { disk: 'ssd' } } });
  await env.client.patch(NODE, '', 'sim-node-3', { metadata: { labels: { disk: 'ssd' } } });
  await env.client.create(DS, ds('ssd-agent', { nodeSelector: { disk: 'ssd' } }));
  await until('ssd-agent on nodes 1 and 3', () => (readyNodes('ssd-agent') === 'sim-node-1,sim-node-3' ? true : undefined));
  // A node that stops matching loses its pod.
  await env.client.patch(NODE, '', 'sim-node-3', { metadata: { labels: { disk: null } } });
  await until('ssd-agent on node 1 only', () => (live('ssd-agent').map((p) => p.spec?.nodeName).join(',') === 'sim-node-1' ? true : undefined));

  // A NoSchedule taint keeps new daemons away unless tolerated.
  await env.client.patch(NODE, '', 'sim-node-2', { spec: { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] } });
  await env.client.create(DS, ds('plain'));
  await env.client.create(DS, ds('tolerant', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] }));
  await until('tolerant on 3 nodes', () => (readyNodes('tolerant') === 'sim-node-1,sim-node-2,sim-node-3' ? true : undefined));
  await until('plain on nodes 1 and 3', () => (readyNodes('plain') === 'sim-node-1,sim-node-3' ? true : undefined));
  const s = await until('plain status', async () => {
    const x = await statusOf('plain');
    return x.numberAvailable === 2 ? x : undefined;
  });
  expect(s.desiredNumberScheduled).toBe(2);
  // The earlier daemon already on the tainted node stays (NoSchedule only keeps new pods away).
  expect(live('agent').some((p) => p.spec?.nodeName === 'sim-node-2')).toBe(true);
});
