import * as fs from 'fs';
import * as path from 'path';

/**
 * Pod IP address management for one node, inside 127.0.0.0/8 (Linux routes all of it
 * to loopback, so any process may bind any of these addresses without privilege).
 *
 * Address plan (defaults; every range is configurable):
 * - 127.0.0.1            the control plane (etcd, NATS, apiserver, …)
 * - 127.1.0.0/16         node IPs: node index i → the (i+1)-th usable address, 127.1.0.1, 127.1.0.2, …
 * - 127.10.0.0–127.127.255.255  pod ranges: node index i → 127.(10+i).0.0/16 (118 nodes).
 *                        For many (simulated) nodes choose a longer mask, e.g. start
 *                        127.64.0.0 with /24 per node → 16,384 nodes of 254 pods.
 * - 127.128.0.0/9        left free for Service ClusterIPs and LoadBalancer IPs.
 *
 * Inside every range, addresses whose last octet is 0 or 255 are never handed out: they
 * look like network/broadcast addresses to people and to tools, and skipping them costs
 * 2 of every 256. A /16 thus holds 65,024 pods, a /24 254.
 *
 * Allocation is round-robin from the last address handed out (as CNI host-local does),
 * so a released IP is not reused until the range wraps: a late packet or a stale
 * Endpoints entry for a deleted pod does not reach its successor.
 */

/** The node's pod range has no free address. */
export class PodIPExhaustedError extends Error {
  constructor(readonly podCIDR: string, readonly podUid: string) {
    super(`failed to allocate an IP for pod ${podUid}: no IP addresses available in range ${podCIDR}`);
    this.name = 'PodIPExhaustedError';
  }
}

/** A range option that is malformed or outside 127.0.0.0/8. */
export class IpamConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IpamConfigError';
  }
}

export interface PodRangeOptions {
  /** First address of node 0's pod range; must be aligned to nodeMaskSize. Default 127.10.0.0. */
  rangeStart?: string;
  /** Prefix length of each node's pod range, 9..30. Default 16. */
  nodeMaskSize?: number;
  /** Pod ranges must end before this address. Default 127.128.0.0. */
  rangeLimit?: string;
}

export interface NodeIPOptions {
  /** Node IP range. Default 127.1.0.0/16. */
  nodeCIDR?: string;
}

const LOOPBACK_BASE = 127 << 24;
const LOOPBACK_END = (128 * 2 ** 24) >>> 0; // exclusive

function parseIPv4(ip: string, what: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) throw new IpamConfigError(`${what}: ${JSON.stringify(ip)} is not an IPv4 address`);
  const octets = m.slice(1).map(Number);
  if (octets.some((o) => o > 255)) throw new IpamConfigError(`${what}: ${JSON.stringify(ip)} is not an IPv4 address`);
  return ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
}

function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function usable(n: number): boolean {
  const last = n & 255;
  return last !== 0 && last !== 255;
}

function parseCIDR(cidr: string, what: string): { base: number; size: number } {
  const [ip, bits, extra] = cidr.split('/');
  const mask = Number(bits);
  if (extra !== undefined || !Number.isInteger(mask) || mask < 8 || mask > 30) {
    throw new IpamConfigError(`${what}: ${JSON.stringify(cidr)} is not a CIDR with a prefix length of 8..30`);
  }
  const base = parseIPv4(ip, what);
  const size = 2 ** (32 - mask);
  if (base % size !== 0) throw new IpamConfigError(`${what}: ${cidr} is not aligned to its prefix length`);
  if (base < LOOPBACK_BASE || base + size > LOOPBACK_END) throw new IpamConfigError(`${what}: ${cidr} is not inside 127.0.0.0/8`);
  return { base, size };
}

/** The n-th (0-based) usable address of a range, skipping .0 and .255. Undefined past its end. */
function nthUsable(base: number, size: number, n: number): number | undefined {
  let addr: number;
  if (size >= 256) addr = base + Math.floor(n / 254) * 256 + (n % 254) + 1;
  else {
    addr = base;
    for (let seen = -1; addr < base + size; addr++) if (usable(addr) && ++seen === n) break;
  }
  return addr < base + size && usable(addr) ? addr : undefined;
}

/**
 * The pod CIDR of node `index` (0-based): rangeStart + index × the node range size.
 * Throws IpamConfigError when the options are malformed or the range would pass rangeLimit.
 */
export function podCIDRForNode(index: number, options: PodRangeOptions = {}): string {
  const mask = options.nodeMaskSize ?? 16;
  if (!Number.isInteger(mask) || mask < 9 || mask > 30) throw new IpamConfigError(`nodeMaskSize ${mask} must be an integer in 9..30`);
  if (!Number.isInteger(index) || index < 0) throw new IpamConfigError(`node index ${index} must be a non-negative integer`);
  const size = 2 ** (32 - mask);
  const start = parseIPv4(options.rangeStart ?? '127.10.0.0', 'rangeStart');
  const limit = parseIPv4(options.rangeLimit ?? '127.128.0.0', 'rangeLimit');
  if (start % size !== 0) throw new IpamConfigError(`rangeStart ${formatIPv4(start)} is not aligned to /${mask}`);
  if (start < LOOPBACK_BASE || limit > LOOPBACK_END) throw new IpamConfigError('pod ranges must lie inside 127.0.0.0/8');
  const base = start + index * size;
  if (base + size > limit) {
    const max = Math.floor((limit - start) / size);
    throw new IpamConfigError(`node index ${index} has no pod range: ${max} node ranges of /${mask} fit between ${formatIPv4(start)} and ${formatIPv4(limit)}`);
  }
  return `${formatIPv4(base)}/${mask}`;
}

/**
 * The IP of node `index` (0-based): the (index+1)-th usable address of nodeCIDR
 * (127.1.0.1, 127.1.0.2, …, skipping .0 and .255). Throws IpamConfigError past the range.
 */
export function nodeIP(index: number, options: NodeIPOptions = {}): string {
  const cidr = options.nodeCIDR ?? '127.1.0.0/16';
  const { base, size } = parseCIDR(cidr, 'nodeCIDR');
  if (!Number.isInteger(index) || index < 0) throw new IpamConfigError(`node index ${index} must be a non-negative integer`);
  const addr = nthUsable(base, size, index);
  if (addr === undefined) throw new IpamConfigError(`node index ${index} has no address in ${cidr}`);
  return formatIPv4(addr);
}

interface StateFile {
  version: 1;
  podCIDR: string;
  /** Last address handed out; allocation resumes after it. */
  last: string | null;
  /** pod UID → IP. */
  allocations: Record<string, string>;
}

export interface PodIPAllocatorOptions extends PodRangeOptions {
  /** Folder for the state file (`pod-ips.json`); created if missing. */
  stateDir: string;
  /** This node's 0-based index; selects the pod range. Ignored when podCIDR is given. */
  nodeIndex?: number;
  /** Explicit pod range (e.g. from Node.spec.podCIDR), overriding nodeIndex. */
  podCIDR?: string;
}

/**
 * One node's pod IP allocator. State is kept in `<stateDir>/pod-ips.json`, rewritten
 * atomically (temporary file, fsync, rename) on every change, so a restarted runtime
 * keeps every pod's address. Methods are synchronous and therefore atomic within one
 * process; the state file must not be shared by two live allocators.
 */
export class PodIPAllocator {
  readonly podCIDR: string;
  /** Pod UIDs whose saved addresses were outside the current range and were dropped on load. */
  readonly droppedOnLoad: string[] = [];
  private readonly base: number;
  private readonly size: number;
  private readonly file: string;
  private readonly byPod = new Map<string, number>();
  private readonly byIP = new Map<number, string>();
  private last: number | undefined;

  /** Opens (or creates) the allocator's state. Throws IpamConfigError, or an fs error if the state cannot be read or is corrupt. */
  constructor(options: PodIPAllocatorOptions) {
    this.podCIDR = options.podCIDR ?? podCIDRForNode(options.nodeIndex ?? 0, options);
    ({ base: this.base, size: this.size } = parseCIDR(this.podCIDR, 'podCIDR'));
    fs.mkdirSync(options.stateDir, { recursive: true });
    this.file = path.join(options.stateDir, 'pod-ips.json');
    this.load();
  }

  /** The IP of pod `podUid`, allocating one if it has none (idempotent). Throws PodIPExhaustedError. */
  allocate(podUid: string): string {
    const existing = this.byPod.get(podUid);
    if (existing !== undefined) return formatIPv4(existing);
    const start = this.last !== undefined ? this.last - this.base + 1 : 0;
    for (let i = 0; i < this.size; i++) {
      const addr = this.base + ((start + i) % this.size);
      if (!usable(addr) || this.byIP.has(addr)) continue;
      this.byPod.set(podUid, addr);
      this.byIP.set(addr, podUid);
      this.last = addr;
      this.save();
      return formatIPv4(addr);
    }
    throw new PodIPExhaustedError(this.podCIDR, podUid);
  }

  /** Frees pod `podUid`'s IP. Returns false when it had none (idempotent). */
  release(podUid: string): boolean {
    const addr = this.byPod.get(podUid);
    if (addr === undefined) return false;
    this.byPod.delete(podUid);
    this.byIP.delete(addr);
    this.save();
    return true;
  }

  /** Pod `podUid`'s IP, if allocated. */
  get(podUid: string): string | undefined {
    const addr = this.byPod.get(podUid);
    return addr === undefined ? undefined : formatIPv4(addr);
  }

  /** A snapshot of pod UID → IP. */
  allocations(): Map<string, string> {
    return new Map([...this.byPod].map(([uid, addr]) => [uid, formatIPv4(addr)]));
  }

  /** How many addresses the range can hand out in all. */
  capacity(): number {
    let n = 0;
    if (this.size >= 256) return (this.size / 256) * 254;
    for (let a = this.base; a < this.base + this.size; a++) if (usable(a)) n++;
    return n;
  }

  private load(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    let state: StateFile;
    try {
      state = JSON.parse(text) as StateFile;
    } catch (err) {
      throw new Error(`pod IP state ${this.file} is corrupt: ${(err as Error).message}`, { cause: err });
    }
    for (const [uid, ip] of Object.entries(state.allocations ?? {})) {
      let addr: number;
      try {
        addr = parseIPv4(ip, 'saved allocation');
      } catch {
        this.droppedOnLoad.push(uid);
        continue;
      }
      if (addr < this.base || addr >= this.base + this.size || !usable(addr) || this.byIP.has(addr)) {
        this.droppedOnLoad.push(uid);
        continue;
      }
      this.byPod.set(uid, addr);
      this.byIP.set(addr, uid);
    }
    if (state.last && state.podCIDR === this.podCIDR) {
      const last = parseIPv4(state.last, 'saved cursor');
      if (last >= this.base && last < this.base + this.size) this.last = last;
    }
    if (this.droppedOnLoad.length > 0) this.save();
  }

  private save(): void {
    const state: StateFile = {
      version: 1,
      podCIDR: this.podCIDR,
      last: this.last === undefined ? null : formatIPv4(this.last),
      allocations: Object.fromEntries(this.allocations()),
    };
    const tmp = `${this.file}.tmp-${process.pid}`;
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, JSON.stringify(state, null, 2) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
  }
}
