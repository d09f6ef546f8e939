/**
 * The routing table of the ingress controller: a pure function of the Ingresses it serves and the
 * Services and Endpoints they name. Built in one pass after every relevant change (ingress-nginx
 * rebuilds its whole configuration the same way) and then only read on the request path, so the
 * lookups below are map hits and short scans.
 *
 * Semantics (networking.k8s.io/v1, as ingress-nginx implements them):
 * - Hosts: an exact rule host, then a wildcard `*.foo.com` (exactly one extra label), then the
 *   rules without a host. Matching is case-insensitive and ignores a port in the Host header.
 *   A request whose host picked a rule set uses only that set's paths (nginx chooses a server
 *   block first, then a location in it); when none matches, the default backend answers.
 * - Paths: Exact compares the whole path; Prefix (and ImplementationSpecific) compares
 *   '/'-separated elements, a trailing slash ignored. Exact beats Prefix, the longest prefix wins.
 * - Several Ingresses merge; for the same host, path and type the oldest Ingress wins.
 * - Unmatched: the spec.defaultBackend of the oldest Ingress defining the host, else of the
 *   oldest served Ingress that has one.
 */
import { Endpoints, Service } from '../lib/generated/kubemu/core/v1/core';
import { Ingress, IngressBackend, IngressClass } from '../lib/generated/kubemu/networking/v1/networking';

export const CONTROLLER_NAME = 'kubemu.io/ingress-controller';
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';
export const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
export const SSL_REDIRECT_ANNOTATION = 'nginx.ingress.kubernetes.io/ssl-redirect';

/** One upstream address. */
export interface Upstream {
  ip: string;
  port: number;
}

/**
 * A Service port an Ingress routes to, with its ready endpoints resolved. `upstreams` is empty when
 * the Service or its port does not exist or it has no ready endpoint (the proxy answers 503).
 */
export interface Backend {
  /** namespace/service:port, the key the proxy keeps its round-robin position under. */
  key: string;
  namespace: string;
  service: string;
  upstreams: Upstream[];
}

/** One path of one rule, after merging. */
export interface PathRoute {
  /** The path as written (Exact), or with the trailing slash removed (Prefix; '/' becomes ''). */
  path: string;
  exact: boolean;
  backend: Backend;
  /** namespace/name of the Ingress it came from. */
  ingress: string;
  /** Plain HTTP requests are redirected to https (the host has TLS and ssl-redirect is not "false"). */
  sslRedirect: boolean;
}

/** The routes of one host (or of every host, for rules without one). */
export interface HostRoutes {
  exact: Map<string, PathRoute>;
  /** Longest path first. */
  prefixes: PathRoute[];
  /**
   * For unmatched paths of this host: the spec.defaultBackend of the oldest Ingress defining the
   * host (ingress-nginx gives each server a root location to its Ingress's default backend).
   */
  defaultBackend?: Backend;
}

/** A TLS host and the Secret (namespace/name) holding its certificate. */
export interface TlsHost {
  host: string;
  secret: string;
  ingress: string;
}

export interface RoutingTable {
  hosts: Map<string, HostRoutes>;
  /** By the suffix after '*.' (lower case). */
  wildcards: Map<string, HostRoutes>;
  anyHost?: HostRoutes;
  defaultBackend?: Backend;
  /** TLS hosts (lower case, wildcards as written) → secret; the oldest Ingress wins a host. */
  tls: Map<string, TlsHost>;
  /** namespace/name of every Ingress served, oldest first. */
  ingresses: string[];
}

export type RouteMatch = { kind: 'route'; route: PathRoute } | { kind: 'default'; backend: Backend } | { kind: 'none' };

/** Lookups of the objects a table is built from (informer caches, or maps in tests). */
export interface RouteSources {
  ingresses: Ingress[];
  ingressClasses: IngressClass[];
  service(namespace: string, name: string): Service | undefined;
  endpoints(namespace: string, name: string): Endpoints | undefined;
}

/**
 * Whether this controller serves `ing`: spec.ingressClassName names one of its classes (the
 * configured one, or any IngressClass whose controller is ours); else the legacy annotation
 * kubernetes.io/ingress.class names one; else, with no class at all, when one of its classes is
 * marked default. Pure.
 */
export function servesIngress(ing: Ingress, className: string, classes: IngressClass[]): boolean {
  const ours = new Set([className, ...classes.filter((c) => c.spec?.controller === CONTROLLER_NAME).map((c) => c.metadata?.name ?? '')]);
  const named = ing.spec?.ingressClassName;
  if (named) return ours.has(named);
  const legacy = ing.metadata?.annotations?.[LEGACY_CLASS_ANNOTATION];
  if (legacy) return ours.has(legacy);
  return classes.some((c) => ours.has(c.metadata?.name ?? '') && c.metadata?.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true');
}

/** The IngressClass this controller creates when absent. */
export function ownIngressClass(className: string): IngressClass {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: { name: className, annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' }, labels: { 'app.kubernetes.io/component': 'controller' } },
    spec: { controller: CONTROLLER_NAME },
  };
}

/** Oldest first; ties (same second) by namespace/name, so the order is total and stable. */
export function byAge(a: Ingress, b: Ingress): number {
  const ta = Date.parse(a.metadata?.creationTimestamp ?? '') || 0;
  const tb = Date.parse(b.metadata?.creationTimestamp ?? '') || 0;
  if (ta !== tb) return ta - tb;
  return keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0;
}

function keyOf(ing: Ingress): string {
  return `${ing.metadata?.namespace ?? 'default'}/${ing.metadata?.name ?? ''}`;
}

/**
 * The ready endpoints of `svcName`'s port `port` (a number is the Service port, a string its
 * name). The Endpoints port is the one carrying the Service port's name (the endpoints controller
 * names them so); a single unnamed port matches a single-port Service.
 */
export function resolveUpstreams(service: Service | undefined, endpoints: Endpoints | undefined, port: { name?: string; number?: number }): Upstream[] {
  if (!service) return [];
  const ports = service.spec?.ports ?? [];
  const svcPort = port.number ? ports.find((p) => p.port === port.number) : ports.find((p) => (p.name ?? '') === (port.name ?? ''));
  if (!svcPort) return [];
  const out: Upstream[] = [];
  for (const subset of endpoints?.subsets ?? []) {
    const epPorts = subset.ports ?? [];
    let epPort = epPorts.find((p) => (p.name ?? '') === (svcPort.name ?? ''));
    if (!epPort && epPorts.length === 1 && ports.length === 1) epPort = epPorts[0];
    if (!epPort?.port || (epPort.protocol && epPort.protocol !== 'TCP')) continue;
    for (const a of subset.addresses ?? []) if (a.ip) out.push({ ip: a.ip, port: epPort.port });
  }
  return out;
}

function normalizeHost(host: string): string {
  return host.trim().toLowerCase().replace(/\.$/, '');
}

/**
 * Builds the routing table from the Ingresses this controller serves. Pure; never throws on
 * malformed objects (a rule without a service backend, a path without '/', an unknown pathType
 * are skipped).
 */
export function buildRoutingTable(src: RouteSources, className: string): RoutingTable {
  const served = src.ingresses.filter((i) => servesIngress(i, className, src.ingressClasses)).sort(byAge);
  const backends = new Map<string, Backend>();
  const backendFor = (namespace: string, b: IngressBackend | undefined): Backend | undefined => {
    const svc = b?.service;
    if (!svc?.name || (!svc.port?.number && !svc.port?.name)) return undefined;
    const portKey = svc.port.number ? String(svc.port.number) : svc.port.name!;
    const key = `${namespace}/${svc.name}:${portKey}`;
    let backend = backends.get(key);
    if (!backend) {
      backend = {
        key,
        namespace,
        service: svc.name,
        upstreams: resolveUpstreams(src.service(namespace, svc.name), src.endpoints(namespace, svc.name), svc.port),
      };
      backends.set(key, backend);
    }
    return backend;
  };

  const table: RoutingTable = { hosts: new Map(), wildcards: new Map(), tls: new Map(), ingresses: served.map(keyOf) };
  // TLS first: ssl-redirect depends on whether a rule's host has a certificate.
  for (const ing of served) {
    const ns = ing.metadata?.namespace ?? 'default';
    for (const t of ing.spec?.tls ?? []) {
      if (!t.secretName) continue;
      // No hosts: the certificate is for the hosts of this Ingress's rules.
      const hosts = t.hosts?.length ? t.hosts : (ing.spec?.rules ?? []).map((r) => r.host ?? '').filter(Boolean);
      for (const h of hosts.map(normalizeHost)) {
        if (h && !table.tls.has(h)) table.tls.set(h, { host: h, secret: `${ns}/${t.secretName}`, ingress: keyOf(ing) });
      }
    }
  }

  for (const ing of served) {
    const ns = ing.metadata?.namespace ?? 'default';
    const redirectAllowed = ing.metadata?.annotations?.[SSL_REDIRECT_ANNOTATION] !== 'false';
    if (!table.defaultBackend && ing.spec?.defaultBackend) table.defaultBackend = backendFor(ns, ing.spec.defaultBackend);
    for (const rule of ing.spec?.rules ?? []) {
      const host = normalizeHost(rule.host ?? '');
      let routes: HostRoutes | undefined;
      const fresh = (): HostRoutes => ({ exact: new Map(), prefixes: [] });
      if (!host) routes = table.anyHost ??= fresh();
      else if (host.startsWith('*.')) {
        const suffix = host.slice(2);
        routes = table.wildcards.get(suffix);
        if (!routes) table.wildcards.set(suffix, (routes = fresh()));
      } else {
        routes = table.hosts.get(host);
        if (!routes) table.hosts.set(host, (routes = fresh()));
      }
      if (!routes.defaultBackend && ing.spec?.defaultBackend) routes.defaultBackend = backendFor(ns, ing.spec.defaultBackend);
      const hasTls = !!host && tlsFor(table.tls, host) !== undefined;
      for (const p of rule.http?.paths ?? []) {
        const backend = backendFor(ns, p.backend);
        const raw = p.path || '/';
        if (!backend || !raw.startsWith('/')) continue;
        const type = p.pathType || 'ImplementationSpecific';
        if (type !== 'Exact' && type !== 'Prefix' && type !== 'ImplementationSpecific') continue;
        const route: PathRoute = { path: raw, exact: type === 'Exact', backend, ingress: keyOf(ing), sslRedirect: hasTls && redirectAllowed };
        if (route.exact) {
          // Older Ingresses come first: the first writer of a path keeps it.
          if (!routes.exact.has(raw)) routes.exact.set(raw, route);
        } else {
          route.path = raw.replace(/\/+$/, '');
          if (!routes.prefixes.some((r) => r.path === route.path)) routes.prefixes.push(route);
        }
      }
    }
  }
  const sortPrefixes = (r: HostRoutes) => r.prefixes.sort((a, b) => b.path.length - a.path.length);
  for (const r of table.hosts.values()) sortPrefixes(r);
  for (const r of table.wildcards.values()) sortPrefixes(r);
  if (table.anyHost) sortPrefixes(table.anyHost);
  return table;
}

/** The host part of a Host header, lower case, without port or trailing dot (IPv6 brackets kept). */
export function hostOf(header: string | undefined): string {
  if (!header) return '';
  let h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(0, end + 1) : h;
  }
  const colon = h.indexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** The wildcard suffix `host` falls under ('bar.foo.com' → 'foo.com'), or undefined for a single label. */
function parentDomain(host: string): string | undefined {
  const dot = host.indexOf('.');
  return dot > 0 ? host.slice(dot + 1) : undefined;
}

/** The TLS entry for `host` (lower case): an exact host first, then a one-label wildcard. */
export function tlsFor(tls: Map<string, TlsHost>, host: string): TlsHost | undefined {
  const exact = tls.get(host);
  if (exact) return exact;
  const parent = parentDomain(host);
  return parent ? tls.get(`*.${parent}`) : undefined;
}

/** Whether the request path `path` (no query) falls under the Prefix `prefix` (trailing slash removed). */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47 /* '/' */;
}

function matchPaths(routes: HostRoutes, path: string): PathRoute | undefined {
  const exact = routes.exact.get(path);
  if (exact) return exact;
  for (const r of routes.prefixes) if (prefixMatches(r.path, path)) return r;
  return undefined;
}

/**
 * The route for a request to `host` (the Host header's host, see hostOf) and `path` (without the
 * query string). Pure and cheap: one or two map lookups and a scan of the host's prefixes.
 */
export function matchRoute(table: RoutingTable, host: string, path: string): RouteMatch {
  let routes = table.hosts.get(host);
  if (!routes) {
    const parent = parentDomain(host);
    if (parent) routes = table.wildcards.get(parent);
  }
  routes ??= table.anyHost;
  const route = routes ? matchPaths(routes, path) : undefined;
  if (route) return { kind: 'route', route };
  if (routes?.defaultBackend) return { kind: 'default', backend: routes.defaultBackend };
  if (table.defaultBackend) return { kind: 'default', backend: table.defaultBackend };
  return { kind: 'none' };
}

/** Every Service (namespace/name) the table routes to, for deciding whether a change matters. */
export function referencedServices(ingresses: Ingress[]): Set<string> {
  const out = new Set<string>();
  for (const ing of ingresses) {
    const ns = ing.metadata?.namespace ?? 'default';
    if (ing.spec?.defaultBackend?.service?.name) out.add(`${ns}/${ing.spec.defaultBackend.service.name}`);
    for (const r of ing.spec?.rules ?? []) for (const p of r.http?.paths ?? []) if (p.backend?.service?.name) out.add(`${ns}/${p.backend.service.name}`);
  }
  return out;
}
