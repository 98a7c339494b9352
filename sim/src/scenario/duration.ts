/**
 * Durations in scenario files: a number of seconds (`8`, `0.5`) or a string with units
 * (`500ms`, `2s`, `1.5m`, `24h`, `1d`, `1h30m`). Always in simulated time.
 * @module
 */

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The longest duration a scenario may name (one year of simulated time), in ms. */
export const MAX_DURATION_MS = 365 * 86_400_000;

const PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/y;

/**
 * Parses a duration into milliseconds.
 * @param value - a number of seconds, or a string such as `2s`, `500ms`, `24h`, `1h30m`
 * @returns milliseconds (≥ 0, ≤ {@link MAX_DURATION_MS}), or `undefined` if `value` is not a duration
 * @example parseDuration('1h30m') === 5_400_000; parseDuration(2) === 2000
 */
export function parseDuration(value: unknown): number | undefined {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return undefined;
    ms = value * 1000;
  } else if (typeof value === 'string') {
    const s = value.trim();
    if (s === '') return undefined;
    if (/^\d+(\.\d+)?$/.test(s)) ms = Number(s) * 1000;
    else {
      ms = 0;
      PART.lastIndex = 0;
      while (PART.lastIndex < s.length) {
        const start = PART.lastIndex;
        const m = PART.exec(s);
        if (!m || m.index !== start) return undefined;
        ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
        while (s[PART.lastIndex] === ' ') PART.lastIndex++;
      }
    }
  } else return undefined;
  ms = Math.round(ms);
  return ms <= MAX_DURATION_MS ? ms : undefined;
}

/**
 * Renders milliseconds as a short human duration (`0 ms`, `2 s`, `1.5 s`, `1 h 30 min`).
 * @example formatDuration(5_400_000) === '1 h 30 min'
 */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(3)} s`;
  const h = Math.floor(ms / 3_600_000);
  const min = Math.floor((ms % 3_600_000) / 60_000);
  const s = +((ms % 60_000) / 1000).toFixed(3);
  return [h ? `${h} h` : '', min ? `${min} min` : '', s ? `${s} s` : ''].filter(Boolean).join(' ');
}
