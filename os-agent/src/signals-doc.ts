/**
 * Renders the tables of docs/posture.md "Signals" from the code: the signal table
 * ({@link SIGNALS}) and the Enigm OS daemon queries (`DAEMON_STATE_RECORDS`). A test checks that
 * the document holds exactly these renderings between their markers.
 * @module
 */
import { DAEMON_QUERIES, DAEMON_QUERY_NAMES, DAEMON_STATE_RECORDS } from '@enigm/protocols/posture';
import { OSD_SIGNALS } from './collect/osd.ts';
import { SIGNAL_NAMES, SIGNALS } from './signals.ts';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Markers around the generated signal table in docs/posture.md. */
export const SIGNALS_TABLE_MARKERS = [
  '<!-- signals table: rendered by renderSignalsTable() in os-agent/src/signals-doc.ts; a test checks it -->',
  '<!-- end of signals table -->',
] as const;

/** Markers around the generated daemon query table in docs/posture.md. */
export const DAEMON_TABLE_MARKERS = [
  '<!-- daemon queries: rendered by renderDaemonTable() in os-agent/src/signals-doc.ts; a test checks it -->',
  '<!-- end of daemon queries -->',
] as const;

const hours = (ms: number) => (ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : `${ms / 60_000} min`);

/** The signal table: name, value, sources, default freshness, privacy rationale. */
export function renderSignalsTable(): string {
  const rows = SIGNAL_NAMES.map((n) => {
    const s = SIGNALS[n];
    return `| \`${n}\`${s.optional ? ' (optional)' : ''} | ${cell(s.value)} | ${s.sources.map((x) => `\`${x}\``).join(', ')} | ${hours(s.maxAgeMs)} | ${cell(s.privacy)} |`;
  });
  return ['| signal | value | sources | fresh for | privacy rationale |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** The daemon query table: query, code, signal, state record fields with their integer keys. */
export function renderDaemonTable(): string {
  const rows = DAEMON_QUERY_NAMES.map((q) => {
    const rec = DAEMON_STATE_RECORDS[q];
    const fields = Object.entries(rec.schema as Record<string, { key: number; type: { describe: string } }>)
      .map(([name, f]) => `${f.key}: ${name} (${f.type.describe})`)
      .join('; ');
    return `| \`${q}\` | ${DAEMON_QUERIES[q]} | \`${OSD_SIGNALS[q].signal}\` | \`${rec.name}\` { ${cell(fields)} } |`;
  });
  return ['| query | code | signal | state record (key: field) |', '|---|---|---|---|', ...rows].join('\n');
}

/** Replaces the text between `markers` in `doc` with `body`. */
export function replaceBetween(doc: string, markers: readonly [string, string], body: string): string {
  const a = doc.indexOf(markers[0]);
  const b = doc.indexOf(markers[1]);
  if (a < 0 || b < a) throw new Error(`markers not found: ${markers[0]}`);
  return `${doc.slice(0, a + markers[0].length)}\n${body}\n${doc.slice(b)}`;
}

/** `doc` with both generated tables brought up to date. */
export function renderPostureDoc(doc: string): string {
  return replaceBetween(
    replaceBetween(doc, SIGNALS_TABLE_MARKERS, renderSignalsTable()),
    DAEMON_TABLE_MARKERS,
    renderDaemonTable(),
  );
}
