/**
 * Reading request bodies in Kubernetes' protobuf encoding (application/vnd.kubernetes.protobuf),
 * which client-go's typed clients send since v1.31 (kubectl create configmap|namespace|secret|
 * deployment|job, run, drain's evictions...). kubemu's own proto messages number their fields
 * differently, so the body is turned into Kubernetes' JSON form, driven by the field table of
 * Kubernetes' generated.proto (k8s-proto-schema.json, made by scripts/k8s-proto-schema.ts), and
 * then takes the same path as a JSON body. Responses stay JSON (clients accept both).
 */
import { errors } from '../../lib/errors';
// Imported (not required) so that tsc copies the table into dist/.
import schemaJson from './k8s-proto-schema.json';

/** [field number, JSON name, kind (s string, i integer, b bool, y bytes, d double, m message), message type, repeated 0/1] */
export type SchemaField = [number, string, 's' | 'i' | 'b' | 'y' | 'd' | 'm', string, 0 | 1] | [number, string, 's' | 'i' | 'b' | 'y' | 'd' | 'm'];
export type ProtoSchema = Record<string, { map?: boolean; fields: SchemaField[] }>;

/** The 4-byte prefix of every Kubernetes protobuf body: "k8s\0". */
export const PROTOBUF_MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';
/** Go's zero time.Time, which gogo-protobuf writes for unset non-pointer Time fields. */
const ZERO_TIME_SECONDS = -62135596800;

/** The protobuf package of an apiVersion: v1 → k8s.io.api.core.v1, apps/v1 → k8s.io.api.apps.v1, meta.k8s.io/v1 → apimachinery's meta. */
export function protoPackageOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  if (slash < 0) return `k8s.io.api.core.${apiVersion}`;
  const group = apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  if (group === 'meta.k8s.io') return `${META.slice(0, META.lastIndexOf('.'))}.${version}`;
  return `k8s.io.api.${group.split('.')[0]}.${version}`;
}

function loadSchema(): ProtoSchema {
  return schemaJson as unknown as ProtoSchema;
}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 70n) throw new Error('varint too long');
    }
  }
  bytes(): Uint8Array {
    const len = Number(this.varint());
    if (len < 0 || this.pos + len > this.buf.length) throw new Error('truncated length-delimited field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  fixed(n: 4 | 8): Buffer {
    if (this.pos + n > this.buf.length) throw new Error('truncated fixed field');
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.fixed(8);
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.fixed(4);
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function scalar(kind: string, wire: number, r: Reader): unknown {
  switch (kind) {
    case 's':
      return Buffer.from(r.bytes()).toString('utf8');
    case 'y':
      return Buffer.from(r.bytes()).toString('base64');
    case 'b':
      return r.varint() !== 0n;
    case 'd':
      return wire === 1 ? r.fixed(8).readDoubleLE(0) : r.fixed(4).readFloatLE(0);
    default:
      return Number(BigInt.asIntN(64, r.varint()));
  }
}

/** Kubernetes' JSON form of the few messages that are not plain structs in JSON. */
function special(type: string, fields: Record<string, unknown>): { value: unknown } | undefined {
  switch (type) {
    case `${META}.Time`:
    case `${META}.MicroTime`: {
      const seconds = Number(fields.seconds ?? 0);
      if (seconds === ZERO_TIME_SECONDS || (seconds === 0 && !fields.nanos && fields.seconds === undefined)) return { value: undefined };
      const d = new Date(seconds * 1000 + Math.floor(Number(fields.nanos ?? 0) / 1e6));
      const iso = d.toISOString();
      return { value: type.endsWith('MicroTime') ? iso.replace(/\.(\d{3})Z$/, `.$1${String(Math.floor(Number(fields.nanos ?? 0) / 1000) % 1000).padStart(3, '0')}Z`) : iso.replace(/\.\d{3}Z$/, 'Z') };
    }
    case `${META}.Duration`:
      return { value: `${Number(fields.duration ?? 0) / 1e9}s` };
    case 'k8s.io.apimachinery.pkg.util.intstr.IntOrString':
      return { value: Number(fields.type ?? 0) === 1 ? (fields.strVal ?? '') : Number(fields.intVal ?? 0) };
    case 'k8s.io.apimachinery.pkg.api.resource.Quantity':
      return { value: fields.string ?? '0' };
    case 'k8s.io.apimachinery.pkg.runtime.RawExtension':
    case `${META}.FieldsV1`: {
      const raw = (fields.raw ?? fields.Raw) as string | undefined;
      if (!raw) return { value: undefined };
      try {
        return { value: JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) };
      } catch {
        return { value: undefined };
      }
    }
    default:
      return undefined;
  }
}

/**
 * Message fields whose Go struct is embedded with `json:",inline"`: protobuf carries them as a
 * nested message, JSON has their fields directly in the parent (a rule's `http`, a volume's
 * `configMap`, a probe's `httpGet`).
 */
const INLINE = new Set([
  'k8s.io.api.core.v1.EphemeralContainer.ephemeralContainerCommon',
  'k8s.io.api.core.v1.PersistentVolumeSpec.persistentVolumeSource',
  'k8s.io.api.core.v1.Probe.handler',
  'k8s.io.api.core.v1.Volume.volumeSource',
  'k8s.io.api.networking.v1.IngressRule.ingressRuleValue',
]);

/** Decodes one message of `type` into Kubernetes' JSON form. Unknown fields are skipped. */
function decodeMessage(type: string, buf: Uint8Array, s: ProtoSchema, depth: number): unknown {
  if (depth > 64) throw new Error('message nested too deeply');
  const desc = s[type];
  if (!desc) throw new Error(`no schema for ${type}`);
  const byNumber = new Map(desc.fields.map((f) => [f[0], f]));
  const out: Record<string, unknown> = {};
  const r = new Reader(buf);
  while (!r.done) {
    const tag = Number(r.varint());
    const no = tag >>> 3;
    const wire = tag & 7;
    const f = byNumber.get(no);
    if (!f) {
      r.skip(wire);
      continue;
    }
    const [, name, kind, typeName, repeated] = f;
    let values: unknown[];
    if (kind !== 'm' && kind !== 's' && kind !== 'y' && wire === 2) {
      // A packed repeated scalar.
      const inner = new Reader(r.bytes());
      values = [];
      while (!inner.done) values.push(scalar(kind, kind === 'd' ? 1 : 0, inner));
    } else if (kind === 'm') {
      const sub = typeName ?? '';
      const entry = s[sub];
      const decoded = decodeMessage(sub, r.bytes(), s, depth + 1);
      if (entry?.map) {
        const e = decoded as { key?: unknown; value?: unknown };
        const m = (out[name] ??= {}) as Record<string, unknown>;
        const valueField = entry.fields.find((x) => x[0] === 2);
        m[String(e.key ?? '')] = e.value ?? (valueField?.[2] === 's' ? '' : valueField?.[2] === 'm' ? {} : e.value);
        continue;
      }
      if (INLINE.has(`${type}.${name}`) && decoded && typeof decoded === 'object') {
        Object.assign(out, decoded);
        continue;
      }
      values = [decoded];
    } else {
      values = [scalar(kind, wire, r)];
    }
    if (repeated) {
      const arr = (out[name] ??= []) as unknown[];
      arr.push(...values);
    } else {
      out[name] = values[values.length - 1];
    }
  }
  const sp = special(type, out);
  if (sp) return sp.value;
  // gogo-protobuf writes unset non-pointer strings and times; JSON with omitempty leaves them out.
  for (const [k, v] of Object.entries(out)) if (v === '' || v === undefined) delete out[k];
  return out;
}

/**
 * Decodes a Kubernetes protobuf request body (magic, runtime.Unknown envelope with apiVersion,
 * kind and the raw message) into the object's JSON form with apiVersion and kind set. Throws
 * BadRequest for a malformed body and UnsupportedMediaType for a kind whose schema kubemu lacks.
 */
export function decodeKubernetesProtobuf(body: Uint8Array): Record<string, unknown> {
  const buf = Buffer.from(body);
  if (buf.length < 4 || !buf.subarray(0, 4).equals(PROTOBUF_MAGIC)) {
    throw errors.badRequest('the protobuf body does not start with the Kubernetes magic number');
  }
  const s = loadSchema();
  let envelope: { typeMeta?: { apiVersion?: string; kind?: string }; raw?: string };
  try {
    envelope = decodeMessage('k8s.io.apimachinery.pkg.runtime.Unknown', buf.subarray(4), s, 0) as typeof envelope;
  } catch (err) {
    throw errors.badRequest(`the protobuf body could not be decoded: ${(err as Error).message}`);
  }
  const apiVersion = envelope.typeMeta?.apiVersion ?? '';
  const kind = envelope.typeMeta?.kind ?? '';
  const candidates = [`${protoPackageOf(apiVersion)}.${kind}`, `${META}.${kind}`];
  const type = candidates.find((c) => s[c]);
  if (!type) {
    throw errors.unsupportedMediaType(`the body of the request was in an unknown format - application/vnd.kubernetes.protobuf is not supported for ${kind || 'this kind'} (${apiVersion}): use application/json`);
  }
  let obj: Record<string, unknown>;
  try {
    obj = (decodeMessage(type, Buffer.from(envelope.raw ?? '', 'base64'), s, 0) ?? {}) as Record<string, unknown>;
  } catch (err) {
    throw errors.badRequest(`the protobuf body could not be decoded as ${kind}: ${(err as Error).message}`);
  }
  return { apiVersion, kind, ...obj };
}
