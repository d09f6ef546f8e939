/**
 * Issue 7 scenario 9: a NATS server dies, then all of them. Watchers (an informer in this process,
 * a REST watch, the components' own informers) move to the surviving servers, and when NATS is
 * gone altogether writes still succeed (the apiserver writes to etcd); when NATS returns the
 * publisher catches up from etcd's history and every watcher resumes where it was, missing nothing.
 */
import * as http from 'http';
import { Events, NatsConnection } from 'nats';
import { ConfigMap } from '../../services/lib/generated/kubemu/core/v1/core';
import { Informer } from '../../services/lib/informer';
import { Logger } from '../../services/lib/log';
import { resourceForCase } from '../../services/lib/resources';
import { connectBus, revisionOf, WATCH_STREAM } from '../../services/lib/watchbus';
import { CONFIGMAP, SteadyWriter, Write, checkWrites, killAndKeepDown } from './configmap-writer';
import { POD, Scenario, ScenarioContext, isReady, pollUntil, runPm2, secs, sleep, waitFor } from './lib';

const DEPLOY = resourceForCase('deployment');
/** How long every NATS server stays down. */
const OUTAGE_MS = 15000;

/** One watch event as a watcher saw it. */
interface Seen {
  type: string;
  name: string;
  rv: number;
  at: number;
}

/**
 * A REST watch on ConfigMaps of one namespace that re-watches from the last resourceVersion it saw
 * whenever the stream ends, as client-go's reflector does. Records every event.
 */
class RestWatcher {
  readonly events: Seen[] = [];
  readonly problems: string[] = [];
  /** When each watch request after the first was made. */
  readonly rewatches: number[] = [];
  private stopped = false;
  private current: http.ClientRequest | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly addresses: string[],
    private readonly namespace: string,
    private rv: number,
  ) {}

  start(): void {
    this.loop = (async () => {
      for (let i = 0; !this.stopped; i++) {
        if (i > 0) this.rewatches.push(Date.now());
        await this.watchOnce(this.addresses[i % this.addresses.length]);
        if (!this.stopped) await sleep(200);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.destroy();
    await this.loop;
  }

  private watchOnce(address: string): Promise<void> {
    const [host, port] = address.split(':');
    const path = `/api/v1/namespaces/${this.namespace}/configmaps?watch=true&resourceVersion=${this.rv}&timeoutSeconds=600`;
    return new Promise((resolve) => {
      const req = http.get({ host, port: Number(port), path, agent: false }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          res.on('end', () => resolve());
          return;
        }
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buffer += d;
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            if (line) this.onLine(line);
          }
        });
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      });
      this.current = req;
      req.on('error', () => resolve());
    });
  }

  private onLine(line: string): void {
    let ev: { type?: string; object?: { kind?: string; code?: number; message?: string; metadata?: { name?: string; resourceVersion?: string } } };
    try {
      ev = JSON.parse(line);
    } catch {
      return;
    }
    if (ev.type === 'ERROR') {
      if (ev.object?.code === 410) this.problems.push(`the REST watch from resourceVersion ${this.rv} expired (410): ${ev.object.message}`);
      return;
    }
    if (ev.type === 'BOOKMARK') return;
    const rv = Number(ev.object?.metadata?.resourceVersion ?? 0);
    this.events.push({ type: ev.type ?? '?', name: ev.object?.metadata?.name ?? '?', rv, at: Date.now() });
    if (rv > this.rv) this.rv = rv;
  }
}

/** Checks that `events` hold each acknowledged write exactly once, with its resourceVersion, in resourceVersion order. */
function checkSeen(who: string, events: Seen[], acked: Write[]): string[] {
  const problems: string[] = [];
  for (let i = 1; i < events.length; i++) {
    if (events[i].rv <= events[i - 1].rv) {
      problems.push(`${who}: event ${events[i].type} ${events[i].name}@${events[i].rv} came after ${events[i - 1].name}@${events[i - 1].rv}`);
      break;
    }
  }
  const byName = new Map<string, Seen[]>();
  for (const e of events) byName.set(e.name, [...(byName.get(e.name) ?? []), e]);
  let missed = 0;
  let twice = 0;
  for (const w of acked) {
    const seen = byName.get(w.name) ?? [];
    if (seen.length === 0) {
      if (missed++ < 3) problems.push(`${who} never saw ${w.name} (resourceVersion ${w.rv})`);
    } else if (seen.length > 1) {
      if (twice++ < 3) problems.push(`${who} saw ${w.name} ${seen.length} times (${seen.map((s) => `${s.type}@${s.rv}`).join(', ')})`);
    } else if (seen[0].rv !== w.rv) {
      problems.push(`${who} saw ${w.name} at resourceVersion ${seen[0].rv}, acknowledged at ${w.rv}`);
    }
  }
  if (missed > 3) problems.push(`${who} missed ${missed} writes in all`);
  if (twice > 3) problems.push(`${who} saw ${twice} writes more than once in all`);
  return problems;
}

export const nats: Scenario = {
  name: 'nats',
  number: 9,
  promises: [
    'The watch stream is replicated on 3 NATS servers: when one dies, every watcher moves to another server and',
    'goes on from where it was. When all are down, the API still accepts writes (they go to etcd); watchers wait.',
    'When NATS returns, the publisher publishes what was committed meanwhile, from etcd\'s history, and every',
    'watcher resumes from the last resourceVersion it saw: each change delivered exactly once, in order, nothing missed;',
    'controllers act on what changed meanwhile (a Deployment scaled during the outage converges).',
  ],
  async run(ctx: ScenarioContext): Promise<string[]> {
    const { client, timeline, namespace, topology } = ctx;
    const servers = topology.processes.filter((p) => p.component === 'nats');
    if (servers.length < 2) throw new Error(`this scenario needs several NATS servers, the cluster has ${servers.length}`);
    const restAddresses = topology.processes.filter((p) => p.component === 'kube-apiserver' && p.ports.http).map((p) => `127.0.0.1:${p.ports.http}`);
    const problems: string[] = [];
    const stopped: string[] = [];

    // The workload a controller has to act on after the outage.
    await client.create(DEPLOY, {
      metadata: { name: 'web', namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx' }] } },
      },
    });
    await waitFor('the Deployment\'s pod Ready', async () => (await client.list(POD, namespace)).items.find(isReady), 90000, 250);

    const nc: NatsConnection = await connectBus(topology.natsServers, 'scenario-nats');
    // Made while NATS is up: jetstreamManager() asks the server for the account info.
    const jsm = await nc.jetstreamManager();
    const reconnects: { at: number; server: string }[] = [];
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === Events.Reconnect) reconnects.push({ at: Date.now(), server: String(s.data) });
      }
    })();
    const seen: Seen[] = [];
    // The informer's own account of its watch ending and resuming goes on the timeline.
    const restarts: { at: number; reason: string }[] = [];
    const note = (msg: string, fields?: Record<string, unknown>) => {
      if (msg.startsWith('informer:')) restarts.push({ at: Date.now(), reason: `${msg.slice('informer: '.length)}: ${String(fields?.reason ?? '')}` });
    };
    const log: Logger = { debug: () => undefined, info: note, warn: note, error: note, with: () => log };
    const informer = new Informer({ client, nats: nc, info: CONFIGMAP, namespace, log });
    const record = (type: string) => (obj: ConfigMap) => seen.push({ type, name: obj.metadata!.name!, rv: Number(obj.metadata!.resourceVersion), at: Date.now() });
    informer.addHandlers({ onAdd: record('ADDED'), onUpdate: (_old, obj) => record('MODIFIED')(obj), onDelete: record('DELETED') });
    await informer.start();
    const listRv = Number((await client.list(CONFIGMAP, namespace)).resourceVersion);
    const rest = restAddresses.length ? new RestWatcher(restAddresses, namespace, listRv) : undefined;
    rest?.start();
    const writer = new SteadyWriter(client, namespace);
    writer.start();
    const firstSeenAfter = (events: Seen[], t: number) => events.find((e) => e.at > t);
    try {
      if (!(await writer.waitAcked(10, 30000))) throw new Error('the writer got no 10 writes acknowledged in 30 s before any fault');
      await pollUntil(async () => seen.length >= 10, 10000, 50);
      const pids = await ctx.pids();
      const connectedTo = nc.info?.server_name;
      const victim = servers.find((s) => s.name === connectedTo) ?? servers[0];
      ctx.log(`the scenario's informer is connected to ${connectedTo ?? '?'}; a ConfigMap write every ~75 ms; ${seen.length} events seen so far`);

      // 1. One server dies: the one this informer reads from.
      stopped.push(victim.name);
      const down = await killAndKeepDown(topology, victim.name, pids.get(victim.name)!);
      timeline.fault(`SIGKILL ${victim.name} (pid ${pids.get(victim.name)}), the NATS server the scenario's informer reads from`, down.killedAt);
      timeline.mark(`pm2 stop ${victim.name}: kept down (${servers.length - 1} of ${servers.length} servers)`);
      const moved = await pollUntil(async () => reconnects.find((r) => r.at > down.killedAt), 30000, 50);
      if (moved) timeline.mark(`informer's connection moved to ${moved.server}`, moved.at);
      else problems.push(`the scenario's NATS connection did not move to another server within 30 s`);
      const firstAfter = await pollUntil(async () => firstSeenAfter(seen, down.killedAt), 30000, 50);
      if (firstAfter) timeline.mark(`watchers moved: first informer event after the kill (${firstAfter.name})`, firstAfter.at);
      else problems.push('the informer saw no event within 30 s of the server dying');
      const restAfter = rest ? await pollUntil(async () => firstSeenAfter(rest.events, down.killedAt), 30000, 50) : undefined;
      if (restAfter) timeline.mark(`first REST watch event after the kill (${restAfter.name})`, restAfter.at);
      else if (rest) problems.push('the REST watch saw no event within 30 s of the server dying');
      await writer.waitAcked(20, 30000);

      // 2. Every server down.
      const others = servers.filter((s) => s.name !== victim.name);
      const pids2 = await ctx.pids();
      const downs = await Promise.all(
        others.map((s) => {
          stopped.push(s.name);
          return killAndKeepDown(topology, s.name, pids2.get(s.name)!);
        }),
      );
      const allDownAt = timeline.mark(`SIGKILL ${others.map((s) => s.name).join(', ')}: every NATS server down, kept down`, Math.max(...downs.map((d) => d.killedAt)));
      const ackedInOutage = await pollUntil(async () => writer.acked().find((w) => w.startedAt > allDownAt), 15000, 50);
      if (ackedInOutage) timeline.mark(`writes still acknowledged (${ackedInOutage.name}, resourceVersion ${ackedInOutage.rv})`, ackedInOutage.endedAt);
      else problems.push('no write was acknowledged while NATS was down');
      const scale = await client.getScale(DEPLOY, namespace, 'web');
      await client.updateScale(DEPLOY, namespace, { ...scale, spec: { replicas: 3 } });
      timeline.mark('Deployment web scaled 1 → 3 (no controller can see it yet)');
      await sleep(Math.max(0, allDownAt + OUTAGE_MS - Date.now()));
      const lastBefore = writer.acked().slice(-1)[0];
      const seenBeforeBack = seen.length;

      // 3. NATS returns.
      for (const s of servers) {
        await runPm2(topology, 'start', s.name);
        stopped.splice(stopped.indexOf(s.name), 1);
      }
      const startedAt = timeline.mark(`pm2 start ${servers.map((s) => s.name).join(', ')} (down ${secs(Date.now() - allDownAt)})`);
      const back = await pollUntil(async () => reconnects.find((r) => r.at > allDownAt), 60000, 50);
      if (back) timeline.mark(`NATS back: the informer's connection reconnected to ${back.server}`, back.at);
      else problems.push('the scenario\'s NATS connection did not reconnect within 60 s');
      const caughtUp = await pollUntil(async () => {
        // The stream may have no leader yet: not caught up.
        try {
          const info = await jsm.streams.info(WATCH_STREAM);
          const last = await jsm.streams.getMessage(WATCH_STREAM, { seq: info.state.last_seq });
          return revisionOf(last.header) >= lastBefore.rv! ? true : undefined;
        } catch {
          return undefined;
        }
      }, 60000, 200);
      if (caughtUp) timeline.mark(`publisher caught up: the stream holds resourceVersion ${lastBefore.rv} (${lastBefore.name}, the last write acknowledged before NATS returned)`);
      else problems.push(`the watch stream did not reach resourceVersion ${lastBefore.rv} within 60 s of NATS returning`);
      const resumed = await pollUntil(async () => seen[seenBeforeBack], 60000, 50);
      if (resumed) timeline.mark(`informer resumed: first event after NATS returned (${resumed.name}@${resumed.rv}), ${secs(resumed.at - startedAt)} after pm2 start`, resumed.at);
      else problems.push('the informer saw no event within 60 s of NATS returning');
      const restResumed = rest ? await pollUntil(async () => firstSeenAfter(rest.events, startedAt), 60000, 50) : undefined;
      if (restResumed) timeline.mark(`REST watch resumed (${restResumed.name}@${restResumed.rv})`, restResumed.at);
      else if (rest) problems.push('the REST watch saw no event within 60 s of NATS returning');
      const delivered = await pollUntil(async () => seen.find((e) => e.name === lastBefore.name), 60000, 50);
      if (delivered) timeline.mark(`informer delivered ${lastBefore.name}, the last write of the outage`, delivered.at);
      const converged = await pollUntil(async () => {
        const d = await client.get(DEPLOY, namespace, 'web');
        return (d.status?.readyReplicas ?? 0) === 3 && (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
      }, 90000, 250);
      if (converged) timeline.mark('Deployment web converged: 3 of 3 replicas Ready');
      else problems.push('Deployment web did not reach 3 Ready replicas within 90 s of NATS returning');
      await writer.waitAcked(10, 15000);
    } finally {
      await writer.stop();
      for (const name of [...stopped]) await runPm2(topology, 'start', name).catch((err: Error) => problems.push(err.message));
    }

    const acked = writer.acked();
    const last = acked[acked.length - 1];
    const lastSeen = await pollUntil(async () => seen.find((e) => e.name === last.name), 60000, 50);
    if (lastSeen) timeline.mark(`last event delivered (${last.name}@${last.rv})`, lastSeen.at);
    else problems.push(`the informer never saw the last write ${last.name}`);
    if (rest && !(await pollUntil(async () => rest.events.find((e) => e.name === last.name), 30000, 50))) problems.push(`the REST watch never saw the last write ${last.name}`);
    await rest?.stop();
    await informer.stop();
    await nc.close().catch(() => undefined);
    // Repeats of one reason (retries while NATS does not answer) collapse into one line.
    for (let i = 0; i < restarts.length; i++) {
      let n = 1;
      while (restarts[i + n]?.reason === restarts[i].reason) n++;
      timeline.mark(`informer's watch ${restarts[i].reason}${n > 1 ? ` (×${n} until ${secs(restarts[i + n - 1].at - restarts[i].at)} later)` : ''}`, restarts[i].at);
      i += n - 1;
    }

    const failed = writer.writes.filter((w) => w.err);
    if (failed.length) problems.push(`${failed.length} writes failed (first: ${failed[0].name}: ${failed[0].err?.message}); etcd was up all along`);
    problems.push(...(await checkWrites(client, namespace, writer.writes)).problems);
    problems.push(...checkSeen('the informer', seen, acked));
    if (rest) problems.push(...checkSeen('the REST watch', rest.events, acked), ...rest.problems);
    const fresh = (await client.list(CONFIGMAP, namespace)).items;
    const cached = new Map(informer.list().map((cm) => [cm.metadata!.name!, cm.metadata!.resourceVersion]));
    const differ = fresh.filter((cm) => cached.get(cm.metadata!.name!) !== cm.metadata!.resourceVersion).map((cm) => cm.metadata!.name!);
    if (differ.length || cached.size !== fresh.length) {
      problems.push(`the informer's cache (${cached.size} objects) differs from a fresh list (${fresh.length}): ${differ.slice(0, 5).join(', ')}`);
    }
    if (problems.length === 0) ctx.log(
      `checked: ${acked.length} acknowledged writes, each seen exactly once and in order by the informer (${informer.lists} list${informer.lists === 1 ? '' : 's'})` +
        `${rest ? ` and the REST watch (${rest.rewatches.length} re-watches)` : ''}; the informer's cache equals a fresh list of ${fresh.length}`,
    );
    return problems;
  },
};
