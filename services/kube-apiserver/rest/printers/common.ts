// Shared pieces of the server-side Table printers: the column and row types of
// meta.k8s.io/v1 Table, Kubernetes' duration.HumanDuration, and the small
// formatting helpers pkg/printers/internalversion uses for every kind.
// Everything here is pure; nothing reads the clock except through `now`.

import { Container } from '../../../lib/generated/kubemu/core/v1/core';
import { ObjectMeta } from '../../../lib/generated/kubemu/meta/v1/meta';
import { labelSelectorFromMeta, MetaLabelSelector } from '../../../lib/labels';

/** One meta.k8s.io/v1 TableColumnDefinition, as JSON (every field present, as Go serialises it). */
export interface ColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

/** A row condition (metav1.TableRowCondition): Kubernetes marks finished pods with one. */
export interface RowCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** What a printer produces for one object: its cells, one per column, and optional conditions. */
export interface PrintedRow {
  cells: Array<string | number | boolean>;
  conditions?: RowCondition[];
}

/**
 * A Table printer for one kind: the columns (priority 0 for the default view,
 * 1 for `-o wide`) and a pure function from an object to its cells. `row` must
 * not throw for any object the codec can decode (missing fields print as
 * Kubernetes prints their zero values) and must not mutate the object.
 */
export interface Printer<T = any> {
  columns: ColumnDefinition[];
  row(obj: T, now: Date): PrintedRow;
}

/** Builds a column definition; `format` and `priority` default to Kubernetes' zero values. */
export function column(name: string, type: string, description: string, opts: { format?: string; priority?: number } = {}): ColumnDefinition {
  return { name, type, format: opts.format ?? '', description, priority: opts.priority ?? 0 };
}

// metav1.ObjectMeta{}.SwaggerDoc() texts Kubernetes uses for its Name and Age columns.
export const NAME_DESCRIPTION =
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names';
export const CREATION_TIMESTAMP_DESCRIPTION =
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata';

export const NAME_COLUMN = column('Name', 'string', NAME_DESCRIPTION, { format: 'name' });
export const AGE_COLUMN = column('Age', 'string', CREATION_TIMESTAMP_DESCRIPTION);
export const CONTAINERS_COLUMN = column('Containers', 'string', 'Names of each container in the template.', { priority: 1 });
export const IMAGES_COLUMN = column('Images', 'string', 'Images referenced by each container in the template.', { priority: 1 });

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * Kubernetes' duration.HumanDuration (k8s.io/apimachinery/pkg/util/duration):
 * a succinct duration with 2-3 significant figures — "45s", "119s", "3m20s",
 * "15m", "5h", "5h30m", "30h", "2d3h", "45d", "2y10d", "10y". Up to 2 seconds
 * in the past counts as "0s" (clock skew); earlier is "<invalid>". Integer
 * conversions truncate toward zero, as Go's int() does. Pure.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / SECOND);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.trunc(ms / MINUTE);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(ms / HOUR);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.trunc(hours / 24) % 365;
    const years = Math.trunc(hours / 24 / 365);
    return dy === 0 ? `${years}y` : `${years}y${dy}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

// Go's zero time.Time (0001-01-01T00:00:00Z) marshals to that string in some
// clients; metav1.Time.IsZero() is true for it.
const GO_ZERO_TIME_MS = Date.parse('0001-01-01T00:00:00Z');

/**
 * Milliseconds since the epoch of an RFC 3339 timestamp, or undefined for a
 * timestamp Kubernetes would treat as zero: absent, empty, unparsable, or Go's
 * zero time. Pure.
 */
export function parseTime(ts: string | undefined | null): number | undefined {
  if (!ts) return undefined;
  const t = Date.parse(ts);
  if (Number.isNaN(t) || t <= GO_ZERO_TIME_MS) return undefined;
  return t;
}

/** Kubernetes' translateTimestampSince: "<unknown>" for a zero timestamp, else the HumanDuration since it. Pure. */
export function translateTimestampSince(ts: string | undefined | null, now: Date): string {
  const t = parseTime(ts);
  if (t === undefined) return '<unknown>';
  return humanDuration(now.getTime() - t);
}

/** The AGE cell of any object. */
export function age(meta: ObjectMeta | undefined, now: Date): string {
  return translateTimestampSince(meta?.creationTimestamp, now);
}

/** Go's byte-wise string order, which sets.List() and sort.Strings use. */
export function compareStrings(a: string, b: string): number {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  return Buffer.compare(ba, bb);
}

/** labels.FormatLabels: `k=v` pairs sorted by key, comma-joined; "<none>" when empty. Pure. */
export function formatLabels(labels: { [key: string]: string } | undefined | null): string {
  const keys = Object.keys(labels ?? {}).sort(compareStrings);
  if (keys.length === 0) return '<none>';
  return keys.map((k) => `${k}=${labels![k]}`).join(',');
}

/**
 * The selector's canonical string (metav1.LabelSelectorAsSelector(s).String()),
 * or undefined when the selector is invalid. A nil or empty selector gives "".
 */
export function labelSelectorString(sel: MetaLabelSelector | undefined | null): string | undefined {
  try {
    return labelSelectorFromMeta(sel).toString();
  } catch {
    return undefined;
  }
}

/** metav1.FormatLabelSelector: the selector string, "<none>" when it selects everything or nothing, "<error>" when invalid. */
export function formatLabelSelector(sel: MetaLabelSelector | undefined | null): string {
  const s = labelSelectorString(sel);
  if (s === undefined) return '<error>';
  return s.length === 0 ? '<none>' : s;
}

/** layoutContainerCells: container names and images, each comma-joined, for the wide CONTAINERS/IMAGES columns. */
export function layoutContainerCells(containers: Container[] | undefined): [string, string] {
  const list = containers ?? [];
  return [list.map((c) => c.name ?? '').join(','), list.map((c) => c.image ?? '').join(',')];
}

/** The string printed for an optional string field: Go prints the empty string for an unset one. */
export function str(v: string | undefined | null): string {
  return v ?? '';
}

/** An int32/int64 cell: Go prints 0 for an unset number. */
export function int(v: number | undefined | null): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** The list joined as Kubernetes' "a,b,c + N more..." with at most `max` items shown. */
export function listWithMore(list: string[], more: boolean, count: number, max: number): string {
  const ret = list.join(',');
  return more ? `${ret} + ${count - max} more...` : ret;
}
