/**
 * The pod-failure backoff of Jobs (pkg/controller/job/backoff_utils.go): after failed pods the
 * controller waits before creating replacements, initial·2^(n-1) after the n-th failure since the
 * last success, capped. Kubernetes waits 10 s doubling to 6 minutes; kubemu takes the numbers from
 * the timing profile (crashLoopBackoff*), so the demo profile retries within seconds.
 */
import { Pod } from '../../lib/generated/kubemu/core/v1/core';

export interface BackoffRecord {
  failuresAfterLastSuccess: number;
  /** ms since the epoch of the newest failure counted, if any. */
  lastFailureTime?: number;
}

/**
 * When a finished pod finished (getFinishedTime): the newest terminated container's finishedAt,
 * else its deletion time, else `now`. Pure.
 */
export function podFinishedTime(pod: Pod, now: number): number {
  let latest = NaN;
  for (const s of [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])]) {
    const t = Date.parse(s.state?.terminated?.finishedAt ?? '');
    if (Number.isFinite(t) && !(t <= latest)) latest = t;
  }
  if (Number.isFinite(latest)) return latest;
  const deleted = Date.parse(pod.metadata?.deletionTimestamp ?? '');
  return Number.isFinite(deleted) ? deleted : now;
}

/**
 * The record after the newly finished pods of one sync (newBackoffRecord). A success resets the
 * count; failures newer than the newest success are counted. Pure: `prev` is not changed.
 */
export function nextBackoffRecord(prev: BackoffRecord | undefined, newSucceeded: Pod[], newFailed: Pod[], now: number): BackoffRecord {
  const rec: BackoffRecord = { ...(prev ?? { failuresAfterLastSuccess: 0 }) };
  const failedTimes = newFailed.map((p) => podFinishedTime(p, now)).sort((a, b) => a - b);
  if (newSucceeded.length === 0) {
    if (failedTimes.length === 0) return rec;
    rec.failuresAfterLastSuccess += failedTimes.length;
    rec.lastFailureTime = failedTimes[failedTimes.length - 1];
    return rec;
  }
  const lastSuccess = Math.max(...newSucceeded.map((p) => podFinishedTime(p, now)));
  const after = failedTimes.filter((t) => t > lastSuccess);
  return { failuresAfterLastSuccess: after.length, lastFailureTime: after.length ? after[after.length - 1] : undefined };
}

/**
 * How long to wait before creating pods (getRemainingTime), in ms: 0 without failures since the
 * last success or once the backoff has passed. Pure.
 */
export function backoffRemainingMs(rec: BackoffRecord | undefined, now: number, initialMs: number, maxMs: number): number {
  if (!rec || rec.failuresAfterLastSuccess === 0 || rec.lastFailureTime === undefined) return 0;
  let backoff = initialMs;
  for (let i = 1; i < rec.failuresAfterLastSuccess && backoff < maxMs; i++) backoff *= 2;
  backoff = Math.min(backoff, maxMs);
  const elapsed = now - rec.lastFailureTime;
  return elapsed >= backoff ? 0 : backoff - elapsed;
}
