/**
 * Building blocks shared by every kind's validation: field paths, Go-style rendering of bad
 * values, ObjectMeta, labels and annotations, label selectors, IntOrString, immutability.
 * Ports of k8s.io/apimachinery/pkg/api/validation and pkg/apis/meta/v1/validation.
 *
 * Every function returns the field errors it found (empty when valid), never throws, and is
 * pure: it may be called concurrently on objects nobody mutates meanwhile.
 */
import { field, FieldError } from '../../lib/errors';
import { LabelSelector as MetaLabelSelector, ObjectMeta, OwnerReference } from '../../lib/generated/kubemu/meta/v1/meta';
import { goQuote } from '../../lib/labels';
import { isDNS1123Label, isLabelValue, isQualifiedName, NameValidator, nameIsDNSLabel } from './formats';

// ---------------------------------------------------------------- paths

/** `parent.name`, or `name` at the root. */
export function child(parent: string, name: string): string {
  return parent ? `${parent}.${name}` : name;
}

/** `parent[i]`. */
export function index(parent: string, i: number): string {
  return `${parent}[${i}]`;
}

/** `parent[key]`: a map entry, printed without quotes as Kubernetes' field.Path does. */
export function key(parent: string, k: string): string {
  return `${parent}[${k}]`;
}

// ---------------------------------------------------------------- bad values

/**
 * A bad value together with the text Go's `%#v` prints for it (`map[string]string{"app":"x"}`),
 * which is what Kubernetes shows for maps and structs. `toJSON` gives the plain value, so a
 * renderer that does not know this class still prints something readable.
 */
export class GoValue {
  constructor(
    readonly goSyntax: string,
    readonly raw: unknown,
  ) {}

  toJSON(): unknown {
    return this.raw;
  }

  toString(): string {
    return this.goSyntax;
  }
}

function sortedKeys(m: { [k: string]: unknown }): string[] {
  return Object.keys(m).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** `map[string]string{"a":"b", "c":"d"}`; `map[string]string(nil)` for an absent map. */
export function goStringMapText(m: { [k: string]: string } | undefined | null): string {
  if (!m) return 'map[string]string(nil)';
  return 'map[string]string{' + sortedKeys(m).map((k) => `${goQuote(k)}:${goQuote(m[k])}`).join(', ') + '}';
}

/** `[]string{"a", "b"}`; `[]string(nil)` when empty. */
export function goStringSliceText(values: readonly string[] | undefined | null): string {
  if (!values || values.length === 0) return '[]string(nil)';
  return '[]string{' + values.map(goQuote).join(', ') + '}';
}

/** A label map as a bad value. */
export function goStringMap(m: { [k: string]: string } | undefined | null): GoValue {
  return new GoValue(goStringMapText(m && Object.keys(m).length ? m : null), m ?? null);
}

/** A string list as a bad value. */
export function goStringSlice(values: readonly string[] | undefined | null): GoValue {
  return new GoValue(goStringSliceText(values), values ?? null);
}

/** A metav1.LabelSelector as Kubernetes prints it in `spec.selector` errors. */
export function goLabelSelector(sel: MetaLabelSelector | undefined | null): GoValue {
  if (!sel) return new GoValue('null', null);
  const exprs = sel.matchExpressions ?? [];
  const exprText = exprs.length
    ? '[]v1.LabelSelectorRequirement{' +
      exprs
        .map((e) => `v1.LabelSelectorRequirement{Key:${goQuote(e.key ?? '')}, Operator:${goQuote(e.operator ?? '')}, Values:${goStringSliceText(e.values)}}`)
        .join(', ') +
      '}'
    : '[]v1.LabelSelectorRequirement(nil)';
  const labels = sel.matchLabels && Object.keys(sel.matchLabels).length ? sel.matchLabels : null;
  return new GoValue(`v1.LabelSelector{MatchLabels:${goStringMapText(labels)}, MatchExpressions:${exprText}}`, sel);
}

// ---------------------------------------------------------------- small rules

export const FIELD_IMMUTABLE = 'field is immutable';
export const IS_NEGATIVE = 'must be greater than or equal to 0';
export const IS_NOT_POSITIVE = 'must be greater than zero';

/** ValidateNonnegativeField. */
export function nonNegative(value: number | undefined, path: string): FieldError[] {
  return value !== undefined && value < 0 ? [field.invalid(path, value, IS_NEGATIVE)] : [];
}

/** One error per message, all at `path` with `value`. */
export function invalidEach(path: string, value: unknown, msgs: string[]): FieldError[] {
  return msgs.map((m) => field.invalid(path, value, m));
}

/** FieldValueTypeInvalid: a value of the wrong JSON type (an object where a number belongs...). */
export function typeInvalid(path: string, value: unknown, detail: string): FieldError {
  return { type: 'FieldValueTypeInvalid', field: path, badValue: value, detail };
}

/** field.NotFound: `Not found: "x"`. */
export function notFound(path: string, value: unknown): FieldError {
  return field.notFound(path, value);
}

/**
 * Deep equality of two JSON-like values where undefined, null, "", 0, false, [] and {} are all
 * "unset" (as proto3 cannot tell them apart), and so is an object whose members all are.
 * Map key order does not matter. Allocation-free: it runs on every update.
 */
export function semanticEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const oa = isObject(a);
  const ob = isObject(b);
  if (!oa && !ob) return isZero(a) && isZero(b);
  if (oa && ob) return objectsEqual(a as object, b as object);
  return oa ? isZero(b) && allUnset(a as object) : isZero(a) && allUnset(b as object);
}

function isZero(v: unknown): boolean {
  return v === undefined || v === null || v === '' || v === 0 || v === false;
}

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null;
}

function allUnset(o: object): boolean {
  if (o instanceof Uint8Array) return o.length === 0;
  if (Array.isArray(o)) return o.length === 0;
  for (const k in o) {
    const v = (o as Record<string, unknown>)[k];
    if (isObject(v) ? !allUnset(v as object) : !isZero(v)) return false;
  }
  return true;
}

function objectsEqual(a: object, b: object): boolean {
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array)) return allUnset(a) && allUnset(b);
    return Buffer.compare(a, b) === 0;
  }
  const aa = Array.isArray(a);
  const ab = Array.isArray(b);
  if (aa || ab) {
    if (!(aa && ab)) return allUnset(a) && allUnset(b);
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!semanticEqual(x[i], y[i])) return false;
    return true;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const k in ra) if (!semanticEqual(ra[k], rb[k])) return false;
  for (const k in rb) if (!(k in ra) && !semanticEqual(undefined, rb[k])) return false;
  return true;
}

/** A canonical JSON text of a value, dropping unset members (see semanticEqual). */
export function canonical(value: unknown): string {
  return JSON.stringify(prune(value)) ?? '';
}

function prune(value: unknown): unknown {
  if (value === undefined || value === null || value === '' || value === 0 || value === false) return undefined;
  if (value instanceof Uint8Array) return value.length ? Buffer.from(value).toString('base64') : undefined;
  if (Array.isArray(value)) {
    return value.length ? value.map((v) => prune(v) ?? null) : undefined;
  }
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value as object).sort()) {
      const v = prune((value as Record<string, unknown>)[k]);
      if (v !== undefined) out[k] = v;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return value;
}

/**
 * ValidateImmutableField: `path: Invalid value: <new>: field is immutable` when the two differ
 * (unset and zero values count as equal, see semanticEqual).
 */
export function immutable(newVal: unknown, oldVal: unknown, path: string, badValue: unknown = newVal): FieldError[] {
  return semanticEqual(newVal, oldVal) ? [] : [field.invalid(path, badValue ?? null, FIELD_IMMUTABLE)];
}

/** Like immutable, but for an optional (pointer) field: unset differs from any value, 0 included. */
export function immutablePointer(newVal: unknown, oldVal: unknown, path: string): FieldError[] {
  const same = newVal === undefined || oldVal === undefined ? newVal === oldVal : semanticEqual(newVal, oldVal);
  return same ? [] : [field.invalid(path, newVal ?? null, FIELD_IMMUTABLE)];
}

// ---------------------------------------------------------------- IntOrString

/** The shape of a checked IntOrString: absent, an integer, a string, or of a wrong type (already reported). */
export type IntOrString = { kind: 'unset' } | { kind: 'invalid' } | { kind: 'int'; value: number } | { kind: 'string'; value: string };

/**
 * Classifies an IntOrString field (a google.protobuf.Value in our protos). Anything but an
 * integer or a string (an object, an array, a boolean, 1.5) is a FieldValueTypeInvalid error,
 * reported through `errs`; the result is then `invalid` and callers check nothing more.
 */
export function intOrString(value: unknown, path: string, errs: FieldError[]): IntOrString {
  if (value === undefined || value === null) return { kind: 'unset' };
  if (typeof value === 'number' && Number.isInteger(value)) return { kind: 'int', value };
  if (typeof value === 'string') return { kind: 'string', value };
  errs.push(typeInvalid(path, value, 'must be an integer or a string'));
  return { kind: 'invalid' };
}

// ---------------------------------------------------------------- labels, annotations

/** ValidateLabelName: a qualified name, errors at `path` with the key as value. */
export function validateLabelName(name: string, path: string): FieldError[] {
  return invalidEach(path, name, isQualifiedName(name));
}

/** ValidateLabels: every key and value of a label map, errors at `path` itself. */
export function validateLabels(labels: { [k: string]: string } | undefined, path: string): FieldError[] {
  if (!labels) return [];
  const errs: FieldError[] = [];
  for (const k of sortedKeys(labels)) {
    errs.push(...validateLabelName(k, path));
    errs.push(...invalidEach(path, labels[k], isLabelValue(labels[k])));
  }
  return errs;
}

/** Kubernetes' limit on the total size of an object's annotations (keys plus values). */
export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

/** ValidateAnnotations: keys are qualified names (case-insensitive), total size at most 256 KiB. */
export function validateAnnotations(annotations: { [k: string]: string } | undefined, path: string): FieldError[] {
  if (!annotations) return [];
  const errs: FieldError[] = [];
  let total = 0;
  for (const k of sortedKeys(annotations)) {
    errs.push(...invalidEach(path, k, isQualifiedName(k.toLowerCase())));
    total += Buffer.byteLength(k) + Buffer.byteLength(annotations[k] ?? '');
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT) errs.push(field.tooLong(path, '', TOTAL_ANNOTATION_SIZE_LIMIT));
  return errs;
}

/** ValidateLabelSelector for a metav1.LabelSelector (matchLabels and matchExpressions). */
export function validateLabelSelector(sel: MetaLabelSelector | undefined, path: string): FieldError[] {
  if (!sel) return [];
  const errs = validateLabels(sel.matchLabels, child(path, 'matchLabels'));
  (sel.matchExpressions ?? []).forEach((expr, i) => {
    const p = index(child(path, 'matchExpressions'), i);
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) errs.push(field.required(child(p, 'values'), "must be specified when `operator` is 'In' or 'NotIn'"));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) errs.push(field.forbidden(child(p, 'values'), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
        break;
      default:
        errs.push(field.invalid(child(p, 'operator'), expr.operator ?? '', 'not a valid selector operator'));
    }
    errs.push(...validateLabelName(expr.key ?? '', child(p, 'key')));
    values.forEach((v, j) => errs.push(...invalidEach(index(child(p, 'values'), j), v, isLabelValue(v))));
  });
  return errs;
}

/** True when a metav1.LabelSelector has neither matchLabels nor matchExpressions. */
export function selectorIsEmpty(sel: MetaLabelSelector | undefined): boolean {
  return !sel || (Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0);
}

// ---------------------------------------------------------------- ObjectMeta

const STANDARD_FINALIZERS = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

// ValidateFinalizerName (a qualified name, at the list's path) plus core's
// validateKubeFinalizerName (standard or domain-qualified, at the item's path).
function validateFinalizers(finalizers: string[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const list = finalizers ?? [];
  for (const f of list) errs.push(...invalidEach(path, f, isQualifiedName(f)));
  if (list.includes('orphan') && list.includes('foregroundDeletion')) {
    errs.push(field.invalid(path, goStringSlice(list), 'finalizer orphan and foregroundDeletion cannot be both set'));
  }
  list.forEach((f, i) => errs.push(...validateKubeFinalizerName(f, index(path, i))));
  return errs;
}

/** validateKubeFinalizerName: a finalizer without '/' must be one of Kubernetes' standard ones. */
export function validateKubeFinalizerName(f: string, path: string): FieldError[] {
  if (!f.includes('/') && !STANDARD_FINALIZERS.has(f)) {
    return [field.invalid(path, f, 'name is neither a standard finalizer name nor is it fully qualified')];
  }
  return [];
}

function validateOwnerReferences(refs: OwnerReference[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let firstController = '';
  for (const ref of refs ?? []) {
    const apiVersion = ref.apiVersion ?? '';
    const parts = apiVersion.split('/');
    const [group, version] = parts.length === 1 ? ['', parts[0]] : parts.length === 2 ? parts : ['', ''];
    if (!version) errs.push(field.invalid(child(path, 'apiVersion'), apiVersion, 'version must not be empty'));
    if (!ref.kind) errs.push(field.invalid(child(path, 'kind'), ref.kind ?? '', 'must not be empty'));
    if (!ref.name) errs.push(field.invalid(child(path, 'name'), ref.name ?? '', 'must not be empty'));
    if (!ref.uid) errs.push(field.invalid(child(path, 'uid'), ref.uid ?? '', 'must not be empty'));
    if (group === '' && version === 'v1' && ref.kind === 'Event') {
      errs.push(field.invalid(path, ref, '/v1, Kind=Event is disallowed from being an owner'));
    }
    if (ref.controller) {
      const name = `${ref.kind}/${ref.name}`;
      if (firstController) {
        errs.push(
          field.invalid(path, refs, `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${name}`),
        );
      } else {
        firstController = name;
      }
    }
  }
  return errs;
}

/** How a kind's ObjectMeta is validated. */
export interface MetaRules {
  namespaced: boolean;
  nameFn: NameValidator;
}

/**
 * ValidateObjectMeta on create. `name` is required unless `generateName` is set (the registry
 * generates the name before validating, and then both are checked); namespace is required
 * for namespaced kinds and forbidden for cluster-scoped ones.
 */
export function validateObjectMeta(meta: ObjectMeta | undefined, rules: MetaRules, path = 'metadata'): FieldError[] {
  const m = meta ?? {};
  const errs: FieldError[] = [];
  if (m.generateName) errs.push(...invalidEach(child(path, 'generateName'), m.generateName, rules.nameFn(m.generateName, true)));
  if (!m.name) {
    if (!m.generateName) errs.push(field.required(child(path, 'name'), 'name or generateName is required'));
  } else {
    errs.push(...invalidEach(child(path, 'name'), m.name, rules.nameFn(m.name, false)));
  }
  errs.push(...validateMetaCommon(m, rules, path));
  errs.push(...validateFinalizers(m.finalizers, child(path, 'finalizers')));
  return errs;
}

function validateMetaCommon(m: ObjectMeta, rules: MetaRules, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (rules.namespaced) {
    if (!m.namespace) errs.push(field.required(child(path, 'namespace'), ''));
    else errs.push(...invalidEach(child(path, 'namespace'), m.namespace, nameIsDNSLabel(m.namespace, false)));
  } else if (m.namespace) {
    errs.push(field.forbidden(child(path, 'namespace'), 'not allowed on this type'));
  }
  errs.push(...nonNegative(m.generation, child(path, 'generation')));
  errs.push(...validateLabels(m.labels, child(path, 'labels')));
  errs.push(...validateAnnotations(m.annotations, child(path, 'annotations')));
  errs.push(...validateOwnerReferences(m.ownerReferences, child(path, 'ownerReferences')));
  return errs;
}

/**
 * ValidateObjectMetaUpdate: name, namespace, uid, creationTimestamp, deletionTimestamp and
 * deletionGracePeriodSeconds never change; generation never decreases; resourceVersion must
 * be set (the registry fills it for an unconditional update, as Kubernetes' does); labels,
 * annotations, owner references and finalizer names stay valid. The "no new finalizers while
 * deleting" rule is the registry's.
 */
export function validateObjectMetaUpdate(meta: ObjectMeta | undefined, old: ObjectMeta | undefined, path = 'metadata'): FieldError[] {
  const m = meta ?? {};
  const o = old ?? {};
  const errs: FieldError[] = [];
  if (!m.resourceVersion) errs.push(field.invalid(child(path, 'resourceVersion'), m.resourceVersion ?? '', 'must be specified for an update'));
  if ((m.generation ?? 0) < (o.generation ?? 0)) errs.push(field.invalid(child(path, 'generation'), m.generation ?? 0, 'must not be decremented'));
  const same = (a: unknown, b: unknown) => (a ?? '') === (b ?? '');
  const immutableString = (name: keyof ObjectMeta) => {
    if (!same(m[name], o[name])) errs.push(field.invalid(child(path, name), m[name] ?? '', FIELD_IMMUTABLE));
  };
  immutableString('name');
  immutableString('namespace');
  immutableString('uid');
  immutableString('creationTimestamp');
  immutableString('deletionTimestamp');
  if (m.deletionGracePeriodSeconds !== o.deletionGracePeriodSeconds) {
    errs.push(field.invalid(child(path, 'deletionGracePeriodSeconds'), m.deletionGracePeriodSeconds ?? null, FIELD_IMMUTABLE));
  }
  errs.push(...validateLabels(m.labels, child(path, 'labels')));
  errs.push(...validateAnnotations(m.annotations, child(path, 'annotations')));
  errs.push(...validateOwnerReferences(m.ownerReferences, child(path, 'ownerReferences')));
  (m.finalizers ?? []).forEach((f, i) => errs.push(...validateKubeFinalizerName(f, index(child(path, 'finalizers'), i))));
  return errs;
}

/** ValidateTemplateObjectMeta-style checks of a pod template's metadata (labels and annotations). */
export function validateTemplateMeta(meta: ObjectMeta | undefined, path: string): FieldError[] {
  return [...validateLabels(meta?.labels, child(path, 'labels')), ...validateAnnotations(meta?.annotations, child(path, 'annotations'))];
}

/** A DNS-1123 label at `path`, with Kubernetes' messages. */
export function validateDNS1123Label(value: string, path: string): FieldError[] {
  return invalidEach(path, value, isDNS1123Label(value));
}
