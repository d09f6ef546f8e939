/**
 * Leader election unit tests against an in-memory Lease store with compare-and-swap semantics
 * (the real apiserver path is covered by test/integration/leader-election.test.ts).
 */
import { ApiError } from '../../services/lib/errors';
import { Lease } from '../../services/lib/generated/kubemu/coordination/v1/coordination';
import { ApiClient } from '../../services/lib/apiclient';
import { LeaderElector, LeaseClient, leaderFencedClient, NotLeaderError } from '../../services/lib/leaderelection';

class MemoryLeases implements LeaseClient {
  lease?: Lease;
  rv = 0;
  failing = false;
  async getLease(): Promise<Lease | undefined> {
    if (this.failing) throw new Error('apiserver unavailable');
    return this.lease && JSON.parse(JSON.stringify(this.lease));
  }
  async createLease(l: Lease): Promise<Lease> {
    if (this.failing) throw new Error('apiserver unavailable');
    if (this.lease) throw new ApiError('AlreadyExists', 409, 'exists');
    this.lease = { ...l, metadata: { ...l.metadata, resourceVersion: String(++this.rv) } };
    return this.lease;
  }
  async updateLease(l: Lease): Promise<Lease> {
    if (this.failing) throw new Error('apiserver unavailable');
    if (l.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) throw new ApiError('Conflict', 409, 'conflict');
    this.lease = { ...l, metadata: { ...l.metadata, resourceVersion: String(++this.rv) } };
    return this.lease;
  }
}

const timing = { leaseDurationSeconds: 0.4, renewDeadlineSeconds: 0.3, retryPeriodSeconds: 0.05 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A candidate that logs its transitions; `now` replaces its clock (a process woken from a freeze). */
function candidate(store: MemoryLeases, identity: string, log: string[], now?: () => number) {
  return new LeaderElector(store, {
    namespace: 'kube-system',
    name: 'test',
    identity,
    ...timing,
    ...(now ? { now } : {}),
    onStartedLeading: () => void log.push(`${identity} started`),
    onStoppedLeading: () => void log.push(`${identity} stopped`),
  });
}

test('leader election - exactly one of several candidates leads', async () => {
  const store = new MemoryLeases();
  const log: string[] = [];
  const all = ['a', 'b', 'c'].map((id) => candidate(store, id, log));
  all.forEach((e) => e.run());
  await sleep(300);
  expect(all.filter((e) => e.isLeader)).toHaveLength(1);
  expect(store.lease?.spec?.holderIdentity).toBe(all.find((e) => e.isLeader)!.leader);
  await Promise.all(all.map((e) => e.stop()));
});

test('leader election - a released lease is taken over at once, with leaseTransitions counted', async () => {
  const store = new MemoryLeases();
  const log: string[] = [];
  const a = candidate(store, 'a', log);
  a.run();
  await sleep(100);
  const b = candidate(store, 'b', log);
  b.run();
  await sleep(150);
  expect(a.isLeader).toBe(true);
  expect(b.isLeader).toBe(false);
  await a.stop();
  expect(store.lease?.spec?.holderIdentity).toBe('');
  await sleep(200);
  expect(b.isLeader).toBe(true);
  expect(store.lease?.spec?.leaseTransitions).toBe(1);
  expect(log).toEqual(['a started', 'a stopped', 'b started']);
  await b.stop();
});

test('leader election - a holder that stops renewing is replaced only after the lease duration', async () => {
  const store = new MemoryLeases();
  const log: string[] = [];
  const a = candidate(store, 'a', log);
  a.run();
  await sleep(100);
  // Freeze a: it no longer renews (as a paused process), but does not release.
  (a as unknown as { stopped: boolean }).stopped = true;
  const b = candidate(store, 'b', log);
  const t0 = Date.now();
  b.run();
  while (!b.isLeader && Date.now() - t0 < 3000) await sleep(10);
  const waited = Date.now() - t0;
  expect(b.isLeader).toBe(true);
  expect(waited).toBeGreaterThanOrEqual(timing.leaseDurationSeconds * 1000 - 60);
  await b.stop();
});

test('leader election - a leader that cannot renew within the deadline steps down', async () => {
  const store = new MemoryLeases();
  const log: string[] = [];
  const a = candidate(store, 'a', log);
  a.run();
  await sleep(100);
  expect(a.isLeader).toBe(true);
  store.failing = true;
  await sleep(timing.renewDeadlineSeconds * 1000 + 150);
  expect(a.isLeader).toBe(false);
  expect(log).toEqual(['a started', 'a stopped']);
  await a.stop();
});

test('leader election - a leader woken from a freeze past its deadline steps down before its next lease read returns', async () => {
  const store = new MemoryLeases();
  const log: string[] = [];
  let clock = Date.now();
  const a = candidate(store, 'a', log, () => clock);
  a.run();
  for (let i = 0; i < 100 && !a.isLeader; i++) await sleep(10);
  expect(a.isLeader).toBe(true);
  expect(a.checkLeading()).toBe(true);
  // The process "wakes" after a freeze longer than the lease: its clock jumped, and the apiserver
  // it asks for the lease does not answer (yet).
  let release!: () => void;
  const blocked = new Promise<void>((r) => (release = r));
  const get = store.getLease.bind(store);
  store.getLease = async () => {
    await blocked;
    return get();
  };
  clock += (timing.leaseDurationSeconds + 1) * 1000;
  await sleep(timing.retryPeriodSeconds * 1000 * 3);
  expect(a.isLeader).toBe(false);
  expect(a.checkLeading()).toBe(false);
  expect(log).toEqual(['a started', 'a stopped']);
  release();
  await a.stop();
});

test('leader election - checkLeading steps down at once when the renew deadline passed, and says so once', () => {
  const store = new MemoryLeases();
  const log: string[] = [];
  let clock = 1_000_000;
  const a = candidate(store, 'a', log, () => clock);
  const internals = a as unknown as { startLeading(): void; lastRenew: number };
  internals.lastRenew = clock;
  internals.startLeading();
  clock += timing.renewDeadlineSeconds * 1000;
  expect(a.checkLeading()).toBe(true);
  clock += 1;
  expect(a.checkLeading()).toBe(false);
  expect(a.checkLeading()).toBe(false);
  expect(a.isLeader).toBe(false);
  expect(log).toEqual(['a started', 'a stopped']);
});

test('leader election - the fenced client refuses every ApiClient method that writes: none added to ApiClient escapes the fence', async () => {
  // Reads, and helpers the public methods call on the unwrapped client. Anything else ApiClient
  // has writes, and must be refused without reaching the apiserver.
  const notWrites = new Set(['constructor', 'close', 'get', 'tryGet', 'list', 'getScale', 'getLease', 'value', 'call']);
  const bare = Object.create(ApiClient.prototype) as ApiClient;
  const fenced = leaderFencedClient(bare, () => false) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const methods = Object.getOwnPropertyNames(ApiClient.prototype).filter((n) => !notWrites.has(n));
  expect(methods).toEqual(expect.arrayContaining(['create', 'update', 'updateStatus', 'patch', 'delete', 'updateScale', 'bind', 'createLease', 'updateLease']));
  for (const m of methods) await expect(fenced[m]()).rejects.toBeInstanceOf(NotLeaderError);
});
