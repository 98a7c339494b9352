/**
 * The options of `Outbox.open`: what each one means, its default, and the guard that
 * checks it (an option that breaks its rule is `OUTBOX_BAD_INPUT` naming it).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { outboxBadInput as badInput } from './errors.ts';

/** Options of `Outbox.open`. */
export interface OutboxOptions {
  /** Most pending entries, normal and emergency counted (default 10,000). */
  maxRecords?: number;
  /** Most topic (UTF-8) + payload bytes of pending entries (default 16 MiB). */
  maxBytes?: number;
  /** Normal entries older than this are dropped (default 7 days); emergency entries never expire. */
  maxAgeMs?: number;
  /** Hard cap on the topic + payload bytes of emergency entries (default 64 MiB); past it an emergency append is `OUTBOX_FULL`. */
  emergencyMaxBytes?: number;
  /** Hard cap on the number of emergency entries (default 100,000: bounds memory when they are tiny); past it `OUTBOX_FULL`. */
  emergencyMaxRecords?: number;
  /** `'always'` (default): one write + fsync per call; `'batch'`: one write + fsync per tick (group commit). */
  fsync?: 'always' | 'batch';
  /** Clock in whole ms since the Unix epoch (default `Date.now`). */
  clock?: () => number;
  /** Random bytes for ids (default `node:crypto` `randomBytes`). */
  random?: (n: number) => Uint8Array;
  /** How long to wait for another live process's lock (default 0: `OUTBOX_LOCKED` at once). */
  lockTimeoutMs?: number;
  /** Compaction waits until the dead bytes exceed this too (default 1 MiB). */
  compactMinBytes?: number;
}

/** {@link OutboxOptions} checked, with every default filled in (the lock's timeout apart). */
export type ResolvedOutboxOptions = Required<Omit<OutboxOptions, 'lockTimeoutMs'>>;

const DAY_MS = 24 * 60 * 60 * 1000;
const MIB = 1024 * 1024;

function positive(name: string, v: number | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw badInput(`${name} must be an integer ≥ ${min}`);
  return v;
}

/**
 * Checks the options of an open and fills in the defaults.
 * @returns the outbox's options and the lock's timeout in ms
 * @throws {@link OutboxError} `OUTBOX_BAD_INPUT` naming the first option that breaks its rule
 * @example const { opts, lockTimeoutMs } = resolveOutboxOptions({ fsync: 'batch' });
 */
export function resolveOutboxOptions(options: OutboxOptions): {
  opts: ResolvedOutboxOptions;
  lockTimeoutMs: number;
} {
  if (options === null || typeof options !== 'object') throw badInput('options must be an object');
  const fsyncMode = options.fsync ?? 'always';
  if (fsyncMode !== 'always' && fsyncMode !== 'batch') throw badInput("fsync must be 'always' or 'batch'");
  if (options.clock !== undefined && typeof options.clock !== 'function') throw badInput('clock must be a function');
  if (options.random !== undefined && typeof options.random !== 'function') throw badInput('random must be a function');
  const opts: ResolvedOutboxOptions = {
    maxRecords: positive('maxRecords', options.maxRecords, 10_000),
    maxBytes: positive('maxBytes', options.maxBytes, 16 * MIB),
    maxAgeMs: positive('maxAgeMs', options.maxAgeMs, 7 * DAY_MS),
    emergencyMaxBytes: positive('emergencyMaxBytes', options.emergencyMaxBytes, 64 * MIB),
    emergencyMaxRecords: positive('emergencyMaxRecords', options.emergencyMaxRecords, 100_000),
    fsync: fsyncMode,
    clock: options.clock ?? Date.now,
    random: options.random ?? ((n: number) => new Uint8Array(randomBytes(n))),
    compactMinBytes: positive('compactMinBytes', options.compactMinBytes, MIB, 0),
  };
  const lockTimeoutMs = positive('lockTimeoutMs', options.lockTimeoutMs, 0, 0);
  return { opts, lockTimeoutMs };
}
