/**
 * A kubelet's side of its Node object (k8s pkg/kubelet/kubelet_node_status.go): registration,
 * the node Lease and the periodic status report. Used by the real kubelet (one node per process)
 * and by the simulated kubelet (many nodes per process).
 */
import { ApiClient } from '../../lib/apiclient';
import type { Timings } from '../../lib/config';
import { isReason } from '../../lib/errors';
import type { Node } from '../../lib/generated/kubemu/core/v1/core';
import { Logger, logger } from '../../lib/log';
import { resourceForCase } from '../../lib/resources';
import { NodeLease } from './lease';
import {
  desiredNodeStatus,
  initialNode,
  lastHeartbeat,
  NodeDescription,
  NodeHealth,
  NodePressure,
  nodeStatusChanged,
  reconcileExistingNode,
} from './status';

const NODE = resourceForCase('node');

/**
 * How long an unchanged status may go unwritten (k8s nodeStatusReportFrequency, default 5 min).
 * Since node leases (k8s 1.17), the Lease is the heartbeat the node lifecycle controller watches;
 * the kubelet recomputes its status every nodeStatusUpdateFrequency but writes it only when it
 * changed or when this much time passed since the last write, so Ready's lastHeartbeatTime moves
 * about every 5 minutes on a healthy node, exactly as `kubectl describe node` shows on a real
 * cluster. (Kubernetes' one exception, report frequency = update frequency when the latter is set
 * explicitly, is a backwards-compatibility rule we do not need.) Callers may pass another value.
 */
export const DEFAULT_NODE_STATUS_REPORT_SECONDS = 300;
const REGISTER_FIRST_RETRY_MS = 100;
const REGISTER_MAX_RETRY_MS = 7000;

export interface NodeStatusManagerOptions extends NodeDescription {
  client: ApiClient;
  timings: Pick<Timings, 'nodeLeaseDurationSeconds' | 'nodeLeaseRenewSeconds' | 'nodeStatusUpdateSeconds'>;
  /** The Ready condition's verdict, asked on every status sync. Default: always ready. Must not throw (a throw counts as not ready). */
  health?: () => NodeHealth;
  /** Pressure conditions, asked on every status sync. Default: none. */
  memoryPressure?: () => boolean;
  diskPressure?: () => boolean;
  pidPressure?: () => boolean;
  log?: Logger;
  /** See DEFAULT_NODE_STATUS_REPORT_SECONDS. */
  statusReportSeconds?: number;
  /** Override of timings.nodeLeaseRenewSeconds (the simulated kubelet spreads many nodes' renewals). */
  leaseRenewSeconds?: number;
  /** Override of timings.nodeLeaseDurationSeconds. */
  leaseDurationSeconds?: number;
  /** The first lease renewal and status sync are delayed by a random time below this, so many nodes do not tick together. Default 0. */
  spreadMs?: number;
  /**
   * Reads the Node from a local cache (an informer) instead of a GET per status sync. A miss
   * falls back to a GET, so a lagging cache never makes the node look deleted.
   */
  nodeLister?: (name: string) => Node | undefined;
  now?: () => number;
  random?: () => number;
}

/**
 * Registers one Node and keeps it reported: start() creates the Node (or, after a kubelet restart,
 * adopts the existing one, keeping its spec and labels) and then renews the Lease every
 * leaseRenewSeconds and recomputes the status every nodeStatusUpdateSeconds, writing it when it
 * changed or when it is statusReportSeconds old. A Node deleted while running is registered again
 * at the next sync. poke() syncs at once (for transitions such as Ready → False). API failures are
 * logged and retried; no timer ever throws. Syncs never overlap. stop() disposes every timer.
 */
export class NodeStatusManager {
  private readonly log: Logger;
  private readonly lease: NodeLease;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly reportMs: number;
  private node?: Node;
  private stopped = false;
  private started = false;
  private timer?: NodeJS.Timeout;
  private syncing?: Promise<void>;
  private again = false;
  private failures = 0;
  private registeredOnce = false;
  /** Status writes made (for tests and metrics). */
  statusWrites = 0;
  /** Registrations made: 1 + re-registrations after the Node was deleted. */
  registrations = 0;

  constructor(private readonly opts: NodeStatusManagerOptions) {
    this.log = (opts.log ?? logger('kubelet')).with({ node: opts.nodeName });
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.reportMs = (opts.statusReportSeconds ?? DEFAULT_NODE_STATUS_REPORT_SECONDS) * 1000;
    const spread = opts.spreadMs ?? 0;
    this.lease = new NodeLease({
      client: opts.client,
      nodeName: opts.nodeName,
      leaseDurationSeconds: opts.leaseDurationSeconds ?? opts.timings.nodeLeaseDurationSeconds,
      renewIntervalMs: (opts.leaseRenewSeconds ?? opts.timings.nodeLeaseRenewSeconds) * 1000,
      initialDelayMs: spread > 0 ? Math.floor(this.random() * spread) : 0,
      nodeUid: () => this.node?.metadata?.uid,
      log: this.log,
      now: this.now,
    });
  }

  get nodeName(): string {
    return this.opts.nodeName;
  }

  /** The Node as last read or written, if registered. Not to be mutated. */
  get current(): Node | undefined {
    return this.node;
  }

  /** Whether the Node has been registered (at least once). */
  get registered(): boolean {
    return this.registeredOnce;
  }

  /** Lease renewals that succeeded. */
  get leaseRenewals(): number {
    return this.lease.renewals;
  }

  /**
   * Registers the Node, retrying with backoff (100 ms doubling to 7 s, as kubelet's
   * registerWithAPIServer) until it succeeds or stop() is called, renews the Lease once (unless
   * spreadMs is set), then starts the lease and the status timers. Resolves true once registered, false when stopped first. Call once.
   */
  async start(): Promise<boolean> {
    if (this.started) throw new Error('NodeStatusManager: start() called twice');
    this.started = true;
    let delay = REGISTER_FIRST_RETRY_MS;
    while (!this.stopped) {
      try {
        await this.register();
        break;
      } catch (err) {
        this.log.warn('unable to register node with the apiserver; retrying', { err: (err as Error).message, retryMs: delay });
        await this.sleep(delay);
        delay = Math.min(delay * 2, REGISTER_MAX_RETRY_MS);
      }
    }
    if (this.stopped) return false;
    const spread = this.opts.spreadMs ?? 0;
    // A single node heartbeats at once, so it is Ready in every sense when start() resolves;
    // many spread nodes take their first turn within the spread.
    const renewedNow = spread === 0 && (await this.lease.renew());
    if (this.stopped) return false;
    this.lease.start(renewedNow);
    this.scheduleSync(spread > 0 ? Math.floor(this.random() * spread) : this.opts.timings.nodeStatusUpdateSeconds * 1000);
    return true;
  }

  /**
   * Recomputes and (if needed) writes the status now, e.g. after health() changed. Resolves once a
   * sync that started after this call finished; never rejects. Safe to call at any time and rate:
   * calls during a sync coalesce into one more sync.
   */
  poke(): Promise<void> {
    if (this.stopped || !this.registeredOnce) return Promise.resolve();
    if (this.syncing) {
      this.again = true;
      // The running sync loops once more before it resolves.
      return this.syncing;
    }
    return this.runSync();
  }

  /** Stops both timers; a sync in flight finishes but schedules nothing. Resolves once it did. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.lease.stop();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.sleepers.splice(0)) w();
    await this.syncing;
  }

  private readonly sleepers: (() => void)[] = [];
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        const i = this.sleepers.indexOf(done);
        if (i >= 0) this.sleepers.splice(i, 1);
        resolve();
      }, ms);
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      this.sleepers.push(done);
    });
  }

  private scheduleSync(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.poke().finally(() => {
        if (!this.timer) this.scheduleSync(this.opts.timings.nodeStatusUpdateSeconds * 1000);
      });
    }, delayMs);
  }

  private runSync(): Promise<void> {
    const run = async () => {
      do {
        this.again = false;
        await this.syncOnce();
      } while (this.again && !this.stopped);
    };
    this.syncing = run().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private health(): NodeHealth {
    try {
      return this.opts.health?.() ?? { ready: true };
    } catch (err) {
      return { ready: false, reason: 'KubeletNotReady', message: `health check failed: ${(err as Error).message}` };
    }
  }

  private pressure(): NodePressure {
    const ask = (f?: () => boolean) => {
      try {
        return f?.() ?? false;
      } catch {
        return false;
      }
    };
    return { memory: ask(this.opts.memoryPressure), disk: ask(this.opts.diskPressure), pid: ask(this.opts.pidPressure) };
  }

  /** Creates the Node, or adopts the existing one (kubelet restart). Throws on API failure. */
  private async register(): Promise<void> {
    const { client, nodeName } = this.opts;
    for (let attempt = 0; ; attempt++) {
      const existing = await client.tryGet(NODE, '', nodeName);
      if (existing) {
        const fixed = reconcileExistingNode(existing, this.opts);
        this.node = fixed ? await client.update(NODE, fixed) : existing;
        // A restarted kubelet reports at once: its health may differ from what was last written.
        await this.writeStatus(true);
        this.log.info('node already registered; kept its spec and labels', { uid: this.node.metadata?.uid });
        break;
      }
      try {
        const created = await client.create(NODE, initialNode(this.opts, this.health(), this.pressure(), this.now()));
        this.node = created;
        this.log.info('node registered', { uid: created.metadata?.uid });
        // Status is the status subresource's to write; should create have dropped it, write it now.
        if (!created.status?.conditions?.some((c) => c.type === 'Ready')) await this.writeStatus(true);
        break;
      } catch (err) {
        // Created meanwhile (another incarnation of us): adopt it on the next round.
        if (!isReason(err, 'AlreadyExists') || attempt >= 2) throw err;
      }
    }
    this.registrations++;
    this.registeredOnce = true;
  }

  /** One status sync; never throws. */
  private async syncOnce(): Promise<void> {
    try {
      await this.writeStatus(false);
      if (this.failures > 0) this.log.info('node status updated again', { afterFailures: this.failures });
      this.failures = 0;
    } catch (err) {
      this.failures++;
      this.log[this.failures === 1 ? 'warn' : 'debug']('error updating node status; will retry', { failures: this.failures, err: (err as Error).message });
    }
  }

  /**
   * Reads the Node (cache, then GET), re-registers it when gone, and writes the recomputed status
   * when it changed, is due, or `force`. One retry with a fresh read on Conflict.
   */
  private async writeStatus(force: boolean): Promise<void> {
    const { client, nodeName } = this.opts;
    for (let attempt = 0; ; attempt++) {
      let current = attempt === 0 ? this.opts.nodeLister?.(nodeName) : undefined;
      // A cached copy older than what we wrote ourselves is stale: read it from the apiserver.
      if (current && this.node && Number(current.metadata?.resourceVersion ?? 0) < Number(this.node.metadata?.resourceVersion ?? 0)) current = undefined;
      current ??= await client.tryGet(NODE, '', nodeName);
      if (!current) {
        if (this.stopped) return;
        this.log.warn('node object is gone; registering it again');
        this.node = undefined;
        await this.register();
        return;
      }
      this.node = current;
      const now = this.now();
      const status = desiredNodeStatus(this.opts, this.health(), this.pressure(), current.status, now);
      const changed = nodeStatusChanged(current.status, status);
      const due = now - lastHeartbeat(current.status) >= this.reportMs;
      if (!force && !changed && !due) return;
      try {
        this.node = await client.updateStatus(NODE, { ...current, status });
        this.statusWrites++;
        const was = current.status?.conditions?.find((c) => c.type === 'Ready');
        const ready = status.conditions?.find((c) => c.type === 'Ready');
        if (was && was.status !== ready?.status) this.log.info('node Ready condition changed', { from: was.status, to: ready?.status, reason: ready?.reason, message: ready?.message });
        return;
      } catch (err) {
        if ((isReason(err, 'Conflict') || isReason(err, 'NotFound')) && attempt < 1) continue;
        throw err;
      }
    }
  }
}
