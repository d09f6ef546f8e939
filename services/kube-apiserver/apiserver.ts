import * as grpc from '@grpc/grpc-js';
import { JetStreamManager, NatsConnection } from 'nats';
import { Lease } from '../lib/generated/kubemu/coordination/v1/coordination';
import { ComponentConfig } from '../lib/config';
import { HealthImplementation, ServingStatus } from '../lib/health';
import { LeaderElector, LeaseClient } from '../lib/leaderelection';
import { Logger, logger } from '../lib/log';
import { isReason } from '../lib/errors';
import { resourceForCase } from '../lib/resources';
import { connectBus } from '../lib/watchbus';
import { ensureKubernetesService, ensureSystemNamespaces } from './bootstrap';
import { ServiceAllocator } from './serviceallocator';
import { addApiServerService, serverOptions } from './grpc-service';
import { WatchPublisher } from './publisher';
import { Registry } from './registry';
import { RunningRestServer, startRestServer } from './rest/server';
import { EtcdStorage } from './storage';

export interface ApiServerOptions {
  config: ComponentConfig;
  /** host:port to serve gRPC on; port 0 picks a free one. */
  listen: string;
  /** Publishes awaiting acknowledgement at once (see WatchPublisher). */
  publisherMaxInFlight?: number;
  /** How often to compact etcd history, in ms (history older than one interval is dropped). */
  compactionIntervalMs?: number;
  /** KUBEMU_SERVICE_CIDR / KUBEMU_LOADBALANCER_CIDR (defaults 127.128.0.0/16, 127.129.0.0/16); every replica must agree. */
  serviceCidr?: string;
  loadBalancerCidr?: string;
  /**
   * The port of this replica's Kubernetes REST API, which the `kubernetes` Service points at.
   * Default: the gRPC port + 100, the topology's `http` port (base+400+i next to gRPC base+300+i).
   */
  httpPort?: number;
  /** host:port to serve the Kubernetes REST API on (plain HTTP/1.1); unset: no REST API. */
  httpListen?: string;
}

export interface RunningApiServer {
  /** The address actually served (host:port). */
  address: string;
  registry: Registry;
  storage: EtcdStorage;
  nats: NatsConnection;
  publisher: WatchPublisher;
  elector: LeaderElector;
  /** The REST API server, when httpListen was given. */
  rest?: RunningRestServer;
  /** Stops serving, gives up the publisher lease, closes etcd and NATS. */
  stop(): Promise<void>;
}

const LEASES = resourceForCase('lease');
export const PUBLISHER_LEASE = { namespace: 'kube-system', name: 'kube-apiserver-watch-publisher' };

/** Leader election for the publisher goes through this apiserver's own registry (never raw etcd). */
function registryLeaseClient(registry: Registry): LeaseClient {
  return {
    getLease: async (namespace, name) => {
      try {
        return (await registry.get(LEASES, namespace, name)) as Lease;
      } catch (err) {
        if (isReason(err, 'NotFound')) return undefined;
        throw err;
      }
    },
    createLease: async (lease) => (await registry.create(LEASES, lease.metadata?.namespace ?? '', lease)) as Lease,
    updateLease: async (lease) => (await registry.update(LEASES, lease.metadata?.namespace ?? '', lease)) as Lease,
  };
}

/**
 * Starts a kube-apiserver replica: etcd storage, the gRPC API with health, the system namespaces,
 * and a candidacy for the watch publisher. Resolves once it serves; throws if the port is taken.
 */
export async function startApiServer(opts: ApiServerOptions): Promise<RunningApiServer> {
  const { config } = opts;
  const log: Logger = logger('kube-apiserver', { id: config.componentId });
  const storage = new EtcdStorage(config.etcdEndpoints);
  const serviceAllocator = new ServiceAllocator(storage, { serviceCidr: opts.serviceCidr, loadBalancerCidr: opts.loadBalancerCidr });
  const registry = new Registry(storage, {
    serviceAllocator,
    defaultTolerationSeconds: config.profile.timings.podEvictionTimeoutSeconds,
    maxObjectBytes: 1536 * 1024,
    log,
  });
  void registry.namespaces.start();
  const health = new HealthImplementation();
  const server = new grpc.Server(serverOptions);
  health.addTo(server);
  addApiServerService(server, registry, log);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(opts.listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const host = opts.listen.slice(0, opts.listen.lastIndexOf(':'));
  const address = `${host}:${port}`;
  log.info('serving gRPC', { address });

  const nats = await connectBus(config.natsServers, config.componentId);
  const jsm: JetStreamManager = await nats.jetstreamManager();
  const publisher = new WatchPublisher(storage, nats, jsm, {
    replicas: config.jetstreamReplicas,
    maxInFlight: opts.publisherMaxInFlight ?? 64,
    log,
  });

  // Health: serving while etcd answers and NATS is connected.
  let stopped = false;
  let bootstrapped = false;
  let etcdOk = false;
  const checkHealth = async () => {
    try {
      await storage.currentRevision();
      etcdOk = true;
      if (!bootstrapped) {
        await ensureSystemNamespaces(registry, log);
        await ensureKubernetesService(registry, serviceAllocator, { host, httpPort: opts.httpPort ?? port + 100 }, log);
        bootstrapped = true;
      }
      health.set('', nats.isClosed() ? ServingStatus.NOT_SERVING : ServingStatus.SERVING);
    } catch (err) {
      etcdOk = false;
      health.set('', ServingStatus.NOT_SERVING);
      log.warn('not healthy', { err: (err as Error).message });
    }
  };
  await checkHealth();
  const healthTimer = setInterval(() => void checkHealth(), 2000);

  const rest = opts.httpListen
    ? await startRestServer(opts.httpListen, {
        registry,
        nats,
        log,
        readiness: () => [
          { name: 'etcd', ok: etcdOk },
          { name: 'watch-bus', ok: !nats.isClosed() },
          { name: 'bootstrap', ok: bootstrapped },
        ],
      })
    : undefined;
  if (rest) log.info('serving the REST API', { address: rest.address });

  const timings = config.profile.timings;
  const compactionIntervalMs = opts.compactionIntervalMs ?? 5 * 60 * 1000;
  const elector = new LeaderElector(registryLeaseClient(registry), {
    ...PUBLISHER_LEASE,
    identity: config.componentId,
    leaseDurationSeconds: timings.leaderLeaseDurationSeconds,
    renewDeadlineSeconds: timings.leaderRenewDeadlineSeconds,
    retryPeriodSeconds: timings.leaderRetryPeriodSeconds,
    log,
    onStartedLeading: async (signal) => {
      log.info('watch publisher: leading');
      const compactor = startCompactor(storage, publisher, compactionIntervalMs, log);
      signal.addEventListener('abort', () => clearInterval(compactor), { once: true });
      await publisher.run(signal);
    },
    onStoppedLeading: () => log.info('watch publisher: lost the lease'),
  });
  elector.run();

  return {
    address,
    registry,
    storage,
    nats,
    publisher,
    elector,
    rest,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      clearInterval(healthTimer);
      health.set('', ServingStatus.NOT_SERVING);
      await elector.stop();
      await registry.namespaces.stop();
      health.dispose();
      await rest?.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await nats.close().catch(() => undefined);
      storage.close();
    },
  };
}

/**
 * Compacts etcd history older than one interval, but never past what the publisher has put on the
 * watch stream (so no change is lost to a publisher that lags).
 */
function startCompactor(storage: EtcdStorage, publisher: WatchPublisher, intervalMs: number, log: Logger): NodeJS.Timeout {
  let previous = 0;
  return setInterval(async () => {
    try {
      const current = await storage.currentRevision();
      const target = Math.min(previous, publisher.publishedRevision - 1);
      if (target > 0) {
        await storage.compact(target);
        log.info('compacted etcd history', { revision: target });
      }
      previous = current;
    } catch (err) {
      log.warn('compaction failed', { err: (err as Error).message });
    }
  }, intervalMs);
}
