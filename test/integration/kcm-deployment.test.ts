/**
 * The Deployment controller (with the ReplicaSet controller) against a real etcd, nats-server and
 * apiserver, the scheduler and three simulated nodes in process: a Deployment becomes available
 * with the status `kubectl rollout status` reads; an image change rolls out within maxSurge and
 * maxUnavailable at every sample; a rollback reuses the first ReplicaSet; scaling; old revisions
 * cleaned up past revisionHistoryLimit; Recreate empties the old ReplicaSet before the new one
 * starts; a paused deployment does not roll (but scales); an unschedulable template exceeds its
 * progress deadline.
 */
import { Deployment, ReplicaSet } from '../../services/lib/generated/kubemu/apps/v1/apps';
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { deploymentController } from '../../services/kube-controller-manager/deployment/deployment';
import { replicaSetController } from '../../services/kube-controller-manager/replicaset/replicaset';
import { startWorkloadEnv, WorkloadEnv } from './workload-env';

jest.setTimeout(60000);

const DEPLOY = resourceForCase('deployment');
const RS = resourceForCase('replicaSet');
const POD = resourceForCase('pod');
const EVENT = resourceForCase('event');
const NS = 'default';

let env: WorkloadEnv;

beforeAll(async () => {
  env = await startWorkloadEnv({ controllers: [replicaSetController, deploymentController] });
});

afterAll(async () => {
  await env?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 20000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(50);
  }
}

function deployment(name: string, replicas: number, image: string, extra: Partial<NonNullable<Deployment['spec']>> = {}): Deployment {
  return {
    metadata: { name, namespace: NS },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image }] } },
      ...extra,
    },
  };
}

const isReady = (p: Pod) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const livePods = async (app: string) => (await env.client.list(POD, NS, { labelSelector: `app=${app}` })).items.filter((p) => !p.metadata?.deletionTimestamp);
const replicaSetsOf = async (d: Deployment): Promise<ReplicaSet[]> =>
  (await env.client.list(RS, NS)).items.filter((rs) => (rs.metadata?.ownerReferences ?? []).some((r) => r.controller && r.uid === d.metadata?.uid));
const cond = (d: Deployment, type: string) => (d.status?.conditions ?? []).find((c) => c.type === type);

/** What `kubectl rollout status` waits for: the generation observed and every replica updated and available. */
async function rolledOut(name: string, replicas: number, ms = 20000): Promise<Deployment> {
  return until(`${name} rolled out with ${replicas} replicas`, async () => {
    const d = await env.client.get(DEPLOY, NS, name);
    const s = d.status ?? {};
    const done =
      (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
      (s.updatedReplicas ?? 0) === replicas &&
      (s.replicas ?? 0) === replicas &&
      (s.availableReplicas ?? 0) === replicas &&
      cond(d, 'Progressing')?.reason === 'NewReplicaSetAvailable';
    return done ? d : undefined;
  }, ms);
}

test('deployment - a Deployment of 3 becomes available with the status rollout status reads', async () => {
  await env.client.create(DEPLOY, deployment('web', 3, 'nginx:1'));
  const d = await rolledOut('web', 3);
  expect(d.status?.readyReplicas).toBe(3);
  expect(d.status?.unavailableReplicas ?? 0).toBe(0);
  expect(cond(d, 'Available')).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' });
  const [rs] = await replicaSetsOf(d);
  const hash = rs.metadata?.labels?.['pod-template-hash'];
  expect(hash).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
  expect(rs.metadata?.name).toBe(`web-${hash}`);
  expect(rs.spec?.selector?.matchLabels).toEqual({ app: 'web', 'pod-template-hash': hash });
  expect(rs.spec?.template?.metadata?.labels).toEqual({ app: 'web', 'pod-template-hash': hash });
  expect(rs.metadata?.annotations).toMatchObject({
    'deployment.kubernetes.io/revision': '1',
    'deployment.kubernetes.io/desired-replicas': '3',
    'deployment.kubernetes.io/max-replicas': '4',
  });
  expect(cond(d, 'Progressing')).toMatchObject({ status: 'True', message: `ReplicaSet "web-${hash}" has successfully progressed.` });
  expect(d.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('1');
  for (const p of await livePods('web')) expect(p.metadata?.labels?.['pod-template-hash']).toBe(hash);
  const events = await until('the ScalingReplicaSet event', async () => {
    const evs = (await env.client.list(EVENT, NS)).items.filter((e) => e.involvedObject?.uid === d.metadata?.uid && e.reason === 'ScalingReplicaSet');
    return evs.length ? evs : undefined;
  });
  expect(events[0].message).toBe(`Scaled up replica set web-${hash} from 0 to 3`);
  expect(events[0].source?.component).toBe('deployment-controller');
});

test('deployment - an image change rolls out within maxSurge and maxUnavailable', async () => {
  // 3 replicas, 25%/25%: surge rounds up to 1, unavailable rounds down to 0.
  const before = await env.client.get(DEPLOY, NS, 'web');
  const violations: string[] = [];
  let samples = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const pods = await livePods('web');
      const ready = pods.filter(isReady).length;
      samples++;
      if (pods.length > 4) violations.push(`${pods.length} pods`);
      if (ready < 3) violations.push(`${ready} ready`);
      await sleep(50);
    }
  })();
  await env.client.patch(DEPLOY, NS, 'web', { spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:2' }] } } } });
  const d = await rolledOut('web', 3);
  sampling = false;
  await sampler;
  expect(samples).toBeGreaterThan(5);
  expect(violations).toEqual([]);
  expect((d.metadata?.generation ?? 0) > (before.metadata?.generation ?? 0)).toBe(true);
  const rss = await replicaSetsOf(d);
  expect(rss).toHaveLength(2);
  const newRS = rss.find((rs) => rs.spec?.template?.spec?.containers?.[0].image === 'nginx:2')!;
  const oldRS = rss.find((rs) => rs.spec?.template?.spec?.containers?.[0].image === 'nginx:1')!;
  expect(newRS.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
  expect(oldRS.spec?.replicas).toBe(0);
  expect(d.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
  const pods = await livePods('web');
  expect(pods.every((p) => p.spec?.containers?.[0].image === 'nginx:2')).toBe(true);
});

test('deployment - rolling back to the first template reuses its ReplicaSet', async () => {
  const d0 = await env.client.get(DEPLOY, NS, 'web');
  const first = (await replicaSetsOf(d0)).find((rs) => rs.spec?.template?.spec?.containers?.[0].image === 'nginx:1')!;
  await env.client.patch(DEPLOY, NS, 'web', { spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:1' }] } } } });
  const d = await rolledOut('web', 3);
  const rss = await replicaSetsOf(d);
  expect(rss).toHaveLength(2);
  const reused = rss.find((rs) => rs.metadata?.uid === first.metadata?.uid)!;
  expect(reused.spec?.replicas).toBe(3);
  expect(reused.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('3');
  expect(reused.metadata?.annotations?.['deployment.kubernetes.io/revision-history']).toBe('1');
  expect(d.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('3');
});

test('deployment - scales to 5 and then to 1', async () => {
  await env.client.patch(DEPLOY, NS, 'web', { spec: { replicas: 5 } });
  await rolledOut('web', 5);
  await until('5 pods', async () => (await livePods('web')).length === 5);
  await env.client.patch(DEPLOY, NS, 'web', { spec: { replicas: 1 } });
  const d = await rolledOut('web', 1);
  await until('1 pod', async () => (await livePods('web')).length === 1);
  const rss = await replicaSetsOf(d);
  expect(rss.map((rs) => rs.spec?.replicas).sort()).toEqual([0, 1]);
  expect(rss.find((rs) => rs.spec?.replicas === 1)?.metadata?.annotations?.['deployment.kubernetes.io/desired-replicas']).toBe('1');
});

test('deployment - old ReplicaSets beyond revisionHistoryLimit are deleted', async () => {
  await env.client.patch(DEPLOY, NS, 'web', { spec: { revisionHistoryLimit: 1, template: { spec: { containers: [{ name: 'web', image: 'nginx:3' }] } } } });
  const d = await rolledOut('web', 1);
  const rss = await until('two ReplicaSets left', async () => {
    const list = await replicaSetsOf(d);
    return list.length === 2 ? list : undefined;
  });
  // The one of revision 2 (nginx:2) was the oldest revision: it went.
  expect(rss.map((rs) => rs.spec?.template?.spec?.containers?.[0].image).sort()).toEqual(['nginx:1', 'nginx:3']);
});

test('deployment - Recreate deletes the old pods before creating new ones', async () => {
  await env.client.create(DEPLOY, deployment('recreate', 3, 'nginx:1', { strategy: { type: 'Recreate' } }));
  await rolledOut('recreate', 3);
  const mixed: string[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const pods = await livePods('recreate');
      const olds = pods.filter((p) => p.spec?.containers?.[0].image === 'nginx:1').length;
      const news = pods.length - olds;
      if (olds > 0 && news > 0) mixed.push(`${olds} old with ${news} new`);
      await sleep(50);
    }
  })();
  await env.client.patch(DEPLOY, NS, 'recreate', { spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:2' }] } } } });
  await rolledOut('recreate', 3);
  sampling = false;
  await sampler;
  expect(mixed).toEqual([]);
  expect((await livePods('recreate')).every((p) => p.spec?.containers?.[0].image === 'nginx:2')).toBe(true);
});

test('deployment - a paused deployment does not roll out, but scales, and resumes', async () => {
  await env.client.create(DEPLOY, deployment('paused', 2, 'nginx:1'));
  const d0 = await rolledOut('paused', 2);
  await env.client.patch(DEPLOY, NS, 'paused', { spec: { paused: true } });
  await until('the DeploymentPaused condition', async () => {
    const d = await env.client.get(DEPLOY, NS, 'paused');
    const c = cond(d, 'Progressing');
    return c?.reason === 'DeploymentPaused' && c.status === 'Unknown' && c.message === 'Deployment is paused' ? d : undefined;
  });
  await env.client.patch(DEPLOY, NS, 'paused', { spec: { replicas: 3, template: { spec: { containers: [{ name: 'web', image: 'nginx:2' }] } } } });
  await until('3 pods of the old template', async () => {
    const pods = await livePods('paused');
    return pods.length === 3 && pods.filter(isReady).length === 3 && pods.every((p) => p.spec?.containers?.[0].image === 'nginx:1');
  });
  await sleep(1000);
  expect(await replicaSetsOf(d0)).toHaveLength(1);
  expect((await livePods('paused')).every((p) => p.spec?.containers?.[0].image === 'nginx:1')).toBe(true);
  await env.client.patch(DEPLOY, NS, 'paused', { spec: { paused: false } });
  await rolledOut('paused', 3);
  expect((await livePods('paused')).every((p) => p.spec?.containers?.[0].image === 'nginx:2')).toBe(true);
});

test('deployment - an unschedulable template exceeds its progress deadline', async () => {
  await env.client.create(
    DEPLOY,
    deployment('stuck', 1, 'nginx:1', {
      progressDeadlineSeconds: 2,
      template: { metadata: { labels: { app: 'stuck' } }, spec: { nodeSelector: { 'no-such-label': 'x' }, containers: [{ name: 'web', image: 'nginx:1' }] } },
    }),
  );
  const d = await until('ProgressDeadlineExceeded', async () => {
    const cur = await env.client.get(DEPLOY, NS, 'stuck');
    return cond(cur, 'Progressing')?.reason === 'ProgressDeadlineExceeded' ? cur : undefined;
  }, 20000);
  const [rs] = await replicaSetsOf(d);
  expect(cond(d, 'Progressing')).toMatchObject({ status: 'False', message: `ReplicaSet "${rs.metadata?.name}" has timed out progressing.` });
  expect(cond(d, 'Available')).toMatchObject({ status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' });
  expect(d.status?.unavailableReplicas).toBe(1);
});
