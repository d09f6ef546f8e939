/**
 * The fault injector of a robustness run: every few seconds it picks, with the run's seeded
 * random generator, one process of the cluster and either SIGKILLs it (pm2 brings it back, as
 * systemd would) or freezes it with SIGSTOP for some seconds (a hung process, or a partition as
 * its peers see it) and resumes it with SIGCONT. It never takes more than the cluster can lose:
 * at most one process of each component faulted at a time (so one etcd member of three, one NATS
 * server of three, one apiserver of two, ...), never a component with an instance not back yet,
 * and at most `maxConcurrent` faults at once. Every fault is recorded with its times.
 */
import { ChaosPm2Process, resolveTarget } from '../../../scripts/lib/chaos';
import { Rng } from './rng';

/** The components faults are injected into (addons are left alone: they prove nothing here). */
export const FAULT_COMPONENTS = ['etcd', 'nats', 'kube-apiserver', 'kube-scheduler', 'kube-controller-manager', 'kubelet', 'container-runtime', 'kube-proxy'] as const;

/** Role targets, resolved through leases and etcd's status as `npm run chaos` resolves them. */
const ROLE_TARGETS = ['scheduler-leader', 'controller-manager-leader', 'publisher', 'etcd-leader'] as const;

/** One injected fault. Times are epoch milliseconds. */
export interface FaultRecord {
  id: number;
  action: 'kill' | 'freeze';
  process: string;
  component: string;
  pid: number;
  /** How the target was chosen (random instance, or a role such as scheduler-leader). */
  chosen: string;
  at: number;
  /** freeze: for how long. */
  seconds?: number;
  /** kill: when pm2 had it online again; freeze: when it was resumed. */
  endedAt?: number;
  /** kill: the new pid. */
  newPid?: number;
  /** What went wrong with the fault itself (process not back, signal failed). */
  problem?: string;
}

export interface FaultInjectorOptions {
  rng: Rng;
  /** Every process of the cluster. */
  processes: Array<{ name: string; component: string }>;
  pm2List(): Promise<ChaosPm2Process[]>;
  leaseHolder(namespace: string, name: string): Promise<string | undefined>;
  etcdLeader(): Promise<string | undefined>;
  /** Pause between two faults, ms. */
  intervalMs: [number, number];
  /** Freeze length, seconds. */
  freezeSeconds: [number, number];
  /**
   * Chance that a fault is a kubelet frozen for `longFreezeSeconds` (past node grace and pod
   * eviction), relative to the kubelet's share of faults: 1 makes every kubelet fault a long freeze.
   */
  longKubeletFreezeChance?: number;
  longFreezeSeconds?: number;
  /**
   * Where a long kubelet freeze prefers to go: the kubelet process of a node that runs what the
   * run wants to see evicted (a StatefulSet pod), or undefined for any.
   */
  preferLongFreezeKubelet?(): Promise<string | undefined>;
  maxConcurrent: number;
  /** Chance that a fault targets a role (a leader, the publisher) instead of a random instance. */
  roleChance?: number;
  /** How long a killed process may take to be online again. */
  restartWaitMs?: number;
  log(line: string): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function online(p: ChaosPm2Process | undefined): p is ChaosPm2Process {
  return p !== undefined && p.status === 'online' && p.pid > 0;
}

/**
 * Injects faults from start() until stop(). Not reentrant: one injector per run. stop() resumes
 * every frozen process at once and waits for killed ones to be back; resumeAllNow() is the
 * synchronous emergency variant for exit handlers.
 */
export class FaultInjector {
  readonly faults: FaultRecord[] = [];
  private readonly active = new Map<number, { component: string; done: Promise<void> }>();
  /** pid → fault id, for every process currently stopped by us. */
  private readonly frozen = new Map<number, number>();
  private readonly wakeups = new Map<number, () => void>();
  private stopped = false;
  private loop?: Promise<void>;
  private nextId = 1;

  constructor(private readonly opts: FaultInjectorOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops injecting, resumes frozen processes now, waits until killed ones are back. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.wakeups.values()) wake();
    await this.loop;
    await Promise.all([...this.active.values()].map((a) => a.done));
    this.resumeAllNow();
  }

  /** Sends SIGCONT to every process this injector froze; synchronous, never throws. */
  resumeAllNow(): void {
    for (const [pid, id] of this.frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone meanwhile
      }
      const f = this.faults.find((x) => x.id === id);
      if (f && f.endedAt === undefined) f.endedAt = Date.now();
    }
    this.frozen.clear();
  }

  private async run(): Promise<void> {
    const { rng } = this.opts;
    while (!this.stopped) {
      await this.pause(rng.between(this.opts.intervalMs[0], this.opts.intervalMs[1]));
      if (this.stopped) break;
      if (this.active.size >= this.opts.maxConcurrent) continue;
      try {
        await this.injectOne();
      } catch (err) {
        this.opts.log(`faults: could not inject: ${(err as Error).message}`);
      }
    }
  }

  /** Sleeps, but wakes at stop(). */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.wakeups.delete(id);
        resolve();
      }, ms);
      this.wakeups.set(id, () => {
        clearTimeout(timer);
        this.wakeups.delete(id);
        resolve();
      });
    });
  }

  private async injectOne(): Promise<void> {
    const { rng, processes } = this.opts;
    const pm2 = new Map((await this.opts.pm2List()).map((p) => [p.name, p]));
    const busy = new Set([...this.active.values()].map((a) => a.component));
    // A component with an instance not online (a kill not back yet, or anything else) takes no other fault.
    for (const p of processes) if (!online(pm2.get(p.name))) busy.add(p.component);
    const allowed = FAULT_COMPONENTS.filter((c) => !busy.has(c) && processes.some((p) => p.component === c));
    if (allowed.length === 0) return;

    let target: { name: string; chosen: string } | undefined;
    if (rng.chance(this.opts.roleChance ?? 0.3)) {
      const role = rng.pick(ROLE_TARGETS);
      const component = { 'scheduler-leader': 'kube-scheduler', 'controller-manager-leader': 'kube-controller-manager', publisher: 'kube-apiserver', 'etcd-leader': 'etcd' }[role];
      if (allowed.includes(component as (typeof FAULT_COMPONENTS)[number])) {
        try {
          const r = await resolveTarget(role, {
            processes,
            pm2List: async () => [...pm2.values()],
            leaseHolder: this.opts.leaseHolder,
            etcdLeader: this.opts.etcdLeader,
            random: () => rng.next(),
          });
          target = { name: r.name, chosen: role };
        } catch {
          // no holder right now (an election under way): a random instance instead
        }
      }
    }
    // A long kubelet freeze (past node grace and eviction) is decided first, so that it can go to
    // the node whose eviction matters most.
    const long = !target && allowed.includes('kubelet') && this.opts.longFreezeSeconds !== undefined && rng.chance((this.opts.longKubeletFreezeChance ?? 0) / FAULT_COMPONENTS.length);
    if (long) {
      const preferred = await this.opts.preferLongFreezeKubelet?.().catch(() => undefined);
      const candidates = processes.filter((p) => p.component === 'kubelet' && online(pm2.get(p.name)));
      const name = preferred && candidates.some((c) => c.name === preferred) ? preferred : candidates.length ? rng.pick(candidates).name : undefined;
      if (name) target = { name, chosen: preferred === name ? 'long freeze: the kubelet of a StatefulSet pod' : 'long freeze: random kubelet' };
    }
    if (!target) {
      const component = rng.pick(allowed);
      const candidates = processes.filter((p) => p.component === component && online(pm2.get(p.name)));
      if (candidates.length === 0) return;
      target = { name: rng.pick(candidates).name, chosen: `random ${component}` };
    }
    const proc = processes.find((p) => p.name === target!.name)!;
    const now = pm2.get(proc.name);
    if (!online(now) || this.stopped) return;

    const kill = !long && rng.chance(0.5);
    const id = this.nextId++;
    const record: FaultRecord = { id, action: kill ? 'kill' : 'freeze', process: proc.name, component: proc.component, pid: now.pid, chosen: target.chosen, at: Date.now() };
    if (!kill) {
      record.seconds = long ? this.opts.longFreezeSeconds! : Math.round(rng.between(this.opts.freezeSeconds[0], this.opts.freezeSeconds[1]) * 10) / 10;
    }
    try {
      process.kill(now.pid, kill ? 'SIGKILL' : 'SIGSTOP');
    } catch (err) {
      this.opts.log(`faults: ${kill ? 'SIGKILL' : 'SIGSTOP'} ${proc.name} pid ${now.pid} failed: ${(err as Error).message}`);
      return;
    }
    record.at = Date.now();
    this.faults.push(record);
    if (!kill) this.frozen.set(now.pid, id);
    this.opts.log(kill ? `fault ${id}: SIGKILL ${proc.name} pid ${now.pid} (${target.chosen})` : `fault ${id}: SIGSTOP ${proc.name} pid ${now.pid} for ${record.seconds} s (${target.chosen})`);
    const done = (kill ? this.awaitBack(record) : this.thaw(record)).finally(() => this.active.delete(id));
    this.active.set(id, { component: proc.component, done });
  }

  private async thaw(record: FaultRecord): Promise<void> {
    await this.pause((record.seconds ?? 0) * 1000);
    if (!this.frozen.has(record.pid)) return; // resumed by resumeAllNow
    this.frozen.delete(record.pid);
    try {
      process.kill(record.pid, 'SIGCONT');
    } catch (err) {
      record.problem = `SIGCONT failed: ${(err as Error).message}`;
    }
    record.endedAt = Date.now();
    this.opts.log(`fault ${record.id}: SIGCONT ${record.process} pid ${record.pid} after ${((record.endedAt - record.at) / 1000).toFixed(1)} s`);
  }

  private async awaitBack(record: FaultRecord): Promise<void> {
    const waitMs = this.opts.restartWaitMs ?? 60_000;
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      await sleep(250);
      const p = (await this.opts.pm2List().catch(() => [])).find((x) => x.name === record.process);
      if (online(p) && p.pid !== record.pid) {
        record.endedAt = Date.now();
        record.newPid = p.pid;
        this.opts.log(`fault ${record.id}: ${record.process} back as pid ${p.pid} after ${((record.endedAt - record.at) / 1000).toFixed(1)} s`);
        return;
      }
    }
    record.problem = `${record.process} was not online again ${waitMs / 1000} s after SIGKILL`;
    this.opts.log(`fault ${record.id}: ${record.problem}`);
  }
}
