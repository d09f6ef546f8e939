/**
 * Issue 7 scenario 8: the etcd leader dies, then a follower. With one member down the other two
 * elect a leader and writes go on. With two down there is no quorum: every write and consistent
 * read fails fast with 503 ServiceUnavailable naming etcd (no hang until the client's deadline).
 * When a member returns the quorum is back, writes resume, and every acknowledged write is there.
 */
import * as http from 'http';
import { ApiError } from '../../services/lib/errors';
import { etcdLeader } from '../lib/probe';
import { CONFIGMAP, SteadyWriter, checkWrites, describeError, etcdLeaderViews, killAndKeepDown, median } from './configmap-writer';
import { Scenario, ScenarioContext, pollUntil, runPm2, secs } from './lib';

/** A failure slower than this while the quorum is lost counts as a hang. */
const FAST_MS = 4000;

/** One REST request; resolves the status code and body, or the transport error. Never rejects. */
function restRequest(address: string, method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: string } | { error: string }> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { host, port: Number(port), method, path: urlPath, agent: false, timeout: 15000, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', (err) => resolve({ error: err.message }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(data);
  });
}

export const etcd: Scenario = {
  name: 'etcd',
  number: 8,
  promises: [
    'etcd commits a write once a majority of its members has it: with 3 members it tolerates one failure.',
    'When the leader dies, the other two elect a new one within about an election timeout and writes go on.',
    'With two of three members down nothing can be committed: the apiserver answers every write and every',
    'consistent read at once with 503 ServiceUnavailable naming etcd, never hanging until the client gives up.',
    'When a member returns the quorum is back, writes resume, and every acknowledged write is there.',
  ],
  async run(ctx: ScenarioContext): Promise<string[]> {
    const { client, timeline, namespace, topology } = ctx;
    const members = topology.processes.filter((p) => p.component === 'etcd').map((p) => ({ name: p.name, address: p.address }));
    if (members.length < 3) throw new Error(`this scenario needs 3 etcd members, the cluster has ${members.length}`);
    const rest = topology.processes.find((p) => p.component === 'kube-apiserver' && p.ports.http)?.ports.http;
    const restAddress = rest ? `127.0.0.1:${rest}` : undefined;
    const problems: string[] = [];
    const stopped: string[] = [];
    const writer = new SteadyWriter(client, namespace);
    writer.start();
    try {
      if (!(await writer.waitAcked(10, 30000))) throw new Error('the writer got no 10 writes acknowledged in 30 s before any fault');
      const leader = await etcdLeader(members);
      if (!leader) throw new Error('no etcd member reports a leader');
      const pids = await ctx.pids();
      const leaderPid = pids.get(leader)!;
      ctx.log(`etcd leader: ${leader} (pid ${leaderPid}); a ConfigMap write every ~75 ms (${writer.acked().length} acknowledged so far)`);

      // 1. The leader dies and stays down.
      const down1 = await killAndKeepDown(topology, leader, leaderPid);
      stopped.push(leader);
      const kill1 = down1.killedAt;
      timeline.fault(`SIGKILL ${leader} (pid ${leaderPid}), the etcd leader`, kill1);
      timeline.mark(`pm2 stop ${leader}: kept down, 2 of 3 members${down1.restartedMeanwhile ? ' (pm2 had restarted it; stopped again)' : ''}`);
      const rest2 = members.filter((m) => m.name !== leader);
      const newLeader = await pollUntil(() => etcdLeader(rest2, 500), 30000, 100);
      const newLeaderAt = newLeader ? timeline.mark(`new etcd leader: ${newLeader}`) : NaN;
      if (!newLeader) problems.push('the two remaining members elected no leader within 30 s');
      if (!(await writer.waitAcked(20, 30000))) problems.push('writes did not go on with 2 of 3 members');
      const phase1End = Date.now();
      const gap = writer.longestAckGap(kill1 - 1000, phase1End);
      if (gap) {
        timeline.mark('writes paused (last acknowledged before the longest gap)', gap.from);
        timeline.mark(`writes resumed (gap ${secs(gap.to - gap.from)})`, gap.to);
      }
      const failed1 = writer.writes.filter((w) => w.err && w.endedAt >= kill1 && w.endedAt <= phase1End);
      for (const w of failed1.slice(0, 3)) timeline.mark(`write ${w.name} failed after ${secs(w.endedAt - w.startedAt)}: ${describeError(w.err)}`, w.endedAt);

      // 2. A follower dies too: one member left, no quorum.
      const follower = rest2.find((m) => m.name !== newLeader)?.name ?? rest2[0].name;
      const survivor = rest2.find((m) => m.name !== follower)!;
      const followerPid = (await ctx.pids()).get(follower)!;
      const down2 = await killAndKeepDown(topology, follower, followerPid);
      stopped.push(follower);
      const kill2 = timeline.mark(`SIGKILL ${follower} (pid ${followerPid}), a follower: 1 of 3 members left, quorum lost`, down2.killedAt);
      timeline.mark(`pm2 stop ${follower}: kept down${down2.restartedMeanwhile ? ' (pm2 had restarted it; stopped again)' : ''}`);
      const noLeader = await pollUntil(async () => !(await etcdLeaderViews([survivor])).get(survivor.name), 15000, 100);
      if (noLeader) timeline.mark(`${survivor.name} reports no leader`);
      // The outage lasts until 10 failures have been seen over at least 3 s.
      const outage = await pollUntil(async () => {
        const failed = writer.writes.filter((w) => w.err && w.startedAt >= kill2);
        return failed.length >= 10 && Date.now() - failed[0].endedAt >= 3000 ? failed : undefined;
      }, 30000, 100);
      const failed2 = writer.writes.filter((w) => w.err && w.startedAt >= kill2);
      const first = failed2[0];
      if (first) {
        timeline.mark(`first write failed in ${secs(first.endedAt - first.startedAt)}: ${describeError(first.err)}`, first.endedAt);
      }
      if (!outage) problems.push(`only ${failed2.length} writes failed within 30 s of losing the quorum`);
      const ackedDuring = writer.acked().filter((w) => w.startedAt >= kill2);
      if (ackedDuring.length > 0) problems.push(`${ackedDuring.length} writes were acknowledged without a quorum (${ackedDuring[0].name})`);

      // Reads need the quorum too (linearizable): gRPC get and the REST API.
      const readStart = Date.now();
      const readErr = await client.get(CONFIGMAP, namespace, 'w-0').then(() => undefined, (e: Error) => e);
      const readMs = Date.now() - readStart;
      timeline.mark(`gRPC get w-0 ${readErr ? `failed in ${secs(readMs)}: ${describeError(readErr)}` : 'succeeded'}`);
      if (!readErr) problems.push('a consistent read succeeded without a quorum');
      else if (!(readErr instanceof ApiError) || readErr.code !== 503) problems.push(`a read without quorum failed as ${describeError(readErr)}, not 503 ServiceUnavailable`);
      if (restAddress) {
        const restStart = Date.now();
        const r = await restRequest(restAddress, 'POST', `/api/v1/namespaces/${namespace}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'rest-write' }, data: { via: 'rest' } });
        const restMs = Date.now() - restStart;
        const status = 'status' in r ? (JSON.parse(r.body || '{}') as { kind?: string; reason?: string; message?: string }) : undefined;
        timeline.mark(`REST POST configmaps → ${'status' in r ? `${r.status} ${status?.reason}: ${status?.message}` : r.error} in ${secs(restMs)}`);
        if (!('status' in r) || r.status !== 503 || status?.kind !== 'Status' || status.reason !== 'ServiceUnavailable' || !/etcd|storage/i.test(status.message ?? '')) {
          problems.push(`REST POST without quorum answered ${'status' in r ? `${r.status} ${r.body.slice(0, 200)}` : r.error}, not a 503 Status naming etcd`);
        }
        if (restMs > FAST_MS) problems.push(`REST POST without quorum took ${secs(restMs)}`);
      }

      const slow = failed2.filter((w) => w.endedAt - w.startedAt > FAST_MS);
      for (const w of slow.slice(0, 3)) problems.push(`write ${w.name} hung ${secs(w.endedAt - w.startedAt)} before failing while etcd had no quorum`);
      const wrong = failed2.filter((w) => !(w.err instanceof ApiError) || w.err.code !== 503 || !/etcd/i.test(w.err.message));
      for (const w of wrong.slice(0, 3)) problems.push(`write ${w.name} failed as ${describeError(w.err)}, not 503 ServiceUnavailable naming etcd`);
      const latencies = failed2.map((w) => w.endedAt - w.startedAt);
      ctx.log(`without quorum: ${failed2.length} writes failed, median ${secs(median(latencies))}, slowest ${secs(Math.max(0, ...latencies))}`);

      // 3. One member returns: quorum.
      const back = leader;
      await runPm2(topology, 'start', back);
      stopped.splice(stopped.indexOf(back), 1);
      const startedAt = timeline.mark(`pm2 start ${back}`);
      const quorumLeader = await pollUntil(() => etcdLeader([survivor, members.find((m) => m.name === back)!], 500), 60000, 100);
      const quorumAt = quorumLeader ? timeline.mark(`quorum back: ${quorumLeader} leads (2 of 3 members)`) : NaN;
      if (!quorumLeader) problems.push(`no etcd leader within 60 s of starting ${back}`);
      const resumed = await pollUntil(async () => writer.acked().find((w) => w.startedAt >= startedAt), 60000, 50);
      if (resumed) timeline.mark(`first write acknowledged again (${resumed.name}, resourceVersion ${resumed.rv})`, resumed.endedAt);
      else problems.push('no write was acknowledged within 60 s of the quorum returning');

      await runPm2(topology, 'start', follower);
      stopped.splice(stopped.indexOf(follower), 1);
      timeline.mark(`pm2 start ${follower}`);
      const all = await pollUntil(async () => {
        const views = [...(await etcdLeaderViews(members)).values()];
        return views.every((v) => v !== undefined && v === views[0]);
      }, 60000, 200);
      if (all) timeline.mark('all 3 members follow a leader');
      else problems.push('not every etcd member followed a leader within 60 s of restarting them');
      await writer.waitAcked(10, 15000);
      ctx.log(
        `durations: leader kill → new leader ${secs(timeline.sinceFault(newLeaderAt))}, longest write gap ${secs(gap ? gap.to - gap.from : NaN)}; ` +
          `quorum lost → first failure ${secs(first ? first.endedAt - kill2 : NaN)} (that write took ${secs(first ? first.endedAt - first.startedAt : NaN)}); ` +
          `pm2 start → quorum ${secs(quorumAt - startedAt)}, → first write acknowledged ${secs(resumed ? resumed.endedAt - startedAt : NaN)}`,
      );
    } finally {
      await writer.stop();
      for (const name of stopped) await runPm2(topology, 'start', name).catch((err: Error) => problems.push(err.message));
    }

    const { problems: lost, storedUnacked } = await checkWrites(client, namespace, writer.writes);
    problems.push(...lost);
    const acked = writer.acked();
    ctx.log(`checked: ${acked.length} acknowledged writes all stored with their values, resourceVersions strictly increasing; ${storedUnacked} of ${writer.writes.length - acked.length} failed writes were committed all the same (outcome unknown when they failed)`);
    return problems;
  },
};
