/** The simulated kubelet as a process: its settings from the environment, and a runner main.ts calls. */
import { ApiClient } from '../../lib/apiclient';
import { configFromEnv } from '../../lib/config';
import { stopOnSignals } from '../../lib/component';
import { logger } from '../../lib/log';
import { nodeResources } from '../../lib/topology';
import { connectBus } from '../../lib/watchbus';
import { DEFAULT_POD_START_DELAY_MS, DEFAULT_SIMULATED_NODE_PREFIX, SimulatedKubelet, startSimulatedKubelet } from './kubelet';
import { MAX_SIMULATED_NODES } from './addresses';

export interface SimulatedKubeletSettings {
  count: number;
  prefix: string;
  podStartDelayMs: number;
}

function nonNegativeInteger(env: NodeJS.ProcessEnv, name: string, def: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`kubemu: ${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * Reads KUBEMU_SIMULATED_NODES (how many nodes; unset or 0 = not a simulated kubelet),
 * KUBEMU_SIMULATED_NODE_PREFIX (default sim-node-, nodes are <prefix>1..<prefix>N) and
 * KUBEMU_SIMULATED_POD_START_DELAY_MS (default 200). Returns undefined when no simulated nodes are
 * asked for; throws a readable Error on malformed values. Pure.
 */
export function simulatedKubeletFromEnv(env: NodeJS.ProcessEnv = process.env): SimulatedKubeletSettings | undefined {
  const count = nonNegativeInteger(env, 'KUBEMU_SIMULATED_NODES', 0);
  if (count === 0) return undefined;
  if (count > MAX_SIMULATED_NODES) throw new Error(`kubemu: KUBEMU_SIMULATED_NODES may be at most ${MAX_SIMULATED_NODES}, got ${count}`);
  return {
    count,
    prefix: env.KUBEMU_SIMULATED_NODE_PREFIX || DEFAULT_SIMULATED_NODE_PREFIX,
    podStartDelayMs: nonNegativeInteger(env, 'KUBEMU_SIMULATED_POD_START_DELAY_MS', DEFAULT_POD_START_DELAY_MS),
  };
}

/**
 * Runs a simulated kubelet process: the component config from the environment (apiservers, NATS,
 * profile timings and node resources, see services/lib/config.ts), the nodes `settings` asks for,
 * and shutdown on SIGTERM/SIGINT. Resolves once every node is registered; rejects when the NATS
 * connection or the informers cannot start. Call once per process.
 */
export async function runSimulatedKubelet(settings: SimulatedKubeletSettings, env: NodeJS.ProcessEnv = process.env): Promise<SimulatedKubelet> {
  const config = configFromEnv(env, 'kubelet-simulated');
  const log = logger('kubelet', { id: config.componentId, simulated: true });
  const client = new ApiClient(config.apiservers);
  const nats = await connectBus(config.natsServers, config.componentId);
  const kubelet = await startSimulatedKubelet({
    client,
    nats,
    nodes: { count: settings.count, prefix: settings.prefix },
    resources: nodeResources(config.profile, `${settings.prefix}1`),
    podStartDelayMs: settings.podStartDelayMs,
    timings: config.profile.timings,
    log,
  });
  log.info('simulated kubelet running', { nodes: settings.count, prefix: settings.prefix, podStartDelayMs: settings.podStartDelayMs, profile: config.profile.name });
  stopOnSignals(log, async () => {
    await kubelet.stop();
    await nats.close();
    client.close();
  });
  return kubelet;
}
