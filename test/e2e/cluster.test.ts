/**
 * e2e: the cluster commands as a person runs them (`npm start`, `npm run status`, `npm stop`,
 * `npm start` again, `npm run reset`), on a private state folder and port block.
 */
import * as fs from 'fs';
import { Etcd3 } from 'etcd3';
import { buildTopology } from '../../services/lib/topology';
import { E2ECluster, expectSucceeded, prepareCluster } from '../harness/cluster';

const PROFILE = 'demo';

let cluster: E2ECluster;
let stateDir: string;
let env: NodeJS.ProcessEnv;
const run = (args: string[], timeoutMs?: number) => cluster.run(args, timeoutMs);
const status = () => cluster.status();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  cluster = await prepareCluster(PROFILE);
  stateDir = cluster.stateDir;
  env = cluster.env;
});

afterAll(async () => {
  await cluster?.destroy();
});

test('cluster - start, status, kill and heal, stop, resume with the same data, reset', async () => {
  const topology = buildTopology({ stateDir, portBase: Number(env.KUBEMU_PORT_BASE), profile: PROFILE });
  const expected = topology.processes.map((p) => p.name).sort();
  expect(expected.filter((n) => n.startsWith('etcd-'))).toHaveLength(topology.profile.topology.etcdMembers);
  expect(expected.filter((n) => n.startsWith('nats-'))).toHaveLength(topology.profile.topology.natsServers);
  expect(expected.filter((n) => n.startsWith('kube-apiserver-'))).toHaveLength(topology.profile.topology.apiservers);
  expect(expected.filter((n) => n.startsWith('kube-scheduler-'))).toHaveLength(topology.profile.topology.schedulers);

  // npm start: everything up and healthy, and a table of what runs where.
  const started = Date.now();
  const start = await run(['start']);
  expectSucceeded(start);
  const startSeconds = (Date.now() - started) / 1000;
  for (const name of expected) expect(start.output).toContain(name);
  expect(start.output).toContain('npm run status');
  expect([start.output.includes(`export KUBECONFIG=${stateDir}/kubeconfig`), fs.existsSync(`${stateDir}/kubeconfig`)]).toEqual([true, true]);

  // npm run status: every process online and healthy, exit code 0.
  let { code, report } = await status();
  expect(code).toBe(0);
  expect(report.healthy).toBe(true);
  expect(report.processes.map((p) => p.name).sort()).toEqual(expected);
  for (const p of report.processes) {
    expect(p).toMatchObject({ pm2Status: 'online', healthy: true });
    expect(p.pid).toBeGreaterThan(0);
  }
  const text = await run(['status']);
  expect(text.code).toBe(0);
  expect(text.output).toContain('all healthy');

  // Kill an etcd member and an apiserver: pm2 restarts them and the cluster is healthy again.
  const victims = report.processes.filter((p) => p.name === 'etcd-1' || p.name === 'kube-apiserver-0');
  for (const v of victims) process.kill(v.pid!, 'SIGKILL');
  await waitFor(
    'the killed processes to be restarted and healthy',
    async () => {
      ({ code, report } = await status());
      return code === 0 && victims.every((v) => {
        const now = report.processes.find((p) => p.name === v.name)!;
        return now.pid !== v.pid && (now.restarts ?? 0) >= 1;
      });
    },
    60000,
  );

  // Data written before a stop is there after the next start.
  const etcdEndpoints = report.processes.filter((p) => p.component === 'etcd').map((p) => p.address);
  const key = `/e2e/${Date.now()}`;
  let etcd = new Etcd3({ hosts: etcdEndpoints });
  await etcd.put(key).value('survives');
  etcd.close();

  // npm stop: every process and the pm2 daemon gone; status says so with a non-zero exit.
  const before = report;
  expectSucceeded(await run(['stop']));
  for (const pid of [before.pm2DaemonPid!, ...before.processes.map((p) => p.pid!)]) {
    await waitFor(`pid ${pid} to exit`, async () => !alive(pid), 15000);
  }
  ({ code, report } = await status());
  expect(code).not.toBe(0);
  expect(report.pm2DaemonPid).toBeNull();
  expect(report.processes.every((p) => p.pm2Status === 'not running')).toBe(true);

  // npm start again: same data.
  expectSucceeded(await run(['start']));
  ({ code, report } = await status());
  expect(code).toBe(0);
  etcd = new Etcd3({ hosts: etcdEndpoints });
  try {
    expect(await etcd.get(key).string()).toBe('survives');
  } finally {
    etcd.close();
  }

  // A second start while running changes nothing.
  const pidsBefore = report.processes.map((p) => p.pid);
  expectSucceeded(await run(['start']));
  ({ report } = await status());
  expect(report.processes.map((p) => p.pid)).toEqual(pidsBefore);

  // npm run reset: stopped and wiped.
  const last = report;
  expectSucceeded(await run(['reset']));
  expect(fs.existsSync(stateDir)).toBe(false);
  for (const pid of [last.pm2DaemonPid!, ...last.processes.map((p) => p.pid!)]) {
    await waitFor(`pid ${pid} to exit`, async () => !alive(pid), 15000);
  }
  process.stdout.write(`e2e: cluster start took ${startSeconds.toFixed(1)} s\n`);
});
