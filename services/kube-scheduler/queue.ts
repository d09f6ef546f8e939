/**
 * The scheduling queue (pkg/scheduler/internal/queue PriorityQueue):
 *
 * - activeQ: pods ready to be tried, highest spec.priority first, then
 *   first in, first out;
 * - backoffQ: pods waiting out their per-pod backoff (initial 1 s doubling
 *   per attempt up to 10 s) before they return to activeQ;
 * - unschedulable: pods that fit nowhere; they wait for a cluster event
 *   (moveAllToActiveOrBackoff) or, as a safety net, for
 *   maxUnschedulableMs (5 min, as podMaxInUnschedulablePodsDuration).
 *
 * A pod is in exactly one place: one of the three, or "in flight" between
 * pop() and done()/addUnschedulable()/addBackoff(). An update or delete of
 * a queued pod updates or removes it where it sits; one that arrives while
 * the pod is in flight is remembered and applied when the attempt ends.
 * Nothing polls: timers fire only when a backoff ends or for the periodic
 * leftover flush while unschedulable pods exist. The queue owns its timers
 * and close() clears them. Single-threaded (Node): no method may be called
 * concurrently with itself from another thread, but any interleaving of
 * calls from async code is safe.
 */
import type { Pod } from '../lib/generated/kubemu/core/v1/core';
import { Clock, realClock } from '../lib/workqueue';
import { KeyedHeap } from './heap';
import { podKey } from './framework/nodeinfo';

/** A pod as the queue hands it out. */
export interface QueuedPodInfo {
  pod: Pod;
  key: string;
  /** Scheduling attempts so far, counting the current one once popped. */
  attempts: number;
  /** When the pod first entered the queue (for latency metrics). */
  initialAttemptTimestamp: number;
  /** The scheduling cycle in which it was last popped. */
  cycle: number;
}

/** The cluster events that may make unschedulable pods schedulable. */
export type ClusterEvent = 'NodeAdd' | 'NodeUpdate' | 'PodDelete' | 'PodUpdate' | 'UnschedulableTimeout' | 'ForceActivate';

export interface SchedulingQueueOptions {
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** An unschedulable pod is retried after this long even without an event. */
  maxUnschedulableMs?: number;
  /** How often unschedulable pods are checked against maxUnschedulableMs. */
  unschedulableFlushIntervalMs?: number;
  clock?: Clock;
}

interface Entry {
  info: QueuedPodInfo;
  /** Order in activeQ among equal priorities. */
  seq: number;
  /** When the last attempt failed (backoff is counted from here). */
  lastFailure: number;
  /** When the pod entered the unschedulable set. */
  unschedulableSince: number;
}

interface InFlight {
  entry: Entry;
  /** The newest pod object seen while in flight. */
  latest?: Pod;
  /** Whether that object differs in a way that may change the outcome. */
  changed: boolean;
  deleted: boolean;
}

type Where = 'active' | 'backoff' | 'unschedulable' | 'inflight';

/** Whether an update could change the scheduling outcome (kube-scheduler's isPodUpdated: ignores status, resourceVersion, generation, managedFields). */
export function isPodUpdated(oldPod: Pod, newPod: Pod): boolean {
  const strip = (p: Pod) => {
    const { resourceVersion: _rv, generation: _g, managedFields: _m, ...meta } = p.metadata ?? {};
    return JSON.stringify({ metadata: meta, spec: p.spec });
  };
  return strip(oldPod) !== strip(newPod);
}

export class SchedulingQueue {
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxUnschedulableMs: number;
  private readonly flushIntervalMs: number;
  private readonly clock: Clock;

  private readonly activeQ = new KeyedHeap<Entry>((a, b) => {
    const pa = a.info.pod.spec?.priority ?? 0;
    const pb = b.info.pod.spec?.priority ?? 0;
    return pa !== pb ? pa > pb : a.seq < b.seq;
  });
  private readonly backoffQ = new KeyedHeap<Entry>((a, b) => this.backoffExpiry(a) < this.backoffExpiry(b));
  private readonly unschedulable = new Map<string, Entry>();
  private readonly inFlight = new Map<string, InFlight>();
  private readonly waiters: ((info: QueuedPodInfo | undefined) => void)[] = [];

  private seq = 0;
  private schedulingCycle = 0;
  /** The cycle during which the last move request happened: pods popped at or before it are retried sooner. */
  private moveRequestCycle = -1;
  private backoffTimer: unknown;
  private backoffTimerAt = Infinity;
  private flushTimer: unknown;
  private closed = false;

  constructor(opts: SchedulingQueueOptions = {}) {
    this.initialBackoffMs = opts.initialBackoffMs ?? 1000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.maxUnschedulableMs = opts.maxUnschedulableMs ?? 5 * 60_000;
    this.flushIntervalMs = opts.unschedulableFlushIntervalMs ?? 30_000;
    this.clock = opts.clock ?? realClock;
  }

  /** Where the pod with this key is, if anywhere. */
  where(key: string): Where | undefined {
    if (this.activeQ.has(key)) return 'active';
    if (this.backoffQ.has(key)) return 'backoff';
    if (this.unschedulable.has(key)) return 'unschedulable';
    if (this.inFlight.has(key)) return 'inflight';
    return undefined;
  }

  /** Keys per place, for debugging and tests (activeQ and backoffQ unordered). */
  pendingPods(): { active: string[]; backoff: string[]; unschedulable: string[]; inFlight: string[] } {
    return {
      active: this.activeQ.values().map((e) => e.info.key),
      backoff: this.backoffQ.values().map((e) => e.info.key),
      unschedulable: [...this.unschedulable.keys()],
      inFlight: [...this.inFlight.keys()],
    };
  }

  /** A new pod to schedule; an already known pod is treated as update(). */
  add(pod: Pod): void {
    if (this.closed) return;
    const key = podKey(pod);
    if (this.where(key) !== undefined) {
      this.update(pod);
      return;
    }
    const now = this.clock.now();
    this.pushActive({
      info: { pod, key, attempts: 0, initialAttemptTimestamp: now, cycle: -1 },
      seq: 0,
      lastFailure: now,
      unschedulableSince: 0,
    });
  }

  /**
   * The pod changed. Queued: replaced where it sits (activeQ re-sorted);
   * an unschedulable pod whose spec or metadata changed is moved to
   * backoffQ or activeQ, as it may fit now. In flight: remembered for when
   * the attempt ends. Unknown: added.
   */
  update(pod: Pod): void {
    if (this.closed) return;
    const key = podKey(pod);
    switch (this.where(key)) {
      case 'active': {
        const e = this.activeQ.get(key)!;
        e.info.pod = pod;
        this.activeQ.set(key, e);
        return;
      }
      case 'backoff': {
        this.backoffQ.get(key)!.info.pod = pod;
        return;
      }
      case 'unschedulable': {
        const e = this.unschedulable.get(key)!;
        const changed = isPodUpdated(e.info.pod, pod);
        e.info.pod = pod;
        if (changed) {
          this.unschedulable.delete(key);
          this.requeueAfterWait(e);
        }
        return;
      }
      case 'inflight': {
        const f = this.inFlight.get(key)!;
        if (isPodUpdated(f.latest ?? f.entry.info.pod, pod)) f.changed = true;
        f.latest = pod;
        return;
      }
      default:
        this.add(pod);
    }
  }

  /** The pod is gone (or bound by someone else): removed wherever it is; an in-flight attempt's requeue is dropped. */
  delete(pod: Pod | string): void {
    const key = typeof pod === 'string' ? pod : podKey(pod);
    if (this.activeQ.delete(key)) return;
    if (this.backoffQ.delete(key)) {
      this.armBackoffTimer();
      return;
    }
    if (this.unschedulable.delete(key)) return;
    const f = this.inFlight.get(key);
    if (f) f.deleted = true;
  }

  /**
   * The next pod to try: waits until activeQ holds one; undefined once
   * closed. The pod is in flight until done(), addUnschedulable() or
   * addBackoff(). Concurrent callers are served in call order.
   */
  pop(): Promise<QueuedPodInfo | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    if (this.activeQ.size > 0) return Promise.resolve(this.takeActive());
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The attempt succeeded (the pod is assumed/bound): the queue forgets it. */
  done(key: string): void {
    this.inFlight.delete(key);
  }

  /**
   * The attempt found no node. The pod waits in the unschedulable set for a
   * cluster event, unless one already happened (or the pod changed) during
   * the attempt, in which case it goes to backoffQ. Dropped if it was
   * deleted meanwhile or is not in flight. info must be the object pop()
   * returned (a stale or second report of an attempt is ignored).
   */
  addUnschedulable(info: QueuedPodInfo): void {
    const f = this.endFlight(info);
    if (!f) return;
    const e = f.entry;
    e.lastFailure = this.clock.now();
    if (f.changed || this.moveRequestCycle >= info.cycle) {
      this.pushBackoff(e);
    } else {
      e.unschedulableSince = e.lastFailure;
      this.unschedulable.set(e.info.key, e);
      this.armFlushTimer();
    }
  }

  /** The attempt failed for another reason (an error, a refused binding): retried after its backoff. */
  addBackoff(info: QueuedPodInfo): void {
    const f = this.endFlight(info);
    if (!f) return;
    f.entry.lastFailure = this.clock.now();
    this.pushBackoff(f.entry);
  }

  /**
   * A cluster event that may let unschedulable pods fit: each moves to
   * backoffQ if its backoff has not ended, else to activeQ. preCheck, when
   * given, limits the move to the pods it accepts. Pods in flight are
   * retried soon after their attempt fails (moveRequestCycle).
   */
  moveAllToActiveOrBackoff(_event: ClusterEvent, preCheck?: (pod: Pod) => boolean): void {
    if (this.closed) return;
    for (const [key, e] of [...this.unschedulable]) {
      if (preCheck && !preCheck(e.info.pod)) continue;
      this.unschedulable.delete(key);
      this.requeueAfterWait(e);
    }
    this.moveRequestCycle = this.schedulingCycle;
  }

  /** Stops the queue: timers cleared, waiting pop() calls get undefined, later calls are no-ops. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.backoffTimer !== undefined) this.clock.clearTimeout(this.backoffTimer);
    if (this.flushTimer !== undefined) this.clock.clearTimeout(this.flushTimer);
    this.backoffTimer = this.flushTimer = undefined;
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  /** The backoff for a pod after `attempts` attempts: initial · 2^(attempts-1), capped (calculateBackoffDuration). */
  backoffDuration(attempts: number): number {
    let d = this.initialBackoffMs;
    for (let i = 1; i < attempts; i++) {
      d *= 2;
      if (d >= this.maxBackoffMs) return this.maxBackoffMs;
    }
    return Math.min(d, this.maxBackoffMs);
  }

  private backoffExpiry(e: Entry): number {
    return e.lastFailure + this.backoffDuration(e.info.attempts);
  }

  private endFlight(info: QueuedPodInfo): InFlight | undefined {
    const f = this.inFlight.get(info.key);
    if (!f || f.entry.info !== info) return undefined;
    this.inFlight.delete(info.key);
    if (f.deleted || this.closed) return undefined;
    if (f.latest) f.entry.info.pod = f.latest;
    return f;
  }

  private requeueAfterWait(e: Entry): void {
    if (e.info.attempts > 0 && this.backoffExpiry(e) > this.clock.now()) this.pushBackoff(e);
    else this.pushActive(e);
  }

  private pushActive(e: Entry): void {
    e.seq = this.seq++;
    this.activeQ.set(e.info.key, e);
    while (this.waiters.length > 0 && this.activeQ.size > 0) this.waiters.shift()!(this.takeActive());
  }

  private takeActive(): QueuedPodInfo {
    const e = this.activeQ.pop()!;
    this.schedulingCycle++;
    e.info.attempts++;
    e.info.cycle = this.schedulingCycle;
    this.inFlight.set(e.info.key, { entry: e, changed: false, deleted: false });
    return e.info;
  }

  private pushBackoff(e: Entry): void {
    if (this.backoffExpiry(e) <= this.clock.now()) {
      this.pushActive(e);
      return;
    }
    this.backoffQ.set(e.info.key, e);
    this.armBackoffTimer();
  }

  /** One timer, at the earliest backoff expiry; re-armed only when that moves. */
  private armBackoffTimer(): void {
    if (this.closed) return;
    const top = this.backoffQ.peek();
    const at = top ? this.backoffExpiry(top) : Infinity;
    if (at === this.backoffTimerAt) return;
    if (this.backoffTimer !== undefined) this.clock.clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    this.backoffTimerAt = at;
    if (at === Infinity) return;
    this.backoffTimer = this.clock.setTimeout(() => {
      this.backoffTimer = undefined;
      this.backoffTimerAt = Infinity;
      this.flushBackoffCompleted();
    }, Math.max(0, at - this.clock.now()));
  }

  private flushBackoffCompleted(): void {
    const now = this.clock.now();
    for (;;) {
      const top = this.backoffQ.peek();
      if (!top || this.backoffExpiry(top) > now) break;
      this.backoffQ.pop();
      this.pushActive(top);
    }
    this.armBackoffTimer();
  }

  /** The leftover flush runs only while unschedulable pods exist. */
  private armFlushTimer(): void {
    if (this.closed || this.flushTimer !== undefined || this.unschedulable.size === 0) return;
    this.flushTimer = this.clock.setTimeout(() => {
      this.flushTimer = undefined;
      this.flushUnschedulableLeftover();
      this.armFlushTimer();
    }, this.flushIntervalMs);
  }

  private flushUnschedulableLeftover(): void {
    const now = this.clock.now();
    for (const [key, e] of [...this.unschedulable]) {
      if (now - e.unschedulableSince < this.maxUnschedulableMs) continue;
      this.unschedulable.delete(key);
      this.requeueAfterWait(e);
    }
  }
}
