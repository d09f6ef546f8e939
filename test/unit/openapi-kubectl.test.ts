// openapi - the real kubectl (v1.32) reads our documents: `kubectl explain` needs discovery
// (/api, /apis) to map "pod" to v1/Pod and the OpenAPI v3 index and group-version document.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { openapiV3Document, openapiV3Index, unknownFields } from '../../services/kube-apiserver/openapi';
import { RESOURCES } from '../../services/lib/resources';

const KUBECTL = '/usr/bin/kubectl';
const maybe = fs.existsSync(KUBECTL) ? describe : describe.skip;

/** Legacy discovery documents of RESOURCES: just what kubectl's RESTMapper needs. */
function discovery(url: string): object | undefined {
  if (url === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] };
  const groups = new Map<string, string[]>();
  for (const r of RESOURCES) if (r.group) groups.set(r.group, [...new Set([...(groups.get(r.group) ?? []), r.version])]);
  if (url === '/apis') {
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups].map(([name, versions]) => ({
        name,
        versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
        preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
      })),
    };
  }
  const m = /^\/(?:api|apis\/([^/]+))\/([^/]+)$/.exec(url);
  if (!m) return undefined;
  const [group, version] = [m[1] ?? '', m[2]];
  const resources = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (!resources.length) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources: resources.map((r) => ({
      name: r.resource,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      shortNames: r.shortNames,
    })),
  };
}

/** The writes kubectl sent (method, URL with query, body); creates are answered by echoing the object back. */
const writes: { method: string; url: string; body: string }[] = [];

/** The one live object `kubectl apply` finds: pod default/web, as last applied with one container. */
const LAST_APPLIED = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'default' },
  spec: { containers: [{ name: 'web', image: 'nginx:1', env: [{ name: 'A', value: '1' }] }, { name: 'sidecar', image: 'busybox' }] },
};
const LIVE_POD = {
  ...LAST_APPLIED,
  metadata: { ...LAST_APPLIED.metadata, uid: 'u1', resourceVersion: '5', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(LAST_APPLIED) } },
};

function serve(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      writes.push({ method: req.method ?? '', url: req.url ?? '', body });
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
      res.end(req.method === 'POST' ? body : JSON.stringify(LIVE_POD));
    });
    return;
  }
  if (url.pathname === '/api/v1/namespaces/default/pods/web') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(LIVE_POD));
    return;
  }
  let body: object | undefined;
  if (url.pathname === '/openapi/v3') body = openapiV3Index();
  else if (url.pathname.startsWith('/openapi/v3/')) body = openapiV3Document(url.pathname.slice('/openapi/v3/'.length));
  else if (url.pathname === '/version') body = { major: '1', minor: '32', gitVersion: 'v1.32.0' };
  else body = discovery(url.pathname);
  if (!body) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'the server could not find the requested resource' }));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function kubectl(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(KUBECTL, args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

maybe('openapi - kubectl explain against our documents', () => {
  let server: http.Server;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    server = http.createServer(serve);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubemu-openapi-kubectl-'));
    const kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: kubemu',
        '  cluster:',
        `    server: http://127.0.0.1:${port}`,
        'contexts:',
        '- name: kubemu',
        '  context:',
        '    cluster: kubemu',
        '    user: kubemu',
        'current-context: kubemu',
        'users:',
        '- name: kubemu',
        '  user: {}',
        '',
      ].join('\n'),
    );
    env = { PATH: process.env.PATH, HOME: dir, KUBECONFIG: kubeconfig, KUBECACHEDIR: path.join(dir, 'cache') };
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('openapi - kubectl explain pod.spec.containers prints the Container fields', async () => {
    const r = await kubectl(['explain', 'pod.spec.containers'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^KIND:\s+Pod$/m);
    expect(r.stdout).toMatch(/^VERSION:\s+v1$/m);
    expect(r.stdout).toMatch(/^FIELD: containers <\[\]Container>$/m);
    const fields = r.stdout.slice(r.stdout.indexOf('FIELDS:'));
    expect(fields).toMatch(/^ {2}name\t<string> -required-$/m);
    for (const f of ['image\t<string>', 'env\t<[]EnvVar>', 'ports\t<[]ContainerPort>', 'resources\t<ResourceRequirements>', 'volumeMounts\t<[]VolumeMount>', 'imagePullPolicy\t<string>']) {
      expect(fields).toContain(`  ${f}`);
    }
  });

  test('openapi - kubectl explain works for every resource kubemu serves', async () => {
    for (const r of RESOURCES) {
      const out = await kubectl(['explain', r.resource], env);
      expect([r.resource, out.code, out.stderr]).toEqual([r.resource, 0, '']);
      expect(out.stdout).toMatch(new RegExp(`^KIND:\\s+${r.kind}$`, 'm'));
      expect(out.stdout).toMatch(new RegExp(`^VERSION:\\s+${r.version}$`, 'm'));
      if (r.group) expect(out.stdout).toMatch(new RegExp(`^GROUP:\\s+${r.group.replace(/\./g, '\\.')}$`, 'm'));
      expect(out.stdout).toContain('  metadata\t<ObjectMeta>');
    }
  });

  test('openapi - kubectl explain shows IntOrString and Quantity as Kubernetes names them', async () => {
    const r = await kubectl(['explain', 'deployment.spec.strategy.rollingUpdate'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^GROUP:\s+apps$/m);
    expect(r.stdout).toContain('  maxSurge\t<IntOrString>');
    const limits = await kubectl(['explain', 'pod.spec.containers.resources.limits'], env);
    expect(limits.code).toBe(0);
    expect(limits.stdout).toContain('FIELD: limits <map[string]Quantity>');
  });

  test('openapi - kubectl create validates server side: fieldValidation=Strict from the PATCH parameter', async () => {
    const manifest = path.join(dir, 'pod.yaml');
    fs.writeFileSync(manifest, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: default\nspec:\n  containers:\n  - name: web\n    image: nginx\n');
    writes.length = 0;
    const r = await kubectl(['create', '-f', manifest], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(writes).toHaveLength(1);
    expect(writes[0].method).toBe('POST');
    expect(writes[0].url).toMatch(/^\/api\/v1\/namespaces\/default\/pods\?(.*&)?fieldValidation=Strict/);
  });

  test('openapi - kubectl apply builds its strategic merge patch from our v3 merge keys', async () => {
    const manifest = path.join(dir, 'web.yaml');
    // web's image changes and its env gains B; sidecar is dropped.
    fs.writeFileSync(
      manifest,
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: default\nspec:\n  containers:\n  - name: web\n    image: nginx:2\n    env:\n    - name: A\n      value: "1"\n    - name: B\n      value: "2"\n',
    );
    writes.length = 0;
    const r = await kubectl(['apply', '-f', manifest], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(writes).toHaveLength(1);
    expect(writes[0].method).toBe('PATCH');
    expect(writes[0].url).toMatch(/^\/api\/v1\/namespaces\/default\/pods\/web\?(.*&)?fieldValidation=Strict/);
    const patch = JSON.parse(writes[0].body);
    // Lists merged by key: element order directives, the dropped container deleted by its name.
    expect(patch.spec['$setElementOrder/containers']).toEqual([{ name: 'web' }]);
    expect(patch.spec.containers).toEqual(expect.arrayContaining([{ $patch: 'delete', name: 'sidecar' }]));
    const web = patch.spec.containers.find((c: { name: string; image?: string }) => c.name === 'web');
    expect(web.image).toBe('nginx:2');
    expect(web['$setElementOrder/env']).toEqual([{ name: 'A' }, { name: 'B' }]);
    expect(web.env).toEqual([{ name: 'B', value: '2' }]);
  });

  test('openapi - the objects kubectl create and kubectl run generate have no unknown fields', async () => {
    const generators = [
      ['create', 'deployment', 'web', '--image=nginx', '--replicas=2', '--port=80'],
      ['create', 'namespace', 'team'],
      ['create', 'configmap', 'c', '--from-literal=a=b'],
      ['create', 'secret', 'generic', 's', '--from-literal=a=b'],
      ['run', 'p', '--image=nginx', '--port=80', '--env=A=1', '--labels=app=x'],
      ['create', 'job', 'j', '--image=busybox', '--dry-run=client', '-o', 'json', '--', 'echo', 'hi'],
      ['create', 'cronjob', 'cj', '--image=busybox', '--schedule=*/1 * * * *'],
      ['create', 'service', 'clusterip', 's', '--tcp=80:8080'],
      ['create', 'service', 'nodeport', 'np', '--tcp=80:8080'],
      ['create', 'ingress', 'i', '--rule=foo.com/bar=svc1:8080', '--class=default'],
    ];
    for (const g of generators) {
      const args = g.includes('--') ? g : [...g, '--dry-run=client', '-o', 'json'];
      const out = await kubectl(args, env);
      expect([g.join(' '), out.code, out.stderr]).toEqual([g.join(' '), 0, '']);
      const obj = JSON.parse(out.stdout) as { kind: string; apiVersion: string };
      const info = RESOURCES.find((r) => r.kind === obj.kind && r.apiVersion === obj.apiVersion);
      expect([g.join(' '), info?.kind]).toEqual([g.join(' '), obj.kind]);
      expect([g.join(' '), unknownFields(info!, obj)]).toEqual([g.join(' '), []]);
    }
  });
});
