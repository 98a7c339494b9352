/**
 * Active Defense findings: an optional input of device-risk assessments produced on the device,
 * consumed as findings only. The assessor writes a small JSON file (atomically, e.g. rename):
 *
 * ```json
 * { "version": 1, "assessedAt": 1764590000000,
 *   "findings": [{ "severity": "high", "category": "phishing", "count": 2 }] }
 * ```
 *
 * The schema is closed: any other field (a title, a URL, an app name, a sender, a file name, a
 * message excerpt) makes the whole file refused, so content cannot ride along. Findings with the
 * same severity and category are summed; the signal holds at most 32 entries (4 severities × 8
 * categories), sorted. `collectedAt` is the collection time minus the assessment's age, so a stale
 * assessment is stale in the report.
 * @module
 */
import {
  type Collector,
  FINDING_CATEGORIES,
  FINDING_SEVERITIES,
  type Finding,
  okSignal,
  type Signal,
  unknownSignal,
} from '../signals.ts';
import { readBounded } from './linux/read.ts';

/** Version of the findings file format. */
export const FINDINGS_FILE_VERSION = 1;
/** Largest findings file, bytes. */
export const FINDINGS_MAX_BYTES = 64 * 1024;
/** Most entries in a findings file (before aggregation). */
export const FINDINGS_MAX_ENTRIES = 1024;
/** Source label. */
export const FINDINGS_SOURCE = 'activedefense';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const onlyKeys = (v: Record<string, unknown>, keys: readonly string[]) => Object.keys(v).every((k) => keys.includes(k));

/**
 * Checks and aggregates a parsed findings file.
 * @returns the aggregated findings and the assessment time, or the reason it is refused
 */
export function parseFindingsFile(
  value: unknown,
): { ok: true; assessedAt: number; findings: Finding[] } | { ok: false; reason: string } {
  if (!isObj(value) || !onlyKeys(value, ['version', 'assessedAt', 'findings'])) {
    return { ok: false, reason: 'findings file has fields outside its schema' };
  }
  if (value.version !== FINDINGS_FILE_VERSION) return { ok: false, reason: 'findings file has an unsupported version' };
  const at = value.assessedAt;
  if (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 0)
    return { ok: false, reason: 'findings file has no valid assessedAt' };
  if (!Array.isArray(value.findings) || value.findings.length > FINDINGS_MAX_ENTRIES) {
    return { ok: false, reason: `findings must be a list of at most ${FINDINGS_MAX_ENTRIES} entries` };
  }
  const sums = new Map<string, number>();
  for (const f of value.findings as unknown[]) {
    if (!isObj(f) || !onlyKeys(f, ['severity', 'category', 'count'])) {
      return { ok: false, reason: 'a finding has fields outside its schema' };
    }
    if (
      !(FINDING_SEVERITIES as readonly string[]).includes(f.severity as string) ||
      !(FINDING_CATEGORIES as readonly string[]).includes(f.category as string)
    ) {
      return { ok: false, reason: 'a finding has an unknown severity or category' };
    }
    const count = f.count;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 1_000_000) {
      return { ok: false, reason: 'a finding has a count outside 1..1000000' };
    }
    const key = `${f.severity}/${f.category}`;
    sums.set(key, Math.min(1_000_000, (sums.get(key) ?? 0) + count));
  }
  const findings: Finding[] = [];
  for (const severity of FINDING_SEVERITIES) {
    for (const category of FINDING_CATEGORIES) {
      const count = sums.get(`${severity}/${category}`);
      if (count !== undefined) findings.push({ severity, category, count });
    }
  }
  return { ok: true, assessedAt: at, findings };
}

/** Options of {@link activeDefenseCollector}. */
export interface ActiveDefenseOptions {
  /** Path of the findings file the assessor writes. */
  path: string;
  /**
   * Wall clock the assessor's `assessedAt` is compared with (default `Date.now`). The age it gives
   * is taken off the collection clock, which may be monotonic.
   */
  wallClock?: () => number;
}

/**
 * Reads the findings file into `activedefense.findings`; `collectedAt` is `now` minus the
 * assessment's age on the wall clock (an `assessedAt` in the future counts as age 0).
 */
export async function readFindings(path: string, now: number, wallNow: number = Date.now()): Promise<Signal> {
  const o = { source: FINDINGS_SOURCE, now };
  const r = await readBounded({ root: '/' }, path, FINDINGS_MAX_BYTES);
  if (!r.ok) {
    return unknownSignal(
      'activedefense.findings',
      r.missing ? 'no Active Defense assessment yet' : `findings file ${r.reason}`,
      o,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.bytes.toString('utf8'));
  } catch {
    return unknownSignal('activedefense.findings', 'findings file is not JSON', o);
  }
  const f = parseFindingsFile(parsed);
  if (!f.ok) return unknownSignal('activedefense.findings', f.reason, o);
  const age = Math.max(0, wallNow - f.assessedAt);
  return okSignal('activedefense.findings', f.findings, { source: FINDINGS_SOURCE, now: now - age });
}

/** The optional collector of `activedefense.findings`. */
export function activeDefenseCollector(opts: ActiveDefenseOptions): Collector {
  if (typeof opts?.path !== 'string' || opts.path === '') throw new TypeError('path must be a non-empty string');
  return {
    name: 'activedefense',
    signals: ['activedefense.findings'],
    collect: async (ctx) => [await readFindings(opts.path, ctx.now(), (opts.wallClock ?? Date.now)())],
  };
}
