import type { Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { QueuedPodInfo, SchedulingQueue, isPodUpdated } from '../../services/kube-scheduler/queue';
import { KeyedHeap } from '../../services/kube-scheduler/heap';

function pod(name: string, priority?: number, extra: Partial<Pod> = {}): Pod {
  return { metadata: { namespace: 'default', name }, spec: { containers: [{ name: 'c' }], priority }, ...extra };
}

// Whether a pop() resolves without moving fake time.
async function popNow(q: SchedulingQueue): Promise<QueuedPodInfo | undefined | 'pending'> {
  let got: QueuedPodInfo | undefined | 'pending' = 'pending';
  void q.pop().then((v) => (got = v));
  await jest.advanceTimersByTimeAsync(0);
  return got;
}

describe('scheduling queue', () => {
  let q: SchedulingQueue;
  beforeEach(() => {
    jest.useFakeTimers();
    q = new SchedulingQueue();
  });
  afterEach(() => {
    q.close();
    jest.useRealTimers();
  });

  test('activeQ - higher priority first, then first in first out', async () => {
    q.add(pod('a', 0));
    q.add(pod('b', 10));
    q.add(pod('c', 0));
    q.add(pod('d', 10));
    const order: string[] = [];
    for (let i = 0; i < 4; i++) order.push((await q.pop())!.key);
    expect(order).toEqual(['default/b', 'default/d', 'default/a', 'default/c']);
  });

  test('pop - waits for a pod, and close() releases waiters with undefined', async () => {
    const first = q.pop();
    const second = q.pop();
    q.add(pod('a'));
    expect((await first)!.key).toBe('default/a');
    q.close();
    expect(await second).toBeUndefined();
    expect(await q.pop()).toBeUndefined();
  });

  test('backoff - 1 s doubling per attempt, capped at 10 s', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => q.backoffDuration(n))).toEqual([1000, 2000, 4000, 8000, 10000, 10000]);
    const custom = new SchedulingQueue({ initialBackoffMs: 100, maxBackoffMs: 250 });
    expect([1, 2, 3].map((n) => custom.backoffDuration(n))).toEqual([100, 200, 250]);
    custom.close();
  });

  test('backoff - a failed pod returns to activeQ only when its backoff ends', async () => {
    q.add(pod('a'));
    let info = (await q.pop())!;
    q.addBackoff(info);
    expect(q.where('default/a')).toBe('backoff');
    expect(await popNow(q)).toBe('pending');
    await jest.advanceTimersByTimeAsync(999);
    expect(q.where('default/a')).toBe('backoff');
    await jest.advanceTimersByTimeAsync(1);
    // The pending pop from popNow took it.
    expect(q.where('default/a')).toBe('inflight');
    info = q['inFlight'].get('default/a')!.entry.info;
    expect(info.attempts).toBe(2);
    q.addBackoff(info);
    await jest.advanceTimersByTimeAsync(1999);
    expect(q.where('default/a')).toBe('backoff');
    await jest.advanceTimersByTimeAsync(1);
    expect(q.where('default/a')).toBe('active');
  });

  test('unschedulable - a pod that fits nowhere waits for an event and does not spin', async () => {
    q.add(pod('a'));
    const info = (await q.pop())!;
    q.addUnschedulable(info);
    expect(q.where('default/a')).toBe('unschedulable');
    const waiting = popNow(q);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(await waiting).toBe('pending');
    expect(q.where('default/a')).toBe('unschedulable');
    // At most the 30 s leftover flush timer: nothing polls faster.
    expect(jest.getTimerCount()).toBeLessThanOrEqual(1);
  });

  test('moveAllToActiveOrBackoff - a pod still backing off goes to backoffQ, then activeQ when it ends', async () => {
    q.add(pod('a'));
    const info = (await q.pop())!;
    q.addUnschedulable(info);
    await jest.advanceTimersByTimeAsync(400);
    q.moveAllToActiveOrBackoff('NodeAdd');
    expect(q.where('default/a')).toBe('backoff');
    await jest.advanceTimersByTimeAsync(599);
    expect(q.where('default/a')).toBe('backoff');
    await jest.advanceTimersByTimeAsync(1);
    expect(q.where('default/a')).toBe('active');
  });

  test('moveAllToActiveOrBackoff - a pod past its backoff goes straight to activeQ; preCheck limits the move', async () => {
    q.add(pod('a'));
    q.add(pod('b'));
    const a = (await q.pop())!;
    const b = (await q.pop())!;
    q.addUnschedulable(a);
    q.addUnschedulable(b);
    await jest.advanceTimersByTimeAsync(5000);
    q.moveAllToActiveOrBackoff('PodDelete', (p) => p.metadata?.name === 'a');
    expect(q.where('default/a')).toBe('active');
    expect(q.where('default/b')).toBe('unschedulable');
    q.moveAllToActiveOrBackoff('NodeUpdate');
    expect(q.where('default/b')).toBe('active');
  });

  test('moveAllToActiveOrBackoff - an event during the attempt sends the pod to backoffQ, not unschedulable', async () => {
    q.add(pod('a'));
    const info = (await q.pop())!;
    q.moveAllToActiveOrBackoff('NodeAdd');
    q.addUnschedulable(info);
    expect(q.where('default/a')).toBe('backoff');
    // An attempt that starts after the event is not affected by it.
    await jest.advanceTimersByTimeAsync(1000);
    const again = (await q.pop())!;
    q.addUnschedulable(again);
    expect(q.where('default/a')).toBe('unschedulable');
  });

  test('unschedulable - retried after 5 min without any event', async () => {
    q.add(pod('a'));
    q.addUnschedulable((await q.pop())!);
    await jest.advanceTimersByTimeAsync(5 * 60_000 - 30_000);
    expect(q.where('default/a')).toBe('unschedulable');
    await jest.advanceTimersByTimeAsync(30_000);
    expect(q.where('default/a')).toBe('active');
    expect(jest.getTimerCount()).toBe(0);
  });

  test('update - a queued pod is replaced in place and re-sorted by priority', async () => {
    q.add(pod('a', 0));
    q.add(pod('b', 0));
    q.update(pod('b', 5));
    const first = (await q.pop())!;
    expect(first.key).toBe('default/b');
    expect(first.pod.spec?.priority).toBe(5);
    expect(q.pendingPods().active).toEqual(['default/a']);
  });

  test('update - an unschedulable pod whose spec changed is moved; a status-only change is not', async () => {
    q.add(pod('a'));
    q.addUnschedulable((await q.pop())!);
    q.update({ ...pod('a'), status: { phase: 'Pending' }, metadata: { namespace: 'default', name: 'a', resourceVersion: '9' } });
    expect(q.where('default/a')).toBe('unschedulable');
    q.update({ ...pod('a'), spec: { containers: [{ name: 'c' }], nodeSelector: { disk: 'ssd' } } });
    expect(q.where('default/a')).toBe('backoff');
    await jest.advanceTimersByTimeAsync(1000);
    const info = (await q.pop())!;
    expect(info.pod.spec?.nodeSelector).toEqual({ disk: 'ssd' });
  });

  test('update - a change while in flight is kept and retried from backoffQ', async () => {
    q.add(pod('a'));
    const info = (await q.pop())!;
    q.update({ ...pod('a'), spec: { containers: [{ name: 'c' }], nodeSelector: { x: 'y' } } });
    expect(q.where('default/a')).toBe('inflight');
    q.addUnschedulable(info);
    expect(q.where('default/a')).toBe('backoff');
    expect(q['backoffQ'].get('default/a')!.info.pod.spec?.nodeSelector).toEqual({ x: 'y' });
  });

  test('delete - removes a pod from activeQ, backoffQ or unschedulable, and drops an in-flight requeue', async () => {
    q.add(pod('a'));
    q.delete(pod('a'));
    expect(q.where('default/a')).toBeUndefined();

    q.add(pod('b'));
    q.addBackoff((await q.pop())!);
    q.delete('default/b');
    expect(q.where('default/b')).toBeUndefined();
    expect(jest.getTimerCount()).toBe(0);

    q.add(pod('c'));
    q.addUnschedulable((await q.pop())!);
    q.delete(pod('c'));
    expect(q.where('default/c')).toBeUndefined();

    q.add(pod('d'));
    const d = (await q.pop())!;
    q.delete(pod('d'));
    q.addUnschedulable(d);
    expect(q.where('default/d')).toBeUndefined();
  });

  test('placement - a pod is never in two places', async () => {
    q.add(pod('a'));
    q.add(pod('a'));
    expect(q.pendingPods().active).toEqual(['default/a']);
    const info = (await q.pop())!;
    q.add(pod('a')); // informer resync while in flight
    expect(q.pendingPods()).toEqual({ active: [], backoff: [], unschedulable: [], inFlight: ['default/a'] });
    q.addUnschedulable(info);
    q.addUnschedulable(info); // a second report of the same attempt is ignored
    expect(q.pendingPods()).toEqual({ active: [], backoff: [], unschedulable: ['default/a'], inFlight: [] });
    q.done('default/a');
    expect(q.where('default/a')).toBe('unschedulable');
  });

  test('done - a scheduled pod is forgotten', async () => {
    q.add(pod('a'));
    const info = (await q.pop())!;
    q.done(info.key);
    expect(q.where('default/a')).toBeUndefined();
    q.addUnschedulable(info);
    expect(q.where('default/a')).toBeUndefined();
  });

  test('close - clears every timer', async () => {
    q.add(pod('a'));
    q.add(pod('b'));
    q.addBackoff((await q.pop())!);
    q.addUnschedulable((await q.pop())!);
    expect(jest.getTimerCount()).toBe(2);
    q.close();
    expect(jest.getTimerCount()).toBe(0);
    q.add(pod('c'));
    expect(q.where('default/c')).toBeUndefined();
  });

  test('isPodUpdated - ignores status, resourceVersion, generation and managedFields', () => {
    const a = pod('a');
    expect(isPodUpdated(a, { ...a, status: { phase: 'Running' }, metadata: { ...a.metadata, resourceVersion: '5', generation: 2 } })).toBe(false);
    expect(isPodUpdated(a, { ...a, metadata: { ...a.metadata, labels: { x: 'y' } } })).toBe(true);
  });
});

describe('keyed heap', () => {
  test('heap - random sets, updates and deletes pop in order', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const heap = new KeyedHeap<number>((a, b) => a < b);
    const model = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const key = `k${Math.floor(rnd() * 200)}`;
      const r = rnd();
      if (r < 0.6) {
        const v = Math.floor(rnd() * 1000);
        heap.set(key, v);
        model.set(key, v);
      } else if (r < 0.8) {
        expect(heap.delete(key)).toBe(model.get(key));
        model.delete(key);
      } else if (model.size > 0) {
        const min = Math.min(...model.values());
        const v = heap.pop()!;
        expect(v).toBe(min);
        // Equal values may come out in any order: drop the key holding the minimum that the heap no longer has.
        const gone = [...model].find(([k, x]) => x === v && !heap.has(k))![0];
        model.delete(gone);
      }
      expect(heap.size).toBe(model.size);
    }
  });
});
