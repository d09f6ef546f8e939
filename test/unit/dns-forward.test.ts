/** Forwarding names outside cluster.local to upstream resolvers, over UDP and TCP, with an in-process upstream on loopback. */
import { promises as dnsPromises } from 'dns';
import * as dgram from 'dgram';
import { Forwarder, parseResolvConf, parseUpstreams } from '../../services/cluster-dns/forward';
import { ClusterDnsResolver, ObjectSource } from '../../services/cluster-dns/records';
import { DnsServer } from '../../services/cluster-dns/server';
import { Endpoints, Service } from '../../services/lib/generated/kubemu/core/v1/core';

const all: Service[] = [
  { metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '127.96.0.10' } },
  { metadata: { name: 'ext', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'web.default.svc.upstream.test' } },
  { metadata: { name: 'gone', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'nope.default.svc.upstream.test' } },
];
const services: ObjectSource<Service> = { get: (k) => all.find((s) => `default/${s.metadata!.name}` === k), list: () => all };
const endpoints: ObjectSource<Endpoints> = { get: () => undefined, list: () => [] };

describe('dns forward - configuration', () => {
  it('reads nameservers from resolv.conf', () => {
    expect(parseResolvConf('# c\nsearch x\nnameserver 10.0.0.1\nnameserver  fd00::1\nnameserver bogus\noptions ndots:5\n')).toEqual([
      { host: '10.0.0.1', port: 53 },
      { host: 'fd00::1', port: 53 },
    ]);
  });
  it('parses upstream lists, rejecting junk', () => {
    expect(parseUpstreams('127.0.0.1:5353, 10.0.0.1,[::1]:54')).toEqual([
      { host: '127.0.0.1', port: 5353 },
      { host: '10.0.0.1', port: 53 },
      { host: '::1', port: 54 },
    ]);
    expect(() => parseUpstreams('dns.example:53')).toThrow(/bad upstream/);
  });
});

describe('dns forward - relaying', () => {
  let upstream: DnsServer;
  let cluster: DnsServer;
  let deadEnd: DnsServer;
  let silent: dgram.Socket;

  beforeAll(async () => {
    // The "host resolver": authoritative for upstream.test only.
    upstream = new DnsServer({ resolver: new ClusterDnsResolver({ services, endpoints }, { zone: 'upstream.test' }), host: '127.0.0.1', port: 0 });
    await upstream.start();
    cluster = new DnsServer({
      resolver: new ClusterDnsResolver({ services, endpoints }),
      host: '127.0.0.1',
      port: 0,
      forwarder: new Forwarder([{ host: '127.0.0.1', port: upstream.port }], 500),
    });
    await cluster.start();
    // An upstream that never answers.
    silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    deadEnd = new DnsServer({
      resolver: new ClusterDnsResolver({ services, endpoints }),
      host: '127.0.0.1',
      port: 0,
      forwarder: new Forwarder([{ host: '127.0.0.1', port: silent.address().port }], 200),
    });
    await deadEnd.start();
  });

  afterAll(async () => {
    await cluster?.stop();
    await upstream?.stop();
    await deadEnd?.stop();
    silent?.close();
  });

  const resolverFor = (s: DnsServer) => {
    const r = new dnsPromises.Resolver({ timeout: 1000, tries: 1 });
    r.setServers([s.address]);
    return r;
  };

  it('cluster names are answered locally, other names through the upstream', async () => {
    const r = resolverFor(cluster);
    await expect(r.resolve4('web.default.svc.cluster.local')).resolves.toEqual(['127.96.0.10']);
    await expect(r.resolve4('web.default.svc.upstream.test')).resolves.toEqual(['127.96.0.10']);
    // The upstream's own REFUSED and NXDOMAIN come back as they are.
    await expect(r.resolve4('nope.default.svc.upstream.test').catch((e: NodeJS.ErrnoException) => e.code)).resolves.toBe('ENOTFOUND');
    await expect(r.resolve4('example.com').catch((e: NodeJS.ErrnoException) => e.code)).resolves.toBe('EREFUSED');
  });

  it('an ExternalName CNAME is chased through the upstream', async () => {
    const r = resolverFor(cluster);
    await expect(r.resolve4('ext.default.svc.cluster.local')).resolves.toEqual(['127.96.0.10']);
    await expect(r.resolveCname('ext.default.svc.cluster.local')).resolves.toEqual(['web.default.svc.upstream.test']);
    await expect(r.resolve4('gone.default.svc.cluster.local').catch((e: NodeJS.ErrnoException) => e.code)).resolves.toBe('ENOTFOUND');
    // Without a forwarder (deadEnd's upstream never answers) the CNAME alone comes back.
    const d = resolverFor(deadEnd);
    await expect(d.resolveCname('ext.default.svc.cluster.local')).resolves.toEqual(['web.default.svc.upstream.test']);
  });

  it('forwards over TCP when the client used TCP', async () => {
    const net = await import('net');
    const { encodeMessage, decodeMessage, emptyHeader, RRType, RRClass } = await import('../../services/cluster-dns/message');
    const q = encodeMessage({ header: { ...emptyHeader(9), rd: true }, questions: [{ name: 'web.default.svc.upstream.test.', type: RRType.A, class: RRClass.IN }], answers: [], authority: [], additional: [] });
    const framed = Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]);
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const sock = net.connect(cluster.port, '127.0.0.1', () => sock.write(framed));
      let buf = Buffer.alloc(0);
      sock.on('error', reject);
      sock.on('data', (c) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          sock.destroy();
          resolve(buf.subarray(2));
        }
      });
    });
    const d = decodeMessage(reply);
    expect(d.header.id).toBe(9);
    expect(d.answers.map((a) => a.data)).toEqual([{ kind: 'A', address: '127.96.0.10' }]);
  });

  it('SERVFAIL when no upstream answers', async () => {
    const r = resolverFor(deadEnd);
    await expect(r.resolve4('example.com').catch((e: NodeJS.ErrnoException) => e.code)).resolves.toBe('ESERVFAIL');
    await expect(r.resolve4('web.default.svc.cluster.local')).resolves.toEqual(['127.96.0.10']);
  });
});
