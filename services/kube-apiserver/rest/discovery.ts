import { RESOURCES, ResourceInfo } from '../../lib/resources';
import { DiscoveryResource } from './extensions';

/** The verbs of every kubemu resource (each goes through the Registry). */
export const RESOURCE_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** Resources in the `all` category, as in Kubernetes (`kubectl get all`). */
const ALL_CATEGORY = new Set(['pods', 'services', 'deployments', 'replicasets', 'statefulsets', 'daemonsets', 'jobs', 'cronjobs']);
/** Resources with a scale subresource (Registry.getScale/updateScale). */
export const SCALABLE = new Set(['deployments', 'replicasets', 'statefulsets']);

/** A subresource listed in discovery beyond status and scale (registered by the router and extensions). */
export interface ExtraSubresource {
  resource: string;
  subresource: string;
  verbs: string[];
  kind: string;
  group?: string;
  version?: string;
}

/** An API group version served by an extension (metrics.k8s.io/v1beta1). */
export interface ExtraGroup {
  group: string;
  version: string;
  resources: DiscoveryResource[];
}

/** The subresources the generic REST handlers serve themselves. */
export const BUILTIN_SUBRESOURCES: ExtraSubresource[] = [
  { resource: 'pods', subresource: 'binding', verbs: ['create'], kind: 'Binding' },
  { resource: 'pods', subresource: 'eviction', verbs: ['create'], kind: 'Eviction', group: 'policy', version: 'v1' },
];

/** Group versions served, in Kubernetes' order of preference: core first, then by group name. */
export function servedGroupVersions(extra: ExtraGroup[]): { group: string; version: string }[] {
  const seen = new Map<string, { group: string; version: string }>();
  for (const r of RESOURCES) seen.set(`${r.group}/${r.version}`, { group: r.group, version: r.version });
  for (const g of extra) seen.set(`${g.group}/${g.version}`, { group: g.group, version: g.version });
  return [...seen.values()];
}

/** `/api`: the core group's versions. */
export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function apiGroup(group: string, versions: string[]): Record<string, unknown> {
  const gvs = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { name: group, versions: gvs, preferredVersion: gvs[0] };
}

/** `/apis`: every named group with its versions and preferred version. */
export function apiGroupList(extra: ExtraGroup[]): Record<string, unknown> {
  const byGroup = new Map<string, string[]>();
  for (const gv of servedGroupVersions(extra)) {
    if (!gv.group) continue;
    const vs = byGroup.get(gv.group) ?? [];
    if (!vs.includes(gv.version)) vs.push(gv.version);
    byGroup.set(gv.group, vs);
  }
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...byGroup].map(([g, vs]) => apiGroup(g, vs)),
  };
}

/** `/apis/{group}`, or undefined when the group is not served. */
export function apiGroupDocument(group: string, extra: ExtraGroup[]): Record<string, unknown> | undefined {
  const versions = servedGroupVersions(extra)
    .filter((gv) => gv.group === group && group !== '')
    .map((gv) => gv.version);
  if (!versions.length) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group, versions) };
}

function resourceEntry(r: ResourceInfo): Record<string, unknown> {
  const e: Record<string, unknown> = {
    name: r.resource,
    singularName: r.singular,
    namespaced: r.namespaced,
    kind: r.kind,
    verbs: RESOURCE_VERBS,
  };
  if (r.shortNames.length) e.shortNames = r.shortNames;
  if (ALL_CATEGORY.has(r.resource)) e.categories = ['all'];
  return e;
}

/**
 * `/api/v1` or `/apis/{group}/{version}`: the APIResourceList with every resource and subresource
 * (status, scale, and the registered ones), or undefined when the group version is not served.
 */
export function apiResourceList(group: string, version: string, extraSubresources: ExtraSubresource[], extraGroups: ExtraGroup[]): Record<string, unknown> | undefined {
  const groupVersion = group ? `${group}/${version}` : version;
  const ext = extraGroups.find((g) => g.group === group && g.version === version);
  const infos = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (!infos.length && !ext) return undefined;
  const resources: Record<string, unknown>[] = [];
  for (const r of infos) {
    resources.push(resourceEntry(r));
    const subs: Record<string, unknown>[] = [];
    if (r.hasStatus) subs.push({ name: `${r.resource}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] });
    if (SCALABLE.has(r.resource)) {
      subs.push({ name: `${r.resource}/scale`, singularName: '', namespaced: r.namespaced, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
    }
    for (const s of [...BUILTIN_SUBRESOURCES, ...extraSubresources]) {
      if (s.resource !== r.resource) continue;
      const e: Record<string, unknown> = { name: `${r.resource}/${s.subresource}`, singularName: '', namespaced: r.namespaced };
      if (s.group !== undefined) e.group = s.group;
      if (s.version !== undefined) e.version = s.version;
      e.kind = s.kind;
      e.verbs = s.verbs;
      subs.push(e);
    }
    subs.sort((a, b) => String(a.name).localeCompare(String(b.name)));
    resources.push(...subs);
  }
  for (const d of ext?.resources ?? []) resources.push({ ...d });
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

/** `/version`, as kubectl version prints it. */
export function versionInfo(): Record<string, unknown> {
  return {
    major: '1',
    minor: '32',
    gitVersion: 'v1.32.0-kubemu',
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: `node${process.versions.node}`,
    compiler: 'tsc',
    platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  };
}
