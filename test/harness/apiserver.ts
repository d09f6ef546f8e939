/** A real kube-apiserver process (dist/services/kube-apiserver/main.js) on a free port, as pm2 would run it. */
import { apiserverSpec } from '../../services/lib/topology';
import { makeTempDir, removeTempDir } from './cleanup';
import { ProcessControls, startHealthyIn, withControls } from './process';
import { freePort } from './ports';

export interface Apiserver extends ProcessControls {
  name: string;
  /** host:port of its gRPC server. */
  address: string;
  /** Same as waitHealthy: resolves once its grpc.health.v1 status is SERVING. */
  waitServing(timeoutMs?: number): Promise<void>;
  /** Graceful stop (SIGTERM) and deletion of its folder. */
  stop(): Promise<void>;
}

export interface StartApiserverOptions {
  etcd: { endpoints: string[] };
  nats: { urls: string[] };
  /**
   * Its identity (KUBEMU_COMPONENT_ID, the leader-election holder): a name such as
   * 'kube-apiserver-0', or an instance number n for 'kube-apiserver-<n>'. Default 0.
   */
  id?: string | number;
  /** Defaults to 3 with three or more NATS servers, else 1. */
  jetstreamReplicas?: number;
  /** Other apiservers' addresses, added to KUBEMU_APISERVERS. */
  peers?: string[];
  /** A port to listen on (default: a free one). */
  port?: number;
  profile?: string;
  /** Extra environment, e.g. for test-only knobs. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * Starts kube-apiserver-<id> with the component environment contract and resolves once its
 * grpc.health.v1 status is SERVING. Throws with its log (after killing it) otherwise. Needs
 * the build (npm test runs scripts/setup.sh first).
 */
export async function startApiserver(opts: StartApiserverOptions): Promise<Apiserver> {
  const id = opts.id ?? 0;
  const name = typeof id === 'number' ? `kube-apiserver-${id}` : id;
  const index = typeof id === 'number' ? id : Number(/(\d+)$/.exec(id)?.[1] ?? 0);
  const port = opts.port ?? (await freePort());
  const dir = makeTempDir('apiserver');
  const address = `127.0.0.1:${port}`;
  const spec = apiserverSpec({
    name,
    index,
    grpcPort: port,
    cluster: {
      profile: opts.profile ?? 'demo',
      stateDir: dir,
      etcdEndpoints: opts.etcd.endpoints,
      natsServers: opts.nats.urls,
      apiservers: [address, ...(opts.peers ?? [])],
      jetstreamReplicas: opts.jetstreamReplicas ?? (opts.nats.urls.length >= 3 ? 3 : 1),
    },
  });
  spec.env = { ...spec.env, ...(opts.env ?? {}) };
  const timeoutMs = opts.timeoutMs ?? 30000;
  const proc = await startHealthyIn('startApiserver', spec, dir, timeoutMs);
  return withControls(
    proc,
    {
      name,
      address,
      waitServing: (t?: number) => proc.waitHealthy(t ?? timeoutMs),
      stop: async () => {
        await proc.stop();
        removeTempDir(dir);
      },
    },
    timeoutMs,
  );
}
