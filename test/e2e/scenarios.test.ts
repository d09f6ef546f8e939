/**
 * e2e: the guided failure scenarios (`npm run scenario -- <name>`, issue 7) on one demo cluster
 * started as a person starts it; each must print its timeline and PASS (exit 0).
 */
import { spawn } from 'child_process';
import * as path from 'path';
import { repoRoot } from '../../services/lib/config';
import { E2ECluster, expectSucceeded, prepareCluster } from '../harness/cluster';

const SCENARIO_JS = path.join(repoRoot(), 'dist', 'scripts', 'scenario.js');

let cluster: E2ECluster;

function scenario(name: string, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCENARIO_JS, name], { env: cluster.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

beforeAll(async () => {
  cluster = await prepareCluster('demo');
  expectSucceeded(await cluster.run(['start']));
  await cluster.status(); // remembers every pid for cleanup
}, 180000);

afterAll(async () => {
  await cluster?.destroy();
}, 120000);

test('scenarios - scheduler-leader: the standby takes the lease and schedules the pods created meanwhile', async () => {
  const r = await scenario('scheduler-leader', 90000);
  await cluster.status(); // the restarted scheduler's pid, for cleanup
  if (r.code !== 0) throw new Error(r.output);
  expect(r.output).toContain('lease holder changed to');
  expect(r.output).toContain('PASS: scheduler-leader');
}, 100000);

test('scenarios - kube-proxy: another kube-proxy takes the ClusterIP over, Service traffic goes on', async () => {
  const r = await scenario('kube-proxy', 120000);
  await cluster.status();
  if (r.code !== 0) throw new Error(r.output);
  expect(r.output).toContain('longest gap between answers');
  expect(r.output).toContain('PASS: kube-proxy');
}, 130000);

test('scenarios - kubelet: containers keep serving, the node goes NotReady, the pod is evicted and replaced, the node is Ready again', async () => {
  const r = await scenario('kubelet', 120000);
  await cluster.status();
  if (r.code !== 0) throw new Error(r.output);
  expect(r.output).toContain('NotReady');
  expect(r.output).toContain('PASS: kubelet');
}, 130000);

test('scenarios - container-runtime: the containers die with their runtime and are restarted with restartCount +1', async () => {
  const r = await scenario('container-runtime', 90000);
  await cluster.status();
  if (r.code !== 0) throw new Error(r.output);
  expect(r.output).toContain('PASS: container-runtime');
}, 100000);
