/** The event recorder: Kubernetes' event names, aggregation, and the name-collision fallback. */
import { ApiClient } from '../../services/lib/apiclient';
import { errors } from '../../services/lib/errors';
import { EventRecorder } from '../../services/lib/events';
import { Event } from '../../services/lib/generated/kubemu/core/v1/core';
import { logger } from '../../services/lib/log';

class FakeClient {
  created: Event[] = [];
  taken = new Set<string>();
  patches = 0;
  async create(_info: unknown, e: Event): Promise<Event> {
    const name = e.metadata?.name ?? `${e.metadata?.generateName}x1y2z`;
    if (this.taken.has(name)) throw errors.alreadyExists('events', '', name);
    this.taken.add(name);
    const stored = { ...e, metadata: { ...e.metadata, name } };
    this.created.push(stored);
    return stored;
  }
  async patch(): Promise<void> {
    this.patches++;
  }
}

const pod = { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'web', namespace: 'default', uid: 'u1' } };

test('events - named <object>.<unix nanoseconds hex> in time order, even within one millisecond', async () => {
  const client = new FakeClient();
  const at = 1_763_880_000_123;
  const rec = new EventRecorder(client as unknown as ApiClient, 'kubelet', 'node-1', logger('test'), () => at);
  await rec.record(pod, 'Normal', 'Pulling', '', 'Pulling image "nginx"');
  await rec.record(pod, 'Normal', 'Pulled', '', 'Successfully pulled image "nginx"');
  await rec.record(pod, 'Normal', 'Created', '', 'Created container: nginx');
  const names = client.created.map((e) => e.metadata!.name!);
  expect(names[0]).toBe(`web.${(BigInt(at) * 1_000_000n).toString(16)}`);
  // A list is sorted by name: that order is the order they happened in.
  expect([...names].sort()).toEqual(names);
  expect(new Set(names).size).toBe(3);
});

test('events - a name another recorder took falls back to generateName; repeats are aggregated', async () => {
  const client = new FakeClient();
  const at = 1_763_880_000_000;
  client.taken.add(`web.${(BigInt(at) * 1_000_000n).toString(16)}`);
  const rec = new EventRecorder(client as unknown as ApiClient, 'kubelet', 'node-1', logger('test'), () => at);
  await rec.record(pod, 'Warning', 'BackOff', '', 'Back-off restarting failed container');
  expect(client.created).toHaveLength(1);
  expect(client.created[0].metadata!.name).toBe('web.x1y2z');
  await rec.record(pod, 'Warning', 'BackOff', '', 'Back-off restarting failed container');
  expect(client.created).toHaveLength(1);
  expect(client.patches).toBe(1);
});
