/**
 * SharedInformers: every controller asking for a resource gets the same informer object, with the
 * union of the indexers they asked for (a replaced informer would never start for those who kept
 * the first reference).
 */
import { NatsConnection } from 'nats';
import { ApiClient } from '../../services/lib/apiclient';
import { logger } from '../../services/lib/log';
import { SharedInformers } from '../../services/kube-controller-manager/context';

test('shared informers - one informer per resource, indexers added to it, none after start', async () => {
  const nats = { jetstreamManager: () => new Promise(() => undefined) } as unknown as NatsConnection;
  const informers = new SharedInformers({} as ApiClient, nats, logger('test'));
  const first = informers.informer('pod', { byNode: (p) => [p.spec?.nodeName ?? ''] });
  const second = informers.informer('pod', { byOwner: (p) => (p.metadata?.ownerReferences ?? []).map((r) => r.uid ?? '') });
  expect(second).toBe(first);
  const indices = (first as unknown as { indices: Map<string, unknown> }).indices;
  expect([...indices.keys()].sort()).toEqual(['byNode', 'byOwner', 'namespace']);
  expect(informers.informer('pod')).toBe(first);
  expect(informers.informer('node')).not.toBe(first);
  void informers.start();
  expect(() => informers.informer('pod', { late: () => [] })).toThrow(/after start/);
  expect(() => informers.informer('service')).toThrow(/after start/);
});
