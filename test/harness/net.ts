/**
 * Small network clients and backends for tests of traffic paths (kube-proxy's listeners, Service
 * addresses): one HTTP GET, one TCP connect, one UDP exchange, and servers that answer with a name.
 * Whoever creates a server or socket here owns closing it.
 */
import * as dgram from 'dgram';
import * as http from 'http';
import * as net from 'net';

/**
 * One GET of `/` on a fresh connection unless `agent` is given (so that every request is balanced
 * anew); resolves with the body whatever the status. Rejects on a connection error or after
 * `timeoutMs` (default 3000) without an answer.
 */
export function httpGet(host: string, port: number, opts: { localAddress?: string; agent?: http.Agent; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', agent: opts.agent ?? false, localAddress: opts.localAddress, timeout: opts.timeoutMs ?? 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

/** One TCP connect: resolves 'connected' (and closes it) or the error code (ECONNREFUSED, ...). Never rejects. */
export function connectCode(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

/** An HTTP server on ip:port answering every request with `body`; resolves once it listens. */
export async function httpTextServer(ip: string, port: number, body: string): Promise<http.Server> {
  const s = http.createServer((req, res) => res.end(body));
  await new Promise<void>((r) => s.listen(port, ip, r));
  return s;
}

/** A UDP socket on ip:port that answers every datagram with "echo:" + it; resolves once bound. */
export async function udpEchoServer(ip: string, port: number): Promise<dgram.Socket> {
  const echo = dgram.createSocket('udp4');
  echo.on('message', (m, r) => echo.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address));
  await new Promise<void>((r) => echo.bind(port, ip, r));
  return echo;
}

/**
 * Sends `payload` from the bound `sock` to host:port and resolves with the first datagram back as
 * "<reply> from <address>:<port>", or undefined when none came within `waitMs` (a lost datagram is
 * not an error: callers retry, e.g. with waitFor). Not for concurrent calls on one socket.
 */
export function udpExchange(sock: dgram.Socket, payload: string, host: string, port: number, waitMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const onMessage = (m: Buffer, rinfo: dgram.RemoteInfo) => {
      clearTimeout(t);
      resolve(`${m.toString()} from ${rinfo.address}:${rinfo.port}`);
    };
    const t = setTimeout(() => {
      sock.removeListener('message', onMessage);
      resolve(undefined);
    }, waitMs);
    sock.once('message', onMessage);
    sock.send(payload, port, host);
  });
}
