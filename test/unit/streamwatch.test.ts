/**
 * StreamWatch's own endings, with stand-ins for the consumer's messages and the JetStream manager:
 * a consumer that stalls while the stream's leader holds a message for it (a server whose copy of
 * the stream stopped following), a skipped delivery sequence and missed heartbeats end the watch;
 * an idle watch with nothing to miss and a message arriving between probes do not. (The real
 * consumer and NATS outages: test/integration/informer-nats-outage.test.ts.)
 */
import { ConsumerEvents, ConsumerMessages, JetStreamManager, JsMsg } from 'nats';
import { isSuspect, StreamWatch } from '../../services/lib/watchbus';
import { waitFor, sleep } from '../harness/wait';

/** An async queue standing for nats.js's consumer messages (and their status notifications). */
class FakeMessages {
  private items: JsMsg[] = [];
  private wake?: () => void;
  stopped = false;
  readonly statuses: { type: string; data: unknown }[] = [];
  private statusWake?: () => void;

  push(seq: number, deliverySequence: number): void {
    this.items.push({ seq, info: { deliverySequence }, data: new Uint8Array() } as unknown as JsMsg);
    this.wake?.();
  }

  notify(type: string): void {
    this.statuses.push({ type, data: 0 });
    this.statusWake?.();
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
    this.statusWake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<JsMsg> {
    for (;;) {
      while (this.items.length) yield this.items.shift()!;
      if (this.stopped) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  async status(): Promise<AsyncIterable<{ type: string; data: unknown }>> {
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          while (self.statuses.length) yield self.statuses.shift()!;
          if (self.stopped) return;
          await new Promise<void>((r) => (self.statusWake = r));
        }
      },
    };
  }
}

/** The leader's answer to "last message on this filter": a sequence, or 404. */
function fakeJsm(lastSeq: () => number | undefined) {
  const deleted: string[] = [];
  const jsm = {
    streams: {
      getMessage: async () => {
        const seq = lastSeq();
        if (seq === undefined) throw Object.assign(new Error('no message found'), { code: '404' });
        return { seq };
      },
    },
    consumers: { delete: async (_stream: string, name: string) => (deleted.push(name), true) },
  };
  return { jsm: jsm as unknown as JetStreamManager, deleted };
}

function start(messages: FakeMessages, jsm: JetStreamManager, server = 'nats-1', startSeq = 1) {
  const watch = new StreamWatch(jsm, 'c1', server, messages as unknown as ConsumerMessages, { filter: 'kubemu.watch.pods.*.*.*', startSeq, batch: 10, probeMs: 40 });
  watch.watchConsumer();
  const seen: number[] = [];
  let ended = false;
  void (async () => {
    for await (const m of watch) seen.push(m.seq);
    ended = true;
  })();
  return { watch, seen, ended: () => ended };
}

test('a consumer that stalls while the leader holds a message for it ends the watch; its server is avoided', async () => {
  const messages = new FakeMessages();
  const { jsm, deleted } = fakeJsm(() => 9);
  messages.push(5, 1);
  const w = start(messages, jsm, 'nats-2', 3);
  await waitFor('the watch ending', async () => w.ended(), 2000);
  expect(w.seen).toEqual([5]);
  expect(w.watch.endReason).toBe('the consumer on nats-2 stalled: the stream holds 9 for it, the last delivered is 5');
  expect(isSuspect('nats-2')).toBe(true);
  expect(isSuspect('nats-0')).toBe(false);
  expect(messages.stopped).toBe(true);
  expect(deleted).toEqual(['c1']);
});

test('an idle watch with nothing to miss goes on; a message arriving between probes clears the suspicion', async () => {
  const idle = new FakeMessages();
  idle.push(7, 1);
  const a = start(idle, fakeJsm(() => 7).jsm);
  const empty = start(new FakeMessages(), fakeJsm(() => undefined).jsm, 'nats-0', 12);

  const late = new FakeMessages();
  let leader = 20;
  const b = start(late, fakeJsm(() => leader).jsm, 'nats-0', 20);
  // The leader holds 20 and the consumer delivers it just after the first probe saw it missing.
  await sleep(60);
  late.push(20, 1);
  leader = 20;
  await sleep(300);
  expect(a.ended()).toBe(false);
  expect(empty.ended()).toBe(false);
  expect(b.ended()).toBe(false);
  expect(b.seen).toEqual([20]);
  for (const w of [a, empty, b]) w.watch.close();
  await waitFor('the closed watches ending', async () => a.ended() && empty.ended() && b.ended(), 2000);
  expect([a, empty, b].map((w) => w.watch.endReason)).toEqual(['', '', '']);
});

test('a skipped delivery sequence and missed heartbeats end the watch', async () => {
  const gap = new FakeMessages();
  gap.push(3, 1);
  gap.push(8, 3);
  const g = start(gap, fakeJsm(() => 8).jsm);
  await waitFor('the watch ending on the gap', async () => g.ended(), 2000);
  expect(g.seen).toEqual([3]);
  expect(g.watch.endReason).toBe('delivery sequence 3 where 2 was due');

  const silent = new FakeMessages();
  const h = start(silent, fakeJsm(() => undefined).jsm);
  silent.notify(ConsumerEvents.HeartbeatsMissed);
  await waitFor('the watch ending on missed heartbeats', async () => h.ended(), 2000);
  expect(h.watch.endReason).toBe('heartbeats missed');
});
