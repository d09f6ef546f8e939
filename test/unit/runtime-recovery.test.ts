/**
 * The runtime's restart path, in process: a state.json left by an earlier instance is loaded,
 * running containers become EXITED (255, Error), and only the earlier instance's own process
 * groups are killed (a recycled pid is left alone).
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ContainerRuntime } from '../../services/container-runtime/runtime';
import { killLeftoverGroup, parseStat, privateResidentBytes, readStat } from '../../services/container-runtime/procfs';
import { StateStore } from '../../services/container-runtime/state';
import { Logger } from '../../services/lib/log';

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, with: () => quiet };
const children: ChildProcess[] = [];
let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubemu-recovery-'));
});

afterEach(() => {
  for (const c of children.splice(0)) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A detached `sh -c script` (its own process group), as the runtime starts containers. */
function group(script: string): ChildProcess {
  const c = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  children.push(c);
  return c;
}

function alive(pid: number): boolean {
  const s = readStat(pid);
  if (!s) return false;
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2)[0] !== 'Z';
}

async function waitDead(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

function runningRecord(id: string, pid: number, procStartTime: number) {
  return {
    id,
    sandboxId: 'sb1',
    podUid: 'uid-1',
    name: id,
    attempt: 0,
    image: 'busybox',
    imageRef: 'sha256:x',
    labels: {},
    annotations: {},
    state: 'RUNNING' as const,
    createdAt: 1,
    startedAt: 2,
    finishedAt: 0,
    exitCode: 0,
    reason: '',
    message: '',
    logPath: path.join(dir, `${id}.log`),
    executable: '/bin/sh',
    args: [],
    env: {},
    cwd: dir,
    mounts: [],
    memoryLimitBytes: 0,
    cpuLimitMillicores: 0,
    pid,
    pgid: pid,
    procStartTime,
  };
}

describe('procfs', () => {
  test('parseStat - reads group, times and rss even when the command name holds spaces and parentheses', () => {
    const fields = ['S', '1', '4242', '4242', '0', '-1', '4194560', '100', '0', '0', '0', '7', '3', '2', '1', '20', '0', '1', '0', '123456', '1000', '250'];
    const s = parseStat(`4242 (my (odd) name) ${fields.join(' ')} 0 0`);
    expect(s).toEqual({ pid: 4242, ppid: 1, pgid: 4242, utime: 7, stime: 3, cutime: 2, cstime: 1, startTime: 123456, rssPages: 250 });
    expect(parseStat('nonsense')).toBeUndefined();
  });

  test('privateResidentBytes - anonymous memory only: above zero, below the RSS; 0 for a gone process', () => {
    const mine = privateResidentBytes(process.pid);
    expect(mine).toBeGreaterThan(0);
    expect(mine).toBeLessThan(process.memoryUsage().rss);
    expect(privateResidentBytes(2 ** 22 + 1)).toBe(0);
  });

  test('killLeftoverGroup - kills the recorded group, spares a pid whose start time differs', async () => {
    const ours = group('sleep 1000');
    const stranger = group('sleep 1000');
    await new Promise((r) => setTimeout(r, 50));
    const oursStat = readStat(ours.pid!)!;
    const strangerStat = readStat(stranger.pid!)!;
    expect(killLeftoverGroup(stranger.pid!, strangerStat.startTime + 1)).toBe(0);
    expect(killLeftoverGroup(ours.pid!, oursStat.startTime)).toBeGreaterThan(0);
    expect(await waitDead(ours.pid!)).toBe(true);
    expect(alive(stranger.pid!)).toBe(true);
  });

  test('killLeftoverGroup - kills what is left of a group whose leader is gone', async () => {
    const leader = group('sleep 1000 & echo $! > "$0"; exit 0'.replace('"$0"', path.join(dir, 'child.pid')));
    await new Promise((r) => leader.once('exit', r));
    const childPid = Number(fs.readFileSync(path.join(dir, 'child.pid'), 'utf8'));
    expect(readStat(childPid)?.pgid).toBe(leader.pid);
    expect(killLeftoverGroup(leader.pid!, 12345)).toBe(1);
    expect(await waitDead(childPid)).toBe(true);
  });
});

describe('ContainerRuntime recovery', () => {
  test('recovery - running containers become EXITED (255, Error, "container runtime restarted"); sandboxes keep their IPs', async () => {
    const leftover = group('sleep 1000');
    await new Promise((r) => setTimeout(r, 50));
    const start = readStat(leftover.pid!)!.startTime;
    new StateStore(dir).save(
      [{ id: 'sb1', name: 'p', namespace: 'default', uid: 'uid-1', attempt: 0, hostname: 'p', labels: {}, annotations: {}, createdAt: 1, state: 'READY', ip: '127.64.9.1', podDir: path.join(dir, 'pods', 'uid-1') }],
      [runningRecord('c1', leftover.pid!, start)],
    );
    const rt = new ContainerRuntime({ root: dir, nodeName: 'node-1', podCIDR: '127.64.9.0/24', log: quiet, setpriv: null });
    try {
      expect(rt.containerStatus('c1')).toMatchObject({ state: 'EXITED', exitCode: 255, reason: 'Error', message: 'container runtime restarted', pid: 0 });
      expect(rt.podSandboxStatus('sb1')).toMatchObject({ state: 'READY' });
      const ip = rt.podSandboxStatus('sb1').ip;
      expect(ip.startsWith('127.64.9.')).toBe(true);
      expect(await waitDead(leftover.pid!)).toBe(true);
      // Saved at once: another restart sees the same.
      const again = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
      expect(again.containers[0]).toMatchObject({ state: 'EXITED', exitCode: 255 });
    } finally {
      rt.shutdown();
    }
  });

  test('recovery - an IP allocated for a sandbox that was never saved goes back to the range', async () => {
    const first = new ContainerRuntime({ root: dir, nodeName: 'node-1', podCIDR: '127.64.9.0/24', log: quiet, setpriv: null });
    const id = await first.runPodSandbox({ name: 'p', namespace: 'default', uid: 'kept', attempt: 0, hostname: '', labels: {}, annotations: {} });
    const keptIP = first.podSandboxStatus(id).ip;
    first.shutdown();
    // Simulate a crash between the IP allocation and the state save.
    const ipsFile = path.join(dir, 'network', 'pod-ips.json');
    const ips = JSON.parse(fs.readFileSync(ipsFile, 'utf8'));
    ips.allocations.lost = '127.64.9.200';
    fs.writeFileSync(ipsFile, JSON.stringify(ips));
    const second = new ContainerRuntime({ root: dir, nodeName: 'node-1', podCIDR: '127.64.9.0/24', log: quiet, setpriv: null });
    try {
      expect(second.podSandboxStatus(id).ip).toBe(keptIP);
      const saved = JSON.parse(fs.readFileSync(ipsFile, 'utf8'));
      expect(Object.keys(saved.allocations)).toEqual(['kept']);
    } finally {
      second.shutdown();
    }
  });

  test('recovery - a corrupt state file is moved aside and the runtime starts empty', () => {
    fs.writeFileSync(path.join(dir, 'state.json'), '{ not json');
    const errors: string[] = [];
    const log: Logger = { ...quiet, error: (m) => errors.push(m) };
    const rt = new ContainerRuntime({ root: dir, nodeName: 'node-1', podCIDR: '127.64.9.0/24', log, setpriv: null });
    try {
      expect(rt.listPodSandbox()).toEqual([]);
      expect(errors).toEqual(['state file is corrupt; starting empty']);
      expect(fs.readdirSync(dir).some((f) => f.startsWith('state.json.corrupt-'))).toBe(true);
    } finally {
      rt.shutdown();
    }
  });
});
