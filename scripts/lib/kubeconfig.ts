import * as fs from 'fs';
import * as path from 'path';
import { stringify } from 'yaml';
import { Topology } from '../../services/lib/topology';

/** Where `npm start` writes the cluster's kubeconfig. */
export function kubeconfigPath(topology: Topology): string {
  return path.join(topology.settings.stateDir, 'kubeconfig');
}

/**
 * The kubeconfig of a cluster: one cluster and context per apiserver replica's REST address
 * (`kubemu` for replica 0, the default context; `kubemu-1`, ... for the others), plain HTTP
 * without credentials. Pure.
 */
export function kubeconfigFor(topology: Topology): Record<string, unknown> {
  const replicas = topology.processes
    .filter((p) => p.component === 'kube-apiserver' && p.ports.http !== undefined)
    .sort((a, b) => a.index - b.index);
  const name = (i: number) => (i === 0 ? 'kubemu' : `kubemu-${i}`);
  return {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: replicas.map((p, i) => ({ name: name(i), cluster: { server: `http://127.0.0.1:${p.ports.http}` } })),
    users: [{ name: 'kubemu', user: {} }],
    contexts: replicas.map((_, i) => ({ name: name(i), context: { cluster: name(i), user: 'kubemu', namespace: 'default' } })),
    'current-context': replicas.length ? name(0) : '',
  };
}

/** Writes the kubeconfig (mode 0600) and returns its path. Throws on I/O failure. */
export function writeKubeconfig(topology: Topology): string {
  const file = kubeconfigPath(topology);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, stringify(kubeconfigFor(topology)), { mode: 0o600 });
  return file;
}
