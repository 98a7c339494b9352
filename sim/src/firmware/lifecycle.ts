/**
 * The Key lifecycle state machine as explicit tables: which event moves which state where, and
 * which command each state accepts. No booleans elsewhere decide these questions.
 *
 * @module
 */
import type { LifecycleState, RequestName } from '@enigm/protocols/messages';

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
  | 'update.end';

/** One row of the transition table. */
export interface Transition {
  readonly from: LifecycleState;
  readonly event: LifecycleEvent;
  readonly to: LifecycleState;
}

/** Every allowed transition. Anything not listed is refused. */
export const TRANSITIONS: readonly Transition[] = [
  { from: 'factory', event: 'activate', to: 'dormant' },
  { from: 'dormant', event: 'emergency.start', to: 'emergency' },
  { from: 'emergency', event: 'emergency.end', to: 'dormant' },
  { from: 'dormant', event: 'suspend', to: 'suspended' },
  { from: 'suspended', event: 'resume', to: 'dormant' },
  { from: 'dormant', event: 'revoke', to: 'revoked' },
  { from: 'suspended', event: 'revoke', to: 'revoked' },
  { from: 'emergency', event: 'revoke', to: 'revoked' },
  { from: 'dormant', event: 'retire', to: 'retired' },
  { from: 'suspended', event: 'retire', to: 'retired' },
  { from: 'revoked', event: 'retire', to: 'retired' },
  { from: 'retired', event: 'wipe', to: 'factory' },
  { from: 'dormant', event: 'update.begin', to: 'updating' },
  { from: 'factory', event: 'update.begin', to: 'updating' },
  { from: 'updating', event: 'update.end', to: 'dormant' },
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

/** Which lifecycle states accept each request. `hello`, `ping` and `info` are always allowed. */
export const COMMAND_STATES: Readonly<Record<RequestName, readonly LifecycleState[]>> = {
  hello: ALL,
  ping: ALL,
  info: ALL,
  activate: ['factory'],
  reboot: ALL,
  'session.start': ALL,
  'session.finish': ALL,
  secure: ALL,
  'session.close': ALL,
  pair: ['factory', 'dormant', 'suspended', 'updating'],
  attest: ALL,
  'hosts.list': ['factory', 'dormant', 'emergency', 'suspended', 'revoked', 'updating'],
  // Firmware updates: never during an emergency, never on a revoked or retired Key.
  'fw.begin': FW_STATES,
  'fw.chunk': FW_STATES,
  'fw.finish': FW_STATES,
  'fw.test': FW_STATES,
  'fw.confirm': FW_STATES,
  'fw.revert': FW_STATES,
  'fw.status': ALL,
};

/** Whether `command` is allowed in `state`. */
export function commandAllowed(command: RequestName, state: LifecycleState): boolean {
  return COMMAND_STATES[command].includes(state);
}

/** Comma-separated states that accept `command`, for error reasons. */
export function commandAllowedNames(command: RequestName): string {
  return COMMAND_STATES[command].join(', ');
}
