/** Polling with a deadline, for tests that wait for the cluster to converge. */

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `get` every `intervalMs` until it returns something other than undefined or false, and
 * resolves with that. A throw counts as "not yet" (its message is reported on timeout). Rejects
 * after `timeoutMs` naming `what`, the last error and `detail()` (e.g. a component's log tail).
 */
export async function waitFor<T>(
  what: string,
  get: () => Promise<T | undefined | false>,
  timeoutMs = 30000,
  opts: { intervalMs?: number; detail?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await get();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const extra = opts.detail ? `\n${opts.detail()}` : '';
      throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}${extra}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}
