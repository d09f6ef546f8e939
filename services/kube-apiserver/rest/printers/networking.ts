// Printers of networking.k8s.io/v1, coordination.k8s.io/v1 and
// storage.k8s.io/v1 kinds, as Kubernetes' pkg/printers/internalversion prints
// them (v1.32).

import { Lease } from '../../../lib/generated/kubemu/coordination/v1/coordination';
import { ObjectMeta } from '../../../lib/generated/kubemu/meta/v1/meta';
import { Ingress, IngressClass, IngressRule } from '../../../lib/generated/kubemu/networking/v1/networking';
import { AGE_COLUMN, age, column, NAME_COLUMN, Printer, str } from './common';
import { loadBalancerStatusString } from './core';

/** formatHosts: up to three rule hosts, then "+ N more..."; "*" when no rule names a host. */
export function formatIngressHosts(rules: IngressRule[] | undefined): string {
  const list: string[] = [];
  const max = 3;
  let more = false;
  const all = rules ?? [];
  for (const rule of all) {
    if (list.length === max) more = true;
    if (!more && rule.host) list.push(rule.host);
  }
  if (list.length === 0) return '*';
  const ret = list.join(',');
  return more ? `${ret} + ${all.length - max} more...` : ret;
}

export const ingressPrinter: Printer<Ingress> = {
  columns: [
    NAME_COLUMN,
    column('Class', 'string', 'The name of the IngressClass resource that should be used for additional configuration'),
    column('Hosts', 'string', 'Hosts that incoming requests are matched against before the ingress rule'),
    column('Address', 'string', 'Address is a list containing ingress points for the load-balancer'),
    column('Ports', 'string', 'Ports of TLS configurations that open'),
    AGE_COLUMN,
  ],
  row(ing, now) {
    // spec.ingressClassName is a pointer in Kubernetes; kubemu's codec spells "unset" as the empty string.
    const className = ing.spec?.ingressClassName || '<none>';
    const ports = (ing.spec?.tls ?? []).length !== 0 ? '80, 443' : '80';
    return {
      cells: [
        ing.metadata?.name ?? '',
        className,
        formatIngressHosts(ing.spec?.rules),
        loadBalancerStatusString(ing.status?.loadBalancer?.ingress, true),
        ports,
        age(ing.metadata, now),
      ],
    };
  },
};

export const ingressClassPrinter: Printer<IngressClass> = {
  columns: [
    NAME_COLUMN,
    column('Controller', 'string', 'Controller that is responsible for handling this class'),
    column('Parameters', 'string', 'A reference to a resource with additional parameters'),
    AGE_COLUMN,
  ],
  row(ic, now) {
    const p = ic.spec?.parameters;
    let parameters = '<none>';
    if (p) {
      parameters = str(p.kind);
      if (p.apiGroup) parameters += `.${p.apiGroup}`;
      parameters += `/${str(p.name)}`;
    }
    return { cells: [ic.metadata?.name ?? '', str(ic.spec?.controller), parameters, age(ic.metadata, now)] };
  },
};

export const leasePrinter: Printer<Lease> = {
  columns: [NAME_COLUMN, column('Holder', 'string', 'holderIdentity contains the identity of the holder of a current lease.'), AGE_COLUMN],
  row: (l, now) => ({ cells: [l.metadata?.name ?? '', str(l.spec?.holderIdentity), age(l.metadata, now)] }),
};

/** A storage.k8s.io/v1 StorageClass as JSON (kubemu has no generated type for it yet). */
interface StorageClassLike {
  metadata?: ObjectMeta;
  provisioner?: string;
  reclaimPolicy?: string;
  volumeBindingMode?: string;
  allowVolumeExpansion?: boolean;
}

const DEFAULT_STORAGE_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';
const BETA_DEFAULT_STORAGE_CLASS_ANNOTATION = 'storageclass.beta.kubernetes.io/is-default-class';

/** StorageClass: NAME (with " (default)") PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE. */
export const storageClassPrinter: Printer<StorageClassLike> = {
  columns: [
    NAME_COLUMN,
    column('Provisioner', 'string', 'provisioner indicates the type of the provisioner.'),
    column('ReclaimPolicy', 'string', 'reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete.'),
    column('VolumeBindingMode', 'string', 'volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling feature.'),
    column('AllowVolumeExpansion', 'string', 'allowVolumeExpansion shows whether the storage class allow volume expand.'),
    AGE_COLUMN,
  ],
  row(sc, now) {
    const annotations = sc.metadata?.annotations ?? {};
    const isDefault = annotations[DEFAULT_STORAGE_CLASS_ANNOTATION] === 'true' || annotations[BETA_DEFAULT_STORAGE_CLASS_ANNOTATION] === 'true';
    const name = (sc.metadata?.name ?? '') + (isDefault ? ' (default)' : '');
    return {
      cells: [
        name,
        str(sc.provisioner),
        sc.reclaimPolicy || 'Delete',
        sc.volumeBindingMode || 'Immediate',
        sc.allowVolumeExpansion === true,
        age(sc.metadata, now),
      ],
    };
  },
};
