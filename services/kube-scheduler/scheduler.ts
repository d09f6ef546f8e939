/**
 * kube-scheduler (pkg/scheduler/schedule_one.go): informers on nodes and pods feed the
 * SchedulingQueue and the SchedulerCache; while this replica leads, one loop pops a pod, runs
 * schedulePod over the cache, assumes the decision and binds asynchronously through the
 * apiserver; a binding that fails is forgotten and the pod retried with backoff, a pod that fits
 * nowhere waits for a cluster event and gets a FailedScheduling event.
 */
import type { NatsConnection } from 'nats';
import { ApiClient } from '../lib/apiclient';
import type { Timings } from '../lib/config';
import { EventRecorder } from '../lib/events';
import { formatTime } from '../lib/time';
import type { Node, Pod } from '../lib/generated/kubemu/core/v1/core';
import { Informer } from '../lib/informer';
import { LeaderElector, leaderFencedClient } from '../lib/leaderelection';
import { Logger, logger } from '../lib/log';
import { resourceForCase } from '../lib/resources';
import { isTerminal, SchedulerCache } from './cache';
import { SchedulerMetrics } from './metrics';
import { FitError, NoNodesAvailableError, schedulePod } from './framework';
import { podKey } from './framework/nodeinfo';
import { QueuedPodInfo, SchedulingQueue, SchedulingQueueOptions } from './queue';

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';
export const SCHEDULER_LEASE = { namespace: 'kube-system', name: 'kube-scheduler' };

/** client-go's event broadcaster queue length (maxQueuedEvents); beyond it events are dropped. */
const MAX_QUEUED_EVENTS = 1000;
/** Event creates in flight at once. */
const EVENT_WRITERS = 4;

const POD = resourceForCase('pod');
const NODE = resourceForCase('node');

export interface SchedulerOptions {
  client: ApiClient;
  nats: NatsConnection;
  /** Leader-election holder identity (the componentId). */
  identity: string;
  timings: Pick<Timings, 'leaderLeaseDurationSeconds' | 'leaderRenewDeadlineSeconds' | 'leaderRetryPeriodSeconds'>;
  log?: Logger;
  /** How long an assumed pod whose binding finished may stay unconfirmed by the informer (default 30 s). */
  assumedPodTtlMs?: number;
  /** [0, 1) source for tie-breaking. */
  random?: () => number;
  queue?: SchedulingQueueOptions;
  /** Bindings in flight at once (default 64); the scheduling loop waits for a free slot beyond that. */
  maxBindsInFlight?: number;
  /** Kubernetes' percentageOfNodesToScore (default 0: adaptive, see numFeasibleNodesToFind). */
  percentageOfNodesToScore?: number;
  /** How often a 'scheduling stats' line is logged while there is activity (default 10 s; 0 = never). */
  metricsIntervalMs?: number;
  /**
   * Called once each time leadership is lost while running (not on stop()). kube-scheduler's main
   * exits there, as the real one does, so that a deposed leader's queue and assumed pods go away
   * with it and pm2 brings it back as a plain candidate.
   */
  onLostLeadership?: () => void;
  /** The clock leader election judges its lease by (tests). */
  now?: () => number;
}

/** Whether the pod is this scheduler's to place: unbound, default scheduler, not being deleted, not finished. */
export function responsibleFor(pod: Pod): boolean {
  const name = pod.spec?.schedulerName || DEFAULT_SCHEDULER_NAME;
  return !pod.spec?.nodeName && name === DEFAULT_SCHEDULER_NAME && !pod.metadata?.deletionTimestamp && !isTerminal(pod);
}

/**
 * Whether a node update may let a pod fit where it did not (kube-scheduler's
 * nodeSchedulingPropertiesChange): unschedulable, allocatable, labels, taints or condition
 * statuses changed. Heartbeat-only status writes do not, so they never wake unschedulable pods.
 */
export function nodeSchedulingPropertiesChanged(oldNode: Node, newNode: Node): boolean {
  const conds = (n: Node) => JSON.stringify((n.status?.conditions ?? []).map((c) => [c.type, c.status]).sort());
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  return (
    !!oldNode.spec?.unschedulable !== !!newNode.spec?.unschedulable ||
    !same(oldNode.status?.allocatable, newNode.status?.allocatable) ||
    !same(oldNode.metadata?.labels, newNode.metadata?.labels) ||
    !same(oldNode.spec?.taints, newNode.spec?.taints) ||
    conds(oldNode) !== conds(newNode)
  );
}

/**
 * One scheduler replica. start() resolves once the informers synced and leader election runs;
 * stop() ends everything it started (not the client or the NATS connection, which the caller owns).
 * Neither may be called concurrently with itself.
 */
export class Scheduler {
  readonly queue: SchedulingQueue;
  readonly cache: SchedulerCache;
  private readonly log: Logger;
  private readonly pods: Informer<'pod'>;
  private readonly nodes: Informer<'node'>;
  private elector?: LeaderElector;
  private leadSignal?: AbortSignal;
  private leadWaiters: (() => void)[] = [];
  private stopped = false;
  private loop?: Promise<void>;
  private cleanupTimer?: NodeJS.Timeout;
  private metricsTimer?: NodeJS.Timeout;
  private readonly binds = new Set<Promise<void>>();
  private bindSlotWaiters: (() => void)[] = [];
  private readonly maxBindsInFlight: number;
  private nextStartNodeIndex = 0;
  private readonly eventQueue: (() => Promise<void>)[] = [];
  private eventWriters = 0;
  private eventsDropped = 0;
  /** Counters and latencies, logged every metricsIntervalMs and on stop. */
  readonly metrics = new SchedulerMetrics();
  private readonly events: EventRecorder;
  /** Successful bindings made by this replica (for tests and metrics). */
  bindings = 0;
  /** Binding calls the apiserver refused or that failed (for tests and metrics). */
  bindFailures = 0;

  /**
   * The client for the leader's writes (bindings, PodScheduled conditions, events): refused with
   * NotLeaderError once the renew deadline passed by this process's clock, as a replica woken from
   * a freeze runs its queued work before its renewal timer and must not act on a lease a standby
   * took meanwhile. Informers and leader election use opts.client.
   */
  private readonly leaderClient: ApiClient;

  constructor(private readonly opts: SchedulerOptions) {
    this.log = opts.log ?? logger('kube-scheduler', { id: opts.identity });
    this.leaderClient = leaderFencedClient(opts.client, () => this.stillLeading());
    this.events = new EventRecorder(this.leaderClient, DEFAULT_SCHEDULER_NAME, opts.identity, this.log);
    this.queue = new SchedulingQueue(opts.queue);
    this.maxBindsInFlight = opts.maxBindsInFlight ?? 64;
    this.cache = new SchedulerCache(opts.assumedPodTtlMs ?? 30000);
    this.pods = new Informer({ client: opts.client, nats: opts.nats, info: POD, log: this.log });
    this.nodes = new Informer({ client: opts.client, nats: opts.nats, info: NODE, log: this.log });
    this.nodes.addHandlers({
      onAdd: (n) => this.onNode(n, 'NodeAdd'),
      onUpdate: (o, n) => this.onNode(n, nodeSchedulingPropertiesChanged(o, n) ? 'NodeUpdate' : undefined),
      onDelete: (n) => this.cache.removeNode(n.metadata?.name ?? ''),
    });
    this.pods.addHandlers({
      onAdd: (p) => this.onPod(undefined, p),
      onUpdate: (o, p) => this.onPod(o, p),
      onDelete: (p) => this.onPodDelete(p),
    });
  }

  get isLeader(): boolean {
    return this.elector?.isLeader ?? false;
  }

  get hasSynced(): boolean {
    return this.pods.hasSynced && this.nodes.hasSynced;
  }

  /** Starts the informers (resolves once both synced), then leader election and the scheduling loop. */
  async start(): Promise<void> {
    await Promise.all([this.nodes.start(), this.pods.start()]);
    if (this.stopped) return;
    this.cleanupTimer = setInterval(() => {
      for (const key of this.cache.cleanupExpired()) this.log.warn('assumed pod expired', { pod: key });
    }, 1000);
    this.cleanupTimer.unref();
    const every = this.opts.metricsIntervalMs ?? 10000;
    if (every > 0) {
      this.metricsTimer = setInterval(() => {
        if (this.metrics.active) this.log.info('scheduling stats', this.metrics.takeWindow());
      }, every);
      this.metricsTimer.unref();
    }
    this.loop = this.run();
    const t = this.opts.timings;
    this.elector = new LeaderElector(this.opts.client, {
      ...SCHEDULER_LEASE,
      identity: this.opts.identity,
      leaseDurationSeconds: t.leaderLeaseDurationSeconds,
      renewDeadlineSeconds: t.leaderRenewDeadlineSeconds,
      retryPeriodSeconds: t.leaderRetryPeriodSeconds,
      log: this.log,
      now: this.opts.now,
      onStartedLeading: (signal) => {
        this.leadSignal = signal;
        for (const w of this.leadWaiters.splice(0)) w();
      },
      onStoppedLeading: () => {
        this.log.info('stopped leading; scheduling paused');
        if (!this.stopped) this.opts.onLostLeadership?.();
      },
    });
    this.elector.run();
  }

  /** Stops scheduling (releasing the lease when leading), the informers and the queue; waits for bindings in flight. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.cleanupTimer) clearInterval(this.cleanupTimer);
    if (this.metricsTimer) clearInterval(this.metricsTimer);
    await this.elector?.stop();
    this.queue.close();
    for (const w of this.leadWaiters.splice(0)) w();
    await this.loop;
    for (const w of this.bindSlotWaiters.splice(0)) w();
    await Promise.allSettled([...this.binds]);
    await Promise.all([this.pods.stop(), this.nodes.stop()]);
    if (this.metrics.scheduled > 0 || this.metrics.unschedulable > 0) this.log.info('scheduler stopped', this.metrics.summary());
  }

  private onNode(node: Node, event: 'NodeAdd' | 'NodeUpdate' | undefined): void {
    this.cache.setNode(node);
    if (event) this.queue.moveAllToActiveOrBackoff(event);
  }

  private onPod(old: Pod | undefined, pod: Pod): void {
    if (pod.spec?.nodeName) {
      const key = podKey(pod);
      const boundNow = !old?.spec?.nodeName;
      const ours = this.cache.isAssumed(key);
      this.cache.setPod(pod);
      if (boundNow) {
        this.queue.delete(key);
        // A pod bound by someone else changes the picture (and its node's room).
        if (old && !ours) this.queue.moveAllToActiveOrBackoff('PodUpdate');
      }
      if (isTerminal(pod) && old && !isTerminal(old)) this.queue.moveAllToActiveOrBackoff('PodDelete');
      return;
    }
    if (responsibleFor(pod)) {
      if (old) this.queue.update(pod);
      else this.queue.add(pod);
    } else {
      this.queue.delete(pod);
    }
  }

  private onPodDelete(pod: Pod): void {
    const key = podKey(pod);
    this.queue.delete(key);
    if (pod.spec?.nodeName || this.cache.isAssumed(key)) {
      this.cache.removePod(key);
      this.queue.moveAllToActiveOrBackoff('PodDelete');
    }
  }

  /** Whether this replica may act as leader now (steps down when its renew deadline passed). */
  private stillLeading(): boolean {
    return this.elector?.checkLeading() ?? false;
  }

  /** Resolves with the current leadership's signal, or undefined once stopped. */
  private async leadership(): Promise<AbortSignal | undefined> {
    while (!this.stopped) {
      if (this.leadSignal && !this.leadSignal.aborted) return this.leadSignal;
      await new Promise<void>((resolve) => this.leadWaiters.push(resolve));
    }
    return undefined;
  }

  private async run(): Promise<void> {
    for (;;) {
      const signal = await this.leadership();
      if (!signal) return;
      // Bounded binding concurrency: beyond it, scheduling waits rather than piling up calls.
      while (this.binds.size >= this.maxBindsInFlight && !this.stopped) {
        await new Promise<void>((resolve) => this.bindSlotWaiters.push(resolve));
      }
      if (this.stopped) return;
      const info = await this.queue.pop();
      if (!info) return;
      if (signal.aborted || this.stopped || !this.stillLeading()) {
        // Popped just as leadership ended: hand it back; the next leader's loop takes it.
        this.queue.addBackoff(info);
        continue;
      }
      try {
        this.scheduleOne(info, signal);
      } catch (err) {
        this.log.error('scheduling cycle failed', { pod: info.key, err: err instanceof Error ? err.stack : String(err) });
        this.queue.addBackoff(info);
      }
      // Let informer handlers and binding callbacks run between cycles.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** One scheduling cycle; the binding cycle runs asynchronously. */
  private scheduleOne(info: QueuedPodInfo, signal: AbortSignal): void {
    const key = info.key;
    const current = this.pods.get(key);
    if (!current || !responsibleFor(current) || this.cache.isAssumed(key)) {
      this.queue.done(key);
      return;
    }
    const pod = current;
    const started = performance.now();
    let node: string;
    try {
      const nodes = this.cache.nodeInfos();
      const result = schedulePod(pod, nodes, { random: this.opts.random, startIndex: this.nextStartNodeIndex, percentageOfNodesToScore: this.opts.percentageOfNodesToScore });
      // As kube-scheduler: the next cycle continues where this one stopped filtering.
      this.nextStartNodeIndex = (this.nextStartNodeIndex + result.processedNodes) % nodes.length;
      node = result.node;
    } catch (err) {
      if (err instanceof FitError || err instanceof NoNodesAvailableError) {
        this.metrics.unschedulable++;
        this.metrics.observe('attempt', performance.now() - started);
        this.queue.addUnschedulable(info);
        this.log.info('pod is unschedulable', { pod: key, attempts: info.attempts, reason: err.message });
        this.recordEvent(pod, 'Warning', 'FailedScheduling', 'Scheduling', err.message);
        this.markUnschedulable(pod, err.message);
        return;
      }
      throw err;
    }
    this.cache.assume(pod, node);
    const ms = performance.now() - started;
    this.metrics.scheduled++;
    this.metrics.observe('attempt', ms);
    this.log.debug('scheduled', { pod: key, node, attempts: info.attempts, ms });
    const bind = this.bind(info, pod, node, signal).finally(() => {
      this.binds.delete(bind);
      this.bindSlotWaiters.shift()?.();
    });
    this.binds.add(bind);
  }

  private async bind(info: QueuedPodInfo, pod: Pod, node: string, signal: AbortSignal): Promise<void> {
    const ns = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    try {
      if (signal.aborted) throw new Error('leadership lost before binding');
      const t0 = performance.now();
      await this.leaderClient.bind(ns, name, node, pod.metadata?.uid);
      this.metrics.observe('binding', performance.now() - t0);
      this.metrics.observe('e2e', Date.now() - info.initialAttemptTimestamp);
      this.metrics.bound++;
      this.cache.finishBinding(info.key);
      this.queue.done(info.key);
      this.bindings++;
      this.recordEvent(pod, 'Normal', 'Scheduled', 'Binding', `Successfully assigned ${ns}/${name} to ${node}`);
    } catch (err) {
      this.bindFailures++;
      this.metrics.bindFailures++;
      this.cache.forget(info.key);
      this.queue.addBackoff(info);
      this.log.warn('binding failed; retrying with backoff', { pod: info.key, node, err: (err as Error).message });
    }
  }

  /**
   * Sets the PodScheduled=False/Unschedulable condition, as kube-scheduler does, so that kubectl
   * shows why the pod is Pending. A compare-and-swap on the cached object: when the pod changed
   * meanwhile (it may even have been bound) the write is refused and dropped. Best effort.
   */
  private markUnschedulable(pod: Pod, message: string): void {
    const conditions = pod.status?.conditions ?? [];
    const old = conditions.find((c) => c.type === 'PodScheduled');
    if (old?.status === 'False' && old.reason === 'Unschedulable' && old.message === message) return;
    const condition = {
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message,
      lastProbeTime: old?.lastProbeTime,
      lastTransitionTime: old?.status === 'False' ? old.lastTransitionTime : formatTime(Date.now()),
    };
    const updated: Pod = {
      ...pod,
      status: { ...pod.status, phase: pod.status?.phase || 'Pending', conditions: [...conditions.filter((c) => c.type !== 'PodScheduled'), condition] },
    };
    this.leaderClient.updateStatus(POD, updated).catch((err) =>
      this.log.debug('could not set PodScheduled=False', { pod: podKey(pod), err: (err as Error).message }),
    );
  }

  /**
   * Records an Event about the pod through the shared recorder (best effort, never throws). As
   * client-go's broadcaster, events go out through a bounded queue drained by a few writers
   * (EVENT_WRITERS), and are dropped when MAX_QUEUED_EVENTS wait (its DropIfChannelFull): at
   * hundreds of pods per second, one Event create per binding must not compete with the bindings
   * themselves for the apiserver.
   */
  private recordEvent(pod: Pod, type: 'Normal' | 'Warning', reason: string, action: string, message: string): void {
    if (this.eventQueue.length >= MAX_QUEUED_EVENTS) {
      if (this.eventsDropped++ % 1000 === 0) this.log.warn('event queue full; dropping events', { dropped: this.eventsDropped });
      return;
    }
    this.eventQueue.push(() => this.events.record({ ...pod, apiVersion: 'v1', kind: 'Pod' }, type, reason, action, message));
    if (this.eventWriters < EVENT_WRITERS) void this.writeEvents();
  }

  private async writeEvents(): Promise<void> {
    this.eventWriters++;
    try {
      for (let next = this.eventQueue.shift(); next; next = this.eventQueue.shift()) await next();
    } finally {
      this.eventWriters--;
    }
  }
}
