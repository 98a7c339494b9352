/**
 * The emergency event as explicit tables: its phases and what moves it between them
 * ({@link EMERGENCY_TRANSITIONS}), and what the Key does in each state at each battery level
 * ({@link EMERGENCY_POWER}, {@link BATTERY_BEHAVIOUR}). The running Key ({@link EmergencyEngine})
 * reads these tables and nothing else to decide; docs/emergency.md's "States" section, with its
 * Mermaid diagram, is rendered from them ({@link renderEmergencyStates}).
 *
 * An event lives inside the lifecycle state `emergency`: `none` is "no event" (the Key is
 * dormant); `triggered` and `active` are running phases; `cancelled`, `resolved` and `revoked` are
 * terminal — the event ends at once (end record, sampling stops, event keys erased) and the Key
 * goes back to `dormant` (to `revoked` after a revoke).
 * @module
 */
import type { EmergencyPhase } from '@enigm/protocols/messages';
import { EMERGENCY_END_HOLD_S, EMERGENCY_HOLD_S, PAIRING_HOLD_S } from './physical/gestures.ts';

/** A phase, or `none`: no event (dormant). */
export type PhaseOrNone = 'none' | EmergencyPhase;

/** What moves an event between phases. */
export type EmergencyTrigger = 'start' | 'fix' | 'timeout' | 'cancel' | 'resolve' | 'revoke';

/** One row of the phase table. */
export interface PhaseTransition {
  readonly from: PhaseOrNone;
  readonly trigger: EmergencyTrigger;
  readonly to: EmergencyPhase;
  /** How the running Key reaches the row. */
  readonly via: string;
}

/** A triggered event without a GNSS fix becomes active after this long anyway, ms. */
export const EMERGENCY_TRIGGER_MS = 30_000;
/** How often a running event seals the latest fix (normal battery), ms. */
export const EMERGENCY_FIX_INTERVAL_MS = 10_000;
/** How often a running event sends a sealed status record (normal battery), ms. */
export const EMERGENCY_STATUS_INTERVAL_MS = 60_000;
/** Past events the Key remembers (id, start, end, outcome — never a location). */
export const MAX_PAST_EVENTS = 8;

/** The phases that are still running (sampling on). */
export const RUNNING_PHASES: readonly EmergencyPhase[] = ['triggered', 'active'];
/** The phases an event ends in. */
export const TERMINAL_PHASES: readonly EmergencyPhase[] = ['cancelled', 'resolved', 'revoked'];

const START_VIA = `button in \`dormant\`: triple press, or hold ${EMERGENCY_HOLD_S}–${PAIRING_HOLD_S} s (gesture table)`;
const CANCEL_VIA = `button: hold ≥ ${EMERGENCY_END_HOLD_S} s; or request \`emergency.cancel\` (owner)`;
const REVOKE_VIA = 'request `revoke` (owner or provisioning): the Key goes to `revoked`, not `dormant`';

/** Every allowed phase transition. Anything not listed is refused `INVALID_PHASE`. */
export const EMERGENCY_TRANSITIONS: readonly PhaseTransition[] = [
  { from: 'none', trigger: 'start', to: 'triggered', via: `${START_VIA}; fresh event id and event key` },
  { from: 'triggered', trigger: 'fix', to: 'active', via: 'the first GNSS fix of the event' },
  {
    from: 'triggered',
    trigger: 'timeout',
    to: 'active',
    via: `${EMERGENCY_TRIGGER_MS / 1000} s without a fix (the Key keeps trying)`,
  },
  { from: 'triggered', trigger: 'cancel', to: 'cancelled', via: CANCEL_VIA },
  { from: 'active', trigger: 'cancel', to: 'cancelled', via: CANCEL_VIA },
  { from: 'active', trigger: 'resolve', to: 'resolved', via: 'request `emergency.resolve` (owner)' },
  { from: 'triggered', trigger: 'revoke', to: 'revoked', via: REVOKE_VIA },
  { from: 'active', trigger: 'revoke', to: 'revoked', via: REVOKE_VIA },
];

/**
 * The phase after `trigger` in `from`, or `undefined` if the table refuses it.
 * @example nextPhase('triggered', 'resolve') === undefined
 */
export function nextPhase(from: PhaseOrNone, trigger: EmergencyTrigger): EmergencyPhase | undefined {
  return EMERGENCY_TRANSITIONS.find((t) => t.from === from && t.trigger === trigger)?.to;
}

/** The battery as the emergency tables see it. */
export type BatteryBand = 'normal' | 'low' | 'critical';

/** Sampling and status rates of a running event at each battery band, ms. */
export const EMERGENCY_POWER: Readonly<Record<BatteryBand, { readonly fixMs: number; readonly statusMs: number }>> = {
  normal: { fixMs: EMERGENCY_FIX_INTERVAL_MS, statusMs: EMERGENCY_STATUS_INTERVAL_MS },
  low: { fixMs: 30_000, statusMs: 120_000 },
  critical: { fixMs: 120_000, statusMs: 600_000 },
};

/** What each state does at each battery band (docs; the rates are {@link EMERGENCY_POWER}'s). */
export const BATTERY_BEHAVIOUR: Readonly<Record<'dormant' | 'triggered' | 'active', Readonly<Record<BatteryBand, string>>>> = {
  dormant: {
    normal: 'GNSS off, no location taken, nothing sealed',
    low: 'as normal; a press shows amber; the `battery` event tells hosts',
    critical: 'as normal; a press shows red, the LED blinks red; firmware updates refused `BATTERY_CRITICAL` unless charging',
  },
  triggered: {
    normal: 'GNSS on; status and (after the first fix) location at the normal rates',
    low: 'GNSS on; the low rates',
    critical:
      'a signed, sealed `battery-critical` status first (also when the event starts on a critical battery), then the critical rates',
  },
  active: {
    normal: 'as triggered',
    low: 'as triggered',
    critical: 'as triggered: `battery-critical` status first, then the critical rates',
  },
};

/** The band of a battery: critical (≤ 5 %, not charging) before low (≤ 15 %). */
export function batteryBand(b: { level: number; charging: boolean; critical: boolean }, lowPct: number): BatteryBand {
  if (b.critical && !b.charging) return 'critical';
  return b.level <= lowPct && !b.charging ? 'low' : 'normal';
}

/** The phase table as a Mermaid state diagram (docs/emergency.md; a test checks the document holds it). */
export function renderEmergencyDiagram(): string {
  const lines = ['```mermaid', 'stateDiagram-v2', '  [*] --> none'];
  for (const t of EMERGENCY_TRANSITIONS) lines.push(`  ${t.from} --> ${t.to}: ${t.trigger}`);
  for (const p of TERMINAL_PHASES) lines.push(`  ${p} --> [*]`);
  lines.push('```');
  return lines.join('\n');
}

/** docs/emergency.md's "States" section, rendered from the tables. */
export function renderEmergencyStates(): string {
  const out: string[] = [];
  const p = (s = '') => out.push(s);
  p('## States');
  p();
  p('<!-- Rendered by renderEmergencyStates() in sim/src/firmware/emergency.ts (`npm run docs:protocol`); a test checks it. -->');
  p();
  p('An emergency event runs inside the lifecycle state `emergency` (docs/lifecycle.md). Its phases:');
  p('`none` is "no event" (the Key is `dormant`); `triggered` and `active` run (GNSS on, records sent);');
  p('`cancelled`, `resolved` and `revoked` end the event at once: an end record signed by the identity key,');
  p('sampling stops, the event key is erased, one line goes into the bounded event log, and the Key is');
  p('`dormant` again (`revoked` after a revoke). Anything the table does not list is refused `INVALID_PHASE`');
  p('(a command in a lifecycle state that refuses it: `INVALID_STATE`).');
  p();
  p(renderEmergencyDiagram());
  p();
  p('| from | trigger | to | reached by |');
  p('|---|---|---|---|');
  for (const t of EMERGENCY_TRANSITIONS) p(`| ${t.from} | ${t.trigger} | ${t.to} | ${t.via} |`);
  p();
  p('### Battery');
  p();
  p('Bands: critical at ≤ 5 % and not charging, low at ≤ 15 % and not charging (HARDWARE.md "Battery").');
  p();
  p('| state | normal | low | critical |');
  p('|---|---|---|---|');
  for (const [s, row] of Object.entries(BATTERY_BEHAVIOUR)) p(`| ${s} | ${row.normal} | ${row.low} | ${row.critical} |`);
  p();
  p('| band | location sealed every | status every |');
  p('|---|---|---|');
  for (const [band, r] of Object.entries(EMERGENCY_POWER)) p(`| ${band} | ${r.fixMs / 1000} s | ${r.statusMs / 1000} s |`);
  return out.join('\n');
}

/** Markers of the rendered "States" section in docs/emergency.md. */
export const EMERGENCY_STATES_MARKERS = {
  begin: '<!-- emergency-states:begin -->',
  end: '<!-- emergency-states:end -->',
} as const;

/** Path of the document, from the repository root. */
export const EMERGENCY_DOC_PATH = 'docs/emergency.md';

/**
 * `doc` with the "States" section between its markers replaced by the rendering; a document
 * without the markers gets the section appended.
 */
export function spliceEmergencyStates(doc: string, section = renderEmergencyStates()): string {
  const { begin, end } = EMERGENCY_STATES_MARKERS;
  const block = `${begin}\n${section}\n${end}`;
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end);
  if (a < 0 || b < a) return `${doc.trimEnd()}\n\n${block}\n`;
  return `${doc.slice(0, a)}${block}${doc.slice(b + end.length)}`;
}
