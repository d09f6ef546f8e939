/**
 * The pod subresources served by the node's kubelet: pods/log (GET, a text/plain stream) and
 * pods/exec (a WebSocket upgrade speaking v5.channel.k8s.io, or v4 without stdin). As in
 * Kubernetes, the apiserver checks the pod and the container itself (pkg/registry/core/pod
 * LogLocation / ExecLocation), then hands the request to the pod's kubelet: here KubeletService
 * ContainerLogs and Exec over gRPC, found through the Node's kubelet endpoint.
 *
 * Exec is unary on the kubelet (stdin bytes in, stdout/stderr/exit code out), so stdin is
 * buffered until the client closes it (v5's close signal) and output is delivered when the
 * command ends: `kubectl exec`, `kubectl exec -- sh -c 'exit 3'` and `echo hi | kubectl exec -i`
 * behave as on a real cluster; an interactive shell (-it) does not.
 */
import * as grpc from '@grpc/grpc-js';
import { IncomingMessage, ServerResponse } from 'http';
import { Duplex } from 'stream';
import { ApiError, errors, field, FieldError } from '../../lib/errors';
import { Pod } from '../../lib/generated/kubemu/core/v1/core';
import { ContainerLogsResponse, ExecResponse } from '../../lib/generated/kubemu/kubelet/v1/kubelet';
import { goQuote } from '../../lib/labels';
import { RestExtensions, SubresourceContext, writeUpgradeError } from './extensions';
import { KubeletConnections, KubeletTarget, kubeletError } from './kubelet-client';
import { asApiError } from './respond';
import {
  CHANNEL_CLOSE,
  CHANNEL_ERROR,
  CHANNEL_STDERR,
  CHANNEL_STDIN,
  CHANNEL_STDOUT,
  CLOSE_NORMAL,
  handshakeResponse,
  isWebSocketUpgrade,
  offeredProtocols,
  OPCODE_BINARY,
  PROTOCOL_V4,
  PROTOCOL_V5,
  ServerWebSocket,
} from './websocket';

/** Largest stdin an exec buffers (the kubelet takes it in one message). */
export const MAX_EXEC_STDIN_BYTES = 16 * 1024 * 1024;
/** Largest single WebSocket message accepted from a client. */
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** How long a followed log may stay silent before the 200 headers go out anyway. */
const FOLLOW_HEADER_DELAY_MS = 300;

// ---------------------------------------------------------------------------------------------
// Options

/** PodLogOptions as the query carries them (core/v1 PodLogOptions). */
export interface PodLogOptions {
  container: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  /** RFC 3339 as given. */
  sinceTime?: string;
  limitBytes?: number;
}

/** PodExecOptions as the query carries them (core/v1 PodExecOptions). */
export interface PodExecOptions {
  container: string;
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** A query boolean as Kubernetes converts it: true/1 and false/0/empty; anything else is a BadRequest. */
function queryBool(query: URLSearchParams, name: string): boolean {
  const v = query.get(name);
  if (v === null) return false;
  switch (v.toLowerCase()) {
    case 'true':
    case '1':
      return true;
    case 'false':
    case '0':
    case '':
      return false;
    default:
      throw errors.badRequest(`invalid value for ${name}: strconv.ParseBool: parsing ${goQuote(v)}: invalid syntax`);
  }
}

function queryInt(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  if (!/^[-+]?\d+$/.test(v)) throw errors.badRequest(`invalid value for ${name}: strconv.ParseInt: parsing ${goQuote(v)}: invalid syntax`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw errors.badRequest(`invalid value for ${name}: strconv.ParseInt: parsing ${goQuote(v)}: value out of range`);
  return n;
}

/**
 * Reads and validates PodLogOptions from a pods/log query. Throws BadRequest for a value that is
 * not a boolean/integer/RFC 3339 time, and Invalid (422, kind PodLogOptions) for the rules of
 * Kubernetes' ValidatePodLogOptions (tailLines ≥ 0, limitBytes > 0, sinceSeconds > 0, not both
 * sinceSeconds and sinceTime). Pure.
 */
export function parsePodLogOptions(podName: string, query: URLSearchParams): PodLogOptions {
  const opts: PodLogOptions = {
    container: query.get('container') ?? '',
    follow: queryBool(query, 'follow'),
    previous: queryBool(query, 'previous'),
    timestamps: queryBool(query, 'timestamps'),
    tailLines: queryInt(query, 'tailLines'),
    sinceSeconds: queryInt(query, 'sinceSeconds'),
    limitBytes: queryInt(query, 'limitBytes'),
  };
  const sinceTime = query.get('sinceTime');
  if (sinceTime) {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(sinceTime) || Number.isNaN(Date.parse(sinceTime))) {
      throw errors.badRequest(`invalid value for sinceTime: parsing time ${goQuote(sinceTime)} as "2006-01-02T15:04:05Z07:00": cannot parse`);
    }
    opts.sinceTime = sinceTime;
  }
  const errs: FieldError[] = [];
  if (opts.tailLines !== undefined && opts.tailLines < 0) errs.push(field.invalid('tailLines', opts.tailLines, 'must be greater than or equal to 0'));
  if (opts.limitBytes !== undefined && opts.limitBytes < 1) errs.push(field.invalid('limitBytes', opts.limitBytes, 'must be greater than 0'));
  if (opts.sinceSeconds !== undefined && opts.sinceTime !== undefined) {
    errs.push(field.forbidden('', 'at most one of `sinceTime` or `sinceSeconds` may be specified'));
  } else if (opts.sinceSeconds !== undefined && opts.sinceSeconds < 1) {
    errs.push(field.invalid('sinceSeconds', opts.sinceSeconds, 'must be greater than 0'));
  }
  if (errs.length) throw errors.invalid('PodLogOptions', '', podName, errs);
  return opts;
}

/**
 * Reads PodExecOptions from a pods/exec query (command repeated, one argument each). Throws
 * BadRequest without a command or without any of stdin/stdout/stderr, as the kubelet does. Pure.
 */
export function parsePodExecOptions(query: URLSearchParams): PodExecOptions {
  const opts: PodExecOptions = {
    container: query.get('container') ?? '',
    command: query.getAll('command'),
    stdin: queryBool(query, 'stdin'),
    stdout: queryBool(query, 'stdout'),
    stderr: queryBool(query, 'stderr'),
    tty: queryBool(query, 'tty'),
  };
  if (opts.command.length === 0) throw errors.badRequest('you must specify at least 1 command');
  if (!opts.stdin && !opts.stdout && !opts.stderr) throw errors.badRequest('you must specify at least one of stdin, stdout, stderr');
  return opts;
}

/**
 * The container a request means, checked as Kubernetes' validateContainer does: empty means the
 * pod's only container; otherwise it must be one of the pod's (init or regular) containers.
 * Throws BadRequest with Kubernetes' messages. Pure.
 */
export function resolveContainer(pod: Pod, container: string): string {
  const podName = pod.metadata?.name ?? '';
  const regular = (pod.spec?.containers ?? []).map((c) => c.name ?? '');
  const all = [...(pod.spec?.initContainers ?? []).map((c) => c.name ?? ''), ...regular];
  if (!container) {
    if (regular.length === 1) return regular[0];
    if (regular.length === 0) throw errors.badRequest(`a container name must be specified for pod ${podName}`);
    throw errors.badRequest(`a container name must be specified for pod ${podName}, choose one of: [${all.join(' ')}]`);
  }
  if (!all.includes(container)) throw errors.badRequest(`container ${container} is not valid for pod ${podName}`);
  return container;
}

/** Seconds since `sinceTime` (RFC 3339), at least 1: the kubelet API takes only a relative bound. */
export function sinceTimeToSeconds(sinceTime: string, now = Date.now()): number {
  return Math.max(1, Math.ceil((now - Date.parse(sinceTime)) / 1000));
}

// ---------------------------------------------------------------------------------------------
// pods/log

async function getPod(ctx: SubresourceContext): Promise<Pod> {
  return (await ctx.registry.get(ctx.info, ctx.namespace, ctx.name)) as Pod;
}

/**
 * GET pods/{name}/log: validates the options, the pod and the container, then streams the
 * kubelet's ContainerLogs as text/plain (chunked; flushed as it comes with follow). An
 * unscheduled pod has no log yet: an empty 200, as Kubernetes answers. Errors before the first
 * byte are thrown as ApiErrors (the router writes the Status); after it, the stream just ends.
 * Resolves when the response has ended or the client has gone (the kubelet stream is cancelled).
 */
export function podLogHandler(kubelets: KubeletConnections) {
  return async (req: IncomingMessage, res: ServerResponse, ctx: SubresourceContext): Promise<void> => {
    if (req.method !== 'GET') throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
    const opts = parsePodLogOptions(ctx.name, ctx.query);
    const pod = await getPod(ctx);
    const container = resolveContainer(pod, opts.container);
    const nodeName = pod.spec?.nodeName ?? '';
    if (!nodeName) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end();
      return;
    }
    const target = await kubelets.forNode(ctx.registry, nodeName);
    await streamLogs(res, target, {
      namespace: ctx.namespace,
      pod: ctx.name,
      container,
      follow: opts.follow,
      previous: opts.previous,
      timestamps: opts.timestamps,
      tail_lines: opts.tailLines,
      since_seconds: opts.sinceTime !== undefined ? sinceTimeToSeconds(opts.sinceTime) : opts.sinceSeconds,
      limit_bytes: opts.limitBytes,
    });
  };
}

function streamLogs(
  res: ServerResponse,
  target: KubeletTarget,
  request: Parameters<KubeletTarget['client']['containerLogs']>[0],
): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = target.client.containerLogs(request);
    let clientGone = false;
    let settled = false;
    const settle = (err?: ApiError) => {
      if (settled) return;
      settled = true;
      clearTimeout(headerTimer);
      if (err) reject(err);
      else resolve();
    };
    const sendHeaders = () => {
      if (res.headersSent || res.writableEnded) return;
      // No Content-Length: node sends the body chunked; flushHeaders lets kubectl -f start at once.
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private' });
      res.flushHeaders();
    };
    // A followed log may stay silent for long: the headers go out after a short wait, so that
    // kubelet refusals (which come at once) are still Status errors with their HTTP code.
    const headerTimer = setTimeout(sendHeaders, request.follow ? FOLLOW_HEADER_DELAY_MS : 10000);
    const onGone = () => {
      if (res.writableFinished) return;
      clientGone = true;
      call.cancel();
      settle();
    };
    res.on('close', onGone);
    call.on('data', (chunk: ContainerLogsResponse) => {
      const data = Buffer.from(chunk.data ?? []);
      if (data.length === 0) return;
      sendHeaders();
      if (!res.write(data)) {
        call.pause();
        res.once('drain', () => call.resume());
      }
    });
    call.on('end', () => {
      // grpc-js ends the stream after reporting an error status: the error has been answered.
      if (settled) return;
      sendHeaders();
      res.end();
      settle();
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (clientGone || err.code === grpc.status.CANCELLED) {
        settle();
        return;
      }
      if (!res.headersSent) {
        settle(kubeletError(err, target));
        return;
      }
      res.end();
      settle();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// pods/exec

/** The v4/v5 error-channel Status for a finished command: Success, or NonZeroExitCode with the code as the ExitCode cause. Pure. */
export function exitStatus(exitCode: number, command: string[]): Record<string, unknown> {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** The error-channel Status for a command that could not be run at all. Pure. */
export function failureStatus(err: ApiError): Record<string, unknown> {
  return { metadata: {}, status: 'Failure', message: err.message, reason: err.reason, code: err.code };
}

/** The subprotocol to speak with a client offering `offered`: v5 first, then v4; undefined when neither. */
export function chooseProtocol(offered: string[]): string | undefined {
  if (offered.includes(PROTOCOL_V5)) return PROTOCOL_V5;
  if (offered.includes(PROTOCOL_V4)) return PROTOCOL_V4;
  return undefined;
}

/**
 * Upgrade handler for pods/{name}/exec. Before the upgrade it checks the options, the pod (404),
 * the container (400), the pod's node and the requested subprotocol, answering any failure as an
 * HTTP Status (so kubectl's fallback to SPDY meets the same error and prints it; SPDY itself is
 * refused). After the 101 it collects stdin until the v5 close signal (none when stdin is not
 * requested), runs the command through the kubelet's Exec, sends stdout (1) and stderr (2; merged
 * into stdout with a TTY), then the Status on channel 3, and closes the WebSocket normally. A
 * client that goes away cancels the kubelet call. Resolves when the connection is finished.
 */
export function podExecUpgradeHandler(kubelets: KubeletConnections) {
  return async (req: IncomingMessage, socket: Duplex, head: Buffer, ctx: SubresourceContext): Promise<void> => {
    let opts: PodExecOptions;
    let container: string;
    let target: KubeletTarget;
    let protocol: string;
    let response: string;
    try {
      opts = parsePodExecOptions(ctx.query);
      const pod = await getPod(ctx);
      container = resolveContainer(pod, opts.container);
      if (!pod.spec?.nodeName) throw errors.badRequest(`pod ${ctx.name} does not have a host assigned`);
      target = await kubelets.forNode(ctx.registry, pod.spec.nodeName);
      if (!isWebSocketUpgrade(req)) {
        throw errors.badRequest(`upgrade to ${JSON.stringify(String(req.headers.upgrade ?? ''))} is not supported: pods/exec is served over WebSocket (${PROTOCOL_V5})`);
      }
      const offered = offeredProtocols(req);
      const chosen = chooseProtocol(offered);
      if (!chosen) throw errors.badRequest(`none of the requested subprotocols [${offered.join(' ')}] is supported; supported: [${PROTOCOL_V5} ${PROTOCOL_V4}]`);
      // Without v5's close signal the end of stdin cannot be told, and the kubelet needs all of it.
      if (chosen === PROTOCOL_V4 && opts.stdin) throw errors.badRequest(`stdin needs ${PROTOCOL_V5} (its close signal marks the end of input)`);
      protocol = chosen;
      const hs = handshakeResponse(req, protocol);
      if ('error' in hs) throw errors.badRequest(hs.error);
      response = hs.response;
    } catch (err) {
      writeUpgradeError(socket, err);
      return;
    }
    socket.write(response);
    await runExecSession(socket, head, ctx, opts, container, target, ctx.log);
  };
}

function runExecSession(
  socket: Duplex,
  head: Buffer,
  ctx: SubresourceContext,
  opts: PodExecOptions,
  container: string,
  target: KubeletTarget,
  log: SubresourceContext['log'],
): Promise<void> {
  return new Promise((resolve) => {
    const stdin: Buffer[] = [];
    let stdinBytes = 0;
    let started = false;
    let call: grpc.ClientUnaryCall | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      call?.cancel();
      resolve();
    };
    const ws = new ServerWebSocket(
      socket,
      {
        onMessage: (m) => {
          if (m.opcode !== OPCODE_BINARY || m.payload.length === 0 || started) return;
          const channel = m.payload[0];
          const data = m.payload.subarray(1);
          if (channel === CHANNEL_STDIN && opts.stdin) {
            stdinBytes += data.length;
            if (stdinBytes > MAX_EXEC_STDIN_BYTES) {
              started = true;
              end(failureStatus(errors.tooLarge(`stdin of exec is limited to ${MAX_EXEC_STDIN_BYTES} bytes`)));
              return;
            }
            stdin.push(Buffer.from(data));
          } else if (channel === CHANNEL_CLOSE && data[0] === CHANNEL_STDIN) {
            start();
          }
          // Resize (4) and anything else: nothing to do without a TTY.
        },
        onClose: finish,
      },
      MAX_MESSAGE_BYTES,
    );
    const end = (status: Record<string, unknown>) => {
      ws.sendChannel(CHANNEL_ERROR, Buffer.from(JSON.stringify(status)));
      ws.close(CLOSE_NORMAL);
      finish();
    };
    const start = () => {
      if (started) return;
      started = true;
      const began = Date.now();
      call = target.client.exec(
        { namespace: ctx.namespace, pod: ctx.name, container, command: opts.command, stdin: Buffer.concat(stdin), timeout_seconds: 0 },
        (err: grpc.ServiceError | null, res?: ExecResponse) => {
          if (done) return;
          if (err || !res) {
            const apiErr = err ? kubeletError(err, target) : asApiError(new Error('empty answer from the kubelet'));
            log.info('exec failed', { pod: `${ctx.namespace}/${ctx.name}`, container, node: target.nodeName, reason: apiErr.reason, error: apiErr.message });
            end(failureStatus(apiErr));
            return;
          }
          const stdout = Buffer.from(res.stdout ?? []);
          const stderr = Buffer.from(res.stderr ?? []);
          if (opts.stdout && stdout.length) ws.sendChannel(CHANNEL_STDOUT, stdout);
          if (stderr.length) {
            if (opts.tty && opts.stdout) ws.sendChannel(CHANNEL_STDOUT, stderr);
            else if (opts.stderr) ws.sendChannel(CHANNEL_STDERR, stderr);
          }
          const exitCode = res.exit_code ?? 0;
          log.debug('exec', { pod: `${ctx.namespace}/${ctx.name}`, container, node: target.nodeName, exitCode, ms: Date.now() - began });
          end(exitStatus(exitCode, opts.command));
        },
      );
    };
    ws.receive(head);
    if (!opts.stdin) start();
  });
}

// ---------------------------------------------------------------------------------------------
// Registration

/**
 * Registers pods/log (GET) and pods/exec (WebSocket upgrade) with the REST router. One
 * KubeletConnections pool is created per call unless one is given. Call once per apiserver
 * replica at start-up. Returns the pool (its owner may close it at shutdown).
 */
export function registerPodExtensions(ext: RestExtensions, kubelets: KubeletConnections = new KubeletConnections()): KubeletConnections {
  ext.registerSubresource('pods', 'log', podLogHandler(kubelets), { verbs: ['get'], kind: 'Pod' });
  ext.registerUpgrade('pods', 'exec', podExecUpgradeHandler(kubelets), { verbs: ['create', 'get'], kind: 'PodExecOptions' });
  return kubelets;
}

/** The extension-module entry point the router looks for (see extensions.ts). */
export function registerRestExtensions(ext: RestExtensions): void {
  registerPodExtensions(ext);
}
