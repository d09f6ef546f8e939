/** A real cluster-dns process (dist/services/cluster-dns/main.js) on free ports, as pm2 would run it. */
import { componentEnv, nodeServiceSpec } from '../../services/lib/topology';
import { makeTempDir, removeTempDir } from './cleanup';
import { ExitStatus, ProcessControls, startHealthyIn, withControls } from './process';
import { freePort } from './ports';

const HOST = '127.0.0.1';

export interface ClusterDns extends ProcessControls {
  name: string;
  /** host:port it serves DNS on, UDP and TCP (KUBEMU_DNS_LISTEN). */
  address: string;
  host: string;
  port: number;
  /** host:port of its grpc.health.v1 (KUBEMU_DNS_HEALTH_LISTEN). */
  healthAddress: string;
  /**
   * SIGTERM (SIGKILL after `timeoutMs`, default 10 s), then deletion of its folder; logs() keeps
   * answering from what it wrote. Resolves with how it exited, undefined when it was not running.
   * Safe to call again.
   */
  stop(timeoutMs?: number): Promise<ExitStatus | undefined>;
}

export interface StartClusterDnsOptions {
  apiservers: string[];
  natsUrls: string[];
  /**
   * KUBEMU_CLUSTER_DNS: the kube-dns Service ClusterIP it publishes itself under (the addon).
   * Default: unset, so it answers queries without publishing anything.
   */
  clusterDNS?: string;
  /** KUBEMU_COMPONENT_ID (default cluster-dns-0; it names the Endpoints address's hostname). */
  name?: string;
  /** Extra environment; KUBEMU_DNS_UPSTREAMS defaults to "none" (no forwarding off the machine). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * Starts cluster-dns in a fresh temporary folder and resolves once its health is SERVING (caches
 * synced, DNS listening). Throws with its log (after killing it) otherwise. Its process group is
 * registered with the harness's cleanup, so it never outlives the test run even without stop().
 * Needs the build (npm run build).
 */
export async function startClusterDns(opts: StartClusterDnsOptions): Promise<ClusterDns> {
  const name = opts.name ?? 'cluster-dns-0';
  const [port, healthPort] = [await freePort(), await freePort()];
  const dir = makeTempDir('cluster-dns');
  const healthAddress = `${HOST}:${healthPort}`;
  const address = `${HOST}:${port}`;
  const spec = nodeServiceSpec({
    name,
    component: 'cluster-dns',
    index: 0,
    tier: 4,
    main: 'services/cluster-dns/main.ts',
    ports: { health: healthPort, dns: port },
    address: healthAddress,
    env: {
      ...componentEnv(name, { profile: 'demo', stateDir: dir, etcdEndpoints: [], natsServers: opts.natsUrls, apiservers: opts.apiservers, jetstreamReplicas: 1 }),
      KUBEMU_DNS_LISTEN: address,
      KUBEMU_DNS_HEALTH_LISTEN: healthAddress,
      KUBEMU_DNS_UPSTREAMS: 'none',
      ...(opts.clusterDNS ? { KUBEMU_CLUSTER_DNS: opts.clusterDNS } : {}),
      ...(opts.env ?? {}),
    },
    health: { kind: 'grpc', address: healthAddress },
  });
  const timeoutMs = opts.timeoutMs ?? 30000;
  const proc = await startHealthyIn('startClusterDns', spec, dir, timeoutMs);
  // Its output, read just before the folder goes, so that a test can check the log of a stopped process.
  let finalLog: string | undefined;
  const dns = withControls(
    proc,
    {
      name,
      address,
      host: HOST,
      port,
      healthAddress,
      stop: async (stopTimeoutMs = 10000) => {
        const status = await proc.stop(stopTimeoutMs);
        finalLog ??= proc.logs(Number.MAX_SAFE_INTEGER);
        removeTempDir(dir);
        return status;
      },
      logs: (lines = 200) => (finalLog === undefined ? proc.logs(lines) : finalLog.split('\n').slice(-lines).join('\n')),
    },
    timeoutMs,
  );
  return dns;
}
