/**
 * `npm run robustness -- --minutes N [--seed S] [--report file] [--fresh [--profile demo|k8s]] [--keep]`:
 * the long robustness run (test/robustness): continuous load and random faults for N minutes,
 * then the checks (acknowledged writes kept, deletes stay deleted, workloads converged, no pod
 * bound to or running on two nodes, no StatefulSet ordinal twice at once, informer caches equal
 * etcd). By default against the running cluster of KUBEMU_STATE_DIR (default .kubemu), in the
 * namespace robustness; --fresh starts a cluster of its own in a temporary folder (as the e2e
 * tests do) and removes it afterwards. Exit 0: every check passed; 1: a check failed (the report
 * path is printed); 2: bad usage or no cluster.
 */
import { buildTopology, settingsFromEnv } from '../services/lib/topology';
import { runCli } from './lib/cli';
import { pm2Pids } from './scenarios/lib';
import { E2ECluster, expectSucceeded, prepareCluster } from '../test/harness/cluster';
import { LONG, resumeAllFrozen, runRobustness } from '../test/robustness/lib/run';
import { randomSeed } from '../test/robustness/lib/rng';

const USAGE = 'usage: npm run robustness -- --minutes N [--seed S] [--report file] [--fresh [--profile demo|k8s]] [--keep]';

class UsageError extends Error {
  readonly exitCode = 2;
}

interface Args {
  minutes: number;
  seed: number;
  report?: string;
  fresh: boolean;
  profile: string;
  keep: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { minutes: 5, seed: randomSeed(), fresh: false, profile: 'demo', keep: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case '--minutes': {
        args.minutes = Number(value());
        if (!Number.isFinite(args.minutes) || args.minutes <= 0) throw new UsageError(`--minutes must be a positive number\n${USAGE}`);
        break;
      }
      case '--seed': {
        args.seed = Number(value());
        if (!Number.isInteger(args.seed) || args.seed < 0) throw new UsageError(`--seed must be a non-negative integer\n${USAGE}`);
        break;
      }
      case '--report':
        args.report = value();
        break;
      case '--fresh':
        args.fresh = true;
        break;
      case '--profile':
        args.profile = value();
        break;
      case '--keep':
        args.keep = true;
        break;
      default:
        throw new UsageError(`unknown argument ${argv[i]}\n${USAGE}`);
    }
  }
  return args;
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const out = (line: string) => process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
  let cluster: E2ECluster | undefined;
  const onSignal = () => {
    resumeAllFrozen();
    process.stdout.write('interrupted: every frozen process resumed\n');
    void (cluster?.destroy() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let env = process.env;
    if (args.fresh) {
      out(`starting a fresh ${args.profile} cluster`);
      cluster = await prepareCluster(args.profile);
      expectSucceeded(await cluster.run(['start']));
      await cluster.status();
      env = cluster.env;
      out(`cluster up in ${cluster.stateDir} (port base ${cluster.portBase})`);
    }
    const topology = buildTopology(settingsFromEnv(env));
    try {
      await pm2Pids(topology);
    } catch (err) {
      throw new UsageError(`robustness: no running cluster in ${topology.settings.stateDir} (${(err as Error).message}); start one with 'npm start' or use --fresh`);
    }
    const result = await runRobustness({
      topology,
      seed: args.seed,
      durationMs: args.minutes * 60_000,
      intensity: LONG,
      settleMs: 180_000,
      namespace: 'robustness',
      reportFile: args.report,
      cleanup: !args.keep,
      out,
    });
    if (cluster) await cluster.status(); // pids of restarted processes, for the teardown
    out(result.ok ? `PASS (seed ${args.seed})` : `FAIL (seed ${args.seed}): ${result.checks.filter((c) => !c.ok).map((c) => c.name).join('; ') || 'processes not back'}; report ${result.reportPath}`);
    return result.ok ? 0 : 1;
  } finally {
    await cluster?.destroy();
  }
}

runCli('robustness', main, (err): err is UsageError => err instanceof UsageError);
