/** Free loopback ports for test processes. */
import { buildTopology, allPorts } from '../../services/lib/topology';
import { isPortFree } from '../../scripts/lib/ports';

// Below Linux's ephemeral range (32768+), so that no outgoing connection takes a port between
// our check and the server's bind, and above kubemu's default port block (20000-20499).
const LOW = 21000;
const HIGH = 32000;
const handedOut = new Set<number>();

function randomPort(): number {
  return LOW + Math.floor(Math.random() * (HIGH - LOW));
}

/** A loopback TCP port that is free now and was not handed out before in this process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = randomPort();
    if (handedOut.has(port)) continue;
    if (await isPortFree(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: no free port found');
}

/**
 * A KUBEMU_PORT_BASE for which every port of the profile's topology is free now (for running a
 * whole cluster with scripts/cluster.ts in a test).
 */
export async function freePortBase(profile = 'demo'): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = LOW + 500 * Math.floor(Math.random() * ((HIGH - LOW - 1000) / 500));
    const ports = allPorts(buildTopology({ stateDir: '/nonexistent', portBase: base, profile }));
    if (ports.some((p) => handedOut.has(p))) continue;
    const free = await Promise.all(ports.map((p) => isPortFree(p)));
    if (free.every(Boolean)) {
      for (const p of ports) handedOut.add(p);
      return base;
    }
  }
  throw new Error('freePortBase: no free port block found');
}
