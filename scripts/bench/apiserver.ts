/**
 * kube-apiserver benchmarks, against a private cluster this script starts (3-member etcd,
 * nats-server with JetStream, two apiserver processes) on free ports in a temporary folder:
 *   1. create throughput at 64 in flight, as a ratio to raw etcd3 compare-and-swap puts of the
 *      same objects measured in the same run (target ≥ 0.6);
 *   2. single-object create and get latency p50/p99 at 100 requests/s (targets: create p99 ≤ 25 ms,
 *      get p99 ≤ 5 ms);
 *   3. watch delivery latency, write issued → informer handler, p50/p99 at 500 writes/s with 10
 *      informers (target p99 ≤ 50 ms).
 * Usage: npm run bench [-- --seconds 10 --nats 1|3 --shared-connection]
 */
import { fork } from 'child_process';
import { Etcd3 } from 'etcd3';
import * as path from 'path';
import { NatsConnection } from 'nats';
import { ApiClient } from '../../services/lib/apiclient';
import { ConfigMap } from '../../services/lib/generated/kubemu/core/v1/core';
import { Informer } from '../../services/lib/informer';
import { resourceForCase } from '../../services/lib/resources';
import { connectBus } from '../../services/lib/watchbus';
import { startApiserver, startEtcdCluster, startNats } from '../../test/harness';

const CM = resourceForCase('configMap');
const NS = resourceForCase('namespace');

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(samples: number[]): { p50: number; p99: number; max: number; n: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1], n: s.length };
}

const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

function configMap(name: string, ns: string): ConfigMap {
  // About 1 KiB encoded, like a small real ConfigMap.
  return { metadata: { name, namespace: ns, labels: { app: 'bench', tier: 'x' } }, data: { payload: 'x'.repeat(900) } };
}

/** Runs `total` operations with `concurrency` in flight; resolves ops/s. */
async function throughput(total: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await op(next++);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return total / seconds;
}

/** Issues `op` at `rate` per second for `seconds`; resolves each operation's latency in ms. */
async function paced(rate: number, seconds: number, op: (i: number) => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  const total = rate * seconds;
  const interval = 1000 / rate;
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      (async () => {
        const t0 = performance.now();
        await op(i);
        latencies.push(performance.now() - t0);
      })(),
    );
  }
  await Promise.all(inflight);
  return latencies;
}

async function main(): Promise<void> {
  const seconds = arg('seconds', 10);
  const natsServers = arg('nats', 1);
  console.log(`starting a private cluster: 3-member etcd, ${natsServers} nats-server(s), 2 kube-apiservers ...`);
  const etcd = await startEtcdCluster({ members: 3 });
  const nats = await startNats({ servers: natsServers as 1 | 3 });
  const api = await startApiserver({ etcd, nats, id: 'kube-apiserver-0', jetstreamReplicas: natsServers });
  const api1 = await startApiserver({ etcd, nats, id: 'kube-apiserver-1', jetstreamReplicas: natsServers, peers: [api.address] });
  const client = new ApiClient([api.address]);
  // The default topology: two replicas, the client balancing over both.
  const tier = new ApiClient([api.address, api1.address]);
  // The same client settings as the apiserver's own etcd client, for a fair comparison.
  const raw = new Etcd3({ hosts: etcd.endpoints, grpcOptions: { 'grpc.enable_channelz': 0 } });
  const conns: NatsConnection[] = [];
  const informers: Informer<'configMap'>[] = [];
  const handled: [string, number][] = [];
  try {
    for (const ns of ['bench-raw', 'bench-create', 'bench-latency', 'bench-watch']) await client.create(NS, { metadata: { name: ns } });
    const N = 4000;
    const value = Buffer.from(CM.codec.encode(configMap('x', 'bench-raw')).finish());

    // 1. Throughput: raw etcd CAS puts vs apiserver creates, same object size, 64 in flight.
    await throughput(500, 64, (i) => raw.if(`/bench/warm/${i}`, 'Create', '==', 0).then(raw.put(`/bench/warm/${i}`).value(value)).commit());
    const etcdRate = await throughput(N, 64, (i) => raw.if(`/bench/raw/${i}`, 'Create', '==', 0).then(raw.put(`/bench/raw/${i}`).value(value)).commit());
    await throughput(500, 64, (i) => client.create(CM, configMap(`warm-${i}`, 'bench-raw')));
    const apiRate = await throughput(N, 64, (i) => client.create(CM, configMap(`cm-${i}`, 'bench-create')));
    await throughput(500, 64, (i) => tier.create(CM, configMap(`warm2-${i}`, 'bench-raw')));
    const tierRate = await throughput(N, 64, (i) => tier.create(CM, configMap(`tier-${i}`, 'bench-create')));
    const ratio = apiRate / etcdRate;
    const tierRatio = tierRate / etcdRate;

    // 2. Latency at 100 requests/s.
    const createLat = summary(await paced(100, seconds, (i) => client.create(CM, configMap(`lat-${i}`, 'bench-latency'))));
    const getLat = summary(await paced(100, seconds, (i) => client.get(CM, 'bench-latency', `lat-${i % (100 * seconds)}`)));
    // The same reads straight from etcd (linearizable, as the apiserver reads), for context.
    const rawGetLat = summary(await paced(100, seconds, (i) => raw.get(`/registry/configmaps/bench-latency/lat-${i % (100 * seconds)}`).buffer()));

    // 3. Watch delivery latency: 10 informers, writes through the apiserver at a fixed rate. The
    // commit moment of each write is taken from a raw etcd watch on its key (the earliest point a
    // commit can be observed), so the figure is the watch pipeline's own: publisher, JetStream and
    // informer. Measured at 100/s (an unloaded machine) and 500/s (the target rate).
    // By default each informer has its own NATS connection, as separate components do;
    // --shared-connection gives all ten one connection, as informers within one component share it.
    const shared = process.argv.includes('--shared-connection') ? await connectBus(nats.urls, 'bench-watchers') : undefined;
    if (shared) conns.push(shared);
    for (let i = 0; i < 10; i++) {
      const nc = shared ?? (await connectBus(nats.urls, `bench-watcher-${i}`));
      if (!shared) conns.push(nc);
      const inf = new Informer({ client, nats: nc, info: CM, namespace: 'bench-watch' });
      inf.addHandlers({ onAdd: (o) => handled.push([o.metadata!.name!, performance.timeOrigin + performance.now()]) });
      await inf.start();
      informers.push(inf);
    }
    // The writer runs in its own process (as a client would), watching the keys in etcd to note
    // each commit; the informers run here. Times are epoch milliseconds on the one machine clock.
    const watchAt = async (rate: number) => {
      handled.length = 0;
      const child = fork(path.join(__dirname, 'writer.js'), [api.address, etcd.endpoints.join(','), 'bench-watch', String(rate), String(seconds), `w${rate}-`], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const report = await new Promise<{ sent: [string, number][]; committed: [string, number][] }>((resolve, reject) => {
        child.once('message', (m) => resolve(m as { sent: [string, number][]; committed: [string, number][] }));
        child.once('exit', (code) => code && reject(new Error(`benchmark writer exited with ${code}`)));
      });
      const sent = new Map(report.sent);
      const committed = new Map(report.committed);
      const expected = rate * seconds * informers.length;
      const waitUntil = Date.now() + 30000;
      while (handled.length < expected && Date.now() < waitUntil) await new Promise((r) => setTimeout(r, 50));
      const delivery: number[] = [];
      const endToEnd: number[] = [];
      for (const [name, at] of handled) {
        endToEnd.push(at - sent.get(name)!);
        const c = committed.get(name);
        // The raw etcd watch and the informers race; a handler that ran first counts as 0 ms.
        if (c !== undefined) delivery.push(Math.max(0, at - c));
      }
      return { rate, expected, delivered: handled.length, commit: summary(delivery), issued: summary(endToEnd) };
    };
    const watchLow = await watchAt(100);
    const watchLat = await watchAt(500);

    const ok = (b: boolean) => (b ? 'PASS' : 'FAIL');
    console.log('');
    console.log('kube-apiserver benchmark (this machine, one run)');
    console.log(`  raw etcd3 CAS puts, 64 in flight:                         ${etcdRate.toFixed(0)} /s`);
    console.log(`  apiserver creates, 64 in flight, 1 replica:              ${apiRate.toFixed(0)} /s   ratio to etcd ${ratio.toFixed(2)}   target ≥ 0.6   ${ok(ratio >= 0.6)}`);
    console.log(`  (2 replicas, the client balancing over both:             ${tierRate.toFixed(0)} /s   ratio to etcd ${tierRatio.toFixed(2)})`);
    console.log(`  create latency at 100/s:  p50 ${fmt(createLat.p50)}  p99 ${fmt(createLat.p99)}  (n=${createLat.n})   target p99 ≤ 25 ms   ${ok(createLat.p99 <= 25)}`);
    console.log(`  get latency at 100/s:     p50 ${fmt(getLat.p50)}  p99 ${fmt(getLat.p99)}  (n=${getLat.n})   target p99 ≤ 5 ms   ${ok(getLat.p99 <= 5)}`);
    console.log(`  (raw etcd3 get at 100/s, same keys: p50 ${fmt(rawGetLat.p50)}  p99 ${fmt(rawGetLat.p99)})`);
    for (const w of [watchLow, watchLat]) {
      const target = w.rate === 500 ? `   target p99 ≤ 50 ms   ${ok(w.commit.p99 <= 50 && w.delivered === w.expected)}` : '';
      console.log(`  watch delivery at ${w.rate} writes/s, 10 informers, commit → handler: p50 ${fmt(w.commit.p50)}  p99 ${fmt(w.commit.p99)}  max ${fmt(w.commit.max)}  (delivered ${w.delivered}/${w.expected})${target}`);
      console.log(`    (same events, write issued → handler, including the write itself: p50 ${fmt(w.issued.p50)}  p99 ${fmt(w.issued.p99)})`);
    }
  } finally {
    for (const i of informers) await i.stop();
    for (const c of conns) await c.close().catch(() => undefined);
    client.close();
    tier.close();
    raw.close();
    await api1.stop();
    await api.stop();
    await nats.stop();
    await etcd.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
