import * as grpc from '@grpc/grpc-js';
import { Status, StatusCause } from './generated/kubemu/meta/v1/meta';

/** Kubernetes' StatusReason values used by kubemu. */
export type StatusReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'BadRequest'
  | 'Forbidden'
  | 'MethodNotAllowed'
  | 'RequestEntityTooLarge'
  | 'Expired'
  | 'Gone'
  | 'ServiceUnavailable'
  | 'Timeout'
  | 'InternalError'
  | 'UnsupportedMediaType'
  | 'NotAcceptable'
  | 'Unauthorized';

/** A field error's kind, in Kubernetes' CauseType terms. */
export type FieldErrorType =
  | 'FieldValueRequired'
  | 'FieldValueNotFound'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueDuplicate'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'FieldValueTypeInvalid';

/** One validation failure at a field path, e.g. spec.containers[0].name. */
export interface FieldError {
  type: FieldErrorType;
  field: string;
  /** Detail after the type's own words, e.g. the rule that the value breaks. */
  detail?: string;
  /** The offending value, rendered into the message as Kubernetes does. */
  badValue?: unknown;
  /** For FieldValueNotSupported: the supported values. */
  supported?: string[];
}

const typeWords: Record<FieldErrorType, string> = {
  FieldValueRequired: 'Required value',
  FieldValueNotFound: 'Not found',
  FieldValueInvalid: 'Invalid value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueForbidden: 'Forbidden',
  FieldValueTooLong: 'Too long',
  FieldValueTooMany: 'Too many',
  FieldValueTypeInvalid: 'Invalid value',
};

function renderValue(v: unknown): string {
  // Values that carry their Go rendering (maps, structs) print as Kubernetes prints them.
  if (v && typeof v === 'object' && typeof (v as { goSyntax?: unknown }).goSyntax === 'string') return (v as { goSyntax: string }).goSyntax;
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'null';
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return String(v);
}

/** Renders a field error the way Kubernetes' field.Error.Error() does. */
export function fieldErrorMessage(e: FieldError): string {
  let body = typeWords[e.type];
  const showsValue = e.type === 'FieldValueInvalid' || e.type === 'FieldValueNotFound' || e.type === 'FieldValueNotSupported' || e.type === 'FieldValueDuplicate' || e.type === 'FieldValueTypeInvalid';
  if (showsValue && e.badValue !== undefined) body += `: ${renderValue(e.badValue)}`;
  if (e.type === 'FieldValueNotSupported' && e.supported?.length) {
    body += `: supported values: ${e.supported.map((s) => JSON.stringify(s)).join(', ')}`;
  } else if (e.detail) {
    body += `: ${e.detail}`;
  }
  return `${e.field}: ${body}`;
}

/** Field error constructors, named as in Kubernetes' field package. */
export const field = {
  required: (f: string, detail?: string): FieldError => ({ type: 'FieldValueRequired', field: f, detail }),
  notFound: (f: string, badValue: unknown): FieldError => ({ type: 'FieldValueNotFound', field: f, badValue }),
  invalid: (f: string, badValue: unknown, detail?: string): FieldError => ({ type: 'FieldValueInvalid', field: f, badValue, detail }),
  notSupported: (f: string, badValue: unknown, supported: string[]): FieldError => ({ type: 'FieldValueNotSupported', field: f, badValue, supported }),
  duplicate: (f: string, badValue: unknown): FieldError => ({ type: 'FieldValueDuplicate', field: f, badValue }),
  forbidden: (f: string, detail: string): FieldError => ({ type: 'FieldValueForbidden', field: f, detail }),
  tooLong: (f: string, badValue: unknown, max: number): FieldError => ({ type: 'FieldValueTooLong', field: f, detail: `may not be more than ${max} bytes`, badValue }),
};

/**
 * An error in Kubernetes' terms: a reason, an HTTP code and a message, convertible to a
 * metav1.Status and to a gRPC status. Every error that leaves the apiserver is one of these.
 */
export class ApiError extends Error {
  constructor(
    readonly reason: StatusReason,
    readonly code: number,
    message: string,
    readonly details: { name?: string; group?: string; kind?: string; causes?: StatusCause[]; retryAfterSeconds?: number } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ApiError';
  }

  toStatus(): Status {
    return {
      apiVersion: 'v1',
      kind: 'Status',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      details: Object.keys(this.details).length ? { ...this.details } : undefined,
      code: this.code,
    };
  }
}

/** Builds the `<resource>[.group] "name"` prefix Kubernetes puts in its messages. */
function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

export const errors = {
  notFound: (resource: string, group: string, name: string) =>
    new ApiError('NotFound', 404, `${qualified(resource, group)} "${name}" not found`, { name, group, kind: resource }),
  alreadyExists: (resource: string, group: string, name: string) =>
    new ApiError('AlreadyExists', 409, `${qualified(resource, group)} "${name}" already exists`, { name, group, kind: resource }),
  conflict: (resource: string, group: string, name: string, why: string) =>
    new ApiError('Conflict', 409, `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": ${why}`, { name, group, kind: resource }),
  invalid: (kind: string, group: string, name: string, errs: FieldError[]) => {
    const messages = errs.map(fieldErrorMessage);
    const joined = messages.length === 1 ? messages[0] : `[${messages.join(', ')}]`;
    return new ApiError('Invalid', 422, `${kind}${group ? '.' + group : ''} "${name}" is invalid: ${joined}`, {
      name,
      group,
      kind,
      causes: errs.map((e, i) => ({ reason: e.type, message: messages[i].slice(e.field.length + 2), field: e.field })),
    });
  },
  badRequest: (message: string) => new ApiError('BadRequest', 400, message),
  forbidden: (resource: string, group: string, name: string, why: string) =>
    new ApiError('Forbidden', 403, `${qualified(resource, group)} "${name}" is forbidden: ${why}`, { name, group, kind: resource }),
  methodNotAllowed: (message: string) => new ApiError('MethodNotAllowed', 405, message),
  tooLarge: (message: string) => new ApiError('RequestEntityTooLarge', 413, message),
  unsupportedMediaType: (message: string) => new ApiError('UnsupportedMediaType', 415, message),
  notAcceptable: (message: string) => new ApiError('NotAcceptable', 406, message),
  expired: (message: string) => new ApiError('Expired', 410, message),
  unavailable: (message: string, cause?: unknown) => new ApiError('ServiceUnavailable', 503, message, { retryAfterSeconds: 1 }, { cause }),
  timeout: (message: string, cause?: unknown) => new ApiError('Timeout', 504, message, { retryAfterSeconds: 1 }, { cause }),
  internal: (message: string, cause?: unknown) => new ApiError('InternalError', 500, `Internal error occurred: ${message}`, {}, { cause }),
};

/** The one table from a Kubernetes status reason to a gRPC status code. */
export const grpcCodeForReason: Record<StatusReason, grpc.status> = {
  NotFound: grpc.status.NOT_FOUND,
  AlreadyExists: grpc.status.ALREADY_EXISTS,
  Conflict: grpc.status.ABORTED,
  Invalid: grpc.status.INVALID_ARGUMENT,
  BadRequest: grpc.status.INVALID_ARGUMENT,
  UnsupportedMediaType: grpc.status.INVALID_ARGUMENT,
  NotAcceptable: grpc.status.INVALID_ARGUMENT,
  Unauthorized: grpc.status.UNAUTHENTICATED,
  Forbidden: grpc.status.PERMISSION_DENIED,
  MethodNotAllowed: grpc.status.UNIMPLEMENTED,
  RequestEntityTooLarge: grpc.status.RESOURCE_EXHAUSTED,
  Expired: grpc.status.OUT_OF_RANGE,
  Gone: grpc.status.OUT_OF_RANGE,
  ServiceUnavailable: grpc.status.UNAVAILABLE,
  Timeout: grpc.status.DEADLINE_EXCEEDED,
  InternalError: grpc.status.INTERNAL,
};

/** The one table from a Kubernetes status reason to an HTTP status code (the REST front end). */
export const httpCodeForReason: Record<StatusReason, number> = {
  NotFound: 404,
  AlreadyExists: 409,
  Conflict: 409,
  Invalid: 422,
  BadRequest: 400,
  UnsupportedMediaType: 415,
  NotAcceptable: 406,
  Unauthorized: 401,
  Forbidden: 403,
  MethodNotAllowed: 405,
  RequestEntityTooLarge: 413,
  Expired: 410,
  Gone: 410,
  ServiceUnavailable: 503,
  Timeout: 504,
  InternalError: 500,
};

/** The trailing-metadata key carrying the metav1.Status of a failed call, as protobuf. */
export const STATUS_METADATA_KEY = 'kubemu-status-bin';

/** Converts any thrown value into the gRPC error a server callback should return. Never throws. */
export function toGrpcError(err: unknown): Partial<grpc.StatusObject> {
  const apiErr = err instanceof ApiError ? err : errors.internal(err instanceof Error ? err.message : String(err), err);
  const metadata = new grpc.Metadata();
  metadata.set(STATUS_METADATA_KEY, Buffer.from(Status.encode(apiErr.toStatus()).finish()));
  return { code: grpcCodeForReason[apiErr.reason], details: apiErr.message, metadata };
}

/**
 * Turns a gRPC client error back into an ApiError, using the Status in its trailers when the
 * apiserver sent one, and the gRPC code otherwise (e.g. UNAVAILABLE when no apiserver answers).
 */
export function fromGrpcError(err: grpc.ServiceError): ApiError {
  const raw = err.metadata?.get(STATUS_METADATA_KEY)?.[0];
  if (raw instanceof Buffer) {
    try {
      const s = Status.decode(raw);
      return new ApiError((s.reason || 'InternalError') as StatusReason, s.code ?? 500, s.message ?? err.details, {
        name: s.details?.name,
        group: s.details?.group,
        kind: s.details?.kind,
        causes: s.details?.causes,
        retryAfterSeconds: s.details?.retryAfterSeconds,
      }, { cause: err });
    } catch {
      // fall through to the code-based mapping
    }
  }
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
      return errors.unavailable(`apiserver unavailable: ${err.details}`, err);
    case grpc.status.DEADLINE_EXCEEDED:
      return errors.timeout(`request timed out: ${err.details}`, err);
    case grpc.status.NOT_FOUND:
      return new ApiError('NotFound', 404, err.details, {}, { cause: err });
    case grpc.status.INVALID_ARGUMENT:
      return errors.badRequest(err.details);
    case grpc.status.RESOURCE_EXHAUSTED:
      return errors.tooLarge(err.details);
    default:
      return errors.internal(err.details, err);
  }
}

/** True when err is an ApiError with the given reason. */
export function isReason(err: unknown, reason: StatusReason): boolean {
  return err instanceof ApiError && err.reason === reason;
}
