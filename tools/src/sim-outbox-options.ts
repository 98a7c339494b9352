/**
 * `enigm sim start`'s outbox bounds: `--outbox-records N`, `--outbox-bytes SIZE` and
 * `--outbox-age DURATION`, mapped to each simulated Key's outbox options (`maxRecords`,
 * `maxBytes`, `maxAgeMs`; docs/mqtt-outbox.md "Drop policy": past them the oldest normal records
 * are dropped, emergency records never). A bad value is a usage error naming the flag.
 * @module
 */
import { parseDuration } from '@enigm/sim/scenario';
import { type ParsedArgs, str, UsageError } from './cli.ts';

/** Most records `--outbox-records` takes. */
export const MAX_OUTBOX_RECORDS = 10_000_000;
/** Most bytes `--outbox-bytes` takes (1 GiB). */
export const MAX_OUTBOX_BYTES = 1024 * 1024 * 1024;
/** Longest `--outbox-age` (365 days), ms. */
export const MAX_OUTBOX_AGE_MS = 365 * 86_400_000;

/** The outbox bounds given on the command line (each absent when its flag is). */
export interface SimOutboxBounds {
  maxRecords?: number;
  maxBytes?: number;
  maxAgeMs?: number;
}

/** The flags' names, for `--no-mqtt` refusals. */
export const OUTBOX_FLAGS = ['outbox-records', 'outbox-bytes', 'outbox-age'] as const;

/** parseArgs declarations of the outbox flags. */
export const outboxFlagOptions = {
  'outbox-records': { type: 'string' },
  'outbox-bytes': { type: 'string' },
  'outbox-age': { type: 'string' },
} as const;

/** Help text of the outbox flags (indented as `enigm sim start`'s options). */
export const OUTBOX_HELP = `  --outbox-records N  bound each Key's MQTT outbox to N records (1..${MAX_OUTBOX_RECORDS}; default 10000)
  --outbox-bytes SIZE  ... to SIZE bytes of topic + payload: bytes, or with K or M (KiB, MiB:
                  64K, 16M; at most 1024M; default 16M)
  --outbox-age DURATION  drop normal records older than this: seconds, or with units (90s, 30m,
                  12h, 7d, 1h30m; at most 365d; default 7d). Past a bound the oldest normal
                  records are dropped, emergency records never (docs/mqtt-outbox.md)`;

const UNIT: Readonly<Record<string, number>> = { '': 1, k: 1024, kib: 1024, m: 1024 * 1024, mib: 1024 * 1024 };

/**
 * Parses a size: a whole number of bytes, optionally followed by `K`/`KiB` (×1024) or `M`/`MiB`
 * (×1024²), case-insensitive.
 * @returns bytes, or `undefined` if `text` is not such a size
 * @example parseSize('64K') === 65536; parseSize('100') === 100
 */
export function parseSize(text: string): number | undefined {
  const m = /^(\d{1,16})\s*(k|kib|m|mib)?$/i.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * (UNIT[(m[2] ?? '').toLowerCase()] as number);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * The outbox bounds from `--outbox-records`, `--outbox-bytes`, `--outbox-age`.
 * @returns the bounds, or `undefined` when none of the flags is given
 * @throws {@link UsageError} for a value that is not a whole number / size / duration or is out of range
 * @example outboxBounds(args) // { maxRecords: 5 } for --outbox-records 5
 */
export function outboxBounds(args: ParsedArgs): SimOutboxBounds | undefined {
  const records = str(args, 'outbox-records');
  const bytes = str(args, 'outbox-bytes');
  const age = str(args, 'outbox-age');
  if (records === undefined && bytes === undefined && age === undefined) return undefined;
  const out: SimOutboxBounds = {};
  if (records !== undefined) {
    const n = /^\d{1,16}$/.test(records.trim()) ? Number(records) : Number.NaN;
    if (!(n >= 1 && n <= MAX_OUTBOX_RECORDS))
      throw new UsageError(
        `--outbox-records must be a whole number in [1, ${MAX_OUTBOX_RECORDS}], got ${JSON.stringify(records)}`,
      );
    out.maxRecords = n;
  }
  if (bytes !== undefined) {
    const n = parseSize(bytes);
    if (n === undefined || n < 1 || n > MAX_OUTBOX_BYTES)
      throw new UsageError(
        `--outbox-bytes must be a size from 1 byte to 1024M (bytes, or with K or M: 64K, 16M), got ${JSON.stringify(bytes)}`,
      );
    out.maxBytes = n;
  }
  if (age !== undefined) {
    const ms = parseDuration(age);
    if (ms === undefined || ms < 1 || ms > MAX_OUTBOX_AGE_MS)
      throw new UsageError(
        `--outbox-age must be a duration above 0 and at most 365d (seconds, or with units: 90s, 30m, 12h, 7d), got ${JSON.stringify(age)}`,
      );
    out.maxAgeMs = ms;
  }
  return out;
}
