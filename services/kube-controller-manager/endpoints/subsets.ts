/**
 * The pure part of the endpoints controller (pkg/controller/endpoint and pkg/api/v1/endpoints):
 * which pods of a Service become which addresses on which ports, repacked into the N-to-M
 * EndpointSubset form the API wants.
 */
import { EndpointAddress, EndpointPort, EndpointSubset, Pod, Service, ServicePort } from '../../lib/generated/kubemu/core/v1/core';
import { isPodReady } from '../podutil';

/**
 * The container port a Service port targets on `pod` (podutil.FindPort): a numeric targetPort as
 * is, a named one looked up among the pod's container ports with the same name and protocol.
 * Undefined when the pod has no such named port (the pod is then left out for that port).
 */
export function findPort(pod: Pod, svcPort: ServicePort): number | undefined {
  const target: unknown = svcPort.targetPort;
  const protocol = svcPort.protocol || 'TCP';
  if (typeof target === 'string' && target !== '' && !/^\d+$/.test(target)) {
    for (const c of pod.spec?.containers ?? []) {
      for (const p of c.ports ?? []) {
        if (p.name === target && (p.protocol || 'TCP') === protocol) return p.containerPort;
      }
    }
    return undefined;
  }
  const n = typeof target === 'number' ? target : typeof target === 'string' && target !== '' ? Number(target) : 0;
  return n || svcPort.port;
}

/**
 * Whether a not-ready pod still belongs among notReadyAddresses (endpoints controller
 * shouldPodBeInEndpoints): a pod that will not run again (Never: Failed or Succeeded; OnFailure:
 * Succeeded) does not.
 */
export function shouldPodBeInEndpoints(pod: Pod): boolean {
  const phase = pod.status?.phase;
  switch (pod.spec?.restartPolicy) {
    case 'Never':
      return phase !== 'Failed' && phase !== 'Succeeded';
    case 'OnFailure':
      return phase !== 'Succeeded';
    default:
      return true;
  }
}

/** The address of `pod` for `svc` (podToEndpointAddressForService): IP, node, targetRef, and hostname for a headless subdomain. */
export function podAddress(pod: Pod, svc: Service): EndpointAddress {
  const m = pod.metadata ?? {};
  const addr: EndpointAddress = {
    ip: pod.status?.podIP ?? '',
    hostname: '',
    nodeName: pod.spec?.nodeName || undefined,
    targetRef: { kind: 'Pod', namespace: m.namespace ?? '', name: m.name ?? '', uid: m.uid ?? '', apiVersion: '', resourceVersion: '', fieldPath: '' },
  };
  if (pod.spec?.hostname && pod.spec.subdomain === svc.metadata?.name && svc.metadata?.namespace === m.namespace) addr.hostname = pod.spec.hostname;
  return addr;
}

/**
 * The subsets of `svc`'s Endpoints given its selected pods (syncService): pods without an IP are
 * skipped, terminating pods too (unless publishNotReadyAddresses), ready pods (or every pod with
 * publishNotReadyAddresses) are addresses, other pods that may still run are notReadyAddresses;
 * every Service port is resolved per pod (a pod lacking a named port is left out of that port).
 * A headless Service without ports gets port-less subsets. Repacked and sorted (deterministic). Pure.
 */
export function buildSubsets(svc: Service, pods: Pod[]): EndpointSubset[] {
  const tolerateUnready = !!svc.spec?.publishNotReadyAddresses;
  const ports = svc.spec?.ports ?? [];
  const headless = svc.spec?.clusterIP === 'None';
  const raw: EndpointSubset[] = [];
  for (const pod of pods) {
    if (!pod.status?.podIP) continue;
    if (!tolerateUnready && pod.metadata?.deletionTimestamp) continue;
    const addr = podAddress(pod, svc);
    const ready = tolerateUnready || isPodReady(pod);
    if (!ready && !shouldPodBeInEndpoints(pod)) continue;
    const place = (epPorts: EndpointPort[]) => raw.push({ addresses: ready ? [addr] : [], notReadyAddresses: ready ? [] : [addr], ports: epPorts });
    if (ports.length === 0) {
      if (headless) place([]);
      continue;
    }
    for (const sp of ports) {
      const port = findPort(pod, sp);
      if (port === undefined) continue;
      place([{ name: sp.name ?? '', port, protocol: sp.protocol || 'TCP', appProtocol: sp.appProtocol }]);
    }
  }
  return repackSubsets(raw);
}

function addrKey(a: EndpointAddress): string {
  return `${a.ip}|${a.targetRef?.uid ?? ''}`;
}

function portKey(p: EndpointPort): string {
  return `${p.name}|${p.port}|${p.protocol}|${p.appProtocol ?? ''}`;
}

function compareAddr(a: EndpointAddress, b: EndpointAddress): number {
  return (a.ip ?? '').localeCompare(b.ip ?? '') || (a.targetRef?.uid ?? '').localeCompare(b.targetRef?.uid ?? '');
}

/**
 * Kubernetes' RepackSubsets: every (address, port) pair of the input, regrouped so that addresses
 * on exactly the same set of ports share one subset; addresses are sorted by IP, ports by name and
 * number, subsets by their first address. Port-less subsets stay port-less. Pure.
 */
export function repackSubsets(subsets: EndpointSubset[]): EndpointSubset[] {
  const addrs = new Map<string, { addr: EndpointAddress; ready: boolean }>();
  const NONE = '\u0000none';
  const portsByKey = new Map<string, EndpointPort>();
  const addrsByPort = new Map<string, Set<string>>();
  for (const ss of subsets) {
    const keys = (ss.ports ?? []).length ? ss.ports!.map((p) => (portsByKey.set(portKey(p), p), portKey(p))) : [NONE];
    for (const [list, ready] of [[ss.addresses ?? [], true], [ss.notReadyAddresses ?? [], false]] as const) {
      for (const a of list) {
        const k = addrKey(a);
        // An address ready on any port counts as ready (as Kubernetes: the ready set wins).
        const seen = addrs.get(k);
        addrs.set(k, { addr: a, ready: ready || (seen?.ready ?? false) });
        for (const pk of keys) {
          let set = addrsByPort.get(pk);
          if (!set) addrsByPort.set(pk, (set = new Set()));
          set.add(k);
        }
      }
    }
  }
  const groups = new Map<string, { addrKeys: string[]; ports: string[] }>();
  for (const [pk, set] of addrsByPort) {
    const sorted = [...set].sort();
    const gk = sorted.join(',');
    let g = groups.get(gk);
    if (!g) groups.set(gk, (g = { addrKeys: sorted, ports: [] }));
    g.ports.push(pk);
  }
  const out: EndpointSubset[] = [];
  for (const g of groups.values()) {
    const entries = g.addrKeys.map((k) => addrs.get(k)!);
    const ports = g.ports
      .filter((k) => k !== NONE)
      .map((k) => portsByKey.get(k)!)
      .sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || (a.port ?? 0) - (b.port ?? 0) || (a.protocol ?? '').localeCompare(b.protocol ?? ''));
    out.push({
      addresses: entries.filter((e) => e.ready).map((e) => e.addr).sort(compareAddr),
      notReadyAddresses: entries.filter((e) => !e.ready).map((e) => e.addr).sort(compareAddr),
      ports,
    });
  }
  const first = (s: EndpointSubset) => (s.addresses ?? [])[0] ?? (s.notReadyAddresses ?? [])[0];
  return out.sort((a, b) => compareAddr(first(a), first(b)) || portKey(a.ports?.[0] ?? {}).localeCompare(portKey(b.ports?.[0] ?? {})));
}

/** The most addresses one Endpoints object carries (Kubernetes' maxCapacity). */
export const MAX_ENDPOINTS_CAPACITY = 1000;

/**
 * Kubernetes' truncateEndpoints: when the subsets hold more than `max` addresses, keeps `max` of
 * them, ready ones first — each subset keeps its proportional share, rounded up, the last one
 * taking what is left. Returns the subsets (new arrays, inputs untouched) and whether it
 * truncated. Pure.
 */
export function truncateSubsets(subsets: EndpointSubset[], max = MAX_ENDPOINTS_CAPACITY): { subsets: EndpointSubset[]; truncated: boolean } {
  let totalReady = 0;
  let totalNotReady = 0;
  for (const s of subsets) {
    totalReady += (s.addresses ?? []).length;
    totalNotReady += (s.notReadyAddresses ?? []).length;
  }
  if (totalReady + totalNotReady <= max) return { subsets, truncated: false };
  const truncateReady = totalReady > max;
  const room = truncateReady ? max : max - totalReady;
  const numTotal = truncateReady ? totalReady : totalNotReady;
  let canBeAdded = room;
  const out = subsets.map((s) => {
    const inSubset = truncateReady ? (s.addresses ?? []).length : (s.notReadyAddresses ?? []).length;
    const toBeAdded = Math.min(canBeAdded, Math.ceil((inSubset / numTotal) * room));
    canBeAdded -= toBeAdded;
    return truncateReady
      ? { ...s, addresses: (s.addresses ?? []).slice(0, toBeAdded), notReadyAddresses: [] }
      : { ...s, notReadyAddresses: (s.notReadyAddresses ?? []).slice(0, toBeAdded) };
  });
  return { subsets: out, truncated: true };
}
