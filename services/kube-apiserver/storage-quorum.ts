/**
 * Whether the etcd cluster can commit: a majority of its members must answer and one of them must
 * lead. The storage asks this when a call fails or hangs, to tell an election in progress (wait a
 * moment and retry) from a lost quorum (fail now, in Kubernetes' terms: 503 naming etcd).
 */

/** What the members said when last asked. */
export interface QuorumStatus {
  /** Members configured. */
  members: number;
  /** Client URLs of the members that answered. */
  reachable: string[];
  /** True when some member that answered knows a leader. */
  hasLeader: boolean;
  /** The highest raft term among the members that answered: every election raises it. */
  term: number;
  /** When the status was taken (ms since the epoch). */
  at: number;
}

/** Members needed for a majority of `members`. */
export function quorumSize(members: number): number {
  return Math.floor(members / 2) + 1;
}

/** True when fewer than a majority answered: nothing can be committed until members return. */
export function quorumLost(s: QuorumStatus): boolean {
  return s.reachable.length < quorumSize(s.members);
}

/** The status in words, for error messages and logs. */
export function describeQuorum(s: QuorumStatus): string {
  const need = quorumSize(s.members);
  if (quorumLost(s)) {
    return `etcd has lost quorum: ${s.reachable.length} of ${s.members} members answer, ${need} needed to commit (answering: ${s.reachable.join(', ') || 'none'})`;
  }
  return s.hasLeader ? `etcd has a leader (${s.reachable.length} of ${s.members} members answer)` : `etcd has no leader yet (${s.reachable.length} of ${s.members} members answer; an election is under way)`;
}

/**
 * Asks every member for its maintenance status over etcd's JSON gateway. A status younger than
 * `maxAgeMs` is reused and concurrent callers share one probe, so calls failing together cost one
 * round of requests. Safe to call concurrently; never throws.
 */
export class QuorumProbe {
  private last: QuorumStatus | undefined;
  private inFlight: Promise<QuorumStatus> | undefined;

  constructor(
    private readonly endpoints: string[],
    private readonly opts: { timeoutMs?: number; maxAgeMs?: number } = {},
  ) {}

  async status(): Promise<QuorumStatus> {
    const maxAge = this.opts.maxAgeMs ?? 200;
    if (this.last && Date.now() - this.last.at < maxAge) return this.last;
    this.inFlight ??= this.probe().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async probe(): Promise<QuorumStatus> {
    const timeoutMs = this.opts.timeoutMs ?? 500;
    const answers = await Promise.all(
      this.endpoints.map(async (endpoint) => {
        try {
          const url = `${/^https?:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`}/v3/maintenance/status`;
          const res = await fetch(url, { method: 'POST', body: '{}', signal: AbortSignal.timeout(timeoutMs) });
          if (!res.ok) return undefined;
          const body = (await res.json()) as { leader?: string; raftTerm?: string; header?: { raft_term?: string } };
          return { endpoint, leader: body.leader && body.leader !== '0' ? body.leader : undefined, term: Number(body.raftTerm ?? body.header?.raft_term ?? 0) };
        } catch {
          return undefined;
        }
      }),
    );
    const reachable = answers.filter((a): a is { endpoint: string; leader: string | undefined; term: number } => a !== undefined);
    this.last = {
      members: this.endpoints.length,
      reachable: reachable.map((a) => a.endpoint),
      hasLeader: reachable.some((a) => a.leader),
      term: Math.max(0, ...reachable.map((a) => a.term)),
      at: Date.now(),
    };
    return this.last;
  }
}
