/**
 * metrics.k8s.io/v1beta1, the resource metrics API that `kubectl top nodes|pods` reads, served
 * in the apiserver instead of by an aggregated metrics-server: NodeMetrics and PodMetrics built on
 * request from every relevant kubelet's StatsSummary (the runtime's real CPU and working-set
 * figures), in the JSON metrics-server writes (CPU in nanocores canonicalised as a Quantity,
 * memory as a binary Quantity, window "10s").
 */
import * as grpc from '@grpc/grpc-js';
import { IncomingMessage, ServerResponse } from 'http';
import { ApiError, errors } from '../../lib/errors';
import { Node, Pod } from '../../lib/generated/kubemu/core/v1/core';
import { PodStats, StatsSummaryResponse } from '../../lib/generated/kubemu/kubelet/v1/kubelet';
import { Logger } from '../../lib/log';
import { Quantity } from '../../lib/quantity';
import { resourceForCase } from '../../lib/resources';
import { formatTime } from '../../lib/time';
import { DiscoveryResource, GroupContext, RestExtensions, writeJson } from './extensions';
import { KubeletConnections, KubeletTarget } from './kubelet-client';

export const METRICS_GROUP_VERSION = 'metrics.k8s.io/v1beta1';
/** The window metrics-server reports for its CPU rate. */
export const METRICS_WINDOW = '10s';
/** How long one kubelet may take to answer StatsSummary before its node is left out. */
const STATS_TIMEOUT_MS = 5000;

const NODES = resourceForCase('node');
const PODS = resourceForCase('pod');

/** The discovery entries of metrics.k8s.io/v1beta1, as metrics-server lists them. */
export const METRICS_RESOURCES: DiscoveryResource[] = [
  { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
  { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
];

/** CPU usage in nanocores as metrics-server prints it (resource.NewScaledQuantity(n, -9)): `123456789n`, `1500m`, `2`. Pure. */
export function formatCpu(nanoCores: number | bigint): string {
  const n = typeof nanoCores === 'bigint' ? nanoCores : BigInt(Math.max(0, Math.round(nanoCores)));
  return n === 0n ? '0' : Quantity.parse(`${n}n`).toString();
}

/** Memory in bytes as metrics-server prints it (resource.NewQuantity(n, BinarySI)): `12Mi`, `10240Ki`, `12345678`. Pure. */
export function formatMemory(bytes: number | bigint): string {
  const n = typeof bytes === 'bigint' ? bytes : BigInt(Math.max(0, Math.round(bytes)));
  return Quantity.fromValue(n, 'BinarySI').toString();
}

export interface Usage {
  cpu: string;
  memory: string;
}

export interface NodeMetrics {
  kind: 'NodeMetrics';
  apiVersion: typeof METRICS_GROUP_VERSION;
  metadata: { name: string; creationTimestamp: string; labels?: Record<string, string> };
  timestamp: string;
  window: string;
  usage: Usage;
}

export interface PodMetrics {
  kind: 'PodMetrics';
  apiVersion: typeof METRICS_GROUP_VERSION;
  metadata: { name: string; namespace: string; creationTimestamp: string; labels?: Record<string, string> };
  timestamp: string;
  window: string;
  containers: { name: string; usage: Usage }[];
}

/** The NodeMetrics of `node` from its kubelet's summary, or undefined when the summary has no node figures. Pure apart from the clock. */
export function nodeMetrics(node: Node, summary: StatsSummaryResponse, now = Date.now()): NodeMetrics | undefined {
  const s = summary.node;
  if (!s?.cpu || !s.memory) return undefined;
  const labels = node.metadata?.labels;
  return {
    kind: 'NodeMetrics',
    apiVersion: METRICS_GROUP_VERSION,
    metadata: { name: node.metadata?.name ?? s.node_name ?? '', creationTimestamp: formatTime(now), ...(labels && Object.keys(labels).length ? { labels } : {}) },
    timestamp: s.cpu.time || formatTime(now),
    window: METRICS_WINDOW,
    usage: { cpu: formatCpu(s.cpu.usage_nano_cores ?? 0), memory: formatMemory(s.memory.working_set_bytes ?? 0) },
  };
}

/**
 * The PodMetrics of `pod` from its stats, or undefined when the stats have no container figures
 * (metrics-server leaves such pods out). Pure apart from the clock.
 */
export function podMetrics(pod: Pod, stats: PodStats, now = Date.now()): PodMetrics | undefined {
  const containers = (stats.containers ?? [])
    .filter((c) => c.name)
    .map((c) => ({ name: c.name!, usage: { cpu: formatCpu(c.cpu?.usage_nano_cores ?? 0), memory: formatMemory(c.memory?.working_set_bytes ?? 0) } }));
  if (containers.length === 0) return undefined;
  // Containers in the order of the pod's spec, as the kubelet's summary lists them.
  const order = new Map([...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c, i) => [c.name ?? '', i]));
  containers.sort((a, b) => (order.get(a.name) ?? 1e9) - (order.get(b.name) ?? 1e9) || a.name.localeCompare(b.name));
  const labels = pod.metadata?.labels;
  return {
    kind: 'PodMetrics',
    apiVersion: METRICS_GROUP_VERSION,
    metadata: {
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? '',
      creationTimestamp: formatTime(now),
      ...(labels && Object.keys(labels).length ? { labels } : {}),
    },
    timestamp: stats.cpu?.time || stats.containers?.[0]?.cpu?.time || formatTime(now),
    window: METRICS_WINDOW,
    containers,
  };
}

/** A kubelet's StatsSummary with a deadline; rejects with the gRPC error. */
function statsSummary(target: KubeletTarget): Promise<StatsSummaryResponse> {
  return new Promise((resolve, reject) => {
    target.client.statsSummary({}, new grpc.Metadata(), { deadline: Date.now() + STATS_TIMEOUT_MS }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/**
 * The summaries of the named nodes' kubelets, in parallel. A node that is gone, reports no kubelet
 * or does not answer is left out (logged), as metrics-server leaves out nodes it cannot scrape.
 */
async function summaries(kubelets: KubeletConnections, nodes: Node[], log: Logger): Promise<Map<string, StatsSummaryResponse>> {
  const out = new Map<string, StatsSummaryResponse>();
  await Promise.all(
    nodes.map(async (node) => {
      const name = node.metadata?.name ?? '';
      if (!kubelets.addressOf(node)) return;
      const target = kubelets.forNodeObject(node);
      try {
        out.set(name, await statsSummary(target));
      } catch (err) {
        log.warn('metrics: kubelet stats unavailable', { node: name, address: target.address, error: (err as grpc.ServiceError).details ?? String(err) });
      }
    }),
  );
  return out;
}

function listMeta(kind: string, items: unknown[]): Record<string, unknown> {
  return { kind, apiVersion: METRICS_GROUP_VERSION, metadata: {}, items };
}

/** GET nodes[/name]. */
async function serveNodes(res: ServerResponse, ctx: GroupContext, kubelets: KubeletConnections, name: string | undefined): Promise<void> {
  const now = Date.now();
  if (name !== undefined) {
    const node = (await ctx.registry.get(NODES, '', name)) as Node;
    const summary = (await summaries(kubelets, [node], ctx.log)).get(name);
    const m = summary && nodeMetrics(node, summary, now);
    if (!m) throw errors.notFound('nodemetrics', 'metrics.k8s.io', name);
    writeJson(res, 200, m);
    return;
  }
  const list = await ctx.registry.list(NODES, '', { labelSelector: ctx.query.get('labelSelector') ?? undefined, fieldSelector: ctx.query.get('fieldSelector') ?? undefined });
  const nodes = list.items as Node[];
  const byNode = await summaries(kubelets, nodes, ctx.log);
  const items = nodes.flatMap((n) => {
    const s = byNode.get(n.metadata?.name ?? '');
    const m = s && nodeMetrics(n, s, now);
    return m ? [m] : [];
  });
  writeJson(res, 200, listMeta('NodeMetricsList', items));
}

/** The PodMetrics of `pods`, asking only the kubelets of the nodes they run on. */
async function metricsOfPods(ctx: GroupContext, kubelets: KubeletConnections, pods: Pod[]): Promise<PodMetrics[]> {
  const nodeNames = [...new Set(pods.map((p) => p.spec?.nodeName ?? '').filter((n) => n))];
  const nodes = (
    await Promise.all(
      nodeNames.map((n) =>
        ctx.registry.get(NODES, '', n).then(
          (o) => o as Node,
          () => undefined,
        ),
      ),
    )
  ).filter((n): n is Node => !!n);
  const byNode = await summaries(kubelets, nodes, ctx.log);
  const statsByUid = new Map<string, PodStats>();
  const statsByKey = new Map<string, PodStats>();
  for (const s of byNode.values()) {
    for (const p of s.pods ?? []) {
      if (p.pod_ref?.uid) statsByUid.set(p.pod_ref.uid, p);
      statsByKey.set(`${p.pod_ref?.namespace}/${p.pod_ref?.name}`, p);
    }
  }
  const now = Date.now();
  return pods.flatMap((pod) => {
    const uid = pod.metadata?.uid;
    // By uid first: a pod deleted and recreated under the same name is another pod.
    const stats = uid ? statsByUid.get(uid) : statsByKey.get(`${pod.metadata?.namespace}/${pod.metadata?.name}`);
    const m = stats && podMetrics(pod, stats, now);
    return m ? [m] : [];
  });
}

/** GET [namespaces/{ns}/]pods[/name]. */
async function servePods(res: ServerResponse, ctx: GroupContext, kubelets: KubeletConnections, namespace: string, name: string | undefined): Promise<void> {
  if (name !== undefined) {
    const pod = (await ctx.registry.get(PODS, namespace, name)) as Pod;
    const [m] = await metricsOfPods(ctx, kubelets, [pod]);
    if (!m) throw errors.notFound('podmetrics', 'metrics.k8s.io', `${namespace}/${name}`);
    writeJson(res, 200, m);
    return;
  }
  const list = await ctx.registry.list(PODS, namespace, { labelSelector: ctx.query.get('labelSelector') ?? undefined, fieldSelector: ctx.query.get('fieldSelector') ?? undefined });
  const items = await metricsOfPods(ctx, kubelets, list.items as Pod[]);
  writeJson(res, 200, listMeta('PodMetricsList', items));
}

/**
 * The GroupHandler of metrics.k8s.io/v1beta1 (discovery is the router's): nodes, nodes/{name},
 * pods (all namespaces), namespaces/{ns}/pods, namespaces/{ns}/pods/{name}; GET only (405
 * otherwise), NotFound for any other path and for a pod or node without figures
 * (`podmetrics.metrics.k8s.io "default/web" not found`). labelSelector and fieldSelector filter
 * the lists. May be called concurrently.
 */
export function metricsHandler(kubelets: KubeletConnections) {
  return async (req: IncomingMessage, res: ServerResponse, ctx: GroupContext): Promise<void> => {
    const s = ctx.segments.filter((x) => x !== '');
    const known =
      (s[0] === 'nodes' && s.length <= 2) || (s[0] === 'pods' && s.length === 1) || (s[0] === 'namespaces' && s.length >= 3 && s.length <= 4 && s[2] === 'pods');
    if (!known) throw new ApiError('NotFound', 404, 'the server could not find the requested resource');
    if (req.method !== 'GET') throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
    if (s[0] === 'nodes') return serveNodes(res, ctx, kubelets, s[1]);
    if (s[0] === 'pods') return servePods(res, ctx, kubelets, '', undefined);
    return servePods(res, ctx, kubelets, s[1], s[3]);
  };
}

/**
 * Registers metrics.k8s.io/v1beta1 with the REST router (discovery: nodes and pods, get/list).
 * Call once per apiserver replica at start-up. Returns the kubelet pool it uses.
 */
export function registerMetrics(ext: RestExtensions, kubelets: KubeletConnections = new KubeletConnections()): KubeletConnections {
  ext.registerGroup(METRICS_GROUP_VERSION, METRICS_RESOURCES, metricsHandler(kubelets));
  return kubelets;
}

/** The extension-module entry point the router looks for (see extensions.ts). */
export function registerRestExtensions(ext: RestExtensions): void {
  registerMetrics(ext);
}
