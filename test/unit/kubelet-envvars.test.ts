import { ConfigMap, Container, Pod, Secret } from '../../services/lib/generated/kubemu/core/v1/core';
import {
  containerResourceValue,
  CreateContainerConfigError,
  EnvironmentOptions,
  expand,
  formatMap,
  makeEnvironment,
  mappingFuncFor,
  podFieldValue,
} from '../../services/kubelet/envvars';

function lookupOf(configMaps: ConfigMap[] = [], secrets: Secret[] = []): EnvironmentOptions['lookup'] & { calls: string[] } {
  const calls: string[] = [];
  const find = <T extends { metadata?: { namespace?: string; name?: string } }>(list: T[], ns: string, name: string) =>
    list.find((o) => (o.metadata?.namespace ?? 'default') === ns && o.metadata?.name === name);
  return {
    calls,
    configMap: (ns, name) => {
      calls.push(`cm ${ns}/${name}`);
      return find(configMaps, ns, name);
    },
    secret: (ns, name) => {
      calls.push(`secret ${ns}/${name}`);
      return find(secrets, ns, name);
    },
  };
}

function podWith(container: Container, extra: Partial<Pod> = {}): Pod {
  return {
    metadata: { name: 'web-1', namespace: 'default', uid: 'uid-123', labels: { app: 'web', tier: 'front' }, annotations: { note: 'hi "there"' } },
    spec: { nodeName: 'node-a', serviceAccountName: 'sa', containers: [container] },
    ...extra,
  };
}

function opts(extra: Partial<EnvironmentOptions> = {}): EnvironmentOptions {
  return { podIP: '127.10.0.5', hostIP: '127.1.0.1', nodeName: 'node-a', lookup: lookupOf(), ...extra };
}

function envOf(pod: Pod, o: EnvironmentOptions): Record<string, string> {
  return Object.fromEntries(makeEnvironment(pod, pod.spec!.containers![0], o).env.map((e) => [e.key, e.value]));
}

const cm = (name: string, data: Record<string, string>): ConfigMap => ({ metadata: { name, namespace: 'default' }, data });
const secret = (name: string, data: Record<string, string>): Secret => ({
  metadata: { name, namespace: 'default' },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)])),
});

describe('envvars - expand', () => {
  const m = mappingFuncFor({ A: 'x', EMPTY: '' }, new Map([['B', 'y']]));
  it.each([
    ['$(A)', 'x'],
    ['pre-$(A)-$(B)-post', 'pre-x-y-post'],
    ['$(EMPTY)|', '|'],
    ['$(MISSING)', '$(MISSING)'],
    ['$$(A)', '$(A)'],
    ['$$$(A)', '$x'],
    ['$$', '$'],
    ['$', '$'],
    ['a$', 'a$'],
    ['$A', '$A'],
    ['$(A', '$(A'],
    ['$(A$(B))', '$(A$(B))'],
    ['$()', '$()'],
    ['no refs', 'no refs'],
    ['$(A)$(A)', 'xx'],
  ])('%s → %s', (input, want) => {
    expect(expand(input, m)).toBe(want);
  });

  it('is not recursive', () => {
    expect(expand('$(R)', mappingFuncFor({ R: '$(A)', A: 'x' }))).toBe('$(A)');
  });
});

describe('envvars - order and contract variables', () => {
  it('puts the kubemu variables first, then service env, envFrom, env', () => {
    const pod = podWith({
      name: 'c',
      envFrom: [{ configMapRef: { name: 'cfg' } }],
      env: [{ name: 'Z', value: 'z' }, { name: 'A', value: 'a' }],
    });
    const o = opts({ serviceEnv: { WEB_SERVICE_HOST: '127.96.0.10' }, lookup: lookupOf([cm('cfg', { FROM_CM: '1' })]) });
    const env = makeEnvironment(pod, pod.spec!.containers![0], o).env;
    expect(env.map((e) => e.key)).toEqual(['POD_NAME', 'POD_NAMESPACE', 'NODE_NAME', 'POD_IP', 'HOSTNAME', 'WEB_SERVICE_HOST', 'FROM_CM', 'Z', 'A']);
    expect(env.slice(0, 5).map((e) => e.value)).toEqual(['web-1', 'default', 'node-a', '127.10.0.5', 'web-1']);
  });

  it('HOSTNAME is spec.hostname when set; POD_IP is the first of podIPs', () => {
    const pod = podWith({ name: 'c' });
    pod.spec!.hostname = 'db-0';
    const env = envOf(pod, opts({ podIPs: ['127.10.0.9', '::1'] }));
    expect(env.HOSTNAME).toBe('db-0');
    expect(env.POD_IP).toBe('127.10.0.9');
  });

  it('user env overrides a contract variable in place; env overrides envFrom and service env', () => {
    const pod = podWith({
      name: 'c',
      envFrom: [{ configMapRef: { name: 'cfg' } }],
      env: [{ name: 'POD_NAME', value: 'mine' }, { name: 'X', value: 'from-env' }],
    });
    const o = opts({ serviceEnv: { X: 'svc', S: 'svc' }, lookup: lookupOf([cm('cfg', { X: 'from-cm', S: 'cm' })]) });
    const env = makeEnvironment(pod, pod.spec!.containers![0], o).env;
    expect(env[0]).toEqual({ key: 'POD_NAME', value: 'mine' });
    const m = Object.fromEntries(env.map((e) => [e.key, e.value]));
    expect(m.X).toBe('from-env');
    expect(m.S).toBe('cm');
    expect(env.filter((e) => e.key === 'X')).toHaveLength(1);
  });

  it('an env var with neither value nor valueFrom is empty and never expanded', () => {
    const env = envOf(podWith({ name: 'c', env: [{ name: 'E' }, { name: 'F', value: '' }] }), opts());
    expect(env.E).toBe('');
    expect(env.F).toBe('');
  });
});

describe('envvars - $(VAR) expansion in env', () => {
  it('expands earlier env, envFrom, service env and contract variables; leaves later and unknown ones', () => {
    const pod = podWith({
      name: 'c',
      envFrom: [{ configMapRef: { name: 'cfg' } }],
      env: [
        { name: 'A', value: 'a' },
        { name: 'B', value: '$(A)-$(LATER)-$(FROM_CM)-$(SVC)-$(POD_NAME)-$(NOPE)' },
        { name: 'LATER', value: 'l' },
        { name: 'ESC', value: '$$(A)' },
        { name: 'SELF', value: '$(A):more' },
        { name: 'A', value: '$(A)$(A)' },
      ],
    });
    const env = envOf(pod, opts({ serviceEnv: { SVC: 's' }, lookup: lookupOf([cm('cfg', { FROM_CM: 'c' })]) }));
    expect(env.B).toBe('a-$(LATER)-c-s-web-1-$(NOPE)');
    expect(env.ESC).toBe('$(A)');
    expect(env.SELF).toBe('a:more');
    expect(env.A).toBe('aa');
  });

  it('values from valueFrom are not expanded', () => {
    const pod = podWith({ name: 'c', env: [{ name: 'A', value: 'a' }, { name: 'V', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }] });
    expect(envOf(pod, opts({ lookup: lookupOf([cm('cfg', { k: '$(A)' })]) })).V).toBe('$(A)');
  });
});

describe('envvars - envFrom', () => {
  it('applies the prefix, decodes secret bytes and skips invalid names', () => {
    const pod = podWith({
      name: 'c',
      envFrom: [
        { configMapRef: { name: 'cfg' }, prefix: 'CM_' },
        { secretRef: { name: 'sec' } },
      ],
    });
    const o = opts({ lookup: lookupOf([cm('cfg', { a: '1', 'b.c': '2' })], [secret('sec', { PASSWORD: 'hunter2', 'bad=key': 'x', 'also=bad': 'y' })]) });
    const res = makeEnvironment(pod, pod.spec!.containers![0], o);
    const env = Object.fromEntries(res.env.map((e) => [e.key, e.value]));
    expect(env.CM_a).toBe('1');
    expect(env['CM_b.c']).toBe('2');
    expect(env.PASSWORD).toBe('hunter2');
    expect(res.skipped).toEqual([
      { source: 'secret', name: 'sec', key: 'also=bad' },
      { source: 'secret', name: 'sec', key: 'bad=key' },
    ]);
  });

  it('a missing optional source is skipped; a missing required one throws', () => {
    const pod = podWith({ name: 'c', envFrom: [{ configMapRef: { name: 'gone', optional: true } }, { secretRef: { name: 'gone2', optional: true } }] });
    expect(() => makeEnvironment(pod, pod.spec!.containers![0], opts())).not.toThrow();
    const cmPod = podWith({ name: 'c', envFrom: [{ configMapRef: { name: 'gone' } }] });
    expect(() => makeEnvironment(cmPod, cmPod.spec!.containers![0], opts())).toThrow('configmap "gone" not found');
    const secPod = podWith({ name: 'c', envFrom: [{ secretRef: { name: 'gone' } }] });
    expect(() => makeEnvironment(secPod, secPod.spec!.containers![0], opts())).toThrow('secret "gone" not found');
  });

  it('reads each object once per call, in the pod namespace', () => {
    const lookup = lookupOf([{ metadata: { name: 'cfg', namespace: 'prod' }, data: { k: 'v' } }]);
    const pod = podWith({ name: 'c', envFrom: [{ configMapRef: { name: 'cfg' } }], env: [{ name: 'K', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }] });
    pod.metadata!.namespace = 'prod';
    expect(envOf(pod, opts({ lookup })).K).toBe('v');
    expect(lookup.calls).toEqual(['cm prod/cfg']);
  });
});

describe('envvars - configMapKeyRef and secretKeyRef', () => {
  const lookup = lookupOf([cm('cfg', { k: 'v' })], [secret('sec', { tok: 'abc' })]);

  it('resolves keys', () => {
    const env = envOf(
      podWith({
        name: 'c',
        env: [
          { name: 'CM', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } },
          { name: 'SEC', valueFrom: { secretKeyRef: { name: 'sec', key: 'tok' } } },
        ],
      }),
      opts({ lookup }),
    );
    expect(env.CM).toBe('v');
    expect(env.SEC).toBe('abc');
  });

  it.each([
    [{ configMapKeyRef: { name: 'nope', key: 'k' } }, 'configmap "nope" not found'],
    [{ configMapKeyRef: { name: 'cfg', key: 'missing' } }, "couldn't find key missing in ConfigMap default/cfg"],
    [{ secretKeyRef: { name: 'nope', key: 'k' } }, 'secret "nope" not found'],
    [{ secretKeyRef: { name: 'sec', key: 'missing' } }, "couldn't find key missing in Secret default/sec"],
  ])('%j throws CreateContainerConfigError: %s', (valueFrom, message) => {
    const pod = podWith({ name: 'c', env: [{ name: 'V', valueFrom }] });
    let err: unknown;
    try {
      makeEnvironment(pod, pod.spec!.containers![0], opts({ lookup }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CreateContainerConfigError);
    expect((err as CreateContainerConfigError).message).toBe(message);
    expect((err as CreateContainerConfigError).reason).toBe('CreateContainerConfigError');
  });

  it('optional refs to a missing object or key are skipped (the variable is not defined)', () => {
    const env = envOf(
      podWith({
        name: 'c',
        env: [
          { name: 'A', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k', optional: true } } },
          { name: 'B', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'missing', optional: true } } },
          { name: 'C', valueFrom: { secretKeyRef: { name: 'nope', key: 'k', optional: true } } },
          { name: 'D', valueFrom: { secretKeyRef: { name: 'sec', key: 'missing', optional: true } } },
          { name: 'E', value: '$(A)' },
        ],
      }),
      opts({ lookup }),
    );
    expect(Object.keys(env)).not.toEqual(expect.arrayContaining(['A']));
    expect(['A', 'B', 'C', 'D'].filter((k) => k in env)).toEqual([]);
    expect(env.E).toBe('$(A)');
  });
});

describe('envvars - fieldRef', () => {
  const pod = podWith({ name: 'c' });
  const ctx = { podIP: '127.10.0.5', podIPs: ['127.10.0.5', 'fd00::5'], hostIP: '127.1.0.1', hostIPs: ['127.1.0.1', 'fd00::1'] };
  it.each([
    ['metadata.name', 'web-1'],
    ['metadata.namespace', 'default'],
    ['metadata.uid', 'uid-123'],
    ["metadata.labels['app']", 'web'],
    ["metadata.labels['missing']", ''],
    ["metadata.annotations['note']", 'hi "there"'],
    ['metadata.labels', 'app="web"\ntier="front"'],
    ['metadata.annotations', 'note="hi \\"there\\""'],
    ['spec.nodeName', 'node-a'],
    ['spec.serviceAccountName', 'sa'],
    ['status.hostIP', '127.1.0.1'],
    ['status.hostIPs', '127.1.0.1,fd00::1'],
    ['status.podIP', '127.10.0.5'],
    ['status.podIPs', '127.10.0.5,fd00::5'],
  ])('%s → %j', (fieldPath, want) => {
    expect(podFieldValue({ fieldPath }, pod, ctx)).toBe(want);
  });

  it('falls back to the single IPs when lists are absent', () => {
    expect(podFieldValue({ fieldPath: 'status.podIPs' }, pod, { podIP: '127.10.0.7' })).toBe('127.10.0.7');
    expect(podFieldValue({ fieldPath: 'status.hostIPs' }, pod, { hostIP: '127.1.0.2' })).toBe('127.1.0.2');
  });

  it('rejects unsupported paths and versions', () => {
    expect(() => podFieldValue({ fieldPath: 'spec.restartPolicy' }, pod, ctx)).toThrow('unsupported fieldPath: spec.restartPolicy');
    expect(() => podFieldValue({ fieldPath: "metadata.name['x']" }, pod, ctx)).toThrow(`fieldPath "metadata.name['x']" does not support subscript`);
    expect(() => podFieldValue({ apiVersion: 'v2', fieldPath: 'metadata.name' }, pod, ctx)).toThrow(CreateContainerConfigError);
  });

  it('formatMap sorts keys and quotes values', () => {
    expect(formatMap({ b: '2', a: 'x\ny' })).toBe('a="x\\ny"\nb="2"');
    expect(formatMap(undefined)).toBe('');
  });

  it('is used by makeEnvironment', () => {
    const p = podWith({ name: 'c', env: [{ name: 'MY_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }, { name: 'NS', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } }] });
    const env = envOf(p, opts());
    expect(env.MY_IP).toBe('127.10.0.5');
    expect(env.NS).toBe('default');
  });
});

describe('envvars - resourceFieldRef', () => {
  const container: Container = { name: 'app', resources: { limits: { cpu: '1500m', memory: '1Gi' }, requests: { cpu: '250m', memory: '100M' } } };
  const other: Container = { name: 'side', resources: { limits: { cpu: '3' } } };
  const pod = podWith(container);
  pod.spec!.containers!.push(other);
  const ctx = { nodeAllocatable: { cpu: '4', memory: '8Gi' } };
  it.each([
    ['limits.cpu', undefined, '2'],
    ['limits.cpu', '1m', '1500'],
    ['limits.cpu', '100m', '15'],
    ['requests.cpu', undefined, '1'],
    ['requests.cpu', '1m', '250'],
    ['limits.memory', undefined, String(1024 ** 3)],
    ['limits.memory', '1Mi', '1024'],
    ['limits.memory', '1G', '2'],
    ['requests.memory', '1Mi', '96'],
  ])('%s / %s → %s', (resource, divisor, want) => {
    expect(containerResourceValue({ resource, divisor }, pod, container, ctx)).toBe(want);
  });

  it('an unset limit is the node allocatable; an unset request is 0', () => {
    const bare: Container = { name: 'bare' };
    expect(containerResourceValue({ resource: 'limits.cpu' }, pod, bare, ctx)).toBe('4');
    expect(containerResourceValue({ resource: 'limits.memory', divisor: '1Gi' }, pod, bare, ctx)).toBe('8');
    expect(containerResourceValue({ resource: 'requests.memory' }, pod, bare, ctx)).toBe('0');
    expect(containerResourceValue({ resource: 'limits.cpu' }, pod, bare, {})).toBe('0');
  });

  it('containerName selects another container; errors for unknown ones', () => {
    expect(containerResourceValue({ resource: 'limits.cpu', containerName: 'side' }, pod, container, ctx)).toBe('3');
    expect(() => containerResourceValue({ resource: 'limits.cpu', containerName: 'nope' }, pod, container, ctx)).toThrow(CreateContainerConfigError);
    expect(() => containerResourceValue({ resource: 'limits.gpu' }, pod, container, ctx)).toThrow('unsupported container resource : limits.gpu');
  });

  it('is used by makeEnvironment with nodeAllocatable', () => {
    const p = podWith({ name: 'c', env: [{ name: 'CPUS', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } }] });
    expect(envOf(p, opts({ nodeAllocatable: { cpu: '2' } })).CPUS).toBe('2');
  });
});
