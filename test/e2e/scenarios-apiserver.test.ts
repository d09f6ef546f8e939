/**
 * e2e: issue 7 scenarios 1 and 2 (`npm run scenario -- apiserver-replica | apiservers-down`) on
 * one demo cluster started as a person starts it; each must print its timeline and PASS.
 */
import { scenarioSuite } from '../harness/cluster';

const scenario = scenarioSuite();

test('scenarios - apiserver-replica: the publisher replica dies, gRPC and REST clients fail over, no request fails, the watches miss nothing', async () => {
  const output = await scenario('apiserver-replica', 90000);
  expect(output).toContain('user-level failures: 0');
  expect(output).toContain('serving again (GET /readyz 200)');
  expect(output).toContain('PASS: apiserver-replica');
}, 100000);

test('scenarios - apiservers-down: 30 s without apiservers, pods keep serving, the control plane resyncs, no node NotReady', async () => {
  const output = await scenario('apiservers-down', 150000);
  expect(output).toContain('scale-up pod');
  expect(output).toContain('PASS: apiservers-down');
}, 160000);
