/** Free loopback ports for test processes. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildTopology, allPorts } from '../../services/lib/topology';
import { isPortFree } from '../../scripts/lib/ports';

// Below Linux's ephemeral range (32768+), so that no outgoing connection takes a port between
// our check and the server's bind, and above kubemu's default port block (20000-20499).
const LOW = 21000;
const HIGH = 32000;
const handedOut = new Set<number>();

function randomPort(): number {
  return LOW + Math.floor(Math.random() * (HIGH - LOW));
}

/** A loopback TCP port that is free now and was not handed out before in this process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = randomPort();
    if (handedOut.has(port)) continue;
    if (await isPortFree(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: no free port found');
}

/** Lock files claiming a port block across test processes (jest runs files in parallel workers). */
const LOCK_DIR = path.join(os.tmpdir(), 'kubemu-port-blocks');
const heldLocks = new Set<string>();
process.on('exit', () => {
  for (const f of heldLocks) fs.rmSync(f, { force: true });
});

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Claims `base` for this process unless a live process holds it. Never throws. */
function claimBlock(base: number): boolean {
  fs.mkdirSync(LOCK_DIR, { recursive: true });
  const file = path.join(LOCK_DIR, `${base}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      heldLocks.add(file);
      return true;
    } catch {
      const holder = Number(fs.readFileSync(file, 'utf8') || '0');
      // Our own pid: an earlier test file in this jest worker claimed it (each file has its own
      // module state, the worker process stays); its ports were just found free, so it is done.
      if (holder === process.pid) return true;
      if (holder && pidAlive(holder)) return false;
      fs.rmSync(file, { force: true }); // a dead process's claim
    }
  }
  return false;
}

/** Gives a block from freePortBase back (its cluster is gone), for other test processes. */
export function releasePortBase(base: number): void {
  const file = path.join(LOCK_DIR, `${base}.lock`);
  try {
    if (Number(fs.readFileSync(file, 'utf8')) === process.pid) fs.rmSync(file, { force: true });
  } catch {
    // not claimed (any more)
  }
  heldLocks.delete(file);
}

/**
 * A KUBEMU_PORT_BASE for which every port of the profile's topology is free now (for running a
 * whole cluster with scripts/cluster.ts in a test). Blocks are 1000 ports apart (a cluster uses
 * base+100 … base+899) and claimed with a lock file, so test processes running side by side never
 * pick overlapping blocks.
 */
export async function freePortBase(profile = 'demo'): Promise<number> {
  const blocks = Math.floor((HIGH - LOW - 1000) / 1000);
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = LOW + 1000 * Math.floor(Math.random() * blocks);
    const ports = allPorts(buildTopology({ stateDir: '/nonexistent', portBase: base, profile }));
    if (ports.some((p) => handedOut.has(p))) continue;
    const free = await Promise.all(ports.map((p) => isPortFree(p)));
    if (free.every(Boolean) && claimBlock(base)) {
      for (const p of ports) handedOut.add(p);
      return base;
    }
  }
  throw new Error('freePortBase: no free port block found');
}
