import { connect, ConnectionOptions, JetStreamManager, NatsConnection, RetentionPolicy, StorageType, DiscardPolicy } from 'nats';

/**
 * The watch bus: the JetStream stream on which the apiserver's publisher puts one message per
 * committed change under /registry/, in etcd revision order. Subjects:
 *   kubemu.watch.<resource>.<namespace>.<node>.<name>
 * with "_" for an empty token (cluster-scoped namespace, non-pod node, unscheduled pod) and "." in
 * names written as "~" (a character Kubernetes names cannot hold), so that a subscriber can filter
 * on resource, namespace and, for pods, node.
 */
export const WATCH_STREAM = 'KUBEMU_WATCH';
export const WATCH_SUBJECT_ROOT = 'kubemu.watch';
/** The etcd revision of the change carried by a message. */
export const REVISION_HEADER = 'Kubemu-Revision';

function token(s: string | undefined): string {
  return s ? s.replace(/\./g, '~') : '_';
}

/** The subject of one change. */
export function watchSubject(resource: string, namespace: string | undefined, node: string | undefined, name: string): string {
  return `${WATCH_SUBJECT_ROOT}.${resource}.${token(namespace)}.${token(node)}.${token(name)}`;
}

/** The filter subject of a watcher: one resource, optionally one namespace and (pods) one node. */
export function watchFilter(resource: string, opts: { namespace?: string; nodeName?: string } = {}): string {
  const ns = opts.namespace ? token(opts.namespace) : '*';
  const node = opts.nodeName ? token(opts.nodeName) : '*';
  return `${WATCH_SUBJECT_ROOT}.${resource}.${ns}.${node}.*`;
}

/** Connects to NATS and keeps reconnecting forever; the caller owns closing the connection. */
export async function connectBus(servers: string[], name: string, extra: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
  return connect({
    servers,
    name,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 5000,
    maxPingOut: 2,
    waitOnFirstConnect: true,
    // Every request (each JetStream publish) would otherwise build an Error for its stack trace.
    noAsyncTraces: true,
    ...extra,
  });
}

/** Creates the watch stream if it does not exist (idempotent, safe to race). */
export async function ensureWatchStream(jsm: JetStreamManager, replicas: number): Promise<void> {
  const config = {
    name: WATCH_STREAM,
    subjects: [`${WATCH_SUBJECT_ROOT}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: replicas,
    // Long enough for any watcher to resume after a restart; older history means relist.
    max_age: 6 * 3600 * 1e9,
    max_bytes: 2 * 1024 * 1024 * 1024,
    // Deduplication by message id (revision:key) covers a publisher failover.
    duplicate_window: 120 * 1e9,
  };
  try {
    await jsm.streams.info(WATCH_STREAM);
  } catch {
    try {
      await jsm.streams.add(config);
    } catch (err) {
      if (!/already in use|stream name already/i.test((err as Error).message)) throw err;
    }
  }
}

/** Reads the revision header of a stored message. */
export function revisionOf(headers: { get(k: string): string } | undefined): number {
  return Number(headers?.get(REVISION_HEADER) ?? 0);
}

/** The watch cannot resume from the requested revision: the watcher must relist. */
export class WatchExpiredError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WatchExpiredError';
  }
}

/**
 * The first stream sequence whose revision is greater than `revision`: where a watcher that
 * listed at `revision` starts following. Binary search over stored messages (O(log n) direct
 * reads). Throws WatchExpiredError when history after `revision` was trimmed from the stream.
 */
export async function sequenceAfterRevision(jsm: JetStreamManager, revision: number, stream = WATCH_STREAM): Promise<number> {
  const info = await jsm.streams.info(stream);
  const first = info.state.first_seq;
  const last = info.state.last_seq;
  if (info.state.messages === 0) return last + 1;
  const revAt = async (seq: number) => revisionOf((await jsm.streams.getMessage(stream, { seq })).header);
  // Every etcd revision is a change under /registry/ and so a message: when the stream's first
  // message is past revision+1, the changes in between are not in the stream (trimmed, or lost
  // with an earlier stream) and the watcher must relist.
  const firstRev = await revAt(first);
  if (firstRev > revision + 1) {
    throw new WatchExpiredError(`too old resource version: ${revision} (${firstRev - 1})`);
  }
  if ((await revAt(last)) <= revision) return last + 1;
  let lo = first;
  let hi = last;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if ((await revAt(mid)) <= revision) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
