/** kube-proxy address ownership: rendezvous preference and the bind/standby state machine, with an injected bind and fake timers. */
import { BindResult, Ownership, rendezvousOwner } from '../../services/kube-proxy/ownership';

/** A fake kernel: one holder per key. */
class FakeKernel {
  holders = new Map<string, string>();
  errors = new Map<string, string>();
  attempts: string[] = [];
  bindFor(who: string) {
    return async (key: string): Promise<BindResult> => {
      this.attempts.push(`${who}:${key}`);
      const e = this.errors.get(key);
      if (e) return { ok: false, code: e, message: e };
      if (this.holders.has(key)) return { ok: false, code: 'EADDRINUSE', message: 'in use' };
      this.holders.set(key, who);
      return { ok: true, handle: { close: () => this.holders.get(key) === who && this.holders.delete(key) } };
    };
  }
  /** The holder dies: the kernel closes its sockets. */
  kill(who: string) {
    for (const [k, h] of this.holders) if (h === who) this.holders.delete(k);
  }
}

function proxy(kernel: FakeKernel, who: string, events: string[] = [], warn?: jest.Mock) {
  return new Ownership({
    bind: kernel.bindFor(who),
    standbyDelayMs: 1000,
    retryMs: 100,
    slowRetryMs: 5000,
    onAcquired: (k) => events.push(`${who} +${k}`),
    onReleased: (k, r) => events.push(`${who} -${k} ${r}`),
    log: warn ? ({ warn, info: jest.fn(), debug: jest.fn(), error: jest.fn(), with: jest.fn() } as never) : undefined,
  });
}

/** A fresh fake kernel and one proxy on it per name, all recording into one `events` list. */
function proxiesOn(...names: string[]) {
  const kernel = new FakeKernel();
  const events: string[] = [];
  return { kernel, events, proxies: names.map((who) => proxy(kernel, who, events)) };
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('kube-proxy ownership - rendezvous', () => {
  it('is deterministic, independent of candidate order, and spreads keys', () => {
    const nodes = ['n1', 'n2', 'n3'];
    const counts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const key = `TCP/127.130.0.${i % 250}:${80 + i}`;
      const o = rendezvousOwner(key, nodes)!;
      expect(rendezvousOwner(key, [...nodes].reverse())).toBe(o);
      counts.set(o, (counts.get(o) ?? 0) + 1);
    }
    for (const n of nodes) expect(counts.get(n)).toBeGreaterThan(60);
  });

  it('removing a candidate moves only its keys', () => {
    const keys = Array.from({ length: 100 }, (_, i) => `TCP/127.130.1.${i}:80`);
    for (const k of keys) {
      const before = rendezvousOwner(k, ['n1', 'n2', 'n3']);
      const after = rendezvousOwner(k, ['n1', 'n2']);
      if (before !== 'n3') expect(after).toBe(before);
    }
    expect(rendezvousOwner('k', [])).toBeUndefined();
  });
});

describe('kube-proxy ownership - bind and standby', () => {
  const K = 'TCP/127.130.0.10:80';

  it('the preferred proxy binds at once; the standby waits, then retries while it is held elsewhere', async () => {
    const { kernel, events, proxies: [a, b] } = proxiesOn('a', 'b');
    a.setWanted(new Map([[K, true]]));
    b.setWanted(new Map([[K, false]]));
    await jest.advanceTimersByTimeAsync(0);
    expect(kernel.holders.get(K)).toBe('a');
    expect(kernel.attempts).toEqual([`a:${K}`]);
    await jest.advanceTimersByTimeAsync(999);
    expect(kernel.attempts).toEqual([`a:${K}`]);
    await jest.advanceTimersByTimeAsync(1);
    expect(kernel.attempts).toEqual([`a:${K}`, `b:${K}`]);
    await jest.advanceTimersByTimeAsync(300);
    expect(kernel.attempts.filter((x) => x.startsWith('b:'))).toHaveLength(4);
    expect(b.isHeld(K)).toBe(false);
    expect(events).toEqual([`a +${K}`]);
    a.stop();
    b.stop();
  });

  it('the holder dies: the standby takes over within the retry interval', async () => {
    const { kernel, events, proxies: [a, b] } = proxiesOn('a', 'b');
    a.setWanted(new Map([[K, true]]));
    b.setWanted(new Map([[K, false]]));
    await jest.advanceTimersByTimeAsync(1500);
    kernel.kill('a');
    await jest.advanceTimersByTimeAsync(100);
    expect(kernel.holders.get(K)).toBe('b');
    expect(b.held()).toEqual([K]);
    expect(events).toEqual([`a +${K}`, `b +${K}`]);
    // b keeps retrying nothing once it holds the address
    const n = kernel.attempts.length;
    await jest.advanceTimersByTimeAsync(1000);
    expect(kernel.attempts.length).toBe(n);
    a.stop();
    b.stop();
  });

  it('a holder that no longer wants the address closes it; nobody binds it again', async () => {
    const { kernel, events, proxies: [a] } = proxiesOn('a');
    a.setWanted(new Map([[K, true]]));
    await jest.advanceTimersByTimeAsync(0);
    a.setWanted(new Map());
    expect(kernel.holders.has(K)).toBe(false);
    expect(events).toEqual([`a +${K}`, `a -${K} unwanted`]);
    await jest.advanceTimersByTimeAsync(5000);
    expect(kernel.attempts).toHaveLength(1);
  });

  it('an address dropped while its bind is in flight is closed when the bind lands', async () => {
    const { kernel, proxies: [a] } = proxiesOn('a');
    a.setWanted(new Map([[K, true]]));
    a.setWanted(new Map());
    await jest.advanceTimersByTimeAsync(0);
    expect(kernel.holders.has(K)).toBe(false);
    expect(a.held()).toEqual([]);
  });

  it('a waiting standby that becomes preferred tries at once', async () => {
    const { kernel, proxies: [a] } = proxiesOn('a');
    a.setWanted(new Map([[K, false]]));
    await jest.advanceTimersByTimeAsync(10);
    expect(kernel.attempts).toEqual([]);
    a.setWanted(new Map([[K, true]]));
    await jest.advanceTimersByTimeAsync(0);
    expect(a.isHeld(K)).toBe(true);
    a.stop();
  });

  it('other bind errors are logged once per address and retried slowly', async () => {
    const kernel = new FakeKernel();
    kernel.errors.set(K, 'EACCES');
    const warn = jest.fn();
    const a = proxy(kernel, 'a', [], warn);
    a.setWanted(new Map([[K, true]]));
    await jest.advanceTimersByTimeAsync(4999);
    expect(kernel.attempts).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(10001);
    expect(kernel.attempts).toHaveLength(4);
    expect(warn).toHaveBeenCalledTimes(1);
    kernel.errors.delete(K);
    await jest.advanceTimersByTimeAsync(5000);
    expect(a.isHeld(K)).toBe(true);
    a.stop();
  });

  it('a bind function that throws or rejects counts as a failed bind, never a crash', async () => {
    const a = new Ownership({ bind: () => { throw new Error('boom'); }, standbyDelayMs: 0, retryMs: 100, slowRetryMs: 100 });
    const b = new Ownership({ bind: () => Promise.reject(new Error('boom')), standbyDelayMs: 0, retryMs: 100, slowRetryMs: 100 });
    a.setWanted(new Map([[K, true]]));
    b.setWanted(new Map([[K, true]]));
    await jest.advanceTimersByTimeAsync(350);
    expect(a.held()).toEqual([]);
    expect(b.held()).toEqual([]);
    a.stop();
    b.stop();
  });

  it('lost(): a held socket that failed is released and bound again', async () => {
    const { kernel, events, proxies: [a] } = proxiesOn('a');
    a.setWanted(new Map([[K, true]]));
    await jest.advanceTimersByTimeAsync(0);
    kernel.kill('a');
    a.lost(K);
    expect(a.isHeld(K)).toBe(false);
    await jest.advanceTimersByTimeAsync(100);
    expect(a.isHeld(K)).toBe(true);
    expect(events).toEqual([`a +${K}`, `a -${K} failed`, `a +${K}`]);
    a.stop();
  });

  it('stop() closes everything and ignores later calls', async () => {
    const { kernel, proxies: [a] } = proxiesOn('a');
    a.setWanted(new Map([[K, true], ['UDP/127.130.0.10:53', true]]));
    await jest.advanceTimersByTimeAsync(0);
    expect(kernel.holders.size).toBe(2);
    a.stop();
    expect(kernel.holders.size).toBe(0);
    a.setWanted(new Map([[K, true]]));
    await jest.advanceTimersByTimeAsync(2000);
    expect(kernel.holders.size).toBe(0);
  });
});
