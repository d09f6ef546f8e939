/**
 * apps/v1 validation: ReplicaSet, Deployment, StatefulSet, DaemonSet. A port of Kubernetes'
 * pkg/apis/apps/validation plus the selector immutability its registry strategies add for
 * apps/v1. Messages and paths are Kubernetes' own, quirks included (a ReplicaSet's empty
 * selector is "invalid for deployment", template labels are checked at
 * `spec.template.labels`...).
 *
 * Pure functions returning field errors; they never throw.
 */
import { field, FieldError } from '../../lib/errors';
import { DaemonSet, Deployment, ReplicaSet, StatefulSet } from '../../lib/generated/kubemu/apps/v1/apps';
import { PodTemplateSpec } from '../../lib/generated/kubemu/core/v1/core';
import { LabelSelector as MetaLabelSelector } from '../../lib/generated/kubemu/meta/v1/meta';
import { labelSelectorFromMeta, SelectorParseError } from '../../lib/labels';
import {
  child,
  goLabelSelector,
  goStringMap,
  GoValue,
  immutable,
  IntOrString,
  intOrString,
  invalidEach,
  nonNegative,
  selectorIsEmpty,
  semanticEqual,
  validateAnnotations,
  validateLabels,
  validateLabelSelector,
  validateObjectMeta,
  validateObjectMetaUpdate,
} from './common';
import { isValidPercent, nameIsDNSLabel, nameIsDNSSubdomain } from './formats';
import { validatePodTemplateSpec } from './pod';

// ---------------------------------------------------------------- shared pieces

/**
 * Whether `sel` (a metav1.LabelSelector) selects `labels`. `undefined` when the selector
 * itself cannot be converted (its own validation reports why).
 */
export function selectorMatches(sel: MetaLabelSelector | undefined, labels: { [k: string]: string } | undefined): boolean | undefined {
  try {
    return labelSelectorFromMeta(sel ?? null).matches(labels ?? {});
  } catch (err) {
    if (err instanceof SelectorParseError) return undefined;
    throw err;
  }
}

/**
 * The `selector does not match template labels` rule. An empty selector selects everything
 * and is not checked; an absent one selects nothing, so it never matches; one that cannot be
 * converted is reported at `spec.selector` with `invalidDetail`.
 */
export function validateSelectorMatchesTemplate(
  sel: MetaLabelSelector | undefined,
  template: PodTemplateSpec | undefined,
  path: string,
  invalidDetail = 'invalid label selector',
): FieldError[] {
  if (sel && selectorIsEmpty(sel)) return [];
  const labels = template?.metadata?.labels;
  const matches = selectorMatches(sel, labels);
  if (matches === undefined) return [field.invalid('spec.selector', goLabelSelector(sel), invalidDetail)];
  return matches ? [] : [field.invalid(path, goStringMap(labels), '`selector` does not match template `labels`')];
}

// ValidatePodTemplateSpecForReplicaSet: also used by Deployments (hence the message naming ReplicaSet).
function validateTemplateForReplicaSet(sel: MetaLabelSelector | undefined, template: PodTemplateSpec | undefined, path: string): FieldError[] {
  if (!template) return [field.required(path, '')];
  const errs = validateSelectorMatchesTemplate(sel, template, child(child(path, 'metadata'), 'labels'));
  errs.push(...validatePodTemplateSpec(template, path));
  errs.push(...validateTemplateRestartAlways(template, path, 'ReplicaSet'));
  return errs;
}

function validateTemplateRestartAlways(template: PodTemplateSpec | undefined, path: string, kind: string): FieldError[] {
  const errs: FieldError[] = [];
  const restart = template?.spec?.restartPolicy ?? '';
  if (restart !== 'Always') errs.push(field.notSupported(child(child(path, 'spec'), 'restartPolicy'), restart, ['Always']));
  if (template?.spec?.activeDeadlineSeconds !== undefined) {
    errs.push(field.forbidden(child(child(path, 'spec'), 'activeDeadlineSeconds'), `activeDeadlineSeconds in ${kind} is not Supported`));
  }
  return errs;
}

function validateSelector(sel: MetaLabelSelector | undefined, path: string, emptyMessage: string): FieldError[] {
  if (!sel) return [field.required(path, '')];
  const errs = validateLabelSelector(sel, path);
  if (selectorIsEmpty(sel)) errs.push(field.invalid(path, goLabelSelector(sel), emptyMessage));
  return errs;
}

/** An IntOrString as Go prints it with %#v (Kubernetes shows maxSurge/maxUnavailable errors this way). */
function goIntOrString(v: IntOrString): GoValue {
  if (v.kind === 'string') return new GoValue(`intstr.IntOrString{Type:1, IntVal:0, StrVal:${JSON.stringify(v.value)}}`, v.value);
  return new GoValue(`intstr.IntOrString{Type:0, IntVal:${v.kind === 'int' ? v.value : 0}, StrVal:""}`, v.kind === 'int' ? v.value : 0);
}

// ValidatePositiveIntOrPercent.
function validatePositiveIntOrPercent(v: IntOrString, path: string): FieldError[] {
  if (v.kind === 'string') return invalidEach(path, goIntOrString(v), isValidPercent(v.value));
  if (v.kind === 'int') return nonNegative(v.value, path);
  return [];
}

// getIntOrPercentValue: the number, or the percentage's number.
function intOrPercentValue(v: IntOrString): number {
  if (v.kind === 'invalid') return NaN;
  if (v.kind === 'int') return v.value;
  if (v.kind === 'string' && isValidPercent(v.value).length === 0) return Number(v.value.slice(0, -1));
  return 0;
}

function notMoreThan100Percent(v: IntOrString, path: string): FieldError[] {
  if (v.kind !== 'string' || isValidPercent(v.value).length > 0) return [];
  return Number(v.value.slice(0, -1)) > 100 ? [field.invalid(path, goIntOrString(v), 'must not be greater than 100%')] : [];
}

// ---------------------------------------------------------------- ReplicaSet

/** ValidateReplicaSet. */
export function validateReplicaSet(rs: ReplicaSet): FieldError[] {
  return [...validateObjectMeta(rs.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain }), ...validateReplicaSetSpec(rs)];
}

function validateReplicaSetSpec(rs: ReplicaSet): FieldError[] {
  const spec = rs.spec ?? {};
  const errs = [...nonNegative(spec.replicas, 'spec.replicas'), ...nonNegative(spec.minReadySeconds, 'spec.minReadySeconds')];
  errs.push(...validateSelector(spec.selector, 'spec.selector', 'empty selector is invalid for deployment'));
  errs.push(...validateTemplateForReplicaSet(spec.selector, spec.template, 'spec.template'));
  return errs;
}

/** ValidateReplicaSetUpdate, with apps/v1's immutable selector. */
export function validateReplicaSetUpdate(rs: ReplicaSet, old: ReplicaSet): FieldError[] {
  return [
    ...validateObjectMetaUpdate(rs.metadata, old.metadata),
    ...validateReplicaSetSpec(rs),
    ...immutable(rs.spec?.selector, old.spec?.selector, 'spec.selector', goLabelSelector(rs.spec?.selector)),
  ];
}

/** ValidateReplicaSetStatusUpdate. */
export function validateReplicaSetStatusUpdate(rs: ReplicaSet, old: ReplicaSet): FieldError[] {
  const s = rs.status ?? {};
  const errs = validateObjectMetaUpdate(rs.metadata, old.metadata);
  for (const f of ['replicas', 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration'] as const) errs.push(...nonNegative(s[f], `status.${f}`));
  errs.push(...replicaCountsWithin(s, ['fullyLabeledReplicas', 'readyReplicas', 'availableReplicas']));
  if ((s.availableReplicas ?? 0) > (s.readyReplicas ?? 0)) errs.push(field.invalid('status.availableReplicas', s.availableReplicas ?? 0, 'cannot be greater than readyReplicas'));
  return errs;
}

function replicaCountsWithin<T extends { replicas?: number }>(s: T, fields: Array<keyof T & string>): FieldError[] {
  const errs: FieldError[] = [];
  for (const f of fields) {
    const v = (s[f] as number | undefined) ?? 0;
    if (v > (s.replicas ?? 0)) errs.push(field.invalid(`status.${f}`, v, 'cannot be greater than status.replicas'));
  }
  return errs;
}

// ---------------------------------------------------------------- Deployment

/** ValidateDeployment. */
export function validateDeployment(d: Deployment): FieldError[] {
  return [...validateObjectMeta(d.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain }), ...validateDeploymentSpec(d)];
}

function validateDeploymentSpec(d: Deployment): FieldError[] {
  const spec = d.spec ?? {};
  const errs = nonNegative(spec.replicas, 'spec.replicas');
  errs.push(...validateSelector(spec.selector, 'spec.selector', 'empty selector is invalid for deployment'));
  errs.push(...validateTemplateForReplicaSet(spec.selector, spec.template, 'spec.template'));
  const strategy = spec.strategy ?? {};
  switch (strategy.type) {
    case 'Recreate':
      if (strategy.rollingUpdate) errs.push(field.forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'"));
      break;
    case 'RollingUpdate': {
      const ru = strategy.rollingUpdate;
      if (!ru) {
        errs.push(field.required('spec.strategy.rollingUpdate', 'this should be defaulted and never be nil'));
        break;
      }
      const p = 'spec.strategy.rollingUpdate';
      const maxUnavailable = intOrString(ru.maxUnavailable, `${p}.maxUnavailable`, errs);
      const maxSurge = intOrString(ru.maxSurge, `${p}.maxSurge`, errs);
      errs.push(...validatePositiveIntOrPercent(maxUnavailable, `${p}.maxUnavailable`));
      errs.push(...validatePositiveIntOrPercent(maxSurge, `${p}.maxSurge`));
      if (intOrPercentValue(maxUnavailable) === 0 && intOrPercentValue(maxSurge) === 0) {
        errs.push(field.invalid(`${p}.maxUnavailable`, goIntOrString(maxUnavailable), 'may not be 0 when `maxSurge` is 0'));
      }
      errs.push(...notMoreThan100Percent(maxUnavailable, `${p}.maxUnavailable`));
      break;
    }
    default: {
      const ru = strategy.rollingUpdate ? '&apps.RollingUpdateDeployment{...}' : '(*apps.RollingUpdateDeployment)(nil)';
      errs.push(field.notSupported('spec.strategy', new GoValue(`apps.DeploymentStrategy{Type:${JSON.stringify(strategy.type ?? '')}, RollingUpdate:${ru}}`, strategy), ['Recreate', 'RollingUpdate']));
    }
  }
  errs.push(...nonNegative(spec.minReadySeconds, 'spec.minReadySeconds'));
  errs.push(...nonNegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  if (spec.progressDeadlineSeconds !== undefined) {
    errs.push(...nonNegative(spec.progressDeadlineSeconds, 'spec.progressDeadlineSeconds'));
    if (spec.progressDeadlineSeconds <= (spec.minReadySeconds ?? 0)) {
      errs.push(field.invalid('spec.progressDeadlineSeconds', spec.progressDeadlineSeconds, 'must be greater than minReadySeconds'));
    }
  }
  return errs;
}

/** ValidateDeploymentUpdate, with apps/v1's immutable selector. */
export function validateDeploymentUpdate(d: Deployment, old: Deployment): FieldError[] {
  return [
    ...validateObjectMetaUpdate(d.metadata, old.metadata),
    ...validateDeploymentSpec(d),
    ...immutable(d.spec?.selector, old.spec?.selector, 'spec.selector', goLabelSelector(d.spec?.selector)),
  ];
}

/** ValidateDeploymentStatusUpdate. */
export function validateDeploymentStatusUpdate(d: Deployment, old: Deployment): FieldError[] {
  const s = d.status ?? {};
  const errs = validateObjectMetaUpdate(d.metadata, old.metadata);
  for (const f of ['observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas', 'collisionCount'] as const) {
    errs.push(...nonNegative(s[f], `status.${f}`));
  }
  errs.push(...replicaCountsWithin(s, ['updatedReplicas', 'readyReplicas', 'availableReplicas']));
  if ((s.availableReplicas ?? 0) > (s.readyReplicas ?? 0)) errs.push(field.invalid('status.availableReplicas', s.availableReplicas ?? 0, 'cannot be greater than readyReplicas'));
  errs.push(...collisionCountNotDecremented(s.collisionCount, old.status?.collisionCount));
  return errs;
}

function collisionCountNotDecremented(next: number | undefined, old: number | undefined): FieldError[] {
  const decremented = old !== undefined && (next === undefined || next < old);
  return decremented ? [field.invalid('status.collisionCount', next ?? 0, 'cannot be decremented')] : [];
}

// ---------------------------------------------------------------- StatefulSet

function validateStatefulSetSpec(sts: StatefulSet): FieldError[] {
  const spec = sts.spec ?? {};
  const errs: FieldError[] = [];
  switch (spec.podManagementPolicy ?? '') {
    case '':
      errs.push(field.required('spec.podManagementPolicy', ''));
      break;
    case 'OrderedReady':
    case 'Parallel':
      break;
    default:
      errs.push(field.invalid('spec.podManagementPolicy', spec.podManagementPolicy, "must be 'OrderedReady' or 'Parallel'"));
  }
  const us = spec.updateStrategy ?? {};
  switch (us.type ?? '') {
    case '':
      errs.push(field.required('spec.updateStrategy', ''));
      break;
    case 'OnDelete':
      if (us.rollingUpdate) errs.push(field.invalid('spec.updateStrategy.rollingUpdate', us.rollingUpdate, "only allowed for updateStrategy 'RollingUpdate'"));
      break;
    case 'RollingUpdate':
      if (us.rollingUpdate) {
        const p = 'spec.updateStrategy.rollingUpdate';
        errs.push(...nonNegative(us.rollingUpdate.partition, `${p}.partition`));
        const mu = intOrString(us.rollingUpdate.maxUnavailable, `${p}.maxUnavailable`, errs);
        if (mu.kind === 'int' || mu.kind === 'string') {
          errs.push(...validatePositiveIntOrPercent(mu, `${p}.maxUnavailable`));
          if (intOrPercentValue(mu) === 0) errs.push(field.invalid(`${p}.maxUnavailable`, goIntOrString(mu), 'cannot be 0'));
          errs.push(...notMoreThan100Percent(mu, `${p}.maxUnavailable`));
        }
      }
      break;
    default:
      errs.push(field.invalid('spec.updateStrategy', us, "must be 'RollingUpdate' or 'OnDelete'"));
  }
  const retention = spec.persistentVolumeClaimRetentionPolicy;
  if (retention) {
    for (const f of ['whenDeleted', 'whenScaled'] as const) {
      const v = retention[f] ?? '';
      if (v !== 'Retain' && v !== 'Delete') errs.push(field.notSupported(`spec.persistentVolumeClaimRetentionPolicy.${f}`, v, ['Retain', 'Delete']));
    }
  }
  errs.push(...nonNegative(spec.replicas, 'spec.replicas'));
  errs.push(...nonNegative(spec.minReadySeconds, 'spec.minReadySeconds'));
  if (spec.ordinals) errs.push(...nonNegative(spec.ordinals.start, 'spec.ordinals.start'));
  errs.push(...validateSelector(spec.selector, 'spec.selector', 'empty selector is invalid for statefulset'));
  // Kubernetes checks only the template's labels and annotations here (its pod spec is
  // validated when the pods are created, with the claim templates' volumes added).
  const template = spec.template;
  if (!template) errs.push(field.required('spec.template', ''));
  else {
    errs.push(...validateSelectorMatchesTemplate(spec.selector, template, 'spec.template.metadata.labels', ''));
    errs.push(...validateLabels(template.metadata?.labels, 'spec.template.labels'));
    errs.push(...validateAnnotations(template.metadata?.annotations, 'spec.template.annotations'));
  }
  errs.push(...validateTemplateRestartAlways(template, 'spec.template', 'StatefulSet'));
  return errs;
}

/** ValidateStatefulSet: the name is a DNS-1123 label (pods are named after it). */
export function validateStatefulSet(sts: StatefulSet): FieldError[] {
  return [...validateObjectMeta(sts.metadata, { namespaced: true, nameFn: nameIsDNSLabel }), ...validateStatefulSetSpec(sts)];
}

/**
 * ValidateStatefulSetUpdate: only replicas, ordinals, template, updateStrategy,
 * revisionHistoryLimit, persistentVolumeClaimRetentionPolicy and minReadySeconds may change.
 */
export function validateStatefulSetUpdate(sts: StatefulSet, old: StatefulSet): FieldError[] {
  const errs = [...validateObjectMetaUpdate(sts.metadata, old.metadata), ...validateStatefulSetSpec(sts)];
  const masked = (s: StatefulSet['spec']) => ({
    ...(s ?? {}),
    replicas: undefined,
    ordinals: undefined,
    template: undefined,
    updateStrategy: undefined,
    revisionHistoryLimit: undefined,
    persistentVolumeClaimRetentionPolicy: undefined,
    minReadySeconds: undefined,
  });
  if (!semanticEqual(masked(sts.spec), masked(old.spec))) {
    errs.push(
      field.forbidden(
        'spec',
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
      ),
    );
  }
  return errs;
}

/** ValidateStatefulSetStatusUpdate. */
export function validateStatefulSetStatusUpdate(sts: StatefulSet, old: StatefulSet): FieldError[] {
  const s = sts.status ?? {};
  const errs: FieldError[] = [];
  for (const f of ['replicas', 'readyReplicas', 'currentReplicas', 'updatedReplicas', 'availableReplicas', 'observedGeneration', 'collisionCount'] as const) {
    errs.push(...nonNegative(s[f], `status.${f}`));
  }
  errs.push(...replicaCountsWithin(s, ['readyReplicas', 'currentReplicas', 'updatedReplicas', 'availableReplicas']));
  if ((s.availableReplicas ?? 0) > (s.readyReplicas ?? 0)) errs.push(field.invalid('status.availableReplicas', s.availableReplicas ?? 0, 'cannot be greater than status.readyReplicas'));
  errs.push(...validateObjectMetaUpdate(sts.metadata, old.metadata));
  errs.push(...collisionCountNotDecremented(s.collisionCount, old.status?.collisionCount));
  return errs;
}

// ---------------------------------------------------------------- DaemonSet

function validateDaemonSetSpec(ds: DaemonSet): FieldError[] {
  const spec = ds.spec ?? {};
  const errs = validateLabelSelector(spec.selector, 'spec.selector');
  // A nil selector selects nothing, so it "does not match" the template.
  if (selectorMatches(spec.selector, spec.template?.metadata?.labels) === false) {
    errs.push(field.invalid('spec.template.metadata.labels', goStringMap(spec.template?.metadata?.labels), '`selector` does not match template `labels`'));
  }
  if (spec.selector && selectorIsEmpty(spec.selector)) errs.push(field.invalid('spec.selector', goLabelSelector(spec.selector), 'empty selector is invalid for daemonset'));
  errs.push(...validatePodTemplateSpec(spec.template, 'spec.template'));
  errs.push(...validateTemplateRestartAlways(spec.template, 'spec.template', 'DaemonSet'));
  errs.push(...nonNegative(spec.minReadySeconds, 'spec.minReadySeconds'));
  const us = spec.updateStrategy ?? {};
  switch (us.type) {
    case 'OnDelete':
      break;
    case 'RollingUpdate': {
      const ru = us.rollingUpdate;
      if (!ru) {
        errs.push(field.required('spec.updateStrategy.rollingUpdate', ''));
        break;
      }
      const p = 'spec.updateStrategy.rollingUpdate';
      const mu = intOrString(ru.maxUnavailable, `${p}.maxUnavailable`, errs);
      const ms = intOrString(ru.maxSurge, `${p}.maxSurge`, errs);
      errs.push(...validatePositiveIntOrPercent(mu, `${p}.maxUnavailable`));
      errs.push(...validatePositiveIntOrPercent(ms, `${p}.maxSurge`));
      errs.push(...notMoreThan100Percent(mu, `${p}.maxUnavailable`));
      errs.push(...notMoreThan100Percent(ms, `${p}.maxSurge`));
      const hasUnavailable = intOrPercentValue(mu) !== 0;
      const hasSurge = intOrPercentValue(ms) !== 0;
      if (mu.kind === 'invalid' || ms.kind === 'invalid') break;
      if (hasUnavailable && hasSurge) errs.push(field.invalid(`${p}.maxSurge`, goIntOrString(ms), 'may not be set when maxUnavailable is non-zero'));
      else if (!hasUnavailable && !hasSurge) errs.push(field.required(`${p}.maxUnavailable`, 'cannot be 0 when maxSurge is 0'));
      break;
    }
    default:
      errs.push(field.notSupported('spec.updateStrategy', us, ['RollingUpdate', 'OnDelete']));
  }
  errs.push(...nonNegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  return errs;
}

/** ValidateDaemonSet. */
export function validateDaemonSet(ds: DaemonSet): FieldError[] {
  return [...validateObjectMeta(ds.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain }), ...validateDaemonSetSpec(ds)];
}

/** ValidateDaemonSetUpdate, with apps/v1's immutable selector. */
export function validateDaemonSetUpdate(ds: DaemonSet, old: DaemonSet): FieldError[] {
  return [
    ...validateObjectMetaUpdate(ds.metadata, old.metadata),
    ...validateDaemonSetSpec(ds),
    ...immutable(ds.spec?.selector, old.spec?.selector, 'spec.selector', goLabelSelector(ds.spec?.selector)),
  ];
}

/** ValidateDaemonSetStatusUpdate. */
export function validateDaemonSetStatusUpdate(ds: DaemonSet, old: DaemonSet): FieldError[] {
  const s = ds.status ?? {};
  const errs = validateObjectMetaUpdate(ds.metadata, old.metadata);
  for (const f of [
    'currentNumberScheduled',
    'numberMisscheduled',
    'desiredNumberScheduled',
    'numberReady',
    'observedGeneration',
    'updatedNumberScheduled',
    'numberAvailable',
    'numberUnavailable',
    'collisionCount',
  ] as const) {
    errs.push(...nonNegative(s[f], `status.${f}`));
  }
  errs.push(...collisionCountNotDecremented(s.collisionCount, old.status?.collisionCount));
  return errs;
}
