/**
 * metrics.k8s.io formatting and the pods/log|exec option handling: quantities as metrics-server
 * prints them, NodeMetrics/PodMetrics from a kubelet summary, and Kubernetes' messages for
 * log options, containers and exec exit codes.
 */
import { ApiError } from '../../services/lib/errors';
import { Node, Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { formatCpu, formatMemory, nodeMetrics, podMetrics } from '../../services/kube-apiserver/rest/metrics';
import {
  chooseProtocol,
  exitStatus,
  parsePodExecOptions,
  parsePodLogOptions,
  resolveContainer,
  sinceTimeToSeconds,
} from '../../services/kube-apiserver/rest/pods';

function apiError(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('no error');
}

describe('metrics - quantities', () => {
  test.each([
    [0, '0'],
    [1, '1n'],
    [123456789, '123456789n'],
    [1500000000, '1500m'],
    [2000000000, '2'],
    [250000, '250u'],
    [1000000000000, '1k'],
  ])('cpu %i nanocores is %s', (n, s) => expect(formatCpu(n)).toBe(s));

  test.each([
    [0, '0'],
    [512, '512'],
    [1000, '1k'],
    [12345678, '12345678'],
    [4096 * 3, '12Ki'],
    [12582912, '12Mi'],
    [1073741824, '1Gi'],
  ])('memory %i bytes is %s', (n, s) => expect(formatMemory(n)).toBe(s));
});

describe('metrics - objects', () => {
  const node: Node = { metadata: { name: 'node-1', labels: { 'kubernetes.io/hostname': 'node-1' } } };
  const pod: Pod = {
    metadata: { name: 'web', namespace: 'default', uid: 'u1', labels: { app: 'web' } },
    spec: { containers: [{ name: 'b' }, { name: 'a' }] },
  };
  const now = Date.parse('2026-01-02T03:04:05Z');

  test('NodeMetrics from the summary node figures', () => {
    const m = nodeMetrics(node, { node: { node_name: 'node-1', cpu: { time: '2026-01-02T03:04:00Z', usage_nano_cores: 25000000 }, memory: { working_set_bytes: 8388608 } } }, now);
    expect(m).toEqual({
      kind: 'NodeMetrics',
      apiVersion: 'metrics.k8s.io/v1beta1',
      metadata: { name: 'node-1', creationTimestamp: '2026-01-02T03:04:05Z', labels: { 'kubernetes.io/hostname': 'node-1' } },
      timestamp: '2026-01-02T03:04:00Z',
      window: '10s',
      usage: { cpu: '25m', memory: '8Mi' },
    });
    expect(nodeMetrics(node, {}, now)).toBeUndefined();
  });

  test('PodMetrics lists containers in spec order; a pod without container figures has none', () => {
    const m = podMetrics(
      pod,
      {
        pod_ref: { name: 'web', namespace: 'default', uid: 'u1' },
        cpu: { time: '2026-01-02T03:04:00Z' },
        containers: [
          { name: 'a', cpu: { usage_nano_cores: 1000 }, memory: { working_set_bytes: 2048 } },
          { name: 'b', cpu: { usage_nano_cores: 3000000 }, memory: { working_set_bytes: 1048576 } },
        ],
      },
      now,
    );
    expect(m).toEqual({
      kind: 'PodMetrics',
      apiVersion: 'metrics.k8s.io/v1beta1',
      metadata: { name: 'web', namespace: 'default', creationTimestamp: '2026-01-02T03:04:05Z', labels: { app: 'web' } },
      timestamp: '2026-01-02T03:04:00Z',
      window: '10s',
      containers: [
        { name: 'b', usage: { cpu: '3m', memory: '1Mi' } },
        { name: 'a', usage: { cpu: '1u', memory: '2Ki' } },
      ],
    });
    expect(podMetrics(pod, { containers: [] }, now)).toBeUndefined();
  });
});

describe('pods - log options', () => {
  const q = (s: string) => new URLSearchParams(s);

  test('reads every option', () => {
    expect(parsePodLogOptions('web', q('container=c&follow=true&previous=1&timestamps=true&tailLines=10&limitBytes=100&sinceSeconds=5'))).toEqual({
      container: 'c',
      follow: true,
      previous: true,
      timestamps: true,
      tailLines: 10,
      limitBytes: 100,
      sinceSeconds: 5,
    });
    expect(parsePodLogOptions('web', q('sinceTime=2026-01-02T03:04:05Z')).sinceTime).toBe('2026-01-02T03:04:05Z');
    expect(sinceTimeToSeconds('2026-01-02T03:04:05Z', Date.parse('2026-01-02T03:05:05.5Z'))).toBe(61);
  });

  test('invalid values are a 422 PodLogOptions with one cause per field', () => {
    const e = apiError(() => parsePodLogOptions('web', q('tailLines=-1&limitBytes=0')));
    expect(e.code).toBe(422);
    expect(e.message).toBe(
      'PodLogOptions "web" is invalid: [tailLines: Invalid value: -1: must be greater than or equal to 0, limitBytes: Invalid value: 0: must be greater than 0]',
    );
    expect(apiError(() => parsePodLogOptions('web', q('sinceSeconds=0'))).message).toBe('PodLogOptions "web" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0');
    expect(apiError(() => parsePodLogOptions('web', q('sinceSeconds=3&sinceTime=2026-01-02T03:04:05Z'))).message).toContain('at most one of `sinceTime` or `sinceSeconds` may be specified');
  });

  test('unparsable values are a 400', () => {
    expect(apiError(() => parsePodLogOptions('web', q('tailLines=ten'))).code).toBe(400);
    expect(apiError(() => parsePodLogOptions('web', q('follow=maybe'))).code).toBe(400);
    expect(apiError(() => parsePodLogOptions('web', q('sinceTime=yesterday'))).code).toBe(400);
  });
});

describe('pods - containers and exec', () => {
  const pod: Pod = { metadata: { name: 'web' }, spec: { initContainers: [{ name: 'init' }], containers: [{ name: 'a' }, { name: 'b' }] } };

  test('the container is the only one, a named one, or a 400 in Kubernetes words', () => {
    expect(resolveContainer({ metadata: { name: 'one' }, spec: { containers: [{ name: 'c' }] } }, '')).toBe('c');
    expect(resolveContainer(pod, 'init')).toBe('init');
    const choose = apiError(() => resolveContainer(pod, ''));
    expect([choose.code, choose.reason, choose.message]).toEqual([400, 'BadRequest', 'a container name must be specified for pod web, choose one of: [init a b]']);
    expect(apiError(() => resolveContainer(pod, 'x')).message).toBe('container x is not valid for pod web');
  });

  test('exec options, protocols and exit statuses', () => {
    expect(parsePodExecOptions(new URLSearchParams('command=sh&command=-c&command=exit 3&stdout=true&stderr=true'))).toEqual({
      container: '',
      command: ['sh', '-c', 'exit 3'],
      stdin: false,
      stdout: true,
      stderr: true,
      tty: false,
    });
    expect(apiError(() => parsePodExecOptions(new URLSearchParams('stdout=true'))).message).toBe('you must specify at least 1 command');
    expect(apiError(() => parsePodExecOptions(new URLSearchParams('command=ls'))).message).toBe('you must specify at least one of stdin, stdout, stderr');
    expect(chooseProtocol(['v4.channel.k8s.io', 'v5.channel.k8s.io'])).toBe('v5.channel.k8s.io');
    expect(chooseProtocol(['v4.channel.k8s.io'])).toBe('v4.channel.k8s.io');
    expect(chooseProtocol(['channel.k8s.io'])).toBeUndefined();
    expect(exitStatus(0, ['ls'])).toEqual({ metadata: {}, status: 'Success' });
    expect(exitStatus(3, ['sh', '-c', 'exit 3'])).toMatchObject({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
  });
});
