/**
 * Issue 7 scenarios 1 and 2: the apiservers.
 *
 * 1. `apiserver-replica`: the replica holding the watch-publisher Lease is SIGKILLed while user
 *    requests stream through the gRPC ApiClient (which knows both replicas) and through the REST
 *    API with both replica URLs (kubectl talks to one URL; a real cluster puts a load balancer in
 *    front, which is what the REST client's failover stands for). No request may fail beyond its
 *    retry, every acknowledged write must be readable, and watches opened before the fault must
 *    see every write once, in order, across the publisher failover.
 * 2. `apiservers-down`: every apiserver is stopped for 30 s (pm2 stop), then started. Running pods
 *    keep serving (pod IPs and the ClusterIP, kube-proxy keeps its table), no container restarts;
 *    the scheduler, controllers and kubelets wait and resync: leases renewed, node status posted
 *    again, no node NotReady, no pod evicted, a scale-up and a new pod Running within a bound.
 */
import * as http from 'http';
import { ApiClient } from '../../services/lib/apiclient';
import { ConfigMap } from '../../services/lib/generated/kubemu/core/v1/core';
import { isReason } from '../../services/lib/errors';
import { Informer } from '../../services/lib/informer';
import { resourceForCase } from '../../services/lib/resources';
import { HOST, ProcessSpec } from '../../services/lib/topology';
import { connectBus } from '../../services/lib/watchbus';
import { POD, Scenario, ScenarioContext, httpGet, isReady, pollUntil, secs, signalPid, sleep, waitFor } from './lib';

const CONFIGMAP = resourceForCase('configMap');
const LEASE = resourceForCase('lease');
const NODE = resourceForCase('node');
const DEPLOY = resourceForCase('deployment');
const SERVICE = resourceForCase('service');
const ENDPOINTS = resourceForCase('endpoints');
const PUBLISHER_LEASE = { namespace: 'kube-system', name: 'kube-apiserver-watch-publisher' };
const NODE_LEASE_NAMESPACE = 'kube-node-lease';

function apiserverProcesses(ctx: ScenarioContext): ProcessSpec[] {
  return ctx.topology.processes.filter((p) => p.component === 'kube-apiserver').sort((a, b) => a.index - b.index);
}

const restUrl = (p: ProcessSpec) => `http://${HOST}:${p.ports.http}`;

/** GET /readyz of a replica's REST API answers 200. */
async function readyz(p: ProcessSpec, timeoutMs = 1000): Promise<boolean> {
  const r = await httpGet(HOST, p.ports.http, '/readyz', timeoutMs);
  return 'status' in r && r.status === 200;
}

// ---------------------------------------------------------------------------------------------
// A REST client with every replica's URL, failing over as a client behind a load balancer does.

interface RestAnswer {
  status: number;
  body: string;
}

/** A connection-level failure; `sent`: the request may have reached the server (reset, EOF, timeout), not just a refused connect. */
class ConnectionError extends Error {
  constructor(message: string, readonly sent: boolean) {
    super(message);
    this.name = 'ConnectionError';
  }
}

/**
 * HTTP/1.1 with keep-alive (as kubectl's transport) against one replica at a time. A request that
 * could not connect is sent to the next replica, whatever its verb (nothing reached a server);
 * one cut after it was sent is retried only when it is idempotent (GET), as client-go does; a
 * create cut mid-flight is retried and an AlreadyExists answer checked against what was sent
 * (the first attempt may have landed). Every failed attempt is reported to `onAttemptFailed`.
 */
class FailoverRestClient {
  private current = 0;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  constructor(
    private readonly urls: string[],
    private readonly onAttemptFailed: (err: ConnectionError, url: string) => void,
    private readonly retryForMs = 15000,
  ) {}

  get currentUrl(): string {
    return this.urls[this.current];
  }

  close(): void {
    this.agent.destroy();
  }

  private once(url: string, method: string, urlPath: string, body?: unknown): Promise<RestAnswer> {
    return new Promise((resolve, reject) => {
      const u = new URL(urlPath, url);
      const data = body === undefined ? undefined : JSON.stringify(body);
      let sent = false;
      const req = http.request(
        { host: u.hostname, port: u.port, path: u.pathname + u.search, method, agent: this.agent, timeout: 5000, headers: { accept: 'application/json', ...(data ? { 'content-type': 'application/json' } : {}) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          res.on('error', (err) => reject(new ConnectionError(err.message, true)));
        },
      );
      req.on('socket', (s) => {
        if (!s.connecting) sent = true; // a kept-alive connection: the bytes go out at once
        else s.once('connect', () => (sent = true));
      });
      req.on('error', (err) => {
        const code = (err as NodeJS.ErrnoException).code ?? err.message;
        reject(new ConnectionError(code, sent && code !== 'ECONNREFUSED'));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      req.end(data);
    });
  }

  /** One request with failover; throws ConnectionError when no replica answered within retryForMs. */
  async request(method: 'GET' | 'POST', urlPath: string, body?: unknown): Promise<RestAnswer> {
    const giveUpAt = Date.now() + this.retryForMs;
    let delay = 50;
    for (;;) {
      const url = this.urls[this.current];
      try {
        return await this.once(url, method, urlPath, body);
      } catch (err) {
        if (!(err instanceof ConnectionError)) throw err;
        this.onAttemptFailed(err, url);
        // The next replica, as a load balancer would pick another backend for a new connection.
        this.current = (this.current + 1) % this.urls.length;
        if (Date.now() + delay > giveUpAt) throw err;
        await sleep(delay);
        delay = Math.min(delay * 2, 500);
      }
    }
  }

  /** POST a ConfigMap; resolves its resourceVersion. An AlreadyExists after a retry counts when the stored object is the one sent. */
  async createConfigMap(namespace: string, cm: ConfigMap): Promise<string> {
    const p = `/api/v1/namespaces/${namespace}/configmaps`;
    const r = await this.request('POST', p, { apiVersion: 'v1', kind: 'ConfigMap', ...cm });
    if (r.status === 201 || r.status === 200) return (JSON.parse(r.body) as ConfigMap).metadata?.resourceVersion ?? '';
    if (r.status === 409) {
      const got = await this.request('GET', `${p}/${cm.metadata?.name}`);
      const stored = got.status === 200 ? (JSON.parse(got.body) as ConfigMap) : undefined;
      if (stored && JSON.stringify(stored.data) === JSON.stringify(cm.data)) return stored.metadata?.resourceVersion ?? '';
    }
    throw new Error(`POST ${p}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  }
}

/**
 * A REST watch as client-go's reflector keeps one: opened on one replica from a resourceVersion;
 * when the stream breaks it is reopened on the next replica from the last resourceVersion seen.
 * Records every ADDED/MODIFIED/DELETED event. A 410 Expired ends it (the reflector would relist).
 */
class ResumingRestWatch {
  readonly events: Array<{ type: string; name: string; rv: number; at: number }> = [];
  readonly reconnects: Array<{ at: number; url: string; rv: string }> = [];
  expired = false;
  private stopped = false;
  private req?: http.ClientRequest;
  private current: number;
  private loop?: Promise<void>;

  constructor(private readonly urls: string[], private readonly watchPath: string, private rv: string, first: number) {
    this.current = first;
  }

  start(): void {
    this.loop = (async () => {
      let attempt = 0;
      while (!this.stopped && !this.expired) {
        const url = this.urls[this.current];
        if (attempt > 0) this.reconnects.push({ at: Date.now(), url, rv: this.rv });
        const gotEvents = await this.follow(url);
        if (this.stopped) break;
        attempt++;
        this.current = (this.current + 1) % this.urls.length;
        if (!gotEvents) await sleep(100);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.req?.destroy();
    await this.loop;
  }

  /** Follows one watch stream until it ends; true when it delivered anything. */
  private follow(url: string): Promise<boolean> {
    return new Promise((resolve) => {
      let any = false;
      let buf = '';
      const sep = this.watchPath.includes('?') ? '&' : '?';
      const u = new URL(`${this.watchPath}${sep}watch=true&resourceVersion=${this.rv}&allowWatchBookmarks=true`, url);
      const req = http.get({ host: u.hostname, port: u.port, path: u.pathname + u.search, agent: false }, (res) => {
        if (res.statusCode !== 200) {
          if (res.statusCode === 410) this.expired = true;
          res.resume();
          res.on('end', () => resolve(false));
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            const ev = JSON.parse(line) as { type: string; object: { code?: number; metadata?: { name?: string; resourceVersion?: string } } };
            if (ev.type === 'ERROR') {
              if (ev.object.code === 410) this.expired = true;
              continue;
            }
            any = true;
            const rv = ev.object.metadata?.resourceVersion ?? this.rv;
            this.rv = rv;
            if (ev.type !== 'BOOKMARK') this.events.push({ type: ev.type, name: ev.object.metadata?.name ?? '', rv: Number(rv), at: Date.now() });
          }
        });
        res.on('end', () => resolve(any));
        res.on('error', () => resolve(any));
        res.on('close', () => resolve(any));
      });
      this.req = req;
      req.on('error', () => resolve(any));
    });
  }
}

/** Problems with a watcher's view of the acknowledged creates: each seen exactly once, with its revision, in revision order. */
function checkWatch(who: string, seen: Array<{ name: string; rv: number }>, acked: Map<string, number>): string[] {
  const problems: string[] = [];
  const mine = seen.filter((e) => acked.has(e.name));
  const missing = [...acked.keys()].filter((n) => !mine.some((e) => e.name === n));
  if (missing.length) problems.push(`${who} missed ${missing.length} acknowledged write(s): ${missing.slice(0, 5).join(', ')}`);
  const counts = new Map<string, number>();
  for (const e of mine) counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([k]) => k);
  if (twice.length) problems.push(`${who} saw ${twice.length} write(s) more than once: ${twice.slice(0, 5).join(', ')}`);
  for (let i = 1; i < seen.length; i++) {
    if (seen[i].rv <= seen[i - 1].rv) {
      problems.push(`${who} saw revision ${seen[i].rv} (${seen[i].name}) after ${seen[i - 1].rv} (${seen[i - 1].name}): out of order`);
      break;
    }
  }
  const wrong = mine.filter((e) => acked.get(e.name) !== e.rv);
  if (wrong.length) problems.push(`${who} saw ${wrong.length} write(s) at another revision than acknowledged, e.g. ${wrong[0].name} at ${wrong[0].rv} (acknowledged ${acked.get(wrong[0].name)})`);
  return problems;
}

export const apiserverReplica: Scenario = {
  name: 'apiserver-replica',
  number: 1,
  promises: [
    'Two stateless kube-apiserver replicas serve the same etcd. When one dies, clients fail over to the other:',
    'a request that found the dead replica is retried on the live one, so no user request fails beyond its retry.',
    'Components (gRPC ApiClient) know both replicas; kubectl talks to one URL, so a real cluster puts a load',
    'balancer in front: here a REST client with both URLs stands for it. Every acknowledged write stays readable,',
    'and a watch opened before the fault sees every write once, in order, across the watch-publisher failover.',
  ],
  async run(ctx: ScenarioContext): Promise<string[]> {
    const { client, timeline, namespace, topology } = ctx;
    const t = topology.profile.timings;
    const replicas = apiserverProcesses(ctx);
    if (replicas.length < 2 || replicas.some((p) => p.ports.http === undefined)) throw new Error('this scenario needs two apiserver replicas with a REST port');
    const lease = await waitFor('a watch publisher', async () => {
      const l = await client.tryGet(LEASE, PUBLISHER_LEASE.namespace, PUBLISHER_LEASE.name);
      return l?.spec?.holderIdentity ? l : undefined;
    }, 30000, 200);
    const holder = lease.spec!.holderIdentity!;
    const target = replicas.find((p) => p.name === holder.split('_')[0]) ?? replicas[0];
    const targetIndex = replicas.indexOf(target);
    const pid = (await ctx.pids()).get(target.name);
    if (!pid) throw new Error(`pm2 shows no pid for ${target.name}`);
    ctx.log(`watch publisher: ${holder}; the victim is ${target.name} (pid ${pid}): it publishes every watch event besides serving its share of requests (gRPC round robin)`);

    // Watches opened before the fault: the REST one on the victim (it must resume on the other
    // replica from its last resourceVersion), an informer as every component uses (NATS stream).
    const listed = await client.list(CONFIGMAP, namespace);
    const restWatch = new ResumingRestWatch(replicas.map(restUrl), `/api/v1/namespaces/${namespace}/configmaps`, listed.resourceVersion, targetIndex);
    restWatch.start();
    const nats = await connectBus(topology.natsServers, 'scenario-apiserver-replica');
    const informer = new Informer({ client, nats, info: CONFIGMAP, namespace });
    const informerSeen: Array<{ name: string; rv: number; at: number }> = [];
    informer.addHandlers({
      onAdd: (o) => informerSeen.push({ name: o.metadata?.name ?? '', rv: Number(o.metadata?.resourceVersion), at: Date.now() }),
      onUpdate: (_o, n) => informerSeen.push({ name: n.metadata?.name ?? '', rv: Number(n.metadata?.resourceVersion), at: Date.now() }),
    });
    await informer.start();

    // Two users: one through gRPC, one through REST, each a create then a read, back to back.
    const acked = new Map<string, number>();
    const ackedAt = new Map<string, number>();
    const failures: string[] = [];
    const attempts = { grpc: 0, rest: 0 };
    let firstFailedAttempt: number | undefined;
    const failover: Record<'grpc' | 'rest', { failedAt?: number; recoveredAt?: number }> = { grpc: {}, rest: {} };
    const attemptFailed = (who: 'grpc' | 'rest', what: string) => {
      attempts[who]++;
      const now = Date.now();
      if (!failover[who].failedAt) {
        failover[who].failedAt = now;
        timeline.mark(`${who === 'grpc' ? 'gRPC ApiClient' : 'REST client'}: first failed attempt (${what}); retrying`, now);
      }
      if (firstFailedAttempt === undefined) firstFailedAttempt = now;
    };
    const succeeded = (who: 'grpc' | 'rest') => {
      const f = failover[who];
      if (f.failedAt && !f.recoveredAt) {
        f.recoveredAt = Date.now();
        timeline.mark(`${who === 'grpc' ? 'gRPC ApiClient' : 'REST client'}: failed over, requests succeed again`, f.recoveredAt);
      }
    };
    const grpcUser = new ApiClient(topology.apiservers, { onRetry: (err) => attemptFailed('grpc', err.message.slice(0, 80)) });
    const rest = new FailoverRestClient(replicas.map(restUrl), (err, url) => attemptFailed('rest', `${err.message} from ${url}`));
    let writing = true;
    const counts = { grpc: 0, rest: 0 };
    const grpcLoop = (async () => {
      for (let i = 0; writing; i++) {
        const name = `grpc-${i}`;
        try {
          const retriedBefore = attempts.grpc;
          let cm: ConfigMap;
          try {
            cm = await grpcUser.create(CONFIGMAP, { metadata: { name, namespace }, data: { n: String(i) } });
          } catch (err) {
            // A create cut mid-flight and retried may have landed the first time: an AlreadyExists
            // then is ours when the stored object is the one sent (what a careful user checks).
            const stored = attempts.grpc > retriedBefore && isReason(err, 'AlreadyExists') ? await grpcUser.get(CONFIGMAP, namespace, name) : undefined;
            if (stored?.data?.n !== String(i)) throw err;
            cm = stored;
          }
          acked.set(name, Number(cm.metadata?.resourceVersion));
          ackedAt.set(name, Date.now());
          const back = await grpcUser.get(CONFIGMAP, namespace, name);
          if (back.data?.n !== String(i)) failures.push(`gRPC: ${name} read back ${JSON.stringify(back.data)}`);
          counts.grpc++;
          succeeded('grpc');
        } catch (err) {
          failures.push(`gRPC ${name}: ${(err as Error).message}`);
        }
        await sleep(40);
      }
    })();
    const restLoop = (async () => {
      for (let i = 0; writing; i++) {
        const name = `rest-${i}`;
        try {
          const rv = await rest.createConfigMap(namespace, { metadata: { name, namespace }, data: { n: String(i) } });
          acked.set(name, Number(rv));
          ackedAt.set(name, Date.now());
          const back = await rest.request('GET', `/api/v1/namespaces/${namespace}/configmaps/${name}`);
          if (back.status !== 200 || (JSON.parse(back.body) as ConfigMap).data?.n !== String(i)) failures.push(`REST: GET ${name}: HTTP ${back.status}`);
          counts.rest++;
          succeeded('rest');
        } catch (err) {
          failures.push(`REST ${name}: ${(err as Error).message}`);
        }
        await sleep(40);
      }
    })();

    const problems: string[] = [];
    let restartedPid: number | undefined;
    try {
      await sleep(1500);
      signalPid(pid, 'SIGKILL');
      timeline.fault(`SIGKILL ${target.name} (pid ${pid}), the watch publisher`);
      const faultAt = Date.now();
      const before = lease.spec?.renewTime ?? '';

      // The publisher lease: renewed again after the kill, by the other replica (lease expired) or
      // by the restarted victim (same identity, if it is back first).
      let publisherAt: number | undefined;
      let replicaBackAt: number | undefined;
      const deadline = Date.now() + t.leaderLeaseDurationSeconds * 1000 + 30000;
      while (Date.now() < deadline && (!publisherAt || !replicaBackAt)) {
        if (!publisherAt) {
          const l = await client.tryGet(LEASE, PUBLISHER_LEASE.namespace, PUBLISHER_LEASE.name).catch(() => undefined);
          const h = l?.spec?.holderIdentity ?? '';
          if (h && (h !== holder || (l?.spec?.renewTime ?? '') !== before) && Date.parse(l?.spec?.renewTime ?? '') > faultAt - 50) {
            publisherAt = timeline.mark(h !== holder ? `watch publisher lease moved to ${h}` : `watch publisher lease renewed by ${h} (the restarted process, back before the lease expired)`);
          }
        }
        if (!restartedPid) {
          const now = (await ctx.pids().catch(() => new Map<string, number>())).get(target.name);
          if (now && now !== pid) {
            restartedPid = now;
            timeline.mark(`pm2 restarted ${target.name} (pid ${now})`);
          }
        }
        if (restartedPid && !replicaBackAt && (await readyz(target, 500))) replicaBackAt = timeline.mark(`${target.name} serving again (GET /readyz 200)`);
        await sleep(100);
      }
      if (!publisherAt) problems.push(`the watch publisher lease was not renewed within ${secs(deadline - faultAt)} of the kill`);
      if (!replicaBackAt) problems.push(`${target.name} did not serve again within ${secs(deadline - faultAt)} of the kill`);
      // A little traffic with both replicas back, then stop.
      await sleep(2000);
    } finally {
      writing = false;
      await Promise.all([grpcLoop, restLoop]);
      timeline.mark(`writers stopped: ${counts.grpc} gRPC and ${counts.rest} REST create+read pairs`);
      grpcUser.close();
      rest.close();
    }

    // Every acknowledged write is readable, and both watches catch up with all of them.
    const stored = new Map((await client.list(CONFIGMAP, namespace)).items.map((o) => [o.metadata?.name ?? '', Number(o.metadata?.resourceVersion)]));
    const lost = [...acked.keys()].filter((n) => !stored.has(n));
    const caughtUp = (seen: Array<{ name: string }>) => [...acked.keys()].every((n) => seen.some((e) => e.name === n));
    await pollUntil(async () => caughtUp(restWatch.events) && caughtUp(informerSeen), 20000, 200);
    timeline.mark('watches caught up (or gave up waiting)');
    await restWatch.stop();
    await informer.stop();
    await nats.close();
    for (const r of restWatch.reconnects) {
      const name = replicas.find((p) => restUrl(p) === r.url)?.name ?? r.url;
      timeline.mark(`REST watch reopened on ${name} from resourceVersion ${r.rv}`, r.at);
    }

    // How late each watcher saw a write after it was acknowledged: the publisher failover shows here.
    const lag = (seen: Array<{ name: string; at: number }>) => {
      let worst = { ms: 0, name: '' };
      for (const e of seen) {
        const ms = e.at - (ackedAt.get(e.name) ?? e.at);
        if (ms > worst.ms) worst = { ms, name: e.name };
      }
      return worst;
    };
    const firstAfter = (seen: Array<{ at: number; name: string }>) => seen.find((e) => timeline.sinceFault(ackedAt.get(e.name) ?? NaN) > 0);
    const restFirst = firstAfter(restWatch.events);
    const informerFirst = firstAfter(informerSeen);
    if (restFirst) timeline.mark(`REST watch: sees the first write acknowledged after the fault (${restFirst.name})`, restFirst.at);
    if (informerFirst) timeline.mark(`informer: sees the first write acknowledged after the fault (${informerFirst.name})`, informerFirst.at);
    ctx.log(`watch delay (acknowledged → seen), worst: REST watch ${secs(lag(restWatch.events).ms)}, informer ${secs(lag(informerSeen).ms)}`);
    ctx.log(
      `user requests: ${counts.grpc} gRPC and ${counts.rest} REST create+read pairs; failed attempts retried: gRPC ${attempts.grpc}, REST ${attempts.rest}; ` +
        `user-level failures: ${failures.length}; acknowledged writes ${acked.size}, readable ${acked.size - lost.length}`,
    );
    ctx.log(
      `durations: first failed attempt → failed over: gRPC ${secs((failover.grpc.recoveredAt ?? NaN) - (failover.grpc.failedAt ?? NaN))}, REST ${secs((failover.rest.recoveredAt ?? NaN) - (failover.rest.failedAt ?? NaN))}; ` +
        `watch events seen: REST ${restWatch.events.length}, informer ${informerSeen.length}`,
    );
    if (failures.length) problems.push(`${failures.length} user request(s) failed after their retries: ${failures.slice(0, 5).join('; ')}`);
    if (lost.length) problems.push(`${lost.length} acknowledged write(s) are not readable: ${lost.slice(0, 5).join(', ')}`);
    if (restWatch.expired) problems.push('the REST watch was told its resourceVersion expired (410): it would have had to relist');
    problems.push(...checkWatch('the REST watch', restWatch.events, acked));
    problems.push(...checkWatch('the informer', informerSeen, acked));
    if (counts.grpc < 10 || counts.rest < 10) problems.push(`too few requests to judge (gRPC ${counts.grpc}, REST ${counts.rest})`);
    if (firstFailedAttempt === undefined) ctx.log('no attempt failed: every request was answered by the surviving replica');
    return problems;
  },
};

// ---------------------------------------------------------------------------------------------
// Scenario 2: every apiserver down for 30 s.

/** How long every apiserver stays down (the issue's 30 s, in both profiles). */
const OUTAGE_MS = 30000;
const PROBE_INTERVAL_MS = 150;
const WEB = 'web';

interface ProbeTarget {
  label: string;
  host: string;
  port: number;
  sent: number;
  failed: number;
  firstFailure?: { at: number; error: string };
}

/** One GET on a new connection: undefined when it answered 200, else what went wrong. */
function probeOnce(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? undefined : `HTTP ${res.statusCode}`));
      res.on('error', (err) => resolve(err.message));
    });
    req.on('error', (err) => resolve((err as NodeJS.ErrnoException).code ?? err.message));
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  });
}

const after = (time: string | undefined, at: number) => time !== undefined && Date.parse(time) > at;
const readyCondition = (n: { status?: { conditions?: Array<{ type?: string; status?: string; reason?: string; lastHeartbeatTime?: string; lastTransitionTime?: string }> } }) =>
  n.status?.conditions?.find((c) => c.type === 'Ready');

export const apiserversDown: Scenario = {
  name: 'apiservers-down',
  number: 2,
  promises: [
    'Every apiserver down for 30 s is a control-plane outage, not a data-plane one: running containers keep running',
    '(no restart), pod IPs and ClusterIPs keep answering (kube-proxy keeps its table). The scheduler, the',
    'controller-managers and the kubelets cannot write; leaders step down (controller-manager and scheduler exit',
    'and are restarted as candidates), kubelets keep retrying. When the apiservers return everything resyncs: leader',
    'leases and node leases are renewed (the Lease is the kubelet heartbeat), no node is marked NotReady, no pod is evicted',
    'because of the outage, and a scale-up and a new pod are scheduled and Running within a bound.',
  ],
  async run(ctx: ScenarioContext): Promise<string[]> {
    const { client, timeline, namespace, topology } = ctx;
    const t = topology.profile.timings;
    const replicas = apiserverProcesses(ctx);
    const problems: string[] = [];

    await client.create(DEPLOY, {
      metadata: { name: WEB, namespace },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: WEB } },
        template: { metadata: { labels: { app: WEB } }, spec: { containers: [{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 80 }] }] } },
      },
    });
    const svc = await client.create(SERVICE, { metadata: { name: WEB, namespace }, spec: { selector: { app: WEB }, ports: [{ port: 80, targetPort: 80 as never }] } });
    const clusterIP = svc.spec!.clusterIP!;
    const pods = await waitFor('2 nginx pods Ready', async () => {
      const ready = (await client.list(POD, namespace)).items.filter(isReady);
      return ready.length === 2 ? ready : undefined;
    }, 90000, 250);
    await waitFor('2 endpoints', async () => {
      const ep = await client.tryGet(ENDPOINTS, namespace, WEB);
      return (ep?.subsets ?? []).reduce((n, s) => n + (s.addresses?.length ?? 0), 0) === 2;
    }, 30000, 250);
    await waitFor(`the ClusterIP ${clusterIP}:80 answering`, async () => (await probeOnce(clusterIP, 80)) === undefined, 30000, 200);
    const original = new Map(pods.map((p) => [p.metadata!.name!, { uid: p.metadata!.uid!, node: p.spec!.nodeName!, restarts: (p.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0) }]));
    const nodes = (await client.list(NODE)).items.map((n) => n.metadata!.name!).sort();
    const notReadyBefore = (await client.list(NODE)).items.filter((n) => readyCondition(n)?.status !== 'True').map((n) => n.metadata?.name);
    if (notReadyBefore.length) throw new Error(`nodes not Ready before the fault: ${notReadyBefore.join(', ')}`);

    const targets: ProbeTarget[] = [
      ...pods.map((p) => ({ label: `pod ${p.metadata!.name} (${p.status!.podIP})`, host: p.status!.podIP!, port: 80, sent: 0, failed: 0 })),
      { label: `Service ${WEB} (${clusterIP})`, host: clusterIP, port: 80, sent: 0, failed: 0 },
    ];
    ctx.log(`Deployment ${namespace}/${WEB}: ${[...original].map(([n, o]) => `${n} on ${o.node}`).join(', ')}; Service ClusterIP ${clusterIP}`);
    ctx.log(`probing each pod IP and the ClusterIP every ${PROBE_INTERVAL_MS} ms on a new connection; apiservers down for ${OUTAGE_MS / 1000} s`);
    // Every target answering before the fault, so that a failure counted is the outage's.
    for (const x of targets) await waitFor(`${x.label} answering`, async () => (await probeOnce(x.host, x.port)) === undefined, 30000, 200);
    let probing = true;
    const probers = targets.map(async (target) => {
      while (probing) {
        const at = Date.now();
        const error = await probeOnce(target.host, target.port);
        target.sent++;
        if (error) {
          target.failed++;
          target.firstFailure ??= { at, error };
        }
        await sleep(Math.max(0, PROBE_INTERVAL_MS - (Date.now() - at)));
      }
    });

    // The control plane's processes: a leader that loses its lease exits and pm2 restarts it.
    const controlPlane = topology.processes.filter((p) => p.component === 'kube-scheduler' || p.component === 'kube-controller-manager').map((p) => p.name);
    const pidsBefore = await ctx.pids();
    const restartedAt = new Map<string, number>();
    const watchRestarts = async () => {
      const now = await ctx.pids().catch(() => undefined);
      for (const name of controlPlane) {
        const pid = now?.get(name);
        if (pid && pid !== pidsBefore.get(name) && !restartedAt.has(name)) {
          restartedAt.set(name, timeline.mark(`${name} restarted by pm2 (pid ${pid})`));
        }
      }
    };

    // A client that does not retry, to see when requests fail and when they succeed again.
    const bare = new ApiClient(topology.apiservers, { retryForMs: 0, timeoutMs: 1000 });
    let startedAt = NaN;
    let faultTime = NaN;
    try {
      await sleep(1000);
      const stopping = Promise.all(replicas.map((p) => ctx.pm2('stop', p.name)));
      timeline.fault(`pm2 stop ${replicas.map((p) => p.name).join(' ')}`);
      const faultAt = (faultTime = Date.now());
      let failingAt: number | undefined;
      let downAt: number | undefined;
      let stopDone = false;
      void stopping.then(() => (stopDone = true), () => (stopDone = true));
      while (Date.now() < faultAt + OUTAGE_MS) {
        if (!failingAt) {
          try {
            await bare.get(resourceForCase('namespace'), '', namespace);
          } catch (err) {
            failingAt = timeline.mark(`API requests failing (${(err as Error).message.slice(0, 80)})`);
          }
        }
        if (!downAt && stopDone && !(await Promise.all(replicas.map((p) => readyz(p, 300)))).some(Boolean)) downAt = timeline.mark('every apiserver down (pm2 stopped them; /readyz refused)');
        await watchRestarts();
        await sleep(500);
      }
      await stopping;
      if (!downAt) problems.push('the apiservers were not all down during the outage');

      const starting = Promise.all(replicas.map((p) => ctx.pm2('start', p.name)));
      startedAt = timeline.mark(`pm2 start ${replicas.map((p) => p.name).join(' ')}`);
      await starting;
      const backAt = new Map<string, number>();
      await pollUntil(async () => {
        for (const p of replicas) if (!backAt.has(p.name) && (await readyz(p, 500))) backAt.set(p.name, timeline.mark(`${p.name} serving again (GET /readyz 200)`));
        return backAt.size === replicas.length;
      }, 60000, 100);
      if (backAt.size < replicas.length) throw new Error(`the apiservers did not serve again within 60 s: only ${[...backAt.keys()].join(', ') || 'none'}`);
      const serving = Math.min(...backAt.values());
      await pollUntil(async () => (await bare.get(resourceForCase('namespace'), '', namespace).then(() => true, () => false)), 30000, 100);
      timeline.mark('API requests succeed again');

      // At once: a scale-up and a new pod, which need the controller-manager, the scheduler and a kubelet.
      await client.patch(DEPLOY, namespace, WEB, { spec: { replicas: 3 } });
      await client.create(POD, { metadata: { name: 'after-outage', namespace }, spec: { containers: [{ name: 'nginx', image: 'nginx' }] } });
      const askedAt = timeline.mark(`Deployment ${WEB} scaled 2 → 3 and pod after-outage created`);

      // Resync: each component shows it writes again.
      const bound = (2 * t.leaderLeaseDurationSeconds + 30) * 1000;
      const deadline = askedAt + bound;
      const done = new Map<string, number>();
      const once = (key: string, what: string) => {
        if (!done.has(key)) done.set(key, timeline.mark(what));
      };
      const leases = [
        { key: 'scheduler', ns: 'kube-system', name: 'kube-scheduler', what: 'kube-scheduler leader lease' },
        { key: 'kcm', ns: 'kube-system', name: 'kube-controller-manager', what: 'kube-controller-manager leader lease' },
        { key: 'publisher', ns: PUBLISHER_LEASE.namespace, name: PUBLISHER_LEASE.name, what: 'watch publisher lease' },
      ];
      // The node Lease is the kubelet's heartbeat; its node status is written when it changes (or
      // every 5 minutes), so a status write is shown when it happens but not waited for.
      const wanted = () => leases.length + nodes.length + 2;
      const required = () => [...done.keys()].filter((k) => !k.startsWith('status/')).length;
      let notReadySeen = false;
      while (Date.now() < deadline && required() < wanted()) {
        for (const l of leases) {
          const lease = await client.tryGet(LEASE, l.ns, l.name).catch(() => undefined);
          if (after(lease?.spec?.renewTime, serving)) {
            // Marked when the holder wrote it (same host, same clock): the acquisition when it is new.
            const acquired = after(lease?.spec?.acquireTime, serving);
            const at = Date.parse((acquired ? lease?.spec?.acquireTime : lease?.spec?.renewTime) ?? '');
            if (!done.has(l.key)) done.set(l.key, timeline.mark(`${l.what} ${acquired ? 'acquired' : 'renewed'} by ${lease?.spec?.holderIdentity}`, at));
          }
        }
        const nodeList = (await client.list(NODE).catch(() => ({ items: [] }))).items;
        for (const n of nodeList) {
          const name = n.metadata?.name ?? '';
          const ready = readyCondition(n);
          if (after(ready?.lastHeartbeatTime, serving)) once(`status/${name}`, `${name}: kubelet posted node status again (Ready=${ready?.status})`);
          if (ready?.status !== 'True' && !notReadySeen) {
            notReadySeen = true;
            timeline.mark(`${name} Ready=${ready?.status} (${ready?.reason ?? ''})`);
            problems.push(`node ${name} was marked Ready=${ready?.status} (${ready?.reason}) after the apiservers returned`);
          }
          const lease = await client.tryGet(LEASE, NODE_LEASE_NAMESPACE, name).catch(() => undefined);
          if (after(lease?.spec?.renewTime, serving) && !done.has(`lease/${name}`)) done.set(`lease/${name}`, timeline.mark(`${name}: kubelet renewed its node Lease`, Date.parse(lease!.spec!.renewTime!)));
        }
        const now = (await client.list(POD, namespace).catch(() => ({ items: [] }))).items;
        const fresh = now.filter((p) => !original.has(p.metadata?.name ?? '') && p.metadata?.name !== 'after-outage');
        if (fresh.some((p) => p.status?.phase === 'Running')) once('scaled', `scale-up pod ${fresh.find((p) => p.status?.phase === 'Running')?.metadata?.name} Running on ${fresh.find((p) => p.status?.phase === 'Running')?.spec?.nodeName}`);
        const single = now.find((p) => p.metadata?.name === 'after-outage');
        if (single?.status?.phase === 'Running') once('single', `pod after-outage Running on ${single.spec?.nodeName}`);
        await watchRestarts();
        await sleep(250);
      }
      for (const l of leases) if (!done.has(l.key)) problems.push(`the ${l.what} was not renewed within ${secs(bound)} of the apiservers' return`);
      for (const n of nodes) {
        if (!done.has(`lease/${n}`)) problems.push(`${n}'s kubelet did not renew its node Lease within ${secs(bound)} of the apiservers' return`);
      }
      if (!done.has('scaled')) problems.push(`the scale-up pod was not Running within ${secs(bound)} of the apiservers' return`);
      if (!done.has('single')) problems.push(`pod after-outage was not Running within ${secs(bound)} of the apiservers' return`);
      // Keep probing a little with everything back.
      await sleep(2000);
      const since = (key: string) => secs((done.get(key) ?? NaN) - serving);
      const lastOf = (prefix: string) => Math.max(...[...done].filter(([k]) => k.startsWith(prefix)).map(([, at]) => at));
      ctx.log(
        `durations: stop → API requests failing ${secs(timeline.sinceFault(failingAt ?? NaN))}; pm2 start → first apiserver serving ${secs(serving - startedAt)}; ` +
          `from serving: scheduler lease ${since('scheduler')}, controller-manager lease ${since('kcm')}, publisher lease ${since('publisher')}, ` +
          `all node leases ${secs(lastOf('lease/') - serving)}, scale-up pod Running ${since('scaled')}, new pod Running ${since('single')}`,
      );
    } finally {
      probing = false;
      await Promise.all(probers);
      bare.close();
      // An interrupted run must not leave the cluster without apiservers.
      if (Number.isNaN(startedAt)) await Promise.all(replicas.map((p) => ctx.pm2('start', p.name).catch(() => undefined)));
    }

    // The data plane through it all, and the pods as they are now.
    for (const target of targets) {
      if (target.firstFailure) timeline.mark(`first failed request to ${target.label} (${target.firstFailure.error})`, target.firstFailure.at);
      if (target.failed) problems.push(`${target.failed} of ${target.sent} requests to ${target.label} failed`);
    }
    ctx.log(`requests: ${targets.map((x) => `${x.label} ${x.sent - x.failed}/${x.sent} ok`).join(', ')}`);
    const nowPods = new Map((await client.list(POD, namespace)).items.map((p) => [p.metadata?.name ?? '', p]));
    for (const [name, o] of original) {
      const p = nowPods.get(name);
      if (!p || p.metadata?.uid !== o.uid) problems.push(`pod ${name} is gone (evicted or deleted)`);
      else if (p.metadata?.deletionTimestamp) problems.push(`pod ${name} is being deleted`);
      else {
        const restarts = (p.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0);
        if (restarts !== o.restarts) problems.push(`pod ${name}'s containers restarted (restartCount ${o.restarts} → ${restarts})`);
        if (!isReady(p)) problems.push(`pod ${name} is not Ready after the outage`);
      }
    }
    for (const n of (await client.list(NODE)).items) {
      const ready = readyCondition(n);
      if (ready?.status !== 'True') problems.push(`node ${n.metadata?.name} is Ready=${ready?.status} at the end`);
      else if (after(ready.lastTransitionTime, faultTime)) problems.push(`node ${n.metadata?.name}'s Ready condition changed after the fault (lastTransitionTime ${ready.lastTransitionTime})`);
      const noExecute = (n.spec?.taints ?? []).filter((x) => x.effect === 'NoExecute');
      if (noExecute.length) problems.push(`node ${n.metadata?.name} has NoExecute taints: ${noExecute.map((x) => x.key).join(', ')}`);
    }
    return problems;
  },
};
