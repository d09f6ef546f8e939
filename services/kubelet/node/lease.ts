/**
 * The node's heartbeat: the Lease kube-node-lease/<node> (k8s pkg/kubelet/nodelease and
 * component-helpers/apimachinery/lease), renewed on a timer. The node lifecycle controller judges a
 * node alive by this Lease moving, which is why it is cheap (a tiny object) and frequent, while the
 * Node's status is written only when it changes.
 */
import { ApiClient } from '../../lib/apiclient';
import { isReason } from '../../lib/errors';
import type { Lease } from '../../lib/generated/kubemu/coordination/v1/coordination';
import type { Logger } from '../../lib/log';
import { resourceForCase } from '../../lib/resources';
import { formatMicroTime } from '../../lib/time';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
const LEASE = resourceForCase('lease');
/** Retry delays after a failed renewal: 200 ms doubling up to 7 s, never beyond the renew interval (k8s' lease controller backs off the same way). */
const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 7000;

export interface NodeLeaseOptions {
  client: ApiClient;
  nodeName: string;
  leaseDurationSeconds: number;
  renewIntervalMs: number;
  /** The first renewal happens this long after start() (spreads many nodes' renewals). Default 0. */
  initialDelayMs?: number;
  /** The Node's uid once known, for the ownerReference (the Lease goes when its Node goes). */
  nodeUid: () => string | undefined;
  log: Logger;
  now?: () => number;
}

/** The Lease for `nodeName` as a kubelet writes it, owned by the Node when its uid is known. Pure. */
export function nodeLeaseObject(base: Lease | undefined, nodeName: string, leaseDurationSeconds: number, nodeUid: string | undefined, now: number): Lease {
  const meta = { ...(base?.metadata ?? {}), name: nodeName, namespace: NODE_LEASE_NAMESPACE };
  if (nodeUid && !(meta.ownerReferences ?? []).some((r) => r.uid === nodeUid)) {
    meta.ownerReferences = [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: nodeUid }];
  }
  return {
    ...(base ?? {}),
    metadata: meta,
    spec: { ...(base?.spec ?? {}), holderIdentity: nodeName, leaseDurationSeconds, renewTime: formatMicroTime(now) },
  };
}

/**
 * Renews kube-node-lease/<node> every renewIntervalMs from start() until stop(): creates it when
 * missing, updates the last Lease it wrote (no read per renewal, as k8s), and on Conflict or
 * NotFound reads it again and retries. Failures are logged and retried with backoff; nothing is
 * thrown out of the timer. Not safe to start() twice.
 */
export class NodeLease {
  private latest?: Lease;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private failures = 0;
  private readonly now: () => number;
  /** Successful renewals (creates included), for tests and metrics. */
  renewals = 0;

  constructor(private readonly opts: NodeLeaseOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The Lease as last written, if any. */
  get lease(): Lease | undefined {
    return this.latest;
  }

  /** Starts renewing: the first renewal after initialDelayMs, or after one interval when `renewedNow` (the caller just renewed). */
  start(renewedNow = false): void {
    this.schedule(renewedNow ? this.opts.renewIntervalMs : this.opts.initialDelayMs ?? 0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One renewal (with one re-read on Conflict/NotFound). Resolves whether it succeeded; never rejects. */
  async renew(): Promise<boolean> {
    const { client, nodeName, leaseDurationSeconds, log } = this.opts;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          if (!this.latest) this.latest = await client.tryGet(LEASE, NODE_LEASE_NAMESPACE, nodeName);
          const next = nodeLeaseObject(this.latest, nodeName, leaseDurationSeconds, this.opts.nodeUid(), this.now());
          this.latest = this.latest ? await client.update(LEASE, next) : await client.create(LEASE, next);
          break;
        } catch (err) {
          // Someone else wrote it (or deleted it): read again and retry once at once.
          this.latest = undefined;
          const retriable = isReason(err, 'Conflict') || isReason(err, 'NotFound') || isReason(err, 'AlreadyExists');
          if (!retriable || attempt >= 1) throw err;
        }
      }
      this.renewals++;
      if (this.failures > 0) log.info('node lease renewed again', { lease: `${NODE_LEASE_NAMESPACE}/${nodeName}`, afterFailures: this.failures });
      this.failures = 0;
      return true;
    } catch (err) {
      this.failures++;
      // One warning per outage, not one per node per tick: 1,000 simulated nodes share one apiserver.
      log[this.failures === 1 ? 'warn' : 'debug']('failed to renew node lease; will retry', {
        lease: `${NODE_LEASE_NAMESPACE}/${nodeName}`,
        failures: this.failures,
        err: (err as Error).message,
      });
      return false;
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.renew().then((ok) => {
        const retry = Math.min(FIRST_RETRY_MS * 2 ** (this.failures - 1), MAX_RETRY_MS, this.opts.renewIntervalMs);
        this.schedule(ok ? this.opts.renewIntervalMs : retry);
      });
    }, delayMs);
  }
}
