/**
 * Kubernetes' Service environment variables (pkg/kubelet/envvars): for every Service a pod could
 * see when it starts, `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT`, `<NAME>_SERVICE_PORT_<PORT>`
 * and the Docker-link variables `<NAME>_PORT`, `<NAME>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]`.
 * Pure; safe to call concurrently.
 */
import { Service } from '../lib/generated/kubemu/core/v1/core';

/** The variable prefix of a Service name: upper case, '-' as '_'. */
function envName(name: string): string {
  return name.toUpperCase().replace(/-/g, '_');
}

function hasClusterIP(svc: Service): boolean {
  const ip = svc.spec?.clusterIP ?? '';
  return ip !== '' && ip !== 'None';
}

/** The variables of one Service, in Kubernetes' order. */
export function serviceEnvVars(svc: Service): { key: string; value: string }[] {
  const name = envName(svc.metadata?.name ?? '');
  const ip = svc.spec?.clusterIP ?? '';
  const ports = svc.spec?.ports ?? [];
  if (ports.length === 0) return [];
  const out: { key: string; value: string }[] = [
    { key: `${name}_SERVICE_HOST`, value: ip },
    { key: `${name}_SERVICE_PORT`, value: String(ports[0].port ?? 0) },
  ];
  for (const p of ports) {
    if (p.name) out.push({ key: `${name}_SERVICE_PORT_${envName(p.name)}`, value: String(p.port ?? 0) });
  }
  const proto = (p: (typeof ports)[number]) => (p.protocol || 'TCP').toLowerCase();
  out.push({ key: `${name}_PORT`, value: `${proto(ports[0])}://${ip}:${ports[0].port}` });
  for (const p of ports) {
    const prefix = `${name}_PORT_${p.port}_${proto(p).toUpperCase()}`;
    out.push(
      { key: prefix, value: `${proto(p)}://${ip}:${p.port}` },
      { key: `${prefix}_PROTO`, value: proto(p) },
      { key: `${prefix}_PORT`, value: String(p.port) },
      { key: `${prefix}_ADDR`, value: ip },
    );
  }
  return out;
}

/**
 * The Service variables of a pod in `namespace` (kubelet's getServiceEnvVarMap): every Service of
 * its namespace with a ClusterIP when enableServiceLinks is not false, and the `kubernetes`
 * Service of `default` in any case; a Service of the pod's own namespace wins over one of the same
 * name in `default`. Services without a ClusterIP (headless, ExternalName) give none.
 */
export function serviceEnvFor(namespace: string, services: readonly Service[], enableServiceLinks = true): Record<string, string> {
  const chosen = new Map<string, Service>();
  for (const svc of services) {
    if (!hasClusterIP(svc)) continue;
    const ns = svc.metadata?.namespace ?? '';
    const name = svc.metadata?.name ?? '';
    if (ns === 'default' && name === 'kubernetes') {
      if (!chosen.has(name)) chosen.set(name, svc);
    } else if (ns === namespace && enableServiceLinks) {
      chosen.set(name, svc);
    }
  }
  const env: Record<string, string> = {};
  for (const name of [...chosen.keys()].sort()) for (const v of serviceEnvVars(chosen.get(name)!)) env[v.key] = v.value;
  return env;
}
