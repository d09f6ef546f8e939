/** The kubelet's Node object and status as pure functions: labels, capacity, conditions in Kubernetes' words, change detection, the Lease. */
import {
  conditionVerdicts,
  defaultNodeLabels,
  desiredNodeStatus,
  goArch,
  initialNode,
  lastHeartbeat,
  machineIdentity,
  NodeDescription,
  nodeLeaseObject,
  nodeStatusChanged,
  nextConditions,
  reconcileExistingNode,
} from '../../services/kubelet/node';

const T0 = Date.parse('2026-11-23T01:00:00Z');
const desc: NodeDescription = {
  nodeName: 'node-1',
  nodeIP: '127.1.0.1',
  podCIDR: '127.10.0.0/16',
  resources: { cpu: '4', memory: '8Gi', pods: 110 },
  labels: { zone: 'a' },
  kubeletPort: 20700,
  images: [{ names: ['kubemu/nginx:latest'], sizeBytes: 1000 }],
  runtimeVersion: 'kubemu://0.1.0',
  ephemeralStorage: '100Gi',
};

test('kubelet node - the registered Node carries labels, podCIDR, capacity = allocatable, addresses and nodeInfo', () => {
  const n = initialNode(desc, { ready: true }, {}, T0);
  const arch = goArch();
  expect(['amd64', 'arm64']).toContain(arch);
  expect(n.metadata?.labels).toEqual({
    'kubernetes.io/hostname': 'node-1',
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': arch,
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': arch,
    zone: 'a',
  });
  expect(n.spec).toEqual({ podCIDR: '127.10.0.0/16', podCIDRs: ['127.10.0.0/16'] });
  expect(n.status?.capacity).toEqual({ cpu: '4', memory: '8Gi', pods: '110', 'ephemeral-storage': '100Gi' });
  expect(n.status?.allocatable).toEqual(n.status?.capacity);
  expect(n.status?.addresses).toEqual([
    { type: 'InternalIP', address: '127.1.0.1' },
    { type: 'Hostname', address: 'node-1' },
  ]);
  expect(n.status?.daemonEndpoints).toEqual({ kubeletEndpoint: { Port: 20700 } });
  const info = n.status!.nodeInfo!;
  expect(info.kubeletVersion).toBe('v1.32.0');
  expect(info.kubeProxyVersion).toBe('v1.32.0');
  expect(info.containerRuntimeVersion).toBe('kubemu://0.1.0');
  expect(info.operatingSystem).toBe('linux');
  expect(info.architecture).toBe(arch);
  expect(info.osImage).toBeTruthy();
  expect(info.kernelVersion).toBeTruthy();
  expect(info.machineID).toMatch(/^[0-9a-f]{32}$/);
  expect(info.systemUUID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  expect(n.status?.images).toEqual([{ names: ['kubemu/nginx:latest'], sizeBytes: 1000 }]);
});

test('kubelet node - machine identity is stable per node name and differs between nodes', () => {
  expect(machineIdentity('node-1')).toEqual(machineIdentity('node-1'));
  expect(machineIdentity('node-1').machineID).not.toBe(machineIdentity('node-2').machineID);
  expect(machineIdentity('node-1').bootID).not.toBe(machineIdentity('node-1').systemUUID);
});

test('kubelet node - conditions use Kubernetes reasons and messages', () => {
  const c = nextConditions(undefined, { ready: true }, {}, T0);
  expect(c.map((x) => [x.type, x.status, x.reason, x.message])).toEqual([
    ['MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
    ['DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
    ['PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
    ['Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'],
  ]);
  for (const x of c) {
    expect(x.lastHeartbeatTime).toBe('2026-11-23T01:00:00Z');
    expect(x.lastTransitionTime).toBe('2026-11-23T01:00:00Z');
  }
  const down = conditionVerdicts({ ready: false, message: 'container runtime is down' }, { memory: true, disk: true, pid: true });
  expect(down.map((x) => [x.type, x.status, x.reason])).toEqual([
    ['MemoryPressure', 'True', 'KubeletHasInsufficientMemory'],
    ['DiskPressure', 'True', 'KubeletHasDiskPressure'],
    ['PIDPressure', 'True', 'KubeletHasInsufficientPID'],
    ['Ready', 'False', 'KubeletNotReady'],
  ]);
  expect(down[3].message).toBe('container runtime is down');
});

test('kubelet node - lastTransitionTime moves only when a status changes; heartbeats move always; foreign conditions kept', () => {
  const first = [...nextConditions(undefined, { ready: true }, {}, T0), { type: 'NetworkUnavailable', status: 'False', reason: 'RouteCreated' }];
  const later = nextConditions(first, { ready: true }, {}, T0 + 60000);
  const ready = later.find((c) => c.type === 'Ready')!;
  expect(ready.lastHeartbeatTime).toBe('2026-11-23T01:01:00Z');
  expect(ready.lastTransitionTime).toBe('2026-11-23T01:00:00Z');
  expect(later.find((c) => c.type === 'NetworkUnavailable')).toEqual({ type: 'NetworkUnavailable', status: 'False', reason: 'RouteCreated' });
  const notReady = nextConditions(later, { ready: false, message: 'container runtime is down' }, {}, T0 + 120000).find((c) => c.type === 'Ready')!;
  expect(notReady.status).toBe('False');
  expect(notReady.lastTransitionTime).toBe('2026-11-23T01:02:00Z');
});

test('kubelet node - status changes are told apart from heartbeats', () => {
  const a = desiredNodeStatus(desc, { ready: true }, {}, undefined, T0);
  const b = desiredNodeStatus(desc, { ready: true }, {}, a, T0 + 10000);
  expect(nodeStatusChanged(a, b)).toBe(false);
  // Proto-decoded objects carry empty strings and lists where ours leave fields out.
  expect(nodeStatusChanged({ ...a, phase: '' }, b)).toBe(false);
  expect(lastHeartbeat(b) - lastHeartbeat(a)).toBe(10000);
  expect(nodeStatusChanged(a, desiredNodeStatus(desc, { ready: false }, {}, a, T0))).toBe(true);
  expect(nodeStatusChanged(a, desiredNodeStatus({ ...desc, nodeIP: '127.1.0.9' }, { ready: true }, {}, a, T0))).toBe(true);
  expect(nodeStatusChanged(a, desiredNodeStatus({ ...desc, resources: { ...desc.resources, cpu: '8' } }, { ready: true }, {}, a, T0))).toBe(true);
});

test('kubelet node - a restarted kubelet keeps the spec and labels of its Node, adding only what is missing', () => {
  const existing = initialNode(desc, { ready: true }, {}, T0);
  existing.spec = { ...existing.spec, unschedulable: true, taints: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] };
  existing.metadata = { ...existing.metadata, labels: { ...existing.metadata!.labels, zone: 'b' } };
  expect(reconcileExistingNode(existing, desc)).toBeUndefined();
  const bare = { ...existing, metadata: { name: 'node-1', labels: { custom: 'x' } }, spec: { taints: existing.spec.taints } };
  const fixed = reconcileExistingNode(bare, desc)!;
  expect(fixed.metadata?.labels).toEqual({ custom: 'x', ...defaultNodeLabels('node-1'), zone: 'a' });
  expect(fixed.spec?.taints).toEqual(existing.spec.taints);
  expect(fixed.spec?.podCIDR).toBe('127.10.0.0/16');
});

test('kubelet node - the node Lease is held by the node, owned by the Node, renewed with a microsecond time', () => {
  const l = nodeLeaseObject(undefined, 'node-1', 40, 'uid-1', T0);
  expect(l.metadata).toEqual({
    name: 'node-1',
    namespace: 'kube-node-lease',
    ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'node-1', uid: 'uid-1' }],
  });
  expect(l.spec).toEqual({ holderIdentity: 'node-1', leaseDurationSeconds: 40, renewTime: '2026-11-23T01:00:00.000000Z' });
  const renewed = nodeLeaseObject({ ...l, metadata: { ...l.metadata, resourceVersion: '7' } }, 'node-1', 40, 'uid-1', T0 + 10000);
  expect(renewed.metadata?.resourceVersion).toBe('7');
  expect(renewed.spec?.renewTime).toBe('2026-11-23T01:00:10.000000Z');
  // A re-registered Node has a new uid: the owner follows it.
  expect(nodeLeaseObject(renewed, 'node-1', 40, 'uid-2', T0).metadata?.ownerReferences?.[0].uid).toBe('uid-2');
});
