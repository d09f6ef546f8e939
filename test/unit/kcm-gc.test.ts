/**
 * Garbage collector: the decision table of attemptToDeleteItem, the dependency graph's reactions
 * (virtual owners, owner deletion, foreground and orphan transitions), and the collector against
 * fake API operations.
 */
import { OwnerReference } from '../../services/lib/generated/kubemu/meta/v1/meta';
import { logger } from '../../services/lib/log';
import { KubeObject, resourceForCase } from '../../services/lib/resources';
import { CollectorOps, decide, GarbageCollector, OwnerState } from '../../services/kube-controller-manager/garbagecollector/collector';
import { DependencyGraph, GraphNode, ObjectIdentity } from '../../services/kube-controller-manager/garbagecollector/graph';

const CM = resourceForCase('configMap');
const ref = (uid: string, block = false): OwnerReference => ({ apiVersion: 'v1', kind: 'ConfigMap', name: `cm-${uid}`, uid, blockOwnerDeletion: block });

describe('gc - decide', () => {
  const o = (uid: string, state: OwnerState) => ({ ref: ref(uid), state });
  test.each<[string, string[], { ref: OwnerReference; state: OwnerState }[], boolean, boolean, unknown]>([
    ['no ownerReferences', [], [], false, false, { action: 'none' }],
    ['solid owner only', [], [o('a', 'solid')], false, false, { action: 'none' }],
    ['solid and dangling: the dangling reference goes', [], [o('a', 'solid'), o('b', 'dangling')], false, false, { action: 'removeOwnerReferences', uids: ['b'] }],
    ['solid and waiting: the waiting reference goes', [], [o('a', 'solid'), o('c', 'waitingForDependentsDeletion')], false, false, { action: 'removeOwnerReferences', uids: ['c'] }],
    ['all owners dangling: background delete', [], [o('a', 'dangling'), o('b', 'dangling')], false, false, { action: 'delete', policy: 'Background', unblockFirst: false }],
    ['waiting owner, no dependents: background delete', [], [o('a', 'waitingForDependentsDeletion')], false, false, { action: 'delete', policy: 'Background', unblockFirst: false }],
    ['waiting owner, with dependents: foreground delete', [], [o('a', 'waitingForDependentsDeletion')], true, false, { action: 'delete', policy: 'Foreground', unblockFirst: false }],
    ['waiting owner, a dependent deleting its own: unblock first', [], [o('a', 'waitingForDependentsDeletion')], true, true, { action: 'delete', policy: 'Foreground', unblockFirst: true }],
    ['dangling, item has orphan finalizer: orphan', ['orphan'], [o('a', 'dangling')], false, false, { action: 'delete', policy: 'Orphan', unblockFirst: false }],
    ['dangling, item has foregroundDeletion finalizer: foreground', ['foregroundDeletion'], [o('a', 'dangling')], false, false, { action: 'delete', policy: 'Foreground', unblockFirst: false }],
  ])('%s', (_name, finalizers, owners, hasDeps, depDeleting, want) => {
    expect(decide({ ownerReferences: owners.map((x) => x.ref), finalizers }, owners, hasDeps, depDeleting)).toEqual(want);
  });
});

function cm(name: string, uid: string, owners: OwnerReference[] = [], extra: Partial<NonNullable<KubeObject['metadata']>> = {}): KubeObject {
  return { metadata: { name, namespace: 'default', uid, ownerReferences: owners, ...extra } };
}

function recordingGraph() {
  const deletes: string[] = [];
  const orphans: string[] = [];
  const graph = new DependencyGraph({ attemptToDelete: (n) => deletes.push(n.identity.uid), attemptToOrphan: (n) => orphans.push(n.identity.uid) });
  return { graph, deletes, orphans };
}

describe('gc - dependency graph', () => {
  test('an owner not seen yet is a virtual node, verified; observing it makes it real', () => {
    const { graph, deletes } = recordingGraph();
    graph.observe(CM, cm('child', 'c1', [ref('p1')]));
    expect(graph.get('p1')).toMatchObject({ virtual: true, identity: { namespace: 'default', name: 'cm-p1', kind: 'ConfigMap' } });
    expect(deletes).toEqual(['p1']);
    graph.observe(CM, cm('cm-p1', 'p1'));
    expect(graph.get('p1')!.virtual).toBe(false);
    expect([...graph.get('p1')!.dependents].map((d) => d.identity.uid)).toEqual(['c1']);
  });

  test('owner deleted: every dependent is looked at; a removed ownerReference unlinks', () => {
    const { graph, deletes } = recordingGraph();
    graph.observe(CM, cm('cm-p1', 'p1'));
    graph.observe(CM, cm('a', 'a1', [ref('p1')]));
    graph.observe(CM, cm('b', 'b1', [ref('p1')]));
    graph.observe(CM, cm('b', 'b1', []));
    expect(graph.get('p1')!.dependents.size).toBe(1);
    graph.remove('p1');
    expect(deletes).toEqual(['a1']);
    expect(graph.get('p1')).toBeUndefined();
  });

  test('foreground: dependents and the owner are looked at; a dependent leaving re-checks the owner', () => {
    const { graph, deletes } = recordingGraph();
    graph.observe(CM, cm('cm-p1', 'p1'));
    graph.observe(CM, cm('a', 'a1', [ref('p1', true)]));
    graph.observe(CM, cm('cm-p1', 'p1', [], { deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: ['foregroundDeletion'] }));
    expect(graph.get('p1')!.deletingDependents).toBe(true);
    expect(deletes).toEqual(['a1', 'p1']);
    graph.remove('a1');
    expect(deletes).toEqual(['a1', 'p1', 'p1']);
  });

  test('orphan finalizer with a deletionTimestamp: attemptToOrphan', () => {
    const { graph, orphans } = recordingGraph();
    graph.observe(CM, cm('cm-p1', 'p1', [], { deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: ['orphan'] }));
    expect(orphans).toEqual(['p1']);
  });
});

class FakeOps implements CollectorOps {
  readonly objects = new Map<string, KubeObject>();
  readonly calls: string[] = [];
  put(o: KubeObject) {
    this.objects.set(o.metadata!.uid!, o);
  }
  async get(id: ObjectIdentity) {
    return [...this.objects.values()].find((o) => o.metadata!.name === id.name && (o.metadata!.namespace ?? '') === id.namespace);
  }
  async delete(id: ObjectIdentity, policy: string) {
    this.calls.push(`delete ${id.name} ${policy}`);
  }
  async removeOwnerReferences(id: ObjectIdentity, uids: string[]) {
    this.calls.push(`unown ${id.name} ${uids.join(',')}`);
  }
  async unblockOwnerReferences(id: ObjectIdentity) {
    this.calls.push(`unblock ${id.name}`);
  }
  async removeFinalizer(id: ObjectIdentity, f: string) {
    this.calls.push(`unfinalize ${id.name} ${f}`);
  }
}

describe('gc - collector', () => {
  function setup(objs: KubeObject[]) {
    const { graph } = recordingGraph();
    const ops = new FakeOps();
    const requeued: string[] = [];
    for (const o of objs) {
      graph.observe(CM, o);
      ops.put(o);
    }
    const gc = new GarbageCollector(graph, ops, logger('test'), (n: GraphNode) => requeued.push(n.identity.uid));
    return { graph, ops, gc, requeued };
  }

  test('a dependent whose owner is absent (verified by GET) is deleted in the background', async () => {
    const { gc, ops, graph } = setup([cm('child', 'c1', [ref('p1')])]);
    await gc.attemptToDelete('p1'); // the virtual owner: absent
    expect(graph.get('p1')).toBeUndefined();
    await gc.attemptToDelete('c1');
    expect(ops.calls).toEqual(['delete child Background']);
  });

  test('a virtual owner that exists after all keeps its dependents', async () => {
    const { gc, ops, graph } = setup([cm('child', 'c1', [ref('p1')])]);
    ops.put(cm('cm-p1', 'p1'));
    await gc.attemptToDelete('p1');
    expect(graph.get('p1')).toBeDefined();
    await gc.attemptToDelete('c1');
    expect(ops.calls).toEqual([]);
  });

  test('two owners, one gone: only the dead reference is removed', async () => {
    const { gc, ops } = setup([cm('cm-p2', 'p2'), cm('child', 'c1', [ref('p1'), ref('p2')])]);
    await gc.attemptToDelete('c1');
    expect(ops.calls).toEqual(['unown child p1']);
  });

  test('foreground owner: blocking dependents requeued; finalizer removed once none is left', async () => {
    const deleting = { deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: ['foregroundDeletion'] };
    const { gc, ops, graph, requeued } = setup([cm('cm-p1', 'p1', [], deleting), cm('a', 'a1', [ref('p1', true)]), cm('b', 'b1', [ref('p1', false)])]);
    await gc.attemptToDelete('p1');
    expect(requeued).toEqual(['a1']);
    await gc.attemptToDelete('b1');
    expect(ops.calls).toEqual(['delete b Background']);
    graph.remove('a1');
    await gc.attemptToDelete('p1');
    expect(ops.calls).toEqual(['delete b Background', 'unfinalize cm-p1 foregroundDeletion']);
  });

  test('a cluster-scoped dependent of a namespaced owner: OwnerRefInvalidNamespace, treated as absent', async () => {
    const { graph } = recordingGraph();
    const ops = new FakeOps();
    const pv: KubeObject = { metadata: { name: 'pv-1', uid: 'pv1', ownerReferences: [ref('p1')] } };
    graph.observe(resourceForCase('persistentVolume'), pv);
    ops.put(pv);
    const warnings: string[] = [];
    const gc = new GarbageCollector(graph, ops, logger('test'), () => undefined, (id, reason, message) => warnings.push(`${id.name} ${reason}: ${message}`));
    await gc.attemptToDelete('pv1');
    expect(warnings).toEqual(['pv-1 OwnerRefInvalidNamespace: ownerRef [v1/ConfigMap, namespace: , name: cm-p1, uid: p1] does not exist in namespace ""']);
    expect(ops.calls).toEqual(['delete pv-1 Background']);
  });

  test('orphan: references removed from every dependent, then the finalizer', async () => {
    const { gc, ops } = setup([cm('cm-p1', 'p1', [], { deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: ['orphan'] }), cm('a', 'a1', [ref('p1')]), cm('b', 'b1', [ref('p1')])]);
    await gc.attemptToOrphan('p1');
    expect(ops.calls.sort()).toEqual(['unfinalize cm-p1 orphan', 'unown a p1', 'unown b p1']);
  });
});
