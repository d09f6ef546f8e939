/**
 * Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource):
 * `100m`, `1.5Gi`, `1e3`, `2k`. A quantity is an exact decimal, never a
 * float: here a BigInt mantissa and a power-of-ten exponent. Parsing rounds
 * to nano units (away from zero) exactly as Kubernetes does, remembers the
 * kind of suffix written (decimal SI, binary SI or exponent) and prints the
 * canonical form in that kind (`1.5Gi` → `1536Mi`, `0.5` → `500m`).
 */

/** The three ways of writing a quantity; printing keeps the one parsed. */
export type QuantityFormat = 'DecimalExponent' | 'BinarySI' | 'DecimalSI';

/** Thrown for a string that is not a quantity, with Kubernetes' message. */
export class QuantityParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuantityParseError';
  }
}

/** Thrown when arithmetic would need an absurd number of digits (operands more than MAX_ALIGN_DIGITS orders of magnitude apart). */
export class QuantityRangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuantityRangeError';
  }
}

const SPLIT_RE_STRING = '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$';
const ERR_FORMAT = `quantities must match the regular expression '${SPLIT_RE_STRING}'`;
const ERR_SUFFIX = "unable to parse quantity's suffix";

/**
 * Quantities may carry exponents up to ±2^31 (as in Kubernetes); adding two
 * whose exponents differ by more than this many digits is refused rather than
 * materialising a gigantic integer.
 */
export const MAX_ALIGN_DIGITS = 10_000;

const NANO = -9;
const INT32_MAX = 2147483647;
const INT64_MAX = 2n ** 63n - 1n;

const DECIMAL_SUFFIXES: { [suffix: string]: number } = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES: { [suffix: string]: number } = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_BY_EXPONENT = new Map(Object.entries(DECIMAL_SUFFIXES).map(([s, e]) => [e, s]));
const BINARY_BY_POWER = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

const POW10_CACHE: bigint[] = [1n];

function pow10(n: number): bigint {
  if (n < POW10_CACHE.length) return POW10_CACHE[n];
  if (n > 64) return 10n ** BigInt(n);
  for (let i = POW10_CACHE.length; i <= n; i++) POW10_CACHE.push(POW10_CACHE[i - 1] * 10n);
  return POW10_CACHE[n];
}

function abs(v: bigint): bigint {
  return v < 0n ? -v : v;
}

function signOf(v: bigint): -1 | 0 | 1 {
  return v > 0n ? 1 : v < 0n ? -1 : 0;
}

function digitCount(v: bigint): number {
  return v === 0n ? 0 : abs(v).toString().length;
}

// Moves factors of ten from the mantissa into the exponent; zero is (0, 0).
function normalize(mant: bigint, exp: number): [bigint, number] {
  if (mant === 0n) return [0n, 0];
  const s = mant.toString();
  let zeros = 0;
  while (s[s.length - 1 - zeros] === '0') zeros++;
  return zeros === 0 ? [mant, exp] : [BigInt(s.slice(0, s.length - zeros)), exp + zeros];
}

// Division of positive integers, rounding up.
function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

// ---------------------------------------------------------------------------
// Parsing

interface Scanned {
  positive: boolean;
  num: string;
  denom: string;
  suffix: string;
}

function isDigit(ch: string): boolean {
  return ch >= '0' && ch <= '9';
}

// The same scanner as Kubernetes' parseQuantityString: sign, digits, optional
// fraction, then suffix letters and an optional signed exponent. Leading
// zeros are dropped from `num`; "" digits read as "0" (so ".", "+", "-." are 0).
function scan(str: string): Scanned {
  const end = str.length;
  let pos = 0;
  let positive = true;
  if (str[0] === '-') {
    positive = false;
    pos++;
  } else if (str[0] === '+') {
    pos++;
  }
  while (pos < end && str[pos] === '0') pos++;
  if (pos >= end) return { positive, num: '0', denom: '', suffix: '' };

  let start = pos;
  while (pos < end && isDigit(str[pos])) pos++;
  const num = str.slice(start, pos) || '0';
  if (pos >= end) return { positive, num, denom: '', suffix: '' };

  let denom = '';
  if (str[pos] === '.') {
    start = ++pos;
    while (pos < end && isDigit(str[pos])) pos++;
    denom = str.slice(start, pos);
    if (pos >= end) return { positive, num, denom, suffix: '' };
  }

  const suffixStart = pos;
  while (pos < end && 'eEinumkKMGTP'.includes(str[pos])) pos++;
  if (pos < end && (str[pos] === '-' || str[pos] === '+')) pos++;
  while (pos < end && isDigit(str[pos])) pos++;
  if (pos < end) throw new QuantityParseError(ERR_FORMAT);
  return { positive, num, denom, suffix: str.slice(suffixStart) };
}

function interpret(suffix: string): { base: 10 | 2; exponent: number; format: QuantityFormat } {
  if (Object.prototype.hasOwnProperty.call(DECIMAL_SUFFIXES, suffix)) {
    return { base: 10, exponent: DECIMAL_SUFFIXES[suffix], format: 'DecimalSI' };
  }
  if (Object.prototype.hasOwnProperty.call(BINARY_SUFFIXES, suffix)) {
    return { base: 2, exponent: BINARY_SUFFIXES[suffix], format: 'BinarySI' };
  }
  if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E') && /^[+-]?[0-9]+$/.test(suffix.slice(1))) {
    const exponent = Number(suffix.slice(1));
    // Exponents must survive negation as an int32, as in Kubernetes.
    if (Math.abs(exponent) <= INT32_MAX) return { base: 10, exponent, format: 'DecimalExponent' };
  }
  throw new QuantityParseError(ERR_SUFFIX);
}

// ---------------------------------------------------------------------------

/**
 * An immutable resource quantity. Arithmetic returns new quantities; a value
 * is exact (a BigInt mantissa times a power of ten) and never below nano
 * precision when it comes from parsing. Safe to share between callers.
 */
export class Quantity {
  private constructor(
    private readonly mant: bigint,
    private readonly exp: number,
    /** The notation the quantity was written in; toString() keeps it. */
    readonly format: QuantityFormat,
    // The input string, when Kubernetes would print it back verbatim.
    private readonly verbatim?: string,
  ) {}

  private static make(mant: bigint, exp: number, format: QuantityFormat, verbatim?: string): Quantity {
    const [m, e] = normalize(mant, exp);
    return new Quantity(m, e, format, verbatim);
  }

  /** @see parseQuantity */
  static parse(input: string | number): Quantity {
    let str: string;
    if (typeof input === 'number') {
      if (!Number.isFinite(input)) throw new QuantityParseError(ERR_FORMAT);
      str = String(input);
    } else if (typeof input === 'string') {
      str = input;
    } else {
      throw new QuantityParseError(ERR_FORMAT);
    }
    if (str.length === 0) throw new QuantityParseError(ERR_FORMAT);
    if (str === '0') return new Quantity(0n, 0, 'DecimalSI', '0');

    const { positive, num, denom, suffix } = scan(str);
    const interpreted = interpret(suffix);
    const { base, exponent } = interpreted;
    let format = interpreted.format;
    const digits = BigInt(num + denom);
    const sign = positive ? 1n : -1n;
    const verbatim = canonicalAsWritten(str, num, denom, base, exponent);

    if (base === 10) {
      const exp10 = exponent - denom.length;
      if (exp10 >= NANO) return Quantity.make(sign * digits, exp10, format, verbatim);
      // Round the magnitude up to a whole number of nano units.
      const shift = NANO - exp10;
      if (digits === 0n) return Quantity.make(0n, 0, format);
      const nanos = digitCount(digits) <= shift ? 1n : ceilDiv(digits, pow10(shift));
      return Quantity.make(sign * nanos, NANO, format);
    }

    // Binary: digits × 2^exponent / 10^len(denom), rounded up to nano units,
    // capped at 2^63-1, and printed as decimal when below 1.
    const scaled = digits << BigInt(exponent);
    let nanos = denom.length <= 9 ? scaled * pow10(9 - denom.length) : ceilDiv(scaled, pow10(denom.length - 9));
    if (nanos > INT64_MAX * 10n ** 9n) nanos = INT64_MAX * 10n ** 9n;
    if (nanos > 0n && nanos < 10n ** 9n) format = 'DecimalSI';
    return Quantity.make(sign * nanos, NANO, format, verbatim);
  }

  /** A quantity of `value` units (resource.NewQuantity). Throws QuantityRangeError for a non-integer number. */
  static fromValue(value: number | bigint, format: QuantityFormat = 'DecimalSI'): Quantity {
    return Quantity.make(toBigInt(value), 0, format);
  }

  /** A quantity of `value` thousandths (resource.NewMilliQuantity). Throws QuantityRangeError for a non-integer number. */
  static fromMilliValue(value: number | bigint, format: QuantityFormat = 'DecimalSI'): Quantity {
    return Quantity.make(toBigInt(value), -3, format);
  }

  /** True when the quantity is zero. */
  isZero(): boolean {
    return this.mant === 0n;
  }

  /** -1, 0 or 1. */
  sign(): -1 | 0 | 1 {
    return signOf(this.mant);
  }

  /**
   * Compares values exactly (formats do not matter): -1 when this < other,
   * 0 when equal, 1 when greater. Never throws.
   */
  cmp(other: Quantity): -1 | 0 | 1 {
    const sa = this.sign();
    const sb = other.sign();
    if (sa !== sb) return sa > sb ? 1 : -1;
    if (sa === 0) return 0;
    // Order of magnitude first, so that 1e2000000000 vs 1 needs no big integer.
    const ma = digitCount(this.mant) + this.exp;
    const mb = digitCount(other.mant) + other.exp;
    if (ma !== mb) return ((ma > mb ? 1 : -1) * sa) as -1 | 1;
    const e = Math.min(this.exp, other.exp);
    const a = this.mant * pow10(this.exp - e);
    const b = other.mant * pow10(other.exp - e);
    return a === b ? 0 : a > b ? 1 : -1;
  }

  /** True when both quantities have the same value (cmp === 0). */
  equals(other: Quantity): boolean {
    return this.cmp(other) === 0;
  }

  /**
   * this + other. The result keeps this quantity's format, or takes other's
   * when this is zero (as Kubernetes' Add). Throws QuantityRangeError when
   * the operands are more than MAX_ALIGN_DIGITS orders of magnitude apart.
   */
  add(other: Quantity): Quantity {
    const format = this.isZero() ? other.format : this.format;
    if (other.isZero()) return new Quantity(this.mant, this.exp, format);
    if (this.isZero()) return new Quantity(other.mant, other.exp, format);
    const e = Math.min(this.exp, other.exp);
    return Quantity.make(this.mant * alignFactor(this.exp - e) + other.mant * alignFactor(other.exp - e), e, format);
  }

  /** this - other; formats and errors as add(). */
  sub(other: Quantity): Quantity {
    return this.add(other.neg());
  }

  /** -this, in the same format. */
  neg(): Quantity {
    return new Quantity(-this.mant, this.exp, this.format);
  }

  /**
   * The value in units of 10^scale, rounded away from zero
   * (ceil(|q| / 10^scale) with q's sign), exactly, as Kubernetes'
   * ScaledValue. Throws QuantityRangeError when the result would have more
   * than MAX_ALIGN_DIGITS digits.
   */
  scaledValue(scale: number): bigint {
    const shift = this.exp - scale;
    if (shift >= 0) return this.mant * alignFactor(shift);
    const down = -shift;
    if (down >= digitCount(this.mant)) return BigInt(this.sign()); // 0 < |q| < 1 unit
    // A normalized mantissa has no factor of ten, so a remainder is certain: round away from zero.
    return this.mant / pow10(down) + BigInt(this.sign());
  }

  /**
   * The value in whole units, rounded away from zero (Kubernetes' Value():
   * 1500m → 2, -1500m → -2). A number: exact up to 2^53, the nearest double
   * beyond, ±Infinity past the double range. Never throws.
   */
  value(): number {
    return this.scaledNumber(0);
  }

  /** The value in thousandths, rounded away from zero (Kubernetes' MilliValue()); precision as value(). Never throws. */
  milliValue(): number {
    return this.scaledNumber(-3);
  }

  private scaledNumber(scale: number): number {
    if (this.exp - scale > 330) return this.sign() * Infinity;
    return Number(this.scaledValue(scale));
  }

  /** The nearest double to the value (Kubernetes' AsApproximateFloat64). Never throws. */
  toNumber(): number {
    return Number(`${this.mant}e${this.exp}`);
  }

  /**
   * Kubernetes' canonical form in this quantity's format: no fractional
   * digits, the largest suffix that loses nothing, `-` only when negative,
   * "0" for zero (`1000m` → `1`, `1024Mi` → `1Gi`, `0.5` → `500m`,
   * `1.5Gi` → `1536Mi`, `1e3` → `1e3`). BinarySI values below 1024 or with
   * a fraction print as DecimalSI; values past `E`/`Ei` fall back to exponent
   * notation. As in Kubernetes, a parsed string that is already canonical up
   * to a leading `+`, leading zeros or the exponent's spelling (`+1`, `01`,
   * `1E3`) is printed back as written. Never throws.
   */
  toString(): string {
    if (this.verbatim !== undefined) return this.verbatim;
    if (this.mant === 0n) return '0';
    if (this.format === 'BinarySI') return this.binaryString();
    return decimalString(this.mant, this.exp, this.format);
  }

  /** JSON form: the canonical string, as Kubernetes serialises a Quantity. */
  toJSON(): string {
    return this.toString();
  }

  private binaryString(): string {
    const magnitudeBelow1024 = this.cmp(SMALL_BINARY) < 0 && this.cmp(SMALL_BINARY.neg()) > 0;
    if (magnitudeBelow1024 || this.exp < 0) return decimalString(this.mant, this.exp, 'DecimalSI');
    if (this.exp > MAX_ALIGN_DIGITS) return decimalString(this.mant, this.exp, 'DecimalExponent');
    let n = this.mant * pow10(this.exp);
    let power = 0;
    while ((n & 1023n) === 0n) {
      n /= 1024n;
      power++;
    }
    if (power < BINARY_BY_POWER.length) return n.toString() + BINARY_BY_POWER[power];
    // No binary suffix beyond Ei: print the exact value in decimal instead.
    return decimalString(this.mant, this.exp, 'DecimalExponent');
  }
}

const SMALL_BINARY = Quantity.fromValue(1024);

function toBigInt(value: number | bigint): bigint {
  if (typeof value === 'bigint') return value;
  if (!Number.isSafeInteger(value)) throw new QuantityRangeError(`quantity value must be a safe integer, got ${value}`);
  return BigInt(value);
}

function alignFactor(digits: number): bigint {
  if (digits > MAX_ALIGN_DIGITS) {
    throw new QuantityRangeError(`quantity arithmetic would need ${digits} digits (more than ${MAX_ALIGN_DIGITS})`);
  }
  return pow10(digits);
}

// Canonical decimal form: exponent lowered to a multiple of three, then the
// SI suffix for it (or e<exp> when there is none, or in DecimalExponent).
function decimalString(mant: bigint, exp: number, format: QuantityFormat): string {
  const r = ((exp % 3) + 3) % 3;
  const m = mant * pow10(r);
  const e = exp - r;
  if (format === 'DecimalSI' && DECIMAL_BY_EXPONENT.has(e)) return m.toString() + DECIMAL_BY_EXPONENT.get(e);
  return e === 0 ? m.toString() : `${m}e${e}`;
}

// Kubernetes keeps the input string when its fast parse path sees a value
// that is already in canonical form; reproduce exactly that decision.
function canonicalAsWritten(str: string, num: string, denom: string, base: 10 | 2, exponent: number): string | undefined {
  if (base === 10) {
    const scale = exponent - denom.length;
    const shifted = num + denom;
    if (shifted.length > 18 || scale < NANO) return undefined;
    return scale % 3 === 0 && !shifted.endsWith('000') && shifted[0] !== '0' ? str : undefined;
  }
  if (denom.length > 0) return undefined;
  const precision = 15 - num.length - Math.floor((exponent * 3) / 10) - 1;
  if (precision < 0) return undefined;
  return (BigInt(num) & 7n) !== 0n ? str : undefined;
}

/**
 * Parses a Kubernetes quantity: `[+-]` digits with an optional fraction
 * (`0.5`, `.5`, `1.`), then a decimal SI suffix (n u m "" k M G T P E), a
 * binary SI suffix (Ki Mi Gi Ti Pi Ei) or a decimal exponent (`e3`, `E-6`).
 * Values are rounded up (away from zero) to nano units; BinarySI values are
 * capped at 2^63-1 as in Kubernetes. A number is parsed from its JavaScript
 * string form (so `1e21` keeps DecimalExponent). Nothing is trimmed.
 * Throws QuantityParseError with Kubernetes' message: `quantities must match
 * the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'` for
 * a malformed string, `unable to parse quantity's suffix` for an unknown
 * suffix (`1ki`, `1e`). Pure; safe to call concurrently.
 */
export function parseQuantity(s: string | number): Quantity {
  return Quantity.parse(s);
}

/** Kubernetes' message for a string that is not a quantity. */
export const QUANTITY_FORMAT_ERROR = ERR_FORMAT;
/** Kubernetes' message for an unknown suffix. */
export const QUANTITY_SUFFIX_ERROR = ERR_SUFFIX;
