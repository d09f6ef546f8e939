import { containerEnv, normalizeContainerPath, pathMapper, volumeVariable } from '../../services/container-runtime/container-env';

const mount = (containerPath: string, hostPath: string, volumeName = 'v') => ({ containerPath, hostPath, readonly: false, volumeName });

describe('pathMapper', () => {
  const map = pathMapper([mount('/data', '/host/pods/u/volumes/data'), mount('/data/cache/', '/host/cache'), mount('/etc/app/config.yaml', '/host/cfg.yaml')]);

  test('pathMapper - maps a path at the start of an argument and inside options and shell scripts', () => {
    expect(map('/data')).toBe('/host/pods/u/volumes/data');
    expect(map('/data/x.txt')).toBe('/host/pods/u/volumes/data/x.txt');
    expect(map('--dir=/data/x')).toBe('--dir=/host/pods/u/volumes/data/x');
    expect(map('cat /data/a; ls /data')).toBe('cat /host/pods/u/volumes/data/a; ls /host/pods/u/volumes/data');
    expect(map(`echo "/data/a" '/data'`)).toBe(`echo "/host/pods/u/volumes/data/a" '/host/pods/u/volumes/data'`);
    expect(map('--config /etc/app/config.yaml')).toBe('--config /host/cfg.yaml');
  });

  test('pathMapper - the longest container path wins', () => {
    expect(map('/data/cache/item')).toBe('/host/cache/item');
    expect(map('/data/cachex')).toBe('/host/pods/u/volumes/data/cachex');
  });

  test('pathMapper - leaves paths that only share a prefix or sit inside another path', () => {
    expect(map('/database')).toBe('/database');
    expect(map('/old/data')).toBe('/old/data');
    expect(map('x/data')).toBe('x/data');
    expect(map('http://host/data')).toBe('http://host/data');
  });

  test('pathMapper - a mount of / maps nothing; no mounts is the identity', () => {
    expect(pathMapper([mount('/', '/host')])('/etc/passwd')).toBe('/etc/passwd');
    expect(pathMapper([])('/data')).toBe('/data');
  });

  test('pathMapper - regular-expression characters in paths are literal', () => {
    const m = pathMapper([mount('/a.b+(c)', '/h')]);
    expect(m('/a.b+(c)/x')).toBe('/h/x');
    expect(m('/aXb+(c)/x')).toBe('/aXb+(c)/x');
  });
});

describe('containerEnv', () => {
  const base = {
    imageEnv: { PATH: '/usr/bin', NGINX_VERSION: '1' },
    podIP: '127.64.0.5',
    hostname: 'web-0',
    podDir: '/r/pods/u',
    containerDir: '/r/pods/u/containers/app',
    mounts: [mount('/data/', '/r/pods/u/volumes/data', 'my-data.vol')],
  };

  test('containerEnv - image env, then the kubelet envs in order (later wins), then the runtime variables', () => {
    const env = containerEnv({ ...base, envs: [{ key: 'A', value: '1' }, { key: 'A', value: '2' }, { key: 'NGINX_VERSION', value: 'x' }, { key: 'POD_IP', value: 'spoofed' }] });
    expect(env).toMatchObject({ PATH: '/usr/bin', A: '2', NGINX_VERSION: 'x', POD_IP: '127.64.0.5', HOSTNAME: 'web-0', KUBEMU_POD_DIR: '/r/pods/u', HOME: '/r/pods/u/containers/app' });
    expect(env.KUBEMU_VOLUME_MY_DATA_VOL).toBe('/r/pods/u/volumes/data');
    expect(JSON.parse(env.KUBEMU_MOUNTS)).toEqual({ '/data': '/r/pods/u/volumes/data' });
  });

  test('containerEnv - a pod may set HOSTNAME and HOME', () => {
    const env = containerEnv({ ...base, envs: [{ key: 'HOSTNAME', value: 'custom' }, { key: 'HOME', value: '/home/me' }] });
    expect(env.HOSTNAME).toBe('custom');
    expect(env.HOME).toBe('/home/me');
  });

  test('containerEnv - helpers name volumes and normalise paths', () => {
    expect(volumeVariable('kube-api-access-x1')).toBe('KUBEMU_VOLUME_KUBE_API_ACCESS_X1');
    expect(normalizeContainerPath('/a/b//')).toBe('/a/b');
    expect(normalizeContainerPath('/')).toBe('/');
  });
});
