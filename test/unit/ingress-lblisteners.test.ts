/**
 * The controller's own load-balancer listeners: connections on <LB IP>:<port> are served by the
 * proxy exactly as on its configured listeners (HTTP fast path, HTTPS); an address held by
 * another process (a kube-proxy) is retried every retryMs, logged once, and taken as soon as it is
 * free; addresses no longer wanted are closed and new ones bound.
 */
import * as https from 'https';
import * as net from 'net';
import { CertificateStore, selfSignedCertificate } from '../../services/ingress-controller/certs';
import { LoadBalancerListeners } from '../../services/ingress-controller/lblisteners';
import { IngressProxy } from '../../services/ingress-controller/proxy';
import { buildRoutingTable, ownIngressClass } from '../../services/ingress-controller/routes';
import { Ingress } from '../../services/lib/generated/kubemu/networking/v1/networking';
import { Logger, logger } from '../../services/lib/log';
import { Backend, request, startBackend } from './ingress-fixtures';

jest.setTimeout(30000);

// 127.254.0.0/16 is outside every range of the address plan: no cluster, pod or Service uses it.
const base = `127.254.${1 + Math.floor(Math.random() * 250)}`;
const ipA = `${base}.${1 + Math.floor(Math.random() * 120)}`;
const ipB = `${base}.${130 + Math.floor(Math.random() * 120)}`;

/** A port free on both test IPs right now (bound on port 0, then released). */
async function freePortOn(...ips: string[]): Promise<number> {
  for (;;) {
    const s = net.createServer();
    const port = await new Promise<number>((resolve) => s.listen(0, ips[0], () => resolve((s.address() as net.AddressInfo).port)));
    await new Promise((r) => s.close(r));
    const ok = await Promise.all(
      ips.map(
        (ip) =>
          new Promise<boolean>((resolve) => {
            const t = net.createServer();
            t.once('error', () => resolve(false));
            t.listen(port, ip, () => t.close(() => resolve(true)));
          }),
      ),
    );
    if (ok.every(Boolean)) return port;
  }
}

async function waitUntil(what: string, cond: () => boolean | Promise<boolean>, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function connects(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, ip);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function capturingLog(): { log: Logger; lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> } {
  const lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
  const real = logger('ingress-lblisteners-test');
  const log: Logger = {
    debug: (msg, fields) => lines.push({ level: 'debug', msg, fields }),
    info: (msg, fields) => lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => {
      lines.push({ level: 'warn', msg, fields });
      real.warn(msg, fields);
    },
    error: (msg, fields) => {
      lines.push({ level: 'error', msg, fields });
      real.error(msg, fields);
    },
    with: () => log,
  };
  return { log, lines };
}

let backend: Backend;
let proxy: IngressProxy;

beforeAll(async () => {
  backend = await startBackend('a');
  const ingress: Ingress = {
    metadata: { name: 'web', namespace: 'default', creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: { ingressClassName: 'kubemu', rules: [{ host: 'app.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'a', port: { name: 'http' } } } }] } }] },
  };
  const table = buildRoutingTable(
    {
      ingresses: [ingress],
      ingressClasses: [ownIngressClass('kubemu')],
      service: (_, name) => ({ metadata: { name, namespace: 'default' }, spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }] } }),
      endpoints: (_, name) => ({ metadata: { name, namespace: 'default' }, subsets: [{ addresses: [{ ip: backend.host }], ports: [{ name: 'http', port: backend.port, protocol: 'TCP' }] }] }),
    },
    'kubemu',
  );
  proxy = new IngressProxy({ table, certs: new CertificateStore(selfSignedCertificate()), log: logger('ingress-lblisteners-test') });
  await proxy.listenHttp('127.0.0.1', 0);
  await proxy.listenHttps('127.0.0.1', 0);
});

afterAll(async () => {
  await proxy.close();
  await backend.close();
});

describe('ingress lblisteners - serving load-balancer addresses', () => {
  test('lblisteners - HTTP and HTTPS on the LB address go through the proxy; an address no longer wanted is closed, a new one bound', async () => {
    const [httpPort, httpsPort] = [await freePortOn(ipA, ipB), await freePortOn(ipA, ipB)];
    const { log } = capturingLog();
    const lb = new LoadBalancerListeners({ accept: (s, secure) => proxy.accept(s, secure), log });
    try {
      lb.setAddresses([
        { ip: ipA, port: httpPort, secure: false },
        { ip: ipA, port: httpsPort, secure: true },
      ]);
      await waitUntil('both bound', () => lb.bound.length === 2);
      const plain = await request({ host: ipA, port: httpPort, path: '/x', headers: { host: 'app.test' } });
      expect(plain.status).toBe(200);
      expect(plain.body).toBe('a GET /x');
      expect(backend.seen.at(-1)?.headers['x-forwarded-proto']).toBe('http');
      const secure = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = https.request({ host: ipA, port: httpsPort, path: '/y', servername: 'app.test', headers: { host: 'app.test' }, rejectUnauthorized: false, agent: false }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(secure).toEqual({ status: 200, body: 'a GET /y' });
      expect(backend.seen.at(-1)?.headers['x-forwarded-proto']).toBe('https');

      // The IP moves: the old address refuses, the new one serves.
      lb.setAddresses([{ ip: ipB, port: httpPort, secure: false }]);
      await waitUntil('moved', () => lb.bound.join() === `${ipB}:${httpPort}`);
      await waitUntil('old address closed', async () => !(await connects(ipA, httpPort)));
      expect(await connects(ipA, httpsPort)).toBe(false);
      expect((await request({ host: ipB, port: httpPort, path: '/z', headers: { host: 'app.test' } })).body).toBe('a GET /z');
    } finally {
      await lb.close();
    }
    expect(await connects(ipB, httpPort)).toBe(false);
  });

  test('lblisteners - an address held by another process is retried every retryMs, logged once, and taken when freed', async () => {
    const port = await freePortOn(ipA);
    const holder = net.createServer((s) => s.end('holder\n'));
    await new Promise<void>((resolve) => holder.listen(port, ipA, () => resolve()));
    const { log, lines } = capturingLog();
    const lb = new LoadBalancerListeners({ accept: (s, secure) => proxy.accept(s, secure), log, retryMs: 50 });
    try {
      lb.setAddresses([{ ip: ipA, port, secure: false }]);
      // Several retries go by (50 ms each) with one warning.
      await new Promise((r) => setTimeout(r, 400));
      expect(lb.bound).toEqual([]);
      const warnings = lines.filter((l) => l.level === 'warn');
      expect(warnings).toHaveLength(1);
      expect(warnings[0].fields).toMatchObject({ address: `${ipA}:${port}`, code: 'EADDRINUSE' });
      // The holder (a kube-proxy that saw ipMode Proxy) lets go: the controller takes over.
      await new Promise((r) => holder.close(r));
      await waitUntil('taken over', () => lb.bound.length === 1, 5000);
      expect((await request({ host: ipA, port, path: '/', headers: { host: 'app.test' } })).body).toBe('a GET /');
      // Unwanted before a bind succeeds: retries stop, nothing is left listening.
      const blocked = net.createServer();
      const port2 = await freePortOn(ipB);
      await new Promise<void>((resolve) => blocked.listen(port2, ipB, () => resolve()));
      lb.setAddresses([{ ip: ipB, port: port2, secure: false }]);
      await new Promise((r) => setTimeout(r, 120));
      lb.setAddresses([]);
      await new Promise((r) => blocked.close(r));
      await new Promise((r) => setTimeout(r, 200));
      expect(lb.bound).toEqual([]);
      expect(await connects(ipB, port2)).toBe(false);
    } finally {
      await lb.close();
      if (holder.listening) holder.close();
    }
  });
});
