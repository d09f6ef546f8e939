/**
 * The kubelet's pod status computation (services/kubelet/podstatus.ts) and restart backoff
 * (services/kubelet/backoff.ts): phases as Kubernetes' getPhase, conditions, container states.
 */
import { ContainerStatus, Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { Backoff } from '../../services/kubelet/backoff';
import { formatDuration } from '../../services/kubelet/kubelet';
import { computePodStatus, podPhase, statusChanged, WaitingReason } from '../../services/kubelet/podstatus';
import { ContainerState, PodSandboxState, RuntimeContainer, RuntimePod } from '../../services/kubelet/runtime';

const running = (name: string): ContainerStatus => ({ name, state: { running: { startedAt: 'x' } } });
const exited = (name: string, exitCode: number): ContainerStatus => ({ name, state: { terminated: { exitCode } } });
const waiting = (name: string, lastExit?: number): ContainerStatus => ({
  name,
  state: { waiting: { reason: 'x' } },
  lastState: lastExit === undefined ? {} : { terminated: { exitCode: lastExit } },
});
const pod = (restartPolicy: string, init = 0): Pod => ({
  metadata: { name: 'p', namespace: 'default', uid: 'u1' },
  spec: {
    restartPolicy,
    initContainers: Array.from({ length: init }, (_, i) => ({ name: `init${i}`, image: 'busybox' })),
    containers: [{ name: 'a', image: 'nginx' }, { name: 'b', image: 'nginx' }],
  },
});

describe('kubelet podstatus - getPhase', () => {
  test.each([
    ['all running', 'Always', [], [running('a'), running('b')], 'Running'],
    ['one still waiting to start', 'Always', [], [running('a'), waiting('b')], 'Pending'],
    ['restarting after a crash counts as stopped, not waiting', 'Always', [], [running('a'), waiting('b', 1)], 'Running'],
    ['all exited under Always: they will restart', 'Always', [], [exited('a', 0), exited('b', 1)], 'Running'],
    ['all exited 0 under Never', 'Never', [], [exited('a', 0), exited('b', 0)], 'Succeeded'],
    ['one failed under Never', 'Never', [], [exited('a', 0), exited('b', 2)], 'Failed'],
    ['one failed under OnFailure: it restarts', 'OnFailure', [], [exited('a', 0), exited('b', 2)], 'Running'],
    ['all succeeded under OnFailure', 'OnFailure', [], [exited('a', 0), exited('b', 0)], 'Succeeded'],
    ['init container running', 'Always', [running('init0')], [waiting('a'), waiting('b')], 'Pending'],
    ['init container failed under Never', 'Never', [exited('init0', 1)], [waiting('a'), waiting('b')], 'Failed'],
    ['init container failed under Always: retried', 'Always', [waiting('init0', 1)], [waiting('a'), waiting('b')], 'Pending'],
    ['no status at all', 'Always', [], [], 'Pending'],
  ])('%s', (_name, policy, init, regular, phase) => {
    expect(podPhase(pod(policy, init.length), init, regular)).toBe(phase);
  });
});

function runtimeWith(containers: Partial<RuntimeContainer>[], sandboxReady = true): RuntimePod {
  return {
    sandboxes: [{ id: 's1', metadata: { attempt: 0 }, state: sandboxReady ? PodSandboxState.POD_SANDBOX_STATE_READY : PodSandboxState.POD_SANDBOX_STATE_NOTREADY, ip: sandboxReady ? '127.10.0.5' : '' }],
    containers: containers.map((c, i) => ({ id: `c${i}`, sandboxId: 's1', name: 'a', attempt: 0, state: ContainerState.CONTAINER_STATE_RUNNING, status: { started_at: 1_700_000_000_000_000 }, ...c })) as RuntimeContainer[],
  };
}

function status(p: Pod, rt: RuntimePod, opts: { waiting?: Map<string, WaitingReason>; ready?: boolean } = {}) {
  return computePodStatus({
    pod: p,
    runtime: rt,
    nodeIP: '127.1.0.1',
    waiting: opts.waiting ?? new Map(),
    probes: { ready: () => opts.ready ?? true, started: () => true },
    startTime: 1_700_000_000_000,
    now: 1_700_000_001_000,
  });
}

describe('kubelet podstatus - computePodStatus', () => {
  const one: Pod = { metadata: { name: 'p', namespace: 'default', uid: 'u1' }, spec: { restartPolicy: 'Always', containers: [{ name: 'a', image: 'nginx' }] }, status: { conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: 't0' }] } };

  test('a running, ready container: Running with every condition True, IPs and times', () => {
    const s = status(one, runtimeWith([{}]));
    expect(s.phase).toBe('Running');
    expect(s.podIP).toBe('127.10.0.5');
    expect(s.hostIP).toBe('127.1.0.1');
    expect(s.startTime).toBe('2023-11-14T22:13:20Z');
    expect(Object.fromEntries(s.conditions!.map((c) => [c.type, c.status]))).toEqual({
      PodReadyToStartContainers: 'True',
      Initialized: 'True',
      Ready: 'True',
      ContainersReady: 'True',
      PodScheduled: 'True',
    });
    expect(s.containerStatuses![0]).toMatchObject({ name: 'a', ready: true, started: true, restartCount: 0, containerID: 'kubemu://c0' });
    expect(s.containerStatuses![0].state?.running?.startedAt).toBe('2023-11-14T22:13:20Z');
  });

  test('not ready per its probe: ContainersNotReady with the container named', () => {
    const s = status(one, runtimeWith([{}]), { ready: false });
    expect(s.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [a]' });
  });

  test('crash loop: waiting CrashLoopBackOff with the last termination and restartCount from the attempt', () => {
    const rt = runtimeWith([
      { id: 'old', attempt: 0, state: ContainerState.CONTAINER_STATE_EXITED, status: { exit_code: 1, finished_at: 1 } },
      { id: 'new', attempt: 1, state: ContainerState.CONTAINER_STATE_EXITED, status: { exit_code: 3, reason: 'Error', finished_at: 2 } },
    ]);
    const s = status(one, rt, { waiting: new Map([['a', { reason: 'CrashLoopBackOff', message: 'back-off 10s' }]]) });
    expect(s.containerStatuses![0].state).toEqual({ waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s' } });
    expect(s.containerStatuses![0].lastState?.terminated).toMatchObject({ exitCode: 3, reason: 'Error', containerID: 'kubemu://new' });
    expect(s.containerStatuses![0].restartCount).toBe(1);
    expect(s.phase).toBe('Running');
  });

  test('no instance yet: waiting ContainerCreating (or the reason the kubelet knows), phase Pending', () => {
    expect(status(one, runtimeWith([])).containerStatuses![0].state?.waiting?.reason).toBe('ContainerCreating');
    const s = status(one, runtimeWith([]), { waiting: new Map([['a', { reason: 'ErrImagePull', message: 'not in the catalog' }]]) });
    expect(s.containerStatuses![0].state?.waiting).toEqual({ reason: 'ErrImagePull', message: 'not in the catalog' });
    expect(s.phase).toBe('Pending');
  });

  test('finished under Never: Succeeded, Ready False with reason PodCompleted', () => {
    const p: Pod = { ...one, spec: { ...one.spec, restartPolicy: 'Never' } };
    const s = status(p, runtimeWith([{ state: ContainerState.CONTAINER_STATE_EXITED, status: { exit_code: 0 } }], false));
    expect(s.phase).toBe('Succeeded');
    expect(s.containerStatuses![0].state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(s.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
    expect(s.conditions!.find((c) => c.type === 'PodReadyToStartContainers')?.status).toBe('False');
  });

  test('a condition keeps its lastTransitionTime while its status does not change', () => {
    const first = status(one, runtimeWith([{}]));
    const again = status({ ...one, status: { ...first, conditions: first.conditions!.map((c) => ({ ...c, lastTransitionTime: 'earlier' })) } }, runtimeWith([{}]));
    expect(again.conditions!.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe('earlier');
    expect(statusChanged({ ...first, podIPs: [{ ip: '127.10.0.5' }] }, first)).toBe(false);
    expect(statusChanged(first, { ...first, phase: 'Failed' })).toBe(true);
  });

  test('readiness gates: Ready waits for the gate condition', () => {
    const gated: Pod = { ...one, spec: { ...one.spec, readinessGates: [{ conditionType: 'example.com/lb' }] } };
    expect(status(gated, runtimeWith([{}])).conditions!.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'ReadinessGatesNotReady',
      message: 'corresponding condition of pod readiness gate "example.com/lb" does not exist.',
    });
  });
});

describe('kubelet backoff', () => {
  test('the first restart is immediate, then 10 s doubling to the maximum, forgotten after 2 × max idle', () => {
    let now = 0;
    const b = new Backoff(10_000, 40_000, () => now);
    expect(b.remaining('k', 0)).toBe(0);
    b.next('k');
    expect(b.delay('k')).toBe(10_000);
    expect(b.remaining('k', now)).toBe(10_000);
    now = 10_000;
    b.next('k');
    now = 30_000;
    b.next('k');
    now = 70_000;
    b.next('k');
    expect(b.delay('k')).toBe(40_000); // capped
    now += 80_001;
    expect(b.delay('k')).toBe(0);
    expect(formatDuration(10)).toBe('10s');
    expect(formatDuration(300)).toBe('5m0s');
  });
});
