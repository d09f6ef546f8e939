/**
 * The UDP data path: one bound socket per address this proxy holds. Each client address
 * (ip:port) gets a session: a connected upstream socket to the endpoint chosen for its first
 * datagram; replies come back from the listening socket, so the client sees the Service address
 * answer. Sessions idle for `idleMs` (both directions) are closed, as are sessions whose endpoint
 * answered with ICMP port unreachable (the next datagram picks again).
 */
import * as dgram from 'dgram';
import { Logger } from '../lib/log';
import { BindResult } from './ownership';
import { ProxyTarget, TrackedConnection } from './tcpproxy';

export const DEFAULT_UDP_IDLE_MS = 30000;
/** Datagrams kept per session while its upstream connects; more are dropped (UDP may drop). */
const MAX_PENDING = 64;

const dropOnError = () => undefined;

class UdpSession implements TrackedConnection {
  lastUsed: number;
  owner?: unknown;
  /** Datagrams received before the upstream socket connected. */
  pending: Buffer[] | undefined = [];
  private done = false;

  constructor(
    readonly endpointKey: string,
    readonly clientKey: string,
    readonly upstream: dgram.Socket,
    private readonly sessions: Map<string, UdpSession>,
    private readonly target: ProxyTarget,
  ) {
    this.lastUsed = Date.now();
  }

  get destroyed(): boolean {
    return this.done;
  }

  destroy(): void {
    if (this.done) return;
    this.done = true;
    if (this.sessions.get(this.clientKey) === this) this.sessions.delete(this.clientKey);
    try {
      this.upstream.close();
    } catch {
      // already closed
    }
    this.target.closed(this);
  }
}

/**
 * Binds a UDP socket on ip:port without address reuse (EADDRINUSE when another process holds it)
 * and proxies datagrams through `target`. Resolves with the handle (close() ends every session
 * and the socket) or the bind error code; never rejects.
 */
export function listenUdp(
  ip: string,
  port: number,
  target: ProxyTarget,
  onLost: (err: Error) => void,
  opts: { idleMs?: number; log?: Logger } = {},
): Promise<BindResult> {
  const idleMs = opts.idleMs ?? DEFAULT_UDP_IDLE_MS;
  return new Promise((resolve) => {
    const sessions = new Map<string, UdpSession>();
    const server = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    let bound = false;
    let closed = false;
    let sweeper: NodeJS.Timeout | undefined;

    const closeAll = () => {
      if (closed) return;
      closed = true;
      clearInterval(sweeper);
      for (const s of [...sessions.values()]) s.destroy();
      try {
        server.close();
      } catch {
        // already closed
      }
    };

    server.on('error', (err: NodeJS.ErrnoException) => {
      if (!bound) {
        closed = true;
        try {
          server.close();
        } catch {
          // never bound
        }
        resolve({ ok: false, code: err.code ?? 'EBIND', message: err.message });
        return;
      }
      if (closed) return;
      closeAll();
      onLost(err);
    });

    server.on('message', (msg, rinfo) => {
      const clientKey = `${rinfo.address}:${rinfo.port}`;
      let s = sessions.get(clientKey);
      if (!s) {
        target.accepted();
        const ep = target.pick(rinfo.address);
        if (!ep) return; // nothing eligible for this client: dropped, as an unreachable port would
        const up = dgram.createSocket('udp4');
        const session = new UdpSession(ep.key, clientKey, up, sessions, target);
        s = session;
        sessions.set(clientKey, session);
        up.on('error', () => session.destroy());
        up.on('message', (reply) => {
          session.lastUsed = Date.now();
          // With a callback a failed reply is dropped (as UDP may) instead of failing the listener.
          if (!closed) server.send(reply, rinfo.port, rinfo.address, dropOnError);
        });
        target.opened(session);
        try {
          up.connect(ep.port, ep.ip, () => {
            // Datagrams that arrived while connecting go out now (send needs a connected socket or an address).
            const queued = session.pending;
            session.pending = undefined;
            if (session.destroyed) return;
            try {
              for (const m of queued ?? []) session.upstream.send(m);
            } catch {
              session.destroy();
            }
          });
        } catch (err) {
          opts.log?.warn('udp upstream connect failed', { endpoint: ep.key, err: (err as Error).message });
          session.destroy();
          return;
        }
      }
      s.lastUsed = Date.now();
      if (s.pending) {
        if (s.pending.length < MAX_PENDING) s.pending.push(msg);
        return;
      }
      // Failures arrive as 'error' on the upstream socket (ICMP port unreachable: ECONNREFUSED).
      try {
        s.upstream.send(msg);
      } catch {
        s.destroy();
      }
    });

    try {
      server.bind({ address: ip, port, exclusive: true }, () => {
        bound = true;
        sweeper = setInterval(
          () => {
            const cutoff = Date.now() - idleMs;
            for (const s of [...sessions.values()]) if (s.lastUsed < cutoff) s.destroy();
          },
          Math.max(50, Math.min(Math.floor(idleMs / 3), 5000)),
        );
        sweeper.unref();
        resolve({ ok: true, handle: { close: closeAll } });
      });
    } catch (err) {
      closed = true;
      resolve({ ok: false, code: (err as NodeJS.ErrnoException).code ?? 'EINVAL', message: (err as Error).message });
    }
  });
}
