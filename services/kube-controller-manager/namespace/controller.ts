/**
 * The namespace controller (pkg/controller/namespace): a namespace with a deletionTimestamp is
 * emptied and finalized by the deleter; while content remains that goes by itself (pods in their
 * grace period, objects held by finalizers) the namespace is looked at again after half the
 * estimate, as Kubernetes does.
 */
import { NAMESPACE_INDEX } from '../../lib/informer';
import { ControllerDescriptor } from '../context';
import { ReconcileLoop } from '../loop';
import { deleteNamespaceContent } from './deleter';

/** The namespace controller's row (--controllers namespace). */
export const namespaceController: ControllerDescriptor = {
  name: 'namespace',
  create(ctx) {
    const log = ctx.log.with({ controller: 'namespace' });
    ctx.informers.informer('namespace');
    ctx.informers.informer('pod');
    const loop = new ReconcileLoop({
      name: 'namespace',
      log,
      // kube-controller-manager's --concurrent-namespace-syncs default.
      workers: 10,
      reconcile: async (name) => {
        const started = Date.now();
        const outcome = await deleteNamespaceContent({ client: ctx.client, log, now: ctx.now }, name);
        if (outcome.done) {
          log.debug('namespace synced', { namespace: name, durationMs: Date.now() - started });
          return;
        }
        return { requeueAfterMs: Math.max(1, outcome.retryAfterSeconds / 2) * 1000 };
      },
    });
    const enqueueIfDeleting = (ns: { metadata?: { name?: string; deletionTimestamp?: string } }) => {
      if (ns.metadata?.deletionTimestamp) loop.enqueue(ns.metadata.name ?? '');
    };
    return {
      run: () => {
        // Looked up again now: SharedInformers replaces an informer when a controller created later adds indexers.
        const namespaces = ctx.informers.informer('namespace');
        const pods = ctx.informers.informer('pod');
        namespaces.addHandlers({ onAdd: enqueueIfDeleting, onUpdate: (_o, n) => enqueueIfDeleting(n) });
        // Not in Kubernetes, which waits out the estimate: the last pod of a terminating namespace
        // going away is a reason to look again at once (pods usually go well within their grace).
        pods.addHandlers({
          onDelete: (p) => {
            const ns = namespaces.get(p.metadata?.namespace ?? '');
            if (ns?.metadata?.deletionTimestamp && pods.byIndex(NAMESPACE_INDEX, ns.metadata.name ?? '').length === 0) loop.enqueue(ns.metadata.name ?? '');
          },
        });
        return loop.run();
      },
    };
  },
};
