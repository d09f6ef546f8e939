import { isReason } from './errors';
import { ApiClient } from './apiclient';
import { Event } from './generated/kubemu/core/v1/core';
import { Logger } from './log';
import { KubeObject, resourceForCase } from './resources';
import { formatMicroTime, formatTime } from './time';

const EVENT = resourceForCase('event');
/** Repeats within this window raise the count of the event already written (client-go: 10 min). */
const AGGREGATION_MS = 10 * 60 * 1000;
const MAX_REMEMBERED = 4096;

export type EventType = 'Normal' | 'Warning';

/**
 * Records core/v1 Events about objects for one component, as client-go's event recorder: an Event
 * named `<object>.<random>` in the object's namespace, with involvedObject, source and reporting
 * fields filled in. The same reason and message about the same object within 10 minutes raises
 * `count` and `lastTimestamp` of the event already written instead of writing a new one (the
 * correlator). Best effort: a failure is logged, never thrown. Safe to call at any rate; the
 * memory of written events is bounded.
 */
export class EventRecorder {
  private readonly written = new Map<string, { namespace: string; name: string; count: number; at: number }>();

  constructor(
    private readonly client: ApiClient,
    private readonly component: string,
    private readonly instance: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records an event about `obj`; resolves once it is written or given up (never rejects). An
   * empty `action` writes the legacy core/v1 form (no eventTime, source.host = instance).
   */
  private lastNanos = 0n;

  /** Unix nanoseconds in hex, strictly increasing within this recorder. */
  private eventSuffix(atMs: number): string {
    let nanos = BigInt(Math.floor(atMs)) * 1_000_000n;
    if (nanos <= this.lastNanos) nanos = this.lastNanos + 1n;
    this.lastNanos = nanos;
    return nanos.toString(16);
  }

  async record(obj: KubeObject, type: EventType, reason: string, action: string, message: string): Promise<void> {
    const meta = obj.metadata ?? {};
    const at = this.now();
    const key = `${meta.uid}|${reason}|${message}`;
    const seen = this.written.get(key);
    try {
      if (seen && at - seen.at < AGGREGATION_MS) {
        seen.count++;
        await this.client.patch(EVENT, seen.namespace, seen.name, { count: seen.count, lastTimestamp: formatTime(at) });
        return;
      }
      // With an action, the events.k8s.io form (eventTime and the reporting fields, as the
      // scheduler writes them); without one, the legacy form the kubelet writes (source.host).
      const event: Event = {
        // Kubernetes names events <object>.<unix nanoseconds in hex>, so that a list (sorted by
        // name) is in time order: kubectl describe relies on it for events within one second.
        metadata: { name: `${meta.name}.${this.eventSuffix(at)}`, namespace: meta.namespace || 'default' },
        involvedObject: {
          kind: obj.kind,
          apiVersion: obj.apiVersion,
          namespace: meta.namespace,
          name: meta.name,
          uid: meta.uid,
          resourceVersion: meta.resourceVersion,
        },
        reason,
        message,
        type,
        action: action || undefined,
        source: action ? { component: this.component } : { component: this.component, host: this.instance },
        reportingComponent: this.component,
        reportingInstance: this.instance,
        firstTimestamp: formatTime(at),
        lastTimestamp: formatTime(at),
        eventTime: action ? formatMicroTime(at) : undefined,
        count: 1,
      };
      const created = await this.client.create(EVENT, event).catch((err) => {
        // Another recorder took the same nanosecond name: let the apiserver pick one.
        if (!isReason(err, 'AlreadyExists')) throw err;
        return this.client.create(EVENT, { ...event, metadata: { generateName: `${meta.name}.`, namespace: event.metadata!.namespace } });
      });
      this.written.delete(key);
      this.written.set(key, { namespace: created.metadata?.namespace ?? '', name: created.metadata?.name ?? '', count: 1, at });
      // Bounded: the oldest entries go first (a Map iterates in insertion order).
      while (this.written.size > MAX_REMEMBERED) this.written.delete(this.written.keys().next().value as string);
    } catch (err) {
      this.written.delete(key);
      this.log.warn('could not record event', { object: `${meta.namespace}/${meta.name}`, reason, err: (err as Error).message });
    }
  }
}
