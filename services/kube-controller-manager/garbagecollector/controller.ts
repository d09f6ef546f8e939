/**
 * The garbage collector's row: informers of every resource kubemu serves (but Events, which
 * Kubernetes' collector ignores too) feed the dependency graph; two work queues keyed by uid run
 * attemptToDelete and attemptToOrphan.
 */
import { RESOURCES } from '../../lib/resources';
import { ControllerDescriptor } from '../context';
import { ReconcileLoop } from '../loop';
import { GarbageCollector, ObjectOps } from './collector';
import { DependencyGraph } from './graph';

/** Resources the collector does not follow (Kubernetes' ignoredResources). */
const IGNORED = new Set(['events']);

/** The garbage collector's row (--controllers garbage-collector). */
export const garbageCollectorController: ControllerDescriptor = {
  name: 'garbage-collector',
  create(ctx) {
    const log = ctx.log.with({ controller: 'garbage-collector' });
    let deleteLoop: ReconcileLoop | undefined;
    let orphanLoop: ReconcileLoop | undefined;
    const graph = new DependencyGraph({
      attemptToDelete: (n) => deleteLoop!.enqueue(n.identity.uid),
      attemptToOrphan: (n) => orphanLoop!.enqueue(n.identity.uid),
    });
    const recorder = ctx.recorder('garbage-collector-controller');
    const gc = new GarbageCollector(graph, new ObjectOps(ctx.client), log, (n) => deleteLoop!.enqueue(n.identity.uid), (id, reason, message) =>
      void recorder.record({ apiVersion: id.apiVersion, kind: id.kind, metadata: { name: id.name, namespace: id.namespace, uid: id.uid } }, 'Warning', reason, '', message),
    );
    // kube-controller-manager's --concurrent-gc-syncs is 20; 5 is plenty for this cluster's size.
    deleteLoop = new ReconcileLoop({ name: 'garbage-collector-attempt-to-delete', log, workers: 5, reconcile: (uid) => gc.attemptToDelete(uid) });
    orphanLoop = new ReconcileLoop({ name: 'garbage-collector-attempt-to-orphan', log, workers: 2, reconcile: (uid) => gc.attemptToOrphan(uid) });
    const followed = RESOURCES.filter((info) => !IGNORED.has(info.resource));
    for (const info of followed) ctx.informers.informer(info.objectCase);
    return {
      run: () => {
        // Handlers are added now, to the informers as finally started (SharedInformers replaces an
        // informer when a controller created after this one adds indexers); the caches replay as adds.
        for (const info of followed) {
          ctx.informers.informer(info.objectCase).addHandlers({
            onAdd: (o) => graph.observe(info, o),
            onUpdate: (_old, o) => graph.observe(info, o),
            onDelete: (o) => graph.remove(o.metadata?.uid ?? ''),
          });
        }
        log.info('dependency graph synced', { nodes: graph.size });
        deleteLoop!.run();
        orphanLoop!.run();
        return {
          stop: async () => {
            await Promise.all([deleteLoop!.stop(), orphanLoop!.stop()]);
          },
        };
      },
    };
  },
};
