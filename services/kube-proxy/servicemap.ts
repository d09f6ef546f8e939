/**
 * The desired proxy table, computed from Services, Endpoints and Nodes alone (no sockets, no
 * clock): which addresses (ip, port, protocol) the cluster wants served and where each one sends
 * traffic. kube-proxy's ServiceChangeTracker + EndpointsChangeTracker + the per-proxier "what to
 * program" step, folded into one pure function so that every kube-proxy computes the same table.
 */
import { Endpoints, Node, Service } from '../lib/generated/kubemu/core/v1/core';

export type Protocol = 'TCP' | 'UDP';
export type ListenKind = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalIP';

/** Kubernetes' default sessionAffinityConfig.clientIP.timeoutSeconds (3 hours). */
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;

/** One ready endpoint of a service port. */
export interface Endpoint {
  ip: string;
  port: number;
  /** The node the endpoint runs on ('' when the Endpoints do not say). */
  nodeName: string;
  /** "ip:port", unique within a service port. */
  key: string;
}

/** One port of one Service with its ready endpoints; shared by every address that serves it. */
export interface ServicePortInfo {
  /** "namespace/name:portName/protocol", unique in the cluster. */
  id: string;
  /** "namespace/name". */
  service: string;
  portName: string;
  protocol: Protocol;
  /** Ready endpoints (subset addresses × the subset port of the same name), sorted, deduplicated. */
  endpoints: Endpoint[];
  /** ClientIP session affinity timeout in ms; 0 when sessionAffinity is not ClientIP. */
  affinityTimeoutMs: number;
  /** internalTrafficPolicy Local: ClusterIP traffic goes to endpoints on the client's node only. */
  internalLocal: boolean;
  /** externalTrafficPolicy Local: node-port traffic goes to endpoints on that node only. */
  externalLocal: boolean;
}

/**
 * How an address chooses among its service port's endpoints:
 * - all: every ready endpoint;
 * - clientNode: endpoints on the client's node (ClusterIP with internalTrafficPolicy Local);
 * - node: endpoints on `nodeName` (the node's IP:nodePort with externalTrafficPolicy Local).
 */
export type EndpointScope = { kind: 'all' } | { kind: 'clientNode' } | { kind: 'node'; nodeName: string };

/** One address the cluster wants served. */
export interface ListenEntry {
  /** "TCP/ip:port" or "UDP/ip:port". */
  key: string;
  ip: string;
  port: number;
  protocol: Protocol;
  kind: ListenKind;
  servicePort: ServicePortInfo;
  scope: EndpointScope;
  /** For NodePort entries, the node whose InternalIP this is. */
  nodeName?: string;
}

/** What the proxy needs of a Node. */
export interface NodeInfo {
  name: string;
  /** The first InternalIP address ('' when none). */
  internalIP: string;
  /** spec.podCIDRs (or podCIDR), parsed; unparsable ones are left out. */
  podCIDRs: Cidr[];
  ready: boolean;
}

/** An IPv4 CIDR as integers. */
export interface Cidr {
  base: number;
  /** Number of addresses (2^(32-bits)). */
  size: number;
}

/** The listen table and what could not be served (for logs). */
export interface ServiceMap {
  /** Wanted addresses by key. Only addresses with at least one eligible endpoint are present. */
  entries: Map<string, ListenEntry>;
  /** Every service port by id, including those without endpoints (their connections must close). */
  servicePorts: Map<string, ServicePortInfo>;
  /** Addresses claimed by more than one service port: the first by service key wins; the others are named here. */
  conflicts: string[];
}

/** Parses an IPv4 dotted quad; undefined when it is not one. */
export function parseIPv4(ip: string | undefined): number | undefined {
  if (!ip || typeof ip !== 'string') return undefined;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const p = Number(m[i]);
    if (p > 255) return undefined;
    n = n * 256 + p;
  }
  return n;
}

/**
 * Whether `ip` is an IPv4 address a Service may be served on: a dotted quad that is not 0.0.0.0
 * (binding it would take the port on every address), broadcast or multicast.
 */
export function isServiceIP(ip: string | undefined): ip is string {
  const n = parseIPv4(ip);
  return n !== undefined && n !== 0 && n < 0xe0000000;
}

/** Parses an IPv4 CIDR a.b.c.d/n (0 ≤ n ≤ 32; host bits masked off); undefined when it is not one. */
export function parseCidr(text: string | undefined): Cidr | undefined {
  if (!text || typeof text !== 'string') return undefined;
  const [ip, bitsText] = text.split('/');
  const addr = parseIPv4(ip);
  if (addr === undefined || !/^\d{1,2}$/.test(bitsText ?? '')) return undefined;
  const bits = Number(bitsText);
  if (bits > 32) return undefined;
  const size = 2 ** (32 - bits);
  return { base: addr - (addr % size), size };
}

/** Whether `ip` (dotted quad) lies in `cidr`. False for anything unparsable. */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  const n = parseIPv4(ip);
  return n !== undefined && n >= cidr.base && n < cidr.base + cidr.size;
}

/** The parts of a Node the proxy uses. Never throws, whatever the object holds. */
export function nodeInfo(node: Node): NodeInfo {
  const internal = (node.status?.addresses ?? []).find((a) => a?.type === 'InternalIP' && parseIPv4(a.address) !== undefined);
  const cidrs = node.spec?.podCIDRs?.length ? node.spec.podCIDRs : node.spec?.podCIDR ? [node.spec.podCIDR] : [];
  const ready = (node.status?.conditions ?? []).some((c) => c?.type === 'Ready' && c.status === 'True');
  return {
    name: node.metadata?.name ?? '',
    internalIP: internal?.address ?? '',
    podCIDRs: cidrs.map((c) => parseCidr(c)).filter((c): c is Cidr => c !== undefined),
    ready,
  };
}

/**
 * The node a client address belongs to: the node whose pod range contains it or whose InternalIP
 * equals it; `self` for anything else (a host process talks from "this" node).
 */
export function clientNodeOf(nodes: readonly NodeInfo[], ip: string, self: string): string {
  const n = parseIPv4(ip);
  if (n === undefined) return self;
  for (const node of nodes) {
    if (node.internalIP === ip) return node.name;
    for (const c of node.podCIDRs) if (n >= c.base && n < c.base + c.size) return node.name;
  }
  return self;
}

function protocolOf(p: string | undefined): Protocol | undefined {
  if (!p || p === 'TCP') return 'TCP';
  if (p === 'UDP') return 'UDP';
  return undefined; // SCTP and nonsense: not proxied
}

function validPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p > 0 && p < 65536;
}

/**
 * The ready endpoints of one service port: for every subset whose ports hold one named `portName`
 * with `protocol`, its ready addresses × that port. notReadyAddresses never count. Sorted by key,
 * deduplicated; malformed addresses and ports are skipped.
 */
export function readyEndpoints(ep: Endpoints | undefined, portName: string, protocol: Protocol): Endpoint[] {
  const out = new Map<string, Endpoint>();
  for (const subset of ep?.subsets ?? []) {
    const port = (subset?.ports ?? []).find((p) => (p?.name ?? '') === portName && protocolOf(p?.protocol) === protocol);
    if (!port || !validPort(port.port)) continue;
    for (const a of subset.addresses ?? []) {
      if (!a || parseIPv4(a.ip) === undefined) continue;
      const key = `${a.ip}:${port.port}`;
      if (!out.has(key)) out.set(key, { ip: a.ip!, port: port.port, nodeName: a.nodeName ?? '', key });
    }
  }
  return [...out.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

type LoadBalancerIngress = NonNullable<NonNullable<NonNullable<Service['status']>['loadBalancer']>['ingress']>[number];

/**
 * Whether kube-proxy serves a load-balancer ingress IP (KEP-1860, kube-proxy's IsVIPMode): with
 * ipMode unset or "VIP" it does, short-circuiting traffic to the endpoints; "Proxy" (or any other
 * value) means the load balancer receives that traffic itself, so the IP is left alone.
 */
export function isVIPMode(ing: LoadBalancerIngress | undefined): boolean {
  return ing?.ipMode === undefined || ing.ipMode === 'VIP';
}

function serviceKey(s: Service): string {
  return `${s?.metadata?.namespace ?? ''}/${s?.metadata?.name ?? ''}`;
}

/**
 * Computes the listen table. `endpointsOf(key)` returns the Endpoints named like the Service
 * ("namespace/name"). `nodeCidr` limits node ports to nodes whose InternalIP lies in it
 * (simulated nodes outside it have no address on this host). Pure and deterministic: every proxy
 * given the same objects computes the same table. Never throws on malformed objects (they are
 * skipped piecewise).
 *
 * Per Service type: headless (clusterIP None) and ExternalName get nothing; ClusterIP gets the
 * ClusterIP and spec.externalIPs; NodePort adds every node IP:nodePort; LoadBalancer adds node
 * ports (unless allocateLoadBalancerNodePorts false or nodePort 0) and each
 * status.loadBalancer.ingress[].ip whose ipMode is unset or VIP (not Proxy: see isVIPMode). An address is wanted only while it has an eligible endpoint:
 * all ready endpoints, or for a node port with externalTrafficPolicy Local those on that node.
 */
export function buildServiceMap(
  services: readonly Service[],
  endpointsOf: (key: string) => Endpoints | undefined,
  nodes: readonly NodeInfo[],
  nodeCidr: Cidr,
): ServiceMap {
  const entries = new Map<string, ListenEntry>();
  const servicePorts = new Map<string, ServicePortInfo>();
  const conflicts: string[] = [];
  const nodeIPs = nodes.filter((n) => n.name && isServiceIP(n.internalIP) && cidrContains(nodeCidr, n.internalIP));
  const sorted = services
    .map((svc) => ({ svc, key: serviceKey(svc) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  const add = (ip: string, port: number, kind: ListenKind, sp: ServicePortInfo, scope: EndpointScope, nodeName?: string) => {
    const key = `${sp.protocol}/${ip}:${port}`;
    const existing = entries.get(key);
    if (existing) {
      if (existing.servicePort.id !== sp.id) conflicts.push(`${key} wanted by ${existing.servicePort.id} and ${sp.id}`);
      return;
    }
    entries.set(key, { key, ip, port, protocol: sp.protocol, kind, servicePort: sp, scope, ...(nodeName ? { nodeName } : {}) });
  };

  for (const { svc, key } of sorted) {
    const spec = svc?.spec;
    if (!spec || !svc.metadata?.name) continue;
    const type = spec.type || 'ClusterIP';
    if (type === 'ExternalName') continue;
    if (type !== 'ClusterIP' && type !== 'NodePort' && type !== 'LoadBalancer') continue;
    const clusterIP = spec.clusterIP ?? '';
    if (clusterIP === 'None') continue;
    const ep = endpointsOf(key);
    const affinity = spec.sessionAffinity === 'ClientIP';
    const timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    const affinityTimeoutMs = affinity ? (typeof timeout === 'number' && timeout > 0 ? timeout : DEFAULT_AFFINITY_TIMEOUT_SECONDS) * 1000 : 0;
    const internalLocal = spec.internalTrafficPolicy === 'Local';
    const externalLocal = spec.externalTrafficPolicy === 'Local';
    const wantNodePorts = type === 'NodePort' || (type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
    const lbIPs = type === 'LoadBalancer' ? (svc.status?.loadBalancer?.ingress ?? []).filter(isVIPMode).map((i) => i?.ip ?? '').filter(isServiceIP) : [];
    const externalIPs = (spec.externalIPs ?? []).filter(isServiceIP);

    for (const p of spec.ports ?? []) {
      if (!p) continue;
      const protocol = protocolOf(p.protocol);
      if (!protocol || !validPort(p.port)) continue;
      const portName = p.name ?? '';
      const sp: ServicePortInfo = {
        id: `${key}:${portName}/${protocol}`,
        service: key,
        portName,
        protocol,
        endpoints: readyEndpoints(ep, portName, protocol),
        affinityTimeoutMs,
        internalLocal,
        externalLocal,
      };
      if (servicePorts.has(sp.id)) continue; // duplicate port names are invalid; the first wins
      servicePorts.set(sp.id, sp);
      if (sp.endpoints.length === 0) continue;

      if (isServiceIP(clusterIP)) add(clusterIP, p.port, 'ClusterIP', sp, internalLocal ? { kind: 'clientNode' } : { kind: 'all' });
      for (const ip of externalIPs) add(ip, p.port, 'ExternalIP', sp, { kind: 'all' });
      if (wantNodePorts && validPort(p.nodePort)) {
        for (const n of nodeIPs) {
          if (externalLocal && !sp.endpoints.some((e) => e.nodeName === n.name)) continue;
          add(n.internalIP, p.nodePort, 'NodePort', sp, externalLocal ? { kind: 'node', nodeName: n.name } : { kind: 'all' }, n.name);
        }
      }
      for (const ip of lbIPs) add(ip, p.port, 'LoadBalancer', sp, { kind: 'all' });
    }
  }
  return { entries, servicePorts, conflicts };
}
