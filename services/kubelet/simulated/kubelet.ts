/**
 * Many simulated nodes in one process, in the role of KWOK: every node is registered, leased and
 * reported through the same NodeStatusManager as a real kubelet, and pods bound to them are
 * "started" (status Running and Ready after a delay) without any process, and removed at once when
 * deleted gracefully. For scale tests of the control plane (scheduler, apiserver, controllers).
 */
import type { NatsConnection } from 'nats';
import { ApiClient } from '../../lib/apiclient';
import { DEFAULT_NODE_RESOURCES, NodeResources, Timings } from '../../lib/config';
import { isReason } from '../../lib/errors';
import type { ContainerImage, Pod } from '../../lib/generated/kubemu/core/v1/core';
import { Informer } from '../../lib/informer';
import { Logger, logger } from '../../lib/log';
import { resourceForCase } from '../../lib/resources';
import { ItemExponentialFailureRateLimiter, runWorkers, WorkQueue } from '../../lib/workqueue';
import { NodeStatusManager } from '../node';
import { PodIPPool, simulatedNodeIP, simulatedPodCIDR } from './addresses';
import { isSimulatedRunning, runningPodStatus } from './podstatus';

const POD = resourceForCase('pod');
const NODE = resourceForCase('node');

/** How simulated nodes are named by default: sim-node-1, sim-node-2, ... */
export const DEFAULT_SIMULATED_NODE_PREFIX = 'sim-node-';
export const DEFAULT_POD_START_DELAY_MS = 200;
/** Pod status writes and deletions in flight at once: enough to hide apiserver latency, few enough not to swamp it. */
export const DEFAULT_POD_WRITE_CONCURRENCY = 32;
/** Node registrations in flight at once while starting. */
const REGISTER_CONCURRENCY = 32;
/** What simulated nodes report in status.images. */
export const SIMULATED_NODE_IMAGES: ContainerImage[] = [{ names: ['registry.k8s.io/pause:3.10'], sizeBytes: 320368 }];

export interface SimulatedKubeletOptions {
  client: ApiClient;
  nats: NatsConnection;
  /** Node names, or how many to name `${prefix}${i}` for i = 1..count (default prefix sim-node-). */
  nodes: string[] | { count: number; prefix?: string };
  resources?: NodeResources;
  /** Delay between a pod being bound and its status turning Running. Default 200 ms. */
  podStartDelayMs?: number;
  timings: Pick<Timings, 'nodeLeaseDurationSeconds' | 'nodeLeaseRenewSeconds' | 'nodeStatusUpdateSeconds' | 'nodeMonitorGracePeriodSeconds'>;
  /** Extra labels on every node (e.g. type=kwok-like marker). */
  labels?: Record<string, string>;
  podWriteConcurrency?: number;
  /** kubelet port reported in daemonEndpoints (nothing listens: simulated nodes serve no logs or exec). */
  kubeletPort?: number;
  log?: Logger;
}

/** A running simulated kubelet. stop() ends everything it started (not the client or NATS connection). */
export interface SimulatedKubelet {
  readonly nodeNames: readonly string[];
  readonly managers: ReadonlyMap<string, NodeStatusManager>;
  /** Pods this process turned Running (for tests and benchmarks). */
  readonly podsStarted: number;
  /** Pods this process deleted after a graceful delete. */
  readonly podsDeleted: number;
  stop(): Promise<void>;
}

/**
 * Lease and status timing for many nodes in one process (pure). A real kubelet renews its Lease
 * every nodeLeaseRenewSeconds; 1,000 simulated nodes doing that at the demo profile's 2 s would be
 * 500 writes/s against one apiserver, more than the workload under test. So each simulated node
 * renews every max(nodeLeaseRenewSeconds, 10 s) — 10 s is Kubernetes' own default (40 s lease / 4),
 * i.e. the load a real cluster of that size puts on its apiserver, 100 writes/s per 1,000 nodes —
 * but never so rarely that the node lifecycle controller's grace period could pass between two
 * renewals: at most 40% of nodeMonitorGracePeriodSeconds (two renewals per grace period even with
 * jitter). The lease duration keeps Kubernetes' 4:1 ratio to the renew interval. First renewals and
 * status syncs are spread uniformly over one interval (jitter), so renewals arrive as an even
 * stream instead of a burst every interval. Status is only recomputed (in memory, from the node
 * informer) every max(nodeStatusUpdateSeconds, 10 s): simulated nodes have no transitions to
 * report quickly, and deletions are noticed through the informer at once.
 */
export function simulatedTimings(t: SimulatedKubeletOptions['timings']): { leaseRenewSeconds: number; leaseDurationSeconds: number; statusUpdateSeconds: number; spreadMs: number } {
  const leaseRenewSeconds = Math.max(t.nodeLeaseRenewSeconds, Math.min(10, Math.floor(t.nodeMonitorGracePeriodSeconds * 0.4)));
  return {
    leaseRenewSeconds,
    leaseDurationSeconds: Math.max(t.nodeLeaseDurationSeconds, 4 * leaseRenewSeconds),
    statusUpdateSeconds: Math.max(t.nodeStatusUpdateSeconds, 10),
    spreadMs: leaseRenewSeconds * 1000,
  };
}

/** The names of `nodes` (pure): the list as given, or prefix + 1..count. */
export function simulatedNodeNames(nodes: SimulatedKubeletOptions['nodes']): string[] {
  if (Array.isArray(nodes)) return [...nodes];
  return Array.from({ length: nodes.count }, (_, i) => `${nodes.prefix ?? DEFAULT_SIMULATED_NODE_PREFIX}${i + 1}`);
}

interface SimNode {
  name: string;
  ip: string;
  pool: PodIPPool;
}

/**
 * Starts the simulated nodes: registers every node (32 at a time, each retrying until it succeeds),
 * starts one node and one pod informer, and from then on starts pods bound to these nodes after
 * podStartDelayMs and deletes pods gracefully deleted there (grace period 0, uid precondition).
 * Pod writes run through a deduplicating work queue with podWriteConcurrency workers; a failed
 * write is retried with per-pod backoff (5 ms doubling to 5 s). Resolves once every node is
 * registered and both informers synced; throws only when an informer cannot start. Not reentrant.
 */
export async function startSimulatedKubelet(opts: SimulatedKubeletOptions): Promise<SimulatedKubelet> {
  const log = opts.log ?? logger('kubelet-simulated');
  const names = simulatedNodeNames(opts.nodes);
  const timing = simulatedTimings(opts.timings);
  const delay = opts.podStartDelayMs ?? DEFAULT_POD_START_DELAY_MS;
  const resources = opts.resources ?? DEFAULT_NODE_RESOURCES;
  const byName = new Map<string, SimNode>();
  names.forEach((name, i) => {
    const cidr = simulatedPodCIDR(i);
    byName.set(name, { name, ip: simulatedNodeIP(i), pool: new PodIPPool(cidr) });
  });

  const nodes = new Informer({ client: opts.client, nats: opts.nats, info: NODE, log });
  const pods = new Informer({ client: opts.client, nats: opts.nats, info: POD, log });
  const managers = new Map<string, NodeStatusManager>();
  names.forEach((name, i) => {
    const sim = byName.get(name)!;
    managers.set(
      name,
      new NodeStatusManager({
        client: opts.client,
        nodeName: name,
        nodeIP: sim.ip,
        podCIDR: simulatedPodCIDR(i),
        resources,
        labels: opts.labels,
        kubeletPort: opts.kubeletPort ?? 10250,
        images: SIMULATED_NODE_IMAGES,
        runtimeVersion: 'kubemu-simulated://0.1.0',
        timings: { ...opts.timings, nodeStatusUpdateSeconds: timing.statusUpdateSeconds },
        leaseRenewSeconds: timing.leaseRenewSeconds,
        leaseDurationSeconds: timing.leaseDurationSeconds,
        spreadMs: timing.spreadMs,
        nodeLister: (n) => nodes.get(n),
        log,
      }),
    );
  });

  // Pod bookkeeping: when each pod was first seen bound here, and the IP it was given.
  const boundAt = new Map<string, number>();
  const podIPs = new Map<string, { node: string; ip: string }>();
  let podsStarted = 0;
  let podsDeleted = 0;
  const queue = new WorkQueue<string>({ rateLimiter: new ItemExponentialFailureRateLimiter<string>(5, 5000) });

  const ours = (p: Pod | undefined) => !!p?.spec?.nodeName && byName.has(p.spec.nodeName);
  const forget = (key: string) => {
    boundAt.delete(key);
    const ip = podIPs.get(key);
    if (ip) byName.get(ip.node)?.pool.release(ip.ip);
    podIPs.delete(key);
  };
  const keyOf = (p: Pod) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;

  pods.addHandlers({
    onAdd: (p) => {
      if (ours(p)) queue.add(keyOf(p));
    },
    onUpdate: (_o, p) => {
      if (ours(p)) queue.add(keyOf(p));
    },
    onDelete: (p) => {
      const key = keyOf(p);
      forget(key);
    },
  });
  nodes.addHandlers({
    // A deleted simulated node is registered again at once (the manager notices on its sync).
    onDelete: (n) => void managers.get(n.metadata?.name ?? '')?.poke(),
  });

  const reconcile = async (key: string): Promise<void | { requeueAfterMs: number }> => {
    const pod = pods.get(key);
    if (!pod || !ours(pod)) {
      if (!pod) forget(key);
      return;
    }
    const sim = byName.get(pod.spec!.nodeName!)!;
    if (pod.metadata?.deletionTimestamp) {
      try {
        await opts.client.delete(POD, pod.metadata.namespace ?? '', pod.metadata.name ?? '', { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } });
        podsDeleted++;
      } catch (err) {
        // Gone already, or a new pod of the same name (uid precondition): nothing of ours to delete.
        if (!isReason(err, 'NotFound') && !isReason(err, 'Conflict')) throw err;
      }
      forget(key);
      return;
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed' || isSimulatedRunning(pod)) {
      if (pod.status?.podIP && !podIPs.has(key)) {
        sim.pool.claim(pod.status.podIP);
        podIPs.set(key, { node: sim.name, ip: pod.status.podIP });
      }
      return;
    }
    const now = Date.now();
    let seen = boundAt.get(key);
    if (seen === undefined) boundAt.set(key, (seen = now));
    if (now < seen + delay) return { requeueAfterMs: seen + delay - now };
    let ip = podIPs.get(key)?.ip;
    if (!ip) {
      ip = sim.pool.allocate();
      if (!ip) throw new Error(`no free pod IP on simulated node ${sim.name}`);
      podIPs.set(key, { node: sim.name, ip });
    }
    // A compare-and-swap on the cached pod: a Conflict means a newer version is on its way to the
    // informer, which queues the key again; the retry reads that version.
    await opts.client.updateStatus(POD, { ...pod, status: runningPodStatus(pod, sim.ip, ip, now) });
    podsStarted++;
  };

  const stopWorkers = runWorkers(queue, opts.podWriteConcurrency ?? DEFAULT_POD_WRITE_CONCURRENCY, reconcile, (key, err) => {
    if (isReason(err, 'Conflict')) return;
    log.warn('simulated pod update failed; retrying', { pod: key, err: (err as Error).message });
  });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all([...managers.values()].map((m) => m.stop()));
    await stopWorkers();
    await Promise.all([pods.stop(), nodes.stop()]);
  };

  try {
    await nodes.start();
    const started = Date.now();
    let next = 0;
    const list = [...managers.values()];
    await Promise.all(
      Array.from({ length: Math.min(REGISTER_CONCURRENCY, list.length) }, async () => {
        while (next < list.length && !stopped) await list[next++].start();
      }),
    );
    log.info('simulated nodes registered', { nodes: list.length, ms: Date.now() - started, leaseRenewSeconds: timing.leaseRenewSeconds });
    await pods.start();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    nodeNames: names,
    managers,
    get podsStarted() {
      return podsStarted;
    },
    get podsDeleted() {
      return podsDeleted;
    },
    stop,
  };
}
