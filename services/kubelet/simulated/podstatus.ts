/** The status a simulated node reports for a pod: Running and Ready, as a real kubelet reports a healthy pod. */
import * as crypto from 'crypto';
import type { ContainerStatus, Pod, PodCondition, PodStatus } from '../../lib/generated/kubemu/core/v1/core';
import { formatTime } from '../../lib/time';

function sha256(s: string): string {
  return crypto.createHash('sha256').update(s).digest('hex');
}

/** The image ID a simulated node reports for an image reference (stable, sha256-shaped). Pure. */
export function simulatedImageID(image: string): string {
  return `sha256:${sha256(`kubemu-sim-image/${image}`)}`;
}

/** The container ID of a simulated container, stable per pod uid and container name. Pure. */
export function simulatedContainerID(podUid: string, container: string): string {
  return `kubemu-sim://${sha256(`${podUid}/${container}`)}`;
}

/** Whether the pod already shows the status startPod would write (Running, every container ready). Pure. */
export function isSimulatedRunning(pod: Pod): boolean {
  const s = pod.status;
  if (s?.phase !== 'Running' || !s.podIP) return false;
  const ready = new Set((s.containerStatuses ?? []).filter((c) => c.ready && c.state?.running).map((c) => c.name));
  return (pod.spec?.containers ?? []).every((c) => ready.has(c.name));
}

/**
 * The status of `pod` once "started" on a simulated node at `now`: phase Running, the conditions a
 * kubelet 1.32 sets (PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled,
 * all True), host and pod IPs, startTime, init containers terminated with Completed, app containers
 * running, ready and started with restartCount 0. Keeps qosClass and conditions of other types. Pure.
 */
export function runningPodStatus(pod: Pod, hostIP: string, podIP: string, now: number): PodStatus {
  const at = formatTime(now);
  const old = pod.status ?? {};
  const prev = new Map((old.conditions ?? []).map((c) => [c.type ?? '', c]));
  const cond = (type: string): PodCondition => {
    const p = prev.get(type);
    return { type, status: 'True', lastTransitionTime: p?.status === 'True' && p.lastTransitionTime ? p.lastTransitionTime : at };
  };
  const ours = ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'];
  const uid = pod.metadata?.uid ?? `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  const startedAt = old.startTime || at;
  const containerStatuses: ContainerStatus[] = (pod.spec?.containers ?? []).map((c) => ({
    name: c.name,
    state: { running: { startedAt } },
    ready: true,
    restartCount: 0,
    image: c.image,
    imageID: simulatedImageID(c.image ?? ''),
    containerID: simulatedContainerID(uid, c.name ?? ''),
    started: true,
  }));
  const initContainerStatuses: ContainerStatus[] = (pod.spec?.initContainers ?? []).map((c) => {
    const sidecar = c.restartPolicy === 'Always';
    return {
      name: c.name,
      state: sidecar
        ? { running: { startedAt } }
        : { terminated: { exitCode: 0, reason: 'Completed', startedAt, finishedAt: startedAt, containerID: simulatedContainerID(uid, c.name ?? '') } },
      ready: true,
      restartCount: 0,
      image: c.image,
      imageID: simulatedImageID(c.image ?? ''),
      containerID: simulatedContainerID(uid, c.name ?? ''),
      started: sidecar,
    };
  });
  return {
    ...old,
    phase: 'Running',
    conditions: [...ours.map(cond), ...(old.conditions ?? []).filter((c) => !ours.includes(c.type ?? ''))],
    hostIP,
    hostIPs: [{ ip: hostIP }],
    podIP,
    podIPs: [{ ip: podIP }],
    startTime: startedAt,
    containerStatuses,
    initContainerStatuses: initContainerStatuses.length ? initContainerStatuses : undefined,
  };
}
