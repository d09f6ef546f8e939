/**
 * What the runtime reads from Linux's /proc: a process's group, start time, CPU time and resident
 * memory. A container is one process group, so "the container's processes" are the processes
 * whose pgid is the container's pgid.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';

/** The fields of /proc/<pid>/stat the runtime uses. */
export interface ProcStat {
  pid: number;
  ppid: number;
  pgid: number;
  /** Clock ticks of user and system time of the process, and of its waited-for children. */
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
  /** Field 22: clock ticks after boot when the process started; with pid it names one process for good. */
  startTime: number;
  /** Resident pages. */
  rssPages: number;
}

function getconf(name: string, fallback: number): number {
  try {
    const n = Number(execFileSync('getconf', [name], { encoding: 'utf8', timeout: 2000 }).trim());
    return Number.isFinite(n) && n > 0 ? n : fallback;
  } catch {
    return fallback;
  }
}

/** USER_HZ and the page size, asked once. */
export const CLOCK_TICKS_PER_SECOND = getconf('CLK_TCK', 100);
export const PAGE_SIZE = getconf('PAGESIZE', 4096);

/** Parses the text of /proc/<pid>/stat. Returns undefined for text that is not one. Pure. */
export function parseStat(text: string): ProcStat | undefined {
  // comm (field 2) is in parentheses and may itself hold spaces or ')': split after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const pid = Number(text.slice(0, text.indexOf(' ')));
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  const f = (n: number) => Number(rest[n - 3]);
  const stat: ProcStat = {
    pid,
    ppid: f(4),
    pgid: f(5),
    utime: f(14),
    stime: f(15),
    cutime: f(16),
    cstime: f(17),
    startTime: f(22),
    rssPages: f(24),
  };
  return Number.isFinite(stat.pid) && Number.isFinite(stat.startTime) ? stat : undefined;
}

/** /proc/<pid>/stat of a live process, or undefined when there is none (or /proc is unreadable). Never throws. */
export function readStat(pid: number): ProcStat | undefined {
  try {
    return parseStat(fs.readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

/**
 * The private resident memory of a process: /proc/<pid>/statm resident minus shared pages, i.e.
 * anonymous memory. File-backed pages (the node binary, mapped by every node process and kept in
 * the page cache) are left out, as a memory cgroup would not charge them to the container: a
 * kubemu nginx is ~7 MiB here, not the ~45 MiB its RSS says. 0 when the process is gone. Never throws.
 */
export function privateResidentBytes(pid: number): number {
  try {
    const [, resident, shared] = fs.readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ').map(Number);
    return Number.isFinite(resident) && Number.isFinite(shared) ? Math.max(0, resident - shared) * PAGE_SIZE : 0;
  } catch {
    return 0;
  }
}

/** The resource use of one process group at one moment. */
export interface GroupUsage {
  pids: number[];
  /** Sum of privateResidentBytes over the members. */
  rssBytes: number;
  /** utime + stime + cutime + cstime over the members, nanoseconds. */
  cpuNanos: number;
}

/**
 * One pass over /proc: the usage of each group in `pgids` that has live members (groups without
 * any are absent). Zombies count with rss 0. Synchronous (one read per process, tens of µs each in some sandboxes);
 * never throws.
 */
export function scanGroups(pgids: ReadonlySet<number>): Map<number, GroupUsage> {
  const out = new Map<number, GroupUsage>();
  if (pgids.size === 0) return out;
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  const nanosPerTick = 1e9 / CLOCK_TICKS_PER_SECOND;
  for (const name of entries) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const stat = readStat(Number(name));
    if (!stat || !pgids.has(stat.pgid)) continue;
    let g = out.get(stat.pgid);
    if (!g) out.set(stat.pgid, (g = { pids: [], rssBytes: 0, cpuNanos: 0 }));
    g.pids.push(stat.pid);
    g.rssBytes += stat.rssPages > 0 ? privateResidentBytes(stat.pid) : 0;
    g.cpuNanos += (stat.utime + stat.stime + stat.cutime + stat.cstime) * nanosPerTick;
  }
  return out;
}

/**
 * The usage of group `pgid` counting only `pids` that are still its members: the cheap path for
 * frequent checks once a full scan found the members (each /proc read costs tens of µs in some
 * sandboxes, so scanning all of /proc several times a second is not free). Never throws.
 */
export function groupUsageOf(pgid: number, pids: Iterable<number>): GroupUsage {
  const g: GroupUsage = { pids: [], rssBytes: 0, cpuNanos: 0 };
  const nanosPerTick = 1e9 / CLOCK_TICKS_PER_SECOND;
  for (const pid of new Set(pids)) {
    const stat = readStat(pid);
    if (!stat || stat.pgid !== pgid) continue;
    g.pids.push(pid);
    g.rssBytes += stat.rssPages > 0 ? privateResidentBytes(stat.pid) : 0;
    g.cpuNanos += (stat.utime + stat.stime + stat.cutime + stat.cstime) * nanosPerTick;
  }
  return g;
}

/** Sends `signal` to process group `pgid`. Returns false when the group no longer exists. Never throws. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  if (!(pgid > 1)) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kills (SIGKILL) what is left of a process group started by an earlier runtime instance, without
 * touching a process that merely reuses the number: when a process with pid == pgid exists it must
 * have the recorded start time; when the leader is gone, the remaining members are ours (Linux does
 * not hand out a pid that is still some group's id). Returns how many processes were signalled.
 */
export function killLeftoverGroup(pgid: number, leaderStartTime: number): number {
  if (!(pgid > 1)) return 0;
  const leader = readStat(pgid);
  if (leader && (leader.startTime !== leaderStartTime || leader.pgid !== pgid)) {
    // The number now belongs to another process; our group died with its leader, but members
    // of ours could still carry the pgid only if the leader were ours, so nothing to do.
    return 0;
  }
  const members = scanGroups(new Set([pgid])).get(pgid)?.pids ?? [];
  if (members.length > 0) signalGroup(pgid, 'SIGKILL');
  return members.length;
}
