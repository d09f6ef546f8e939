// What Kubernetes' Go types say and the proto files cannot: which strings are Quantities or
// Times, which fields are required, the strategic-merge-patch struct tags, and the descriptions
// of the fields every kind shares. Tables keyed by "<proto message short name>.<json field>".
import { PatchSchema, STRATEGIC_SCHEMAS } from '../../lib/strategicpatch';

/** Kubernetes' model names of the types kubemu represents as plain proto scalars or Values. */
export const MODEL = {
  intOrString: 'io.k8s.apimachinery.pkg.util.intstr.IntOrString',
  quantity: 'io.k8s.apimachinery.pkg.api.resource.Quantity',
  time: 'io.k8s.apimachinery.pkg.apis.meta.v1.Time',
  microTime: 'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime',
  fieldsV1: 'io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1',
  patch: 'io.k8s.apimachinery.pkg.apis.meta.v1.Patch',
  watchEvent: 'io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent',
  rawExtension: 'io.k8s.apimachinery.pkg.runtime.RawExtension',
} as const;

/** The Kubernetes model name of a kubemu proto message (kubemu.core.v1.Pod → io.k8s.api.core.v1.Pod). */
export function kubernetesModelName(protoFullName: string): string {
  const m = /^kubemu\.([a-z0-9]+)\.(v[0-9a-z]+)\.(.+)$/.exec(protoFullName);
  if (!m) return protoFullName;
  const [, pkg, version, name] = m;
  if (pkg === 'meta') return `io.k8s.apimachinery.pkg.apis.meta.${version}.${name}`;
  return `io.k8s.api.${pkg}.${version}.${name}`;
}

/** The proto package of an API group-version ('' v1 → kubemu.core.v1, networking.k8s.io v1 → kubemu.networking.v1). */
export function protoPackage(group: string, version: string): string {
  return `kubemu.${group === '' ? 'core' : group.split('.')[0]}.${version}`;
}

/** Quantity-valued string fields, and map fields whose values are Quantities (ResourceList). */
const QUANTITY_FIELDS = new Set(['ResourceFieldSelector.divisor', 'EmptyDirVolumeSource.sizeLimit']);
const QUANTITY_MAPS = new Set(['limits', 'requests', 'capacity', 'allocatable', 'overhead', 'hard', 'used']);

/** MicroTime fields (RFC 3339 with microseconds); every other *Time / *Timestamp string is a Time. */
const MICRO_TIME_FIELDS = new Set(['Event.eventTime', 'LeaseSpec.acquireTime', 'LeaseSpec.renewTime']);
const TIME_FIELDS = new Set(['ContainerStateRunning.startedAt', 'ContainerStateTerminated.startedAt', 'ContainerStateTerminated.finishedAt', 'Taint.timeAdded', 'ManagedFieldsEntry.time']);

/** The Kubernetes model a plain proto string field stands for, if any. */
export function stringFieldModel(message: string, field: string): string | undefined {
  const key = `${message}.${field}`;
  if (QUANTITY_FIELDS.has(key)) return MODEL.quantity;
  if (MICRO_TIME_FIELDS.has(key)) return MODEL.microTime;
  if (TIME_FIELDS.has(key) || /[a-z](Time|Timestamp)$/.test(field)) return MODEL.time;
  if (key === 'ManagedFieldsEntry.fieldsV1') return MODEL.fieldsV1;
  return undefined;
}

/** The model of a map<string, string> field's values, if they are not plain strings. */
export function mapValueModel(field: string): string | undefined {
  return QUANTITY_MAPS.has(field) ? MODEL.quantity : undefined;
}

/** Fields Kubernetes' types require (no omitempty, not a pointer), by message. */
export const REQUIRED: Record<string, string[]> = {
  PodSpec: ['containers'],
  Container: ['name'],
  ContainerPort: ['containerPort'],
  EnvVar: ['name'],
  VolumeMount: ['name', 'mountPath'],
  Volume: ['name'],
  KeyToPath: ['key', 'path'],
  ConfigMapKeySelector: ['key'],
  SecretKeySelector: ['key'],
  ObjectFieldSelector: ['fieldPath'],
  ResourceFieldSelector: ['resource'],
  HostPathVolumeSource: ['path'],
  PersistentVolumeClaimVolumeSource: ['claimName'],
  DownwardAPIVolumeFile: ['path'],
  HTTPGetAction: ['port'],
  TCPSocketAction: ['port'],
  GRPCAction: ['port'],
  SleepAction: ['seconds'],
  HTTPHeader: ['name', 'value'],
  HostAlias: ['ip'],
  NodeSelector: ['nodeSelectorTerms'],
  NodeSelectorRequirement: ['key', 'operator'],
  PreferredSchedulingTerm: ['weight', 'preference'],
  PodAffinityTerm: ['topologyKey'],
  WeightedPodAffinityTerm: ['weight', 'podAffinityTerm'],
  TopologySpreadConstraint: ['maxSkew', 'topologyKey', 'whenUnsatisfiable'],
  PodReadinessGate: ['conditionType'],
  ContainerStatus: ['name', 'ready', 'restartCount', 'image', 'imageID'],
  PodCondition: ['type', 'status'],
  NodeCondition: ['type', 'status'],
  NamespaceCondition: ['type', 'status'],
  NodeAddress: ['type', 'address'],
  Taint: ['key', 'effect'],
  ServicePort: ['port'],
  Binding: ['target'],
  Event: ['metadata', 'involvedObject'],
  OwnerReference: ['apiVersion', 'kind', 'name', 'uid'],
  LabelSelectorRequirement: ['key', 'operator'],
  Condition: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  ReplicaSetSpec: ['selector'],
  DeploymentSpec: ['selector', 'template'],
  StatefulSetSpec: ['selector', 'template'],
  DaemonSetSpec: ['selector', 'template'],
  ReplicaSetCondition: ['type', 'status'],
  DeploymentCondition: ['type', 'status'],
  StatefulSetCondition: ['type', 'status'],
  DaemonSetCondition: ['type', 'status'],
  ReplicaSetStatus: ['replicas'],
  DaemonSetStatus: ['currentNumberScheduled', 'numberMisscheduled', 'desiredNumberScheduled', 'numberReady'],
  StatefulSetStatus: ['replicas'],
  JobSpec: ['template'],
  JobCondition: ['type', 'status'],
  CronJobSpec: ['schedule', 'jobTemplate'],
  IngressServiceBackend: ['name'],
  HTTPIngressRuleValue: ['paths'],
  HTTPIngressPath: ['pathType', 'backend'],
  TypedLocalObjectReference: ['kind', 'name'],
  IngressClassParametersReference: ['kind', 'name'],
  ScaleStatus: ['replicas'],
};

/** A strategic-merge-patch struct tag: patchStrategy and, for lists of objects, patchMergeKey. */
export interface PatchMeta {
  strategy: string;
  mergeKey?: string;
}

/**
 * Kubernetes' patchStrategy/patchMergeKey struct tags by "<type>.<field>", read from the one
 * table the strategic merge patch engine uses (services/lib/strategicpatch.ts), so that what
 * `kubectl apply` learns from the OpenAPI extensions x-kubernetes-patch-strategy /
 * x-kubernetes-patch-merge-key and what the apiserver does are the same facts.
 */
export const PATCH_META: Record<string, PatchMeta> = patchMetaFromStrategicSchemas();

function patchMetaFromStrategicSchemas(): Record<string, PatchMeta> {
  const out: Record<string, PatchMeta> = {};
  const seen = new Set<PatchSchema>();
  const visit = (schema: PatchSchema | undefined): void => {
    if (!schema || seen.has(schema)) return;
    seen.add(schema);
    for (const [field, meta] of Object.entries(schema.fields)) {
      if (meta.strategy) out[`${schema.name}.${field}`] = { strategy: meta.strategy, ...(meta.mergeKey ? { mergeKey: meta.mergeKey } : {}) };
      visit(meta.type);
    }
  };
  Object.values(STRATEGIC_SCHEMAS).forEach(visit);
  return out;
}

/** Kubernetes' list-map keys (x-kubernetes-list-type: map) where they are more than the merge key. */
export const LIST_MAP_KEYS: Record<string, string[]> = {
  'ServiceSpec.ports': ['port', 'protocol'],
  'Container.ports': ['containerPort', 'protocol'],
  'PodSpec.topologySpreadConstraints': ['topologyKey', 'whenUnsatisfiable'],
};

const API_CONVENTIONS = 'https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md';

/**
 * Descriptions for fields whose proto declaration carries no comment: the ones every kind shares,
 * and the common Pod fields `kubectl explain` is most often asked about. Written for kubemu.
 */
export const FIELD_DESCRIPTIONS: Record<string, string> = {
  '*.apiVersion': `APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: ${API_CONVENTIONS}#resources`,
  '*.kind': `Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: ${API_CONVENTIONS}#types-kinds`,
  '*.metadata': `Standard object's metadata. More info: ${API_CONVENTIONS}#metadata`,
  '*.spec': `Specification of the desired behavior of the object. More info: ${API_CONVENTIONS}#spec-and-status`,
  '*.status': `Most recently observed status of the object. Populated by the system. Read-only. More info: ${API_CONVENTIONS}#spec-and-status`,
  'ObjectMeta.name': 'Name must be unique within a namespace. Required when creating resources, unless generateName is used. Cannot be updated.',
  'ObjectMeta.generateName': 'An optional prefix used by the server to generate a unique name, when name is not provided.',
  'ObjectMeta.namespace': 'The namespace the object belongs to; empty for cluster-scoped objects. Cannot be updated.',
  'ObjectMeta.uid': 'The unique identifier of the object in time and space, generated by the server on create. Read-only.',
  'ObjectMeta.labels': 'Map of string keys and values that can be used to organize and categorize (scope and select) objects.',
  'ObjectMeta.annotations': 'Unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata.',
  'ObjectMeta.creationTimestamp': 'The time this object was created, set by the server. Read-only.',
  'ObjectMeta.deletionTimestamp': 'The time after which this object will be deleted, set by the server when a graceful deletion is requested. Read-only.',
  'ObjectMeta.finalizers': 'Must be empty before the object is deleted from the registry. Each entry is an identifier for the responsible component that will remove the entry from the list.',
  'ObjectMeta.ownerReferences': 'List of objects depended by this object. If ALL objects in the list have been deleted, this object will be garbage collected.',
  'PodSpec.containers': 'List of containers belonging to the pod. Containers cannot currently be added or removed. There must be at least one container in a Pod. Cannot be updated.',
  'PodSpec.initContainers': 'List of initialization containers belonging to the pod, run in order before the app containers start.',
  'PodSpec.volumes': 'List of volumes that can be mounted by containers belonging to the pod.',
  'PodSpec.nodeName': 'The node this pod is bound to; set by the scheduler, or by the user to bypass scheduling.',
  'Container.name': 'Name of the container specified as a DNS_LABEL. Each container in a pod must have a unique name (DNS_LABEL). Cannot be updated.',
  'Container.image': 'Container image name. In kubemu, an image of the local catalog.',
  'Container.command': "Entrypoint array. Not executed within a shell. The image's ENTRYPOINT is used if this is not provided.",
  'Container.args': "Arguments to the entrypoint. The image's CMD is used if this is not provided.",
  'Container.ports': 'List of ports to expose from the container. Not specifying a port here DOES NOT prevent that port from being exposed.',
  'Container.env': 'List of environment variables to set in the container. Cannot be updated.',
  'Container.resources': 'Compute Resources required by this container.',
  'Container.volumeMounts': "Pod volumes to mount into the container's filesystem. Cannot be updated.",
  'Container.imagePullPolicy': 'Image pull policy. One of Always, Never, IfNotPresent.',
  'Container.livenessProbe': 'Periodic probe of container liveness. Container will be restarted if the probe fails.',
  'Container.readinessProbe': 'Periodic probe of container service readiness. Container will be removed from service endpoints if the probe fails.',
  'Container.startupProbe': 'StartupProbe indicates that the Pod has successfully initialized.',
};

/** Descriptions of messages whose proto declaration carries no comment. */
export const MESSAGE_DESCRIPTIONS: Record<string, string> = {
  Pod: 'Pod is a collection of containers that can run on a host. This resource is created by clients and scheduled onto hosts.',
  Container: 'A single application container that you want to run within a pod.',
  PodSpec: 'PodSpec is a description of a pod.',
  Deployment: 'Deployment enables declarative updates for Pods and ReplicaSets.',
  ReplicaSet: 'ReplicaSet ensures that a specified number of pod replicas are running at any given time.',
  StatefulSet: 'StatefulSet represents a set of pods with consistent identities.',
  DaemonSet: 'DaemonSet represents the configuration of a daemon set.',
  Service: 'Service is a named abstraction of software service (for example, mysql) consisting of local port (for example 3306) that the proxy listens on, and the selector that determines which pods will answer requests sent through the proxy.',
  Namespace: 'Namespace provides a scope for Names. Use of multiple namespaces is optional.',
  Node: 'Node is a worker node in Kubernetes. Each node will have a unique identifier in the cache (i.e. in etcd).',
  ConfigMap: 'ConfigMap holds configuration data for pods to consume.',
  Secret: 'Secret holds secret data of a certain type.',
  Job: 'Job represents the configuration of a single job.',
  CronJob: 'CronJob represents the configuration of a single cron job.',
  Event: 'Event is a report of an event somewhere in the cluster.',
  Endpoints: 'Endpoints is a collection of endpoints that implement the actual service.',
  Ingress: 'Ingress is a collection of rules that allow inbound connections to reach the endpoints defined by a backend.',
  IngressClass: 'IngressClass represents the class of the Ingress, referenced by the Ingress Spec.',
  PersistentVolume: 'PersistentVolume (PV) is a storage resource provisioned by an administrator.',
  PersistentVolumeClaim: "PersistentVolumeClaim is a user's request for and claim to a persistent volume.",
};
