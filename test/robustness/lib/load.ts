/**
 * The load of a robustness run: concurrent workers writing through the apiserver while faults
 * are injected, each recording every write it issued, when, and what became of it.
 *
 * - ConfigMap workers: each owns its keys and creates, updates (resourceVersion precondition) and
 *   deletes (resourceVersion precondition) them one at a time. A write is acknowledged when the
 *   apiserver answered success; any error makes it indeterminate (it may have been applied: the
 *   client retries while no apiserver answers, the answer may have been lost), after which the
 *   worker reads the key again before writing it. Preconditions make a late-applied stale write
 *   (an apiserver frozen with the request) fail instead of overwriting newer data. A create's only
 *   precondition is absence, which a later delete restores: a create held that long may still be
 *   applied after the worker's delete, and the checks allow exactly that.
 * - Deployment workers: rollouts (an env value or the image tag of the template) and scaling.
 * - A StatefulSet worker: scaling between 1 and 3.
 *
 * Every written field is a "register": the checks compare its final value with the last
 * acknowledged write and the indeterminate writes after it.
 */
import { ApiClient } from '../../../services/lib/apiclient';
import { KindMap, resourceForCase, ResourceInfo } from '../../../services/lib/resources';
import { Rng } from './rng';

export const CONFIGMAP = resourceForCase('configMap');
export const DEPLOYMENT = resourceForCase('deployment');
export const STATEFULSET = resourceForCase('statefulSet');

/** One write as its worker saw it. Times are epoch ms. value null: deleted. */
export interface WriteRecord {
  id: number;
  worker: string;
  /** The register written: `configmaps/<ns>/<name>`, `deployments/<ns>/<name>/replicas`, ... */
  register: string;
  op: 'create' | 'update' | 'delete';
  value: string | null;
  start: number;
  end?: number;
  outcome: 'ok' | 'failed' | 'in-flight';
  /** The resourceVersion the apiserver answered (create, update). */
  rv?: string;
  /** An update that changed nothing: the apiserver wrote nothing and answered the resourceVersion read before. */
  noop?: boolean;
  error?: string;
}

/** The run's write history, shared by all workers. */
export class WriteLog {
  readonly writes: WriteRecord[] = [];
  private nextId = 1;

  begin(worker: string, register: string, op: WriteRecord['op'], value: string | null): WriteRecord {
    const w: WriteRecord = { id: this.nextId++, worker, register, op, value, start: Date.now(), outcome: 'in-flight' };
    this.writes.push(w);
    return w;
  }

  ok(w: WriteRecord, rv?: string): void {
    w.end = Date.now();
    w.outcome = 'ok';
    w.rv = rv;
  }

  failed(w: WriteRecord, err: unknown): void {
    w.end = Date.now();
    w.outcome = 'failed';
    w.error = (err as Error).message?.slice(0, 300) ?? String(err);
  }

  counts(): { issued: number; acknowledged: number; failed: number; inFlight: number } {
    let acknowledged = 0;
    let failed = 0;
    for (const w of this.writes) {
      if (w.outcome === 'ok') acknowledged++;
      else if (w.outcome === 'failed') failed++;
    }
    return { issued: this.writes.length, acknowledged, failed, inFlight: this.writes.length - acknowledged - failed };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const LOAD_LABEL = 'kubemu.io/robustness';

/** The workload objects a run creates in its namespace before the load starts. */
export const DEPLOYMENT_NAMES = ['rollout-a', 'rollout-b'];
export const STATEFULSET_NAME = 'ordinal';

function podTemplate(app: string, image: string, version: string) {
  return {
    metadata: { labels: { app, [LOAD_LABEL]: 'true' } },
    spec: {
      terminationGracePeriodSeconds: 2,
      containers: [{ name: 'main', image, command: ['sh', '-c', 'exec sleep 100000'], env: [{ name: 'VERSION', value: version }] }],
    },
  };
}

/** Creates the Deployments and the StatefulSet the workers roll and scale. */
export async function createWorkloads(client: ApiClient, namespace: string): Promise<void> {
  for (const name of DEPLOYMENT_NAMES) {
    await client.create(DEPLOYMENT, {
      metadata: { name, namespace, labels: { [LOAD_LABEL]: 'true' } },
      spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: podTemplate(name, 'busybox:1.36', '0') },
    } as never);
  }
  await client.create(STATEFULSET, {
    metadata: { name: STATEFULSET_NAME, namespace, labels: { [LOAD_LABEL]: 'true' } },
    spec: { replicas: 2, serviceName: STATEFULSET_NAME, selector: { matchLabels: { app: STATEFULSET_NAME } }, template: podTemplate(STATEFULSET_NAME, 'busybox:1.36', '0') },
  } as never);
}

/** The initial value of each workload register (what createWorkloads wrote). */
export function initialWorkloadRegisters(namespace: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const name of DEPLOYMENT_NAMES) {
    m.set(`deployments/${namespace}/${name}/replicas`, '2');
    m.set(`deployments/${namespace}/${name}/version`, '0');
    m.set(`deployments/${namespace}/${name}/image`, 'busybox:1.36');
  }
  m.set(`statefulsets/${namespace}/${STATEFULSET_NAME}/replicas`, '2');
  return m;
}

export interface LoadOptions {
  client: ApiClient;
  namespace: string;
  rng: Rng;
  log: WriteLog;
  configMapWorkers: number;
  keysPerWorker: number;
  /** Pause between two ConfigMap writes of one worker, ms. */
  configMapPauseMs: [number, number];
  /** Pause between two workload changes, ms. */
  workloadPauseMs: [number, number];
  maxReplicas: number;
}

/** Runs the workers until stop(); stop() waits for the write each worker has in flight. */
export class Load {
  private stopped = false;
  private workers: Promise<void>[] = [];

  constructor(private readonly opts: LoadOptions) {}

  start(): void {
    const { opts } = this;
    for (let i = 0; i < opts.configMapWorkers; i++) this.workers.push(this.configMapWorker(`cm-${i}`, opts.rng.fork()));
    for (const name of DEPLOYMENT_NAMES) this.workers.push(this.deploymentWorker(name, opts.rng.fork()));
    this.workers.push(this.statefulSetWorker(opts.rng.fork()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers);
  }

  private async pause(rng: Rng, range: [number, number]): Promise<void> {
    const deadline = Date.now() + rng.between(range[0], range[1]);
    while (!this.stopped && Date.now() < deadline) await sleep(Math.min(200, deadline - Date.now()));
  }

  private async configMapWorker(worker: string, rng: Rng): Promise<void> {
    const { client, namespace, log } = this.opts;
    // What the worker believes each key holds: undefined = must read first.
    const known = new Map<string, { rv: string } | null | undefined>();
    const names = Array.from({ length: this.opts.keysPerWorker }, (_, k) => `${worker}-key-${k}`);
    for (const n of names) known.set(n, null);
    let counter = 0;
    while (!this.stopped) {
      const name = rng.pick(names);
      const register = `configmaps/${namespace}/${name}`;
      let state = known.get(name);
      if (state === undefined) {
        try {
          const obj = await client.tryGet(CONFIGMAP, namespace, name);
          state = obj ? { rv: obj.metadata!.resourceVersion! } : null;
          known.set(name, state);
        } catch {
          await this.pause(rng, [200, 500]);
          continue;
        }
      }
      const value = `${worker}-${++counter}`;
      if (state === null) {
        const w = log.begin(worker, register, 'create', value);
        try {
          const obj = await client.create(CONFIGMAP, { metadata: { name, namespace, labels: { [LOAD_LABEL]: 'true' } }, data: { value } });
          log.ok(w, obj.metadata?.resourceVersion);
          known.set(name, { rv: obj.metadata!.resourceVersion! });
        } catch (err) {
          log.failed(w, err);
          known.set(name, undefined);
        }
      } else if (rng.chance(0.25)) {
        const w = log.begin(worker, register, 'delete', null);
        try {
          await client.delete(CONFIGMAP, namespace, name, { preconditions: { resourceVersion: state.rv } });
          log.ok(w);
          known.set(name, null);
        } catch (err) {
          log.failed(w, err);
          known.set(name, undefined);
        }
      } else {
        const w = log.begin(worker, register, 'update', value);
        try {
          const obj = await client.update(CONFIGMAP, { metadata: { name, namespace, resourceVersion: state.rv, labels: { [LOAD_LABEL]: 'true' } }, data: { value } });
          log.ok(w, obj.metadata?.resourceVersion);
          known.set(name, { rv: obj.metadata!.resourceVersion! });
        } catch (err) {
          log.failed(w, err);
          known.set(name, undefined);
        }
      }
      await this.pause(rng, this.opts.configMapPauseMs);
    }
  }

  /**
   * One read-modify-write of a workload (get, change the spec, update with the resourceVersion
   * read as precondition), recorded as writes of the registers it sets. A failed get writes
   * nothing; a failed update is indeterminate.
   */
  private async writeWorkload<C extends 'deployment' | 'statefulSet'>(
    worker: string,
    info: ResourceInfo<C>,
    name: string,
    change: (obj: KindMap[C]) => void,
    registers: Record<string, string>,
  ): Promise<void> {
    const { client, namespace, log } = this.opts;
    let obj: KindMap[C];
    try {
      obj = await client.get(info, namespace, name);
    } catch {
      return;
    }
    change(obj);
    delete (obj as { status?: unknown }).status;
    const prefix = `${info.resource}/${namespace}/${name}/`;
    const ws = Object.entries(registers).map(([field, value]) => log.begin(worker, prefix + field, 'update', value));
    try {
      const readRv = obj.metadata?.resourceVersion;
      const res = await client.update(info, obj);
      for (const w of ws) {
        log.ok(w, res.metadata?.resourceVersion);
        if (res.metadata?.resourceVersion === readRv) w.noop = true;
      }
    } catch (err) {
      for (const w of ws) log.failed(w, err);
    }
  }

  private async deploymentWorker(name: string, rng: Rng): Promise<void> {
    const worker = `deploy-${name}`;
    let version = 0;
    let tag = 36;
    while (!this.stopped) {
      await this.pause(rng, this.opts.workloadPauseMs);
      if (this.stopped) break;
      const r = rng.next();
      if (r < 0.6) {
        // A rollout: a new env value, or the image tag toggled (the whole container is written, so both registers are).
        if (r < 0.4) version++;
        else tag = tag === 36 ? 37 : 36;
        const template = podTemplate(name, `busybox:1.${tag}`, String(version));
        await this.writeWorkload(worker, DEPLOYMENT, name, (d) => void (d.spec!.template = template as never), { version: String(version), image: `busybox:1.${tag}` });
      } else {
        const replicas = rng.int(1, this.opts.maxReplicas);
        await this.writeWorkload(worker, DEPLOYMENT, name, (d) => void (d.spec!.replicas = replicas), { replicas: String(replicas) });
      }
    }
  }

  private async statefulSetWorker(rng: Rng): Promise<void> {
    while (!this.stopped) {
      await this.pause(rng, [this.opts.workloadPauseMs[0] * 1.5, this.opts.workloadPauseMs[1] * 1.5]);
      if (this.stopped) break;
      const replicas = rng.int(1, this.opts.maxReplicas);
      await this.writeWorkload('statefulset', STATEFULSET, STATEFULSET_NAME, (s) => void (s.spec!.replicas = replicas), { replicas: String(replicas) });
    }
  }
}
