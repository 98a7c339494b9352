/**
 * Association handles: the privacy-preserving name of a Key within one account.
 *
 * ```
 * accountSecret = 32 random bytes, one per account, held by the backend (never derived from the account id)
 * handle        = HMAC-SHA256(accountSecret, "enigm-association-v1" ‖ identityPublicKey)[0..16]
 * text          = "eh1-" ‖ base32(handle)        ; RFC 4648 alphabet, lowercase, no padding: 26 characters
 * ```
 *
 * HMAC-SHA256 is a pseudorandom function keyed by the account secret: without the secrets, the
 * handles of one Key in two accounts are indistinguishable from two independent random strings,
 * so they cannot be linked to each other or to the identity key. See `docs/association.md` for the
 * argument, what is and is not hidden, and rotation.
 *
 * Pure: no I/O, randomness injected.
 * @module
 */
import { ASSOCIATION_HANDLE_LENGTH, ASSOCIATION_HANDLE_PREFIX } from '@enigm/protocols/handle';
import { AttestationError } from '../errors.ts';

export {
  ACCOUNT_SECRET_LENGTH,
  ASSOCIATION_DOMAIN,
  ASSOCIATION_HANDLE_LENGTH,
  ASSOCIATION_HANDLE_PREFIX,
  ASSOCIATION_HANDLE_TEXT_LENGTH,
  ASSOCIATION_IDENTITY_KEY_LENGTH,
  associationHandle,
  associationHandleText,
  formatAssociationHandle,
  newAccountSecret,
} from '@enigm/protocols/handle';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const TEXT_RE = /^eh1-[a-z2-7]{26}$/;

/**
 * Parses a handle's text form strictly: the `eh1-` prefix, exactly 26 lowercase base32
 * characters, and zero padding bits (so one handle has exactly one text form).
 * @returns the 16 handle bytes
 * @throws {@link AttestationError} `ASSOCIATION_HANDLE_INVALID` (the message never echoes the input)
 * @example
 * parseAssociationHandle('eh1-aaaaaaaaaaaaaaaaaaaaaaaaaa') // 16 zero bytes
 */
export function parseAssociationHandle(text: unknown): Uint8Array {
  if (typeof text !== 'string') {
    throw new AttestationError(
      'ASSOCIATION_HANDLE_INVALID',
      `a handle must be text, got ${text === null ? 'null' : typeof text}`,
    );
  }
  if (!TEXT_RE.test(text)) {
    throw new AttestationError(
      'ASSOCIATION_HANDLE_INVALID',
      `a handle is ${ASSOCIATION_HANDLE_PREFIX} and 26 characters of a-z 2-7 (${text.length} characters given)`,
    );
  }
  const out = new Uint8Array(ASSOCIATION_HANDLE_LENGTH);
  let acc = 0;
  let bits = 0;
  let n = 0;
  for (let i = ASSOCIATION_HANDLE_PREFIX.length; i < text.length; i++) {
    acc = (acc << 5) | ALPHABET.indexOf(text[i] as string);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >>> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  if (acc !== 0)
    throw new AttestationError('ASSOCIATION_HANDLE_INVALID', 'a handle whose last character has non-zero padding bits');
  return out;
}

/** Whether `text` is a well-formed handle (see {@link parseAssociationHandle}). Never throws. */
export function isAssociationHandle(text: unknown): text is string {
  try {
    parseAssociationHandle(text);
    return true;
  } catch {
    return false;
  }
}
