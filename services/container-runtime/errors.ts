/**
 * The runtime's typed errors. Every failure a client can cause is one of these (or an image /
 * IPAM error from images/ and network/); grpc-service.ts maps them to gRPC status codes in one
 * table. Anything else reaching the gRPC layer is a bug and answers INTERNAL.
 */

export type RuntimeErrorKind = 'NotFound' | 'InvalidArgument' | 'FailedPrecondition' | 'AlreadyExists' | 'DeadlineExceeded' | 'Unavailable';

export class RuntimeError extends Error {
  constructor(
    readonly kind: RuntimeErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = `RuntimeError(${kind})`;
  }
}

export const runtimeErrors = {
  sandboxNotFound: (id: string) => new RuntimeError('NotFound', `pod sandbox ${JSON.stringify(id)} not found`),
  containerNotFound: (id: string) => new RuntimeError('NotFound', `container ${JSON.stringify(id)} not found`),
  /** `field` is the request's field path, e.g. config.metadata.name. */
  required: (field: string) => new RuntimeError('InvalidArgument', `${field} is required`),
  invalid: (field: string, detail: string) => new RuntimeError('InvalidArgument', `${field}: ${detail}`),
  precondition: (message: string) => new RuntimeError('FailedPrecondition', message),
  /** A container process that could not be started; the kubelet reports the reason StartError. */
  startError: (message: string, cause?: unknown) => new RuntimeError('FailedPrecondition', `StartError: ${message}`, { cause }),
};
