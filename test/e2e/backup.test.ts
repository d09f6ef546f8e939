/**
 * e2e: backup and restore of the store on a whole cluster (pm2; 3 etcd, 3 NATS, ...), demo
 * profile: snapshot the store, change it, restore the snapshot into fresh data folders of the
 * 3 members, start the components again: every object of the snapshot is back, later ones are
 * gone, and the Deployment's pods run again.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ApiClient } from '../../services/lib/apiclient';
import { isReason } from '../../services/lib/errors';
import { resourceForCase } from '../../services/lib/resources';
import { ClusterRun, expectSucceeded, startedClusterSuite } from '../harness/cluster';
import { waitFor as waitUntil } from '../harness/wait';

jest.setTimeout(240000);

const POD = resourceForCase('pod');
const DEPLOY = resourceForCase('deployment');
const NAMESPACE = resourceForCase('namespace');
const CONFIGMAP = resourceForCase('configMap');
const NS = 'backup';

let client: ApiClient;
const cluster = startedClusterSuite(() => client?.close());

beforeAll(async () => {
  client = new ApiClient(await cluster().addresses('kube-apiserver'));
});

const waitFor = <T>(what: string, get: () => Promise<T | undefined | false>, timeoutMs = 60000) => waitUntil(what, get, timeoutMs, { intervalMs: 200 });

const backup = (args: string[]): Promise<ClusterRun> => cluster().script('etcd-backup', args, 180000);

/** Running web pods whose container started at or after `since` (ms since the epoch). */
async function runningPods(since = 0): Promise<number> {
  const pods = (await client.list(POD, NS, { labelSelector: 'app=web' })).items;
  return pods.filter((p) => {
    const started = Date.parse(p.status?.containerStatuses?.[0]?.state?.running?.startedAt ?? '');
    return !p.metadata?.deletionTimestamp && p.status?.phase === 'Running' && started >= since;
  }).length;
}

async function absent(name: string): Promise<boolean> {
  try {
    await client.get(CONFIGMAP, NS, name);
    return false;
  } catch (err) {
    if (isReason(err, 'NotFound')) return true;
    throw err;
  }
}

test('backup - a restored snapshot brings back every object, drops later ones, and its workloads run again', async () => {
  await client.create(NAMESPACE, { metadata: { name: NS } });
  await client.create(CONFIGMAP, { metadata: { name: 'before', namespace: NS }, data: { k: 'v1' } });
  await client.create(DEPLOY, {
    metadata: { name: 'web', namespace: NS },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'web', image: 'nginx:1.26' }] } },
    },
  });
  await waitFor('2 pods Running', async () => (await runningPods()) === 2);

  const file = path.join(cluster().stateDir, 'snap.db');
  const saved = await backup(['snapshot', file]);
  expectSucceeded(saved);
  expect(saved.output).toMatch(/at revision \d+: \d+ keys, \d+ bytes/);
  expect(fs.statSync(file).size).toBeGreaterThan(0);

  await client.delete(CONFIGMAP, NS, 'before');
  await client.create(CONFIGMAP, { metadata: { name: 'after', namespace: NS }, data: { k: 'v2' } });

  // Stopping the cluster kills every container: Running again means the kubelets restarted them.
  const restoreStarted = Date.now() - 1000; // RFC 3339 times have whole seconds
  const restored = await backup(['restore', file]);
  expectSucceeded(restored);
  await cluster().status(); // remember the new pids for cleanup
  expect(fs.readdirSync(cluster().stateDir).some((f) => f.startsWith('etcd.before-restore-'))).toBe(true);

  client.close();
  client = new ApiClient(await cluster().addresses('kube-apiserver'));
  expect((await client.get(CONFIGMAP, NS, 'before')).data).toEqual({ k: 'v1' });
  expect(await absent('after')).toBe(true);
  expect((await client.get(DEPLOY, NS, 'web')).spec?.replicas).toBe(2);
  await waitFor('2 pods Running again after the restore', async () => (await runningPods(restoreStarted)) === 2);

  // Writes and watches work on the restored store: the controllers see a scale-up.
  const d = await client.get(DEPLOY, NS, 'web');
  await client.update(DEPLOY, { ...d, spec: { ...d.spec!, replicas: 3 } });
  await waitFor('3 pods Running after a scale-up', async () => (await runningPods()) === 3);
});
