/** Contract tests of grpc.health.v1.Health as the apiserver serves it, through the generated client. */
import * as grpc from '@grpc/grpc-js';
import { HealthCheckResponse, HealthCheckResponse_ServingStatus as S, HealthClient } from '../../services/lib/generated/grpc/health/v1/health';
import { startTestApiServer, TestApiServer } from './env';

let env: TestApiServer;
let client: HealthClient;

beforeAll(async () => {
  env = await startTestApiServer();
  client = new HealthClient(env.address, grpc.credentials.createInsecure());
}, 120000);

afterAll(async () => {
  client?.close();
  await env?.stop();
});

describe('Health/Check', () => {
  test('Check - the whole server is SERVING once etcd and NATS are usable', async () => {
    const res = await new Promise<HealthCheckResponse>((resolve, reject) => client.check({ service: '' }, (e, r) => (e ? reject(e) : resolve(r))));
    expect(res.status).toBe(S.SERVING);
  });

  test('Check - NOT_FOUND for an unknown service name', async () => {
    const err = await new Promise<grpc.ServiceError>((resolve) => client.check({ service: 'no.such.Service' }, (e) => resolve(e!)));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
  });
});

describe('Health/Watch', () => {
  test('Watch - streams the current status at once', async () => {
    const call = client.watch({ service: '' });
    const first = await new Promise<HealthCheckResponse>((resolve, reject) => {
      call.on('data', resolve);
      call.on('error', reject);
    });
    call.cancel();
    expect(first.status).toBe(S.SERVING);
  });

  test('Watch - SERVICE_UNKNOWN for an unknown service name', async () => {
    const call = client.watch({ service: 'no.such.Service' });
    const first = await new Promise<HealthCheckResponse>((resolve, reject) => {
      call.on('data', resolve);
      call.on('error', reject);
    });
    call.cancel();
    expect(first.status).toBe(S.SERVICE_UNKNOWN);
  });
});
