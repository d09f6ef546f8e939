/** Loopback port helpers for the cluster commands and the test harness. */
import * as net from 'net';

/** Whether nothing listens on host:port now (by binding it briefly). Never throws. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The ports among `ports` that are taken. */
export async function takenPorts(ports: number[], host = '127.0.0.1'): Promise<number[]> {
  const free = await Promise.all(ports.map((p) => isPortFree(p, host)));
  return ports.filter((_, i) => !free[i]);
}
