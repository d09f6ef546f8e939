/**
 * Contract tests of the container runtime's RuntimeService and ImageService, through the generated
 * grpc-js clients, against a real runtime process (test/harness/runtime.ts) whose containers are
 * real processes on pod IPs of a random test range.
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import {
  ContainerConfig,
  ContainerEventResponse,
  ContainerEventType as EventType,
  ContainerLogsRequest,
  ContainerState,
  ContainerStatus,
  ImageServiceClient,
  LogLine,
  PodSandboxState,
  RuntimeServiceClient,
} from '../../services/lib/generated/kubemu/runtime/v1/runtime';
import { Runtime, startRuntime } from '../harness';

let rt: Runtime;
let client: RuntimeServiceClient;
let images: ImageServiceClient;

beforeAll(async () => {
  rt = await startRuntime();
  client = new RuntimeServiceClient(rt.address, grpc.credentials.createInsecure());
  images = new ImageServiceClient(rt.address, grpc.credentials.createInsecure());
}, 60000);

afterAll(async () => {
  client?.close();
  images?.close();
  await rt?.stop();
});

// ---------------------------------------------------------------------------------------------
// helpers

type Cb<Res> = (err: grpc.ServiceError | null, res: Res) => void;

/** Promisifies one unary call of a generated client. */
function call<Req, Res>(c: grpc.Client, method: string, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (c as unknown as Record<string, (r: Req, cb: Cb<Res>) => void>)[method].bind(c);
    fn(req, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

const rpc = {
  runPodSandbox: (name: string, extra: { uid?: string; attempt?: number; labels?: Record<string, string>; hostname?: string } = {}) =>
    call<object, { pod_sandbox_id?: string }>(client, 'runPodSandbox', {
      config: { metadata: { name, namespace: 'default', uid: extra.uid ?? `uid-${name}`, attempt: extra.attempt ?? 0 }, hostname: extra.hostname, labels: extra.labels ?? {} },
    }).then((r) => r.pod_sandbox_id!),
  sandboxStatus: (id: string) => call<object, { status?: { ip?: string; pod_dir?: string; state?: PodSandboxState; hostname?: string } }>(client, 'podSandboxStatus', { pod_sandbox_id: id }).then((r) => r.status!),
  create: (sandboxId: string, config: ContainerConfig) => call<object, { container_id?: string }>(client, 'createContainer', { pod_sandbox_id: sandboxId, config }).then((r) => r.container_id!),
  start: (id: string) => call<object, object>(client, 'startContainer', { container_id: id }),
  stop: (id: string, timeout: number) => call<object, object>(client, 'stopContainer', { container_id: id, timeout }),
  remove: (id: string) => call<object, object>(client, 'removeContainer', { container_id: id }),
  status: (id: string) => call<object, { status?: ContainerStatus }>(client, 'containerStatus', { container_id: id }).then((r) => r.status!),
  exec: (id: string, cmd: string[], timeout = 10, stdin?: Buffer) =>
    call<object, { stdout?: Buffer; stderr?: Buffer; exit_code?: number }>(client, 'execSync', { container_id: id, cmd, timeout, stdin }),
};

async function expectCode(p: Promise<unknown>, code: grpc.status, message?: RegExp | string): Promise<grpc.ServiceError> {
  const err = await p.then(
    () => undefined,
    (e: grpc.ServiceError) => e,
  );
  expect(err).toBeDefined();
  expect({ code: err!.code, details: err!.details }).toEqual({ code, details: expect.stringMatching(message ?? /.*/) });
  return err!;
}

let seq = 0;
/** A fresh sandbox: its id, IP and folder. */
async function sandbox(prefix = 'pod'): Promise<{ id: string; ip: string; podDir: string; uid: string }> {
  const name = `${prefix}-${++seq}`;
  const id = await rpc.runPodSandbox(name);
  const s = await rpc.sandboxStatus(id);
  return { id, ip: s.ip!, podDir: s.pod_dir!, uid: `uid-${name}` };
}

function shell(name: string, script: string, extra: Partial<ContainerConfig> = {}): ContainerConfig {
  return { metadata: { name, attempt: 0 }, image: 'busybox', command: ['sh', '-c', script], ...extra };
}

/** Creates and starts a container; returns its id. */
async function run(sandboxId: string, config: ContainerConfig): Promise<string> {
  const id = await rpc.create(sandboxId, config);
  await rpc.start(id);
  return id;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const waitExited = (id: string, timeoutMs = 10000) =>
  waitFor(`container ${id.slice(0, 12)} to exit`, async () => {
    const s = await rpc.status(id);
    return s.state === ContainerState.CONTAINER_STATE_EXITED && s;
  }, timeoutMs);

function httpGet(host: string, port: number, p = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: p, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

/** All messages of a ContainerLogs stream, joined. */
function logs(req: ContainerLogsRequest, c: RuntimeServiceClient = client): Promise<{ text: string; lines: LogLine[] }> {
  return new Promise((resolve, reject) => {
    const lines: LogLine[] = [];
    const stream = c.containerLogs(req);
    stream.on('data', (m: { lines?: LogLine[] }) => lines.push(...(m.lines ?? [])));
    stream.on('error', reject);
    stream.on('end', () => resolve({ text: lines.map((l) => Buffer.from(l.content ?? []).toString()).join(''), lines }));
  });
}

/** Whether `pid` is a live process (a zombie awaiting its reaper counts as dead). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

// Root may bind nginx's port 80 on a pod IP; anyone else uses 8080.
const NGINX_PORT = process.getuid?.() === 0 ? 80 : 8080;
const nginx = (name: string): ContainerConfig => ({ metadata: { name, attempt: 0 }, image: 'nginx:1.27', envs: NGINX_PORT === 80 ? [] : [{ key: 'PORT', value: '8080' }] });

// ---------------------------------------------------------------------------------------------

describe('RuntimeService/Version', () => {
  test('Version - names the runtime and the CRI version it follows', async () => {
    const v = await call<object, { runtime_name?: string; runtime_api_version?: string; runtime_version?: string }>(client, 'version', {});
    expect(v).toMatchObject({ runtime_name: 'kubemu', runtime_api_version: 'v1' });
    expect(v.runtime_version).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('RuntimeService/Status', () => {
  test('Status - RuntimeReady and NetworkReady, with the node name and its pod range', async () => {
    const s = await call<object, { conditions?: { type?: string; status?: boolean }[]; node_name?: string; pod_cidr?: string }>(client, 'status', {});
    expect(s.conditions).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'RuntimeReady', status: true }), expect.objectContaining({ type: 'NetworkReady', status: true })]),
    );
    expect(s.node_name).toBe('node-1');
    expect(s.pod_cidr).toBe(rt.podCIDR);
  });
});

describe('RuntimeService/RunPodSandbox', () => {
  test('RunPodSandbox - allocates a pod IP in the range and the pod folder; idempotent by uid and attempt', async () => {
    const id = await rpc.runPodSandbox('run-a', { hostname: 'web-0' });
    const again = await rpc.runPodSandbox('run-a');
    expect(again).toBe(id);
    const s = await rpc.sandboxStatus(id);
    const prefix = rt.podCIDR.replace(/\.0\/24$/, '.');
    expect(s.ip!.startsWith(prefix)).toBe(true);
    expect(fs.statSync(s.pod_dir!).isDirectory()).toBe(true);
    expect(s.pod_dir).toBe(path.join(rt.root, 'pods', 'uid-run-a'));
    expect(s.hostname).toBe('web-0');
    // A new attempt of the same pod is a new sandbox with the same IP.
    const next = await rpc.runPodSandbox('run-a', { attempt: 1 });
    expect(next).not.toBe(id);
    expect((await rpc.sandboxStatus(next)).ip).toBe(s.ip);
  });

  test('RunPodSandbox - INVALID_ARGUMENT naming the missing or bad field', async () => {
    await expectCode(call(client, 'runPodSandbox', {}), grpc.status.INVALID_ARGUMENT, /^config is required$/);
    await expectCode(call(client, 'runPodSandbox', { config: { metadata: { name: 'x', namespace: 'default' } } }), grpc.status.INVALID_ARGUMENT, /config\.metadata\.uid is required/);
    await expectCode(call(client, 'runPodSandbox', { config: { metadata: { name: '../x', namespace: 'default', uid: 'u' } } }), grpc.status.INVALID_ARGUMENT, /config\.metadata\.name/);
  });

  test('RunPodSandbox - RESOURCE_EXHAUSTED when the pod range has no free IP; a removed sandbox frees its IP', async () => {
    const n = Math.floor(Math.random() * 64 * 256 * 64);
    const small = await startRuntime({ podCIDR: `127.${64 + (n >> 14)}.${(n >> 6) & 255}.${(n & 63) * 4}/30` });
    const c = new RuntimeServiceClient(small.address, grpc.credentials.createInsecure());
    try {
      const runSandbox = (uid: string) =>
        call<object, { pod_sandbox_id?: string }>(c, 'runPodSandbox', { config: { metadata: { name: uid, namespace: 'default', uid } } }).then((r) => r.pod_sandbox_id!);
      // A /30 holds 4 addresses, 3 when one of them ends in .0 or .255.
      const first = await runSandbox('p0');
      let created = 1;
      for (; created < 4; created++) {
        const ok = await runSandbox(`p${created}`).then(() => true, (e: grpc.ServiceError) => (expect(e.code).toBe(grpc.status.RESOURCE_EXHAUSTED), false));
        if (!ok) break;
      }
      expect(created).toBeGreaterThanOrEqual(3);
      await expectCode(runSandbox('late'), grpc.status.RESOURCE_EXHAUSTED, /no IP addresses available/);
      await call(c, 'removePodSandbox', { pod_sandbox_id: first });
      await runSandbox('late');
    } finally {
      c.close();
      await small.stop();
    }
  });

  test('RunPodSandbox - a malformed request body is INVALID_ARGUMENT', async () => {
    const raw = new grpc.Client(rt.address, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      raw.makeUnaryRequest(
        '/kubemu.runtime.v1.RuntimeService/RunPodSandbox',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0xff, 0xff]),
        (e) => resolve(e!),
      ),
    );
    raw.close();
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe('RuntimeService/StopPodSandbox', () => {
  test('StopPodSandbox - stops the containers (SIGTERM first), releases the IP, forbids new containers; idempotent', async () => {
    const sb = await sandbox('stop');
    const c = await run(sb.id, shell('app', 'trap "echo got-term; exit 0" TERM; echo ready; while true; do sleep 0.05; done'));
    await waitFor('ready', async () => (await logs({ container_id: c, tail_lines: -1 })).text.includes('ready'));
    await call(client, 'stopPodSandbox', { pod_sandbox_id: sb.id });
    const st = await rpc.status(c);
    expect(st).toMatchObject({ state: ContainerState.CONTAINER_STATE_EXITED, exit_code: 0, reason: 'Completed' });
    expect((await logs({ container_id: c, tail_lines: -1 })).text).toContain('got-term');
    const s = await rpc.sandboxStatus(sb.id);
    expect(s).toMatchObject({ state: PodSandboxState.POD_SANDBOX_STATE_NOTREADY, ip: '' });
    await call(client, 'stopPodSandbox', { pod_sandbox_id: sb.id });
    await expectCode(rpc.create(sb.id, shell('late', 'true')), grpc.status.FAILED_PRECONDITION, /not ready/);
  });

  test('StopPodSandbox - NOT_FOUND for an unknown id, INVALID_ARGUMENT without one', async () => {
    await expectCode(call(client, 'stopPodSandbox', { pod_sandbox_id: 'nope' }), grpc.status.NOT_FOUND);
    await expectCode(call(client, 'stopPodSandbox', {}), grpc.status.INVALID_ARGUMENT, /pod_sandbox_id is required/);
  });
});

describe('RuntimeService/RemovePodSandbox', () => {
  test('RemovePodSandbox - kills and removes its containers and deletes the pod folder; unknown ids succeed', async () => {
    const sb = await sandbox('rm');
    const c = await run(sb.id, shell('app', 'sleep 1000'));
    const pid = (await rpc.status(c)).pid!;
    fs.writeFileSync(path.join(sb.podDir, 'data'), 'x');
    await call(client, 'removePodSandbox', { pod_sandbox_id: sb.id });
    expect(alive(pid)).toBe(false);
    expect(fs.existsSync(sb.podDir)).toBe(false);
    await expectCode(rpc.status(c), grpc.status.NOT_FOUND);
    await expectCode(rpc.sandboxStatus(sb.id), grpc.status.NOT_FOUND);
    await call(client, 'removePodSandbox', { pod_sandbox_id: sb.id });
  });
});

describe('RuntimeService/PodSandboxStatus', () => {
  test('PodSandboxStatus - metadata, state, labels; NOT_FOUND for an unknown id', async () => {
    const id = await rpc.runPodSandbox('status-a', { labels: { app: 'web' } });
    const s = (await call<object, { status?: Record<string, unknown> }>(client, 'podSandboxStatus', { pod_sandbox_id: id })).status!;
    expect(s).toMatchObject({ id, metadata: { name: 'status-a', namespace: 'default', uid: 'uid-status-a', attempt: 0 }, state: PodSandboxState.POD_SANDBOX_STATE_READY, labels: { app: 'web' } });
    expect(s.created_at).toBeGreaterThan(Date.now() * 1e3 - 60e6);
    await expectCode(rpc.sandboxStatus('missing'), grpc.status.NOT_FOUND, /not found/);
  });
});

describe('RuntimeService/ListPodSandbox', () => {
  test('ListPodSandbox - filters by id, state and labels', async () => {
    const a = await rpc.runPodSandbox('list-a', { labels: { tier: 'list', which: 'a' } });
    const b = await rpc.runPodSandbox('list-b', { labels: { tier: 'list', which: 'b' } });
    await call(client, 'stopPodSandbox', { pod_sandbox_id: b });
    const list = (f: object) => call<object, { items?: { id?: string }[] }>(client, 'listPodSandbox', { filter: f }).then((r) => (r.items ?? []).map((i) => i.id).sort());
    expect(await list({ label_selector: { tier: 'list' } })).toEqual([a, b].sort());
    expect(await list({ label_selector: { tier: 'list' }, state: PodSandboxState.POD_SANDBOX_STATE_READY })).toEqual([a]);
    expect(await list({ id: b })).toEqual([b]);
    const all = await call<object, { items?: unknown[] }>(client, 'listPodSandbox', {});
    expect(all.items!.length).toBeGreaterThanOrEqual(2);
  });
});

describe('RuntimeService/CreateContainer', () => {
  test('CreateContainer - env (image, pod, runtime variables) and path mapping of volume mounts', async () => {
    const sb = await sandbox('env');
    const vol = path.join(sb.podDir, 'volumes', 'data');
    fs.mkdirSync(vol, { recursive: true });
    fs.writeFileSync(path.join(vol, 'hello.txt'), 'hello from the volume\n');
    const c = await rpc.create(
      sb.id,
      shell('app', 'echo ip=$POD_IP host=$HOSTNAME vol=$KUBEMU_VOLUME_MY_DATA who=$WHO; cat /data/hello.txt; pwd; echo "$KUBEMU_MOUNTS"', {
        envs: [
          { key: 'WHO', value: 'first' },
          { key: 'WHO', value: 'second' },
        ],
        mounts: [{ container_path: '/data/', host_path: vol, volume_name: 'my-data' }],
        working_dir: '/data/work',
      }),
    );
    expect((await rpc.status(c)).state).toBe(ContainerState.CONTAINER_STATE_CREATED);
    await rpc.start(c);
    await waitExited(c);
    const out = (await logs({ container_id: c, tail_lines: -1 })).text.split('\n');
    expect(out[0]).toBe(`ip=${sb.ip} host=env-${seq} vol=${vol} who=second`);
    expect(out[1]).toBe('hello from the volume');
    expect(out[2]).toBe(path.join(vol, 'work'));
    expect(JSON.parse(out[3])).toEqual({ '/data': vol });
  });

  test('CreateContainer - a working_dir outside the mounts is made inside the pod folder', async () => {
    const sb = await sandbox('wd');
    const c = await run(sb.id, shell('app', 'pwd', { working_dir: '/app/src' }));
    await waitExited(c);
    expect((await logs({ container_id: c, tail_lines: -1 })).text).toBe(path.join(sb.podDir, 'containers', 'app', 'rootfs', 'app', 'src') + '\n');
  });

  test('CreateContainer - image errors carry the kubelet reason: ErrImagePull, ErrImageNeverPull, InvalidImageName', async () => {
    const sb = await sandbox('img');
    await expectCode(rpc.create(sb.id, { metadata: { name: 'a' }, image: 'example.com/nothing:1' }), grpc.status.NOT_FOUND, /^ErrImagePull: /);
    await expectCode(rpc.create(sb.id, { metadata: { name: 'b' }, image: 'nothing', image_pull_policy: 'Never' }), grpc.status.FAILED_PRECONDITION, /^ErrImageNeverPull: /);
    await expectCode(rpc.create(sb.id, { metadata: { name: 'c' }, image: 'Bad:Image' }), grpc.status.INVALID_ARGUMENT, /^InvalidImageName: /);
  });

  test('CreateContainer - NOT_FOUND for an unknown sandbox, INVALID_ARGUMENT naming fields, ALREADY_EXISTS for a repeated name and attempt', async () => {
    const sb = await sandbox('val');
    await expectCode(rpc.create('nope', shell('a', 'true')), grpc.status.NOT_FOUND);
    await expectCode(rpc.create(sb.id, { image: 'busybox' }), grpc.status.INVALID_ARGUMENT, /config\.metadata is required/);
    await expectCode(rpc.create(sb.id, { metadata: { name: '' }, image: 'busybox' }), grpc.status.INVALID_ARGUMENT, /config\.metadata\.name is required/);
    await expectCode(rpc.create(sb.id, { metadata: { name: 'a' } }), grpc.status.INVALID_ARGUMENT, /config\.image is required/);
    await expectCode(rpc.create(sb.id, shell('a', 'true', { mounts: [{ container_path: 'rel', host_path: '/tmp' }] })), grpc.status.INVALID_ARGUMENT, /config\.mounts\[0\]\.container_path/);
    await rpc.create(sb.id, shell('dup', 'true'));
    await expectCode(rpc.create(sb.id, shell('dup', 'true')), grpc.status.ALREADY_EXISTS);
  });
});

describe('RuntimeService/StartContainer', () => {
  test('StartContainer - nginx answers HTTP on its pod IP; two pods bind the same port on different IPs', async () => {
    const a = await sandbox('web');
    const b = await sandbox('web');
    const ca = await run(a.id, nginx('nginx'));
    const cb = await run(b.id, nginx('nginx'));
    const ra = await waitFor('nginx a', () => httpGet(a.ip, NGINX_PORT, '/').catch(() => undefined));
    const rb = await waitFor('nginx b', () => httpGet(b.ip, NGINX_PORT, '/').catch(() => undefined));
    expect(ra.status).toBe(200);
    expect(rb.status).toBe(200);
    expect(ra.body).toContain(`web-${seq - 1}`);
    expect(rb.body).toContain(`web-${seq}`);
    const st = await rpc.status(ca);
    expect(st).toMatchObject({ state: ContainerState.CONTAINER_STATE_RUNNING, reason: '' });
    expect(st.pid).toBeGreaterThan(0);
    expect(st.started_at).toBeGreaterThan(0);
    await expectCode(rpc.start(ca), grpc.status.FAILED_PRECONDITION, /not CREATED/);
    await rpc.stop(ca, 5);
    await rpc.stop(cb, 5);
    expect(await rpc.status(ca)).toMatchObject({ state: ContainerState.CONTAINER_STATE_EXITED, exit_code: 0, reason: 'Completed' });
  });

  test('StartContainer - a missing executable fails with StartError and leaves the container EXITED (128)', async () => {
    const sb = await sandbox('starterr');
    const c = await rpc.create(sb.id, { metadata: { name: 'app' }, image: 'busybox', command: ['no-such-binary-kubemu'] });
    await expectCode(rpc.start(c), grpc.status.FAILED_PRECONDITION, /^StartError: .*no-such-binary-kubemu.*executable file not found/);
    expect(await rpc.status(c)).toMatchObject({ state: ContainerState.CONTAINER_STATE_EXITED, exit_code: 128, reason: 'StartError' });
    await expectCode(rpc.start('nope'), grpc.status.NOT_FOUND);
  });

  test('StartContainer - a container dies with its runtime-started group: children are killed when it exits', async () => {
    const sb = await sandbox('group');
    const c = await run(sb.id, shell('app', 'sleep 1000 & echo child=$!; sleep 0.3; exit 3'));
    const st = await waitExited(c);
    expect(st).toMatchObject({ exit_code: 3, reason: 'Error' });
    const child = Number(/child=(\d+)/.exec((await logs({ container_id: c, tail_lines: -1 })).text)![1]);
    await waitFor('orphan killed', async () => !alive(child));
  });
});

describe('RuntimeService/StopContainer', () => {
  test('StopContainer - SIGTERM is honoured; an ignored SIGTERM ends in SIGKILL after the timeout (137)', async () => {
    const sb = await sandbox('grace');
    const polite = await run(sb.id, shell('polite', 'trap "exit 7" TERM; echo up; while true; do sleep 0.05; done'));
    const stubborn = await run(sb.id, shell('stubborn', 'trap "" TERM; echo up; while true; do sleep 0.05; done'));
    await waitFor('both up', async () => (await logs({ container_id: stubborn, tail_lines: -1 })).text.includes('up') && (await logs({ container_id: polite, tail_lines: -1 })).text.includes('up'));
    await rpc.stop(polite, 10);
    expect(await rpc.status(polite)).toMatchObject({ state: ContainerState.CONTAINER_STATE_EXITED, exit_code: 7, reason: 'Error' });
    const started = Date.now();
    await rpc.stop(stubborn, 1);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(5000);
    expect(await rpc.status(stubborn)).toMatchObject({ state: ContainerState.CONTAINER_STATE_EXITED, exit_code: 137, reason: 'Error' });
    // Idempotent on an exited container.
    await rpc.stop(stubborn, 1);
  });

  test('StopContainer - timeout 0 kills at once; NOT_FOUND for an unknown id', async () => {
    const sb = await sandbox('kill');
    const c = await run(sb.id, shell('app', 'trap "" TERM; sleep 1000'));
    const started = Date.now();
    await rpc.stop(c, 0);
    expect(Date.now() - started).toBeLessThan(3000);
    expect((await rpc.status(c)).exit_code).toBe(137);
    await expectCode(rpc.stop('nope', 0), grpc.status.NOT_FOUND);
  });
});

describe('RuntimeService/RemoveContainer', () => {
  test('RemoveContainer - FAILED_PRECONDITION while running; removes an exited one and its log; idempotent', async () => {
    const sb = await sandbox('rmc');
    const c = await run(sb.id, shell('app', 'echo hi; sleep 1000'));
    await expectCode(rpc.remove(c), grpc.status.FAILED_PRECONDITION, /running/);
    const logPath = (await rpc.status(c)).log_path!;
    await rpc.stop(c, 0);
    expect(fs.existsSync(logPath)).toBe(true);
    await rpc.remove(c);
    expect(fs.existsSync(logPath)).toBe(false);
    await expectCode(rpc.status(c), grpc.status.NOT_FOUND);
    await rpc.remove(c);
  });
});

describe('RuntimeService/ListContainers', () => {
  test('ListContainers - filters by sandbox, state, id and labels', async () => {
    const sb = await sandbox('lc');
    const a = await rpc.create(sb.id, shell('a', 'sleep 1000', { labels: { role: 'a' } }));
    const b = await run(sb.id, shell('b', 'sleep 1000', { labels: { role: 'b' } }));
    const list = (f: object) => call<object, { containers?: { id?: string; state?: ContainerState; metadata?: { name?: string } }[] }>(client, 'listContainers', { filter: f }).then((r) => r.containers ?? []);
    expect((await list({ pod_sandbox_id: sb.id })).map((c) => c.id).sort()).toEqual([a, b].sort());
    expect((await list({ pod_sandbox_id: sb.id, state: ContainerState.CONTAINER_STATE_RUNNING })).map((c) => c.id)).toEqual([b]);
    expect((await list({ label_selector: { role: 'a' }, pod_sandbox_id: sb.id })).map((c) => c.metadata?.name)).toEqual(['a']);
    expect((await list({ id: a }))[0]).toMatchObject({ id: a, state: ContainerState.CONTAINER_STATE_CREATED });
    await rpc.stop(b, 0);
  });
});

describe('RuntimeService/ContainerStatus', () => {
  test('ContainerStatus - Completed for exit 0, Error with the code otherwise, the CRI log path', async () => {
    const sb = await sandbox('cs');
    const ok = await run(sb.id, shell('ok', 'exit 0'));
    const bad = await run(sb.id, { ...shell('bad', 'exit 42'), metadata: { name: 'bad', attempt: 3 } });
    expect(await waitExited(ok)).toMatchObject({ exit_code: 0, reason: 'Completed', pid: 0 });
    const b = await waitExited(bad);
    expect(b).toMatchObject({ exit_code: 42, reason: 'Error', metadata: { name: 'bad', attempt: 3 }, image: 'busybox', pod_sandbox_id: sb.id });
    expect(b.finished_at).toBeGreaterThanOrEqual(b.started_at!);
    expect(b.image_ref).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b.log_path).toBe(path.join(rt.root, 'logs', `default_cs-${seq}_uid-cs-${seq}`, 'bad', '3.log'));
    await expectCode(rpc.status('nope'), grpc.status.NOT_FOUND);
  });

  test('ContainerStatus - a container over its memory limit is OOMKilled (137)', async () => {
    const sb = await sandbox('oom');
    const hog = 'const a = []; setInterval(() => { for (let i = 0; i < 4; i++) a.push(Buffer.alloc(4 << 20, 1)); }, 20);';
    const c = await run(sb.id, { metadata: { name: 'hog' }, image: 'node:20', command: ['node', '-e', hog], memory_limit_bytes: 64 * 1024 * 1024 });
    const st = await waitExited(c, 15000);
    expect(st).toMatchObject({ exit_code: 137, reason: 'OOMKilled' });
    // Memory of the whole group counts: here the hog is a child of the container's shell.
    // Slower, since a child is found by the full /proc pass (about every 2 s), not the fast check.
    const slowHog = 'const a = []; setInterval(() => a.push(Buffer.alloc(4 << 20, 1)), 50);';
    const viaShell = await run(sb.id, { ...shell('hog-child', `node -e '${slowHog}'; echo survived`), memory_limit_bytes: 64 * 1024 * 1024 });
    expect(await waitExited(viaShell, 15000)).toMatchObject({ exit_code: 137, reason: 'OOMKilled' });
    expect((await logs({ container_id: viaShell, tail_lines: -1 })).text).not.toContain('survived');
  });
});

describe('RuntimeService/ContainerLogs', () => {
  let sb: { id: string };
  let c: string;
  beforeAll(async () => {
    sb = await sandbox('logs');
    // stdout and stderr are separate pipes: only output apart in time has a defined order.
    c = await run(sb.id, shell('app', 'echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three; printf partial'));
    await waitExited(c);
  });

  test('ContainerLogs - stdout and stderr in order, with their streams; a last line without newline stays partial', async () => {
    const { text, lines } = await logs({ container_id: c, tail_lines: -1 });
    expect(text).toBe('one\ntwo\nthree\npartial');
    expect(lines.map((l) => l.stream)).toEqual(['stdout', 'stderr', 'stdout', 'stdout']);
    expect(lines[0].time).toBeGreaterThan(Date.now() * 1e3 - 60e6);
    const file = fs.readFileSync((await rpc.status(c)).log_path!, 'utf8');
    expect(file).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout F one\n/);
    expect(file).toMatch(/ stderr F two\n/);
    expect(file).toMatch(/ stdout P partial\n$/);
  });

  test('ContainerLogs - tail_lines, timestamps, limit_bytes, since_time', async () => {
    expect((await logs({ container_id: c, tail_lines: 2 })).text).toBe('three\npartial');
    expect((await logs({ container_id: c, tail_lines: 0 })).text).toBe('');
    const ts = (await logs({ container_id: c, tail_lines: 1, timestamps: true })).text;
    expect(ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z partial$/);
    expect((await logs({ container_id: c, tail_lines: -1, limit_bytes: 6 })).text).toBe('one\ntw');
    expect((await logs({ container_id: c, tail_lines: -1, since_time: Date.now() * 1e3 + 60e6 })).text).toBe('');
  });

  test('ContainerLogs - follow streams new lines until the container exits', async () => {
    const f = await run(sb.id, shell('follow', 'for i in 1 2 3; do echo line-$i; sleep 0.2; done'));
    const started = Date.now();
    const { text } = await logs({ container_id: f, tail_lines: -1, follow: true });
    expect(text).toBe('line-1\nline-2\nline-3\n');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  test('ContainerLogs - follow ends when the client cancels; the log of a previous instance stays readable by its id', async () => {
    const f = await run(sb.id, shell('forever', 'echo start; sleep 1000'));
    const got = await new Promise<string>((resolve) => {
      const stream = client.containerLogs({ container_id: f, tail_lines: -1, follow: true });
      stream.on('data', (m: { lines?: LogLine[] }) => {
        resolve(Buffer.from(m.lines![0].content!).toString());
        stream.cancel();
      });
      stream.on('error', () => undefined);
    });
    expect(got).toBe('start\n');
    await rpc.stop(f, 0);
    const next = await run(sb.id, { ...shell('forever', 'echo second'), metadata: { name: 'forever', attempt: 1 } });
    await waitExited(next);
    expect((await logs({ container_id: f, tail_lines: -1 })).text).toBe('start\n');
    expect((await logs({ container_id: next, tail_lines: -1 })).text).toBe('second\n');
    await expectCode(logs({ container_id: 'nope' }), grpc.status.NOT_FOUND);
  });

  test('ContainerLogs - a new sandbox of the same pod reusing a container name and attempt gets a log of its own', async () => {
    const first = await rpc.runPodSandbox('relog');
    const a = await run(first, shell('app', 'echo from-first'));
    await waitExited(a);
    const second = await rpc.runPodSandbox('relog', { attempt: 1 });
    const b = await run(second, shell('app', 'echo from-second'));
    await waitExited(b);
    expect((await logs({ container_id: a, tail_lines: -1 })).text).toBe('from-first\n');
    expect((await logs({ container_id: b, tail_lines: -1 })).text).toBe('from-second\n');
    const [pa, pb] = [(await rpc.status(a)).log_path!, (await rpc.status(b)).log_path!];
    expect(pb).not.toBe(pa);
    expect(path.dirname(pb)).toBe(path.dirname(pa));
    await rpc.remove(a);
    expect(fs.existsSync(pa)).toBe(false);
    expect(fs.existsSync(pb)).toBe(true);
  });
});

describe('RuntimeService/ExecSync', () => {
  let c: string;
  let ip: string;
  beforeAll(async () => {
    const sb = await sandbox('exec');
    ip = sb.ip;
    c = await run(sb.id, shell('app', 'sleep 1000', { envs: [{ key: 'GREETING', value: 'hello' }] }));
  });
  afterAll(async () => {
    await rpc.stop(c, 0);
  });

  test('ExecSync - stdout, stderr and exit code in the container environment; stdin', async () => {
    const r = await rpc.exec(c, ['sh', '-c', 'echo $GREETING $POD_IP; echo oops >&2; exit 4']);
    expect(Buffer.from(r.stdout!).toString()).toBe(`hello ${ip}\n`);
    expect(Buffer.from(r.stderr!).toString()).toBe('oops\n');
    expect(r.exit_code).toBe(4);
    const cat = await rpc.exec(c, ['cat'], 10, Buffer.from('from stdin'));
    expect(Buffer.from(cat.stdout!).toString()).toBe('from stdin');
    expect(cat.exit_code).toBe(0);
  });

  test('ExecSync - arguments are path-mapped before the command is resolved: a script on a volume runs by its container path', async () => {
    const sb = await sandbox('execvol');
    const vol = path.join(sb.podDir, 'volumes', 'scripts');
    fs.mkdirSync(vol, { recursive: true });
    fs.writeFileSync(path.join(vol, 'check.sh'), '#!/bin/sh\necho "checked $1 in $(pwd)"\n', { mode: 0o755 });
    const c = await run(sb.id, shell('app', 'sleep 1000', { mounts: [{ container_path: '/scripts', host_path: vol, volume_name: 'scripts' }], working_dir: '/scripts' }));
    const r = await rpc.exec(c, ['/scripts/check.sh', '/scripts/x']);
    expect(Buffer.from(r.stderr!).toString()).toBe('');
    expect(Buffer.from(r.stdout!).toString()).toBe(`checked ${vol}/x in ${vol}\n`);
    expect(r.exit_code).toBe(0);
    await rpc.stop(c, 0);
  });

  test('ExecSync - a missing command exits 126; timeout is DEADLINE_EXCEEDED and kills the command', async () => {
    const missing = await rpc.exec(c, ['no-such-command-kubemu']);
    expect(missing.exit_code).toBe(126);
    expect(Buffer.from(missing.stderr!).toString()).toMatch(/executable file not found/);
    const started = Date.now();
    await expectCode(rpc.exec(c, ['sh', '-c', 'sleep 30'], 1), grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test('ExecSync - FAILED_PRECONDITION for a container not running, INVALID_ARGUMENT without cmd', async () => {
    const sb = await sandbox('exec2');
    const created = await rpc.create(sb.id, shell('idle', 'true'));
    await expectCode(rpc.exec(created, ['true']), grpc.status.FAILED_PRECONDITION, /not running/);
    await expectCode(rpc.exec(c, []), grpc.status.INVALID_ARGUMENT, /cmd is required/);
    await expectCode(rpc.exec('nope', ['true']), grpc.status.NOT_FOUND);
  });
});

describe('RuntimeService/ContainerStats', () => {
  test('ContainerStats - CPU time grows for a busy container; resident memory is reported', async () => {
    const sb = await sandbox('stats');
    const c = await run(sb.id, { metadata: { name: 'busy' }, image: 'node', command: ['node', '-e', 'for(;;){}'] });
    const get = () => call<object, { stats?: { cpu?: { usage_core_nano_seconds?: number; usage_nano_cores?: number }; memory?: { rss_bytes?: number; working_set_bytes?: number } } }>(client, 'containerStats', { container_id: c }).then((r) => r.stats!);
    await new Promise((r) => setTimeout(r, 300));
    const first = await get();
    await new Promise((r) => setTimeout(r, 500));
    const second = await get();
    expect(second.cpu!.usage_core_nano_seconds!).toBeGreaterThan(first.cpu!.usage_core_nano_seconds!);
    // A busy loop uses a core when it has one; on a loaded test machine only "some" is certain.
    expect(second.cpu!.usage_nano_cores!).toBeGreaterThan(0);
    expect(second.cpu!.usage_nano_cores!).toBeLessThanOrEqual(1.2e9 * os.cpus().length);
    // Private memory only: the node binary's shared, file-backed pages do not count.
    expect(second.memory!.rss_bytes!).toBeGreaterThan(1024 * 1024);
    expect(second.memory!.rss_bytes!).toBeLessThan(40 * 1024 * 1024);
    expect(second.memory!.working_set_bytes).toBe(second.memory!.rss_bytes);
    await rpc.stop(c, 0);
    await expectCode(call(client, 'containerStats', { container_id: 'nope' }), grpc.status.NOT_FOUND);
  });
});

describe('RuntimeService/ListContainerStats', () => {
  test('ListContainerStats - one entry per selected container', async () => {
    const sb = await sandbox('lstats');
    const a = await run(sb.id, shell('a', 'sleep 1000'));
    const b = await run(sb.id, shell('b', 'sleep 1000'));
    const r = await call<object, { stats?: { container_id?: string; memory?: { rss_bytes?: number } }[] }>(client, 'listContainerStats', { filter: { pod_sandbox_id: sb.id } });
    expect(r.stats!.map((s) => s.container_id).sort()).toEqual([a, b].sort());
    expect(r.stats!.every((s) => s.memory!.rss_bytes! > 0)).toBe(true);
    await call(client, 'stopPodSandbox', { pod_sandbox_id: sb.id });
  });
});

describe('RuntimeService/GetContainerEvents', () => {
  test('GetContainerEvents - CREATED, STARTED, STOPPED, DELETED with the pod uid, to every subscriber', async () => {
    // The runtime sends the stream's headers once the subscription is in place.
    const subscribe = async () => {
      const events: ContainerEventResponse[] = [];
      const stream = client.getContainerEvents({});
      stream.on('data', (e: ContainerEventResponse) => events.push(e));
      stream.on('error', () => undefined);
      await new Promise((resolve) => stream.once('metadata', resolve));
      return { events, stream };
    };
    const s1 = await subscribe();
    const s2 = await subscribe();
    const sb = await sandbox('events');
    const c = await run(sb.id, shell('app', 'sleep 0.2'));
    await waitExited(c);
    await rpc.remove(c);
    for (const s of [s1, s2]) {
      const mine = await waitFor('4 events', async () => {
        const m = s.events.filter((e) => e.container_id === c);
        return m.length === 4 && m;
      });
      expect(mine.map((e) => e.container_event_type)).toEqual([
        EventType.CONTAINER_EVENT_TYPE_CREATED,
        EventType.CONTAINER_EVENT_TYPE_STARTED,
        EventType.CONTAINER_EVENT_TYPE_STOPPED,
        EventType.CONTAINER_EVENT_TYPE_DELETED,
      ]);
      expect(mine.every((e) => e.pod_uid === sb.uid && e.pod_sandbox_id === sb.id && e.created_at! > 0)).toBe(true);
      s.stream.cancel();
    }
  });
});

describe('ImageService/PullImage', () => {
  test('PullImage - catalog images resolve to a stable id; ErrImagePull, ErrImageNeverPull, InvalidImageName', async () => {
    const pull = (image: string, pull_policy = '') => call<object, { image_ref?: string }>(images, 'pullImage', { image: { image }, pull_policy });
    const a = await pull('nginx:1.27');
    const b = await pull('docker.io/library/nginx:latest', 'Always');
    expect(a.image_ref).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b.image_ref).toBe(a.image_ref);
    await expectCode(pull('quay.io/nothing/here:1'), grpc.status.NOT_FOUND, /^ErrImagePull: .*not in kubemu's local catalog/);
    await expectCode(pull('nothing', 'Never'), grpc.status.FAILED_PRECONDITION, /^ErrImageNeverPull: /);
    await expectCode(pull('UPPER/case'), grpc.status.INVALID_ARGUMENT, /^InvalidImageName: /);
    await expectCode(call(images, 'pullImage', {}), grpc.status.INVALID_ARGUMENT, /image\.image is required/);
  });
});

describe('ImageService/ListImages', () => {
  test('ListImages - the built-in images with ids, names and sizes', async () => {
    const r = await call<object, { images?: { id?: string; repo_tags?: string[]; size?: number; catalog_name?: string }[] }>(images, 'listImages', {});
    const nginxImage = r.images!.find((i) => i.catalog_name === 'nginx');
    expect(nginxImage).toMatchObject({ repo_tags: ['docker.io/library/nginx:latest'] });
    expect(nginxImage!.size).toBeGreaterThan(0);
    expect(r.images!.map((i) => i.catalog_name)).toEqual(expect.arrayContaining(['nginx', 'busybox', 'node']));
  });
});

describe('ImageService/ImageStatus', () => {
  test('ImageStatus - a catalog image, no image for an unknown one, INVALID_ARGUMENT for bad syntax', async () => {
    const status = (image: string) => call<object, { image?: { id?: string; catalog_name?: string; repo_tags?: string[] } }>(images, 'imageStatus', { image: { image } });
    expect((await status('busybox:1.36')).image).toMatchObject({ catalog_name: 'busybox', repo_tags: ['docker.io/library/busybox:1.36'] });
    expect((await status('example.com/unknown:1')).image).toBeUndefined();
    await expectCode(status('Bad:Image'), grpc.status.INVALID_ARGUMENT, /^InvalidImageName: /);
  });
});

describe('runtime - restart', () => {
  let other: Runtime;
  let rc: RuntimeServiceClient;
  const connect = () => (rc = new RuntimeServiceClient(other.address, grpc.credentials.createInsecure()));
  beforeAll(async () => {
    other = await startRuntime();
    connect();
  });
  afterAll(async () => {
    rc?.close();
    await other?.stop();
  });

  /** Runs `sh -c script` in a new sandbox of `other`; returns the ids and the pids the script printed as pid=<n>. */
  async function runThere(name: string, script: string): Promise<{ sbId: string; cid: string; leader: number; child: number }> {
    const sbId = await call<object, { pod_sandbox_id?: string }>(rc, 'runPodSandbox', { config: { metadata: { name, namespace: 'default', uid: `uid-${name}` } } }).then((r) => r.pod_sandbox_id!);
    const cid = await call<object, { container_id?: string }>(rc, 'createContainer', { pod_sandbox_id: sbId, config: shell('app', script) }).then((r) => r.container_id!);
    await call(rc, 'startContainer', { container_id: cid });
    const leader = (await call<object, { status?: ContainerStatus }>(rc, 'containerStatus', { container_id: cid })).status!.pid!;
    const child = await waitFor('child pid', async () => Number(/child=(\d+)/.exec((await logs({ container_id: cid, tail_lines: -1 }, rc)).text)?.[1] ?? 0));
    return { sbId, cid, leader, child };
  }

  test('runtime - SIGKILLed, its containers die with it; restarted, they are EXITED (Error, 255), their leftovers are killed, the sandbox keeps its IP', async () => {
    const { sbId, cid, leader, child } = await runThere('survivor', 'echo before; sleep 1000 & echo child=$!; wait');
    const ip = (await call<object, { status?: { ip?: string } }>(rc, 'podSandboxStatus', { pod_sandbox_id: sbId })).status!.ip;
    expect(alive(leader) && alive(child)).toBe(true);
    rc.close();
    await other.kill('SIGKILL');
    // pdeathsig takes the container's process down with the runtime ...
    await waitFor('container process gone', async () => !alive(leader), 5000);
    await other.start();
    connect();
    // ... and the next instance kills what the container had started.
    await waitFor('leftover child killed', async () => !alive(child), 5000);
    const st = (await call<object, { status?: ContainerStatus }>(rc, 'containerStatus', { container_id: cid })).status!;
    expect(st).toMatchObject({ state: ContainerState.CONTAINER_STATE_EXITED, exit_code: 255, reason: 'Error', message: 'container runtime restarted', pid: 0 });
    const sb = (await call<object, { status?: { state?: PodSandboxState; ip?: string } }>(rc, 'podSandboxStatus', { pod_sandbox_id: sbId })).status!;
    expect(sb).toMatchObject({ state: PodSandboxState.POD_SANDBOX_STATE_READY, ip });
    expect((await logs({ container_id: cid, tail_lines: -1 }, rc)).text).toMatch(/^before\nchild=\d+\n$/);
  });

  test('runtime - SIGTERM kills every container process group, then the runtime exits', async () => {
    const { leader, child } = await runThere('terminated', 'sleep 1000 & echo child=$!; wait');
    rc.close();
    await other.kill('SIGTERM');
    expect(other.running).toBe(false);
    expect(other.logs(20)).toMatch(/"msg":"shutting down".*"signal":"SIGTERM"/);
    await waitFor('container processes gone', async () => !alive(leader) && !alive(child), 5000);
    await other.start();
    connect();
  });
});
