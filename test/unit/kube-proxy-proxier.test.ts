/**
 * kube-proxy's proxier in process with real sockets on loopback (no apiserver): the cluster is
 * plain arrays. Round robin, endpoint removal cutting connections, refusal without endpoints,
 * failover past a dead endpoint, internalTrafficPolicy Local, UDP sessions.
 */
import * as dgram from 'dgram';
import * as http from 'http';
import * as net from 'net';
import { Endpoints, Node, Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { logger } from '../../services/lib/log';
import { Proxier } from '../../services/kube-proxy/proxier';
import { parseCidr } from '../../services/kube-proxy/servicemap';
import { connectCode, httpGet as get, httpTextServer, udpEchoServer, udpExchange } from '../harness/net';
import { sleep, waitFor } from '../harness/wait';

jest.setTimeout(20000);

const rnd = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
// Random /24s so that parallel runs and a hand-started cluster never collide.
const NODE_NET = `127.1.${rnd(100, 250)}`;
const POD_NET = `127.${rnd(64, 127)}.${rnd(0, 255)}`;
const SVC_NET = `127.${rnd(130, 253)}.${rnd(0, 255)}`;
const PORT = rnd(21000, 31000);

const until = <T>(what: string, probe: () => Promise<T | undefined | false>, ms = 5000) => waitFor(what, probe, ms, { intervalMs: 20 });

const services: Service[] = [];
const endpoints = new Map<string, Endpoints>();
const nodes: Node[] = [
  { metadata: { name: 'n1' }, spec: { podCIDR: `${POD_NET}.0/25` }, status: { addresses: [{ type: 'InternalIP', address: `${NODE_NET}.1` }], conditions: [{ type: 'Ready', status: 'True' }] } },
  { metadata: { name: 'n2' }, spec: { podCIDR: `${POD_NET}.128/25` }, status: { addresses: [{ type: 'InternalIP', address: `${NODE_NET}.2` }], conditions: [{ type: 'Ready', status: 'True' }] } },
];
let proxier: Proxier;
const warnings: string[] = [];
const baseLog = logger('kube-proxy-test');
const log = { ...baseLog, warn: (msg: string, fields?: Record<string, unknown>) => (warnings.push(msg), baseLog.warn(msg, fields)) };
const backends: Array<http.Server | dgram.Socket> = [];

async function httpBackend(ip: string, port: number, name: string): Promise<http.Server> {
  const s = await httpTextServer(ip, port, name);
  backends.push(s);
  return s;
}

function setEndpoints(name: string, addrs: Array<{ ip: string; node: string }>, port: number, portName = 'http', protocol = 'TCP') {
  endpoints.set(`default/${name}`, {
    metadata: { name, namespace: 'default' },
    subsets: addrs.length ? [{ addresses: addrs.map((a) => ({ ip: a.ip, nodeName: a.node })), ports: [{ name: portName, port, protocol }] }] : [],
  });
  proxier.changed();
}

beforeAll(async () => {
  proxier = new Proxier({
    source: { services: () => services, endpoints: (k) => endpoints.get(k), nodes: () => nodes },
    nodeName: 'n1',
    nodeCidr: parseCidr(`${NODE_NET}.0/24`)!,
    standbyDelayMs: 0,
    retryMs: 50,
    udpIdleMs: 300,
    log,
  });
  proxier.start();
});

afterAll(async () => {
  proxier.stop();
  for (const b of backends) {
    if (b instanceof http.Server) {
      b.closeAllConnections();
      b.close();
    } else b.close();
  }
});

describe('kube-proxy proxier - TCP', () => {
  const ip = `${SVC_NET}.10`;
  const a = { ip: `${POD_NET}.10`, node: 'n1' };
  const b = { ip: `${POD_NET}.130`, node: 'n2' };

  beforeAll(async () => {
    await httpBackend(a.ip, PORT, 'a');
    await httpBackend(b.ip, PORT, 'b');
    services.push({ metadata: { name: 'web', namespace: 'default' }, spec: { type: 'NodePort', clusterIP: ip, ports: [{ name: 'http', port: 80, nodePort: PORT + 1 }] } });
    setEndpoints('web', [a, b], PORT);
    await until('the ClusterIP to answer', () => get(ip, 80).then(Boolean));
  });

  it('round robin over the endpoints, on the ClusterIP and every node IP', async () => {
    const got = await Promise.all([get(ip, 80), get(ip, 80), get(ip, 80), get(ip, 80)]);
    expect(got.sort()).toEqual(['a', 'a', 'b', 'b']);
    await until('node ports', async () => (await get(`${NODE_NET}.2`, PORT + 1)) && (await get(`${NODE_NET}.1`, PORT + 1)));
    expect(proxier.proxies().map((p) => `${p.address} ${p.kind}`).sort()).toEqual([`${NODE_NET}.1:${PORT + 1} NodePort`, `${NODE_NET}.2:${PORT + 1} NodePort`, `${ip}:80 ClusterIP`].sort());
  });

  it('an endpoint removed: its open connection is closed, new requests avoid it', async () => {
    // A kept-alive connection that reached b (each agent holds one connection to one backend).
    let agent: http.Agent | undefined;
    let sock: net.Socket | undefined;
    for (let i = 0; i < 4 && !sock; i++) {
      const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
      if ((await get(ip, 80, { agent: a })) === 'b') {
        agent = a;
        sock = Object.values(a.freeSockets)[0]?.[0] as net.Socket | undefined;
      } else a.destroy();
    }
    expect(sock).toBeDefined();
    const closed = new Promise<void>((r) => sock!.once('close', () => r()));
    const t0 = Date.now();
    setEndpoints('web', [a], PORT);
    await closed;
    expect(Date.now() - t0).toBeLessThan(1000);
    agent!.destroy();
    const got = await Promise.all([get(ip, 80), get(ip, 80), get(ip, 80)]);
    expect(got).toEqual(['a', 'a', 'a']);
  });

  it('a dead endpoint (connection refused) is skipped', async () => {
    setEndpoints('web', [a, { ip: `${POD_NET}.11`, node: 'n1' }], PORT);
    await sleep(100);
    const got = await Promise.all(Array.from({ length: 6 }, () => get(ip, 80)));
    expect(got).toEqual(['a', 'a', 'a', 'a', 'a', 'a']);
  });

  it('no endpoints: the address is closed at once (ECONNREFUSED), and opens again with one', async () => {
    setEndpoints('web', [], PORT);
    await until('the ClusterIP to close', async () => (await connectCode(ip, 80)) === 'ECONNREFUSED');
    const t0 = Date.now();
    expect(await connectCode(ip, 80)).toBe('ECONNREFUSED');
    expect(Date.now() - t0).toBeLessThan(100);
    setEndpoints('web', [a, b], PORT);
    await until('the ClusterIP to open again', () => get(ip, 80).then(Boolean), 2000);
  });

  it('connections closed by both sides are no longer tracked (half-close propagated)', async () => {
    await Promise.all(Array.from({ length: 5 }, () => get(ip, 80)));
    await until('no active connections', async () => proxier.serviceCounters().get('default/web')?.active === 0, 3000);
    // A client that half-closes right after its request still gets the whole answer.
    const body = await new Promise<string>((resolve, reject) => {
      const s = net.connect({ host: ip, port: 80 }, () => s.end('GET / HTTP/1.0\r\n\r\n'));
      let data = '';
      s.setEncoding('utf8');
      s.on('data', (d) => (data += d));
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    expect(body).toMatch(/^HTTP\/1\.[01] 200[\s\S]*\r\n\r\n[ab]$/);
    await until('no active connections', async () => proxier.serviceCounters().get('default/web')?.active === 0, 3000);
  });
});

describe('kube-proxy proxier - internalTrafficPolicy Local', () => {
  const ip = `${SVC_NET}.11`;
  it('ClusterIP traffic stays on the client node; a node without endpoints refuses', async () => {
    const a = { ip: `${POD_NET}.20`, node: 'n1' };
    await httpBackend(a.ip, PORT, 'local-a');
    services.push({ metadata: { name: 'local', namespace: 'default' }, spec: { clusterIP: ip, internalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80 }] } });
    setEndpoints('local', [a], PORT);
    // A client in n1's pod range, and a host process (this proxy's node n1): served.
    await until('the local ClusterIP', () => get(ip, 80, { localAddress: `${POD_NET}.5` }).then((b) => b === 'local-a'));
    expect(await get(ip, 80)).toBe('local-a');
    // A client in n2's pod range: no endpoint on n2.
    await expect(get(ip, 80, { localAddress: `${POD_NET}.140` })).rejects.toThrow();
  });
});

describe('kube-proxy proxier - UDP', () => {
  it('echo through the ClusterIP; replies come from the Service address', async () => {
    const ip = `${SVC_NET}.12`;
    backends.push(await udpEchoServer(`${POD_NET}.30`, PORT));
    services.push({ metadata: { name: 'echo', namespace: 'default' }, spec: { clusterIP: ip, ports: [{ name: 'udp', port: 53, protocol: 'UDP' }] } });
    setEndpoints('echo', [{ ip: `${POD_NET}.30`, node: 'n1' }], PORT, 'udp', 'UDP');
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
    try {
      const reply = await until('a UDP reply', () => udpExchange(client, 'hi', ip, 53, 200));
      expect(reply).toBe(`echo:hi from ${ip}:53`);
      expect(proxier.serviceCounters().get('default/echo')?.active).toBe(1);
      // the idle session is closed after udpIdleMs (300 ms here)
      await until('the idle UDP session to close', async () => proxier.serviceCounters().get('default/echo')?.active === 0, 3000);
    } finally {
      client.close();
    }
  });
});

describe('kube-proxy proxier - a host wildcard listener', () => {
  it('is reported once per address: no proxy can bind the port', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '0.0.0.0', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      services.push({ metadata: { name: 'blocked', namespace: 'default' }, spec: { clusterIP: `${SVC_NET}.13`, ports: [{ name: 'http', port }] } });
      setEndpoints('blocked', [{ ip: `${POD_NET}.10`, node: 'n1' }], PORT);
      await until('the wildcard warning', async () => warnings.some((w) => w.includes('wildcard')));
      await sleep(300); // several retries
      expect(warnings.filter((w) => w.includes('wildcard'))).toHaveLength(1);
      expect(proxier.proxies().some((p) => p.service === 'default/blocked')).toBe(false);
    } finally {
      blocker.close();
    }
  });
});
