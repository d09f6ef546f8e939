/**
 * Server-side apply (PATCH with application/apply-patch+yaml) on top of the Registry's public
 * operations: the applied configuration creates the object when it does not exist, otherwise it
 * is merged into the live object with field ownership tracked in metadata.managedFields (see
 * services/lib/fieldmanager.ts for the semantics and what is approximated).
 */
import { parseDocument } from 'yaml';
import { ApiError, errors, field } from '../lib/errors';
import { ApplyConflictError, serverSideApply } from '../lib/fieldmanager';
import { KubeObject, ResourceInfo } from '../lib/resources';
import { applyStrategicMergePatch, strategicSchemaFor, StrategicPatchError } from '../lib/strategicpatch';
import { applyDefaults } from './defaulting';
import { formatTime } from './objects';

type JsonObject = { [key: string]: unknown };

/** The Registry operations apply is built on (Registry implements them). */
export interface ApplyTarget {
  get(info: ResourceInfo, namespace: string, name: string): Promise<KubeObject>;
  create(info: ResourceInfo, namespace: string, input: KubeObject, opts: { dryRun?: string[] }): Promise<KubeObject>;
  update(info: ResourceInfo, namespace: string, input: KubeObject, opts: { dryRun?: string[] }): Promise<KubeObject>;
  updateStatus(info: ResourceInfo, namespace: string, input: KubeObject, opts: { dryRun?: string[] }): Promise<KubeObject>;
}

export interface ApplyOptions {
  fieldManager?: string;
  force?: boolean;
  dryRun?: string[];
  now: Date;
  defaultTolerationSeconds: number;
}

const MAX_ATTEMPTS = 16;

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Parses an apply body: YAML (JSON is YAML too) holding one object. Throws BadRequest naming
 * the problem for invalid UTF-8, a syntax error, several documents or a non-object.
 */
export function parseApplyBody(body: Uint8Array | string): JsonObject {
  let text: string;
  try {
    text = typeof body === 'string' ? body : new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw errors.badRequest('error decoding YAML: the body is not valid UTF-8');
  }
  if (text.trim() === '') throw errors.badRequest('error decoding YAML: the body is empty');
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length) throw errors.badRequest(`error decoding YAML: ${doc.errors[0].message}`);
  const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (!isObject(value)) throw errors.badRequest(`error decoding YAML: the applied configuration must be an object, got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`);
  return value;
}

/**
 * Applies `body` as `opts.fieldManager` to the object `name` (creating it when absent, as
 * Kubernetes' apply does). Returns the stored (or, for dry-run, the would-be) object. Throws
 * ApiError: Invalid when fieldManager is missing, BadRequest for a malformed body or a name or
 * kind that does not match the request, Conflict (409, Kubernetes' "Apply failed with N
 * conflict..." message and FieldManagerConflict causes) when another manager owns a changed
 * field and force is not set, and whatever create/update reject.
 */
export async function applyPatch(
  target: ApplyTarget,
  info: ResourceInfo,
  namespace: string,
  name: string,
  body: Uint8Array | string,
  subresource: string,
  opts: ApplyOptions,
): Promise<KubeObject> {
  const manager = opts.fieldManager ?? '';
  if (!manager) throw errors.invalid('PatchOptions', 'meta.k8s.io', '', [field.required('fieldManager', 'is required for apply patch')]);
  if (manager.length > 128) throw errors.invalid('PatchOptions', 'meta.k8s.io', '', [field.tooLong('fieldManager', manager, 128)]);
  const applied = parseApplyBody(body);
  const meta = (isObject(applied.metadata) ? applied.metadata : (applied.metadata = {})) as JsonObject;
  if (meta.managedFields !== undefined && meta.managedFields !== null) throw errors.badRequest('metadata.managedFields must be nil');
  if (applied.apiVersion !== undefined && applied.apiVersion !== info.apiVersion) {
    throw errors.badRequest(`the API version in the data (${String(applied.apiVersion)}) does not match the expected API version (${info.apiVersion})`);
  }
  if (applied.kind !== undefined && applied.kind !== info.kind) {
    throw errors.badRequest(`the kind in the data (${String(applied.kind)}) does not match the expected kind (${info.kind})`);
  }
  if (meta.name === undefined || meta.name === '') meta.name = name;
  if (meta.name !== name) throw errors.badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`);
  const schema = strategicSchemaFor(info.kind);
  const time = formatTime(opts.now);
  const writeOpts = { dryRun: opts.dryRun };

  for (let attempt = 0; ; attempt++) {
    let current: KubeObject | undefined;
    try {
      current = await target.get(info, namespace, name);
    } catch (err) {
      if (!(err instanceof ApiError && err.reason === 'NotFound')) throw err;
    }
    if (!current && subresource === 'status') throw errors.notFound(info.resource, info.group, name);
    const live = current ? (info.codec.toJSON(current as never) as JsonObject) : undefined;
    let outcome;
    try {
      outcome = serverSideApply({
        live,
        applied,
        managedFields: current?.metadata?.managedFields ?? [],
        manager,
        apiVersion: info.apiVersion,
        force: !!opts.force,
        time,
        schema,
        hasStatus: info.hasStatus,
        subresource,
        merge: (pruned, config) => {
          const merged = applyStrategicMergePatch(pruned, config, schema);
          // Compare what would be stored: decoded and defaulted, as the write will do.
          const obj = decode(info, merged);
          applyDefaults(info, obj, { defaultTolerationSeconds: opts.defaultTolerationSeconds, update: !!current });
          return info.codec.toJSON(obj as never) as JsonObject;
        },
      });
    } catch (err) {
      if (err instanceof ApplyConflictError) {
        throw new ApiError('Conflict', 409, err.message, {
          causes: err.conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${c.managerDisplay}`, field: c.path })),
        });
      }
      if (err instanceof StrategicPatchError) {
        if (err.code === 400) throw errors.badRequest(err.message);
        if (err.code === 422) throw new ApiError('Invalid', 422, err.message);
        throw errors.internal(err.message);
      }
      throw err;
    }
    const next = decode(info, outcome.object);
    next.metadata ??= {};
    next.metadata.managedFields = outcome.managedFields;
    try {
      if (!current) return await target.create(info, namespace, next, writeOpts);
      // The live version read is a precondition, unless the configuration pins its own.
      const pinned = typeof meta.resourceVersion === 'string' && meta.resourceVersion !== '';
      next.metadata.resourceVersion = pinned ? (meta.resourceVersion as string) : current.metadata?.resourceVersion;
      return subresource === 'status' ? await target.updateStatus(info, namespace, next, writeOpts) : await target.update(info, namespace, next, writeOpts);
    } catch (err) {
      const pinned = typeof meta.resourceVersion === 'string' && meta.resourceVersion !== '';
      const raced = err instanceof ApiError && ((err.reason === 'AlreadyExists' && !current) || (err.reason === 'Conflict' && !pinned && current));
      if (raced && attempt < MAX_ATTEMPTS) continue;
      throw err;
    }
  }
}

function decode(info: ResourceInfo, json: unknown): KubeObject {
  try {
    return info.codec.fromJSON(json) as KubeObject;
  } catch (err) {
    throw errors.badRequest(`the object could not be decoded as ${info.kind}: ${(err as Error).message}`);
  }
}
