/**
 * ApiClient against no apiserver at all: ordinary calls ride out an outage for retryForMs, lease
 * calls (leader election) give up within a few seconds so that an elector notices within its
 * renew deadline that it cannot renew.
 */
import * as net from 'net';
import { ApiClient } from '../../services/lib/apiclient';
import { resourceForCase } from '../../services/lib/resources';

/** A loopback port nothing listens on (connections are refused at once). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function timeToFail(call: () => Promise<unknown>): Promise<number> {
  const start = Date.now();
  await expect(call()).rejects.toThrow();
  return Date.now() - start;
}

test('apiclient - lease calls give up within 3 s when no apiserver answers, ordinary calls keep retrying for retryForMs', async () => {
  const port = await closedPort();
  const client = new ApiClient([`127.0.0.1:${port}`], { retryForMs: 6000 });
  try {
    const lease = { metadata: { namespace: 'kube-system', name: 'x', resourceVersion: '1' }, spec: { holderIdentity: 'me' } };
    const [get, create, update, ordinary] = await Promise.all([
      timeToFail(() => client.getLease('kube-system', 'x')),
      timeToFail(() => client.createLease(lease)),
      timeToFail(() => client.updateLease(lease)),
      timeToFail(() => client.get(resourceForCase('lease'), 'kube-system', 'x')),
    ]);
    // Leader election (demo: renew deadline 3 s, retry 1 s) must see each failed renewal in time.
    expect(Math.max(get, create, update)).toBeLessThan(3500);
    expect(ordinary).toBeGreaterThanOrEqual(5000);
  } finally {
    client.close();
  }
}, 20000);
