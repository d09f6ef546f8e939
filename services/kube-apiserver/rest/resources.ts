import { IncomingMessage, ServerResponse } from 'http';
import { NatsConnection } from 'nats';
import { Scale } from '../../lib/generated/kubemu/autoscaling/v1/autoscaling';
import { Binding } from '../../lib/generated/kubemu/core/v1/core';
import { DeleteOptions, Status } from '../../lib/generated/kubemu/meta/v1/meta';
import { ApiError, errors } from '../../lib/errors';
import { managedFieldsFromKubernetes, managedFieldsToKubernetes } from '../../lib/fieldmanager';
import { Logger } from '../../lib/log';
import { applyJsonPatch, applyMergePatch, parsePatchDocument, PatchError } from '../../lib/patch';
import { KubeObject, ResourceInfo } from '../../lib/resources';
import { Registry, WriteOptions } from '../registry';
import { SCALABLE } from './discovery';
import { openapi } from './openapihook';
import { ResourceRequest } from './paths';
import { boolParam, chooseForm, decodeBody, dryRunOf, intParam, mediaType, readBody, ResponseForm } from './request';
import { writeJson } from './respond';
import { tablePrinter } from './tablehook';
import { ObjectEncoder, serveWatch, WatchEventType } from './watch';

export interface ResourceDeps {
  registry: Registry;
  nats?: NatsConnection;
  log: Logger;
  /** Default watch timeout when the client sets none (Kubernetes: 30–60 min). */
  watchTimeoutSeconds?: number;
  bookmarkIntervalMs?: number;
}

/** A resource request resolved against the resource table. */
export interface ResolvedRequest extends ResourceRequest {
  info: ResourceInfo;
}

/** The methods each kind of path takes; anything else is 405. */
const COLLECTION_METHODS = new Set(['GET', 'HEAD', 'POST', 'DELETE']);
const OBJECT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE']);

/** The Kubernetes 405 Status. */
export function methodNotAllowed(): ApiError {
  return errors.methodNotAllowed('the server does not allow this method on the requested resource');
}

/**
 * An object's JSON form (codec.toJSON) with kind and apiVersion first and managedFields[].fieldsV1
 * as objects (kubemu stores them as text), as Kubernetes writes them.
 */
export function objectJson(info: ResourceInfo, obj: KubeObject): Record<string, unknown> {
  const j = managedFieldsToKubernetes(info.codec.toJSON(obj as never)) as Record<string, unknown>;
  const { kind: _k, apiVersion: _a, ...rest } = j;
  return { kind: info.kind, apiVersion: info.apiVersion, ...rest };
}

function metadataJson(obj: KubeObject): Record<string, unknown> {
  const j = { metadata: obj.metadata };
  const metadata = JSON.parse(JSON.stringify(j.metadata ?? {}));
  return managedFieldsToKubernetes({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata }) as Record<string, unknown>;
}

function includeObjectOf(query: URLSearchParams): 'None' | 'Metadata' | 'Object' | undefined {
  const v = query.get('includeObject');
  if (v === null) return undefined;
  if (v === 'None' || v === 'Metadata' || v === 'Object') return v;
  throw errors.badRequest(`includeObject: Unsupported value: ${JSON.stringify(v)}: supported values: "Metadata", "None", "Object"`);
}

/** Writes one object in the form the client asked for. */
function writeObject(res: ServerResponse, code: number, info: ResourceInfo, obj: KubeObject, form: ResponseForm, query: URLSearchParams, headers: Record<string, string> = {}): void {
  const toTable = tablePrinter();
  if (form === 'table' && toTable) {
    writeJson(res, code, toTable(info, [obj], { includeObject: includeObjectOf(query), listMeta: { resourceVersion: obj.metadata?.resourceVersion } }), headers);
  } else if (form === 'metadata') {
    writeJson(res, code, metadataJson(obj), headers);
  } else {
    writeJson(res, code, objectJson(info, obj), headers);
  }
}

/**
 * Serves a resource path (no subresource, or status/scale/binding/eviction): every operation is
 * one Registry call (deletecollection: a list and a delete per object). Throws ApiErrors for the
 * caller to write as Status.
 */
export async function serveResource(req: IncomingMessage, res: ServerResponse, r: ResolvedRequest, query: URLSearchParams, deps: ResourceDeps): Promise<void> {
  const { info } = r;
  const method = req.method ?? 'GET';
  if (r.subresource) return serveSubresource(req, res, r, query, deps);
  const allowed = r.name ? OBJECT_METHODS : COLLECTION_METHODS;
  if (!allowed.has(method)) throw methodNotAllowed();
  const form = method === 'GET' || method === 'HEAD' ? chooseForm(req.headers.accept, tablePrinter() !== undefined) : chooseForm(req.headers.accept, false);
  const ns = r.namespace;

  if (method === 'GET' || method === 'HEAD') {
    const isWatch = boolParam(query, 'watch');
    if (r.name && !isWatch) {
      writeObject(res, 200, info, await deps.registry.get(info, ns, r.name), form, query);
      return;
    }
    if (isWatch) return watch(res, r, query, deps, form);
    return list(res, r, query, deps, form);
  }

  const writeOpts = writeOptions(query);
  switch (method) {
    case 'POST': {
      const { obj, warnings } = await decodeObject(req, info, query);
      const meta = (obj.metadata ??= {});
      if (info.namespaced && !meta.namespace) meta.namespace = ns;
      const created = await deps.registry.create(info, ns, obj, writeOpts);
      writeObject(res, 201, info, created, form, query, warningHeader(warnings));
      return;
    }
    case 'PUT': {
      const { obj, warnings } = await decodeObject(req, info, query);
      const meta = (obj.metadata ??= {});
      if (meta.name !== r.name) throw errors.badRequest(`the name of the object (${meta.name ?? ''}) does not match the name on the URL (${r.name})`);
      if (info.namespaced && !meta.namespace) meta.namespace = ns;
      const updated = await deps.registry.update(info, ns, obj, writeOpts);
      writeObject(res, 200, info, updated, form, query, warningHeader(warnings));
      return;
    }
    case 'PATCH': {
      // An apply patch may create the object: 201 then, as Kubernetes' patch handler answers.
      const created = mediaType(req.headers['content-type']) === 'application/apply-patch+yaml' && !(await exists(deps.registry, r));
      const patched = await patch(req, r, '', query, deps, writeOpts);
      writeObject(res, created ? 201 : 200, info, patched, form, query);
      return;
    }
    case 'DELETE': {
      const options = await deleteOptions(req, query);
      if (r.name) {
        const out = await deps.registry.delete(info, ns, r.name, options);
        if (out.object) writeObject(res, 200, info, out.object, form, query);
        else writeJson(res, 200, statusJson(out.status));
        return;
      }
      return deleteCollection(res, r, query, deps, options, form);
    }
  }
}

async function list(res: ServerResponse, r: ResolvedRequest, query: URLSearchParams, deps: ResourceDeps, form: ResponseForm): Promise<void> {
  const { info } = r;
  const limit = intParam(query, 'limit');
  if (limit !== undefined && limit < 0) throw errors.badRequest(`limit: Invalid value: ${limit}: must be greater than or equal to 0`);
  const rvMatch = query.get('resourceVersionMatch');
  if (rvMatch && rvMatch !== 'NotOlderThan' && rvMatch !== 'Exact') {
    throw errors.badRequest(`resourceVersionMatch: Unsupported value: ${JSON.stringify(rvMatch)}: supported values: "Exact", "NotOlderThan"`);
  }
  const out = await deps.registry.list(info, r.namespace, {
    labelSelector: query.get('labelSelector') ?? undefined,
    fieldSelector: query.get('fieldSelector') ?? undefined,
    limit,
    continue: query.get('continue') ?? undefined,
  });
  const listMeta: Record<string, unknown> = { resourceVersion: out.resourceVersion };
  if (out.continue) listMeta.continue = out.continue;
  if (out.remainingItemCount) listMeta.remainingItemCount = out.remainingItemCount;
  const toTable = tablePrinter();
  if (form === 'table' && toTable) {
    writeJson(res, 200, toTable(info, out.items, { includeObject: includeObjectOf(query), listMeta: { resourceVersion: out.resourceVersion, continue: out.continue } }));
  } else if (form === 'metadata') {
    writeJson(res, 200, { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: listMeta, items: out.items.map(metadataJson) });
  } else {
    writeJson(res, 200, { kind: `${info.kind}List`, apiVersion: info.apiVersion, metadata: listMeta, items: out.items.map((o) => objectJson(info, o)) });
  }
}

async function watch(res: ServerResponse, r: ResolvedRequest, query: URLSearchParams, deps: ResourceDeps, form: ResponseForm): Promise<void> {
  const { info } = r;
  if (!deps.nats) throw errors.unavailable('watch is not available: this apiserver has no watch bus');
  let fieldSelector = query.get('fieldSelector') ?? undefined;
  // GET .../pods/x?watch=true (the deprecated single-object watch) is a watch on metadata.name=x.
  if (r.name) fieldSelector = [fieldSelector, `metadata.name=${r.name}`].filter(Boolean).join(',');
  const timeout = intParam(query, 'timeoutSeconds');
  const defaultTimeout = deps.watchTimeoutSeconds ?? 1800;
  const toTable = tablePrinter();
  const includeObject = includeObjectOf(query);
  const encode: ObjectEncoder = (obj: KubeObject, type: WatchEventType) => {
    if (form === 'table' && toTable) {
      if (type === 'BOOKMARK') return toTable(info, [], { includeObject, listMeta: { resourceVersion: obj.metadata?.resourceVersion } });
      return toTable(info, [obj], { includeObject, listMeta: { resourceVersion: obj.metadata?.resourceVersion } });
    }
    if (form === 'metadata') return metadataJson(obj);
    return type === 'BOOKMARK' ? { kind: info.kind, apiVersion: info.apiVersion, metadata: obj.metadata } : objectJson(info, obj);
  };
  await serveWatch(
    res,
    {
      info,
      namespace: r.namespace,
      labelSelector: query.get('labelSelector') ?? undefined,
      fieldSelector,
      resourceVersion: query.get('resourceVersion') ?? '',
      timeoutSeconds: timeout !== undefined && timeout > 0 ? timeout : defaultTimeout,
      allowWatchBookmarks: boolParam(query, 'allowWatchBookmarks'),
      sendInitialEvents: boolParam(query, 'sendInitialEvents'),
      bookmarkIntervalMs: deps.bookmarkIntervalMs,
    },
    { registry: deps.registry, nats: deps.nats, log: deps.log },
    encode,
  );
}

async function deleteCollection(res: ServerResponse, r: ResolvedRequest, query: URLSearchParams, deps: ResourceDeps, options: DeleteOptions, form: ResponseForm): Promise<void> {
  const { info } = r;
  const deleted: KubeObject[] = [];
  let cont: string | undefined;
  let resourceVersion = '';
  do {
    const page = await deps.registry.list(info, r.namespace, {
      labelSelector: query.get('labelSelector') ?? undefined,
      fieldSelector: query.get('fieldSelector') ?? undefined,
      limit: 500,
      continue: cont,
    });
    resourceVersion = resourceVersion || page.resourceVersion;
    for (const obj of page.items) {
      try {
        const out = await deps.registry.delete(info, obj.metadata?.namespace ?? '', obj.metadata?.name ?? '', options);
        deleted.push(out.object ?? obj);
      } catch (err) {
        // Deleted meanwhile by someone else: nothing left to do for it.
        if (err instanceof ApiError && err.reason === 'NotFound') continue;
        throw err;
      }
    }
    cont = page.continue;
  } while (cont);
  if (form === 'metadata') {
    writeJson(res, 200, { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion }, items: deleted.map(metadataJson) });
    return;
  }
  writeJson(res, 200, { kind: `${info.kind}List`, apiVersion: info.apiVersion, metadata: { resourceVersion }, items: deleted.map((o) => objectJson(info, o)) });
}

/** status, scale, binding and eviction; anything else is the router's (extensions) or 404. */
async function serveSubresource(req: IncomingMessage, res: ServerResponse, r: ResolvedRequest, query: URLSearchParams, deps: ResourceDeps): Promise<void> {
  const { info } = r;
  const method = req.method ?? 'GET';
  const ns = r.namespace;
  if (r.subresource === 'status' && info.hasStatus) {
    const form = chooseForm(req.headers.accept, method === 'GET' && tablePrinter() !== undefined);
    switch (method) {
      case 'GET':
      case 'HEAD':
        writeObject(res, 200, info, await deps.registry.get(info, ns, r.name), form, query);
        return;
      case 'PUT': {
        const { obj, warnings } = await decodeObject(req, info, query);
        const meta = (obj.metadata ??= {});
        if (meta.name !== r.name) throw errors.badRequest(`the name of the object (${meta.name ?? ''}) does not match the name on the URL (${r.name})`);
        if (info.namespaced && !meta.namespace) meta.namespace = ns;
        writeObject(res, 200, info, await deps.registry.updateStatus(info, ns, obj, writeOptions(query)), form, query, warningHeader(warnings));
        return;
      }
      case 'PATCH':
        writeObject(res, 200, info, await patch(req, r, 'status', query, deps, writeOptions(query)), form, query);
        return;
      default:
        throw methodNotAllowed();
    }
  }
  if (r.subresource === 'scale' && SCALABLE.has(info.resource)) {
    chooseForm(req.headers.accept, false);
    switch (method) {
      case 'GET':
      case 'HEAD':
        writeJson(res, 200, scaleJson(await deps.registry.getScale(info, ns, r.name)));
        return;
      case 'PUT': {
        const json = decodeBody(await readBody(req), req.headers['content-type']);
        const scale = fromJsonAs(Scale, 'Scale', json);
        const name = scale.metadata?.name ?? '';
        if (name !== r.name) throw errors.badRequest(`the name of the object (${name}) does not match the name on the URL (${r.name})`);
        writeJson(res, 200, scaleJson(await deps.registry.updateScale(info, ns, scale)));
        return;
      }
      case 'PATCH': {
        const type = mediaType(req.headers['content-type']);
        const body = await readBody(req);
        const current = await deps.registry.getScale(info, ns, r.name);
        const currentJson = Scale.toJSON(current) as Record<string, unknown>;
        const patched = applyPatchDocument(type, currentJson, body) as { metadata?: { resourceVersion?: string } };
        const scale = fromJsonAs(Scale, 'Scale', patched);
        // A patch that does not set resourceVersion applies to the latest object (no precondition).
        if (scale.metadata && patched.metadata?.resourceVersion === current.metadata?.resourceVersion) scale.metadata.resourceVersion = '';
        if ((scale.metadata?.name ?? '') !== r.name) throw errors.badRequest(`metadata.name: Invalid value: ${JSON.stringify(scale.metadata?.name)}: field is immutable`);
        writeJson(res, 200, scaleJson(await deps.registry.updateScale(info, ns, scale)));
        return;
      }
      default:
        throw methodNotAllowed();
    }
  }
  if (r.subresource === 'binding' && info.resource === 'pods') {
    if (method !== 'POST') throw methodNotAllowed();
    const json = decodeBody(await readBody(req), req.headers['content-type']);
    const binding = fromJsonAs(Binding, 'Binding', json);
    const meta = (binding.metadata ??= {} as NonNullable<Binding['metadata']>);
    if (!meta.name) meta.name = r.name;
    if (meta.name !== r.name) throw errors.badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${r.name})`);
    const status = await deps.registry.bind(ns, r.name, binding);
    writeJson(res, 201, { ...statusJson(status), code: 201 });
    return;
  }
  if (r.subresource === 'eviction' && info.resource === 'pods') {
    if (method !== 'POST') throw methodNotAllowed();
    const json = decodeBody(await readBody(req), req.headers['content-type']) as { metadata?: { name?: string; namespace?: string }; deleteOptions?: unknown };
    if (!json || typeof json !== 'object') throw errors.badRequest('the body of the request is not an Eviction object');
    const evName = json.metadata?.name ?? '';
    if (evName !== r.name) throw errors.badRequest(`name in URL does not match name in Eviction object`);
    if (json.metadata?.namespace && json.metadata.namespace !== ns) throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    const options = json.deleteOptions ? fromJsonAs(DeleteOptions, 'DeleteOptions', json.deleteOptions) : {};
    const dryRun = dryRunOf(query.getAll('dryRun'));
    if (dryRun) options.dryRun = dryRun;
    // No PodDisruptionBudgets exist in kubemu: every eviction is allowed.
    await deps.registry.delete(info, ns, r.name, options);
    writeJson(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
    return;
  }
  throw errors.notFound(`${info.resource}/${r.subresource}`, info.group, r.name);
}

/** A generated message from JSON; a decoding failure is BadRequest. */
function fromJsonAs<T>(codec: { fromJSON(o: unknown): T }, kind: string, json: unknown): T {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw errors.badRequest(`the body of the request is not a ${kind} object`);
  try {
    return codec.fromJSON(json);
  } catch (err) {
    throw errors.badRequest(`the object could not be decoded as ${kind}: ${(err as Error).message}`);
  }
}

function scaleJson(scale: Scale): Record<string, unknown> {
  const j = Scale.toJSON(scale) as Record<string, unknown>;
  const { kind: _k, apiVersion: _a, ...rest } = j;
  return { kind: 'Scale', apiVersion: 'autoscaling/v1', ...rest };
}

function statusJson(status: Status | undefined): Record<string, unknown> {
  const j = (status ? Status.toJSON(status) : {}) as Record<string, unknown>;
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', ...j };
}

/** Applies a merge or JSON patch to a plain JSON value (the scale subresource); strategic is merge for Scale (no lists). */
function applyPatchDocument(type: string, current: unknown, body: Buffer): unknown {
  let doc: unknown;
  try {
    doc = parsePatchDocument(body);
  } catch (err) {
    throw errors.badRequest((err as Error).message);
  }
  try {
    switch (type) {
      case 'application/merge-patch+json':
      case 'application/strategic-merge-patch+json':
        return applyMergePatch(current, doc);
      case 'application/json-patch+json':
        return applyJsonPatch(current, doc);
      default:
        throw errors.unsupportedMediaType(
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`,
        );
    }
  } catch (err) {
    if (err instanceof PatchError) throw new ApiError('Invalid', 422, err.message);
    throw err;
  }
}

/** Write options from the query: dryRun, and fieldManager/force (passed on for server-side apply). */
function writeOptions(query: URLSearchParams): WriteOptions {
  const opts: WriteOptions & { fieldManager?: string; force?: boolean } = {};
  const dryRun = dryRunOf(query.getAll('dryRun'));
  if (dryRun) opts.dryRun = dryRun;
  const fieldManager = query.get('fieldManager');
  if (fieldManager !== null) {
    if (fieldManager.length > 128) throw errors.badRequest(`fieldManager: Too long: may not be more than 128 bytes`);
    opts.fieldManager = fieldManager;
  }
  if (query.has('force')) opts.force = boolParam(query, 'force');
  return opts;
}

async function patch(req: IncomingMessage, r: ResolvedRequest, subresource: string, query: URLSearchParams, deps: ResourceDeps, opts: WriteOptions): Promise<KubeObject> {
  const type = mediaType(req.headers['content-type']);
  if (!type) throw errors.unsupportedMediaType('the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml');
  const body = await readBody(req);
  // An apply patch without fieldManager is the Registry's to refuse (422, as Kubernetes does).
  return deps.registry.patch(r.info, r.namespace, r.name, type, body, subresource, opts);
}

/** Whether the request's object exists now; a failure other than NotFound counts as existing (the write will report it). */
async function exists(registry: Registry, r: ResolvedRequest): Promise<boolean> {
  try {
    await registry.get(r.info, r.namespace, r.name);
    return true;
  } catch (err) {
    return !(err instanceof ApiError && err.reason === 'NotFound');
  }
}

/** DeleteOptions from the body (JSON) and the query (gracePeriodSeconds, propagationPolicy, orphanDependents, dryRun). */
async function deleteOptions(req: IncomingMessage, query: URLSearchParams): Promise<DeleteOptions> {
  const body = await readBody(req);
  let options: DeleteOptions = {};
  if (body.length && body.toString('utf8').trim() !== '') {
    const json = decodeBody(body, req.headers['content-type'] || 'application/json') as Record<string, unknown>;
    if (json && typeof json === 'object' && !Array.isArray(json)) {
      if (json.kind && json.kind !== 'DeleteOptions') throw errors.badRequest(`the body of the request is a ${String(json.kind)}, not DeleteOptions`);
      options = fromJsonAs(DeleteOptions, 'DeleteOptions', json);
      if (json.orphanDependents !== undefined && options.propagationPolicy === undefined) options.propagationPolicy = json.orphanDependents ? 'Orphan' : 'Background';
    }
  }
  const grace = intParam(query, 'gracePeriodSeconds');
  if (grace !== undefined) options.gracePeriodSeconds = grace;
  const policy = query.get('propagationPolicy');
  if (policy) options.propagationPolicy = policy;
  const orphan = query.get('orphanDependents');
  if (orphan !== null && options.propagationPolicy === undefined) options.propagationPolicy = orphan === 'true' ? 'Orphan' : 'Background';
  const dryRun = dryRunOf(query.getAll('dryRun'));
  if (dryRun) options.dryRun = dryRun;
  return options;
}

/**
 * Reads and decodes a request body into the resource's object: kind and apiVersion must be the
 * resource's own when given; fieldValidation=Strict rejects unknown fields (BadRequest, with the
 * message kubectl shows), Warn returns them as warnings.
 */
async function decodeObject(req: IncomingMessage, info: ResourceInfo, query: URLSearchParams): Promise<{ obj: KubeObject; warnings: string[] }> {
  // Clients send managedFields[].fieldsV1 as objects (Kubernetes' form); kubemu's codec holds text.
  const json = managedFieldsFromKubernetes(decodeBody(await readBody(req), req.headers['content-type']));
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw errors.badRequest(`the body of the request is not a JSON object (must be of type ${info.kind})`);
  const j = json as { kind?: unknown; apiVersion?: unknown };
  if (j.apiVersion !== undefined && j.apiVersion !== '' && j.apiVersion !== info.apiVersion) {
    throw errors.badRequest(`the API version in the data (${String(j.apiVersion)}) does not match the expected API version (${info.apiVersion})`);
  }
  if (j.kind !== undefined && j.kind !== '' && j.kind !== info.kind) {
    throw errors.badRequest(`the kind in the data (${String(j.kind)}) does not match the expected kind (${info.kind})`);
  }
  const validation = query.get('fieldValidation') ?? '';
  if (validation && validation !== 'Strict' && validation !== 'Warn' && validation !== 'Ignore') {
    throw errors.badRequest(`fieldValidation: Unsupported value: ${JSON.stringify(validation)}: supported values: "Ignore", "Strict", "Warn"`);
  }
  let warnings: string[] = [];
  const check = openapi()?.unknownFields;
  if ((validation === 'Strict' || validation === 'Warn') && check) {
    const unknown = check(info, json);
    if (unknown.length && validation === 'Strict') {
      throw errors.badRequest(`${info.kind} in version "${info.version}" cannot be handled as a ${info.kind}: strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`);
    }
    warnings = unknown.map((f) => `unknown field "${f}"`);
  }
  let obj: KubeObject;
  try {
    obj = info.codec.fromJSON(json) as KubeObject;
  } catch (err) {
    throw errors.badRequest(`${info.kind} in version "${info.version}" cannot be handled as a ${info.kind}: ${(err as Error).message}`);
  }
  return { obj, warnings };
}

/** The Warning header of Kubernetes (code 299, agent "-"), one value per warning. */
function warningHeader(warnings: string[]): Record<string, string> {
  if (!warnings.length) return {};
  return { Warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(', ') };
}
