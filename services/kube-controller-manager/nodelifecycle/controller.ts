/**
 * The node lifecycle controller (pkg/controller/nodelifecycle): every node monitor period it
 * checks each node for signs of life (status heartbeat or Lease renewal); a node silent for
 * nodeMonitorGracePeriodSeconds gets its conditions set to Unknown. When a node's Ready stops
 * being True its pods are marked not ready at once (MarkPodsNotReady) and a NodeNotReady event is
 * recorded; NoExecute taints (unreachable for Unknown, not-ready for False) are added at a
 * limited rate per zone, and removed when the node is Ready again. NoSchedule taints follow the
 * node's conditions on every node change (doNoScheduleTaintingPass). Evicting pods from
 * NoExecute-tainted nodes is the taint-eviction controller's job (tainteviction.ts).
 *
 * Rate limits, as Kubernetes for a small cluster: adding NoExecute taints goes through a token
 * bucket per zone (label topology.kubernetes.io/zone) of 0.1 nodes/s with burst 1; a zone in
 * partial disruption (more than 2 and at least 55% of its nodes not ready) gets 0.01/s when it has
 * more than 50 nodes, else none; when every zone is fully disrupted (no node ready anywhere) the
 * controller assumes the problem is its own connectivity, adds no NoExecute taint and removes the
 * ones it set. Swapping not-ready for unreachable and removing taints is never rate-limited.
 */
import { ApiClient } from '../../lib/apiclient';
import { isReason } from '../../lib/errors';
import { Node, Pod } from '../../lib/generated/kubemu/core/v1/core';
import { Informer } from '../../lib/informer';
import { Logger } from '../../lib/log';
import { resourceForCase } from '../../lib/resources';
import { formatTime } from '../../lib/time';
import { ControllerDescriptor } from '../context';
import { ReconcileLoop } from '../loop';
import { NodeHealth, observeHealth, unknownConditions } from './health';
import { desiredNoScheduleKeys, NO_EXECUTE_KEYS, NO_SCHEDULE_KEYS, reconcileTaints, TAINT_NOT_READY, TAINT_UNREACHABLE, zoneState } from './taints';

const NODE = resourceForCase('node');
const POD = resourceForCase('pod');
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
/** Index of pods by spec.nodeName. */
export const POD_NODE_INDEX = 'spec.nodeName';

/** The POD_NODE_INDEX indexer. */
export function podsByNode(p: Pod): string[] {
  return p.spec?.nodeName ? [p.spec.nodeName] : [];
}
const EVICTION_QPS = 0.1;
const SECONDARY_EVICTION_QPS = 0.01;
const LARGE_CLUSTER_THRESHOLD = 50;

/** A token bucket with burst 1 (flowcontrol's rate limiter as RateLimitedTimedQueue uses it). */
export class TokenBucket {
  private tokens = 1;
  private last: number | undefined;
  constructor(public qps: number) {}
  /** Takes a token if one is available at `now`. */
  tryAccept(now: number): boolean {
    if (this.last !== undefined) this.tokens = Math.min(1, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }
}

export interface NodeLifecycleDeps {
  nodes: Pick<Informer<'node'>, 'get' | 'list'>;
  leases: Pick<Informer<'lease'>, 'get'>;
  pods: Pick<Informer<'pod'>, 'byIndex'>;
  client: Pick<ApiClient, 'update' | 'updateStatus'>;
  recorder: { record(obj: Node | Pod, type: 'Normal' | 'Warning', reason: string, action: string, message: string): Promise<void> };
  log: Logger;
  now(): number;
  gracePeriodSeconds: number;
}

function readyStatus(node: Node | undefined): string | undefined {
  return node?.status?.conditions?.find((c) => c.type === 'Ready')?.status;
}

const zoneOf = (n: Node) => n.metadata?.labels?.[ZONE_LABEL] ?? '';

/** The monitoring half of the controller; one pass at a time (monitorNodeHealth + doNoExecuteTaintingPass). */
export class NodeHealthMonitor {
  readonly health = new Map<string, NodeHealth>();
  /** Nodes waiting for their NoExecute taint, by zone (the zoneNoExecuteTainter queues). */
  private readonly toTaint = new Map<string, Set<string>>();
  private readonly limiters = new Map<string, TokenBucket>();
  /** Nodes whose pods could not all be marked not ready (nodesToRetry). */
  private readonly retryMarkPods = new Set<string>();

  constructor(private readonly d: NodeLifecycleDeps) {}

  /** One monitor pass. Never throws: failures are logged and retried on the next pass. */
  async monitor(): Promise<void> {
    const now = this.d.now();
    const nodes = this.d.nodes.list();
    const seen = new Set<string>();
    const readyByZone = new Map<string, (string | undefined)[]>();
    for (const cached of nodes) {
      const name = cached.metadata?.name ?? '';
      seen.add(name);
      let node = cached;
      try {
        node = await this.updateHealth(cached, now);
      } catch (err) {
        this.d.log.warn('could not update node health', { node: name, err: (err as Error).message });
      }
      const h = this.health.get(name)!;
      const ready = readyStatus(node);
      if (h.readyStatus === 'True' && ready !== 'True') {
        this.d.log.info('node is not ready', { node: name, ready });
        void this.d.recorder.record(node, 'Normal', 'NodeNotReady', '', `Node ${name} status is now: NodeNotReady`);
        this.retryMarkPods.add(name);
      }
      if (ready === 'True') this.retryMarkPods.delete(name);
      if (this.retryMarkPods.has(name) && (await this.markPodsNotReady(name))) this.retryMarkPods.delete(name);
      h.readyStatus = ready;
      const zone = zoneOf(node);
      if (!readyByZone.has(zone)) readyByZone.set(zone, []);
      readyByZone.get(zone)!.push(ready);
      await this.processTaintBasedEviction(node, ready);
    }
    for (const name of [...this.health.keys()]) {
      if (!seen.has(name)) {
        this.health.delete(name);
        this.retryMarkPods.delete(name);
        for (const q of this.toTaint.values()) q.delete(name);
      }
    }
    await this.handleDisruption(readyByZone, now);
  }

  /** tryUpdateNodeHealth: refreshes the health record and writes Unknown conditions past the grace period; returns the node as now known. */
  private async updateHealth(node: Node, now: number): Promise<Node> {
    const name = node.metadata?.name ?? '';
    const lease = this.d.leases.get(`${NODE_LEASE_NAMESPACE}/${name}`);
    const h = observeHealth(this.health.get(name), node, lease, now);
    if (!this.health.has(name)) h.readyStatus = readyStatus(node);
    this.health.set(name, h);
    if (now - h.probeTimestamp <= this.d.gracePeriodSeconds * 1000) return node;
    const conditions = unknownConditions(node, now);
    if (!conditions) return node;
    this.d.log.info('node stopped posting status; marking its conditions Unknown', { node: name, silentForMs: now - h.probeTimestamp });
    try {
      return await this.d.client.updateStatus(NODE, { ...node, status: { ...node.status, conditions } });
    } catch (err) {
      // The kubelet (or someone) wrote meanwhile: the next pass looks again.
      if (isReason(err, 'Conflict')) return node;
      throw err;
    }
  }

  /** MarkPodsNotReady: the Ready condition of every pod on the node set False (status update), with a NodeNotReady event. True when all succeeded. */
  async markPodsNotReady(nodeName: string): Promise<boolean> {
    let ok = true;
    const at = formatTime(this.d.now());
    for (const pod of this.d.pods.byIndex(POD_NODE_INDEX, nodeName)) {
      if (pod.spec?.nodeName !== nodeName) continue;
      const conditions = pod.status?.conditions ?? [];
      const ready = conditions.find((c) => c.type === 'Ready');
      if (!ready || ready.status === 'False') continue;
      const next = conditions.map((c) => (c.type === 'Ready' ? { ...c, status: 'False', lastTransitionTime: at } : c));
      try {
        await this.d.client.updateStatus(POD, { ...pod, status: { ...pod.status, conditions: next } });
        void this.d.recorder.record(pod, 'Warning', 'NodeNotReady', '', 'Node is not ready');
      } catch (err) {
        if (isReason(err, 'NotFound')) continue;
        this.d.log.info('failed to update status for pod', { pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, err: (err as Error).message });
        ok = false;
      }
    }
    return ok;
  }

  /** processTaintBaseEviction: queue the right NoExecute taint (or swap it at once), or remove them for a Ready node. */
  private async processTaintBasedEviction(node: Node, ready: string | undefined): Promise<void> {
    const name = node.metadata?.name ?? '';
    const zone = zoneOf(node);
    const taints = node.spec?.taints ?? [];
    const want = ready === 'False' ? TAINT_NOT_READY : ready === 'Unknown' ? TAINT_UNREACHABLE : undefined;
    if (!want) {
      this.toTaint.get(zone)?.delete(name);
      if (ready === 'True') await this.setNoExecute(node, []);
      return;
    }
    const has = (k: string) => taints.some((t) => t.key === k && t.effect === 'NoExecute');
    if (has(want)) return;
    const other = want === TAINT_NOT_READY ? TAINT_UNREACHABLE : TAINT_NOT_READY;
    if (has(other)) {
      // Already being evicted for the other reason: swapping is not rate-limited.
      await this.setNoExecute(node, [want]);
      return;
    }
    if (!this.toTaint.has(zone)) this.toTaint.set(zone, new Set());
    this.toTaint.get(zone)!.add(name);
  }

  /** handleDisruption + doNoExecuteTaintingPass: zone rates, then taint queued nodes while tokens allow. */
  private async handleDisruption(readyByZone: Map<string, (string | undefined)[]>, now: number): Promise<void> {
    const states = new Map([...readyByZone].map(([z, r]) => [z, zoneState(r)]));
    const allFullyDisrupted = states.size > 0 && [...states.values()].every((s) => s === 'FullDisruption');
    if (allFullyDisrupted) {
      // Every node down at once: more likely the controller's own view than the nodes; evict nothing.
      for (const q of this.toTaint.values()) q.clear();
      for (const node of this.d.nodes.list()) await this.setNoExecute(node, []);
      return;
    }
    for (const [zone, state] of states) {
      let qps = EVICTION_QPS;
      if (state === 'PartialDisruption') qps = (readyByZone.get(zone)?.length ?? 0) > LARGE_CLUSTER_THRESHOLD ? SECONDARY_EVICTION_QPS : 0;
      let limiter = this.limiters.get(zone);
      if (!limiter) this.limiters.set(zone, (limiter = new TokenBucket(qps)));
      limiter.qps = qps;
      const queue = this.toTaint.get(zone);
      if (!queue || qps === 0) continue;
      for (const name of [...queue]) {
        const node = this.d.nodes.get(name);
        const ready = readyStatus(node);
        if (!node || ready === 'True' || ready === undefined) {
          queue.delete(name);
          continue;
        }
        if (!limiter.tryAccept(now)) break;
        queue.delete(name);
        const key = ready === 'False' ? TAINT_NOT_READY : TAINT_UNREACHABLE;
        if (!(await this.setNoExecute(node, [key]))) queue.add(name);
      }
    }
  }

  /** Makes the controller's NoExecute taints on `node` exactly `keys`; true when done (or nothing to do). */
  private async setNoExecute(node: Node, keys: string[]): Promise<boolean> {
    const next = reconcileTaints(node.spec?.taints ?? [], 'NoExecute', NO_EXECUTE_KEYS, keys, formatTime(this.d.now()));
    if (!next) return true;
    try {
      await this.d.client.update(NODE, { ...node, spec: { ...node.spec, taints: next } });
      this.d.log.info(keys.length ? 'tainted node NoExecute' : 'removed NoExecute taints from node', { node: node.metadata?.name, taints: keys.join(',') });
      return true;
    } catch (err) {
      this.d.log.info('could not update node taints; retrying on the next pass', { node: node.metadata?.name, err: (err as Error).message });
      return false;
    }
  }
}

/**
 * doNoScheduleTaintingPass for node `name`: its NoSchedule taints made to match its conditions.
 * Throws on API errors (a Conflict included: the loop retries with the newer node).
 */
export async function reconcileNoScheduleTaints(d: Pick<NodeLifecycleDeps, 'nodes' | 'client' | 'now' | 'log'>, name: string): Promise<void> {
  const node = d.nodes.get(name);
  if (!node) return;
  const next = reconcileTaints(node.spec?.taints ?? [], 'NoSchedule', NO_SCHEDULE_KEYS, desiredNoScheduleKeys(node), formatTime(d.now()));
  if (!next) return;
  await d.client.update(NODE, { ...node, spec: { ...node.spec, taints: next } });
  d.log.debug('node NoSchedule taints updated', { node: name, taints: next.filter((t) => t.effect === 'NoSchedule').map((t) => t.key).join(',') });
}

/** The monitor period: Kubernetes' 5 s against a 40 s grace; an eighth of the grace period here, between 0.5 and 5 s. */
export function monitorPeriodMs(gracePeriodSeconds: number): number {
  return Math.max(500, Math.min(5000, (gracePeriodSeconds * 1000) / 8));
}

/** The node lifecycle controller's row (--controllers node-lifecycle). */
export const nodeLifecycleController: ControllerDescriptor = {
  name: 'node-lifecycle',
  create(ctx) {
    const log = ctx.log.with({ controller: 'node-lifecycle' });
    const podIndex = { [POD_NODE_INDEX]: podsByNode };
    ctx.informers.informer('node');
    ctx.informers.informer('lease');
    ctx.informers.informer('pod', podIndex);
    return {
      run: () => {
        // Looked up now: SharedInformers replaces an informer when a controller created later adds indexers.
        const nodes = ctx.informers.informer('node');
        const deps: NodeLifecycleDeps = {
          nodes,
          leases: ctx.informers.informer('lease'),
          pods: ctx.informers.informer('pod', podIndex),
          client: ctx.client,
          recorder: ctx.recorder('node-controller'),
          log,
          now: ctx.now,
          gracePeriodSeconds: ctx.timings.nodeMonitorGracePeriodSeconds,
        };
        const monitor = new NodeHealthMonitor(deps);
        const noSchedule = new ReconcileLoop({ name: 'node-lifecycle-noschedule', log, reconcile: (name) => reconcileNoScheduleTaints(deps, name) });
        nodes.addHandlers({ onAdd: (n) => noSchedule.enqueue(n.metadata?.name ?? ''), onUpdate: (_o, n) => noSchedule.enqueue(n.metadata?.name ?? '') });
        noSchedule.run();
        let stopped = false;
        let running: Promise<void> | undefined;
        const period = monitorPeriodMs(ctx.timings.nodeMonitorGracePeriodSeconds);
        const timer = setInterval(() => {
          if (running || stopped) return;
          running = monitor.monitor().catch((err) => log.error('node monitor pass failed', { err: (err as Error).message })).finally(() => (running = undefined));
        }, period);
        log.info('monitoring node health', { periodMs: period, gracePeriodSeconds: ctx.timings.nodeMonitorGracePeriodSeconds });
        return {
          stop: async () => {
            stopped = true;
            clearInterval(timer);
            await running;
            await noSchedule.stop();
          },
        };
      },
    };
  },
};
