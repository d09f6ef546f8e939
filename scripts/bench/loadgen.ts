/**
 * A small HTTP/1.1 load generator for loopback benchmarks: C keep-alive connections, each sending
 * one GET at a time (closed loop), for a fixed time after a warm-up. Raw sockets and a minimal
 * response parser (Content-Length or chunked) keep its own CPU cost low: on a 2-core machine the
 * generator competes with the server and the proxy under test.
 *
 *   node dist/scripts/bench/loadgen.js --target 127.128.0.5:80 [--host-header x] [--path /]
 *        [--connections 16] [--seconds 8] [--warmup 2]
 *
 * Prints one JSON line: {requests, seconds, rps, p50Ms, p90Ms, p99Ms, maxMs, errors, non2xx}.
 */
import * as net from 'net';

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  non2xx: number;
}

interface LoadOptions {
  host: string;
  port: number;
  hostHeader: string;
  path: string;
  connections: number;
  seconds: number;
  warmup: number;
}

function parseArgs(argv: string[]): LoadOptions {
  const o: LoadOptions = { host: '', port: 80, hostHeader: '', path: '/', connections: 16, seconds: 8, warmup: 2 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--target': {
        const m = /^(.+):(\d+)$/.exec(v ?? '');
        if (!m) throw new Error(`--target must be ip:port, got ${v}`);
        o.host = m[1];
        o.port = Number(m[2]);
        break;
      }
      case '--host-header': o.hostHeader = v; break;
      case '--path': o.path = v; break;
      case '--connections': o.connections = Number(v); break;
      case '--seconds': o.seconds = Number(v); break;
      case '--warmup': o.warmup = Number(v); break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
    i++;
  }
  if (!o.host) throw new Error('--target is required');
  return o;
}

/** Where the response that starts at `buf[0]` ends, or -1 when it is not complete yet. */
function responseEnd(buf: Buffer): number {
  const headerEnd = buf.indexOf('\r\n\r\n');
  if (headerEnd < 0) return -1;
  const head = buf.toString('latin1', 0, headerEnd).toLowerCase();
  const cl = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (cl) {
    const end = headerEnd + 4 + Number(cl[1]);
    return buf.length >= end ? end : -1;
  }
  if (/\r\ntransfer-encoding:\s*chunked/.test(head)) {
    const last = buf.indexOf('\r\n0\r\n\r\n', headerEnd);
    return last < 0 ? -1 : last + 7;
  }
  return headerEnd + 4;
}

/** Runs the load; resolves the measured figures. Never rejects: socket errors are counted. */
export function runLoad(o: LoadOptions): Promise<LoadResult> {
  const request = Buffer.from(`GET ${o.path} HTTP/1.1\r\nHost: ${o.hostHeader || `${o.host}:${o.port}`}\r\nUser-Agent: kubemu-loadgen\r\n\r\n`, 'latin1');
  const started = process.hrtime.bigint();
  const warmEnd = started + BigInt(Math.round(o.warmup * 1e9));
  const end = warmEnd + BigInt(Math.round(o.seconds * 1e9));
  const latenciesUs: number[] = [];
  let errors = 0;
  let non2xx = 0;
  let open = 0;

  return new Promise((resolve) => {
    const finish = () => {
      if (--open > 0) return;
      latenciesUs.sort((a, b) => a - b);
      const pct = (p: number) => (latenciesUs.length ? latenciesUs[Math.min(latenciesUs.length - 1, Math.ceil((p / 100) * latenciesUs.length) - 1)] / 1000 : NaN);
      resolve({
        requests: latenciesUs.length,
        seconds: o.seconds,
        rps: latenciesUs.length / o.seconds,
        p50Ms: pct(50),
        p90Ms: pct(90),
        p99Ms: pct(99),
        maxMs: latenciesUs.length ? latenciesUs[latenciesUs.length - 1] / 1000 : NaN,
        errors,
        non2xx,
      });
    };
    /** `open` counts live connections and scheduled replacements, so the run ends only after both. */
    const connection = () => {
      let buf: Buffer = Buffer.alloc(0);
      let sentAt = 0n;
      const sock = net.connect({ host: o.host, port: o.port, noDelay: true });
      const send = () => {
        if (process.hrtime.bigint() >= end) {
          sock.end();
          return;
        }
        sentAt = process.hrtime.bigint();
        sock.write(request);
      };
      sock.on('connect', send);
      sock.on('data', (d: Buffer) => {
        buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
        const at = responseEnd(buf);
        if (at < 0) return;
        const now = process.hrtime.bigint();
        if (buf[9] !== 0x32) non2xx++; // "HTTP/1.1 2xx": the status's first digit is byte 9
        if (sentAt >= warmEnd && now <= end) latenciesUs.push(Number(now - sentAt) / 1000);
        buf = buf.subarray(at);
        send();
      });
      let closed = false;
      const done = () => {
        if (closed) return;
        closed = true;
        // A connection the server closed early is replaced while there is time left.
        if (process.hrtime.bigint() < end) {
          open++;
          setTimeout(connection, 10);
        }
        finish();
      };
      sock.on('error', () => {
        errors++;
        done();
      });
      sock.on('close', done);
    };
    open = o.connections;
    for (let i = 0; i < o.connections; i++) connection();
  });
}

if (require.main === module) {
  runLoad(parseArgs(process.argv.slice(2))).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (err) => {
      process.stderr.write(`loadgen: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
