/**
 * e2e: the real kubectl (/usr/bin/kubectl, v1.32) against a whole cluster started as a person
 * starts it (pm2, demo profile), through the kubeconfig `start` writes: the scripted session of
 * issue 6. A Deployment + Service manifest written as for a real cluster is applied, changed and
 * rolled out, read back (wide, describe, logs, exec, top), scaled, undone, labelled and patched;
 * every error case is checked through the message kubectl prints, which must be the one it prints
 * against a real cluster. Skipped when kubectl is not installed.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { makeTempDir } from '../harness/cleanup';
import { E2ECluster, expectSucceeded, prepareCluster } from '../harness/cluster';
import { waitFor } from '../harness/wait';

const KUBECTL = '/usr/bin/kubectl';
const describeIf = fs.existsSync(KUBECTL) ? describe : describe.skip;

jest.setTimeout(240000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

let cluster: E2ECluster;
let tmp: string;
let kubeconfig: string;

/** Runs kubectl against the cluster (private cache folder), with `input` on stdin; never throws on a non-zero exit. */
function kubectl(args: string[], opts: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = opts.env ? { ...process.env, ...opts.env } : process.env;
    const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', path.join(tmp, 'cache'), ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs kubectl and expects exit code 0; returns stdout. */
async function ok(args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await kubectl(args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: exit code ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

/** A kubectl left running (logs -f, get -w) until `until` holds of its output or the deadline; then killed. */
async function streamUntil(args: string[], until: (stdout: string) => boolean, timeoutMs = 60000): Promise<Run> {
  const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', path.join(tmp, 'cache'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = { code: null, stdout: '', stderr: '' };
  const closed = new Promise<void>((resolve) => child.on('close', (code) => ((run.code = code), resolve())));
  child.stdout.on('data', (d: Buffer) => (run.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (run.stderr += d.toString()));
  try {
    await waitFor(`kubectl ${args.join(' ')} to print what was expected`, async () => until(run.stdout) || (run.code !== null ? 'exited' : false), timeoutMs, { intervalMs: 100 });
  } finally {
    if (run.code === null) child.kill('SIGKILL');
    await closed;
  }
  if (!until(run.stdout)) throw new Error(`kubectl ${args.join(' ')} exited ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  return run;
}

/** Writes a manifest into the temp folder; returns its path. */
function manifest(name: string, yaml: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, yaml);
  return file;
}

/** The web Deployment + Service, as one would write them for a real cluster. */
function webManifest(image: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: ${image}
        command: ["sh", "-c", "i=0; while true; do echo \\"tick $i\\"; i=$((i+1)); sleep 1; done"]
        ports:
        - containerPort: 8080
          name: http
        resources:
          requests:
            cpu: 10m
            memory: 16Mi
---
apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    app: web
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: http
`;
}

const webPods = async (): Promise<string[]> =>
  (await ok(['get', 'pods', '-l', 'app=web', '--field-selector', 'status.phase=Running', '-o', 'jsonpath={range .items[*]}{.metadata.name}{" "}{.metadata.deletionTimestamp}{"\\n"}{end}']))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.includes(' '));

const deployImage = async () => ok(['get', 'deploy', 'web', '-o', 'jsonpath={.spec.template.spec.containers[0].image}']);

describeIf('kubectl against a whole cluster', () => {
  let webFile: string;
  let pod: string;

  beforeAll(async () => {
    tmp = makeTempDir('e2e-kubectl');
    cluster = await prepareCluster('demo');
    expectSucceeded(await cluster.run(['start']));
    await cluster.status(); // tracks every pid for cleanup
    kubeconfig = path.join(cluster.stateDir, 'kubeconfig');
  });

  afterAll(async () => {
    await cluster?.destroy();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('kubectl - version, cluster-info, api-resources with short names', async () => {
    const version = await ok(['version']);
    expect(version).toMatch(/Client Version: v1\.32/);
    expect(version).toMatch(/Server Version: v1\.\d+/);
    expect(await ok(['cluster-info'])).toMatch(/Kubernetes control plane.* is running at https?:\/\//);
    const resources = await ok(['api-resources']);
    const shortNames = new Map<string, string>();
    for (const line of resources.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length >= 5) shortNames.set(cols[1], cols[0]);
    }
    for (const [short, name] of Object.entries({ po: 'pods', deploy: 'deployments', rs: 'replicasets', sts: 'statefulsets', ds: 'daemonsets', svc: 'services', ns: 'namespaces', no: 'nodes', ev: 'events', cm: 'configmaps', cj: 'cronjobs', ing: 'ingresses', pv: 'persistentvolumes', pvc: 'persistentvolumeclaims' })) {
      expect([short, shortNames.get(short)]).toEqual([short, name]);
    }
  });

  test('kubectl - get nodes: 3 Ready; both contexts', async () => {
    await waitFor(
      '3 Ready nodes',
      async () => {
        const out = await ok(['get', 'nodes']);
        return out.split('\n').filter((l) => /\sReady\s/.test(l)).length === 3;
      },
      60000,
      { intervalMs: 500 },
    );
    const out = await ok(['get', 'nodes']);
    expect(out.split('\n')[0].split(/\s+/)).toEqual(['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION']);
    for (const context of ['kubemu', 'kubemu-1']) {
      const ns = await ok(['--context', context, 'get', 'ns']);
      expect(ns).toMatch(/^default\s+Active/m);
      expect(ns).toMatch(/^kube-system\s+Active/m);
    }
  });

  test('kubectl - apply a Deployment + Service, re-apply with a new image, rollout status', async () => {
    webFile = manifest('web.yaml', webManifest('busybox:1.36'));
    const first = await ok(['apply', '-f', webFile]);
    expect(first).toContain('deployment.apps/web created');
    expect(first).toContain('service/web created');
    await ok(['rollout', 'status', 'deploy/web', '--timeout=90s'], { timeoutMs: 100000 });

    fs.writeFileSync(webFile, webManifest('busybox:1.37'));
    // diff and server-side dry runs show the change without making it
    const diff = await kubectl(['diff', '-f', webFile]);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toMatch(/^-\s+image: busybox:1\.36$/m);
    expect(diff.stdout).toMatch(/^\+\s+image: busybox:1\.37$/m);
    expect(await ok(['apply', '--dry-run=server', '-f', webFile])).toContain('deployment.apps/web configured (server dry run)');
    expect(await deployImage()).toBe('busybox:1.36');
    const second = await ok(['apply', '-f', webFile]);
    expect(second).toContain('deployment.apps/web configured');
    expect(second).toContain('service/web unchanged');
    const status = await ok(['rollout', 'status', 'deploy/web', '--timeout=90s'], { timeoutMs: 100000 });
    expect(status).toContain('deployment "web" successfully rolled out');
    expect(await deployImage()).toBe('busybox:1.37');
  });

  test('kubectl - get pods -o wide, get deploy columns', async () => {
    await waitFor('2 running web pods', async () => (await webPods()).length === 2, 60000, { intervalMs: 500 });
    const wide = await ok(['get', 'pods', '-l', 'app=web', '-o', 'wide']);
    const [header, ...rows] = wide.trim().split('\n');
    expect(header.split(/\s{2,}/)).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
    const running = rows.filter((r) => / 1\/1 +Running /.test(r));
    expect(running.length).toBeGreaterThanOrEqual(2);
    for (const row of running) {
      const cols = row.split(/\s+/);
      expect(cols[5]).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(cols[6]).toMatch(/^\S+$/);
      expect(cols[6]).not.toBe('<none>');
    }
    pod = running[0].split(/\s+/)[0];

    const deploy = await ok(['get', 'deploy']);
    expect(deploy.split('\n')[0].split(/\s+/)).toEqual(['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE']);
    expect(deploy).toMatch(/^web\s+2\/2\s+2\s+2\s+/m);
  });

  test('kubectl - describe deploy and pod show Events', async () => {
    const deploy = await ok(['describe', 'deploy', 'web']);
    expect(deploy).toMatch(/^Name:\s+web$/m);
    expect(deploy).toMatch(/Events:\s*\n\s+Type\s+Reason\s+Age\s+From\s+Message/);
    expect(deploy).toContain('ScalingReplicaSet');
    const described = await ok(['describe', 'pod', pod]);
    expect(described).toMatch(new RegExp(`^Name:\\s+${pod}$`, 'm'));
    expect(described).toMatch(/Events:\s*\n\s+Type\s+Reason\s+Age\s+From\s+Message/);
    expect(described).toContain('Scheduled');
  });

  test('kubectl - api-versions, get -A, --show-labels, custom-columns, field selectors, events', async () => {
    const versions = (await ok(['api-versions'])).trim().split('\n');
    for (const v of ['v1', 'apps/v1', 'batch/v1', 'networking.k8s.io/v1', 'metrics.k8s.io/v1beta1']) expect(versions).toContain(v);
    const all = await ok(['get', 'pods', '-A']);
    expect(all.split('\n')[0].split(/\s+/)).toEqual(['NAMESPACE', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    expect(all).toMatch(new RegExp(`^default\\s+${pod}\\s+1/1\\s+Running\\s`, 'm'));
    expect(await ok(['get', 'deploy', 'web', '--show-labels'])).toMatch(/^web\s+2\/2\s+2\s+2\s+\S+\s+app=web$/m);
    const columns = await ok(['get', 'pods', '-l', 'app=web', '-o', 'custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[0].image']);
    expect(columns).toMatch(new RegExp(`^${pod}\\s+busybox:1.37$`, 'm'));
    const node = (await ok(['get', 'pod', pod, '-o', 'jsonpath={.spec.nodeName}'])).trim();
    expect(await ok(['get', 'pods', '--field-selector', `spec.nodeName=${node},metadata.name=${pod}`, '-o', 'name'])).toBe(`pod/${pod}\n`);
    const events = await ok(['get', 'events', '--field-selector', `involvedObject.name=${pod}`]);
    expect(events.split('\n')[0].split(/\s{2,}/)).toEqual(['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE']);
    expect(events).toMatch(new RegExp(`Normal\\s+Scheduled\\s+pod/${pod}\\s+Successfully assigned default/${pod} to ${node}`));
    expect(await ok(['events', '--for', `pod/${pod}`])).toMatch(/Normal\s+Started\s+Pod\/\S+\s+Started container web/);
  });

  test('kubectl - get every listable resource (-A, -o wide), get all, describe node and service, -o yaml', async () => {
    const listable = (await ok(['api-resources', '--verbs=list', '-o', 'name'])).trim().split('\n');
    expect(listable.length).toBeGreaterThan(20);
    const every = await kubectl(['get', listable.join(','), '-A', '-o', 'wide']);
    expect([every.code, every.stderr]).toEqual([0, '']);
    const all = await ok(['get', 'all']);
    for (const name of ['pod/web-', 'service/web ', 'deployment.apps/web ', 'replicaset.apps/web-']) expect(all).toContain(name);
    const node = (await ok(['get', 'pod', pod, '-o', 'jsonpath={.spec.nodeName}'])).trim();
    const described = await ok(['describe', 'node', node]);
    expect(described).toMatch(new RegExp(`^Name:\\s+${node}$`, 'm'));
    expect(described).toMatch(/Non-terminated Pods:\s+\(\d+ in total\)/);
    expect(described).toContain(pod);
    expect(described).toMatch(/Allocated resources:/);
    // (kubectl 1.32's describe svc reads EndpointSlices, which kubemu does not have yet: its Endpoints line says <none>)
    expect(await ok(['describe', 'svc', 'web'])).toMatch(/^TargetPort:\s+http\/TCP$/m);
    expect(await ok(['get', 'endpoints', 'web'])).toMatch(/^web\s+\d+\.\d+\.\d+\.\d+:8080,\d+\.\d+\.\d+\.\d+:8080\s/m);
    const yaml = await ok(['get', 'deploy', 'web', '-o', 'yaml']);
    expect(yaml).toMatch(/^apiVersion: apps\/v1\nkind: Deployment\nmetadata:\n/);
    expect(yaml).toMatch(/^  creationTimestamp: "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"$/m);
    expect(yaml).not.toContain('managedFields');
  });

  test('kubectl - logs -f a pod, logs deploy/NAME', async () => {
    const follow = await streamUntil(['logs', '-f', pod], (out) => (out.match(/^tick \d+$/gm) ?? []).length >= 2, 30000);
    expect(follow.stdout).toMatch(/^tick \d+$/m);
    expect(await ok(['logs', 'deploy/web', '--tail=3'])).toMatch(/^tick \d+$/m);
    expect(await ok(['logs', '-l', 'app=web', '--prefix', '--tail=1', '-c', 'web'])).toMatch(/^\[pod\/web-\S+\/web\] tick \d+$/m);
  });

  test('kubectl - exec: exit code and stdin', async () => {
    const r = await kubectl(['exec', pod, '--', 'sh', '-c', 'echo hi; exit 3']);
    expect(r.stdout).toBe('hi\n');
    expect(r.stderr).toContain('command terminated with exit code 3');
    expect(r.code).toBe(3);
    expect(await ok(['exec', '-i', pod, '--', 'cat'], { input: 'x\n' })).toBe('x\n');
    expect(await ok(['exec', 'deploy/web', '--', 'echo', 'via the deployment'])).toBe('via the deployment\n');
    expect(await ok(['wait', '--for=condition=Available', 'deploy/web', '--timeout=30s'], { timeoutMs: 40000 })).toContain('deployment.apps/web condition met');
  });

  test('kubectl - scale and get -w', async () => {
    const watch = streamUntil(['get', 'deploy', 'web', '-w'], (out) => /^web\s+\d\/4\s/m.test(out), 60000);
    await new Promise((r) => setTimeout(r, 500)); // let the watch start before the change (the list would show it anyway)
    expect(await ok(['scale', 'deploy/web', '--replicas=4'])).toContain('deployment.apps/web scaled');
    const w = await watch;
    expect(w.stdout.split('\n')[0].split(/\s+/)).toEqual(['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE']);
    await waitFor('deploy web 4/4', async () => /^web\s+4\/4\s/m.test(await ok(['get', 'deploy', 'web'])), 90000, { intervalMs: 500 });
  });

  test('kubectl - rollout history and undo', async () => {
    const history = await ok(['rollout', 'history', 'deploy/web']);
    expect(history).toContain('REVISION');
    expect(history).toMatch(/^1\s/m);
    expect(history).toMatch(/^2\s/m);
    expect(await ok(['rollout', 'undo', 'deploy/web'])).toContain('deployment.apps/web rolled back');
    await ok(['rollout', 'status', 'deploy/web', '--timeout=90s'], { timeoutMs: 100000 });
    expect(await deployImage()).toBe('busybox:1.36');
  });

  test('kubectl - set image, rollout pause/resume/restart', async () => {
    expect(await ok(['set', 'image', 'deploy/web', 'web=busybox:1.37'])).toContain('deployment.apps/web image updated');
    await ok(['rollout', 'status', 'deploy/web', '--timeout=90s'], { timeoutMs: 100000 });
    expect(await deployImage()).toBe('busybox:1.37');
    expect(await ok(['rollout', 'pause', 'deploy/web'])).toContain('deployment.apps/web paused');
    expect(await ok(['get', 'deploy', 'web', '-o', 'jsonpath={.spec.paused}'])).toBe('true');
    expect(await ok(['rollout', 'resume', 'deploy/web'])).toContain('deployment.apps/web resumed');
    expect(await ok(['rollout', 'restart', 'deploy/web'])).toContain('deployment.apps/web restarted');
    expect(await ok(['get', 'deploy', 'web', '-o', 'jsonpath={.spec.template.metadata.annotations}'])).toContain('kubectl.kubernetes.io/restartedAt');
    await ok(['rollout', 'status', 'deploy/web', '--timeout=90s'], { timeoutMs: 100000 });
  });

  test('kubectl - edit through $EDITOR; replace keeps managedFields given as objects', async () => {
    const editor = path.join(tmp, 'editor.sh');
    fs.writeFileSync(editor, '#!/bin/sh\nsed -i "s/^  edited: .*/  edited: after/; s/^data:$/data:\\n  edited: after/" "$1"\n', { mode: 0o755 });
    expect(await ok(['create', 'configmap', 'ed', '--from-literal=a=b'])).toContain('configmap/ed created');
    expect(await ok(['edit', 'cm', 'ed'], { env: { EDITOR: editor, KUBE_EDITOR: editor } })).toContain('configmap/ed edited');
    expect(await ok(['get', 'cm', 'ed', '-o', 'jsonpath={.data.edited}'])).toBe('after');

    const json = JSON.parse(await ok(['get', 'cm', 'ed', '-o', 'json', '--show-managed-fields']));
    expect(typeof json.metadata.managedFields[0].fieldsV1).toBe('object');
    json.data.replaced = 'yes';
    const file = manifest('ed.json', JSON.stringify(json));
    expect(await ok(['replace', '-f', file])).toContain('configmap/ed replaced');
    const after = JSON.parse(await ok(['get', 'cm', 'ed', '-o', 'json', '--show-managed-fields']));
    expect(after.data).toEqual({ a: 'b', edited: 'after', replaced: 'yes' });
    for (const e of after.metadata.managedFields) expect(typeof e.fieldsV1).toBe('object');
  });

  test('kubectl - create namespace|deployment|configmap|secret, run, expose; pod STATUS as Kubernetes computes it', async () => {
    expect(await ok(['create', 'namespace', 'tools'])).toContain('namespace/tools created');
    const ns = ['-n', 'tools'];
    expect(await ok(['create', 'deployment', 'hello', '--image=nginx', '--port=80', ...ns])).toContain('deployment.apps/hello created');
    expect(await ok(['create', 'configmap', 'c1', '--from-literal=a=b', ...ns])).toContain('configmap/c1 created');
    expect(await ok(['create', 'secret', 'generic', 's1', '--from-literal=p=q', ...ns])).toContain('secret/s1 created');
    expect(await ok(['get', 'secret', 's1', '-o', 'jsonpath={.data.p}', ...ns])).toBe(Buffer.from('q').toString('base64'));
    expect(await ok(['expose', 'deploy', 'hello', '--port=80', ...ns])).toContain('service/hello exposed');
    expect(await ok(['get', 'svc', 'hello', ...ns])).toMatch(/^hello\s+ClusterIP\s+\d+\.\d+\.\d+\.\d+\s+<none>\s+80\/TCP\s/m);
    expect(await ok(['create', 'ingress', 'hello', '--rule=hello.example/=hello:80', ...ns])).toContain('ingress.networking.k8s.io/hello created');
    expect(await ok(['get', 'ingress', 'hello', '-o', 'jsonpath={.spec.rules[0].host} {.spec.rules[0].http.paths[0].backend.service.name}', ...ns])).toBe('hello.example hello');
    expect(await ok(['run', 'once', '--image=busybox', '--restart=Never', ...ns, '--', 'sh', '-c', 'echo done'])).toContain('pod/once created');
    expect(await ok(['run', 'crash', '--image=busybox', ...ns, '--', 'sh', '-c', 'echo boom; exit 1'])).toContain('pod/crash created');
    expect(await ok(['run', 'nopull', '--image=registry.example/nothing:1', ...ns])).toContain('pod/nopull created');
    const status = (name: string) => async () => {
      const row = (await ok(['get', 'pod', name, '--no-headers', ...ns])).trim().split(/\s+/);
      return row[2];
    };
    await waitFor('once Completed', async () => (await status('once')()) === 'Completed', 60000, { intervalMs: 500 });
    await waitFor('crash CrashLoopBackOff', async () => (await status('crash')()) === 'CrashLoopBackOff', 60000, { intervalMs: 500 });
    await waitFor('nopull ErrImagePull or ImagePullBackOff', async () => ['ErrImagePull', 'ImagePullBackOff'].includes((await status('nopull')()) ?? ''), 60000, { intervalMs: 500 });
    expect(await ok(['logs', 'once', ...ns])).toBe('done\n');
    expect(await ok(['logs', 'crash', '--previous', ...ns])).toBe('boom\n');
    await waitFor('deploy hello 1/1', async () => /^hello\s+1\/1\s/m.test(await ok(['get', 'deploy', 'hello', ...ns])), 60000, { intervalMs: 500 });
  });

  test('kubectl - label, annotate, patch merge|json|strategic, selectors, jsonpath, sort-by', async () => {
    expect(await ok(['label', 'deploy', 'web', 'tier=frontend'])).toContain('deployment.apps/web labeled');
    expect(await ok(['annotate', 'deploy', 'web', 'note=hello'])).toContain('deployment.apps/web annotated');
    expect(await ok(['patch', 'deploy', 'web', '--type', 'merge', '-p', '{"metadata":{"labels":{"merge":"yes"}}}'])).toContain('deployment.apps/web patched');
    expect(await ok(['patch', 'deploy', 'web', '--type', 'json', '-p', '[{"op":"add","path":"/metadata/labels/json","value":"yes"}]'])).toContain('deployment.apps/web patched');
    expect(await ok(['patch', 'svc', 'web', '--type', 'strategic', '-p', '{"spec":{"ports":[{"name":"https","port":443,"targetPort":8443}]}}'])).toContain('service/web patched');
    // Kubernetes' mergeSortedSlice puts a patch item absent from the server's order before the server-only ones.
    expect(await ok(['get', 'svc', 'web', '-o', 'jsonpath={.spec.ports[*].port}'])).toBe('443 80');
    expect(await ok(['get', 'deploy', 'web', '-o', 'jsonpath={.metadata.labels.tier},{.metadata.labels.merge},{.metadata.labels.json},{.metadata.annotations.note}'])).toBe('frontend,yes,yes,hello');
    expect(await ok(['get', 'deploy', '-l', 'tier in (frontend,backend),merge=yes', '-o', 'name'])).toBe('deployment.apps/web\n');

    expect((await ok(['get', 'deploy,svc', '-l', 'app=web', '-o', 'name'])).trim().split('\n')).toEqual(['deployment.apps/web', 'service/web']);
    const names = (await ok(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[*].metadata.name}'])).split(' ');
    expect(names.length).toBeGreaterThanOrEqual(4);
    for (const n of names) expect(n).toMatch(/^web-[a-z0-9]+-[a-z0-9]{5}$/);
    const sorted = (await ok(['get', 'pods', '-l', 'app=web', '--sort-by=.metadata.name', '--no-headers']))
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/)[0]);
    expect(sorted).toEqual([...sorted].sort());
  });

  test('kubectl - top pods and top nodes show numbers', async () => {
    await waitFor(
      'top pods numbers',
      async () => {
        const r = await kubectl(['top', 'pods', '-l', 'app=web']);
        return r.code === 0 && /^web-\S+\s+\d+m\s+\d+Mi\s*$/m.test(r.stdout);
      },
      60000,
      { intervalMs: 1000 },
    );
    await waitFor(
      'top nodes numbers',
      async () => {
        const r = await kubectl(['top', 'nodes']);
        return r.code === 0 && /^\S+\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%\s*$/m.test(r.stdout);
      },
      60000,
      { intervalMs: 1000 },
    );
  });

  test('kubectl - cordon and uncordon', async () => {
    const node = (await ok(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
    expect(await ok(['cordon', node])).toContain(`node/${node} cordoned`);
    expect(await ok(['get', 'node', node])).toMatch(new RegExp(`^${node}\\s+Ready,SchedulingDisabled\\s`, 'm'));
    expect(await ok(['uncordon', node])).toContain(`node/${node} uncordoned`);
    expect(await ok(['get', 'node', node])).toMatch(new RegExp(`^${node}\\s+Ready\\s`, 'm'));
  });

  test('kubectl - taint and drain', async () => {
    const node = (await ok(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].spec.nodeName}'])).trim();
    expect(await ok(['taint', 'node', node, 'dedicated=e2e:NoSchedule'])).toContain(`node/${node} tainted`);
    expect(await ok(['get', 'node', node, '-o', 'jsonpath={.spec.taints[*].key}'])).toContain('dedicated');
    expect(await ok(['taint', 'node', node, 'dedicated=e2e:NoSchedule-'])).toContain(`node/${node} untainted`);
    const drain = await ok(['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--force', '--grace-period=1', '--timeout=90s'], { timeoutMs: 100000 });
    expect(drain).toContain(`node/${node} drained`);
    expect(await ok(['get', 'pods', '-A', '--field-selector', `spec.nodeName=${node}`, '-l', 'app=web', '-o', 'name'])).toBe('');
    expect(await ok(['uncordon', node])).toContain(`node/${node} uncordoned`);
    await waitFor('deploy web 4/4 after the drain', async () => /^web\s+4\/4\s/m.test(await ok(['get', 'deploy', 'web'])), 90000, { intervalMs: 500 });
  });

  test('kubectl - auth can-i and whoami (no authorization: everything allowed, anonymous user)', async () => {
    expect(await ok(['auth', 'can-i', 'create', 'deployments'])).toBe('yes\n');
    expect(await ok(['auth', 'can-i', '--list'])).toMatch(/^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]$/m);
    expect(await ok(['auth', 'whoami'])).toMatch(/^Username\s+system:anonymous$/m);
  });

  test('kubectl - explain pod.spec.containers', async () => {
    const out = await ok(['explain', 'pod.spec.containers']);
    expect(out).toMatch(/KIND:\s+Pod/);
    expect(out).toMatch(/FIELD:\s+containers <\[\]Container>/);
    expect(out).toMatch(/^\s+image\s+<string>/m);
  });

  test('kubectl - apply --server-side; managedFields with fieldsV1 objects', async () => {
    const cm = (value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  key: ${value}\n`;
    const file = manifest('ssa.yaml', cm('one'));
    expect(await ok(['apply', '--server-side', '-f', file])).toContain('configmap/ssa serverside-applied');
    fs.writeFileSync(file, cm('two'));
    expect(await ok(['apply', '--server-side', '-f', file])).toContain('configmap/ssa serverside-applied');
    const got = JSON.parse(await ok(['get', 'cm', 'ssa', '-o', 'json', '--show-managed-fields']));
    expect(got.data).toEqual({ key: 'two' });
    const entry = got.metadata.managedFields.find((e: { manager: string }) => e.manager === 'kubectl');
    expect(entry).toMatchObject({ operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { 'f:key': {} } } });
  });

  test('kubectl - errors printed as on a real cluster', async () => {
    const missing = await kubectl(['get', 'pod', 'nope']);
    expect([missing.code, missing.stderr.trim()]).toEqual([1, 'Error from server (NotFound): pods "nope" not found']);

    const cmFile = manifest('cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: "1"\n');
    expect(await ok(['create', '-f', cmFile])).toContain('configmap/cfg created');
    const exists = await kubectl(['create', '-f', cmFile]);
    expect([exists.code, exists.stderr.trim()]).toEqual([1, `Error from server (AlreadyExists): error when creating "${cmFile}": configmaps "cfg" already exists`]);

    const bad = manifest(
      'bad.yaml',
      `apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  selector:
    matchLabels:
      app: bad
  template:
    metadata:
      labels:
        app: other
    spec:
      containers:
      - name: c
        image: busybox
`,
    );
    const invalid = await kubectl(['apply', '-f', bad]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('The Deployment "bad" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`');

    const unknown = manifest('unknown.yaml', 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: unknown\nspec:\n  foo: 1\n  selector:\n    matchLabels:\n      app: u\n  template:\n    metadata:\n      labels:\n        app: u\n    spec:\n      containers:\n      - name: c\n        image: busybox\n');
    const strict = await kubectl(['create', '-f', unknown]);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain('strict decoding error: unknown field "spec.foo"');

    const big = manifest('big.yaml', `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  a: "${'x'.repeat(3 * 1024 * 1024 + 100)}"\n`);
    const tooLarge = await kubectl(['create', '-f', big]);
    expect([tooLarge.code, tooLarge.stderr.trim()]).toEqual([1, `Error from server (RequestEntityTooLarge): error when creating "${big}": Request entity too large: limit is 3145728`]);

    // replace with a stale resourceVersion
    const stale = manifest('stale.yaml', await ok(['get', 'cm', 'cfg', '-o', 'yaml']));
    await ok(['label', 'cm', 'cfg', 'changed=yes']);
    const conflict = await kubectl(['replace', '-f', stale]);
    expect([conflict.code, conflict.stderr.trim()]).toEqual([
      1,
      `Error from server (Conflict): error when replacing "${stale}": Operation cannot be fulfilled on configmaps "cfg": the object has been modified; please apply your changes to the latest version and try again`,
    ]);
  });

  test('kubectl - delete deploy --wait, --cascade=foreground, by label', async () => {
    const out = await ok(['delete', 'deploy', 'web', '--wait', '--timeout=60s'], { timeoutMs: 70000 });
    expect(out).toContain('deployment.apps "web" deleted');
    const gone = await kubectl(['get', 'deploy', 'web']);
    expect([gone.code, gone.stderr.trim()]).toEqual([1, 'Error from server (NotFound): deployments.apps "web" not found']);

    // foreground: the Deployment is gone only after its ReplicaSet and pods
    const ns = ['-n', 'tools'];
    expect(await ok(['delete', 'deploy', 'hello', '--cascade=foreground', '--wait', '--timeout=60s', ...ns], { timeoutMs: 70000 })).toContain('deployment.apps "hello" deleted');
    expect(await ok(['get', 'rs,pods', '-l', 'app=hello', '-o', 'name', ...ns])).toBe('');
    // (the drain deleted those of them that ran on the drained node)
    const left = (await ok(['get', 'pods', '-l', 'run in (once,crash,nopull)', '-o', 'name', ...ns])).trim().split('\n').filter(Boolean);
    const byLabel = await ok(['delete', 'pods', '-l', 'run in (once,crash,nopull)', '--grace-period=1', '--wait', '--timeout=60s', ...ns], { timeoutMs: 70000 });
    for (const name of left) expect(byLabel).toContain(`pod "${name.replace('pod/', '')}" deleted`);
    expect(await ok(['get', 'pods', '-o', 'name', ...ns])).toBe('');
  });
});
