import { fieldErrorMessage } from '../../services/lib/errors';
import { Container } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { validateStatusUpdate } from '../../services/kube-apiserver/validation';
import { created, createMessages, fixtures, statusUpdateMessages, updateMessages } from './fixtures';

// The first container of the pod fixture, changed by `f`.
function withContainer(f: (c: Container) => void) {
  return (o: { spec?: { containers?: Container[] } }) => f(o.spec!.containers![0]);
}

const C0 = 'spec.containers[0]';

describe('pod spec', () => {
  test('pod - at least one container', () => {
    expect(createMessages('pod', (o) => (o.spec!.containers = []))).toContain('spec.containers: Required value');
  });

  test('pod - container names are DNS labels', () => {
    expect(createMessages('pod', withContainer((c) => (c.name = 'Web')))).toContain(
      `${C0}.name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
    );
    expect(createMessages('pod', withContainer((c) => (c.name = '')))).toContain(`${C0}.name: Required value`);
  });

  test('pod - container names are unique across init and regular containers', () => {
    expect(createMessages('pod', (o) => o.spec!.containers!.push({ ...o.spec!.containers![0], volumeMounts: [], ports: [] }))).toContain(
      'spec.containers[1].name: Duplicate value: "web"',
    );
    expect(createMessages('pod', (o) => (o.spec!.initContainers![0].name = 'web'))).toEqual(['spec.initContainers[0].name: Duplicate value: "web"']);
  });

  test('pod - image is required and has no surrounding whitespace', () => {
    expect(createMessages('pod', withContainer((c) => (c.image = '')))).toEqual([`${C0}.image: Required value`]);
    expect(createMessages('pod', withContainer((c) => (c.image = ' nginx')))).toEqual([`${C0}.image: Invalid value: " nginx": must not have leading or trailing whitespace`]);
  });

  test('pod - containerPort is required and within 1-65535', () => {
    expect(createMessages('pod', withContainer((c) => (c.ports![0].containerPort = 0)))).toEqual([`${C0}.ports[0].containerPort: Required value`]);
    expect(createMessages('pod', withContainer((c) => (c.ports![0].containerPort = 70000)))).toEqual([
      `${C0}.ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive`,
    ]);
    expect(createMessages('pod', withContainer((c) => (c.ports![0].hostPort = 65536)))).toEqual([`${C0}.ports[0].hostPort: Invalid value: 65536: must be between 1 and 65535, inclusive`]);
  });

  test('pod - port names are IANA service names, unique per container', () => {
    expect(createMessages('pod', withContainer((c) => (c.ports![0].name = 'a-very-long-port-name')))).toEqual([
      `${C0}.ports[0].name: Invalid value: "a-very-long-port-name": must be no more than 15 bytes`,
    ]);
    expect(createMessages('pod', withContainer((c) => (c.ports![0].name = '8080')))).toEqual([`${C0}.ports[0].name: Invalid value: "8080": must contain at least one letter (a-z)`]);
    expect(createMessages('pod', withContainer((c) => (c.ports![0].name = 'web_1')))).toEqual([
      `${C0}.ports[0].name: Invalid value: "web_1": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`,
    ]);
    expect(createMessages('pod', withContainer((c) => c.ports!.push({ name: 'http', containerPort: 8081 })))).toEqual([`${C0}.ports[1].name: Duplicate value: "http"`]);
  });

  test('pod - port protocol is TCP, UDP or SCTP', () => {
    expect(createMessages('pod', withContainer((c) => (c.ports![0].protocol = 'HTTP')))).toEqual([
      `${C0}.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"`,
    ]);
  });

  test('pod - host ports do not collide across containers', () => {
    const msgs = createMessages('pod', (o) => {
      o.spec!.containers![0].ports![0].hostPort = 8080;
      o.spec!.containers!.push({ name: 'side', image: 'busybox', ports: [{ containerPort: 9000, hostPort: 8080 }] });
    });
    expect(msgs).toEqual(['spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"']);
  });

  test('pod - a host-network pod exposes each container port on the same host port', () => {
    expect(createMessages('pod', (o) => (o.spec!.hostNetwork = true))).toEqual([]);
    expect(createMessages('pod', (o) => Object.assign(o.spec!, { hostNetwork: true }) && (o.spec!.containers![0].ports![0].hostPort = 9000))).toEqual([
      `${C0}.ports[0].hostPort: Invalid value: 9000: must match \`containerPort\` when \`hostNetwork\` is true`,
    ]);
  });

  test('pod - env names are printable ASCII without "="', () => {
    expect(createMessages('pod', withContainer((c) => (c.env![0].name = 'MY-VAR.1')))).toEqual([]);
    expect(createMessages('pod', withContainer((c) => (c.env![0].name = 'A=B')))).toEqual([
      `${C0}.env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`,
    ]);
    expect(createMessages('pod', withContainer((c) => (c.env![0].name = '')))).toEqual([`${C0}.env[0].name: Required value`]);
  });

  test('pod - valueFrom has exactly one source and excludes value', () => {
    expect(createMessages('pod', withContainer((c) => (c.env![1].value = 'x')))).toEqual([`${C0}.env[1].valueFrom: Invalid value: "": may not be specified when \`value\` is not empty`]);
    expect(createMessages('pod', withContainer((c) => (c.env![1].valueFrom = {})))).toEqual([
      `${C0}.env[1].valueFrom: Invalid value: "": must specify one of: \`fieldRef\`, \`resourceFieldRef\`, \`configMapKeyRef\` or \`secretKeyRef\``,
    ]);
    expect(createMessages('pod', withContainer((c) => (c.env![1].valueFrom!.secretKeyRef = { name: 'creds', key: 'password' })))).toEqual([
      `${C0}.env[1].valueFrom: Invalid value: "": may not have more than one field specified at a time`,
    ]);
  });

  test('pod - field references name a supported field', () => {
    expect(createMessages('pod', withContainer((c) => (c.env![1].valueFrom!.fieldRef!.fieldPath = 'spec.foo')))).toEqual([
      `${C0}.env[1].valueFrom.fieldRef.fieldPath: Invalid value: "spec.foo": error converting fieldPath: field label not supported: spec.foo`,
    ]);
    expect(createMessages('pod', withContainer((c) => (c.env![1].valueFrom!.fieldRef!.fieldPath = 'status.phase')))).toEqual([
      `${C0}.env[1].valueFrom.fieldRef.fieldPath: Unsupported value: "status.phase": supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"`,
    ]);
    expect(createMessages('pod', withContainer((c) => (c.env![1].valueFrom!.fieldRef!.fieldPath = "metadata.labels['app']")))).toEqual([]);
  });

  test('pod - config map and secret key references need a valid key', () => {
    expect(createMessages('pod', withContainer((c) => (c.env![1].valueFrom = { configMapKeyRef: { name: 'web-config', key: 'a/b' } })))).toEqual([
      `${C0}.env[1].valueFrom.configMapKeyRef.key: Invalid value: "a/b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
    ]);
    expect(createMessages('pod', withContainer((c) => (c.env![1].valueFrom = { secretKeyRef: { name: 'creds', key: '' } })))).toEqual([
      `${C0}.env[1].valueFrom.secretKeyRef.key: Required value`,
    ]);
  });

  test('pod - envFrom names exactly one source', () => {
    expect(createMessages('pod', withContainer((c) => (c.envFrom = [{ prefix: 'CFG_' }])))).toEqual([`${C0}.envFrom: Invalid value: "": must specify one of: \`configMapRef\` or \`secretRef\``]);
    expect(createMessages('pod', withContainer((c) => (c.envFrom = [{ configMapRef: { name: 'web-config' } }])))).toEqual([]);
  });

  test('pod - resource quantities parse', () => {
    expect(createMessages('pod', withContainer((c) => (c.resources!.limits!.cpu = 'abc')))).toContain(
      `${C0}.resources.limits[cpu]: Invalid value: "abc": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
    );
  });

  test('pod - requests may not exceed limits', () => {
    expect(createMessages('pod', withContainer((c) => (c.resources!.requests!.cpu = '1')))).toEqual([`${C0}.resources.requests: Invalid value: "1": must be less than or equal to cpu limit of 500m`]);
    expect(createMessages('pod', withContainer((c) => (c.resources!.requests!.memory = '0.5Gi')))).toEqual([
      `${C0}.resources.requests: Invalid value: "512Mi": must be less than or equal to memory limit of 128Mi`,
    ]);
  });

  test('pod - quantities are not negative', () => {
    expect(createMessages('pod', withContainer((c) => (c.resources = { requests: { cpu: '-100m' } })))).toEqual([
      `${C0}.resources.requests[cpu]: Invalid value: "-100m": must be greater than or equal to 0`,
    ]);
  });

  test('pod - resource names are standard or domain-qualified', () => {
    // Requests default to limits on pods, so the name is reported under both.
    expect(createMessages('pod', withContainer((c) => (c.resources = { limits: { gpu: '1' } })))).toEqual([
      `${C0}.resources.limits[gpu]: Invalid value: "gpu": must be a standard resource type or fully qualified`,
      `${C0}.resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for containers`,
      `${C0}.resources.requests[gpu]: Invalid value: "gpu": must be a standard resource type or fully qualified`,
      `${C0}.resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for containers`,
    ]);
  });

  test('pod - extended resources are whole and never overcommitted', () => {
    expect(createMessages('pod', withContainer((c) => (c.resources = { limits: { 'example.com/gpu': '1' }, requests: { 'example.com/gpu': '1' } })))).toEqual([]);
    expect(createMessages('pod', withContainer((c) => (c.resources = { limits: { 'example.com/gpu': '500m' } })))).toContain(
      `${C0}.resources.limits[example.com/gpu]: Invalid value: "500m": must be an integer`,
    );
    expect(createMessages('pod', withContainer((c) => (c.resources = { limits: { 'example.com/gpu': '2' }, requests: { 'example.com/gpu': '1' } })))).toEqual([
      `${C0}.resources.requests: Invalid value: "1": must be equal to example.com/gpu limit of 2`,
    ]);
  });

  test('pod - volume names are unique DNS labels', () => {
    expect(createMessages('pod', (o) => o.spec!.volumes!.push({ name: 'config', emptyDir: {} }))).toEqual(['spec.volumes[1].name: Duplicate value: "config"']);
    expect(createMessages('pod', (o) => o.spec!.volumes!.push({ name: 'Cache', emptyDir: {} }))).toContain(
      `spec.volumes[1].name: Invalid value: "Cache": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
    );
  });

  test('pod - a volume has exactly one source', () => {
    // An invalid volume is left out of the volumes mounts may use, as in Kubernetes.
    const unmounted = `${C0}.volumeMounts[0].name: Not found: "config"`;
    expect(createMessages('pod', (o) => (o.spec!.volumes![0].emptyDir = {}))).toEqual(['spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type', unmounted]);
    expect(createMessages('pod', (o) => (o.spec!.volumes![0] = { name: 'config', secret: {} }))).toEqual(['spec.volumes[0].secret.secretName: Required value', unmounted]);
    expect(createMessages('pod', (o) => (o.spec!.volumes![0] = { name: 'config', hostPath: { path: '/data/../etc' } }))).toEqual([
      `spec.volumes[0].hostPath.path: Invalid value: "/data/../etc": must not contain '..'`,
      unmounted,
    ]);
  });

  test('pod - volume mounts name a volume and have unique mount paths', () => {
    expect(createMessages('pod', withContainer((c) => (c.volumeMounts![0].name = 'missing')))).toEqual([`${C0}.volumeMounts[0].name: Not found: "missing"`]);
    expect(createMessages('pod', withContainer((c) => (c.volumeMounts![0].mountPath = '')))).toEqual([`${C0}.volumeMounts[0].mountPath: Required value`]);
    expect(createMessages('pod', withContainer((c) => c.volumeMounts!.push({ name: 'config', mountPath: '/etc/web' })))).toEqual([
      `${C0}.volumeMounts[1].mountPath: Invalid value: "/etc/web": must be unique`,
    ]);
  });

  test('pod - a probe has exactly one handler', () => {
    expect(createMessages('pod', withContainer((c) => (c.livenessProbe = { exec: { command: ['true'] }, httpGet: { port: 80 } })))).toEqual([
      `${C0}.livenessProbe.httpGet: Forbidden: may not specify more than 1 handler type`,
    ]);
    expect(createMessages('pod', withContainer((c) => (c.livenessProbe = { periodSeconds: 5 })))).toEqual([`${C0}.livenessProbe: Required value: must specify a handler type`]);
    expect(createMessages('pod', withContainer((c) => (c.livenessProbe = { exec: {} })))).toEqual([`${C0}.livenessProbe.exec.command: Required value`]);
  });

  test('pod - probe numbers are non-negative and liveness success threshold is 1', () => {
    expect(createMessages('pod', withContainer((c) => (c.readinessProbe!.initialDelaySeconds = -1)))).toEqual([
      `${C0}.readinessProbe.initialDelaySeconds: Invalid value: -1: must be greater than or equal to 0`,
    ]);
    expect(createMessages('pod', withContainer((c) => (c.livenessProbe!.successThreshold = 2)))).toEqual([`${C0}.livenessProbe.successThreshold: Invalid value: 2: must be 1`]);
    expect(createMessages('pod', withContainer((c) => (c.readinessProbe!.successThreshold = 2)))).toEqual([]);
  });

  test('pod - HTTP probes use a valid port and scheme', () => {
    expect(createMessages('pod', withContainer((c) => (c.readinessProbe!.httpGet!.scheme = 'FTP')))).toEqual([
      `${C0}.readinessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"`,
    ]);
    expect(createMessages('pod', withContainer((c) => (c.readinessProbe!.httpGet!.port = 'Http')))).toEqual([
      `${C0}.readinessProbe.httpGet.port: Invalid value: "Http": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`,
    ]);
    expect(createMessages('pod', withContainer((c) => (c.livenessProbe!.tcpSocket!.port = 0)))).toEqual([
      `${C0}.livenessProbe.tcpSocket.port: Invalid value: 0: must be between 1 and 65535, inclusive`,
    ]);
  });

  test('pod - init containers take no probes unless they restart always', () => {
    expect(createMessages('pod', (o) => (o.spec!.initContainers![0].livenessProbe = { exec: { command: ['true'] } }))).toEqual([
      'spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always',
    ]);
    expect(createMessages('pod', (o) => Object.assign(o.spec!.initContainers![0], { restartPolicy: 'Always', livenessProbe: { exec: { command: ['true'] } } }))).toEqual([]);
    expect(createMessages('pod', (o) => (o.spec!.initContainers![0].restartPolicy = 'OnFailure'))).toEqual([
      'spec.initContainers[0].restartPolicy: Unsupported value: "OnFailure": supported values: "Always"',
    ]);
    expect(createMessages('pod', withContainer((c) => (c.restartPolicy = 'Always')))).toEqual([`${C0}.restartPolicy: Forbidden: may not be set for non-init containers`]);
  });

  test('pod - restartPolicy, dnsPolicy and imagePullPolicy take supported values', () => {
    expect(createMessages('pod', (o) => (o.spec!.restartPolicy = 'Sometimes'))).toEqual(['spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"']);
    expect(createMessages('pod', (o) => (o.spec!.dnsPolicy = 'Google'))).toEqual([
      'spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"',
    ]);
    expect(createMessages('pod', withContainer((c) => (c.imagePullPolicy = 'Sometimes')))).toEqual([
      `${C0}.imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"`,
    ]);
  });

  test('pod - dnsPolicy None needs a dnsConfig with a nameserver', () => {
    expect(createMessages('pod', (o) => (o.spec!.dnsPolicy = 'None'))).toEqual(['spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None']);
    expect(createMessages('pod', (o) => Object.assign(o.spec!, { dnsPolicy: 'None', dnsConfig: { nameservers: ['127.0.0.53'] } }))).toEqual([]);
  });

  test('pod - tolerations: Exists takes no value', () => {
    expect(createMessages('pod', (o) => (o.spec!.tolerations![0].operator = 'Exists'))).toEqual([
      "spec.tolerations[0].operator: Invalid value: \"web\": value must be empty when `operator` is 'Exists'",
    ]);
  });

  test('pod - tolerations: tolerationSeconds only with NoExecute', () => {
    expect(createMessages('pod', (o) => (o.spec!.tolerations![0].tolerationSeconds = 60))).toEqual([
      "spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set",
    ]);
  });

  test('pod - tolerations: an empty key needs Exists; operator and effect are supported values', () => {
    expect(createMessages('pod', (o) => (o.spec!.tolerations![0].key = ''))).toEqual([
      'spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys"',
    ]);
    expect(createMessages('pod', (o) => (o.spec!.tolerations![0].operator = 'In'))).toEqual(['spec.tolerations[0].operator: Unsupported value: "In": supported values: "Equal", "Exists"']);
    expect(createMessages('pod', (o) => (o.spec!.tolerations![0].effect = 'Evict'))).toEqual([
      'spec.tolerations[0].effect: Unsupported value: "Evict": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"',
    ]);
  });

  test('pod - nodeSelector keys and values are label syntax', () => {
    expect(createMessages('pod', (o) => (o.spec!.nodeSelector = { 'disk type': 'ssd' }))).toEqual([
      "spec.nodeSelector: Invalid value: \"disk type\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    ]);
  });

  test('pod - node affinity operators are valid, Gt and Lt take one value', () => {
    const term = 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]';
    const setExpr = (e: object) => (o: ReturnType<typeof fixtures.pod>) =>
      (o.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms![0].matchExpressions = [e]);
    expect(createMessages('pod', setExpr({ key: 'cores', operator: 'Gt', values: ['2', '4'] }))).toEqual([
      `${term}.values: Required value: must be specified single value when \`operator\` is 'Lt' or 'Gt'`,
    ]);
    expect(createMessages('pod', setExpr({ key: 'cores', operator: 'Gt', values: ['2'] }))).toEqual([]);
    expect(createMessages('pod', setExpr({ key: 'zone', operator: 'Near', values: ['a'] }))).toEqual([`${term}.operator: Invalid value: "Near": not a valid selector operator`]);
    expect(createMessages('pod', setExpr({ key: 'zone', operator: 'Exists', values: ['a'] }))).toEqual([
      `${term}.values: Forbidden: may not be specified when \`operator\` is 'Exists' or 'DoesNotExist'`,
    ]);
    expect(createMessages('pod', (o) => (o.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms = []))).toEqual([
      'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required value: must have at least one node selector term',
    ]);
  });

  test('pod - preferred affinity weights are 1-100', () => {
    expect(
      createMessages('pod', (o) => (o.spec!.affinity!.nodeAffinity!.preferredDuringSchedulingIgnoredDuringExecution = [{ weight: 0, preference: { matchExpressions: [{ key: 'a', operator: 'Exists' }] } }])),
    ).toEqual(['spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0: must be in the range 1-100']);
  });

  test('pod - grace period is non-negative, active deadline at least 1', () => {
    expect(createMessages('pod', (o) => (o.spec!.terminationGracePeriodSeconds = -1))).toEqual(['spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0']);
    expect(createMessages('pod', (o) => (o.spec!.activeDeadlineSeconds = 0))).toEqual(['spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive']);
  });

  test('pod - nodeName and serviceAccountName are DNS subdomains', () => {
    expect(createMessages('pod', (o) => (o.spec!.nodeName = 'Node_1'))).toHaveLength(1);
    expect(createMessages('pod', (o) => (o.spec!.nodeName = 'node-1'))).toEqual([]);
  });
});

describe('pod update', () => {
  test('pod update - images, labels and added tolerations may change', () => {
    expect(
      updateMessages('pod', (o) => {
        o.spec!.containers![0].image = 'nginx:1.28';
        o.spec!.initContainers![0].image = 'busybox:1.37';
        o.metadata!.labels = { app: 'web', track: 'canary' };
        o.spec!.tolerations!.push({ key: 'maintenance', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 });
        o.spec!.tolerations![1].tolerationSeconds = 30;
      }),
    ).toEqual([]);
  });

  test('pod update - other spec changes are forbidden with Kubernetes message', () => {
    const msgs = updateMessages('pod', (o) => (o.spec!.restartPolicy = 'Never'));
    expect(msgs).toHaveLength(1);
    expect(msgs[0].split('\n')[0]).toBe(
      'spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
    );
    expect(msgs[0]).toContain('- \tRestartPolicy: "Always",');
    expect(msgs[0]).toContain('+ \tRestartPolicy: "Never",');
  });

  test('pod update - spec.nodeName is set through binding only', () => {
    const msgs = updateMessages('pod', (o) => (o.spec!.nodeName = 'node-1'));
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatch(/^spec: Forbidden: pod updates may not change fields other than /);
    expect(updateMessages('pod', (o) => (o.spec!.nodeName = 'node-2'), (o) => (o.spec!.nodeName = 'node-1'))[0]).toMatch(/NodeName: "node-2"/);
  });

  test('pod update - containers may not be added or removed', () => {
    expect(updateMessages('pod', (o) => o.spec!.containers!.push({ name: 'side', image: 'busybox' }))).toEqual(['spec.containers: Forbidden: pod updates may not add or remove containers']);
  });

  test('pod update - activeDeadlineSeconds may be set or lowered, not raised or removed', () => {
    expect(updateMessages('pod', (o) => (o.spec!.activeDeadlineSeconds = 600))).toEqual([]);
    expect(updateMessages('pod', (o) => (o.spec!.activeDeadlineSeconds = 60), (o) => (o.spec!.activeDeadlineSeconds = 600))).toEqual([]);
    expect(updateMessages('pod', (o) => (o.spec!.activeDeadlineSeconds = 900), (o) => (o.spec!.activeDeadlineSeconds = 600))).toEqual([
      'spec.activeDeadlineSeconds: Invalid value: 900: must be less than or equal to previous value',
    ]);
    expect(updateMessages('pod', (o) => (o.spec!.activeDeadlineSeconds = undefined), (o) => (o.spec!.activeDeadlineSeconds = 600))).toEqual([
      'spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value',
    ]);
  });

  test('pod update - existing tolerations may not change except tolerationSeconds', () => {
    expect(updateMessages('pod', (o) => (o.spec!.tolerations![0].value = 'api'))).toEqual([
      'spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds',
    ]);
  });
});

describe('pod status', () => {
  test('pod status - phase is a supported value', () => {
    expect(statusUpdateMessages('pod', (o) => (o.status!.phase = 'Running'))).toEqual([]);
    expect(statusUpdateMessages('pod', (o) => (o.status!.phase = 'Sleeping'))).toEqual([
      'status.phase: Unsupported value: "Sleeping": supported values: "Pending", "Running", "Succeeded", "Failed", "Unknown"',
    ]);
  });

  test('pod status - condition statuses are True, False or Unknown; custom types are qualified names', () => {
    expect(statusUpdateMessages('pod', (o) => (o.status!.conditions = [{ type: 'Ready', status: 'True' }]))).toEqual([]);
    expect(statusUpdateMessages('pod', (o) => (o.status!.conditions = [{ type: 'Ready', status: 'Maybe' }]))).toEqual([
      'status.conditions[0].status: Unsupported value: "Maybe": supported values: "True", "False", "Unknown"',
    ]);
    expect(statusUpdateMessages('pod', (o) => (o.status!.conditions = [{ type: 'example.com/bad type', status: 'True' }]))).toHaveLength(1);
  });

  test('pod status - nodeName and qosClass do not change', () => {
    expect(statusUpdateMessages('pod', (o) => (o.spec!.nodeName = 'node-1'))).toEqual(['status.nodeName: Forbidden: may not be changed directly']);
    expect(statusUpdateMessages('pod', (o) => (o.status!.qosClass = 'Guaranteed'))).toEqual(['status.qosClass: Invalid value: "Guaranteed": field is immutable']);
  });

  test('pod status - pod IPs are IP addresses', () => {
    expect(statusUpdateMessages('pod', (o) => (o.status!.podIPs = [{ ip: '127.1.0.5' }]))).toEqual([]);
    expect(statusUpdateMessages('pod', (o) => (o.status!.podIPs = [{ ip: '127.1.5' }]))).toEqual([
      'status.podIPs[0]: Invalid value: "127.1.5": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
    ]);
  });

  test('pod status - a terminated container of a Never pod stays terminated', () => {
    const info = resourceForCase('pod');
    const old = created('pod', (o) => (o.spec!.restartPolicy = 'Never'));
    old.metadata!.resourceVersion = '7';
    old.status!.containerStatuses = [{ name: 'web', state: { terminated: { exitCode: 1 } } }];
    const next = info.codec.decode(info.codec.encode(old).finish()) as typeof old;
    next.status!.containerStatuses = [{ name: 'web', state: { running: { startedAt: '2026-01-01T00:01:00Z' } } }];
    expect(validateStatusUpdate(info, next, old).map(fieldErrorMessage)).toEqual(['status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state']);
  });
});
