/**
 * The `nginx` image's program: an HTTP server on the pod IP.
 *
 * Listens on $POD_IP (default 127.0.0.1) at the port from $PORT, else the first
 * argument, else 80. `GET /` serves an HTML page naming the pod; `GET /proxy?url=<http URL>`
 * fetches that URL from inside the pod (names resolved as the pod resolves them, e.g.
 * `http://web/` through the search list) and answers its status and body, or 502 with the error
 * (e.g. `getaddrinfo ENOTFOUND web`); every other path
 * answers JSON with the request's method, path, headers and remote address. One
 * access line per request goes to stdout in nginx's combined format. SIGTERM (or
 * SIGINT/SIGQUIT, nginx's graceful stop) closes the listener, lets in-flight requests
 * finish, and exits 0. Standalone: Node built-ins only, so it runs as
 * `node http-server.js` with no kubemu code loaded.
 */
import * as http from 'http';
import * as https from 'https';
import * as os from 'os';

function portFrom(env: string | undefined, arg: string | undefined, fallback: number): number {
  for (const raw of [env, arg]) {
    if (raw === undefined || raw === '') continue;
    const n = Number(raw.replace(/^.*:/, ''));
    if (Number.isInteger(n) && n >= 0 && n < 65536) return n;
    process.stderr.write(`http-server: invalid port ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return fallback;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** nginx's `$time_local`: 10/Oct/2000:13:55:36 +0000. */
function timeLocal(d: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const tz = `${sign}${p(Math.floor(Math.abs(off) / 60))}${p(Math.abs(off) % 60)}`;
  return `${p(d.getDate())}/${months[d.getMonth()]}/${d.getFullYear()}:${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${tz}`;
}

const host = process.env.POD_IP || '127.0.0.1';
const port = portFrom(process.env.PORT, process.argv[2], 80);
const pod = {
  name: process.env.POD_NAME ?? '',
  namespace: process.env.POD_NAMESPACE ?? '',
  node: process.env.NODE_NAME ?? '',
  hostname: process.env.HOSTNAME || os.hostname(),
  ip: host,
};

const PROXY_TIMEOUT_MS = 10_000;
const PROXY_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Fetches `target` (http or https) from this process, as a client in the pod would. Resolves with
 * the upstream's status, content type and body (cut at 4 MiB), or with 502 and the error's text
 * (bad URL, DNS failure, refused connection, 10 s timeout). Never rejects.
 */
function fetchFromPod(target: string | null): Promise<{ status: number; type: string; body: string | Buffer }> {
  const failed = (message: string) => ({ status: 502, type: 'text/plain; charset=utf-8', body: `proxy error: ${message}\n` });
  let u: URL;
  try {
    if (!target) throw new Error('missing url parameter');
    u = new URL(target);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`unsupported protocol ${u.protocol}`);
  } catch (err) {
    return Promise.resolve(failed((err as Error).message));
  }
  return new Promise((resolve) => {
    const client = u.protocol === 'https:' ? https : http;
    const req = client.get(u, { timeout: PROXY_TIMEOUT_MS, headers: { 'User-Agent': 'kubemu-nginx-proxy' } }, (up) => {
      const chunks: Buffer[] = [];
      let size = 0;
      up.on('data', (c: Buffer) => {
        if (size < PROXY_MAX_BYTES) chunks.push(c.subarray(0, PROXY_MAX_BYTES - size));
        size += c.length;
      });
      up.on('end', () => resolve({ status: up.statusCode ?? 502, type: String(up.headers['content-type'] ?? 'application/octet-stream'), body: Buffer.concat(chunks) }));
      up.on('error', (err) => resolve(failed(err.message)));
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${PROXY_TIMEOUT_MS} ms fetching ${u.href}`)));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(failed(err.code && !err.message.includes(err.code) ? `${err.code} ${err.message}` : err.message)));
  });
}

const server = http.createServer((req, res) => {
  let bodyBytes = 0;
  req.on('data', (chunk: Buffer) => (bodyBytes += chunk.length));
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), Server: 'nginx/1.27.0 (kubemu)' });
      res.end(req.method === 'HEAD' ? undefined : body);
      const q = (s: string | undefined) => (s ? s.replace(/"/g, '\\"') : '-');
      process.stdout.write(
        `${req.socket.remoteAddress ?? '-'} - - [${timeLocal(new Date())}] "${req.method} ${q(req.url)} HTTP/${req.httpVersion}" ${status} ${req.method === 'HEAD' ? 0 : Buffer.byteLength(body)} "${q(req.headers.referer)}" "${q(req.headers['user-agent'])}"\n`,
      );
    };
    if (url.pathname === '/proxy' && (req.method === 'GET' || req.method === 'HEAD')) {
      void fetchFromPod(url.searchParams.get('url')).then((r) => send(r.status, r.type, r.body));
      return;
    }
    let body: string;
    let type: string;
    if (url.pathname === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      type = 'text/html; charset=utf-8';
      const rows = Object.entries({ pod: pod.name, namespace: pod.namespace, node: pod.node, hostname: pod.hostname, 'pod IP': pod.ip })
        .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`)
        .join('\n');
      body = `<!DOCTYPE html>
<html>
<head><title>Welcome to nginx on ${escapeHtml(pod.name || pod.hostname)}!</title></head>
<body>
<h1>Welcome to nginx!</h1>
<p>Served by kubemu's nginx image from pod <b>${escapeHtml(pod.namespace)}/${escapeHtml(pod.name)}</b> on node <b>${escapeHtml(pod.node)}</b>.</p>
<table>
${rows}
</table>
</body>
</html>
`;
    } else {
      type = 'application/json';
      body =
        JSON.stringify(
          {
            method: req.method,
            path: url.pathname,
            query: url.search,
            httpVersion: req.httpVersion,
            headers: req.headers,
            remoteAddress: req.socket.remoteAddress,
            remotePort: req.socket.remotePort,
            bodyBytes,
            pod,
          },
          null,
          2,
        ) + '\n';
    }
    send(200, type, body);
  });
});

server.on('error', (err) => {
  process.stderr.write(`http-server: ${err.message}\n`);
  process.exit(1);
});
server.listen(port, host, () => {
  const addr = server.address();
  const bound = addr && typeof addr === 'object' ? addr.port : port;
  process.stderr.write(`http-server: listening on ${host}:${bound}\n`);
});

let stopping = false;
function stop(signal: string): void {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`http-server: ${signal} received, shutting down gracefully\n`);
  server.close(() => process.exit(0));
  server.closeIdleConnections();
}
for (const sig of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) process.on(sig, () => stop(sig));
