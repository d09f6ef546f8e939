/**
 * The garbage collector's workers (Kubernetes' garbagecollector.go): attemptToDeleteItem decides,
 * from the live object and its owners as the apiserver answers now (never from a possibly stale
 * cache), whether a dependent stays, loses dangling ownerReferences, or is deleted and with which
 * propagation policy; it also completes foreground deletion of owners; attemptToOrphan removes an
 * owner's references from its dependents and then the owner's orphan finalizer.
 */
import { ApiClient } from '../../lib/apiclient';
import { isReason } from '../../lib/errors';
import { ObjectMeta, OwnerReference } from '../../lib/generated/kubemu/meta/v1/meta';
import { Logger } from '../../lib/log';
import { KubeObject } from '../../lib/resources';
import { DependencyGraph, FINALIZER_DELETE_DEPENDENTS, FINALIZER_ORPHAN, GraphNode, hasFinalizer, ObjectIdentity, resourceForKind } from './graph';

export type Propagation = 'Background' | 'Foreground' | 'Orphan';

/** How an owner stands, as classifyReferences sees it. */
export type OwnerState = 'solid' | 'dangling' | 'waitingForDependentsDeletion';

export type Decision =
  | { action: 'none' }
  | { action: 'removeOwnerReferences'; uids: string[] }
  | { action: 'delete'; policy: Propagation; unblockFirst: boolean };

/**
 * What to do with a dependent, given its live metadata and the state of each owner (the switch at
 * the end of attemptToDeleteItem). Pure:
 * - no ownerReferences: nothing;
 * - some solid owner: nothing, or remove the references to dangling and waiting owners;
 * - an owner waiting for its dependents' deletion and the item has dependents of its own: delete it
 *   in the foreground (unblocking its own references first when one of its dependents is itself
 *   deleting dependents, to break a cycle);
 * - otherwise: delete it, Orphan / Foreground when it carries that finalizer, else Background.
 */
export function decide(meta: ObjectMeta, owners: { ref: OwnerReference; state: OwnerState }[], itemHasDependents: boolean, aDependentIsDeletingDependents: boolean): Decision {
  if ((meta.ownerReferences ?? []).length === 0) return { action: 'none' };
  const solid = owners.filter((o) => o.state === 'solid');
  const dangling = owners.filter((o) => o.state === 'dangling');
  const waiting = owners.filter((o) => o.state === 'waitingForDependentsDeletion');
  if (solid.length > 0) {
    if (dangling.length === 0 && waiting.length === 0) return { action: 'none' };
    return { action: 'removeOwnerReferences', uids: [...dangling, ...waiting].map((o) => o.ref.uid ?? '') };
  }
  if (waiting.length > 0 && itemHasDependents) return { action: 'delete', policy: 'Foreground', unblockFirst: aDependentIsDeletingDependents };
  if (hasFinalizer(meta, FINALIZER_ORPHAN)) return { action: 'delete', policy: 'Orphan', unblockFirst: false };
  if (hasFinalizer(meta, FINALIZER_DELETE_DEPENDENTS)) return { action: 'delete', policy: 'Foreground', unblockFirst: false };
  return { action: 'delete', policy: 'Background', unblockFirst: false };
}

/** The API operations the collector needs; ObjectOps implements them over an ApiClient. */
export interface CollectorOps {
  /** The live object, or undefined when it does not exist. Throws for a kind kubemu does not serve. */
  get(id: ObjectIdentity): Promise<KubeObject | undefined>;
  /** Deletes with a uid precondition; an object already gone or replaced is success. */
  delete(id: ObjectIdentity, policy: Propagation): Promise<void>;
  /** Removes the ownerReferences with these uids (read-modify-write, retried on Conflict). */
  removeOwnerReferences(id: ObjectIdentity, uids: string[]): Promise<void>;
  /** Sets blockOwnerDeletion false on every ownerReference. */
  unblockOwnerReferences(id: ObjectIdentity): Promise<void>;
  /** Removes a finalizer from metadata.finalizers. */
  removeFinalizer(id: ObjectIdentity, finalizer: string): Promise<void>;
}

const MAX_CONFLICT_RETRIES = 8;

/** CollectorOps over the apiserver: every read is a GET, every write a compare-and-swap update. */
export class ObjectOps implements CollectorOps {
  constructor(private readonly client: ApiClient) {}

  private info(id: ObjectIdentity) {
    const info = resourceForKind(id.apiVersion, id.kind);
    if (!info) throw new Error(`garbage collector: no resource serves ${id.apiVersion}, Kind=${id.kind}`);
    return info;
  }

  async get(id: ObjectIdentity): Promise<KubeObject | undefined> {
    const info = this.info(id);
    return (await this.client.tryGet(info, info.namespaced ? id.namespace : '', id.name)) as KubeObject | undefined;
  }

  async delete(id: ObjectIdentity, policy: Propagation): Promise<void> {
    const info = this.info(id);
    try {
      await this.client.delete(info, info.namespaced ? id.namespace : '', id.name, { propagationPolicy: policy, preconditions: { uid: id.uid } });
    } catch (err) {
      if (isReason(err, 'NotFound') || isReason(err, 'Conflict')) return;
      throw err;
    }
  }

  private async modify(id: ObjectIdentity, change: (meta: ObjectMeta) => boolean): Promise<void> {
    const info = this.info(id);
    for (let attempt = 0; ; attempt++) {
      const obj = (await this.get(id)) as KubeObject | undefined;
      if (!obj || obj.metadata?.uid !== id.uid) return;
      const copy = JSON.parse(JSON.stringify(info.codec.toJSON(obj as never))) as unknown;
      const next = info.codec.fromJSON(copy) as KubeObject;
      if (!change((next.metadata ??= {}))) return;
      try {
        await this.client.update(info, next as never);
        return;
      } catch (err) {
        if (isReason(err, 'NotFound')) return;
        if (isReason(err, 'Conflict') && attempt < MAX_CONFLICT_RETRIES) continue;
        throw err;
      }
    }
  }

  removeOwnerReferences(id: ObjectIdentity, uids: string[]): Promise<void> {
    return this.modify(id, (meta) => {
      const before = meta.ownerReferences ?? [];
      meta.ownerReferences = before.filter((r) => !uids.includes(r.uid ?? ''));
      return meta.ownerReferences.length !== before.length;
    });
  }

  unblockOwnerReferences(id: ObjectIdentity): Promise<void> {
    return this.modify(id, (meta) => {
      let changed = false;
      for (const r of meta.ownerReferences ?? []) {
        if (r.blockOwnerDeletion) {
          r.blockOwnerDeletion = false;
          changed = true;
        }
      }
      return changed;
    });
  }

  removeFinalizer(id: ObjectIdentity, finalizer: string): Promise<void> {
    return this.modify(id, (meta) => {
      if (!hasFinalizer(meta, finalizer)) return false;
      meta.finalizers = (meta.finalizers ?? []).filter((f) => f !== finalizer);
      return true;
    });
  }
}

/** Owner uids known absent (Kubernetes' absentOwnerCache, an LRU of 500). */
class AbsentOwners {
  private readonly uids = new Set<string>();
  has(uid: string): boolean {
    return this.uids.has(uid);
  }
  add(uid: string): void {
    this.uids.delete(uid);
    this.uids.add(uid);
    while (this.uids.size > 500) this.uids.delete(this.uids.values().next().value as string);
  }
}

const key = (id: ObjectIdentity) => `${id.kind} ${id.namespace ? `${id.namespace}/` : ''}${id.name}`;

/** The collector's two work items. Both may run concurrently for different uids. */
export class GarbageCollector {
  private readonly absent = new AbsentOwners();

  constructor(
    private readonly graph: DependencyGraph,
    private readonly ops: CollectorOps,
    private readonly log: Logger,
    private readonly requeue: (node: GraphNode) => void,
    /** Records the OwnerRefInvalidNamespace warning on a dependent (optional). */
    private readonly warn?: (dependent: ObjectIdentity, reason: string, message: string) => void,
  ) {}

  /**
   * attemptToDeleteItem for the node of `uid`: verifies virtual owners, completes foreground
   * deletion, and deletes or fixes a dependent whose owners are gone. Throws on API errors (the
   * loop retries).
   */
  async attemptToDelete(uid: string): Promise<void> {
    const node = this.graph.get(uid);
    if (!node) return;
    if (node.beingDeleted && !node.deletingDependents) return;
    const latest = await this.ops.get(node.identity);
    if (!latest || latest.metadata?.uid !== uid) {
      // Absent (or replaced by a namesake): as if the informer had reported the deletion.
      if (node.virtual) this.absent.add(uid);
      this.log.debug('object absent; removing it from the graph', { object: key(node.identity), uid, virtual: node.virtual });
      this.graph.remove(uid);
      return;
    }
    // A virtual owner that exists: the informer will show it; nothing to decide for it now.
    if (node.virtual) return;
    if (node.deletingDependents) return this.processDeletingDependents(node);
    const meta = latest.metadata ?? {};
    const refs = meta.ownerReferences ?? [];
    if (refs.length === 0) return;
    const owners: { ref: OwnerReference; state: OwnerState }[] = [];
    for (const ref of refs) owners.push({ ref, state: await this.classify(ref, node) });
    const deps = [...node.dependents];
    const decision = decide(meta, owners, deps.length > 0, deps.some((d) => d.deletingDependents));
    switch (decision.action) {
      case 'none':
        return;
      case 'removeOwnerReferences':
        this.log.info('removing dangling ownerReferences', { object: key(node.identity), owners: decision.uids });
        await this.ops.removeOwnerReferences(node.identity, decision.uids);
        return;
      case 'delete':
        if (decision.unblockFirst) await this.ops.unblockOwnerReferences(node.identity);
        this.log.info('deleting object', { object: key(node.identity), uid, propagationPolicy: decision.policy });
        await this.ops.delete(node.identity, decision.policy);
        return;
    }
  }

  /** Whether the owner `ref` of `dependent` exists (a GET: the caches may be stale), and whether it waits for its dependents. */
  private async classify(ref: OwnerReference, dependent: GraphNode): Promise<OwnerState> {
    const uid = ref.uid ?? '';
    if (this.absent.has(uid)) return 'dangling';
    const info = resourceForKind(ref.apiVersion ?? '', ref.kind ?? '');
    if (!info) throw new Error(`garbage collector: owner ${ref.apiVersion}, Kind=${ref.kind} of ${key(dependent.identity)} is of no served resource`);
    // A namespaced owner of a cluster-scoped dependent cannot exist: Kubernetes treats it as absent and says so.
    if (info.namespaced && !dependent.identity.namespace) {
      this.warn?.(dependent.identity, 'OwnerRefInvalidNamespace', `ownerRef [${ref.apiVersion}/${ref.kind}, namespace: , name: ${ref.name}, uid: ${uid}] does not exist in namespace ""`);
      return 'dangling';
    }
    const owner = await this.ops.get({ apiVersion: ref.apiVersion ?? '', kind: ref.kind ?? '', namespace: info.namespaced ? dependent.identity.namespace : '', name: ref.name ?? '', uid });
    if (!owner || owner.metadata?.uid !== uid) {
      this.absent.add(uid);
      return 'dangling';
    }
    if (owner.metadata?.deletionTimestamp && hasFinalizer(owner.metadata, FINALIZER_DELETE_DEPENDENTS)) return 'waitingForDependentsDeletion';
    return 'solid';
  }

  /** Foreground deletion of `owner`: its blocking dependents are deleted; once none is left, the finalizer goes. */
  private async processDeletingDependents(owner: GraphNode): Promise<void> {
    const uid = owner.identity.uid;
    const blocking = [...owner.dependents].filter((d) => d.owners.some((r) => r.uid === uid && r.blockOwnerDeletion));
    if (blocking.length === 0) {
      this.log.info('no blocking dependents left; removing the foregroundDeletion finalizer', { object: key(owner.identity) });
      await this.ops.removeFinalizer(owner.identity, FINALIZER_DELETE_DEPENDENTS);
      return;
    }
    for (const dep of blocking) if (!dep.deletingDependents) this.requeue(dep);
  }

  /**
   * attemptToOrphan for the node of `uid`: removes its reference from every dependent, then its
   * orphan finalizer. Throws on API errors (the loop retries; dependents already done are no-ops).
   */
  async attemptToOrphan(uid: string): Promise<void> {
    const node = this.graph.get(uid);
    if (!node) return;
    const deps = [...node.dependents];
    await Promise.all(deps.map((d) => this.ops.removeOwnerReferences(d.identity, [uid])));
    this.log.info('orphaned dependents; removing the orphan finalizer', { object: key(node.identity), dependents: deps.length });
    await this.ops.removeFinalizer(node.identity, FINALIZER_ORPHAN);
  }
}
