// Printers of the core group's kinds other than Pod, as Kubernetes'
// pkg/printers/internalversion prints them (v1.32).

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
} from '../../../lib/generated/kubemu/core/v1/core';
import { parseQuantity } from '../../../lib/quantity';
import {
  AGE_COLUMN,
  age,
  column,
  compareStrings,
  formatLabels,
  int,
  listWithMore,
  NAME_COLUMN,
  NAME_DESCRIPTION,
  parseTime,
  Printer,
  str,
  translateTimestampSince,
} from './common';

// ---------------------------------------------------------------------------
// Node

const LABEL_NODE_ROLE_PREFIX = 'node-role.kubernetes.io/';
const NODE_LABEL_ROLE = 'kubernetes.io/role';

/** findNodeRoles: roles from `node-role.kubernetes.io/<role>` keys and the `kubernetes.io/role` value, sorted, de-duplicated. */
export function findNodeRoles(node: Node): string[] {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(node.metadata?.labels ?? {})) {
    if (k.startsWith(LABEL_NODE_ROLE_PREFIX)) {
      const role = k.slice(LABEL_NODE_ROLE_PREFIX.length);
      if (role.length > 0) roles.add(role);
    } else if (k === NODE_LABEL_ROLE && v !== '') {
      roles.add(v);
    }
  }
  return [...roles].sort(compareStrings);
}

function nodeAddress(node: Node, type: string): string {
  return (node.status?.addresses ?? []).find((a) => a.type === type)?.address ?? '<none>';
}

export const nodePrinter: Printer<Node> = {
  columns: [
    NAME_COLUMN,
    column('Status', 'string', 'The status of the node'),
    column('Roles', 'string', 'The roles of the node'),
    AGE_COLUMN,
    column('Version', 'string', 'Kubelet Version reported by the node.'),
    column('Internal-IP', 'string', 'List of addresses reachable to the node. Queried from cloud provider, if available.', { priority: 1 }),
    column('External-IP', 'string', 'List of addresses reachable to the node. Queried from cloud provider, if available.', { priority: 1 }),
    column('OS-Image', 'string', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', { priority: 1 }),
    column('Kernel-Version', 'string', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", { priority: 1 }),
    column('Container-Runtime', 'string', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', { priority: 1 }),
  ],
  row(node, now) {
    // Only the Ready condition counts; the last one of that type wins, as in Go's map.
    let ready: string | undefined;
    for (const c of node.status?.conditions ?? []) {
      if (c.type === 'Ready') ready = c.status ?? '';
    }
    const status: string[] = [];
    if (ready !== undefined) status.push(ready === 'True' ? 'Ready' : 'NotReady');
    if (status.length === 0) status.push('Unknown');
    if (node.spec?.unschedulable) status.push('SchedulingDisabled');
    const roles = findNodeRoles(node).join(',') || '<none>';
    const info = node.status?.nodeInfo ?? {};
    return {
      cells: [
        node.metadata?.name ?? '',
        status.join(','),
        roles,
        age(node.metadata, now),
        str(info.kubeletVersion),
        nodeAddress(node, 'InternalIP'),
        nodeAddress(node, 'ExternalIP'),
        info.osImage || '<unknown>',
        info.kernelVersion || '<unknown>',
        info.containerRuntimeVersion || '<unknown>',
      ],
    };
  },
};

// ---------------------------------------------------------------------------
// Namespace

export const namespacePrinter: Printer<Namespace> = {
  columns: [NAME_COLUMN, column('Status', 'string', 'The status of the namespace'), AGE_COLUMN],
  row: (ns, now) => ({ cells: [ns.metadata?.name ?? '', str(ns.status?.phase), age(ns.metadata, now)] }),
};

// ---------------------------------------------------------------------------
// Service

const LOAD_BALANCER_WIDTH = 16;

/** loadBalancerStatusStringer: the distinct ingress IPs (else hostnames), sorted, comma-joined; clipped unless wide. */
export function loadBalancerStatusString(ingress: Array<{ ip?: string; hostname?: string }> | undefined, wide: boolean): string {
  const result = new Set<string>();
  for (const i of ingress ?? []) {
    if (i.ip) result.add(i.ip);
    else if (i.hostname) result.add(i.hostname);
  }
  let r = [...result].sort(compareStrings).join(',');
  if (!wide && r.length > LOAD_BALANCER_WIDTH) r = r.slice(0, LOAD_BALANCER_WIDTH - 3) + '...';
  return r;
}

/** getServiceExternalIP: what the EXTERNAL-IP column shows for each Service type. */
export function serviceExternalIP(svc: Service, wide: boolean): string {
  const externalIPs = svc.spec?.externalIPs ?? [];
  switch (svc.spec?.type) {
    case 'ClusterIP':
    case 'NodePort':
      return externalIPs.length > 0 ? externalIPs.join(',') : '<none>';
    case 'LoadBalancer': {
      const lbIps = loadBalancerStatusString(svc.status?.loadBalancer?.ingress, wide);
      if (externalIPs.length > 0) {
        const results: string[] = [];
        if (lbIps.length > 0) results.push(...lbIps.split(','));
        results.push(...externalIPs);
        return results.join(',');
      }
      return lbIps.length > 0 ? lbIps : '<pending>';
    }
    case 'ExternalName':
      return str(svc.spec?.externalName);
  }
  return '<unknown>';
}

/** makePortString: `port/PROTO` or `port:nodePort/PROTO`, comma-joined. */
export function servicePortString(svc: Service): string {
  return (svc.spec?.ports ?? [])
    .map((p) => (int(p.nodePort) > 0 ? `${int(p.port)}:${int(p.nodePort)}/${str(p.protocol)}` : `${int(p.port)}/${str(p.protocol)}`))
    .join(',');
}

export const servicePrinter: Printer<Service> = {
  columns: [
    NAME_COLUMN,
    column('Type', 'string', 'type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer.'),
    column('Cluster-IP', 'string', 'clusterIP is the IP address of the service and is usually assigned randomly.'),
    column('External-IP', 'string', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.'),
    column('Port(s)', 'string', 'The list of ports that are exposed by this service.'),
    AGE_COLUMN,
    column('Selector', 'string', 'Route service traffic to pods with label keys and values matching this selector.', { priority: 1 }),
  ],
  row(svc, now) {
    // Kubernetes prints clusterIPs[0]; objects written before dual-stack fields carry only clusterIP.
    const internalIP = svc.spec?.clusterIPs?.[0] || svc.spec?.clusterIP || '<none>';
    const ports = servicePortString(svc) || '<none>';
    return {
      cells: [
        svc.metadata?.name ?? '',
        str(svc.spec?.type),
        internalIP,
        // The apiserver's Table convertor prints with Wide set, so LB addresses are never clipped.
        serviceExternalIP(svc, true),
        ports,
        age(svc.metadata, now),
        formatLabels(svc.spec?.selector),
      ],
    };
  },
};

// ---------------------------------------------------------------------------
// Endpoints

function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** formatEndpoints: up to three `ip:port` pairs, then "+ N more..."; "<none>" without subsets. */
export function formatEndpoints(ep: Endpoints): string {
  const subsets = ep.subsets ?? [];
  if (subsets.length === 0) return '<none>';
  const list: string[] = [];
  const max = 3;
  let more = false;
  let count = 0;
  for (const ss of subsets) {
    const addresses = ss.addresses ?? [];
    const ports = ss.ports ?? [];
    if (ports.length === 0) {
      // Headless services may have no ports.
      count += addresses.length;
      for (const a of addresses) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(str(a.ip));
      }
      continue;
    }
    for (const port of ports) {
      count += addresses.length;
      for (const a of addresses) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(joinHostPort(str(a.ip), int(port.port)));
      }
    }
  }
  return listWithMore(list, more, count, max);
}

export const endpointsPrinter: Printer<Endpoints> = {
  columns: [NAME_COLUMN, column('Endpoints', 'string', 'The set of all endpoints is the union of all subsets.'), AGE_COLUMN],
  row: (ep, now) => ({ cells: [ep.metadata?.name ?? '', formatEndpoints(ep), age(ep.metadata, now)] }),
};

// ---------------------------------------------------------------------------
// Event

function formatEventSource(ev: Event): string {
  const component = ev.source?.component || ev.reportingComponent || '';
  const instance = ev.source?.host || ev.reportingInstance || '';
  return instance.length === 0 ? component : `${component}, ${instance}`;
}

export const eventPrinter: Printer<Event> = {
  columns: [
    column('Last Seen', 'string', 'The time at which the most recent occurrence of this event was recorded.'),
    column('Type', 'string', 'Type of this event (Normal, Warning), new types could be added in the future'),
    column('Reason', 'string', 'This should be a short, machine understandable string that gives the reason for the transition into the object\'s current status.'),
    column('Object', 'string', 'The object that this event is about.'),
    column('Subobject', 'string', 'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].', { priority: 1 }),
    column('Source', 'string', 'The component reporting this event. Should be a short machine understandable string.', { priority: 1 }),
    column('Message', 'string', 'A human-readable description of the status of this operation.'),
    column('First Seen', 'string', 'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)', { priority: 1 }),
    column('Count', 'string', 'The number of times this event has occurred.', { priority: 1 }),
    column('Name', 'string', NAME_DESCRIPTION, { format: 'name', priority: 1 }),
  ],
  row(ev, now) {
    let firstTimestamp = translateTimestampSince(ev.firstTimestamp, now);
    if (parseTime(ev.firstTimestamp) === undefined) firstTimestamp = translateTimestampSince(ev.eventTime, now);
    let lastTimestamp = translateTimestampSince(ev.lastTimestamp, now);
    if (parseTime(ev.lastTimestamp) === undefined) lastTimestamp = firstTimestamp;
    let count = int(ev.count);
    if (ev.series) {
      lastTimestamp = translateTimestampSince(ev.series.lastObservedTime, now);
      count = int(ev.series.count);
    } else if (count === 0) {
      // Singleton events of the events.k8s.io API carry no count.
      count = 1;
    }
    const involved = ev.involvedObject ?? {};
    const kind = str(involved.kind).toLowerCase();
    const target = involved.name ? `${kind}/${involved.name}` : kind;
    return {
      cells: [
        lastTimestamp,
        str(ev.type),
        str(ev.reason),
        target,
        str(involved.fieldPath),
        formatEventSource(ev),
        str(ev.message).trim(),
        firstTimestamp,
        count,
        ev.metadata?.name ?? '',
      ],
    };
  },
};

// ---------------------------------------------------------------------------
// ConfigMap, Secret

export const configMapPrinter: Printer<ConfigMap> = {
  columns: [NAME_COLUMN, column('Data', 'string', 'Data contains the configuration data.'), AGE_COLUMN],
  row: (cm, now) => ({
    cells: [cm.metadata?.name ?? '', Object.keys(cm.data ?? {}).length + Object.keys(cm.binaryData ?? {}).length, age(cm.metadata, now)],
  }),
};

export const secretPrinter: Printer<Secret> = {
  columns: [
    NAME_COLUMN,
    column('Type', 'string', 'Used to facilitate programmatic handling of secret data.'),
    column('Data', 'string', 'Data contains the secret data.'),
    AGE_COLUMN,
  ],
  row: (s, now) => ({ cells: [s.metadata?.name ?? '', str(s.type), Object.keys(s.data ?? {}).length, age(s.metadata, now)] }),
};

/** ServiceAccount (not served by kubemu yet): NAME SECRETS AGE. */
export const serviceAccountPrinter: Printer<{ metadata?: Namespace['metadata']; secrets?: unknown[] }> = {
  columns: [NAME_COLUMN, column('Secrets', 'string', 'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.'), AGE_COLUMN],
  row: (sa, now) => ({ cells: [sa.metadata?.name ?? '', (sa.secrets ?? []).length, age(sa.metadata, now)] }),
};

// ---------------------------------------------------------------------------
// PersistentVolume, PersistentVolumeClaim

const BETA_STORAGE_CLASS_ANNOTATION = 'volume.beta.kubernetes.io/storage-class';

/** GetAccessModesAsString: RWO, ROX, RWX, RWOP in that order, each once. */
export function accessModesString(modes: string[] | undefined): string {
  const set = new Set(modes ?? []);
  const out: string[] = [];
  if (set.has('ReadWriteOnce')) out.push('RWO');
  if (set.has('ReadOnlyMany')) out.push('ROX');
  if (set.has('ReadWriteMany')) out.push('RWX');
  if (set.has('ReadWriteOncePod')) out.push('RWOP');
  return out.join(',');
}

// A Quantity's canonical string; "0" for a missing one (Go's zero Quantity), the raw text if unparsable.
function quantityString(q: string | undefined): string {
  if (!q) return '0';
  try {
    return parseQuantity(q).toString();
  } catch {
    return q;
  }
}

export const persistentVolumePrinter: Printer<PersistentVolume> = {
  columns: [
    NAME_COLUMN,
    column('Capacity', 'string', "capacity is the description of the persistent volume's resources and capacity."),
    column('Access Modes', 'string', 'accessModes contains all ways the volume can be mounted.'),
    column('Reclaim Policy', 'string', 'persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.'),
    column('Status', 'string', 'phase indicates if a volume is available, bound to a claim, or released by a claim.'),
    column('Claim', 'string', 'claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.'),
    column('StorageClass', 'string', 'StorageClass of the pv'),
    column('VolumeAttributesClass', 'string', 'VolumeAttributesClass of the pv'),
    column('Reason', 'string', 'reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.'),
    AGE_COLUMN,
    column('VolumeMode', 'string', 'volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.', { priority: 1 }),
  ],
  row(pv, now) {
    const spec = pv.spec ?? {};
    const claim = spec.claimRef ? `${str(spec.claimRef.namespace)}/${str(spec.claimRef.name)}` : '';
    const phase = parseTime(pv.metadata?.deletionTimestamp) !== undefined ? 'Terminating' : str(pv.status?.phase);
    const annotations = pv.metadata?.annotations ?? {};
    const storageClass = Object.prototype.hasOwnProperty.call(annotations, BETA_STORAGE_CLASS_ANNOTATION)
      ? annotations[BETA_STORAGE_CLASS_ANNOTATION]
      : str(spec.storageClassName);
    return {
      cells: [
        pv.metadata?.name ?? '',
        quantityString(spec.capacity?.storage),
        accessModesString(spec.accessModes),
        str(spec.persistentVolumeReclaimPolicy),
        phase,
        claim,
        storageClass,
        '<unset>', // kubemu has no VolumeAttributesClass
        str(pv.status?.reason),
        age(pv.metadata, now),
        spec.volumeMode || '<unset>',
      ],
    };
  },
};

export const persistentVolumeClaimPrinter: Printer<PersistentVolumeClaim> = {
  columns: [
    NAME_COLUMN,
    column('Status', 'string', 'phase represents the current phase of PersistentVolumeClaim.'),
    column('Volume', 'string', 'volumeName is the binding reference to the PersistentVolume backing this claim.'),
    column('Capacity', 'string', 'capacity represents the actual resources of the underlying volume.'),
    column('Access Modes', 'string', 'accessModes contains the actual access modes the volume backing the PVC has.'),
    column('StorageClass', 'string', 'StorageClass of the pvc'),
    column('VolumeAttributesClass', 'string', 'VolumeAttributesClass of the pvc'),
    AGE_COLUMN,
    column('VolumeMode', 'string', 'volumeMode defines what type of volume is required by the claim.', { priority: 1 }),
  ],
  row(pvc, now) {
    const spec = pvc.spec ?? {};
    const phase = parseTime(pvc.metadata?.deletionTimestamp) !== undefined ? 'Terminating' : str(pvc.status?.phase);
    let capacity = '';
    let accessModes = '';
    if (spec.volumeName) {
      accessModes = accessModesString(pvc.status?.accessModes);
      capacity = quantityString(pvc.status?.capacity?.storage);
    }
    const annotations = pvc.metadata?.annotations ?? {};
    const storageClass = Object.prototype.hasOwnProperty.call(annotations, BETA_STORAGE_CLASS_ANNOTATION)
      ? annotations[BETA_STORAGE_CLASS_ANNOTATION]
      : str(spec.storageClassName);
    return {
      cells: [
        pvc.metadata?.name ?? '',
        phase,
        str(spec.volumeName),
        capacity,
        accessModes,
        storageClass,
        '<unset>', // kubemu has no VolumeAttributesClass
        age(pvc.metadata, now),
        spec.volumeMode || '<unset>',
      ],
    };
  },
};
