/** NodeName (pkg/scheduler/framework/plugins/nodename): a pod naming a node fits only that node. */
import type { FilterPlugin } from '../types';

export const ERR_REASON_NODE_NAME = "node(s) didn't match the requested node name";

export const nodeName: FilterPlugin = {
  name: 'NodeName',
  applies: (pod) => !!pod.spec?.nodeName,
  filter(pod, nodeInfo) {
    const want = pod.spec?.nodeName;
    if (!want || want === nodeInfo.node.metadata?.name) return undefined;
    return [ERR_REASON_NODE_NAME];
  },
};
