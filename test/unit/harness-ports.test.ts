/**
 * The test harness's port blocks: a block claimed by freePortBase is locked for other processes
 * and given back by releasePortBase, and a later test file in the same jest worker (same pid,
 * fresh module state) can claim a block an earlier file left locked once its ports are free —
 * with more whole-cluster test files than blocks, a worker ran out of blocks before.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const LOCK_DIR = path.join(os.tmpdir(), 'kubemu-port-blocks');
const lockOf = (base: number) => path.join(LOCK_DIR, `${base}.lock`);

test('harness ports - a claimed block is locked by this pid and released again', async () => {
  const { freePortBase, releasePortBase } = await import('../harness/ports');
  const base = await freePortBase('demo');
  expect(fs.readFileSync(lockOf(base), 'utf8')).toBe(String(process.pid));
  releasePortBase(base);
  expect(fs.existsSync(lockOf(base))).toBe(false);
});

test('harness ports - blocks left locked by earlier test files of this worker are claimed again', async () => {
  const claimed: number[] = [];
  // Every block, each claimed by a "test file" of its own (a fresh module instance) and never released.
  for (let i = 0; i < 12; i++) {
    jest.resetModules();
    const { freePortBase } = await import('../harness/ports');
    claimed.push(await freePortBase('demo'));
  }
  for (const base of new Set(claimed)) fs.rmSync(lockOf(base), { force: true });
});
