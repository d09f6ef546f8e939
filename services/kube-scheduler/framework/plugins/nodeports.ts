/** NodePorts (pkg/scheduler/framework/plugins/nodeports): a requested host port must be free on the node; 0.0.0.0 conflicts with every IP. */
import { podHostPorts } from '../nodeinfo';
import type { FilterPlugin, HostPort } from '../types';

export const ERR_REASON_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports";

function conflicts(a: HostPort, b: HostPort): boolean {
  if (a.port !== b.port || a.protocol !== b.protocol) return false;
  return a.ip === '0.0.0.0' || b.ip === '0.0.0.0' || a.ip === b.ip;
}

export const nodePorts: FilterPlugin = {
  name: 'NodePorts',
  applies: (pod) => podHostPorts(pod).length > 0,
  filter(pod, nodeInfo) {
    const want = podHostPorts(pod);
    if (want.length === 0) return undefined;
    for (const w of want) {
      if (nodeInfo.usedPorts.some((u) => conflicts(w, u))) return [ERR_REASON_NODE_PORTS];
    }
    return undefined;
  },
};
