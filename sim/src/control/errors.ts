/**
 * Errors of the control API and how they map to HTTP: every error answer is
 * `{ error: { code, name, reason } }` with a status chosen by its code.
 * @module
 */
import { EnigmError } from '@enigm/protocols/errors';

/** Codes of {@link ControlError} (the simulator's own codes, e.g. `SIM_NO_SUCH_KEY`, pass through). */
export type ControlErrorCode =
  /** no bearer token, or a wrong one */
  | 'CONTROL_UNAUTHORIZED'
  /** no such route */
  | 'CONTROL_NOT_FOUND'
  /** the route exists but not with this method */
  | 'CONTROL_METHOD_NOT_ALLOWED'
  /** the request body is larger than the server accepts */
  | 'CONTROL_BODY_TOO_LARGE'
  /** the control port is taken (another simulator, or another program) */
  | 'CONTROL_PORT_IN_USE'
  /** too many WebSocket clients */
  | 'CONTROL_BUSY'
  /** the server failed; the reason names no detail */
  | 'CONTROL_INTERNAL'
  /** a request body or parameter is invalid (same code as the simulator's own input checks) */
  | 'SIM_BAD_INPUT'
  /** a Key index out of range (same code as the simulator's) */
  | 'SIM_NO_SUCH_KEY'
  /** the control API cannot be reached, or answered something that is not the control API */
  | 'CONTROL_UNREACHABLE'
  /** no running simulator with a control API was found in the state folder */
  | 'CONTROL_NOT_RUNNING';

/**
 * An error of the control API (server side or client side).
 * @example throw new ControlError('SIM_BAD_INPUT', 'level must be a number in [0, 100], got 140');
 */
export class ControlError extends EnigmError<ControlErrorCode> {
  override readonly name: string = 'ControlError';
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly name: string; readonly reason: string };
}

/** HTTP status of each code the server answers with; any other coded error is a conflict (409). */
const STATUS: Readonly<Record<string, number>> = {
  SIM_BAD_INPUT: 400,
  CONTROL_UNAUTHORIZED: 401,
  SIM_NO_SUCH_KEY: 404,
  CONTROL_NOT_FOUND: 404,
  CONTROL_METHOD_NOT_ALLOWED: 405,
  CONTROL_BODY_TOO_LARGE: 413,
  CONTROL_BUSY: 503,
  CONTROL_INTERNAL: 500,
};

/**
 * The HTTP status and body of any thrown value. An error with a string `code` keeps its code,
 * name and message (the simulator's messages carry metadata only); anything else is a 500 with
 * no detail.
 * @param e - what a handler threw
 * @returns status and JSON body
 * @throws never
 */
export function errorAnswer(e: unknown): { status: number; body: ErrorBody } {
  const x = e as { code?: unknown; name?: unknown; message?: unknown };
  if (e instanceof Error && typeof x.code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(x.code) && !('syscall' in e)) {
    return {
      status: STATUS[x.code] ?? 409,
      body: { error: { code: x.code, name: e.name, reason: e.message } },
    };
  }
  return {
    status: 500,
    body: {
      error: { code: 'CONTROL_INTERNAL', name: 'ControlError', reason: 'the control server failed to handle the request' },
    },
  };
}
