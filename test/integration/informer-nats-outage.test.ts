/**
 * Informers through NATS failures, over a real etcd, a 3-server NATS JetStream cluster and an
 * apiserver: the server holding an informer's consumer dies while the informer stays connected to
 * another (nats.js then only reports missed heartbeats) with writes going on. The informer resumes
 * from its last revision and has seen every acknowledged write exactly once, in order, its cache
 * equal to a fresh list. Then every server dies for 12 s and comes back: the informer, and a REST
 * watch through the apiserver, go on from where they were, again missing nothing.
 */
import * as http from 'http';
import { NatsConnection } from 'nats';
import { ApiClient } from '../../services/lib/apiclient';
import { ConfigMap } from '../../services/lib/generated/kubemu/core/v1/core';
import { Informer } from '../../services/lib/informer';
import { resourceForCase } from '../../services/lib/resources';
import { connectBus, WATCH_STREAM } from '../../services/lib/watchbus';
import { startApiserver, startEtcdCluster, startNats } from '../harness';
import { freePort } from '../harness/ports';
import { waitFor } from '../harness/wait';

jest.setTimeout(120000);

const CM = resourceForCase('configMap');
const NS = resourceForCase('namespace');

test('informer and REST watch - resume, missing nothing, after the server holding the consumer dies and after every server was down', async () => {
  const etcd = await startEtcdCluster({ members: 1 });
  const nats = await startNats({ servers: 3 });
  const restPort = await freePort();
  const api = await startApiserver({ etcd, nats, jetstreamReplicas: 3, env: { KUBEMU_APISERVER_HTTP_LISTEN: `127.0.0.1:${restPort}` } });
  const client = new ApiClient([api.address], { retryForMs: 30000 });
  const conns: NatsConnection[] = [];
  let informer: Informer<'configMap'> | undefined;
  let writing = true;
  let rest: http.ClientRequest | undefined;
  try {
    await client.create(NS, { metadata: { name: 'outage' } });
    const seen: { name: string; rv: number }[] = [];
    const record = (obj: ConfigMap) => seen.push({ name: obj.metadata!.name!, rv: Number(obj.metadata!.resourceVersion) });
    const admin = await connectBus(nats.urls, 'admin');
    conns.push(admin);
    const jsm = await admin.jetstreamManager();

    // An informer whose consumer lives on another server than the one its connection uses, so that
    // killing the consumer's server leaves the connection up (the case nats.js does not recover).
    let consumerHost = '';
    for (let attempt = 0; attempt < 8 && !consumerHost; attempt++) {
      await informer?.stop();
      // Consumers are placed on the stream leader: connect elsewhere.
      const leader = (await jsm.streams.info(WATCH_STREAM)).cluster?.leader;
      const nc = await connectBus(nats.servers.filter((s) => s.name !== leader).map((s) => s.url), `informer-${attempt}`);
      conns.push(nc);
      informer = new Informer({ client, nats: nc, info: CM, namespace: 'outage' });
      await informer.start();
      const mine = await waitFor('the informer\'s consumer', async () => {
        const list = await jsm.consumers.list(WATCH_STREAM).next();
        return list.find((c) => c.config.filter_subject?.includes('.configmaps.outage.') || c.config.filter_subjects?.some((f) => f.includes('.configmaps.outage.')))?.cluster?.leader;
      }, 10000);
      if (mine !== nc.info?.server_name) consumerHost = mine;
    }
    expect(consumerHost).not.toBe('');
    informer!.addHandlers({ onAdd: record, onUpdate: (_o, n) => record(n) });
    // A REST watch (what kubectl get -w holds) from the same point.
    const restSeen: { name: string; rv: number }[] = [];
    let restEnded = false;
    rest = http.get({ host: '127.0.0.1', port: restPort, path: `/api/v1/namespaces/outage/configmaps?watch=true&resourceVersion=${informer!.resourceVersion}&timeoutSeconds=600` }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const ev = JSON.parse(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          restSeen.push({ name: ev.object.metadata.name, rv: Number(ev.object.metadata.resourceVersion) });
        }
      });
      res.on('close', () => (restEnded = true));
    });

    const acked: { name: string; rv: number; at: number }[] = [];
    const writer = (async () => {
      for (let n = 0; writing; n++) {
        const cm = await client.create(CM, { metadata: { name: `w-${n}`, namespace: 'outage' }, data: { n: String(n) } });
        acked.push({ name: `w-${n}`, rv: Number(cm.metadata!.resourceVersion), at: Date.now() });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const seenAfter = (t: number) => acked.some((a) => a.at > t && seen.some((s) => s.name === a.name));

    // 1. The consumer's server dies.
    await waitFor('writes seen', async () => seen.length >= 5, 20000);
    await nats.servers.find((s) => s.name === consumerHost)!.kill('SIGKILL');
    const killedAt = Date.now();
    await waitFor('the informer seeing a write made after its consumer\'s server died', async () => seenAfter(killedAt + 500), 30000);

    // 2. Every server dies; the writes go on into etcd (the publisher catches up when NATS returns).
    await Promise.all(nats.servers.map((s) => s.kill('SIGKILL')));
    await new Promise((r) => setTimeout(r, 12000));
    await nats.start();
    const backAt = Date.now();
    await waitFor('the informer seeing a write made after NATS returned', async () => seenAfter(backAt + 500), 45000);

    writing = false;
    await writer;
    const last = acked[acked.length - 1];
    await waitFor('the last write seen', async () => seen.some((s) => s.name === last.name), 30000);
    const counts = new Map<string, number>();
    for (const s of seen) counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
    expect(acked.filter((a) => counts.get(a.name) !== 1).map((a) => `${a.name}×${counts.get(a.name) ?? 0}`)).toEqual([]);
    expect(seen.map((s) => s.rv)).toEqual([...seen.map((s) => s.rv)].sort((a, b) => a - b));
    await waitFor('the REST watch seeing the last write', async () => restSeen.some((s) => s.name === last.name), 30000);
    expect(restEnded).toBe(false);
    expect(restSeen).toEqual(seen);
    const fresh = (await client.list(CM, 'outage')).items;
    expect(new Map(informer!.list().map((c) => [c.metadata!.name, c.metadata!.resourceVersion]))).toEqual(new Map(fresh.map((c) => [c.metadata!.name, c.metadata!.resourceVersion])));
  } finally {
    writing = false;
    rest?.destroy();
    await informer?.stop();
    for (const nc of conns) await nc.close().catch(() => undefined);
    client.close();
    await api.stop();
    await nats.stop();
    await etcd.stop();
  }
});
