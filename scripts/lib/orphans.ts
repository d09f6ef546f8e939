/**
 * Processes pm2 started that outlived their pm2 daemon (someone killed the daemon: pm2 starts
 * every app in its own process group, so the apps keep running). They are found by the
 * environment pm2 gave them: PM2_HOME of this cluster and name=<app name>. Linux only (/proc).
 */
import * as fs from 'fs';
import { etcdLeader } from './probe';
import type { ProcessSpec } from '../../services/lib/topology';

export interface Orphan {
  name: string;
  pid: number;
}

function environ(pid: number): Map<string, string> | undefined {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
    const env = new Map<string, string>();
    for (const entry of raw.split('\0')) {
      const eq = entry.indexOf('=');
      if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
    return env;
  } catch {
    return undefined; // gone, or not ours to read
  }
}

/** The processes of `specs` still running from a pm2 daemon with home `pm2Home`. Never throws. */
export function findOrphans(pm2Home: string, specs: ProcessSpec[]): Orphan[] {
  const names = new Set(specs.map((s) => s.name));
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  const found: Orphan[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const env = environ(pid);
    const name = env?.get('name');
    if (env?.get('PM2_HOME') === pm2Home && env.has('pm_id') && name && names.has(name)) found.push({ name, pid });
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig); // pm2 made each app a process group leader
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // gone
    }
  }
}

async function terminate(orphans: Orphan[], timeoutMs: number): Promise<void> {
  for (const o of orphans) signal(o.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (orphans.some((o) => alive(o.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const o of orphans) if (alive(o.pid)) signal(o.pid, 'SIGKILL');
}

/**
 * Stops orphans as pm2 would (SIGTERM, SIGKILL after `timeoutMs`), highest tier first and the
 * etcd leader last (see stopCluster). Resolves when they are gone.
 */
export async function stopOrphans(orphans: Orphan[], specs: ProcessSpec[], timeoutMs = 10000): Promise<void> {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const tiers = [...new Set(orphans.map((o) => byName.get(o.name)?.tier ?? 0))].sort((a, b) => b - a);
  for (const tier of tiers) {
    const inTier = orphans.filter((o) => (byName.get(o.name)?.tier ?? 0) === tier);
    const etcd = inTier.filter((o) => byName.get(o.name)?.component === 'etcd');
    const leader = await etcdLeader(etcd.map((o) => ({ name: o.name, address: byName.get(o.name)!.address })));
    await terminate(inTier.filter((o) => o.name !== leader), timeoutMs);
    await terminate(inTier.filter((o) => o.name === leader), timeoutMs);
  }
}
