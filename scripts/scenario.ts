/**
 * `npm run scenario -- <name>`: a guided failure scenario on the running cluster (the state
 * folder of KUBEMU_STATE_DIR, default .kubemu). Prints what Kubernetes promises, sets up a
 * workload in its own namespace scenario-<name>, injects the fault by pid, prints a timeline
 * relative to the fault with the measured durations, checks the outcome and prints PASS (exit 0)
 * or what went wrong (exit 1). Exit 2: bad usage or no cluster.
 */
import { ApiClient } from '../services/lib/apiclient';
import { buildTopology, settingsFromEnv } from '../services/lib/topology';
import { NAMESPACE, Scenario, ScenarioContext, Timeline, pm2Pids, pollUntil } from './scenarios/lib';
import { schedulerLeader } from './scenarios/scheduler-leader';
import { kubeProxy } from './scenarios/kube-proxy';
import { kubelet } from './scenarios/kubelet';
import { containerRuntime } from './scenarios/container-runtime';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { repoRoot } from '../services/lib/config';
import { pm2HomeOf } from './scenarios/lib';

const SCENARIOS: Scenario[] = [schedulerLeader, kubeProxy, kubelet, containerRuntime];

const out = (line: string) => process.stdout.write(line + '\n');

async function main(): Promise<number> {
  const name = process.argv[2];
  const scenario = SCENARIOS.find((s) => s.name === name);
  if (!scenario) {
    out(`usage: npm run scenario -- <name>\nscenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`);
    return 2;
  }
  const topology = buildTopology(settingsFromEnv(process.env));
  try {
    await pm2Pids(topology);
  } catch (err) {
    out(`scenario: no running cluster in ${topology.settings.stateDir} (${(err as Error).message}); start one with 'npm start'`);
    return 2;
  }
  const client = new ApiClient(topology.apiservers);
  const namespace = `scenario-${scenario.name}`;
  const timeline = new Timeline();
  const ctx: ScenarioContext = {
    topology,
    client,
    namespace,
    timeline,
    log: (line) => out(`  ${line}`),
    pids: () => pm2Pids(topology),
    pm2: async (action, proc) => {
      // The pm2 CLI of this checkout with the cluster's PM2_HOME, as a person would run it.
      const cli = path.join(repoRoot(), 'node_modules', 'pm2', 'bin', 'pm2');
      const r = spawnSync(process.execPath, [cli, action, proc], { env: { ...process.env, PM2_HOME: pm2HomeOf(topology) }, encoding: 'utf8', timeout: 60000 });
      if (r.status !== 0) throw new Error(`pm2 ${action} ${proc} failed: ${r.stderr || r.stdout}`);
    },
  };
  out(`scenario ${scenario.name} on ${topology.settings.stateDir} (profile ${topology.settings.profile})`);
  out('What Kubernetes promises:');
  for (const p of scenario.promises) out(`  ${p}`);
  out('');
  let problems: string[];
  try {
    // A namespace left behind by an interrupted run is deleted first.
    if (await client.tryGet(NAMESPACE, '', namespace)) {
      await client.delete(NAMESPACE, '', namespace);
      await pollUntil(async () => !(await client.tryGet(NAMESPACE, '', namespace)), 60000, 250);
    }
    await client.create(NAMESPACE, { metadata: { name: namespace } });
    problems = await scenario.run(ctx);
  } catch (err) {
    problems = [`the scenario could not run: ${(err as Error).message}`];
  }
  out('');
  out('Timeline (relative to the fault):');
  for (const line of timeline.format()) out(line);
  out('');
  await client.delete(NAMESPACE, '', namespace).catch(() => undefined);
  client.close();
  if (problems.length === 0) {
    out(`PASS: ${scenario.name}`);
    return 0;
  }
  out(`FAIL: ${scenario.name}`);
  for (const p of problems) out(`  - ${p}`);
  return 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`scenario: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(2);
  },
);
