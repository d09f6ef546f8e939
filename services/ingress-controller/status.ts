/**
 * Ingress status, ingress-nginx's --publish-service way: every Ingress the controller serves
 * carries the controller Service's LoadBalancer address in status.loadBalancer.ingress; Ingresses
 * it stops serving lose it. Pure functions; the controller writes what they return.
 */
import { Service } from '../lib/generated/kubemu/core/v1/core';
import { Ingress, IngressLoadBalancerIngress } from '../lib/generated/kubemu/networking/v1/networking';
import { ADDON_LABELS } from '../lib/addon';

/**
 * The Service the controller publishes itself through: type LoadBalancer, no selector (the
 * controller registers its own address in the Endpoints), port 80 to the HTTP listener and 443 to
 * the HTTPS listener, as ingress-nginx's ingress-nginx-controller Service.
 */
export function controllerService(namespace: string, name: string, httpPort: number, httpsPort: number): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace,
      labels: { ...ADDON_LABELS, 'app.kubernetes.io/name': 'ingress-nginx', 'app.kubernetes.io/component': 'controller' },
    },
    spec: {
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Cluster',
      ports: [
        { name: 'http', port: 80, protocol: 'TCP', targetPort: httpPort, appProtocol: 'http' },
        { name: 'https', port: 443, protocol: 'TCP', targetPort: httpsPort, appProtocol: 'https' },
      ],
    },
  };
}

/** The address to publish: the Service's first LoadBalancer ingress IP (or hostname), else `fallbackIP`. */
export function publishedAddress(service: Service | undefined, fallbackIP: string): IngressLoadBalancerIngress {
  const lb = service?.status?.loadBalancer?.ingress?.[0];
  if (lb?.ip) return { ip: lb.ip };
  if (lb?.hostname) return { hostname: lb.hostname };
  return { ip: fallbackIP };
}

function same(a: IngressLoadBalancerIngress[], b: IngressLoadBalancerIngress[]): boolean {
  return a.length === b.length && a.every((x, i) => (x.ip ?? '') === (b[i].ip ?? '') && (x.hostname ?? '') === (b[i].hostname ?? '') && !(x.ports?.length));
}

/**
 * What status.loadBalancer.ingress of `ing` should become, or undefined when it is right already.
 * Served: exactly [`address`]. Not served: the current list without any entry naming one of
 * `ours` (addresses this controller has published); untouched when there is none (another
 * controller's address stays).
 */
export function desiredLoadBalancer(ing: Ingress, served: boolean, address: IngressLoadBalancerIngress, ours: IngressLoadBalancerIngress[]): IngressLoadBalancerIngress[] | undefined {
  const current = ing.status?.loadBalancer?.ingress ?? [];
  if (served) {
    const want = [address.ip ? { ip: address.ip } : { hostname: address.hostname }];
    return same(current, want) ? undefined : want;
  }
  const isOurs = (x: IngressLoadBalancerIngress) => ours.some((o) => (o.ip && o.ip === x.ip) || (o.hostname && o.hostname === x.hostname));
  const kept = current.filter((x) => !isOurs(x));
  return kept.length === current.length ? undefined : kept;
}

type LoadBalancerIngress = NonNullable<NonNullable<NonNullable<Service['status']>['loadBalancer']>['ingress']>[number];

/**
 * What status.loadBalancer.ingress of the controller Service should become so that kube-proxy
 * leaves its IPs to us (KEP-1860): every entry with an ip gets ipMode "Proxy" (hostname-only
 * entries cannot carry one and stay as they are). Undefined when nothing is to change: not a
 * LoadBalancer Service, no IP entry, or all already Proxy.
 */
export function proxyModeIngress(service: Service | undefined): LoadBalancerIngress[] | undefined {
  if (service?.spec?.type !== 'LoadBalancer') return undefined;
  const current = service.status?.loadBalancer?.ingress ?? [];
  if (!current.some((i) => i?.ip && i.ipMode !== 'Proxy')) return undefined;
  return current.map((i) => (i?.ip ? { ...i, ipMode: 'Proxy' } : i));
}

/** One address the controller serves as the load balancer of its Service. */
export interface LoadBalancerAddress {
  ip: string;
  port: number;
  /** HTTPS (TLS terminated here) rather than plain HTTP. */
  secure: boolean;
}

/**
 * The addresses the controller listens on as its Service's load balancer: each ingress IP whose
 * ipMode is "Proxy" (so that no kube-proxy serves it) × each TCP Service port, HTTPS for the port
 * named `https` (or, unnamed, port 443), HTTP for the others. Empty for anything but a
 * LoadBalancer Service. Sorted and deduplicated; never throws on a malformed Service.
 */
export function loadBalancerAddresses(service: Service | undefined): LoadBalancerAddress[] {
  if (service?.spec?.type !== 'LoadBalancer') return [];
  const ips = (service.status?.loadBalancer?.ingress ?? []).filter((i) => i?.ipMode === 'Proxy' && /^\d{1,3}(\.\d{1,3}){3}$/.test(i.ip ?? '')).map((i) => i.ip!);
  const validPort = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 65536;
  const ports = (service.spec.ports ?? []).flatMap((p) => (p && (!p.protocol || p.protocol === 'TCP') && validPort(p.port) ? [{ name: p.name ?? '', port: p.port }] : []));
  const out = new Map<string, LoadBalancerAddress>();
  for (const ip of ips) {
    for (const p of ports) {
      const secure = p.name === 'https' || (!p.name && p.port === 443);
      out.set(`${ip}:${p.port}`, { ip, port: p.port, secure });
    }
  }
  return [...out.values()].sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}
