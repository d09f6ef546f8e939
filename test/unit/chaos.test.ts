import {
  ChaosDeps,
  ChaosError,
  ChaosPm2Process,
  ResolveInputs,
  parseChaosArgs,
  processOfHolder,
  resolveTarget,
  runChaos,
} from '../../scripts/lib/chaos';

const PROCESSES = [
  { name: 'etcd-0', component: 'etcd' },
  { name: 'etcd-1', component: 'etcd' },
  { name: 'etcd-2', component: 'etcd' },
  { name: 'nats-0', component: 'nats' },
  { name: 'nats-1', component: 'nats' },
  { name: 'nats-2', component: 'nats' },
  { name: 'kube-apiserver-0', component: 'kube-apiserver' },
  { name: 'kube-apiserver-1', component: 'kube-apiserver' },
  { name: 'kube-scheduler-0', component: 'kube-scheduler' },
  { name: 'kube-scheduler-1', component: 'kube-scheduler' },
  { name: 'kubelet-node-1', component: 'kubelet' },
];

function online(overrides: Record<string, Partial<ChaosPm2Process>> = {}): ChaosPm2Process[] {
  return PROCESSES.map((p, i) => ({ name: p.name, pid: 1000 + i, status: 'online', restarts: 0, ...overrides[p.name] }));
}

function inputs(over: Partial<ResolveInputs> = {}): ResolveInputs {
  return {
    processes: PROCESSES,
    pm2List: async () => online(),
    leaseHolder: async () => undefined,
    etcdLeader: async () => undefined,
    random: () => 0,
    ...over,
  };
}

async function rejection(p: Promise<unknown>): Promise<ChaosError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ChaosError);
    return err as ChaosError;
  }
  throw new Error('expected a rejection');
}

function thrown(fn: () => unknown): ChaosError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ChaosError);
    return err as ChaosError;
  }
  throw new Error('expected a throw');
}

describe('chaos - argument parsing', () => {
  test('action and target', () => {
    expect(parseChaosArgs(['kill', 'etcd-1'])).toEqual({ action: 'kill', target: 'etcd-1', seconds: undefined });
    expect(parseChaosArgs(['restart', 'random'])).toEqual({ action: 'restart', target: 'random', seconds: undefined });
  });

  test('freeze takes --seconds N or --seconds=N', () => {
    expect(parseChaosArgs(['freeze', 'nats-0', '--seconds', '5'])).toEqual({ action: 'freeze', target: 'nats-0', seconds: 5 });
    expect(parseChaosArgs(['freeze', '--seconds=2.5', 'publisher'])).toEqual({ action: 'freeze', target: 'publisher', seconds: 2.5 });
  });

  test('usage errors exit 2 and name what is valid', () => {
    expect(thrown(() => parseChaosArgs([])).exitCode).toBe(2);
    const unknown = thrown(() => parseChaosArgs(['explode', 'etcd-0']));
    expect(unknown.exitCode).toBe(2);
    expect(unknown.message).toContain('kill, terminate, freeze, stop, start, restart');
    expect(thrown(() => parseChaosArgs(['kill'])).exitCode).toBe(2);
    expect(thrown(() => parseChaosArgs(['kill', 'a', 'b'])).exitCode).toBe(2);
    expect(thrown(() => parseChaosArgs(['freeze', 'etcd-0'])).message).toMatch(/--seconds/);
    expect(thrown(() => parseChaosArgs(['freeze', 'etcd-0', '--seconds', '-1'])).exitCode).toBe(2);
    expect(thrown(() => parseChaosArgs(['freeze', 'etcd-0', '--seconds'])).exitCode).toBe(2);
    expect(thrown(() => parseChaosArgs(['kill', 'etcd-0', '--seconds', '3'])).exitCode).toBe(2);
    expect(thrown(() => parseChaosArgs(['kill', 'etcd-0', '--force'])).exitCode).toBe(2);
  });
});

describe('chaos - target resolution', () => {
  test('a process name resolves to itself', async () => {
    expect((await resolveTarget('kubelet-node-1', inputs())).name).toBe('kubelet-node-1');
  });

  test('a component name picks one online instance', async () => {
    expect((await resolveTarget('kube-scheduler', inputs({ random: () => 0.99 }))).name).toBe('kube-scheduler-1');
    const down = inputs({ pm2List: async () => online({ 'kube-scheduler-0': { status: 'stopped', pid: 0 } }), random: () => 0 });
    expect((await resolveTarget('kube-scheduler', down)).name).toBe('kube-scheduler-1');
    const allDown = inputs({ pm2List: async () => online({ 'kube-scheduler-0': { status: 'stopped' }, 'kube-scheduler-1': { status: 'errored' } }) });
    expect((await rejection(resolveTarget('kube-scheduler', allDown))).exitCode).toBe(1);
  });

  test('leader roles read the lease holder, <process>_<uuid> or <process>', async () => {
    const asked: string[] = [];
    const leaseHolder = async (namespace: string, name: string) => {
      asked.push(`${namespace}/${name}`);
      if (name === 'kube-scheduler') return 'kube-scheduler-1_0f8e2a9c-1111-4222-8333-944455556666';
      if (name === 'kube-apiserver-watch-publisher') return 'kube-apiserver-0';
      return undefined;
    };
    expect((await resolveTarget('scheduler-leader', inputs({ leaseHolder }))).name).toBe('kube-scheduler-1');
    expect((await resolveTarget('publisher', inputs({ leaseHolder }))).name).toBe('kube-apiserver-0');
    const none = await rejection(resolveTarget('controller-manager-leader', inputs({ leaseHolder })));
    expect(none.exitCode).toBe(1);
    expect(asked).toEqual(['kube-system/kube-scheduler', 'kube-system/kube-apiserver-watch-publisher', 'kube-system/kube-controller-manager']);
    expect(processOfHolder('kube-controller-manager-0_abc')).toBe('kube-controller-manager-0');
  });

  test('a holder that is no process of this cluster is an error', async () => {
    const err = await rejection(resolveTarget('scheduler-leader', inputs({ leaseHolder: async () => 'elsewhere-3_x' })));
    expect(err.message).toContain('elsewhere-3_x');
  });

  test('etcd-leader asks etcd', async () => {
    expect((await resolveTarget('etcd-leader', inputs({ etcdLeader: async () => 'etcd-2' }))).name).toBe('etcd-2');
    expect((await rejection(resolveTarget('etcd-leader', inputs()))).exitCode).toBe(1);
  });

  test('random picks among online processes, never a second etcd member or NATS server', async () => {
    const pm2List = async () => online({ 'etcd-1': { status: 'stopped', pid: 0 }, 'nats-2': { status: 'launching' }, 'kubelet-node-1': { status: 'errored' } });
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add((await resolveTarget('random', inputs({ pm2List, random: () => i / 20 }))).name);
    expect([...seen].sort()).toEqual(['kube-apiserver-0', 'kube-apiserver-1', 'kube-scheduler-0', 'kube-scheduler-1']);
    const all = new Set<string>();
    for (let i = 0; i < 40; i++) all.add((await resolveTarget('random', inputs({ random: () => i / 40 }))).name);
    expect(all.size).toBe(PROCESSES.length);
  });

  test('an unknown target exits 2 and lists roles, components and processes', async () => {
    const err = await rejection(resolveTarget('kube-schedular', inputs()));
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain('scheduler-leader');
    expect(err.message).toContain('kube-scheduler,');
    expect(err.message).toContain('kubelet-node-1');
  });
});

describe('chaos - actions', () => {
  function deps(list: () => ChaosPm2Process[], over: Partial<ChaosDeps> = {}): ChaosDeps & { lines: string[]; signals: string[]; pm2Calls: string[] } {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const lines: string[] = [];
    const signals: string[] = [];
    const pm2Calls: string[] = [];
    return {
      ...inputs({ pm2List: async () => list() }),
      out: (line) => lines.push(line),
      now: () => new Date(clock),
      sleep: async (ms) => {
        clock += ms;
      },
      signal: (pid, sig) => signals.push(`${sig} ${pid}`),
      pm2Stop: async (name) => {
        pm2Calls.push(`stop ${name}`);
      },
      pm2Start: async (name) => {
        pm2Calls.push(`start ${name}`);
      },
      lines,
      signals,
      pm2Calls,
      ...over,
    };
  }

  test('kill sends SIGKILL and waits for the new pid', async () => {
    let calls = 0;
    const d = deps(() => (++calls < 4 ? online() : online({ 'etcd-1': { pid: 4242, restarts: 1 } })));
    expect(await runChaos({ action: 'kill', target: 'etcd-1' }, d)).toBe(0);
    expect(d.signals).toEqual(['SIGKILL 1001']);
    expect(d.lines[0]).toMatch(/^2026-01-01T00:00:00.000Z resolved etcd-1 -> etcd-1/);
    expect(d.lines[d.lines.length - 1]).toContain('etcd-1 is back: pid 4242, restarts 1');
  });

  test('a process that does not come back within the wait exits 1', async () => {
    const d = deps(() => online({ 'nats-0': { status: 'errored', pid: 0 } }), { restartWaitMs: 1000 });
    const first = online();
    let calls = 0;
    d.pm2List = async () => (calls++ === 0 ? first : online({ 'nats-0': { status: 'errored', pid: 0 } }));
    expect(await runChaos({ action: 'terminate', target: 'nats-0' }, d)).toBe(1);
    expect(d.signals).toEqual(['SIGTERM 1003']);
    expect(d.lines[d.lines.length - 1]).toContain('not back after 1 s');
  });

  test('freeze stops, waits and continues the same pid', async () => {
    const d = deps(() => online());
    expect(await runChaos({ action: 'freeze', target: 'kube-apiserver-1', seconds: 3 }, d)).toBe(0);
    expect(d.signals).toEqual(['SIGSTOP 1007', 'SIGCONT 1007']);
    expect(d.lines[d.lines.length - 1]).toMatch(/^2026-01-01T00:00:03.000Z .*resumed after 3 s/);
  });

  test('stop and start go through pm2', async () => {
    let stopped = false;
    const d = deps(() => (stopped ? online({ 'kube-scheduler-0': { status: 'stopped', pid: 0 } }) : online({ 'kube-scheduler-0': { pid: 777 } })));
    d.pm2Stop = async (name) => {
      d.pm2Calls.push(`stop ${name}`);
      stopped = true;
    };
    expect(await runChaos({ action: 'stop', target: 'kube-scheduler-0' }, d)).toBe(0);
    expect(d.lines[d.lines.length - 1]).toContain('kube-scheduler-0 is stopped');
    d.pm2Start = async (name) => {
      d.pm2Calls.push(`start ${name}`);
      stopped = false;
    };
    expect(await runChaos({ action: 'start', target: 'kube-scheduler-0' }, d)).toBe(0);
    expect(d.pm2Calls).toEqual(['stop kube-scheduler-0', 'start kube-scheduler-0']);
    expect(d.lines[d.lines.length - 1]).toContain('kube-scheduler-0 is back: pid 777');
    expect(d.signals).toEqual([]);
  });

  test('kill of a stopped process is an error', async () => {
    const d = deps(() => online({ 'etcd-0': { status: 'stopped', pid: 0 } }));
    expect((await rejection(runChaos({ action: 'kill', target: 'etcd-0' }, d))).exitCode).toBe(1);
  });
});
