/**
 * Field selectors with Kubernetes' semantics (k8s.io/apimachinery/pkg/fields):
 * `f=v`, `f==v`, `f!=v`, comma-separated (AND), with `\,` `\=` `\\` escapes in
 * values. Which fields exist is the caller's business (each resource supports
 * its own few), so evaluation takes an accessor; fieldValue reads a dotted
 * path from a plain object for the common case.
 */

import { SelectorParseError } from './labels';

export { SelectorParseError };

/** `==` is stored as `=`, as Kubernetes does (selection.Equals). */
export type FieldOperator = '=' | '!=';

export interface FieldRequirement {
  readonly field: string;
  readonly operator: FieldOperator;
  /** The unescaped value. */
  readonly value: string;
}

/**
 * Escapes a literal value for use in a field selector string (fields.EscapeValue):
 * `\` → `\\`, `,` → `\,`, `=` → `\=`. Pure.
 */
export function escapeFieldValue(value: string): string {
  return value.replace(/[\\,=]/g, (ch) => '\\' + ch);
}

// fields.UnescapeValue.
function unescapeValue(s: string): string {
  if (!/[\\,=]/.test(s)) return s;
  let out = '';
  let inSlash = false;
  for (const ch of s) {
    if (inSlash) {
      if (ch !== '\\' && ch !== ',' && ch !== '=') {
        throw new SelectorParseError(`invalid field selector: invalid escape sequence: \\${ch}`);
      }
      out += ch;
      inSlash = false;
    } else if (ch === '\\') {
      inSlash = true;
    } else if (ch === ',' || ch === '=') {
      throw new SelectorParseError(`invalid field selector: unescaped character in value: '${ch}'`);
    } else {
      out += ch;
    }
  }
  if (inSlash) throw new SelectorParseError('invalid field selector: invalid escape sequence: \\');
  return out;
}

// Splits on commas that are not escaped; the escapes stay in the terms.
function splitTerms(s: string): string[] {
  if (s.length === 0) return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (inSlash) inSlash = false;
    else if (ch === '\\') inSlash = true;
    else if (ch === ',') {
      terms.push(s.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(s.slice(start));
  return terms;
}

// The field part supports no escaping: the first operator found splits the term.
function splitTerm(term: string): { field: string; op: '!=' | '==' | '='; raw: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of ['!=', '==', '='] as const) {
      if (term.startsWith(op, i)) return { field: term.slice(0, i), op, raw: term.slice(i + op.length) };
    }
  }
  return undefined;
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * An immutable field selector: the AND of its requirements, in the order
 * Kubernetes gives them (the terms sorted as written). Safe to share.
 */
export class FieldSelector {
  private static readonly EVERYTHING = new FieldSelector([]);

  private constructor(private readonly reqs: readonly FieldRequirement[]) {}

  /** The selector with no requirement. */
  static everything(): FieldSelector {
    return FieldSelector.EVERYTHING;
  }

  /** Builds a selector from requirements, kept in the given order. No requirement gives everything(). */
  static fromRequirements(reqs: readonly FieldRequirement[]): FieldSelector {
    if (reqs.length === 0) return FieldSelector.EVERYTHING;
    return new FieldSelector(Object.freeze(reqs.map((r) => Object.freeze({ field: r.field, operator: r.operator, value: r.value }))));
  }

  /**
   * True when every requirement holds. `get(field)` returns the field's value
   * as a string; undefined is read as "" (Kubernetes compares a missing field
   * as the empty string, so `spec.nodeName=` selects unscheduled pods).
   * Callers that must reject unsupported fields check fields() first.
   * Calls `get` at most once per requirement; never throws unless `get` does.
   */
  matches(get: (field: string) => string | undefined): boolean {
    return this.reqs.every((r) => {
      const actual = get(r.field) ?? '';
      return r.operator === '=' ? actual === r.value : actual !== r.value;
    });
  }

  /** True when the selector does not restrict anything. */
  isEmpty(): boolean {
    return this.reqs.length === 0;
  }

  /** The distinct fields referenced, in requirement order. */
  fields(): string[] {
    return [...new Set(this.reqs.map((r) => r.field))];
  }

  /** The requirements (values unescaped). */
  requirements(): readonly FieldRequirement[] {
    return this.reqs;
  }

  /**
   * When the selector requires `field` to equal one value, returns it;
   * undefined otherwise. Lets a cache or the watch fan-out use an index
   * (e.g. spec.nodeName) instead of a scan. Pure.
   */
  requiresExactMatch(field: string): string | undefined {
    return this.reqs.find((r) => r.field === field && r.operator === '=')?.value;
  }

  /** Kubernetes' string form: `f=v` / `f!=v` joined by ',', values escaped; "" for everything(). */
  toString(): string {
    return this.reqs.map((r) => `${r.field}${r.operator}${escapeFieldValue(r.value)}`).join(',');
  }
}

/**
 * Parses Kubernetes' field selector syntax: `f=v`, `f==v`, `f!=v`, separated
 * by unescaped commas; values may contain `\,`, `\=` and `\\`. Empty terms
 * are skipped and "" gives everything(). As in Kubernetes, nothing is
 * trimmed (whitespace is part of the field or value), the field part has no
 * escaping, and a term that is only an operator ("=") is dropped.
 * Throws SelectorParseError naming the term that failed
 * (`invalid selector: 'a'; can't understand 'a'`) or the bad escape.
 * Pure; safe to call concurrently.
 */
export function parseFieldSelector(s: string): FieldSelector {
  if (typeof s !== 'string') throw new SelectorParseError(`field selector must be a string, got ${typeof s}`);
  const terms = splitTerms(s).sort(compareBytes);
  const reqs: FieldRequirement[] = [];
  for (const term of terms) {
    if (term === '') continue;
    const parts = splitTerm(term);
    if (!parts) throw new SelectorParseError(`invalid selector: '${s}'; can't understand '${term}'`);
    const value = unescapeValue(parts.raw);
    if (parts.field === '' && value === '') continue;
    reqs.push({ field: parts.field, operator: parts.op === '!=' ? '!=' : '=', value });
  }
  return FieldSelector.fromRequirements(reqs);
}

/**
 * Reads a dotted path (`metadata.name`, `spec.nodeName`, `status.phase`,
 * `involvedObject.kind`) from a plain JSON-like object, own properties only.
 * Returns the string itself, numbers/booleans/bigints in their string form,
 * "" when the path is missing or null, and undefined when it names an object
 * or array (not a selectable scalar). Pure, never throws.
 */
export function fieldValue(obj: unknown, path: string): string | undefined {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.prototype.hasOwnProperty.call(cur, part)) {
      return '';
    }
    cur = (cur as { [k: string]: unknown })[part];
  }
  switch (typeof cur) {
    case 'string':
      return cur;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(cur);
    case 'object':
      return cur === null ? '' : undefined;
    default:
      return '';
  }
}
