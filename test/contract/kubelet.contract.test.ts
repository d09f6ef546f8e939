/**
 * KubeletService through the generated client against a real kubelet (with a real runtime,
 * apiserver, etcd and nats-server): logs (current, previous, follow, tail, timestamps), exec,
 * stats and running pods, with the error codes the proto promises.
 */
import * as grpc from '@grpc/grpc-js';
import { ApiClient } from '../../services/lib/apiclient';
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import {
  ContainerLogsRequest,
  ExecRequest,
  ExecResponse,
  KubeletServiceClient,
  RunningPodsResponse,
  StatsSummaryResponse,
} from '../../services/lib/generated/kubemu/kubelet/v1/kubelet';
import { resourceForCase } from '../../services/lib/resources';
import { startKubelet, Kubelet } from '../harness/kubelet';
import { startRuntime, Runtime } from '../harness/runtime';
import { startTestApiServer, TestApiServer } from './env';

jest.setTimeout(60000);

const POD = resourceForCase('pod');
const NS = 'default';

let env: TestApiServer;
let runtime: Runtime;
let kubelet: Kubelet;
let api: ApiClient;
let client: KubeletServiceClient;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitPod(name: string, check: (p: Pod) => boolean, timeoutMs = 20000): Promise<Pod> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await api.tryGet(POD, NS, name);
    if (p && check(p)) return p;
    if (Date.now() > deadline) throw new Error(`timed out waiting for pod ${name}: ${JSON.stringify(p?.status)}`);
    await sleep(100);
  }
}

beforeAll(async () => {
  env = await startTestApiServer();
  runtime = await startRuntime();
  kubelet = await startKubelet({ apiservers: [env.address], natsUrls: env.natsUrls, runtime });
  api = new ApiClient([env.address]);
  client = new KubeletServiceClient(kubelet.address, grpc.credentials.createInsecure());
  const node = kubelet.nodeName;
  // A chatty container that restarts once (so it has a previous instance), and a two-container pod.
  await api.create(POD, {
    metadata: { name: 'talker', namespace: NS },
    spec: {
      nodeName: node,
      containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2; if [ ! -f /data/once ]; then touch /data/once; exit 1; fi; while true; do echo tick; sleep 0.2; done'], volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
      volumes: [{ name: 'data', emptyDir: {} }],
    },
  });
  await api.create(POD, {
    metadata: { name: 'pair', namespace: NS },
    spec: {
      nodeName: node,
      containers: [
        { name: 'web', image: 'nginx' },
        { name: 'side', image: 'busybox', command: ['sh', '-c', 'echo side; sleep 3600'] },
      ],
    },
  });
  await api.create(POD, { metadata: { name: 'never', namespace: NS }, spec: { nodeName: node, containers: [{ name: 'c', image: 'unknown.example/none:1' }] } });
  await waitPod('talker', (p) => p.status?.phase === 'Running' && (p.status.containerStatuses?.[0].restartCount ?? 0) >= 1 && !!p.status.containerStatuses?.[0].state?.running);
  await waitPod('pair', (p) => p.status?.phase === 'Running' && !!p.status.containerStatuses?.every((c) => c.state?.running));
});

afterAll(async () => {
  client?.close();
  api?.close();
  await kubelet?.stop();
  await runtime?.stop();
  await env?.stop();
});

function logs(req: ContainerLogsRequest, opts: { stopAfterMs?: number } = {}): Promise<{ text: string; code: grpc.status; details: string }> {
  return new Promise((resolve) => {
    const stream = client.containerLogs(req);
    let text = '';
    let timer: NodeJS.Timeout | undefined;
    if (opts.stopAfterMs) timer = setTimeout(() => stream.cancel(), opts.stopAfterMs);
    stream.on('data', (r: { data?: Buffer }) => (text += Buffer.from(r.data ?? []).toString()));
    stream.on('error', (err: grpc.ServiceError) => {
      clearTimeout(timer);
      resolve({ text, code: err.code, details: err.details });
    });
    stream.on('end', () => {
      clearTimeout(timer);
      resolve({ text, code: grpc.status.OK, details: '' });
    });
  });
}

function exec(req: ExecRequest): Promise<{ res?: ExecResponse; err?: grpc.ServiceError }> {
  return new Promise((resolve) => client.exec(req, (err, res) => resolve(err ? { err } : { res })));
}

describe('KubeletService/ContainerLogs', () => {
  test('the current instance, whole, tailed and with timestamps', async () => {
    const all = await logs({ namespace: NS, pod: 'talker' });
    expect(all.code).toBe(grpc.status.OK);
    // stdout and stderr are separate pipes: their relative order is not defined, within each it is.
    expect(all.text).toMatch(/^line 1\nline 2\nline 3\nline 4\nline 5\n/);
    expect(all.text).toContain('oops\n');
    const tail = await logs({ namespace: NS, pod: 'talker', container: 'c', tail_lines: 1 });
    expect(tail.text.split('\n').filter(Boolean)).toHaveLength(1);
    const stamped = await logs({ namespace: NS, pod: 'talker', tail_lines: 2, timestamps: true });
    for (const line of stamped.text.split('\n').filter(Boolean)) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z /);
  });

  test('the previous instance, and follow streaming new lines until cancelled', async () => {
    const previous = await logs({ namespace: NS, pod: 'talker', previous: true });
    expect(previous.text.split('\n').sort()).toEqual(['', 'line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'oops']);
    const followed = await logs({ namespace: NS, pod: 'talker', follow: true, tail_lines: 0 }, { stopAfterMs: 1200 });
    expect(followed.code).toBe(grpc.status.CANCELLED);
    expect(followed.text.match(/tick/g)?.length ?? 0).toBeGreaterThanOrEqual(3);
  });

  test('errors: unknown pod NOT_FOUND, unnamed container of a two-container pod INVALID_ARGUMENT, waiting container FAILED_PRECONDITION', async () => {
    expect((await logs({ namespace: NS, pod: 'nope' })).code).toBe(grpc.status.NOT_FOUND);
    const unnamed = await logs({ namespace: NS, pod: 'pair' });
    expect(unnamed.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(unnamed.details).toBe('a container name must be specified for pod pair, choose one of: [web side]');
    const bad = await logs({ namespace: NS, pod: 'pair', container: 'nope' });
    expect(bad).toMatchObject({ code: grpc.status.NOT_FOUND, details: 'container nope is not valid for pod pair' });
    const waiting = await logs({ namespace: NS, pod: 'never' });
    expect(waiting.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(waiting.details).toMatch(/^container "c" in pod "never" is waiting to start: (ErrImagePull|ImagePullBackOff|ContainerCreating)$/);
    const noPrevious = await logs({ namespace: NS, pod: 'pair', container: 'side', previous: true });
    expect(noPrevious).toMatchObject({ code: grpc.status.NOT_FOUND, details: 'previous terminated container "side" in pod "pair" not found' });
    expect((await logs({ namespace: '', pod: 'pair' })).code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe('KubeletService/Exec', () => {
  test('runs in the container: its env, stdin, stdout, stderr and exit code', async () => {
    const { res } = await exec({ namespace: NS, pod: 'pair', container: 'side', command: ['sh', '-c', 'echo $POD_NAME; cat; echo err >&2; exit 7'], stdin: Buffer.from('from stdin\n') });
    expect(Buffer.from(res!.stdout!).toString()).toBe('pair\nfrom stdin\n');
    expect(Buffer.from(res!.stderr!).toString()).toBe('err\n');
    expect(res!.exit_code).toBe(7);
  });

  test('errors: no command INVALID_ARGUMENT, unknown pod NOT_FOUND, container not running FAILED_PRECONDITION, timeout DEADLINE_EXCEEDED', async () => {
    expect((await exec({ namespace: NS, pod: 'pair', container: 'side', command: [] })).err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await exec({ namespace: NS, pod: 'ghost', command: ['true'] })).err?.code).toBe(grpc.status.NOT_FOUND);
    expect((await exec({ namespace: NS, pod: 'never', command: ['true'] })).err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    const slow = await exec({ namespace: NS, pod: 'pair', container: 'side', command: ['sleep', '10'], timeout_seconds: 1 });
    expect(slow.err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });
});

describe('KubeletService/StatsSummary', () => {
  test('CPU and memory of the node and of every running container', async () => {
    await sleep(1200); // the runtime samples about once a second
    const res = await new Promise<StatsSummaryResponse>((resolve, reject) => client.statsSummary({}, (err, r) => (err ? reject(err) : resolve(r))));
    expect(res.node?.node_name).toBe(kubelet.nodeName);
    const pair = res.pods?.find((p) => p.pod_ref?.name === 'pair');
    expect(pair?.containers?.map((c) => c.name).sort()).toEqual(['side', 'web']);
    const web = pair!.containers!.find((c) => c.name === 'web')!;
    expect(Number(web.memory?.working_set_bytes)).toBeGreaterThan(1024 * 1024); // a node process's private resident memory
    expect(Number(web.cpu?.usage_core_nano_seconds)).toBeGreaterThan(0);
    expect(Number(res.node?.memory?.working_set_bytes)).toBeGreaterThanOrEqual(Number(pair!.memory?.working_set_bytes));
  });
});

describe('KubeletService/RunningPods', () => {
  test('lists the pods on this node with phase and IP', async () => {
    const res = await new Promise<RunningPodsResponse>((resolve, reject) => client.runningPods({}, (err, r) => (err ? reject(err) : resolve(r))));
    const pair = res.pods?.find((p) => p.name === 'pair');
    expect(pair).toMatchObject({ namespace: NS, phase: 'Running', containers: ['web', 'side'] });
    expect(pair?.pod_ip).toMatch(/^127\./);
    expect(res.pods?.map((p) => p.name).sort()).toEqual(['never', 'pair', 'talker']);
  });
});
