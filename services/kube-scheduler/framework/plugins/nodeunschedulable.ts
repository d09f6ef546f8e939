/** NodeUnschedulable (pkg/scheduler/framework/plugins/nodeunschedulable): a cordoned node takes only pods tolerating node.kubernetes.io/unschedulable:NoSchedule. */
import { tolerationsTolerateTaint } from './tainttoleration';
import type { FilterPlugin } from '../types';

export const ERR_REASON_UNSCHEDULABLE = 'node(s) were unschedulable';
export const TAINT_NODE_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';

export const nodeUnschedulable: FilterPlugin = {
  name: 'NodeUnschedulable',
  filter(pod, nodeInfo) {
    if (!nodeInfo.node.spec?.unschedulable) return undefined;
    const tolerated = tolerationsTolerateTaint(pod.spec?.tolerations, { key: TAINT_NODE_UNSCHEDULABLE, effect: 'NoSchedule' });
    return tolerated ? undefined : [ERR_REASON_UNSCHEDULABLE];
  },
};
