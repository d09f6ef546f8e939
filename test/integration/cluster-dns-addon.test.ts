/**
 * cluster-dns as an addon, against a real etcd, nats-server and apiserver (service range
 * 127.131.0.0/16): the process creates the kube-system/kube-dns Service with the fixed ClusterIP of
 * KUBEMU_CLUSTER_DNS, registers its listen address in the Service's Endpoints, and removes it on
 * SIGTERM. A node process started with the pods' DNS preload and a resolv.conf naming the cluster
 * DNS (reached directly through KUBEMU_DNS_SERVER, no kube-proxy) resolves Service names, short
 * names through the search list, hosts-file names and host names.
 */
import { execFile } from 'child_process';
import { promises as dnsPromises } from 'dns';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ApiClient } from '../../services/lib/apiclient';
import { Endpoints, Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { ClusterDns, makeTempDir, removeTempDir, startClusterDns } from '../harness';
import { waitFor } from '../harness/wait';
import { startTestApiServer, TestApiServer } from '../contract/env';

jest.setTimeout(60000);

const SERVICE = resourceForCase('service');
const ENDPOINTS = resourceForCase('endpoints');
const DIST = path.join(__dirname, '../../dist/services');
const CLUSTER_DNS_IP = '127.131.0.10';
const WEB_IP = '127.131.0.20';

let env: TestApiServer;
let client: ApiClient;
let tmp: string;
let dns: ClusterDns | undefined;
let dnsPort: number;

beforeAll(async () => {
  env = await startTestApiServer({ KUBEMU_SERVICE_CIDR: '127.131.0.0/16' });
  client = new ApiClient([env.address]);
  tmp = makeTempDir('cluster-dns-addon');
  await client.create(SERVICE, {
    metadata: { name: 'web', namespace: 'default' },
    spec: { type: 'ClusterIP', clusterIP: WEB_IP, selector: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] },
  });
  dns = await startClusterDns({ apiservers: [env.address], natsUrls: env.natsUrls, clusterDNS: CLUSTER_DNS_IP, timeoutMs: 20000 });
  dnsPort = dns.port;
});

afterAll(async () => {
  await dns?.stop();
  client?.close();
  await env?.stop();
  if (tmp) removeTempDir(tmp);
});

/** Runs `script` in a node process with the DNS preload and `extraEnv`; returns its stdout parsed as JSON. */
function runWithPreload(script: string, extraEnv: Record<string, string>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--require', path.join(DIST, 'container-runtime/images/programs/dns-preload.js'), '-e', script],
      { env: { PATH: process.env.PATH ?? '', ...extraEnv }, timeout: 20000 },
      (err, stdout, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(JSON.parse(stdout))),
    );
  });
}

describe('cluster-dns addon - self-registration', () => {
  it('creates kube-system/kube-dns with the fixed ClusterIP, no selector, and dns/dns-tcp ports aimed at its listen port', async () => {
    // The addon registers itself after it is healthy; on a loaded machine that may be a moment later.
    const svc: Service = await waitFor('the kube-dns Service', () => client.tryGet(SERVICE, 'kube-system', 'kube-dns'), 10000);
    expect(svc.spec?.clusterIP).toBe(CLUSTER_DNS_IP);
    expect(svc.spec?.selector ?? {}).toEqual({});
    expect(svc.metadata?.labels).toMatchObject({ 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true', 'kubernetes.io/name': 'CoreDNS' });
    expect((svc.spec?.ports ?? []).map((p) => [p.name, p.protocol, p.port, Number(p.targetPort)])).toEqual([
      ['dns', 'UDP', 53, dnsPort],
      ['dns-tcp', 'TCP', 53, dnsPort],
    ]);
  });

  it('registers its listen address in the kube-dns Endpoints', async () => {
    const ep: Endpoints = await waitFor('kube-dns endpoints', () => client.tryGet(ENDPOINTS, 'kube-system', 'kube-dns'), 10000);
    expect(ep.subsets).toHaveLength(1);
    expect(ep.subsets![0].addresses).toEqual([expect.objectContaining({ ip: '127.0.0.1', hostname: 'cluster-dns-0' })]);
    expect((ep.subsets![0].ports ?? []).map((p) => `${p.name}/${p.port}/${p.protocol}`).sort()).toEqual([`dns-tcp/${dnsPort}/TCP`, `dns/${dnsPort}/UDP`]);
  });
});

describe('cluster-dns addon - a pod process resolves through it', () => {
  it('Service FQDN, short name through the search list, hosts file, localhost and IP literals', async () => {
    const resolvConf = path.join(tmp, 'resolv.conf');
    // corp.example: a node search path outside the zone, which this cluster-dns (no upstream) refuses.
    fs.writeFileSync(resolvConf, `nameserver ${CLUSTER_DNS_IP}\nsearch default.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n`);
    const hosts = path.join(tmp, 'hosts');
    fs.writeFileSync(hosts, `127.0.0.1\tlocalhost\n127.64.0.7\tmypod.sub.default.svc.cluster.local\tmypod\n127.64.0.8\tfoo.alias bar\n`);
    const script = `
      const dns = require('dns');
      const names = ['web.default.svc.cluster.local', 'web', 'web.default', 'kube-dns.kube-system', 'mypod', 'bar', 'localhost', '127.9.9.9', 'nope', 'web.default.svc.cluster.local.', 'nope.default.svc.cluster.local', ${JSON.stringify(os.hostname())}];
      Promise.all(names.map((n) => dns.promises.lookup(n, { family: 4 }).then((r) => r.address, (e) => e.code))).then((r) => {
        const out = {};
        names.forEach((n, i) => (out[n] = r[i]));
        process.stdout.write(JSON.stringify(out));
      });`;
    const out = await runWithPreload(script, { KUBEMU_RESOLV_CONF: resolvConf, KUBEMU_HOSTS_FILE: hosts, KUBEMU_DNS_SERVER: `127.0.0.1:${dnsPort}` });
    // The host's own name: the cluster DNS refuses it (no upstream here), so the host resolver answers it.
    const hostAnswer = await dnsPromises.lookup(os.hostname(), { family: 4 }).then((r) => r.address, (e: NodeJS.ErrnoException) => e.code);
    expect(out).toEqual({
      'web.default.svc.cluster.local': WEB_IP,
      web: WEB_IP,
      'web.default': WEB_IP,
      'kube-dns.kube-system': CLUSTER_DNS_IP,
      mypod: '127.64.0.7',
      bar: '127.64.0.8',
      localhost: '127.0.0.1',
      '127.9.9.9': '127.9.9.9',
      nope: 'ENOTFOUND',
      'web.default.svc.cluster.local.': WEB_IP,
      // Under the cluster domain: the cluster DNS's NXDOMAIN is final, no host fallback.
      'nope.default.svc.cluster.local': 'ENOTFOUND',
      [os.hostname()]: hostAnswer,
    });
  });

  it('http.get by Service name reaches the ClusterIP address (connection refused there proves the name was resolved)', async () => {
    const resolvConf = path.join(tmp, 'resolv.conf');
    const script = `
      require('http').get('http://web:1/', () => {}).on('error', (e) => process.stdout.write(JSON.stringify({ code: e.code, address: e.address })));`;
    const out = await runWithPreload(script, { KUBEMU_RESOLV_CONF: resolvConf, KUBEMU_DNS_SERVER: `127.0.0.1:${dnsPort}` });
    expect(out).toEqual({ code: 'ECONNREFUSED', address: WEB_IP });
  });
});

describe('cluster-dns addon - shutdown', () => {
  it('removes its address from the Endpoints on SIGTERM and exits 0', async () => {
    expect((await dns!.stop())?.code).toBe(0);
    const ep: Endpoints | undefined = await client.tryGet(ENDPOINTS, 'kube-system', 'kube-dns');
    expect(ep?.subsets ?? []).toEqual([]);
    // The Service stays: it belongs to the cluster, not to one replica.
    await expect(client.get(SERVICE, 'kube-system', 'kube-dns')).resolves.toBeTruthy();
    expect(dns!.logs(Infinity)).not.toMatch(/"level":"error"/);
  });
});
