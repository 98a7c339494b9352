/**
 * ChaCha20-Poly1305 AEAD (RFC 8439 §2.8) on node:crypto: 32-byte key, 12-byte nonce, 16-byte tag
 * appended to the ciphertext.
 *
 * Errors: a key that is not 32 bytes is `CRYPTO_INVALID_KEY`. On opening, everything that comes
 * with the ciphertext and fails — a nonce that is not 12 bytes, a ciphertext shorter than the tag,
 * a tag that does not match — is one `CRYPTO_DECRYPT_FAILED`, and no plaintext is released. On
 * sealing, a nonce that is not 12 bytes is a programming error: `RangeError`.
 *
 * @module
 */

import { createCipheriv, createDecipheriv } from 'node:crypto';
import { allocBytes } from '../bytes.ts';
import { ProtocolError } from '../errors.ts';
import { assertBytes } from './util.ts';

/** Key length, bytes. */
export const CHACHA_KEY_LENGTH = 32;
/** Nonce length, bytes (the RFC 8439 96-bit nonce). */
export const CHACHA_NONCE_LENGTH = 12;
/** Tag length, bytes. */
export const CHACHA_TAG_LENGTH = 16;

const EMPTY = new Uint8Array(0);

function checkKey(key: Uint8Array): void {
  assertBytes(key, 'key');
  if (key.length !== CHACHA_KEY_LENGTH) {
    throw new ProtocolError('CRYPTO_INVALID_KEY', `ChaCha20-Poly1305 key must be ${CHACHA_KEY_LENGTH} bytes, got ${key.length}`);
  }
}

/**
 * Encrypts and authenticates `plaintext`, and authenticates `ad`.
 * @param key - 32 bytes
 * @param nonce - 12 bytes; never reuse a (key, nonce) pair
 * @param plaintext - any length
 * @param ad - associated data, authenticated but not encrypted (default empty)
 * @returns ciphertext ‖ 16-byte tag (`plaintext.length + 16` bytes)
 * @throws {TypeError} if an argument is not a Uint8Array
 * @throws {RangeError} if `nonce` is not 12 bytes
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `key` is not 32 bytes
 * @example
 * const sealed = chachaSeal(key, nonce, plaintext, header);
 */
export function chachaSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
  checkKey(key);
  assertBytes(nonce, 'nonce');
  assertBytes(plaintext, 'plaintext');
  assertBytes(ad, 'ad');
  if (nonce.length !== CHACHA_NONCE_LENGTH) {
    throw new RangeError(`nonce must be ${CHACHA_NONCE_LENGTH} bytes, got ${nonce.length}`);
  }
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: CHACHA_TAG_LENGTH });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const out = allocBytes(plaintext.length + CHACHA_TAG_LENGTH);
  const body = c.update(plaintext);
  out.set(body, 0);
  const rest = c.final();
  out.set(rest, body.length);
  out.set(c.getAuthTag(), plaintext.length);
  return out;
}

/**
 * Authenticates and decrypts `ciphertext` (ciphertext ‖ tag) sealed by {@link chachaSeal}.
 * @returns the plaintext, only if the tag verifies
 * @throws {TypeError} if an argument is not a Uint8Array
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `key` is not 32 bytes; `CRYPTO_DECRYPT_FAILED` on
 *   any authentication failure: wrong key, nonce or associated data, tampered data, a nonce that
 *   is not 12 bytes, or input shorter than the tag
 * @example
 * const plaintext = chachaOpen(key, nonce, sealed, header);
 */
export function chachaOpen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
  checkKey(key);
  assertBytes(nonce, 'nonce');
  assertBytes(ciphertext, 'ciphertext');
  assertBytes(ad, 'ad');
  if (nonce.length !== CHACHA_NONCE_LENGTH) {
    throw new ProtocolError('CRYPTO_DECRYPT_FAILED', `nonce must be ${CHACHA_NONCE_LENGTH} bytes, got ${nonce.length}`);
  }
  if (ciphertext.length < CHACHA_TAG_LENGTH) {
    throw new ProtocolError('CRYPTO_DECRYPT_FAILED', `ciphertext of ${ciphertext.length} bytes is shorter than the tag`);
  }
  const n = ciphertext.length - CHACHA_TAG_LENGTH;
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: CHACHA_TAG_LENGTH });
  d.setAuthTag(ciphertext.subarray(n));
  d.setAAD(ad, { plaintextLength: n });
  const out = allocBytes(n);
  try {
    const body = d.update(ciphertext.subarray(0, n));
    const rest = d.final(); // throws if the tag does not verify
    out.set(body, 0);
    out.set(rest, body.length);
  } catch (cause) {
    throw new ProtocolError('CRYPTO_DECRYPT_FAILED', 'ChaCha20-Poly1305 authentication failed', { cause });
  }
  return out;
}
