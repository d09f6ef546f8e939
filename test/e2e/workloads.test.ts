/**
 * e2e: workloads on a whole cluster started as a person starts it (pm2; 3 etcd, 3 NATS, 2
 * apiservers, 2 schedulers, 2 controller-managers, 3 nodes running real processes), demo profile.
 * Deployments roll out, roll back, scale and heal; a lost node's pods are evicted and recreated
 * elsewhere; StatefulSets keep identities, DaemonSets follow nodes, Jobs complete or fail; deleting
 * owners and namespaces cascades; the controller-manager standby finishes a rollout.
 */
import { ApiClient } from '../../services/lib/apiclient';
import { Deployment } from '../../services/lib/generated/kubemu/apps/v1/apps';
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { isReason } from '../../services/lib/errors';
import { resourceForCase } from '../../services/lib/resources';
import { E2ECluster, expectSucceeded, prepareCluster } from '../harness/cluster';
import { sleep, waitFor as waitUntil } from '../harness/wait';

jest.setTimeout(240000);

const POD = resourceForCase('pod');
const NODE = resourceForCase('node');
const DEPLOY = resourceForCase('deployment');
const RS = resourceForCase('replicaSet');
const STS = resourceForCase('statefulSet');
const DS = resourceForCase('daemonSet');
const JOB = resourceForCase('job');
const CRONJOB = resourceForCase('cronJob');
const PVC = resourceForCase('persistentVolumeClaim');
const NAMESPACE = resourceForCase('namespace');
const CONFIGMAP = resourceForCase('configMap');
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

/** Workloads converge in tens of seconds on a loaded 2-core machine: a minute by default. */
const waitFor = <T>(what: string, get: () => Promise<T | undefined | false>, timeoutMs = 60000) => waitUntil(what, get, timeoutMs, { intervalMs: 150 });

const selectorOf = (labels: Record<string, string>) => Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');

async function pods(labels: Record<string, string>, ns = NS): Promise<Pod[]> {
  return (await client.list(POD, ns, { labelSelector: selectorOf(labels) })).items;
}

const ready = (p: Pod) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

function deployment(name: string, image: string, replicas: number): Deployment {
  return {
    metadata: { name, namespace: NS },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: { metadata: { labels: { app: name } }, spec: { terminationGracePeriodSeconds: 2, containers: [{ name: 'web', image }] } },
    },
  };
}

/** What `kubectl rollout status` waits for. */
async function rolledOut(name: string, timeoutMs = 60000): Promise<Deployment> {
  return waitFor(`deployment ${name} rolled out`, async () => {
    const d = await client.get(DEPLOY, NS, name);
    const s = d.status ?? {};
    const want = d.spec?.replicas ?? 1;
    const done =
      (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
      (s.updatedReplicas ?? 0) === want &&
      (s.replicas ?? 0) === want &&
      (s.availableReplicas ?? 0) === want;
    return done ? d : undefined;
  }, timeoutMs);
}

async function patchImage(name: string, image: string): Promise<void> {
  const d = await client.get(DEPLOY, NS, name);
  const spec = JSON.parse(JSON.stringify(d.spec));
  spec.template.spec.containers[0].image = image;
  await client.update(DEPLOY, { ...d, spec });
}

test('workloads - a Deployment rolls out, updates within maxSurge/maxUnavailable, rolls back, scales and replaces a deleted pod', async () => {
  await client.create(DEPLOY, deployment('web', 'nginx:1.26', 3));
  const first = await rolledOut('web');
  expect(first.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
  const rs1 = (await client.list(RS, NS, { labelSelector: 'app=web' })).items;
  expect(rs1).toHaveLength(1);
  expect(rs1[0].metadata?.name).toMatch(/^web-[a-z0-9]+$/);
  expect(rs1[0].metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('1');

  // Rolling update to a new image, sampled throughout: with maxSurge 1 / maxUnavailable 0 there
  // are never more than 4 pods and never fewer than 3 available.
  let maxPods = 0;
  let minAvailable = Infinity;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const all = (await pods({ app: 'web' })).filter((p) => !p.metadata?.deletionTimestamp);
      maxPods = Math.max(maxPods, all.length);
      minAvailable = Math.min(minAvailable, all.filter(ready).length);
      await sleep(50);
    }
  })();
  await patchImage('web', 'nginx:1.27');
  await rolledOut('web', 90000);
  sampling = false;
  await sampler;
  expect(maxPods).toBeLessThanOrEqual(4);
  expect(minAvailable).toBeGreaterThanOrEqual(3);
  const after = await pods({ app: 'web' });
  expect(after.filter((p) => !p.metadata?.deletionTimestamp).every((p) => p.spec?.containers?.[0].image === 'nginx:1.27')).toBe(true);

  // Roll back to revision 1: the old template again, the old ReplicaSet reused.
  await patchImage('web', 'nginx:1.26');
  await rolledOut('web', 90000);
  const rsAfterUndo = (await client.list(RS, NS, { labelSelector: 'app=web' })).items;
  expect(rsAfterUndo).toHaveLength(2);
  const active = rsAfterUndo.find((r) => (r.spec?.replicas ?? 0) > 0)!;
  expect(active.metadata?.name).toBe(rs1[0].metadata?.name);
  expect(active.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('3');

  // Scale to 5, then to 1, through the scale subresource (what `kubectl scale` uses).
  for (const replicas of [5, 1]) {
    await client.updateScale(DEPLOY, NS, { metadata: { name: 'web' }, spec: { replicas } });
    expect((await client.getScale(DEPLOY, NS, 'web')).status?.selector).toBe('app=web');
    await rolledOut('web');
    await waitFor(`${replicas} pods`, async () => (await pods({ app: 'web' })).filter((p) => !p.metadata?.deletionTimestamp).length === replicas);
  }

  // A deleted pod is replaced.
  const [only] = (await pods({ app: 'web' })).filter((p) => !p.metadata?.deletionTimestamp);
  await client.delete(POD, NS, only.metadata!.name!);
  await waitFor('a replacement', async () => {
    const now = (await pods({ app: 'web' })).filter((p) => !p.metadata?.deletionTimestamp && ready(p));
    return now.length === 1 && now[0].metadata?.uid !== only.metadata?.uid;
  });
});

test('workloads - deleting a Deployment removes its ReplicaSets and pods', async () => {
  await client.delete(DEPLOY, NS, 'web');
  await waitFor('ReplicaSets and pods gone', async () => {
    const rs = (await client.list(RS, NS, { labelSelector: 'app=web' })).items;
    const ps = await pods({ app: 'web' });
    return rs.length === 0 && ps.length === 0;
  });
});

test('workloads - the controller-manager leader dies mid-rollout: the standby finishes it', async () => {
  // minReadySeconds makes each of the rollout's three steps last 2 s, so the kill lands mid-rollout.
  const ha = deployment('ha', 'nginx:1.26', 3);
  await client.create(DEPLOY, { ...ha, spec: { ...ha.spec, minReadySeconds: 2 } });
  await rolledOut('ha');
  const lease = await client.getLease('kube-system', 'kube-controller-manager');
  const leader = lease?.spec?.holderIdentity ?? '';
  expect(leader).toMatch(/^kube-controller-manager-[01]_/);
  const pid = (await cluster.pid(leader.split('_')[0]))!;
  await patchImage('ha', 'nginx:1.27');
  // Kill it as soon as the rollout has started (a new ReplicaSet exists), well before it can finish.
  await waitFor('the rollout to start', async () => (await client.list(RS, NS, { labelSelector: 'app=ha' })).items.length === 2, 30000);
  process.kill(pid, 'SIGKILL');
  const killedAt = Date.now();
  // Mid-rollout: the old ReplicaSet still has pods when the leader dies.
  const oldAtKill = (await client.list(RS, NS, { labelSelector: 'app=ha' })).items.find((r) => r.spec?.template?.spec?.containers?.[0].image === 'nginx:1.26');
  // The standby (or the killed replica restarted by pm2, as a new candidate) takes the lease once it expires.
  const now = await waitFor('a new controller-manager leader', async () => {
    const l = await client.getLease('kube-system', 'kube-controller-manager');
    return l?.spec?.holderIdentity && l.spec.holderIdentity !== leader ? l : undefined;
  }, 30000);
  await rolledOut('ha', 90000);
  expect(oldAtKill?.spec?.replicas ?? 0).toBeGreaterThan(0);
  const oldNow = (await client.list(RS, NS, { labelSelector: 'app=ha' })).items.find((r) => r.metadata?.uid === oldAtKill?.metadata?.uid);
  expect(oldNow?.spec?.replicas).toBe(0);
  process.stdout.write(`e2e: rollout finished ${Date.now() - killedAt} ms after the controller-manager leader was killed (new leader ${now?.spec?.holderIdentity})\n`);
  await client.delete(DEPLOY, NS, 'ha');
});

test('workloads - a StatefulSet creates pods in order and keeps names and claims across pod deletion', async () => {
  await client.create(STS, {
    metadata: { name: 'db', namespace: NS },
    spec: {
      replicas: 3,
      serviceName: 'db',
      selector: { matchLabels: { app: 'db' } },
      template: { metadata: { labels: { app: 'db' } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'db', image: 'nginx', volumeMounts: [{ name: 'data', mountPath: '/data' }] }] } },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
    },
  });
  const all = await waitFor('3 ready db pods', async () => {
    const ps = await pods({ app: 'db' });
    return ps.length === 3 && ps.every(ready) ? ps : undefined;
  }, 90000);
  expect(all.map((p) => p.metadata?.name).sort()).toEqual(['db-0', 'db-1', 'db-2']);
  const created = Object.fromEntries(all.map((p) => [p.metadata!.name!, Date.parse(p.metadata!.creationTimestamp!)]));
  expect(created['db-0']).toBeLessThanOrEqual(created['db-1']);
  expect(created['db-1']).toBeLessThanOrEqual(created['db-2']);
  const claims = (await client.list(PVC, NS)).items.map((c) => c.metadata?.name).sort();
  expect(claims).toEqual(expect.arrayContaining(['data-db-0', 'data-db-1', 'data-db-2']));
  const before = all.find((p) => p.metadata?.name === 'db-1')!;
  await client.delete(POD, NS, 'db-1');
  const again = await waitFor('db-1 back', async () => {
    const p = await client.tryGet(POD, NS, 'db-1');
    return p && p.metadata?.uid !== before.metadata?.uid && ready(p) ? p : undefined;
  }, 60000);
  expect(again.spec?.volumes?.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName).toBe('data-db-1');
  expect(again.spec?.hostname).toBe('db-1');
  await client.delete(STS, NS, 'db');
});

test('workloads - a DaemonSet runs one pod per node and follows a node leaving and joining', async () => {
  await client.create(DS, {
    metadata: { name: 'agent', namespace: NS },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: { metadata: { labels: { app: 'agent' } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'a', image: 'busybox', command: ['sh', '-c', 'sleep 3600'] }] } },
    },
  });
  const nodesOf = async () => (await pods({ app: 'agent' })).filter((p) => !p.metadata?.deletionTimestamp && ready(p)).map((p) => p.spec?.nodeName).sort();
  await waitFor('an agent on every node', async () => JSON.stringify(await nodesOf()) === JSON.stringify(['node-1', 'node-2', 'node-3']), 60000);
  // node-3 leaves: its kubelet is stopped and its Node deleted.
  expectSucceeded(await cluster.pm2(['stop', 'kubelet-node-3']));
  await client.delete(NODE, '', 'node-3');
  await waitFor('agents on node-1 and node-2 only', async () => {
    const all = (await pods({ app: 'agent' })).filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.spec?.nodeName).sort();
    return JSON.stringify(all) === JSON.stringify(['node-1', 'node-2']);
  }, 60000);
  // It joins again.
  expectSucceeded(await cluster.pm2(['start', 'kubelet-node-3']));
  await waitFor('an agent on node-3 again', async () => JSON.stringify(await nodesOf()) === JSON.stringify(['node-1', 'node-2', 'node-3']), 60000);
  await client.delete(DS, NS, 'agent');
});

test('workloads - Jobs: completions 5 / parallelism 2 completes; a failing command fails after backoffLimit', async () => {
  await client.create(JOB, {
    metadata: { name: 'work', namespace: NS },
    spec: { completions: 5, parallelism: 2, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'w', image: 'busybox', command: ['sh', '-c', 'sleep 0.3'] }] } } },
  });
  await client.create(JOB, {
    metadata: { name: 'broken', namespace: NS },
    spec: { backoffLimit: 2, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'w', image: 'busybox', command: ['sh', '-c', 'exit 1'] }] } } },
  });
  let maxActive = 0;
  const done = await waitFor('job work complete', async () => {
    const j = await client.get(JOB, NS, 'work');
    maxActive = Math.max(maxActive, j.status?.active ?? 0);
    return (j.status?.conditions ?? []).some((c) => c.type === 'Complete' && c.status === 'True') ? j : undefined;
  }, 90000);
  expect(done.status?.succeeded).toBe(5);
  expect(maxActive).toBeLessThanOrEqual(2);
  const failed = await waitFor('job broken failed', async () => {
    const j = await client.get(JOB, NS, 'broken');
    return (j.status?.conditions ?? []).find((c) => c.type === 'Failed' && c.status === 'True') ? j : undefined;
  }, 120000);
  expect(failed.status?.conditions?.find((c) => c.type === 'Failed')?.reason).toBe('BackoffLimitExceeded');
  expect(failed.status?.failed).toBe(3);
});

test('workloads - a CronJob creates Jobs that complete, and trims its history', async () => {
  // `@every 4s` (robfig/cron's constant-delay schedule, which Kubernetes accepts) fires within
  // seconds; Jobs are named <cronjob>-<minutes since the epoch>, as in Kubernetes, so at most one
  // Job per minute comes of it: the second one a minute boundary later.
  await client.create(CRONJOB, {
    metadata: { name: 'tick', namespace: NS },
    spec: {
      schedule: '@every 4s',
      successfulJobsHistoryLimit: 1,
      jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 't', image: 'busybox', command: ['true'] }] } } } },
    },
  });
  const seen = new Set<string>();
  await waitFor('two Jobs created and the history trimmed to one', async () => {
    const jobs = (await client.list(JOB, NS)).items.filter((j) => j.metadata?.ownerReferences?.some((r) => r.kind === 'CronJob' && r.name === 'tick'));
    for (const j of jobs) seen.add(j.metadata!.name!);
    const done = jobs.filter((j) => (j.status?.conditions ?? []).some((c) => c.type === 'Complete' && c.status === 'True'));
    return seen.size >= 2 && jobs.length === 1 && done.length === 1;
  }, 100000);
  for (const name of seen) expect(name).toMatch(/^tick-\d+$/);
  const cj = await client.get(CRONJOB, NS, 'tick');
  expect(cj.status?.lastScheduleTime).toBeTruthy();
  expect(cj.status?.lastSuccessfulTime).toBeTruthy();
  await client.delete(CRONJOB, NS, 'tick');
});

test('workloads - a lost node: NotReady, tainted, its pods evicted and recreated elsewhere, the Deployment available again', async () => {
  await client.create(DEPLOY, deployment('spread', 'nginx', 3));
  await rolledOut('spread');
  const victimNode = (await pods({ app: 'spread' }))[0].spec!.nodeName!;
  expectSucceeded(await cluster.pm2(['stop', `kubelet-${victimNode}`]));
  const lostAt = Date.now();
  const notReadyAt = await waitFor(`${victimNode} NotReady`, async () => {
    const n = await client.get(NODE, '', victimNode);
    const ok = n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'Unknown' && (n.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/unreachable');
    return ok ? Date.now() : undefined;
  }, 60000);
  await waitFor('every spread pod on another node and available', async () => {
    const ps = (await pods({ app: 'spread' })).filter((p) => !p.metadata?.deletionTimestamp);
    return ps.length === 3 && ps.every((p) => p.spec?.nodeName !== victimNode && ready(p));
  }, 120000);
  await rolledOut('spread', 60000);
  const recoveredAt = Date.now();
  process.stdout.write(`e2e: node ${victimNode} lost: NotReady after ${notReadyAt - lostAt} ms, pods recreated elsewhere and the Deployment available after ${recoveredAt - lostAt} ms\n`);
  // It comes back: Ready, untainted.
  expectSucceeded(await cluster.pm2(['start', `kubelet-${victimNode}`]));
  await waitFor(`${victimNode} Ready and untainted`, async () => {
    const n = await client.get(NODE, '', victimNode);
    return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' && !(n.spec?.taints ?? []).some((t) => (t.key ?? '').startsWith('node.kubernetes.io/'));
  }, 60000);
  await client.delete(DEPLOY, NS, 'spread');
});

test('workloads - deleting a namespace removes everything in it', async () => {
  await client.create(NAMESPACE, { metadata: { name: 'scratch' } });
  await client.create(CONFIGMAP, { metadata: { name: 'cfg', namespace: 'scratch' }, data: { a: 'b' } });
  await client.create(DEPLOY, { ...deployment('tmp', 'nginx', 2), metadata: { name: 'tmp', namespace: 'scratch' } });
  await waitFor('tmp pods', async () => (await pods({ app: 'tmp' }, 'scratch')).length === 2);
  await client.delete(NAMESPACE, '', 'scratch');
  await waitFor('namespace scratch gone', async () => {
    try {
      await client.get(NAMESPACE, '', 'scratch');
      return undefined;
    } catch (err) {
      return isReason(err, 'NotFound');
    }
  }, 90000);
  expect((await client.list(POD, 'scratch')).items).toHaveLength(0);
});
