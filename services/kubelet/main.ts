import * as grpc from '@grpc/grpc-js';
import { ApiClient } from '../lib/apiclient';
import { configFromEnv, DEFAULT_NODE_RESOURCES, durationMsFromEnv, NodeResources } from '../lib/config';
import { HealthImplementation, ServingStatus } from '../lib/health';
import { stopOnSignals } from '../lib/component';
import { logger } from '../lib/log';
import { connectBus } from '../lib/watchbus';
import { nodeIP as nodeIPForIndex, podCIDRForNode } from '../container-runtime/network/ipam';
import { Kubelet } from './kubelet';
import { NodeStatusManager } from './node';
import { createProbes } from './probes';
import { RuntimeClient } from './runtime';
import { addKubeletService } from './server';
import { clusterDnsFromEnv } from './dns';
import { runSimulatedKubelet, simulatedKubeletFromEnv } from './simulated/env';

/**
 * kubelet: reads its config from the environment (services/lib/config.ts, plus KUBEMU_NODE_NAME,
 * KUBEMU_NODE_INDEX, KUBEMU_NODE_IP, KUBEMU_POD_CIDR, KUBEMU_NODE_CPU / _MEMORY / _PODS,
 * KUBEMU_RUNTIME_ENDPOINT, KUBEMU_KUBELET_LISTEN; pods' DNS: KUBEMU_CLUSTER_DNS (comma-separated
 * IPs, default none), KUBEMU_CLUSTER_DOMAIN (default cluster.local), KUBEMU_KUBELET_RESOLV_CONF (the
 * node's resolv.conf, default /etc/resolv.conf, empty for none); KUBEMU_KUBELET_SYNC_FREQUENCY_MS
 * (every pod synced at least this often, default 10 s: Kubernetes' --sync-frequency) and
 * KUBEMU_KUBELET_HOUSEKEEPING_MS (the runtime checked, default 2 s)), registers its Node, runs this node's pods
 * through the container runtime, and serves KubeletService + grpc.health.v1 (SERVING once its
 * informers synced and its Node is registered).
 *
 * With KUBEMU_SIMULATED_NODES=<n> it is a simulated kubelet instead: n nodes whose pods are
 * reported Running without processes (services/kubelet/simulated), for scale tests.
 */
async function main(): Promise<void> {
  const env = process.env;
  const simulated = simulatedKubeletFromEnv(env);
  if (simulated) {
    await runSimulatedKubelet(simulated, env);
    return;
  }
  const config = configFromEnv(env, 'kubelet');
  const index = Number(env.KUBEMU_NODE_INDEX || '0');
  const nodeName = env.KUBEMU_NODE_NAME || `node-${index + 1}`;
  const log = logger('kubelet', { id: config.componentId, node: nodeName });
  const nodeIP = env.KUBEMU_NODE_IP || nodeIPForIndex(index);
  const podCIDR = env.KUBEMU_POD_CIDR || podCIDRForNode(index);
  const resources: NodeResources = {
    cpu: env.KUBEMU_NODE_CPU || DEFAULT_NODE_RESOURCES.cpu,
    memory: env.KUBEMU_NODE_MEMORY || DEFAULT_NODE_RESOURCES.memory,
    pods: Number(env.KUBEMU_NODE_PODS || DEFAULT_NODE_RESOURCES.pods),
  };

  const health = new HealthImplementation();
  const server = new grpc.Server();
  health.addTo(server);
  const listen = env.KUBEMU_KUBELET_LISTEN || '127.0.0.1:0';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );

  const client = new ApiClient(config.apiservers);
  const nats = await connectBus(config.natsServers, config.componentId);
  // Read before anything starts: a malformed KUBEMU_CLUSTER_DNS fails the start.
  const clusterDns = clusterDnsFromEnv(env);
  const runtime = new RuntimeClient(env.KUBEMU_RUNTIME_ENDPOINT || '127.0.0.1:20600');
  const kubelet = new Kubelet({
    client,
    nats,
    runtime,
    nodeName,
    nodeIP,
    timings: config.profile.timings,
    log,
    nodeAllocatable: { cpu: resources.cpu, memory: resources.memory, pods: String(resources.pods) },
    probes: (deps) => createProbes(deps, log),
    dns: { ...clusterDns, hostResolvConf: env.KUBEMU_KUBELET_RESOLV_CONF ?? '/etc/resolv.conf' },
    resyncMs: durationMsFromEnv(env, 'KUBEMU_KUBELET_SYNC_FREQUENCY_MS'),
    housekeepingMs: durationMsFromEnv(env, 'KUBEMU_KUBELET_HOUSEKEEPING_MS'),
  });
  const images = await runtime.listImages().catch(() => []);
  const version = await runtime.version().catch(() => ({ runtime_name: 'kubemu', runtime_version: '0.1.0' }));
  const node = new NodeStatusManager({
    client,
    nodeName,
    nodeIP,
    podCIDR,
    resources,
    kubeletPort: port,
    images,
    runtimeVersion: `${version.runtime_name || 'kubemu'}://${version.runtime_version || '0.1.0'}`,
    timings: config.profile.timings,
    health: () =>
      kubelet.runtimeHealthy
        ? { ready: true }
        : { ready: false, reason: 'KubeletNotReady', message: `container runtime is down: ${kubelet.runtimeMessage || 'runtime does not answer'}` },
    log,
  });
  kubelet.onRuntimeHealth = () => void node.poke();
  addKubeletService(server, {
    nodeName,
    runtime,
    pod: (ns, name) => kubelet.pod(ns, name),
    pods: () => kubelet.pods.list(),
    startedAt: Date.now(),
    log,
  });

  await node.start();
  await kubelet.start();
  health.set('', ServingStatus.SERVING);
  log.info('kubelet running', { nodeIP, podCIDR, api: `${listen.replace(/:\d+$/, '')}:${port}`, runtime: runtime.endpoint });

  stopOnSignals(log, async () => {
    health.set('', ServingStatus.NOT_SERVING);
    await kubelet.stop();
    await node.stop();
    runtime.close();
    await nats.close();
    client.close();
    health.dispose();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });
}

main().catch((err) => {
  logger('kubelet').error('failed to start', { err: err instanceof Error ? err.stack : String(err) });
  process.exit(1);
});
