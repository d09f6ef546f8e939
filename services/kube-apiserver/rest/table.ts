// Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for
// (Accept: application/json;as=Table;v=v1;g=meta.k8s.io). The columns and
// cells are Kubernetes' own (pkg/printers/internalversion); kubectl only lays
// them out, hides priority-1 columns unless `-o wide`, and adds NAMESPACE and
// LABELS columns from each row's object metadata.

import { managedFieldsToKubernetes } from '../../lib/fieldmanager';
import { KubeObject, ResourceInfo } from '../../lib/resources';
import { printerFor } from './printers';

export { humanDuration, translateTimestampSince } from './printers/common';

/** What each row carries besides its cells (the `includeObject` query parameter). */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface TableOptions {
  /** The list's metadata; for a single object without it, the object's resourceVersion is used, as Kubernetes does. */
  listMeta?: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  /** Default 'Metadata': a PartialObjectMetadata per row, which kubectl needs for -A and --show-labels. */
  includeObject?: IncludeObject;
  /** The clock for AGE and other durations; defaults to the current time. */
  now?: Date;
}

function objectJSON(info: ResourceInfo, obj: KubeObject): Record<string, unknown> {
  const json = (managedFieldsToKubernetes(info.codec.toJSON(obj as never)) ?? {}) as Record<string, unknown>;
  // kind and apiVersion first, as Kubernetes serialises them; stored objects may lack them.
  const out: Record<string, unknown> = { kind: info.kind, apiVersion: info.apiVersion };
  Object.assign(out, json);
  out.kind = info.kind;
  out.apiVersion = info.apiVersion;
  return out;
}

function rowObject(info: ResourceInfo, obj: KubeObject, include: IncludeObject): Record<string, unknown> | undefined {
  if (include === 'None') return undefined;
  const json = objectJSON(info, obj);
  if (include === 'Object') return json;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: json.metadata ?? {} };
}

/**
 * Prints `objects` (all of the kind `info` describes) as a meta.k8s.io/v1
 * Table: { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata,
 * columnDefinitions: [{name, type, format, description, priority}],
 * rows: [{cells, conditions?, object?}] }. Every column is present, priority 1
 * (the `-o wide` ones) included, as the apiserver sends them; row order is the
 * order of `objects`. Kinds without a Kubernetes printer get NAME and AGE.
 * Pure (reads the clock only when opts.now is absent), does not mutate its
 * arguments, safe to call concurrently; throws only on a programming error.
 */
export function toTable(
  info: ResourceInfo,
  objects: KubeObject[],
  opts: {
    listMeta?: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
    includeObject?: 'None' | 'Metadata' | 'Object';
    now?: Date;
  } = {},
): Record<string, unknown> {
  const printer = printerFor(info.kind);
  const now = opts.now ?? new Date();
  const include = opts.includeObject ?? 'Metadata';

  const metadata: Record<string, unknown> = {};
  const listMeta = opts.listMeta ?? (objects.length === 1 ? { resourceVersion: objects[0].metadata?.resourceVersion } : undefined);
  if (listMeta?.resourceVersion) metadata.resourceVersion = listMeta.resourceVersion;
  if (listMeta?.continue) metadata.continue = listMeta.continue;
  if (typeof listMeta?.remainingItemCount === 'number') metadata.remainingItemCount = listMeta.remainingItemCount;

  const rows = objects.map((obj) => {
    const printed = printer.row(obj, now);
    const row: Record<string, unknown> = { cells: printed.cells };
    if (printed.conditions) row.conditions = printed.conditions.map((c) => ({ ...c }));
    const object = rowObject(info, obj, include);
    if (object) row.object = object;
    return row;
  });

  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata,
    columnDefinitions: printer.columns.map((c) => ({ ...c })),
    rows,
  };
}
