/**
 * kube-proxy against a real etcd, nats-server and apiserver: three kube-proxy processes from
 * dist/ (nodes kp-1..kp-3, Nodes created through the API with InternalIPs in a random test node
 * /24), backends are HTTP/UDP servers in this process on pod addresses, Services are selector-less
 * with Endpoints written here. Covers ClusterIP round robin, NodePorts on every node IP, a
 * LoadBalancer IP, endpoint removal, refusal without endpoints, ClientIP affinity,
 * externalTrafficPolicy Local, UDP, bad objects, and the failover when the proxy holding a
 * ClusterIP is SIGKILLed.
 */
import * as dgram from 'dgram';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import * as fs from 'fs';
import { ApiClient } from '../../services/lib/apiclient';
import { Endpoints, Node, Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { nodeServiceSpec } from '../../services/lib/topology';
import { ProxyStatus } from '../../services/kube-proxy/proxier';
import { ManagedProcess, freePort, makeTempDir, removeTempDir } from '../harness';
import { connectCode, httpGet as get, httpTextServer, udpEchoServer, udpExchange } from '../harness/net';
import { waitFor, sleep } from '../harness/wait';
import { startTestApiServer, TestApiServer } from '../contract/env';

jest.setTimeout(60000);

const SERVICE = resourceForCase('service');
const ENDPOINTS = resourceForCase('endpoints');
const NODE = resourceForCase('node');
const NS = 'default';

const rnd = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

/** The /24s ("127.x.y") with a socket bound in them now (IPv4 TCP and UDP), from /proc/net. */
function busySlash24s(): Set<string> {
  const busy = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/udp']) {
    let text = '';
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const hex = /^\s*\d+:\s*([0-9A-F]{8}):/i.exec(line)?.[1];
      if (!hex) continue;
      const n = parseInt(hex, 16); // little-endian: the first octet is the low byte
      busy.add(`${n & 255}.${(n >>> 8) & 255}.${(n >>> 16) & 255}`);
    }
  }
  return busy;
}

/** A random "127.a.b" with a in [lo, hi] and nothing bound in it (and not in `avoid`). */
function unusedSlash24(lo: number, hi: number, avoid: string[] = [], b: [number, number] = [0, 255]): string {
  const busy = busySlash24s();
  for (let i = 0; i < 1000; i++) {
    const net = `127.${rnd(lo, hi)}.${rnd(b[0], b[1])}`;
    if (!busy.has(net) && !avoid.includes(net)) return net;
  }
  throw new Error('no unused /24 found');
}

const NODE_NET = unusedSlash24(1, 1, [], [100, 250]);
const POD_NET = unusedSlash24(64, 127);
// A /24 for ClusterIPs and another for LoadBalancer IPs, inside 127.130-127.253 and unused now,
// so that a hand-started or e2e cluster's Services never share an address with ours.
const SVC_NET = unusedSlash24(130, 253);
const LB_NET = unusedSlash24(130, 253, [SVC_NET]);
const SERVICE_CIDR = `${SVC_NET}.0/24`;
const LB_CIDR = `${LB_NET}.0/24`;
const NODES = ['kp-1', 'kp-2', 'kp-3'];
const nodeIP = (i: number) => `${NODE_NET}.${i + 1}`;
/** Node i's pods: POD_NET.(64i+1 ...) in a /26 each. */
const podIP = (i: number, n: number) => `${POD_NET}.${64 * i + n}`;

interface Proxy {
  node: string;
  proc: ManagedProcess;
  status: string;
  dir: string;
}

let env: TestApiServer;
let client: ApiClient;
const proxies: Proxy[] = [];
const servers: Array<http.Server | dgram.Socket> = [];
let backendPort: number;

async function proxiesOf(p: Proxy): Promise<ProxyStatus[]> {
  return JSON.parse((await statusGet(p, '/proxies')).body) as ProxyStatus[];
}

async function statusGet(p: Proxy, urlPath: string): Promise<{ code: number; body: string }> {
  const [host, port] = p.status.split(':');
  return new Promise((resolve, reject) => {
    http
      .get({ host, port: Number(port), path: urlPath, agent: false, timeout: 3000 }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

function logTail(): string {
  return proxies.map((p) => `--- ${p.node}\n${fs.existsSync(p.proc.logFile) ? fs.readFileSync(p.proc.logFile, 'utf8').split('\n').slice(-15).join('\n') : ''}`).join('\n');
}

async function httpBackend(ip: string, name: string): Promise<void> {
  servers.push(await httpTextServer(ip, backendPort, name));
}

async function startProxy(node: string): Promise<Proxy> {
  const dir = makeTempDir('kube-proxy');
  const healthPort = await freePort();
  const statusPort = await freePort();
  const spec = nodeServiceSpec({
    name: `kube-proxy-${node}`,
    component: 'kube-proxy',
    index: NODES.indexOf(node),
    tier: 3,
    main: 'services/kube-proxy/main.ts',
    ports: { health: healthPort, status: statusPort },
    address: `127.0.0.1:${healthPort}`,
    env: {
      KUBEMU_COMPONENT_ID: `kube-proxy-${node}`,
      KUBEMU_PROFILE: 'demo',
      KUBEMU_STATE_DIR: dir,
      KUBEMU_APISERVERS: env.address,
      KUBEMU_NATS_SERVERS: env.natsUrls.join(','),
      KUBEMU_JETSTREAM_REPLICAS: '1',
      KUBEMU_NODE_NAME: node,
      KUBEMU_NODE_IP: nodeIP(NODES.indexOf(node)),
      KUBEMU_NODE_CIDR: `${NODE_NET}.0/24`,
      KUBEMU_PROXY_HEALTH_LISTEN: `127.0.0.1:${healthPort}`,
      KUBEMU_PROXY_STATUS_LISTEN: `127.0.0.1:${statusPort}`,
      KUBEMU_PROXY_UDP_IDLE_MS: '2000',
    },
    health: { kind: 'grpc', address: `127.0.0.1:${healthPort}` },
  });
  if (!fs.existsSync(spec.command)) throw new Error(`${spec.command} does not exist; npm run build first`);
  const proc = new ManagedProcess(spec, path.join(dir, `${spec.name}.log`));
  await proc.start();
  await proc.waitHealthy(30000);
  return { node, proc, status: `127.0.0.1:${statusPort}`, dir };
}

async function createService(name: string, spec: Service['spec']): Promise<Service> {
  return client.create(SERVICE, { metadata: { name, namespace: NS }, spec });
}

async function writeEndpoints(name: string, addrs: Array<{ ip: string; node: string }>, ports: Array<{ name: string; port: number; protocol?: string }>): Promise<void> {
  const obj: Endpoints = {
    metadata: { name, namespace: NS },
    subsets: addrs.length ? [{ addresses: addrs.map((a) => ({ ip: a.ip, nodeName: a.node })), ports: ports.map((p) => ({ protocol: 'TCP', ...p })) }] : [],
  };
  try {
    const cur = await client.get(ENDPOINTS, NS, name);
    await client.update(ENDPOINTS, { ...obj, metadata: { ...cur.metadata, ...obj.metadata } });
  } catch (err) {
    if (!/not ?found/i.test((err as Error).message)) throw err;
    await client.create(ENDPOINTS, obj);
  }
}

const backend = (i: number, n: number) => ({ ip: podIP(i, n), node: NODES[i] });

beforeAll(async () => {
  env = await startTestApiServer({ KUBEMU_SERVICE_CIDR: SERVICE_CIDR, KUBEMU_LOADBALANCER_CIDR: LB_CIDR });
  client = new ApiClient([env.address]);
  for (let i = 0; i < NODES.length; i++) {
    const created = await client.create(NODE, { metadata: { name: NODES[i] }, spec: { podCIDR: `${POD_NET}.${64 * i}/26`, podCIDRs: [`${POD_NET}.${64 * i}/26`] } } as Node);
    const now = new Date().toISOString();
    await client.updateStatus(NODE, {
      ...created,
      status: {
        addresses: [{ type: 'InternalIP', address: nodeIP(i) }, { type: 'Hostname', address: NODES[i] }],
        conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: now, lastTransitionTime: now, reason: 'KubeletReady' }],
      },
    });
  }
  backendPort = await freePort();
  for (let i = 0; i < NODES.length; i++) {
    await httpBackend(podIP(i, 10), `web-${i}`);
    await httpBackend(podIP(i, 11), `spare-${i}`);
  }
  proxies.push(...(await Promise.all(NODES.map((n) => startProxy(n)))));
}, 90000);

afterAll(async () => {
  for (const p of proxies) {
    await p.proc.kill('SIGKILL').catch(() => undefined);
    removeTempDir(p.dir);
  }
  for (const s of servers) {
    if (s instanceof http.Server) {
      s.closeAllConnections();
      s.close();
    } else s.close();
  }
  client?.close();
  await env?.stop();
});

describe('kube-proxy - TCP Services', () => {
  let web: Service;
  beforeAll(async () => {
    web = await createService('web', { type: 'NodePort', ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 'http' }] });
    await writeEndpoints('web', [backend(0, 10), backend(1, 10), backend(2, 10)], [{ name: 'http', port: backendPort }]);
  });

  it('ClusterIP: requests reach every backend, round robin', async () => {
    const ip = web.spec!.clusterIP!;
    expect(ip.startsWith(`${SVC_NET}.`)).toBe(true);
    await waitFor('the ClusterIP to answer', () => get(ip, 80).then(Boolean), 10000, { detail: logTail });
    const got = await Promise.all(Array.from({ length: 6 }, () => get(ip, 80)));
    expect(got.sort()).toEqual(['web-0', 'web-0', 'web-1', 'web-1', 'web-2', 'web-2']);
  });

  it('NodePort: served on every node IP', async () => {
    const nodePort = web.spec!.ports![0].nodePort!;
    for (let i = 0; i < NODES.length; i++) {
      const body = await waitFor(`node port on ${nodeIP(i)}`, () => get(nodeIP(i), nodePort), 10000, { detail: logTail });
      expect(body).toMatch(/^web-\d$/);
    }
    // Every node's own IP:nodePort is held by its own proxy (the preferred owner).
    for (const p of proxies) {
      const held = await proxiesOf(p);
      expect(held.filter((h) => h.kind === 'NodePort').map((h) => h.address)).toEqual([`${nodeIP(NODES.indexOf(p.node))}:${nodePort}`]);
    }
  });

  it('the status port: /proxies over all proxies covers each address once; /healthz and /metrics answer', async () => {
    const all = (await Promise.all(proxies.map(proxiesOf))).flat();
    const cluster = all.filter((h) => h.service === 'default/web' && h.kind === 'ClusterIP');
    expect(cluster).toHaveLength(1);
    expect(cluster[0]).toMatchObject({ address: `${web.spec!.clusterIP}:80`, protocol: 'TCP', port: 'http' });
    expect(cluster[0].endpoints.sort()).toEqual([0, 1, 2].map((i) => `${podIP(i, 10)}:${backendPort}`).sort());
    const hz = await statusGet(proxies[0], '/healthz');
    expect(hz.code).toBe(200);
    expect(Object.keys(JSON.parse(hz.body)).sort()).toEqual(['currentTime', 'lastUpdated']);
    const metrics = (await Promise.all(proxies.map((p) => statusGet(p, '/metrics')))).map((m) => m.body).join('\n');
    expect(metrics).toMatch(/kubeproxy_connections_total\{service="default\/web"\} [1-9]/);
    expect(metrics).toMatch(/kubeproxy_sync_proxy_rules_total [1-9]/);
  });

  it('LoadBalancer: the ingress IP is served', async () => {
    await createService('lb', { type: 'LoadBalancer', ports: [{ name: 'http', port: 8080, protocol: 'TCP', targetPort: 'http' }] });
    await writeEndpoints('lb', [backend(1, 10)], [{ name: 'http', port: backendPort }]);
    const lbIP = await waitFor('an ingress IP', async () => (await client.get(SERVICE, NS, 'lb')).status?.loadBalancer?.ingress?.[0]?.ip, 10000);
    expect(await waitFor('the LoadBalancer IP to answer', () => get(lbIP, 8080), 10000, { detail: logTail })).toBe('web-1');
  });

  it('an endpoint removed: its open connection is closed and new requests avoid it within a second', async () => {
    const ip = web.spec!.clusterIP!;
    // A kept-alive connection that reached web-2 (each agent holds one connection to one backend).
    let agent: http.Agent | undefined;
    let sock: net.Socket | undefined;
    for (let i = 0; i < 6 && !sock; i++) {
      const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
      if ((await get(ip, 80, { agent: a })) === 'web-2') {
        agent = a;
        sock = Object.values(a.freeSockets)[0]?.[0] as net.Socket | undefined;
      } else a.destroy();
    }
    expect(sock).toBeDefined();
    const closed = new Promise<number>((r) => sock!.once('close', () => r(Date.now())));
    const t0 = Date.now();
    await writeEndpoints('web', [backend(0, 10), backend(1, 10)], [{ name: 'http', port: backendPort }]);
    const closedAt = await closed;
    expect(closedAt - t0).toBeLessThan(1000);
    agent!.destroy();
    await waitFor('requests to avoid web-2', async () => {
      const got = await Promise.all(Array.from({ length: 6 }, () => get(ip, 80)));
      return got.every((g) => g !== 'web-2');
    }, 1000);
  });

  it('no endpoints: ECONNREFUSED at once (< 100 ms); served again when one comes back', async () => {
    const svc = await createService('empty', { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
    const ip = svc.spec!.clusterIP!;
    const t0 = Date.now();
    expect(await connectCode(ip, 80)).toBe('ECONNREFUSED');
    expect(Date.now() - t0).toBeLessThan(100);
    await writeEndpoints('empty', [backend(2, 11)], [{ name: 'http', port: backendPort }]);
    expect(await waitFor('the Service to open', () => get(ip, 80), 5000, { detail: logTail })).toBe('spare-2');
    await writeEndpoints('empty', [], []);
    await waitFor('the Service to refuse again', async () => (await connectCode(ip, 80)) === 'ECONNREFUSED', 5000);
  });

  it('sessionAffinity ClientIP: each client address sticks to one backend', async () => {
    const svc = await createService('sticky', { sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
    await writeEndpoints('sticky', [backend(0, 10), backend(1, 10), backend(2, 10)], [{ name: 'http', port: backendPort }]);
    const ip = svc.spec!.clusterIP!;
    await waitFor('sticky to answer', () => get(ip, 80).then(Boolean), 10000, { detail: logTail });
    const seen = new Set<string>();
    for (const client of ['127.200.1.1', '127.200.1.2', '127.200.1.3', '127.200.1.4']) {
      const got = [];
      for (let i = 0; i < 5; i++) got.push(await get(ip, 80, { localAddress: client }));
      expect(new Set(got).size).toBe(1);
      seen.add(got[0]);
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  it('externalTrafficPolicy Local: a node port answers with its own node\'s endpoints; a node without any refuses', async () => {
    const svc = await createService('local', { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
    await writeEndpoints('local', [backend(0, 10), backend(1, 10)], [{ name: 'http', port: backendPort }]);
    const nodePort = svc.spec!.ports![0].nodePort!;
    await waitFor('node ports on kp-1 and kp-2', async () => (await get(nodeIP(0), nodePort)) && (await get(nodeIP(1), nodePort)), 10000, { detail: logTail });
    for (let k = 0; k < 4; k++) {
      expect(await get(nodeIP(0), nodePort)).toBe('web-0');
      expect(await get(nodeIP(1), nodePort)).toBe('web-1');
    }
    expect(await connectCode(nodeIP(2), nodePort)).toBe('ECONNREFUSED');
    // The ClusterIP still reaches both.
    const got = await Promise.all(Array.from({ length: 4 }, () => get(svc.spec!.clusterIP!, 80)));
    expect(new Set(got)).toEqual(new Set(['web-0', 'web-1']));
  });
});

describe('kube-proxy - UDP', () => {
  it('an echo Service over UDP', async () => {
    servers.push(await udpEchoServer(podIP(1, 20), backendPort));
    const svc = await createService('echo', { ports: [{ name: 'echo', port: 7, protocol: 'UDP' }] });
    await writeEndpoints('echo', [backend(1, 20)], [{ name: 'echo', port: backendPort, protocol: 'UDP' }]);
    const ip = svc.spec!.clusterIP!;
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    try {
      const reply = await waitFor('a UDP reply', () => udpExchange(sock, 'ping', ip, 7, 300), 10000, { detail: logTail });
      expect(reply).toBe(`echo:ping from ${ip}:7`);
    } finally {
      sock.close();
    }
  });
});

describe('kube-proxy - robustness', () => {
  it('bad objects never crash it', async () => {
    // An externalIP no interface has (EADDRNOTAVAIL, logged and retried slowly), a port name no
    // endpoint port has, only not-ready addresses, a UDP port without endpoints.
    await createService('odd', {
      externalIPs: ['192.0.2.77'],
      ports: [
        { name: 'http', port: 80, protocol: 'TCP' },
        { name: 'missing', port: 81, protocol: 'TCP' },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ],
    });
    await client.create(ENDPOINTS, {
      metadata: { name: 'odd', namespace: NS },
      subsets: [
        { addresses: [{ ip: podIP(0, 10), nodeName: 'no-such-node' }], ports: [{ name: 'http', port: backendPort, protocol: 'TCP' }] },
        { notReadyAddresses: [{ ip: podIP(0, 11) }], ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] },
      ],
    });
    await createService('odd-ext', { type: 'ExternalName', externalName: 'example.com' });
    await createService('odd-headless', { clusterIP: 'None', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
    await client.create(ENDPOINTS, { metadata: { name: 'orphan', namespace: NS }, subsets: [{ addresses: [{ ip: podIP(0, 10) }], ports: [{ port: 1 }] }] });
    await sleep(1500);
    for (const p of proxies) {
      expect(p.proc.running).toBe(true);
      expect((await statusGet(p, '/healthz')).code).toBe(200);
      // No sync failed, no handler threw.
      expect(fs.readFileSync(p.proc.logFile, 'utf8')).not.toContain('"level":"error"');
    }
    const odd = await client.get(SERVICE, NS, 'odd');
    expect(await get(odd.spec!.clusterIP!, 80)).toBe('web-0');
    expect(await connectCode(odd.spec!.clusterIP!, 81)).toBe('ECONNREFUSED');
  });
});

describe('kube-proxy - failover', () => {
  it('SIGKILL the proxy holding a ClusterIP: a standby takes it over and requests succeed again', async () => {
    const web = await client.get(SERVICE, NS, 'web');
    const address = `${web.spec!.clusterIP}:80`;
    const holders = [];
    for (const p of proxies) if ((await proxiesOf(p)).some((h) => h.address === address && h.protocol === 'TCP')) holders.push(p);
    expect(holders).toHaveLength(1);
    const victim = holders[0];
    expect(await get(web.spec!.clusterIP!, 80)).toMatch(/^web-/);
    await victim.proc.kill('SIGKILL');
    const killedAt = Date.now();
    let failures = 0;
    await waitFor(
      'a standby to serve the ClusterIP',
      async () => {
        try {
          return await get(web.spec!.clusterIP!, 80, { timeoutMs: 1000 });
        } catch (err) {
          failures++;
          throw err;
        }
      },
      5000,
      { intervalMs: 10, detail: logTail },
    );
    const gap = Date.now() - killedAt;
    // eslint-disable-next-line no-console
    console.log(`kube-proxy failover: ${address} served again ${gap} ms after SIGKILL of ${victim.node} (${failures} failed attempts)`);
    expect(gap).toBeLessThan(1500);
    const survivors = proxies.filter((p) => p !== victim);
    const nowHolders = [];
    for (const p of survivors) if ((await proxiesOf(p)).some((h) => h.address === address)) nowHolders.push(p.node);
    expect(nowHolders).toHaveLength(1);
    // The victim's own node port moved to a standby too.
    const nodePort = web.spec!.ports![0].nodePort!;
    const victimIP = nodeIP(NODES.indexOf(victim.node));
    await waitFor('the dead node\'s node port to be served', () => get(victimIP, nodePort), 3000);
  });

  it('SIGTERM: the proxy exits 0, closing its listeners, and the last one serves everything', async () => {
    const web = await client.get(SERVICE, NS, 'web');
    const alive = proxies.filter((p) => p.proc.running);
    expect(alive.length).toBeGreaterThanOrEqual(2);
    const [stopping, last] = alive;
    const exit = await stopping.proc.stop();
    expect(exit?.code).toBe(0);
    const t0 = Date.now();
    await waitFor('the last proxy to serve the ClusterIP', () => get(web.spec!.clusterIP!, 80, { timeoutMs: 1000 }), 3000, { intervalMs: 10 });
    expect(Date.now() - t0).toBeLessThan(1500);
    const held = await waitFor('every web address on the last proxy', async () => {
      const kinds = (await proxiesOf(last)).filter((h) => h.service === 'default/web').map((h) => h.kind);
      return kinds.length === 4 && kinds.sort();
    }, 3000);
    expect(held).toEqual(['ClusterIP', 'NodePort', 'NodePort', 'NodePort']);
  });
});
