/**
 * The taint-eviction controller (pkg/controller/tainteviction, the NoExecuteTaintManager): pods on
 * a node with NoExecute taints they do not tolerate are deleted at once; pods tolerating them for
 * tolerationSeconds are deleted that long after they were first found under the taints; a taint
 * removed in time cancels the eviction. Before deleting, the pod gets the DisruptionTarget
 * condition (reason DeletionByTaintManager), and a TaintManagerEviction event is recorded.
 *
 * Level-triggered: reconcile(pod key) recomputes the decision from the caches and asks to be
 * called again at the eviction time, instead of Kubernetes' timed worker queue.
 */
import { ApiClient } from '../../lib/apiclient';
import { isReason } from '../../lib/errors';
import { Node, Pod } from '../../lib/generated/kubemu/core/v1/core';
import { Informer } from '../../lib/informer';
import { Logger } from '../../lib/log';
import { objectKey, resourceForCase } from '../../lib/resources';
import { formatTime } from '../../lib/time';
import { ReconcileResult } from '../../lib/workqueue';
import { ControllerDescriptor } from '../context';
import { ReconcileLoop } from '../loop';
import { POD_NODE_INDEX, podsByNode } from './controller';
import { evictionDecision, noExecuteTaints } from './taints';

const POD = resourceForCase('pod');

export interface TaintEvictionDeps {
  pods: Pick<Informer<'pod'>, 'get'>;
  nodes: Pick<Informer<'node'>, 'get'>;
  client: Pick<ApiClient, 'delete' | 'updateStatus'>;
  recorder: { record(obj: Pod, type: 'Normal' | 'Warning', reason: string, action: string, message: string): Promise<void> };
  log: Logger;
  now(): number;
}

/** The taint-eviction state and reconcile; `scheduled` remembers when each pod (by uid) was first found under NoExecute taints. */
export class TaintEviction {
  readonly scheduled = new Map<string, number>();

  constructor(private readonly d: TaintEvictionDeps) {}

  /**
   * processPodOnNode for pod `key`: cancels a scheduled eviction when nothing calls for it any
   * more, deletes the pod when its time has come, or asks to be called again then. Throws on API
   * errors (the loop retries).
   */
  async reconcile(key: string): Promise<ReconcileResult> {
    const pod = this.d.pods.get(key);
    const uid = pod?.metadata?.uid ?? '';
    if (!pod || !pod.spec?.nodeName || pod.metadata?.deletionTimestamp) {
      for (const k of [...this.scheduled.keys()]) if (k.startsWith(`${key}|`)) this.scheduled.delete(k);
      return;
    }
    const id = `${key}|${uid}`;
    const node: Node | undefined = this.d.nodes.get(pod.spec.nodeName);
    const now = this.d.now();
    const since = this.scheduled.get(id) ?? now;
    const decision = evictionDecision(pod, noExecuteTaints(node), since);
    if (decision.action === 'keep') {
      if (this.scheduled.delete(id)) void this.d.recorder.record(pod, 'Normal', 'TaintManagerEviction', '', `Cancelling deletion of Pod ${key}`);
      return;
    }
    if (decision.action === 'evictAt' && decision.at > now) {
      this.scheduled.set(id, since);
      return { requeueAfterMs: decision.at - now };
    }
    await this.evict(pod, key);
    this.scheduled.delete(id);
  }

  /** addConditionAndDeletePod: the DisruptionTarget condition, the event, then the delete (uid precondition). */
  private async evict(pod: Pod, key: string): Promise<void> {
    void this.d.recorder.record(pod, 'Normal', 'TaintManagerEviction', '', `Marking for deletion Pod ${key}`);
    const conditions = (pod.status?.conditions ?? []).filter((c) => c.type !== 'DisruptionTarget');
    conditions.push({ type: 'DisruptionTarget', status: 'True', reason: 'DeletionByTaintManager', message: 'Taint manager: deleting due to NoExecute taint', lastTransitionTime: formatTime(this.d.now()), lastProbeTime: '' });
    try {
      await this.d.client.updateStatus(POD, { ...pod, status: { ...pod.status, conditions } });
    } catch (err) {
      if (isReason(err, 'NotFound')) return;
      // A conflict only loses the condition; the deletion matters more.
      if (!isReason(err, 'Conflict')) throw err;
    }
    try {
      await this.d.client.delete(POD, pod.metadata?.namespace ?? '', pod.metadata?.name ?? '', { preconditions: { uid: pod.metadata?.uid } });
      this.d.log.info('evicted pod from a NoExecute-tainted node', { pod: key, node: pod.spec?.nodeName });
    } catch (err) {
      if (isReason(err, 'NotFound') || isReason(err, 'Conflict')) return;
      throw err;
    }
  }
}

/** The taint-eviction controller's row (--controllers taint-eviction-controller). */
export const taintEvictionController: ControllerDescriptor = {
  name: 'taint-eviction-controller',
  create(ctx) {
    const log = ctx.log.with({ controller: 'taint-eviction-controller' });
    const podIndex = { [POD_NODE_INDEX]: podsByNode };
    ctx.informers.informer('node');
    ctx.informers.informer('pod', podIndex);
    return {
      run: () => {
        // Looked up now: SharedInformers replaces an informer when a controller created later adds indexers.
        const nodes = ctx.informers.informer('node');
        const pods = ctx.informers.informer('pod', podIndex);
        const te = new TaintEviction({ pods, nodes, client: ctx.client, recorder: ctx.recorder('taint-eviction-controller'), log, now: ctx.now });
        const loop = new ReconcileLoop({ name: 'taint-eviction-controller', log, workers: 8, reconcile: (key) => te.reconcile(key) });
        const sig = (n: Node | undefined) => JSON.stringify(noExecuteTaints(n).map((t) => [t.key, t.value, t.effect]));
        const enqueueNodePods = (n: Node) => {
          for (const p of pods.byIndex(POD_NODE_INDEX, n.metadata?.name ?? '')) loop.enqueue(objectKey(p));
        };
        nodes.addHandlers({
          onAdd: (n) => {
            if (noExecuteTaints(n).length) enqueueNodePods(n);
          },
          onUpdate: (o, n) => {
            if (sig(o) !== sig(n)) enqueueNodePods(n);
          },
        });
        pods.addHandlers({
          onAdd: (p) => {
            if (p.spec?.nodeName) loop.enqueue(objectKey(p));
          },
          onUpdate: (o, p) => {
            // Only what the decision depends on: the node, the tolerations, deletion.
            if (o.spec?.nodeName !== p.spec?.nodeName || JSON.stringify(o.spec?.tolerations) !== JSON.stringify(p.spec?.tolerations) || o.metadata?.deletionTimestamp !== p.metadata?.deletionTimestamp) loop.enqueue(objectKey(p));
          },
          onDelete: (p) => loop.enqueue(objectKey(p)),
        });
        return loop.run();
      },
    };
  },
};
