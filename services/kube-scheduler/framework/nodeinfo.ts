/**
 * NodeInfo: the scheduler's per-node aggregate (pkg/scheduler/framework.NodeInfo).
 * The caller owns a NodeInfo and keeps it current with addPod/removePod,
 * including assumed pods; plugins only read it.
 */
import type { Node, Pod } from '../../lib/generated/kubemu/core/v1/core';
import { podRequest } from './resources';
import type { HostPort, NodeInfo } from './types';

/** namespace/name, the key NodeInfo.pods uses. */
export function podKey(pod: Pod): string {
  return `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

const hostPorts = new WeakMap<Pod, HostPort[]>();

/**
 * The host ports a pod asks for (containers' ports with hostPort > 0), with Kubernetes' defaults
 * (ip 0.0.0.0, protocol TCP). Computed once per pod object (the NodePorts filter asks for every
 * node): the pod must not be mutated afterwards, nor the result.
 */
export function podHostPorts(pod: Pod): HostPort[] {
  let cached = hostPorts.get(pod);
  if (!cached) hostPorts.set(pod, (cached = computeHostPorts(pod)));
  return cached;
}

function computeHostPorts(pod: Pod): HostPort[] {
  const out: HostPort[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort || p.hostPort <= 0) continue;
      out.push({ ip: p.hostIP || '0.0.0.0', protocol: p.protocol || 'TCP', port: p.hostPort });
    }
  }
  return out;
}

/** A NodeInfo for node holding pods (each counted once by key). */
export function newNodeInfo(node: Node, pods: Iterable<Pod> = []): NodeInfo {
  const info: NodeInfo = {
    node,
    pods: new Map(),
    requested: { milliCPU: 0, memory: 0 },
    nonZeroRequested: { milliCPU: 0, memory: 0 },
    usedPorts: [],
  };
  for (const p of pods) addPod(info, p);
  return info;
}

function recomputePorts(info: NodeInfo): void {
  info.usedPorts = [];
  for (const p of info.pods.values()) info.usedPorts.push(...podHostPorts(p));
}

/**
 * Adds (or replaces, by key) a pod and updates the sums. Mutates info. Incremental (O(1) unless
 * host ports are involved): informer updates of bound pods replace pods all the time.
 */
export function addPod(info: NodeInfo, pod: Pod): void {
  removePod(info, podKey(pod));
  info.pods.set(podKey(pod), pod);
  const r = podRequest(pod);
  const nz = podRequest(pod, true);
  info.requested.milliCPU += r.milliCPU;
  info.requested.memory += r.memory;
  info.nonZeroRequested.milliCPU += nz.milliCPU;
  info.nonZeroRequested.memory += nz.memory;
  info.usedPorts.push(...podHostPorts(pod));
}

/** Removes a pod by key; returns whether it was there. Mutates info. Incremental, as addPod. */
export function removePod(info: NodeInfo, pod: Pod | string): boolean {
  const key = typeof pod === 'string' ? pod : podKey(pod);
  const old = info.pods.get(key);
  if (!old) return false;
  info.pods.delete(key);
  // Requests are integers (millicores, bytes): subtracting is exact.
  const r = podRequest(old);
  const nz = podRequest(old, true);
  info.requested.milliCPU -= r.milliCPU;
  info.requested.memory -= r.memory;
  info.nonZeroRequested.milliCPU -= nz.milliCPU;
  info.nonZeroRequested.memory -= nz.memory;
  if (podHostPorts(old).length) recomputePorts(info);
  return true;
}
