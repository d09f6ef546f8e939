// The Pod printer: NAME READY STATUS RESTARTS AGE | IP NODE NOMINATED NODE
// READINESS GATES, with STATUS and RESTARTS computed as Kubernetes' printPod
// (pkg/printers/internalversion) does in v1.32.

import { Container, ContainerStatus, Pod, PodCondition } from '../../../lib/generated/kubemu/core/v1/core';
import { AGE_COLUMN, age, column, humanDuration, int, NAME_COLUMN, parseTime, Printer, PrintedRow, RowCondition } from './common';

// node.NodeUnreachablePodReason: the node lifecycle controller's reason for pods on a lost node.
const NODE_UNREACHABLE_POD_REASON = 'NodeLost';

const POD_SUCCESS_CONDITIONS: RowCondition[] = [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }];
const POD_FAILED_CONDITIONS: RowCondition[] = [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }];

function isRestartableInitContainer(c: Container | undefined): boolean {
  return c?.restartPolicy === 'Always';
}

function conditionTrue(conditions: PodCondition[] | undefined, type: string): boolean {
  return (conditions ?? []).some((c) => c.type === type && c.status === 'True');
}

function isTerminalPhase(phase: string | undefined): boolean {
  return phase === 'Failed' || phase === 'Succeeded';
}

// The later of the running "last restart" time and this container's last termination.
function laterFinish(current: number | undefined, cs: ContainerStatus): number | undefined {
  const t = parseTime(cs.lastState?.terminated?.finishedAt);
  if (t === undefined) return current;
  return current === undefined || current < t ? t : current;
}

/** The Pod's cells, exactly as printPod computes them. Pure. */
export function printPod(pod: Pod, now: Date): PrintedRow {
  const spec = pod.spec ?? {};
  const status = pod.status ?? {};
  let restarts = 0;
  let restartableInitContainerRestarts = 0;
  let totalContainers = (spec.containers ?? []).length;
  let readyContainers = 0;
  let lastRestartDate: number | undefined;
  let lastRestartableInitContainerRestartDate: number | undefined;

  const podPhase = status.phase ?? '';
  let reason = status.reason ? status.reason : podPhase;

  // A pod held back by scheduling gates shows SchedulingGated.
  for (const c of status.conditions ?? []) {
    if (c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated';
  }

  let conditions: RowCondition[] | undefined;
  if (podPhase === 'Succeeded') conditions = POD_SUCCESS_CONDITIONS;
  else if (podPhase === 'Failed') conditions = POD_FAILED_CONDITIONS;

  const initContainers = new Map<string, Container>();
  for (const c of spec.initContainers ?? []) {
    initContainers.set(c.name ?? '', c);
    if (isRestartableInitContainer(c)) totalContainers++;
  }

  let initializing = false;
  const initStatuses = status.initContainerStatuses ?? [];
  for (let i = 0; i < initStatuses.length; i++) {
    const container = initStatuses[i];
    const restartable = isRestartableInitContainer(initContainers.get(container.name ?? ''));
    restarts += int(container.restartCount);
    lastRestartDate = laterFinish(lastRestartDate, container);
    if (restartable) {
      restartableInitContainerRestarts += int(container.restartCount);
      lastRestartableInitContainerRestartDate = laterFinish(lastRestartableInitContainerRestartDate, container);
    }
    const terminated = container.state?.terminated;
    const waiting = container.state?.waiting;
    if (terminated && int(terminated.exitCode) === 0) continue;
    if (restartable && container.started === true) {
      if (container.ready) readyContainers++;
      continue;
    }
    if (terminated) {
      // Initialization failed.
      if (!terminated.reason) {
        reason = int(terminated.signal) !== 0 ? `Init:Signal:${int(terminated.signal)}` : `Init:ExitCode:${int(terminated.exitCode)}`;
      } else {
        reason = `Init:${terminated.reason}`;
      }
    } else if (waiting && waiting.reason && waiting.reason !== 'PodInitializing') {
      reason = `Init:${waiting.reason}`;
    } else {
      reason = `Init:${i}/${(spec.initContainers ?? []).length}`;
    }
    initializing = true;
    break;
  }

  if (!initializing || conditionTrue(status.conditions, 'Initialized')) {
    restarts = restartableInitContainerRestarts;
    lastRestartDate = lastRestartableInitContainerRestartDate;
    let hasRunning = false;
    const statuses = status.containerStatuses ?? [];
    for (let i = statuses.length - 1; i >= 0; i--) {
      const container = statuses[i];
      restarts += int(container.restartCount);
      lastRestartDate = laterFinish(lastRestartDate, container);
      const waiting = container.state?.waiting;
      const terminated = container.state?.terminated;
      if (waiting && waiting.reason) {
        reason = waiting.reason;
      } else if (terminated && terminated.reason) {
        reason = terminated.reason;
      } else if (terminated && !terminated.reason) {
        reason = int(terminated.signal) !== 0 ? `Signal:${int(terminated.signal)}` : `ExitCode:${int(terminated.exitCode)}`;
      } else if (container.ready && container.state?.running) {
        hasRunning = true;
        readyContainers++;
      }
    }
    // A pod whose last container completed but another still runs is Running (or NotReady).
    if (reason === 'Completed' && hasRunning) {
      reason = conditionTrue(status.conditions, 'Ready') ? 'Running' : 'NotReady';
    }
  }

  const deleting = parseTime(pod.metadata?.deletionTimestamp) !== undefined;
  if (deleting && status.reason === NODE_UNREACHABLE_POD_REASON) {
    reason = 'Unknown';
  } else if (deleting && !isTerminalPhase(podPhase)) {
    reason = 'Terminating';
  }

  let restartsStr = String(restarts);
  if (restarts !== 0 && lastRestartDate !== undefined) {
    restartsStr = `${restarts} (${humanDuration(now.getTime() - lastRestartDate)} ago)`;
  }

  // Kubernetes reads status.podIPs; kubemu also fills the older single podIP, used when podIPs is empty.
  let podIP = status.podIPs?.[0]?.ip || status.podIP || '';
  if (podIP === '') podIP = '<none>';
  const nodeName = spec.nodeName || '<none>';
  const nominatedNodeName = status.nominatedNodeName || '<none>';

  let readinessGates = '<none>';
  const gates = spec.readinessGates ?? [];
  if (gates.length > 0) {
    let trueConditions = 0;
    for (const gate of gates) {
      const cond = (status.conditions ?? []).find((c) => c.type === gate.conditionType);
      if (cond?.status === 'True') trueConditions++;
    }
    readinessGates = `${trueConditions}/${gates.length}`;
  }

  const row: PrintedRow = {
    cells: [
      pod.metadata?.name ?? '',
      `${readyContainers}/${totalContainers}`,
      reason,
      restartsStr,
      age(pod.metadata, now),
      podIP,
      nodeName,
      nominatedNodeName,
      readinessGates,
    ],
  };
  if (conditions) row.conditions = conditions;
  return row;
}

export const podPrinter: Printer<Pod> = {
  columns: [
    NAME_COLUMN,
    column('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
    column('Status', 'string', 'The aggregate status of the containers in this pod.'),
    column('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
    AGE_COLUMN,
    column('IP', 'string', 'podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', { priority: 1 }),
    column('Node', 'string', 'NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename', { priority: 1 }),
    column('Nominated Node', 'string', 'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.', { priority: 1 }),
    column('Readiness Gates', 'string', 'If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to "True" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates', { priority: 1 }),
  ],
  row: printPod,
};
