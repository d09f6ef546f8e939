/** A real etcd cluster on free loopback ports in a temporary folder, run as the real cluster runs it. */
import * as crypto from 'crypto';
import * as path from 'path';
import { EtcdMemberPorts, etcdMemberSpec } from '../../services/lib/topology';
import { etcdLeader } from '../../scripts/lib/probe';
import { makeTempDir, removeTempDir } from './cleanup';
import { ManagedProcess, ProcessControls, waitAllHealthy, withControls } from './process';
import { freePort } from './ports';

/** Controls for one etcd member. */
export interface EtcdMember extends ProcessControls {
  name: string;
  clientUrl: string;
}

export interface EtcdCluster {
  /** Client URLs of every member, for the etcd3 client or KUBEMU_ETCD_ENDPOINTS. */
  endpoints: string[];
  members: EtcdMember[];
  dir: string;
  /** The member that is leader now, if any. */
  leader(): Promise<EtcdMember | undefined>;
  /** Starts every member that is not running and waits until all are healthy. */
  start(): Promise<void>;
  /** Waits until every member is healthy. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every member (followers first: a leader stopped with its followers stalls for seconds) and deletes the folder. */
  stop(): Promise<void>;
}

/**
 * Starts an etcd cluster of `members` (1 or 3) and resolves once every member is healthy.
 * Throws, with the members' logs and after cleaning up, when it is not healthy within `timeoutMs`.
 */
export async function startEtcdCluster(opts: { members?: number; timeoutMs?: number } = {}): Promise<EtcdCluster> {
  const count = opts.members ?? 1;
  const dir = makeTempDir('etcd');
  const ports: EtcdMemberPorts[] = [];
  for (let i = 0; i < count; i++) ports.push({ name: `etcd-${i}`, clientPort: await freePort(), peerPort: await freePort() });
  const token = `kubemu-test-${crypto.randomBytes(6).toString('hex')}`;
  const procs = ports.map(
    (member, index) =>
      new ManagedProcess(
        etcdMemberSpec({ member, index, members: ports, dataDir: path.join(dir, member.name), token }),
        path.join(dir, `${member.name}.log`),
      ),
  );

  const leaderName = () => etcdLeader(procs.filter((p) => p.running).map((p) => ({ name: p.name, address: p.spec.address })));
  const stop = async () => {
    const leader = await leaderName();
    await Promise.all(procs.filter((p) => p.name !== leader).map((p) => p.stop()));
    await Promise.all(procs.map((p) => p.stop()));
    removeTempDir(dir);
  };

  const members: EtcdMember[] = procs.map((p) => withControls(p, { name: p.name, clientUrl: p.spec.address }));

  try {
    await Promise.all(procs.map((p) => p.start()));
    await waitAllHealthy(procs, opts.timeoutMs ?? 30000);
  } catch (err) {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    removeTempDir(dir);
    throw err;
  }

  return {
    endpoints: procs.map((p) => p.spec.address),
    members,
    dir,
    leader: async () => {
      const name = await leaderName();
      return members.find((m) => m.name === name);
    },
    start: async () => {
      await Promise.all(procs.filter((p) => !p.running).map((p) => p.start()));
      await waitAllHealthy(procs, 30000);
    },
    waitHealthy: (timeoutMs = 30000) => waitAllHealthy(procs, timeoutMs),
    stop,
  };
}
