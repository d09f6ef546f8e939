import { ServerResponse } from 'http';
import { ApiError, errors, field, grpcCodeForReason, httpCodeForReason, StatusReason } from '../../services/lib/errors';
import { statusBody, writeError } from '../../services/kube-apiserver/rest/respond';

/** A ServerResponse stand-in recording what is written. */
function fakeResponse() {
  const out = { code: 0, headers: {} as Record<string, unknown>, body: '', headersSent: false, writableEnded: false };
  const res = {
    get headersSent() {
      return out.headersSent;
    },
    get writableEnded() {
      return out.writableEnded;
    },
    writeHead(code: number, headers: Record<string, unknown>) {
      out.code = code;
      out.headers = headers;
      out.headersSent = true;
      return res;
    },
    end(text?: string) {
      out.body += text ?? '';
      out.writableEnded = true;
    },
  };
  return { res: res as unknown as ServerResponse, out };
}

describe('rest errors', () => {
  test('rest errors - one HTTP code per reason, beside the gRPC table', () => {
    const expected: Record<string, number> = {
      NotFound: 404, AlreadyExists: 409, Conflict: 409, Invalid: 422, BadRequest: 400, MethodNotAllowed: 405,
      Expired: 410, Gone: 410, RequestEntityTooLarge: 413, UnsupportedMediaType: 415, NotAcceptable: 406,
      Forbidden: 403, Unauthorized: 401, InternalError: 500, ServiceUnavailable: 503, Timeout: 504,
    };
    for (const [reason, code] of Object.entries(expected)) expect(httpCodeForReason[reason as StatusReason]).toBe(code);
    // Every reason has both codes.
    expect(Object.keys(httpCodeForReason).sort()).toEqual(Object.keys(grpcCodeForReason).sort());
  });

  test('rest errors - Invalid carries one cause per field and the message kubectl prints', () => {
    const err = errors.invalid('Deployment', 'apps', 'web', [field.invalid('spec.replicas', -1, 'must be greater than or equal to 0')]);
    const body = statusBody(err);
    expect(body).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'Invalid',
      code: 422,
      message: 'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0',
      details: { name: 'web', group: 'apps', kind: 'Deployment', causes: [{ reason: 'FieldValueInvalid', field: 'spec.replicas', message: 'Invalid value: -1: must be greater than or equal to 0' }] },
    });
  });

  test('rest errors - writeError writes the Status with its code; unknown errors are 500 InternalError', () => {
    const a = fakeResponse();
    writeError(a.res, errors.notFound('pods', '', 'x'));
    expect(a.out.code).toBe(404);
    expect(JSON.parse(a.out.body)).toMatchObject({ reason: 'NotFound', message: 'pods "x" not found', details: { name: 'x', kind: 'pods' }, code: 404 });
    const b = fakeResponse();
    writeError(b.res, new Error('boom'));
    expect(b.out.code).toBe(500);
    expect(JSON.parse(b.out.body)).toMatchObject({ reason: 'InternalError', message: 'Internal error occurred: boom' });
    const c = fakeResponse();
    writeError(c.res, errors.unavailable('etcd down'));
    expect(c.out.code).toBe(503);
    expect(c.out.headers['Retry-After']).toBe('1');
    const d = fakeResponse();
    writeError(d.res, new ApiError('Expired', 410, 'too old resource version: 1 (5)'));
    expect(d.out.code).toBe(410);
  });
});
