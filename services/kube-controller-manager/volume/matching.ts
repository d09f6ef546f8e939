/**
 * How the PersistentVolume binder chooses a volume for a claim (pkg/controller/volume/
 * persistentvolume/util FindMatchingVolume and checkVolumeSatisfyClaim), and the storage-class
 * rules kubemu uses in place of StorageClass objects (which it does not serve).
 */
import { PersistentVolume, PersistentVolumeClaim } from '../../lib/generated/kubemu/core/v1/core';
import { labelSelectorFromMeta } from '../../lib/labels';
import { parseQuantity, Quantity } from '../../lib/quantity';

/**
 * The default storage class. kubemu has no StorageClass resource, so this name stands for the one
 * class a cluster like kind ships (`standard`, marked default): a claim naming it, or naming no
 * class at all (what the DefaultStorageClass admission plugin would have filled in), is
 * provisioned by the in-tree hostPath provisioner when no existing volume fits. A claim with
 * storageClassName "" asks for no class: it binds only to volumes without a class and is never
 * provisioned.
 */
export const DEFAULT_STORAGE_CLASS = 'standard';

/** The provisioner of the default class: Kubernetes' in-tree hostPath provisioner. */
export const HOSTPATH_PROVISIONER = 'kubernetes.io/host-path';

export const ANN_BIND_COMPLETED = 'pv.kubernetes.io/bind-completed';
export const ANN_BOUND_BY_CONTROLLER = 'pv.kubernetes.io/bound-by-controller';
export const ANN_DYNAMICALLY_PROVISIONED = 'pv.kubernetes.io/provisioned-by';
export const ANN_STORAGE_PROVISIONER = 'volume.kubernetes.io/storage-provisioner';
export const ANN_BETA_STORAGE_PROVISIONER = 'volume.beta.kubernetes.io/storage-provisioner';

/** The class a claim asks for: unset means the default class, "" means none. */
export function claimClass(claim: PersistentVolumeClaim): string {
  const c = claim.spec?.storageClassName;
  return c === undefined || c === null ? DEFAULT_STORAGE_CLASS : c;
}

/** The class of a volume ("" when it has none). */
export function volumeClass(volume: PersistentVolume): string {
  return volume.spec?.storageClassName ?? '';
}

function quantityOr(s: string | undefined, fallback: string): Quantity {
  try {
    return parseQuantity(s ?? fallback);
  } catch {
    return parseQuantity(fallback);
  }
}

/** The storage a claim requests (0 when unset or malformed). */
export function claimRequest(claim: PersistentVolumeClaim): Quantity {
  return quantityOr(claim.spec?.resources?.requests?.storage, '0');
}

/** The storage a volume offers (0 when unset or malformed). */
export function volumeCapacity(volume: PersistentVolume): Quantity {
  return quantityOr(volume.spec?.capacity?.storage, '0');
}

/** Whether the volume offers every access mode the claim asks for. */
export function accessModesContain(volume: PersistentVolume, claim: PersistentVolumeClaim): boolean {
  const have = new Set(volume.spec?.accessModes ?? []);
  return (claim.spec?.accessModes ?? []).every((m) => have.has(m));
}

function volumeMode(m: string | undefined): string {
  return m || 'Filesystem';
}

/** Whether the volume's claimRef names this claim (any uid when the claimRef has none: pre-bound by name). */
export function isVolumeBoundToClaim(volume: PersistentVolume, claim: PersistentVolumeClaim): boolean {
  const ref = volume.spec?.claimRef;
  if (!ref) return false;
  if (ref.name !== claim.metadata?.name || (ref.namespace ?? '') !== (claim.metadata?.namespace ?? '')) return false;
  return !ref.uid || ref.uid === claim.metadata?.uid;
}

/**
 * Why `volume` cannot serve `claim` (checkVolumeSatisfyClaim: capacity, class, volume mode,
 * access modes), or undefined when it can. Used for a claim that names its volume.
 */
export function volumeSatisfiesClaim(volume: PersistentVolume, claim: PersistentVolumeClaim): string | undefined {
  const requested = claimRequest(claim);
  const capacity = volumeCapacity(volume);
  if (capacity.cmp(requested) < 0) return 'requested PV is too small';
  if (volumeClass(volume) !== claimClass(claim)) return 'storageClassName does not match';
  if (volumeMode(volume.spec?.volumeMode) !== volumeMode(claim.spec?.volumeMode)) return 'incompatible volumeMode';
  if (!accessModesContain(volume, claim)) return 'incompatible accessMode';
  return undefined;
}

/**
 * The best volume for an unbound claim (FindMatchingVolume): a volume pre-bound to this claim wins
 * at once; otherwise, among Available volumes not being deleted, without claimRef, of the same
 * volume mode and class, matching the claim's selector, offering every requested access mode and
 * at least the requested storage, the smallest (ties: fewer access modes, then name, so the choice
 * is stable). Undefined when none fits. Pure.
 */
export function findBestMatch(claim: PersistentVolumeClaim, volumes: readonly PersistentVolume[]): PersistentVolume | undefined {
  const requested = claimRequest(claim);
  const cls = claimClass(claim);
  const selector = claim.spec?.selector ? labelSelectorFromMeta(claim.spec.selector) : undefined;
  let best: { v: PersistentVolume; cap: Quantity } | undefined;
  for (const v of volumes) {
    if (volumeMode(v.spec?.volumeMode) !== volumeMode(claim.spec?.volumeMode)) continue;
    if (v.metadata?.deletionTimestamp) continue;
    if (v.spec?.claimRef) {
      if (isVolumeBoundToClaim(v, claim)) return v;
      continue;
    }
    if ((v.status?.phase ?? '') !== 'Available') continue;
    if (selector && !selector.matches(v.metadata?.labels ?? {})) continue;
    if (volumeClass(v) !== cls) continue;
    if (!accessModesContain(v, claim)) continue;
    const cap = volumeCapacity(v);
    if (cap.cmp(requested) < 0) continue;
    if (!best) {
      best = { v, cap };
      continue;
    }
    const c = cap.cmp(best.cap);
    const fewerModes = (v.spec?.accessModes ?? []).length - (best.v.spec?.accessModes ?? []).length;
    if (c < 0 || (c === 0 && (fewerModes < 0 || (fewerModes === 0 && (v.metadata?.name ?? '') < (best.v.metadata?.name ?? ''))))) best = { v, cap };
  }
  return best?.v;
}
