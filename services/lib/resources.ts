import { Object as ApiObject } from './generated/kubemu/apiserver/v1/apiserver';
import { DaemonSet, Deployment, ReplicaSet, StatefulSet } from './generated/kubemu/apps/v1/apps';
import { CronJob, Job } from './generated/kubemu/batch/v1/batch';
import { Lease } from './generated/kubemu/coordination/v1/coordination';
import {
  ConfigMap,
  Endpoints,
  Event,
  Namespace,
  Node,
  PersistentVolume,
  PersistentVolumeClaim,
  Pod,
  Secret,
  Service,
} from './generated/kubemu/core/v1/core';
import { ObjectMeta } from './generated/kubemu/meta/v1/meta';
import { Ingress, IngressClass } from './generated/kubemu/networking/v1/networking';

/** Every kind kubemu serves, by the name of its case in the apiserver's Object oneof. */
export interface KindMap {
  namespace: Namespace;
  pod: Pod;
  node: Node;
  service: Service;
  endpoints: Endpoints;
  event: Event;
  configMap: ConfigMap;
  secret: Secret;
  persistentVolume: PersistentVolume;
  persistentVolumeClaim: PersistentVolumeClaim;
  replicaSet: ReplicaSet;
  deployment: Deployment;
  statefulSet: StatefulSet;
  daemonSet: DaemonSet;
  job: Job;
  cronJob: CronJob;
  lease: Lease;
  ingress: Ingress;
  ingressClass: IngressClass;
}
export type ObjectCase = keyof KindMap;

/** What every API object has in common. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: unknown;
  status?: unknown;
}

/** Encode/decode/JSON functions of a generated message. */
export interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
  fromJSON(object: unknown): T;
  toJSON(message: T): unknown;
  fromPartial(object: unknown): T;
}

/** One served resource: its REST name, kind, group/version, scope and codec. */
export interface ResourceInfo<C extends ObjectCase = ObjectCase> {
  /** Plural lower-case name, as in REST paths and etcd keys: pods. */
  resource: string;
  singular: string;
  kind: string;
  group: string;
  version: string;
  /** group/version, or just the version for the core group. */
  apiVersion: string;
  namespaced: boolean;
  shortNames: string[];
  /** The case in the apiserver's Object oneof. */
  objectCase: C;
  codec: Codec<KindMap[C]>;
  /** Whether status is written only through the status subresource. */
  hasStatus: boolean;
  /** Whether a change of `spec` bumps metadata.generation (Kubernetes: resources with a spec/status split). */
  tracksGeneration: boolean;
  /** Field selectors this resource supports beyond metadata.name and metadata.namespace. */
  fieldSelectors: string[];
}

function info<C extends ObjectCase>(r: Omit<ResourceInfo<C>, 'apiVersion' | 'singular'> & { singular?: string }): ResourceInfo<C> {
  return { ...r, singular: r.singular ?? r.kind.toLowerCase(), apiVersion: r.group ? `${r.group}/${r.version}` : r.version };
}

/** The table of every resource kubemu serves. */
export const RESOURCES: ResourceInfo[] = [
  info({ resource: 'namespaces', kind: 'Namespace', group: '', version: 'v1', namespaced: false, shortNames: ['ns'], objectCase: 'namespace', codec: Namespace, hasStatus: true, tracksGeneration: false, fieldSelectors: ['status.phase'] }),
  info({ resource: 'pods', kind: 'Pod', group: '', version: 'v1', namespaced: true, shortNames: ['po'], objectCase: 'pod', codec: Pod, hasStatus: true, tracksGeneration: false, fieldSelectors: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'] }),
  info({ resource: 'nodes', kind: 'Node', group: '', version: 'v1', namespaced: false, shortNames: ['no'], objectCase: 'node', codec: Node, hasStatus: true, tracksGeneration: false, fieldSelectors: ['spec.unschedulable'] }),
  info({ resource: 'services', kind: 'Service', group: '', version: 'v1', namespaced: true, shortNames: ['svc'], objectCase: 'service', codec: Service, hasStatus: true, tracksGeneration: false, fieldSelectors: ['spec.clusterIP', 'spec.type'] }),
  info({ resource: 'endpoints', singular: 'endpoints', kind: 'Endpoints', group: '', version: 'v1', namespaced: true, shortNames: ['ep'], objectCase: 'endpoints', codec: Endpoints, hasStatus: false, tracksGeneration: false, fieldSelectors: [] }),
  info({ resource: 'events', kind: 'Event', group: '', version: 'v1', namespaced: true, shortNames: ['ev'], objectCase: 'event', codec: Event, hasStatus: false, tracksGeneration: false, fieldSelectors: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'] }),
  info({ resource: 'configmaps', kind: 'ConfigMap', group: '', version: 'v1', namespaced: true, shortNames: ['cm'], objectCase: 'configMap', codec: ConfigMap, hasStatus: false, tracksGeneration: false, fieldSelectors: [] }),
  info({ resource: 'secrets', kind: 'Secret', group: '', version: 'v1', namespaced: true, shortNames: [], objectCase: 'secret', codec: Secret, hasStatus: false, tracksGeneration: false, fieldSelectors: ['type'] }),
  info({ resource: 'persistentvolumes', kind: 'PersistentVolume', group: '', version: 'v1', namespaced: false, shortNames: ['pv'], objectCase: 'persistentVolume', codec: PersistentVolume, hasStatus: true, tracksGeneration: false, fieldSelectors: [] }),
  info({ resource: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', group: '', version: 'v1', namespaced: true, shortNames: ['pvc'], objectCase: 'persistentVolumeClaim', codec: PersistentVolumeClaim, hasStatus: true, tracksGeneration: false, fieldSelectors: [] }),
  info({ resource: 'replicasets', kind: 'ReplicaSet', group: 'apps', version: 'v1', namespaced: true, shortNames: ['rs'], objectCase: 'replicaSet', codec: ReplicaSet, hasStatus: true, tracksGeneration: true, fieldSelectors: [] }),
  info({ resource: 'deployments', kind: 'Deployment', group: 'apps', version: 'v1', namespaced: true, shortNames: ['deploy'], objectCase: 'deployment', codec: Deployment, hasStatus: true, tracksGeneration: true, fieldSelectors: [] }),
  info({ resource: 'statefulsets', kind: 'StatefulSet', group: 'apps', version: 'v1', namespaced: true, shortNames: ['sts'], objectCase: 'statefulSet', codec: StatefulSet, hasStatus: true, tracksGeneration: true, fieldSelectors: [] }),
  info({ resource: 'daemonsets', kind: 'DaemonSet', group: 'apps', version: 'v1', namespaced: true, shortNames: ['ds'], objectCase: 'daemonSet', codec: DaemonSet, hasStatus: true, tracksGeneration: true, fieldSelectors: [] }),
  info({ resource: 'jobs', kind: 'Job', group: 'batch', version: 'v1', namespaced: true, shortNames: [], objectCase: 'job', codec: Job, hasStatus: true, tracksGeneration: true, fieldSelectors: ['status.successful'] }),
  info({ resource: 'cronjobs', kind: 'CronJob', group: 'batch', version: 'v1', namespaced: true, shortNames: ['cj'], objectCase: 'cronJob', codec: CronJob, hasStatus: true, tracksGeneration: true, fieldSelectors: [] }),
  info({ resource: 'leases', kind: 'Lease', group: 'coordination.k8s.io', version: 'v1', namespaced: true, shortNames: [], objectCase: 'lease', codec: Lease, hasStatus: false, tracksGeneration: false, fieldSelectors: [] }),
  info({ resource: 'ingresses', kind: 'Ingress', group: 'networking.k8s.io', version: 'v1', namespaced: true, shortNames: ['ing'], objectCase: 'ingress', codec: Ingress, hasStatus: true, tracksGeneration: true, fieldSelectors: [] }),
  info({ resource: 'ingressclasses', kind: 'IngressClass', group: 'networking.k8s.io', version: 'v1', namespaced: false, shortNames: [], objectCase: 'ingressClass', codec: IngressClass, hasStatus: false, tracksGeneration: true, fieldSelectors: [] }),
];

const byResource = new Map(RESOURCES.map((r) => [r.resource, r]));
const byCase = new Map(RESOURCES.map((r) => [r.objectCase, r]));

/** The resource named `resource` (plural), or undefined. */
export function findResource(resource: string): ResourceInfo | undefined {
  return byResource.get(resource);
}

/** The resource for a kind in the Object oneof. Throws for an unknown case (a programming error). */
export function resourceForCase<C extends ObjectCase>(c: C): ResourceInfo<C> {
  const r = byCase.get(c);
  if (!r) throw new Error(`kubemu: no resource for object case ${c}`);
  return r as ResourceInfo<C>;
}

/** Wraps a typed object into the apiserver's Object envelope. */
export function wrap<C extends ObjectCase>(c: C, value: KindMap[C]): ApiObject {
  return { object: { $case: c, value } as ApiObject['object'] };
}

/** Unwraps an envelope; undefined when it is empty. */
export function unwrap(obj: ApiObject | undefined): { objectCase: ObjectCase; value: KubeObject } | undefined {
  if (!obj?.object) return undefined;
  return { objectCase: obj.object.$case as ObjectCase, value: obj.object.value as KubeObject };
}

/** The etcd key of an object: /registry/<resource>/<namespace>/<name>, cluster-scoped without the namespace. */
export function storageKey(info: ResourceInfo, namespace: string, name: string): string {
  return info.namespaced ? `/registry/${info.resource}/${namespace}/${name}` : `/registry/${info.resource}/${name}`;
}

/** The etcd prefix of a list: every namespace, or one. */
export function storagePrefix(info: ResourceInfo, namespace: string): string {
  return info.namespaced && namespace ? `/registry/${info.resource}/${namespace}/` : `/registry/${info.resource}/`;
}

/** Parses an etcd key back into resource, namespace and name; undefined for keys kubemu does not own. */
export function parseStorageKey(key: string): { info: ResourceInfo; namespace: string; name: string } | undefined {
  const parts = key.split('/');
  // ['', 'registry', resource, ns?, name]
  if (parts[0] !== '' || parts[1] !== 'registry') return undefined;
  const r = byResource.get(parts[2]);
  if (!r) return undefined;
  if (r.namespaced && parts.length === 5) return { info: r, namespace: parts[3], name: parts[4] };
  if (!r.namespaced && parts.length === 4) return { info: r, namespace: '', name: parts[3] };
  return undefined;
}

/** `namespace/name`, or just `name` for cluster-scoped objects: the key of caches and work queues. */
export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name}` : `${obj.metadata?.name}`;
}
