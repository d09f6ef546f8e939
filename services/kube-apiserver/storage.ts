import { Etcd3, IOptions } from 'etcd3';

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

/** Per-call deadline for unary etcd calls: a dead quorum fails fast instead of hanging. */
const CALL_TIMEOUT_MS = 5000;

/**
 * The apiserver's view of etcd: one key per object, every write a compare-and-swap transaction
 * on the key's mod_revision. This is the only module that talks to etcd for objects.
 * All methods may be called concurrently.
 */
export class EtcdStorage {
  readonly client: Etcd3;

  constructor(endpoints: string[], options: Partial<IOptions> = {}) {
    this.client = new Etcd3({
      hosts: endpoints,
      dialTimeout: 3000,
      grpcOptions: { 'grpc.enable_channelz': 0 },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }),
      ...options,
    });
  }

  /** Creates `key` if absent. Resolves the revision of the write; throws KeyExistsError. */
  async create(key: string, value: Uint8Array): Promise<number> {
    const res = await this.call(() =>
      this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(Buffer.from(value))).commit(),
    );
    if (!res.succeeded) throw new KeyExistsError(key);
    return Number(res.header.revision);
  }

  /** Reads one key at the latest revision; undefined when absent. */
  async get(key: string): Promise<StoredValue | undefined> {
    const res = await this.call(() => this.client.get(key).exec());
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
    const res = await this.call(() => {
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
    const res = await this.call(() =>
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
    const res = await this.call(() =>
      this.client.if(key, 'Mod', '==', expectedRevision).then(this.client.delete().key(key)).else(this.client.get(key)).commit(),
    );
    if (res.succeeded) return Number(res.header.revision);
    const kv = res.responses[0]?.response_range?.kvs?.[0];
    if (!kv) throw new KeyNotFoundError(key);
    throw new RevisionConflictError(Number(kv.mod_revision));
  }

  /** The current etcd revision. */
  async currentRevision(): Promise<number> {
    const res = await this.call(() => this.client.get('/registry/').exec());
    return Number(res.header.revision);
  }

  /** Compacts history older than `revision`. */
  async compact(revision: number): Promise<void> {
    await this.call(() => this.client.kv.compact({ revision: String(revision), physical: false }));
  }

  close(): void {
    this.client.close();
  }

  /** Runs one etcd call, turning transport failures into StorageUnavailableError. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw classifyEtcdError(err);
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
