/**
 * Adoption and release of dependents by a controller (pkg/controller/controller_ref_manager.go's
 * ClaimObject): an orphan that matches the owner's selector is adopted (an ownerReference with
 * controller: true is added), a dependent of this owner that stops matching is released (the
 * reference is removed), and a dependent of another controller is left alone. Shared by the
 * ReplicaSet controller (claiming pods) and the Deployment controller (claiming ReplicaSets).
 */
import { ObjectMeta, OwnerReference } from '../../lib/generated/kubemu/meta/v1/meta';
import { isReason } from '../../lib/errors';
import { LabelSelector } from '../../lib/labels';
import { controllerOf } from '../podutil';

export interface Claimable {
  kind?: string;
  metadata?: ObjectMeta;
}

export interface ClaimOptions {
  /** The owner (its metadata as cached). */
  owner: { metadata?: ObjectMeta };
  /** The controller reference to add on adoption. */
  ref: OwnerReference;
  selector: LabelSelector;
  /**
   * Called (once, lazily) before the first adoption: throws when the owner may no longer adopt
   * (RecheckDeletionTimestamp: a fresh read shows it gone, replaced or being deleted).
   */
  canAdopt: () => Promise<void>;
  /** Writes a JSON merge patch to a dependent (pinned to its resourceVersion). */
  patch: (obj: Claimable, patch: unknown) => Promise<void>;
}

/**
 * Returns the dependents of `objects` that belong to the owner after adoption and release.
 * Throws the first adoption or release error other than NotFound (and Invalid on release) after
 * trying every object; a Conflict means the cache was stale and the caller should retry.
 */
export async function claimObjects<T extends Claimable>(objects: T[], opts: ClaimOptions): Promise<T[]> {
  const ownerUid = opts.owner.metadata?.uid;
  const ownerDeleting = !!opts.owner.metadata?.deletionTimestamp;
  const claimed: T[] = [];
  const errs: unknown[] = [];
  let adoptable: Promise<void> | undefined;
  for (const obj of objects) {
    const meta = obj.metadata ?? {};
    const ref = controllerOf(meta);
    const matches = opts.selector.matches(meta.labels);
    if (ref) {
      if (ref.uid !== ownerUid) continue;
      if (matches) {
        claimed.push(obj);
        continue;
      }
      if (ownerDeleting) continue;
      try {
        const rest = (meta.ownerReferences ?? []).filter((r) => r.uid !== ownerUid);
        await opts.patch(obj, { metadata: { ownerReferences: rest.length ? rest : null, resourceVersion: meta.resourceVersion } });
      } catch (err) {
        // Gone, or being deleted (Invalid): either way no longer ours.
        if (!isReason(err, 'NotFound') && !isReason(err, 'Invalid')) errs.push(err);
      }
      continue;
    }
    if (ownerDeleting || !matches || meta.deletionTimestamp) continue;
    if (opts.owner.metadata?.namespace && opts.owner.metadata.namespace !== meta.namespace) continue;
    try {
      adoptable ??= opts.canAdopt();
      await adoptable;
      await opts.patch(obj, { metadata: { ownerReferences: [...(meta.ownerReferences ?? []), opts.ref], resourceVersion: meta.resourceVersion } });
      claimed.push(obj);
    } catch (err) {
      if (!isReason(err, 'NotFound')) errs.push(err);
    }
  }
  if (errs.length) throw errs[0];
  return claimed;
}
