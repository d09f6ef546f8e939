/**
 * The scheduler's throughput paths: Kubernetes' adaptive percentageOfNodesToScore
 * (numFeasibleNodesToFind), filtering from a rotating start index, and NodeInfo sums kept
 * incrementally as pods are added, replaced and removed.
 */
import { Node, Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { addPod, newNodeInfo, removePod } from '../../services/kube-scheduler/framework/nodeinfo';
import { numFeasibleNodesToFind, schedulePod } from '../../services/kube-scheduler/framework/schedule';

const node = (name: string): Node => ({ metadata: { name }, status: { allocatable: { cpu: '4', memory: '8Gi', pods: '110' } } });
const pod = (name: string, cpu: string, memory = '100Mi', hostPort?: number): Pod => ({
  metadata: { name, namespace: 'default', uid: name },
  spec: { containers: [{ name: 'c', image: 'nginx', resources: { requests: { cpu, memory } }, ports: hostPort ? [{ containerPort: 80, hostPort }] : [] }] },
});

describe('scheduler - numFeasibleNodesToFind (Kubernetes adaptive percentage)', () => {
  test.each([
    [50, 0, 50], // fewer than 100 nodes: all
    [100, 0, 100], // 50 - 0 = 50% of 100 = 50 → at least 100
    [200, 0, 100], // 49% of 200 = 98 → at least 100
    [1000, 0, 420], // 50 - 8 = 42%
    [5000, 0, 500], // 50 - 40 = 10%
    [6000, 0, 300], // 50 - 48 = 2% → at least 5%
    [1000, 100, 1000], // explicit 100%
    [1000, 30, 300], // explicit percentage
  ])('%i nodes, percentage %i → %i', (nodes, pct, want) => {
    expect(numFeasibleNodesToFind(nodes, pct)).toBe(want);
  });
});

describe('scheduler - filtering stops at the limit and starts where told', () => {
  test('with 1,000 nodes only 420 are processed, starting at startIndex', () => {
    const infos = Array.from({ length: 1000 }, (_, i) => newNodeInfo(node(`n${i}`)));
    const r = schedulePod(pod('p', '100m'), infos, { startIndex: 900, random: () => 0 });
    expect(r.feasibleNodes).toBe(420);
    expect(r.processedNodes).toBe(420);
    // Scored nodes are n900..n999 then n0..n319: the chosen one is among them.
    const idx = Number(r.node.slice(1));
    expect(idx >= 900 || idx < 320).toBe(true);
  });
});

describe('scheduler - NodeInfo sums kept incrementally', () => {
  test('add, replace by key and remove keep requested and host ports equal to a recount', () => {
    const info = newNodeInfo(node('n1'));
    addPod(info, pod('a', '500m', '1Gi'));
    addPod(info, pod('b', '250m', '256Mi', 8080));
    expect(info.requested).toEqual({ milliCPU: 750, memory: 1280 * 1024 * 1024 });
    expect(info.usedPorts).toEqual([{ ip: '0.0.0.0', protocol: 'TCP', port: 8080 }]);
    // The informer replaces a pod with a newer version: counted once, with its new requests.
    addPod(info, pod('a', '1', '1Gi'));
    expect(info.pods.size).toBe(2);
    expect(info.requested.milliCPU).toBe(1250);
    expect(removePod(info, 'default/b')).toBe(true);
    expect(info.usedPorts).toEqual([]);
    expect(info.requested).toEqual({ milliCPU: 1000, memory: 1024 * 1024 * 1024 });
    expect(removePod(info, 'default/b')).toBe(false);
    const recount = newNodeInfo(node('n1'), info.pods.values());
    expect(info.requested).toEqual(recount.requested);
    expect(info.nonZeroRequested).toEqual(recount.nonZeroRequested);
  });
});
