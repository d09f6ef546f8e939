/**
 * The Service address allocator against an in-memory stand-in for EtcdStorage with the same
 * create-if-absent and compare-and-swap delete semantics.
 */
import { Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { ApiError } from '../../services/lib/errors';
import {
  firstAddress,
  inRange,
  LOADBALANCER_IPS_PREFIX,
  NODE_PORTS_PREFIX,
  parseCidr,
  SERVICE_IPS_PREFIX,
  ServiceAllocator,
} from '../../services/kube-apiserver/serviceallocator';
import { EtcdStorage, KeyExistsError, KeyNotFoundError, RevisionConflictError } from '../../services/kube-apiserver/storage';

class MemoryStorage {
  readonly kv = new Map<string, { value: Buffer; modRevision: number }>();
  private revision = 1;
  async create(key: string, value: Uint8Array): Promise<number> {
    await Promise.resolve();
    if (this.kv.has(key)) throw new KeyExistsError(key);
    this.kv.set(key, { value: Buffer.from(value), modRevision: ++this.revision });
    return this.revision;
  }
  async get(key: string) {
    const v = this.kv.get(key);
    return v && { key, ...v };
  }
  async list(prefix: string) {
    const items = [...this.kv.entries()].filter(([k]) => k.startsWith(prefix)).map(([key, v]) => ({ key, ...v }));
    return { items, revision: this.revision, more: false };
  }
  async delete(key: string, expected: number): Promise<number> {
    const v = this.kv.get(key);
    if (!v) throw new KeyNotFoundError(key);
    if (v.modRevision !== expected) throw new RevisionConflictError(v.modRevision);
    this.kv.delete(key);
    return ++this.revision;
  }
}

const svc = (name: string, spec: Service['spec'] = {}, uid = `uid-${name}`): Service => ({
  metadata: { name, namespace: 'default', uid },
  spec: { type: 'ClusterIP', ports: [{ port: 80, protocol: 'TCP' }], ...spec },
});

function setup(opts: { serviceCidr?: string; loadBalancerCidr?: string } = {}) {
  const storage = new MemoryStorage();
  const allocator = new ServiceAllocator(storage as unknown as EtcdStorage, opts);
  return { storage, allocator };
}

async function message(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    return (err as ApiError).message;
  }
  throw new Error('expected a failure');
}

describe('service allocator - ranges', () => {
  test('ranges - CIDRs are masked; network and broadcast addresses are never handed out', () => {
    const c = parseCidr('127.128.3.4/16');
    expect(c.text).toBe('127.128.0.0/16');
    expect(firstAddress(c)).toBe('127.128.0.1');
    expect(inRange(c, '127.128.0.0')).toBe(false);
    expect(inRange(c, '127.128.255.255')).toBe(false);
    expect(inRange(c, '127.128.255.254')).toBe(true);
    expect(inRange(c, '10.0.0.1')).toBe(false);
    expect(inRange(c, 'not-an-ip')).toBe(false);
    expect(() => parseCidr('127.128.0.0')).toThrow();
    expect(() => parseCidr('fd00::/108')).toThrow();
  });
});

describe('service allocator - allocate and release', () => {
  test('allocate - a ClusterIP service gets a free in-range IP, SingleStack IPv4, and a claim naming it', async () => {
    const { storage, allocator } = setup();
    const s = svc('web');
    const claimed = await allocator.allocate(s);
    expect(inRange(allocator.serviceCidr, s.spec!.clusterIP!)).toBe(true);
    expect(s.spec!.clusterIPs).toEqual([s.spec!.clusterIP]);
    expect(s.spec!.ipFamilies).toEqual(['IPv4']);
    expect(s.spec!.ipFamilyPolicy).toBe('SingleStack');
    expect(claimed).toEqual({ clusterIPs: [s.spec!.clusterIP], nodePorts: [], loadBalancerIPs: [] });
    expect(JSON.parse(storage.kv.get(SERVICE_IPS_PREFIX + s.spec!.clusterIP)!.value.toString())).toEqual({ namespace: 'default', name: 'web', uid: 'uid-web' });
  });

  test('allocate - requested IPs: out of range and taken fail in Kubernetes words and leave nothing claimed', async () => {
    const { storage, allocator } = setup();
    await allocator.allocate(svc('a', { clusterIP: '127.128.0.10', clusterIPs: ['127.128.0.10'] }));
    expect(await message(allocator.allocate(svc('b', { clusterIP: '10.0.0.1', clusterIPs: ['10.0.0.1'] })))).toBe(
      'Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"10.0.0.1"}: failed to allocate IP 10.0.0.1: provided IP is not in the valid range. The range of valid IPs is 127.128.0.0/16',
    );
    expect(await message(allocator.allocate(svc('c', { type: 'NodePort', clusterIP: '127.128.0.10', clusterIPs: ['127.128.0.10'] })))).toBe(
      'Service "c" is invalid: spec.clusterIPs: Invalid value: []string{"127.128.0.10"}: failed to allocate IP 127.128.0.10: provided IP is already allocated',
    );
    // A nodePort failure gives back the clusterIP claimed before it.
    expect(await message(allocator.allocate(svc('d', { type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] })))).toBe(
      'Service "d" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767',
    );
    expect([...storage.kv.keys()]).toEqual([SERVICE_IPS_PREFIX + '127.128.0.10']);
  });

  test('allocate - headless and ExternalName services get nothing', async () => {
    const { storage, allocator } = setup();
    const headless = svc('h', { clusterIP: 'None', clusterIPs: ['None'] });
    await allocator.allocate(headless);
    expect(headless.spec!.clusterIPs).toEqual(['None']);
    const ext = svc('e', { type: 'ExternalName', externalName: 'example.com', ports: [] });
    await allocator.allocate(ext);
    expect(ext.spec!.clusterIP).toBeUndefined();
    expect(storage.kv.size).toBe(0);
  });

  test('allocate - NodePort: one port per service port, in range; a taken one is refused', async () => {
    const { allocator } = setup();
    const s = svc('np', { type: 'NodePort', ports: [{ port: 80, protocol: 'TCP' }, { port: 81, protocol: 'TCP', nodePort: 30080 }] });
    await allocator.allocate(s);
    const [a, b] = s.spec!.ports!.map((p) => p.nodePort!);
    expect(a).toBeGreaterThanOrEqual(30000);
    expect(a).toBeLessThanOrEqual(32767);
    expect(b).toBe(30080);
    expect(await message(allocator.allocate(svc('np2', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] })))).toBe(
      'Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated',
    );
  });

  test('allocate - LoadBalancer: nodePorts and an ingress IP from the pool; allocateLoadBalancerNodePorts false skips the ports', async () => {
    const { allocator } = setup({ loadBalancerCidr: '127.129.1.0/24' });
    const s = svc('lb', { type: 'LoadBalancer', allocateLoadBalancerNodePorts: true });
    await allocator.allocate(s);
    expect(s.spec!.ports![0].nodePort).toBeGreaterThanOrEqual(30000);
    expect(s.status!.loadBalancer!.ingress![0].ip).toMatch(/^127\.129\.1\.\d+$/);
    const noPorts = svc('lb2', { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false });
    await allocator.allocate(noPorts);
    expect(noPorts.spec!.ports![0].nodePort).toBeUndefined();
    expect(noPorts.status!.loadBalancer!.ingress![0].ip).not.toBe(s.status!.loadBalancer!.ingress![0].ip);
  });

  test('allocate - an update claims only what the old object did not hold', async () => {
    const { storage, allocator } = setup();
    const old = svc('u');
    await allocator.allocate(old);
    const next: Service = JSON.parse(JSON.stringify(old));
    next.spec!.type = 'NodePort';
    const claimed = await allocator.allocate(next, old);
    expect(claimed.clusterIPs).toEqual([]);
    expect(claimed.nodePorts.length).toBe(1);
    expect(storage.kv.size).toBe(2);
  });

  test('allocate - a status ipMode written on the allocated ingress entry survives later spec updates', async () => {
    const { storage, allocator } = setup({ loadBalancerCidr: '127.129.1.0/24' });
    const old = svc('lbmode', { type: 'LoadBalancer', allocateLoadBalancerNodePorts: true });
    await allocator.allocate(old);
    const ip = old.status!.loadBalancer!.ingress![0].ip!;
    // The load balancer's status update: same IP, ipMode Proxy; nothing given up.
    const marked: Service = JSON.parse(JSON.stringify(old));
    marked.status!.loadBalancer!.ingress![0].ipMode = 'Proxy';
    expect(allocator.dropped(marked, old).loadBalancerIPs).toEqual([]);
    // A spec update (a port added) keeps the stored status as it is.
    const next: Service = JSON.parse(JSON.stringify(marked));
    next.spec!.ports!.push({ name: 'b', port: 81, protocol: 'TCP' });
    const claimed = await allocator.allocate(next, marked);
    expect(claimed.loadBalancerIPs).toEqual([]);
    expect(next.status!.loadBalancer!.ingress).toEqual([{ ip, ipMode: 'Proxy' }]);
    expect([...storage.kv.keys()].filter((k) => k.startsWith(LOADBALANCER_IPS_PREFIX))).toEqual([LOADBALANCER_IPS_PREFIX + ip]);
  });

  test('release - frees only what the owner holds; dropped() lists what an update gave up', async () => {
    const { storage, allocator } = setup();
    const a = svc('a', { type: 'LoadBalancer', allocateLoadBalancerNodePorts: true });
    await allocator.allocate(a);
    await allocator.release(allocator.held(a), 'someone-else');
    expect(storage.kv.size).toBe(3);
    const next: Service = JSON.parse(JSON.stringify(a));
    next.spec = { ...next.spec, type: 'ClusterIP', ports: [{ port: 80, protocol: 'TCP' }] };
    await allocator.allocate(next, a);
    expect(next.status?.loadBalancer?.ingress).toEqual([]);
    const dropped = allocator.dropped(next, a);
    expect(dropped.clusterIPs).toEqual([]);
    expect(dropped.nodePorts.length).toBe(1);
    expect(dropped.loadBalancerIPs.length).toBe(1);
    await allocator.release(dropped, 'uid-a');
    expect([...storage.kv.keys()].some((k) => k.startsWith(NODE_PORTS_PREFIX) || k.startsWith(LOADBALANCER_IPS_PREFIX))).toBe(false);
    await allocator.release(allocator.held(next), 'uid-a');
    expect(storage.kv.size).toBe(0);
  });

  test('allocate - concurrent allocations fill a small range exactly, without duplicates, then report it full', async () => {
    const { allocator } = setup({ serviceCidr: '127.128.9.0/28' });
    const services = Array.from({ length: 14 }, (_, i) => svc(`s${i}`));
    await Promise.all(services.map((s) => allocator.allocate(s)));
    expect(new Set(services.map((s) => s.spec!.clusterIP)).size).toBe(14);
    expect(await message(allocator.allocate(svc('full')))).toBe('Service "full" is invalid: spec.clusterIPs: Invalid value: []string(nil): failed to allocate a serviceIP: range is full');
  });
});
