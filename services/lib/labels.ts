/**
 * Label selectors and label syntax validation, with Kubernetes' semantics
 * (k8s.io/apimachinery/pkg/labels and pkg/api/validate/content).
 *
 * Two entry points build a selector: the string syntax of `?labelSelector=` and
 * `kubectl -l` (parseLabelSelector), and the metav1.LabelSelector object found
 * in Deployment/ReplicaSet/... specs (labelSelectorFromMeta). Both produce the
 * same immutable LabelSelector, so matching and printing are shared.
 *
 * Error wording follows Kubernetes, so that a user sees the message a real
 * apiserver would print.
 */

/** Thrown when a label or field selector cannot be parsed or is invalid. */
export class SelectorParseError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SelectorParseError';
  }
}

/** Kubernetes' selection.Operator values. */
export type LabelOperator = 'in' | 'notin' | '=' | '==' | '!=' | 'exists' | '!' | 'gt' | 'lt';

/** One term of a label selector; a selector is the AND of its requirements. */
export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  /** Empty for exists / does-not-exist; one value for =, ==, !=, gt, lt; one or more for in / notin. */
  readonly values: readonly string[];
}

export type Labels = { readonly [key: string]: string };

// ---------------------------------------------------------------------------
// Syntax validation (content.IsLabelKey / content.IsLabelValue)

const LABEL_KEY_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_KEY_ERR = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_KEY_MAX = 63;
const LABEL_KEY_RE = new RegExp('^' + LABEL_KEY_FMT + '$');

const LABEL_VALUE_FMT = '(' + LABEL_KEY_FMT + ')?';
const LABEL_VALUE_ERR =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_MAX = 63;
const LABEL_VALUE_RE = new RegExp('^' + LABEL_VALUE_FMT + '$');

const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + '(\\.' + DNS1123_LABEL_FMT + ')*';
const DNS1123_SUBDOMAIN_ERR =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_MAX = 253;
const DNS1123_SUBDOMAIN_RE = new RegExp('^' + DNS1123_SUBDOMAIN_FMT + '$');

function maxLenError(length: number): string {
  return `must be no more than ${length} bytes`;
}

function emptyError(): string {
  return 'must be non-empty';
}

/** Kubernetes' RegexError message, including its spacing ("'a',  or 'b', "). Pure. */
export function regexError(msg: string, re: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${re}')`;
  let out = msg + ' (e.g. ';
  examples.forEach((ex, i) => {
    if (i > 0) out += ' or ';
    out += `'${ex}', `;
  });
  return out + `regex used for validation is '${re}')`;
}

/** The UTF-8 length of `s`, as Kubernetes measures string limits. */
export function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * Checks that a string is a lowercase RFC 1123 subdomain (at most 253 bytes).
 * Returns Kubernetes' detail messages; empty when valid. Pure, never throws.
 */
export function isDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > DNS1123_SUBDOMAIN_MAX) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX));
  if (!DNS1123_SUBDOMAIN_RE.test(value)) errs.push(regexError(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, 'example.com'));
  return errs;
}

/**
 * Checks a label key (a "qualified name": optional DNS subdomain prefix and '/',
 * then a name of at most 63 bytes). Returns Kubernetes' detail messages
 * (content.IsLabelKey); empty when valid. Pure, never throws.
 */
export function isLabelKey(key: string): string[] {
  const errs: string[] = [];
  const parts = key.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0];
  } else if (parts.length === 2) {
    const prefix = parts[0];
    name = parts[1];
    if (prefix.length === 0) {
      errs.push('prefix part ' + emptyError());
    } else {
      for (const msg of isDNS1123Subdomain(prefix)) errs.push('prefix part ' + msg);
    }
  } else {
    return [
      'a valid label key ' +
        regexError(LABEL_KEY_ERR, LABEL_KEY_FMT, 'MyName', 'my.name', '123-abc') +
        " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) {
    errs.push('name part ' + emptyError());
  } else if (byteLength(name) > LABEL_KEY_MAX) {
    errs.push('name part ' + maxLenError(LABEL_KEY_MAX));
  }
  if (!LABEL_KEY_RE.test(name)) {
    errs.push('name part ' + regexError(LABEL_KEY_ERR, LABEL_KEY_FMT, 'MyName', 'my.name', '123-abc'));
  }
  return errs;
}

/**
 * Checks a label value (empty, or at most 63 bytes of [-A-Za-z0-9_.] starting
 * and ending alphanumeric). Returns Kubernetes' detail messages
 * (content.IsLabelValue); empty when valid. Pure, never throws.
 */
export function isLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > LABEL_VALUE_MAX) errs.push(maxLenError(LABEL_VALUE_MAX));
  if (!LABEL_VALUE_RE.test(value)) {
    errs.push(regexError(LABEL_VALUE_ERR, LABEL_VALUE_FMT, 'MyValue', 'my_value', '12345'));
  }
  return errs;
}

/**
 * Validates a label key as the apiserver does for metadata.labels: one
 * complete field error per problem, e.g.
 * `metadata.labels: Invalid value: "a b": name part must consist of ...`.
 * Empty when valid. Pure, never throws.
 */
export function validateLabelKey(key: string, path: string): string[] {
  return isLabelKey(key).map((msg) => invalidField(path, goQuote(key), msg));
}

/**
 * Validates a label value as the apiserver does for metadata.labels: one
 * complete field error per problem (`<path>: Invalid value: "<value>": <detail>`).
 * Empty when valid. Pure, never throws.
 */
export function validateLabelValue(value: string, path: string): string[] {
  return isLabelValue(value).map((msg) => invalidField(path, goQuote(value), msg));
}

/**
 * Validates a whole label map (metadata.labels, a selector's matchLabels...),
 * keys in sorted order so that the output is deterministic. Empty when valid.
 * Pure, never throws.
 */
export function validateLabels(labels: Labels | undefined | null, path: string): string[] {
  if (!labels) return [];
  const errs: string[] = [];
  for (const key of Object.keys(labels).sort()) {
    errs.push(...validateLabelKey(key, path));
    errs.push(...validateLabelValue(labels[key], path));
  }
  return errs;
}

// field.Invalid(...).Error(): "<path>: Invalid value: <quoted value>: <detail>"
function invalidField(path: string, renderedValue: string, detail: string): string {
  return `${path}: Invalid value: ${renderedValue}${detail ? ': ' + detail : ''}`;
}

/** Go's strconv.Quote, close enough for error messages: printable characters kept, others escaped. Pure, never throws. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (ch) {
      case '"': out += '\\"'; continue;
      case '\\': out += '\\\\'; continue;
      case '\x07': out += '\\a'; continue;
      case '\b': out += '\\b'; continue;
      case '\f': out += '\\f'; continue;
      case '\n': out += '\\n'; continue;
      case '\r': out += '\\r'; continue;
      case '\t': out += '\\t'; continue;
      case '\v': out += '\\v'; continue;
    }
    if (ch === ' ' || /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(ch)) {
      out += ch;
    } else if (cp < 0x80) {
      out += '\\x' + cp.toString(16).padStart(2, '0');
    } else if (cp <= 0xffff) {
      out += '\\u' + cp.toString(16).padStart(4, '0');
    } else {
      out += '\\U' + cp.toString(16).padStart(8, '0');
    }
  }
  return out + '"';
}

// Go's %#v of a []string, used in Kubernetes' requirement errors.
function goStringSlice(values: readonly string[] | undefined): string {
  if (values === undefined || values.length === 0) return '[]string(nil)';
  return '[]string{' + values.map(goQuote).join(', ') + '}';
}

// ---------------------------------------------------------------------------
// Requirements

const GO_INT64_RE = /^[+-]?[0-9]+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// strconv.ParseInt(s, 10, 64); undefined when it would fail.
function parseInt64(s: string): bigint | undefined {
  if (!GO_INT64_RE.test(s)) return undefined;
  const v = BigInt(s);
  return v < INT64_MIN || v > INT64_MAX ? undefined : v;
}

const SUPPORTED_OPERATORS: readonly LabelOperator[] = ['in', 'notin', '=', '==', '!=', 'gt', 'lt', 'exists', '!'];

// labels.NewRequirement: validates and builds one requirement. `values` is
// kept in the given order (the parser passes a sorted, de-duplicated list).
function newRequirement(key: string, operator: LabelOperator, values: string[]): LabelRequirement {
  const errs: string[] = [];
  // Malformed JSON (a number where a string belongs) is reported, not crashed on.
  if (typeof key !== 'string') throw new SelectorParseError(`key: Invalid value: ${String(key)}: must be a string`);
  const bad = values.findIndex((v) => typeof v !== 'string');
  if (bad >= 0) throw new SelectorParseError(`values[${bad}]: Invalid value: ${String(values[bad])}: must be a string`);
  const keyErrs = isLabelKey(key);
  if (keyErrs.length > 0) errs.push(invalidField('key', goQuote(key), keyErrs.join('; ')));
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0) {
        errs.push(invalidField('values', goStringSlice(values), "for 'in', 'notin' operators, values set can't be empty"));
      }
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1) {
        errs.push(invalidField('values', goStringSlice(values), 'exact-match compatibility requires one single value'));
      }
      break;
    case 'exists':
    case '!':
      if (values.length !== 0) {
        errs.push(invalidField('values', goStringSlice(values), 'values set must be empty for exists and does not exist'));
      }
      break;
    case 'gt':
    case 'lt':
      if (values.length !== 1) {
        errs.push(invalidField('values', goStringSlice(values), "for 'Gt', 'Lt' operators, exactly one value is required"));
      }
      values.forEach((v, i) => {
        if (parseInt64(v) === undefined) {
          errs.push(invalidField(`values[${i}]`, goQuote(v), "for 'Gt', 'Lt' operators, the value must be an integer"));
        }
      });
      break;
    default:
      errs.push(
        `operator: Unsupported value: ${goQuote(String(operator))}: supported values: ` +
          SUPPORTED_OPERATORS.map(goQuote).join(', '),
      );
  }
  values.forEach((v, i) => {
    const msgs = isLabelValue(v);
    if (msgs.length > 0) errs.push(invalidField(`values[${i}][${key}]`, goQuote(v), msgs.join('; ')));
  });
  if (errs.length > 0) throw new SelectorParseError(aggregate(errs));
  return Object.freeze({ key, operator, values: Object.freeze([...values]) });
}

// utilerrors.NewAggregate(...).Error() after ErrorList.ToAggregate's de-duplication.
function aggregate(msgs: string[]): string {
  const unique = [...new Set(msgs)];
  return unique.length === 1 ? unique[0] : '[' + unique.join(', ') + ']';
}

function requirementMatches(r: LabelRequirement, labels: Labels): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const value = has ? labels[r.key] : undefined;
  switch (r.operator) {
    case 'in':
    case '=':
    case '==':
      return has && r.values.includes(value as string);
    case 'notin':
    case '!=':
      return !has || !r.values.includes(value as string);
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'gt':
    case 'lt': {
      if (!has || r.values.length !== 1) return false;
      const actual = parseInt64(value as string);
      const wanted = parseInt64(r.values[0]);
      if (actual === undefined || wanted === undefined) return false;
      return r.operator === 'gt' ? actual > wanted : actual < wanted;
    }
    default:
      return false;
  }
}

function requirementString(r: LabelRequirement): string {
  let out = r.operator === '!' ? '!' + r.key : r.key;
  switch (r.operator) {
    case 'exists':
    case '!':
      return out;
    case 'in':
      out += ' in ';
      break;
    case 'notin':
      out += ' notin ';
      break;
    case 'gt':
      out += '>';
      break;
    case 'lt':
      out += '<';
      break;
    default:
      out += r.operator;
  }
  const values = r.values.length === 1 ? r.values[0] : [...r.values].sort(compareBytes).join(',');
  return r.operator === 'in' || r.operator === 'notin' ? `${out}(${values})` : out + values;
}

// Go compares strings bytewise (UTF-8); JavaScript's < compares UTF-16 units.
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function sortByKey(reqs: LabelRequirement[]): LabelRequirement[] {
  // Stable, so that requirements on the same key keep their written order.
  return reqs
    .map((r, i) => ({ r, i }))
    .sort((x, y) => compareBytes(x.r.key, y.r.key) || x.i - y.i)
    .map((x) => x.r);
}

// ---------------------------------------------------------------------------
// The selector

/**
 * An immutable label selector: the AND of its requirements, sorted by key.
 * Two special selectors exist, as in Kubernetes: everything() (no
 * requirement, matches every object) and nothing() (what a nil
 * metav1.LabelSelector means: matches no object). Safe to share between
 * callers; no method mutates it.
 */
export class LabelSelector {
  private static readonly EVERYTHING = new LabelSelector([], false);
  private static readonly NOTHING = new LabelSelector([], true);

  private constructor(
    private readonly reqs: readonly LabelRequirement[],
    private readonly selectsNothing: boolean,
  ) {}

  /** The selector with no requirement: matches every label set, including none. */
  static everything(): LabelSelector {
    return LabelSelector.EVERYTHING;
  }

  /** The selector that matches no label set at all (a nil metav1.LabelSelector). */
  static nothing(): LabelSelector {
    return LabelSelector.NOTHING;
  }

  /**
   * Builds a selector from requirements that are already valid (they are not
   * re-validated), sorting them by key. No requirement gives everything().
   */
  static fromRequirements(reqs: readonly LabelRequirement[]): LabelSelector {
    return reqs.length === 0 ? LabelSelector.EVERYTHING : new LabelSelector(Object.freeze(sortByKey([...reqs])), false);
  }

  /**
   * True when every requirement holds for `labels` (undefined labels are an
   * empty set: `!a` and `a notin (x)` match it, `a` does not). Always false
   * for nothing(). Pure, never throws.
   */
  matches(labels: Labels | undefined | null): boolean {
    if (this.selectsNothing) return false;
    const set = labels ?? {};
    return this.reqs.every((r) => requirementMatches(r, set));
  }

  /** True when the selector does not restrict anything (everything()); false for nothing(), as in Kubernetes. */
  isEmpty(): boolean {
    return !this.selectsNothing && this.reqs.length === 0;
  }

  /** True only for nothing(). */
  matchesNothing(): boolean {
    return this.selectsNothing;
  }

  /** The requirements, sorted by key. Empty for both everything() and nothing(): check matchesNothing(). */
  requirements(): readonly LabelRequirement[] {
    return this.reqs;
  }

  /**
   * When the selector requires `key` to have exactly one value (`key=v`,
   * `key==v` or `key in (v)`), returns that value; undefined otherwise. Lets a
   * cache use an index instead of a scan. Pure.
   */
  requiresExactMatch(key: string): string | undefined {
    const r = this.reqs.find((req) => req.key === key);
    if (!r) return undefined;
    if ((r.operator === '=' || r.operator === '==' || r.operator === 'in') && r.values.length === 1) return r.values[0];
    return undefined;
  }

  /**
   * Kubernetes' canonical string form: requirements sorted by key, joined by
   * ',', values of in/notin sorted; "" for everything() and for nothing().
   * parseLabelSelector(s.toString()) selects the same objects as s (except
   * for nothing()).
   */
  toString(): string {
    return this.reqs.map(requirementString).join(',');
  }
}

// ---------------------------------------------------------------------------
// The string syntax: a port of the Kubernetes lexer/parser's behaviour.

enum Tok {
  Error,
  EndOfString,
  ClosedPar,
  Comma,
  DoesNotExist,
  DoubleEquals,
  Equals,
  GreaterThan,
  Identifier,
  In,
  LessThan,
  NotEquals,
  NotIn,
  OpenPar,
}

const KEYWORDS: { [lit: string]: Tok } = { in: Tok.In, notin: Tok.NotIn };
const SYMBOLS: { [lit: string]: Tok } = {
  ')': Tok.ClosedPar,
  ',': Tok.Comma,
  '!': Tok.DoesNotExist,
  '==': Tok.DoubleEquals,
  '=': Tok.Equals,
  '>': Tok.GreaterThan,
  '<': Tok.LessThan,
  '!=': Tok.NotEquals,
  '(': Tok.OpenPar,
};

interface Item {
  tok: Tok;
  lit: string;
}

function isWhitespace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
}

function isSpecial(ch: string): boolean {
  return ch === '=' || ch === '!' || ch === '(' || ch === ')' || ch === ',' || ch === '>' || ch === '<';
}

function lex(s: string): Item[] {
  const items: Item[] = [];
  let pos = 0;
  for (;;) {
    while (pos < s.length && isWhitespace(s[pos])) pos++;
    if (pos >= s.length) {
      items.push({ tok: Tok.EndOfString, lit: '' });
      return items;
    }
    if (isSpecial(s[pos])) {
      // Longest operator match: "!=" and "==" are the only two-character ones.
      const two = s.slice(pos, pos + 2);
      const lit = two === '!=' || two === '==' ? two : s[pos];
      items.push({ tok: SYMBOLS[lit], lit });
      pos += lit.length;
      continue;
    }
    const start = pos;
    while (pos < s.length && !isSpecial(s[pos]) && !isWhitespace(s[pos])) pos++;
    const lit = s.slice(start, pos);
    items.push({ tok: Object.prototype.hasOwnProperty.call(KEYWORDS, lit) ? KEYWORDS[lit] : Tok.Identifier, lit });
  }
}

enum Ctx {
  KeyAndOperator,
  Values,
}

const BINARY_OPERATORS = 'in, notin, =, ==, !=, gt, lt';

class Parser {
  private position = 0;

  constructor(private readonly items: Item[]) {}

  private lookahead(ctx: Ctx): Item {
    return this.adjust(this.items[this.position], ctx);
  }

  private consume(ctx: Ctx): Item {
    return this.adjust(this.items[this.position++], ctx);
  }

  // In a values context, "in" and "notin" are ordinary identifiers.
  private adjust(item: Item, ctx: Ctx): Item {
    if (ctx === Ctx.Values && (item.tok === Tok.In || item.tok === Tok.NotIn)) return { tok: Tok.Identifier, lit: item.lit };
    return item;
  }

  parse(): LabelRequirement[] {
    const reqs: LabelRequirement[] = [];
    for (;;) {
      const { tok, lit } = this.lookahead(Ctx.Values);
      if (tok === Tok.Identifier || tok === Tok.DoesNotExist) {
        try {
          reqs.push(this.parseRequirement());
        } catch (err) {
          throw new SelectorParseError('unable to parse requirement: ' + (err as Error).message, { cause: err });
        }
        const next = this.consume(Ctx.Values);
        if (next.tok === Tok.EndOfString) return reqs;
        if (next.tok !== Tok.Comma) throw new SelectorParseError(`found '${next.lit}', expected: ',' or 'end of string'`);
        const after = this.lookahead(Ctx.Values);
        if (after.tok !== Tok.Identifier && after.tok !== Tok.DoesNotExist) {
          throw new SelectorParseError(`found '${after.lit}', expected: identifier after ','`);
        }
      } else if (tok === Tok.EndOfString) {
        return reqs;
      } else {
        throw new SelectorParseError(`found '${lit}', expected: !, identifier, or 'end of string'`);
      }
    }
  }

  private parseRequirement(): LabelRequirement {
    const { key, operator } = this.parseKeyAndInferOperator();
    if (operator === 'exists' || operator === '!') return newRequirement(key, operator, []);
    const op = this.parseOperator();
    const values = op === 'in' || op === 'notin' ? this.parseValues() : this.parseExactValue();
    return newRequirement(key, op, [...values].sort(compareBytes));
  }

  private parseKeyAndInferOperator(): { key: string; operator: LabelOperator | undefined } {
    let operator: LabelOperator | undefined;
    let item = this.consume(Ctx.Values);
    if (item.tok === Tok.DoesNotExist) {
      operator = '!';
      item = this.consume(Ctx.Values);
    }
    if (item.tok !== Tok.Identifier) throw new SelectorParseError(`found '${item.lit}', expected: identifier`);
    const msgs = isLabelKey(item.lit);
    if (msgs.length > 0) throw new SelectorParseError(invalidField('<nil>', goQuote(item.lit), msgs.join('; ')));
    const next = this.lookahead(Ctx.Values).tok;
    if ((next === Tok.EndOfString || next === Tok.Comma) && operator !== '!') operator = 'exists';
    return { key: item.lit, operator };
  }

  private parseOperator(): LabelOperator {
    const { tok, lit } = this.consume(Ctx.KeyAndOperator);
    switch (tok) {
      case Tok.In: return 'in';
      case Tok.Equals: return '=';
      case Tok.DoubleEquals: return '==';
      case Tok.GreaterThan: return 'gt';
      case Tok.LessThan: return 'lt';
      case Tok.NotIn: return 'notin';
      case Tok.NotEquals: return '!=';
      default:
        throw new SelectorParseError(`found '${lit}', expected: ${BINARY_OPERATORS}`);
    }
  }

  private parseValues(): Set<string> {
    const open = this.consume(Ctx.Values);
    if (open.tok !== Tok.OpenPar) throw new SelectorParseError(`found '${open.lit}' expected: '('`);
    const { tok, lit } = this.lookahead(Ctx.Values);
    if (tok === Tok.Identifier || tok === Tok.Comma) {
      const values = this.parseIdentifiersList();
      if (this.consume(Ctx.Values).tok !== Tok.ClosedPar) throw new SelectorParseError(`found '${lit}', expected: ')'`);
      return values;
    }
    if (tok === Tok.ClosedPar) {
      this.consume(Ctx.Values);
      return new Set(['']);
    }
    throw new SelectorParseError(`found '${lit}', expected: ',', ')' or identifier`);
  }

  // A comma-separated list whose items may be empty: "(a,,b)", "(,a)", "(a,)".
  private parseIdentifiersList(): Set<string> {
    const values = new Set<string>();
    for (;;) {
      const { tok, lit } = this.consume(Ctx.Values);
      if (tok === Tok.Identifier) {
        values.add(lit);
        const next = this.lookahead(Ctx.Values);
        if (next.tok === Tok.Comma) continue;
        if (next.tok === Tok.ClosedPar) return values;
        throw new SelectorParseError(`found '${next.lit}', expected: ',' or ')'`);
      } else if (tok === Tok.Comma) {
        if (values.size === 0) values.add('');
        const next = this.lookahead(Ctx.Values).tok;
        if (next === Tok.ClosedPar) {
          values.add('');
          return values;
        }
        if (next === Tok.Comma) values.add('');
      } else {
        throw new SelectorParseError(`found '${lit}', expected: ',', or identifier`);
      }
    }
  }

  private parseExactValue(): Set<string> {
    const next = this.lookahead(Ctx.Values).tok;
    if (next === Tok.EndOfString || next === Tok.Comma) return new Set(['']);
    const { tok, lit } = this.consume(Ctx.Values);
    if (tok === Tok.Identifier) return new Set([lit]);
    throw new SelectorParseError(`found '${lit}', expected: identifier`);
  }
}

/**
 * Parses Kubernetes' label selector syntax:
 * `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`,
 * comma-separated (AND), whitespace-tolerant. "" (or only whitespace) gives
 * everything(). Values of `in`/`notin` are de-duplicated and sorted; `()`,
 * `(a,)` and `a=` denote the empty value as in Kubernetes.
 * Throws SelectorParseError with Kubernetes' message (e.g.
 * `unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt`).
 * Pure; safe to call concurrently.
 */
export function parseLabelSelector(s: string): LabelSelector {
  if (typeof s !== 'string') throw new SelectorParseError(`label selector must be a string, got ${typeof s}`);
  return LabelSelector.fromRequirements(new Parser(lex(s)).parse());
}

/** A metav1.LabelSelector as it appears in an object's JSON. */
export interface MetaLabelSelector {
  matchLabels?: { [key: string]: string } | null;
  matchExpressions?: Array<{ key?: string; operator?: string; values?: string[] | null }> | null;
}

const META_OPERATORS: { [op: string]: LabelOperator } = {
  In: 'in',
  NotIn: 'notin',
  Exists: 'exists',
  DoesNotExist: '!',
};

/**
 * Converts a metav1.LabelSelector (metav1.LabelSelectorAsSelector):
 * undefined/null gives nothing() (a nil selector selects nothing), an object
 * without matchLabels and matchExpressions gives everything(). matchLabels
 * become `key=value` requirements; matchExpressions accept the operators In,
 * NotIn (non-empty values), Exists and DoesNotExist (no values).
 * Throws SelectorParseError for an unknown operator
 * (`"Foo" is not a valid pod selector operator`) or an invalid key, value or
 * value count, with Kubernetes' wording. Pure; safe to call concurrently.
 */
export function labelSelectorFromMeta(sel: MetaLabelSelector | undefined | null): LabelSelector {
  if (sel === undefined || sel === null) return LabelSelector.nothing();
  const matchLabels = sel.matchLabels ?? {};
  const expressions = sel.matchExpressions ?? [];
  const labelKeys = Object.keys(matchLabels).sort(compareBytes);
  if (labelKeys.length + expressions.length === 0) return LabelSelector.everything();
  const reqs: LabelRequirement[] = [];
  for (const key of labelKeys) reqs.push(newRequirement(key, '=', [matchLabels[key]]));
  for (const expr of expressions) {
    const opName = expr?.operator ?? '';
    if (!Object.prototype.hasOwnProperty.call(META_OPERATORS, opName)) {
      throw new SelectorParseError(`${goQuote(opName)} is not a valid pod selector operator`);
    }
    reqs.push(newRequirement(expr.key ?? '', META_OPERATORS[opName], [...(expr.values ?? [])]));
  }
  return LabelSelector.fromRequirements(reqs);
}

/**
 * A selector matching exactly the given labels (labels.SelectorFromSet), as
 * used for a Service's or ReplicationController's map selector. An
 * undefined/null or empty set gives everything(). Values are not validated.
 * Pure.
 */
export function labelSelectorFromSet(set: Labels | undefined | null): LabelSelector {
  if (!set) return LabelSelector.everything();
  return LabelSelector.fromRequirements(
    Object.keys(set).map((key) => Object.freeze({ key, operator: '=' as const, values: Object.freeze([set[key]]) })),
  );
}
