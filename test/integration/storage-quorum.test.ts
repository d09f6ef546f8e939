/**
 * The apiserver's etcd storage when the etcd cluster loses its quorum: with two of three members
 * down every call fails fast with a StorageUnavailableError that says the quorum is lost (never a
 * hang until the deadline), and calls succeed again, with nothing lost, once a member returns.
 */
import { EtcdStorage, StorageUnavailableError } from '../../services/kube-apiserver/storage';
import { startEtcdCluster } from '../harness';
import { waitFor } from '../harness/wait';

jest.setTimeout(120000);

test('storage - two of three etcd members down: writes and reads fail within 3 s as Unavailable (quorum lost), then resume', async () => {
  const etcd = await startEtcdCluster({ members: 3 });
  const storage = new EtcdStorage(etcd.endpoints);
  try {
    const written = await storage.create('/registry/configmaps/default/before', Buffer.from('v1'));
    const leader = await etcd.leader();
    const follower = etcd.members.find((m) => m !== leader)!;
    await leader!.kill('SIGKILL');
    await follower.kill('SIGKILL');

    const failures: { op: string; ms: number; err: unknown }[] = [];
    for (let i = 0; i < 4; i++) {
      for (const [op, call] of [
        ['create', () => storage.create(`/registry/configmaps/default/during-${i}`, Buffer.from('x'))],
        ['get', () => storage.get('/registry/configmaps/default/before')],
        ['list', () => storage.list('/registry/configmaps/')],
      ] as const) {
        const started = Date.now();
        const err = await (call as () => Promise<unknown>)().then(() => undefined, (e: unknown) => e);
        failures.push({ op, ms: Date.now() - started, err });
      }
    }
    for (const f of failures) {
      expect(f.err).toBeInstanceOf(StorageUnavailableError);
      expect((f.err as Error).message).toMatch(/etcd has lost quorum: 1 of 3 members answer/);
      // A leader that has not yet noticed its followers are gone queues a write for up to ~2 s.
      expect(f.ms).toBeLessThan(3000);
    }

    await leader!.start({ wait: false });
    const revision = await waitFor('a write once a second member is back', () =>
      storage.create('/registry/configmaps/default/after', Buffer.from('v2')).catch(() => undefined), 60000, { intervalMs: 200 });
    expect(revision).toBeGreaterThan(written);
    const before = await storage.get('/registry/configmaps/default/before');
    expect(before?.value.toString()).toBe('v1');
    expect(before?.modRevision).toBe(written);
  } finally {
    storage.close();
    await etcd.stop();
  }
});

test('storage - the etcd leader dies under concurrent writes: every write settles within 4.5 s (no wait for the 5 s deadline), then writes go on', async () => {
  const etcd = await startEtcdCluster({ members: 3 });
  const storage = new EtcdStorage(etcd.endpoints);
  const calls: { startedAt: number; ms: number; err?: unknown }[] = [];
  let writing = true;
  const writer = async (id: number) => {
    for (let n = 0; writing; n++) {
      const startedAt = Date.now();
      const err = await storage.create(`/registry/configmaps/default/w${id}-${n}`, Buffer.from(String(n))).then(() => undefined, (e: unknown) => e);
      calls.push({ startedAt, ms: Date.now() - startedAt, err });
    }
  };
  try {
    await storage.create('/registry/configmaps/default/warm', Buffer.from('x'));
    const writers = Array.from({ length: 6 }, (_, i) => writer(i));
    await new Promise((r) => setTimeout(r, 500));
    const leader = await etcd.leader();
    await leader!.kill('SIGKILL');
    const killedAt = Date.now();
    await waitFor('writes acknowledged again after the leader died', async () => calls.filter((c) => !c.err && c.startedAt > killedAt + 500).length >= 20, 30000);
    writing = false;
    await Promise.all(writers);
    const slowest = calls.reduce((a, c) => (c.ms > a.ms ? c : a));
    // A write forwarded to the dead leader is never answered: without the storage noticing the new
    // leader it would wait for its whole 5 s deadline.
    if (slowest.ms >= 4500) throw new Error(`a write took ${slowest.ms} ms: ${String(slowest.err)}`);
    for (const c of calls.filter((x) => x.err)) expect(c.err).toBeInstanceOf(StorageUnavailableError);
  } finally {
    writing = false;
    storage.close();
    await etcd.stop();
  }
});
