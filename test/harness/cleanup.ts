/**
 * Nothing a test starts may outlive the test run. Three layers:
 *  1. tests call stop() (in afterAll/afterEach);
 *  2. process.on('exit') SIGKILLs every process group still registered and deletes temp folders;
 *  3. a reaper process (detached, one per test process) does the same when this process dies
 *     without running exit handlers (SIGKILL of a jest worker): it notices its stdin closing.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const groups = new Set<number>();
const tempDirs = new Set<string>();
let reaper: ChildProcess | undefined;
let exitHookInstalled = false;

/** The reaper: reads "+g <pgid>", "-g <pgid>", "+d <dir>", "-d <dir>" lines; on EOF kills and deletes. */
const REAPER_SOURCE = `
const fs = require('fs');
const groups = new Set(), dirs = new Set();
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    const [op, kind, ...rest] = line.split(' ');
    const value = rest.join(' ');
    const set = kind === 'g' ? groups : dirs;
    if (op === '+') set.add(value); else set.delete(value);
  }
});
process.stdin.on('end', () => {
  for (const g of groups) { try { process.kill(-Number(g), 'SIGKILL'); } catch {} try { process.kill(Number(g), 'SIGKILL'); } catch {} }
  setTimeout(() => {
    for (const d of dirs) { try { fs.rmSync(d, { recursive: true, force: true }); } catch {} }
    process.exit(0);
  }, 300);
});
`;

function tellReaper(line: string): void {
  if (!reaper) {
    reaper = spawn(process.execPath, ['-e', REAPER_SOURCE], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    reaper.unref();
    (reaper.stdin as unknown as { unref(): void }).unref();
    reaper.stdin?.on('error', () => undefined);
  }
  reaper.stdin?.write(line + '\n');
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const g of groups) killGroupNow(g, 'SIGKILL');
    if (process.env.KUBEMU_KEEP_TEST_DIRS) return;
    for (const d of tempDirs) {
      try {
        fs.rmSync(d, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        // best effort; the reaper tries again
      }
    }
  });
}

/** Sends `signal` to the process group `pgid` (and the process itself). Never throws. */
export function killGroupNow(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    try {
      process.kill(pgid, signal);
    } catch {
      // already gone
    }
  }
}

/** Registers a process group (its leader's pid) to be SIGKILLed if the test process ends first. */
export function trackGroup(pgid: number): void {
  installExitHook();
  groups.add(pgid);
  tellReaper(`+ g ${pgid}`);
}

/** The group ended or was stopped properly. */
export function untrackGroup(pgid: number): void {
  groups.delete(pgid);
  if (reaper) tellReaper(`- g ${pgid}`);
}

/**
 * A fresh temporary folder, deleted when the test process ends (kept when KUBEMU_KEEP_TEST_DIRS
 * is set, for debugging). Delete it earlier with removeTempDir.
 */
export function makeTempDir(prefix: string): string {
  installExitHook();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kubemu-${prefix}-`));
  tempDirs.add(dir);
  if (!process.env.KUBEMU_KEEP_TEST_DIRS) tellReaper(`+ d ${dir}`);
  return dir;
}

/** Deletes a folder from makeTempDir now (unless KUBEMU_KEEP_TEST_DIRS is set). */
export function removeTempDir(dir: string): void {
  tempDirs.delete(dir);
  if (reaper) tellReaper(`- d ${dir}`);
  if (process.env.KUBEMU_KEEP_TEST_DIRS) return;
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
