/**
 * Defaulting: the values Kubernetes fills in when a client leaves them out, for every kind in
 * the resource table, as far as kubemu's fields go. Ports of pkg/apis/{core,apps,batch,
 * networking}/v1/defaults.go, of the registry strategies' create-time preparation that is
 * defaulting in all but name (Namespace finalizers, a Job's generated selector, a Pod's
 * initial status), and of the DefaultTolerationSeconds admission plugin.
 *
 * Defaults apply where Kubernetes applies them: pod templates inside workloads get the
 * PodSpec and container defaults, but not the Pod-only ones (requests from limits,
 * enableServiceLinks, host ports of host-network pods, tolerations, status).
 */
import { DaemonSet, Deployment, ReplicaSet, StatefulSet } from '../lib/generated/kubemu/apps/v1/apps';
import { CronJob, Job } from '../lib/generated/kubemu/batch/v1/batch';
import {
  Container,
  Endpoints,
  HTTPGetAction,
  Namespace,
  Node,
  ObjectFieldSelector,
  PersistentVolume,
  PersistentVolumeClaim,
  Pod,
  PodSpec,
  PodTemplateSpec,
  Probe,
  Secret,
  Service,
  Toleration,
  Volume,
} from '../lib/generated/kubemu/core/v1/core';
import { IngressClass } from '../lib/generated/kubemu/networking/v1/networking';
import { KubeObject, ResourceInfo } from '../lib/resources';
import { JOB_LABELS } from './validation/batch';
import { addQuantities, isQuantityError, parseQuantity, Quantity } from './validation/quantities';
import { Quantity as LibQuantity } from '../lib/quantity';

/** What defaulting needs beyond the object. */
export interface DefaultingOptions {
  /** tolerationSeconds of the not-ready/unreachable NoExecute tolerations added to pods. */
  defaultTolerationSeconds: number;
  /**
   * The object replaces a stored one. Create-only preparation (a Job's generated selector, a
   * Namespace's `kubernetes` finalizer) is then skipped, as Kubernetes does it on create.
   */
  update?: boolean;
}

/**
 * Fills in Kubernetes' defaults on `obj`, an object of `info`'s kind, in place.
 *
 * The object is mutated: the caller passes its own copy (never a cached or shared object).
 * The caller sets metadata.name (after generateName) and metadata.uid before calling, since
 * a Job's generated selector and labels use them. Idempotent: defaulting a defaulted object
 * changes nothing. Never throws for malformed content (validation reports it). Synchronous;
 * safe to call concurrently on distinct objects.
 */
export function applyDefaults(info: ResourceInfo, obj: KubeObject, opts: DefaultingOptions): void {
  switch (info.objectCase) {
    case 'namespace':
      return defaultNamespace(obj as Namespace, opts);
    case 'pod':
      return defaultPod(obj as Pod, opts);
    case 'node':
      return defaultNode(obj as Node);
    case 'service':
      return defaultService(obj as Service);
    case 'endpoints':
      return defaultEndpoints(obj as Endpoints);
    case 'secret':
      return defaultSecret(obj as Secret);
    case 'persistentVolume':
      return defaultPersistentVolume(obj as PersistentVolume);
    case 'persistentVolumeClaim':
      return defaultPersistentVolumeClaim(obj as PersistentVolumeClaim);
    case 'replicaSet':
      return defaultReplicaSet(obj as ReplicaSet);
    case 'deployment':
      return defaultDeployment(obj as Deployment);
    case 'statefulSet':
      return defaultStatefulSet(obj as StatefulSet);
    case 'daemonSet':
      return defaultDaemonSet(obj as DaemonSet);
    case 'job':
      return defaultJob(obj as Job, opts);
    case 'cronJob':
      return defaultCronJob(obj as CronJob);
    case 'ingressClass':
      return defaultIngressClass(obj as IngressClass);
    case 'event':
    case 'configMap':
    case 'lease':
    case 'ingress':
      return;
  }
}

// ---------------------------------------------------------------- pod specs

/** The image's tag as Kubernetes' parsers.ParseImageName sees it: "latest" when there is neither tag nor digest. */
export function imageTag(image: string): string {
  const at = image.indexOf('@');
  const name = at >= 0 ? image.slice(0, at) : image;
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > lastSlash) return name.slice(colon + 1);
  return at >= 0 ? '' : 'latest';
}

function defaultHTTPGet(h: HTTPGetAction | undefined): void {
  if (!h) return;
  if (!h.path) h.path = '/';
  if (!h.scheme) h.scheme = 'HTTP';
}

function defaultProbe(p: Probe | undefined): void {
  if (!p) return;
  if (!p.timeoutSeconds) p.timeoutSeconds = 1;
  if (!p.periodSeconds) p.periodSeconds = 10;
  if (!p.successThreshold) p.successThreshold = 1;
  if (!p.failureThreshold) p.failureThreshold = 3;
  defaultHTTPGet(p.httpGet);
}

function defaultFieldRef(ref: ObjectFieldSelector | undefined): void {
  if (ref && !ref.apiVersion) ref.apiVersion = 'v1';
}

/**
 * SetDefaults_ResourceList: quantities are stored in Kubernetes' canonical form (`0.5` →
 * `500m`, `1024Mi` → `1Gi`), rounded up to milli precision. Unparseable values are left for
 * validation to report.
 */
function defaultResourceList(list: { [name: string]: string } | undefined): void {
  if (!list) return;
  for (const name of Object.keys(list)) {
    const q = parseQuantity(list[name]);
    if (isQuantityError(q)) continue;
    try {
      const milli = q.scaledValue(-3);
      const exact = milli * 1_000_000n === q.scaledValue(-9);
      list[name] = (exact ? q : LibQuantity.fromMilliValue(milli, q.format)).toString();
    } catch {
      // Astronomically large values: keep the text as written.
    }
  }
}

function defaultContainer(c: Container): void {
  defaultResourceList(c.resources?.limits);
  defaultResourceList(c.resources?.requests);
  if (!c.imagePullPolicy) c.imagePullPolicy = imageTag(c.image ?? '') === 'latest' ? 'Always' : 'IfNotPresent';
  if (!c.terminationMessagePath) c.terminationMessagePath = '/dev/termination-log';
  if (!c.terminationMessagePolicy) c.terminationMessagePolicy = 'File';
  for (const port of c.ports ?? []) if (!port.protocol) port.protocol = 'TCP';
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
  defaultHTTPGet(c.lifecycle?.postStart?.httpGet);
  defaultHTTPGet(c.lifecycle?.preStop?.httpGet);
  for (const env of c.env ?? []) defaultFieldRef(env.valueFrom?.fieldRef);
}

/** 0644: the default mode of files projected from Secrets, ConfigMaps and the downward API. */
const DEFAULT_FILE_MODE = 0o644;

function defaultVolume(v: Volume): void {
  const hasSource = v.hostPath || v.emptyDir || v.secret || v.persistentVolumeClaim || v.configMap || v.downwardAPI || v.projected;
  if (!hasSource) v.emptyDir = {};
  if (v.hostPath && v.hostPath.type === undefined) v.hostPath.type = '';
  if (v.secret && v.secret.defaultMode === undefined) v.secret.defaultMode = DEFAULT_FILE_MODE;
  if (v.configMap && v.configMap.defaultMode === undefined) v.configMap.defaultMode = DEFAULT_FILE_MODE;
  if (v.downwardAPI) {
    if (v.downwardAPI.defaultMode === undefined) v.downwardAPI.defaultMode = DEFAULT_FILE_MODE;
    for (const item of v.downwardAPI.items ?? []) defaultFieldRef(item.fieldRef);
  }
  if (v.projected) {
    if (v.projected.defaultMode === undefined) v.projected.defaultMode = DEFAULT_FILE_MODE;
    for (const src of v.projected.sources ?? []) for (const item of src.downwardAPI?.items ?? []) defaultFieldRef(item.fieldRef);
  }
}

/** SetDefaults_PodSpec and everything nested in it: for pods and pod templates alike. */
function defaultPodSpec(spec: PodSpec): void {
  if (!spec.dnsPolicy) spec.dnsPolicy = 'ClusterFirst';
  if (!spec.restartPolicy) spec.restartPolicy = 'Always';
  if (!spec.securityContext) spec.securityContext = {};
  if (spec.terminationGracePeriodSeconds === undefined) spec.terminationGracePeriodSeconds = 30;
  if (!spec.schedulerName) spec.schedulerName = 'default-scheduler';
  for (const c of spec.initContainers ?? []) defaultContainer(c);
  for (const c of spec.containers ?? []) defaultContainer(c);
  for (const v of spec.volumes ?? []) defaultVolume(v);
  defaultResourceList(spec.overhead);
}

/** A workload's pod template: created when absent, then PodSpec defaults. */
function defaultPodTemplate<T extends { template?: PodTemplateSpec }>(holder: T): void {
  const template = (holder.template ??= {});
  defaultPodSpec((template.spec ??= {}));
}

// ---------------------------------------------------------------- Pod

/** The taints the DefaultTolerationSeconds admission adds tolerations for. */
export const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';

function defaultPod(pod: Pod, opts: DefaultingOptions): void {
  const spec = (pod.spec ??= {});
  defaultPodSpec(spec);
  // SetDefaults_Pod: requests default to limits (pods only, not templates).
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    const limits = c.resources?.limits;
    if (!limits || Object.keys(limits).length === 0) continue;
    const requests = (c.resources!.requests ??= {});
    for (const [name, value] of Object.entries(limits)) if (!(name in requests)) requests[name] = value;
  }
  if (spec.enableServiceLinks === undefined) spec.enableServiceLinks = true;
  if (spec.hostNetwork) {
    for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
      for (const port of c.ports ?? []) if (!port.hostPort) port.hostPort = port.containerPort;
    }
  }
  addDefaultTolerations(spec, opts.defaultTolerationSeconds);
  const status = (pod.status ??= {});
  if (!status.phase) status.phase = 'Pending';
  if (!status.qosClass) status.qosClass = podQOSClass(spec);
}

// The DefaultTolerationSeconds admission plugin: every pod tolerates a not-ready or
// unreachable node for a while, unless it already says how it tolerates them.
function addDefaultTolerations(spec: PodSpec, seconds: number): void {
  const tolerations = (spec.tolerations ??= []);
  const tolerates = (taint: string) => tolerations.some((t) => (t.key === taint || !t.key) && (t.effect === 'NoExecute' || !t.effect));
  const add = (taint: string): Toleration => ({ key: taint, operator: 'Exists', value: '', effect: 'NoExecute', tolerationSeconds: seconds });
  const notReady = tolerates(NOT_READY_TAINT);
  const unreachable = tolerates(UNREACHABLE_TAINT);
  if (!notReady) tolerations.push(add(NOT_READY_TAINT));
  if (!unreachable) tolerations.push(add(UNREACHABLE_TAINT));
}

/**
 * Kubernetes' pod QoS class (qos.ComputePodQOS) from the cpu and memory of regular and init
 * containers: BestEffort without any positive request or limit; Guaranteed when every
 * container limits both and requests equal limits; Burstable otherwise. Unparseable
 * quantities are ignored (validation rejects them).
 */
export function podQOSClass(spec: PodSpec): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const requests = new Map<string, Quantity>();
  const limits = new Map<string, Quantity>();
  let guaranteed = true;
  const sum = (into: Map<string, Quantity>, name: string, q: Quantity) => {
    const prev = into.get(name);
    into.set(name, prev ? (addQuantities(prev, q) ?? prev) : q);
  };
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    for (const [name, text] of Object.entries(c.resources?.requests ?? {})) {
      if (name !== 'cpu' && name !== 'memory') continue;
      const q = parseQuantity(text);
      if (!isQuantityError(q) && q.sign() > 0) sum(requests, name, q);
    }
    const found = new Set<string>();
    for (const [name, text] of Object.entries(c.resources?.limits ?? {})) {
      if (name !== 'cpu' && name !== 'memory') continue;
      const q = parseQuantity(text);
      if (!isQuantityError(q) && q.sign() > 0) {
        found.add(name);
        sum(limits, name, q);
      }
    }
    if (!found.has('cpu') || !found.has('memory')) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (guaranteed) {
    for (const [name, req] of requests) {
      const lim = limits.get(name);
      if (!lim || lim.cmp(req) !== 0) {
        guaranteed = false;
        break;
      }
    }
  }
  return guaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}

// ---------------------------------------------------------------- other core kinds

function defaultNamespace(ns: Namespace, opts: DefaultingOptions): void {
  const meta = (ns.metadata ??= {});
  if (meta.name) (meta.labels ??= {})['kubernetes.io/metadata.name'] = meta.name;
  if (!opts.update) {
    // The namespace strategy requires the `kubernetes` finalizer on create.
    const finalizers = ((ns.spec ??= {}).finalizers ??= []);
    if (!finalizers.includes('kubernetes')) finalizers.push('kubernetes');
  }
  const status = (ns.status ??= {});
  if (!status.phase) status.phase = 'Active';
}

function defaultNode(node: Node): void {
  const spec = (node.spec ??= {});
  // Kubernetes keeps podCIDR and podCIDRs in step (podCIDR is podCIDRs[0]).
  if (spec.podCIDR && !(spec.podCIDRs ?? []).length) spec.podCIDRs = [spec.podCIDR];
  if (!spec.podCIDR && (spec.podCIDRs ?? []).length) spec.podCIDR = spec.podCIDRs![0];
  const status = node.status;
  defaultResourceList(status?.capacity);
  defaultResourceList(status?.allocatable);
  if (status && Object.keys(status.capacity ?? {}).length && !Object.keys(status.allocatable ?? {}).length) {
    status.allocatable = { ...status.capacity };
  }
}

function externallyAccessible(spec: NonNullable<Service['spec']>): boolean {
  return spec.type === 'LoadBalancer' || spec.type === 'NodePort' || (spec.type === 'ClusterIP' && (spec.externalIPs ?? []).length > 0);
}

function defaultService(svc: Service): void {
  const spec = (svc.spec ??= {});
  if (!spec.sessionAffinity) spec.sessionAffinity = 'None';
  if (spec.sessionAffinity === 'None') spec.sessionAffinityConfig = undefined;
  if (spec.sessionAffinity === 'ClientIP' && spec.sessionAffinityConfig?.clientIP?.timeoutSeconds === undefined) {
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
  }
  if (!spec.type) spec.type = 'ClusterIP';
  for (const port of spec.ports ?? []) {
    if (!port.protocol) port.protocol = 'TCP';
    if (port.targetPort === undefined || port.targetPort === null || port.targetPort === 0 || port.targetPort === '') port.targetPort = port.port ?? 0;
  }
  if (externallyAccessible(spec) && !spec.externalTrafficPolicy) spec.externalTrafficPolicy = 'Cluster';
  if (spec.internalTrafficPolicy === undefined && ['NodePort', 'LoadBalancer', 'ClusterIP'].includes(spec.type)) spec.internalTrafficPolicy = 'Cluster';
  if (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts === undefined) spec.allocateLoadBalancerNodePorts = true;
  if (spec.type === 'ExternalName') return;
  // The registry keeps clusterIP and clusterIPs in step; the allocator picks the families.
  const ips = spec.clusterIPs ?? [];
  if (spec.clusterIP && ips.length === 0) spec.clusterIPs = [spec.clusterIP];
  else if (!spec.clusterIP && ips.length) spec.clusterIP = ips[0];
  if (spec.ipFamilyPolicy === undefined) spec.ipFamilyPolicy = 'SingleStack';
  if (!(spec.ipFamilies ?? []).length) {
    const first = (spec.clusterIPs ?? [])[0] ?? '';
    spec.ipFamilies = [first.includes(':') ? 'IPv6' : 'IPv4'];
  }
}

function defaultEndpoints(ep: Endpoints): void {
  for (const ss of ep.subsets ?? []) for (const port of ss.ports ?? []) if (!port.protocol) port.protocol = 'TCP';
}

function defaultSecret(secret: Secret): void {
  if (!secret.type) secret.type = 'Opaque';
}

function defaultPersistentVolume(pv: PersistentVolume): void {
  const spec = (pv.spec ??= {});
  defaultResourceList(spec.capacity);
  if (!spec.persistentVolumeReclaimPolicy) spec.persistentVolumeReclaimPolicy = 'Retain';
  if (spec.volumeMode === undefined) spec.volumeMode = 'Filesystem';
  if (spec.hostPath && spec.hostPath.type === undefined) spec.hostPath.type = '';
  const status = (pv.status ??= {});
  if (!status.phase) status.phase = 'Pending';
}

function defaultPersistentVolumeClaim(pvc: PersistentVolumeClaim): void {
  const spec = (pvc.spec ??= {});
  defaultResourceList(spec.resources?.limits);
  defaultResourceList(spec.resources?.requests);
  if (spec.volumeMode === undefined) spec.volumeMode = 'Filesystem';
  const status = (pvc.status ??= {});
  if (!status.phase) status.phase = 'Pending';
}

// ---------------------------------------------------------------- apps

function defaultReplicaSet(rs: ReplicaSet): void {
  const spec = (rs.spec ??= {});
  if (spec.replicas === undefined) spec.replicas = 1;
  defaultPodTemplate(spec);
}

function defaultDeployment(d: Deployment): void {
  const spec = (d.spec ??= {});
  if (spec.replicas === undefined) spec.replicas = 1;
  const strategy = (spec.strategy ??= {});
  if (!strategy.type) strategy.type = 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    const ru = (strategy.rollingUpdate ??= {});
    if (ru.maxUnavailable === undefined || ru.maxUnavailable === null) ru.maxUnavailable = '25%';
    if (ru.maxSurge === undefined || ru.maxSurge === null) ru.maxSurge = '25%';
  }
  if (spec.revisionHistoryLimit === undefined) spec.revisionHistoryLimit = 10;
  if (spec.progressDeadlineSeconds === undefined) spec.progressDeadlineSeconds = 600;
  defaultPodTemplate(spec);
}

function defaultStatefulSet(sts: StatefulSet): void {
  const spec = (sts.spec ??= {});
  if (!spec.podManagementPolicy) spec.podManagementPolicy = 'OrderedReady';
  const us = (spec.updateStrategy ??= {});
  if (!us.type) {
    us.type = 'RollingUpdate';
    us.rollingUpdate ??= {};
  }
  if (us.type === 'RollingUpdate' && us.rollingUpdate && us.rollingUpdate.partition === undefined) us.rollingUpdate.partition = 0;
  const retention = (spec.persistentVolumeClaimRetentionPolicy ??= {});
  if (!retention.whenDeleted) retention.whenDeleted = 'Retain';
  if (!retention.whenScaled) retention.whenScaled = 'Retain';
  if (spec.replicas === undefined) spec.replicas = 1;
  if (spec.revisionHistoryLimit === undefined) spec.revisionHistoryLimit = 10;
  defaultPodTemplate(spec);
  // Claim templates are PersistentVolumeClaims and get their defaults.
  for (const claim of spec.volumeClaimTemplates ?? []) defaultPersistentVolumeClaim(claim);
}

function defaultDaemonSet(ds: DaemonSet): void {
  const spec = (ds.spec ??= {});
  const us = (spec.updateStrategy ??= {});
  if (!us.type) us.type = 'RollingUpdate';
  if (us.type === 'RollingUpdate') {
    const ru = (us.rollingUpdate ??= {});
    if (ru.maxUnavailable === undefined || ru.maxUnavailable === null) ru.maxUnavailable = 1;
    if (ru.maxSurge === undefined || ru.maxSurge === null) ru.maxSurge = 0;
  }
  if (spec.revisionHistoryLimit === undefined) spec.revisionHistoryLimit = 10;
  defaultPodTemplate(spec);
}

// ---------------------------------------------------------------- batch

function defaultJob(job: Job, opts: DefaultingOptions): void {
  const spec = (job.spec ??= {});
  // Both unset: a non-parallel job of one completion. Parallelism alone: a work queue
  // (completions stays unset, as in Kubernetes).
  if (spec.completions === undefined && spec.parallelism === undefined) spec.completions = 1;
  if (spec.parallelism === undefined) spec.parallelism = 1;
  if (spec.backoffLimit === undefined) spec.backoffLimit = 6;
  if (spec.completionMode === undefined) spec.completionMode = 'NonIndexed';
  if (spec.suspend === undefined) spec.suspend = false;
  if (spec.manualSelector === undefined) spec.manualSelector = false;
  if (spec.podReplacementPolicy === undefined) spec.podReplacementPolicy = 'TerminatingOrFailed';
  defaultPodTemplate(spec);
  const template = spec.template!;
  const meta = (job.metadata ??= {});
  if (!opts.update && spec.manualSelector !== true) {
    // The job strategy's generateSelector: pods are labelled with the job's uid and name
    // (unless the user set those labels, which validation then checks), and the selector
    // picks the uid.
    const labels = ((template.metadata ??= {}).labels ??= {});
    for (const k of [JOB_LABELS.legacyJobName, JOB_LABELS.jobName]) if (!(k in labels)) labels[k] = meta.name ?? '';
    for (const k of [JOB_LABELS.legacyControllerUid, JOB_LABELS.controllerUid]) if (!(k in labels)) labels[k] = meta.uid ?? '';
    const matchLabels = ((spec.selector ??= {}).matchLabels ??= {});
    if (!(JOB_LABELS.controllerUid in matchLabels)) matchLabels[JOB_LABELS.controllerUid] = meta.uid ?? '';
  }
  // A Job without labels takes its pod template's.
  const templateLabels = template.metadata?.labels;
  if (templateLabels && Object.keys(templateLabels).length && !Object.keys(meta.labels ?? {}).length) meta.labels = { ...templateLabels };
}

function defaultCronJob(cj: CronJob): void {
  const spec = (cj.spec ??= {});
  if (!spec.concurrencyPolicy) spec.concurrencyPolicy = 'Allow';
  if (spec.suspend === undefined) spec.suspend = false;
  if (spec.successfulJobsHistoryLimit === undefined) spec.successfulJobsHistoryLimit = 3;
  if (spec.failedJobsHistoryLimit === undefined) spec.failedJobsHistoryLimit = 1;
  // Only the pod spec inside the job template is defaulted (SetDefaults_Job is for Jobs).
  defaultPodTemplate(((spec.jobTemplate ??= {}).spec ??= {}));
}

// ---------------------------------------------------------------- networking

function defaultIngressClass(ic: IngressClass): void {
  const params = ic.spec?.parameters;
  if (params && params.scope === undefined) params.scope = 'Cluster';
}
