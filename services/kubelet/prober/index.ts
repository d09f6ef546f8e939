/** The kubelet's probe subsystem: runProbe for one attempt, ProbeManager for the periodic workers. */
export { runProbe, resolveContainerPort, DEFAULT_USER_AGENT, MAX_OUTPUT_BYTES } from './probe';
export type { ExecFunc, ExecResult, ProbeOutcome, ProbeOutcomeResult, ProbeTarget, RunProbeOptions } from './probe';
export { ProbeManager, REASON_PROBE_WARNING, REASON_UNHEALTHY } from './manager';
export type { ContainerExec, ProbeEventRecorder, ProbeManagerOptions, ProbeResultListener } from './manager';
export { effectiveProbe, INITIAL_RESULT, PROBE_TYPE_NAME } from './worker';
export type { EffectiveProbe, ProbeResult, ProbeType } from './worker';
