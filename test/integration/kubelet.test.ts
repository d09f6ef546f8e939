/**
 * The kubelet against a real etcd, nats-server, apiserver and container runtime, all real
 * processes: pods bound to its node (nodeName set, no scheduler) run as real processes on their
 * pod IP; restarts, backoff, probes, OOM, init containers, env, image errors and graceful deletion
 * behave as Kubernetes'; killing the kubelet leaves containers running, killing the runtime kills
 * them and the kubelet restarts them when it returns.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { ApiClient } from '../../services/lib/apiclient';
import { Container, Event, Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { isReason } from '../../services/lib/errors';
import { startTestApiServer, TestApiServer } from '../contract/env';
import { startRuntime, Runtime } from '../harness/runtime';
import { startKubelet, Kubelet } from '../harness/kubelet';
import { sleep, waitFor as waitUntil } from '../harness/wait';

jest.setTimeout(120000);

const POD = resourceForCase('pod');
const NODE = resourceForCase('node');
const EVENT = resourceForCase('event');
const CONFIGMAP = resourceForCase('configMap');
const SECRET = resourceForCase('secret');
const SERVICE = resourceForCase('service');
const NS = 'default';

let env: TestApiServer;
let runtime: Runtime;
let kubelet: Kubelet;
let client: ApiClient;

beforeAll(async () => {
  env = await startTestApiServer();
  runtime = await startRuntime();
  kubelet = await startKubelet({ apiservers: [env.address], natsUrls: env.natsUrls, runtime });
  client = new ApiClient([env.address]);
});

afterAll(async () => {
  if (process.env.KUBEMU_TEST_SHOW_LOGS) console.log(kubelet?.logs(300));
  client?.close();
  await kubelet?.stop();
  await runtime?.stop();
  await env?.stop();
});

function podSpec(name: string, containers: Container[], extra: Partial<NonNullable<Pod['spec']>> = {}): Pod {
  return { metadata: { name, namespace: NS }, spec: { nodeName: kubelet.nodeName, containers, terminationGracePeriodSeconds: 5, ...extra } };
}

async function createPod(pod: Pod): Promise<Pod> {
  return client.create(POD, pod);
}

const getPod = (name: string) => client.tryGet(POD, NS, name);

/** waitFor with the kubelet's log tail on timeout. */
const waitFor = <T>(what: string, get: () => Promise<T | undefined>, timeoutMs = 20000) => waitUntil(what, get, timeoutMs, { detail: () => kubelet.logs(20) });

async function waitPod(name: string, check: (p: Pod) => boolean, timeoutMs?: number): Promise<Pod> {
  return waitFor(`pod ${name}`, async () => {
    const p = await getPod(name);
    return p && check(p) ? p : undefined;
  }, timeoutMs);
}

const running = (p: Pod) => p.status?.phase === 'Running' && !!p.status.containerStatuses?.every((c) => c.ready);

function httpGet(ip: string, port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: ip, port, path, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

/** A container without a readiness probe is Ready as soon as its process runs, as in Kubernetes, which may be before it listens. */
async function httpGetEventually(ip: string, port: number): Promise<{ status: number; body: string }> {
  return waitFor(`http://${ip}:${port}/`, () => httpGet(ip, port), 5000);
}

async function events(podName: string): Promise<Event[]> {
  const list = await client.list(EVENT, NS);
  return list.items.filter((e) => e.involvedObject?.name === podName);
}

async function deletePod(name: string): Promise<void> {
  await client.delete(POD, NS, name, { gracePeriodSeconds: 0 }).catch((err) => {
    if (!isReason(err, 'NotFound')) throw err;
  });
}

describe('kubelet - node', () => {
  test('registers its Node Ready with capacity, addresses and a renewed Lease', async () => {
    const node = await waitFor('node Ready', async () => {
      const n = await client.tryGet(NODE, '', kubelet.nodeName);
      return n?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? n : undefined;
    });
    expect(node.status?.capacity?.pods).toBe('110');
    expect(node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address).toMatch(/^127\./);
    expect(node.spec?.podCIDR).toBe(runtime.podCIDR);
    expect(node.status?.nodeInfo?.kubeletVersion).toBe('v1.32.0');
  });
});

describe('kubelet - pods', () => {
  test('an nginx pod becomes Running and Ready and answers HTTP on its pod IP', async () => {
    await createPod(podSpec('web', [{ name: 'nginx', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }]));
    const pod = await waitPod('web', running);
    const s = pod.status!;
    expect(s.podIP).toMatch(new RegExp('^' + runtime.podCIDR.split('.').slice(0, 3).join('\\.') + '\\.'));
    expect(s.hostIP).toMatch(/^127\.1\.0\./);
    expect(s.startTime).toBeTruthy();
    const cond = Object.fromEntries((s.conditions ?? []).map((c) => [c.type, c.status]));
    expect(cond).toMatchObject({ Initialized: 'True', ContainersReady: 'True', Ready: 'True', PodReadyToStartContainers: 'True' });
    const cs = s.containerStatuses![0];
    expect(cs.state?.running?.startedAt).toBeTruthy();
    expect(cs).toMatchObject({ name: 'nginx', ready: true, started: true });
    expect(cs.restartCount ?? 0).toBe(0);
    expect(cs.containerID).toMatch(/^kubemu:\/\//);
    const res = await httpGetEventually(s.podIP!, 80);
    expect(res.status).toBe(200);
    expect(res.body).toContain('web');
    const reasons = (await events('web')).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Pulled', 'Created', 'Started']));
  });

  test('two pods of one image on one node answer on different IPs and the same port', async () => {
    await createPod(podSpec('twin-a', [{ name: 'echo', image: 'nginx' }]));
    await createPod(podSpec('twin-b', [{ name: 'echo', image: 'nginx' }]));
    const a = await waitPod('twin-a', running);
    const b = await waitPod('twin-b', running);
    expect(a.status!.podIP).not.toBe(b.status!.podIP);
    expect((await httpGetEventually(a.status!.podIP!, 80)).body).toContain('twin-a');
    expect((await httpGetEventually(b.status!.podIP!, 80)).body).toContain('twin-b');
  });

  test('a crashing container goes into CrashLoopBackOff with growing delays', async () => {
    await createPod(podSpec('crash', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'echo crashing; exit 3'] }]));
    const seen: number[] = [];
    let last = -1;
    let backoffMessage = '';
    await waitFor('three restarts', async () => {
      const p = await getPod('crash');
      const cs = p?.status?.containerStatuses?.[0];
      const count = cs?.restartCount ?? 0;
      if (count !== last) {
        seen[count] = Date.now();
        last = count;
      }
      if (cs?.state?.waiting?.reason === 'CrashLoopBackOff') backoffMessage = cs.state.waiting.message ?? '';
      return count >= 3 ? true : undefined;
    }, 30000);
    expect(backoffMessage).toMatch(/^back-off \d+s restarting failed container=c pod=crash_default\(/);
    // Delays double (1 s, 2 s in the demo profile): the third restart comes later after the second than the second after the first.
    expect(seen[3] - seen[2]).toBeGreaterThan((seen[2] - seen[1]) * 1.3);
    const p = (await getPod('crash'))!;
    expect(p.status?.containerStatuses?.[0].lastState?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(p.status?.phase).toBe('Running');
    expect((await events('crash')).some((e) => e.reason === 'BackOff' && /Back-off restarting failed container c in pod crash_default/.test(e.message ?? ''))).toBe(true);
    await deletePod('crash');
  });

  test('a failing liveness probe restarts the container', async () => {
    await createPod(
      podSpec('live', [
        {
          name: 'web',
          image: 'nginx',
          livenessProbe: { httpGet: { path: '/healthz', port: 81 }, periodSeconds: 1, failureThreshold: 2, initialDelaySeconds: 0 },
        },
      ]),
    );
    await waitPod('live', (p) => (p.status?.containerStatuses?.[0].restartCount ?? 0) >= 1, 30000);
    const evs = await events('live');
    expect(evs.some((e) => e.reason === 'Unhealthy' && /^Liveness probe failed: /.test(e.message ?? ''))).toBe(true);
    expect(evs.some((e) => e.reason === 'Killing' && /failed liveness probe, will be restarted/.test(e.message ?? ''))).toBe(true);
    await deletePod('live');
  });

  test('a readiness probe that fails keeps the pod Running but not Ready', async () => {
    await createPod(podSpec('unready', [{ name: 'web', image: 'nginx', readinessProbe: { tcpSocket: { port: 81 }, periodSeconds: 1 } }]));
    const p = await waitPod('unready', (x) => x.status?.phase === 'Running' && !!x.status.containerStatuses?.[0].state?.running);
    await sleep(2500);
    const again = (await getPod('unready'))!;
    expect(again.status?.containerStatuses?.[0].ready).toBe(false);
    expect(again.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady' });
    expect(p.status?.containerStatuses?.[0].restartCount ?? 0).toBe(0);
    await deletePod('unready');
  });

  test('a memory hog is OOMKilled with exit code 137', async () => {
    await createPod(
      podSpec(
        'hog',
        [
          {
            name: 'hog',
            image: 'node:20',
            command: ['node', '-e', 'const a=[]; setInterval(() => a.push(Buffer.alloc(16 << 20, 1)), 20)'],
            resources: { limits: { memory: '96Mi' } },
          },
        ],
        { restartPolicy: 'Never' },
      ),
    );
    const p = await waitPod('hog', (x) => x.status?.phase === 'Failed', 30000);
    expect(p.status?.containerStatuses?.[0].state?.terminated).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
  });

  test('restartPolicy Never: exit 0 ends Succeeded, exit 1 ends Failed', async () => {
    await createPod(podSpec('ok', [{ name: 'c', image: 'busybox', command: ['true'] }], { restartPolicy: 'Never' }));
    await createPod(podSpec('bad', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'exit 1'] }], { restartPolicy: 'Never' }));
    const ok = await waitPod('ok', (x) => x.status?.phase === 'Succeeded');
    const bad = await waitPod('bad', (x) => x.status?.phase === 'Failed');
    expect(ok.status?.containerStatuses?.[0].state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(bad.status?.containerStatuses?.[0].state?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(ok.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
  });

  test('init containers run to completion in order before the containers, sharing an emptyDir', async () => {
    await createPod(
      podSpec(
        'init',
        [{ name: 'main', image: 'busybox', command: ['sh', '-c', 'test "$(cat /work/order)" = "ab"'], volumeMounts: [{ name: 'work', mountPath: '/work' }] }],
        {
          restartPolicy: 'Never',
          volumes: [{ name: 'work', emptyDir: {} }],
          initContainers: [
            { name: 'a', image: 'busybox', command: ['sh', '-c', 'sleep 0.3; printf a > /work/order'], volumeMounts: [{ name: 'work', mountPath: '/work' }] },
            { name: 'b', image: 'busybox', command: ['sh', '-c', 'printf b >> /work/order'], volumeMounts: [{ name: 'work', mountPath: '/work' }] },
          ],
        },
      ),
    );
    const p = await waitPod('init', (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed');
    expect(p.status?.phase).toBe('Succeeded');
    expect(p.status?.initContainerStatuses?.map((s) => s.state?.terminated?.reason)).toEqual(['Completed', 'Completed']);
  });

  test('env from values, fieldRef, configMap and secret; a missing configMap is CreateContainerConfigError until it exists', async () => {
    await client.create(SECRET, { metadata: { name: 'creds', namespace: NS }, stringData: { password: 's3cret' } });
    await createPod(
      podSpec(
        'envpod',
        [
          {
            name: 'c',
            image: 'busybox',
            command: ['sh', '-c', 'test "$GREETING" = "hello envpod" && test "$COLOR" = blue && test "$PASS" = s3cret && test "$POD_IP" = "$MY_IP" && test -n "$NODE_NAME"'],
            env: [
              { name: 'ME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'GREETING', value: 'hello $(ME)' },
              { name: 'MY_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              { name: 'COLOR', valueFrom: { configMapKeyRef: { name: 'settings', key: 'color' } } },
              { name: 'PASS', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
            ],
          },
        ],
        { restartPolicy: 'Never' },
      ),
    );
    const waiting = await waitPod('envpod', (x) => x.status?.containerStatuses?.[0].state?.waiting?.reason === 'CreateContainerConfigError');
    expect(waiting.status?.containerStatuses?.[0].state?.waiting?.message).toBe('configmap "settings" not found');
    await client.create(CONFIGMAP, { metadata: { name: 'settings', namespace: NS }, data: { color: 'blue' } });
    const done = await waitPod('envpod', (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed');
    expect(done.status?.phase).toBe('Succeeded');
  });

  test('Service environment variables for the Services that exist when the container starts', async () => {
    const svc = await client.create(SERVICE, { metadata: { name: 'web-svc', namespace: NS }, spec: { selector: { app: 'x' }, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] } });
    const ip = svc.spec?.clusterIP ?? '';
    expect(ip).toMatch(/^127\.128\./);
    await sleep(1000); // the kubelet learns of Services through its informer, as Kubernetes' does
    await createPod(
      podSpec('svcenv', [
        {
          name: 'c',
          image: 'busybox',
          command: ['sh', '-c', `test "$WEB_SVC_SERVICE_HOST" = "${ip}" && test "$WEB_SVC_SERVICE_PORT_HTTP" = 8080 && test "$WEB_SVC_PORT" = "tcp://${ip}:8080" && test "$KUBERNETES_SERVICE_PORT" = 443 && test -n "$KUBERNETES_SERVICE_HOST"`],
        },
      ], { restartPolicy: 'Never' }),
    );
    const p = await waitPod('svcenv', (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed');
    expect(p.status?.phase).toBe('Succeeded');
    await client.delete(SERVICE, NS, 'web-svc');
  });

  test('an image outside the catalog fails with ErrImagePull, then ImagePullBackOff, naming the catalog', async () => {
    await createPod(podSpec('noimage', [{ name: 'c', image: 'quay.io/acme/unknown:1.0' }]));
    // ErrImagePull shows until the first look within the backoff (0.5 s in the demo profile): a slow
    // poll may see ImagePullBackOff first, so the pull's message is checked in its event too.
    const waitingReason = (x: Pod) => x.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? '';
    const first = await waitPod('noimage', (x) => ['ErrImagePull', 'ImagePullBackOff'].includes(waitingReason(x)), 30000);
    if (waitingReason(first) === 'ErrImagePull') {
      expect(first.status?.containerStatuses?.[0].state?.waiting?.message).toMatch(/not in kubemu's local catalog \(built-in images: nginx, /);
    }
    const pullFailed = await waitFor('the Failed event of the pull', async () =>
      (await events('noimage')).find((e) => e.reason === 'Failed' && e.message?.startsWith('Failed to pull image "quay.io/acme/unknown:1.0"')),
    );
    expect(pullFailed.message).toMatch(/not in kubemu's local catalog \(built-in images: nginx, /);
    expect((await events('noimage')).some((e) => e.reason === 'Failed' && e.message === 'Error: ErrImagePull')).toBe(true);
    await waitPod('noimage', (x) => waitingReason(x) === 'ImagePullBackOff', 30000);
    expect(first.status?.phase).toBe('Pending');
    await deletePod('noimage');
  });

  test('graceful deletion: SIGTERM, SIGKILL after the grace period, then the pod object is removed', async () => {
    await createPod(podSpec('stubborn', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done'] }], { terminationGracePeriodSeconds: 2 }));
    await waitPod('stubborn', running);
    const started = Date.now();
    await client.delete(POD, NS, 'stubborn');
    await waitFor('pod gone', async () => ((await getPod('stubborn')) ? undefined : true), 15000);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(8000);
    expect((await events('stubborn')).some((e) => e.reason === 'Killing' && e.message === 'Stopping container c')).toBe(true);

    // nginx stops on SIGTERM at once; its IP stops answering.
    await createPod(podSpec('quick', [{ name: 'web', image: 'nginx' }]));
    const q = await waitPod('quick', running);
    await httpGetEventually(q.status!.podIP!, 80);
    const t0 = Date.now();
    await client.delete(POD, NS, 'quick');
    await waitFor('pod gone', async () => ((await getPod('quick')) ? undefined : true), 15000);
    expect(Date.now() - t0).toBeLessThan(3000);
    await expect(httpGet(q.status!.podIP!, 80)).rejects.toThrow();
  });
  test('admission: a pod bound past the node\'s allocatable is rejected OutOfcpu, never started', async () => {
    await createPod(podSpec('toobig', [{ name: 'c', image: 'nginx', resources: { requests: { cpu: '5' } } }]));
    const p = await waitPod('toobig', (x) => x.status?.phase === 'Failed');
    expect(p.status?.reason).toBe('OutOfcpu');
    expect(p.status?.message).toBe("Pod was rejected: Node didn't have enough resource: cpu, requested: 5000, used: 0, capacity: 4000");
    expect(p.status?.podIP).toBeFalsy();
    expect(p.status?.containerStatuses?.[0].state?.waiting).toBeTruthy();
    await deletePod('toobig');
  });

  test('lifecycle hooks: postStart runs once the container started, preStop before SIGTERM on deletion', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubemu-hooks-'));
    try {
      await createPod(
        podSpec(
          'hooks',
          [
            {
              name: 'c',
              image: 'busybox',
              command: ['sh', '-c', 'trap "echo term >> /out/log; exit 0" TERM; while true; do sleep 0.1; done'],
              volumeMounts: [{ name: 'out', mountPath: '/out' }],
              lifecycle: {
                postStart: { exec: { command: ['sh', '-c', 'echo poststart >> /out/log'] } },
                preStop: { exec: { command: ['sh', '-c', 'echo prestop >> /out/log'] } },
              },
            },
          ],
          { volumes: [{ name: 'out', hostPath: { path: dir, type: 'Directory' } }] },
        ),
      );
      await waitPod('hooks', running);
      expect(fs.readFileSync(path.join(dir, 'log'), 'utf8')).toBe('poststart\n');
      await client.delete(POD, NS, 'hooks');
      await waitFor('pod gone', async () => ((await getPod('hooks')) ? undefined : true), 15000);
      expect(fs.readFileSync(path.join(dir, 'log'), 'utf8')).toBe('poststart\nprestop\nterm\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kubelet - failures', () => {
  test('a killed kubelet leaves containers serving; restarted, it adopts them without restarting any', async () => {
    await createPod(podSpec('survivor', [{ name: 'web', image: 'nginx' }]));
    const before = await waitPod('survivor', running);
    await httpGetEventually(before.status!.podIP!, 80);
    const id = before.status!.containerStatuses![0].containerID;
    await kubelet.kill('SIGKILL');
    expect((await httpGet(before.status!.podIP!, 80)).status).toBe(200);
    // A pod deleted while the kubelet is down is cleaned up when it returns.
    await createPod({ metadata: { name: 'orphan', namespace: NS }, spec: { nodeName: kubelet.nodeName, containers: [{ name: 'c', image: 'nginx' }] } });
    await kubelet.start();
    await sleep(1500);
    const after = await waitPod('survivor', running);
    expect(after.status!.containerStatuses![0].containerID).toBe(id);
    expect(after.status!.containerStatuses![0].restartCount ?? 0).toBe(0);
    expect((await httpGet(after.status!.podIP!, 80)).status).toBe(200);
    await waitPod('orphan', running);
  });

  test('a killed runtime takes its containers with it; the node goes NotReady; when it returns the kubelet restarts them', async () => {
    const before = await waitPod('survivor', running);
    await runtime.kill('SIGKILL');
    await expect(httpGet(before.status!.podIP!, 80)).rejects.toThrow();
    await waitFor('node NotReady', async () => {
      const n = await client.tryGet(NODE, '', kubelet.nodeName);
      return n?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'False' ? true : undefined;
    });
    await runtime.start();
    const after = await waitPod('survivor', (p) => running(p) && (p.status?.containerStatuses?.[0].restartCount ?? 0) >= 1, 30000);
    expect((await httpGetEventually(after.status!.podIP!, 80)).status).toBe(200);
    await waitFor('node Ready', async () => {
      const n = await client.tryGet(NODE, '', kubelet.nodeName);
      return n?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? true : undefined;
    });
  });
});

describe('kubelet - a runtime that comes back', () => {
  // The periodic resync and housekeeping are 10 minutes away: only the container events stream
  // (broken by the runtime's death, reopened when it is back) and the channel's reconnects can
  // tell this kubelet; the events for the containers that died with the runtime are lost.
  let rt: Runtime;
  let k3: Kubelet;
  beforeAll(async () => {
    const n = Math.floor(Math.random() * 64 * 16);
    rt = await startRuntime({ nodeIndex: 2, podCIDR: `127.${64 + (n >> 4)}.${(n & 15) * 16}.0/28` });
    k3 = await startKubelet({
      apiservers: [env.address],
      natsUrls: env.natsUrls,
      runtime: rt,
      nodeIndex: 2,
      env: { KUBEMU_KUBELET_SYNC_FREQUENCY_MS: '600000', KUBEMU_KUBELET_HOUSEKEEPING_MS: '600000' },
    });
  });
  afterAll(async () => {
    await deletePod('comeback');
    await k3?.stop();
    await rt?.stop();
  });

  const restartCount = (p: Pod) => p.status?.containerStatuses?.[0].restartCount ?? 0;

  test('back before the kubelet looked: the events stream reconnecting makes it look at every pod, and the lost containers restart', async () => {
    await createPod({ metadata: { name: 'comeback', namespace: NS }, spec: { nodeName: k3.nodeName, terminationGracePeriodSeconds: 1, containers: [{ name: 'web', image: 'nginx' }] } });
    const before = await waitPod('comeback', running);
    expect(restartCount(before)).toBe(0);
    await rt.kill('SIGKILL');
    await rt.start();
    const after = await waitPod('comeback', (p) => running(p) && restartCount(p) >= 1, 10000);
    expect((await httpGetEventually(after.status!.podIP!, 80)).status).toBe(200);
  });

  test('back after 30 s away: the kubelet reconnects within about a second (not after grpc\'s grown backoff) and restarts the containers', async () => {
    const before = await waitPod('comeback', (p) => running(p) && restartCount(p) >= 1);
    await rt.kill('SIGKILL');
    // With grpc's default reconnect backoff (1 s growing 1.6 times, up to 120 s) the kubelet saw
    // the runtime back 7.5-18 s after it served; with the runtime channel's 1 s cap, within 1-2 s.
    await sleep(30000);
    await rt.start(); // resolves once it serves
    const back = Date.now();
    await waitPod('comeback', (p) => running(p) && restartCount(p) > restartCount(before), 5000);
    expect(Date.now() - back).toBeLessThan(5000);
  });
});

describe('kubelet - a node whose pod range is full', () => {
  test('a pod that gets no IP has a FailedCreatePodSandBox event and starts once an IP is free', async () => {
    // A random /30 in the test range 127.64–127.127.
    const n = Math.floor(Math.random() * 64 * 256);
    const cidr = `127.${64 + (n >> 8)}.${n & 255}.0/30`;
    const small = await startRuntime({ nodeIndex: 1, podCIDR: cidr });
    const k2 = await startKubelet({ apiservers: [env.address], natsUrls: env.natsUrls, runtime: small, nodeIndex: 1 });
    try {
      const onK2 = (name: string): Pod => ({ metadata: { name, namespace: NS }, spec: { nodeName: k2.nodeName, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'nginx' }] } });
      // A /30 holds three pod IPs (addresses ending in .0 are never handed out).
      for (const name of ['ip-1', 'ip-2', 'ip-3', 'ip-4']) await createPod(onK2(name));
      const started = await Promise.all(['ip-1', 'ip-2', 'ip-3'].map((name) => waitPod(name, running)));
      expect(new Set(started.map((p) => p.status?.podIP)).size).toBe(3);
      const failed = await waitFor('FailedCreatePodSandBox', async () => (await events('ip-4')).find((e) => e.reason === 'FailedCreatePodSandBox'));
      expect(failed.message).toMatch(/^Failed to create pod sandbox: /);
      expect((await getPod('ip-4'))?.status?.phase ?? 'Pending').toBe('Pending');
      await client.delete(POD, NS, 'ip-1');
      const fourth = await waitPod('ip-4', running, 30000);
      expect(fourth.status?.podIP).toBe(started[0].status?.podIP);
    } finally {
      for (const name of ['ip-1', 'ip-2', 'ip-3', 'ip-4']) await deletePod(name);
      await k2.stop();
      await small.stop();
    }
  });
});
