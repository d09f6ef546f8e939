/**
 * The proxier: turns the cluster's Services, Endpoints and Nodes into served addresses. A sync
 * (coalesced a few milliseconds after any change) computes the listen table (servicemap.ts),
 * updates every route in place (so held sockets keep serving with the new endpoints), cuts the
 * connections of endpoints that went away, and hands the wanted addresses to the ownership state
 * machine (ownership.ts), which binds those this process is preferred for at once and stands by
 * for the others.
 */
import { performance } from 'perf_hooks';
import { Endpoints, Node, Service } from '../lib/generated/kubemu/core/v1/core';
import { Logger } from '../lib/log';
import { Balancer } from './balancer';
import { WildcardPortCache } from './hostports';
import { BindResult, Ownership, rendezvousOwner } from './ownership';
import { buildServiceMap, Cidr, cidrContains, clientNodeOf, Endpoint, ListenEntry, NodeInfo, nodeInfo, parseIPv4, Protocol, ServicePortInfo } from './servicemap';
import { listenTcp, ProxyTarget, TrackedConnection } from './tcpproxy';
import { DEFAULT_UDP_IDLE_MS, listenUdp } from './udpproxy';

/** Where the proxier reads the cluster (informer caches in production, plain arrays in tests). */
export interface ClusterSource {
  services(): Service[];
  /** The Endpoints "namespace/name", if any. */
  endpoints(key: string): Endpoints | undefined;
  nodes(): Node[];
}

export interface ProxierOptions {
  source: ClusterSource;
  /** This proxy's node (KUBEMU_NODE_NAME). */
  nodeName: string;
  /** This node's IP, used for its node ports while its Node object has no InternalIP yet. */
  nodeIP?: string;
  /** Node ports are served for nodes whose InternalIP lies here. */
  nodeCidr: Cidr;
  standbyDelayMs?: number;
  retryMs?: number;
  slowRetryMs?: number;
  udpIdleMs?: number;
  /** Changes are applied this long after the first of a burst. */
  syncDelayMs?: number;
  log: Logger;
}

/** One address this process holds, as GET /proxies shows it. */
export interface ProxyStatus {
  address: string;
  protocol: Protocol;
  service: string;
  port: string;
  kind: ListenEntry['kind'];
  endpoints: string[];
  activeConnections: number;
}

export interface ServiceCounters {
  total: number;
  active: number;
}

const EMPTY: Endpoint[] = [];

/** A service port's live state: its endpoints, its balancer and its connections by endpoint. */
class ServicePortState {
  info: ServicePortInfo;
  readonly balancer: Balancer;
  byNode = new Map<string, Endpoint[]>();
  readonly conns = new Map<string, Set<TrackedConnection>>();

  constructor(
    info: ServicePortInfo,
    readonly counters: ServiceCounters,
  ) {
    this.info = info;
    this.balancer = new Balancer(info.affinityTimeoutMs);
    this.index();
  }

  /** Takes new endpoints; returns the connections whose endpoint is no longer ready. */
  update(info: ServicePortInfo): TrackedConnection[] {
    const keep = new Set(info.endpoints.map((e) => e.key));
    const cut: TrackedConnection[] = [];
    for (const [key, set] of this.conns) {
      if (!keep.has(key)) cut.push(...set);
    }
    this.info = info;
    this.balancer.affinityTimeoutMs = info.affinityTimeoutMs;
    this.balancer.prune(keep);
    this.index();
    return cut;
  }

  allConnections(): TrackedConnection[] {
    return [...this.conns.values()].flatMap((s) => [...s]);
  }

  track(c: TrackedConnection): void {
    let set = this.conns.get(c.endpointKey);
    if (!set) this.conns.set(c.endpointKey, (set = new Set()));
    set.add(c);
  }

  untrack(c: TrackedConnection): void {
    const set = this.conns.get(c.endpointKey);
    if (!set) return;
    set.delete(c);
    if (set.size === 0) this.conns.delete(c.endpointKey);
  }

  private index(): void {
    const byNode = new Map<string, Endpoint[]>();
    for (const e of this.info.endpoints) {
      let list = byNode.get(e.nodeName);
      if (!list) byNode.set(e.nodeName, (list = []));
      list.push(e);
    }
    this.byNode = byNode;
  }
}

/** One wanted address: what a listener asks for each connection. Stable per address across syncs. */
class Route implements ProxyTarget {
  active = 0;
  candidates: Endpoint[] = EMPTY;

  constructor(
    public entry: ListenEntry,
    public sp: ServicePortState,
    private readonly clientNode: (ip: string) => string,
  ) {
    this.refresh();
  }

  set(entry: ListenEntry, sp: ServicePortState): void {
    this.entry = entry;
    this.sp = sp;
    this.refresh();
  }

  /** Recomputes the client-independent candidates after the service port changed. */
  refresh(): void {
    const scope = this.entry.scope;
    this.candidates = scope.kind === 'node' ? this.sp.byNode.get(scope.nodeName) ?? EMPTY : this.sp.info.endpoints;
  }

  pick(clientIP: string, exclude?: ReadonlySet<string>): Endpoint | undefined {
    const cands = this.entry.scope.kind === 'clientNode' ? this.sp.byNode.get(this.clientNode(clientIP)) ?? EMPTY : this.candidates;
    return this.sp.balancer.pick(cands, clientIP, exclude);
  }

  accepted(): void {
    this.sp.counters.total++;
  }

  opened(c: TrackedConnection): void {
    // The service port it was opened under: the route may point elsewhere by the time it closes.
    c.owner = this.sp;
    this.active++;
    this.sp.counters.active++;
    this.sp.track(c);
  }

  closed(c: TrackedConnection): void {
    const sp = (c.owner as ServicePortState | undefined) ?? this.sp;
    this.active--;
    sp.counters.active--;
    sp.untrack(c);
  }
}

/**
 * Owns every route, listener and connection of this kube-proxy. Call changed() on any informer
 * event, start() once the caches synced, stop() on shutdown. Never throws on malformed objects.
 */
export class Proxier {
  private readonly routes = new Map<string, Route>();
  private readonly servicePorts = new Map<string, ServicePortState>();
  private readonly counters = new Map<string, ServiceCounters>();
  private readonly ownership: Ownership;
  private nodes: NodeInfo[] = [];
  private timer?: NodeJS.Timeout;
  private pruner?: NodeJS.Timeout;
  private started = false;
  private stopped = false;
  private lastConflicts = '';
  private readonly wildcards = new WildcardPortCache();
  private readonly wildcardWarned = new Set<string>();
  private readonly rendezvous = new Map<string, string>();
  private ownersSig = '';
  /** Completed syncs. */
  syncCount = 0;
  /** Duration of the last sync in seconds, and their sum (for the metrics). */
  lastSyncSeconds = 0;
  syncSecondsTotal = 0;
  /** When the last sync completed (ms since the epoch; 0 before the first). */
  lastSyncAt = 0;

  constructor(private readonly opts: ProxierOptions) {
    const log = opts.log;
    this.ownership = new Ownership({
      bind: (key) => this.bind(key),
      standbyDelayMs: opts.standbyDelayMs ?? 1000,
      retryMs: opts.retryMs ?? 100,
      slowRetryMs: opts.slowRetryMs ?? 5000,
      log,
      onAcquired: (key) => {
        const r = this.routes.get(key);
        log.info('took ownership of a service address', { address: key, service: r?.entry.servicePort.service, port: r?.entry.servicePort.portName, kind: r?.entry.kind });
      },
      onReleased: (key, reason) => {
        const r = this.routes.get(key);
        log.info('released a service address', { address: key, service: r?.entry.servicePort.service, reason });
      },
    });
  }

  /** Runs the first sync now; later changes are applied after the coalescing delay. */
  start(): void {
    this.started = true;
    this.sync();
    // Expired ClientIP affinities are otherwise only dropped on endpoint changes: bound the memory.
    this.pruner = setInterval(() => {
      for (const sp of this.servicePorts.values()) sp.balancer.prune();
    }, 60000);
    this.pruner.unref();
  }

  /** Notes that the cluster changed: a sync follows within syncDelayMs. Safe to call at any time. */
  changed(): void {
    if (!this.started || this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sync();
    }, this.opts.syncDelayMs ?? 20);
  }

  /** Stops listening on every address and closes every proxied connection. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pruner);
    this.ownership.stop();
    for (const sp of this.servicePorts.values()) for (const c of sp.allConnections()) c.destroy();
  }

  /** Applies the current cluster state. Never throws (a failure is logged and retried on the next change). */
  sync(): void {
    if (this.stopped) return;
    const t0 = performance.now();
    try {
      this.apply();
    } catch (err) {
      this.opts.log.error('proxy sync failed', { err: (err as Error).stack ?? String(err) });
    }
    const seconds = (performance.now() - t0) / 1000;
    this.syncCount++;
    this.lastSyncSeconds = seconds;
    this.syncSecondsTotal += seconds;
    this.lastSyncAt = Date.now();
  }

  private apply(): void {
    const { source, nodeName, nodeCidr } = this.opts;
    const nodes = source.nodes().map(nodeInfo).filter((n) => n.name);
    // Until the kubelet registered our Node (or set its address), serve our node ports on KUBEMU_NODE_IP.
    const self = nodes.find((n) => n.name === nodeName);
    if (this.opts.nodeIP && parseIPv4(this.opts.nodeIP) !== undefined) {
      if (!self) nodes.push({ name: nodeName, internalIP: this.opts.nodeIP, podCIDRs: [], ready: false });
      else if (!self.internalIP) self.internalIP = this.opts.nodeIP;
    }
    // Clients live on real nodes only (simulated ones outside the node range run no processes);
    // keeping them out bounds the per-connection lookup of internalTrafficPolicy Local.
    this.nodes = nodes.filter((n) => n.internalIP && cidrContains(nodeCidr, n.internalIP));
    const map = buildServiceMap(source.services(), (k) => source.endpoints(k), nodes, nodeCidr);
    const conflicts = map.conflicts.join('; ');
    if (conflicts && conflicts !== this.lastConflicts) this.opts.log.warn('service addresses claimed twice; the first service (by name) is served', { conflicts: map.conflicts });
    this.lastConflicts = conflicts;

    const cut: TrackedConnection[] = [];
    for (const [id, info] of map.servicePorts) {
      const sp = this.servicePorts.get(id);
      if (sp) cut.push(...sp.update(info));
      else this.servicePorts.set(id, new ServicePortState(info, this.countersFor(info.service)));
    }
    for (const [id, sp] of this.servicePorts) {
      if (map.servicePorts.has(id)) continue;
      cut.push(...sp.allConnections());
      this.servicePorts.delete(id);
    }
    const liveServices = new Set([...map.servicePorts.values()].map((sp) => sp.service));
    for (const [svc, c] of this.counters) if (!liveServices.has(svc) && c.active <= 0) this.counters.delete(svc);

    for (const [key, entry] of map.entries) {
      const sp = this.servicePorts.get(entry.servicePort.id)!;
      const route = this.routes.get(key);
      if (route) route.set(entry, sp);
      else this.routes.set(key, new Route(entry, sp, (ip) => clientNodeOf(this.nodes, ip, nodeName)));
    }

    // Connections to endpoints that went away: cut now, new connections already avoid them.
    for (const c of cut) c.destroy();

    const owners = nodes.filter((n) => n.ready && n.internalIP && cidrContains(nodeCidr, n.internalIP)).map((n) => n.name).sort();
    // Hashing every address at every sync adds up with many addresses: remember the choices while the owner set stays.
    const ownersSig = owners.join(',');
    if (ownersSig !== this.ownersSig) {
      this.ownersSig = ownersSig;
      this.rendezvous.clear();
    }
    const wanted = new Map<string, boolean>();
    for (const [key, entry] of map.entries) {
      let preferred: boolean;
      if (entry.kind === 'NodePort') preferred = entry.nodeName === nodeName;
      else {
        let owner = this.rendezvous.get(key);
        if (owner === undefined) this.rendezvous.set(key, (owner = rendezvousOwner(key, owners) ?? ''));
        preferred = owner === nodeName;
      }
      wanted.set(key, preferred);
    }
    this.ownership.setWanted(wanted);
    // After setWanted, so that the release of an address is still logged with its Service.
    for (const key of [...this.routes.keys()]) {
      if (map.entries.has(key)) continue;
      this.routes.delete(key);
      this.wildcardWarned.delete(key);
      this.rendezvous.delete(key);
    }
  }

  private countersFor(service: string): ServiceCounters {
    let c = this.counters.get(service);
    if (!c) this.counters.set(service, (c = { total: 0, active: 0 }));
    return c;
  }

  private bind(key: string): Promise<BindResult> {
    const route = this.routes.get(key);
    if (!route) return Promise.resolve({ ok: false, code: 'EUNWANTED', message: 'no route' });
    const { ip, port, protocol } = route.entry;
    const onLost = (err: Error) => {
      this.opts.log.warn('a held service address failed', { address: key, err: err.message });
      this.ownership.lost(key);
    };
    const result =
      protocol === 'UDP' ? listenUdp(ip, port, route, onLost, { idleMs: this.opts.udpIdleMs ?? DEFAULT_UDP_IDLE_MS, log: this.opts.log }) : listenTcp(ip, port, route, onLost, this.opts.log);
    return result.then((res) => {
      if (!res.ok && res.code === 'EADDRINUSE' && !this.wildcardWarned.has(key) && this.wildcards.has(protocol, port)) {
        this.wildcardWarned.add(key);
        this.opts.log.warn('a host process is bound to the wildcard address on this port: no kube-proxy can serve the Service address', {
          address: key,
          service: route.entry.servicePort.service,
          wildcard: `0.0.0.0:${port}/${protocol}`,
        });
      }
      return res;
    });
  }

  /** What this process holds now, sorted by address. */
  proxies(): ProxyStatus[] {
    const out: ProxyStatus[] = [];
    for (const key of this.ownership.held()) {
      const r = this.routes.get(key);
      if (!r) continue;
      const e = r.entry;
      out.push({
        address: `${e.ip}:${e.port}`,
        protocol: e.protocol,
        service: e.servicePort.service,
        port: e.servicePort.portName,
        kind: e.kind,
        endpoints: (e.scope.kind === 'clientNode' ? r.sp.info.endpoints : r.candidates).map((x) => x.key),
        activeConnections: r.active,
      });
    }
    return out.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.protocol < b.protocol ? -1 : 1));
  }

  /** Connection counters per service ("namespace/name"). */
  serviceCounters(): ReadonlyMap<string, ServiceCounters> {
    return this.counters;
  }

  /** Addresses wanted by the cluster now (held here or elsewhere). */
  get wantedCount(): number {
    return this.routes.size;
  }
}

/** Whether a Node change matters to the proxy (address, pod range, readiness), so heartbeats do not cause syncs. */
export function nodeChangeMatters(oldNode: Node, newNode: Node): boolean {
  return JSON.stringify(nodeInfo(oldNode)) !== JSON.stringify(nodeInfo(newNode));
}
