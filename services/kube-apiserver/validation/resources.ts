/**
 * Compute resource requirements (limits/requests of containers, pod overhead): resource
 * names, parseable non-negative quantities, requests within limits, and the stricter rules
 * for extended resources and hugepages. A port of validateResourceRequirements and its
 * helpers (pkg/apis/core/validation, pkg/apis/core/helper).
 *
 * Pure functions returning field errors; they never throw.
 */
import { field, FieldError } from '../../lib/errors';
import { child, invalidEach, IS_NEGATIVE, key } from './common';
import { isQualifiedName } from './formats';
import { isQuantityError, isWholeNumber, parseQuantity, Quantity } from './quantities';

const STANDARD_CONTAINER_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage']);
const STANDARD_RESOURCES = new Set([
  'cpu',
  'memory',
  'ephemeral-storage',
  'requests.cpu',
  'requests.memory',
  'requests.ephemeral-storage',
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
  'pods',
  'resourcequotas',
  'services',
  'replicationcontrollers',
  'secrets',
  'persistentvolumeclaims',
  'configmaps',
  'services.nodeports',
  'services.loadbalancers',
  'storage',
  'requests.storage',
]);

/** Whether a resource name is Kubernetes' own (unprefixed, or under kubernetes.io/). */
export function isNativeResource(name: string): boolean {
  return !name.includes('/') || name.includes('kubernetes.io/');
}

function isHugePages(name: string): boolean {
  return name.startsWith('hugepages-');
}

/** An extended resource (example.com/gpu): counted in whole units, never overcommitted. */
export function isExtendedResourceName(name: string): boolean {
  if (isNativeResource(name) || name.startsWith('requests.')) return false;
  return isQualifiedName('requests.' + name).length === 0;
}

/** Whether requests may be lower than limits for a resource. */
export function isOvercommitAllowed(name: string): boolean {
  return isNativeResource(name) && !isHugePages(name);
}

// validateContainerResourceName (which runs validateResourceName first).
function validateContainerResourceName(name: string, path: string): FieldError[] {
  const errs = invalidEach(path, name, isQualifiedName(name));
  if (errs.length) return errs;
  if (!name.includes('/')) {
    const standard = STANDARD_RESOURCES.has(name) || isHugePages(name) || name.startsWith('requests.hugepages-') || name.startsWith('limits.hugepages-');
    if (!standard) errs.push(field.invalid(path, name, 'must be a standard resource type or fully qualified'));
    if (!STANDARD_CONTAINER_RESOURCES.has(name) && !isHugePages(name)) errs.push(field.invalid(path, name, 'must be a standard resource for containers'));
  } else if (!isNativeResource(name) && !isExtendedResourceName(name)) {
    errs.push(field.invalid(path, name, "doesn't follow extended resource name standard"));
  }
  return errs;
}

/**
 * ValidateResourceQuantityValue plus the parse step Kubernetes does while decoding: the text
 * is a quantity, not negative, and whole for extended resources. Returns the parsed value
 * when it could be parsed.
 */
export function validateQuantity(name: string, text: string, path: string, errs: FieldError[]): Quantity | undefined {
  const q = parseQuantity(text);
  if (isQuantityError(q)) {
    errs.push(field.invalid(path, text, q.error));
    return undefined;
  }
  if (q.sign() < 0) errs.push(field.invalid(path, q.toString(), IS_NEGATIVE));
  if (isExtendedResourceName(name) && !isWholeNumber(q)) errs.push(field.invalid(path, q.toString(), 'must be an integer'));
  return q;
}

function sortedKeys(m: { [k: string]: string } | undefined): string[] {
  return Object.keys(m ?? {}).sort();
}

/** validateResourceRequirements for a container's (or a pod overhead's) limits and requests. */
export function validateResourceRequirements(req: { limits?: { [k: string]: string }; requests?: { [k: string]: string } } | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const limPath = child(path, 'limits');
  const reqPath = child(path, 'requests');
  const limits = new Map<string, Quantity>();
  let limCpuMem = false;
  let reqCpuMem = false;
  let hugePages = false;
  for (const name of sortedKeys(req?.limits)) {
    const p = key(limPath, name);
    errs.push(...validateContainerResourceName(name, p));
    const q = validateQuantity(name, req!.limits![name], p, errs);
    if (q) limits.set(name, q);
    if (isHugePages(name)) hugePages = true;
    if (name === 'cpu' || name === 'memory') limCpuMem = true;
  }
  for (const name of sortedKeys(req?.requests)) {
    const p = key(reqPath, name);
    errs.push(...validateContainerResourceName(name, p));
    const q = validateQuantity(name, req!.requests![name], p, errs);
    const lim = limits.get(name);
    if (q && lim) {
      const cmp = q.cmp(lim);
      if (cmp !== 0 && !isOvercommitAllowed(name)) {
        errs.push(field.invalid(reqPath, q.toString(), `must be equal to ${name} limit of ${lim.toString()}`));
      } else if (cmp > 0) {
        errs.push(field.invalid(reqPath, q.toString(), `must be less than or equal to ${name} limit of ${lim.toString()}`));
      }
    } else if (!(name in (req?.limits ?? {})) && !isOvercommitAllowed(name)) {
      errs.push(field.required(limPath, 'Limit must be set for non overcommitable resources'));
    }
    if (isHugePages(name)) hugePages = true;
    if (name === 'cpu' || name === 'memory') reqCpuMem = true;
  }
  if (!limCpuMem && !reqCpuMem && hugePages) errs.push(field.forbidden(path, 'HugePages require cpu or memory'));
  return errs;
}
