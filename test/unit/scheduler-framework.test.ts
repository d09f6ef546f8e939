import type { Container, Node, NodeSelectorTerm, Pod, Taint, Toleration } from '../../services/lib/generated/kubemu/core/v1/core';
import {
  DEFAULT_FILTERS,
  FitError,
  NoNodesAvailableError,
  NodeInfo,
  addPod,
  newNodeInfo,
  podRequest,
  prioritizeNodes,
  removePod,
  schedulePod,
  seededRandom,
  toleratesTaint,
} from '../../services/kube-scheduler/framework';
import { nodeUnschedulable } from '../../services/kube-scheduler/framework/plugins/nodeunschedulable';
import { nodeName } from '../../services/kube-scheduler/framework/plugins/nodename';
import { nodeResourcesFitFilter, nodeResourcesFitScore, nodeResourcesBalancedAllocation } from '../../services/kube-scheduler/framework/plugins/noderesources';
import { nodeAffinityFilter, nodeAffinityScore } from '../../services/kube-scheduler/framework/plugins/nodeaffinity';
import { taintTolerationFilter, taintTolerationScore } from '../../services/kube-scheduler/framework/plugins/tainttoleration';
import { nodePorts } from '../../services/kube-scheduler/framework/plugins/nodeports';
import { podSpread } from '../../services/kube-scheduler/framework/plugins/spread';

const MSG_AFFINITY = "node(s) didn't match Pod's node affinity/selector";
const Mi = 1024 * 1024;
const Gi = 1024 * Mi;

function node(name: string, opts: { cpu?: string; memory?: string; pods?: string; labels?: Record<string, string>; taints?: Taint[]; unschedulable?: boolean } = {}): Node {
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...(opts.labels ?? {}) } },
    spec: { taints: opts.taints, unschedulable: opts.unschedulable },
    status: { allocatable: { cpu: opts.cpu ?? '4', memory: opts.memory ?? '8Gi', pods: opts.pods ?? '110' } },
  };
}

function ctr(cpu?: string, memory?: string, extra: Partial<Container> = {}): Container {
  const requests: Record<string, string> = {};
  if (cpu) requests.cpu = cpu;
  if (memory) requests.memory = memory;
  return { name: 'c', image: 'nginx', resources: { requests }, ...extra };
}

let podSeq = 0;
function pod(spec: Pod['spec'] = {}, meta: Pod['metadata'] = {}): Pod {
  return { metadata: { namespace: 'default', name: `p${podSeq++}`, ...meta }, spec: { containers: [ctr()], ...spec } };
}

function info(n: Node, pods: Pod[] = []): NodeInfo {
  return newNodeInfo(n, pods);
}

describe('resources', () => {
  test('resources - sums containers and adds overhead', () => {
    const p = pod({ containers: [ctr('100m', '64Mi'), ctr('250m', '128Mi')], overhead: { cpu: '50m', memory: '10Mi' } });
    expect(podRequest(p)).toEqual({ milliCPU: 400, memory: 202 * Mi });
  });

  test('resources - an init container larger than the app containers sets the request (max rule)', () => {
    const p = pod({ initContainers: [ctr('2', '1Gi'), ctr('500m', '3Gi')], containers: [ctr('1', '2Gi')] });
    expect(podRequest(p)).toEqual({ milliCPU: 2000, memory: 3 * Gi });
  });

  test('resources - a restartable (sidecar) init container adds to the app containers and later init containers', () => {
    const p = pod({
      initContainers: [ctr('200m', '100Mi', { restartPolicy: 'Always' }), ctr('1', '100Mi')],
      containers: [ctr('300m', '100Mi')],
    });
    // app: 300m + sidecar 200m = 500m; second init runs with the sidecar: 1000m + 200m = 1200m.
    expect(podRequest(p)).toEqual({ milliCPU: 1200, memory: 200 * Mi });
  });

  test('resources - limits stand in for missing requests; nonZero defaults 100m / 200Mi per container', () => {
    const p = pod({ containers: [{ name: 'a', resources: { limits: { cpu: '300m' } } }, { name: 'b' }] });
    expect(podRequest(p)).toEqual({ milliCPU: 300, memory: 0 });
    expect(podRequest(p, true)).toEqual({ milliCPU: 400, memory: 400 * Mi });
  });

  test('resources - an explicit zero request is not replaced by the scoring default', () => {
    const p = pod({ containers: [ctr('0', '0')] });
    expect(podRequest(p, true)).toEqual({ milliCPU: 0, memory: 0 });
  });

  test('nodeinfo - counts assumed pods, replaces by key, removes', () => {
    const ni = info(node('n1'));
    const a = pod({ containers: [ctr('1', '1Gi')] });
    addPod(ni, a);
    addPod(ni, a);
    expect(ni.pods.size).toBe(1);
    expect(ni.requested).toEqual({ milliCPU: 1000, memory: Gi });
    addPod(ni, { ...a, spec: { containers: [ctr('2', '1Gi')] } });
    expect(ni.requested.milliCPU).toBe(2000);
    expect(removePod(ni, a)).toBe(true);
    expect(ni.requested).toEqual({ milliCPU: 0, memory: 0 });
    expect(removePod(ni, a)).toBe(false);
  });
});

describe('filters', () => {
  test('NodeUnschedulable - passes a schedulable node, rejects a cordoned one, tolerated by the unschedulable taint', () => {
    expect(nodeUnschedulable.filter(pod(), info(node('n')))).toBeUndefined();
    const cordoned = info(node('n', { unschedulable: true }));
    expect(nodeUnschedulable.filter(pod(), cordoned)).toEqual(['node(s) were unschedulable']);
    const tol: Toleration = { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' };
    expect(nodeUnschedulable.filter(pod({ tolerations: [tol] }), cordoned)).toBeUndefined();
  });

  test('NodeName - only the named node fits', () => {
    expect(nodeName.filter(pod(), info(node('a')))).toBeUndefined();
    expect(nodeName.filter(pod({ nodeName: 'a' }), info(node('a')))).toBeUndefined();
    expect(nodeName.filter(pod({ nodeName: 'a' }), info(node('b')))).toEqual(["node(s) didn't match the requested node name"]);
  });

  test('NodeResourcesFit - fits within allocatable minus assigned and assumed pods', () => {
    const ni = info(node('n', { cpu: '2', memory: '4Gi' }), [pod({ containers: [ctr('1', '1Gi')] })]);
    expect(nodeResourcesFitFilter.filter(pod({ containers: [ctr('1', '3Gi')] }), ni)).toBeUndefined();
    addPod(ni, pod({ containers: [ctr('500m')] })); // assumed, not yet bound
    expect(nodeResourcesFitFilter.filter(pod({ containers: [ctr('1', '3Gi')] }), ni)).toEqual(['Insufficient cpu']);
    expect(nodeResourcesFitFilter.filter(pod({ containers: [ctr('100m', '4Gi')] }), ni)).toEqual(['Insufficient memory']);
    expect(nodeResourcesFitFilter.filter(pod({ containers: [ctr('3', '4Gi')] }), ni)).toEqual(['Insufficient cpu', 'Insufficient memory']);
  });

  test('NodeResourcesFit - too many pods, even for a pod without requests', () => {
    const ni = info(node('n', { pods: '2' }), [pod(), pod()]);
    expect(nodeResourcesFitFilter.filter(pod(), ni)).toEqual(['Too many pods']);
    expect(nodeResourcesFitFilter.filter(pod({ containers: [ctr('100', '100Gi')] }), ni)).toEqual([
      'Too many pods',
      'Insufficient cpu',
      'Insufficient memory',
    ]);
  });

  test('NodeResourcesFit - init container requests count by the max rule', () => {
    const ni = info(node('n', { cpu: '2' }));
    expect(nodeResourcesFitFilter.filter(pod({ initContainers: [ctr('3')], containers: [ctr('1')] }), ni)).toEqual(['Insufficient cpu']);
    expect(nodeResourcesFitFilter.filter(pod({ initContainers: [ctr('2')], containers: [ctr('1')] }), ni)).toBeUndefined();
  });

  test('NodeAffinity - nodeSelector must match every label', () => {
    const ni = info(node('n', { labels: { disk: 'ssd', zone: 'a' } }));
    expect(nodeAffinityFilter.filter(pod({ nodeSelector: { disk: 'ssd' } }), ni)).toBeUndefined();
    expect(nodeAffinityFilter.filter(pod({ nodeSelector: { disk: 'ssd', zone: 'b' } }), ni)).toEqual([MSG_AFFINITY]);
  });

  function required(...terms: NodeSelectorTerm[]): Pod {
    return pod({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } });
  }

  test.each([
    ['In match', { key: 'zone', operator: 'In', values: ['a', 'b'] }, true],
    ['In miss', { key: 'zone', operator: 'In', values: ['c'] }, false],
    ['In absent label', { key: 'nope', operator: 'In', values: ['a'] }, false],
    ['NotIn match', { key: 'zone', operator: 'NotIn', values: ['c'] }, true],
    ['NotIn absent label', { key: 'nope', operator: 'NotIn', values: ['a'] }, true],
    ['NotIn miss', { key: 'zone', operator: 'NotIn', values: ['a'] }, false],
    ['Exists', { key: 'zone', operator: 'Exists' }, true],
    ['Exists absent', { key: 'nope', operator: 'Exists' }, false],
    ['DoesNotExist', { key: 'nope', operator: 'DoesNotExist' }, true],
    ['DoesNotExist present', { key: 'zone', operator: 'DoesNotExist' }, false],
    ['Gt true', { key: 'cores', operator: 'Gt', values: ['7'] }, true],
    ['Gt equal', { key: 'cores', operator: 'Gt', values: ['8'] }, false],
    ['Lt true', { key: 'cores', operator: 'Lt', values: ['10'] }, true],
    ['Lt false', { key: 'cores', operator: 'Lt', values: ['8'] }, false],
    ['Gt non-integer label', { key: 'zone', operator: 'Gt', values: ['1'] }, false],
    ['Gt non-integer value', { key: 'cores', operator: 'Gt', values: ['x'] }, false],
    ['Gt absent label', { key: 'nope', operator: 'Gt', values: ['1'] }, false],
  ])('NodeAffinity - required %s', (_name, req, fits) => {
    const ni = info(node('n', { labels: { zone: 'a', cores: '8' } }));
    expect(nodeAffinityFilter.filter(required({ matchExpressions: [req] }), ni)).toEqual(fits ? undefined : [MSG_AFFINITY]);
  });

  test('NodeAffinity - terms are ORed, requirements ANDed, an empty term matches nothing', () => {
    const ni = info(node('n', { labels: { zone: 'a' } }));
    const yes = { key: 'zone', operator: 'In', values: ['a'] };
    const no = { key: 'zone', operator: 'In', values: ['b'] };
    expect(nodeAffinityFilter.filter(required({ matchExpressions: [no] }, { matchExpressions: [yes] }), ni)).toBeUndefined();
    expect(nodeAffinityFilter.filter(required({ matchExpressions: [yes, no] }), ni)).toEqual([MSG_AFFINITY]);
    expect(nodeAffinityFilter.filter(required({}), ni)).toEqual([MSG_AFFINITY]);
  });

  test('NodeAffinity - matchFields metadata.name In / NotIn', () => {
    const ni = info(node('n1'));
    expect(nodeAffinityFilter.filter(required({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }), ni)).toBeUndefined();
    expect(nodeAffinityFilter.filter(required({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n2'] }] }), ni)).toEqual([MSG_AFFINITY]);
    expect(nodeAffinityFilter.filter(required({ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['n1'] }] }), ni)).toEqual([MSG_AFFINITY]);
    expect(nodeAffinityFilter.filter(required({ matchFields: [{ key: 'metadata.labels', operator: 'In', values: ['n1'] }] }), ni)).toEqual([MSG_AFFINITY]);
  });

  test('NodeAffinity - nodeSelector and required affinity must both match', () => {
    const ni = info(node('n', { labels: { zone: 'a' } }));
    const p = required({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] });
    p.spec!.nodeSelector = { zone: 'b' };
    expect(nodeAffinityFilter.filter(p, ni)).toEqual([MSG_AFFINITY]);
  });

  const taint: Taint = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };
  test.each<[string, Toleration, boolean]>([
    ['Equal key+value+effect', { key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }, true],
    ['empty operator means Equal', { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }, true],
    ['Equal wrong value', { key: 'dedicated', operator: 'Equal', value: 'cpu', effect: 'NoSchedule' }, false],
    ['Exists ignores value', { key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }, true],
    ['empty effect matches every effect', { key: 'dedicated', operator: 'Exists' }, true],
    ['other effect', { key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }, false],
    ['empty key with Exists tolerates everything', { operator: 'Exists' }, true],
    ['wrong key', { key: 'other', operator: 'Exists' }, false],
    ['unknown operator', { key: 'dedicated', operator: 'Foo', value: 'gpu' }, false],
  ])('TaintToleration - toleration %s', (_name, tol, ok) => {
    expect(toleratesTaint(tol, taint)).toBe(ok);
    const ni = info(node('n', { taints: [taint] }));
    expect(taintTolerationFilter.filter(pod({ tolerations: [tol] }), ni)).toEqual(ok ? undefined : ['node(s) had untolerated taint {dedicated: gpu}']);
  });

  test('TaintToleration - NoExecute rejects, PreferNoSchedule does not; the first untolerated taint is named', () => {
    const ni = info(node('n', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }, { key: 'a', value: '', effect: 'NoExecute' }, taint] }));
    expect(taintTolerationFilter.filter(pod(), ni)).toEqual(['node(s) had untolerated taint {a: }']);
    expect(taintTolerationFilter.filter(pod({ tolerations: [{ key: 'a', operator: 'Exists' }] }), ni)).toEqual([
      'node(s) had untolerated taint {dedicated: gpu}',
    ]);
    expect(taintTolerationFilter.filter(pod(), info(node('n', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] })))).toBeUndefined();
  });

  test('NodePorts - a used host port conflicts on the same protocol; 0.0.0.0 conflicts with any IP', () => {
    const withPort = (port: number, protocol?: string, hostIP?: string) =>
      pod({ containers: [ctr(undefined, undefined, { ports: [{ containerPort: 80, hostPort: port, protocol, hostIP }] })] });
    const ni = info(node('n'), [withPort(8080)]);
    const msg = ["node(s) didn't have free ports for the requested pod ports"];
    expect(nodePorts.filter(withPort(8080), ni)).toEqual(msg);
    expect(nodePorts.filter(withPort(8080, 'TCP', '127.0.0.5'), ni)).toEqual(msg);
    expect(nodePorts.filter(withPort(8080, 'UDP'), ni)).toBeUndefined();
    expect(nodePorts.filter(withPort(8081), ni)).toBeUndefined();
    expect(nodePorts.filter(pod(), ni)).toBeUndefined();
    const ni2 = info(node('n'), [withPort(9000, 'TCP', '127.0.0.1')]);
    expect(nodePorts.filter(withPort(9000, 'TCP', '127.0.0.2'), ni2)).toBeUndefined();
    expect(nodePorts.filter(withPort(9000), ni2)).toEqual(msg);
  });
});

describe('schedulePod', () => {
  test('schedulePod - FitError for a mixed 3-node case in Kubernetes wording', () => {
    const nodes = [
      info(node('small', { cpu: '1', labels: { disk: 'ssd' } })),
      info(node('hdd1', { labels: { disk: 'hdd' } })),
      info(node('hdd2', { labels: { disk: 'hdd' } })),
    ];
    const p = pod({ nodeSelector: { disk: 'ssd' }, containers: [ctr('2')] });
    let err: unknown;
    try {
      schedulePod(p, nodes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FitError);
    expect((err as FitError).message).toBe("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector.");
    expect((err as FitError).nodeToReasons.get('hdd1')).toEqual([MSG_AFFINITY]);
  });

  test('schedulePod - a node with several shortfalls counts each; reasons sorted as strings', () => {
    const nodes = [
      info(node('a', { cpu: '1', memory: '1Gi' })),
      info(node('b', { unschedulable: true })),
      info(node('c', { taints: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] })),
    ];
    expect(() => schedulePod(pod({ containers: [ctr('2', '2Gi')] }), nodes)).toThrow(
      '0/3 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 node(s) had untolerated taint {k: v}, 1 node(s) were unschedulable.',
    );
  });

  test('schedulePod - no nodes at all', () => {
    expect(() => schedulePod(pod(), [])).toThrow(NoNodesAvailableError);
    expect(() => schedulePod(pod(), [])).toThrow('no nodes available to schedule pods');
  });

  test('schedulePod - the only feasible node is chosen', () => {
    const nodes = [info(node('a', { cpu: '1' })), info(node('b', { cpu: '8' }))];
    expect(schedulePod(pod({ containers: [ctr('2')] }), nodes).node).toBe('b');
  });

  test('schedulePod - least allocated prefers the emptier node', () => {
    const busy = info(node('busy'), [pod({ containers: [ctr('3', '6Gi')] })]);
    const empty = info(node('empty'));
    const p = pod({ containers: [ctr('500m', '512Mi')] });
    expect(nodeResourcesFitScore.score(p, empty, [])).toBeGreaterThan(nodeResourcesFitScore.score(p, busy, []));
    for (let seed = 0; seed < 20; seed++) expect(schedulePod(p, [busy, empty], { random: seededRandom(seed) }).node).toBe('empty');
  });

  test('scores - least allocated and balanced allocation values', () => {
    const ni = info(node('n', { cpu: '4', memory: '8Gi' }), [pod({ containers: [ctr('1', '2Gi')] })]);
    const p = pod({ containers: [ctr('1', '2Gi')] });
    // cpu (4000-2000)*100/4000 = 50, memory 50 → 50.
    expect(nodeResourcesFitScore.score(p, ni, [])).toBe(50);
    expect(nodeResourcesBalancedAllocation.score(p, ni, [])).toBe(100);
    const skewed = pod({ containers: [ctr('3', '0')] });
    // cpu 4/4 = 1, memory 2/8 = .25 → std .375 → 62.
    expect(nodeResourcesBalancedAllocation.score(skewed, ni, [])).toBe(62);
  });

  test('scores - least allocated over-requested resource scores 0; a resource with no allocatable is left out', () => {
    const p = pod({ containers: [ctr('1', '1Gi')] });
    // cpu 0 (over), memory (2-1)/2 → 50; average 25.
    expect(nodeResourcesFitScore.score(p, info(node('n', { cpu: '500m', memory: '2Gi' })), [])).toBe(25);
    // no cpu allocatable: memory alone counts.
    expect(nodeResourcesFitScore.score(p, info(node('n', { cpu: '0', memory: '2Gi' })), [])).toBe(50);
  });

  test('scores - spreading prefers the node without a sibling of the same controller', () => {
    const owner = { ownerReferences: [{ kind: 'ReplicaSet', name: 'web', uid: 'rs-1', controller: true }] };
    const withSibling = info(node('a'), [pod({}, { ...owner, name: 'web-1' })]);
    const withStranger = info(node('b'), [pod({}, { name: 'other', ownerReferences: [{ kind: 'ReplicaSet', name: 'x', uid: 'rs-2', controller: true }] })]);
    const p = pod({}, { ...owner, name: 'web-2' });
    const raw = [withSibling, withStranger].map((n) => podSpread.score(p, n, []));
    expect(raw).toEqual([1, 0]);
    podSpread.normalize!(p, raw);
    expect(raw).toEqual([0, 100]);
    for (let seed = 0; seed < 20; seed++) expect(schedulePod(p, [withSibling, withStranger], { random: seededRandom(seed) }).node).toBe('b');
  });

  test('scores - spreading in another namespace or without an owner does not count', () => {
    const owner = { ownerReferences: [{ kind: 'ReplicaSet', name: 'web', uid: 'rs-1', controller: true }] };
    const ni = info(node('a'), [pod({}, { ...owner, namespace: 'other' })]);
    expect(podSpread.score(pod({}, { ...owner }), ni, [])).toBe(0);
    const s = [podSpread.score(pod(), ni, [])];
    podSpread.normalize!(pod(), s);
    expect(s).toEqual([0]);
  });

  test('scores - preferred node affinity, normalised to 100 for the best node', () => {
    const p = pod({
      affinity: {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 10, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] } },
            { weight: 30, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } },
          ],
        },
      },
    });
    const nodes = [info(node('za', { labels: { zone: 'a' } })), info(node('ssd', { labels: { disk: 'ssd' } })), info(node('none'))];
    const raw = nodes.map((n) => nodeAffinityScore.score(p, n, nodes));
    expect(raw).toEqual([10, 30, 0]);
    nodeAffinityScore.normalize!(p, raw);
    expect(raw).toEqual([33, 100, 0]);
    expect(schedulePod(p, nodes, { random: seededRandom(1) }).node).toBe('ssd');
  });

  test('scores - PreferNoSchedule taints lower a node unless tolerated', () => {
    const soft = info(node('soft', { taints: [{ key: 'k', effect: 'PreferNoSchedule' }] }));
    const clean = info(node('clean'));
    const raw = [soft, clean].map((n) => taintTolerationScore.score(pod(), n, []));
    taintTolerationScore.normalize!(pod(), raw);
    expect(raw).toEqual([0, 100]);
    const tolerant = pod({ tolerations: [{ key: 'k', operator: 'Exists', effect: 'PreferNoSchedule' }] });
    const raw2 = [soft, clean].map((n) => taintTolerationScore.score(tolerant, n, []));
    taintTolerationScore.normalize!(tolerant, raw2);
    expect(raw2).toEqual([100, 100]);
    expect(schedulePod(pod(), [soft, clean]).node).toBe('clean');
  });

  test('schedulePod - ties between equal best scores are broken fairly', () => {
    const nodes = ['a', 'b', 'c', 'd'].map((n) => info(node(n)));
    const p = pod();
    const totals = prioritizeNodes(p, nodes);
    expect(new Set(totals).size).toBe(1);
    const counts = new Map<string, number>();
    const random = seededRandom(42);
    const runs = 4000;
    for (let i = 0; i < runs; i++) {
      const { node: chosen } = schedulePod(p, nodes, { random });
      counts.set(chosen, (counts.get(chosen) ?? 0) + 1);
    }
    expect(counts.size).toBe(4);
    for (const c of counts.values()) {
      expect(c).toBeGreaterThan(runs / 4 - 200);
      expect(c).toBeLessThan(runs / 4 + 200);
    }
  });

  test('schedulePod - the same seed gives the same choice', () => {
    const nodes = ['a', 'b', 'c'].map((n) => info(node(n)));
    const p = pod();
    const pick = (seed: number) => Array.from({ length: 10 }, () => 0).map(((r) => () => schedulePod(p, nodes, { random: r }).node)(seededRandom(seed)));
    expect(pick(7)).toEqual(pick(7));
  });

  test('schedulePod - default filters run in Kubernetes order', () => {
    expect(DEFAULT_FILTERS.map((f) => f.name)).toEqual(['NodeUnschedulable', 'NodeName', 'TaintToleration', 'NodeAffinity', 'NodePorts', 'NodeResourcesFit']);
  });
});
