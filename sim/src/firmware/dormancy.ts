/**
 * Provable dormancy: the rare check-in a dormant Key sends, and the per-state counters that prove
 * what a Key did in each lifecycle state (location fixes, radio-on time, uplink bytes and messages).
 *
 * - **Check-in.** In `dormant` only, every {@link DEFAULT_CHECK_IN_MS} (configurable) ± {@link
 *   CHECK_IN_JITTER} (injected randomness), on the simulated clock, the Key sends one small CBOR
 *   record ({@link encodeCheckIn}): lifecycle state, battery band, firmware version, boot count.
 *   Never a location, never GNSS data. The runtime signs it as an uplink record of kind
 *   {@link CHECK_IN_KIND} (COSE_Sign1 by the identity key, bound to the topic).
 * - **Counters.** {@link StateCounters} per lifecycle state; the physical model counts fixes,
 *   radio-on time and check-ins, the runtime's MQTT uplink counts the bytes it publishes.
 *
 * Pure: time and randomness come from the caller. docs/emergency.md "Dormancy" documents it.
 * @module
 */
import { decode, encode } from '@enigm/protocols/cbor';
import { LIFECYCLE_STATES, type LifecycleState } from '@enigm/protocols/messages';
import { CRITICAL_PCT, LOW_PCT } from './physical/battery.ts';

/** Default interval between two check-ins of a dormant Key, simulated ms (6 h). */
export const DEFAULT_CHECK_IN_MS = 6 * 3_600_000;
/** Each interval is the configured one × (1 ± this), uniformly. */
export const CHECK_IN_JITTER = 0.1;
/** Smallest configurable interval, ms (1 min). */
export const MIN_CHECK_IN_MS = 60_000;
/** The uplink record kind of a check-in. */
export const CHECK_IN_KIND = 'check-in';

/** The battery as a check-in reports it: no level, only the band. */
export type CheckInBand = 'ok' | 'low' | 'critical';

/** What a check-in says (and all it says). */
export interface CheckIn {
  readonly state: LifecycleState;
  readonly battery: CheckInBand;
  readonly firmware: string;
  readonly boots: number;
}

/** CBOR keys of the check-in body. */
const K = { state: 1, battery: 2, firmware: 3, boots: 4 } as const;

/**
 * The check-in body: a CBOR map `{1: state, 2: battery band, 3: firmware version, 4: boot count}`
 * (about 25 bytes).
 */
export function encodeCheckIn(c: CheckIn): Uint8Array {
  return encode(
    new Map<number, string | number>([
      [K.state, c.state],
      [K.battery, c.battery],
      [K.firmware, c.firmware],
      [K.boots, c.boots],
    ]),
  );
}

/** The check-in body of a Key now: its state, battery band (of `level` %), firmware version and boot count. */
export function checkInBody(
  fw: { readonly state: LifecycleState; readonly firmwareVersion: string; readonly bootCount: number },
  level: number,
): Uint8Array {
  const battery = level <= CRITICAL_PCT ? 'critical' : level <= LOW_PCT ? 'low' : 'ok';
  return encodeCheckIn({ state: fw.state, battery, firmware: fw.firmwareVersion, boots: fw.bootCount });
}

/**
 * Decodes a check-in body.
 * @throws Error for a body that is not a check-in (unknown key, wrong type)
 */
export function decodeCheckIn(bytes: Uint8Array): CheckIn {
  const m = decode(bytes, { maxBytes: 1024 }) as unknown;
  if (!(m instanceof Map) || m.size !== 4) throw new Error('check-in: expected a map of 4 entries');
  const state = m.get(K.state);
  const battery = m.get(K.battery);
  const firmware = m.get(K.firmware);
  const boots = m.get(K.boots);
  if (typeof state !== 'string' || !(state in LIFECYCLE_STATES)) throw new Error('check-in: bad state');
  if (battery !== 'ok' && battery !== 'low' && battery !== 'critical') throw new Error('check-in: bad battery band');
  if (typeof firmware !== 'string' || typeof boots !== 'number') throw new Error('check-in: bad firmware or boots');
  return { state: state as LifecycleState, battery, firmware, boots };
}

/** One interval: `intervalMs` × (1 ± jitter), `u` uniform in [0, 1). */
export function jitteredInterval(intervalMs: number, u: number, jitter = CHECK_IN_JITTER): number {
  return Math.round(intervalMs * (1 + jitter * (2 * u - 1)));
}

/**
 * When the next check-in is due. Armed (one jittered interval ahead) when the Key is seen dormant,
 * disarmed in any other state or while off; re-entering dormant arms it afresh.
 */
export class CheckInTimer {
  readonly #intervalMs: number;
  readonly #random: () => number;
  #next: number | undefined;

  /** @throws RangeError for an interval below {@link MIN_CHECK_IN_MS} */
  constructor(intervalMs: number = DEFAULT_CHECK_IN_MS, random: () => number = Math.random) {
    if (!(Number.isFinite(intervalMs) && intervalMs >= MIN_CHECK_IN_MS))
      throw new RangeError(`check-in interval must be ≥ ${MIN_CHECK_IN_MS} ms, got ${intervalMs}`);
    this.#intervalMs = intervalMs;
    this.#random = random;
  }

  /** The due time, if armed. */
  get next(): number | undefined {
    return this.#next;
  }

  /**
   * Brings the timer to `now`: `true` when a check-in is due now (the timer re-arms from now).
   * @param dormant - whether the Key is powered and dormant now
   */
  poll(now: number, dormant: boolean): boolean {
    if (!dormant) {
      this.#next = undefined;
      return false;
    }
    if (this.#next === undefined) {
      this.#next = now + jitteredInterval(this.#intervalMs, this.#random());
      return false;
    }
    if (now < this.#next) return false;
    this.#next = now + jitteredInterval(this.#intervalMs, this.#random());
    return true;
  }
}

/** What a Key did in one lifecycle state. */
export interface StateCounters {
  /** GNSS fixes taken. */
  readonly fixes: number;
  /** Time the radio was on (attached and powered), ms. */
  readonly radioOnMs: number;
  /** Bytes the Key published on the MQTT uplink (topic + payload). */
  readonly uplinkBytes: number;
  /** Messages the Key published on the MQTT uplink. */
  readonly uplinkMessages: number;
  /** Check-ins made (queued on the MQTT uplink when it is on; without an uplink nothing is sent). */
  readonly checkIns: number;
}

/** The counters' field names (scenario fields, docs). */
export const COUNTER_FIELDS = ['fixes', 'radioOnMs', 'uplinkBytes', 'uplinkMessages', 'checkIns'] as const;

/** Counters of every lifecycle state. */
export type KeyCounters = Readonly<Record<LifecycleState, StateCounters>>;

/** A mutable counter table, every state at zero. */
export function zeroCounters(): Record<LifecycleState, { -readonly [F in keyof StateCounters]: number }> {
  const out = {} as Record<LifecycleState, { -readonly [F in keyof StateCounters]: number }>;
  for (const s of Object.keys(LIFECYCLE_STATES) as LifecycleState[])
    out[s] = { fixes: 0, radioOnMs: 0, uplinkBytes: 0, uplinkMessages: 0, checkIns: 0 };
  return out;
}

/**
 * The physical model's share of the counters: fixes, radio-on time and check-ins per lifecycle
 * state (the runtime adds uplink bytes and messages, {@link StateMeter.snapshot}).
 */
export class StateMeter {
  readonly #c = zeroCounters();

  /** Adds `n` to `field` of `state`. */
  add(state: LifecycleState, field: 'fixes' | 'radioOnMs' | 'checkIns', n = 1): void {
    this.#c[state][field] += n;
  }

  /** Every state's counters, with the uplink's bytes and messages per state merged in. */
  snapshot(uplink?: Readonly<Partial<Record<string, { bytes: number; messages: number }>>>): KeyCounters {
    const out = {} as Record<LifecycleState, StateCounters>;
    for (const [s, c] of Object.entries(this.#c) as [LifecycleState, StateCounters][]) {
      const u = uplink?.[s];
      out[s] = { ...c, ...(u ? { uplinkBytes: u.bytes, uplinkMessages: u.messages } : {}) };
    }
    return out;
  }
}
