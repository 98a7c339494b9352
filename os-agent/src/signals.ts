/**
 * The posture signal model: a closed table of signal names, their value types, sources, freshness
 * bounds and privacy rationale; the {@link Signal} record every collector produces; and
 * {@link collectAll}, which runs collectors with a per-collector time bound and never throws or hangs.
 *
 * A signal is either `ok` with a value of its declared type, or `unknown` with a human reason (never
 * a path of the device, a hostname, a user name or any content). Every signal carries its source
 * label, the time it was collected (from the injected clock) and how long it stays fresh.
 *
 * @example
 * ```ts
 * const signals = await collectAll([osdCollector(), ...linuxCollectors()], { now: Date.now, timeoutMs: 2000 });
 * const sb = signals.find((s) => s.name === 'secureboot');
 * if (sb && isFresh(sb, Date.now()) && sb.status === 'ok') console.log(sb.value);
 * ```
 * @module
 */
import { isSignalName, SIGNAL_NAMES, SIGNALS, type SignalName, type SignalValues } from './signal-table.ts';

export * from './signal-table.ts';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A collected signal: `ok` with a value of its declared type, or `unknown` with a reason. */
export interface Signal<V = unknown> {
  /** Signal name from the closed table. */
  name: SignalName;
  /** The value when `status` is `ok`, otherwise null. */
  value: V | null;
  /** `ok`: the value was read from its source; `unknown`: it could not be (see `reason`). */
  status: 'ok' | 'unknown';
  /** Why the signal is unknown: human, short, no paths, hostnames, secrets or content. */
  reason?: string;
  /** Source label, e.g. `enigm-osd`, `linux:/sys/firmware/efi`, `linux:lsm` (fixed, never machine-specific). */
  source: string;
  /** When it was collected, in ms from the injected clock. */
  collectedAt: number;
  /** How long after `collectedAt` the signal stays fresh, in ms. */
  maxAgeMs: number;
}

/** A signal whose name and value type agree. */
export type SignalOf<N extends SignalName> = Signal<SignalValues[N]> & { name: N };

/** Longest reason kept; longer reasons are cut. */
export const MAX_REASON_LENGTH = 160;

/**
 * Makes a reason safe to report: path-like tokens become `<path>`, control characters are dropped,
 * the length is capped at {@link MAX_REASON_LENGTH}. Empty input becomes `unknown`.
 */
export function safeReason(reason: string): string {
  const cleaned = reason
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we strip
    .replace(/[\u0000-\u001f\u007f]/g, ' ')
    .replace(/(^|[\s'"(=:])(?:~|\.{1,2})?\/[^\s'")]*/g, '$1<path>')
    .replace(/\s+/g, ' ')
    .trim();
  if (cleaned === '') return 'unknown';
  return cleaned.length > MAX_REASON_LENGTH ? `${cleaned.slice(0, MAX_REASON_LENGTH - 1)}…` : cleaned;
}

/**
 * An `ok` signal.
 * @throws {@link TypeError} if the value does not fit the declared type of `name`
 */
export function okSignal<N extends SignalName>(
  name: N,
  value: SignalValues[N],
  opts: { source: string; now: number; maxAgeMs?: number },
): SignalOf<N> {
  if (!SIGNALS[name].check(value)) throw new TypeError(`signal ${name}: value does not fit its declared type`);
  return {
    name,
    value,
    status: 'ok',
    source: opts.source,
    collectedAt: opts.now,
    maxAgeMs: opts.maxAgeMs ?? SIGNALS[name].maxAgeMs,
  };
}

/** An `unknown` signal with a reason (passed through {@link safeReason}). */
export function unknownSignal<N extends SignalName>(
  name: N,
  reason: string,
  opts: { source: string; now: number; maxAgeMs?: number },
): SignalOf<N> {
  return {
    name,
    value: null,
    status: 'unknown',
    reason: safeReason(reason),
    source: opts.source,
    collectedAt: opts.now,
    maxAgeMs: opts.maxAgeMs ?? SIGNALS[name].maxAgeMs,
  };
}

/**
 * Checks a signal against the table: known name, status and value agree, value of the declared
 * type, a reason when unknown, finite times.
 * @returns the reason it is invalid, or null when valid
 */
export function signalProblem(s: unknown): string | null {
  if (!isObj(s)) return 'not an object';
  if (!isSignalName(s.name)) return 'unknown signal name';
  if (typeof s.source !== 'string' || s.source === '') return `${s.name}: no source`;
  if (!Number.isFinite(s.collectedAt)) return `${s.name}: collectedAt is not a number`;
  if (!Number.isFinite(s.maxAgeMs) || (s.maxAgeMs as number) < 0) return `${s.name}: bad maxAgeMs`;
  if (s.status === 'ok') return SIGNALS[s.name].check(s.value) ? null : `${s.name}: value does not fit its type`;
  if (s.status === 'unknown') {
    if (s.value !== null) return `${s.name}: unknown with a value`;
    return typeof s.reason === 'string' && s.reason !== '' ? null : `${s.name}: unknown without a reason`;
  }
  return `${s.name}: bad status`;
}

/** Whether a signal is still fresh at `now`: collected no later than `now` and at most `maxAgeMs` ago. */
export function isFresh(signal: Pick<Signal, 'collectedAt' | 'maxAgeMs'>, now: number): boolean {
  const age = now - signal.collectedAt;
  return age >= 0 && age <= signal.maxAgeMs;
}

/** What a collector is given: the injected clock and an abort signal raised on timeout. */
export interface CollectContext {
  /** Injected clock, ms. */
  now(): number;
  /** Aborted when the collector's time is up or the run is cancelled. */
  signal?: AbortSignal;
}

/** A source of signals. */
export interface Collector {
  /** Short name for reasons and logs, e.g. `osd`, `linux.secureboot`. */
  readonly name: string;
  /** The signals it produces; on timeout or failure each becomes unknown with a reason. */
  readonly signals: readonly SignalName[];
  /** Collects its signals. Should not throw (a throw is caught by {@link collectAll}). */
  collect(ctx: CollectContext): Promise<Signal[]>;
}

/** Options of {@link collectAll}. */
export interface CollectAllOptions {
  /** Injected clock, ms. */
  now(): number;
  /** Time bound of each collector, ms (they run concurrently). */
  timeoutMs: number;
  /** Cancels the whole run: pending collectors yield unknown. */
  signal?: AbortSignal;
}

/**
 * Runs every collector concurrently, each bounded by `timeoutMs`. Never throws, never hangs: a
 * collector that times out, throws, is aborted or returns an invalid signal yields its declared
 * signals as unknown with a reason. The result holds one signal per declared name, in table order;
 * when two collectors declare the same name, the first `ok` one wins (otherwise the first).
 * Signals a collector returns without declaring them are dropped.
 */
export async function collectAll(collectors: readonly Collector[], opts: CollectAllOptions): Promise<Signal[]> {
  if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) throw new RangeError('timeoutMs must be a positive number');
  const runs = collectors.map((c) => runOne(c, opts));
  const results = await Promise.all(runs);
  const best = new Map<SignalName, Signal>();
  for (const list of results) {
    for (const s of list) {
      const held = best.get(s.name);
      if (!held || (held.status !== 'ok' && s.status === 'ok')) best.set(s.name, s);
    }
  }
  return SIGNAL_NAMES.filter((n) => best.has(n)).map((n) => best.get(n) as Signal);
}

async function runOne(c: Collector, opts: CollectAllOptions): Promise<Signal[]> {
  const ac = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onOuterAbort: (() => void) | undefined;
  const unknownAll = (reason: string): Signal[] => {
    const now = safeNow(opts.now);
    return c.signals.map((n) => unknownSignal(n, reason, { source: `collector:${c.name}`, now }));
  };
  const bounded = new Promise<Signal[]>((resolve) => {
    timer = setTimeout(() => {
      ac.abort();
      resolve(unknownAll(`${c.name} collector timed out after ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    if (opts.signal) {
      onOuterAbort = () => {
        ac.abort();
        resolve(unknownAll(`${c.name} collector cancelled`));
      };
      if (opts.signal.aborted) onOuterAbort();
      else opts.signal.addEventListener('abort', onOuterAbort, { once: true });
    }
  });
  let work: Promise<Signal[]>;
  try {
    work = Promise.resolve(c.collect({ now: opts.now, signal: ac.signal }));
  } catch (err) {
    work = Promise.reject(err);
  }
  const checked = work.then(
    (list) => checkResult(c, list, unknownAll),
    (err: unknown) => unknownAll(`${c.name} collector failed: ${err instanceof Error ? err.message : 'error'}`),
  );
  try {
    return await Promise.race([checked, bounded]);
  } finally {
    clearTimeout(timer);
    if (onOuterAbort) opts.signal?.removeEventListener('abort', onOuterAbort);
  }
}

function checkResult(c: Collector, list: unknown, unknownAll: (r: string) => Signal[]): Signal[] {
  if (!Array.isArray(list)) return unknownAll(`${c.name} collector returned no list`);
  const declared = new Set(c.signals);
  const out = new Map<SignalName, Signal>();
  for (const s of list as Signal[]) {
    if (!isObj(s) || !declared.has(s.name) || out.has(s.name)) continue;
    const problem = signalProblem(s);
    out.set(
      s.name,
      problem === null
        ? s
        : (unknownAll(`${c.name} collector returned an invalid signal`).find((u) => u.name === s.name) as Signal),
    );
  }
  const missing = unknownAll(`${c.name} collector did not report this signal`);
  return c.signals.map((n) => out.get(n) ?? (missing.find((m) => m.name === n) as Signal));
}

function safeNow(now: () => number): number {
  try {
    const t = now();
    return Number.isFinite(t) ? t : 0;
  } catch {
    return 0;
  }
}
