/** Kubernetes' metav1.Time form: RFC 3339 with second precision ("2026-11-23T01:15:22Z"). Pure. */
export function formatTime(d: Date | number): string {
  return new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Kubernetes' metav1.MicroTime form: RFC 3339 with microseconds ("2026-11-23T01:15:22.123000Z"). Pure. */
export function formatMicroTime(d: Date | number): string {
  return new Date(d).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
