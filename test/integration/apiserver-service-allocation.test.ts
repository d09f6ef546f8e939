/**
 * Service address allocation with two apiserver replicas on one etcd: Services created at once
 * through both never share a ClusterIP, nodePort or LoadBalancer IP, and the `kubernetes` Service
 * lists both replicas.
 */
import { ApiClient } from '../../services/lib/apiclient';
import { Endpoints, Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { startApiserver, startEtcdCluster, startNats } from '../harness';

const SVC = resourceForCase('service');
const EP = resourceForCase('endpoints');

test('service allocation - two apiservers allocating at once hand out no address twice', async () => {
  const etcd = await startEtcdCluster({ members: 1 });
  const nats = await startNats({ servers: 1 });
  // A small range (62 usable addresses, one for `kubernetes`) so that the replicas really compete.
  const env = { KUBEMU_SERVICE_CIDR: '127.128.5.0/26', KUBEMU_LOADBALANCER_CIDR: '127.129.5.0/26' };
  const api = await Promise.all([startApiserver({ etcd, nats, id: 'kube-apiserver-0', env }), startApiserver({ etcd, nats, id: 'kube-apiserver-1', env })]);
  const clients = api.map((a) => new ApiClient([a.address], { retryForMs: 30000 }));
  try {
    const N = 56;
    const started = Date.now();
    const created = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        clients[i % 2].create(SVC, {
          metadata: { name: `s-${i}`, namespace: 'default' },
          spec: { type: i % 4 === 0 ? 'LoadBalancer' : 'NodePort', selector: { app: `s-${i}` }, ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81 }] },
        } as Service),
      ),
    );
    console.log(`created ${N} services through 2 apiservers in ${Date.now() - started} ms`);
    const ips = created.map((s) => s.spec!.clusterIP!);
    const ports = created.flatMap((s) => s.spec!.ports!.map((p) => p.nodePort!));
    const lbIPs = created.flatMap((s) => (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip!));
    expect(new Set(ips).size).toBe(N);
    expect(ips).not.toContain('127.128.5.1');
    for (const ip of ips) expect(ip).toMatch(/^127\.128\.5\.(\d+)$/);
    expect(new Set(ports).size).toBe(2 * N);
    expect(lbIPs.length).toBe(N / 4);
    expect(new Set(lbIPs).size).toBe(N / 4);

    // Both replicas agree on the kubernetes service, and each registered itself in its endpoints.
    const kube = await clients[1].get(SVC, 'default', 'kubernetes');
    expect(kube.spec!.clusterIP).toBe('127.128.5.1');
    const ep = (await clients[0].get(EP, 'default', 'kubernetes')) as Endpoints;
    const epPorts = (ep.subsets ?? []).flatMap((s) => (s.ports ?? []).map((p) => p.port));
    expect(epPorts.sort()).toEqual(api.map((a) => Number(a.address.split(':')[1]) + 100).sort());

    // Deleting through one replica frees addresses the other can hand out again.
    await clients[0].delete(SVC, 'default', 's-1');
    const again = await clients[1].create(SVC, { metadata: { name: 'again', namespace: 'default' }, spec: { clusterIP: ips[1], ports: [{ port: 80 }] } } as Service);
    expect(again.spec!.clusterIP).toBe(ips[1]);
  } finally {
    for (const c of clients) c.close();
    await Promise.all(api.map((a) => a.stop()));
    await nats.stop();
    await etcd.stop();
  }
}, 120000);
