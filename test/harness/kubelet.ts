/** A real kubelet process (dist/services/kubelet/main.js) for one node, on a free port, as pm2 would run it. */
import { kubeletSpec } from '../../services/lib/topology';
import { DEFAULT_NODE_RESOURCES, NodeResources } from '../../services/lib/config';
import { makeTempDir, removeTempDir } from './cleanup';
import { ProcessControls, startHealthyIn, withControls } from './process';
import { freePort } from './ports';

export interface Kubelet extends ProcessControls {
  name: string;
  nodeName: string;
  /** host:port of KubeletService (and grpc.health.v1). */
  address: string;
  /** SIGTERM and deletion of its folder (its containers belong to the runtime and keep running). */
  stop(): Promise<void>;
}

export interface StartKubeletOptions {
  apiservers: string[];
  natsUrls: string[];
  /** The node's container runtime: its address and pod range. */
  runtime: { address: string; podCIDR: string };
  /** KUBEMU_NODE_INDEX (default 0); the node is named node-<index+1> unless nodeName says otherwise. */
  nodeIndex?: number;
  nodeName?: string;
  resources?: Partial<NodeResources>;
  profile?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * Starts a kubelet in a fresh temporary folder and resolves once its health is SERVING (its Node
 * registered, its informers synced). Throws with its log (after killing it) otherwise.
 */
export async function startKubelet(opts: StartKubeletOptions): Promise<Kubelet> {
  const index = opts.nodeIndex ?? 0;
  const port = await freePort();
  const dir = makeTempDir('kubelet');
  const spec = kubeletSpec({
    index,
    grpcPort: port,
    runtimeEndpoint: opts.runtime.address,
    resources: { ...DEFAULT_NODE_RESOURCES, ...(opts.resources ?? {}) },
    cluster: {
      profile: opts.profile ?? 'demo',
      stateDir: dir,
      etcdEndpoints: [],
      natsServers: opts.natsUrls,
      apiservers: opts.apiservers,
      jetstreamReplicas: 1,
    },
  });
  spec.env = { ...spec.env, KUBEMU_POD_CIDR: opts.runtime.podCIDR, ...(opts.nodeName ? { KUBEMU_NODE_NAME: opts.nodeName } : {}), ...(opts.env ?? {}) };
  const timeoutMs = opts.timeoutMs ?? 30000;
  const proc = await startHealthyIn('startKubelet', spec, dir, timeoutMs);
  return withControls(
    proc,
    {
      name: spec.name,
      nodeName: spec.env.KUBEMU_NODE_NAME,
      address: spec.address,
      stop: async () => {
        await proc.stop(5000);
        removeTempDir(dir);
      },
    },
    timeoutMs,
  );
}
