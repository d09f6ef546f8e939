/** The scheduling framework: NodeInfo, the default plugins and schedulePod. */
export * from './types';
export * from './resources';
export * from './nodeinfo';
export * from './registry';
export * from './schedule';
export { ERR_REASON_UNSCHEDULABLE } from './plugins/nodeunschedulable';
export { ERR_REASON_NODE_NAME } from './plugins/nodename';
export { ERR_REASON_NODE_PORTS } from './plugins/nodeports';
export { ERR_REASON_POD } from './plugins/nodeaffinity';
export { ERR_REASON_INSUFFICIENT_CPU, ERR_REASON_INSUFFICIENT_MEMORY, ERR_REASON_TOO_MANY_PODS } from './plugins/noderesources';
export { toleratesTaint, tolerationsTolerateTaint, untoleratedTaintReason } from './plugins/tainttoleration';
export { controllerOf } from './plugins/spread';
