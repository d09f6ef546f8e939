/**
 * The test harness starts real infrastructure that behaves like the real cluster's: these tests
 * prove it (and that a replicated etcd and JetStream survive losing one member, which the watch
 * and robustness tests rely on).
 */
import { Etcd3 } from 'etcd3';
import { connect, NatsConnection, StorageType } from 'nats';
import { startEtcdCluster, startNats } from '../harness';

/** Retries `fn` until it succeeds or `timeoutMs` passes (then rethrows its last error). */
async function eventually<T>(fn: () => Promise<T>, timeoutMs = 20000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('harness - single etcd member and single nats-server start, answer and stop without leftovers', async () => {
  const etcd = await startEtcdCluster({ members: 1 });
  const nats = await startNats({ servers: 1 });
  const pids = [etcd.members[0].pid, nats.servers[0].pid];
  try {
    expect(etcd.endpoints).toHaveLength(1);
    const client = new Etcd3({ hosts: etcd.endpoints });
    await client.put('/harness/one').value('1');
    expect(await client.get('/harness/one').string()).toBe('1');
    client.close();

    const nc = await connect({ servers: nats.urls });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'ONE', subjects: ['one.>'], storage: StorageType.File, num_replicas: 1 });
    const ack = await nc.jetstream().publish('one.x', new TextEncoder().encode('hello'));
    expect(ack.seq).toBe(1);
    await nc.close();
  } finally {
    await nats.stop();
    await etcd.stop();
  }
  expect(pids.every((pid) => pid !== undefined && !alive(pid))).toBe(true);
});

test('harness - a 3-member etcd cluster keeps accepting writes with its leader killed, and the member catches up', async () => {
  const etcd = await startEtcdCluster({ members: 3 });
  const client = new Etcd3({ hosts: etcd.endpoints, dialTimeout: 2000 });
  const pids = etcd.members.map((m) => m.pid);
  try {
    expect(etcd.endpoints).toHaveLength(3);
    await client.put('/harness/a').value('1');
    expect(await client.get('/harness/a').string()).toBe('1');

    const leader = await etcd.leader();
    expect(leader).toBeDefined();
    await leader!.kill('SIGKILL');
    expect(leader!.running).toBe(false);

    // Two of three members are a quorum: writes go on once they have elected a new leader.
    await eventually(async () => {
      await client.put('/harness/b').value('2');
    });
    expect(await eventually(() => client.get('/harness/b').string())).toBe('2');
    const newLeader = await eventually(async () => {
      const l = await etcd.leader();
      if (!l) throw new Error('no leader yet');
      return l;
    });
    expect(newLeader.name).not.toBe(leader!.name);

    // Restarted with its data, the member catches up on what it missed.
    await leader!.start();
    const direct = new Etcd3({ hosts: [leader!.clientUrl] });
    try {
      expect(await eventually(() => direct.get('/harness/b').string())).toBe('2');
    } finally {
      direct.close();
    }
  } finally {
    client.close();
    await etcd.stop();
  }
  for (const m of etcd.members) expect(m.running).toBe(false);
  expect(pids.some(alive)).toBe(false);
});

test('harness - a 3-server NATS cluster keeps a 3-replica JetStream stream working with a server killed', async () => {
  const nats = await startNats({ servers: 3 });
  let nc: NatsConnection | undefined;
  try {
    expect(nats.jetstreamReplicas).toBe(3);
    nc = await connect({ servers: nats.urls, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'HARNESS', subjects: ['harness.>'], storage: StorageType.File, num_replicas: 3 });
    const js = nc.jetstream();
    const enc = new TextEncoder();
    for (let i = 0; i < 10; i++) await js.publish(`harness.${i}`, enc.encode(`m${i}`), { msgID: `m${i}` });

    const info = await jsm.streams.info('HARNESS');
    expect(info.config.num_replicas).toBe(3);
    expect(info.cluster?.replicas?.length).toBe(2);
    // Kill the stream's leader: the hardest case for the remaining two.
    const victim = nats.servers.find((s) => s.name === info.cluster?.leader);
    expect(victim).toBeDefined();
    await victim!.kill('SIGKILL');

    for (let i = 10; i < 20; i++) {
      await eventually(() => js.publish(`harness.${i}`, enc.encode(`m${i}`), { msgID: `m${i}` }), 30000);
    }
    const after = await eventually(() => jsm.streams.info('HARNESS'));
    expect(after.state.messages).toBe(20);
    expect(after.cluster?.leader).not.toBe(victim!.name);

    // Back with its store, the server rejoins and the stream is fully replicated again.
    await victim!.start();
    await eventually(async () => {
      const i = await jsm.streams.info('HARNESS');
      const current = (i.cluster?.replicas ?? []).filter((r) => r.current).length;
      if (current !== 2) throw new Error(`${current} current replicas`);
    }, 30000);
  } finally {
    await nc?.close();
    await nats.stop();
  }
});
