/**
 * The ingress proxy's raw-socket fast path (services/ingress-controller/fastpath.ts): the request
 * head parser's fast/fallback decision, and every response framing relayed over keep-alive
 * connections (Content-Length, chunked with extensions and trailers, HEAD/204/304 without a body,
 * 1xx interim responses, close-delimited), pipelining, request bodies, per-request routing on one
 * connection, the hand-over to node's http server mid-connection, Connection: close both ways, a
 * dead pooled upstream connection, an early upstream answer and a malformed chunked body.
 * Upstreams are raw TCP servers scripted per path, so the bytes on the wire are exactly known.
 */
import * as http from 'http';
import * as net from 'net';
import * as tls from 'tls';
import { parseRequestHead } from '../../services/ingress-controller/fastpath';
import { IngressProxy } from '../../services/ingress-controller/proxy';
import { buildRoutingTable, ownIngressClass } from '../../services/ingress-controller/routes';
import { CertificateStore, selfSignedCertificate } from '../../services/ingress-controller/certs';
import { Endpoints, Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { Ingress } from '../../services/lib/generated/kubemu/networking/v1/networking';
import { logger } from '../../services/lib/log';

jest.setTimeout(30000);

/** A request as a raw upstream saw it. */
interface RawRequest {
  method: string;
  url: string;
  head: string;
  body: Buffer;
  conn: number;
}

/** A raw upstream: parses Content-Length requests, answers with `script(req, socket)`. */
interface RawUpstream {
  port: number;
  seen: RawRequest[];
  connections: number;
  close(): Promise<void>;
}

type Script = (req: RawRequest, sock: net.Socket) => void;

async function startRaw(script: Script): Promise<RawUpstream> {
  const sockets = new Set<net.Socket>();
  const up: RawUpstream = { port: 0, seen: [], connections: 0, close: async () => undefined };
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    const conn = ++up.connections;
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
        const len = cl ? Number(cl[1]) : 0;
        const [method, url] = head.split(' ');
        if (url === '/early') {
          // Answered on its head alone; the body that follows is read and ignored.
          buf = Buffer.alloc(0);
          up.seen.push({ method, url, head, body: Buffer.alloc(0), conn });
          sock.write(ok('too big'));
          return;
        }
        if (buf.length < end + 4 + len) return;
        const req = { method, url, head, body: buf.subarray(end + 4, end + 4 + len), conn };
        buf = buf.subarray(end + 4 + len);
        up.seen.push(req);
        script(req, sock);
      }
    });
  });
  up.port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)));
  up.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return up;
}

const ok = (body: string, extra = '') => `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

/** Writes the pieces with a pause between them, so the proxy sees the message split. */
function dribble(sock: net.Socket, pieces: string[]): void {
  let i = 0;
  const next = () => {
    if (i >= pieces.length || sock.destroyed) return;
    sock.write(pieces[i++]);
    setTimeout(next, 5);
  };
  next();
}

const big = Buffer.alloc(3 * 1024 * 1024, 'x');

const script: Script = (req, sock) => {
  const path = req.url.split('?')[0];
  switch (path) {
    case '/cl':
      return dribble(sock, ['HTTP/1.1 200 OK\r\nContent-Le', 'ngth: 10\r\nX-Up: cl\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n01234', '56789']);
    case '/chunked':
      return dribble(sock, ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', '4;ext=1\r\nab', 'cd\r\n6\r\nefghij\r', '\n0\r\nX-Trailer: t\r\n', '\r\n']);
    case '/head':
      return void sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
    case '/204':
      return void sock.write('HTTP/1.1 204 No Content\r\nX-Up: 204\r\n\r\n');
    case '/304':
      return void sock.write('HTTP/1.1 304 Not Modified\r\nETag: "e"\r\nContent-Length: 99\r\n\r\n');
    case '/103':
      return dribble(sock, ['HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n', ok('final')]);
    case '/until-close':
      sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ');
      return void setTimeout(() => sock.end('close'), 20);
    case '/upstream-close':
      return void sock.end(ok('bye', 'Connection: close\r\n'));
    case '/echo':
      return void sock.write(ok(`${req.body.length}:${req.body.subarray(0, 8).toString()}:${req.conn}`));
    case '/big':
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`);
      return void sock.write(big);
    case '/lf':
      return void sock.write('HTTP/1.1 200 OK\nContent-Length: 2\n\nok');
    case '/bad-chunk':
      return void sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    case '/forget-second':
      // Answers the first request on a connection, then closes on the second without a word.
      if (req.conn === firstForget || firstForget === 0) {
        if (firstForget === 0) firstForget = req.conn;
        if (seenOnForget++ === 0) return void sock.write(ok(`conn ${req.conn}`));
        return void sock.destroy();
      }
      return void sock.write(ok(`conn ${req.conn}`));
    default:
      return void sock.write(ok(`${req.method} ${req.url} conn=${req.conn}`));
  }
};
let firstForget = 0;
let seenOnForget = 0;

let upA: RawUpstream, upB: RawUpstream;
let proxy: IngressProxy;
let port: number;
let tlsPort: number;

function table(aPort: number, bPort: number) {
  const svc = (name: string): Service => ({ metadata: { name, namespace: 'default' }, spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }] } });
  const eps = (name: string, p: number): Endpoints => ({ metadata: { name, namespace: 'default' }, subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'http', port: p, protocol: 'TCP' }] }] });
  const rule = (host: string, service: string) => ({ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: service, port: { number: 80 } } } }] } });
  const ingress: Ingress = { metadata: { name: 'fast', namespace: 'default', creationTimestamp: '2024-01-01T00:00:00Z' }, spec: { ingressClassName: 'kubemu', rules: [rule('a.test', 'a'), rule('b.test', 'b')] } };
  return buildRoutingTable({ ingresses: [ingress], ingressClasses: [ownIngressClass('kubemu')], service: (_, n) => svc(n), endpoints: (_, n) => eps(n, n === 'a' ? aPort : bPort) }, 'kubemu');
}

beforeAll(async () => {
  upA = await startRaw(script);
  upB = await startRaw(script);
  proxy = new IngressProxy({ table: table(upA.port, upB.port), certs: new CertificateStore(selfSignedCertificate()), upstreamTimeoutMs: 2000, log: logger('ingress-fastpath-test') });
  port = await proxy.listenHttp('127.0.0.1', 0);
  tlsPort = await proxy.listenHttps('127.0.0.1', 0);
});

afterAll(async () => {
  await proxy?.close();
  await Promise.all([upA?.close(), upB?.close()]);
});

/**
 * One raw client connection: `send` writes bytes, `read(n)` resolves with the next n complete
 * responses (parsed by a minimal client-side framer that knows which requests were HEAD).
 */
class RawClient {
  readonly sock: net.Socket;
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  constructor(secure = false) {
    this.sock = secure ? tls.connect({ port: tlsPort, host: '127.0.0.1', servername: 'a.test', rejectUnauthorized: false }) : net.connect(port, '127.0.0.1');
    this.sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiters.splice(0).forEach((w) => w());
    });
    this.sock.on('close', () => {
      this.closed = true;
      this.waiters.splice(0).forEach((w) => w());
    });
    this.sock.on('error', () => undefined);
  }
  send(text: string | Buffer): void {
    this.sock.write(text);
  }
  /** The next response: head text and body; `noBody` for HEAD/204/304 and 1xx. */
  async response(noBody = false, timeoutMs = 5000): Promise<{ head: string; body: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.tryParse(noBody);
      if (r) return r;
      if (this.closed || Date.now() > deadline) throw new Error(`no complete response; have ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`);
      await new Promise<void>((res) => {
        this.waiters.push(res);
        setTimeout(res, 100);
      });
    }
  }
  private tryParse(noBody: boolean): { head: string; body: string } | undefined {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const head = this.buf.subarray(0, end).toString('latin1');
    const rest = this.buf.subarray(end + 4);
    const status = Number(head.split(' ')[1]);
    const take = (n: number, body: string) => {
      this.buf = this.buf.subarray(end + 4 + n);
      return { head, body };
    };
    if (noBody || status < 200 || status === 204 || status === 304) return take(0, '');
    const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (cl) return rest.length >= Number(cl[1]) ? take(Number(cl[1]), rest.subarray(0, Number(cl[1])).toString('latin1')) : undefined;
    if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const last = rest.indexOf('\r\n0\r\n');
      if (last < 0) return undefined;
      const fin = rest.indexOf('\r\n\r\n', last + 2);
      return fin < 0 ? undefined : take(fin + 4, rest.subarray(0, fin + 4).toString('latin1'));
    }
    if (!this.closed) return undefined;
    return take(rest.length, rest.toString('latin1'));
  }
  close(): void {
    this.sock.destroy();
  }
}

const get = (path: string, host = 'a.test', extra = '') => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;

describe('parseRequestHead', () => {
  it('parses an ordinary head and keeps what is forwarded', () => {
    const h = parseRequestHead(Buffer.from('POST /p?q=1 HTTP/1.1\r\nHost: a.test:8080\r\nContent-Length: 3\r\nConnection: keep-alive\r\nX-Forwarded-For: 10.0.0.1\r\nX-Real-IP: spoof\r\nTE: trailers\r\nX-Request-ID: abc\r\nAccept: */*\r\n\r\nabc'));
    expect(h).toMatchObject({ method: 'POST', url: '/p?q=1', hostHeader: 'a.test:8080', bodyLength: 3, clientClose: false, forwardedFor: '10.0.0.1', requestId: 'abc' });
    // X-Request-ID is written again by the proxy (the client's value, else a fresh one).
    expect(h?.kept).toBe('Host: a.test:8080\r\nContent-Length: 3\r\nAccept: */*\r\n');
    expect(parseRequestHead(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'))?.clientClose).toBe(true);
  });

  it('waits for an incomplete head', () => {
    expect(parseRequestHead(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n'))).toBeUndefined();
  });

  it.each([
    ['chunked body', 'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['upgrade', 'GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
    ['expect', 'PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n'],
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\n\r\n'],
    ['absolute-form target', 'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['no Host', 'GET / HTTP/1.1\r\n\r\n'],
    ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['two Content-Lengths', 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n'],
    ['bad Content-Length', 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n'],
    ['connection options', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, x-secret\r\n\r\n'],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n'],
    ['bare LF', 'GET / HTTP/1.1\nHost: a\n\n'],
    ['control character', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n'],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n'],
  ])('leaves a request with %s to node', (_, text) => {
    expect(parseRequestHead(Buffer.from(text, 'latin1'))).toBeNull();
  });
});

describe('ingress proxy fast path - response framing on one keep-alive connection', () => {
  it('relays Content-Length, chunked, HEAD, 204, 304, 1xx and routes each request anew', async () => {
    const c = new RawClient();
    const before = upA.connections;
    c.send(get('/cl'));
    const cl = await c.response();
    expect(cl.head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(cl.head).toMatch(/\r\nX-Up: cl/);
    expect(cl.head).not.toMatch(/keep-alive/i);
    expect(cl.body).toBe('0123456789');

    c.send(get('/chunked'));
    const ch = await c.response();
    expect(ch.head).toMatch(/\r\nTransfer-Encoding: chunked/);
    expect(ch.body).toBe('4;ext=1\r\nabcd\r\n6\r\nefghij\r\n0\r\nX-Trailer: t\r\n\r\n');

    c.send('HEAD /head HTTP/1.1\r\nHost: a.test\r\n\r\n');
    expect((await c.response(true)).head).toMatch(/Content-Length: 5/);
    c.send(get('/204'));
    expect((await c.response()).head).toMatch(/^HTTP\/1\.1 204 No Content\r\nX-Up: 204/);
    c.send(get('/304'));
    expect((await c.response()).head).toMatch(/^HTTP\/1\.1 304/);
    c.send(get('/103'));
    const hint = await c.response();
    expect(hint.head).toMatch(/^HTTP\/1\.1 103 Early Hints\r\nLink: /);
    expect((await c.response()).body).toBe('final');

    // The next request on the same connection goes to the other Service.
    c.send(get('/who', 'b.test'));
    expect((await c.response()).body).toMatch(/^GET \/who conn=\d+$/);
    expect(upB.seen.at(-1)?.url).toBe('/who');
    c.send(get('/who'));
    expect((await c.response()).body).toMatch(/^GET \/who/);
    // Every exchange above ended cleanly, so one upstream connection carried them all.
    expect(upA.connections - before).toBe(1);
    expect(c.closed).toBe(false);
    c.close();
  });

  it('answers pipelined requests in order', async () => {
    const c = new RawClient();
    c.send(get('/chunked') + get('/one', 'b.test') + 'HEAD /head HTTP/1.1\r\nHost: a.test\r\n\r\n' + get('/cl'));
    expect((await c.response()).body).toMatch(/efghij/);
    expect((await c.response()).body).toMatch(/^GET \/one/);
    expect((await c.response(true)).head).toMatch(/Content-Length: 5/);
    expect((await c.response()).body).toBe('0123456789');
    c.close();
  });

  it('a close-delimited response closes the client connection after it', async () => {
    const c = new RawClient();
    c.send(get('/until-close'));
    const r = await c.response();
    expect(r.head).toMatch(/\r\nConnection: close/);
    expect(r.body).toBe('until close');
    await waitFor(() => c.closed);
  });

  it('Connection: close from the client is honoured', async () => {
    const c = new RawClient();
    c.send(get('/x', 'a.test', 'Connection: close\r\n'));
    const r = await c.response();
    expect(r.body).toMatch(/^GET \/x/);
    await waitFor(() => c.closed);
  });

  it('Connection: close from the upstream is not passed on and the upstream connection is not reused', async () => {
    const c = new RawClient();
    c.send(get('/upstream-close'));
    const r = await c.response();
    expect(r.body).toBe('bye');
    expect(r.head).not.toMatch(/connection/i);
    const closedConn = upA.seen.at(-1)?.conn;
    c.send(get('/after'));
    expect((await c.response()).body).toMatch(/^GET \/after/);
    expect(upA.seen.at(-1)?.conn).not.toBe(closedConn);
    expect(c.closed).toBe(false);
    c.close();
  });
});

describe('ingress proxy fast path - bodies and failures', () => {
  it('forwards request bodies and large responses with backpressure', async () => {
    const c = new RawClient();
    const body = Buffer.alloc(2 * 1024 * 1024, 'b');
    c.send(Buffer.concat([Buffer.from(`POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
    expect((await c.response()).body).toMatch(/^2097152:bbbbbbbb:/);
    c.send(get('/big'));
    const r = await c.response(false, 15000);
    expect(r.body.length).toBe(big.length);
    c.send(get('/after'));
    expect((await c.response()).body).toMatch(/^GET \/after/);
    c.close();
  });

  it('the same connection moves to node for an unusual request and stays usable', async () => {
    const c = new RawClient();
    c.send(get('/first'));
    expect((await c.response()).body).toMatch(/^GET \/first/);
    c.send('POST /echo HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive, x-hop\r\nX-Hop: 1\r\nContent-Length: 5\r\n\r\nhello' + get('/third'));
    expect((await c.response()).body).toMatch(/^5:hello:/);
    expect(upA.seen.at(-1)?.head).not.toMatch(/x-hop/i);
    const third = await c.response();
    expect(third.body).toMatch(/^GET \/third/);
    // node's server answered these two: its own headers are there.
    expect(third.head).toMatch(/\r\nConnection: keep-alive/i);
    c.close();
  });

  it('over TLS: ordinary requests, then the hand-over to node, on one connection', async () => {
    const c = new RawClient(true);
    c.send(get('/chunked') + get('/s'));
    expect((await c.response()).body).toMatch(/efghij/);
    expect((await c.response()).body).toMatch(/^GET \/s/);
    expect(upA.seen.at(-1)?.head).toMatch(/\r\nX-Forwarded-Proto: https\r\n/);
    c.send('POST /echo HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive, x-hop\r\nX-Hop: 1\r\nContent-Length: 5\r\n\r\nhello' + get('/after'));
    const viaNode = await c.response();
    expect(viaNode.body).toMatch(/^5:hello:/);
    expect(viaNode.head).toMatch(/\r\nKeep-Alive: timeout=75/); // node's server answered
    expect(upA.seen.at(-1)?.head).not.toMatch(/x-hop/i);
    expect((await c.response()).body).toMatch(/^GET \/after/);
    c.close();
  });

  it('an upstream answering before the whole body arrived: the rest is skipped, the connection goes on', async () => {
    const c = new RawClient();
    c.send(`POST /early HTTP/1.1\r\nHost: a.test\r\nContent-Length: 10\r\n\r\n12345`);
    expect((await c.response()).body).toBe('too big');
    c.send('67890' + get('/next'));
    expect((await c.response()).body).toMatch(/^GET \/next/);
    c.close();
  });

  it('a pooled upstream connection that closes on the next request is retried on a new one', async () => {
    const c = new RawClient();
    c.send(get('/forget-second'));
    const first = await c.response();
    expect(first.body).toMatch(/^conn \d+$/);
    const retries = proxy.stats.retries;
    c.send(get('/forget-second'));
    const second = await c.response();
    expect(second.head).toMatch(/^HTTP\/1\.1 200/);
    expect(second.body).not.toBe(first.body);
    expect(proxy.stats.retries).toBe(retries + 1);
    c.close();
  });

  it('a response head with bare-LF line ends is a 502 at once', async () => {
    const c = new RawClient();
    c.send(get('/lf'));
    expect((await c.response(false, 1000)).head).toMatch(/^HTTP\/1\.1 502 Bad Gateway/);
    c.send(get('/after'));
    expect((await c.response()).body).toMatch(/^GET \/after/);
    c.close();
  });

  it('a malformed chunked body from the upstream ends the client connection', async () => {
    const c = new RawClient();
    c.send(get('/bad-chunk'));
    await waitFor(() => c.closed);
  });

  it('node clients (keep-alive agent) see well-framed responses', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const fetch = (path: string, method = 'GET') =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path, method, headers: { host: 'a.test' }, agent }, (res) => {
          let body = '';
          res.setEncoding('latin1');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    expect(await fetch('/chunked')).toEqual({ status: 200, body: 'abcdefghij' });
    expect(await fetch('/cl')).toEqual({ status: 200, body: '0123456789' });
    expect(await fetch('/head', 'HEAD')).toEqual({ status: 200, body: '' });
    expect(await fetch('/204')).toEqual({ status: 204, body: '' });
    expect((await fetch('/103')).body).toBe('final');
    agent.destroy();
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
