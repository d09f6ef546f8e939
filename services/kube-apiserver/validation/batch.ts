/**
 * batch/v1 validation: Job and CronJob, a port of Kubernetes' pkg/apis/batch/validation for
 * the fields kubemu carries (no podFailurePolicy, successPolicy or managedBy).
 *
 * Pure functions returning field errors; they never throw.
 */
import { field, FieldError } from '../../lib/errors';
import { CronJob, Job, JobSpec } from '../../lib/generated/kubemu/batch/v1/batch';
import { goLabelSelector, goStringMap, immutable, immutablePointer, nonNegative, semanticEqual, validateLabelSelector, validateObjectMeta, validateObjectMetaUpdate } from './common';
import { isDNS1123Label, nameIsDNSSubdomain } from './formats';
import { selectorMatches } from './apps';
import { cronScheduleError, timeZoneError } from './cron';
import { validatePodTemplateSpec } from './pod';

/** The labels a Job's generated selector uses (legacy and prefixed forms). */
export const JOB_LABELS = {
  legacyControllerUid: 'controller-uid',
  controllerUid: 'batch.kubernetes.io/controller-uid',
  legacyJobName: 'job-name',
  jobName: 'batch.kubernetes.io/job-name',
} as const;

const MAX_PARALLELISM_FOR_INDEXED_JOB = 100000;
const MAX_FAILED_INDEXES = 100000;
const POD_REPLACEMENT_POLICIES = ['Failed', 'TerminatingOrFailed'];

// validateJobSpec: everything but the selector (shared with CronJob job templates).
function validateJobSpecBody(spec: JobSpec, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const f of ['parallelism', 'completions', 'activeDeadlineSeconds', 'backoffLimit', 'ttlSecondsAfterFinished', 'backoffLimitPerIndex'] as const) {
    errs.push(...nonNegative(spec[f], `${path}.${f}`));
  }
  if (spec.maxFailedIndexes !== undefined) {
    errs.push(...nonNegative(spec.maxFailedIndexes, `${path}.maxFailedIndexes`));
    if (spec.backoffLimitPerIndex === undefined) errs.push(field.required(`${path}.backoffLimitPerIndex`, 'when maxFailedIndexes is specified'));
  }
  const mode = spec.completionMode;
  if (mode !== undefined) {
    if (mode !== 'NonIndexed' && mode !== 'Indexed') errs.push(field.notSupported(`${path}.completionMode`, mode, ['NonIndexed', 'Indexed']));
    if (mode === 'Indexed') {
      if (spec.completions === undefined) errs.push(field.required(`${path}.completions`, 'when completion mode is Indexed'));
      if (spec.parallelism !== undefined && spec.parallelism > MAX_PARALLELISM_FOR_INDEXED_JOB) {
        errs.push(field.invalid(`${path}.parallelism`, spec.parallelism, `must be less than or equal to ${MAX_PARALLELISM_FOR_INDEXED_JOB} when completion mode is Indexed`));
      }
      if (spec.completions !== undefined && spec.maxFailedIndexes !== undefined && spec.maxFailedIndexes > spec.completions) {
        errs.push(field.invalid(`${path}.maxFailedIndexes`, spec.maxFailedIndexes, 'must be less than or equal to completions'));
      }
      if (spec.maxFailedIndexes !== undefined && spec.maxFailedIndexes > MAX_FAILED_INDEXES) {
        errs.push(field.invalid(`${path}.maxFailedIndexes`, spec.maxFailedIndexes, `must be less than or equal to ${MAX_FAILED_INDEXES}`));
      }
    }
  }
  if (mode === undefined || mode === 'NonIndexed') {
    if (spec.backoffLimitPerIndex !== undefined) errs.push(field.invalid(`${path}.backoffLimitPerIndex`, spec.backoffLimitPerIndex, 'requires indexed completion mode'));
    if (spec.maxFailedIndexes !== undefined) errs.push(field.invalid(`${path}.maxFailedIndexes`, spec.maxFailedIndexes, 'requires indexed completion mode'));
  }
  if (spec.podReplacementPolicy !== undefined && !POD_REPLACEMENT_POLICIES.includes(spec.podReplacementPolicy)) {
    errs.push(field.notSupported(`${path}.podReplacementPolicy`, spec.podReplacementPolicy, POD_REPLACEMENT_POLICIES));
  }
  errs.push(...validatePodTemplateSpec(spec.template, `${path}.template`));
  const restart = spec.template?.spec?.restartPolicy ?? '';
  if (restart === 'Always' || restart === '') {
    errs.push(field.required(`${path}.template.spec.restartPolicy`, 'valid values: "OnFailure", "Never"'));
  } else if (restart !== 'OnFailure' && restart !== 'Never') {
    errs.push(field.notSupported(`${path}.template.spec.restartPolicy`, restart, ['OnFailure', 'Never']));
  }
  return errs;
}

// ValidateJobSpec: the body plus a required, valid selector that matches the template.
function validateJobSpec(spec: JobSpec, path: string): FieldError[] {
  const errs = validateJobSpecBody(spec, path);
  if (!spec.selector) errs.push(field.required(`${path}.selector`, ''));
  else errs.push(...validateLabelSelector(spec.selector, `${path}.selector`));
  const labels = spec.template?.metadata?.labels;
  if (selectorMatches(spec.selector, labels) === false) {
    errs.push(field.invalid(`${path}.template.metadata.labels`, goStringMap(labels), '`selector` does not match template `labels`'));
  }
  return errs;
}

// validateGeneratedSelector: unless the selector is manual, the template carries the
// generated labels and the selector selects them.
function validateGeneratedSelector(job: Job, requirePrefixedLabels: boolean): FieldError[] {
  const spec = job.spec ?? {};
  if (spec.manualSelector === true || !spec.selector) return [];
  const errs: FieldError[] = [];
  const uid = job.metadata?.uid ?? '';
  const name = job.metadata?.name ?? '';
  if (!uid) errs.push(field.required('metadata.uid', ''));
  const labels = spec.template?.metadata?.labels ?? {};
  const hasLabel = (k: string, want: string) => {
    const p = `spec.template.metadata.labels[${k}]`;
    if (!(k in labels)) errs.push(field.required(p, `must be '${want}'`));
    else if (labels[k] !== want) errs.push(field.invalid(p, goStringMap(labels), `must be '${want}'`));
  };
  hasLabel(JOB_LABELS.legacyControllerUid, uid);
  hasLabel(JOB_LABELS.legacyJobName, name);
  const expected: { [k: string]: string } = { [JOB_LABELS.legacyControllerUid]: uid, [JOB_LABELS.legacyJobName]: name };
  if (requirePrefixedLabels) {
    hasLabel(JOB_LABELS.controllerUid, uid);
    hasLabel(JOB_LABELS.jobName, name);
    expected[JOB_LABELS.controllerUid] = uid;
    expected[JOB_LABELS.jobName] = name;
  }
  if (selectorMatches(spec.selector, expected) === false) errs.push(field.invalid('spec.selector', goLabelSelector(spec.selector), '`selector` not auto-generated'));
  return errs;
}

/** ValidateJob. */
export function validateJob(job: Job): FieldError[] {
  const errs = validateObjectMeta(job.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
  errs.push(...validateGeneratedSelector(job, true));
  const spec = job.spec ?? {};
  errs.push(...validateJobSpec(spec, 'spec'));
  if (spec.completionMode === 'Indexed' && (spec.completions ?? 0) > 0) {
    // Indexed pods are named <job>-<index>; the largest index must still give a DNS label.
    const name = job.metadata?.name ?? '';
    const hostname = `${name}-${spec.completions! - 1}`;
    if (isDNS1123Label(hostname).length) errs.push(field.invalid('metadata.name', name, `will not able to create pod with invalid DNS label: ${hostname}`));
  }
  return errs;
}

/**
 * ValidateJobUpdate: selector, completion mode and backoffLimitPerIndex are immutable;
 * completions too, except for Indexed jobs changing it together with parallelism; the pod
 * template is immutable, except its scheduling directives (node affinity, node selector,
 * tolerations, labels, annotations) while the job is suspended and has never started.
 */
export function validateJobUpdate(job: Job, old: Job): FieldError[] {
  const spec = job.spec ?? {};
  const oldSpec = old.spec ?? {};
  const errs = [...validateObjectMetaUpdate(job.metadata, old.metadata), ...validateJobSpec(spec, 'spec')];
  if (spec.completionMode === 'Indexed') {
    if (!semanticEqual(spec.completions, oldSpec.completions) && spec.completions !== undefined && spec.completions !== spec.parallelism) {
      errs.push(field.invalid('spec.completions', spec.completions, 'can only be modified in tandem with spec.parallelism'));
    }
  } else {
    errs.push(...immutablePointer(spec.completions, oldSpec.completions, 'spec.completions'));
  }
  errs.push(...immutable(spec.selector, oldSpec.selector, 'spec.selector', goLabelSelector(spec.selector)));
  const mutableScheduling = oldSpec.suspend === true && !old.status?.startTime;
  let oldTemplate = oldSpec.template;
  if (mutableScheduling) {
    const t = spec.template ?? {};
    const o = oldSpec.template ?? {};
    const affinity = o.spec?.affinity || t.spec?.affinity ? { ...(o.spec?.affinity ?? {}), nodeAffinity: t.spec?.affinity?.nodeAffinity } : undefined;
    oldTemplate = {
      metadata: { ...(o.metadata ?? {}), labels: t.metadata?.labels, annotations: t.metadata?.annotations },
      spec: { ...(o.spec ?? {}), affinity, nodeSelector: t.spec?.nodeSelector, tolerations: t.spec?.tolerations },
    };
  }
  errs.push(...immutable(spec.template, oldTemplate, 'spec.template'));
  errs.push(...immutablePointer(spec.completionMode, oldSpec.completionMode, 'spec.completionMode'));
  errs.push(...immutablePointer(spec.backoffLimitPerIndex, oldSpec.backoffLimitPerIndex, 'spec.backoffLimitPerIndex'));
  return errs;
}

/** ValidateJobUpdateStatus (the counters and uncounted pods; the option-gated rules are left out). */
export function validateJobStatusUpdate(job: Job, old: Job): FieldError[] {
  const s = job.status ?? {};
  const errs = validateObjectMetaUpdate(job.metadata, old.metadata);
  for (const f of ['active', 'succeeded', 'failed', 'ready', 'terminating'] as const) errs.push(...nonNegative(s[f], `status.${f}`));
  const seen = new Set<string>();
  for (const list of ['succeeded', 'failed'] as const) {
    (s.uncountedTerminatedPods?.[list] ?? []).forEach((uid, i) => {
      const p = `status.uncountedTerminatedPods.${list}[${i}]`;
      if (!uid) errs.push(field.invalid(p, uid, 'must not be empty'));
      else if (seen.has(uid)) errs.push(field.duplicate(p, uid));
      else seen.add(uid);
    });
  }
  if (s.ready !== undefined && s.ready > (s.active ?? 0)) errs.push(field.invalid('status.ready', s.ready, 'cannot set more ready pods than active'));
  return errs;
}

// ---------------------------------------------------------------- CronJob

const CONCURRENCY_POLICIES = ['Allow', 'Forbid', 'Replace'];
const TIME_ZONE_PART = /^[A-Za-z.\-_0-9+]{1,14}$/;

function validateTimeZone(tz: string | undefined, path: string): FieldError[] {
  if (tz === undefined) return [];
  if (tz === '') return [field.invalid(path, tz, 'timeZone must be nil or non-empty string')];
  for (const part of tz.split('/')) {
    if (part === '.' || part === '..' || part.startsWith('-') || !TIME_ZONE_PART.test(part)) return [field.invalid(path, tz, `unknown time zone ${tz}`)];
  }
  const errs: FieldError[] = [];
  if (tz.toLowerCase() === 'local') errs.push(field.invalid(path, tz, 'timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones'));
  const why = timeZoneError(tz);
  if (why) errs.push(field.invalid(path, tz, why));
  return errs;
}

function validateCronJobSpec(cj: CronJob, old: CronJob | undefined): FieldError[] {
  const spec = cj.spec ?? {};
  const errs: FieldError[] = [];
  const schedule = spec.schedule ?? '';
  if (!schedule) errs.push(field.required('spec.schedule', ''));
  else {
    const why = cronScheduleError(schedule);
    if (why) errs.push(field.invalid('spec.schedule', schedule, why));
    // A schedule stored with TZ before the timeZone field existed may keep it.
    const allowTZ = (old?.spec?.schedule ?? '').includes('TZ');
    if (allowTZ && schedule.includes('TZ') && spec.timeZone !== undefined) {
      errs.push(field.invalid('spec.schedule', schedule, 'cannot use both timeZone field and TZ or CRON_TZ in schedule'));
    } else if (!allowTZ && schedule.includes('TZ')) {
      errs.push(field.invalid('spec.schedule', schedule, 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead'));
    }
  }
  errs.push(...nonNegative(spec.startingDeadlineSeconds, 'spec.startingDeadlineSeconds'));
  if (!old || old.spec?.timeZone !== spec.timeZone) errs.push(...validateTimeZone(spec.timeZone, 'spec.timeZone'));
  const cp = spec.concurrencyPolicy ?? '';
  if (!cp) errs.push(field.required('spec.concurrencyPolicy', ''));
  else if (!CONCURRENCY_POLICIES.includes(cp)) errs.push(field.notSupported('spec.concurrencyPolicy', cp, CONCURRENCY_POLICIES));
  const jobSpec = spec.jobTemplate?.spec ?? {};
  errs.push(...validateJobSpecBody(jobSpec, 'spec.jobTemplate.spec'));
  if (jobSpec.selector) errs.push(field.invalid('spec.jobTemplate.spec.selector', goLabelSelector(jobSpec.selector), '`selector` will be auto-generated'));
  if (jobSpec.manualSelector === true) errs.push(field.notSupported('spec.jobTemplate.spec.manualSelector', true, ['nil', 'false']));
  errs.push(...nonNegative(spec.successfulJobsHistoryLimit, 'spec.successfulJobsHistoryLimit'));
  errs.push(...nonNegative(spec.failedJobsHistoryLimit, 'spec.failedJobsHistoryLimit'));
  return errs;
}

/**
 * ValidateCronJobCreate: also limits the name to 52 characters, since the controller appends
 * an 11-character suffix to name its Jobs.
 */
export function validateCronJob(cj: CronJob): FieldError[] {
  const errs = [...validateObjectMeta(cj.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain }), ...validateCronJobSpec(cj, undefined)];
  const name = cj.metadata?.name ?? '';
  if (name.length > 52) errs.push(field.invalid('metadata.name', name, 'must be no more than 52 characters'));
  return errs;
}

/** ValidateCronJobUpdate (no name length limit, so that old long-named CronJobs stay updatable). */
export function validateCronJobUpdate(cj: CronJob, old: CronJob): FieldError[] {
  return [...validateObjectMetaUpdate(cj.metadata, old.metadata), ...validateCronJobSpec(cj, old)];
}

/** CronJob status updates: metadata rules. */
export function validateCronJobStatusUpdate(cj: CronJob, old: CronJob): FieldError[] {
  return validateObjectMetaUpdate(cj.metadata, old.metadata);
}

