/**
 * The Key client's clock: injected timers (tests pass a virtual clock) and how late a timer may
 * fire before the client assumes the host itself was stalled.
 * @module
 */

/** Injected timers (tests pass fakes). */
export interface Timers {
  /** Calls `fn` after `ms`; returns a handle for {@link Timers.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer by its handle. */
  clearTimeout(handle: unknown): void;
  /** Monotonic now, ms. */
  now(): number;
}

/**
 * A deadline timer this late (ms) means the host was stalled: a stalled process runs its due
 * timers before the input that arrived meanwhile, so the request listens once more (as long as
 * the stall, at most its timeout) before its attempt counts as lost.
 */
export const LATE_TIMER_MS = 20;

/** Node's timers and `performance.now()`. */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  now: () => performance.now(),
};
