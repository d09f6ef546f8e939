/** kube-proxy's endpoint choice: round robin, ClientIP affinity with its timeout, failover exclusions. */
import { Balancer } from '../../services/kube-proxy/balancer';
import { Endpoint } from '../../services/kube-proxy/servicemap';

const ep = (ip: string, port = 8080, nodeName = 'n1'): Endpoint => ({ ip, port, nodeName, key: `${ip}:${port}` });
const A = ep('127.10.0.1');
const B = ep('127.10.0.2');
const C = ep('127.10.0.3');

describe('kube-proxy balancer - round robin', () => {
  it('cycles through the endpoints in order', () => {
    const b = new Balancer(0);
    const picks = Array.from({ length: 6 }, () => b.pick([A, B, C], '127.0.0.1')!.key);
    expect(picks).toEqual([A.key, B.key, C.key, A.key, B.key, C.key]);
  });

  it('no candidates: undefined', () => {
    expect(new Balancer(0).pick([], '127.0.0.1')).toBeUndefined();
  });

  it('skips excluded endpoints and gives up when all are excluded', () => {
    const b = new Balancer(0);
    expect(b.pick([A, B], 'c', new Set([A.key]))).toBe(B);
    expect(b.pick([A, B], 'c', new Set([A.key, B.key]))).toBeUndefined();
  });

  it('spreads evenly over many picks', () => {
    const b = new Balancer(0);
    const counts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const k = b.pick([A, B, C], `127.0.0.${i % 7}`)!.key;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    expect([...counts.values()]).toEqual([100, 100, 100]);
  });
});

describe('kube-proxy balancer - ClientIP affinity', () => {
  it('the same client keeps its endpoint, other clients round robin', () => {
    let now = 0;
    const b = new Balancer(10000, () => now);
    const first = b.pick([A, B, C], '127.64.0.1')!;
    for (let i = 0; i < 5; i++) {
      now += 1000;
      expect(b.pick([A, B, C], '127.64.0.1')).toBe(first);
    }
    const other = b.pick([A, B, C], '127.64.0.2')!;
    expect(other).not.toBe(first);
  });

  it('expires after the timeout since last use', () => {
    let now = 0;
    const b = new Balancer(1000, () => now);
    const first = b.pick([A, B], '127.64.0.1')!;
    now = 900;
    expect(b.pick([A, B], '127.64.0.1')).toBe(first); // used at 900
    now = 1800;
    expect(b.pick([A, B], '127.64.0.1')).toBe(first); // 900 ms after last use
    now = 3000;
    // expired: round robin moves on to the other endpoint
    expect(b.pick([A, B], '127.64.0.1')).not.toBe(first);
  });

  it('moves when its endpoint is no longer a candidate, and sticks to the new one', () => {
    const b = new Balancer(10000, () => 0);
    const first = b.pick([A, B], '127.64.0.1')!;
    const rest = [A, B].filter((e) => e !== first);
    const moved = b.pick(rest, '127.64.0.1')!;
    expect(moved).toBe(rest[0]);
    expect(b.pick([A, B], '127.64.0.1')).toBe(moved);
  });

  it('a failed endpoint (excluded) is replaced by the next one, which becomes the affinity', () => {
    const b = new Balancer(10000, () => 0);
    const first = b.pick([A, B], 'x')!;
    const next = b.pick([A, B], 'x', new Set([first.key]))!;
    expect(next).not.toBe(first);
    expect(b.pick([A, B], 'x')).toBe(next);
  });

  it('prune forgets endpoints gone and expired clients', () => {
    let now = 0;
    const b = new Balancer(1000, () => now);
    b.pick([A], 'x');
    b.pick([B], 'y');
    b.prune(new Set([A.key]));
    expect(b.affinitySize).toBe(1);
    now = 5000;
    b.prune();
    expect(b.affinitySize).toBe(0);
  });
});
