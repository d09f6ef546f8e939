/**
 * The DaemonSet controller (pkg/controller/daemon daemon_controller.go, update.go): one pod per
 * node that should run it (placement.ts), placed by the scheduler through a required node
 * affinity `metadata.name In [node]`; pods are created when a node joins or starts matching and
 * deleted when it stops matching; failed daemon pods are replaced; RollingUpdate (maxUnavailable;
 * or maxSurge: the new pod first, the old one deleted once the new one is available) and OnDelete;
 * status counts per node.
 *
 * One deviation: daemon pods bound to a node that no longer exists are deleted here at once (grace
 * period 0, as the pod GC controller would force-delete them): kubemu may run without podgc, and
 * nothing else would remove them.
 */
import { ApiClient } from '../../lib/apiclient';
import { isReason } from '../../lib/errors';
import { EventRecorder } from '../../lib/events';
import { DaemonSet, DaemonSetStatus } from '../../lib/generated/kubemu/apps/v1/apps';
import { Node, Pod } from '../../lib/generated/kubemu/core/v1/core';
import { Informer, NAMESPACE_INDEX } from '../../lib/informer';
import { labelSelectorFromMeta } from '../../lib/labels';
import { Logger } from '../../lib/log';
import { objectKey, resourceForCase } from '../../lib/resources';
import { ReconcileResult } from '../../lib/workqueue';
import { ControllerDescriptor } from '../context';
import { ControllerExpectations } from '../expectations';
import { ReconcileLoop } from '../loop';
import { controllerOf, controllerRef, isPodAvailable, isPodReady, podFromTemplate } from '../podutil';
import { claimObjects } from '../replicaset/refmanager';
import {
  affinityForNode,
  isPodUpdated,
  nodeShouldRunDaemonPod,
  REVISION_LABEL,
  rollingUpdateDeletions,
  scaledValue,
  surgeUpdate,
  targetNodeName,
  TEMPLATE_GENERATION_LABEL,
  templateHash,
  withDaemonTolerations,
} from './placement';

const POD = resourceForCase('pod');
const DS = resourceForCase('daemonSet');
export const COMPONENT = 'daemonset-controller';
/** Pods by the `namespace/name` of the DaemonSet controlling them. */
export const PODS_BY_DAEMONSET = 'daemonset-controller/owner';

export interface DaemonSetDeps {
  client: Pick<ApiClient, 'create' | 'delete' | 'get' | 'patch' | 'updateStatus'>;
  sets: { get(key: string): DaemonSet | undefined };
  pods: { byIndex(name: string, value: string): Pod[] };
  nodes: { list(): Node[] };
  recorder: Pick<EventRecorder, 'record'>;
  expectations: ControllerExpectations;
  log: Logger;
  now(): number;
}

/** The index function of PODS_BY_DAEMONSET. */
export function podsByDaemonSet(pod: Pod): string[] {
  const ref = controllerOf(pod.metadata);
  return ref?.kind === 'DaemonSet' && ref.name ? [`${pod.metadata?.namespace}/${ref.name}`] : [];
}

const created = (p: Pod): number => Date.parse(p.metadata?.creationTimestamp ?? '') || 0;
const byAge = (a: Pod, b: Pod): number => created(a) - created(b) || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');

/** The pod of `ds` for `nodeName` (NewPod + ReplaceDaemonSetPodNodeNameNodeAffinity + labels). */
export function newDaemonPod(ds: DaemonSet, nodeName: string, hash: string): Pod {
  const pod = podFromTemplate(ds.spec?.template, ds.metadata?.namespace ?? '', `${ds.metadata?.name}-`, controllerRef(ds, 'apps/v1', 'DaemonSet'));
  pod.metadata!.labels = { ...(pod.metadata!.labels ?? {}), [REVISION_LABEL]: hash, [TEMPLATE_GENERATION_LABEL]: String(ds.metadata?.generation ?? 1) };
  if (pod.metadata!.annotations && Object.keys(pod.metadata!.annotations).length === 0) delete pod.metadata!.annotations;
  pod.spec ??= {};
  pod.spec.affinity = affinityForNode(pod.spec.affinity, nodeName);
  pod.spec.tolerations = withDaemonTolerations(pod.spec);
  return pod;
}

/**
 * One sync of a DaemonSet (syncDaemonSet: manage, rollingUpdate, updateDaemonSetStatus). Waits
 * (acts on nothing, still writes status) while earlier creations or deletions are not yet seen in
 * the cache. Throws on API errors (the loop retries with backoff).
 */
export async function syncDaemonSet(d: DaemonSetDeps, key: string): Promise<ReconcileResult> {
  const ds = d.sets.get(key);
  if (!ds) {
    d.expectations.delete(key);
    return;
  }
  if (ds.metadata?.deletionTimestamp) return;
  const now = d.now();
  const spec = ds.spec ?? {};
  const minReadySeconds = spec.minReadySeconds ?? 0;
  const hash = templateHash(ds);
  const generation = ds.metadata?.generation;
  const selector = labelSelectorFromMeta(spec.selector);
  const nodes = d.nodes.list();
  const nodeNames = new Set(nodes.map((n) => n.metadata?.name ?? ''));

  // Daemon pods by the node they are for; pods whose node is gone are deleted.
  const byNode = new Map<string, Pod[]>();
  const orphaned: Pod[] = [];
  // ClaimPods: orphans matching the selector are adopted, ours that stopped matching released.
  const ns = ds.metadata?.namespace ?? '';
  const candidates = [...d.pods.byIndex(PODS_BY_DAEMONSET, key), ...d.pods.byIndex(NAMESPACE_INDEX, ns).filter((p) => !controllerOf(p.metadata))];
  const claimed = await claimObjects(candidates, {
    owner: ds,
    ref: controllerRef(ds, 'apps/v1', 'DaemonSet'),
    selector,
    canAdopt: async () => {
      const fresh = await d.client.get(DS, ns, ds.metadata?.name ?? '');
      if (fresh.metadata?.uid !== ds.metadata?.uid || fresh.metadata?.deletionTimestamp) throw new Error(`daemonset ${key}: no longer adopting (gone, replaced or being deleted)`);
    },
    patch: async (obj, patch) => {
      await d.client.patch(POD, obj.metadata?.namespace ?? '', obj.metadata?.name ?? '', patch);
    },
  });
  for (const p of claimed) {
    const node = targetNodeName(p);
    if (!node) continue;
    if (!nodeNames.has(node)) {
      // Unscheduled pods for a node that is gone (getUnscheduledPodsWithoutNode), and, see the
      // file comment, bound pods of a vanished node.
      orphaned.push(p);
      continue;
    }
    const list = byNode.get(node) ?? [];
    list.push(p);
    byNode.set(node, list);
  }

  const placement = new Map(nodes.map((n) => [n.metadata?.name ?? '', nodeShouldRunDaemonPod(ds, n)]));
  const rollingUpdate = (spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
  const desired = nodes.filter((n) => placement.get(n.metadata?.name ?? '')!.shouldRun).length;
  // updatedDesiredNodeCounts: both round up; both 0 means maxUnavailable 1.
  const maxSurge = rollingUpdate ? scaledValue(spec.updateStrategy?.rollingUpdate?.maxSurge ?? 0, desired, true) : 0;
  let maxUnavailable = rollingUpdate ? scaledValue(spec.updateStrategy?.rollingUpdate?.maxUnavailable ?? 1, desired, true) : 0;
  if (maxUnavailable === 0 && maxSurge === 0) maxUnavailable = 1;
  if (d.expectations.satisfied(key)) {
    const toCreate: string[] = [];
    const toDelete: Pod[] = [...orphaned.filter((p) => !p.metadata?.deletionTimestamp || (p.metadata.deletionGracePeriodSeconds ?? 0) > 0)];
    for (const node of nodes) {
      const name = node.metadata?.name ?? '';
      const { shouldRun, shouldContinueRunning } = placement.get(name)!;
      const pods = (byNode.get(name) ?? []).filter((p) => !p.metadata?.deletionTimestamp);
      if (shouldContinueRunning) {
        const running: Pod[] = [];
        for (const p of pods) {
          if (p.status?.phase === 'Failed') {
            await d.recorder.record(ds, 'Warning', 'FailedDaemonPod', '', `Found failed daemon pod ${p.metadata?.namespace}/${p.metadata?.name} on node ${name}, will try to kill it`);
            toDelete.push(p);
          } else running.push(p);
        }
        if (shouldRun && running.length === 0) toCreate.push(name);
        if (running.length > 1) toDelete.push(...extraPods(running, hash, generation, maxSurge));
      } else {
        toDelete.push(...pods);
      }
    }

    // Rolling update: old pods to replace, within maxUnavailable (deleting them lets manage recreate).
    if (rollingUpdate && maxSurge > 0 && toCreate.length === 0 && toDelete.length === 0) {
      const perNode = nodes.map((n) => {
        const name = n.metadata?.name ?? '';
        const pods = (byNode.get(name) ?? []).filter((p) => !p.metadata?.deletionTimestamp);
        const updated = pods.filter((p) => isPodUpdated(p, hash, generation));
        const old = pods.filter((p) => !isPodUpdated(p, hash, generation));
        return {
          node: name,
          shouldRun: placement.get(name)!.shouldRun,
          many: updated.length > 1 || old.length > 1,
          updated: updated[0] ? { available: isPodAvailable(updated[0], minReadySeconds, now) } : undefined,
          old: old[0] ? { name: old[0].metadata?.name ?? '', available: isPodAvailable(old[0], minReadySeconds, now) } : undefined,
          oldPod: old[0],
        };
      });
      const { deletePods, createOn } = surgeUpdate(perNode, maxSurge);
      const names = new Set(deletePods);
      for (const n of perNode) if (n.oldPod && names.has(n.old!.name)) toDelete.push(n.oldPod);
      toCreate.push(...createOn);
    } else if (rollingUpdate && toCreate.length === 0 && toDelete.length === 0) {
      const perNode = nodes
        .filter((n) => placement.get(n.metadata?.name ?? '')!.shouldRun)
        .map((n) => {
          const pods = (byNode.get(n.metadata?.name ?? '') ?? []).filter((p) => !p.metadata?.deletionTimestamp);
          const updated = pods.filter((p) => isPodUpdated(p, hash, generation));
          const old = pods.filter((p) => !isPodUpdated(p, hash, generation));
          return {
            many: updated.length > 1 || old.length > 1,
            updated: updated[0] ? { available: isPodAvailable(updated[0], minReadySeconds, now) } : undefined,
            old: old[0] ? { name: old[0].metadata?.name ?? '', available: isPodAvailable(old[0], minReadySeconds, now), pod: old[0] } : undefined,
          };
        });
      const names = new Set(rollingUpdateDeletions(perNode, maxUnavailable));
      for (const n of perNode) if (n.old && names.has(n.old.name)) toDelete.push(n.old.pod);
    }

    if (toCreate.length || toDelete.length) {
      d.expectations.expect(key, toCreate.length, toDelete.length);
      await Promise.all([...toCreate.map((n) => createPod(d, ds, key, n, hash)), ...toDelete.map((p) => deletePod(d, ds, key, p, !nodeNames.has(targetNodeName(p) ?? '')))]);
    }
  }

  // Status (updateDaemonSetStatus).
  const status: DaemonSetStatus = {
    desiredNumberScheduled: 0,
    currentNumberScheduled: 0,
    numberMisscheduled: 0,
    numberReady: 0,
    numberAvailable: 0,
    updatedNumberScheduled: 0,
    numberUnavailable: 0,
    observedGeneration: generation,
  };
  let requeueAfterMs: number | undefined;
  for (const node of nodes) {
    const name = node.metadata?.name ?? '';
    const pods = (byNode.get(name) ?? []).filter((p) => !p.metadata?.deletionTimestamp).sort(byAge);
    if (placement.get(name)!.shouldRun) {
      status.desiredNumberScheduled!++;
      if (pods.length === 0) continue;
      status.currentNumberScheduled!++;
      const pod = pods[0];
      if (isPodReady(pod)) {
        status.numberReady!++;
        if (isPodAvailable(pod, minReadySeconds, now)) status.numberAvailable!++;
        else if (minReadySeconds) requeueAfterMs = minReadySeconds * 1000 + 100;
      }
      if (isPodUpdated(pod, hash, generation)) status.updatedNumberScheduled!++;
    } else if (pods.length > 0) {
      status.numberMisscheduled!++;
    }
  }
  status.numberUnavailable = status.desiredNumberScheduled! - status.numberAvailable!;
  const old = ds.status ?? {};
  const changed = (Object.keys(status) as (keyof DaemonSetStatus)[]).some((k) => (old[k] ?? 0) !== (status[k] ?? 0));
  if (changed) {
    const next: DaemonSet = JSON.parse(JSON.stringify(ds));
    next.status = { ...(next.status ?? {}), ...status };
    try {
      await d.client.updateStatus(DS, next);
    } catch (err) {
      if (!isReason(err, 'Conflict')) throw err;
      // The cache is behind (often our own status write): once more on the latest of the same generation.
      const latest = await d.client.get(DS, ds.metadata?.namespace ?? '', ds.metadata?.name ?? '');
      if (latest.metadata?.uid !== ds.metadata?.uid || latest.metadata?.generation !== generation) throw err;
      latest.status = { ...(latest.status ?? {}), ...status };
      await d.client.updateStatus(DS, latest);
    }
  }
  return requeueAfterMs !== undefined ? { requeueAfterMs } : undefined;
}

async function createPod(d: DaemonSetDeps, ds: DaemonSet, key: string, nodeName: string, hash: string): Promise<void> {
  let pod: Pod;
  try {
    pod = await d.client.create(POD, newDaemonPod(ds, nodeName, hash));
  } catch (err) {
    d.expectations.creationObserved(key);
    await d.recorder.record(ds, 'Warning', 'FailedCreate', '', `Error creating: ${(err as Error).message}`);
    throw err;
  }
  d.log.info('daemon pod created', { controller: COMPONENT, daemonset: key, pod: pod.metadata?.name, node: nodeName });
  await d.recorder.record(ds, 'Normal', 'SuccessfulCreate', '', `Created pod: ${pod.metadata?.name}`);
}

async function deletePod(d: DaemonSetDeps, ds: DaemonSet, key: string, pod: Pod, force: boolean): Promise<void> {
  const name = pod.metadata?.name ?? '';
  try {
    await d.client.delete(POD, pod.metadata?.namespace ?? '', name, { preconditions: { uid: pod.metadata?.uid }, ...(force ? { gracePeriodSeconds: 0 } : {}) });
  } catch (err) {
    d.expectations.deletionObserved(key);
    if (isReason(err, 'NotFound') || isReason(err, 'Conflict')) return;
    await d.recorder.record(ds, 'Warning', 'FailedDelete', '', `Error deleting: ${(err as Error).message}`);
    throw err;
  }
  d.log.info('daemon pod deleted', { controller: COMPONENT, daemonset: key, pod: name, node: targetNodeName(pod) });
  await d.recorder.record(ds, 'Normal', 'SuccessfulDelete', '', `Deleted pod: ${name}`);
}

/**
 * The pods to delete from a node running more than one daemon pod (podsShouldBeOnNode): without
 * surge all but the oldest; with surge at most the oldest new and the oldest old pod stay, the old
 * one only while it is ready and the new one is not.
 */
export function extraPods(running: Pod[], hash: string, generation: number | undefined, maxSurge: number): Pod[] {
  const sorted = [...running].sort(byAge);
  if (maxSurge === 0) return sorted.slice(1);
  const out: Pod[] = [];
  let oldestNew: Pod | undefined;
  let oldestOld: Pod | undefined;
  for (const p of sorted) {
    if (isPodUpdated(p, hash, generation)) {
      if (!oldestNew) {
        oldestNew = p;
        continue;
      }
    } else if (!oldestOld) {
      oldestOld = p;
      continue;
    }
    out.push(p);
  }
  if (oldestNew && oldestOld && (!isPodReady(oldestOld) || isPodReady(oldestNew))) out.push(oldestOld);
  return out;
}

/** Whether a node change can change where daemons run (shouldIgnoreNodeUpdate's complement). */
function nodeChangeMatters(o: Node, n: Node): boolean {
  return JSON.stringify(o.metadata?.labels ?? {}) !== JSON.stringify(n.metadata?.labels ?? {}) || JSON.stringify(o.spec?.taints ?? []) !== JSON.stringify(n.spec?.taints ?? []) || !!o.spec?.unschedulable !== !!n.spec?.unschedulable;
}

/** The daemonset controller. */
export const daemonSetController: ControllerDescriptor = {
  name: 'daemonset',
  create(ctx) {
    const sets: Informer<'daemonSet'> = ctx.informers.informer('daemonSet');
    const pods: Informer<'pod'> = ctx.informers.informer('pod', { [PODS_BY_DAEMONSET]: podsByDaemonSet });
    const nodes: Informer<'node'> = ctx.informers.informer('node');
    const log = ctx.log.with({ controller: COMPONENT });
    const expectations = new ControllerExpectations(ctx.now);
    const deps: DaemonSetDeps = { client: ctx.client, sets, pods, nodes, recorder: ctx.recorder(COMPONENT), expectations, log, now: ctx.now };
    const loop = new ReconcileLoop({ name: COMPONENT, log, reconcile: (k) => syncDaemonSet(deps, k) });
    const all = (): void => {
      for (const s of sets.list()) loop.enqueue(objectKey(s));
    };
    sets.addHandlers({
      onAdd: (s) => loop.enqueue(objectKey(s)),
      onUpdate: (_o, s) => loop.enqueue(objectKey(s)),
      onDelete: (s) => expectations.delete(objectKey(s)),
    });
    pods.addHandlers({
      onAdd: (p) => {
        for (const k of podsByDaemonSet(p)) {
          expectations.creationObserved(k);
          loop.enqueue(k);
        }
        // An orphan: any DaemonSet of its namespace selecting it may adopt it.
        if (!controllerOf(p.metadata)) {
          for (const s of sets.byIndex(NAMESPACE_INDEX, p.metadata?.namespace ?? '')) {
            if (labelSelectorFromMeta(s.spec?.selector).matches(p.metadata?.labels ?? {})) loop.enqueue(objectKey(s));
          }
        }
      },
      onUpdate: (o, p) => {
        // A graceful deletion counts as observed when it starts (as Kubernetes' updatePod does);
        // counting its final delete too only lets a later sync act a little early, harmlessly.
        if (!o.metadata?.deletionTimestamp && p.metadata?.deletionTimestamp) for (const k of podsByDaemonSet(p)) expectations.deletionObserved(k);
        for (const k of new Set([...podsByDaemonSet(o), ...podsByDaemonSet(p)])) loop.enqueue(k);
      },
      onDelete: (p) => {
        for (const k of podsByDaemonSet(p)) {
          expectations.deletionObserved(k);
          loop.enqueue(k);
        }
      },
    });
    nodes.addHandlers({
      onAdd: all,
      onUpdate: (o, n) => {
        if (nodeChangeMatters(o, n)) all();
      },
      onDelete: all,
    });
    return { run: () => loop.run() };
  },
};
