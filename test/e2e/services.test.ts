/**
 * e2e: Service networking on a whole cluster started as a person starts it (pm2; 3 nodes each with
 * a runtime, a kubelet and a kube-proxy; cluster-dns and the ingress controller as addons), demo
 * profile. Real TCP flows through kube-proxy to pods that are real processes: ClusterIP, NodePort
 * on every node IP, LoadBalancer IP; endpoints follow scale and readiness; a killed kube-proxy's
 * addresses are taken over by another; DNS answers from the kube-dns ClusterIP; an Ingress routes
 * hosts and paths and terminates TLS.
 */
import { execFileSync } from 'child_process';
import * as dns from 'dns';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import * as path from 'path';
import { ApiClient } from '../../services/lib/apiclient';
import { Deployment } from '../../services/lib/generated/kubemu/apps/v1/apps';
import { Pod, Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { Ingress } from '../../services/lib/generated/kubemu/networking/v1/networking';
import { resourceForCase } from '../../services/lib/resources';
import { ClusterNetwork, clusterNetwork, clusterNodeIP } from '../../services/lib/topology';
import { makeTempDir } from '../harness/cleanup';
import { E2ECluster, expectSucceeded, prepareCluster } from '../harness/cluster';
import { sleep, waitFor as waitUntil } from '../harness/wait';

jest.setTimeout(240000);

const POD = resourceForCase('pod');
const SERVICE = resourceForCase('service');
const DEPLOY = resourceForCase('deployment');
const STS = resourceForCase('statefulSet');
const SECRET = resourceForCase('secret');
const INGRESS = resourceForCase('ingress');
const NS = 'default';

let cluster: E2ECluster;
let client: ApiClient;
let network: ClusterNetwork;
let nodeIPs: string[];
let readyDir: string;

beforeAll(async () => {
  cluster = await prepareCluster('demo');
  expectSucceeded(await cluster.run(['start']));
  client = new ApiClient(await cluster.addresses('kube-apiserver'));
  network = clusterNetwork({ portBase: cluster.portBase });
  nodeIPs = [0, 1, 2].map((i) => clusterNodeIP(network, i));
  readyDir = makeTempDir('e2e-ready');
});

afterAll(async () => {
  client?.close();
  await cluster?.destroy();
  if (readyDir) fs.rmSync(readyDir, { recursive: true, force: true });
});

const waitFor = <T>(what: string, get: () => Promise<T | undefined | false>, timeoutMs = 60000) => waitUntil(what, get, timeoutMs, { intervalMs: 100 });

const ready = (p: Pod) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

async function readyPods(app: string): Promise<Pod[]> {
  return (await client.list(POD, NS, { labelSelector: `app=${app}` })).items.filter((p) => ready(p) && !p.metadata?.deletionTimestamp);
}

/** A Deployment of the nginx image whose pods are ready while `<readyDir>/<pod name>` does not exist. */
function deployment(name: string, replicas: number): Deployment {
  return {
    metadata: { name, namespace: NS },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'web',
              image: 'nginx',
              ports: [{ name: 'http', containerPort: 80 }],
              readinessProbe: { exec: { command: ['sh', '-c', `test ! -e ${readyDir}/$HOSTNAME`] }, periodSeconds: 1, failureThreshold: 1 },
            },
          ],
        },
      },
    },
  };
}

interface Reply {
  status: number;
  body: string;
  /** The pod that answered (from the nginx image's JSON or HTML page). */
  pod: string;
}

function podOf(body: string): string {
  try {
    const j = JSON.parse(body) as { pod?: { name?: string } };
    if (j.pod?.name) return j.pod.name;
  } catch {
    /* the HTML page */
  }
  const m = /<th>pod<\/th><td>([^<]*)<\/td>/.exec(body);
  return m ? m[1] : '';
}

/** One GET on a fresh connection (no keep-alive, so that every request is balanced anew). */
function get(host: string, port: number, opts: { path?: string; headers?: Record<string, string>; localAddress?: string; timeoutMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: opts.path ?? '/whoami', headers: opts.headers, localAddress: opts.localAddress, agent: false, timeout: opts.timeoutMs ?? 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, pod: podOf(body) }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`timeout after ${opts.timeoutMs ?? 3000} ms`)));
  });
}

async function spread(host: string, port: number, n: number, opts: { localAddress?: string } = {}): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await get(host, port, opts);
    expect(r.status).toBe(200);
    counts.set(r.pod, (counts.get(r.pod) ?? 0) + 1);
  }
  return counts;
}

/**
 * Waits until requests to host:port reach every one of `names`: a pod's endpoint reaches each
 * kube-proxy through the EndpointSlice controller and a watch, a moment after the API shows the
 * pod ready (the promise is "eventually"; the lag itself is measured in the scaling test).
 */
async function reachesAll(host: string, port: number, names: string[]): Promise<void> {
  await waitFor(`${host}:${port} reaching ${names.join(', ')}`, async () => {
    const seen = await spread(host, port, names.length * 4);
    return names.every((n) => seen.has(n));
  });
}

async function service(spec: Service): Promise<Service> {
  await client.create(SERVICE, spec);
  return waitFor(`service ${spec.metadata?.name} allocated`, async () => {
    const s = await client.get(SERVICE, NS, spec.metadata!.name!);
    if (s.spec?.type === 'LoadBalancer' && !s.status?.loadBalancer?.ingress?.[0]?.ip) return undefined;
    return s;
  });
}

interface ProxyEntry {
  address: string;
  protocol: string;
  service: string;
  port: string;
  kind: string;
  endpoints: string[];
}

/** Every kube-proxy's status port, by process name. */
async function proxyStatusPorts(): Promise<Map<string, number>> {
  const { report } = await cluster.status();
  const out = new Map<string, number>();
  for (const p of report.processes.filter((p) => p.component === 'kube-proxy')) {
    const index = Number(/node-(\d+)$/.exec(p.name)![1]) - 1;
    out.set(p.name, cluster.portBase + 910 + index);
  }
  return out;
}

async function proxies(port: number): Promise<ProxyEntry[]> {
  const r = await get('127.0.0.1', port, { path: '/proxies' });
  return JSON.parse(r.body) as ProxyEntry[];
}

const web = 'web';
let webService: Service;

test('services - 300 requests to a ClusterIP reach all three pods of a Deployment', async () => {
  await client.create(DEPLOY, deployment(web, 3));
  webService = await service({
    metadata: { name: web, namespace: NS },
    spec: { type: 'LoadBalancer', selector: { app: web }, ports: [{ name: 'http', port: 8080, targetPort: 'http' as never }] },
  });
  await waitFor('3 ready pods', async () => (await readyPods(web)).length === 3);
  const ip = webService.spec!.clusterIP!;
  expect(ip.startsWith(network.serviceCIDR.split('.').slice(0, 2).join('.') + '.')).toBe(true);
  const names = (await readyPods(web)).map((p) => p.metadata!.name!).sort();
  await reachesAll(ip, 8080, names);
  const counts = await spread(ip, 8080, 300);
  expect([...counts.keys()].sort()).toEqual(names);
  for (const n of counts.values()) expect(n).toBeGreaterThanOrEqual(50);
});

test('services - the NodePort answers on every node IP and the LoadBalancer IP answers too', async () => {
  const nodePort = webService.spec!.ports![0].nodePort!;
  expect(nodePort).toBeGreaterThanOrEqual(30000);
  const names = (await readyPods(web)).map((p) => p.metadata!.name!).sort();
  for (const ip of nodeIPs) {
    await reachesAll(ip, nodePort, names);
    expect([...(await spread(ip, nodePort, 30)).keys()].sort()).toEqual(names);
  }
  const lb = webService.status!.loadBalancer!.ingress![0].ip!;
  expect(lb.startsWith(network.loadBalancerCIDR.split('.').slice(0, 2).join('.') + '.')).toBe(true);
  await reachesAll(lb, 8080, names);
  expect([...(await spread(lb, 8080, 30)).keys()].sort()).toEqual(names);
});

// The lag is printed; the 1 s target is measured by `npm run bench:services` (a timed assertion
// here would fail on a loaded machine: 3.8 s seen with the whole suite and two busy loops on 2
// cores). The bound catches what a broken event path looks like: traffic only after a resync.
test('services - after scaling to 5 the new pods get traffic soon after being ready', async () => {
  const before = new Set((await readyPods(web)).map((p) => p.metadata!.name!));
  const scale = await client.getScale(DEPLOY, NS, web);
  await client.updateScale(DEPLOY, NS, { ...scale, spec: { replicas: 5 } });
  const ip = webService.spec!.clusterIP!;
  const seen = new Map<string, number>();
  const readyAt = new Map<string, number>();
  await waitFor('both new pods answer through the ClusterIP', async () => {
    for (const p of await readyPods(web)) if (!before.has(p.metadata!.name!) && !readyAt.has(p.metadata!.name!)) readyAt.set(p.metadata!.name!, Date.now());
    for (let i = 0; i < 10; i++) {
      const r = await get(ip, 8080);
      if (!before.has(r.pod) && !seen.has(r.pod)) seen.set(r.pod, Date.now());
    }
    return seen.size === 2;
  });
  for (const [name, at] of seen) {
    const lag = at - (readyAt.get(name) ?? at);
    console.log(`services: new pod ${name} got traffic ${lag} ms after the API showed it ready`);
    expect(lag).toBeLessThan(5000);
  }
});

test('services - a pod failing its readiness probe stops getting traffic, and gets it back when ready', async () => {
  const [victim] = await readyPods(web);
  const name = victim.metadata!.name!;
  fs.writeFileSync(path.join(readyDir, name), 'not ready');
  await waitFor(`${name} not ready`, async () => !ready(await client.get(POD, NS, name)));
  const notReadyAt = Date.now();
  await waitFor(`${name} gets no traffic`, async () => !(await spread(webService.spec!.clusterIP!, 8080, 20)).has(name));
  console.log(`services: ${name} stopped getting traffic ${Date.now() - notReadyAt} ms after the API showed it not ready`);
  const counts = await spread(webService.spec!.clusterIP!, 8080, 60);
  expect(counts.has(name)).toBe(false);
  expect(counts.size).toBe(4);
  fs.rmSync(path.join(readyDir, name));
  await waitFor(`${name} gets traffic again`, async () => (await spread(webService.spec!.clusterIP!, 8080, 20)).has(name));
});

test('services - sessionAffinity ClientIP sends one client to one pod', async () => {
  const svc = await service({
    metadata: { name: 'sticky', namespace: NS },
    spec: { selector: { app: web }, sessionAffinity: 'ClientIP', ports: [{ port: 80, targetPort: 80 as never }] },
  });
  const ip = svc.spec!.clusterIP!;
  await waitFor('sticky answers', () => get(ip, 80));
  const pods = new Set<string>();
  for (const source of ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4']) {
    const counts = await spread(ip, 80, 15, { localAddress: source });
    expect(counts.size).toBe(1);
    pods.add([...counts.keys()][0]);
  }
  // Four clients over five pods: not all on one pod (a 1 in 625 chance with random first picks).
  expect(pods.size).toBeGreaterThan(1);
  await client.delete(SERVICE, NS, 'sticky');
});

test('services - killing the kube-proxy that serves a ClusterIP: another takes over after a short gap', async () => {
  const ip = webService.spec!.clusterIP!;
  const address = `${ip}:8080`;
  const ports = await proxyStatusPorts();
  let holder = '';
  await waitFor(`a kube-proxy holding ${address}`, async () => {
    for (const [name, port] of ports) if ((await proxies(port).catch(() => [])).some((e) => e.address === address)) holder = name;
    return holder !== '';
  });
  const pid = await cluster.pid(holder);
  expect(pid).toBeDefined();
  // Requests every 20 ms; the gap is the time between the last success before and the first after.
  let stop = false;
  let lastOk = 0;
  let longestGap = 0;
  let failures = 0;
  let successesAfterKill = 0;
  let killedAt = 0;
  const loop = (async () => {
    while (!stop) {
      try {
        await get(ip, 8080, { timeoutMs: 2000 });
        const now = Date.now();
        if (lastOk) longestGap = Math.max(longestGap, now - lastOk);
        lastOk = now;
        if (killedAt) successesAfterKill++;
      } catch {
        failures++;
      }
      await sleep(20);
    }
  })();
  await sleep(500);
  killedAt = Date.now();
  process.kill(pid!, 'SIGKILL');
  await waitFor('requests succeed again after the kill', async () => successesAfterKill >= 20, 20000);
  stop = true;
  await loop;
  console.log(`services: killed ${holder} holding ${address}: longest gap between successful requests ${longestGap} ms, ${failures} failed requests`);
  expect(longestGap).toBeLessThan(3000);
  let newHolder = '';
  for (const [name, port] of ports) if (name !== holder && (await proxies(port).catch(() => [])).some((e) => e.address === address)) newHolder = name;
  expect(newHolder).not.toBe('');
});

test('services - cluster DNS answers for a ClusterIP Service, a headless Service, a StatefulSet pod, SRV, ExternalName and NXDOMAIN', async () => {
  await client.create(SERVICE, { metadata: { name: 'db', namespace: NS }, spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ name: 'http', port: 80 }] } });
  await client.create(STS, {
    metadata: { name: 'db', namespace: NS },
    spec: {
      serviceName: 'db',
      replicas: 2,
      selector: { matchLabels: { app: 'db' } },
      template: { metadata: { labels: { app: 'db' } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'db', image: 'nginx', ports: [{ name: 'http', containerPort: 80 }] }] } },
    },
  });
  const resolver = new dns.promises.Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([network.clusterDNS]);
  const domain = network.clusterDomain;
  await waitFor('web resolves', async () => (await resolver.resolve4(`web.default.svc.${domain}`)).length > 0);
  expect(await resolver.resolve4(`web.default.svc.${domain}`)).toEqual([webService.spec!.clusterIP]);
  const dbPods = await waitFor('2 ready db pods', async () => {
    const ps = await readyPods('db');
    return ps.length === 2 ? ps : undefined;
  });
  const podIPs = dbPods.map((p) => p.status!.podIP!).sort();
  await waitFor('the headless Service resolves to both pods', async () => (await resolver.resolve4(`db.default.svc.${domain}`)).sort().join() === podIPs.join());
  const db0 = dbPods.find((p) => p.metadata!.name === 'db-0')!;
  expect(await resolver.resolve4(`db-0.db.default.svc.${domain}`)).toEqual([db0.status!.podIP]);
  const srv = await resolver.resolveSrv(`_http._tcp.web.default.svc.${domain}`);
  expect(srv).toEqual([expect.objectContaining({ name: `web.default.svc.${domain}`, port: 8080 })]);
  await expect(resolver.resolve4(`nothing.default.svc.${domain}`)).rejects.toMatchObject({ code: 'ENOTFOUND' });
  // ExternalName: a CNAME only (no proxy), here to the headless Service, whose records follow.
  await client.create(SERVICE, { metadata: { name: 'alias', namespace: NS }, spec: { type: 'ExternalName', externalName: `db.default.svc.${domain}` } });
  await waitFor('the ExternalName CNAME', async () => (await resolver.resolveCname(`alias.default.svc.${domain}`))[0] === `db.default.svc.${domain}`);
  expect((await resolver.resolve4(`alias.default.svc.${domain}`)).sort()).toEqual(podIPs);
  // Over TCP too (kube-proxy carries both protocols of the kube-dns Service).
  const tcp = await dnsOverTcp(network.clusterDNS, `web.default.svc.${domain}`);
  expect(tcp).toEqual([webService.spec!.clusterIP]);
  // dig from the host, as a person would (UDP, then TCP), where the machine has dig.
  if (hasDig()) {
    const dig = (...args: string[]) => execFileSync('dig', [`@${network.clusterDNS}`, '+short', '+time=2', '+tries=2', ...args], { encoding: 'utf8' }).trim();
    expect(dig(`web.default.svc.${domain}`)).toBe(webService.spec!.clusterIP);
    expect(dig('+tcp', `db-0.db.default.svc.${domain}`)).toBe(db0.status!.podIP);
    expect(dig('SRV', `_http._tcp.web.default.svc.${domain}`)).toBe(`0 100 8080 web.default.svc.${domain}.`);
  }
});

test('services - a pod reaches another Service by its short name through cluster DNS', async () => {
  const [pod] = await readyPods('db');
  const r = await waitFor('db pod fetches http://web:8080/ by name', async () => {
    const res = await get(pod.status!.podIP!, 80, { path: '/proxy?url=' + encodeURIComponent('http://web:8080/whoami') });
    return res.status === 200 ? res : undefined;
  }, 20000);
  expect(r.body).toContain('web-');
});

test('services - an Ingress routes two hosts and two paths, terminates TLS with a Secret, and answers 404 and 503', async () => {
  await client.create(DEPLOY, deployment('api', 2));
  await client.create(SERVICE, { metadata: { name: 'api', namespace: NS }, spec: { selector: { app: 'api' }, ports: [{ name: 'http', port: 80, targetPort: 'http' as never }] } });
  await client.create(SERVICE, { metadata: { name: 'empty', namespace: NS }, spec: { selector: { app: 'nobody' }, ports: [{ port: 80 }] } });
  const tlsDir = makeTempDir('e2e-tls');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=shop.example.com', '-addext', 'subjectAltName=DNS:shop.example.com', '-keyout', path.join(tlsDir, 'tls.key'), '-out', path.join(tlsDir, 'tls.crt')], { stdio: 'ignore' });
  const crt = fs.readFileSync(path.join(tlsDir, 'tls.crt'));
  await client.create(SECRET, { metadata: { name: 'shop-tls', namespace: NS }, type: 'kubernetes.io/tls', data: { 'tls.crt': crt, 'tls.key': fs.readFileSync(path.join(tlsDir, 'tls.key')) } } as never);
  const ing: Ingress = {
    metadata: { name: 'shop', namespace: NS, annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' } },
    spec: {
      tls: [{ hosts: ['shop.example.com'], secretName: 'shop-tls' }],
      rules: [
        {
          host: 'shop.example.com',
          http: {
            paths: [
              { path: '/', pathType: 'Prefix', backend: { service: { name: web, port: { name: 'http' } } } },
              { path: '/api', pathType: 'Prefix', backend: { service: { name: 'api', port: { number: 80 } } } },
            ],
          },
        },
        { host: '*.blog.example.com', http: { paths: [{ path: '/down', pathType: 'Exact', backend: { service: { name: 'empty', port: { number: 80 } } } }, { path: '/', pathType: 'Prefix', backend: { service: { name: 'api', port: { number: 80 } } } }] } },
      ],
    },
  };
  await client.create(INGRESS, ing);
  const lbIP = await waitFor('the Ingress gets an address', async () => (await client.get(INGRESS, NS, 'shop')).status?.loadBalancer?.ingress?.[0]?.ip);
  await waitFor('2 ready api pods', async () => (await readyPods('api')).length === 2);
  const shop = (p: string) => get(lbIP, 80, { path: p, headers: { host: 'shop.example.com' } });
  await waitFor('the ingress routes shop.example.com/', async () => (await shop('/')).pod.startsWith('web-'));
  await waitFor('the ingress routes shop.example.com/api', async () => (await shop('/api/items')).pod.startsWith('api-'));
  expect((await get(lbIP, 80, { path: '/', headers: { host: 'a.blog.example.com' } })).pod).toMatch(/^api-/);
  expect((await get(lbIP, 80, { path: '/', headers: { host: 'unknown.example.com' } })).status).toBe(404);
  expect((await get(lbIP, 80, { path: '/down', headers: { host: 'a.blog.example.com' } })).status).toBe(503);
  const forwarded = JSON.parse((await shop('/api/headers')).body) as { headers?: Record<string, string> };
  expect(forwarded.headers?.['x-forwarded-host']).toBe('shop.example.com');
  // TLS: the Secret's certificate is served for shop.example.com, and the request reaches the pod.
  const tls = await new Promise<{ status: number; body: string; cn: string }>((resolve, reject) => {
    const req = https.get({ host: lbIP, port: 443, path: '/api/x', servername: 'shop.example.com', headers: { host: 'shop.example.com' }, ca: crt, agent: false, timeout: 3000 }, (res) => {
      const cert = (res.socket as import('tls').TLSSocket).getPeerCertificate();
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cn: String(cert.subject?.CN ?? '') }));
    });
    req.on('error', reject);
  });
  expect(tls.status).toBe(200);
  expect(tls.cn).toBe('shop.example.com');
  expect(podOf(tls.body)).toMatch(/^api-/);
  fs.rmSync(tlsDir, { recursive: true, force: true });
});

function hasDig(): boolean {
  try {
    execFileSync('dig', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** An A query over TCP (RFC 1035 4.2.2 framing), answers as dotted quads. */
function dnsOverTcp(server: string, name: string): Promise<string[]> {
  const labels = name.split('.').filter(Boolean);
  const q = Buffer.concat([
    Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])),
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
  const framed = Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: server, port: 53 }, () => sock.write(framed));
    let buf = Buffer.alloc(0);
    sock.setTimeout(3000, () => sock.destroy(new Error('DNS over TCP timed out')));
    sock.on('error', reject);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
      sock.end();
      const answers = msg.readUInt16BE(6);
      let off = 12;
      const skipName = () => {
        for (;;) {
          const len = msg[off];
          if (len === 0) return void off++;
          if ((len & 0xc0) === 0xc0) return void (off += 2);
          off += len + 1;
        }
      };
      skipName();
      off += 4;
      const ips: string[] = [];
      for (let i = 0; i < answers; i++) {
        skipName();
        const type = msg.readUInt16BE(off);
        const rdlen = msg.readUInt16BE(off + 8);
        if (type === 1) ips.push([...msg.subarray(off + 10, off + 14)].join('.'));
        off += 10 + rdlen;
      }
      resolve(ips);
    });
  });
}
