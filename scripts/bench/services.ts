/**
 * Service networking throughput and latency: one nginx pod on a private cluster this script
 * starts (the demo profile: 3 nodes with kube-proxies, cluster-dns, the ingress controller), hit
 * by a closed-loop HTTP/1.1 keep-alive load generator (scripts/bench/loadgen.ts, its own process)
 * in the same run:
 *   direct     the pod IP:80
 *   clusterip  the Service's ClusterIP:80 (through the kube-proxy holding it)
 *   nodeport   a node IP:nodePort (through a kube-proxy)
 *   ingress    the ingress controller's LoadBalancer IP:80 with the Ingress's host
 *              (kube-proxy → ingress controller → pod)
 * Modes alternate within each round, so that drift in the machine's load hits all of them alike.
 * Reports requests/s and latency percentiles per mode, each mode's throughput as a ratio to
 * direct and its p99 minus direct's (issue 5's targets: ratio ≥ 0.5, added p99 ≤ 2 ms).
 *
 * Then endpoint propagation (issue 5's "endpoint changes apply within a second"), `--flips` times:
 * scale the Deployment to 2 and measure from the moment the API shows the new pod ready to its
 * first answer through the ClusterIP; scale back to 1 and measure from the moment the API shows
 * the removed pod terminating to the last request that still went to it (or failed). The API is
 * polled every 10 ms and the ClusterIP asked back to back on fresh connections, so each figure is
 * short by at most a poll (~10-20 ms).
 *
 *   npm run bench:services -- [--rounds 3] [--seconds 8] [--connections 16] [--flips 10] [--keep]
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { ApiClient } from '../../services/lib/apiclient';
import { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { resourceForCase } from '../../services/lib/resources';
import { clusterNodeIP } from '../../services/lib/topology';
import { freePortBase } from '../../test/harness/ports';
import { sleep, waitFor } from '../../test/harness/wait';
import { BenchCluster } from './cluster';
import type { LoadResult } from './loadgen';
import { formatTable } from '../lib/table';

const POD = resourceForCase('pod');
const SERVICE = resourceForCase('service');
const DEPLOY = resourceForCase('deployment');
const INGRESS = resourceForCase('ingress');
const ENDPOINTS = resourceForCase('endpoints');
const NS = 'default';
const NAME = 'bench-web';
const HOST_HEADER = 'bench.kubemu.local';
const MODES = ['direct', 'clusterip', 'nodeport', 'ingress'] as const;
type Mode = (typeof MODES)[number];

interface Options {
  rounds: number;
  seconds: number;
  connections: number;
  flips: number;
  keep: boolean;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { rounds: 3, seconds: 8, connections: 16, flips: 10, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (min = Number.MIN_VALUE) => {
      const n = Number(argv[++i]);
      if (!Number.isFinite(n) || n < min) throw new Error(`${a} needs a number ≥ ${min === Number.MIN_VALUE ? 'above 0' : min}`);
      return n;
    };
    if (a === '--rounds') o.rounds = Math.floor(num());
    else if (a === '--seconds') o.seconds = num();
    else if (a === '--connections') o.connections = Math.floor(num());
    else if (a === '--flips') o.flips = Math.floor(num(0));
    else if (a === '--keep') o.keep = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run bench:services -- [--rounds 3] [--seconds 8] [--connections 16] [--flips 10] [--keep]\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

const log = (msg: string) => process.stdout.write(`services: ${msg}\n`);

/** Set-up waits: a loaded 2-core machine may need a minute or two to start pods. */
const until = <T>(what: string, get: () => Promise<T | undefined | false>) => waitFor(what, get, 120000, { intervalMs: 200 });

/**
 * One GET / on a fresh connection: the pod that answered (from the nginx image's page; '' when it
 * names none), or undefined when the request failed or did not answer 200.
 */
function whoAnswers(host: string, port: number, hostHeader?: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/', headers: hostHeader ? { host: hostHeader } : {}, agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? (/<th>pod<\/th><td>([^<]*)<\/td>/.exec(body)?.[1] ?? '') : undefined));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
  });
}

const podReady = (p: Pod) => !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

/**
 * Runs `poll` every 10 ms and `hit` back to back until `done()` (or `timeoutMs`, which throws
 * naming `what`). Both see the same clock, so their timestamps compare.
 */
async function race(what: string, poll: () => Promise<void>, hit: () => Promise<void>, done: () => boolean, timeoutMs = 120000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const loop = async (step: () => Promise<void>, pauseMs: number) => {
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await step();
      if (pauseMs) await sleep(pauseMs);
    }
  };
  await Promise.all([loop(poll, 10), loop(hit, 0)]);
}

/**
 * One scale-up and scale-down of the Deployment (see the file comment), in ms: ready → listed in
 * the Endpoints and → traffic; terminating → out of rotation.
 */
async function flip(client: ApiClient, ip: string): Promise<[{ traffic: number; endpoints: number }, number]> {
  const pods = async () => (await client.list(POD, NS, { labelSelector: `app=${NAME}` })).items;
  const before = new Set((await pods()).map((p) => p.metadata!.name!));
  await client.updateScale(DEPLOY, NS, { ...(await client.getScale(DEPLOY, NS, NAME)), spec: { replicas: 2 } });
  let readyAt = 0;
  let listedAt = 0;
  let answeredAt = 0;
  const listed = async () =>
    (await client.get(ENDPOINTS, NS, NAME)).subsets?.some((ss) => ss.addresses?.some((a) => a.targetRef?.name && !before.has(a.targetRef.name))) ?? false;
  await race(
    'the new pod to answer through the ClusterIP',
    async () => {
      const [all, inEndpoints] = await Promise.all([readyAt ? [] : pods(), listedAt ? true : listed()]);
      const now = Date.now();
      if (!readyAt && all.some((p) => !before.has(p.metadata!.name!) && podReady(p))) readyAt = now;
      if (!listedAt && inEndpoints) listedAt = now;
    },
    async () => {
      const who = await whoAnswers(ip, 80);
      if (who && !before.has(who) && !answeredAt) answeredAt = Date.now();
    },
    () => readyAt > 0 && listedAt > 0 && answeredAt > 0,
  );
  const up = { traffic: Math.max(0, answeredAt - readyAt), endpoints: Math.max(0, listedAt - readyAt) };

  await client.updateScale(DEPLOY, NS, { ...(await client.getScale(DEPLOY, NS, NAME)), spec: { replicas: 1 } });
  let victim = '';
  let terminatingAt = 0;
  let lastBadAt = 0;
  let goodSince = 0;
  await race(
    'the removed pod to leave the rotation',
    async () => {
      if (terminatingAt) return;
      const gone = (await pods()).find((p) => p.metadata?.deletionTimestamp);
      if (gone) [victim, terminatingAt] = [gone.metadata!.name!, Date.now()];
    },
    async () => {
      const who = await whoAnswers(ip, 80);
      const now = Date.now();
      // Before the victim is known every answer is good; a failed request counts against it.
      if (who === undefined || (victim && who === victim)) [lastBadAt, goodSince] = [now, 0];
      else if (!goodSince) goodSince = now;
    },
    // Out of rotation: a second of good answers after the API showed the pod terminating.
    () => terminatingAt > 0 && goodSince > 0 && Date.now() - Math.max(goodSince, terminatingAt) >= 1000,
  );
  const down = Math.max(0, lastBadAt - terminatingAt);
  await until('the removed pod gone', async () => (await pods()).length === 1);
  return [up, down];
}

function load(target: string, hostHeader: string, o: Options): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const args = [path.join(__dirname, 'loadgen.js'), '--target', target, '--seconds', String(o.seconds), '--warmup', '2', '--connections', String(o.connections)];
    if (hostHeader) args.push('--host-header', hostHeader);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`loadgen exited ${code}`));
      resolve(JSON.parse(out) as LoadResult);
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubemu-bench-services-'));
  const cluster = new BenchCluster(stateDir, await freePortBase('demo'), 'services', {});
  let client: ApiClient | undefined;
  const cleanup = async () => {
    client?.close();
    if (!o.keep) await cluster.reset();
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanup().finally(() => process.exit(130)));
  try {
    log(`starting a cluster (port base ${cluster.portBase}) ...`);
    await cluster.start();
    const net = cluster.topology.network;
    client = new ApiClient(cluster.topology.apiservers);
    await client.create(DEPLOY, {
      metadata: { name: NAME, namespace: NS },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: NAME } },
        template: { metadata: { labels: { app: NAME } }, spec: { terminationGracePeriodSeconds: 2, containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }] }] } },
      },
    });
    await client.create(SERVICE, { metadata: { name: NAME, namespace: NS }, spec: { type: 'NodePort', selector: { app: NAME }, ports: [{ port: 80, targetPort: 80 as never }] } });
    await client.create(INGRESS, {
      metadata: { name: NAME, namespace: NS },
      spec: { rules: [{ host: HOST_HEADER, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: NAME, port: { number: 80 } } } }] } }] },
    });
    const pod = await until('the pod ready', async () =>
      (await client!.list(POD, NS, { labelSelector: `app=${NAME}` })).items.find(podReady),
    );
    const svc = await client.get(SERVICE, NS, NAME);
    const lbIP = await until('the Ingress address', async () => (await client!.get(INGRESS, NS, NAME)).status?.loadBalancer?.ingress?.[0]?.ip);
    const nodeIP = clusterNodeIP(net, 0);
    const targets: Record<Mode, { target: string; host: string }> = {
      direct: { target: `${pod.status!.podIP}:80`, host: '' },
      clusterip: { target: `${svc.spec!.clusterIP}:80`, host: '' },
      nodeport: { target: `${nodeIP}:${svc.spec!.ports![0].nodePort}`, host: '' },
      ingress: { target: `${lbIP}:80`, host: HOST_HEADER },
    };
    for (const m of MODES) {
      const [h, p] = targets[m].target.split(':');
      await until(`${m} (${targets[m].target}) answering`, async () => (await whoAnswers(h, Number(p), targets[m].host || undefined)) !== undefined);
    }
    log(`pod ${pod.metadata!.name} on ${pod.spec!.nodeName} (${pod.status!.podIP}); ClusterIP ${svc.spec!.clusterIP}; NodePort ${nodeIP}:${svc.spec!.ports![0].nodePort}; Ingress via ${lbIP}:80`);
    log(`${o.rounds} rounds × ${MODES.length} modes × ${o.seconds} s (+2 s warm-up), ${o.connections} keep-alive connections, one request at a time each`);

    const results = new Map<Mode, LoadResult[]>(MODES.map((m) => [m, []]));
    for (let r = 1; r <= o.rounds; r++) {
      const rows = [['mode', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'errors', 'non-2xx']];
      for (const m of MODES) {
        const res = await load(targets[m].target, targets[m].host, o);
        results.get(m)!.push(res);
        rows.push([m, f1(res.rps), f2(res.p50Ms), f2(res.p90Ms), f2(res.p99Ms), f2(res.maxMs), String(res.errors), String(res.non2xx)]);
      }
      log(`round ${r}:\n${formatTable(rows)}`);
    }

    const direct = results.get('direct')!;
    const rows = [['mode', 'req/s (median)', 'ratio to direct (median, min)', 'p50 ms', 'p99 ms', 'added p99 ms (median, max)', 'target']];
    for (const m of MODES) {
      const rs = results.get(m)!;
      const ratios = rs.map((x, i) => x.rps / direct[i].rps);
      const added = rs.map((x, i) => x.p99Ms - direct[i].p99Ms);
      const met = m === 'direct' ? '' : median(ratios) >= 0.5 && median(added) <= 2 ? 'met' : 'NOT met';
      rows.push([m, f1(median(rs.map((x) => x.rps))), m === 'direct' ? '1' : `${f2(median(ratios))}, ${f2(Math.min(...ratios))}`, f2(median(rs.map((x) => x.p50Ms))), f2(median(rs.map((x) => x.p99Ms))), m === 'direct' ? '0' : `${f2(median(added))}, ${f2(Math.max(...added))}`, met]);
    }
    log(`summary over ${o.rounds} rounds (target: ≥ 0.5 of direct throughput, added p99 ≤ 2 ms):\n${formatTable(rows)}`);

    if (o.flips > 0) {
      log(`endpoint propagation: ${o.flips} × (scale to 2, scale to 1) through the ClusterIP`);
      const ups: number[] = [];
      const listed: number[] = [];
      const downs: number[] = [];
      for (let i = 1; i <= o.flips; i++) {
        const [up, down] = await flip(client, targets.clusterip.target.split(':')[0]);
        ups.push(up.traffic);
        listed.push(up.endpoints);
        downs.push(down);
        log(`flip ${i}: new pod in the Endpoints ${up.endpoints} ms and got traffic ${up.traffic} ms after the API showed it ready; removed pod out of rotation ${down} ms after the API showed it terminating`);
      }
      const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)];
      const prow = (what: string, xs: number[]) => [what, String(pct(xs, 0.5)), String(pct(xs, 0.9)), String(Math.max(...xs)), Math.max(...xs) <= 1000 ? 'met' : 'NOT met'];
      log(`endpoint propagation over ${o.flips} flips (target: within 1 s):\n${formatTable([['change', 'p50 ms', 'p90 ms', 'max ms', 'target'], prow('ready → in the Endpoints', listed), prow('ready → gets traffic', ups), prow('terminating → no traffic', downs)])}`);
    }
    log(`machine: ${os.cpus().length} cores, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  process.stderr.write(`services: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
