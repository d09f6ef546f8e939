/**
 * The cluster commands behind `npm start`, `npm stop`, `npm run status`, `npm run reset` and
 * `cluster.js logs`: pm2 (from node_modules, PM2_HOME in the state folder) runs the processes
 * of services/lib/topology.ts as declared in deploy/ecosystem.config.js.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  ProcessSpec,
  Topology,
  buildTopology,
  logFiles,
  settingsFromEnv,
  SETTINGS_FILE,
} from '../../services/lib/topology';
import { ProbeResult, etcdLeader, frozenStreamCopies, probe, waitUntilHealthy } from './probe';
import { WATCH_STREAM } from '../../services/lib/watchbus';
import { Pm2App, Pm2Client, Pm2Process, daemonPid } from './pm2';
import { takenPorts } from './ports';
import { Orphan, findOrphans, stopOrphans } from './orphans';
import { formatDuration, formatTable } from './table';
import { writeKubeconfig } from './kubeconfig';

/** A failure to report to the user as is (no stack trace); `exitCode` for the process. */
export class CommandError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CommandError';
  }
}

/** Settings come from process.env (deploy/ecosystem.config.js reads the same variables). */
export interface CommandContext {
  out(line: string): void;
}

const DEFAULT_START_TIMEOUT_SECONDS = 120;
const LOG_TAIL_LINES = 25;

function loadTopology(): Topology {
  try {
    return buildTopology(settingsFromEnv(process.env));
  } catch (err) {
    throw new CommandError((err as Error).message, 2);
  }
}

function pm2Home(topology: Topology): string {
  return path.join(topology.settings.stateDir, 'pm2');
}

function tiers(topology: Topology): number[] {
  return [...new Set(topology.processes.map((p) => p.tier))].sort((a, b) => a - b);
}

function names(specs: ProcessSpec[]): string {
  return specs.map((p) => p.name).join(', ');
}

/** Everything start needs that setup.sh should have provided; throws CommandError naming what is missing. */
function preflight(topology: Topology): void {
  const problems: string[] = [];
  for (const p of topology.processes) {
    if (!path.isAbsolute(p.command)) {
      const variable = p.component === 'etcd' ? 'ETCD_BIN' : 'NATS_SERVER_BIN';
      const found = process.env[variable] ? `${variable}=${process.env[variable]} is not an executable file` : 'not found';
      problems.push(`${p.command}: ${found} (install the Debian package ${p.component === 'etcd' ? 'etcd-server' : 'nats-server'}, or set ${variable})`);
    } else if (!fs.existsSync(p.command)) {
      problems.push(`${p.name}: ${path.relative(topology.repoRoot, p.command)} does not exist (run 'bash scripts/setup.sh' to build)`);
    }
  }
  if (problems.length > 0) throw new CommandError('kubemu cannot start:\n  ' + [...new Set(problems)].join('\n  '));
}

/** The pm2 apps of deploy/ecosystem.config.js (loading it also prepares the state folder). */
function ecosystemApps(topology: Topology): Map<string, Pm2App> {
  const file = path.join(topology.repoRoot, 'deploy', 'ecosystem.config.js');
  delete require.cache[require.resolve(file)];
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const config = require(file) as { apps: Pm2App[] };
  return new Map(config.apps.map((a) => [a.name, a]));
}

/** The last `lines` lines of a file ('' when it does not exist). */
export function tailFile(file: string, lines: number): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, 256 * 1024);
    const buf = Buffer.alloc(length);
    fs.readSync(fd, buf, 0, length, size - length);
    const all = buf.toString('utf8').split('\n');
    if (all[all.length - 1] === '') all.pop();
    return all.slice(-lines).join('\n');
  } finally {
    fs.closeSync(fd);
  }
}

function printLogTails(ctx: CommandContext, topology: Topology, name: string, lines: number): void {
  const files = logFiles(topology, name);
  for (const file of [files.err, files.out]) {
    const text = tailFile(file, lines);
    if (text === '') continue;
    ctx.out(`---- ${name}: last lines of ${file}`);
    ctx.out(text);
  }
}

interface Row {
  spec: ProcessSpec;
  proc?: Pm2Process;
  health?: ProbeResult;
}

function statusRows(rows: Row[]): string {
  const table: string[][] = [['COMPONENT', 'PID', 'ADDRESS', 'PM2', 'UPTIME', 'RESTARTS', 'HEALTH']];
  for (const { spec, proc, health } of rows) {
    table.push([
      spec.name,
      (proc?.status === 'online' || proc?.status === 'orphaned') && proc.pid > 0 ? String(proc.pid) : '-',
      spec.address,
      proc?.status ?? 'not running',
      proc?.uptimeMs !== undefined ? formatDuration(proc.uptimeMs) : '-',
      proc ? String(proc.restarts) : '-',
      health ? (health.healthy ? health.detail : `UNHEALTHY: ${health.detail}`) : '-',
    ]);
  }
  return formatTable(table);
}

async function collectRows(topology: Topology, client: Pm2Client | undefined, orphans: Orphan[] = []): Promise<Row[]> {
  const procs = client ? new Map((await client.list()).map((p) => [p.name, p])) : new Map<string, Pm2Process>();
  for (const o of orphans) procs.set(o.name, { name: o.name, pid: o.pid, status: 'orphaned', restarts: 0 });
  const rows: Row[] = await Promise.all(
    topology.processes.map(async (spec) => ({ spec, proc: procs.get(spec.name), health: await probe(spec.health) })),
  );
  // A NATS server can be healthy by its own account while its copy of the watch stream no longer
  // follows: watches route around it, but it should be seen (and it must not become the leader).
  const natsServers = rows.flatMap((r) => (r.spec.health.kind === 'nats' && r.health?.healthy ? [{ name: r.spec.name, monitorUrl: r.spec.health.monitorUrl }] : []));
  if (natsServers.length > 1) {
    const frozen = await frozenStreamCopies(natsServers, WATCH_STREAM);
    for (const r of rows) {
      const why = frozen.get(r.spec.name);
      if (why) r.health = { healthy: false, detail: why };
    }
  }
  return rows;
}

function nextSteps(ctx: CommandContext, topology: Topology, rows: Row[]): void {
  const { stateDir } = topology.settings;
  // Commands need KUBEMU_STATE_DIR again when it is not the default (the folder pins the rest).
  const prefix = stateDir === path.join(topology.repoRoot, '.kubemu') ? '' : `KUBEMU_STATE_DIR=${stateDir} `;
  const relative = path.relative(process.cwd(), pm2Home(topology));
  const home = relative && !relative.startsWith('..') ? relative : pm2Home(topology);
  const example = rows.find((r) => r.spec.component === 'kube-apiserver' && r.proc) ?? rows.find((r) => r.spec.component === 'etcd' && r.proc);
  const steps: string[][] = [
    [`${prefix}npm run status`, 'every component, its pid, restarts and health'],
    [`${prefix}npm run api -- get namespaces`, 'the API through gRPC (get/create/patch/delete/watch: see README)'],
  ];
  if (example?.proc) steps.push([`kill -9 ${example.proc.pid}`, `kill ${example.spec.name}: pm2 restarts it; watch npm run status`]);
  steps.push(
    [`PM2_HOME=${home} npx pm2 list`, "pm2's own view (also pm2 stop|start|restart <name>)"],
    [`${prefix}node dist/scripts/cluster.js logs <name>`, "the tail of a component's logs"],
    [`${prefix}npm stop`, `stop everything; the data stays in ${stateDir}`],
    [`${prefix}npm run reset`, 'stop and delete the state folder'],
  );
  ctx.out('');
  ctx.out('What to try next:');
  ctx.out(formatTable(steps.map(([cmd, what]) => [`  ${cmd}`, what])));
}

/** Stops processes of this cluster left running by a pm2 daemon that died; resolves whether there were any. */
async function stopOrphansOf(ctx: CommandContext, topology: Topology): Promise<boolean> {
  const orphans = findOrphans(pm2Home(topology), topology.processes);
  if (orphans.length === 0) return false;
  ctx.out(`kubemu: the pm2 daemon is gone but ${orphans.map((o) => o.name).join(', ')} still run; stopping them`);
  await stopOrphans(orphans, topology.processes);
  return true;
}

/** Throws CommandError naming the ports of `specs` that another program listens on. */
async function checkPortsFree(specs: ProcessSpec[]): Promise<void> {
  const owners = new Map<number, string>();
  for (const p of specs) for (const [portName, port] of Object.entries(p.ports)) owners.set(port, `${p.name} ${portName}`);
  const taken = await takenPorts([...owners.keys()]);
  if (taken.length === 0) return;
  throw new CommandError(
    `kubemu: ports already in use by another program: ${taken.map((p) => `${p} (${owners.get(p)})`).join(', ')}.\n` +
      `Is another kubemu cluster running? Stop it, or use another port base (KUBEMU_PORT_BASE) with another state folder (KUBEMU_STATE_DIR).`,
  );
}

/**
 * `start`: starts what is not running, tier by tier, waiting for each tier to be healthy.
 * Resolves the exit code: 0 when every process is healthy within the timeout.
 */
export async function startCluster(ctx: CommandContext): Promise<number> {
  const started = Date.now();
  const topology = loadTopology();
  preflight(topology);
  const timeoutSeconds = Number(process.env.KUBEMU_START_TIMEOUT_SECONDS || DEFAULT_START_TIMEOUT_SECONDS);
  const deadline = started + timeoutSeconds * 1000;
  const { stateDir, portBase, profile } = topology.settings;
  ctx.out(`kubemu: starting profile ${profile} in ${stateDir} (port base ${portBase})`);

  const home = pm2Home(topology);
  if ((await daemonPid(home)) === undefined) {
    await stopOrphansOf(ctx, topology);
    // With no daemon, nothing of ours runs: every port must be free before anything starts.
    await checkPortsFree(topology.processes);
  }
  const client = new Pm2Client(home);
  await client.connect(true);
  try {
    const known = new Map((await client.list()).map((p) => [p.name, p]));
    const toStart = topology.processes.filter((p) => known.get(p.name)?.status !== 'online');
    // Processes the daemon is not running must find their ports free, or they would crash-loop.
    await checkPortsFree(toStart.filter((p) => ['stopped', 'errored', undefined].includes(known.get(p.name)?.status)));
    const apps = ecosystemApps(topology);

    for (const tier of tiers(topology)) {
      const inTier = topology.processes.filter((p) => p.tier === tier);
      const launch = inTier.filter((p) => toStart.includes(p));
      const tierStart = Date.now();
      if (launch.length > 0) {
        ctx.out(`kubemu: starting ${names(launch)}`);
        await client.start(launch.map((p) => apps.get(p.name)).filter((a): a is Pm2App => a !== undefined));
      }
      const wait = await waitUntilHealthy(inTier, Math.max(0, deadline - Date.now()), {
        onProgress: (pending) =>
          ctx.out(`kubemu:   waiting for ${pending.map((p) => `${p.name} (${p.detail.slice(0, 100)})`).join(', ')}`),
      });
      if (!wait.healthy) {
        const failing = inTier.filter((p) => !wait.results.get(p.name)?.healthy);
        ctx.out(`kubemu: not healthy after ${timeoutSeconds}s: ${failing.map((p) => `${p.name} (${wait.results.get(p.name)?.detail})`).join(', ')}`);
        for (const p of failing) printLogTails(ctx, topology, p.name, LOG_TAIL_LINES);
        ctx.out('');
        ctx.out(statusRows(await collectRows(topology, client)));
        ctx.out(`\nThe processes were left running for inspection: npm run status, npm stop.`);
        return 1;
      }
      ctx.out(`kubemu: ${names(inTier)} healthy after ${formatDuration(Date.now() - tierStart)}`);
    }

    // A later tier can make an earlier one briefly unhealthy (nats-server reports 503 while a
    // new replicated stream of the apiservers catches up): settle before the final table.
    await waitUntilHealthy(topology.processes, Math.max(0, deadline - Date.now()));
    const rows = await collectRows(topology, client);
    ctx.out('');
    ctx.out(statusRows(rows));
    ctx.out('');
    const already = toStart.length === 0 ? 'was already running' : `is up (${formatDuration(Date.now() - started)})`;
    ctx.out(`kubemu ${already}: ${topology.processes.length} processes, state in ${stateDir}`);
    ctx.out(`export KUBECONFIG=${writeKubeconfig(topology)}`);
    nextSteps(ctx, topology, rows);
    return 0;
  } finally {
    await client.disconnect();
  }
}

/** `stop`: stops every process, highest tier first, then the pm2 daemon. Data is kept. */
export async function stopCluster(ctx: CommandContext): Promise<number> {
  const topology = loadTopology();
  const home = pm2Home(topology);
  if ((await daemonPid(home)) === undefined) {
    if (!(await stopOrphansOf(ctx, topology))) ctx.out(`kubemu is not running (state in ${topology.settings.stateDir})`);
    return 0;
  }
  const started = Date.now();
  const client = new Pm2Client(home);
  await client.connect(false);
  try {
    const online = new Set((await client.list()).filter((p) => p.status !== 'stopped').map((p) => p.name));
    for (const tier of tiers(topology).reverse()) {
      const stopping = topology.processes.filter((p) => p.tier === tier && online.has(p.name));
      if (stopping.length === 0) continue;
      ctx.out(`kubemu: stopping ${names(stopping)}`);
      // An etcd leader stopped together with its followers waits seven seconds for a leadership
      // transfer that cannot happen; stopped last, it exits at once.
      const etcd = stopping.filter((p) => p.component === 'etcd');
      const leader = await etcdLeader(etcd.map((p) => ({ name: p.name, address: p.address })));
      await client.stop(stopping.filter((p) => p.name !== leader).map((p) => p.name));
      if (leader) await client.stop([leader]);
    }
    await client.killDaemon();
  } finally {
    await client.disconnect();
  }
  // Processes of an earlier daemon that was killed, if any.
  await stopOrphansOf(ctx, topology);
  ctx.out(`kubemu: stopped in ${formatDuration(Date.now() - started)}; data kept in ${topology.settings.stateDir} ('npm start' resumes, 'npm run reset' wipes)`);
  return 0;
}

interface StatusJson {
  stateDir: string;
  portBase: number;
  profile: string;
  pm2DaemonPid: number | null;
  healthy: boolean;
  processes: Array<{
    name: string;
    component: string;
    address: string;
    ports: Record<string, number>;
    pid: number | null;
    pm2Status: string;
    uptimeMs: number | null;
    restarts: number | null;
    healthy: boolean;
    health: string;
  }>;
}

/** `status [--json]`: every process, its pm2 state and health. Exit code 0 only when all are healthy. */
export async function clusterStatus(ctx: CommandContext, json: boolean): Promise<number> {
  const topology = loadTopology();
  const home = pm2Home(topology);
  const pid = await daemonPid(home);
  let rows: Row[];
  let orphans: Orphan[] = [];
  if (pid === undefined) {
    orphans = findOrphans(home, topology.processes);
    rows = await collectRows(topology, undefined, orphans);
  } else {
    const client = new Pm2Client(home);
    await client.connect(false);
    try {
      rows = await collectRows(topology, client);
    } finally {
      await client.disconnect();
    }
  }
  const healthy = pid !== undefined && rows.every((r) => r.proc?.status === 'online' && r.health?.healthy);
  if (json) {
    const report: StatusJson = {
      ...topology.settings,
      pm2DaemonPid: pid ?? null,
      healthy,
      processes: rows.map(({ spec, proc, health }) => ({
        name: spec.name,
        component: spec.component,
        address: spec.address,
        ports: spec.ports,
        pid: (proc?.status === 'online' || proc?.status === 'orphaned') && proc.pid > 0 ? proc.pid : null,
        pm2Status: proc?.status ?? 'not running',
        uptimeMs: proc?.uptimeMs ?? null,
        restarts: proc?.restarts ?? null,
        healthy: health?.healthy ?? false,
        health: health?.detail ?? '',
      })),
    };
    ctx.out(JSON.stringify(report, null, 2));
    return healthy ? 0 : 1;
  }
  const { stateDir, portBase, profile } = topology.settings;
  ctx.out(`kubemu: profile ${profile}, state ${stateDir}, port base ${portBase}, pm2 daemon ${pid ?? 'not running'}`);
  ctx.out('');
  ctx.out(statusRows(rows));
  ctx.out('');
  const bad = rows.filter((r) => !(r.proc?.status === 'online' && r.health?.healthy)).map((r) => r.spec.name);
  ctx.out(healthy ? 'all healthy' : `not healthy: ${bad.join(', ')}${pid === undefined && orphans.length === 0 ? " (not running: 'npm start')" : ''}`);
  if (orphans.length > 0) {
    ctx.out(`the pm2 daemon is gone but ${orphans.length} of its processes still run: 'npm start' replaces them, 'npm stop' stops them`);
  }
  return healthy ? 0 : 1;
}

/** Whether `dir` is safe to delete as a kubemu state folder: ours, or empty. */
function looksLikeStateDir(dir: string): boolean {
  const entries = fs.readdirSync(dir);
  if (entries.length === 0) return true;
  const ours = new Set([SETTINGS_FILE, 'pm2', 'etcd', 'nats', 'logs']);
  return entries.includes(SETTINGS_FILE) || entries.every((e) => ours.has(e));
}

/** `reset`: stop, then delete the state folder. */
export async function resetCluster(ctx: CommandContext): Promise<number> {
  const topology = loadTopology();
  const { stateDir } = topology.settings;
  await stopCluster(ctx);
  if (!fs.existsSync(stateDir)) {
    ctx.out(`kubemu: nothing to delete (${stateDir} does not exist)`);
    return 0;
  }
  if (!looksLikeStateDir(stateDir)) {
    throw new CommandError(`kubemu: refusing to delete ${stateDir}: it does not look like a kubemu state folder (no ${SETTINGS_FILE})`);
  }
  fs.rmSync(stateDir, { recursive: true, force: true, maxRetries: 5 });
  ctx.out(`kubemu: deleted ${stateDir}`);
  return 0;
}

/** `logs [component] [lines]`: the tail of a component's logs, or the list of components. */
export async function showLogs(ctx: CommandContext, name: string | undefined, lines: number): Promise<number> {
  const topology = loadTopology();
  const known = topology.processes.map((p) => p.name);
  if (!name || !known.includes(name)) {
    if (name) ctx.out(`kubemu: no component ${name}`);
    ctx.out(`usage: cluster.js logs <component> [lines]; components: ${known.join(', ')}`);
    ctx.out(`log files are in ${topology.logDir}`);
    return name ? 2 : 0;
  }
  const files = logFiles(topology, name);
  for (const file of [files.out, files.err]) {
    ctx.out(`==> ${file} <==`);
    ctx.out(tailFile(file, lines) || '(empty)');
  }
  return 0;
}
