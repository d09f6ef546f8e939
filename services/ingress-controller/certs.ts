/**
 * Certificates for TLS termination: parsing kubernetes.io/tls Secrets into secure contexts, picking
 * one per SNI name, and the self-signed fallback certificate ingress-nginx calls its "Fake
 * Certificate" (served for names no Ingress has a certificate for).
 */
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tls from 'tls';
import { Secret } from '../lib/generated/kubemu/core/v1/core';
import { RoutingTable, TlsHost, tlsFor } from './routes';

export interface KeyPair {
  cert: string;
  key: string;
}

/** Why a TLS Secret cannot be used; the message names the problem for a Warning Event. */
export class InvalidTlsSecretError extends Error {
  constructor(
    readonly secret: string,
    message: string,
  ) {
    super(`secret ${secret}: ${message}`);
    this.name = 'InvalidTlsSecretError';
  }
}

/** A Secret data value as text: the generated type says Buffer, but accept any byte-ish form. */
function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (typeof v === 'string') return Buffer.from(v, 'base64').toString('utf8');
  return undefined;
}

/**
 * The certificate chain and key of a TLS Secret (data tls.crt and tls.key, PEM), checked by
 * building a secure context from them. Throws InvalidTlsSecretError when missing or malformed
 * (bad PEM, key not matching the certificate). Pure apart from OpenSSL parsing.
 */
export function parseTlsSecret(secret: Secret): { pair: KeyPair; context: tls.SecureContext } {
  const name = `${secret.metadata?.namespace ?? 'default'}/${secret.metadata?.name ?? ''}`;
  const cert = text(secret.data?.['tls.crt']);
  const key = text(secret.data?.['tls.key']);
  if (!cert) throw new InvalidTlsSecretError(name, 'no tls.crt');
  if (!key) throw new InvalidTlsSecretError(name, 'no tls.key');
  try {
    return { pair: { cert, key }, context: tls.createSecureContext({ cert, key }) };
  } catch (err) {
    throw new InvalidTlsSecretError(name, `unusable certificate or key: ${(err as Error).message}`);
  }
}

/** The subject CN and DNS SANs of a PEM certificate (for logs and tests); [] when unparsable. */
export function certificateNames(pem: string): string[] {
  try {
    const x = new crypto.X509Certificate(pem);
    const cn = /CN=([^\n,]+)/.exec(x.subject)?.[1];
    const sans = (x.subjectAltName ?? '')
      .split(/,\s*/)
      .filter((s) => s.startsWith('DNS:'))
      .map((s) => s.slice(4));
    return [...(cn ? [cn] : []), ...sans];
  } catch {
    return [];
  }
}

/**
 * A self-signed certificate for `commonName` made with the openssl command line (Node's crypto
 * can make keys but not certificates). Returns undefined when openssl is missing or fails.
 */
export function selfSignedCertificate(commonName = 'Kubernetes Ingress Controller Fake Certificate', days = 3650, sans: string[] = ['ingress.local']): KeyPair | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubemu-ingress-cert-'));
  try {
    const keyFile = path.join(dir, 'tls.key');
    const certFile = path.join(dir, 'tls.crt');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', String(days), '-subj', `/O=Acme Co/CN=${commonName}`, '-addext', `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}`],
      { stdio: 'ignore', timeout: 20000 },
    );
    return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
  } catch {
    return undefined;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The secure contexts the HTTPS listener offers, rebuilt with the routing table. Secrets are
 * parsed once per resourceVersion. `select(servername)` is the SNI callback's lookup: the context
 * of the exact or one-label wildcard TLS host, else the fallback (undefined when there is none).
 */
export class CertificateStore {
  private contexts = new Map<string, tls.SecureContext>();
  private parsed = new Map<string, { rv: string; context?: tls.SecureContext; error?: string }>();
  private tls = new Map<string, TlsHost>();
  readonly fallback?: tls.SecureContext;

  constructor(readonly fallbackPair?: KeyPair) {
    const fallback = fallbackPair;
    this.fallback = fallback ? tls.createSecureContext(fallback) : undefined;
  }

  /**
   * Takes the TLS hosts of `table`, reading their Secrets through `secret`. Returns the problems
   * found (missing or malformed secrets), each with the Ingress that names it; never throws.
   */
  update(table: RoutingTable, secret: (namespace: string, name: string) => Secret | undefined): Array<{ ingress: string; secret: string; message: string }> {
    const problems: Array<{ ingress: string; secret: string; message: string }> = [];
    const contexts = new Map<string, tls.SecureContext>();
    const seen = new Set<string>();
    for (const t of table.tls.values()) {
      const [ns, name] = t.secret.split('/');
      const s = secret(ns, name);
      seen.add(t.secret);
      if (!s) {
        problems.push({ ingress: t.ingress, secret: t.secret, message: `secret ${t.secret} not found` });
        continue;
      }
      const rv = s.metadata?.resourceVersion ?? '';
      let entry = this.parsed.get(t.secret);
      if (!entry || entry.rv !== rv) {
        try {
          entry = { rv, context: parseTlsSecret(s).context };
        } catch (err) {
          entry = { rv, error: (err as Error).message };
        }
        this.parsed.set(t.secret, entry);
      }
      if (entry.context) contexts.set(t.host, entry.context);
      else problems.push({ ingress: t.ingress, secret: t.secret, message: entry.error ?? 'unusable' });
    }
    for (const k of [...this.parsed.keys()]) if (!seen.has(k)) this.parsed.delete(k);
    this.contexts = contexts;
    this.tls = table.tls;
    return problems;
  }

  /** The context for SNI name `servername` (any case), or the fallback. */
  select(servername: string | undefined): tls.SecureContext | undefined {
    if (servername) {
      const t = tlsFor(this.tls, servername.toLowerCase());
      const ctx = t ? this.contexts.get(t.host) : undefined;
      if (ctx) return ctx;
    }
    return this.fallback;
  }

  /** Whether some Ingress has a usable certificate for `host`. */
  has(host: string): boolean {
    const t = tlsFor(this.tls, host);
    return t !== undefined && this.contexts.has(t.host);
  }
}
