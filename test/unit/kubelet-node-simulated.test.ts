/** Simulated nodes as pure functions: address plan, IP pool, lease spreading, the Running status. */
import {
  isSimulatedRunning,
  PodIPPool,
  runningPodStatus,
  simulatedNodeIP,
  simulatedNodeNames,
  simulatedPodCIDR,
  simulatedTimings,
} from '../../services/kubelet/simulated';

test('simulated nodes - node IPs stay in 127.2-127.9 skipping .0 and .255; pod ranges are distinct /24s of 10/8', () => {
  expect(simulatedNodeIP(0)).toBe('127.2.0.1');
  expect(simulatedNodeIP(253)).toBe('127.2.0.254');
  expect(simulatedNodeIP(254)).toBe('127.2.1.1');
  expect(simulatedNodeIP(65535)).toMatch(/^127\.[2-9]\.\d+\.\d+$/);
  expect(simulatedPodCIDR(0)).toBe('10.0.0.0/24');
  expect(simulatedPodCIDR(999)).toBe('10.3.231.0/24');
  expect(() => simulatedPodCIDR(65536)).toThrow(RangeError);
  const ips = new Set(Array.from({ length: 5000 }, (_, i) => simulatedNodeIP(i)));
  expect(ips.size).toBe(5000);
});

test('simulated nodes - the pod IP pool hands out 254 addresses round robin and reuses released ones last', () => {
  const pool = new PodIPPool('10.0.5.0/24');
  expect(pool.allocate()).toBe('10.0.5.1');
  expect(pool.allocate()).toBe('10.0.5.2');
  pool.release('10.0.5.1');
  expect(pool.allocate()).toBe('10.0.5.3');
  pool.claim('10.0.5.4');
  expect(pool.allocate()).toBe('10.0.5.5');
  while (pool.allocate()) {
    // drain
  }
  expect(pool.size).toBe(254);
  pool.release('10.0.5.1');
  expect(pool.allocate()).toBe('10.0.5.1');
});

test('simulated nodes - lease renewals: 10 s as Kubernetes, at most 40% of the grace period, never faster than configured', () => {
  const k8s = { nodeLeaseDurationSeconds: 40, nodeLeaseRenewSeconds: 10, nodeStatusUpdateSeconds: 10, nodeMonitorGracePeriodSeconds: 50 };
  expect(simulatedTimings(k8s)).toEqual({ leaseRenewSeconds: 10, leaseDurationSeconds: 40, statusUpdateSeconds: 10, spreadMs: 10000 });
  const demo = { nodeLeaseDurationSeconds: 8, nodeLeaseRenewSeconds: 2, nodeStatusUpdateSeconds: 2, nodeMonitorGracePeriodSeconds: 10 };
  expect(simulatedTimings(demo)).toEqual({ leaseRenewSeconds: 4, leaseDurationSeconds: 16, statusUpdateSeconds: 10, spreadMs: 4000 });
  expect(simulatedNodeNames({ count: 3 })).toEqual(['sim-node-1', 'sim-node-2', 'sim-node-3']);
});

test('simulated nodes - a started pod is Running and Ready with its containers running', () => {
  const pod = {
    metadata: { name: 'p', namespace: 'default', uid: 'u1' },
    spec: {
      nodeName: 'sim-node-1',
      initContainers: [{ name: 'init', image: 'busybox' }],
      containers: [{ name: 'a', image: 'nginx' }, { name: 'b', image: 'echo' }],
    },
    status: { phase: 'Pending', qosClass: 'BestEffort', conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-11-23T00:00:00Z' }] },
  };
  const t = Date.parse('2026-11-23T01:00:00Z');
  const s = runningPodStatus(pod, '127.2.0.1', '10.0.0.7', t);
  expect(s.phase).toBe('Running');
  expect(s.qosClass).toBe('BestEffort');
  expect(s.conditions?.map((c) => [c.type, c.status])).toEqual([
    ['PodReadyToStartContainers', 'True'],
    ['Initialized', 'True'],
    ['Ready', 'True'],
    ['ContainersReady', 'True'],
    ['PodScheduled', 'True'],
  ]);
  expect(s.conditions?.find((c) => c.type === 'PodScheduled')?.lastTransitionTime).toBe('2026-11-23T00:00:00Z');
  expect(s.hostIPs).toEqual([{ ip: '127.2.0.1' }]);
  expect(s.podIPs).toEqual([{ ip: '10.0.0.7' }]);
  expect(s.startTime).toBe('2026-11-23T01:00:00Z');
  expect(s.containerStatuses?.map((c) => [c.name, c.ready, c.started, c.restartCount, !!c.state?.running])).toEqual([
    ['a', true, true, 0, true],
    ['b', true, true, 0, true],
  ]);
  expect(s.initContainerStatuses?.[0].state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  expect(isSimulatedRunning({ ...pod, status: s })).toBe(true);
  expect(isSimulatedRunning(pod)).toBe(false);
});
