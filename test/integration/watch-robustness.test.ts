/**
 * Watch robustness: concurrent writers and many informers over a real 3-member etcd, a 3-server
 * NATS JetStream cluster and two apiserver processes; a NATS server is killed and restarted and an
 * apiserver replica is killed mid-stream. Every informer's cache must end equal to etcd, and every
 * informer must have seen each object's revisions in increasing order, each at most once.
 */
import { JetStreamManager, NatsConnection } from 'nats';
import { ApiClient } from '../../services/lib/apiclient';
import { ApiError } from '../../services/lib/errors';
import { ConfigMap } from '../../services/lib/generated/kubemu/core/v1/core';
import { Informer } from '../../services/lib/informer';
import { objectKey, resourceForCase } from '../../services/lib/resources';
import { connectBus, REVISION_HEADER, WATCH_STREAM } from '../../services/lib/watchbus';
import { startApiserver, startEtcdCluster, startNats } from '../harness';

jest.setTimeout(240000);

const CM = resourceForCase('configMap');
const NS = resourceForCase('namespace');

interface Watcher {
  informer: Informer<'configMap'>;
  /** Revisions seen per object key, in handler order. */
  seen: Map<string, number[]>;
  violations: string[];
}

test('watch robustness - informers stay exact through a NATS server and an apiserver dying', async () => {
  const etcd = await startEtcdCluster({ members: 3 });
  const nats = await startNats({ servers: 3 });
  const api = [
    await startApiserver({ etcd, nats, id: 'kube-apiserver-0', jetstreamReplicas: 3 }),
    await startApiserver({ etcd, nats, id: 'kube-apiserver-1', jetstreamReplicas: 3 }),
  ];
  const conns: NatsConnection[] = [];
  const client = new ApiClient(api.map((a) => a.address), { retryForMs: 30000 });
  const watchers: Watcher[] = [];
  try {
    for (const ns of ['robust-a', 'robust-b']) await client.create(NS, { metadata: { name: ns } });

    for (let i = 0; i < 8; i++) {
      const nc = await connectBus(nats.urls, `watcher-${i}`);
      conns.push(nc);
      const informer = new Informer({ client, nats: nc, info: CM, namespace: i % 2 === 0 ? undefined : 'robust-a' });
      const w: Watcher = { informer, seen: new Map(), violations: [] };
      const record = (obj: ConfigMap, kind: string) => {
        const key = objectKey(obj);
        const rv = Number(obj.metadata?.resourceVersion);
        const list = w.seen.get(key) ?? [];
        if (list.length && rv <= list[list.length - 1]) w.violations.push(`${kind} ${key}: revision ${rv} after ${list[list.length - 1]}`);
        list.push(rv);
        w.seen.set(key, list);
      };
      informer.addHandlers({ onAdd: (o) => record(o, 'add'), onUpdate: (_o, n) => record(n, 'update'), onDelete: (o) => record(o, 'delete') });
      await informer.start();
      watchers.push(w);
    }

    // Writers: create, update and delete configmaps in two namespaces for a while.
    let writing = true;
    let writes = 0;
    let failures = 0;
    const failureMessages: string[] = [];
    const unexpected: string[] = [];
    const writer = async (id: number) => {
      let n = 0;
      while (writing) {
        const ns = n % 3 === 0 ? 'robust-b' : 'robust-a';
        const name = `w${id}-${n % 25}`;
        try {
          const existing = await client.tryGet(CM, ns, name);
          if (!existing) await client.create(CM, { metadata: { name, namespace: ns }, data: { n: String(n) } });
          else if (n % 7 === 0) await client.delete(CM, ns, name);
          else await client.update(CM, { ...existing, data: { n: String(n) } });
          writes++;
        } catch (err) {
          failures++;
          if (failureMessages.length < 5) failureMessages.push((err as Error).message);
          // A write that was in flight when its apiserver died may have committed: its retry on the
          // other replica can answer Conflict or AlreadyExists. Anything else is a failed failover.
          if (!(err instanceof ApiError && (err.reason === 'Conflict' || err.reason === 'AlreadyExists' || err.reason === 'NotFound'))) unexpected.push((err as Error).message);
        }
        n++;
      }
    };
    const writers = [0, 1, 2, 3].map(writer);

    await sleep(3000);
    await nats.servers[1].kill('SIGKILL');
    await sleep(3000);
    await nats.servers[1].start();
    await sleep(2000);
    // Kill the replica that holds the watch publisher lease, so the publisher fails over mid-stream.
    const lease = await client.get(resourceForCase('lease'), 'kube-system', 'kube-apiserver-watch-publisher');
    const publisher = api.find((a) => a.name === lease.spec?.holderIdentity);
    expect(publisher).toBeDefined();
    await publisher!.kill('SIGKILL');
    await sleep(4000);
    writing = false;
    await Promise.all(writers);
    expect(writes).toBeGreaterThan(100);
    // The client failed over: no request surfaced the apiserver's death.
    expect(unexpected).toEqual([]);

    // Every informer converges on etcd's content.
    const truth = await client.list(CM, '');
    const target = Number(truth.resourceVersion);
    // An informer sees only its resource (and namespace), so its revision need not reach the
    // list's (a lease renewal may be last); it has converged when its cache equals etcd's content.
    const cacheOf = (w: Watcher) => Object.fromEntries(w.informer.list().map((o) => [objectKey(o), o.metadata?.resourceVersion]));
    const expectedFor = (i: number) =>
      Object.fromEntries(
        truth.items.filter((o) => i % 2 === 0 || o.metadata?.namespace === 'robust-a').map((o) => [objectKey(o), o.metadata?.resourceVersion]),
      );
    const same = (a: object, b: object) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
    const convergeStart = Date.now();
    const deadline = Date.now() + 60000;
    for (const [i, w] of watchers.entries()) {
      while (!same(cacheOf(w), expectedFor(i)) && Date.now() < deadline) await sleep(50);
    }
    const convergeMs = Date.now() - convergeStart;
    for (const [i, w] of watchers.entries()) {
      expect({ watcher: i, cache: cacheOf(w) }).toEqual({ watcher: i, cache: expectedFor(i) });
      expect(w.violations).toEqual([]);
    }
    // The stream itself: one message per change, in revision order, none repeated, despite the
    // publisher's failover.
    const jsm = await conns[0].jetstreamManager();
    const lastRevisionInStream = async () => {
      const last = (await jsm.streams.info(WATCH_STREAM)).state.last_seq;
      return Number((await jsm.streams.getMessage(WATCH_STREAM, { seq: last })).header.get(REVISION_HEADER));
    };
    for (const until = Date.now() + 10000; (await lastRevisionInStream()) < target && Date.now() < until; ) await sleep(50);
    const { disorder, lastRevision } = await auditStream(jsm);
    expect(disorder).toEqual([]);
    // Every change up to the list's revision is in the stream (lease renewals may have followed).
    expect(lastRevision).toBeGreaterThanOrEqual(target);

    console.log(`watch robustness: ${writes} writes (${failures} failed and were retried by the writer: ${JSON.stringify(failureMessages)}), ${watchers.length} informers, relists: ${watchers.map((w) => w.informer.lists - 1).join(',')}, caught up ${convergeMs} ms after the writers stopped`);
  } finally {
    for (const w of watchers) await w.informer.stop();
    for (const c of conns) await c.close().catch(() => undefined);
    client.close();
    for (const a of api) await a.stop().catch(() => undefined);
    await nats.stop();
    await etcd.stop();
  }
});

/** Reads the whole watch stream: repeated message ids and revisions going backwards, and the last revision. */
async function auditStream(jsm: JetStreamManager): Promise<{ disorder: string[]; lastRevision: number }> {
  const info = await jsm.streams.info(WATCH_STREAM);
  const ids = new Set<string>();
  let lastRevision = 0;
  const disorder: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(WATCH_STREAM, { seq });
    const id = m.header.get('Nats-Msg-Id');
    const rev = Number(m.header.get(REVISION_HEADER));
    if (ids.has(id)) disorder.push(`duplicate ${id} at ${seq}`);
    if (rev < lastRevision) disorder.push(`revision ${rev} after ${lastRevision} at ${seq}`);
    ids.add(id);
    lastRevision = rev;
  }
  return { disorder, lastRevision };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

test('watch robustness - a frozen publisher that wakes after losing its lease neither repeats nor reorders the stream', async () => {
  const etcd = await startEtcdCluster({ members: 1 });
  const nats = await startNats({ servers: 1 });
  const api = [
    await startApiserver({ etcd, nats, id: 'kube-apiserver-0' }),
    await startApiserver({ etcd, nats, id: 'kube-apiserver-1' }),
  ];
  const client = new ApiClient(api.map((a) => a.address), { retryForMs: 30000 });
  const nc = await connectBus(nats.urls, 'frozen-publisher-test');
  try {
    await client.create(NS, { metadata: { name: 'frozen' } });
    const informer = new Informer({ client, nats: nc, info: CM, namespace: 'frozen' });
    const seen: number[] = [];
    informer.addHandlers({ onAdd: (o) => seen.push(Number(o.metadata?.resourceVersion)), onUpdate: (_o, n) => seen.push(Number(n.metadata?.resourceVersion)) });
    await informer.start();
    const holder = (await client.get(resourceForCase('lease'), 'kube-system', 'kube-apiserver-watch-publisher')).spec?.holderIdentity;
    const frozen = api.find((a) => a.name === holder)!;
    const other = api.find((a) => a !== frozen)!;
    // Talk to the replica that stays awake: this test is about the stream, not client failover.
    const otherClient = new ApiClient([other.address], { retryForMs: 30000 });
    const lease = () => otherClient.get(resourceForCase('lease'), 'kube-system', 'kube-apiserver-watch-publisher');
    let n = 0;
    const write = async () => {
      await otherClient.create(CM, { metadata: { name: `f${n}`, namespace: 'frozen' } });
      n++;
    };
    for (let i = 0; i < 20; i++) await write();
    frozen.pause();
    // Writes while the publisher is frozen: it may have received their etcd events but cannot act.
    for (let i = 0; i < 20; i++) await write();
    // The standby takes the lease after its duration (demo profile: 4 s) and publishes.
    for (const until = Date.now() + 20000; (await lease()).spec?.holderIdentity === holder && Date.now() < until; ) await sleep(200);
    expect((await lease()).spec?.holderIdentity).toBe(other.name);
    for (let i = 0; i < 20; i++) await write();
    frozen.resume();
    for (let i = 0; i < 20; i++) await write();
    await sleep(2000);
    const truth = await otherClient.list(CM, 'frozen');
    const deadline = Date.now() + 20000;
    while (informer.list().length < truth.items.length && Date.now() < deadline) await sleep(100);
    expect(informer.list().map((o) => o.metadata?.name).sort()).toEqual(truth.items.map((o) => o.metadata?.name).sort());
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(new Set(seen).size).toBe(seen.length);

    const jsm = await nc.jetstreamManager();
    const { disorder } = await auditStream(jsm);
    expect(disorder).toEqual([]);
    await informer.stop();
    otherClient.close();
  } finally {
    await nc.close().catch(() => undefined);
    client.close();
    for (const a of api) {
      a.resume();
      await a.stop().catch(() => undefined);
    }
    await nats.stop();
    await etcd.stop();
  }
});

test('client failover - a hung apiserver replica costs requests seconds, never an error', async () => {
  const etcd = await startEtcdCluster({ members: 1 });
  const nats = await startNats({ servers: 1 });
  const api = [await startApiserver({ etcd, nats, id: 'kube-apiserver-0' }), await startApiserver({ etcd, nats, id: 'kube-apiserver-1' })];
  const client = new ApiClient(api.map((a) => a.address));
  try {
    await client.create(NS, { metadata: { name: 'hung' } });
    api[0].pause();
    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = Date.now();
      await client.create(CM, { metadata: { name: `h${i}`, namespace: 'hung' } });
      await client.get(CM, 'hung', `h${i}`);
      latencies.push(Date.now() - t0);
    }
    console.log(`client failover: with one replica frozen, request pairs took ${latencies.join(', ')} ms`);
    expect((await client.list(CM, 'hung')).items).toHaveLength(10);
  } finally {
    client.close();
    api[0].resume();
    for (const a of api) await a.stop().catch(() => undefined);
    await nats.stop();
    await etcd.stop();
  }
});
