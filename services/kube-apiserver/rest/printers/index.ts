// The table of Table printers, by kind: one entry per kind kubemu serves
// (services/lib/resources.ts) plus a few Kubernetes kinds kubemu may serve
// later, and the generic NAME AGE printer for anything else.

import { ObjectMeta } from '../../../lib/generated/kubemu/meta/v1/meta';
import { AGE_COLUMN, age, NAME_COLUMN, Printer } from './common';
import {
  configMapPrinter,
  endpointsPrinter,
  eventPrinter,
  namespacePrinter,
  nodePrinter,
  persistentVolumeClaimPrinter,
  persistentVolumePrinter,
  secretPrinter,
  serviceAccountPrinter,
  servicePrinter,
} from './core';
import { ingressClassPrinter, ingressPrinter, leasePrinter, storageClassPrinter } from './networking';
import { podPrinter } from './pod';
import { cronJobPrinter, daemonSetPrinter, deploymentPrinter, jobPrinter, replicaSetPrinter, statefulSetPrinter } from './workloads';

export * from './common';

/** Printers by Kind. */
export const PRINTERS: { readonly [kind: string]: Printer } = {
  Pod: podPrinter,
  Node: nodePrinter,
  Namespace: namespacePrinter,
  Service: servicePrinter,
  Endpoints: endpointsPrinter,
  Event: eventPrinter,
  ConfigMap: configMapPrinter,
  Secret: secretPrinter,
  ServiceAccount: serviceAccountPrinter,
  PersistentVolume: persistentVolumePrinter,
  PersistentVolumeClaim: persistentVolumeClaimPrinter,
  Deployment: deploymentPrinter,
  ReplicaSet: replicaSetPrinter,
  StatefulSet: statefulSetPrinter,
  DaemonSet: daemonSetPrinter,
  Job: jobPrinter,
  CronJob: cronJobPrinter,
  Ingress: ingressPrinter,
  IngressClass: ingressClassPrinter,
  Lease: leasePrinter,
  StorageClass: storageClassPrinter,
};

/** The fallback for kinds without a printer: NAME AGE, as kubectl shows a resource without printer columns. */
export const GENERIC_PRINTER: Printer<{ metadata?: ObjectMeta }> = {
  columns: [NAME_COLUMN, AGE_COLUMN],
  row: (o, now) => ({ cells: [o.metadata?.name ?? '', age(o.metadata, now)] }),
};

/** The printer for `kind`, or GENERIC_PRINTER. */
export function printerFor(kind: string): Printer {
  return Object.prototype.hasOwnProperty.call(PRINTERS, kind) ? PRINTERS[kind] : GENERIC_PRINTER;
}
