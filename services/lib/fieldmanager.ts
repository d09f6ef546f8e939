/**
 * Field ownership for server-side apply (metadata.managedFields), an approximation of
 * Kubernetes' structured-merge-diff on plain JSON, walking the same patch-metadata table as the
 * strategic merge patch (services/lib/strategicpatch.ts).
 *
 * What it does, as Kubernetes does:
 * - every manager's fields are a set of paths in FieldsV1 form: `f:<field>` for struct and map
 *   members, `k:{"<mergeKey>":<value>}` for the items of lists that merge by key, `v:<value>` for
 *   the values of merging scalar lists; lists without a merge strategy and scalars are leaves;
 * - an Apply owns exactly the fields of its applied configuration; fields it applied before and
 *   no longer applies are removed from the object unless another manager owns them too;
 * - an Apply that would change a field another manager owns is a conflict (409, Kubernetes'
 *   message) unless forced, in which case the other manager loses that field;
 * - an Update (create, update, patch with a fieldManager) owns the fields whose values it
 *   changed, and other managers lose them.
 *
 * What is approximated: list items are keyed by their listMapKeys with a table of defaults (protocol
 * TCP) rather than by a defaulted copy of the applied configuration; the applied configuration is merged with strategic
 * merge semantics (new list items are ordered as a strategic patch orders them); there is no
 * per-version conversion of field sets (kubemu serves one version per kind).
 *
 * Pure: nothing here mutates its inputs or does I/O.
 */
import { ManagedFieldsEntry } from './generated/kubemu/meta/v1/meta';
import { FieldPatchMeta, isMergeStrategy, lookupField, PatchSchema } from './strategicpatch';

type JsonObject = { [key: string]: unknown };

/** A set of field paths; each path is an array of FieldsV1 path elements, stored as its JSON text. */
export type FieldSet = Set<string>;

/** One field another manager owns that an apply would change. */
export interface FieldConflict {
  manager: string;
  /** The manager's display form in Kubernetes' message: `"name"` or `"name" using apps/v1`. */
  managerDisplay: string;
  /** Kubernetes' path form: `.spec.replicas`, `.spec.template.spec.containers[name="web"].image`. */
  path: string;
}

/** An apply that conflicts with other managers; `message` is Kubernetes' exact text. */
export class ApplyConflictError extends Error {
  constructor(readonly conflicts: FieldConflict[]) {
    super(conflictMessage(conflicts));
    this.name = 'ApplyConflictError';
  }
}

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

// Fields that belong to the system, not to any manager (Kubernetes' stripMeta and status reset).
const STRIPPED_METADATA = ['name', 'namespace', 'generateName', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink'];

/**
 * The part of an object a manager can own: without apiVersion, kind, system metadata and, for
 * the main resource of a kind with a status subresource, without status (only status for the
 * status subresource). Returns a copy.
 */
export function ownablePart(json: unknown, opts: { hasStatus: boolean; subresource: string }): JsonObject {
  if (!isObject(json)) return {};
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(json)) {
    if (k === 'apiVersion' || k === 'kind') continue;
    if (opts.subresource === 'status' ? k !== 'status' : opts.hasStatus && k === 'status') continue;
    if (k === 'metadata' && isObject(v)) {
      const meta: JsonObject = {};
      for (const [mk, mv] of Object.entries(v)) if (!STRIPPED_METADATA.includes(mk)) meta[mk] = mv;
      if (Object.keys(meta).length) out.metadata = meta;
      continue;
    }
    out[k] = v;
  }
  return out;
}

const fieldElem = (name: string) => `f:${name}`;
const valueElem = (v: unknown) => `v:${JSON.stringify(v)}`;
/** A list item's key element: every listMapKey it has (defaulted when missing), else the merge key. */
function keyElem(meta: FieldPatchMeta, item: JsonObject): string {
  const keys = meta.listMapKeys ?? [meta.mergeKey!];
  const key: JsonObject = {};
  for (const k of keys) {
    const v = item[k] ?? meta.keyDefaults?.[k];
    if (v !== undefined) key[k] = v;
  }
  return `k:${JSON.stringify(key)}`;
}

/**
 * The set of fields a JSON object sets, in FieldsV1 paths, by the patch metadata in `schema`.
 * Items of keyed lists are members themselves (Kubernetes' `".": {}`) as well as their fields.
 */
export function fieldSetOf(json: unknown, schema: PatchSchema | undefined): FieldSet {
  const out: FieldSet = new Set();
  walk(json, schema, [], out);
  return out;
}

function walk(value: unknown, schema: PatchSchema | undefined, prefix: string[], out: FieldSet): void {
  if (!isObject(value)) return;
  for (const [k, child] of Object.entries(value)) {
    const path = [...prefix, fieldElem(k)];
    const meta = lookupField(schema, k);
    if (isObject(child) && Object.keys(child).length > 0) {
      walk(child, meta.type, path, out);
    } else if (Array.isArray(child) && isMergeStrategy(meta) && child.length > 0) {
      for (const item of child) {
        if (meta.mergeKey && isObject(item) && item[meta.mergeKey] !== undefined) {
          const itemPath = [...path, keyElem(meta, item)];
          out.add(JSON.stringify(itemPath));
          walk(item, meta.type, itemPath, out);
        } else if (!isObject(item) && !Array.isArray(item)) {
          out.add(JSON.stringify([...path, valueElem(item)]));
        } else {
          out.add(JSON.stringify(path));
        }
      }
    } else {
      out.add(JSON.stringify(path));
    }
  }
}

/**
 * The index of the list item with the key fields of a `k:` element: an exact match, else an item
 * that only lacks some key fields (not yet defaulted, e.g. a port without its protocol); -1.
 */
function findItem(list: unknown[], key: JsonObject): number {
  const entries = Object.entries(key);
  const exact = list.findIndex((x) => isObject(x) && entries.every(([k, v]) => x[k] === v));
  if (exact >= 0) return exact;
  return list.findIndex((x) => isObject(x) && entries.every(([k, v]) => x[k] === v || x[k] === undefined) && entries.some(([k]) => x[k] !== undefined));
}

/** The value at a FieldsV1 path, or `found: false`. */
export function valueAt(json: unknown, path: string[]): { found: boolean; value?: unknown } {
  let cur: unknown = json;
  for (const elem of path) {
    const kind = elem.slice(0, 2);
    const rest = elem.slice(2);
    if (kind === 'f:') {
      if (!isObject(cur) || !Object.prototype.hasOwnProperty.call(cur, rest)) return { found: false };
      cur = cur[rest];
    } else if (kind === 'k:') {
      if (!Array.isArray(cur)) return { found: false };
      const i = findItem(cur, JSON.parse(rest) as JsonObject);
      if (i < 0) return { found: false };
      cur = cur[i];
    } else if (kind === 'v:') {
      if (!Array.isArray(cur)) return { found: false };
      const want = JSON.parse(rest);
      if (!cur.some((x) => deepEqual(x, want))) return { found: false };
      cur = want;
    } else {
      return { found: false };
    }
  }
  return { found: true, value: cur };
}

/** Removes the member at a FieldsV1 path from `json` (mutated; the caller passes a private copy). */
export function removeAt(json: unknown, path: string[]): void {
  if (path.length === 0) return;
  const parent = valueAt(json, path.slice(0, -1));
  if (!parent.found) return;
  const last = path[path.length - 1];
  const kind = last.slice(0, 2);
  const rest = last.slice(2);
  if (kind === 'f:' && isObject(parent.value)) {
    delete parent.value[rest];
  } else if (kind === 'k:' && Array.isArray(parent.value)) {
    const i = findItem(parent.value, JSON.parse(rest) as JsonObject);
    if (i >= 0) parent.value.splice(i, 1);
  } else if (kind === 'v:' && Array.isArray(parent.value)) {
    const want = JSON.parse(rest);
    const i = parent.value.findIndex((x) => deepEqual(x, want));
    if (i >= 0) parent.value.splice(i, 1);
  }
}

/** Kubernetes' path form of a FieldsV1 path: `.spec.containers[name="web"].image`, `.metadata.finalizers[="x"]`. */
export function displayPath(path: string[]): string {
  return path
    .map((elem) => {
      const rest = elem.slice(2);
      if (elem.startsWith('f:')) return `.${rest}`;
      if (elem.startsWith('v:')) return `[=${rest}]`;
      const key = JSON.parse(rest) as JsonObject;
      return `[${Object.entries(key).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]`;
    })
    .join('');
}

/** FieldsV1 JSON (`{"f:spec":{"f:replicas":{}}}`) of a field set. */
export function toFieldsV1(set: FieldSet): JsonObject {
  const root: JsonObject = {};
  const paths = [...set].map((p) => JSON.parse(p) as string[]);
  const owned = new Set(set);
  for (const path of paths) {
    let node = root;
    for (const elem of path) node = (node[elem] ??= {}) as JsonObject;
  }
  // A member that is owned and also has owned children carries ".".
  for (const path of paths) {
    let node = root;
    for (const elem of path) node = node[elem] as JsonObject;
    if (Object.keys(node).length > 0 && owned.has(JSON.stringify(path))) node['.'] = {};
  }
  return root;
}

/** The field set of FieldsV1 JSON (an object or its JSON text); malformed input is an empty set. */
export function fromFieldsV1(fields: unknown): FieldSet {
  let tree: unknown = fields;
  if (typeof fields === 'string') {
    try {
      tree = fields ? JSON.parse(fields) : {};
    } catch {
      return new Set();
    }
  }
  const out: FieldSet = new Set();
  const visit = (node: unknown, path: string[]) => {
    if (!isObject(node)) return;
    const keys = Object.keys(node);
    if (path.length && (keys.length === 0 || keys.includes('.'))) out.add(JSON.stringify(path));
    for (const k of keys) if (k !== '.') visit(node[k], [...path, k]);
  };
  visit(tree, []);
  return out;
}

/** Whether `fieldElem` (f:x) names a key field of the list item `itemElem` (k:{"x":...}). */
function isKeyField(itemElem: string, fieldElem: string): boolean {
  if (!itemElem.startsWith('k:') || !fieldElem.startsWith('f:')) return false;
  try {
    return Object.prototype.hasOwnProperty.call(JSON.parse(itemElem.slice(2)), fieldElem.slice(2));
  } catch {
    return false;
  }
}

/** Identity of a managedFields entry: manager, operation and subresource (as Kubernetes keys them). */
function entryKey(e: ManagedFieldsEntry): string {
  return JSON.stringify([e.manager ?? '', e.operation ?? '', e.subresource ?? '']);
}

function display(e: ManagedFieldsEntry): string {
  let s = JSON.stringify(e.manager ?? '');
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === 'Update') s += ` using ${e.apiVersion ?? ''}`;
  return s;
}

/** Kubernetes' apply conflict message (apiserver fieldmanager internal/conflict.go). */
export function conflictMessage(conflicts: FieldConflict[]): string {
  if (conflicts.length === 1) return `Apply failed with 1 conflict: conflict with ${conflicts[0].managerDisplay}: ${conflicts[0].path}`;
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) byManager.set(c.managerDisplay, [...(byManager.get(c.managerDisplay) ?? []), c.path]);
  const lines: string[] = [];
  for (const manager of [...byManager.keys()].sort()) {
    lines.push(`conflicts with ${manager}:`);
    for (const p of byManager.get(manager)!) lines.push(`- ${p}`);
  }
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
}

export interface ApplyInput {
  /** The live object's JSON, or undefined when the apply creates it. */
  live: JsonObject | undefined;
  /** The applied configuration (its ownable part is what the manager owns). */
  applied: JsonObject;
  managedFields: ManagedFieldsEntry[];
  manager: string;
  apiVersion: string;
  force: boolean;
  time: string;
  schema: PatchSchema;
  hasStatus: boolean;
  subresource: string;
  /**
   * Merges the applied configuration into the (pruned) live object and returns the object as
   * it would be stored (decoded and defaulted), for the conflict check.
   */
  merge(prunedLive: JsonObject, applied: JsonObject): JsonObject;
}

export interface ApplyOutcome {
  /** The merged object (from `merge`). */
  object: JsonObject;
  managedFields: ManagedFieldsEntry[];
}

/**
 * Server-side apply of `applied` by `manager` over `live`: prunes the fields the manager applied
 * before and no longer applies (unless others own them), merges, checks the fields other managers
 * own, and computes the new managedFields. Throws ApplyConflictError when a field owned by another
 * manager would change and `force` is false.
 */
export function serverSideApply(input: ApplyInput): ApplyOutcome {
  const { schema, manager } = input;
  const scope = { hasStatus: input.hasStatus, subresource: input.subresource };
  const appliedOwnable = ownablePart(input.applied, scope);
  const newSet = fieldSetOf(appliedOwnable, schema);
  const entries = input.managedFields.map((e) => ({ entry: e, set: fromFieldsV1(e.fieldsV1) }));
  const ours = entries.find((e) => e.entry.manager === manager && e.entry.operation === 'Apply' && (e.entry.subresource ?? '') === input.subresource);
  const others = entries.filter((e) => e !== ours);
  const othersUnion = new Set(others.flatMap((e) => [...e.set]));

  // Fields this manager applied before and dropped now go, unless someone else holds them.
  const pruned = structuredClone(input.live ?? {}) as JsonObject;
  if (ours) {
    const dropped = [...ours.set].filter((p) => !newSet.has(p) && !othersUnion.has(p));
    const held = [...othersUnion];
    // Deepest first, so an item's fields go before the item.
    dropped.sort((a, b) => JSON.parse(b).length - JSON.parse(a).length);
    for (const p of dropped) {
      const prefix = p.slice(0, -1);
      if (held.some((h) => h.startsWith(prefix + ','))) continue;
      const path = JSON.parse(p) as string[];
      // Key fields go only with their item (removed whole when nobody else holds part of it).
      if (path.length >= 2 && isKeyField(path[path.length - 2], path[path.length - 1])) continue;
      removeAt(pruned, path);
    }
  }
  const merged = input.merge(pruned, input.applied);

  const conflicts: FieldConflict[] = [];
  const lost = new Map<(typeof others)[number], string[]>();
  if (input.live) {
    for (const other of others) {
      for (const p of other.set) {
        if (!newSet.has(p)) continue;
        const path = JSON.parse(p) as string[];
        const before = valueAt(input.live, path);
        const after = valueAt(merged, path);
        // A list item as a member is only its presence; its fields are paths of their own.
        const membership = !path[path.length - 1].startsWith('f:');
        if (before.found === after.found && (membership || deepEqual(before.value, after.value))) continue;
        conflicts.push({ manager: other.entry.manager ?? '', managerDisplay: display(other.entry), path: displayPath(path) });
        lost.set(other, [...(lost.get(other) ?? []), p]);
      }
    }
  }
  if (conflicts.length && !input.force) throw new ApplyConflictError(conflicts);

  const next: ManagedFieldsEntry[] = [];
  let placed = false;
  const ourEntry: ManagedFieldsEntry = {
    manager,
    operation: 'Apply',
    apiVersion: input.apiVersion,
    time: input.time,
    fieldsType: 'FieldsV1',
    fieldsV1: JSON.stringify(toFieldsV1(newSet)),
    subresource: input.subresource,
  };
  for (const e of entries) {
    if (e === ours) {
      if (newSet.size) next.push(ourEntry);
      placed = true;
      continue;
    }
    const taken = lost.get(e);
    if (!taken) {
      next.push(e.entry);
      continue;
    }
    const remaining = new Set([...e.set].filter((p) => !taken.includes(p)));
    if (remaining.size) next.push({ ...e.entry, fieldsV1: JSON.stringify(toFieldsV1(remaining)) });
  }
  if (!placed && newSet.size) next.push(ourEntry);
  return { object: merged, managedFields: next };
}

/**
 * The managedFields after an Update by `manager` (create when `old` is undefined): the manager
 * gains the fields whose values changed (all set fields on create) and other managers lose them;
 * fields gone from the object leave every set. Returns `managedFields` unchanged when no ownable
 * field changed, so a no-op update stays a no-op.
 */
export function trackUpdate(args: {
  old: JsonObject | undefined;
  next: JsonObject;
  managedFields: ManagedFieldsEntry[];
  manager: string;
  apiVersion: string;
  time: string;
  schema: PatchSchema;
  hasStatus: boolean;
  subresource: string;
}): ManagedFieldsEntry[] {
  const scope = { hasStatus: args.hasStatus, subresource: args.subresource };
  const nextPart = ownablePart(args.next, scope);
  const oldPart = args.old ? ownablePart(args.old, scope) : undefined;
  const nextSet = fieldSetOf(nextPart, args.schema);
  const changed = new Set<string>();
  for (const p of nextSet) {
    const path = JSON.parse(p) as string[];
    if (!oldPart) {
      changed.add(p);
      continue;
    }
    const before = valueAt(oldPart, path);
    const after = valueAt(nextPart, path);
    if (!before.found || !deepEqual(before.value, after.value)) changed.add(p);
  }
  const removed = oldPart ? [...fieldSetOf(oldPart, args.schema)].filter((p) => !nextSet.has(p)) : [];
  if (!changed.size && !removed.length) return args.managedFields;
  const out: ManagedFieldsEntry[] = [];
  let ours: FieldSet | undefined;
  const isOurs = (e: ManagedFieldsEntry) => e.manager === args.manager && e.operation === 'Update' && (e.subresource ?? '') === args.subresource;
  for (const e of args.managedFields) {
    const set = fromFieldsV1(e.fieldsV1);
    for (const p of removed) set.delete(p);
    if (isOurs(e)) {
      ours = set;
      continue;
    }
    for (const p of changed) set.delete(p);
    if (set.size) out.push({ ...e, fieldsV1: JSON.stringify(toFieldsV1(set)) });
  }
  const mine = new Set([...(ours ?? []), ...changed]);
  if (mine.size) {
    out.push({
      manager: args.manager,
      operation: 'Update',
      apiVersion: args.apiVersion,
      time: args.time,
      fieldsType: 'FieldsV1',
      fieldsV1: JSON.stringify(toFieldsV1(mine)),
      subresource: args.subresource,
    });
  }
  return out;
}

/** Keys of managedFields entries, for tests and diagnostics. */
export function managerKeys(entries: ManagedFieldsEntry[]): string[] {
  return entries.map(entryKey);
}

function mapManagedFields(json: unknown, fn: (fields: unknown) => unknown): unknown {
  if (!isObject(json) || !isObject(json.metadata) || !Array.isArray(json.metadata.managedFields)) return json;
  const entries = json.metadata.managedFields.map((e) => (isObject(e) && e.fieldsV1 !== undefined ? { ...e, fieldsV1: fn(e.fieldsV1) } : e));
  return { ...json, metadata: { ...json.metadata, managedFields: entries } };
}

/**
 * An object's JSON with every managedFields[].fieldsV1 as the JSON object Kubernetes' API shows
 * (kubemu stores it as JSON text): for REST output and for patching, since clients patch the
 * Kubernetes form (kubectl's client-side-apply upgrade replaces managedFields with a JSON patch).
 * Text that is not JSON stays as it is. Returns a new object; never throws.
 */
export function managedFieldsToKubernetes(json: unknown): unknown {
  return mapManagedFields(json, (f) => {
    if (typeof f !== 'string') return f;
    try {
      return f ? JSON.parse(f) : {};
    } catch {
      return f;
    }
  });
}

/** The inverse of managedFieldsToKubernetes: fieldsV1 objects back to JSON text, for decoding. Never throws. */
export function managedFieldsFromKubernetes(json: unknown): unknown {
  return mapManagedFields(json, (f) => (isObject(f) ? JSON.stringify(f) : f));
}
