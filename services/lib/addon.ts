/**
 * Addons that run as host processes (cluster-dns, the ingress controller) are reached the way
 * Kubernetes reaches its apiservers: through a Service without a selector whose Endpoints each
 * replica maintains itself. A replica adds a subset naming its own address and ports when it
 * starts, re-asserts it periodically (so a wiped or edited Endpoints object heals), and removes it
 * when it stops. kube-proxy then carries the Service's ClusterIP (or LoadBalancer IP) to the
 * replicas like any other Service.
 */
import { isReason } from './errors';
import { ApiClient } from './apiclient';
import { Logger } from './log';
import { EndpointPort, EndpointSubset, Endpoints, Service } from './generated/kubemu/core/v1/core';
import { resourceForCase } from './resources';

const SERVICES = resourceForCase('service');
const ENDPOINTS = resourceForCase('endpoints');
const NAMESPACES = resourceForCase('namespace');

/** The label every addon object carries, as Kubernetes' addon manager marks its objects. */
export const ADDON_LABELS = { 'addonmanager.kubernetes.io/mode': 'Reconcile' };

/**
 * Creates `service` (and its namespace) when absent. An existing Service is left as it is: a user
 * who edited it (e.g. changed its type) keeps the edit. A ClusterIP that another Service holds
 * is reported by the apiserver as Invalid and rethrown. Returns the stored Service. Safe for
 * several replicas at once (AlreadyExists is success).
 */
export async function ensureAddonService(client: ApiClient, service: Service, log: Logger): Promise<Service> {
  const namespace = service.metadata?.namespace ?? 'default';
  const name = service.metadata?.name ?? '';
  if (!(await client.tryGet(NAMESPACES, '', namespace))) {
    try {
      await client.create(NAMESPACES, { metadata: { name: namespace, labels: ADDON_LABELS } });
      log.info('created addon namespace', { namespace });
    } catch (err) {
      if (!isReason(err, 'AlreadyExists')) throw err;
    }
  }
  for (let attempt = 0; attempt < 8; attempt++) {
    const existing = await client.tryGet(SERVICES, namespace, name);
    if (existing) return existing;
    try {
      const created = await client.create(SERVICES, service);
      log.info('created addon service', { service: `${namespace}/${name}`, clusterIP: created.spec?.clusterIP, type: created.spec?.type });
      return created;
    } catch (err) {
      if (!isReason(err, 'AlreadyExists')) throw err;
    }
  }
  throw new Error(`addon service ${namespace}/${name} could not be read after creating it`);
}

function sameSubset(s: EndpointSubset, ip: string, ports: EndpointPort[]): boolean {
  if (!s.addresses?.some((a) => a.ip === ip)) return false;
  const have = new Set((s.ports ?? []).map((p) => `${p.name}/${p.port}/${p.protocol || 'TCP'}`));
  return ports.every((p) => have.has(`${p.name}/${p.port}/${p.protocol || 'TCP'}`)) && have.size === ports.length;
}

/**
 * `subsets` plus one of `ip` with `ports`. Replicas may share an IP (all on 127.0.0.1, told apart
 * by port, as the apiservers are), so only an identical subset counts as this replica's.
 */
function withSubset(subsets: EndpointSubset[], ip: string, ports: EndpointPort[], hostname?: string): EndpointSubset[] {
  return [...subsets.filter((s) => !sameSubset(s, ip, ports)), { addresses: [{ ip, ...(hostname ? { hostname } : {}) }], notReadyAddresses: [], ports }];
}

/**
 * Keeps one replica's address in its addon Service's Endpoints. `start` registers (retrying
 * conflicts) and re-asserts every `resyncMs`; `stop` removes the subset. Never throws from the
 * periodic path (failures are logged and retried at the next tick); `start` throws only when the
 * first registration fails for a reason other than a conflict.
 */
export class AddonEndpoints {
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly client: ApiClient,
    private readonly opts: {
      namespace: string;
      name: string;
      ip: string;
      ports: EndpointPort[];
      /** The replica's name, shown as the endpoint's hostname (e.g. cluster-dns-0). */
      hostname?: string;
      labels?: Record<string, string>;
      log: Logger;
      resyncMs?: number;
    },
  ) {}

  async start(): Promise<void> {
    await this.register();
    const every = this.opts.resyncMs ?? 10000;
    const tick = () => {
      if (this.stopped) return;
      this.register().catch((err) => this.opts.log.warn('could not re-assert addon endpoint', { err: (err as Error).message }));
      this.timer = setTimeout(tick, every);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, every);
    this.timer.unref();
  }

  /** Adds this replica's subset unless it is there already. */
  async register(): Promise<void> {
    const { namespace, name, ip, ports, hostname, log } = this.opts;
    for (let attempt = 0; attempt < 16; attempt++) {
      const current: Endpoints | undefined = await this.client.tryGet(ENDPOINTS, namespace, name);
      const subsets = current?.subsets ?? [];
      if (subsets.some((s) => sameSubset(s, ip, ports))) return;
      try {
        if (!current) {
          await this.client.create(ENDPOINTS, { metadata: { name, namespace, labels: { ...ADDON_LABELS, ...(this.opts.labels ?? {}) } }, subsets: withSubset([], ip, ports, hostname) });
        } else {
          await this.client.update(ENDPOINTS, { ...current, subsets: withSubset(subsets, ip, ports, hostname) });
        }
        log.info('registered in addon endpoints', { endpoints: `${namespace}/${name}`, ip, ports: ports.map((p) => `${p.name}:${p.port}/${p.protocol || 'TCP'}`).join(',') });
        return;
      } catch (err) {
        if (!isReason(err, 'AlreadyExists') && !isReason(err, 'Conflict')) throw err;
      }
    }
    throw new Error(`addon endpoints ${namespace}/${name}: too many conflicting writes`);
  }

  /** Stops re-asserting and removes this replica's subset (best effort: errors are logged). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const { namespace, name, ip, ports, log } = this.opts;
    for (let attempt = 0; attempt < 16; attempt++) {
      try {
        const current: Endpoints | undefined = await this.client.tryGet(ENDPOINTS, namespace, name);
        if (!current) return;
        const subsets = (current.subsets ?? []).filter((s) => !sameSubset(s, ip, ports));
        if (subsets.length === (current.subsets ?? []).length) return;
        await this.client.update(ENDPOINTS, { ...current, subsets });
        log.info('removed from addon endpoints', { endpoints: `${namespace}/${name}`, ip });
        return;
      } catch (err) {
        if (!isReason(err, 'Conflict')) {
          log.warn('could not remove addon endpoint', { err: (err as Error).message });
          return;
        }
      }
    }
  }
}
