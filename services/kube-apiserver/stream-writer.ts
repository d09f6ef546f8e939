import { createInbox, headers as natsHeaders, Msg, NatsConnection, Subscription } from 'nats';

/** A JetStream publish the stream refused or did not acknowledge in time. */
export class StreamPublishError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StreamPublishError';
  }
}

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
  sentAt: number;
}

/**
 * A lean JetStream publisher for one writer: every message goes out as a core NATS publish with a
 * reply subject under one inbox subscription, and the stream's acknowledgement settles it. This
 * does what `jetstream().publish` does (message id, expected last message id, acks, no-responders)
 * without a request object, timer and error trace per message, which the watch publisher pays for
 * every change in the cluster. Publishes are sent in call order on one connection, so the stream
 * sees them in that order. Not for concurrent use by two writers.
 */
export class StreamWriter {
  private readonly inbox = createInbox();
  private readonly pending = new Map<string, Pending>();
  private readonly sub: Subscription;
  private readonly timer: NodeJS.Timeout;
  private next = 0;

  constructor(private readonly nc: NatsConnection, private readonly timeoutMs = 5000) {
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => this.onReply(err, msg) });
    this.timer = setInterval(() => this.expire(), Math.max(100, timeoutMs / 5));
  }

  /**
   * Publishes `data` on `subject` with message id `msgId`, expecting the stream's last message id to
   * be `expectLastMsgId` (when given). Resolves once the stream stored it (or dropped it as a
   * duplicate); rejects with StreamPublishError when refused or not acknowledged in time.
   */
  publish(subject: string, data: Uint8Array, msgId: string, expectLastMsgId: string | undefined, extraHeaders: Record<string, string>): Promise<void> {
    const h = natsHeaders();
    h.set('Nats-Msg-Id', msgId);
    if (expectLastMsgId) h.set('Nats-Expected-Last-Msg-Id', expectLastMsgId);
    for (const [k, v] of Object.entries(extraHeaders)) h.set(k, v);
    const token = String(this.next++);
    return new Promise<void>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, sentAt: Date.now() });
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, headers: h });
      } catch (err) {
        this.pending.delete(token);
        reject(new StreamPublishError(`publish failed: ${(err as Error).message}`));
      }
    });
  }

  /** Rejects whatever is pending and stops listening for acknowledgements. */
  close(): void {
    clearInterval(this.timer);
    this.sub.unsubscribe();
    for (const p of this.pending.values()) p.reject(new StreamPublishError('stream writer closed'));
    this.pending.clear();
  }

  private onReply(err: Error | null, msg: Msg): void {
    const token = msg?.subject.slice(this.inbox.length + 1);
    const p = token !== undefined ? this.pending.get(token) : undefined;
    if (!p) return;
    this.pending.delete(token!);
    if (err) return p.reject(new StreamPublishError(err.message));
    if (msg.headers?.hasError) return p.reject(new StreamPublishError(`no stream answered (${msg.headers.code} ${msg.headers.description})`));
    try {
      const ack = JSON.parse(new TextDecoder().decode(msg.data)) as { error?: { description?: string; err_code?: number }; seq?: number };
      if (ack.error) return p.reject(new StreamPublishError(`stream refused the message: ${ack.error.description} (${ack.error.err_code})`));
      p.resolve();
    } catch {
      p.reject(new StreamPublishError('unreadable stream acknowledgement'));
    }
  }

  private expire(): void {
    const deadline = Date.now() - this.timeoutMs;
    for (const [token, p] of this.pending) {
      if (p.sentAt < deadline) {
        this.pending.delete(token);
        p.reject(new StreamPublishError(`no acknowledgement from the stream within ${this.timeoutMs} ms`));
      }
    }
  }
}
