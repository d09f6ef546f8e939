import type { ApiClient } from './apiclient';
import { Lease } from './generated/kubemu/coordination/v1/coordination';
import { ApiError } from './errors';
import { Logger } from './log';
import { formatMicroTime as microTime } from './time';

/** What leader election needs of the API: Lease get/create/update (through the apiserver, never etcd). */
export interface LeaseClient {
  getLease(namespace: string, name: string): Promise<Lease | undefined>;
  createLease(lease: Lease): Promise<Lease>;
  /** Compare-and-swap on metadata.resourceVersion; throws ApiError Conflict when stale. */
  updateLease(lease: Lease): Promise<Lease>;
}

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  /** Called when this candidate becomes leader; `signal` aborts when leadership is lost or the elector stops. */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called once leadership is lost (or on stop while leading). */
  onStoppedLeading?: () => void;
  onNewLeader?: (identity: string) => void;
  log?: Logger;
  now?: () => number;
}


/**
 * Leader election on a coordination/v1 Lease, as client-go's leaderelection: a candidate takes
 * the lease when its holder has not renewed it for leaseDuration (judged by when this candidate
 * last saw the record change, not by the holder's clock), renews every retryPeriod, and gives
 * leadership up when it could not renew within renewDeadline. At most one candidate believes it
 * leads at a time, provided clocks advance at the same rate. Not safe to `run` twice.
 */
export class LeaderElector {
  private observedRecord = '';
  private observedAt = 0;
  private leading = false;
  private stopped = false;
  private leadAbort?: AbortController;
  private timer?: NodeJS.Timeout;
  private lastRenew = 0;
  private currentLeader = '';
  private readonly now: () => number;

  constructor(private readonly client: LeaseClient, private readonly cfg: LeaderElectionConfig) {
    this.now = cfg.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Whether this candidate may still act as leader right now, judged by its own clock: it leads
   * and renewed the lease less than renewDeadline ago. When the deadline has passed (the process
   * was frozen, or its renewals failed) it steps down at once (onStoppedLeading runs) and returns
   * false, without waiting for the next renewal round trip. Leader work calls this right before
   * each write that only the leader may make: a process woken from SIGSTOP runs its queued I/O
   * before its renewal timer, and must not act on a lease a standby has taken meanwhile.
   * Synchronous; never throws.
   */
  checkLeading(): boolean {
    if (!this.leading) return false;
    if (this.now() - this.lastRenew <= this.cfg.renewDeadlineSeconds * 1000) return true;
    this.cfg.log?.warn('leader election: renew deadline passed without a renewal; stepping down', {
      lease: `${this.cfg.namespace}/${this.cfg.name}`,
      sinceRenewMs: this.now() - this.lastRenew,
    });
    this.stopLeading();
    return false;
  }

  get leader(): string {
    return this.currentLeader;
  }

  /** Starts the acquire/renew loop; returns at once. */
  run(): void {
    const tick = async () => {
      if (this.stopped) return;
      // First, before any await: a leader whose renewal is overdue (woken from a freeze) stops
      // leading now, not after the lease read below comes back.
      this.checkLeading();
      try {
        // The renewal counts from before its request: the standbys time the lease from when they
        // see the write, never earlier, so a leader that is slow to hear back errs on the safe side.
        const started = this.now();
        const ok = await this.tryAcquireOrRenew();
        if (ok) {
          this.lastRenew = started;
          if (!this.leading && !this.stopped) this.startLeading();
        }
      } catch (err) {
        this.cfg.log?.warn('leader election: lease update failed', { lease: `${this.cfg.namespace}/${this.cfg.name}`, err: (err as Error).message });
      }
      this.checkLeading();
      if (!this.stopped) this.timer = setTimeout(tick, this.cfg.retryPeriodSeconds * 1000 * (this.leading ? 1 : 1 + Math.random() * 0.2));
    };
    void tick();
  }

  /** Stops the loop; a leader releases the lease (empties holderIdentity) so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const wasLeading = this.leading;
    if (wasLeading) this.stopLeading();
    if (wasLeading) {
      try {
        const lease = await this.client.getLease(this.cfg.namespace, this.cfg.name);
        if (lease?.spec?.holderIdentity === this.cfg.identity) {
          await this.client.updateLease({
            ...lease,
            spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(this.now()) },
          });
        }
      } catch {
        // The lease expires by itself.
      }
    }
  }

  private startLeading(): void {
    this.leading = true;
    this.leadAbort = new AbortController();
    this.cfg.log?.info('leader election: became leader', { lease: `${this.cfg.namespace}/${this.cfg.name}`, identity: this.cfg.identity });
    void Promise.resolve(this.cfg.onStartedLeading(this.leadAbort.signal)).catch((err) =>
      this.cfg.log?.error('leader election: leader work failed', { err: (err as Error).message }),
    );
  }

  private stopLeading(): void {
    if (!this.leading) return;
    this.leading = false;
    this.leadAbort?.abort();
    this.cfg.onStoppedLeading?.();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.now();
    const { namespace, name, identity } = this.cfg;
    const lease = await this.client.getLease(namespace, name);
    const fresh: Lease['spec'] = {
      holderIdentity: identity,
      leaseDurationSeconds: this.cfg.leaseDurationSeconds,
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    if (!lease) {
      try {
        await this.client.createLease({ metadata: { namespace, name }, spec: fresh });
      } catch (err) {
        if (err instanceof ApiError && err.reason === 'AlreadyExists') return false;
        throw err;
      }
      this.observe(identity, JSON.stringify(fresh), now);
      return true;
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify(spec);
    if (record !== this.observedRecord) this.observe(spec.holderIdentity ?? '', record, now);
    const holder = spec.holderIdentity ?? '';
    const duration = (spec.leaseDurationSeconds ?? this.cfg.leaseDurationSeconds) * 1000;
    if (holder && holder !== identity && this.observedAt + duration > now) return false;
    const next = { ...spec };
    if (holder === identity) {
      next.renewTime = microTime(now);
      next.leaseDurationSeconds = this.cfg.leaseDurationSeconds;
    } else {
      next.holderIdentity = identity;
      next.leaseDurationSeconds = this.cfg.leaseDurationSeconds;
      next.acquireTime = microTime(now);
      next.renewTime = microTime(now);
      next.leaseTransitions = (spec.leaseTransitions ?? 0) + 1;
    }
    try {
      const updated = await this.client.updateLease({ ...lease, spec: next });
      this.observe(identity, JSON.stringify(updated.spec ?? next), now);
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.reason === 'Conflict') return false;
      throw err;
    }
  }

  private observe(holder: string, record: string, at: number): void {
    this.observedRecord = record;
    this.observedAt = at;
    if (holder !== this.currentLeader) {
      this.currentLeader = holder;
      if (holder) this.cfg.onNewLeader?.(holder);
    }
  }
}

/** The ApiClient calls that write: a deposed leader must make none of them. */
const WRITES = new Set(['create', 'update', 'updateStatus', 'patch', 'delete', 'updateScale', 'bind', 'createLease', 'updateLease']);

/** A write refused because this replica no longer leads (its renew deadline passed). */
export class NotLeaderError extends Error {
  constructor(call: string) {
    super(`not the leader any more: ${call} refused (the lease renewal is overdue)`);
    this.name = 'NotLeaderError';
  }
}

/**
 * A client for leader-only work (kube-controller-manager's controllers and kube-scheduler's
 * bindings act through it): every write first asks `stillLeading` (the elector's checkLeading,
 * judged by this process's clock) and rejects with NotLeaderError when this replica no longer
 * leads; reads pass through. A replica frozen past its lease and woken runs its queued work before
 * its renewal timer; without this it would write from stale caches while the standby already
 * leads. Safe for concurrent use as the client itself.
 */
export function leaderFencedClient(client: ApiClient, stillLeading: () => boolean): ApiClient {
  return new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (typeof prop === 'string' && WRITES.has(prop)) {
        return (...args: unknown[]) => (stillLeading() ? fn.apply(target, args) : Promise.reject(new NotLeaderError(prop)));
      }
      return fn.bind(target);
    },
  });
}
