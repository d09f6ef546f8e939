/**
 * The kubelet's view of its node's container runtime: the generated RuntimeService and
 * ImageService clients with promises, deadlines and the runtime's error conventions decoded
 * (see proto/kubemu/runtime/v1/runtime.proto).
 */
import * as grpc from '@grpc/grpc-js';
import {
  Container,
  ContainerConfig,
  ContainerEventResponse,
  ContainerLogsRequest,
  ContainerState,
  ContainerStats,
  ContainerStatus,
  ExecSyncResponse,
  ImageServiceClient,
  PodSandbox,
  PodSandboxConfig,
  PodSandboxState,
  PodSandboxStatus,
  RuntimeServiceClient,
  StatusResponse,
  LogLine,
} from '../lib/generated/kubemu/runtime/v1/runtime';

/** Labels the kubelet puts on sandboxes and containers, as the real kubelet does. */
export const LABEL_POD_UID = 'io.kubernetes.pod.uid';
export const LABEL_POD_NAME = 'io.kubernetes.pod.name';
export const LABEL_POD_NAMESPACE = 'io.kubernetes.pod.namespace';
export const LABEL_CONTAINER_NAME = 'io.kubernetes.container.name';

/** Most runtime calls are local and quick; stopping a container waits for its grace period on top. */
const CALL_DEADLINE_MS = 10_000;

/**
 * A runtime failure with the kubelet-facing reason the runtime put in front of its message
 * ("ErrImagePull: ...") when there is one.
 */
export class RuntimeError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly reason: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'RuntimeError';
  }

  /** The runtime did not answer (down, restarting): the node is not ready. */
  get unavailable(): boolean {
    return this.code === grpc.status.UNAVAILABLE || this.code === grpc.status.DEADLINE_EXCEEDED;
  }
}

const REASON_PREFIX = /^(ErrImagePull|ErrImageNeverPull|InvalidImageName|StartError|CreateContainerError|RunContainerError): /;

function runtimeError(err: unknown): RuntimeError {
  const e = err as grpc.ServiceError;
  const details = e.details ?? e.message ?? String(err);
  const m = REASON_PREFIX.exec(details);
  return new RuntimeError(e.code ?? grpc.status.UNKNOWN, m?.[1], m ? details.slice(m[0].length) : details);
}

/** A container instance as the kubelet needs it: the list entry and its full status. */
export interface RuntimeContainer {
  id: string;
  sandboxId: string;
  name: string;
  attempt: number;
  state: ContainerState;
  status: ContainerStatus;
}

/** Everything the runtime holds for one pod. */
export interface RuntimePod {
  sandboxes: PodSandboxStatus[];
  containers: RuntimeContainer[];
}

/**
 * Promise-based client of one runtime. Every method throws RuntimeError; calls may run
 * concurrently. close() ends every call in flight.
 */
export class RuntimeClient {
  private readonly runtime: RuntimeServiceClient;
  private readonly images: ImageServiceClient;

  constructor(readonly endpoint: string) {
    // The runtime is on this node: try to reconnect often (at most 1 s apart instead of grpc's
    // 120 s), so a runtime back from a crash is seen within a second, however long it was away.
    const options = {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
    };
    this.runtime = new RuntimeServiceClient(endpoint, grpc.credentials.createInsecure(), options);
    this.images = new ImageServiceClient(endpoint, grpc.credentials.createInsecure(), options);
  }

  close(): void {
    this.runtime.close();
    this.images.close();
  }

  private call<Req, Res>(client: grpc.Client, method: string, request: Req, deadlineMs = CALL_DEADLINE_MS): Promise<Res> {
    return new Promise((resolve, reject) => {
      const fn = (client as unknown as Record<string, Function>)[method];
      fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, res: Res) =>
        err ? reject(runtimeError(err)) : resolve(res),
      );
    });
  }

  status(): Promise<StatusResponse> {
    return this.call(this.runtime, 'status', {}, 2000);
  }

  async version(): Promise<{ runtime_name?: string; runtime_version?: string }> {
    return this.call(this.runtime, 'version', {}, 2000);
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    const res = await this.call<unknown, { pod_sandbox_id?: string }>(this.runtime, 'runPodSandbox', { config });
    return res.pod_sandbox_id ?? '';
  }

  async stopPodSandbox(id: string, graceSeconds = 10): Promise<void> {
    await this.call(this.runtime, 'stopPodSandbox', { pod_sandbox_id: id }, CALL_DEADLINE_MS + graceSeconds * 1000);
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.call(this.runtime, 'removePodSandbox', { pod_sandbox_id: id }, CALL_DEADLINE_MS + 15_000);
  }

  async podSandboxStatus(id: string): Promise<PodSandboxStatus | undefined> {
    const res = await this.call<unknown, { status?: PodSandboxStatus }>(this.runtime, 'podSandboxStatus', { pod_sandbox_id: id });
    return res.status;
  }

  async listPodSandbox(labels: Record<string, string> = {}): Promise<PodSandbox[]> {
    const res = await this.call<unknown, { items?: PodSandbox[] }>(this.runtime, 'listPodSandbox', { filter: { label_selector: labels } });
    return res.items ?? [];
  }

  async createContainer(sandboxId: string, config: ContainerConfig): Promise<string> {
    const res = await this.call<unknown, { container_id?: string }>(this.runtime, 'createContainer', { pod_sandbox_id: sandboxId, config });
    return res.container_id ?? '';
  }

  async startContainer(id: string): Promise<void> {
    await this.call(this.runtime, 'startContainer', { container_id: id });
  }

  /** Stops a container: SIGTERM, SIGKILL after graceSeconds. Resolves once it exited. */
  async stopContainer(id: string, graceSeconds: number): Promise<void> {
    await this.call(this.runtime, 'stopContainer', { container_id: id, timeout: Math.max(0, Math.floor(graceSeconds)) }, CALL_DEADLINE_MS + graceSeconds * 1000);
  }

  async removeContainer(id: string): Promise<void> {
    await this.call(this.runtime, 'removeContainer', { container_id: id });
  }

  async listContainers(labels: Record<string, string> = {}): Promise<Container[]> {
    const res = await this.call<unknown, { containers?: Container[] }>(this.runtime, 'listContainers', { filter: { label_selector: labels } });
    return res.containers ?? [];
  }

  async containerStatus(id: string): Promise<ContainerStatus | undefined> {
    const res = await this.call<unknown, { status?: ContainerStatus }>(this.runtime, 'containerStatus', { container_id: id });
    return res.status;
  }

  /** Runs a command in a running container; a non-zero exit code is a result, not an error. */
  execSync(id: string, cmd: string[], timeoutSeconds: number, stdin?: Uint8Array): Promise<ExecSyncResponse> {
    const deadline = timeoutSeconds > 0 ? timeoutSeconds * 1000 + 5000 : 24 * 3600 * 1000;
    return this.call(this.runtime, 'execSync', { container_id: id, cmd, timeout: timeoutSeconds, stdin: stdin ? Buffer.from(stdin) : Buffer.alloc(0) }, deadline);
  }

  async listContainerStats(labels: Record<string, string> = {}): Promise<ContainerStats[]> {
    const res = await this.call<unknown, { stats?: ContainerStats[] }>(this.runtime, 'listContainerStats', { filter: { label_selector: labels } });
    return res.stats ?? [];
  }

  /** Checks that `image` can be used under `policy`; returns the image id. */
  async pullImage(image: string, policy: string): Promise<string> {
    const res = await this.call<unknown, { image_ref?: string }>(this.images, 'pullImage', { image: { image }, pull_policy: policy });
    return res.image_ref ?? '';
  }

  async listImages(): Promise<{ names: string[]; sizeBytes: number }[]> {
    const res = await this.call<unknown, { images?: { repo_tags?: string[]; repo_digests?: string[]; size?: number }[] }>(this.images, 'listImages', {});
    return (res.images ?? []).map((i) => ({ names: [...(i.repo_tags ?? []), ...(i.repo_digests ?? [])], sizeBytes: Number(i.size ?? 0) }));
  }

  /** Everything the runtime holds for the pod `uid`: its sandboxes and its containers with their statuses. */
  async podState(uid: string): Promise<RuntimePod> {
    const labels = { [LABEL_POD_UID]: uid };
    const [sandboxList, containerList] = await Promise.all([this.listPodSandbox(labels), this.listContainers(labels)]);
    const [sandboxes, statuses] = await Promise.all([
      Promise.all(sandboxList.map((s) => this.podSandboxStatus(s.id ?? '').catch(() => undefined))),
      Promise.all(containerList.map((c) => this.containerStatus(c.id ?? '').catch(() => undefined))),
    ]);
    const containers: RuntimeContainer[] = [];
    containerList.forEach((c, i) => {
      const status = statuses[i];
      if (!status) return; // removed meanwhile
      containers.push({
        id: c.id ?? '',
        sandboxId: c.pod_sandbox_id ?? '',
        name: c.metadata?.name ?? c.labels?.[LABEL_CONTAINER_NAME] ?? '',
        attempt: c.metadata?.attempt ?? 0,
        state: status.state ?? ContainerState.CONTAINER_STATE_UNKNOWN,
        status,
      });
    });
    return { sandboxes: sandboxes.filter((s): s is PodSandboxStatus => !!s), containers };
  }

  /** Streams a container's log lines to `onLines`; resolves when the stream ends. `cancel` aborts it. */
  containerLogs(request: ContainerLogsRequest, onLines: (lines: LogLine[]) => void, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = this.runtime.containerLogs(request);
      const abort = () => stream.cancel();
      signal?.addEventListener('abort', abort, { once: true });
      stream.on('data', (res: { lines?: LogLine[] }) => onLines(res.lines ?? []));
      stream.on('error', (err: grpc.ServiceError) => {
        signal?.removeEventListener('abort', abort);
        if (err.code === grpc.status.CANCELLED) resolve();
        else reject(runtimeError(err));
      });
      stream.on('end', () => {
        signal?.removeEventListener('abort', abort);
        resolve();
      });
    });
  }

  /**
   * Follows container events, calling `onEvent` for each, until `signal` aborts; reconnects after
   * errors (every `retryMs`), calling `onReconnect` each time the stream is (re)established so the
   * caller can relist whatever it missed meanwhile.
   */
  followContainerEvents(onEvent: (e: ContainerEventResponse) => void, onReconnect: () => void, signal: AbortSignal, retryMs = 500): void {
    const open = () => {
      if (signal.aborted) return;
      const stream = this.runtime.getContainerEvents({});
      let retried = false;
      const retry = () => {
        if (retried) return;
        retried = true;
        signal.removeEventListener('abort', abort);
        if (!signal.aborted) setTimeout(open, retryMs).unref();
      };
      const abort = () => stream.cancel();
      signal.addEventListener('abort', abort, { once: true });
      stream.on('metadata', () => onReconnect());
      stream.on('data', onEvent);
      stream.on('error', retry);
      stream.on('end', retry);
    };
    open();
  }
}

export { ContainerState, PodSandboxState };
