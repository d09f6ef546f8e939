/**
 * The controller-manager: while this replica holds the Lease kube-system/kube-controller-manager,
 * it starts the shared informers and every controller of the table; when it loses the lease it
 * stops them and tells its owner, which exits (as kube-controller-manager does: a replica that
 * lost leadership restarts as a plain candidate, so no controller of a deposed leader lingers).
 */
import { NatsConnection } from 'nats';
import { ApiClient } from '../lib/apiclient';
import { Timings } from '../lib/config';
import { EventRecorder } from '../lib/events';
import { LeaderElector, leaderFencedClient } from '../lib/leaderelection';
import { Logger } from '../lib/log';
import { Controller, ControllerContext, ControllerDescriptor, SharedInformers } from './context';
import { CONTROLLERS } from './controllers';

export const LEASE_NAMESPACE = 'kube-system';
export const LEASE_NAME = 'kube-controller-manager';

export interface ControllerManagerOptions {
  client: ApiClient;
  nats: NatsConnection;
  identity: string;
  timings: Timings;
  stateDir: string;
  log: Logger;
  /** Which controllers to run (default: the whole table). */
  controllers?: ControllerDescriptor[];
  /** Called once when leadership is lost after it was held. */
  onLostLeadership?: () => void;
  /** Skip leader election and run at once (tests that run one replica in process). */
  noLeaderElection?: boolean;
  now?: () => number;
}

export class ControllerManager {
  private elector?: LeaderElector;
  private informers?: SharedInformers;
  private running: { name: string; controller: Controller }[] = [];
  private starting?: Promise<void>;
  private stopped = false;

  constructor(private readonly opts: ControllerManagerOptions) {}

  get isLeader(): boolean {
    return this.opts.noLeaderElection ? !!this.starting : (this.elector?.isLeader ?? false);
  }

  /** Campaigns for the lease (or, without leader election, starts the controllers at once). Returns at once. */
  start(): void {
    if (this.opts.noLeaderElection) {
      this.starting = this.startControllers();
      return;
    }
    const t = this.opts.timings;
    this.elector = new LeaderElector(this.opts.client, {
      namespace: LEASE_NAMESPACE,
      name: LEASE_NAME,
      identity: this.opts.identity,
      leaseDurationSeconds: t.leaderLeaseDurationSeconds,
      renewDeadlineSeconds: t.leaderRenewDeadlineSeconds,
      retryPeriodSeconds: t.leaderRetryPeriodSeconds,
      log: this.opts.log,
      now: this.opts.now,
      onStartedLeading: () => {
        this.starting = this.startControllers();
        return this.starting;
      },
      onStoppedLeading: () => {
        void this.stopControllers().then(() => {
          if (!this.stopped) this.opts.onLostLeadership?.();
        });
      },
    });
    this.elector.run();
  }

  /** Resolves once the controllers run (for tests). */
  async ready(): Promise<void> {
    while (!this.starting) await new Promise((r) => setTimeout(r, 50));
    await this.starting;
  }

  private async startControllers(): Promise<void> {
    const { nats, log } = this.opts;
    const elector = this.elector;
    // Informers list and watch through the plain client; the controllers write through the fence.
    const informers = new SharedInformers(this.opts.client, nats, log);
    const client = elector ? leaderFencedClient(this.opts.client, () => elector.checkLeading()) : this.opts.client;
    this.informers = informers;
    const recorders = new Map<string, EventRecorder>();
    const ctx: ControllerContext = {
      client,
      informers,
      timings: this.opts.timings,
      log,
      stateDir: this.opts.stateDir,
      now: this.opts.now ?? Date.now,
      recorder: (component) => {
        let r = recorders.get(component);
        if (!r) recorders.set(component, (r = new EventRecorder(client, component, this.opts.identity, log)));
        return r;
      },
    };
    const table = this.opts.controllers ?? CONTROLLERS;
    const built = table.map((d) => ({ name: d.name, runner: d.create(ctx) }));
    const started = Date.now();
    await informers.start();
    if (this.stopped) return;
    this.running = built.map((b) => ({ name: b.name, controller: b.runner.run() }));
    log.info('controllers started', { controllers: built.map((b) => b.name), syncMs: Date.now() - started });
  }

  private async stopControllers(): Promise<void> {
    const running = this.running;
    this.running = [];
    await Promise.all(running.map((r) => r.controller.stop()));
    await this.informers?.stop();
  }

  /** Stops the controllers and releases the lease (a standby takes over at once). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.elector?.stop();
    await this.starting?.catch(() => undefined);
    await this.stopControllers();
  }
}
