/**
 * The apiserver's validation entry points: one function per operation, dispatching on the
 * resource table's object case to the kind's rules (ports of Kubernetes' validation, see the
 * files beside this one).
 *
 * Contract, shared by all three:
 * - `obj` (and `old`) are defaulted objects of `info`'s kind, as the registry holds them:
 *   defaulting has run, generateName has been turned into a name, and for updates the
 *   registry has copied the system fields (uid, creationTimestamp, resourceVersion...) from
 *   the stored object, as Kubernetes' BeforeUpdate does.
 * - The result lists every field error found, de-duplicated, in a stable order; empty means
 *   valid. Nothing is thrown for bad input, and nothing is mutated.
 * - Pure and synchronous: safe to call concurrently.
 */
import { FieldError } from '../../lib/errors';
import { DaemonSet, Deployment, ReplicaSet, StatefulSet } from '../../lib/generated/kubemu/apps/v1/apps';
import { CronJob, Job } from '../../lib/generated/kubemu/batch/v1/batch';
import { Lease } from '../../lib/generated/kubemu/coordination/v1/coordination';
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
} from '../../lib/generated/kubemu/core/v1/core';
import { Ingress, IngressClass } from '../../lib/generated/kubemu/networking/v1/networking';
import { KubeObject, ResourceInfo } from '../../lib/resources';
import * as apps from './apps';
import * as batch from './batch';
import { validateObjectMeta, validateObjectMetaUpdate } from './common';
import * as core from './core';
import { nameIsPathSegment } from './formats';
import * as net from './networking';
import { validatePod, validatePodStatusUpdate, validatePodUpdate } from './pod';

/** Validates an object about to be created. */
export function validateCreate(info: ResourceInfo, obj: KubeObject): FieldError[] {
  return dedupe(createErrors(info, obj));
}

function createErrors(info: ResourceInfo, obj: KubeObject): FieldError[] {
  switch (info.objectCase) {
    case 'namespace':
      return core.validateNamespace(obj as Namespace);
    case 'pod':
      return validatePod(obj as Pod);
    case 'node':
      return core.validateNode(obj as Node);
    case 'service':
      return core.validateService(obj as Service);
    case 'endpoints':
      return core.validateEndpoints(obj as Endpoints);
    case 'event':
      return core.validateEvent(obj as Event);
    case 'configMap':
      return core.validateConfigMap(obj as ConfigMap);
    case 'secret':
      return core.validateSecret(obj as Secret);
    case 'persistentVolume':
      return core.validatePersistentVolume(obj as PersistentVolume);
    case 'persistentVolumeClaim':
      return core.validatePersistentVolumeClaim(obj as PersistentVolumeClaim);
    case 'replicaSet':
      return apps.validateReplicaSet(obj as ReplicaSet);
    case 'deployment':
      return apps.validateDeployment(obj as Deployment);
    case 'statefulSet':
      return apps.validateStatefulSet(obj as StatefulSet);
    case 'daemonSet':
      return apps.validateDaemonSet(obj as DaemonSet);
    case 'job':
      return batch.validateJob(obj as Job);
    case 'cronJob':
      return batch.validateCronJob(obj as CronJob);
    case 'lease':
      return net.validateLease(obj as Lease);
    case 'ingress':
      return net.validateIngress(obj as Ingress);
    case 'ingressClass':
      return net.validateIngressClass(obj as IngressClass);
  }
}

/**
 * Validates a spec update of `old` into `obj`: the create rules, the immutable fields, and
 * the generic ObjectMeta checks Kubernetes runs on every update.
 */
export function validateUpdate(info: ResourceInfo, obj: KubeObject, old: KubeObject): FieldError[] {
  const generic = [
    ...validateObjectMeta(obj.metadata, { namespaced: info.namespaced, nameFn: nameIsPathSegment }),
    ...validateObjectMetaUpdate(obj.metadata, old.metadata),
  ];
  return dedupe([...updateErrors(info, obj, old), ...generic]);
}

function updateErrors(info: ResourceInfo, obj: KubeObject, old: KubeObject): FieldError[] {
  switch (info.objectCase) {
    case 'namespace':
      return core.validateNamespaceUpdate(obj as Namespace, old as Namespace);
    case 'pod':
      return validatePodUpdate(obj as Pod, old as Pod);
    case 'node':
      return [...core.validateNode(obj as Node), ...core.validateNodeUpdate(obj as Node, old as Node)];
    case 'service':
      return core.validateServiceUpdate(obj as Service, old as Service);
    case 'endpoints':
      return [...validateObjectMetaUpdate(obj.metadata, old.metadata), ...core.validateEndpoints(obj as Endpoints)];
    case 'event':
      return core.validateEvent(obj as Event);
    case 'configMap':
      return core.validateConfigMapUpdate(obj as ConfigMap, old as ConfigMap);
    case 'secret':
      return core.validateSecretUpdate(obj as Secret, old as Secret);
    case 'persistentVolume':
      return core.validatePersistentVolumeUpdate(obj as PersistentVolume, old as PersistentVolume);
    case 'persistentVolumeClaim':
      return core.validatePersistentVolumeClaimUpdate(obj as PersistentVolumeClaim, old as PersistentVolumeClaim);
    case 'replicaSet':
      return apps.validateReplicaSetUpdate(obj as ReplicaSet, old as ReplicaSet);
    case 'deployment':
      return apps.validateDeploymentUpdate(obj as Deployment, old as Deployment);
    case 'statefulSet':
      return apps.validateStatefulSetUpdate(obj as StatefulSet, old as StatefulSet);
    case 'daemonSet':
      return apps.validateDaemonSetUpdate(obj as DaemonSet, old as DaemonSet);
    case 'job':
      return batch.validateJobUpdate(obj as Job, old as Job);
    case 'cronJob':
      return batch.validateCronJobUpdate(obj as CronJob, old as CronJob);
    case 'lease':
      return net.validateLeaseUpdate(obj as Lease, old as Lease);
    case 'ingress':
      return net.validateIngressUpdate(obj as Ingress, old as Ingress);
    case 'ingressClass':
      return net.validateIngressClassUpdate(obj as IngressClass, old as IngressClass);
  }
}

/** Validates a status-subresource update of `old` into `obj` (kinds without status: metadata rules). */
export function validateStatusUpdate(info: ResourceInfo, obj: KubeObject, old: KubeObject): FieldError[] {
  return dedupe(statusErrors(info, obj, old));
}

function statusErrors(info: ResourceInfo, obj: KubeObject, old: KubeObject): FieldError[] {
  switch (info.objectCase) {
    case 'namespace':
      return core.validateNamespaceStatusUpdate(obj as Namespace, old as Namespace);
    case 'pod':
      return validatePodStatusUpdate(obj as Pod, old as Pod);
    case 'node':
      return core.validateNodeUpdate(obj as Node, old as Node);
    case 'service':
      return core.validateServiceStatusUpdate(obj as Service, old as Service);
    case 'persistentVolume':
      return core.validatePersistentVolumeStatusUpdate(obj as PersistentVolume, old as PersistentVolume);
    case 'persistentVolumeClaim':
      return core.validatePersistentVolumeClaimStatusUpdate(obj as PersistentVolumeClaim, old as PersistentVolumeClaim);
    case 'replicaSet':
      return apps.validateReplicaSetStatusUpdate(obj as ReplicaSet, old as ReplicaSet);
    case 'deployment':
      return apps.validateDeploymentStatusUpdate(obj as Deployment, old as Deployment);
    case 'statefulSet':
      return apps.validateStatefulSetStatusUpdate(obj as StatefulSet, old as StatefulSet);
    case 'daemonSet':
      return apps.validateDaemonSetStatusUpdate(obj as DaemonSet, old as DaemonSet);
    case 'job':
      return batch.validateJobStatusUpdate(obj as Job, old as Job);
    case 'cronJob':
      return batch.validateCronJobStatusUpdate(obj as CronJob, old as CronJob);
    case 'ingress':
      return net.validateIngressStatusUpdate(obj as Ingress, old as Ingress);
    default:
      return validateObjectMetaUpdate(obj.metadata, old.metadata);
  }
}

// Kubernetes de-duplicates identical errors when it aggregates them.
function dedupe(errs: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errs.filter((e) => {
    const k = `${e.type}\u0000${e.field}\u0000${JSON.stringify(e.badValue) ?? ''}\u0000${e.detail ?? ''}\u0000${(e.supported ?? []).join(',')}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
