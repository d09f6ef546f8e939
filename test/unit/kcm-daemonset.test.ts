/**
 * DaemonSet controller: which nodes should run the daemon (table-driven over selectors, affinity,
 * taints and tolerations), the daemon pod built for a node, the rolling-update arithmetic, and
 * syncDaemonSet on an in-memory cache with a recording client.
 */
import { DaemonSet } from '../../services/lib/generated/kubemu/apps/v1/apps';
import { Node, Pod, Taint, Toleration } from '../../services/lib/generated/kubemu/core/v1/core';
import { logger } from '../../services/lib/log';
import { ControllerExpectations } from '../../services/kube-controller-manager/expectations';
import { extraPods, newDaemonPod, PODS_BY_DAEMONSET, syncDaemonSet } from '../../services/kube-controller-manager/daemonset/controller';
import {
  nodeShouldRunDaemonPod,
  rollingUpdateDeletions,
  scaledValue,
  surgeUpdate,
  targetNodeName,
  templateHash,
} from '../../services/kube-controller-manager/daemonset/placement';

const node = (name: string, labels: Record<string, string> = {}, taints: Taint[] = [], unschedulable = false): Node => ({
  metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
  spec: { taints, unschedulable },
});
const ds = (spec: NonNullable<NonNullable<DaemonSet['spec']>['template']>['spec'] = {}): DaemonSet => ({
  metadata: { name: 'agent', namespace: 'default', uid: 'ds-uid', generation: 1 },
  spec: {
    selector: { matchLabels: { app: 'agent' } },
    template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'c', image: 'x' }], ...spec } },
    updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
  },
});

describe('daemonset - node selection', () => {
  const gpu: Taint = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };
  const gpuExec: Taint = { key: 'dedicated', value: 'gpu', effect: 'NoExecute' };
  const tolerateGpu: Toleration = { key: 'dedicated', operator: 'Equal', value: 'gpu' };
  const cases: { name: string; spec?: Parameters<typeof ds>[0]; node: Node; run: boolean; cont: boolean }[] = [
    { name: 'plain node', node: node('n'), run: true, cont: true },
    { name: 'nodeSelector matches', spec: { nodeSelector: { disk: 'ssd' } }, node: node('n', { disk: 'ssd' }), run: true, cont: true },
    { name: 'nodeSelector does not match', spec: { nodeSelector: { disk: 'ssd' } }, node: node('n', { disk: 'hdd' }), run: false, cont: false },
    {
      name: 'required node affinity does not match',
      spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } } } },
      node: node('n', { zone: 'b' }),
      run: false,
      cont: false,
    },
    {
      name: 'required node affinity matches',
      spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } } } },
      node: node('n', { zone: 'a' }),
      run: true,
      cont: true,
    },
    { name: 'template nodeName elsewhere', spec: { nodeName: 'other' }, node: node('n'), run: false, cont: false },
    { name: 'untolerated NoSchedule: no new pod, an existing one stays', node: node('n', {}, [gpu]), run: false, cont: true },
    { name: 'untolerated NoExecute: none', node: node('n', {}, [gpuExec]), run: false, cont: false },
    { name: 'tolerated NoSchedule', spec: { tolerations: [tolerateGpu] }, node: node('n', {}, [gpu]), run: true, cont: true },
    { name: 'tolerated NoExecute', spec: { tolerations: [tolerateGpu] }, node: node('n', {}, [gpuExec]), run: true, cont: true },
    { name: 'Exists toleration without key tolerates all', spec: { tolerations: [{ operator: 'Exists' }] }, node: node('n', {}, [gpu, gpuExec]), run: true, cont: true },
    { name: 'PreferNoSchedule is ignored', node: node('n', {}, [{ key: 'x', effect: 'PreferNoSchedule' }]), run: true, cont: true },
    { name: 'default toleration: not-ready NoExecute', node: node('n', {}, [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' }]), run: true, cont: true },
    { name: 'default toleration: unreachable NoExecute', node: node('n', {}, [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }]), run: true, cont: true },
    { name: 'default toleration: disk-pressure', node: node('n', {}, [{ key: 'node.kubernetes.io/disk-pressure', effect: 'NoSchedule' }]), run: true, cont: true },
    { name: 'default toleration: memory-pressure', node: node('n', {}, [{ key: 'node.kubernetes.io/memory-pressure', effect: 'NoSchedule' }]), run: true, cont: true },
    { name: 'default toleration: pid-pressure', node: node('n', {}, [{ key: 'node.kubernetes.io/pid-pressure', effect: 'NoSchedule' }]), run: true, cont: true },
    { name: 'default toleration: cordoned (unschedulable taint)', node: node('n', {}, [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }], true), run: true, cont: true },
    { name: 'network-unavailable only tolerated with hostNetwork', node: node('n', {}, [{ key: 'node.kubernetes.io/network-unavailable', effect: 'NoSchedule' }]), run: false, cont: true },
    { name: 'network-unavailable with hostNetwork', spec: { hostNetwork: true }, node: node('n', {}, [{ key: 'node.kubernetes.io/network-unavailable', effect: 'NoSchedule' }]), run: true, cont: true },
  ];
  test.each(cases)('$name', ({ spec, node: n, run, cont }) => {
    expect(nodeShouldRunDaemonPod(ds(spec), n)).toEqual({ shouldRun: run, shouldContinueRunning: cont });
  });
});

describe('daemonset - pods', () => {
  test('a daemon pod targets its node by required affinity and carries the daemon tolerations and labels', () => {
    const set = ds({ tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' }], affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: 'a', operator: 'Exists' }] } }] } } });
    const pod = newDaemonPod(set, 'n1', 'hash1');
    expect(pod.metadata?.generateName).toBe('agent-');
    expect(pod.spec?.nodeName).toBeUndefined();
    expect(pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution).toEqual({ nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }] });
    expect(pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
    expect(targetNodeName(pod)).toBe('n1');
    // The template's not-ready toleration is not duplicated.
    expect(pod.spec?.tolerations?.filter((t) => t.key === 'node.kubernetes.io/not-ready')).toHaveLength(1);
    expect(pod.spec?.tolerations).toHaveLength(6);
    expect(pod.metadata?.labels).toEqual({ app: 'agent', 'controller-revision-hash': 'hash1', 'pod-template-generation': '1' });
    expect(pod.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'DaemonSet', name: 'agent', controller: true })]);
  });

  test('templateHash changes with the template only', () => {
    const a = ds();
    const b = ds();
    b.metadata!.generation = 7;
    expect(templateHash(a)).toBe(templateHash(b));
    expect(templateHash(ds({ hostNetwork: true }))).not.toBe(templateHash(a));
  });

  test.each([
    [1, 10, 1],
    ['10%', 10, 1],
    ['25%', 3, 1],
    ['50%', 5, 3],
    ['0%', 5, 0],
  ])('scaledValue(%p of %d) = %d', (v, total, want) => {
    expect(scaledValue(v, total, true)).toBe(want);
  });
});

describe('daemonset - rolling update deletions (maxSurge 0)', () => {
  const old = (name: string, available = true) => ({ old: { name, available } });
  const upd = (available = true) => ({ updated: { available } });
  test.each([
    { name: 'one old pod at a time', nodes: [old('a'), old('b'), old('c')], max: 1, want: ['a'] },
    { name: 'two at a time', nodes: [old('a'), old('b'), old('c')], max: 2, want: ['a', 'b'] },
    { name: 'an unavailable updated pod uses the budget', nodes: [upd(false), old('b'), old('c')], max: 1, want: [] },
    { name: 'a node without a pod uses the budget', nodes: [{}, old('b')], max: 1, want: [] },
    { name: 'old unavailable pods are replaced regardless', nodes: [upd(false), old('b', false), old('c')], max: 1, want: ['b'] },
    { name: 'all updated', nodes: [upd(), upd()], max: 1, want: [] },
  ])('$name', ({ nodes, max, want }) => {
    expect(rollingUpdateDeletions(nodes, max)).toEqual(want);
  });
});

describe('daemonset - rolling update with maxSurge', () => {
  const n = (node: string, x: Partial<Parameters<typeof surgeUpdate>[0][number]> = {}) => ({ node, shouldRun: true, ...x });
  test.each([
    { name: 'surges onto maxSurge nodes', nodes: [n('a', { old: { name: 'pa', available: true } }), n('b', { old: { name: 'pb', available: true } })], max: 1, want: { deletePods: [], createOn: ['a'] } },
    { name: 'waits while a surged pod is not available', nodes: [n('a', { old: { name: 'pa', available: true }, updated: { available: false } }), n('b', { old: { name: 'pb', available: true } })], max: 1, want: { deletePods: [], createOn: [] } },
    { name: 'deletes the old pod once the new one is available, and surges on', nodes: [n('a', { old: { name: 'pa', available: true }, updated: { available: true } }), n('b', { old: { name: 'pb', available: true } })], max: 1, want: { deletePods: ['pa'], createOn: ['b'] } },
    { name: 'an unavailable old pod is replaced regardless of the budget', nodes: [n('a', { old: { name: 'pa', available: true }, updated: { available: false } }), n('b', { old: { name: 'pb', available: false } })], max: 1, want: { deletePods: [], createOn: ['b'] } },
    { name: 'an unavailable old pod where the daemon no longer belongs is deleted', nodes: [n('a', { shouldRun: false, old: { name: 'pa', available: false } })], max: 1, want: { deletePods: ['pa'], createOn: [] } },
  ])('$name', ({ nodes, max, want }) => {
    expect(surgeUpdate(nodes, max)).toEqual(want);
  });

  test('two pods on a node under surge: the old one stays only while it is ready and the new one is not', () => {
    const set = ds();
    const mk = (name: string, hash: string, ready: boolean, at: string): Pod => {
      const p = newDaemonPod(set, 'n1', hash);
      p.metadata!.name = name;
      p.metadata!.creationTimestamp = at;
      p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] };
      return p;
    };
    const names = (pods: Pod[]) => pods.map((p) => p.metadata?.name);
    expect(names(extraPods([mk('old', 'h0', true, '2026-01-01T00:00:00Z'), mk('new', 'h1', false, '2026-01-01T00:01:00Z')], 'h1', 9, 1))).toEqual([]);
    expect(names(extraPods([mk('old', 'h0', true, '2026-01-01T00:00:00Z'), mk('new', 'h1', true, '2026-01-01T00:01:00Z')], 'h1', 9, 1))).toEqual(['old']);
    expect(names(extraPods([mk('old', 'h0', false, '2026-01-01T00:00:00Z'), mk('new', 'h1', false, '2026-01-01T00:01:00Z')], 'h1', 9, 1))).toEqual(['old']);
    expect(names(extraPods([mk('a', 'h1', true, '2026-01-01T00:00:00Z'), mk('b', 'h1', true, '2026-01-01T00:01:00Z')], 'h1', 9, 0))).toEqual(['b']);
  });
});

describe('daemonset - sync', () => {
  const readyPod = (set: DaemonSet, nodeName: string, hash: string, name: string): Pod => {
    const p = newDaemonPod(set, nodeName, hash);
    p.metadata!.name = name;
    p.metadata!.uid = name;
    p.metadata!.creationTimestamp = '2026-01-01T00:00:00Z';
    p.spec!.nodeName = nodeName;
    p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
    return p;
  };

  async function run(set: DaemonSet, nodes: Node[], pods: Pod[]) {
    const calls: string[] = [];
    const statuses: DaemonSet[] = [];
    const events: string[] = [];
    await syncDaemonSet(
      {
        client: {
          create: async (_i: unknown, p: Pod) => {
            calls.push(`create ${targetNodeName(p)}`);
            return { ...p, metadata: { ...p.metadata, name: 'agent-new' } };
          },
          delete: async (_i: unknown, _ns: string, name: string) => {
            calls.push(`delete ${name}`);
            return {};
          },
          updateStatus: async (_i: unknown, o: DaemonSet) => {
            statuses.push(o);
            return o;
          },
        } as never,
        sets: { get: () => set },
        pods: { byIndex: (i, v) => (i === PODS_BY_DAEMONSET && v === 'default/agent' ? pods : []) },
        nodes: { list: () => nodes },
        recorder: { record: async (_o, _t, reason, _a, message) => void events.push(`${reason} ${message}`) },
        expectations: new ControllerExpectations(),
        log: logger('test'),
        now: () => Date.now(),
      },
      'default/agent',
    );
    return { calls, statuses, events };
  }

  test('creates a pod for each matching node without one, deletes misplaced ones, removes pods of vanished nodes', async () => {
    const set = ds({ nodeSelector: { role: 'edge' } });
    const h = templateHash(set);
    const nodes = [node('n1', { role: 'edge' }), node('n2', { role: 'edge' }), node('n3')];
    const pending = newDaemonPod(set, 'gone-too', h);
    pending.metadata!.name = 'p-pending';
    const { calls, events, statuses } = await run(set, nodes, [readyPod(set, 'n1', h, 'p1'), readyPod(set, 'n3', h, 'p3'), readyPod(set, 'gone', h, 'p-gone'), pending]);
    expect(calls.sort()).toEqual(['create n2', 'delete p-gone', 'delete p-pending', 'delete p3']);
    expect(events).toEqual(expect.arrayContaining(['SuccessfulCreate Created pod: agent-new', 'SuccessfulDelete Deleted pod: p3']));
    expect(statuses[0].status).toMatchObject({ desiredNumberScheduled: 2, currentNumberScheduled: 1, numberMisscheduled: 1, numberReady: 1, numberAvailable: 1, numberUnavailable: 1, updatedNumberScheduled: 1 });
  });

  test('rolling update deletes one old pod when all are available', async () => {
    const set = ds();
    const nodes = [node('n1'), node('n2')];
    const { calls } = await run(set, nodes, [readyPod(set, 'n1', 'oldhash', 'p1'), readyPod(set, 'n2', 'oldhash', 'p2')]);
    expect(calls).toEqual(['delete p1']);
  });

  test('OnDelete never deletes old pods', async () => {
    const set = ds();
    set.spec!.updateStrategy = { type: 'OnDelete' };
    const { calls } = await run(set, [node('n1')], [readyPod(set, 'n1', 'oldhash', 'p1')]);
    expect(calls).toEqual([]);
  });
});
