/**
 * What a scenario may check: every field of a Key's state ({@link DeviceState}) and of each event
 * type ({@link DeviceEvent}), with its type, so a typo or a wrong type in a scenario file is an
 * error naming the line, not an expectation that can never pass. Also how a matcher is evaluated.
 * @module
 */
import { EMERGENCY_PHASES, LIFECYCLE_STATES } from '@enigm/protocols/messages';
import { COUNTER_FIELDS } from '../firmware/dormancy.ts';
import { GESTURE_KINDS } from '../firmware/physical/types.ts';
import { type FieldMatch, RADIO_STATES, type ValueMatcher } from './types.ts';

/** Type of a checkable field; `values` lists a string field's allowed values. */
export interface FieldSpec {
  readonly type: 'number' | 'string' | 'boolean' | 'object';
  readonly values?: readonly string[];
}

const num: FieldSpec = { type: 'number' };
const str: FieldSpec = { type: 'string' };
const bool: FieldSpec = { type: 'boolean' };
const obj: FieldSpec = { type: 'object' };
const oneOf = (values: readonly string[]): FieldSpec => ({ type: 'string', values });
const LIFECYCLES = Object.keys(LIFECYCLE_STATES);
const PHASES = Object.keys(EMERGENCY_PHASES);
/** Kinds of emergency record (`EmergencyRecordKind`). */
const RECORD_KINDS = ['start', 'location', 'status', 'battery-critical', 'end'];

/** Fields of {@link DeviceState}, by dotted path. */
export const STATE_FIELDS: Readonly<Record<string, FieldSpec>> = {
  index: num,
  lifecycle: oneOf(LIFECYCLES),
  model: str,
  firmware: str,
  handle: str,
  pairedHosts: num,
  pairingWindowUntil: num,
  power: oneOf(['on', 'off']),
  usb: bool,
  battery: obj,
  'battery.level': num,
  'battery.charging': bool,
  'battery.low': bool,
  'battery.critical': bool,
  radio: obj,
  'radio.state': oneOf(RADIO_STATES),
  'radio.onMs': num,
  gnss: obj,
  'gnss.powered': bool,
  'gnss.fixes': num,
  'gnss.refused': num,
  'gnss.last': obj,
  'gnss.last.lat': num,
  'gnss.last.lon': num,
  'gnss.last.accuracyM': num,
  'gnss.last.atMs': num,
  led: str,
  haptics: num,
  factoryResetArmedUntil: num,
  // The emergency event, metadata only (physical/types.ts `EmergencyState`).
  emergency: obj,
  'emergency.phase': oneOf(['none', ...PHASES]),
  'emergency.eventId': str,
  'emergency.records': num,
  'emergency.startedAt': num,
  // What the Key did per lifecycle state (sim/src/firmware/dormancy.ts), e.g. `counters.dormant.fixes`.
  counters: obj,
  ...Object.fromEntries(
    LIFECYCLES.flatMap((s) => [[`counters.${s}`, obj], ...COUNTER_FIELDS.map((f) => [`counters.${s}.${f}`, num])]),
  ),
};

const FIX_FIELDS = { fix: obj, 'fix.lat': num, 'fix.lon': num, 'fix.accuracyM': num, 'fix.atMs': num };

/** Fields of each {@link DeviceEvent} type (besides `type`, `key` and `at`). */
export const EVENT_FIELDS: Readonly<Record<string, Readonly<Record<string, FieldSpec>>>> = {
  gesture: {
    gesture: obj,
    'gesture.kind': oneOf(GESTURE_KINDS),
    'gesture.seconds': num,
    outcome: obj,
    'outcome.action': str,
    'outcome.done': bool,
    'outcome.refused': str,
  },
  lifecycle: { from: oneOf(LIFECYCLES), to: oneOf(LIFECYCLES) },
  output: { led: str, haptic: str },
  battery: { level: num, charging: bool, low: bool, critical: bool },
  radio: { state: oneOf(RADIO_STATES) },
  usb: { attached: bool },
  power: { on: bool, tornWrite: bool },
  gnss: { ...FIX_FIELDS, refused: bool },
  'pairing-window': { until: num },
  'factory-reset': { phase: oneOf(['armed', 'confirmed', 'expired']) },
  frame: { direction: oneOf(['in', 'out']), link: str, messageType: str, bytes: num },
  link: { link: str, phase: oneOf(['open', 'closed']) },
  emergency: { phase: oneOf(PHASES), eventId: str, records: num },
  'emergency-record': { eventId: str, kind: oneOf(RECORD_KINDS), seq: num, bytes: num, records: num },
};

/** Fields of a gesture's outcome (a gesture step's `outcome:` check). */
export const OUTCOME_FIELDS: Readonly<Record<string, FieldSpec>> = { action: str, done: bool, refused: str };

/** The value at a dotted path of `root`, or `undefined`. */
export function valueAt(root: unknown, path: string): unknown {
  let v: unknown = root;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** Whether `actual` satisfies `m`. */
export function matches(actual: unknown, m: ValueMatcher): boolean {
  switch (m.op) {
    case 'absent':
      return actual === undefined || actual === null;
    case 'present':
      return actual !== undefined && actual !== null;
    case 'eq':
      return actual === m.value;
    default: {
      if (typeof actual !== 'number') return false;
      const v = m.value;
      return m.op === 'lt'
        ? actual < v
        : m.op === 'le'
          ? actual <= v
          : m.op === 'gt'
            ? actual > v
            : m.op === 'ge'
              ? actual >= v
              : actual !== v;
    }
  }
}

const OP_TEXT: Readonly<Record<ValueMatcher['op'], string>> = {
  eq: '=',
  ne: '≠',
  lt: '<',
  le: '≤',
  gt: '>',
  ge: '≥',
  absent: 'absent',
  present: 'present',
};

/** A matcher as text, e.g. `≤ 50`, `= dormant`, `absent`. */
export function describeMatcher(m: ValueMatcher): string {
  return 'value' in m ? `${OP_TEXT[m.op]} ${m.value}` : OP_TEXT[m.op];
}

/** A field check as text, e.g. `battery.level ≤ 50`. */
export function describeMatch(f: FieldMatch): string {
  return `${f.path} ${describeMatcher(f.matcher)}`;
}

/** A value as a report shows it (`absent` for a missing field). */
export function showValue(v: unknown): string {
  return v === undefined || v === null ? 'absent' : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/**
 * The first check of `checks` that `root` fails, with what was found, or `undefined` if all hold.
 * @example firstMismatch(state, [{ path: 'lifecycle', matcher: { op: 'eq', value: 'dormant' } }])
 */
export function firstMismatch(root: unknown, checks: readonly FieldMatch[]): string | undefined {
  for (const c of checks) {
    const actual = valueAt(root, c.path);
    if (!matches(actual, c.matcher)) return `${c.path} is ${showValue(actual)} (expected ${describeMatcher(c.matcher)})`;
  }
  return undefined;
}
