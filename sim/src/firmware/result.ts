/**
 * What a Key command answers: a typed response body (with optional long-operation work), or a
 * wire error value. Handlers return these; nothing is thrown to report a refusal.
 * @module
 */
import {
  type BodyOf,
  type HostRole,
  KEY_ERRORS,
  type KeyErrorName,
  type RequestName,
  type ResponseOf,
} from '@enigm/protocols/messages';

/** A wire error produced by the firmware: a stable name and a human reason. */
export interface WireError {
  readonly error: KeyErrorName;
  readonly reason: string;
}

/** Makes a {@link WireError} with the default reason unless one is given. */
export function wireError(error: KeyErrorName, reason?: string): WireError {
  return { error, reason: reason ?? KEY_ERRORS[error].reason };
}

/** Whether `r` is a {@link WireError}. */
export function isWireError(r: object): r is WireError {
  return 'error' in r;
}

/** A successful answer to request `K`. */
export interface Answer<K extends RequestName> {
  /** The response body (typed by the catalogue). */
  readonly body: BodyOf<ResponseOf<K>>;
  /** Pairing changed the session's role to this one. */
  readonly role?: HostRole;
  /**
   * A long operation this request started: the runtime calls it until it returns `false` (one
   * step per call, sending keepalives in between) before sending the response.
   */
  readonly work?: () => boolean;
}

/** An answer the link has already encoded (a `secure` response, sealed by the session). */
export interface LinkFrame {
  readonly frame: Uint8Array;
}

/** What the handler of request `K` returns. */
export type Outcome<K extends RequestName> = (K extends 'secure' ? LinkFrame : Answer<K>) | WireError;
