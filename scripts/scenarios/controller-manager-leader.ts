/**
 * Issue 7 scenario 4: the kube-controller-manager leader dies in the middle of a Deployment
 * rollout. Its Lease (kube-system/kube-controller-manager) is not renewed; once it expires the
 * standby acquires it, its deployment controller reads the state the dead one left (the new
 * ReplicaSet partly scaled up, the old one partly down) and finishes the rollout by the same
 * rules: never more pods than replicas + maxSurge, never fewer available than replicas -
 * maxUnavailable, no extra ReplicaSet, the revision annotations unchanged.
 */
import type { Deployment, ReplicaSet } from '../../services/lib/generated/kubemu/apps/v1/apps';
import type { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { POD, Scenario, ScenarioContext, isReady, secs, signalPid, sleep, waitFor } from './lib';

const LEASE = resourceForCase('lease');
const DEPLOY = resourceForCase('deployment');
const RS = resourceForCase('replicaSet');
const NAME = 'web';
const REPLICAS = 6;
const MAX_SURGE = 1;
const MAX_UNAVAILABLE = 0;
/** A new pod counts as available 1 s after it is Ready, so each rollout step takes a few seconds. */
const MIN_READY_SECONDS = 1;
const REVISION = 'deployment.kubernetes.io/revision';
const SAMPLE_MS = 100;

/** The state of the rollout as one sample of lists saw it. */
interface Sample {
  at: number;
  /** Pods not being deleted. */
  pods: number;
  /** Pods not being deleted that were seen Ready at least once (a readiness flap is the kubelet's, not the rollout's). */
  everReady: number;
  replicaSets: Array<{ name: string; revision: string; specReplicas: number; replicas: number; available: number }>;
}

function deployment(namespace: string, version: string): Deployment {
  return {
    metadata: { name: NAME, namespace },
    spec: {
      replicas: REPLICAS,
      minReadySeconds: MIN_READY_SECONDS,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: MAX_SURGE as never, maxUnavailable: MAX_UNAVAILABLE as never } },
      selector: { matchLabels: { app: NAME } },
      template: {
        metadata: { labels: { app: NAME } },
        spec: {
          containers: [
            {
              name: 'nginx',
              image: 'nginx',
              env: [{ name: 'VERSION', value: version }],
              ports: [{ containerPort: 80 }],
              readinessProbe: { httpGet: { path: '/', port: 80 as never }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  };
}

const revisionOf = (rs: ReplicaSet) => rs.metadata?.annotations?.[REVISION] ?? '';
const complete = (d: Deployment | undefined) =>
  !!d &&
  (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
  d.status?.updatedReplicas === REPLICAS &&
  d.status?.readyReplicas === REPLICAS &&
  d.status?.availableReplicas === REPLICAS &&
  d.status?.replicas === REPLICAS;

export const controllerManagerLeader: Scenario = {
  name: 'controller-manager-leader',
  number: 4,
  promises: [
    'Two kube-controller-managers run; one holds the Lease kube-system/kube-controller-manager and runs the controllers.',
    'When the leader dies mid-rollout, the standby acquires the lease after the lease duration and its deployment',
    `controller finishes the rollout from where it stopped: never more than replicas + maxSurge (${REPLICAS + MAX_SURGE}) pods, never fewer`,
    `available than replicas - maxUnavailable (${REPLICAS - MAX_UNAVAILABLE}), no extra ReplicaSet, revision annotations 1 and 2.`,
  ],
  async run(ctx: ScenarioContext): Promise<string[]> {
    const { client, timeline, namespace, topology } = ctx;
    const leaseSeconds = topology.profile.timings.leaderLeaseDurationSeconds;
    const problems: string[] = [];

    await client.create(DEPLOY, deployment(namespace, '1'));
    await waitFor(`Deployment ${NAME}: ${REPLICAS} replicas available (revision 1)`, async () => complete(await client.get(DEPLOY, namespace, NAME)), 120000, 250);
    ctx.log(`Deployment ${namespace}/${NAME}: ${REPLICAS} replicas, maxSurge ${MAX_SURGE}, maxUnavailable ${MAX_UNAVAILABLE}, minReadySeconds ${MIN_READY_SECONDS}, readiness probe every 1 s`);

    // Lists every SAMPLE_MS from before the rollout to the end: each is one revision of the store.
    const samples: Sample[] = [];
    const seenReady = new Set<string>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const at = Date.now();
        try {
          const [pods, sets] = await Promise.all([client.list(POD, namespace), client.list(RS, namespace)]);
          const live = pods.items.filter((p: Pod) => !p.metadata?.deletionTimestamp);
          for (const p of live) if (isReady(p)) seenReady.add(p.metadata?.uid ?? '');
          samples.push({
            at,
            pods: live.length,
            everReady: live.filter((p) => seenReady.has(p.metadata?.uid ?? '')).length,
            replicaSets: sets.items.map((rs) => ({
              name: rs.metadata?.name ?? '',
              revision: revisionOf(rs),
              specReplicas: rs.spec?.replicas ?? 0,
              replicas: rs.status?.replicas ?? 0,
              available: rs.status?.availableReplicas ?? 0,
            })),
          });
        } catch {
          // An apiserver hiccup loses one sample, nothing more.
        }
        await sleep(SAMPLE_MS);
      }
    })();

    try {
      const current = await client.get(DEPLOY, namespace, NAME);
      const next = deployment(namespace, '2');
      await client.update(DEPLOY, { ...current, spec: next.spec });
      const rolloutAt = timeline.mark('rollout started (template env VERSION=1 → 2)');

      // Kill once the new ReplicaSet exists, has an available pod, and is not yet fully scaled up.
      const partly = await waitFor('the new ReplicaSet partly scaled up', async () => {
        const rs = (await client.list(RS, namespace)).items.find((r) => revisionOf(r) === '2');
        if (!rs) return undefined;
        const spec = rs.spec?.replicas ?? 0;
        if (spec >= REPLICAS) throw new Error(`the rollout reached ${spec} new replicas before the fault could be injected`);
        return (rs.status?.availableReplicas ?? 0) >= 1 ? rs : undefined;
      }, 90000, 50);
      const lease = await waitFor('a controller-manager leader', async () => {
        const l = await client.tryGet(LEASE, 'kube-system', 'kube-controller-manager');
        return l?.spec?.holderIdentity ? l : undefined;
      }, 10000);
      const holder = lease.spec!.holderIdentity!;
      const processName = holder.split('_')[0];
      const pid = (await ctx.pids()).get(processName);
      if (!pid) throw new Error(`the lease holder ${holder} names ${processName}, which pm2 does not run`);
      signalPid(pid, 'SIGKILL');
      timeline.fault(`SIGKILL ${processName} (pid ${pid}), the controller-manager leader; new ReplicaSet ${partly.metadata?.name} at ${partly.spec?.replicas}/${REPLICAS}`);
      ctx.log(`rollout started ${secs(-timeline.sinceFault(rolloutAt))} before the kill; lease duration ${leaseSeconds} s`);

      const deadline = Date.now() + leaseSeconds * 1000 + 90000;
      let newHolder: string | undefined;
      let newHolderAt: number | undefined;
      let restartedAt: number | undefined;
      let resumedAt: number | undefined;
      let completeAt: number | undefined;
      let baseline: string | undefined;
      const specs = (s: Sample) => JSON.stringify(s.replicaSets.map((r) => [r.name, r.specReplicas]).sort());
      while (Date.now() < deadline && (!completeAt || restartedAt === undefined)) {
        if (!newHolder) {
          const l = await client.tryGet(LEASE, 'kube-system', 'kube-controller-manager').catch(() => undefined);
          const h = l?.spec?.holderIdentity;
          if (h && h !== holder) {
            newHolder = h;
            newHolderAt = timeline.mark(`lease holder changed to ${h}${h.split('_')[0] === processName ? ' (the restarted process, not the standby)' : ' (the standby)'}`);
            baseline = samples.length ? specs(samples[samples.length - 1]) : undefined;
          }
        }
        if (restartedAt === undefined) {
          const now = (await ctx.pids().catch(() => new Map<string, number>())).get(processName);
          if (now && now !== pid) restartedAt = timeline.mark(`pm2 restarted ${processName} (pid ${now}); it stands by`);
        }
        if (newHolderAt !== undefined && resumedAt === undefined) {
          // The first ReplicaSet scaling (a spec.replicas change) the new leader made.
          const changed = samples.find((s) => s.at > newHolderAt! && baseline !== undefined && specs(s) !== baseline);
          if (changed) {
            const rs = changed.replicaSets.map((r) => `${r.revision === '2' ? 'new' : 'old'} ${r.specReplicas}`).join(', ');
            resumedAt = timeline.mark(`rollout progress resumed (ReplicaSets scaled: ${rs})`, changed.at);
          }
        }
        if (!completeAt && complete(await client.get(DEPLOY, namespace, NAME).catch(() => undefined))) {
          const sets = (await client.list(RS, namespace)).items;
          const old = sets.find((r) => revisionOf(r) === '1');
          if (old && (old.spec?.replicas ?? 0) === 0 && (old.status?.replicas ?? 0) === 0) {
            completeAt = timeline.mark(`rollout complete: updatedReplicas = readyReplicas = availableReplicas = ${REPLICAS}, old ReplicaSet at 0`);
          }
        }
        await sleep(100);
      }
      if (resumedAt === undefined && newHolderAt !== undefined && completeAt !== undefined) {
        // The new leader's first scaling fell between two samples of the loop above.
        const changed = samples.find((s) => s.at > newHolderAt! && baseline !== undefined && specs(s) !== baseline);
        if (changed) resumedAt = timeline.mark('rollout progress resumed', changed.at);
      }
      await sleep(1000); // a last few samples after completion
      sampling = false;
      await sampler;

      ctx.log(
        `durations: kill → new lease holder ${secs(timeline.sinceFault(newHolderAt ?? NaN))} (lease ${leaseSeconds} s), ` +
          `kill → progress resumed ${secs(timeline.sinceFault(resumedAt ?? NaN))}, kill → rollout complete ${secs(timeline.sinceFault(completeAt ?? NaN))}, ` +
          `kill → old leader back ${secs(timeline.sinceFault(restartedAt ?? NaN))}`,
      );
      const maxPods = Math.max(...samples.map((s) => s.pods));
      const minAvailable = Math.min(...samples.map((s) => s.everReady));
      const maxSets = Math.max(...samples.map((s) => s.replicaSets.length));
      const maxSpec = Math.max(...samples.map((s) => s.replicaSets.reduce((n, r) => n + r.specReplicas, 0)));
      ctx.log(`${samples.length} samples: at most ${maxPods} pods (limit ${REPLICAS + MAX_SURGE}), ReplicaSet replicas summing to at most ${maxSpec}, at least ${minAvailable} ready pods (limit ${REPLICAS - MAX_UNAVAILABLE}), at most ${maxSets} ReplicaSets`);

      if (!newHolder) problems.push(`the lease holder was still ${holder} when the scenario gave up`);
      if (!completeAt) problems.push('the rollout did not complete');
      if (restartedAt === undefined) problems.push(`pm2 did not restart ${processName}`);
      if (maxPods > REPLICAS + MAX_SURGE) {
        const s = samples.find((x) => x.pods === maxPods)!;
        problems.push(`${maxPods} pods existed at ${secs(timeline.sinceFault(s.at))} after the kill (at most replicas + maxSurge = ${REPLICAS + MAX_SURGE})`);
      }
      if (maxSpec > REPLICAS + MAX_SURGE) problems.push(`the ReplicaSets' spec.replicas summed to ${maxSpec} (at most ${REPLICAS + MAX_SURGE})`);
      if (minAvailable < REPLICAS - MAX_UNAVAILABLE) {
        const s = samples.find((x) => x.everReady === minAvailable)!;
        problems.push(`only ${minAvailable} ready pods at ${secs(timeline.sinceFault(s.at))} after the kill (at least replicas - maxUnavailable = ${REPLICAS - MAX_UNAVAILABLE})`);
      }
      if (maxSets > 2) problems.push(`${maxSets} ReplicaSets existed at once (an orphaned or duplicate one; expected the old and the new)`);

      const d = await client.get(DEPLOY, namespace, NAME);
      const sets = (await client.list(RS, namespace)).items;
      const revisions = sets.map(revisionOf).sort();
      if (sets.length !== 2 || revisions.join(',') !== '1,2') problems.push(`ReplicaSets at the end: ${sets.map((r) => `${r.metadata?.name} (revision ${revisionOf(r) || 'none'}, ${r.spec?.replicas} replicas)`).join(', ')}; expected revisions 1 and 2`);
      if (d.metadata?.annotations?.[REVISION] !== '2') problems.push(`the Deployment's revision annotation is ${d.metadata?.annotations?.[REVISION] ?? 'missing'} (expected 2)`);
      for (const rs of sets) {
        const owner = rs.metadata?.ownerReferences?.find((o) => o.controller);
        if (owner?.uid !== d.metadata?.uid) problems.push(`ReplicaSet ${rs.metadata?.name} is not owned by the Deployment`);
      }
      const newRs = sets.find((r) => revisionOf(r) === '2');
      const pods = (await client.list(POD, namespace)).items.filter((p) => !p.metadata?.deletionTimestamp);
      const foreign = pods.filter((p) => p.metadata?.ownerReferences?.find((o) => o.controller)?.uid !== newRs?.metadata?.uid);
      if (pods.length !== REPLICAS || foreign.length > 0) problems.push(`${pods.length} pods at the end, ${foreign.length} of them not the new ReplicaSet's`);
      if (pods.some((p) => p.spec?.containers?.[0]?.env?.find((e) => e.name === 'VERSION')?.value !== '2')) problems.push('a pod at the end does not run the new template (VERSION=2)');
    } finally {
      sampling = false;
      await sampler;
    }
    return problems;
  },
};
