/**
 * Issue 7 scenario 5: a kubelet dies and stays down (`pm2 stop`, as systemctl stop on a node).
 * Its containers keep running; the node lifecycle controller marks the node NotReady (Ready
 * Unknown) after the grace period and taints it; the taint-eviction controller deletes its pods
 * after their toleration; the ReplicaSet recreates them elsewhere. When the kubelet returns the
 * node is Ready again and it cleans up the evicted pods' leftovers.
 */
import { resourceForCase } from '../../services/lib/resources';
import { POD, Scenario, ScenarioContext, httpGet, isReady, pollUntil, secs, signalPid, sleep, waitFor } from './lib';

const DEPLOY = resourceForCase('deployment');
const NODE = resourceForCase('node');
const NAME = 'web';

export const kubelet: Scenario = {
  name: 'kubelet',
  number: 5,
  promises: [
    'A kubelet that dies takes none of its containers with it: they keep running and serving.',
    'The node stops renewing its Lease; after nodeMonitorGracePeriod the node is NotReady (Ready=Unknown) and tainted',
    'unreachable; after the pods\' toleration (podEvictionTimeout) they are evicted and their controller recreates them',
    'on another node. When the kubelet returns, the node is Ready again and the evicted pods are cleaned up there.',
  ],
  async run(ctx: ScenarioContext): Promise<string[]> {
    const { client, timeline, namespace, topology } = ctx;
    const t = topology.profile.timings;
    await client.create(DEPLOY, {
      metadata: { name: NAME, namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: NAME } },
        template: { metadata: { labels: { app: NAME } }, spec: { containers: [{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 80 }] }] } },
      },
    });
    const pod = await waitFor('the nginx pod Ready', async () => (await client.list(POD, namespace)).items.find(isReady), 90000, 250);
    const podName = pod.metadata!.name!;
    const nodeName = pod.spec!.nodeName!;
    const podIP = pod.status!.podIP!;
    const kubeletName = `kubelet-${nodeName}`;
    const pid = (await ctx.pids()).get(kubeletName);
    if (!pid) throw new Error(`pm2 shows no pid for ${kubeletName}`);
    ctx.log(`pod ${podName} on ${nodeName} (${podIP}); ${kubeletName} pid ${pid}; grace period ${t.nodeMonitorGracePeriodSeconds} s, eviction after ${t.podEvictionTimeoutSeconds} s`);

    const problems: string[] = [];
    let stopped = false;
    let served = 0;
    let servedFailed = 0;
    let notReadyAt: number | undefined;
    let evictedAt: number | undefined;
    let noExecuteAt: number | undefined;
    let replacementAt: number | undefined;
    let replacement = '';
    try {
      signalPid(pid, 'SIGKILL');
      timeline.fault(`SIGKILL ${kubeletName} (pid ${pid})`);
      await ctx.pm2('stop', kubeletName);
      stopped = true;
      timeline.mark(`pm2 stop ${kubeletName}: kept down`);

      const deadline = Date.now() + (t.nodeMonitorGracePeriodSeconds + t.podEvictionTimeoutSeconds) * 1000 + 60000;
      while (Date.now() < deadline && !(notReadyAt && evictedAt && replacementAt)) {
        if (!evictedAt) {
          const r = await httpGet(podIP, 80, '/', 1000);
          if ('status' in r && r.status === 200) served++;
          else if (servedFailed++ === 0) timeline.mark(`pod IP ${podIP} did not answer (${'error' in r ? r.error : r.status})`);
        }
        if (!notReadyAt || !noExecuteAt) {
          const node = await client.get(NODE, '', nodeName).catch(() => undefined);
          const taint = node?.spec?.taints?.find((x) => x.effect === 'NoExecute');
          if (!noExecuteAt && taint) noExecuteAt = timeline.mark(`node ${nodeName} tainted ${taint.key}:NoExecute (pods without a longer toleration are evicted after theirs)`);
          const ready = node?.status?.conditions?.find((c) => c.type === 'Ready');
          if (!notReadyAt && ready && ready.status !== 'True') {
            notReadyAt = timeline.mark(`node ${nodeName} NotReady (Ready=${ready.status}, ${ready.reason ?? ''}); taints: ${(node?.spec?.taints ?? []).map((x) => `${x.key}:${x.effect}`).join(', ')}`);
          }
        }
        const pods = (await client.list(POD, namespace).catch(() => ({ items: [] }))).items;
        const old = pods.find((p) => p.metadata?.name === podName);
        if (!evictedAt && (!old || old.metadata?.deletionTimestamp)) {
          const why = old?.status?.conditions?.find((c) => c.type === 'DisruptionTarget');
          evictedAt = timeline.mark(`pod ${podName} evicted${why ? ` (${why.reason})` : ''}; its containers served ${served} requests on ${podIP} meanwhile`);
        }
        const fresh = pods.find((p) => p.metadata?.name !== podName && !p.metadata?.deletionTimestamp && p.status?.phase === 'Running' && isReady(p));
        if (!replacementAt && fresh) {
          replacement = `${fresh.metadata!.name} on ${fresh.spec!.nodeName}`;
          replacementAt = timeline.mark(`replacement ${replacement} Running and Ready`);
          if (fresh.spec!.nodeName === nodeName) problems.push(`the replacement ran on the dead node ${nodeName}`);
        }
        await sleep(250);
      }
    } finally {
      if (stopped) {
        await ctx.pm2('start', kubeletName);
        timeline.mark(`pm2 start ${kubeletName}`);
      }
    }
    const readyAgain = await pollUntil(async () => {
      const node = await client.get(NODE, '', nodeName);
      return node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    }, 60000, 250);
    if (readyAgain) timeline.mark(`node ${nodeName} Ready again`);
    const cleaned = await pollUntil(async () => !(await client.tryGet(POD, namespace, podName)), 60000, 250);
    if (cleaned) timeline.mark(`evicted pod ${podName} gone (its kubelet finished it)`);

    ctx.log(
      `durations: kill → NotReady ${secs(timeline.sinceFault(notReadyAt ?? NaN))}, kill → evicted ${secs(timeline.sinceFault(evictedAt ?? NaN))}, ` +
        `kill → replacement Running ${secs(timeline.sinceFault(replacementAt ?? NaN))}; the old pod's IP answered ${served} of ${served + servedFailed} checks while its kubelet was down`,
    );
    if (served === 0) problems.push(`the pod's containers did not answer on ${podIP} while the kubelet was down`);
    if (!notReadyAt) problems.push(`node ${nodeName} never went NotReady`);
    if (!evictedAt) problems.push(`pod ${podName} was never evicted`);
    if (!replacementAt) problems.push('no replacement pod became Running and Ready on another node');
    if (!readyAgain) problems.push(`node ${nodeName} was not Ready again within 60 s of pm2 start`);
    if (!cleaned) problems.push(`the evicted pod ${podName} was still there 60 s after the kubelet returned`);
    return problems;
  },
};
