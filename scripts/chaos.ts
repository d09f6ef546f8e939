/**
 * Failure injection: `npm run chaos -- <action> <target> [--seconds N]` kills, terminates, freezes,
 * stops, starts or restarts one process of the running cluster (see scripts/lib/chaos.ts).
 * Settings: KUBEMU_STATE_DIR, KUBEMU_PORT_BASE, KUBEMU_PROFILE (as for npm start).
 * Exit codes: 0 done, 1 failed (no such holder, pm2 down, the process did not come back), 2 usage.
 */
import * as path from 'path';
import { ApiClient } from '../services/lib/apiclient';
import { Topology, buildTopology, settingsFromEnv } from '../services/lib/topology';
import { ChaosError, ChaosArgs, ChaosDeps, parseChaosArgs, runChaos } from './lib/chaos';
import { Pm2App, Pm2Client } from './lib/pm2';
import { etcdLeader } from './lib/probe';
import { runCli } from './lib/cli';

/** The pm2 app of one process as deploy/ecosystem.config.js declares it. */
function ecosystemApp(topology: Topology, name: string): Pm2App {
  const file = path.join(topology.repoRoot, 'deploy', 'ecosystem.config.js');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const config = require(file) as { apps: Pm2App[] };
  const app = config.apps.find((a) => a.name === name);
  if (!app) throw new ChaosError(`${name} is not in deploy/ecosystem.config.js`);
  return app;
}

async function main(argv: string[]): Promise<number> {
  const args: ChaosArgs = parseChaosArgs(argv);
  let topology: Topology;
  try {
    topology = buildTopology(settingsFromEnv(process.env));
  } catch (err) {
    throw new ChaosError((err as Error).message, 2);
  }
  const pm2 = new Pm2Client(path.join(topology.settings.stateDir, 'pm2'));
  try {
    await pm2.connect(false);
  } catch (err) {
    throw new ChaosError(`pm2 is not running for ${topology.settings.stateDir} (${(err as Error).message}): start the cluster with npm start`);
  }
  let api: ApiClient | undefined;
  let frozen: number | undefined;
  // Never leave a process stopped behind an interrupted freeze.
  const onInterrupt = () => {
    if (frozen !== undefined) {
      try {
        process.kill(frozen, 'SIGCONT');
        process.stdout.write(`${new Date().toISOString()} interrupted: sent SIGCONT to pid ${frozen}\n`);
      } catch {
        // already gone
      }
    }
    process.exit(130);
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  const deps: ChaosDeps = {
    processes: topology.processes.map((p) => ({ name: p.name, component: p.component })),
    pm2List: () => pm2.list(),
    leaseHolder: async (namespace, name) => {
      api ??= new ApiClient(topology.apiservers, { retryForMs: 5000, timeoutMs: 5000 });
      return (await api.getLease(namespace, name))?.spec?.holderIdentity || undefined;
    },
    etcdLeader: () => etcdLeader(topology.processes.filter((p) => p.component === 'etcd').map((p) => ({ name: p.name, address: p.address }))),
    random: Math.random,
    out: (line) => process.stdout.write(line + '\n'),
    now: () => new Date(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    signal: (pid, sig) => {
      process.kill(pid, sig);
      if (sig === 'SIGSTOP') frozen = pid;
      if (sig === 'SIGCONT') frozen = undefined;
    },
    pm2Stop: (name) => pm2.stop([name]),
    pm2Start: (name) => pm2.start([ecosystemApp(topology, name)]),
  };
  try {
    return await runChaos(args, deps);
  } finally {
    api?.close();
    await pm2.disconnect();
  }
}

runCli('kubemu chaos', main, (err): err is ChaosError => err instanceof ChaosError);
