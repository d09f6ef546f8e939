/**
 * A pod's volumes on the host, as Kubernetes' volume plugins lay them out
 * under /var/lib/kubelet/pods/<uid>/volumes/<plugin>/<name>: emptyDir,
 * hostPath, configMap, secret, downwardAPI, projected and
 * persistentVolumeClaim. Containers are processes here, so a "mount" is a
 * host path the runtime hands to the container (runtime Mount).
 *
 * configMap, secret, downwardAPI and projected contents are written the way
 * k8s' AtomicWriter does: files live in a timestamped folder, `..data` is a
 * symlink to it and every user-visible name is a symlink through `..data`,
 * so that updateVolumes swaps a whole new version in with one rename.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Container, KeyToPath, PersistentVolumeClaim, Pod, Volume } from '../lib/generated/kubemu/core/v1/core';
import { Mount } from '../lib/generated/kubemu/runtime/v1/runtime';
import { containerResourceValue, CreateContainerConfigError, DownwardAPIContext, expand, mappingFuncFor, ObjectLookup, podFieldValue } from './envvars';

/** A volume could not be set up; the pod stays ContainerCreating and a FailedMount event carries the message. */
export class VolumeSetupError extends Error {
  readonly reason = 'FailedMount';
  constructor(
    readonly volumeName: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'VolumeSetupError';
  }
}

/** The kubelet's informer caches; persistentVolumeClaim, when given, lets errors tell "not found" from "not bound". */
export interface VolumeLookup extends ObjectLookup {
  persistentVolumeClaim?(namespace: string, name: string): PersistentVolumeClaim | undefined;
}

export interface VolumeOptions extends DownwardAPIContext {
  /** The pod's own folder (k8s: /var/lib/kubelet/pods/<uid>); volumes go under `<podDir>/volumes`. */
  podDir: string;
  lookup: VolumeLookup;
  /** The host folder backing a bound claim, or undefined when the claim is missing or not bound. */
  pvcHostPath(namespace: string, claimName: string): string | undefined;
}

export interface PreparedVolumes {
  /** Host path of every volume of the pod, by volume name. */
  volumes: Map<string, string>;
  /**
   * The runtime mounts for one container's volumeMounts, in order. subPath
   * (or subPathExpr, expanded against `env` as Kubernetes does) is joined to
   * the volume's path and created as a folder when missing. configMap,
   * secret, downwardAPI and projected volumes, and claims with readOnly, are
   * always read-only. Throws CreateContainerConfigError for a mount of an
   * unknown volume or a subPath that is absolute, has `..` or leaves the
   * volume through a symlink.
   */
  mountsFor(container: Container, env?: Array<{ key: string; value: string }>): Mount[];
}

/** A file to write: content and permission bits. */
export interface FileProjection {
  data: Buffer;
  mode: number;
}

const DEFAULT_MODE = 0o644;
const PLUGIN_DIRS = {
  emptyDir: 'kubernetes.io~empty-dir',
  configMap: 'kubernetes.io~configmap',
  secret: 'kubernetes.io~secret',
  downwardAPI: 'kubernetes.io~downward-api',
  projected: 'kubernetes.io~projected',
} as const;

function volumesDir(podDir: string): string {
  return path.join(podDir, 'volumes');
}

function setupFailed(name: string, message: string, cause?: unknown): VolumeSetupError {
  return new VolumeSetupError(name, `MountVolume.SetUp failed for volume "${name}" : ${message}`, cause === undefined ? undefined : { cause });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------
// Payloads (k8s' MakePayload of the configmap, secret, downwardapi and projected plugins).

function keyedPayload(
  kind: 'configmap' | 'secret',
  data: Map<string, Buffer>,
  items: KeyToPath[] | undefined,
  defaultMode: number,
  optional: boolean,
  payload: Map<string, FileProjection>,
): void {
  if (!items || items.length === 0) {
    for (const [k, v] of data) payload.set(k, { data: v, mode: defaultMode });
    return;
  }
  for (const item of items) {
    const v = data.get(item.key ?? '');
    if (v === undefined) {
      if (optional) continue;
      throw new Error(kind === 'configmap' ? `configmap references non-existent config key: ${item.key ?? ''}` : `references non-existent secret key: ${item.key ?? ''}`);
    }
    payload.set(item.path ?? '', { data: v, mode: item.mode ?? defaultMode });
  }
}

function configMapData(namespace: string, name: string, optional: boolean, lookup: ObjectLookup): Map<string, Buffer> | undefined {
  const cm = lookup.configMap(namespace, name);
  if (!cm) {
    if (optional) return undefined;
    throw new Error(`configmap "${name}" not found`);
  }
  const data = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.data ?? {})) data.set(k, Buffer.from(v, 'utf8'));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) data.set(k, Buffer.from(v));
  return data;
}

function secretData(namespace: string, name: string, optional: boolean, lookup: ObjectLookup): Map<string, Buffer> | undefined {
  const secret = lookup.secret(namespace, name);
  if (!secret) {
    if (optional) return undefined;
    throw new Error(`secret "${name}" not found`);
  }
  return new Map(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v)]));
}

function downwardAPIPayload(pod: Pod, items: Volume['downwardAPI'], defaultMode: number, ctx: DownwardAPIContext, payload: Map<string, FileProjection>): void {
  const errs: string[] = [];
  for (const item of items?.items ?? []) {
    try {
      let value = '';
      if (item.fieldRef) value = podFieldValue(item.fieldRef, pod, ctx);
      else if (item.resourceFieldRef) value = containerResourceValue(item.resourceFieldRef, pod, undefined, ctx);
      payload.set(item.path ?? '', { data: Buffer.from(value, 'utf8'), mode: item.mode ?? defaultMode });
    } catch (err) {
      errs.push(errorMessage(err));
    }
  }
  if (errs.length) throw new Error(errs.length === 1 ? errs[0] : `[${errs.join(', ')}]`);
}

/**
 * The files a configMap, secret, downwardAPI or projected volume holds now,
 * or undefined for other volume types. Throws an Error with Kubernetes'
 * message (`configmap "x" not found`, `configmap references non-existent
 * config key: k`, ...) when a non-optional source is missing.
 */
function volumePayload(pod: Pod, vol: Volume, opts: VolumeOptions): Map<string, FileProjection> | undefined {
  const ns = pod.metadata?.namespace || 'default';
  const payload = new Map<string, FileProjection>();
  if (vol.configMap) {
    const src = vol.configMap;
    const data = configMapData(ns, src.name ?? '', !!src.optional, opts.lookup);
    if (data) keyedPayload('configmap', data, src.items, src.defaultMode ?? DEFAULT_MODE, !!src.optional, payload);
    return payload;
  }
  if (vol.secret) {
    const src = vol.secret;
    const data = secretData(ns, src.secretName ?? '', !!src.optional, opts.lookup);
    if (data) keyedPayload('secret', data, src.items, src.defaultMode ?? DEFAULT_MODE, !!src.optional, payload);
    return payload;
  }
  if (vol.downwardAPI) {
    downwardAPIPayload(pod, vol.downwardAPI, vol.downwardAPI.defaultMode ?? DEFAULT_MODE, opts, payload);
    return payload;
  }
  if (vol.projected) {
    const defaultMode = vol.projected.defaultMode ?? DEFAULT_MODE;
    for (const src of vol.projected.sources ?? []) {
      if (src.configMap) {
        const c = src.configMap;
        const data = configMapData(ns, c.name ?? '', !!c.optional, opts.lookup);
        if (data) keyedPayload('configmap', data, c.items, defaultMode, !!c.optional, payload);
      } else if (src.secret) {
        const s = src.secret;
        const data = secretData(ns, s.secretName ?? '', !!s.optional, opts.lookup);
        if (data) keyedPayload('secret', data, s.items, defaultMode, !!s.optional, payload);
      } else if (src.downwardAPI) {
        downwardAPIPayload(pod, src.downwardAPI, defaultMode, opts, payload);
      }
    }
    return payload;
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// AtomicWriter (pkg/volume/util/atomic_writer.go).

const DATA_DIR = '..data';
const DATA_DIR_TMP = '..data_tmp';

function validatePayloadPath(p: string): void {
  if (p === '') throw new Error('invalid path: must not be empty');
  if (path.isAbsolute(p)) throw new Error(`invalid path: must be relative path: ${p}`);
  if (p.split('/').includes('..')) throw new Error(`invalid path: must not contain '..': ${p}`);
  if (p.startsWith('..')) throw new Error(`invalid path: must not start with '..': ${p}`);
}

function timestampedDirPrefix(now = new Date()): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `..${now.getUTCFullYear()}_${pad(now.getUTCMonth() + 1)}_${pad(now.getUTCDate())}_${pad(now.getUTCHours())}_${pad(now.getUTCMinutes())}_${pad(now.getUTCSeconds())}.`;
}

function readLinkOrUndefined(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    return undefined;
  }
}

// Every file under dir, relative, with its content and mode.
function listFiles(dir: string, prefix = ''): Map<string, FileProjection> {
  const out = new Map<string, FileProjection>();
  for (const entry of fs.readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      for (const [k, v] of listFiles(dir, rel)) out.set(k, v);
    } else if (entry.isFile()) {
      const full = path.join(dir, rel);
      out.set(rel, { data: fs.readFileSync(full), mode: fs.statSync(full).mode & 0o7777 });
    }
  }
  return out;
}

function samePayload(a: Map<string, FileProjection>, b: Map<string, FileProjection>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || w.mode !== (v.mode & 0o7777) || !w.data.equals(v.data)) return false;
  }
  return true;
}

function topLevel(p: string): string {
  return p.split('/')[0];
}

/**
 * Writes `payload` (relative path → content and mode) into targetDir as k8s'
 * AtomicWriter does: a new `..<timestamp>.<random>` folder, `..data` swapped
 * to it with one rename, a symlink `<name> → ..data/<name>` for each
 * top-level name, names no longer in the payload and the old folder removed.
 * A reader never sees a mix of two versions. Returns false (and writes
 * nothing) when the current content and modes already equal the payload.
 * Throws for a path that is absolute or contains `..`, or on I/O errors.
 * Not safe to call concurrently for the same targetDir.
 */
export function writeAtomic(targetDir: string, payload: Map<string, FileProjection>): boolean {
  for (const p of payload.keys()) validatePayloadPath(p);
  fs.mkdirSync(targetDir, { recursive: true });
  const oldTsName = readLinkOrUndefined(path.join(targetDir, DATA_DIR));
  const oldTsDir = oldTsName ? path.join(targetDir, oldTsName) : undefined;
  const oldFiles = oldTsDir && fs.existsSync(oldTsDir) ? listFiles(oldTsDir) : undefined;
  if (oldFiles && samePayload(payload, oldFiles)) return false;

  const tsDir = fs.mkdtempSync(path.join(targetDir, timestampedDirPrefix()));
  fs.chmodSync(tsDir, 0o755);
  for (const [rel, file] of payload) {
    const full = path.join(tsDir, rel);
    fs.mkdirSync(path.dirname(full), { recursive: true, mode: 0o755 });
    fs.writeFileSync(full, file.data);
    fs.chmodSync(full, file.mode & 0o7777);
  }

  const tmpLink = path.join(targetDir, DATA_DIR_TMP);
  fs.rmSync(tmpLink, { force: true });
  fs.symlinkSync(path.basename(tsDir), tmpLink);
  fs.renameSync(tmpLink, path.join(targetDir, DATA_DIR));

  const wanted = new Set([...payload.keys()].map(topLevel));
  for (const name of wanted) {
    const link = path.join(targetDir, name);
    if (readLinkOrUndefined(link) === undefined) {
      fs.rmSync(link, { recursive: true, force: true });
      fs.symlinkSync(path.join(DATA_DIR, name), link);
    }
  }
  for (const name of fs.readdirSync(targetDir)) {
    if (name.startsWith('..') || wanted.has(name)) continue;
    fs.rmSync(path.join(targetDir, name), { recursive: true, force: true });
  }
  if (oldTsDir && oldTsDir !== tsDir) fs.rmSync(oldTsDir, { recursive: true, force: true });
  return true;
}

// ---------------------------------------------------------------------------

// Kubernetes' hostPath type check (pkg/volume/hostpath checkTypeInternal).
function checkHostPathType(p: string, type: string | undefined): void {
  const stat = () => {
    try {
      return fs.statSync(p);
    } catch {
      return undefined;
    }
  };
  let st = stat();
  let check = type ?? '';
  // DirectoryOrCreate and FileOrCreate create a missing path, then check it as Directory and File.
  if (check === 'DirectoryOrCreate') {
    if (!st) fs.mkdirSync(p, { recursive: true, mode: 0o755 });
    st = stat();
    check = 'Directory';
  } else if (check === 'FileOrCreate') {
    // As in Kubernetes, the parent folder must exist.
    if (!st) fs.closeSync(fs.openSync(p, fs.constants.O_CREAT | fs.constants.O_RDONLY, 0o644));
    st = stat();
    check = 'File';
  }
  switch (check) {
    case '':
      return;
    case 'Directory':
      if (!st?.isDirectory()) throw new Error(`hostPath type check failed: ${p} is not a directory`);
      return;
    case 'File':
      if (!st?.isFile()) throw new Error(`hostPath type check failed: ${p} is not a file`);
      return;
    case 'Socket':
      if (!st?.isSocket()) throw new Error(`hostPath type check failed: ${p} is not a socket file`);
      return;
    case 'CharDevice':
      if (!st?.isCharacterDevice()) throw new Error(`hostPath type check failed: ${p} is not a character device`);
      return;
    case 'BlockDevice':
      if (!st?.isBlockDevice()) throw new Error(`hostPath type check failed: ${p} is not a block device`);
      return;
    default:
      throw new Error(`${type} is an invalid volume type`);
  }
}

function pluginDir(vol: Volume): string | undefined {
  if (vol.emptyDir) return PLUGIN_DIRS.emptyDir;
  if (vol.configMap) return PLUGIN_DIRS.configMap;
  if (vol.secret) return PLUGIN_DIRS.secret;
  if (vol.downwardAPI) return PLUGIN_DIRS.downwardAPI;
  if (vol.projected) return PLUGIN_DIRS.projected;
  return undefined;
}

function setUpVolume(pod: Pod, vol: Volume, opts: VolumeOptions): string {
  const name = vol.name ?? '';
  const ns = pod.metadata?.namespace || 'default';
  if (vol.hostPath) {
    const p = vol.hostPath.path ?? '';
    checkHostPathType(p, vol.hostPath.type);
    return p;
  }
  if (vol.persistentVolumeClaim) {
    const claim = vol.persistentVolumeClaim.claimName ?? '';
    if (opts.lookup.persistentVolumeClaim) {
      const pvc = opts.lookup.persistentVolumeClaim(ns, claim);
      if (!pvc) throw new Error(`persistentvolumeclaim "${claim}" not found`);
      if (pvc.status?.phase !== 'Bound') throw new Error(`persistentvolumeclaim "${claim}" is not bound`);
    }
    const p = opts.pvcHostPath(ns, claim);
    if (p === undefined) {
      throw new Error(opts.lookup.persistentVolumeClaim ? `persistentvolumeclaim "${claim}" is not bound` : `persistentvolumeclaim "${claim}" not found`);
    }
    fs.mkdirSync(p, { recursive: true });
    return p;
  }
  const plugin = pluginDir(vol);
  if (!plugin) throw new Error(`volume "${name}" has no supported volume source`);
  const dir = path.join(volumesDir(opts.podDir), plugin, name);
  if (vol.emptyDir) {
    // medium: Memory is a tmpfs in Kubernetes; here it is the same disk folder (nothing is mounted without privilege).
    fs.mkdirSync(dir, { recursive: true });
    fs.chmodSync(dir, 0o777);
    return dir;
  }
  writeAtomic(dir, volumePayload(pod, vol, opts)!);
  return dir;
}

const ALWAYS_READ_ONLY = (vol: Volume) => !!(vol.configMap || vol.secret || vol.downwardAPI || vol.projected || vol.persistentVolumeClaim?.readOnly);

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  // `..2026_...` (AtomicWriter's folders) is inside; only a `..` component leaves.
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

// The real path of p's deepest existing ancestor (p itself when it exists).
function realExistingPrefix(p: string): string {
  let cur = p;
  for (;;) {
    try {
      return path.join(fs.realpathSync(cur), path.relative(cur, p));
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return p;
      cur = parent;
    }
  }
}

function subPathMount(volPath: string, subPath: string, containerName: string, mountName: string): string {
  if (path.isAbsolute(subPath) || subPath.split('/').includes('..')) {
    throw new CreateContainerConfigError(`failed to prepare subPath for volumeMount "${mountName}" of container "${containerName}": invalid subPath "${subPath}"`);
  }
  const hostPath = path.join(volPath, subPath);
  const realVol = realExistingPrefix(volPath);
  if (!isInside(realExistingPrefix(hostPath), realVol)) {
    throw new CreateContainerConfigError(`failed to prepare subPath for volumeMount "${mountName}" of container "${containerName}": subpath "${subPath}" is outside the volume`);
  }
  if (!fs.existsSync(hostPath)) {
    let mode = 0o755;
    try {
      mode = fs.statSync(volPath).mode & 0o777;
    } catch {
      // keep the default
    }
    fs.mkdirSync(hostPath, { recursive: true, mode });
  }
  return hostPath;
}

/**
 * Sets up every volume of `pod` under `<podDir>/volumes` (kubemu's stand-in
 * for MountVolume.SetUp): emptyDir and configMap/secret/downwardAPI/projected
 * folders are created and filled, hostPath is type-checked (DirectoryOrCreate
 * and FileOrCreate create it), a claim resolves through opts.pvcHostPath.
 * Idempotent: calling it again for a running pod rewrites nothing that did
 * not change. Throws VolumeSetupError (reason FailedMount) with Kubernetes'
 * wording, e.g. `MountVolume.SetUp failed for volume "cfg" : configmap "x"
 * not found`, `... : persistentvolumeclaim "data" is not bound`, `... :
 * hostPath type check failed: /x is not a directory`; volumes before the
 * failing one stay set up. Not safe to call concurrently for the same pod.
 */
export function prepareVolumes(pod: Pod, opts: VolumeOptions): PreparedVolumes {
  const volumes = new Map<string, string>();
  const byName = new Map<string, Volume>();
  for (const vol of pod.spec?.volumes ?? []) {
    const name = vol.name ?? '';
    try {
      volumes.set(name, setUpVolume(pod, vol, opts));
    } catch (err) {
      throw setupFailed(name, errorMessage(err), err);
    }
    byName.set(name, vol);
  }

  const mountsFor = (container: Container, env?: Array<{ key: string; value: string }>): Mount[] => {
    const cname = container.name ?? '';
    const mapping = mappingFuncFor(new Map((env ?? []).map((e) => [e.key, e.value])));
    return (container.volumeMounts ?? []).map((vm) => {
      const vname = vm.name ?? '';
      const volPath = volumes.get(vname);
      const vol = byName.get(vname);
      if (volPath === undefined || !vol) {
        throw new CreateContainerConfigError(`cannot find volume "${vname}" to mount into container "${cname}"`);
      }
      const subPath = vm.subPathExpr ? expand(vm.subPathExpr, mapping) : vm.subPath ?? '';
      const hostPath = subPath ? subPathMount(volPath, subPath, cname, vname) : volPath;
      return {
        container_path: vm.mountPath ?? '',
        host_path: hostPath,
        readonly: !!vm.readOnly || ALWAYS_READ_ONLY(vol),
        volume_name: vname,
      };
    });
  };
  return { volumes, mountsFor };
}

/** What updateVolumes did. */
export interface VolumeUpdateResult {
  /** Volumes whose files changed. */
  updated: string[];
  /** Volumes that could not be refreshed (their previous files stay in place). */
  errors: VolumeSetupError[];
}

/**
 * Refreshes the configMap, secret, downwardAPI and projected volumes of a
 * pod already set up by prepareVolumes, from the current lookup (Kubernetes'
 * periodic remount). Each volume changes atomically or not at all; a
 * missing source leaves the old files and is reported in `errors`. Never
 * throws for a volume error. Not safe to call concurrently for the same pod.
 */
export function updateVolumes(pod: Pod, opts: VolumeOptions): VolumeUpdateResult {
  const result: VolumeUpdateResult = { updated: [], errors: [] };
  for (const vol of pod.spec?.volumes ?? []) {
    if (!(vol.configMap || vol.secret || vol.downwardAPI || vol.projected)) continue;
    const name = vol.name ?? '';
    try {
      const dir = path.join(volumesDir(opts.podDir), pluginDir(vol)!, name);
      if (writeAtomic(dir, volumePayload(pod, vol, opts)!)) result.updated.push(name);
    } catch (err) {
      result.errors.push(setupFailed(name, errorMessage(err), err));
    }
  }
  return result;
}

/**
 * Removes `<podDir>/volumes` and everything in it. hostPath and claim
 * folders live elsewhere and are never touched (symlinks are not followed).
 * Idempotent; never throws for a missing folder.
 */
export function cleanupVolumes(podDir: string): void {
  fs.rmSync(volumesDir(podDir), { recursive: true, force: true });
}
