/**
 * Validation of the core/v1 kinds other than Pod: Namespace, Node, Service, Endpoints, Event,
 * ConfigMap, Secret, PersistentVolume(Claim). Ports of the matching functions in Kubernetes'
 * pkg/apis/core/validation, including their quirks of field paths (noted where they occur),
 * so that kubectl shows the message a real apiserver would.
 *
 * Deliberate difference: Endpoints addresses may be loopback IPs, because kubemu's pod
 * network lives in 127.0.0.0/8 (see DESIGN.md).
 *
 * Pure functions returning field errors; they never throw.
 */
import { field, FieldError } from '../../lib/errors';
import {
  ConfigMap,
  Endpoints,
  Event,
  Namespace,
  Node,
  PersistentVolume,
  PersistentVolumeClaim,
  Secret,
  Service,
  ServicePort,
  Taint,
} from '../../lib/generated/kubemu/core/v1/core';
import { goQuote } from '../../lib/labels';
import {
  canonical,
  child,
  FIELD_IMMUTABLE,
  goStringSlice,
  GoValue,
  immutable,
  immutablePointer,
  index,
  intOrString,
  invalidEach,
  IS_NOT_POSITIVE,
  key,
  semanticEqual,
  validateDNS1123Label,
  validateKubeFinalizerName,
  validateLabelName,
  validateLabels,
  validateLabelSelector,
  validateObjectMeta,
  validateObjectMetaUpdate,
} from './common';
import {
  ipFamily,
  isConfigMapKey,
  isDNS1123Subdomain,
  isLabelValue,
  isQualifiedName,
  isValidCIDR,
  isValidIP,
  isValidPortName,
  isValidPortNum,
  nameIsDNS1035Label,
  nameIsDNSLabel,
  nameIsDNSSubdomain,
  nameIsPathSegment,
  parseIP,
} from './formats';
import { validateHostPath, validateNodeSelector, validateTaintEffect } from './pod';
import { isQuantityError, parseQuantity } from './quantities';
import { validateQuantity } from './resources';

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];

// ---------------------------------------------------------------- Namespace

/** ValidateNamespace: a DNS-1123 label name, finalizer names in spec.finalizers. */
export function validateNamespace(ns: Namespace): FieldError[] {
  const errs = validateObjectMeta(ns.metadata, { namespaced: false, nameFn: nameIsDNSLabel });
  for (const f of ns.spec?.finalizers ?? []) {
    errs.push(...invalidEach('spec.finalizers', f, isQualifiedName(f)));
    errs.push(...validateKubeFinalizerName(f, 'spec.finalizers'));
  }
  return errs;
}

/** ValidateNamespaceUpdate: metadata rules (spec.finalizers are changed through finalize). */
export function validateNamespaceUpdate(ns: Namespace, old: Namespace): FieldError[] {
  return [...validateObjectMetaUpdate(ns.metadata, old.metadata), ...validateNamespace(ns)];
}

/** ValidateNamespaceStatusUpdate: Active unless being deleted, then Terminating (path `status.Phase`, as Kubernetes prints it). */
export function validateNamespaceStatusUpdate(ns: Namespace, old: Namespace): FieldError[] {
  const errs = validateObjectMetaUpdate(ns.metadata, old.metadata);
  const phase = ns.status?.phase ?? '';
  if (!ns.metadata?.deletionTimestamp) {
    if (phase !== 'Active') errs.push(field.invalid('status.Phase', phase, "may only be 'Active' if `deletionTimestamp` is empty"));
  } else if (phase !== 'Terminating') {
    errs.push(field.invalid('status.Phase', phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"));
  }
  return errs;
}

// ---------------------------------------------------------------- Node

function goTaint(t: Taint): GoValue {
  const added = t.timeAdded ? `&v1.Time{${goQuote(t.timeAdded)}}` : '(*v1.Time)(nil)';
  return new GoValue(`core.Taint{Key:${goQuote(t.key ?? '')}, Value:${goQuote(t.value ?? '')}, Effect:${goQuote(t.effect ?? '')}, TimeAdded:${added}}`, t);
}

function validateNodeTaints(taints: Taint[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  taints.forEach((t, i) => {
    const p = index(path, i);
    errs.push(...validateLabelName(t.key ?? '', child(p, 'key')));
    const msgs = isLabelValue(t.value ?? '');
    if (msgs.length) errs.push(field.invalid(child(p, 'value'), t.value ?? '', msgs.join(';')));
    errs.push(...validateTaintEffect(t.effect ?? '', false, child(p, 'effect')));
    const k = `${t.effect ?? ''}\u0000${t.key ?? ''}`;
    if (seen.has(k)) {
      errs.push({ type: 'FieldValueDuplicate', field: p, badValue: goTaint(t), detail: 'taints must be unique by key and effect pair' });
      return;
    }
    seen.add(k);
  });
  return errs;
}

function validateNodeResources(node: Node): FieldError[] {
  const errs: FieldError[] = [];
  for (const list of ['capacity', 'allocatable'] as const) {
    const m = node.status?.[list] ?? {};
    // field.NewPath("status", list, name): a child, not a map key.
    for (const name of Object.keys(m).sort()) validateQuantity(name, m[name], `status.${list}.${name}`, errs);
  }
  return errs;
}

function validatePodCIDRs(node: Node): FieldError[] {
  const cidrs = node.spec?.podCIDRs ?? [];
  const errs: FieldError[] = [];
  cidrs.forEach((c, i) => errs.push(...invalidEach(index('spec.podCIDRs', i), c, isValidCIDR(c))));
  if (cidrs.length > 1 && errs.length === 0) {
    const families = cidrs.map((c) => ipFamily(c.split('/')[0]));
    if (cidrs.length > 2 || families[0] === families[1]) errs.push(field.invalid('spec.podCIDRs', goStringSlice(cidrs), 'may specify no more than one CIDR for each IP family'));
    const seen = new Set<string>();
    cidrs.forEach((c, i) => {
      if (seen.has(c)) errs.push(field.duplicate(index('spec.podCIDRs', i), c));
      seen.add(c);
    });
  }
  if (node.spec?.podCIDR && cidrs.length === 0) errs.push(...invalidEach('spec.podCIDR', node.spec.podCIDR, isValidCIDR(node.spec.podCIDR)));
  return errs;
}

/**
 * ValidateNode: a DNS-1123 subdomain name, valid taints (reported at `metadata.taints[i]`,
 * Kubernetes' own path for them), valid pod CIDRs, non-negative capacity.
 */
export function validateNode(node: Node): FieldError[] {
  const errs = validateObjectMeta(node.metadata, { namespaced: false, nameFn: nameIsDNSSubdomain });
  errs.push(...validateNodeTaints(node.spec?.taints ?? [], 'metadata.taints'));
  errs.push(...validateNodeResources(node));
  errs.push(...validatePodCIDRs(node));
  return errs;
}

/** ValidateNodeUpdate (also used for the status subresource, as in Kubernetes). */
export function validateNodeUpdate(node: Node, old: Node): FieldError[] {
  const errs = validateObjectMetaUpdate(node.metadata, old.metadata);
  errs.push(...validateNodeResources(node));
  const seen = new Set<string>();
  (node.status?.addresses ?? []).forEach((a, i) => {
    const k = canonical(a);
    if (seen.has(k)) errs.push(field.duplicate(index('status.addresses', i), a));
    seen.add(k);
  });
  const oldCIDRs = old.spec?.podCIDRs ?? [];
  const newCIDRs = node.spec?.podCIDRs ?? [];
  const msg = 'node updates may not change podCIDR except from "" to valid';
  if (oldCIDRs.length > 0) {
    if (oldCIDRs.length !== newCIDRs.length) errs.push(field.forbidden('spec.podCIDRs', msg));
    else oldCIDRs.forEach((c, i) => c !== newCIDRs[i] && errs.push(field.forbidden('spec.podCIDRs', msg)));
  } else if (old.spec?.podCIDR && old.spec.podCIDR !== (node.spec?.podCIDR ?? '')) {
    errs.push(field.forbidden('spec.podCIDRs', msg));
  }
  if (old.spec?.providerID && old.spec.providerID !== (node.spec?.providerID ?? '')) {
    errs.push(field.forbidden('spec.providerID', 'node updates may not change providerID except from "" to valid'));
  }
  errs.push(...validateNodeTaints(node.spec?.taints ?? [], 'metadata.taints'));
  errs.push(...validatePodCIDRs(node));
  return errs;
}

// ---------------------------------------------------------------- Service

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const SESSION_AFFINITIES = ['ClientIP', 'None'];
const TRAFFIC_POLICIES = ['Cluster', 'Local'];
const IP_FAMILIES = ['IPv4', 'IPv6'];
const IP_FAMILY_POLICIES = ['PreferDualStack', 'RequireDualStack', 'SingleStack'];
const MAX_CLIENT_IP_AFFINITY_SECONDS = 86400;

function isHeadless(svc: Service): boolean {
  const ips = svc.spec?.clusterIPs ?? [];
  return ips.length === 1 && ips[0] === 'None';
}

function externallyAccessible(svc: Service): boolean {
  const t = svc.spec?.type;
  return t === 'LoadBalancer' || t === 'NodePort' || (t === 'ClusterIP' && (svc.spec?.externalIPs ?? []).length > 0);
}

function validateServicePort(sp: ServicePort, requireName: boolean, names: Set<string>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (requireName && !sp.name) errs.push(field.required(child(path, 'name'), ''));
  else if (sp.name) {
    errs.push(...validateDNS1123Label(sp.name, child(path, 'name')));
    if (names.has(sp.name)) errs.push(field.duplicate(child(path, 'name'), sp.name));
    else names.add(sp.name);
  }
  errs.push(...invalidEach(child(path, 'port'), sp.port ?? 0, isValidPortNum(sp.port ?? 0)));
  if (!sp.protocol) errs.push(field.required(child(path, 'protocol'), ''));
  else if (!PROTOCOLS.includes(sp.protocol)) errs.push(field.notSupported(child(path, 'protocol'), sp.protocol, PROTOCOLS));
  const tp = intOrString(sp.targetPort, child(path, 'targetPort'), errs);
  if (tp.kind === 'string') errs.push(...invalidEach(child(path, 'targetPort'), tp.value, isValidPortName(tp.value)));
  else if (tp.kind !== 'invalid') {
    const n = tp.kind === 'int' ? tp.value : 0;
    errs.push(...invalidEach(child(path, 'targetPort'), n, isValidPortNum(n)));
  }
  if (sp.appProtocol !== undefined) errs.push(...invalidEach(child(path, 'appProtocol'), sp.appProtocol, isQualifiedName(sp.appProtocol)));
  return errs;
}

// ValidateServiceClusterIPsRelatedFields.
function validateClusterIPs(svc: Service): FieldError[] {
  const spec = svc.spec ?? {};
  if (spec.type === 'ExternalName') return [];
  const errs: FieldError[] = [];
  const ips = spec.clusterIPs ?? [];
  if (spec.clusterIP) {
    if (ips.length === 0) errs.push(field.required('spec.clusterIPs', ''));
    else if (ips[0] !== spec.clusterIP) errs.push(field.invalid('spec.clusterIPs', goStringSlice(ips), 'first value must match `clusterIP`'));
  } else if (ips.length) {
    errs.push(field.invalid('spec.clusterIPs', goStringSlice(ips), 'must be empty when `clusterIP` is not specified'));
  }
  const seen = new Set<string>();
  (spec.ipFamilies ?? []).forEach((f, i) => {
    if (!IP_FAMILIES.includes(f)) errs.push(field.notSupported(index('spec.ipFamilies', i), f, IP_FAMILIES));
    if (seen.has(f)) errs.push(field.duplicate(index('spec.ipFamilies', i), f));
    seen.add(f);
  });
  if (spec.ipFamilyPolicy !== undefined && !IP_FAMILY_POLICIES.includes(spec.ipFamilyPolicy)) {
    errs.push(field.notSupported('spec.ipFamilyPolicy', spec.ipFamilyPolicy, IP_FAMILY_POLICIES));
  }
  let invalidIPs = false;
  ips.forEach((ip, i) => {
    if (i === 0 && ip === 'None') {
      if (ips.length > 1) {
        invalidIPs = true;
        errs.push(field.invalid('spec.clusterIPs', goStringSlice(ips), "'None' must be the first and only value"));
      }
      return;
    }
    const msgs = isValidIP(ip);
    if (msgs.length) invalidIPs = true;
    errs.push(...invalidEach(index('spec.clusterIPs', i), ip, msgs));
  });
  if (ips.length > 2) errs.push(field.invalid('spec.clusterIPs', goStringSlice(ips), 'may only hold up to 2 values'));
  if (invalidIPs) return errs;
  if (ips.length > 1 && ipFamily(ips[0]) === ipFamily(ips[1])) {
    errs.push(field.invalid('spec.clusterIPs', goStringSlice(ips), 'may specify no more than one IP for each IP family'));
  }
  if (!isHeadless(svc)) {
    const families = spec.ipFamilies ?? [];
    ips.forEach((ip, i) => {
      if (i >= families.length) return;
      const fam = ipFamily(ip);
      if (families[i] === 'IPv4' && fam === 6) errs.push(field.invalid(index('spec.clusterIPs', i), ip, `expected an IPv4 value as indicated by \`ipFamilies[${i}]\``));
      if (families[i] === 'IPv6' && fam !== 6) errs.push(field.invalid(index('spec.clusterIPs', i), ip, `expected an IPv6 value as indicated by \`ipFamilies[${i}]\``));
    });
  }
  return errs;
}

/**
 * ValidateService (create and update share it): a DNS-1035 label name; ports required except
 * for headless and ExternalName services, each valid and unique; type, session affinity,
 * traffic policies and cluster IPs consistent.
 */
export function validateService(svc: Service): FieldError[] {
  const errs = validateObjectMeta(svc.metadata, { namespaced: true, nameFn: nameIsDNS1035Label });
  const spec = svc.spec ?? {};
  const ports = spec.ports ?? [];
  if (ports.length === 0 && !isHeadless(svc) && spec.type !== 'ExternalName') errs.push(field.required('spec.ports', ''));
  const ips = spec.clusterIPs ?? [];
  if (spec.type === 'LoadBalancer' && isHeadless(svc)) errs.push(field.invalid('spec.clusterIPs[0]', ips[0], "may not be set to 'None' for LoadBalancer services"));
  if (spec.type === 'NodePort' && isHeadless(svc)) errs.push(field.invalid('spec.clusterIPs[0]', ips[0], "may not be set to 'None' for NodePort services"));
  if (spec.type === 'ExternalName') {
    if (ips.length) errs.push(field.forbidden('spec.clusterIPs', 'may not be set for ExternalName services'));
    if ((spec.ipFamilies ?? []).length) errs.push(field.forbidden('spec.ipFamilies', 'may not be set for ExternalName services'));
    if (spec.ipFamilyPolicy !== undefined) errs.push(field.forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services'));
    const cname = (spec.externalName ?? '').replace(/\.$/, '');
    if (cname) errs.push(...invalidEach('spec.externalName', cname, isDNS1123Subdomain(cname)));
    else errs.push(field.required('spec.externalName', ''));
  }
  const names = new Set<string>();
  ports.forEach((p, i) => errs.push(...validateServicePort(p, ports.length > 1, names, index('spec.ports', i))));
  errs.push(...validateLabels(spec.selector, 'spec.selector'));
  const affinity = spec.sessionAffinity ?? '';
  if (!affinity) errs.push(field.required('spec.sessionAffinity', ''));
  else if (!SESSION_AFFINITIES.includes(affinity)) errs.push(field.notSupported('spec.sessionAffinity', affinity, SESSION_AFFINITIES));
  if (affinity === 'ClientIP') {
    const cfg = spec.sessionAffinityConfig;
    const when = 'when session affinity type is ClientIP';
    if (!cfg) errs.push(field.required('spec.sessionAffinityConfig', when));
    else if (!cfg.clientIP) errs.push(field.required('spec.sessionAffinityConfig.clientIP', when));
    else if (cfg.clientIP.timeoutSeconds === undefined) errs.push(field.required('spec.sessionAffinityConfig.clientIP.timeoutSeconds', when));
    else if (cfg.clientIP.timeoutSeconds <= 0 || cfg.clientIP.timeoutSeconds > MAX_CLIENT_IP_AFFINITY_SECONDS) {
      errs.push(field.invalid('spec.sessionAffinityConfig.clientIP.timeoutSeconds', cfg.clientIP.timeoutSeconds, `must be greater than 0 and less than ${MAX_CLIENT_IP_AFFINITY_SECONDS}`));
    }
  } else if (affinity === 'None' && spec.sessionAffinityConfig) {
    errs.push(field.forbidden('spec.sessionAffinityConfig', 'must not be set when session affinity is None'));
  }
  errs.push(...validateClusterIPs(svc));
  (spec.externalIPs ?? []).forEach((ip, i) => {
    const msgs = isValidIP(ip);
    errs.push(...(msgs.length ? invalidEach(index('spec.externalIPs', i), ip, msgs) : validateNonSpecialIP(ip, index('spec.externalIPs', i), false)));
  });
  const type = spec.type ?? '';
  if (!type) errs.push(field.required('spec.type', ''));
  else if (!SERVICE_TYPES.includes(type)) errs.push(field.notSupported('spec.type', type, SERVICE_TYPES));
  if (type === 'ClusterIP') {
    ports.forEach((p, i) => p.nodePort && errs.push(field.forbidden(child(index('spec.ports', i), 'nodePort'), "may not be used when `type` is 'ClusterIP'")));
  }
  const nodePorts = new Set<string>();
  const servicePorts = new Set<string>();
  ports.forEach((p, i) => {
    if (p.nodePort) {
      const k = `${p.protocol ?? ''}/${p.nodePort}`;
      if (nodePorts.has(k)) errs.push(field.duplicate(child(index('spec.ports', i), 'nodePort'), p.nodePort));
      nodePorts.add(k);
    }
    const k = `${p.protocol ?? ''}/${p.port ?? 0}`;
    if (servicePorts.has(k)) errs.push(field.duplicate(index('spec.ports', i), new GoValue(`core.ServicePort{Name:"", Protocol:${goQuote(p.protocol ?? '')}, AppProtocol:(*string)(nil), Port:${p.port ?? 0}, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}`, { protocol: p.protocol, port: p.port })));
    servicePorts.add(k);
  });
  if ((spec.loadBalancerSourceRanges ?? []).length) {
    // Kubernetes' path really is capitalized here.
    if (type !== 'LoadBalancer') errs.push(field.forbidden('spec.LoadBalancerSourceRanges', "may only be used when `type` is 'LoadBalancer'"));
    spec.loadBalancerSourceRanges!.forEach((r, i) => errs.push(...invalidEach(index('spec.LoadBalancerSourceRanges', i), r.trim(), isValidCIDR(r.trim()))));
  }
  if (spec.allocateLoadBalancerNodePorts !== undefined && type !== 'LoadBalancer') {
    errs.push(field.forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'"));
  }
  if (type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts === undefined) errs.push(field.required('allocateLoadBalancerNodePorts', ''));
  if (spec.loadBalancerClass !== undefined) {
    if (type === 'LoadBalancer') errs.push(...invalidEach('spec.loadBalancerClass', spec.loadBalancerClass, isQualifiedName(spec.loadBalancerClass)));
    else errs.push(field.forbidden('spec.loadBalancerClass', "may only be used when `type` is 'LoadBalancer'"));
  }
  if (!externallyAccessible(svc)) {
    if (spec.externalTrafficPolicy) errs.push(field.invalid('spec.externalTrafficPolicy', spec.externalTrafficPolicy, 'may only be set for externally-accessible services'));
  } else if (!spec.externalTrafficPolicy) {
    errs.push(field.required('spec.externalTrafficPolicy', ''));
  } else if (!TRAFFIC_POLICIES.includes(spec.externalTrafficPolicy)) {
    errs.push(field.notSupported('spec.externalTrafficPolicy', spec.externalTrafficPolicy, TRAFFIC_POLICIES));
  }
  const needsHealthCheck = type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
  if (!needsHealthCheck && spec.healthCheckNodePort) {
    errs.push(field.invalid('spec.healthCheckNodePort', spec.healthCheckNodePort, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
  }
  if (spec.internalTrafficPolicy === undefined) {
    if (type === 'NodePort' || type === 'LoadBalancer' || type === 'ClusterIP') errs.push(field.required('spec.internalTrafficPolicy', ''));
  } else if (!TRAFFIC_POLICIES.includes(spec.internalTrafficPolicy)) {
    errs.push(field.notSupported('spec.internalTrafficPolicy', spec.internalTrafficPolicy, TRAFFIC_POLICIES));
  }
  return errs;
}

/**
 * ValidateServiceUpdate: the cluster IPs and IP families may not change once set (going from
 * none to allocated is allowed; the registry copies allocated values into an update that
 * leaves them out, as Kubernetes' does), nor may loadBalancerClass; then ValidateService.
 */
export function validateServiceUpdate(svc: Service, old: Service): FieldError[] {
  const errs = validateObjectMetaUpdate(svc.metadata, old.metadata);
  const spec = svc.spec ?? {};
  const oldSpec = old.spec ?? {};
  if (spec.type !== 'ExternalName' && oldSpec.type !== 'ExternalName' && !(isHeadless(svc) && isHeadless(old))) {
    const a = oldSpec.clusterIPs ?? [];
    const b = spec.clusterIPs ?? [];
    const ipsValue = goStringSlice(b);
    if (a.length === b.length) {
      a.forEach((ip, i) => ip !== b[i] && errs.push(field.invalid(index('spec.clusterIPs', i), ipsValue, 'may not change once set')));
    } else if (a.length > b.length) {
      if (b.length === 0) errs.push(field.invalid('spec.clusterIPs[0]', ipsValue, 'primary clusterIP can not be unset'));
      if (a.length && b.length && a[0] !== b[0]) errs.push(field.invalid('spec.clusterIPs[0]', ipsValue, 'may not change once set'));
      if (b.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
        errs.push(field.invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary clusterIP"));
      }
    } else if (a.length && a[0] !== b[0]) {
      errs.push(field.invalid('spec.clusterIPs[0]', ipsValue, 'may not change once set'));
    }
    if (isHeadless(svc) === isHeadless(old) && !isHeadless(svc)) {
      const fa = oldSpec.ipFamilies ?? [];
      const fb = spec.ipFamilies ?? [];
      if (fa.length === fb.length && fa.some((f, i) => f !== fb[i])) errs.push(field.invalid('spec.ipFamilies[0]', goStringSlice(fb), 'may not change once set'));
      else if (fa.length !== fb.length && fa.length && fb.length && fa[0] !== fb[0]) errs.push(field.invalid('spec.ipFamilies[0]', goStringSlice(b), 'may not change once set'));
    }
  }
  if (spec.type === 'LoadBalancer' && oldSpec.type === 'LoadBalancer' && spec.loadBalancerClass !== oldSpec.loadBalancerClass) {
    errs.push(field.invalid('spec.loadBalancerClass', spec.loadBalancerClass ?? null, 'may not change once set'));
  }
  const healthCheck = (s: Service['spec']) => s?.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local';
  if (healthCheck(spec) && healthCheck(oldSpec) && spec.healthCheckNodePort !== oldSpec.healthCheckNodePort) {
    errs.push(field.forbidden('spec.healthCheckNodePort', FIELD_IMMUTABLE));
  }
  errs.push(...validateService(svc));
  return errs;
}

/** ValidateServiceStatusUpdate: load-balancer ingress points are IPs or DNS names, only for LoadBalancer services. */
export function validateServiceStatusUpdate(svc: Service, old: Service): FieldError[] {
  const errs = validateObjectMetaUpdate(svc.metadata, old.metadata);
  const ingress = svc.status?.loadBalancer?.ingress ?? [];
  if (svc.spec?.type !== 'LoadBalancer' && ingress.length) {
    errs.push(field.forbidden('status.loadBalancer.ingress', "may only be used when `spec.type` is 'LoadBalancer'"));
    return errs;
  }
  ingress.forEach((ing, i) => {
    const path = index('status.loadBalancer.ingress', i);
    errs.push(...validateLoadBalancerIngress(ing, path));
    errs.push(...validateLoadBalancerIPMode(ing, path));
  });
  return errs;
}

/** The values of status.loadBalancer.ingress[].ipMode (KEP-1860). */
export const LOAD_BALANCER_IP_MODES = ['Proxy', 'VIP'];

/**
 * ValidateLoadBalancerStatus's ipMode rules: only with an ip, and one of VIP/Proxy. Unlike
 * Kubernetes (whose defaulting writes VIP on every ingress IP, then requires it), an unset
 * ipMode is accepted and means VIP: the allocator writes entries without one.
 */
function validateLoadBalancerIPMode(ing: { ip?: string; ipMode?: string }, path: string): FieldError[] {
  if (ing.ipMode === undefined) return [];
  if (!ing.ip) return [field.forbidden(child(path, 'ipMode'), 'may not be specified when `ip` is not set')];
  if (!LOAD_BALANCER_IP_MODES.includes(ing.ipMode)) return [field.notSupported(child(path, 'ipMode'), ing.ipMode, LOAD_BALANCER_IP_MODES)];
  return [];
}

/** One load-balancer ingress point (Service and Ingress status). */
export function validateLoadBalancerIngress(ing: { ip?: string; hostname?: string }, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (ing.ip) errs.push(...invalidEach(child(path, 'ip'), ing.ip, isValidIP(ing.ip)));
  if (ing.hostname) {
    errs.push(...invalidEach(child(path, 'hostname'), ing.hostname, isDNS1123Subdomain(ing.hostname)));
    if (parseIP(ing.hostname)) errs.push(field.invalid(child(path, 'hostname'), ing.hostname, 'must be a DNS name, not an IP address'));
  }
  return errs;
}

// ---------------------------------------------------------------- Endpoints

// ValidateNonSpecialIP, except that loopback addresses are allowed: kubemu's pods live there.
function validateNonSpecialIP(ip: string, path: string, rejectLoopback: boolean): FieldError[] {
  const parsed = parseIP(ip);
  if (!parsed) return [field.invalid(path, ip, 'must be a valid IP address')];
  const errs: FieldError[] = [];
  const v = ip.toLowerCase();
  if (v === '0.0.0.0' || v === '::' || /^0*:(0*:)*0*$/.test(v)) errs.push(field.invalid(path, ip, `may not be unspecified (${ip})`));
  if (rejectLoopback && (v.startsWith('127.') || v === '::1')) errs.push(field.invalid(path, ip, 'may not be in the loopback range (127.0.0.0/8, ::1/128)'));
  if (v.startsWith('169.254.') || /^fe[89ab][0-9a-f]:/.test(v)) errs.push(field.invalid(path, ip, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'));
  if (v.startsWith('224.0.0.') || v.startsWith('ff02:')) errs.push(field.invalid(path, ip, 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'));
  return errs;
}

/** ValidateEndpoints (create and update): addresses are IPs, ports valid and named when several. */
export function validateEndpoints(ep: Endpoints): FieldError[] {
  const errs = validateObjectMeta(ep.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
  (ep.subsets ?? []).forEach((ss, i) => {
    const p = index('subsets', i);
    if (!(ss.addresses ?? []).length && !(ss.notReadyAddresses ?? []).length) errs.push(field.required(p, 'must specify `addresses` or `notReadyAddresses`'));
    for (const list of ['addresses', 'notReadyAddresses'] as const) {
      (ss[list] ?? []).forEach((a, j) => {
        const ap = index(child(p, list), j);
        errs.push(...invalidEach(child(ap, 'ip'), a.ip ?? '', isValidIP(a.ip ?? '')));
        if (a.hostname) errs.push(...validateDNS1123Label(a.hostname, child(ap, 'hostname')));
        if (a.nodeName !== undefined) errs.push(...invalidEach(child(ap, 'nodeName'), a.nodeName, nameIsDNSSubdomain(a.nodeName, false)));
        errs.push(...validateNonSpecialIP(a.ip ?? '', child(ap, 'ip'), false));
      });
    }
    const ports = ss.ports ?? [];
    ports.forEach((port, j) => {
      const pp = index(child(p, 'ports'), j);
      if (ports.length > 1 && !port.name) errs.push(field.required(child(pp, 'name'), ''));
      else if (port.name) errs.push(...validateDNS1123Label(port.name, child(pp, 'name')));
      errs.push(...invalidEach(child(pp, 'port'), port.port ?? 0, isValidPortNum(port.port ?? 0)));
      if (!port.protocol) errs.push(field.required(child(pp, 'protocol'), ''));
      else if (!PROTOCOLS.includes(port.protocol)) errs.push(field.notSupported(child(pp, 'protocol'), port.protocol, PROTOCOLS));
      if (port.appProtocol !== undefined) errs.push(...invalidEach(child(pp, 'appProtocol'), port.appProtocol, isQualifiedName(port.appProtocol)));
    });
  });
  return errs;
}

// ---------------------------------------------------------------- Event

/**
 * Events as core/v1 validates them (legacyValidateEvent): names only need to be usable as a
 * path segment; without eventTime the involved object's namespace must match the event's;
 * with it, the reporting fields are required and bounded.
 */
export function validateEvent(ev: Event): FieldError[] {
  const errs = validateObjectMeta(ev.metadata, { namespaced: true, nameFn: nameIsPathSegment });
  const ns = ev.metadata?.namespace ?? '';
  const involvedNs = ev.involvedObject?.namespace ?? '';
  if (!ev.eventTime) {
    if (!involvedNs ? ns !== '' && ns !== 'default' : ns !== involvedNs) {
      errs.push(field.invalid('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
    }
  } else {
    if (!involvedNs && ns !== 'default' && ns !== 'kube-system') errs.push(field.invalid('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
    const controller = ev.reportingComponent ?? '';
    if (!controller) errs.push(field.required('reportingController', ''));
    errs.push(...invalidEach('reportingController', controller, isQualifiedName(controller)));
    const limited: Array<[string, string | undefined, number, boolean]> = [
      ['reportingInstance', ev.reportingInstance, 128, true],
      ['action', ev.action, 128, true],
      ['reason', ev.reason, 128, true],
      ['message', ev.message, 1024, false],
    ];
    for (const [name, value, max, required] of limited) {
      if (required && !value) errs.push(field.required(name, ''));
      if ((value ?? '').length > max) errs.push(field.invalid(name, '', `can have at most ${max} characters`));
    }
  }
  errs.push(...invalidEach('namespace', ns, isDNS1123Subdomain(ns)));
  return errs;
}

// ---------------------------------------------------------------- ConfigMap and Secret

/** Kubernetes' limit on the data of a ConfigMap or a Secret. */
export const MAX_SECRET_SIZE = 1024 * 1024;

/** ValidateConfigMap: keys, no key in both data and binaryData, total size at most 1 MiB. */
export function validateConfigMap(cm: ConfigMap): FieldError[] {
  const errs = validateObjectMeta(cm.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
  let total = 0;
  for (const k of Object.keys(cm.data ?? {}).sort()) {
    errs.push(...invalidEach(key('data', k), k, isConfigMapKey(k)));
    if (cm.binaryData && k in cm.binaryData) errs.push(field.invalid(key('data', k), k, 'duplicate of key present in binaryData'));
    total += Buffer.byteLength(cm.data![k]);
  }
  for (const k of Object.keys(cm.binaryData ?? {}).sort()) {
    errs.push(...invalidEach(key('binaryData', k), k, isConfigMapKey(k)));
    total += cm.binaryData![k].length;
  }
  // The path is empty: the error is about the whole object.
  if (total > MAX_SECRET_SIZE) errs.push(field.tooLong('', '', MAX_SECRET_SIZE));
  return errs;
}

/** ValidateConfigMapUpdate: an immutable ConfigMap keeps its data and stays immutable. */
export function validateConfigMapUpdate(cm: ConfigMap, old: ConfigMap): FieldError[] {
  const errs = validateObjectMetaUpdate(cm.metadata, old.metadata);
  if (old.immutable) {
    if (!cm.immutable) errs.push(field.forbidden('immutable', 'field is immutable when `immutable` is set'));
    if (!semanticEqual(cm.data, old.data)) errs.push(field.forbidden('data', 'field is immutable when `immutable` is set'));
    if (!semanticEqual(cm.binaryData, old.binaryData)) errs.push(field.forbidden('binaryData', 'field is immutable when `immutable` is set'));
  }
  errs.push(...validateConfigMap(cm));
  return errs;
}

/** ValidateSecret: keys, total size, and the keys each well-known type requires. */
export function validateSecret(secret: Secret): FieldError[] {
  const errs = validateObjectMeta(secret.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
  const data = secret.data ?? {};
  let total = 0;
  for (const k of Object.keys(data).sort()) {
    errs.push(...invalidEach(key('data', k), k, isConfigMapKey(k)));
    total += data[k].length;
  }
  if (total > MAX_SECRET_SIZE) errs.push(field.tooLong('data', '', MAX_SECRET_SIZE));
  const has = (k: string) => k in data;
  const requireJSON = (k: string) => {
    if (!has(k)) {
      errs.push(field.required(key('data', k), ''));
      return;
    }
    try {
      const parsed = JSON.parse(Buffer.from(data[k]).toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('json: cannot unmarshal into Go value of type map[string]interface {}');
    } catch (err) {
      errs.push(field.invalid(key('data', k), '<secret contents redacted>', (err as Error).message));
    }
  };
  switch (secret.type ?? '') {
    case 'kubernetes.io/service-account-token':
      if (!secret.metadata?.annotations?.['kubernetes.io/service-account.name']) {
        errs.push(field.required(key('metadata.annotations', 'kubernetes.io/service-account.name'), ''));
      }
      break;
    case 'kubernetes.io/dockercfg':
      requireJSON('.dockercfg');
      break;
    case 'kubernetes.io/dockerconfigjson':
      requireJSON('.dockerconfigjson');
      break;
    case 'kubernetes.io/basic-auth':
      if (!has('username') && !has('password')) {
        errs.push(field.required(key('data', 'username'), ''));
        errs.push(field.required(key('data', 'password'), ''));
      }
      break;
    case 'kubernetes.io/ssh-auth':
      if (!data['ssh-privatekey']?.length) errs.push(field.required(key('data', 'ssh-privatekey'), ''));
      break;
    case 'kubernetes.io/tls':
      if (!has('tls.crt')) errs.push(field.required(key('data', 'tls.crt'), ''));
      if (!has('tls.key')) errs.push(field.required(key('data', 'tls.key'), ''));
      break;
  }
  return errs;
}

/** ValidateSecretUpdate: type never changes; an immutable Secret keeps its data. */
export function validateSecretUpdate(secret: Secret, old: Secret): FieldError[] {
  const errs = validateObjectMetaUpdate(secret.metadata, old.metadata);
  errs.push(...immutable(secret.type ?? '', old.type ?? '', 'type'));
  if (old.immutable) {
    if (!secret.immutable) errs.push(field.forbidden('immutable', 'field is immutable when `immutable` is set'));
    if (!semanticEqual(secret.data, old.data)) errs.push(field.forbidden('data', 'field is immutable when `immutable` is set'));
  }
  errs.push(...validateSecret(secret));
  return errs;
}

// ---------------------------------------------------------------- PersistentVolume(Claim)

const ACCESS_MODES = ['ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOnce', 'ReadWriteOncePod'];
const RECLAIM_POLICIES = ['Delete', 'Recycle', 'Retain'];
const VOLUME_MODES = ['Block', 'Filesystem'];

function validateAccessModes(modes: string[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  let rwop = false;
  let other = false;
  for (const m of modes) {
    if (!ACCESS_MODES.includes(m)) errs.push(field.notSupported(path, m, ACCESS_MODES));
    if (m === 'ReadWriteOncePod') rwop = true;
    else if (ACCESS_MODES.includes(m)) other = true;
  }
  if (rwop && other) errs.push(field.forbidden(path, 'may not use ReadWriteOncePod with other access modes'));
  return errs;
}

function positiveQuantity(name: string, text: string, path: string, errs: FieldError[]): void {
  const q = validateQuantity(name, text, path, errs);
  if (q && q.sign() <= 0 && !errs.some((e) => e.field === path)) errs.push(field.invalid(path, q.toString(), IS_NOT_POSITIVE));
}

/** ValidatePersistentVolume: capacity (storage only, positive), access modes, exactly one source, policies. */
export function validatePersistentVolume(pv: PersistentVolume): FieldError[] {
  const errs = validateObjectMeta(pv.metadata, { namespaced: false, nameFn: nameIsDNSSubdomain });
  const spec = pv.spec ?? {};
  const modes = spec.accessModes ?? [];
  if (modes.length === 0) errs.push(field.required('spec.accessModes', ''));
  errs.push(...validateAccessModes(modes, 'spec.accessModes'));
  const capacity = spec.capacity ?? {};
  if (Object.keys(capacity).length === 0) errs.push(field.required('spec.capacity', ''));
  if (!('storage' in capacity) || Object.keys(capacity).length > 1) errs.push(field.notSupported('spec.capacity', capacity, ['storage']));
  for (const name of Object.keys(capacity).sort()) positiveQuantity(name, capacity[name], key('spec.capacity', name), errs);
  if (spec.persistentVolumeReclaimPolicy && !RECLAIM_POLICIES.includes(spec.persistentVolumeReclaimPolicy)) {
    errs.push(field.notSupported('spec.persistentVolumeReclaimPolicy', spec.persistentVolumeReclaimPolicy, RECLAIM_POLICIES));
  }
  let nodeAffinitySpecified = false;
  if (spec.nodeAffinity) {
    nodeAffinitySpecified = true;
    if (spec.nodeAffinity.required) errs.push(...validateNodeSelector(spec.nodeAffinity.required, 'spec.nodeAffinity.required'));
    else errs.push(field.required('spec.nodeAffinity.required', 'must specify required node constraints'));
  }
  let n = 0;
  if (spec.hostPath) {
    n++;
    errs.push(...validateHostPath(spec.hostPath.path, spec.hostPath.type, 'spec.hostPath'));
  }
  if (spec.local) {
    if (n > 0) errs.push(field.forbidden('spec.local', 'may not specify more than 1 volume type'));
    else {
      n++;
      if (!spec.local.path) errs.push(field.required('spec.local.path', ''));
      else if (spec.local.path.split('/').includes('..')) errs.push(field.invalid('spec.local.path', spec.local.path, "must not contain '..'"));
      if (!nodeAffinitySpecified) errs.push(field.required('spec.nodeAffinity', 'Local volume requires node affinity'));
    }
  }
  if (n === 0) errs.push(field.required('spec', 'must specify a volume type'));
  if (spec.hostPath && normalizePath(spec.hostPath.path ?? '') === '/' && spec.persistentVolumeReclaimPolicy === 'Recycle') {
    errs.push(field.forbidden('spec.persistentVolumeReclaimPolicy', "may not be 'recycle' for a hostPath mount of '/'"));
  }
  if (spec.storageClassName) errs.push(...invalidEach('spec.storageClassName', spec.storageClassName, nameIsDNSSubdomain(spec.storageClassName, false)));
  if (spec.volumeMode !== undefined && !VOLUME_MODES.includes(spec.volumeMode)) errs.push(field.notSupported('spec.volumeMode', spec.volumeMode, VOLUME_MODES));
  return errs;
}

function normalizePath(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (!seg || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return '/' + parts.join('/');
}

/** ValidatePersistentVolumeUpdate: the volume source never changes; nor volumeMode, nor a set nodeAffinity. */
export function validatePersistentVolumeUpdate(pv: PersistentVolume, old: PersistentVolume): FieldError[] {
  const errs = validatePersistentVolume(pv);
  const source = (s: PersistentVolume['spec']) => ({ hostPath: s?.hostPath, local: s?.local });
  if (!semanticEqual(source(pv.spec), source(old.spec))) {
    errs.push(field.forbidden('spec.persistentvolumesource', `spec.persistentvolumesource is immutable after creation\n${diffText(source(old.spec), source(pv.spec))}`));
  }
  // Kubernetes reports these two without the spec. prefix.
  errs.push(...immutablePointer(pv.spec?.volumeMode, old.spec?.volumeMode, 'volumeMode'));
  if (old.spec?.nodeAffinity && !semanticEqual(pv.spec?.nodeAffinity, old.spec.nodeAffinity)) {
    errs.push(field.invalid('nodeAffinity', pv.spec?.nodeAffinity ?? null, `${FIELD_IMMUTABLE}, except for updating from beta label to GA`));
  }
  return errs;
}

function diffText(a: unknown, b: unknown): string {
  return `- ${JSON.stringify(a)}\n+ ${JSON.stringify(b)}`;
}

/** ValidatePersistentVolumeClaim: access modes, a positive storage request, class and mode. */
export function validatePersistentVolumeClaim(pvc: PersistentVolumeClaim): FieldError[] {
  return [...validateObjectMeta(pvc.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain }), ...validatePVCSpec(pvc.spec, 'spec')];
}

/** ValidatePersistentVolumeClaimSpec (also for StatefulSet volumeClaimTemplates). */
export function validatePVCSpec(spec: PersistentVolumeClaim['spec'], path: string): FieldError[] {
  const s = spec ?? {};
  const errs: FieldError[] = [];
  const modes = s.accessModes ?? [];
  if (modes.length === 0) errs.push(field.required(child(path, 'accessModes'), 'at least 1 access mode is required'));
  if (s.selector) errs.push(...validateLabelSelector(s.selector, child(path, 'selector')));
  errs.push(...validateAccessModes(modes, child(path, 'accessModes')));
  const storagePath = key(child(path, 'resources'), 'storage');
  const storage = s.resources?.requests?.storage;
  if (storage === undefined) errs.push(field.required(storagePath, ''));
  else positiveQuantity('storage', storage, storagePath, errs);
  if (s.storageClassName) errs.push(...invalidEach(child(path, 'storageClassName'), s.storageClassName, nameIsDNSSubdomain(s.storageClassName, false)));
  if (s.volumeMode !== undefined && !VOLUME_MODES.includes(s.volumeMode)) errs.push(field.notSupported(child(path, 'volumeMode'), s.volumeMode, VOLUME_MODES));
  return errs;
}

/**
 * ValidatePersistentVolumeClaimUpdate: the spec is immutable, except volumeName while unset
 * and the storage request of a bound claim, which may grow (and shrink back down to no less
 * than status.capacity).
 */
export function validatePersistentVolumeClaimUpdate(pvc: PersistentVolumeClaim, old: PersistentVolumeClaim): FieldError[] {
  const errs = [...validateObjectMetaUpdate(pvc.metadata, old.metadata), ...validatePersistentVolumeClaim(pvc)];
  const next = structuredCloneSpec(pvc.spec);
  const prev = structuredCloneSpec(old.spec);
  if (!prev.volumeName) prev.volumeName = next.volumeName;
  const bound = pvc.status?.phase === 'Bound';
  if (bound && next.resources?.requests) next.resources.requests.storage = old.spec?.resources?.requests?.storage ?? '';
  if (!semanticEqual(next, prev) || !sameOptional(next.storageClassName, prev.storageClassName) || !sameOptional(next.volumeMode, prev.volumeMode)) {
    errs.push(field.forbidden('spec', `spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n${diffText(prev, next)}`));
  }
  const newSize = parseQuantity(pvc.spec?.resources?.requests?.storage ?? '0');
  const oldSize = parseQuantity(old.spec?.resources?.requests?.storage ?? '0');
  const statusSize = parseQuantity(old.status?.capacity?.storage ?? '0');
  if (!isQuantityError(newSize) && !isQuantityError(oldSize) && newSize.cmp(oldSize) < 0) {
    if (isQuantityError(statusSize) || newSize.cmp(statusSize) <= 0) {
      errs.push(field.forbidden('spec.resources.requests.storage', 'field can not be less than status.capacity'));
    }
  }
  errs.push(...immutablePointer(pvc.spec?.volumeMode, old.spec?.volumeMode, 'volumeMode'));
  return errs;
}

function sameOptional(a: string | undefined, b: string | undefined): boolean {
  return a === b;
}

function structuredCloneSpec(spec: PersistentVolumeClaim['spec']): NonNullable<PersistentVolumeClaim['spec']> {
  return JSON.parse(JSON.stringify(spec ?? {}));
}

/** ValidatePersistentVolumeClaimStatusUpdate: access modes still set (path `Spec.accessModes`, Kubernetes' spelling), capacity valid. */
export function validatePersistentVolumeClaimStatusUpdate(pvc: PersistentVolumeClaim, old: PersistentVolumeClaim): FieldError[] {
  const errs = validateObjectMetaUpdate(pvc.metadata, old.metadata);
  if (!(pvc.spec?.accessModes ?? []).length) errs.push(field.required('Spec.accessModes', ''));
  const cap = pvc.status?.capacity ?? {};
  for (const name of Object.keys(cap).sort()) validateQuantity(name, cap[name], key('status.capacity', name), errs);
  return errs;
}

/** ValidatePersistentVolumeStatusUpdate: metadata rules only. */
export function validatePersistentVolumeStatusUpdate(pv: PersistentVolume, old: PersistentVolume): FieldError[] {
  return validateObjectMetaUpdate(pv.metadata, old.metadata);
}
