/**
 * The ingress controller process (dist/services/ingress-controller/main.js) against a real etcd,
 * nats-server and apiserver: backends are plain HTTP servers on loopback addresses of a pod
 * range, published through selector-less Services and Endpoints written by the test. Covers host
 * and path routing across two hosts and two Services, 404, 503, TLS with an openssl-made Secret,
 * WebSocket, the X-Forwarded-* headers, status.loadBalancer from the controller's LoadBalancer
 * Service, the controller serving that Service's LB IP itself (ipMode Proxy), the IngressClass and
 * Sync events, an Endpoints change applied within a second, and (with one kube-proxy) the
 * controller Service's ClusterIP through kube-proxy while the LB IP stays the controller's.
 */
import * as http from 'http';
import * as https from 'https';
import * as path from 'path';
import * as tls from 'tls';
import { ApiClient } from '../../services/lib/apiclient';
import { Endpoints, Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { Ingress } from '../../services/lib/generated/kubemu/networking/v1/networking';
import { repoRoot } from '../../services/lib/config';
import { checkHealth } from '../../services/lib/health';
import { resourceForCase } from '../../services/lib/resources';
import { ProxyStatus } from '../../services/kube-proxy/proxier';
import { nodeServiceSpec, ProcessSpec } from '../../services/lib/topology';
import { startTestApiServer, TestApiServer } from '../contract/env';
import { freePort, makeTempDir, ManagedProcess, removeTempDir } from '../harness';
import { waitFor } from '../harness/wait';
import { Backend, makeCertificate, request, startBackend, websocketRoundTrip } from '../unit/ingress-fixtures';

jest.setTimeout(60000);

const SERVICE = resourceForCase('service');
const ENDPOINTS = resourceForCase('endpoints');
const INGRESS = resourceForCase('ingress');
const INGRESS_CLASS = resourceForCase('ingressClass');
const SECRET = resourceForCase('secret');
const NODE = resourceForCase('node');
const EVENT = resourceForCase('event');
const NS = 'default';

// A /16 of the test range for this run's addresses: a hand-started cluster never uses these.
const b = 130 + Math.floor(Math.random() * 124);
const c = Math.floor(Math.random() * 255);
const SERVICE_CIDR = `127.${b}.${c}.0/24`;
const LB_CIDR = `127.${b}.${c + 1}.0/24`;
const podNet = `127.${64 + Math.floor(Math.random() * 64)}.${Math.floor(Math.random() * 256)}`;

let env: TestApiServer;
let client: ApiClient;
let dir: string;
let controller: ManagedProcess;
let kubeProxy: ManagedProcess | undefined;
let kubeProxyDir: string | undefined;
let httpPort: number;
let httpsPort: number;
let a: Backend, bk: Backend, a2: Backend;
const cert = makeCertificate('secure.test', ['secure.test']);

function selectorless(name: string, ports: Array<{ name: string; port: number }>): Service {
  return { metadata: { name, namespace: NS }, spec: { type: 'ClusterIP', ports: ports.map((p) => ({ ...p, protocol: 'TCP', targetPort: p.port })) } };
}
function endpointsOf(name: string, backends: Backend[], portName: string): Endpoints {
  return { metadata: { name, namespace: NS }, subsets: backends.map((x) => ({ addresses: [{ ip: x.host }], ports: [{ name: portName, port: x.port, protocol: 'TCP' }] })) };
}
const backendRef = (service: string, port: { number?: number; name?: string }) => ({ service: { name: service, port } });

const get = (host: string, p: string) => request({ host: '127.0.0.1', port: httpPort, path: p, headers: { host } });

beforeAll(async () => {
  env = await startTestApiServer({ KUBEMU_SERVICE_CIDR: SERVICE_CIDR, KUBEMU_LOADBALANCER_CIDR: LB_CIDR });
  client = new ApiClient([env.address]);
  a = await startBackend('svc-a', `${podNet}.1`);
  bk = await startBackend('svc-b', `${podNet}.2`);
  a2 = await startBackend('svc-a2', `${podNet}.3`);

  await client.create(SERVICE, selectorless('svc-a', [{ name: 'http', port: 80 }]));
  await client.create(ENDPOINTS, endpointsOf('svc-a', [a], 'http'));
  await client.create(SERVICE, selectorless('svc-b', [{ name: 'web', port: 8080 }]));
  await client.create(ENDPOINTS, endpointsOf('svc-b', [bk], 'web'));
  await client.create(SERVICE, selectorless('svc-empty', [{ name: 'http', port: 80 }]));
  await client.create(SECRET, { metadata: { name: 'secure-tls', namespace: NS }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from(cert.cert), 'tls.key': Buffer.from(cert.key) } });
  const web: Ingress = {
    metadata: { name: 'web', namespace: NS },
    spec: {
      // No class: served because the controller's class is the default.
      rules: ['a.test', 'b.test'].map((host) => ({
        host,
        http: {
          paths: [
            { path: '/one', pathType: 'Prefix', backend: host === 'a.test' ? backendRef('svc-a', { number: 80 }) : backendRef('svc-b', { name: 'web' }) },
            { path: '/two', pathType: 'Prefix', backend: host === 'a.test' ? backendRef('svc-b', { number: 8080 }) : backendRef('svc-a', { name: 'http' }) },
            { path: '/empty', pathType: 'Exact', backend: backendRef('svc-empty', { number: 80 }) },
          ],
        },
      })),
    },
  };
  await client.create(INGRESS, web);
  await client.create(INGRESS, {
    metadata: { name: 'secure', namespace: NS },
    spec: { ingressClassName: 'kubemu', tls: [{ hosts: ['secure.test'], secretName: 'secure-tls' }], rules: [{ host: 'secure.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: backendRef('svc-a', { number: 80 }) }] } }] },
  });
  await client.create(INGRESS, {
    metadata: { name: 'theirs', namespace: NS },
    spec: { ingressClassName: 'other', rules: [{ host: 'theirs.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: backendRef('svc-a', { number: 80 }) }] } }] },
  });

  dir = makeTempDir('ingress-controller');
  httpPort = await freePort();
  httpsPort = await freePort();
  const healthAddress = `127.0.0.1:${await freePort()}`;
  const spec: ProcessSpec = {
    name: 'ingress-controller-0',
    component: 'ingress-controller',
    index: 0,
    tier: 2,
    ports: { http: httpPort, https: httpsPort },
    address: `127.0.0.1:${httpPort}`,
    runtime: 'node',
    command: path.join(repoRoot(), 'dist', 'services', 'ingress-controller', 'main.js'),
    nodeArgs: [],
    args: [],
    env: {
      KUBEMU_COMPONENT_ID: 'ingress-controller-0',
      KUBEMU_STATE_DIR: dir,
      KUBEMU_APISERVERS: env.address,
      KUBEMU_NATS_SERVERS: env.natsUrls.join(','),
      KUBEMU_INGRESS_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
      KUBEMU_INGRESS_HTTPS_LISTEN: `127.0.0.1:${httpsPort}`,
      KUBEMU_INGRESS_HEALTH_LISTEN: healthAddress,
      KUBEMU_INGRESS_UPSTREAM_TIMEOUT_MS: '5000',
    },
    filterEnvPrefixes: ['KUBEMU_INGRESS_'],
    dirs: [],
    files: [],
    health: { kind: 'grpc', address: healthAddress },
  };
  controller = new ManagedProcess(spec, path.join(dir, 'ingress-controller.log'));
  await controller.start();
  await controller.waitHealthy(30000);
  await expect(checkHealth(healthAddress)).resolves.toBe('SERVING');
}, 90000);

afterAll(async () => {
  await kubeProxy?.kill('SIGKILL').catch(() => undefined);
  if (kubeProxyDir) removeTempDir(kubeProxyDir);
  await controller?.stop();
  await Promise.all([a?.close(), bk?.close(), a2?.close()]);
  client?.close();
  await env?.stop();
  if (dir) removeTempDir(dir);
});

const logs = () => controller.logs(40);

describe('ingress controller - routing', () => {
  it.each([
    ['a.test', '/one', 'svc-a'],
    ['a.test', '/one/x', 'svc-a'],
    ['a.test', '/two', 'svc-b'],
    ['b.test', '/one', 'svc-b'],
    ['B.TEST:80', '/two/y?q=1', 'svc-a'],
  ])('%s%s → %s', async (host, p, want) => {
    const res = await waitFor(`${host}${p} routed`, async () => {
      const r = await get(host, p);
      return r.status === 200 && r.body;
    }, 10000, { detail: logs });
    expect(res.split(' ')[0]).toBe(want);
  });

  it('unknown host, unmatched path and another class get 404', async () => {
    for (const [host, p] of [['nobody.test', '/one'], ['a.test', '/three'], ['a.test', '/onex'], ['theirs.test', '/']]) {
      const r = await get(host, p);
      expect([host, p, r.status]).toEqual([host, p, 404]);
    }
  });

  it('a Service without endpoints gets 503', async () => {
    expect((await get('a.test', '/empty')).status).toBe(503);
  });

  it('the backend sees the X-Forwarded-* headers', async () => {
    a.seen.length = 0;
    await get(`a.test:${httpPort}`, '/one/headers');
    const seen = a.seen.find((s) => s.url === '/one/headers');
    expect(seen?.headers).toMatchObject({
      host: `a.test:${httpPort}`,
      'x-forwarded-for': '127.0.0.1',
      'x-real-ip': '127.0.0.1',
      'x-forwarded-host': `a.test:${httpPort}`,
      'x-forwarded-proto': 'http',
      'x-forwarded-port': String(httpPort),
    });
    expect(seen?.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('WebSocket round trip through the controller', async () => {
    await expect(websocketRoundTrip('127.0.0.1', httpPort, 'b.test', '/one/ws', ['ping', 'pong'])).resolves.toEqual(['svc-b:ping', 'svc-b:pong']);
  });
});

/** The subject CN of the certificate the HTTPS listener offers for `servername`. */
function peerName(servername: string): Promise<{ cn: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: httpsPort, servername, rejectUnauthorized: false }, () => {
      const cn = String(socket.getPeerCertificate().subject?.CN);
      socket.destroy();
      resolve({ cn });
    });
    socket.on('error', reject);
  });
}

describe('ingress controller - TLS', () => {
  it('serves the Secret certificate for its host and reaches the backend', async () => {
    const res = await new Promise<{ status: number; body: string; cn: string; san: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: httpsPort, path: '/tls', servername: 'secure.test', headers: { host: 'secure.test' }, ca: cert.cert, agent: false }, (r) => {
        const peer = (r.socket as tls.TLSSocket).getPeerCertificate();
        const chunks: Buffer[] = [];
        r.on('data', (d: Buffer) => chunks.push(d));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body: Buffer.concat(chunks).toString(), cn: String(peer.subject?.CN), san: peer.subjectaltname ?? '' }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(res.cn).toBe('secure.test');
    expect(res.san).toContain('DNS:secure.test');
    expect(res.status).toBe(200);
    expect(res.body).toBe('svc-a GET /tls');
  });

  it('a Secret created after its Ingress is picked up; a malformed one is a Warning event', async () => {
    const late = makeCertificate('late.test', ['late.test']);
    await client.create(INGRESS, {
      metadata: { name: 'late', namespace: NS },
      spec: { tls: [{ hosts: ['late.test'], secretName: 'late-tls' }], rules: [{ host: 'late.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: backendRef('svc-b', { number: 8080 }) }] } }] },
    });
    await waitFor('route for late.test', async () => (await get('late.test', '/')).status === 308, 10000, { detail: logs });
    expect((await peerName('late.test')).cn).toBe('Kubernetes Ingress Controller Fake Certificate');
    await client.create(SECRET, { metadata: { name: 'late-tls', namespace: NS }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from(late.cert), 'tls.key': Buffer.from('not a key') } });
    await waitFor('InvalidTLSSecret event', async () => {
      const events = await client.list(EVENT, NS);
      return events.items.some((e) => e.involvedObject?.name === 'late' && e.type === 'Warning' && e.reason === 'InvalidTLSSecret');
    }, 10000, { detail: logs });
    const bad = await client.get(SECRET, NS, 'late-tls');
    await client.update(SECRET, { ...bad, data: { 'tls.crt': Buffer.from(late.cert), 'tls.key': Buffer.from(late.key) } });
    await waitFor('late.test certificate', async () => (await peerName('late.test')).cn === 'late.test', 10000, { detail: logs });
    expect(controller.running).toBe(true);
  });

  it('plain HTTP to the TLS host is redirected to https', async () => {
    const r = await get('secure.test', '/x');
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe('https://secure.test/x');
  });
});

describe('ingress controller - status, class and events', () => {
  it('creates its default IngressClass', async () => {
    const cls = await client.get(INGRESS_CLASS, '', 'kubemu');
    expect(cls.spec?.controller).toBe('kubemu.io/ingress-controller');
    expect(cls.metadata?.annotations?.['ingressclass.kubernetes.io/is-default-class']).toBe('true');
  });

  it('publishes the LoadBalancer IP of its Service in the Ingresses it serves', async () => {
    const svc = await waitFor('controller Service with an LB IP', async () => {
      const s = await client.tryGet(SERVICE, 'ingress-nginx', 'ingress-nginx-controller');
      return s?.status?.loadBalancer?.ingress?.[0]?.ip ? s : undefined;
    }, 15000, { detail: logs });
    const lbIP = svc.status!.loadBalancer!.ingress![0].ip!;
    expect(lbIP.startsWith(`127.${b}.${c + 1}.`)).toBe(true);
    expect(svc.spec?.type).toBe('LoadBalancer');
    const eps = await client.get(ENDPOINTS, 'ingress-nginx', 'ingress-nginx-controller');
    expect(eps.subsets?.[0]?.ports?.map((p) => `${p.name}:${p.port}`).sort()).toEqual([`http:${httpPort}`, `https:${httpsPort}`]);
    for (const name of ['web', 'secure']) {
      await waitFor(`${name} status`, async () => (await client.get(INGRESS, NS, name)).status?.loadBalancer?.ingress?.[0]?.ip === lbIP, 15000, { detail: logs });
    }
    expect((await client.get(INGRESS, NS, 'theirs')).status?.loadBalancer?.ingress ?? []).toEqual([]);
  });

  it('is the load balancer of its Service: ipMode Proxy, and <LB IP>:80/443 served by the controller itself', async () => {
    // No kube-proxy runs here: whatever answers on the LB IP is the controller.
    const svc = await waitFor('controller Service ingress marked ipMode Proxy', async () => {
      const s = await client.tryGet(SERVICE, 'ingress-nginx', 'ingress-nginx-controller');
      return s?.status?.loadBalancer?.ingress?.[0]?.ipMode === 'Proxy' ? s : undefined;
    }, 15000, { detail: logs });
    const lbIP = svc.status!.loadBalancer!.ingress![0].ip!;
    expect(svc.status!.loadBalancer!.ingress).toHaveLength(1);
    const viaLB = await waitFor('the LB IP serves HTTP', async () => {
      try {
        return await request({ host: lbIP, port: 80, path: '/one', headers: { host: 'a.test' } });
      } catch {
        return undefined;
      }
    }, 15000, { detail: logs });
    expect(viaLB.status).toBe(200);
    expect(viaLB.body.split(' ')[0]).toBe('svc-a');
    expect(a.seen.at(-1)?.headers['x-forwarded-port']).toBe('80');
    const secure = await new Promise<{ status: number; body: string; cn: string }>((resolve, reject) => {
      const req = https.request({ host: lbIP, port: 443, path: '/', servername: 'secure.test', headers: { host: 'secure.test' }, rejectUnauthorized: false, agent: false }, (res) => {
        const cn = String((res.socket as tls.TLSSocket).getPeerCertificate().subject?.CN ?? '');
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cn }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(secure.status).toBe(200);
    expect(secure.cn).toBe('secure.test');
    expect(secure.body.split(' ')[0]).toBe('svc-a');
    // The Endpoints registration stays for the ClusterIP and node ports (kube-proxy's part).
    const eps = await client.get(ENDPOINTS, 'ingress-nginx', 'ingress-nginx-controller');
    expect(eps.subsets?.[0]?.addresses?.[0]?.ip).toBe('127.0.0.1');
  });

  it('records Sync events for the Ingresses it picked up', async () => {
    await waitFor('Sync event', async () => {
      const events = await client.list(EVENT, NS);
      return events.items.some((e) => e.involvedObject?.name === 'web' && e.reason === 'Sync' && e.message === 'Scheduled for sync');
    }, 10000);
  });

  it('removes its address from an Ingress it stops serving', async () => {
    const web = await client.get(INGRESS, NS, 'web');
    await client.update(INGRESS, { ...web, spec: { ...web.spec, ingressClassName: 'other' } });
    await waitFor('status removed', async () => ((await client.get(INGRESS, NS, 'web')).status?.loadBalancer?.ingress ?? []).length === 0, 15000, { detail: logs });
    await waitFor('route gone', async () => (await get('a.test', '/one')).status === 404, 5000);
    const again = await client.get(INGRESS, NS, 'web');
    await client.update(INGRESS, { ...again, spec: { ...again.spec, ingressClassName: undefined } });
    await waitFor('route back', async () => (await get('a.test', '/one')).status === 200, 5000);
  });
});

describe('ingress controller - following Endpoints', () => {
  it('an Endpoints change is applied within a second', async () => {
    const current = await client.get(ENDPOINTS, NS, 'svc-a');
    await client.update(ENDPOINTS, { ...current, subsets: endpointsOf('svc-a', [a2], 'http').subsets });
    const written = Date.now();
    await waitFor('new endpoint used', async () => (await get('a.test', '/one')).body.startsWith('svc-a2 '), 5000, { intervalMs: 20 });
    const took = Date.now() - written;
    expect(took).toBeLessThan(1000);
    // And the empty Service becomes routable when it gets an endpoint.
    await client.create(ENDPOINTS, endpointsOf('svc-empty', [bk], 'http'));
    await waitFor('503 turned 200', async () => (await get('a.test', '/empty')).status === 200, 5000, { intervalMs: 20 });
  });
});

describe('ingress controller - with a kube-proxy', () => {
  it('kube-proxy carries the ClusterIP to the controller and leaves the LB IP (ipMode Proxy) to it', async () => {
    // One node for the kube-proxy; 127.1.200-254.x is a test cluster's node range.
    const nodeIP = `127.1.${200 + Math.floor(Math.random() * 55)}.${1 + Math.floor(Math.random() * 250)}`;
    const created = await client.create(NODE, { metadata: { name: 'ingress-node' }, spec: { podCIDR: `${podNet}.0/24`, podCIDRs: [`${podNet}.0/24`] } });
    const now = new Date().toISOString();
    await client.updateStatus(NODE, {
      ...created,
      status: {
        addresses: [{ type: 'InternalIP', address: nodeIP }],
        conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: now, lastTransitionTime: now, reason: 'KubeletReady' }],
      },
    });
    kubeProxyDir = makeTempDir('ingress-kube-proxy');
    const healthPort = await freePort();
    const statusPort = await freePort();
    const spec = nodeServiceSpec({
      name: 'kube-proxy-ingress-node',
      component: 'kube-proxy',
      index: 0,
      tier: 3,
      main: 'services/kube-proxy/main.ts',
      ports: { health: healthPort, status: statusPort },
      address: `127.0.0.1:${healthPort}`,
      env: {
        KUBEMU_COMPONENT_ID: 'kube-proxy-ingress-node',
        KUBEMU_PROFILE: 'demo',
        KUBEMU_STATE_DIR: kubeProxyDir,
        KUBEMU_APISERVERS: env.address,
        KUBEMU_NATS_SERVERS: env.natsUrls.join(','),
        KUBEMU_JETSTREAM_REPLICAS: '1',
        KUBEMU_NODE_NAME: 'ingress-node',
        KUBEMU_NODE_IP: nodeIP,
        KUBEMU_NODE_CIDR: `${nodeIP}/32`,
        KUBEMU_PROXY_HEALTH_LISTEN: `127.0.0.1:${healthPort}`,
        KUBEMU_PROXY_STATUS_LISTEN: `127.0.0.1:${statusPort}`,
      },
      health: { kind: 'grpc', address: `127.0.0.1:${healthPort}` },
    });
    kubeProxy = new ManagedProcess(spec, path.join(kubeProxyDir, 'kube-proxy.log'));
    await kubeProxy.start();
    await kubeProxy.waitHealthy(30000);
    const proxyLogs = () => kubeProxy!.logs(30);

    const svc = await client.get(SERVICE, 'ingress-nginx', 'ingress-nginx-controller');
    const clusterIP = svc.spec!.clusterIP!;
    const lbIP = svc.status!.loadBalancer!.ingress![0].ip!;
    const viaClusterIP = await waitFor('the ClusterIP reaches the controller through kube-proxy', async () => {
      try {
        const r = await request({ host: clusterIP, port: 80, path: '/one', headers: { host: 'a.test' } });
        return r.status === 200 ? r : undefined;
      } catch {
        return undefined;
      }
    }, 15000, { detail: proxyLogs });
    expect(viaClusterIP.body.startsWith('svc-a')).toBe(true);
    const held = await new Promise<ProxyStatus[]>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: statusPort, path: '/proxies', agent: false }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(JSON.parse(body) as ProxyStatus[]));
        })
        .on('error', reject);
    });
    const ours = held.filter((p) => p.service === 'ingress-nginx/ingress-nginx-controller');
    expect(ours.some((p) => p.kind === 'ClusterIP' && p.address === `${clusterIP}:80`)).toBe(true);
    expect(ours.some((p) => p.kind === 'NodePort')).toBe(true);
    expect(ours.filter((p) => p.kind === 'LoadBalancer' || p.address.startsWith(`${lbIP}:`))).toEqual([]);
    // The LB IP is still the controller's own.
    expect((await request({ host: lbIP, port: 80, path: '/one', headers: { host: 'a.test' } })).body.startsWith('svc-a')).toBe(true);
  });
});
