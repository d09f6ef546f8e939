/**
 * Addresses of simulated nodes and their pods. Nothing ever dials them (a simulated pod has no
 * process), so they only need to be valid, unique and clearly apart from every real range:
 *
 * - node IPs: 127.2.0.0 – 127.9.255.255 (loopback, unused by kubemu: control plane 127.0.0.1,
 *   real node IPs 127.1.0.0/16, real pod ranges 127.10–127.127, Service IPs 127.128.0.0/9);
 *   simulated node i gets the i-th address, skipping last octets 0 and 255 (as the runtime's IPAM).
 *   Loopback, so a stray connection to a simulated node fails at once instead of leaving the host.
 * - pod ranges: 10.0.0.0/8 with a /24 per node, node i → 10.(i >> 8).(i & 255).0/24 (65,536
 *   nodes of 254 pods), KWOK's choice of a private range that is obviously fake in `kubectl get
 *   pods -o wide`. Endpoints of simulated pods point there; kube-proxy must not expect to reach
 *   them (as with KWOK).
 */

export const SIMULATED_NODE_IP_START = '127.2.0.0';
/** Nodes a process can address: 127.2.x.y up to 127.9.255.254, 254 per /24. */
export const MAX_SIMULATED_NODES = 65536;
const NODE_IPS_PER_24 = 254;

/** The node IP of simulated node `index` (0-based). Throws RangeError outside 0..MAX_SIMULATED_NODES-1. Pure. */
export function simulatedNodeIP(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_SIMULATED_NODES) throw new RangeError(`simulated node index ${index} out of range`);
  const block = Math.floor(index / NODE_IPS_PER_24); // which /24, counted from 127.2.0.0
  const host = (index % NODE_IPS_PER_24) + 1;
  return `127.${2 + (block >> 8)}.${block & 255}.${host}`;
}

/** The pod CIDR of simulated node `index` (0-based): 10.(i>>8).(i&255).0/24. Throws RangeError outside 0..65535. Pure. */
export function simulatedPodCIDR(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_SIMULATED_NODES) throw new RangeError(`simulated node index ${index} out of range`);
  return `10.${index >> 8}.${index & 255}.0/24`;
}

/**
 * Hands out pod IPs of one /24 (last octets 1..254), round robin from the last one given so a
 * released address is not reused at once (as CNI host-local). Single-threaded; no I/O.
 */
export class PodIPPool {
  private readonly prefix: string;
  private readonly used = new Set<number>();
  private last = 0;

  constructor(podCIDR: string) {
    const m = /^(\d+\.\d+\.\d+)\.0\/24$/.exec(podCIDR);
    if (!m) throw new RangeError(`PodIPPool wants a /24 ending in .0, got ${podCIDR}`);
    this.prefix = m[1];
  }

  /** A free address, or undefined when all 254 are in use. */
  allocate(): string | undefined {
    for (let i = 1; i <= 254; i++) {
      const host = ((this.last + i - 1) % 254) + 1;
      if (!this.used.has(host)) {
        this.used.add(host);
        this.last = host;
        return `${this.prefix}.${host}`;
      }
    }
    return undefined;
  }

  /** Marks an address (e.g. found on a pod after a restart) as used; ignores addresses outside the range. */
  claim(ip: string): void {
    const host = this.hostOf(ip);
    if (host !== undefined) this.used.add(host);
  }

  release(ip: string): void {
    const host = this.hostOf(ip);
    if (host !== undefined) this.used.delete(host);
  }

  get size(): number {
    return this.used.size;
  }

  private hostOf(ip: string): number | undefined {
    if (!ip.startsWith(this.prefix + '.')) return undefined;
    const host = Number(ip.slice(this.prefix.length + 1));
    return Number.isInteger(host) && host >= 1 && host <= 254 ? host : undefined;
  }
}
