/**
 * The scheduler's view of what runs where (pkg/scheduler/internal/cache): a NodeInfo per node,
 * built from the informers' bound pods plus the pods this scheduler has assumed but not yet
 * seen bound. An assumed pod counts against its node at once, so the next cycle does not
 * place a second pod into the same room; it is forgotten when its binding fails, confirmed
 * when the informer shows it bound, and expired when it is neither some time after binding.
 * Single-threaded; no method awaits.
 */
import type { Node, Pod } from '../lib/generated/kubemu/core/v1/core';
import { addPod, newNodeInfo, podKey, removePod } from './framework/nodeinfo';
import type { NodeInfo } from './framework/types';

interface PodState {
  pod: Pod;
  nodeName: string;
  assumed: boolean;
  /** Set when an assumed pod's binding finished: it expires after this time unless confirmed. */
  deadline?: number;
}

/** Whether a pod no longer occupies its node (terminal phase); kube-scheduler's informer filters these out. */
export function isTerminal(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

export class SchedulerCache {
  private readonly nodes = new Map<string, NodeInfo>();
  private readonly pods = new Map<string, PodState>();
  /** nodeInfos() as last built; dropped when a node comes or goes (not when one changes in place). */
  private list?: NodeInfo[];

  constructor(private readonly assumedTtlMs: number, private readonly now: () => number = Date.now) {}

  /**
   * The NodeInfos of every known node, in a stable order, for one scheduling cycle. The array is
   * reused between cycles until a node is added or removed (a cycle would otherwise allocate one
   * per pod): neither it nor its NodeInfos may be mutated by the caller.
   */
  nodeInfos(): readonly NodeInfo[] {
    return (this.list ??= [...this.nodes.values()]);
  }

  nodeCount(): number {
    return this.nodes.size;
  }

  isAssumed(key: string): boolean {
    return this.pods.get(key)?.assumed === true;
  }

  /** Adds or replaces a node, keeping the pods already known on it. */
  setNode(node: Node): void {
    const name = node.metadata?.name ?? '';
    const info = this.nodes.get(name);
    if (info) {
      info.node = node;
      return;
    }
    const pods: Pod[] = [];
    for (const s of this.pods.values()) if (s.nodeName === name) pods.push(s.pod);
    this.nodes.set(name, newNodeInfo(node, pods));
    this.list = undefined;
  }

  removeNode(name: string): void {
    if (this.nodes.delete(name)) this.list = undefined;
  }

  /** Records the scheduling decision: pod counts against nodeName from now on. */
  assume(pod: Pod, nodeName: string): void {
    const key = podKey(pod);
    this.removeFromNode(key);
    const assumed: Pod = { ...pod, spec: { ...pod.spec, nodeName } };
    this.pods.set(key, { pod: assumed, nodeName, assumed: true });
    const info = this.nodes.get(nodeName);
    if (info) addPod(info, assumed);
  }

  /** The binding call returned: the assumed pod now expires if the informer never confirms it. */
  finishBinding(key: string): void {
    const s = this.pods.get(key);
    if (s?.assumed) s.deadline = this.now() + this.assumedTtlMs;
  }

  /** The binding failed: the assumption is undone. A pod already confirmed is left alone. */
  forget(key: string): void {
    const s = this.pods.get(key);
    if (!s?.assumed) return;
    this.removeFromNode(key);
    this.pods.delete(key);
  }

  /** A bound pod as the informer shows it (add or update); confirms an assumed pod. Terminal pods are removed. */
  setPod(pod: Pod): void {
    const key = podKey(pod);
    const nodeName = pod.spec?.nodeName ?? '';
    if (!nodeName || isTerminal(pod)) {
      if (!this.pods.get(key)?.assumed) this.removePod(key);
      return;
    }
    this.removeFromNode(key);
    this.pods.set(key, { pod, nodeName, assumed: false });
    const info = this.nodes.get(nodeName);
    if (info) addPod(info, pod);
  }

  removePod(key: string): void {
    this.removeFromNode(key);
    this.pods.delete(key);
  }

  /** Drops assumed pods whose binding finished more than the TTL ago and were never confirmed; returns their keys. */
  cleanupExpired(): string[] {
    const now = this.now();
    const expired: string[] = [];
    for (const [key, s] of this.pods) {
      if (s.assumed && s.deadline !== undefined && s.deadline <= now) expired.push(key);
    }
    for (const key of expired) this.removePod(key);
    return expired;
  }

  private removeFromNode(key: string): void {
    const s = this.pods.get(key);
    if (!s) return;
    const info = this.nodes.get(s.nodeName);
    if (info) removePod(info, key);
  }
}
