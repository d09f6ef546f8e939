import {
  AckPolicy,
  connect,
  ConnectionOptions,
  ConsumerEvents,
  ConsumerMessages,
  DeliverPolicy,
  DiscardPolicy,
  Events,
  JetStreamManager,
  JsMsg,
  nanos,
  NatsConnection,
  RetentionPolicy,
  Status,
  StorageType,
} from 'nats';

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

/**
 * The JetStream API timeout of watchers: short, so that a request caught by a stream leader
 * election (the leader's server died) is retried soon rather than after nats.js's 5 s.
 */
export const WATCH_API_TIMEOUT_MS = 2000;
/** How long NATS keeps a watch's consumer after its watcher stopped pulling (a watcher that died). */
const CONSUMER_INACTIVE_MS = 60_000;
/** A pull's expiry; heartbeats come every half of it and two missed in a row end the watch. */
const PULL_EXPIRES_MS = 4000;
/** How often an idle watch asks the stream's leader whether it is missing something. */
const STALL_PROBE_MS = 5000;
/** How long a server whose copy of the stream was seen stalled is avoided for new consumers. */
const SUSPECT_MS = 120_000;
/** Servers (by name) on which a watch's consumer stalled, until when they are avoided. */
const suspectServers = new Map<string, number>();

export interface StreamWatchOptions {
  filter: string;
  startSeq: number;
  batch: number;
  /** The stall probe's period (tests make it short). */
  probeMs?: number;
}

/**
 * One pass of a watcher over the watch stream: an ephemeral pull consumer of its own (ack none, in
 * memory, one replica) from `startSeq` on `filter`, yielding messages in stream order.
 *
 * It ends by itself (the iteration returns, `endReason` says why) at the first sign that it could
 * miss a message: the connection to NATS dropped (it may come back on another server, and a
 * consumer in memory does not survive its server), the consumer's heartbeats stopped (its server
 * died while the connection lives on another), the consumer or the stream is gone, a delivery
 * sequence was skipped, or the consumer stalled: twice in a row, STALL_PROBE_MS apart with nothing
 * delivered in between, the stream's leader holds a message for this filter past the last one
 * delivered. The last guards against a server whose copy of the stream stopped following its
 * leader while answering heartbeats (nats-server 2.9 can end up so after every server of the
 * cluster crashed); new consumers then avoid that server for SUSPECT_MS.
 *
 * The watcher then opens a new one after the last revision it applied, as a Kubernetes client
 * re-watches from its resourceVersion. nats.js's ordered consumer would instead recover inside the
 * library, where some outages leave it silent for good and its consumer creation retries for
 * minutes; here opening is a few requests (each bounded by the JetStream timeout) and the
 * watcher's own backoff decides when to try again.
 */
export class StreamWatch implements AsyncIterable<JsMsg> {
  /** Why the watch ended by itself; empty while it runs or after close(). */
  endReason = '';
  private closing = false;
  private connection?: { stop(): void };
  private probe?: NodeJS.Timeout;
  /** Stream sequence of the last message delivered (startSeq - 1 before the first). */
  private delivered: number;
  private lastDeliveryAt = Date.now();
  /** The leader's last matching sequence seen past `delivered` by the previous probe (0: none). */
  private behind = 0;

  /** open() is the way in; this takes a consumer already delivering (unit tests give it stand-ins). */
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly consumerName: string,
    private readonly server: string,
    private readonly messages: ConsumerMessages,
    private readonly opts: StreamWatchOptions,
  ) {
    this.delivered = Math.max(1, opts.startSeq) - 1;
  }

  static async open(nc: NatsConnection, jsm: JetStreamManager, opts: StreamWatchOptions): Promise<StreamWatch> {
    const config = {
      filter_subject: opts.filter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, opts.startSeq),
      ack_policy: AckPolicy.None,
      max_deliver: 1,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(CONSUMER_INACTIVE_MS),
    };
    // NATS places the consumer on any server holding the stream: try again (a few times) when it
    // lands on one seen stalled lately.
    let info = await jsm.consumers.add(WATCH_STREAM, config);
    for (let tries = 0; tries < 4 && isSuspect(info.cluster?.leader); tries++) {
      await jsm.consumers.delete(WATCH_STREAM, info.name).catch(() => undefined);
      info = await jsm.consumers.add(WATCH_STREAM, config);
    }
    let messages: ConsumerMessages;
    try {
      messages = await nc.jetstream().consumers.getPullConsumerFor(info).consume({
        max_messages: opts.batch,
        expires: PULL_EXPIRES_MS,
        abort_on_missing_resource: true,
      });
    } catch (err) {
      jsm.consumers.delete(WATCH_STREAM, info.name).catch(() => undefined);
      throw err;
    }
    const watch = new StreamWatch(jsm, info.name, info.cluster?.leader ?? '', messages, opts);
    watch.watchConnection(nc);
    return watch;
  }

  /**
   * Stops the watch (an iteration in progress returns) and deletes its consumer. Returns at once:
   * nats.js's own close() resolves only once something iterates the messages again, which never
   * happens when the iteration already ended.
   */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.probe);
    this.connection?.stop();
    this.messages.stop();
    this.jsm.consumers.delete(WATCH_STREAM, this.consumerName).catch(() => undefined);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<JsMsg> {
    let expected = 1;
    try {
      for await (const m of this.messages) {
        if (this.closing) break;
        const seq = m.info.deliverySequence;
        if (seq !== expected) {
          this.end(`delivery sequence ${seq} where ${expected} was due`);
          break;
        }
        expected++;
        this.delivered = m.seq;
        this.lastDeliveryAt = Date.now();
        this.behind = 0;
        yield m;
      }
      if (!this.closing) this.end('the consumer stopped delivering');
    } catch (err) {
      this.end(`the consumer failed: ${(err as Error).message}`);
    } finally {
      this.close();
    }
  }

  private end(reason: string): void {
    if (this.closing) return;
    this.endReason ||= reason;
    this.close();
  }

  /** Ends the watch when the connection drops or moves, and starts watching the consumer. */
  watchConnection(nc: NatsConnection): void {
    const connection = nc.status() as AsyncIterable<Status> & { stop(): void };
    this.connection = connection;
    void (async () => {
      for await (const s of connection) {
        if (s.type === Events.Disconnect || s.type === Events.Reconnect) this.end(`the NATS connection ${s.type === Events.Disconnect ? 'dropped' : 'moved'}`);
      }
    })().catch(() => undefined);
    this.watchConsumer();
  }

  /** Ends the watch on the consumer's trouble events and starts the stall probe. */
  watchConsumer(): void {
    void (async () => {
      for await (const s of await this.messages.status()) {
        if (ENDING_EVENTS.has(s.type)) this.end(`${s.type.replace(/_/g, ' ')}`);
      }
    })().catch(() => undefined);
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    const period = this.opts.probeMs ?? STALL_PROBE_MS;
    // Jittered, so that the watches of a process do not all ask at once.
    this.probe = setTimeout(() => void this.checkStalled(period).finally(() => this.closing || this.scheduleProbe()), period * (0.75 + Math.random() / 2));
    this.probe.unref?.();
  }

  /** One stall probe (see the class comment). Does nothing while messages come or the leader cannot be asked. */
  private async checkStalled(period: number): Promise<void> {
    if (this.closing || Date.now() - this.lastDeliveryAt < period) return;
    let last: number;
    try {
      last = (await this.jsm.streams.getMessage(WATCH_STREAM, { last_by_subj: this.opts.filter })).seq;
    } catch (err) {
      if (String((err as { code?: unknown }).code) === '404') this.behind = 0;
      return;
    }
    if (this.closing) return;
    if (last <= this.delivered) {
      this.behind = 0;
    } else if (this.behind === 0) {
      this.behind = last;
    } else {
      if (this.server) suspectServers.set(this.server, Date.now() + SUSPECT_MS);
      this.end(`the consumer on ${this.server || 'its server'} stalled: the stream holds ${this.behind} for it, the last delivered is ${this.delivered}`);
    }
  }
}

/** Whether new consumers avoid `server` (a consumer stalled there lately). */
export function isSuspect(server: string | undefined): boolean {
  const until = server ? suspectServers.get(server) : undefined;
  if (until === undefined) return false;
  if (until > Date.now()) return true;
  suspectServers.delete(server!);
  return false;
}

const ENDING_EVENTS = new Set<string>([
  ConsumerEvents.HeartbeatsMissed,
  ConsumerEvents.ConsumerNotFound,
  ConsumerEvents.ConsumerDeleted,
  ConsumerEvents.StreamNotFound,
  ConsumerEvents.NoResponders,
]);
