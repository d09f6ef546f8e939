/**
 * The history recorder of a robustness run.
 *
 * - Informers (services/lib/informer.ts, the library every component uses) of pods, ConfigMaps,
 *   Deployments, ReplicaSets and StatefulSets, started before the first fault: they live through
 *   every fault, and at the end their caches are compared with a fresh list. The pod informer's
 *   handlers record, per pod uid, every nodeName and phase it ever had.
 * - A sampler asking each node's container runtime (ListContainers over gRPC, the call the
 *   kubelet makes) every `sampleMs` which containers run, so that a pod running on two nodes, or
 *   two pods of one StatefulSet ordinal running at once, is seen even when the API never shows it.
 */
import { NatsConnection } from 'nats';
import { ApiClient } from '../../../services/lib/apiclient';
import { ContainerState } from '../../../services/lib/generated/kubemu/runtime/v1/runtime';
import { Informer } from '../../../services/lib/informer';
import { KindMap, ObjectCase, resourceForCase, ResourceInfo } from '../../../services/lib/resources';
import { LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID, RuntimeClient } from '../../../services/kubelet/runtime';

/** The resources whose informers are checked against a fresh list at the end. */
export const FOLLOWED: ObjectCase[] = ['pod', 'configMap', 'deployment', 'replicaSet', 'statefulSet'];

export interface PodHistory {
  uid: string;
  namespace: string;
  name: string;
  /** Every nodeName the pod had, in the order seen. */
  nodes: Array<{ node: string; at: number; rv: string }>;
  /** Every phase change seen. */
  phases: Array<{ phase: string; at: number; rv: string }>;
  deletedAt?: number;
}

/** A container seen running by a runtime: the first and last sample windows it was seen in. */
export interface ContainerSighting {
  node: string;
  containerId: string;
  container: string;
  podUid: string;
  podNamespace: string;
  podName: string;
  /** [request sent, answer received] of the first and last sample that showed it running. */
  first: [number, number];
  last: [number, number];
  samples: number;
}

/** Two pods of one name (a StatefulSet ordinal) in one runtime answer, both running. */
export interface SameAnswerOverlap {
  node: string;
  at: number;
  podNamespace: string;
  podName: string;
  uids: string[];
}

export interface RecorderOptions {
  client: ApiClient;
  nats: NatsConnection;
  /** Every node's runtime: node name and gRPC address. */
  runtimes: Array<{ node: string; address: string }>;
  sampleMs: number;
  log(line: string): void;
}

export class HistoryRecorder {
  readonly informers = new Map<ObjectCase, Informer<ObjectCase>>();
  readonly pods = new Map<string, PodHistory>();
  readonly sightings = new Map<string, ContainerSighting>();
  readonly overlaps: SameAnswerOverlap[] = [];
  readonly sampleStats = new Map<string, { ok: number; failed: number }>();
  private readonly runtimeClients: Array<{ node: string; client: RuntimeClient }> = [];
  private samplers: Promise<void>[] = [];
  private stopped = false;

  constructor(private readonly opts: RecorderOptions) {}

  /** Starts the informers (resolves when all listed once) and the runtime samplers. */
  async start(): Promise<void> {
    for (const c of FOLLOWED) {
      const info = resourceForCase(c) as ResourceInfo<ObjectCase>;
      const inf = new Informer<ObjectCase>({ client: this.opts.client, nats: this.opts.nats, info });
      this.informers.set(c, inf);
    }
    (this.informers.get('pod') as unknown as Informer<'pod'>).addHandlers({
      onAdd: (p) => this.recordPod(p),
      onUpdate: (_o, p) => this.recordPod(p),
      onDelete: (p) => {
        const h = this.pods.get(p.metadata?.uid ?? '');
        if (h && h.deletedAt === undefined) h.deletedAt = Date.now();
      },
    });
    await Promise.all([...this.informers.values()].map((i) => i.start()));
    for (const r of this.opts.runtimes) {
      const client = new RuntimeClient(r.address);
      this.runtimeClients.push({ node: r.node, client });
      this.sampleStats.set(r.node, { ok: 0, failed: 0 });
      this.samplers.push(this.sampleLoop(r.node, client));
    }
  }

  /** Stops sampling and following; the caches and the history stay readable. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.samplers);
    for (const r of this.runtimeClients) r.client.close();
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }

  informer<C extends ObjectCase>(c: C): Informer<C> {
    return this.informers.get(c) as unknown as Informer<C>;
  }

  private recordPod(p: KindMap['pod']): void {
    const uid = p.metadata?.uid;
    if (!uid) return;
    let h = this.pods.get(uid);
    if (!h) {
      h = { uid, namespace: p.metadata?.namespace ?? '', name: p.metadata?.name ?? '', nodes: [], phases: [] };
      this.pods.set(uid, h);
    }
    const rv = p.metadata?.resourceVersion ?? '';
    const node = p.spec?.nodeName ?? '';
    if (node && h.nodes[h.nodes.length - 1]?.node !== node) h.nodes.push({ node, at: Date.now(), rv });
    const phase = p.status?.phase ?? '';
    if (phase && h.phases[h.phases.length - 1]?.phase !== phase) h.phases.push({ phase, at: Date.now(), rv });
  }

  private async sampleLoop(node: string, client: RuntimeClient): Promise<void> {
    const stats = this.sampleStats.get(node)!;
    while (!this.stopped) {
      const sent = Date.now();
      try {
        const containers = await client.listContainers();
        const received = Date.now();
        stats.ok++;
        const byName = new Map<string, Set<string>>();
        for (const c of containers) {
          if (c.state !== ContainerState.CONTAINER_STATE_RUNNING) continue;
          const labels = c.labels ?? {};
          const podUid = labels[LABEL_POD_UID] ?? '';
          const podName = labels[LABEL_POD_NAME] ?? '';
          const podNamespace = labels[LABEL_POD_NAMESPACE] ?? '';
          if (!podUid) continue;
          const key = `${node}/${c.id}`;
          const s = this.sightings.get(key);
          if (s) {
            s.last = [sent, received];
            s.samples++;
          } else {
            this.sightings.set(key, { node, containerId: c.id ?? '', container: c.metadata?.name ?? '', podUid, podNamespace, podName, first: [sent, received], last: [sent, received], samples: 1 });
          }
          const nameKey = `${podNamespace}/${podName}`;
          if (!byName.has(nameKey)) byName.set(nameKey, new Set());
          byName.get(nameKey)!.add(podUid);
        }
        for (const [nameKey, uids] of byName) {
          if (uids.size > 1) {
            const [podNamespace, podName] = nameKey.split('/');
            this.overlaps.push({ node, at: received, podNamespace, podName, uids: [...uids] });
          }
        }
      } catch {
        stats.failed++; // the runtime is down or frozen: that is one of the faults
      }
      const wait = this.opts.sampleMs - (Date.now() - sent);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
}
