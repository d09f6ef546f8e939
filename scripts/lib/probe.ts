/** Health probes for the processes of a topology: one function per HealthProbe kind. */
import * as http from 'http';
import { checkHealth } from '../../services/lib/health';
import type { HealthProbe } from '../../services/lib/topology';

export interface ProbeResult {
  healthy: boolean;
  /** One short phrase for a status table: "ok", "no meta leader", "connection refused", ... */
  detail: string;
}

/**
 * GETs `url`, or POSTs `body` to it, over a fresh connection (no keep-alive: probes must not
 * hold the process open). Resolves status code and body; rejects on connection errors and
 * after `timeoutMs`.
 */
export function httpRequest(url: string, timeoutMs: number, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: body === undefined ? 'GET' : 'POST', agent: false, timeout: timeoutMs, headers: { connection: 'close' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

const httpGet = httpRequest;

/**
 * The name of the etcd leader among `members` (each asked for its status through etcd's JSON
 * gateway), or undefined when none answers or there is no leader. Never throws.
 */
export async function etcdLeader(members: Array<{ name: string; address: string }>, timeoutMs = 1000): Promise<string | undefined> {
  const answers = await Promise.all(
    members.map(async (m) => {
      try {
        const res = await httpRequest(`${m.address}/v3/maintenance/status`, timeoutMs, '{}');
        const status = JSON.parse(res.body) as { leader?: string; header?: { member_id?: string } };
        return { name: m.name, id: status.header?.member_id, leader: status.leader };
      } catch {
        return undefined;
      }
    }),
  );
  const leaderId = answers.find((a) => a?.leader && a.leader !== '0')?.leader;
  return answers.find((a) => a !== undefined && a.id === leaderId)?.name;
}

/** How far behind the newest copy a copy that did not move must be to count as frozen. */
const FROZEN_MIN_LAG = 50;

/** Each server's copy of `stream`: its last sequence as that server's /jsz reports it (absent when it does not answer). */
async function streamLastSeqs(servers: Array<{ name: string; monitorUrl: string }>, stream: string, timeoutMs: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  await Promise.all(
    servers.map(async (s) => {
      try {
        const res = await httpGet(`${s.monitorUrl}/jsz?streams=true`, timeoutMs);
        const jsz = JSON.parse(res.body) as { account_details?: Array<{ stream_detail?: Array<{ name?: string; state?: { last_seq?: number } }> }> };
        const detail = jsz.account_details?.flatMap((a) => a.stream_detail ?? []).find((d) => d.name === stream);
        if (detail?.state?.last_seq !== undefined) out.set(s.name, detail.state.last_seq);
      } catch {
        // not answering: its own health probe says so
      }
    }),
  );
  return out;
}

/**
 * Servers whose copy of `stream` is frozen: at least FROZEN_MIN_LAG behind the newest copy and
 * not moving over `intervalMs` while that one moved (nats-server 2.9 can leave a copy so after the whole cluster
 * crashed, while reporting it current; docs/failure-handling.md, known limits). Name → a phrase
 * for the status table. Asks a second time only when a copy is that far behind; never throws.
 */
export async function frozenStreamCopies(servers: Array<{ name: string; monitorUrl: string }>, stream: string, intervalMs = 1000, timeoutMs = 1000): Promise<Map<string, string>> {
  const frozen = new Map<string, string>();
  const first = await streamLastSeqs(servers, stream, timeoutMs);
  const maxOf = (m: Map<string, number>) => Math.max(0, ...m.values());
  if (first.size < 2 || [...first.values()].every((v) => maxOf(first) - v < FROZEN_MIN_LAG)) return frozen;
  await new Promise((r) => setTimeout(r, intervalMs));
  const second = await streamLastSeqs(servers, stream, timeoutMs);
  const head = maxOf(second);
  for (const [name, seq] of first) {
    // A follower trails by a few messages at most, and moves within the interval when the leader did.
    if (second.get(name) === seq && head > maxOf(first) && head - seq >= FROZEN_MIN_LAG) {
      frozen.set(name, `its copy of ${stream} is frozen at ${seq} while the newest is at ${head}`);
    }
  }
  return frozen;
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ECONNREFUSED') return 'connection refused';
  if (e?.code === 'ECONNRESET') return 'connection reset';
  return e?.message ?? String(err);
}

async function probeEtcd(url: string, timeoutMs: number): Promise<ProbeResult> {
  const res = await httpGet(`${url}/health`, timeoutMs);
  let health: unknown;
  try {
    health = (JSON.parse(res.body) as { health?: unknown }).health;
  } catch {
    return { healthy: false, detail: `HTTP ${res.status}: ${res.body.slice(0, 80)}` };
  }
  // etcd 3.4 answers {"health":"true"}; "false" means no leader, an alarm, or no quorum.
  if (health === 'true' || health === true) return { healthy: true, detail: 'ok' };
  return { healthy: false, detail: 'unhealthy (no leader or no quorum)' };
}

async function probeNats(monitorUrl: string, clustered: boolean, timeoutMs: number): Promise<ProbeResult> {
  const res = await httpGet(`${monitorUrl}/healthz`, timeoutMs);
  if (res.status !== 200) {
    // e.g. {"status":"unavailable","error":"JetStream stream '$G > KUBEMU_WATCH' is not current"}
    let error = res.body.slice(0, 120);
    try {
      error = (JSON.parse(res.body) as { error?: string }).error ?? error;
    } catch {
      // not JSON: keep the raw text
    }
    return { healthy: false, detail: `healthz ${res.status}: ${error}` };
  }
  if (!clustered) return { healthy: true, detail: 'ok' };
  // /healthz alone may say ok before the JetStream meta group has a leader; streams cannot be
  // created until it has one.
  const jsz = await httpGet(`${monitorUrl}/jsz`, timeoutMs);
  let leader: string | undefined;
  try {
    leader = (JSON.parse(jsz.body) as { meta_cluster?: { leader?: string } }).meta_cluster?.leader;
  } catch {
    return { healthy: false, detail: `jsz ${jsz.status}: ${jsz.body.slice(0, 80)}` };
  }
  if (!leader) return { healthy: false, detail: 'no JetStream meta leader' };
  return { healthy: true, detail: `ok (meta leader ${leader})` };
}

async function probeGrpc(address: string, timeoutMs: number): Promise<ProbeResult> {
  const status = await checkHealth(address, timeoutMs);
  if (status === 'SERVING') return { healthy: true, detail: 'SERVING' };
  return { healthy: false, detail: status === 'UNREACHABLE' ? 'unreachable' : status };
}

/** Runs one probe. Never throws: failures are a result with healthy=false. Safe to call concurrently. */
export async function probe(health: HealthProbe, timeoutMs = 2000): Promise<ProbeResult> {
  try {
    switch (health.kind) {
      case 'etcd':
        return await probeEtcd(health.url, timeoutMs);
      case 'nats':
        return await probeNats(health.monitorUrl, health.clustered, timeoutMs);
      case 'grpc':
        return await probeGrpc(health.address, timeoutMs);
    }
  } catch (err) {
    return { healthy: false, detail: describe(err) };
  }
}

/**
 * Probes every item until all are healthy or `timeoutMs` passes. Resolves the last result of
 * each (by key) and whether all were healthy; never throws.
 */
export async function waitUntilHealthy<T extends { name: string; health: HealthProbe }>(
  items: T[],
  timeoutMs: number,
  opts: { intervalMs?: number; progressEveryMs?: number; onProgress?(pending: Array<{ name: string; detail: string }>): void } = {},
): Promise<{ healthy: boolean; results: Map<string, ProbeResult> }> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  const results = new Map<string, ProbeResult>();
  let pending = items;
  let nextProgress = started + (opts.progressEveryMs ?? 5000);
  for (;;) {
    const round = await Promise.all(pending.map(async (item) => [item, await probe(item.health)] as const));
    for (const [item, result] of round) results.set(item.name, result);
    pending = round.filter(([, r]) => !r.healthy).map(([item]) => item);
    if (pending.length === 0) return { healthy: true, results };
    if (Date.now() >= deadline) return { healthy: false, results };
    if (opts.onProgress && Date.now() >= nextProgress) {
      opts.onProgress(pending.map((p) => ({ name: p.name, detail: results.get(p.name)?.detail ?? '' })));
      nextProgress = Date.now() + (opts.progressEveryMs ?? 5000);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}
