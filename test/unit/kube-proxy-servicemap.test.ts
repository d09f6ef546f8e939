/** kube-proxy's listen table from plain Services, Endpoints and Nodes, table-driven. */
import { Endpoints, Node, Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { buildServiceMap, clientNodeOf, NodeInfo, nodeInfo, parseCidr, readyEndpoints, ServiceMap } from '../../services/kube-proxy/servicemap';

const CIDR = parseCidr('127.1.0.0/16')!;
const meta = (name: string, namespace = 'default') => ({ name, namespace });

function node(name: string, ip: string, podCIDR: string, ready = true): Node {
  return {
    metadata: { name },
    spec: { podCIDR, podCIDRs: [podCIDR] },
    status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

const NODES: NodeInfo[] = [
  node('n1', '127.1.0.1', '127.10.0.0/16'),
  node('n2', '127.1.0.2', '127.11.0.0/16'),
  node('sim', '10.9.0.1', '127.200.0.0/24'), // a simulated node outside the node CIDR
].map(nodeInfo);

function eps(name: string, subsets: Endpoints['subsets'], namespace = 'default'): Endpoints {
  return { metadata: meta(name, namespace), subsets };
}

/** web: two ready endpoints (one per node) and one not ready, ports http (8080) and metrics (9090). */
const WEB_EPS = eps('web', [
  {
    addresses: [
      { ip: '127.10.0.5', nodeName: 'n1' },
      { ip: '127.11.0.5', nodeName: 'n2' },
    ],
    notReadyAddresses: [{ ip: '127.10.0.9', nodeName: 'n1' }],
    ports: [
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'metrics', port: 9090, protocol: 'TCP' },
    ],
  },
]);

function build(services: Service[], endpoints: Endpoints[], nodes = NODES): ServiceMap {
  const byKey = new Map(endpoints.map((e) => [`${e.metadata!.namespace}/${e.metadata!.name}`, e]));
  return buildServiceMap(services, (k) => byKey.get(k), nodes, CIDR);
}

function summary(m: ServiceMap): string[] {
  return [...m.entries.values()]
    .map((e) => `${e.key} ${e.kind} ${e.servicePort.id} -> ${e.servicePort.endpoints.map((x) => x.key).join(',')} ${e.scope.kind === 'node' ? `node=${e.scope.nodeName}` : e.scope.kind}`)
    .sort();
}

const webPorts = [
  { name: 'http', port: 80, protocol: 'TCP', targetPort: 'http', nodePort: 30080 },
  { name: 'metrics', port: 9000, protocol: 'TCP', targetPort: 9090, nodePort: 30090 },
];

describe('kube-proxy servicemap - Service types', () => {
  const cases: Array<{ name: string; svc: Service; want: string[] }> = [
    {
      name: 'ClusterIP: the ClusterIP per port, ready endpoints only, named ports matched by name',
      svc: { metadata: meta('web'), spec: { type: 'ClusterIP', clusterIP: '127.130.0.10', ports: webPorts } },
      want: [
        'TCP/127.130.0.10:80 ClusterIP default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
        'TCP/127.130.0.10:9000 ClusterIP default/web:metrics/TCP -> 127.10.0.5:9090,127.11.0.5:9090 all',
      ],
    },
    {
      name: 'ClusterIP with externalIPs (never the wildcard, broadcast or multicast)',
      svc: { metadata: meta('web'), spec: { clusterIP: '127.130.0.10', externalIPs: ['127.140.0.1', 'bogus', '0.0.0.0', '239.1.1.1', '255.255.255.255'], ports: [webPorts[0]] } },
      want: [
        'TCP/127.130.0.10:80 ClusterIP default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
        'TCP/127.140.0.1:80 ExternalIP default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
      ],
    },
    {
      name: 'NodePort: + every node IP in the node CIDR (the simulated node is skipped)',
      svc: { metadata: meta('web'), spec: { type: 'NodePort', clusterIP: '127.130.0.10', ports: [webPorts[0]] } },
      want: [
        'TCP/127.1.0.1:30080 NodePort default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
        'TCP/127.1.0.2:30080 NodePort default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
        'TCP/127.130.0.10:80 ClusterIP default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
      ],
    },
    {
      name: 'LoadBalancer: + node ports + ingress IPs',
      svc: {
        metadata: meta('web'),
        spec: { type: 'LoadBalancer', clusterIP: '127.130.0.10', ports: [webPorts[0]] },
        status: { loadBalancer: { ingress: [{ ip: '127.131.0.7' }, { hostname: 'lb.example.com' }] } },
      },
      want: [
        'TCP/127.1.0.1:30080 NodePort default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
        'TCP/127.1.0.2:30080 NodePort default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
        'TCP/127.130.0.10:80 ClusterIP default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
        'TCP/127.131.0.7:80 LoadBalancer default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
      ],
    },
    {
      name: 'LoadBalancer without node ports (allocateLoadBalancerNodePorts false)',
      svc: {
        metadata: meta('web'),
        spec: { type: 'LoadBalancer', clusterIP: '127.130.0.10', allocateLoadBalancerNodePorts: false, ports: [webPorts[0]] },
        status: { loadBalancer: { ingress: [{ ip: '127.131.0.7' }] } },
      },
      want: [
        'TCP/127.130.0.10:80 ClusterIP default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
        'TCP/127.131.0.7:80 LoadBalancer default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
      ],
    },
    {
      name: 'LoadBalancer with nodePort 0: no node port',
      svc: {
        metadata: meta('web'),
        spec: { type: 'LoadBalancer', clusterIP: '127.130.0.10', ports: [{ ...webPorts[0], nodePort: 0 }] },
        status: { loadBalancer: { ingress: [{ ip: '127.131.0.7' }] } },
      },
      want: [
        'TCP/127.130.0.10:80 ClusterIP default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
        'TCP/127.131.0.7:80 LoadBalancer default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
      ],
    },
    {
      name: 'LoadBalancer ipMode (KEP-1860): VIP and unset are served, Proxy (and unknown modes) left to the load balancer',
      svc: {
        metadata: meta('web'),
        spec: { type: 'LoadBalancer', clusterIP: '127.130.0.10', allocateLoadBalancerNodePorts: false, ports: [webPorts[0]] },
        status: {
          loadBalancer: {
            ingress: [
              { ip: '127.131.0.7', ipMode: 'Proxy' },
              { ip: '127.131.0.8', ipMode: 'VIP' },
              { ip: '127.131.0.9' },
              { ip: '127.131.0.10', ipMode: 'Bogus' },
            ],
          },
        },
      },
      want: [
        'TCP/127.130.0.10:80 ClusterIP default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
        'TCP/127.131.0.8:80 LoadBalancer default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
        'TCP/127.131.0.9:80 LoadBalancer default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 all',
      ],
    },
    { name: 'headless: nothing', svc: { metadata: meta('web'), spec: { clusterIP: 'None', ports: webPorts } }, want: [] },
    { name: 'ExternalName: nothing', svc: { metadata: meta('web'), spec: { type: 'ExternalName', externalName: 'example.com', ports: webPorts } }, want: [] },
    { name: 'no ClusterIP yet: nothing', svc: { metadata: meta('web'), spec: { type: 'ClusterIP', ports: [webPorts[0]] } }, want: [] },
    { name: 'unknown type: nothing', svc: { metadata: meta('web'), spec: { type: 'Weird', clusterIP: '127.130.0.10', ports: [webPorts[0]] } }, want: [] },
    {
      name: 'SCTP ports are not proxied; a port with no endpoint port of its name gets nothing',
      svc: {
        metadata: meta('web'),
        spec: {
          clusterIP: '127.130.0.10',
          ports: [
            { name: 'http', port: 80, protocol: 'SCTP' },
            { name: 'dns', port: 53, protocol: 'UDP' },
          ],
        },
      },
      want: [],
    },
  ];
  it.each(cases)('$name', ({ svc, want }) => {
    expect(summary(build([svc], [WEB_EPS]))).toEqual(want);
  });

  it('UDP port matched with a UDP endpoint port of the same name', () => {
    const svc: Service = { metadata: meta('dns'), spec: { clusterIP: '127.130.0.53', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] } };
    const ep = eps('dns', [{ addresses: [{ ip: '127.10.0.53', nodeName: 'n1' }], ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'dns-tcp', port: 5353, protocol: 'TCP' }] }]);
    expect(summary(build([svc], [ep]))).toEqual([
      'TCP/127.130.0.53:53 ClusterIP default/dns:dns-tcp/TCP -> 127.10.0.53:5353 all',
      'UDP/127.130.0.53:53 ClusterIP default/dns:dns/UDP -> 127.10.0.53:5353 all',
    ]);
  });
});

describe('kube-proxy servicemap - endpoints', () => {
  it('no ready endpoints: the address is not wanted, the service port is known', () => {
    const m = build([{ metadata: meta('web'), spec: { type: 'NodePort', clusterIP: '127.130.0.10', ports: [webPorts[0]] } }], [eps('web', [{ notReadyAddresses: [{ ip: '127.10.0.9' }], ports: [{ name: 'http', port: 8080 }] }])]);
    expect(m.entries.size).toBe(0);
    expect([...m.servicePorts.keys()]).toEqual(['default/web:http/TCP']);
  });

  it('no Endpoints object at all: nothing wanted', () => {
    expect(build([{ metadata: meta('web'), spec: { clusterIP: '127.130.0.10', ports: [webPorts[0]] } }], []).entries.size).toBe(0);
  });

  it('several subsets (the kubernetes Service: one per apiserver) are merged, deduplicated and sorted', () => {
    const ep = eps('kubernetes', [
      { addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port: 20102, protocol: 'TCP' }] },
      { addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port: 20101, protocol: 'TCP' }] },
      { addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port: 20101, protocol: 'TCP' }] },
    ]);
    expect(readyEndpoints(ep, 'https', 'TCP').map((e) => e.key)).toEqual(['127.0.0.1:20101', '127.0.0.1:20102']);
  });

  it('unnamed single port matches the unnamed endpoint port', () => {
    const ep = eps('x', [{ addresses: [{ ip: '127.10.0.1' }], ports: [{ port: 8080 }] }]);
    expect(readyEndpoints(ep, '', 'TCP').map((e) => e.key)).toEqual(['127.10.0.1:8080']);
    expect(readyEndpoints(ep, 'http', 'TCP')).toEqual([]);
  });

  it('malformed endpoints are skipped piecewise', () => {
    const ep = eps('x', [
      { addresses: [{ ip: 'not-an-ip' }, { ip: '127.10.0.1' }, {}], ports: [{ name: 'a', port: 8080 }] },
      { addresses: [{ ip: '127.10.0.2' }], ports: [{ name: 'a', port: 70000 }] },
      { addresses: undefined, ports: undefined },
      null as never,
    ]);
    expect(readyEndpoints(ep, 'a', 'TCP').map((e) => e.key)).toEqual(['127.10.0.1:8080']);
  });
});

describe('kube-proxy servicemap - traffic policies', () => {
  const local = (extra: Partial<NonNullable<Service['spec']>>): Service => ({
    metadata: meta('web'),
    spec: { type: 'NodePort', clusterIP: '127.130.0.10', ports: [webPorts[0]], ...extra },
  });

  it('externalTrafficPolicy Local: node ports only on nodes with local endpoints, scoped to that node', () => {
    const ep = eps('web', [{ addresses: [{ ip: '127.10.0.5', nodeName: 'n1' }], ports: [{ name: 'http', port: 8080 }] }]);
    expect(summary(build([local({ externalTrafficPolicy: 'Local' })], [ep]))).toEqual([
      'TCP/127.1.0.1:30080 NodePort default/web:http/TCP -> 127.10.0.5:8080 node=n1',
      'TCP/127.130.0.10:80 ClusterIP default/web:http/TCP -> 127.10.0.5:8080 all',
    ]);
  });

  it('internalTrafficPolicy Local: the ClusterIP chooses by client node', () => {
    const m = build([local({ type: 'ClusterIP', internalTrafficPolicy: 'Local' })], [WEB_EPS]);
    expect(summary(m)).toEqual(['TCP/127.130.0.10:80 ClusterIP default/web:http/TCP -> 127.10.0.5:8080,127.11.0.5:8080 clientNode']);
  });

  it('sessionAffinity ClientIP: the default and a set timeout', () => {
    const m1 = build([local({ sessionAffinity: 'ClientIP' })], [WEB_EPS]);
    expect([...m1.servicePorts.values()][0].affinityTimeoutMs).toBe(10800 * 1000);
    const m2 = build([local({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } } })], [WEB_EPS]);
    expect([...m2.servicePorts.values()][0].affinityTimeoutMs).toBe(5000);
    const m3 = build([local({})], [WEB_EPS]);
    expect([...m3.servicePorts.values()][0].affinityTimeoutMs).toBe(0);
  });

  it('client node: pod range, node IP, else this proxy', () => {
    expect(clientNodeOf(NODES, '127.11.3.4', 'n1')).toBe('n2');
    expect(clientNodeOf(NODES, '127.1.0.2', 'n1')).toBe('n2');
    expect(clientNodeOf(NODES, '127.0.0.1', 'n1')).toBe('n1');
    expect(clientNodeOf(NODES, '::1', 'n2')).toBe('n2');
  });
});

describe('kube-proxy servicemap - nodes and conflicts', () => {
  it('nodes without an InternalIP or outside the CIDR get no node ports; NotReady nodes still do', () => {
    const nodes = [node('n1', '127.1.0.1', '127.10.0.0/16', false), { metadata: { name: 'bare' } } as Node, node('far', '127.2.0.1', '127.12.0.0/16')].map(nodeInfo);
    const m = build([{ metadata: meta('web'), spec: { type: 'NodePort', clusterIP: '127.130.0.10', ports: [webPorts[0]] } }], [WEB_EPS], nodes);
    expect([...m.entries.keys()].sort()).toEqual(['TCP/127.1.0.1:30080', 'TCP/127.130.0.10:80']);
  });

  it('an address claimed twice goes to the first Service by name and is reported', () => {
    const a: Service = { metadata: meta('a'), spec: { clusterIP: '127.130.0.10', ports: [{ name: 'http', port: 80 }] } };
    const b: Service = { metadata: meta('b'), spec: { clusterIP: '127.130.0.11', externalIPs: ['127.130.0.10'], ports: [{ name: 'http', port: 80 }] } };
    const ep = (n: string) => eps(n, [{ addresses: [{ ip: '127.10.0.1' }], ports: [{ name: 'http', port: 8080 }] }]);
    const m = build([b, a], [ep('a'), ep('b')]);
    expect(m.entries.get('TCP/127.130.0.10:80')!.servicePort.service).toBe('default/a');
    expect(m.conflicts).toHaveLength(1);
  });

  it('garbage objects never throw', () => {
    const junk = [{}, { metadata: {} }, { metadata: meta('x'), spec: { ports: [null, { port: 'eighty' }, { port: -1 }] } }, { metadata: meta('y'), spec: { clusterIP: '127.130.0.1', ports: [{ port: 80, nodePort: 99999 }], type: 'NodePort' } }] as never[];
    expect(() => build(junk, [{ metadata: meta('y'), subsets: [{ addresses: [{ ip: '127.10.0.1' }], ports: [{ port: 8080 }] }] }])).not.toThrow();
    expect([...build(junk, [{ metadata: meta('y'), subsets: [{ addresses: [{ ip: '127.10.0.1' }], ports: [{ port: 8080 }] }] }]).entries.keys()]).toEqual(['TCP/127.130.0.1:80']);
    expect(() => nodeInfo({} as Node)).not.toThrow();
  });
});
