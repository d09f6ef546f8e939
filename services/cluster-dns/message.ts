/**
 * DNS wire format (RFC 1035, EDNS0 from RFC 6891): decoding queries and encoding answers with
 * name compression. Only what an authoritative cluster DNS server needs; unknown record types
 * are carried as raw bytes so a decode/encode round trip loses nothing.
 */

export const RRType = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const;
export const RRClass = { IN: 1 } as const;
export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** Plain DNS over UDP without EDNS: answers longer than this are truncated (RFC 1035 4.2.1). */
export const CLASSIC_UDP_SIZE = 512;
/** The UDP payload size we advertise in our OPT record (the DNS Flag Day 2020 value). */
export const EDNS_UDP_SIZE = 1232;

export interface Header {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
}

export interface Question {
  name: string;
  type: number;
  class: number;
}

export type RData =
  | { kind: 'A'; address: string }
  | { kind: 'AAAA'; address: string }
  | { kind: 'NAME'; target: string } // CNAME, PTR, NS
  | { kind: 'SRV'; priority: number; weight: number; port: number; target: string }
  | { kind: 'SOA'; mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
  | { kind: 'TXT'; strings: string[] }
  | { kind: 'RAW'; bytes: Buffer };

/** A resource record. For OPT (type 41), `class` is the UDP payload size and `ttl` the extended rcode/flags. */
export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: RData;
}

export interface Message {
  header: Header;
  questions: Question[];
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
}

/** The input is not a well-formed DNS message; the server answers FORMERR. */
export class DnsFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DnsFormatError';
  }
}

export function emptyHeader(id = 0): Header {
  return { id, qr: false, opcode: 0, aa: false, tc: false, rd: false, ra: false, rcode: 0 };
}

// ---------------------------------------------------------------------------------------------
// Decoding

class Reader {
  constructor(readonly buf: Buffer, public pos = 0) {}
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new DnsFormatError(`message truncated at byte ${this.pos} (need ${n} more)`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  /** A possibly compressed name; pointers must point backwards, so loops are impossible. */
  name(): string {
    const labels: string[] = [];
    let pos = this.pos;
    let jumped = false;
    let length = 0;
    for (;;) {
      if (pos >= this.buf.length) throw new DnsFormatError('name runs past the end of the message');
      const len = this.buf[pos];
      if ((len & 0xc0) === 0xc0) {
        if (pos + 1 >= this.buf.length) throw new DnsFormatError('truncated compression pointer');
        const target = ((len & 0x3f) << 8) | this.buf[pos + 1];
        if (target >= pos) throw new DnsFormatError('compression pointer does not point backwards');
        if (!jumped) this.pos = pos + 2;
        jumped = true;
        pos = target;
        continue;
      }
      if ((len & 0xc0) !== 0) throw new DnsFormatError(`unsupported label type 0x${len.toString(16)}`);
      if (len === 0) {
        if (!jumped) this.pos = pos + 1;
        break;
      }
      if (pos + 1 + len > this.buf.length) throw new DnsFormatError('label runs past the end of the message');
      length += len + 1;
      if (length > 254) throw new DnsFormatError('name longer than 255 bytes');
      labels.push(escapeLabel(this.buf.subarray(pos + 1, pos + 1 + len)));
      pos += 1 + len;
    }
    return labels.length === 0 ? '.' : labels.join('.') + '.';
  }
}

/** Label bytes as presentation text: dots, backslashes and unprintable bytes escaped as in zone files. */
function escapeLabel(b: Buffer): string {
  let s = '';
  for (const c of b) {
    if (c === 0x2e || c === 0x5c) s += '\\' + String.fromCharCode(c);
    else if (c < 0x21 || c > 0x7e) s += '\\' + String(c).padStart(3, '0');
    else s += String.fromCharCode(c);
  }
  return s;
}

function readRecord(r: Reader): ResourceRecord {
  const name = r.name();
  const type = r.u16();
  const klass = r.u16();
  const ttl = r.u32();
  const rdlength = r.u16();
  r.need(rdlength);
  const end = r.pos + rdlength;
  let data: RData;
  const sub = new Reader(r.buf.subarray(0, end), r.pos);
  switch (type) {
    case RRType.A:
      if (rdlength !== 4) throw new DnsFormatError('A record with rdlength ' + rdlength);
      data = { kind: 'A', address: [...sub.bytes(4)].join('.') };
      break;
    case RRType.AAAA: {
      if (rdlength !== 16) throw new DnsFormatError('AAAA record with rdlength ' + rdlength);
      const b = sub.bytes(16);
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
      data = { kind: 'AAAA', address: groups.join(':') };
      break;
    }
    case RRType.CNAME:
    case RRType.PTR:
    case RRType.NS:
      data = { kind: 'NAME', target: sub.name() };
      break;
    case RRType.SRV:
      data = { kind: 'SRV', priority: sub.u16(), weight: sub.u16(), port: sub.u16(), target: sub.name() };
      break;
    case RRType.SOA:
      data = { kind: 'SOA', mname: sub.name(), rname: sub.name(), serial: sub.u32(), refresh: sub.u32(), retry: sub.u32(), expire: sub.u32(), minimum: sub.u32() };
      break;
    case RRType.TXT: {
      const strings: string[] = [];
      while (sub.pos < end) strings.push(sub.bytes(sub.u8()).toString('latin1'));
      data = { kind: 'TXT', strings };
      break;
    }
    default:
      data = { kind: 'RAW', bytes: Buffer.from(sub.bytes(rdlength)) };
  }
  if (sub.pos !== end) throw new DnsFormatError(`record data of type ${type} does not match its rdlength`);
  r.pos = end;
  return { name, type, class: klass, ttl, data };
}

/** Decodes a whole message. Throws DnsFormatError on anything malformed, including trailing bytes; never anything else. */
export function decodeMessage(buf: Buffer): Message {
  const r = new Reader(buf);
  if (buf.length < 12) throw new DnsFormatError(`message of ${buf.length} bytes is shorter than a header`);
  const id = r.u16();
  const flags = r.u16();
  const header: Header = {
    id,
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
  };
  const [qd, an, ns, ar] = [r.u16(), r.u16(), r.u16(), r.u16()];
  const questions: Question[] = [];
  for (let i = 0; i < qd; i++) questions.push({ name: r.name(), type: r.u16(), class: r.u16() });
  const section = (n: number) => {
    const out: ResourceRecord[] = [];
    for (let i = 0; i < n; i++) out.push(readRecord(r));
    return out;
  };
  const msg: Message = { header, questions, answers: section(an), authority: section(ns), additional: section(ar) };
  if (r.pos !== buf.length) throw new DnsFormatError(`${buf.length - r.pos} trailing bytes after the message`);
  return msg;
}

/** The id of a message that failed to decode, when at least its first two bytes are there. */
export function peekId(buf: Buffer): number | undefined {
  return buf.length >= 2 ? buf.readUInt16BE(0) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Splits a presentation name into raw labels, undoing escapes. Throws DnsFormatError when a label or the name is too long. */
export function nameLabels(name: string): Buffer[] {
  if (name === '.' || name === '') return [];
  const labels: Buffer[] = [];
  let cur: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === '\\') {
      const digits = name.slice(i + 1, i + 4);
      if (/^\d{3}$/.test(digits)) {
        cur.push(Number(digits));
        i += 3;
      } else {
        cur.push(name.charCodeAt(i + 1));
        i += 1;
      }
    } else if (ch === '.') {
      labels.push(Buffer.from(cur));
      cur = [];
    } else {
      cur.push(name.charCodeAt(i) & 0xff);
    }
  }
  if (cur.length > 0) labels.push(Buffer.from(cur));
  let total = 1;
  for (const l of labels) {
    if (l.length === 0 || l.length > 63) throw new DnsFormatError(`bad label length ${l.length} in ${name}`);
    total += l.length + 1;
  }
  if (total > 255) throw new DnsFormatError(`name longer than 255 bytes: ${name}`);
  return labels;
}

class Writer {
  private buf = Buffer.alloc(512);
  len = 0;
  /** Lower-cased name suffix → offset of its first occurrence, for compression (RFC 1035 4.1.4). */
  private readonly names = new Map<string, number>();

  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(v: number): void {
    this.grow(1);
    this.buf[this.len++] = v;
  }
  u16(v: number): void {
    this.grow(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }
  u32(v: number): void {
    this.grow(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }
  bytes(b: Buffer): void {
    this.grow(b.length);
    b.copy(this.buf, this.len);
    this.len += b.length;
  }
  setU16(at: number, v: number): void {
    this.buf.writeUInt16BE(v, at);
  }
  name(name: string, compress = true): void {
    const labels = nameLabels(name);
    for (let i = 0; i < labels.length; i++) {
      const key = labels.slice(i).map((l) => l.toString('latin1').toLowerCase()).join('.');
      const at = this.names.get(key);
      if (compress && at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.len < 0x4000) this.names.set(key, this.len);
      this.u8(labels[i].length);
      this.bytes(labels[i]);
    }
    this.u8(0);
  }
  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

function writeRecord(w: Writer, rr: ResourceRecord): void {
  w.name(rr.name);
  w.u16(rr.type);
  w.u16(rr.class);
  w.u32(rr.ttl);
  const lenAt = w.len;
  w.u16(0);
  const start = w.len;
  const d = rr.data;
  switch (d.kind) {
    case 'A': {
      const parts = d.address.split('.').map(Number);
      if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 address ${d.address}`);
      for (const p of parts) w.u8(p);
      break;
    }
    case 'AAAA':
      w.bytes(ipv6Bytes(d.address));
      break;
    case 'NAME':
      w.name(d.target);
      break;
    case 'SRV':
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      // RFC 2782: the SRV target must not be compressed.
      w.name(d.target, false);
      break;
    case 'SOA':
      w.name(d.mname);
      w.name(d.rname);
      for (const v of [d.serial, d.refresh, d.retry, d.expire, d.minimum]) w.u32(v);
      break;
    case 'TXT':
      for (const s of d.strings) {
        const b = Buffer.from(s, 'latin1');
        if (b.length > 255) throw new Error('TXT string longer than 255 bytes');
        w.u8(b.length);
        w.bytes(b);
      }
      break;
    case 'RAW':
      w.bytes(d.bytes);
      break;
  }
  w.setU16(lenAt, w.len - start);
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) throw new Error(`bad IPv6 address ${address}`);
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

function encodeSections(msg: Message, sections: { answers: ResourceRecord[]; authority: ResourceRecord[]; additional: ResourceRecord[] }, tc: boolean): Buffer {
  const w = new Writer();
  const h = msg.header;
  w.u16(h.id);
  w.u16((h.qr ? 0x8000 : 0) | ((h.opcode & 0xf) << 11) | (h.aa ? 0x0400 : 0) | (tc ? 0x0200 : 0) | (h.rd ? 0x0100 : 0) | (h.ra ? 0x0080 : 0) | (h.rcode & 0xf));
  w.u16(msg.questions.length);
  w.u16(sections.answers.length);
  w.u16(sections.authority.length);
  w.u16(sections.additional.length);
  for (const q of msg.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const rr of sections.answers) writeRecord(w, rr);
  for (const rr of sections.authority) writeRecord(w, rr);
  for (const rr of sections.additional) writeRecord(w, rr);
  return w.result();
}

/**
 * Encodes a message with name compression. When it is longer than `maxSize` (a UDP limit), the
 * answer, authority and additional records are dropped (an OPT record is kept) and the TC bit
 * set, telling the client to retry over TCP (RFC 2181 9). Throws on records it cannot encode.
 */
export function encodeMessage(msg: Message, maxSize = 65535): Buffer {
  const full = encodeSections(msg, msg, msg.header.tc);
  if (full.length <= maxSize) return full;
  const opt = msg.additional.filter((rr) => rr.type === RRType.OPT);
  return encodeSections(msg, { answers: [], authority: [], additional: opt }, true);
}

/** An OPT pseudo-record (EDNS0) advertising `udpSize`; no options. */
export function optRecord(udpSize = EDNS_UDP_SIZE): ResourceRecord {
  return { name: '.', type: RRType.OPT, class: udpSize, ttl: 0, data: { kind: 'RAW', bytes: Buffer.alloc(0) } };
}
