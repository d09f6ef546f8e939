// OpenAPI schemas of the API types, from the proto model plus the Kubernetes facts of
// kubernetes-types.ts. One builder serves both dialects: OpenAPI v3 (components.schemas, refs
// wrapped in allOf when they carry a description, as Kubernetes' v3 documents do) and swagger 2.0
// (definitions, plain $ref).
import { RESOURCES } from '../../lib/resources';
import { PROTO_MODEL } from './generated/proto-model';
import {
  FIELD_DESCRIPTIONS,
  kubernetesModelName,
  LIST_MAP_KEYS,
  mapValueModel,
  MESSAGE_DESCRIPTIONS,
  MODEL,
  PATCH_META,
  protoPackage,
  REQUIRED,
  stringFieldModel,
} from './kubernetes-types';
import type { ProtoField, ProtoModel, ProtoValueType } from './proto-model';

export type Dialect = 'v2' | 'v3';
export type Schema = Record<string, unknown>;

/**
 * The proto message of IntOrString fields: by kubemu's proto convention (meta.proto) every
 * google.protobuf.Value field is an IntOrString, so it is modelled as Kubernetes' IntOrString.
 */
const PROTO_VALUE = 'google.protobuf.Value';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** A JSON reference to a named model in the dialect's section. */
export function ref(dialect: Dialect, name: string): string {
  return dialect === 'v3' ? `#/components/schemas/${name}` : `#/definitions/${name}`;
}

function shortName(fullName: string): string {
  return fullName.slice(fullName.lastIndexOf('.') + 1);
}

/** The schema of a reference, with a description beside it when there is one. */
function refSchema(dialect: Dialect, name: string, description: string | undefined): Schema {
  if (!description) return { $ref: ref(dialect, name) };
  // OpenAPI 3.0 ignores siblings of $ref; Kubernetes wraps the reference in allOf to keep them.
  return dialect === 'v3' ? { description, allOf: [{ $ref: ref(dialect, name) }] } : { description, $ref: ref(dialect, name) };
}

function scalarSchema(t: ProtoValueType): Schema {
  switch (t.type) {
    case 'string':
    case 'enum':
      return { type: 'string' };
    case 'bool':
      return { type: 'boolean' };
    case 'int32':
    case 'uint32':
      return { type: 'integer', format: 'int32' };
    case 'int64':
    case 'uint64':
      return { type: 'integer', format: 'int64' };
    case 'double':
      return { type: 'number', format: 'double' };
    case 'float':
      return { type: 'number', format: 'float' };
    case 'bytes':
      return { type: 'string', format: 'byte' };
    case 'message':
      throw new Error('kubemu openapi: scalarSchema of a message');
  }
}

/** The model a field's (item or map) value refers to, or undefined for a scalar. */
function valueModel(message: string, field: ProtoField, t: ProtoValueType): string | undefined {
  if (t.type === 'message') return t.typeName === PROTO_VALUE ? MODEL.intOrString : kubernetesModelName(t.typeName ?? '');
  if (t.type === 'string') return field.map ? mapValueModel(field.name) : stringFieldModel(message, field.name);
  return undefined;
}

function valueSchema(dialect: Dialect, message: string, field: ProtoField, t: ProtoValueType): Schema {
  const model = valueModel(message, field, t);
  return model ? { $ref: ref(dialect, model) } : scalarSchema(t);
}

function fieldSchema(dialect: Dialect, message: string, field: ProtoField): Schema {
  const description = field.comment ?? FIELD_DESCRIPTIONS[`${message}.${field.name}`] ?? FIELD_DESCRIPTIONS[`*.${field.name}`];
  let s: Schema;
  if (field.map) {
    s = { type: 'object', additionalProperties: valueSchema(dialect, message, field, field.map) };
    if (description) s = { description, ...s };
  } else if (field.repeated) {
    s = { type: 'array', items: valueSchema(dialect, message, field, field) };
    if (description) s = { description, ...s };
  } else {
    const model = valueModel(message, field, field);
    s = model ? refSchema(dialect, model, description) : { ...(description ? { description } : {}), ...scalarSchema(field) };
  }
  const patch = PATCH_META[`${message}.${field.name}`];
  if (patch) {
    if (patch.mergeKey) s['x-kubernetes-patch-merge-key'] = patch.mergeKey;
    s['x-kubernetes-patch-strategy'] = patch.strategy;
    if (field.repeated) {
      const keys = LIST_MAP_KEYS[`${message}.${field.name}`] ?? (patch.mergeKey ? [patch.mergeKey] : undefined);
      if (keys && field.type === 'message') {
        s['x-kubernetes-list-type'] = 'map';
        s['x-kubernetes-list-map-keys'] = keys;
      } else if (!patch.mergeKey) {
        s['x-kubernetes-list-type'] = 'set';
      }
    }
  }
  return s;
}

/** The GVKs a top-level message is served as: each resource's kind, plus the subresource kinds. */
function kindsOf(protoFullName: string): GroupVersionKind[] {
  const out: GroupVersionKind[] = [];
  for (const r of RESOURCES) {
    if (protoFullName === `${protoPackage(r.group, r.version)}.${r.kind}`) out.push({ group: r.group, version: r.version, kind: r.kind });
  }
  if (protoFullName === 'kubemu.autoscaling.v1.Scale') out.push({ group: 'autoscaling', version: 'v1', kind: 'Scale' });
  if (protoFullName === 'kubemu.core.v1.Binding') out.push({ group: '', version: 'v1', kind: 'Binding' });
  if (protoFullName === 'kubemu.meta.v1.Status') out.push({ group: '', version: 'v1', kind: 'Status' });
  if (protoFullName === 'kubemu.meta.v1.DeleteOptions') {
    for (const gv of groupVersions()) out.push({ group: gv.group, version: gv.version, kind: 'DeleteOptions' });
  }
  return out;
}

/** Every group-version kubemu serves, in RESOURCES order. */
export function groupVersions(): { group: string; version: string }[] {
  const seen = new Map<string, { group: string; version: string }>();
  for (const r of RESOURCES) seen.set(r.apiVersion, { group: r.group, version: r.version });
  return [...seen.values()];
}

/** The schema of one proto message. */
function messageSchema(dialect: Dialect, model: ProtoModel, protoFullName: string): Schema {
  const msg = model.messages[protoFullName];
  const short = shortName(protoFullName);
  const properties: Record<string, Schema> = {};
  for (const f of msg.fields) properties[f.name] = fieldSchema(dialect, short, f);
  const s: Schema = { type: 'object', properties };
  const description = msg.comment ?? MESSAGE_DESCRIPTIONS[short];
  if (description) s.description = description;
  const required = (REQUIRED[short] ?? []).filter((n) => msg.fields.some((f) => f.name === n));
  if (required.length) s.required = required;
  const gvks = kindsOf(protoFullName);
  if (gvks.length) s['x-kubernetes-group-version-kind'] = gvks;
  return s;
}

/** The named models that are not proto messages. */
function specialModels(dialect: Dialect): Record<string, Schema> {
  // Kubernetes' v3 documents give these two no `type` but the alternatives (kubectl explain then
  // names the model: <IntOrString>, <map[string]Quantity>); swagger 2.0 has a plain string type.
  const intOrString: Schema = {
    description: 'IntOrString is a type that can hold an int32 or a string. When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.',
    format: 'int-or-string',
    ...(dialect === 'v3' ? { oneOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true } : { type: 'string' }),
  };
  const quantity: Schema = {
    description: 'Quantity is a fixed-point representation of a number, in the serialization format <decimal><suffix>: 100m, 1.5, 64Mi, 1G. Its JSON form is a string (a plain number is accepted).',
    ...(dialect === 'v3' ? { oneOf: [{ type: 'string' }, { type: 'number' }] } : { type: 'string' }),
  };
  return {
    [MODEL.intOrString]: intOrString,
    [MODEL.quantity]: quantity,
    [MODEL.time]: { description: 'Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON: an RFC 3339 date and time.', type: 'string', format: 'date-time' },
    [MODEL.microTime]: { description: 'MicroTime is version of Time with microsecond level precision.', type: 'string', format: 'date-time' },
    [MODEL.fieldsV1]: { description: 'FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.', type: 'object' },
    [MODEL.patch]: { description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.', type: 'object' },
    [MODEL.rawExtension]: { description: 'RawExtension is used to hold extensions in external versions: any object.', type: 'object' },
    [MODEL.watchEvent]: {
      description: 'Event represents a single event to a watched resource.',
      type: 'object',
      required: ['type', 'object'],
      properties: {
        object: refSchema(dialect, MODEL.rawExtension, 'Object is: * If Type is Added or Modified: the new state of the object. * If Type is Deleted: the state of the object immediately before deletion. * If Type is Error: *Status is recommended.'),
        type: { type: 'string' },
      },
      'x-kubernetes-group-version-kind': groupVersions().map((gv) => ({ group: gv.group, version: gv.version, kind: 'WatchEvent' })),
    },
  };
}

/** The <Kind>List model of a resource (Kubernetes' list types; kubemu has none in proto). */
function listModel(dialect: Dialect, group: string, version: string, kind: string, itemModel: string): Schema {
  return {
    description: `${kind}List is a list of ${kind} objects.`,
    type: 'object',
    required: ['items'],
    properties: {
      apiVersion: { description: FIELD_DESCRIPTIONS['*.apiVersion'], type: 'string' },
      items: { description: `List of ${kind} objects.`, type: 'array', items: { $ref: ref(dialect, itemModel) } },
      kind: { description: FIELD_DESCRIPTIONS['*.kind'], type: 'string' },
      metadata: refSchema(dialect, kubernetesModelName('kubemu.meta.v1.ListMeta'), 'Standard list metadata.'),
    },
    'x-kubernetes-group-version-kind': [{ group, version, kind: `${kind}List` }],
  };
}

/** policy/v1 Eviction, the body of pods/eviction (kubectl drain); it has no proto message, the REST layer reads it as JSON. */
export const EVICTION_MODEL = 'io.k8s.api.policy.v1.Eviction';

function evictionModel(dialect: Dialect): Schema {
  return {
    description: 'Eviction evicts a pod from its node subject to certain policies and safety constraints. This is a subresource of Pod. A request to cause such an eviction is created by POSTing to .../pods/<pod name>/evictions.',
    type: 'object',
    properties: {
      apiVersion: { description: FIELD_DESCRIPTIONS['*.apiVersion'], type: 'string' },
      deleteOptions: refSchema(dialect, kubernetesModelName('kubemu.meta.v1.DeleteOptions'), 'DeleteOptions may be provided'),
      kind: { description: FIELD_DESCRIPTIONS['*.kind'], type: 'string' },
      metadata: refSchema(dialect, kubernetesModelName('kubemu.meta.v1.ObjectMeta'), 'ObjectMeta describes the pod that is being evicted.'),
    },
    'x-kubernetes-group-version-kind': [{ group: 'policy', version: 'v1', kind: 'Eviction' }],
  };
}

/** The messages reachable from `roots`, each a proto full name. */
function closure(model: ProtoModel, roots: string[]): Set<string> {
  const out = new Set<string>();
  const visit = (name: string): void => {
    if (out.has(name) || !model.messages[name]) return;
    out.add(name);
    for (const f of model.messages[name].fields) {
      const t = f.map ?? f;
      if (t.type === 'message' && t.typeName) visit(t.typeName);
    }
  };
  roots.forEach(visit);
  return out;
}

/** Resources with a scale subresource (the Registry's getScale serves these). */
export const SCALABLE = new Set(['deployments', 'replicasets', 'statefulsets']);

/**
 * The named schemas of one group-version ('' for the core group), or of every group-version
 * when `gv` is undefined: the served kinds, their List types, everything they reference, and
 * the meta models every document carries (Status, DeleteOptions, Patch, WatchEvent, ...).
 */
export function buildSchemas(dialect: Dialect, gv?: { group: string; version: string }): Record<string, Schema> {
  const resources = RESOURCES.filter((r) => !gv || (r.group === gv.group && r.version === gv.version));
  const roots = resources.map((r) => `${protoPackage(r.group, r.version)}.${r.kind}`);
  roots.push('kubemu.meta.v1.Status', 'kubemu.meta.v1.DeleteOptions', 'kubemu.meta.v1.ListMeta');
  if (resources.some((r) => SCALABLE.has(r.resource))) roots.push('kubemu.autoscaling.v1.Scale');
  if (resources.some((r) => r.resource === 'pods')) roots.push('kubemu.core.v1.Binding');
  const schemas: Record<string, Schema> = {};
  for (const name of [...closure(PROTO_MODEL, roots)].sort((a, b) => kubernetesModelName(a).localeCompare(kubernetesModelName(b)))) {
    schemas[kubernetesModelName(name)] = messageSchema(dialect, PROTO_MODEL, name);
  }
  for (const r of resources) {
    const item = kubernetesModelName(`${protoPackage(r.group, r.version)}.${r.kind}`);
    schemas[`${item}List`] = listModel(dialect, r.group, r.version, r.kind, item);
  }
  if (resources.some((r) => r.resource === 'pods')) schemas[EVICTION_MODEL] = evictionModel(dialect);
  Object.assign(schemas, specialModels(dialect));
  return schemas;
}
