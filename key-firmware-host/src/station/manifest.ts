/**
 * The station's manifest: one entry per Key (handle, certificate serial and PEM, model, firmware,
 * time, outcome, error), as JSON and CSV, written atomically (temporary file, fsync, rename) so a
 * reader never sees half a manifest. Entries carry certificates (public) and never key material.
 * @module
 */

import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '@enigm/attestation';
import { StationError } from './errors.ts';

/** What happened to one Key. */
export type StationOutcome = 'provisioned' | 'already-provisioned' | 'failed' | 'aborted';

/** The outcomes, in report order. */
export const STATION_OUTCOMES: readonly StationOutcome[] = ['provisioned', 'already-provisioned', 'failed', 'aborted'];

/** One manifest entry. */
export interface ManifestEntry {
  /** The serial port the Key was on. */
  port: string;
  /** The Key's handle: the association handle (`eh1-…`) when an account was given, else its device handle (hex). */
  handle?: string;
  outcome: StationOutcome;
  /** The error code when the outcome is `failed` or `aborted`. */
  error?: string;
  /** The error's message (no secrets). */
  message?: string;
  /** The step that failed. */
  step?: string;
  /** True when an earlier interrupted run had already paired this Key (it was completed now). */
  resumed?: boolean;
  model?: string;
  firmware?: string;
  /** The Key certificate's serial number, lowercase hex. */
  serial?: string;
  /** The Key certificate, PEM. */
  certificatePem?: string;
  /** The certificate's notAfter, ISO 8601. */
  notAfter?: string;
  /** When the Key was finished, ISO 8601. */
  time: string;
}

/** A manifest file's content. */
export interface Manifest {
  format: 'enigm-station-manifest';
  version: 1;
  /** When it was written, ISO 8601. */
  written: string;
  entries: ManifestEntry[];
}

/** The CSV columns, in order. */
export const MANIFEST_CSV_COLUMNS = [
  'handle',
  'port',
  'outcome',
  'error',
  'step',
  'model',
  'firmware',
  'serial',
  'not_after',
  'time',
  'certificate_pem',
] as const;

/** A CSV field per RFC 4180: quoted when it holds a comma, quote or line break. */
function csvField(v: string | undefined): string {
  const s = v ?? '';
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * The manifest as CSV (RFC 4180, header row, CRLF line ends; the PEM in a quoted field).
 * @example writeFileSync('out.csv', manifestCsv(entries));
 */
export function manifestCsv(entries: readonly ManifestEntry[]): string {
  const rows = [MANIFEST_CSV_COLUMNS.join(',')];
  for (const e of entries)
    rows.push(
      [e.handle, e.port, e.outcome, e.error, e.step, e.model, e.firmware, e.serial, e.notAfter, e.time, e.certificatePem]
        .map(csvField)
        .join(','),
    );
  return `${rows.join('\r\n')}\r\n`;
}

/** The key an entry is merged under: its handle, or its port when no handle is known. */
const entryKey = (e: ManifestEntry) => (e.handle ? `h:${e.handle}` : `p:${e.port}`);

/**
 * Merges a new run's entries into an earlier manifest's: an entry for the same Key (handle) or,
 * without a handle, the same port replaces the earlier one — except that a later
 * `already-provisioned` or failure never hides an earlier `provisioned` entry of that Key with its
 * certificate. Port-only failures are dropped once the port's Key has a handled entry.
 */
export function mergeManifestEntries(earlier: readonly ManifestEntry[], later: readonly ManifestEntry[]): ManifestEntry[] {
  const byKey = new Map<string, ManifestEntry>();
  for (const e of [...earlier, ...later]) {
    const k = entryKey(e);
    const prev = byKey.get(k);
    if (prev?.outcome === 'provisioned' && e.outcome !== 'provisioned' && prev.serial) continue;
    byKey.set(k, e);
  }
  const handledPorts = new Set(later.filter((e) => e.handle).map((e) => e.port));
  return [...byKey.values()].filter((e) => e.handle || !handledPorts.has(e.port));
}

/**
 * Reads a manifest written by {@link writeManifest} (`OUT.json`).
 * @throws {@link StationError} `STATION_MANIFEST_INVALID`; the file system's error if unreadable
 */
export function readManifest(path: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code) throw e;
    throw new StationError('STATION_MANIFEST_INVALID', `${path} is not JSON: ${(e as Error).message}`);
  }
  if (m?.format !== 'enigm-station-manifest' || m.version !== 1 || !Array.isArray(m.entries))
    throw new StationError('STATION_MANIFEST_INVALID', `${path} is not an enigm station manifest (version 1)`);
  return m;
}

/** Writes `text` to `path` atomically: a temporary file beside it, fsync, rename, fsync of the folder. */
export function writeFileAtomic(path: string, text: string): void {
  try {
    writeFileAtomicSync(path, text, { syncDir: true });
  } catch (e) {
    throw new StationError('STATION_WRITE_FAILED', `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`, {
      cause: e,
    });
  }
}

/**
 * Writes the manifest as `<base>.json` and `<base>.csv`, each atomically.
 * @param base - the output path without extension (a trailing `.json` or `.csv` is removed)
 * @returns the two paths written
 * @throws {@link StationError} `STATION_WRITE_FAILED`
 */
export function writeManifest(
  base: string,
  entries: readonly ManifestEntry[],
  now: () => Date = () => new Date(),
): { json: string; csv: string } {
  const b = base.replace(/\.(json|csv)$/i, '');
  const manifest: Manifest = {
    format: 'enigm-station-manifest',
    version: 1,
    written: now().toISOString(),
    entries: [...entries],
  };
  const json = `${b}.json`;
  const csv = `${b}.csv`;
  writeFileAtomic(json, `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileAtomic(csv, manifestCsv(entries));
  return { json, csv };
}

/** What {@link summarizeManifest} counts. */
export interface ManifestSummary {
  total: number;
  byOutcome: Record<StationOutcome, number>;
  /** Error code → count. */
  errors: Record<string, number>;
  /** Model → count. */
  models: Record<string, number>;
  /** Firmware version → count. */
  firmware: Record<string, number>;
}

/**
 * Counts a manifest's entries by outcome, error code, model and firmware version.
 * @example summarizeManifest(readManifest('out.json').entries).byOutcome.provisioned
 */
export function summarizeManifest(entries: readonly ManifestEntry[]): ManifestSummary {
  const s: ManifestSummary = {
    total: entries.length,
    byOutcome: { provisioned: 0, 'already-provisioned': 0, failed: 0, aborted: 0 },
    errors: {},
    models: {},
    firmware: {},
  };
  const inc = (r: Record<string, number>, k: string | undefined) => {
    if (k) r[k] = (r[k] ?? 0) + 1;
  };
  for (const e of entries) {
    s.byOutcome[e.outcome] = (s.byOutcome[e.outcome] ?? 0) + 1;
    inc(s.errors, e.error);
    inc(s.models, e.model);
    inc(s.firmware, e.firmware);
  }
  return s;
}
