/**
 * The REST handlers that reach the kubelets (rest/pods.ts: pods/log and pods/exec; rest/metrics.ts:
 * metrics.k8s.io/v1beta1) against a real etcd, nats-server, apiserver, container runtime and
 * kubelet. The handlers are mounted on a small HTTP server of the test, through the same
 * RestExtensions interface the REST router offers, with a Registry on the test's etcd: logs
 * (whole, tail, timestamps, previous, follow, every error as Kubernetes words it), exec over
 * WebSocket as kubectl speaks it (stdout, stderr, exit code, stdin with v5's close signal,
 * refusals before the upgrade) and the metrics API (nodes, pods, label selector, not found).
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { Duplex } from 'stream';
import { ApiClient } from '../../services/lib/apiclient';
import { Container, Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { logger } from '../../services/lib/log';
import { parseQuantity } from '../../services/lib/quantity';
import { resourceForCase } from '../../services/lib/resources';
import { Registry } from '../../services/kube-apiserver/registry';
import { EtcdStorage } from '../../services/kube-apiserver/storage';
import {
  DiscoveryResource,
  GroupHandler,
  RestContext,
  RestExtensions,
  SubresourceHandler,
  UpgradeHandler,
  writeError,
  writeUpgradeError,
} from '../../services/kube-apiserver/rest/extensions';
import { errors } from '../../services/lib/errors';
import { registerPodExtensions } from '../../services/kube-apiserver/rest/pods';
import { registerMetrics } from '../../services/kube-apiserver/rest/metrics';
import { KubeletConnections } from '../../services/kube-apiserver/rest/kubelet-client';
import { startTestApiServer, TestApiServer } from '../contract/env';
import { startKubelet, Kubelet } from '../harness/kubelet';
import { startRuntime, Runtime } from '../harness/runtime';
import { waitFor as waitUntil } from '../harness/wait';
import { ChannelSession, channelText, RefusedUpgrade, runChannels } from '../harness/websocket-client';

jest.setTimeout(120000);

const POD = resourceForCase('pod');
const NS = 'default';

let env: TestApiServer;
let runtime: Runtime;
let kubelet: Kubelet;
let api: ApiClient;
let storage: EtcdStorage;
let kubelets: KubeletConnections;
let server: http.Server;
let base: string;

/**
 * The part of the REST router these handlers need: /api/v1/namespaces/{ns}/pods/{name}/{sub}
 * (plain and upgrade) and /apis/{group}/{version}/... for registered groups.
 */
function startMiniRouter(registry: Registry): Promise<http.Server> {
  const subresources = new Map<string, SubresourceHandler>();
  const upgrades = new Map<string, UpgradeHandler>();
  const groups = new Map<string, GroupHandler>();
  const ext: RestExtensions = {
    registerSubresource: (resource, sub, handler) => void subresources.set(`${resource}/${sub}`, handler),
    registerUpgrade: (resource, sub, handler) => void upgrades.set(`${resource}/${sub}`, handler),
    registerGroup: (gv: string, _resources: DiscoveryResource[], handler) => void groups.set(gv, handler),
  };
  kubelets = registerPodExtensions(ext);
  registerMetrics(ext, kubelets);
  const log = logger('rest-pods-test');
  const context = (req: http.IncomingMessage): RestContext => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    return { registry, log, url, query: url.searchParams };
  };
  const podPath = (path: string) => /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/([^/]+)$/.exec(path);
  const srv = http.createServer((req, res) => {
    const ctx = context(req);
    const run = async () => {
      const m = podPath(ctx.url.pathname);
      if (m) {
        const handler = subresources.get(`pods/${m[3]}`);
        if (!handler) throw errors.notFound('pods', '', m[3]);
        return handler(req, res, { ...ctx, info: POD, namespace: m[1], name: m[2], subresource: m[3] });
      }
      const g = /^\/apis\/([^/]+)\/([^/]+)\/?(.*)$/.exec(ctx.url.pathname);
      const handler = g && groups.get(`${g[1]}/${g[2]}`);
      if (!g || !handler) throw errors.notFound('', '', ctx.url.pathname);
      return handler(req, res, { ...ctx, group: g[1], version: g[2], segments: g[3].split('/').filter(Boolean) });
    };
    run().catch((err) => writeError(res, err));
  });
  srv.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const ctx = context(req);
    const m = podPath(ctx.url.pathname);
    const handler = m && upgrades.get(`pods/${m[3]}`);
    if (!m || !handler) return writeUpgradeError(socket, errors.notFound('pods', '', ctx.url.pathname));
    handler(req, socket, head, { ...ctx, info: POD, namespace: m[1], name: m[2], subresource: m[3] }).catch((err) => writeUpgradeError(socket, err));
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

const waitFor = <T>(what: string, get: () => Promise<T | undefined>, timeoutMs = 30000) => waitUntil(what, get, timeoutMs, { detail: () => kubelet.logs(20) });

async function waitPod(name: string, check: (p: Pod) => boolean): Promise<Pod> {
  return waitFor(`pod ${name}`, async () => {
    const p = await api.tryGet(POD, NS, name);
    return p && check(p) ? p : undefined;
  });
}

function pod(name: string, containers: Container[], opts: { labels?: Record<string, string>; unscheduled?: boolean; volumes?: Pod['spec'] } = {}): Pod {
  return {
    metadata: { name, namespace: NS, labels: opts.labels },
    spec: { ...(opts.unscheduled ? {} : { nodeName: kubelet.nodeName }), containers, terminationGracePeriodSeconds: 1, ...(opts.volumes ?? {}) },
  };
}

interface Got {
  status: number;
  contentType: string;
  body: string;
  json?: Record<string, unknown> & { message?: string; reason?: string; items?: unknown[] };
}

function get(path: string): Promise<Got> {
  return new Promise((resolve, reject) => {
    http
      .get(base + path, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          const contentType = String(res.headers['content-type'] ?? '');
          resolve({ status: res.statusCode ?? 0, contentType, body, json: contentType.startsWith('application/json') ? JSON.parse(body) : undefined });
        });
      })
      .on('error', reject);
  });
}

/** Reads a streamed response until `enough(text)` holds, then aborts it. */
function follow(path: string, enough: (text: string) => boolean, timeoutMs = 15000): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(base + path, (res) => {
      let text = '';
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error(`follow ${path}: not enough after ${timeoutMs} ms: ${JSON.stringify(text)}`));
      }, timeoutMs);
      res.on('data', (d) => {
        text += d;
        if (enough(text)) {
          clearTimeout(timer);
          req.destroy();
          resolve({ status: res.statusCode ?? 0, text });
        }
      });
    });
    req.on('error', () => undefined);
  });
}

const execUrl = (name: string, query: string) => `${base}/api/v1/namespaces/${NS}/pods/${name}/exec?${query}`;
const cmd = (...args: string[]) => args.map((a) => `command=${encodeURIComponent(a)}`).join('&');

function session(s: ChannelSession | RefusedUpgrade): ChannelSession {
  if (!('channels' in s)) throw new Error(`upgrade refused: ${s.statusCode} ${s.body}`);
  return s;
}

function refused(s: ChannelSession | RefusedUpgrade): { statusCode: number; status: { message: string; reason: string; code: number } } {
  if ('channels' in s) throw new Error(`upgrade accepted (${s.protocol}), expected a refusal`);
  return { statusCode: s.statusCode, status: JSON.parse(s.body) };
}

beforeAll(async () => {
  env = await startTestApiServer();
  runtime = await startRuntime();
  kubelet = await startKubelet({ apiservers: [env.address], natsUrls: env.natsUrls, runtime });
  api = new ApiClient([env.address]);
  storage = new EtcdStorage(env.etcdEndpoints);
  const registry = new Registry(storage, { defaultTolerationSeconds: 300, maxObjectBytes: 1536 * 1024 });
  server = await startMiniRouter(registry);
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // Prints five lines and one to stderr; its first instance exits 1 (a previous instance), the second ticks.
  await api.create(
    POD,
    pod(
      'talker',
      [
        {
          name: 'c',
          image: 'busybox',
          command: ['sh', '-c', 'for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2; if [ ! -f /data/once ]; then touch /data/once; exit 1; fi; while true; do echo tick; sleep 0.2; done'],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      ],
      { labels: { app: 'talk' }, volumes: { volumes: [{ name: 'data', emptyDir: {} }] } as Pod['spec'] },
    ),
  );
  await api.create(
    POD,
    pod(
      'pair',
      [
        { name: 'web', image: 'nginx' },
        { name: 'side', image: 'busybox', command: ['sh', '-c', 'echo side; sleep 3600'] },
      ],
      { labels: { app: 'pair' } },
    ),
  );
  await api.create(POD, pod('never', [{ name: 'c', image: 'unknown.example/none:1' }]));
  await api.create(POD, pod('pending', [{ name: 'c', image: 'busybox' }], { unscheduled: true }));
  await waitPod('talker', (p) => p.status?.phase === 'Running' && (p.status.containerStatuses?.[0].restartCount ?? 0) >= 1 && !!p.status.containerStatuses?.[0].state?.running);
  await waitPod('pair', (p) => p.status?.phase === 'Running' && !!p.status.containerStatuses?.every((c) => c.state?.running));
});

afterAll(async () => {
  if (process.env.KUBEMU_TEST_SHOW_LOGS) console.log(kubelet?.logs(200));
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  kubelets?.close();
  storage?.close();
  api?.close();
  await kubelet?.stop();
  await runtime?.stop();
  await env?.stop();
});

describe('rest-pods - pods/log', () => {
  test('the whole log, tailLines and timestamps, as text/plain', async () => {
    const all = await get(`/api/v1/namespaces/${NS}/pods/talker/log`);
    expect(all.status).toBe(200);
    expect(all.contentType).toBe('text/plain');
    expect(all.body).toMatch(/^line 1\nline 2\nline 3\nline 4\nline 5\n/);
    const tail = await get(`/api/v1/namespaces/${NS}/pods/talker/log?container=c&tailLines=2`);
    expect(tail.body.split('\n').filter(Boolean)).toHaveLength(2);
    const stamped = await get(`/api/v1/namespaces/${NS}/pods/talker/log?tailLines=2&timestamps=true`);
    for (const line of stamped.body.split('\n').filter(Boolean)) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z /);
    const limited = await get(`/api/v1/namespaces/${NS}/pods/talker/log?limitBytes=8`);
    expect(limited.body).toBe('line 1\nl');
  });

  test('previous is the terminated instance; follow streams new lines until the client leaves', async () => {
    const previous = await get(`/api/v1/namespaces/${NS}/pods/talker/log?previous=true`);
    expect(previous.status).toBe(200);
    expect(previous.body.split('\n').sort()).toEqual(['', 'line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'oops']);
    const followed = await follow(`/api/v1/namespaces/${NS}/pods/talker/log?follow=true&tailLines=0`, (t) => (t.match(/tick/g)?.length ?? 0) >= 3);
    expect(followed.status).toBe(200);
    expect(followed.text).not.toContain('line 1');
  });

  test('errors as Kubernetes answers them', async () => {
    const notFound = await get(`/api/v1/namespaces/${NS}/pods/nope/log`);
    expect([notFound.status, notFound.json?.reason, notFound.json?.message]).toEqual([404, 'NotFound', 'pods "nope" not found']);
    const unnamed = await get(`/api/v1/namespaces/${NS}/pods/pair/log`);
    expect([unnamed.status, unnamed.json?.reason, unnamed.json?.message]).toEqual([400, 'BadRequest', 'a container name must be specified for pod pair, choose one of: [web side]']);
    const invalid = await get(`/api/v1/namespaces/${NS}/pods/pair/log?container=x`);
    expect([invalid.status, invalid.json?.message]).toEqual([400, 'container x is not valid for pod pair']);
    const noPrevious = await get(`/api/v1/namespaces/${NS}/pods/pair/log?container=side&previous=true`);
    expect([noPrevious.status, noPrevious.json?.reason, noPrevious.json?.message]).toEqual([400, 'BadRequest', 'previous terminated container "side" in pod "pair" not found']);
    const waiting = await get(`/api/v1/namespaces/${NS}/pods/never/log`);
    expect(waiting.status).toBe(400);
    expect(waiting.json?.message).toMatch(/^container "c" in pod "never" is waiting to start: (ErrImagePull|ImagePullBackOff|ContainerCreating)$/);
    const badTail = await get(`/api/v1/namespaces/${NS}/pods/talker/log?tailLines=-1`);
    expect([badTail.status, badTail.json?.reason, badTail.json?.message]).toEqual([422, 'Invalid', 'PodLogOptions "talker" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0']);
    // An unscheduled pod has no log yet: an empty 200, as Kubernetes' LogLocation without a node.
    const pending = await get(`/api/v1/namespaces/${NS}/pods/pending/log`);
    expect([pending.status, pending.body]).toEqual([200, '']);
  });
});

describe('rest-pods - pods/exec over WebSocket', () => {
  test('stdout and stderr on their channels, then a Success status and a normal close (v5)', async () => {
    const s = session(await runChannels(execUrl('pair', `container=side&${cmd('sh', '-c', 'echo out; echo err >&2')}&stdout=true&stderr=true`), { protocols: ['v5.channel.k8s.io'], ping: true }));
    expect(s.protocol).toBe('v5.channel.k8s.io');
    expect(channelText(s, 1)).toBe('out\n');
    expect(channelText(s, 2)).toBe('err\n');
    expect(s.status).toEqual({ metadata: {}, status: 'Success' });
    expect(s.closeCode).toBe(1000);
  });

  test('a non-zero exit is a NonZeroExitCode status with the code as its ExitCode cause', async () => {
    const s = session(await runChannels(execUrl('pair', `container=side&${cmd('sh', '-c', 'exit 3')}&stdout=true&stderr=true`), { protocols: ['v5.channel.k8s.io'] }));
    expect(s.status).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
  });

  test('stdin is delivered when the client closes it (echo hi | kubectl exec -i pair -c side -- cat)', async () => {
    const s = session(
      await runChannels(execUrl('pair', `container=side&${cmd('cat')}&stdin=true&stdout=true&stderr=true`), {
        protocols: ['v5.channel.k8s.io', 'v4.channel.k8s.io'],
        stdin: [Buffer.from('hi\n'), Buffer.from('there\n')],
      }),
    );
    expect(channelText(s, 1)).toBe('hi\nthere\n');
    expect(s.status).toEqual({ metadata: {}, status: 'Success' });
  });

  test('v4 without stdin works; the only container is the default', async () => {
    const s = session(await runChannels(execUrl('talker', `${cmd('echo', 'v4')}&stdout=true`), { protocols: ['v4.channel.k8s.io'] }));
    expect(s.protocol).toBe('v4.channel.k8s.io');
    expect(channelText(s, 1)).toBe('v4\n');
  });

  test('refusals before the upgrade are Status answers with their HTTP code', async () => {
    const v5 = { protocols: ['v5.channel.k8s.io'] };
    const missing = refused(await runChannels(execUrl('ghost', `${cmd('ls')}&stdout=true`), v5));
    expect([missing.statusCode, missing.status.message]).toEqual([404, 'pods "ghost" not found']);
    const unnamed = refused(await runChannels(execUrl('pair', `${cmd('ls')}&stdout=true`), v5));
    expect([unnamed.statusCode, unnamed.status.message]).toEqual([400, 'a container name must be specified for pod pair, choose one of: [web side]']);
    const pending = refused(await runChannels(execUrl('pending', `${cmd('ls')}&stdout=true`), v5));
    expect([pending.statusCode, pending.status.message]).toEqual([400, 'pod pending does not have a host assigned']);
    const noCommand = refused(await runChannels(execUrl('talker', 'stdout=true'), v5));
    expect([noCommand.statusCode, noCommand.status.message]).toEqual([400, 'you must specify at least 1 command']);
    const v4stdin = refused(await runChannels(execUrl('talker', `${cmd('cat')}&stdin=true&stdout=true`), { protocols: ['v4.channel.k8s.io'] }));
    expect(v4stdin.statusCode).toBe(400);
  });

  test('a container that is not running is a Failure status on the error channel', async () => {
    const s = session(await runChannels(execUrl('never', `${cmd('ls')}&stdout=true`), { protocols: ['v5.channel.k8s.io'] }));
    expect(s.status).toMatchObject({ status: 'Failure', reason: 'BadRequest', code: 400 });
    expect(String(s.status?.message)).toContain('not running');
  });
});

describe('rest-pods - metrics.k8s.io', () => {
  const usageBytes = (s: string) => parseQuantity(s).value();

  test('NodeMetrics and PodMetrics with the runtime figures; label selector; not found', async () => {
    // The runtime samples about once a second: wait for the first figures with memory in them.
    const nodes = await waitFor('node metrics', async () => {
      const r = await get('/apis/metrics.k8s.io/v1beta1/nodes');
      const items = (r.json?.items ?? []) as { metadata: { name: string }; usage: { cpu: string; memory: string } }[];
      return items.length > 0 && usageBytes(items[0].usage.memory) > 0 ? r : undefined;
    });
    expect(nodes.json).toMatchObject({ kind: 'NodeMetricsList', apiVersion: 'metrics.k8s.io/v1beta1' });
    const item = (nodes.json!.items as { metadata: { name: string }; window: string; usage: { cpu: string; memory: string } }[])[0];
    expect(item.metadata.name).toBe(kubelet.nodeName);
    expect(item.window).toBe('10s');
    expect(item.usage.cpu).toMatch(/^\d+(n|u|m)?$/);
    expect(item.usage.memory).toMatch(/^\d+(Ki|Mi|Gi)?$/);

    const one = await get(`/apis/metrics.k8s.io/v1beta1/nodes/${kubelet.nodeName}`);
    expect(one.json).toMatchObject({ kind: 'NodeMetrics', metadata: { name: kubelet.nodeName } });

    const pods = await get(`/apis/metrics.k8s.io/v1beta1/namespaces/${NS}/pods`);
    expect(pods.json?.kind).toBe('PodMetricsList');
    const byName = new Map((pods.json!.items as { metadata: { name: string }; containers: { name: string; usage: { memory: string } }[] }[]).map((p) => [p.metadata.name, p]));
    expect(byName.get('pair')?.containers.map((c) => c.name)).toEqual(['web', 'side']);
    expect(usageBytes(byName.get('pair')!.containers[0].usage.memory)).toBeGreaterThan(1024 * 1024);
    expect(byName.has('never')).toBe(false);

    const selected = await get(`/apis/metrics.k8s.io/v1beta1/namespaces/${NS}/pods?labelSelector=app%3Dtalk`);
    expect((selected.json!.items as { metadata: { name: string } }[]).map((p) => p.metadata.name)).toEqual(['talker']);
    const all = await get('/apis/metrics.k8s.io/v1beta1/pods');
    expect((all.json!.items as unknown[]).length).toBeGreaterThanOrEqual(2);

    const single = await get(`/apis/metrics.k8s.io/v1beta1/namespaces/${NS}/pods/talker`);
    expect(single.json).toMatchObject({ kind: 'PodMetrics', metadata: { name: 'talker', namespace: NS, labels: { app: 'talk' } }, window: '10s' });
    const none = await get(`/apis/metrics.k8s.io/v1beta1/namespaces/${NS}/pods/never`);
    expect([none.status, none.json?.message]).toEqual([404, 'podmetrics.metrics.k8s.io "default/never" not found']);
    const ghost = await get(`/apis/metrics.k8s.io/v1beta1/namespaces/${NS}/pods/ghost`);
    expect([ghost.status, ghost.json?.message]).toEqual([404, 'pods "ghost" not found']);
    const wrong = await get('/apis/metrics.k8s.io/v1beta1/deployments');
    expect(wrong.status).toBe(404);
  });

  test('a busy container shows CPU in its PodMetrics', async () => {
    await api.create(POD, pod('burner', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'while :; do :; done'] }]));
    try {
      await waitPod('burner', (p) => p.status?.phase === 'Running');
      const m = await waitFor('burner CPU', async () => {
        const r = await get(`/apis/metrics.k8s.io/v1beta1/namespaces/${NS}/pods/burner`);
        const cpu = (r.json?.containers as { usage: { cpu: string } }[] | undefined)?.[0]?.usage.cpu;
        return cpu && parseQuantity(cpu).milliValue() >= 50 ? cpu : undefined;
      });
      expect(m).toMatch(/^\d+(n|u|m)?$/);
    } finally {
      await api.delete(POD, NS, 'burner', { gracePeriodSeconds: 0 }).catch(() => undefined);
    }
  });
});
