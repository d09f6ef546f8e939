import { KindMap, ObjectCase, resourceForCase } from '../../services/lib/resources';
import { applyDefaults, imageTag, podQOSClass } from '../../services/kube-apiserver/defaulting';
import { created, DEFAULTING, fixtures } from './fixtures';

// Defaults applied to a fixture (changed by `mutate`) the way the registry applies them.
function defaulted<C extends ObjectCase>(c: C, mutate?: (o: KindMap[C]) => void, update = false): KindMap[C] {
  const info = resourceForCase(c);
  const obj = info.codec.fromPartial(fixtures[c]()) as KindMap[C];
  mutate?.(obj);
  obj.metadata!.uid = 'uid-1';
  applyDefaults(info, obj, { ...DEFAULTING, update });
  return obj;
}

describe('pod defaults', () => {
  test('defaults - pod spec fields', () => {
    const spec = defaulted('pod').spec!;
    expect(spec.restartPolicy).toBe('Always');
    expect(spec.dnsPolicy).toBe('ClusterFirst');
    expect(spec.schedulerName).toBe('default-scheduler');
    expect(spec.terminationGracePeriodSeconds).toBe(30);
    expect(spec.securityContext).toEqual({});
    expect(spec.enableServiceLinks).toBe(true);
  });

  test('defaults - explicit values are kept', () => {
    const spec = defaulted('pod', (o) => Object.assign(o.spec!, { restartPolicy: 'Never', terminationGracePeriodSeconds: 0, enableServiceLinks: false })).spec!;
    expect([spec.restartPolicy, spec.terminationGracePeriodSeconds, spec.enableServiceLinks]).toEqual(['Never', 0, false]);
  });

  test('defaults - imagePullPolicy is Always for :latest or no tag, else IfNotPresent', () => {
    const policy = (image: string) => defaulted('pod', (o) => (o.spec!.containers![0].image = image)).spec!.containers![0].imagePullPolicy;
    expect(policy('nginx')).toBe('Always');
    expect(policy('nginx:latest')).toBe('Always');
    expect(policy('registry.local:5000/nginx')).toBe('Always');
    expect(policy('nginx:1.27')).toBe('IfNotPresent');
    expect(policy('registry.local:5000/nginx:1.27')).toBe('IfNotPresent');
    expect(policy('nginx@sha256:abcd')).toBe('IfNotPresent');
    expect(imageTag('a/b:c@sha256:0')).toBe('c');
  });

  test('defaults - container termination message and port protocol', () => {
    const c = defaulted('pod').spec!.containers![0];
    expect(c.terminationMessagePath).toBe('/dev/termination-log');
    expect(c.terminationMessagePolicy).toBe('File');
    expect(c.ports![0].protocol).toBe('TCP');
    const init = defaulted('pod').spec!.initContainers![0];
    expect([init.imagePullPolicy, init.terminationMessagePolicy]).toEqual(['Always', 'File']);
  });

  test('defaults - probes get timeouts, periods, thresholds and HTTP path/scheme', () => {
    const c = defaulted('pod').spec!.containers![0];
    expect(c.livenessProbe).toMatchObject({ timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 });
    expect(c.readinessProbe).toMatchObject({ periodSeconds: 5, timeoutSeconds: 1 });
    const probe = defaulted('pod', (o) => (o.spec!.containers![0].readinessProbe = { httpGet: { port: 8080 } })).spec!.containers![0].readinessProbe!;
    expect(probe.httpGet).toMatchObject({ path: '/', scheme: 'HTTP', port: 8080 });
  });

  test('defaults - resource quantities are stored in canonical form, rounded up to milli', () => {
    const c = defaulted('pod', (o) => (o.spec!.containers![0].resources = { limits: { cpu: '0.5', memory: '1024Mi', 'example.com/x': 'abc' }, requests: { cpu: '0.0001', memory: '1.5Gi' } })).spec!
      .containers![0];
    expect(c.resources!.limits).toEqual({ cpu: '500m', memory: '1Gi', 'example.com/x': 'abc' });
    expect(c.resources!.requests).toEqual({ cpu: '1m', memory: '1536Mi', 'example.com/x': 'abc' });
    expect(defaulted('persistentVolumeClaim', (o) => (o.spec!.resources!.requests!.storage = '2048Mi')).spec!.resources!.requests).toEqual({ storage: '2Gi' });
    expect(defaulted('node', (o) => (o.status!.capacity!.memory = '8192Mi')).status!.allocatable!.memory).toBe('8Gi');
  });

  test('defaults - requests default to limits on pods', () => {
    const c = defaulted('pod', (o) => (o.spec!.containers![0].resources = { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '250m' } })).spec!.containers![0];
    expect(c.resources!.requests).toEqual({ cpu: '250m', memory: '1Gi' });
  });

  test('defaults - fieldRef apiVersion, volume modes and a source-less volume', () => {
    const pod = defaulted('pod', (o) => o.spec!.volumes!.push({ name: 'scratch' }, { name: 'creds', secret: { secretName: 'creds' } }));
    expect(pod.spec!.containers![0].env![1].valueFrom!.fieldRef!.apiVersion).toBe('v1');
    expect(pod.spec!.volumes![0].configMap!.defaultMode).toBe(0o644);
    expect(pod.spec!.volumes![1].emptyDir).toEqual({});
    expect(pod.spec!.volumes![2].secret!.defaultMode).toBe(420);
  });

  test('defaults - host-network pods expose container ports as host ports', () => {
    const c = defaulted('pod', (o) => (o.spec!.hostNetwork = true)).spec!.containers![0];
    expect(c.ports![0].hostPort).toBe(8080);
  });

  test('defaults - pods tolerate not-ready and unreachable nodes for defaultTolerationSeconds', () => {
    const tolerations = defaulted('pod').spec!.tolerations!;
    expect(tolerations.slice(1)).toEqual([
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', value: '', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', value: '', effect: 'NoExecute', tolerationSeconds: 300 },
    ]);
  });

  test('defaults - a pod that already tolerates the taints gets no extra toleration', () => {
    const own = { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 };
    const keys = (mutate: (o: KindMap['pod']) => void) => defaulted('pod', mutate).spec!.tolerations!.map((t) => `${t.key ?? ''}:${t.tolerationSeconds ?? ''}`);
    expect(keys((o) => (o.spec!.tolerations = [own]))).toEqual(['node.kubernetes.io/unreachable:30', 'node.kubernetes.io/not-ready:300']);
    expect(keys((o) => (o.spec!.tolerations = [{ operator: 'Exists' }]))).toEqual([':']);
    // Defaulting twice adds nothing more.
    const once = defaulted('pod');
    applyDefaults(resourceForCase('pod'), once, DEFAULTING);
    expect(once.spec!.tolerations).toHaveLength(3);
  });

  test('defaults - a new pod is Pending with its QoS class', () => {
    expect(created('pod').status).toMatchObject({ phase: 'Pending', qosClass: 'Burstable' });
  });

  test('defaults - QoS class as Kubernetes computes it', () => {
    const qos = (resources: object[], init: object[] = []) =>
      podQOSClass({ containers: resources.map((r, i) => ({ name: `c${i}`, resources: r })), initContainers: init.map((r, i) => ({ name: `i${i}`, resources: r })) });
    expect(qos([{}])).toBe('BestEffort');
    expect(qos([{ requests: { cpu: '0' } }])).toBe('BestEffort');
    expect(qos([{ limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1', memory: '1Gi' } }])).toBe('Guaranteed');
    expect(qos([{ limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1000m', memory: '1024Mi' } }])).toBe('Guaranteed');
    expect(qos([{ limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '500m', memory: '1Gi' } }])).toBe('Burstable');
    expect(qos([{ limits: { cpu: '1' }, requests: { cpu: '1' } }])).toBe('Burstable');
    expect(qos([{ limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1', memory: '1Gi' } }, {}])).toBe('Burstable');
    expect(qos([{ limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1', memory: '1Gi' } }], [{ requests: { cpu: '1' } }])).toBe('Burstable');
    expect(qos([{ requests: { 'example.com/gpu': '1' } }])).toBe('BestEffort');
  });

  test('defaults - a Guaranteed pod from limits alone (init containers count too)', () => {
    const limitsOnly = (o: KindMap['pod']) => (o.spec!.containers![0].resources = { limits: { cpu: '1', memory: '1Gi' } });
    expect(created('pod', limitsOnly).status!.qosClass).toBe('Burstable');
    expect(created('pod', (o) => limitsOnly(o) && (o.spec!.initContainers = [])).status!.qosClass).toBe('Guaranteed');
  });
});

describe('workload defaults', () => {
  test('defaults - pod templates get pod spec defaults but no pod-only ones', () => {
    const spec = defaulted('deployment').spec!.template!.spec!;
    expect(spec.restartPolicy).toBe('Always');
    expect(spec.containers![0].imagePullPolicy).toBe('IfNotPresent');
    expect(spec.enableServiceLinks).toBeUndefined();
    expect(spec.tolerations).toHaveLength(1);
    expect(spec.containers![0].resources!.requests).toEqual({ cpu: '100m', memory: '64Mi' });
  });

  test('defaults - replicas 1 for ReplicaSets, Deployments and StatefulSets', () => {
    expect(defaulted('replicaSet', (o) => (o.spec!.replicas = undefined)).spec!.replicas).toBe(1);
    expect(defaulted('deployment', (o) => (o.spec!.replicas = undefined)).spec!.replicas).toBe(1);
    expect(defaulted('statefulSet', (o) => (o.spec!.replicas = undefined)).spec!.replicas).toBe(1);
    expect(defaulted('deployment', (o) => (o.spec!.replicas = 0)).spec!.replicas).toBe(0);
  });

  test('defaults - Deployment strategy RollingUpdate 25%/25%, history 10, deadline 600', () => {
    const spec = defaulted('deployment').spec!;
    expect(spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
    expect([spec.revisionHistoryLimit, spec.progressDeadlineSeconds]).toEqual([10, 600]);
    expect(defaulted('deployment', (o) => (o.spec!.strategy = { type: 'Recreate' })).spec!.strategy).toEqual({ type: 'Recreate' });
    expect(defaulted('deployment', (o) => (o.spec!.strategy = { rollingUpdate: { maxSurge: 1 } })).spec!.strategy!.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: '25%' });
  });

  test('defaults - StatefulSet policies, partition 0 and Retain/Retain', () => {
    const spec = defaulted('statefulSet').spec!;
    expect(spec.podManagementPolicy).toBe('OrderedReady');
    expect(spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { partition: 0 } });
    expect(spec.revisionHistoryLimit).toBe(10);
    expect(spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
    expect(spec.volumeClaimTemplates![0].spec!.volumeMode).toBe('Filesystem');
    expect(spec.volumeClaimTemplates![0].status!.phase).toBe('Pending');
    expect(defaulted('statefulSet', (o) => (o.spec!.updateStrategy = { type: 'OnDelete' })).spec!.updateStrategy).toEqual({ type: 'OnDelete' });
  });

  test('defaults - DaemonSet RollingUpdate maxUnavailable 1 maxSurge 0, history 10', () => {
    const spec = defaulted('daemonSet').spec!;
    expect(spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
    expect(spec.revisionHistoryLimit).toBe(10);
  });

  test('defaults - Job parallelism, completions, backoff and modes', () => {
    const spec = defaulted('job').spec!;
    expect(spec).toMatchObject({
      parallelism: 1,
      completions: 1,
      backoffLimit: 4,
      completionMode: 'NonIndexed',
      suspend: false,
      manualSelector: false,
      podReplacementPolicy: 'TerminatingOrFailed',
    });
    expect(defaulted('job', (o) => (o.spec!.backoffLimit = undefined)).spec!.backoffLimit).toBe(6);
  });

  test('defaults - a work-queue Job (parallelism only) keeps completions unset', () => {
    const spec = defaulted('job', (o) => (o.spec!.parallelism = 3)).spec!;
    expect([spec.parallelism, spec.completions]).toEqual([3, undefined]);
    const fixed = defaulted('job', (o) => (o.spec!.completions = 5)).spec!;
    expect([fixed.parallelism, fixed.completions]).toEqual([1, 5]);
  });

  test('defaults - a Job gets its generated selector and pod labels from its uid and name', () => {
    const job = defaulted('job');
    expect(job.spec!.selector!.matchLabels).toEqual({ 'batch.kubernetes.io/controller-uid': 'uid-1' });
    expect(job.spec!.template!.metadata!.labels).toEqual({
      'controller-uid': 'uid-1',
      'batch.kubernetes.io/controller-uid': 'uid-1',
      'job-name': 'pi',
      'batch.kubernetes.io/job-name': 'pi',
    });
    expect(job.metadata!.labels).toEqual(job.spec!.template!.metadata!.labels);
  });

  test('defaults - a manual selector is left alone; updates generate nothing', () => {
    const manual = defaulted('job', (o) => Object.assign(o.spec!, { manualSelector: true, selector: { matchLabels: { run: 'pi' } } }));
    expect(manual.spec!.selector!.matchLabels).toEqual({ run: 'pi' });
    expect(manual.spec!.template!.metadata?.labels ?? {}).toEqual({});
    const updated = defaulted('job', undefined, true);
    expect(updated.spec!.selector).toBeUndefined();
  });

  test('defaults - CronJob policies and limits; its job template gets pod spec defaults only', () => {
    const spec = defaulted('cronJob', (o) => (o.spec!.concurrencyPolicy = '')).spec!;
    expect(spec).toMatchObject({ concurrencyPolicy: 'Allow', suspend: false, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1 });
    expect(spec.jobTemplate!.spec!.template!.spec!.dnsPolicy).toBe('ClusterFirst');
    expect(spec.jobTemplate!.spec!.parallelism).toBeUndefined();
  });
});

describe('other defaults', () => {
  test('defaults - Service type, affinity, protocol, targetPort and traffic policies', () => {
    const spec = defaulted('service').spec!;
    expect(spec).toMatchObject({ type: 'ClusterIP', sessionAffinity: 'None', internalTrafficPolicy: 'Cluster', ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4'] });
    expect(spec.ports!.map((p) => [p.protocol, p.targetPort])).toEqual([
      ['TCP', 'http'],
      ['TCP', 9090],
    ]);
    expect(spec.externalTrafficPolicy).toBe('');
  });

  test('defaults - NodePort and LoadBalancer services get externalTrafficPolicy Cluster', () => {
    expect(defaulted('service', (o) => (o.spec!.type = 'NodePort')).spec!.externalTrafficPolicy).toBe('Cluster');
    const lb = defaulted('service', (o) => (o.spec!.type = 'LoadBalancer')).spec!;
    expect([lb.externalTrafficPolicy, lb.allocateLoadBalancerNodePorts]).toEqual(['Cluster', true]);
  });

  test('defaults - ClientIP affinity gets a 3 hour timeout; clusterIP and clusterIPs agree', () => {
    expect(defaulted('service', (o) => (o.spec!.sessionAffinity = 'ClientIP')).spec!.sessionAffinityConfig).toEqual({ clientIP: { timeoutSeconds: 10800 } });
    expect(defaulted('service', (o) => (o.spec!.clusterIP = 'None')).spec!.clusterIPs).toEqual(['None']);
  });

  test('defaults - an ExternalName service gets no IP fields', () => {
    const spec = defaulted('service', (o) => (o.spec = { type: 'ExternalName', externalName: 'db.example.com' })).spec!;
    expect([spec.ipFamilyPolicy, spec.ipFamilies ?? [], spec.internalTrafficPolicy, spec.clusterIPs ?? []]).toEqual([undefined, [], undefined, []]);
  });

  test('defaults - Namespace finalizer, phase and name label', () => {
    const ns = defaulted('namespace');
    expect(ns.spec!.finalizers).toEqual(['kubernetes']);
    expect(ns.status!.phase).toBe('Active');
    expect(ns.metadata!.labels).toEqual({ team: 'a', 'kubernetes.io/metadata.name': 'team-a' });
    expect(defaulted('namespace', (o) => (o.spec = { finalizers: ['example.com/x'] })).spec!.finalizers).toEqual(['example.com/x', 'kubernetes']);
    expect(defaulted('namespace', (o) => (o.spec = { finalizers: [] }), true).spec!.finalizers).toEqual([]);
  });

  test('defaults - Secret type Opaque', () => {
    expect(defaulted('secret', (o) => (o.type = '')).type).toBe('Opaque');
    expect(defaulted('secret').type).toBe('kubernetes.io/tls');
  });

  test('defaults - PV reclaim policy, volume mode and phase', () => {
    const pv = defaulted('persistentVolume');
    expect([pv.spec!.persistentVolumeReclaimPolicy, pv.spec!.volumeMode, pv.status!.phase]).toEqual(['Retain', 'Filesystem', 'Pending']);
  });

  test('defaults - PVC volume mode and phase', () => {
    const pvc = defaulted('persistentVolumeClaim');
    expect([pvc.spec!.volumeMode, pvc.status!.phase]).toEqual(['Filesystem', 'Pending']);
  });

  test('defaults - Endpoints port protocol', () => {
    expect(defaulted('endpoints').subsets![0].ports![0].protocol).toBe('TCP');
  });

  test('defaults - Node allocatable from capacity, podCIDRs from podCIDR', () => {
    const node = defaulted('node');
    expect(node.status!.allocatable).toEqual({ cpu: '4', memory: '8Gi', pods: '110' });
    expect(node.spec!.podCIDRs).toEqual(['127.1.0.0/24']);
    expect(node.status!.phase).toBe('');
  });

  test('defaults - IngressClass parameters are cluster-scoped by default', () => {
    expect(defaulted('ingressClass', (o) => (o.spec!.parameters = { kind: 'Config', name: 'cfg' })).spec!.parameters!.scope).toBe('Cluster');
  });

  test('defaults - Events, ConfigMaps, Leases and Ingresses are left as they are', () => {
    for (const c of ['event', 'configMap', 'lease', 'ingress'] as const) {
      const info = resourceForCase(c);
      const before = info.codec.fromPartial(fixtures[c]());
      const after = info.codec.fromPartial(fixtures[c]());
      applyDefaults(info, after, DEFAULTING);
      expect(info.codec.toJSON(after)).toEqual(info.codec.toJSON(before));
    }
  });

  test('defaults - defaulting is idempotent for every kind', () => {
    for (const c of Object.keys(fixtures) as ObjectCase[]) {
      const info = resourceForCase(c);
      const once = defaulted(c);
      const twice = info.codec.fromJSON(info.codec.toJSON(once as never));
      applyDefaults(info, twice, DEFAULTING);
      expect([c, info.codec.toJSON(twice as never)]).toEqual([c, info.codec.toJSON(once as never)]);
    }
  });
});
