/**
 * The error class of the Key facade ({@link openKey}): failures of the domain flows — pinning,
 * known-host sessions, evidence, the update flow — each with a stable code. Errors of the layers
 * below (`KeyError` from the client and session, `TransportError`) pass through unchanged, so a
 * caller matches on `code` whatever layer failed.
 * @module
 */
import { EnigmError } from '@enigm/protocols/errors';

/** Codes of {@link KeyFacadeError}, each with its meaning. */
export const KEY_FACADE_ERROR_CODES = {
  KEY_NOT_PAIRED: 'this host has not paired with the Key (no pinned entry for its handle)',
  KEY_NOT_PAIRABLE:
    'the Key does not pair now: it has paired hosts and its pairing window is closed (it then shows its identity to no one new)',
  KEY_HOST_UNKNOWN: 'the Key refused the known-host session: it no longer knows this host (reset, or this host removed)',
  KEY_IDENTITY_MISMATCH: 'the Key shows an identity or static key other than the pinned one (possible impersonation)',
  KEY_EVIDENCE_INVALID: "the Key's evidence does not decode, does not verify under the pinned identity, or names another nonce",
  KEY_CSR_INVALID: "the Key's certification request does not parse or its signature does not verify (no proof of possession)",
  KEY_IMAGE_INVALID: 'the firmware image does not parse (header, manifest, payload size or digest)',
  KEY_HEALTH_FAILED: 'after the test boot the Key does not run the new image on test',
  KEY_RECONNECT_FAILED: 'the Key did not come back within the reconnect attempts',
  KEY_ABORTED: 'the caller aborted the operation (its signal fired); running it again resumes',
  KEY_BAD_ARGUMENT: 'an argument the facade cannot use (e.g. a nonce of the wrong length, an unknown role)',
  KEY_CLOSED_FACADE: 'the Key object was closed',
  KEY_INVALID_STATE:
    "the Key's lifecycle state does not allow the operation (refused before asking, as the Key would: INVALID_STATE)",
  KEY_REVOKED_BY_LIST:
    "the Key's authenticated identity is on the host's revocation list: sessions are refused, except to retire it",
  KEY_REVOKED: 'the Key is revoked: it runs nothing but retire (refused before asking, as the Key would: KEY_REVOKED)',
  KEY_FORBIDDEN:
    "this host's role on the Key may not run the operation (the Key answered FORBIDDEN, or the role table said so before asking)",
  KEY_INVALID_PHASE:
    "the emergency event's phase does not allow the operation (e.g. resolve while only triggered; the Key answered INVALID_PHASE)",
  KEY_CONTACTS_STALE: 'the contact set is not newer than the one the Key holds (the Key answered CONTACTS_STALE)',
  KEY_CONTACTS_SIGNER:
    'the contact set is signed by another key than the owner key the Key pinned (the Key answered CONTACTS_SIGNER)',
  KEY_CONTACTS_INVALID:
    'the contact set is unsigned, malformed, oversized or its signature does not verify (the Key answered CONTACTS_INVALID)',
  KEY_ACK_INVALID:
    'the acknowledgement is malformed, for another event, not signed by a contact of the set, or replayed (the Key answered ACK_INVALID)',
} as const;

/** Symbolic code of a {@link KeyFacadeError}. */
export type KeyFacadeErrorCode = keyof typeof KEY_FACADE_ERROR_CODES;

/**
 * The one error class of the Key facade.
 * @example
 * try { await key.session(); } catch (e) {
 *   if (e instanceof KeyFacadeError && e.code === 'KEY_NOT_PAIRED') console.log('pair first');
 * }
 */
export class KeyFacadeError extends EnigmError<KeyFacadeErrorCode> {
  override readonly name = 'KeyFacadeError';
  /** For `KEY_ABORTED` and update-flow failures: the step that was running (e.g. `upload`). */
  readonly step?: string;

  /**
   * @param code - stable code (see {@link KEY_FACADE_ERROR_CODES})
   * @param message - human reason (no secrets)
   * @param options - `cause`, and the update `step` that failed
   */
  constructor(code: KeyFacadeErrorCode, message: string, options?: { cause?: unknown; step?: string }) {
    super(code, message, options);
    if (options?.step) this.step = options.step;
  }

  /** JSON view: `{ name, code, message, step? }`. */
  override toJSON() {
    return { ...super.toJSON(), ...(this.step ? { step: this.step } : {}) };
  }
}
