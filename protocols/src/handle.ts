/**
 * Association handles: the privacy-preserving name of a Key within one account, and the name of
 * its topics on the MQTT broker (`@enigm/protocols/mqtt`).
 *
 * ```
 * accountSecret = 32 random bytes, one per account, held by the backend (never derived from the account id)
 * handle        = HMAC-SHA256(accountSecret, "enigm-association-v1" ‖ identityPublicKey)[0..16]
 * text          = "eh1-" ‖ base32(handle)        ; RFC 4648 alphabet, lowercase, no padding: 26 characters
 * ```
 *
 * HMAC-SHA256 is a pseudorandom function keyed by the account secret: without the secrets, the
 * handles of one Key in two accounts are indistinguishable from two independent random strings,
 * so they cannot be linked to each other or to the identity key. See `docs/association.md`.
 * Strict parsing (with its typed error) is `parseAssociationHandle` in `@enigm/attestation`.
 *
 * Pure: no I/O, randomness injected.
 * @module
 */
import { concatBytes } from './bytes.ts';
import { hmacSha256 } from './crypto/index.ts';

/** Length of an account secret, bytes. */
export const ACCOUNT_SECRET_LENGTH = 32;
/** Length of an association handle, bytes (128 bits). */
export const ASSOCIATION_HANDLE_LENGTH = 16;
/** Length of an Ed25519 identity public key, bytes. */
export const ASSOCIATION_IDENTITY_KEY_LENGTH = 32;
/** Domain-separation label, prefixed to the identity key under the HMAC. */
export const ASSOCIATION_DOMAIN = 'enigm-association-v1';
/** Prefix of a handle's text form: `eh1-` (Enigm handle, version 1). */
export const ASSOCIATION_HANDLE_PREFIX = 'eh1-';
/** Length of a handle's text form: the prefix and 26 base32 characters (30). */
export const ASSOCIATION_HANDLE_TEXT_LENGTH = ASSOCIATION_HANDLE_PREFIX.length + 26;

const DOMAIN_BYTES = new TextEncoder().encode(ASSOCIATION_DOMAIN);
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

function checkLength(value: unknown, length: number, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (value.length !== length) throw new RangeError(`${name} must be ${length} bytes, got ${value.length}`);
}

/**
 * Draws a fresh account secret.
 * @param random - a cryptographically secure source of `n` random bytes (e.g. `crypto.randomBytes`)
 * @returns 32 bytes
 * @throws {RangeError} if `random` returns the wrong length or an all-zero secret (a broken source)
 * @example
 * const secret = newAccountSecret((n) => new Uint8Array(randomBytes(n)));
 */
export function newAccountSecret(random: (n: number) => Uint8Array): Uint8Array {
  const s = random(ACCOUNT_SECRET_LENGTH);
  checkLength(s, ACCOUNT_SECRET_LENGTH, 'the random source output');
  if (s.every((b) => b === 0)) throw new RangeError('the random source returned an all-zero account secret');
  return Uint8Array.from(s);
}

/**
 * The handle of a Key in an account: HMAC-SHA256(accountSecret, domain ‖ identityKey), first 16 bytes.
 * @param accountSecret - the account's 32-byte secret
 * @param identityKey - the Key's 32-byte Ed25519 identity public key
 * @returns 16 bytes
 * @throws {TypeError|RangeError} on wrong types or lengths
 * @example
 * formatAssociationHandle(associationHandle(secret, identityKey)) // 'eh1-…'
 */
export function associationHandle(accountSecret: Uint8Array, identityKey: Uint8Array): Uint8Array {
  checkLength(accountSecret, ACCOUNT_SECRET_LENGTH, 'accountSecret');
  checkLength(identityKey, ASSOCIATION_IDENTITY_KEY_LENGTH, 'identityKey');
  return hmacSha256(accountSecret, concatBytes(DOMAIN_BYTES, identityKey)).slice(0, ASSOCIATION_HANDLE_LENGTH);
}

/**
 * The text form of a handle: `eh1-` and 26 lowercase base32 characters (RFC 4648, no padding).
 * @throws {TypeError|RangeError} if `handle` is not 16 bytes
 */
export function formatAssociationHandle(handle: Uint8Array): string {
  checkLength(handle, ASSOCIATION_HANDLE_LENGTH, 'handle');
  let out = ASSOCIATION_HANDLE_PREFIX;
  let acc = 0;
  let bits = 0;
  for (const b of handle) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31];
  return out;
}

/**
 * The handle's text form in one call: `formatAssociationHandle(associationHandle(…))`.
 * @throws {TypeError|RangeError} on wrong types or lengths
 */
export function associationHandleText(accountSecret: Uint8Array, identityKey: Uint8Array): string {
  return formatAssociationHandle(associationHandle(accountSecret, identityKey));
}
