/**
 * The kubelet's restart backoff (client-go flowcontrol.Backoff as pkg/kubelet uses it): per key, a
 * delay that starts at `initialMs` and doubles on every restart up to `maxMs`. A container is "in
 * backoff" while less than the current delay has passed since it last finished. An entry not
 * touched for 2 × maxMs is forgotten, so a container that has run well for a long while starts
 * again from the initial delay.
 */
export class Backoff {
  private readonly entries = new Map<string, { delayMs: number; lastUpdate: number }>();

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private entry(key: string) {
    const e = this.entries.get(key);
    if (e && this.now() - e.lastUpdate > 2 * this.maxMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** The current delay of `key` (0 when it has none). */
  delay(key: string): number {
    return this.entry(key)?.delayMs ?? 0;
  }

  /** How long `key` must still wait when it last finished at `sinceMs` (0: it may restart now). */
  remaining(key: string, sinceMs: number): number {
    const e = this.entry(key);
    if (!e) return 0;
    return Math.max(0, sinceMs + e.delayMs - this.now());
  }

  /** Records a restart of `key` now: the first one sets the initial delay, later ones double it. */
  next(key: string): void {
    const e = this.entry(key);
    const delayMs = e ? Math.min(e.delayMs * 2, this.maxMs) : this.initialMs;
    this.entries.set(key, { delayMs, lastUpdate: this.now() });
  }

  /** Forgets every key starting with `prefix` (a pod that is gone). */
  forgetPrefix(prefix: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.entries.delete(key);
  }
}
