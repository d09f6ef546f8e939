/**
 * A diagnostic for the one case the kernel's arbitration gets wrong: a host process bound to the
 * wildcard address (0.0.0.0:port or [::]:port) makes every Service address with that port fail
 * with EADDRINUSE, so every kube-proxy believes another one holds it and nobody serves it. The
 * proxier asks here after EADDRINUSE and warns once per address.
 */
import * as fs from 'fs';
import { Protocol } from './servicemap';

const TCP_LISTEN = '0A';
/** /proc/net/udp reports bound UDP sockets as state 07 (TCP_CLOSE). */
const UDP_BOUND = '07';

/**
 * The ports bound on the wildcard address, per protocol, from /proc/net/{tcp,tcp6,udp,udp6}.
 * Empty sets where /proc is not readable (not Linux). Never throws.
 */
export function wildcardPorts(read: (file: string) => string = (f) => fs.readFileSync(f, 'utf8')): Record<Protocol, Set<number>> {
  const out: Record<Protocol, Set<number>> = { TCP: new Set(), UDP: new Set() };
  const files: Array<[string, Protocol, string]> = [
    ['/proc/net/tcp', 'TCP', TCP_LISTEN],
    ['/proc/net/tcp6', 'TCP', TCP_LISTEN],
    ['/proc/net/udp', 'UDP', UDP_BOUND],
    ['/proc/net/udp6', 'UDP', UDP_BOUND],
  ];
  for (const [file, protocol, state] of files) {
    let text: string;
    try {
      text = read(file);
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== state) continue;
      const [addr, portHex] = (f[1] ?? '').split(':');
      if (!addr || !portHex || !/^0+$/.test(addr)) continue;
      out[protocol].add(parseInt(portHex, 16));
    }
  }
  return out;
}

/** wildcardPorts() cached for `ttlMs`, so that retry loops do not read /proc each time. */
export class WildcardPortCache {
  private value?: Record<Protocol, Set<number>>;
  private readAt = 0;

  constructor(
    private readonly ttlMs = 10000,
    private readonly load: () => Record<Protocol, Set<number>> = () => wildcardPorts(),
  ) {}

  /** Whether a host socket holds the wildcard address on `port`. */
  has(protocol: Protocol, port: number): boolean {
    const now = Date.now();
    if (!this.value || now - this.readAt > this.ttlMs) {
      this.value = this.load();
      this.readAt = now;
    }
    return this.value[protocol].has(port);
  }
}
