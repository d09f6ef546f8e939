/**
 * cluster-dns as a cluster addon: pods reach it at the fixed ClusterIP of the `kube-system/kube-dns`
 * Service (what the kubelets write into every pod's resolv.conf), and kube-proxy carries that
 * address to the replicas. The replicas are host processes, not pods, so the Service has no
 * selector: each replica registers its own listen address in the Service's Endpoints (see
 * services/lib/addon.ts), as the apiservers do in the kubernetes Service.
 */
import * as net from 'net';
import { ApiClient } from '../lib/apiclient';
import { AddonEndpoints, ADDON_LABELS, ensureAddonService } from '../lib/addon';
import { Service } from '../lib/generated/kubemu/core/v1/core';
import { Logger } from '../lib/log';

export const KUBE_DNS_NAMESPACE = 'kube-system';
export const KUBE_DNS_NAME = 'kube-dns';
/** The labels of CoreDNS's kube-dns Service (kubeadm's and the addon manifests'). */
export const KUBE_DNS_LABELS: Record<string, string> = {
  'k8s-app': 'kube-dns',
  'kubernetes.io/cluster-service': 'true',
  'kubernetes.io/name': 'CoreDNS',
};

/** How (and whether) this replica publishes itself, from its environment. */
export interface PublishSettings {
  publish: boolean;
  /** The kube-dns Service's ClusterIP (the first address of KUBEMU_CLUSTER_DNS). */
  clusterIP?: string;
  /** Every address of KUBEMU_CLUSTER_DNS: never upstreams (forwarding to them would loop back to us). */
  clusterDnsIPs: string[];
}

/**
 * Reads KUBEMU_CLUSTER_DNS (comma-separated IPv4 addresses; the first is the Service's ClusterIP)
 * and KUBEMU_DNS_PUBLISH ("true"/"false"; default true when KUBEMU_CLUSTER_DNS is set). Throws
 * Error for a malformed address, for a KUBEMU_DNS_PUBLISH other than true/false, and for publishing
 * asked without a cluster DNS address. Pure.
 */
export function publishSettingsFromEnv(env: NodeJS.ProcessEnv): PublishSettings {
  const ips = (env.KUBEMU_CLUSTER_DNS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const ip of ips) if (!net.isIPv4(ip)) throw new Error(`KUBEMU_CLUSTER_DNS must list IPv4 addresses, got "${ip}"`);
  const setting = (env.KUBEMU_DNS_PUBLISH ?? '').trim().toLowerCase();
  if (setting !== '' && setting !== 'true' && setting !== 'false') throw new Error(`KUBEMU_DNS_PUBLISH must be true or false, got "${env.KUBEMU_DNS_PUBLISH}"`);
  const publish = setting === '' ? ips.length > 0 : setting === 'true';
  if (publish && ips.length === 0) throw new Error('KUBEMU_DNS_PUBLISH=true needs KUBEMU_CLUSTER_DNS (the kube-dns Service ClusterIP, e.g. 127.128.0.10)');
  return { publish, clusterIP: ips[0], clusterDnsIPs: ips };
}

/**
 * The kube-dns Service as kubeadm creates it: no selector, the fixed `clusterIP`, ports dns 53/UDP
 * and dns-tcp 53/TCP whose targetPort is the replicas' real listen port (kube-proxy forwards
 * 53 → `targetPort`; the Endpoints carry the same port). Pure.
 */
export function kubeDnsService(clusterIP: string, targetPort: number): Service {
  return {
    metadata: { name: KUBE_DNS_NAME, namespace: KUBE_DNS_NAMESPACE, labels: { ...ADDON_LABELS, ...KUBE_DNS_LABELS } },
    spec: {
      type: 'ClusterIP',
      clusterIP,
      clusterIPs: [clusterIP],
      ports: [
        { name: 'dns', protocol: 'UDP', port: 53, targetPort },
        { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort },
      ],
    },
  };
}

/**
 * Ensures the kube-dns Service and registers this replica (`host`:`port`, UDP and TCP) in its
 * Endpoints, re-asserting it periodically. Returns the registration, whose `stop()` removes the
 * replica again (call it on SIGTERM, before the listeners close). Throws when the Service cannot be
 * created (e.g. the ClusterIP is outside the apiserver's service range or held by another Service)
 * or the first registration fails. An existing kube-dns Service with another ClusterIP is kept (a
 * user's edit wins) and logged: pods then use an address nobody forwards to us.
 */
export async function publishClusterDns(
  client: ApiClient,
  opts: { clusterIP: string; host: string; port: number; componentId: string; log: Logger; resyncMs?: number },
): Promise<AddonEndpoints> {
  const { clusterIP, port, log } = opts;
  const svc = await ensureAddonService(client, kubeDnsService(clusterIP, port), log);
  if (svc.spec?.clusterIP !== clusterIP) {
    log.warn('kube-dns Service exists with another ClusterIP; pods configured with KUBEMU_CLUSTER_DNS will not reach us', { want: clusterIP, have: svc.spec?.clusterIP });
  }
  // A wildcard listener is reachable on loopback; the Endpoints need one concrete address.
  const ip = opts.host === '0.0.0.0' || opts.host === '' ? '127.0.0.1' : opts.host;
  const registration = new AddonEndpoints(client, {
    namespace: KUBE_DNS_NAMESPACE,
    name: KUBE_DNS_NAME,
    ip,
    ports: [
      { name: 'dns', port, protocol: 'UDP' },
      { name: 'dns-tcp', port, protocol: 'TCP' },
    ],
    hostname: opts.componentId,
    labels: KUBE_DNS_LABELS,
    log,
    resyncMs: opts.resyncMs,
  });
  await registration.start();
  return registration;
}
