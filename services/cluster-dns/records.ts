/**
 * The Kubernetes DNS-Based Service Discovery specification
 * (kubernetes/dns docs/specification.md) answered from informer caches of Services, Endpoints
 * and Pods, the way CoreDNS's kubernetes plugin does with its default Corefile
 * (`kubernetes cluster.local in-addr.arpa ip6.arpa { pods insecure; ttl 5 }`).
 */
import { Endpoints, Pod, Service } from '../lib/generated/kubemu/core/v1/core';
import { Rcode, ResourceRecord, RRClass, RRType, RData } from './message';

/**
 * What the resolver reads: a keyed cache (namespace/name) with a full listing; an Informer fits.
 * With byIndex and the DNS_INDEXERS below, reverse and verified-pod lookups are index reads
 * instead of scans.
 */
export interface ObjectSource<T> {
  get(key: string): T | undefined;
  list(): T[];
  byIndex?(name: string, value: string): T[];
}

/** Index names the resolver asks ObjectSource.byIndex for. */
export const SERVICE_IP_INDEX = 'dns/clusterIP';
export const ENDPOINT_IP_INDEX = 'dns/endpointIP';
export const POD_IP_INDEX = 'dns/podIP';

/** Indexers to give the informers (Informer `indexers` option) for the indexed lookups. */
export const DNS_INDEXERS = {
  services: { [SERVICE_IP_INDEX]: (s: Service): string[] => [...new Set([s.spec?.clusterIP ?? '', ...(s.spec?.clusterIPs ?? [])].filter((ip) => ip && ip !== 'None'))] },
  endpoints: {
    [ENDPOINT_IP_INDEX]: (e: Endpoints): string[] => [
      ...new Set((e.subsets ?? []).flatMap((ss) => [...(ss.addresses ?? []), ...(ss.notReadyAddresses ?? [])].map((a) => a.ip ?? '')).filter(Boolean)),
    ],
  },
  pods: { [POD_IP_INDEX]: (p: Pod): string[] => [...new Set([p.status?.podIP ?? '', ...(p.status?.podIPs ?? []).map((x) => x.ip ?? '')].filter(Boolean))] },
};

export interface DnsSources {
  services: ObjectSource<Service>;
  endpoints: ObjectSource<Endpoints>;
  /** Read only in `pods: 'verified'` mode. */
  pods?: ObjectSource<Pod>;
}

export interface ResolverOptions {
  zone?: string;
  /** TTL of positive answers and the SOA minimum (negative TTL); CoreDNS's kubernetes plugin default is 5 s. */
  ttl?: number;
  /**
   * `<a-b-c-d>.<ns>.pod.<zone>`: 'insecure' (default; the specification's section 2.6 and
   * CoreDNS's default Corefile) answers any well-formed address, 'verified' only the IPs of pods
   * in that namespace, 'disabled' none (NXDOMAIN).
   */
  pods?: 'insecure' | 'verified' | 'disabled';
}

/** Kubernetes' older spelling of publishNotReadyAddresses, which the specification still honours. */
const TOLERATE_UNREADY = 'service.alpha.kubernetes.io/tolerate-unready-endpoints';

/** How a question is answered: rcode, records per section, and whether we are authoritative. */
export interface Resolution {
  rcode: number;
  authoritative: boolean;
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
}

export const DEFAULT_ZONE = 'cluster.local';
export const DEFAULT_TTL = 5;
/** The schema version record the specification asks for (dns-version.<zone> TXT). */
export const SCHEMA_VERSION = '1.1.0';

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function isIPv4(s: string | undefined): s is string {
  const m = s ? IPV4.exec(s) : null;
  return !!m && m.slice(1).every((p) => Number(p) <= 255);
}

/** Lower-cased labels of a name, without the root. */
function labelsOf(name: string): string[] {
  const n = name.toLowerCase().replace(/\.$/, '');
  return n === '' ? [] : n.split('.');
}

interface Owner {
  /** The name exists (NODATA rather than NXDOMAIN for other types). */
  exists: boolean;
  records: ResourceRecord[];
  additional?: ResourceRecord[];
}

const NONE: Owner = { exists: false, records: [] };

/**
 * Answers questions about `zone` and the reverse zones from the caches. Reads the caches on every
 * call, so answers follow the watch with no delay of its own; stateless otherwise and safe to
 * call concurrently. Never throws for any question.
 */
export class ClusterDnsResolver {
  readonly zone: string;
  readonly ttl: number;
  readonly podsMode: 'insecure' | 'verified' | 'disabled';
  private readonly zoneLabels: string[];
  private readonly serial = Math.floor(Date.now() / 1000);

  constructor(private readonly sources: DnsSources, opts: ResolverOptions = {}) {
    this.zone = (opts.zone ?? DEFAULT_ZONE).toLowerCase().replace(/\.$/, '');
    this.ttl = opts.ttl ?? DEFAULT_TTL;
    this.podsMode = opts.pods ?? 'insecure';
    this.zoneLabels = this.zone.split('.');
  }

  /** Whether `qname` is in the zone or a reverse zone this resolver answers for (class IN); other names are REFUSED or forwarded. */
  isAuthoritativeFor(qname: string): boolean {
    const labels = labelsOf(qname);
    return this.suffix(labels, this.zoneLabels) || this.suffix(labels, ['in-addr', 'arpa']) || this.suffix(labels, ['ip6', 'arpa']);
  }

  /** Resolves one question (name as asked, any case; answers carry the name as asked). */
  resolve(qname: string, qtype: number, qclass: number = RRClass.IN): Resolution {
    const labels = labelsOf(qname);
    const name = qname.endsWith('.') ? qname : qname + '.';
    const inZone = this.suffix(labels, this.zoneLabels);
    const reverse = this.suffix(labels, ['in-addr', 'arpa']) || this.suffix(labels, ['ip6', 'arpa']);
    if ((!inZone && !reverse) || qclass !== RRClass.IN) {
      return { rcode: Rcode.REFUSED, authoritative: false, answers: [], authority: [], additional: [] };
    }
    let owner: Owner;
    if (inZone) owner = this.lookupZone(name, labels.slice(0, labels.length - this.zoneLabels.length));
    else owner = this.lookupReverse(name, labels);
    const soaZone = inZone ? this.zone : labels.slice(-2).join('.');
    const matching = owner.records.filter((rr) => qtype === RRType.ANY || rr.type === qtype || rr.type === RRType.CNAME);
    if (matching.length > 0) {
      const additional = (owner.additional ?? []).filter(() => qtype === RRType.SRV || qtype === RRType.ANY);
      return { rcode: Rcode.NOERROR, authoritative: true, answers: matching, authority: [], additional };
    }
    return {
      rcode: owner.exists ? Rcode.NOERROR : Rcode.NXDOMAIN,
      authoritative: true,
      answers: [],
      authority: [this.soa(soaZone)],
      additional: [],
    };
  }

  private suffix(labels: string[], tail: string[]): boolean {
    if (labels.length < tail.length) return false;
    return tail.every((l, i) => labels[labels.length - tail.length + i] === l);
  }

  private rr(name: string, type: number, data: RData): ResourceRecord {
    return { name, type, class: RRClass.IN, ttl: this.ttl, data };
  }

  /** SOA as CoreDNS writes it; its minimum is the negative-caching TTL (RFC 2308). */
  soa(zone: string = this.zone): ResourceRecord {
    return {
      name: zone + '.',
      type: RRType.SOA,
      class: RRClass.IN,
      ttl: this.ttl,
      data: { kind: 'SOA', mname: `ns.dns.${this.zone}.`, rname: `hostmaster.${this.zone}.`, serial: this.serial, refresh: 7200, retry: 1800, expire: 86400, minimum: this.ttl },
    };
  }

  /** `rel`: the labels before the zone, e.g. [web, default, svc]. */
  private lookupZone(name: string, rel: string[]): Owner {
    const z = this.zone;
    if (rel.length === 0) {
      return { exists: true, records: [this.soa(), this.rr(name, RRType.NS, { kind: 'NAME', target: `ns.dns.${z}.` })] };
    }
    if (rel.length === 1 && rel[0] === 'dns-version') {
      return { exists: true, records: [this.rr(name, RRType.TXT, { kind: 'TXT', strings: [SCHEMA_VERSION] })] };
    }
    const kind = rel[rel.length - 1];
    const parts = rel.slice(0, -1);
    if (kind === 'svc') return this.lookupSvc(name, parts);
    if (kind === 'pod') return this.lookupPod(name, parts);
    // ns.dns.<zone> names the server in the SOA and NS records; it has no address of its own here.
    if (rel.join('.') === 'ns.dns' || rel.join('.') === 'dns') return { exists: true, records: [] };
    return NONE;
  }

  private services(): Service[] {
    return this.sources.services.list();
  }

  /** Services whose ClusterIP or one of whose endpoints is `ip` (a superset is fine: callers check). */
  private servicesWithIP(ip: string): Service[] {
    const { services, endpoints } = this.sources;
    if (!services.byIndex || !endpoints.byIndex) return this.services();
    const out = new Map<string, Service>();
    for (const s of services.byIndex(SERVICE_IP_INDEX, ip)) out.set(`${s.metadata?.namespace}/${s.metadata?.name}`, s);
    for (const e of endpoints.byIndex(ENDPOINT_IP_INDEX, ip)) {
      const key = `${e.metadata?.namespace}/${e.metadata?.name}`;
      const s = services.get(key);
      if (s) out.set(key, s);
    }
    return [...out.values()];
  }

  private lookupSvc(name: string, p: string[]): Owner {
    if (p.length === 0) return { exists: true, records: [] };
    if (p.length === 1) {
      // <ns>.svc.<zone> is an empty non-terminal when the namespace has services.
      return { exists: this.services().some((s) => s.metadata?.namespace === p[0]), records: [] };
    }
    if (p.length === 2) return this.serviceRecords(name, p[1], p[0]);
    if (p.length === 3) {
      if (p[0].startsWith('_')) {
        // _<port>._<proto>.<ns>.svc.<zone> would be a search-path artefact; _<proto>.<svc>.<ns>.svc is an empty non-terminal.
        const svc = this.sources.services.get(`${p[2]}/${p[1]}`);
        return { exists: !!svc && this.portsOf(svc, p[2], p[1]).some((x) => x.protocol === p[0].slice(1)), records: [] };
      }
      return this.endpointRecords(name, p[2], p[1], p[0]);
    }
    if (p.length === 4 && p[0].startsWith('_') && p[1].startsWith('_')) {
      return this.srvRecords(name, p[3], p[2], p[0].slice(1), p[1].slice(1));
    }
    return NONE;
  }

  private isHeadless(svc: Service): boolean {
    return svc.spec?.clusterIP === 'None';
  }

  /** Ready endpoint addresses (and not-ready ones when the Service publishes them), with their ports. */
  private addresses(ns: string, svcName: string, svc: Service): { ip: string; hostname?: string; ports: { name: string; port: number; protocol: string }[] }[] {
    const ep = this.sources.endpoints.get(`${ns}/${svcName}`);
    const out: { ip: string; hostname?: string; ports: { name: string; port: number; protocol: string }[] }[] = [];
    for (const subset of ep?.subsets ?? []) {
      const ports = (subset.ports ?? []).map((x) => ({ name: (x.name ?? '').toLowerCase(), port: x.port ?? 0, protocol: (x.protocol || 'TCP').toLowerCase() }));
      const publishNotReady = svc.spec?.publishNotReadyAddresses || svc.metadata?.annotations?.[TOLERATE_UNREADY] === 'true';
      const addrs = [...(subset.addresses ?? []), ...(publishNotReady ? subset.notReadyAddresses ?? [] : [])];
      for (const a of addrs) if (isIPv4(a.ip)) out.push({ ip: a.ip, hostname: a.hostname || undefined, ports });
    }
    return out;
  }

  private portsOf(svc: Service, ns: string, svcName: string): { name: string; port: number; protocol: string }[] {
    if (this.isHeadless(svc)) {
      const seen = new Map<string, { name: string; port: number; protocol: string }>();
      for (const a of this.addresses(ns, svcName, svc)) for (const x of a.ports) seen.set(`${x.name}/${x.protocol}`, x);
      return [...seen.values()];
    }
    return (svc.spec?.ports ?? []).map((x) => ({ name: (x.name ?? '').toLowerCase(), port: x.port ?? 0, protocol: (x.protocol || 'TCP').toLowerCase() }));
  }

  private serviceRecords(name: string, ns: string, svcName: string): Owner {
    const svc = this.sources.services.get(`${ns}/${svcName}`);
    if (!svc) return NONE;
    if (svc.spec?.type === 'ExternalName') {
      const target = svc.spec.externalName;
      if (!target) return { exists: true, records: [] };
      return { exists: true, records: [this.rr(name, RRType.CNAME, { kind: 'NAME', target: target.endsWith('.') ? target : target + '.' })] };
    }
    const records: ResourceRecord[] = [];
    const additional: ResourceRecord[] = [];
    if (this.isHeadless(svc)) {
      for (const a of this.addresses(ns, svcName, svc)) records.push(this.rr(name, RRType.A, { kind: 'A', address: a.ip }));
      // Specification 2.4.1: a headless Service without ready endpoints is NXDOMAIN.
      if (records.length === 0) return NONE;
    } else if (isIPv4(svc.spec?.clusterIP)) {
      records.push(this.rr(name, RRType.A, { kind: 'A', address: svc.spec!.clusterIP! }));
    }
    // SRV on the service name itself lists every named port (as CoreDNS does).
    const srv = this.srvRecords(name, ns, svcName, undefined, undefined);
    records.push(...srv.records);
    additional.push(...(srv.additional ?? []));
    return { exists: true, records, additional };
  }

  private endpointHostname(a: { ip: string; hostname?: string }): string {
    return (a.hostname ?? a.ip.replace(/\./g, '-')).toLowerCase();
  }

  /** <hostname>.<svc>.<ns>.svc.<zone>: a headless Service's endpoint by hostname (StatefulSet pods) or dashed IP. */
  private endpointRecords(name: string, ns: string, svcName: string, host: string): Owner {
    const svc = this.sources.services.get(`${ns}/${svcName}`);
    if (!svc || !this.isHeadless(svc)) return NONE;
    const records = this.addresses(ns, svcName, svc)
      .filter((a) => this.endpointHostname(a) === host)
      .map((a) => this.rr(name, RRType.A, { kind: 'A', address: a.ip }));
    return records.length > 0 ? { exists: true, records } : NONE;
  }

  /** SRV for a named port (or every named port when port is undefined): weight 100/n, targets with their A records as additional. */
  private srvRecords(name: string, ns: string, svcName: string, port: string | undefined, proto: string | undefined): Owner {
    const svc = this.sources.services.get(`${ns}/${svcName}`);
    if (!svc || svc.spec?.type === 'ExternalName') return NONE;
    const fqdn = `${svcName}.${ns}.svc.${this.zone}.`;
    const targets: { target: string; port: number; ip: string }[] = [];
    if (this.isHeadless(svc)) {
      for (const a of this.addresses(ns, svcName, svc)) {
        for (const x of a.ports) {
          if (!x.name || (port !== undefined && x.name !== port) || (proto !== undefined && x.protocol !== proto)) continue;
          targets.push({ target: `${this.endpointHostname(a)}.${fqdn}`, port: x.port, ip: a.ip });
        }
      }
    } else {
      const ip = svc.spec?.clusterIP;
      if (!isIPv4(ip)) return { exists: port === undefined, records: [] };
      for (const x of this.portsOf(svc, ns, svcName)) {
        if (!x.name || (port !== undefined && x.name !== port) || (proto !== undefined && x.protocol !== proto)) continue;
        targets.push({ target: fqdn, port: x.port, ip });
      }
    }
    if (targets.length === 0) return port === undefined ? { exists: true, records: [] } : NONE;
    const weight = Math.floor(100 / targets.length);
    const records = targets.map((t) => this.rr(name, RRType.SRV, { kind: 'SRV', priority: 0, weight, port: t.port, target: t.target }));
    const seen = new Set<string>();
    const additional: ResourceRecord[] = [];
    for (const t of targets) {
      const k = t.target + ' ' + t.ip;
      if (seen.has(k)) continue;
      seen.add(k);
      additional.push(this.rr(t.target, RRType.A, { kind: 'A', address: t.ip }));
    }
    return { exists: true, records, additional };
  }

  /** <a-b-c-d>.<ns>.pod.<zone>, per this.podsMode. */
  private lookupPod(name: string, p: string[]): Owner {
    if (this.podsMode === 'disabled') return NONE;
    if (p.length === 0) return { exists: true, records: [] };
    if (p.length === 1) return { exists: true, records: [] };
    if (p.length !== 2) return NONE;
    const ip = p[0].replace(/-/g, '.');
    if (!isIPv4(ip) || p[0].split('-').length !== 4) return NONE;
    const ns = p[1];
    if (this.podsMode === 'verified') {
      const src = this.sources.pods;
      const candidates = src?.byIndex ? src.byIndex(POD_IP_INDEX, ip) : src?.list() ?? [];
      const found = candidates.some((pod) => pod.metadata?.namespace === ns && (pod.status?.podIP === ip || (pod.status?.podIPs ?? []).some((x) => x.ip === ip)));
      if (!found) return NONE;
    }
    return { exists: true, records: [this.rr(name, RRType.A, { kind: 'A', address: ip })] };
  }

  /** PTR for Service ClusterIPs and headless endpoints (d.c.b.a.in-addr.arpa). */
  private lookupReverse(name: string, labels: string[]): Owner {
    if (labels[labels.length - 2] !== 'in-addr' || labels.length !== 6) return { exists: labels.length < 6, records: [] };
    const ip = labels.slice(0, 4).reverse().join('.');
    if (!isIPv4(ip)) return NONE;
    const records: ResourceRecord[] = [];
    for (const svc of this.servicesWithIP(ip)) {
      const ns = svc.metadata?.namespace ?? '';
      const svcName = svc.metadata?.name ?? '';
      const fqdn = `${svcName}.${ns}.svc.${this.zone}.`;
      if (svc.spec?.clusterIP === ip || (svc.spec?.clusterIPs ?? []).includes(ip)) {
        records.push(this.rr(name, RRType.PTR, { kind: 'NAME', target: fqdn }));
      } else if (this.isHeadless(svc)) {
        for (const a of this.addresses(ns, svcName, svc)) {
          if (a.ip === ip) records.push(this.rr(name, RRType.PTR, { kind: 'NAME', target: `${this.endpointHostname(a)}.${fqdn}` }));
        }
      }
    }
    return records.length > 0 ? { exists: true, records } : NONE;
  }
}
