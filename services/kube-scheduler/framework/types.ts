/**
 * The scheduling framework's shapes (k8s.io/kubernetes pkg/scheduler/framework):
 * a filter answers whether a pod may run on a node, a score ranks the nodes
 * that passed. Plugins here are pure and synchronous: they read plain API
 * objects and a NodeInfo snapshot and never mutate either.
 */
import type { Node, Pod } from '../../lib/generated/kubemu/core/v1/core';

/** cpu in millicores, memory in bytes, as Kubernetes' framework.Resource. */
export interface Resource {
  milliCPU: number;
  memory: number;
}

/** A host port in use on a node: ip (0.0.0.0 = all), protocol, port. */
export interface HostPort {
  ip: string;
  protocol: string;
  port: number;
}

/**
 * What the scheduler knows about one node: the node and every pod assigned
 * to it, including pods it has assumed but not yet seen bound. The sums are
 * kept in step with `pods` by addPod/removePod (nodeinfo.ts).
 */
export interface NodeInfo {
  node: Node;
  /** Keyed by podKey (namespace/name). */
  pods: Map<string, Pod>;
  /** Sum of the pods' requests as computePodResourceRequest counts them. */
  requested: Resource;
  /** As requested, but a container without a request counts the defaults (100m, 200Mi), as scoring does. */
  nonZeroRequested: Resource;
  usedPorts: HostPort[];
}

/** A filter's verdict on one node: undefined = fits, otherwise Kubernetes' reason strings. */
export type FilterResult = string[] | undefined;

/** A filter plugin (Kubernetes' FilterPlugin). Must not mutate its arguments. */
export interface FilterPlugin {
  name: string;
  /**
   * PreFilter: false when the filter passes every node for this pod (e.g. no host ports asked
   * for), so the cycle leaves it out (Kubernetes' PreFilter returning Skip). Absent = always run.
   */
  applies?(pod: Pod): boolean;
  filter(pod: Pod, nodeInfo: NodeInfo): FilterResult;
}

/**
 * A score plugin (ScorePlugin + ScoreExtensions). score() gives a raw score
 * for one node; normalize(), if present, maps the raw scores of all
 * feasible nodes onto 0..100 in place.
 */
export interface ScorePlugin {
  name: string;
  /**
   * PreScore: false when the plugin has nothing to say about this pod (e.g. no preferred
   * affinity terms), so every node would score 0 after normalize; the cycle then skips it
   * (Kubernetes' PreScore returning Skip). Absent = always scored.
   */
  applies?(pod: Pod): boolean;
  score(pod: Pod, nodeInfo: NodeInfo, all: readonly NodeInfo[]): number;
  normalize?(pod: Pod, scores: number[]): void;
}

export const MAX_NODE_SCORE = 100;
