/**
 * GNSS tracks: one checker for fixes from a request body, a JSON file or a CSV file, naming the
 * fix (or line) and field of the first error.
 * @module
 */
import type { GnssFix } from '../firmware/physical/types.ts';
import { ControlError } from './errors.ts';
import { numberIn, objectBody, show } from './validate.ts';

/** Most fixes one track may hold. */
export const MAX_TRACK_FIXES = 10_000;
/** Latest fix time accepted, ms after the track is set (one year). */
export const MAX_FIX_AT_MS = 366 * 24 * 3600 * 1000;

/**
 * Checks one fix.
 * @param v - untrusted value
 * @param where - how to name it in messages, e.g. `fixes[3]` or `line 4` (a function: worked out
 *   only for an error)
 * @throws {@link ControlError} `SIM_BAD_INPUT` naming `where` and the field
 */
export function parseFix(v: unknown, where: string | (() => string)): GnssFix {
  const at = () => (typeof where === 'string' ? where : where());
  let o: Record<string, unknown>;
  try {
    o = objectBody(v, ['atMs', 'lat', 'lon', 'accuracyM']);
  } catch (e) {
    throw new ControlError('SIM_BAD_INPUT', `${at()}: ${(e as Error).message.replace('the request body', 'a fix')}`);
  }
  const field = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw new ControlError('SIM_BAD_INPUT', `${at()}: ${(e as Error).message}`);
    }
  };
  return {
    atMs: field(() => numberIn(o.atMs, 'atMs', 0, MAX_FIX_AT_MS, true)),
    lat: field(() => numberIn(o.lat, 'lat', -90, 90)),
    lon: field(() => numberIn(o.lon, 'lon', -180, 180)),
    ...(o.accuracyM !== undefined ? { accuracyM: field(() => numberIn(o.accuracyM, 'accuracyM', 0, 100_000)) } : {}),
  };
}

/** Checks the order and count of checked fixes. */
function checkTrack(fixes: GnssFix[], name: (i: number) => string): GnssFix[] {
  if (fixes.length > MAX_TRACK_FIXES)
    throw new ControlError('SIM_BAD_INPUT', `a track holds at most ${MAX_TRACK_FIXES} fixes, got ${fixes.length}`);
  for (let i = 1; i < fixes.length; i++)
    if ((fixes[i] as GnssFix).atMs < (fixes[i - 1] as GnssFix).atMs)
      throw new ControlError(
        'SIM_BAD_INPUT',
        `${name(i)}: atMs must not be earlier than the fix before it (fixes sorted by atMs)`,
      );
  return fixes;
}

/**
 * A track body: `{ fixes: GnssFix[] }`.
 * @param body - untrusted value
 * @param name - how to name fix `i` in messages (default `fixes[i]`)
 * @throws {@link ControlError} `SIM_BAD_INPUT` naming the fix and the field
 */
export function parseTrackBody(body: unknown, name: (i: number) => string = (i) => `fixes[${i}]`): GnssFix[] {
  const o = objectBody(body, ['fixes']);
  if (!Array.isArray(o.fixes)) throw new ControlError('SIM_BAD_INPUT', `fixes must be an array, got ${show(o.fixes)}`);
  if (o.fixes.length > MAX_TRACK_FIXES)
    throw new ControlError('SIM_BAD_INPUT', `a track holds at most ${MAX_TRACK_FIXES} fixes, got ${o.fixes.length}`);
  return checkTrack(
    o.fixes.map((f, i) => parseFix(f, () => name(i))),
    name,
  );
}

/**
 * Where each element of a JSON track's fix array starts: the top-level array, or the `fixes`
 * array of a top-level object (the last one, as `JSON.parse` keeps). `text` must be valid JSON.
 * @returns the offsets into `text`, one per fix
 */
function jsonFixOffsets(text: string): number[] {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i] as string)) i++;
  };
  const skipString = () => {
    for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    i++;
  };
  const skipValue = () => {
    ws();
    if (text[i] === '"') return skipString();
    if (text[i] !== '[' && text[i] !== '{') {
      while (i < text.length && !' \t\r\n,]}'.includes(text[i] as string)) i++;
      return;
    }
    let depth = 0;
    do {
      const c = text[i];
      if (c === '"') {
        skipString();
        continue;
      }
      if (c === '[' || c === '{') depth++;
      else if (c === ']' || c === '}') depth--;
      i++;
    } while (depth > 0 && i < text.length);
  };
  const elements = (): number[] => {
    const out: number[] = [];
    i++; // [
    ws();
    while (i < text.length && text[i] !== ']') {
      ws();
      out.push(i);
      skipValue();
      ws();
      if (text[i] === ',') i++;
    }
    i++; // ]
    return out;
  };
  ws();
  if (text[i] === '[') return elements();
  let fixes: number[] = [];
  i++; // {
  for (ws(); i < text.length && text[i] !== '}'; ws()) {
    const from = i;
    skipString();
    const key: unknown = JSON.parse(text.slice(from, i));
    ws();
    i++; // :
    ws();
    if (key === 'fixes' && text[i] === '[') fixes = elements();
    else skipValue();
    ws();
    if (text[i] === ',') i++;
  }
  return fixes;
}

/**
 * Parses a track file: JSON (an array of fixes, or `{ "fixes": [...] }`) when it starts with `[`
 * or `{`, else CSV lines `atMs,lat,lon[,accuracyM]` (a header line naming the fields, blank lines
 * and `#` comments are skipped).
 * @param text - the file's content
 * @returns the fixes
 * @throws {@link ControlError} `SIM_BAD_INPUT` naming the line (and for JSON the fix index) and field;
 *   never echoing more than 40 characters of the file
 */
export function parseTrackFile(text: string): GnssFix[] {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      const at = /position (\d+)/.exec((e as Error).message)?.[1];
      const line = at === undefined ? undefined : text.slice(0, Number(at)).split('\n').length;
      throw new ControlError('SIM_BAD_INPUT', `the track is not valid JSON${line === undefined ? '' : ` (line ${line})`}`);
    }
    // A fix is named by its line and index (worked out only for an error: the file is scanned once).
    let offsets: number[] | undefined;
    const lineOf = (i: number) => {
      offsets ??= jsonFixOffsets(text);
      const at = offsets[i];
      return at === undefined ? undefined : text.slice(0, at).split('\n').length;
    };
    return parseTrackBody(Array.isArray(v) ? { fixes: v } : v, (i) => {
      const line = lineOf(i);
      return line === undefined ? `fixes[${i}]` : `line ${line}, fixes[${i}]`;
    });
  }
  const fixes: GnssFix[] = [];
  const lines: number[] = [];
  const FIELDS = ['atMs', 'lat', 'lon', 'accuracyM'] as const;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const cells = line.split(',').map((c) => c.trim());
    if (fixes.length === 0 && lines.length === 0 && cells[0] === 'atMs') return; // header
    if (cells.length < 3 || cells.length > 4)
      throw new ControlError(
        'SIM_BAD_INPUT',
        `line ${i + 1}: expected 3 or 4 fields (atMs,lat,lon[,accuracyM]), got ${cells.length}`,
      );
    const fix: Record<string, number> = {};
    cells.forEach((c, j) => {
      const n = c === '' ? Number.NaN : Number(c);
      if (!Number.isFinite(n))
        throw new ControlError('SIM_BAD_INPUT', `line ${i + 1}: field ${FIELDS[j]} must be a number, got ${show(c)}`);
      fix[FIELDS[j] as string] = n;
    });
    if (fixes.length >= MAX_TRACK_FIXES)
      throw new ControlError('SIM_BAD_INPUT', `a track holds at most ${MAX_TRACK_FIXES} fixes (line ${i + 1})`);
    fixes.push(parseFix(fix, `line ${i + 1}`));
    lines.push(i + 1);
  });
  return checkTrack(fixes, (i) => `line ${lines[i]}`);
}
