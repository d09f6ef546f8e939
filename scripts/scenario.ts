/**
 * `npm run scenario -- <name>`: a guided failure scenario on the running cluster (the state
 * folder of KUBEMU_STATE_DIR, default .kubemu). Prints what Kubernetes promises, sets up a
 * workload in its own namespace scenario-<name>, injects the fault by pid, prints a timeline
 * relative to the fault with the measured durations, checks the outcome and prints PASS (exit 0)
 * or what went wrong (exit 1). Exit 2: bad usage or no cluster.
 */
import { ApiClient } from '../services/lib/apiclient';
import { buildTopology, settingsFromEnv } from '../services/lib/topology';
import { NAMESPACE, Scenario, ScenarioContext, Timeline, isScenario, pm2Pids, pollUntil, runPm2 } from './scenarios/lib';
import * as fs from 'fs';
import * as path from 'path';

/**
 * Every scenario exported by a module of scripts/scenarios/ (one file per scenario or group),
 * in the order: adding a scenario is adding a file.
 */
function loadScenarios(): Scenario[] {
  const dir = path.join(__dirname, 'scenarios');
  const found: Scenario[] = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.js') && f !== 'lib.js').sort()) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(path.join(dir, file)) as Record<string, unknown>;
    found.push(...Object.values(mod).filter(isScenario));
  }
  return found.sort((a, b) => a.number - b.number || a.name.localeCompare(b.name));
}

const out = (line: string) => process.stdout.write(line + '\n');

async function main(): Promise<number> {
  const name = process.argv[2];
  const SCENARIOS = loadScenarios();
  const scenario = SCENARIOS.find((s) => s.name === name);
  if (!scenario) {
    out('usage: npm run scenario -- <name>\nscenarios:');
    for (const s of SCENARIOS) out(`  ${String(s.number).padStart(2)}. ${s.name}`);
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
    pm2: (action, proc) => runPm2(topology, action, proc),
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
