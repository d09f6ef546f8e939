/**
 * The ingress controller's control loop: informers on Ingresses, IngressClasses, Services,
 * Endpoints and Secrets. Any relevant change schedules one rebuild of the routing table and
 * certificates (coalesced per event-loop turn, as ingress-nginx syncs its whole configuration), which
 * the proxy picks up for its next request. Ingress status is a separate work queue keyed by
 * namespace/name with reconcile(key) writing status.loadBalancer only when it differs; the same
 * queue marks the controller Service's ingress IPs ipMode Proxy (key "service:namespace/name"),
 * the controller being that Service's load balancer.
 */
import { ApiClient } from '../lib/apiclient';
import { isReason } from '../lib/errors';
import { Service } from '../lib/generated/kubemu/core/v1/core';
import { EventRecorder } from '../lib/events';
import { Informer } from '../lib/informer';
import { Logger } from '../lib/log';
import { IngressLoadBalancerIngress, Ingress } from '../lib/generated/kubemu/networking/v1/networking';
import { objectKey, resourceForCase } from '../lib/resources';
import { runWorkers, WorkQueue } from '../lib/workqueue';
import { CertificateStore } from './certs';
import { IngressProxy } from './proxy';
import { buildRoutingTable, referencedServices, RoutingTable, servesIngress } from './routes';
import { desiredLoadBalancer, LoadBalancerAddress, loadBalancerAddresses, proxyModeIngress, publishedAddress } from './status';

const INGRESS = resourceForCase('ingress');
const SERVICE = resourceForCase('service');
/** Queue key prefix of the controller Service's status (":" cannot occur in a namespace, so no Ingress key collides). */
const SERVICE_KEY_PREFIX = 'service:';

export interface IngressInformers {
  ingresses: Informer<'ingress'>;
  ingressClasses: Informer<'ingressClass'>;
  services: Informer<'service'>;
  endpoints: Informer<'endpoints'>;
  secrets: Informer<'secret'>;
}

export interface IngressControllerOptions {
  client: ApiClient;
  informers: IngressInformers;
  proxy: IngressProxy;
  certs: CertificateStore;
  recorder: EventRecorder;
  className: string;
  /** The controller's own Service (namespace/name) whose LoadBalancer IP is published. */
  publishService: string;
  /** Published until that Service has a LoadBalancer address. */
  fallbackIP: string;
  /**
   * The controller's own load-balancer listeners: told the addresses to serve (the Service's
   * ingress IPs marked ipMode Proxy × its ports) once status is started and whenever they change.
   * Without it the Service's ingress IPs are left to kube-proxy (no ipMode written).
   */
  loadBalancer?: { setAddresses(addresses: LoadBalancerAddress[]): void };
  log: Logger;
}

/**
 * Wires informer events to table rebuilds and status reconciles. `start` builds the first table
 * synchronously (the informers must have synced) and starts the status workers; `stop` ends them.
 * Never throws from handlers.
 */
export class IngressController {
  private table?: RoutingTable;
  private rebuildPending = false;
  private referenced = new Set<string>();
  private readonly queue = new WorkQueue<string>();
  private stopWorkers?: () => Promise<void>;
  /** uid/generation pairs a Sync event was recorded for. */
  private readonly synced = new Map<string, string>();
  /** ingress|message of the certificate problems already reported. */
  private reported = new Set<string>();
  /** Every address this controller has published (to remove from Ingresses it stops serving). */
  private readonly published: IngressLoadBalancerIngress[] = [];
  private address: IngressLoadBalancerIngress;
  rebuilds = 0;
  private statusStarted = false;
  /** The load-balancer addresses last handed to the listeners (JSON). */
  private listening = '';

  constructor(private readonly opts: IngressControllerOptions) {
    this.address = { ip: opts.fallbackIP };
    this.published.push(this.address);
  }

  get routingTable(): RoutingTable | undefined {
    return this.table;
  }

  /** Builds the first routing table and follows changes. Status is written only after startStatus. */
  start(): void {
    const { ingresses, ingressClasses, services, endpoints, secrets } = this.opts.informers;
    this.updateAddress();
    this.rebuild();
    ingresses.addHandlers({
      onAdd: (i) => this.ingressChanged(i),
      onUpdate: (_, i) => this.ingressChanged(i),
      onDelete: (i) => {
        this.synced.delete(i.metadata?.uid ?? '');
        this.scheduleRebuild();
      },
    });
    ingressClasses.addHandlers({
      onAdd: () => this.classesChanged(),
      onUpdate: () => this.classesChanged(),
      onDelete: () => this.classesChanged(),
    });
    const serviceChanged = (key: string) => {
      if (key === this.opts.publishService) {
        if (this.updateAddress()) this.enqueueAll();
        this.publishServiceChanged();
      }
      if (this.referenced.has(key)) this.scheduleRebuild();
    };
    services.addHandlers({ onAdd: (s) => serviceChanged(objectKey(s)), onUpdate: (_, s) => serviceChanged(objectKey(s)), onDelete: (s) => serviceChanged(objectKey(s)) });
    const endpointsChanged = (key: string) => {
      if (this.referenced.has(key)) this.scheduleRebuild();
    };
    endpoints.addHandlers({ onAdd: (e) => endpointsChanged(objectKey(e)), onUpdate: (_, e) => endpointsChanged(objectKey(e)), onDelete: (e) => endpointsChanged(objectKey(e)) });
    const secretChanged = (key: string) => {
      if (this.table && [...this.table.tls.values()].some((t) => t.secret === key)) this.scheduleRebuild();
    };
    secrets.addHandlers({ onAdd: (s) => secretChanged(objectKey(s)), onUpdate: (_, s) => secretChanged(objectKey(s)), onDelete: (s) => secretChanged(objectKey(s)) });
  }

  /**
   * Starts writing Ingress status. `service` is the controller Service as just created or read
   * (the informer may not have it yet): its address is published until the informer has it, so the
   * first writes do not carry the fallback address for a moment.
   */
  startStatus(service?: Service): void {
    if (!this.opts.informers.services.get(this.opts.publishService) && service) this.setAddress(publishedAddress(service, this.opts.fallbackIP));
    this.stopWorkers = runWorkers(this.queue, 2, (key) => this.reconcileStatus(key), (key, err) => {
      // A conflict only means our cache was behind our own write: the retry reads the new version.
      const level = isReason(err, 'Conflict') ? 'debug' : 'warn';
      this.opts.log[level]('could not update status', { key, err: (err as Error).message });
    });
    this.statusStarted = true;
    this.enqueueAll();
    this.publishServiceChanged();
  }

  async stop(): Promise<void> {
    await this.stopWorkers?.();
  }

  private ingressChanged(ing: Ingress): void {
    this.scheduleRebuild();
    // Queued before startStatus too: the workers take the backlog when they start.
    this.queue.add(objectKey(ing));
    const { informers, className } = this.opts;
    if (!servesIngress(ing, className, informers.ingressClasses.list())) return;
    const uid = ing.metadata?.uid ?? objectKey(ing);
    const generation = String(ing.metadata?.generation ?? '');
    if (this.synced.get(uid) === generation) return;
    this.synced.set(uid, generation);
    void this.opts.recorder.record(ing, 'Normal', 'Sync', '', 'Scheduled for sync');
  }

  /**
   * The controller Service changed: its status is queued (ipMode Proxy on its ingress IPs) and
   * the load-balancer listeners follow the addresses marked Proxy. Only after startStatus: before
   * that the proxy's own listeners are not bound yet.
   */
  private publishServiceChanged(): void {
    if (!this.statusStarted || !this.opts.loadBalancer) return;
    this.queue.add(SERVICE_KEY_PREFIX + this.opts.publishService);
    const next = loadBalancerAddresses(this.opts.informers.services.get(this.opts.publishService));
    const text = JSON.stringify(next);
    if (text === this.listening) return;
    this.listening = text;
    this.opts.loadBalancer.setAddresses(next);
  }

  private classesChanged(): void {
    this.scheduleRebuild();
    this.enqueueAll();
  }

  private enqueueAll(): void {
    for (const key of this.opts.informers.ingresses.keys()) this.queue.add(key);
  }

  /** Takes the published address from the controller Service; true when it changed. */
  private updateAddress(): boolean {
    const [ns, name] = this.opts.publishService.split('/');
    const svc = this.opts.informers.services.get(`${ns}/${name}`);
    return this.setAddress(publishedAddress(svc, this.opts.fallbackIP));
  }

  private setAddress(next: IngressLoadBalancerIngress): boolean {
    if (next.ip === this.address.ip && next.hostname === this.address.hostname) return false;
    this.address = next;
    if (!this.published.some((p) => p.ip === next.ip && p.hostname === next.hostname)) this.published.push(next);
    this.opts.log.info('publishing address', { ip: next.ip, hostname: next.hostname });
    return true;
  }

  private scheduleRebuild(): void {
    if (this.rebuildPending) return;
    this.rebuildPending = true;
    // Coalesces the events of one informer batch into one rebuild.
    setImmediate(() => {
      this.rebuildPending = false;
      this.rebuild();
    });
  }

  /** Rebuilds the routing table and certificates now and hands them to the proxy. Never throws. */
  rebuild(): void {
    const { informers, className, certs, proxy, log } = this.opts;
    try {
      const started = Date.now();
      const table = buildRoutingTable(
        {
          ingresses: informers.ingresses.list(),
          ingressClasses: informers.ingressClasses.list(),
          service: (ns, name) => informers.services.get(`${ns}/${name}`),
          endpoints: (ns, name) => informers.endpoints.get(`${ns}/${name}`),
        },
        className,
      );
      const problems = certs.update(table, (ns, name) => informers.secrets.get(`${ns}/${name}`));
      this.table = table;
      this.referenced = referencedServices(table.ingresses.map((k) => informers.ingresses.get(k)).filter((i): i is Ingress => !!i));
      proxy.setTable(table);
      this.rebuilds++;
      const reported = new Set<string>();
      for (const p of problems) {
        const key = `${p.ingress}|${p.message}`;
        reported.add(key);
        if (this.reported.has(key)) continue;
        log.warn('unusable TLS secret', { ingress: p.ingress, secret: p.secret, err: p.message });
        const ing = informers.ingresses.get(p.ingress);
        if (ing) void this.opts.recorder.record(ing, 'Warning', 'InvalidTLSSecret', '', p.message);
      }
      this.reported = reported;
      log.debug('routing table rebuilt', { ingresses: table.ingresses.length, hosts: table.hosts.size, ms: Date.now() - started });
    } catch (err) {
      // A broken invariant in the builder must not take the data path down: keep the old table.
      log.error('routing table rebuild failed', { err: err instanceof Error ? err.stack : String(err) });
    }
  }

  /**
   * Status for one Ingress: its load balancer address when served, our addresses removed when
   * not. Writes only a difference; a conflict throws (and the queue retries with backoff).
   */
  async reconcileStatus(key: string): Promise<void> {
    if (key.startsWith(SERVICE_KEY_PREFIX)) return this.reconcileServiceStatus(key.slice(SERVICE_KEY_PREFIX.length));
    const { informers, className, client, log } = this.opts;
    const ing = informers.ingresses.get(key);
    if (!ing) return;
    const served = servesIngress(ing, className, informers.ingressClasses.list());
    const want = desiredLoadBalancer(ing, served, this.address, this.published);
    if (!want) return;
    await client.updateStatus(INGRESS, { ...ing, status: { ...ing.status, loadBalancer: { ingress: want } } });
    log.info('updated ingress status', { ingress: key, loadBalancer: want.map((x) => x.ip ?? x.hostname).join(',') || '(none)' });
  }

  /**
   * The controller Service as its own load balancer (KEP-1860): its ingress IPs get ipMode Proxy
   * so that kube-proxy leaves them to our listeners. Writes only a difference; a conflict throws
   * (the queue retries with the informer's newer copy).
   */
  async reconcileServiceStatus(key: string): Promise<void> {
    const { informers, client, log } = this.opts;
    const svc = informers.services.get(key);
    const want = proxyModeIngress(svc);
    if (!svc || !want) return;
    await client.updateStatus(SERVICE, { ...svc, status: { ...svc.status, loadBalancer: { ...svc.status?.loadBalancer, ingress: want } } });
    log.info('marked load balancer ingress ipMode Proxy', { service: key, ips: want.map((i) => i.ip).filter(Boolean).join(',') });
  }
}
