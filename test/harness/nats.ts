/** A real nats-server (or cluster of 3) with JetStream on file storage, on free ports in a temporary folder. */
import * as path from 'path';
import { NatsServerPorts, natsServerSpec } from '../../services/lib/topology';
import { makeTempDir, removeTempDir } from './cleanup';
import { ManagedProcess, ProcessControls, waitAllHealthy, withControls } from './process';
import { freePort } from './ports';

/** Controls for one nats-server. */
export interface NatsServer extends ProcessControls {
  name: string;
  url: string;
  monitorUrl: string;
}

export interface NatsCluster {
  /** Client URLs of every server, for `connect({ servers })` or KUBEMU_NATS_SERVERS. */
  urls: string[];
  servers: NatsServer[];
  /** JetStream replicas a stream can have here: 3 with three servers, else 1. */
  jetstreamReplicas: number;
  dir: string;
  /** Starts every server that is not running and waits until all are healthy. */
  start(): Promise<void>;
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every server and deletes the folder. */
  stop(): Promise<void>;
}

/**
 * Starts `servers` (1 or 3) nats-servers with JetStream; with 3, a cluster, and resolves only
 * once its JetStream meta group has a leader. Throws with the logs (after cleaning up) when not
 * healthy within `timeoutMs`.
 */
export async function startNats(opts: { servers?: number; timeoutMs?: number } = {}): Promise<NatsCluster> {
  const count = opts.servers ?? 1;
  const dir = makeTempDir('nats');
  const ports: NatsServerPorts[] = [];
  for (let i = 0; i < count; i++) {
    ports.push({ name: `nats-${i}`, clientPort: await freePort(), routePort: await freePort(), monitorPort: await freePort() });
  }
  const procs = ports.map(
    (server, index) =>
      new ManagedProcess(
        natsServerSpec({
          server,
          index,
          servers: ports,
          storeDir: path.join(dir, server.name),
          configFile: path.join(dir, `${server.name}.conf`),
        }),
        path.join(dir, `${server.name}.log`),
      ),
  );
  const servers: NatsServer[] = procs.map((p) =>
    withControls(p, { name: p.name, url: p.spec.address, monitorUrl: `http://127.0.0.1:${p.spec.ports.monitor}` }),
  );

  try {
    await Promise.all(procs.map((p) => p.start()));
    await waitAllHealthy(procs, opts.timeoutMs ?? 30000);
  } catch (err) {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    removeTempDir(dir);
    throw err;
  }

  return {
    urls: procs.map((p) => p.spec.address),
    servers,
    jetstreamReplicas: count >= 3 ? 3 : 1,
    dir,
    start: async () => {
      await Promise.all(procs.filter((p) => !p.running).map((p) => p.start()));
      await waitAllHealthy(procs, 30000);
    },
    waitHealthy: (timeoutMs = 30000) => waitAllHealthy(procs, timeoutMs),
    stop: async () => {
      await Promise.all(procs.map((p) => p.stop()));
      removeTempDir(dir);
    },
  };
}
