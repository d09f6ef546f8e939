import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { ConfigMap, PersistentVolumeClaim, Pod, Secret, Volume } from '../../services/lib/generated/kubemu/core/v1/core';
import { CreateContainerConfigError } from '../../services/kubelet/envvars';
import { cleanupVolumes, prepareVolumes, updateVolumes, VolumeOptions, VolumeSetupError, writeAtomic } from '../../services/kubelet/volumes';

let dir: string;
let podDir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubemu-volumes-'));
  podDir = path.join(dir, 'pods', 'uid-1');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Store {
  configMaps: ConfigMap[];
  secrets: Secret[];
  pvcs?: PersistentVolumeClaim[];
  pvcPaths?: Record<string, string>;
}

function optionsFor(store: Store, extra: Partial<VolumeOptions> = {}): VolumeOptions {
  const find = <T extends { metadata?: { namespace?: string; name?: string } }>(list: T[], ns: string, name: string) =>
    list.find((o) => o.metadata?.namespace === ns && o.metadata?.name === name);
  return {
    podDir,
    lookup: {
      configMap: (ns, name) => find(store.configMaps, ns, name),
      secret: (ns, name) => find(store.secrets, ns, name),
      ...(store.pvcs ? { persistentVolumeClaim: (ns: string, name: string) => find(store.pvcs!, ns, name) } : {}),
    },
    pvcHostPath: (ns, claim) => store.pvcPaths?.[`${ns}/${claim}`],
    ...extra,
  };
}

function podWith(volumes: Volume[], mounts: Array<{ name: string; mountPath: string; subPath?: string; subPathExpr?: string; readOnly?: boolean }> = []): Pod {
  return {
    metadata: { name: 'web', namespace: 'default', uid: 'uid-1', labels: { app: 'web' } },
    spec: { nodeName: 'n1', volumes, containers: [{ name: 'app', volumeMounts: mounts, resources: { limits: { memory: '64Mi' } } }] },
  };
}

function mode(p: string): number {
  return fs.statSync(p).mode & 0o777;
}

function read(p: string): string {
  return fs.readFileSync(p, 'utf8');
}

function setupError(fn: () => unknown): VolumeSetupError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VolumeSetupError);
    return err as VolumeSetupError;
  }
  throw new Error('expected a VolumeSetupError');
}

describe('volumes - emptyDir', () => {
  it('creates <podDir>/volumes/kubernetes.io~empty-dir/<name>, world-writable, also for medium Memory', () => {
    const pod = podWith([{ name: 'scratch', emptyDir: {} }, { name: 'mem', emptyDir: { medium: 'Memory' } }]);
    const { volumes } = prepareVolumes(pod, optionsFor({ configMaps: [], secrets: [] }));
    const p = path.join(podDir, 'volumes', 'kubernetes.io~empty-dir', 'scratch');
    expect(volumes.get('scratch')).toBe(p);
    expect(fs.statSync(p).isDirectory()).toBe(true);
    expect(mode(p)).toBe(0o777);
    expect(volumes.get('mem')).toBe(path.join(podDir, 'volumes', 'kubernetes.io~empty-dir', 'mem'));
  });

  it('keeps content across a second prepare', () => {
    const pod = podWith([{ name: 'scratch', emptyDir: {} }]);
    const o = optionsFor({ configMaps: [], secrets: [] });
    const p = prepareVolumes(pod, o).volumes.get('scratch')!;
    fs.writeFileSync(path.join(p, 'f'), 'x');
    prepareVolumes(pod, o);
    expect(read(path.join(p, 'f'))).toBe('x');
  });
});

describe('volumes - hostPath', () => {
  const o = () => optionsFor({ configMaps: [], secrets: [] });
  it('no type: the path as is, unchecked', () => {
    const p = path.join(dir, 'nope');
    expect(prepareVolumes(podWith([{ name: 'h', hostPath: { path: p } }]), o()).volumes.get('h')).toBe(p);
    expect(fs.existsSync(p)).toBe(false);
  });

  it('DirectoryOrCreate and FileOrCreate create the path', () => {
    const d = path.join(dir, 'a', 'b');
    const f = path.join(dir, 'file.txt');
    prepareVolumes(podWith([{ name: 'd', hostPath: { path: d, type: 'DirectoryOrCreate' } }, { name: 'f', hostPath: { path: f, type: 'FileOrCreate' } }]), o());
    expect(fs.statSync(d).isDirectory()).toBe(true);
    expect(fs.statSync(f).isFile()).toBe(true);
  });

  it('FileOrCreate does not create a missing parent', () => {
    const f = path.join(dir, 'missing', 'file.txt');
    const err = setupError(() => prepareVolumes(podWith([{ name: 'f', hostPath: { path: f, type: 'FileOrCreate' } }]), o()));
    expect(err.message).toMatch(/^MountVolume.SetUp failed for volume "f" : /);
  });

  it.each([
    ['Directory', 'file', 'is not a directory'],
    ['Directory', 'missing', 'is not a directory'],
    ['DirectoryOrCreate', 'file', 'is not a directory'],
    ['File', 'dir', 'is not a file'],
    ['FileOrCreate', 'dir', 'is not a file'],
    ['Socket', 'file', 'is not a socket file'],
    ['CharDevice', 'file', 'is not a character device'],
    ['BlockDevice', 'file', 'is not a block device'],
  ])('%s on a %s fails: %s', (type, what, msg) => {
    fs.mkdirSync(path.join(dir, 'dir'));
    fs.writeFileSync(path.join(dir, 'file'), '');
    const p = path.join(dir, what);
    const err = setupError(() => prepareVolumes(podWith([{ name: 'h', hostPath: { path: p, type } }]), o()));
    expect(err.message).toBe(`MountVolume.SetUp failed for volume "h" : hostPath type check failed: ${p} ${msg}`);
    expect(err.reason).toBe('FailedMount');
    expect(err.volumeName).toBe('h');
  });

  it('Directory, File, CharDevice and Socket accept the right kind', async () => {
    fs.mkdirSync(path.join(dir, 'dir'));
    fs.writeFileSync(path.join(dir, 'file'), '');
    const sock = path.join(dir, 's.sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      const pod = podWith([
        { name: 'd', hostPath: { path: path.join(dir, 'dir'), type: 'Directory' } },
        { name: 'f', hostPath: { path: path.join(dir, 'file'), type: 'File' } },
        { name: 'c', hostPath: { path: '/dev/null', type: 'CharDevice' } },
        { name: 's', hostPath: { path: sock, type: 'Socket' } },
      ]);
      expect(prepareVolumes(pod, o()).volumes.size).toBe(4);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('an unknown type is refused', () => {
    expect(setupError(() => prepareVolumes(podWith([{ name: 'h', hostPath: { path: dir, type: 'Weird' } }]), o())).message).toBe(
      'MountVolume.SetUp failed for volume "h" : Weird is an invalid volume type',
    );
  });
});

describe('volumes - configMap and secret', () => {
  const store = (): Store => ({
    configMaps: [{ metadata: { name: 'cfg', namespace: 'default' }, data: { 'app.conf': 'a=1', other: 'o' }, binaryData: { 'blob.bin': Buffer.from([0, 1, 2]) } }],
    secrets: [{ metadata: { name: 'sec', namespace: 'default' }, data: { token: Buffer.from('s3cr3t') } }],
  });

  it('writes every key as a file through ..data symlinks, mode 0644', () => {
    const pod = podWith([{ name: 'c', configMap: { name: 'cfg' } }, { name: 's', secret: { secretName: 'sec' } }]);
    const { volumes } = prepareVolumes(pod, optionsFor(store()));
    const c = volumes.get('c')!;
    expect(c).toBe(path.join(podDir, 'volumes', 'kubernetes.io~configmap', 'c'));
    expect(read(path.join(c, 'app.conf'))).toBe('a=1');
    expect(fs.readFileSync(path.join(c, 'blob.bin'))).toEqual(Buffer.from([0, 1, 2]));
    expect(fs.lstatSync(path.join(c, 'app.conf')).isSymbolicLink()).toBe(true);
    expect(fs.readlinkSync(path.join(c, 'app.conf'))).toBe(path.join('..data', 'app.conf'));
    expect(fs.readlinkSync(path.join(c, '..data'))).toMatch(/^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\..+$/);
    expect(mode(path.join(c, 'app.conf'))).toBe(0o644);
    const s = volumes.get('s')!;
    expect(s).toBe(path.join(podDir, 'volumes', 'kubernetes.io~secret', 's'));
    expect(read(path.join(s, 'token'))).toBe('s3cr3t');
    expect(mode(path.join(s, 'token'))).toBe(0o644);
  });

  it('items map keys to paths (nested) with per-item mode and defaultMode', () => {
    const pod = podWith([
      { name: 'c', configMap: { name: 'cfg', defaultMode: 0o600, items: [{ key: 'app.conf', path: 'conf/app.conf' }, { key: 'other', path: 'o.txt', mode: 0o400 }] } },
    ]);
    const c = prepareVolumes(pod, optionsFor(store())).volumes.get('c')!;
    expect(fs.readdirSync(c).filter((n) => !n.startsWith('..')).sort()).toEqual(['conf', 'o.txt']);
    expect(fs.readlinkSync(path.join(c, 'conf'))).toBe(path.join('..data', 'conf'));
    expect(read(path.join(c, 'conf', 'app.conf'))).toBe('a=1');
    expect(mode(path.join(c, 'conf', 'app.conf'))).toBe(0o600);
    expect(mode(path.join(c, 'o.txt'))).toBe(0o400);
  });

  it.each([
    [{ name: 'c', configMap: { name: 'nope' } }, 'configmap "nope" not found'],
    [{ name: 'c', secret: { secretName: 'nope' } }, 'secret "nope" not found'],
    [{ name: 'c', configMap: { name: 'cfg', items: [{ key: 'missing', path: 'm' }] } }, 'configmap references non-existent config key: missing'],
    [{ name: 'c', secret: { secretName: 'sec', items: [{ key: 'missing', path: 'm' }] } }, 'references non-existent secret key: missing'],
  ])('%j fails: %s', (vol, msg) => {
    expect(setupError(() => prepareVolumes(podWith([vol]), optionsFor(store()))).message).toBe(`MountVolume.SetUp failed for volume "c" : ${msg}`);
  });

  it('optional: a missing object gives an empty volume, a missing item key is skipped', () => {
    const pod = podWith([
      { name: 'a', configMap: { name: 'nope', optional: true } },
      { name: 'b', secret: { secretName: 'nope', optional: true } },
      { name: 'c', configMap: { name: 'cfg', optional: true, items: [{ key: 'missing', path: 'm' }, { key: 'other', path: 'o' }] } },
    ]);
    const { volumes } = prepareVolumes(pod, optionsFor(store()));
    expect(fs.readdirSync(volumes.get('a')!).filter((n) => !n.startsWith('..'))).toEqual([]);
    expect(fs.readdirSync(volumes.get('b')!).filter((n) => !n.startsWith('..'))).toEqual([]);
    expect(fs.readdirSync(volumes.get('c')!).filter((n) => !n.startsWith('..'))).toEqual(['o']);
  });

  it('updateVolumes swaps new content in atomically, removes dropped keys and reports what changed', () => {
    const s = store();
    const pod = podWith([{ name: 'c', configMap: { name: 'cfg' } }, { name: 'e', emptyDir: {} }]);
    const o = optionsFor(s);
    const c = prepareVolumes(pod, o).volumes.get('c')!;
    const firstTs = fs.readlinkSync(path.join(c, '..data'));
    expect(updateVolumes(pod, o)).toEqual({ updated: [], errors: [] });
    expect(fs.readlinkSync(path.join(c, '..data'))).toBe(firstTs);

    s.configMaps[0] = { metadata: { name: 'cfg', namespace: 'default' }, data: { 'app.conf': 'a=2', added: 'new' } };
    expect(updateVolumes(pod, o)).toEqual({ updated: ['c'], errors: [] });
    expect(read(path.join(c, 'app.conf'))).toBe('a=2');
    expect(read(path.join(c, 'added'))).toBe('new');
    expect(fs.existsSync(path.join(c, 'other'))).toBe(false);
    expect(fs.existsSync(path.join(c, firstTs))).toBe(false);
    expect(fs.readdirSync(c).filter((n) => n.startsWith('..')).length).toBe(2); // ..data and one timestamped folder
  });

  it('updateVolumes keeps the old files when the source is gone', () => {
    const s = store();
    const pod = podWith([{ name: 'c', configMap: { name: 'cfg' } }]);
    const o = optionsFor(s);
    const c = prepareVolumes(pod, o).volumes.get('c')!;
    s.configMaps = [];
    const res = updateVolumes(pod, o);
    expect(res.updated).toEqual([]);
    expect(res.errors.map((e) => e.message)).toEqual(['MountVolume.SetUp failed for volume "c" : configmap "cfg" not found']);
    expect(read(path.join(c, 'app.conf'))).toBe('a=1');
  });
});

describe('volumes - downwardAPI and projected', () => {
  const store: Store = {
    configMaps: [{ metadata: { name: 'cfg', namespace: 'default' }, data: { k: 'v' } }],
    secrets: [{ metadata: { name: 'sec', namespace: 'default' }, data: { t: Buffer.from('tok') } }],
  };

  it('downwardAPI writes field and resource values', () => {
    const pod = podWith([
      {
        name: 'info',
        downwardAPI: {
          items: [
            { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
            { path: 'name', fieldRef: { fieldPath: 'metadata.name' }, mode: 0o600 },
            { path: 'mem', resourceFieldRef: { containerName: 'app', resource: 'limits.memory', divisor: '1Mi' } },
          ],
        },
      },
    ]);
    const p = prepareVolumes(pod, optionsFor(store)).volumes.get('info')!;
    expect(p).toBe(path.join(podDir, 'volumes', 'kubernetes.io~downward-api', 'info'));
    expect(read(path.join(p, 'labels'))).toBe('app="web"');
    expect(read(path.join(p, 'name'))).toBe('web');
    expect(mode(path.join(p, 'name'))).toBe(0o600);
    expect(mode(path.join(p, 'labels'))).toBe(0o644);
    expect(read(path.join(p, 'mem'))).toBe('64');
  });

  it('downwardAPI picks up label changes on update', () => {
    const pod = podWith([{ name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: "metadata.labels['app']" } }] } }]);
    const o = optionsFor(store);
    const p = prepareVolumes(pod, o).volumes.get('info')!;
    pod.metadata!.labels = { app: 'api' };
    expect(updateVolumes(pod, o).updated).toEqual(['info']);
    expect(read(path.join(p, 'labels'))).toBe('api');
  });

  it('projected merges configMap, secret and downwardAPI sources with its defaultMode', () => {
    const pod = podWith([
      {
        name: 'all',
        projected: {
          defaultMode: 0o640,
          sources: [
            { configMap: { name: 'cfg' } },
            { secret: { secretName: 'sec', items: [{ key: 't', path: 'creds/token' }] } },
            { downwardAPI: { items: [{ path: 'ns', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
            { configMap: { name: 'absent', optional: true } },
          ],
        },
      },
    ]);
    const p = prepareVolumes(pod, optionsFor(store)).volumes.get('all')!;
    expect(p).toBe(path.join(podDir, 'volumes', 'kubernetes.io~projected', 'all'));
    expect(read(path.join(p, 'k'))).toBe('v');
    expect(read(path.join(p, 'creds', 'token'))).toBe('tok');
    expect(read(path.join(p, 'ns'))).toBe('default');
    expect(mode(path.join(p, 'k'))).toBe(0o640);
  });

  it('projected fails for a missing required source', () => {
    const pod = podWith([{ name: 'all', projected: { sources: [{ secret: { secretName: 'absent' } }] } }]);
    expect(setupError(() => prepareVolumes(pod, optionsFor(store))).message).toBe('MountVolume.SetUp failed for volume "all" : secret "absent" not found');
  });
});

describe('volumes - persistentVolumeClaim', () => {
  it('resolves through pvcHostPath', () => {
    const host = path.join(dir, 'pv', 'data');
    const pod = podWith([{ name: 'data', persistentVolumeClaim: { claimName: 'data', readOnly: true } }], [{ name: 'data', mountPath: '/data' }]);
    const prepared = prepareVolumes(pod, optionsFor({ configMaps: [], secrets: [], pvcPaths: { 'default/data': host } }));
    expect(prepared.volumes.get('data')).toBe(host);
    expect(fs.statSync(host).isDirectory()).toBe(true);
    expect(prepared.mountsFor(pod.spec!.containers![0])).toEqual([{ container_path: '/data', host_path: host, readonly: true, volume_name: 'data' }]);
  });

  it('without a claim lookup, an unresolved claim is not found', () => {
    const pod = podWith([{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }]);
    expect(setupError(() => prepareVolumes(pod, optionsFor({ configMaps: [], secrets: [] }))).message).toBe(
      'MountVolume.SetUp failed for volume "data" : persistentvolumeclaim "data" not found',
    );
  });

  it('with a claim lookup, tells not found from not bound', () => {
    const pod = podWith([{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }]);
    const pending: PersistentVolumeClaim = { metadata: { name: 'data', namespace: 'default' }, status: { phase: 'Pending' } };
    expect(setupError(() => prepareVolumes(pod, optionsFor({ configMaps: [], secrets: [], pvcs: [] }))).message).toMatch(/"data" not found$/);
    expect(setupError(() => prepareVolumes(pod, optionsFor({ configMaps: [], secrets: [], pvcs: [pending] }))).message).toBe(
      'MountVolume.SetUp failed for volume "data" : persistentvolumeclaim "data" is not bound',
    );
    const bound = { ...pending, status: { phase: 'Bound' } };
    expect(setupError(() => prepareVolumes(pod, optionsFor({ configMaps: [], secrets: [], pvcs: [bound] }))).message).toMatch(/is not bound$/);
    const host = path.join(dir, 'pv1');
    expect(prepareVolumes(pod, optionsFor({ configMaps: [], secrets: [], pvcs: [bound], pvcPaths: { 'default/data': host } })).volumes.get('data')).toBe(host);
  });
});

describe('volumes - mountsFor', () => {
  const store: Store = { configMaps: [{ metadata: { name: 'cfg', namespace: 'default' }, data: { 'app.conf': 'x' } }], secrets: [] };

  it('maps mounts in order with read-only rules', () => {
    const pod = podWith(
      [{ name: 'scratch', emptyDir: {} }, { name: 'cfg', configMap: { name: 'cfg' } }, { name: 'h', hostPath: { path: dir } }],
      [
        { name: 'scratch', mountPath: '/tmp/s' },
        { name: 'cfg', mountPath: '/etc/app' },
        { name: 'h', mountPath: '/host', readOnly: true },
      ],
    );
    const p = prepareVolumes(pod, optionsFor(store));
    expect(p.mountsFor(pod.spec!.containers![0])).toEqual([
      { container_path: '/tmp/s', host_path: p.volumes.get('scratch'), readonly: false, volume_name: 'scratch' },
      { container_path: '/etc/app', host_path: p.volumes.get('cfg'), readonly: true, volume_name: 'cfg' },
      { container_path: '/host', host_path: dir, readonly: true, volume_name: 'h' },
    ]);
  });

  it('subPath joins and creates a missing folder; a configMap key subPath is the file', () => {
    const pod = podWith(
      [{ name: 'scratch', emptyDir: {} }, { name: 'cfg', configMap: { name: 'cfg' } }],
      [
        { name: 'scratch', mountPath: '/a', subPath: 'x/y' },
        { name: 'cfg', mountPath: '/etc/app.conf', subPath: 'app.conf' },
      ],
    );
    const p = prepareVolumes(pod, optionsFor(store));
    const [a, b] = p.mountsFor(pod.spec!.containers![0]);
    expect(a.host_path).toBe(path.join(p.volumes.get('scratch')!, 'x', 'y'));
    expect(fs.statSync(a.host_path!).isDirectory()).toBe(true);
    expect(b.host_path).toBe(path.join(p.volumes.get('cfg')!, 'app.conf'));
    expect(read(b.host_path!)).toBe('x');
  });

  it('subPathExpr expands the container environment', () => {
    const pod = podWith([{ name: 'logs', emptyDir: {} }], [{ name: 'logs', mountPath: '/logs', subPathExpr: '$(POD_NAME)' }]);
    const p = prepareVolumes(pod, optionsFor(store));
    const [m] = p.mountsFor(pod.spec!.containers![0], [{ key: 'POD_NAME', value: 'web' }]);
    expect(m.host_path).toBe(path.join(p.volumes.get('logs')!, 'web'));
  });

  it('refuses unknown volumes and escaping subPaths', () => {
    const outside = path.join(dir, 'outside');
    fs.mkdirSync(outside);
    const pod = podWith([{ name: 'scratch', emptyDir: {} }]);
    const p = prepareVolumes(pod, optionsFor(store));
    fs.symlinkSync(outside, path.join(p.volumes.get('scratch')!, 'link'));
    const mounts = (m: { name: string; mountPath: string; subPath?: string }) => () => p.mountsFor({ name: 'app', volumeMounts: [m] });
    expect(mounts({ name: 'nope', mountPath: '/x' })).toThrow('cannot find volume "nope" to mount into container "app"');
    expect(mounts({ name: 'scratch', mountPath: '/x', subPath: '../up' })).toThrow(CreateContainerConfigError);
    expect(mounts({ name: 'scratch', mountPath: '/x', subPath: '/abs' })).toThrow(CreateContainerConfigError);
    expect(mounts({ name: 'scratch', mountPath: '/x', subPath: 'link/deeper' })).toThrow(/outside the volume/);
    expect(fs.existsSync(path.join(outside, 'deeper'))).toBe(false);
  });
});

describe('volumes - writeAtomic and cleanup', () => {
  it('refuses paths that escape the target', () => {
    const t = path.join(dir, 't');
    for (const bad of ['/abs', '../x', 'a/../../x', '..hidden', '']) {
      expect(() => writeAtomic(t, new Map([[bad, { data: Buffer.from('x'), mode: 0o644 }]]))).toThrow(/invalid path/);
    }
  });

  it('a mode change alone is an update', () => {
    const t = path.join(dir, 't');
    expect(writeAtomic(t, new Map([['f', { data: Buffer.from('x'), mode: 0o644 }]]))).toBe(true);
    expect(writeAtomic(t, new Map([['f', { data: Buffer.from('x'), mode: 0o644 }]]))).toBe(false);
    expect(writeAtomic(t, new Map([['f', { data: Buffer.from('x'), mode: 0o600 }]]))).toBe(true);
    expect(mode(path.join(t, 'f'))).toBe(0o600);
  });

  it('cleanupVolumes removes the pod volumes but never hostPath or claim folders', () => {
    const host = path.join(dir, 'host');
    fs.mkdirSync(host);
    fs.writeFileSync(path.join(host, 'keep'), 'k');
    const pod = podWith([{ name: 'e', emptyDir: {} }, { name: 'h', hostPath: { path: host } }]);
    const p = prepareVolumes(pod, optionsFor({ configMaps: [], secrets: [] }));
    fs.symlinkSync(host, path.join(p.volumes.get('e')!, 'link-to-host'));
    cleanupVolumes(podDir);
    expect(fs.existsSync(path.join(podDir, 'volumes'))).toBe(false);
    expect(read(path.join(host, 'keep'))).toBe('k');
    expect(() => cleanupVolumes(podDir)).not.toThrow();
  });
});
