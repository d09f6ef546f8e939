import {
  ApplyConflictError,
  conflictMessage,
  displayPath,
  fieldSetOf,
  fromFieldsV1,
  managedFieldsFromKubernetes,
  managedFieldsToKubernetes,
  ownablePart,
  serverSideApply,
  toFieldsV1,
  trackUpdate,
} from '../../services/lib/fieldmanager';
import { applyStrategicMergePatch, strategicSchemaFor } from '../../services/lib/strategicpatch';

const schema = strategicSchemaFor('Deployment');
const T = '2026-11-23T07:00:00Z';

const config = (replicas: number | undefined, image = 'nginx:1', extra: Record<string, string> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { app: 'web', ...extra } },
  spec: {
    ...(replicas === undefined ? {} : { replicas }),
    template: { spec: { containers: [{ name: 'web', image }] } },
  },
});

const apply = (live: any, applied: any, managedFields: any[], manager: string, force = false) =>
  serverSideApply({
    live,
    applied,
    managedFields,
    manager,
    apiVersion: 'apps/v1',
    force,
    time: T,
    schema,
    hasStatus: true,
    subresource: '',
    merge: (pruned, cfg) => applyStrategicMergePatch(pruned, cfg, schema),
  });

describe('fieldmanager - field sets', () => {
  test('FieldsV1 of an applied configuration, as Kubernetes writes it', () => {
    const set = fieldSetOf(ownablePart(config(3), { hasStatus: true, subresource: '' }), schema);
    expect(toFieldsV1(set)).toEqual({
      'f:metadata': { 'f:labels': { 'f:app': {} } },
      'f:spec': {
        'f:replicas': {},
        'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"web"}': { '.': {}, 'f:name': {}, 'f:image': {} } } } },
      },
    });
  });

  test('FieldsV1 round-trips through its JSON text', () => {
    const set = fieldSetOf({ metadata: { finalizers: ['a', 'b'] }, spec: { template: { spec: { tolerations: [{ key: 'x' }] } } } }, schema);
    expect(toFieldsV1(set)).toEqual({ 'f:metadata': { 'f:finalizers': { 'v:"a"': {}, 'v:"b"': {} } }, 'f:spec': { 'f:template': { 'f:spec': { 'f:tolerations': {} } } } });
    expect(fromFieldsV1(JSON.stringify(toFieldsV1(set)))).toEqual(set);
    expect(fromFieldsV1('not json').size).toBe(0);
  });

  test('ports are keyed by all their listMapKeys, protocol defaulted, as Kubernetes keys them', () => {
    const set = fieldSetOf({ spec: { template: { spec: { containers: [{ name: 'web', ports: [{ containerPort: 80 }, { containerPort: 53, protocol: 'UDP' }] }] } } } }, schema);
    const ports = (toFieldsV1(set) as any)['f:spec']['f:template']['f:spec']['f:containers']['k:{"name":"web"}']['f:ports'];
    expect(Object.keys(ports)).toEqual(['k:{"containerPort":80,"protocol":"TCP"}', 'k:{"containerPort":53,"protocol":"UDP"}']);
    const svc = fieldSetOf({ spec: { ports: [{ port: 443, targetPort: 8443 }] } }, strategicSchemaFor('Service'));
    expect([...svc]).toContain(JSON.stringify(['f:spec', 'f:ports', 'k:{"port":443,"protocol":"TCP"}', 'f:targetPort']));
  });

  test('ownable part drops system metadata and status', () => {
    expect(ownablePart({ apiVersion: 'v1', kind: 'X', metadata: { name: 'a', uid: 'u', labels: { a: '1' } }, spec: { x: 1 }, status: { y: 1 } }, { hasStatus: true, subresource: '' })).toEqual({
      metadata: { labels: { a: '1' } },
      spec: { x: 1 },
    });
    expect(ownablePart({ spec: { x: 1 }, status: { y: 1 } }, { hasStatus: true, subresource: 'status' })).toEqual({ status: { y: 1 } });
  });

  test('display paths and conflict messages in Kubernetes form', () => {
    expect(displayPath(['f:spec', 'f:template', 'f:spec', 'f:containers', 'k:{"name":"web"}', 'f:image'])).toBe('.spec.template.spec.containers[name="web"].image');
    expect(displayPath(['f:metadata', 'f:finalizers', 'v:"x"'])).toBe('.metadata.finalizers[="x"]');
    expect(conflictMessage([{ manager: 'm', managerDisplay: '"m" using apps/v1', path: '.spec.replicas' }])).toBe('Apply failed with 1 conflict: conflict with "m" using apps/v1: .spec.replicas');
  });

  test('managedFields fieldsV1 as Kubernetes shows it, and back', () => {
    const stored = { metadata: { managedFields: [{ manager: 'm', fieldsV1: '{"f:spec":{"f:replicas":{}}}' }] } };
    const shown = managedFieldsToKubernetes(stored) as any;
    expect(shown.metadata.managedFields[0].fieldsV1).toEqual({ 'f:spec': { 'f:replicas': {} } });
    expect(managedFieldsFromKubernetes(shown)).toEqual(stored);
    expect(stored.metadata.managedFields[0].fieldsV1).toBe('{"f:spec":{"f:replicas":{}}}');
  });
});

describe('fieldmanager - apply', () => {
  test('first apply owns its fields; re-apply without a field prunes it', () => {
    const first = apply(undefined, config(3, 'nginx:1', { tier: 'a' }), [], 'kubectl');
    expect(first.managedFields.map((e) => [e.manager, e.operation])).toEqual([['kubectl', 'Apply']]);
    const second = apply(first.object, config(undefined), first.managedFields, 'kubectl');
    expect((second.object as any).spec.replicas).toBeUndefined();
    expect((second.object as any).metadata.labels).toEqual({ app: 'web' });
  });

  test('a changed field owned by an Update manager conflicts; the same value is shared', () => {
    const live = applyStrategicMergePatch({}, config(3), schema);
    const mf = trackUpdate({ old: undefined, next: live, managedFields: [], manager: 'kubectl-client-side-apply', apiVersion: 'apps/v1', time: T, schema, hasStatus: true, subresource: '' });
    let caught: unknown;
    try {
      apply(live, config(5), mf, 'kubectl');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ApplyConflictError);
    expect((caught as Error).message).toBe('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas');
    const shared = apply(live, config(3), mf, 'kubectl');
    expect(shared.managedFields.map((e) => e.manager)).toEqual(['kubectl-client-side-apply', 'kubectl']);
    const forced = apply(live, config(5), mf, 'kubectl', true);
    expect((forced.object as any).spec.replicas).toBe(5);
    expect(fromFieldsV1(forced.managedFields[0].fieldsV1).has(JSON.stringify(['f:spec', 'f:replicas']))).toBe(false);
  });

  test('an Update takes the fields it changes from an applier; a no-op update changes nothing', () => {
    const first = apply(undefined, config(3), [], 'kubectl');
    const edited = applyStrategicMergePatch(first.object, { spec: { replicas: 7 } }, schema);
    const mf = trackUpdate({ old: first.object, next: edited, managedFields: first.managedFields, manager: 'kubectl-scale', apiVersion: 'apps/v1', time: T, schema, hasStatus: true, subresource: '' });
    expect(mf.map((e) => `${e.manager}/${e.operation}`)).toEqual(['kubectl/Apply', 'kubectl-scale/Update']);
    expect(fromFieldsV1(mf[0].fieldsV1).has(JSON.stringify(['f:spec', 'f:replicas']))).toBe(false);
    expect(toFieldsV1(fromFieldsV1(mf[1].fieldsV1))).toEqual({ 'f:spec': { 'f:replicas': {} } });
    const same = trackUpdate({ old: edited, next: edited, managedFields: mf, manager: 'x', apiVersion: 'apps/v1', time: T, schema, hasStatus: true, subresource: '' });
    expect(same).toBe(mf);
  });
});

describe('fieldmanager - pruning', () => {
  test('a dropped list item that another manager holds part of stays, with its merge key', () => {
    const cfg = (containers: any[]) => ({ metadata: { name: 'web' }, spec: { template: { spec: { containers } } } });
    const first = apply(undefined, cfg([{ name: 'web', image: 'a' }, { name: 'side', image: 'b' }]), [], 'kubectl');
    // Another manager set a field inside the sidecar.
    const edited = applyStrategicMergePatch(first.object, { spec: { template: { spec: { containers: [{ name: 'side', imagePullPolicy: 'Always' }] } } } }, schema);
    const mf = trackUpdate({ old: first.object, next: edited, managedFields: first.managedFields, manager: 'other', apiVersion: 'apps/v1', time: T, schema, hasStatus: true, subresource: '' });
    const out = apply(edited, cfg([{ name: 'web', image: 'a' }]), mf, 'kubectl');
    expect((out.object as any).spec.template.spec.containers).toEqual([{ name: 'web', image: 'a' }, { name: 'side', imagePullPolicy: 'Always' }]);
    // Without the other manager the item goes whole.
    const alone = apply(first.object, cfg([{ name: 'web', image: 'a' }]), first.managedFields, 'kubectl');
    expect((alone.object as any).spec.template.spec.containers).toEqual([{ name: 'web', image: 'a' }]);
  });
});
