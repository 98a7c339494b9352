/**
 * The button's gesture table: which gesture, in which situation, maps to which firmware action.
 * One table, first matching row wins; HARDWARE.md's "User interface" section is rendered from it
 * ({@link renderGestureTable}, spliced by `npm run docs:protocol`, checked by a test). Pure: no
 * clock, no I/O — the physical model ({@link PhysicalKey}) carries the actions out.
 * @module
 */
import type { LifecycleState } from '@enigm/protocols/messages';
import { SimulatorError } from '../../runtime/errors.ts';
import { GESTURE_KINDS, type Gesture } from './types.ts';

/** What a gesture can make the firmware do. */
export type GestureAction =
  | 'none'
  | 'show-status'
  | 'pairing-window'
  | 'emergency-start'
  | 'emergency-end'
  | 'factory-reset-armed'
  | 'factory-reset'
  | 'boot';

/** What the table looks at besides the gesture itself. */
export interface GestureContext {
  readonly lifecycle: LifecycleState;
  /** A factory reset is armed and waits for its confirmation. */
  readonly resetArmed: boolean;
}

/** One row of the gesture table. */
export interface GestureRow {
  /** The gesture, as the docs name it. */
  readonly gesture: string;
  /** The situation the row applies in, as the docs name it. */
  readonly when: string;
  readonly action: GestureAction;
  /** What the Key does, as the docs say it. */
  readonly effect: string;
  /** Whether the row applies. */
  readonly match: (g: Gesture, c: GestureContext) => boolean;
}

/** How long the pairing window stays open after the pairing gesture, ms. */
export const PAIRING_WINDOW_MS = 60_000;
/** How long an armed factory reset waits for its confirming triple press, ms. */
export const RESET_CONFIRM_MS = 10_000;
/** Shortest hold that starts an emergency, s. */
export const EMERGENCY_HOLD_S = 3;
/** Shortest hold that opens the pairing window, s. */
export const PAIRING_HOLD_S = 8;
/** Shortest hold that ends an emergency, s. */
export const EMERGENCY_END_HOLD_S = 10;
/** Shortest hold at power-on that arms a factory reset, s. */
export const RESET_HOLD_S = 10;
/** Longest hold the model accepts, s. */
export const MAX_HOLD_S = 120;

const seconds = (g: Gesture) => ('seconds' in g ? g.seconds : 0);
const held = (g: Gesture) => g.kind === 'hold';
const inEmergency = (c: GestureContext) => c.lifecycle === 'emergency';

const START_EFFECT =
  'starts an emergency event in `dormant` (phase `triggered`: fresh event id and key, GNSS on; a long haptic for the wearer, the LED stays dark); refused `INVALID_STATE` in any other state';

/** The gesture table. First matching row wins; the last row matches everything. */
export const GESTURE_TABLE: readonly GestureRow[] = [
  {
    gesture: `hold at power-on ≥ ${RESET_HOLD_S} s`,
    when: 'power restored with the button down (on a running Key: power-cycled)',
    action: 'factory-reset-armed',
    effect: `boots with the LED red: a factory reset is armed for ${RESET_CONFIRM_MS / 1000} s`,
    match: (g) => g.kind === 'hold-at-power-on' && g.seconds >= RESET_HOLD_S,
  },
  {
    gesture: `hold at power-on < ${RESET_HOLD_S} s`,
    when: 'power restored with the button down',
    action: 'boot',
    effect: 'boots normally',
    match: (g) => g.kind === 'hold-at-power-on',
  },
  {
    gesture: 'triple press (within 2 s)',
    when: 'a factory reset is armed',
    action: 'factory-reset',
    effect:
      'wipes the Key: paired hosts forgotten, new identity and static key in the secure element, new handle, lifecycle `factory`',
    match: (g, c) => g.kind === 'triple' && c.resetArmed,
  },
  {
    gesture: `hold ≥ ${EMERGENCY_END_HOLD_S} s`,
    when: 'in `emergency`',
    action: 'emergency-end',
    effect: 'cancels the event (`cancelled`, then `dormant`): end record signed, sampling stops, event key erased; long haptic',
    match: (g, c) => held(g) && inEmergency(c) && seconds(g) >= EMERGENCY_END_HOLD_S,
  },
  {
    gesture: 'any other gesture',
    when: 'in `emergency`',
    action: 'none',
    effect: 'nothing (an emergency is not ended or changed by accident)',
    match: (g, c) => inEmergency(c) && g.kind !== 'press',
  },
  {
    gesture: 'triple press (within 2 s)',
    when: 'otherwise',
    action: 'emergency-start',
    effect: START_EFFECT,
    match: (g) => g.kind === 'triple',
  },
  {
    gesture: `hold ${EMERGENCY_HOLD_S}–${PAIRING_HOLD_S} s`,
    when: 'otherwise',
    action: 'emergency-start',
    effect: START_EFFECT,
    match: (g) => held(g) && seconds(g) >= EMERGENCY_HOLD_S && seconds(g) < PAIRING_HOLD_S,
  },
  {
    gesture: `hold ≥ ${PAIRING_HOLD_S} s`,
    when: 'otherwise (classified on release)',
    action: 'pairing-window',
    effect: `opens the pairing window for ${PAIRING_WINDOW_MS / 1000} s (LED blue pulse); refused \`PAIRING_NOT_ALLOWED\` in a state that refuses \`pair\``,
    match: (g) => held(g) && seconds(g) >= PAIRING_HOLD_S,
  },
  {
    gesture: 'press',
    when: 'any state',
    action: 'show-status',
    effect: 'the LED shows the status for a moment (lifecycle colour; amber when the battery is low, red when critical)',
    match: (g) => g.kind === 'press',
  },
  {
    gesture: `double press, hold < ${EMERGENCY_HOLD_S} s`,
    when: 'any state',
    action: 'none',
    effect: 'nothing (accidental presses in a pocket do nothing)',
    match: () => true,
  },
];

/** The row that applies to `g` in context `c`. */
export function classifyGesture(g: Gesture, c: GestureContext): GestureRow {
  return GESTURE_TABLE.find((r) => r.match(g, c)) as GestureRow;
}

/**
 * Checks a gesture from outside (control API, scenario, test) and returns it as a clean value.
 * @throws SimulatorError `SIM_BAD_INPUT`: not an object, an unknown kind, or a hold whose
 *   `seconds` is not a number in (0, {@link MAX_HOLD_S}]
 */
export function validateGesture(g: unknown): Gesture {
  const bad = (reason: string) => new SimulatorError('SIM_BAD_INPUT', `invalid gesture: ${reason}`);
  if (g === null || typeof g !== 'object') throw bad('expected an object with a kind');
  const kind = (g as { kind?: unknown }).kind;
  if (typeof kind !== 'string' || !(GESTURE_KINDS as readonly string[]).includes(kind))
    throw bad(`kind must be one of ${GESTURE_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  if (kind === 'hold' || kind === 'hold-at-power-on') {
    const s = (g as { seconds?: unknown }).seconds;
    if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0 || s > MAX_HOLD_S)
      throw bad(`${kind} needs seconds in (0, ${MAX_HOLD_S}], got ${JSON.stringify(s)}`);
    return { kind, seconds: s };
  }
  return { kind } as Gesture;
}

/** The gesture table as Markdown (HARDWARE.md, between the gesture-table markers). */
export function renderGestureTable(): string {
  const rows = GESTURE_TABLE.map((r) => `| ${r.gesture} | ${r.when} | \`${r.action}\` | ${r.effect} |`);
  return ['| gesture | when | action | what the Key does |', '|---|---|---|---|', ...rows].join('\n');
}

const START = '<!-- gesture-table:start (rendered by renderGestureTable() in sim/src/firmware/physical/gestures.ts) -->';
const END = '<!-- gesture-table:end -->';

/**
 * Replaces the gesture table between its markers in `doc`.
 * @throws Error if the markers are missing
 */
export function spliceGestureTable(doc: string, table = renderGestureTable()): string {
  const a = doc.indexOf(START);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error('no gesture-table markers in the document');
  return `${doc.slice(0, a + START.length)}\n${table}\n${doc.slice(b)}`;
}
