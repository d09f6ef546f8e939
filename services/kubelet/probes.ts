/**
 * Wires the probe manager (services/kubelet/prober) into the kubelet's pod sync: tells it which
 * container instances run, answers readiness and startup for the pod status, and turns failed
 * liveness and startup probes into restarts.
 */
import { Logger } from '../lib/log';
import { EventType } from '../lib/events';
import { Pod } from '../lib/generated/kubemu/core/v1/core';
import { PodProbes } from './kubelet';
import { ProbeManager } from './prober';

export interface ProbeDeps {
  exec: (containerId: string, cmd: string[], timeoutSeconds: number) => Promise<{ exitCode: number; stdout: string; stderr: string }>;
  recordEvent: (pod: Pod, type: EventType, reason: string, message: string) => void;
  /** The pod must be synced again (a probe result changed). */
  onChange: (uid: string) => void;
}

/** The kubelet's probes over one ProbeManager. Not safe to share between kubelets. */
export function createProbes(deps: ProbeDeps, log: Logger, secondsToMs = 1000): PodProbes {
  /** Container instances (uid/name/id) that failed liveness or startup: the sync restarts them. */
  const restart = new Map<string, string>();
  /** The instance the manager was last told about, per pod and container name. */
  const known = new Map<string, Map<string, string>>();
  const manager = new ProbeManager({
    exec: deps.exec,
    recordEvent: (pod, type, reason, message) => deps.recordEvent(pod, type, reason, message),
    onResult: (uid, name, type, result, _message, id) => {
      if ((type === 'liveness' || type === 'startup') && result === 'failure') {
        restart.set(`${uid}/${name}/${id}`, `Container ${name} failed ${type} probe, will be restarted`);
      }
      deps.onChange(uid);
    },
    secondsToMs,
    log,
  });
  const forget = (uid: string) => {
    for (const key of restart.keys()) if (key.startsWith(`${uid}/`)) restart.delete(key);
  };
  return {
    sync(pod, podIP, running) {
      const uid = pod.metadata?.uid ?? '';
      let containers = known.get(uid);
      if (!containers) {
        containers = new Map();
        known.set(uid, containers);
        manager.addPod(pod, podIP, {});
      } else {
        manager.updatePodIP(uid, podIP);
      }
      for (const c of pod.spec?.containers ?? []) {
        const name = c.name ?? '';
        const instance = running.get(name);
        const id = instance?.id ?? '';
        if (containers.get(name) === id) continue;
        containers.set(name, id);
        manager.updateContainer(uid, name, id || null, instance?.startedAtMs);
      }
    },
    removePod(uid) {
      manager.removePod(uid);
      known.delete(uid);
      forget(uid);
    },
    ready: (uid, name) => manager.isReady(uid, name),
    started: (uid, name) => manager.isStarted(uid, name),
    restartReason: (uid, name, id) => restart.get(`${uid}/${name}/${id}`),
    stop: () => manager.stop(),
  };
}
