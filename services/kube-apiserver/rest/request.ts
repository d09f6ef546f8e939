import { IncomingMessage } from 'http';
import { parse as parseYaml } from 'yaml';
import { errors } from '../../lib/errors';
import { decodeKubernetesProtobuf } from './k8sproto';

/** Kubernetes' limit on a request body (apiserver MaxRequestBodyBytes, 3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/**
 * Reads the whole request body. Throws RequestEntityTooLarge (413) past `limit` bytes (the rest of
 * the body is drained so that the connection can answer), never resolves more than `limit` bytes.
 */
export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '');
  const tooLarge = () => errors.tooLarge(`Request entity too large: limit is ${limit}`);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) over = true;
    if (!over) chunks.push(b);
  }
  if (over) throw tooLarge();
  return Buffer.concat(chunks);
}

/** The media type of a Content-Type header without parameters, lower-cased ('' when absent). */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

/**
 * Decodes a JSON (or YAML) request body into a plain value. Throws BadRequest with the parser's
 * message for malformed input, UnsupportedMediaType for other media types (CBOR). Kubernetes
 * protobuf bodies are read into the same JSON form (k8sproto.ts).
 */
export function decodeBody(body: Buffer, contentType: string | undefined): unknown {
  const type = mediaType(contentType);
  const text = body.toString('utf8');
  if (type === '' || type === 'application/json' || type === '*/*') {
    if (text.trim() === '') throw errors.badRequest('the body of the request was empty');
    try {
      return JSON.parse(text);
    } catch (err) {
      throw errors.badRequest(`the object provided is unrecognized: json parse error: ${(err as Error).message}`);
    }
  }
  if (type === 'application/yaml' || type === 'application/x-yaml' || type === 'text/yaml') {
    try {
      return parseYaml(text);
    } catch (err) {
      throw errors.badRequest(`the object provided is unrecognized: yaml parse error: ${(err as Error).message}`);
    }
  }
  // client-go's typed clients (kubectl create configmap, run, drain...) write protobuf.
  if (type === 'application/vnd.kubernetes.protobuf') return decodeKubernetesProtobuf(body);
  throw errors.unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`);
}

/** One entry of an Accept header. */
export interface MediaRange {
  type: string;
  params: Record<string, string>;
}

/** Parses an Accept header into its media ranges, in order (q-values are ignored: clients list by preference). */
export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header) return [{ type: '*/*', params: {} }];
  return header
    .split(',')
    .map((part) => {
      const [type, ...rest] = part.split(';').map((s) => s.trim());
      const params: Record<string, string> = {};
      for (const p of rest) {
        const eq = p.indexOf('=');
        if (eq > 0) params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim();
      }
      return { type: type.toLowerCase(), params };
    })
    .filter((m) => m.type !== '');
}

/** The response form chosen from an Accept header. */
export type ResponseForm = 'json' | 'table' | 'metadata';

/**
 * Chooses the response form: a meta.k8s.io Table (as=Table, v1 or v1beta1), PartialObjectMetadata,
 * or plain JSON. Throws NotAcceptable (406) when the client accepts none of these (protobuf only).
 * `tableAvailable` false skips Table ranges (the client then gets the next acceptable form).
 */
export function chooseForm(accept: string | undefined, tableAvailable: boolean): ResponseForm {
  for (const m of parseAccept(accept)) {
    const jsonish = m.type === 'application/json' || m.type === '*/*' || m.type === 'application/*' || m.type === 'application/yaml';
    if (!jsonish) continue;
    const as = m.params.as;
    if (!as) return 'json';
    if (m.params.g !== 'meta.k8s.io') continue;
    if (as === 'Table' && tableAvailable) return 'table';
    if (as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') return 'metadata';
  }
  throw errors.notAcceptable('only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io');
}

/** Parses dryRun query values: only "All" exists. Throws BadRequest otherwise. */
export function dryRunOf(values: string[]): string[] | undefined {
  if (!values.length) return undefined;
  for (const v of values) {
    if (v !== 'All') throw errors.badRequest(`Invalid dryRun value: ${JSON.stringify(v)}: supported values: "All"`);
  }
  return ['All'];
}

/** Parses a non-negative integer query parameter; undefined when absent. Throws BadRequest otherwise. */
export function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw errors.badRequest(`invalid ${name}: ${JSON.stringify(v)} is not an integer`);
  return Number(v);
}

/** True for "true"/"1" query values. */
export function boolParam(query: URLSearchParams, name: string): boolean {
  const v = query.get(name);
  return v === 'true' || v === '1';
}
