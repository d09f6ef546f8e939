/**
 * The kubelet's probe manager, as Kubernetes' pkg/kubelet/prober/prober_manager.go: one worker
 * per (pod, container, probe type), cached results per container, readiness and started state
 * for the pod status, and a listener told whenever a cached result changes. The kubelet tells it
 * which container runs where (addPod / updateContainer) instead of it reading a status manager.
 */
import { Container, Pod } from '../../lib/generated/kubemu/core/v1/core';
import { EventType } from '../../lib/events';
import { Logger } from '../../lib/log';
import { ExecResult, ProbeOutcome } from './probe';
import { ContainerView, INITIAL_RESULT, PROBE_TYPE_NAME, ProbeResult, ProbeType, ProbeWorker, WorkerHost } from './worker';

/**
 * Told whenever the cached result of a probe changes for a container, including the initial value
 * when a worker first sees a container (readiness 'failure', liveness 'success', startup 'unknown').
 * A liveness or startup 'failure' means: kill and restart `containerId` (Kubernetes' "Container x
 * failed liveness probe, will be restarted"); the worker then waits for a new container id.
 * `message` is the last failure's message for 'failure', else ''. Called from a timer, never
 * from inside a ProbeManager method; an exception it throws is logged and swallowed.
 */
export type ProbeResultListener = (
  podUid: string,
  containerName: string,
  probeType: ProbeType,
  result: ProbeResult,
  message: string,
  containerId: string,
) => void;

/**
 * Records an event about the pod, for the container `containerName` (Kubernetes puts
 * `spec.containers{name}` in involvedObject.fieldPath). Must not throw.
 */
export type ProbeEventRecorder = (pod: Pod, type: EventType, reason: string, message: string, containerName: string) => void;

/** Runs a command in a container, for exec probes (CRI ExecSync). See ExecFunc for timeouts. */
export type ContainerExec = (containerId: string, command: string[], timeoutSeconds: number) => Promise<ExecResult>;

export interface ProbeManagerOptions {
  onResult?: ProbeResultListener;
  recordEvent?: ProbeEventRecorder;
  exec?: ContainerExec;
  /** Milliseconds per API second: periods, delays and timeouts are scaled by it. Default 1000. */
  secondsToMs?: number;
  /** Clock for initial delays and the start-up jitter window. Default Date.now. */
  now?: () => number;
  /** Source of the first-tick jitter in [0, 1). Default Math.random. */
  random?: () => number;
  log?: Logger;
}

/** Kubernetes' events.ContainerUnhealthy and events.ContainerProbeWarning. */
export const REASON_UNHEALTHY = 'Unhealthy';
export const REASON_PROBE_WARNING = 'ProbeWarning';

interface ContainerRecord {
  spec: Container;
  view: ContainerView;
}

interface PodRecord {
  pod: Pod;
  podIP: string;
  containers: Map<string, ContainerRecord>;
  workers: Map<string, ProbeWorker>; // key: `${containerName}/${probeType}`
}

const PROBE_FIELDS: [ProbeType, 'startupProbe' | 'readinessProbe' | 'livenessProbe'][] = [
  ['startup', 'startupProbe'],
  ['readiness', 'readinessProbe'],
  ['liveness', 'livenessProbe'],
];

function workerKey(containerName: string, type: ProbeType): string {
  return `${containerName}/${type}`;
}

/**
 * Probes the containers of the pods it is told about. Single-threaded like everything in Node:
 * methods may be called in any order and at any time (unknown uids and names are no-ops);
 * after stop() every method is a no-op and nothing is left running.
 */
export class ProbeManager {
  private readonly pods = new Map<string, PodRecord>();
  private readonly host: WorkerHost;
  private stopped = false;

  constructor(private readonly options: ProbeManagerOptions = {}) {
    const now = options.now ?? Date.now;
    const log = options.log;
    const startedAt = now();
    const secondsToMs = options.secondsToMs ?? 1000;
    this.host = {
      secondsToMs,
      startedAt,
      now,
      random: options.random ?? Math.random,
      podIP: (uid) => this.pods.get(uid)?.podIP ?? '',
      container: (uid, name) => this.pods.get(uid)?.containers.get(name)?.view,
      startupPassed: (uid, name, containerId) => {
        const w = this.pods.get(uid)?.workers.get(workerKey(name, 'startup'));
        return !w || w.result(containerId) === 'success';
      },
      exec: (containerId, command, timeoutSeconds) =>
        options.exec ? options.exec(containerId, command, timeoutSeconds) : Promise.reject(new Error('exec probes need a container runtime (no exec function given)')),
      attempted: (w, outcome) => this.attempted(w, outcome),
      changed: (w, result, message, containerId) => this.changed(w, result, message, containerId),
      logError: (msg, err) => log?.error(msg, { err: (err as Error)?.message ?? String(err) }),
    };
  }

  /**
   * Starts probing the containers of `pod` (spec.containers with a startup, readiness or
   * liveness probe; one worker each; a pod without metadata.uid is ignored). `containerIds` maps
   * container name to the id of its running container ('' or null when none runs; names left out
   * keep what the manager knew). A container's start time is taken from
   * pod.status.containerStatuses[].state.running.startedAt when that status names the same
   * containerID, else it is now. Calling it again for a known uid updates the pod IP and the
   * container ids (as updateContainer) but not the probes: like Kubernetes, probe specs of a
   * running pod do not change. Init containers are not probed.
   */
  addPod(pod: Pod, podIP: string, containerIds: Record<string, string | null | undefined> = {}): void {
    const uid = pod.metadata?.uid;
    if (this.stopped || !uid) return;
    let rec = this.pods.get(uid);
    if (!rec) {
      rec = { pod, podIP, containers: new Map(), workers: new Map() };
      this.pods.set(uid, rec);
      for (const c of pod.spec?.containers ?? []) {
        const name = c.name ?? '';
        rec.containers.set(name, { spec: c, view: { containerId: '', running: false, startedAt: 0 } });
        for (const [type, field] of PROBE_FIELDS) {
          const spec = c[field];
          if (!spec) continue;
          rec.workers.set(workerKey(name, type), new ProbeWorker(this.host, uid, c, type, spec));
        }
      }
    } else {
      rec.pod = pod;
      rec.podIP = podIP;
    }
    for (const w of rec.workers.values()) w.start();
    for (const [name, id] of Object.entries(containerIds)) {
      this.updateContainer(uid, name, id ?? null, startedAtFromStatus(pod, name, id ?? ''));
    }
  }

  /**
   * Tells the manager which container now runs for `containerName`: a non-empty `containerId`
   * is a running container (started at `startedAt`, ms on the manager's clock, default now); a new
   * id resets that container's workers (a restart). null or '' means no container runs (exited or
   * being replaced): readiness turns 'failure', liveness and startup wait for the next id.
   * Repeating the current id is a no-op. Unknown pods and containers are ignored.
   */
  updateContainer(podUid: string, containerName: string, containerId: string | null, startedAt?: number | Date): void {
    if (this.stopped) return;
    const rec = this.pods.get(podUid);
    const c = rec?.containers.get(containerName);
    if (!rec || !c) return;
    const id = containerId ?? '';
    if (id) {
      if (c.view.containerId === id && c.view.running) return;
      const at = startedAt === undefined ? this.host.now() : typeof startedAt === 'number' ? startedAt : startedAt.getTime();
      c.view = { containerId: id, running: true, startedAt: at };
    } else {
      if (!c.view.running) return;
      c.view = { ...c.view, running: false };
    }
    // Readiness is looked at straight away, as Kubernetes does on every pod status update.
    rec.workers.get(workerKey(containerName, 'readiness'))?.trigger();
  }

  /** Updates the IP probes go to by default (httpGet / tcpSocket without host). Unknown uid: no-op. */
  updatePodIP(podUid: string, podIP: string): void {
    const rec = this.pods.get(podUid);
    if (rec) rec.podIP = podIP;
  }

  /**
   * Stops the liveness and startup probes of a pod that is being deleted, so that a container in
   * its grace period is not restarted (Kubernetes' StopLivenessAndStartup); readiness continues.
   * The container then counts as started. Unknown uid: no-op.
   */
  stopLivenessAndStartup(podUid: string): void {
    const rec = this.pods.get(podUid);
    if (!rec) return;
    for (const [key, w] of rec.workers) {
      if (w.type === 'readiness') continue;
      w.stop();
      rec.workers.delete(key);
    }
  }

  /** Stops every worker of the pod and forgets its results. Unknown uid: no-op. */
  removePod(podUid: string): void {
    const rec = this.pods.get(podUid);
    if (!rec) return;
    for (const w of rec.workers.values()) w.stop();
    this.pods.delete(podUid);
  }

  /**
   * Whether the container has started, as the kubelet reports containerStatuses[].started: it is
   * running and it passed its startup probe (or has none). False for unknown pods and containers.
   */
  isStarted(podUid: string, containerName: string): boolean {
    const rec = this.pods.get(podUid);
    const c = rec?.containers.get(containerName);
    if (!rec || !c || !c.view.running || !c.view.containerId) return false;
    const w = rec.workers.get(workerKey(containerName, 'startup'));
    return !w || w.result(c.view.containerId) === 'success';
  }

  /**
   * Whether the container is ready, as containerStatuses[].ready: it has started and its readiness
   * probe's cached result is 'success' (a container without one is ready once started).
   * False for unknown pods and containers.
   */
  isReady(podUid: string, containerName: string): boolean {
    if (!this.isStarted(podUid, containerName)) return false;
    const rec = this.pods.get(podUid)!;
    const c = rec.containers.get(containerName)!;
    const w = rec.workers.get(workerKey(containerName, 'readiness'));
    return !w || w.result(c.view.containerId) === 'success';
  }

  /** The cached result of one probe for the current container, or undefined (no probe, no result yet). */
  getResult(podUid: string, containerName: string, probeType: ProbeType): ProbeResult | undefined {
    const rec = this.pods.get(podUid);
    const c = rec?.containers.get(containerName);
    const w = rec?.workers.get(workerKey(containerName, probeType));
    if (!c || !w || !c.view.containerId) return undefined;
    return w.result(c.view.containerId);
  }

  /** The number of running workers (for tests and metrics). */
  workerCount(): number {
    let n = 0;
    for (const rec of this.pods.values()) n += rec.workers.size;
    return n;
  }

  /** Stops every worker: no timer, socket or exec wait is left. Idempotent; the manager is unusable after. */
  stop(): void {
    this.stopped = true;
    for (const uid of [...this.pods.keys()]) this.removePod(uid);
  }

  private attempted(w: ProbeWorker, outcome: ProbeOutcome): void {
    const rec = this.pods.get(w.podUid);
    if (!rec || !this.options.recordEvent) return;
    const name = PROBE_TYPE_NAME[w.type];
    const type: EventType = 'Warning';
    let reason = REASON_UNHEALTHY;
    let message: string;
    if (outcome.result === 'failure') {
      message = `${name} probe failed: ${outcome.message}`;
    } else if (outcome.result === 'unknown') {
      message = `${name} probe errored and resulted in unknown state: ${outcome.message}`;
    } else if (outcome.warning) {
      reason = REASON_PROBE_WARNING;
      message = `${name} probe warning: ${outcome.message}`;
    } else {
      return;
    }
    try {
      this.options.recordEvent(rec.pod, type, reason, message, w.containerName);
    } catch (err) {
      this.options.log?.warn('could not record probe event', { err: (err as Error)?.message });
    }
  }

  private changed(w: ProbeWorker, result: ProbeResult, message: string, containerId: string): void {
    const rec = this.pods.get(w.podUid);
    if (!rec || rec.workers.get(workerKey(w.containerName, w.type)) !== w) return;
    const initial = message === '' && result === INITIAL_RESULT[w.type];
    this.options.log?.[initial ? 'debug' : 'info']('probe result changed', {
      pod: `${rec.pod.metadata?.namespace ?? ''}/${rec.pod.metadata?.name ?? ''}`,
      container: w.containerName,
      probe: w.type,
      result,
      message: message || undefined,
    });
    if (w.type === 'startup' && result === 'success') {
      // The container has started: liveness and readiness may run now.
      rec.workers.get(workerKey(w.containerName, 'readiness'))?.trigger();
    }
    try {
      this.options.onResult?.(w.podUid, w.containerName, w.type, result, message, containerId);
    } catch (err) {
      this.options.log?.error('probe result listener threw', { err: (err as Error)?.message ?? String(err) });
    }
  }
}

/** The start time of `containerId` from the pod's status, if the status names that container running. */
function startedAtFromStatus(pod: Pod, containerName: string, containerId: string): number | undefined {
  if (!containerId) return undefined;
  const st = pod.status?.containerStatuses?.find((s) => s.name === containerName);
  if (!st || !st.containerID || !st.state?.running?.startedAt) return undefined;
  // Statuses carry "<runtime>://<id>"; the kubelet may hand us either form.
  const bare = (id: string) => id.replace(/^[a-z0-9+.-]+:\/\//i, '');
  if (bare(st.containerID) !== bare(containerId)) return undefined;
  const at = Date.parse(st.state.running.startedAt);
  return Number.isNaN(at) ? undefined : at;
}
