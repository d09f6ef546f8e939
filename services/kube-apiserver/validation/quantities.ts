/**
 * The quantity operations validation and defaulting need, over the shared library
 * (services/lib/quantity.ts): parsing that reports Kubernetes' message instead of throwing,
 * and whole-number checks. Pure functions, safe to call concurrently.
 */
import { parseQuantity as parse, Quantity, QuantityParseError } from '../../lib/quantity';

export { Quantity };

/** Parses a quantity; returns Kubernetes' parse error message instead when the text is not one. */
export function parseQuantity(text: string): Quantity | { error: string } {
  try {
    return parse(text);
  } catch (err) {
    if (err instanceof QuantityParseError) return { error: err.message };
    return { error: String((err as Error)?.message ?? err) };
  }
}

/** True when parseQuantity failed. */
export function isQuantityError(q: Quantity | { error: string }): q is { error: string } {
  return !(q instanceof Quantity);
}

/** True when the value is a whole number (Kubernetes: MilliValue() % 1000 == 0). */
export function isWholeNumber(q: Quantity): boolean {
  try {
    return q.scaledValue(-3) % 1000n === 0n;
  } catch {
    // Only astronomically large values are refused, and those are whole.
    return true;
  }
}

/**
 * a + b, or undefined when the library refuses (operands absurdly far apart in magnitude).
 */
export function addQuantities(a: Quantity, b: Quantity): Quantity | undefined {
  try {
    return a.add(b);
  } catch {
    return undefined;
  }
}
