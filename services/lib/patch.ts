/**
 * Patches on plain JSON values: RFC 7386 JSON merge patch
 * (application/merge-patch+json) and RFC 6902 JSON patch
 * (application/json-patch+json), as the apiserver applies them to an object's
 * JSON before decoding it back.
 *
 * Every function here is pure: inputs are never mutated and the result shares
 * no object or array with them, so a caller may mutate the result freely.
 * Object keys are own properties only; "__proto__" is an ordinary key.
 */

/** A malformed patch document or an operation that does not apply. */
export class PatchError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PatchError';
  }
}

type JsonObject = { [key: string]: unknown };

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function hasOwn(obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

// Assignment would turn "__proto__" into a prototype change; define it instead.
function setOwn(obj: JsonObject, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

function deepClone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(deepClone);
  if (isObject(v)) {
    const out: JsonObject = {};
    for (const key of Object.keys(v)) setOwn(out, key, deepClone(v[key]));
    return out;
  }
  return v;
}

// JSON equality: member order does not matter, numbers compare by value.
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/**
 * Parses a patch request body as JSON (UTF-8 when given bytes). Returns the
 * parsed value, which may be any JSON value. Throws PatchError naming the
 * problem on an empty body, invalid UTF-8 or invalid JSON. Pure.
 */
export function parsePatchDocument(bytes: Uint8Array | string): unknown {
  let text: string;
  if (typeof bytes === 'string') {
    text = bytes;
  } else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (err) {
      throw new PatchError('patch document is not valid UTF-8', { cause: err });
    }
  }
  if (text.trim() === '') throw new PatchError('patch document is empty');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new PatchError(`patch document is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Applies an RFC 7386 JSON merge patch: an object patch merges member by
 * member (null removes a member, objects merge recursively, anything else
 * replaces); any non-object patch (array, scalar, null) replaces the target
 * wholesale. Never mutates its inputs; never throws.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return deepClone(patch);
  const out: JsonObject = {};
  // Target members keep their order; members new in the patch follow.
  if (isObject(target)) {
    for (const key of Object.keys(target)) {
      if (!hasOwn(patch, key)) setOwn(out, key, deepClone(target[key]));
      else if (patch[key] !== null) setOwn(out, key, applyMergePatch(target[key], patch[key]));
    }
  }
  for (const key of Object.keys(patch)) {
    if (patch[key] !== null && !(isObject(target) && hasOwn(target, key))) {
      setOwn(out, key, applyMergePatch(undefined, patch[key]));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// RFC 6902

type Op = 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
const OPS: readonly Op[] = ['add', 'remove', 'replace', 'move', 'copy', 'test'];

interface Operation {
  op: Op;
  path: string;
  tokens: string[];
  from?: string;
  fromTokens?: string[];
  value?: unknown;
}

// RFC 6901: "" is the whole document; otherwise "/"-separated, ~1 is "/", ~0 is "~".
function parsePointer(pointer: string, where: string): string[] {
  if (pointer === '') return [];
  if (pointer[0] !== '/') throw new PatchError(`${where}: JSON pointer ${JSON.stringify(pointer)} must be empty or start with '/'`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~(?![01])/.test(token)) throw new PatchError(`${where}: JSON pointer ${JSON.stringify(pointer)} has an invalid '~' escape`);
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

function validateOperations(ops: unknown): Operation[] {
  if (!Array.isArray(ops)) throw new PatchError('json patch must be an array of operations');
  return ops.map((raw, i) => {
    const where = `operation ${i}`;
    if (!isObject(raw)) throw new PatchError(`${where} must be an object`);
    const op = raw.op;
    if (typeof op !== 'string') throw new PatchError(`${where} is missing a string "op"`);
    if (!OPS.includes(op as Op)) throw new PatchError(`${where} has unknown op ${JSON.stringify(op)}; expected one of ${OPS.join(', ')}`);
    if (typeof raw.path !== 'string') throw new PatchError(`${where} (${op}) is missing a string "path"`);
    const out: Operation = { op: op as Op, path: raw.path, tokens: parsePointer(raw.path, where) };
    if (op === 'move' || op === 'copy') {
      if (typeof raw.from !== 'string') throw new PatchError(`${where} (${op}) is missing a string "from"`);
      out.from = raw.from;
      out.fromTokens = parsePointer(raw.from, where);
    }
    if (op === 'add' || op === 'replace' || op === 'test') {
      if (!hasOwn(raw, 'value')) throw new PatchError(`${where} (${op}) is missing "value"`);
      out.value = raw.value;
    }
    return out;
  });
}

// RFC 6901 array index: "0" or a number without leading zeros.
function arrayIndex(token: string): number | undefined {
  return /^(0|[1-9][0-9]*)$/.test(token) ? Number(token) : undefined;
}

function quote(pointer: string): string {
  return JSON.stringify(pointer);
}

// The value at `tokens`, or undefined (as a "missing" marker) when absent.
function lookup(doc: unknown, tokens: string[]): { found: boolean; value?: unknown } {
  let cur = doc;
  for (const token of tokens) {
    if (Array.isArray(cur)) {
      const idx = arrayIndex(token);
      if (idx === undefined || idx >= cur.length) return { found: false };
      cur = cur[idx];
    } else if (isObject(cur)) {
      if (!hasOwn(cur, token)) return { found: false };
      cur = cur[token];
    } else {
      return { found: false };
    }
  }
  return { found: true, value: cur };
}

// The container holding the last token (the document is already a private copy).
function parentOf(doc: unknown, tokens: string[]): unknown {
  const found = lookup(doc, tokens.slice(0, -1));
  return found.found ? found.value : undefined;
}

class Applier {
  constructor(private doc: unknown) {}

  result(): unknown {
    return this.doc;
  }

  apply(op: Operation): void {
    switch (op.op) {
      case 'add':
        this.add(op.tokens, deepClone(op.value), op.path, 'add');
        break;
      case 'remove':
        this.remove(op.tokens, op.path, 'remove');
        break;
      case 'replace':
        this.replace(op);
        break;
      case 'move':
        this.move(op);
        break;
      case 'copy': {
        const from = lookup(this.doc, op.fromTokens!);
        if (!from.found) throw new PatchError(`jsonpatch copy operation does not apply: doc is missing from path: ${quote(op.from!)}`);
        this.add(op.tokens, deepClone(from.value), op.path, 'copy');
        break;
      }
      case 'test': {
        const actual = lookup(this.doc, op.tokens);
        if (!actual.found || !jsonEqual(actual.value, op.value)) throw new PatchError(`testing value ${op.path} failed`);
        break;
      }
    }
  }

  private add(tokens: string[], value: unknown, path: string, opName: string): void {
    if (tokens.length === 0) {
      this.doc = value;
      return;
    }
    const parent = parentOf(this.doc, tokens);
    const key = tokens[tokens.length - 1];
    if (Array.isArray(parent)) {
      const idx = key === '-' ? parent.length : arrayIndex(key);
      if (idx === undefined) {
        throw new PatchError(`jsonpatch ${opName} operation does not apply: ${quote(key)} is not an array index at path: ${quote(path)}`);
      }
      if (idx > parent.length) {
        throw new PatchError(
          `jsonpatch ${opName} operation does not apply: index ${idx} is out of bounds for array of length ${parent.length} at path: ${quote(path)}`,
        );
      }
      parent.splice(idx, 0, value);
    } else if (isObject(parent)) {
      setOwn(parent, key, value);
    } else {
      throw new PatchError(`jsonpatch ${opName} operation does not apply: doc is missing path: ${quote(path)}`);
    }
  }

  // Removes and returns the value at `tokens`.
  private remove(tokens: string[], path: string, opName: string, missing = 'path'): unknown {
    if (tokens.length === 0) throw new PatchError(`jsonpatch ${opName} operation does not apply: cannot remove the whole document`);
    const parent = parentOf(this.doc, tokens);
    const key = tokens[tokens.length - 1];
    if (Array.isArray(parent)) {
      const idx = arrayIndex(key);
      if (idx !== undefined && idx < parent.length) return parent.splice(idx, 1)[0];
    } else if (isObject(parent) && hasOwn(parent, key)) {
      const value = parent[key];
      delete parent[key];
      return value;
    }
    throw new PatchError(`jsonpatch ${opName} operation does not apply: doc is missing ${missing}: ${quote(path)}`);
  }

  private replace(op: Operation): void {
    if (op.tokens.length === 0) {
      this.doc = deepClone(op.value);
      return;
    }
    const parent = parentOf(this.doc, op.tokens);
    const key = op.tokens[op.tokens.length - 1];
    if (Array.isArray(parent)) {
      const idx = arrayIndex(key);
      if (idx !== undefined && idx < parent.length) {
        parent[idx] = deepClone(op.value);
        return;
      }
    } else if (isObject(parent) && hasOwn(parent, key)) {
      setOwn(parent, key, deepClone(op.value));
      return;
    }
    throw new PatchError(`jsonpatch replace operation does not apply: doc is missing path: ${quote(op.path)}`);
  }

  private move(op: Operation): void {
    const from = op.fromTokens!;
    if (op.from === op.path) {
      if (!lookup(this.doc, from).found) {
        throw new PatchError(`jsonpatch move operation does not apply: doc is missing from path: ${quote(op.from)}`);
      }
      return;
    }
    if (from.length < op.tokens.length && from.every((t, i) => t === op.tokens[i])) {
      throw new PatchError(`jsonpatch move operation does not apply: "from" ${quote(op.from!)} is a proper prefix of "path" ${quote(op.path)}`);
    }
    const value = this.remove(from, op.from!, 'move', 'from path');
    this.add(op.tokens, value, op.path, 'move');
  }
}

/**
 * Applies an RFC 6902 JSON patch: an array of add, remove, replace, move,
 * copy and test operations, applied in order, all or nothing. Pointers follow
 * RFC 6901 (`~1` for '/', `~0` for '~', `-` appends to an array in add, copy
 * and move targets; "" is the whole document).
 * Throws PatchError when the patch is malformed (not an array, unknown op,
 * missing path/from/value, bad pointer) or an operation does not apply, e.g.
 * `jsonpatch replace operation does not apply: doc is missing path: "/spec/foo"`
 * or `testing value /metadata/name failed`. Never mutates its inputs.
 */
export function applyJsonPatch(target: unknown, ops: unknown): unknown {
  const operations = validateOperations(ops);
  const applier = new Applier(deepClone(target));
  for (const op of operations) applier.apply(op);
  return applier.result();
}
