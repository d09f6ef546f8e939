/**
 * How a container's view of the filesystem and environment is made without namespaces: a
 * container is a host process, so paths it was told about (volume mount paths) are rewritten to
 * the host paths that back them, and the runtime's variables are added to its environment.
 * Pure functions; see docs/runtime.md.
 */

/** A volume mount as the kubelet asks for it (paths as given; container_path absolute). */
export interface MountSpec {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  volumeName: string;
}

/** Strips trailing slashes ("/data/" → "/data"); "/" stays "/". */
export function normalizeContainerPath(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A function rewriting every occurrence of a mount's container path in a string to its host path.
 * An occurrence counts when it starts the string or follows whitespace, '=', or a quote, and is
 * followed by the end, '/', whitespace, a quote or ';' — so `/data/x`, `--dir=/data`,
 * `sh -c "cat /data/x; ls /data"` are mapped and `/database` or `/old/data` are not. The longest
 * container path wins (`/data/cache` before `/data`). A mount of "/" is never mapped (it would
 * rewrite every path). Pure.
 */
export function pathMapper(mounts: readonly MountSpec[]): (s: string) => string {
  const byPath = new Map<string, string>();
  for (const m of mounts) {
    const cp = normalizeContainerPath(m.containerPath);
    if (cp === '/' || !cp.startsWith('/')) continue;
    byPath.set(cp, m.hostPath.length > 1 ? m.hostPath.replace(/\/+$/, '') : m.hostPath);
  }
  if (byPath.size === 0) return (s) => s;
  const paths = [...byPath.keys()].sort((a, b) => b.length - a.length);
  const re = new RegExp(`(^|[\\s='"])(${paths.map(escapeRegExp).join('|')})(?=$|[/\\s'";])`, 'g');
  return (s) => s.replace(re, (_m, before: string, cp: string) => before + byPath.get(cp)!);
}

/** KUBEMU_VOLUME_<NAME>: the volume name upper-cased, every character other than A-Z0-9 turned to '_'. */
export function volumeVariable(volumeName: string): string {
  return 'KUBEMU_VOLUME_' + volumeName.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

export interface ContainerEnvInput {
  /** The image's ENV (PATH included). */
  imageEnv: Record<string, string>;
  /** The kubelet's resolved env, in order; later wins. */
  envs: readonly { key: string; value: string }[];
  podIP: string;
  hostname: string;
  podDir: string;
  /** The container's own folder (HOME unless the env sets it). */
  containerDir: string;
  mounts: readonly MountSpec[];
}

/**
 * The process environment of a container: the image's ENV, then HOME and HOSTNAME defaults, then
 * the kubelet's envs in order (later wins, so a pod may set HOSTNAME or HOME), then what the
 * runtime always sets and nobody overrides: POD_IP, KUBEMU_POD_DIR, KUBEMU_MOUNTS (JSON object
 * container path → host path) and one KUBEMU_VOLUME_<NAME> per mounted volume (its host path).
 * Nothing of the runtime's own environment leaks in. Pure.
 */
export function containerEnv(input: ContainerEnvInput): Record<string, string> {
  const env: Record<string, string> = { ...input.imageEnv, HOME: input.containerDir, HOSTNAME: input.hostname };
  for (const { key, value } of input.envs) env[key] = value;
  env.POD_IP = input.podIP;
  env.KUBEMU_POD_DIR = input.podDir;
  const mounts: Record<string, string> = {};
  for (const m of input.mounts) {
    mounts[normalizeContainerPath(m.containerPath)] = m.hostPath;
    if (m.volumeName) env[volumeVariable(m.volumeName)] = m.hostPath;
  }
  env.KUBEMU_MOUNTS = JSON.stringify(mounts);
  return env;
}
