// The API types as read from proto/: a compact, JSON-serialisable model of every message of the
// API packages (field JSON names, types, cardinality, proto comments). The OpenAPI documents and
// the unknown-field check are derived from it, so they can never disagree with the codec.

/** Proto scalar types, folded to what the JSON form distinguishes. */
export type ScalarType = 'string' | 'bool' | 'int32' | 'int64' | 'uint32' | 'uint64' | 'double' | 'float' | 'bytes';

/** The type of a field's value (a map's value, a list's item, or the field itself). */
export interface ProtoValueType {
  type: ScalarType | 'message' | 'enum';
  /** Full name without the leading dot (kubemu.core.v1.Container), for message and enum. */
  typeName?: string;
}

export interface ProtoField extends ProtoValueType {
  /** The proto3 JSON name, which for kubemu's API types is Kubernetes' JSON field name. */
  name: string;
  number: number;
  repeated?: true;
  /** proto3 `optional`: Kubernetes declares the field as a pointer. */
  optional?: true;
  /**
   * map<string, V>: the value type (the key is always a string in the API types). The field's
   * own type/typeName are then those of the synthetic map entry and carry no meaning.
   */
  map?: ProtoValueType;
  comment?: string;
}

export interface ProtoMessage {
  comment?: string;
  fields: ProtoField[];
}

export interface ProtoModel {
  /** Messages by full name without the leading dot. */
  messages: Record<string, ProtoMessage>;
  /** Enums by full name: their value names. */
  enums: Record<string, string[]>;
}

// ---- the subset of buf's JSON image (a google.protobuf.FileDescriptorSet) read here

interface FdsField {
  name: string;
  number: number;
  label?: string;
  type: string;
  typeName?: string;
  jsonName?: string;
  proto3Optional?: boolean;
}
interface FdsMessage {
  name: string;
  field?: FdsField[];
  nestedType?: FdsMessage[];
  enumType?: FdsEnum[];
  options?: { mapEntry?: boolean };
}
interface FdsEnum {
  name: string;
  value?: { name: string }[];
}
interface FdsLocation {
  path?: number[];
  leadingComments?: string;
  trailingComments?: string;
}
interface FdsFile {
  name: string;
  package?: string;
  messageType?: FdsMessage[];
  enumType?: FdsEnum[];
  service?: unknown[];
  sourceCodeInfo?: { location?: FdsLocation[] };
}
export interface FileDescriptorSetJson {
  file: FdsFile[];
}

const SCALARS: Record<string, ScalarType> = {
  TYPE_STRING: 'string',
  TYPE_BOOL: 'bool',
  TYPE_INT32: 'int32',
  TYPE_SINT32: 'int32',
  TYPE_SFIXED32: 'int32',
  TYPE_INT64: 'int64',
  TYPE_SINT64: 'int64',
  TYPE_SFIXED64: 'int64',
  TYPE_UINT32: 'uint32',
  TYPE_FIXED32: 'uint32',
  TYPE_UINT64: 'uint64',
  TYPE_FIXED64: 'uint64',
  TYPE_DOUBLE: 'double',
  TYPE_FLOAT: 'float',
  TYPE_BYTES: 'bytes',
};

/**
 * Whether a file holds API object types: kubemu's packages that declare no gRPC service
 * (apiserver, kubelet and runtime declare services and their request messages, which are not
 * Kubernetes API types).
 */
function isApiTypesFile(f: FdsFile): boolean {
  return (f.package ?? '').startsWith('kubemu.') && (f.service?.length ?? 0) === 0;
}

/** A proto comment as one paragraph: the comment markers' leading spaces dropped, lines joined. */
function cleanComment(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  return lines.length ? lines.join(' ') : undefined;
}

function valueType(f: FdsField): ProtoValueType {
  if (f.type === 'TYPE_MESSAGE') return { type: 'message', typeName: (f.typeName ?? '').replace(/^\./, '') };
  if (f.type === 'TYPE_ENUM') return { type: 'enum', typeName: (f.typeName ?? '').replace(/^\./, '') };
  const s = SCALARS[f.type];
  if (!s) throw new Error(`kubemu openapi: unsupported proto field type ${f.type} (${f.name})`);
  return { type: s };
}

/**
 * Builds the model from buf's JSON image (`buf build proto -o image.json`, source info kept).
 * Only the API type packages are kept. Throws on a descriptor it cannot represent (a programming
 * error in proto/, caught by the generator).
 */
export function buildProtoModel(fds: FileDescriptorSetJson): ProtoModel {
  const model: ProtoModel = { messages: {}, enums: {} };
  for (const file of fds.file) {
    if (!isApiTypesFile(file)) continue;
    const comments = new Map<string, string>();
    for (const loc of file.sourceCodeInfo?.location ?? []) {
      const text = cleanComment(loc.leadingComments) ?? cleanComment(loc.trailingComments);
      if (text && loc.path) comments.set(loc.path.join('.'), text);
    }
    const pkg = file.package ?? '';
    const addEnum = (e: FdsEnum, prefix: string): void => {
      model.enums[`${prefix}.${e.name}`] = (e.value ?? []).map((v) => v.name);
    };
    const addMessage = (m: FdsMessage, prefix: string, path: number[]): void => {
      const fullName = `${prefix}.${m.name}`;
      if (m.options?.mapEntry) return; // folded into the map field below
      const nestedMaps = new Map<string, FdsMessage>();
      (m.nestedType ?? []).forEach((n, i) => {
        if (n.options?.mapEntry) nestedMaps.set(`${fullName}.${n.name}`, n);
        else addMessage(n, fullName, [...path, 3, i]);
      });
      (m.enumType ?? []).forEach((e) => addEnum(e, fullName));
      const fields: ProtoField[] = (m.field ?? []).map((f, i) => {
        const field: ProtoField = { name: f.jsonName ?? f.name, number: f.number, ...valueType(f) };
        const entry = f.type === 'TYPE_MESSAGE' ? nestedMaps.get(field.typeName ?? '') : undefined;
        if (entry) {
          const value = entry.field?.find((x) => x.number === 2);
          if (!value) throw new Error(`kubemu openapi: map entry ${field.typeName} has no value`);
          field.type = 'message';
          delete field.typeName;
          field.map = valueType(value);
        } else if (f.label === 'LABEL_REPEATED') {
          field.repeated = true;
        }
        if (f.proto3Optional) field.optional = true;
        const comment = comments.get([...path, 2, i].join('.'));
        if (comment) field.comment = comment;
        return field;
      });
      const msg: ProtoMessage = { fields };
      const comment = comments.get(path.join('.'));
      if (comment) msg.comment = comment;
      model.messages[fullName] = msg;
    };
    (file.messageType ?? []).forEach((m, i) => addMessage(m, pkg, [4, i]));
    (file.enumType ?? []).forEach((e) => addEnum(e, pkg));
  }
  return model;
}
