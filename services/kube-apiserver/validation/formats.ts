/**
 * String formats of the Kubernetes API (k8s.io/apimachinery/pkg/util/validation and
 * pkg/api/validate/content): DNS names, qualified names, port names, IPs, config keys...
 *
 * Every `isX` function returns Kubernetes' detail messages for a value, empty when it is
 * valid; callers turn them into field errors at a path. All are pure and never throw.
 * Label keys/values and DNS-1123 subdomains come from the shared labels library so that
 * selectors and validation agree on one definition.
 */
import { isIPv4, isIPv6 } from 'net';
import { byteLength, isDNS1123Subdomain, isLabelKey, isLabelValue, regexError } from '../../lib/labels';

export { isDNS1123Subdomain, isLabelKey, isLabelValue };

/** A qualified name (label key syntax): annotation keys, finalizers, taint keys, condition types... */
export const isQualifiedName = isLabelKey;

/** "must be no more than N bytes", as the current apimachinery prints it. */
export function maxLenError(length: number): string {
  return `must be no more than ${length} bytes`;
}

/** "must be between lo and hi, inclusive". */
export function inclusiveRangeError(lo: number, hi: number): string {
  return `must be between ${lo} and ${hi}, inclusive`;
}

export { regexError };

const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_LABEL_ERR =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_LABEL_RE = new RegExp('^' + DNS1123_LABEL_FMT + '$');
const DNS1123_SUBDOMAIN_RE = new RegExp('^' + DNS1123_LABEL_FMT + '(\\.' + DNS1123_LABEL_FMT + ')*$');

/** An RFC 1123 label: at most 63 bytes of [a-z0-9-], alphanumeric at both ends. */
export function isDNS1123Label(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 63) errs.push(maxLenError(63));
  if (!DNS1123_LABEL_RE.test(value)) {
    // A valid subdomain that is not a valid label (length already checked) must contain dots.
    if (DNS1123_SUBDOMAIN_RE.test(value)) errs.push('must not contain dots');
    else errs.push(regexError(DNS1123_LABEL_ERR, DNS1123_LABEL_FMT, 'my-name', '123-abc'));
  }
  return errs;
}

const DNS1035_LABEL_FMT = '[a-z]([-a-z0-9]*[a-z0-9])?';
const DNS1035_LABEL_ERR =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const DNS1035_LABEL_RE = new RegExp('^' + DNS1035_LABEL_FMT + '$');

/** An RFC 1035 label (Service names): like a DNS-1123 label but starting with a letter. */
export function isDNS1035Label(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 63) errs.push(maxLenError(63));
  if (!DNS1035_LABEL_RE.test(value)) errs.push(regexError(DNS1035_LABEL_ERR, DNS1035_LABEL_FMT, 'my-name', 'abc-123'));
  return errs;
}

const WILDCARD_FMT = '\\*\\.' + DNS1123_LABEL_FMT + '(\\.' + DNS1123_LABEL_FMT + ')*';
const WILDCARD_ERR =
  "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character";
const WILDCARD_RE = new RegExp('^' + WILDCARD_FMT + '$');

/** `*.` followed by a DNS-1123 subdomain (Ingress hosts). */
export function isWildcardDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 253) errs.push(maxLenError(253));
  if (!WILDCARD_RE.test(value)) errs.push(regexError(WILDCARD_ERR, WILDCARD_FMT, '*.example.com'));
  return errs;
}

/** A port number 1..65535. */
export function isValidPortNum(port: number): string[] {
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? [] : [inclusiveRangeError(1, 65535)];
}

/** An IANA_SVC_NAME: at most 15 of [-a-z0-9], at least one letter, no leading/trailing/double hyphen. */
export function isValidPortName(port: string): string[] {
  const errs: string[] = [];
  if (byteLength(port) > 15) errs.push(maxLenError(15));
  if (!/^[-a-z0-9]+$/.test(port)) errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (!/[a-z]/.test(port)) errs.push('must contain at least one letter (a-z)');
  if (port.includes('--')) errs.push('must not contain consecutive hyphens');
  if (port.length > 0 && (port.startsWith('-') || port.endsWith('-'))) errs.push('must not begin or end with a hyphen');
  return errs;
}

/**
 * An environment variable name. Kubernetes' RelaxedEnvironmentVariableValidation (on by
 * default since 1.32, GA in 1.34) accepts any printable ASCII except '='.
 */
export function isEnvVarName(value: string): string[] {
  const errs: string[] = [];
  if (value.length === 0) errs.push('environment variable name must be non-empty');
  for (const ch of value) {
    const c = ch.codePointAt(0)!;
    if (c > 0x7e || c < 0x20 || ch === '=') {
      errs.push("a valid environment variable name must consist only of printable ASCII characters other than '='");
      break;
    }
  }
  return errs;
}

function chDirPrefix(value: string): string[] {
  if (value === '.') return ["must not be '.'"];
  if (value === '..') return ["must not be '..'"];
  if (value.startsWith('..')) return ["must not start with '..'"];
  return [];
}

const CONFIG_KEY_FMT = '[-._a-zA-Z0-9]+';
const CONFIG_KEY_RE = new RegExp('^' + CONFIG_KEY_FMT + '$');

/** A ConfigMap or Secret key. */
export function isConfigMapKey(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 253) errs.push(maxLenError(253));
  if (!CONFIG_KEY_RE.test(value)) {
    errs.push(regexError("a valid config key must consist of alphanumeric characters, '-', '_' or '.'", CONFIG_KEY_FMT, 'key.name', 'KEY_NAME', 'key-name'));
  }
  errs.push(...chDirPrefix(value));
  return errs;
}

const PERCENT_FMT = '[0-9]+%';

/** "25%": digits followed by '%'. */
export function isValidPercent(value: string): string[] {
  return new RegExp('^' + PERCENT_FMT + '$').test(value)
    ? []
    : [regexError("a valid percent string must be a numeric string followed by an ending '%'", PERCENT_FMT, '1%', '93%')];
}

const HTTP_HEADER_FMT = '[-A-Za-z0-9]+';

/** An HTTP header name as Go's HTTP library accepts it. */
export function isHTTPHeaderName(value: string): string[] {
  return new RegExp('^' + HTTP_HEADER_FMT + '$').test(value)
    ? []
    : [regexError("a valid HTTP header must consist of alphanumeric characters or '-'", HTTP_HEADER_FMT, 'X-Header-Name')];
}

/** Names used as REST path segments (Events' names): not '.' or '..', no '/' or '%'. */
export function isPathSegmentName(name: string): string[] {
  if (name === '.' || name === '..') return [`may not be '${name}'`];
  return isPathSegmentPrefix(name);
}

/** The prefix form of isPathSegmentName (generateName). */
export function isPathSegmentPrefix(name: string): string[] {
  const errs: string[] = [];
  if (name.includes('/')) errs.push("may not contain '/'");
  if (name.includes('%')) errs.push("may not contain '%'");
  return errs;
}

/** Parses an IP address the way Go's netip.ParseAddr accepts it; undefined when invalid. */
export function parseIP(value: string): { family: 4 | 6; v4mapped: boolean; zone: boolean } | undefined {
  if (isIPv4(value)) return { family: 4, v4mapped: false, zone: false };
  if (!isIPv6(value)) return undefined;
  const zoneAt = value.indexOf('%');
  const addr = (zoneAt >= 0 ? value.slice(0, zoneAt) : value).toLowerCase();
  return { family: 6, v4mapped: expandIPv6(addr).startsWith('0000:0000:0000:0000:0000:ffff:'), zone: zoneAt >= 0 };
}

// The eight four-digit groups of a valid IPv6 address, joined by ':'.
function expandIPv6(addr: string): string {
  let text = addr;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a, b, c, d] = tail.split('.').map(Number);
    text = text.slice(0, lastColon + 1) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = rest ? rest.split(':') : [];
  const groups = rest === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => g.padStart(4, '0')).join(':');
}

/** validation.IsValidIP's messages for a value (without the field path). */
export function isValidIP(value: string): string[] {
  const ip = parseIP(value);
  if (!ip) return ['must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'];
  if (ip.v4mapped) return ['must not be an IPv4-mapped IPv6 address'];
  if (ip.zone) return ['must not have a zone identifier'];
  return [];
}

/** validation.IsValidCIDR's messages for a value. */
export function isValidCIDR(value: string): string[] {
  const slash = value.indexOf('/');
  const bad = ['must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'];
  if (slash < 0) return bad;
  const ip = parseIP(value.slice(0, slash));
  const bits = value.slice(slash + 1);
  if (!ip || ip.zone || !/^(0|[1-9][0-9]*)$/.test(bits)) return bad;
  if (Number(bits) > (ip.family === 4 ? 32 : 128)) return bad;
  if (ip.v4mapped) return ['must not have an IPv4-mapped IPv6 address'];
  return [];
}

/** The family (4 or 6) of a valid IP, undefined otherwise. */
export function ipFamily(value: string): 4 | 6 | undefined {
  return parseIP(value)?.family;
}

const HTTP_PATH_FMT = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+";

/** `acme.io/foo`: a DNS subdomain, '/', then HTTP path characters (IngressClass controller). */
export function isDomainPrefixedPath(value: string): Array<{ value: string; msg: string }> {
  const slash = value.indexOf('/');
  const host = slash < 0 ? value : value.slice(0, slash);
  const rest = slash < 0 ? '' : value.slice(slash + 1);
  if (slash < 0 || host.length === 0 || rest.length === 0) {
    return [{ value, msg: 'must be a domain-prefixed path (such as "acme.io/foo")' }];
  }
  const out = isDNS1123Subdomain(host).map((msg) => ({ value: host, msg }));
  if (!new RegExp('^' + HTTP_PATH_FMT + '$').test(rest)) out.push({ value: rest, msg: regexError('Invalid path', HTTP_PATH_FMT) });
  return out;
}

// ---------------------------------------------------------------- object names

/** Validates an object's name (or generateName when prefix is true); returns detail messages. */
export type NameValidator = (name: string, prefix: boolean) => string[];

// A generated name gets a suffix, so a trailing '-' in the prefix is fine.
function maskTrailingDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? name.slice(0, -2) + 'a' : name;
}

/** NameIsDNSSubdomain: most kinds. */
export const nameIsDNSSubdomain: NameValidator = (name, prefix) => isDNS1123Subdomain(prefix ? maskTrailingDash(name) : name);

/** NameIsDNSLabel: Namespaces, StatefulSets. */
export const nameIsDNSLabel: NameValidator = (name, prefix) => isDNS1123Label(prefix ? maskTrailingDash(name) : name);

/** NameIsDNS1035Label: Services. */
export const nameIsDNS1035Label: NameValidator = (name, prefix) => isDNS1035Label(prefix ? maskTrailingDash(name) : name);

/** ValidatePathSegmentName: Events, whose names only have to be usable in a URL path. */
export const nameIsPathSegment: NameValidator = (name, prefix) => (prefix ? isPathSegmentPrefix(name) : isPathSegmentName(name));
