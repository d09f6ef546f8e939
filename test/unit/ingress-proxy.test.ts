/**
 * The ingress proxy's data path in process: real HTTP backends on loopback, a routing table built
 * from objects, requests through the proxy's listeners. Covers forwarding and headers, round
 * robin, 404/502/503/504, the connect-failure retry, ssl-redirect, TLS with SNI and WebSocket.
 */
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import * as tls from 'tls';
import { CertificateStore, certificateNames, selfSignedCertificate } from '../../services/ingress-controller/certs';
import { IngressProxy } from '../../services/ingress-controller/proxy';
import { buildRoutingTable, ownIngressClass, RoutingTable } from '../../services/ingress-controller/routes';
import { Endpoints, Secret, Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { Ingress } from '../../services/lib/generated/kubemu/networking/v1/networking';
import { logger } from '../../services/lib/log';
import { Backend, makeCertificate, request, startBackend, websocketRoundTrip } from './ingress-fixtures';

jest.setTimeout(30000);

const log = logger('ingress-proxy-test');
let a1: Backend, a2: Backend, slow: Backend;
let proxy: IngressProxy;
let certs: CertificateStore;
let httpPort: number, httpsPort: number;
let refusedPort: number;
/** A broken upstream: answers every request with status 99, which node refuses to pass on. */
let odd: net.Server;
const secureCert = makeCertificate('secure.test', ['secure.test', '*.wild.test']);

function svc(name: string): Service {
  return { metadata: { name, namespace: 'default' }, spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }] } };
}
function eps(name: string, addrs: Array<[string, number]>): Endpoints {
  // One subset per address: each backend listens on its own port.
  return { metadata: { name, namespace: 'default' }, subsets: addrs.map(([ip, port]) => ({ addresses: [{ ip }], ports: [{ name: 'http', port, protocol: 'TCP' }] })) };
}

function buildTable(endpoints: Map<string, Endpoints>): RoutingTable {
  const backend = (name: string) => ({ service: { name, port: { name: 'http' } } });
  const ingress: Ingress = {
    metadata: { name: 'web', namespace: 'default', creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: {
      ingressClassName: 'kubemu',
      tls: [{ hosts: ['secure.test', '*.wild.test'], secretName: 'tls' }],
      rules: [
        {
          host: 'app.test',
          http: {
            paths: [
              { path: '/', pathType: 'Prefix', backend: backend('a') },
              { path: '/empty', pathType: 'Prefix', backend: backend('empty') },
              { path: '/dead', pathType: 'Prefix', backend: backend('dead') },
              { path: '/half', pathType: 'Prefix', backend: backend('half') },
              { path: '/slow', pathType: 'Prefix', backend: backend('slow') },
              { path: '/odd', pathType: 'Prefix', backend: backend('odd') },
            ],
          },
        },
        { host: 'secure.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: backend('a') }] } },
        { host: 'x.wild.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: backend('a') }] } },
      ],
    },
  };
  return buildRoutingTable(
    {
      ingresses: [ingress],
      ingressClasses: [ownIngressClass('kubemu')],
      service: (_, n) => svc(n),
      endpoints: (_, n) => endpoints.get(n),
    },
    'kubemu',
  );
}

beforeAll(async () => {
  a1 = await startBackend('a1');
  a2 = await startBackend('a2');
  slow = await startBackend('slow', '127.0.0.1', { delayMs: 1200 });
  const probe = net.createServer();
  refusedPort = await new Promise<number>((r) => probe.listen(0, '127.0.0.1', () => r((probe.address() as net.AddressInfo).port)));
  await new Promise<void>((r) => probe.close(() => r()));
  odd = net.createServer((sock) => sock.once('data', () => sock.end('HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n')));
  const oddPort = await new Promise<number>((r) => odd.listen(0, '127.0.0.1', () => r((odd.address() as net.AddressInfo).port)));
  const endpoints = new Map<string, Endpoints>([
    ['odd', eps('odd', [['127.0.0.1', oddPort]])],
    ['a', eps('a', [['127.0.0.1', a1.port], ['127.0.0.1', a2.port]])],
    ['dead', eps('dead', [['127.0.0.1', refusedPort]])],
    ['half', eps('half', [['127.0.0.1', refusedPort], ['127.0.0.1', a1.port]])],
    ['slow', eps('slow', [['127.0.0.1', slow.port]])],
  ]);
  const table = buildTable(endpoints);
  certs = new CertificateStore(selfSignedCertificate());
  const secret: Secret = { metadata: { name: 'tls', namespace: 'default', resourceVersion: '1' }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from(secureCert.cert), 'tls.key': Buffer.from(secureCert.key) } };
  expect(certs.update(table, (_, n) => (n === 'tls' ? secret : undefined))).toEqual([]);
  proxy = new IngressProxy({ table, certs, upstreamTimeoutMs: 500, log });
  httpPort = await proxy.listenHttp('127.0.0.1', 0);
  httpsPort = await proxy.listenHttps('127.0.0.1', 0);
});

afterAll(async () => {
  await proxy?.close();
  odd?.close();
  await Promise.all([a1?.close(), a2?.close(), slow?.close()]);
});

const get = (host: string, path: string, headers: http.OutgoingHttpHeaders = {}) => request({ host: '127.0.0.1', port: httpPort, path, headers: { host, ...headers } });

describe('ingress proxy - HTTP', () => {
  it('forwards to the endpoints round robin, streaming a request body', async () => {
    const got = new Set<string>();
    for (let i = 0; i < 4; i++) got.add((await get('app.test', '/x?y=1')).body.split(' ')[0]);
    expect([...got].sort()).toEqual(['a1', 'a2']);
    const post = await request({ host: '127.0.0.1', port: httpPort, method: 'POST', path: '/p', headers: { host: 'app.test', 'transfer-encoding': 'chunked' }, body: 'hello' });
    expect(post.status).toBe(200);
    expect(post.body).toMatch(/^a[12] POST \/p hello$/);
  });

  it('sets the X-Forwarded-* family and drops hop-by-hop headers both ways', async () => {
    a1.seen.length = 0;
    a2.seen.length = 0;
    const res = await get('App.Test:8080', '/h', { 'x-forwarded-for': '10.0.0.1', connection: 'keep-alive, x-secret', 'x-secret': 'hop', 'proxy-authorization': 'x', te: 'trailers' });
    expect(res.status).toBe(200);
    const seen = [...a1.seen, ...a2.seen][0];
    expect(seen.headers).toMatchObject({
      host: 'App.Test:8080',
      'x-forwarded-for': '10.0.0.1, 127.0.0.1',
      'x-real-ip': '127.0.0.1',
      'x-forwarded-host': 'App.Test:8080',
      'x-forwarded-proto': 'http',
      'x-forwarded-port': '8080',
    });
    expect(seen.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(seen.headers['x-secret']).toBeUndefined();
    expect(seen.headers['proxy-authorization']).toBeUndefined();
    expect(seen.headers.te).toBeUndefined();
    expect(res.headers['x-backend']).toMatch(/^a[12]$/);
  });

  it('an absolute-form request target is routed by its own host', async () => {
    const res = await request({ host: '127.0.0.1', port: httpPort, path: 'http://app.test/abs?x=1', headers: { host: 'nobody.test' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^a[12] GET \/abs\?x=1$/);
  });

  it('keeps client connections alive', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<net.Socket>();
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: httpPort, path: '/', headers: { host: 'app.test' }, agent }, (res) => {
          sockets.add(res.socket);
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
      });
    }
    agent.destroy();
    expect(sockets.size).toBe(1);
  });

  it.each([
    ['unknown host', 404, 'nobody.test', '/', /default backend - 404/],
    ['Service without endpoints', 503, 'app.test', '/empty', /503/],
    ['every endpoint refuses', 502, 'app.test', '/dead', /502/],
    ['upstream slower than the timeout', 504, 'app.test', '/slow', /504/],
    ['upstream with an invalid status', 502, 'app.test', '/odd', /502/],
  ])('%s → %p', async (_, status, host, path, body) => {
    const res = await get(host, path);
    expect(res.status).toBe(status);
    expect(res.body).toMatch(body);
  });

  it('a refused connection is retried once on another endpoint', async () => {
    const before = proxy.stats.retries;
    for (let i = 0; i < 4; i++) expect((await get('app.test', '/half')).body).toMatch(/^a1 GET \/half/);
    expect(proxy.stats.retries).toBeGreaterThan(before);
  });

  it('plain HTTP to a TLS host is redirected with 308', async () => {
    const direct = await get(`secure.test:${httpPort}`, '/a?b=c');
    expect(direct.status).toBe(308);
    expect(direct.headers.location).toBe(`https://secure.test:${httpsPort}/a?b=c`);
    const viaService = await get('secure.test', '/a');
    expect(viaService.headers.location).toBe('https://secure.test/a');
  });
});

function tlsGet(servername: string | undefined, path: string, host = servername ?? ''): Promise<{ status: number; body: string; names: string[]; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: httpsPort, path, servername, headers: { host }, rejectUnauthorized: false, agent: false },
      (res) => {
        const cert = (res.socket as tls.TLSSocket).getPeerCertificate();
        const names = [cert.subject?.CN as string, ...(cert.subjectaltname ?? '').split(', ').map((s) => s.replace(/^DNS:/, ''))].filter(Boolean);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), names, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('ingress proxy - TLS', () => {
  it('serves the Secret certificate for its hosts (exact and wildcard) and reaches the backend', async () => {
    const exact = await tlsGet('secure.test', '/s');
    expect(exact.names).toContain('secure.test');
    expect(exact.status).toBe(200);
    expect(exact.body).toMatch(/^a[12] GET \/s$/);
    const wild = await tlsGet('x.wild.test', '/w');
    expect(wild.names).toContain('*.wild.test');
    expect(wild.status).toBe(200);
  });

  it('other names get the fallback certificate; X-Forwarded-Proto is https', async () => {
    const other = await tlsGet('app.test', '/o');
    expect(other.names).toContain('Kubernetes Ingress Controller Fake Certificate');
    expect(other.status).toBe(200);
    const seen = [...a1.seen, ...a2.seen].find((s) => s.url === '/o');
    expect(seen?.headers['x-forwarded-proto']).toBe('https');
    expect(seen?.headers['x-forwarded-port']).toBe('443');
  });

  it('a malformed secret is reported, not thrown, and its host falls back', () => {
    const bad: Secret = { metadata: { name: 'tls', namespace: 'default', resourceVersion: '2' }, data: { 'tls.crt': Buffer.from('not a cert'), 'tls.key': Buffer.from('nope') } };
    const store = new CertificateStore();
    const table = buildTable(new Map());
    const problems = store.update(table, () => bad);
    expect(problems[0]).toMatchObject({ ingress: 'default/web', secret: 'default/tls' });
    expect(problems[0].message).toMatch(/unusable certificate or key/);
    expect(store.select('secure.test')).toBeUndefined();
    expect(store.update(table, () => undefined)[0].message).toMatch(/not found/);
  });

  it('certificateNames reads CN and SANs', () => {
    expect(certificateNames(secureCert.cert)).toEqual(['secure.test', 'secure.test', '*.wild.test']);
  });
});

describe('ingress proxy - WebSocket', () => {
  it('tunnels an upgraded connection both ways', async () => {
    const echoes = await websocketRoundTrip('127.0.0.1', httpPort, 'app.test', '/ws', ['one', 'two']);
    expect(echoes).toHaveLength(2);
    expect(echoes[0]).toMatch(/^a[12]:one$/);
    expect(echoes[1]).toMatch(/^a[12]:two$/);
  });

  it('an upgrade to an unknown host gets 404', async () => {
    await expect(websocketRoundTrip('127.0.0.1', httpPort, 'nobody.test', '/ws', ['x'])).rejects.toThrow(/404/);
  });
});
