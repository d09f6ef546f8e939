import * as fs from 'fs';
import * as path from 'path';

/** Kubernetes timing knobs; see deploy/profiles/*.json. */
export interface Timings {
  leaderLeaseDurationSeconds: number;
  leaderRenewDeadlineSeconds: number;
  leaderRetryPeriodSeconds: number;
  nodeLeaseDurationSeconds: number;
  nodeLeaseRenewSeconds: number;
  nodeStatusUpdateSeconds: number;
  nodeMonitorGracePeriodSeconds: number;
  podEvictionTimeoutSeconds: number;
  crashLoopBackoffInitialSeconds: number;
  crashLoopBackoffMaxSeconds: number;
}

/** What a node offers to pods: Kubernetes quantities (cpu "4", memory "8Gi") and a pod count. */
export interface NodeResources {
  cpu: string;
  memory: string;
  pods: number;
}

export const DEFAULT_NODE_RESOURCES: NodeResources = { cpu: '4', memory: '8Gi', pods: 110 };

export interface Profile {
  name: string;
  description: string;
  topology: { etcdMembers: number; natsServers: number; apiservers: number; schedulers: number; controllerManagers?: number; nodes?: number; dns?: number; ingressControllers?: number };
  timings: Timings;
  /** Every node's capacity (default DEFAULT_NODE_RESOURCES), and per-node overrides by node name. */
  nodeResources?: Partial<NodeResources>;
  nodeOverrides?: Record<string, Partial<NodeResources>>;
}

/** The settings every component reads from its environment (set by deploy/ecosystem.config.js or a test harness). */
export interface ComponentConfig {
  /** This process's identity, e.g. kube-apiserver-0; used as leader-election holder identity. */
  componentId: string;
  profile: Profile;
  stateDir: string;
  /** etcd client URLs (only the apiserver uses them). */
  etcdEndpoints: string[];
  /** NATS server URLs. */
  natsServers: string[];
  /** Every apiserver gRPC address (host:port); clients fail over between them. */
  apiservers: string[];
  /** Replicas of the JetStream watch stream (1 for a single nats-server, 3 for the cluster). */
  jetstreamReplicas: number;
}

/** Repository root, found from this file's location in either the source tree or dist/. */
export function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('kubemu: cannot find the repository root from ' + __dirname);
    dir = parent;
  }
  return dir;
}

/** Loads a timing profile by name from deploy/profiles. Throws when it does not exist. */
export function loadProfile(name: string): Profile {
  const file = path.join(repoRoot(), 'deploy', 'profiles', `${name}.json`);
  if (!fs.existsSync(file)) {
    throw new Error(`kubemu: unknown profile "${name}" (no ${file})`);
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/**
 * Reads the component configuration from environment variables:
 * KUBEMU_COMPONENT_ID, KUBEMU_PROFILE (default demo), KUBEMU_STATE_DIR (default .kubemu),
 * KUBEMU_ETCD_ENDPOINTS, KUBEMU_NATS_SERVERS, KUBEMU_APISERVERS (comma-separated),
 * KUBEMU_JETSTREAM_REPLICAS (default 1).
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env, defaultId = 'kubemu'): ComponentConfig {
  return {
    componentId: env.KUBEMU_COMPONENT_ID || defaultId,
    profile: loadProfile(env.KUBEMU_PROFILE || 'demo'),
    stateDir: env.KUBEMU_STATE_DIR || path.join(repoRoot(), '.kubemu'),
    etcdEndpoints: list(env.KUBEMU_ETCD_ENDPOINTS),
    natsServers: list(env.KUBEMU_NATS_SERVERS),
    apiservers: list(env.KUBEMU_APISERVERS),
    jetstreamReplicas: Number(env.KUBEMU_JETSTREAM_REPLICAS || '1'),
  };
}

/**
 * A duration in milliseconds from the environment variable `name`: undefined when unset or
 * empty; a positive integer otherwise, or an error naming the variable (the start fails).
 */
export function durationMsFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms <= 0) throw new Error(`${name}: must be a positive whole number of milliseconds, got ${JSON.stringify(raw)}`);
  return ms;
}
