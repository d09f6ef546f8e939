// Server-side Table printing: columns and cells per kind, checked against what
// kubectl v1.32 prints for the same objects on a real cluster.

import { humanDuration, toTable } from '../../services/kube-apiserver/rest/table';
import { findResource, ResourceInfo } from '../../services/lib/resources';

const NOW = new Date('2026-11-23T12:00:00Z');
const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

/** The RFC 3339 timestamp `ms` before NOW, second precision as Kubernetes writes it. */
function ago(ms: number): string {
  return new Date(NOW.getTime() - ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function info(resource: string): ResourceInfo {
  const r = findResource(resource);
  if (!r) throw new Error(`no resource ${resource}`);
  return r;
}

/** Decodes `json` as the apiserver's storage would and prints it; returns the row's cells. */
function cells(resource: string, json: unknown): unknown[] {
  const r = info(resource);
  const table = toTable(r, [r.codec.fromJSON(json) as never], { now: NOW });
  return (table.rows as Array<{ cells: unknown[] }>)[0].cells;
}

function columns(resource: string): Array<[string, number]> {
  const table = toTable(info(resource), [], { now: NOW });
  return (table.columnDefinitions as Array<{ name: string; priority: number }>).map((c) => [c.name, c.priority]);
}

function defaultColumns(resource: string): string {
  return columns(resource)
    .filter(([, p]) => p === 0)
    .map(([n]) => n.toUpperCase())
    .join(' ');
}

function wideColumns(resource: string): string {
  return columns(resource)
    .filter(([, p]) => p === 1)
    .map(([n]) => n.toUpperCase())
    .join(' ');
}

describe('rest-table - duration.HumanDuration', () => {
  test.each<[number, string]>([
    [-2 * S, '<invalid>'],
    [-1999, '0s'],
    [-1 * S, '0s'],
    [0, '0s'],
    [1 * S, '1s'],
    [5 * S, '5s'],
    [70 * S, '70s'],
    [119 * S, '119s'],
    [120 * S, '2m'],
    [190 * S, '3m10s'],
    [200 * S, '3m20s'],
    [9 * M + 59 * S, '9m59s'],
    [10 * M, '10m'],
    [10 * M + 30 * S, '10m'],
    [70 * M, '70m'],
    [179 * M, '179m'],
    [3 * H, '3h'],
    [5 * H, '5h'],
    [5 * H + 30 * M, '5h30m'],
    [7 * H + 59 * M, '7h59m'],
    [8 * H, '8h'],
    [8 * H + 30 * M, '8h'],
    [47 * H, '47h'],
    [47 * H + 59 * M, '47h'],
    [48 * H, '2d'],
    [49 * H, '2d1h'],
    [2 * D + 3 * H, '2d3h'],
    [7 * D + 23 * H, '7d23h'],
    [8 * D, '8d'],
    [8 * D + 2 * H, '8d'],
    [45 * D, '45d'],
    [367 * D, '367d'],
    [729 * D, '729d'],
    [730 * D, '2y'],
    [730 * D + 25 * H, '2y1d'],
    [365 * 2 * D + 10 * D, '2y10d'],
    [365 * 8 * D, '8y'],
    [365 * 10 * D + 100 * D, '10y'],
  ])('rest-table - HumanDuration(%p ms) is %p', (ms, want) => {
    expect(humanDuration(ms)).toBe(want);
  });
});

describe('rest-table - Table shape', () => {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'default', uid: 'u1', resourceVersion: '42', creationTimestamp: ago(5 * M), labels: { app: 'web' } },
    spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
    status: { phase: 'Pending' },
  };

  test('rest-table - a list: Table kind, list metadata, every column with name/type/format/description/priority', () => {
    const r = info('pods');
    const table = toTable(r, [r.codec.fromJSON(pod)], { now: NOW, listMeta: { resourceVersion: '100', continue: 'tok', remainingItemCount: 3 } });
    expect(table.kind).toBe('Table');
    expect(table.apiVersion).toBe('meta.k8s.io/v1');
    expect(table.metadata).toEqual({ resourceVersion: '100', continue: 'tok', remainingItemCount: 3 });
    const defs = table.columnDefinitions as Array<Record<string, unknown>>;
    expect(defs[0]).toEqual({ name: 'Name', type: 'string', format: 'name', description: expect.stringContaining('Name must be unique'), priority: 0 });
    for (const d of defs) expect(Object.keys(d).sort()).toEqual(['description', 'format', 'name', 'priority', 'type']);
  });

  test('rest-table - includeObject defaults to Metadata: a PartialObjectMetadata per row', () => {
    const r = info('pods');
    const table = toTable(r, [r.codec.fromJSON(pod)], { now: NOW });
    const row = (table.rows as Array<Record<string, any>>)[0];
    expect(row.object.kind).toBe('PartialObjectMetadata');
    expect(row.object.apiVersion).toBe('meta.k8s.io/v1');
    expect(row.object.metadata).toMatchObject({ name: 'web-1', namespace: 'default', labels: { app: 'web' }, resourceVersion: '42' });
    expect(row.object.spec).toBeUndefined();
  });

  test('rest-table - includeObject=Object carries the full object with kind and apiVersion; None carries none', () => {
    const r = info('deployments');
    const d = r.codec.fromJSON({ metadata: { name: 'web', namespace: 'default' }, spec: { replicas: 2 } });
    const full = (toTable(r, [d], { now: NOW, includeObject: 'Object' }).rows as Array<Record<string, any>>)[0];
    expect(full.object).toMatchObject({ kind: 'Deployment', apiVersion: 'apps/v1', metadata: { name: 'web' }, spec: { replicas: 2 } });
    expect(Object.keys(full.object).slice(0, 2)).toEqual(['kind', 'apiVersion']);
    const none = (toTable(r, [d], { now: NOW, includeObject: 'None' }).rows as Array<Record<string, any>>)[0];
    expect(none.object).toBeUndefined();
    expect(none.cells[0]).toBe('web');
  });

  test('rest-table - a single object without listMeta reports its own resourceVersion; an empty list has empty metadata and no rows', () => {
    const r = info('pods');
    expect(toTable(r, [r.codec.fromJSON(pod)], { now: NOW }).metadata).toEqual({ resourceVersion: '42' });
    const empty = toTable(r, [], { now: NOW });
    expect(empty.metadata).toEqual({});
    expect(empty.rows).toEqual([]);
  });

  test('rest-table - finished pods carry the Completed row condition', () => {
    const r = info('pods');
    const done = r.codec.fromJSON({ ...pod, status: { phase: 'Succeeded' } });
    const failed = r.codec.fromJSON({ ...pod, status: { phase: 'Failed' } });
    const rows = toTable(r, [done, failed, r.codec.fromJSON(pod)], { now: NOW }).rows as Array<Record<string, any>>;
    expect(rows[0].conditions).toEqual([{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }]);
    expect(rows[1].conditions).toEqual([{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }]);
    expect(rows[2].conditions).toBeUndefined();
  });

  test('rest-table - a kind without a printer gets NAME AGE', () => {
    const widget = { ...info('configmaps'), kind: 'Widget', resource: 'widgets' } as ResourceInfo;
    const table = toTable(widget, [{ metadata: { name: 'w', creationTimestamp: ago(3 * H) } } as never], { now: NOW, includeObject: 'None' });
    expect((table.columnDefinitions as Array<{ name: string }>).map((c) => c.name)).toEqual(['Name', 'Age']);
    expect((table.rows as Array<{ cells: unknown[] }>)[0].cells).toEqual(['w', '3h']);
  });

  test('rest-table - AGE is <unknown> without a creationTimestamp; the clock defaults to now', () => {
    expect(cells('namespaces', { metadata: { name: 'x' }, status: { phase: 'Active' } })).toEqual(['x', 'Active', '<unknown>']);
    const r = info('namespaces');
    const t = toTable(r, [r.codec.fromJSON({ metadata: { name: 'x', creationTimestamp: new Date(Date.now() - 30 * S).toISOString() } })]);
    expect((t.rows as Array<{ cells: unknown[] }>)[0].cells[2]).toMatch(/^3\ds$/);
  });
});

describe('rest-table - columns per kind', () => {
  test.each<[string, string, string]>([
    ['pods', 'NAME READY STATUS RESTARTS AGE', 'IP NODE NOMINATED NODE READINESS GATES'],
    ['nodes', 'NAME STATUS ROLES AGE VERSION', 'INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME'],
    ['namespaces', 'NAME STATUS AGE', ''],
    ['services', 'NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE', 'SELECTOR'],
    ['endpoints', 'NAME ENDPOINTS AGE', ''],
    ['events', 'LAST SEEN TYPE REASON OBJECT MESSAGE', 'SUBOBJECT SOURCE FIRST SEEN COUNT NAME'],
    ['configmaps', 'NAME DATA AGE', ''],
    ['secrets', 'NAME TYPE DATA AGE', ''],
    ['persistentvolumes', 'NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE', 'VOLUMEMODE'],
    ['persistentvolumeclaims', 'NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE', 'VOLUMEMODE'],
    ['deployments', 'NAME READY UP-TO-DATE AVAILABLE AGE', 'CONTAINERS IMAGES SELECTOR'],
    ['replicasets', 'NAME DESIRED CURRENT READY AGE', 'CONTAINERS IMAGES SELECTOR'],
    ['statefulsets', 'NAME READY AGE', 'CONTAINERS IMAGES'],
    ['daemonsets', 'NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE', 'CONTAINERS IMAGES SELECTOR'],
    ['jobs', 'NAME STATUS COMPLETIONS DURATION AGE', 'CONTAINERS IMAGES SELECTOR'],
    ['cronjobs', 'NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE', 'CONTAINERS IMAGES SELECTOR'],
    ['ingresses', 'NAME CLASS HOSTS ADDRESS PORTS AGE', ''],
    ['ingressclasses', 'NAME CONTROLLER PARAMETERS AGE', ''],
    ['leases', 'NAME HOLDER AGE', ''],
  ])('rest-table - %s: default %p, wide adds %p', (resource, def, wide) => {
    expect(defaultColumns(resource)).toBe(def);
    expect(wideColumns(resource)).toBe(wide);
  });

  test('rest-table - every served resource has a printer, and each row has one cell per column', () => {
    for (const resource of ['pods', 'nodes', 'namespaces', 'services', 'endpoints', 'events', 'configmaps', 'secrets', 'persistentvolumes', 'persistentvolumeclaims', 'deployments', 'replicasets', 'statefulsets', 'daemonsets', 'jobs', 'cronjobs', 'ingresses', 'ingressclasses', 'leases']) {
      const r = info(resource);
      const table = toTable(r, [r.codec.fromJSON({ metadata: { name: 'x' } })], { now: NOW });
      const defs = table.columnDefinitions as unknown[];
      expect(defs.length).toBeGreaterThan(2);
      expect((table.rows as Array<{ cells: unknown[] }>)[0].cells).toHaveLength(defs.length);
    }
  });

  test('rest-table - bare objects print without throwing, and objects are not mutated', () => {
    const deepFreeze = <T>(o: T): T => {
      if (o && typeof o === 'object') {
        for (const v of Object.values(o as object)) deepFreeze(v);
        Object.freeze(o);
      }
      return o;
    };
    for (const resource of ['pods', 'nodes', 'namespaces', 'services', 'endpoints', 'events', 'configmaps', 'secrets', 'persistentvolumes', 'persistentvolumeclaims', 'deployments', 'replicasets', 'statefulsets', 'daemonsets', 'jobs', 'cronjobs', 'ingresses', 'ingressclasses', 'leases']) {
      const r = info(resource);
      const bare = deepFreeze({});
      const decoded = deepFreeze(r.codec.fromJSON({ metadata: { name: 'x', creationTimestamp: ago(1 * S), deletionTimestamp: ago(0) }, spec: {}, status: {} }));
      for (const includeObject of ['None', 'Metadata', 'Object'] as const) {
        expect(() => toTable(r, [bare as never, decoded], { now: NOW, includeObject })).not.toThrow();
      }
    }
  });
});

describe('rest-table - pods', () => {
  const base = (status: object, extra: { spec?: object; metadata?: object } = {}) => ({
    metadata: { name: 'web-1', namespace: 'default', creationTimestamp: ago(5 * M), ...extra.metadata },
    spec: { nodeName: 'node-1', containers: [{ name: 'web', image: 'nginx:1.27' }], ...extra.spec },
    status,
  });
  const running = { running: { startedAt: ago(4 * M) } };
  const readyConds = [
    { type: 'Initialized', status: 'True' },
    { type: 'Ready', status: 'True' },
    { type: 'ContainersReady', status: 'True' },
    { type: 'PodScheduled', status: 'True' },
  ];
  const status3 = (json: unknown) => cells('pods', json).slice(1, 4);

  test('rest-table - a running pod: every cell, wide included', () => {
    expect(
      cells(
        'pods',
        base({ phase: 'Running', conditions: readyConds, podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }], containerStatuses: [{ name: 'web', ready: true, restartCount: 0, started: true, state: running }] }),
      ),
    ).toEqual(['web-1', '1/1', 'Running', '0', '5m', '10.244.1.5', 'node-1', '<none>', '<none>']);
  });

  test.each<[string, object, string[]]>([
    ['unscheduled Pending', { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }] }, ['0/1', 'Pending', '0']],
    ['ContainerCreating', { phase: 'Pending', containerStatuses: [{ name: 'web', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }] }, ['0/1', 'ContainerCreating', '0']],
    ['ErrImagePull', { phase: 'Pending', containerStatuses: [{ name: 'web', restartCount: 0, state: { waiting: { reason: 'ErrImagePull', message: 'pull failed' } } }] }, ['0/1', 'ErrImagePull', '0']],
    ['ImagePullBackOff', { phase: 'Pending', containerStatuses: [{ name: 'web', restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff' } } }] }, ['0/1', 'ImagePullBackOff', '0']],
    ['CreateContainerConfigError', { phase: 'Pending', containerStatuses: [{ name: 'web', restartCount: 0, state: { waiting: { reason: 'CreateContainerConfigError', message: 'configmap "cfg" not found' } } }] }, ['0/1', 'CreateContainerConfigError', '0']],
    [
      'CrashLoopBackOff with the last restart time',
      {
        phase: 'Running',
        containerStatuses: [
          { name: 'web', ready: false, restartCount: 5, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: ago(4 * M), finishedAt: ago(200 * S) } } },
        ],
      },
      ['0/1', 'CrashLoopBackOff', '5 (3m20s ago)'],
    ],
    [
      'OOMKilled',
      { phase: 'Running', containerStatuses: [{ name: 'web', ready: false, restartCount: 1, state: { terminated: { exitCode: 137, reason: 'OOMKilled', finishedAt: ago(10 * S) } }, lastState: { terminated: { exitCode: 137, reason: 'OOMKilled', finishedAt: ago(50 * S) } } }] },
      ['0/1', 'OOMKilled', '1 (50s ago)'],
    ],
    ['Completed', { phase: 'Succeeded', containerStatuses: [{ name: 'web', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }] }, ['0/1', 'Completed', '0']],
    ['Error', { phase: 'Failed', containerStatuses: [{ name: 'web', ready: false, restartCount: 0, state: { terminated: { exitCode: 1, reason: 'Error' } } }] }, ['0/1', 'Error', '0']],
    ['terminated without a reason: ExitCode', { phase: 'Failed', containerStatuses: [{ name: 'web', restartCount: 0, state: { terminated: { exitCode: 2 } } }] }, ['0/1', 'ExitCode:2', '0']],
    ['terminated without a reason: Signal', { phase: 'Failed', containerStatuses: [{ name: 'web', restartCount: 0, state: { terminated: { exitCode: 137, signal: 9 } } }] }, ['0/1', 'Signal:9', '0']],
    ['Evicted (status.reason)', { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' }, ['0/1', 'Evicted', '0']],
    ['NodeLost without deletion', { phase: 'Running', reason: 'NodeLost', conditions: readyConds, containerStatuses: [{ name: 'web', ready: true, restartCount: 0, state: running }] }, ['1/1', 'NodeLost', '0']],
    ['SchedulingGated', { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] }, ['0/1', 'SchedulingGated', '0']],
    ['running but not ready', { phase: 'Running', containerStatuses: [{ name: 'web', ready: false, restartCount: 0, state: running }] }, ['0/1', 'Running', '0']],
  ])('rest-table - pod STATUS: %s', (_name, status, want) => {
    expect(status3(base(status))).toEqual(want);
  });

  test('rest-table - pod STATUS: Terminating while deleting, but a finished pod keeps its status', () => {
    const deleting = { metadata: { deletionTimestamp: ago(5 * S), deletionGracePeriodSeconds: 30 } };
    const run = { phase: 'Running', conditions: readyConds, containerStatuses: [{ name: 'web', ready: true, restartCount: 0, state: running }] };
    expect(status3(base(run, deleting))).toEqual(['1/1', 'Terminating', '0']);
    const done = { phase: 'Succeeded', containerStatuses: [{ name: 'web', restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }] };
    expect(status3(base(done, deleting))).toEqual(['0/1', 'Completed', '0']);
  });

  test('rest-table - pod STATUS: Unknown for a pod being deleted from a lost node', () => {
    const lost = { phase: 'Running', reason: 'NodeLost', message: 'Node node-1 which was running pod web-1 is unresponsive', containerStatuses: [{ name: 'web', ready: true, restartCount: 0, state: running }] };
    expect(status3(base(lost, { metadata: { deletionTimestamp: ago(1 * M) } }))).toEqual(['1/1', 'Unknown', '0']);
  });

  describe('rest-table - init containers', () => {
    const spec1 = { spec: { initContainers: [{ name: 'init-db', image: 'busybox' }] } };
    const spec2 = { spec: { initContainers: [{ name: 'a', image: 'busybox' }, { name: 'b', image: 'busybox' }] } };
    const waitingMain = [{ name: 'web', ready: false, restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }];
    const initConds = [{ type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized' }];

    test.each<[string, object, object, string[]]>([
      ['running init container: Init:0/1', spec1, { phase: 'Pending', conditions: initConds, initContainerStatuses: [{ name: 'init-db', restartCount: 0, state: running }], containerStatuses: waitingMain }, ['0/1', 'Init:0/1', '0']],
      [
        'second of two: Init:1/2',
        spec2,
        {
          phase: 'Pending',
          conditions: initConds,
          initContainerStatuses: [
            { name: 'a', restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
            { name: 'b', restartCount: 0, state: running },
          ],
          containerStatuses: waitingMain,
        },
        ['0/1', 'Init:1/2', '0'],
      ],
      [
        'Init:CrashLoopBackOff with init restarts',
        spec1,
        {
          phase: 'Pending',
          conditions: initConds,
          initContainerStatuses: [{ name: 'init-db', restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: ago(90 * S) } } }],
          containerStatuses: waitingMain,
        },
        ['0/1', 'Init:CrashLoopBackOff', '3 (90s ago)'],
      ],
      ['Init:Error', spec1, { phase: 'Pending', conditions: initConds, initContainerStatuses: [{ name: 'init-db', restartCount: 0, state: { terminated: { exitCode: 1, reason: 'Error' } } }], containerStatuses: waitingMain }, ['0/1', 'Init:Error', '0']],
      ['Init:ExitCode', spec1, { phase: 'Pending', conditions: initConds, initContainerStatuses: [{ name: 'init-db', restartCount: 0, state: { terminated: { exitCode: 3 } } }], containerStatuses: waitingMain }, ['0/1', 'Init:ExitCode:3', '0']],
      ['Init:Signal', spec1, { phase: 'Pending', conditions: initConds, initContainerStatuses: [{ name: 'init-db', restartCount: 0, state: { terminated: { exitCode: 137, signal: 9 } } }], containerStatuses: waitingMain }, ['0/1', 'Init:Signal:9', '0']],
      ['waiting PodInitializing counts as Init:0/1', spec1, { phase: 'Pending', initContainerStatuses: [{ name: 'init-db', restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }] }, ['0/1', 'Init:0/1', '0']],
      [
        'init done: the main containers decide',
        spec1,
        {
          phase: 'Running',
          conditions: readyConds,
          initContainerStatuses: [{ name: 'init-db', restartCount: 2, state: { terminated: { exitCode: 0, reason: 'Completed' } }, lastState: { terminated: { exitCode: 1, finishedAt: ago(3 * M) } } }],
          containerStatuses: [{ name: 'web', ready: true, restartCount: 0, state: running }],
        },
        // Restarts of regular init containers no longer count once the pod is initialized.
        ['1/1', 'Running', '0'],
      ],
      [
        'a restartable (sidecar) init container counts toward READY',
        { spec: { initContainers: [{ name: 'proxy', image: 'envoy', restartPolicy: 'Always' }] } },
        {
          phase: 'Running',
          conditions: readyConds,
          initContainerStatuses: [{ name: 'proxy', ready: true, started: true, restartCount: 1, state: running, lastState: { terminated: { exitCode: 1, finishedAt: ago(4 * H) } } }],
          containerStatuses: [{ name: 'web', ready: true, restartCount: 0, state: running }],
        },
        ['2/2', 'Running', '1 (4h ago)'],
      ],
    ])('rest-table - pod STATUS: %s', (_name, spec, status, want) => {
      expect(status3(base(status, spec))).toEqual(want);
    });
  });

  test('rest-table - pod STATUS: a Completed container beside a running one is Running or NotReady', () => {
    const two = { spec: { containers: [{ name: 'job', image: 'busybox' }, { name: 'web', image: 'nginx' }] } };
    const statuses = [
      { name: 'job', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
      { name: 'web', ready: true, restartCount: 0, state: running },
    ];
    expect(status3(base({ phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }], containerStatuses: statuses }, two))).toEqual(['1/2', 'NotReady', '0']);
    expect(status3(base({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: statuses }, two))).toEqual(['1/2', 'Running', '0']);
  });

  test('rest-table - pod RESTARTS sums containers and shows the latest restart', () => {
    const two = { spec: { containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }] } };
    const st = {
      phase: 'Running',
      conditions: readyConds,
      containerStatuses: [
        { name: 'a', ready: true, restartCount: 2, state: running, lastState: { terminated: { exitCode: 1, finishedAt: ago(2 * H) } } },
        { name: 'b', ready: true, restartCount: 1, state: running, lastState: { terminated: { exitCode: 1, finishedAt: ago(5 * M) } } },
      ],
    };
    expect(status3(base(st, two))).toEqual(['2/2', 'Running', '3 (5m ago)']);
    // A restart count without a recorded termination prints the bare number.
    expect(status3(base({ phase: 'Running', containerStatuses: [{ name: 'web', ready: true, restartCount: 4, state: running }] }))).toEqual(['1/1', 'Running', '4']);
  });

  test('rest-table - pod wide columns: IP from podIPs, nominated node, readiness gates', () => {
    const pending = base(
      { phase: 'Pending', nominatedNodeName: 'node-2', conditions: [{ type: 'example.com/feature-1', status: 'True' }, { type: 'example.com/feature-2', status: 'False' }] },
      { spec: { nodeName: '', readinessGates: [{ conditionType: 'example.com/feature-1' }, { conditionType: 'example.com/feature-2' }] } },
    );
    expect(cells('pods', pending).slice(5)).toEqual(['<none>', '<none>', 'node-2', '1/2']);
    expect(cells('pods', base({ phase: 'Running', podIPs: [{ ip: '10.244.0.7' }, { ip: 'fd00::7' }] })).slice(5, 7)).toEqual(['10.244.0.7', 'node-1']);
  });
});

describe('rest-table - nodes', () => {
  const node = (extra: { labels?: object; conditions?: object[]; unschedulable?: boolean; nodeInfo?: object; addresses?: object[] } = {}) => ({
    metadata: { name: 'kind-control-plane', creationTimestamp: ago(45 * D), labels: extra.labels ?? { 'kubernetes.io/hostname': 'kind-control-plane', 'node-role.kubernetes.io/control-plane': '' } },
    spec: { unschedulable: extra.unschedulable },
    status: {
      conditions: extra.conditions ?? [
        { type: 'MemoryPressure', status: 'False' },
        { type: 'DiskPressure', status: 'False' },
        { type: 'PIDPressure', status: 'False' },
        { type: 'Ready', status: 'True', reason: 'KubeletReady' },
      ],
      addresses: extra.addresses ?? [
        { type: 'InternalIP', address: '172.18.0.2' },
        { type: 'Hostname', address: 'kind-control-plane' },
      ],
      nodeInfo: extra.nodeInfo ?? { kubeletVersion: 'v1.32.0', osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.8.0-1017-gcp', containerRuntimeVersion: 'containerd://1.7.24' },
    },
  });

  test('rest-table - a ready control-plane node, every cell', () => {
    expect(cells('nodes', node())).toEqual(['kind-control-plane', 'Ready', 'control-plane', '45d', 'v1.32.0', '172.18.0.2', '<none>', 'Debian GNU/Linux 12 (bookworm)', '6.8.0-1017-gcp', 'containerd://1.7.24']);
  });

  test.each<[string, object, string]>([
    ['NotReady (False)', { conditions: [{ type: 'Ready', status: 'False' }] }, 'NotReady'],
    ['NotReady (Unknown: kubelet stopped posting)', { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }] }, 'NotReady'],
    ['Unknown without a Ready condition', { conditions: [] }, 'Unknown'],
    ['cordoned', { unschedulable: true }, 'Ready,SchedulingDisabled'],
    ['cordoned and not ready', { unschedulable: true, conditions: [{ type: 'Ready', status: 'False' }] }, 'NotReady,SchedulingDisabled'],
  ])('rest-table - node STATUS: %s', (_name, extra, want) => {
    expect(cells('nodes', node(extra))[1]).toBe(want);
  });

  test.each<[string, object, string]>([
    ['no role labels', { 'kubernetes.io/hostname': 'n' }, '<none>'],
    ['several roles, sorted', { 'node-role.kubernetes.io/worker': '', 'node-role.kubernetes.io/control-plane': '', 'node-role.kubernetes.io/': '' }, 'control-plane,worker'],
    ['kubernetes.io/role', { 'kubernetes.io/role': 'master' }, 'master'],
    ['both forms, de-duplicated', { 'kubernetes.io/role': 'worker', 'node-role.kubernetes.io/worker': 'true' }, 'worker'],
  ])('rest-table - node ROLES: %s', (_name, labels, want) => {
    expect(cells('nodes', node({ labels }))[2]).toBe(want);
  });

  test('rest-table - node wide columns: external IP and <unknown> for missing node info', () => {
    const n = node({ nodeInfo: { kubeletVersion: 'v1.32.0' }, addresses: [{ type: 'ExternalIP', address: '34.1.2.3' }, { type: 'InternalIP', address: '10.0.0.4' }] });
    expect(cells('nodes', n).slice(4)).toEqual(['v1.32.0', '10.0.0.4', '34.1.2.3', '<unknown>', '<unknown>', '<unknown>']);
  });
});

describe('rest-table - services and endpoints', () => {
  const svc = (spec: object, status: object = {}) => ({ metadata: { name: 'web', namespace: 'default', creationTimestamp: ago(3 * H) }, spec, status });

  test.each<[string, object, object, unknown[]]>([
    ['the kubernetes Service', { type: 'ClusterIP', clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1'], ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] }, {}, ['web', 'ClusterIP', '10.96.0.1', '<none>', '443/TCP', '3h', '<none>']],
    ['NodePort with a selector', { type: 'NodePort', clusterIP: '10.96.12.34', clusterIPs: ['10.96.12.34'], selector: { app: 'web', tier: 'fe' }, ports: [{ port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 31234 }] }, {}, ['web', 'NodePort', '10.96.12.34', '<none>', '80:31234/TCP', '3h', 'app=web,tier=fe']],
    ['several ports and externalIPs', { type: 'ClusterIP', clusterIPs: ['10.96.0.10'], externalIPs: ['1.2.3.4', '5.6.7.8'], ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }, { name: 'metrics', port: 9153, protocol: 'TCP' }] }, {}, ['web', 'ClusterIP', '10.96.0.10', '1.2.3.4,5.6.7.8', '53/UDP,53/TCP,9153/TCP', '3h', '<none>']],
    ['LoadBalancer pending', { type: 'LoadBalancer', clusterIPs: ['10.96.1.1'], ports: [{ port: 80, protocol: 'TCP', nodePort: 30080 }] }, {}, ['web', 'LoadBalancer', '10.96.1.1', '<pending>', '80:30080/TCP', '3h', '<none>']],
    ['LoadBalancer with ingress, sorted and not clipped', { type: 'LoadBalancer', clusterIPs: ['10.96.1.1'], ports: [{ port: 80, protocol: 'TCP', nodePort: 30080 }] }, { loadBalancer: { ingress: [{ ip: '203.0.113.20' }, { hostname: 'a1b2c3.elb.example.com' }, { ip: '203.0.113.10' }] } }, ['web', 'LoadBalancer', '10.96.1.1', '203.0.113.10,203.0.113.20,a1b2c3.elb.example.com', '80:30080/TCP', '3h', '<none>']],
    ['LoadBalancer with ingress and externalIPs', { type: 'LoadBalancer', clusterIPs: ['10.96.1.1'], externalIPs: ['198.51.100.1'], ports: [{ port: 443, protocol: 'TCP', nodePort: 30443 }] }, { loadBalancer: { ingress: [{ ip: '203.0.113.10' }] } }, ['web', 'LoadBalancer', '10.96.1.1', '203.0.113.10,198.51.100.1', '443:30443/TCP', '3h', '<none>']],
    ['headless', { type: 'ClusterIP', clusterIP: 'None', clusterIPs: ['None'], selector: { app: 'db' }, ports: [{ port: 5432, protocol: 'TCP' }] }, {}, ['web', 'ClusterIP', 'None', '<none>', '5432/TCP', '3h', 'app=db']],
    ['ExternalName', { type: 'ExternalName', externalName: 'my.database.example.com' }, {}, ['web', 'ExternalName', '<none>', 'my.database.example.com', '<none>', '3h', '<none>']],
    ['only the legacy clusterIP field', { type: 'ClusterIP', clusterIP: '10.96.5.5', ports: [{ port: 80, protocol: 'TCP' }] }, {}, ['web', 'ClusterIP', '10.96.5.5', '<none>', '80/TCP', '3h', '<none>']],
  ])('rest-table - service: %s', (_name, spec, status, want) => {
    expect(cells('services', svc(spec, status))).toEqual(want);
  });

  test.each<[string, object[] | undefined, string]>([
    ['none', undefined, '<none>'],
    ['the apiserver', [{ addresses: [{ ip: '172.18.0.2' }], ports: [{ name: 'https', port: 6443, protocol: 'TCP' }] }], '172.18.0.2:6443'],
    [
      'more than three',
      [{ addresses: [{ ip: '10.244.1.2' }, { ip: '10.244.1.3' }, { ip: '10.244.2.4' }, { ip: '10.244.2.5' }], notReadyAddresses: [{ ip: '10.244.3.9' }], ports: [{ port: 80, protocol: 'TCP' }, { port: 443, protocol: 'TCP' }] }],
      '10.244.1.2:80,10.244.1.3:80,10.244.2.4:80 + 5 more...',
    ],
    ['headless without ports', [{ addresses: [{ ip: '10.244.1.2' }, { ip: '10.244.1.3' }] }], '10.244.1.2,10.244.1.3'],
    ['IPv6', [{ addresses: [{ ip: 'fd00::5' }], ports: [{ port: 8080, protocol: 'TCP' }] }], '[fd00::5]:8080'],
    ['only not-ready addresses', [{ notReadyAddresses: [{ ip: '10.244.1.2' }], ports: [{ port: 80, protocol: 'TCP' }] }], ''],
  ])('rest-table - endpoints: %s', (_name, subsets, want) => {
    expect(cells('endpoints', { metadata: { name: 'web', creationTimestamp: ago(45 * D) }, subsets })).toEqual(['web', want, '45d']);
  });
});

describe('rest-table - workloads', () => {
  const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }, { name: 'sidecar', image: 'busybox:1.36' }] } };

  test('rest-table - deployment', () => {
    const d = {
      metadata: { name: 'web', creationTimestamp: ago(10 * M) },
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template },
      status: { replicas: 3, updatedReplicas: 3, readyReplicas: 2, availableReplicas: 2 },
    };
    expect(cells('deployments', d)).toEqual(['web', '2/3', 3, 2, '10m', 'nginx,sidecar', 'nginx:1.27,busybox:1.36', 'app=web']);
    const fresh = { metadata: { name: 'web', creationTimestamp: ago(3 * S) }, spec: { replicas: 1, selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe', 'be'] }], matchLabels: { app: 'web' } }, template } };
    expect(cells('deployments', fresh)).toEqual(['web', '0/1', 0, 0, '3s', 'nginx,sidecar', 'nginx:1.27,busybox:1.36', 'app=web,tier in (be,fe)']);
  });

  test('rest-table - replicaset', () => {
    const rs = {
      metadata: { name: 'web-5d4f8b9c7', creationTimestamp: ago(2 * D + 3 * H) },
      spec: { replicas: 3, selector: { matchLabels: { app: 'web', 'pod-template-hash': '5d4f8b9c7' } }, template },
      status: { replicas: 3, readyReplicas: 2 },
    };
    expect(cells('replicasets', rs)).toEqual(['web-5d4f8b9c7', 3, 3, 2, '2d3h', 'nginx,sidecar', 'nginx:1.27,busybox:1.36', 'app=web,pod-template-hash=5d4f8b9c7']);
    // An old ReplicaSet scaled to zero.
    expect(cells('replicasets', { ...rs, spec: { ...rs.spec, replicas: 0 }, status: {} }).slice(1, 4)).toEqual([0, 0, 0]);
  });

  test('rest-table - statefulset', () => {
    const ss = { metadata: { name: 'db', creationTimestamp: ago(8 * H) }, spec: { replicas: 3, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: { spec: { containers: [{ name: 'postgres', image: 'postgres:16' }] } } }, status: { replicas: 2, readyReplicas: 1 } };
    expect(cells('statefulsets', ss)).toEqual(['db', '1/3', '8h', 'postgres', 'postgres:16']);
  });

  test('rest-table - daemonset', () => {
    const ds = {
      metadata: { name: 'kube-proxy', namespace: 'kube-system', creationTimestamp: ago(45 * D) },
      spec: { selector: { matchLabels: { 'k8s-app': 'kube-proxy' } }, template: { spec: { nodeSelector: { 'kubernetes.io/os': 'linux' }, containers: [{ name: 'kube-proxy', image: 'registry.k8s.io/kube-proxy:v1.32.0' }] } } },
      status: { desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 2, updatedNumberScheduled: 3, numberAvailable: 2 },
    };
    expect(cells('daemonsets', ds)).toEqual(['kube-proxy', 3, 3, 2, 3, 2, 'kubernetes.io/os=linux', '45d', 'kube-proxy', 'registry.k8s.io/kube-proxy:v1.32.0', 'k8s-app=kube-proxy']);
    const noSel = { ...ds, spec: { ...ds.spec, template: { spec: { containers: ds.spec.template.spec.containers } } } };
    expect(cells('daemonsets', noSel)[6]).toBe('<none>');
  });

  const job = (spec: object, status: object, metadata: object = {}) => ({
    metadata: { name: 'pi', creationTimestamp: ago(5 * M), ...metadata },
    spec: { selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'c0ffee' } }, template: { spec: { containers: [{ name: 'pi', image: 'perl:5.34.0' }], restartPolicy: 'Never' } }, ...spec },
    status,
  });

  test('rest-table - job complete: every cell', () => {
    const j = job(
      { completions: 1, parallelism: 1 },
      { startTime: ago(5 * M), completionTime: ago(5 * M - 12 * S), succeeded: 1, conditions: [{ type: 'SuccessCriteriaMet', status: 'True' }, { type: 'Complete', status: 'True' }] },
    );
    expect(cells('jobs', j)).toEqual(['pi', 'Complete', '1/1', '12s', '5m', 'pi', 'perl:5.34.0', 'batch.kubernetes.io/controller-uid=c0ffee']);
  });

  test.each<[string, object, object, object, unknown[]]>([
    ['running, duration so far', { completions: 5, parallelism: 2 }, { startTime: ago(3 * M + 20 * S), active: 2, succeeded: 2 }, {}, ['Running', '2/5', '3m20s']],
    ['work queue with parallelism', { parallelism: 3 }, { startTime: ago(30 * S), active: 3 }, {}, ['Running', '0/1 of 3', '30s']],
    ['no completions, parallelism 1', { parallelism: 1 }, { startTime: ago(30 * S), active: 1 }, {}, ['Running', '0/1', '30s']],
    ['not started yet', { completions: 1 }, {}, {}, ['Running', '0/1', '']],
    ['failed', { completions: 1, backoffLimit: 6 }, { startTime: ago(4 * M), failed: 7, conditions: [{ type: 'FailureTarget', status: 'True' }, { type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] }, {}, ['Failed', '0/1', '4m']],
    ['failure target reached, pods still terminating', { completions: 1 }, { startTime: ago(4 * M), conditions: [{ type: 'FailureTarget', status: 'True' }] }, {}, ['FailureTarget', '0/1', '4m']],
    ['success criteria met, not yet Complete', { completions: 1 }, { startTime: ago(4 * M), succeeded: 1, conditions: [{ type: 'SuccessCriteriaMet', status: 'True' }] }, {}, ['Running', '1/1', '4m']],
    ['suspended', { completions: 1, suspend: true }, { conditions: [{ type: 'Suspended', status: 'True' }] }, {}, ['Suspended', '0/1', '']],
    ['resumed (Suspended False)', { completions: 1 }, { startTime: ago(10 * S), conditions: [{ type: 'Suspended', status: 'False' }] }, {}, ['Running', '0/1', '10s']],
    ['terminating', { completions: 1 }, { startTime: ago(10 * S) }, { deletionTimestamp: ago(1 * S) }, ['Terminating', '0/1', '10s']],
  ])('rest-table - job: %s', (_name, spec, status, metadata, want) => {
    expect(cells('jobs', job(spec, status, metadata)).slice(1, 4)).toEqual(want);
  });

  test('rest-table - cronjob', () => {
    const cj = {
      metadata: { name: 'hello', creationTimestamp: ago(10 * M) },
      spec: { schedule: '*/1 * * * *', suspend: false, concurrencyPolicy: 'Allow', jobTemplate: { spec: { template: { spec: { containers: [{ name: 'hello', image: 'busybox:1.28' }], restartPolicy: 'OnFailure' } } } } },
      status: { lastScheduleTime: ago(45 * S), active: [{ kind: 'Job', name: 'hello-29000000', namespace: 'default' }] },
    };
    expect(cells('cronjobs', cj)).toEqual(['hello', '*/1 * * * *', '<none>', 'False', 1, '45s', '10m', 'hello', 'busybox:1.28', '<none>']);
    const tz = { ...cj, spec: { ...cj.spec, timeZone: 'Etc/UTC', suspend: true }, status: {} };
    expect(cells('cronjobs', tz).slice(1, 6)).toEqual(['*/1 * * * *', 'Etc/UTC', 'True', 0, '<none>']);
    const unset = { ...cj, spec: { schedule: '0 0 * * *', jobTemplate: cj.spec.jobTemplate } };
    expect(cells('cronjobs', unset)[3]).toBe('<unset>');
  });
});

describe('rest-table - config and storage', () => {
  test('rest-table - namespace', () => {
    expect(cells('namespaces', { metadata: { name: 'default', creationTimestamp: ago(45 * D) }, status: { phase: 'Active' } })).toEqual(['default', 'Active', '45d']);
    expect(cells('namespaces', { metadata: { name: 'old', creationTimestamp: ago(2 * D), deletionTimestamp: ago(5 * S) }, status: { phase: 'Terminating' } })).toEqual(['old', 'Terminating', '2d']);
  });

  test('rest-table - configmap counts data and binaryData', () => {
    expect(cells('configmaps', { metadata: { name: 'kube-root-ca.crt', creationTimestamp: ago(45 * D) }, data: { 'ca.crt': '-----BEGIN CERTIFICATE-----' } })).toEqual(['kube-root-ca.crt', 1, '45d']);
    expect(cells('configmaps', { metadata: { name: 'mixed', creationTimestamp: ago(1 * H) }, data: { a: '1', b: '2' }, binaryData: { c: 'AAEC' } })).toEqual(['mixed', 3, '60m']);
    expect(cells('configmaps', { metadata: { name: 'empty', creationTimestamp: ago(1 * H) } })).toEqual(['empty', 0, '60m']);
  });

  test('rest-table - secret', () => {
    expect(cells('secrets', { metadata: { name: 'db-pass', creationTimestamp: ago(3 * H) }, type: 'Opaque', data: { username: 'YWRtaW4=', password: 'czNjcjN0' } })).toEqual(['db-pass', 'Opaque', 2, '3h']);
    expect(cells('secrets', { metadata: { name: 'tls', creationTimestamp: ago(3 * H) }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'eA==', 'tls.key': 'eA==' } })).toEqual(['tls', 'kubernetes.io/tls', 2, '3h']);
  });

  test('rest-table - persistentvolume', () => {
    const pv = {
      metadata: { name: 'pv0001', creationTimestamp: ago(5 * D) },
      spec: { capacity: { storage: '10Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', storageClassName: 'standard', volumeMode: 'Filesystem', claimRef: { kind: 'PersistentVolumeClaim', namespace: 'default', name: 'data-db-0' }, hostPath: { path: '/data/pv0001' } },
      status: { phase: 'Bound' },
    };
    expect(cells('persistentvolumes', pv)).toEqual(['pv0001', '10Gi', 'RWO', 'Retain', 'Bound', 'default/data-db-0', 'standard', '<unset>', '', '5d', 'Filesystem']);
    const released = {
      metadata: { name: 'pv2', creationTimestamp: ago(5 * D), annotations: { 'volume.beta.kubernetes.io/storage-class': 'slow' } },
      spec: { capacity: { storage: '1024Mi' }, accessModes: ['ReadWriteMany', 'ReadOnlyMany', 'ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Delete', storageClassName: 'fast' },
      status: { phase: 'Failed', reason: 'VolumeFailedDelete' },
    };
    expect(cells('persistentvolumes', released)).toEqual(['pv2', '1Gi', 'RWO,ROX,RWX', 'Delete', 'Failed', '', 'slow', '<unset>', 'VolumeFailedDelete', '5d', '<unset>']);
    expect(cells('persistentvolumes', { ...pv, metadata: { ...pv.metadata, deletionTimestamp: ago(1 * S) } })[4]).toBe('Terminating');
  });

  test('rest-table - persistentvolumeclaim', () => {
    const bound = {
      metadata: { name: 'data-db-0', creationTimestamp: ago(5 * D) },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '8Gi' } }, storageClassName: 'standard', volumeName: 'pv0001', volumeMode: 'Filesystem' },
      status: { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: '10Gi' } },
    };
    expect(cells('persistentvolumeclaims', bound)).toEqual(['data-db-0', 'Bound', 'pv0001', '10Gi', 'RWO', 'standard', '<unset>', '5d', 'Filesystem']);
    const pending = { metadata: { name: 'claim', creationTimestamp: ago(60 * S) }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } }, status: { phase: 'Pending' } };
    expect(cells('persistentvolumeclaims', pending)).toEqual(['claim', 'Pending', '', '', '', '', '<unset>', '60s', '<unset>']);
  });
});

describe('rest-table - events', () => {
  const ev = (extra: object) => ({
    metadata: { name: 'web-1.17a2b3c4d5e6f708', namespace: 'default', creationTimestamp: ago(10 * M) },
    involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-1', apiVersion: 'v1' },
    ...extra,
  });

  test('rest-table - a scheduler event: every cell', () => {
    const e = ev({ reason: 'Scheduled', message: 'Successfully assigned default/web-1 to node-1', type: 'Normal', source: { component: 'default-scheduler' }, firstTimestamp: ago(2 * M), lastTimestamp: ago(2 * M), count: 1 });
    expect(cells('events', e)).toEqual(['2m', 'Normal', 'Scheduled', 'pod/web-1', '', 'default-scheduler', 'Successfully assigned default/web-1 to node-1', '2m', 1, 'web-1.17a2b3c4d5e6f708']);
  });

  test('rest-table - a repeated kubelet warning: count, host and sub-object', () => {
    const e = ev({
      reason: 'BackOff',
      message: 'Back-off restarting failed container web in pod web-1_default(uid)\n',
      type: 'Warning',
      source: { component: 'kubelet', host: 'node-1' },
      involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-1', fieldPath: 'spec.containers{web}' },
      firstTimestamp: ago(10 * M),
      lastTimestamp: ago(30 * S),
      count: 12,
    });
    expect(cells('events', e)).toEqual(['30s', 'Warning', 'BackOff', 'pod/web-1', 'spec.containers{web}', 'kubelet, node-1', 'Back-off restarting failed container web in pod web-1_default(uid)', '10m', 12, 'web-1.17a2b3c4d5e6f708']);
  });

  test('rest-table - an events.k8s.io event: eventTime, reporting controller, series, default count', () => {
    const single = ev({ reason: 'ScalingReplicaSet', message: 'Scaled up replica set web-5d4 from 0 to 3', type: 'Normal', eventTime: '2026-11-23T11:54:59.500000Z', reportingComponent: 'deployment-controller', reportingInstance: '', involvedObject: { kind: 'Deployment', name: 'web' } });
    expect(cells('events', single)).toEqual(['5m', 'Normal', 'ScalingReplicaSet', 'deployment/web', '', 'deployment-controller', 'Scaled up replica set web-5d4 from 0 to 3', '5m', 1, 'web-1.17a2b3c4d5e6f708']);
    const series = ev({ reason: 'Unhealthy', message: 'Readiness probe failed', type: 'Warning', eventTime: ago(20 * M), series: { count: 7, lastObservedTime: ago(15 * S) }, reportingComponent: 'kubelet', reportingInstance: 'node-2' });
    expect(cells('events', series)).toEqual(['15s', 'Warning', 'Unhealthy', 'pod/web-1', '', 'kubelet, node-2', 'Readiness probe failed', '20m', 7, 'web-1.17a2b3c4d5e6f708']);
  });

  test('rest-table - an event about a cluster object without a name prints just the kind', () => {
    const e = ev({ reason: 'RegisteredNode', type: 'Normal', involvedObject: { kind: 'Node' }, lastTimestamp: ago(1 * H), firstTimestamp: ago(1 * H), count: 1 });
    expect(cells('events', e).slice(0, 4)).toEqual(['60m', 'Normal', 'RegisteredNode', 'node']);
  });
});

describe('rest-table - networking and coordination', () => {
  test.each<[string, object, object, unknown[]]>([
    [
      'class, several hosts, TLS, address',
      { ingressClassName: 'nginx', tls: [{ hosts: ['example.com'], secretName: 'tls' }], rules: [{ host: 'example.com' }, { host: 'foo.bar.com' }] },
      { loadBalancer: { ingress: [{ ip: '192.168.49.2' }] } },
      ['web', 'nginx', 'example.com,foo.bar.com', '192.168.49.2', '80, 443', '3h'],
    ],
    ['no class, no host, no address', { defaultBackend: { service: { name: 'web', port: { number: 80 } } } }, {}, ['web', '<none>', '*', '', '80', '3h']],
    ['a rule without a host', { ingressClassName: 'kubemu', rules: [{ http: { paths: [] } }] }, {}, ['web', 'kubemu', '*', '', '80', '3h']],
    ['more than three hosts', { rules: [{ host: 'a.com' }, { host: 'b.com' }, { host: 'c.com' }, { host: 'd.com' }, { host: 'e.com' }] }, {}, ['web', '<none>', 'a.com,b.com,c.com + 2 more...', '', '80', '3h']],
  ])('rest-table - ingress: %s', (_name, spec, status, want) => {
    expect(cells('ingresses', { metadata: { name: 'web', creationTimestamp: ago(3 * H) }, spec, status })).toEqual(want);
  });

  test('rest-table - ingressclass', () => {
    expect(cells('ingressclasses', { metadata: { name: 'nginx', creationTimestamp: ago(45 * D) }, spec: { controller: 'k8s.io/ingress-nginx' } })).toEqual(['nginx', 'k8s.io/ingress-nginx', '<none>', '45d']);
    const withParams = { metadata: { name: 'external-lb', creationTimestamp: ago(45 * D) }, spec: { controller: 'example.com/ingress-controller', parameters: { apiGroup: 'k8s.example.com', kind: 'IngressParameters', name: 'external-lb' } } };
    expect(cells('ingressclasses', withParams)[2]).toBe('IngressParameters.k8s.example.com/external-lb');
  });

  test('rest-table - lease', () => {
    expect(cells('leases', { metadata: { name: 'kube-scheduler', namespace: 'kube-system', creationTimestamp: ago(45 * D) }, spec: { holderIdentity: 'kind-control-plane_0f1e2d', leaseDurationSeconds: 15 } })).toEqual(['kube-scheduler', 'kind-control-plane_0f1e2d', '45d']);
    expect(cells('leases', { metadata: { name: 'free', creationTimestamp: ago(45 * D) }, spec: {} })).toEqual(['free', '', '45d']);
  });
});
