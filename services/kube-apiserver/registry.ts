import { Binding } from '../lib/generated/kubemu/core/v1/core';
import { DeleteOptions, LabelSelector as MetaLabelSelector, Status } from '../lib/generated/kubemu/meta/v1/meta';
import { Scale } from '../lib/generated/kubemu/autoscaling/v1/autoscaling';
import { ApiError, errors, field, FieldError } from '../lib/errors';
import { fieldValue, parseFieldSelector } from '../lib/fields';
import { labelSelectorFromMeta, parseLabelSelector } from '../lib/labels';
import { applyJsonPatch, applyMergePatch, parsePatchDocument, PatchError } from '../lib/patch';
import { applyStrategicMergePatch, findTypeMismatch, goSyntax, strategicSchemaFor, StrategicPatchError } from '../lib/strategicpatch';
import { managedFieldsFromKubernetes, managedFieldsToKubernetes, trackUpdate } from '../lib/fieldmanager';
import { applyPatch } from './apply';
import { findResource, KubeObject, resourceForCase, ResourceInfo, storageKey, storagePrefix } from '../lib/resources';
import { logger, Logger } from '../lib/log';
import { applyDefaults } from './defaulting';
import { NamespaceCache } from './namespaces';
import { canonicalJson, deepCopy, formatTime, generateName, newUid, specChanged } from './objects';
import {
  EtcdStorage,
  KeyExistsError,
  KeyNotFoundError,
  RevisionCompactedError,
  RevisionConflictError,
  StorageError,
  StorageUnavailableError,
} from './storage';
import { validateCreate, validateStatusUpdate, validateUpdate } from './validation';
import { Allocation, ServiceAllocator } from './serviceallocator';
import { Service } from '../lib/generated/kubemu/core/v1/core';

export interface RegistryOptions {
  /** Seconds of the not-ready/unreachable NoExecute tolerations added to every pod. */
  defaultTolerationSeconds: number;
  /** Largest encoded object accepted (etcd's own request limit is 1.5 MiB). */
  maxObjectBytes: number;
  /** The clock; tests may replace it. */
  now?: () => Date;
  log?: Logger;
  /** Service address allocation; without one, Services keep what they ask for (unit tests). */
  serviceAllocator?: ServiceAllocator;
}

export interface WriteOptions {
  /** ["All"]: run every step but do not store. */
  dryRun?: string[];
  /** Who writes: the write's changed fields are recorded for it in metadata.managedFields (operation Update). */
  fieldManager?: string;
}

/** PATCH options: force only for apply patches (take fields other managers own). */
export interface PatchOptions extends WriteOptions {
  force?: boolean;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
}

export interface ListOutcome {
  items: KubeObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface DeleteOutcome {
  /** The object as it is left while deletion is pending (finalizers, grace period). */
  object?: KubeObject;
  /** Set when the object is gone. */
  status?: Status;
}

const MERGE_PATCH = 'application/merge-patch+json';
const JSON_PATCH = 'application/json-patch+json';
const STRATEGIC_PATCH = 'application/strategic-merge-patch+json';
const APPLY_PATCH = 'application/apply-patch+yaml';
const PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH];
const PROPAGATION_POLICIES = ['Orphan', 'Background', 'Foreground'];
/** Retries of a read-modify-write that lost a race and had no resourceVersion precondition. */
const MAX_RETRIES = 16;
const NAMESPACES = resourceForCase('namespace');
const PODS = resourceForCase('pod');
const SERVICES = resourceForCase('service');
const NO_ALLOCATION: Allocation = { clusterIPs: [], nodePorts: [], loadBalancerIPs: [] };

/**
 * The apiserver's object registry: every API operation, from admission and defaulting through
 * validation to a compare-and-swap write in etcd. Both front ends (gRPC now, REST later) call it,
 * so no behaviour exists in one and not the other. Every method may be called concurrently;
 * every failure is an ApiError.
 */
export class Registry {
  private readonly now: () => Date;
  /** Namespace existence and lifecycle, answered from a watch-fed cache. */
  readonly namespaces: NamespaceCache;

  constructor(private readonly storage: EtcdStorage, private readonly opts: RegistryOptions) {
    this.now = opts.now ?? (() => new Date());
    this.namespaces = new NamespaceCache(storage, opts.log ?? logger('kube-apiserver'));
  }

  /** Resolves a resource name or throws NotFound in Kubernetes' words. */
  resource(name: string): ResourceInfo {
    const info = findResource(name);
    if (!info) throw new ApiError('NotFound', 404, `the server could not find the requested resource (resource "${name}")`);
    return info;
  }

  async create(info: ResourceInfo, namespace: string, input: KubeObject, opts: WriteOptions = {}): Promise<KubeObject> {
    return this.guard(async () => {
      const obj = deepCopy(info, input);
      const meta = (obj.metadata ??= {});
      meta.namespace = this.scopeNamespace(info, namespace, meta.namespace);
      obj.apiVersion = info.apiVersion;
      obj.kind = info.kind;
      const generated = !meta.name && !!meta.generateName;
      if (generated) meta.name = generateName(meta.generateName!);
      meta.uid = newUid();
      meta.creationTimestamp = formatTime(this.now());
      meta.resourceVersion = '';
      // Kinds with a spec/status split count spec changes from 1; others carry no generation.
      meta.generation = info.tracksGeneration ? 1 : 0;
      meta.deletionTimestamp = '';
      meta.deletionGracePeriodSeconds = undefined;
      // Status is the system's to write: only nodes may be created with one, as in Kubernetes.
      if (info.hasStatus && info.objectCase !== 'node') obj.status = undefined;
      this.prepareSecret(info, obj);
      applyDefaults(info, obj, { defaultTolerationSeconds: this.opts.defaultTolerationSeconds });
      this.rejectInvalid(info, obj, validateCreate(info, obj));
      if (opts.fieldManager) this.trackManager(info, obj, undefined, 'spec', opts.fieldManager);
      if (info.namespaced) await this.checkNamespaceAcceptsObjects(meta.namespace!);
      this.encode(info, obj);
      if (isDryRun(opts)) return obj;
      const claimed = await this.allocateService(info, obj);
      const key = storageKey(info, meta.namespace ?? '', meta.name!);
      try {
        meta.resourceVersion = String(await this.storage.create(key, this.encode(info, obj)));
      } catch (err) {
        await this.releaseService(info, claimed, meta.uid);
        if (err instanceof KeyExistsError) {
          if (generated) {
            throw new ApiError('AlreadyExists', 409, `${info.resource} "${meta.name}" already exists, the server was not able to generate a unique name for the object`, { name: meta.name, group: info.group, kind: info.resource, retryAfterSeconds: 1 });
          }
          throw errors.alreadyExists(info.resource, info.group, meta.name!);
        }
        throw err;
      }
      return obj;
    });
  }

  async get(info: ResourceInfo, namespace: string, name: string): Promise<KubeObject> {
    return this.guard(async () => {
      this.requireName(name);
      const ns = this.scopeNamespace(info, namespace, undefined);
      const stored = await this.storage.get(storageKey(info, ns, name));
      if (!stored) throw errors.notFound(info.resource, info.group, name);
      return this.decode(info, stored.value, stored.modRevision);
    });
  }

  async list(info: ResourceInfo, namespace: string, opts: ListOptions = {}): Promise<ListOutcome> {
    return this.guard(async () => {
      if (!info.namespaced && namespace) throw errors.badRequest(`${info.resource} is cluster-scoped: a list cannot name a namespace`);
      const labels = this.parseLabels(opts.labelSelector);
      const fields = this.parseFields(info, opts.fieldSelector);
      const limit = Math.max(0, Number(opts.limit ?? 0));
      const prefix = storagePrefix(info, namespace);
      let revision = 0;
      let fromKey: string | undefined;
      if (opts.continue) {
        const token = decodeContinue(opts.continue);
        revision = token.rv;
        fromKey = token.start;
      }
      const items: KubeObject[] = [];
      let nextKey: string | undefined;
      let readAt = 0;
      // Read pages until `limit` matching items are found or the prefix is exhausted.
      for (;;) {
        const page = await this.storage.list(prefix, { revision: revision || undefined, fromKey, limit: limit ? Math.max(limit * 2, 100) : 0 });
        readAt = revision || page.revision;
        revision = readAt;
        let stoppedEarly = false;
        for (const kv of page.items) {
          const obj = this.decode(info, kv.value, kv.modRevision);
          if (!labels.matches(obj.metadata?.labels)) continue;
          if (fields && !fields.matches((f) => fieldValue(obj, f))) continue;
          if (limit && items.length === limit) {
            nextKey = kv.key;
            stoppedEarly = true;
            break;
          }
          items.push(obj);
        }
        if (stoppedEarly || !page.more || page.items.length === 0) break;
        fromKey = page.items[page.items.length - 1].key + '\0';
      }
      return {
        items,
        resourceVersion: String(readAt),
        continue: nextKey ? encodeContinue(readAt, nextKey) : undefined,
      };
    });
  }

  /** Replaces spec and metadata (status kept for resources with a status subresource). */
  async update(info: ResourceInfo, namespace: string, input: KubeObject, opts: WriteOptions = {}): Promise<KubeObject> {
    return this.guard(() => this.writeUpdate(info, namespace, input, 'spec', opts));
  }

  /** Replaces status only (the status subresource). */
  async updateStatus(info: ResourceInfo, namespace: string, input: KubeObject, opts: WriteOptions = {}): Promise<KubeObject> {
    return this.guard(async () => {
      if (!info.hasStatus) throw errors.methodNotAllowed(`${info.resource} has no status subresource`);
      return this.writeUpdate(info, namespace, input, 'status', opts);
    });
  }

  async patch(
    info: ResourceInfo,
    namespace: string,
    name: string,
    patchType: string,
    patch: Uint8Array | string,
    subresource: string,
    opts: PatchOptions = {},
  ): Promise<KubeObject> {
    return this.guard(async () => {
      this.requireName(name);
      if (subresource !== '' && subresource !== 'status') throw errors.badRequest(`unknown subresource "${subresource}" (supported: "", "status")`);
      if (subresource === 'status' && !info.hasStatus) throw errors.methodNotAllowed(`${info.resource} has no status subresource`);
      if (!PATCH_TYPES.includes(patchType)) {
        throw errors.unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`);
      }
      if (patchType === APPLY_PATCH) {
        return applyPatch(this, info, namespace, name, patch, subresource, { ...opts, now: this.now(), defaultTolerationSeconds: this.opts.defaultTolerationSeconds });
      }
      if (opts.force !== undefined) throw errors.invalid('PatchOptions', 'meta.k8s.io', '', [field.forbidden('force', 'may not be specified for non-apply patch')]);
      let doc: unknown;
      try {
        doc = parsePatchDocument(patch);
      } catch (err) {
        throw errors.badRequest(err instanceof Error ? err.message : String(err));
      }
      if (patchType === STRATEGIC_PATCH && doc !== null && (typeof doc !== 'object' || Array.isArray(doc))) {
        // Kubernetes decodes the patch into a map first; Go's words for any other JSON value.
        const goKind = Array.isArray(doc) ? 'array' : typeof doc === 'boolean' ? 'bool' : typeof doc;
        throw errors.badRequest(`json: cannot unmarshal ${goKind} into Go value of type map[string]interface {}`);
      }
      for (let attempt = 0; ; attempt++) {
        const current = await this.get(info, namespace, name);
        // Patches see managedFields as Kubernetes shows them (fieldsV1 an object), and are decoded back.
        const currentJson = managedFieldsToKubernetes(info.codec.toJSON(current as never));
        let patched: unknown;
        try {
          if (patchType === MERGE_PATCH) patched = applyMergePatch(currentJson, doc);
          else if (patchType === JSON_PATCH) patched = applyJsonPatch(currentJson, doc);
          else patched = applyStrategicMergePatch(currentJson, doc ?? {}, strategicSchemaFor(info.kind));
        } catch (err) {
          if (err instanceof PatchError) throw new ApiError('Invalid', 422, err.message);
          // Kubernetes' interpretStrategicMergePatchError: malformed directives 400, the rest as is.
          if (err instanceof StrategicPatchError) {
            if (err.code === 400) throw errors.badRequest(err.message);
            if (err.code === 422) throw new ApiError('Invalid', 422, err.message);
            throw errors.internal(err.message);
          }
          throw err;
        }
        if (!patched || typeof patched !== 'object' || Array.isArray(patched)) {
          throw errors.badRequest('the patched object is not a JSON object');
        }
        patched = managedFieldsFromKubernetes(patched);
        const next = this.fromJson(info, patched);
        // A value of the wrong JSON type is what Kubernetes' decoder refuses after a patch (422 on "patch").
        const mismatch = findTypeMismatch(patched, info.codec.toJSON(next as never));
        if (mismatch) {
          throw errors.invalid('', '', '', [field.invalid('patch', goSyntax(doc), `json: cannot unmarshal ${mismatch.given} into Go struct field ${info.kind}${mismatch.path} of type ${mismatch.wanted}`)]);
        }
        const requestedRv = (patched as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
        const userPinnedRv = requestedRv !== undefined && requestedRv !== current.metadata?.resourceVersion;
        next.metadata ??= {};
        if (next.metadata.name !== name) {
          this.rejectInvalid(info, next, [field.invalid('metadata.name', next.metadata.name, 'field is immutable')]);
        }
        if (!userPinnedRv) next.metadata.resourceVersion = current.metadata?.resourceVersion;
        try {
          return await this.writeUpdate(info, namespace, next, subresource === 'status' ? 'status' : 'spec', opts);
        } catch (err) {
          // A patch without a resourceVersion of its own is retried against the newer object.
          if (!userPinnedRv && err instanceof ApiError && err.reason === 'Conflict' && attempt < MAX_RETRIES) continue;
          throw err;
        }
      }
    });
  }

  async delete(info: ResourceInfo, namespace: string, name: string, options: DeleteOptions = {}): Promise<DeleteOutcome> {
    return this.guard(async () => {
      this.requireName(name);
      const ns = this.scopeNamespace(info, namespace, undefined);
      const policy = options.propagationPolicy;
      if (policy !== undefined && !PROPAGATION_POLICIES.includes(policy)) {
        throw errors.invalid('DeleteOptions', '', '', [field.notSupported('propagationPolicy', policy, PROPAGATION_POLICIES)]);
      }
      if (options.gracePeriodSeconds !== undefined && options.gracePeriodSeconds < 0) {
        throw errors.invalid('DeleteOptions', '', '', [field.invalid('gracePeriodSeconds', options.gracePeriodSeconds, 'must be greater than or equal to 0')]);
      }
      const key = storageKey(info, ns, name);
      for (let attempt = 0; ; attempt++) {
        const stored = await this.storage.get(key);
        if (!stored) throw errors.notFound(info.resource, info.group, name);
        const current = this.decode(info, stored.value, stored.modRevision);
        const meta = current.metadata!;
        const pre = options.preconditions;
        if (pre?.uid !== undefined && pre.uid !== meta.uid) {
          throw errors.conflict(info.resource, info.group, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${meta.uid}`);
        }
        if (pre?.resourceVersion !== undefined && pre.resourceVersion !== meta.resourceVersion) {
          throw errors.conflict(info.resource, info.group, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${meta.resourceVersion}`);
        }
        const next = deepCopy(info, current);
        const nmeta = next.metadata!;
        const finalizers = new Set(nmeta.finalizers ?? []);
        if (policy === 'Orphan') {
          finalizers.add('orphan');
          finalizers.delete('foregroundDeletion');
        } else if (policy === 'Foreground') {
          finalizers.add('foregroundDeletion');
          finalizers.delete('orphan');
        } else if (policy === 'Background') {
          finalizers.delete('orphan');
          finalizers.delete('foregroundDeletion');
        }
        const grace = this.gracePeriod(info, current, options);
        const alreadyDeleting = !!meta.deletionTimestamp;
        const namespacePending = info === NAMESPACES && (((next.spec as { finalizers?: string[] } | undefined)?.finalizers?.length ?? 0) > 0);
        if (finalizers.size === 0 && grace === 0 && !namespacePending) {
          if (isDryRun(options)) return { status: successStatus(info, current) };
          try {
            await this.storage.delete(key, stored.modRevision);
          } catch (err) {
            if (err instanceof RevisionConflictError && attempt < MAX_RETRIES) continue;
            if (err instanceof KeyNotFoundError) throw errors.notFound(info.resource, info.group, name);
            throw err;
          }
          await this.releaseServiceOf(info, current);
          return { status: successStatus(info, current) };
        }
        // Deletion is pending: record it on the object and leave the rest to whoever holds it.
        nmeta.finalizers = [...finalizers];
        const now = this.now();
        if (!alreadyDeleting) {
          nmeta.deletionTimestamp = formatTime(new Date(now.getTime() + grace * 1000));
          nmeta.deletionGracePeriodSeconds = grace;
          // Kubernetes counts a graceful deletion as a change of desired state, for kinds that count.
          if (grace > 0 && (nmeta.generation ?? 0) > 0) nmeta.generation = (nmeta.generation ?? 0) + 1;
        } else if (grace < (meta.deletionGracePeriodSeconds ?? Number.MAX_SAFE_INTEGER)) {
          // A second delete may only shorten the grace period.
          nmeta.deletionTimestamp = formatTime(new Date(now.getTime() + grace * 1000));
          nmeta.deletionGracePeriodSeconds = grace;
        }
        if (info === NAMESPACES) (next.status as { phase?: string }) = { ...(next.status as object), phase: 'Terminating' };
        if (canonicalJson(info.codec.toJSON(next as never)) === canonicalJson(info.codec.toJSON(current as never))) {
          return { object: current };
        }
        if (isDryRun(options)) return { object: next };
        try {
          nmeta.resourceVersion = String(await this.storage.update(key, this.encode(info, next), stored.modRevision));
        } catch (err) {
          if (err instanceof RevisionConflictError && attempt < MAX_RETRIES) continue;
          if (err instanceof KeyNotFoundError) throw errors.notFound(info.resource, info.group, name);
          throw err;
        }
        return { object: next };
      }
    });
  }

  /**
   * The scale subresource (autoscaling/v1 Scale) of a deployment, replicaset or statefulset:
   * spec.replicas, status.replicas and the pod selector in its string form. Throws NotFound for
   * a missing object or a resource that has no scale subresource.
   */
  async getScale(info: ResourceInfo, namespace: string, name: string): Promise<Scale> {
    return this.guard(async () => {
      this.requireScalable(info);
      return scaleOf(info, await this.get(info, namespace, name));
    });
  }

  /**
   * Sets spec.replicas through the scale subresource: the object's other fields are kept; a
   * resourceVersion in the Scale is a precondition (Conflict when stale). Invalid for negative
   * replicas. Returns the new Scale.
   */
  async updateScale(info: ResourceInfo, namespace: string, scale: Scale): Promise<Scale> {
    return this.guard(async () => {
      this.requireScalable(info);
      const name = scale.metadata?.name ?? '';
      this.requireName(name);
      const replicas = scale.spec?.replicas ?? 0;
      if (!Number.isInteger(replicas) || replicas < 0) {
        throw errors.invalid('Scale', 'autoscaling', name, [field.invalid('spec.replicas', replicas, 'must be greater than or equal to 0')]);
      }
      const wantVersion = scale.metadata?.resourceVersion;
      for (;;) {
        const current = (await this.get(info, namespace, name)) as KubeObject & { spec?: { replicas?: number } };
        if (wantVersion && wantVersion !== current.metadata?.resourceVersion) {
          throw errors.conflict(info.resource, info.group, name, 'the object has been modified; please apply your changes to the latest version and try again');
        }
        const next = { ...current, spec: { ...(current.spec ?? {}), replicas } };
        try {
          return scaleOf(info, await this.update(info, namespace, next as KubeObject));
        } catch (err) {
          // A write between our read and our update: without a precondition, scale the latest.
          if (!wantVersion && err instanceof ApiError && err.reason === 'Conflict') continue;
          throw err;
        }
      }
    });
  }

  private requireScalable(info: ResourceInfo): void {
    if (!SCALABLE.has(info.resource)) throw new ApiError('NotFound', 404, `the server could not find the requested resource (${info.resource}/scale)`);
  }

  /** The pods/binding subresource: sets spec.nodeName once, with the PodScheduled condition. */
  async bind(namespace: string, name: string, binding: Binding): Promise<Status> {
    return this.guard(async () => {
      this.requireName(name);
      const target = binding.target;
      const errs: FieldError[] = [];
      if (!target?.name) errs.push(field.required('target.name'));
      if (target?.kind && target.kind !== 'Node') errs.push(field.notSupported('target.kind', target.kind, ['Node']));
      if (errs.length) throw errors.invalid('Binding', '', name, errs);
      const key = storageKey(PODS, namespace, name);
      for (let attempt = 0; ; attempt++) {
        const stored = await this.storage.get(key);
        if (!stored) throw errors.notFound('pods', '', name);
        const pod = this.decode(PODS, stored.value, stored.modRevision) as import('../lib/generated/kubemu/core/v1/core').Pod;
        if (binding.metadata?.uid && binding.metadata.uid !== pod.metadata?.uid) {
          throw errors.conflict('pods', '', name, `Precondition failed: UID in precondition: ${binding.metadata.uid}, UID in object meta: ${pod.metadata?.uid}`);
        }
        if (pod.metadata?.deletionTimestamp) throw errors.conflict('pods/binding', '', name, `pod ${name} is being deleted, cannot be assigned to a host`);
        if (pod.spec?.nodeName) throw errors.conflict('pods/binding', '', name, `pod ${name} is already assigned to node "${pod.spec.nodeName}"`);
        const next = deepCopy(PODS, pod);
        next.spec!.nodeName = target!.name;
        if (binding.metadata?.annotations) next.metadata!.annotations = { ...next.metadata!.annotations, ...binding.metadata.annotations };
        const status = (next.status ??= {});
        const conditions = (status.conditions ??= []).filter((c) => c.type !== 'PodScheduled');
        conditions.push({ type: 'PodScheduled', status: 'True', lastTransitionTime: formatTime(this.now()) });
        status.conditions = conditions;
        try {
          await this.storage.update(key, this.encode(PODS, next), stored.modRevision);
        } catch (err) {
          if (err instanceof RevisionConflictError && attempt < MAX_RETRIES) continue;
          if (err instanceof KeyNotFoundError) throw errors.notFound('pods', '', name);
          throw err;
        }
        return { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Success', code: 201 };
      }
    });
  }

  // ------------------------------------------------------------------ internals

  private async writeUpdate(info: ResourceInfo, namespace: string, input: KubeObject, part: 'spec' | 'status', opts: WriteOptions): Promise<KubeObject> {
    const name = input.metadata?.name ?? '';
    if (!name) throw errors.invalid(info.kind, info.group, '', [field.required('metadata.name', 'name is required')]);
    const ns = this.scopeNamespace(info, namespace, input.metadata?.namespace);
    const key = storageKey(info, ns, name);
    const wantedRv = input.metadata?.resourceVersion || '';
    if (wantedRv && !/^\d+$/.test(wantedRv)) {
      throw errors.invalid(info.kind, info.group, name, [field.invalid('metadata.resourceVersion', wantedRv, 'must be a decimal etcd revision')]);
    }
    for (let attempt = 0; ; attempt++) {
      const stored = await this.storage.get(key);
      if (!stored) throw errors.notFound(info.resource, info.group, name);
      const old = this.decode(info, stored.value, stored.modRevision);
      if (wantedRv && wantedRv !== String(stored.modRevision)) {
        throw errors.conflict(info.resource, info.group, name, 'the object has been modified; please apply your changes to the latest version and try again');
      }
      const next = part === 'status' ? this.prepareStatusUpdate(info, input, old) : this.prepareSpecUpdate(info, input, old);
      // An update that leaves managedFields out keeps them (as Kubernetes); a fieldManager records its changes.
      if (!next.metadata?.managedFields?.length) next.metadata!.managedFields = old.metadata?.managedFields ?? [];
      if (opts.fieldManager) this.trackManager(info, next, old, part, opts.fieldManager);
      const errs = part === 'status' ? validateStatusUpdate(info, next, old) : validateUpdate(info, next, old);
      const added = (next.metadata?.finalizers ?? []).filter((f) => !(old.metadata?.finalizers ?? []).includes(f));
      if (old.metadata?.deletionTimestamp && added.length) {
        errs.push(field.forbidden('metadata.finalizers', `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`));
      }
      this.rejectInvalid(info, next, errs);
      // No change: no write, no new resourceVersion (as Kubernetes).
      if (canonicalJson(info.codec.toJSON(next as never)) === canonicalJson(info.codec.toJSON(old as never))) return old;
      if (isDryRun(opts)) return next;
      let claimed = NO_ALLOCATION;
      try {
        if (this.deletionComplete(info, next)) {
          await this.storage.delete(key, stored.modRevision);
          await this.releaseServiceOf(info, old);
          return next;
        }
        if (part === 'spec') claimed = await this.allocateService(info, next, old);
        next.metadata!.resourceVersion = String(await this.storage.update(key, this.encode(info, next), stored.modRevision));
        if (info === SERVICES && this.opts.serviceAllocator) {
          await this.releaseService(info, this.opts.serviceAllocator.dropped(next as Service, old as Service), old.metadata?.uid);
        }
        return next;
      } catch (err) {
        await this.releaseService(info, claimed, next.metadata?.uid);
        if (err instanceof RevisionConflictError) {
          if (!wantedRv && attempt < MAX_RETRIES) continue;
          throw errors.conflict(info.resource, info.group, name, 'the object has been modified; please apply your changes to the latest version and try again');
        }
        if (err instanceof KeyNotFoundError) throw errors.notFound(info.resource, info.group, name);
        throw err;
      }
    }
  }

  /** Records in obj.metadata.managedFields the fields `manager` set (create) or changed (update); see fieldmanager.trackUpdate. */
  private trackManager(info: ResourceInfo, obj: KubeObject, old: KubeObject | undefined, part: 'spec' | 'status', manager: string): void {
    obj.metadata!.managedFields = trackUpdate({
      old: old ? (info.codec.toJSON(old as never) as Record<string, unknown>) : undefined,
      next: info.codec.toJSON(obj as never) as Record<string, unknown>,
      managedFields: obj.metadata?.managedFields ?? [],
      manager,
      apiVersion: info.apiVersion,
      time: formatTime(this.now()),
      schema: strategicSchemaFor(info.kind),
      hasStatus: info.hasStatus,
      subresource: part === 'status' ? 'status' : '',
    });
  }

  /**
   * Claims the addresses a Service being created or updated needs and writes them into it (see
   * ServiceAllocator.allocate); nothing for other kinds. Throws Invalid for a requested address
   * that is out of range or taken.
   */
  private async allocateService(info: ResourceInfo, obj: KubeObject, old?: KubeObject): Promise<Allocation> {
    if (info !== SERVICES || !this.opts.serviceAllocator) return NO_ALLOCATION;
    return this.opts.serviceAllocator.allocate(obj as Service, old as Service | undefined);
  }

  /** Gives back claims (of the Service with `uid`); a failure is logged, never thrown, since it only leaks. */
  private async releaseService(info: ResourceInfo, allocation: Allocation, uid: string | undefined): Promise<void> {
    if (info !== SERVICES || !this.opts.serviceAllocator) return;
    if (!allocation.clusterIPs.length && !allocation.nodePorts.length && !allocation.loadBalancerIPs.length) return;
    try {
      await this.opts.serviceAllocator.release(allocation, uid ?? '');
    } catch (err) {
      (this.opts.log ?? logger('kube-apiserver')).warn('could not release service addresses', { uid, err: (err as Error).message });
    }
  }

  /** Gives back everything a deleted Service held. */
  private async releaseServiceOf(info: ResourceInfo, obj: KubeObject): Promise<void> {
    if (info !== SERVICES || !this.opts.serviceAllocator) return;
    await this.releaseService(info, this.opts.serviceAllocator.held(obj as Service), obj.metadata?.uid);
  }

  /** An object whose deletion was pending and now has nothing holding it goes away. */
  private deletionComplete(info: ResourceInfo, obj: KubeObject): boolean {
    const meta = obj.metadata!;
    if (!meta.deletionTimestamp || (meta.finalizers?.length ?? 0) > 0) return false;
    if (info === NAMESPACES) return ((obj.spec as { finalizers?: string[] } | undefined)?.finalizers?.length ?? 0) === 0;
    // A pod in its grace period is removed by its kubelet with a delete of grace 0, not by an update.
    if (info === PODS && (meta.deletionGracePeriodSeconds ?? 0) > 0) return false;
    return true;
  }

  private prepareSpecUpdate(info: ResourceInfo, input: KubeObject, old: KubeObject): KubeObject {
    const next = deepCopy(info, input);
    next.apiVersion = info.apiVersion;
    next.kind = info.kind;
    const meta = (next.metadata ??= {});
    const oldMeta = old.metadata!;
    meta.namespace = oldMeta.namespace;
    if (!meta.uid) meta.uid = oldMeta.uid;
    meta.creationTimestamp = oldMeta.creationTimestamp;
    meta.deletionTimestamp = oldMeta.deletionTimestamp;
    meta.deletionGracePeriodSeconds = oldMeta.deletionGracePeriodSeconds;
    meta.generation = oldMeta.generation;
    meta.resourceVersion = oldMeta.resourceVersion;
    if (info.hasStatus) next.status = old.status;
    this.prepareSecret(info, next);
    if (info.objectCase === 'service') {
      dropTypeDependentFields(next as Service, old as Service);
      keepAllocatedClusterIPs(next, old);
      keepAllocatedNodePorts(next, old);
    }
    applyDefaults(info, next, { defaultTolerationSeconds: this.opts.defaultTolerationSeconds, update: true });
    if (info.tracksGeneration && specChanged(info, next, old)) meta.generation = (oldMeta.generation ?? 0) + 1;
    return next;
  }

  private prepareStatusUpdate(info: ResourceInfo, input: KubeObject, old: KubeObject): KubeObject {
    const next = deepCopy(info, old);
    next.status = deepCopy(info, { status: input.status } as KubeObject).status;
    if (info === NAMESPACES && old.metadata?.deletionTimestamp) {
      (next.status as { phase?: string }) = { ...(next.status as object), phase: 'Terminating' };
    }
    return next;
  }

  /** Secret.stringData is write-only: merged into data, never stored. */
  private prepareSecret(info: ResourceInfo, obj: KubeObject): void {
    if (info.objectCase !== 'secret') return;
    const secret = obj as { data?: Record<string, Uint8Array>; stringData?: Record<string, string> };
    if (secret.stringData && Object.keys(secret.stringData).length) {
      secret.data ??= {};
      for (const [k, v] of Object.entries(secret.stringData)) secret.data[k] = Buffer.from(v, 'utf8');
    }
    secret.stringData = undefined;
  }

  private gracePeriod(info: ResourceInfo, obj: KubeObject, options: DeleteOptions): number {
    if (info !== PODS) return 0;
    const pod = obj as import('../lib/generated/kubemu/core/v1/core').Pod;
    // An unscheduled or finished pod has no kubelet to finish it: it goes at once.
    if (!pod.spec?.nodeName) return 0;
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return 0;
    const grace = options.gracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    return Math.max(0, Number(grace));
  }

  /** The namespace an object lives in, reconciling the request's and the object's. */
  private scopeNamespace(info: ResourceInfo, requestNs: string, objectNs: string | undefined): string {
    if (!info.namespaced) {
      if (objectNs) {
        throw errors.badRequest(`${info.kind} is cluster-scoped: metadata.namespace must be empty, got "${objectNs}"`);
      }
      return '';
    }
    if (requestNs && objectNs && requestNs !== objectNs) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    const ns = requestNs || objectNs || '';
    if (!ns) throw errors.badRequest(`${info.resource} is namespaced: a namespace is required`);
    return ns;
  }

  private async checkNamespaceAcceptsObjects(namespace: string): Promise<void> {
    const ns = await this.namespaces.lookup(namespace);
    if (!ns) throw errors.notFound('namespaces', '', namespace);
    if (ns.terminating) {
      throw new ApiError('Forbidden', 403, `unable to create new content in namespace ${namespace} because it is being terminated`, {
        name: namespace,
        kind: 'namespaces',
        causes: [{ reason: 'NamespaceTerminating', message: `namespace ${namespace} is being terminated`, field: 'metadata.namespace' }],
      });
    }
  }

  private requireName(name: string): void {
    if (!name) throw errors.badRequest('resource name may not be empty');
  }

  private parseLabels(s: string | undefined) {
    try {
      return parseLabelSelector(s ?? '');
    } catch (err) {
      throw errors.badRequest(`unable to parse labelSelector: ${(err as Error).message}`);
    }
  }

  private parseFields(info: ResourceInfo, s: string | undefined) {
    if (!s) return undefined;
    let sel;
    try {
      sel = parseFieldSelector(s);
    } catch (err) {
      throw errors.badRequest(`unable to parse fieldSelector: ${(err as Error).message}`);
    }
    const allowed = new Set(['metadata.name', 'metadata.namespace', ...info.fieldSelectors]);
    for (const f of sel.fields()) {
      if (!allowed.has(f)) throw errors.badRequest(`field label not supported: ${f}`);
    }
    return sel;
  }

  private fromJson(info: ResourceInfo, json: unknown): KubeObject {
    try {
      return info.codec.fromJSON(json) as KubeObject;
    } catch (err) {
      throw errors.badRequest(`the object could not be decoded as ${info.kind}: ${(err as Error).message}`);
    }
  }

  private rejectInvalid(info: ResourceInfo, obj: KubeObject, errs: FieldError[]): void {
    if (errs.length) throw errors.invalid(info.kind, info.group, obj.metadata?.name ?? '', errs);
  }

  private encode(info: ResourceInfo, obj: KubeObject): Uint8Array {
    const rv = obj.metadata!.resourceVersion;
    obj.metadata!.resourceVersion = '';
    const bytes = info.codec.encode(obj as never).finish();
    obj.metadata!.resourceVersion = rv;
    if (bytes.length > this.opts.maxObjectBytes) {
      throw errors.tooLarge(`${info.kind} "${obj.metadata?.name}" is too large: ${bytes.length} bytes, the limit is ${this.opts.maxObjectBytes}`);
    }
    return bytes;
  }

  /** Decodes a stored object and stamps its resourceVersion. */
  decode(info: ResourceInfo, value: Uint8Array, modRevision: number): KubeObject {
    const obj = info.codec.decode(value) as KubeObject;
    obj.apiVersion = info.apiVersion;
    obj.kind = info.kind;
    (obj.metadata ??= {}).resourceVersion = String(modRevision);
    return obj;
  }

  /** Runs an operation and turns every failure into an ApiError. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toApiError(err);
    }
  }
}

/** Maps storage and unexpected failures into ApiErrors; ApiErrors pass through. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof RevisionCompactedError) {
    return errors.expired('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
  }
  if (err instanceof StorageUnavailableError) return errors.unavailable(`storage is unavailable: ${err.message}`, err);
  if (err instanceof StorageError) return errors.internal(err.message, err);
  return errors.internal(err instanceof Error ? err.message : String(err), err);
}

/** A Service update that leaves clusterIP(s) out keeps the allocated ones (as Kubernetes does for `kubectl replace`). */
function keepAllocatedClusterIPs(next: KubeObject, old: KubeObject): void {
  const spec = next.spec as { clusterIP?: string; clusterIPs?: string[] } | undefined;
  const oldSpec = old.spec as { clusterIP?: string; clusterIPs?: string[] } | undefined;
  if (!spec || !oldSpec) return;
  // A Service turning into an ExternalName gives its address up (validation wants it empty).
  if ((spec as { type?: string }).type === 'ExternalName') return;
  if (!spec.clusterIP && oldSpec.clusterIP) spec.clusterIP = oldSpec.clusterIP;
  if (!spec.clusterIPs?.length && oldSpec.clusterIPs?.length && spec.clusterIP === oldSpec.clusterIP) spec.clusterIPs = [...oldSpec.clusterIPs];
}

/**
 * Kubernetes' dropTypeDependentFields: a type change that no longer needs a clusterIP, nodePorts
 * or load-balancer settings drops the values the user left as they were, so that changing only
 * `type` is a valid update (the allocator then releases what was dropped).
 */
function dropTypeDependentFields(next: Service, old: Service): void {
  const spec = next.spec;
  const oldSpec = old.spec;
  if (!spec || !oldSpec) return;
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  if (spec.type === 'ExternalName' && oldSpec.type !== 'ExternalName') {
    if (same(spec.clusterIP, oldSpec.clusterIP)) spec.clusterIP = undefined;
    if (same(spec.clusterIPs, oldSpec.clusterIPs)) spec.clusterIPs = [];
    if (same(spec.ipFamilies, oldSpec.ipFamilies)) spec.ipFamilies = [];
    if (same(spec.ipFamilyPolicy, oldSpec.ipFamilyPolicy)) spec.ipFamilyPolicy = undefined;
  }
  const needsNodePorts = (t: string | undefined) => t === 'NodePort' || t === 'LoadBalancer';
  if (!needsNodePorts(spec.type) && needsNodePorts(oldSpec.type)) {
    for (const p of spec.ports ?? []) {
      if (p.nodePort && (oldSpec.ports ?? []).some((o) => o.nodePort === p.nodePort)) p.nodePort = 0;
    }
  }
  if (spec.type !== 'LoadBalancer' && oldSpec.type === 'LoadBalancer') {
    if (same(spec.allocateLoadBalancerNodePorts, oldSpec.allocateLoadBalancerNodePorts)) spec.allocateLoadBalancerNodePorts = undefined;
    if (same(spec.loadBalancerClass, oldSpec.loadBalancerClass)) spec.loadBalancerClass = undefined;
  }
  const external = (x: NonNullable<Service['spec']>) => x.type === 'NodePort' || x.type === 'LoadBalancer' || (x.type === 'ClusterIP' && (x.externalIPs ?? []).length > 0);
  if (!external(spec) && external(oldSpec) && same(spec.externalTrafficPolicy, oldSpec.externalTrafficPolicy)) spec.externalTrafficPolicy = '';
}

/** An update that leaves a port's nodePort out keeps the allocated one, while the type still wants one (as Kubernetes). */
function keepAllocatedNodePorts(next: KubeObject, old: KubeObject): void {
  const spec = (next as Service).spec;
  const oldSpec = (old as Service).spec;
  const wants = (t: string | undefined) => t === 'NodePort' || t === 'LoadBalancer';
  if (!spec || !oldSpec || !wants(spec.type) || !wants(oldSpec.type)) return;
  for (const p of spec.ports ?? []) {
    if (p.nodePort) continue;
    const before = (oldSpec.ports ?? []).find((o) => o.port === p.port && (o.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
    if (before?.nodePort) p.nodePort = before.nodePort;
  }
}

function isDryRun(opts: { dryRun?: string[] }): boolean {
  return (opts.dryRun ?? []).includes('All');
}

function successStatus(info: ResourceInfo, obj: KubeObject): Status {
  return {
    apiVersion: 'v1',
    kind: 'Status',
    metadata: {},
    status: 'Success',
    details: { name: obj.metadata?.name, group: info.group, kind: info.resource, uid: obj.metadata?.uid },
    code: 200,
  };
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64url');
}

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (parsed.v !== 'meta.k8s.io/v1' || typeof parsed.rv !== 'number' || typeof parsed.start !== 'string') throw new Error('bad token');
    return { rv: parsed.rv, start: parsed.start };
  } catch {
    throw errors.badRequest('continue key is not valid: the continue token is malformed');
  }
}

/** Resources with a scale subresource. */
const SCALABLE = new Set(['deployments', 'replicasets', 'statefulsets']);

/** The autoscaling/v1 Scale of a scalable object (its selector formatted as kubectl shows it). */
function scaleOf(info: ResourceInfo, obj: KubeObject): Scale {
  const o = obj as KubeObject & { spec?: { replicas?: number; selector?: MetaLabelSelector }; status?: { replicas?: number } };
  const meta = o.metadata ?? {};
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: { name: meta.name, namespace: meta.namespace, uid: meta.uid, resourceVersion: meta.resourceVersion, creationTimestamp: meta.creationTimestamp },
    spec: { replicas: o.spec?.replicas ?? 0 },
    status: { replicas: o.status?.replicas ?? 0, selector: labelSelectorFromMeta(o.spec?.selector).toString() },
  };
}
