/** The container runtime's settings, from the environment that topology.containerRuntimeSpec sets. */

export interface RuntimeConfig {
  /** KUBEMU_NODE_NAME (default node-1). */
  nodeName: string;
  /** KUBEMU_NODE_INDEX (default 0): selects the node's pod range 127.(10+i).0.0/16. */
  nodeIndex: number;
  /** KUBEMU_POD_CIDR: an explicit pod range overriding the node index's (tests use a random /24 in 127.64.0.0/10). */
  podCIDR?: string;
  /** KUBEMU_RUNTIME_LISTEN host:port (default 127.0.0.1:0). */
  listen: string;
  /** KUBEMU_RUNTIME_ROOT: the state folder (default ./.kubemu-runtime). */
  root: string;
  componentId: string;
}

/** Reads the config. Throws an Error naming the variable when one is malformed. */
export function runtimeConfigFromEnv(env: NodeJS.ProcessEnv): RuntimeConfig {
  const nodeIndex = Number(env.KUBEMU_NODE_INDEX ?? '0');
  if (!Number.isInteger(nodeIndex) || nodeIndex < 0) throw new Error(`KUBEMU_NODE_INDEX=${env.KUBEMU_NODE_INDEX} is not a non-negative integer`);
  const nodeName = env.KUBEMU_NODE_NAME || `node-${nodeIndex + 1}`;
  return {
    nodeName,
    nodeIndex,
    podCIDR: env.KUBEMU_POD_CIDR || undefined,
    listen: env.KUBEMU_RUNTIME_LISTEN || '127.0.0.1:0',
    root: env.KUBEMU_RUNTIME_ROOT || '.kubemu-runtime',
    componentId: env.KUBEMU_COMPONENT_ID || `container-runtime-${nodeName}`,
  };
}
