/**
 * The controller-manager's leadership against a real etcd, nats-server and apiserver: a leader
 * woken after its renew deadline (as from SIGSTOP, by a clock jump) makes no write through its
 * controllers, even before its renewal timer fires, and reports the lost leadership.
 */
import { NatsConnection } from 'nats';
import { ApiClient } from '../../services/lib/apiclient';
import { logger } from '../../services/lib/log';
import { resourceForCase } from '../../services/lib/resources';
import { connectBus } from '../../services/lib/watchbus';
import { loadProfile } from '../../services/lib/config';
import { ControllerManager } from '../../services/kube-controller-manager/manager';
import { leaderFencedClient, NotLeaderError } from '../../services/lib/leaderelection';
import { replicaSetController } from '../../services/kube-controller-manager/replicaset/replicaset';
import { makeTempDir, removeTempDir } from '../harness';
import { startTestApiServer, TestApiServer } from '../contract/env';
import { waitFor } from '../harness/wait';

jest.setTimeout(60000);

const RS = resourceForCase('replicaSet');
const POD = resourceForCase('pod');
const NS = 'default';

let env: TestApiServer;
let client: ApiClient;
let nats: NatsConnection;
let stateDir: string;

beforeAll(async () => {
  env = await startTestApiServer();
  client = new ApiClient([env.address]);
  nats = await connectBus(env.natsUrls, 'kcm-leader-test');
  stateDir = makeTempDir('kcm-leader');
});

afterAll(async () => {
  await nats?.close();
  client?.close();
  await env?.stop();
  if (stateDir) removeTempDir(stateDir);
});

const replicaSet = (name: string, replicas: number) => ({
  metadata: { name, namespace: NS },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
  },
});

test('controller-manager - the fenced client refuses writes once this replica no longer leads, and passes reads', async () => {
  let leading = true;
  const fenced = leaderFencedClient(client, () => leading);
  expect(fenced).toBeInstanceOf(ApiClient);
  await fenced.create(RS, replicaSet('fenced', 0));
  leading = false;
  await expect(fenced.create(RS, replicaSet('refused', 0))).rejects.toBeInstanceOf(NotLeaderError);
  await expect(fenced.delete(RS, NS, 'fenced')).rejects.toBeInstanceOf(NotLeaderError);
  expect((await fenced.get(RS, NS, 'fenced')).metadata?.name).toBe('fenced');
  expect(await client.tryGet(RS, NS, 'refused')).toBeUndefined();
});

test('controller-manager - a leader woken after its renew deadline makes no write, even before its next lease renewal', async () => {
  // A long retry period: the renewal timer does not fire during the test, so only the fence
  // before each write can keep the deposed leader's controllers from acting.
  const timings = { ...loadProfile('demo').timings, leaderLeaseDurationSeconds: 60, leaderRenewDeadlineSeconds: 45, leaderRetryPeriodSeconds: 30 };
  let offset = 0;
  let lost = 0;
  const manager = new ControllerManager({
    client,
    nats,
    identity: 'kube-controller-manager-frozen',
    timings,
    stateDir,
    log: logger('kube-controller-manager', { id: 'kube-controller-manager-frozen' }),
    controllers: [replicaSetController],
    now: () => Date.now() + offset,
    onLostLeadership: () => void lost++,
  });
  manager.start();
  try {
    await manager.ready();
    expect(manager.isLeader).toBe(true);
    await client.create(RS, replicaSet('before-freeze', 1));
    await waitFor('the leader to create the pod', async () => (await client.list(POD, NS, { labelSelector: 'app=before-freeze' })).items.length === 1, 15000);

    // As if SIGSTOPped past the lease and woken by SIGCONT: its clock jumped past the deadline.
    offset = (timings.leaderLeaseDurationSeconds + 1) * 1000;
    await client.create(RS, replicaSet('after-wake', 2));
    await waitFor('the woken leader to report the lost leadership', async () => lost === 1, 10000);
    await new Promise((r) => setTimeout(r, 1000)); // absence of a write can only be observed over some time
    expect((await client.list(POD, NS, { labelSelector: 'app=after-wake' })).items).toHaveLength(0);
    expect(manager.isLeader).toBe(false);
  } finally {
    await manager.stop();
  }
});
