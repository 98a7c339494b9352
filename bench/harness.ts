/**
 * Shared benchmark plumbing: the result shape (one JSON line each) and a timing loop.
 * @module
 */

/** One benchmark measurement, printed as one JSON line. */
export interface BenchResult {
  /** Name, e.g. `codec.key-message`. */
  bench: string;
  /** Measured value. */
  value: number;
  /** Unit of `value` and `baseline`, e.g. `msgs/s`. */
  unit: string;
  /** The same work done by the baseline, measured in the same run. */
  baseline?: number;
  /** value / baseline. */
  ratio?: number;
  /** Target ratio, when the design sets one. */
  target?: number;
}

/** Runs `fn` repeatedly for about `ms` milliseconds after a warm-up and returns calls per second. */
export function opsPerSecond(fn: () => unknown, ms = 1000): number {
  const warmEnd = performance.now() + Math.min(300, ms / 3);
  while (performance.now() < warmEnd) fn();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 64; i++) fn();
    ops += 64;
    now = performance.now();
  }
  return ops / ((now - start) / 1000);
}

/** Builds a result with its ratio. */
export function result(bench: string, value: number, unit: string, baseline?: number, target?: number): BenchResult {
  return {
    bench,
    value: round(value),
    unit,
    ...(baseline !== undefined ? { baseline: round(baseline), ratio: Math.round((value / baseline) * 1000) / 1000 } : {}),
    ...(target !== undefined ? { target } : {}),
  };
}

function round(v: number): number {
  return v >= 100 ? Math.round(v) : Math.round(v * 1000) / 1000;
}
