/**
 * The container runtime of one node: pod sandboxes (a pod IP and a folder) and containers (one
 * host process group each, started from a catalog image), their logs, exec, stats and lifecycle
 * events. The gRPC layer (grpc-service.ts) validates requests and maps errors; this class holds
 * the state and owns every container process. See docs/runtime.md for how containers run.
 */
import { ChildProcess, spawn } from 'child_process';
import { randomBytes } from 'crypto';
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Logger } from '../lib/log';
import { MountSpec, containerEnv, pathMapper } from './container-env';
import { runtimeErrors, RuntimeError } from './errors';
import { ExecutableNotFoundError, ImageCatalog } from './images/catalog';
import { ContainerLogWriter, LogEntry, LogQuery, nowMicros, readLogFile } from './logs';
import { PodIPAllocator } from './network/ipam';
import { GroupUsage, groupUsageOf, killLeftoverGroup, readStat, scanGroups, signalGroup } from './procfs';
import { ContainerRecord, ContainerState, SandboxRecord, SandboxState, StateStore } from './state';

export type ContainerEventType = 'CREATED' | 'STARTED' | 'STOPPED' | 'DELETED';

export interface ContainerEvent {
  containerId: string;
  type: ContainerEventType;
  /** Unix microseconds. */
  createdAt: number;
  sandboxId: string;
  podUid: string;
}

export interface RuntimeOptions {
  /** State folder: state.json, pods/, logs/, network/. */
  root: string;
  nodeName: string;
  /** The node's pod range; default podCIDRForNode(nodeIndex). */
  podCIDR?: string;
  nodeIndex?: number;
  catalog?: ImageCatalog;
  log: Logger;
  /** Path of setpriv, or null to start containers without it. Default: /usr/bin/setpriv if present. */
  setpriv?: string | null;
  /** How often memory limits are checked. Default 300 ms. */
  oomCheckIntervalMs?: number;
  /** SIGTERM-to-SIGKILL grace when a sandbox is stopped and its containers had no StopContainer. Default 10 s. */
  defaultStopTimeoutSeconds?: number;
}

export interface SandboxConfig {
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  hostname: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface ContainerConfig {
  name: string;
  attempt: number;
  image: string;
  imagePullPolicy: string;
  command: string[];
  args: string[];
  workingDir: string;
  envs: { key: string; value: string }[];
  mounts: MountSpec[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  memoryLimitBytes: number;
  cpuLimitMillicores: number;
}

export interface SandboxFilter {
  id?: string;
  state?: SandboxState;
  labelSelector?: Record<string, string>;
}

export interface ContainerFilter {
  id?: string;
  state?: ContainerState;
  sandboxId?: string;
  labelSelector?: Record<string, string>;
}

export interface ContainerStatsSample {
  container: ContainerRecord;
  /** Unix microseconds of the sample. */
  timestamp: number;
  cpuUsageCoreNanoSeconds: number;
  cpuUsageNanoCores: number;
  memoryRssBytes: number;
}

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

/** Output of an exec beyond this is dropped (CRI's ExecSync limit). */
const EXEC_OUTPUT_LIMIT = 16 * 1024 * 1024;
/** How long to wait for a dead container's pipes to drain (a process that left the group may hold them). */
const PIPE_DRAIN_MS = 2000;
/** Every how many memory checks one is a full /proc pass (with the 300 ms default: about every 2 s). */
const FULL_SCAN_EVERY = 7;

/** A running container's process and what the runtime keeps about it. */
interface LiveContainer {
  child: ChildProcess;
  pgid: number;
  writer: ContainerLogWriter;
  exited: Promise<void>;
  termSent: boolean;
  killAt?: number;
  killTimer?: NodeJS.Timeout;
  oomKilled: boolean;
  lastCpu?: { atMicros: number; usageNs: number };
}

function newId(): string {
  return randomBytes(32).toString('hex');
}

function matchesLabels(labels: Record<string, string>, selector: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The exit code a shell would report: the code, or 128 + the signal's number. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal) return 128 + (os.constants.signals[signal] ?? 0);
  return code ?? 255;
}

/**
 * One node's runtime. Methods may be called concurrently (they are the gRPC handlers); every
 * state change is persisted before the method returns. Throws RuntimeError, the catalog's image
 * errors and PodIPExhaustedError; anything else is a bug.
 */
export class ContainerRuntime {
  readonly podCIDR: string;
  readonly nodeName: string;
  private readonly root: string;
  private readonly log: Logger;
  private readonly catalog: ImageCatalog;
  private readonly ipam: PodIPAllocator;
  private readonly store: StateStore;
  private readonly setpriv: string | null;
  private readonly oomCheckIntervalMs: number;
  private readonly defaultStopTimeoutSeconds: number;
  private readonly sandboxes = new Map<string, SandboxRecord>();
  private readonly containers = new Map<string, ContainerRecord>();
  private readonly live = new Map<string, LiveContainer>();
  private readonly events = new EventEmitter();
  private oomTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> | undefined;
  private shuttingDown = false;
  /** Members of limited containers' groups as the last full /proc pass found them. */
  private readonly knownMembers = new Map<number, number[]>();
  private memoryChecks = 0;
  /** Last CPU totals of exited containers, for stats after exit. */
  private readonly finalCpu = new Map<string, number>();

  /**
   * Opens the runtime's state under `root` (creating it): loads the records of an earlier
   * instance, reports every container that was running as EXITED (exit code 255, reason Error,
   * "container runtime restarted") and kills what is left of its process group. Throws on an
   * unusable root or pod range.
   */
  constructor(opts: RuntimeOptions) {
    this.root = path.resolve(opts.root);
    this.nodeName = opts.nodeName;
    this.log = opts.log;
    this.catalog = opts.catalog ?? new ImageCatalog();
    this.setpriv = opts.setpriv !== undefined ? opts.setpriv : fs.existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : null;
    this.oomCheckIntervalMs = opts.oomCheckIntervalMs ?? 300;
    this.defaultStopTimeoutSeconds = opts.defaultStopTimeoutSeconds ?? 10;
    fs.mkdirSync(this.root, { recursive: true });
    this.ipam = new PodIPAllocator({ stateDir: path.join(this.root, 'network'), podCIDR: opts.podCIDR, nodeIndex: opts.nodeIndex ?? 0 });
    this.podCIDR = this.ipam.podCIDR;
    this.store = new StateStore(this.root);
    this.events.setMaxListeners(0);
    this.recover();
  }

  private recover(): void {
    const { sandboxes, containers } = this.store.load((err, movedTo) => this.log.error('state file is corrupt; starting empty', { err: err.message, movedTo }));
    for (const s of sandboxes) this.sandboxes.set(s.id, s);
    const now = nowMicros();
    let killed = 0;
    for (const c of containers) {
      if (c.state === 'RUNNING') {
        killed += killLeftoverGroup(c.pgid || c.pid, c.procStartTime);
        Object.assign(c, { state: 'EXITED', exitCode: 255, reason: 'Error', message: 'container runtime restarted', finishedAt: now, pid: 0, pgid: 0 });
      }
      this.containers.set(c.id, c);
    }
    // An IP allocated just before a crash, whose sandbox was never saved, goes back to the range.
    const readyUids = new Set([...this.sandboxes.values()].filter((s) => s.state === 'READY').map((s) => s.uid));
    for (const uid of this.ipam.allocations().keys()) if (!readyUids.has(uid)) this.ipam.release(uid);
    for (const s of this.sandboxes.values()) if (s.state === 'READY') s.ip = this.ipam.allocate(s.uid);
    this.persist();
    if (sandboxes.length || containers.length) {
      this.log.info('state recovered', { sandboxes: sandboxes.length, containers: containers.length, leftoverProcessesKilled: killed });
    }
  }

  /** Starts the memory-limit monitor. Call once. */
  start(): void {
    this.oomTimer = setInterval(() => this.checkMemoryLimits(), this.oomCheckIntervalMs);
    this.oomTimer.unref();
  }

  /**
   * Kills every container process group (SIGKILL) and saves the state: containers die with the
   * runtime, and the next instance reports them EXITED. Ends event subscriptions. Idempotent.
   */
  shutdown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    if (this.oomTimer) clearInterval(this.oomTimer);
    for (const l of this.live.values()) {
      if (l.killTimer) clearTimeout(l.killTimer);
      signalGroup(l.pgid, 'SIGKILL');
    }
    this.persist();
    this.events.emit('shutdown');
  }

  // ------------------------------------------------------------------ events

  /** Calls `listener` for every container event from now on, until the returned function is called. */
  subscribe(listener: (e: ContainerEvent) => void, onShutdown?: () => void): () => void {
    this.events.on('event', listener);
    if (onShutdown) this.events.on('shutdown', onShutdown);
    return () => {
      this.events.off('event', listener);
      if (onShutdown) this.events.off('shutdown', onShutdown);
    };
  }

  private emitEvent(type: ContainerEventType, c: ContainerRecord): void {
    const e: ContainerEvent = { containerId: c.id, type, createdAt: nowMicros(), sandboxId: c.sandboxId, podUid: c.podUid };
    // One subscriber's failure must not reach the process-exit path that emits (and crash the
    // runtime, taking every container with it).
    for (const listener of this.events.listeners('event') as ((e: ContainerEvent) => void)[]) {
      try {
        listener(e);
      } catch (err) {
        this.log.warn('container event subscriber failed', { err: (err as Error).message });
      }
    }
  }

  // ------------------------------------------------------------------ persistence

  /** Writes state.json now (synchronously). A failed write is logged; the runtime goes on. */
  private persist(): void {
    this.saving = undefined;
    try {
      this.store.save(this.sandboxes.values(), this.containers.values());
    } catch (err) {
      this.log.error('saving state failed', { err: (err as Error).message });
    }
  }

  /**
   * Resolves once every change made before the call is on disk. Changes made in one tick (a burst
   * of pod starts, many exits) share one write of the file instead of one each.
   */
  private saved(): Promise<void> {
    this.saving ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.persist();
        resolve();
      }),
    );
    return this.saving;
  }

  // ------------------------------------------------------------------ sandboxes

  /** The sandbox of pod `config.uid` and attempt `config.attempt`, created if new (IP allocated, folder made). Idempotent. */
  async runPodSandbox(config: SandboxConfig): Promise<string> {
    for (const s of this.sandboxes.values()) {
      if (s.uid === config.uid && s.attempt === config.attempt) {
        await this.saved();
        return s.id;
      }
    }
    const ip = this.ipam.allocate(config.uid);
    const podDir = path.join(this.root, 'pods', config.uid);
    fs.mkdirSync(podDir, { recursive: true });
    const record: SandboxRecord = {
      id: newId(),
      name: config.name,
      namespace: config.namespace,
      uid: config.uid,
      attempt: config.attempt,
      hostname: config.hostname || config.name,
      labels: config.labels,
      annotations: config.annotations,
      createdAt: nowMicros(),
      state: 'READY',
      ip,
      podDir,
    };
    this.sandboxes.set(record.id, record);
    await this.saved();
    this.log.info('pod sandbox created', { pod: `${config.namespace}/${config.name}`, uid: config.uid, attempt: config.attempt, ip, sandbox: record.id.slice(0, 12) });
    return record.id;
  }

  /** Stops the sandbox's running containers (SIGTERM, SIGKILL after their grace) and releases its IP. Idempotent; throws NotFound. */
  async stopPodSandbox(id: string): Promise<void> {
    const sb = this.sandboxOrThrow(id);
    const running = [...this.containers.values()].filter((c) => c.sandboxId === id && this.live.has(c.id));
    await Promise.all(running.map((c) => this.stopContainer(c.id, c.lastStopTimeoutSeconds ?? this.defaultStopTimeoutSeconds)));
    if (sb.state === 'READY') {
      sb.state = 'NOTREADY';
      sb.ip = '';
      this.releaseIPIfUnused(sb.uid);
      await this.saved();
      this.log.info('pod sandbox stopped', { pod: `${sb.namespace}/${sb.name}`, sandbox: id.slice(0, 12) });
    }
  }

  /** Removes the sandbox, its containers (killed first) and, when no other sandbox of the pod remains, its folder. Idempotent. */
  async removePodSandbox(id: string): Promise<void> {
    const sb = this.sandboxes.get(id);
    if (!sb) return;
    const own = [...this.containers.values()].filter((c) => c.sandboxId === id);
    await Promise.all(own.filter((c) => this.live.has(c.id)).map((c) => this.stopContainer(c.id, 0)));
    for (const c of own) this.forgetContainer(c);
    this.sandboxes.delete(id);
    this.releaseIPIfUnused(sb.uid);
    const others = [...this.sandboxes.values()].some((s) => s.uid === sb.uid);
    if (!others) {
      fs.rmSync(sb.podDir, { recursive: true, force: true });
      fs.rmSync(this.podLogDir(sb), { recursive: true, force: true });
    }
    await this.saved();
    this.log.info('pod sandbox removed', { pod: `${sb.namespace}/${sb.name}`, sandbox: id.slice(0, 12) });
  }

  /** Throws NotFound. */
  podSandboxStatus(id: string): SandboxRecord {
    return this.sandboxOrThrow(id);
  }

  listPodSandbox(filter: SandboxFilter = {}): SandboxRecord[] {
    return [...this.sandboxes.values()].filter(
      (s) => (!filter.id || s.id === filter.id) && (!filter.state || s.state === filter.state) && matchesLabels(s.labels, filter.labelSelector),
    );
  }

  private sandboxOrThrow(id: string): SandboxRecord {
    const sb = this.sandboxes.get(id);
    if (!sb) throw runtimeErrors.sandboxNotFound(id);
    return sb;
  }

  /** Releases the pod's IP unless another ready sandbox of the same pod still uses it. */
  private releaseIPIfUnused(uid: string): void {
    if (![...this.sandboxes.values()].some((s) => s.uid === uid && s.state === 'READY')) this.ipam.release(uid);
  }

  private podLogDir(sb: SandboxRecord): string {
    return path.join(this.root, 'logs', `${sb.namespace}_${sb.name}_${sb.uid}`);
  }

  // ------------------------------------------------------------------ containers

  /**
   * Creates a container in a READY sandbox: resolves image and command (path mapping applied
   * first), computes env and working directory, and records it CREATED. A missing executable does
   * not fail here: StartContainer then fails with StartError, as containerd does. Throws NotFound,
   * FailedPrecondition (sandbox not ready), AlreadyExists (same name and attempt in the sandbox),
   * InvalidImageNameError or ImagePullError.
   */
  async createContainer(sandboxId: string, config: ContainerConfig): Promise<string> {
    const sb = this.sandboxOrThrow(sandboxId);
    if (sb.state !== 'READY') throw runtimeErrors.precondition(`pod sandbox ${sandboxId} is not ready`);
    for (const c of this.containers.values()) {
      if (c.sandboxId === sandboxId && c.name === config.name && c.attempt === config.attempt) {
        throw new RuntimeError('AlreadyExists', `container "${config.name}" attempt ${config.attempt} already exists in pod sandbox ${sandboxId} as ${c.id}`);
      }
    }
    const map = pathMapper(config.mounts);
    let startError: string | undefined;
    let executable = '';
    let args: string[] = [];
    let imageEnv: Record<string, string> = {};
    let imageRef: string;
    try {
      const resolved = this.catalog.resolve(config.image, { command: config.command.map(map), args: config.args.map(map) }, config.imagePullPolicy || 'IfNotPresent');
      ({ executable, args } = resolved);
      imageEnv = resolved.env;
      imageRef = resolved.image.id;
    } catch (err) {
      if (!(err instanceof ExecutableNotFoundError)) throw err;
      startError = err.message;
      const info = this.catalog.pull(config.image, config.imagePullPolicy || 'IfNotPresent');
      imageRef = info.id;
      imageEnv = { PATH: process.env.PATH ?? '', ...(this.catalog.find(config.image)?.env ?? {}) };
    }
    const containerDir = path.join(sb.podDir, 'containers', config.name);
    let cwd = containerDir;
    if (config.workingDir) {
      const mapped = map(config.workingDir);
      cwd = mapped !== config.workingDir ? mapped : path.join(containerDir, 'rootfs', path.resolve('/', config.workingDir));
    }
    try {
      fs.mkdirSync(containerDir, { recursive: true });
      fs.mkdirSync(cwd, { recursive: true });
    } catch (err) {
      startError ??= `failed to create containerd task: failed to create shim task: OCI runtime create failed: chdir to cwd ("${config.workingDir}") set in config.json failed: ${(err as Error).message}`;
    }
    const id = newId();
    let logPath = path.join(this.podLogDir(sb), config.name, `${config.attempt}.log`);
    // A container of an earlier sandbox of the pod may still hold that name: each instance keeps its own log.
    if ([...this.containers.values()].some((c) => c.logPath === logPath)) logPath = logPath.replace(/\.log$/, `-${id.slice(0, 12)}.log`);
    fs.mkdirSync(path.dirname(logPath), { recursive: true });
    const env = containerEnv({ imageEnv, envs: config.envs, podIP: sb.ip, hostname: sb.hostname, podDir: sb.podDir, containerDir, mounts: config.mounts });
    const record: ContainerRecord = {
      id,
      sandboxId,
      podUid: sb.uid,
      name: config.name,
      attempt: config.attempt,
      image: config.image,
      imageRef,
      labels: config.labels,
      annotations: config.annotations,
      state: 'CREATED',
      createdAt: nowMicros(),
      startedAt: 0,
      finishedAt: 0,
      exitCode: 0,
      reason: '',
      message: '',
      logPath,
      executable,
      args,
      env,
      cwd,
      mounts: config.mounts,
      memoryLimitBytes: config.memoryLimitBytes,
      cpuLimitMillicores: config.cpuLimitMillicores,
      startError,
      pid: 0,
      pgid: 0,
      procStartTime: 0,
    };
    this.containers.set(record.id, record);
    this.emitEvent('CREATED', record);
    await this.saved();
    return record.id;
  }

  /**
   * Starts a CREATED container's process in its own process group (under setpriv --pdeathsig
   * SIGKILL, so it dies with the runtime) and resolves once it runs. Throws NotFound,
   * FailedPrecondition (not CREATED, sandbox not ready) or a "StartError: ..." FailedPrecondition,
   * after which the container is EXITED with exit code 128 and reason StartError.
   */
  async startContainer(id: string): Promise<void> {
    const c = this.containerOrThrow(id);
    if (c.state !== 'CREATED') throw runtimeErrors.precondition(`container ${id} is ${c.state}, not CREATED`);
    const sb = this.sandboxOrThrow(c.sandboxId);
    if (sb.state !== 'READY') throw runtimeErrors.precondition(`pod sandbox ${c.sandboxId} of container ${id} is not ready`);
    if (c.startError) this.failStart(c, c.startError);
    let writer: ContainerLogWriter;
    try {
      fs.mkdirSync(path.dirname(c.logPath), { recursive: true });
      writer = new ContainerLogWriter(c.logPath);
    } catch (err) {
      this.failStart(c, `failed to open log ${c.logPath}: ${(err as Error).message}`);
    }
    const file = this.setpriv ?? c.executable;
    const argv = this.setpriv ? ['--pdeathsig', 'SIGKILL', '--', c.executable, ...c.args] : c.args;
    let child: ChildProcess;
    try {
      child = spawn(file, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: c.env, cwd: c.cwd });
    } catch (err) {
      writer.close();
      this.failStart(c, `failed to start ${c.executable}: ${(err as Error).message}`);
    }
    if (child.pid === undefined) {
      // spawn reports ENOENT/EACCES/bad cwd asynchronously, before 'spawn'.
      const err = await new Promise<Error>((resolve) => child.once('error', resolve));
      writer.close();
      this.failStart(c, `failed to start ${c.executable}: ${err.message}`);
    }
    const pid = child.pid;
    child.on('error', (err) => this.log.warn('container process error', { container: id.slice(0, 12), err: err.message }));
    const live: LiveContainer = { child, pgid: pid, writer, exited: Promise.resolve(), termSent: false, oomKilled: false };
    live.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => this.onProcessExit(c, live, code, signal).then(resolve));
    });
    writer.follow('stdout', child.stdout!);
    writer.follow('stderr', child.stderr!);
    this.live.set(id, live);
    c.pid = pid;
    c.pgid = pid;
    c.procStartTime = readStat(pid)?.startTime ?? 0;
    c.state = 'RUNNING';
    c.startedAt = nowMicros();
    this.emitEvent('STARTED', c);
    this.log.info('container started', { container: id.slice(0, 12), name: c.name, pid, sandbox: c.sandboxId.slice(0, 12) });
    await this.saved();
  }

  /** Records a start failure (EXITED, 128, StartError) and throws it. */
  private failStart(c: ContainerRecord, message: string): never {
    const now = nowMicros();
    Object.assign(c, { state: 'EXITED', exitCode: 128, reason: 'StartError', message, startedAt: 0, finishedAt: now, pid: 0, pgid: 0 });
    this.persist();
    this.emitEvent('STOPPED', c);
    throw runtimeErrors.startError(message);
  }

  /** The container's init process exited: the rest of its group dies with it, as in a PID namespace. */
  private async onProcessExit(c: ContainerRecord, live: LiveContainer, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    signalGroup(live.pgid, 'SIGKILL');
    this.knownMembers.delete(live.pgid);
    if (live.killTimer) clearTimeout(live.killTimer);
    if (!live.writer.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, PIPE_DRAIN_MS);
        live.writer.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      live.writer.close();
    }
    if (this.shuttingDown) return;
    const last = live.lastCpu?.usageNs;
    if (last !== undefined) this.finalCpu.set(c.id, last);
    let exitCode = exitCodeOf(code, signal);
    let reason = exitCode === 0 ? 'Completed' : 'Error';
    let message = '';
    if (live.oomKilled) {
      exitCode = 137;
      reason = 'OOMKilled';
      message = `memory limit of ${c.memoryLimitBytes} bytes exceeded`;
    }
    Object.assign(c, { state: 'EXITED', exitCode, reason, message, finishedAt: nowMicros(), pid: 0, pgid: 0 });
    this.live.delete(c.id);
    void this.saved();
    this.emitEvent('STOPPED', c);
    this.log.info('container exited', { container: c.id.slice(0, 12), name: c.name, exitCode, reason, signal });
  }

  /**
   * SIGTERM to the container's process group, SIGKILL after `timeoutSeconds` (at once when ≤ 0);
   * resolves once it has exited. A second call can only bring the SIGKILL closer. A container
   * that is not running is left as it is. Throws NotFound.
   */
  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    const c = this.containerOrThrow(id);
    const live = this.live.get(id);
    if (!live) return;
    c.lastStopTimeoutSeconds = Math.max(0, timeoutSeconds);
    const killAt = Date.now() + Math.max(0, timeoutSeconds) * 1000;
    if (timeoutSeconds <= 0) {
      signalGroup(live.pgid, 'SIGKILL');
    } else {
      if (!live.termSent) {
        live.termSent = true;
        signalGroup(live.pgid, 'SIGTERM');
      }
      if (live.killAt === undefined || killAt < live.killAt) {
        live.killAt = killAt;
        if (live.killTimer) clearTimeout(live.killTimer);
        live.killTimer = setTimeout(() => signalGroup(live.pgid, 'SIGKILL'), killAt - Date.now());
      }
    }
    await live.exited;
  }

  /** Removes an exited or created container and its log. Idempotent; throws FailedPrecondition while it runs. */
  async removeContainer(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (!c) return;
    if (this.live.has(id)) throw runtimeErrors.precondition(`container ${id} is running; stop it before removing it`);
    this.forgetContainer(c);
    await this.saved();
  }

  private forgetContainer(c: ContainerRecord): void {
    this.containers.delete(c.id);
    this.finalCpu.delete(c.id);
    fs.rmSync(c.logPath, { force: true });
    this.emitEvent('DELETED', c);
  }

  /** Throws NotFound. */
  containerStatus(id: string): ContainerRecord {
    return this.containerOrThrow(id);
  }

  listContainers(filter: ContainerFilter = {}): ContainerRecord[] {
    return [...this.containers.values()].filter(
      (c) =>
        (!filter.id || c.id === filter.id) &&
        (!filter.state || c.state === filter.state) &&
        (!filter.sandboxId || c.sandboxId === filter.sandboxId) &&
        matchesLabels(c.labels, filter.labelSelector),
    );
  }

  private containerOrThrow(id: string): ContainerRecord {
    const c = this.containers.get(id);
    if (!c) throw runtimeErrors.containerNotFound(id);
    return c;
  }

  /** The sandbox record of a container (for the pod IP, folder). */
  sandboxOf(c: ContainerRecord): SandboxRecord | undefined {
    return this.sandboxes.get(c.sandboxId);
  }

  // ------------------------------------------------------------------ logs

  /**
   * The container's log entries so far that `query` selects, and — when it is running and `follow`
   * is set — a subscription to the ones to come: `onEntries` is called with each new batch and
   * `onEnd` once the container exited and its output is drained. The caller must call the
   * returned `cancel` when it stops listening. Throws NotFound.
   */
  readLog(
    id: string,
    query: LogQuery,
    follow: boolean,
    onEntries: (e: LogEntry[]) => void,
    onEnd: () => void,
  ): { existing: LogEntry[]; cancel: () => void; following: boolean } {
    const c = this.containerOrThrow(id);
    const live = this.live.get(id);
    const writer = follow && live && !live.writer.closed ? live.writer : undefined;
    // Reading the file and subscribing happen in one tick, and writes are synchronous: nothing is missed or repeated.
    let existing: LogEntry[];
    try {
      existing = readLogFile(c.logPath, query);
    } catch (err) {
      this.log.warn('reading a container log failed', { container: id.slice(0, 12), err: (err as Error).message });
      existing = [];
    }
    if (!writer) return { existing, cancel: () => undefined, following: false };
    const onClose = () => onEnd();
    writer.on('entries', onEntries);
    writer.once('close', onClose);
    return {
      existing,
      following: true,
      cancel: () => {
        writer.off('entries', onEntries);
        writer.off('close', onClose);
      },
    };
  }

  // ------------------------------------------------------------------ exec

  /**
   * Runs `cmd` the way the container runs: argv mapped through its mounts and resolved through
   * its image, with its env and working directory, in a process group of its own (dying with the
   * runtime). A command that cannot be found answers exit code 126 with the reason on stderr, as
   * runc does. Throws NotFound, FailedPrecondition (not running) or DeadlineExceeded (after
   * `timeoutSeconds` > 0; the command is killed). An aborted `signal` kills the command too.
   */
  async execSync(id: string, cmd: string[], timeoutSeconds: number, stdin: Buffer, signal?: AbortSignal): Promise<ExecResult> {
    const c = this.containerOrThrow(id);
    if (c.state !== 'RUNNING') throw runtimeErrors.precondition(`container ${id} is not running (${c.state})`);
    const map = pathMapper(c.mounts);
    let executable: string;
    let args: string[];
    try {
      ({ executable, args } = this.catalog.resolve(c.image, { command: cmd.map(map) }, 'IfNotPresent'));
    } catch (err) {
      if (!(err instanceof ExecutableNotFoundError)) throw err;
      const msg = `OCI runtime exec failed: exec failed: unable to start container process: exec: "${cmd[0]}": executable file not found in $PATH: unknown\n`;
      return { stdout: Buffer.alloc(0), stderr: Buffer.from(msg), exitCode: 126 };
    }
    const file = this.setpriv ?? executable;
    const argv = this.setpriv ? ['--pdeathsig', 'SIGKILL', '--', executable, ...args] : args;
    const child = spawn(file, argv, { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: c.env, cwd: c.cwd });
    const collect = (s: NodeJS.ReadableStream | null) => {
      const chunks: Buffer[] = [];
      let size = 0;
      s?.on('data', (d: Buffer) => {
        if (size >= EXEC_OUTPUT_LIMIT) return;
        chunks.push(d.subarray(0, EXEC_OUTPUT_LIMIT - size));
        size += d.length;
      });
      return () => Buffer.concat(chunks);
    };
    const stdout = collect(child.stdout);
    const stderr = collect(child.stderr);
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stdin);
    let timedOut = false;
    const timer =
      timeoutSeconds > 0
        ? setTimeout(() => {
            timedOut = true;
            if (child.pid) signalGroup(child.pid, 'SIGKILL');
          }, timeoutSeconds * 1000)
        : undefined;
    const onAbort = () => child.pid && signalGroup(child.pid, 'SIGKILL');
    signal?.addEventListener('abort', onAbort);
    const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | Error>((resolve) => {
      child.once('error', resolve);
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    if (timer) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    if (!(result instanceof Error)) {
      // The command's own background processes do not outlive it; then its pipes drain.
      if (child.pid) signalGroup(child.pid, 'SIGKILL');
      if (child.stdout?.readableEnded === false || child.stderr?.readableEnded === false) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, PIPE_DRAIN_MS);
          child.once('close', () => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    }
    if (result instanceof Error) {
      return { stdout: Buffer.alloc(0), stderr: Buffer.from(`OCI runtime exec failed: ${result.message}\n`), exitCode: 126 };
    }
    if (timedOut) throw new RuntimeError('DeadlineExceeded', `command ${JSON.stringify(cmd)} timed out after ${timeoutSeconds}s`);
    return { stdout: stdout(), stderr: stderr(), exitCode: exitCodeOf(result.code, result.signal) };
  }

  // ------------------------------------------------------------------ stats and memory limits

  /** CPU and memory of the containers `filter` selects (non-running ones report no memory). */
  stats(filter: ContainerFilter = {}): ContainerStatsSample[] {
    const selected = this.listContainers(filter);
    const pgids = new Set<number>();
    for (const c of selected) {
      const l = this.live.get(c.id);
      if (l) pgids.add(l.pgid);
    }
    const usage = scanGroups(pgids);
    const now = nowMicros();
    return selected.map((c) => {
      const l = this.live.get(c.id);
      if (!l) return { container: c, timestamp: now, cpuUsageCoreNanoSeconds: this.finalCpu.get(c.id) ?? 0, cpuUsageNanoCores: 0, memoryRssBytes: 0 };
      return this.sample(c, l, usage.get(l.pgid), now);
    });
  }

  private sample(c: ContainerRecord, l: LiveContainer, g: GroupUsage | undefined, now: number): ContainerStatsSample {
    // Members that exit unwaited take their CPU time with them: never report less than before.
    const usageNs = Math.max(g?.cpuNanos ?? 0, l.lastCpu?.usageNs ?? 0);
    const since = l.lastCpu ?? { atMicros: c.startedAt, usageNs: 0 };
    const dtNs = (now - since.atMicros) * 1000;
    // CPU nanoseconds per wall nanosecond, in nanocores (1e9 = one core busy).
    const nanoCores = dtNs > 0 ? Math.max(0, Math.round(((usageNs - since.usageNs) / dtNs) * 1e9)) : 0;
    l.lastCpu = { atMicros: now, usageNs };
    return { container: c, timestamp: now, cpuUsageCoreNanoSeconds: Math.round(usageNs), cpuUsageNanoCores: nanoCores, memoryRssBytes: g?.rssBytes ?? 0 };
  }

  /**
   * Checks every running container with a memory limit; a group over its limit is SIGKILLed
   * (OOMKilled). Every FULL_SCAN_EVERY-th check is one /proc pass for all of them, which also
   * learns each group's members; the checks between read only those members (and the leader), so
   * a child forked since the last full pass counts from the next one (within ~2 s).
   */
  private checkMemoryLimits(): void {
    const limited = new Map<number, { c: ContainerRecord; l: LiveContainer }>();
    for (const [id, l] of this.live) {
      const c = this.containers.get(id);
      if (c && c.memoryLimitBytes > 0 && !l.oomKilled) limited.set(l.pgid, { c, l });
    }
    if (limited.size === 0) return;
    let usage: Map<number, GroupUsage>;
    if (this.memoryChecks++ % FULL_SCAN_EVERY === 0) {
      usage = scanGroups(new Set(limited.keys()));
      for (const pgid of limited.keys()) this.knownMembers.set(pgid, usage.get(pgid)?.pids ?? []);
    } else {
      usage = new Map();
      for (const pgid of limited.keys()) usage.set(pgid, groupUsageOf(pgid, [pgid, ...(this.knownMembers.get(pgid) ?? [])]));
    }
    for (const [pgid, { c, l }] of limited) {
      const rss = usage.get(pgid)?.rssBytes ?? 0;
      if (rss <= c.memoryLimitBytes) continue;
      l.oomKilled = true;
      signalGroup(pgid, 'SIGKILL');
      this.log.warn('container over its memory limit; killed', { container: c.id.slice(0, 12), name: c.name, rssBytes: rss, limitBytes: c.memoryLimitBytes });
    }
  }
}
