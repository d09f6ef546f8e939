import { IncomingMessage, ServerResponse } from 'http';
import { Duplex } from 'stream';
import { NatsConnection } from 'nats';
import { Logger } from '../../lib/log';
import { ResourceInfo } from '../../lib/resources';
import { Registry } from '../registry';

/**
 * How other modules add REST endpoints that the generic resource handlers do not serve
 * (pods/log, pods/exec, pods/attach, pods/portforward, the metrics.k8s.io group).
 *
 * An extension module (e.g. services/kube-apiserver/rest/pods.ts, rest/metrics.ts) exports
 *
 *   export function registerRestExtensions(ext: RestExtensions): void
 *
 * and the router (rest/router.ts) requires it lazily at start-up when the file exists, calling
 * registerRestExtensions once per apiserver replica. Registration happens synchronously in that
 * call; handlers may then be called concurrently, once per request.
 *
 * Handlers:
 *   SubresourceHandler = (req: IncomingMessage, res: ServerResponse, ctx: SubresourceContext) => Promise<void>
 *   UpgradeHandler     = (req: IncomingMessage, socket: Duplex, head: Buffer, ctx: SubresourceContext) => Promise<void>
 *   GroupHandler       = (req: IncomingMessage, res: ServerResponse, ctx: GroupContext) => Promise<void>
 *
 * A handler that throws (or rejects) with an ApiError gets that error written as a Kubernetes
 * Status with its HTTP code, if no response headers were sent yet (otherwise the response is ended).
 * Use `writeJson` / `writeError` from this module to answer. An UpgradeHandler owns the socket:
 * it must write the 101 Switching Protocols response itself (or an HTTP error through
 * `writeUpgradeError`) and destroy the socket when done.
 */

/** What every extension handler gets. */
export interface RestContext {
  registry: Registry;
  /** The watch bus connection of this replica (for handlers that follow changes). */
  nats?: NatsConnection;
  log: Logger;
  /** The request URL, parsed (path and query). */
  url: URL;
  query: URLSearchParams;
}

/** A request to /api/v1/namespaces/{namespace}/{resource}/{name}/{subresource} (or cluster-scoped). */
export interface SubresourceContext extends RestContext {
  info: ResourceInfo;
  /** '' for cluster-scoped resources. */
  namespace: string;
  name: string;
  subresource: string;
}

/** A request under /apis/{group}/{version}/... of a registered group (not the discovery root). */
export interface GroupContext extends RestContext {
  group: string;
  version: string;
  /** The path after /apis/{group}/{version}/, split on '/': e.g. ['namespaces', 'default', 'pods', 'web-1']. */
  segments: string[];
}

export type SubresourceHandler = (req: IncomingMessage, res: ServerResponse, ctx: SubresourceContext) => Promise<void>;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, ctx: SubresourceContext) => Promise<void>;
export type GroupHandler = (req: IncomingMessage, res: ServerResponse, ctx: GroupContext) => Promise<void>;

/** One entry of an APIResourceList (discovery), in Kubernetes' JSON form. */
export interface DiscoveryResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  /** For subresources whose kind lives in another group (e.g. autoscaling Scale). */
  group?: string;
  version?: string;
}

export interface RestExtensions {
  /**
   * Serves {resource}/{name}/{subresource} for plain HTTP requests (every method; the handler
   * answers 405 itself for methods it does not take). `verbs` and `kind` go into discovery
   * (default verbs ['get'], kind the resource's own kind).
   */
  registerSubresource(resource: string, subresource: string, handler: SubresourceHandler, discovery?: { verbs?: string[]; kind?: string }): void;
  /** Serves connection upgrades (WebSocket / SPDY) on {resource}/{name}/{subresource}. */
  registerUpgrade(resource: string, subresource: string, handler: UpgradeHandler, discovery?: { verbs?: string[]; kind?: string }): void;
  /**
   * Serves a whole API group version, e.g. 'metrics.k8s.io/v1beta1'. The router serves discovery
   * for it (/apis, /apis/{group}, /apis/{group}/{version} listing `resources`) and hands every
   * other request under /apis/{group}/{version}/ to `handler`.
   */
  registerGroup(groupVersion: string, resources: DiscoveryResource[], handler: GroupHandler): void;
}

/** The shape of an extension module. */
export interface RestExtensionModule {
  registerRestExtensions(ext: RestExtensions): void;
}

export { writeJson, writeError, writeUpgradeError } from './respond';
