/**
 * Watch bus behaviour against a real etcd, nats-server and apiserver: subject filtering (a node
 * receives only its pods, a namespaced watcher only its namespace), DELETED events, resuming from
 * a revision, and the "too old" answer that makes an informer relist.
 */
import { Etcd3 } from 'etcd3';
import { headers, JetStreamManager, NatsConnection } from 'nats';
import { ApiClient } from '../../services/lib/apiclient';
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { Informer } from '../../services/lib/informer';
import { LeaderElector } from '../../services/lib/leaderelection';
import { objectKey, resourceForCase } from '../../services/lib/resources';
import { connectBus, REVISION_HEADER, sequenceAfterRevision, WatchExpiredError } from '../../services/lib/watchbus';
import { startTestApiServer, TestApiServer } from '../contract/env';

jest.setTimeout(120000);

const POD = resourceForCase('pod');
const NS = resourceForCase('namespace');
const CM = resourceForCase('configMap');

let env: TestApiServer;
let client: ApiClient;
let nc: NatsConnection;

beforeAll(async () => {
  env = await startTestApiServer();
  client = new ApiClient([env.address]);
  nc = await connectBus(env.natsUrls, 'watch-filters-test');
  for (const name of ['team-a', 'team-b']) await client.create(NS, { metadata: { name } });
});

afterAll(async () => {
  await nc?.close();
  client?.close();
  await env?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

const pod = (name: string, ns = 'team-a'): Pod => ({ metadata: { name, namespace: ns }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });

test('watch filters - a node informer sees only its own pods, with their deletion', async () => {
  const seen: string[] = [];
  const informer = new Informer({ client, nats: nc, info: POD, nodeName: 'node-1' });
  informer.addHandlers({ onAdd: (p) => seen.push(`add ${objectKey(p)}`), onDelete: (p) => seen.push(`delete ${objectKey(p)}`) });
  await informer.start();
  await client.create(POD, pod('mine'));
  await client.create(POD, pod('theirs'));
  await client.create(POD, pod('unscheduled'));
  await client.bind('team-a', 'mine', 'node-1');
  await client.bind('team-a', 'theirs', 'node-2');
  await until(() => seen.includes('add team-a/mine'));
  await client.delete(POD, 'team-a', 'mine', { gracePeriodSeconds: 0 });
  await until(() => seen.includes('delete team-a/mine'));
  await sleep(300);
  expect(seen).toEqual(['add team-a/mine', 'delete team-a/mine']);
  expect(informer.list()).toEqual([]);
  await informer.stop();
});

test('watch filters - a namespaced informer sees only its namespace; resourceVersion is stamped from the revision', async () => {
  const informer = new Informer({ client, nats: nc, info: CM, namespace: 'team-b' });
  const names: string[] = [];
  informer.addHandlers({ onAdd: (c) => names.push(objectKey(c)) });
  await informer.start();
  await client.create(CM, { metadata: { name: 'x', namespace: 'team-a' } });
  const created = await client.create(CM, { metadata: { name: 'y', namespace: 'team-b' } });
  await until(() => names.includes('team-b/y'));
  await sleep(300);
  expect(names).toEqual(['team-b/y']);
  expect(informer.get('team-b/y')?.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
  expect(informer.get('team-b/y')?.kind).toBe('ConfigMap');
  await informer.stop();
});

test('watch filters - an informer started after changes lists them, then follows from its list revision', async () => {
  await client.create(CM, { metadata: { name: 'before', namespace: 'team-a' } });
  const informer = new Informer({ client, nats: nc, info: CM, namespace: 'team-a' });
  const events: string[] = [];
  informer.addHandlers({ onAdd: (c) => events.push(`add ${c.metadata?.name}`), onUpdate: (_o, n) => events.push(`update ${n.metadata?.name}`) });
  await informer.start();
  const before = await client.get(CM, 'team-a', 'before');
  await client.update(CM, { ...before, data: { v: '2' } });
  await until(() => events.includes('update before'));
  expect(events.filter((e) => e === 'add before')).toHaveLength(1);
  expect(informer.lists).toBe(1);
  await informer.stop();
});

test('watch filters - an informer resumes after NATS restarts, missing nothing and without relisting', async () => {
  await client.create(NS, { metadata: { name: 'team-c' } });
  const informer = new Informer({ client, nats: nc, info: CM, namespace: 'team-c' });
  const names: string[] = [];
  informer.addHandlers({ onAdd: (c) => names.push(c.metadata!.name!) });
  await informer.start();
  await client.create(CM, { metadata: { name: 'before', namespace: 'team-c' } });
  await until(() => names.includes('before'));
  await env.nats.servers[0].kill('SIGKILL');
  // Written while NATS is down: committed in etcd, published when NATS is back.
  await client.create(CM, { metadata: { name: 'during', namespace: 'team-c' } });
  await sleep(500);
  await env.nats.servers[0].start();
  await client.create(CM, { metadata: { name: 'after', namespace: 'team-c' } });
  await until(() => names.includes('after'), 30000);
  expect(names).toEqual(['before', 'during', 'after']);
  expect(informer.lists).toBe(1);
  await informer.stop();
});

test('watch filters - resuming from a revision whose history was trimmed is "too old" (relist)', async () => {
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream();
  const stream = 'TRIM_TEST';
  await jsm.streams.add({ name: stream, subjects: ['trimtest.>'] });
  for (let rev = 101; rev <= 110; rev++) {
    const h = headers();
    h.set(REVISION_HEADER, String(rev));
    await js.publish('trimtest.x', new Uint8Array(), { headers: h });
  }
  // sequenceAfterRevision reads the watch stream; point it at the test stream by name.
  const seqAfter = (rev: number) => sequenceAfterRevisionOf(jsm, stream, rev);
  expect(await seqAfter(100)).toBe(1);
  expect(await seqAfter(104)).toBe(5);
  expect(await seqAfter(110)).toBe(11);
  await jsm.streams.purge(stream, { keep: 5 });
  await expect(seqAfter(100)).rejects.toThrow(WatchExpiredError);
  expect(await seqAfter(105)).toBe(6);
});

test('leader election through the apiserver - one leader, a standby takes over when it steps down', async () => {
  const make = (identity: string, log: string[]) =>
    new LeaderElector(client, {
      namespace: 'kube-system',
      name: 'test-controller',
      identity,
      leaseDurationSeconds: 2,
      renewDeadlineSeconds: 1.5,
      retryPeriodSeconds: 0.2,
      onStartedLeading: () => void log.push(`${identity} leads`),
    });
  const log: string[] = [];
  const a = make('a', log);
  const b = make('b', log);
  a.run();
  await until(() => a.isLeader);
  b.run();
  await sleep(600);
  expect(b.isLeader).toBe(false);
  const lease = await client.get(resourceForCase('lease'), 'kube-system', 'test-controller');
  expect(lease.spec?.holderIdentity).toBe('a');
  expect(lease.spec?.renewTime).toMatch(/\.\d{6}Z$/);
  await a.stop();
  await until(() => b.isLeader, 3000);
  expect(log).toEqual(['a leads', 'b leads']);
  await b.stop();
});

/** The same search as informers use, over the test stream instead of the watch stream. */
async function sequenceAfterRevisionOf(jsm: JetStreamManager, stream: string, revision: number): Promise<number> {
  return sequenceAfterRevision(jsm, revision, stream);
}

describe('etcd compaction', () => {
  test('compaction - history is compacted only up to what the publisher has published; informers are unaffected', async () => {
    // A fresh environment whose apiserver compacts every second while it publishes.
    await env.stop();
    env = await startTestApiServer({ KUBEMU_COMPACTION_INTERVAL_SECONDS: '1' });
    client.close();
    client = new ApiClient([env.address]);
    await nc.close();
    nc = await connectBus(env.natsUrls, 'compaction-test');
    await client.create(NS, { metadata: { name: 'compact' } });
    const informer = new Informer({ client, nats: nc, info: CM, namespace: 'compact' });
    const names: string[] = [];
    informer.addHandlers({ onAdd: (c) => names.push(c.metadata!.name!) });
    await informer.start();
    const first = await client.create(CM, { metadata: { name: 'c0', namespace: 'compact' } });
    for (let i = 1; i < 20; i++) await client.create(CM, { metadata: { name: `c${i}`, namespace: 'compact' } });
    const etcd = new Etcd3({ hosts: env.etcdEndpoints });
    try {
      // Two compaction rounds: the first remembers the revision, the second compacts up to it.
      const firstRevision = Number(first.metadata!.resourceVersion);
      let compacted = false;
      for (const until = Date.now() + 15000; !compacted && Date.now() < until; ) {
        await sleep(500);
        compacted = await etcd
          .get('/registry/configmaps/compact/c0')
          .revision(firstRevision)
          .exec()
          .then(() => false, (err: Error) => /compacted/.test(err.message));
      }
      expect(compacted).toBe(true);
      await until(() => names.length === 20);
      // With NATS down nothing is published: compaction must stop short of the unpublished
      // changes, so that the publisher can still publish them (without a new stream, which would
      // make the informer relist).
      await env.nats.servers[0].kill('SIGKILL');
      for (let i = 0; i < 10; i++) await client.create(CM, { metadata: { name: `down${i}`, namespace: 'compact' } });
      await sleep(3500);
      await env.nats.servers[0].start();
      await until(() => names.includes('down9'), 30000);
      expect(names.filter((n) => n.startsWith('down'))).toEqual(Array.from({ length: 10 }, (_, i) => `down${i}`));
      expect(informer.lists).toBe(1);
    } finally {
      etcd.close();
      await informer.stop();
    }
  });
});
