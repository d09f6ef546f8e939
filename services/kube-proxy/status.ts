/**
 * kube-proxy's HTTP status port (the role of Kubernetes' healthz and metrics ports):
 *   GET /healthz  200 {"lastUpdated": <last sync, RFC 3339>, "currentTime": <now>}
 *   GET /proxies  the addresses this process holds (ProxyStatus[])
 *   GET /metrics  Prometheus text: connections per service, syncs, sync duration, addresses
 */
import * as http from 'http';
import { Proxier } from './proxier';

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The Prometheus text exposition of the proxier's counters. Never throws. */
export function renderMetrics(p: Proxier): string {
  const lines: string[] = [];
  const counters = [...p.serviceCounters()].sort(([a], [b]) => (a < b ? -1 : 1));
  lines.push('# HELP kubeproxy_connections_total Connections (TCP) and sessions (UDP) accepted per Service.');
  lines.push('# TYPE kubeproxy_connections_total counter');
  for (const [svc, c] of counters) lines.push(`kubeproxy_connections_total{service="${escapeLabel(svc)}"} ${c.total}`);
  lines.push('# HELP kubeproxy_connections_active Proxied connections and sessions open now per Service.');
  lines.push('# TYPE kubeproxy_connections_active gauge');
  for (const [svc, c] of counters) lines.push(`kubeproxy_connections_active{service="${escapeLabel(svc)}"} ${c.active}`);
  lines.push('# HELP kubeproxy_sync_proxy_rules_total Syncs of the proxy table.');
  lines.push('# TYPE kubeproxy_sync_proxy_rules_total counter');
  lines.push(`kubeproxy_sync_proxy_rules_total ${p.syncCount}`);
  lines.push('# HELP kubeproxy_sync_proxy_rules_duration_seconds Time spent syncing the proxy table.');
  lines.push('# TYPE kubeproxy_sync_proxy_rules_duration_seconds summary');
  lines.push(`kubeproxy_sync_proxy_rules_duration_seconds_sum ${p.syncSecondsTotal.toFixed(6)}`);
  lines.push(`kubeproxy_sync_proxy_rules_duration_seconds_count ${p.syncCount}`);
  lines.push('# HELP kubeproxy_sync_proxy_rules_last_duration_seconds Duration of the last sync.');
  lines.push('# TYPE kubeproxy_sync_proxy_rules_last_duration_seconds gauge');
  lines.push(`kubeproxy_sync_proxy_rules_last_duration_seconds ${p.lastSyncSeconds.toFixed(6)}`);
  lines.push('# HELP kubeproxy_addresses_wanted Service addresses the cluster wants served.');
  lines.push('# TYPE kubeproxy_addresses_wanted gauge');
  lines.push(`kubeproxy_addresses_wanted ${p.wantedCount}`);
  lines.push('# HELP kubeproxy_addresses_held Service addresses this process holds.');
  lines.push('# TYPE kubeproxy_addresses_held gauge');
  lines.push(`kubeproxy_addresses_held ${p.proxies().length}`);
  return lines.join('\n') + '\n';
}

/**
 * Serves the status endpoints on host:port (port 0 = any). Resolves with the server and its
 * actual address; rejects when it cannot bind. Requests never throw.
 */
export async function startStatusServer(proxier: Proxier, host: string, port: number): Promise<{ server: http.Server; address: string }> {
  const server = http.createServer((req, res) => {
    try {
      const url = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'content-type': 'text/plain' }).end('method not allowed\n');
        return;
      }
      if (url === '/healthz') {
        const body = { lastUpdated: new Date(proxier.lastSyncAt || 0).toISOString(), currentTime: new Date().toISOString() };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      } else if (url === '/proxies') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(proxier.proxies()));
      } else if (url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(renderMetrics(proxier));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const a = server.address();
  const actual = a && typeof a === 'object' ? `${a.address}:${a.port}` : `${host}:${port}`;
  return { server, address: actual };
}
