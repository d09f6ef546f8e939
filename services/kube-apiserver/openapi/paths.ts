// The REST paths of every served resource, with the operations, parameters and vendor extensions
// Kubernetes' documents carry. kubectl reads two things from them: the PATCH operation of a GVK
// and whether it lists the `fieldValidation` query parameter (then it validates server side), and
// x-kubernetes-group-version-kind to find that operation.
import { RESOURCES, ResourceInfo } from '../../lib/resources';
import { kubernetesModelName, MODEL, protoPackage } from './kubernetes-types';
import { Dialect, EVICTION_MODEL, GroupVersionKind, ref, SCALABLE, Schema } from './schemas';

interface Param {
  name: string;
  in: 'query' | 'path';
  type: 'string' | 'boolean' | 'integer';
  description: string;
  required?: boolean;
  unique?: boolean;
}

const P = {
  name: (kind: string): Param => ({ name: 'name', in: 'path', type: 'string', required: true, unique: true, description: `name of the ${kind}` }),
  namespace: { name: 'namespace', in: 'path', type: 'string', required: true, unique: true, description: 'object name and auth scope, such as for teams and projects' } as Param,
  pretty: { name: 'pretty', in: 'query', type: 'string', unique: true, description: "If 'true', then the output is pretty printed." } as Param,
  dryRun: { name: 'dryRun', in: 'query', type: 'string', unique: true, description: 'When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed' } as Param,
  fieldManager: { name: 'fieldManager', in: 'query', type: 'string', unique: true, description: 'fieldManager is a name associated with the actor or entity that is making these changes.' } as Param,
  fieldValidation: {
    name: 'fieldValidation',
    in: 'query',
    type: 'string',
    unique: true,
    description:
      'fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: ignores unknown fields silently. - Warn: sends a warning for each unknown field (the default). - Strict: fails the request with a BadRequest error naming the unknown fields.',
  } as Param,
  force: { name: 'force', in: 'query', type: 'boolean', unique: true, description: 'Force is going to "force" Apply requests: re-acquire conflicting fields owned by other people. Must be unset for non-apply patch requests.' } as Param,
  gracePeriodSeconds: { name: 'gracePeriodSeconds', in: 'query', type: 'integer', unique: true, description: 'The duration in seconds before the object should be deleted. Zero means delete immediately.' } as Param,
  orphanDependents: { name: 'orphanDependents', in: 'query', type: 'boolean', unique: true, description: 'Deprecated: please use the PropagationPolicy.' } as Param,
  propagationPolicy: { name: 'propagationPolicy', in: 'query', type: 'string', unique: true, description: "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'." } as Param,
  list: [
    ['allowWatchBookmarks', 'boolean', 'allowWatchBookmarks requests watch events with type "BOOKMARK".'],
    ['continue', 'string', 'The continue option should be set when retrieving more results from the server.'],
    ['fieldSelector', 'string', 'A selector to restrict the list of returned objects by their fields. Defaults to everything.'],
    ['labelSelector', 'string', 'A selector to restrict the list of returned objects by their labels. Defaults to everything.'],
    ['limit', 'integer', 'limit is a maximum number of responses to return for a list call.'],
    ['resourceVersion', 'string', 'resourceVersion sets a constraint on what resource versions a request may be served from.'],
    ['resourceVersionMatch', 'string', 'resourceVersionMatch determines how resourceVersion is applied to list calls.'],
    ['sendInitialEvents', 'boolean', 'sendInitialEvents=true may be set together with watch=true.'],
    ['timeoutSeconds', 'integer', 'Timeout for the list/watch call.'],
    ['watch', 'boolean', 'Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.'],
  ].map(([name, type, description]) => ({ name, in: 'query', type, unique: true, description }) as Param),
  log: [
    ['container', 'string', 'The container for which to stream logs. Defaults to only container if there is one container in the pod.'],
    ['follow', 'boolean', 'Follow the log stream of the pod. Defaults to false.'],
    ['limitBytes', 'integer', 'If set, the number of bytes to read from the server before terminating the log output.'],
    ['previous', 'boolean', 'Return previous terminated container logs. Defaults to false.'],
    ['sinceSeconds', 'integer', 'A relative time in seconds before the current time from which to show logs.'],
    ['tailLines', 'integer', 'If set, the number of lines from the end of the logs to show.'],
    ['timestamps', 'boolean', 'If true, add an RFC3339 timestamp at the beginning of every line of log output.'],
  ].map(([name, type, description]) => ({ name, in: 'query', type, unique: true, description }) as Param),
  exec: [
    ['command', 'string', 'Command is the remote command to execute. argv array. Not executed within a shell.'],
    ['container', 'string', 'Container in which to execute the command. Defaults to only container if there is only one container in the pod.'],
    ['stderr', 'boolean', 'Redirect the standard error stream of the pod for this call.'],
    ['stdin', 'boolean', 'Redirect the standard input stream of the pod for this call. Defaults to false.'],
    ['stdout', 'boolean', 'Redirect the standard output stream of the pod for this call.'],
    ['tty', 'boolean', 'TTY if true indicates that a tty will be allocated for the exec call. Defaults to false.'],
  ].map(([name, type, description]) => ({ name, in: 'query', type, unique: true, description }) as Param),
};

function param(dialect: Dialect, p: Param): Schema {
  const base: Schema = { name: p.name, in: p.in, description: p.description };
  if (p.required) base.required = true;
  if (dialect === 'v3') return { ...base, schema: { type: p.type, ...(p.unique ? { uniqueItems: true } : {}) } };
  return { ...base, type: p.type, ...(p.unique ? { uniqueItems: true } : {}) };
}

const JSON_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'];
const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];

interface OpSpec {
  id: string;
  description: string;
  action: string;
  gvk: GroupVersionKind;
  params: Param[];
  /** The request body's model, and its content types (JSON by default). */
  body?: { model: string; types?: string[] };
  /** Success codes and the response model (a plain string for text responses such as logs). */
  responses: Record<string, string | { text: true }>;
  produces?: string[];
}

function operation(dialect: Dialect, tag: string, op: OpSpec): Schema {
  const produces = op.produces ?? JSON_TYPES;
  const out: Schema = { tags: [tag], description: op.description, operationId: op.id, parameters: op.params.map((p) => param(dialect, p)) };
  const responses: Schema = {};
  for (const [code, model] of Object.entries(op.responses)) {
    const schema: Schema = typeof model === 'string' ? { $ref: ref(dialect, model) } : { type: 'string' };
    const description = code === '201' ? 'Created' : code === '202' ? 'Accepted' : 'OK';
    responses[code] = dialect === 'v3' ? { description, content: Object.fromEntries(produces.map((t) => [t, { schema }])) } : { description, schema };
  }
  responses['401'] = { description: 'Unauthorized' };
  out.responses = responses;
  if (op.body) {
    const schema = { $ref: ref(dialect, op.body.model) };
    const types = op.body.types ?? ['*/*'];
    if (dialect === 'v3') out.requestBody = { content: Object.fromEntries(types.map((t) => [t, { schema }])), required: true };
    else {
      (out.parameters as Schema[]).unshift({ name: 'body', in: 'body', required: true, schema });
      out.consumes = types;
    }
  }
  if (dialect === 'v2') {
    out.produces = produces;
    out.schemes = ['https'];
  }
  out['x-kubernetes-action'] = op.action;
  out['x-kubernetes-group-version-kind'] = op.gvk;
  return out;
}

/** Go-style camel name of a group-version for operation ids and tags: apps/v1 → AppsV1, networking.k8s.io/v1 → NetworkingV1. */
function gvCamel(r: ResourceInfo): string {
  const group = r.group === '' ? 'core' : r.group.split('.')[0];
  return group[0].toUpperCase() + group.slice(1) + r.version[0].toUpperCase() + r.version.slice(1);
}

/** The URL prefix of a resource's group-version: /api/v1 or /apis/<group>/<version>. */
export function gvPrefix(group: string, version: string): string {
  return group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
}

/** The paths of one resource: collection, item, and its subresources. */
function resourcePaths(dialect: Dialect, r: ResourceInfo): Record<string, Schema> {
  const paths: Record<string, Schema> = {};
  const tag = `${r.group === '' ? 'core' : r.group.split('.')[0]}_${r.version}`;
  const gv = gvCamel(r);
  const ns = r.namespaced ? 'Namespaced' : '';
  const model = kubernetesModelName(`${protoPackage(r.group, r.version)}.${r.kind}`);
  const gvk: GroupVersionKind = { group: r.group, version: r.version, kind: r.kind };
  const status = MODEL_STATUS;
  const deleteOptions = kubernetesModelName('kubemu.meta.v1.DeleteOptions');
  const base = `${gvPrefix(r.group, r.version)}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.resource}`;
  const scope: Param[] = r.namespaced ? [P.namespace] : [];
  const op = (spec: OpSpec): Schema => operation(dialect, tag, spec);
  const pathItem = (params: Param[], ops: Record<string, Schema>): Schema => ({ ...ops, parameters: params.map((p) => param(dialect, p)) });
  const write = [P.dryRun, P.fieldManager, P.fieldValidation];
  const del = [P.dryRun, P.gracePeriodSeconds, P.orphanDependents, P.propagationPolicy];

  paths[base] = pathItem([...scope, P.pretty], {
    get: op({ id: `list${gv}${ns}${r.kind}`, description: `list or watch objects of kind ${r.kind}`, action: 'list', gvk, params: P.list, responses: { '200': `${model}List` }, produces: [...JSON_TYPES, 'application/json;stream=watch'] }),
    post: op({ id: `create${gv}${ns}${r.kind}`, description: `create a ${r.kind}`, action: 'post', gvk, params: write, body: { model }, responses: { '200': model, '201': model, '202': model } }),
    delete: op({ id: `deleteCollection${gv}${ns}${r.kind}`, description: `delete collection of ${r.kind}`, action: 'deletecollection', gvk, params: [...P.list, ...del], body: { model: deleteOptions }, responses: { '200': status } }),
  });
  if (r.namespaced) {
    paths[`${gvPrefix(r.group, r.version)}/${r.resource}`] = pathItem([P.pretty], {
      get: op({ id: `list${gv}${r.kind}ForAllNamespaces`, description: `list or watch objects of kind ${r.kind}`, action: 'list', gvk, params: P.list, responses: { '200': `${model}List` }, produces: [...JSON_TYPES, 'application/json;stream=watch'] }),
    });
  }
  const item = `${base}/{name}`;
  const itemParams = [P.name(r.kind), ...scope, P.pretty];
  paths[item] = pathItem(itemParams, {
    get: op({ id: `read${gv}${ns}${r.kind}`, description: `read the specified ${r.kind}`, action: 'get', gvk, params: [], responses: { '200': model } }),
    put: op({ id: `replace${gv}${ns}${r.kind}`, description: `replace the specified ${r.kind}`, action: 'put', gvk, params: write, body: { model }, responses: { '200': model, '201': model } }),
    delete: op({ id: `delete${gv}${ns}${r.kind}`, description: `delete a ${r.kind}`, action: 'delete', gvk, params: del, body: { model: deleteOptions }, responses: { '200': status, '202': status } }),
    patch: op({ id: `patch${gv}${ns}${r.kind}`, description: `partially update the specified ${r.kind}`, action: 'patch', gvk, params: [...write, P.force], body: { model: MODEL.patch, types: PATCH_TYPES }, responses: { '200': model, '201': model } }),
  });
  const sub = (name: string, label: string, subModel: string, subGvk: GroupVersionKind): void => {
    paths[`${item}/${name}`] = pathItem([P.name(label), ...scope, P.pretty], {
      get: op({ id: `read${gv}${ns}${r.kind}${cap(name)}`, description: `read ${name} of the specified ${r.kind}`, action: 'get', gvk: subGvk, params: [], responses: { '200': subModel } }),
      put: op({ id: `replace${gv}${ns}${r.kind}${cap(name)}`, description: `replace ${name} of the specified ${r.kind}`, action: 'put', gvk: subGvk, params: write, body: { model: subModel }, responses: { '200': subModel, '201': subModel } }),
      patch: op({ id: `patch${gv}${ns}${r.kind}${cap(name)}`, description: `partially update ${name} of the specified ${r.kind}`, action: 'patch', gvk: subGvk, params: [...write, P.force], body: { model: MODEL.patch, types: PATCH_TYPES }, responses: { '200': subModel, '201': subModel } }),
    });
  };
  if (r.hasStatus) sub('status', r.kind, model, gvk);
  if (SCALABLE.has(r.resource)) sub('scale', 'Scale', kubernetesModelName('kubemu.autoscaling.v1.Scale'), { group: 'autoscaling', version: 'v1', kind: 'Scale' });
  if (r.resource === 'pods') {
    const podOpts = { group: '', version: 'v1', kind: 'PodExecOptions' };
    paths[`${item}/log`] = pathItem([P.name('Pod'), ...scope, P.pretty], {
      get: op({ id: `read${gv}${ns}PodLog`, description: 'read log of the specified Pod', action: 'get', gvk, params: P.log, responses: { '200': { text: true } }, produces: ['text/plain', 'application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'] }),
    });
    paths[`${item}/exec`] = pathItem([P.name('PodExecOptions'), ...scope], {
      get: op({ id: `connectGet${gv}${ns}PodExec`, description: 'connect GET requests to exec of Pod', action: 'connect', gvk: podOpts, params: P.exec, responses: { '200': { text: true } }, produces: ['*/*'] }),
      post: op({ id: `connectPost${gv}${ns}PodExec`, description: 'connect POST requests to exec of Pod', action: 'connect', gvk: podOpts, params: P.exec, responses: { '200': { text: true } }, produces: ['*/*'] }),
    });
    const binding = kubernetesModelName('kubemu.core.v1.Binding');
    paths[`${item}/binding`] = pathItem([P.name('Binding'), ...scope, P.pretty], {
      post: op({ id: `create${gv}${ns}PodBinding`, description: 'create binding of a Pod', action: 'post', gvk: { group: '', version: 'v1', kind: 'Binding' }, params: write, body: { model: binding }, responses: { '200': binding, '201': binding, '202': binding } }),
    });
    paths[`${item}/eviction`] = pathItem([P.name('Eviction'), ...scope, P.pretty], {
      post: op({ id: `create${gv}${ns}PodEviction`, description: 'create eviction of a Pod', action: 'post', gvk: { group: 'policy', version: 'v1', kind: 'Eviction' }, params: write, body: { model: EVICTION_MODEL }, responses: { '200': EVICTION_MODEL, '201': EVICTION_MODEL, '202': EVICTION_MODEL } }),
    });
  }
  return paths;
}

function cap(s: string): string {
  return s[0].toUpperCase() + s.slice(1);
}

const MODEL_STATUS = kubernetesModelName('kubemu.meta.v1.Status');

/** The paths of one group-version, or of every group-version when `gv` is undefined. */
export function buildPaths(dialect: Dialect, gv?: { group: string; version: string }): Record<string, Schema> {
  const paths: Record<string, Schema> = {};
  for (const r of RESOURCES) {
    if (gv && (r.group !== gv.group || r.version !== gv.version)) continue;
    Object.assign(paths, resourcePaths(dialect, r));
  }
  return paths;
}
