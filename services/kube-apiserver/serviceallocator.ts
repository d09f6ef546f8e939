/**
 * Service address allocation (Kubernetes' ipallocator and portallocator, plus the role MetalLB
 * plays for LoadBalancer ingress IPs). Every allocated value is one etcd key claimed with a
 * create-if-absent transaction, so any number of apiserver replicas can allocate at once and never
 * hand out the same value twice:
 *
 *   /registry/ranges/serviceips/<ip>        ClusterIPs
 *   /registry/ranges/servicenodeports/<port> NodePorts
 *   /registry/ranges/loadbalancerips/<ip>   LoadBalancer ingress IPs
 *
 * Each key holds its owner ({namespace, name, uid}); a release deletes the key only when the
 * owner's uid matches. The scheme is claim-then-write: the registry claims, writes the Service and
 * releases the claims if the write fails. A replica that dies between the two leaks a claim
 * (Kubernetes repairs that with a repair loop; here it is left for later).
 */
import { Service } from '../lib/generated/kubemu/core/v1/core';
import { errors, field, FieldError } from '../lib/errors';
import { goStringSlice } from './validation/common';
import { EtcdStorage, KeyExistsError, KeyNotFoundError, RevisionConflictError } from './storage';

export const SERVICE_IPS_PREFIX = '/registry/ranges/serviceips/';
export const NODE_PORTS_PREFIX = '/registry/ranges/servicenodeports/';
export const LOADBALANCER_IPS_PREFIX = '/registry/ranges/loadbalancerips/';

export const DEFAULT_SERVICE_CIDR = '127.128.0.0/16';
export const DEFAULT_LOADBALANCER_CIDR = '127.129.0.0/16';
export const DEFAULT_NODE_PORT_RANGE = { min: 30000, max: 32767 };

/** An IPv4 CIDR as integers: `base` is the network address, `size` the number of addresses. */
export interface Cidr {
  text: string;
  base: number;
  size: number;
}

/** Parses an IPv4 dotted quad; undefined when it is not one. */
export function parseIPv4(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses an IPv4 CIDR (host bits are masked off). Throws Error for anything else. */
export function parseCidr(text: string): Cidr {
  const [ip, bitsText] = text.split('/');
  const addr = parseIPv4(ip ?? '');
  const bits = Number(bitsText);
  if (addr === undefined || !/^\d+$/.test(bitsText ?? '') || bits < 8 || bits > 30) throw new Error(`not an IPv4 CIDR between /8 and /30: ${text}`);
  const size = 2 ** (32 - bits);
  const base = addr - (addr % size);
  return { text: `${formatIPv4(base)}/${bits}`, base, size };
}

/**
 * The addresses of a range that may be handed out, as Kubernetes' ipallocator: every address but
 * the network and broadcast addresses. Returns [first, last] as integers.
 */
export function usableRange(cidr: Cidr): [number, number] {
  return [cidr.base + 1, cidr.base + cidr.size - 2];
}

/** The first usable address of a range: the `kubernetes` Service's ClusterIP. */
export function firstAddress(cidr: Cidr): string {
  return formatIPv4(usableRange(cidr)[0]);
}

export function inRange(cidr: Cidr, ip: string): boolean {
  const n = parseIPv4(ip);
  if (n === undefined) return false;
  const [lo, hi] = usableRange(cidr);
  return n >= lo && n <= hi;
}

export interface ServiceAllocatorOptions {
  serviceCidr?: string;
  loadBalancerCidr?: string;
  nodePortRange?: { min: number; max: number };
  /** Random source in [0, 1); tests may replace it. */
  random?: () => number;
}

/** What one Service holds: the values whose keys name it as owner. */
export interface Allocation {
  clusterIPs: string[];
  nodePorts: number[];
  loadBalancerIPs: string[];
}

interface Owner {
  namespace: string;
  name: string;
  uid: string;
}

type Pool = { prefix: string; label: 'IP' | 'port' };

/** Scans of a range (each from a fresh read of the taken values) before it counts as full. */
const SCAN_PASSES = 2;

/**
 * Allocates and releases Service addresses in etcd. All methods may be called concurrently, from
 * any number of apiserver replicas.
 */
export class ServiceAllocator {
  readonly serviceCidr: Cidr;
  readonly loadBalancerCidr: Cidr;
  readonly nodePortRange: { min: number; max: number };
  private readonly random: () => number;

  constructor(private readonly storage: EtcdStorage, opts: ServiceAllocatorOptions = {}) {
    this.serviceCidr = parseCidr(opts.serviceCidr || DEFAULT_SERVICE_CIDR);
    this.loadBalancerCidr = parseCidr(opts.loadBalancerCidr || DEFAULT_LOADBALANCER_CIDR);
    this.nodePortRange = opts.nodePortRange ?? DEFAULT_NODE_PORT_RANGE;
    this.random = opts.random ?? Math.random;
  }

  /**
   * Claims everything `svc` needs that `old` (the stored Service on update) does not already
   * hold, and writes it into `svc`: clusterIP(s), nodePorts, the LoadBalancer ingress IP.
   * Requested values are checked against the range and claimed as asked. Returns the new claims,
   * which the caller releases with `release` if its write fails. Throws Invalid (in Kubernetes'
   * words) for a requested value out of range or taken, and releases what it claimed before.
   */
  async allocate(svc: Service, old?: Service): Promise<Allocation> {
    const owner = ownerOf(svc);
    const claimed: Allocation = { clusterIPs: [], nodePorts: [], loadBalancerIPs: [] };
    try {
      await this.allocateClusterIP(svc, old, owner, claimed);
      await this.allocateNodePorts(svc, old, owner, claimed);
      await this.allocateLoadBalancerIP(svc, old, owner, claimed);
    } catch (err) {
      await this.release(claimed, owner.uid);
      throw err;
    }
    return claimed;
  }

  /** What a stored Service holds. */
  held(svc: Service | undefined): Allocation {
    const spec = svc?.spec;
    const ips = (spec?.clusterIPs ?? []).filter((ip) => ip && ip !== 'None');
    return {
      clusterIPs: spec?.type === 'ExternalName' ? [] : ips,
      nodePorts: (spec?.ports ?? []).map((p) => p.nodePort ?? 0).filter((p) => p > 0),
      loadBalancerIPs: (svc?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '').filter((ip) => ip && inRange(this.loadBalancerCidr, ip)),
    };
  }

  /** What `old` held that `next` no longer does. */
  dropped(next: Service, old: Service): Allocation {
    const a = this.held(old);
    const b = this.held(next);
    return {
      clusterIPs: a.clusterIPs.filter((ip) => !b.clusterIPs.includes(ip)),
      nodePorts: a.nodePorts.filter((p) => !b.nodePorts.includes(p)),
      loadBalancerIPs: a.loadBalancerIPs.filter((ip) => !b.loadBalancerIPs.includes(ip)),
    };
  }

  /**
   * Deletes the keys of `allocation` that `uid` owns (a key another Service owns is left alone).
   * Never throws for a key already gone; throws a StorageError when etcd fails.
   */
  async release(allocation: Allocation, uid: string): Promise<void> {
    const keys = [
      ...allocation.clusterIPs.map((ip) => SERVICE_IPS_PREFIX + ip),
      ...allocation.nodePorts.map((p) => NODE_PORTS_PREFIX + p),
      ...allocation.loadBalancerIPs.map((ip) => LOADBALANCER_IPS_PREFIX + ip),
    ];
    for (const key of keys) {
      const stored = await this.storage.get(key);
      if (!stored) continue;
      let owner: Partial<Owner> = {};
      try {
        owner = JSON.parse(stored.value.toString('utf8'));
      } catch {
        // An unreadable claim is nobody's: free it.
      }
      if (owner.uid && owner.uid !== uid) continue;
      try {
        await this.storage.delete(key, stored.modRevision);
      } catch (err) {
        if (!(err instanceof KeyNotFoundError) && !(err instanceof RevisionConflictError)) throw err;
      }
    }
  }

  private async allocateClusterIP(svc: Service, old: Service | undefined, owner: Owner, claimed: Allocation): Promise<void> {
    const spec = (svc.spec ??= {});
    if (spec.type === 'ExternalName') return;
    const requested = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
    if (requested[0] === 'None') return;
    const held = this.held(old).clusterIPs;
    if (requested.length && requested.every((ip) => held.includes(ip))) return;
    const pool: Pool = { prefix: SERVICE_IPS_PREFIX, label: 'IP' };
    if (requested.length) {
      const ip = requested[0];
      const badValue = goStringSlice(requested);
      if (!inRange(this.serviceCidr, ip)) {
        throw invalid(svc, [field.invalid('spec.clusterIPs', badValue, `failed to allocate IP ${ip}: provided IP is not in the valid range. The range of valid IPs is ${this.serviceCidr.text}`)]);
      }
      if (!(await this.claim(pool, ip, owner))) {
        throw invalid(svc, [field.invalid('spec.clusterIPs', badValue, `failed to allocate IP ${ip}: provided IP is already allocated`)]);
      }
      claimed.clusterIPs.push(ip);
      return;
    }
    const [lo, hi] = usableRange(this.serviceCidr);
    const ip = await this.claimFree(pool, lo, hi, formatIPv4, owner);
    if (ip === undefined) throw invalid(svc, [field.invalid('spec.clusterIPs', goStringSlice([]), `failed to allocate a serviceIP: range is full`)]);
    claimed.clusterIPs.push(ip);
    spec.clusterIP = ip;
    spec.clusterIPs = [ip];
    if (!spec.ipFamilies?.length) spec.ipFamilies = ['IPv4'];
    if (!spec.ipFamilyPolicy) spec.ipFamilyPolicy = 'SingleStack';
  }

  private async allocateNodePorts(svc: Service, old: Service | undefined, owner: Owner, claimed: Allocation): Promise<void> {
    const spec = svc.spec!;
    const wants = spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
    const explicit = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
    if (!explicit) return;
    const held = this.held(old).nodePorts;
    const pool: Pool = { prefix: NODE_PORTS_PREFIX, label: 'port' };
    const { min, max } = this.nodePortRange;
    const ports = spec.ports ?? [];
    // A nodePort may serve TCP and UDP of the same port number: one claim per number.
    const mine = new Set<number>();
    for (let i = 0; i < ports.length; i++) {
      const p = ports[i];
      const requested = p.nodePort ?? 0;
      if (requested) {
        if (held.includes(requested) || mine.has(requested)) continue;
        const path = `spec.ports[${i}].nodePort`;
        if (requested < min || requested > max) {
          throw invalid(svc, [field.invalid(path, requested, `provided port is not in the valid range. The range of valid ports is ${min}-${max}`)]);
        }
        if (!(await this.claim(pool, String(requested), owner))) throw invalid(svc, [field.invalid(path, requested, 'provided port is already allocated')]);
        claimed.nodePorts.push(requested);
        mine.add(requested);
        continue;
      }
      if (!wants) continue;
      const port = await this.claimFree(pool, min, max, String, owner);
      if (port === undefined) throw invalid(svc, [field.invalid(`spec.ports[${i}].nodePort`, 0, 'failed to allocate a nodePort: range is full')]);
      p.nodePort = Number(port);
      claimed.nodePorts.push(p.nodePort);
      mine.add(p.nodePort);
    }
  }

  private async allocateLoadBalancerIP(svc: Service, old: Service | undefined, owner: Owner, claimed: Allocation): Promise<void> {
    if (svc.spec?.type !== 'LoadBalancer') {
      // Ingress IPs from our pool belong to LoadBalancer services only.
      const ingress = svc.status?.loadBalancer?.ingress;
      if (ingress?.length) svc.status!.loadBalancer!.ingress = ingress.filter((i) => !i.ip || !inRange(this.loadBalancerCidr, i.ip));
      return;
    }
    if (this.held(old).loadBalancerIPs.length) return;
    const [lo, hi] = usableRange(this.loadBalancerCidr);
    const ip = await this.claimFree({ prefix: LOADBALANCER_IPS_PREFIX, label: 'IP' }, lo, hi, formatIPv4, owner);
    if (ip === undefined) throw errors.invalid('Service', '', svc.metadata?.name ?? '', [field.invalid('status.loadBalancer.ingress', [], 'failed to allocate a LoadBalancer IP: pool is full')]);
    claimed.loadBalancerIPs.push(ip);
    const status = (svc.status ??= {});
    const lb = (status.loadBalancer ??= {});
    lb.ingress = [{ ip }, ...(lb.ingress ?? [])];
  }

  /** Claims `value` for `owner`; false when someone holds it. */
  private async claim(pool: Pool, value: string, owner: Owner): Promise<boolean> {
    try {
      await this.storage.create(pool.prefix + value, Buffer.from(JSON.stringify(owner)));
      return true;
    } catch (err) {
      if (err instanceof KeyExistsError) return false;
      throw err;
    }
  }

  /**
   * Claims a free value in [lo, hi]: reads the taken ones, then scans from a random offset (as
   * Kubernetes' allocator does, so that replicas rarely race for the same one); a lost race moves
   * on to the next. A scan that finds nothing reads again once (values freed meanwhile).
   * Undefined when the range is full.
   */
  private async claimFree(pool: Pool, lo: number, hi: number, format: (n: number) => string, owner: Owner): Promise<string | undefined> {
    const size = hi - lo + 1;
    for (let pass = 0; pass < SCAN_PASSES; pass++) {
      const taken = new Set((await this.storage.list(pool.prefix)).items.map((kv) => kv.key.slice(pool.prefix.length)));
      if (taken.size >= size) return undefined;
      const start = Math.floor(this.random() * size);
      for (let i = 0; i < size; i++) {
        const value = format(lo + ((start + i) % size));
        if (taken.has(value)) continue;
        if (await this.claim(pool, value, owner)) return value;
      }
    }
    return undefined;
  }
}

function ownerOf(svc: Service): Owner {
  return { namespace: svc.metadata?.namespace ?? '', name: svc.metadata?.name ?? '', uid: svc.metadata?.uid ?? '' };
}

function invalid(svc: Service, errs: FieldError[]) {
  return errors.invalid('Service', '', svc.metadata?.name ?? '', errs);
}

/** The allocator's configuration from the apiserver's environment (KUBEMU_SERVICE_CIDR, KUBEMU_LOADBALANCER_CIDR). */
export function allocatorOptionsFromEnv(env: NodeJS.ProcessEnv): ServiceAllocatorOptions {
  return { serviceCidr: env.KUBEMU_SERVICE_CIDR || undefined, loadBalancerCidr: env.KUBEMU_LOADBALANCER_CIDR || undefined };
}
