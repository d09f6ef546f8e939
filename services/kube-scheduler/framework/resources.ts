/**
 * A pod's resource request as kube-scheduler counts it
 * (pkg/api/v1/resource.PodRequests, used by computePodResourceRequest):
 * the sum of the app containers, raised to the largest init container
 * (restartable "sidecar" init containers add to everything after them),
 * plus the pod overhead.
 */
import type { Container, Pod } from '../../lib/generated/kubemu/core/v1/core';
import { parseQuantity } from '../../lib/quantity';
import type { Resource } from './types';

/** Kubernetes' defaults for a container without a request, used only for scoring (pkg/scheduler/util.DefaultMilliCPURequest / DefaultMemoryRequest). */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;

function quantity(map: { [key: string]: string } | undefined, name: string, milli: boolean): number | undefined {
  const s = map?.[name];
  if (s === undefined || s === '') return undefined;
  try {
    const q = parseQuantity(s);
    return milli ? q.milliValue() : q.value();
  } catch {
    // An unparsable quantity never passes validation; count it as unset rather than crash the scheduler.
    return undefined;
  }
}

/**
 * One container's request. A missing request falls back to the limit, as
 * the apiserver's defaulting does; with nonZero, a still-missing cpu or
 * memory request (not an explicit 0) counts as the scoring default.
 */
export function containerRequest(c: Container, nonZero: boolean): Resource {
  const req = c.resources?.requests;
  const lim = c.resources?.limits;
  let milliCPU = quantity(req, 'cpu', true) ?? quantity(lim, 'cpu', true);
  let memory = quantity(req, 'memory', false) ?? quantity(lim, 'memory', false);
  if (nonZero) {
    // Only a missing request takes the default; an explicit 0 stays 0 (NonMissingContainerRequests).
    if (milliCPU === undefined) milliCPU = DEFAULT_MILLI_CPU_REQUEST;
    if (memory === undefined) memory = DEFAULT_MEMORY_REQUEST;
  }
  return { milliCPU: milliCPU ?? 0, memory: memory ?? 0 };
}

function add(a: Resource, b: Resource): Resource {
  return { milliCPU: a.milliCPU + b.milliCPU, memory: a.memory + b.memory };
}

function max(a: Resource, b: Resource): Resource {
  return { milliCPU: Math.max(a.milliCPU, b.milliCPU), memory: Math.max(a.memory, b.memory) };
}

/**
 * Parsing quantities dominated the scheduler's profile (every filter and score of every node
 * re-parsed the same strings), so requests and allocatables are computed once per object and
 * kept in WeakMaps keyed by it. This relies on what the informer guarantees: cached API objects
 * are never mutated (an update is a new object). The cached Resources are shared: read only.
 */
const podRequests = new WeakMap<Pod, { exact?: Resource; nonZero?: Resource }>();
const allocatables = new WeakMap<object, Resource & { pods: number }>();

/**
 * The pod's effective request (never throws). nonZero applies the scoring
 * defaults per container (the overhead is added as written). Computed once per pod object
 * (see above): the pod must not be mutated afterwards, nor the result.
 */
export function podRequest(pod: Pod, nonZero = false): Resource {
  let entry = podRequests.get(pod);
  if (!entry) podRequests.set(pod, (entry = {}));
  if (nonZero) return (entry.nonZero ??= computePodRequest(pod, true));
  return (entry.exact ??= computePodRequest(pod, false));
}

function computePodRequest(pod: Pod, nonZero: boolean): Resource {
  const spec = pod.spec ?? {};
  let reqs: Resource = { milliCPU: 0, memory: 0 };
  for (const c of spec.containers ?? []) reqs = add(reqs, containerRequest(c, nonZero));

  let restartable: Resource = { milliCPU: 0, memory: 0 };
  let initMax: Resource = { milliCPU: 0, memory: 0 };
  for (const ic of spec.initContainers ?? []) {
    let r = containerRequest(ic, nonZero);
    if (ic.restartPolicy === 'Always') {
      // A sidecar keeps running beside the app containers and every later init container.
      reqs = add(reqs, r);
      restartable = add(restartable, r);
      r = restartable;
    } else {
      r = add(r, restartable);
    }
    initMax = max(initMax, r);
  }
  reqs = max(reqs, initMax);

  const overhead = spec.overhead;
  if (overhead) {
    reqs = add(reqs, { milliCPU: quantity(overhead, 'cpu', true) ?? 0, memory: quantity(overhead, 'memory', false) ?? 0 });
  }
  return reqs;
}

/** A node's allocatable cpu (milli), memory (bytes) and pods. Computed once per node object: read only, as the node. */
export function allocatable(node: { status?: { allocatable?: { [key: string]: string } } }): Resource & { pods: number } {
  let cached = allocatables.get(node);
  if (!cached) allocatables.set(node, (cached = computeAllocatable(node)));
  return cached;
}

function computeAllocatable(node: { status?: { allocatable?: { [key: string]: string } } }): Resource & { pods: number } {
  const a = node.status?.allocatable;
  return {
    milliCPU: quantity(a, 'cpu', true) ?? 0,
    memory: quantity(a, 'memory', false) ?? 0,
    pods: quantity(a, 'pods', false) ?? 0,
  };
}
