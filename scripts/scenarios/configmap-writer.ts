/**
 * What the store scenarios (etcd, nats) share: a steady writer of ConfigMaps that records every
 * write and its outcome, the check that every acknowledged write is stored with its value, and
 * pm2 stop/start that does not block the event loop (the writer and the watchers keep running
 * while pm2 works).
 */
import { ApiClient } from '../../services/lib/apiclient';
import { ApiError } from '../../services/lib/errors';
import { resourceForCase } from '../../services/lib/resources';
import { Topology } from '../../services/lib/topology';
import { Pm2Client } from '../lib/pm2';
import { pm2HomeOf, signalPid, sleep } from './lib';

export const CONFIGMAP = resourceForCase('configMap');

/** One write of the steady writer. */
export interface Write {
  n: number;
  name: string;
  startedAt: number;
  endedAt: number;
  /** The resourceVersion the apiserver acknowledged; absent when the write failed. */
  rv?: number;
  err?: Error;
}

/**
 * Creates ConfigMap w-<n> with data {n} one after another, `intervalMs` apart, until stopped, and
 * records each write. One writer per namespace; start and stop once.
 */
export class SteadyWriter {
  readonly writes: Write[] = [];
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: ApiClient,
    private readonly namespace: string,
    private readonly intervalMs = 75,
  ) {}

  start(): void {
    this.loop = (async () => {
      for (let n = 0; !this.stopped; n++) {
        const name = `w-${n}`;
        const w: Write = { n, name, startedAt: Date.now(), endedAt: 0 };
        try {
          const cm = await this.client.create(CONFIGMAP, { metadata: { name, namespace: this.namespace }, data: { n: String(n) } });
          w.rv = Number(cm.metadata?.resourceVersion);
        } catch (err) {
          w.err = err as Error;
        }
        w.endedAt = Date.now();
        this.writes.push(w);
        await sleep(this.intervalMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  acked(): Write[] {
    return this.writes.filter((w) => w.rv !== undefined);
  }

  /** Resolves once `count` more writes are acknowledged after now, or after `timeoutMs`; true if they were. */
  async waitAcked(count: number, timeoutMs: number): Promise<boolean> {
    const target = this.acked().length + count;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.acked().length >= target) return true;
      await sleep(50);
    }
    return false;
  }

  /** The longest stretch between consecutive acknowledgements ending in [from, to]. */
  longestAckGap(from: number, to: number): { from: number; to: number } | undefined {
    const acks = this.acked().map((w) => w.endedAt);
    let best: { from: number; to: number } | undefined;
    for (let i = 1; i < acks.length; i++) {
      if (acks[i] < from || acks[i - 1] > to) continue;
      if (!best || acks[i] - acks[i - 1] > best.to - best.from) best = { from: acks[i - 1], to: acks[i] };
    }
    return best;
  }
}

/** A failure in a few words: the Kubernetes reason and code, and the message. */
export function describeError(err: Error | undefined): string {
  if (!err) return '';
  if (err instanceof ApiError) return `${err.code} ${err.reason}: ${err.message}`;
  return err.message;
}

/**
 * Checks the writer's history against the store: every acknowledged write is listed with its
 * value and resourceVersion, and resourceVersions increase strictly in acknowledgement order.
 * Returns the problems and how many unacknowledged writes were stored all the same (a write whose
 * outcome was unknown, e.g. abandoned while etcd had no quorum, may have been committed).
 */
export async function checkWrites(client: ApiClient, namespace: string, writes: Write[]): Promise<{ problems: string[]; storedUnacked: number }> {
  const problems: string[] = [];
  const stored = new Map((await client.list(CONFIGMAP, namespace)).items.map((cm) => [cm.metadata!.name!, cm]));
  let lastRv = 0;
  let missing = 0;
  for (const w of writes) {
    if (w.rv === undefined) continue;
    if (w.rv <= lastRv) problems.push(`write ${w.name} was acknowledged with resourceVersion ${w.rv}, not above the previous ${lastRv}`);
    lastRv = Math.max(lastRv, w.rv);
    const cm = stored.get(w.name);
    if (!cm) {
      if (missing++ < 5) problems.push(`acknowledged write ${w.name} (resourceVersion ${w.rv}) is lost`);
      continue;
    }
    if (cm.data?.n !== String(w.n)) problems.push(`${w.name} holds n=${cm.data?.n}, written n=${w.n}`);
    if (Number(cm.metadata?.resourceVersion) !== w.rv) problems.push(`${w.name} has resourceVersion ${cm.metadata?.resourceVersion}, acknowledged ${w.rv}`);
  }
  if (missing > 5) problems.push(`${missing} acknowledged writes are lost in all`);
  const storedUnacked = writes.filter((w) => w.rv === undefined && stored.has(w.name)).length;
  return { problems, storedUnacked };
}

/** Median of a list of numbers (NaN when empty). */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * SIGKILLs `name` (pid `pid`) and stops it in pm2 before pm2's restart delay (200 ms) has passed,
 * so the process stays down from the kill on: a member restarted for a moment would rejoin its
 * cluster and blur what the scenario measures. Resolves the time of the kill and whether pm2
 * restarted it all the same (then it was stopped again). Throws when pm2 does not answer.
 */
export async function killAndKeepDown(topology: Topology, name: string, pid: number): Promise<{ killedAt: number; restartedMeanwhile: boolean }> {
  const pm2 = new Pm2Client(pm2HomeOf(topology));
  await pm2.connect(false);
  try {
    const restartsBefore = (await pm2.list()).find((p) => p.name === name)?.restarts ?? 0;
    signalPid(pid, 'SIGKILL');
    const killedAt = Date.now();
    await pm2.stop([name]);
    const restartsAfter = (await pm2.list()).find((p) => p.name === name)?.restarts ?? 0;
    return { killedAt, restartedMeanwhile: restartsAfter > restartsBefore };
  } finally {
    await pm2.disconnect();
  }
}

/** Each member's view of the leader (its id), undefined for a member that does not answer or knows none. */
export async function etcdLeaderViews(members: Array<{ name: string; address: string }>, timeoutMs = 500): Promise<Map<string, string | undefined>> {
  const views = await Promise.all(
    members.map(async (m) => {
      try {
        const res = await fetch(`${m.address}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(timeoutMs) });
        const body = (await res.json()) as { leader?: string };
        return [m.name, body.leader && body.leader !== '0' ? body.leader : undefined] as const;
      } catch {
        return [m.name, undefined] as const;
      }
    }),
  );
  return new Map(views);
}
