/**
 * The environment controller tests run in: a real etcd, nats-server and apiserver (processes),
 * and in this process a kube-scheduler, simulated nodes whose pods turn Running and Ready (the
 * kubelet's simulated mode, as KWOK), and a controller-manager running the controllers under
 * test without leader election. Pods therefore really go through scheduling and status updates,
 * at the speed of the API, without starting processes.
 */
import { NatsConnection } from 'nats';
import { ApiClient } from '../../services/lib/apiclient';
import { loadProfile } from '../../services/lib/config';
import { logger } from '../../services/lib/log';
import { connectBus } from '../../services/lib/watchbus';
import { Scheduler } from '../../services/kube-scheduler/scheduler';
import { SimulatedKubelet, startSimulatedKubelet } from '../../services/kubelet/simulated/kubelet';
import { ControllerDescriptor } from '../../services/kube-controller-manager/context';
import { ControllerManager } from '../../services/kube-controller-manager/manager';
import { makeTempDir, removeTempDir } from '../harness';
import { startTestApiServer, TestApiServer } from '../contract/env';

export interface WorkloadEnv {
  api: TestApiServer;
  client: ApiClient;
  nats: NatsConnection;
  /** The simulated nodes (sim-node-1..n). */
  kubelet: SimulatedKubelet;
  manager: ControllerManager;
  stop(): Promise<void>;
}

export interface WorkloadEnvOptions {
  controllers: ControllerDescriptor[];
  /** Simulated nodes (default 3). */
  nodes?: number;
  /** How long a simulated pod takes to turn Running (default 100 ms). */
  podStartDelayMs?: number;
  /** Timing profile (default demo). */
  profile?: string;
}

/** Starts the environment; stop() tears all of it down. */
export async function startWorkloadEnv(opts: WorkloadEnvOptions): Promise<WorkloadEnv> {
  const api = await startTestApiServer();
  const client = new ApiClient([api.address]);
  const nats = await connectBus(api.natsUrls, 'workload-env');
  const timings = loadProfile(opts.profile ?? 'demo').timings;
  const stateDir = makeTempDir('controllers');
  const log = logger('workload-env');
  const scheduler = new Scheduler({ client, nats, identity: 'kube-scheduler-test', timings, log: logger('kube-scheduler') });
  await scheduler.start();
  const kubelet = await startSimulatedKubelet({
    client,
    nats,
    nodes: { count: opts.nodes ?? 3 },
    podStartDelayMs: opts.podStartDelayMs ?? 100,
    timings,
    log: logger('kubelet-simulated'),
  });
  const manager = new ControllerManager({ client, nats, identity: 'kube-controller-manager-test', timings, stateDir, log, controllers: opts.controllers, noLeaderElection: true });
  manager.start();
  await manager.ready();
  return {
    api,
    client,
    nats,
    kubelet,
    manager,
    stop: async () => {
      await manager.stop();
      await kubelet.stop();
      await scheduler.stop();
      await nats.close();
      client.close();
      await api.stop();
      removeTempDir(stateDir);
    },
  };
}
