/**
 * Strategic merge patch (application/strategic-merge-patch+json), as Kubernetes applies it
 * (k8s.io/apimachinery/pkg/util/strategicpatch, StrategicMergeMapPatch with MergeParallelList and
 * IgnoreUnmatchedNulls), on plain JSON values.
 *
 * Semantics, as in Kubernetes:
 * - maps merge key by key, recursively; `null` deletes a key;
 * - a list whose field has patchStrategy "merge" merges: lists of objects by their patchMergeKey
 *   (an item whose key matches merges into the live item, others are added), lists of scalars
 *   as a union; every other list (and every field with patchStrategy "replace") is replaced;
 * - directives: `$patch: replace|delete` in a map, `$patch: delete|replace` as a list item,
 *   `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>`, `$retainKeys`;
 * - element order: items named by the patch come in the patch's order, interleaved with the
 *   server-only items by their live order (so a new item goes before the live items it does not
 *   follow, as Kubernetes does).
 *
 * The schema (which fields merge, by which key) is a table written from Kubernetes' struct tags
 * (patchStrategy / patchMergeKey, see `STRATEGIC_SCHEMAS`), keyed by Kubernetes type name and
 * walked from each kind's root. A field the table does not name behaves as a plain field: maps
 * merge and lists replace. (Kubernetes rejects fields unknown to the Go type; here the decoder
 * drops them afterwards, so leniency costs nothing.)
 *
 * Pure: inputs are never mutated and the result shares nothing with them.
 */

type JsonObject = { [key: string]: unknown };

/** How one field of a type is patched. */
export interface FieldPatchMeta {
  /** Kubernetes' patchStrategy tag: "merge", "replace", "retainKeys" or "merge,retainKeys". */
  strategy?: string;
  /** Kubernetes' patchMergeKey tag (lists of objects with strategy merge). */
  mergeKey?: string;
  /** The schema of the field's value (of the list items, for a list). */
  type?: PatchSchema;
  /**
   * Kubernetes' listMapKeys where they are more than the merge key (server-side apply keys list
   * items by all of them), with the defaults the apiserver gives a missing key.
   */
  listMapKeys?: string[];
  keyDefaults?: { [key: string]: unknown };
}

/** The patch metadata of one type: its fields that need more than the defaults. */
export interface PatchSchema {
  name: string;
  fields: { [field: string]: FieldPatchMeta };
}

/**
 * A strategic merge patch that cannot be applied. `code` is the HTTP status Kubernetes answers
 * with (interpretStrategicMergePatchError): 400 for malformed directives, 422 for lists of lists
 * and retainKeys mismatches, 500 for the rest (Kubernetes returns those errors unwrapped).
 */
export class StrategicPatchError extends Error {
  constructor(message: string, readonly code: 400 | 422 | 500 = 500) {
    super(message);
    this.name = 'StrategicPatchError';
  }
}

// Kubernetes' mergepatch error values, with their exact messages.
const errBadJSONDoc = () => new StrategicPatchError('invalid JSON document', 400);
const errNoListOfLists = () => new StrategicPatchError('lists of lists are not supported', 422);
const errBadPatchFormatForPrimitiveList = () => new StrategicPatchError('invalid patch format of primitive list', 400);
const errBadPatchFormatForRetainKeys = () => new StrategicPatchError('invalid patch format of retainKeys', 400);
const errBadPatchFormatForSetElementOrderList = () => new StrategicPatchError('invalid patch format of setElementOrder list', 400);
const errNoMergeKey = (m: unknown, key: string) => new StrategicPatchError(`map: ${goFormat(m)} does not contain declared merge key: ${key}`);
const errBadPatchType = (t: unknown, m: unknown) => new StrategicPatchError(`unknown patch type: ${goFormat(t)} in map: ${goFormat(m)}`);
const errBadArgType = (expected: string, actual: unknown) => new StrategicPatchError(`expected a ${expected}, but received a ${goType(actual)}`);

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList';
const SET_ELEMENT_ORDER = '$setElementOrder';

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function hasOwn(obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

// Assignment would turn "__proto__" into a prototype change; define it instead.
function setOwn(obj: JsonObject, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function deepClone<T>(v: T): T {
  if (Array.isArray(v)) return v.map(deepClone) as T;
  if (isObject(v)) {
    const out: JsonObject = {};
    for (const key of Object.keys(v)) setOwn(out, key, deepClone(v[key]));
    return out as T;
  }
  return v;
}

/** Go's %v rendering of decoded JSON, for messages that quote values as Kubernetes does. */
function goFormat(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goFormat).join(' ')}]`;
  if (isObject(v)) return `map[${Object.keys(v).sort().map((k) => `${k}:${goFormat(v[k])}`).join(' ')}]`;
  return String(v);
}

function goType(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return '[]interface {}';
  if (isObject(v)) return 'map[string]interface {}';
  if (typeof v === 'number') return 'float64';
  return typeof v === 'boolean' ? 'bool' : 'string';
}

type Kind = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null';

function kindOf(v: unknown): Kind {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v as Kind;
}

/** The non-retainKeys part of a patchStrategy tag ("merge,retainKeys" → "merge"). */
function baseStrategy(meta: FieldPatchMeta | undefined): string {
  const parts = (meta?.strategy ?? '').split(',').filter((s) => s && s !== 'retainKeys');
  return parts[0] ?? '';
}

function fieldMeta(schema: PatchSchema | undefined, key: string): FieldPatchMeta {
  return (schema && hasOwn(schema.fields, key) ? schema.fields[key] : undefined) ?? {};
}

/**
 * Applies a strategic merge patch to `original` (a JSON object, e.g. an object's codec.toJSON)
 * with the patch metadata `schema` (see strategicSchemaFor). Returns the patched JSON object.
 * Throws StrategicPatchError (with Kubernetes' message and HTTP code) when the patch is not an
 * object or a directive is malformed. Never mutates its inputs.
 */
export function applyStrategicMergePatch(original: unknown, patch: unknown, schema: PatchSchema | undefined): JsonObject {
  if (!isObject(patch)) throw errBadJSONDoc();
  const base = isObject(original) ? deepClone(original) : {};
  return mergeMap(base, deepClone(patch), schema);
}

// Both arguments are private copies: merging mutates them, as Kubernetes' mergeMap does.
function mergeMap(original: JsonObject | undefined, patch: JsonObject, schema: PatchSchema | undefined): JsonObject {
  if (hasOwn(patch, DIRECTIVE)) {
    const directive = patch[DIRECTIVE];
    if (directive === 'replace') {
      delete patch[DIRECTIVE];
      return discardNulls(patch) as JsonObject;
    }
    if (directive === 'delete') return {};
    throw errBadPatchType(directive, patch);
  }
  const out = original ?? {};
  applyRetainKeys(out, patch);
  mergeSetElementOrder(out, patch, schema);
  for (const rawKey of Object.keys(patch)) {
    let key = rawKey;
    const patchV = patch[rawKey];
    let isDeleteList = false;
    if (rawKey.startsWith(DELETE_FROM_PRIMITIVE_LIST)) {
      key = extractKey(rawKey, DELETE_FROM_PRIMITIVE_LIST);
      isDeleteList = true;
    }
    if (patchV === null) {
      delete out[key];
      continue;
    }
    if (!hasOwn(out, key)) {
      if (!isDeleteList) setOwn(out, key, discardNulls(patchV));
      continue;
    }
    const current = out[key];
    if (kindOf(current) !== kindOf(patchV)) {
      if (!isDeleteList) setOwn(out, key, discardNulls(patchV));
      continue;
    }
    const meta = fieldMeta(schema, key);
    const strategy = baseStrategy(meta);
    if (isObject(current)) {
      setOwn(out, key, strategy === 'replace' ? patchV : mergeMap(current, patchV as JsonObject, meta.type));
    } else if (Array.isArray(current)) {
      setOwn(out, key, mergeSliceHandler(current, patchV as unknown[], meta, isDeleteList));
    } else {
      setOwn(out, key, patchV);
    }
  }
  return out;
}

/** discardNullValuesFromPatch: a value added wholesale keeps no null members. */
function discardNulls(v: unknown): unknown {
  if (Array.isArray(v)) {
    for (const item of v) discardNulls(item);
  } else if (isObject(v)) {
    for (const k of Object.keys(v)) {
      if (v[k] === null) delete v[k];
      else discardNulls(v[k]);
    }
  }
  return v;
}

function extractKey(key: string, prefix: string): string {
  const slash = key.indexOf('/');
  if (slash < 0 || key.slice(0, slash) !== prefix) {
    if (prefix === DELETE_FROM_PRIMITIVE_LIST) throw errBadPatchFormatForPrimitiveList();
    throw errBadPatchFormatForSetElementOrderList();
  }
  return key.slice(slash + 1);
}

/**
 * `$retainKeys: [a, b]`: the live map keeps only the listed keys, and every key the patch sets
 * must be listed.
 */
function applyRetainKeys(original: JsonObject, patch: JsonObject): void {
  if (!hasOwn(patch, RETAIN_KEYS)) return;
  const list = patch[RETAIN_KEYS];
  delete patch[RETAIN_KEYS];
  if (!Array.isArray(list)) throw errBadPatchFormatForRetainKeys();
  const keep = new Set(list.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))));
  for (const k of Object.keys(patch)) {
    if (patch[k] === null || k.startsWith(DELETE_FROM_PRIMITIVE_LIST) || k.startsWith(SET_ELEMENT_ORDER)) continue;
    if (!keep.has(k)) throw errBadPatchFormatForRetainKeys();
  }
  for (const k of Object.keys(original)) if (!keep.has(k)) delete original[k];
}

/**
 * `$setElementOrder/<field>`: merges the field's patch list (if any) and then orders the result:
 * items named by the directive in its order, the server-only items interleaved by live order.
 * The processed list is removed from the patch.
 */
function mergeSetElementOrder(original: JsonObject, patch: JsonObject, schema: PatchSchema | undefined): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(SET_ELEMENT_ORDER)) continue;
    const order = patch[key];
    delete patch[key];
    if (!Array.isArray(order)) throw errBadArgType('[]interface {}', order);
    const field = extractKey(key, SET_ELEMENT_ORDER);
    const foundOriginal = hasOwn(original, field);
    const foundPatch = hasOwn(patch, field);
    const originalList = foundOriginal ? original[field] : undefined;
    const patchList = foundPatch ? patch[field] : undefined;
    if (foundOriginal && !Array.isArray(originalList)) throw errBadArgType('[]interface {}', originalList);
    if (foundPatch && !Array.isArray(patchList)) throw errBadArgType('[]interface {}', patchList);
    const meta = fieldMeta(schema, field);
    const mergeKey = meta.mergeKey ?? '';
    validatePatchWithSetOrderList((patchList as unknown[]) ?? [], order, mergeKey);
    let merged: unknown[];
    if (foundOriginal && foundPatch) merged = mergeSliceHandler(originalList as unknown[], patchList as unknown[], meta, false);
    else if (foundOriginal) merged = originalList as unknown[];
    else if (foundPatch) merged = mergeSliceHandler([], patchList as unknown[], meta, false);
    else continue;
    const originalItems = (originalList as unknown[] | undefined) ?? [];
    const elemKind = sliceElementKind(originalItems, (patchList as unknown[] | undefined) ?? []);
    if (elemKind === undefined) {
      setOwn(original, field, merged);
      delete patch[field];
      continue;
    }
    const isMap = elemKind === 'object';
    const [patchItems, serverOnly] = isMap && mergeKey ? partitionMaps(merged, order, mergeKey) : partitionPrimitives(merged, order);
    setOwn(original, field, normalizeElementOrder(patchItems, serverOnly, order, originalItems, mergeKey, isMap));
    delete patch[field];
  }
}

/** The patch list's items must appear in the $setElementOrder list, in the same relative order. */
function validatePatchWithSetOrderList(patchList: unknown[], order: unknown[], mergeKey: string): void {
  if (!order.length || !patchList.length) return;
  let nonDelete = patchList;
  if (mergeKey) {
    nonDelete = [];
    for (const item of patchList) {
      if (!isObject(item)) throw errBadArgType('map[string]interface {}', item);
      if (item[DIRECTIVE] !== 'delete') nonDelete.push(item);
    }
  }
  let p = 0;
  let o = 0;
  while (p < nonDelete.length && o < order.length) {
    if (isObject(nonDelete[p]) && hasOwn(nonDelete[p] as JsonObject, DIRECTIVE)) {
      p++;
      continue;
    }
    if (mergeKeyValueEqual(nonDelete[p], order[o], mergeKey)) p++;
    o++;
  }
  if (p < nonDelete.length && o >= order.length) {
    throw new StrategicPatchError(`The order in patch list:\n${goFormat(patchList)}\n doesn't match ${SET_ELEMENT_ORDER} list:\n${goFormat(order)}\n`);
  }
}

function mergeKeyValueEqual(left: unknown, right: unknown, mergeKey: string): boolean {
  if (!mergeKey) return left === right;
  if (!isObject(left)) throw errBadArgType('map[string]interface {}', left);
  if (!isObject(right)) throw errBadArgType('map[string]interface {}', right);
  if (!hasOwn(left, mergeKey)) throw errNoMergeKey(left, mergeKey);
  if (!hasOwn(right, mergeKey)) throw errNoMergeKey(right, mergeKey);
  return left[mergeKey] === right[mergeKey];
}

function mergeSliceHandler(original: unknown[], patch: unknown[], meta: FieldPatchMeta, isDeleteList: boolean): unknown[] {
  if (baseStrategy(meta) !== 'merge') return discardNulls(patch) as unknown[];
  return mergeSlice(original, patch, meta, isDeleteList);
}

/** The common kind of the items of the lists; undefined when they are all empty. */
function sliceElementKind(...lists: unknown[][]): Kind | undefined {
  let kind: Kind | undefined;
  for (const list of lists) {
    for (const v of list) {
      const k = kindOf(v);
      if (kind === undefined) {
        kind = k;
        if (k === 'array') throw errNoListOfLists();
      } else if (k !== kind) {
        throw new StrategicPatchError(`list element types are not identical: ${goFormat(lists)}`);
      }
    }
  }
  return kind;
}

function mergeSlice(original: unknown[], patch: unknown[], meta: FieldPatchMeta, isDeleteList: boolean): unknown[] {
  if (original.length === 0 && patch.length === 0) return original;
  const kind = sliceElementKind(original, patch)!;
  const mergeKey = meta.mergeKey ?? '';
  let merged: unknown[];
  let live = original;
  let patchItemsOnly = patch;
  if (kind !== 'object') {
    if (isDeleteList) {
      const drop = new Set(patch);
      return original.filter((v) => !drop.has(v));
    }
    merged = dedupeScalars([...original, ...patch]);
  } else {
    if (!mergeKey) throw new StrategicPatchError('cannot merge lists without merge key for type struct');
    [live, patchItemsOnly] = mergeSliceWithSpecialElements(original, patch, mergeKey);
    merged = mergeSliceWithoutSpecialElements([...live], patchItemsOnly, mergeKey, meta.type);
  }
  const isMap = kind === 'object';
  const [patchItems, serverOnly] = isMap ? partitionMaps(merged, patchItemsOnly, mergeKey) : partitionPrimitives(merged, patchItemsOnly);
  return normalizeElementOrder(patchItems, serverOnly, patchItemsOnly, live, mergeKey, isMap);
}

function dedupeScalars(list: unknown[]): unknown[] {
  const seen = new Set<unknown>();
  return list.filter((v) => (seen.has(v) ? false : (seen.add(v), true)));
}

/**
 * Items with a `$patch` directive: `delete` removes the live items with that merge key,
 * `replace` makes the rest of the patch list the whole list. Returns the live list and the
 * patch list without them.
 */
function mergeSliceWithSpecialElements(original: unknown[], patch: unknown[], mergeKey: string): [unknown[], unknown[]] {
  const plain: unknown[] = [];
  let replace = false;
  let live = original;
  for (const item of patch) {
    const m = item as JsonObject;
    if (!hasOwn(m, DIRECTIVE)) {
      plain.push(item);
      continue;
    }
    const directive = m[DIRECTIVE];
    if (directive === 'delete') {
      if (!hasOwn(m, mergeKey)) throw errNoMergeKey(m, mergeKey);
      live = live.filter((v) => !(isObject(v) && hasOwn(v, mergeKey) && v[mergeKey] === m[mergeKey]));
    } else if (directive === 'replace') {
      replace = true;
    } else if (directive === 'merge') {
      throw new StrategicPatchError('merging lists cannot yet be specified in the patch');
    } else {
      throw errBadPatchType(directive, m);
    }
  }
  if (replace) return [plain.map(discardNulls), []];
  return [live, plain];
}

function findByKey(list: unknown[], mergeKey: string, value: unknown): number {
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (!isObject(v)) throw new StrategicPatchError(`value for key ${i} is not a map.`);
    if (hasOwn(v, mergeKey) && v[mergeKey] === value) return i;
  }
  return -1;
}

function mergeSliceWithoutSpecialElements(original: unknown[], patch: unknown[], mergeKey: string, itemSchema: PatchSchema | undefined): unknown[] {
  for (const item of patch) {
    const m = item as JsonObject;
    if (!hasOwn(m, mergeKey)) throw errNoMergeKey(m, mergeKey);
    const at = findByKey(original, mergeKey, m[mergeKey]);
    if (at >= 0) original[at] = mergeMap(original[at] as JsonObject, m, itemSchema);
    else original.push(discardNulls(m));
  }
  return original;
}

function partitionPrimitives(list: unknown[], by: unknown[]): [unknown[], unknown[]] {
  const inBy = new Set(by);
  return [list.filter((v) => inBy.has(v)), list.filter((v) => !inBy.has(v))];
}

function partitionMaps(list: unknown[], by: unknown[], mergeKey: string): [unknown[], unknown[]] {
  const inPatch: unknown[] = [];
  const serverOnly: unknown[] = [];
  for (const v of list) {
    if (!isObject(v)) throw errBadArgType('map[string]interface {}', v);
    if (!hasOwn(v, mergeKey)) throw errNoMergeKey(v, mergeKey);
    if (findByKey(by, mergeKey, v[mergeKey]) >= 0) inPatch.push(v);
    else serverOnly.push(v);
  }
  return [inPatch, serverOnly];
}

function indexIn(list: unknown[], item: unknown, mergeKey: string, isMap: boolean): number {
  const val = (x: unknown) => (isMap ? (isObject(x) ? x[mergeKey] : undefined) : x);
  const want = val(item);
  return list.findIndex((x) => val(x) === want);
}

/** Sorts `items` by their position in `order` (stable; items absent from it keep their place at the end). */
function normalizeSliceOrder(items: unknown[], order: unknown[], mergeKey: string, isMap: boolean): unknown[] {
  let toSort = items;
  let toDelete: unknown[] = [];
  if (isMap) {
    for (const v of [...items, ...order]) {
      if (!isObject(v)) throw errBadArgType('map[string]interface {}', v);
      if (!hasOwn(v, mergeKey)) throw errNoMergeKey(v, mergeKey);
    }
    toSort = items.filter((v) => (v as JsonObject)[DIRECTIVE] !== 'delete');
    toDelete = items.filter((v) => (v as JsonObject)[DIRECTIVE] === 'delete');
  }
  const ranked = toSort.map((v, i) => ({ v, i, at: indexIn(order, v, mergeKey, isMap) }));
  ranked.sort((a, b) => {
    if (a.at >= 0 && b.at >= 0) return a.at - b.at || a.i - b.i;
    if (a.at >= 0) return -1;
    if (b.at >= 0) return 1;
    return a.i - b.i;
  });
  return [...ranked.map((r) => r.v), ...toDelete];
}

/**
 * Kubernetes' normalizeElementOrder + mergeSortedSlice: the patch items in patch order and the
 * server-only items in live order, interleaved; a server-only item goes first only when both it
 * and the next patch item are live and it came first there.
 */
function normalizeElementOrder(patchItems: unknown[], serverOnly: unknown[], patchOrder: unknown[], serverOrder: unknown[], mergeKey: string, isMap: boolean): unknown[] {
  const right = normalizeSliceOrder(patchItems, patchOrder, mergeKey, isMap);
  const left = normalizeSliceOrder(serverOnly, serverOrder, mergeKey, isMap);
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) out.push(right[j++]);
    else if (j >= right.length) out.push(left[i++]);
    else {
      const li = indexIn(serverOrder, left[i], mergeKey, isMap);
      const ri = indexIn(serverOrder, right[j], mergeKey, isMap);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]);
      else out.push(right[j++]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// The schema table: Kubernetes' patchStrategy/patchMergeKey tags for the types kubemu serves
// (k8s.io/api core/v1, apps/v1, batch/v1, networking/v1, meta/v1), by Kubernetes type name.
// Only fields that merge, replace or retain keys, and the fields leading to them, are listed.

function schema(name: string, fields: { [field: string]: FieldPatchMeta }): PatchSchema {
  return { name, fields };
}

const mergeList = (mergeKey: string, type?: PatchSchema, strategy = 'merge'): FieldPatchMeta => ({ strategy, mergeKey, type });
const mergeSet: FieldPatchMeta = { strategy: 'merge' };
const struct = (type: PatchSchema, strategy?: string): FieldPatchMeta => ({ type, strategy });
const conditions = mergeList('type');

const OwnerReference = schema('OwnerReference', {});
const ObjectMeta = schema('ObjectMeta', {
  finalizers: mergeSet,
  ownerReferences: mergeList('uid', OwnerReference),
});
const Container = schema('Container', {
  ports: { ...mergeList('containerPort'), listMapKeys: ['containerPort', 'protocol'], keyDefaults: { protocol: 'TCP' } },
  env: mergeList('name'),
  volumeMounts: mergeList('mountPath'),
  volumeDevices: mergeList('devicePath'),
});
const Volume = schema('Volume', {});
const PodSpec = schema('PodSpec', {
  volumes: mergeList('name', Volume, 'merge,retainKeys'),
  initContainers: mergeList('name', Container),
  containers: mergeList('name', Container),
  ephemeralContainers: mergeList('name', Container),
  imagePullSecrets: mergeList('name'),
  hostAliases: mergeList('ip'),
  topologySpreadConstraints: { ...mergeList('topologyKey'), listMapKeys: ['topologyKey', 'whenUnsatisfiable'] },
  schedulingGates: mergeList('name'),
  resourceClaims: mergeList('name', undefined, 'merge,retainKeys'),
});
const PodStatus = schema('PodStatus', {
  conditions,
  podIPs: mergeList('ip'),
  hostIPs: mergeList('ip'),
});
const PodTemplateSpec = schema('PodTemplateSpec', { metadata: struct(ObjectMeta), spec: struct(PodSpec) });
const Pod = schema('Pod', { metadata: struct(ObjectMeta), spec: struct(PodSpec), status: struct(PodStatus) });

const NodeSpec = schema('NodeSpec', { podCIDRs: mergeSet });
const NodeStatus = schema('NodeStatus', { conditions, addresses: mergeList('type') });
const Node = schema('Node', { metadata: struct(ObjectMeta), spec: struct(NodeSpec), status: struct(NodeStatus) });

const ServiceSpec = schema('ServiceSpec', { ports: { ...mergeList('port'), listMapKeys: ['port', 'protocol'], keyDefaults: { protocol: 'TCP' } } });
const ServiceStatus = schema('ServiceStatus', { conditions });
const Service = schema('Service', { metadata: struct(ObjectMeta), spec: struct(ServiceSpec), status: struct(ServiceStatus) });

const NamespaceStatus = schema('NamespaceStatus', { conditions });
const Namespace = schema('Namespace', { metadata: struct(ObjectMeta), status: struct(NamespaceStatus) });

const PersistentVolumeClaimSpec = schema('PersistentVolumeClaimSpec', {});
const PersistentVolumeClaimStatus = schema('PersistentVolumeClaimStatus', { conditions });
const PersistentVolumeClaim = schema('PersistentVolumeClaim', {
  metadata: struct(ObjectMeta),
  spec: struct(PersistentVolumeClaimSpec),
  status: struct(PersistentVolumeClaimStatus),
});

const workloadStatus = (name: string) => schema(name, { conditions });
const DeploymentStrategy = schema('DeploymentStrategy', {});
const Deployment = schema('Deployment', {
  metadata: struct(ObjectMeta),
  spec: struct(schema('DeploymentSpec', { template: struct(PodTemplateSpec), strategy: struct(DeploymentStrategy, 'retainKeys') })),
  status: struct(workloadStatus('DeploymentStatus')),
});
const ReplicaSet = schema('ReplicaSet', {
  metadata: struct(ObjectMeta),
  spec: struct(schema('ReplicaSetSpec', { template: struct(PodTemplateSpec) })),
  status: struct(workloadStatus('ReplicaSetStatus')),
});
const StatefulSet = schema('StatefulSet', {
  metadata: struct(ObjectMeta),
  // volumeClaimTemplates carries no patch strategy: replaced as a whole.
  spec: struct(schema('StatefulSetSpec', { template: struct(PodTemplateSpec) })),
  status: struct(workloadStatus('StatefulSetStatus')),
});
const DaemonSet = schema('DaemonSet', {
  metadata: struct(ObjectMeta),
  spec: struct(schema('DaemonSetSpec', { template: struct(PodTemplateSpec) })),
  status: struct(workloadStatus('DaemonSetStatus')),
});
const JobSpec = schema('JobSpec', { template: struct(PodTemplateSpec) });
const Job = schema('Job', { metadata: struct(ObjectMeta), spec: struct(JobSpec), status: struct(workloadStatus('JobStatus')) });
const CronJob = schema('CronJob', {
  metadata: struct(ObjectMeta),
  spec: struct(schema('CronJobSpec', { jobTemplate: struct(schema('JobTemplateSpec', { metadata: struct(ObjectMeta), spec: struct(JobSpec) })) })),
});
const metaOnly = (name: string) => schema(name, { metadata: struct(ObjectMeta) });

/** The patch metadata of every kind kubemu serves, by kind. */
export const STRATEGIC_SCHEMAS: { readonly [kind: string]: PatchSchema } = {
  Pod,
  Node,
  Service,
  Namespace,
  PersistentVolumeClaim,
  PersistentVolume: metaOnly('PersistentVolume'),
  Endpoints: metaOnly('Endpoints'),
  Event: metaOnly('Event'),
  ConfigMap: metaOnly('ConfigMap'),
  Secret: metaOnly('Secret'),
  Deployment,
  ReplicaSet,
  StatefulSet,
  DaemonSet,
  Job,
  CronJob,
  Lease: metaOnly('Lease'),
  Ingress: metaOnly('Ingress'),
  IngressClass: metaOnly('IngressClass'),
};

/** The patch metadata for `kind`; a kind not in the table gets metadata rules only. */
export function strategicSchemaFor(kind: string): PatchSchema {
  return STRATEGIC_SCHEMAS[kind] ?? metaOnly(kind);
}

/** The field's patch metadata in `schema` (exported for server-side apply, which walks the same table). */
export function lookupField(schema: PatchSchema | undefined, key: string): FieldPatchMeta {
  return fieldMeta(schema, key);
}

/** Whether a field's list merges (patchStrategy "merge") rather than being replaced. */
export function isMergeStrategy(meta: FieldPatchMeta): boolean {
  return baseStrategy(meta) === 'merge';
}

/** Where a patched JSON value and its decoded form disagree on a value's JSON type. */
export interface TypeMismatch {
  /** `.spec.replicas`, `.spec.template.spec.containers[0].ports` */
  path: string;
  /** The JSON type the patch produced: string, number, bool, object, array. */
  given: string;
  /** The JSON type the field has: string, number, bool, object, array. */
  wanted: string;
}

const jsonTypeName = (v: unknown) => (Array.isArray(v) ? 'array' : isObject(v) ? 'object' : typeof v === 'boolean' ? 'bool' : typeof v);

/**
 * Compares a patched object's JSON with the JSON of what the lenient generated decoder made of it
 * (codec.toJSON(codec.fromJSON(patched))) and returns the first member whose type the decoder had
 * to coerce (an object where a string belongs, a non-numeric string where a number belongs), or
 * undefined. This stands in for the type errors Kubernetes' strict JSON decoding reports after a
 * patch. Members the decoder dropped and numbers given for strings (quantities) are not reported.
 */
export function findTypeMismatch(patched: unknown, decoded: unknown, path = ''): TypeMismatch | undefined {
  if (patched === null || patched === undefined || decoded === null || decoded === undefined) return undefined;
  if (typeof decoded === 'number' && !Number.isFinite(decoded) && typeof patched !== 'number') return { path, given: jsonTypeName(patched), wanted: 'number' };
  const pk = jsonTypeName(patched);
  const dk = jsonTypeName(decoded);
  if (pk !== dk) {
    if (pk === 'number' && dk === 'string') return undefined;
    if (pk === 'string' && dk === 'number' && Number.isFinite(decoded as number)) return undefined;
    return { path, given: pk, wanted: dk };
  }
  if (Array.isArray(patched) && Array.isArray(decoded)) {
    if (patched.length !== decoded.length) return undefined;
    for (let i = 0; i < patched.length; i++) {
      const m = findTypeMismatch(patched[i], decoded[i], `${path}[${i}]`);
      if (m) return m;
    }
    return undefined;
  }
  if (isObject(patched) && isObject(decoded)) {
    for (const k of Object.keys(patched)) {
      if (!hasOwn(decoded, k)) continue;
      const m = findTypeMismatch(patched[k], decoded[k], `${path}.${k}`);
      if (m) return m;
    }
  }
  return undefined;
}

/** Go's %v rendering of a decoded JSON value (as Kubernetes quotes a patch in its errors). */
export function goSyntax(v: unknown): string {
  return goFormat(v);
}
