/**
 * Pods' name resolution end to end, with real processes: etcd, nats-server, apiserver (service
 * range 127.132.0.0/16), container runtime, kubelet (KUBEMU_CLUSTER_DNS=127.132.0.10) and
 * cluster-dns publishing itself. No kube-proxy: the pods reach cluster-dns through
 * KUBEMU_DNS_SERVER (set in the pod's env), and the target is a headless Service, whose name
 * resolves straight to the backend pod's IP.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { ApiClient } from '../../services/lib/apiclient';
import { Event, Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { LABEL_POD_UID, RuntimeClient } from '../../services/kubelet/runtime';
import { startTestApiServer, TestApiServer } from '../contract/env';
import { ClusterDns, makeTempDir, removeTempDir, startClusterDns } from '../harness';
import { startKubelet, Kubelet } from '../harness/kubelet';
import { startRuntime, Runtime } from '../harness/runtime';
import { waitFor as waitUntil } from '../harness/wait';

jest.setTimeout(90000);

const POD = resourceForCase('pod');
const SERVICE = resourceForCase('service');
const ENDPOINTS = resourceForCase('endpoints');
const EVENT = resourceForCase('event');
const NS = 'default';
const CLUSTER_DNS_IP = '127.132.0.10';
const HOST_RESOLV_CONF = 'nameserver 10.255.0.53\nsearch corp.example\noptions timeout:2\n';

let env: TestApiServer;
let runtime: Runtime;
let kubelet: Kubelet;
let client: ApiClient;
let rt: RuntimeClient;
let tmp: string;
let dns: ClusterDns | undefined;
let dnsPort: number;

const waitFor = <T>(what: string, get: () => Promise<T | undefined | false>, timeoutMs = 30000) => waitUntil(what, get, timeoutMs, { detail: () => kubelet.logs(20) });

beforeAll(async () => {
  tmp = makeTempDir('kubelet-dns');
  fs.writeFileSync(path.join(tmp, 'host-resolv.conf'), HOST_RESOLV_CONF);
  env = await startTestApiServer({ KUBEMU_SERVICE_CIDR: '127.132.0.0/16' });
  client = new ApiClient([env.address]);
  dns = await startClusterDns({ apiservers: [env.address], natsUrls: env.natsUrls, clusterDNS: CLUSTER_DNS_IP, timeoutMs: 20000 });
  dnsPort = dns.port;
  runtime = await startRuntime();
  kubelet = await startKubelet({
    apiservers: [env.address],
    natsUrls: env.natsUrls,
    runtime,
    env: { KUBEMU_CLUSTER_DNS: CLUSTER_DNS_IP, KUBEMU_KUBELET_RESOLV_CONF: path.join(tmp, 'host-resolv.conf') },
  });
  rt = new RuntimeClient(runtime.address);
});

afterAll(async () => {
  rt?.close();
  client?.close();
  await kubelet?.stop();
  await runtime?.stop();
  await dns?.stop();
  await env?.stop();
  if (tmp) removeTempDir(tmp);
});

function podSpec(name: string, spec: Partial<NonNullable<Pod['spec']>>): Pod {
  return { metadata: { name, namespace: NS, labels: { app: name } }, spec: { nodeName: kubelet.nodeName, terminationGracePeriodSeconds: 1, containers: [], ...spec } };
}

async function runningPod(name: string): Promise<Pod> {
  return waitFor(`pod ${name} running`, async () => {
    const p = await client.tryGet(POD, NS, name);
    return p?.status?.phase === 'Running' && p.status.containerStatuses?.every((c) => c.state?.running) ? p : undefined;
  });
}

/** Runs `cmd` in the pod's first container through the runtime, as `kubectl exec` does. */
async function exec(pod: Pod, cmd: string[]): Promise<string> {
  const [c] = await rt.listContainers({ [LABEL_POD_UID]: pod.metadata?.uid ?? '' });
  const res = await rt.execSync(c.id ?? '', cmd, 10);
  return Buffer.from(res.stdout ?? []).toString();
}

function httpGet(ip: string, port: number, reqPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: ip, port, path: reqPath, timeout: 15000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

describe('kubelet dns - pods resolve cluster names', () => {
  let backend: Pod;
  let clientPod: Pod;

  beforeAll(async () => {
    await client.create(POD, podSpec('backend', { containers: [{ name: 'nginx', image: 'nginx' }] }));
    await client.create(
      POD,
      podSpec('frontend', {
        hostname: 'front-0',
        subdomain: 'web',
        hostAliases: [{ ip: '127.0.0.1', hostnames: ['alias.local'] }],
        // No kube-proxy here: the preload reaches cluster-dns directly.
        containers: [{ name: 'nginx', image: 'nginx', env: [{ name: 'KUBEMU_DNS_SERVER', value: `127.0.0.1:${dnsPort}` }] }],
      }),
    );
    backend = await runningPod('backend');
    clientPod = await runningPod('frontend');
    await client.create(SERVICE, { metadata: { name: 'web', namespace: NS }, spec: { clusterIP: 'None', selector: { app: 'backend' }, ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }] } });
    await client.create(ENDPOINTS, {
      metadata: { name: 'web', namespace: NS },
      subsets: [{ addresses: [{ ip: backend.status!.podIP! }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }],
    });
  });

  it('the pod resolv.conf: cluster DNS, cluster search + node search, ndots:5; /etc/resolv.conf maps to it', async () => {
    const text = await exec(clientPod, ['cat', '/etc/resolv.conf']);
    expect(text).toBe(`search default.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver ${CLUSTER_DNS_IP}\noptions ndots:5\n`);
    expect(await exec(clientPod, ['sh', '-c', 'cat "$KUBEMU_RESOLV_CONF"'])).toBe(text);
  });

  it('the pod hosts file: localhost, the pod IP with its FQDN and hostname, hostAliases; HOSTNAME is spec.hostname', async () => {
    const text = await exec(clientPod, ['cat', '/etc/hosts']);
    expect(text).toContain('127.0.0.1\tlocalhost\n');
    expect(text).toContain(`${clientPod.status!.podIP}\tfront-0.web.default.svc.cluster.local\tfront-0\n`);
    expect(text).toContain('# Entries added by HostAliases.\n127.0.0.1\talias.local\n');
    expect((await exec(clientPod, ['sh', '-c', 'echo $HOSTNAME'])).trim()).toBe('front-0');
  });

  it('nginx /proxy reaches a Service by its short name and its FQDN; an unknown name is 502 ENOTFOUND', async () => {
    const ip = clientPod.status!.podIP!;
    const short = await waitFor('http://web/ through the pod', async () => {
      const r = await httpGet(ip, 80, `/proxy?url=${encodeURIComponent('http://web/')}`);
      return r.status === 200 ? r : undefined;
    }, 15000);
    expect(short.body).toContain('backend');
    const fqdn = await httpGet(ip, 80, `/proxy?url=${encodeURIComponent('http://web.default.svc.cluster.local/')}`);
    expect(`${fqdn.status} ${fqdn.body}`).toMatch(/^200 /);
    expect(fqdn.body).toContain('backend');
    const missing = await httpGet(ip, 80, `/proxy?url=${encodeURIComponent('http://nope.default.svc.cluster.local/')}`);
    expect(missing.status).toBe(502);
    expect(missing.body).toMatch(/ENOTFOUND nope\.default\.svc\.cluster\.local/);
  });

  it('node processes exec\'d in a node image resolve through the pod files too', async () => {
    const out = await exec(clientPod, ['node', '-e', "require('dns').lookup('web', (e, a) => console.log(e ? e.code : a))"]);
    expect(out.trim()).toBe(backend.status!.podIP);
  });
});

describe('kubelet dns - dnsPolicy and limits', () => {
  it('dnsPolicy Default: the node resolv.conf', async () => {
    await client.create(POD, podSpec('hostdns', { dnsPolicy: 'Default', containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] }));
    const p = await runningPod('hostdns');
    expect(await exec(p, ['cat', '/etc/resolv.conf'])).toBe('search corp.example\nnameserver 10.255.0.53\noptions timeout:2\n');
  });

  it('too many nameservers: trimmed to 3 with a DNSConfigForming warning on the pod', async () => {
    await client.create(
      POD,
      podSpec('manyns', { dnsConfig: { nameservers: ['1.1.1.1', '2.2.2.2', '3.3.3.3'] }, containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] }),
    );
    const p = await runningPod('manyns');
    expect(await exec(p, ['cat', '/etc/resolv.conf'])).toContain(`nameserver ${CLUSTER_DNS_IP}\nnameserver 1.1.1.1\nnameserver 2.2.2.2\n`);
    const ev: Event = await waitFor('DNSConfigForming event', async () =>
      (await client.list(EVENT, NS)).items.find((e) => e.involvedObject?.name === 'manyns' && e.reason === 'DNSConfigForming'),
    );
    expect(ev.type).toBe('Warning');
    expect(ev.message).toBe(`Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: ${CLUSTER_DNS_IP} 1.1.1.1 2.2.2.2`);
  });
});
