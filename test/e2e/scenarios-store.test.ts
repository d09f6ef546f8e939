/**
 * e2e: the storage scenarios of issue 7 (`npm run scenario -- etcd`, `-- nats`) on one demo cluster
 * started as a person starts it; each must print its timeline and PASS (exit 0).
 */
import { scenarioSuite } from '../harness/cluster';

const scenario = scenarioSuite();

test('scenarios - etcd: a new leader within seconds, 503 at once without quorum, nothing acknowledged lost', async () => {
  const output = await scenario('etcd', 120000);
  expect(output).toContain('quorum back');
  expect(output).toContain('PASS: etcd');
}, 130000);

test('scenarios - nats: watchers move to a surviving server, then resume after a full outage missing nothing; a Deployment scaled meanwhile converges', async () => {
  const output = await scenario('nats', 240000);
  expect(output).toMatch(/each seen exactly once and in order by the informer/);
  expect(output).toContain('Deployment web converged');
  expect(output).toContain('PASS: nats');
}, 250000);
