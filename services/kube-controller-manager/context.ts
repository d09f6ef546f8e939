/**
 * What every controller of the controller-manager is given: the API client, one shared informer
 * per resource (client-go's SharedInformerFactory: every controller reads the same caches), an
 * event recorder per controller, the timing profile and a clock.
 */
import { NatsConnection } from 'nats';
import { ApiClient } from '../lib/apiclient';
import { Timings } from '../lib/config';
import { EventRecorder } from '../lib/events';
import { IndexFunc, Informer } from '../lib/informer';
import { Logger } from '../lib/log';
import { KindMap, ObjectCase, resourceForCase } from '../lib/resources';

/**
 * One informer per resource, shared by every controller. Controllers ask for theirs (and add
 * their indexers) before start(); start() starts them all and resolves once every one synced.
 */
export class SharedInformers {
  private readonly informers = new Map<ObjectCase, Informer<ObjectCase>>();
  private readonly indexers = new Map<ObjectCase, Record<string, IndexFunc<never>>>();
  private started = false;

  constructor(
    private readonly client: ApiClient,
    private readonly nats: NatsConnection,
    private readonly log: Logger,
  ) {}

  /**
   * The shared informer of `c`, created on first use; every caller gets the same object.
   * `indexers` are added to it; asking with new indexers after start() throws (an informer's
   * indices are built as objects arrive).
   */
  informer<C extends ObjectCase>(c: C, indexers: Record<string, IndexFunc<KindMap[C]>> = {}): Informer<C> {
    const existing = this.informers.get(c) as unknown as Informer<C> | undefined;
    if (existing) {
      const missing = Object.keys(indexers).filter((n) => !(n in (this.indexers.get(c) ?? {})));
      if (missing.length > 0) {
        if (this.started) throw new Error(`informer ${c}: indexers ${missing.join(', ')} asked for after start`);
        // The same informer object for everyone: controllers keep the reference they were given.
        existing.addIndexers(indexers);
        this.indexers.set(c, { ...(this.indexers.get(c) ?? {}), ...(indexers as Record<string, IndexFunc<never>>) });
      }
      return existing;
    }
    if (this.started) throw new Error(`informer ${c} asked for after start`);
    const inf = new Informer<C>({ client: this.client, nats: this.nats, info: resourceForCase(c), indexers, log: this.log });
    this.informers.set(c, inf as unknown as Informer<ObjectCase>);
    this.indexers.set(c, indexers as Record<string, IndexFunc<never>>);
    return inf;
  }

  /** Starts every informer asked for; resolves once all of them listed. */
  async start(): Promise<void> {
    this.started = true;
    await Promise.all([...this.informers.values()].map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }
}

export interface ControllerContext {
  client: ApiClient;
  informers: SharedInformers;
  timings: Timings;
  log: Logger;
  /** An event recorder reporting as `component` (e.g. replicaset-controller). */
  recorder(component: string): EventRecorder;
  now(): number;
  /** Where controllers may keep files (the PV provisioner's volumes). */
  stateDir: string;
}

/** A running controller. */
export interface Controller {
  /** Stops its workers and timers; resolves when in-flight reconciles finished. */
  stop(): Promise<void>;
}

/** A row of the controller table: its name (as kube-controller-manager's --controllers) and how to start it. */
export interface ControllerDescriptor {
  name: string;
  /** Builds the controller: asks ctx.informers for what it reads and adds handlers. Must not call the API yet. */
  create(ctx: ControllerContext): ControllerRunner;
}

/** A built controller, started once the shared informers synced. */
export interface ControllerRunner {
  run(): Controller;
}
