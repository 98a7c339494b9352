/**
 * The error class of the Key client layer.
 * @module
 */
import { EnigmError } from '@enigm/protocols/errors';

/** Codes of {@link KeyError}. */
export const KEY_ERROR_CODES = {
  KEY_TIMEOUT: 'no response within the timeout, after every allowed retry',
  KEY_CANCELLED: 'the caller cancelled the request',
  KEY_CLOSED: 'the link closed before the response arrived',
  KEY_REJECTED: 'the Key answered with an error response (see `remote`)',
  KEY_BAD_RESPONSE: 'the Key answered with a message that does not match the request',
  KEY_INCOMPATIBLE: 'the Key and host share no protocol version, or the Key advertises unusable limits',
  KEY_TOO_LARGE: 'the request is larger than the frame size the Key accepts',
  KEY_BUSY: 'too many requests are already waiting for the Key; nothing was sent',
  KEY_OUTCOME_UNKNOWN:
    'a session request got no authenticated answer (a cleartext error, or the session ended): it may or may not have run',
  KEY_IDENTITY_MISMATCH:
    'the Key is not the one expected: its authenticated identity or handle differs from the pin or from what was asked for',
} as const;

/** Symbolic code of a {@link KeyError}. */
export type KeyErrorCode = keyof typeof KEY_ERROR_CODES;

/** A wire error reported by the Key: number, stable name and human reason. */
export interface RemoteError {
  code: number;
  name: string;
  reason: string;
}

/** The one error class of the Key client. */
export class KeyError extends EnigmError<KeyErrorCode> {
  override readonly name = 'KeyError';
  /** For `KEY_REJECTED`: the Key's error response. */
  readonly remote?: RemoteError;

  constructor(code: KeyErrorCode, message: string, options?: { cause?: unknown; remote?: RemoteError }) {
    super(code, message, options);
    if (options?.remote) this.remote = options.remote;
  }

  override toJSON() {
    return { ...super.toJSON(), ...(this.remote ? { remote: this.remote } : {}) };
  }
}
