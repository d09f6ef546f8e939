/**
 * UIDTrackingControllerExpectations (pkg/controller/controller_utils.go): deletions are expected
 * by pod key, so a pod seen twice on its way out (first with a deletionTimestamp, then deleted)
 * is counted once, and a deletion the controller did not ask for lowers nothing.
 */
import { ControllerExpectations } from '../expectations';

export class UIDTrackingExpectations {
  private readonly counts: ControllerExpectations;
  private readonly deleting = new Map<string, Set<string>>();

  constructor(now: () => number = Date.now) {
    this.counts = new ControllerExpectations(now);
  }

  /** True when `key` may act again (see ControllerExpectations.satisfied). */
  satisfied(key: string): boolean {
    return this.counts.satisfied(key);
  }

  expectCreations(key: string, adds: number): void {
    this.deleting.delete(key);
    this.counts.expect(key, adds, 0);
  }

  /** Expects the deletion of exactly these pods (keys namespace/name). */
  expectDeletions(key: string, podKeys: string[]): void {
    this.deleting.set(key, new Set(podKeys));
    this.counts.expect(key, 0, podKeys.length);
  }

  creationObserved(key: string): void {
    this.counts.creationObserved(key);
  }

  /** The deletion of `podKey` was observed (or will not happen); counts only once per expected pod. */
  deletionObserved(key: string, podKey: string): void {
    const set = this.deleting.get(key);
    if (!set?.delete(podKey)) return;
    this.counts.deletionObserved(key);
  }

  delete(key: string): void {
    this.deleting.delete(key);
    this.counts.delete(key);
  }
}
