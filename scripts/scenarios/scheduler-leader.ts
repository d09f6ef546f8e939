/**
 * Issue 7 scenario 3: the scheduler leader dies. Its Lease (kube-system/kube-scheduler) is not
 * renewed; once it expires the standby acquires it and schedules the pods created meanwhile.
 */
import { resourceForCase } from '../../services/lib/resources';
import { POD, Scenario, ScenarioContext, pollUntil, secs, signalPid, waitFor } from './lib';

const LEASE = resourceForCase('lease');
const PODS = 5;

export const schedulerLeader: Scenario = {
  name: 'scheduler-leader',
  number: 3,
  promises: [
    'Two kube-schedulers run; one holds the Lease kube-system/kube-scheduler and schedules, the other stands by.',
    'When the leader dies, its lease is not renewed; after the lease duration the standby acquires it',
    '(holderIdentity changes) and schedules every pod that was created meanwhile. No pod is lost or bound twice.',
  ],
  async run(ctx: ScenarioContext): Promise<string[]> {
    const { client, timeline, namespace, topology } = ctx;
    const leaseSeconds = topology.profile.timings.leaderLeaseDurationSeconds;
    const lease = await waitFor('a scheduler leader', async () => {
      const l = await client.tryGet(LEASE, 'kube-system', 'kube-scheduler');
      return l?.spec?.holderIdentity ? l : undefined;
    }, 30000);
    const holder = lease.spec!.holderIdentity!;
    const processName = holder.split('_')[0];
    const pid = (await ctx.pids()).get(processName);
    if (!pid) throw new Error(`the lease holder ${holder} names ${processName}, which pm2 does not run`);
    ctx.log(`leader: ${holder} (pm2 process ${processName}, pid ${pid}); lease duration ${leaseSeconds} s`);

    signalPid(pid, 'SIGKILL');
    timeline.fault(`SIGKILL ${processName} (pid ${pid}), the scheduler leader`);
    const names = Array.from({ length: PODS }, (_, i) => `pending-${i}`);
    const created = Date.now();
    await Promise.all(
      names.map((name) => client.create(POD, { metadata: { name, namespace }, spec: { containers: [{ name: 'web', image: 'nginx' }] } })),
    );
    timeline.mark(`${PODS} pods created (Pending, no node)`, created);

    const problems: string[] = [];
    const deadline = Date.now() + leaseSeconds * 1000 + 30000;
    let newHolder: string | undefined;
    let newHolderAt: number | undefined;
    let restartedAt: number | undefined;
    let firstBound: number | undefined;
    let allBound: number | undefined;
    const boundTo = new Map<string, string>();
    while (Date.now() < deadline && (!newHolder || !allBound)) {
      if (!newHolder) {
        const l = await client.tryGet(LEASE, 'kube-system', 'kube-scheduler').catch(() => undefined);
        const h = l?.spec?.holderIdentity;
        if (h && h !== holder) {
          newHolder = h;
          const next = h.split('_')[0];
          newHolderAt = timeline.mark(`lease holder changed to ${h}${next === processName ? ' (the restarted process, not the standby)' : ' (the standby)'}`);
        }
      }
      if (restartedAt === undefined) {
        const now = (await ctx.pids().catch(() => new Map<string, number>())).get(processName);
        if (now && now !== pid) restartedAt = timeline.mark(`pm2 restarted ${processName} (pid ${now}); it stands by`);
      }
      const pods = (await client.list(POD, namespace).catch(() => ({ items: [] }))).items;
      for (const p of pods) {
        const name = p.metadata?.name ?? '';
        const node = p.spec?.nodeName;
        if (!node) continue;
        const before = boundTo.get(name);
        if (before && before !== node) problems.push(`pod ${name} was bound to ${before}, then to ${node}`);
        if (!before) {
          boundTo.set(name, node);
          if (firstBound === undefined) firstBound = timeline.mark(`first pod bound (${name} → ${node})`);
        }
      }
      if (!allBound && boundTo.size === PODS) allBound = timeline.mark(`all ${PODS} pods bound`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const running = await pollUntil(async () => {
      const pods = (await client.list(POD, namespace)).items;
      return pods.length === PODS && pods.every((p) => p.status?.phase === 'Running');
    }, 30000, 250);
    if (running) timeline.mark(`all ${PODS} pods Running`);

    ctx.log(`durations: kill → new lease holder ${secs(timeline.sinceFault(newHolderAt ?? NaN))} (lease ${leaseSeconds} s), kill → first pod bound ${secs(timeline.sinceFault(firstBound ?? NaN))}, kill → all bound ${secs(timeline.sinceFault(allBound ?? NaN))}`);
    if (!newHolder) problems.push(`the lease holder was still ${holder} ${secs(timeline.sinceFault(deadline))} after the kill`);
    if (!allBound) problems.push(`only ${boundTo.size} of ${PODS} pods were bound: ${names.filter((n) => !boundTo.has(n)).join(', ')} stayed Pending`);
    if (!running) problems.push(`not all pods reached Running within 30 s after being bound`);
    return problems;
  },
};
