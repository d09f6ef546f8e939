/**
 * The PersistentVolume binder (pkg/controller/volume/persistentvolume pv_controller.go): binds
 * claims to volumes both ways (volume.spec.claimRef, claim.spec.volumeName, the bind-completed and
 * bound-by-controller annotations, phases), provisions a hostPath volume in the state folder for
 * a claim of the default class that no volume fits, and reclaims volumes whose claim is gone
 * (Retain: Released; Delete: the provisioned folder and the volume are deleted).
 *
 * Two reconcile loops as Kubernetes has (claims and volumes), one worker each, so that one claim
 * is never bound twice by concurrent syncs; a sync reads the informer caches, and a bind it has
 * just written is remembered until the cache shows it (the binder's "assume cache"), so a stale
 * cache cannot make it pick a second volume for the same claim.
 */
import { mkdirSync, rmSync } from 'fs';
import * as path from 'path';
import { ApiClient } from '../../lib/apiclient';
import { isReason } from '../../lib/errors';
import { EventRecorder } from '../../lib/events';
import { PersistentVolume, PersistentVolumeClaim } from '../../lib/generated/kubemu/core/v1/core';
import { Informer } from '../../lib/informer';
import { Logger } from '../../lib/log';
import { objectKey, resourceForCase } from '../../lib/resources';
import { ControllerDescriptor } from '../context';
import { ReconcileLoop } from '../loop';
import {
  ANN_BETA_STORAGE_PROVISIONER,
  ANN_BIND_COMPLETED,
  ANN_BOUND_BY_CONTROLLER,
  ANN_DYNAMICALLY_PROVISIONED,
  ANN_STORAGE_PROVISIONER,
  claimClass,
  DEFAULT_STORAGE_CLASS,
  findBestMatch,
  HOSTPATH_PROVISIONER,
  isVolumeBoundToClaim,
  volumeSatisfiesClaim,
} from './matching';

const PV = resourceForCase('persistentVolume');
const PVC = resourceForCase('persistentVolumeClaim');
export const COMPONENT = 'persistentvolume-controller';

type Lister<T> = { get(key: string): T | undefined; list(): T[] };

export interface BinderDeps {
  client: Pick<ApiClient, 'create' | 'get' | 'update' | 'updateStatus' | 'delete'>;
  volumes: Lister<PersistentVolume>;
  claims: Lister<PersistentVolumeClaim>;
  recorder: Pick<EventRecorder, 'record'>;
  log: Logger;
  /** Folder under which provisioned volumes live (`<stateDir>/volumes`). */
  volumesDir: string;
  now(): number;
  /** Asks for a claim to be synced again (a volume sync found the claim's half to do). */
  enqueueClaim(key: string): void;
}

const clone = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T;

/** The binder's sync functions over caches and a client; see the file comment. */
export class PersistentVolumeBinder {
  /** claim uid → volume name bound by this controller but possibly not in the caches yet. */
  private readonly assumed = new Map<string, string>();

  constructor(private readonly d: BinderDeps) {}

  /** syncClaim for key `namespace/name`. Throws to be retried (conflicts, API errors). */
  async syncClaim(key: string): Promise<void> {
    const claim = this.d.claims.get(key);
    if (!claim) return;
    try {
      await this.syncClaimObject(claim);
    } catch (err) {
      if (!isReason(err, 'Conflict')) throw err;
      // The cached claim is behind (often behind our own last write): once more on the latest.
      const latest = await this.d.client.get(PVC, claim.metadata?.namespace ?? '', claim.metadata?.name ?? '');
      await this.syncClaimObject(latest);
    }
  }

  private async syncClaimObject(claim: PersistentVolumeClaim): Promise<void> {
    if (claim.metadata?.deletionTimestamp) return;
    if (claim.metadata?.annotations?.[ANN_BIND_COMPLETED] !== 'yes') return this.syncUnboundClaim(claim);
    return this.syncBoundClaim(claim);
  }

  private async syncUnboundClaim(claim: PersistentVolumeClaim): Promise<void> {
    const uid = claim.metadata?.uid ?? '';
    const wanted = claim.spec?.volumeName || this.assumed.get(uid);
    if (!wanted) {
      const volume = findBestMatch(claim, this.d.volumes.list());
      if (volume) return this.bind(volume, claim);
      const cls = claimClass(claim);
      if (cls === DEFAULT_STORAGE_CLASS) return this.provision(claim);
      if (cls === '') {
        await this.event(claim, 'Normal', 'FailedBinding', 'no persistent volumes available for this claim and no storage class is set');
      } else {
        await this.event(claim, 'Warning', 'ProvisioningFailed', `storageclass.storage.k8s.io "${cls}" not found`);
      }
      return this.setClaimPhase(claim, 'Pending');
    }
    const volume = this.d.volumes.get(wanted);
    if (!volume) {
      // The named volume does not exist (yet): the claim waits, Pending.
      return this.setClaimPhase(claim, 'Pending');
    }
    if (!volume.spec?.claimRef) {
      const why = volumeSatisfiesClaim(volume, claim);
      if (why) {
        await this.event(claim, 'Warning', 'VolumeMismatch', `Cannot bind to requested volume "${wanted}": ${why}`);
        return this.setClaimPhase(claim, 'Pending');
      }
      return this.bind(volume, claim);
    }
    if (isVolumeBoundToClaim(volume, claim)) return this.bind(volume, claim);
    // The claim names a volume that is bound to another claim: it waits.
    if (!claim.spec?.volumeName) this.assumed.delete(uid);
    return this.setClaimPhase(claim, 'Pending');
  }

  private async syncBoundClaim(claim: PersistentVolumeClaim): Promise<void> {
    this.assumed.delete(claim.metadata?.uid ?? '');
    const name = claim.spec?.volumeName;
    if (!name) {
      await this.setClaimPhase(claim, 'Lost');
      await this.event(claim, 'Warning', 'ClaimLost', 'Bound claim has lost reference to PersistentVolume. Data on the volume is lost!');
      return;
    }
    const volume = this.d.volumes.get(name);
    if (!volume) {
      if (claim.status?.phase !== 'Lost') {
        await this.setClaimPhase(claim, 'Lost');
        await this.event(claim, 'Warning', 'ClaimLost', 'Bound claim has lost its PersistentVolume. Data on the volume is lost!');
      }
      return;
    }
    if (!volume.spec?.claimRef || isVolumeBoundToClaim(volume, claim)) return this.bind(volume, claim);
    if (claim.status?.phase !== 'Lost') {
      await this.setClaimPhase(claim, 'Lost');
      await this.event(claim, 'Warning', 'ClaimMisbound', 'Two claims are bound to the same volume, this one is bound incorrectly');
    }
  }

  /** syncVolume for a volume name. Throws to be retried. */
  async syncVolume(name: string): Promise<void> {
    const volume = this.d.volumes.get(name);
    if (!volume || volume.metadata?.deletionTimestamp) return;
    const ref = volume.spec?.claimRef;
    if (!ref) {
      await this.setVolumePhase(volume, 'Available');
      return;
    }
    if (!ref.uid) {
      // Pre-bound by name to a claim: Available until that claim's sync binds it.
      this.d.enqueueClaim(`${ref.namespace}/${ref.name}`);
      await this.setVolumePhase(volume, 'Available');
      return;
    }
    let claim = this.d.claims.get(`${ref.namespace}/${ref.name}`);
    if (claim && claim.metadata?.uid !== ref.uid) claim = undefined; // deleted and recreated: not ours
    if (!claim) {
      this.forgetVolume(name);
      let v = volume;
      if (v.status?.phase !== 'Released' && v.status?.phase !== 'Failed') v = await this.setVolumePhase(v, 'Released');
      return this.reclaim(v);
    }
    if (!claim.spec?.volumeName) {
      // Bound by this controller and the claim's half is still to be written (or not in the cache yet).
      this.d.enqueueClaim(objectKey(claim));
      return;
    }
    if (claim.spec.volumeName === name) {
      await this.setVolumePhase(volume, 'Bound');
      return;
    }
    // The claim is bound to another volume: a volume we bound is released back to the pool.
    if (volume.metadata?.annotations?.[ANN_BOUND_BY_CONTROLLER] === 'yes') {
      const v = clone(volume);
      delete v.spec!.claimRef;
      delete v.metadata!.annotations![ANN_BOUND_BY_CONTROLLER];
      const updated = await this.d.client.update(PV, v);
      await this.setVolumePhase(updated, 'Available');
    }
  }

  /**
   * bind (pv_controller.bind): the volume's claimRef (bound-by-controller when we set it), the
   * volume's phase Bound, the claim's volumeName and annotations, then the claim's status. Each
   * step is skipped when already done, so a bind interrupted by a conflict resumes.
   */
  private async bind(volume: PersistentVolume, claim: PersistentVolumeClaim): Promise<void> {
    const name = volume.metadata?.name ?? '';
    const uid = claim.metadata?.uid ?? '';
    let v = volume;
    const ref = v.spec?.claimRef;
    if (!ref || ref.uid !== uid || ref.name !== claim.metadata?.name) {
      const next = clone(v);
      next.spec ??= {};
      if (!ref) (next.metadata!.annotations ??= {})[ANN_BOUND_BY_CONTROLLER] = 'yes';
      next.spec.claimRef = {
        kind: 'PersistentVolumeClaim',
        apiVersion: 'v1',
        namespace: claim.metadata?.namespace,
        name: claim.metadata?.name,
        uid,
        resourceVersion: claim.metadata?.resourceVersion,
      };
      v = await this.d.client.update(PV, next);
      this.assumed.set(uid, name);
    }
    v = await this.setVolumePhase(v, 'Bound');

    let c = claim;
    const ann = c.metadata?.annotations ?? {};
    if (c.spec?.volumeName !== name || ann[ANN_BIND_COMPLETED] !== 'yes') {
      const next = clone(c);
      next.spec ??= {};
      const a = (next.metadata!.annotations ??= {});
      if (next.spec.volumeName !== name) {
        next.spec.volumeName = name;
        a[ANN_BOUND_BY_CONTROLLER] = 'yes';
      }
      a[ANN_BIND_COMPLETED] = 'yes';
      c = await this.d.client.update(PVC, next);
    }
    const st = c.status ?? {};
    const capacity = v.spec?.capacity ?? {};
    const modes = v.spec?.accessModes ?? [];
    if (st.phase !== 'Bound' || JSON.stringify(st.capacity ?? {}) !== JSON.stringify(capacity) || JSON.stringify(st.accessModes ?? []) !== JSON.stringify(modes)) {
      const next = clone(c);
      next.status = { ...(next.status ?? {}), phase: 'Bound', capacity: { ...capacity }, accessModes: [...modes] };
      await this.d.client.updateStatus(PVC, next);
      this.d.log.info('claim bound', { controller: COMPONENT, claim: objectKey(claim), volume: name });
    }
    // `assumed` keeps the choice until a sync sees the claim bound (syncBoundClaim forgets it), so
    // a sync on a cache that still shows the claim unbound binds it to this same volume.
  }

  /**
   * provisionClaimOperation with the hostPath provisioner: the claim is marked as waiting for it
   * (storage-provisioner annotations), then a volume `pvc-<claim uid>` backed by the folder
   * `<volumesDir>/pvc-<uid>` is created, already pre-bound to the claim (claimRef with uid), with
   * the class's reclaim policy Delete. Creating an existing volume counts as done.
   */
  private async provision(claim: PersistentVolumeClaim): Promise<void> {
    const uid = claim.metadata?.uid ?? '';
    const name = `pvc-${uid}`;
    let c = claim;
    if (c.metadata?.annotations?.[ANN_STORAGE_PROVISIONER] !== HOSTPATH_PROVISIONER) {
      const next = clone(c);
      const a = (next.metadata!.annotations ??= {});
      a[ANN_STORAGE_PROVISIONER] = HOSTPATH_PROVISIONER;
      a[ANN_BETA_STORAGE_PROVISIONER] = HOSTPATH_PROVISIONER;
      c = await this.d.client.update(PVC, next);
    }
    const dir = path.join(this.d.volumesDir, name);
    mkdirSync(dir, { recursive: true });
    const volume: PersistentVolume = {
      metadata: {
        name,
        annotations: { [ANN_DYNAMICALLY_PROVISIONED]: HOSTPATH_PROVISIONER, [ANN_BOUND_BY_CONTROLLER]: 'yes', 'kubernetes.io/createdby': 'hostpath-dynamic-provisioner' },
      },
      spec: {
        capacity: { storage: c.spec?.resources?.requests?.storage ?? '1Gi' },
        accessModes: [...(c.spec?.accessModes ?? ['ReadWriteOnce'])],
        hostPath: { path: dir, type: '' },
        persistentVolumeReclaimPolicy: 'Delete',
        storageClassName: claimClass(c),
        volumeMode: c.spec?.volumeMode || 'Filesystem',
        claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: c.metadata?.namespace, name: c.metadata?.name, uid, resourceVersion: c.metadata?.resourceVersion },
      },
    };
    try {
      await this.d.client.create(PV, volume);
    } catch (err) {
      if (!isReason(err, 'AlreadyExists')) {
        await this.event(c, 'Warning', 'ProvisioningFailed', `Failed to provision volume with StorageClass "${claimClass(c)}": ${(err as Error).message}`);
        throw err;
      }
      return;
    }
    this.assumed.set(uid, name);
    this.d.log.info('volume provisioned', { controller: COMPONENT, claim: objectKey(c), volume: name, path: dir });
    await this.event(c, 'Normal', 'ProvisioningSucceeded', `Successfully provisioned volume ${name} using ${HOSTPATH_PROVISIONER}`);
    // The claim is bound once the new volume reaches the cache (its add enqueues the claim).
  }

  /** reclaimVolume: Retain keeps the Released volume; Delete removes a provisioned folder and the volume. */
  private async reclaim(volume: PersistentVolume): Promise<void> {
    const name = volume.metadata?.name ?? '';
    const policy = volume.spec?.persistentVolumeReclaimPolicy || 'Retain';
    if (policy === 'Retain') return;
    if (policy !== 'Delete') {
      await this.event(volume, 'Warning', 'VolumeUnknownReclaimPolicy', 'Volume has unrecognized PersistentVolumeReclaimPolicy');
      return;
    }
    const provisioned = volume.metadata?.annotations?.[ANN_DYNAMICALLY_PROVISIONED] === HOSTPATH_PROVISIONER;
    const dir = volume.spec?.hostPath?.path ?? '';
    const ours = provisioned && path.dirname(path.resolve(dir)) === path.resolve(this.d.volumesDir);
    if (!ours) {
      if (volume.status?.phase !== 'Failed') {
        await this.event(volume, 'Warning', 'VolumeFailedDelete', `error getting deleter volume plugin for volume "${name}": no deletable volume plugin matched`);
        await this.setVolumePhase(volume, 'Failed');
      }
      return;
    }
    rmSync(dir, { recursive: true, force: true });
    try {
      await this.d.client.delete(PV, '', name);
    } catch (err) {
      if (!isReason(err, 'NotFound')) throw err;
    }
    this.d.log.info('volume deleted', { controller: COMPONENT, volume: name, path: dir });
  }

  /** Drops bind choices naming a volume that is gone or released. */
  forgetVolume(name: string): void {
    for (const [uid, v] of this.assumed) if (v === name) this.assumed.delete(uid);
  }

  /** Drops the bind choice of a deleted claim. */
  forgetClaim(uid: string): void {
    this.assumed.delete(uid);
  }

  private async setVolumePhase(volume: PersistentVolume, phase: string): Promise<PersistentVolume> {
    if (volume.status?.phase === phase) return volume;
    const next = clone(volume);
    next.status = { ...(next.status ?? {}), phase, lastPhaseTransitionTime: new Date(this.d.now()).toISOString().replace(/\.\d+Z$/, 'Z') };
    return this.d.client.updateStatus(PV, next);
  }

  private async setClaimPhase(claim: PersistentVolumeClaim, phase: string): Promise<void> {
    if (claim.status?.phase === phase) return;
    const next = clone(claim);
    next.status = { ...(next.status ?? {}), phase };
    await this.d.client.updateStatus(PVC, next);
  }

  private event(obj: PersistentVolume | PersistentVolumeClaim, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    return this.d.recorder.record(obj, type, reason, '', message);
  }
}

/** The persistentvolume-binder controller (kube-controller-manager's name for it). */
export const persistentVolumeBinderController: ControllerDescriptor = {
  name: 'persistentvolume-binder',
  create(ctx) {
    const volumes: Informer<'persistentVolume'> = ctx.informers.informer('persistentVolume');
    const claims: Informer<'persistentVolumeClaim'> = ctx.informers.informer('persistentVolumeClaim');
    const log = ctx.log.with({ controller: COMPONENT });
    let binder: PersistentVolumeBinder;
    const claimLoop = new ReconcileLoop({ name: `${COMPONENT}-claims`, workers: 1, log, reconcile: (k) => binder.syncClaim(k) });
    const volumeLoop = new ReconcileLoop({ name: `${COMPONENT}-volumes`, workers: 1, log, reconcile: (k) => binder.syncVolume(k) });
    binder = new PersistentVolumeBinder({
      client: ctx.client,
      volumes,
      claims,
      recorder: ctx.recorder(COMPONENT),
      log,
      volumesDir: path.resolve(ctx.stateDir, 'volumes'),
      now: ctx.now,
      enqueueClaim: (k) => claimLoop.enqueue(k),
    });
    const claimOfVolume = (v: PersistentVolume): void => {
      const ref = v.spec?.claimRef;
      if (ref?.name) claimLoop.enqueue(`${ref.namespace}/${ref.name}`);
    };
    volumes.addHandlers({
      onAdd: (v) => {
        volumeLoop.enqueue(objectKey(v));
        claimOfVolume(v);
      },
      onUpdate: (_o, v) => {
        volumeLoop.enqueue(objectKey(v));
        claimOfVolume(v);
      },
      onDelete: (v) => {
        binder.forgetVolume(objectKey(v));
        claimOfVolume(v);
      },
    });
    // Any volume may now fit an unbound claim: a new or changed volume re-syncs pending claims too.
    const pendingClaims = (): void => {
      for (const c of claims.list()) if (c.status?.phase === 'Pending') claimLoop.enqueue(objectKey(c));
    };
    volumes.addHandlers({ onAdd: pendingClaims, onUpdate: (o, n) => { if (o.status?.phase !== 'Available' && n.status?.phase === 'Available') pendingClaims(); } });
    claims.addHandlers({
      onAdd: (c) => claimLoop.enqueue(objectKey(c)),
      onUpdate: (_o, c) => {
        claimLoop.enqueue(objectKey(c));
        if (c.spec?.volumeName) volumeLoop.enqueue(c.spec.volumeName);
      },
      onDelete: (c) => {
        binder.forgetClaim(c.metadata?.uid ?? '');
        if (c.spec?.volumeName) volumeLoop.enqueue(c.spec.volumeName);
        // A volume pre-bound to (or provisioned for) this claim but not yet in its volumeName.
        const uid = c.metadata?.uid;
        for (const v of volumes.list()) if (v.spec?.claimRef?.uid === uid) volumeLoop.enqueue(objectKey(v));
      },
    });
    return {
      run() {
        claimLoop.run();
        volumeLoop.run();
        return {
          async stop() {
            await Promise.all([claimLoop.stop(), volumeLoop.stop()]);
          },
        };
      },
    };
  },
};
