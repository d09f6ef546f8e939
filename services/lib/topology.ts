/**
 * Where every kubemu process runs: the one source of truth for names, ports, data folders,
 * command lines and environments. deploy/ecosystem.config.js turns it into pm2 apps,
 * scripts/cluster.ts health-checks it, and the test harness reuses its builders so that tests
 * run etcd and nats-server exactly as the real cluster does.
 *
 * Layout (ports relative to the port base, default 20000; instance i adds i, at most 10 each):
 *   etcd-i            client +100+i   peer +110+i
 *   nats-i            client +200+i   cluster route +210+i   HTTP monitor +220+i
 *   kube-apiserver-i  gRPC +300+i     (REST API +400+i, reserved)
 *   kube-scheduler-i  health +500+i
 *   container-runtime-node-N  gRPC +600+N-1      kubelet-node-N  gRPC (logs/exec/stats, health) +700+N-1
 *   kube-controller-manager-i  health +800+i
 *   kube-proxy-node-N  health +900+N-1   status HTTP (healthz, proxies, metrics) +910+N-1
 *   cluster-dns-i      health +920+i     DNS (UDP and TCP) +930+i
 *   ingress-controller-i  health +940+i  HTTP +950+i  HTTPS +960+i
 * New components are one row in COMPONENTS below.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_NODE_RESOURCES, NodeResources, Profile, loadProfile, repoRoot } from './config';
import { nodeIP, podCIDRForNode } from '../container-runtime/network/ipam';

export const DEFAULT_PORT_BASE = 20000;
export const DEFAULT_PROFILE = 'demo';
/** Every process listens on loopback only. */
export const HOST = '127.0.0.1';
/** Instances of one component get consecutive ports inside a block of this size. */
const MAX_INSTANCES = 10;
/** The file in the state folder that pins the settings the folder was created with. */
export const SETTINGS_FILE = 'cluster.json';

/** How a process proves it is healthy. */
export type HealthProbe =
  /** GET <url>/health answers {"health":"true"} (the member is in a cluster with a leader). */
  | { kind: 'etcd'; url: string }
  /** GET <monitorUrl>/healthz answers 200; with clustered JetStream also a meta leader in /jsz. */
  | { kind: 'nats'; monitorUrl: string; clustered: boolean }
  /** grpc.health.v1 Check for the whole server answers SERVING. */
  | { kind: 'grpc'; address: string };

/** One process of the cluster, everything needed to run and check it. */
export interface ProcessSpec {
  /** Unique name: pm2 app name and KUBEMU_COMPONENT_ID, e.g. etcd-0, kube-apiserver-1. */
  name: string;
  /** The component it is an instance of, e.g. etcd, nats, kube-apiserver. */
  component: string;
  index: number;
  /** Start order: 0 storage and bus, 1 apiserver, higher tiers need lower ones healthy. */
  tier: number;
  /** Named ports, e.g. { client, peer }. */
  ports: Record<string, number>;
  /** What a client dials: an http/nats URL or host:port. */
  address: string;
  /** Where it keeps durable data, if anywhere. */
  dataDir?: string;
  /** 'binary': command is an executable; 'node': command is a JavaScript file run by node. */
  runtime: 'binary' | 'node';
  command: string;
  /** Flags for node itself (runtime 'node' only). */
  nodeArgs: string[];
  args: string[];
  /** Environment on top of the inherited one. */
  env: Record<string, string>;
  /** Prefixes of inherited variables the process must not see (etcd reads ETCD_* as flags). */
  filterEnvPrefixes: string[];
  /** Folders to create and files to write before the process starts. */
  dirs: string[];
  files: Array<{ path: string; content: string }>;
  health: HealthProbe;
}

/** The settings a state folder is created with. */
export interface ClusterSettings {
  stateDir: string;
  portBase: number;
  profile: string;
}

export interface Topology {
  settings: ClusterSettings;
  profile: Profile;
  repoRoot: string;
  logDir: string;
  /** Every process, in start order (by tier, then as listed in COMPONENTS). */
  processes: ProcessSpec[];
  etcdEndpoints: string[];
  natsServers: string[];
  apiservers: string[];
  jetstreamReplicas: number;
  network: ClusterNetwork;
}

/** Thrown when the environment asks for settings a state folder was not created with. */
export class SettingsConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingsConflictError';
  }
}

// ---------------------------------------------------------------------------------------------
// Binaries

/**
 * Where the Debian packages put them; PATH is searched first. scripts/setup.sh searches the
 * same places in the same order: keep both in step.
 */
const BINARIES: Record<'etcd' | 'nats-server', { envVar: string; dirs: string[] }> = {
  etcd: { envVar: 'ETCD_BIN', dirs: ['/usr/bin', '/usr/local/bin', '/usr/sbin'] },
  'nats-server': { envVar: 'NATS_SERVER_BIN', dirs: ['/usr/sbin', '/usr/bin', '/usr/local/bin'] },
};

/**
 * Finds etcd or nats-server: the ETCD_BIN / NATS_SERVER_BIN variable when set, else PATH,
 * else the Debian package locations. Returns undefined when not found; never throws.
 */
export function resolveBinary(tool: 'etcd' | 'nats-server', env: NodeJS.ProcessEnv = process.env): string | undefined {
  const { envVar, dirs } = BINARIES[tool];
  const explicit = env[envVar];
  if (explicit) return isExecutable(explicit) ? path.resolve(explicit) : undefined;
  const searchPath = (env.PATH ?? '').split(path.delimiter).filter((d) => d.length > 0);
  for (const dir of [...searchPath, ...dirs]) {
    const candidate = path.join(dir, tool);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Builders, shared with the test harness

/** A stable cluster token per state folder, so that two kubemu clusters never merge. */
export function etcdClusterToken(stateDir: string): string {
  return 'kubemu-' + crypto.createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 12);
}

/** etcd 3.4 refuses to run on architectures other than amd64 unless told they are fine. */
function etcdArchEnv(): Record<string, string> {
  const goArch: Record<string, string> = { arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', ia32: '386' };
  return process.arch === 'x64' ? {} : { ETCD_UNSUPPORTED_ARCH: goArch[process.arch] ?? process.arch };
}

export interface EtcdMemberPorts {
  name: string;
  clientPort: number;
  peerPort: number;
}

/**
 * An etcd member of the cluster `members`. `--initial-cluster-state new` is always right: a
 * member whose data folder holds data ignores every --initial-* flag and restarts from its WAL
 * (verified with etcd 3.4), so pm2 may restart it with the same command line forever.
 */
export function etcdMemberSpec(opts: {
  member: EtcdMemberPorts;
  index: number;
  members: EtcdMemberPorts[];
  dataDir: string;
  token: string;
  etcdBin?: string;
  tier?: number;
}): ProcessSpec {
  const { member, members } = opts;
  const clientUrl = `http://${HOST}:${member.clientPort}`;
  const peerUrl = `http://${HOST}:${member.peerPort}`;
  const initialCluster = members.map((m) => `${m.name}=http://${HOST}:${m.peerPort}`).join(',');
  return {
    name: member.name,
    component: 'etcd',
    index: opts.index,
    tier: opts.tier ?? 0,
    ports: { client: member.clientPort, peer: member.peerPort },
    address: clientUrl,
    dataDir: opts.dataDir,
    runtime: 'binary',
    command: opts.etcdBin ?? resolveBinary('etcd') ?? 'etcd',
    nodeArgs: [],
    args: [
      '--name', member.name,
      '--data-dir', opts.dataDir,
      '--listen-client-urls', clientUrl,
      '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', opts.token,
      // Loopback round trips are microseconds, but on a 2-core machine fsync stalls and CPU
      // contention are not: etcd's defaults (100 ms / 1 s) avoid spurious elections under load.
      '--heartbeat-interval', '100',
      '--election-timeout', '1000',
      // A member that comes back (pm2 restarts it after a kill) does not depose a healthy leader.
      '--pre-vote',
      // etcd's default quota; the apiserver keeps the keyspace small by compacting.
      '--quota-backend-bytes', String(2 * 1024 * 1024 * 1024),
      // A safety net: keep one hour of history even if nobody compacts.
      '--auto-compaction-mode', 'periodic',
      '--auto-compaction-retention', '1h',
      // Kubernetes runs etcd with 10000 (the 3.4 default of 100000 keeps far more in memory).
      '--snapshot-count', '10000',
      '--max-request-bytes', String(8 * 1024 * 1024),
      '--logger', 'zap',
      '--log-outputs', 'stderr',
    ],
    env: etcdArchEnv(),
    filterEnvPrefixes: ['ETCD_'],
    dirs: [path.dirname(opts.dataDir)],
    files: [],
    health: { kind: 'etcd', url: clientUrl },
  };
}

export interface NatsServerPorts {
  name: string;
  clientPort: number;
  routePort: number;
  monitorPort: number;
}

/** Largest message a client may publish: objects of a few MB must fit in one watch event. */
export const NATS_MAX_PAYLOAD_BYTES = 8 * 1024 * 1024;

/** The nats-server configuration file of `server` in the cluster `servers` (no cluster block for one). */
export function natsServerConfig(server: NatsServerPorts, servers: NatsServerPorts[], storeDir: string): string {
  const lines = [
    '# Written by kubemu (services/lib/topology.ts); rewritten on every start.',
    `server_name: ${JSON.stringify(server.name)}`,
    `listen: "${HOST}:${server.clientPort}"`,
    `http: "${HOST}:${server.monitorPort}"`,
    `max_payload: ${NATS_MAX_PAYLOAD_BYTES}`,
    // Watchers that fall behind are disconnected rather than slowing everyone; generous here.
    'max_pending: 268435456',
    'write_deadline: "10s"',
    'jetstream {',
    `  store_dir: ${JSON.stringify(storeDir)}`,
    '  max_memory_store: 268435456',
    '  max_file_store: 4294967296',
    '}',
  ];
  if (servers.length > 1) {
    const routes = servers.filter((s) => s.name !== server.name).map((s) => `    "nats-route://${HOST}:${s.routePort}"`);
    lines.push('cluster {', '  name: "kubemu"', `  listen: "${HOST}:${server.routePort}"`, '  routes: [', ...routes, '  ]', '}');
  }
  return lines.join('\n') + '\n';
}

/** A nats-server with JetStream on file storage, configured by a file written into `configFile`. */
export function natsServerSpec(opts: {
  server: NatsServerPorts;
  index: number;
  servers: NatsServerPorts[];
  storeDir: string;
  configFile: string;
  natsBin?: string;
  tier?: number;
}): ProcessSpec {
  const { server } = opts;
  return {
    name: server.name,
    component: 'nats',
    index: opts.index,
    tier: opts.tier ?? 0,
    ports: { client: server.clientPort, route: server.routePort, monitor: server.monitorPort },
    address: `nats://${HOST}:${server.clientPort}`,
    dataDir: opts.storeDir,
    runtime: 'binary',
    command: opts.natsBin ?? resolveBinary('nats-server') ?? 'nats-server',
    nodeArgs: [],
    args: ['--config', opts.configFile],
    env: {},
    filterEnvPrefixes: [],
    dirs: [opts.storeDir, path.dirname(opts.configFile)],
    files: [{ path: opts.configFile, content: natsServerConfig(server, opts.servers, opts.storeDir) }],
    health: { kind: 'nats', monitorUrl: `http://${HOST}:${server.monitorPort}`, clustered: opts.servers.length > 1 },
  };
}

/** What every kubemu component (a node process) is told about the cluster; read by services/lib/config.ts. */
export interface ComponentEnvironment {
  profile: string;
  stateDir: string;
  etcdEndpoints: string[];
  natsServers: string[];
  apiservers: string[];
  jetstreamReplicas: number;
  /** The cluster's address plan; absent for processes a test starts on its own. */
  network?: ClusterNetwork;
}

/** The KUBEMU_* variables of the component `componentId`. */
export function componentEnv(componentId: string, c: ComponentEnvironment): Record<string, string> {
  return {
    KUBEMU_COMPONENT_ID: componentId,
    KUBEMU_PROFILE: c.profile,
    KUBEMU_STATE_DIR: c.stateDir,
    KUBEMU_ETCD_ENDPOINTS: c.etcdEndpoints.join(','),
    KUBEMU_NATS_SERVERS: c.natsServers.join(','),
    KUBEMU_APISERVERS: c.apiservers.join(','),
    KUBEMU_JETSTREAM_REPLICAS: String(c.jetstreamReplicas),
    ...(c.network ? networkEnv(c.network) : {}),
  };
}

/**
 * A cluster's address plan (all inside 127.0.0.0/8, which Linux routes to the loopback device).
 * The cluster on the default port base uses the documented plan: node IPs 127.1.0.0/24, Service
 * ClusterIPs 127.128.0.0/16, LoadBalancer IPs 127.129.0.0/16. Any other cluster (tests, a second
 * cluster) gets ranges of its own picked by its port-base block (bases 1000 apart never share
 * ranges), so that two clusters' kube-proxies never listen on the same address.
 */
export interface ClusterNetwork {
  nodeCIDR: string;
  serviceCIDR: string;
  loadBalancerCIDR: string;
  /** The kube-dns Service's ClusterIP: the tenth address of the service range (as 10.96.0.10). */
  clusterDNS: string;
  clusterDomain: string;
}

export function clusterNetwork(settings: Pick<ClusterSettings, 'portBase'>): ClusterNetwork {
  const block = Math.floor(settings.portBase / 1000);
  const own = settings.portBase !== DEFAULT_PORT_BASE;
  const nodeCIDR = own ? `127.1.${1 + (block % 254)}.0/24` : '127.1.0.0/24';
  const serviceOctet = own ? 130 + 2 * (block % 62) : 128;
  return {
    nodeCIDR,
    serviceCIDR: `127.${serviceOctet}.0.0/16`,
    loadBalancerCIDR: `127.${serviceOctet + 1}.0.0/16`,
    clusterDNS: `127.${serviceOctet}.0.10`,
    clusterDomain: 'cluster.local',
  };
}

/** The variables that tell a component the address plan. */
export function networkEnv(n: ClusterNetwork): Record<string, string> {
  return {
    KUBEMU_NODE_CIDR: n.nodeCIDR,
    KUBEMU_SERVICE_CIDR: n.serviceCIDR,
    KUBEMU_LOADBALANCER_CIDR: n.loadBalancerCIDR,
    KUBEMU_CLUSTER_DNS: n.clusterDNS,
    KUBEMU_CLUSTER_DOMAIN: n.clusterDomain,
  };
}

/** The IP of node `index` in the cluster's node range. */
export function clusterNodeIP(n: ClusterNetwork, index: number): string {
  return nodeIP(index, { nodeCIDR: n.nodeCIDR });
}

/** A TypeScript service of this repository, run from dist/ with node. */
export function nodeServiceSpec(opts: {
  name: string;
  component: string;
  index: number;
  tier: number;
  /** Path of main.ts relative to the repository root, e.g. services/kube-apiserver/main.ts. */
  main: string;
  ports: Record<string, number>;
  address: string;
  env: Record<string, string>;
  health: HealthProbe;
  root?: string;
}): ProcessSpec {
  const root = opts.root ?? repoRoot();
  return {
    name: opts.name,
    component: opts.component,
    index: opts.index,
    tier: opts.tier,
    ports: opts.ports,
    address: opts.address,
    runtime: 'node',
    command: path.join(root, 'dist', opts.main.replace(/\.ts$/, '.js')),
    nodeArgs: ['--enable-source-maps'],
    args: [],
    env: opts.env,
    filterEnvPrefixes: [],
    dirs: [],
    files: [],
    health: opts.health,
  };
}

/** The apiserver `name` listening for gRPC on `grpcPort`; `httpPort` is reserved for the REST API. */
export function apiserverSpec(opts: {
  name: string;
  index: number;
  grpcPort: number;
  httpPort?: number;
  cluster: ComponentEnvironment;
  tier?: number;
  root?: string;
}): ProcessSpec {
  const address = `${HOST}:${opts.grpcPort}`;
  const ports: Record<string, number> = { grpc: opts.grpcPort };
  if (opts.httpPort !== undefined) ports.http = opts.httpPort;
  return nodeServiceSpec({
    name: opts.name,
    component: 'kube-apiserver',
    index: opts.index,
    tier: opts.tier ?? 1,
    main: 'services/kube-apiserver/main.ts',
    ports,
    address,
    env: {
      ...componentEnv(opts.name, opts.cluster),
      KUBEMU_APISERVER_LISTEN: address,
      ...(opts.httpPort !== undefined ? { KUBEMU_APISERVER_HTTP_LISTEN: `${HOST}:${opts.httpPort}` } : {}),
    },
    health: { kind: 'grpc', address },
    root: opts.root,
  });
}

/** The name of node `index` (0-based): node-1, node-2, ... */
export function nodeName(index: number): string {
  return `node-${index + 1}`;
}

/** What a node offers, from the profile's defaults and its per-node overrides. */
export function nodeResources(profile: Profile, name: string): NodeResources {
  return { ...DEFAULT_NODE_RESOURCES, ...(profile.nodeResources ?? {}), ...(profile.nodeOverrides?.[name] ?? {}) };
}

/** The folder of one node's runtime and kubelet state. */
export function nodeStateDir(stateDir: string, node: string): string {
  return path.join(stateDir, 'nodes', node);
}

/**
 * The pod range of node `index`. The cluster on the default port base uses the documented plan
 * (127.(10+i).0.0/16, services/container-runtime/network/ipam.ts); any other cluster (tests, a
 * second cluster on another port base) gets /24 ranges inside 127.64.0.0–127.127.255.255 picked
 * by its state folder, so that two clusters on one host do not hand out the same pod IPs.
 */
export function nodePodCIDR(settings: ClusterSettings, index: number): string {
  if (settings.portBase === DEFAULT_PORT_BASE) return podCIDRForNode(index);
  const slots = 64 * 256;
  const first = crypto.createHash('sha256').update(path.resolve(settings.stateDir)).digest().readUInt32BE(0) % slots;
  const slot = (first + index) % slots;
  return `127.${64 + (slot >> 8)}.${slot & 255}.0/24`;
}

/** The container runtime of node `index`, serving RuntimeService and ImageService on `grpcPort`. */
export function containerRuntimeSpec(opts: { index: number; grpcPort: number; podCIDR?: string; cluster: ComponentEnvironment; tier?: number; root?: string }): ProcessSpec {
  const node = nodeName(opts.index);
  const name = `container-runtime-${node}`;
  const address = `${HOST}:${opts.grpcPort}`;
  return nodeServiceSpec({
    name,
    component: 'container-runtime',
    index: opts.index,
    tier: opts.tier ?? 2,
    main: 'services/container-runtime/main.ts',
    ports: { grpc: opts.grpcPort },
    address,
    env: {
      ...componentEnv(name, opts.cluster),
      KUBEMU_NODE_NAME: node,
      KUBEMU_NODE_INDEX: String(opts.index),
      KUBEMU_RUNTIME_LISTEN: address,
      KUBEMU_RUNTIME_ROOT: path.join(nodeStateDir(opts.cluster.stateDir, node), 'runtime'),
      ...(opts.podCIDR ? { KUBEMU_POD_CIDR: opts.podCIDR } : {}),
    },
    health: { kind: 'grpc', address },
    root: opts.root,
  });
}

/** The kubelet of node `index`, talking to its runtime at `runtimeEndpoint`, serving KubeletService on `grpcPort`. */
export function kubeletSpec(opts: {
  index: number;
  grpcPort: number;
  runtimeEndpoint: string;
  podCIDR?: string;
  resources: NodeResources;
  cluster: ComponentEnvironment;
  tier?: number;
  root?: string;
}): ProcessSpec {
  const node = nodeName(opts.index);
  const name = `kubelet-${node}`;
  const address = `${HOST}:${opts.grpcPort}`;
  return nodeServiceSpec({
    name,
    component: 'kubelet',
    index: opts.index,
    tier: opts.tier ?? 3,
    main: 'services/kubelet/main.ts',
    ports: { grpc: opts.grpcPort },
    address,
    env: {
      ...componentEnv(name, opts.cluster),
      KUBEMU_NODE_NAME: node,
      KUBEMU_NODE_INDEX: String(opts.index),
      KUBEMU_KUBELET_LISTEN: address,
      ...(opts.cluster.network ? { KUBEMU_NODE_IP: clusterNodeIP(opts.cluster.network, opts.index) } : {}),
      KUBEMU_RUNTIME_ENDPOINT: opts.runtimeEndpoint,
      KUBEMU_NODE_CPU: opts.resources.cpu,
      KUBEMU_NODE_MEMORY: opts.resources.memory,
      KUBEMU_NODE_PODS: String(opts.resources.pods),
      KUBEMU_KUBELET_ROOT: path.join(nodeStateDir(opts.cluster.stateDir, node), 'kubelet'),
      ...(opts.podCIDR ? { KUBEMU_POD_CIDR: opts.podCIDR } : {}),
    },
    health: { kind: 'grpc', address },
    root: opts.root,
  });
}

/** argv to run a spec directly (without pm2): [file, ...args]. */
export function commandLine(spec: ProcessSpec): { file: string; args: string[] } {
  if (spec.runtime === 'binary') return { file: spec.command, args: spec.args };
  return { file: process.execPath, args: [...spec.nodeArgs, spec.command, ...spec.args] };
}

// ---------------------------------------------------------------------------------------------
// The cluster: one table row per component

/** An instance's name and ports before its spec is built (specs need every instance's ports). */
interface Placement {
  name: string;
  index: number;
  ports: Record<string, number>;
}

interface BuildContext {
  settings: ClusterSettings;
  profile: Profile;
  root: string;
  placements: Map<string, Placement[]>;
  cluster: ComponentEnvironment;
  token: string;
}

interface ComponentDef {
  component: string;
  tier: number;
  /** How many instances the profile asks for. */
  count(profile: Profile): number;
  /** Port offsets from the port base for instance 0, by port name. */
  portOffsets: Record<string, number>;
  instanceName?(index: number): string;
  build(p: Placement, ctx: BuildContext): ProcessSpec;
}

function etcdPorts(ctx: BuildContext): EtcdMemberPorts[] {
  return (ctx.placements.get('etcd') ?? []).map((p) => ({ name: p.name, clientPort: p.ports.client, peerPort: p.ports.peer }));
}

function natsPorts(ctx: BuildContext): NatsServerPorts[] {
  return (ctx.placements.get('nats') ?? []).map((p) => ({
    name: p.name,
    clientPort: p.ports.client,
    routePort: p.ports.route,
    monitorPort: p.ports.monitor,
  }));
}

/**
 * A kubemu service whose health is grpc.health.v1 on its `health` port (named to it by
 * `healthVar`), with the component environment plus `env`. Every port of the placement is its own.
 */
function healthCheckedSpec(p: Placement, ctx: BuildContext, opts: { component: string; tier: number; healthVar: string; env?: Record<string, string> }): ProcessSpec {
  const address = `${HOST}:${p.ports.health}`;
  return nodeServiceSpec({
    name: p.name,
    component: opts.component,
    index: p.index,
    tier: opts.tier,
    main: `services/${opts.component}/main.ts`,
    ports: p.ports,
    address,
    env: { ...componentEnv(p.name, ctx.cluster), [opts.healthVar]: address, ...(opts.env ?? {}) },
    health: { kind: 'grpc', address },
    root: ctx.root,
  });
}

/** A leader-elected control-plane replica (kube-scheduler, kube-controller-manager). */
function leaderElectedSpec(p: Placement, ctx: BuildContext, component: string, healthVar: string): ProcessSpec {
  return healthCheckedSpec(p, ctx, { component, tier: 2, healthVar });
}

const COMPONENTS: ComponentDef[] = [
  {
    component: 'etcd',
    tier: 0,
    count: (p) => p.topology.etcdMembers,
    portOffsets: { client: 100, peer: 110 },
    build: (p, ctx) => {
      const members = etcdPorts(ctx);
      return etcdMemberSpec({
        member: members[p.index],
        index: p.index,
        members,
        dataDir: path.join(ctx.settings.stateDir, 'etcd', p.name),
        token: ctx.token,
      });
    },
  },
  {
    component: 'nats',
    tier: 0,
    count: (p) => p.topology.natsServers,
    portOffsets: { client: 200, route: 210, monitor: 220 },
    build: (p, ctx) => {
      const servers = natsPorts(ctx);
      return natsServerSpec({
        server: servers[p.index],
        index: p.index,
        servers,
        storeDir: path.join(ctx.settings.stateDir, 'nats', p.name),
        configFile: path.join(ctx.settings.stateDir, 'nats', `${p.name}.conf`),
      });
    },
  },
  {
    component: 'kube-apiserver',
    tier: 1,
    count: (p) => p.topology.apiservers,
    portOffsets: { grpc: 300, http: 400 },
    build: (p, ctx) =>
      apiserverSpec({ name: p.name, index: p.index, grpcPort: p.ports.grpc, httpPort: p.ports.http, cluster: ctx.cluster, root: ctx.root }),
  },
  {
    component: 'kube-scheduler',
    tier: 2,
    count: (p) => p.topology.schedulers ?? 0,
    portOffsets: { health: 500 },
    build: (p, ctx) => leaderElectedSpec(p, ctx, 'kube-scheduler', 'KUBEMU_SCHEDULER_HEALTH_LISTEN'),
  },
  {
    component: 'container-runtime',
    tier: 2,
    count: (p) => p.topology.nodes ?? 0,
    portOffsets: { grpc: 600 },
    instanceName: (i) => `container-runtime-${nodeName(i)}`,
    build: (p, ctx) => containerRuntimeSpec({ index: p.index, grpcPort: p.ports.grpc, podCIDR: nodePodCIDR(ctx.settings, p.index), cluster: ctx.cluster, root: ctx.root }),
  },
  {
    component: 'kubelet',
    tier: 3,
    count: (p) => p.topology.nodes ?? 0,
    portOffsets: { grpc: 700 },
    instanceName: (i) => `kubelet-${nodeName(i)}`,
    build: (p, ctx) => {
      const runtime = (ctx.placements.get('container-runtime') ?? [])[p.index];
      return kubeletSpec({
        index: p.index,
        grpcPort: p.ports.grpc,
        runtimeEndpoint: `${HOST}:${runtime.ports.grpc}`,
        podCIDR: nodePodCIDR(ctx.settings, p.index),
        resources: nodeResources(ctx.profile, nodeName(p.index)),
        cluster: ctx.cluster,
        root: ctx.root,
      });
    },
  },
  {
    component: 'kube-controller-manager',
    tier: 2,
    count: (p) => p.topology.controllerManagers ?? 0,
    portOffsets: { health: 800 },
    build: (p, ctx) => leaderElectedSpec(p, ctx, 'kube-controller-manager', 'KUBEMU_CONTROLLER_MANAGER_HEALTH_LISTEN'),
  },
  {
    component: 'kube-proxy',
    tier: 3,
    count: (p) => p.topology.nodes ?? 0,
    portOffsets: { health: 900, status: 910 },
    instanceName: (i) => `kube-proxy-${nodeName(i)}`,
    build: (p, ctx) =>
      healthCheckedSpec(p, ctx, {
        component: 'kube-proxy',
        tier: 3,
        healthVar: 'KUBEMU_PROXY_HEALTH_LISTEN',
        env: {
          KUBEMU_NODE_NAME: nodeName(p.index),
          KUBEMU_NODE_IP: clusterNodeIP(ctx.cluster.network!, p.index),
          KUBEMU_PROXY_STATUS_LISTEN: `${HOST}:${p.ports.status}`,
        },
      }),
  },
  {
    component: 'cluster-dns',
    tier: 4,
    count: (p) => p.topology.dns ?? 1,
    portOffsets: { health: 920, dns: 930 },
    build: (p, ctx) => healthCheckedSpec(p, ctx, { component: 'cluster-dns', tier: 4, healthVar: 'KUBEMU_DNS_HEALTH_LISTEN', env: { KUBEMU_DNS_LISTEN: `${HOST}:${p.ports.dns}` } }),
  },
  {
    component: 'ingress-controller',
    tier: 4,
    count: (p) => p.topology.ingressControllers ?? 1,
    portOffsets: { health: 940, http: 950, https: 960 },
    build: (p, ctx) =>
      healthCheckedSpec(p, ctx, {
        component: 'ingress-controller',
        tier: 4,
        healthVar: 'KUBEMU_INGRESS_HEALTH_LISTEN',
        env: { KUBEMU_INGRESS_HTTP_LISTEN: `${HOST}:${p.ports.http}`, KUBEMU_INGRESS_HTTPS_LISTEN: `${HOST}:${p.ports.https}` },
      }),
  },
];

/**
 * The whole cluster for `settings`. Pure: touches no file (see prepareStateDir). Throws when the
 * profile does not exist or asks for more instances of a component than its port block holds.
 */
export function buildTopology(settings: ClusterSettings, root: string = repoRoot()): Topology {
  const profile = loadProfile(settings.profile);
  const stateDir = path.resolve(settings.stateDir);
  const resolved: ClusterSettings = { ...settings, stateDir };

  const placements = new Map<string, Placement[]>();
  for (const def of COMPONENTS) {
    const count = def.count(profile);
    if (!Number.isInteger(count) || count < 0 || count > MAX_INSTANCES) {
      throw new Error(`kubemu: profile ${profile.name} asks for ${count} ${def.component} instances (0..${MAX_INSTANCES})`);
    }
    const list: Placement[] = [];
    for (let i = 0; i < count; i++) {
      const ports: Record<string, number> = {};
      for (const [portName, offset] of Object.entries(def.portOffsets)) ports[portName] = settings.portBase + offset + i;
      list.push({ name: def.instanceName ? def.instanceName(i) : `${def.component}-${i}`, index: i, ports });
    }
    placements.set(def.component, list);
  }

  const cluster: ComponentEnvironment = {
    profile: profile.name,
    stateDir,
    etcdEndpoints: (placements.get('etcd') ?? []).map((p) => `http://${HOST}:${p.ports.client}`),
    natsServers: (placements.get('nats') ?? []).map((p) => `nats://${HOST}:${p.ports.client}`),
    apiservers: (placements.get('kube-apiserver') ?? []).map((p) => `${HOST}:${p.ports.grpc}`),
    jetstreamReplicas: (placements.get('nats') ?? []).length >= 3 ? 3 : 1,
    network: clusterNetwork(settings),
  };
  const ctx: BuildContext = { settings: resolved, profile, root, placements, cluster, token: etcdClusterToken(stateDir) };

  const processes: ProcessSpec[] = [];
  for (const def of COMPONENTS) {
    for (const p of placements.get(def.component) ?? []) {
      const spec = def.build(p, ctx);
      processes.push({ ...spec, tier: def.tier });
    }
  }
  processes.sort((a, b) => a.tier - b.tier);

  return {
    settings: resolved,
    profile,
    repoRoot: root,
    logDir: path.join(stateDir, 'logs'),
    processes,
    etcdEndpoints: cluster.etcdEndpoints,
    natsServers: cluster.natsServers,
    apiservers: cluster.apiservers,
    jetstreamReplicas: cluster.jetstreamReplicas,
    network: cluster.network!,
  };
}

/** Every port the topology listens on, for checking that they are free. */
export function allPorts(topology: Topology): number[] {
  return topology.processes.flatMap((p) => Object.values(p.ports));
}

// ---------------------------------------------------------------------------------------------
// Settings and the state folder

function readSettingsFile(stateDir: string): ClusterSettings | undefined {
  const file = path.join(stateDir, SETTINGS_FILE);
  if (!fs.existsSync(file)) return undefined;
  const recorded = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ClusterSettings>;
  if (typeof recorded.portBase !== 'number' || typeof recorded.profile !== 'string') {
    throw new Error(`kubemu: ${file} is not a kubemu settings file`);
  }
  return { stateDir, portBase: recorded.portBase, profile: recorded.profile };
}

/**
 * The cluster settings from KUBEMU_STATE_DIR (default <repo>/.kubemu), KUBEMU_PORT_BASE (default
 * 20000) and KUBEMU_PROFILE (default demo). A state folder remembers the port base and profile it
 * was created with (etcd stores its members' peer URLs in its data), so those win over the
 * defaults; a variable that contradicts them throws SettingsConflictError.
 */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env, root?: string): ClusterSettings {
  const stateDir = path.resolve(env.KUBEMU_STATE_DIR || path.join(root ?? repoRoot(), '.kubemu'));
  const envBase = env.KUBEMU_PORT_BASE ? Number(env.KUBEMU_PORT_BASE) : undefined;
  if (envBase !== undefined && (!Number.isInteger(envBase) || envBase < 1024 || envBase > 65000)) {
    throw new Error(`kubemu: KUBEMU_PORT_BASE=${env.KUBEMU_PORT_BASE} is not a port between 1024 and 65000`);
  }
  const envProfile = env.KUBEMU_PROFILE || undefined;
  const recorded = readSettingsFile(stateDir);
  if (recorded) {
    const conflicts: string[] = [];
    if (envBase !== undefined && envBase !== recorded.portBase) conflicts.push(`KUBEMU_PORT_BASE=${envBase} (created with ${recorded.portBase})`);
    if (envProfile !== undefined && envProfile !== recorded.profile) conflicts.push(`KUBEMU_PROFILE=${envProfile} (created with ${recorded.profile})`);
    if (conflicts.length > 0) {
      throw new SettingsConflictError(
        `kubemu: the state folder ${stateDir} was created with other settings: ${conflicts.join(', ')}. ` +
          `Unset the variable, or wipe the cluster with 'npm run reset' first.`,
      );
    }
    return recorded;
  }
  return { stateDir, portBase: envBase ?? DEFAULT_PORT_BASE, profile: envProfile ?? DEFAULT_PROFILE };
}

/**
 * Creates the state folder's directories and configuration files and records the settings on
 * first use. Idempotent; never touches existing data. Not safe to call concurrently for the
 * same folder from two processes (last writer of a config file wins, with the same content).
 */
export function prepareStateDir(topology: Topology): void {
  const { stateDir } = topology.settings;
  fs.mkdirSync(topology.logDir, { recursive: true });
  const settingsFile = path.join(stateDir, SETTINGS_FILE);
  if (!fs.existsSync(settingsFile)) {
    const { portBase, profile } = topology.settings;
    fs.writeFileSync(settingsFile, JSON.stringify({ portBase, profile }, null, 2) + '\n');
  }
  for (const p of topology.processes) {
    for (const dir of p.dirs) fs.mkdirSync(dir, { recursive: true });
    for (const f of p.files) writeIfChanged(f.path, f.content);
  }
}

function writeIfChanged(file: string, content: string): void {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === content) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}

/** Log files of a process under pm2: stdout and stderr. */
export function logFiles(topology: Topology, name: string): { out: string; err: string } {
  return { out: path.join(topology.logDir, `${name}.out.log`), err: path.join(topology.logDir, `${name}.err.log`) };
}
