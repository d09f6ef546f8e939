import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseImageReference, InvalidImageNameError } from '../../services/container-runtime/images/reference';
import { ExecutableNotFoundError, ImageCatalog, ImagePullError, imageId, lookPath } from '../../services/container-runtime/images/catalog';

const digest = 'sha256:' + 'ab'.repeat(32);

describe('image reference - parsing', () => {
  it.each([
    ['nginx', 'docker.io', 'library/nginx', 'latest', undefined, 'nginx', 'docker.io/library/nginx:latest'],
    ['nginx:1.27', 'docker.io', 'library/nginx', '1.27', undefined, 'nginx', 'docker.io/library/nginx:1.27'],
    ['docker.io/library/nginx:latest', 'docker.io', 'library/nginx', 'latest', undefined, 'nginx', 'docker.io/library/nginx:latest'],
    ['ealen/echo-server', 'docker.io', 'ealen/echo-server', 'latest', undefined, 'ealen/echo-server', 'docker.io/ealen/echo-server:latest'],
    [`registry.k8s.io/busybox@${digest}`, 'registry.k8s.io', 'busybox', undefined, digest, 'registry.k8s.io/busybox', `registry.k8s.io/busybox@${digest}`],
    [`busybox:1.36@${digest}`, 'docker.io', 'library/busybox', '1.36', digest, 'busybox', `docker.io/library/busybox:1.36@${digest}`],
    ['localhost:5000/team/python:3.12-slim', 'localhost:5000', 'team/python', '3.12-slim', undefined, 'localhost:5000/team/python', 'localhost:5000/team/python:3.12-slim'],
    ['localhost/perl', 'localhost', 'perl', 'latest', undefined, 'localhost/perl', 'localhost/perl:latest'],
  ])('%s', (ref, domain, p, tag, dg, familiar, canonical) => {
    const r = parseImageReference(ref);
    expect(r).toMatchObject({ domain, path: p, familiarName: familiar, canonical });
    expect(r.tag).toBe(tag);
    expect(r.digest).toBe(dg);
  });

  it.each(['', 'Nginx', 'nginx:', 'nginx@sha256:abc', 'nginx:bad tag', '/nginx', 'nginx//x', ' nginx'])('rejects %j as InvalidImageName', (ref) => {
    expect(() => parseImageReference(ref)).toThrow(InvalidImageNameError);
  });
});

describe('image catalog - resolution', () => {
  const catalog = new ImageCatalog({ programsDir: '/opt/programs' });

  it.each([
    ['nginx', 'nginx'],
    ['nginx:1.27', 'nginx'],
    ['docker.io/library/nginx:latest', 'nginx'],
    ['httpd:2.4', 'nginx'],
    ['ealen/echo-server:0.9', 'echo-server'],
    ['hashicorp/http-echo', 'echo-server'],
    ['echo-server', 'echo-server'],
    [`registry.k8s.io/busybox@${digest}`, 'busybox'],
    ['alpine:3.20', 'busybox'],
    ['ubuntu:24.04', 'busybox'],
    ['debian', 'busybox'],
    ['node:20-alpine', 'node'],
    ['python:3.12', 'python'],
    ['perl:5', 'perl'],
  ])('%s is the built-in %s image', (ref, name) => {
    const info = catalog.pull(ref);
    expect(info.catalogName).toBe(name);
    expect(info.id).toBe(imageId(name));
    expect(info.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(info.sizeBytes).toBeGreaterThan(0);
  });

  it('image IDs are stable across tags and distinct across images', () => {
    expect(catalog.pull('nginx:1.27').id).toBe(catalog.pull('docker.io/library/nginx').id);
    expect(new Set(['nginx', 'echo-server', 'busybox', 'node', 'python', 'perl'].map((n) => catalog.pull(n).id)).size).toBe(6);
    expect(catalog.pull('nginx:1.27').repoTags).toEqual(['docker.io/library/nginx:1.27']);
    expect(catalog.pull(`busybox@${digest}`).repoDigests).toEqual([`docker.io/library/busybox@${digest}`]);
  });

  it('lists every built-in image for node status', () => {
    const list = catalog.list();
    expect(list.map((i) => i.names[0])).toEqual([
      'docker.io/library/nginx:latest',
      'docker.io/library/echo-server:latest',
      'docker.io/library/busybox:latest',
      'docker.io/library/node:latest',
      'docker.io/library/python:latest',
      'docker.io/library/perl:latest',
    ]);
    expect(list[0]).toEqual({ id: imageId('nginx'), names: ['docker.io/library/nginx:latest'], sizeBytes: catalog.pull('nginx').sizeBytes });
  });

  it('an unknown image is ErrImagePull naming the catalog', () => {
    let err: unknown;
    try {
      catalog.pull('foo:1');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ImagePullError);
    expect((err as ImagePullError).reason).toBe('ErrImagePull');
    expect((err as Error).message).toBe(
      `failed to pull image "foo:1": image "foo" is not in kubemu's local catalog (built-in images: nginx, echo-server, busybox, node, python, perl)`,
    );
  });

  it('an unknown image under pull policy Never is ErrImageNeverPull', () => {
    expect(() => catalog.pull('quay.io/x/redis', 'Never')).toThrow(expect.objectContaining({ reason: 'ErrImageNeverPull' }));
  });

  it('a missing interpreter is a pull error naming it', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'kubemu-path-'));
    try {
      const bare = new ImageCatalog({ searchPath: empty });
      expect(() => bare.pull('python:3')).toThrow(/runs the host's python3, which was not found/);
      expect(() => bare.pull('perl')).toThrow(ImagePullError);
      expect(bare.pull('nginx').catalogName).toBe('nginx');
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('nginx and echo-server run kubemu programs under node', () => {
    const r = catalog.resolve('nginx:1.27');
    expect(r.executable).toBe(process.execPath);
    expect(r.args).toEqual(['/opt/programs/http-server.js']);
    expect(r.env.PATH).toBe(process.env.PATH);
    expect(catalog.resolve('ealen/echo-server').args).toEqual(['/opt/programs/echo-server.js']);
  });

  it('args replace CMD and keep ENTRYPOINT', () => {
    expect(catalog.resolve('nginx', { args: ['8080'] }).args).toEqual(['/opt/programs/http-server.js', '8080']);
    const py = catalog.resolve('python:3.12', { args: ['-c', 'print(1)'] });
    expect(py.executable).toBe(lookPath('python3'));
    expect(py.args).toEqual(['-c', 'print(1)']);
    // busybox has no docker-entrypoint.sh: its CMD "sh" is replaced, as in a real cluster.
    expect(() => catalog.resolve('busybox', { args: ['-c', 'true'] })).toThrow(ExecutableNotFoundError);
    expect(catalog.resolve('busybox', { args: ['sh', '-c', 'true'] })).toMatchObject({ executable: '/bin/sh', args: ['-c', 'true'] });
  });

  it('command replaces ENTRYPOINT and drops CMD', () => {
    const sh = catalog.resolve('busybox', { command: ['sh', '-c', 'echo hi'] });
    expect(sh.executable).toBe('/bin/sh');
    expect(sh.args).toEqual(['-c', 'echo hi']);
    const sleep = catalog.resolve('busybox', { command: ['sleep'], args: ['3600'] });
    expect(sleep.executable).toBe(lookPath('sleep'));
    expect(sleep.args).toEqual(['3600']);
    const node = catalog.resolve('node:20', { command: ['node', '-e', '1'] });
    expect(node.executable).toBe(process.execPath);
    expect(node.args).toEqual(['-e', '1']);
  });

  it('default CMD of the interpreter and shell images', () => {
    expect(catalog.resolve('busybox')).toMatchObject({ executable: '/bin/sh', args: [] });
    expect(catalog.resolve('node')).toMatchObject({ executable: process.execPath, args: [] });
    expect(catalog.resolve('perl').executable).toBe(lookPath('perl'));
    expect(catalog.resolve('python', { command: ['python'] }).executable).toBe(lookPath('python3'));
  });

  it('a command that is not on PATH is a StartError', () => {
    expect(() => catalog.resolve('busybox', { command: ['no-such-binary-kubemu'] })).toThrow(ExecutableNotFoundError);
    expect(() => catalog.resolve('busybox', { command: ['no-such-binary-kubemu'] })).toThrow(/exec: "no-such-binary-kubemu": executable file not found in \$PATH/);
  });
});
