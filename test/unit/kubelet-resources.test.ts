import { Container, Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { QuantityParseError } from '../../services/lib/quantity';
import { containerCpuLimitMillis, containerMemoryLimitBytes, nodeCapacity, podRequests } from '../../services/kubelet/resources';

const c = (name: string, requests?: Record<string, string>, restartPolicy?: string): Container => ({ name, resources: { requests }, restartPolicy });

describe('resources - container limits', () => {
  it.each([
    ['128Mi', 128 * 1024 * 1024],
    ['1G', 1e9],
    ['1.5Gi', 1.5 * 1024 ** 3],
    ['100m', 1],
  ])('memory %s → %d bytes', (memory, bytes) => {
    expect(containerMemoryLimitBytes({ resources: { limits: { memory } } })).toBe(bytes);
  });

  it.each([
    ['500m', 500],
    ['2', 2000],
    ['0.1', 100],
    ['1500u', 2],
  ])('cpu %s → %d millicores', (cpu, millis) => {
    expect(containerCpuLimitMillis({ resources: { limits: { cpu } } })).toBe(millis);
  });

  it('no limit is undefined (requests do not count)', () => {
    expect(containerMemoryLimitBytes({})).toBeUndefined();
    expect(containerCpuLimitMillis({ resources: { requests: { cpu: '1' } } })).toBeUndefined();
    expect(containerCpuLimitMillis({ resources: { limits: { cpu: '' } } })).toBeUndefined();
  });

  it('a malformed quantity throws', () => {
    expect(() => containerCpuLimitMillis({ resources: { limits: { cpu: 'lots' } } })).toThrow(QuantityParseError);
  });
});

describe('resources - podRequests', () => {
  const pod = (containers: Container[], initContainers: Container[] = [], overhead?: Record<string, string>): Pod => ({
    spec: { containers, initContainers, overhead },
  });

  it('sums app containers', () => {
    expect(podRequests(pod([c('a', { cpu: '100m', memory: '64Mi' }), c('b', { cpu: '250m' }), c('c')]))).toEqual({ cpu: '350m', memory: '64Mi' });
  });

  it('an empty pod requests nothing', () => {
    expect(podRequests({})).toEqual({});
  });

  it('takes the max with the largest init container per resource', () => {
    const p = pod([c('a', { cpu: '100m', memory: '64Mi' })], [c('i1', { cpu: '1' }), c('i2', { memory: '32Mi' }), c('i3', { memory: '128Mi' })]);
    expect(podRequests(p)).toEqual({ cpu: '1', memory: '128Mi' });
  });

  it('sidecars add to the app containers and to every later init container', () => {
    // sidecar 200m runs with the app (300m) → 500m; init i2 runs alongside the sidecar → 200m + 400m = 600m.
    const p = pod([c('a', { cpu: '300m' })], [c('i1', { cpu: '1' }), c('side', { cpu: '200m' }, 'Always'), c('i2', { cpu: '400m' })]);
    expect(podRequests(p)).toEqual({ cpu: '1' });
    const p2 = pod([c('a', { cpu: '300m' })], [c('side', { cpu: '200m' }, 'Always'), c('i2', { cpu: '600m' })]);
    expect(podRequests(p2)).toEqual({ cpu: '800m' });
  });

  it('adds the pod overhead', () => {
    expect(podRequests(pod([c('a', { cpu: '100m' })], [], { cpu: '10m', memory: '1Mi' }))).toEqual({ cpu: '110m', memory: '1Mi' });
  });

  it('counts requests as written, not limits', () => {
    expect(podRequests(pod([{ name: 'a', resources: { limits: { cpu: '1' } } }]))).toEqual({});
  });
});

describe('resources - nodeCapacity', () => {
  it('prints canonical quantities; allocatable equals capacity', () => {
    const r = nodeCapacity({ cpu: 2, memory: 4 * 1024 ** 3, pods: 110 });
    expect(r.capacity).toEqual({ cpu: '2', memory: '4Gi', pods: '110' });
    expect(r.allocatable).toEqual(r.capacity);
    expect(r.allocatable).not.toBe(r.capacity);
  });

  it('accepts fractional cores, odd byte counts and quantity strings', () => {
    expect(nodeCapacity({ cpu: 1.5, memory: 1000, pods: '10' }).capacity).toEqual({ cpu: '1500m', memory: '1k', pods: '10' });
    expect(nodeCapacity({ cpu: '500m', memory: '16318496Ki', pods: 110 }).capacity).toEqual({ cpu: '500m', memory: '16318496Ki', pods: '110' });
  });
});
