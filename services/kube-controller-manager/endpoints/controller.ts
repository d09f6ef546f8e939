/**
 * The endpoints controller (pkg/controller/endpoint): for every Service with a selector, an
 * Endpoints object of the same name listing the selected pods' IPs, ready ones as addresses and
 * the others as notReadyAddresses, on every Service port resolved per pod. Services without a
 * selector are left alone (their Endpoints are the user's); Endpoints of a Service that is gone
 * are deleted.
 */
import { ApiClient } from '../../lib/apiclient';
import { isReason } from '../../lib/errors';
import { Endpoints, Pod, Service } from '../../lib/generated/kubemu/core/v1/core';
import { Informer, NAMESPACE_INDEX } from '../../lib/informer';
import { labelSelectorFromSet } from '../../lib/labels';
import { Logger } from '../../lib/log';
import { objectKey, resourceForCase } from '../../lib/resources';
import { ControllerDescriptor } from '../context';
import { ReconcileLoop } from '../loop';
import { buildSubsets, truncateSubsets } from './subsets';

const ENDPOINTS = resourceForCase('endpoints');

/** Kubernetes' v1.EndpointsLastChangeTriggerTime annotation. */
export const LAST_CHANGE_TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';
/** Kubernetes' v1.EndpointsOverCapacity annotation, set to "truncated" when addresses were left out. */
export const OVER_CAPACITY = 'endpoints.kubernetes.io/over-capacity';
/** Kubernetes' v1.IsHeadlessService label. */
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';

export interface EndpointsDeps {
  services: Pick<Informer<'service'>, 'get'>;
  pods: Pick<Informer<'pod'>, 'byIndex'>;
  endpoints: Pick<Informer<'endpoints'>, 'get'>;
  client: Pick<ApiClient, 'create' | 'update' | 'delete' | 'get'>;
  recorder: { record(obj: Endpoints, type: 'Normal' | 'Warning', reason: string, action: string, message: string): Promise<void> };
  log: Logger;
  /** When the first change not yet synced was seen for a service key (the trigger time tracker). */
  triggerTime(key: string): number | undefined;
}

function sameJSON(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function labelsEqual(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const ak = Object.keys(a ?? {});
  return ak.length === Object.keys(b).length && ak.every((k) => a![k] === b[k]);
}

/**
 * The labels Kubernetes gives a Service's Endpoints: the Service's own, plus the headless marker
 * for a headless Service. Kubernetes tests "no cluster IP set"; only clusterIP None counts here,
 * since a Service may not have its IP allocated yet in kubemu.
 */
export function endpointsLabels(svc: Service): Record<string, string> {
  const labels = { ...(svc.metadata?.labels ?? {}) };
  if (svc.spec?.clusterIP === 'None') labels[HEADLESS_LABEL] = '';
  else delete labels[HEADLESS_LABEL];
  return labels;
}

/**
 * Syncs the Endpoints of Service `key` (syncService): deletes them when the Service is gone,
 * leaves selectorless Services alone, otherwise creates or updates them when subsets or labels
 * differ. Throws on API errors (the loop retries), except a create refused because the namespace
 * is terminating.
 */
export async function reconcileEndpoints(d: EndpointsDeps, key: string): Promise<void> {
  const [namespace, name] = key.split('/');
  const svc = d.services.get(key);
  if (!svc) {
    try {
      await d.client.delete(ENDPOINTS, namespace, name);
      d.log.info('deleted endpoints of a deleted service', { key });
    } catch (err) {
      if (!isReason(err, 'NotFound')) throw err;
    }
    return;
  }
  const selector = svc.spec?.selector;
  if (!selector || Object.keys(selector).length === 0) return;
  const sel = labelSelectorFromSet(selector);
  const pods = d.pods.byIndex(NAMESPACE_INDEX, namespace).filter((p) => sel.matches(p.metadata?.labels));
  const { subsets, truncated } = truncateSubsets(buildSubsets(svc, pods));
  const current = d.endpoints.get(key);
  const labels = endpointsLabels(svc);
  const capacityCorrect = (current?.metadata?.annotations?.[OVER_CAPACITY] === 'truncated') === truncated;
  if (current && sameJSON(current.subsets ?? [], subsets) && labelsEqual(current.metadata?.labels, labels) && capacityCorrect) return;

  const annotations = { ...(current?.metadata?.annotations ?? {}) };
  if (truncated) annotations[OVER_CAPACITY] = 'truncated';
  else delete annotations[OVER_CAPACITY];
  const trigger = d.triggerTime(key);
  if (trigger !== undefined) annotations[LAST_CHANGE_TRIGGER_TIME] = new Date(trigger).toISOString();
  else delete annotations[LAST_CHANGE_TRIGGER_TIME];
  const next: Endpoints = {
    ...(current ?? {}),
    metadata: { ...(current?.metadata ?? { name, namespace }), labels, annotations },
    subsets,
  };
  try {
    if (current) {
      try {
        await d.client.update(ENDPOINTS, next);
      } catch (err) {
        // Usually our own previous write not yet in the cache: once more against the live object.
        if (!isReason(err, 'Conflict')) throw err;
        const live = await d.client.get(ENDPOINTS, namespace, name);
        if (sameJSON(live.subsets ?? [], subsets) && labelsEqual(live.metadata?.labels, labels) && (live.metadata?.annotations?.[OVER_CAPACITY] === 'truncated') === truncated) return;
        await d.client.update(ENDPOINTS, { ...next, metadata: { ...next.metadata, resourceVersion: live.metadata?.resourceVersion } });
      }
    } else {
      try {
        await d.client.create(ENDPOINTS, next);
      } catch (err) {
        // The cache has not shown Endpoints written a moment ago (by us): update the live object.
        if (!isReason(err, 'AlreadyExists')) throw err;
        const live = await d.client.get(ENDPOINTS, namespace, name);
        if (sameJSON(live.subsets ?? [], subsets) && labelsEqual(live.metadata?.labels, labels) && (live.metadata?.annotations?.[OVER_CAPACITY] === 'truncated') === truncated) return;
        await d.client.update(ENDPOINTS, { ...live, metadata: { ...live.metadata, labels, annotations: { ...(live.metadata?.annotations ?? {}), ...annotations } }, subsets });
      }
    }
  } catch (err) {
    // The namespace is terminating: nothing to create there any more.
    if (!current && (isReason(err, 'Forbidden') || isReason(err, 'NotFound'))) return;
    if (isReason(err, 'Conflict') || isReason(err, 'AlreadyExists')) throw err;
    void d.recorder.record(
      next,
      'Warning',
      current ? 'FailedToUpdateEndpoint' : 'FailedToCreateEndpoint',
      '',
      current ? `Failed to update endpoint ${key}: ${(err as Error).message}` : `Failed to create endpoint for service ${key}: ${(err as Error).message}`,
    );
    throw err;
  }
  d.log.debug('endpoints synced', { key, subsets: subsets.length });
}

/**
 * The endpoints controller's row (--controllers endpoint). Informers are asked for in create()
 * but looked up again, and handlers added, in run(): SharedInformers replaces an informer when a
 * controller created later adds indexers to it, and the replaced instance is never started.
 */
export const endpointsController: ControllerDescriptor = {
  name: 'endpoint',
  create(ctx) {
    ctx.informers.informer('service');
    ctx.informers.informer('pod');
    ctx.informers.informer('endpoints');
    return {
      run: () => {
        const services = ctx.informers.informer('service');
        const pods = ctx.informers.informer('pod');
        const endpoints = ctx.informers.informer('endpoints');
        const log = ctx.log.with({ controller: 'endpoint' });
        const pending = new Map<string, number>();
        const deps: EndpointsDeps = {
          services,
          pods,
          endpoints,
          client: ctx.client,
          recorder: ctx.recorder('endpoint-controller'),
          log,
          triggerTime: (k) => pending.get(k),
        };
        const loop = new ReconcileLoop({
          name: 'endpoint',
          log,
          reconcile: async (key) => {
            // This sync accounts for the changes seen before it started; one seen while it runs
            // starts a new trigger time for the next sync (a later touch must not inherit or lose it).
            const trigger = pending.get(key);
            pending.delete(key);
            try {
              await reconcileEndpoints({ ...deps, triggerTime: () => trigger }, key);
            } catch (err) {
              if (trigger !== undefined && !pending.has(key)) pending.set(key, trigger);
              throw err;
            }
          },
        });
        const touch = (key: string) => {
          if (!pending.has(key)) pending.set(key, ctx.now());
          loop.enqueue(key);
        };
        const servicesOf = (pod: Pod): string[] =>
          services
            .byIndex(NAMESPACE_INDEX, pod.metadata?.namespace ?? '')
            .filter((s) => s.spec?.selector && Object.keys(s.spec.selector).length && labelSelectorFromSet(s.spec.selector).matches(pod.metadata?.labels))
            .map((s) => objectKey(s));
        services.addHandlers({
          onAdd: (s) => touch(objectKey(s)),
          onUpdate: (_o, s) => touch(objectKey(s)),
          onDelete: (s) => touch(objectKey(s)),
        });
        // Every Service is synced once anyway (replayed as adds above): pods replayed add nothing.
        let replaying = true;
        pods.addHandlers({
          onAdd: (p) => {
            if (!replaying) servicesOf(p).forEach(touch);
          },
          onUpdate: (o, p) => {
            if (o.metadata?.resourceVersion === p.metadata?.resourceVersion) return;
            new Set([...servicesOf(o), ...servicesOf(p)]).forEach(touch);
          },
          onDelete: (p) => servicesOf(p).forEach(touch),
        });
        replaying = false;
        endpoints.addHandlers({
          // Recreated when someone else removed them.
          onDelete: (e) => {
            if (services.get(objectKey(e))) loop.enqueue(objectKey(e));
          },
        });
        // checkLeftoverEndpoints: Endpoints of Services deleted while no controller ran are removed
        // (except leader-election records, which Kubernetes still skips).
        for (const e of endpoints.list()) {
          if (!services.get(objectKey(e)) && !e.metadata?.annotations?.['control-plane.alpha.kubernetes.io/leader']) loop.enqueue(objectKey(e));
        }
        return loop.run();
      },
    };
  },
};
