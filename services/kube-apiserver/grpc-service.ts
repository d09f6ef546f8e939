import * as grpc from '@grpc/grpc-js';
import {
  ApiServerServiceServer,
  ApiServerServiceService,
  Object as ApiObject,
} from '../lib/generated/kubemu/apiserver/v1/apiserver';
import { errors, toGrpcError } from '../lib/errors';
import { malformedReason, tolerantService } from '../lib/grpc-tolerant';
import { Logger } from '../lib/log';
import { ResourceInfo, unwrap, wrap, KubeObject } from '../lib/resources';
import { Registry } from './registry';

/** Requests larger than this are refused by gRPC itself with RESOURCE_EXHAUSTED. */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

type Callback<T> = grpc.sendUnaryData<T>;

/**
 * Registers the apiserver's gRPC API on `server`. Every handler goes through the Registry, and
 * every failure goes through toGrpcError (the one mapping table); nothing a client sends can make
 * a handler throw past this layer.
 */
export function addApiServerService(server: grpc.Server, registry: Registry, log: Logger): void {
  const handle = <Req, Res>(method: string, call: grpc.ServerUnaryCall<Req, Res>, cb: Callback<Res>, fn: (req: Req) => Promise<Res>) => {
    const started = Date.now();
    const req = call.request;
    const run = async () => {
      const malformed = malformedReason(req);
      if (malformed !== undefined) throw errors.badRequest(`malformed ${method} request: ${malformed}`);
      return fn(req);
    };
    run().then(
      (res) => cb(null, res),
      (err) => {
        const e = toGrpcError(err);
        if (e.code === grpc.status.INTERNAL) log.error('request failed', { method, err: err instanceof Error ? err.stack : String(err), ms: Date.now() - started });
        cb(e as grpc.ServiceError);
      },
    );
  };

  const objectFor = (info: ResourceInfo, obj: ApiObject | undefined): KubeObject => {
    const u = unwrap(obj);
    if (!u) throw errors.badRequest('object is required');
    if (u.objectCase !== info.objectCase) {
      throw errors.badRequest(`the object is a ${u.value.kind || u.objectCase}, but the request is for resource "${info.resource}" (${info.kind})`);
    }
    return u.value;
  };

  const impl: ApiServerServiceServer = {
    create: (call, cb) =>
      handle('Create', call, cb, async (r) => {
        const info = registry.resource(r.resource ?? '');
        const created = await registry.create(info, r.namespace ?? '', objectFor(info, r.object), { dryRun: r.dryRun });
        return wrap(info.objectCase, created as never);
      }),
    get: (call, cb) =>
      handle('Get', call, cb, async (r) => {
        const info = registry.resource(r.resource ?? '');
        return wrap(info.objectCase, (await registry.get(info, r.namespace ?? '', r.name ?? '')) as never);
      }),
    list: (call, cb) =>
      handle('List', call, cb, async (r) => {
        const info = registry.resource(r.resource ?? '');
        const out = await registry.list(info, r.namespace ?? '', {
          labelSelector: r.labelSelector,
          fieldSelector: r.fieldSelector,
          limit: r.limit,
          continue: r.continue,
        });
        return {
          metadata: { resourceVersion: out.resourceVersion, continue: out.continue, remainingItemCount: out.remainingItemCount },
          items: out.items.map((o) => wrap(info.objectCase, o as never)),
        };
      }),
    update: (call, cb) =>
      handle('Update', call, cb, async (r) => {
        const info = registry.resource(r.resource ?? '');
        return wrap(info.objectCase, (await registry.update(info, r.namespace ?? '', objectFor(info, r.object), { dryRun: r.dryRun })) as never);
      }),
    updateStatus: (call, cb) =>
      handle('UpdateStatus', call, cb, async (r) => {
        const info = registry.resource(r.resource ?? '');
        return wrap(info.objectCase, (await registry.updateStatus(info, r.namespace ?? '', objectFor(info, r.object), { dryRun: r.dryRun })) as never);
      }),
    patch: (call, cb) =>
      handle('Patch', call, cb, async (r) => {
        const info = registry.resource(r.resource ?? '');
        const out = await registry.patch(info, r.namespace ?? '', r.name ?? '', r.patchType ?? '', r.patch ?? new Uint8Array(), r.subresource ?? '', { dryRun: r.dryRun, fieldManager: r.fieldManager || undefined });
        return wrap(info.objectCase, out as never);
      }),
    delete: (call, cb) =>
      handle('Delete', call, cb, async (r) => {
        const info = registry.resource(r.resource ?? '');
        const out = await registry.delete(info, r.namespace ?? '', r.name ?? '', r.options ?? {});
        return { object: out.object ? wrap(info.objectCase, out.object as never) : undefined, status: out.status };
      }),
    bind: (call, cb) =>
      handle('Bind', call, cb, async (r) => {
        if (!r.binding) throw errors.badRequest('binding is required');
        return { status: await registry.bind(r.namespace ?? '', r.name ?? '', r.binding) };
      }),
    getScale: (call, cb) =>
      handle('GetScale', call, cb, async (r) => registry.getScale(registry.resource(r.resource ?? ''), r.namespace ?? '', r.name ?? '')),
    updateScale: (call, cb) =>
      handle('UpdateScale', call, cb, async (r) => {
        if (!r.scale) throw errors.badRequest('scale is required');
        return registry.updateScale(registry.resource(r.resource ?? ''), r.namespace ?? '', r.scale);
      }),
  };
  server.addService(tolerantService(ApiServerServiceService), impl);
}

/** gRPC server options shared by kubemu's servers: message limits and keepalive. */
export const serverOptions: grpc.ServerOptions = {
  'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  'grpc.keepalive_time_ms': 10000,
  'grpc.keepalive_timeout_ms': 5000,
  'grpc.keepalive_permit_without_calls': 1,
  // Below the clients' 5 s keepalive interval, so that their pings are never refused.
  'grpc.http2.min_ping_interval_without_data_ms': 4000,
  // Channelz bookkeeping costs CPU on every call and nothing here reads it.
  'grpc.enable_channelz': 0,
};
