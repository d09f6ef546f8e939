/**
 * The logic behind `npm run chaos -- <action> <target> [--seconds N]`: resolve a target (a process
 * name, a component, a role such as scheduler-leader, or random) to one pm2 process of the cluster,
 * then kill, terminate, freeze, stop, start or restart it, printing one timestamped line per step.
 * Everything that touches the world (pm2, signals, the apiserver, etcd, the clock) comes in through
 * ChaosDeps, so parsing and resolution are testable without processes.
 */

export const ACTIONS = ['kill', 'terminate', 'freeze', 'stop', 'start', 'restart'] as const;
export type ChaosAction = (typeof ACTIONS)[number];

export const ROLES = ['scheduler-leader', 'controller-manager-leader', 'etcd-leader', 'publisher', 'random'] as const;
export type ChaosRole = (typeof ROLES)[number];

/** The leases whose holder is a role's process (holderIdentity `<process name>` or `<process name>_<uuid>`). */
export const ROLE_LEASES: Record<'scheduler-leader' | 'controller-manager-leader' | 'publisher', { namespace: string; name: string }> = {
  'scheduler-leader': { namespace: 'kube-system', name: 'kube-scheduler' },
  'controller-manager-leader': { namespace: 'kube-system', name: 'kube-controller-manager' },
  publisher: { namespace: 'kube-system', name: 'kube-apiserver-watch-publisher' },
};

/** How long a killed, terminated, started or restarted process may take to be back online. */
export const RESTART_WAIT_MS = 30_000;

export const USAGE = [
  'usage: npm run chaos -- <action> <target> [--seconds N]',
  `  actions: ${ACTIONS.join(', ')} (freeze needs --seconds N)`,
  `  targets: a process name (etcd-1, kube-scheduler-0, kubelet-node-2, ...), a component name (one random instance), ${ROLES.join(', ')}`,
].join('\n');

/** A failure to report as is; exitCode 2 for usage errors (unknown action or target), 1 otherwise. */
export class ChaosError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
    this.name = 'ChaosError';
  }
}

export interface ChaosArgs {
  action: ChaosAction;
  target: string;
  /** freeze only: how long the process stays stopped. */
  seconds?: number;
}

/** Parses `<action> <target> [--seconds N]` (also `--seconds=N`); throws ChaosError(exitCode 2). */
export function parseChaosArgs(argv: string[]): ChaosArgs {
  const positional: string[] = [];
  let seconds: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    let value: string | undefined;
    if (arg === '--seconds' || arg === '-s') {
      value = argv[++i];
      if (value === undefined) throw new ChaosError(`--seconds needs a value\n${USAGE}`, 2);
    } else if (arg.startsWith('--seconds=')) {
      value = arg.slice('--seconds='.length);
    } else if (arg === '--help' || arg === '-h') {
      throw new ChaosError(USAGE, 2);
    } else if (arg.startsWith('-')) {
      throw new ChaosError(`unknown option ${arg}\n${USAGE}`, 2);
    } else {
      positional.push(arg);
      continue;
    }
    seconds = Number(value);
    if (!Number.isFinite(seconds) || seconds <= 0) throw new ChaosError(`--seconds must be a positive number, not ${value}`, 2);
  }
  const [action, target, ...extra] = positional;
  if (action === undefined) throw new ChaosError(USAGE, 2);
  if (!(ACTIONS as readonly string[]).includes(action)) throw new ChaosError(`unknown action ${action}; valid actions: ${ACTIONS.join(', ')}`, 2);
  if (target === undefined) throw new ChaosError(`${action} needs a target\n${USAGE}`, 2);
  if (extra.length > 0) throw new ChaosError(`unexpected arguments: ${extra.join(' ')}\n${USAGE}`, 2);
  if (action === 'freeze' && seconds === undefined) throw new ChaosError('freeze needs --seconds N (how long the process stays stopped)', 2);
  if (action !== 'freeze' && seconds !== undefined) throw new ChaosError(`--seconds applies to freeze only, not ${action}`, 2);
  return { action: action as ChaosAction, target, seconds };
}

/** One process of the topology as chaos needs it. */
export interface ChaosProcess {
  name: string;
  component: string;
}

/** One process as pm2 reports it. */
export interface ChaosPm2Process {
  name: string;
  pid: number;
  status: string;
  restarts: number;
}

/** What target resolution asks the cluster. */
export interface ResolveInputs {
  processes: ChaosProcess[];
  /** Called once per resolution that needs it. */
  pm2List(): Promise<ChaosPm2Process[]>;
  /** The holderIdentity of a lease, undefined when there is no lease or no holder. */
  leaseHolder(namespace: string, name: string): Promise<string | undefined>;
  /** The process name of the etcd leader, undefined when no member knows one. */
  etcdLeader(): Promise<string | undefined>;
  /** In [0, 1). */
  random(): number;
}

export interface Resolved {
  name: string;
  /** How it was chosen, for the log line. */
  how: string;
}

/** The process name in a lease holderIdentity: `kube-scheduler-1_<uuid>` → kube-scheduler-1. */
export function processOfHolder(holder: string): string {
  const i = holder.indexOf('_');
  return i < 0 ? holder : holder.slice(0, i);
}

function isOnline(p: ChaosPm2Process | undefined): boolean {
  return p !== undefined && p.status === 'online' && p.pid > 0;
}

function pick<T>(items: T[], random: () => number): T {
  return items[Math.min(items.length - 1, Math.floor(random() * items.length))];
}

function validTargets(processes: ChaosProcess[]): string {
  const components = [...new Set(processes.map((p) => p.component))];
  return [
    `  roles: ${ROLES.join(', ')}`,
    `  components: ${components.join(', ')}`,
    `  processes: ${processes.map((p) => p.name).join(', ')}`,
  ].join('\n');
}

/**
 * Resolves a target to one process of the topology. Throws ChaosError: exitCode 2 for a target
 * that names nothing (with the valid ones listed), 1 when a role has no holder right now or no
 * instance is online.
 */
export async function resolveTarget(target: string, inputs: ResolveInputs): Promise<Resolved> {
  const { processes } = inputs;
  const known = (name: string): boolean => processes.some((p) => p.name === name);

  if (known(target)) return { name: target, how: 'process' };

  if (target === 'scheduler-leader' || target === 'controller-manager-leader' || target === 'publisher') {
    const lease = ROLE_LEASES[target];
    const holder = await inputs.leaseHolder(lease.namespace, lease.name);
    if (!holder) throw new ChaosError(`${target}: Lease ${lease.namespace}/${lease.name} has no holder`);
    const name = processOfHolder(holder);
    if (!known(name)) throw new ChaosError(`${target}: Lease ${lease.namespace}/${lease.name} is held by ${holder}, which is no process of this cluster`);
    return { name, how: `${target}: holder of Lease ${lease.namespace}/${lease.name} is ${holder}` };
  }

  if (target === 'etcd-leader') {
    const name = await inputs.etcdLeader();
    if (!name) throw new ChaosError('etcd-leader: no etcd member reports a leader');
    return { name, how: 'etcd-leader: the member etcd reports as leader' };
  }

  if (target === 'random') {
    const pm2 = new Map((await inputs.pm2List()).map((p) => [p.name, p]));
    // Never take a second etcd member or NATS server down: that would cost the quorum.
    const degraded = new Set(['etcd', 'nats'].filter((c) => processes.some((p) => p.component === c && !isOnline(pm2.get(p.name)))));
    const candidates = processes.filter((p) => isOnline(pm2.get(p.name)) && !degraded.has(p.component));
    if (candidates.length === 0) throw new ChaosError('random: no process is online');
    const chosen = pick(candidates, inputs.random);
    const note = degraded.size > 0 ? ` (skipping ${[...degraded].join(' and ')}: one is already down)` : '';
    return { name: chosen.name, how: `random: one of ${candidates.length} online processes${note}` };
  }

  const instances = processes.filter((p) => p.component === target);
  if (instances.length > 0) {
    const pm2 = new Map((await inputs.pm2List()).map((p) => [p.name, p]));
    const online = instances.filter((p) => isOnline(pm2.get(p.name)));
    if (online.length === 0) throw new ChaosError(`${target}: no instance is online (${instances.map((p) => p.name).join(', ')})`);
    const chosen = pick(online, inputs.random);
    return { name: chosen.name, how: `component ${target}: one of ${online.length} online instances` };
  }

  throw new ChaosError(`unknown target ${target}; valid targets:\n${validTargets(processes)}`, 2);
}

/** What running an action needs besides resolution. */
export interface ChaosDeps extends ResolveInputs {
  out(line: string): void;
  now(): Date;
  sleep(ms: number): Promise<void>;
  signal(pid: number, signal: NodeJS.Signals): void;
  pm2Stop(name: string): Promise<void>;
  /** Starts a stopped app, or restarts a running one. */
  pm2Start(name: string): Promise<void>;
  /** How long to wait for a process to be back (default RESTART_WAIT_MS). */
  restartWaitMs?: number;
  /** How often to ask pm2 while waiting (default 200 ms). */
  pollMs?: number;
}

/** Runs one chaos action; resolves to the exit code (0 done, 1 the process did not come back). */
export async function runChaos(args: ChaosArgs, deps: ChaosDeps): Promise<number> {
  const say = (line: string) => deps.out(`${deps.now().toISOString()} ${line}`);
  const resolved = await resolveTarget(args.target, deps);
  say(`resolved ${args.target} -> ${resolved.name} (${resolved.how})`);

  const before = (await deps.pm2List()).find((p) => p.name === resolved.name);
  if (!before) throw new ChaosError(`${resolved.name} is not known to pm2: is the cluster started (npm start)?`);
  const pidOf = () => (isOnline(before) ? `pid ${before.pid}` : `not running (${before.status})`);

  switch (args.action) {
    case 'kill':
    case 'terminate': {
      const sig: NodeJS.Signals = args.action === 'kill' ? 'SIGKILL' : 'SIGTERM';
      if (!isOnline(before)) throw new ChaosError(`${resolved.name} is ${before.status}, nothing to ${args.action}`);
      deps.signal(before.pid, sig);
      say(`sent ${sig} to ${resolved.name} pid ${before.pid}`);
      return waitBack(resolved.name, before, deps, say);
    }
    case 'freeze': {
      if (!isOnline(before)) throw new ChaosError(`${resolved.name} is ${before.status}, nothing to freeze`);
      const seconds = args.seconds ?? 0;
      deps.signal(before.pid, 'SIGSTOP');
      say(`sent SIGSTOP to ${resolved.name} pid ${before.pid}: frozen for ${seconds} s (hung, or partitioned as its peers see it)`);
      await deps.sleep(seconds * 1000);
      deps.signal(before.pid, 'SIGCONT');
      say(`sent SIGCONT to ${resolved.name} pid ${before.pid}: resumed after ${seconds} s`);
      return 0;
    }
    case 'stop': {
      say(`pm2 stop ${resolved.name} (${pidOf()}); it stays down until: npm run chaos -- start ${resolved.name}`);
      await deps.pm2Stop(resolved.name);
      const after = (await deps.pm2List()).find((p) => p.name === resolved.name);
      say(`${resolved.name} is ${after?.status ?? 'gone'}`);
      return 0;
    }
    case 'start':
    case 'restart': {
      if (args.action === 'start' && isOnline(before)) {
        say(`${resolved.name} is already online with pid ${before.pid}; nothing to start`);
        return 0;
      }
      say(`pm2 ${args.action} ${resolved.name} (${pidOf()})`);
      await deps.pm2Start(resolved.name);
      return waitBack(resolved.name, before, deps, say);
    }
  }
}

/** Polls pm2 until the process is online with another pid than before; 0 when it is, 1 after the wait. */
async function waitBack(name: string, before: ChaosPm2Process, deps: ChaosDeps, say: (line: string) => void): Promise<number> {
  const waitMs = deps.restartWaitMs ?? RESTART_WAIT_MS;
  const pollMs = deps.pollMs ?? 200;
  const start = deps.now().getTime();
  for (;;) {
    const now = (await deps.pm2List()).find((p) => p.name === name);
    if (now && isOnline(now) && now.pid !== before.pid) {
      const seconds = ((deps.now().getTime() - start) / 1000).toFixed(1);
      say(`${name} is back: pid ${now.pid}, restarts ${now.restarts}, after ${seconds} s`);
      return 0;
    }
    if (deps.now().getTime() - start >= waitMs) {
      say(`${name} is not back after ${waitMs / 1000} s (pm2: ${now ? `${now.status}, pid ${now.pid}` : 'unknown'})`);
      return 1;
    }
    await deps.sleep(pollMs);
  }
}
