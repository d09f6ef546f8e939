/**
 * e2e: the leader-election scenarios of issue 7 (`npm run scenario -- controller-manager-leader`,
 * `... scheduler-frozen`) on one demo cluster started as a person starts it; each must print its
 * timeline and PASS (exit 0). They share the cluster: each leaves both replicas of its component
 * running (pm2 restarts the one it killed or that exited), and they touch different leases.
 */
import { scenarioSuite } from '../harness/cluster';

const scenario = scenarioSuite();

test('scenarios - controller-manager-leader: the standby takes the lease and finishes the rollout within maxSurge/maxUnavailable', async () => {
  const output = await scenario('controller-manager-leader', 150000);
  expect(output).toContain('lease holder changed to');
  expect(output).toContain('rollout complete');
  expect(output).toContain('PASS: controller-manager-leader');
}, 160000);

test('scenarios - scheduler-frozen: the woken leader steps down and exits; every pod is bound once with one Scheduled event', async () => {
  const output = await scenario('scheduler-frozen', 100000);
  expect(output).toContain('lease taken by');
  expect(output).toContain('PASS: scheduler-frozen');
}, 110000);
