import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ImageReference, parseImageReference } from './reference';

/**
 * kubemu's local image catalog. There is no registry: an image is one of a few
 * built-ins that start a host program (a kubemu program under dist, or a host
 * binary such as /bin/sh or python3). Any registry, namespace and tag or digest is
 * accepted; an image is matched by the last component of its repository path
 * (`docker.io/library/nginx:1.27`, `bitnami/nginx`, `registry.k8s.io/busybox@sha256:…`).
 *
 * Kubernetes' command/args semantics hold: `command` replaces the image's
 * ENTRYPOINT, `args` replaces its CMD; with `command` but no `args` the image's CMD
 * is dropped (as Docker and Kubernetes do).
 */

/** Failure to obtain an image; the kubelet reports `reason` (ErrImagePull / ErrImageNeverPull) then ImagePullBackOff. */
export class ImagePullError extends Error {
  constructor(
    readonly image: string,
    message: string,
    readonly reason: 'ErrImagePull' | 'ErrImageNeverPull' = 'ErrImagePull',
  ) {
    super(message);
    this.name = 'ImagePullError';
  }
}

/** The container's executable is not found; containerd reports this as a StartError. */
export class ExecutableNotFoundError extends Error {
  readonly reason = 'StartError';
  constructor(readonly executable: string) {
    super(`failed to create containerd task: failed to create shim task: OCI runtime create failed: exec: "${executable}": executable file not found in $PATH`);
    this.name = 'ExecutableNotFoundError';
  }
}

/** A built-in image's definition. */
export interface BuiltinImage {
  /** Catalog name, shown in the ErrImagePull message. */
  name: string;
  /** Last repository-path components that select this image. */
  matches: string[];
  description: string;
  /** The image's ENTRYPOINT and CMD, before host resolution. */
  entrypoint: string[];
  cmd: string[];
  /** Image ENV (PATH is always the host's). */
  env: Record<string, string>;
  /** argv[0] names this image provides, mapped to the host program that backs them. */
  binaries: Record<string, string>;
  /**
   * As node's docker-entrypoint.sh does: without `command`, an argv starting with a flag
   * (`args: ["-e", "…"]`) runs under this binary instead of failing to exec "-e".
   */
  flagsGoTo?: string;
  /** Host programs that must exist for a pull to succeed. */
  requires: string[];
  /** Reported size in bytes (roughly the real image's, for node status). */
  sizeBytes: number;
  /**
   * Node processes of this image load the pods' DNS preload (`--require dns-preload.js`), which
   * resolves names through the pod's resolv.conf (KUBEMU_RESOLV_CONF) instead of the host's.
   */
  dnsPreload?: boolean;
}

const HOST_SHELL = '/bin/sh';
const PROGRAM = (name: string) => `kubemu-program:${name}`;

/** The built-in images, in the order the ErrImagePull message lists them. */
export const BUILTIN_IMAGES: readonly BuiltinImage[] = [
  {
    name: 'nginx',
    matches: ['nginx', 'httpd', 'nginx-unprivileged'],
    description: 'HTTP server: a page naming the pod on /, request details as JSON elsewhere; port from $PORT or argv, default 80',
    entrypoint: ['node', PROGRAM('http-server')],
    cmd: [],
    env: { NGINX_VERSION: '1.27.0-kubemu' },
    binaries: { node: 'node' },
    requires: [],
    sizeBytes: 71_000_000,
    dnsPreload: true,
  },
  {
    name: 'echo-server',
    matches: ['echo-server', 'echoserver', 'http-echo', 'agnhost'],
    description: 'echo server: answers every HTTP request with its method, path, headers and body as JSON; port from $PORT or argv, default 8080',
    entrypoint: ['node', PROGRAM('echo-server')],
    cmd: [],
    env: {},
    binaries: { node: 'node' },
    requires: [],
    sizeBytes: 25_000_000,
    dnsPreload: true,
  },
  {
    name: 'busybox',
    matches: ['busybox', 'alpine', 'ubuntu', 'debian'],
    description: "shell image: runs command/args with the host's /bin/sh and host utilities",
    entrypoint: [],
    cmd: ['sh'],
    env: {},
    binaries: { sh: HOST_SHELL, '/bin/sh': HOST_SHELL, ash: HOST_SHELL, bash: 'bash' },
    requires: [HOST_SHELL],
    sizeBytes: 4_300_000,
  },
  {
    name: 'node',
    matches: ['node'],
    description: "the host's node",
    entrypoint: [],
    cmd: ['node'],
    flagsGoTo: 'node',
    env: { NODE_VERSION: process.versions.node },
    binaries: { node: 'node', nodejs: 'node' },
    requires: ['node'],
    sizeBytes: 1_100_000_000,
    dnsPreload: true,
  },
  {
    name: 'python',
    matches: ['python'],
    description: "the host's python3",
    entrypoint: [],
    cmd: ['python3'],
    flagsGoTo: 'python3',
    env: { PYTHONUNBUFFERED: '1' },
    binaries: { python: 'python3', python3: 'python3' },
    requires: ['python3'],
    sizeBytes: 1_000_000_000,
  },
  {
    name: 'perl',
    matches: ['perl'],
    description: "the host's perl",
    entrypoint: [],
    cmd: ['perl'],
    flagsGoTo: 'perl',
    env: {},
    binaries: { perl: 'perl' },
    requires: ['perl'],
    sizeBytes: 890_000_000,
  },
];

/** A pulled image as the runtime reports it (CRI Image). */
export interface ImageInfo {
  /** `sha256:<hex>` of the catalog name: stable across tags and restarts. */
  id: string;
  catalogName: string;
  reference: ImageReference;
  repoTags: string[];
  repoDigests: string[];
  sizeBytes: number;
}

/** How to start one container's process. */
export interface ResolvedContainer {
  image: ImageInfo;
  /** Absolute path of the program to spawn. */
  executable: string;
  /** argv after the executable. */
  args: string[];
  /** The image's ENV; the runtime layers the pod's env on top. */
  env: Record<string, string>;
}

export interface ContainerSpecLike {
  command?: string[];
  args?: string[];
}

export interface CatalogOptions {
  /** Folder holding the compiled programs (`http-server.js`, …). Default: `programs/` next to this file. */
  programsDir?: string;
  /** PATH searched for host binaries. Default: this process's PATH. */
  searchPath?: string;
  /** The node binary for kubemu programs. Default: this process's node. */
  nodeExecutable?: string;
}

/** The stable image ID of a catalog image: sha256 of its name. */
export function imageId(catalogName: string): string {
  return 'sha256:' + createHash('sha256').update(`kubemu-image/${catalogName}`).digest('hex');
}

/** Finds `name` on `searchPath` as `which` does; absolute or relative paths are checked as given. */
export function lookPath(name: string, searchPath: string = process.env.PATH ?? ''): string | undefined {
  const executable = (p: string) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (name.includes('/')) return executable(name) ? path.resolve(name) : undefined;
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (executable(candidate)) return candidate;
  }
  return undefined;
}

/** The local catalog. Stateless apart from options; safe to share and call concurrently. */
export class ImageCatalog {
  private readonly programsDir: string;
  private readonly searchPath: string;
  private readonly nodeExecutable: string;

  constructor(options: CatalogOptions = {}) {
    this.programsDir = options.programsDir ?? path.join(__dirname, 'programs');
    this.searchPath = options.searchPath ?? process.env.PATH ?? '';
    this.nodeExecutable = options.nodeExecutable ?? process.execPath;
  }

  /** The built-in image that `reference` names, or undefined. Throws InvalidImageNameError on bad syntax. */
  find(reference: string): BuiltinImage | undefined {
    const ref = parseImageReference(reference);
    const last = ref.path.split('/').pop()!;
    return BUILTIN_IMAGES.find((img) => img.matches.includes(last));
  }

  /**
   * "Pulls" `reference`: checks it is a catalog image whose host programs exist.
   * imagePullPolicy changes only the failure's reason (Never → ErrImageNeverPull), since
   * every catalog image is always present. Throws InvalidImageNameError or ImagePullError.
   */
  pull(reference: string, pullPolicy: 'Always' | 'IfNotPresent' | 'Never' | string = 'IfNotPresent'): ImageInfo {
    const ref = parseImageReference(reference);
    const image = this.find(reference);
    if (!image) {
      const names = BUILTIN_IMAGES.map((i) => i.name).join(', ');
      const repo = ref.domain === 'docker.io' ? ref.familiarName : `${ref.domain}/${ref.path}`;
      if (pullPolicy === 'Never') {
        throw new ImagePullError(reference, `Container image "${reference}" is not present with pull policy of Never (image "${repo}" is not in kubemu's local catalog; built-in images: ${names})`, 'ErrImageNeverPull');
      }
      throw new ImagePullError(reference, `failed to pull image "${reference}": image "${repo}" is not in kubemu's local catalog (built-in images: ${names})`);
    }
    for (const req of image.requires) {
      if (!this.hostBinary(req)) {
        throw new ImagePullError(reference, `failed to pull image "${reference}": image "${image.name}" runs the host's ${req}, which was not found on this host's PATH`);
      }
    }
    return {
      id: imageId(image.name),
      catalogName: image.name,
      reference: ref,
      repoTags: ref.tag ? [`${ref.domain}/${ref.path}:${ref.tag}`] : [],
      repoDigests: ref.digest ? [`${ref.domain}/${ref.path}@${ref.digest}`] : [],
      sizeBytes: image.sizeBytes,
    };
  }

  /**
   * Resolves a container of `reference` to the process to spawn. `command` replaces the
   * image's ENTRYPOINT and `args` its CMD; with `command` set and `args` unset, CMD is dropped.
   * argv[0] is mapped through the image's binaries, then looked up on PATH. A node process of an
   * image with `dnsPreload` gets `--require <programs>/dns-preload.js` first.
   * Throws InvalidImageNameError, ImagePullError, or ExecutableNotFoundError.
   */
  resolve(reference: string, spec: ContainerSpecLike = {}, pullPolicy?: string): ResolvedContainer {
    const info = this.pull(reference, pullPolicy);
    const image = BUILTIN_IMAGES.find((i) => i.name === info.catalogName)!;
    const hasCommand = !!spec.command && spec.command.length > 0;
    const hasArgs = !!spec.args && spec.args.length > 0;
    const entrypoint = hasCommand ? spec.command! : image.entrypoint;
    const cmd = hasArgs ? [...spec.args!] : hasCommand ? [] : [...image.cmd];
    if (!hasCommand && image.flagsGoTo && entrypoint.length === 0 && cmd[0]?.startsWith('-')) cmd.unshift(image.flagsGoTo);
    const argv = [...entrypoint, ...cmd].map((a) => (a.startsWith('kubemu-program:') ? this.programPath(a.slice('kubemu-program:'.length)) : a));
    if (argv.length === 0) throw new ExecutableNotFoundError('');
    const [first, ...rest] = argv;
    const mapped = image.binaries[first] ?? first;
    const executable = this.hostBinary(mapped);
    if (!executable) throw new ExecutableNotFoundError(first);
    // Before the script and its flags: node's own options come first on its command line.
    const preload = image.dnsPreload && executable === this.nodeExecutable ? this.dnsPreloadPath() : undefined;
    return { image: info, executable, args: preload ? ['--require', preload, ...rest] : rest, env: { PATH: this.searchPath, ...image.env } };
  }

  /**
   * Every built-in image as Node.status.images lists them: names (canonical references of
   * each catalog name's :latest) and size. Host interpreters that are missing are left out.
   */
  list(): { id: string; names: string[]; sizeBytes: number }[] {
    return BUILTIN_IMAGES.filter((img) => img.requires.every((r) => this.hostBinary(r))).map((img) => ({
      id: imageId(img.name),
      names: img.matches.slice(0, 1).map((m) => parseImageReference(m).canonical),
      sizeBytes: img.sizeBytes,
    }));
  }

  /** The compiled DNS preload, when it is there (a catalog over a folder without it runs node as is). */
  private dnsPreloadPath(): string | undefined {
    const p = this.programPath('dns-preload');
    return fs.existsSync(p) ? p : undefined;
  }

  /** Absolute path of a kubemu program's compiled script. */
  programPath(program: string): string {
    return path.join(this.programsDir, `${program}.js`);
  }

  private hostBinary(name: string): string | undefined {
    if (name === 'node') return this.nodeExecutable;
    return lookPath(name, this.searchPath);
  }
}
