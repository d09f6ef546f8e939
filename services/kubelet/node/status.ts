/**
 * The Node object a kubelet registers and the status it reports (k8s pkg/kubelet/kubelet_node_status.go
 * and pkg/kubelet/nodestatus/setters.go), as pure functions of the node's description and the clock,
 * so they can be tested without an apiserver. Nothing here writes to the API.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import type { NodeResources } from '../../lib/config';
import type { ContainerImage, Node, NodeCondition, NodeStatus } from '../../lib/generated/kubemu/core/v1/core';
import { formatTime } from '../../lib/time';

/** What kubelet and kube-proxy report as their versions (the Kubernetes release kubemu follows). */
export const KUBELET_VERSION = 'v1.32.0';

/** Well-known node labels (k8s.io/api/core/v1 well_known_labels.go). */
export const LABEL_HOSTNAME = 'kubernetes.io/hostname';
export const LABEL_OS = 'kubernetes.io/os';
export const LABEL_ARCH = 'kubernetes.io/arch';
export const LABEL_OS_BETA = 'beta.kubernetes.io/os';
export const LABEL_ARCH_BETA = 'beta.kubernetes.io/arch';

/** The Ready condition's verdict, from the kubelet's own health (runtime answering, network ready...). */
export interface NodeHealth {
  ready: boolean;
  /** Reason when not ready (default KubeletNotReady, as Kubernetes). */
  reason?: string;
  /** Message when not ready, e.g. "container runtime is down". */
  message?: string;
}

/** Which pressure conditions are True now; absent means False. */
export interface NodePressure {
  memory?: boolean;
  disk?: boolean;
  pid?: boolean;
}

/** Everything that makes up a node's registration and status, apart from the clock. */
export interface NodeDescription {
  nodeName: string;
  nodeIP: string;
  podCIDR: string;
  resources: NodeResources;
  /** Labels on top of the default ones (hostname, os, arch). */
  labels?: Record<string, string>;
  /** status.daemonEndpoints.kubeletEndpoint.Port. */
  kubeletPort: number;
  images?: ContainerImage[];
  /** e.g. kubemu://0.1.0 */
  runtimeVersion: string;
  /** Capacity of ephemeral-storage as a quantity; default: the size of the file system holding the temp folder. */
  ephemeralStorage?: string;
}

/** Kubernetes' GOARCH name for this process's architecture (amd64, arm64, ...). */
export function goArch(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[arch] ?? arch;
}

/** The labels a kubelet puts on its Node (kubelet's initialNode): hostname, os and arch, GA and beta forms. */
export function defaultNodeLabels(nodeName: string): Record<string, string> {
  const arch = goArch();
  return { [LABEL_HOSTNAME]: nodeName, [LABEL_OS]: 'linux', [LABEL_ARCH]: arch, [LABEL_OS_BETA]: 'linux', [LABEL_ARCH_BETA]: arch };
}

function digest(salt: string, nodeName: string): string {
  return crypto.createHash('sha256').update(`kubemu/${salt}/${nodeName}`).digest('hex');
}

function uuidForm(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * machineID, systemUUID and bootID of a node. All nodes share one host, so they are derived from
 * the node name: stable across kubelet restarts (as on a real machine that did not reboot) and
 * distinct between nodes. machineID is 32 hex digits like /etc/machine-id, the others UUIDs.
 */
export function machineIdentity(nodeName: string): { machineID: string; systemUUID: string; bootID: string } {
  return {
    machineID: digest('machine-id', nodeName).slice(0, 32),
    systemUUID: uuidForm(digest('system-uuid', nodeName)),
    bootID: uuidForm(digest('boot-id', nodeName)),
  };
}

let cachedOsImage: string | undefined;
/** PRETTY_NAME from /etc/os-release (what kubectl shows as OS-IMAGE); "Linux" when unreadable. Cached. */
export function osImage(): string {
  if (cachedOsImage !== undefined) return cachedOsImage;
  cachedOsImage = 'Linux';
  try {
    const m = /^PRETTY_NAME=(.*)$/m.exec(fs.readFileSync('/etc/os-release', 'utf8'));
    if (m) cachedOsImage = m[1].trim().replace(/^"(.*)"$/, '$1');
  } catch {
    // Not every system has /etc/os-release; the generic name will do.
  }
  return cachedOsImage;
}

let cachedStorage: string | undefined;
/** The size of the file system holding the temp folder, in Ki (the kubelet reports its rootfs capacity). Cached. */
export function hostEphemeralStorage(): string {
  if (cachedStorage !== undefined) return cachedStorage;
  cachedStorage = '100Gi';
  try {
    const st = fs.statfsSync(os.tmpdir());
    cachedStorage = `${Math.floor((st.blocks * st.bsize) / 1024)}Ki`;
  } catch {
    // statfs is missing on some platforms; a fixed size is as good for the scheduler.
  }
  return cachedStorage;
}

/** capacity (= allocatable: kubemu reserves nothing for system daemons) of cpu, memory, pods and ephemeral-storage. */
export function nodeCapacity(d: NodeDescription): Record<string, string> {
  return {
    cpu: d.resources.cpu,
    memory: d.resources.memory,
    pods: String(d.resources.pods),
    'ephemeral-storage': d.ephemeralStorage ?? hostEphemeralStorage(),
  };
}

interface ConditionVerdict {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
}

/** The four conditions a kubelet sets, in Kubernetes' order and words (nodestatus setters). */
export function conditionVerdicts(health: NodeHealth, pressure: NodePressure = {}): ConditionVerdict[] {
  return [
    pressure.memory
      ? { type: 'MemoryPressure', status: 'True', reason: 'KubeletHasInsufficientMemory', message: 'kubelet has insufficient memory available' }
      : { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available' },
    pressure.disk
      ? { type: 'DiskPressure', status: 'True', reason: 'KubeletHasDiskPressure', message: 'kubelet has disk pressure' }
      : { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure' },
    pressure.pid
      ? { type: 'PIDPressure', status: 'True', reason: 'KubeletHasInsufficientPID', message: 'kubelet has insufficient PID available' }
      : { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available' },
    health.ready
      ? { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }
      : { type: 'Ready', status: 'False', reason: health.reason || 'KubeletNotReady', message: health.message || 'kubelet is not ready' },
  ];
}

/**
 * The conditions to report at `now`, given the ones reported before: lastHeartbeatTime is `now`
 * on every condition; lastTransitionTime moves only when a condition's status changes (as the
 * setters do), so a reason or message change alone keeps it. Conditions of other types (set by
 * others, e.g. NetworkUnavailable) are kept unchanged after ours. Pure.
 */
export function nextConditions(previous: NodeCondition[] | undefined, health: NodeHealth, pressure: NodePressure, now: number): NodeCondition[] {
  const at = formatTime(now);
  const prev = new Map((previous ?? []).map((c) => [c.type ?? '', c]));
  const ours = conditionVerdicts(health, pressure).map((v): NodeCondition => {
    const old = prev.get(v.type);
    return {
      type: v.type,
      status: v.status,
      lastHeartbeatTime: at,
      lastTransitionTime: old && old.status === v.status && old.lastTransitionTime ? old.lastTransitionTime : at,
      reason: v.reason,
      message: v.message,
    };
  });
  const ourTypes = new Set(ours.map((c) => c.type));
  return [...ours, ...(previous ?? []).filter((c) => !ourTypes.has(c.type))];
}

/** The node's status at `now`, carrying transition times over from `previous` (the status currently stored). Pure. */
export function desiredNodeStatus(d: NodeDescription, health: NodeHealth, pressure: NodePressure, previous: NodeStatus | undefined, now: number): NodeStatus {
  const capacity = nodeCapacity(d);
  return {
    ...previous,
    capacity,
    allocatable: { ...capacity },
    conditions: nextConditions(previous?.conditions, health, pressure, now),
    addresses: [
      { type: 'InternalIP', address: d.nodeIP },
      { type: 'Hostname', address: d.nodeName },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: d.kubeletPort } },
    nodeInfo: {
      ...machineIdentity(d.nodeName),
      kernelVersion: os.release(),
      osImage: osImage(),
      containerRuntimeVersion: d.runtimeVersion,
      kubeletVersion: KUBELET_VERSION,
      kubeProxyVersion: KUBELET_VERSION,
      operatingSystem: 'linux',
      architecture: goArch(),
    },
    images: (d.images ?? []).map((i) => ({ names: [...(i.names ?? [])], sizeBytes: i.sizeBytes })),
  };
}

/** The Node a kubelet registers (kubelet's initialNode plus its first status). Pure. */
export function initialNode(d: NodeDescription, health: NodeHealth, pressure: NodePressure, now: number): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: d.nodeName, labels: { ...defaultNodeLabels(d.nodeName), ...(d.labels ?? {}) } },
    spec: { podCIDR: d.podCIDR, podCIDRs: [d.podCIDR] },
    status: desiredNodeStatus(d, health, pressure, undefined, now),
  };
}

/**
 * The Node to write back when a kubelet finds its Node already registered (a restart): spec
 * (taints, unschedulable, podCIDR once set) and labels stay as others left them; default labels
 * that are missing are added and a missing podCIDR is filled in. Returns undefined when nothing
 * needs writing. Pure.
 */
export function reconcileExistingNode(existing: Node, d: NodeDescription): Node | undefined {
  const labels = { ...(existing.metadata?.labels ?? {}) };
  let changed = false;
  for (const [k, v] of Object.entries({ ...defaultNodeLabels(d.nodeName), ...(d.labels ?? {}) })) {
    if (labels[k] === undefined) {
      labels[k] = v;
      changed = true;
    }
  }
  const spec = { ...(existing.spec ?? {}) };
  if (!spec.podCIDR) {
    spec.podCIDR = d.podCIDR;
    spec.podCIDRs = [d.podCIDR];
    changed = true;
  }
  return changed ? { ...existing, metadata: { ...existing.metadata, labels }, spec } : undefined;
}

/** JSON with sorted keys, leaving out what the API treats as unset (undefined, '', [], {}). */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) {
    const a = v.map(canonical).filter((x) => x !== undefined);
    return a.length ? a : undefined;
  }
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const c = canonical((v as Record<string, unknown>)[k]);
      if (c !== undefined) out[k] = c;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return v === '' ? undefined : v;
}

function withoutHeartbeats(s: NodeStatus | undefined): string {
  if (!s) return 'null';
  const conditions = (s.conditions ?? []).map((c) => ({ ...c, lastHeartbeatTime: undefined }));
  return JSON.stringify(canonical({ ...s, conditions }) ?? null);
}

/**
 * Whether two statuses differ in anything but heartbeat times (k8s nodeStatusHasChanged): a
 * condition's status, reason, message or transition, addresses, capacity, images... Pure.
 */
export function nodeStatusChanged(a: NodeStatus | undefined, b: NodeStatus | undefined): boolean {
  return withoutHeartbeats(a) !== withoutHeartbeats(b);
}

/** When the Ready condition was last reported (epoch ms), or 0. Pure. */
export function lastHeartbeat(s: NodeStatus | undefined): number {
  const ready = s?.conditions?.find((c) => c.type === 'Ready');
  const t = ready?.lastHeartbeatTime ? Date.parse(ready.lastHeartbeatTime) : NaN;
  return Number.isFinite(t) ? t : 0;
}
