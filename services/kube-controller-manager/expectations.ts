/**
 * ControllerExpectations (pkg/controller/controller_utils.go): a controller that has just asked
 * for n pods to be created (or deleted) must not act on its key again until the informer has
 * shown it those n changes, or it would create them twice. Expectations expire after 5 minutes
 * so a lost watch event cannot wedge a controller forever.
 */
const EXPECTATIONS_TTL_MS = 5 * 60 * 1000;

interface Expectation {
  add: number;
  del: number;
  at: number;
}

export class ControllerExpectations {
  private readonly byKey = new Map<string, Expectation>();

  constructor(private readonly now: () => number = Date.now) {}

  /** True when `key` may be reconciled: nothing expected, everything observed, or the expectation expired. */
  satisfied(key: string): boolean {
    const e = this.byKey.get(key);
    if (!e) return true;
    return (e.add <= 0 && e.del <= 0) || this.now() - e.at > EXPECTATIONS_TTL_MS;
  }

  /** Records that `adds` creations and `dels` deletions were asked for (replacing what was expected). */
  expect(key: string, adds: number, dels: number): void {
    this.byKey.set(key, { add: adds, del: dels, at: this.now() });
  }

  /** One expected creation was observed (or will never happen: the create call failed). */
  creationObserved(key: string): void {
    const e = this.byKey.get(key);
    if (e) e.add--;
  }

  /** One expected deletion was observed (or will never happen). */
  deletionObserved(key: string): void {
    const e = this.byKey.get(key);
    if (e) e.del--;
  }

  delete(key: string): void {
    this.byKey.delete(key);
  }
}
