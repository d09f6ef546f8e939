import { randomBytes, randomUUID } from 'crypto';
import { KubeObject, ResourceInfo } from '../lib/resources';

export { formatMicroTime, formatTime } from '../lib/time';

export function newUid(): string {
  return randomUUID();
}

const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** generateName + 5 random characters from Kubernetes' alphabet (no vowels, no confusable digits). */
export function generateName(prefix: string): string {
  const bytes = randomBytes(5);
  let suffix = '';
  for (const b of bytes) suffix += NAME_ALPHABET[b % NAME_ALPHABET.length];
  // Kubernetes truncates the prefix so that the result stays within 63 characters.
  return prefix.slice(0, 63 - 5) + suffix;
}

/** A deep copy made through the protobuf codec: the result shares nothing with the input. */
export function deepCopy<T extends KubeObject>(info: ResourceInfo, obj: T): T {
  const rv = obj.metadata?.resourceVersion;
  const copy = info.codec.decode(info.codec.encode(obj as never).finish()) as T;
  if (copy.metadata && rv !== undefined) copy.metadata.resourceVersion = rv;
  return copy;
}

/** JSON text with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value as object).sort()) out[k] = sortKeys((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/** Whether two objects' specs differ, compared in their JSON form. */
export function specChanged(info: ResourceInfo, a: KubeObject, b: KubeObject): boolean {
  const ja = info.codec.toJSON(a as never) as Record<string, unknown>;
  const jb = info.codec.toJSON(b as never) as Record<string, unknown>;
  const strip = (j: Record<string, unknown>) => {
    const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = j;
    return rest;
  };
  return canonicalJson(strip(ja)) !== canonicalJson(strip(jb));
}
