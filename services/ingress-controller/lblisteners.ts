/**
 * The controller as the load balancer of its own Service: with the Service's ingress IPs marked
 * ipMode "Proxy" (KEP-1860) no kube-proxy serves them, and the controller listens on
 * `<LB IP>:<Service port>` itself, handing each connection to the same handling as its configured
 * listeners (fast path, TLS). That removes the kube-proxy hop from the LoadBalancer path.
 *
 * A bind can fail for a while: EADDRINUSE while a kube-proxy still holds the address (it closes
 * it once it sees ipMode Proxy), EACCES for ports below 1024 when not root, EADDRNOTAVAIL. Every
 * failure is retried every `retryMs` while the address is wanted and logged once per error code,
 * never thrown.
 */
import * as net from 'net';
import { Logger } from '../lib/log';
import { LoadBalancerAddress } from './status';

export interface LoadBalancerListenerOptions {
  /** Takes an accepted connection (secure: it arrived on an HTTPS port). Must not throw. */
  accept(socket: net.Socket, secure: boolean): void;
  /** Retry interval after a failed bind (default 200 ms). */
  retryMs?: number;
  log: Logger;
}

type State = 'binding' | 'bound' | 'waiting';

interface Listener {
  address: LoadBalancerAddress;
  state: State;
  server?: net.Server;
  timer?: NodeJS.Timeout;
  /** The error code last logged, so that a retry loop logs once. */
  lastError?: string;
  /** Set when the address is no longer wanted: a bind in flight closes what it gets. */
  dropped: boolean;
}

function keyOf(a: LoadBalancerAddress): string {
  return `${a.ip}:${a.port}/${a.secure ? 'https' : 'http'}`;
}

/**
 * The listening sockets on load-balancer addresses. `setAddresses` is level-triggered: it binds
 * what is new, closes what is gone (an address whose port changed scheme is rebound). Accepted
 * connections outlive the listener that took them (they end with their keep-alive timeout or with
 * the proxy's close). Single-threaded; `close` stops everything and may be called once.
 */
export class LoadBalancerListeners {
  private readonly listeners = new Map<string, Listener>();
  private readonly retryMs: number;
  private closed = false;

  constructor(private readonly opts: LoadBalancerListenerOptions) {
    this.retryMs = opts.retryMs ?? 200;
  }

  /** "ip:port" of the addresses bound now (for logs and tests). */
  get bound(): string[] {
    return [...this.listeners.values()].filter((l) => l.state === 'bound').map((l) => `${l.address.ip}:${l.address.port}`).sort();
  }

  /** Makes `addresses` the wanted set. Never throws; binds happen in the background. */
  setAddresses(addresses: readonly LoadBalancerAddress[]): void {
    if (this.closed) return;
    const wanted = new Map(addresses.map((a) => [keyOf(a), a]));
    for (const [key, l] of [...this.listeners]) {
      if (wanted.has(key)) continue;
      void this.drop(l);
      this.listeners.delete(key);
      this.opts.log.info('stopped listening on load balancer address', { address: `${l.address.ip}:${l.address.port}` });
    }
    for (const [key, address] of wanted) {
      if (this.listeners.has(key)) continue;
      const l: Listener = { address, state: 'waiting', dropped: false };
      this.listeners.set(key, l);
      this.bind(l);
    }
  }

  /** Closes every listening socket and stops retrying. */
  async close(): Promise<void> {
    this.closed = true;
    const closing = [...this.listeners.values()].map((l) => this.drop(l));
    this.listeners.clear();
    await Promise.all(closing);
  }

  /** Stops retrying and stops accepting; resolves when the socket is closed. Connections already handed on stay with the proxy. */
  private drop(l: Listener): Promise<void> {
    l.dropped = true;
    clearTimeout(l.timer);
    const server = l.server;
    l.server = undefined;
    if (!server?.listening) return Promise.resolve();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private bind(l: Listener): void {
    if (l.dropped) return;
    l.state = 'binding';
    const { ip, port, secure } = l.address;
    // noDelay and keepAlive as node's http server sets them on the sockets it accepts.
    const server = net.createServer({ noDelay: true, keepAlive: true }, (socket) => this.opts.accept(socket, secure));
    l.server = server;
    const failed = (err: NodeJS.ErrnoException) => {
      if (l.server === server) l.server = undefined;
      server.close();
      if (l.dropped) return;
      l.state = 'waiting';
      const code = err.code ?? 'ERROR';
      if (code !== l.lastError) {
        l.lastError = code;
        const why = code === 'EADDRINUSE' ? 'held by another process (a kube-proxy not yet past ipMode Proxy?)' : code === 'EACCES' ? 'privileged port: needs root' : err.message;
        this.opts.log.warn('could not listen on load balancer address, retrying', { address: `${ip}:${port}`, code, why, retryMs: this.retryMs });
      }
      l.timer = setTimeout(() => this.bind(l), this.retryMs);
      l.timer.unref();
    };
    server.once('error', failed);
    server.listen({ host: ip, port, exclusive: true }, () => {
      server.off('error', failed);
      if (l.dropped) {
        server.close();
        return;
      }
      l.state = 'bound';
      l.lastError = undefined;
      this.opts.log.info('listening on load balancer address', { address: `${ip}:${port}`, scheme: secure ? 'https' : 'http' });
      // A listening socket failing later (rare) is rebound like a failed bind.
      server.once('error', failed);
    });
  }
}
