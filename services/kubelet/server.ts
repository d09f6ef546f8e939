/**
 * The kubelet's own API (KubeletService, proto/kubemu/kubelet/v1/kubelet.proto): container logs,
 * exec and resource figures of this node's pods, answered through the node's container runtime.
 * The apiserver calls it for `kubectl logs`, `kubectl exec` and `kubectl top`.
 */
import * as grpc from '@grpc/grpc-js';
import * as os from 'os';
import {
  ContainerLogsRequest,
  ContainerLogsResponse,
  KubeletServiceServer,
  KubeletServiceService,
  PodStats,
} from '../lib/generated/kubemu/kubelet/v1/kubelet';
import { Pod } from '../lib/generated/kubemu/core/v1/core';
import { Logger } from '../lib/log';
import { formatTime } from '../lib/time';
import { instancesByName } from './podstatus';
import { LABEL_CONTAINER_NAME, LABEL_POD_UID, RuntimeClient, RuntimeError, ContainerState } from './runtime';

/** A failure with its gRPC code, as the proto's header documents them. */
class KubeletApiError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

const notFound = (m: string) => new KubeletApiError(grpc.status.NOT_FOUND, m);
const invalid = (m: string) => new KubeletApiError(grpc.status.INVALID_ARGUMENT, m);
const precondition = (m: string) => new KubeletApiError(grpc.status.FAILED_PRECONDITION, m);

function toServiceError(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof KubeletApiError) return { code: err.code, details: err.message };
  if (err instanceof RuntimeError) return { code: err.code, details: err.message };
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

export interface KubeletServerDeps {
  nodeName: string;
  runtime: RuntimeClient;
  /** The pod on this node, from the kubelet's informer. */
  pod(namespace: string, name: string): Pod | undefined;
  pods(): Pod[];
  startedAt: number;
  log: Logger;
}

/** Formats a runtime log time (Unix microseconds) as kubectl --timestamps does: RFC 3339 with nanoseconds. */
function rfc3339Nano(us: number): string {
  const frac = String((us % 1e6) * 1000).padStart(9, '0');
  return new Date(Math.floor(us / 1e3)).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}

/**
 * Registers KubeletService on `server`. Handlers never throw past this layer: every failure is a
 * status code with a Kubernetes-worded message.
 */
export function addKubeletService(server: grpc.Server, deps: KubeletServerDeps): void {
  /** The pod and the container a request names, with the container's newest and previous instances. */
  const resolve = async (namespace: string | undefined, podName: string | undefined, container: string | undefined) => {
    if (!namespace) throw invalid('namespace is required');
    if (!podName) throw invalid('pod is required');
    const pod = deps.pod(namespace, podName);
    if (!pod) throw notFound(`pods "${podName}" not found on node ${deps.nodeName}`);
    const names = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name ?? '');
    let name = container ?? '';
    if (!name) {
      const regular = (pod.spec?.containers ?? []).map((c) => c.name ?? '');
      if (regular.length !== 1) throw invalid(`a container name must be specified for pod ${podName}, choose one of: [${regular.join(' ')}]`);
      name = regular[0];
    }
    if (!names.includes(name)) throw notFound(`container ${name} is not valid for pod ${podName}`);
    const state = await deps.runtime.podState(pod.metadata?.uid ?? '');
    const entry = instancesByName(state).get(name);
    return { pod, name, entry };
  };

  const waitingReason = (pod: Pod, name: string) =>
    [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].find((s) => s.name === name)?.state?.waiting?.reason ??
    'ContainerCreating';

  const impl: KubeletServiceServer = {
    containerLogs: (call: grpc.ServerWritableStream<ContainerLogsRequest, ContainerLogsResponse>) => {
      const r = call.request;
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort());
      const run = async () => {
        const { pod, name, entry } = await resolve(r.namespace, r.pod, r.container);
        const instance = r.previous ? entry?.previous : entry?.latest;
        if (!instance) {
          if (r.previous) throw notFound(`previous terminated container "${name}" in pod "${r.pod}" not found`);
          throw precondition(`container "${name}" in pod "${r.pod}" is waiting to start: ${waitingReason(pod, name)}`);
        }
        const sinceUs = r.since_seconds !== undefined && r.since_seconds > 0 ? (Date.now() - r.since_seconds * 1000) * 1e3 : 0;
        await deps.runtime.containerLogs(
          {
            container_id: instance.id,
            follow: r.follow && !r.previous,
            tail_lines: r.tail_lines ?? -1,
            since_time: sinceUs,
            timestamps: false,
            limit_bytes: r.limit_bytes ?? 0,
          },
          (lines) => {
            if (lines.length === 0) return;
            const chunks = lines.map((l) => {
              const content = Buffer.from(l.content ?? []);
              return r.timestamps ? Buffer.concat([Buffer.from(rfc3339Nano(l.time ?? 0) + ' '), content]) : content;
            });
            call.write({ data: Buffer.concat(chunks) });
          },
          abort.signal,
        );
      };
      run().then(
        () => call.end(),
        (err) => call.emit('error', toServiceError(err)),
      );
    },

    exec: (call, cb) => {
      const r = call.request;
      const run = async () => {
        if (!r.command || r.command.length === 0) throw invalid('command is required');
        const { name, entry } = await resolve(r.namespace, r.pod, r.container);
        const latest = entry?.latest;
        if (!latest || latest.state !== ContainerState.CONTAINER_STATE_RUNNING) {
          throw precondition(`container ${name} is not running in pod ${r.pod}`);
        }
        const res = await deps.runtime.execSync(latest.id, r.command, r.timeout_seconds ?? 0, r.stdin);
        return { stdout: res.stdout ?? Buffer.alloc(0), stderr: res.stderr ?? Buffer.alloc(0), exit_code: res.exit_code ?? 0 };
      };
      run().then(
        (res) => cb(null, res),
        (err) => cb(toServiceError(err) as grpc.ServiceError),
      );
    },

    statsSummary: (_call, cb) => {
      const run = async () => {
        const stats = await deps.runtime.listContainerStats();
        const now = formatTime(Date.now());
        const byUid = new Map<string, PodStats>();
        const podsByUid = new Map(deps.pods().map((p) => [p.metadata?.uid ?? '', p]));
        let nodeCpu = 0;
        let nodeCpuTotal = 0;
        let nodeMem = 0;
        for (const s of stats) {
          const uid = s.labels?.[LABEL_POD_UID] ?? '';
          const pod = podsByUid.get(uid);
          if (!pod) continue;
          let ps = byUid.get(uid);
          if (!ps) {
            ps = {
              pod_ref: { name: pod.metadata?.name, namespace: pod.metadata?.namespace, uid },
              start_time: pod.status?.startTime,
              containers: [],
              cpu: { time: now, usage_nano_cores: 0, usage_core_nano_seconds: 0 },
              memory: { time: now, working_set_bytes: 0, rss_bytes: 0 },
            };
            byUid.set(uid, ps);
          }
          const cpu = Number(s.cpu?.usage_nano_cores ?? 0);
          const cpuTotal = Number(s.cpu?.usage_core_nano_seconds ?? 0);
          const ws = Number(s.memory?.working_set_bytes ?? 0);
          const rss = Number(s.memory?.rss_bytes ?? 0);
          ps.containers!.push({
            name: s.metadata?.name ?? s.labels?.[LABEL_CONTAINER_NAME],
            cpu: { time: now, usage_nano_cores: cpu, usage_core_nano_seconds: cpuTotal },
            memory: { time: now, working_set_bytes: ws, rss_bytes: rss },
          });
          ps.cpu!.usage_nano_cores! += cpu;
          ps.cpu!.usage_core_nano_seconds! += cpuTotal;
          ps.memory!.working_set_bytes! += ws;
          ps.memory!.rss_bytes! += rss;
          nodeCpu += cpu;
          nodeCpuTotal += cpuTotal;
          nodeMem += ws;
        }
        return {
          node: {
            node_name: deps.nodeName,
            start_time: formatTime(deps.startedAt),
            cpu: { time: now, usage_nano_cores: nodeCpu, usage_core_nano_seconds: nodeCpuTotal },
            memory: { time: now, working_set_bytes: nodeMem, rss_bytes: nodeMem, available_bytes: Math.max(0, os.freemem()) },
          },
          pods: [...byUid.values()],
        };
      };
      run().then(
        (res) => cb(null, res),
        (err) => cb(toServiceError(err) as grpc.ServiceError),
      );
    },

    runningPods: (_call, cb) => {
      const pods = deps.pods().map((p) => ({
        namespace: p.metadata?.namespace,
        name: p.metadata?.name,
        uid: p.metadata?.uid,
        phase: p.status?.phase,
        pod_ip: p.status?.podIP,
        containers: (p.spec?.containers ?? []).map((c) => c.name ?? ''),
      }));
      cb(null, { pods });
    },
  };
  server.addService(KubeletServiceService, impl);
}
