/**
 * The namespace controller's deleter (Kubernetes' pkg/controller/namespace/deletion): for a
 * namespace being deleted, deletes everything in it (every namespaced resource kubemu serves),
 * reports progress in the namespace's status conditions with Kubernetes' types, reasons and
 * messages, and once nothing is left removes the `kubernetes` finalizer from spec.finalizers,
 * after which the apiserver removes the namespace.
 *
 * Kubernetes removes the finalizer through the namespaces/finalize subresource; kubemu's
 * apiserver has none, and its Update accepts a change of spec.finalizers (Kubernetes' Update
 * ignores it), so the finalizer is removed with an Update carrying the resourceVersion read.
 */
import { ApiClient } from '../../lib/apiclient';
import { isReason } from '../../lib/errors';
import { Namespace, NamespaceCondition, Pod } from '../../lib/generated/kubemu/core/v1/core';
import { Logger } from '../../lib/log';
import { KubeObject, RESOURCES, ResourceInfo, resourceForCase } from '../../lib/resources';
import { formatTime } from '../../lib/time';

const NAMESPACES = resourceForCase('namespace');
export const FINALIZER_KUBERNETES = 'kubernetes';
/** How long objects held by finalizers are given before looking again (Kubernetes' finalizerEstimateSeconds). */
export const FINALIZER_ESTIMATE_SECONDS = 5;

/** The namespace condition types, in Kubernetes' order. */
export const CONDITION_TYPES = [
  'NamespaceDeletionDiscoveryFailure',
  'NamespaceDeletionGroupVersionParsingFailure',
  'NamespaceDeletionContentFailure',
  'NamespaceContentRemaining',
  'NamespaceFinalizersRemaining',
] as const;

/** What remained of one resource after a deletion pass. */
export interface ResourceRemaining {
  info: ResourceInfo;
  count: number;
  /** Finalizer → how many remaining objects carry it. */
  finalizers: Map<string, number>;
}

/**
 * The namespace's conditions after a pass (namespaceConditionUpdater): discovery and parsing
 * always succeed here; content failure from `errors`; remaining resources and finalizers with
 * Kubernetes' messages ("Some resources are remaining: pods. has 2 resource instances"). A
 * condition unchanged in status, reason and message keeps its lastTransitionTime. Pure.
 */
export function namespaceConditions(existing: NamespaceCondition[] | undefined, remaining: ResourceRemaining[], errors: string[], now: number): NamespaceCondition[] {
  const resources = remaining
    .filter((r) => r.count > 0)
    .map((r) => `${r.info.resource}.${r.info.group} has ${r.count} resource instances`)
    .sort();
  const finalizerCounts = new Map<string, number>();
  for (const r of remaining) for (const [f, n] of r.finalizers) finalizerCounts.set(f, (finalizerCounts.get(f) ?? 0) + n);
  const finalizers = [...finalizerCounts].map(([f, n]) => `${f} in ${n} resource instances`).sort();
  const wanted: Omit<NamespaceCondition, 'lastTransitionTime'>[] = [
    { type: 'NamespaceDeletionDiscoveryFailure', status: 'False', reason: 'ResourcesDiscovered', message: 'All resources successfully discovered' },
    { type: 'NamespaceDeletionGroupVersionParsingFailure', status: 'False', reason: 'ParsedGroupVersions', message: 'All legacy kube types successfully parsed' },
    errors.length
      ? { type: 'NamespaceDeletionContentFailure', status: 'True', reason: 'ContentDeletionFailed', message: `Failed to delete all resource types, ${errors.length} remaining: ${errors.join(', ')}` }
      : { type: 'NamespaceDeletionContentFailure', status: 'False', reason: 'ContentDeleted', message: 'All content successfully deleted, may be waiting on finalization' },
    resources.length
      ? { type: 'NamespaceContentRemaining', status: 'True', reason: 'SomeResourcesRemain', message: `Some resources are remaining: ${resources.join(', ')}` }
      : { type: 'NamespaceContentRemaining', status: 'False', reason: 'ContentRemoved', message: 'All content successfully removed' },
    finalizers.length
      ? { type: 'NamespaceFinalizersRemaining', status: 'True', reason: 'SomeFinalizersRemain', message: `Some content in the namespace has finalizers remaining: ${finalizers.join(', ')}` }
      : { type: 'NamespaceFinalizersRemaining', status: 'False', reason: 'ContentHasNoFinalizers', message: 'All content-preserving finalizers finished' },
  ];
  const old = new Map((existing ?? []).map((c) => [c.type, c]));
  const out: NamespaceCondition[] = wanted.map((w) => {
    const prev = old.get(w.type);
    const same = prev && prev.status === w.status && prev.reason === w.reason && prev.message === w.message;
    return { ...w, lastTransitionTime: same && prev.lastTransitionTime ? prev.lastTransitionTime : formatTime(now) };
  });
  // Conditions of other types (someone else's) are kept after ours.
  for (const c of existing ?? []) if (!CONDITION_TYPES.includes(c.type as never)) out.push(c);
  return out;
}

/** Seconds until a remaining object is expected to be gone: a pod by its deletionTimestamp (its grace period), others with finalizers by the estimate. */
export function estimateSeconds(info: ResourceInfo, items: KubeObject[], now: number): number {
  let estimate = 0;
  for (const o of items) {
    if (info.objectCase === 'pod') {
      const p = o as Pod;
      if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
      const at = Date.parse(p.metadata?.deletionTimestamp ?? '');
      if (Number.isFinite(at)) estimate = Math.max(estimate, Math.ceil((at - now) / 1000));
    }
    if ((o.metadata?.finalizers ?? []).length) estimate = Math.max(estimate, FINALIZER_ESTIMATE_SECONDS);
  }
  return Math.max(0, estimate);
}

export type DeleteOutcome = { done: true } | { done: false; retryAfterSeconds: number };

export interface NamespaceDeleterDeps {
  client: Pick<ApiClient, 'list' | 'delete' | 'get' | 'update' | 'updateStatus'>;
  log: Logger;
  now(): number;
}

/** Every namespaced resource kubemu serves: what a namespace can contain. */
export const NAMESPACED_RESOURCES = RESOURCES.filter((r) => r.namespaced);

/**
 * One deletion pass over namespace `name` (namespacedResourcesDeleter.Delete): nothing when it is
 * gone, not being deleted, or already finalized; otherwise deletes every object in it (Background
 * propagation), lists what remains, writes the conditions when they changed, and removes the
 * `kubernetes` finalizer once nothing remains. Returns when to look again while something
 * remains that is expected to go by itself; throws when a deletion failed or objects remain for
 * no known reason (the loop retries with backoff).
 */
export async function deleteNamespaceContent(d: NamespaceDeleterDeps, name: string): Promise<DeleteOutcome> {
  let ns: Namespace;
  try {
    ns = await d.client.get(NAMESPACES, '', name);
  } catch (err) {
    if (isReason(err, 'NotFound')) return { done: true };
    throw err;
  }
  if (!ns.metadata?.deletionTimestamp) return { done: true };
  if (!(ns.spec?.finalizers ?? []).includes(FINALIZER_KUBERNETES)) return { done: true };

  const errors: string[] = [];
  const remaining: ResourceRemaining[] = [];
  let estimate = 0;
  let unexpected = 0;
  for (const info of NAMESPACED_RESOURCES) {
    try {
      const items = (await d.client.list(info, name)).items as KubeObject[];
      for (const o of items) {
        if (o.metadata?.deletionTimestamp) continue;
        try {
          await d.client.delete(info, name, o.metadata?.name ?? '', { propagationPolicy: 'Background', preconditions: { uid: o.metadata?.uid } });
        } catch (err) {
          if (!isReason(err, 'NotFound') && !isReason(err, 'Conflict')) throw err;
        }
      }
      const left = items.length ? ((await d.client.list(info, name)).items as KubeObject[]) : [];
      if (left.length === 0) continue;
      const finalizers = new Map<string, number>();
      for (const o of left) for (const f of o.metadata?.finalizers ?? []) finalizers.set(f, (finalizers.get(f) ?? 0) + 1);
      remaining.push({ info, count: left.length, finalizers });
      const e = estimateSeconds(info, left, d.now());
      if (e === 0) unexpected++;
      estimate = Math.max(estimate, e);
    } catch (err) {
      errors.push(`${info.resource}.${info.group}: ${(err as Error).message}`);
    }
  }

  const conditions = namespaceConditions(ns.status?.conditions, remaining, errors, d.now());
  if (JSON.stringify(conditions) !== JSON.stringify(ns.status?.conditions ?? [])) {
    try {
      ns = await d.client.updateStatus(NAMESPACES, { ...ns, status: { ...ns.status, conditions } });
    } catch (err) {
      // A Conflict only means the namespace moved on: the next pass writes the conditions.
      if (!isReason(err, 'Conflict')) throw err;
      ns = await d.client.get(NAMESPACES, '', name);
    }
  }
  if (errors.length) throw new Error(`namespace ${name}: ${errors.join('; ')}`);
  if (remaining.length) {
    if (unexpected > 0 && estimate === 0) throw new Error(`unexpected items still remain in namespace: ${name}`);
    d.log.info('namespace content remaining', { namespace: name, remaining: remaining.map((r) => `${r.info.resource}:${r.count}`).join(','), estimateSeconds: estimate });
    return { done: false, retryAfterSeconds: estimate };
  }
  // Finalize: nothing is left in the namespace.
  for (let attempt = 0; ; attempt++) {
    const next: Namespace = { ...ns, spec: { ...ns.spec, finalizers: (ns.spec?.finalizers ?? []).filter((f) => f !== FINALIZER_KUBERNETES) } };
    try {
      await d.client.update(NAMESPACES, next);
      d.log.info('namespace finalized', { namespace: name });
      return { done: true };
    } catch (err) {
      if (isReason(err, 'NotFound')) return { done: true };
      if (!isReason(err, 'Conflict') || attempt >= 4) throw err;
      ns = await d.client.get(NAMESPACES, '', name);
    }
  }
}
