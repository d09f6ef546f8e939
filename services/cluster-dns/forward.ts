/**
 * Forwarding of names outside the cluster zones to the host's resolvers (CoreDNS's
 * `forward . /etc/resolv.conf`): the query is relayed as is, over the transport the client used,
 * trying each upstream in turn; the first well-formed answer with the query's id wins.
 */
import * as dgram from 'dgram';
import * as fs from 'fs';
import * as net from 'net';

export interface Upstream {
  host: string;
  port: number;
}

/** The nameserver lines of a resolv.conf text (IPv4 and IPv6), port 53. Never throws. */
export function parseResolvConf(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && net.isIP(m[1])) out.push({ host: m[1], port: 53 });
  }
  return out;
}

/** Parses "host:port,host:port" (port default 53; IPv6 as [addr]:port). Throws on a malformed entry. */
export function parseUpstreams(list: string): Upstream[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s);
      if (!m || !net.isIP(m[1])) throw new Error(`bad upstream DNS server "${s}"`);
      return { host: m[1], port: m[2] ? Number(m[2]) : 53 };
    });
}

/** The host's resolvers from /etc/resolv.conf (none when it cannot be read). */
export function hostUpstreams(file = '/etc/resolv.conf'): Upstream[] {
  try {
    return parseResolvConf(fs.readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
}

function udpExchange(up: Upstream, query: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(up.host) ? 'udp6' : 'udp4');
    const timer = setTimeout(() => done(new Error(`upstream ${up.host}:${up.port} timed out`)), timeoutMs);
    const done = (err?: Error, res?: Buffer) => {
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(res!);
    };
    sock.on('error', (err) => done(err));
    sock.on('message', (msg, rinfo) => {
      // Only the upstream's answer to this id; anything else (spoofed, stray) is ignored.
      if (rinfo.address !== up.host || rinfo.port !== up.port || msg.length < 12 || msg.readUInt16BE(0) !== query.readUInt16BE(0) || (msg[2] & 0x80) === 0) return;
      done(undefined, msg);
    });
    sock.send(query, up.port, up.host);
  });
}

function tcpExchange(up: Upstream, query: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(up.port, up.host);
    let pending = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error(`upstream ${up.host}:${up.port} timed out`)), timeoutMs);
    const done = (err?: Error, res?: Buffer) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    sock.on('error', (err) => done(err));
    sock.on('connect', () => {
      const f = Buffer.alloc(query.length + 2);
      f.writeUInt16BE(query.length);
      query.copy(f, 2);
      sock.write(f);
    });
    sock.on('data', (c) => {
      pending = Buffer.concat([pending, c]);
      if (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) done(undefined, pending.subarray(2, 2 + pending.readUInt16BE(0)));
    });
  });
}

/**
 * Relays a query to the upstreams in order; resolves the first answer, or undefined when every
 * upstream failed or timed out (the caller answers SERVFAIL). Never rejects; safe to call concurrently.
 */
export class Forwarder {
  constructor(readonly upstreams: Upstream[], private readonly timeoutMs = 2000) {}

  async forward(query: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    for (const up of this.upstreams) {
      try {
        return await (transport === 'udp' ? udpExchange : tcpExchange)(up, query, this.timeoutMs);
      } catch {
        // next upstream
      }
    }
    return undefined;
  }
}
