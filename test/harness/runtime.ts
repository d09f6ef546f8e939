/** A real container runtime process (dist/services/container-runtime/main.js) on a free port, as pm2 would run it. */
import { containerRuntimeSpec } from '../../services/lib/topology';
import { makeTempDir, removeTempDir } from './cleanup';
import { ProcessControls, startHealthyIn, withControls } from './process';
import { freePort } from './ports';

export interface Runtime extends ProcessControls {
  name: string;
  /** host:port of its gRPC server (RuntimeService, ImageService, health). */
  address: string;
  /** KUBEMU_RUNTIME_ROOT: state.json, pods/, logs/. */
  root: string;
  /** The pod range it allocates from (KUBEMU_POD_CIDR). */
  podCIDR: string;
  /** SIGTERM (it kills its containers; SIGKILL after 5 s) and deletion of its folder. */
  stop(): Promise<void>;
}

export interface StartRuntimeOptions {
  /** KUBEMU_NODE_INDEX (default 0). */
  nodeIndex?: number;
  /** Default: a random /24 inside 127.64.0.0–127.127.255.255, never a hand-started cluster's 127.(10+i).0.0/16. */
  podCIDR?: string;
  /** Extra environment. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** A random /24 in 127.64.0.0–127.127.255.255 (16,384 choices). */
function randomTestPodCIDR(): string {
  const n = Math.floor(Math.random() * 64 * 256);
  return `127.${64 + (n >> 8)}.${n & 255}.0/24`;
}

/**
 * Starts a container runtime in a fresh temporary folder and resolves once its health is SERVING.
 * Throws with its log (after killing it) otherwise. Needs the build (npm run build).
 */
export async function startRuntime(opts: StartRuntimeOptions = {}): Promise<Runtime> {
  const index = opts.nodeIndex ?? 0;
  const port = await freePort();
  const dir = makeTempDir('runtime');
  const podCIDR = opts.podCIDR ?? randomTestPodCIDR();
  const spec = containerRuntimeSpec({
    index,
    grpcPort: port,
    cluster: { profile: 'demo', stateDir: dir, etcdEndpoints: [], natsServers: [], apiservers: [], jetstreamReplicas: 1 },
  });
  spec.env = { ...spec.env, KUBEMU_POD_CIDR: podCIDR, ...(opts.env ?? {}) };
  const timeoutMs = opts.timeoutMs ?? 30000;
  const proc = await startHealthyIn('startRuntime', spec, dir, timeoutMs);
  return withControls(
    proc,
    {
      name: spec.name,
      address: spec.address,
      root: spec.env.KUBEMU_RUNTIME_ROOT,
      podCIDR,
      stop: async () => {
        await proc.stop(5000);
        removeTempDir(dir);
      },
    },
    timeoutMs,
  );
}
