/**
 * Name resolution for node processes in pods (loaded with `node --require dns-preload.js`).
 *
 * A container is a host process, so getaddrinfo reads the host's /etc/resolv.conf and /etc/hosts,
 * not the pod's. When KUBEMU_RESOLV_CONF names the pod's resolv.conf (written by the kubelet),
 * this replaces dns.lookup and dns.promises.lookup — and with them http.get, net.connect and
 * fetch by name — with a stub resolver that behaves like glibc's for that file:
 *
 * - the pod's hosts file (KUBEMU_HOSTS_FILE) first, exact names, case-insensitive;
 *   then `localhost` and IP literals directly;
 * - the search list and ndots as res_nsearch applies them (see `lookupCandidates`);
 * - queries through a dns.Resolver pointed at the file's nameservers (KUBEMU_DNS_SERVER=ip:port[,…]
 *   overrides them: resolv.conf has no port syntax, tests use it to reach a server on a high port);
 *   `options timeout:n attempts:n` honoured;
 * - a name that is under none of the search domains and that the cluster DNS answers NXDOMAIN or
 *   REFUSED for (it forwards nothing, or has no upstream) is handed to the original lookup, so a
 *   host name such as `example.com` still resolves the way the host resolves it.
 *
 * Without KUBEMU_RESOLV_CONF nothing changes. Standalone: Node built-ins only.
 */
// The module object itself (not an import namespace, whose properties are read-only getters): its lookup is replaced.
import dns = require('dns');
import * as fs from 'fs';
import * as net from 'net';

/** What the stub resolver uses of a resolv.conf. */
export interface ResolvConf {
  nameservers: string[];
  search: string[];
  ndots: number;
  /** Seconds per query attempt (glibc default 5). */
  timeout: number;
  /** Tries per nameserver (glibc default 2). */
  attempts: number;
}

/**
 * Parses a resolv.conf as glibc does: `nameserver` lines accumulate (at most 3, as glibc's
 * MAXNS), the last `search` or `domain` line wins, `options` set ndots (capped at 15),
 * timeout and attempts. Comments start with # or ;. Never throws.
 */
export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = { nameservers: [], search: [], ndots: 1, timeout: 5, attempts: 2 };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...values] = line.split(/\s+/);
    if (key === 'nameserver' && values[0] && net.isIP(values[0]) && conf.nameservers.length < 3) conf.nameservers.push(values[0]);
    else if (key === 'search') conf.search = values.map((v) => v.replace(/\.$/, '')).filter((v) => v !== '');
    else if (key === 'domain' && values[0]) conf.search = [values[0].replace(/\.$/, '')];
    else if (key === 'options') {
      for (const opt of values) {
        const m = /^(ndots|timeout|attempts):(\d+)$/.exec(opt);
        if (!m) continue;
        const n = Number(m[2]);
        if (m[1] === 'ndots') conf.ndots = Math.min(n, 15);
        else if (m[1] === 'timeout') conf.timeout = Math.max(1, Math.min(n, 30));
        else conf.attempts = Math.max(1, Math.min(n, 5));
      }
    }
  }
  return conf;
}

/**
 * The names res_nsearch queries for `name`, in order. A trailing dot makes the name absolute: only
 * itself. A name with at least `ndots` dots is tried as is first, then with each search suffix; one
 * with fewer dots tries the suffixes first and itself last. Empty and `.`-only names give [].
 * Pure.
 */
export function lookupCandidates(name: string, search: readonly string[], ndots: number): string[] {
  if (name === '' || /^\.+$/.test(name)) return [];
  if (name.endsWith('.')) return [name.slice(0, -1)];
  const dots = (name.match(/\./g) ?? []).length;
  const searched = search.filter((s) => s !== '' && s !== '.').map((s) => `${name}.${s.replace(/\.$/, '')}`);
  return dots >= ndots ? [name, ...searched] : [...searched, name];
}

/** A hosts file's entries: lower-cased name → its addresses in file order. Never throws. */
export function parseHosts(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const [ip, ...names] = raw.replace(/#.*$/, '').trim().split(/\s+/);
    if (!ip || !net.isIP(ip)) continue;
    for (const n of names) {
      const key = n.toLowerCase().replace(/\.$/, '');
      const list = out.get(key) ?? [];
      if (!list.includes(ip)) list.push(ip);
      out.set(key, list);
    }
  }
  return out;
}

/** Whether `name` (no trailing dot) is a search domain or lies under one: the cluster DNS is authoritative for it. */
export function underSearchDomain(name: string, search: readonly string[]): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  return search.some((s) => {
    const d = s.toLowerCase().replace(/\.$/, '');
    return d !== '' && (n === d || n.endsWith(`.${d}`));
  });
}

interface LookupAddress {
  address: string;
  family: number;
}
type LookupCallback = (err: NodeJS.ErrnoException | null, address?: string | LookupAddress[], family?: number) => void;
interface LookupOptions {
  family?: number | string;
  all?: boolean;
  hints?: number;
  verbatim?: boolean;
}

function lookupError(code: string, hostname: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException & { hostname?: string } = new Error(`getaddrinfo ${code} ${hostname}`);
  err.code = code;
  err.syscall = 'getaddrinfo';
  err.hostname = hostname;
  return err;
}

function familyOf(options: LookupOptions): 0 | 4 | 6 {
  const f = options.family;
  return f === 4 || f === 'IPv4' ? 4 : f === 6 || f === 'IPv6' ? 6 : 0;
}

/** Reads the pod's files again when they change (glibc re-reads resolv.conf too). */
class FileCache<T> {
  private stamp = '';
  private value: T;
  constructor(
    private readonly file: string | undefined,
    private readonly parse: (text: string) => T,
    private readonly empty: T,
  ) {
    this.value = empty;
  }
  get(): T {
    if (!this.file) return this.empty;
    try {
      const st = fs.statSync(this.file);
      const stamp = `${st.mtimeMs}/${st.size}/${st.ino}`;
      if (stamp !== this.stamp) {
        this.value = this.parse(fs.readFileSync(this.file, 'utf8'));
        this.stamp = stamp;
      }
    } catch {
      // A file gone missing: keep what was read last (or nothing), never crash the program.
    }
    return this.value;
  }
}

/** Parses KUBEMU_DNS_SERVER: "ip:port,ip:port" (IPv6 as [addr]:port); malformed entries are skipped. */
function serverOverride(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => {
      const m = /^\[([^\]]+)\](?::\d+)?$/.exec(s) ?? /^([^:]+)(?::\d+)?$/.exec(s);
      return !!m && net.isIP(m[1]) !== 0;
    });
}

/**
 * Replaces dns.lookup and dns.promises.lookup with the pod's resolver. `resolvConf` and
 * `hostsFile` are host paths; `serverOverride` (ip:port list) replaces the file's nameservers.
 * Returns a function restoring the originals. Not meant to be installed twice.
 */
export function installPodResolver(opts: { resolvConf: string; hostsFile?: string; servers?: string }): () => void {
  const original = dns.lookup;
  const originalPromise = dns.promises.lookup;
  const conf = new FileCache(opts.resolvConf, parseResolvConf, undefined as ResolvConf | undefined);
  const hosts = new FileCache(opts.hostsFile, parseHosts, new Map<string, string[]>());
  const override = serverOverride(opts.servers);

  // One resolver (c-ares channel) per version of the file, not one per lookup.
  let cached: { conf: ResolvConf; resolver: dns.Resolver } | undefined;
  const resolverFor = (c: ResolvConf): dns.Resolver => {
    if (cached?.conf === c) return cached.resolver;
    const resolver = new dns.Resolver({ timeout: c.timeout * 1000, tries: c.attempts });
    resolver.setServers(override.length > 0 ? override : c.nameservers);
    cached = { conf: c, resolver };
    return resolver;
  };
  const query = (r: dns.Resolver, name: string, family: 4 | 6): Promise<string[]> =>
    new Promise((resolve, reject) => {
      const done = (err: NodeJS.ErrnoException | null, addrs: string[]) => (err ? reject(err) : resolve(addrs));
      if (family === 4) r.resolve4(name, done);
      else r.resolve6(name, done);
    });

  /** One name as getaddrinfo would answer it from the pod's files and nameservers. */
  const resolveName = async (hostname: string, family: 0 | 4 | 6): Promise<LookupAddress[] | 'fallback'> => {
    const c = conf.get();
    if (!c) return 'fallback';
    const bare = hostname.replace(/\.$/, '');
    const fromHosts = (hosts.get().get(bare.toLowerCase()) ?? []).filter((ip) => family === 0 || net.isIP(ip) === family);
    if (fromHosts.length > 0) return fromHosts.map((address) => ({ address, family: net.isIP(address) }));
    if (bare.toLowerCase() === 'localhost') return family === 6 ? [{ address: '::1', family: 6 }] : [{ address: '127.0.0.1', family: 4 }];
    if (c.nameservers.length === 0 && override.length === 0) return 'fallback';
    const r = resolverFor(c);
    let servfail = false;
    let stopped: string | undefined;
    search: for (const candidate of lookupCandidates(hostname, c.search, c.ndots)) {
      // The cluster is IPv4 only: AAAA is asked only for IPv6 lookups or when the name has no A.
      for (const f of family === 6 ? [6 as const] : family === 4 ? [4 as const] : [4 as const, 6 as const]) {
        try {
          const addrs = await query(r, candidate, f);
          if (addrs.length > 0) return addrs.map((address) => ({ address, family: f }));
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? 'ENOTFOUND';
          // As res_nsearch: NXDOMAIN and NODATA move on to the next name, SERVFAIL too (remembered);
          // anything else (a timeout, no server) ends the search. Unlike glibc, REFUSED moves on too:
          // cluster-dns refuses the names it does not forward (a search suffix of the node's, say),
          // which says nothing about the next candidate.
          if (code === 'ENODATA') continue;
          if (code === 'ENOTFOUND' || code === 'EREFUSED') break;
          if (code === 'ESERVFAIL') {
            servfail = true;
            break;
          }
          stopped = code;
          break search;
        }
      }
    }
    const authoritative = underSearchDomain(bare, c.search);
    if (stopped === undefined && !servfail && !authoritative) return 'fallback';
    throw lookupError(stopped === undefined && !servfail ? 'ENOTFOUND' : 'EAI_AGAIN', hostname);
  };

  const lookup = (hostname: string, options: unknown, callback?: unknown): void => {
    let cb = callback as LookupCallback;
    let o: LookupOptions = {};
    if (typeof options === 'function') cb = options as LookupCallback;
    else if (typeof options === 'number') o = { family: options };
    else if (options && typeof options === 'object') o = options as LookupOptions;
    if (typeof cb !== 'function') return (original as Function).call(dns, hostname, options, callback);
    const family = familyOf(o);
    // Empty names, IP literals and non-strings: the original's behaviour (and its errors) is right.
    if (typeof hostname !== 'string' || hostname === '' || net.isIP(hostname)) return (original as Function).call(dns, hostname, options, callback);
    resolveName(hostname, family).then(
      (result) => {
        if (result === 'fallback') return (original as Function).call(dns, hostname, options, callback);
        if (o.all) return process.nextTick(cb, null, result);
        process.nextTick(cb, null, result[0].address, result[0].family);
      },
      (err: NodeJS.ErrnoException) => process.nextTick(cb, err),
    );
  };
  // util.promisify(dns.lookup) must keep resolving to { address, family }.
  Object.defineProperty(lookup, Symbol.for('nodejs.util.promisify.custom'), {
    value: (hostname: string, options?: unknown) => promiseLookup(hostname, options),
  });
  const promiseLookup = (hostname: string, options?: unknown): Promise<unknown> =>
    new Promise((resolve, reject) =>
      lookup(hostname, options ?? {}, (err: NodeJS.ErrnoException | null, address?: string | LookupAddress[], family?: number) => {
        if (err) return reject(err);
        resolve(Array.isArray(address) ? address : { address, family });
      }),
    );

  (dns as { lookup: unknown }).lookup = lookup;
  (dns.promises as { lookup: unknown }).lookup = promiseLookup;
  return () => {
    (dns as { lookup: unknown }).lookup = original;
    (dns.promises as { lookup: unknown }).lookup = originalPromise;
  };
}

if (process.env.KUBEMU_RESOLV_CONF) {
  installPodResolver({ resolvConf: process.env.KUBEMU_RESOLV_CONF, hostsFile: process.env.KUBEMU_HOSTS_FILE || undefined, servers: process.env.KUBEMU_DNS_SERVER });
}
