/**
 * The error class of the account registry and of enroll / replace, each refusal with a stable code.
 * @module
 */
import { EnigmError } from '@enigm/protocols/errors';

/** Codes of {@link AssociationError}, each with its meaning. */
export const ASSOCIATION_ERROR_CODES = {
  ACCOUNT_NOT_FOUND: 'no account in the folder (create one with enigm account init)',
  ACCOUNT_EXISTS: 'an account already exists in the folder; its secret is never overwritten',
  ACCOUNT_CORRUPT: "the account's files do not parse",
  ACCOUNT_SECRET_EXPOSED: 'the account secret file is readable by group or others (chmod 600)',
  ACCOUNT_LOCKED: 'another process is changing the account',
  ACCOUNT_WRITE_FAILED: "the account's files cannot be written (nothing was changed)",
  ACCOUNT_ALREADY_ENROLLED: 'the Key is already enrolled in this account',
  ACCOUNT_KEY_REVOKED: 'the Key is revoked (on the Key, in the registry or in the revocation list): it cannot be enrolled',
  ACCOUNT_NOT_OWNER: 'this host does not hold the owner role on the Key',
  ACCOUNT_NOT_ATTESTED: "the Key's evidence does not appraise (e.g. its chain does not verify to the root)",
  ACCOUNT_BAD_STATE: 'the Key is in a lifecycle state enrollment cannot take (e.g. retired, updating)',
  ASSOCIATION_NOT_FOUND: 'no association with that handle in this account',
  ASSOCIATION_NOT_ACTIVE: 'the association is not active (already replaced or revoked)',
  ASSOCIATION_SAME_KEY: 'the replacement is the same Key as the one it replaces',
  ASSOCIATION_OLD_KEY_MISMATCH: 'the Key given as the old Key is not the one enrolled under the old handle',
  ASSOCIATION_BAD_ARGUMENT: 'an argument the registry cannot use (a malformed handle, a revocation list without its key)',
} as const;

/** Symbolic code of an {@link AssociationError}. */
export type AssociationErrorCode = keyof typeof ASSOCIATION_ERROR_CODES;

/** The one error class of the association library. Messages never carry the account secret. */
export class AssociationError extends EnigmError<AssociationErrorCode> {
  override readonly name = 'AssociationError';
}
