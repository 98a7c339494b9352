/**
 * The Key lifecycle state machine as explicit tables: which event moves which state where, and
 * which command each state accepts. No booleans elsewhere decide these questions.
 *
 * @module
 */
import {
  EMERGENCY_OPERATION_STATES,
  LIFECYCLE_REQUEST_STATES,
  type LifecycleState,
  type RequestName,
} from '@enigm/protocols/messages';

/** Lifecycle events (causes of transitions). */
export type LifecycleEvent =
  | 'activate'
  | 'emergency.start'
  | 'emergency.end'
  | 'suspend'
  | 'resume'
  | 'revoke'
  | 'retire'
  | 'wipe'
  | 'update.begin'
  | 'update.end'
  | 'factory-reset';

/** One row of the transition table. */
export interface Transition {
  readonly from: LifecycleState;
  readonly event: LifecycleEvent;
  readonly to: LifecycleState;
  /** How the running Key reaches this row: a protocol request or a button gesture. */
  readonly via: string;
}

/**
 * A transition the Key never makes, by design (not later work): why, and what a host that asks
 * for it gets instead.
 */
export interface NeverTransition {
  readonly from: LifecycleState;
  readonly event: LifecycleEvent;
  /** Why never, and what the Key does instead when asked. */
  readonly why: string;
}

const EMERGENCY_START_VIA =
  'button in `dormant`: triple press, or hold 3–8 s (gesture table); a fresh event (phases: docs/emergency.md)';
const EMERGENCY_END_VIA =
  'the event ends: button hold ≥ 10 s or request `emergency.cancel` (cancelled), request `emergency.resolve` (resolved)';
const REVOKE_VIA = 'request `revoke` (owner or provisioning)';
const RETIRE_VIA = 'request `retire` (owner)';
const RESET_VIA = 'button: hold at power-on ≥ 10 s, then a triple press within 10 s (gesture table, HARDWARE.md)';

/** Every allowed transition; each is reached on a running Key as `via` says. Anything not listed is refused. */
export const TRANSITIONS: readonly Transition[] = [
  { from: 'factory', event: 'activate', to: 'dormant', via: 'request `activate`' },
  { from: 'dormant', event: 'emergency.start', to: 'emergency', via: EMERGENCY_START_VIA },
  { from: 'emergency', event: 'emergency.end', to: 'dormant', via: EMERGENCY_END_VIA },
  { from: 'dormant', event: 'suspend', to: 'suspended', via: 'request `suspend` (owner)' },
  { from: 'suspended', event: 'resume', to: 'dormant', via: 'request `resume` (owner)' },
  { from: 'dormant', event: 'revoke', to: 'revoked', via: REVOKE_VIA },
  { from: 'suspended', event: 'revoke', to: 'revoked', via: REVOKE_VIA },
  { from: 'emergency', event: 'revoke', to: 'revoked', via: REVOKE_VIA },
  { from: 'dormant', event: 'retire', to: 'retired', via: RETIRE_VIA },
  { from: 'suspended', event: 'retire', to: 'retired', via: RETIRE_VIA },
  { from: 'revoked', event: 'retire', to: 'retired', via: `${RETIRE_VIA}; on a revoked Key also provisioning` },
  {
    from: 'retired',
    event: 'wipe',
    to: 'factory',
    via: 'request `retire`, at once: the crypto-wipe (new identity, static key and handle; hosts and chain dropped)',
  },
  {
    from: 'dormant',
    event: 'update.begin',
    to: 'updating',
    via: 'request `fw.test`: the Key boots the new image on test (also a boot that finds one on test)',
  },
  {
    from: 'updating',
    event: 'update.end',
    to: 'dormant',
    via: 'request `fw.confirm`, or `fw.revert` and the boot that reverts',
  },
  // A factory reset: never during an emergency or an update.
  { from: 'factory', event: 'factory-reset', to: 'factory', via: RESET_VIA },
  { from: 'dormant', event: 'factory-reset', to: 'factory', via: RESET_VIA },
  { from: 'suspended', event: 'factory-reset', to: 'factory', via: RESET_VIA },
  { from: 'revoked', event: 'factory-reset', to: 'factory', via: RESET_VIA },
  { from: 'retired', event: 'factory-reset', to: 'factory', via: RESET_VIA },
];

/**
 * Transitions the Key never makes, by design; `nextState` refuses them like any unlisted pair.
 * docs/lifecycle.md lists them beside the table, so they are not mistaken for later work.
 */
export const NEVER_TRANSITIONS: readonly NeverTransition[] = [
  {
    from: 'factory',
    event: 'update.begin',
    why: 'a factory Key keeps `factory` through provisioning updates (the provisioning role may update only in `factory`): `fw.test` there boots the image on test and the Key answers `fw.status` with it on test, but its lifecycle stays `factory`; nothing asks for this transition, so there is no refusal to name',
  },
];

/** The rows of docs/protocol.md's transition table: every transition, then those never made. */
export const TRANSITION_DOC_ROWS: readonly { from: string; event: string; to: string; via?: string; never?: string }[] = [
  ...TRANSITIONS,
  ...NEVER_TRANSITIONS.map((n) => ({ from: n.from, event: n.event, to: '—', never: n.why })),
];

/**
 * The state after `event` in `from`, or `undefined` if the table has no such transition.
 * @example nextState('factory', 'activate') === 'dormant'
 */
export function nextState(from: LifecycleState, event: LifecycleEvent): LifecycleState | undefined {
  return TRANSITIONS.find((t) => t.from === from && t.event === event)?.to;
}

const ALL: readonly LifecycleState[] = ['factory', 'dormant', 'emergency', 'suspended', 'revoked', 'retired', 'updating'];

const FW_STATES: readonly LifecycleState[] = ['factory', 'dormant', 'suspended', 'updating'];

/** Every state but `revoked`: a revoked Key runs public requests, sessions and `retire` only. */
const NOT_REVOKED: readonly LifecycleState[] = ALL.filter((s) => s !== 'revoked');

/**
 * Which lifecycle states accept each request. `hello`, `ping` and `info` are always allowed. The
 * lifecycle operations' rows (`hosts.list`, `hosts.remove`, `suspend`, …) are `LIFECYCLE_REQUEST_STATES`,
 * the Key's part of `LIFECYCLE_OPERATION_STATES` of `@enigm/protocols/messages`,
 * which the host's preflight reads too. A refusal is `KEY_REVOKED` on a revoked Key,
 * `INVALID_STATE` otherwise (`stateRefusal`).
 */
export const COMMAND_STATES: Readonly<Record<RequestName, readonly LifecycleState[]>> = {
  hello: ALL,
  ping: ALL,
  info: ALL,
  activate: ['factory'],
  reboot: NOT_REVOKED,
  'session.start': ALL,
  'session.finish': ALL,
  secure: ALL,
  'session.close': ALL,
  pair: ['factory', 'dormant', 'suspended', 'updating'],
  attest: NOT_REVOKED,
  ...LIFECYCLE_REQUEST_STATES,
  ...EMERGENCY_OPERATION_STATES,
  // Firmware updates: never during an emergency, never on a revoked or retired Key.
  'fw.begin': FW_STATES,
  'fw.chunk': FW_STATES,
  'fw.finish': FW_STATES,
  'fw.test': FW_STATES,
  'fw.confirm': FW_STATES,
  'fw.revert': FW_STATES,
  'fw.status': NOT_REVOKED,
  // Provisioning: a Key is certified before activation, never in the field.
  csr: ['factory'],
  'cert.install': ['factory'],
  'time.set': NOT_REVOKED,
};

/** Whether `command` is allowed in `state`. */
export function commandAllowed(command: RequestName, state: LifecycleState): boolean {
  return COMMAND_STATES[command].includes(state);
}

/** Comma-separated states that accept `command`, for error reasons. */
export function commandAllowedNames(command: RequestName): string {
  return COMMAND_STATES[command].join(', ');
}
