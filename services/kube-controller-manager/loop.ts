/**
 * The shape every controller shares (Kubernetes' controller pattern): handlers turn objects into
 * keys on a deduplicating, rate-limited work queue, and a few workers call reconcile(key), which
 * reads the caches, compares desired with actual, acts, and writes status.
 */
import { Logger } from '../lib/log';
import { ReconcileResult, WorkQueue, runWorkers } from '../lib/workqueue';
import { Controller } from './context';

export interface ReconcileLoopOptions {
  name: string;
  reconcile: (key: string) => Promise<ReconcileResult> | ReconcileResult;
  /** Concurrent workers (kube-controller-manager's --concurrent-*-syncs; default 5). */
  workers?: number;
  log: Logger;
}

/** A work queue and its workers. enqueue() may be called before run(); keys wait until then. */
export class ReconcileLoop implements Controller {
  readonly queue = new WorkQueue<string>();
  private stopWorkers?: () => Promise<void>;

  constructor(private readonly opts: ReconcileLoopOptions) {}

  enqueue(key: string): void {
    this.queue.add(key);
  }

  enqueueAfter(key: string, ms: number): void {
    this.queue.addAfter(key, ms);
  }

  run(): this {
    this.stopWorkers = runWorkers(this.queue, this.opts.workers ?? 5, this.opts.reconcile, (key, err) =>
      this.opts.log.warn('reconcile failed; retrying with backoff', { controller: this.opts.name, key, err: err instanceof Error ? err.message : String(err) }),
    );
    return this;
  }

  async stop(): Promise<void> {
    if (this.stopWorkers) await this.stopWorkers();
    else this.queue.shutDown();
  }
}
