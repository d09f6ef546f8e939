/**
 * The data path: an HTTP/1.1 reverse proxy (node's http module) from the controller's HTTP and
 * HTTPS listeners to Service endpoints, the way ingress-nginx proxies: keep-alive to clients and
 * to upstreams, bodies streamed both ways, the X-Forwarded-* family set, hop-by-hop headers
 * dropped, Upgrade (WebSocket) requests tunnelled, one retry on another endpoint when the
 * connection cannot be made, 502/503/504 as nginx answers them. No per-request logging (the hot
 * path is benchmarked against hitting a pod directly); counters instead.
 */
import * as crypto from 'crypto';
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import * as tls from 'tls';
import { Logger } from '../lib/log';
import { CertificateStore } from './certs';
import { FastConnection, FastContext, UpstreamPool } from './fastpath';
import { Backend, hostOf, matchRoute, RoutingTable, Upstream } from './routes';

/** Headers that describe one connection, never forwarded (RFC 9110 7.6.1, plus nginx's list). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Per-process counters of what the proxy did (read by tests and the periodic log). */
export interface ProxyStats {
  requests: number;
  upgrades: number;
  notFound: number;
  redirects: number;
  unavailable: number;
  badGateway: number;
  gatewayTimeout: number;
  retries: number;
}

export interface ProxyOptions {
  /** Read on every request: swapping it (setTable) takes effect for the next request. */
  table: RoutingTable;
  certs: CertificateStore;
  /** Idle time on an upstream request before 504, ms (nginx proxy_read_timeout; default 60 s). */
  upstreamTimeoutMs?: number;
  /**
   * Serve ordinary requests on the raw-socket fast path (fastpath.ts), node's http server taking
   * the rest (default true; false sends everything through node's http server).
   */
  fastPath?: boolean;
  log: Logger;
}

const BODIES = {
  404: 'default backend - 404\n',
  502: '502 Bad Gateway\n',
  503: '503 Service Temporarily Unavailable\n',
  504: '504 Gateway Time-out\n',
} as const;

/**
 * The proxy behind both listeners. `listen*` bind; `close` stops accepting and ends idle
 * connections. The routing table and certificates can be swapped at any time (single-threaded:
 * a request sees one table).
 */
export class IngressProxy {
  readonly stats: ProxyStats = { requests: 0, upgrades: 0, notFound: 0, redirects: 0, unavailable: 0, badGateway: 0, gatewayTimeout: 0, retries: 0 };
  private table: RoutingTable;
  private readonly certs: CertificateStore;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 512, scheduling: 'lifo', keepAliveMsecs: 1000 });
  /** Round-robin positions by backend key; survive table rebuilds. */
  private readonly positions = new Map<string, number>();
  private readonly requestIdPrefix = crypto.randomBytes(8).toString('hex');
  private requestSeq = 0;
  /** Client and upstream sockets of established tunnels: servers do not track them after the upgrade. */
  private readonly tunnels = new Set<net.Socket>();
  private httpServer?: http.Server;
  private httpsServer?: https.Server;
  private httpPort = 0;
  private httpsPort = 0;
  private readonly fastPath: boolean;
  /** Keep-alive upstream connections of the fast path. */
  private readonly pool = new UpstreamPool();
  /** Client connections on the fast path (the http servers do not know them). */
  private readonly fastConnections = new Set<FastConnection>();
  private closing = false;

  constructor(opts: ProxyOptions) {
    this.table = opts.table;
    this.certs = opts.certs;
    this.timeoutMs = opts.upstreamTimeoutMs ?? 60000;
    this.fastPath = opts.fastPath ?? true;
    this.log = opts.log;
  }

  /**
   * Puts the fast path in front of node's handling of new connections (`event`: 'connection' for
   * http, 'secureConnection' for https): node's own listener becomes the fallback.
   */
  private interceptConnections(server: net.Server, event: 'connection' | 'secureConnection', secure: boolean): void {
    if (!this.fastPath) return;
    const nodeListeners = server.listeners(event) as Array<(socket: net.Socket) => void>;
    server.removeAllListeners(event);
    const ctx: FastContext = {
      stats: this.stats,
      timeoutMs: this.timeoutMs,
      pool: this.pool,
      table: () => this.table,
      nextUpstream: (b, avoid) => this.nextUpstream(b, avoid),
      newRequestId: () => this.newRequestId(),
      redirectAuthority: (h) => this.redirectAuthority(h),
      fallback: (socket, pending) => {
        socket.pause();
        if (pending.length) socket.unshift(pending);
        // node's server would read the TCP handle directly (bypassing the stream and the bytes
        // put back above); marking it consumed keeps it on the stream's 'data' events, in order.
        const handle = (socket as unknown as { _handle?: { _consumed?: boolean } })._handle;
        if (handle) handle._consumed = true;
        for (const l of nodeListeners) l.call(server, socket);
        socket.resume();
      },
      track: (c) => this.fastConnections.add(c),
      untrack: (c) => this.fastConnections.delete(c),
    };
    server.on(event, (socket: net.Socket) => {
      // A connection reset while queued can arrive already closed.
      if (socket.destroyed) return;
      new FastConnection(socket, secure, ctx);
    });
  }

  /** Swaps the routing table; round-robin positions of backends still routed to are kept. */
  setTable(table: RoutingTable): void {
    this.table = table;
    const keys = new Set<string>();
    if (table.defaultBackend) keys.add(table.defaultBackend.key);
    for (const r of [...table.hosts.values(), ...table.wildcards.values(), ...(table.anyHost ? [table.anyHost] : [])]) {
      if (r.defaultBackend) keys.add(r.defaultBackend.key);
      for (const p of r.prefixes) keys.add(p.backend.key);
      for (const p of r.exact.values()) keys.add(p.backend.key);
    }
    for (const key of [...this.positions.keys()]) if (!keys.has(key)) this.positions.delete(key);
  }

  /** Binds the plain HTTP listener; resolves with the bound port. Throws on bind failure. */
  async listenHttp(host: string, port: number): Promise<number> {
    const server = http.createServer({ keepAlive: true }, (req, res) => this.handle(req, res, false));
    this.httpServer = server;
    this.configure(server, false);
    this.interceptConnections(server, 'connection', false);
    this.httpPort = await bind(server, host, port);
    return this.httpPort;
  }

  /** Binds the HTTPS listener (SNI from the certificate store); resolves with the bound port. */
  async listenHttps(host: string, port: number): Promise<number> {
    const server = https.createServer(
      { ...(this.certs.fallbackPair ?? {}), SNICallback: (name, cb) => cb(null, this.certs.select(name) as tls.SecureContext) },
      (req, res) => this.handle(req, res, true),
    );
    // Clients without SNI (an IP literal) get the server's own context: the fallback certificate.
    this.httpsServer = server;
    this.configure(server, true);
    this.interceptConnections(server, 'secureConnection', true);
    this.httpsPort = await bind(server, host, port);
    return this.httpsPort;
  }

  /**
   * Serves a connection accepted on another listening socket (the load-balancer addresses) exactly
   * as the HTTP (`secure` false) or HTTPS listener would: fast path, TLS handshake, node's server.
   * Before the listener exists or after close the socket is destroyed. Never throws.
   */
  accept(socket: net.Socket, secure: boolean): void {
    const server = secure ? this.httpsServer : this.httpServer;
    if (!server || this.closing || socket.destroyed) {
      socket.destroy();
      return;
    }
    // The servers' own 'connection' handlers: the fast path for HTTP, the TLS wrapping for HTTPS.
    server.emit('connection', socket);
  }

  private configure(server: http.Server, secure: boolean): void {
    // nginx keepalive_timeout 75s; headers must arrive sooner than that.
    server.keepAliveTimeout = 75000;
    server.headersTimeout = 76000;
    server.requestTimeout = 0;
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.handleUpgrade(req, socket, head, secure));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      if (socket.writable && err.code !== 'ECONNRESET') socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    if (secure) server.on('tlsClientError', () => undefined);
  }

  /** Stops listening, closes idle keep-alive connections and the upstream agent. */
  async close(): Promise<void> {
    this.closing = true;
    const closeOne = (s?: http.Server) =>
      new Promise<void>((resolve) => {
        if (!s) return resolve();
        s.close(() => resolve());
        s.closeIdleConnections();
        // Connections still busy get a moment, then go.
        setTimeout(() => s.closeAllConnections(), 2000).unref();
      });
    for (const s of this.tunnels) s.destroy();
    for (const c of this.fastConnections) if (!c.busy) c.destroy();
    const busy = [...this.fastConnections];
    if (busy.length) setTimeout(() => busy.forEach((c) => c.destroy()), 2000).unref();
    await Promise.all([closeOne(this.httpServer), closeOne(this.httpsServer)]);
    this.agent.destroy();
    this.pool.destroy();
  }

  private nextUpstream(backend: Backend, avoid?: Upstream): Upstream | undefined {
    const ups = backend.upstreams;
    if (ups.length === 0) return undefined;
    let i = this.positions.get(backend.key) ?? 0;
    let u = ups[i % ups.length];
    if (avoid && ups.length > 1 && u.ip === avoid.ip && u.port === avoid.port) u = ups[++i % ups.length];
    this.positions.set(backend.key, (i + 1) % ups.length);
    return u;
  }

  private requestId(req: http.IncomingMessage): string {
    const given = req.headers['x-request-id'];
    if (typeof given === 'string' && given) return given;
    return this.newRequestId();
  }

  /** A fresh X-Request-ID: 32 hex digits, a per-process random prefix and a counter. */
  private newRequestId(): string {
    this.requestSeq = (this.requestSeq + 1) >>> 0;
    return this.requestIdPrefix + this.requestSeq.toString(16).padStart(16, '0');
  }

  /** The upstream request headers: the client's minus hop-by-hop, plus the X-Forwarded-* family. */
  private upstreamHeaders(req: http.IncomingMessage, secure: boolean, upgrade: boolean): http.OutgoingHttpHeaders {
    // Expect is answered here (node's server sends 100 Continue), never passed on.
    const headers: http.OutgoingHttpHeaders = {};
    const connectionTokens = typeof req.headers.connection === 'string' ? req.headers.connection.toLowerCase().split(/\s*,\s*/) : [];
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k) || k === 'expect') continue;
      if (connectionTokens.length && connectionTokens.includes(k)) continue;
      headers[k] = v;
    }
    const remote = req.socket.remoteAddress ?? '';
    const clientIP = remote.startsWith('::ffff:') ? remote.slice(7) : remote;
    const prior = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${clientIP}` : clientIP;
    headers['x-real-ip'] = clientIP;
    const hostHeader = req.headers.host ?? '';
    headers['x-forwarded-host'] = hostHeader;
    const proto = secure ? 'https' : 'http';
    headers['x-forwarded-proto'] = proto;
    headers['x-scheme'] = proto;
    // The port the client addressed (as nginx's $server_port behind the LoadBalancer Service).
    const m = /:(\d+)$/.exec(hostHeader);
    headers['x-forwarded-port'] = m ? m[1] : secure ? '443' : '80';
    headers['x-request-id'] = this.requestId(req);
    headers['x-original-uri'] = req.url ?? '/';
    if (upgrade) {
      headers.connection = 'upgrade';
      headers.upgrade = req.headers.upgrade ?? 'websocket';
    }
    return headers;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, secure: boolean): void {
    this.stats.requests++;
    const url = req.url ?? '/';
    const { host, path } = target(req);
    const match = matchRoute(this.table, host, path);
    if (match.kind === 'none') return this.reply(res, 404);
    if (match.kind === 'route' && match.route.sslRedirect && !secure) {
      this.stats.redirects++;
      res.writeHead(308, { location: `https://${this.redirectAuthority(req.headers.host ?? host)}${originForm(url)}`, 'content-length': 0 });
      res.end();
      return;
    }
    const backend = match.kind === 'route' ? match.route.backend : match.backend;
    const upstream = this.nextUpstream(backend);
    if (!upstream) return this.reply(res, 503);
    this.forward(req, res, secure, backend, upstream, false);
  }

  /**
   * https://<host> for a redirect: a client that addressed our HTTP listener's port directly is
   * sent to the HTTPS listener's port; one that came through port 80 (the Service) to 443.
   */
  private redirectAuthority(hostHeader: string): string {
    const m = /^([^:]+|\[[^\]]*\]):(\d+)$/.exec(hostHeader);
    if (!m) return hostHeader;
    return Number(m[2]) === this.httpPort && this.httpsPort && this.httpsPort !== 443 ? `${m[1]}:${this.httpsPort}` : m[1];
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse, secure: boolean, backend: Backend, upstream: Upstream, retried: boolean): void {
    let connected = false;
    let piped = false;
    const proxyReq = http.request({
      host: upstream.ip,
      port: upstream.port,
      method: req.method,
      path: originForm(req.url ?? '/'),
      headers: this.upstreamHeaders(req, secure, false),
      agent: this.agent,
      timeout: this.timeoutMs,
    });
    const pipeBody = () => {
      if (piped) return;
      piped = true;
      req.pipe(proxyReq);
    };
    const bodyless = isBodyless(req);
    // Without a body there is nothing to hold back: headers go out in one write, no pipe.
    if (bodyless) proxyReq.end();
    proxyReq.on('socket', (socket: net.Socket) => {
      // Hold the body until the connection exists, so a refused connection can be retried.
      if ((socket as net.Socket & { connecting?: boolean }).connecting) {
        socket.once('connect', () => {
          connected = true;
          if (!bodyless) pipeBody();
        });
      } else {
        connected = true;
        if (!bodyless) pipeBody();
      }
    });
    proxyReq.on('timeout', () => {
      proxyReq.destroy(Object.assign(new Error('upstream timed out'), { code: 'UPSTREAM_TIMEOUT' }));
    });
    proxyReq.on('response', (proxyRes) => {
      const headers: http.OutgoingHttpHeaders = {};
      const connectionTokens = typeof proxyRes.headers.connection === 'string' ? proxyRes.headers.connection.toLowerCase().split(/\s*,\s*/) : [];
      for (const [k, v] of Object.entries(proxyRes.headers)) {
        if (v === undefined || HOP_BY_HOP.has(k) || connectionTokens.includes(k)) continue;
        headers[k] = v;
      }
      try {
        res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, headers);
      } catch {
        // A status or header node refuses to send on (e.g. status 99): the upstream is broken.
        proxyRes.destroy();
        return this.reply(res, 502);
      }
      proxyRes.pipe(res);
      proxyRes.on('error', () => res.destroy());
    });
    proxyReq.on('error', (err: NodeJS.ErrnoException) => {
      // The client went away first (we destroyed the upstream request): nothing to answer or retry.
      if (res.destroyed) return;
      const reusedDead = proxyReq.reusedSocket && err.code === 'ECONNRESET' && !res.headersSent && bodyless;
      if (!retried && !res.headersSent && (!connected || reusedDead) && err.code !== 'UPSTREAM_TIMEOUT') {
        // nginx proxy_next_upstream error: one more try on another endpoint.
        this.stats.retries++;
        const next = this.nextUpstream(backend, upstream) ?? upstream;
        return this.forward(req, res, secure, backend, next, true);
      }
      if (res.headersSent) return void res.destroy();
      this.reply(res, err.code === 'UPSTREAM_TIMEOUT' ? 504 : 502);
    });
    // The client went away: stop the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) proxyReq.destroy();
    });
  }

  private reply(res: http.ServerResponse, code: 404 | 502 | 503 | 504): void {
    if (code === 404) this.stats.notFound++;
    else if (code === 502) this.stats.badGateway++;
    else if (code === 503) this.stats.unavailable++;
    else this.stats.gatewayTimeout++;
    const body = BODIES[code];
    if (res.headersSent) return void res.destroy();
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  /** An Upgrade request: routed like any request, then tunnelled byte for byte after the 101. */
  private handleUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer, secure: boolean): void {
    this.stats.requests++;
    this.stats.upgrades++;
    socket.on('error', () => socket.destroy());
    const url = req.url ?? '/';
    const { host, path } = target(req);
    const match = matchRoute(this.table, host, path);
    const rawReply = (code: 404 | 502 | 503 | 504, text: string) => {
      const body = BODIES[code];
      socket.end(`HTTP/1.1 ${code} ${text}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    };
    if (match.kind === 'none') {
      this.stats.notFound++;
      return rawReply(404, 'Not Found');
    }
    if (match.kind === 'route' && match.route.sslRedirect && !secure) {
      this.stats.redirects++;
      socket.end(`HTTP/1.1 308 Permanent Redirect\r\nLocation: https://${this.redirectAuthority(req.headers.host ?? '')}${originForm(url)}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    const backend = match.kind === 'route' ? match.route.backend : match.backend;
    const first = this.nextUpstream(backend);
    if (!first) {
      this.stats.unavailable++;
      return rawReply(503, 'Service Temporarily Unavailable');
    }
    const attempt = (upstream: Upstream, retried: boolean) => {
      const proxyReq = http.request({ host: upstream.ip, port: upstream.port, method: req.method, path: originForm(url), headers: this.upstreamHeaders(req, secure, true), agent: false, timeout: this.timeoutMs });
      // The client gave up before the upstream answered: drop the upstream attempt too.
      const abandon = () => proxyReq.destroy();
      socket.once('close', abandon);
      let connected = false;
      proxyReq.on('socket', (s: net.Socket) => s.once('connect', () => (connected = true)));
      proxyReq.on('timeout', () => proxyReq.destroy(Object.assign(new Error('upstream timed out'), { code: 'UPSTREAM_TIMEOUT' })));
      proxyReq.on('error', (err: NodeJS.ErrnoException) => {
        socket.off('close', abandon);
        if (socket.destroyed) return;
        if (!retried && !connected && err.code !== 'UPSTREAM_TIMEOUT') {
          this.stats.retries++;
          return attempt(this.nextUpstream(backend, upstream) ?? upstream, true);
        }
        if (err.code === 'UPSTREAM_TIMEOUT') {
          this.stats.gatewayTimeout++;
          return rawReply(504, 'Gateway Time-out');
        }
        this.stats.badGateway++;
        rawReply(502, 'Bad Gateway');
      });
      // The upstream refused the upgrade: pass its answer on and close.
      proxyReq.on('response', (proxyRes) => {
        let headerText = `HTTP/1.1 ${proxyRes.statusCode} ${proxyRes.statusMessage ?? ''}\r\n`;
        for (let i = 0; i < proxyRes.rawHeaders.length; i += 2) {
          if (HOP_BY_HOP.has(proxyRes.rawHeaders[i].toLowerCase())) continue;
          headerText += `${proxyRes.rawHeaders[i]}: ${proxyRes.rawHeaders[i + 1]}\r\n`;
        }
        socket.write(headerText + 'Connection: close\r\n\r\n');
        proxyRes.pipe(socket);
      });
      proxyReq.on('upgrade', (proxyRes, upstreamSocket: net.Socket, upstreamHead: Buffer) => {
        socket.off('close', abandon);
        if (socket.destroyed) return void upstreamSocket.destroy();
        // The tunnel is established: idle tunnels (a quiet WebSocket) are not timed out.
        proxyReq.setTimeout(0);
        upstreamSocket.setTimeout(0);
        let headerText = `HTTP/1.1 101 ${proxyRes.statusMessage || 'Switching Protocols'}\r\n`;
        for (let i = 0; i < proxyRes.rawHeaders.length; i += 2) headerText += `${proxyRes.rawHeaders[i]}: ${proxyRes.rawHeaders[i + 1]}\r\n`;
        socket.write(headerText + '\r\n');
        if (upstreamHead.length) socket.write(upstreamHead);
        if (head.length) upstreamSocket.write(head);
        this.tunnels.add(socket).add(upstreamSocket);
        socket.once('close', () => this.tunnels.delete(socket));
        upstreamSocket.once('close', () => this.tunnels.delete(upstreamSocket));
        upstreamSocket.on('error', () => socket.destroy());
        socket.on('error', () => upstreamSocket.destroy());
        socket.on('close', () => upstreamSocket.destroy());
        upstreamSocket.on('close', () => socket.destroy());
        upstreamSocket.pipe(socket);
        socket.pipe(upstreamSocket);
        socket.setNoDelay(true);
        upstreamSocket.setNoDelay(true);
      });
      proxyReq.end();
    };
    attempt(first, false);
  }
}

/**
 * The host and path a request is routed by: the Host header and the path without the query; an
 * absolute-form target (`GET http://host/path`) names both itself, and wins (RFC 9112 3.2.2).
 */
function target(req: http.IncomingMessage): { host: string; path: string } {
  const url = req.url ?? '/';
  if (url.charCodeAt(0) !== 47 /* '/' */) {
    const m = /^https?:\/\/([^/?#]*)([^?#]*)/i.exec(url);
    if (m) return { host: hostOf(m[1]), path: m[2] || '/' };
  }
  const q = url.indexOf('?');
  return { host: hostOf(req.headers.host), path: q >= 0 ? url.slice(0, q) : url };
}

/** The path and query of a request target, whatever its form. */
function originForm(url: string): string {
  return url.charCodeAt(0) === 47 ? url : url.replace(/^https?:\/\/[^/?#]*/i, '') || '/';
}

/** A request without a body (safe to send again after a reused connection turned out dead). */
function isBodyless(req: http.IncomingMessage): boolean {
  return !req.headers['transfer-encoding'] && (req.headers['content-length'] === undefined || req.headers['content-length'] === '0');
}

function bind(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}
