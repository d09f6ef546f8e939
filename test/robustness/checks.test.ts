/**
 * The robustness checks on made-up histories: each finds the violation it exists for, and stays
 * quiet where faults make an outcome legitimately uncertain (indeterminate writes, sampling).
 */
import { checkBindings, checkOrdinals, checkPhases, checkRevisionOrder, checkRunningPlacement, checkWrites, compareCache } from './lib/checks';
import { WriteRecord } from './lib/load';
import { ContainerSighting, PodHistory } from './lib/recorder';
import { Rng } from './lib/rng';

let id = 0;
function w(register: string, op: WriteRecord['op'], value: string | null, start: number, outcome: WriteRecord['outcome'], rv?: string): WriteRecord {
  return { id: ++id, worker: 'w', register, op, value, start, end: start + 5, outcome, rv };
}

const R = 'configmaps/ns/a';

test('checks - the last acknowledged write is required, an indeterminate later one is allowed', () => {
  const writes = [w(R, 'create', 'v1', 0, 'ok', '10'), w(R, 'update', 'v2', 10, 'ok', '12'), w(R, 'update', 'v3', 20, 'failed')];
  const initial = new Map<string, string>();
  const [kept] = checkWrites({ writes, initial, final: new Map([[R, { value: 'v2', rv: '12' }]]) });
  expect(kept.ok).toBe(true);
  expect(checkWrites({ writes, initial, final: new Map([[R, { value: 'v3', rv: '15' }]]) })[0].ok).toBe(true);
  const lost = checkWrites({ writes, initial, final: new Map([[R, { value: 'v1', rv: '10' }]]) })[0];
  expect(lost.ok).toBe(false);
  expect(lost.violations[0]).toContain('final "v1"');
  // The acknowledged value at another resourceVersion: rewritten by someone, not ours.
  expect(checkWrites({ writes, initial, final: new Map([[R, { value: 'v2', rv: '30' }]]) })[0].ok).toBe(false);
  // Gone although never deleted.
  expect(checkWrites({ writes, initial, final: new Map() })[0].ok).toBe(false);
});

test('checks - an acknowledged delete stays deleted unless a create was issued after it', () => {
  const writes = [w(R, 'create', 'v1', 0, 'ok', '10'), w(R, 'delete', null, 10, 'ok')];
  const back = checkWrites({ writes, initial: new Map(), final: new Map([[R, { value: 'v1', rv: '10' }]]) });
  expect(back[0].ok).toBe(true);
  expect(back[1].ok).toBe(false);
  expect(checkWrites({ writes, initial: new Map(), final: new Map() }).every((c) => c.ok)).toBe(true);
  const recreated = [...writes, w(R, 'create', 'v3', 20, 'failed')];
  expect(checkWrites({ writes: recreated, initial: new Map(), final: new Map([[R, { value: 'v3', rv: '20' }]]) }).every((c) => c.ok)).toBe(true);
});

test('checks - an indeterminate create issued before an acknowledged delete may be applied after it, at a newer resourceVersion', () => {
  // The create of v1 timed out (held by a frozen apiserver); the worker read the key, found it
  // absent, created v2, deleted it; then the held create of v1 went through.
  const writes = [w(R, 'create', 'v1', 0, 'failed'), w(R, 'create', 'v2', 10, 'ok', '20'), w(R, 'delete', null, 20, 'ok')];
  const late = checkWrites({ writes, initial: new Map(), final: new Map([[R, { value: 'v1', rv: '40' }]]) });
  expect(late.every((c) => c.ok)).toBe(true);
  // At a resourceVersion no newer than the acknowledged writes it cannot have come after the delete.
  expect(checkWrites({ writes, initial: new Map(), final: new Map([[R, { value: 'v1', rv: '15' }]]) })[1].ok).toBe(false);
  // The acknowledged create's value coming back is still a resurrection.
  expect(checkWrites({ writes, initial: new Map(), final: new Map([[R, { value: 'v2', rv: '40' }]]) })[1].ok).toBe(false);
  // An indeterminate update is not allowed back: its resourceVersion precondition fails after the delete.
  const updated = [w(R, 'create', 'v1', 0, 'ok', '10'), w(R, 'update', 'v2', 10, 'failed'), w(R, 'delete', null, 20, 'ok')];
  expect(checkWrites({ writes: updated, initial: new Map(), final: new Map([[R, { value: 'v2', rv: '40' }]]) })[1].ok).toBe(false);
  // With an acknowledged create or update last, the object exists: a held create cannot apply.
  const existing = [w(R, 'create', 'v1', 0, 'failed'), w(R, 'create', 'v2', 10, 'ok', '20')];
  expect(checkWrites({ writes: existing, initial: new Map(), final: new Map([[R, { value: 'v1', rv: '40' }]]) })[0].ok).toBe(false);
});

test('checks - resourceVersions must grow with real time; no-op updates are left out', () => {
  const ok = [w('configmaps/ns/a', 'create', 'x', 0, 'ok', '5'), w('configmaps/ns/b', 'create', 'y', 100, 'ok', '7')];
  expect(checkRevisionOrder(ok).ok).toBe(true);
  const bad = [w('configmaps/ns/a', 'create', 'x', 0, 'ok', '9'), w('configmaps/ns/b', 'create', 'y', 100, 'ok', '7')];
  expect(checkRevisionOrder(bad).ok).toBe(false);
  // Concurrent writes may commit in either order.
  const concurrent = [w('configmaps/ns/a', 'create', 'x', 0, 'ok', '9'), w('configmaps/ns/b', 'create', 'y', 2, 'ok', '7')];
  expect(checkRevisionOrder(concurrent).ok).toBe(true);
  const noop = { ...w('deployments/ns/d/replicas', 'update', '2', 100, 'ok', '3'), noop: true };
  expect(checkRevisionOrder([bad[0], noop]).ok).toBe(true);
});

function pod(uid: string, name: string, nodes: string[], phases: string[] = []): PodHistory {
  return { uid, namespace: 'ns', name, nodes: nodes.map((node, i) => ({ node, at: i, rv: String(i + 1) })), phases: phases.map((phase, i) => ({ phase, at: i, rv: String(i + 1) })) };
}

function seen(node: string, podUid: string, podName: string, first: number, last: number): ContainerSighting {
  return { node, containerId: `${node}-${podUid}-${first}`, container: 'main', podUid, podNamespace: 'ns', podName, first: [first, first + 10], last: [last, last + 10], samples: 2 };
}

test('checks - a pod bound to two nodes, or running on two nodes or off its node, is found', () => {
  expect(checkBindings([pod('u1', 'p', ['node-1'])], []).ok).toBe(true);
  expect(checkBindings([pod('u1', 'p', ['node-1', 'node-2'])], []).ok).toBe(false);
  const history = [pod('u1', 'p', ['node-1'])];
  expect(checkRunningPlacement([seen('node-1', 'u1', 'p', 0, 1000)], history).every((c) => c.ok)).toBe(true);
  const [twoNodes, offNode] = checkRunningPlacement([seen('node-1', 'u1', 'p', 0, 1000), seen('node-2', 'u1', 'p', 2000, 3000)], history);
  expect(twoNodes.ok).toBe(false);
  expect(offNode.ok).toBe(false);
});

test('checks - a StatefulSet ordinal running twice at once is found, a handover between samples is not', () => {
  const handover = [seen('node-1', 'old', 'web-0', 0, 1000), seen('node-2', 'new', 'web-0', 1005, 3000)];
  expect(checkOrdinals('ns', ['web'], handover, []).ok).toBe(true);
  const twice = [seen('node-1', 'old', 'web-0', 0, 5000), seen('node-2', 'new', 'web-0', 1000, 3000)];
  expect(checkOrdinals('ns', ['web'], twice, []).ok).toBe(false);
  expect(checkOrdinals('ns', ['web'], [], [{ node: 'node-1', at: 5, podNamespace: 'ns', podName: 'web-1', uids: ['a', 'b'] }]).ok).toBe(false);
  // A Deployment's pods are not ordinals.
  expect(checkOrdinals('ns', ['web'], [], [{ node: 'node-1', at: 5, podNamespace: 'ns', podName: 'webapp-1', uids: ['a', 'b'] }]).ok).toBe(true);
});

test('checks - terminal phases stay terminal; informer comparison names missing, extra and stale keys', () => {
  expect(checkPhases([pod('u', 'p', [], ['Pending', 'Running', 'Succeeded'])]).ok).toBe(true);
  expect(checkPhases([pod('u', 'p', [], ['Running', 'Failed', 'Running'])]).ok).toBe(false);
  const c = compareCache('pods', new Map([['ns/a', '1'], ['ns/b', '2'], ['ns/x', '3']]), new Map([['ns/a', '1'], ['ns/b', '5'], ['ns/c', '4']]));
  expect(c).toMatchObject({ missing: ['ns/c'], extra: ['ns/x'], stale: ['ns/b (cache 2, etcd 5)'] });
});

test('checks - the seeded generator repeats its sequence', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 5 }, () => a.next());
  expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
  expect(new Rng(43).next()).not.toBe(xs[0]);
});
