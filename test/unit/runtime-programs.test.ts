import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';
import { ImageCatalog } from '../../services/container-runtime/images/catalog';

// The programs run as real processes. Under ts-jest there is no compiled dist, so each
// program is transpiled on its own (they use Node built-ins only) into a temporary folder.
const sourceDir = path.join(__dirname, '../../services/container-runtime/images/programs');
let programsDir: string;
let catalog: ImageCatalog;
const POD_IP = '127.0.10.7';
const children = new Set<ChildProcess>();

beforeAll(() => {
  programsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubemu-programs-'));
  for (const file of fs.readdirSync(sourceDir).filter((f) => f.endsWith('.ts'))) {
    const out = ts.transpileModule(fs.readFileSync(path.join(sourceDir, file), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    fs.writeFileSync(path.join(programsDir, file.replace(/\.ts$/, '.js')), out.outputText);
  }
  catalog = new ImageCatalog({ programsDir });
});

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(programsDir, { recursive: true, force: true });
});

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

interface Started {
  child: ChildProcess;
  stdout: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `image` as the runtime would and waits for its "listening" line. */
async function startContainer(image: string, env: Record<string, string>, args?: string[]): Promise<Started> {
  const r = catalog.resolve(image, { args });
  const child = spawn(r.executable, r.args, { env: { ...r.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      err += d;
      if (err.includes('listening on')) resolve();
    });
    exited.then(({ code }) => reject(new Error(`exited ${code} before listening: ${err}`)));
  });
  return { child, stdout: () => out, exited };
}

function request(
  port: number,
  reqPath: string,
  options: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: POD_IP, port, path: reqPath, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

async function waitFor(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

const podEnv = { POD_IP, POD_NAME: 'web-0', POD_NAMESPACE: 'shop', NODE_NAME: 'node-1', HOSTNAME: 'web-0' };

describe('nginx image - http-server program', () => {
  it('serves the pod page and request details on the pod IP, logs access lines, exits 0 on SIGTERM', async () => {
    const port = await freePort(POD_IP);
    const c = await startContainer('nginx:1.27', { ...podEnv, PORT: String(port) });

    const page = await request(port, '/', { headers: { 'User-Agent': 'kubemu-test' } });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    for (const s of ['web-0', 'shop', 'node-1', POD_IP]) expect(page.body).toContain(s);

    const details = await request(port, '/request?x=1', { headers: { 'X-Probe': 'yes' } });
    expect(details.status).toBe(200);
    const json = JSON.parse(details.body);
    expect(json).toMatchObject({ method: 'GET', path: '/request', query: '?x=1', remoteAddress: '127.0.0.1' });
    expect(json.headers['x-probe']).toBe('yes');
    expect(json.pod).toMatchObject({ name: 'web-0', namespace: 'shop', node: 'node-1', ip: POD_IP });

    // Access lines reach our pipe asynchronously after the response.
    await waitFor(() => c.stdout().trim().split('\n').length >= 2);
    const lines = c.stdout().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^127\.0\.0\.1 - - \[\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET \/ HTTP\/1\.1" 200 \d+ "-" "kubemu-test"$/);
    expect(lines[1]).toContain('"GET /request?x=1 HTTP/1.1" 200');

    c.child.kill('SIGTERM');
    expect(await c.exited).toEqual({ code: 0, signal: null });
  });

  it('takes the port from its first argument when PORT is unset', async () => {
    const port = await freePort(POD_IP);
    const c = await startContainer('nginx', { POD_IP }, [String(port)]);
    expect((await request(port, '/anything')).status).toBe(200);
    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
  });
});

describe('nginx image - /proxy and the DNS preload', () => {
  it('node-based images load the DNS preload first; shell and python images do not', () => {
    const preload = path.join(programsDir, 'dns-preload.js');
    expect(catalog.resolve('nginx').args).toEqual(['--require', preload, path.join(programsDir, 'http-server.js')]);
    expect(catalog.resolve('echo-server').args.slice(0, 2)).toEqual(['--require', preload]);
    expect(catalog.resolve('node', { args: ['-e', '1'] }).args).toEqual(['--require', preload, '-e', '1']);
    expect(catalog.resolve('busybox', { command: ['sh', '-c', 'true'] }).args).toEqual(['-c', 'true']);
  });

  it('GET /proxy?url= fetches another server by a name the pod resolves (hosts file), errors are 502 with the error text', async () => {
    const files = fs.mkdtempSync(path.join(os.tmpdir(), 'kubemu-proxy-'));
    try {
      fs.writeFileSync(path.join(files, 'resolv.conf'), 'search default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n');
      fs.writeFileSync(path.join(files, 'hosts'), `127.0.0.1\tlocalhost\n${POD_IP}\tweb.default.svc.cluster.local\tweb\n`);
      const echoPort = await freePort(POD_IP);
      const echo = await startContainer('ealen/echo-server', { ...podEnv, PORT: String(echoPort) });
      const port = await freePort(POD_IP);
      const dnsEnv = { KUBEMU_RESOLV_CONF: path.join(files, 'resolv.conf'), KUBEMU_HOSTS_FILE: path.join(files, 'hosts') };
      const c = await startContainer('nginx', { ...podEnv, ...dnsEnv, PORT: String(port) });

      const ok = await request(port, `/proxy?url=${encodeURIComponent(`http://web:${echoPort}/hello?x=1`)}`);
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body)).toMatchObject({ method: 'GET', path: '/hello' });

      const missing = await request(port, `/proxy?url=${encodeURIComponent('http://nope.invalid/')}`);
      expect(missing.status).toBe(502);
      expect(missing.body).toMatch(/ENOTFOUND nope\.invalid/);
      const refused = await request(port, `/proxy?url=${encodeURIComponent(`http://${POD_IP}:1/`)}`);
      expect(refused.status).toBe(502);
      expect(refused.body).toMatch(/ECONNREFUSED/);
      expect((await request(port, '/proxy')).body).toMatch(/missing url parameter/);

      c.child.kill('SIGTERM');
      echo.child.kill('SIGTERM');
      expect((await c.exited).code).toBe(0);
      await echo.exited;
    } finally {
      fs.rmSync(files, { recursive: true, force: true });
    }
  });
});

describe('echo-server image - echo-server program', () => {
  it('echoes method, path, headers and body as JSON, exits 0 on SIGTERM', async () => {
    const port = await freePort(POD_IP);
    const c = await startContainer('ealen/echo-server', { ...podEnv, PORT: String(port) });
    const res = await request(port, '/api/items?id=7', { method: 'POST', body: '{"a":1}', headers: { 'Content-Type': 'application/json' } });
    expect(res.status).toBe(200);
    const json = JSON.parse(res.body);
    expect(json).toMatchObject({ method: 'POST', path: '/api/items', query: { id: '7' }, body: '{"a":1}' });
    expect(json.headers['content-type']).toBe('application/json');
    expect(json.pod.name).toBe('web-0');
    c.child.kill('SIGTERM');
    expect(await c.exited).toEqual({ code: 0, signal: null });
  });

  it('answers fixed text with http-echo style flags', async () => {
    const port = await freePort(POD_IP);
    const c = await startContainer('hashicorp/http-echo', { POD_IP }, [`-listen=:${port}`, '-text=hello kubemu']);
    expect((await request(port, '/')).body).toBe('hello kubemu\n');
    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
  });

  it('echoes bytes in TCP mode and closes open connections on SIGTERM', async () => {
    const port = await freePort(POD_IP);
    const c = await startContainer('echo-server', { POD_IP, PORT: String(port) }, ['--tcp']);
    const socket = net.connect(port, POD_IP);
    const echoed = await new Promise<string>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('data', (d) => resolve(d.toString()));
      socket.write('ping\n');
    });
    expect(echoed).toBe('ping\n');
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('end', () => socket.end());
    c.child.kill('SIGTERM');
    expect(await c.exited).toEqual({ code: 0, signal: null });
    await closed;
  });
});
