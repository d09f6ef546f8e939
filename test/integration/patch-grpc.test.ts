/**
 * The gRPC Patch RPC with the strategic merge patch and server-side apply content types against
 * a real apiserver process (real etcd, NATS, gRPC over TCP; needs `npm run build`): the
 * fieldManager of the request reaches the registry, and errors carry Kubernetes' Status in the
 * trailers (409 apply conflict with its causes, 422 without a fieldManager).
 */
import * as grpc from '@grpc/grpc-js';
import { ApiServerServiceClient, Object as ApiObject } from '../../services/lib/generated/kubemu/apiserver/v1/apiserver';
import { Status } from '../../services/lib/generated/kubemu/meta/v1/meta';
import { STATUS_METADATA_KEY } from '../../services/lib/errors';
import { startTestApiServer, TestApiServer } from '../contract/env';

jest.setTimeout(120000);

let env: TestApiServer;
let client: ApiServerServiceClient;

beforeAll(async () => {
  env = await startTestApiServer();
  client = new ApiServerServiceClient(env.address, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await env?.stop();
});

type Cb<T> = (err: grpc.ServiceError | null, res: T) => void;
function call<T>(fn: (cb: Cb<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}
async function callError(fn: (cb: Cb<unknown>) => void): Promise<{ code: grpc.status; status: Status }> {
  try {
    await call(fn);
  } catch (err) {
    const e = err as grpc.ServiceError;
    const raw = e.metadata.get(STATUS_METADATA_KEY)[0] as Buffer;
    return { code: e.code, status: raw ? Status.decode(raw) : {} };
  }
  throw new Error('expected the call to fail');
}

const deployment = (replicas: number) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    replicas,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1' }, { name: 'log', image: 'busybox' }] } },
  },
});

const patch = (patchType: string, body: unknown, fieldManager = '') => (cb: Cb<ApiObject>) =>
  client.patch({ resource: 'deployments', namespace: 'default', name: 'web', patchType, patch: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), fieldManager }, cb);

test('Patch - server-side apply creates, strategic patch merges by name, apply conflict is ABORTED with the Status', async () => {
  const created = (await call<ApiObject>(patch('application/apply-patch+yaml', deployment(2), 'kubectl'))).object!.value as any;
  expect(created.spec.replicas).toBe(2);
  expect(created.metadata.managedFields.map((e: any) => [e.manager, e.operation])).toEqual([['kubectl', 'Apply']]);

  const patched = (
    await call<ApiObject>(patch('application/strategic-merge-patch+json', { spec: { replicas: 4, template: { spec: { containers: [{ name: 'web', image: 'nginx:2' }] } } } }, 'kubectl-edit'))
  ).object!.value as any;
  expect(patched.spec.template.spec.containers.map((c: any) => `${c.name}=${c.image}`)).toEqual(['web=nginx:2', 'log=busybox']);

  const conflict = await callError(patch('application/apply-patch+yaml', deployment(2), 'kubectl'));
  expect(conflict.code).toBe(grpc.status.ABORTED);
  expect(conflict.status).toMatchObject({ code: 409, reason: 'Conflict' });
  expect(conflict.status.message).toBe(
    'Apply failed with 2 conflicts: conflicts with "kubectl-edit" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name="web"].image',
  );
  expect(conflict.status.details?.causes?.map((c) => c.field)).toEqual(['.spec.replicas', '.spec.template.spec.containers[name="web"].image']);

  const missing = await callError(patch('application/apply-patch+yaml', deployment(2)));
  expect(missing.status).toMatchObject({ code: 422, reason: 'Invalid', message: 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch' });

  // The refused applies changed nothing; both managers are recorded.
  const get = (await call<ApiObject>((cb) => client.get({ resource: 'deployments', namespace: 'default', name: 'web' }, cb))).object!.value as any;
  expect(get.spec.replicas).toBe(4);
  expect(get.metadata.managedFields.map((e: any) => `${e.manager}/${e.operation}`)).toEqual(['kubectl/Apply', 'kubectl-edit/Update']);
});
