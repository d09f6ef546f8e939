import * as grpc from '@grpc/grpc-js';
import {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthClient,
  HealthServer,
  HealthService,
} from './generated/grpc/health/v1/health';

export { ServingStatus };

/**
 * The standard grpc.health.v1 service for one process. `set` changes a service's status
 * ("" is the whole server) and notifies Watch streams. Safe to call at any time.
 */
export class HealthImplementation {
  private readonly statuses = new Map<string, ServingStatus>([['', ServingStatus.NOT_SERVING]]);
  private readonly watchers = new Set<{ service: string; call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse> }>();

  set(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const w of this.watchers) {
      if (w.service === service) w.call.write({ status });
    }
  }

  /** Ends every Watch stream; call before the server shuts down. */
  dispose(): void {
    for (const w of this.watchers) w.call.end();
    this.watchers.clear();
  }

  addTo(server: grpc.Server): void {
    const impl: HealthServer = {
      check: (call, callback) => {
        const status = this.statuses.get(call.request.service ?? '');
        if (status === undefined) {
          callback({ code: grpc.status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
          return;
        }
        callback(null, { status });
      },
      watch: (call) => {
        const service = call.request.service ?? '';
        const entry = { service, call };
        this.watchers.add(entry);
        call.write({ status: this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN });
        call.on('cancelled', () => this.watchers.delete(entry));
        call.on('close', () => this.watchers.delete(entry));
      },
    };
    server.addService(HealthService, impl);
  }
}

/**
 * Asks the gRPC health service at `address` (host:port) for the whole server's status.
 * Resolves 'SERVING', 'NOT_SERVING', 'UNKNOWN' or 'UNREACHABLE' (connection failed or timed out); never throws.
 */
export function checkHealth(address: string, timeoutMs = 2000): Promise<'SERVING' | 'NOT_SERVING' | 'UNKNOWN' | 'UNREACHABLE'> {
  const client = new HealthClient(address, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.check({ service: '' }, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
      client.close();
      if (err) return resolve('UNREACHABLE');
      if (res.status === ServingStatus.SERVING) return resolve('SERVING');
      if (res.status === ServingStatus.NOT_SERVING) return resolve('NOT_SERVING');
      resolve('UNKNOWN');
    });
  });
}
