/**
 * The `echo-server` image's program.
 *
 * HTTP mode (default): every request is answered 200 with JSON holding its method,
 * path, query, headers, body (UTF-8) and remote address, plus the pod's identity.
 * With `-text=<s>` (hashicorp/http-echo's flag) it answers that text instead.
 * TCP mode (`--tcp` or ECHO_MODE=tcp): every connection gets its bytes back.
 *
 * Listens on $POD_IP (default 127.0.0.1) at the port from $PORT, else `-listen=:N`,
 * `--port=N` or a bare numeric argument, else 8080. SIGTERM/SIGINT closes the listener,
 * ends open TCP connections, and exits 0. Node built-ins only.
 */
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';

interface Options {
  port: number;
  tcp: boolean;
  text?: string;
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const opts: Options = { port: 8080, tcp: env.ECHO_MODE === 'tcp' };
  let argPort: string | undefined;
  for (const arg of argv) {
    const m = /^--?(\w[\w-]*)(?:=(.*))?$/.exec(arg);
    if (!m) {
      if (/^\d+$/.test(arg)) argPort = arg;
      continue;
    }
    const [, key, value] = m;
    if (key === 'tcp') opts.tcp = true;
    else if (key === 'text' && value !== undefined) opts.text = value;
    else if ((key === 'listen' || key === 'port') && value !== undefined) argPort = value.replace(/^.*:/, '');
  }
  const raw = env.PORT || argPort;
  if (raw !== undefined) {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 65535) {
      process.stderr.write(`echo-server: invalid port ${JSON.stringify(raw)}\n`);
      process.exit(2);
    }
    opts.port = n;
  }
  return opts;
}

const host = process.env.POD_IP || '127.0.0.1';
const opts = parseOptions(process.argv.slice(2), process.env);
const pod = {
  name: process.env.POD_NAME ?? '',
  namespace: process.env.POD_NAMESPACE ?? '',
  node: process.env.NODE_NAME ?? '',
  hostname: process.env.HOSTNAME || os.hostname(),
  ip: host,
};

const sockets = new Set<net.Socket>();
let server: net.Server;
if (opts.tcp) {
  server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
} else {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const body =
        opts.text !== undefined
          ? opts.text + '\n'
          : JSON.stringify(
              {
                method: req.method,
                path: url.pathname,
                query: Object.fromEntries(url.searchParams),
                headers: req.headers,
                body: Buffer.concat(chunks).toString('utf8'),
                remoteAddress: req.socket.remoteAddress,
                pod,
              },
              null,
              2,
            ) + '\n';
      res.writeHead(200, {
        'Content-Type': opts.text !== undefined ? 'text/plain; charset=utf-8' : 'application/json',
        'Content-Length': Buffer.byteLength(body),
      });
      res.end(body);
      process.stdout.write(JSON.stringify({ time: new Date().toISOString(), method: req.method, path: req.url, remote: req.socket.remoteAddress }) + '\n');
    });
  });
}

server.on('error', (err) => {
  process.stderr.write(`echo-server: ${err.message}\n`);
  process.exit(1);
});
server.listen(opts.port, host, () => {
  const addr = server.address();
  const bound = addr && typeof addr === 'object' ? addr.port : opts.port;
  process.stderr.write(`echo-server: ${opts.tcp ? 'tcp' : 'http'} listening on ${host}:${bound}\n`);
});

let stopping = false;
function stop(signal: string): void {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`echo-server: ${signal} received, shutting down\n`);
  server.close(() => process.exit(0));
  for (const s of sockets) s.end();
  if (server instanceof http.Server) server.closeIdleConnections();
}
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => stop(sig));
