/**
 * The proxy's fast path for the common request: an HTTP/1.1 request with a Host header, an
 * origin-form target and either no body or a Content-Length one (no Transfer-Encoding, Upgrade,
 * Expect, nor Connection options other than keep-alive/close). Its head is parsed here, straight
 * from the client socket, routed, rewritten (hop-by-hop headers out, the X-Forwarded-* family in)
 * and written with the body bytes to a pooled keep-alive upstream socket; the response is relayed
 * byte for byte while its framing (Content-Length, chunked, none for HEAD/1xx/204/304, or until
 * the upstream closes) is tracked, so the next request on the connection can go elsewhere.
 *
 * Anything else is handed, at a request boundary, to node's http server (the `fallback`), which
 * then owns the connection for good: node's parser is the reference for the unusual cases (and
 * answers malformed requests with 400/431 itself). Node's http machinery costs more than the pod
 * we proxy to spends on a request; this path keeps the proxy's share of the CPU small.
 */
import * as net from 'net';
import { Backend, hostOf, matchRoute, RoutingTable, Upstream } from './routes';
import type { ProxyStats } from './proxy';

/** Counters shared with the node-http path (all of ProxyStats but upgrades, which it hands over). */
export type FastStats = Omit<ProxyStats, 'upgrades'>;

/** What the fast path needs from the proxy that owns it. */
export interface FastContext {
  readonly stats: FastStats;
  /** Idle time on an upstream exchange before 504, ms. */
  readonly timeoutMs: number;
  readonly pool: UpstreamPool;
  table(): RoutingTable;
  nextUpstream(backend: Backend, avoid?: Upstream): Upstream | undefined;
  newRequestId(): string;
  redirectAuthority(hostHeader: string): string;
  /** Hands the connection to node's http server; `pending` holds bytes already read, not yet parsed. */
  fallback(socket: net.Socket, pending: Buffer): void;
  track(conn: FastConnection): void;
  untrack(conn: FastConnection): void;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
/** node's default --max-http-header-size: a longer head is node's to refuse (431). */
const MAX_HEAD = 16 * 1024;
/** A response head longer than this is a broken upstream (nginx: proxy_buffer_size, far smaller). */
const MAX_RESPONSE_HEAD = 64 * 1024;
/** nginx keepalive_timeout. */
const CLIENT_IDLE_MS = 75_000;
/** How long an idle pooled upstream connection is kept (nginx upstream keepalive_timeout). */
const UPSTREAM_IDLE_MS = 60_000;
const REQUEST_LINE = /^([A-Z]+) (\/[\x21-\x7e]*) HTTP\/1\.1$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Characters node's parser refuses in a header value (controls other than tab). */
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/;
const DIGITS = /^\d{1,15}$/;

const LOCAL_BODIES = {
  404: ['Not Found', 'default backend - 404\n'],
  502: ['Bad Gateway', '502 Bad Gateway\n'],
  503: ['Service Temporarily Unavailable', '503 Service Temporarily Unavailable\n'],
  504: ['Gateway Time-out', '504 Gateway Time-out\n'],
} as const;

/** Request headers dropped on the way up: hop-by-hop ones and those the proxy sets itself. */
const DROPPED_REQUEST = new Set([
  'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'x-real-ip', 'x-forwarded-host', 'x-forwarded-proto', 'x-scheme', 'x-forwarded-port', 'x-original-uri',
]);
/** Requests with these go to node's http server. */
const FALLBACK_REQUEST = new Set(['transfer-encoding', 'upgrade', 'expect']);
/** Response headers dropped on the way down (Transfer-Encoding is handled apart). */
const DROPPED_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade']);

let dateCache = '';
let dateCacheAt = 0;
/** The Date header value, recomputed at most once a second (as node's server does). */
function httpDate(): string {
  const now = Date.now();
  if (now - dateCacheAt >= 1000) {
    dateCacheAt = now - (now % 1000);
    dateCache = new Date(now).toUTCString();
  }
  return dateCache;
}

/** A parsed, routable request head. */
interface RequestHead {
  method: string;
  url: string;
  hostHeader: string;
  bodyLength: number;
  clientClose: boolean;
  /** Kept header lines, each ending in CRLF (latin1, bytes as received). */
  kept: string;
  forwardedFor?: string;
  requestId?: string;
  headLength: number;
}

/**
 * Parses the request head at the start of `buf`. Returns undefined while it is incomplete, null
 * when the request is not for the fast path (malformed, or a feature left to node's server).
 */
export function parseRequestHead(buf: Buffer): RequestHead | undefined | null {
  const end = buf.indexOf(CRLFCRLF);
  if (end < 0) {
    // Bare-LF line ends, or a head longer than node accepts: node's parser decides.
    if (buf.length > MAX_HEAD || buf.indexOf(10) >= 0 && buf.indexOf('\n\n') >= 0) return null;
    return undefined;
  }
  if (end > MAX_HEAD) return null;
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const m = REQUEST_LINE.exec(lines[0]);
  if (!m) return null;
  const head: RequestHead = { method: m[1], url: m[2], hostHeader: '', bodyLength: 0, clientClose: false, kept: '', headLength: end + 4 };
  let sawHost = false;
  let sawLength = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return null;
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (BAD_VALUE.test(value)) return null;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'host':
        if (sawHost) return null;
        sawHost = true;
        head.hostHeader = value;
        head.kept += line + '\r\n';
        continue;
      case 'content-length':
        if (sawLength || !DIGITS.test(value)) return null;
        sawLength = true;
        head.bodyLength = Number(value);
        head.kept += line + '\r\n';
        continue;
      case 'connection':
        for (const t of value.toLowerCase().split(',')) {
          const token = t.trim();
          if (token === 'close') head.clientClose = true;
          else if (token !== 'keep-alive' && token !== '') return null;
        }
        continue;
      case 'x-forwarded-for':
        head.forwardedFor = head.forwardedFor === undefined ? value : `${head.forwardedFor}, ${value}`;
        continue;
      case 'x-request-id':
        if (value === '') continue;
        head.requestId = head.requestId === undefined ? value : `${head.requestId}, ${value}`;
        continue;
    }
    if (FALLBACK_REQUEST.has(lower)) return null;
    if (DROPPED_REQUEST.has(lower)) continue;
    head.kept += line + '\r\n';
  }
  if (!sawHost || head.method === 'CONNECT') return null;
  return head;
}

/** A pooled upstream connection; `owner` is the client connection using it, none while idle. */
export class UpstreamConn {
  owner?: FastConnection;
  connected = false;
  /** The socket's idle timeout now, ms (re-arming a timer costs; both defaults are 60 s). */
  private timeoutMs = -1;
  constructor(readonly sock: net.Socket, readonly key: string, private readonly pool: UpstreamPool) {
    sock.setNoDelay(true);
    sock.on('connect', () => {
      this.connected = true;
      this.owner?.onUpConnect(this);
    });
    sock.on('data', (d: Buffer) => (this.owner ? this.owner.onUpData(this, d) : sock.destroy()));
    sock.on('end', () => (this.owner ? this.owner.onUpGone(this, undefined, true) : sock.destroy()));
    sock.on('error', (err: NodeJS.ErrnoException) => this.owner?.onUpGone(this, err, false));
    sock.on('close', () => {
      this.pool.remove(this);
      this.owner?.onUpGone(this, undefined, false);
    });
    sock.on('timeout', () => (this.owner ? this.owner.onUpTimeout(this) : sock.destroy()));
    sock.on('drain', () => this.owner?.onUpDrain());
  }

  setIdleTimeout(ms: number): void {
    if (ms === this.timeoutMs) return;
    this.timeoutMs = ms;
    this.sock.setTimeout(ms);
  }
}

/** Idle keep-alive upstream connections by ip:port, last in first out (like the agent's 'lifo'). */
export class UpstreamPool {
  private readonly idle = new Map<string, UpstreamConn[]>();
  private closed = false;
  constructor(private readonly maxIdlePerUpstream = 512) {}

  /** An idle connection to `u`, or a new one (connecting). */
  acquire(u: Upstream): { conn: UpstreamConn; reused: boolean } {
    const key = `${u.ip}:${u.port}`;
    const list = this.idle.get(key);
    while (list && list.length) {
      const conn = list.pop()!;
      if (conn.sock.destroyed) continue;
      return { conn, reused: true };
    }
    return { conn: new UpstreamConn(net.connect({ host: u.ip, port: u.port }), key, this), reused: false };
  }

  /** Returns a connection whose exchange completed cleanly. */
  release(conn: UpstreamConn): void {
    conn.owner = undefined;
    let list = this.idle.get(conn.key);
    if (!list) this.idle.set(conn.key, (list = []));
    if (this.closed || list.length >= this.maxIdlePerUpstream) return void conn.sock.destroy();
    conn.setIdleTimeout(UPSTREAM_IDLE_MS);
    list.push(conn);
  }

  remove(conn: UpstreamConn): void {
    const list = this.idle.get(conn.key);
    if (!list) return;
    const i = list.indexOf(conn);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.idle.delete(conn.key);
  }

  destroy(): void {
    this.closed = true;
    for (const list of this.idle.values()) for (const c of list) c.sock.destroy();
    this.idle.clear();
  }
}

/** Where the relay of a response body stands. */
const enum Body { Head, Length, Chunked, UntilClose }
const enum Chunk { Size, Ext, SizeLf, Data, DataCr, DataLf, TrailerStart, TrailerLine, FinalLf }

/** The request in flight on a client connection. */
interface Exchange {
  up: UpstreamConn;
  upstream: Upstream;
  backend: Backend;
  /** The rewritten request head (latin1 text), kept for a retry. */
  head: string;
  /** Request body bytes still to forward. */
  bodyLeft: number;
  bodyless: boolean;
  reused: boolean;
  retried: boolean;
  isHead: boolean;
  clientClose: boolean;
  /** Any response byte seen. */
  responded: boolean;
  /** The final response head was written (or is about to be: pendingHead) to the client. */
  headSent: boolean;
  pendingHead?: Buffer;
  upKeepAlive: boolean;
  closeClient: boolean;
  body: Body;
  rbuf: Buffer;
  left: number;
  chunk: Chunk;
  chunkSize: number;
  sawDigit: boolean;
  done: boolean;
}

/**
 * One client connection on the fast path. Requests are served one at a time in order (pipelined
 * requests wait in `buf` with the socket paused until the response before them is complete).
 */
export class FastConnection {
  private buf: Buffer = Buffer.alloc(0);
  private ex?: Exchange;
  /** Request body bytes to skip (the request was answered here, or the upstream answered early). */
  private discard = 0;
  private closing = false;
  private handedOff = false;
  /** The client half-closed: answer what it sent, then close. */
  private clientEnded = false;
  private readonly clientIP: string;
  private readonly onData = (d: Buffer) => {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    this.pump();
  };
  private readonly onClose = () => this.clientGone();
  private readonly onError = () => this.socket.destroy();
  private readonly onEnd = () => {
    this.clientEnded = true;
    this.pump();
  };
  private readonly onDrain = () => {
    if (this.ex && !this.ex.done) this.ex.up.sock.resume();
  };
  private readonly onTimeout = () => {
    // Idle keep-alive connection (or a head that never completed): close it. A request in flight
    // is bounded by the upstream timeout instead.
    if (!this.ex) this.socket.destroy();
  };

  constructor(readonly socket: net.Socket, private readonly secure: boolean, private readonly ctx: FastContext) {
    const remote = socket.remoteAddress ?? '';
    this.clientIP = remote.startsWith('::ffff:') ? remote.slice(7) : remote;
    socket.setNoDelay(true);
    socket.setTimeout(CLIENT_IDLE_MS);
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    socket.on('end', this.onEnd);
    socket.on('drain', this.onDrain);
    socket.on('timeout', this.onTimeout);
    ctx.track(this);
  }

  /** Whether a request is in flight (close() lets those finish for a moment). */
  get busy(): boolean {
    return this.ex !== undefined;
  }

  private pump(): void {
    for (;;) {
      if (this.closing || this.handedOff) return;
      const ex = this.ex;
      if (ex) {
        if (ex.bodyLeft > 0 && this.buf.length > 0 && ex.up.connected) {
          const n = Math.min(ex.bodyLeft, this.buf.length);
          const part = n === this.buf.length ? this.buf : this.buf.subarray(0, n);
          this.buf = n === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(n);
          ex.bodyLeft -= n;
          if (!ex.up.sock.write(part)) this.socket.pause();
        }
        // Whatever is left is the next request (pipelined) or body waiting for the connection.
        if (this.buf.length > 0) this.socket.pause();
        return;
      }
      if (this.discard > 0) {
        const n = Math.min(this.discard, this.buf.length);
        this.discard -= n;
        this.buf = this.buf.subarray(n);
      }
      if (this.buf.length === 0) return this.endIfEnded();
      const head = parseRequestHead(this.buf);
      if (head === undefined) return this.endIfEnded();
      if (head === null) return this.handOff();
      this.buf = this.buf.subarray(head.headLength);
      this.start(head);
    }
  }

  /** Nothing more can come from a half-closed client: close our side too. */
  private endIfEnded(): void {
    if (!this.clientEnded || this.closing) return;
    this.closing = true;
    this.socket.end();
  }

  /** Gives the connection to node's http server, with the bytes not parsed yet. */
  private handOff(): void {
    this.handedOff = true;
    const s = this.socket;
    s.off('data', this.onData);
    s.off('close', this.onClose);
    s.off('error', this.onError);
    s.off('end', this.onEnd);
    s.off('drain', this.onDrain);
    s.off('timeout', this.onTimeout);
    s.setTimeout(0);
    this.ctx.untrack(this);
    const pending = this.buf;
    this.buf = Buffer.alloc(0);
    this.ctx.fallback(s, pending);
  }

  private start(h: RequestHead): void {
    const ctx = this.ctx;
    ctx.stats.requests++;
    const q = h.url.indexOf('?');
    const path = q >= 0 ? h.url.slice(0, q) : h.url;
    const match = matchRoute(ctx.table(), hostOf(h.hostHeader), path);
    if (match.kind === 'none') {
      ctx.stats.notFound++;
      return this.local(404, h.bodyLength, h.clientClose);
    }
    if (match.kind === 'route' && match.route.sslRedirect && !this.secure) {
      ctx.stats.redirects++;
      this.discard = h.bodyLength;
      this.write(`HTTP/1.1 308 Permanent Redirect\r\nLocation: https://${ctx.redirectAuthority(h.hostHeader)}${h.url}\r\nContent-Length: 0\r\nDate: ${httpDate()}\r\n${h.clientClose ? 'Connection: close\r\n' : ''}\r\n`, h.clientClose);
      return;
    }
    const backend = match.kind === 'route' ? match.route.backend : match.backend;
    const upstream = ctx.nextUpstream(backend);
    if (!upstream) {
      ctx.stats.unavailable++;
      return this.local(503, h.bodyLength, h.clientClose);
    }
    const proto = this.secure ? 'https' : 'http';
    const portMatch = /:(\d+)$/.exec(h.hostHeader);
    const text =
      `${h.method} ${h.url} HTTP/1.1\r\n${h.kept}` +
      `X-Forwarded-For: ${h.forwardedFor ? `${h.forwardedFor}, ${this.clientIP}` : this.clientIP}\r\n` +
      `X-Real-IP: ${this.clientIP}\r\nX-Forwarded-Host: ${h.hostHeader}\r\nX-Forwarded-Proto: ${proto}\r\nX-Scheme: ${proto}\r\n` +
      `X-Forwarded-Port: ${portMatch ? portMatch[1] : this.secure ? '443' : '80'}\r\n` +
      `X-Request-ID: ${h.requestId ?? ctx.newRequestId()}\r\nX-Original-URI: ${h.url}\r\n\r\n`;
    this.exchange(text, backend, upstream, h.bodyLength, h.method === 'HEAD', h.clientClose, false);
  }

  private exchange(head: string, backend: Backend, upstream: Upstream, bodyLength: number, isHead: boolean, clientClose: boolean, retried: boolean): void {
    const { conn, reused } = this.ctx.pool.acquire(upstream);
    conn.owner = this;
    conn.setIdleTimeout(this.ctx.timeoutMs);
    this.ex = {
      up: conn, upstream, backend, head, bodyLeft: bodyLength, bodyless: bodyLength === 0, reused, retried, isHead, clientClose,
      responded: false, headSent: false, upKeepAlive: true, closeClient: clientClose, body: Body.Head, rbuf: Buffer.alloc(0),
      left: 0, chunk: Chunk.Size, chunkSize: 0, sawDigit: false, done: false,
    };
    // A new connection gets the head once connected: a refused one can then be retried elsewhere.
    if (conn.connected) this.onUpConnect(conn);
  }

  onUpConnect(conn: UpstreamConn): void {
    const ex = this.ex;
    if (!ex || ex.up !== conn) return;
    if (ex.bodyLeft > 0 && this.buf.length > 0) {
      // Head and the body bytes at hand leave in one writev.
      conn.sock.cork();
      conn.sock.write(ex.head, 'latin1');
      this.pump();
      conn.sock.uncork();
    } else conn.sock.write(ex.head, 'latin1');
    this.socket.resume();
    this.pump();
  }

  onUpDrain(): void {
    if (this.ex && this.ex.bodyLeft > 0) this.socket.resume();
  }

  /** Upstream bytes: the response head, then its body relayed as it is framed. */
  onUpData(conn: UpstreamConn, d: Buffer): void {
    const ex = this.ex;
    if (!ex || ex.up !== conn || ex.done) return void conn.sock.destroy();
    ex.responded = true;
    this.upData(ex, d);
  }

  private upData(ex: Exchange, d: Buffer): void {
    let data = d;
    if (ex.body === Body.Head) {
      ex.rbuf = ex.rbuf.length ? Buffer.concat([ex.rbuf, d]) : d;
      for (;;) {
        const end = ex.rbuf.indexOf(CRLFCRLF);
        if (end < 0) {
          // Too long, or bare-LF line ends (which node's client would take; nginx too): 502 rather
          // than a wait for the timeout.
          if (ex.rbuf.length > MAX_RESPONSE_HEAD || ex.rbuf.indexOf('\n\n') >= 0) this.upstreamFailed(502);
          return;
        }
        const more = this.responseHead(ex, ex.rbuf.toString('latin1', 0, end));
        if (more === undefined) return; // failed
        data = ex.rbuf.subarray(end + 4);
        ex.rbuf = Buffer.alloc(0);
        if (more) {
          // An interim (1xx) response: the final one follows.
          ex.rbuf = data;
          if (data.length === 0) return;
          continue;
        }
        break;
      }
      if (ex.done) {
        if (data.length) ex.upKeepAlive = false; // bytes after a complete response: not reusable
        this.toClient(ex, undefined);
        return this.finish(ex);
      }
    }
    this.relay(ex, data);
  }

  /**
   * Handles one response head: writes it (rewritten) to the client and sets up the body framing.
   * Returns true for an interim response, false for the final one, undefined when the head is
   * unacceptable (answered 502).
   */
  private responseHead(ex: Exchange, text: string): boolean | undefined {
    const lines = text.split('\r\n');
    const m = STATUS_LINE.exec(lines[0]);
    const status = m ? Number(m[2]) : 0;
    if (!m || status < 100) return void this.upstreamFailed(502);
    const interim = status < 200;
    if (status === 101) return void this.upstreamFailed(502); // we never asked for an upgrade
    let connectionTokens: string[] | undefined;
    let length = -1;
    let chunked = false;
    let sawTransferEncoding = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(':');
      if (colon <= 0) return void this.upstreamFailed(502);
      const name = line.slice(0, colon).toLowerCase();
      if (name === 'connection') {
        connectionTokens = (connectionTokens ?? []).concat(line.slice(colon + 1).toLowerCase().split(',').map((t) => t.trim()));
      } else if (name === 'content-length') {
        const v = line.slice(colon + 1).trim();
        if (!DIGITS.test(v) || (length >= 0 && length !== Number(v))) return void this.upstreamFailed(502);
        length = Number(v);
      } else if (name === 'transfer-encoding') {
        sawTransferEncoding = true;
        chunked = /(?:^|,)\s*chunked\s*$/i.test(line.slice(colon + 1));
      }
    }
    if (interim) {
      this.socket.write(this.rewriteHead(lines, status, m[3] ?? '', connectionTokens, false, false));
      return true;
    }
    const keepAlive = m[1] === '1' ? !connectionTokens?.includes('close') : !!connectionTokens?.includes('keep-alive');
    ex.upKeepAlive = keepAlive;
    if (ex.isHead || status === 204 || status === 304) {
      ex.body = Body.Length;
      ex.left = 0;
    } else if (sawTransferEncoding) {
      ex.body = chunked ? Body.Chunked : Body.UntilClose;
    } else if (length >= 0) {
      ex.body = Body.Length;
      ex.left = length;
    } else {
      ex.body = Body.UntilClose;
    }
    if (ex.body === Body.UntilClose) {
      ex.upKeepAlive = false;
      ex.closeClient = true;
    }
    // Written with the first body bytes (one write, one syscall, for the usual small response).
    ex.pendingHead = this.rewriteHead(lines, status, m[3] ?? '', connectionTokens, ex.body === Body.Chunked, ex.closeClient);
    ex.headSent = true;
    if (ex.body === Body.Length && ex.left === 0) ex.done = true;
    return false;
  }

  private rewriteHead(lines: string[], status: number, reason: string, connectionTokens: string[] | undefined, chunked: boolean, close: boolean): Buffer {
    let out = `HTTP/1.1 ${status} ${reason}\r\n`;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const name = line.slice(0, line.indexOf(':')).toLowerCase();
      if (DROPPED_RESPONSE.has(name) || connectionTokens?.includes(name)) continue;
      if (name === 'transfer-encoding' || name === 'content-length') {
        // Chunked bytes are relayed as they are; a Content-Length beside them is void (RFC 9112 6.3).
        if (chunked ? name === 'content-length' : name === 'transfer-encoding') continue;
        if (chunked) {
          out += 'Transfer-Encoding: chunked\r\n';
          continue;
        }
      }
      out += line + '\r\n';
    }
    if (close) out += 'Connection: close\r\n';
    return Buffer.from(out + '\r\n', 'latin1');
  }

  /** Relays response body bytes, finishing the exchange at the end of the framed body. */
  private relay(ex: Exchange, data: Buffer): void {
    if (data.length === 0) return this.toClient(ex, undefined);
    let end = -1;
    if (ex.body === Body.Length) {
      if (data.length >= ex.left) end = ex.left;
      else ex.left -= data.length;
    } else if (ex.body === Body.Chunked) {
      end = this.scanChunked(ex, data);
      if (end === -2) return this.upstreamFailed(502);
    }
    this.toClient(ex, end >= 0 ? data.subarray(0, end) : data);
    if (end >= 0) {
      if (end < data.length) ex.upKeepAlive = false;
      ex.left = 0;
      ex.done = true;
      this.finish(ex);
    }
  }

  /** Writes response bytes (after the response head, when not written yet) to the client, with backpressure. */
  private toClient(ex: Exchange, body: Buffer | undefined): void {
    let out = body;
    if (ex.pendingHead) {
      out = out && out.length ? Buffer.concat([ex.pendingHead, out], ex.pendingHead.length + out.length) : ex.pendingHead;
      ex.pendingHead = undefined;
    }
    if (out && out.length && !this.socket.write(out)) ex.up.sock.pause();
  }

  /** Advances the chunked-body state over `d`: the end offset of the body, -1 not yet, -2 malformed. */
  private scanChunked(ex: Exchange, d: Buffer): number {
    let i = 0;
    const n = d.length;
    while (i < n) {
      switch (ex.chunk) {
        case Chunk.Size: {
          const b = d[i++];
          const v = b >= 48 && b <= 57 ? b - 48 : b >= 97 && b <= 102 ? b - 87 : b >= 65 && b <= 70 ? b - 55 : -1;
          if (v >= 0) {
            if (ex.chunkSize > 2 ** 40) return -2;
            ex.chunkSize = ex.chunkSize * 16 + v;
            ex.sawDigit = true;
          } else if (b === 59 /* ; */ || b === 32 || b === 9) ex.chunk = Chunk.Ext;
          else if (b === 13) ex.chunk = Chunk.SizeLf;
          else return -2;
          break;
        }
        case Chunk.Ext:
          if (d[i++] === 13) ex.chunk = Chunk.SizeLf;
          break;
        case Chunk.SizeLf:
          if (d[i++] !== 10 || !ex.sawDigit) return -2;
          ex.sawDigit = false;
          if (ex.chunkSize === 0) ex.chunk = Chunk.TrailerStart;
          else {
            ex.left = ex.chunkSize;
            ex.chunk = Chunk.Data;
          }
          ex.chunkSize = 0;
          break;
        case Chunk.Data: {
          const k = Math.min(ex.left, n - i);
          i += k;
          ex.left -= k;
          if (ex.left === 0) ex.chunk = Chunk.DataCr;
          break;
        }
        case Chunk.DataCr:
          if (d[i++] !== 13) return -2;
          ex.chunk = Chunk.DataLf;
          break;
        case Chunk.DataLf:
          if (d[i++] !== 10) return -2;
          ex.chunk = Chunk.Size;
          break;
        case Chunk.TrailerStart: {
          const b = d[i++];
          if (b === 13) ex.chunk = Chunk.FinalLf;
          else if (b === 10) return i;
          else ex.chunk = Chunk.TrailerLine;
          break;
        }
        case Chunk.TrailerLine:
          if (d[i++] === 10) ex.chunk = Chunk.TrailerStart;
          break;
        case Chunk.FinalLf:
          if (d[i++] !== 10) return -2;
          return i;
      }
    }
    return -1;
  }

  /** The response is complete: return the upstream connection, then serve the next request. */
  private finish(ex: Exchange): void {
    this.ex = undefined;
    const up = ex.up;
    if (ex.bodyLeft > 0) {
      // The upstream answered before taking the whole body: skip the rest, drop the connection.
      this.discard = ex.bodyLeft;
      ex.upKeepAlive = false;
    }
    up.sock.resume();
    if (ex.upKeepAlive && !up.sock.destroyed) this.ctx.pool.release(up);
    else {
      up.owner = undefined;
      up.sock.destroy();
    }
    if (ex.closeClient) {
      this.closing = true;
      this.socket.end();
      return;
    }
    this.socket.resume();
    this.pump();
  }

  /** The upstream connection ended, failed or closed while this client owned it. */
  onUpGone(conn: UpstreamConn, err: NodeJS.ErrnoException | undefined, ended: boolean): void {
    const ex = this.ex;
    if (!ex || ex.up !== conn) return;
    if (ex.done) return;
    if (ended && ex.body === Body.UntilClose && ex.headSent) {
      ex.done = true;
      return this.finish(ex);
    }
    conn.owner = undefined;
    conn.sock.destroy();
    if (this.socket.destroyed) return void (this.ex = undefined);
    // nginx proxy_next_upstream error: a connection that could not be made, or a reused one that
    // turned out closed before answering a request that can be sent again, is tried once more.
    const reusedDead = ex.reused && !ex.responded && ex.bodyless;
    if (!ex.retried && !ex.responded && (!conn.connected || reusedDead)) {
      this.ctx.stats.retries++;
      const next = this.ctx.nextUpstream(ex.backend, ex.upstream) ?? ex.upstream;
      this.ex = undefined;
      return this.exchange(ex.head, ex.backend, next, ex.bodyLeft, ex.isHead, ex.clientClose, true);
    }
    void err;
    this.upstreamFailed(502);
  }

  onUpTimeout(conn: UpstreamConn): void {
    const ex = this.ex;
    if (!ex || ex.up !== conn || ex.done) return void conn.sock.destroy();
    this.upstreamFailed(504);
  }

  /** The exchange failed: 502/504 when nothing was answered yet, else the client connection goes. */
  private upstreamFailed(code: 502 | 504): void {
    const ex = this.ex;
    if (!ex) return;
    ex.done = true;
    this.ex = undefined;
    ex.up.owner = undefined;
    ex.up.sock.destroy();
    if (ex.headSent || this.socket.destroyed) return void this.socket.destroy();
    if (code === 502) this.ctx.stats.badGateway++;
    else this.ctx.stats.gatewayTimeout++;
    this.local(code, ex.bodyLeft, ex.clientClose);
    this.pump();
  }

  /** Answers here; the request body (bodyLength bytes still unread) is skipped. */
  private local(code: 404 | 502 | 503 | 504, bodyLength: number, close: boolean): void {
    const [reason, body] = LOCAL_BODIES[code];
    this.discard = bodyLength;
    this.write(`HTTP/1.1 ${code} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nDate: ${httpDate()}\r\n${close ? 'Connection: close\r\n' : ''}\r\n${body}`, close);
  }

  private write(text: string, close: boolean): void {
    if (close) {
      this.closing = true;
      this.socket.end(text, 'latin1');
      return;
    }
    this.socket.write(text, 'latin1');
    this.socket.resume();
  }

  private clientGone(): void {
    this.closing = true;
    this.ctx.untrack(this);
    const ex = this.ex;
    this.ex = undefined;
    if (ex && !ex.done) {
      ex.up.owner = undefined;
      ex.up.sock.destroy();
    }
  }

  /** Ends the connection (proxy shutdown). */
  destroy(): void {
    this.socket.destroy();
  }
}
