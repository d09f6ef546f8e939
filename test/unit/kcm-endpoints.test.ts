/**
 * Endpoints controller: subset building (named and numeric ports, readiness, terminating and
 * IP-less pods, publishNotReadyAddresses, repacking) and reconcile against a fake cache.
 */
import { Endpoints, Pod, Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { logger } from '../../services/lib/log';
import { buildSubsets, findPort, truncateSubsets } from '../../services/kube-controller-manager/endpoints/subsets';
import { EndpointsDeps, HEADLESS_LABEL, LAST_CHANGE_TRIGGER_TIME, OVER_CAPACITY, reconcileEndpoints } from '../../services/kube-controller-manager/endpoints/controller';

function pod(name: string, ip: string, opts: { ready?: boolean; ports?: { name: string; containerPort: number }[]; labels?: Record<string, string>; deleting?: boolean; phase?: string; restartPolicy?: string } = {}): Pod {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: opts.labels ?? { app: 'web' }, deletionTimestamp: opts.deleting ? '2026-01-01T00:00:00Z' : undefined },
    spec: { nodeName: 'node-1', restartPolicy: opts.restartPolicy ?? 'Always', containers: [{ name: 'c', ports: (opts.ports ?? []).map((p) => ({ ...p, protocol: 'TCP' })) }] } as Pod['spec'],
    status: { phase: opts.phase ?? 'Running', podIP: ip, conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
  };
}

function svc(ports: { name: string; port: number; targetPort: number | string }[], extra: Partial<NonNullable<Service['spec']>> = {}): Service {
  return {
    metadata: { name: 'web', namespace: 'default', labels: { tier: 'front' } },
    spec: { selector: { app: 'web' }, clusterIP: '10.0.0.1', ports: ports.map((p) => ({ ...p, protocol: 'TCP' })), ...extra } as Service['spec'],
  };
}

const ips = (list: { ip?: string }[] | undefined) => (list ?? []).map((a) => a.ip);

describe('endpoints - findPort', () => {
  const p = pod('a', '10.1.0.1', { ports: [{ name: 'http', containerPort: 8080 }] });
  test.each([
    ['numeric targetPort as is', 9090, 9090],
    ['named port found in the pod', 'http', 8080],
    ['named port the pod lacks', 'metrics', undefined],
    ['numeric string', '7070', 7070],
  ])('%s', (_n, target, want) => {
    expect(findPort(p, { name: 'x', port: 80, protocol: 'TCP', targetPort: target, nodePort: 0 })).toBe(want);
  });
});

describe('endpoints - buildSubsets', () => {
  test('ready and not-ready pods, IP-less and terminating pods skipped', () => {
    const s = svc([{ name: 'http', port: 80, targetPort: 8080 }]);
    const subsets = buildSubsets(s, [
      pod('a', '10.1.0.2'),
      pod('b', '10.1.0.1'),
      pod('c', '10.1.0.3', { ready: false }),
      pod('d', ''),
      pod('e', '10.1.0.4', { deleting: true }),
      pod('f', '10.1.0.5', { ready: false, phase: 'Succeeded', restartPolicy: 'Never' }),
    ]);
    expect(subsets).toHaveLength(1);
    expect(ips(subsets[0].addresses)).toEqual(['10.1.0.1', '10.1.0.2']);
    expect(ips(subsets[0].notReadyAddresses)).toEqual(['10.1.0.3']);
    expect(subsets[0].ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP', appProtocol: undefined }]);
    expect(subsets[0].addresses![0]).toMatchObject({ nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'b', uid: 'uid-b' } });
  });

  test('named ports resolve per pod; a pod lacking one is left out of that port only', () => {
    const s = svc([
      { name: 'http', port: 80, targetPort: 'http' },
      { name: 'metrics', port: 9100, targetPort: 'metrics' },
    ]);
    const subsets = buildSubsets(s, [
      pod('a', '10.1.0.1', { ports: [{ name: 'http', containerPort: 8080 }, { name: 'metrics', containerPort: 9100 }] }),
      pod('b', '10.1.0.2', { ports: [{ name: 'http', containerPort: 8080 }] }),
      pod('c', '10.1.0.3', { ports: [{ name: 'http', containerPort: 8081 }] }),
    ]);
    // a and b share http:8080; a alone also has metrics; c has http:8081: three subsets.
    const summary = subsets.map((ss) => ({ ips: ips(ss.addresses), ports: (ss.ports ?? []).map((p) => `${p.name}:${p.port}`) }));
    expect(summary).toEqual(
      expect.arrayContaining([
        { ips: ['10.1.0.1', '10.1.0.2'], ports: ['http:8080'] },
        { ips: ['10.1.0.1'], ports: ['metrics:9100'] },
        { ips: ['10.1.0.3'], ports: ['http:8081'] },
      ]),
    );
    expect(subsets).toHaveLength(3);
  });

  test('pods on the same ports share one subset with every port', () => {
    const s = svc([
      { name: 'a', port: 80, targetPort: 8080 },
      { name: 'b', port: 443, targetPort: 8443 },
    ]);
    const subsets = buildSubsets(s, [pod('x', '10.1.0.1'), pod('y', '10.1.0.2', { ready: false })]);
    expect(subsets).toHaveLength(1);
    expect(subsets[0].ports!.map((p) => p.port)).toEqual([8080, 8443]);
    expect(ips(subsets[0].addresses)).toEqual(['10.1.0.1']);
    expect(ips(subsets[0].notReadyAddresses)).toEqual(['10.1.0.2']);
  });

  test('publishNotReadyAddresses lists every pod with an IP as ready, terminating ones too', () => {
    const s = svc([{ name: 'http', port: 80, targetPort: 80 }], { publishNotReadyAddresses: true });
    const subsets = buildSubsets(s, [pod('a', '10.1.0.1', { ready: false }), pod('b', '10.1.0.2', { deleting: true })]);
    expect(ips(subsets[0].addresses)).toEqual(['10.1.0.1', '10.1.0.2']);
    expect(subsets[0].notReadyAddresses).toEqual([]);
  });

  test('headless Service without ports gets port-less subsets; no pods gives no subsets', () => {
    expect(buildSubsets(svc([], { clusterIP: 'None' }), [pod('a', '10.1.0.1')])).toEqual([
      expect.objectContaining({ ports: [], addresses: [expect.objectContaining({ ip: '10.1.0.1' })] }),
    ]);
    expect(buildSubsets(svc([{ name: 'http', port: 80, targetPort: 80 }]), [])).toEqual([]);
  });
});

describe('endpoints - truncation over capacity', () => {
  const addrs = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({ ip: `${prefix}.${i}` }));
  test.each<[string, [number, number][], number, [number, number][], boolean]>([
    ['under capacity: untouched', [[3, 2]], 10, [[3, 2]], false],
    ['not-ready addresses go first', [[6, 4], [2, 4]], 10, [[6, 1], [2, 1]], true],
    ['too many ready: ready shared proportionally, not-ready dropped', [[12, 3], [4, 0]], 10, [[8, 0], [2, 0]], true],
  ])('%s', (_n, shape, max, want, truncated) => {
    const subsets = shape.map(([r, n], i) => ({ addresses: addrs(`r${i}`, r), notReadyAddresses: addrs(`n${i}`, n), ports: [] }));
    const out = truncateSubsets(subsets, max);
    expect(out.truncated).toBe(truncated);
    expect(out.subsets.map((s) => [s.addresses!.length, s.notReadyAddresses!.length])).toEqual(want);
  });

  test('reconcile writes the over-capacity annotation past 1000 addresses', async () => {
    const many = Array.from({ length: 1001 }, (_, i) => pod(`p${i}`, `10.2.${Math.floor(i / 250)}.${i % 250}`));
    const calls: Endpoints[] = [];
    await reconcileEndpoints(
      {
        services: { get: () => svc([{ name: 'http', port: 80, targetPort: 80 }]) },
        pods: { byIndex: () => many },
        endpoints: { get: () => undefined },
        client: { create: (async (_i: unknown, o: Endpoints) => (calls.push(o), o)) as never, update: (async () => undefined) as never, delete: (async () => undefined) as never, get: (async () => undefined) as never },
        recorder: { record: async () => undefined },
        log: logger('test'),
        triggerTime: () => undefined,
      },
      'default/web',
    );
    expect(calls[0].metadata!.annotations![OVER_CAPACITY]).toBe('truncated');
    expect(calls[0].subsets!.flatMap((s) => s.addresses ?? [])).toHaveLength(1000);
  });
});

describe('endpoints - reconcile', () => {
  function deps(services: Service[], pods: Pod[], eps: Endpoints[]) {
    const calls: { op: string; obj?: Endpoints; name?: string }[] = [];
    const d: EndpointsDeps = {
      services: { get: (k) => services.find((s) => `${s.metadata!.namespace}/${s.metadata!.name}` === k) },
      pods: { byIndex: (_i, ns) => pods.filter((p) => p.metadata!.namespace === ns) },
      endpoints: { get: (k) => eps.find((e) => `${e.metadata!.namespace}/${e.metadata!.name}` === k) },
      client: {
        create: (async (_i: unknown, o: Endpoints) => (calls.push({ op: 'create', obj: o }), o)) as never,
        update: (async (_i: unknown, o: Endpoints) => (calls.push({ op: 'update', obj: o }), o)) as never,
        delete: (async (_i: unknown, _ns: string, name: string) => (calls.push({ op: 'delete', name }), {})) as never,
        get: (async () => eps[0]) as never,
      },
      recorder: { record: async () => undefined },
      log: logger('test'),
      triggerTime: () => Date.parse('2026-11-23T00:00:00.5Z'),
    };
    return { d, calls };
  }

  test('creates Endpoints labelled like the Service, with the trigger time annotation', async () => {
    const { d, calls } = deps([svc([{ name: 'http', port: 80, targetPort: 80 }])], [pod('a', '10.1.0.1'), pod('z', '10.1.0.9', { labels: { app: 'other' } })], []);
    await reconcileEndpoints(d, 'default/web');
    expect(calls).toHaveLength(1);
    expect(calls[0].op).toBe('create');
    expect(calls[0].obj!.metadata).toMatchObject({ name: 'web', namespace: 'default', labels: { tier: 'front' }, annotations: { [LAST_CHANGE_TRIGGER_TIME]: '2026-11-23T00:00:00.500Z' } });
    expect(calls[0].obj!.metadata!.ownerReferences).toBeUndefined();
    expect(ips(calls[0].obj!.subsets![0].addresses)).toEqual(['10.1.0.1']);
  });

  test('headless Service: the headless label', async () => {
    const { d, calls } = deps([svc([{ name: 'http', port: 80, targetPort: 80 }], { clusterIP: 'None' })], [pod('a', '10.1.0.1')], []);
    await reconcileEndpoints(d, 'default/web');
    expect(calls[0].obj!.metadata!.labels).toEqual({ tier: 'front', [HEADLESS_LABEL]: '' });
  });

  test('no write when nothing changed; update when readiness changed', async () => {
    const s = svc([{ name: 'http', port: 80, targetPort: 80 }]);
    const first = deps([s], [pod('a', '10.1.0.1')], []);
    await reconcileEndpoints(first.d, 'default/web');
    const existing = { ...first.calls[0].obj!, metadata: { ...first.calls[0].obj!.metadata, resourceVersion: '5' } };
    const same = deps([s], [pod('a', '10.1.0.1')], [existing]);
    await reconcileEndpoints(same.d, 'default/web');
    expect(same.calls).toEqual([]);
    const changed = deps([s], [pod('a', '10.1.0.1', { ready: false })], [existing]);
    await reconcileEndpoints(changed.d, 'default/web');
    expect(changed.calls[0].op).toBe('update');
    expect(ips(changed.calls[0].obj!.subsets![0].notReadyAddresses)).toEqual(['10.1.0.1']);
    expect(changed.calls[0].obj!.metadata!.resourceVersion).toBe('5');
  });

  test('selectorless Service left alone; Endpoints of a deleted Service deleted', async () => {
    const noSel = deps([svc([{ name: 'http', port: 80, targetPort: 80 }], { selector: {} })], [pod('a', '10.1.0.1')], []);
    await reconcileEndpoints(noSel.d, 'default/web');
    expect(noSel.calls).toEqual([]);
    const gone = deps([], [], [{ metadata: { name: 'web', namespace: 'default' } }]);
    await reconcileEndpoints(gone.d, 'default/web');
    expect(gone.calls).toEqual([{ op: 'delete', name: 'web' }]);
  });
});
