import * as grpc from '@grpc/grpc-js';
import { Scale } from './generated/kubemu/autoscaling/v1/autoscaling';
import { ApiServerServiceClient, Object as ApiObject } from './generated/kubemu/apiserver/v1/apiserver';
import { Lease } from './generated/kubemu/coordination/v1/coordination';
import { Binding } from './generated/kubemu/core/v1/core';
import { DeleteOptions, Status } from './generated/kubemu/meta/v1/meta';
import { ApiError, errors, fromGrpcError, isReason } from './errors';
import { LeaseClient } from './leaderelection';
import { KindMap, ObjectCase, resourceForCase, ResourceInfo, unwrap, wrap } from './resources';

export interface ClientOptions {
  /** Per-call deadline in ms. */
  timeoutMs?: number;
  /** How long a call keeps retrying while no apiserver answers (UNAVAILABLE), in ms. */
  retryForMs?: number;
  /**
   * Called each time a call found no apiserver (UNAVAILABLE) and is about to be retried, with the
   * error and the retry's number (1, 2, ...): for observers (scenarios, metrics). Must not throw.
   */
  onRetry?: (err: ApiError, retry: number) => void;
}

/**
 * Lease calls (leader election) give up fast: the elector retries every retry period on its own
 * and must notice within its renew deadline (demo 3 s, k8s 10 s) that it cannot renew, as
 * client-go bounds each renewal by it. Retrying them for retryForMs (15 s) kept a leader cut off
 * from every apiserver believing it led past its lease, and its controllers acting on a stale
 * view (a node marked Unknown by a write held back until the apiservers returned).
 */
const LEASE_CALL = { retryForMs: 1000, timeoutMs: 2000 };

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
  continue?: string;
}

/**
 * A typed client of the apiserver's gRPC API, given every apiserver address. grpc-js balances over
 * them (round robin) and routes around a dead replica; a call that finds no apiserver (UNAVAILABLE)
 * is retried with backoff for `retryForMs`, so a replica's death costs a client no request. Errors
 * are ApiErrors. Safe for concurrent use.
 */
export class ApiClient implements LeaseClient {
  private readonly client: ApiServerServiceClient;
  private readonly timeoutMs: number;
  private readonly retryForMs: number;
  private readonly onRetry?: (err: ApiError, retry: number) => void;
  private readonly leaseBounds: { retryForMs: number; timeoutMs: number };

  constructor(addresses: string[], opts: ClientOptions = {}) {
    if (addresses.length === 0) throw new Error('kubemu: ApiClient needs at least one apiserver address');
    const target = `ipv4:${addresses.join(',')}`;
    this.client = new ApiServerServiceClient(target, grpc.credentials.createInsecure(), {
      'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.max_send_message_length': 8 * 1024 * 1024,
      // A hung apiserver (frozen, partitioned) is declared dead within 7 s, its in-flight calls fail
      // UNAVAILABLE and are retried on another replica, and round robin stops choosing it.
      'grpc.keepalive_time_ms': 5000,
      'grpc.keepalive_timeout_ms': 2000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
      'grpc.enable_channelz': 0,
    });
    this.timeoutMs = opts.timeoutMs ?? 10000;
    this.retryForMs = opts.retryForMs ?? 15000;
    this.onRetry = opts.onRetry;
    this.leaseBounds = { retryForMs: Math.min(this.retryForMs, LEASE_CALL.retryForMs), timeoutMs: Math.min(this.timeoutMs, LEASE_CALL.timeoutMs) };
  }

  close(): void {
    this.client.close();
  }

  async create<C extends ObjectCase>(info: ResourceInfo<C>, obj: KindMap[C], opts: { dryRun?: string[] } = {}): Promise<KindMap[C]> {
    const namespace = (obj as { metadata?: { namespace?: string } }).metadata?.namespace ?? '';
    const res = await this.call<ApiObject>((md, o, cb) => this.client.create({ resource: info.resource, namespace, object: wrap(info.objectCase, obj), dryRun: opts.dryRun }, md, o, cb));
    return this.value(info, res);
  }

  async get<C extends ObjectCase>(info: ResourceInfo<C>, namespace: string, name: string): Promise<KindMap[C]> {
    const res = await this.call<ApiObject>((md, o, cb) => this.client.get({ resource: info.resource, namespace, name }, md, o, cb));
    return this.value(info, res);
  }

  /** Like get, but undefined instead of NotFound. */
  async tryGet<C extends ObjectCase>(info: ResourceInfo<C>, namespace: string, name: string): Promise<KindMap[C] | undefined> {
    try {
      return await this.get(info, namespace, name);
    } catch (err) {
      if (isReason(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  async list<C extends ObjectCase>(
    info: ResourceInfo<C>,
    namespace = '',
    opts: { labelSelector?: string; fieldSelector?: string; limit?: number; continue?: string } = {},
  ): Promise<ListResult<KindMap[C]>> {
    const res = await this.call<import('./generated/kubemu/apiserver/v1/apiserver').ListResponse>((md, o, cb) =>
      this.client.list({ resource: info.resource, namespace, ...opts }, md, o, cb),
    );
    return {
      items: (res.items ?? []).map((i) => this.value(info, i)),
      resourceVersion: res.metadata?.resourceVersion ?? '',
      continue: res.metadata?.continue || undefined,
    };
  }

  async update<C extends ObjectCase>(info: ResourceInfo<C>, obj: KindMap[C], opts: { dryRun?: string[] } = {}): Promise<KindMap[C]> {
    const namespace = (obj as { metadata?: { namespace?: string } }).metadata?.namespace ?? '';
    const res = await this.call<ApiObject>((md, o, cb) => this.client.update({ resource: info.resource, namespace, object: wrap(info.objectCase, obj), dryRun: opts.dryRun }, md, o, cb));
    return this.value(info, res);
  }

  async updateStatus<C extends ObjectCase>(info: ResourceInfo<C>, obj: KindMap[C], opts: { dryRun?: string[] } = {}): Promise<KindMap[C]> {
    const namespace = (obj as { metadata?: { namespace?: string } }).metadata?.namespace ?? '';
    const res = await this.call<ApiObject>((md, o, cb) => this.client.updateStatus({ resource: info.resource, namespace, object: wrap(info.objectCase, obj), dryRun: opts.dryRun }, md, o, cb));
    return this.value(info, res);
  }

  /** Patches with a JSON merge patch (default) or a JSON patch; `patch` may be an object or JSON text. */
  async patch<C extends ObjectCase>(
    info: ResourceInfo<C>,
    namespace: string,
    name: string,
    patch: unknown,
    opts: { patchType?: 'application/merge-patch+json' | 'application/json-patch+json'; subresource?: '' | 'status'; dryRun?: string[] } = {},
  ): Promise<KindMap[C]> {
    const bytes = Buffer.from(typeof patch === 'string' ? patch : JSON.stringify(patch));
    const res = await this.call<ApiObject>((md, o, cb) =>
      this.client.patch(
        { resource: info.resource, namespace, name, patchType: opts.patchType ?? 'application/merge-patch+json', patch: bytes, subresource: opts.subresource ?? '', dryRun: opts.dryRun },
        md,
        o,
        cb,
      ),
    );
    return this.value(info, res);
  }

  /** Deletes; resolves the object when deletion is pending, or the Success status when it is gone. */
  async delete<C extends ObjectCase>(info: ResourceInfo<C>, namespace: string, name: string, options: DeleteOptions = {}): Promise<{ object?: KindMap[C]; status?: Status }> {
    const res = await this.call<import('./generated/kubemu/apiserver/v1/apiserver').DeleteResponse>((md, o, cb) =>
      this.client.delete({ resource: info.resource, namespace, name, options }, md, o, cb),
    );
    return { object: res.object ? this.value(info, res.object) : undefined, status: res.status };
  }

  /** The scale subresource of a deployment, replicaset or statefulset. */
  async getScale(info: ResourceInfo, namespace: string, name: string): Promise<Scale> {
    return this.call<Scale>((md, o, cb) => this.client.getScale({ resource: info.resource, namespace, name }, md, o, cb));
  }

  /** Sets spec.replicas through the scale subresource; a resourceVersion in `scale` is a precondition. */
  async updateScale(info: ResourceInfo, namespace: string, scale: Scale): Promise<Scale> {
    return this.call<Scale>((md, o, cb) => this.client.updateScale({ resource: info.resource, namespace, scale }, md, o, cb));
  }

  /** The pods/binding subresource. */
  async bind(namespace: string, podName: string, nodeName: string, podUid?: string): Promise<Status> {
    const binding: Binding = { metadata: { namespace, name: podName, uid: podUid }, target: { kind: 'Node', name: nodeName } };
    const res = await this.call<import('./generated/kubemu/apiserver/v1/apiserver').BindResponse>((md, o, cb) =>
      this.client.bind({ namespace, name: podName, binding }, md, o, cb),
    );
    return res.status ?? {};
  }

  // LeaseClient, for leader election: each call gives up within about LEASE_CALL's retry + deadline (3 s).
  async getLease(namespace: string, name: string): Promise<Lease | undefined> {
    const info = resourceForCase('lease');
    try {
      const res = await this.call<ApiObject>((md, o, cb) => this.client.get({ resource: info.resource, namespace, name }, md, o, cb), this.leaseBounds);
      return this.value(info, res);
    } catch (err) {
      if (isReason(err, 'NotFound')) return undefined;
      throw err;
    }
  }
  async createLease(lease: Lease): Promise<Lease> {
    const info = resourceForCase('lease');
    const namespace = lease.metadata?.namespace ?? '';
    const res = await this.call<ApiObject>((md, o, cb) => this.client.create({ resource: info.resource, namespace, object: wrap(info.objectCase, lease) }, md, o, cb), this.leaseBounds);
    return this.value(info, res);
  }
  async updateLease(lease: Lease): Promise<Lease> {
    const info = resourceForCase('lease');
    const namespace = lease.metadata?.namespace ?? '';
    const res = await this.call<ApiObject>((md, o, cb) => this.client.update({ resource: info.resource, namespace, object: wrap(info.objectCase, lease) }, md, o, cb), this.leaseBounds);
    return this.value(info, res);
  }

  private value<C extends ObjectCase>(info: ResourceInfo<C>, obj: ApiObject): KindMap[C] {
    const u = unwrap(obj);
    if (!u || u.objectCase !== info.objectCase) throw errors.internal(`apiserver answered with ${u?.objectCase ?? 'nothing'} for ${info.resource}`);
    return u.value as KindMap[C];
  }

  /** One unary call with a deadline, retried while no apiserver is reachable (the client's bounds unless `bounds` says otherwise). */
  private async call<T>(
    invoke: (md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: T) => void) => void,
    bounds: { retryForMs: number; timeoutMs: number } = { retryForMs: this.retryForMs, timeoutMs: this.timeoutMs },
  ): Promise<T> {
    const giveUpAt = Date.now() + bounds.retryForMs;
    let delay = 50;
    for (let retry = 1; ; retry++) {
      try {
        return await new Promise<T>((resolve, reject) =>
          invoke(new grpc.Metadata(), { deadline: Date.now() + bounds.timeoutMs }, (err, res) => (err ? reject(err) : resolve(res))),
        );
      } catch (err) {
        const se = err as grpc.ServiceError;
        const apiErr: ApiError = fromGrpcError(se);
        const transient = se.code === grpc.status.UNAVAILABLE && !se.metadata?.get('kubemu-status-bin')?.length;
        if (!transient || Date.now() + delay > giveUpAt) throw apiErr;
        this.onRetry?.(apiErr, retry);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }
}
