import { fieldErrorMessage } from '../../services/lib/errors';
import { resourceForCase } from '../../services/lib/resources';
import { validateUpdate } from '../../services/kube-apiserver/validation';
import { PersistentVolumeClaim, Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { created, createErrors, createMessages, statusUpdateMessages, updateMessages } from './fixtures';

describe('namespace', () => {
  test('namespace - spec.finalizers are standard or qualified names', () => {
    expect(createMessages('namespace', (o) => (o.spec = { finalizers: ['example.com/cleanup'] }))).toEqual([]);
    expect(createMessages('namespace', (o) => (o.spec = { finalizers: ['cleanup'] }))).toEqual([
      'spec.finalizers: Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified',
    ]);
  });

  test('namespace status - Active unless deleting, then Terminating (at status.Phase)', () => {
    expect(statusUpdateMessages('namespace', (o) => (o.status!.phase = 'Terminating'))).toEqual([
      "status.Phase: Invalid value: \"Terminating\": may only be 'Active' if `deletionTimestamp` is empty",
    ]);
  });
});

describe('node', () => {
  test('node - taints have a valid key, value and effect (reported at metadata.taints)', () => {
    expect(createMessages('node', (o) => (o.spec!.taints![0].effect = ''))).toEqual(['metadata.taints[0].effect: Required value']);
    expect(createMessages('node', (o) => (o.spec!.taints![0].effect = 'Evict'))).toEqual([
      'metadata.taints[0].effect: Unsupported value: "Evict": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"',
    ]);
    expect(createMessages('node', (o) => (o.spec!.taints![0].key = 'a b'))).toHaveLength(1);
    expect(createMessages('node', (o) => (o.spec!.taints![0].value = '-web'))).toHaveLength(1);
  });

  test('node - taints are unique by key and effect', () => {
    const errs = createErrors('node', (o) => o.spec!.taints!.push({ key: 'dedicated', value: 'api', effect: 'NoSchedule' }));
    expect(errs.map((e) => [e.type, e.field, String(e.badValue), e.detail])).toEqual([
      ['FieldValueDuplicate', 'metadata.taints[1]', 'core.Taint{Key:"dedicated", Value:"api", Effect:"NoSchedule", TimeAdded:(*v1.Time)(nil)}', 'taints must be unique by key and effect pair'],
    ]);
    expect(createMessages('node', (o) => o.spec!.taints!.push({ key: 'dedicated', value: 'web', effect: 'NoExecute' }))).toEqual([]);
  });

  test('node - the pod CIDR is a CIDR', () => {
    expect(createMessages('node', (o) => (o.spec!.podCIDR = '127.1.0.0/33'))).toEqual([
      'spec.podCIDRs[0]: Invalid value: "127.1.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
    ]);
  });

  test('node - capacity quantities are valid', () => {
    expect(createMessages('node', (o) => (o.status!.capacity!.cpu = 'four'))).toContain(
      "status.capacity.cpu: Invalid value: \"four\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    );
  });

  test('node update - the pod CIDR is set once', () => {
    expect(updateMessages('node', (o) => Object.assign(o.spec!, { podCIDR: '127.2.0.0/24', podCIDRs: ['127.2.0.0/24'] }))).toEqual([
      'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid',
    ]);
    expect(updateMessages('node', (o) => (o.spec!.podCIDR = '127.2.0.0/24'), (o) => (o.spec!.podCIDR = ''))).toEqual([]);
  });

  test('node update - taints and unschedulable may change', () => {
    expect(updateMessages('node', (o) => Object.assign(o.spec!, { unschedulable: true, taints: [] }))).toEqual([]);
  });
});

describe('service', () => {
  test('service - ports are required, except for ExternalName and headless services', () => {
    expect(createMessages('service', (o) => (o.spec!.ports = []))).toEqual(['spec.ports: Required value']);
    expect(createMessages('service', (o) => Object.assign(o.spec!, { ports: [], clusterIP: 'None' }))).toEqual([]);
    expect(createMessages('service', (o) => (o.spec = { type: 'ExternalName', externalName: 'db.example.com' }))).toEqual([]);
  });

  test('service - port numbers are 1-65535', () => {
    expect(createMessages('service', (o) => (o.spec!.ports![0].port = 0))).toEqual(['spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive']);
  });

  test('service - several ports are all named, uniquely', () => {
    expect(createMessages('service', (o) => (o.spec!.ports![1].name = ''))).toEqual(['spec.ports[1].name: Required value']);
    expect(createMessages('service', (o) => (o.spec!.ports![1].name = 'http'))).toEqual(['spec.ports[1].name: Duplicate value: "http"']);
    expect(createMessages('service', (o) => (o.spec!.ports = [{ port: 80 }]))).toEqual([]);
  });

  test('service - targetPort is a port number or an IANA port name', () => {
    expect(createMessages('service', (o) => (o.spec!.ports![0].targetPort = 70000))).toEqual([
      'spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
    ]);
    expect(createMessages('service', (o) => (o.spec!.ports![0].targetPort = 'HTTP'))).toEqual([
      'spec.ports[0].targetPort: Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
      'spec.ports[0].targetPort: Invalid value: "HTTP": must contain at least one letter (a-z)',
    ]);
  });

  test('service - protocol, type and session affinity are supported values', () => {
    expect(createMessages('service', (o) => (o.spec!.ports![0].protocol = 'HTTP'))).toEqual(['spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"']);
    expect(createMessages('service', (o) => (o.spec!.type = 'Internal'))).toContain(
      'spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
    );
    expect(createMessages('service', (o) => (o.spec!.sessionAffinity = 'Cookie'))).toEqual(['spec.sessionAffinity: Unsupported value: "Cookie": supported values: "ClientIP", "None"']);
  });

  test('service - nodePort only for NodePort and LoadBalancer services', () => {
    expect(createMessages('service', (o) => (o.spec!.ports![0].nodePort = 30080))).toEqual(["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]);
    expect(createMessages('service', (o) => Object.assign(o.spec!, { type: 'NodePort' }) && (o.spec!.ports![0].nodePort = 30080))).toEqual([]);
  });

  test('service - clusterIP is "None", empty or an IP', () => {
    expect(createMessages('service', (o) => (o.spec!.clusterIP = '10.96.0.10'))).toEqual([]);
    expect(createMessages('service', (o) => (o.spec!.clusterIP = '10.96.0'))).toEqual([
      'spec.clusterIPs[0]: Invalid value: "10.96.0": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
    ]);
    expect(createMessages('service', (o) => Object.assign(o.spec!, { type: 'NodePort', clusterIP: 'None' }))).toEqual([
      'spec.clusterIPs[0]: Invalid value: "None": may not be set to \'None\' for NodePort services',
    ]);
  });

  test('service - an ExternalName service names a DNS subdomain', () => {
    expect(createMessages('service', (o) => (o.spec = { type: 'ExternalName', externalName: '' }))).toEqual(['spec.externalName: Required value']);
    expect(createMessages('service', (o) => (o.spec = { type: 'ExternalName', externalName: 'db.example.com.' }))).toEqual([]);
    expect(createMessages('service', (o) => (o.spec = { type: 'ExternalName', externalName: 'db_1.example.com' }))).toHaveLength(1);
  });

  test('service - the selector is label syntax', () => {
    expect(createMessages('service', (o) => (o.spec!.selector = { app: 'web app' }))).toHaveLength(1);
  });

  test('service update - clusterIP is immutable once allocated', () => {
    expect(updateMessages('service', (o) => Object.assign(o.spec!, { clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11'] }), (o) => (o.spec!.clusterIP = '10.96.0.10'))).toEqual([
      'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.11"}: may not change once set',
    ]);
    expect(updateMessages('service', (o) => Object.assign(o.spec!, { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'] }))).toEqual([]);
  });

  test('service status - load balancer ingress only on LoadBalancer services', () => {
    expect(statusUpdateMessages('service', (o) => (o.status = { loadBalancer: { ingress: [{ ip: '127.0.100.1' }] } }))).toEqual([
      "status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is 'LoadBalancer'",
    ]);
    expect(
      statusUpdateMessages(
        'service',
        (o) => (o.status = { loadBalancer: { ingress: [{ ip: '127.0.100' }] } }),
        (o) => (o.spec!.type = 'LoadBalancer'),
      ),
    ).toEqual(['status.loadBalancer.ingress[0].ip: Invalid value: "127.0.100": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']);
  });

  test('service status - ipMode is VIP or Proxy and needs an ip', () => {
    const lb = (o: Service) => (o.spec!.type = 'LoadBalancer');
    const withIngress = (ingress: NonNullable<NonNullable<Service['status']>['loadBalancer']>['ingress']) => (o: Service) => (o.status = { loadBalancer: { ingress } });
    expect(statusUpdateMessages('service', withIngress([{ ip: '127.129.0.1', ipMode: 'Proxy' }]), lb)).toEqual([]);
    expect(statusUpdateMessages('service', withIngress([{ ip: '127.129.0.1', ipMode: 'VIP' }]), lb)).toEqual([]);
    expect(statusUpdateMessages('service', withIngress([{ ip: '127.129.0.1' }]), lb)).toEqual([]);
    expect(statusUpdateMessages('service', withIngress([{ ip: '127.129.0.1', ipMode: 'Direct' }]), lb)).toEqual([
      'status.loadBalancer.ingress[0].ipMode: Unsupported value: "Direct": supported values: "Proxy", "VIP"',
    ]);
    expect(statusUpdateMessages('service', withIngress([{ hostname: 'lb.example.com', ipMode: 'Proxy' }]), lb)).toEqual([
      'status.loadBalancer.ingress[0].ipMode: Forbidden: may not be specified when `ip` is not set',
    ]);
  });
});

describe('endpoints', () => {
  test('endpoints - addresses are IPs (loopback allowed: kubemu pods live there)', () => {
    expect(createMessages('endpoints', (o) => (o.subsets![0].addresses![0].ip = '127.1.0.300'))).toContain(
      'subsets[0].addresses[0].ip: Invalid value: "127.1.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
    );
    expect(createMessages('endpoints', (o) => (o.subsets![0].addresses![0].ip = '0.0.0.0'))).toEqual(['subsets[0].addresses[0].ip: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)']);
    expect(createMessages('endpoints', (o) => (o.subsets![0].addresses![0].ip = '169.254.1.1'))).toEqual([
      'subsets[0].addresses[0].ip: Invalid value: "169.254.1.1": may not be in the link-local range (169.254.0.0/16, fe80::/10)',
    ]);
  });

  test('endpoints - a subset has addresses; ports are valid', () => {
    expect(createMessages('endpoints', (o) => (o.subsets![0].addresses = []))).toEqual(['subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`']);
    expect(createMessages('endpoints', (o) => (o.subsets![0].ports![0].port = 0))).toEqual(['subsets[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive']);
    expect(createMessages('endpoints', (o) => o.subsets![0].ports!.push({ port: 9090 }))).toEqual(['subsets[0].ports[1].name: Required value']);
  });
});

describe('event', () => {
  test('event - the involved object is in the event namespace', () => {
    expect(createMessages('event', (o) => (o.involvedObject!.namespace = 'kube-system'))).toEqual([
      'involvedObject.namespace: Invalid value: "kube-system": does not match event.namespace',
    ]);
    // A cluster-scoped object's events go to "default".
    expect(createMessages('event', (o) => Object.assign(o.involvedObject!, { kind: 'Node', name: 'node-1', namespace: '' }))).toEqual([]);
  });

  test('event - new-style events (eventTime set) name their reporter and action', () => {
    expect(createMessages('event', (o) => (o.eventTime = '2026-01-01T00:00:00.000000Z'))).toEqual([
      'reportingController: Required value',
      "reportingController: Invalid value: \"\": name part must be non-empty",
      "reportingController: Invalid value: \"\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
      'reportingInstance: Required value',
      'action: Required value',
    ]);
    expect(
      createMessages('event', (o) => Object.assign(o, { eventTime: '2026-01-01T00:00:00.000000Z', reportingComponent: 'kubemu.io/scheduler', reportingInstance: 'sched-1', action: 'Binding' })),
    ).toEqual([]);
  });
});

describe('configmap and secret', () => {
  test('configmap - keys are config keys', () => {
    expect(createMessages('configMap', (o) => (o.data = { 'a/b': 'x' }))).toEqual([
      "data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
    ]);
    expect(createMessages('configMap', (o) => (o.data = { '..data': 'x' }))).toEqual(["data[..data]: Invalid value: \"..data\": must not start with '..'"]);
  });

  test('configmap - a key is not in both data and binaryData', () => {
    expect(createMessages('configMap', (o) => (o.binaryData = { MODE: Buffer.from('x') }))).toEqual(['data[MODE]: Invalid value: "MODE": duplicate of key present in binaryData']);
  });

  test('configmap - data totals at most 1 MiB', () => {
    expect(createMessages('configMap', (o) => (o.data = { big: 'x'.repeat(1024 * 1024 + 1) }))).toEqual([': Too long: may not be more than 1048576 bytes']);
  });

  test('configmap update - an immutable ConfigMap keeps its data and stays immutable', () => {
    expect(updateMessages('configMap', (o) => (o.data!.MODE = 'debug'), (o) => (o.immutable = true))).toEqual(['data: Forbidden: field is immutable when `immutable` is set']);
    expect(updateMessages('configMap', (o) => (o.immutable = false), (o) => (o.immutable = true))).toEqual(['immutable: Forbidden: field is immutable when `immutable` is set']);
    expect(updateMessages('configMap', (o) => (o.data!.MODE = 'debug'))).toEqual([]);
  });

  test('secret - a TLS secret carries tls.crt and tls.key', () => {
    expect(createMessages('secret', (o) => (o.data = { 'tls.crt': Buffer.from('c') }))).toEqual(['data[tls.key]: Required value']);
  });

  test('secret - keys are config keys; data totals at most 1 MiB', () => {
    expect(createMessages('secret', (o) => (o.data!['a b'] = Buffer.from('x')))).toHaveLength(1);
    expect(createMessages('secret', (o) => (o.data!['big'] = Buffer.alloc(1024 * 1024)))).toEqual(['data: Too long: may not be more than 1048576 bytes']);
  });

  test('secret - a dockerconfigjson secret holds JSON', () => {
    expect(createMessages('secret', (o) => Object.assign(o, { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from('{"auths":{}}') } }))).toEqual([]);
    expect(createMessages('secret', (o) => Object.assign(o, { type: 'kubernetes.io/dockerconfigjson', data: {} }))).toEqual(['data[.dockerconfigjson]: Required value']);
  });

  test('secret update - type is immutable; an immutable Secret keeps its data', () => {
    expect(updateMessages('secret', (o) => (o.type = 'Opaque'))).toEqual(['type: Invalid value: "Opaque": field is immutable']);
    expect(updateMessages('secret', (o) => (o.data!['tls.key'] = Buffer.from('other')), (o) => (o.immutable = true))).toEqual([
      'data: Forbidden: field is immutable when `immutable` is set',
    ]);
  });
});

describe('persistent volumes', () => {
  test('pv - capacity holds a positive storage quantity only', () => {
    expect(createMessages('persistentVolume', (o) => (o.spec!.capacity = {}))).toEqual(['spec.capacity: Required value', 'spec.capacity: Unsupported value: {}: supported values: "storage"']);
    expect(createMessages('persistentVolume', (o) => (o.spec!.capacity = { storage: '0' }))).toEqual(['spec.capacity[storage]: Invalid value: "0": must be greater than zero']);
  });

  test('pv - access modes are required and supported', () => {
    expect(createMessages('persistentVolume', (o) => (o.spec!.accessModes = []))).toEqual(['spec.accessModes: Required value']);
    expect(createMessages('persistentVolume', (o) => (o.spec!.accessModes = ['ReadWriteAll']))).toEqual([
      'spec.accessModes: Unsupported value: "ReadWriteAll": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"',
    ]);
    expect(createMessages('persistentVolume', (o) => (o.spec!.accessModes = ['ReadWriteOncePod', 'ReadOnlyMany']))).toEqual([
      'spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes',
    ]);
  });

  test('pv - exactly one volume source', () => {
    expect(createMessages('persistentVolume', (o) => (o.spec!.hostPath = undefined))).toEqual(['spec: Required value: must specify a volume type']);
    expect(createMessages('persistentVolume', (o) => (o.spec!.local = { path: '/data' }))).toEqual(['spec.local: Forbidden: may not specify more than 1 volume type']);
  });

  test('pv - reclaim policy is supported', () => {
    expect(createMessages('persistentVolume', (o) => (o.spec!.persistentVolumeReclaimPolicy = 'Keep'))).toEqual([
      'spec.persistentVolumeReclaimPolicy: Unsupported value: "Keep": supported values: "Delete", "Recycle", "Retain"',
    ]);
  });

  test('pv update - the volume source is immutable', () => {
    const msgs = updateMessages('persistentVolume', (o) => (o.spec!.hostPath!.path = '/tmp/other'));
    expect(msgs.map((m) => m.split('\n')[0])).toEqual(['spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation']);
  });

  test('pvc - access modes and a storage request are required', () => {
    expect(createMessages('persistentVolumeClaim', (o) => (o.spec!.accessModes = []))).toEqual(['spec.accessModes: Required value: at least 1 access mode is required']);
    expect(createMessages('persistentVolumeClaim', (o) => (o.spec!.resources = {}))).toEqual(['spec.resources[storage]: Required value']);
    expect(createMessages('persistentVolumeClaim', (o) => (o.spec!.resources = { requests: { storage: '0' } }))).toEqual([
      'spec.resources[storage]: Invalid value: "0": must be greater than zero',
    ]);
  });

  test('pvc update - the spec is immutable except volumeName (once) and storage growth when bound', () => {
    expect(updateMessages('persistentVolumeClaim', (o) => (o.spec!.volumeName = 'pv-data'))).toEqual([]);
    const msgs = updateMessages('persistentVolumeClaim', (o) => (o.spec!.accessModes = ['ReadWriteMany']));
    expect(msgs.map((m) => m.split('\n')[0])).toEqual(['spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims']);
    const unbound = updateMessages('persistentVolumeClaim', (o) => (o.spec!.resources!.requests!.storage = '2Gi'));
    expect(unbound.map((m) => m.split('\n')[0])).toEqual(['spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims']);
  });

  test('pvc update - a bound claim may grow its storage request', () => {
    const { next, old } = boundClaimUpdate('2Gi');
    expect(validate(next, old)).toEqual([]);
    const shrink = boundClaimUpdate('512Mi');
    expect(validate(shrink.next, shrink.old)).toEqual(['spec.resources.requests.storage: Forbidden: field can not be less than status.capacity']);
  });
});


function boundClaimUpdate(storage: string): { next: PersistentVolumeClaim; old: PersistentVolumeClaim } {
  const info = resourceForCase('persistentVolumeClaim');
  const old = created('persistentVolumeClaim');
  old.metadata!.resourceVersion = '7';
  old.spec!.volumeName = 'pv-data';
  old.status = { phase: 'Bound', capacity: { storage: '1Gi' } };
  const next = info.codec.decode(info.codec.encode(old).finish());
  next.spec!.resources!.requests!.storage = storage;
  return { next, old };
}

function validate(next: PersistentVolumeClaim, old: PersistentVolumeClaim): string[] {
  return validateUpdate(resourceForCase('persistentVolumeClaim'), next, old).map(fieldErrorMessage);
}
