import { IncomingMessage, ServerResponse } from 'http';
import { Duplex } from 'stream';
import { NatsConnection } from 'nats';
import { ApiError, errors } from '../../lib/errors';
import { Logger } from '../../lib/log';
import { RESOURCES, ResourceInfo } from '../../lib/resources';
import { Registry } from '../registry';
import { apiGroupDocument, apiGroupList, apiResourceList, apiVersions, ExtraGroup, ExtraSubresource, versionInfo } from './discovery';
import {
  DiscoveryResource,
  GroupHandler,
  RestContext,
  RestExtensionModule,
  RestExtensions,
  SubresourceContext,
  SubresourceHandler,
  UpgradeHandler,
} from './extensions';
import { openapi } from './openapihook';
import { parsePath, ResourceRequest } from './paths';
import { methodNotAllowed, serveResource } from './resources';
import { asApiError, httpCodeOf, writeError, writeJson, writeUpgradeError } from './respond';

export interface RestRouterOptions {
  registry: Registry;
  /** The watch bus; without it watches answer 503. */
  nats?: NatsConnection;
  log: Logger;
  /** host:port clients reach this server at (for /api's serverAddressByClientCIDRs). */
  serverAddress: () => string;
  /** Named readiness checks for /readyz and /healthz (e.g. etcd); /livez only checks the process. */
  readiness?: () => { name: string; ok: boolean }[];
  /** Extension modules to load (default: ./pods, ./metrics and ./auth, when present). */
  extensionModules?: string[];
  watchTimeoutSeconds?: number;
  bookmarkIntervalMs?: number;
}

/** Kubernetes' answer for a path no handler serves. */
function notFoundPath(): ApiError {
  return new ApiError('NotFound', 404, 'the server could not find the requested resource');
}

/**
 * The REST front end's dispatcher: discovery, health, version, OpenAPI, every resource verb (one
 * Registry call each), subresources, and the endpoints other modules register (RestExtensions).
 * `handle` never rejects: every failure is written as a Kubernetes Status with its HTTP code.
 * Safe for concurrent requests.
 */
export class RestRouter implements RestExtensions {
  private readonly subresources = new Map<string, { handler: SubresourceHandler; discovery: ExtraSubresource }>();
  private readonly upgrades = new Map<string, { handler: UpgradeHandler; discovery: ExtraSubresource }>();
  private readonly groups = new Map<string, ExtraGroup & { handler: GroupHandler }>();

  constructor(private readonly opts: RestRouterOptions) {
    for (const mod of opts.extensionModules ?? ['./pods', './metrics', './auth']) this.loadExtension(mod);
  }

  private loadExtension(path: string): void {
    let mod: Partial<RestExtensionModule>;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mod = require(path) as Partial<RestExtensionModule>;
    } catch (err) {
      const code = (err as { code?: string }).code;
      // Not written yet: nothing to register. Any other failure is a bug worth seeing.
      if (code !== 'MODULE_NOT_FOUND' || !String((err as Error).message).includes(path.replace('./', ''))) {
        this.opts.log.error('rest: extension failed to load', { module: path, err: (err as Error).message });
      }
      return;
    }
    try {
      mod.registerRestExtensions?.(this);
    } catch (err) {
      this.opts.log.error('rest: extension failed to register', { module: path, err: (err as Error).message });
    }
  }

  registerSubresource(resource: string, subresource: string, handler: SubresourceHandler, discovery?: { verbs?: string[]; kind?: string }): void {
    this.subresources.set(`${resource}/${subresource}`, { handler, discovery: this.discoveryEntry(resource, subresource, discovery) });
  }

  registerUpgrade(resource: string, subresource: string, handler: UpgradeHandler, discovery?: { verbs?: string[]; kind?: string }): void {
    this.upgrades.set(`${resource}/${subresource}`, { handler, discovery: this.discoveryEntry(resource, subresource, discovery) });
  }

  registerGroup(groupVersion: string, resources: DiscoveryResource[], handler: GroupHandler): void {
    const slash = groupVersion.indexOf('/');
    if (slash <= 0) throw new Error(`rest: registerGroup needs group/version, got ${JSON.stringify(groupVersion)}`);
    this.groups.set(groupVersion, { group: groupVersion.slice(0, slash), version: groupVersion.slice(slash + 1), resources, handler });
  }

  private discoveryEntry(resource: string, subresource: string, d?: { verbs?: string[]; kind?: string }): ExtraSubresource {
    const info = RESOURCES.find((r) => r.resource === resource);
    return { resource, subresource, verbs: d?.verbs ?? ['get'], kind: d?.kind ?? info?.kind ?? '' };
  }

  /** Subresources for discovery: registered plain handlers and upgrades, one entry each. */
  private extraSubresources(): ExtraSubresource[] {
    const byKey = new Map<string, ExtraSubresource>();
    for (const [k, v] of this.upgrades) byKey.set(k, v.discovery);
    for (const [k, v] of this.subresources) if (!byKey.has(k)) byKey.set(k, v.discovery);
    return [...byKey.values()];
  }

  private extraGroups(): ExtraGroup[] {
    return [...this.groups.values()];
  }

  /** Serves one HTTP request. Never rejects. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    try {
      await this.dispatch(req, res);
      this.opts.log.debug('rest request', { method: req.method, url: req.url, code: res.statusCode, ms: Date.now() - started });
    } catch (err) {
      const apiErr = asApiError(err);
      if (httpCodeOf(apiErr) >= 500) {
        this.opts.log.error('rest: request failed', { method: req.method, url: req.url, err: err instanceof Error ? err.stack : String(err), ms: Date.now() - started });
      }
      if (res.headersSent) {
        if (!res.writableEnded) res.end();
      } else {
        writeError(res, apiErr);
      }
    }
  }

  private context(url: URL): RestContext {
    return { registry: this.opts.registry, nats: this.opts.nats, log: this.opts.log, url, query: url.searchParams };
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://apiserver');
    const method = req.method ?? 'GET';
    const path = parsePath(url.pathname);
    const readOnly = () => {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed();
    };
    switch (path.kind) {
      case 'root':
        readOnly();
        writeJson(res, 200, { paths: this.rootPaths() });
        return;
      case 'version':
        readOnly();
        writeJson(res, 200, versionInfo());
        return;
      case 'health':
        readOnly();
        this.health(res, path.check, path.sub, url.searchParams);
        return;
      case 'apiVersions':
        readOnly();
        writeJson(res, 200, apiVersions(this.opts.serverAddress()));
        return;
      case 'apiGroupList':
        readOnly();
        writeJson(res, 200, apiGroupList(this.extraGroups()));
        return;
      case 'apiGroup': {
        readOnly();
        const doc = apiGroupDocument(path.group, this.extraGroups());
        if (!doc) throw notFoundPath();
        writeJson(res, 200, doc);
        return;
      }
      case 'resourceList': {
        readOnly();
        const doc = apiResourceList(path.group, path.version, this.extraSubresources(), this.extraGroups());
        if (!doc) throw notFoundPath();
        writeJson(res, 200, doc);
        return;
      }
      case 'openapi':
        readOnly();
        return this.openapi(res, path.which, path.groupVersion);
      case 'resource':
        return this.resource(req, res, path.req, url);
      default:
        throw notFoundPath();
    }
  }

  private async resource(req: IncomingMessage, res: ServerResponse, r: ResourceRequest, url: URL): Promise<void> {
    const group = this.groups.get(`${r.group}/${r.version}`);
    if (group) {
      await group.handler(req, res, { ...this.context(url), group: r.group, version: r.version, segments: r.segments });
      return;
    }
    const info = resolve(r);
    if (!info) throw notFoundPath();
    if (r.subresource) {
      const key = `${info.resource}/${r.subresource}`;
      const ext = this.subresources.get(key);
      if (ext) {
        await ext.handler(req, res, this.subresourceContext(url, info, r));
        return;
      }
      if (this.upgrades.has(key)) throw errors.badRequest('Upgrade request required');
    }
    await serveResource(req, res, { ...r, info }, url.searchParams, {
      registry: this.opts.registry,
      nats: this.opts.nats,
      log: this.opts.log,
      watchTimeoutSeconds: this.opts.watchTimeoutSeconds,
      bookmarkIntervalMs: this.opts.bookmarkIntervalMs,
    });
  }

  private subresourceContext(url: URL, info: ResourceInfo, r: ResourceRequest): SubresourceContext {
    return { ...this.context(url), info, namespace: r.namespace, name: r.name, subresource: r.subresource };
  }

  /**
   * Serves an HTTP upgrade (WebSocket/SPDY for exec, attach, port-forward) through the registered
   * handler; anything else is refused with a Status. Never throws.
   */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://apiserver');
      const path = parsePath(url.pathname);
      if (path.kind !== 'resource') throw notFoundPath();
      const info = resolve(path.req);
      if (!info || !path.req.subresource) throw notFoundPath();
      const ext = this.upgrades.get(`${info.resource}/${path.req.subresource}`);
      if (!ext) throw notFoundPath();
      await ext.handler(req, socket, head, this.subresourceContext(url, info, path.req));
    } catch (err) {
      const apiErr = asApiError(err);
      if (httpCodeOf(apiErr) >= 500) this.opts.log.error('rest: upgrade failed', { url: req.url, err: err instanceof Error ? err.stack : String(err) });
      writeUpgradeError(socket, apiErr);
    }
  }

  private rootPaths(): string[] {
    const paths = ['/api', '/api/v1', '/apis', '/healthz', '/livez', '/readyz', '/version', '/openapi/v2', '/openapi/v3'];
    for (const r of RESOURCES) if (r.group) paths.push(`/apis/${r.group}`, `/apis/${r.group}/${r.version}`);
    for (const g of this.groups.values()) paths.push(`/apis/${g.group}`, `/apis/${g.group}/${g.version}`);
    return [...new Set(paths)].sort();
  }

  /** /healthz, /livez, /readyz (and /readyz/<check>), with ?verbose listing each check as Kubernetes does. */
  private health(res: ServerResponse, check: 'healthz' | 'livez' | 'readyz', sub: string, query: URLSearchParams): void {
    const checks = [{ name: 'ping', ok: true }, ...(check === 'livez' ? [] : (this.opts.readiness?.() ?? []))];
    const selected = sub ? checks.filter((c) => c.name === sub) : checks;
    if (sub && !selected.length) throw notFoundPath();
    const ok = selected.every((c) => c.ok);
    const verbose = query.has('verbose') || !ok;
    let text: string;
    if (sub) text = ok ? 'ok' : `internal server error: ${sub} check failed`;
    else if (!verbose) text = 'ok';
    else {
      text = selected.map((c) => (c.ok ? `[+]${c.name} ok` : `[-]${c.name} failed: reason withheld`)).join('\n');
      text += `\n${check} check ${ok ? 'passed' : 'failed'}\n`;
    }
    res.writeHead(ok ? 200 : 500, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private openapi(res: ServerResponse, which: 'v2' | 'v3index' | 'v3doc', groupVersion?: string): void {
    const mod = openapi();
    let doc: object | undefined;
    if (which === 'v2') doc = mod?.openapiV2?.();
    else if (which === 'v3index') doc = mod?.openapiV3Index?.();
    else doc = groupVersion ? mod?.openapiV3Document?.(groupVersion) : undefined;
    if (!doc) throw notFoundPath();
    writeJson(res, 200, doc);
  }
}

/**
 * The served resource a request names, or undefined (404): the resource must exist in that group
 * version, a namespace only for namespaced resources, and a named object of a namespaced
 * resource needs its namespace (/api/v1/pods/x is not a path).
 */
export function resolve(r: ResourceRequest): ResourceInfo | undefined {
  const info = RESOURCES.find((x) => x.resource === r.resource && x.group === r.group && x.version === r.version);
  if (!info) return undefined;
  if (!info.namespaced && r.namespace) return undefined;
  if (info.namespaced && r.name && !r.namespace) return undefined;
  return info;
}
