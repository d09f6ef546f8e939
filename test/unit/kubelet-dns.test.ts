/**
 * The pod's resolv.conf and hosts file as the kubelet forms them (pkg/kubelet/network/dns and
 * managedHostsFileContent): dnsPolicy semantics, dnsConfig merging, limits and their events.
 */
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import {
  clusterDnsFromEnv,
  DnsConfig,
  effectiveDnsPolicy,
  formatResolvConf,
  parseResolvConf,
  podDnsConfig,
  podHostnameAndDomain,
  podHostsFile,
} from '../../services/kubelet/dns';
import { withDnsFiles } from '../../services/kubelet/kubelet';

const HOST: DnsConfig = { servers: ['10.255.255.53', '8.8.8.8'], searches: ['corp.example'], options: ['timeout:2'] };
const CLUSTER = { clusterDNS: ['127.128.0.10'], clusterDomain: 'cluster.local', host: HOST };
const CLUSTER_SEARCH = ['ns1.svc.cluster.local', 'svc.cluster.local', 'cluster.local'];

function pod(spec: Pod['spec'] = {}, name = 'p'): Pod {
  return { metadata: { name, namespace: 'ns1', uid: 'u1' }, spec: { containers: [{ name: 'c' }], ...spec } };
}

describe('kubelet dns - parseResolvConf', () => {
  it('accumulates nameservers, last search and options win, comments skipped, trailing dots dropped', () => {
    expect(parseResolvConf('# x\nnameserver 1.1.1.1\nsearch a.b. c\nnameserver 2.2.2.2\nsearch d.e.\noptions ndots:2\noptions rotate\nnameserver\n')).toEqual({
      servers: ['1.1.1.1', '2.2.2.2'],
      searches: ['d.e'],
      options: ['rotate'],
    });
  });
});

describe('kubelet dns - dnsPolicy', () => {
  const table: [string, Pod['spec'], ReturnType<typeof effectiveDnsPolicy>][] = [
    ['default is ClusterFirst', {}, 'cluster'],
    ['ClusterFirst', { dnsPolicy: 'ClusterFirst' }, 'cluster'],
    ['ClusterFirst on the host network falls back to Default', { dnsPolicy: 'ClusterFirst', hostNetwork: true }, 'host'],
    ['ClusterFirstWithHostNet', { dnsPolicy: 'ClusterFirstWithHostNet', hostNetwork: true }, 'cluster'],
    ['Default', { dnsPolicy: 'Default' }, 'host'],
    ['None', { dnsPolicy: 'None' }, 'none'],
    ['unknown falls back to ClusterFirst', { dnsPolicy: 'Bogus' }, 'cluster'],
  ];
  it.each(table)('%s', (_name, spec, want) => expect(effectiveDnsPolicy(pod(spec))).toBe(want));
});

describe('kubelet dns - podDnsConfig', () => {
  const table: [string, Pod['spec'], Parameters<typeof podDnsConfig>[1], DnsConfig, string[]][] = [
    ['ClusterFirst: cluster DNS, cluster search + host search, ndots:5', {}, CLUSTER, { servers: ['127.128.0.10'], searches: [...CLUSTER_SEARCH, 'corp.example'], options: ['ndots:5'] }, []],
    [
      'ClusterFirst with several cluster DNS addresses and a host search duplicating a cluster one',
      {},
      { ...CLUSTER, clusterDNS: ['127.128.0.10', '127.128.0.11'], host: { ...HOST, searches: ['cluster.local', 'corp.example'] } },
      { servers: ['127.128.0.10', '127.128.0.11'], searches: [...CLUSTER_SEARCH, 'corp.example'], options: ['ndots:5'] },
      [],
    ],
    ['ClusterFirst without cluster DNS behaves as Default, with MissingClusterDNS', {}, { ...CLUSTER, clusterDNS: [] }, HOST, ['MissingClusterDNS', 'MissingClusterDNS']],
    ['ClusterFirst on the host network: the host config', { hostNetwork: true }, CLUSTER, HOST, []],
    ['ClusterFirstWithHostNet: cluster config', { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }, CLUSTER, { servers: ['127.128.0.10'], searches: [...CLUSTER_SEARCH, 'corp.example'], options: ['ndots:5'] }, []],
    ['Default: the host config', { dnsPolicy: 'Default' }, CLUSTER, HOST, []],
    ['Default without a host resolv.conf: 127.0.0.1 and search "."', { dnsPolicy: 'Default' }, { ...CLUSTER, host: undefined }, { servers: ['127.0.0.1'], searches: ['.'], options: [] }, []],
    [
      'None: only dnsConfig',
      { dnsPolicy: 'None', dnsConfig: { nameservers: ['1.2.3.4'], searches: ['my.dns.search.suffix'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] } },
      CLUSTER,
      { servers: ['1.2.3.4'], searches: ['my.dns.search.suffix'], options: ['ndots:2', 'edns0'] },
      [],
    ],
    [
      'ClusterFirst + dnsConfig: appended without duplicates, options replaced by name',
      { dnsConfig: { nameservers: ['1.2.3.4', '127.128.0.10'], searches: ['svc.cluster.local', 'extra.example'], options: [{ name: 'ndots', value: '1' }, { name: 'single-request-reopen' }] } },
      CLUSTER,
      { servers: ['127.128.0.10', '1.2.3.4'], searches: [...CLUSTER_SEARCH, 'corp.example', 'extra.example'], options: ['ndots:1', 'single-request-reopen'] },
      [],
    ],
    [
      'more than 3 nameservers: trimmed with DNSConfigForming',
      { dnsConfig: { nameservers: ['1.1.1.1', '2.2.2.2', '3.3.3.3'] } },
      CLUSTER,
      { servers: ['127.128.0.10', '1.1.1.1', '2.2.2.2'], searches: [...CLUSTER_SEARCH, 'corp.example'], options: ['ndots:5'] },
      ['DNSConfigForming'],
    ],
    [
      'empty cluster domain: no cluster search paths',
      {},
      { ...CLUSTER, clusterDomain: '' },
      { servers: ['127.128.0.10'], searches: ['corp.example'], options: ['ndots:5'] },
      [],
    ],
  ];
  it.each(table)('%s', (_name, spec, opts, want, reasons) => {
    const { config, events } = podDnsConfig(pod(spec), opts);
    expect(config).toEqual(want);
    expect(events.map((e) => e.reason)).toEqual(reasons);
  });

  it('MissingClusterDNS: Kubernetes message, on the node and on the pod', () => {
    const { events } = podDnsConfig(pod({}), { ...CLUSTER, clusterDNS: [] });
    expect(events[0]).toEqual({
      type: 'Warning',
      reason: 'MissingClusterDNS',
      onNode: true,
      message: 'kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.',
    });
    expect(events[1].onNode).toBeFalsy();
    expect(events[1].message).toMatch(/^pod: "p_ns1\(u1\)"\. kubelet does not have ClusterDNS IP configured/);
  });

  it('more than 32 search paths: the first 32 kept, DNSConfigForming names the applied line', () => {
    const searches = Array.from({ length: 40 }, (_, i) => `s${i}.example`);
    const { config, events } = podDnsConfig(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches } }), CLUSTER);
    expect(config.searches).toEqual(searches.slice(0, 32));
    expect(events).toEqual([expect.objectContaining({ reason: 'DNSConfigForming', message: `Search Line limits were exceeded, some search paths have been omitted, the applied search line is: ${searches.slice(0, 32).join(' ')}` })]);
  });

  it('a search line over 2048 characters loses paths from its end; paths over 253 characters are dropped', () => {
    const long = 'x'.repeat(200);
    const searches = Array.from({ length: 12 }, (_, i) => `${i}${long}`); // 12 × 202 = 2423 characters with spaces
    const { config, events } = podDnsConfig(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches: [...searches, 'y'.repeat(254)] } }), CLUSTER);
    expect(config.searches).toEqual(searches.slice(0, 10));
    expect(config.searches.join(' ').length).toBeLessThanOrEqual(2048);
    expect(events.map((e) => e.reason)).toEqual(['DNSConfigForming']);
  });
});

describe('kubelet dns - formatResolvConf', () => {
  it('search, nameservers, options, as containerd writes them', () => {
    expect(formatResolvConf({ servers: ['127.128.0.10'], searches: CLUSTER_SEARCH, options: ['ndots:5'] })).toBe(
      'search ns1.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.128.0.10\noptions ndots:5\n',
    );
    expect(formatResolvConf({ servers: ['1.1.1.1'], searches: [], options: [] })).toBe('nameserver 1.1.1.1\n');
  });
});

describe('kubelet dns - hostname and hosts file', () => {
  it('hostname from spec.hostname, else the pod name cut to 63 characters; domain from the subdomain', () => {
    expect(podHostnameAndDomain(pod({ hostname: 'web-0', subdomain: 'web' }), 'cluster.local')).toEqual({ hostname: 'web-0', domain: 'web.ns1.svc.cluster.local' });
    expect(podHostnameAndDomain(pod({}, 'plain'), 'cluster.local')).toEqual({ hostname: 'plain', domain: undefined });
    const name = `${'a'.repeat(62)}-bbbb`;
    expect(podHostnameAndDomain(pod({}, name), 'cluster.local').hostname).toBe('a'.repeat(62));
  });

  it('managed hosts file: localhost lines, the pod IP with FQDN and hostname, hostAliases', () => {
    const text = podHostsFile({
      podIPs: ['127.64.0.7'],
      hostname: 'web-0',
      domain: 'web.ns1.svc.cluster.local',
      hostAliases: [{ ip: '127.0.0.1', hostnames: ['foo.local', 'bar.local'] }, { ip: '10.1.2.3', hostnames: ['foo.remote'] }],
    });
    expect(text).toBe(
      '# Kubernetes-managed hosts file.\n' +
        '127.0.0.1\tlocalhost\n' +
        '::1\tlocalhost ip6-localhost ip6-loopback\n' +
        'fe00::0\tip6-localnet\n' +
        'fe00::0\tip6-mcastprefix\n' +
        'fe00::1\tip6-allnodes\n' +
        'fe00::2\tip6-allrouters\n' +
        '127.64.0.7\tweb-0.web.ns1.svc.cluster.local\tweb-0\n' +
        '\n# Entries added by HostAliases.\n' +
        '127.0.0.1\tfoo.local\tbar.local\n' +
        '10.1.2.3\tfoo.remote\n',
    );
  });

  it('without a subdomain, the pod IP names the hostname alone; host network copies the node file', () => {
    expect(podHostsFile({ podIPs: ['127.64.0.8'], hostname: 'p' })).toMatch(/\n127\.64\.0\.8\tp\n$/);
    expect(podHostsFile({ podIPs: [], hostname: 'p', hostNetwork: true, hostHosts: '127.0.0.1 localhost\n', hostAliases: [{ ip: '1.2.3.4', hostnames: ['a'] }] })).toBe(
      '# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n\n# Entries added by HostAliases.\n1.2.3.4\ta\n',
    );
  });
});

describe('kubelet dns - environment and container wiring', () => {
  it('KUBEMU_CLUSTER_DNS and KUBEMU_CLUSTER_DOMAIN', () => {
    expect(clusterDnsFromEnv({})).toEqual({ clusterDNS: [], clusterDomain: 'cluster.local' });
    expect(clusterDnsFromEnv({ KUBEMU_CLUSTER_DNS: '127.128.0.10, 127.128.0.11', KUBEMU_CLUSTER_DOMAIN: 'corp.' })).toEqual({ clusterDNS: ['127.128.0.10', '127.128.0.11'], clusterDomain: 'corp' });
    expect(() => clusterDnsFromEnv({ KUBEMU_CLUSTER_DNS: 'dns.example' })).toThrow(/KUBEMU_CLUSTER_DNS/);
  });

  it('withDnsFiles mounts the files at /etc/resolv.conf and /etc/hosts and names them in the env; a container mount there wins', () => {
    const files = { resolvConf: '/pods/u/resolv.conf', hosts: '/pods/u/etc-hosts' };
    const plain = withDnsFiles([{ container_path: '/data', host_path: '/v/data', readonly: false, volume_name: 'data' }], [{ key: 'A', value: '1' }], files);
    expect(plain.mounts.map((m) => [m.container_path, m.host_path, m.readonly])).toEqual([
      ['/data', '/v/data', false],
      ['/etc/resolv.conf', '/pods/u/resolv.conf', true],
      ['/etc/hosts', '/pods/u/etc-hosts', true],
    ]);
    expect(plain.envs).toEqual([
      { key: 'A', value: '1' },
      { key: 'KUBEMU_RESOLV_CONF', value: '/pods/u/resolv.conf' },
      { key: 'KUBEMU_HOSTS_FILE', value: '/pods/u/etc-hosts' },
    ]);
    const own = withDnsFiles([{ container_path: '/etc/resolv.conf', host_path: '/v/cm/resolv.conf', readonly: true, volume_name: 'cm' }], [], files);
    expect(own.mounts.map((m) => m.container_path)).toEqual(['/etc/resolv.conf', '/etc/hosts']);
    expect(own.envs[0]).toEqual({ key: 'KUBEMU_RESOLV_CONF', value: '/v/cm/resolv.conf' });
    expect(withDnsFiles([], [], undefined)).toEqual({ mounts: [], envs: [] });
  });
});
