import * as path from 'path';
import { defaultSnapshotFile, restorePlan, timestamp } from '../../scripts/lib/etcd-backup';
import { buildTopology, etcdClusterToken } from '../../services/lib/topology';

const NOW = new Date('2026-11-23T08:15:30.123Z');

test('etcd-backup - snapshot files are named by a sortable UTC timestamp in <stateDir>/backups', () => {
  expect(timestamp(NOW)).toBe('20261123T081530Z');
  expect(defaultSnapshotFile('/s', NOW)).toBe(path.join('/s', 'backups', 'snapshot-20261123T081530Z.db'));
});

test('etcd-backup - the restore plan restores every member with the names, peer URLs and token etcd runs with', () => {
  const topology = buildTopology({ stateDir: '/tmp/kubemu-plan', portBase: 25000, profile: 'demo' });
  const plan = restorePlan(topology, 'snap.db', NOW);
  const etcd = topology.processes.filter((p) => p.component === 'etcd');
  expect(plan.restores.map((r) => r.member)).toEqual(etcd.map((p) => p.name));
  expect(plan.etcdRoot).toBe('/tmp/kubemu-plan/etcd');
  expect(plan.etcdAside).toBe('/tmp/kubemu-plan/etcd.before-restore-20261123T081530Z');
  expect(plan.natsStores).toEqual(topology.processes.filter((p) => p.component === 'nats').map((p) => p.dataDir));
  for (const [i, step] of plan.restores.entries()) {
    const flag = (name: string) => step.args[step.args.indexOf(name) + 1];
    const started = etcd[i].args;
    const runFlag = (name: string) => started[started.indexOf(name) + 1];
    expect(step.args.slice(0, 3)).toEqual(['snapshot', 'restore', path.resolve('snap.db')]);
    expect(flag('--name')).toBe(etcd[i].name);
    expect(flag('--data-dir')).toBe(etcd[i].dataDir);
    expect(flag('--data-dir').startsWith(plan.etcdRoot + path.sep)).toBe(true);
    for (const same of ['--initial-cluster', '--initial-cluster-token', '--initial-advertise-peer-urls']) expect(flag(same)).toBe(runFlag(same));
    expect(flag('--initial-cluster-token')).toBe(etcdClusterToken('/tmp/kubemu-plan'));
  }
});
