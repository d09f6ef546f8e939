/**
 * Helpers shared by the ingress controller's tests: backends that echo what they received, a
 * minimal WebSocket (RFC 6455) echo server and client over raw sockets (single unfragmented text
 * frames, enough to prove a tunnel carries both directions), and openssl-made certificates.
 */
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC11B65';

/** What a backend saw of one request. */
export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Backend {
  name: string;
  server: http.Server;
  host: string;
  port: number;
  seen: Seen[];
  close(): Promise<void>;
}

function frame(text: string, mask: boolean): Buffer {
  const payload = Buffer.from(text);
  if (payload.length > 125) throw new Error('test frames are short');
  const head = Buffer.from([0x81, (mask ? 0x80 : 0) | payload.length]);
  if (!mask) return Buffer.concat([head, payload]);
  const key = crypto.randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([head, key, masked]);
}

/** Decodes one complete short text frame at the start of `buf`, or undefined when incomplete. */
function unframe(buf: Buffer): { text: string; rest: Buffer } | undefined {
  if (buf.length < 2) return undefined;
  const masked = (buf[1] & 0x80) !== 0;
  const len = buf[1] & 0x7f;
  const start = 2 + (masked ? 4 : 0);
  if (buf.length < start + len) return undefined;
  let payload = buf.subarray(start, start + len);
  if (masked) {
    const key = buf.subarray(2, 6);
    payload = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
  }
  return { text: payload.toString(), rest: buf.subarray(start + len) };
}

/**
 * An HTTP server on `host` (port 0) answering `<name> <method> <url>` and recording requests;
 * WebSocket upgrades get an echo of each text frame prefixed with `<name>:`.
 */
export async function startBackend(name: string, host = '127.0.0.1', opts: { delayMs?: number } = {}): Promise<Backend> {
  const seen: Seen[] = [];
  const tunnels = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      const answer = () => {
        res.setHeader('x-backend', name);
        res.setHeader('connection', 'keep-alive');
        res.end(`${name} ${req.method} ${req.url}${chunks.length ? ` ${Buffer.concat(chunks).toString()}` : ''}`);
      };
      if (opts.delayMs) setTimeout(answer, opts.delayMs);
      else answer();
    });
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' });
    tunnels.add(socket);
    socket.once('close', () => tunnels.delete(socket));
    const accept = crypto.createHash('sha1').update(`${req.headers['sec-websocket-key']}${WS_GUID}`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    let buf: Buffer = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (let f = unframe(buf); f; f = unframe(buf)) {
        buf = f.rest;
        socket.write(frame(`${name}:${f.text}`, false));
      }
    });
    socket.on('error', () => socket.destroy());
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
  });
  return {
    name,
    server,
    host,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of tunnels) s.destroy();
      }),
  };
}

/**
 * Opens a WebSocket to `host:port` with Host `hostHeader` and `path`, sends each message and
 * resolves with the echoes, in order. Rejects when the answer is not 101 (with its status line).
 */
export function websocketRoundTrip(host: string, port: number, hostHeader: string, path: string, messages: string[], timeoutMs = 5000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('websocket round trip timed out'));
    }, timeoutMs);
    const key = crypto.randomBytes(16).toString('base64');
    let buf: Buffer = Buffer.alloc(0);
    let upgraded = false;
    const got: string[] = [];
    socket.on('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString();
        if (!head.startsWith('HTTP/1.1 101')) {
          clearTimeout(timer);
          socket.destroy();
          return reject(new Error(`no upgrade: ${head.split('\r\n')[0]}`));
        }
        const want = crypto.createHash('sha1').update(`${key}${WS_GUID}`).digest('base64');
        if (!head.includes(want)) {
          clearTimeout(timer);
          socket.destroy();
          return reject(new Error('bad Sec-WebSocket-Accept'));
        }
        upgraded = true;
        buf = buf.subarray(end + 4);
        for (const m of messages) socket.write(frame(m, true));
      }
      for (let f = unframe(buf); f; f = unframe(buf)) {
        buf = f.rest;
        got.push(f.text);
      }
      if (got.length >= messages.length) {
        clearTimeout(timer);
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** A self-signed certificate and key (PEM) for `cn` with `sans` as DNS names, made by openssl. */
export function makeCertificate(cn: string, sans: string[]): { cert: string; key: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ingress-test-cert-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'k'), '-out', path.join(dir, 'c'), '-days', '2', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}`],
      { stdio: 'ignore' },
    );
    return { cert: fs.readFileSync(path.join(dir, 'c'), 'utf8'), key: fs.readFileSync(path.join(dir, 'k'), 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** One HTTP request; resolves with status, headers and body. `agent: false` unless given. */
export function request(opts: http.RequestOptions & { body?: string }): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent: false, ...opts }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
