/**
 * Pod status as the kubelet computes it (pkg/kubelet/kubelet_pods.go generateAPIPodStatus,
 * getPhase, and pkg/kubelet/status/generate.go): pure functions from the pod, what the runtime
 * holds for it, and what the kubelet knows beyond that (why a container is waiting, what the
 * probes say). No I/O; safe to call concurrently.
 */
import {
  Container,
  ContainerState as ApiContainerState,
  ContainerStatus as ApiContainerStatus,
  Pod,
  PodCondition,
  PodStatus,
} from '../lib/generated/kubemu/core/v1/core';
import { formatTime } from '../lib/time';
import { ContainerState, PodSandboxState, RuntimeContainer, RuntimePod } from './runtime';

/** Why a container has no running instance, when the kubelet knows better than "ContainerCreating". */
export interface WaitingReason {
  reason: string;
  message?: string;
}

export interface StatusInputs {
  pod: Pod;
  runtime: RuntimePod;
  nodeIP: string;
  /** Per container name: why it waits (CrashLoopBackOff, ErrImagePull, CreateContainerConfigError, ...). */
  waiting: Map<string, WaitingReason>;
  /** Readiness and startup as the probes report them for a running container instance. */
  probes: { ready(containerName: string, containerId: string): boolean; started(containerName: string, containerId: string): boolean };
  /** When the kubelet first saw the pod (status.startTime), unless the pod already has one. */
  startTime: number;
  /** Set when the kubelet has failed the pod itself (activeDeadlineSeconds, ...). */
  failure?: { reason: string; message: string };
  now: number;
}

/** Runtime times are Unix microseconds (see runtime.proto). */
const usToTime = (us: number | undefined): string | undefined => (us && us > 0 ? formatTime(Math.floor(us / 1e3)) : undefined);

/** The newest instance of each container name, and the one before it. */
export function instancesByName(runtime: RuntimePod): Map<string, { latest: RuntimeContainer; previous?: RuntimeContainer }> {
  const sorted = [...runtime.containers].sort((a, b) => b.attempt - a.attempt || (b.status.created_at ?? 0) - (a.status.created_at ?? 0));
  const out = new Map<string, { latest: RuntimeContainer; previous?: RuntimeContainer }>();
  for (const c of sorted) {
    const entry = out.get(c.name);
    if (!entry) out.set(c.name, { latest: c });
    else if (!entry.previous) entry.previous = c;
  }
  return out;
}

/** The container ID as Kubernetes shows it: `<runtime>://<id>`. */
export function containerID(id: string): string {
  return `kubemu://${id}`;
}

function terminatedState(c: RuntimeContainer): ApiContainerState {
  const s = c.status;
  const exitCode = s.exit_code ?? 0;
  return {
    terminated: {
      exitCode,
      reason: s.reason || (exitCode === 0 ? 'Completed' : 'Error'),
      message: s.message || undefined,
      startedAt: usToTime(s.started_at),
      finishedAt: usToTime(s.finished_at),
      containerID: containerID(c.id),
    },
  };
}

function containerStatus(container: Container, isInit: boolean, inputs: StatusInputs, instances: ReturnType<typeof instancesByName>, defaultWaiting: string): ApiContainerStatus {
  const name = container.name ?? '';
  const entry = instances.get(name);
  const waiting = inputs.waiting.get(name);
  const status: ApiContainerStatus = {
    name: container.name,
    image: container.image,
    imageID: '',
    ready: false,
    restartCount: entry ? entry.latest.attempt : 0,
    started: false,
    state: { waiting: { reason: waiting?.reason ?? defaultWaiting, message: waiting?.message } },
    lastState: {},
  };
  if (!entry) return status;
  const { latest, previous } = entry;
  status.imageID = latest.status.image_ref || '';
  status.containerID = containerID(latest.id);
  if (latest.state === ContainerState.CONTAINER_STATE_RUNNING) {
    status.state = { running: { startedAt: usToTime(latest.status.started_at) } };
    status.started = isInit ? true : inputs.probes.started(name, latest.id);
    status.ready = isInit ? false : status.started && inputs.probes.ready(name, latest.id);
    if (previous && previous.state === ContainerState.CONTAINER_STATE_EXITED) status.lastState = terminatedState(previous);
  } else if (latest.state === ContainerState.CONTAINER_STATE_EXITED) {
    if (waiting) {
      // It will be started again (after a backoff, or once its config is fixed).
      status.state = { waiting: { reason: waiting.reason, message: waiting.message } };
      status.lastState = terminatedState(latest);
    } else {
      status.state = terminatedState(latest);
      if (previous && previous.state === ContainerState.CONTAINER_STATE_EXITED) status.lastState = terminatedState(previous);
      status.ready = isInit && (latest.status.exit_code ?? 0) === 0;
    }
  } else {
    // Created but not started yet, or unknown.
    status.state = { waiting: { reason: waiting?.reason ?? defaultWaiting, message: waiting?.message } };
    if (previous && previous.state === ContainerState.CONTAINER_STATE_EXITED) status.lastState = terminatedState(previous);
  }
  return status;
}

/** Kubernetes' getPhase: the pod phase from its container statuses. */
export function podPhase(pod: Pod, init: ApiContainerStatus[], regular: ApiContainerStatus[]): string {
  const restartPolicy = pod.spec?.restartPolicy || 'Always';
  let pendingInit = 0;
  let failedInit = 0;
  for (const s of init) {
    if (s.state?.running) pendingInit++;
    else if (s.state?.terminated) {
      if (s.state.terminated.exitCode !== 0) failedInit++;
    } else if (s.state?.waiting) {
      if (s.lastState?.terminated) {
        if (s.lastState.terminated.exitCode !== 0) failedInit++;
      } else pendingInit++;
    } else pendingInit++;
  }
  let unknown = 0;
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of regular) {
    if (s.state?.running) running++;
    else if (s.state?.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state?.waiting) {
      if (s.lastState?.terminated) stopped++;
      else waiting++;
    } else unknown++;
  }
  if (failedInit > 0 && restartPolicy === 'Never') return 'Failed';
  if (pendingInit > 0 || failedInit > 0) return 'Pending';
  if (waiting > 0) return 'Pending';
  if (running > 0 && unknown === 0) return 'Running';
  if (running === 0 && stopped > 0 && unknown === 0) {
    if (restartPolicy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (restartPolicy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

function condition(type: string, ok: boolean, reason?: string, message?: string): PodCondition {
  return { type, status: ok ? 'True' : 'False', reason: ok ? undefined : reason, message: ok ? undefined : message };
}

/**
 * The pod's whole status as this kubelet sees it. Conditions keep their lastTransitionTime while
 * their status does not change; PodScheduled and conditions owned by others (readiness gates,
 * DisruptionTarget) are carried over from the pod's current status.
 */
export function computePodStatus(inputs: StatusInputs): PodStatus {
  const { pod, runtime } = inputs;
  const spec = pod.spec ?? {};
  const previous = pod.status ?? {};
  const instances = instancesByName(runtime);
  const sandbox = [...runtime.sandboxes].sort((a, b) => (b.metadata?.attempt ?? 0) - (a.metadata?.attempt ?? 0))[0];
  const sandboxReady = sandbox?.state === PodSandboxState.POD_SANDBOX_STATE_READY && !!sandbox.ip;

  const initContainers = spec.initContainers ?? [];
  const initStatuses = initContainers.map((c) => containerStatus(c, true, inputs, instances, 'PodInitializing'));
  const initDone = initStatuses.every((s) => s.state?.terminated?.exitCode === 0);
  const regularStatuses = (spec.containers ?? []).map((c) =>
    containerStatus(c, false, inputs, instances, initDone ? 'ContainerCreating' : 'PodInitializing'),
  );

  let phase = podPhase(pod, initStatuses, regularStatuses);
  let reason: string | undefined;
  let message: string | undefined;
  if (inputs.failure) {
    phase = 'Failed';
    reason = inputs.failure.reason;
    message = inputs.failure.message;
  }
  const terminal = phase === 'Succeeded' || phase === 'Failed';

  const incompleteInit = initStatuses.filter((s) => s.state?.terminated?.exitCode !== 0).map((s) => s.name);
  const unready = regularStatuses.filter((s) => !s.ready).map((s) => s.name);
  const gates = (spec.readinessGates ?? []).map((g) => g.conditionType ?? '');
  const gateProblems = gates
    .map((g) => {
      const c = (previous.conditions ?? []).find((x) => x.type === g);
      if (!c) return `corresponding condition of pod readiness gate "${g}" does not exist.`;
      if (c.status !== 'True') return `the status of pod readiness gate "${g}" is not "True", but ${c.status}`;
      return undefined;
    })
    .filter((m): m is string => !!m);

  const containersReady = terminal
    ? condition('ContainersReady', false, 'PodCompleted')
    : condition('ContainersReady', unready.length === 0, 'ContainersNotReady', `containers with unready status: [${unready.join(' ')}]`);
  let ready: PodCondition;
  if (terminal) ready = condition('Ready', false, 'PodCompleted');
  else if (unready.length > 0) ready = condition('Ready', false, 'ContainersNotReady', `containers with unready status: [${unready.join(' ')}]`);
  else if (gateProblems.length > 0) ready = condition('Ready', false, 'ReadinessGatesNotReady', gateProblems.join(', '));
  else ready = condition('Ready', true);
  const initialized =
    incompleteInit.length === 0 || (terminal && initDone)
      ? condition('Initialized', true)
      : condition('Initialized', false, 'ContainersNotInitialized', `containers with incomplete status: [${incompleteInit.join(' ')}]`);
  const readyToStart = condition('PodReadyToStartContainers', sandboxReady);

  const ours = new Set(['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady']);
  const nowText = formatTime(inputs.now);
  const withTransition = (c: PodCondition): PodCondition => {
    const before = (previous.conditions ?? []).find((x) => x.type === c.type);
    const lastTransitionTime = before && before.status === c.status && before.lastTransitionTime ? before.lastTransitionTime : nowText;
    return { ...c, lastProbeTime: undefined, lastTransitionTime };
  };
  const carried = (previous.conditions ?? []).filter((c) => !ours.has(c.type ?? ''));
  const scheduledFirst = carried.filter((c) => c.type === 'PodScheduled');
  const others = carried.filter((c) => c.type !== 'PodScheduled');
  const conditions = [
    withTransition(readyToStart),
    withTransition(initialized),
    withTransition(ready),
    withTransition(containersReady),
    ...scheduledFirst,
    ...others,
  ];

  // The pod IP stays in the status once assigned, also after the sandbox stopped (terminal pods).
  const podIP = sandbox?.ip || previous.podIP || undefined;
  return {
    phase,
    conditions,
    reason,
    message,
    nominatedNodeName: previous.nominatedNodeName,
    hostIP: inputs.nodeIP,
    hostIPs: [{ ip: inputs.nodeIP }],
    podIP,
    podIPs: podIP ? [{ ip: podIP }] : [],
    startTime: previous.startTime || formatTime(inputs.startTime),
    initContainerStatuses: initStatuses.length > 0 ? initStatuses : [],
    containerStatuses: regularStatuses,
    qosClass: previous.qosClass,
  };
}

/** True when two statuses differ in anything the kubelet writes. */
export function statusChanged(a: PodStatus | undefined, b: PodStatus): boolean {
  return JSON.stringify(normalize(a ?? {})) !== JSON.stringify(normalize(b));
}

function normalize(s: PodStatus): unknown {
  // Field order and empty values must not count as a change.
  return JSON.parse(
    JSON.stringify(s, (_k, v) => {
      if (v === undefined || v === null || v === '') return undefined;
      if (Array.isArray(v) && v.length === 0) return undefined;
      if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) return undefined;
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        return Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]));
      }
      return v;
    }),
  );
}
