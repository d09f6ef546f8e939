/**
 * The ReplicaSet controller against a real etcd, nats-server and apiserver, with the scheduler
 * and three simulated nodes in process: a ReplicaSet adopts a matching orphan and creates the
 * rest, reports its status, releases a pod whose labels stop matching (and replaces it), scales
 * up and down, and records Kubernetes' events.
 */
import { ReplicaSet } from '../../services/lib/generated/kubemu/apps/v1/apps';
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { ControllerDescriptor } from '../../services/kube-controller-manager/context';
import { replicaSetController } from '../../services/kube-controller-manager/replicaset/replicaset';
import { startWorkloadEnv, WorkloadEnv } from './workload-env';

jest.setTimeout(60000);

const RS = resourceForCase('replicaSet');
const POD = resourceForCase('pod');
const EVENT = resourceForCase('event');
const NS = 'default';

let env: WorkloadEnv;

/**
 * A controller after ours asking for the pod informer with an indexer of its own (as the
 * daemonset and node lifecycle controllers do): the ReplicaSet controller must still follow pods.
 */
const laterIndexer: ControllerDescriptor = {
  name: 'later-indexer',
  create(ctx) {
    ctx.informers.informer('pod', { 'test:byNode': (p) => [p.spec?.nodeName ?? ''] });
    return { run: () => ({ stop: async () => undefined }) };
  },
};

beforeAll(async () => {
  env = await startWorkloadEnv({ controllers: [replicaSetController, laterIndexer] });
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

const podsWith = async (app: string): Promise<Pod[]> =>
  (await env.client.list(POD, NS, { labelSelector: `app=${app}` })).items.filter((p) => !p.metadata?.deletionTimestamp);
const ownedBy = (pods: Pod[], rs: ReplicaSet) => pods.filter((p) => (p.metadata?.ownerReferences ?? []).some((r) => r.controller && r.uid === rs.metadata?.uid));

const container = { name: 'web', image: 'nginx' };

test('replicaset - adopts an orphan, creates the rest and reports status', async () => {
  const orphan = await env.client.create(POD, { metadata: { name: 'orphan-1', namespace: NS, labels: { app: 'adopt' } }, spec: { containers: [container] } });
  const rs = await env.client.create(RS, {
    metadata: { name: 'adopt', namespace: NS },
    spec: { replicas: 3, selector: { matchLabels: { app: 'adopt' } }, template: { metadata: { labels: { app: 'adopt' } }, spec: { containers: [container] } } },
  });
  const pods = await until('3 pods owned by the ReplicaSet', async () => {
    const owned = ownedBy(await podsWith('adopt'), rs);
    return owned.length === 3 ? owned : undefined;
  });
  expect(pods.map((p) => p.metadata?.name)).toContain('orphan-1');
  const adopted = pods.find((p) => p.metadata?.uid === orphan.metadata?.uid)!;
  expect(adopted.metadata?.ownerReferences).toEqual([
    { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'adopt', uid: rs.metadata?.uid, controller: true, blockOwnerDeletion: true },
  ]);
  for (const p of pods.filter((p) => p.metadata?.name !== 'orphan-1')) expect(p.metadata?.name).toMatch(/^adopt-[a-z0-9]{5}$/);

  const status = await until('status 3/3 ready and available', async () => {
    const cur = await env.client.get(RS, NS, 'adopt');
    const s = cur.status;
    return s?.replicas === 3 && s.readyReplicas === 3 && s.availableReplicas === 3 && s.fullyLabeledReplicas === 3 ? cur : undefined;
  });
  expect(status.status?.observedGeneration).toBe(status.metadata?.generation);
  // Two creations, never a third: the expectations held while the informer caught up.
  const events = await until('2 SuccessfulCreate events', async () => {
    const evs = (await env.client.list(EVENT, NS)).items.filter((e) => e.involvedObject?.uid === rs.metadata?.uid && e.reason === 'SuccessfulCreate');
    return evs.length >= 2 ? evs : undefined;
  });
  expect(events).toHaveLength(2);
  for (const e of events) {
    expect(e.message).toMatch(/^Created pod: adopt-[a-z0-9]{5}$/);
    expect(e.source?.component).toBe('replicaset-controller');
  }
});

test('replicaset - releases a pod whose labels stop matching and replaces it', async () => {
  const rs = await env.client.get(RS, NS, 'adopt');
  const victim = ownedBy(await podsWith('adopt'), rs)[0];
  await env.client.patch(POD, NS, victim.metadata!.name!, { metadata: { labels: { app: 'released' } } });
  await until('the released pod has no controller', async () => {
    const p = await env.client.get(POD, NS, victim.metadata!.name!);
    return !(p.metadata?.ownerReferences ?? []).some((r) => r.controller) ? p : undefined;
  });
  await until('3 owned pods again', async () => {
    const owned = ownedBy(await podsWith('adopt'), rs);
    return owned.length === 3 && !owned.some((p) => p.metadata?.uid === victim.metadata?.uid) ? owned : undefined;
  });
});

test('replicaset - scales up to 5 and down to 1, deleting with events', async () => {
  const rs = await env.client.get(RS, NS, 'adopt');
  await env.client.patch(RS, NS, 'adopt', { spec: { replicas: 5 } });
  await until('5 ready replicas', async () => {
    const cur = await env.client.get(RS, NS, 'adopt');
    return cur.status?.readyReplicas === 5 && cur.status.replicas === 5 && (await podsWith('adopt')).length === 5 ? cur : undefined;
  });
  await env.client.patch(RS, NS, 'adopt', { spec: { replicas: 1 } });
  const cur = await until('1 replica', async () => {
    const c = await env.client.get(RS, NS, 'adopt');
    return c.status?.replicas === 1 && c.status.availableReplicas === 1 && (await podsWith('adopt')).length === 1 ? c : undefined;
  });
  expect(cur.status?.observedGeneration).toBe(cur.metadata?.generation);
  const deletes = await until('4 SuccessfulDelete events', async () => {
    const evs = (await env.client.list(EVENT, NS)).items.filter((e) => e.involvedObject?.uid === rs.metadata?.uid && e.reason === 'SuccessfulDelete');
    return evs.length >= 4 ? evs : undefined;
  });
  expect(deletes).toHaveLength(4);
  for (const e of deletes) expect(e.message).toMatch(/^Deleted pod: /);
  // Scaling to zero leaves nothing.
  await env.client.patch(RS, NS, 'adopt', { spec: { replicas: 0 } });
  await until('0 pods', async () => ((await podsWith('adopt')).length === 0 ? true : undefined));
});
