/**
 * Pod and PodSpec validation: a port of the pod parts of Kubernetes'
 * pkg/apis/core/validation/validation.go, for the fields kubemu's protos carry. Pod templates
 * inside workloads use validatePodTemplateSpec; pods themselves validatePod / validatePodUpdate
 * / validatePodStatusUpdate.
 *
 * Pure functions returning field errors; they never throw and may run concurrently.
 */
import { field, FieldError } from '../../lib/errors';
import {
  Affinity,
  Container,
  ContainerPort,
  EnvFromSource,
  EnvVar,
  HTTPGetAction,
  KeyToPath,
  LifecycleHandler,
  NodeSelector,
  NodeSelectorRequirement,
  NodeSelectorTerm,
  ObjectFieldSelector,
  Pod,
  PodAffinityTerm,
  PodSpec,
  PodTemplateSpec,
  Probe,
  ResourceFieldSelector,
  SecurityContext,
  Toleration,
  Volume,
  VolumeMount,
} from '../../lib/generated/kubemu/core/v1/core';
import {
  child,
  goStringSlice,
  IntOrString,
  intOrString,
  immutable,
  index,
  invalidEach,
  IS_NOT_POSITIVE,
  nonNegative,
  notFound,
  semanticEqual,
  validateAnnotations,
  validateDNS1123Label,
  validateLabelName,
  validateLabels,
  validateLabelSelector,
  validateObjectMeta,
  validateObjectMetaUpdate,
} from './common';
import {
  inclusiveRangeError,
  isConfigMapKey,
  isDNS1123Subdomain,
  isEnvVarName,
  isHTTPHeaderName,
  isLabelValue,
  isQualifiedName,
  isValidIP,
  isValidPortName,
  isValidPortNum,
  nameIsDNSLabel,
  nameIsDNSSubdomain,
} from './formats';
import { validateResourceRequirements } from './resources';

const MAX_INT32 = 2147483647;
const FILE_MODE_ERROR = 'must be a number between 0 and 0777 (octal), both inclusive';

/** Options that differ between a Pod and a PodSpec embedded in a workload. */
export interface PodSpecOptions {
  /** The spec belongs to a Pod (not a template): host ports of host-network pods must equal container ports. */
  resourceIsPod: boolean;
}

// ---------------------------------------------------------------- volumes

type VolumeMap = Map<string, Volume>;

function validateVolumes(volumes: Volume[] | undefined, path: string): { vols: VolumeMap; errs: FieldError[] } {
  const errs: FieldError[] = [];
  const vols: VolumeMap = new Map();
  (volumes ?? []).forEach((vol, i) => {
    const p = index(path, i);
    const namePath = child(p, 'name');
    const el = validateVolumeSource(vol, p);
    if (!vol.name) el.push(field.required(namePath, ''));
    else el.push(...validateDNS1123Label(vol.name, namePath));
    if (vol.name && vols.has(vol.name)) el.push(field.duplicate(namePath, vol.name));
    if (el.length === 0) vols.set(vol.name!, vol);
    else errs.push(...el);
  });
  return { vols, errs };
}

function validateVolumeSource(vol: Volume, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let n = 0;
  // Kubernetes' order of sources; the error path for a second downwardAPI source really is
  // "downwarAPI" (a typo kept for fidelity).
  const sources: Array<[keyof Volume, string, () => FieldError[]]> = [
    ['emptyDir', 'emptyDir', () => []],
    ['hostPath', 'hostPath', () => validateHostPath(vol.hostPath!.path, vol.hostPath!.type, child(path, 'hostPath'))],
    ['secret', 'secret', () => validateSecretVolume(vol, child(path, 'secret'))],
    ['persistentVolumeClaim', 'persistentVolumeClaim', () => (vol.persistentVolumeClaim!.claimName ? [] : [field.required(child(child(path, 'persistentVolumeClaim'), 'claimName'), '')])],
    ['downwardAPI', 'downwarAPI', () => validateDownwardAPIVolume(vol, child(path, 'downwardAPI'))],
    ['configMap', 'configMap', () => validateConfigMapVolume(vol, child(path, 'configMap'))],
    ['projected', 'projected', () => validateProjectedVolume(vol, child(path, 'projected'))],
  ];
  for (const [prop, forbiddenName, check] of sources) {
    if (vol[prop] === undefined || vol[prop] === null) continue;
    if (n > 0) {
      errs.push(field.forbidden(child(path, forbiddenName), 'may not specify more than 1 volume type'));
    } else {
      n++;
      errs.push(...check());
    }
  }
  if (n === 0) errs.push(field.required(path, 'must specify a volume type'));
  return errs;
}

const HOST_PATH_TYPES = ['', 'BlockDevice', 'CharDevice', 'Directory', 'DirectoryOrCreate', 'File', 'FileOrCreate', 'Socket'];

/** validateHostPathVolumeSource: path required, no '..', a supported type. */
export function validateHostPath(p: string | undefined, type: string | undefined, path: string): FieldError[] {
  if (!p) return [field.required(child(path, 'path'), '')];
  const errs = validatePathNoBacksteps(p, child(path, 'path'));
  if (type !== undefined && !HOST_PATH_TYPES.includes(type)) errs.push(field.notSupported(child(path, 'type'), type, HOST_PATH_TYPES));
  return errs;
}

function validatePathNoBacksteps(target: string, path: string): FieldError[] {
  return target.split('/').includes('..') ? [field.invalid(path, target, "must not contain '..'")] : [];
}

function validateLocalDescendingPath(target: string, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (target.startsWith('/')) errs.push(field.invalid(path, target, 'must be a relative path'));
  errs.push(...validatePathNoBacksteps(target, path));
  return errs;
}

function validateLocalNonReservedPath(target: string, path: string): FieldError[] {
  const errs = validateLocalDescendingPath(target, path);
  if (target.startsWith('..') && !target.startsWith('../')) errs.push(field.invalid(path, target, "must not start with '..'"));
  return errs;
}

function validateMode(mode: number | undefined, path: string): FieldError[] {
  return mode !== undefined && (mode > 0o777 || mode < 0) ? [field.invalid(path, mode, FILE_MODE_ERROR)] : [];
}

function validateKeyToPath(kp: KeyToPath, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!kp.key) errs.push(field.required(child(path, 'key'), ''));
  if (!kp.path) errs.push(field.required(child(path, 'path'), ''));
  errs.push(...validateLocalNonReservedPath(kp.path ?? '', child(path, 'path')));
  errs.push(...validateMode(kp.mode, child(path, 'mode')));
  return errs;
}

function validateSecretVolume(vol: Volume, path: string): FieldError[] {
  const s = vol.secret!;
  const errs: FieldError[] = [];
  if (!s.secretName) errs.push(field.required(child(path, 'secretName'), ''));
  errs.push(...validateMode(s.defaultMode, child(path, 'defaultMode')));
  (s.items ?? []).forEach((kp, i) => errs.push(...validateKeyToPath(kp, index(child(path, 'items'), i))));
  return errs;
}

function validateConfigMapVolume(vol: Volume, path: string): FieldError[] {
  const c = vol.configMap!;
  const errs: FieldError[] = [];
  if (!c.name) errs.push(field.required(child(path, 'name'), ''));
  errs.push(...validateMode(c.defaultMode, child(path, 'defaultMode')));
  (c.items ?? []).forEach((kp, i) => errs.push(...validateKeyToPath(kp, index(child(path, 'items'), i))));
  return errs;
}

const VOLUME_FIELD_PATHS = ['metadata.annotations', 'metadata.labels', 'metadata.name', 'metadata.namespace', 'metadata.uid'];
const ENV_FIELD_PATHS = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.hostIP',
  'status.hostIPs',
  'status.podIP',
  'status.podIPs',
];
// What pods.ConvertDownwardAPIFieldLabel accepts for v1.
const CONVERTIBLE_FIELD_PATHS = new Set([
  'metadata.annotations',
  'metadata.labels',
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'spec.nodeName',
  'spec.restartPolicy',
  'spec.serviceAccountName',
  'spec.schedulerName',
  'status.phase',
  'status.hostIP',
  'status.hostIPs',
  'status.podIP',
  'status.podIPs',
]);
const RESOURCE_FIELD_PATHS = ['limits.cpu', 'limits.ephemeral-storage', 'limits.memory', 'requests.cpu', 'requests.ephemeral-storage', 'requests.memory'];

function validateObjectFieldSelector(fs: ObjectFieldSelector, expressions: string[], path: string): FieldError[] {
  if (!fs.apiVersion) return [field.required(child(path, 'apiVersion'), '')];
  if (!fs.fieldPath) return [field.required(child(path, 'fieldPath'), '')];
  const m = /^(metadata\.(?:labels|annotations))\['(.*)'\]$/.exec(fs.fieldPath);
  const base = m ? m[1] : fs.fieldPath.split('[')[0];
  if (fs.apiVersion !== 'v1' || !CONVERTIBLE_FIELD_PATHS.has(base)) {
    const why = fs.apiVersion !== 'v1' ? `unsupported pod version: ${fs.apiVersion}` : `field label not supported: ${fs.fieldPath}`;
    return [field.invalid(child(path, 'fieldPath'), fs.fieldPath, `error converting fieldPath: ${why}`)];
  }
  if (m) {
    const sub = base === 'metadata.annotations' ? m[2].toLowerCase() : m[2];
    return invalidEach(path, sub, isQualifiedName(sub));
  }
  if (fs.fieldPath.includes('[')) return [field.invalid(path, base, 'does not support subscript')];
  if (!expressions.includes(fs.fieldPath)) return [field.notSupported(child(path, 'fieldPath'), fs.fieldPath, expressions)];
  return [];
}

function validateResourceFieldSelector(fs: ResourceFieldSelector, path: string, volume: boolean): FieldError[] {
  if (volume && !fs.containerName) return [field.required(child(path, 'containerName'), '')];
  if (!fs.resource) return [field.required(child(path, 'resource'), '')];
  const hugepages = fs.resource.startsWith('requests.hugepages-') || fs.resource.startsWith('limits.hugepages-');
  if (!RESOURCE_FIELD_PATHS.includes(fs.resource) && !hugepages) return [field.notSupported(child(path, 'resource'), fs.resource, RESOURCE_FIELD_PATHS)];
  return [];
}

function validateDownwardAPIVolume(vol: Volume, path: string): FieldError[] {
  const d = vol.downwardAPI!;
  const errs = validateMode(d.defaultMode, child(path, 'defaultMode'));
  // Kubernetes reports item errors at the volume source's path, without the item index.
  for (const file of d.items ?? []) errs.push(...validateDownwardAPIFile(file, path));
  return errs;
}

function validateDownwardAPIFile(
  file: { path?: string; fieldRef?: ObjectFieldSelector; resourceFieldRef?: ResourceFieldSelector; mode?: number },
  path: string,
): FieldError[] {
  const errs: FieldError[] = [];
  if (!file.path) errs.push(field.required(child(path, 'path'), ''));
  errs.push(...validateLocalNonReservedPath(file.path ?? '', child(path, 'path')));
  if (file.fieldRef) {
    errs.push(...validateObjectFieldSelector(file.fieldRef, VOLUME_FIELD_PATHS, child(path, 'fieldRef')));
    if (file.resourceFieldRef) errs.push(field.invalid(path, 'resource', 'fieldRef and resourceFieldRef can not be specified simultaneously'));
  } else if (file.resourceFieldRef) {
    errs.push(...validateResourceFieldSelector(file.resourceFieldRef, child(path, 'resourceFieldRef'), true));
  } else {
    errs.push(field.required(path, 'one of fieldRef and resourceFieldRef is required'));
  }
  errs.push(...validateMode(file.mode, child(path, 'mode')));
  return errs;
}

function validateProjectedVolume(vol: Volume, path: string): FieldError[] {
  const pv = vol.projected!;
  const errs = validateMode(pv.defaultMode, child(path, 'defaultMode'));
  const paths = new Set<string>();
  const track = (p: string | undefined, value: unknown) => {
    if (!p) return;
    if (paths.has(p)) errs.push(field.invalid(path, value, 'conflicting duplicate paths'));
    else paths.add(p);
  };
  (pv.sources ?? []).forEach((src, i) => {
    const sp = index(child(path, 'sources'), i);
    let n = 0;
    if (src.secret) {
      n++;
      if (!src.secret.secretName) errs.push(field.required(child(child(sp, 'secret'), 'name'), ''));
      (src.secret.items ?? []).forEach((kp, j) => {
        errs.push(...validateKeyToPath(kp, index(child(child(sp, 'secret'), 'items'), j)));
        track(kp.path, src.secret!.secretName ?? '');
      });
    }
    if (src.configMap) {
      n++;
      if (!src.configMap.name) errs.push(field.required(child(child(sp, 'configMap'), 'name'), ''));
      (src.configMap.items ?? []).forEach((kp, j) => {
        errs.push(...validateKeyToPath(kp, index(child(child(sp, 'configMap'), 'items'), j)));
        track(kp.path, src.configMap!.name ?? '');
      });
    }
    if (src.downwardAPI) {
      n++;
      for (const file of src.downwardAPI.items ?? []) {
        errs.push(...validateDownwardAPIFile(file, child(sp, 'downwardAPI')));
        track(file.path, file.path);
      }
    }
    if (n > 1) errs.push(field.forbidden(sp, 'may not specify more than 1 volume type per source'));
  });
  return errs;
}

// ---------------------------------------------------------------- containers

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];

function validateContainerPorts(ports: ContainerPort[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  (ports ?? []).forEach((port, i) => {
    const p = index(path, i);
    if (port.name) {
      const msgs = isValidPortName(port.name);
      if (msgs.length) errs.push(...invalidEach(child(p, 'name'), port.name, msgs));
      else if (names.has(port.name)) errs.push(field.duplicate(child(p, 'name'), port.name));
      else names.add(port.name);
    }
    if (!port.containerPort) errs.push(field.required(child(p, 'containerPort'), ''));
    else errs.push(...invalidEach(child(p, 'containerPort'), port.containerPort, isValidPortNum(port.containerPort)));
    if (port.hostPort) errs.push(...invalidEach(child(p, 'hostPort'), port.hostPort, isValidPortNum(port.hostPort)));
    if (!port.protocol) errs.push(field.required(child(p, 'protocol'), ''));
    else if (!PROTOCOLS.includes(port.protocol)) errs.push(field.notSupported(child(p, 'protocol'), port.protocol, PROTOCOLS));
  });
  return errs;
}

function validateEnv(vars: EnvVar[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (vars ?? []).forEach((ev, i) => {
    const p = index(path, i);
    if (!ev.name) errs.push(field.required(child(p, 'name'), ''));
    else errs.push(...invalidEach(child(p, 'name'), ev.name, isEnvVarName(ev.name)));
    errs.push(...validateEnvVarValueFrom(ev, child(p, 'valueFrom')));
  });
  return errs;
}

function validateEnvVarValueFrom(ev: EnvVar, path: string): FieldError[] {
  const from = ev.valueFrom;
  if (!from) return [];
  const errs: FieldError[] = [];
  let n = 0;
  if (from.fieldRef) {
    n++;
    errs.push(...validateObjectFieldSelector(from.fieldRef, ENV_FIELD_PATHS, child(path, 'fieldRef')));
  }
  if (from.resourceFieldRef) {
    n++;
    errs.push(...validateResourceFieldSelector(from.resourceFieldRef, child(path, 'resourceFieldRef'), false));
  }
  for (const [prop, name] of [
    ['configMapKeyRef', 'configMapKeyRef'],
    ['secretKeyRef', 'secretKeyRef'],
  ] as const) {
    const sel = from[prop];
    if (!sel) continue;
    n++;
    const sp = child(path, name);
    errs.push(...invalidEach(child(sp, 'name'), sel.name ?? '', nameIsDNSSubdomain(sel.name ?? '', false)));
    if (!sel.key) errs.push(field.required(child(sp, 'key'), ''));
    else errs.push(...invalidEach(child(sp, 'key'), sel.key, isConfigMapKey(sel.key)));
  }
  if (n === 0) errs.push(field.invalid(path, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
  else if (ev.value) errs.push(field.invalid(path, '', 'may not be specified when `value` is not empty'));
  else if (n > 1) errs.push(field.invalid(path, '', 'may not have more than one field specified at a time'));
  return errs;
}

function validateEnvFrom(vars: EnvFromSource[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (vars ?? []).forEach((ev, i) => {
    const p = index(path, i);
    if (ev.prefix) errs.push(...invalidEach(child(p, 'prefix'), ev.prefix, isEnvVarName(ev.prefix)));
    let n = 0;
    for (const prop of ['configMapRef', 'secretRef'] as const) {
      const ref = ev[prop];
      if (!ref) continue;
      n++;
      const rp = child(child(p, prop), 'name');
      if (!ref.name) errs.push(field.required(rp, ''));
      else errs.push(...invalidEach(rp, ref.name, nameIsDNSSubdomain(ref.name, true)));
    }
    // Kubernetes reports these at the list's path, without the index.
    if (n === 0) errs.push(field.invalid(path, '', 'must specify one of: `configMapRef` or `secretRef`'));
    else if (n > 1) errs.push(field.invalid(path, '', 'may not have more than one field specified at a time'));
  });
  return errs;
}

const MOUNT_PROPAGATIONS = ['Bidirectional', 'HostToContainer', 'None'];

function validateVolumeMounts(mounts: VolumeMount[] | undefined, vols: VolumeMap, ctr: Container, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const mountPoints = new Set<string>();
  (mounts ?? []).forEach((mnt, i) => {
    const p = index(path, i);
    if (!mnt.name) errs.push(field.required(child(p, 'name'), ''));
    if (!vols.has(mnt.name ?? '')) errs.push(notFound(child(p, 'name'), mnt.name ?? ''));
    if (!mnt.mountPath) errs.push(field.required(child(p, 'mountPath'), ''));
    if (mountPoints.has(mnt.mountPath ?? '')) errs.push(field.invalid(child(p, 'mountPath'), mnt.mountPath ?? '', 'must be unique'));
    mountPoints.add(mnt.mountPath ?? '');
    // Kubernetes reports sub-path problems at the list's path (volumeMounts.subPath).
    if (mnt.subPath) errs.push(...validateLocalDescendingPath(mnt.subPath, child(path, 'subPath')));
    if (mnt.subPathExpr) {
      if (mnt.subPath) errs.push(field.invalid(child(p, 'subPathExpr'), mnt.subPathExpr, 'subPathExpr and subPath are mutually exclusive'));
      errs.push(...validateLocalDescendingPath(mnt.subPathExpr, child(path, 'subPathExpr')));
    }
    if (mnt.mountPropagation !== undefined) {
      const mp = child(path, 'mountPropagation');
      if (!MOUNT_PROPAGATIONS.includes(mnt.mountPropagation)) errs.push(field.notSupported(mp, mnt.mountPropagation, MOUNT_PROPAGATIONS));
      if (mnt.mountPropagation === 'Bidirectional' && !ctr.securityContext?.privileged) {
        errs.push(field.forbidden(mp, 'Bidirectional mount propagation is available only to privileged containers'));
      }
    }
  });
  return errs;
}

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
const TERMINATION_MESSAGE_POLICIES = ['File', 'FallbackToLogsOnError'];

function validateSecurityContext(sc: SecurityContext | undefined, path: string): FieldError[] {
  if (!sc) return [];
  const errs: FieldError[] = [];
  if (sc.runAsUser !== undefined) errs.push(...validateID(sc.runAsUser, child(path, 'runAsUser')));
  if (sc.runAsGroup !== undefined) errs.push(...validateID(sc.runAsGroup, child(path, 'runAsGroup')));
  if (sc.allowPrivilegeEscalation === false && sc.privileged === true) {
    errs.push(field.invalid(path, sc, 'cannot set `allowPrivilegeEscalation` to false and `privileged` to true'));
  }
  return errs;
}

function validateID(id: number, path: string): FieldError[] {
  return id >= 0 && id <= 0xffffffff ? [] : [field.invalid(path, id, inclusiveRangeError(0, 4294967295))];
}

function validateContainerCommon(ctr: Container, vols: VolumeMap, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const namePath = child(path, 'name');
  if (!ctr.name) errs.push(field.required(namePath, ''));
  else errs.push(...validateDNS1123Label(ctr.name, namePath));
  if (!ctr.image) errs.push(field.required(child(path, 'image'), ''));
  const tmp = ctr.terminationMessagePolicy ?? '';
  if (!tmp) errs.push(field.required(child(path, 'terminationMessagePolicy'), ''));
  else if (!TERMINATION_MESSAGE_POLICIES.includes(tmp)) errs.push(field.notSupported(child(path, 'terminationMessagePolicy'), tmp, TERMINATION_MESSAGE_POLICIES));
  errs.push(...validateContainerPorts(ctr.ports, child(path, 'ports')));
  errs.push(...validateEnv(ctr.env, child(path, 'env')));
  errs.push(...validateEnvFrom(ctr.envFrom, child(path, 'envFrom')));
  errs.push(...validateVolumeMounts(ctr.volumeMounts, vols, ctr, child(path, 'volumeMounts')));
  const pull = ctr.imagePullPolicy ?? '';
  if (!pull) errs.push(field.required(child(path, 'imagePullPolicy'), ''));
  else if (!PULL_POLICIES.includes(pull)) errs.push(field.notSupported(child(path, 'imagePullPolicy'), pull, PULL_POLICIES));
  errs.push(...validateResourceRequirements(ctr.resources, child(path, 'resources')));
  errs.push(...validateSecurityContext(ctr.securityContext, child(path, 'securityContext')));
  return errs;
}

// ---------------------------------------------------------------- probes and handlers

function validatePortNumOrName(port: IntOrString, path: string): FieldError[] {
  if (port.kind === 'invalid') return [];
  if (port.kind === 'string') return invalidEach(path, port.value, isValidPortName(port.value));
  const n = port.kind === 'int' ? port.value : 0;
  return invalidEach(path, n, isValidPortNum(n));
}

function validateHTTPGet(h: HTTPGetAction, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!h.path) errs.push(field.required(child(path, 'path'), ''));
  const port = intOrString(h.port, child(path, 'port'), errs);
  errs.push(...validatePortNumOrName(port, child(path, 'port')));
  if (!['HTTP', 'HTTPS'].includes(h.scheme ?? '')) errs.push(field.notSupported(child(path, 'scheme'), h.scheme ?? '', ['HTTP', 'HTTPS']));
  for (const header of h.httpHeaders ?? []) errs.push(...invalidEach(child(path, 'httpHeaders'), header.name ?? '', isHTTPHeaderName(header.name ?? '')));
  return errs;
}

type Handler = Pick<LifecycleHandler, 'exec' | 'httpGet' | 'tcpSocket' | 'sleep'> & { grpc?: Probe['grpc'] };

function validateHandler(h: Handler, gracePeriod: number | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let n = 0;
  const one = (name: string, present: boolean, check: () => FieldError[]) => {
    if (!present) return;
    if (n > 0) errs.push(field.forbidden(child(path, name), 'may not specify more than 1 handler type'));
    else {
      n++;
      errs.push(...check());
    }
  };
  one('exec', !!h.exec, () => ((h.exec!.command ?? []).length ? [] : [field.required(child(child(path, 'exec'), 'command'), '')]));
  one('httpGet', !!h.httpGet, () => validateHTTPGet(h.httpGet!, child(path, 'httpGet')));
  one('tcpSocket', !!h.tcpSocket, () => {
    const e: FieldError[] = [];
    const p = child(child(path, 'tcpSocket'), 'port');
    const port = intOrString(h.tcpSocket!.port, p, e);
    return [...e, ...validatePortNumOrName(port, p)];
  });
  one('grpc', !!h.grpc, () => invalidEach(child(child(path, 'grpc'), 'port'), h.grpc!.port ?? 0, isValidPortNum(h.grpc!.port ?? 0)));
  one('sleep', !!h.sleep, () => {
    const s = h.sleep!.seconds ?? 0;
    if (gracePeriod !== undefined && (s < 0 || s > gracePeriod)) {
      return [field.invalid(child(path, 'sleep'), s, `must be non-negative and less than terminationGracePeriodSeconds (${gracePeriod})`)];
    }
    return [];
  });
  if (n === 0) errs.push(field.required(path, 'must specify a handler type'));
  return errs;
}

function validateProbe(probe: Probe, gracePeriod: number | undefined, path: string): FieldError[] {
  const errs = validateHandler(probe, gracePeriod, path);
  errs.push(...nonNegative(probe.initialDelaySeconds, child(path, 'initialDelaySeconds')));
  errs.push(...nonNegative(probe.timeoutSeconds, child(path, 'timeoutSeconds')));
  errs.push(...nonNegative(probe.periodSeconds, child(path, 'periodSeconds')));
  errs.push(...nonNegative(probe.successThreshold, child(path, 'successThreshold')));
  errs.push(...nonNegative(probe.failureThreshold, child(path, 'failureThreshold')));
  if (probe.terminationGracePeriodSeconds !== undefined && probe.terminationGracePeriodSeconds <= 0) {
    errs.push(field.invalid(child(path, 'terminationGracePeriodSeconds'), probe.terminationGracePeriodSeconds, 'must be greater than 0'));
  }
  return errs;
}

function validateProbes(ctr: Container, gracePeriod: number | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (ctr.lifecycle) {
    if (ctr.lifecycle.postStart) errs.push(...validateHandler(ctr.lifecycle.postStart, gracePeriod, child(child(path, 'lifecycle'), 'postStart')));
    if (ctr.lifecycle.preStop) errs.push(...validateHandler(ctr.lifecycle.preStop, gracePeriod, child(child(path, 'lifecycle'), 'preStop')));
  }
  for (const kind of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
    const probe = ctr[kind];
    if (!probe) continue;
    const p = child(path, kind);
    errs.push(...validateProbe(probe, gracePeriod, p));
    if (kind !== 'readinessProbe' && probe.successThreshold !== 1) errs.push(field.invalid(child(p, 'successThreshold'), probe.successThreshold ?? 0, 'must be 1'));
    if (kind === 'readinessProbe' && probe.terminationGracePeriodSeconds !== undefined) {
      errs.push(field.invalid(child(p, 'terminationGracePeriodSeconds'), probe.terminationGracePeriodSeconds, 'must not be set for readinessProbes'));
    }
  }
  return errs;
}

// AccumulateUniqueHostPorts: protocol/hostIP/hostPort must not repeat.
function checkHostPortConflicts(containers: Container[], path: string, seen = new Set<string>()): FieldError[] {
  const errs: FieldError[] = [];
  containers.forEach((ctr, ci) => {
    (ctr.ports ?? []).forEach((port, pi) => {
      if (!port.hostPort) return;
      const k = `${port.protocol ?? ''}/${port.hostIP ?? ''}/${port.hostPort}`;
      if (seen.has(k)) errs.push(field.duplicate(child(index(child(index(path, ci), 'ports'), pi), 'hostPort'), k));
      else seen.add(k);
    });
  });
  return errs;
}

function validateContainers(containers: Container[] | undefined, vols: VolumeMap, gracePeriod: number | undefined, path: string): FieldError[] {
  const list = containers ?? [];
  if (list.length === 0) return [field.required(path, '')];
  const errs: FieldError[] = [];
  const names = new Set<string>();
  list.forEach((ctr, i) => {
    const p = index(path, i);
    errs.push(...validateContainerCommon(ctr, vols, p));
    if (names.has(ctr.name ?? '')) errs.push(field.duplicate(child(p, 'name'), ctr.name ?? ''));
    else names.add(ctr.name ?? '');
    errs.push(...validateProbes(ctr, gracePeriod, p));
    if (ctr.restartPolicy !== undefined) errs.push(field.forbidden(child(p, 'restartPolicy'), 'may not be set for non-init containers'));
  });
  errs.push(...checkHostPortConflicts(list, path));
  return errs;
}

function validateInitContainers(containers: Container[] | undefined, regular: Container[] | undefined, vols: VolumeMap, gracePeriod: number | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set((regular ?? []).map((c) => c.name ?? ''));
  (containers ?? []).forEach((ctr, i) => {
    const p = index(path, i);
    errs.push(...validateContainerCommon(ctr, vols, p));
    let restartAlways = false;
    if (ctr.restartPolicy !== undefined) {
      if (ctr.restartPolicy !== 'Always') errs.push(field.notSupported(child(p, 'restartPolicy'), ctr.restartPolicy, ['Always']));
      restartAlways = ctr.restartPolicy === 'Always';
    }
    if (names.has(ctr.name ?? '')) errs.push(field.duplicate(child(p, 'name'), ctr.name ?? ''));
    else if (ctr.name) names.add(ctr.name);
    // Init containers run one by one, so only a container's own ports can collide.
    errs.push(...checkHostPortConflicts([ctr], path));
    if (restartAlways) {
      errs.push(...validateProbes(ctr, gracePeriod, p));
    } else {
      for (const f of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
        if (ctr[f]) errs.push(field.forbidden(child(p, f), 'may not be set for init containers without restartPolicy=Always'));
      }
    }
  });
  return errs;
}

// ---------------------------------------------------------------- scheduling

const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

/** validateTaintEffect: a supported effect; empty allowed only where `allowEmpty` (tolerations). */
export function validateTaintEffect(effect: string, allowEmpty: boolean, path: string): FieldError[] {
  if (!allowEmpty && !effect) return [field.required(path, '')];
  return TAINT_EFFECTS.includes(effect) ? [] : [field.notSupported(path, effect, TAINT_EFFECTS)];
}

/** ValidateTolerations. */
export function validateTolerations(tolerations: Toleration[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (tolerations ?? []).forEach((t, i) => {
    const p = index(path, i);
    const op = t.operator ?? '';
    if (t.key) errs.push(...validateLabelName(t.key, child(p, 'key')));
    if (!t.key && op !== 'Exists') {
      errs.push(field.invalid(child(p, 'operator'), op, 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
    }
    if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') {
      errs.push(field.invalid(child(p, 'effect'), t.effect ?? '', "effect must be 'NoExecute' when `tolerationSeconds` is set"));
    }
    if (op === 'Equal' || op === '') {
      const msgs = isLabelValue(t.value ?? '');
      if (msgs.length) errs.push(field.invalid(child(p, 'operator'), t.value ?? '', msgs.join(';')));
    } else if (op === 'Exists') {
      if (t.value) errs.push(field.invalid(child(p, 'operator'), t.value, "value must be empty when `operator` is 'Exists'"));
    } else {
      errs.push(field.notSupported(child(p, 'operator'), op, ['Equal', 'Exists']));
    }
    if (t.effect) errs.push(...validateTaintEffect(t.effect, true, child(p, 'effect')));
  });
  return errs;
}

function validateNodeSelectorRequirement(rq: NodeSelectorRequirement, allowInvalidValues: boolean, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const values = rq.values ?? [];
  switch (rq.operator) {
    case 'In':
    case 'NotIn':
      if (values.length === 0) errs.push(field.required(child(path, 'values'), "must be specified when `operator` is 'In' or 'NotIn'"));
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (values.length > 0) errs.push(field.forbidden(child(path, 'values'), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
      break;
    case 'Gt':
    case 'Lt':
      if (values.length !== 1) errs.push(field.required(child(path, 'values'), "must be specified single value when `operator` is 'Lt' or 'Gt'"));
      break;
    default:
      errs.push(field.invalid(child(path, 'operator'), rq.operator ?? '', 'not a valid selector operator'));
  }
  errs.push(...validateLabelName(rq.key ?? '', child(path, 'key')));
  if (!allowInvalidValues) values.forEach((v, i) => errs.push(...invalidEach(index(child(path, 'values'), i), v, isLabelValue(v))));
  return errs;
}

function validateNodeSelectorTerm(term: NodeSelectorTerm | undefined, allowInvalidValues: boolean, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (term?.matchExpressions ?? []).forEach((rq, j) => errs.push(...validateNodeSelectorRequirement(rq, allowInvalidValues, index(child(path, 'matchExpressions'), j))));
  (term?.matchFields ?? []).forEach((rq, j) => {
    const p = index(child(path, 'matchFields'), j);
    if (rq.operator === 'In' || rq.operator === 'NotIn') {
      if ((rq.values ?? []).length !== 1) errs.push(field.required(child(p, 'values'), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"));
    } else {
      errs.push(field.invalid(child(p, 'operator'), rq.operator ?? '', 'not a valid selector operator'));
    }
    if (rq.key !== 'metadata.name') errs.push(field.invalid(child(p, 'key'), rq.key ?? '', 'not a valid field selector key'));
    else (rq.values ?? []).forEach((v, i) => errs.push(...invalidEach(index(child(p, 'values'), i), v, nameIsDNSSubdomain(v, false))));
  });
  return errs;
}

/** ValidateNodeSelector: at least one term, each valid. */
export function validateNodeSelector(sel: NodeSelector, path: string): FieldError[] {
  const termsPath = child(path, 'nodeSelectorTerms');
  const terms = sel.nodeSelectorTerms ?? [];
  if (terms.length === 0) return [field.required(termsPath, 'must have at least one node selector term')];
  return terms.flatMap((t, i) => validateNodeSelectorTerm(t, false, index(termsPath, i)));
}

function validatePodAffinityTerm(term: PodAffinityTerm, path: string): FieldError[] {
  const errs = [...validateLabelSelector(term.labelSelector, child(path, 'labelSelector')), ...validateLabelSelector(term.namespaceSelector, child(path, 'namespaceSelector'))];
  for (const ns of term.namespaces ?? []) errs.push(...invalidEach(child(path, 'namespace'), ns, nameIsDNSLabel(ns, false)));
  if (!term.topologyKey) errs.push(field.required(child(path, 'topologyKey'), 'can not be empty'));
  errs.push(...validateLabelName(term.topologyKey ?? '', child(path, 'topologyKey')));
  return errs;
}

function validateAffinity(affinity: Affinity | undefined, path: string): FieldError[] {
  if (!affinity) return [];
  const errs: FieldError[] = [];
  const na = affinity.nodeAffinity;
  if (na) {
    const np = child(path, 'nodeAffinity');
    if (na.requiredDuringSchedulingIgnoredDuringExecution) {
      errs.push(...validateNodeSelector(na.requiredDuringSchedulingIgnoredDuringExecution, child(np, 'requiredDuringSchedulingIgnoredDuringExecution')));
    }
    (na.preferredDuringSchedulingIgnoredDuringExecution ?? []).forEach((term, i) => {
      const p = index(child(np, 'preferredDuringSchedulingIgnoredDuringExecution'), i);
      const w = term.weight ?? 0;
      if (w <= 0 || w > 100) errs.push(field.invalid(child(p, 'weight'), w, 'must be in the range 1-100'));
      // Preferred terms may carry label values that do not exist yet.
      errs.push(...validateNodeSelectorTerm(term.preference, true, child(p, 'preference')));
    });
  }
  for (const kind of ['podAffinity', 'podAntiAffinity'] as const) {
    const pa = affinity[kind];
    if (!pa) continue;
    const kp = child(path, kind);
    (pa.requiredDuringSchedulingIgnoredDuringExecution ?? []).forEach((t, i) =>
      errs.push(...validatePodAffinityTerm(t, index(child(kp, 'requiredDuringSchedulingIgnoredDuringExecution'), i))),
    );
    (pa.preferredDuringSchedulingIgnoredDuringExecution ?? []).forEach((wt, i) => {
      const p = index(child(kp, 'preferredDuringSchedulingIgnoredDuringExecution'), i);
      const w = wt.weight ?? 0;
      if (w <= 0 || w > 100) errs.push(field.invalid(child(p, 'weight'), w, 'must be in the range 1-100'));
      errs.push(...validatePodAffinityTerm(wt.podAffinityTerm ?? {}, child(p, 'podAffinityTerm')));
    });
  }
  return errs;
}

function validateTopologySpreadConstraints(spec: PodSpec, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const list = spec.topologySpreadConstraints ?? [];
  list.forEach((c, i) => {
    const p = index(path, i);
    if ((c.maxSkew ?? 0) <= 0) errs.push(field.invalid(child(p, 'maxSkew'), c.maxSkew ?? 0, IS_NOT_POSITIVE));
    if (!c.topologyKey) errs.push(field.required(child(p, 'topologyKey'), 'can not be empty'));
    const actions = ['DoNotSchedule', 'ScheduleAnyway'];
    if (!actions.includes(c.whenUnsatisfiable ?? '')) errs.push(field.notSupported(child(p, 'whenUnsatisfiable'), c.whenUnsatisfiable ?? '', actions));
    if (list.slice(i + 1).some((o) => o.topologyKey === c.topologyKey && o.whenUnsatisfiable === c.whenUnsatisfiable)) {
      errs.push(field.duplicate(child(p, '{topologyKey, whenUnsatisfiable}'), `{${c.topologyKey ?? ''}, ${c.whenUnsatisfiable ?? ''}}`));
    }
    if (c.minDomains !== undefined) {
      if (c.minDomains <= 0) errs.push(field.invalid(child(p, 'minDomains'), c.minDomains, IS_NOT_POSITIVE));
      if (c.whenUnsatisfiable !== 'DoNotSchedule') {
        errs.push(field.invalid(child(p, 'minDomains'), c.minDomains, `can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ${c.whenUnsatisfiable ?? ''}`));
      }
    }
    errs.push(...validateLabelSelector(c.labelSelector, child(p, 'labelSelector')));
  });
  return errs;
}

// ---------------------------------------------------------------- the pod spec

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];

/** ValidatePodSpec: everything in a pod's spec, for pods and pod templates alike. */
export function validatePodSpec(spec: PodSpec | undefined, path: string, opts: PodSpecOptions): FieldError[] {
  const s = spec ?? {};
  const errs: FieldError[] = [];
  const grace = s.terminationGracePeriodSeconds;
  if (grace === undefined) errs.push(field.required(child(path, 'terminationGracePeriodSeconds'), ''));
  else errs.push(...nonNegative(grace, child(path, 'terminationGracePeriodSeconds')));
  const { vols, errs: volErrs } = validateVolumes(s.volumes, child(path, 'volumes'));
  errs.push(...volErrs);
  errs.push(...validateContainers(s.containers, vols, grace, child(path, 'containers')));
  errs.push(...validateInitContainers(s.initContainers, s.containers, vols, grace, child(path, 'initContainers')));
  if (s.hostNetwork) {
    (s.containers ?? []).forEach((ctr, i) =>
      (ctr.ports ?? []).forEach((port, j) => {
        const hp = port.hostPort ?? 0;
        if ((opts.resourceIsPod || hp !== 0) && hp !== (port.containerPort ?? 0)) {
          errs.push(field.invalid(child(index(child(index(child(path, 'containers'), i), 'ports'), j), 'hostPort'), hp, 'must match `containerPort` when `hostNetwork` is true'));
        }
      }),
    );
  }
  const restart = s.restartPolicy ?? '';
  if (!restart) errs.push(field.required(child(path, 'restartPolicy'), ''));
  else if (!RESTART_POLICIES.includes(restart)) errs.push(field.notSupported(child(path, 'restartPolicy'), restart, RESTART_POLICIES));
  const dns = s.dnsPolicy ?? '';
  if (!dns) errs.push(field.required(child(path, 'dnsPolicy'), ''));
  else if (!DNS_POLICIES.includes(dns)) errs.push(field.notSupported(child(path, 'dnsPolicy'), dns, DNS_POLICIES));
  errs.push(...validateLabels(s.nodeSelector, child(path, 'nodeSelector')));
  const psc = s.securityContext;
  if (psc) {
    const sp = child(path, 'securityContext');
    if (psc.fsGroup !== undefined) errs.push(...validateID(psc.fsGroup, child(sp, 'fsGroup')));
    if (psc.runAsUser !== undefined) errs.push(...validateID(psc.runAsUser, child(sp, 'runAsUser')));
    if (psc.runAsGroup !== undefined) errs.push(...validateID(psc.runAsGroup, child(sp, 'runAsGroup')));
    (psc.supplementalGroups ?? []).forEach((g, i) => errs.push(...validateID(g, index(child(sp, 'supplementalGroups'), i))));
  }
  if (s.shareProcessNamespace && s.hostPID) {
    errs.push(field.invalid(child(child(path, 'securityContext'), 'shareProcessNamespace'), true, 'ShareProcessNamespace and HostPID cannot both be enabled'));
  }
  errs.push(...validateAffinity(s.affinity, child(path, 'affinity')));
  errs.push(...validatePodDNSConfig(s, child(path, 'dnsConfig')));
  (s.readinessGates ?? []).forEach((g, i) => {
    const p = child(index(child(path, 'readinessGates'), i), 'conditionType');
    errs.push(...invalidEach(p, g.conditionType ?? '', isQualifiedName(g.conditionType ?? '')));
  });
  errs.push(...validateTopologySpreadConstraints(s, child(path, 'topologySpreadConstraints')));
  if (s.serviceAccountName) errs.push(...invalidEach(child(path, 'serviceAccountName'), s.serviceAccountName, nameIsDNSSubdomain(s.serviceAccountName, false)));
  if (s.nodeName) errs.push(...invalidEach(child(path, 'nodeName'), s.nodeName, nameIsDNSSubdomain(s.nodeName, false)));
  if (s.activeDeadlineSeconds !== undefined && (s.activeDeadlineSeconds < 1 || s.activeDeadlineSeconds > MAX_INT32)) {
    errs.push(field.invalid(child(path, 'activeDeadlineSeconds'), s.activeDeadlineSeconds, inclusiveRangeError(1, MAX_INT32)));
  }
  if (s.hostname) errs.push(...validateDNS1123Label(s.hostname, child(path, 'hostname')));
  if (s.subdomain) errs.push(...validateDNS1123Label(s.subdomain, child(path, 'subdomain')));
  errs.push(...validateTolerations(s.tolerations, child(path, 'tolerations')));
  (s.hostAliases ?? []).forEach((ha, i) => {
    const p = index(child(path, 'hostAliases'), i);
    errs.push(...invalidEach(child(p, 'ip'), ha.ip ?? '', isValidIP(ha.ip ?? '')));
    (ha.hostnames ?? []).forEach((h, j) => errs.push(...invalidEach(index(child(p, 'hostnames'), j), h, isDNS1123Subdomain(h))));
  });
  if (s.priorityClassName) errs.push(...invalidEach(child(path, 'priorityClassName'), s.priorityClassName, nameIsDNSSubdomain(s.priorityClassName, false)));
  if (s.runtimeClassName !== undefined) errs.push(...invalidEach(child(path, 'runtimeClassName'), s.runtimeClassName, nameIsDNSSubdomain(s.runtimeClassName, false)));
  if (s.preemptionPolicy !== undefined) {
    const pp = ['PreemptLowerPriority', 'Never'];
    if (!s.preemptionPolicy) errs.push(field.required(child(path, 'preemptionPolicy'), ''));
    else if (!pp.includes(s.preemptionPolicy)) errs.push(field.notSupported(child(path, 'preemptionPolicy'), s.preemptionPolicy, pp));
  }
  if (s.overhead && Object.keys(s.overhead).length) errs.push(...validateResourceRequirements({ limits: s.overhead }, child(path, 'overhead')));
  return errs;
}

function validatePodDNSConfig(spec: PodSpec, path: string): FieldError[] {
  const cfg = spec.dnsConfig;
  if (spec.dnsPolicy === 'None') {
    if (!cfg) return [field.required(path, 'must provide `dnsConfig` when `dnsPolicy` is None')];
    if ((cfg.nameservers ?? []).length === 0) return [field.required(child(path, 'nameservers'), 'must provide at least one DNS nameserver when `dnsPolicy` is None')];
  }
  if (!cfg) return [];
  const errs: FieldError[] = [];
  const ns = cfg.nameservers ?? [];
  if (ns.length > 3) errs.push(field.invalid(child(path, 'nameservers'), goStringSlice(ns), 'must not have more than 3 nameservers'));
  ns.forEach((n, i) => errs.push(...invalidEach(index(child(path, 'nameservers'), i), n, isValidIP(n))));
  const searches = cfg.searches ?? [];
  if (searches.length > 32) errs.push(field.invalid(child(path, 'searches'), goStringSlice(searches), 'must not have more than 32 search paths'));
  if (searches.join(' ').length > 2048) {
    errs.push(field.invalid(child(path, 'searches'), goStringSlice(searches), 'must not have more than 2048 characters (including spaces) in the search list'));
  }
  searches.forEach((s, i) => {
    if (s === '.') return;
    const trimmed = s.replace(/\.$/, '');
    // RelaxedDNSSearchValidation (default on): underscores are allowed.
    if (!/^_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\._?[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*$/.test(trimmed) || trimmed.length > 253) {
      errs.push(
        field.invalid(
          index(child(path, 'searches'), i),
          trimmed,
          "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '_', '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\\._?[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*')",
        ),
      );
    }
  });
  (cfg.options ?? []).forEach((o, i) => {
    if (!o.name) errs.push(field.required(index(child(path, 'options'), i), 'must not be empty'));
  });
  return errs;
}

/** ValidatePodTemplateSpec: a workload's pod template (metadata labels/annotations and the spec). */
export function validatePodTemplateSpec(template: PodTemplateSpec | undefined, path: string): FieldError[] {
  // Kubernetes validates template labels at `<path>.labels`, not `<path>.metadata.labels`.
  return [
    ...validateLabels(template?.metadata?.labels, child(path, 'labels')),
    ...validateAnnotations(template?.metadata?.annotations, child(path, 'annotations')),
    ...validatePodSpec(template?.spec, child(path, 'spec'), { resourceIsPod: false }),
  ];
}

// ---------------------------------------------------------------- Pod

/** ValidatePodCreate. */
export function validatePod(pod: Pod): FieldError[] {
  const errs = validateObjectMeta(pod.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
  errs.push(...validatePodSpec(pod.spec, 'spec', { resourceIsPod: true }));
  for (const list of ['containers', 'initContainers'] as const) {
    (pod.spec?.[list] ?? []).forEach((ctr, i) => {
      const image = ctr.image ?? '';
      if (image.length !== image.trim().length) errs.push(field.invalid(child(index(child('spec', list), i), 'image'), image, 'must not have leading or trailing whitespace'));
    });
  }
  return errs;
}

const UPDATABLE_POD_SPEC_FIELDS = [
  '`spec.containers[*].image`',
  '`spec.initContainers[*].image`',
  '`spec.activeDeadlineSeconds`',
  '`spec.tolerations` (only additions to existing tolerations)',
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
];

/**
 * ValidatePodUpdate: metadata rules, the create rules, and Kubernetes' pod update rule: only
 * container images, activeDeadlineSeconds (set, or lowered), added tolerations (and their
 * tolerationSeconds) may change. spec.nodeName is set through the binding subresource only.
 */
export function validatePodUpdate(pod: Pod, old: Pod): FieldError[] {
  const errs = validateObjectMetaUpdate(pod.metadata, old.metadata);
  errs.push(...validatePod(pod));
  const spec = pod.spec ?? {};
  const oldSpec = old.spec ?? {};
  for (const list of ['containers', 'initContainers'] as const) {
    const a = spec[list] ?? [];
    const b = oldSpec[list] ?? [];
    if (a.length !== b.length) {
      errs.push(field.forbidden(child('spec', list), 'pod updates may not add or remove containers'));
      return dedupe(errs);
    }
    a.forEach((ctr, i) => {
      if (!ctr.image) errs.push(field.required(child(index(child('spec', list), i), 'image'), ''));
    });
  }
  if (spec.activeDeadlineSeconds !== undefined) {
    const n = spec.activeDeadlineSeconds;
    if (n < 0 || n > MAX_INT32) {
      errs.push(field.invalid('spec.activeDeadlineSeconds', n, inclusiveRangeError(0, MAX_INT32)));
      return dedupe(errs);
    }
    if (oldSpec.activeDeadlineSeconds !== undefined && oldSpec.activeDeadlineSeconds < n) {
      errs.push(field.invalid('spec.activeDeadlineSeconds', n, 'must be less than or equal to previous value'));
      return dedupe(errs);
    }
  } else if (oldSpec.activeDeadlineSeconds !== undefined) {
    errs.push(field.invalid('spec.activeDeadlineSeconds', null, 'must not update from a positive integer to nil value'));
  }
  errs.push(...validateOnlyAddedTolerations(spec.tolerations ?? [], oldSpec.tolerations ?? [], 'spec.tolerations'));

  // Mask what may change, then the rest must be equal.
  const munged: PodSpec = {
    ...spec,
    containers: (spec.containers ?? []).map((c, i) => ({ ...c, image: oldSpec.containers?.[i]?.image })),
    initContainers: (spec.initContainers ?? []).map((c, i) => ({ ...c, image: oldSpec.initContainers?.[i]?.image })),
    activeDeadlineSeconds: oldSpec.activeDeadlineSeconds,
    tolerations: oldSpec.tolerations,
  };
  if ((oldSpec.terminationGracePeriodSeconds ?? 0) < 0 && munged.terminationGracePeriodSeconds === 1) {
    munged.terminationGracePeriodSeconds = oldSpec.terminationGracePeriodSeconds;
  }
  if (!podSpecsEqual(munged, oldSpec)) {
    errs.push(field.forbidden('spec', `pod updates may not change fields other than ${UPDATABLE_POD_SPEC_FIELDS.join(',')}\n${specDiff(oldSpec, munged)}`));
  }
  return dedupe(errs);
}

function dedupe(errs: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errs.filter((e) => {
    const k = `${e.type}|${e.field}|${JSON.stringify(e.badValue) ?? ''}|${e.detail ?? ''}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// Compares specs with optional (pointer) fields' unset state preserved; other zero values equal unset.
function podSpecsEqual(a: PodSpec, b: PodSpec): boolean {
  return semanticEqual(pointerMarked(a), pointerMarked(b));
}

const POINTER_FIELDS: Array<keyof PodSpec> = [
  'terminationGracePeriodSeconds',
  'activeDeadlineSeconds',
  'automountServiceAccountToken',
  'shareProcessNamespace',
  'priority',
  'runtimeClassName',
  'enableServiceLinks',
  'preemptionPolicy',
  'setHostnameAsFQDN',
];

function pointerMarked(spec: PodSpec): unknown {
  const out: Record<string, unknown> = { ...spec };
  for (const f of POINTER_FIELDS) out[f] = spec[f] === undefined ? undefined : { set: spec[f] === 0 || spec[f] === false || spec[f] === '' ? 'zero' : spec[f] };
  return out;
}

// A short, readable diff in the spirit of the cmp.Diff Kubernetes appends to the message.
function specDiff(oldSpec: PodSpec, newSpec: PodSpec): string {
  const a = pointerMarked(oldSpec) as Record<string, unknown>;
  const b = pointerMarked(newSpec) as Record<string, unknown>;
  const lines = ['  core.PodSpec{'];
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (semanticEqual(a[k], b[k])) continue;
    const goName = k.charAt(0).toUpperCase() + k.slice(1);
    lines.push(`- \t${goName}: ${JSON.stringify((oldSpec as Record<string, unknown>)[k] ?? null)},`);
    lines.push(`+ \t${goName}: ${JSON.stringify((newSpec as Record<string, unknown>)[k] ?? null)},`);
  }
  lines.push('  }');
  return lines.join('\n');
}

// validateOnlyAddedTolerations: existing tolerations stay, except their tolerationSeconds.
function validateOnlyAddedTolerations(next: Toleration[], old: Toleration[], path: string): FieldError[] {
  for (const o of old) {
    const found = next.some((n) => semanticEqual({ ...o, tolerationSeconds: undefined }, { ...n, tolerationSeconds: undefined }));
    if (!found) return [field.forbidden(path, 'existing toleration can not be modified except its tolerationSeconds')];
  }
  return validateTolerations(next, path);
}

const POD_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];
const CONDITION_STATUSES = ['True', 'False', 'Unknown'];
const SYSTEM_POD_CONDITIONS = new Set(['PodScheduled', 'Ready', 'Initialized']);

/**
 * ValidatePodStatusUpdate: metadata rules, condition types, nodeName unchanged, qosClass
 * immutable, pod IPs valid, terminated containers of non-restarting pods stay terminated;
 * plus (kubemu, stricter than Kubernetes) a supported phase and condition statuses.
 */
export function validatePodStatusUpdate(pod: Pod, old: Pod): FieldError[] {
  const errs = validateObjectMetaUpdate(pod.metadata, old.metadata);
  const status = pod.status ?? {};
  (status.conditions ?? []).forEach((c, i) => {
    // Kubernetes reports custom condition types at metadata.conditions[i].Type.
    if (!SYSTEM_POD_CONDITIONS.has(c.type ?? '')) errs.push(...invalidEach(child(index('metadata.conditions', i), 'Type'), c.type ?? '', isQualifiedName(c.type ?? '')));
    if (!CONDITION_STATUSES.includes(c.status ?? '')) errs.push(field.notSupported(child(index('status.conditions', i), 'status'), c.status ?? '', CONDITION_STATUSES));
  });
  if (status.phase && !POD_PHASES.includes(status.phase)) errs.push(field.notSupported('status.phase', status.phase, POD_PHASES));
  if ((pod.spec?.nodeName ?? '') !== (old.spec?.nodeName ?? '')) errs.push(field.forbidden('status.nodeName', 'may not be changed directly'));
  if (status.nominatedNodeName && status.nominatedNodeName !== (old.status?.nominatedNodeName ?? '')) {
    errs.push(...invalidEach('status.nominatedNodeName', status.nominatedNodeName, nameIsDNSSubdomain(status.nominatedNodeName, false)));
  }
  errs.push(...immutable(status.qosClass ?? '', old.status?.qosClass ?? '', 'status.qosClass'));
  const restart = old.spec?.restartPolicy ?? '';
  const restartable = new Set((old.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always').map((c) => c.name));
  for (const [list, path, isInit] of [
    ['containerStatuses', 'status.containerStatuses', false],
    ['initContainerStatuses', 'status.initContainerStatuses', true],
  ] as const) {
    if (restart === 'Always') continue;
    (old.status?.[list] ?? []).forEach((o, i) => {
      const term = o.state?.terminated;
      if (!term) return;
      if ((term.exitCode ?? 0) !== 0 && restart === 'OnFailure') return;
      if (isInit && restartable.has(o.name)) return;
      for (const n of status[list] ?? []) {
        if (n.name === o.name && !n.state?.terminated) errs.push(field.forbidden(child(index(path, i), 'state'), 'may not be transitioned to non-terminated state'));
      }
    });
  }
  const podIPs = status.podIPs ?? [];
  podIPs.forEach((ip, i) => errs.push(...invalidEach(index('status.podIPs', i), ip.ip ?? '', isValidIP(ip.ip ?? ''))));
  const hostIPs = status.hostIPs ?? [];
  if (hostIPs.length && (status.hostIP ?? '') !== (hostIPs[0].ip ?? '')) errs.push(field.invalid('status.hostIPs[0].ip', hostIPs[0].ip ?? '', 'must be equal to `hostIP`'));
  hostIPs.forEach((ip, i) => errs.push(...invalidEach(index('status.hostIPs', i), ip.ip ?? '', isValidIP(ip.ip ?? ''))));
  return errs;
}

