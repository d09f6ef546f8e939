/**
 * e2e: the guided failure scenarios (`npm run scenario -- <name>`, issue 7) on one demo cluster
 * started as a person starts it; each must print its timeline and PASS (exit 0).
 */
import { scenarioSuite } from '../harness/cluster';

const scenario = scenarioSuite();

test('scenarios - scheduler-leader: the standby takes the lease and schedules the pods created meanwhile', async () => {
  const output = await scenario('scheduler-leader', 90000);
  expect(output).toContain('lease holder changed to');
  expect(output).toContain('PASS: scheduler-leader');
}, 100000);

test('scenarios - kube-proxy: another kube-proxy takes the ClusterIP over, Service traffic goes on', async () => {
  const output = await scenario('kube-proxy', 120000);
  expect(output).toContain('longest gap between answers');
  expect(output).toContain('PASS: kube-proxy');
}, 130000);

test('scenarios - kubelet: containers keep serving, the node goes NotReady, the pod is evicted and replaced, the node is Ready again', async () => {
  const output = await scenario('kubelet', 120000);
  expect(output).toContain('NotReady');
  expect(output).toContain('PASS: kubelet');
}, 130000);

test('scenarios - container-runtime: the containers die with their runtime and are restarted with restartCount +1', async () => {
  const output = await scenario('container-runtime', 90000);
  expect(output).toContain('PASS: container-runtime');
}, 100000);
