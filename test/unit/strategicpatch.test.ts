import { Deployment } from '../../services/lib/generated/kubemu/apps/v1/apps';
import { applyStrategicMergePatch, findTypeMismatch, PatchSchema, StrategicPatchError, strategicSchemaFor } from '../../services/lib/strategicpatch';

// The shape of Kubernetes' own test type (strategicpatch/patch_test.go MergeItem), so that the
// cases below read as theirs do.
const MergeItem: PatchSchema = { name: 'MergeItem', fields: {} };
Object.assign(MergeItem.fields, {
  mergingList: { strategy: 'merge', mergeKey: 'name', type: MergeItem },
  nonMergingList: {},
  mergingIntList: { strategy: 'merge' },
  nonMergingIntList: {},
  simpleMap: {},
  replacingItem: { strategy: 'replace' },
  retainKeysMap: { strategy: 'retainKeys' },
  retainKeysMergingList: { strategy: 'merge,retainKeys', mergeKey: 'name' },
  mergeItemPtr: { strategy: 'merge', mergeKey: 'name', type: MergeItem },
});

const smp = (original: unknown, patch: unknown, schema: PatchSchema = MergeItem) => applyStrategicMergePatch(original, patch, schema);

function expectError(fn: () => unknown, message: string | RegExp, code?: number): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(StrategicPatchError);
  if (typeof message === 'string') expect((caught as Error).message).toBe(message);
  else expect((caught as Error).message).toMatch(message);
  if (code !== undefined) expect((caught as StrategicPatchError).code).toBe(code);
}

describe('strategic merge patch - maps', () => {
  test('a null value deletes the key', () => {
    expect(smp({ name: '1', value: '1' }, { value: null })).toEqual({ name: '1' });
  });

  test('a null for an absent key is ignored (IgnoreUnmatchedNulls)', () => {
    expect(smp({ name: '1' }, { value: null })).toEqual({ name: '1' });
  });

  test('a new key is added, nested nulls discarded', () => {
    expect(smp({ name: '1' }, { value: '1', simpleMap: { a: '1', b: null } })).toEqual({ name: '1', value: '1', simpleMap: { a: '1' } });
  });

  test('maps merge recursively', () => {
    expect(smp({ simpleMap: { key1: '1', key2: '2' } }, { simpleMap: { key2: 'x', key3: '3' } })).toEqual({ simpleMap: { key1: '1', key2: 'x', key3: '3' } });
  });

  test('$patch: delete empties a map', () => {
    expect(smp({ simpleMap: { key1: '1' }, name: 'a' }, { simpleMap: { $patch: 'delete' } })).toEqual({ simpleMap: {}, name: 'a' });
  });

  test('$patch: replace replaces a map', () => {
    expect(smp({ simpleMap: { key1: '1', key2: '2' } }, { simpleMap: { $patch: 'replace', key3: '3' } })).toEqual({ simpleMap: { key3: '3' } });
  });

  test('$patch: replace at the top replaces the whole object', () => {
    expect(smp({ name: '1', value: '1' }, { $patch: 'replace', other: 'a' })).toEqual({ other: 'a' });
  });

  test('an unknown $patch directive in a map is an error with Kubernetes message', () => {
    expectError(() => smp({ simpleMap: { a: '1' } }, { simpleMap: { $patch: 'frobnicate', a: '2' } }), 'unknown patch type: frobnicate in map: map[$patch:frobnicate a:2]', 500);
  });

  test('a field with patchStrategy replace is replaced, not merged', () => {
    expect(smp({ replacingItem: { a: '1', b: '2' } }, { replacingItem: { c: '3' } })).toEqual({ replacingItem: { c: '3' } });
  });

  test('a value of another type replaces the original', () => {
    expect(smp({ value: 'a' }, { value: { x: 1 } })).toEqual({ value: { x: 1 } });
    expect(smp({ simpleMap: { a: '1' } }, { simpleMap: 'flat' })).toEqual({ simpleMap: 'flat' });
  });

  test('inputs are not mutated', () => {
    const original = { mergingList: [{ name: 'a', value: '1' }] };
    const patch = { mergingList: [{ name: 'a', value: '2' }, { name: 'b', $patch: 'delete' }] };
    const before = JSON.stringify([original, patch]);
    smp(original, patch);
    expect(JSON.stringify([original, patch])).toBe(before);
  });

  test('a patch that is not an object is invalid JSON document (400)', () => {
    expectError(() => smp({}, [1, 2]), 'invalid JSON document', 400);
  });
});

describe('strategic merge patch - lists', () => {
  test('merging list: items with the same merge key merge, others are kept', () => {
    expect(smp({ mergingList: [{ name: '1', value: '1', other: 'a' }, { name: '2', value: '2' }] }, { mergingList: [{ name: '1', value: 'x' }] })).toEqual({
      mergingList: [{ name: '1', value: 'x', other: 'a' }, { name: '2', value: '2' }],
    });
  });

  test('merging list: a new item goes before the live items it does not follow (Kubernetes order)', () => {
    expect(smp({ mergingList: [{ name: '1' }, { name: '2' }] }, { mergingList: [{ name: '3' }] })).toEqual({
      mergingList: [{ name: '3' }, { name: '1' }, { name: '2' }],
    });
  });

  test('merging list: a null inside a merged item deletes the key', () => {
    expect(smp({ mergingList: [{ name: '1', value: '1', other: 'a' }] }, { mergingList: [{ name: '1', other: null }] })).toEqual({ mergingList: [{ name: '1', value: '1' }] });
  });

  test('merging list: $patch: delete removes the item with that key', () => {
    expect(smp({ mergingList: [{ name: '1', value: '1' }, { name: '2', value: '2' }] }, { mergingList: [{ name: '1', $patch: 'delete' }] })).toEqual({
      mergingList: [{ name: '2', value: '2' }],
    });
  });

  test('merging list: $patch: replace makes the rest of the patch list the list', () => {
    expect(smp({ mergingList: [{ name: '1' }, { name: '2' }] }, { mergingList: [{ name: '3', value: '3' }, { $patch: 'replace' }] })).toEqual({
      mergingList: [{ name: '3', value: '3' }],
    });
  });

  test('merging list: $patch: merge as a list item is refused as Kubernetes does', () => {
    expectError(() => smp({ mergingList: [{ name: '1' }] }, { mergingList: [{ $patch: 'merge' }] }), 'merging lists cannot yet be specified in the patch');
  });

  test('merging list: an item without the merge key is an error naming it', () => {
    expectError(() => smp({ mergingList: [{ name: '1' }] }, { mergingList: [{ value: '1' }] }), 'map: map[value:1] does not contain declared merge key: name');
  });

  test('merging list: delete directive without merge key is an error', () => {
    expectError(() => smp({ mergingList: [{ name: '1' }] }, { mergingList: [{ $patch: 'delete' }] }), 'map: map[$patch:delete] does not contain declared merge key: name');
  });

  test('merging list absent from the original is added', () => {
    expect(smp({}, { mergingList: [{ name: '1', value: null }] })).toEqual({ mergingList: [{ name: '1' }] });
  });

  test('non-merging list is replaced', () => {
    expect(smp({ nonMergingList: [{ name: '1' }, { name: '2' }] }, { nonMergingList: [{ name: '3' }] })).toEqual({ nonMergingList: [{ name: '3' }] });
    expect(smp({ nonMergingIntList: [1, 2] }, { nonMergingIntList: [3] })).toEqual({ nonMergingIntList: [3] });
  });

  test('merging list of scalars is a union in order', () => {
    expect(smp({ mergingIntList: [1, 2] }, { mergingIntList: [2, 3] })).toEqual({ mergingIntList: [1, 2, 3] });
  });

  test('$deleteFromPrimitiveList removes values from a merging scalar list', () => {
    expect(smp({ mergingIntList: [1, 2, 3] }, { '$deleteFromPrimitiveList/mergingIntList': [2] })).toEqual({ mergingIntList: [1, 3] });
  });

  test('$deleteFromPrimitiveList of an absent list adds nothing', () => {
    expect(smp({ name: 'a' }, { '$deleteFromPrimitiveList/mergingIntList': [2] })).toEqual({ name: 'a' });
  });

  test('$deleteFromPrimitiveList together with additions', () => {
    expect(smp({ mergingIntList: [1, 2] }, { '$deleteFromPrimitiveList/mergingIntList': [1], mergingIntList: [3] })).toEqual({ mergingIntList: [3, 2] });
  });

  test('lists of lists are refused (422)', () => {
    expectError(() => smp({ mergingIntList: [[1]] }, { mergingIntList: [[2]] }), 'lists of lists are not supported', 422);
  });

  test('a merging list whose items are not all of one type is an error', () => {
    expectError(() => smp({ mergingIntList: [1] }, { mergingIntList: ['a'] }), /list element types are not identical/);
  });
});

describe('strategic merge patch - $setElementOrder', () => {
  test('reorders a merging list without changing its items', () => {
    const original = { mergingList: [{ name: 'a', value: '1' }, { name: 'b' }, { name: 'c' }] };
    expect(smp(original, { '$setElementOrder/mergingList': [{ name: 'c' }, { name: 'a' }, { name: 'b' }] })).toEqual({
      mergingList: [{ name: 'c' }, { name: 'a', value: '1' }, { name: 'b' }],
    });
  });

  test('places added items where the order says', () => {
    const original = { mergingList: [{ name: 'a' }, { name: 'b' }] };
    const patch = { '$setElementOrder/mergingList': [{ name: 'a' }, { name: 'x' }, { name: 'b' }], mergingList: [{ name: 'x', value: '1' }] };
    expect(smp(original, patch)).toEqual({ mergingList: [{ name: 'a' }, { name: 'x', value: '1' }, { name: 'b' }] });
  });

  test('server-only items keep their place among the ordered ones', () => {
    // kubectl apply sends the order of the items it knows; a server-only item goes before the
    // next ordered item when it came before it in the live list (mergeSortedSlice).
    const original = { mergingList: [{ name: 'a' }, { name: 'server' }, { name: 'b' }] };
    const patch = { '$setElementOrder/mergingList': [{ name: 'b' }, { name: 'a' }], mergingList: [{ name: 'b', value: '2' }] };
    expect(smp(original, patch).mergingList).toEqual([{ name: 'server' }, { name: 'b', value: '2' }, { name: 'a' }]);
  });

  test('with deletions in the patch list', () => {
    const original = { mergingList: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] };
    const patch = { '$setElementOrder/mergingList': [{ name: 'c' }, { name: 'a' }], mergingList: [{ name: 'b', $patch: 'delete' }] };
    expect(smp(original, patch)).toEqual({ mergingList: [{ name: 'c' }, { name: 'a' }] });
  });

  test('orders a merging scalar list', () => {
    expect(smp({ mergingIntList: [1, 2, 3] }, { '$setElementOrder/mergingIntList': [3, 1, 2] })).toEqual({ mergingIntList: [3, 1, 2] });
    expect(smp({ mergingIntList: [1, 2] }, { '$setElementOrder/mergingIntList': [1, 5, 2], mergingIntList: [5] })).toEqual({ mergingIntList: [1, 5, 2] });
  });

  test('a patch list out of the directive order is an error', () => {
    expectError(
      () => smp({ mergingList: [{ name: 'a' }] }, { '$setElementOrder/mergingList': [{ name: 'a' }, { name: 'b' }], mergingList: [{ name: 'b' }, { name: 'a' }] }),
      /^The order in patch list:\n\[map\[name:b\] map\[name:a\]\]\n doesn't match \$setElementOrder list:/,
    );
  });

  test('a directive that is not a list is an error', () => {
    expectError(() => smp({ mergingList: [] }, { '$setElementOrder/mergingList': 'x' }), /expected a \[\]interface \{\}, but received a string/);
  });
});

describe('strategic merge patch - $retainKeys', () => {
  test('keeps only the listed keys', () => {
    expect(smp({ retainKeysMap: { name: 'foo', value: 'bar', other: 'baz' } }, { retainKeysMap: { $retainKeys: ['name', 'value'], value: 'new' } })).toEqual({
      retainKeysMap: { name: 'foo', value: 'new' },
    });
  });

  test('a patched key missing from the list is a bad patch (400)', () => {
    expectError(() => smp({ retainKeysMap: { name: 'foo' } }, { retainKeysMap: { $retainKeys: ['name'], value: 'x' } }), 'invalid patch format of retainKeys', 400);
  });

  test('a $retainKeys that is not a list is a bad patch (400)', () => {
    expectError(() => smp({ retainKeysMap: {} }, { retainKeysMap: { $retainKeys: 'name' } }), 'invalid patch format of retainKeys', 400);
  });

  test('in the items of a merging list', () => {
    const original = { retainKeysMergingList: [{ name: 'a', value: '1', other: 'x' }, { name: 'b', value: '2' }] };
    const patch = { retainKeysMergingList: [{ name: 'a', $retainKeys: ['name', 'other'], other: 'y' }] };
    expect(smp(original, patch)).toEqual({ retainKeysMergingList: [{ name: 'a', other: 'y' }, { name: 'b', value: '2' }] });
  });
});

describe('strategic merge patch - Kubernetes kinds', () => {
  const deployment = () => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web' }, finalizers: ['a'] },
    spec: {
      replicas: 2,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            { name: 'web', image: 'nginx:1', ports: [{ containerPort: 80, protocol: 'TCP' }], env: [{ name: 'A', value: '1' }] },
            { name: 'sidecar', image: 'busybox' },
          ],
          tolerations: [{ key: 'k1', operator: 'Exists' }],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    },
  });
  const schema = strategicSchemaFor('Deployment');

  test('kubectl set image: a container merges by name, its other fields kept', () => {
    const out = smp(deployment(), { spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:2' }] } } } }, schema) as any;
    expect(out.spec.template.spec.containers).toEqual([
      { name: 'web', image: 'nginx:2', ports: [{ containerPort: 80, protocol: 'TCP' }], env: [{ name: 'A', value: '1' }] },
      { name: 'sidecar', image: 'busybox' },
    ]);
  });

  test('kubectl apply patch: $setElementOrder, env merged by name, a container deleted', () => {
    const patch = {
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'web' }],
            containers: [{ name: 'web', '$setElementOrder/env': [{ name: 'A' }, { name: 'B' }], env: [{ name: 'B', value: '2' }] }, { name: 'sidecar', $patch: 'delete' }],
          },
        },
      },
    };
    const out = smp(deployment(), patch, schema) as any;
    expect(out.metadata.annotations).toEqual({ 'kubectl.kubernetes.io/last-applied-configuration': '{}' });
    expect(out.spec.template.spec.containers).toEqual([
      { name: 'web', image: 'nginx:1', ports: [{ containerPort: 80, protocol: 'TCP' }], env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] },
    ]);
  });

  test('container ports merge by containerPort', () => {
    const patch = { spec: { template: { spec: { containers: [{ name: 'web', ports: [{ containerPort: 443 }] }] } } } };
    const out = smp(deployment(), patch, schema) as any;
    expect(out.spec.template.spec.containers[0].ports).toEqual([{ containerPort: 443 }, { containerPort: 80, protocol: 'TCP' }]);
  });

  test('tolerations have no merge key: replaced', () => {
    const patch = { spec: { template: { spec: { tolerations: [{ key: 'k2', operator: 'Exists' }] } } } };
    expect((smp(deployment(), patch, schema) as any).spec.template.spec.tolerations).toEqual([{ key: 'k2', operator: 'Exists' }]);
  });

  test('finalizers are a merging set; $deleteFromPrimitiveList removes one', () => {
    expect((smp(deployment(), { metadata: { finalizers: ['b'] } }, schema) as any).metadata.finalizers).toEqual(['b', 'a']);
    expect((smp(deployment(), { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }, schema) as any).metadata.finalizers).toEqual([]);
  });

  test('ownerReferences merge by uid', () => {
    const original = { metadata: { ownerReferences: [{ uid: 'u1', name: 'a' }] } };
    expect((smp(original, { metadata: { ownerReferences: [{ uid: 'u2', name: 'b' }] } }, schema) as any).metadata.ownerReferences).toEqual([
      { uid: 'u2', name: 'b' },
      { uid: 'u1', name: 'a' },
    ]);
  });

  test('strategy with $retainKeys (kubectl switching to Recreate)', () => {
    const patch = { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: null } } };
    expect((smp(deployment(), patch, schema) as any).spec.strategy).toEqual({ type: 'Recreate' });
  });

  test('volumes merge by name with $retainKeys in an item', () => {
    const patch = { spec: { template: { spec: { volumes: [{ name: 'data', $retainKeys: ['name', 'hostPath'], hostPath: { path: '/x' } }] } } } };
    expect((smp(deployment(), patch, schema) as any).spec.template.spec.volumes).toEqual([{ name: 'data', hostPath: { path: '/x' } }]);
  });

  test('labels: null removes one, others merge', () => {
    const out = smp(deployment(), { metadata: { labels: { app: null, tier: 'front' } } }, schema) as any;
    expect(out.metadata.labels).toEqual({ tier: 'front' });
  });

  test('service ports merge by port; node conditions by type; pod conditions by type', () => {
    const svc = { spec: { ports: [{ port: 80, targetPort: 8080 }, { port: 443 }] } };
    expect((smp(svc, { spec: { ports: [{ port: 80, targetPort: 9090 }] } }, strategicSchemaFor('Service')) as any).spec.ports).toEqual([
      { port: 80, targetPort: 9090 },
      { port: 443 },
    ]);
    const node = { status: { conditions: [{ type: 'Ready', status: 'True' }, { type: 'MemoryPressure', status: 'False' }] } };
    expect((smp(node, { status: { conditions: [{ type: 'Ready', status: 'False' }] } }, strategicSchemaFor('Node')) as any).status.conditions).toEqual([
      { type: 'Ready', status: 'False' },
      { type: 'MemoryPressure', status: 'False' },
    ]);
    const pod = { status: { conditions: [{ type: 'Ready', status: 'True' }] } };
    expect((smp(pod, { status: { conditions: [{ type: 'PodScheduled', status: 'True' }] } }, strategicSchemaFor('Pod')) as any).status.conditions).toHaveLength(2);
  });

  test('node taints have no merge key: replaced (kubectl taint sends the whole list)', () => {
    const node = { spec: { taints: [{ key: 'a', effect: 'NoSchedule' }] } };
    expect((smp(node, { spec: { taints: [{ key: 'b', effect: 'NoSchedule' }] } }, strategicSchemaFor('Node')) as any).spec.taints).toEqual([{ key: 'b', effect: 'NoSchedule' }]);
  });

  test('cronjob job template containers merge by name', () => {
    const cj = { spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: 'c', image: 'a', args: ['x'] }] } } } } } };
    const patch = { spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: 'c', image: 'b' }] } } } } } };
    expect((smp(cj, patch, strategicSchemaFor('CronJob')) as any).spec.jobTemplate.spec.template.spec.containers).toEqual([{ name: 'c', image: 'b', args: ['x'] }]);
  });

  test('a kind without entries still merges metadata', () => {
    const cm = { metadata: { finalizers: ['x'] }, data: { a: '1' } };
    expect(smp(cm, { metadata: { finalizers: ['y'] }, data: { b: '2' } }, strategicSchemaFor('ConfigMap'))).toEqual({ metadata: { finalizers: ['y', 'x'] }, data: { a: '1', b: '2' } });
  });
});

describe('strategic merge patch - type check after decoding', () => {
  const roundTrip = (json: unknown) => Deployment.toJSON(Deployment.fromJSON(json));

  test('values the decoder had to coerce are reported with their path', () => {
    const bad = (json: unknown) => findTypeMismatch(json, roundTrip(json));
    expect(bad({ spec: { replicas: 'three' } })).toEqual({ path: '.spec.replicas', given: 'string', wanted: 'number' });
    expect(bad({ spec: { template: { spec: { containers: [{ name: 'a', image: { x: 1 } }] } } } })).toEqual({ path: '.spec.template.spec.containers[0].image', given: 'object', wanted: 'string' });
    expect(bad({ spec: { paused: 'false' } })).toEqual({ path: '.spec.paused', given: 'string', wanted: 'bool' });
    expect(bad({ spec: { replicas: true } })).toMatchObject({ path: '.spec.replicas', given: 'bool' });
  });

  test('well-typed objects, numeric quantities and IntOrString pass', () => {
    const ok = {
      metadata: { name: 'web', labels: { a: 'b' } },
      spec: {
        replicas: 2,
        strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } },
        template: { spec: { containers: [{ name: 'a', image: 'x', resources: { limits: { cpu: 1, memory: '64Mi' } } }] } },
      },
    };
    expect(findTypeMismatch(ok, roundTrip(ok))).toBeUndefined();
  });
});
