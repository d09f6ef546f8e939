import { HTTPIngressPath } from '../../services/lib/generated/kubemu/networking/v1/networking';
import { createMessages, updateMessages } from './fixtures';

const P0 = 'spec.rules[0].http.paths[0]';

// The first path of the ingress fixture's first rule, changed by `f`.
function withPath(f: (p: HTTPIngressPath) => void) {
  return (o: { spec?: { rules?: Array<{ http?: { paths?: HTTPIngressPath[] } }> } }) => f(o.spec!.rules![0].http!.paths![0]);
}

describe('ingress', () => {
  test('ingress - rules or a default backend', () => {
    expect(createMessages('ingress', (o) => (o.spec!.rules = []))).toEqual(['spec: Invalid value: []: either `defaultBackend` or `rules` must be specified']);
    expect(createMessages('ingress', (o) => Object.assign(o.spec!, { rules: [], defaultBackend: { service: { name: 'web', port: { number: 80 } } } }))).toEqual([]);
  });

  test('ingress - hosts are DNS names, optionally with a *. wildcard', () => {
    expect(createMessages('ingress', (o) => (o.spec!.rules![0].host = '*.example.com'))).toEqual([]);
    expect(createMessages('ingress', (o) => (o.spec!.rules![0].host = 'web.*.com'))).toEqual([
      "spec.rules[0].host: Invalid value: \"web.*.com\": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ]);
    expect(createMessages('ingress', (o) => (o.spec!.rules![0].host = '10.0.0.1'))).toEqual(['spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address']);
  });

  test('ingress - pathType is required and supported', () => {
    expect(createMessages('ingress', withPath((p) => (p.pathType = '')))).toEqual([`${P0}.pathType: Required value: pathType must be specified`]);
    expect(createMessages('ingress', withPath((p) => (p.pathType = 'Regex')))).toEqual([
      `${P0}.pathType: Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"`,
    ]);
  });

  test('ingress - Prefix and Exact paths are absolute and clean', () => {
    expect(createMessages('ingress', withPath((p) => (p.path = 'api')))).toEqual([`${P0}.path: Invalid value: "api": must be an absolute path`]);
    expect(createMessages('ingress', withPath((p) => (p.path = '/a//b')))).toEqual([`${P0}.path: Invalid value: "/a//b": must not contain '//'`]);
    expect(createMessages('ingress', withPath((p) => (p.path = '/a/..')))).toEqual([`${P0}.path: Invalid value: "/a/..": cannot end with '/..'`]);
    expect(createMessages('ingress', withPath((p) => Object.assign(p, { path: '', pathType: 'ImplementationSpecific' })))).toEqual([]);
  });

  test('ingress - a backend is a service or a resource, not both', () => {
    expect(createMessages('ingress', withPath((p) => (p.backend = {})))).toEqual([`${P0}.backend: Invalid value: "": resource or service backend is required`]);
    expect(createMessages('ingress', withPath((p) => (p.backend!.resource = { kind: 'Bucket', name: 'static' })))).toEqual([
      `${P0}.backend: Invalid value: "": cannot set both resource and service backends`,
    ]);
    expect(createMessages('ingress', withPath((p) => (p.backend = { resource: { apiGroup: 'storage.example.com', kind: 'Bucket', name: 'static' } })))).toEqual([]);
  });

  test('ingress - a service backend port is a name or a number, not both', () => {
    expect(createMessages('ingress', withPath((p) => (p.backend!.service!.port = { name: 'http', number: 80 })))).toEqual([
      `${P0}.backend: Invalid value: "": cannot set both port name & port number`,
    ]);
    expect(createMessages('ingress', withPath((p) => (p.backend!.service!.port = {})))).toEqual([`${P0}.backend: Required value: port name or number is required`]);
    expect(createMessages('ingress', withPath((p) => (p.backend!.service!.port = { number: 70000 })))).toEqual([
      `${P0}.backend.service.port.number: Invalid value: 70000: must be between 1 and 65535, inclusive`,
    ]);
    expect(createMessages('ingress', withPath((p) => (p.backend!.service!.name = '')))).toEqual([`${P0}.backend.service.name: Required value`]);
  });

  test('ingress - TLS hosts are DNS names', () => {
    expect(createMessages('ingress', (o) => (o.spec!.tls![0].hosts = ['Web.example.com']))).toHaveLength(1);
  });

  test('ingress - the class annotation agrees with ingressClassName', () => {
    expect(createMessages('ingress', (o) => (o.metadata!.annotations = { 'kubernetes.io/ingress.class': 'nginx' }))).toEqual([
      'annotations.kubernetes.io/ingress.class: Invalid value: "nginx": must match `ingressClassName` when both are specified',
    ]);
  });
});

describe('ingressclass', () => {
  test('ingressclass - controller is a domain-prefixed path', () => {
    expect(createMessages('ingressClass', (o) => (o.spec!.controller = ''))).toEqual(['spec.controller: Required value']);
    expect(createMessages('ingressClass', (o) => (o.spec!.controller = 'ingress-controller'))).toEqual([
      'spec.controller: Invalid value: "ingress-controller": must be a domain-prefixed path (such as "acme.io/foo")',
    ]);
    expect(createMessages('ingressClass', (o) => (o.spec!.controller = 'k8s.io/' + 'x'.repeat(250)))).toContain('spec.controller: Too long: may not be more than 250 bytes');
  });

  test('ingressclass - parameters scope and namespace agree', () => {
    expect(createMessages('ingressClass', (o) => (o.spec!.parameters = { kind: 'Config', name: 'cfg' }))).toEqual([]);
    expect(createMessages('ingressClass', (o) => (o.spec!.parameters = { kind: 'Config', name: 'cfg', scope: 'Namespace' }))).toEqual([
      "spec.parameters.namespace: Required value: `parameters.scope` is set to 'Namespace'",
    ]);
  });

  test('ingressclass update - the controller is immutable', () => {
    expect(updateMessages('ingressClass', (o) => (o.spec!.controller = 'example.com/other'))).toEqual(['spec.controller: Invalid value: "example.com/other": field is immutable']);
  });
});

describe('lease', () => {
  test('lease - leaseDurationSeconds is positive, leaseTransitions not negative', () => {
    expect(createMessages('lease', (o) => (o.spec!.leaseDurationSeconds = 0))).toEqual(['spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0']);
    expect(createMessages('lease', (o) => (o.spec!.leaseTransitions = -1))).toEqual(['spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0']);
    expect(createMessages('lease', (o) => (o.spec = {}))).toEqual([]);
  });

  test('lease - a preferred holder needs a strategy', () => {
    expect(createMessages('lease', (o) => (o.spec!.preferredHolder = 'scheduler-2'))).toEqual(['spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined']);
  });

  test('lease update - holder changes are ordinary updates', () => {
    expect(updateMessages('lease', (o) => Object.assign(o.spec!, { holderIdentity: 'scheduler-2', leaseTransitions: 1 }))).toEqual([]);
  });
});
