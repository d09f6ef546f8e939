/**
 * grpc-js answers a request body its deserializer cannot decode with a generic INTERNAL error.
 * kubemu's servers answer INVALID_ARGUMENT naming the problem instead: tolerantService wraps a
 * generated service definition so that a malformed body arrives at the handler as a request
 * carrying MALFORMED (the decoder's message), and malformedReason reads it back.
 */

/** The key under which a tolerant deserializer puts the decoder's error message. */
export const MALFORMED = Symbol('malformed');

/** `definition` with request deserializers that never throw. Pure: returns a new definition. */
export function tolerantService<T extends Record<string, { requestDeserialize: (b: Buffer) => unknown }>>(definition: T): T {
  const def: Record<string, unknown> = {};
  for (const [method, d] of Object.entries(definition)) {
    def[method] = {
      ...d,
      requestDeserialize: (value: Buffer) => {
        try {
          return d.requestDeserialize(value);
        } catch (err) {
          return { [MALFORMED]: (err as Error).message };
        }
      },
    };
  }
  return def as T;
}

/** Why the request could not be decoded, or undefined for a well-formed request. */
export function malformedReason(request: unknown): string | undefined {
  if (!request || typeof request !== 'object') return undefined;
  return (request as Record<symbol, string | undefined>)[MALFORMED];
}
