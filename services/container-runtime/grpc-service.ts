/**
 * The runtime's gRPC API: RuntimeService and ImageService (proto/kubemu/runtime/v1/runtime.proto)
 * over a ContainerRuntime. This layer validates requests (INVALID_ARGUMENT naming the field),
 * converts records to messages, and maps every error to a status code in one table (toStatus).
 */
import * as grpc from '@grpc/grpc-js';
import {
  ContainerConfig as ContainerConfigMsg,
  ContainerEventType,
  ContainerFilter as ContainerFilterMsg,
  ContainerState,
  ContainerStats,
  ContainerStatus,
  Container,
  Image,
  ImageServiceServer,
  ImageServiceService,
  LogLine,
  PodSandbox,
  PodSandboxState,
  PodSandboxStatus,
  RuntimeServiceServer,
  RuntimeServiceService,
} from '../lib/generated/kubemu/runtime/v1/runtime';
import { MALFORMED, tolerantService } from '../lib/grpc-tolerant';
import { Logger } from '../lib/log';
import { RuntimeError, RuntimeErrorKind, runtimeErrors } from './errors';
import { ExecutableNotFoundError, ImageCatalog, ImagePullError } from './images/catalog';
import { InvalidImageNameError } from './images/reference';
import { LogEntry, LogStream, renderEntries } from './logs';
import { PodIPExhaustedError } from './network/ipam';
import { ContainerConfig, ContainerFilter, ContainerRuntime, ContainerStatsSample } from './runtime';
import { ContainerRecord, SandboxRecord } from './state';

/** The runtime's version, reported by Version. */
export const RUNTIME_VERSION = '0.1.0';

const kindToCode: Record<RuntimeErrorKind, grpc.status> = {
  NotFound: grpc.status.NOT_FOUND,
  InvalidArgument: grpc.status.INVALID_ARGUMENT,
  FailedPrecondition: grpc.status.FAILED_PRECONDITION,
  AlreadyExists: grpc.status.ALREADY_EXISTS,
  DeadlineExceeded: grpc.status.DEADLINE_EXCEEDED,
  Unavailable: grpc.status.UNAVAILABLE,
};

/** The one error table: typed errors to gRPC status (image errors carry the kubelet's reason as the message prefix). */
export function toStatus(err: unknown): { code: grpc.status; details: string } {
  if (err instanceof RuntimeError) return { code: kindToCode[err.kind], details: err.message };
  if (err instanceof InvalidImageNameError) return { code: grpc.status.INVALID_ARGUMENT, details: `InvalidImageName: ${err.message}` };
  if (err instanceof ImagePullError) {
    return err.reason === 'ErrImageNeverPull'
      ? { code: grpc.status.FAILED_PRECONDITION, details: `ErrImageNeverPull: ${err.message}` }
      : { code: grpc.status.NOT_FOUND, details: `ErrImagePull: ${err.message}` };
  }
  if (err instanceof ExecutableNotFoundError) return { code: grpc.status.FAILED_PRECONDITION, details: `StartError: ${err.message}` };
  if (err instanceof PodIPExhaustedError) return { code: grpc.status.RESOURCE_EXHAUSTED, details: err.message };
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

// ---------------------------------------------------------------------------------------------
// Validation: every field the runtime relies on, named by its request path.

/** Names used in paths (pod name, namespace, uid, container name): no '/', not '.' or '..'. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

function requireString(value: string | undefined, field: string): string {
  if (!value) throw runtimeErrors.required(field);
  return value;
}

function requireName(value: string | undefined, field: string): string {
  const v = requireString(value, field);
  if (!SAFE_NAME.test(v)) throw runtimeErrors.invalid(field, `${JSON.stringify(v)} must be letters, digits, '.', '_' or '-' (starting with a letter or digit)`);
  return v;
}

function nonNegative(value: number | undefined, field: string): number {
  const n = value ?? 0;
  if (!Number.isFinite(n) || n < 0) throw runtimeErrors.invalid(field, `${n} must not be negative`);
  return n;
}

const PULL_POLICIES = new Set(['', 'Always', 'IfNotPresent', 'Never']);

function containerConfigFrom(c: ContainerConfigMsg | undefined): ContainerConfig {
  if (!c) throw runtimeErrors.required('config');
  if (!c.metadata) throw runtimeErrors.required('config.metadata');
  const name = requireName(c.metadata.name, 'config.metadata.name');
  const image = requireString(c.image, 'config.image');
  const policy = c.image_pull_policy ?? '';
  if (!PULL_POLICIES.has(policy)) throw runtimeErrors.invalid('config.image_pull_policy', `${JSON.stringify(policy)} is not Always, IfNotPresent or Never`);
  const mounts = (c.mounts ?? []).map((m, i) => {
    const containerPath = requireString(m.container_path, `config.mounts[${i}].container_path`);
    if (!containerPath.startsWith('/')) throw runtimeErrors.invalid(`config.mounts[${i}].container_path`, `${JSON.stringify(containerPath)} must be absolute`);
    const hostPath = requireString(m.host_path, `config.mounts[${i}].host_path`);
    if (!hostPath.startsWith('/')) throw runtimeErrors.invalid(`config.mounts[${i}].host_path`, `${JSON.stringify(hostPath)} must be absolute`);
    return { containerPath, hostPath, readonly: !!m.readonly, volumeName: m.volume_name ?? '' };
  });
  const envs = (c.envs ?? []).map((kv, i) => ({ key: requireString(kv.key, `config.envs[${i}].key`), value: kv.value ?? '' }));
  return {
    name,
    attempt: c.metadata.attempt ?? 0,
    image,
    imagePullPolicy: policy,
    command: c.command ?? [],
    args: c.args ?? [],
    workingDir: c.working_dir ?? '',
    envs,
    mounts,
    labels: c.labels ?? {},
    annotations: c.annotations ?? {},
    memoryLimitBytes: nonNegative(c.memory_limit_bytes, 'config.memory_limit_bytes'),
    cpuLimitMillicores: nonNegative(c.cpu_limit_millicores, 'config.cpu_limit_millicores'),
  };
}

const sandboxStateToMsg = { READY: PodSandboxState.POD_SANDBOX_STATE_READY, NOTREADY: PodSandboxState.POD_SANDBOX_STATE_NOTREADY } as const;
const containerStateToMsg = {
  CREATED: ContainerState.CONTAINER_STATE_CREATED,
  RUNNING: ContainerState.CONTAINER_STATE_RUNNING,
  EXITED: ContainerState.CONTAINER_STATE_EXITED,
} as const;

function sandboxStateFromMsg(s: PodSandboxState | undefined): 'READY' | 'NOTREADY' | undefined {
  if (s === PodSandboxState.POD_SANDBOX_STATE_READY) return 'READY';
  if (s === PodSandboxState.POD_SANDBOX_STATE_NOTREADY) return 'NOTREADY';
  return undefined;
}

function containerFilterFrom(f: ContainerFilterMsg | undefined): ContainerFilter | 'none' {
  if (!f) return {};
  let state: ContainerFilter['state'];
  switch (f.state) {
    case ContainerState.CONTAINER_STATE_CREATED:
      state = 'CREATED';
      break;
    case ContainerState.CONTAINER_STATE_RUNNING:
      state = 'RUNNING';
      break;
    case ContainerState.CONTAINER_STATE_EXITED:
      state = 'EXITED';
      break;
    case ContainerState.CONTAINER_STATE_UNKNOWN:
      // The runtime always knows its containers' states.
      return 'none';
  }
  return { id: f.id || undefined, state, sandboxId: f.pod_sandbox_id || undefined, labelSelector: f.label_selector };
}

function sandboxMetadata(s: SandboxRecord) {
  return { name: s.name, uid: s.uid, namespace: s.namespace, attempt: s.attempt };
}

function toPodSandbox(s: SandboxRecord): PodSandbox {
  return { id: s.id, metadata: sandboxMetadata(s), state: sandboxStateToMsg[s.state], created_at: s.createdAt, labels: s.labels, annotations: s.annotations };
}

function toPodSandboxStatus(s: SandboxRecord): PodSandboxStatus {
  return { ...toPodSandbox(s), ip: s.ip, pod_dir: s.podDir, hostname: s.hostname };
}

function toContainer(c: ContainerRecord): Container {
  return {
    id: c.id,
    pod_sandbox_id: c.sandboxId,
    metadata: { name: c.name, attempt: c.attempt },
    image: c.image,
    image_ref: c.imageRef,
    state: containerStateToMsg[c.state],
    created_at: c.createdAt,
    labels: c.labels,
    annotations: c.annotations,
  };
}

function toContainerStatus(c: ContainerRecord): ContainerStatus {
  return {
    id: c.id,
    metadata: { name: c.name, attempt: c.attempt },
    state: containerStateToMsg[c.state],
    created_at: c.createdAt,
    started_at: c.startedAt,
    finished_at: c.finishedAt,
    exit_code: c.exitCode,
    image: c.image,
    image_ref: c.imageRef,
    reason: c.reason,
    message: c.message,
    labels: c.labels,
    annotations: c.annotations,
    log_path: c.logPath,
    pid: c.state === 'RUNNING' ? c.pid : 0,
    pod_sandbox_id: c.sandboxId,
  };
}

function toContainerStats(s: ContainerStatsSample): ContainerStats {
  const c = s.container;
  return {
    container_id: c.id,
    pod_sandbox_id: c.sandboxId,
    metadata: { name: c.name, attempt: c.attempt },
    cpu: { timestamp: s.timestamp, usage_core_nano_seconds: s.cpuUsageCoreNanoSeconds, usage_nano_cores: s.cpuUsageNanoCores },
    memory: { timestamp: s.timestamp, working_set_bytes: s.memoryRssBytes, rss_bytes: s.memoryRssBytes },
    labels: c.labels,
  };
}

const eventTypeToMsg = {
  CREATED: ContainerEventType.CONTAINER_EVENT_TYPE_CREATED,
  STARTED: ContainerEventType.CONTAINER_EVENT_TYPE_STARTED,
  STOPPED: ContainerEventType.CONTAINER_EVENT_TYPE_STOPPED,
  DELETED: ContainerEventType.CONTAINER_EVENT_TYPE_DELETED,
} as const;

/** Lines per ContainerLogs message, so one message stays well under the 4 MiB default limit. */
const LOG_BATCH_LINES = 500;

type Unary<Req, Res> = grpc.handleUnaryCall<Req, Res>;

/**
 * Registers RuntimeService and ImageService on `server`. No request can make a handler throw past
 * this layer: malformed bodies and invalid fields answer INVALID_ARGUMENT, and unexpected errors
 * INTERNAL (logged).
 */
export function addRuntimeServices(server: grpc.Server, runtime: ContainerRuntime, catalog: ImageCatalog, log: Logger): void {
  const fail = (method: string, err: unknown) => {
    const s = toStatus(err);
    if (s.code === grpc.status.INTERNAL) log.error('request failed', { method, err: err instanceof Error ? err.stack : String(err) });
    return s;
  };
  const unary =
    <Req, Res>(method: string, fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>): Unary<Req, Res> =>
    (call, callback) => {
      const req = call.request as Req & Record<symbol, string | undefined>;
      Promise.resolve()
        .then(() => {
          const malformed = req[MALFORMED];
          if (malformed !== undefined) throw runtimeErrors.invalid('request', `malformed ${method} request: ${malformed}`);
          return fn(req, call);
        })
        .then(
          (res) => callback(null, res),
          (err) => callback(fail(method, err) as grpc.ServiceError),
        );
    };

  const runtimeImpl: RuntimeServiceServer = {
    version: unary('Version', () => ({ version: RUNTIME_VERSION, runtime_name: 'kubemu', runtime_version: RUNTIME_VERSION, runtime_api_version: 'v1' })),
    status: unary('Status', () => ({
      conditions: [
        { type: 'RuntimeReady', status: true, reason: '', message: '' },
        { type: 'NetworkReady', status: true, reason: '', message: '' },
      ],
      node_name: runtime.nodeName,
      pod_cidr: runtime.podCIDR,
    })),

    runPodSandbox: unary('RunPodSandbox', async (r) => {
      const c = r.config;
      if (!c) throw runtimeErrors.required('config');
      if (!c.metadata) throw runtimeErrors.required('config.metadata');
      const id = await runtime.runPodSandbox({
        name: requireName(c.metadata.name, 'config.metadata.name'),
        namespace: requireName(c.metadata.namespace, 'config.metadata.namespace'),
        uid: requireName(c.metadata.uid, 'config.metadata.uid'),
        attempt: c.metadata.attempt ?? 0,
        hostname: c.hostname ?? '',
        labels: c.labels ?? {},
        annotations: c.annotations ?? {},
      });
      return { pod_sandbox_id: id };
    }),
    stopPodSandbox: unary('StopPodSandbox', async (r) => {
      await runtime.stopPodSandbox(requireString(r.pod_sandbox_id, 'pod_sandbox_id'));
      return {};
    }),
    removePodSandbox: unary('RemovePodSandbox', async (r) => {
      await runtime.removePodSandbox(requireString(r.pod_sandbox_id, 'pod_sandbox_id'));
      return {};
    }),
    podSandboxStatus: unary('PodSandboxStatus', (r) => ({ status: toPodSandboxStatus(runtime.podSandboxStatus(requireString(r.pod_sandbox_id, 'pod_sandbox_id'))) })),
    listPodSandbox: unary('ListPodSandbox', (r) => {
      const f = r.filter;
      const items = runtime.listPodSandbox({ id: f?.id || undefined, state: sandboxStateFromMsg(f?.state), labelSelector: f?.label_selector });
      return { items: items.map(toPodSandbox) };
    }),

    createContainer: unary('CreateContainer', async (r) => {
      const sandboxId = requireString(r.pod_sandbox_id, 'pod_sandbox_id');
      return { container_id: await runtime.createContainer(sandboxId, containerConfigFrom(r.config)) };
    }),
    startContainer: unary('StartContainer', async (r) => {
      await runtime.startContainer(requireString(r.container_id, 'container_id'));
      return {};
    }),
    stopContainer: unary('StopContainer', async (r) => {
      await runtime.stopContainer(requireString(r.container_id, 'container_id'), r.timeout ?? 0);
      return {};
    }),
    removeContainer: unary('RemoveContainer', async (r) => {
      await runtime.removeContainer(requireString(r.container_id, 'container_id'));
      return {};
    }),
    listContainers: unary('ListContainers', (r) => {
      const f = containerFilterFrom(r.filter);
      return { containers: f === 'none' ? [] : runtime.listContainers(f).map(toContainer) };
    }),
    containerStatus: unary('ContainerStatus', (r) => ({ status: toContainerStatus(runtime.containerStatus(requireString(r.container_id, 'container_id'))) })),

    containerLogs: (call) => {
      const r = call.request as typeof call.request & Record<symbol, string | undefined>;
      let cancel = () => undefined as void;
      let ended = false;
      const end = (err?: unknown) => {
        if (ended) return;
        ended = true;
        cancel();
        if (err) call.emit('error', fail('ContainerLogs', err));
        else call.end();
      };
      call.on('cancelled', () => end());
      try {
        if (r[MALFORMED] !== undefined) throw runtimeErrors.invalid('request', `malformed ContainerLogs request: ${r[MALFORMED]}`);
        const id = requireString(r.container_id, 'container_id');
        const limit = nonNegative(r.limit_bytes, 'limit_bytes');
        const timestamps = !!r.timestamps;
        const sinceNs = BigInt(Math.max(0, Math.trunc(r.since_time ?? 0))) * 1000n;
        const lineStart = new Map<LogStream, boolean>();
        let sent = 0;
        // Sends entries; false once limit_bytes is reached (the stream is then ended).
        const send = (entries: LogEntry[]): boolean => {
          let lines = renderEntries(entries, timestamps, lineStart);
          if (limit > 0) {
            const kept = [];
            for (const l of lines) {
              if (sent >= limit) break;
              const room = limit - sent;
              const content = l.content.length > room ? l.content.subarray(0, room) : l.content;
              sent += content.length;
              kept.push({ ...l, content });
            }
            lines = kept;
          }
          for (let i = 0; i < lines.length; i += LOG_BATCH_LINES) {
            const batch: LogLine[] = lines.slice(i, i + LOG_BATCH_LINES).map((l) => ({ time: Number(l.timeNs / 1000n), stream: l.stream, content: l.content }));
            call.write({ lines: batch });
          }
          return !(limit > 0 && sent >= limit);
        };
        // As the proto says: negative is all, 0 is none (kubectl logs --tail=0 -f shows only new lines).
        const query = { tailLines: Math.trunc(r.tail_lines ?? -1), sinceNs };
        const sub = runtime.readLog(
          id,
          query,
          !!r.follow,
          (entries) => {
            if (ended) return;
            const fresh = sinceNs > 0n ? entries.filter((e) => e.timeNs >= sinceNs) : entries;
            if (!send(fresh)) end();
          },
          () => end(),
        );
        cancel = sub.cancel;
        const existing = sub.existing;
        if (!send(existing) || !sub.following) end();
      } catch (err) {
        end(err);
      }
    },

    execSync: unary('ExecSync', async (r, call) => {
      const id = requireString(r.container_id, 'container_id');
      const cmd = r.cmd ?? [];
      if (cmd.length === 0 || !cmd[0]) throw runtimeErrors.required('cmd');
      // A client that gives up (deadline, cancel) takes its command down with it.
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort());
      const res = await runtime.execSync(id, cmd, nonNegative(r.timeout, 'timeout'), r.stdin ?? Buffer.alloc(0), abort.signal);
      return { stdout: res.stdout, stderr: res.stderr, exit_code: res.exitCode };
    }),
    containerStats: unary('ContainerStats', (r) => {
      const id = requireString(r.container_id, 'container_id');
      runtime.containerStatus(id);
      return { stats: toContainerStats(runtime.stats({ id })[0]) };
    }),
    listContainerStats: unary('ListContainerStats', (r) => {
      const f = containerFilterFrom(r.filter);
      return { stats: f === 'none' ? [] : runtime.stats(f).map(toContainerStats) };
    }),

    getContainerEvents: (call) => {
      const r = call.request as typeof call.request & Record<symbol, string | undefined>;
      if (r[MALFORMED] !== undefined) {
        call.emit('error', fail('GetContainerEvents', runtimeErrors.invalid('request', `malformed GetContainerEvents request: ${r[MALFORMED]}`)));
        return;
      }
      const unsubscribe = runtime.subscribe(
        (e) =>
          call.write({
            container_id: e.containerId,
            container_event_type: eventTypeToMsg[e.type],
            created_at: e.createdAt,
            pod_sandbox_id: e.sandboxId,
            pod_uid: e.podUid,
          }),
        () => call.end(),
      );
      call.on('cancelled', unsubscribe);
      call.on('close', unsubscribe);
      call.on('error', unsubscribe);
      // Headers now: a client that waits for them knows it is subscribed and may list safely.
      call.sendMetadata(new grpc.Metadata());
    },
  };

  const toImage = (info: { id: string; repoTags: string[]; repoDigests: string[]; sizeBytes: number; catalogName: string }): Image => ({
    id: info.id,
    repo_tags: info.repoTags,
    repo_digests: info.repoDigests,
    size: info.sizeBytes,
    catalog_name: info.catalogName,
  });

  const imageImpl: ImageServiceServer = {
    pullImage: unary('PullImage', (r) => {
      const image = requireString(r.image?.image, 'image.image');
      const policy = r.pull_policy ?? '';
      if (!PULL_POLICIES.has(policy)) throw runtimeErrors.invalid('pull_policy', `${JSON.stringify(policy)} is not Always, IfNotPresent or Never`);
      return { image_ref: catalog.pull(image, policy || 'IfNotPresent').id };
    }),
    listImages: unary('ListImages', () => ({
      images: catalog.list().map((img) => ({
        id: img.id,
        repo_tags: img.names,
        repo_digests: [],
        size: img.sizeBytes,
        catalog_name: img.names.length > 0 ? (catalog.find(img.names[0])?.name ?? '') : '',
      })),
    })),
    imageStatus: unary('ImageStatus', (r) => {
      const image = requireString(r.image?.image, 'image.image');
      // InvalidImageNameError (bad syntax) is an error; an image the catalog lacks is an empty answer.
      if (!catalog.find(image)) return {};
      try {
        return { image: toImage(catalog.pull(image, 'IfNotPresent')) };
      } catch (err) {
        if (err instanceof ImagePullError) return {};
        throw err;
      }
    }),
  };

  server.addService(tolerantService(RuntimeServiceService), runtimeImpl);
  server.addService(tolerantService(ImageServiceService), imageImpl);
}
