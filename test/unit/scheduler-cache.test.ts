/** The scheduler's cache: assumed pods count at once, are confirmed, forgotten or expired. */
import type { Node, Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { SchedulerCache } from '../../services/kube-scheduler/cache';

const node = (name: string): Node => ({ metadata: { name }, status: { allocatable: { cpu: '2', memory: '4Gi', pods: '110' } } });
const pod = (name: string, cpu = '500m', nodeName = ''): Pod => ({
  metadata: { name, namespace: 'default', uid: `uid-${name}` },
  spec: { nodeName, containers: [{ name: 'c', image: 'nginx', resources: { requests: { cpu } } }] },
});

function setup(ttlMs = 1000) {
  let now = 0;
  const cache = new SchedulerCache(ttlMs, () => now);
  cache.setNode(node('n1'));
  cache.setNode(node('n2'));
  const info = (name: string) => cache.nodeInfos().find((i) => i.node.metadata?.name === name)!;
  return { cache, info, advance: (ms: number) => (now += ms) };
}

test('scheduler cache - an assumed pod counts against its node at once', () => {
  const { cache, info } = setup();
  cache.assume(pod('a'), 'n1');
  expect(cache.isAssumed('default/a')).toBe(true);
  expect(info('n1').pods.has('default/a')).toBe(true);
  expect(info('n1').requested.milliCPU).toBe(500);
  expect(info('n2').pods.size).toBe(0);
});

test('scheduler cache - the informer confirming the binding turns the assumption into a bound pod, counted once', () => {
  const { cache, info, advance } = setup();
  cache.assume(pod('a'), 'n1');
  cache.finishBinding('default/a');
  cache.setPod(pod('a', '500m', 'n1'));
  expect(cache.isAssumed('default/a')).toBe(false);
  expect(info('n1').requested.milliCPU).toBe(500);
  advance(10_000);
  expect(cache.cleanupExpired()).toEqual([]);
  expect(info('n1').pods.has('default/a')).toBe(true);
});

test('scheduler cache - a failed binding is forgotten and frees the room', () => {
  const { cache, info } = setup();
  cache.assume(pod('a'), 'n1');
  cache.forget('default/a');
  expect(info('n1').pods.size).toBe(0);
  expect(info('n1').requested.milliCPU).toBe(0);
  expect(cache.isAssumed('default/a')).toBe(false);
});

test('scheduler cache - an assumed pod never confirmed expires only after its TTL from the end of binding', () => {
  const { cache, info, advance } = setup(1000);
  cache.assume(pod('a'), 'n1');
  advance(5000);
  // Still binding: no deadline yet, so nothing expires.
  expect(cache.cleanupExpired()).toEqual([]);
  cache.finishBinding('default/a');
  advance(999);
  expect(cache.cleanupExpired()).toEqual([]);
  advance(1);
  expect(cache.cleanupExpired()).toEqual(['default/a']);
  expect(info('n1').pods.size).toBe(0);
});

test('scheduler cache - terminal pods free their node; a node added later sees the pods already known on it', () => {
  const { cache, info } = setup();
  cache.setPod(pod('done', '1', 'n1'));
  expect(info('n1').requested.milliCPU).toBe(1000);
  cache.setPod({ ...pod('done', '1', 'n1'), status: { phase: 'Succeeded' } });
  expect(info('n1').requested.milliCPU).toBe(0);
  cache.setPod(pod('early', '250m', 'n3'));
  cache.setNode(node('n3'));
  expect(info('n3').requested.milliCPU).toBe(250);
});
