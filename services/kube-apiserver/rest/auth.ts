import { IncomingMessage, ServerResponse } from 'http';
import { ApiError, errors } from '../../lib/errors';
import { GroupContext, RestExtensions, writeJson } from './extensions';
import { decodeBody, readBody } from './request';

/**
 * The self-review APIs kubectl's `auth can-i` and `auth whoami` call. kubemu has no authentication
 * or authorization: every request is served, as on a cluster whose authorizer is AlwaysAllow and
 * whose clients present no credentials. So an access review is always allowed, the rules review
 * grants everything, and the user is the anonymous one.
 *
 *   POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews  → status.allowed true
 *   POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews   → every verb on every resource
 *   POST /apis/authentication.k8s.io/v1/selfsubjectreviews       → system:anonymous
 */

/** The identity of a request without credentials, as Kubernetes' anonymous authenticator names it. */
export const ANONYMOUS_USER = { username: 'system:anonymous', groups: ['system:unauthenticated'] };

const AUTHORIZATION = 'authorization.k8s.io/v1';
const AUTHENTICATION = 'authentication.k8s.io/v1';

const create = (name: string, kind: string) => ({ name, singularName: kind.toLowerCase(), namespaced: false, kind, verbs: ['create'] });

/**
 * The request body's spec, or {} when the body cannot be read into JSON: client-go's typed
 * clients may send these reviews as protobuf, whose field table kubemu does not carry for these
 * kinds, and the answer (always allowed) does not depend on the spec.
 */
async function specOf(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req);
  try {
    const json = decodeBody(body, req.headers['content-type']) as { spec?: unknown } | undefined;
    return json && typeof json === 'object' && json.spec && typeof json.spec === 'object' ? json.spec : {};
  } catch {
    return {};
  }
}

function only(ctx: GroupContext, req: IncomingMessage, resource: string): void {
  const s = ctx.segments.filter((x) => x !== '');
  if (s.length !== 1 || s[0] !== resource) throw new ApiError('NotFound', 404, 'the server could not find the requested resource');
  if (req.method !== 'POST') throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
}

/** GroupHandler of authorization.k8s.io/v1: the self access and rules reviews (POST only). May be called concurrently. */
export async function authorizationHandler(req: IncomingMessage, res: ServerResponse, ctx: GroupContext): Promise<void> {
  const resource = ctx.segments.filter((x) => x !== '')[0];
  if (resource === 'selfsubjectrulesreviews') {
    only(ctx, req, resource);
    const spec = await specOf(req);
    writeJson(res, 201, {
      kind: 'SelfSubjectRulesReview',
      apiVersion: AUTHORIZATION,
      metadata: {},
      spec,
      status: {
        resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
        nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
        incomplete: false,
      },
    });
    return;
  }
  only(ctx, req, 'selfsubjectaccessreviews');
  const spec = await specOf(req);
  writeJson(res, 201, { kind: 'SelfSubjectAccessReview', apiVersion: AUTHORIZATION, metadata: {}, spec, status: { allowed: true } });
}

/** GroupHandler of authentication.k8s.io/v1: the self subject review (POST only). May be called concurrently. */
export async function authenticationHandler(req: IncomingMessage, res: ServerResponse, ctx: GroupContext): Promise<void> {
  only(ctx, req, 'selfsubjectreviews');
  await readBody(req);
  writeJson(res, 201, { kind: 'SelfSubjectReview', apiVersion: AUTHENTICATION, metadata: {}, status: { userInfo: ANONYMOUS_USER } });
}

/** The extension-module entry point the router looks for (see extensions.ts). Call once per replica. */
export function registerRestExtensions(ext: RestExtensions): void {
  ext.registerGroup(AUTHORIZATION, [create('selfsubjectaccessreviews', 'SelfSubjectAccessReview'), create('selfsubjectrulesreviews', 'SelfSubjectRulesReview')], authorizationHandler);
  ext.registerGroup(AUTHENTICATION, [create('selfsubjectreviews', 'SelfSubjectReview')], authenticationHandler);
}
