/**
 * Resource arithmetic the kubelet needs: a container's limits as numbers for
 * the runtime, a pod's effective requests (k8s' resourcehelper.PodRequests)
 * and the node's capacity/allocatable for its status.
 */
import { Container, Pod } from '../lib/generated/kubemu/core/v1/core';
import { parseQuantity, Quantity, QuantityFormat } from '../lib/quantity';

/** Resource name → quantity string, as in Kubernetes' ResourceList JSON. */
export type ResourceList = Record<string, string>;

function quantityOf(list: ResourceList | undefined, name: string): Quantity | undefined {
  const v = list?.[name];
  return v === undefined || v === '' ? undefined : parseQuantity(v);
}

/**
 * The container's memory limit in bytes (rounded up, as Quantity.value), or
 * undefined when it has none. Throws QuantityParseError for a malformed
 * quantity (the apiserver refuses those, so only a broken invariant). Pure.
 */
export function containerMemoryLimitBytes(container: Container): number | undefined {
  return quantityOf(container.resources?.limits, 'memory')?.value();
}

/** The container's CPU limit in millicores (rounded up), or undefined when it has none. Throws as containerMemoryLimitBytes. Pure. */
export function containerCpuLimitMillis(container: Container): number | undefined {
  return quantityOf(container.resources?.limits, 'cpu')?.milliValue();
}

type QuantityList = Map<string, Quantity>;

function toQuantities(list: ResourceList | undefined): QuantityList {
  const out: QuantityList = new Map();
  for (const [k, v] of Object.entries(list ?? {})) if (v !== '') out.set(k, parseQuantity(v));
  return out;
}

function addInto(into: QuantityList, add: QuantityList): void {
  for (const [k, v] of add) into.set(k, into.has(k) ? into.get(k)!.add(v) : v);
}

function maxInto(into: QuantityList, other: QuantityList): void {
  for (const [k, v] of other) if (!into.has(k) || v.cmp(into.get(k)!) > 0) into.set(k, v);
}

function toResourceList(list: QuantityList): ResourceList {
  const out: ResourceList = {};
  for (const k of [...list.keys()].sort()) out[k] = list.get(k)!.toString();
  return out;
}

/**
 * The pod's effective requests, as Kubernetes' resourcehelper.PodRequests
 * (what the scheduler and kubelet admission count): the sum over app
 * containers and sidecars (init containers with restartPolicy Always),
 * raised per resource to what any one init container needs while it runs
 * (its own request plus the sidecars started before it), plus
 * spec.overhead. Requests are taken as written: a limit without a request
 * counts only if the apiserver defaulted the request from it. Resource
 * names absent everywhere are absent from the result. Throws
 * QuantityParseError for a malformed quantity. Pure.
 */
export function podRequests(pod: Pod): ResourceList {
  const reqs: QuantityList = new Map();
  for (const c of pod.spec?.containers ?? []) addInto(reqs, toQuantities(c.resources?.requests));
  const sidecars: QuantityList = new Map();
  const initMax: QuantityList = new Map();
  for (const c of pod.spec?.initContainers ?? []) {
    const own = toQuantities(c.resources?.requests);
    let running: QuantityList;
    if (c.restartPolicy === 'Always') {
      addInto(reqs, own);
      addInto(sidecars, own);
      running = sidecars;
    } else {
      running = new Map(own);
      addInto(running, sidecars);
    }
    maxInto(initMax, running);
  }
  maxInto(reqs, initMax);
  addInto(reqs, toQuantities(pod.spec?.overhead));
  return toResourceList(reqs);
}

export interface NodeResourcesInput {
  /** Cores (may be fractional) or a quantity string (`2`, `1500m`). */
  cpu: number | string;
  /** Bytes or a quantity string (`4Gi`). */
  memory: number | string;
  /** Maximum number of pods (Kubernetes' default: 110). */
  pods: number | string;
}

export interface NodeResources {
  capacity: ResourceList;
  allocatable: ResourceList;
}

function asQuantity(v: number | string, numberFormat: QuantityFormat, milli = false): Quantity {
  if (typeof v === 'string') return parseQuantity(v);
  return milli ? Quantity.fromMilliValue(Math.round(v * 1000), numberFormat) : Quantity.fromValue(Math.round(v), numberFormat);
}

/**
 * The node's status.capacity and status.allocatable (`cpu`, `memory`,
 * `pods`) as canonical quantity strings; a number of bytes prints in binary
 * SI (`4294967296` → `4Gi`). Allocatable equals capacity: kubemu reserves
 * nothing for system daemons (no kube-reserved, system-reserved or eviction
 * threshold), unlike a real kubelet. Throws QuantityParseError for a
 * malformed string. Pure.
 */
export function nodeCapacity(input: NodeResourcesInput): NodeResources {
  const capacity: ResourceList = {
    cpu: asQuantity(input.cpu, 'DecimalSI', true).toString(),
    memory: asQuantity(input.memory, 'BinarySI').toString(),
    pods: asQuantity(input.pods, 'DecimalSI').toString(),
  };
  return { capacity, allocatable: { ...capacity } };
}
