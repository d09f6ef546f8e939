/**
 * robustness (issue 7, the short version of `npm run robustness`): a demo cluster started as a
 * person starts it, 50 s of continuous load (ConfigMap creates/updates/deletes, Deployment
 * rollouts and scaling, a StatefulSet scaled) while random processes are SIGKILLed or frozen,
 * then every check of test/robustness/lib/checks.ts. On failure the test prints the summary and
 * the path of the report (history, violated checks, fault timeline and seed).
 * KUBEMU_ROBUSTNESS_SEED replays a seed's choices of faults and operations.
 */
import { buildTopology, settingsFromEnv } from '../../services/lib/topology';
import { startedClusterSuite } from '../harness/cluster';
import { resumeAllFrozen, runRobustness, SHORT } from './lib/run';

const SEED = Number(process.env.KUBEMU_ROBUSTNESS_SEED ?? 20261123);

// Frozen processes are resumed before the cluster is destroyed (a stopped process ignores SIGTERM).
const started = startedClusterSuite(resumeAllFrozen);

test('robustness - under random kills and freezes no acknowledged write is lost, workloads converge, no pod runs twice, informers equal etcd', async () => {
  const cluster = started();
  const lines: string[] = [];
  const result = await runRobustness({
    topology: buildTopology(settingsFromEnv(cluster.env)),
    seed: SEED,
    durationMs: 50_000,
    intensity: SHORT,
    settleMs: 45_000,
    namespace: 'robustness',
    cleanup: false,
    out: (line) => lines.push(line),
  });
  await cluster.status(); // the restarted processes' pids, for cleanup
  process.stdout.write(`robustness (seed ${SEED}):\n${result.summary.join('\n')}\n`);
  if (!result.ok) {
    throw new Error(`robustness failed with seed ${SEED}; report: ${result.reportPath}\n${result.summary.join('\n')}\n\nrun log:\n${lines.join('\n')}`);
  }
  expect(result.faults.length).toBeGreaterThan(5);
}, 200000);
