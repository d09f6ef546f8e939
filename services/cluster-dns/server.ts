/**
 * The cluster DNS server: UDP and TCP (RFC 1035 4.2) on one address:port, answering each query
 * from a ClusterDnsResolver. Malformed queries get FORMERR; nothing a client sends can crash it.
 */
import * as dgram from 'dgram';
import * as net from 'net';
import { Logger } from '../lib/log';
import {
  CLASSIC_UDP_SIZE,
  decodeMessage,
  EDNS_UDP_SIZE,
  emptyHeader,
  encodeMessage,
  Message,
  optRecord,
  peekId,
  Rcode,
  RRType,
} from './message';
import { Forwarder } from './forward';
import { ClusterDnsResolver, Resolution } from './records';

/**
 * Answers one query message. Returns the response bytes, or undefined when nothing should be sent
 * (a response was received, or the input is too short to carry an id). `transport` picks the size
 * limit: UDP answers are truncated (TC) past 512 bytes, or past the client's EDNS0 payload size.
 * `resolution`, when given, is the answer to the query's question (already worked out by the caller).
 * Never throws.
 */
export function handleQuery(resolver: ClusterDnsResolver, query: Buffer, transport: 'udp' | 'tcp', log?: Logger, resolution?: Resolution): Buffer | undefined {
  let msg: Message;
  try {
    msg = decodeMessage(query);
  } catch (err) {
    const id = peekId(query);
    if (id === undefined) return undefined;
    if (query.length >= 3 && (query[2] & 0x80) !== 0) return undefined; // a response, not a query
    log?.debug('malformed query', { err: (err as Error).message });
    return encodeMessage({ header: { ...emptyHeader(id), qr: true, rcode: Rcode.FORMERR }, questions: [], answers: [], authority: [], additional: [] });
  }
  if (msg.header.qr) return undefined;
  const opt = msg.additional.filter((rr) => rr.type === RRType.OPT);
  const header = { ...emptyHeader(msg.header.id), qr: true, opcode: msg.header.opcode, rd: msg.header.rd };
  const base: Message = { header, questions: msg.questions, answers: [], authority: [], additional: opt.length === 1 ? [optRecord(EDNS_UDP_SIZE)] : [] };
  const maxSize = transport === 'tcp' ? 65535 : opt.length === 1 ? Math.max(CLASSIC_UDP_SIZE, opt[0].class) : CLASSIC_UDP_SIZE;
  try {
    if (opt.length > 1 || (opt.length === 1 && opt[0].name !== '.')) {
      header.rcode = Rcode.FORMERR;
      return encodeMessage({ ...base, additional: [] }, maxSize);
    }
    if (msg.header.opcode !== 0) {
      header.rcode = Rcode.NOTIMP;
      return encodeMessage(base, maxSize);
    }
    if (msg.questions.length !== 1) {
      header.rcode = Rcode.FORMERR;
      return encodeMessage(base, maxSize);
    }
    const q = msg.questions[0];
    const res = chaseInZone(resolver, resolution ?? resolver.resolve(q.name, q.type, q.class), q.type, q.class);
    header.rcode = res.rcode;
    header.aa = res.authoritative;
    return encodeMessage({ ...base, answers: res.answers, authority: res.authority, additional: [...res.additional, ...base.additional] }, maxSize);
  } catch (err) {
    // A record we could not encode (bad data in an object) is our failure, not the client's.
    log?.warn('answering failed', { err: (err as Error).message, question: msg.questions[0]?.name });
    header.rcode = Rcode.SERVFAIL;
    header.aa = false;
    return encodeMessage({ ...base, answers: [], authority: [] });
  }
}

/** How many in-zone CNAMEs (ExternalName → ExternalName → ...) are followed before giving up. */
const MAX_CNAME_CHAIN = 8;

/**
 * An ExternalName whose target lies in our own zone (e.g. `db.default.svc.cluster.local`): the
 * CNAME followed by the target's records for the asked type and the target's rcode, as CoreDNS
 * answers (stub resolvers do not chase a CNAME themselves). Follows chains up to
 * MAX_CNAME_CHAIN, stopping at a loop. Returns a new Resolution; `res` is not modified.
 */
function chaseInZone(resolver: ClusterDnsResolver, res: Resolution, qtype: number, qclass: number): Resolution {
  if (qtype === RRType.CNAME || qtype === RRType.ANY) return res;
  let out = res;
  const seen = new Set<string>();
  for (let i = 0; i < MAX_CNAME_CHAIN; i++) {
    const last = out.answers[out.answers.length - 1];
    if (!last || last.type !== RRType.CNAME || last.data.kind !== 'NAME') return out;
    const target = last.data.target;
    const key = target.toLowerCase().replace(/\.$/, '');
    if (seen.has(key) || !resolver.isAuthoritativeFor(target)) return out;
    seen.add(key);
    const next = resolver.resolve(target, qtype, qclass);
    out = { ...out, rcode: next.rcode, answers: [...out.answers, ...next.answers], additional: [...out.additional, ...next.additional], authority: next.answers.length ? out.authority : next.authority };
  }
  return out;
}

/**
 * Answers one query like handleQuery, except that a well-formed query for a name outside the
 * resolver's zones is relayed to `forwarder` (its answer returned as is, SERVFAIL when no
 * upstream answered). Never rejects.
 */
export async function answerQuery(
  resolver: ClusterDnsResolver,
  query: Buffer,
  transport: 'udp' | 'tcp',
  forwarder: Forwarder | undefined,
  log?: Logger,
): Promise<Buffer | undefined> {
  if (forwarder && forwarder.upstreams.length > 0) {
    let msg: Message | undefined;
    try {
      msg = decodeMessage(query);
    } catch {
      msg = undefined;
    }
    if (msg && !msg.header.qr && msg.header.opcode === 0 && msg.questions.length === 1 && !resolver.isAuthoritativeFor(msg.questions[0].name)) {
      const res = await forwarder.forward(query, transport);
      if (res) return res;
      log?.warn('no upstream answered', { question: msg.questions[0].name });
      const opt = msg.additional.some((rr) => rr.type === RRType.OPT) ? [optRecord(EDNS_UDP_SIZE)] : [];
      try {
        return encodeMessage({
          header: { ...emptyHeader(msg.header.id), qr: true, rd: msg.header.rd, ra: true, rcode: Rcode.SERVFAIL },
          questions: msg.questions,
          answers: [],
          authority: [],
          additional: opt,
        });
      } catch {
        return undefined;
      }
    }
    if (msg && !msg.header.qr && msg.header.opcode === 0 && msg.questions.length === 1) {
      const q = msg.questions[0];
      const res = resolver.resolve(q.name, q.type, q.class);
      const cname = res.answers.length === 1 && res.answers[0].type === RRType.CNAME && res.answers[0].data.kind === 'NAME' ? res.answers[0].data.target : undefined;
      if (cname && q.type !== RRType.CNAME && q.type !== RRType.ANY && !resolver.isAuthoritativeFor(cname)) {
        await chaseExternalName(res, cname, q.type, forwarder, log);
      }
      return handleQuery(resolver, query, transport, log, res);
    }
  }
  return handleQuery(resolver, query, transport, log);
}

/**
 * An ExternalName's CNAME with the target's records from upstream appended (as CoreDNS does:
 * stub resolvers do not chase a CNAME themselves). Upstream NXDOMAIN becomes ours; an upstream
 * failure leaves the CNAME alone. Mutates `res`; never rejects.
 */
async function chaseExternalName(res: Resolution, target: string, qtype: number, forwarder: Forwarder, log?: Logger): Promise<void> {
  const id = Math.floor(Math.random() * 0x10000);
  const query = encodeMessage({
    header: { ...emptyHeader(id), rd: true },
    questions: [{ name: target, type: qtype, class: 1 }],
    answers: [],
    authority: [],
    additional: [optRecord(EDNS_UDP_SIZE)],
  });
  try {
    let raw = await forwarder.forward(query, 'udp');
    let reply = raw ? decodeMessage(raw) : undefined;
    if (reply?.header.tc) {
      raw = await forwarder.forward(query, 'tcp');
      reply = raw ? decodeMessage(raw) : undefined;
    }
    if (!reply || reply.header.id !== id) return;
    // Types we keep as raw bytes may hold compression pointers into the upstream's message, which
    // would be wrong in ours: only records we decoded field by field are passed on.
    res.answers.push(...reply.answers.filter((rr) => rr.type !== RRType.OPT && rr.data.kind !== 'RAW'));
    if (reply.header.rcode === Rcode.NXDOMAIN) res.rcode = Rcode.NXDOMAIN;
  } catch (err) {
    log?.debug('chasing an ExternalName failed', { target, err: (err as Error).message });
  }
}

export interface DnsServerOptions {
  resolver: ClusterDnsResolver;
  /** IPv4 address to listen on. */
  host: string;
  /** Port for both UDP and TCP; 0 picks a free one (the same for both, retried until both bind). */
  port: number;
  /** Where names outside the zones go; without one they are REFUSED. */
  forwarder?: Forwarder;
  log?: Logger;
}

/** Idle TCP connections are closed after this long (RFC 7766 suggests seconds). */
const TCP_IDLE_MS = 10000;

/**
 * UDP and TCP listeners on one address:port. start() resolves once both are bound; stop()
 * closes them and every open TCP connection. Not restartable.
 */
export class DnsServer {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly conns = new Set<net.Socket>();
  port = 0;

  constructor(private readonly opts: DnsServerOptions) {}

  get address(): string {
    return `${this.opts.host}:${this.port}`;
  }

  async start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const udp = dgram.createSocket('udp4');
      const port = await new Promise<number>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(this.opts.port, this.opts.host, () => {
          udp.off('error', reject);
          resolve(udp.address().port);
        });
      });
      const tcp = net.createServer((sock) => this.serveTcp(sock));
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(port, this.opts.host, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        udp.close();
        // With port 0, UDP's free port may be taken for TCP: try another.
        if (this.opts.port === 0 && attempt < 10) continue;
        throw err;
      }
      udp.on('message', (buf, rinfo) => {
        void answerQuery(this.opts.resolver, buf, 'udp', this.opts.forwarder, this.opts.log).then((res) => {
          if (!res) return;
          try {
            udp.send(res, rinfo.port, rinfo.address);
          } catch {
            // the socket closed while a forwarded query was out
          }
        });
      });
      udp.on('error', (err) => this.opts.log?.warn('udp socket error', { err: err.message }));
      this.udp = udp;
      this.tcp = tcp;
      this.port = port;
      return;
    }
  }

  private serveTcp(sock: net.Socket): void {
    this.conns.add(sock);
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    sock.on('close', () => this.conns.delete(sock));
    sock.on('error', () => sock.destroy());
    let pending = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < 2 + len) break;
        const query = pending.subarray(2, 2 + len);
        pending = pending.subarray(2 + len);
        // Answers may come back out of order when some are forwarded; RFC 7766 allows that (ids match them up).
        void answerQuery(this.opts.resolver, query, 'tcp', this.opts.forwarder, this.opts.log).then((res) => {
          if (!res || sock.destroyed) return;
          const framed = Buffer.alloc(2 + res.length);
          framed.writeUInt16BE(res.length, 0);
          res.copy(framed, 2);
          sock.write(framed);
        });
      }
    });
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await Promise.all([
      new Promise<void>((resolve) => (this.udp ? this.udp.close(() => resolve()) : resolve())),
      new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve())),
    ]);
  }
}
