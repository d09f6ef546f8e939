/**
 * The ingress controller loop against filled caches: reconcileStatus(key) writes only a
 * difference, rebuilds follow Endpoints and Secrets, events are recorded once per generation and
 * an unusable TLS Secret becomes one Warning event, never a throw.
 */
import { IngressController, IngressInformers } from '../../services/ingress-controller/controller';
import { CertificateStore } from '../../services/ingress-controller/certs';
import { IngressProxy } from '../../services/ingress-controller/proxy';
import { matchRoute, ownIngressClass } from '../../services/ingress-controller/routes';
import { controllerService, LoadBalancerAddress } from '../../services/ingress-controller/status';
import { ApiClient } from '../../services/lib/apiclient';
import { EventRecorder } from '../../services/lib/events';
import { Endpoints, Secret, Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { Ingress } from '../../services/lib/generated/kubemu/networking/v1/networking';
import { InformerHandlers } from '../../services/lib/informer';
import { logger } from '../../services/lib/log';
import { makeCertificate } from './ingress-fixtures';
import { KubeObject, objectKey } from '../../services/lib/resources';

/** Just what the controller uses of an Informer: a map plus handlers. */
class FakeInformer<T extends KubeObject> {
  readonly items = new Map<string, T>();
  private handlers: InformerHandlers<T>[] = [];
  get(key: string) {
    return this.items.get(key);
  }
  list() {
    return [...this.items.values()];
  }
  keys() {
    return [...this.items.keys()];
  }
  addHandlers(h: InformerHandlers<T>) {
    this.handlers.push(h);
    for (const o of this.items.values()) h.onAdd?.(o);
  }
  set(obj: T) {
    const key = objectKey(obj);
    const old = this.items.get(key);
    this.items.set(key, obj);
    for (const h of this.handlers) old ? h.onUpdate?.(old, obj) : h.onAdd?.(obj);
  }
}

const flush = () => new Promise((r) => setImmediate(r));
async function waitUntil(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
const log = logger('ingress-controller-test');

function setup() {
  const inf = {
    ingresses: new FakeInformer<Ingress>(),
    ingressClasses: new FakeInformer(),
    services: new FakeInformer<Service>(),
    endpoints: new FakeInformer<Endpoints>(),
    secrets: new FakeInformer<Secret>(),
  };
  inf.ingressClasses.set(ownIngressClass('kubemu'));
  const writes: Ingress[] = [];
  const serviceWrites: Service[] = [];
  const client = {
    updateStatus: async (info: { kind: string }, obj: Ingress) => {
      if (info.kind === 'Service') {
        serviceWrites.push(obj as Service);
        inf.services.set({ ...(obj as Service), metadata: { ...obj.metadata, resourceVersion: String(Number(obj.metadata?.resourceVersion ?? 0) + 1) } });
        return obj;
      }
      writes.push(obj);
      inf.ingresses.set({ ...obj, metadata: { ...obj.metadata, resourceVersion: String(Number(obj.metadata?.resourceVersion ?? 0) + 1) } });
      return obj;
    },
  } as unknown as ApiClient;
  const events: Array<{ name: string; type: string; reason: string; message: string }> = [];
  const recorder = {
    record: async (obj: KubeObject, type: string, reason: string, _action: string, message: string) => void events.push({ name: obj.metadata?.name ?? '', type, reason, message }),
  } as unknown as EventRecorder;
  const certs = new CertificateStore();
  const proxy = new IngressProxy({ table: { hosts: new Map(), wildcards: new Map(), tls: new Map(), ingresses: [] }, certs, log });
  const lbAddresses: LoadBalancerAddress[][] = [];
  const controller = new IngressController({
    client,
    informers: inf as unknown as IngressInformers,
    proxy,
    certs,
    recorder,
    className: 'kubemu',
    publishService: 'ingress-nginx/ingress-nginx-controller',
    fallbackIP: '127.0.0.1',
    loadBalancer: { setAddresses: (a) => void lbAddresses.push(a) },
    log,
  });
  return { inf, writes, serviceWrites, lbAddresses, events, controller, certs };
}

const web = (extra: Partial<Ingress['spec']> = {}, generation = 1): Ingress => ({
  metadata: { name: 'web', namespace: 'default', uid: 'u1', generation, resourceVersion: '1', creationTimestamp: '2024-01-01T00:00:00Z' },
  spec: { rules: [{ host: 'a.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'svc', port: { number: 80 } } } }] } }], ...extra },
});

describe('ingress controller - reconcileStatus', () => {
  it('publishes the Service LB IP once and not again when unchanged', async () => {
    const { inf, writes, controller } = setup();
    inf.services.set({ metadata: { name: 'ingress-nginx-controller', namespace: 'ingress-nginx' }, status: { loadBalancer: { ingress: [{ ip: '127.129.0.7' }] } } });
    inf.ingresses.set(web());
    controller.start();
    await controller.reconcileStatus('default/web');
    expect(writes.map((w) => w.status?.loadBalancer?.ingress)).toEqual([[{ ip: '127.129.0.7' }]]);
    await controller.reconcileStatus('default/web');
    expect(writes).toHaveLength(1);
  });

  it('falls back to the listen IP without a Service address, and removes it when the class changes', async () => {
    const { inf, writes, controller } = setup();
    inf.ingresses.set(web());
    controller.start();
    await controller.reconcileStatus('default/web');
    expect(writes[0].status?.loadBalancer?.ingress).toEqual([{ ip: '127.0.0.1' }]);
    const current = inf.ingresses.get('default/web')!;
    inf.ingresses.set({ ...current, spec: { ...current.spec, ingressClassName: 'other' } });
    await controller.reconcileStatus('default/web');
    expect(writes[1].status?.loadBalancer?.ingress).toEqual([]);
    await controller.reconcileStatus('default/gone');
    expect(writes).toHaveLength(2);
  });
});

describe('ingress controller - its Service as load balancer (ipMode Proxy)', () => {
  it('marks the Service ingress IP Proxy once after startStatus, then listens on <LB IP>:80/443; follows IP changes', async () => {
    const { inf, serviceWrites, lbAddresses, controller } = setup();
    const svc = controllerService('ingress-nginx', 'ingress-nginx-controller', 8080, 8443);
    inf.services.set({ ...svc, metadata: { ...svc.metadata, resourceVersion: '1' }, status: { loadBalancer: { ingress: [{ ip: '127.129.0.7' }] } } });
    controller.start();
    // Before startStatus (the proxy's own listeners are not bound yet): no write, no listener.
    inf.services.set({ ...svc, metadata: { ...svc.metadata, resourceVersion: '3' }, status: { loadBalancer: { ingress: [{ ip: '127.129.0.7' }] } } });
    await flush();
    expect(serviceWrites).toEqual([]);
    expect(lbAddresses).toEqual([]);
    controller.startStatus();
    await waitUntil(() => serviceWrites.length === 1 && lbAddresses.length === 2);
    expect(serviceWrites[0].status?.loadBalancer?.ingress).toEqual([{ ip: '127.129.0.7', ipMode: 'Proxy' }]);
    // First [] (not Proxy yet), then the addresses once the written status is in the cache.
    expect(lbAddresses).toEqual([
      [],
      [
        { ip: '127.129.0.7', port: 80, secure: false },
        { ip: '127.129.0.7', port: 443, secure: true },
      ],
    ]);
    // Already Proxy: no further write.
    await controller.reconcileServiceStatus('ingress-nginx/ingress-nginx-controller');
    expect(serviceWrites).toHaveLength(1);
    // A new IP: marked, then listened on instead of the old one.
    inf.services.set({ ...svc, metadata: { ...svc.metadata, resourceVersion: '9' }, status: { loadBalancer: { ingress: [{ ip: '127.129.0.8' }] } } });
    await waitUntil(() => serviceWrites.length === 2 && lbAddresses.length === 4);
    expect(lbAddresses[2]).toEqual([]);
    expect(lbAddresses[3].map((a) => `${a.ip}:${a.port}`)).toEqual(['127.129.0.8:80', '127.129.0.8:443']);
    await controller.stop();
  });
});

describe('ingress controller - rebuilds and events', () => {
  it('follows Endpoints of referenced Services', async () => {
    const { inf, controller } = setup();
    inf.services.set({ metadata: { name: 'svc', namespace: 'default' }, spec: { ports: [{ name: 'http', port: 80 }] } });
    inf.ingresses.set(web());
    controller.start();
    const upstreams = () => {
      const m = matchRoute(controller.routingTable!, 'a.test', '/');
      return m.kind === 'route' ? m.route.backend.upstreams : undefined;
    };
    expect(upstreams()).toEqual([]);
    inf.endpoints.set({ metadata: { name: 'svc', namespace: 'default' }, subsets: [{ addresses: [{ ip: '127.64.0.1' }], ports: [{ name: 'http', port: 8080 }] }] });
    await flush();
    expect(upstreams()).toEqual([{ ip: '127.64.0.1', port: 8080 }]);
    const before = controller.rebuilds;
    inf.endpoints.set({ metadata: { name: 'unrelated', namespace: 'default' }, subsets: [] });
    await flush();
    expect(controller.rebuilds).toBe(before);
  });

  it('records Sync once per generation of a served Ingress', async () => {
    const { inf, events, controller } = setup();
    controller.start();
    inf.ingresses.set(web());
    inf.ingresses.set({ ...web(), metadata: { ...web().metadata, resourceVersion: '2' } });
    inf.ingresses.set(web({}, 2));
    inf.ingresses.set({ ...web({ ingressClassName: 'other' }, 3), metadata: { ...web().metadata, name: 'theirs', uid: 'u2' } });
    expect(events).toEqual([
      { name: 'web', type: 'Normal', reason: 'Sync', message: 'Scheduled for sync' },
      { name: 'web', type: 'Normal', reason: 'Sync', message: 'Scheduled for sync' },
    ]);
  });

  it('an unusable TLS Secret is one Warning event; fixing it clears the problem', async () => {
    const { inf, events, controller, certs } = setup();
    inf.ingresses.set(web({ tls: [{ hosts: ['a.test'], secretName: 'bad' }] }));
    inf.secrets.set({ metadata: { name: 'bad', namespace: 'default', resourceVersion: '1' }, data: { 'tls.crt': Buffer.from('garbage') } });
    controller.start();
    controller.rebuild();
    await flush();
    const warnings = events.filter((e) => e.type === 'Warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ name: 'web', reason: 'InvalidTLSSecret' });
    expect(warnings[0].message).toMatch(/no tls.key/);
    // Rebuilding with the same problem reports nothing new.
    controller.rebuild();
    expect(events.filter((e) => e.type === 'Warning')).toHaveLength(1);
    const good = makeCertificate('a.test', ['a.test']);
    inf.secrets.set({ metadata: { name: 'bad', namespace: 'default', resourceVersion: '2' }, data: { 'tls.crt': Buffer.from(good.cert), 'tls.key': Buffer.from(good.key) } });
    await flush();
    expect(certs.has('a.test')).toBe(true);
    expect(events.filter((e) => e.type === 'Warning')).toHaveLength(1);
  });
});
