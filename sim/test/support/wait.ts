/**
 * Test support: wait for a condition, not for a clock. Polls `cond` every 10 ms and returns as soon
 * as it holds; after `ms` it throws naming `what` (limits are sized for a loaded CI machine).
 * @module
 */

/**
 * Resolves once `cond()` holds.
 * @throws Error `timed out after <ms> ms waiting for <what>` when it did not hold within `ms`
 */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
