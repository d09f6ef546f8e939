import { isReason } from '../lib/errors';
import { Logger } from '../lib/log';
import { EndpointSubset, Endpoints, Service } from '../lib/generated/kubemu/core/v1/core';
import { KubeObject, resourceForCase } from '../lib/resources';
import { Registry } from './registry';
import { firstAddress, ServiceAllocator } from './serviceallocator';

/** The namespaces every Kubernetes cluster has from the start. */
export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/**
 * Creates the system namespaces that do not exist yet. Idempotent and safe for several apiserver
 * replicas to run at once (AlreadyExists is success). Throws only when storage fails.
 */
export async function ensureSystemNamespaces(registry: Registry, log: Logger): Promise<void> {
  const info = resourceForCase('namespace');
  for (const name of SYSTEM_NAMESPACES) {
    try {
      await registry.create(info, '', { metadata: { name } });
      log.info('created system namespace', { namespace: name });
    } catch (err) {
      if (!isReason(err, 'AlreadyExists')) throw err;
    }
  }
}

/** Where this apiserver replica serves the Kubernetes REST API. */
export interface ApiServerEndpoint {
  host: string;
  httpPort: number;
}

/**
 * The `kubernetes` Service in `default`, as every Kubernetes cluster has it: ClusterIP the first
 * address of the service range, port 443 named https with targetPort this replica's REST port,
 * and no selector. Its Endpoints list every apiserver replica. All replicas listen on one host
 * address (127.0.0.1) with different ports, and a subset's ports apply to all its addresses, so
 * each replica has a subset of its own: {addresses: [127.0.0.1], ports: [https: its port]}.
 * (Kubernetes' endpoint reconciler also removes replicas that are gone; a stopped replica's subset
 * stays here until that exists.)
 *
 * Idempotent and safe for several replicas at once: whichever comes first creates the Service;
 * the Endpoints are updated by compare-and-swap. A first address someone else holds is logged and
 * left alone. Throws only when storage fails.
 */
export async function ensureKubernetesService(registry: Registry, allocator: ServiceAllocator, self: ApiServerEndpoint, log: Logger): Promise<void> {
  const services = resourceForCase('service');
  const endpoints = resourceForCase('endpoints');
  const host = self.host === '0.0.0.0' || self.host === 'localhost' || !self.host ? '127.0.0.1' : self.host;
  const clusterIP = firstAddress(allocator.serviceCidr);
  const labels = { component: 'apiserver', provider: 'kubernetes' };
  const exists = async () =>
    registry.get(services, 'default', 'kubernetes').then(
      () => true,
      (err) => {
        if (isReason(err, 'NotFound')) return false;
        throw err;
      },
    );
  try {
    if (await exists()) throw new KubernetesServiceExists();
    await registry.create(services, 'default', {
      metadata: { name: 'kubernetes', namespace: 'default', labels },
      spec: { type: 'ClusterIP', clusterIP, clusterIPs: [clusterIP], sessionAffinity: 'None', ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: self.httpPort }] },
    } as Service as KubeObject);
    log.info('created the kubernetes service', { clusterIP });
  } catch (err) {
    if (err instanceof KubernetesServiceExists || isReason(err, 'AlreadyExists')) {
      // Another replica created it.
    } else if (isReason(err, 'Invalid')) {
      // A replica creating it at the same moment holds the address: not an error.
      if (!(await exists())) log.warn('could not create the kubernetes service', { err: (err as Error).message });
    } else {
      throw err;
    }
  }
  const mine: EndpointSubset = { addresses: [{ ip: host }], ports: [{ name: 'https', port: self.httpPort, protocol: 'TCP' }] };
  for (let attempt = 0; attempt < 16; attempt++) {
    let current: Endpoints | undefined;
    try {
      current = (await registry.get(endpoints, 'default', 'kubernetes')) as Endpoints;
    } catch (err) {
      if (!isReason(err, 'NotFound')) throw err;
    }
    const subsets = current?.subsets ?? [];
    if (subsets.some((s) => s.addresses?.some((a) => a.ip === host) && s.ports?.some((p) => p.port === self.httpPort))) return;
    try {
      if (!current) {
        await registry.create(endpoints, 'default', { metadata: { name: 'kubernetes', namespace: 'default', labels }, subsets: [mine] } as Endpoints as KubeObject);
      } else {
        await registry.update(endpoints, 'default', { ...current, subsets: [...subsets, mine] } as KubeObject);
      }
      log.info('registered in the kubernetes endpoints', { ip: host, port: self.httpPort });
      return;
    } catch (err) {
      if (!isReason(err, 'AlreadyExists') && !isReason(err, 'Conflict')) throw err;
    }
  }
}

class KubernetesServiceExists extends Error {}
