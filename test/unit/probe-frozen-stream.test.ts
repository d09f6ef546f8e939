/**
 * frozenStreamCopies (npm run status): a NATS server whose copy of the watch stream stopped
 * following is named; a copy that trails but moves, an idle stream and servers that agree are not.
 * Each "server" is a small HTTP server answering /jsz?streams=true as nats-server's monitor does.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { frozenStreamCopies } from '../../scripts/lib/probe';

const servers: http.Server[] = [];

/** A monitor endpoint whose stream last_seq is `seq()` at each request. */
async function monitor(seq: () => number): Promise<string> {
  const server = http.createServer((req, res) => {
    const body = req.url?.startsWith('/jsz') ? { account_details: [{ stream_detail: [{ name: 'KUBEMU_WATCH', state: { last_seq: seq() } }] }] } : {};
    res.end(JSON.stringify(body));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterAll(() => {
  for (const s of servers) s.close();
});

test('a copy far behind that does not move while the newest does is frozen; one that moves is not', async () => {
  let head = 1000;
  const leader = await monitor(() => (head += 40));
  const follower = await monitor(() => head - 60); // behind, but moving with the leader
  const stuck = await monitor(() => 186);
  const frozen = await frozenStreamCopies(
    [
      { name: 'nats-0', monitorUrl: leader },
      { name: 'nats-1', monitorUrl: follower },
      { name: 'nats-2', monitorUrl: stuck },
    ],
    'KUBEMU_WATCH',
    50,
  );
  expect([...frozen.keys()]).toEqual(['nats-2']);
  expect(frozen.get('nats-2')).toMatch(/^its copy of KUBEMU_WATCH is frozen at 186 while the newest is at \d+$/);
});

test('copies that agree, an idle stream and a server that does not answer are not frozen', async () => {
  const same = await monitor(() => 500);
  const alsoSame = await monitor(() => 498);
  const idleLeader = await monitor(() => 900);
  const idleBehind = await monitor(() => 700); // behind, but the newest did not move either
  const t0 = Date.now();
  expect((await frozenStreamCopies([{ name: 'a', monitorUrl: same }, { name: 'b', monitorUrl: alsoSame }, { name: 'c', monitorUrl: 'http://127.0.0.1:1' }], 'KUBEMU_WATCH', 2000)).size).toBe(0);
  expect(Date.now() - t0).toBeLessThan(1500); // nobody far behind: asked once
  expect((await frozenStreamCopies([{ name: 'a', monitorUrl: idleLeader }, { name: 'b', monitorUrl: idleBehind }], 'KUBEMU_WATCH', 50)).size).toBe(0);
});
