/**
 * Validation of a scripted GNSS track (the physical model's `setTrack`).
 * @module
 */
import { SimulatorError } from '../../runtime/errors.ts';
import type { GnssFix } from './types.ts';

/** Most fixes a scripted GNSS track may hold. */
export const MAX_TRACK_FIXES = 10_000;

/**
 * A clean copy of `fixes`.
 * @throws SimulatorError `SIM_BAD_INPUT` for a track that is not an array of at most
 *   {@link MAX_TRACK_FIXES} fixes with `atMs` ≥ 0 ascending, latitude in ±90, longitude in ±180
 */
export function validateTrack(fixes: readonly GnssFix[]): GnssFix[] {
  if (!Array.isArray(fixes)) throw bad('track: expected an array of fixes');
  if (fixes.length > MAX_TRACK_FIXES) throw bad(`track: at most ${MAX_TRACK_FIXES} fixes, got ${fixes.length}`);
  const clean: GnssFix[] = [];
  let prev = 0;
  fixes.forEach((f: unknown, i) => {
    const at = (name: string) => bad(`track fix ${i}: ${name}`);
    if (f === null || typeof f !== 'object') throw at('expected { atMs, lat, lon, accuracyM? }');
    const { atMs, lat, lon, accuracyM } = f as Record<string, unknown>;
    const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
    if (!num(atMs) || (atMs as number) < 0) throw at(`atMs must be a number ≥ 0, got ${JSON.stringify(atMs)}`);
    if ((atMs as number) < prev) throw at(`atMs must not go back in time (${atMs} after ${prev})`);
    if (!num(lat) || Math.abs(lat as number) > 90) throw at(`lat must be a number in -90..90, got ${JSON.stringify(lat)}`);
    if (!num(lon) || Math.abs(lon as number) > 180) throw at(`lon must be a number in -180..180, got ${JSON.stringify(lon)}`);
    if (accuracyM !== undefined && (!num(accuracyM) || (accuracyM as number) < 0))
      throw at(`accuracyM must be a number ≥ 0, got ${JSON.stringify(accuracyM)}`);
    prev = atMs as number;
    clean.push({
      atMs: atMs as number,
      lat: lat as number,
      lon: lon as number,
      ...(accuracyM !== undefined ? { accuracyM: accuracyM as number } : {}),
    });
  });
  return clean;
}

const bad = (reason: string) => new SimulatorError('SIM_BAD_INPUT', reason);
