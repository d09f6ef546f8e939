/**
 * The kubelet's probes: one attempt against real local HTTP and TCP servers (wording as
 * Kubernetes), and the manager's workers (thresholds, delays, startup gating, restarts, disposal)
 * with periods shrunk by secondsToMs.
 */
import * as http from 'http';
import * as net from 'net';
import type { AddressInfo } from 'net';
import type { Container, Pod, Probe } from '../../services/lib/generated/kubemu/core/v1/core';
import { ExecResult, runProbe } from '../../services/kubelet/prober/probe';
import { ProbeManager, ProbeManagerOptions } from '../../services/kubelet/prober/manager';
import { ProbeResult, ProbeType, effectiveProbe } from '../../services/kubelet/prober/worker';

const HOST = '127.0.0.1';
const servers: (http.Server | net.Server)[] = [];
const sockets = new Set<net.Socket>();

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

async function listen<S extends http.Server | net.Server>(server: S): Promise<number> {
  server.on('connection', (sock: net.Socket) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()));
  return (server.address() as AddressInfo).port;
}

/** An HTTP server answering with `handler`; records the requests it saw. */
async function httpServer(handler: http.RequestListener) {
  const seen: http.IncomingMessage[] = [];
  const port = await listen(
    http.createServer((req, res) => {
      seen.push(req);
      handler(req, res);
    }),
  );
  return { port, seen };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, HOST, () => resolve()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const container = (extra: Partial<Container> = {}): Container => ({ name: 'app', image: 'nginx', ...extra });
const target = (c: Container = container()) => ({ podIP: HOST, container: c });
const opts = {}; // real seconds: ample for loopback
const fast = { secondsToMs: 100 }; // for the timeout tests

async function waitFor(cond: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('runProbe - httpGet', () => {
  test('httpGet - 200 is success; the request carries kube-probe headers and the probe\'s own', async () => {
    const { port, seen } = await httpServer((_req, res) => res.end('ok'));
    const probe: Probe = {
      httpGet: { path: '/healthz', port, httpHeaders: [{ name: 'X-Custom', value: 'v' }, { name: 'Host', value: 'example.test' }] },
    };
    const out = await runProbe(probe, target(), undefined, opts);
    expect(out).toEqual({ result: 'success', message: 'ok' });
    expect(seen[0].url).toBe('/healthz');
    expect(seen[0].headers['user-agent']).toBe('kube-probe/1.32');
    expect(seen[0].headers['accept']).toBe('*/*');
    expect(seen[0].headers['x-custom']).toBe('v');
    expect(seen[0].headers['host']).toBe('example.test');
  });

  test('httpGet - 399 is success, 400 and 500 are failures worded as Kubernetes', async () => {
    let code = 399;
    const { port } = await httpServer((_req, res) => {
      res.statusCode = code;
      res.end();
    });
    const probe: Probe = { httpGet: { path: '/', port } };
    expect((await runProbe(probe, target(), undefined, opts)).result).toBe('success');
    code = 400;
    expect(await runProbe(probe, target(), undefined, opts)).toEqual({ result: 'failure', message: 'HTTP probe failed with statuscode: 400' });
    code = 500;
    expect(await runProbe(probe, target(), undefined, opts)).toEqual({ result: 'failure', message: 'HTTP probe failed with statuscode: 500' });
  });

  test('httpGet - a redirect to the same host is followed; the final answer counts', async () => {
    const { port, seen } = await httpServer((req, res) => {
      if (req.url === '/old') {
        res.writeHead(302, { location: '/new' });
        res.end();
      } else {
        res.statusCode = req.url === '/new' ? 503 : 200;
        res.end();
      }
    });
    const out = await runProbe({ httpGet: { path: '/old', port } }, target(), undefined, opts);
    expect(out).toEqual({ result: 'failure', message: 'HTTP probe failed with statuscode: 503' });
    expect(seen.map((r) => r.url)).toEqual(['/old', '/new']);
    expect(seen[1].headers['user-agent']).toBe('kube-probe/1.32');
  });

  test('httpGet - a redirect to another host is not followed: success with a warning', async () => {
    const { port, seen } = await httpServer((_req, res) => {
      res.writeHead(301, { location: `http://localhost:${port}/elsewhere` });
      res.end('moved');
    });
    const out = await runProbe({ httpGet: { path: '/', port } }, target(), undefined, opts);
    expect(out).toEqual({ result: 'success', message: 'moved', warning: true });
    expect(seen).toHaveLength(1);
  });

  test('httpGet - a redirect loop stops after 10 requests', async () => {
    const { port, seen } = await httpServer((req, res) => {
      const n = Number(req.url!.slice(1)) || 0;
      res.writeHead(302, { location: `/${n + 1}` });
      res.end();
    });
    const out = await runProbe({ httpGet: { path: '/0', port } }, target(), undefined, opts);
    expect(out).toEqual({ result: 'failure', message: `Get "http://${HOST}:${port}/10": stopped after 10 redirects` });
    expect(seen).toHaveLength(10);
  });

  test('httpGet - no answer within timeoutSeconds is a failure: Client.Timeout exceeded while awaiting headers', async () => {
    const { port } = await httpServer(() => undefined); // never answers
    const started = Date.now();
    const out = await runProbe({ httpGet: { path: '/slow', port }, timeoutSeconds: 2 }, target(), undefined, fast);
    expect(out).toEqual({
      result: 'failure',
      message: `Get "http://${HOST}:${port}/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
    });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(1000);
  });

  test('httpGet - connection refused, worded as Go', async () => {
    const port = await closedPort();
    const out = await runProbe({ httpGet: { path: '/healthz', port } }, target(), undefined, opts);
    expect(out).toEqual({ result: 'failure', message: `Get "http://${HOST}:${port}/healthz": dial tcp ${HOST}:${port}: connect: connection refused` });
    const noPath = await runProbe({ httpGet: { port } }, target(), undefined, opts);
    expect(noPath.message).toBe(`Get "http://${HOST}:${port}": dial tcp ${HOST}:${port}: connect: connection refused`);
  });

  test('httpGet - a named port resolves through the container\'s ports; an unknown name errors', async () => {
    const { port } = await httpServer((_req, res) => res.end());
    const c = container({ ports: [{ name: 'http', containerPort: port }] });
    expect((await runProbe({ httpGet: { path: '/', port: 'http' } }, target(c), undefined, opts)).result).toBe('success');
    expect((await runProbe({ httpGet: { path: '/', port: String(port) } }, target(c), undefined, opts)).result).toBe('success');
    expect(await runProbe({ httpGet: { path: '/', port: 'metrics' } }, target(c), undefined, opts)).toEqual({
      result: 'unknown',
      message: 'strconv.Atoi: parsing "metrics": invalid syntax',
    });
    expect(await runProbe({ httpGet: { path: '/', port: 0 } }, target(c), undefined, opts)).toEqual({ result: 'unknown', message: 'invalid port number: 0' });
  });

  test('httpGet - host defaults to the pod IP; an explicit host wins', async () => {
    const { port } = await httpServer((_req, res) => res.end());
    expect((await runProbe({ httpGet: { port } }, { podIP: '127.0.0.1', container: container() }, undefined, opts)).result).toBe('success');
    const refused = await runProbe({ httpGet: { port, host: '127.0.0.1' } }, { podIP: '127.0.0.2', container: container() }, undefined, opts);
    expect(refused.result).toBe('success');
  });

  test('httpGet - aborting the signal ends the attempt at once', async () => {
    const { port } = await httpServer(() => undefined);
    const abort = new AbortController();
    const pending = runProbe({ httpGet: { port }, timeoutSeconds: 10 }, target(), undefined, { signal: abort.signal });
    setTimeout(() => abort.abort(), 20);
    expect(await pending).toEqual({ result: 'unknown', message: 'probe cancelled' });
  });
});

describe('runProbe - tcpSocket, exec, grpc', () => {
  test('tcpSocket - a connection is success; refused is worded as Go', async () => {
    const port = await listen(net.createServer((s) => s.end()));
    expect(await runProbe({ tcpSocket: { port } }, target(), undefined, opts)).toEqual({ result: 'success', message: '' });
    const closed = await closedPort();
    expect(await runProbe({ tcpSocket: { port: closed } }, target(), undefined, opts)).toEqual({
      result: 'failure',
      message: `dial tcp ${HOST}:${closed}: connect: connection refused`,
    });
  });

  test('exec - exit 0 is success, non-zero a failure with the output', async () => {
    const calls: [string[], number][] = [];
    const exec = async (command: string[], timeoutSeconds: number): Promise<ExecResult> => {
      calls.push([command, timeoutSeconds]);
      return command[1] === 'ok'
        ? { exitCode: 0, stdout: 'fine\n', stderr: '' }
        : { exitCode: 1, stdout: '', stderr: "cat: can't open '/tmp/healthy': No such file or directory\n" };
    };
    expect(await runProbe({ exec: { command: ['echo', 'ok'] }, timeoutSeconds: 3 }, target(), exec, fast)).toEqual({ result: 'success', message: 'fine\n' });
    expect(await runProbe({ exec: { command: ['cat', '/tmp/healthy'] } }, target(), exec, fast)).toEqual({
      result: 'failure',
      message: "cat: can't open '/tmp/healthy': No such file or directory\n",
    });
    expect(calls).toEqual([
      [['echo', 'ok'], 3],
      [['cat', '/tmp/healthy'], 1],
    ]);
  });

  test('exec - a timeout is a failure: command "..." timed out, whichever way it is reported', async () => {
    const cmd = { exec: { command: ['sleep', '10'] } };
    const want = { result: 'failure', message: 'command "sleep 10" timed out' };
    expect(await runProbe(cmd, target(), async () => ({ exitCode: -1, stdout: '', stderr: '', timedOut: true }), fast)).toEqual(want);
    expect(await runProbe(cmd, target(), () => Promise.reject(Object.assign(new Error('deadline'), { code: 4 })), fast)).toEqual(want);
    // A runner that never answers is cut off after the timeout plus a second.
    const started = Date.now();
    expect(await runProbe(cmd, target(), () => new Promise<ExecResult>(() => undefined), fast)).toEqual(want);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('exec - a broken runner or no runner makes the attempt unknown', async () => {
    const cmd = { exec: { command: ['true'] } };
    expect(await runProbe(cmd, target(), () => Promise.reject(new Error('container not found')), fast)).toEqual({
      result: 'unknown',
      message: 'container not found',
    });
    expect((await runProbe(cmd, target(), undefined, opts)).result).toBe('unknown');
    expect((await runProbe({}, target(), undefined, opts)).result).toBe('unknown');
  });

  test('grpc - unsupported, answered as a failure with a message', async () => {
    const out = await runProbe({ grpc: { port: 9090 } }, target(), undefined, opts);
    expect(out.result).toBe('failure');
    expect(out.message).toMatch(/gRPC probe is not supported/);
  });

  test('defaults - period 10, timeout 1, thresholds 1 and 3; success threshold forced to 1 for liveness', () => {
    expect(effectiveProbe({}, 'readiness')).toMatchObject({ periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3, initialDelaySeconds: 0 });
    expect(effectiveProbe({ successThreshold: 3 }, 'liveness').successThreshold).toBe(1);
    expect(effectiveProbe({ successThreshold: 3, periodSeconds: 0 }, 'readiness')).toMatchObject({ successThreshold: 3, periodSeconds: 10 });
  });
});

// ---- the manager ----

const SCALE = 20; // 1 API second = 20 ms
/** A reported change, with how many exec calls had been made by then. */
type Change = { type: ProbeType; result: ProbeResult; message: string; containerId: string; calls: number };

/** A fake exec whose answer per command is set by the test; counts calls per command. */
function scriptedExec() {
  const answers = new Map<string, number>(); // command -> exit code
  const calls: { command: string; containerId: string; at: number }[] = [];
  const exec = async (containerId: string, command: string[]): Promise<ExecResult> => {
    const key = command.join(' ');
    calls.push({ command: key, containerId, at: Date.now() });
    const code = answers.get(key) ?? 0;
    return { exitCode: code, stdout: code === 0 ? '' : `${key} failed`, stderr: '' };
  };
  return { answers, calls, exec, count: (cmd: string) => calls.filter((c) => c.command === cmd).length };
}

function makePod(probes: Partial<Pick<Container, 'livenessProbe' | 'readinessProbe' | 'startupProbe'>>, uid = 'uid-1'): Pod {
  return { metadata: { name: 'web', namespace: 'default', uid }, spec: { containers: [{ name: 'app', image: 'nginx', ...probes }] } };
}

const execProbe = (cmd: string, extra: Partial<Probe> = {}): Probe => ({ exec: { command: cmd.split(' ') }, periodSeconds: 1, ...extra });

function setup(opts: Partial<ProbeManagerOptions> = {}) {
  const changes: Change[] = [];
  const events: { type: string; reason: string; message: string; container: string }[] = [];
  const script = scriptedExec();
  const manager = new ProbeManager({
    secondsToMs: SCALE,
    random: () => 0,
    exec: script.exec,
    onResult: (_uid, _name, type, result, message, containerId) => changes.push({ type, result, message, containerId, calls: script.calls.length }),
    recordEvent: (_pod, type, reason, message, container) => events.push({ type, reason, message, container }),
    ...opts,
  });
  managers.push(manager);
  const of = (type: ProbeType) => changes.filter((c) => c.type === type).map((c) => c.result);
  return { manager, changes, events, of, ...script };
}
const managers: ProbeManager[] = [];
afterEach(() => managers.splice(0).forEach((m) => m.stop()));

describe('ProbeManager', () => {
  test('readiness - starts not ready (initial failure), ready after the first success', async () => {
    const { manager, of, count } = setup();
    manager.addPod(makePod({ readinessProbe: execProbe('ready') }), HOST, { app: 'c1' });
    expect(manager.isReady('uid-1', 'app')).toBe(false);
    expect(manager.isStarted('uid-1', 'app')).toBe(true);
    await waitFor(() => manager.isReady('uid-1', 'app'), 2000, 'ready');
    expect(of('readiness')).toEqual(['failure', 'success']);
    await sleep(5 * SCALE);
    expect(count('ready')).toBeGreaterThanOrEqual(3);
    expect(of('readiness')).toEqual(['failure', 'success']); // only changes are reported
  });

  test('readiness - failureThreshold consecutive failures before not ready, an event for each attempt', async () => {
    const { manager, of, events, answers, count, changes } = setup();
    manager.addPod(makePod({ readinessProbe: execProbe('ready', { failureThreshold: 3 }) }), HOST, { app: 'c1' });
    await waitFor(() => manager.isReady('uid-1', 'app'));
    answers.set('ready', 1);
    const before = count('ready');
    await waitFor(() => !manager.isReady('uid-1', 'app'), 2000, 'not ready');
    expect(changes[2].calls - before).toBe(3);
    expect(of('readiness')).toEqual(['failure', 'success', 'failure']);
    const unhealthy = events.filter((e) => e.reason === 'Unhealthy');
    expect(unhealthy.length).toBeGreaterThanOrEqual(3);
    expect(unhealthy[0]).toEqual({ type: 'Warning', reason: 'Unhealthy', message: 'Readiness probe failed: ready failed', container: 'app' });
  });

  test('readiness - successThreshold consecutive successes before ready', async () => {
    const { manager, changes } = setup();
    manager.addPod(makePod({ readinessProbe: execProbe('ready', { successThreshold: 3 }) }), HOST, { app: 'c1' });
    await waitFor(() => manager.isReady('uid-1', 'app'));
    expect(changes.map((c) => [c.result, c.calls])).toEqual([
      ['failure', 0],
      ['success', 3],
    ]);
  });

  test('liveness - failureThreshold failures report failure once, then nothing is probed until a new container', async () => {
    const { manager, changes, events, answers, count } = setup();
    answers.set('live', 1);
    manager.addPod(makePod({ livenessProbe: execProbe('live', { failureThreshold: 2 }) }), HOST, { app: 'c1' });
    await waitFor(() => changes.some((c) => c.result === 'failure'), 2000, 'liveness failure');
    expect(changes.map((c) => [c.type, c.result, c.message, c.containerId])).toEqual([
      ['liveness', 'success', '', 'c1'],
      ['liveness', 'failure', 'live failed', 'c1'],
    ]);
    expect(count('live')).toBe(2);
    expect(events.map((e) => e.message)).toEqual(['Liveness probe failed: live failed', 'Liveness probe failed: live failed']);
    await sleep(6 * SCALE);
    expect(count('live')).toBe(2); // on hold
    // The kubelet restarted it: a new container resets the worker.
    answers.set('live', 0);
    manager.updateContainer('uid-1', 'app', 'c2');
    await waitFor(() => count('live') > 2, 2000, 'probing resumed');
    expect(changes.slice(2).map((c) => [c.result, c.containerId])).toEqual([['success', 'c2']]);
    expect(manager.getResult('uid-1', 'app', 'liveness')).toBe('success');
  });

  test('liveness - an HTTP failure is worded as Kubernetes in the event', async () => {
    const { port } = await httpServer((_req, res) => {
      res.statusCode = 500;
      res.end();
    });
    const { manager, events, changes } = setup();
    manager.addPod(makePod({ livenessProbe: { httpGet: { path: '/healthz', port }, periodSeconds: 1, timeoutSeconds: 50, failureThreshold: 1 } }), HOST, { app: 'c1' });
    await waitFor(() => changes.some((c) => c.result === 'failure'));
    expect(events[0].message).toBe('Liveness probe failed: HTTP probe failed with statuscode: 500');
    expect(changes[1].message).toBe('HTTP probe failed with statuscode: 500');
  });

  test('initialDelaySeconds - nothing is probed before it passed since the container started', async () => {
    const { manager, calls } = setup();
    const t0 = Date.now();
    manager.addPod(makePod({ readinessProbe: execProbe('ready', { initialDelaySeconds: 5 }) }), HOST, { app: 'c1' });
    await waitFor(() => calls.length > 0, 2000, 'first probe');
    expect(calls[0].at - t0).toBeGreaterThanOrEqual(5 * SCALE - 2);
  });

  test('startup - liveness and readiness wait for it; started only after it succeeds', async () => {
    const { manager, of, answers, count, calls } = setup();
    answers.set('startup', 1);
    manager.addPod(
      makePod({ startupProbe: execProbe('startup', { failureThreshold: 30 }), livenessProbe: execProbe('live'), readinessProbe: execProbe('ready') }),
      HOST,
      { app: 'c1' },
    );
    await waitFor(() => count('startup') >= 3, 2000, 'startup attempts');
    expect(count('live') + count('ready')).toBe(0);
    expect(manager.isStarted('uid-1', 'app')).toBe(false);
    expect(manager.isReady('uid-1', 'app')).toBe(false);
    answers.set('startup', 0);
    await waitFor(() => manager.isReady('uid-1', 'app'), 2000, 'ready');
    expect(manager.isStarted('uid-1', 'app')).toBe(true);
    expect(of('startup')).toEqual(['unknown', 'success']);
    const firstOther = calls.findIndex((c) => c.command !== 'startup');
    expect(calls.slice(firstOther).every((c) => c.command !== 'startup')).toBe(true); // startup stops once passed
    await waitFor(() => count('live') > 0, 2000, 'liveness runs');
  });

  test('startup - failing past its threshold reports failure (kill) and holds', async () => {
    const { manager, changes, answers, count } = setup();
    answers.set('startup', 1);
    manager.addPod(makePod({ startupProbe: execProbe('startup', { failureThreshold: 2 }), livenessProbe: execProbe('live') }), HOST, { app: 'c1' });
    await waitFor(() => changes.some((c) => c.type === 'startup' && c.result === 'failure'));
    await sleep(5 * SCALE);
    expect(count('startup')).toBe(2);
    expect(count('live')).toBe(0);
  });

  test('restart - a stopped container is not ready; its replacement starts over from not ready', async () => {
    const { manager, changes } = setup();
    manager.addPod(makePod({ readinessProbe: execProbe('ready') }), HOST, { app: 'c1' });
    await waitFor(() => manager.isReady('uid-1', 'app'));
    manager.updateContainer('uid-1', 'app', null);
    expect(manager.isReady('uid-1', 'app')).toBe(false);
    await waitFor(() => changes.length === 3, 2000, 'failure on stop');
    manager.updateContainer('uid-1', 'app', 'c2');
    manager.updateContainer('uid-1', 'app', 'c2'); // repeated: no-op
    await waitFor(() => manager.isReady('uid-1', 'app'), 2000, 'ready again');
    expect(changes.map((c) => [c.result, c.containerId])).toEqual([
      ['failure', 'c1'],
      ['success', 'c1'],
      ['failure', 'c1'],
      ['failure', 'c2'],
      ['success', 'c2'],
    ]);
  });

  test('jitter - only the first probe of a just-started manager waits a random part of the period', async () => {
    let offset = 0;
    const { manager, calls } = setup({ random: () => 0.9, now: () => Date.now() + offset });
    const t0 = Date.now();
    manager.addPod(makePod({ readinessProbe: execProbe('ready', { periodSeconds: 10 }) }), HOST, { app: 'c1' });
    await waitFor(() => calls.length > 0);
    expect(calls[0].at - t0).toBeGreaterThanOrEqual(9 * SCALE - 2);
    offset = 60_000; // long after start: no jitter
    const t1 = Date.now();
    manager.addPod(makePod({ readinessProbe: execProbe('other', { periodSeconds: 10 }) }, 'uid-2'), HOST, { app: 'c9' });
    await waitFor(() => calls.some((c) => c.command === 'other'));
    expect(calls.find((c) => c.command === 'other')!.at - t1).toBeLessThan(6 * SCALE);
  });

  test('errored - an attempt that cannot run is thrown away with an event; liveness is not failed by it', async () => {
    const { manager, changes, events } = setup();
    manager.addPod(
      makePod({ livenessProbe: { httpGet: { port: 'nope' }, periodSeconds: 1, failureThreshold: 1 }, readinessProbe: { tcpSocket: { port: 'nope' }, periodSeconds: 1 } }),
      HOST,
      { app: 'c1' },
    );
    await waitFor(() => events.length >= 4, 2000, 'errored events');
    expect(events).toContainEqual({
      type: 'Warning',
      reason: 'Unhealthy',
      message: 'Liveness probe errored and resulted in unknown state: strconv.Atoi: parsing "nope": invalid syntax',
      container: 'app',
    });
    expect(events.some((e) => e.message.startsWith('Readiness probe errored'))).toBe(true);
    expect(changes.map((c) => [c.type, c.result])).toEqual([
      ['readiness', 'failure'],
      ['liveness', 'success'],
    ]);
  });

  test('warning - a redirect to another host passes, with a ProbeWarning event', async () => {
    const { port } = await httpServer((_req, res) => {
      res.writeHead(302, { location: `http://localhost:${port}/` });
      res.end('moved');
    });
    const { manager, events } = setup();
    manager.addPod(makePod({ readinessProbe: { httpGet: { port }, periodSeconds: 1, timeoutSeconds: 50 } }), HOST, { app: 'c1' });
    await waitFor(() => manager.isReady('uid-1', 'app'));
    expect(events[0]).toEqual({ type: 'Warning', reason: 'ProbeWarning', message: 'Readiness probe warning: moved', container: 'app' });
  });

  test('stale - an answer about a container replaced while it was being probed is dropped', async () => {
    let release!: () => void;
    const exec = (containerId: string) =>
      containerId === 'c1'
        ? new Promise<ExecResult>((resolve) => (release = () => resolve({ exitCode: 1, stdout: 'dead', stderr: '' })))
        : Promise.resolve({ exitCode: 0, stdout: '', stderr: '' });
    const { manager, changes } = setup({ exec });
    manager.addPod(makePod({ livenessProbe: execProbe('live', { failureThreshold: 1, timeoutSeconds: 100 }) }), HOST, { app: 'c1' });
    await waitFor(() => release !== undefined, 2000, 'probe in flight');
    manager.updateContainer('uid-1', 'app', 'c2');
    release();
    await waitFor(() => changes.some((c) => c.containerId === 'c2'), 2000, 'new container seen');
    await sleep(4 * SCALE);
    expect(changes.filter((c) => c.result === 'failure')).toEqual([]);
  });

  test('stopLivenessAndStartup - a pod being deleted is not restarted; readiness goes on', async () => {
    const { manager, answers, count } = setup();
    answers.set('live', 1);
    manager.addPod(
      makePod({ startupProbe: execProbe('startup'), livenessProbe: execProbe('live', { failureThreshold: 100 }), readinessProbe: execProbe('ready') }),
      HOST,
      { app: 'c1' },
    );
    await waitFor(() => count('live') > 0 && manager.isReady('uid-1', 'app'), 2000, 'probing');
    manager.stopLivenessAndStartup('uid-1');
    const live = count('live');
    const ready = count('ready');
    await sleep(5 * SCALE);
    expect(count('live')).toBe(live);
    expect(count('ready')).toBeGreaterThan(ready);
    expect(manager.isStarted('uid-1', 'app')).toBe(true);
    expect(manager.workerCount()).toBe(1);
  });

  test('initialDelaySeconds - counted from the start time in the pod status when it names the container', async () => {
    const { manager, calls } = setup();
    const pod = makePod({ readinessProbe: execProbe('ready', { initialDelaySeconds: 50 }) });
    pod.status = { containerStatuses: [{ name: 'app', containerID: 'containerd://c1', state: { running: { startedAt: new Date(Date.now() - 5000).toISOString() } } }] };
    const t0 = Date.now();
    manager.addPod(pod, HOST, { app: 'c1' });
    await waitFor(() => calls.length > 0, 2000, 'first probe');
    expect(calls[0].at - t0).toBeLessThan(50 * SCALE);
  });

  test('any order - unknown pods and containers are no-ops and never ready', () => {
    const { manager } = setup();
    manager.removePod('nope');
    manager.updateContainer('nope', 'app', 'c1');
    manager.stopLivenessAndStartup('nope');
    expect(manager.isReady('nope', 'app')).toBe(false);
    expect(manager.isStarted('nope', 'app')).toBe(false);
    manager.addPod(makePod({}), HOST, {});
    expect(manager.isReady('uid-1', 'app')).toBe(false); // not running yet
    manager.updateContainer('uid-1', 'app', 'c1');
    expect(manager.isReady('uid-1', 'app')).toBe(true); // no probes: ready once running
    manager.removePod('uid-1');
    manager.removePod('uid-1');
    expect(manager.workerCount()).toBe(0);
  });

  test('stop - clears every timer and in-flight probe', async () => {
    const { port } = await httpServer(() => undefined); // hangs every request
    // Every timer created from here on must have fired or been cleared once the manager stopped.
    const created: NodeJS.Timeout[] = [];
    const realSetTimeout = global.setTimeout;
    const realSetInterval = global.setInterval;
    const track = <F extends (...a: any[]) => NodeJS.Timeout>(real: F) =>
      ((...args: any[]) => {
        const t = real(...args);
        created.push(t);
        return t;
      }) as unknown as F;
    jest.spyOn(global, 'setTimeout').mockImplementation(track(realSetTimeout as any) as any);
    jest.spyOn(global, 'setInterval').mockImplementation(track(realSetInterval as any) as any);
    try {
      const { manager, changes } = setup({ exec: () => new Promise<ExecResult>(() => undefined) });
      manager.addPod(
        makePod({
          readinessProbe: { httpGet: { port }, periodSeconds: 1, timeoutSeconds: 100 },
          livenessProbe: execProbe('live', { timeoutSeconds: 100 }),
        }),
        HOST,
        { app: 'c1' },
      );
      await waitFor(() => changes.length >= 2 && sockets.size > 0, 2000, 'probes in flight');
      await sleep(3 * SCALE);
      const live = (t: NodeJS.Timeout) => !(t as unknown as { _destroyed: boolean })._destroyed;
      expect(created.filter(live).length).toBeGreaterThan(0);
      manager.stop();
      manager.stop();
      await waitFor(() => sockets.size === 0, 2000, 'probe connection closed');
      expect(created.filter(live)).toEqual([]);
      expect(manager.workerCount()).toBe(0);
      manager.addPod(makePod({ readinessProbe: execProbe('ready') }, 'uid-3'), HOST, { app: 'c1' }); // no-op after stop
      expect(manager.workerCount()).toBe(0);
    } finally {
      jest.restoreAllMocks();
    }
  });
});
