/**
 * Checks of the control API's request bodies: each turns untrusted JSON into a typed value or
 * throws `SIM_BAD_INPUT` naming the field, so a bad request changes nothing.
 * @module
 */
import { MAX_HOLD_S } from '../firmware/physical/gestures.ts';
import { GESTURE_KINDS, type Gesture, type RadioState } from '../firmware/physical/types.ts';
import { ControlError } from './errors.ts';

export { MAX_HOLD_S } from '../firmware/physical/gestures.ts';
/** Highest clock speed (as {@link SimClock.setSpeed}). */
export const MAX_SPEED = 100_000;
/** Longest single clock advance, ms (one year). */
export const MAX_ADVANCE_MS = 366 * 24 * 3600 * 1000;
/** Radio states a request may set. */
export const RADIO_STATES: readonly RadioState[] = ['attached', 'detached', 'no-coverage'];

function bad(message: string): ControlError {
  return new ControlError('SIM_BAD_INPUT', message);
}

/** `v` shown in a message: short, JSON, never more than 40 characters. */
export function show(v: unknown): string {
  const s = v === undefined ? 'nothing' : JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/**
 * The body as a plain object with only `allowed` keys.
 * @throws {@link ControlError} `SIM_BAD_INPUT`
 */
export function objectBody(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('the request body must be a JSON object');
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!allowed.includes(k)) throw bad(`unknown field ${show(k)} (allowed: ${allowed.join(', ') || 'none'})`);
  return o;
}

/**
 * A finite number in [min, max].
 * @throws {@link ControlError} `SIM_BAD_INPUT` naming `field`
 */
export function numberIn(v: unknown, field: string, min: number, max: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
    throw bad(`${field} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${show(v)}`);
  return v;
}

function boolean(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw bad(`${field} must be true or false, got ${show(v)}`);
  return v;
}

/**
 * A gesture body: `{ kind, seconds? }`; `seconds` is required for holds and refused otherwise.
 * @throws {@link ControlError} `SIM_BAD_INPUT`
 */
export function parseGesture(body: unknown): Gesture {
  const o = objectBody(body, ['kind', 'seconds']);
  const kind = o.kind;
  if (typeof kind !== 'string' || !(GESTURE_KINDS as readonly string[]).includes(kind))
    throw bad(`kind must be one of ${GESTURE_KINDS.join(', ')}, got ${show(kind)}`);
  if (kind === 'hold' || kind === 'hold-at-power-on') {
    const seconds = numberIn(o.seconds, 'seconds', 0, MAX_HOLD_S);
    if (seconds === 0) throw bad('seconds must be more than 0 for a hold');
    return { kind, seconds };
  }
  if (o.seconds !== undefined) throw bad(`seconds applies only to hold gestures, not to ${kind}`);
  return { kind } as Gesture;
}

/**
 * A battery body: `{ level?, charging? }`, at least one.
 * @throws {@link ControlError} `SIM_BAD_INPUT`
 */
export function parseBattery(body: unknown): { level?: number; charging?: boolean } {
  const o = objectBody(body, ['level', 'charging']);
  if (o.level === undefined && o.charging === undefined) throw bad('give level (0..100) and/or charging (true/false)');
  return {
    ...(o.level !== undefined ? { level: numberIn(o.level, 'level', 0, 100) } : {}),
    ...(o.charging !== undefined ? { charging: boolean(o.charging, 'charging') } : {}),
  };
}

/**
 * A radio body: `{ state }`.
 * @throws {@link ControlError} `SIM_BAD_INPUT`
 */
export function parseRadio(body: unknown): RadioState {
  const o = objectBody(body, ['state']);
  if (typeof o.state !== 'string' || !(RADIO_STATES as readonly string[]).includes(o.state))
    throw bad(`state must be one of ${RADIO_STATES.join(', ')}, got ${show(o.state)}`);
  return o.state as RadioState;
}

/**
 * A USB body: `{ attached }`.
 * @throws {@link ControlError} `SIM_BAD_INPUT`
 */
export function parseUsb(body: unknown): boolean {
  return boolean(objectBody(body, ['attached']).attached, 'attached');
}

/**
 * A power body: `{ on }`.
 * @throws {@link ControlError} `SIM_BAD_INPUT`
 */
export function parsePower(body: unknown): boolean {
  return boolean(objectBody(body, ['on']).on, 'on');
}

/**
 * A clock body: `{ speed?, advanceMs? }`, at least one.
 * @throws {@link ControlError} `SIM_BAD_INPUT`
 */
export function parseClock(body: unknown): { speed?: number; advanceMs?: number } {
  const o = objectBody(body, ['speed', 'advanceMs']);
  if (o.speed === undefined && o.advanceMs === undefined) throw bad('give speed and/or advanceMs');
  const speed = o.speed === undefined ? undefined : numberIn(o.speed, 'speed', 0, MAX_SPEED);
  if (speed === 0) throw bad('speed must be more than 0');
  return {
    ...(speed !== undefined ? { speed } : {}),
    ...(o.advanceMs !== undefined ? { advanceMs: numberIn(o.advanceMs, 'advanceMs', 0, MAX_ADVANCE_MS) } : {}),
  };
}
