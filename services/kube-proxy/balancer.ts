/**
 * Endpoint choice for one service port: round robin across the eligible endpoints, and ClientIP
 * session affinity (kube-proxy's userspace LoadBalancerRR): a client IP keeps its endpoint while
 * that endpoint stays eligible, until `affinityTimeoutMs` passed since the client's last
 * connection.
 */
import { Endpoint } from './servicemap';

interface Affinity {
  endpointKey: string;
  lastUsed: number;
}

export class Balancer {
  private next = 0;
  private readonly affinity = new Map<string, Affinity>();

  /**
   * @param affinityTimeoutMs 0 disables ClientIP affinity.
   * @param now the clock (tests inject one).
   */
  constructor(
    public affinityTimeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Picks an endpoint among `candidates` for a connection from `clientIP`, skipping those in
   * `exclude` (endpoints already tried for this connection). Returns undefined when none is left.
   * With affinity, the client's remembered endpoint wins when it is a candidate; otherwise the
   * round-robin choice becomes the client's endpoint. Never throws; not reentrant-sensitive (one
   * event loop).
   */
  pick(candidates: readonly Endpoint[], clientIP: string, exclude?: ReadonlySet<string>): Endpoint | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    const now = this.affinityTimeoutMs > 0 ? this.now() : 0;
    if (this.affinityTimeoutMs > 0) {
      const a = this.affinity.get(clientIP);
      if (a && now - a.lastUsed <= this.affinityTimeoutMs && !exclude?.has(a.endpointKey)) {
        for (let i = 0; i < n; i++) {
          if (candidates[i].key === a.endpointKey) {
            a.lastUsed = now;
            return candidates[i];
          }
        }
      }
    }
    for (let tries = 0; tries < n; tries++) {
      const e = candidates[this.next++ % n];
      if (this.next >= 1 << 30) this.next = 0;
      if (exclude?.has(e.key)) continue;
      if (this.affinityTimeoutMs > 0) {
        const a = this.affinity.get(clientIP);
        if (a) {
          a.endpointKey = e.key;
          a.lastUsed = now;
        } else this.affinity.set(clientIP, { endpointKey: e.key, lastUsed: now });
      }
      return e;
    }
    return undefined;
  }

  /** Forgets affinities to endpoints not in `keep` and expired ones (call on endpoint changes and now and then). */
  prune(keep?: ReadonlySet<string>): void {
    if (this.affinity.size === 0) return;
    const now = this.now();
    for (const [ip, a] of this.affinity) {
      if ((keep && !keep.has(a.endpointKey)) || now - a.lastUsed > this.affinityTimeoutMs) this.affinity.delete(ip);
    }
  }

  /** The number of remembered client IPs (for tests and metrics). */
  get affinitySize(): number {
    return this.affinity.size;
  }
}
