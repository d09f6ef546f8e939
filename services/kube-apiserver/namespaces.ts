import { Logger } from '../lib/log';
import { resourceForCase, storagePrefix } from '../lib/resources';
import { EtcdStorage } from './storage';
import type { Watcher } from 'etcd3';

const NAMESPACES = resourceForCase('namespace');

/**
 * The namespace lifecycle cache, as Kubernetes' NamespaceLifecycle admission uses a namespace
 * informer: it follows /registry/namespaces/ with its own etcd watch so that admitting an object
 * costs no etcd read. `lookup` answers from the cache when it knows the namespace and reads etcd
 * when it does not (a namespace created a moment ago may not have reached the cache yet).
 * Safe for concurrent use.
 */
export class NamespaceCache {
  private readonly known = new Map<string, { terminating: boolean }>();
  private watcher?: Watcher;
  private stopped = false;
  private ready = false;

  constructor(private readonly storage: EtcdStorage, private readonly log: Logger) {}

  /** Lists and starts following; on any watch failure the cache empties (lookups read etcd) and restarts. */
  async start(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.follow();
        return;
      } catch (err) {
        this.reset();
        this.log.warn('namespace cache: restarting', { err: (err as Error).message });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.watcher?.cancel().catch(() => undefined);
  }

  /** Whether the namespace exists and whether it is terminating; undefined when it does not exist. */
  async lookup(name: string): Promise<{ terminating: boolean } | undefined> {
    const cached = this.ready ? this.known.get(name) : undefined;
    if (cached) return cached;
    const stored = await this.storage.get(`${storagePrefix(NAMESPACES, '')}${name}`);
    if (!stored) return undefined;
    return { terminating: this.isTerminating(stored.value) };
  }

  private isTerminating(value: Uint8Array): boolean {
    return !!NAMESPACES.codec.decode(value).metadata?.deletionTimestamp;
  }

  private reset(): void {
    this.ready = false;
    this.known.clear();
    void this.watcher?.cancel().catch(() => undefined);
    this.watcher = undefined;
  }

  private async follow(): Promise<void> {
    const prefix = storagePrefix(NAMESPACES, '');
    const list = await this.storage.list(prefix);
    this.known.clear();
    for (const kv of list.items) this.known.set(kv.key.slice(prefix.length), { terminating: this.isTerminating(kv.value) });
    const watcher = await this.storage.client.watch().prefix(prefix).startRevision(String(list.revision + 1)).create();
    this.watcher = watcher;
    watcher.on('put', (kv) => this.known.set(kv.key.toString().slice(prefix.length), { terminating: this.isTerminating(kv.value) }));
    watcher.on('delete', (kv) => this.known.delete(kv.key.toString().slice(prefix.length)));
    watcher.on('error', (err) => {
      if (this.stopped) return;
      this.log.warn('namespace cache: watch failed', { err: err.message });
      this.reset();
      void this.start();
    });
    this.ready = true;
  }
}
