import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  SettingsConflictError,
  allPorts,
  buildTopology,
  clusterNetwork,
  clusterNodeIP,
  etcdClusterToken,
  natsServerConfig,
  nodePodCIDR,
  prepareStateDir,
  settingsFromEnv,
} from '../../services/lib/topology';

const settings = { stateDir: '/tmp/kubemu-topology-unit', portBase: 30000, profile: 'demo' };

test('topology - the demo profile lays out 3 etcd, 3 nats, 2 apiservers, 2 schedulers, 2 controller-managers, 3 nodes and the addons on the documented ports', () => {
  const t = buildTopology(settings);
  expect(t.processes.map((p) => p.name)).toEqual([
    'etcd-0', 'etcd-1', 'etcd-2', 'nats-0', 'nats-1', 'nats-2', 'kube-apiserver-0', 'kube-apiserver-1', 'kube-scheduler-0', 'kube-scheduler-1',
    'container-runtime-node-1', 'container-runtime-node-2', 'container-runtime-node-3', 'kube-controller-manager-0', 'kube-controller-manager-1', 'kubelet-node-1', 'kubelet-node-2', 'kubelet-node-3',
    'kube-proxy-node-1', 'kube-proxy-node-2', 'kube-proxy-node-3', 'cluster-dns-0', 'ingress-controller-0',
  ]);
  const byName = new Map(t.processes.map((p) => [p.name, p]));
  expect(byName.get('etcd-2')!.ports).toEqual({ client: 30102, peer: 30112 });
  expect(byName.get('nats-1')!.ports).toEqual({ client: 30201, route: 30211, monitor: 30221 });
  expect(byName.get('kube-apiserver-1')!.ports).toEqual({ grpc: 30301, http: 30401 });
  expect(byName.get('kube-scheduler-1')!.ports).toEqual({ health: 30501 });
  expect(byName.get('kube-scheduler-0')!.env.KUBEMU_SCHEDULER_HEALTH_LISTEN).toBe('127.0.0.1:30500');
  expect(byName.get('kube-controller-manager-1')!.ports).toEqual({ health: 30801 });
  expect(byName.get('container-runtime-node-2')!.ports).toEqual({ grpc: 30601 });
  expect(byName.get('container-runtime-node-2')!.env.KUBEMU_RUNTIME_ROOT).toBe('/tmp/kubemu-topology-unit/nodes/node-2/runtime');
  // Each kubelet talks to its own node's runtime.
  expect(byName.get('kubelet-node-3')!.ports).toEqual({ grpc: 30702 });
  expect(byName.get('kubelet-node-3')!.env.KUBEMU_RUNTIME_ENDPOINT).toBe('127.0.0.1:30602');
  expect(byName.get('kubelet-node-3')!.env.KUBEMU_NODE_NAME).toBe('node-3');
  expect(byName.get('kubelet-node-3')!.env.KUBEMU_NODE_PODS).toBe('110');
  expect(byName.get('container-runtime-node-1')!.tier).toBeLessThan(byName.get('kubelet-node-1')!.tier);
  // Off the default port base, a cluster's pod ranges come from 127.64-127.127 and differ per state folder.
  const cidr = byName.get('kubelet-node-3')!.env.KUBEMU_POD_CIDR;
  expect(cidr).toMatch(/^127\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.\d+\.0\/24$/);
  expect(byName.get('container-runtime-node-3')!.env.KUBEMU_POD_CIDR).toBe(cidr);
  expect(nodePodCIDR({ ...settings, stateDir: '/tmp/other-cluster' }, 2)).not.toBe(cidr);
  expect(nodePodCIDR({ ...settings, portBase: 20000 }, 1)).toBe('127.11.0.0/16');
  expect(new Set(allPorts(t)).size).toBe(allPorts(t).length);
  expect(t.etcdEndpoints).toEqual(['http://127.0.0.1:30100', 'http://127.0.0.1:30101', 'http://127.0.0.1:30102']);
  expect(t.natsServers).toEqual(['nats://127.0.0.1:30200', 'nats://127.0.0.1:30201', 'nats://127.0.0.1:30202']);
  expect(t.apiservers).toEqual(['127.0.0.1:30300', '127.0.0.1:30301']);
  expect(t.jetstreamReplicas).toBe(3);
  // Storage and bus start before the apiservers, the apiservers before their clients.
  expect(byName.get('etcd-0')!.tier).toBeLessThan(byName.get('kube-apiserver-0')!.tier);
  expect(byName.get('kube-apiserver-0')!.tier).toBeLessThan(byName.get('kube-scheduler-0')!.tier);
});

test('topology - etcd members know the whole cluster and keep their data under the state folder', () => {
  const t = buildTopology(settings);
  const etcd1 = t.processes.find((p) => p.name === 'etcd-1')!;
  const arg = (flag: string) => etcd1.args[etcd1.args.indexOf(flag) + 1];
  expect(arg('--name')).toBe('etcd-1');
  expect(arg('--data-dir')).toBe('/tmp/kubemu-topology-unit/etcd/etcd-1');
  expect(arg('--initial-cluster')).toBe(
    'etcd-0=http://127.0.0.1:30110,etcd-1=http://127.0.0.1:30111,etcd-2=http://127.0.0.1:30112',
  );
  expect(arg('--initial-cluster-state')).toBe('new');
  expect(arg('--initial-cluster-token')).toBe(etcdClusterToken(settings.stateDir));
  expect(etcd1.filterEnvPrefixes).toContain('ETCD_');
  expect(etcdClusterToken('/a')).not.toBe(etcdClusterToken('/b'));
});

test('topology - apiservers get the component environment contract', () => {
  const t = buildTopology(settings);
  const api = t.processes.find((p) => p.name === 'kube-apiserver-0')!;
  expect(api.runtime).toBe('node');
  expect(api.command.endsWith(path.join('dist', 'services', 'kube-apiserver', 'main.js'))).toBe(true);
  expect(api.env).toEqual({
    KUBEMU_COMPONENT_ID: 'kube-apiserver-0',
    KUBEMU_PROFILE: 'demo',
    KUBEMU_STATE_DIR: '/tmp/kubemu-topology-unit',
    KUBEMU_ETCD_ENDPOINTS: t.etcdEndpoints.join(','),
    KUBEMU_NATS_SERVERS: t.natsServers.join(','),
    KUBEMU_APISERVERS: '127.0.0.1:30300,127.0.0.1:30301',
    KUBEMU_JETSTREAM_REPLICAS: '3',
    KUBEMU_NODE_CIDR: t.network.nodeCIDR,
    KUBEMU_SERVICE_CIDR: t.network.serviceCIDR,
    KUBEMU_LOADBALANCER_CIDR: t.network.loadBalancerCIDR,
    KUBEMU_CLUSTER_DNS: t.network.clusterDNS,
    KUBEMU_CLUSTER_DOMAIN: 'cluster.local',
    KUBEMU_APISERVER_LISTEN: '127.0.0.1:30300',
    KUBEMU_APISERVER_HTTP_LISTEN: '127.0.0.1:30400',
  });
  expect(api.health).toEqual({ kind: 'grpc', address: '127.0.0.1:30300' });
});

test('topology - nats-server configuration: JetStream on file storage, routes to the others, none for one server', () => {
  const servers = [0, 1, 2].map((i) => ({ name: `nats-${i}`, clientPort: 100 + i, routePort: 200 + i, monitorPort: 300 + i }));
  const clustered = natsServerConfig(servers[0], servers, '/s/nats-0');
  expect(clustered).toContain('server_name: "nats-0"');
  expect(clustered).toContain('store_dir: "/s/nats-0"');
  expect(clustered).toContain('"nats-route://127.0.0.1:201"');
  expect(clustered).toContain('"nats-route://127.0.0.1:202"');
  expect(clustered).not.toContain('"nats-route://127.0.0.1:200"');
  const single = natsServerConfig(servers[0], [servers[0]], '/s/nats-0');
  expect(single).toContain('jetstream {');
  expect(single).not.toContain('cluster {');
});

test('topology - a state folder pins its port base and profile', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubemu-topology-'));
  try {
    const env = { KUBEMU_STATE_DIR: dir, KUBEMU_PORT_BASE: '31000' };
    const first = settingsFromEnv(env);
    expect(first).toEqual({ stateDir: dir, portBase: 31000, profile: 'demo' });
    prepareStateDir(buildTopology(first));
    expect(fs.existsSync(path.join(dir, 'nats', 'nats-0.conf'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'logs'))).toBe(true);
    // Later commands without the variable get the recorded settings; a contradicting one is refused.
    expect(settingsFromEnv({ KUBEMU_STATE_DIR: dir })).toEqual(first);
    expect(() => settingsFromEnv({ KUBEMU_STATE_DIR: dir, KUBEMU_PORT_BASE: '32000' })).toThrow(SettingsConflictError);
    expect(() => settingsFromEnv({ KUBEMU_STATE_DIR: dir, KUBEMU_PROFILE: 'k8s' })).toThrow(SettingsConflictError);
    expect(() => settingsFromEnv({ KUBEMU_PORT_BASE: 'abc' })).toThrow(/KUBEMU_PORT_BASE/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('topology - each cluster has its own node, Service and LoadBalancer ranges, and every component is told them', () => {
  expect(clusterNetwork({ portBase: 20000 })).toEqual({
    nodeCIDR: '127.1.0.0/24',
    serviceCIDR: '127.128.0.0/16',
    loadBalancerCIDR: '127.129.0.0/16',
    clusterDNS: '127.128.0.10',
    clusterDomain: 'cluster.local',
  });
  // Port bases 1000 apart (as the test harness hands them out) never share a range.
  const nets = [21000, 22000, 23000, 31000, 65000].map((portBase) => clusterNetwork({ portBase }));
  for (const key of ['nodeCIDR', 'serviceCIDR', 'loadBalancerCIDR'] as const) expect(new Set([...nets.map((n) => n[key]), clusterNetwork({ portBase: 20000 })[key]]).size).toBe(6);
  for (const n of nets) {
    expect(n.serviceCIDR).toMatch(/^127\.(1[3-9]\d|2[0-4]\d|25[0-3])\.0\.0\/16$/);
    expect(Number(n.loadBalancerCIDR.split('.')[1])).toBe(Number(n.serviceCIDR.split('.')[1]) + 1);
  }
  const t = buildTopology(settings);
  const byName = new Map(t.processes.map((p) => [p.name, p]));
  const net = clusterNetwork(settings);
  expect(t.network).toEqual(net);
  expect(byName.get('kube-apiserver-0')!.env.KUBEMU_SERVICE_CIDR).toBe(net.serviceCIDR);
  expect(byName.get('kube-apiserver-0')!.env.KUBEMU_LOADBALANCER_CIDR).toBe(net.loadBalancerCIDR);
  expect(byName.get('kubelet-node-2')!.env.KUBEMU_NODE_IP).toBe(clusterNodeIP(net, 1));
  expect(byName.get('kubelet-node-2')!.env.KUBEMU_CLUSTER_DNS).toBe(net.clusterDNS);
  expect(byName.get('kube-proxy-node-2')!.env.KUBEMU_NODE_IP).toBe(clusterNodeIP(net, 1));
  expect(byName.get('kube-proxy-node-2')!.env.KUBEMU_NODE_NAME).toBe('node-2');
  expect(byName.get('kube-proxy-node-2')!.ports).toEqual({ health: 30901, status: 30911 });
  expect(byName.get('cluster-dns-0')!.env.KUBEMU_DNS_LISTEN).toBe('127.0.0.1:30930');
  expect(byName.get('ingress-controller-0')!.ports).toEqual({ health: 30940, http: 30950, https: 30960 });
  // kube-proxies start with the kubelets, the addons after them.
  expect(byName.get('kube-proxy-node-1')!.tier).toBe(byName.get('kubelet-node-1')!.tier);
  expect(byName.get('cluster-dns-0')!.tier).toBeGreaterThan(byName.get('kube-proxy-node-1')!.tier);
});
