import * as http from 'http';
import { Socket } from 'net';
import { RestRouter, RestRouterOptions } from './router';

export interface RunningRestServer {
  /** host:port actually served. */
  address: string;
  router: RestRouter;
  /** Stops accepting, ends open connections (watches included). */
  close(): Promise<void>;
}

/**
 * Serves the Kubernetes REST API over plain HTTP/1.1 on `listen` (host:port; port 0 picks one).
 * Resolves once listening; rejects when the address is taken. The caller owns close().
 */
export async function startRestServer(listen: string, opts: Omit<RestRouterOptions, 'serverAddress'>): Promise<RunningRestServer> {
  let address = listen;
  const router = new RestRouter({ ...opts, serverAddress: () => address });
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => void router.handle(req, res));
  server.on('upgrade', (req, socket, head) => void router.upgrade(req, socket, head));
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // Watches and exec sessions are long: no per-request timeout (Node's default is 5 minutes).
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon);
  const port = Number(listen.slice(colon + 1));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address();
  if (bound && typeof bound === 'object') address = `${host}:${bound.port}`;
  return {
    address,
    router,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
