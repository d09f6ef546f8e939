/**
 * Completion indexes of Indexed Jobs (pkg/controller/job/indexed_job_utils.go): the index a pod
 * carries, and sets of indexes in the compressed interval form of status.completedIndexes
 * ("1,3-5,7"). Pure functions, safe to call concurrently.
 */
import { Pod } from '../../lib/generated/kubemu/core/v1/core';

export const JOB_COMPLETION_INDEX_ANNOTATION = 'batch.kubernetes.io/job-completion-index';
export const JOB_COMPLETION_INDEX_ENV = 'JOB_COMPLETION_INDEX';
/** What getCompletionIndex returns for a pod without a valid index. */
export const UNKNOWN_COMPLETION_INDEX = -1;

/** The pod's completion index from its annotation (falling back to the label), or -1 when absent or malformed. */
export function completionIndexOf(pod: Pod): number {
  const v = pod.metadata?.annotations?.[JOB_COMPLETION_INDEX_ANNOTATION] ?? pod.metadata?.labels?.[JOB_COMPLETION_INDEX_ANNOTATION];
  if (v === undefined || !/^[0-9]+$/.test(v)) return UNKNOWN_COMPLETION_INDEX;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : UNKNOWN_COMPLETION_INDEX;
}

/** A closed interval of indexes. */
export interface Interval {
  first: number;
  last: number;
}

/**
 * Parses "1,3-5,7" into ordered, merged intervals, keeping only indexes below `completions`
 * (Kubernetes drops out-of-range and malformed parts instead of failing).
 */
export function parseIndexesFromString(s: string | undefined, completions: number): Interval[] {
  const out: Interval[] = [];
  if (!s) return out;
  for (const part of s.split(',')) {
    const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(part.trim());
    if (!m) continue;
    const first = Number(m[1]);
    let last = m[2] === undefined ? first : Number(m[2]);
    if (first >= completions || last < first) continue;
    last = Math.min(last, completions - 1);
    out.push({ first, last });
  }
  return mergeIntervals(out);
}

function mergeIntervals(list: Interval[]): Interval[] {
  const sorted = [...list].sort((a, b) => a.first - b.first);
  const out: Interval[] = [];
  for (const iv of sorted) {
    const prev = out[out.length - 1];
    if (prev && iv.first <= prev.last + 1) prev.last = Math.max(prev.last, iv.last);
    else out.push({ ...iv });
  }
  return out;
}

/** The union of `intervals` and the single indexes `add`. */
export function withIndexes(intervals: Interval[], add: number[]): Interval[] {
  return mergeIntervals([...intervals, ...add.map((i) => ({ first: i, last: i }))]);
}

/** How many indexes the intervals hold. */
export function intervalsTotal(intervals: Interval[]): number {
  return intervals.reduce((n, iv) => n + iv.last - iv.first + 1, 0);
}

/** Whether `ix` is in one of the intervals. */
export function intervalsHas(intervals: Interval[], ix: number): boolean {
  return intervals.some((iv) => iv.first <= ix && ix <= iv.last);
}

/** The compressed form: "0-2,4" (a pair of neighbours is written "3,4", as Kubernetes does). */
export function formatIntervals(intervals: Interval[]): string {
  return intervals
    .map((iv) => (iv.first === iv.last ? `${iv.first}` : iv.last === iv.first + 1 ? `${iv.first},${iv.last}` : `${iv.first}-${iv.last}`))
    .join(',');
}

/**
 * The lowest `count` indexes below `completions` that are neither succeeded nor held by an
 * active pod (firstPendingIndexes).
 */
export function firstPendingIndexes(succeeded: Interval[], activeIndexes: Set<number>, count: number, completions: number): number[] {
  const out: number[] = [];
  for (let ix = 0; ix < completions && out.length < count; ix++) {
    if (activeIndexes.has(ix) || intervalsHas(succeeded, ix)) continue;
    out.push(ix);
  }
  return out;
}
