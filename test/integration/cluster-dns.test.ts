/**
 * cluster-dns against a real etcd, nats-server and apiserver: informers in process, the DNS
 * server on a free UDP/TCP port on 127.0.0.1, queried with Node's dns.Resolver (c-ares), over raw
 * TCP, and with dig when the machine has it. Answers follow the watch: a Service created or
 * deleted is visible within a second.
 */
import { execFile, execFileSync } from 'child_process';
import { promises as dnsPromises } from 'dns';
import * as net from 'net';
import { promisify } from 'util';
import { NatsConnection } from 'nats';
import { ApiClient } from '../../services/lib/apiclient';
import { Endpoints, Pod, Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { Informer } from '../../services/lib/informer';
import { logger } from '../../services/lib/log';
import { resourceForCase } from '../../services/lib/resources';
import { connectBus } from '../../services/lib/watchbus';
import { decodeMessage, emptyHeader, encodeMessage, optRecord, Rcode, RRClass, RRType } from '../../services/cluster-dns/message';
import { ClusterDnsResolver, DNS_INDEXERS } from '../../services/cluster-dns/records';
import { DnsServer } from '../../services/cluster-dns/server';
import { ExitStatus, startClusterDns } from '../harness';
import { waitFor } from '../harness/wait';
import { startTestApiServer, TestApiServer } from '../contract/env';

jest.setTimeout(60000);

const SERVICE = resourceForCase('service');
const ENDPOINTS = resourceForCase('endpoints');
const POD = resourceForCase('pod');
const NS = 'default';
const log = logger('cluster-dns-test');

let env: TestApiServer;
let client: ApiClient;
let nc: NatsConnection;
let informers: Informer<'service' | 'endpoints' | 'pod'>[] = [];
let server: DnsServer;
let resolver: dnsPromises.Resolver;
/** The web Service's ClusterIP as the apiserver stored it (ours, allocated, or none). */
let webIP: string | undefined;
let podIP: string | undefined;

const execFileAsync = promisify(execFile);
const until = <T>(what: string, probe: () => Promise<T | undefined>, ms = 10000) => waitFor(what, probe, ms, { intervalMs: 50 });

/** Creates a Service asking for `clusterIP`; when the apiserver refuses that address, lets it allocate (or not). */
async function createService(svc: Service): Promise<Service> {
  try {
    return await client.create(SERVICE, svc);
  } catch (err) {
    if (!svc.spec?.clusterIP || svc.spec.clusterIP === 'None') throw err;
    log.info('apiserver refused the requested clusterIP; letting it allocate', { err: (err as Error).message });
    return client.create(SERVICE, { ...svc, spec: { ...svc.spec, clusterIP: undefined, clusterIPs: undefined } });
  }
}

function errCode(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (err: NodeJS.ErrnoException) => String(err.code),
  );
}

beforeAll(async () => {
  env = await startTestApiServer();
  client = new ApiClient([env.address]);
  nc = await connectBus(env.natsUrls, 'cluster-dns-test');

  const web = await createService({
    metadata: { name: 'web', namespace: NS },
    spec: { type: 'ClusterIP', clusterIP: '127.96.0.10', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] },
  });
  webIP = web.spec?.clusterIP && web.spec.clusterIP !== 'None' ? web.spec.clusterIP : undefined;
  await client.create(SERVICE, { metadata: { name: 'db', namespace: NS }, spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ name: 'pg', port: 5432, protocol: 'TCP', targetPort: 5432 }] } });
  await client.create(SERVICE, { metadata: { name: 'ext', namespace: NS }, spec: { type: 'ExternalName', externalName: 'example.com' } });
  const ep: Endpoints = {
    metadata: { name: 'db', namespace: NS },
    subsets: [{ addresses: [{ ip: '127.1.0.5', hostname: 'db-0' }, { ip: '127.1.0.6', hostname: 'db-1' }], ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] }],
  };
  await client.create(ENDPOINTS, ep);
  const pod = await client.create(POD, { metadata: { name: 'p1', namespace: NS }, spec: { containers: [{ name: 'c', image: 'busybox' }] } as Pod['spec'] });
  try {
    const withIP = await client.updateStatus(POD, { ...pod, status: { ...pod.status, phase: 'Running', podIP: '127.1.0.9', podIPs: [{ ip: '127.1.0.9' }] } });
    podIP = withIP.status?.podIP;
  } catch (err) {
    log.info('could not set the pod IP; the pod A check is skipped', { err: (err as Error).message });
  }

  const services = new Informer({ client, nats: nc, info: SERVICE, indexers: DNS_INDEXERS.services, log });
  const endpoints = new Informer({ client, nats: nc, info: ENDPOINTS, indexers: DNS_INDEXERS.endpoints, log });
  const pods = new Informer({ client, nats: nc, info: POD, indexers: DNS_INDEXERS.pods, log });
  informers = [services, endpoints, pods] as never;
  await Promise.all([services.start(), endpoints.start(), pods.start()]);
  server = new DnsServer({ resolver: new ClusterDnsResolver({ services, endpoints, pods }, { pods: 'verified' }), host: '127.0.0.1', port: 0, log });
  await server.start();
  resolver = new dnsPromises.Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([server.address]);
});

afterAll(async () => {
  await server?.stop();
  for (const i of informers) await i.stop();
  await nc?.close();
  client?.close();
  await env?.stop();
});

describe('cluster-dns - Node resolver over UDP', () => {
  it('ClusterIP Service A (or NODATA while the apiserver allocates none)', async () => {
    if (webIP) await expect(resolver.resolve4('web.default.svc.cluster.local')).resolves.toEqual([webIP]);
    else await expect(errCode(resolver.resolve4('web.default.svc.cluster.local'))).resolves.toBe('ENODATA');
  });

  it('headless Service A: every ready endpoint; StatefulSet pod hostname', async () => {
    expect((await resolver.resolve4('db.default.svc.cluster.local')).sort()).toEqual(['127.1.0.5', '127.1.0.6']);
    await expect(resolver.resolve4('db-1.db.default.svc.cluster.local')).resolves.toEqual(['127.1.0.6']);
  });

  it('SRV for named ports', async () => {
    const srv = await resolver.resolveSrv('_pg._tcp.db.default.svc.cluster.local');
    expect(srv.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'db-0.db.default.svc.cluster.local', port: 5432, priority: 0, weight: 50 },
      { name: 'db-1.db.default.svc.cluster.local', port: 5432, priority: 0, weight: 50 },
    ]);
    if (webIP) {
      await expect(resolver.resolveSrv('_http._tcp.web.default.svc.cluster.local')).resolves.toEqual([
        { name: 'web.default.svc.cluster.local', port: 80, priority: 0, weight: 100 },
      ]);
    }
  });

  it('ExternalName → CNAME', async () => {
    await expect(resolver.resolveCname('ext.default.svc.cluster.local')).resolves.toEqual(['example.com']);
  });

  it('pod A record', async () => {
    if (!podIP) return;
    await expect(resolver.resolve4(`${podIP.replace(/\./g, '-')}.default.pod.cluster.local`)).resolves.toEqual([podIP]);
  });

  it('NXDOMAIN, NODATA, REFUSED, and case-insensitivity', async () => {
    await expect(errCode(resolver.resolve4('nope.default.svc.cluster.local'))).resolves.toBe('ENOTFOUND');
    await expect(errCode(resolver.resolve6('db.default.svc.cluster.local'))).resolves.toBe('ENODATA');
    await expect(errCode(resolver.resolve4('example.com'))).resolves.toBe('EREFUSED');
    await expect(errCode(resolver.resolve4('127-1-0-77.default.pod.cluster.local'))).resolves.toBe('ENOTFOUND');
    expect((await resolver.resolve4('DB.Default.SVC.cluster.LOCAL')).sort()).toEqual(['127.1.0.5', '127.1.0.6']);
  });

  it('PTR for a ClusterIP and a headless endpoint', async () => {
    await expect(resolver.reverse('127.1.0.6')).resolves.toEqual(['db-1.db.default.svc.cluster.local']);
    if (!webIP) return;
    await expect(resolver.reverse(webIP)).resolves.toEqual(['web.default.svc.cluster.local']);
  });

  it('answers follow the watch: a new Service resolves, a deleted one is NXDOMAIN', async () => {
    await client.create(SERVICE, { metadata: { name: 'late', namespace: NS }, spec: { type: 'ExternalName', externalName: 'late.example.com' } });
    const t0 = Date.now();
    await until('late to exist', async () => ((await errCode(resolver.resolveCname('late.default.svc.cluster.local'))) === 'ok' ? true : undefined), 5000);
    const appeared = Date.now() - t0;
    await client.delete(SERVICE, NS, 'late');
    await until('late to be gone', async () => ((await errCode(resolver.resolve4('late.default.svc.cluster.local'))) === 'ENOTFOUND' ? true : undefined), 5000);
    log.info('watch latency', { appearedMs: appeared });
    expect(appeared).toBeLessThan(2000);
  });
});

describe('cluster-dns - TCP and dig', () => {
  it('answers over TCP with length framing, two queries on one connection', async () => {
    const q = (id: number, name: string) =>
      encodeMessage({ header: { ...emptyHeader(id), rd: true }, questions: [{ name, type: RRType.A, class: RRClass.IN }], answers: [], authority: [], additional: [optRecord(4096)] });
    const frames = [q(1, 'db.default.svc.cluster.local.'), q(2, 'nope.default.svc.cluster.local.')].map((b) => {
      const f = Buffer.alloc(b.length + 2);
      f.writeUInt16BE(b.length);
      b.copy(f, 2);
      return f;
    });
    const sock = net.connect(server.port, '127.0.0.1');
    const replies: Buffer[] = [];
    let pending = Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => {
      sock.on('error', reject);
      sock.on('connect', () => sock.write(Buffer.concat(frames)));
      sock.on('data', (chunk) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
          replies.push(pending.subarray(2, 2 + pending.readUInt16BE(0)));
          pending = pending.subarray(2 + pending.readUInt16BE(0));
        }
        if (replies.length === 2) resolve();
      });
    });
    sock.destroy();
    const [a, b] = replies.map(decodeMessage);
    expect(a.header.id).toBe(1);
    expect(a.header.aa).toBe(true);
    expect(a.answers).toHaveLength(2);
    expect(b.header.id).toBe(2);
    expect(b.header.rcode).toBe(Rcode.NXDOMAIN);
    expect(b.authority[0].type).toBe(RRType.SOA);
  });

  const hasDig = (() => {
    try {
      execFileSync('dig', ['-v'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  (hasDig ? it : it.skip)('dig answers over UDP and TCP', async () => {
    // Asynchronous: the server answering runs in this process, so a blocking execFileSync would starve it.
    const dig = async (...args: string[]) => (await execFileAsync('dig', [`@127.0.0.1`, '-p', String(server.port), '+short', ...args], { encoding: 'utf8' })).stdout.trim();
    expect(await dig('db-0.db.default.svc.cluster.local')).toBe('127.1.0.5');
    expect(await dig('+tcp', 'db-0.db.default.svc.cluster.local')).toBe('127.1.0.5');
    expect((await dig('SRV', '_pg._tcp.db.default.svc.cluster.local')).split('\n').sort()).toEqual([
      '0 50 5432 db-0.db.default.svc.cluster.local.',
      '0 50 5432 db-1.db.default.svc.cluster.local.',
    ]);
  });
});

describe('cluster-dns - the process', () => {
  it('main.js serves DNS on KUBEMU_DNS_LISTEN, reports SERVING, and exits 0 on SIGTERM', async () => {
    const dns = await startClusterDns({ apiservers: [env.address], natsUrls: env.natsUrls, timeoutMs: 20000 });
    let exit: ExitStatus | undefined;
    try {
      const r = new dnsPromises.Resolver({ timeout: 2000, tries: 2 });
      r.setServers([dns.address]);
      expect((await r.resolve4('db.default.svc.cluster.local')).sort()).toEqual(['127.1.0.5', '127.1.0.6']);
      await expect(r.resolve4('127-9-9-9.default.pod.cluster.local')).resolves.toEqual(['127.9.9.9']);
      await expect(errCode(r.resolve4('example.com'))).resolves.toBe('EREFUSED');
    } finally {
      exit = await dns.stop();
    }
    expect(exit?.code).toBe(0);
    expect(dns.logs(Infinity)).not.toMatch(/"level":"error"/);
  });
});
