import { isReason } from '../lib/errors';
import { Logger } from '../lib/log';
import { resourceForCase } from '../lib/resources';
import { Registry } from './registry';

/** The namespaces every Kubernetes cluster has from the start. */
export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/**
 * Creates the system namespaces that do not exist yet. Idempotent and safe for several apiserver
 * replicas to run at once (AlreadyExists is success). Throws only when storage fails.
 */
export async function ensureSystemNamespaces(registry: Registry, log: Logger): Promise<void> {
  const info = resourceForCase('namespace');
  for (const name of SYSTEM_NAMESPACES) {
    try {
      await registry.create(info, '', { metadata: { name } });
      log.info('created system namespace', { namespace: name });
    } catch (err) {
      if (!isReason(err, 'AlreadyExists')) throw err;
    }
  }
}
