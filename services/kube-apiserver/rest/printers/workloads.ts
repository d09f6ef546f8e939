// Printers of the workload kinds (apps/v1 and batch/v1), as Kubernetes'
// pkg/printers/internalversion prints them (v1.32).

import { DaemonSet, Deployment, ReplicaSet, StatefulSet } from '../../../lib/generated/kubemu/apps/v1/apps';
import { CronJob, Job, JobCondition } from '../../../lib/generated/kubemu/batch/v1/batch';
import {
  AGE_COLUMN,
  age,
  column,
  CONTAINERS_COLUMN,
  formatLabels,
  formatLabelSelector,
  humanDuration,
  IMAGES_COLUMN,
  int,
  labelSelectorString,
  layoutContainerCells,
  NAME_COLUMN,
  parseTime,
  Printer,
  str,
  translateTimestampSince,
} from './common';

const SELECTOR_DESCRIPTION = 'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template\'s labels.';

export const deploymentPrinter: Printer<Deployment> = {
  columns: [
    NAME_COLUMN,
    column('Ready', 'string', 'Number of the pod with ready state'),
    column('Up-to-date', 'string', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'),
    column('Available', 'string', 'Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column('Selector', 'string', SELECTOR_DESCRIPTION, { priority: 1 }),
  ],
  row(d, now) {
    const status = d.status ?? {};
    const [names, images] = layoutContainerCells(d.spec?.template?.spec?.containers);
    // printDeployment prints selector.String() as is (no "<none>"), "<invalid>" when it does not parse.
    const selector = labelSelectorString(d.spec?.selector) ?? '<invalid>';
    return {
      cells: [
        d.metadata?.name ?? '',
        `${int(status.readyReplicas)}/${int(d.spec?.replicas)}`,
        int(status.updatedReplicas),
        int(status.availableReplicas),
        age(d.metadata, now),
        names,
        images,
        selector,
      ],
    };
  },
};

export const replicaSetPrinter: Printer<ReplicaSet> = {
  columns: [
    NAME_COLUMN,
    column('Desired', 'integer', 'Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1.'),
    column('Current', 'integer', 'Replicas is the most recently observed number of non-terminating pods.'),
    column('Ready', 'integer', 'The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column('Selector', 'string', "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels.", { priority: 1 }),
  ],
  row(rs, now) {
    const [names, images] = layoutContainerCells(rs.spec?.template?.spec?.containers);
    return {
      cells: [
        rs.metadata?.name ?? '',
        int(rs.spec?.replicas),
        int(rs.status?.replicas),
        int(rs.status?.readyReplicas),
        age(rs.metadata, now),
        names,
        images,
        formatLabelSelector(rs.spec?.selector),
      ],
    };
  },
};

export const statefulSetPrinter: Printer<StatefulSet> = {
  columns: [NAME_COLUMN, column('Ready', 'string', 'Number of the pod with ready state'), AGE_COLUMN, CONTAINERS_COLUMN, IMAGES_COLUMN],
  row(ss, now) {
    const [names, images] = layoutContainerCells(ss.spec?.template?.spec?.containers);
    return {
      cells: [ss.metadata?.name ?? '', `${int(ss.status?.readyReplicas)}/${int(ss.spec?.replicas)}`, age(ss.metadata, now), names, images],
    };
  },
};

export const daemonSetPrinter: Printer<DaemonSet> = {
  columns: [
    NAME_COLUMN,
    column('Desired', 'integer', 'The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).'),
    column('Current', 'integer', 'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.'),
    column('Ready', 'integer', 'numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.'),
    column('Up-to-date', 'integer', 'The total number of nodes that are running updated daemon pod'),
    column('Available', 'integer', 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)'),
    column('Node Selector', 'string', "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node."),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column('Selector', 'string', "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels.", { priority: 1 }),
  ],
  row(ds, now) {
    const status = ds.status ?? {};
    const [names, images] = layoutContainerCells(ds.spec?.template?.spec?.containers);
    return {
      cells: [
        ds.metadata?.name ?? '',
        int(status.desiredNumberScheduled),
        int(status.currentNumberScheduled),
        int(status.numberReady),
        int(status.updatedNumberScheduled),
        int(status.numberAvailable),
        formatLabels(ds.spec?.template?.spec?.nodeSelector),
        age(ds.metadata, now),
        names,
        images,
        formatLabelSelector(ds.spec?.selector),
      ],
    };
  },
};

// hasJobCondition: the first condition of that type decides.
function hasJobCondition(conditions: JobCondition[] | undefined, type: string): boolean {
  const c = (conditions ?? []).find((x) => x.type === type);
  return c?.status === 'True';
}

/** The Job's STATUS cell, in printJob's order of precedence. */
export function jobStatus(job: Job): string {
  const conditions = job.status?.conditions;
  if (hasJobCondition(conditions, 'Complete')) return 'Complete';
  if (hasJobCondition(conditions, 'Failed')) return 'Failed';
  if (parseTime(job.metadata?.deletionTimestamp) !== undefined) return 'Terminating';
  if (hasJobCondition(conditions, 'Suspended')) return 'Suspended';
  if (hasJobCondition(conditions, 'FailureTarget')) return 'FailureTarget';
  // v1.32 has no case for SuccessCriteriaMet: such a Job shows Running until Complete is set.
  return 'Running';
}

const JOB_SELECTOR_DESCRIPTION = 'A label query over pods that should match the pod count. Normally, the system sets this field for you.';

export const jobPrinter: Printer<Job> = {
  columns: [
    NAME_COLUMN,
    column('Status', 'string', 'Status of the job.'),
    column('Completions', 'string', 'The number of pods which reached phase Succeeded.'),
    column('Duration', 'string', 'Time required to complete the job.'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column('Selector', 'string', JOB_SELECTOR_DESCRIPTION, { priority: 1 }),
  ],
  row(job, now) {
    const spec = job.spec ?? {};
    const succeeded = int(job.status?.succeeded);
    let completions: string;
    if (spec.completions !== undefined && spec.completions !== null) {
      completions = `${succeeded}/${spec.completions}`;
    } else {
      const parallelism = int(spec.parallelism);
      completions = parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
    }
    const start = parseTime(job.status?.startTime);
    const completion = parseTime(job.status?.completionTime);
    let duration = '';
    if (start !== undefined) duration = humanDuration((completion ?? now.getTime()) - start);
    const [names, images] = layoutContainerCells(spec.template?.spec?.containers);
    return {
      cells: [job.metadata?.name ?? '', jobStatus(job), completions, duration, age(job.metadata, now), names, images, formatLabelSelector(spec.selector)],
    };
  },
};

export const cronJobPrinter: Printer<CronJob> = {
  columns: [
    NAME_COLUMN,
    column('Schedule', 'string', 'The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.'),
    column('Timezone', 'string', 'The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.'),
    column('Suspend', 'boolean', 'This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.'),
    column('Active', 'integer', 'A list of pointers to currently running jobs.'),
    column('Last Schedule', 'string', 'Information when was the last time the job was successfully scheduled.'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column('Selector', 'string', JOB_SELECTOR_DESCRIPTION, { priority: 1 }),
  ],
  row(cj, now) {
    const spec = cj.spec ?? {};
    const lastSchedule = cj.status?.lastScheduleTime ? translateTimestampSince(cj.status.lastScheduleTime, now) : '<none>';
    // spec.timeZone is a pointer in Kubernetes; the empty string is how kubemu's codec spells "unset".
    const timeZone = spec.timeZone || '<none>';
    const suspend = spec.suspend === undefined || spec.suspend === null ? '<unset>' : spec.suspend ? 'True' : 'False';
    const jobSpec = spec.jobTemplate?.spec;
    const [names, images] = layoutContainerCells(jobSpec?.template?.spec?.containers);
    return {
      cells: [
        cj.metadata?.name ?? '',
        str(spec.schedule),
        timeZone,
        suspend,
        (cj.status?.active ?? []).length,
        lastSchedule,
        age(cj.metadata, now),
        names,
        images,
        formatLabelSelector(jobSpec?.selector),
      ],
    };
  },
};
