/**
 * Issue 7 scenario 6: a container runtime dies (SIGKILL; pm2 restarts it). Its containers die
 * with it (the runtime's restart recovery marks them exited, "container runtime restarted");
 * the kubelet restarts them once the runtime is back and their restartCount goes up.
 */
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { POD, Scenario, ScenarioContext, httpGet, isReady, secs, signalPid, sleep, waitFor } from './lib';

const NODE = resourceForCase('node');
const NAMES = ['web-0', 'web-1'];

const restartsOf = (p: Pod | undefined) => (p?.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0);

export const containerRuntime: Scenario = {
  name: 'container-runtime',
  number: 6,
  promises: [
    'A container runtime that dies takes its containers with it; the kubelet keeps the pods, and once the runtime',
    'is back it restarts their containers (restartPolicy Always): same pods, restartCount +1, serving again.',
  ],
  async run(ctx: ScenarioContext): Promise<string[]> {
    const { client, timeline, namespace } = ctx;
    const nodes = (await client.list(NODE, '')).items;
    const node = nodes.find((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    if (!node) throw new Error('no Ready node');
    const nodeName = node.metadata!.name!;
    const hostname = node.metadata?.labels?.['kubernetes.io/hostname'] ?? nodeName;
    for (const name of NAMES) {
      await client.create(POD, {
        metadata: { name, namespace, labels: { app: 'web' } },
        spec: { nodeSelector: { 'kubernetes.io/hostname': hostname }, containers: [{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 80 }] }] },
      });
    }
    const podsNow = async () => ((await client.list(POD, namespace)).items as Pod[]).filter((p) => NAMES.includes(p.metadata?.name ?? ''));
    const before = await waitFor('both nginx pods Ready', async () => {
      const pods = await podsNow();
      return pods.length === NAMES.length && pods.every(isReady) ? pods : undefined;
    }, 90000, 250);
    const restartsBefore = new Map(before.map((p) => [p.metadata!.name!, restartsOf(p)]));
    const runtimeName = `container-runtime-${nodeName}`;
    const pid = (await ctx.pids()).get(runtimeName);
    if (!pid) throw new Error(`pm2 shows no pid for ${runtimeName}`);
    for (const p of before) ctx.log(`pod ${p.metadata!.name} on ${p.spec!.nodeName} (${p.status!.podIP}), restartCount ${restartsOf(p)}, container ${p.status?.containerStatuses?.[0]?.containerID ?? '?'}`);
    ctx.log(`${runtimeName} pid ${pid}`);

    signalPid(pid, 'SIGKILL');
    timeline.fault(`SIGKILL ${runtimeName} (pid ${pid})`);

    const problems: string[] = [];
    let runtimeBackAt: number | undefined;
    let lastReady: string | undefined = 'True';
    const downAt = new Map<string, number>();
    const restartedAt = new Map<string, number>();
    const answeringAt = new Map<string, number>();
    // A runtime away longer than the pods' not-ready toleration gets them evicted, as in Kubernetes.
    const deletedAt = new Map<string, { at: number; why: string }>();
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline && answeringAt.size + deletedAt.size < NAMES.length) {
      if (!runtimeBackAt) {
        const now = (await ctx.pids().catch(() => new Map<string, number>())).get(runtimeName);
        if (now && now !== pid) runtimeBackAt = timeline.mark(`${runtimeName} back (pm2 restarted it, pid ${now})`);
      }
      const n = await client.get(NODE, '', nodeName).catch(() => undefined);
      const ready = n?.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready && ready.status !== lastReady) {
        timeline.mark(`node ${nodeName} Ready=${ready.status}${ready.reason ? ` (${ready.reason})` : ''}`);
        lastReady = ready.status;
      }
      const pods = await podsNow().catch(() => [] as Pod[]);
      for (const name of NAMES) {
        const p = pods.find((x) => x.metadata?.name === name);
        if (!deletedAt.has(name) && (!p || p.metadata?.deletionTimestamp)) {
          const why = p?.status?.conditions?.find((c) => c.type === 'DisruptionTarget')?.reason ?? 'deleted';
          deletedAt.set(name, { at: timeline.mark(`pod ${name} ${why === 'deleted' ? 'deleted' : `evicted (${why})`}`), why });
        }
        if (deletedAt.has(name)) continue;
        const ip = p?.status?.podIP;
        if (!downAt.has(name)) {
          const r = ip ? await httpGet(ip, 80, '/', 500) : { error: 'no pod IP' };
          if (!('status' in r && r.status === 200)) downAt.set(name, timeline.mark(`pod ${name} IP ${ip ?? '-'} stopped answering (${'error' in r ? r.error : r.status})`));
          continue;
        }
        const restarts = restartsOf(p);
        const running = p?.status?.containerStatuses?.every((c) => c.state?.running) ?? false;
        if (!restartedAt.has(name) && running && isReady(p!) && restarts > (restartsBefore.get(name) ?? 0)) {
          restartedAt.set(name, timeline.mark(`pod ${name} Running and Ready again, restartCount ${restartsBefore.get(name)} → ${restarts}`));
        }
        if (restartedAt.has(name) && !answeringAt.has(name) && ip) {
          const r = await httpGet(ip, 80, '/', 500);
          if ('status' in r && r.status === 200) answeringAt.set(name, timeline.mark(`pod ${name} IP ${ip} answering HTTP again`));
        }
      }
      await sleep(200);
    }
    const worst = Math.max(...NAMES.map((n) => timeline.sinceFault(answeringAt.get(n) ?? NaN)));
    ctx.log(
      `durations: kill → runtime back ${secs(timeline.sinceFault(runtimeBackAt ?? NaN))}, ` +
        NAMES.map((n) => `${n}: down ${secs(timeline.sinceFault(downAt.get(n) ?? NaN))}, restarted ${secs(timeline.sinceFault(restartedAt.get(n) ?? NaN))}, answering ${secs(timeline.sinceFault(answeringAt.get(n) ?? NaN))}`).join('; ') +
        `; all answering ${secs(worst)}`,
    );
    if (!runtimeBackAt) problems.push(`${runtimeName} was not back (new pid) within 60 s`);
    const tolerationSeconds = ctx.topology.profile.timings.podEvictionTimeoutSeconds;
    for (const name of NAMES) {
      const deleted = deletedAt.get(name);
      if (deleted) {
        problems.push(
          `pod ${name} was ${deleted.why === 'deleted' ? 'deleted' : `evicted (${deleted.why})`} ${secs(timeline.sinceFault(deleted.at))} after the kill: ` +
            `the node was NotReady longer than the pods' not-ready toleration (${tolerationSeconds} s), as Kubernetes does; ` +
            `the runtime was back ${secs(timeline.sinceFault(runtimeBackAt ?? NaN))} after the kill (pm2 delays the restart of a process that died within 10 s of its last start)`,
        );
      } else if (!downAt.has(name)) problems.push(`pod ${name} never stopped answering: its containers did not die with the runtime`);
      else if (!restartedAt.has(name)) problems.push(`pod ${name} was not Running and Ready with a higher restartCount within 60 s`);
      else if (!answeringAt.has(name)) problems.push(`pod ${name} did not answer HTTP again within 60 s`);
    }
    return problems;
  },
};
