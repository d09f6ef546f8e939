import { ServerResponse } from 'http';
import { Duplex } from 'stream';
import { ApiError, errors, httpCodeForReason } from '../../lib/errors';

/**
 * Turns anything thrown into the ApiError the client sees: ApiErrors pass through, anything else
 * is an InternalError (500). Never throws.
 */
export function asApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return errors.internal(err instanceof Error ? err.message : String(err), err);
}

/** The HTTP code of an error: the one reason→code table, the error's own code for reasons not in it. */
export function httpCodeOf(err: ApiError): number {
  return httpCodeForReason[err.reason] ?? err.code ?? 500;
}

/** The metav1.Status body of an error, in Kubernetes' JSON form (empty fields left out). */
export function statusBody(err: ApiError): Record<string, unknown> {
  const d = err.details;
  const details: Record<string, unknown> = {};
  if (d.name) details.name = d.name;
  if (d.group) details.group = d.group;
  if (d.kind) details.kind = d.kind;
  if (d.causes?.length) details.causes = d.causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field }));
  if (d.retryAfterSeconds) details.retryAfterSeconds = d.retryAfterSeconds;
  const body: Record<string, unknown> = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: err.message,
    reason: err.reason,
  };
  if (Object.keys(details).length) body.details = details;
  body.code = httpCodeOf(err);
  return body;
}

/** Writes a JSON body with the given HTTP code. No-op when the response already ended. */
export function writeJson(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.writableEnded) return;
  const text = JSON.stringify(body);
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Writes any error as a Kubernetes Status with its HTTP code (the one mapping table). When the
 * headers were already sent (a stream in progress), the response is just ended.
 */
export function writeError(res: ServerResponse, err: unknown): void {
  const apiErr = asApiError(err);
  const headers: Record<string, string> = {};
  if (apiErr.details.retryAfterSeconds) headers['Retry-After'] = String(apiErr.details.retryAfterSeconds);
  writeJson(res, httpCodeOf(apiErr), statusBody(apiErr), headers);
}

/** Answers a refused upgrade on a raw socket with a Status body, then closes the socket. */
export function writeUpgradeError(socket: Duplex, err: unknown): void {
  const apiErr = asApiError(err);
  const code = httpCodeOf(apiErr);
  const text = JSON.stringify(statusBody(apiErr));
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(
    `HTTP/1.1 ${code} ${apiErr.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}
