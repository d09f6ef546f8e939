/**
 * networking.k8s.io/v1 (Ingress, IngressClass) and coordination.k8s.io/v1 (Lease)
 * validation, ports of Kubernetes' pkg/apis/networking/validation and
 * pkg/apis/coordination/validation.
 *
 * Pure functions returning field errors; they never throw.
 */
import { field, FieldError } from '../../lib/errors';
import { Lease } from '../../lib/generated/kubemu/coordination/v1/coordination';
import { HTTPIngressPath, Ingress, IngressBackend, IngressClass, TypedLocalObjectReference } from '../../lib/generated/kubemu/networking/v1/networking';
import { child, immutable, index, invalidEach, validateObjectMeta, validateObjectMetaUpdate } from './common';
import { validateLoadBalancerIngress } from './core';
import {
  isDNS1123Subdomain,
  isDomainPrefixedPath,
  isPathSegmentName,
  isQualifiedName,
  isValidPortName,
  isValidPortNum,
  isWildcardDNS1123Subdomain,
  nameIsDNS1035Label,
  nameIsDNSLabel,
  nameIsDNSSubdomain,
  parseIP,
} from './formats';

// ---------------------------------------------------------------- Ingress

const PATH_TYPES = ['Exact', 'ImplementationSpecific', 'Prefix'];
const INVALID_PATH_SEQUENCES = ['//', '/./', '/../', '%2f', '%2F'];
const INVALID_PATH_SUFFIXES = ['/..', '/.'];

function validateTypedLocalObjectReference(ref: TypedLocalObjectReference, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (ref.apiGroup !== undefined) errs.push(...invalidEach(child(path, 'apiGroup'), ref.apiGroup, isDNS1123Subdomain(ref.apiGroup)));
  if (!ref.kind) errs.push(field.required(child(path, 'kind'), 'kind is required'));
  else errs.push(...invalidEach(child(path, 'kind'), ref.kind, isPathSegmentName(ref.kind)));
  if (!ref.name) errs.push(field.required(child(path, 'name'), 'name is required'));
  else errs.push(...invalidEach(child(path, 'name'), ref.name, isPathSegmentName(ref.name)));
  return errs;
}

function validateIngressBackend(backend: IngressBackend, path: string): FieldError[] {
  const { service, resource } = backend;
  if (service && resource) return [field.invalid(path, '', 'cannot set both resource and service backends')];
  if (resource) return validateTypedLocalObjectReference(resource, child(path, 'resource'));
  if (!service) return [field.invalid(path, '', 'resource or service backend is required')];
  const errs: FieldError[] = [];
  const namePath = child(child(path, 'service'), 'name');
  if (!service.name) errs.push(field.required(namePath, ''));
  else errs.push(...invalidEach(namePath, service.name, nameIsDNS1035Label(service.name, false)));
  const portName = service.port?.name ?? '';
  const portNumber = service.port?.number ?? 0;
  const portPath = child(child(path, 'service'), 'port');
  if (portName && portNumber) errs.push(field.invalid(path, '', 'cannot set both port name & port number'));
  else if (portName) errs.push(...invalidEach(child(portPath, 'name'), portName, isValidPortName(portName)));
  else if (portNumber) errs.push(...invalidEach(child(portPath, 'number'), portNumber, isValidPortNum(portNumber)));
  else errs.push(field.required(path, 'port name or number is required'));
  return errs;
}

function validateIngressPath(p: HTTPIngressPath, path: string): FieldError[] {
  if (!p.pathType) return [field.required(child(path, 'pathType'), 'pathType must be specified')];
  const errs: FieldError[] = [];
  const value = p.path ?? '';
  switch (p.pathType) {
    case 'Exact':
    case 'Prefix':
      if (!value.startsWith('/')) errs.push(field.invalid(child(path, 'path'), value, 'must be an absolute path'));
      if (value) {
        for (const seq of INVALID_PATH_SEQUENCES) if (value.includes(seq)) errs.push(field.invalid(child(path, 'path'), value, `must not contain '${seq}'`));
        for (const suffix of INVALID_PATH_SUFFIXES) if (value.endsWith(suffix)) errs.push(field.invalid(child(path, 'path'), value, `cannot end with '${suffix}'`));
      }
      break;
    case 'ImplementationSpecific':
      if (value && !value.startsWith('/')) errs.push(field.invalid(child(path, 'path'), value, 'must be an absolute path'));
      break;
    default:
      errs.push(field.notSupported(child(path, 'pathType'), p.pathType, PATH_TYPES));
  }
  errs.push(...validateIngressBackend(p.backend ?? {}, child(path, 'backend')));
  return errs;
}

function validateHost(host: string, path: string): FieldError[] {
  if (host.includes('*')) return invalidEach(path, host, isWildcardDNS1123Subdomain(host));
  return invalidEach(path, host, isDNS1123Subdomain(host));
}

/** ValidateIngressCreate / ValidateIngressUpdate's spec part. */
function validateIngressSpec(ing: Ingress): FieldError[] {
  const spec = ing.spec ?? {};
  const rules = spec.rules ?? [];
  const errs: FieldError[] = [];
  if (rules.length === 0 && !spec.defaultBackend) errs.push(field.invalid('spec', rules, 'either `defaultBackend` or `rules` must be specified'));
  if (spec.defaultBackend) errs.push(...validateIngressBackend(spec.defaultBackend, 'spec.defaultBackend'));
  rules.forEach((rule, i) => {
    const p = index('spec.rules', i);
    if (rule.host) {
      if (parseIP(rule.host)) errs.push(field.invalid(child(p, 'host'), rule.host, 'must be a DNS name, not an IP address'));
      errs.push(...validateHost(rule.host, child(p, 'host')));
    }
    if (rule.http) {
      const paths = rule.http.paths ?? [];
      if (paths.length === 0) errs.push(field.required(child(child(p, 'http'), 'paths'), ''));
      paths.forEach((hp, j) => errs.push(...validateIngressPath(hp, index(child(child(p, 'http'), 'paths'), j))));
    }
  });
  (spec.tls ?? []).forEach((tls, i) => {
    const p = index('spec.tls', i);
    (tls.hosts ?? []).forEach((h, j) => errs.push(...validateHost(h, index(child(p, 'hosts'), j))));
    if (tls.secretName) errs.push(...invalidEach(child(p, 'secretName'), tls.secretName, nameIsDNSSubdomain(tls.secretName, false)));
  });
  if (spec.ingressClassName !== undefined) errs.push(...invalidEach('spec.ingressClassName', spec.ingressClassName, nameIsDNSSubdomain(spec.ingressClassName, false)));
  return errs;
}

/** ValidateIngressCreate: also, the legacy class annotation must agree with ingressClassName. */
export function validateIngress(ing: Ingress): FieldError[] {
  const errs = [...validateObjectMeta(ing.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain }), ...validateIngressSpec(ing)];
  const annotation = ing.metadata?.annotations?.['kubernetes.io/ingress.class'];
  if (annotation !== undefined && ing.spec?.ingressClassName !== undefined && annotation !== ing.spec.ingressClassName) {
    // Kubernetes' path for this one has no metadata. prefix.
    errs.push(field.invalid('annotations.kubernetes.io/ingress.class', annotation, 'must match `ingressClassName` when both are specified'));
  }
  return errs;
}

/** ValidateIngressUpdate. */
export function validateIngressUpdate(ing: Ingress, old: Ingress): FieldError[] {
  return [...validateObjectMetaUpdate(ing.metadata, old.metadata), ...validateObjectMeta(ing.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain }), ...validateIngressSpec(ing)];
}

/** ValidateIngressStatusUpdate: load-balancer ingress points. */
export function validateIngressStatusUpdate(ing: Ingress, old: Ingress): FieldError[] {
  const errs = validateObjectMetaUpdate(ing.metadata, old.metadata);
  (ing.status?.loadBalancer?.ingress ?? []).forEach((lb, i) => errs.push(...validateLoadBalancerIngress(lb, index('status.loadBalancer.ingress', i))));
  return errs;
}

// ---------------------------------------------------------------- IngressClass

const MAX_CONTROLLER_LENGTH = 250;

/** ValidateIngressClass: controller is a domain-prefixed path; parameters reference something. */
export function validateIngressClass(ic: IngressClass): FieldError[] {
  const errs = validateObjectMeta(ic.metadata, { namespaced: false, nameFn: nameIsDNSSubdomain });
  const controller = ic.spec?.controller ?? '';
  if (controller.length > MAX_CONTROLLER_LENGTH) errs.push(field.tooLong('spec.controller', '', MAX_CONTROLLER_LENGTH));
  if (!controller) errs.push(field.required('spec.controller', ''));
  else for (const { value, msg } of isDomainPrefixedPath(controller)) errs.push(field.invalid('spec.controller', value, msg));
  const params = ic.spec?.parameters;
  if (params) {
    errs.push(...validateTypedLocalObjectReference({ apiGroup: params.apiGroup, kind: params.kind, name: params.name }, 'spec.parameters'));
    if (params.scope === undefined) errs.push(field.required('spec.parameters.scope', ''));
    else if (params.scope !== 'Cluster' && params.scope !== 'Namespace') errs.push(field.notSupported('spec.parameters.scope', params.scope, ['Cluster', 'Namespace']));
    else if (params.scope === 'Namespace') {
      if (params.namespace === undefined) errs.push(field.required('spec.parameters.namespace', "`parameters.scope` is set to 'Namespace'"));
      else errs.push(...invalidEach('spec.parameters.namespace', params.namespace, nameIsDNSLabel(params.namespace, false)));
    } else if (params.namespace !== undefined) {
      errs.push(field.forbidden('spec.parameters.namespace', "`parameters.scope` is set to 'Cluster'"));
    }
  }
  return errs;
}

/** ValidateIngressClassUpdate: the controller never changes. */
export function validateIngressClassUpdate(ic: IngressClass, old: IngressClass): FieldError[] {
  return [
    ...validateObjectMetaUpdate(ic.metadata, old.metadata),
    ...immutable(ic.spec?.controller ?? '', old.spec?.controller ?? '', 'spec.controller'),
    ...validateIngressClass(ic),
  ];
}

// ---------------------------------------------------------------- Lease

/** ValidateLease (create and update): a positive duration, non-negative transitions, a known strategy. */
export function validateLease(lease: Lease): FieldError[] {
  const errs = validateObjectMeta(lease.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
  errs.push(...validateLeaseSpec(lease));
  return errs;
}

function validateLeaseSpec(lease: Lease): FieldError[] {
  const spec = lease.spec ?? {};
  const errs: FieldError[] = [];
  if (spec.leaseDurationSeconds !== undefined && spec.leaseDurationSeconds <= 0) {
    errs.push(field.invalid('spec.leaseDurationSeconds', spec.leaseDurationSeconds, 'must be greater than 0'));
  }
  if (spec.leaseTransitions !== undefined && spec.leaseTransitions < 0) {
    errs.push(field.invalid('spec.leaseTransitions', spec.leaseTransitions, 'must be greater than or equal to 0'));
  }
  if (spec.strategy !== undefined) {
    // Kubernetes nests the path one level too deep here.
    const p = 'spec.strategy.strategy';
    if (!spec.strategy.includes('/')) {
      if (spec.strategy !== 'OldestEmulationVersion') errs.push(field.notSupported(p, spec.strategy, ['OldestEmulationVersion']));
    } else {
      errs.push(...invalidEach(p, spec.strategy, isQualifiedName(spec.strategy)));
    }
  }
  if (spec.preferredHolder && !spec.strategy) errs.push(field.forbidden('spec.preferredHolder', 'may only be specified if `strategy` is defined'));
  return errs;
}

/** ValidateLeaseUpdate. */
export function validateLeaseUpdate(lease: Lease, old: Lease): FieldError[] {
  return [...validateObjectMetaUpdate(lease.metadata, old.metadata), ...validateLeaseSpec(lease)];
}
