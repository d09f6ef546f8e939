/** DNS wire format: round trips, name compression, malformed input never throwing anything but DnsFormatError, truncation. */
import {
  decodeMessage,
  DnsFormatError,
  emptyHeader,
  encodeMessage,
  Message,
  optRecord,
  Rcode,
  RRClass,
  RRType,
  ResourceRecord,
} from '../../services/cluster-dns/message';
import { handleQuery } from '../../services/cluster-dns/server';
import { ClusterDnsResolver } from '../../services/cluster-dns/records';
import { Endpoints, Service } from '../../services/lib/generated/kubemu/core/v1/core';

const rr = (name: string, type: number, data: ResourceRecord['data'], ttl = 5): ResourceRecord => ({ name, type, class: RRClass.IN, ttl, data });

function query(name: string, type: number, opts: { id?: number; edns?: number } = {}): Buffer {
  return encodeMessage({
    header: { ...emptyHeader(opts.id ?? 0x1234), rd: true },
    questions: [{ name, type, class: RRClass.IN }],
    answers: [],
    authority: [],
    additional: opts.edns ? [optRecord(opts.edns)] : [],
  });
}

describe('dns message - round trips', () => {
  const msg: Message = {
    header: { id: 42, qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: false, rcode: Rcode.NXDOMAIN },
    questions: [{ name: 'web.default.svc.cluster.local.', type: RRType.A, class: RRClass.IN }],
    answers: [
      rr('web.default.svc.cluster.local.', RRType.A, { kind: 'A', address: '127.96.0.10' }),
      rr('_http._tcp.web.default.svc.cluster.local.', RRType.SRV, { kind: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local.' }),
      rr('ext.default.svc.cluster.local.', RRType.CNAME, { kind: 'NAME', target: 'example.com.' }),
      rr('10.0.96.127.in-addr.arpa.', RRType.PTR, { kind: 'NAME', target: 'web.default.svc.cluster.local.' }),
      rr('cluster.local.', RRType.NS, { kind: 'NAME', target: 'ns.dns.cluster.local.' }),
      rr('dns-version.cluster.local.', RRType.TXT, { kind: 'TXT', strings: ['1.1.0'] }),
      rr('v6.example.', RRType.AAAA, { kind: 'AAAA', address: 'fd00:0:0:0:0:0:0:1' }),
      rr('raw.example.', 99, { kind: 'RAW', bytes: Buffer.from([1, 2, 3]) }),
    ],
    authority: [
      rr('cluster.local.', RRType.SOA, { kind: 'SOA', mname: 'ns.dns.cluster.local.', rname: 'hostmaster.cluster.local.', serial: 7, refresh: 7200, retry: 1800, expire: 86400, minimum: 5 }),
    ],
    additional: [optRecord(1232)],
  };

  it('decode(encode(m)) equals m for every record type', () => {
    const decoded = decodeMessage(encodeMessage(msg));
    expect(decoded.header).toEqual(msg.header);
    expect(decoded.questions).toEqual(msg.questions);
    expect(decoded.answers.map((a) => a.data)).toEqual(msg.answers.map((a) => a.data));
    expect(decoded.answers.map((a) => [a.name, a.type, a.ttl])).toEqual(msg.answers.map((a) => [a.name, a.type, a.ttl]));
    expect(decoded.authority).toEqual(msg.authority);
    expect(decoded.additional[0].type).toBe(RRType.OPT);
    expect(decoded.additional[0].class).toBe(1232);
  });

  it('compresses repeated names: the answer owner points at the question name', () => {
    const m: Message = { ...msg, answers: msg.answers.slice(0, 1), authority: [], additional: [] };
    const buf = encodeMessage(m);
    // header 12 + question name 31 + 4, then the answer name is a pointer to offset 12.
    expect(buf.readUInt16BE(12 + 31 + 4)).toBe(0xc000 | 12);
    expect(buf.length).toBe(12 + 31 + 4 + 2 + 10 + 4);
  });

  it('compresses suffixes case-insensitively and keeps the question case (0x20)', () => {
    const m: Message = {
      header: emptyHeader(1),
      questions: [{ name: 'WeB.DeFault.svc.cluster.local.', type: RRType.A, class: RRClass.IN }],
      answers: [rr('web.default.svc.cluster.local.', RRType.A, { kind: 'A', address: '127.0.0.1' }), rr('db.default.svc.cluster.local.', RRType.A, { kind: 'A', address: '127.0.0.2' })],
      authority: [],
      additional: [],
    };
    const d = decodeMessage(encodeMessage(m));
    expect(d.questions[0].name).toBe('WeB.DeFault.svc.cluster.local.');
    expect(d.answers[0].name).toBe('WeB.DeFault.svc.cluster.local.');
    expect(d.answers[1].name).toBe('db.DeFault.svc.cluster.local.');
  });

  it('escapes dots and unprintable bytes inside labels and reads them back', () => {
    const m: Message = { header: emptyHeader(1), questions: [{ name: 'a\\.b.c\\255.', type: RRType.A, class: RRClass.IN }], answers: [], authority: [], additional: [] };
    expect(decodeMessage(encodeMessage(m)).questions[0].name).toBe('a\\.b.c\\255.');
  });
});

describe('dns message - malformed input', () => {
  const good = query('web.default.svc.cluster.local.', RRType.A);
  const cases: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['short header', Buffer.from([0, 1, 0, 0, 0])],
    ['question count without questions', Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0])],
    ['truncated question', good.subarray(0, good.length - 2)],
    ['trailing bytes', Buffer.concat([good, Buffer.from([0])])],
    ['forward pointer', Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1])],
    ['pointer loop', Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 14, 0xc0, 12, 0, 1, 0, 1])],
    ['label past end', Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 40, 97, 0, 1, 0, 1])],
    ['reserved label type', Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x40, 0, 1, 0, 1])],
    ['answer with short rdata', Buffer.from([0, 1, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 3, 1, 2, 3])],
  ];
  it.each(cases)('%s → DnsFormatError', (_name, buf) => {
    expect(() => decodeMessage(buf)).toThrow(DnsFormatError);
  });

  it('random garbage never throws anything but DnsFormatError, and the server answers FORMERR or nothing', () => {
    const resolver = new ClusterDnsResolver({ services: { get: () => undefined, list: () => [] }, endpoints: { get: () => undefined, list: () => [] } });
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256);
    for (let i = 0; i < 3000; i++) {
      const buf = i % 2 === 0 ? Buffer.from(Array.from({ length: rand() % 80 }, rand)) : Buffer.from(good.map((b, j) => (j === (rand() % good.length) ? rand() : b)));
      try {
        decodeMessage(buf);
      } catch (err) {
        expect(err).toBeInstanceOf(DnsFormatError);
      }
      const res = handleQuery(resolver, buf, 'udp');
      if (res) expect(() => decodeMessage(res)).not.toThrow();
    }
  });

  it('the server answers FORMERR with the query id', () => {
    const resolver = new ClusterDnsResolver({ services: { get: () => undefined, list: () => [] }, endpoints: { get: () => undefined, list: () => [] } });
    const res = decodeMessage(handleQuery(resolver, Buffer.from([0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12]), 'udp')!);
    expect(res.header.id).toBe(0xabcd);
    expect(res.header.qr).toBe(true);
    expect(res.header.rcode).toBe(Rcode.FORMERR);
  });
});

describe('dns message - truncation and EDNS0', () => {
  // A headless service with 60 ready endpoints: 60 A records of 16 bytes (compressed) ≈ 1 KB.
  const svc: Service = { metadata: { name: 'big', namespace: 'default' }, spec: { clusterIP: 'None', ports: [{ name: 'http', port: 80 }] } };
  const addresses = Array.from({ length: 60 }, (_, i) => ({ ip: `127.1.0.${i + 1}` }));
  const resolver = new ClusterDnsResolver({
    services: { get: (k) => (k === 'default/big' ? svc : undefined), list: () => [svc] },
    endpoints: { get: (k) => (k === 'default/big' ? { metadata: { name: 'big', namespace: 'default' }, subsets: [{ addresses, ports: [{ name: 'http', port: 80 }] }] } : undefined), list: () => [] },
  });
  const name = 'big.default.svc.cluster.local.';

  it('UDP without EDNS: over 512 bytes → TC set, no records', () => {
    const res = handleQuery(resolver, query(name, RRType.A), 'udp')!;
    expect(res.length).toBeLessThanOrEqual(512);
    const d = decodeMessage(res);
    expect(d.header.tc).toBe(true);
    expect(d.answers).toHaveLength(0);
    expect(d.questions[0].name).toBe(name);
  });

  it('UDP with EDNS 1232: fits, answered with an OPT record of 1232', () => {
    const d = decodeMessage(handleQuery(resolver, query(name, RRType.A, { edns: 1232 }), 'udp')!);
    expect(d.header.tc).toBe(false);
    expect(d.answers).toHaveLength(60);
    const opt = d.additional.find((r) => r.type === RRType.OPT)!;
    expect(opt.class).toBe(1232);
  });

  it('UDP with EDNS 600: over the advertised size → TC, the OPT kept', () => {
    const res = handleQuery(resolver, query(name, RRType.A, { edns: 600 }), 'udp')!;
    const d = decodeMessage(res);
    expect(d.header.tc).toBe(true);
    expect(d.answers).toHaveLength(0);
    expect(d.additional.map((r) => r.type)).toEqual([RRType.OPT]);
  });

  it('TCP: never truncated', () => {
    const d = decodeMessage(handleQuery(resolver, query(name, RRType.A), 'tcp')!);
    expect(d.header.tc).toBe(false);
    expect(d.answers).toHaveLength(60);
  });

  it('no OPT in the answer when the query had none; NOTIMP for another opcode', () => {
    const d = decodeMessage(handleQuery(resolver, query(name, RRType.SRV), 'tcp')!);
    expect(d.additional.some((r) => r.type === RRType.OPT)).toBe(false);
    const q = query(name, RRType.A);
    q[2] |= 2 << 3; // opcode 2 (STATUS)
    expect(decodeMessage(handleQuery(resolver, q, 'udp')!).header.rcode).toBe(Rcode.NOTIMP);
  });
});

describe('dns message - ExternalName to a name of the cluster zone', () => {
  const svcs: Service[] = [
    { metadata: { name: 'db', namespace: 'default' }, spec: { clusterIP: 'None', ports: [{ name: 'http', port: 80 }] } },
    { metadata: { name: 'alias', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'db.default.svc.cluster.local' } },
    { metadata: { name: 'alias2', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'alias.default.svc.cluster.local' } },
    { metadata: { name: 'dangling', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'gone.default.svc.cluster.local' } },
    { metadata: { name: 'loop', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'loop.default.svc.cluster.local' } },
  ];
  const eps: Endpoints = { metadata: { name: 'db', namespace: 'default' }, subsets: [{ addresses: [{ ip: '127.70.0.5' }, { ip: '127.70.0.6' }], ports: [{ name: 'http', port: 80 }] }] };
  const byKey = new Map(svcs.map((s) => [`default/${s.metadata!.name}`, s]));
  const resolver = new ClusterDnsResolver({
    services: { get: (k) => byKey.get(k), list: () => svcs },
    endpoints: { get: (k) => (k === 'default/db' ? eps : undefined), list: () => [eps] },
  });
  const answers = (name: string, type: number) => {
    const d = decodeMessage(handleQuery(resolver, query(name, type), 'udp')!);
    return { rcode: d.header.rcode, records: d.answers.map((a) => (a.data.kind === 'NAME' ? `CNAME ${a.data.target}` : a.data.kind === 'A' ? `A ${a.data.address}` : a.data.kind)) };
  };

  it('follows the CNAME inside the zone and appends the target records, as CoreDNS does', () => {
    expect(answers('alias.default.svc.cluster.local.', RRType.A)).toEqual({ rcode: Rcode.NOERROR, records: ['CNAME db.default.svc.cluster.local.', 'A 127.70.0.5', 'A 127.70.0.6'] });
    expect(answers('alias2.default.svc.cluster.local.', RRType.A).records).toEqual(['CNAME alias.default.svc.cluster.local.', 'CNAME db.default.svc.cluster.local.', 'A 127.70.0.5', 'A 127.70.0.6']);
  });

  it('a target that does not exist gives its NXDOMAIN; a CNAME query or a loop gives the CNAME alone', () => {
    expect(answers('dangling.default.svc.cluster.local.', RRType.A)).toEqual({ rcode: Rcode.NXDOMAIN, records: ['CNAME gone.default.svc.cluster.local.'] });
    expect(answers('alias.default.svc.cluster.local.', RRType.CNAME).records).toEqual(['CNAME db.default.svc.cluster.local.']);
    expect(answers('loop.default.svc.cluster.local.', RRType.A).records).toEqual(['CNAME loop.default.svc.cluster.local.', 'CNAME loop.default.svc.cluster.local.']);
  });
});
