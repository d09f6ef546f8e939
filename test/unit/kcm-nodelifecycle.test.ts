/**
 * Node lifecycle and taint eviction: toleration matching and eviction timing (table-driven),
 * NoSchedule taints from conditions, zone states, health tracking from heartbeats and leases, and
 * the monitor and taint-eviction reconcile against fake caches and clients.
 */
import { Lease } from '../../services/lib/generated/kubemu/coordination/v1/coordination';
import { Node, Pod, Taint, Toleration } from '../../services/lib/generated/kubemu/core/v1/core';
import { logger } from '../../services/lib/log';
import { NodeHealthMonitor, NodeLifecycleDeps, reconcileNoScheduleTaints, TokenBucket } from '../../services/kube-controller-manager/nodelifecycle/controller';
import { observeHealth, unknownConditions } from '../../services/kube-controller-manager/nodelifecycle/health';
import { TaintEviction } from '../../services/kube-controller-manager/nodelifecycle/tainteviction';
import { desiredNoScheduleKeys, evictionDecision, matchingTolerations, minTolerationSeconds, reconcileTaints, toleratesTaint, zoneState } from '../../services/kube-controller-manager/nodelifecycle/taints';

const UNREACHABLE: Taint = { key: 'node.kubernetes.io/unreachable', value: '', effect: 'NoExecute' };
const NOT_READY: Taint = { key: 'node.kubernetes.io/not-ready', value: '', effect: 'NoExecute' };
const tol = (t: Partial<Toleration>): Toleration => ({ key: '', operator: '', value: '', effect: '', ...t });

describe('taints - toleratesTaint', () => {
  const taint: Taint = { key: 'k', value: 'v', effect: 'NoExecute' };
  test.each<[string, Partial<Toleration>, boolean]>([
    ['Equal with the same value', { key: 'k', operator: 'Equal', value: 'v', effect: 'NoExecute' }, true],
    ['empty operator means Equal', { key: 'k', value: 'v' }, true],
    ['Equal with another value', { key: 'k', operator: 'Equal', value: 'w' }, false],
    ['Exists ignores the value', { key: 'k', operator: 'Exists' }, true],
    ['empty key with Exists tolerates everything', { operator: 'Exists' }, true],
    ['other effect', { key: 'k', operator: 'Exists', effect: 'NoSchedule' }, false],
    ['other key', { key: 'x', operator: 'Exists' }, false],
    ['unknown operator', { key: 'k', operator: 'Gt', value: 'v' }, false],
  ])('%s', (_n, t, want) => expect(toleratesTaint(tol(t), taint)).toBe(want));
});

describe('taints - eviction timing', () => {
  const pod = (tolerations: Partial<Toleration>[]): Pod => ({ metadata: { name: 'p' }, spec: { tolerations: tolerations.map(tol) } as Pod['spec'] });
  const T0 = 1_000_000;
  test.each<[string, Taint[], Partial<Toleration>[], unknown]>([
    ['no NoExecute taint: keep', [], [], { action: 'keep' }],
    ['not tolerated: evict now', [UNREACHABLE], [], { action: 'evictNow' }],
    ['one of two taints not tolerated: evict now', [UNREACHABLE, { key: 'x', value: '', effect: 'NoExecute' }], [{ key: UNREACHABLE.key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }], { action: 'evictNow' }],
    ['default 300 s toleration: evict after 300 s', [UNREACHABLE], [{ key: UNREACHABLE.key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }], { action: 'evictAt', at: T0 + 300000 }],
    ['the smallest tolerationSeconds wins', [UNREACHABLE, NOT_READY], [{ key: UNREACHABLE.key, operator: 'Exists', tolerationSeconds: 60 }, { key: NOT_READY.key, operator: 'Exists', tolerationSeconds: 15 }], { action: 'evictAt', at: T0 + 15000 }],
    ['tolerated forever: keep', [UNREACHABLE], [{ operator: 'Exists' }], { action: 'keep' }],
    ['tolerationSeconds 0: evict now', [UNREACHABLE], [{ operator: 'Exists', tolerationSeconds: 0 }], { action: 'evictNow' }],
    ['negative tolerationSeconds counts as 0', [UNREACHABLE], [{ operator: 'Exists', tolerationSeconds: -5 }], { action: 'evictNow' }],
  ])('%s', (_n, taints, tolerations, want) => expect(evictionDecision(pod(tolerations), taints, T0)).toEqual(want));

  test('matching and minimum helpers', () => {
    expect(matchingTolerations([UNREACHABLE], [tol({ key: 'x', operator: 'Exists' })])).toBeUndefined();
    expect(minTolerationSeconds([])).toBe(0);
    expect(minTolerationSeconds([tol({ tolerationSeconds: 10 }), tol({})])).toBe(10);
  });
});

describe('taints - NoSchedule and zones', () => {
  const node = (conds: Record<string, string>, unschedulable = false): Node => ({ metadata: { name: 'n' }, spec: { unschedulable, taints: [] } as Node['spec'], status: { conditions: Object.entries(conds).map(([type, status]) => ({ type, status })) } as Node['status'] });
  test.each<[string, Node, string[]]>([
    ['ready node: none', node({ Ready: 'True' }), []],
    ['Ready False: not-ready', node({ Ready: 'False' }), ['node.kubernetes.io/not-ready']],
    ['Ready Unknown: unreachable', node({ Ready: 'Unknown' }), ['node.kubernetes.io/unreachable']],
    ['memory pressure', node({ Ready: 'True', MemoryPressure: 'True' }), ['node.kubernetes.io/memory-pressure']],
    ['cordoned', node({ Ready: 'True' }, true), ['node.kubernetes.io/unschedulable']],
  ])('%s', (_n, n, want) => expect(desiredNoScheduleKeys(n)).toEqual(want));

  test('reconcileTaints keeps others and timeAdded, adds and removes its own', () => {
    const theirs: Taint = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };
    const old: Taint = { key: 'node.kubernetes.io/not-ready', value: '', effect: 'NoSchedule', timeAdded: 'earlier' };
    expect(reconcileTaints([theirs, old], 'NoSchedule', ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'], ['node.kubernetes.io/unreachable'], 'now')).toEqual([
      theirs,
      { key: 'node.kubernetes.io/unreachable', value: '', effect: 'NoSchedule', timeAdded: 'now' },
    ]);
    expect(reconcileTaints([theirs, old], 'NoSchedule', ['node.kubernetes.io/not-ready'], ['node.kubernetes.io/not-ready'], 'now')).toBeUndefined();
  });

  test.each<[string, string[], string]>([
    ['all ready', ['True', 'True', 'True'], 'Normal'],
    ['one of three down', ['True', 'Unknown', 'True'], 'Normal'],
    ['none ready', ['Unknown', 'False'], 'FullDisruption'],
    ['3 of 5 down', ['Unknown', 'Unknown', 'False', 'True', 'True'], 'PartialDisruption'],
    ['2 of 3 down is not partial (needs more than 2)', ['Unknown', 'Unknown', 'True'], 'Normal'],
  ])('zone state: %s', (_n, statuses, want) => expect(zoneState(statuses)).toBe(want));

  test('token bucket: burst 1 then 0.1/s', () => {
    const b = new TokenBucket(0.1);
    expect(b.tryAccept(0)).toBe(true);
    expect(b.tryAccept(5000)).toBe(false);
    expect(b.tryAccept(10001)).toBe(true);
  });
});

describe('node health', () => {
  const node = (heartbeat: string, ready = 'True'): Node => ({ metadata: { name: 'n', creationTimestamp: '2026-01-01T00:00:00Z' }, status: { conditions: [{ type: 'Ready', status: ready, lastHeartbeatTime: heartbeat, reason: 'KubeletReady' }, { type: 'MemoryPressure', status: 'False', lastHeartbeatTime: heartbeat }] } as Node['status'] });
  const lease = (renew: string): Lease => ({ metadata: { name: 'n' }, spec: { renewTime: renew } });

  test('first sight starts the clock; only a new heartbeat or renewal moves it', () => {
    const h1 = observeHealth(undefined, node('h1'), lease('r1'), 1000);
    expect(h1.probeTimestamp).toBe(1000);
    expect(observeHealth(h1, node('h1'), lease('r1'), 5000).probeTimestamp).toBe(1000);
    expect(observeHealth(h1, node('h1'), lease('r2'), 5000).probeTimestamp).toBe(5000);
    expect(observeHealth(h1, node('h2'), lease('r1'), 6000).probeTimestamp).toBe(6000);
  });

  test('unknown conditions: Kubernetes reasons and messages, heartbeat kept, missing ones added', () => {
    const c = unknownConditions(node('h1'), Date.parse('2026-11-23T00:00:00Z'))!;
    expect(c.find((x) => x.type === 'Ready')).toEqual({ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastHeartbeatTime: 'h1', lastTransitionTime: '2026-11-23T00:00:00Z' });
    expect(c.find((x) => x.type === 'DiskPressure')).toMatchObject({ status: 'Unknown', reason: 'NodeStatusNeverUpdated', message: 'Kubelet never posted node status.', lastHeartbeatTime: '2026-01-01T00:00:00Z' });
    expect(unknownConditions({ ...node('h1'), status: { conditions: c } } as Node, 0)).toBeUndefined();
  });
});

describe('node lifecycle - monitor', () => {
  function setup(nodeList: Node[], podList: Pod[]) {
    let now = 100_000;
    const calls: string[] = [];
    const events: string[] = [];
    const nodes = new Map(nodeList.map((n) => [n.metadata!.name!, n]));
    const deps: NodeLifecycleDeps = {
      nodes: { get: (k) => nodes.get(k), list: () => [...nodes.values()] },
      leases: { get: () => undefined },
      pods: { byIndex: (_i, v) => podList.filter((p) => p.spec?.nodeName === v) },
      client: {
        updateStatus: (async (_i: unknown, o: Node | Pod) => {
          calls.push(`status ${o.metadata!.name} ${o.status?.conditions?.find((c) => c.type === 'Ready')?.status}`);
          if ((o as Node).spec?.taints !== undefined || nodes.has(o.metadata!.name!)) nodes.set(o.metadata!.name!, o as Node);
          return o;
        }) as never,
        update: (async (_i: unknown, o: Node) => {
          calls.push(`taints ${o.metadata!.name} ${(o.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).join(',')}`);
          nodes.set(o.metadata!.name!, o);
          return o;
        }) as never,
      },
      recorder: { record: async (o, _t, reason, _a, message) => void events.push(`${o.metadata!.name} ${reason}: ${message}`) },
      log: logger('test'),
      now: () => now,
      gracePeriodSeconds: 10,
    };
    return { monitor: new NodeHealthMonitor(deps), deps, calls, events, nodes, advance: (ms: number) => (now += ms) };
  }
  const node = (name: string): Node => ({ metadata: { name }, spec: { taints: [] } as Node['spec'], status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: 'h' }] } as Node['status'] });
  const pod = (name: string, nodeName: string): Pod => ({ metadata: { name, namespace: 'default' }, spec: { nodeName } as Pod['spec'], status: { conditions: [{ type: 'Ready', status: 'True' }] } });

  test('silent node: Unknown after the grace period, pods not ready, NodeNotReady events, unreachable NoExecute taint', async () => {
    const s = setup([node('node-1'), node('node-2'), node('node-3')], [pod('a', 'node-1'), pod('b', 'node-2')]);
    await s.monitor.monitor();
    expect(s.calls).toEqual([]);
    s.advance(5000);
    // node-2 and node-3 keep posting; node-1 does not.
    const beat = (n: string, hb: string) => s.nodes.set(n, { ...s.nodes.get(n)!, status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: hb }] } as Node['status'] });
    beat('node-2', 'h2');
    beat('node-3', 'h2');
    await s.monitor.monitor();
    expect(s.calls).toEqual([]);
    s.advance(6000);
    beat('node-2', 'h3');
    beat('node-3', 'h3');
    await s.monitor.monitor();
    expect(s.calls).toEqual(['status node-1 Unknown', 'status a False', 'taints node-1 node.kubernetes.io/unreachable:NoExecute']);
    expect(s.events).toEqual(['node-1 NodeNotReady: Node node-1 status is now: NodeNotReady', 'a NodeNotReady: Node is not ready']);
  });

  test('every node silent: full disruption, no NoExecute taint', async () => {
    const s = setup([node('node-1'), node('node-2')], []);
    await s.monitor.monitor();
    s.advance(11000);
    await s.monitor.monitor();
    expect(s.calls).toEqual(['status node-1 Unknown', 'status node-2 Unknown']);
  });

  test('a node Ready again loses its NoExecute taints; NoSchedule follows conditions', async () => {
    const tainted: Node = { ...node('node-1'), spec: { taints: [{ ...UNREACHABLE, timeAdded: 't' }, { key: 'node.kubernetes.io/unreachable', value: '', effect: 'NoSchedule' }] } as Node['spec'] };
    const s = setup([tainted, node('node-2')], []);
    await s.monitor.monitor();
    expect(s.calls).toEqual(['taints node-1 node.kubernetes.io/unreachable:NoSchedule']);
    await reconcileNoScheduleTaints(s.deps, 'node-1');
    expect(s.calls[1]).toBe('taints node-1 ');
  });
});

describe('taint eviction - reconcile', () => {
  function setup(pod: Pod, node: Node) {
    let now = 1_000_000;
    const calls: string[] = [];
    const events: string[] = [];
    const te = new TaintEviction({
      pods: { get: () => pod },
      nodes: { get: () => node },
      client: {
        updateStatus: (async (_i: unknown, p: Pod) => (calls.push(`condition ${p.status?.conditions?.find((c) => c.type === 'DisruptionTarget')?.reason}`), p)) as never,
        delete: (async () => (calls.push('delete'), {})) as never,
      },
      recorder: { record: async (_o, _t, reason, _a, message) => void events.push(`${reason}: ${message}`) },
      log: logger('test'),
      now: () => now,
    });
    return { te, calls, events, advance: (ms: number) => (now += ms), setNode: (n: Node) => (node = n) };
  }
  const tainted = (taints: Taint[]): Node => ({ metadata: { name: 'node-1' }, spec: { taints } as Node['spec'] });
  const pod = (tolerations: Partial<Toleration>[]): Pod => ({ metadata: { name: 'x', namespace: 'default', uid: 'u' }, spec: { nodeName: 'node-1', tolerations: tolerations.map(tol) } as Pod['spec'], status: {} });

  test('not tolerated: DisruptionTarget, event, delete at once', async () => {
    const s = setup(pod([]), tainted([UNREACHABLE]));
    expect(await s.te.reconcile('default/x')).toBeUndefined();
    expect(s.calls).toEqual(['condition DeletionByTaintManager', 'delete']);
    expect(s.events).toEqual(['TaintManagerEviction: Marking for deletion Pod default/x']);
  });

  test('tolerated for 15 s: requeued, then evicted when the time comes', async () => {
    const s = setup(pod([{ key: UNREACHABLE.key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 15 }]), tainted([UNREACHABLE]));
    expect(await s.te.reconcile('default/x')).toEqual({ requeueAfterMs: 15000 });
    s.advance(10000);
    expect(await s.te.reconcile('default/x')).toEqual({ requeueAfterMs: 5000 });
    s.advance(5000);
    await s.te.reconcile('default/x');
    expect(s.calls).toEqual(['condition DeletionByTaintManager', 'delete']);
  });

  test('taint removed in time: eviction cancelled', async () => {
    const s = setup(pod([{ key: UNREACHABLE.key, operator: 'Exists', tolerationSeconds: 15 }]), tainted([UNREACHABLE]));
    await s.te.reconcile('default/x');
    s.setNode(tainted([]));
    expect(await s.te.reconcile('default/x')).toBeUndefined();
    expect(s.calls).toEqual([]);
    expect(s.events).toEqual(['TaintManagerEviction: Cancelling deletion of Pod default/x']);
  });
});
