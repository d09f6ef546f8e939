/**
 * The environment contract tests run against: a real etcd, a real nats-server with JetStream and
 * a real kube-apiserver process, on free ports in temporary folders (see test/harness).
 */
import { EtcdCluster, NatsCluster, startApiserver, startEtcdCluster, startNats } from '../harness';

export interface TestApiServer {
  /** host:port of the apiserver's gRPC server. */
  address: string;
  etcdEndpoints: string[];
  natsUrls: string[];
  /** Controls of the infrastructure, for tests that inject faults. */
  etcd: EtcdCluster;
  nats: NatsCluster;
  stop(): Promise<void>;
}

/** Starts etcd (1 member), nats-server (1) and one apiserver (with extra environment); `stop` tears all of it down. */
export async function startTestApiServer(env: Record<string, string> = {}): Promise<TestApiServer> {
  const etcd = await startEtcdCluster({ members: 1 });
  const nats = await startNats({ servers: 1 });
  const api = await startApiserver({ etcd, nats, id: 'kube-apiserver-contract', env }).catch(async (err) => {
    await nats.stop();
    await etcd.stop();
    throw err;
  });
  return {
    address: api.address,
    etcdEndpoints: etcd.endpoints,
    natsUrls: nats.urls,
    etcd,
    nats,
    stop: async () => {
      await api.stop();
      await nats.stop();
      await etcd.stop();
    },
  };
}
