/**
 * Reconnect delays: capped exponential backoff with **full jitter** (the delay is uniform in
 * `[0, min(cap, base · 2^attempt))`), so a thousand clients that lost the broker at the same
 * moment come back spread over the whole window instead of in waves (mqtt.js reconnects at a fixed
 * period). Randomness is injected for tests.
 * @module
 */

/** Reconnect backoff parameters. */
export interface ReconnectBackoff {
  /** Window of the first retry, ms (default 1000). */
  baseMs?: number;
  /** Largest window, ms (default 30,000). */
  capMs?: number;
}

/** Defaults of {@link ReconnectBackoff}. */
export const DEFAULT_RECONNECT_BACKOFF: Required<ReconnectBackoff> = { baseMs: 1000, capMs: 30_000 };

/**
 * The delay before reconnect attempt `attempt` (0-based).
 * @param random - uniform in [0, 1)
 * @returns ms in `[0, min(capMs, baseMs · 2^attempt))`
 * @throws RangeError if a parameter is negative or not finite
 * @example fullJitterDelay(3, { baseMs: 1000, capMs: 30_000 }, () => 0.5) // 4000
 */
export function fullJitterDelay(attempt: number, options: ReconnectBackoff = {}, random: () => number = Math.random): number {
  const base = options.baseMs ?? DEFAULT_RECONNECT_BACKOFF.baseMs;
  const cap = options.capMs ?? DEFAULT_RECONNECT_BACKOFF.capMs;
  if (!(attempt >= 0 && base >= 0 && cap >= 0) || !Number.isFinite(base) || !Number.isFinite(cap)) {
    throw new RangeError('backoff parameters must be finite and non-negative');
  }
  const window = Math.min(cap, base * 2 ** Math.min(attempt, 52));
  const r = Math.min(Math.max(random(), 0), 1 - Number.EPSILON);
  return Math.floor(r * window);
}
