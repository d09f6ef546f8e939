// kubemu's OpenAPI documents, generated from the proto definitions (see proto-model.ts), and the
// unknown-field check of strict field validation that follows the same model.
//   GET /openapi/v3                 → openapiV3Index()
//   GET /openapi/v3/<gv path>?hash= → openapiV3Document('api/v1' | 'apis/apps/v1' | ...)
//   GET /openapi/v2                 → openapiV2()
import { createHash } from 'crypto';
import { ResourceInfo } from '../../lib/resources';
import { PROTO_MODEL } from './generated/proto-model';
import { kubernetesModelName, protoPackage } from './kubernetes-types';
import { buildPaths, gvPrefix } from './paths';
import { buildSchemas, groupVersions } from './schemas';

export { PATCH_META } from './kubernetes-types';
export type { PatchMeta } from './kubernetes-types';

/** The version Kubernetes' documents carry in info.version; kubemu speaks the API of this release. */
const KUBERNETES_VERSION = 'v1.32.0';

let v3Documents: Map<string, { doc: object; hash: string }> | undefined;
let v3Index: object | undefined;
let v2Document: object | undefined;

/** The group-version path of a document: api/v1, apis/apps/v1. */
function gvPath(group: string, version: string): string {
  return gvPrefix(group, version).slice(1);
}

function documents(): Map<string, { doc: object; hash: string }> {
  if (v3Documents) return v3Documents;
  const out = new Map<string, { doc: object; hash: string }>();
  for (const gv of groupVersions()) {
    const doc = {
      openapi: '3.0.0',
      info: { title: 'Kubernetes', version: KUBERNETES_VERSION },
      paths: buildPaths('v3', gv),
      components: {
        schemas: buildSchemas('v3', gv),
        securitySchemes: { BearerToken: { type: 'apiKey', description: 'Bearer Token authentication', name: 'authorization', in: 'header' } },
      },
      security: [{ BearerToken: [] }],
    };
    // The hash only has to change when the document does: clients cache documents by it.
    const hash = createHash('sha512').update(JSON.stringify(doc)).digest('hex').toUpperCase();
    out.set(gvPath(gv.group, gv.version), { doc, hash });
  }
  v3Documents = out;
  return out;
}

/**
 * The `/openapi/v3` discovery document: every served group-version with the URL of its document
 * (hash included, so that a client may cache it forever). Computed once; the same object is
 * returned on every call and must not be mutated.
 */
export function openapiV3Index(): object {
  if (!v3Index) {
    const paths: Record<string, { serverRelativeURL: string }> = {};
    for (const [path, { hash }] of documents()) paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` };
    v3Index = { paths };
  }
  return v3Index;
}

/**
 * The OpenAPI v3 document of one group-version ("api/v1", "apis/apps/v1"; a leading slash is
 * accepted), or undefined for a group-version kubemu does not serve (the caller answers 404).
 * Computed once; callers must not mutate it.
 */
export function openapiV3Document(groupVersionPath: string): object | undefined {
  return documents().get(groupVersionPath.replace(/^\/+/, '').replace(/\/+$/, ''))?.doc;
}

/** The hash the index advertises for a group-version's document, for ETag/caching headers. */
export function openapiV3Hash(groupVersionPath: string): string | undefined {
  return documents().get(groupVersionPath.replace(/^\/+/, '').replace(/\/+$/, ''))?.hash;
}

/** The swagger 2.0 document of every group-version (`/openapi/v2`). Computed once; must not be mutated. */
export function openapiV2(): object {
  if (!v2Document) {
    v2Document = {
      swagger: '2.0',
      info: { title: 'Kubernetes', version: KUBERNETES_VERSION },
      paths: buildPaths('v2'),
      definitions: buildSchemas('v2'),
      securityDefinitions: { BearerToken: { description: 'Bearer Token authentication', type: 'apiKey', name: 'authorization', in: 'header' } },
      security: [{ BearerToken: [] }],
    };
  }
  return v2Document;
}

/**
 * The JSON paths of the fields of `json` (an object of `info`'s kind, as sent by a client) that
 * its schema does not declare, in Kubernetes' strict-decoding form: `spec.containers[0].imagePullPolcy`.
 * The caller reports each as `unknown field "<path>"` (strict: a BadRequest listing them; warn:
 * one warning each). Map keys (labels, annotations, data, nodeSelector, ...) and IntOrString
 * values are free-form. A value of the wrong JSON type is not this check's business (the codec
 * rejects it); such values are skipped, never thrown on. Paths are in document order.
 */
export function unknownFields(info: ResourceInfo, json: unknown): string[] {
  const out: string[] = [];
  walkMessage(`${protoPackage(info.group, info.version)}.${info.kind}`, json, '', out);
  return out;
}

/** Proto messages whose JSON form is free-form (no field names to check). */
const FREE_FORM = new Set(['google.protobuf.Value', 'google.protobuf.Struct', 'google.protobuf.ListValue']);

function walkMessage(message: string, json: unknown, path: string, out: string[]): void {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return;
  const msg = PROTO_MODEL.messages[message];
  if (!msg) return; // a free-form or unknown message: nothing to check
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    const fieldPath = path ? `${path}.${key}` : key;
    const field = msg.fields.find((f) => f.name === key);
    if (!field) {
      out.push(fieldPath);
      continue;
    }
    if (field.map) {
      if (field.map.type !== 'message' || !field.map.typeName || FREE_FORM.has(field.map.typeName)) continue;
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) walkMessage(field.map.typeName, v, `${fieldPath}.${k}`, out);
      }
      continue;
    }
    if (field.type !== 'message' || !field.typeName || FREE_FORM.has(field.typeName)) continue;
    if (field.repeated) {
      if (Array.isArray(value)) value.forEach((v, i) => walkMessage(field.typeName as string, v, `${fieldPath}[${i}]`, out));
      continue;
    }
    walkMessage(field.typeName, value, fieldPath, out);
  }
}

/** The Kubernetes model name of a resource's kind (io.k8s.api.core.v1.Pod). */
export function modelName(info: ResourceInfo): string {
  return kubernetesModelName(`${protoPackage(info.group, info.version)}.${info.kind}`);
}
