/**
 * Issue 7 scenario 7: a kube-proxy dies. Every kube-proxy wants every ClusterIP; one holds each
 * address (the kernel arbitrates the bind), the others stand by and retry, so when the holder
 * dies another binds the address within its retry interval and Service traffic goes on.
 */
import * as http from 'http';
import { resourceForCase } from '../../services/lib/resources';
import { HOST } from '../../services/lib/topology';
import { POD, Scenario, ScenarioContext, httpGet, isReady, pollUntil, secs, signalPid, sleep, waitFor } from './lib';

const DEPLOY = resourceForCase('deployment');
const SERVICE = resourceForCase('service');
const ENDPOINTS = resourceForCase('endpoints');
const NAME = 'web';
const INTERVAL_MS = 20;
/** The longest gap in Service traffic this scenario accepts. */
const MAX_GAP_MS = 5000;

interface Sample {
  sentAt: number;
  doneAt: number;
  ok: boolean;
  error?: string;
}

/** One GET with its own connection, so that a dead proxy's sockets cannot hide behind keep-alive. */
function probe(host: string, port: number): Promise<Sample> {
  const sentAt = Date.now();
  return new Promise((resolve) => {
    const done = (ok: boolean, error?: string) => resolve({ sentAt, doneAt: Date.now(), ok, error });
    const req = http.get({ host, port, path: '/', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode === 200, res.statusCode === 200 ? undefined : `HTTP ${res.statusCode}`));
      res.on('error', (err) => done(false, err.message));
    });
    req.on('error', (err) => done(false, (err as NodeJS.ErrnoException).code ?? err.message));
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  });
}

/** The kube-proxy process whose GET /proxies lists `address`, if any answers so. */
async function holderOf(ctx: ScenarioContext, address: string, skip?: string): Promise<string | undefined> {
  for (const p of ctx.topology.processes.filter((x) => x.component === 'kube-proxy' && x.name !== skip)) {
    const r = await httpGet(HOST, p.ports.status, '/proxies', 500);
    if ('status' in r && r.status === 200) {
      const held = JSON.parse(r.body) as Array<{ address: string }>;
      if (held.some((h) => h.address === address)) return p.name;
    }
  }
  return undefined;
}

export const kubeProxy: Scenario = {
  name: 'kube-proxy',
  number: 7,
  promises: [
    'Every node runs a kube-proxy that serves the cluster\'s Service addresses; in kubemu one of them holds each',
    'ClusterIP and the others stand by. When the holder dies, a standby binds the address and Service traffic',
    `goes on: a short gap (connections refused while nobody holds it), then every request succeeds again.`,
  ],
  async run(ctx: ScenarioContext): Promise<string[]> {
    const { client, timeline, namespace } = ctx;
    await client.create(DEPLOY, {
      metadata: { name: NAME, namespace },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: NAME } },
        template: { metadata: { labels: { app: NAME } }, spec: { containers: [{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 80 }] }] } },
      },
    });
    const svc = await client.create(SERVICE, { metadata: { name: NAME, namespace }, spec: { selector: { app: NAME }, ports: [{ port: 80, targetPort: 80 as never }] } });
    const clusterIP = svc.spec!.clusterIP!;
    const address = `${clusterIP}:80`;
    await waitFor('2 nginx pods Ready', async () => (await client.list(POD, namespace)).items.filter(isReady).length === 2, 90000, 250);
    await waitFor('2 endpoints', async () => {
      const ep = await client.tryGet(ENDPOINTS, namespace, NAME);
      return (ep?.subsets ?? []).reduce((n, s) => n + (s.addresses?.length ?? 0), 0) === 2;
    }, 30000, 250);
    await waitFor(`the ClusterIP ${address} answering`, async () => (await probe(clusterIP, 80)).ok, 30000, 200);
    const holder = await waitFor(`a kube-proxy holding ${address}`, () => holderOf(ctx, address), 15000, 200);
    const pid = (await ctx.pids()).get(holder);
    if (!pid) throw new Error(`${holder} holds ${address} but pm2 shows no pid for it`);
    ctx.log(`Service ${namespace}/${NAME} ClusterIP ${address} held by ${holder} (pid ${pid}); a request every ${INTERVAL_MS} ms, each on a new connection`);

    const samples: Sample[] = [];
    const inflight = new Set<Promise<void>>();
    let sending = true;
    const sender = (async () => {
      while (sending) {
        const p: Promise<void> = probe(clusterIP, 80).then((s) => {
          samples.push(s);
          inflight.delete(p);
        });
        inflight.add(p);
        await sleep(INTERVAL_MS);
      }
    })();

    await sleep(1000);
    signalPid(pid, 'SIGKILL');
    timeline.fault(`SIGKILL ${holder} (pid ${pid}), the kube-proxy holding ${address}`);
    const taken = await pollUntil(() => holderOf(ctx, address, holder), 20000, 50);
    const takenAt = taken ? timeline.mark(`${address} held by ${taken}`) : NaN;
    const restarted = await pollUntil(async () => {
      const now = (await ctx.pids()).get(holder);
      return now && now !== pid ? now : undefined;
    }, 10000, 200);
    if (restarted) timeline.mark(`pm2 restarted ${holder} (pid ${restarted}); it stands by`);
    await sleep(3000);
    sending = false;
    const stoppedAt = Date.now();
    await sender;
    await Promise.all(inflight);

    const problems: string[] = [];
    samples.sort((a, b) => a.sentAt - b.sentAt);
    const failed = samples.filter((s) => !s.ok);
    const after = samples.filter((s) => timeline.sinceFault(s.sentAt) >= 0);
    let gap = 0;
    let gapFrom = 0;
    let lastOk = samples.find((s) => s.ok)?.doneAt;
    for (const s of samples.filter((x) => x.ok)) {
      if (lastOk !== undefined && s.doneAt - lastOk > gap) {
        gap = s.doneAt - lastOk;
        gapFrom = lastOk;
      }
      lastOk = s.doneAt;
    }
    if (failed.length > 0) {
      timeline.mark(`first failed request (${failed[0].error})`, failed[0].sentAt);
      timeline.mark(`last failed request (${failed[failed.length - 1].error})`, failed[failed.length - 1].sentAt);
    }
    if (gap > 0) {
      timeline.mark('last answer before the longest gap', gapFrom);
      timeline.mark('first answer after it', gapFrom + gap);
    }
    const errors = new Map<string, number>();
    for (const f of failed) errors.set(f.error ?? '?', (errors.get(f.error ?? '?') ?? 0) + 1);
    ctx.log(
      `requests: ${samples.length} (${after.length} after the kill), failed ${failed.length}` +
        (failed.length ? ` (${[...errors].map(([e, n]) => `${e} ×${n}`).join(', ')})` : '') +
        `; longest gap between answers ${secs(gap)}` +
        `; kill → address taken over ${secs(timeline.sinceFault(takenAt))}`,
    );
    if (!taken) problems.push(`no other kube-proxy took ${address} over within 20 s`);
    if (gap > MAX_GAP_MS) problems.push(`Service traffic stopped for ${secs(gap)} (at most ${secs(MAX_GAP_MS)} expected)`);
    const tail = samples.filter((s) => s.sentAt >= stoppedAt - 2000);
    if (tail.length === 0 || tail.some((s) => !s.ok)) problems.push(`requests still failed in the last 2 s: ${tail.filter((s) => !s.ok).length} of ${tail.length}`);
    return problems;
  },
};
