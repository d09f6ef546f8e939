import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { IpamConfigError, nodeIP, PodIPAllocator, PodIPExhaustedError, podCIDRForNode } from '../../services/container-runtime/network/ipam';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubemu-ipam-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('ipam - address plan', () => {
  it('node i gets 127.(10+i).0.0/16 by default', () => {
    expect(podCIDRForNode(0)).toBe('127.10.0.0/16');
    expect(podCIDRForNode(2)).toBe('127.12.0.0/16');
    expect(podCIDRForNode(117)).toBe('127.127.0.0/16');
    expect(() => podCIDRForNode(118)).toThrow(IpamConfigError);
  });

  it('a longer mask fits many nodes', () => {
    const opts = { rangeStart: '127.64.0.0', nodeMaskSize: 24 };
    expect(podCIDRForNode(0, opts)).toBe('127.64.0.0/24');
    expect(podCIDRForNode(257, opts)).toBe('127.65.1.0/24');
    expect(podCIDRForNode(16383, opts)).toBe('127.127.255.0/24');
    expect(() => podCIDRForNode(16384, opts)).toThrow(/16384 node ranges of \/24 fit/);
  });

  it('rejects ranges outside loopback or misaligned', () => {
    expect(() => podCIDRForNode(0, { rangeStart: '10.0.0.0' })).toThrow(IpamConfigError);
    expect(() => podCIDRForNode(0, { rangeStart: '127.10.1.0' })).toThrow(/not aligned/);
    expect(() => new PodIPAllocator({ stateDir: dir, podCIDR: '192.168.0.0/24' })).toThrow(/127\.0\.0\.0\/8/);
  });

  it('node IPs are 127.1.0.1, 127.1.0.2, … skipping .0 and .255', () => {
    expect(nodeIP(0)).toBe('127.1.0.1');
    expect(nodeIP(2)).toBe('127.1.0.3');
    expect(nodeIP(253)).toBe('127.1.0.254');
    expect(nodeIP(254)).toBe('127.1.1.1');
    expect(nodeIP(999)).toBe('127.1.3.238');
    expect(nodeIP(0, { nodeCIDR: '127.2.0.0/24' })).toBe('127.2.0.1');
    expect(() => nodeIP(254, { nodeCIDR: '127.2.0.0/24' })).toThrow(IpamConfigError);
  });
});

describe('ipam - pod IP allocation', () => {
  it('hands out unique IPs in the node range, never .0 or .255', () => {
    const ipam = new PodIPAllocator({ stateDir: dir, nodeIndex: 3, podCIDR: '127.13.0.0/23' });
    const ips = new Set<string>();
    for (let i = 0; i < 508; i++) ips.add(ipam.allocate(`pod-${i}`));
    expect(ips.size).toBe(508);
    expect(ipam.capacity()).toBe(508);
    for (const ip of ips) {
      expect(ip).toMatch(/^127\.13\.[01]\.\d+$/);
      expect(ip).not.toMatch(/\.(0|255)$/);
    }
    expect([...ips][0]).toBe('127.13.0.1');
  });

  it('uses the node index range by default', () => {
    const ipam = new PodIPAllocator({ stateDir: dir, nodeIndex: 1 });
    expect(ipam.podCIDR).toBe('127.11.0.0/16');
    expect(ipam.allocate('a')).toBe('127.11.0.1');
  });

  it('is idempotent per pod UID', () => {
    const ipam = new PodIPAllocator({ stateDir: dir, nodeIndex: 0 });
    const ip = ipam.allocate('uid-1');
    expect(ipam.allocate('uid-1')).toBe(ip);
    expect(ipam.get('uid-1')).toBe(ip);
    expect(ipam.allocations().size).toBe(1);
  });

  it('release frees the IP, which is reused only after the range wraps', () => {
    const ipam = new PodIPAllocator({ stateDir: dir, podCIDR: '127.10.0.0/30' }); // .1 .2 .3
    expect(ipam.allocate('a')).toBe('127.10.0.1');
    expect(ipam.allocate('b')).toBe('127.10.0.2');
    expect(ipam.release('a')).toBe(true);
    expect(ipam.release('a')).toBe(false);
    expect(ipam.get('a')).toBeUndefined();
    expect(ipam.allocate('c')).toBe('127.10.0.3');
    expect(ipam.allocate('d')).toBe('127.10.0.1');
  });

  it('exhaustion throws a clear error and recovers after a release', () => {
    const ipam = new PodIPAllocator({ stateDir: dir, podCIDR: '127.10.0.0/30' });
    ['a', 'b', 'c'].forEach((u) => ipam.allocate(u));
    expect(() => ipam.allocate('d')).toThrow(PodIPExhaustedError);
    expect(() => ipam.allocate('d')).toThrow('failed to allocate an IP for pod d: no IP addresses available in range 127.10.0.0/30');
    ipam.release('b');
    expect(ipam.allocate('d')).toBe('127.10.0.2');
  });

  it('a new instance over the same folder keeps allocations and the cursor', () => {
    const first = new PodIPAllocator({ stateDir: dir, nodeIndex: 0 });
    const a = first.allocate('a');
    const b = first.allocate('b');
    first.release('a');
    const second = new PodIPAllocator({ stateDir: dir, nodeIndex: 0 });
    expect(second.get('b')).toBe(b);
    expect(second.get('a')).toBeUndefined();
    const c = second.allocate('c');
    expect([a, b]).not.toContain(c);
    expect(c).toBe('127.10.0.3');
    expect(fs.readdirSync(dir)).toEqual(['pod-ips.json']); // no temporary file left behind
  });

  it('drops saved allocations outside a changed range', () => {
    new PodIPAllocator({ stateDir: dir, nodeIndex: 0 }).allocate('a');
    const moved = new PodIPAllocator({ stateDir: dir, nodeIndex: 1 });
    expect(moved.droppedOnLoad).toEqual(['a']);
    expect(moved.allocate('b')).toBe('127.11.0.1');
    expect(new PodIPAllocator({ stateDir: dir, nodeIndex: 1 }).allocations()).toEqual(new Map([['b', '127.11.0.1']]));
  });

  it('a corrupt state file is an error, not an empty allocator', () => {
    fs.writeFileSync(path.join(dir, 'pod-ips.json'), '{not json');
    expect(() => new PodIPAllocator({ stateDir: dir, nodeIndex: 0 })).toThrow(/corrupt/);
  });
});
