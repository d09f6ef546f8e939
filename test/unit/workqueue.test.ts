import {
  BucketRateLimiter,
  Clock,
  ItemExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  RateLimiter,
  WorkQueue,
  defaultControllerRateLimiter,
  runWorkers,
} from '../../services/lib/workqueue';

// Lets pending promise callbacks run without moving fake time.
const tick = () => jest.advanceTimersByTimeAsync(0);

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

// A clock driven by hand, for the rate limiters.
function manualClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
    setTimeout: () => {
      throw new Error('not used');
    },
    clearTimeout: () => undefined,
  };
}

beforeEach(() => {
  jest.useFakeTimers();
});

afterEach(() => {
  expect(jest.getTimerCount()).toBe(0);
  jest.useRealTimers();
});

describe('workqueue - queue', () => {
  test('workqueue - a key added many times while waiting is queued once', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
    q.shutDown();
  });

  test('workqueue - keys come out in FIFO order', async () => {
    const q = new WorkQueue();
    for (const k of ['c', 'a', 'b', 'd']) q.add(k);
    const out: Array<string | undefined> = [];
    for (let i = 0; i < 4; i++) out.push(await q.get());
    expect(out).toEqual(['c', 'a', 'b', 'd']);
    q.shutDown();
  });

  test('workqueue - a key being processed is not handed to a second worker', async () => {
    const q = new WorkQueue();
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a');
    expect(q.len()).toBe(0);
    let second: string | undefined = 'unset';
    const pending = q.get().then((k) => (second = k));
    await tick();
    expect(second).toBe('unset');
    q.done('a');
    await pending;
    expect(second).toBe('a');
    q.shutDown();
  });

  test('workqueue - a dirty key is re-queued once, at the back, when done', async () => {
    const q = new WorkQueue();
    q.add('a');
    await q.get();
    q.add('a');
    q.add('a');
    q.add('b');
    q.done('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('b');
    expect(await q.get()).toBe('a');
    q.done('a');
    q.done('b');
    expect(q.len()).toBe(0);
    q.shutDown();
  });

  test('workqueue - done for a key that is not processing changes nothing', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.done('a');
    q.done('zzz');
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('a');
    q.shutDown();
  });

  test('workqueue - waiting workers are served in call order', async () => {
    const q = new WorkQueue();
    const got: Array<[number, string | undefined]> = [];
    const workers = [0, 1, 2].map((i) => q.get().then((k) => got.push([i, k])));
    await tick();
    q.add('x');
    q.add('y');
    q.add('x');
    q.add('z');
    await Promise.all(workers);
    expect(got).toEqual([
      [0, 'x'],
      [1, 'y'],
      [2, 'z'],
    ]);
    q.shutDown();
  });

  test('workqueue - len counts only ready keys', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.addAfter('c', 1000);
    expect(q.len()).toBe(2);
    await q.get();
    expect(q.len()).toBe(1);
    q.shutDown();
  });

  test('workqueue - numeric keys work like string keys', async () => {
    const q = new WorkQueue<number>();
    q.add(1);
    q.add(1);
    q.add(0);
    expect(await q.get()).toBe(1);
    expect(await q.get()).toBe(0);
    q.shutDown();
  });

  test('workqueue - the backing array is compacted without losing order', async () => {
    const q = new WorkQueue<number>();
    for (let i = 0; i < 5000; i++) q.add(i);
    for (let i = 0; i < 5000; i++) {
      expect(await q.get()).toBe(i);
      if (i % 7 === 0) q.add(100000 + i);
    }
    expect(q.len()).toBe(715);
    expect(await q.get()).toBe(100000);
    q.shutDown();
  });
});

describe('workqueue - delays', () => {
  test('workqueue - addAfter makes the key ready after the delay', async () => {
    const q = new WorkQueue();
    q.addAfter('a', 100);
    expect(q.len()).toBe(0);
    await jest.advanceTimersByTimeAsync(99);
    expect(q.len()).toBe(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(q.len()).toBe(1);
    q.shutDown();
  });

  test('workqueue - the default clock uses real timers', async () => {
    jest.useRealTimers();
    try {
      const q = new WorkQueue();
      const start = Date.now();
      q.addAfter('a', 20);
      expect(await q.get()).toBe('a');
      expect(Date.now() - start).toBeGreaterThanOrEqual(15);
      q.shutDown();
    } finally {
      jest.useFakeTimers();
    }
  });

  test('workqueue - addAfter with no delay adds at once', () => {
    const q = new WorkQueue();
    q.addAfter('a', 0);
    q.addAfter('b', -5);
    expect(q.len()).toBe(2);
    q.shutDown();
  });

  test('workqueue - a key waiting twice keeps the earlier time and one timer', async () => {
    const q = new WorkQueue();
    q.addAfter('a', 100);
    q.addAfter('a', 300);
    expect(jest.getTimerCount()).toBe(1);
    await jest.advanceTimersByTimeAsync(100);
    expect(q.len()).toBe(1);
    expect(jest.getTimerCount()).toBe(0);

    q.addAfter('b', 300);
    q.addAfter('b', 50);
    expect(jest.getTimerCount()).toBe(1);
    await jest.advanceTimersByTimeAsync(50);
    expect(q.len()).toBe(2);
    await jest.advanceTimersByTimeAsync(500);
    expect(q.len()).toBe(2);
    q.shutDown();
  });

  test('workqueue - a delayed key that is already queued is not duplicated', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.addAfter('a', 10);
    await jest.advanceTimersByTimeAsync(10);
    expect(q.len()).toBe(1);
    q.shutDown();
  });

  test('workqueue - a delayed key maturing while processing is re-queued on done', async () => {
    const q = new WorkQueue();
    q.add('a');
    await q.get();
    q.addAfter('a', 10);
    await jest.advanceTimersByTimeAsync(10);
    expect(q.len()).toBe(0);
    q.done('a');
    expect(q.len()).toBe(1);
    q.shutDown();
  });
});

describe('workqueue - rate limiting', () => {
  test('workqueue - per-key backoff doubles from the base up to the maximum', () => {
    const rl = new ItemExponentialFailureRateLimiter<string>(5, 1000);
    const delays = Array.from({ length: 10 }, () => rl.when('a'));
    expect(delays).toEqual([5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    expect(rl.numRequeues('a')).toBe(10);
    expect(rl.when('b')).toBe(5);
    rl.forget('a');
    expect(rl.numRequeues('a')).toBe(0);
    expect(rl.when('a')).toBe(5);
  });

  test('workqueue - a huge failure count stays at the maximum', () => {
    const rl = new ItemExponentialFailureRateLimiter<string>(5, 1_000_000);
    for (let i = 0; i < 2000; i++) rl.when('a');
    expect(rl.when('a')).toBe(1_000_000);
  });

  test('workqueue - the token bucket allows a burst then paces at qps', () => {
    const clock = manualClock();
    const rl = new BucketRateLimiter<string>(10, 3, clock);
    expect([rl.when('a'), rl.when('b'), rl.when('c')]).toEqual([0, 0, 0]);
    expect(rl.when('d')).toBeCloseTo(100);
    expect(rl.when('e')).toBeCloseTo(200);
    clock.advance(1000);
    // 1 s refills 10 tokens, two of which pay back the debt; the bucket caps at 3.
    expect([rl.when('f'), rl.when('g'), rl.when('h')]).toEqual([0, 0, 0]);
    expect(rl.when('i')).toBeCloseTo(100);
    expect(rl.numRequeues('a')).toBe(0);
  });

  test('workqueue - max-of takes the longest delay and forgets everywhere', () => {
    const calls: string[] = [];
    const fixed = (name: string, ms: number, requeues: number): RateLimiter<string> => ({
      when: () => {
        calls.push(name);
        return ms;
      },
      forget: () => calls.push('forget ' + name),
      numRequeues: () => requeues,
    });
    const rl = new MaxOfRateLimiter(fixed('x', 5, 1), fixed('y', 50, 3));
    expect(rl.when('k')).toBe(50);
    expect(rl.numRequeues('k')).toBe(3);
    rl.forget('k');
    expect(calls).toEqual(['x', 'y', 'forget x', 'forget y']);
  });

  test('workqueue - the default controller limiter combines 5 ms backoff with 10 qps burst 100', () => {
    const clock = manualClock();
    const rl = defaultControllerRateLimiter<string>({ clock });
    for (let i = 0; i < 100; i++) expect(rl.when(`k${i}`)).toBe(5);
    expect(rl.when('k100')).toBeCloseTo(100);
    expect(rl.when('k0')).toBeCloseTo(200);
    expect(rl.numRequeues('k0')).toBe(2);
  });

  test('workqueue - the default limiter is configurable', () => {
    const clock = manualClock();
    const rl = defaultControllerRateLimiter<string>({ baseDelayMs: 1, maxDelayMs: 4, qps: 1, burst: 1, clock });
    expect(rl.when('a')).toBe(1);
    expect(rl.when('a')).toBeCloseTo(1000);
    clock.advance(10_000);
    expect(rl.when('a')).toBe(4);
  });

  test('workqueue - addRateLimited backs off exponentially until forget', async () => {
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 1000 });
    for (const delay of [10, 20, 40, 80]) {
      q.addRateLimited('a');
      await jest.advanceTimersByTimeAsync(delay - 1);
      expect(q.len()).toBe(0);
      await jest.advanceTimersByTimeAsync(1);
      expect(q.len()).toBe(1);
      expect(await q.get()).toBe('a');
      q.done('a');
    }
    expect(q.numRequeues('a')).toBe(4);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
    q.addRateLimited('a');
    await jest.advanceTimersByTimeAsync(10);
    expect(q.len()).toBe(1);
    q.shutDown();
  });

  test('workqueue - a custom rate limiter replaces the default', async () => {
    const q = new WorkQueue({ rateLimiter: { when: () => 7, forget: () => undefined, numRequeues: () => 42 } });
    q.addRateLimited('a');
    await jest.advanceTimersByTimeAsync(7);
    expect(q.len()).toBe(1);
    expect(q.numRequeues('a')).toBe(42);
    q.shutDown();
  });
});

describe('workqueue - shutdown', () => {
  test('workqueue - shutDown releases blocked workers with undefined', async () => {
    const q = new WorkQueue();
    const a = q.get();
    const b = q.get();
    q.shutDown();
    expect(await a).toBeUndefined();
    expect(await b).toBeUndefined();
    expect(await q.get()).toBeUndefined();
    expect(q.isShuttingDown()).toBe(true);
  });

  test('workqueue - after shutDown adds are ignored and queued keys are still handed out', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.shutDown();
    q.add('b');
    q.addAfter('c', 0);
    q.addRateLimited('d');
    expect(q.numRequeues('d')).toBe(0);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBeUndefined();
  });

  test('workqueue - shutDown clears every pending timer', async () => {
    const q = new WorkQueue();
    q.addAfter('a', 1000);
    q.addAfter('b', 5000);
    q.addRateLimited('c');
    expect(jest.getTimerCount()).toBe(3);
    q.shutDown();
    expect(jest.getTimerCount()).toBe(0);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(q.len()).toBe(0);
    q.shutDown();
  });

  test('workqueue - a dirty key is still re-queued by done after shutDown', async () => {
    const q = new WorkQueue();
    q.add('a');
    await q.get();
    q.add('a');
    q.shutDown();
    q.done('a');
    expect(await q.get()).toBe('a');
    q.done('a');
    expect(await q.get()).toBeUndefined();
  });

  test('workqueue - shutDownWithDrain waits for queued and in-flight keys', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    await q.get();
    let drained = false;
    const drain = q.shutDownWithDrain().then(() => (drained = true));
    await tick();
    expect(drained).toBe(false);
    q.done('a');
    await tick();
    expect(drained).toBe(false);
    expect(await q.get()).toBe('b');
    await tick();
    expect(drained).toBe(false);
    q.done('b');
    await drain;
    expect(drained).toBe(true);
    expect(await q.get()).toBeUndefined();
  });

  test('workqueue - shutDownWithDrain on an idle queue resolves at once', async () => {
    const q = new WorkQueue();
    await q.shutDownWithDrain();
  });

  test('workqueue - shutDown after shutDownWithDrain stops waiting', async () => {
    const q = new WorkQueue();
    q.add('a');
    await q.get();
    const drain = q.shutDownWithDrain();
    q.shutDown();
    await drain;
  });
});

describe('workqueue - runWorkers', () => {
  test('workqueue - success forgets, so the key is processed once', async () => {
    const q = new WorkQueue();
    const seen: string[] = [];
    const stop = runWorkers(q, 2, async (key) => {
      seen.push(key);
    });
    q.add('a');
    q.add('b');
    await tick();
    expect(seen.sort()).toEqual(['a', 'b']);
    expect(q.numRequeues('a')).toBe(0);
    await stop();
  });

  test('workqueue - the same key never runs in two workers at once', async () => {
    const q = new WorkQueue();
    const running = new Map<string, number>();
    let maxSame = 0;
    let runs = 0;
    const gates: Array<() => void> = [];
    const stop = runWorkers(q, 4, async (key) => {
      runs++;
      running.set(key, (running.get(key) ?? 0) + 1);
      maxSame = Math.max(maxSame, running.get(key)!);
      await new Promise<void>((resolve) => gates.push(resolve));
      running.set(key, running.get(key)! - 1);
    });
    q.add('a');
    await tick();
    for (let i = 0; i < 5; i++) {
      q.add('a');
      await tick();
    }
    expect(runs).toBe(1);
    gates.shift()!();
    await tick();
    // The adds made while the first run was in flight coalesce into one more run.
    expect(runs).toBe(2);
    gates.shift()!();
    await tick();
    expect(runs).toBe(2);
    expect(maxSame).toBe(1);
    await stop();
  });

  test('workqueue - different keys run concurrently up to the worker count', async () => {
    const q = new WorkQueue();
    let active = 0;
    let peak = 0;
    const gate = deferred();
    const stop = runWorkers(q, 3, async () => {
      active++;
      peak = Math.max(peak, active);
      await gate.promise;
      active--;
    });
    for (const k of ['a', 'b', 'c', 'd', 'e']) q.add(k);
    await tick();
    expect(peak).toBe(3);
    expect(q.len()).toBe(2);
    gate.resolve();
    await tick();
    expect(q.len()).toBe(0);
    expect(peak).toBe(3);
    await stop();
  });

  test('workqueue - an error retries with growing backoff, then success forgets', async () => {
    const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 10_000 });
    const errors: Array<[string, string]> = [];
    const attempts: number[] = [];
    let failuresLeft = 3;
    const stop = runWorkers(
      q,
      1,
      async (key) => {
        attempts.push(Date.now());
        if (failuresLeft-- > 0) throw new Error(`boom ${key}`);
      },
      (key, err) => errors.push([key, (err as Error).message]),
    );
    const start = Date.now();
    q.add('a');
    await tick();
    expect(q.numRequeues('a')).toBe(1);
    await jest.advanceTimersByTimeAsync(100);
    expect(q.numRequeues('a')).toBe(2);
    await jest.advanceTimersByTimeAsync(200);
    expect(q.numRequeues('a')).toBe(3);
    await jest.advanceTimersByTimeAsync(399);
    expect(attempts).toHaveLength(3);
    await jest.advanceTimersByTimeAsync(1);
    expect(attempts.map((t) => t - start)).toEqual([0, 100, 300, 700]);
    expect(q.numRequeues('a')).toBe(0);
    expect(errors).toEqual([
      ['a', 'boom a'],
      ['a', 'boom a'],
      ['a', 'boom a'],
    ]);
    await stop();
  });

  test('workqueue - a synchronous throw and a throwing onError are survived', async () => {
    const q = new WorkQueue({ baseDelayMs: 50 });
    let calls = 0;
    const stop = runWorkers(
      q,
      1,
      (): void => {
        calls++;
        if (calls === 1) throw new Error('sync');
      },
      () => {
        throw new Error('reporter broke');
      },
    );
    q.add('a');
    await tick();
    expect(calls).toBe(1);
    await jest.advanceTimersByTimeAsync(50);
    expect(calls).toBe(2);
    q.add('b');
    await tick();
    expect(calls).toBe(3);
    await stop();
  });

  test('workqueue - requeueAfter forgets the backoff and looks again after the delay', async () => {
    const q = new WorkQueue({ baseDelayMs: 100 });
    const attempts: number[] = [];
    let first = true;
    const start = Date.now();
    const stop = runWorkers(q, 1, async () => {
      attempts.push(Date.now() - start);
      if (first) {
        first = false;
        throw new Error('once');
      }
      if (attempts.length < 4) return { requeueAfterMs: 1000 };
    });
    q.add('a');
    await tick();
    await jest.advanceTimersByTimeAsync(100);
    expect(q.numRequeues('a')).toBe(0);
    await jest.advanceTimersByTimeAsync(5000);
    expect(attempts).toEqual([0, 100, 1100, 2100]);
    await stop();
  });

  test('workqueue - the disposer waits for in-flight reconciles and drops queued keys', async () => {
    const q = new WorkQueue();
    const gate = deferred();
    const seen: string[] = [];
    let finished = false;
    const stop = runWorkers(q, 1, async (key) => {
      seen.push(key);
      await gate.promise;
      finished = true;
    });
    q.add('a');
    q.add('b');
    await tick();
    let stopped = false;
    const stopping = stop().then(() => (stopped = true));
    await tick();
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    expect(finished).toBe(true);
    expect(seen).toEqual(['a']);
    expect(q.isShuttingDown()).toBe(true);
  });

  test('workqueue - idle workers stop when disposed', async () => {
    const q = new WorkQueue();
    const stop = runWorkers(q, 5, async () => undefined);
    await tick();
    await stop();
    expect(q.isShuttingDown()).toBe(true);
  });

  test('workqueue - workers end when the queue is shut down by its owner', async () => {
    const q = new WorkQueue();
    let runs = 0;
    const stop = runWorkers(q, 2, async () => {
      runs++;
    });
    q.add('a');
    await tick();
    q.shutDown();
    await stop();
    expect(runs).toBe(1);
  });

  test('workqueue - the worker count must be a positive integer', () => {
    const q = new WorkQueue();
    expect(() => runWorkers(q, 0, async () => undefined)).toThrow(RangeError);
    expect(() => runWorkers(q, 1.5, async () => undefined)).toThrow(RangeError);
    q.shutDown();
  });
});
