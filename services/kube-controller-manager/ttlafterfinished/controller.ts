/**
 * The TTL-after-finished controller (pkg/controller/ttlafterfinished): a Job with
 * ttlSecondsAfterFinished is deleted that many seconds after it finished (its Complete or Failed
 * condition's transition time), with foreground propagation so that its pods go first. The key is
 * requeued for the moment the TTL expires (never polled); before deleting, the Job is read again
 * from the apiserver so that a TTL changed meanwhile is honoured.
 */
import { ApiClient } from '../../lib/apiclient';
import { isReason } from '../../lib/errors';
import { Job } from '../../lib/generated/kubemu/batch/v1/batch';
import { Informer } from '../../lib/informer';
import { Logger } from '../../lib/log';
import { objectKey, resourceForCase } from '../../lib/resources';
import { ReconcileResult } from '../../lib/workqueue';
import { ControllerContext, ControllerDescriptor } from '../context';
import { isJobFinished, jobFinishTime } from '../job/controller';
import { ReconcileLoop } from '../loop';

const JOB = resourceForCase('job');

export interface TTLAfterFinishedDeps {
  jobs: Pick<Informer<'job'>, 'get'>;
  client: Pick<ApiClient, 'tryGet' | 'delete'>;
  log: Logger;
  now(): number;
}

/** Whether the Job has a TTL and finished (needsCleanup). */
export function needsCleanup(job: Job): boolean {
  return job.spec?.ttlSecondsAfterFinished !== undefined && job.spec.ttlSecondsAfterFinished !== null && isJobFinished(job);
}

/** ms until the Job's TTL expires (<= 0: expired), or undefined when it needs no cleanup. Pure. */
export function ttlRemainingMs(job: Job, now: number): number | undefined {
  if (!needsCleanup(job)) return undefined;
  const finished = jobFinishTime(job);
  if (finished === undefined) return undefined;
  return finished + Number(job.spec!.ttlSecondsAfterFinished) * 1000 - now;
}

export class TTLAfterFinishedController {
  constructor(private readonly d: TTLAfterFinishedDeps) {}

  /**
   * Deletes the Job `key` if its TTL expired, else asks to be called again when it will have.
   * Throws on API errors other than NotFound / a changed uid (the loop retries).
   */
  async reconcile(key: string): Promise<ReconcileResult> {
    const cached = this.d.jobs.get(key);
    if (!cached || cached.metadata?.deletionTimestamp) return;
    const left = ttlRemainingMs(cached, this.d.now());
    if (left === undefined) return;
    if (left > 0) return { requeueAfterMs: left };
    // The cache may be stale: the TTL could have been changed or removed. Check the live object.
    const fresh = await this.d.client.tryGet(JOB, cached.metadata?.namespace ?? '', cached.metadata?.name ?? '');
    if (!fresh || fresh.metadata?.deletionTimestamp) return;
    const freshLeft = ttlRemainingMs(fresh, this.d.now());
    if (freshLeft === undefined) return;
    if (freshLeft > 0) return { requeueAfterMs: freshLeft };
    this.d.log.info('cleaning up Job', { job: key });
    try {
      await this.d.client.delete(JOB, fresh.metadata?.namespace ?? '', fresh.metadata?.name ?? '', {
        propagationPolicy: 'Foreground',
        preconditions: { uid: fresh.metadata?.uid },
      });
    } catch (err) {
      if (isReason(err, 'NotFound') || isReason(err, 'Conflict')) return;
      throw err;
    }
  }
}

/** The ttl-after-finished controller's row of the controller table. */
export const ttlAfterFinishedController: ControllerDescriptor = {
  name: 'ttl-after-finished',
  create(ctx: ControllerContext) {
    const log = ctx.log.with({ controller: 'ttl-after-finished' });
    const jobs = ctx.informers.informer('job');
    const controller = new TTLAfterFinishedController({ jobs, client: ctx.client, log, now: ctx.now });
    const loop = new ReconcileLoop({ name: 'ttl-after-finished', reconcile: (key) => controller.reconcile(key), log });
    const maybe = (j: Job) => {
      if (needsCleanup(j) && !j.metadata?.deletionTimestamp) loop.enqueue(objectKey(j));
    };
    jobs.addHandlers({ onAdd: maybe, onUpdate: (_o, j) => maybe(j) });
    return { run: () => loop.run() };
  },
};
