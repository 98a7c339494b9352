/**
 * The one error class of the durable outbox, with its codes and their human meanings, and the
 * two constructors the outbox modules share for its most common codes.
 * @module
 */
import { EnigmError } from '@enigm/protocols/errors';

/**
 * Codes of {@link OutboxError}, each with its human meaning. The meaning is documentation; the
 * thrown message says what exactly was wrong (never a topic or payload byte).
 */
export const OUTBOX_ERROR_CODES = {
  OUTBOX_FULL:
    'the append does not fit: only emergency entries are left to make room (a normal append), or the emergency cap is reached (an emergency append); nothing was written',
  OUTBOX_LOCKED: 'another Outbox (in this process or a live other process) holds the file',
  OUTBOX_IO: 'reading, writing or syncing the log failed; after a failed write the outbox refuses further work until reopened',
  OUTBOX_CLOSED: 'the outbox is closed',
  OUTBOX_BAD_INPUT: 'an argument or option breaks its rule (the message names the field)',
  OUTBOX_TOO_LARGE: 'one payload is larger than the maximum (256 KiB)',
} as const;

/** Symbolic code of an {@link OutboxError}. */
export type OutboxErrorCode = keyof typeof OUTBOX_ERROR_CODES;

/**
 * The one error class of the outbox.
 * @example
 * try { await outbox.append(msg); } catch (e) { if (e instanceof OutboxError && e.code === 'OUTBOX_FULL') backOff(); }
 */
export class OutboxError extends EnigmError<OutboxErrorCode> {
  override readonly name = 'OutboxError';
}

/**
 * An `OUTBOX_IO` error: `what` failed, with the errno code (or message) of `e`, which is the cause.
 * @example throw outboxIoError(`cannot read the outbox ${path}`, e);
 */
export function outboxIoError(what: string, e: unknown): OutboxError {
  const detail = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  return new OutboxError('OUTBOX_IO', `${what}: ${detail}`, { cause: e });
}

/**
 * An `OUTBOX_BAD_INPUT` error whose message names the field and its rule.
 * @example throw outboxBadInput('limit must be an integer ≥ 0');
 */
export function outboxBadInput(what: string): OutboxError {
  return new OutboxError('OUTBOX_BAD_INPUT', what);
}
