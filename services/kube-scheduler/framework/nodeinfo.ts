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

function recompute(info: NodeInfo): void {
  info.requested = { milliCPU: 0, memory: 0 };
  info.nonZeroRequested = { milliCPU: 0, memory: 0 };
  info.usedPorts = [];
  for (const p of info.pods.values()) {
    const r = podRequest(p);
    const nz = podRequest(p, true);
    info.requested.milliCPU += r.milliCPU;
    info.requested.memory += r.memory;
    info.nonZeroRequested.milliCPU += nz.milliCPU;
    info.nonZeroRequested.memory += nz.memory;
    info.usedPorts.push(...podHostPorts(p));
  }
}

/** Adds (or replaces, by key) a pod and updates the sums. Mutates info. */
export function addPod(info: NodeInfo, pod: Pod): void {
  const key = podKey(pod);
  if (info.pods.has(key)) {
    info.pods.set(key, pod);
    recompute(info);
    return;
  }
  info.pods.set(key, pod);
  const r = podRequest(pod);
  const nz = podRequest(pod, true);
  info.requested.milliCPU += r.milliCPU;
  info.requested.memory += r.memory;
  info.nonZeroRequested.milliCPU += nz.milliCPU;
  info.nonZeroRequested.memory += nz.memory;
  info.usedPorts.push(...podHostPorts(pod));
}

/** Removes a pod by key; returns whether it was there. Mutates info. */
export function removePod(info: NodeInfo, pod: Pod | string): boolean {
  const key = typeof pod === 'string' ? pod : podKey(pod);
  if (!info.pods.delete(key)) return false;
  recompute(info);
  return true;
}
