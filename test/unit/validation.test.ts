import { fieldErrorMessage } from '../../services/lib/errors';
import { RESOURCES, resourceForCase } from '../../services/lib/resources';
import { applyDefaults } from '../../services/kube-apiserver/defaulting';
import { validateCreate, validateStatusUpdate, validateUpdate } from '../../services/kube-apiserver/validation';
import { GoValue, semanticEqual } from '../../services/kube-apiserver/validation/common';
import { created, createErrors, createMessages, DEFAULTING, fixtures, updateMessages } from './fixtures';

const OPTS = DEFAULTING;


const SUBDOMAIN_ERR =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const NAME_PART_ERR =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

describe('fixtures', () => {
  test.each(RESOURCES.map((r) => [r.kind, r.objectCase] as const))('fixtures - a %s validates on create without errors', (_kind, c) => {
    expect(createMessages(c)).toEqual([]);
  });

  test.each(RESOURCES.map((r) => [r.kind, r.objectCase] as const))('fixtures - an unchanged %s passes update and status update', (_kind, c) => {
    const info = resourceForCase(c);
    const old = created(c);
    old.metadata!.resourceVersion = '7';
    const next = info.codec.decode(info.codec.encode(old).finish());
    applyDefaults(info, next, { ...OPTS, update: true });
    expect(validateUpdate(info, next, old).map(fieldErrorMessage)).toEqual([]);
    expect(validateStatusUpdate(info, next, old).map(fieldErrorMessage)).toEqual([]);
  });

  test('fixtures - objects built with fromPartial (no codec round trip) validate too', () => {
    for (const info of RESOURCES) {
      const obj = info.codec.fromPartial((fixtures as Record<string, () => unknown>)[info.objectCase]());
      obj.metadata!.uid = 'u';
      if (info.hasStatus && info.objectCase !== 'node') (obj as { status?: unknown }).status = undefined;
      applyDefaults(info, obj, OPTS);
      expect([info.kind, validateCreate(info, obj).map(fieldErrorMessage)]).toEqual([info.kind, []]);
    }
  });
});

describe('ObjectMeta', () => {
  test('metadata - name or generateName is required', () => {
    expect(createMessages('configMap', (o) => (o.metadata!.name = ''))).toEqual(['metadata.name: Required value: name or generateName is required']);
  });

  test('metadata - generateName is validated as a prefix (a trailing dash is fine)', () => {
    expect(createMessages('configMap', (o) => Object.assign(o.metadata!, { name: '', generateName: 'web-' }))).toEqual([]);
    expect(createMessages('configMap', (o) => Object.assign(o.metadata!, { name: '', generateName: 'Web-' }))).toEqual([`metadata.generateName: Invalid value: "Web-": ${SUBDOMAIN_ERR}`]);
  });

  test('metadata - most kinds need a DNS-1123 subdomain name', () => {
    expect(createMessages('configMap', (o) => (o.metadata!.name = 'My_Config'))).toEqual([`metadata.name: Invalid value: "My_Config": ${SUBDOMAIN_ERR}`]);
    expect(createMessages('configMap', (o) => (o.metadata!.name = 'a.b-c'))).toEqual([]);
    expect(createMessages('configMap', (o) => (o.metadata!.name = 'a'.repeat(254)))).toContain(`metadata.name: Invalid value: "${'a'.repeat(254)}": must be no more than 253 bytes`);
  });

  test('metadata - a Namespace name is a DNS-1123 label', () => {
    expect(createMessages('namespace', (o) => (o.metadata!.name = 'team.a'))).toEqual(['metadata.name: Invalid value: "team.a": must not contain dots']);
    expect(createMessages('namespace', (o) => (o.metadata!.name = 'Team'))).toEqual([
      `metadata.name: Invalid value: "Team": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
    ]);
  });

  test('metadata - a Service name is a DNS-1035 label', () => {
    expect(createMessages('service', (o) => (o.metadata!.name = '1web'))).toEqual([
      `metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`,
    ]);
  });

  test('metadata - an Event name only has to be a path segment', () => {
    expect(createMessages('event', (o) => (o.metadata!.name = 'Web_0.ABC'))).toEqual([]);
    expect(createMessages('event', (o) => (o.metadata!.name = 'a/b'))).toEqual([`metadata.name: Invalid value: "a/b": may not contain '/'`]);
    expect(createMessages('event', (o) => (o.metadata!.name = '..'))).toEqual([`metadata.name: Invalid value: "..": may not be '..'`]);
  });

  test('metadata - a StatefulSet name is a DNS-1123 label', () => {
    expect(createMessages('statefulSet', (o) => (o.metadata!.name = 'db.v1'))).toEqual(['metadata.name: Invalid value: "db.v1": must not contain dots']);
  });

  test('metadata - namespace is required for namespaced kinds and must be a DNS label', () => {
    expect(createMessages('configMap', (o) => (o.metadata!.namespace = ''))).toEqual(['metadata.namespace: Required value']);
    expect(createMessages('configMap', (o) => (o.metadata!.namespace = 'a.b'))).toEqual(['metadata.namespace: Invalid value: "a.b": must not contain dots']);
  });

  test('metadata - namespace is forbidden for cluster-scoped kinds', () => {
    expect(createMessages('node', (o) => (o.metadata!.namespace = 'default'))).toEqual(['metadata.namespace: Forbidden: not allowed on this type']);
  });

  test('metadata - label keys and values follow Kubernetes syntax', () => {
    expect(createMessages('configMap', (o) => (o.metadata!.labels = { 'bad key': 'x' }))).toEqual([`metadata.labels: Invalid value: "bad key": ${NAME_PART_ERR}`]);
    expect(createMessages('configMap', (o) => (o.metadata!.labels = { 'Example.com/a': 'x' }))).toEqual([`metadata.labels: Invalid value: "Example.com/a": prefix part ${SUBDOMAIN_ERR}`]);
    const long = 'v'.repeat(64);
    expect(createMessages('configMap', (o) => (o.metadata!.labels = { app: long }))).toEqual([`metadata.labels: Invalid value: "${long}": must be no more than 63 bytes`]);
    expect(createMessages('configMap', (o) => (o.metadata!.labels = { app: '-x' }))).toEqual([
      `metadata.labels: Invalid value: "-x": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
    ]);
  });

  test('metadata - annotation keys are qualified names, case-insensitively', () => {
    expect(createMessages('configMap', (o) => (o.metadata!.annotations = { 'Example.COM/Owner': 'x' }))).toEqual([]);
    expect(createMessages('configMap', (o) => (o.metadata!.annotations = { 'a b': 'x' }))).toEqual([`metadata.annotations: Invalid value: "a b": ${NAME_PART_ERR}`]);
  });

  test('metadata - annotations may total at most 256 KiB', () => {
    expect(createMessages('configMap', (o) => (o.metadata!.annotations = { big: 'x'.repeat(256 * 1024) }))).toEqual(['metadata.annotations: Too long: may not be more than 262144 bytes']);
    expect(createMessages('configMap', (o) => (o.metadata!.annotations = { big: 'x'.repeat(256 * 1024 - 3) }))).toEqual([]);
  });

  test('metadata - owner references need apiVersion, kind, name and uid', () => {
    expect(createMessages('pod', (o) => (o.metadata!.ownerReferences = [{ apiVersion: '', kind: '', name: '', uid: '' }]))).toEqual([
      'metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty',
      'metadata.ownerReferences.kind: Invalid value: "": must not be empty',
      'metadata.ownerReferences.name: Invalid value: "": must not be empty',
      'metadata.ownerReferences.uid: Invalid value: "": must not be empty',
    ]);
  });

  test('metadata - at most one owner reference is the controller', () => {
    const ref = (name: string) => ({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name, uid: `uid-${name}`, controller: true });
    const msgs = createMessages('pod', (o) => (o.metadata!.ownerReferences = [ref('a'), ref('b')]));
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatch(/^metadata\.ownerReferences: Invalid value: .*: Only one reference can have Controller set to true\. Found "true" in references for ReplicaSet\/a and ReplicaSet\/b$/);
  });

  test('metadata - an Event may not own anything', () => {
    const msgs = createMessages('pod', (o) => (o.metadata!.ownerReferences = [{ apiVersion: 'v1', kind: 'Event', name: 'e', uid: 'u' }]));
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatch(/: \/v1, Kind=Event is disallowed from being an owner$/);
  });

  test('metadata - finalizers are standard names or domain-qualified', () => {
    expect(createMessages('configMap', (o) => (o.metadata!.finalizers = ['example.com/cleanup', 'foregroundDeletion']))).toEqual([]);
    expect(createMessages('configMap', (o) => (o.metadata!.finalizers = ['cleanup']))).toEqual([
      'metadata.finalizers[0]: Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified',
    ]);
    expect(createMessages('configMap', (o) => (o.metadata!.finalizers = ['example.com/a b']))).toEqual([`metadata.finalizers: Invalid value: "example.com/a b": ${NAME_PART_ERR}`]);
    const both = createErrors('configMap', (o) => (o.metadata!.finalizers = ['orphan', 'foregroundDeletion']));
    expect(both.map((e) => [e.field, String(e.badValue), e.detail])).toEqual([
      ['metadata.finalizers', '[]string{"orphan", "foregroundDeletion"}', 'finalizer orphan and foregroundDeletion cannot be both set'],
    ]);
  });

  test('metadata - name, namespace, uid and creationTimestamp are immutable', () => {
    expect(updateMessages('configMap', (o) => (o.metadata!.name = 'other'))).toContain('metadata.name: Invalid value: "other": field is immutable');
    expect(updateMessages('configMap', (o) => (o.metadata!.namespace = 'kube-system'))).toContain('metadata.namespace: Invalid value: "kube-system": field is immutable');
    expect(updateMessages('configMap', (o) => (o.metadata!.uid = 'x'))).toContain('metadata.uid: Invalid value: "x": field is immutable');
    expect(updateMessages('configMap', (o) => (o.metadata!.creationTimestamp = '2030-01-01T00:00:00Z'))).toContain(
      'metadata.creationTimestamp: Invalid value: "2030-01-01T00:00:00Z": field is immutable',
    );
  });

  test('metadata - an update carries a resourceVersion and never lowers generation', () => {
    expect(updateMessages('configMap', (o) => (o.metadata!.resourceVersion = ''))).toEqual(['metadata.resourceVersion: Invalid value: "": must be specified for an update']);
    expect(updateMessages('deployment', (o) => (o.metadata!.generation = 0))).toEqual(['metadata.generation: Invalid value: 0: must not be decremented']);
  });

  test('metadata - labels are validated on update too', () => {
    expect(updateMessages('configMap', (o) => (o.metadata!.labels = { 'a b': 'c' }))).toEqual([`metadata.labels: Invalid value: "a b": ${NAME_PART_ERR}`]);
  });
});

describe('IntOrString', () => {
  test('IntOrString - an object or an array is a type error', () => {
    expect(createMessages('service', (o) => (o.spec!.ports![0].targetPort = { port: 80 }))).toEqual([
      'spec.ports[0].targetPort: Invalid value: {"port":80}: must be an integer or a string',
    ]);
    const errs = createErrors('deployment', (o) => (o.spec!.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: [1] } }));
    expect(errs.map((e) => [e.type, e.field])).toEqual([['FieldValueTypeInvalid', 'spec.strategy.rollingUpdate.maxSurge']]);
  });

  test('IntOrString - a fraction is a type error', () => {
    expect(createMessages('pod', (o) => (o.spec!.containers![0].livenessProbe = { tcpSocket: { port: 80.5 } }))).toEqual([
      'spec.containers[0].livenessProbe.tcpSocket.port: Invalid value: 80.5: must be an integer or a string',
    ]);
  });
});

describe('Go rendering', () => {
  test('Go rendering - map values carry the text Kubernetes prints', () => {
    const errs = createErrors('deployment', (o) => (o.spec!.template!.metadata!.labels = { app: 'x' }));
    expect(errs).toHaveLength(1);
    expect(errs[0].field).toBe('spec.template.metadata.labels');
    expect(errs[0].detail).toBe('`selector` does not match template `labels`');
    expect(errs[0].badValue).toBeInstanceOf(GoValue);
    expect(String(errs[0].badValue)).toBe('map[string]string{"app":"x"}');
    // Until errors.ts prints GoValue verbatim, the plain value is shown.
    expect(fieldErrorMessage(errs[0])).toMatch(/^spec\.template\.metadata\.labels: Invalid value: .*"app".*"x".*: `selector` does not match template `labels`$/);
  });
});

describe('semantic equality', () => {
  test('equality - unset, zero and empty values are equal; map order does not matter', () => {
    expect(semanticEqual({ a: '', b: [], c: { d: 0 } }, {})).toBe(true);
    expect(semanticEqual({ m: { x: '1', y: '2' } }, { m: { y: '2', x: '1' } })).toBe(true);
    expect(semanticEqual({ m: { x: '1' } }, { m: { x: '2' } })).toBe(false);
    expect(semanticEqual([1, 2], [2, 1])).toBe(false);
    expect(semanticEqual({ b: Buffer.from('a') }, { b: Buffer.from('a') })).toBe(true);
    expect(semanticEqual({ b: Buffer.from('a') }, { b: Buffer.from('b') })).toBe(false);
    expect(semanticEqual({ n: 1 }, { n: '1' })).toBe(false);
  });
});
