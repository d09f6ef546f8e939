import * as grpc from '@grpc/grpc-js';
import { circuitBreaker, ConsecutiveBreaker, handleWhen, noop } from 'cockatiel';
import { Etcd3, IOptions } from 'etcd3';
import { describeQuorum, QuorumProbe, quorumLost } from './storage-quorum';

/** Storage failures, in storage terms; the registry turns them into API errors. */
export class StorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
/** The key exists (create) — carries nothing else. */
export class KeyExistsError extends StorageError {}
/** The key does not exist (update, delete). */
export class KeyNotFoundError extends StorageError {}
/** The key's modification revision is not the expected one (compare-and-swap failed). */
export class RevisionConflictError extends StorageError {
  constructor(readonly actualRevision: number) {
    super(`the object's revision is ${actualRevision}`);
  }
}
/** The requested revision has been compacted away. */
export class RevisionCompactedError extends StorageError {}
/** etcd could not be reached or did not answer in time. */
export class StorageUnavailableError extends StorageError {}
/** etcd elected a new leader while a request was pending: a read may be asked again, a write's outcome is unknown. */
export class LeaderChangedError extends StorageUnavailableError {}

export interface StoredValue {
  key: string;
  value: Buffer;
  /** The etcd mod_revision of the key: the object's resourceVersion. */
  modRevision: number;
}

export interface ListResult {
  items: StoredValue[];
  /** The etcd revision the list was read at. */
  revision: number;
  /** True when `limit` cut the result short. */
  more: boolean;
}

/** Per-attempt deadline for unary etcd calls (the apiserver's clients wait 10 s). */
const CALL_TIMEOUT_MS = 5000;
/** How long a call keeps retrying while the cluster elects a leader (a quorum of members answers). */
const RETRY_FOR_MS = 4000;
/** A call pending this long makes the storage ask whether the quorum is still there. */
const HANG_CHECK_MS = 1000;
const HANG_RECHECK_MS = 500;

/**
 * Asks etcd to refuse a unary call at once ("etcdserver: no leader", UNAVAILABLE) when the member
 * has no leader, instead of queueing it until a leader appears or the deadline passes: the
 * metadata clientv3.WithRequireLeader sends. Streams (the publisher's watch) are left alone: a
 * watch on a leaderless member stays open and goes on when the quorum returns.
 */
const requireLeader: grpc.Interceptor = (options, nextCall) => {
  const def = options.method_definition;
  if (def.requestStream || def.responseStream) return new grpc.InterceptingCall(nextCall(options));
  return new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set('hasleader', 'true');
      next(metadata, listener);
    },
  });
};

/** Failures after which the request certainly did not enter etcd's log, so a write may be sent again. */
const NOT_APPLIED = /etcdserver: no leader|proposal dropped|ECONNREFUSED|No connection established|circuit breaker is open|etcdserver: too many requests|not capable/i;
/** Failures that say the cluster is electing, a member is gone, or the request hung. */
const TRANSIENT = /UNAVAILABLE|DEADLINE_EXCEEDED|Deadline exceeded|request timed out|leader changed|leader fail|no leader|proposal dropped|too many requests|circuit breaker is open|ECONNREFUSED|ECONNRESET/i;

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err);
}

/** A member that does not answer or hangs, as opposed to one that answers without a leader. */
function isMemberFailure(err: Error): boolean {
  const text = errorText(err);
  return /GRPCUnavailableError|GRPCDeadlineExceededError/.test(text) && !/etcdserver:/.test(text);
}

/**
 * The apiserver's view of etcd: one key per object, every write a compare-and-swap transaction
 * on the key's mod_revision. This is the only module that talks to etcd for objects.
 *
 * Failures: while a majority of members answers but none leads (an election), a call is retried for
 * up to 4 s (writes only when they certainly were not applied). When fewer than a majority answer
 * (quorum lost) a call fails within about a second with a StorageUnavailableError saying so, never
 * after its deadline: leaderless members refuse at once (hasleader), and a call already queued on a
 * leader that lost its followers is abandoned once the members' status shows the quorum gone.
 * All methods may be called concurrently.
 */
export class EtcdStorage {
  readonly client: Etcd3;
  private readonly quorum: QuorumProbe;
  /** The highest raft term seen in a response or a status: a call started at a lower term saw an election since. */
  private term = 0;

  constructor(endpoints: string[], options: Partial<IOptions> = {}) {
    this.quorum = new QuorumProbe(endpoints);
    this.client = new Etcd3({
      hosts: endpoints,
      grpcOptions: { 'grpc.enable_channelz': 0, interceptors: [requireLeader] } as grpc.ChannelOptions,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }),
      faultHandling: {
        // A dead or hung member is skipped for a second after three failures in a row; a member
        // that answers "no leader" is not broken, and this class does the retrying.
        host: () => circuitBreaker(handleWhen(isMemberFailure), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
        global: noop,
      },
      ...options,
    });
  }

  /** Creates `key` if absent. Resolves the revision of the write; throws KeyExistsError. */
  async create(key: string, value: Uint8Array): Promise<number> {
    const res = await this.call('write', () =>
      this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(Buffer.from(value))).commit(),
    );
    if (!res.succeeded) throw new KeyExistsError(key);
    return Number(res.header.revision);
  }

  /** Reads one key at the latest revision; undefined when absent. */
  async get(key: string): Promise<StoredValue | undefined> {
    const res = await this.call('read', () => this.client.get(key).exec());
    const kv = res.kvs[0];
    if (!kv) return undefined;
    return { key, value: kv.value, modRevision: Number(kv.mod_revision) };
  }

  /**
   * Lists keys under `prefix` in key order at `revision` (0 = latest), starting at `fromKey`
   * (inclusive) when given, at most `limit` items (0 = all). Throws RevisionCompactedError when the
   * revision is gone.
   */
  async list(prefix: string, opts: { revision?: number; fromKey?: string; limit?: number } = {}): Promise<ListResult> {
    const end = prefixEnd(prefix);
    const res = await this.call('read', () => {
      let b = this.client.getAll().inRange({ start: opts.fromKey ?? prefix, end });
      if (opts.revision) b = b.revision(opts.revision);
      if (opts.limit) b = b.limit(opts.limit);
      return b.exec();
    });
    return {
      items: res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value, modRevision: Number(kv.mod_revision) })),
      revision: Number(res.header.revision),
      more: Boolean(res.more),
    };
  }

  /**
   * Writes `key` only if its mod_revision is `expectedRevision`. Resolves the new revision; throws
   * RevisionConflictError (with the actual revision) or KeyNotFoundError.
   */
  async update(key: string, value: Uint8Array, expectedRevision: number): Promise<number> {
    const res = await this.call('write', () =>
      this.client
        .if(key, 'Mod', '==', expectedRevision)
        .then(this.client.put(key).value(Buffer.from(value)))
        .else(this.client.get(key))
        .commit(),
    );
    if (res.succeeded) return Number(res.header.revision);
    const kv = res.responses[0]?.response_range?.kvs?.[0];
    if (!kv) throw new KeyNotFoundError(key);
    throw new RevisionConflictError(Number(kv.mod_revision));
  }

  /** Deletes `key` only if its mod_revision is `expectedRevision`. Resolves the revision of the deletion. */
  async delete(key: string, expectedRevision: number): Promise<number> {
    const res = await this.call('write', () =>
      this.client.if(key, 'Mod', '==', expectedRevision).then(this.client.delete().key(key)).else(this.client.get(key)).commit(),
    );
    if (res.succeeded) return Number(res.header.revision);
    const kv = res.responses[0]?.response_range?.kvs?.[0];
    if (!kv) throw new KeyNotFoundError(key);
    throw new RevisionConflictError(Number(kv.mod_revision));
  }

  /** The current etcd revision. */
  async currentRevision(): Promise<number> {
    const res = await this.call('read', () => this.client.get('/registry/').exec());
    return Number(res.header.revision);
  }

  /** Compacts history older than `revision`. */
  async compact(revision: number): Promise<void> {
    await this.call('write', () => this.client.kv.compact({ revision: String(revision), physical: false }));
  }

  close(): void {
    this.client.close();
  }

  /**
   * Runs one etcd call: retries it while an election is under way, fails fast with the quorum's
   * state when a majority of members is gone, and turns every failure into a StorageError.
   */
  private async call<T>(kind: 'read' | 'write', fn: () => Promise<T>): Promise<T> {
    const giveUpAt = Date.now() + RETRY_FOR_MS;
    let delay = 50;
    for (;;) {
      try {
        const res = await this.abandonIfStuck(kind, fn());
        const term = Number((res as { header?: { raft_term?: string } } | undefined)?.header?.raft_term ?? 0);
        if (term > this.term) this.term = term;
        return res;
      } catch (err) {
        // A read left behind by an election is simply asked again; a write's outcome is unknown.
        if (err instanceof LeaderChangedError && kind === 'read' && Date.now() < giveUpAt) continue;
        if (err instanceof StorageError) throw err;
        const text = errorText(err);
        if (!TRANSIENT.test(text) || /compacted/i.test(text)) throw classifyEtcdError(err);
        const q = await this.quorum.status();
        if (quorumLost(q)) throw new StorageUnavailableError(`${describeQuorum(q)} (${text})`, { cause: err });
        const mayRetry = kind === 'read' || NOT_APPLIED.test(text);
        if (!mayRetry || Date.now() + delay > giveUpAt) {
          throw new StorageUnavailableError(`etcd unavailable: ${q.hasLeader ? '' : describeQuorum(q) + ': '}${text}`, { cause: err });
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 400);
      }
    }
  }

  /**
   * Settles like `pending`, except that once it has been pending for a second the members' status
   * is checked every half second, and it rejects with a StorageUnavailableError (the etcd call
   * itself ends at its deadline) when the quorum is lost, or with a LeaderChangedError when two
   * checks in a row saw a leader elected after the call started: a request forwarded to a leader
   * that died is never answered. A write abandoned so may still be committed later.
   */
  private async abandonIfStuck<T>(kind: 'read' | 'write', pending: Promise<T>): Promise<T> {
    const startTerm = this.term;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    let newLeaderSeen = false;
    const abandoned = new Promise<never>((_, reject) => {
      const check = async () => {
        const q = await this.quorum.status();
        if (settled) return;
        const outcome = kind === 'write' ? '; the write was sent and its outcome is unknown' : '';
        if (quorumLost(q)) {
          reject(new StorageUnavailableError(`${describeQuorum(q)}${outcome}${kind === 'write' ? ' until the quorum returns' : ''}`));
          return;
        }
        const elected = startTerm > 0 && q.hasLeader && q.term > startTerm;
        if (elected && newLeaderSeen) {
          this.term = Math.max(this.term, q.term);
          reject(new LeaderChangedError(`etcd elected a new leader while the request was pending (raft term ${startTerm} → ${q.term})${outcome}`));
          return;
        }
        newLeaderSeen = elected;
        timer = setTimeout(check, HANG_RECHECK_MS);
      };
      timer = setTimeout(check, HANG_CHECK_MS);
    });
    try {
      return await Promise.race([pending, abandoned]);
    } finally {
      settled = true;
      clearTimeout(timer);
    }
  }
}

/** Maps an etcd3 client error to a storage error. */
export function classifyEtcdError(err: unknown): StorageError {
  if (err instanceof StorageError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.constructor.name : '';
  if (/compacted/i.test(message)) return new RevisionCompactedError(message, { cause: err });
  return new StorageUnavailableError(`etcd unavailable: ${name ? name + ': ' : ''}${message}`, { cause: err });
}

/** The smallest key greater than every key with `prefix`. */
export function prefixEnd(prefix: string): string {
  const buf = Buffer.from(prefix);
  for (let i = buf.length - 1; i >= 0; i--) {
    if (buf[i] < 0xff) {
      const end = Buffer.from(buf.subarray(0, i + 1));
      end[i] += 1;
      return end.toString('latin1');
    }
  }
  return '\0';
}
