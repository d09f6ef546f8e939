/**
 * How the apiserver reaches a node's kubelet (KubeletService, the role of the kubelet's port
 * 10250): the Node's status.daemonEndpoints.kubeletEndpoint.Port on the host's loopback, where every
 * kubelet of this one-host cluster listens. One gRPC client per kubelet address, reused.
 */
import * as grpc from '@grpc/grpc-js';
import { Node } from '../../lib/generated/kubemu/core/v1/core';
import { KubeletServiceClient } from '../../lib/generated/kubemu/kubelet/v1/kubelet';
import { ApiError, errors } from '../../lib/errors';
import { resourceForCase } from '../../lib/resources';
import { Registry } from '../registry';

const NODES = resourceForCase('node');

/** A kubelet to talk to: its node, its address and a client for it. */
export interface KubeletTarget {
  nodeName: string;
  address: string;
  client: KubeletServiceClient;
}

/**
 * A pool of KubeletService clients keyed by address. Safe for concurrent use; `close()` closes
 * every client (later calls create new ones).
 */
export class KubeletConnections {
  private readonly clients = new Map<string, KubeletServiceClient>();

  constructor(private readonly host = '127.0.0.1') {}

  /** The kubelet address a Node reports, or undefined when it reports no port (simulated or not yet registered). */
  addressOf(node: Node): string | undefined {
    const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 0;
    return port > 0 ? `${this.host}:${port}` : undefined;
  }

  /**
   * The kubelet of `nodeName`, read through the Registry. Throws NotFound when the Node does not
   * exist and BadRequest when it reports no kubelet port.
   */
  async forNode(registry: Registry, nodeName: string): Promise<KubeletTarget> {
    const node = (await registry.get(NODES, '', nodeName)) as Node;
    return this.forNodeObject(node);
  }

  /** As forNode, for a Node already read. */
  forNodeObject(node: Node): KubeletTarget {
    const nodeName = node.metadata?.name ?? '';
    const address = this.addressOf(node);
    if (!address) throw errors.badRequest(`node ${nodeName} does not report a kubelet endpoint (status.daemonEndpoints.kubeletEndpoint.Port)`);
    return { nodeName, address, client: this.client(address) };
  }

  client(address: string): KubeletServiceClient {
    let c = this.clients.get(address);
    if (!c) {
      c = new KubeletServiceClient(address, grpc.credentials.createInsecure(), {
        // A kubelet that restarted on the same port is reconnected to quickly.
        'grpc.initial_reconnect_backoff_ms': 200,
        'grpc.max_reconnect_backoff_ms': 2000,
      });
      this.clients.set(address, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

/**
 * Maps a KubeletService failure to the error the REST client sees, as Kubernetes' apiserver does
 * with a kubelet's HTTP answer: the kubelet's refusals (no such container instance, not started,
 * not running, bad argument) are 400 BadRequest carrying the kubelet's message verbatim
 * (`previous terminated container "c" in pod "p" not found`); an unreachable kubelet is a 500
 * naming the node and address, a deadline a 504. Pure.
 */
export function kubeletError(err: unknown, target: Pick<KubeletTarget, 'nodeName' | 'address'>): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as Partial<grpc.ServiceError>;
  const details = e.details ?? (err instanceof Error ? err.message : String(err));
  switch (e.code) {
    case grpc.status.NOT_FOUND:
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.FAILED_PRECONDITION:
      return errors.badRequest(details);
    case grpc.status.DEADLINE_EXCEEDED:
      return errors.timeout(`the kubelet of node ${target.nodeName} (${target.address}) did not answer in time: ${details}`, err);
    case grpc.status.UNAVAILABLE:
      return errors.internal(`error dialing the kubelet of node ${target.nodeName} (${target.address}): ${details}`, err);
    default:
      return errors.internal(`the kubelet of node ${target.nodeName} (${target.address}): ${details}`, err);
  }
}
