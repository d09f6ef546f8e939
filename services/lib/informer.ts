import { JetStreamManager, NatsConnection } from 'nats';
import { WatchEvent } from './generated/kubemu/apiserver/v1/apiserver';
import { ApiClient } from './apiclient';
import { fieldValue, parseFieldSelector, FieldSelector } from './fields';
import { LabelSelector, parseLabelSelector } from './labels';
import { Logger } from './log';
import { KindMap, ObjectCase, objectKey, ResourceInfo, unwrap } from './resources';
import { sequenceAfterRevision, StreamWatch, WATCH_API_TIMEOUT_MS, watchFilter, WatchExpiredError } from './watchbus';

export interface InformerHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export type IndexFunc<T> = (obj: T) => string[];

export interface InformerOptions<C extends ObjectCase> {
  client: ApiClient;
  nats: NatsConnection;
  info: ResourceInfo<C>;
  /** Follow one namespace only (the stream filter narrows to it). */
  namespace?: string;
  /** Pods only: follow this node's pods only (the stream filter narrows to it). */
  nodeName?: string;
  labelSelector?: string;
  fieldSelector?: string;
  indexers?: Record<string, IndexFunc<KindMap[C]>>;
  log?: Logger;
}

/** Indexer name for objects by namespace, present on every informer. */
export const NAMESPACE_INDEX = 'namespace';

function stamp(obj: unknown, info: ResourceInfo, revision: number): void {
  const o = obj as { apiVersion?: string; kind?: string; metadata?: { resourceVersion?: string } };
  o.apiVersion = info.apiVersion;
  o.kind = info.kind;
  (o.metadata ??= {}).resourceVersion = String(revision);
}

function rvOf(obj: { metadata?: { resourceVersion?: string } } | undefined): number {
  return Number(obj?.metadata?.resourceVersion ?? 0);
}

/**
 * A shared informer: lists a resource at a revision through the apiserver, then follows the
 * JetStream watch stream from exactly that revision, keeping an indexed local cache and calling
 * handlers for every change. Guarantees: handlers see each object's changes in increasing revision
 * order and each change once; after NATS or its consumer failed it resumes from the last
 * revision it applied; when the stream no longer holds what follows that revision (history
 * trimmed, stream lost), it relists and reports the difference as adds, updates and deletes. Cached objects are shared: callers must not mutate them. Handlers run one at a time.
 */
export class Informer<C extends ObjectCase> {
  private readonly cache = new Map<string, KindMap[C]>();
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  private readonly handlers: InformerHandlers<KindMap[C]>[] = [];
  private readonly indexers: Record<string, IndexFunc<KindMap[C]>>;
  private readonly labels: LabelSelector;
  private readonly fields?: FieldSelector;
  private stopped = false;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private loop?: Promise<void>;
  private stopCurrent?: () => void;
  private jsm?: JetStreamManager;
  /** The revision the cache reflects. */
  resourceVersion = 0;
  /** How many times the informer listed (1 + relists after a gap). */
  lists = 0;

  constructor(private readonly opts: InformerOptions<C>) {
    this.indexers = {
      [NAMESPACE_INDEX]: (o) => [(o as { metadata?: { namespace?: string } }).metadata?.namespace ?? ''],
      ...(opts.indexers ?? {}),
    };
    for (const name of Object.keys(this.indexers)) this.indices.set(name, new Map());
    this.labels = parseLabelSelector(opts.labelSelector ?? '');
    this.fields = opts.fieldSelector ? parseFieldSelector(opts.fieldSelector) : undefined;
  }

  /**
   * Adds indexers (a name already present keeps its function). Only before start(): indices are
   * built as objects arrive. Throws after start.
   */
  addIndexers(indexers: Record<string, IndexFunc<KindMap[C]>>): void {
    if (this.loop) throw new Error(`informer ${this.opts.info.resource}: indexers added after start`);
    for (const [name, fn] of Object.entries(indexers)) {
      if (name in this.indexers) continue;
      this.indexers[name] = fn;
      this.indices.set(name, new Map());
    }
  }

  /** Adds handlers; objects already cached are replayed to it as adds. */
  addHandlers(h: InformerHandlers<KindMap[C]>): void {
    this.handlers.push(h);
    for (const obj of this.cache.values()) this.safely(() => h.onAdd?.(obj));
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Starts listing and following; resolves when the first list is in the cache. */
  async start(): Promise<void> {
    if (!this.loop) {
      this.jsm = await this.opts.nats.jetstreamManager({ timeout: WATCH_API_TIMEOUT_MS, checkAPI: false });
      this.loop = this.run();
    }
    if (this.synced) return;
    await new Promise<void>((resolve) => this.syncWaiters.push(resolve));
  }

  /** Stops following; resolves when the loop has ended. The cache stays readable. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopCurrent?.();
    await this.loop;
  }

  get(key: string): KindMap[C] | undefined {
    return this.cache.get(key);
  }

  list(): KindMap[C][] {
    return [...this.cache.values()];
  }

  keys(): string[] {
    return [...this.cache.keys()];
  }

  /** Objects whose index `name` yields `value`. */
  byIndex(name: string, value: string): KindMap[C][] {
    const keys = this.indices.get(name)?.get(value);
    if (!keys) return [];
    return [...keys].map((k) => this.cache.get(k)!).filter(Boolean);
  }

  private async run(): Promise<void> {
    let backoff = 100;
    let mustList = true;
    while (!this.stopped) {
      try {
        if (mustList) {
          await this.relist();
          mustList = false;
        }
        // The backoff starts again only once a watch is open: while NATS does not answer, the
        // attempts space out up to 3 s instead of hammering it as it recovers.
        await this.follow(() => (backoff = 100));
      } catch (err) {
        if (this.stopped) break;
        // Only a gap means relisting; otherwise (NATS or the apiserver away, the consumer lost)
        // the informer resumes from the last revision it applied once the stream answers again.
        const expired = err instanceof WatchExpiredError;
        if (expired) mustList = true;
        this.opts.log?.[expired ? 'info' : 'warn'](expired ? 'informer: relisting' : 'informer: resuming the watch', {
          resource: this.opts.info.resource,
          fromRevision: this.resourceVersion,
          reason: (err as Error).message,
        });
        // Jittered, so that the informers of every component do not retry in step.
        await new Promise((r) => setTimeout(r, expired ? 0 : backoff * (0.75 + Math.random() / 2)));
        backoff = Math.min(backoff * 2, 3000);
      }
    }
  }

  /** Lists at a revision and makes the cache equal to the list, reporting the difference. */
  private async relist(): Promise<void> {
    const { client, info, namespace, nodeName } = this.opts;
    let fieldSelector = this.opts.fieldSelector ?? '';
    if (nodeName) fieldSelector = [fieldSelector, `spec.nodeName=${nodeName}`].filter(Boolean).join(',');
    const items: KindMap[C][] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await client.list(info, namespace ?? '', { labelSelector: this.opts.labelSelector, fieldSelector, limit: 500, continue: cont });
      items.push(...page.items);
      rv = rv || page.resourceVersion;
      cont = page.continue;
    } while (cont);
    this.lists++;
    const seen = new Set<string>();
    for (const obj of items) {
      const key = objectKey(obj as never);
      seen.add(key);
      const old = this.cache.get(key);
      if (!old) this.store(key, obj, undefined);
      else if (rvOf(old) !== rvOf(obj)) this.store(key, obj, old);
    }
    for (const [key, old] of [...this.cache]) {
      if (!seen.has(key)) this.remove(key, old);
    }
    this.resourceVersion = Number(rv);
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  /** Follows the stream from just after this.resourceVersion until the watch ends or stop. */
  private async follow(opened: () => void): Promise<void> {
    const startSeq = await sequenceAfterRevision(this.jsm!, this.resourceVersion);
    const filter = watchFilter(this.opts.info.resource, { namespace: this.opts.namespace, nodeName: this.opts.nodeName });
    const watch = await StreamWatch.open(this.opts.nats, this.jsm!, { filter, startSeq, batch: 1000 });
    opened();
    this.stopCurrent = () => watch.close();
    // stop() may have come while the consumer was being created, with nothing yet to close.
    if (this.stopped) watch.close();
    try {
      for await (const m of watch) {
        if (this.stopped) break;
        this.apply(WatchEvent.decode(m.data));
      }
    } finally {
      this.stopCurrent = undefined;
      watch.close();
    }
    if (!this.stopped) throw new Error(`the watch ended: ${watch.endReason || 'closed'}`);
  }

  private apply(ev: WatchEvent): void {
    const rev = ev.revision ?? 0;
    if (rev <= this.resourceVersion) return;
    const u = unwrap(ev.object);
    if (!u || u.objectCase !== this.opts.info.objectCase) return;
    const obj = u.value as KindMap[C];
    // The stream carries objects as stored: the revision of the change is their resourceVersion.
    stamp(obj, this.opts.info, rev);
    const key = objectKey(obj as never);
    const old = this.cache.get(key);
    this.resourceVersion = rev;
    if (ev.type === 'DELETED') {
      if (old) this.remove(key, old, obj);
      return;
    }
    if (old && rvOf(old) >= rev) return;
    if (!this.matches(obj)) {
      if (old) this.remove(key, old, obj);
      return;
    }
    this.store(key, obj, old);
  }

  private matches(obj: KindMap[C]): boolean {
    const o = obj as { metadata?: { labels?: Record<string, string> } };
    if (!this.labels.matches(o.metadata?.labels)) return false;
    if (this.fields && !this.fields.matches((f) => fieldValue(obj, f))) return false;
    return true;
  }

  private store(key: string, obj: KindMap[C], old: KindMap[C] | undefined): void {
    if (old) this.unindex(key, old);
    this.cache.set(key, obj);
    this.index(key, obj);
    for (const h of this.handlers) this.safely(() => (old ? h.onUpdate?.(old, obj) : h.onAdd?.(obj)));
  }

  private remove(key: string, old: KindMap[C], last?: KindMap[C]): void {
    this.unindex(key, old);
    this.cache.delete(key);
    for (const h of this.handlers) this.safely(() => h.onDelete?.(last ?? old));
  }

  private index(key: string, obj: KindMap[C]): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const idx = this.indices.get(name)!;
      for (const v of fn(obj)) {
        let set = idx.get(v);
        if (!set) idx.set(v, (set = new Set()));
        set.add(key);
      }
    }
  }

  private unindex(key: string, obj: KindMap[C]): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const idx = this.indices.get(name)!;
      for (const v of fn(obj)) {
        const set = idx.get(v);
        set?.delete(key);
        if (set && set.size === 0) idx.delete(v);
      }
    }
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.log?.error('informer: handler failed', { resource: this.opts.info.resource, err: (err as Error).message });
    }
  }
}
