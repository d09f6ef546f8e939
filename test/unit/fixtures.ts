/**
 * A realistic, valid object of every kind kubemu serves, as a user would send it (before
 * defaulting). Each entry is a function returning a fresh object, so a test may mutate what
 * it gets. Namespaced objects live in `default`. Shared by unit and contract tests.
 */
import { FieldError, fieldErrorMessage } from '../../services/lib/errors';
import { KindMap, ObjectCase, resourceForCase } from '../../services/lib/resources';
import { applyDefaults } from '../../services/kube-apiserver/defaulting';
import { validateCreate, validateStatusUpdate, validateUpdate } from '../../services/kube-apiserver/validation';

export type Fixtures = { [C in ObjectCase]: () => KindMap[C] };

const appLabels = () => ({ app: 'web' });

const container = () => ({
  name: 'web',
  image: 'nginx:1.27',
  ports: [{ name: 'http', containerPort: 8080 }],
  env: [
    { name: 'MODE', value: 'production' },
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  ],
  resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } },
  readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 5 },
  livenessProbe: { tcpSocket: { port: 8080 } },
  volumeMounts: [{ name: 'config', mountPath: '/etc/web' }],
});

const podSpec = () => ({
  containers: [container()],
  volumes: [{ name: 'config', configMap: { name: 'web-config' } }],
  nodeSelector: { 'kubernetes.io/os': 'linux' },
  tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'web', effect: 'NoSchedule' }],
});

const template = () => ({ metadata: { labels: appLabels() }, spec: podSpec() });

export const fixtures: Fixtures = {
  namespace: () => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { team: 'a' } } }),
  pod: () => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-0', namespace: 'default', labels: appLabels(), annotations: { 'example.com/owner': 'team-a' } },
    spec: {
      ...podSpec(),
      initContainers: [{ name: 'init', image: 'busybox', command: ['sh', '-c', 'true'] }],
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'node.kubernetes.io/instance-type', operator: 'In', values: ['small', 'large'] }] }],
          },
        },
      },
    },
  }),
  node: () => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'node-1', labels: { 'kubernetes.io/hostname': 'node-1' } },
    spec: { podCIDR: '127.1.0.0/24', taints: [{ key: 'dedicated', value: 'web', effect: 'NoSchedule' }] },
    status: {
      capacity: { cpu: '4', memory: '8Gi', pods: '110' },
      addresses: [{ type: 'InternalIP', address: '127.0.1.1' }],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }],
    },
  }),
  service: () => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: { selector: appLabels(), ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'metrics', port: 9090 }] },
  }),
  endpoints: () => ({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: 'web', namespace: 'default' },
    subsets: [
      {
        addresses: [{ ip: '127.1.0.5', nodeName: 'node-1', targetRef: { kind: 'Pod', name: 'web-0', namespace: 'default' } }],
        ports: [{ name: 'http', port: 8080 }],
      },
    ],
  }),
  event: () => ({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: 'web-0.17a8b3c4d5e6f7a8', namespace: 'default' },
    involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-0', apiVersion: 'v1' },
    reason: 'Scheduled',
    message: 'Successfully assigned default/web-0 to node-1',
    source: { component: 'default-scheduler' },
    type: 'Normal',
    count: 1,
    firstTimestamp: '2026-01-01T00:00:00Z',
    lastTimestamp: '2026-01-01T00:00:00Z',
  }),
  configMap: () => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'web-config', namespace: 'default' },
    data: { 'nginx.conf': 'worker_processes 1;', MODE: 'production' },
  }),
  secret: () => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'web-tls', namespace: 'default' },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': Buffer.from('certificate'), 'tls.key': Buffer.from('key') },
  }),
  persistentVolume: () => ({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: 'pv-data' },
    spec: { capacity: { storage: '10Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: '/tmp/kubemu/pv-data' }, storageClassName: 'manual' },
  }),
  persistentVolumeClaim: () => ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'data', namespace: 'default' },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'manual' },
  }),
  replicaSet: () => ({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web-5d4f8c', namespace: 'default', labels: appLabels() },
    spec: { replicas: 2, selector: { matchLabels: appLabels() }, template: template() },
  }),
  deployment: () => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', labels: appLabels() },
    spec: { replicas: 3, selector: { matchLabels: appLabels() }, template: template() },
  }),
  statefulSet: () => ({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'db', namespace: 'default' },
    spec: {
      serviceName: 'db',
      replicas: 3,
      selector: { matchLabels: { app: 'db' } },
      template: {
        metadata: { labels: { app: 'db' } },
        spec: { containers: [{ name: 'db', image: 'postgres:16', ports: [{ containerPort: 5432 }], volumeMounts: [{ name: 'data', mountPath: '/var/lib/postgresql' }] }] },
      },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
    },
  }),
  daemonSet: () => ({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'node-exporter', namespace: 'default' },
    spec: {
      selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['node-exporter'] }] },
      template: {
        metadata: { labels: { app: 'node-exporter' } },
        spec: {
          hostNetwork: true,
          containers: [{ name: 'exporter', image: 'node-exporter:v1', ports: [{ containerPort: 9100, hostPort: 9100 }] }],
          tolerations: [{ operator: 'Exists' }],
        },
      },
    },
  }),
  job: () => ({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'pi', namespace: 'default' },
    spec: {
      backoffLimit: 4,
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'pi', image: 'perl:5.34', command: ['perl', '-e', 'print 3.14'] }] } },
    },
  }),
  cronJob: () => ({
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'nightly-report', namespace: 'default' },
    spec: {
      schedule: '30 2 * * 1-5',
      timeZone: 'Europe/Paris',
      concurrencyPolicy: 'Forbid',
      jobTemplate: {
        spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'report', image: 'busybox:1.36', command: ['sh', '-c', 'date'] }] } } },
      },
    },
  }),
  lease: () => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'kube-scheduler', namespace: 'default' },
    spec: { holderIdentity: 'scheduler-1', leaseDurationSeconds: 15, acquireTime: '2026-01-01T00:00:00.000000Z', renewTime: '2026-01-01T00:00:10.000000Z', leaseTransitions: 0 },
  }),
  ingress: () => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      ingressClassName: 'kubemu',
      tls: [{ hosts: ['web.example.com'], secretName: 'web-tls' }],
      rules: [
        {
          host: 'web.example.com',
          http: {
            paths: [
              { path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http' } } } },
              { path: '/metrics', pathType: 'Exact', backend: { service: { name: 'web', port: { number: 9090 } } } },
            ],
          },
        },
      ],
    },
  }),
  ingressClass: () => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: { name: 'kubemu' },
    spec: { controller: 'kubemu.io/ingress-controller' },
  }),
};

// ---------------------------------------------------------------- helpers for validation tests

/** The defaulting options the helpers use (the `k8s` timing profile's 300 s). */
export const DEFAULTING = { defaultTolerationSeconds: 300 };

/**
 * A fixture as the registry holds it right before validating a create: mutated by the test,
 * copied through the codec, given system fields (uid, creationTimestamp, generation), its
 * status dropped (except a Node's), and defaulted.
 */
export function created<C extends ObjectCase>(c: C, mutate?: (o: KindMap[C]) => void): KindMap[C] {
  const info = resourceForCase(c);
  const raw = fixtures[c]();
  mutate?.(raw);
  const obj = info.codec.decode(info.codec.encode(raw).finish()) as KindMap[C];
  const meta = (obj.metadata ??= {});
  meta.uid = '6f1c0c4e-0000-4000-8000-000000000001';
  meta.creationTimestamp = '2026-01-01T00:00:00Z';
  meta.generation = 1;
  if (info.hasStatus && c !== 'node') (obj as { status?: unknown }).status = undefined;
  applyDefaults(info, obj, DEFAULTING);
  return obj;
}

/** validateCreate of created(c, mutate). */
export function createErrors<C extends ObjectCase>(c: C, mutate?: (o: KindMap[C]) => void): FieldError[] {
  return validateCreate(resourceForCase(c), created(c, mutate));
}

/** The messages of createErrors. */
export function createMessages<C extends ObjectCase>(c: C, mutate?: (o: KindMap[C]) => void): string[] {
  return createErrors(c, mutate).map(fieldErrorMessage);
}

/** A stored copy of created(c, before) (resourceVersion 7), and an update of it changed by `mutate` then defaulted. */
export function updatePair<C extends ObjectCase>(c: C, mutate: (o: KindMap[C]) => void, before?: (o: KindMap[C]) => void): { next: KindMap[C]; old: KindMap[C] } {
  const info = resourceForCase(c);
  const old = created(c, before);
  old.metadata!.resourceVersion = '7';
  const next = info.codec.decode(info.codec.encode(old).finish()) as KindMap[C];
  mutate(next);
  applyDefaults(info, next, { ...DEFAULTING, update: true });
  return { next, old };
}

/** The messages of validateUpdate for updatePair(c, mutate, before). */
export function updateMessages<C extends ObjectCase>(c: C, mutate: (o: KindMap[C]) => void, before?: (o: KindMap[C]) => void): string[] {
  const { next, old } = updatePair(c, mutate, before);
  return validateUpdate(resourceForCase(c), next, old).map(fieldErrorMessage);
}

/** The messages of validateStatusUpdate: `mutate` changes a copy of the stored object (not defaulted again). */
export function statusUpdateMessages<C extends ObjectCase>(c: C, mutate: (o: KindMap[C]) => void, before?: (o: KindMap[C]) => void): string[] {
  const info = resourceForCase(c);
  const old = created(c, before);
  old.metadata!.resourceVersion = '7';
  const next = info.codec.decode(info.codec.encode(old).finish()) as KindMap[C];
  mutate(next);
  return validateStatusUpdate(info, next, old).map(fieldErrorMessage);
}
