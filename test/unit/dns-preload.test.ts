/**
 * The pods' DNS preload: which names it queries for a lookup (glibc's res_nsearch order), and how
 * it reads resolv.conf and hosts files. The resolver itself is exercised against the real cluster
 * DNS in test/integration/cluster-dns-addon.test.ts.
 */
import { lookupCandidates, parseHosts, parseResolvConf, underSearchDomain } from '../../services/container-runtime/images/programs/dns-preload';

const SEARCH = ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'];

describe('dns preload - lookupCandidates (search list and ndots as glibc)', () => {
  const table: [string, string, readonly string[], number, string[]][] = [
    ['a short name tries the search suffixes first, then itself', 'web', SEARCH, 5, ['web.default.svc.cluster.local', 'web.svc.cluster.local', 'web.cluster.local', 'web']],
    ['<svc>.<ns> as well (1 dot < ndots 5)', 'web.other', SEARCH, 5, ['web.other.default.svc.cluster.local', 'web.other.svc.cluster.local', 'web.other.cluster.local', 'web.other']],
    [
      'a full Service name has 4 dots < 5: still searched first',
      'web.default.svc.cluster.local',
      SEARCH,
      5,
      ['web.default.svc.cluster.local.default.svc.cluster.local', 'web.default.svc.cluster.local.svc.cluster.local', 'web.default.svc.cluster.local.cluster.local', 'web.default.svc.cluster.local'],
    ],
    ['as many dots as ndots: itself first, then the suffixes', 'a.b.c.d.e.f', ['x.y'], 5, ['a.b.c.d.e.f', 'a.b.c.d.e.f.x.y']],
    ['ndots 1 (glibc default): a dotted name is tried as is first', 'example.com', SEARCH, 1, ['example.com', ...SEARCH.map((s) => `example.com.${s}`)]],
    ['ndots 0: even a single label is tried as is first', 'web', ['a'], 0, ['web', 'web.a']],
    ['a trailing dot is absolute: only the name', 'web.default.svc.cluster.local.', SEARCH, 5, ['web.default.svc.cluster.local']],
    ['no search list: the name alone', 'web', [], 5, ['web']],
    ['search entries with trailing dots and "." are normalised', 'web', ['corp.example.', '.'], 5, ['web.corp.example', 'web']],
    ['empty names: nothing', '', SEARCH, 5, []],
    ['a lone dot: nothing', '.', SEARCH, 5, []],
  ];
  it.each(table)('%s', (_name, name, search, ndots, want) => expect(lookupCandidates(name, search, ndots)).toEqual(want));
});

describe('dns preload - files', () => {
  it('parseResolvConf: nameservers (at most 3, IPs only), last search/domain wins, options ndots/timeout/attempts, comments', () => {
    expect(
      parseResolvConf(
        '# pod\nnameserver 127.128.0.10\nnameserver bogus\nnameserver 1.1.1.1 ; x\nnameserver 2.2.2.2\nnameserver 3.3.3.3\ndomain corp\nsearch ns.svc.cluster.local. svc.cluster.local\noptions ndots:5 timeout:1 attempts:3 rotate\n',
      ),
    ).toEqual({ nameservers: ['127.128.0.10', '1.1.1.1', '2.2.2.2'], search: ['ns.svc.cluster.local', 'svc.cluster.local'], ndots: 5, timeout: 1, attempts: 3 });
    expect(parseResolvConf('')).toEqual({ nameservers: [], search: [], ndots: 1, timeout: 5, attempts: 2 });
    expect(parseResolvConf('options ndots:99\n').ndots).toBe(15);
  });

  it('parseHosts: names case-insensitive, every address in file order, comments and bad lines skipped', () => {
    const h = parseHosts('# managed\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.64.0.7\tWeb-0.web.ns.svc.cluster.local\tweb-0 # pod\nnot-an-ip foo\n');
    expect(h.get('localhost')).toEqual(['127.0.0.1', '::1']);
    expect(h.get('web-0.web.ns.svc.cluster.local')).toEqual(['127.64.0.7']);
    expect(h.get('web-0')).toEqual(['127.64.0.7']);
    expect(h.has('foo')).toBe(false);
  });

  it('underSearchDomain: the cluster DNS is authoritative for names under the search domains only', () => {
    expect(underSearchDomain('nope.default.svc.cluster.local', SEARCH)).toBe(true);
    expect(underSearchDomain('Cluster.Local.', SEARCH)).toBe(true);
    expect(underSearchDomain('example.com', SEARCH)).toBe(false);
    expect(underSearchDomain('notcluster.local', SEARCH)).toBe(false);
  });
});
