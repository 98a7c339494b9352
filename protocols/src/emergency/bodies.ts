/**
 * The bodies of emergency event records, sealed per contact: a {@link Location}, an
 * {@link EventStatus} (kinds `status` and `battery-critical`), or an {@link EventEnd}.
 * @module
 */
import { defineRecord, type FieldType, field, INVALID, type RecordValue, t } from '../messages/record.ts';

const U = Number.MAX_SAFE_INTEGER;

/**
 * How an event ended, with wire numbers: the terminal phases of the Key's phase table
 * (docs/emergency.md "States"; a test checks they are the same): `cancelled` by the owner (gesture
 * or command), `resolved` by the owner, `revoked` (the Key was revoked during the event).
 */
export const EVENT_OUTCOMES = { cancelled: 0, resolved: 1, revoked: 2 } as const;

/** A finite number in [-max, max] (degrees); encoded as the shortest exact CBOR float or integer. */
function degrees(max: number): FieldType<number> {
  return {
    describe: `number in [-${max}, ${max}]`,
    check: (v) => (typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= max ? v : INVALID),
    why: (v) => `expected a number in [-${max}, ${max}], got ${typeof v === 'number' ? v : typeof v}`,
    toCbor: (v) => v,
  };
}

/** A location fix: a body of kind `location`. */
export const LocationRecord = defineRecord('emergency.location', {
  lat: field(1, degrees(90), false, 'latitude, degrees (WGS 84)'),
  lon: field(2, degrees(180), false, 'longitude, degrees (WGS 84)'),
  accuracyM: field(3, t.uint(10_000_000), false, 'horizontal accuracy (radius), metres'),
  fixTime: field(4, t.uint(U), false, 'when the fix was taken, ms since the Unix epoch'),
  altitudeM: field(5, t.int(-100_000, 100_000), true, 'altitude, metres'),
  source: field(6, t.text(16), true, 'how it was fixed: `gnss`, `wifi`, `cell`, …'),
});

/** A decoded {@link LocationRecord}. */
export type Location = RecordValue<typeof LocationRecord.schema>;

/** The Key's status: a body of kind `status` or `battery-critical`. */
export const EventStatusRecord = defineRecord('emergency.status', {
  battery: field(1, t.uint(100), false, 'battery charge, percent'),
  phase: field(2, t.text(32), false, 'the emergency phase the Key is in (docs/emergency.md)'),
  charging: field(3, t.bool(), true, 'whether it is charging'),
  network: field(4, t.text(16), true, 'the uplink in use, e.g. `lte`, `wifi`'),
  note: field(5, t.text(64), true, 'a short machine-made note, never user text'),
});

/** A decoded {@link EventStatusRecord}. */
export type EventStatus = RecordValue<typeof EventStatusRecord.schema>;

/** The end of an event: the body of kind `end`. */
export const EventEndRecord = defineRecord('emergency.end', {
  outcome: field(
    1,
    t.enumOf('outcome', EVENT_OUTCOMES),
    false,
    'cancelled, resolved (both by the owner) or revoked (the Key was revoked)',
  ),
});

/** A decoded {@link EventEndRecord}. */
export type EventEnd = RecordValue<typeof EventEndRecord.schema>;
