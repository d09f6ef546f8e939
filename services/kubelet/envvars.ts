/**
 * A container's environment, as Kubernetes' kubelet builds it
 * (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables): Service variables,
 * then envFrom sources, then env in declaration order, with `$(VAR)`
 * references expanded exactly as k8s' expansion.Expand does.
 */
import { ConfigMap, Container, ObjectFieldSelector, Pod, ResourceFieldSelector, Secret } from '../lib/generated/kubemu/core/v1/core';
import { parseQuantity, Quantity } from '../lib/quantity';

/**
 * The kubelet could not build a container's configuration (a missing
 * ConfigMap, Secret or key, an unsupported field path). The container stays
 * Waiting with this reason and the message, as in Kubernetes.
 */
export class CreateContainerConfigError extends Error {
  readonly reason = 'CreateContainerConfigError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CreateContainerConfigError';
  }
}

/** Synchronous reads from the kubelet's informer caches. */
export interface ObjectLookup {
  configMap(namespace: string, name: string): ConfigMap | undefined;
  secret(namespace: string, name: string): Secret | undefined;
}

export interface EnvironmentOptions {
  podIP?: string;
  podIPs?: string[];
  hostIP?: string;
  hostIPs?: string[];
  nodeName?: string;
  /** Service variables (FOO_SERVICE_HOST, ...) computed by the caller; the container's own variables override them. */
  serviceEnv?: Record<string, string>;
  /**
   * The node's allocatable resources (`cpu`, `memory`, ... as quantity
   * strings): a resourceFieldRef to an unset limit reads these, as Kubernetes'
   * defaultPodLimitsForDownwardAPI does.
   */
  nodeAllocatable?: Record<string, string>;
  lookup: ObjectLookup;
}

export interface EnvVarValue {
  key: string;
  value: string;
}

/** One envFrom key that was not a valid variable name (Kubernetes records an InvalidEnvironmentVariableNames event for these). */
export interface SkippedEnvKey {
  /** `configMap` or `secret`. */
  source: 'configMap' | 'secret';
  /** The ConfigMap or Secret name. */
  name: string;
  /** The prefixed key that was skipped. */
  key: string;
}

export interface Environment {
  /** The variables, each name once, in definition order (a later definition replaces the value in place). */
  env: EnvVarValue[];
  /** envFrom keys skipped as invalid variable names, sorted per source as Kubernetes' event lists them. */
  skipped: SkippedEnvKey[];
}

// Kubernetes' RelaxedEnvironmentVariableValidation (GA in 1.34): any printable ASCII except '='.
function isEnvVarName(name: string): boolean {
  return name.length > 0 && /^[\x20-\x3c\x3e-\x7e]+$/.test(name);
}

// ---------------------------------------------------------------------------
// $(VAR) expansion: third_party/forked/golang/expansion.

/**
 * A mapping for expand(): looks a name up in each context in turn and
 * returns `$(name)` unchanged when none defines it (k8s' MappingFuncFor).
 */
export function mappingFuncFor(...contexts: Array<Map<string, string> | Record<string, string>>): (name: string) => string {
  return (name) => {
    for (const ctx of contexts) {
      if (ctx instanceof Map) {
        if (ctx.has(name)) return ctx.get(name)!;
      } else if (Object.prototype.hasOwnProperty.call(ctx, name)) {
        return ctx[name];
      }
    }
    return `$(${name})`;
  };
}

/**
 * Kubernetes' expansion.Expand: `$(NAME)` is replaced by mapping(NAME), `$$`
 * is a literal `$`, any other `$` (and an unterminated `$(`) is kept as is.
 * Not recursive: an expanded value is never expanded again. Pure.
 */
export function expand(input: string, mapping: (name: string) => string): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const next = input[cursor + 1];
    let advance = 1;
    if (next === '$') {
      out += '$';
    } else if (next === '(') {
      const close = input.indexOf(')', cursor + 2);
      if (close >= 0) {
        out += mapping(input.slice(cursor + 2, close));
        advance = close - cursor;
      } else {
        out += '$(';
      }
    } else {
      out += '$' + next;
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

// ---------------------------------------------------------------------------
// Downward API values (shared with downwardAPI volumes).

export interface DownwardAPIContext {
  podIP?: string;
  podIPs?: string[];
  hostIP?: string;
  hostIPs?: string[];
  nodeAllocatable?: Record<string, string>;
}

// Go's %q for the printable ASCII a label or annotation value normally holds.
function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** k8s' fieldpath.FormatMap: `key="value"` lines, keys sorted, no trailing newline. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${goQuote(m![k])}`)
    .join('\n');
}

// SplitMaybeSubscriptedPath: metadata.labels['app'] → [metadata.labels, app].
function splitSubscript(fieldPath: string): [string, string] | undefined {
  if (!fieldPath.endsWith("']")) return undefined;
  const s = fieldPath.slice(0, -2);
  const i = s.indexOf("['");
  if (i <= 0) return undefined;
  return [s.slice(0, i), s.slice(i + 2)];
}

/**
 * The value of a downward API fieldRef (kubelet podFieldSelectorRuntimeValue
 * plus fieldpath.ExtractFieldPathAsString): metadata.name/namespace/uid,
 * metadata.labels and metadata.annotations (whole, as formatMap, or one key
 * with `['k']`; a missing key is ""), spec.nodeName, spec.serviceAccountName,
 * status.hostIP(s), status.podIP(s) (lists comma-joined). Throws
 * CreateContainerConfigError for an unsupported apiVersion or path. Pure.
 */
export function podFieldValue(fs: ObjectFieldSelector, pod: Pod, ctx: DownwardAPIContext): string {
  const apiVersion = fs.apiVersion || 'v1';
  const fieldPath = fs.fieldPath ?? '';
  if (apiVersion !== 'v1') {
    throw new CreateContainerConfigError(`unsupported pod version: ${apiVersion}`);
  }
  const podIPs = ctx.podIPs && ctx.podIPs.length ? ctx.podIPs : ctx.podIP ? [ctx.podIP] : [];
  const hostIPs = ctx.hostIPs && ctx.hostIPs.length ? ctx.hostIPs : ctx.hostIP ? [ctx.hostIP] : [];
  const meta = pod.metadata ?? {};
  const sub = splitSubscript(fieldPath);
  if (sub) {
    const [p, key] = sub;
    if (p === 'metadata.labels') return meta.labels?.[key] ?? '';
    if (p === 'metadata.annotations') return meta.annotations?.[key] ?? '';
    throw new CreateContainerConfigError(`fieldPath "${fieldPath}" does not support subscript`);
  }
  switch (fieldPath) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? '';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'metadata.labels':
      return formatMap(meta.labels);
    case 'metadata.annotations':
      return formatMap(meta.annotations);
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP':
      return hostIPs[0] ?? '';
    case 'status.hostIPs':
      return hostIPs.join(',');
    case 'status.podIP':
      return podIPs[0] ?? '';
    case 'status.podIPs':
      return podIPs.join(',');
  }
  throw new CreateContainerConfigError(`unsupported fieldPath: ${fieldPath}`);
}

function quantityOrZero(s: string | undefined): Quantity {
  return s === undefined || s === '' ? Quantity.fromValue(0) : parseQuantity(s);
}

/**
 * The value of a downward API resourceFieldRef (k8s' ExtractContainerResourceValue):
 * limits.cpu / requests.cpu as ceil(milli / divisor milli), limits.memory /
 * requests.memory (and ephemeral-storage) as ceil(value / divisor value);
 * the divisor defaults to 1. An unset limit reads ctx.nodeAllocatable (0 when
 * that is not given either); an unset request is 0. `containerName` selects
 * another container of the pod (required when `container` is undefined, as
 * in volumes). Throws CreateContainerConfigError for an unsupported resource
 * or unknown container. Pure.
 */
export function containerResourceValue(fs: ResourceFieldSelector, pod: Pod, container: Container | undefined, ctx: DownwardAPIContext): string {
  let target = container;
  if (fs.containerName) {
    target = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((c) => c.name === fs.containerName);
  }
  if (!target) throw new CreateContainerConfigError(`container ${fs.containerName ?? ''} not found`);
  let divisor = quantityOrZero(fs.divisor);
  if (divisor.isZero()) divisor = Quantity.fromValue(1);
  const resource = fs.resource ?? '';
  const dot = resource.indexOf('.');
  const kind = resource.slice(0, dot);
  const name = resource.slice(dot + 1);
  if (dot < 0 || (kind !== 'limits' && kind !== 'requests') || !['cpu', 'memory', 'ephemeral-storage'].includes(name)) {
    throw new CreateContainerConfigError(`unsupported container resource : ${resource}`);
  }
  let raw = kind === 'limits' ? target.resources?.limits?.[name] : target.resources?.requests?.[name];
  if (kind === 'limits' && (raw === undefined || raw === '')) raw = ctx.nodeAllocatable?.[name];
  const q = quantityOrZero(raw);
  if (name === 'cpu') return String(Math.ceil(q.milliValue() / divisor.milliValue()));
  return String(Math.ceil(q.value() / divisor.value()));
}

// ---------------------------------------------------------------------------

function notFound(kind: 'configmap' | 'secret', name: string): CreateContainerConfigError {
  return new CreateContainerConfigError(`${kind} "${name}" not found`);
}

/**
 * Builds `container`'s environment, as Kubernetes' makeEnvironmentVariables
 * with kubemu's contract variables in front:
 *
 * 1. POD_NAME, POD_NAMESPACE, NODE_NAME, POD_IP, HOSTNAME (spec.hostname or
 *    the pod's name) — first, so that the container may override them;
 * 2. opts.serviceEnv;
 * 3. envFrom in order: every key of the ConfigMap's data or the Secret's data
 *    (bytes as UTF-8), with the prefix; keys that are not variable names are
 *    left out and listed in `skipped`;
 * 4. env in order: `value` with `$(VAR)` expanded against everything defined
 *    so far (k8s' expand), or valueFrom (fieldRef, resourceFieldRef,
 *    configMapKeyRef, secretKeyRef). An empty value is "", never expanded.
 *
 * A later definition of a name replaces its value and keeps its position.
 * A missing ConfigMap, Secret or key marked `optional: true` is skipped.
 * Throws CreateContainerConfigError with Kubernetes' message otherwise:
 * `configmap "x" not found`, `couldn't find key y in ConfigMap ns/x`,
 * `secret "x" not found`, `couldn't find key y in Secret ns/x`. Pure apart
 * from calls to opts.lookup; safe to call concurrently.
 */
export function makeEnvironment(pod: Pod, container: Container, opts: EnvironmentOptions): Environment {
  const namespace = pod.metadata?.namespace || 'default';
  const env = new Map<string, string>();
  const skipped: SkippedEnvKey[] = [];
  const ctx: DownwardAPIContext = opts;

  env.set('POD_NAME', pod.metadata?.name ?? '');
  env.set('POD_NAMESPACE', namespace);
  env.set('NODE_NAME', opts.nodeName ?? pod.spec?.nodeName ?? '');
  env.set('POD_IP', opts.podIPs?.[0] ?? opts.podIP ?? '');
  env.set('HOSTNAME', pod.spec?.hostname || pod.metadata?.name || '');
  for (const [k, v] of Object.entries(opts.serviceEnv ?? {})) env.set(k, v);

  // Each object is read once per call, as the kubelet's per-call maps do.
  const configMaps = new Map<string, ConfigMap | undefined>();
  const secrets = new Map<string, Secret | undefined>();
  const getConfigMap = (name: string) => {
    if (!configMaps.has(name)) configMaps.set(name, opts.lookup.configMap(namespace, name));
    return configMaps.get(name);
  };
  const getSecret = (name: string) => {
    if (!secrets.has(name)) secrets.set(name, opts.lookup.secret(namespace, name));
    return secrets.get(name);
  };

  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    let source: 'configMap' | 'secret';
    let name: string;
    let entries: Array<[string, string]>;
    if (from.configMapRef) {
      source = 'configMap';
      name = from.configMapRef.name ?? '';
      const cm = getConfigMap(name);
      if (!cm) {
        if (from.configMapRef.optional) continue;
        throw notFound('configmap', name);
      }
      entries = Object.entries(cm.data ?? {});
    } else if (from.secretRef) {
      source = 'secret';
      name = from.secretRef.name ?? '';
      const secret = getSecret(name);
      if (!secret) {
        if (from.secretRef.optional) continue;
        throw notFound('secret', name);
      }
      entries = Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('utf8')]);
    } else {
      continue;
    }
    const invalid: string[] = [];
    for (const [k, v] of entries) {
      const key = prefix + k;
      if (!isEnvVarName(key)) invalid.push(key);
      else env.set(key, v);
    }
    for (const key of invalid.sort()) skipped.push({ source, name, key });
  }

  const mapping = mappingFuncFor(env);
  for (const ev of container.env ?? []) {
    const name = ev.name ?? '';
    let value = ev.value ?? '';
    if (value !== '') {
      value = expand(value, mapping);
    } else if (ev.valueFrom) {
      const vf = ev.valueFrom;
      if (vf.fieldRef) {
        value = podFieldValue(vf.fieldRef, pod, ctx);
      } else if (vf.resourceFieldRef) {
        value = containerResourceValue(vf.resourceFieldRef, pod, container, ctx);
      } else if (vf.configMapKeyRef) {
        const ref = vf.configMapKeyRef;
        const cmName = ref.name ?? '';
        const cm = getConfigMap(cmName);
        if (!cm) {
          if (ref.optional) continue;
          throw notFound('configmap', cmName);
        }
        const v = cm.data?.[ref.key ?? ''];
        if (v === undefined || !Object.prototype.hasOwnProperty.call(cm.data, ref.key ?? '')) {
          if (ref.optional) continue;
          throw new CreateContainerConfigError(`couldn't find key ${ref.key ?? ''} in ConfigMap ${namespace}/${cmName}`);
        }
        value = v;
      } else if (vf.secretKeyRef) {
        const ref = vf.secretKeyRef;
        const secretName = ref.name ?? '';
        const secret = getSecret(secretName);
        if (!secret) {
          if (ref.optional) continue;
          throw notFound('secret', secretName);
        }
        const v = secret.data?.[ref.key ?? ''];
        if (v === undefined || !Object.prototype.hasOwnProperty.call(secret.data, ref.key ?? '')) {
          if (ref.optional) continue;
          throw new CreateContainerConfigError(`couldn't find key ${ref.key ?? ''} in Secret ${namespace}/${secretName}`);
        }
        value = Buffer.from(v).toString('utf8');
      }
    }
    env.set(name, value);
  }

  return { env: [...env].map(([key, value]) => ({ key, value })), skipped };
}
