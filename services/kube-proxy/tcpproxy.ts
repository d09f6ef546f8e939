/**
 * The TCP data path: one listening socket per address this proxy holds; every accepted
 * connection is spliced to one endpoint with stream pipes (no per-chunk work in our code, Nagle
 * off on both sides). The endpoint is chosen when the connection arrives; a connect failure before
 * anything was forwarded moves on to the next endpoint (each at most once), then the client is
 * reset.
 */
import * as net from 'net';
import { Logger } from '../lib/log';
import { BindResult } from './ownership';
import { Endpoint } from './servicemap';

/** A proxied connection or UDP session, tracked per endpoint so that it can be cut when the endpoint goes away. */
export interface TrackedConnection {
  readonly endpointKey: string;
  /** Whoever tracks the connection may note here where it did (the proxier: its service port). */
  owner?: unknown;
  /** Closes both sides; idempotent. */
  destroy(): void;
}

/** What a listener asks of the proxier for each connection; the answers follow endpoint changes. */
export interface ProxyTarget {
  /** The endpoint for a new connection from `clientIP`, skipping `exclude`; undefined = refuse. */
  pick(clientIP: string, exclude?: ReadonlySet<string>): Endpoint | undefined;
  /** A connection reached its endpoint (or a UDP session started). */
  opened(conn: TrackedConnection): void;
  /** That connection or session ended. Called once per opened(). */
  closed(conn: TrackedConnection): void;
  /** A connection was accepted (counted whether or not it reaches an endpoint). */
  accepted(): void;
}

/** Connects to an endpoint that does not answer fail over after this long. */
const CONNECT_TIMEOUT_MS = 5000;

const ignore = () => undefined;

class ProxiedConnection implements TrackedConnection {
  owner?: unknown;
  private done = false;
  constructor(
    readonly endpointKey: string,
    private readonly client: net.Socket,
    private readonly upstream: net.Socket,
    private readonly target: ProxyTarget,
  ) {}

  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
    this.finish();
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    this.target.closed(this);
  }
}

function proxyConnection(client: net.Socket, target: ProxyTarget): void {
  target.accepted();
  client.on('error', ignore); // errors end in 'close', handled below
  const clientIP = client.remoteAddress;
  if (!clientIP) {
    client.destroy();
    return;
  }
  client.setNoDelay(true);
  let tried: Set<string> | undefined;
  let upstream: net.Socket | undefined;
  let conn: ProxiedConnection | undefined;
  client.once('close', () => {
    upstream?.destroy();
    conn?.finish();
  });

  const connectNext = (): void => {
    if (client.destroyed) return;
    const ep = target.pick(clientIP, tried);
    if (!ep) {
      // No (more) endpoint: refuse the way a closed port would.
      client.resetAndDestroy();
      return;
    }
    const up = net.connect({ host: ep.ip, port: ep.port, allowHalfOpen: true, noDelay: true });
    upstream = up;
    up.setTimeout(CONNECT_TIMEOUT_MS);
    const fail = () => {
      up.destroy();
      if (upstream !== up) return;
      upstream = undefined;
      (tried ??= new Set()).add(ep.key);
      connectNext();
    };
    up.once('error', fail);
    up.once('timeout', fail);
    up.once('connect', () => {
      up.removeListener('error', fail);
      up.removeListener('timeout', fail);
      up.setTimeout(0);
      up.on('error', ignore);
      if (client.destroyed) {
        up.destroy();
        return;
      }
      up.setNoDelay(true);
      const c = new ProxiedConnection(ep.key, client, up, target);
      conn = c;
      target.opened(c);
      up.once('close', () => {
        client.destroy();
        c.finish();
      });
      client.pipe(up);
      up.pipe(client);
    });
  };
  connectNext();
}

/**
 * Binds a TCP listener on ip:port (exclusive: no port sharing; EADDRINUSE when another process
 * listens there) that proxies every connection through `target`. Resolves with the handle (whose
 * close() stops listening; proxied connections stay until their endpoint goes away or they end)
 * or the bind error code; never rejects. `onLost` is called if the listening socket fails later.
 */
export function listenTcp(ip: string, port: number, target: ProxyTarget, onLost: (err: Error) => void, log?: Logger): Promise<BindResult> {
  return new Promise((resolve) => {
    let server: net.Server;
    try {
      server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
        try {
          proxyConnection(client, target);
        } catch (err) {
          log?.error('proxying a connection failed', { address: `${ip}:${port}`, err: (err as Error).message });
          client.destroy();
        }
      });
    } catch (err) {
      resolve({ ok: false, code: 'EBIND', message: (err as Error).message });
      return;
    }
    const onBindError = (err: NodeJS.ErrnoException) => {
      server.close();
      resolve({ ok: false, code: err.code ?? 'EBIND', message: err.message });
    };
    server.once('error', onBindError);
    try {
      server.listen({ host: ip, port, exclusive: true, backlog: 1024 }, () => {
        server.removeListener('error', onBindError);
        let closed = false;
        server.on('error', (err) => {
          if (closed) return;
          closed = true;
          server.close();
          onLost(err);
        });
        resolve({
          ok: true,
          handle: {
            close: () => {
              closed = true;
              server.close();
            },
          },
        });
      });
    } catch (err) {
      // listen() throws synchronously for invalid arguments (a port out of range).
      server.removeListener('error', onBindError);
      resolve({ ok: false, code: (err as NodeJS.ErrnoException).code ?? 'EINVAL', message: (err as Error).message });
    }
  });
}
