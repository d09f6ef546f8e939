/** Kubernetes DNS records resolved from in-memory caches, table-driven, as the specification and CoreDNS answer them. */
import { Rcode, RRType } from '../../services/cluster-dns/message';
import { ClusterDnsResolver, DNS_INDEXERS, ObjectSource } from '../../services/cluster-dns/records';
import { Endpoints, Pod, Service } from '../../services/lib/generated/kubemu/core/v1/core';

function source<T extends { metadata?: { namespace?: string; name?: string } }>(items: T[]): ObjectSource<T> {
  const m = new Map(items.map((o) => [`${o.metadata!.namespace}/${o.metadata!.name}`, o]));
  return { get: (k) => m.get(k), list: () => [...m.values()] };
}

const meta = (name: string, namespace = 'default') => ({ name, namespace });
const services: Service[] = [
  { metadata: meta('web'), spec: { type: 'ClusterIP', clusterIP: '127.96.0.10', ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }, { port: 9000 }] } },
  { metadata: meta('db'), spec: { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] } },
  { metadata: meta('ext'), spec: { type: 'ExternalName', externalName: 'example.com' } },
  { metadata: meta('pending'), spec: { type: 'ClusterIP', ports: [{ name: 'http', port: 80 }] } },
  { metadata: meta('empty'), spec: { clusterIP: 'None', ports: [{ name: 'http', port: 80 }] } },
  { metadata: meta('api', 'prod'), spec: { clusterIP: '127.96.0.20', ports: [{ name: 'grpc', port: 8080 }] } },
];
const endpoints: Endpoints[] = [
  {
    metadata: meta('db'),
    subsets: [
      {
        addresses: [{ ip: '127.1.0.5', hostname: 'db-0' }, { ip: '127.1.0.6', hostname: 'db-1' }, { ip: '127.1.0.7' }],
        notReadyAddresses: [{ ip: '127.1.0.8', hostname: 'db-2' }],
        ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
      },
    ],
  },
  { metadata: meta('web'), subsets: [{ addresses: [{ ip: '127.1.0.9' }], ports: [{ name: 'http', port: 8080 }] }] },
];
const pods: Pod[] = [{ metadata: meta('p1'), status: { podIP: '127.1.0.9' } }];

/** The same caches with the DNS indexes, as main.ts gives the informers. */
function indexed<T extends { metadata?: { namespace?: string; name?: string } }>(items: T[], indexers: Record<string, (o: T) => string[]>): ObjectSource<T> {
  return { ...source(items), byIndex: (name, value) => items.filter((o) => indexers[name]?.(o).includes(value)) };
}

const resolvers = {
  scanning: new ClusterDnsResolver({ services: source(services), endpoints: source(endpoints), pods: source(pods) }, { pods: 'verified' }),
  indexed: new ClusterDnsResolver(
    { services: indexed(services, DNS_INDEXERS.services), endpoints: indexed(endpoints, DNS_INDEXERS.endpoints), pods: indexed(pods, DNS_INDEXERS.pods) },
    { pods: 'verified' },
  ),
};
const resolver = resolvers.scanning;

type Row = [question: string, type: number, rcode: number, answers: string[]];
const NX = Rcode.NXDOMAIN;
const OK = Rcode.NOERROR;
const rows: Row[] = [
  ['ClusterIP A', RRType.A, OK, ['A 127.96.0.10']],
  ['ClusterIP A (other namespace)', RRType.A, OK, ['A 127.96.0.20']],
  ['headless A: every ready endpoint', RRType.A, OK, ['A 127.1.0.5', 'A 127.1.0.6', 'A 127.1.0.7']],
  ['SRV named TCP port', RRType.SRV, OK, ['SRV 0 100 80 web.default.svc.cluster.local.']],
  ['SRV named UDP port', RRType.SRV, OK, ['SRV 0 100 53 web.default.svc.cluster.local.']],
  ['SRV wrong protocol', RRType.SRV, NX, []],
  ['SRV unknown port', RRType.SRV, NX, []],
  ['headless SRV', RRType.SRV, OK, ['SRV 0 33 5432 db-0.db.default.svc.cluster.local.', 'SRV 0 33 5432 db-1.db.default.svc.cluster.local.', 'SRV 0 33 5432 127-1-0-7.db.default.svc.cluster.local.']],
  ['StatefulSet hostname A', RRType.A, OK, ['A 127.1.0.6']],
  ['not-ready hostname', RRType.A, NX, []],
  ['headless endpoint by dashed IP', RRType.A, OK, ['A 127.1.0.7']],
  ['pod A', RRType.A, OK, ['A 127.1.0.9']],
  ['pod A for an IP no pod has', RRType.A, NX, []],
  ['pod A in another namespace', RRType.A, NX, []],
  ['ExternalName CNAME', RRType.A, OK, ['CNAME example.com.']],
  ['NXDOMAIN: unknown service', RRType.A, NX, []],
  ['NXDOMAIN: headless service without ready endpoints', RRType.A, NX, []],
  ['NXDOMAIN: unknown namespace', RRType.A, NX, []],
  ['NXDOMAIN: junk under the zone', RRType.A, NX, []],
  ['NODATA: AAAA on a ClusterIP service', RRType.AAAA, OK, []],
  ['NODATA: TXT on a pod', RRType.TXT, OK, []],
  ['NODATA: service without a ClusterIP yet', RRType.A, OK, []],
  ['NODATA: namespace with services', RRType.A, OK, []],
  ['case-insensitive', RRType.A, OK, ['A 127.96.0.10']],
  ['PTR of a ClusterIP', RRType.PTR, OK, ['PTR web.default.svc.cluster.local.']],
  ['PTR of a headless endpoint', RRType.PTR, OK, ['PTR db-0.db.default.svc.cluster.local.']],
  ['PTR unknown', RRType.PTR, NX, []],
  ['SOA at the apex', RRType.SOA, OK, ['SOA ns.dns.cluster.local.']],
  ['schema version', RRType.TXT, OK, ['TXT 1.1.0']],
  ['outside the zone', RRType.A, Rcode.REFUSED, []],
];
const names: Record<string, string> = {
  'ClusterIP A': 'web.default.svc.cluster.local.',
  'ClusterIP A (other namespace)': 'api.prod.svc.cluster.local',
  'headless A: every ready endpoint': 'db.default.svc.cluster.local.',
  'SRV named TCP port': '_http._tcp.web.default.svc.cluster.local.',
  'SRV named UDP port': '_dns._udp.web.default.svc.cluster.local.',
  'SRV wrong protocol': '_http._udp.web.default.svc.cluster.local.',
  'SRV unknown port': '_nope._tcp.web.default.svc.cluster.local.',
  'headless SRV': '_pg._tcp.db.default.svc.cluster.local.',
  'StatefulSet hostname A': 'db-1.db.default.svc.cluster.local.',
  'not-ready hostname': 'db-2.db.default.svc.cluster.local.',
  'headless endpoint by dashed IP': '127-1-0-7.db.default.svc.cluster.local.',
  'pod A': '127-1-0-9.default.pod.cluster.local.',
  'pod A for an IP no pod has': '127-1-0-99.default.pod.cluster.local.',
  'pod A in another namespace': '127-1-0-9.prod.pod.cluster.local.',
  'ExternalName CNAME': 'ext.default.svc.cluster.local.',
  'NXDOMAIN: unknown service': 'nope.default.svc.cluster.local.',
  'NXDOMAIN: headless service without ready endpoints': 'empty.default.svc.cluster.local.',
  'NXDOMAIN: unknown namespace': 'web.nope.svc.cluster.local.',
  'NXDOMAIN: junk under the zone': 'web.default.cluster.local.',
  'NODATA: AAAA on a ClusterIP service': 'web.default.svc.cluster.local.',
  'NODATA: TXT on a pod': '127-1-0-9.default.pod.cluster.local.',
  'NODATA: service without a ClusterIP yet': 'pending.default.svc.cluster.local.',
  'NODATA: namespace with services': 'prod.svc.cluster.local.',
  'case-insensitive': 'WEB.Default.SVC.Cluster.Local.',
  'PTR of a ClusterIP': '10.0.96.127.in-addr.arpa.',
  'PTR of a headless endpoint': '5.0.1.127.in-addr.arpa.',
  'PTR unknown': '99.0.96.127.in-addr.arpa.',
  'SOA at the apex': 'cluster.local.',
  'schema version': 'dns-version.cluster.local.',
  'outside the zone': 'example.com.',
};

function show(r: { type: number; data: import('../../services/cluster-dns/message').RData }): string {
  const d = r.data;
  switch (d.kind) {
    case 'A':
      return `A ${d.address}`;
    case 'NAME':
      return `${r.type === RRType.CNAME ? 'CNAME' : r.type === RRType.PTR ? 'PTR' : 'NS'} ${d.target}`;
    case 'SRV':
      return `SRV ${d.priority} ${d.weight} ${d.port} ${d.target}`;
    case 'SOA':
      return `SOA ${d.mname}`;
    case 'TXT':
      return `TXT ${d.strings.join(' ')}`;
    default:
      return d.kind;
  }
}

describe.each(Object.keys(resolvers) as (keyof typeof resolvers)[])('dns records - resolution from caches (%s)', (which) => {
  it.each(rows)('%s', (what, type, rcode, answers) => {
    const name = names[what];
    const res = resolvers[which].resolve(name, type);
    expect(res.rcode).toBe(rcode);
    expect(res.answers.map(show)).toEqual(answers);
    if (rcode === Rcode.REFUSED) return;
    expect(res.authoritative).toBe(true);
    for (const a of res.answers) {
      expect(a.name).toBe(name.endsWith('.') ? name : name + '.');
      expect(a.ttl).toBe(5);
    }
    if (answers.length === 0) {
      // NXDOMAIN and NODATA carry the SOA, whose minimum is the negative TTL.
      expect(res.authority).toHaveLength(1);
      expect(res.authority[0].type).toBe(RRType.SOA);
      expect(res.authority[0].data).toMatchObject({ minimum: 5 });
    }
  });

});

describe('dns records - details', () => {
  it('SRV answers carry the targets A records as additional', () => {
    const res = resolver.resolve('_pg._tcp.db.default.svc.cluster.local.', RRType.SRV);
    expect(res.additional.map(show)).toEqual(['A 127.1.0.5', 'A 127.1.0.6', 'A 127.1.0.7']);
    expect(res.additional[0].name).toBe('db-0.db.default.svc.cluster.local.');
  });

  it('SRV on the service name lists every named port', () => {
    expect(resolver.resolve('web.default.svc.cluster.local.', RRType.SRV).answers.map(show)).toEqual([
      'SRV 0 50 80 web.default.svc.cluster.local.',
      'SRV 0 50 53 web.default.svc.cluster.local.',
    ]);
  });

  it('publishNotReadyAddresses includes not-ready endpoints', () => {
    const svc: Service = { metadata: meta('db'), spec: { clusterIP: 'None', publishNotReadyAddresses: true } };
    const r = new ClusterDnsResolver({ services: source([svc]), endpoints: source(endpoints) });
    expect(r.resolve('db-2.db.default.svc.cluster.local', RRType.A).answers.map(show)).toEqual(['A 127.1.0.8']);
  });

  it('pods insecure (the default, specification 2.6): any well-formed pod name answers; disabled: none', () => {
    const r = new ClusterDnsResolver({ services: source(services), endpoints: source(endpoints) });
    expect(r.resolve('127-9-9-9.any.pod.cluster.local', RRType.A).answers.map(show)).toEqual(['A 127.9.9.9']);
    expect(r.resolve('127-9-9-999.any.pod.cluster.local', RRType.A).rcode).toBe(Rcode.NXDOMAIN);
    expect(r.resolve('127-9-9.any.pod.cluster.local', RRType.A).rcode).toBe(Rcode.NXDOMAIN);
    const off = new ClusterDnsResolver({ services: source(services), endpoints: source(endpoints) }, { pods: 'disabled' });
    expect(off.resolve('127-9-9-9.any.pod.cluster.local', RRType.A).rcode).toBe(Rcode.NXDOMAIN);
  });

  it('the tolerate-unready-endpoints annotation publishes not-ready endpoints too', () => {
    const svc: Service = { metadata: { ...meta('db'), annotations: { 'service.alpha.kubernetes.io/tolerate-unready-endpoints': 'true' } }, spec: { clusterIP: 'None' } };
    const r = new ClusterDnsResolver({ services: source([svc]), endpoints: source(endpoints) });
    expect(r.resolve('db.default.svc.cluster.local', RRType.A).answers).toHaveLength(4);
  });

  it('answers follow the caches: a deleted service is NXDOMAIN at once', () => {
    const items = [...services];
    const src: ObjectSource<Service> = { get: (k) => items.find((s) => `${s.metadata!.namespace}/${s.metadata!.name}` === k), list: () => items };
    const r = new ClusterDnsResolver({ services: src, endpoints: source(endpoints) });
    expect(r.resolve('web.default.svc.cluster.local', RRType.A).rcode).toBe(Rcode.NOERROR);
    items.splice(0, 1);
    expect(r.resolve('web.default.svc.cluster.local', RRType.A).rcode).toBe(Rcode.NXDOMAIN);
  });

  it('another zone and TTL', () => {
    const r = new ClusterDnsResolver({ services: source(services), endpoints: source(endpoints) }, { zone: 'kubemu.test', ttl: 30 });
    const res = r.resolve('web.default.svc.kubemu.test.', RRType.A);
    expect(res.answers.map(show)).toEqual(['A 127.96.0.10']);
    expect(res.answers[0].ttl).toBe(30);
    expect(r.resolve('web.default.svc.cluster.local.', RRType.A).rcode).toBe(Rcode.REFUSED);
  });
});
