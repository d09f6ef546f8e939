import { decodeKubernetesProtobuf, protoPackageOf } from '../../services/kube-apiserver/rest/k8sproto';
import { decodeBody } from '../../services/kube-apiserver/rest/request';
import { ApiError } from '../../services/lib/errors';

/** A minimal protobuf writer: enough to build what client-go's typed clients send. */
function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
const str = (no: number, s: string | Buffer) => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
  return Buffer.from([...varint((no << 3) | 2), ...varint(b.length), ...b]);
};
const msg = (no: number, ...parts: Buffer[]) => str(no, Buffer.concat(parts));
const int = (no: number, n: number | bigint) => Buffer.from([...varint(no << 3), ...varint(n)]);
const entry = (no: number, k: string, v: string | Buffer) => msg(no, str(1, k), str(2, v));

function envelope(apiVersion: string, kind: string, raw: Buffer): Buffer {
  return Buffer.concat([Buffer.from('k8s\0', 'binary'), msg(1, str(1, apiVersion), str(2, kind)), str(2, raw), str(3, ''), str(4, '')]);
}

describe('rest protobuf', () => {
  test('rest protobuf - a ConfigMap as kubectl create configmap sends it', () => {
    // gogo-protobuf writes every non-pointer field: empty strings and the zero time included.
    const meta = Buffer.concat([str(1, 'cm1'), str(2, ''), str(3, 'default'), msg(8, int(1, -62135596800), int(2, 0)), entry(11, 'app', 'web')]);
    const raw = Buffer.concat([msg(1, meta), entry(2, 'a', '1'), entry(2, 'empty', '')]);
    expect(decodeKubernetesProtobuf(envelope('v1', 'ConfigMap', raw))).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cm1', namespace: 'default', labels: { app: 'web' } },
      data: { a: '1', empty: '' },
    });
  });

  test('rest protobuf - Deployment replicas, IntOrString, times; Secret bytes; Eviction with DeleteOptions', () => {
    const strategy = msg(4, str(1, 'RollingUpdate'), msg(2, msg(1, int(1, 1), str(3, '25%')), msg(2, int(1, 0), int(2, 2))));
    const spec = Buffer.concat([int(1, 0), strategy]);
    const meta = Buffer.concat([str(1, 'web'), msg(8, int(1, 1700000000), int(2, 0))]);
    const dep = decodeKubernetesProtobuf(envelope('apps/v1', 'Deployment', Buffer.concat([msg(1, meta), msg(2, spec)])));
    expect(dep).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', creationTimestamp: '2023-11-14T22:13:20Z' },
      spec: { replicas: 0, strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: 2 } } },
    });
    const secret = decodeKubernetesProtobuf(envelope('v1', 'Secret', Buffer.concat([msg(1, str(1, 's')), entry(2, 'p', Buffer.from('secret')), str(3, 'Opaque')])));
    expect(secret).toMatchObject({ data: { p: Buffer.from('secret').toString('base64') }, type: 'Opaque' });
    const eviction = decodeKubernetesProtobuf(envelope('policy/v1', 'Eviction', Buffer.concat([msg(1, str(1, 'p1'), str(3, 'default')), msg(2, int(1, 0), str(4, 'Background'))])));
    expect(eviction).toEqual({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'p1', namespace: 'default' }, deleteOptions: { gracePeriodSeconds: 0, propagationPolicy: 'Background' } });
  });

  test('rest protobuf - fields Go embeds inline are flattened into their parent: an Ingress as kubectl create ingress sends it', () => {
    // kubectl create ingress ing1 --rule=foo.com/bar=web:80
    const path = msg(1, str(1, '/bar'), str(3, 'Exact'), msg(2, msg(4, str(1, 'web'), msg(2, int(2, 80)))));
    const rule = msg(3, str(1, 'foo.com'), msg(2, msg(1, path)));
    const ing = decodeKubernetesProtobuf(envelope('networking.k8s.io/v1', 'Ingress', Buffer.concat([msg(1, str(1, 'ing1')), msg(2, rule)])));
    expect(ing.spec).toEqual({ rules: [{ host: 'foo.com', http: { paths: [{ path: '/bar', pathType: 'Exact', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] });
  });

  test('rest protobuf - bad bodies are BadRequest, unknown kinds UnsupportedMediaType; decodeBody dispatches on the media type', () => {
    const reasonOf = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as ApiError).reason;
      }
      return 'none';
    };
    expect(reasonOf(() => decodeKubernetesProtobuf(Buffer.from('{"a":1}')))).toBe('BadRequest');
    expect(reasonOf(() => decodeKubernetesProtobuf(Buffer.concat([Buffer.from('k8s\0', 'binary'), Buffer.from([0x0a, 0x50])])))).toBe('BadRequest');
    expect(reasonOf(() => decodeKubernetesProtobuf(envelope('example.com/v1', 'Widget', Buffer.alloc(0))))).toBe('UnsupportedMediaType');
    const body = envelope('v1', 'Namespace', msg(1, str(1, 'foo')));
    expect(decodeBody(body, 'application/vnd.kubernetes.protobuf')).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'foo' } });
    expect(protoPackageOf('v1')).toBe('k8s.io.api.core.v1');
    expect(protoPackageOf('networking.k8s.io/v1')).toBe('k8s.io.api.networking.v1');
    expect(protoPackageOf('meta.k8s.io/v1')).toBe('k8s.io.apimachinery.pkg.apis.meta.v1');
  });
});
