/**
 * The periodic probing of one (pod, container, probe type), as Kubernetes'
 * pkg/kubelet/prober/worker.go: a ticker at periodSeconds (the first tick jittered only while the
 * kubelet has just started), nothing before initialDelaySeconds, liveness and readiness held back
 * until the startup probe passed, failureThreshold / successThreshold consecutive results before
 * the cached result changes, and liveness / startup put on hold after a failure until the
 * container is replaced.
 */
import { Container, Probe } from '../../lib/generated/kubemu/core/v1/core';
import { ExecResult, ProbeOutcome, runProbe } from './probe';

export type ProbeType = 'liveness' | 'readiness' | 'startup';

/** A cached probe result, as Kubernetes' results.Result. */
export type ProbeResult = 'success' | 'failure' | 'unknown';

/** Kubernetes' probeType.String(), used in event messages. */
export const PROBE_TYPE_NAME: Record<ProbeType, string> = {
  liveness: 'Liveness',
  readiness: 'Readiness',
  startup: 'Startup',
};

/** The value a worker caches for a new container before any probe ran (results manager initial values). */
export const INITIAL_RESULT: Record<ProbeType, ProbeResult> = {
  readiness: 'failure',
  liveness: 'success',
  startup: 'unknown',
};

/** Kubernetes retries an attempt that errored (result unknown) up to this many times (maxProbeRetries). */
const MAX_PROBE_RETRIES = 3;

/** A probe spec with Kubernetes' defaults applied (pkg/apis/core/v1/defaults.go, validation). */
export interface EffectiveProbe {
  spec: Probe;
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

/**
 * Applies Kubernetes' probe defaults: period 10 s (at least 1), timeout 1 s (at least 1),
 * successThreshold 1 (always 1 for liveness and startup, as validation demands), failureThreshold 3,
 * initialDelay 0. Pure.
 */
export function effectiveProbe(spec: Probe, type: ProbeType): EffectiveProbe {
  const positive = (v: number | undefined, dflt: number) => (v !== undefined && v > 0 ? Math.floor(v) : dflt);
  return {
    spec: { ...spec, timeoutSeconds: positive(spec.timeoutSeconds, 1) },
    initialDelaySeconds: spec.initialDelaySeconds && spec.initialDelaySeconds > 0 ? Math.floor(spec.initialDelaySeconds) : 0,
    periodSeconds: positive(spec.periodSeconds, 10),
    timeoutSeconds: positive(spec.timeoutSeconds, 1),
    successThreshold: type === 'readiness' ? positive(spec.successThreshold, 1) : 1,
    failureThreshold: positive(spec.failureThreshold, 3),
  };
}

/** What a worker learns of its container from the manager at each tick. */
export interface ContainerView {
  /** The runtime's id of the current container; '' before the first one exists. */
  containerId: string;
  running: boolean;
  /** When the current container started running, ms on the manager's clock. */
  startedAt: number;
}

/** The manager's side of a worker: container state, other workers' results, side effects. */
export interface WorkerHost {
  readonly secondsToMs: number;
  readonly startedAt: number;
  now(): number;
  random(): number;
  podIP(podUid: string): string;
  container(podUid: string, containerName: string): ContainerView | undefined;
  /** True when the container passed its startup probe or has none. */
  startupPassed(podUid: string, containerName: string, containerId: string): boolean;
  exec(containerId: string, command: string[], timeoutSeconds: number): Promise<ExecResult>;
  /** A probe attempt finished with a failure, warning or error: record the event. */
  attempted(worker: ProbeWorker, outcome: ProbeOutcome): void;
  /** The cached result changed. */
  changed(worker: ProbeWorker, result: ProbeResult, message: string, containerId: string): void;
  logError(msg: string, err: unknown): void;
}

/**
 * Probes one container periodically once start() is called, until stop(). Owned by the manager;
 * every method is safe to call at any time and in any order, and stop() leaves no timer or socket.
 */
export class ProbeWorker {
  readonly probe: EffectiveProbe;
  private containerId = '';
  private lastResult: ProbeResult | undefined;
  private resultRun = 0;
  private onHold = false;
  private cached: ProbeResult | undefined;
  private cachedFor = '';
  private firstTimer: NodeJS.Timeout | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private triggerTimer: NodeJS.Timeout | undefined;
  private busy = false;
  private pending = false;
  private inFlight: AbortController | undefined;
  private stopped = false;

  readonly containerName: string;

  constructor(
    private readonly host: WorkerHost,
    readonly podUid: string,
    private readonly container: Container,
    readonly type: ProbeType,
    spec: Probe,
  ) {
    this.containerName = container.name ?? '';
    this.probe = effectiveProbe(spec, type);
  }

  /** The cached result for `containerId` (the current container if omitted), if any. */
  result(containerId?: string): ProbeResult | undefined {
    if (containerId !== undefined && containerId !== this.cachedFor) return undefined;
    return this.cached;
  }

  /**
   * Starts the ticker. If the manager started less than one period ago (a kubelet restart), the
   * first probe waits a random part of the period so that restarted probes do not all fire at once.
   */
  start(): void {
    if (this.stopped || this.firstTimer || this.ticker) return;
    const periodMs = this.probe.periodSeconds * this.host.secondsToMs;
    const jitter = periodMs > this.host.now() - this.host.startedAt ? this.host.random() * periodMs : 0;
    this.firstTimer = setTimeout(() => {
      this.firstTimer = undefined;
      if (this.stopped) return;
      this.ticker = setInterval(() => this.tick(), periodMs);
      this.tick();
    }, jitter);
  }

  /** Asks for a probe soon, outside the caller's stack, without moving the ticker. */
  trigger(): void {
    // Before the first tick (jitter) a trigger waits for it, as Kubernetes' loop does.
    if (this.stopped || this.triggerTimer || this.firstTimer) return;
    this.triggerTimer = setTimeout(() => {
      this.triggerTimer = undefined;
      this.tick();
    }, 0);
  }

  /** Stops probing: clears every timer and cancels an attempt in flight. Idempotent. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.firstTimer);
    clearInterval(this.ticker);
    clearTimeout(this.triggerTimer);
    this.firstTimer = this.ticker = this.triggerTimer = undefined;
    this.inFlight?.abort();
    this.inFlight = undefined;
  }

  /** Runs doProbe unless one is running; a tick during a probe runs right after it (Go's ticker keeps one). */
  private tick(): void {
    if (this.stopped) return;
    if (this.busy) {
      this.pending = true;
      return;
    }
    this.busy = true;
    this.doProbe()
      .catch((err) => this.host.logError('probe worker failed', err))
      .finally(() => {
        this.busy = false;
        if (this.pending && !this.stopped) {
          this.pending = false;
          this.tick();
        }
      });
  }

  private setResult(result: ProbeResult, message: string): void {
    if (this.cached === result && this.cachedFor === this.containerId) return;
    this.cached = result;
    this.cachedFor = this.containerId;
    this.host.changed(this, result, message, this.containerId);
  }

  /** One probe cycle, as worker.go doProbe. */
  private async doProbe(): Promise<void> {
    const c = this.host.container(this.podUid, this.containerName);
    if (!c || !c.containerId) return; // not created yet, or gone: wait for more information

    if (c.containerId !== this.containerId) {
      // A new container: start over from the initial value and resume probing.
      this.containerId = c.containerId;
      this.lastResult = undefined;
      this.resultRun = 0;
      this.onHold = false;
      this.setResult(INITIAL_RESULT[this.type], '');
    }
    if (this.onHold) return;

    if (!c.running) {
      // Kubernetes marks every probe of a non-running container failed; only readiness matters
      // here, so liveness and startup keep their value rather than ask to kill a dead container.
      if (this.type === 'readiness') this.setResult('failure', '');
      return;
    }

    const elapsedSeconds = Math.floor((this.host.now() - c.startedAt) / this.host.secondsToMs);
    if (elapsedSeconds < this.probe.initialDelaySeconds) return;

    const started = this.host.startupPassed(this.podUid, this.containerName, c.containerId);
    if (this.type === 'startup' ? started : !started) return;

    const containerId = c.containerId;
    let outcome: ProbeOutcome | undefined;
    for (let i = 0; i < MAX_PROBE_RETRIES; i++) {
      const abort = new AbortController();
      this.inFlight = abort;
      outcome = await runProbe(
        this.probe.spec,
        { podIP: this.host.podIP(this.podUid), container: this.container },
        (command, timeoutSeconds) => this.host.exec(containerId, command, timeoutSeconds),
        { secondsToMs: this.host.secondsToMs, signal: abort.signal },
      );
      if (this.inFlight === abort) this.inFlight = undefined;
      // Stopped, or the container stopped or was replaced while probing: the answer is stale.
      const current = this.host.container(this.podUid, this.containerName);
      if (this.stopped || !current || current.containerId !== containerId || !current.running) return;
      if (outcome.result !== 'unknown') break;
    }
    if (!outcome) return;
    this.host.attempted(this, outcome);
    // An attempt that errored is thrown away, as Kubernetes does.
    if (outcome.result === 'unknown') return;

    const result: ProbeResult = outcome.result;
    if (this.lastResult === result) {
      this.resultRun++;
    } else {
      this.lastResult = result;
      this.resultRun = 1;
    }
    if (
      (result === 'failure' && this.resultRun < this.probe.failureThreshold) ||
      (result === 'success' && this.resultRun < this.probe.successThreshold)
    ) {
      return; // below the threshold: the cached result stays
    }
    this.setResult(result, result === 'failure' ? outcome.message : '');
    if ((this.type === 'liveness' || this.type === 'startup') && result === 'failure') {
      // The container will be killed; probe nothing until a new container appears.
      this.onHold = true;
      this.resultRun = 0;
    }
  }
}
