/**
 * One probe attempt against one container, as Kubernetes' pkg/probe/{http,tcp,exec} and
 * pkg/kubelet/prober/prober.go runProbe: the handler is chosen in the order exec, httpGet,
 * tcpSocket, grpc, and failure messages use the wording of the Go implementations, so that
 * `kubectl describe pod` reads as on a real cluster.
 */
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import { Container, HTTPGetAction, Probe } from '../../lib/generated/kubemu/core/v1/core';

/**
 * The outcome of one probe attempt.
 * - `success`: the container passed; `message` is the handler's output (HTTP body, exec output).
 *   `warning` is set when Kubernetes reports probe.Warning (an HTTP redirect to another host that was
 *   not followed): still a success, but worth a `ProbeWarning` event.
 * - `failure`: the container failed; `message` says why, in Kubernetes' words.
 * - `unknown`: the probe could not be run at all (a port name that does not resolve, no handler,
 *   the exec runner broke); Kubernetes calls this "errored" and throws the attempt away.
 */
export type ProbeOutcomeResult = 'success' | 'failure' | 'unknown';

export interface ProbeOutcome {
  result: ProbeOutcomeResult;
  message: string;
  warning?: boolean;
}

/** What an exec in the container produced. */
export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The command did not finish within the timeout (the runtime killed it). */
  timedOut?: boolean;
}

/**
 * Runs `command` in the probed container with a timeout in seconds. Reports a timeout by
 * resolving with `timedOut: true`, or by rejecting with an error whose `timedOut` is true or whose
 * gRPC `code` is DEADLINE_EXCEEDED (4); any other rejection makes the attempt `unknown`.
 */
export type ExecFunc = (command: string[], timeoutSeconds: number) => Promise<ExecResult>;

/** Where the probe goes: the pod's IP (default host) and the container (for named ports). */
export interface ProbeTarget {
  podIP: string;
  container: Container;
}

export interface RunProbeOptions {
  /** Milliseconds per API second, for timeoutSeconds (tests shrink it). Default 1000. */
  secondsToMs?: number;
  /** Aborting it ends the attempt at once with `unknown` ("probe cancelled"). */
  signal?: AbortSignal;
  /** The User-Agent sent unless the probe sets its own. Default `kube-probe/1.32`. */
  userAgent?: string;
}

export const DEFAULT_USER_AGENT = 'kube-probe/1.32';
/** Kubernetes reads at most 10 KiB of an HTTP body or of exec output (maxRespBodyLength, maxReadLength). */
export const MAX_OUTPUT_BYTES = 10 * 1024;
/** Go's http.Client default: stop after 10 redirects. */
const MAX_REDIRECTS = 10;
const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);

/**
 * Runs `probe` once against `target` and resolves with the outcome. Never rejects: every error,
 * including a thrown exec function, becomes a `failure` or `unknown` outcome. The attempt takes
 * at most about timeoutSeconds (default 1) scaled by `secondsToMs`; aborting `signal` ends it at
 * once and releases its socket. `exec` is needed only for exec probes. Safe to call concurrently.
 */
export async function runProbe(
  probe: Probe,
  target: ProbeTarget,
  exec?: ExecFunc,
  options: RunProbeOptions = {},
): Promise<ProbeOutcome> {
  const secondsToMs = options.secondsToMs ?? 1000;
  const timeoutSeconds = probe.timeoutSeconds && probe.timeoutSeconds > 0 ? probe.timeoutSeconds : 1;
  const timeoutMs = timeoutSeconds * secondsToMs;
  if (options.signal?.aborted) return cancelled();
  try {
    if (probe.exec) return await execProbe(probe.exec.command ?? [], timeoutSeconds, timeoutMs + secondsToMs, exec, options.signal);
    if (probe.httpGet) return await httpProbe(probe.httpGet, target, timeoutMs, options);
    if (probe.tcpSocket) {
      const port = resolveContainerPort(probe.tcpSocket.port, target.container);
      if (typeof port === 'string') return { result: 'unknown', message: port };
      return await tcpProbe(probe.tcpSocket.host || target.podIP, port, timeoutMs, options.signal);
    }
    if (probe.grpc) {
      return { result: 'failure', message: `gRPC probe is not supported by kubemu (port ${probe.grpc.port ?? 0}, service ${JSON.stringify(probe.grpc.service ?? '')})` };
    }
    return { result: 'unknown', message: `missing probe handler for container ${JSON.stringify(target.container.name ?? '')}` };
  } catch (err) {
    return { result: 'unknown', message: (err as Error)?.message ?? String(err) };
  }
}

function cancelled(): ProbeOutcome {
  return { result: 'unknown', message: 'probe cancelled' };
}

/**
 * Resolves an IntOrString port as Kubernetes' probe.ResolveContainerPort: a number as is, a string
 * as the name of one of the container's ports, else as a number written as a string. Returns the
 * port, or the error message (a string) when it does not resolve to 1..65535.
 */
export function resolveContainerPort(param: unknown, container: Container): number | string {
  let port: number;
  if (typeof param === 'number') {
    port = param;
  } else if (typeof param === 'string') {
    const named = (container.ports ?? []).find((p) => p.name === param);
    if (named) {
      port = named.containerPort ?? 0;
    } else if (/^[+-]?\d+$/.test(param)) {
      port = Number(param);
    } else {
      return `strconv.Atoi: parsing ${JSON.stringify(param)}: invalid syntax`;
    }
  } else {
    port = 0;
  }
  if (Number.isInteger(port) && port > 0 && port < 65536) return port;
  return `invalid port number: ${port}`;
}

/** Go's net.JoinHostPort. */
function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** The text after "dial tcp <addr>: " that Go prints for a failed connect. */
function dialErrorText(err: NodeJS.ErrnoException, hostPort: string, host: string): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return `dial tcp ${hostPort}: connect: connection refused`;
    case 'EHOSTUNREACH':
      return `dial tcp ${hostPort}: connect: no route to host`;
    case 'ENETUNREACH':
      return `dial tcp ${hostPort}: connect: network is unreachable`;
    case 'ETIMEDOUT':
      return `dial tcp ${hostPort}: connect: connection timed out`;
    case 'EADDRNOTAVAIL':
      return `dial tcp ${hostPort}: connect: cannot assign requested address`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `dial tcp: lookup ${host}: no such host`;
    default:
      return `dial tcp ${hostPort}: ${err.message}`;
  }
}

/** TCP probe: success when a connection is established within the timeout (pkg/probe/tcp). */
function tcpProbe(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<ProbeOutcome> {
  const hostPort = joinHostPort(host, port);
  return new Promise<ProbeOutcome>((resolve) => {
    let done = false;
    const socket = net.connect({ host, port });
    const finish = (outcome: ProbeOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(outcome);
    };
    const onAbort = () => finish(cancelled());
    const timer = setTimeout(() => finish({ result: 'failure', message: `dial tcp ${hostPort}: i/o timeout` }), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish({ result: 'success', message: '' }));
    socket.on('error', (err: NodeJS.ErrnoException) => finish({ result: 'failure', message: dialErrorText(err, hostPort, host) }));
  });
}

/** Go's %q for a command line, near enough for ASCII. */
function quoteCommand(command: string[]): string {
  return JSON.stringify(command.join(' '));
}

function isTimeoutError(err: unknown): boolean {
  const e = err as { timedOut?: unknown; code?: unknown } | null;
  return !!e && (e.timedOut === true || e.code === 4);
}

/**
 * Exec probe (pkg/probe/exec): exit code 0 is success, any other is failure with the command's
 * output (stdout then stderr, at most 10 KiB) as the message; a timeout is a failure
 * `command "<cmd>" timed out`. `guardMs` bounds a runner that never answers.
 */
async function execProbe(
  command: string[],
  timeoutSeconds: number,
  guardMs: number,
  exec: ExecFunc | undefined,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  if (!exec) return { result: 'unknown', message: 'exec probes need a container runtime (no exec function given)' };
  const timedOut: ProbeOutcome = { result: 'failure', message: `command ${quoteCommand(command)} timed out` };
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    const running = Promise.resolve().then(() => exec(command, timeoutSeconds));
    // A late answer after the guard or an abort must not become an unhandled rejection.
    running.catch(() => undefined);
    const outcome = await Promise.race<ExecResult | ProbeOutcome>([
      running,
      new Promise<ProbeOutcome>((resolve) => {
        timer = setTimeout(() => resolve(timedOut), guardMs);
        onAbort = () => resolve(cancelled());
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
    if ('result' in outcome) return outcome;
    if (outcome.timedOut) return timedOut;
    const output = truncate(`${outcome.stdout ?? ''}${outcome.stderr ?? ''}`);
    return outcome.exitCode === 0 ? { result: 'success', message: output } : { result: 'failure', message: output };
  } catch (err) {
    if (isTimeoutError(err)) return timedOut;
    return { result: 'unknown', message: (err as Error)?.message ?? String(err) };
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

function truncate(text: string): string {
  const buf = Buffer.from(text, 'utf8');
  return buf.length <= MAX_OUTPUT_BYTES ? text : buf.subarray(0, MAX_OUTPUT_BYTES).toString('utf8');
}

interface HttpResponse {
  status: number;
  location?: string;
  body: string;
}

/** The URL as Go's url.URL.String() prints it for a probe (the port always written). */
function formatProbeURL(scheme: string, host: string, port: number, path: string): string {
  const rest = path === '' || path.startsWith('/') ? path : `/${path}`;
  return `${scheme}://${joinHostPort(host, port)}${rest}`;
}

/**
 * HTTP probe (pkg/probe/http): GET with headers as Kubernetes builds them (User-Agent
 * kube-probe/<version>, Accept "any", a Host header overriding the host), TLS unverified, redirects
 * followed only to the same host name (at most 10), one deadline over the whole exchange.
 * 200..399 is success, a 3xx that was not followed a success with a warning.
 */
async function httpProbe(action: HTTPGetAction, target: ProbeTarget, timeoutMs: number, options: RunProbeOptions): Promise<ProbeOutcome> {
  const scheme = (action.scheme || 'http').toLowerCase();
  const host = action.host || target.podIP;
  const port = resolveContainerPort(action.port, target.container);
  if (typeof port === 'string') return { result: 'unknown', message: port };
  if (scheme !== 'http' && scheme !== 'https') return { result: 'unknown', message: `unsupported protocol scheme "${scheme}"` };

  const values: Record<string, string[]> = {};
  for (const h of action.httpHeaders ?? []) {
    if (!h.name) continue;
    (values[h.name.toLowerCase()] ??= []).push(h.value ?? '');
  }
  if (!values['user-agent']) values['user-agent'] = [options.userAgent ?? DEFAULT_USER_AGENT];
  if (!values['accept']) values['accept'] = ['*/*'];
  else if (values['accept'][0] === '') delete values['accept'];
  // Go sends the first Host value as the request's host, and no Host header when it is empty.
  if (values['host'] && !values['host'][0]) delete values['host'];
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(values)) headers[k] = k === 'host' || v.length === 1 ? v[0] : v;

  const deadline = Date.now() + timeoutMs;
  const originalHost = stripBrackets(host);
  let url = formatProbeURL(scheme, host, port, action.path ?? '');
  let next: { scheme: string; host: string; port: number; path: string } = {
    scheme,
    host,
    port,
    path: pathPart(action.path ?? ''),
  };
  for (let requests = 0; ; requests++) {
    const res = await httpGetOnce(url, next, headers, deadline, options.signal);
    if ('result' in res) return res;
    if (REDIRECT_CODES.has(res.status) && res.location !== undefined) {
      let target: URL;
      try {
        target = new URL(res.location, toNodeURL(next));
      } catch {
        return { result: 'failure', message: `Get ${JSON.stringify(url)}: failed to parse Location header ${JSON.stringify(res.location)}` };
      }
      const nextHost = stripBrackets(target.hostname);
      if (nextHost === originalHost && (target.protocol === 'http:' || target.protocol === 'https:')) {
        if (requests + 1 >= MAX_REDIRECTS) {
          return { result: 'failure', message: `Get ${JSON.stringify(target.href)}: stopped after 10 redirects` };
        }
        const nextScheme = target.protocol.slice(0, -1);
        next = {
          scheme: nextScheme,
          host: nextHost,
          port: target.port ? Number(target.port) : nextScheme === 'https' ? 443 : 80,
          path: `${target.pathname}${target.search}`,
        };
        url = target.href;
        continue;
      }
    }
    if (res.status >= 200 && res.status < 400) {
      return res.status >= 300 ? { result: 'success', message: res.body, warning: true } : { result: 'success', message: res.body };
    }
    return { result: 'failure', message: `HTTP probe failed with statuscode: ${res.status}` };
  }
}

function pathPart(path: string): string {
  if (path === '') return '/';
  return path.startsWith('/') ? path : `/${path}`;
}

function toNodeURL(t: { scheme: string; host: string; port: number; path: string }): string {
  return `${t.scheme}://${joinHostPort(t.host, t.port)}${t.path}`;
}

function httpGetOnce(
  url: string,
  t: { scheme: string; host: string; port: number; path: string },
  headers: Record<string, string | string[]>,
  deadline: number,
  signal?: AbortSignal,
): Promise<HttpResponse | ProbeOutcome> {
  const hostPort = joinHostPort(t.host, t.port);
  return new Promise((resolve) => {
    let done = false;
    let phase: 'headers' | 'body' = 'headers';
    const mod = t.scheme === 'https' ? https : http;
    const req = mod.request({
      method: 'GET',
      host: t.host,
      port: t.port,
      path: t.path,
      headers,
      agent: false, // Kubernetes disables keep-alive for probes.
      rejectUnauthorized: false, // Kubernetes probes skip TLS verification.
    });
    const finish = (outcome: HttpResponse | ProbeOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(outcome);
    };
    const onAbort = () => finish(cancelled());
    const timer = setTimeout(() => {
      const why =
        phase === 'headers'
          ? 'context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
          : 'context deadline exceeded (Client.Timeout or context cancellation while reading body)';
      // Go reports a body that stalls as an error of the attempt, not a failed probe.
      finish({ result: phase === 'headers' ? 'failure' : 'unknown', message: `Get ${JSON.stringify(url)}: ${why}` });
    }, Math.max(0, deadline - Date.now()));
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err: NodeJS.ErrnoException) => {
      let text: string;
      if (err.syscall === 'connect' || err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
        text = dialErrorText(err, hostPort, t.host);
      } else if (err.code === 'ECONNRESET' && err.syscall === 'read') {
        text = 'read: connection reset by peer';
      } else if (err.code === 'ECONNRESET') {
        text = 'EOF'; // "socket hang up": the server closed without answering
      } else {
        text = err.message;
      }
      finish({ result: 'failure', message: `Get ${JSON.stringify(url)}: ${text}` });
    });
    req.on('response', (res) => {
      phase = 'body';
      const chunks: Buffer[] = [];
      let size = 0;
      const complete = () =>
        finish({
          status: res.statusCode ?? 0,
          location: typeof res.headers.location === 'string' ? res.headers.location : undefined,
          body: Buffer.concat(chunks).subarray(0, MAX_OUTPUT_BYTES).toString('utf8'),
        });
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= MAX_OUTPUT_BYTES) complete(); // Kubernetes reads at most 10 KiB and moves on.
      });
      res.on('end', complete);
      res.on('error', (err) => finish({ result: 'unknown', message: `Get ${JSON.stringify(url)}: ${err.message}` }));
    });
    req.end();
  });
}
