/**
 * The kubelet's pod lifecycle (pkg/kubelet: pod workers, syncPod, the status manager and PLEG in
 * one place): follows this node's pods through an informer and brings each one, through the
 * container runtime, to what its spec asks for. One pod is synced by one worker at a time (the
 * work queue is keyed by pod uid); a sync reads the runtime, acts, and writes the pod status when
 * it changed. Syncs are triggered by pod changes, by runtime container events (a container
 * exited), by probe results, by backoff timers, and periodically.
 */
import { NatsConnection } from 'nats';
import { ApiClient } from '../lib/apiclient';
import { isReason } from '../lib/errors';
import { EventRecorder, EventType } from '../lib/events';
import { Container, Pod, PodStatus } from '../lib/generated/kubemu/core/v1/core';
import { Informer } from '../lib/informer';
import { Logger } from '../lib/log';
import { resourceForCase } from '../lib/resources';
import { Timings } from '../lib/config';
import { WorkQueue, runWorkers } from '../lib/workqueue';
import { Backoff } from './backoff';
import { CreateContainerConfigError, makeEnvironment } from './envvars';
import { WaitingReason, computePodStatus, instancesByName, statusChanged } from './podstatus';
import { serviceEnvFor } from './serviceenv';
import { containerCpuLimitMillis, containerMemoryLimitBytes, podRequests } from './resources';
import { parseQuantity } from '../lib/quantity';
import {
  ContainerState,
  LABEL_CONTAINER_NAME,
  LABEL_POD_NAME,
  LABEL_POD_NAMESPACE,
  LABEL_POD_UID,
  PodSandboxState,
  RuntimeClient,
  RuntimeContainer,
  RuntimeError,
  RuntimePod,
} from './runtime';
import { PreparedVolumes, VolumeSetupError, prepareVolumes } from './volumes';
import { PodSandboxStatus } from '../lib/generated/kubemu/runtime/v1/runtime';
import { LifecycleHandler } from '../lib/generated/kubemu/core/v1/core';
import { runProbe } from './prober';
import { DnsConfig, formatResolvConf, parseResolvConf, podDnsConfig, podHostnameAndDomain, podHostsFile } from './dns';
import * as fs from 'fs';
import * as path from 'path';

const POD = resourceForCase('pod');
const CONFIGMAP = resourceForCase('configMap');
const SECRET = resourceForCase('secret');
const PVC = resourceForCase('persistentVolumeClaim');
const PV = resourceForCase('persistentVolume');
const SERVICE = resourceForCase('service');

/** What the kubelet needs from its probes (services/kubelet/prober). */
export interface PodProbes {
  /** Tells the probes which container instances of the pod run now (and with which IP). */
  sync(pod: Pod, podIP: string, running: Map<string, { id: string; startedAtMs: number }>): void;
  removePod(uid: string): void;
  ready(uid: string, containerName: string, containerId: string): boolean;
  started(uid: string, containerName: string, containerId: string): boolean;
  /** Why a running instance must be restarted (liveness or startup probe failed), if it must. */
  restartReason(uid: string, containerName: string, containerId: string): string | undefined;
  stop?(): void;
}

/** Probes for pods without probes: every running container is started and ready. */
export const NO_PROBES: PodProbes = {
  sync: () => undefined,
  removePod: () => undefined,
  ready: () => true,
  started: () => true,
  restartReason: () => undefined,
};

export interface KubeletOptions {
  client: ApiClient;
  nats: NatsConnection;
  runtime: RuntimeClient;
  nodeName: string;
  nodeIP: string;
  timings: Timings;
  log: Logger;
  /** Node allocatable (cpu, memory, pods): admission and resourceFieldRef of unset limits. */
  nodeAllocatable?: Record<string, string>;
  /** Builds the probes once the kubelet can run commands and record events. Default: none. */
  probes?: (deps: { exec: (containerId: string, cmd: string[], timeoutSeconds: number) => Promise<{ exitCode: number; stdout: string; stderr: string }>; recordEvent: (pod: Pod, type: EventType, reason: string, message: string) => void; onChange: (uid: string) => void }) => PodProbes;
  /** Concurrent pod syncs (default 16); a pod being terminated holds one for its grace period. */
  workers?: number;
  /** Every pod is synced at least this often (default 10 s). */
  resyncMs?: number;
  /** How often the runtime is checked for pods the kubelet no longer knows (default 2 s). */
  housekeepingMs?: number;
  /**
   * Pods' name resolution: the cluster DNS addresses (empty: ClusterFirst falls back to Default),
   * the cluster domain, and the node's resolv.conf and hosts file (defaults /etc/resolv.conf and
   * /etc/hosts; an empty hostResolvConf means the node has none). Default: no cluster DNS,
   * cluster.local.
   */
  dns?: { clusterDNS: string[]; clusterDomain: string; hostResolvConf?: string; hostHostsFile?: string };
}

/** A pod the kubelet no longer sees in the API, but whose containers may still run. */
interface PodMemory {
  firstSeen: number;
  waiting: Map<string, WaitingReason>;
  pullFailedAt: Map<string, number>;
  failure?: { reason: string; message: string };
  /** Passed admission (or found running): counts against the node's allocatable. */
  admitted?: boolean;
  /** The pod's resolv.conf and hosts file (host paths), written for this sandbox. */
  dnsFiles?: { sandboxId: string; resolvConf: string; hosts: string };
}

const DEFAULT_GRACE_SECONDS = 30;

/**
 * One node's kubelet. start() resolves once the informers synced and the workers run; stop()
 * stops syncing (containers keep running: they belong to the runtime).
 */
export class Kubelet {
  readonly pods: Informer<'pod'>;
  private readonly configMaps: Informer<'configMap'>;
  private readonly secrets: Informer<'secret'>;
  private readonly pvcs: Informer<'persistentVolumeClaim'>;
  private readonly pvs: Informer<'persistentVolume'>;
  /** For the Service environment variables of containers (Services that exist when they start). */
  private readonly services: Informer<'service'>;
  private readonly queue = new WorkQueue<string>({ baseDelayMs: 200, maxDelayMs: 10_000 });
  private readonly byUid = new Map<string, Pod>();
  private readonly memory = new Map<string, PodMemory>();
  /** The resourceVersion of the kubelet's last status write per pod uid. */
  private readonly ownWrites = new Map<string, string>();
  private readonly backoff: Backoff;
  private readonly recorder: EventRecorder;
  private readonly log: Logger;
  private readonly probes: PodProbes;
  private readonly abort = new AbortController();
  private timers: NodeJS.Timeout[] = [];
  private stopWorkers?: () => Promise<void>;
  /** False while the runtime does not answer: the node reports NotReady. */
  runtimeHealthy = true;
  runtimeMessage = '';
  /** Called when runtimeHealthy changes. */
  onRuntimeHealth?: (healthy: boolean) => void;

  constructor(private readonly opts: KubeletOptions) {
    const { client, nats, nodeName } = opts;
    this.log = opts.log;
    this.pods = new Informer({ client, nats, info: POD, nodeName, fieldSelector: `spec.nodeName=${nodeName}`, log: opts.log });
    this.configMaps = new Informer({ client, nats, info: CONFIGMAP, log: opts.log });
    this.secrets = new Informer({ client, nats, info: SECRET, log: opts.log });
    this.pvcs = new Informer({ client, nats, info: PVC, log: opts.log });
    this.pvs = new Informer({ client, nats, info: PV, log: opts.log });
    this.services = new Informer({ client, nats, info: SERVICE, log: opts.log });
    this.backoff = new Backoff(opts.timings.crashLoopBackoffInitialSeconds * 1000, opts.timings.crashLoopBackoffMaxSeconds * 1000);
    this.recorder = new EventRecorder(client, 'kubelet', nodeName, opts.log);
    this.probes = opts.probes
      ? opts.probes({
          exec: async (id, cmd, timeout) => {
            const r = await opts.runtime.execSync(id, cmd, timeout);
            return { exitCode: r.exit_code ?? 0, stdout: Buffer.from(r.stdout ?? []).toString(), stderr: Buffer.from(r.stderr ?? []).toString() };
          },
          recordEvent: (pod, type, reason, message) => void this.recorder.record(pod, type, reason, '', message),
          onChange: (uid) => this.queue.add(uid),
        })
      : NO_PROBES;
  }

  async start(): Promise<void> {
    this.pods.addHandlers({
      onAdd: (p) => this.track(p),
      onUpdate: (_o, p) => {
        // The echo of our own status write changes nothing to sync.
        if (p.metadata?.resourceVersion && this.ownWrites.get(p.metadata.uid ?? '') === p.metadata.resourceVersion) return void this.byUid.set(p.metadata.uid ?? '', p);
        this.track(p);
      },
      onDelete: (p) => {
        const uid = p.metadata?.uid ?? '';
        this.byUid.delete(uid);
        this.queue.add(uid);
      },
    });
    // A pod whose ConfigMap or Secret appears later is retried by the periodic resync.
    await Promise.all([this.pods.start(), this.configMaps.start(), this.secrets.start(), this.pvcs.start(), this.pvs.start(), this.services.start()]);
    this.opts.runtime.followContainerEvents(
      (e) => e.pod_uid && this.queue.add(e.pod_uid),
      // The events sent while the stream was broken are lost (a runtime that died took its
      // containers with it, and reports them exited once back, without an event): look at every
      // pod again, as Kubernetes' PLEG relist compares the whole runtime state.
      () => {
        this.queueAll();
        void this.housekeeping();
      },
      this.abort.signal,
    );
    this.stopWorkers = runWorkers(this.queue, this.opts.workers ?? 16, (uid) => this.syncPod(uid), (uid, err) => this.syncFailed(uid, err));
    const resync = setInterval(() => this.queueAll(), this.opts.resyncMs ?? 10_000);
    const housekeeping = setInterval(() => void this.housekeeping(), this.opts.housekeepingMs ?? 2000);
    this.timers.push(resync, housekeeping);
    await this.housekeeping();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.stopWorkers?.();
    this.probes.stop?.();
    await Promise.all([this.pods.stop(), this.configMaps.stop(), this.secrets.stop(), this.pvcs.stop(), this.pvs.stop(), this.services.stop()]);
  }

  /** The pod with this namespace and name, if it is on this node. */
  pod(namespace: string, name: string): Pod | undefined {
    return this.pods.get(`${namespace}/${name}`);
  }

  private track(pod: Pod): void {
    const uid = pod.metadata?.uid ?? '';
    if (!uid) return;
    this.byUid.set(uid, pod);
    if (!this.memory.has(uid)) this.memory.set(uid, { firstSeen: Date.now(), waiting: new Map(), pullFailedAt: new Map() });
    this.queue.add(uid);
  }

  private syncFailed(uid: string, err: unknown): void {
    if (err instanceof RuntimeError && err.unavailable) {
      this.setRuntimeHealth(false, `container runtime is down: ${err.message}`);
      return;
    }
    const pod = this.byUid.get(uid);
    this.log.warn('pod sync failed', { pod: pod ? `${pod.metadata?.namespace}/${pod.metadata?.name}` : uid, err: err instanceof Error ? err.message : String(err) });
  }

  private setRuntimeHealth(healthy: boolean, message: string): void {
    this.runtimeMessage = message;
    if (this.runtimeHealthy === healthy) return;
    this.runtimeHealthy = healthy;
    this.log.info(healthy ? 'container runtime is back' : 'container runtime is down', { message });
    this.onRuntimeHealth?.(healthy);
    // Everything may have changed while the runtime was away.
    if (healthy) this.queueAll();
  }

  private queueAll(): void {
    for (const uid of this.byUid.keys()) this.queue.add(uid);
  }

  /** Checks the runtime answers, and queues pods the runtime still runs but the API no longer has. */
  private async housekeeping(): Promise<void> {
    try {
      await this.opts.runtime.status();
      const sandboxes = await this.opts.runtime.listPodSandbox();
      this.setRuntimeHealth(true, '');
      for (const s of sandboxes) {
        const uid = s.labels?.[LABEL_POD_UID] ?? s.metadata?.uid ?? '';
        if (uid && !this.byUid.has(uid)) this.queue.add(uid);
      }
    } catch (err) {
      if (err instanceof RuntimeError && err.unavailable) this.setRuntimeHealth(false, `container runtime is down: ${err.message}`);
    }
  }

  private event(pod: Pod, type: EventType, reason: string, message: string): void {
    void this.recorder.record(pod, type, reason, '', message);
  }

  private podDesc(pod: Pod): string {
    return `${pod.metadata?.name}_${pod.metadata?.namespace}(${pod.metadata?.uid})`;
  }

  // -------------------------------------------------------------------------------------------
  // syncPod

  /** Brings the pod `uid` to its desired state; returns when to look again, if ever. */
  private async syncPod(uid: string): Promise<{ requeueAfterMs: number } | void> {
    const pod = this.byUid.get(uid);
    const rt = await this.opts.runtime.podState(uid);
    if (!pod) return this.cleanupPod(uid, rt);
    const mem = this.memory.get(uid)!;
    if (pod.metadata?.deletionTimestamp) return this.terminatePod(pod, rt, mem);
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return this.settleTerminal(pod, rt);

    let requeue: number | undefined;
    const want = (ms: number) => (requeue = requeue === undefined ? ms : Math.min(requeue, ms));

    // activeDeadlineSeconds: the kubelet fails the pod itself.
    const spec = pod.spec ?? {};
    const started = pod.status?.startTime ? Date.parse(pod.status.startTime) : mem.firstSeen;
    if (spec.activeDeadlineSeconds && !mem.failure) {
      const left = started + spec.activeDeadlineSeconds * 1000 - Date.now();
      if (left <= 0) {
        mem.failure = { reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' };
        this.event(pod, 'Normal', 'DeadlineExceeded', mem.failure.message);
      } else want(left);
    }
    if (mem.failure) {
      await this.killContainers(pod, rt, spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS);
      const after = await this.opts.runtime.podState(uid);
      await this.writeStatus(pod, after, mem);
      return this.settleTerminal(pod, after);
    }

    if (!mem.admitted) {
      const rejection = rt.sandboxes.length > 0 || rt.containers.length > 0 ? undefined : this.admissionFailure(pod);
      if (rejection) {
        mem.failure = rejection;
        this.event(pod, 'Warning', rejection.reason, rejection.message);
        await this.writeStatus(pod, rt, mem);
        return;
      }
      mem.admitted = true;
    }

    const sandbox = await this.ensureSandbox(pod, rt);
    // A new sandbox changes nothing else the runtime holds for the pod: no need to read it all again.
    let current: RuntimePod = sandbox.fresh ? { sandboxes: [...rt.sandboxes, sandbox.status], containers: rt.containers } : rt;
    const podIP = sandbox.status.ip ?? '';

    let volumes: PreparedVolumes;
    try {
      volumes = this.prepareVolumes(pod, sandbox.status);
    } catch (err) {
      if (!(err instanceof VolumeSetupError)) throw err;
      this.event(pod, 'Warning', 'FailedMount', err.message);
      await this.writeStatus(pod, current, mem);
      return { requeueAfterMs: 2000 };
    }

    this.ensureDnsFiles(pod, sandbox.status, sandbox.fresh, mem);
    const changed = await this.syncContainers(pod, current, sandbox.status, podIP, volumes, mem, want);
    if (changed) current = await this.opts.runtime.podState(uid);
    this.probes.sync(pod, podIP, runningInstances(current, sandbox.status.id ?? ''));
    const status = await this.writeStatus(pod, current, mem);
    if (status.phase === 'Succeeded' || status.phase === 'Failed') await this.stopSandboxes(current);
    return requeue === undefined ? undefined : { requeueAfterMs: Math.max(requeue, 50) };
  }

  /**
   * The kubelet's admission (pkg/kubelet/lifecycle predicate): a pod bound to this node that does
   * not fit what the node has left (a nodeName set by hand, past the scheduler) is rejected with
   * Kubernetes' OutOf<resource> reason and message instead of being started.
   */
  private admissionFailure(pod: Pod): { reason: string; message: string } | undefined {
    const alloc = this.opts.nodeAllocatable ?? {};
    const admitted = [...this.byUid.values()].filter((p) => {
      const m = this.memory.get(p.metadata?.uid ?? '');
      const phase = p.status?.phase;
      return p !== pod && m?.admitted && !m.failure && phase !== 'Succeeded' && phase !== 'Failed';
    });
    if (alloc.pods !== undefined && admitted.length + 1 > Number(alloc.pods)) {
      return { reason: 'OutOfpods', message: `Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: ${admitted.length}, capacity: ${alloc.pods}` };
    }
    for (const [name, milli] of [['cpu', true], ['memory', false]] as const) {
      if (alloc[name] === undefined) continue;
      const amount = (q: string | undefined) => (q === undefined ? 0 : milli ? parseQuantity(q).milliValue() : parseQuantity(q).value());
      const requested = amount(podRequests(pod)[name]);
      if (requested === 0) continue;
      const used = admitted.reduce((sum, p) => sum + amount(podRequests(p)[name]), 0);
      const capacity = amount(alloc[name]);
      if (used + requested > capacity) {
        return { reason: `OutOf${name}`, message: `Pod was rejected: Node didn't have enough resource: ${name}, requested: ${requested}, used: ${used}, capacity: ${capacity}` };
      }
    }
    return undefined;
  }

  private async ensureSandbox(pod: Pod, rt: RuntimePod): Promise<{ status: PodSandboxStatus; fresh: boolean }> {
    const ordered = [...rt.sandboxes].sort((a, b) => (b.metadata?.attempt ?? 0) - (a.metadata?.attempt ?? 0));
    const latest = ordered[0];
    if (latest && latest.state === PodSandboxState.POD_SANDBOX_STATE_READY && latest.ip) return { status: latest, fresh: false };
    const meta = pod.metadata ?? {};
    const attempt = latest ? (latest.metadata?.attempt ?? 0) + 1 : 0;
    if (latest) {
      this.event(pod, 'Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');
      await this.killContainers(pod, rt, 0);
    }
    let id: string;
    try {
      id = await this.opts.runtime.runPodSandbox({
        metadata: { name: meta.name, uid: meta.uid, namespace: meta.namespace, attempt },
        hostname: this.sandboxHostname(pod),
        labels: { [LABEL_POD_UID]: meta.uid ?? '', [LABEL_POD_NAME]: meta.name ?? '', [LABEL_POD_NAMESPACE]: meta.namespace ?? '' },
        annotations: {},
      });
    } catch (err) {
      // E.g. the node's pod range is exhausted: say so on the pod; the sync is retried with backoff.
      if (err instanceof RuntimeError && !err.unavailable) this.event(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${err.message}`);
      throw err;
    }
    const status = await this.opts.runtime.podSandboxStatus(id);
    if (!status) throw new Error(`sandbox ${id} vanished right after it was created`);
    return { status, fresh: true };
  }

  private get clusterDomain(): string {
    return this.opts.dns?.clusterDomain || 'cluster.local';
  }

  /** The container's hostname: the pod's (GeneratePodHostNameAndDomain), its FQDN with setHostnameAsFQDN. */
  private sandboxHostname(pod: Pod): string {
    const { hostname, domain } = podHostnameAndDomain(pod, this.clusterDomain);
    return pod.spec?.setHostnameAsFQDN && domain ? `${hostname}.${domain}` : hostname;
  }

  /**
   * Writes the pod's resolv.conf and hosts file into its folder once per sandbox (as the kubelet
   * forms the DNS config when it creates the sandbox, so its events are recorded once), and
   * remembers their paths for the containers' mounts. A failure to write is logged and leaves the
   * pod with the host's files; it never fails the sync.
   */
  private ensureDnsFiles(pod: Pod, sandbox: PodSandboxStatus, freshSandbox: boolean, mem: PodMemory): void {
    const sandboxId = sandbox.id ?? '';
    const podDir = sandbox.pod_dir ?? '';
    if (!podDir) return;
    const files = { sandboxId, resolvConf: path.join(podDir, 'resolv.conf'), hosts: path.join(podDir, 'etc-hosts') };
    const present = fs.existsSync(files.resolvConf) && fs.existsSync(files.hosts);
    // Ours for this sandbox, or (a restarted kubelet adopting a running sandbox) written before.
    if (present && (mem.dnsFiles?.sandboxId === sandboxId || (!mem.dnsFiles && !freshSandbox))) {
      mem.dnsFiles = files;
      return;
    }
    const dns = this.opts.dns;
    const hostResolvConf = dns?.hostResolvConf ?? '/etc/resolv.conf';
    let host: DnsConfig | undefined;
    let hostHosts = '';
    try {
      host = hostResolvConf ? parseResolvConf(fs.readFileSync(hostResolvConf, 'utf8')) : undefined;
    } catch (err) {
      // As the kubelet, whose GetPodDNS fails when --resolv-conf cannot be read: say so, go on with none.
      this.log.warn('cannot read the node resolv.conf', { file: hostResolvConf, err: (err as Error).message });
    }
    try {
      hostHosts = pod.spec?.hostNetwork ? fs.readFileSync(dns?.hostHostsFile ?? '/etc/hosts', 'utf8') : '';
    } catch {
      hostHosts = '';
    }
    const { config, events } = podDnsConfig(pod, { clusterDNS: dns?.clusterDNS ?? [], clusterDomain: this.clusterDomain, host });
    for (const e of events) {
      this.event(pod, e.type, e.reason, e.message);
      if (e.onNode) void this.recorder.record({ kind: 'Node', apiVersion: 'v1', metadata: { name: this.opts.nodeName, uid: this.opts.nodeName } }, e.type, e.reason, '', e.message);
    }
    const { hostname, domain } = podHostnameAndDomain(pod, this.clusterDomain);
    const hosts = podHostsFile({ podIPs: sandbox.ip ? [sandbox.ip] : [], hostname, domain, hostAliases: pod.spec?.hostAliases, hostNetwork: pod.spec?.hostNetwork, hostHosts });
    try {
      fs.writeFileSync(files.resolvConf, formatResolvConf(config), { mode: 0o644 });
      fs.writeFileSync(files.hosts, hosts, { mode: 0o644 });
      mem.dnsFiles = files;
    } catch (err) {
      this.log.warn('cannot write the pod DNS files', { pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, err: (err as Error).message });
      mem.dnsFiles = undefined;
    }
  }

  private prepareVolumes(pod: Pod, sandbox: PodSandboxStatus): PreparedVolumes {
    return prepareVolumes(pod, {
      podDir: sandbox.pod_dir ?? '',
      podIP: sandbox.ip,
      podIPs: sandbox.ip ? [sandbox.ip] : [],
      hostIP: this.opts.nodeIP,
      hostIPs: [this.opts.nodeIP],
      nodeAllocatable: this.opts.nodeAllocatable,
      lookup: {
        configMap: (ns, name) => this.configMaps.get(`${ns}/${name}`),
        secret: (ns, name) => this.secrets.get(`${ns}/${name}`),
        persistentVolumeClaim: (ns, name) => this.pvcs.get(`${ns}/${name}`),
      },
      pvcHostPath: (ns, claim) => {
        const pvc = this.pvcs.get(`${ns}/${claim}`);
        if (!pvc || pvc.status?.phase !== 'Bound' || !pvc.spec?.volumeName) return undefined;
        const pv = this.pvs.get(pvc.spec.volumeName);
        return pv?.spec?.hostPath?.path || pv?.spec?.local?.path || undefined;
      },
    });
  }

  /**
   * Starts, restarts and kills containers so that the pod's init containers run to completion in
   * order, then its containers run as restartPolicy says. Returns whether it changed anything.
   */
  private async syncContainers(
    pod: Pod,
    rt: RuntimePod,
    sandbox: PodSandboxStatus,
    podIP: string,
    volumes: PreparedVolumes,
    mem: PodMemory,
    want: (ms: number) => void,
  ): Promise<boolean> {
    const spec = pod.spec ?? {};
    const restartPolicy = spec.restartPolicy || 'Always';
    const sandboxId = sandbox.id ?? '';
    const instances = instancesByName({ sandboxes: rt.sandboxes, containers: rt.containers });
    let changed = false;

    // Containers left running in an old sandbox belong to a pod network that is gone.
    for (const c of rt.containers) {
      if (c.sandboxId !== sandboxId && c.state === ContainerState.CONTAINER_STATE_RUNNING) {
        await this.opts.runtime.stopContainer(c.id, 0);
        changed = true;
      }
    }

    // Init containers, one at a time, in order.
    for (const c of spec.initContainers ?? []) {
      const name = c.name ?? '';
      const inst = instances.get(name)?.latest;
      if (inst && inst.state === ContainerState.CONTAINER_STATE_EXITED && (inst.status.exit_code ?? 0) === 0) continue;
      if (inst && inst.state === ContainerState.CONTAINER_STATE_RUNNING) return changed;
      if (inst && inst.state === ContainerState.CONTAINER_STATE_EXITED) {
        if (restartPolicy === 'Never') return changed; // the pod has failed
        const wait = this.restartWait(pod, name, inst, mem);
        if (wait > 0) {
          want(wait);
          return changed;
        }
      }
      return (await this.startContainer(pod, c, sandboxId, podIP, volumes, inst ? inst.attempt + 1 : 0, mem, want)) || changed;
    }

    // Regular containers, all at once.
    const results = await Promise.all(
      (spec.containers ?? []).map(async (c) => {
        const name = c.name ?? '';
        const inst = instances.get(name)?.latest;
        if (inst && inst.state === ContainerState.CONTAINER_STATE_RUNNING && inst.sandboxId === sandboxId) {
          const why = this.probes.restartReason(pod.metadata?.uid ?? '', name, inst.id);
          if (!why) return false;
          this.event(pod, 'Normal', 'Killing', why);
          const grace = c.livenessProbe?.terminationGracePeriodSeconds ?? spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
          await this.opts.runtime.stopContainer(inst.id, grace);
          this.queue.add(pod.metadata?.uid ?? '');
          return true;
        }
        if (inst && inst.state === ContainerState.CONTAINER_STATE_CREATED && inst.sandboxId === sandboxId) {
          await this.opts.runtime.startContainer(inst.id);
          return true;
        }
        if (inst && (inst.state === ContainerState.CONTAINER_STATE_EXITED || inst.sandboxId !== sandboxId)) {
          const exitCode = inst.status.exit_code ?? 0;
          const restart = restartPolicy === 'Always' || (restartPolicy === 'OnFailure' && exitCode !== 0);
          if (!restart) {
            mem.waiting.delete(name);
            return false;
          }
          const wait = this.restartWait(pod, name, inst, mem);
          if (wait > 0) {
            want(wait);
            return false;
          }
        }
        return this.startContainer(pod, c, sandboxId, podIP, volumes, inst ? inst.attempt + 1 : 0, mem, want);
      }),
    );
    changed = results.some(Boolean) || changed;
    await this.removeDeadInstances(rt);
    return changed;
  }

  /**
   * How long the exited instance `inst` must still wait before its restart (CrashLoopBackOff),
   * recording the waiting reason; 0 when it may restart now (the backoff then grows).
   */
  private restartWait(pod: Pod, name: string, inst: RuntimeContainer, mem: PodMemory): number {
    const key = `${pod.metadata?.uid}/${name}`;
    const finishedAt = Math.floor((inst.status.finished_at ?? 0) / 1e3) || Date.now();
    const left = this.backoff.remaining(key, finishedAt);
    if (left > 0) {
      const delay = Math.round(this.backoff.delay(key) / 1000);
      const before = mem.waiting.get(name);
      mem.waiting.set(name, { reason: 'CrashLoopBackOff', message: `back-off ${formatDuration(delay)} restarting failed container=${name} pod=${this.podDesc(pod)}` });
      if (before?.reason !== 'CrashLoopBackOff') this.event(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${name} in pod ${this.podDesc(pod)}`);
      return left;
    }
    this.backoff.next(key);
    return 0;
  }

  /** Pulls, creates and starts one container instance; records why when it cannot. Returns whether it started one. */
  private async startContainer(
    pod: Pod,
    c: Container,
    sandboxId: string,
    podIP: string,
    volumes: PreparedVolumes,
    attempt: number,
    mem: PodMemory,
    want: (ms: number) => void,
  ): Promise<boolean> {
    const name = c.name ?? '';
    const uid = pod.metadata?.uid ?? '';
    const image = c.image ?? '';
    const policy = c.imagePullPolicy || (image.endsWith(':latest') || !/[:@]/.test(image.split('/').pop() ?? '') ? 'Always' : 'IfNotPresent');

    // Image: the catalog is local, so a pull is a lookup; failures back off as real pulls do.
    const pullKey = `pull/${uid}/${name}`;
    const failedAt = mem.pullFailedAt.get(name);
    if (failedAt !== undefined) {
      const left = this.backoff.remaining(pullKey, failedAt);
      if (left > 0) {
        if (mem.waiting.get(name)?.reason !== 'ImagePullBackOff') {
          mem.waiting.set(name, { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` });
          this.event(pod, 'Normal', 'BackOff', `Back-off pulling image "${image}"`);
          this.event(pod, 'Warning', 'Failed', 'Error: ImagePullBackOff');
        }
        want(left);
        return false;
      }
    }
    const pullStarted = Date.now();
    try {
      if (policy === 'Always') this.event(pod, 'Normal', 'Pulling', `Pulling image "${image}"`);
      await this.opts.runtime.pullImage(image, policy);
      mem.pullFailedAt.delete(name);
      if (policy === 'Always') {
        const ms = Date.now() - pullStarted;
        this.event(pod, 'Normal', 'Pulled', `Successfully pulled image "${image}" in ${ms}ms (${ms}ms including waiting)`);
      } else {
        this.event(pod, 'Normal', 'Pulled', `Container image "${image}" already present on machine`);
      }
    } catch (err) {
      if (!(err instanceof RuntimeError) || err.unavailable || !err.reason) throw err;
      const reason = err.reason === 'InvalidImageName' ? 'InvalidImageName' : err.reason;
      this.backoff.next(pullKey);
      mem.pullFailedAt.set(name, Date.now());
      mem.waiting.set(name, { reason, message: err.message });
      if (reason === 'InvalidImageName') {
        this.event(pod, 'Warning', 'InspectFailed', `Failed to apply default image tag "${image}": ${err.message}`);
      } else {
        this.event(pod, 'Warning', 'Failed', `Failed to pull image "${image}": ${err.message}`);
      }
      this.event(pod, 'Warning', 'Failed', `Error: ${reason}`);
      // Look again within the backoff: the status then says ImagePullBackOff, as Kubernetes' does.
      want(Math.max(100, this.backoff.delay(pullKey) / 2));
      return false;
    }

    let envs: { key: string; value: string }[];
    let mounts;
    try {
      envs = makeEnvironment(pod, c, {
        podIP,
        podIPs: podIP ? [podIP] : [],
        hostIP: this.opts.nodeIP,
        hostIPs: [this.opts.nodeIP],
        nodeName: this.opts.nodeName,
        nodeAllocatable: this.opts.nodeAllocatable,
        serviceEnv: serviceEnvFor(pod.metadata?.namespace ?? '', this.services.list(), pod.spec?.enableServiceLinks ?? true),
        lookup: { configMap: (ns, n) => this.configMaps.get(`${ns}/${n}`), secret: (ns, n) => this.secrets.get(`${ns}/${n}`) },
      }).env;
      mounts = volumes.mountsFor(c, envs);
      ({ mounts, envs } = withDnsFiles(mounts, envs, mem.dnsFiles));
    } catch (err) {
      if (!(err instanceof CreateContainerConfigError)) throw err;
      if (mem.waiting.get(name)?.message !== err.message) this.event(pod, 'Warning', 'Failed', `Error: ${err.message}`);
      mem.waiting.set(name, { reason: 'CreateContainerConfigError', message: err.message });
      want(2000);
      return false;
    }

    const meta = pod.metadata ?? {};
    let id: string;
    try {
      id = await this.opts.runtime.createContainer(sandboxId, {
        metadata: { name, attempt },
        image,
        image_pull_policy: policy,
        command: c.command ?? [],
        args: c.args ?? [],
        working_dir: c.workingDir ?? '',
        envs,
        mounts,
        labels: { [LABEL_POD_UID]: meta.uid ?? '', [LABEL_POD_NAME]: meta.name ?? '', [LABEL_POD_NAMESPACE]: meta.namespace ?? '', [LABEL_CONTAINER_NAME]: name },
        annotations: { 'io.kubernetes.container.restartCount': String(attempt) },
        memory_limit_bytes: containerMemoryLimitBytes(c) ?? 0,
        cpu_limit_millicores: containerCpuLimitMillis(c) ?? 0,
        log_path: '',
      });
    } catch (err) {
      if (!(err instanceof RuntimeError) || err.unavailable) throw err;
      const reason = err.reason === 'ErrImagePull' || err.reason === 'ErrImageNeverPull' ? err.reason : 'CreateContainerError';
      mem.waiting.set(name, { reason, message: err.message });
      this.event(pod, 'Warning', 'Failed', `Error: ${err.message}`);
      want(this.backoff.delay(`${uid}/${name}`) || 2000);
      return false;
    }
    this.event(pod, 'Normal', 'Created', `Created container: ${name}`);
    try {
      await this.opts.runtime.startContainer(id);
      this.event(pod, 'Normal', 'Started', `Started container ${name}`);
    } catch (err) {
      if (!(err instanceof RuntimeError) || err.unavailable) throw err;
      // The runtime keeps the instance as exited (StartError); the restart policy takes over.
      this.event(pod, 'Warning', 'Failed', `Error: ${err.message}`);
      mem.waiting.delete(name);
      return true;
    }
    mem.waiting.delete(name);
    if (c.lifecycle?.postStart) {
      // As the kubelet: the container counts as started only once its postStart hook returned;
      // a failing hook kills it and the restart policy decides what comes next.
      const failure = await this.runHook(c.lifecycle.postStart, id, c, podIP, pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS);
      if (failure) {
        this.event(pod, 'Warning', 'FailedPostStartHook', failure);
        this.event(pod, 'Normal', 'Killing', `FailedPostStartHook`);
        await this.opts.runtime.stopContainer(id, pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS);
      }
    }
    return true;
  }

  /** Keeps the newest exited instance of each container (for `logs --previous`), removes older ones. */
  private async removeDeadInstances(rt: RuntimePod): Promise<void> {
    const byName = new Map<string, RuntimeContainer[]>();
    for (const c of rt.containers) byName.set(c.name, [...(byName.get(c.name) ?? []), c]);
    for (const list of byName.values()) {
      list.sort((a, b) => b.attempt - a.attempt);
      for (const old of list.slice(2)) {
        if (old.state === ContainerState.CONTAINER_STATE_EXITED) await this.opts.runtime.removeContainer(old.id).catch(() => undefined);
      }
    }
  }

  /**
   * Stops every container of the pod within `graceSeconds`: its preStop hook first (when it has one
   * and runs), then SIGTERM, then SIGKILL when the rest of the grace period is over. As the
   * kubelet does, a hook that overruns the grace period leaves SIGTERM a last 2 seconds.
   */
  private async killContainers(pod: Pod | undefined, rt: RuntimePod, graceSeconds: number): Promise<void> {
    const specs = new Map([...(pod?.spec?.initContainers ?? []), ...(pod?.spec?.containers ?? [])].map((c) => [c.name ?? '', c]));
    await Promise.all(
      rt.containers
        .filter((c) => c.state === ContainerState.CONTAINER_STATE_RUNNING || c.state === ContainerState.CONTAINER_STATE_CREATED)
        .map(async (c) => {
          let grace = graceSeconds;
          const spec = specs.get(c.name);
          if (pod && c.state === ContainerState.CONTAINER_STATE_RUNNING) {
            this.event(pod, 'Normal', 'Killing', `Stopping container ${c.name}`);
            if (spec?.lifecycle?.preStop && graceSeconds > 0) {
              const started = Date.now();
              const failure = await this.runHook(spec.lifecycle.preStop, c.id, spec, pod.status?.podIP ?? '', graceSeconds);
              if (failure) this.event(pod, 'Warning', 'FailedPreStopHook', failure);
              grace = Math.max(2, graceSeconds - Math.floor((Date.now() - started) / 1000));
            }
          }
          await this.opts.runtime.stopContainer(c.id, grace);
        }),
    );
  }

  /** Runs a lifecycle hook against a running container; resolves the failure message, or undefined when it succeeded. */
  private async runHook(handler: LifecycleHandler, containerId: string, container: Container, podIP: string, timeoutSeconds: number): Promise<string | undefined> {
    if (handler.sleep) {
      await new Promise((r) => setTimeout(r, Math.min(Number(handler.sleep?.seconds ?? 0), timeoutSeconds) * 1000));
      return undefined;
    }
    const outcome = await runProbe(
      { exec: handler.exec, httpGet: handler.httpGet, tcpSocket: handler.tcpSocket, timeoutSeconds: Math.max(1, timeoutSeconds) },
      { podIP, container },
      async (cmd, timeout) => {
        const r = await this.opts.runtime.execSync(containerId, cmd, timeout);
        return { exitCode: r.exit_code ?? 0, stdout: Buffer.from(r.stdout ?? []).toString(), stderr: Buffer.from(r.stderr ?? []).toString() };
      },
    );
    if (outcome.result === 'success') return undefined;
    if (handler.exec) return `Exec lifecycle hook (${JSON.stringify(handler.exec.command ?? [])}) for Container "${container.name}" in Pod failed - error: ${outcome.message}`;
    return `HTTP lifecycle hook (${handler.httpGet?.path ?? ''}) for Container "${container.name}" in Pod failed - error: ${outcome.message}`;
  }

  private async stopSandboxes(rt: RuntimePod): Promise<void> {
    for (const s of rt.sandboxes) {
      if (s.state === PodSandboxState.POD_SANDBOX_STATE_READY) await this.opts.runtime.stopPodSandbox(s.id ?? '');
    }
  }

  /** A pod that finished (Succeeded or Failed): nothing runs, its IP is released, its containers stay for their logs. */
  private async settleTerminal(pod: Pod, rt: RuntimePod): Promise<void> {
    await this.killContainers(pod, rt, pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS);
    await this.stopSandboxes(rt);
    this.probes.removePod(pod.metadata?.uid ?? '');
  }

  /**
   * Graceful deletion: SIGTERM every container, SIGKILL after the grace period, release the IP,
   * write the final status, then delete the pod object for good (grace 0, this uid only).
   */
  private async terminatePod(pod: Pod, rt: RuntimePod, mem: PodMemory): Promise<void> {
    const meta = pod.metadata ?? {};
    const grace = meta.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
    this.probes.removePod(meta.uid ?? '');
    await this.killContainers(pod, rt, grace);
    const after = await this.opts.runtime.podState(meta.uid ?? '');
    await this.stopSandboxes(after);
    await this.writeStatus(pod, await this.opts.runtime.podState(meta.uid ?? ''), mem).catch(() => undefined);
    try {
      await this.opts.client.delete(POD, meta.namespace ?? '', meta.name ?? '', { gracePeriodSeconds: 0, preconditions: { uid: meta.uid } });
      this.log.info('pod deleted', { pod: `${meta.namespace}/${meta.name}`, graceSeconds: grace });
    } catch (err) {
      if (!isReason(err, 'NotFound') && !isReason(err, 'Conflict')) throw err;
    }
  }

  /** The pod is gone from the API: remove whatever the runtime still has of it. */
  private async cleanupPod(uid: string, rt: RuntimePod): Promise<void> {
    this.probes.removePod(uid);
    await this.killContainers(undefined, rt, 0);
    for (const c of rt.containers) await this.opts.runtime.removeContainer(c.id).catch(() => undefined);
    for (const s of rt.sandboxes) await this.opts.runtime.removePodSandbox(s.id ?? '');
    this.memory.delete(uid);
    this.ownWrites.delete(uid);
    this.backoff.forgetPrefix(`${uid}/`);
    this.backoff.forgetPrefix(`pull/${uid}/`);
  }

  /** Computes the pod's status and writes it when it changed; returns it. */
  private async writeStatus(pod: Pod, rt: RuntimePod, mem: PodMemory): Promise<PodStatus> {
    const uid = pod.metadata?.uid ?? '';
    const status = computePodStatus({
      pod,
      runtime: rt,
      nodeIP: this.opts.nodeIP,
      waiting: mem.waiting,
      probes: { ready: (n, id) => this.probes.ready(uid, n, id), started: (n, id) => this.probes.started(uid, n, id) },
      startTime: mem.firstSeen,
      failure: mem.failure,
      now: Date.now(),
    });
    if (!statusChanged(pod.status, status)) return status;
    try {
      const written = await this.opts.client.updateStatus(POD, { ...pod, status });
      if (written.metadata?.resourceVersion) this.ownWrites.set(uid, written.metadata.resourceVersion);
    } catch (err) {
      // A newer pod (or its deletion) is on its way through the informer and queues another sync.
      if (!isReason(err, 'Conflict') && !isReason(err, 'NotFound')) throw err;
    }
    return status;
  }
}

/** The running instances of the pod's current sandbox, by container name. */
function runningInstances(rt: RuntimePod, sandboxId: string): Map<string, { id: string; startedAtMs: number }> {
  const out = new Map<string, { id: string; startedAtMs: number }>();
  for (const c of rt.containers) {
    if (c.sandboxId === sandboxId && c.state === ContainerState.CONTAINER_STATE_RUNNING) {
      out.set(c.name, { id: c.id, startedAtMs: Math.floor((c.status.started_at ?? 0) / 1e3) });
    }
  }
  return out;
}

/** Go's time.Duration formatting for whole seconds: 10s, 1m20s, 5m0s. */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
}

/**
 * Adds the pod's resolv.conf and hosts file to a container: mounted at /etc/resolv.conf and
 * /etc/hosts unless the container mounts something there itself (its mount wins, as in Kubernetes),
 * and named in KUBEMU_RESOLV_CONF / KUBEMU_HOSTS_FILE (the host path of whatever is mounted there,
 * for the runtime's DNS preload). Pure.
 */
export function withDnsFiles<M extends { container_path?: string; host_path?: string; readonly?: boolean; volume_name?: string }>(
  mounts: M[],
  envs: { key: string; value: string }[],
  files: { resolvConf: string; hosts: string } | undefined,
): { mounts: M[]; envs: { key: string; value: string }[] } {
  if (!files) return { mounts, envs };
  const at = (p: string) => mounts.find((m) => (m.container_path ?? '').replace(/\/+$/, '') === p);
  const added = [...mounts];
  const extra: { key: string; value: string }[] = [];
  for (const [containerPath, hostPath, variable] of [
    ['/etc/resolv.conf', files.resolvConf, 'KUBEMU_RESOLV_CONF'],
    ['/etc/hosts', files.hosts, 'KUBEMU_HOSTS_FILE'],
  ] as const) {
    const own = at(containerPath);
    if (!own) added.push({ container_path: containerPath, host_path: hostPath, readonly: true, volume_name: '' } as M);
    extra.push({ key: variable, value: own?.host_path || hostPath });
  }
  return { mounts: added, envs: [...envs, ...extra] };
}
