/**
 * Who serves an address. Every kube-proxy wants every address of the cluster, but all "nodes"
 * share one host network, so only one socket can be bound to an (ip, port, protocol): the kernel
 * arbitrates. Binding without reuse flags either succeeds (this proxy owns the address) or fails
 * with EADDRINUSE (another proxy does). The preferred proxy of an address (rendezvous hashing over
 * the Ready nodes, or the node itself for its own IP:nodePort) binds at once; the others are
 * standbys that first try `standbyDelayMs` after the address became wanted, then every `retryMs`
 * while it is wanted and not theirs, so that when the holder dies (the kernel closes its sockets)
 * a standby takes the address over within about `retryMs`. See README.md.
 */
import { createHash } from 'crypto';
import { Logger } from '../lib/log';

/** A bound socket, closed by whoever holds it. */
export interface BoundHandle {
  close(): void;
}

export type BindResult = { ok: true; handle: BoundHandle } | { ok: false; code: string; message: string };

export interface OwnershipOptions {
  /** Binds the address `key`; must resolve (never reject) with the socket or the error code. */
  bind(key: string): Promise<BindResult>;
  /** The first attempt of a standby waits this long after the address became wanted. */
  standbyDelayMs: number;
  /** Retry interval while another proxy holds the address (EADDRINUSE). */
  retryMs: number;
  /** Retry interval after other bind errors (EACCES, EADDRNOTAVAIL...). */
  slowRetryMs: number;
  /** Called when this proxy took the address. */
  onAcquired?(key: string): void;
  /** Called when this proxy gave the address up (no longer wanted, the socket failed, shutdown). */
  onReleased?(key: string, reason: 'unwanted' | 'failed' | 'stopped'): void;
  log?: Logger;
  now?: () => number;
}

type State = 'waiting' | 'binding' | 'held';

interface AddressState {
  key: string;
  wanted: boolean;
  preferred: boolean;
  wantedSince: number;
  state: State;
  timer?: NodeJS.Timeout;
  handle?: BoundHandle;
  /** The last bind error code logged, so that each is logged once per address. */
  loggedError?: string;
}

/**
 * The rendezvous (highest random weight) choice of `candidates` for `key`: the candidate with the
 * highest hash of (key, candidate). Every caller with the same candidate set agrees, and removing
 * one candidate moves only the keys it had. Undefined when there are no candidates.
 */
export function rendezvousOwner(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = '';
  for (const c of candidates) {
    const score = createHash('sha1').update(key).update('\0').update(c).digest('hex');
    if (best === undefined || score > bestScore || (score === bestScore && c < best)) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

/**
 * The bind/standby state machine for every address this proxy wants. Runs on the event loop;
 * methods are not reentrant but may be called at any time, including while binds are in flight.
 */
export class Ownership {
  private readonly addresses = new Map<string, AddressState>();
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly opts: OwnershipOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * Makes the wanted set equal to `wanted` (address key → whether this proxy is its preferred
   * owner). New preferred addresses are bound at once, new others after the standby delay;
   * addresses no longer wanted are closed if held. An address that becomes preferred while
   * waiting is tried at once.
   */
  setWanted(wanted: ReadonlyMap<string, boolean>): void {
    if (this.stopped) return;
    for (const [key, st] of this.addresses) {
      if (!wanted.has(key)) this.release(st, 'unwanted');
    }
    for (const [key, preferred] of wanted) {
      const st = this.addresses.get(key);
      if (!st) {
        const fresh: AddressState = { key, wanted: true, preferred, wantedSince: this.now(), state: 'waiting' };
        this.addresses.set(key, fresh);
        if (preferred) this.attempt(fresh);
        else this.schedule(fresh, this.opts.standbyDelayMs);
        continue;
      }
      const becamePreferred = preferred && !st.preferred;
      st.preferred = preferred;
      if (becamePreferred && st.state === 'waiting') {
        clearTimeout(st.timer);
        this.attempt(st);
      }
    }
  }

  /**
   * Reports that a held socket failed (it can no longer serve): the address goes back to waiting
   * and is retried after `retryMs`. Ignored for addresses not held.
   */
  lost(key: string): void {
    const st = this.addresses.get(key);
    if (!st || st.state !== 'held') return;
    st.handle = undefined;
    st.state = 'waiting';
    this.opts.onReleased?.(key, 'failed');
    this.schedule(st, this.opts.retryMs);
  }

  /** Whether this proxy holds `key` now. */
  isHeld(key: string): boolean {
    return this.addresses.get(key)?.state === 'held';
  }

  /** The keys this proxy holds now. */
  held(): string[] {
    return [...this.addresses.values()].filter((s) => s.state === 'held').map((s) => s.key);
  }

  /** Closes everything held and stops all timers; later calls do nothing. */
  stop(): void {
    for (const st of this.addresses.values()) this.release(st, 'stopped');
    this.stopped = true;
  }

  private release(st: AddressState, reason: 'unwanted' | 'stopped'): void {
    st.wanted = false;
    clearTimeout(st.timer);
    st.timer = undefined;
    this.addresses.delete(st.key);
    if (st.state === 'held' && st.handle) {
      const h = st.handle;
      st.handle = undefined;
      safeClose(h);
      this.opts.onReleased?.(st.key, reason);
    }
    // A bind in flight closes its socket when it resolves (st.wanted is false).
  }

  private schedule(st: AddressState, ms: number): void {
    clearTimeout(st.timer);
    st.state = 'waiting';
    st.timer = setTimeout(() => {
      st.timer = undefined;
      if (st.wanted && !this.stopped) this.attempt(st);
    }, Math.max(0, ms));
  }

  private attempt(st: AddressState): void {
    st.state = 'binding';
    let result: Promise<BindResult>;
    try {
      result = this.opts.bind(st.key);
    } catch (err) {
      result = Promise.resolve({ ok: false, code: 'EBIND', message: (err as Error).message });
    }
    result.then(
      (res) => this.settle(st, res),
      (err: Error) => this.settle(st, { ok: false, code: 'EBIND', message: err?.message ?? String(err) }),
    );
  }

  private settle(st: AddressState, res: BindResult): void {
    if (!st.wanted || this.stopped || this.addresses.get(st.key) !== st) {
      if (res.ok) safeClose(res.handle);
      return;
    }
    if (res.ok) {
      st.state = 'held';
      st.handle = res.handle;
      st.loggedError = undefined;
      this.opts.onAcquired?.(st.key);
      return;
    }
    if (res.code === 'EADDRINUSE') {
      // Another proxy holds it: stay a standby.
      this.schedule(st, this.opts.retryMs);
      return;
    }
    if (st.loggedError !== res.code) {
      st.loggedError = res.code;
      this.opts.log?.warn('cannot bind a service address; retrying slowly', { address: st.key, code: res.code, err: res.message });
    }
    this.schedule(st, this.opts.slowRetryMs);
  }
}

function safeClose(h: BoundHandle): void {
  try {
    h.close();
  } catch {
    // Closing a socket that already failed: nothing left to release.
  }
}
