/**
 * Image references parsed as containerd's reference/docker package (the "distribution
 * reference" grammar) does: `[domain/]path[:tag][@digest]`, where the first path
 * component is a domain only if it contains '.' or ':' or is `localhost`; the default
 * domain is docker.io, where a one-component path is prefixed with `library/`; a
 * reference with neither tag nor digest gets the tag `latest`.
 */

/** A reference that is not valid image-name syntax; the kubelet reports it as InvalidImageName. */
export class InvalidImageNameError extends Error {
  readonly reason = 'InvalidImageName';
  constructor(readonly image: string, detail: string) {
    super(`Failed to apply default image tag "${image}": couldn't parse image name "${image}": ${detail}`);
    this.name = 'InvalidImageNameError';
  }
}

export interface ImageReference {
  /** The reference as the user wrote it. */
  original: string;
  /** e.g. `docker.io`, `registry.k8s.io`, `localhost:5000`. */
  domain: string;
  /** Path within the domain, e.g. `library/nginx`, `ealen/echo-server`. */
  path: string;
  /** Tag; `latest` when the reference had neither tag nor digest. Undefined for a digest-only reference. */
  tag?: string;
  /** `sha256:<64 hex>` when the reference was pinned by digest. */
  digest?: string;
  /** The short name Docker shows: `nginx`, `ealen/echo-server`, `registry.k8s.io/busybox`. */
  familiarName: string;
  /** Fully qualified: `docker.io/library/nginx:latest`, `registry.k8s.io/busybox@sha256:…`. */
  canonical: string;
}

const DEFAULT_DOMAIN = 'docker.io';
const pathComponent = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagPattern = /^[\w][\w.-]{0,127}$/;
const digestPattern = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/;
const domainPattern = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$/;

/**
 * Parses `ref` into its parts with docker.io defaults applied.
 * Throws InvalidImageNameError for anything the distribution grammar rejects
 * (empty, uppercase repository, bad tag or digest). Pure; safe to call concurrently.
 */
export function parseImageReference(ref: string): ImageReference {
  const original = ref;
  if (!ref || ref !== ref.trim()) throw new InvalidImageNameError(original, 'invalid reference format');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestPattern.test(digest)) throw new InvalidImageNameError(original, 'invalid reference format');
    if (digest.startsWith('sha256:') && digest.length !== 'sha256:'.length + 64) {
      throw new InvalidImageNameError(original, 'invalid checksum digest length');
    }
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagPattern.test(tag)) throw new InvalidImageNameError(original, 'invalid reference format');
  }
  const parts = rest.split('/');
  let domain = DEFAULT_DOMAIN;
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) {
    domain = parts.shift()!;
    if (!domainPattern.test(domain)) throw new InvalidImageNameError(original, 'invalid reference format');
  }
  if (parts.some((p) => p !== p.toLowerCase())) {
    throw new InvalidImageNameError(original, 'invalid reference format: repository name (' + parts.join('/') + ') must be lowercase');
  }
  if (parts.length === 0 || parts.some((p) => !pathComponent.test(p))) {
    throw new InvalidImageNameError(original, 'invalid reference format');
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && parts.length === 1) parts.unshift('library');
  const path = parts.join('/');
  if (!tag && !digest) tag = 'latest';
  const familiarName = domain === DEFAULT_DOMAIN ? path.replace(/^library\//, '') : `${domain}/${path}`;
  const canonical = `${domain}/${path}${tag ? ':' + tag : ''}${digest ? '@' + digest : ''}`;
  return { original, domain, path, tag, digest, familiarName, canonical };
}
