/**
 * A controller work queue with client-go's semantics
 * (k8s.io/client-go/util/workqueue: Typed queue + delaying queue +
 * rate-limited queue), and runWorkers, the controller-runtime style loop
 * that drives reconcile(key) from it.
 *
 * The contract the queue keeps:
 * - dedup: a key added any number of times before a worker takes it is
 *   queued once;
 * - no concurrent processing of one key: a key is handed to one worker at a
 *   time; added again while being processed, it is marked dirty and queued
 *   again only when that worker calls done(key);
 * - otherwise FIFO;
 * - the queue owns its timers (addAfter, addRateLimited) and shutDown clears
 *   them all.
 *
 * Keys are compared like Map keys (SameValueZero): use strings or numbers
 * such as `namespace/name`. A key must not be undefined (get() uses it to
 * signal shutdown).
 */

/** Time source; injectable for tests. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The global timers, looked up at call time so that fake timers installed later still apply. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Decides how long a key waits before it is retried (client-go's RateLimiter). */
export interface RateLimiter<K> {
  /** The delay in ms before `key` may be retried; called once per retry, so it may count failures. */
  when(key: K): number;
  /** Stops tracking `key` (it succeeded); its backoff starts over. */
  forget(key: K): void;
  /** How many times `key` has been rate-limited since it was last forgotten. */
  numRequeues(key: K): number;
}

/**
 * Per-key exponential backoff: base, 2·base, 4·base... capped at max
 * (client-go's ItemExponentialFailureRateLimiter). Not shared between queues.
 */
export class ItemExponentialFailureRateLimiter<K> implements RateLimiter<K> {
  private readonly failures = new Map<K, number>();

  constructor(
    private readonly baseDelayMs: number,
    private readonly maxDelayMs: number,
  ) {}

  when(key: K): number {
    const exp = this.failures.get(key) ?? 0;
    this.failures.set(key, exp + 1);
    const backoff = this.baseDelayMs * 2 ** exp;
    return !Number.isFinite(backoff) || backoff > this.maxDelayMs ? this.maxDelayMs : backoff;
  }

  forget(key: K): void {
    this.failures.delete(key);
  }

  numRequeues(key: K): number {
    return this.failures.get(key) ?? 0;
  }
}

/**
 * An overall token bucket, `qps` tokens per second up to `burst`, starting
 * full (client-go's BucketRateLimiter over golang.org/x/time/rate). Each
 * when() reserves one token; the delay is how long until that token exists.
 * Tracks no key.
 */
export class BucketRateLimiter<K> implements RateLimiter<K> {
  private tokens: number;
  private last: number | undefined;

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly clock: Clock = realClock,
  ) {
    this.tokens = burst;
  }

  when(_key: K): number {
    const now = this.clock.now();
    if (this.last !== undefined) {
      const elapsed = Math.max(0, now - this.last);
      this.tokens = Math.min(this.burst, this.tokens + (elapsed / 1000) * this.qps);
    }
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }

  forget(_key: K): void {}

  numRequeues(_key: K): number {
    return 0;
  }
}

/** The longest delay of several limiters (client-go's MaxOfRateLimiter); every limiter sees every call. */
export class MaxOfRateLimiter<K> implements RateLimiter<K> {
  private readonly limiters: RateLimiter<K>[];

  constructor(...limiters: RateLimiter<K>[]) {
    this.limiters = limiters;
  }

  when(key: K): number {
    return this.limiters.reduce((max, l) => Math.max(max, l.when(key)), 0);
  }

  forget(key: K): void {
    for (const l of this.limiters) l.forget(key);
  }

  numRequeues(key: K): number {
    return this.limiters.reduce((max, l) => Math.max(max, l.numRequeues(key)), 0);
  }
}

export interface RateLimiterOptions {
  /** First per-key retry delay; default 5 ms. */
  baseDelayMs?: number;
  /** Longest per-key retry delay; default 1000 s. */
  maxDelayMs?: number;
  /** Overall retry rate; default 10 per second. */
  qps?: number;
  /** Overall retry burst; default 100. */
  burst?: number;
  clock?: Clock;
}

/**
 * client-go's DefaultControllerRateLimiter: the max of per-key exponential
 * backoff (5 ms doubling up to 1000 s) and an overall 10 qps / burst 100
 * token bucket; every number configurable.
 */
export function defaultControllerRateLimiter<K>(opts: RateLimiterOptions = {}): RateLimiter<K> {
  return new MaxOfRateLimiter<K>(
    new ItemExponentialFailureRateLimiter<K>(opts.baseDelayMs ?? 5, opts.maxDelayMs ?? 1_000_000),
    new BucketRateLimiter<K>(opts.qps ?? 10, opts.burst ?? 100, opts.clock ?? realClock),
  );
}

export interface WorkQueueOptions<K> extends RateLimiterOptions {
  /** Replaces the default controller rate limiter (then baseDelayMs, maxDelayMs, qps and burst are unused). */
  rateLimiter?: RateLimiter<K>;
}

/**
 * A deduplicating, rate-limited FIFO of keys for controllers. Single-threaded
 * JavaScript means every method is atomic; "concurrent" below means several
 * async workers interleaving at await points.
 */
export class WorkQueue<K = string> {
  private readonly clock: Clock;
  private readonly rateLimiter: RateLimiter<K>;
  // FIFO of keys ready for a worker; every key in it is in `dirty` and not in `processing`.
  private items: K[] = [];
  private head = 0;
  // Keys that need processing (queued, or re-added while processing).
  private readonly dirty = new Set<K>();
  // Keys handed to a worker and not yet done().
  private readonly processing = new Set<K>();
  // Workers blocked in get(), oldest first.
  private readonly waiters: Array<(key: K | undefined) => void> = [];
  // addAfter: at most one timer per key, for its earliest ready time.
  private readonly waiting = new Map<K, { readyAt: number; handle: unknown }>();
  private shuttingDown = false;
  private draining: Array<() => void> = [];

  constructor(opts: WorkQueueOptions<K> = {}) {
    this.clock = opts.clock ?? realClock;
    this.rateLimiter = opts.rateLimiter ?? defaultControllerRateLimiter<K>(opts);
  }

  /**
   * Marks `key` as needing processing. Queued once however often it is added
   * before a worker takes it; if a worker holds it now, it is queued again
   * when that worker calls done(key). Ignored after shutdown.
   */
  add(key: K): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.items.push(key);
    this.dispatch();
  }

  /**
   * Adds `key` after `ms` milliseconds (at once when ms <= 0). A key already
   * waiting keeps the earlier of its two ready times. Ignored after
   * shutdown; shutDown cancels every pending wait.
   */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.clock.now() + ms;
    const existing = this.waiting.get(key);
    if (existing) {
      if (existing.readyAt <= readyAt) return;
      this.clock.clearTimeout(existing.handle);
    }
    const handle = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, { readyAt, handle });
  }

  /** Adds `key` after the rate limiter's delay (per-key backoff, overall bucket). Ignored after shutdown. */
  addRateLimited(key: K): void {
    if (this.shuttingDown) return;
    this.addAfter(key, this.rateLimiter.when(key));
  }

  /** Resets `key`'s backoff (call after it was processed successfully). Does not remove it from the queue. */
  forget(key: K): void {
    this.rateLimiter.forget(key);
  }

  /** How many times `key` was rate-limited since it was last forgotten. */
  numRequeues(key: K): number {
    return this.rateLimiter.numRequeues(key);
  }

  /**
   * Resolves with the next key, waiting while the queue is empty; the caller
   * owns the key until it calls done(key). Concurrent callers are served in
   * call order and never receive the same key at once. After shutdown the
   * keys still queued are handed out, then every call resolves undefined.
   */
  get(): Promise<K | undefined> {
    if (this.head < this.items.length) return Promise.resolve(this.take());
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Ends processing of `key` (from get()). If it was added meanwhile it is
   * queued again now. Does nothing for a key that is not being processed.
   */
  done(key: K): void {
    if (!this.processing.delete(key)) return;
    if (this.dirty.has(key)) {
      this.items.push(key);
      this.dispatch();
    }
    this.checkDrained();
  }

  /** Keys ready for a worker (not counting keys being processed or waiting on a timer). */
  len(): number {
    return this.items.length - this.head;
  }

  /** True once shutDown or shutDownWithDrain was called. */
  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Stops the queue: new adds are ignored, pending addAfter/addRateLimited
   * timers are cleared, blocked get() calls resolve undefined. Keys already
   * queued are still handed out by get(). Idempotent; also releases a
   * pending shutDownWithDrain at once.
   */
  shutDown(): void {
    this.beginShutdown();
    const draining = this.draining;
    this.draining = [];
    for (const resolve of draining) resolve();
  }

  /**
   * As shutDown, but resolves only when every queued and in-flight key has
   * been done() — so workers must keep calling get() until it returns
   * undefined. A later shutDown() resolves it at once.
   */
  shutDownWithDrain(): Promise<void> {
    this.beginShutdown();
    return new Promise((resolve) => {
      this.draining.push(resolve);
      this.checkDrained();
    });
  }

  private beginShutdown(): void {
    this.shuttingDown = true;
    for (const { handle } of this.waiting.values()) this.clock.clearTimeout(handle);
    this.waiting.clear();
    this.dispatch();
  }

  private take(): K {
    const key = this.items[this.head];
    this.items[this.head++] = undefined as K;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.processing.add(key);
    this.dirty.delete(key);
    return key;
  }

  private dispatch(): void {
    while (this.waiters.length > 0 && this.head < this.items.length) this.waiters.shift()!(this.take());
    if (this.shuttingDown && this.head >= this.items.length) {
      for (const resolve of this.waiters.splice(0)) resolve(undefined);
    }
  }

  private checkDrained(): void {
    if (this.draining.length === 0 || this.processing.size > 0 || this.head < this.items.length) return;
    const draining = this.draining;
    this.draining = [];
    for (const resolve of draining) resolve();
  }
}

/** What reconcile may return: nothing (done), or a request to look again later. */
export type ReconcileResult = void | { requeueAfterMs: number };

/**
 * Runs `n` concurrent workers over `queue`, each looping get → reconcile →
 * done, the controller-runtime way: success forgets the key's backoff; a
 * `{ requeueAfterMs }` result forgets it and adds the key after that delay;
 * a thrown error (or rejection) is passed to onError (whose own errors are
 * swallowed) and the key is retried with addRateLimited. A key is never
 * reconciled by two workers at once (the queue guarantees it).
 * Returns a disposer: it shuts the queue down, lets in-flight reconciles
 * finish (keys still queued are dropped) and resolves when every worker has
 * stopped. Throws RangeError when n is not a positive integer.
 */
export function runWorkers<K>(
  queue: WorkQueue<K>,
  n: number,
  reconcile: (key: K) => Promise<ReconcileResult> | ReconcileResult,
  onError?: (key: K, err: unknown) => void,
): () => Promise<void> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`runWorkers: worker count must be a positive integer, got ${n}`);
  let stopping = false;

  const worker = async (): Promise<void> => {
    while (!stopping) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const result = await reconcile(key);
        queue.forget(key);
        if (result && typeof result === 'object' && Number.isFinite(result.requeueAfterMs)) {
          queue.addAfter(key, result.requeueAfterMs);
        }
      } catch (err) {
        try {
          onError?.(key, err);
        } catch {
          // A failing error reporter must not kill the worker.
        }
        queue.addRateLimited(key);
      } finally {
        queue.done(key);
      }
    }
  };

  const workers = Array.from({ length: n }, () => worker());
  return async () => {
    stopping = true;
    queue.shutDown();
    await Promise.all(workers);
  };
}
