/**
 * A pod's name resolution files, as the kubelet makes them (pkg/kubelet/network/dns/dns.go for
 * resolv.conf, managedHostsFileContent in pkg/kubelet/kubelet_pods.go for /etc/hosts). Pure
 * functions: the kubelet writes what they return into the pod's folder and mounts the files at
 * /etc/resolv.conf and /etc/hosts of every container.
 */
import * as net from 'net';
import { HostAlias, Pod } from '../lib/generated/kubemu/core/v1/core';

/** What a resolv.conf says (the CRI's DNSConfig). */
export interface DnsConfig {
  servers: string[];
  searches: string[];
  /** `name` or `name:value`. */
  options: string[];
}

/** An event the kubelet records while forming the config; `onNode` ones go to the Node too. */
export interface DnsEvent {
  type: 'Warning';
  reason: 'DNSConfigForming' | 'MissingClusterDNS';
  message: string;
  onNode?: boolean;
}

export interface DnsConfigurerOptions {
  /** The cluster DNS addresses (KUBEMU_CLUSTER_DNS); empty: ClusterFirst falls back to Default. */
  clusterDNS: readonly string[];
  /** The cluster domain (KUBEMU_CLUSTER_DOMAIN); empty: no cluster search paths. */
  clusterDomain: string;
  /** The node's resolver config (its /etc/resolv.conf, parsed); undefined when the kubelet has none. */
  host: DnsConfig | undefined;
}

/** Kubernetes' limits (validation.MaxDNSNameservers, MaxDNSSearchPathsExpanded, MaxDNSSearchListCharsExpanded). */
export const MAX_DNS_NAMESERVERS = 3;
export const MAX_DNS_SEARCH_PATHS = 32;
export const MAX_DNS_SEARCH_LIST_CHARS = 2048;
/** Longer search paths make glibc abort(); the kubelet drops them. */
const MAX_SEARCH_PATH_LENGTH = 253;
const DEFAULT_OPTIONS = ['ndots:5'];

/**
 * Parses a resolv.conf as the kubelet does: `nameserver` lines accumulate, the last `search` line
 * wins (trailing dots dropped), the last `options` line wins. `#` comment lines are skipped.
 * Never throws.
 */
export function parseResolvConf(text: string): DnsConfig {
  const out: DnsConfig = { servers: [], searches: [], options: [] };
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('#')) continue;
    const fields = trimmed.split(/\s+/).filter(Boolean);
    if (fields[0] === 'nameserver' && fields.length >= 2) out.servers.push(fields[1]);
    else if (fields[0] === 'search') out.searches = fields.slice(1).map((s) => s.replace(/\.$/, ''));
    else if (fields[0] === 'options') out.options = fields.slice(1);
  }
  return out;
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}

/** Options merged by name; the pod's dnsConfig options replace same-named ones. Order: first appearance. */
function mergeOptions(existing: readonly string[], podOptions: readonly { name?: string; value?: string }[]): string[] {
  const byName = new Map<string, string>();
  for (const op of existing) {
    const i = op.indexOf(':');
    byName.set(i === -1 ? op : op.slice(0, i), i === -1 ? '' : op.slice(i + 1));
  }
  for (const op of podOptions) if (op.name) byName.set(op.name, op.value ?? '');
  return [...byName].map(([name, value]) => (value ? `${name}:${value}` : name));
}

/** The policy that applies (getPodDNSType): ClusterFirst on the host network means Default. */
export function effectiveDnsPolicy(pod: Pod): 'cluster' | 'host' | 'none' {
  const policy = pod.spec?.dnsPolicy || 'ClusterFirst';
  if (policy === 'None') return 'none';
  if (policy === 'ClusterFirstWithHostNet') return 'cluster';
  if (policy === 'Default') return 'host';
  if (policy === 'ClusterFirst') return pod.spec?.hostNetwork ? 'host' : 'cluster';
  // The apiserver rejects other values; the kubelet falls back to ClusterFirst, as Kubernetes' does.
  return 'cluster';
}

function fitSearches(searches: string[], events: DnsEvent[]): string[] {
  let exceeded = false;
  let list = searches;
  if (list.length > MAX_DNS_SEARCH_PATHS) {
    list = list.slice(0, MAX_DNS_SEARCH_PATHS);
    exceeded = true;
  }
  const short = list.filter((s) => s.length <= MAX_SEARCH_PATH_LENGTH);
  if (short.length !== list.length) exceeded = true;
  list = short;
  const total = list.join(' ').length;
  if (total > MAX_DNS_SEARCH_LIST_CHARS) {
    // Drop paths from the end until the line fits.
    let cut = 0;
    let n = 0;
    for (let i = list.length - 1; i >= 0; i--) {
      cut += list[i].length + 1;
      n++;
      if (total - cut <= MAX_DNS_SEARCH_LIST_CHARS) break;
    }
    list = list.slice(0, list.length - n);
    exceeded = true;
  }
  if (exceeded) {
    events.push({ type: 'Warning', reason: 'DNSConfigForming', message: `Search Line limits were exceeded, some search paths have been omitted, the applied search line is: ${list.join(' ')}` });
  }
  return list;
}

function fitServers(servers: string[], events: DnsEvent[]): string[] {
  if (servers.length <= MAX_DNS_NAMESERVERS) return servers;
  const kept = servers.slice(0, MAX_DNS_NAMESERVERS);
  events.push({ type: 'Warning', reason: 'DNSConfigForming', message: `Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: ${kept.join(' ')}` });
  return kept;
}

/**
 * The pod's DNS config (Kubernetes' GetPodDNS), and the events to record:
 * - ClusterFirst (the default; hostNetwork pods fall back to Default) and ClusterFirstWithHostNet:
 *   the cluster DNS addresses only, search `<ns>.svc.<domain> svc.<domain> <domain>` + the
 *   host's search paths (duplicates dropped), `options ndots:5`. Without cluster DNS: Default,
 *   with the MissingClusterDNS warning (on the pod and the node).
 * - Default: the host's resolver config; with no host config, `nameserver 127.0.0.1` and search `.`.
 * - None: nothing but the pod's dnsConfig.
 * Then the pod's dnsConfig is merged in (nameservers and searches appended without duplicates,
 * options replaced by name), and the limits applied: 3 nameservers, 32 search paths / 2048
 * characters, paths over 253 characters dropped, each trim reported as DNSConfigForming. Pure.
 */
export function podDnsConfig(pod: Pod, opts: DnsConfigurerOptions): { config: DnsConfig; events: DnsEvent[] } {
  const events: DnsEvent[] = [];
  const host = opts.host;
  let config: DnsConfig = { servers: [...(host?.servers ?? [])], searches: [...(host?.searches ?? [])], options: [...(host?.options ?? [])] };
  let policy = effectiveDnsPolicy(pod);
  if (policy === 'cluster' && opts.clusterDNS.length === 0) {
    const message = `kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`;
    const meta = pod.metadata ?? {};
    events.push({ type: 'Warning', reason: 'MissingClusterDNS', message, onNode: true });
    events.push({ type: 'Warning', reason: 'MissingClusterDNS', message: `pod: "${meta.name}_${meta.namespace}(${meta.uid})". ${message}` });
    policy = 'host';
  }
  if (policy === 'none') {
    config = { servers: [], searches: [], options: [] };
  } else if (policy === 'cluster') {
    const ns = pod.metadata?.namespace || 'default';
    const domain = opts.clusterDomain;
    config = {
      servers: [...opts.clusterDNS],
      searches: domain ? unique([`${ns}.svc.${domain}`, `svc.${domain}`, domain, ...config.searches]) : config.searches,
      options: [...DEFAULT_OPTIONS],
    };
  } else if (!host) {
    // No resolver config: "the nameserver on the local machine", and no search.
    config = { servers: ['127.0.0.1'], searches: ['.'], options: [] };
  }
  const podConfig = pod.spec?.dnsConfig;
  if (podConfig) {
    config = {
      servers: unique([...config.servers, ...(podConfig.nameservers ?? [])]),
      searches: unique([...config.searches, ...(podConfig.searches ?? [])]),
      options: mergeOptions(config.options, podConfig.options ?? []),
    };
  }
  return { config: { ...config, servers: fitServers(config.servers, events), searches: fitSearches(config.searches, events) }, events };
}

/** The resolv.conf text of `config`, as containerd writes it: search, nameservers, options. Pure. */
export function formatResolvConf(config: DnsConfig): string {
  let out = '';
  if (config.searches.length > 0) out += `search ${config.searches.join(' ')}\n`;
  for (const s of config.servers) out += `nameserver ${s}\n`;
  if (config.options.length > 0) out += `options ${config.options.join(' ')}\n`;
  return out;
}

/**
 * The pod's hostname and domain (GeneratePodHostNameAndDomain): spec.hostname, else the pod name
 * cut to 63 characters (without a trailing '-' or '.'); the domain `<subdomain>.<ns>.svc.<domain>`
 * when spec.subdomain is set. Pure.
 */
export function podHostnameAndDomain(pod: Pod, clusterDomain: string): { hostname: string; domain?: string } {
  let hostname = pod.spec?.hostname || pod.metadata?.name || '';
  if (hostname.length > 63) hostname = hostname.slice(0, 63).replace(/[-.]+$/, '');
  const sub = pod.spec?.subdomain;
  return { hostname, domain: sub ? `${sub}.${pod.metadata?.namespace || 'default'}.svc.${clusterDomain}` : undefined };
}

function hostAliasLines(aliases: readonly HostAlias[] | undefined): string {
  const usable = (aliases ?? []).filter((a) => a.ip && (a.hostnames ?? []).length > 0);
  if (usable.length === 0) return '';
  return '\n# Entries added by HostAliases.\n' + usable.map((a) => `${a.ip}\t${(a.hostnames ?? []).join('\t')}\n`).join('');
}

/**
 * The pod's /etc/hosts (the kubelet's managed hosts file): the localhost and IPv6 lines, each pod
 * IP with `<hostname>.<domain>` and `<hostname>` (just the hostname without a subdomain), then the
 * hostAliases. A hostNetwork pod gets the node's hosts file (`hostHosts`) and its hostAliases. Pure.
 */
export function podHostsFile(input: { podIPs: readonly string[]; hostname: string; domain?: string; hostAliases?: readonly HostAlias[]; hostNetwork?: boolean; hostHosts?: string }): string {
  if (input.hostNetwork) return '# Kubernetes-managed hosts file (host network).\n' + (input.hostHosts ?? '') + hostAliasLines(input.hostAliases);
  let out =
    '# Kubernetes-managed hosts file.\n' +
    '127.0.0.1\tlocalhost\n' +
    '::1\tlocalhost ip6-localhost ip6-loopback\n' +
    'fe00::0\tip6-localnet\n' +
    'fe00::0\tip6-mcastprefix\n' +
    'fe00::1\tip6-allnodes\n' +
    'fe00::2\tip6-allrouters\n';
  for (const ip of input.podIPs) out += input.domain ? `${ip}\t${input.hostname}.${input.domain}\t${input.hostname}\n` : `${ip}\t${input.hostname}\n`;
  return out + hostAliasLines(input.hostAliases);
}

/**
 * The kubelet's DNS settings from its environment: KUBEMU_CLUSTER_DNS (comma-separated IPs, may be
 * empty), KUBEMU_CLUSTER_DOMAIN (default cluster.local). Throws Error for an entry that is not an
 * IP address. Pure.
 */
export function clusterDnsFromEnv(env: NodeJS.ProcessEnv): { clusterDNS: string[]; clusterDomain: string } {
  const clusterDNS = (env.KUBEMU_CLUSTER_DNS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const ip of clusterDNS) if (!net.isIP(ip)) throw new Error(`KUBEMU_CLUSTER_DNS must list IP addresses, got "${ip}"`);
  const clusterDomain = (env.KUBEMU_CLUSTER_DOMAIN ?? '').trim().replace(/\.$/, '') || 'cluster.local';
  return { clusterDNS, clusterDomain };
}
