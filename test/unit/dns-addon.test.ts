/**
 * cluster-dns as an addon: its settings (KUBEMU_CLUSTER_DNS, KUBEMU_DNS_PUBLISH) and the
 * kube-dns Service it ensures. Registration against a real apiserver is in
 * test/integration/cluster-dns-addon.test.ts.
 */
import { kubeDnsService, publishSettingsFromEnv } from '../../services/cluster-dns/addon';

describe('cluster-dns addon - settings', () => {
  const table: [string, NodeJS.ProcessEnv, ReturnType<typeof publishSettingsFromEnv> | RegExp][] = [
    ['nothing set: no publishing', {}, { publish: false, clusterIP: undefined, clusterDnsIPs: [] }],
    ['KUBEMU_CLUSTER_DNS alone turns publishing on', { KUBEMU_CLUSTER_DNS: '127.128.0.10' }, { publish: true, clusterIP: '127.128.0.10', clusterDnsIPs: ['127.128.0.10'] }],
    ['KUBEMU_DNS_PUBLISH=false keeps it off', { KUBEMU_CLUSTER_DNS: '127.128.0.10', KUBEMU_DNS_PUBLISH: 'false' }, { publish: false, clusterIP: '127.128.0.10', clusterDnsIPs: ['127.128.0.10'] }],
    ['several addresses: the first is the ClusterIP', { KUBEMU_CLUSTER_DNS: ' 127.128.0.10 ,127.128.0.11' }, { publish: true, clusterIP: '127.128.0.10', clusterDnsIPs: ['127.128.0.10', '127.128.0.11'] }],
    ['KUBEMU_DNS_PUBLISH=true without KUBEMU_CLUSTER_DNS', { KUBEMU_DNS_PUBLISH: 'true' }, /needs KUBEMU_CLUSTER_DNS/],
    ['a name instead of an address', { KUBEMU_CLUSTER_DNS: 'kube-dns' }, /KUBEMU_CLUSTER_DNS must list IPv4/],
    ['a bad KUBEMU_DNS_PUBLISH', { KUBEMU_CLUSTER_DNS: '127.128.0.10', KUBEMU_DNS_PUBLISH: 'yes' }, /KUBEMU_DNS_PUBLISH must be true or false/],
  ];
  it.each(table)('%s', (_name, env, want) => {
    if (want instanceof RegExp) expect(() => publishSettingsFromEnv(env)).toThrow(want);
    else expect(publishSettingsFromEnv(env)).toEqual(want);
  });
});

describe('cluster-dns addon - kube-dns Service', () => {
  it('kubeadm labels, no selector, the fixed ClusterIP, dns/UDP and dns-tcp/TCP on 53 aimed at the listen port', () => {
    const svc = kubeDnsService('127.128.0.10', 1053);
    expect(svc.metadata).toMatchObject({
      name: 'kube-dns',
      namespace: 'kube-system',
      labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true', 'kubernetes.io/name': 'CoreDNS', 'addonmanager.kubernetes.io/mode': 'Reconcile' },
    });
    expect(svc.spec?.selector).toBeUndefined();
    expect(svc.spec).toMatchObject({ type: 'ClusterIP', clusterIP: '127.128.0.10', clusterIPs: ['127.128.0.10'] });
    expect(svc.spec?.ports).toEqual([
      { name: 'dns', protocol: 'UDP', port: 53, targetPort: 1053 },
      { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 1053 },
    ]);
  });
});
