/**
 * Capped exponential backoff with jitter, for reconnecting to a Key (after a reboot, a lost link).
 * Randomness and sleeping are injected so tests run without real timers.
 *
 * Delay before retry `n` (0-based): `d = min(maxMs, baseMs · 2^n)`, then "equal jitter": a
 * uniformly random value in `[d/2, d)`. Never zero (a retry always waits), never above the cap,
 * and two hosts that lost the same Key at the same moment do not retry in lockstep.
 * @module
 */
import { KeyFacadeError } from './errors.ts';

/** Backoff parameters. */
export interface BackoffOptions {
  /** Attempts in all, the first included (default 10). */
  attempts?: number;
  /** Delay before the first retry, before jitter, ms (default 100). */
  baseMs?: number;
  /** Cap of a single delay, ms (default 2000). */
  maxMs?: number;
}

/** What {@link retryWithBackoff} needs besides the parameters. */
export interface BackoffDeps {
  /** Uniform random number in [0, 1) (default Math.random). */
  random?: () => number;
  /** Waits `ms` (default: a real timer); rejects when `signal` fires. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
  /** Whether an error is worth another attempt (default: every error). */
  retryable?: (e: unknown) => boolean;
  /** Called before each wait (attempt number from 1, the delay, the error). */
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
}

/** Defaults of {@link BackoffOptions}. */
export const DEFAULT_BACKOFF: Required<BackoffOptions> = { attempts: 10, baseMs: 100, maxMs: 2000 };

/**
 * The delay before retry `retry` (0-based).
 * @param retry - how many retries came before this one
 * @param random - uniform number in [0, 1)
 * @returns ms, in `[d/2, d)` with `d = min(maxMs, baseMs · 2^retry)`
 * @throws RangeError if a parameter is negative or not finite
 * @example backoffDelay(3, { baseMs: 100, maxMs: 2000 }, () => 0) // 400
 */
export function backoffDelay(retry: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = options.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const max = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
  if (!(retry >= 0 && base >= 0 && max >= 0) || !Number.isFinite(base) || !Number.isFinite(max))
    throw new RangeError('backoff parameters must be finite and non-negative');
  const d = Math.min(max, base * 2 ** Math.min(retry, 52));
  const r = Math.min(Math.max(random(), 0), 1 - Number.EPSILON);
  return d / 2 + r * (d / 2);
}

/**
 * Waits `ms` with a real timer; rejects with `KEY_ABORTED` when `signal` fires.
 * @throws {@link KeyFacadeError} `KEY_ABORTED`
 * @example await realSleep(backoffDelay(2), controller.signal);
 */
export function realSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function aborted(): KeyFacadeError {
  return new KeyFacadeError('KEY_ABORTED', 'aborted while waiting to reconnect');
}

/**
 * Runs `fn` until it succeeds, waiting a jittered, capped, exponentially growing delay between
 * attempts.
 * @returns what `fn` returned
 * @throws {@link KeyFacadeError} `KEY_RECONNECT_FAILED` (the last error as `cause`) after the last
 *   attempt; `KEY_ABORTED` if the signal fires; a non-retryable error as it is
 * @example
 * const client = await retryWithBackoff(() => KeyClient.connect(open()), { attempts: 8 }, { random, sleep });
 */
export async function retryWithBackoff<T>(
  fn: (attempt: number) => Promise<T>,
  options: BackoffOptions = {},
  deps: BackoffDeps = {},
): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? DEFAULT_BACKOFF.attempts);
  const sleep = deps.sleep ?? realSleep;
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    if (deps.signal?.aborted) throw aborted();
    try {
      return await fn(i + 1);
    } catch (e) {
      last = e;
      if (deps.retryable && !deps.retryable(e)) throw e;
      if (deps.signal?.aborted) throw aborted();
    }
    if (i + 1 < attempts) {
      const delay = backoffDelay(i, options, deps.random);
      deps.onRetry?.(i + 1, delay, last);
      await sleep(delay, deps.signal);
    }
  }
  const reason = last instanceof Error ? last.message : String(last);
  throw new KeyFacadeError('KEY_RECONNECT_FAILED', `the Key did not answer after ${attempts} attempts (last: ${reason})`, {
    cause: last,
  });
}
