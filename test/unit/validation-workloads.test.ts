import { cronScheduleError } from '../../services/kube-apiserver/validation/cron';
import { createErrors, createMessages, statusUpdateMessages, updateMessages } from './fixtures';

const MISMATCH = '`selector` does not match template `labels`';

// [field, Go text of the bad value, detail] of each error, for errors whose value is a map or struct.
function described(errs: ReturnType<typeof createErrors>): Array<[string, string, string | undefined]> {
  return errs.map((e) => [e.field, String(e.badValue), e.detail]);
}

describe('replicaset and deployment', () => {
  test('workloads - a selector is required and not empty', () => {
    expect(createMessages('deployment', (o) => (o.spec!.selector = undefined))).toContain('spec.selector: Required value');
    expect(described(createErrors('deployment', (o) => (o.spec!.selector = {})))).toEqual([
      ['spec.selector', 'v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}', 'empty selector is invalid for deployment'],
    ]);
    // Kubernetes reuses the Deployment wording for ReplicaSets.
    expect(described(createErrors('replicaSet', (o) => (o.spec!.selector = {})))[0][2]).toBe('empty selector is invalid for deployment');
  });

  test('workloads - the selector matches the template labels', () => {
    expect(described(createErrors('deployment', (o) => (o.spec!.template!.metadata!.labels = { app: 'x' })))).toEqual([
      ['spec.template.metadata.labels', 'map[string]string{"app":"x"}', MISMATCH],
    ]);
    expect(described(createErrors('replicaSet', (o) => (o.spec!.selector = { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] })))).toEqual([
      ['spec.template.metadata.labels', 'map[string]string{"app":"web"}', MISMATCH],
    ]);
  });

  test('workloads - selector expressions are valid', () => {
    // The selector cannot be converted either, which Kubernetes reports too.
    expect(described(createErrors('deployment', (o) => (o.spec!.selector!.matchExpressions = [{ key: 'tier', operator: 'In', values: [] }])))).toEqual([
      ['spec.selector.matchExpressions[0].values', 'undefined', "must be specified when `operator` is 'In' or 'NotIn'"],
      [
        'spec.selector',
        'v1.LabelSelector{MatchLabels:map[string]string{"app":"web"}, MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"tier", Operator:"In", Values:[]string(nil)}}}',
        'invalid label selector',
      ],
    ]);
  });

  test('workloads - replicas and minReadySeconds are not negative', () => {
    expect(createMessages('replicaSet', (o) => (o.spec!.replicas = -1))).toEqual(['spec.replicas: Invalid value: -1: must be greater than or equal to 0']);
    expect(createMessages('deployment', (o) => (o.spec!.minReadySeconds = -5))).toEqual(['spec.minReadySeconds: Invalid value: -5: must be greater than or equal to 0']);
  });

  test('workloads - the template restarts Always and has no active deadline', () => {
    expect(createMessages('deployment', (o) => (o.spec!.template!.spec!.restartPolicy = 'OnFailure'))).toEqual([
      'spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"',
    ]);
    expect(createMessages('replicaSet', (o) => (o.spec!.template!.spec!.activeDeadlineSeconds = 60))).toEqual([
      'spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported',
    ]);
  });

  test('workloads - the pod template is validated like a pod (labels at spec.template.labels)', () => {
    expect(createMessages('deployment', (o) => (o.spec!.template!.spec!.containers![0].image = ''))).toEqual(['spec.template.spec.containers[0].image: Required value']);
    expect(createMessages('deployment', (o) => (o.spec!.template!.metadata!.labels = { app: 'web', 'bad key': 'x' }))).toEqual([
      "spec.template.labels: Invalid value: \"bad key\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    ]);
  });

  test('deployment - maxSurge and maxUnavailable are numbers or percentages, not both zero', () => {
    const ru = (maxUnavailable: unknown, maxSurge: unknown) => (o: { spec?: { strategy?: object } }) =>
      (o.spec!.strategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable, maxSurge } });
    expect(createMessages('deployment', ru(0, '10%'))).toEqual([]);
    expect(described(createErrors('deployment', ru(0, 0)))).toEqual([
      ['spec.strategy.rollingUpdate.maxUnavailable', 'intstr.IntOrString{Type:0, IntVal:0, StrVal:""}', 'may not be 0 when `maxSurge` is 0'],
    ]);
    expect(described(createErrors('deployment', ru('0%', '0%')))[0][2]).toBe('may not be 0 when `maxSurge` is 0');
    expect(described(createErrors('deployment', ru('half', 1)))).toEqual([
      [
        'spec.strategy.rollingUpdate.maxUnavailable',
        'intstr.IntOrString{Type:1, IntVal:0, StrVal:"half"}',
        "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
      ],
    ]);
    expect(described(createErrors('deployment', ru('150%', 1)))[0][2]).toBe('must not be greater than 100%');
    expect(createMessages('deployment', ru(-1, 1))).toEqual(['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: -1: must be greater than or equal to 0']);
  });

  test('deployment - strategy type is supported; Recreate takes no rollingUpdate', () => {
    expect(described(createErrors('deployment', (o) => (o.spec!.strategy = { type: 'BlueGreen' })))).toEqual([
      ['spec.strategy', 'apps.DeploymentStrategy{Type:"BlueGreen", RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}', undefined],
    ]);
    expect(createMessages('deployment', (o) => (o.spec!.strategy = { type: 'Recreate' }))).toEqual([]);
    expect(createMessages('deployment', (o) => (o.spec!.strategy = { type: 'Recreate', rollingUpdate: { maxSurge: 1 } }))).toEqual([
      "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
    ]);
  });

  test('deployment - revisionHistoryLimit >= 0, progressDeadlineSeconds > minReadySeconds', () => {
    expect(createMessages('deployment', (o) => (o.spec!.revisionHistoryLimit = -1))).toEqual(['spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0']);
    expect(createMessages('deployment', (o) => Object.assign(o.spec!, { minReadySeconds: 30, progressDeadlineSeconds: 30 }))).toEqual([
      'spec.progressDeadlineSeconds: Invalid value: 30: must be greater than minReadySeconds',
    ]);
  });

  test('workloads update - the selector is immutable (apps/v1)', () => {
    for (const kind of ['deployment', 'replicaSet'] as const) {
      const msgs = updateMessages(kind, (o) => {
        o.spec!.selector = { matchLabels: { app: 'web', tier: 'front' } };
        o.spec!.template!.metadata!.labels = { app: 'web', tier: 'front' };
      });
      expect(msgs).toHaveLength(1);
      expect(msgs[0]).toMatch(/^spec\.selector: Invalid value: .*: field is immutable$/);
    }
    expect(updateMessages('deployment', (o) => (o.spec!.replicas = 5))).toEqual([]);
    expect(updateMessages('deployment', (o) => (o.spec!.template!.spec!.containers![0].image = 'nginx:1.28'))).toEqual([]);
  });

  test('workloads status - counts are non-negative and within replicas', () => {
    expect(statusUpdateMessages('deployment', (o) => (o.status = { replicas: 1, readyReplicas: 2, availableReplicas: 1 }))).toEqual([
      'status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas',
    ]);
    expect(statusUpdateMessages('replicaSet', (o) => (o.status = { replicas: 1, readyReplicas: -1 }))).toEqual([
      'status.readyReplicas: Invalid value: -1: must be greater than or equal to 0',
      'status.availableReplicas: Invalid value: 0: cannot be greater than readyReplicas',
    ]);
  });
});

describe('statefulset', () => {
  test('statefulset - podManagementPolicy and updateStrategy are known', () => {
    expect(createMessages('statefulSet', (o) => (o.spec!.podManagementPolicy = 'Random'))).toEqual([
      "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
    ]);
    expect(createMessages('statefulSet', (o) => (o.spec!.updateStrategy = { type: 'OnDelete', rollingUpdate: { partition: 1 } }))).toHaveLength(1);
    expect(createMessages('statefulSet', (o) => (o.spec!.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition: -1 } }))).toEqual([
      'spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0',
    ]);
  });

  test('statefulset - the selector matches the template; restartPolicy Always', () => {
    expect(described(createErrors('statefulSet', (o) => (o.spec!.template!.metadata!.labels = { app: 'cache' })))).toEqual([
      ['spec.template.metadata.labels', 'map[string]string{"app":"cache"}', MISMATCH],
    ]);
    expect(described(createErrors('statefulSet', (o) => (o.spec!.selector = {})))[0][2]).toBe('empty selector is invalid for statefulset');
    expect(createMessages('statefulSet', (o) => (o.spec!.template!.spec!.restartPolicy = 'Never'))).toEqual([
      'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
    ]);
  });

  test('statefulset update - only some spec fields may change', () => {
    expect(updateMessages('statefulSet', (o) => Object.assign(o.spec!, { replicas: 5, minReadySeconds: 10, revisionHistoryLimit: 3 }))).toEqual([]);
    expect(updateMessages('statefulSet', (o) => (o.spec!.serviceName = 'db-headless'))).toEqual([
      "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
    ]);
    expect(updateMessages('statefulSet', (o) => (o.spec!.volumeClaimTemplates![0].spec!.resources!.requests!.storage = '2Gi'))).toHaveLength(1);
  });
});

describe('daemonset', () => {
  test('daemonset - rolling update: one of maxSurge and maxUnavailable is non-zero', () => {
    const ru = (maxUnavailable: unknown, maxSurge: unknown) => (o: { spec?: { updateStrategy?: object } }) =>
      (o.spec!.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable, maxSurge } });
    expect(createMessages('daemonSet', ru(0, 1))).toEqual([]);
    expect(createMessages('daemonSet', ru(0, 0))).toEqual(['spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0']);
    expect(described(createErrors('daemonSet', ru(1, 1)))).toEqual([
      ['spec.updateStrategy.rollingUpdate.maxSurge', 'intstr.IntOrString{Type:0, IntVal:1, StrVal:""}', 'may not be set when maxUnavailable is non-zero'],
    ]);
  });

  test('daemonset - a missing selector never matches the template', () => {
    expect(described(createErrors('daemonSet', (o) => (o.spec!.selector = undefined)))).toEqual([
      ['spec.template.metadata.labels', 'map[string]string{"app":"node-exporter"}', MISMATCH],
    ]);
  });

  test('daemonset - the template is validated like a pod template', () => {
    expect(createMessages('daemonSet', (o) => (o.spec!.template!.spec!.containers![0].ports![0].hostPort = 9200))).toEqual([
      'spec.template.spec.containers[0].ports[0].hostPort: Invalid value: 9200: must match `containerPort` when `hostNetwork` is true',
    ]);
  });
});

describe('job', () => {
  test('job - the generated selector and labels validate', () => {
    expect(createMessages('job')).toEqual([]);
  });

  test('job - parallelism, completions and backoffLimit are not negative', () => {
    expect(createMessages('job', (o) => (o.spec!.parallelism = -1))).toEqual(['spec.parallelism: Invalid value: -1: must be greater than or equal to 0']);
    expect(createMessages('job', (o) => (o.spec!.completions = -1))).toEqual(['spec.completions: Invalid value: -1: must be greater than or equal to 0']);
    expect(createMessages('job', (o) => (o.spec!.backoffLimit = -1))).toEqual(['spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0']);
  });

  test('job - the template restarts OnFailure or Never', () => {
    expect(createMessages('job', (o) => (o.spec!.template!.spec!.restartPolicy = undefined))).toEqual([
      'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"',
    ]);
  });

  test('job - completionMode is NonIndexed or Indexed; Indexed needs completions', () => {
    expect(createMessages('job', (o) => (o.spec!.completionMode = 'Ordered'))).toEqual([
      'spec.completionMode: Unsupported value: "Ordered": supported values: "NonIndexed", "Indexed"',
    ]);
    expect(createMessages('job', (o) => Object.assign(o.spec!, { completionMode: 'Indexed', parallelism: 2 }))).toEqual(['spec.completions: Required value: when completion mode is Indexed']);
  });

  test('job - a manual selector must match the template', () => {
    expect(
      described(
        createErrors('job', (o) => {
          o.spec!.manualSelector = true;
          o.spec!.selector = { matchLabels: { run: 'pi' } };
        }),
      ),
    ).toEqual([['spec.template.metadata.labels', 'map[string]string(nil)', MISMATCH]]);
  });

  test('job - a foreign controller-uid in the selector is not the generated one', () => {
    const errs = createErrors('job', (o) => (o.spec!.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': 'someone-else' } }));
    expect(errs.map((e) => [e.field, e.detail])).toEqual([
      ['spec.selector', '`selector` not auto-generated'],
      ['spec.template.metadata.labels', MISMATCH],
    ]);
  });

  test('job update - selector, completions and template are immutable', () => {
    expect(updateMessages('job', (o) => (o.spec!.completions = 3))).toEqual(['spec.completions: Invalid value: 3: field is immutable']);
    const msgs = updateMessages('job', (o) => (o.spec!.template!.spec!.containers![0].image = 'perl:5.36'));
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatch(/^spec\.template: Invalid value: .*: field is immutable$/);
    expect(updateMessages('job', (o) => (o.spec!.parallelism = 3))).toEqual([]);
    expect(updateMessages('job', (o) => (o.spec!.suspend = true))).toEqual([]);
  });

  test('job update - a suspended job that never started may change its scheduling directives', () => {
    expect(updateMessages('job', (o) => (o.spec!.template!.spec!.nodeSelector = { zone: 'a' }), (o) => (o.spec!.suspend = true))).toEqual([]);
    expect(updateMessages('job', (o) => (o.spec!.template!.spec!.nodeSelector = { zone: 'a' }))).toHaveLength(1);
  });

  test('job status - counters are not negative', () => {
    expect(statusUpdateMessages('job', (o) => (o.status = { active: -1 }))).toEqual(['status.active: Invalid value: -1: must be greater than or equal to 0']);
  });
});

describe('cronjob', () => {
  test('cronjob - the schedule is required and parses', () => {
    expect(createMessages('cronJob', (o) => (o.spec!.schedule = ''))).toEqual(['spec.schedule: Required value']);
    expect(createMessages('cronJob', (o) => (o.spec!.schedule = '* * * *'))).toEqual(['spec.schedule: Invalid value: "* * * *": expected exactly 5 fields, found 4: [* * * *]']);
    expect(createMessages('cronJob', (o) => (o.spec!.schedule = '0 25 * * *'))).toEqual(['spec.schedule: Invalid value: "0 25 * * *": end of range (25) above maximum (23): 25']);
  });

  test('cronjob - TZ in the schedule is rejected in favour of timeZone', () => {
    expect(createMessages('cronJob', (o) => (o.spec!.schedule = 'TZ=UTC 0 * * * *'))).toEqual([
      'spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead',
    ]);
  });

  test('cronjob - timeZone is a known IANA zone', () => {
    expect(createMessages('cronJob', (o) => (o.spec!.timeZone = 'Mars/Olympus_Mons'))).toEqual(['spec.timeZone: Invalid value: "Mars/Olympus_Mons": unknown time zone Mars/Olympus_Mons']);
    expect(createMessages('cronJob', (o) => (o.spec!.timeZone = 'Local'))).toEqual([
      'spec.timeZone: Invalid value: "Local": timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones',
      'spec.timeZone: Invalid value: "Local": unknown time zone Local',
    ]);
    expect(createMessages('cronJob', (o) => (o.spec!.timeZone = 'Etc/UTC'))).toEqual([]);
  });

  test('cronjob - concurrencyPolicy, deadlines and history limits', () => {
    expect(createMessages('cronJob', (o) => (o.spec!.concurrencyPolicy = 'Queue'))).toEqual([
      'spec.concurrencyPolicy: Unsupported value: "Queue": supported values: "Allow", "Forbid", "Replace"',
    ]);
    expect(createMessages('cronJob', (o) => (o.spec!.startingDeadlineSeconds = -1))).toEqual(['spec.startingDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0']);
    expect(createMessages('cronJob', (o) => (o.spec!.failedJobsHistoryLimit = -1))).toEqual(['spec.failedJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0']);
  });

  test('cronjob - the job template is a job spec without a selector', () => {
    expect(createMessages('cronJob', (o) => (o.spec!.jobTemplate!.spec!.template!.spec!.restartPolicy = 'Always'))).toEqual([
      'spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"',
    ]);
    expect(createErrors('cronJob', (o) => (o.spec!.jobTemplate!.spec!.selector = { matchLabels: { a: 'b' } })).map((e) => [e.field, e.detail])).toEqual([
      ['spec.jobTemplate.spec.selector', '`selector` will be auto-generated'],
    ]);
  });

  test('cronjob - names are at most 52 characters', () => {
    expect(createMessages('cronJob', (o) => (o.metadata!.name = 'n'.repeat(53)))).toEqual([`metadata.name: Invalid value: "${'n'.repeat(53)}": must be no more than 52 characters`]);
  });

  test('cron - schedules parse as robfig/cron standard specs', () => {
    for (const ok of ['*/5 * * * *', '0 0 1 jan,jul *', '0 9-17 * * MON-FRI', '@hourly', '@every 1h30m', '0 0 * * 0', '15,45 * ? * *']) expect([ok, cronScheduleError(ok)]).toEqual([ok, undefined]);
    expect(cronScheduleError('')).toBe('empty spec string');
    expect(cronScheduleError('@fortnightly')).toBe('unrecognized descriptor: @fortnightly');
    expect(cronScheduleError('@every 10')).toBe('failed to parse duration @every 10: time: missing unit in duration "10"');
    expect(cronScheduleError('x * * * *')).toBe('failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax');
    expect(cronScheduleError('5-1 * * * *')).toBe('beginning of range (5) beyond end of range (1): 5-1');
    expect(cronScheduleError('0 0 0 * *')).toBe('beginning of range (0) below minimum (1): 0');
    expect(cronScheduleError('*/0 * * * *')).toBe('step of range should be a positive number: */0');
    expect(cronScheduleError('0 0 * * 7')).toBe('end of range (7) above maximum (6): 7');
    expect(cronScheduleError('1-2-3 * * * *')).toBe('too many hyphens: 1-2-3');
    expect(cronScheduleError('* * * * * *')).toBe('expected exactly 5 fields, found 6: [* * * * * *]');
  });
});
