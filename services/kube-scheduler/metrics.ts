/**
 * What kube-scheduler's metrics report (scheduler_scheduling_attempt_duration_seconds,
 * scheduler_pod_scheduling_sli_duration_seconds, binding duration), kept as bounded samples and
 * logged as one line per window, so a person or a benchmark reads throughput and latency from the
 * log. Single-threaded; recording is O(1).
 */

/** A fixed-size uniform sample of a stream (reservoir sampling), for percentiles over a long run. */
export class Reservoir {
  private readonly values: number[] = [];
  private seen = 0;

  constructor(private readonly size = 4096, private readonly random: () => number = Math.random) {}

  add(v: number): void {
    this.seen++;
    if (this.values.length < this.size) this.values.push(v);
    else {
      const i = Math.floor(this.random() * this.seen);
      if (i < this.size) this.values[i] = v;
    }
  }

  get count(): number {
    return this.seen;
  }

  /** The p-th percentile (0..100) of the sample, NaN when empty. */
  percentile(p: number): number {
    if (!this.values.length) return NaN;
    const s = [...this.values].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  }

  reset(): void {
    this.values.length = 0;
    this.seen = 0;
  }
}

const round = (v: number) => (Number.isFinite(v) ? Math.round(v * 100) / 100 : undefined);

/** Scheduling counters and latencies: a window (reset on each report) and the whole run. */
export class SchedulerMetrics {
  /** One scheduling cycle (filter + score + assume), ms. */
  readonly attempt = { window: new Reservoir(1024), total: new Reservoir() };
  /** The binding call, ms. */
  readonly binding = { window: new Reservoir(1024), total: new Reservoir() };
  /** From the pod entering the queue to its binding returning (the SLI), ms. */
  readonly e2e = { window: new Reservoir(1024), total: new Reservoir() };
  scheduled = 0;
  unschedulable = 0;
  bound = 0;
  bindFailures = 0;
  private windowStart: number;
  private windowBound = 0;

  constructor(private readonly now: () => number = Date.now) {
    this.windowStart = now();
  }

  observe(which: 'attempt' | 'binding' | 'e2e', ms: number): void {
    this[which].window.add(ms);
    this[which].total.add(ms);
  }

  /** Whether anything happened since the last window report. */
  get active(): boolean {
    return this.attempt.window.count > 0 || this.binding.window.count > 0;
  }

  /** The window's figures (bindings per second, p50/p99 of each latency), then a new window. */
  takeWindow(): Record<string, unknown> {
    const now = this.now();
    const seconds = Math.max(0.001, (now - this.windowStart) / 1000);
    const out = {
      seconds: round(seconds),
      attempts: this.attempt.window.count,
      bound: this.bound - this.windowBound,
      podsPerSecond: round((this.bound - this.windowBound) / seconds),
      attemptMsP50: round(this.attempt.window.percentile(50)),
      attemptMsP99: round(this.attempt.window.percentile(99)),
      bindingMsP50: round(this.binding.window.percentile(50)),
      bindingMsP99: round(this.binding.window.percentile(99)),
      e2eMsP50: round(this.e2e.window.percentile(50)),
      e2eMsP99: round(this.e2e.window.percentile(99)),
    };
    this.attempt.window.reset();
    this.binding.window.reset();
    this.e2e.window.reset();
    this.windowStart = now;
    this.windowBound = this.bound;
    return out;
  }

  /** Totals since start. */
  summary(): Record<string, unknown> {
    return {
      scheduled: this.scheduled,
      unschedulable: this.unschedulable,
      bound: this.bound,
      bindFailures: this.bindFailures,
      attemptMsP50: round(this.attempt.total.percentile(50)),
      attemptMsP99: round(this.attempt.total.percentile(99)),
      bindingMsP50: round(this.binding.total.percentile(50)),
      bindingMsP99: round(this.binding.total.percentile(99)),
      e2eMsP50: round(this.e2e.total.percentile(50)),
      e2eMsP99: round(this.e2e.total.percentile(99)),
    };
  }
}
