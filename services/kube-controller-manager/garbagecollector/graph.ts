/**
 * The garbage collector's dependency graph (Kubernetes' GraphBuilder, pkg/controller/garbagecollector
 * graph_builder.go): one node per object uid with its owners (as its ownerReferences say) and its
 * dependents, fed by the informers of every resource. Owners not seen yet are virtual nodes, to be
 * verified against the apiserver before anything is decided on their account. The graph never
 * calls the API itself: it tells the collector which uids to look at (attemptToDelete) and which
 * owners to orphan (attemptToOrphan). Not safe for concurrent mutation; in Node.js every informer
 * handler and worker runs on one thread, so mutations never interleave.
 */
import { ObjectMeta, OwnerReference } from '../../lib/generated/kubemu/meta/v1/meta';
import { KubeObject, RESOURCES, ResourceInfo } from '../../lib/resources';

export const FINALIZER_ORPHAN = 'orphan';
export const FINALIZER_DELETE_DEPENDENTS = 'foregroundDeletion';

/** Who an object is: enough to GET or DELETE it. */
export interface ObjectIdentity {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

export interface GraphNode {
  identity: ObjectIdentity;
  /** The object's ownerReferences as last observed (empty for virtual nodes). */
  owners: OwnerReference[];
  dependents: Set<GraphNode>;
  /** Added on behalf of a dependent's ownerReference, the object itself not observed (yet). */
  virtual: boolean;
  /** deletionTimestamp set. */
  beingDeleted: boolean;
  /** deletionTimestamp set and the foregroundDeletion finalizer present. */
  deletingDependents: boolean;
}

const byKind = new Map(RESOURCES.map((r) => [`${r.apiVersion}/${r.kind}`, r]));

/** The served resource for an apiVersion and kind, or undefined (a kind kubemu does not serve). */
export function resourceForKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  return byKind.get(`${apiVersion}/${kind}`);
}

export function hasFinalizer(meta: ObjectMeta | undefined, f: string): boolean {
  return (meta?.finalizers ?? []).includes(f);
}

export interface GraphCallbacks {
  attemptToDelete(node: GraphNode): void;
  attemptToOrphan(node: GraphNode): void;
}

/**
 * The graph and the rules that turn observed changes into work (processGraphChanges). Callbacks
 * are called synchronously from the observe* methods.
 */
export class DependencyGraph {
  private readonly nodes = new Map<string, GraphNode>();

  constructor(private readonly cb: GraphCallbacks) {}

  get(uid: string): GraphNode | undefined {
    return this.nodes.get(uid);
  }

  get size(): number {
    return this.nodes.size;
  }

  /** An object was added or updated (informer add/update). */
  observe(info: ResourceInfo, obj: KubeObject): void {
    const meta = obj.metadata ?? {};
    const uid = meta.uid;
    if (!uid) return;
    const identity: ObjectIdentity = { apiVersion: info.apiVersion, kind: info.kind, namespace: meta.namespace ?? '', name: meta.name ?? '', uid };
    const owners = [...(meta.ownerReferences ?? [])];
    let node = this.nodes.get(uid);
    if (!node) {
      node = { identity, owners, dependents: new Set(), virtual: false, beingDeleted: false, deletingDependents: false };
      this.nodes.set(uid, node);
      for (const ref of owners) this.addToOwner(node, ref);
      this.processTransitions(node, meta);
      return;
    }
    // A virtual node is now observed for real: its identity is what the object says.
    node.virtual = false;
    node.identity = identity;
    const oldOwners = node.owners;
    node.owners = owners;
    const oldByUid = new Map(oldOwners.map((r) => [r.uid ?? '', r]));
    const newByUid = new Map(owners.map((r) => [r.uid ?? '', r]));
    for (const ref of owners) {
      const was = oldByUid.get(ref.uid ?? '');
      if (!was) this.addToOwner(node, ref);
      else if (!!was.blockOwnerDeletion !== !!ref.blockOwnerDeletion) this.ownerMayBeUnblocked(ref.uid ?? '');
    }
    for (const ref of oldOwners) {
      if (newByUid.has(ref.uid ?? '')) continue;
      const owner = this.nodes.get(ref.uid ?? '');
      owner?.dependents.delete(node);
      // A dependent that stopped pointing at a foreground-deleting owner may have been the last blocking one.
      this.ownerMayBeUnblocked(ref.uid ?? '');
    }
    this.processTransitions(node, meta);
  }

  /** An object was deleted (informer delete, or a virtual owner found absent). */
  remove(uid: string): void {
    const node = this.nodes.get(uid);
    if (!node) return;
    this.nodes.delete(uid);
    for (const ref of node.owners) {
      const owner = this.nodes.get(ref.uid ?? '');
      if (!owner) continue;
      owner.dependents.delete(node);
      if (owner.deletingDependents) this.cb.attemptToDelete(owner);
    }
    // Its dependents lost an owner: each is looked at (deleted when no owner is left).
    for (const dep of node.dependents) this.cb.attemptToDelete(dep);
  }

  /**
   * A virtual node whose object the collector found absent: it goes, and its dependents are looked
   * at. A node observed meanwhile (the object exists after all) stays.
   */
  removeVirtual(uid: string): void {
    const node = this.nodes.get(uid);
    if (node?.virtual) this.remove(uid);
  }

  private addToOwner(node: GraphNode, ref: OwnerReference): void {
    const ownerUid = ref.uid ?? '';
    if (!ownerUid) return;
    let owner = this.nodes.get(ownerUid);
    if (!owner) {
      const info = resourceForKind(ref.apiVersion ?? '', ref.kind ?? '');
      owner = {
        identity: { apiVersion: ref.apiVersion ?? '', kind: ref.kind ?? '', namespace: info && !info.namespaced ? '' : node.identity.namespace, name: ref.name ?? '', uid: ownerUid },
        owners: [],
        dependents: new Set(),
        virtual: true,
        beingDeleted: false,
        deletingDependents: false,
      };
      this.nodes.set(ownerUid, owner);
      // Verified against the apiserver: an owner the caches have not shown yet may still exist.
      this.cb.attemptToDelete(owner);
    }
    owner.dependents.add(node);
  }

  private ownerMayBeUnblocked(ownerUid: string): void {
    const owner = this.nodes.get(ownerUid);
    if (owner?.deletingDependents) this.cb.attemptToDelete(owner);
  }

  /** Deletion with the orphan or foregroundDeletion finalizer starts the collector's work on the owner. */
  private processTransitions(node: GraphNode, meta: ObjectMeta): void {
    node.beingDeleted = !!meta.deletionTimestamp;
    const wasDeletingDependents = node.deletingDependents;
    node.deletingDependents = node.beingDeleted && hasFinalizer(meta, FINALIZER_DELETE_DEPENDENTS);
    if (node.beingDeleted && hasFinalizer(meta, FINALIZER_ORPHAN)) this.cb.attemptToOrphan(node);
    if (node.deletingDependents) {
      if (!wasDeletingDependents) for (const dep of node.dependents) this.cb.attemptToDelete(dep);
      this.cb.attemptToDelete(node);
    }
  }
}
