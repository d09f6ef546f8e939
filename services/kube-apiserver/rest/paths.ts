/**
 * Parsing of Kubernetes REST paths into what a request is about, as the real apiserver's
 * RequestInfoFactory does:
 *   /api/v1/namespaces/{ns}/{resource}/{name}/{subresource}
 *   /apis/{group}/{version}/{resource}/{name}  (cluster-scoped)
 * plus the discovery and health paths. Pure: no I/O, never throws.
 */

export type RestPath =
  | { kind: 'root' }
  | { kind: 'version' }
  | { kind: 'health'; check: 'healthz' | 'livez' | 'readyz'; sub: string }
  | { kind: 'apiVersions' }
  | { kind: 'apiGroupList' }
  | { kind: 'apiGroup'; group: string }
  | { kind: 'resourceList'; group: string; version: string }
  | { kind: 'openapi'; which: 'v2' | 'v3index' | 'v3doc'; groupVersion?: string }
  | { kind: 'resource'; req: ResourceRequest }
  | { kind: 'unknown' };

export interface ResourceRequest {
  group: string;
  version: string;
  /** '' when the path names no namespace (cluster-scoped resources, or lists across all namespaces). */
  namespace: string;
  resource: string;
  name: string;
  subresource: string;
  /** The path segments after /api/v1 or /apis/{group}/{version}, for handlers of whole groups. */
  segments: string[];
}

/** Splits a URL path into decoded segments; empty segments (double or trailing slashes) are dropped. */
export function splitPath(path: string): string[] {
  return path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
}

/** Classifies a request path. */
export function parsePath(path: string): RestPath {
  const p = splitPath(path);
  if (p.length === 0) return { kind: 'root' };
  switch (p[0]) {
    case 'version':
      return p.length === 1 ? { kind: 'version' } : { kind: 'unknown' };
    case 'healthz':
    case 'livez':
    case 'readyz':
      return { kind: 'health', check: p[0], sub: p.slice(1).join('/') };
    case 'openapi':
      if (p[1] === 'v2' && p.length === 2) return { kind: 'openapi', which: 'v2' };
      if (p[1] === 'v3' && p.length === 2) return { kind: 'openapi', which: 'v3index' };
      if (p[1] === 'v3') return { kind: 'openapi', which: 'v3doc', groupVersion: p.slice(2).join('/') };
      return { kind: 'unknown' };
    case 'api':
      if (p.length === 1) return { kind: 'apiVersions' };
      if (p.length === 2) return { kind: 'resourceList', group: '', version: p[1] };
      return resourcePath('', p[1], p.slice(2));
    case 'apis':
      if (p.length === 1) return { kind: 'apiGroupList' };
      if (p.length === 2) return { kind: 'apiGroup', group: p[1] };
      if (p.length === 3) return { kind: 'resourceList', group: p[1], version: p[2] };
      return resourcePath(p[1], p[2], p.slice(3));
    default:
      return { kind: 'unknown' };
  }
}

/**
 * The part after the group version: `namespaces/{ns}/{resource}[/{name}[/{sub}]]`, or
 * `{resource}[/{name}[/{sub}]]`. `namespaces/{name}[/{sub}]` is the Namespace object itself
 * (its status, finalize), as in Kubernetes.
 */
function resourcePath(group: string, version: string, rest: string[]): RestPath {
  const base = { group, version, segments: rest };
  // namespaces/{name}/status and /finalize are subresources of the Namespace, not a resource in it.
  const namespaceSubresource = rest[0] === 'namespaces' && rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize');
  if (rest[0] === 'namespaces' && rest.length >= 3 && !namespaceSubresource) {
    return {
      kind: 'resource',
      req: { ...base, namespace: rest[1], resource: rest[2], name: rest[3] ?? '', subresource: rest.slice(4).join('/') },
    };
  }
  return {
    kind: 'resource',
    req: { ...base, namespace: '', resource: rest[0], name: rest[1] ?? '', subresource: rest.slice(2).join('/') },
  };
}

/** The Kubernetes verb of an HTTP request on a resource path (get/list/watch/create/update/patch/delete/deletecollection). */
export function verbFor(method: string, req: ResourceRequest, query: URLSearchParams): string {
  const watch = query.get('watch');
  const isWatch = watch === 'true' || watch === '1';
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (isWatch) return 'watch';
      return req.name ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return req.name ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}
