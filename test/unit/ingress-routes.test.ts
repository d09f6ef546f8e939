/** The ingress controller's routing table: Kubernetes' host and path matching, merging, classes, ports. */
import { Endpoints, Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { Ingress, IngressClass, IngressRule } from '../../services/lib/generated/kubemu/networking/v1/networking';
import {
  buildRoutingTable,
  hostOf,
  matchRoute,
  ownIngressClass,
  prefixMatches,
  resolveUpstreams,
  RouteSources,
  RoutingTable,
  servesIngress,
  tlsFor,
} from '../../services/ingress-controller/routes';

const CLASS = 'kubemu';
const defaultClass = ownIngressClass(CLASS);

function svc(name: string, ports: Array<{ name?: string; port: number }>, ns = 'default'): Service {
  return { metadata: { name, namespace: ns }, spec: { ports: ports.map((p) => ({ ...p, protocol: 'TCP', targetPort: p.port })) } };
}
function eps(name: string, ips: string[], ports: Array<{ name?: string; port: number }>, ns = 'default'): Endpoints {
  return { metadata: { name, namespace: ns }, subsets: [{ addresses: ips.map((ip) => ({ ip })), ports: ports.map((p) => ({ ...p, protocol: 'TCP' })) }] };
}
function ing(name: string, rules: IngressRule[], extra: Partial<Ingress['spec']> = {}, meta: Partial<NonNullable<Ingress['metadata']>> = {}): Ingress {
  return {
    metadata: { name, namespace: 'default', creationTimestamp: '2024-01-01T00:00:00Z', uid: name, ...meta },
    spec: { ingressClassName: CLASS, rules, ...extra },
  };
}
function rule(host: string | undefined, paths: Array<[string, string, string]>): IngressRule {
  return { host, http: { paths: paths.map(([path, pathType, service]) => ({ path, pathType, backend: { service: { name: service, port: { number: 80 } } } })) } };
}

const services = new Map<string, Service>();
const endpoints = new Map<string, Endpoints>();
for (const [i, name] of ['a', 'b', 'c', 'd', 'e', 'dflt'].entries()) {
  services.set(`default/${name}`, svc(name, [{ name: 'http', port: 80 }]));
  endpoints.set(`default/${name}`, eps(name, [`127.64.0.${i + 1}`], [{ name: 'http', port: 8000 + i }]));
}

function table(ingresses: Ingress[], classes: IngressClass[] = [defaultClass]): RoutingTable {
  const src: RouteSources = {
    ingresses,
    ingressClasses: classes,
    service: (ns, n) => services.get(`${ns}/${n}`),
    endpoints: (ns, n) => endpoints.get(`${ns}/${n}`),
  };
  return buildRoutingTable(src, CLASS);
}

function target(t: RoutingTable, host: string, path: string): string {
  const m = matchRoute(t, hostOf(host), path);
  if (m.kind === 'none') return '404';
  return m.kind === 'route' ? m.route.backend.service : `default:${m.backend.service}`;
}

describe('ingress routes - hosts', () => {
  const t = table([
    ing('hosts', [rule('foo.com', [['/', 'Prefix', 'a']]), rule('*.foo.com', [['/', 'Prefix', 'b']]), rule('Bar.Example.com', [['/', 'Prefix', 'c']])]),
  ]);
  it.each([
    ['foo.com', 'a'],
    ['FOO.com', 'a'],
    ['foo.com:8080', 'a'],
    ['foo.com.', 'a'],
    ['bar.foo.com', 'b'],
    ['BAR.foo.com:443', 'b'],
    ['baz.bar.foo.com', '404'],
    ['xfoo.com', '404'],
    ['bar.example.com', 'c'],
    ['other.com', '404'],
    ['', '404'],
  ])('Host %p → %s', (host, want) => {
    expect(target(t, host, '/x')).toBe(want);
  });

  it('rules without a host match any host, after exact and wildcard hosts', () => {
    const t2 = table([ing('any', [rule(undefined, [['/', 'Prefix', 'd']]), rule('foo.com', [['/api', 'Prefix', 'a']])])]);
    expect(target(t2, 'whatever.org', '/x')).toBe('d');
    expect(target(t2, '127.0.0.1:8080', '/')).toBe('d');
    expect(target(t2, 'foo.com', '/api/v1')).toBe('a');
    // nginx picks the server block by name first: foo.com's unmatched path is not the catch-all's.
    expect(target(t2, 'foo.com', '/other')).toBe('404');
  });

  it('hostOf strips ports, brackets IPv6 and lowers case', () => {
    expect(hostOf('Foo.COM:80')).toBe('foo.com');
    expect(hostOf('[::1]:8080')).toBe('[::1]');
    expect(hostOf(undefined)).toBe('');
  });
});

describe('ingress routes - paths', () => {
  it.each([
    // [prefix as written, request path, matches]
    ['/foo', '/foo', true],
    ['/foo', '/foo/', true],
    ['/foo', '/foo/bar', true],
    ['/foo', '/foobar', false],
    ['/foo/', '/foo', true],
    ['/foo/', '/foo/bar', true],
    ['/aaa/bbb', '/aaa/bbbxyz', false],
    ['/aaa/bbb', '/aaa/bbb/ccc', true],
    ['/', '/anything', true],
    ['/', '/', true],
  ])('Prefix %p vs %p → %p', (prefix, path, want) => {
    const t = table([ing('p', [rule('h.com', [[prefix, 'Prefix', 'a']])])]);
    expect(target(t, 'h.com', path)).toBe(want ? 'a' : '404');
    expect(prefixMatches(prefix.replace(/\/+$/, ''), path)).toBe(want);
  });

  it.each([
    ['/foo', '/foo', true],
    ['/foo', '/foo/', false],
    ['/foo', '/Foo', false],
    ['/foo/', '/foo', false],
  ])('Exact %p vs %p → %p', (p, path, want) => {
    const t = table([ing('e', [rule('h.com', [[p, 'Exact', 'a']])])]);
    expect(target(t, 'h.com', path)).toBe(want ? 'a' : '404');
  });

  const t = table([
    ing('mix', [
      rule('h.com', [
        ['/', 'Prefix', 'a'],
        ['/foo', 'Prefix', 'b'],
        ['/foo/bar', 'Prefix', 'c'],
        ['/foo', 'Exact', 'd'],
        ['/impl', 'ImplementationSpecific', 'e'],
        ['nopath', 'Prefix', 'e'],
        ['/bogus', 'Regex', 'e'],
      ]),
    ]),
  ]);
  it.each([
    ['/', 'a'],
    ['/x', 'a'],
    ['/foo', 'd'],
    ['/foo/', 'b'],
    ['/foo/baz', 'b'],
    ['/foo/bar', 'c'],
    ['/foo/bar/1', 'c'],
    ['/foobar', 'a'],
    ['/impl/1', 'e'],
    ['/implx', 'a'],
    ['/bogus', 'a'],
  ])('longest match, Exact first: %p → %s', (path, want) => {
    expect(target(t, 'h.com', path)).toBe(want);
  });
});

describe('ingress routes - merging and default backend', () => {
  const older = ing('older', [rule('m.com', [['/shared', 'Prefix', 'a'], ['/old', 'Prefix', 'a']])], { defaultBackend: { service: { name: 'dflt', port: { number: 80 } } } }, { creationTimestamp: '2024-01-01T00:00:00Z' });
  const newer = ing('newer', [rule('m.com', [['/shared', 'Prefix', 'b'], ['/new', 'Prefix', 'b']])], { defaultBackend: { service: { name: 'e', port: { number: 80 } } } }, { creationTimestamp: '2024-06-01T00:00:00Z' });
  it.each([[[older, newer]], [[newer, older]]])('rules merge, the oldest Ingress wins a conflict (input order %#)', (list) => {
    const t = table(list);
    expect(target(t, 'm.com', '/shared')).toBe('a');
    expect(target(t, 'm.com', '/old/x')).toBe('a');
    expect(target(t, 'm.com', '/new')).toBe('b');
    expect(target(t, 'm.com', '/nothing')).toBe('default:dflt');
    expect(target(t, 'unknown.com', '/')).toBe('default:dflt');
    expect(t.ingresses).toEqual(['default/older', 'default/newer']);
  });

  it("a host's unmatched paths go to the defaultBackend of the oldest Ingress defining it", () => {
    const hostOnly = ing('host-only', [rule('n.com', [['/x', 'Prefix', 'c']])], {}, { creationTimestamp: '2023-01-01T00:00:00Z' });
    const t = table([older, newer, hostOnly, ing('z', [rule('z.com', [['/x', 'Prefix', 'c']])], { defaultBackend: { service: { name: 'd', port: { number: 80 } } } }, { creationTimestamp: '2025-01-01T00:00:00Z' })]);
    expect(target(t, 'z.com', '/nothing')).toBe('default:d');
    expect(target(t, 'n.com', '/nothing')).toBe('default:dflt');
    expect(target(t, 'other.com', '/')).toBe('default:dflt');
  });

  it('without any defaultBackend unmatched requests get none (404)', () => {
    expect(target(table([ing('x', [rule('a.com', [['/', 'Prefix', 'a']])])]), 'b.com', '/')).toBe('404');
  });
});

describe('ingress routes - classes', () => {
  const otherDefault: IngressClass = { metadata: { name: 'nginx', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } }, spec: { controller: 'k8s.io/ingress-nginx' } };
  const notDefault: IngressClass = { metadata: { name: CLASS }, spec: { controller: 'kubemu.io/ingress-controller' } };
  const alias: IngressClass = { metadata: { name: 'second' }, spec: { controller: 'kubemu.io/ingress-controller' } };
  const base = ing('i', []);
  it.each([
    ['ingressClassName ours', true, { ...base, spec: { ingressClassName: CLASS } }, [defaultClass]],
    ['ingressClassName another class', false, { ...base, spec: { ingressClassName: 'nginx' } }, [defaultClass, otherDefault]],
    ['ingressClassName of a class with our controller', true, { ...base, spec: { ingressClassName: 'second' } }, [notDefault, alias]],
    ['no class, ours is default', true, { ...base, spec: {} }, [defaultClass]],
    ['no class, ours is not default', false, { ...base, spec: {} }, [notDefault, otherDefault]],
    ['no class, another class of our controller is default', true, { ...base, spec: {} }, [notDefault, { ...alias, metadata: { ...alias.metadata, annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } } }]],
    ['no class, our class does not exist', false, { ...base, spec: {} }, []],
    ['legacy annotation ours', true, { ...base, spec: {}, metadata: { ...base.metadata, annotations: { 'kubernetes.io/ingress.class': CLASS } } }, [notDefault]],
    ['legacy annotation another', false, { ...base, spec: {}, metadata: { ...base.metadata, annotations: { 'kubernetes.io/ingress.class': 'nginx' } } }, [defaultClass]],
  ] as Array<[string, boolean, Ingress, IngressClass[]]>)('%s → served %p', (_, want, i, classes) => {
    expect(servesIngress(i, CLASS, classes)).toBe(want);
  });

  it('Ingresses of other classes are not routed', () => {
    const t = table([ing('theirs', [rule('t.com', [['/', 'Prefix', 'a']])], { ingressClassName: 'nginx' })]);
    expect(target(t, 't.com', '/')).toBe('404');
    expect(t.ingresses).toEqual([]);
  });
});

describe('ingress routes - backend ports and endpoints', () => {
  const multi = svc('multi', [{ name: 'http', port: 80 }, { name: 'admin', port: 9000 }]);
  const multiEps: Endpoints = {
    metadata: { name: 'multi', namespace: 'default' },
    subsets: [
      { addresses: [{ ip: '127.64.1.1' }, { ip: '127.64.1.2' }], notReadyAddresses: [{ ip: '127.64.1.9' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'admin', port: 9090, protocol: 'TCP' }] },
    ],
  };
  it.each([
    ['port number 80', { number: 80 }, ['127.64.1.1:8080', '127.64.1.2:8080']],
    ['port number 9000', { number: 9000 }, ['127.64.1.1:9090', '127.64.1.2:9090']],
    ['port name admin', { name: 'admin' }, ['127.64.1.1:9090', '127.64.1.2:9090']],
    ['unknown port number', { number: 81 }, []],
    ['unknown port name', { name: 'nope' }, []],
  ])('%s', (_, port, want) => {
    expect(resolveUpstreams(multi, multiEps, port).map((u) => `${u.ip}:${u.port}`)).toEqual(want);
  });

  it('a single unnamed port matches; a missing Service or Endpoints yields no upstream', () => {
    const one = svc('one', [{ port: 80 }]);
    expect(resolveUpstreams(one, eps('one', ['127.64.2.1'], [{ port: 3000 }]), { number: 80 })).toEqual([{ ip: '127.64.2.1', port: 3000 }]);
    expect(resolveUpstreams(undefined, eps('one', ['127.64.2.1'], [{ port: 3000 }]), { number: 80 })).toEqual([]);
    expect(resolveUpstreams(one, undefined, { number: 80 })).toEqual([]);
  });

  it('a backend of a missing Service is routed with no upstreams (the proxy answers 503)', () => {
    const t = table([ing('m', [rule('m.com', [['/', 'Prefix', 'missing']])])]);
    const m = matchRoute(t, 'm.com', '/');
    expect(m.kind === 'route' && m.route.backend.upstreams).toEqual([]);
  });
});

describe('ingress routes - TLS hosts and ssl-redirect', () => {
  const withTls = ing('tls', [rule('secure.com', [['/', 'Prefix', 'a']]), rule('plain.com', [['/', 'Prefix', 'b']]), rule('x.wild.com', [['/', 'Prefix', 'c']])], {
    tls: [{ hosts: ['secure.com', '*.wild.com'], secretName: 'cert' }],
  });
  it('TLS hosts map to their secret; wildcards cover one label', () => {
    const t = table([withTls]);
    expect(tlsFor(t.tls, 'secure.com')?.secret).toBe('default/cert');
    expect(tlsFor(t.tls, 'x.wild.com')?.secret).toBe('default/cert');
    expect(tlsFor(t.tls, 'a.x.wild.com')).toBeUndefined();
    expect(tlsFor(t.tls, 'plain.com')).toBeUndefined();
  });
  it('hosts with TLS redirect plain HTTP unless ssl-redirect is "false"', () => {
    const t = table([withTls]);
    const r = (host: string) => {
      const m = matchRoute(t, host, '/');
      return m.kind === 'route' && m.route.sslRedirect;
    };
    expect(r('secure.com')).toBe(true);
    expect(r('x.wild.com')).toBe(true);
    expect(r('plain.com')).toBe(false);
    const off = table([{ ...withTls, metadata: { ...withTls.metadata, annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' } } }]);
    const m = matchRoute(off, 'secure.com', '/');
    expect(m.kind === 'route' && m.route.sslRedirect).toBe(false);
  });
  it('a TLS entry without hosts covers the rules of its Ingress', () => {
    const t = table([ing('nohosts', [rule('r.com', [['/', 'Prefix', 'a']])], { tls: [{ secretName: 's' }] })]);
    expect(tlsFor(t.tls, 'r.com')?.secret).toBe('default/s');
  });
});
