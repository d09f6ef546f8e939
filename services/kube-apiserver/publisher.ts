import { JetStreamManager, NatsConnection } from 'nats';
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { Object as ApiObject } from '../lib/generated/kubemu/apiserver/v1/apiserver';
import { Logger } from '../lib/log';
import { ObjectCase, parseStorageKey, wrap } from '../lib/resources';
import { ensureWatchStream, REVISION_HEADER, WATCH_STREAM, watchSubject } from '../lib/watchbus';
import { EtcdStorage } from './storage';
import { StreamWriter } from './stream-writer';
import type { IKeyValue, IWatchResponse } from 'etcd3/lib/rpc';

export interface PublisherOptions {
  /** JetStream replicas of the watch stream. */
  replicas: number;
  /** Publishes awaiting their acknowledgement at once; 1 = strictly one at a time. */
  maxInFlight: number;
  log: Logger;
}

interface Pending {
  subject: string;
  data: Uint8Array;
  msgId: string;
  revision: number;
}

/**
 * The watch publisher: follows etcd's watch on /registry/ and publishes every change to the
 * JetStream watch stream, one message per changed key, in revision order, each with the message id
 * `<revision>:<key>` and the expectation that the stream's last message is the one published before
 * it. So a failover neither drops nor repeats: a new publisher resumes after the stream's last
 * message, duplicates are dropped by id, and a stale publisher's writes are rejected once the stream
 * has moved on. Run it only while holding the publisher lease.
 */
export class WatchPublisher {
  /** The revision of the last change known to be in the stream. */
  publishedRevision = 0;
  /** Set after history was lost: an empty stream starts at the current revision instead of 1. */
  private startFromCurrent = false;

  constructor(
    private readonly storage: EtcdStorage,
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly opts: PublisherOptions,
  ) {
  }

  /** Publishes until `signal` aborts; restarts its session after any failure. Never throws. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.session(signal);
      } catch (err) {
        if (signal.aborted) break;
        if (/compacted/i.test((err as Error).message)) {
          // etcd no longer has the history after the stream's tail: the changes in between can never
          // be published. Start a new stream at the current revision; every informer finds its
          // consumer gone, relists, and sees its revision as too old for the new stream.
          this.opts.log.error('watch publisher: etcd history after the stream tail is compacted; starting a new watch stream', { err: (err as Error).message });
          await this.jsm.streams.delete(WATCH_STREAM).catch(() => undefined);
          this.startFromCurrent = true;
          continue;
        }
        this.opts.log.warn('watch publisher: session ended; resuming from the stream tail', { err: (err as Error).message });
        await sleep(300, signal);
      }
    }
  }

  private async session(signal: AbortSignal): Promise<void> {
    await ensureWatchStream(this.jsm, this.opts.replicas);
    const tail = await this.streamTail();
    let lastMsgId = tail.msgId;
    let skipThrough = tail.msgId; // events up to and including this id are already in the stream
    const startRevision = tail.revision > 0 ? tail.revision : this.startFromCurrent ? (await this.storage.currentRevision()) + 1 : 1;
    this.startFromCurrent = false;
    this.publishedRevision = tail.revision;
    this.opts.log.info('watch publisher: following etcd', { fromRevision: startRevision, lastMsgId });

    const queue: IWatchResponse[] = [];
    let wake: (() => void) | undefined;
    let failure: Error | undefined;
    const watcher = this.storage.client.watch().prefix('/registry/').withPreviousKV().startRevision(String(startRevision)).watcher();
    await new Promise<void>((resolve, reject) => {
      watcher.once('connected', () => resolve());
      watcher.once('error', reject);
    });
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    watcher.on('data', (res: IWatchResponse) => {
      queue.push(res);
      notify();
    });
    watcher.on('error', (err: Error) => {
      failure = err;
      notify();
    });
    const onAbort = () => notify();
    signal.addEventListener('abort', onAbort);
    const writer = new StreamWriter(this.nc);
    const inFlight: { ack: Promise<void>; revision: number }[] = [];
    try {
      for (;;) {
        if (signal.aborted) return;
        if (failure) throw failure;
        const res = queue.shift();
        if (!res) {
          // Settle what is in flight before sleeping, so publishedRevision is exact when idle.
          while (inFlight.length) await this.settle(inFlight.shift()!);
          await new Promise<void>((r) => (wake = r));
          continue;
        }
        for (const ev of res.events ?? []) {
          const p = this.toMessage(ev.type === 'Delete' ? 'DELETED' : undefined, ev.kv, ev.prev_kv);
          if (!p) continue;
          if (p.revision < tail.revision) continue;
          if (skipThrough) {
            if (p.revision > tail.revision) skipThrough = '';
            else {
              if (p.msgId === skipThrough) skipThrough = '';
              continue;
            }
          }
          const ack = writer.publish(p.subject, p.data, p.msgId, lastMsgId || undefined, { [REVISION_HEADER]: String(p.revision) });
          // Keep the promise from being reported as unhandled while it waits its turn.
          ack.catch(() => undefined);
          inFlight.push({ ack, revision: p.revision });
          lastMsgId = p.msgId;
          if (inFlight.length >= this.opts.maxInFlight) await this.settle(inFlight.shift()!);
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      await watcher.cancel().catch(() => undefined);
      await Promise.allSettled(inFlight.map((f) => f.ack));
      writer.close();
    }
  }

  private async settle(f: { ack: Promise<void>; revision: number }): Promise<void> {
    await f.ack;
    this.publishedRevision = Math.max(this.publishedRevision, f.revision);
  }

  /** The revision and message id of the stream's last message (0 and "" when empty). */
  private async streamTail(): Promise<{ revision: number; msgId: string }> {
    const info = await this.jsm.streams.info(WATCH_STREAM);
    if (info.state.messages === 0) return { revision: 0, msgId: '' };
    const msg = await this.jsm.streams.getMessage(WATCH_STREAM, { seq: info.state.last_seq });
    return { revision: Number(msg.header.get(REVISION_HEADER)), msgId: msg.header.get('Nats-Msg-Id') };
  }

  /**
   * Builds the stream message for one etcd event; undefined for keys that are not API objects.
   * The stored bytes go into the event as they are (no decode and re-encode; informers stamp
   * resourceVersion from the event's revision), except that a pod is decoded for its node.
   */
  private toMessage(deleted: 'DELETED' | undefined, kv: IKeyValue, prev: IKeyValue | undefined): Pending | undefined {
    const key = kv.key.toString();
    const parsed = parseStorageKey(key);
    if (!parsed) return undefined;
    const { info, namespace, name } = parsed;
    const revision = Number(kv.mod_revision);
    const source = deleted ? prev : kv;
    if (!source || !source.value || source.value.length === 0) return undefined;
    const type = deleted ?? (Number(kv.create_revision) === revision ? 'ADDED' : 'MODIFIED');
    const node = info.objectCase === 'pod' ? (info.codec.decode(source.value) as { spec?: { nodeName?: string } }).spec?.nodeName : undefined;
    const w = new BinaryWriter();
    w.uint32(10).string(type);
    w.uint32(18).string(info.resource);
    w.uint32(26).fork().uint32((objectFieldNumber(info.objectCase) << 3) | 2).bytes(source.value).join();
    w.uint32(32).int64(revision);
    return {
      subject: watchSubject(info.resource, namespace, node, name),
      data: w.finish(),
      msgId: `${revision}:${key}`,
      revision,
    };
  }
}

const fieldNumbers = new Map<string, number>();
/** The field number of a kind in the apiserver's Object oneof, read off the generated encoder. */
function objectFieldNumber(objectCase: ObjectCase): number {
  let n = fieldNumbers.get(objectCase);
  if (n === undefined) {
    const bytes = ApiObject.encode(wrap(objectCase, {} as never)).finish();
    const reader = new BinaryReader(bytes);
    n = reader.uint32() >>> 3;
    fieldNumbers.set(objectCase, n);
  }
  return n;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
