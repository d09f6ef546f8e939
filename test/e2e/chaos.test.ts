/**
 * e2e: `npm run chaos -- kill scheduler-leader` on a started cluster resolves the Lease holder,
 * SIGKILLs it and reports the new pid pm2 restarted it with.
 */
import * as fs from 'fs';
import * as path from 'path';
import { startedClusterSuite } from '../harness/cluster';

const cluster = startedClusterSuite();

const chaos = (args: string[], timeoutMs = 60000) => cluster().script('chaos', args, timeoutMs);

test('chaos - kill scheduler-leader kills the lease holder and pm2 restarts it', async () => {
  // Right after start the schedulers may still be campaigning: retry while the lease has no holder.
  const deadline = Date.now() + 30000;
  let result = await chaos(['kill', 'scheduler-leader']);
  while (result.code === 1 && /has no holder/.test(result.output) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    result = await chaos(['kill', 'scheduler-leader']);
  }
  expect(result.output).toMatch(/resolved scheduler-leader -> (kube-scheduler-\d) \(.*is \1_/);
  const name = /resolved scheduler-leader -> (kube-scheduler-\d)/.exec(result.output)![1];
  const killed = Number(/sent SIGKILL to kube-scheduler-\d pid (\d+)/.exec(result.output)?.[1]);
  const back = Number(/is back: pid (\d+)/.exec(result.output)?.[1]);
  expect(result.code).toBe(0);
  expect(back).toBeGreaterThan(0);
  expect(back).not.toBe(killed);
  // status --json also records the new pid for the harness's cleanup.
  const { report } = await cluster().status();
  expect(report.processes.find((p) => p.name === name)?.restarts).toBeGreaterThanOrEqual(1);
}, 120000);

test('chaos - an unknown target exits 2 and lists the valid ones', async () => {
  const result = await chaos(['kill', 'kube-schedular']);
  expect(result.code).toBe(2);
  expect(result.output).toContain('scheduler-leader');
  expect(result.output).toContain('kube-scheduler-0');
});

test('chaos - a process killed again after 20 s up is restarted after pm2\'s first delay, not a grown one', async () => {
  // pm2 grows a process's restart delay (200 ms, then 1.5 times per crash) until it has been up
  // EXP_BACKOFF_RESET_TIMER, checked every PM2_WORKER_INTERVAL; the cluster's daemon runs with
  // 10 s and 5 s (pm2's defaults: 30 s and 30 s), so a kill after 20 s up (10 s, plus a check
  // due within 5 s, plus room for a loaded machine) is a first crash again.
  const pm2Log = path.join(cluster().stateDir, 'pm2', 'pm2.log');
  const delays = () => [...fs.readFileSync(pm2Log, 'utf8').matchAll(/App \[kube-proxy-node-1:\d+\] will restart in (\d+)ms/g)].map((m) => Number(m[1]));
  const killed = async () => {
    const result = await chaos(['kill', 'kube-proxy-node-1']);
    expect(result.output).toMatch(/kube-proxy-node-1 is back: pid \d+/);
  };
  await killed();
  await new Promise((r) => setTimeout(r, 20000));
  await killed();
  expect(delays().slice(-2)).toEqual([200, 200]);
}, 120000);
