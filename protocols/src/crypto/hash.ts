/**
 * SHA-256 (FIPS 180-4), HMAC-SHA-256 (RFC 2104) and HKDF-SHA-256 (RFC 5869) on node:crypto.
 *
 * `sha256` and `hmacSha256` take their input in parts, hashed as their concatenation, so callers
 * never build a joined buffer. HKDF is written out from RFC 5869 §2.2-2.3 over HMAC (node's
 * `hkdfSync` caps `info` at 1024 bytes; RFC 5869 does not).
 *
 * @module
 */

import { createHash, createHmac } from 'node:crypto';
import { allocBytes } from '../bytes.ts';
import { assertBytes, view } from './util.ts';

/** SHA-256 digest length, bytes. */
export const SHA256_LENGTH = 32;
/** Largest HKDF-SHA-256 output: 255 blocks of 32 bytes (RFC 5869 §2.3). */
export const HKDF_SHA256_MAX_LENGTH = 255 * SHA256_LENGTH;

/**
 * SHA-256 of the concatenation of `parts`.
 * @throws {TypeError} if a part is not a Uint8Array
 * @example
 * sha256(new TextEncoder().encode('abc')) // ba7816bf…f20015ad
 */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    assertBytes(p, `parts[${i}]`);
    h.update(p);
  }
  return view(h.digest());
}

/**
 * HMAC-SHA-256 with `key` of the concatenation of `parts`.
 * @throws {TypeError} if `key` or a part is not a Uint8Array
 * @example
 * const tag = hmacSha256(key, header, body);
 */
export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  assertBytes(key, 'key');
  const h = createHmac('sha256', key);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    assertBytes(p, `parts[${i}]`);
    h.update(p);
  }
  return view(h.digest());
}

/**
 * HKDF-Extract with SHA-256 (RFC 5869 §2.2): PRK = HMAC-SHA-256(salt, ikm); an empty `salt` means
 * 32 zero bytes (an HMAC key shorter than the block is zero-padded, so the two are the same).
 * @returns the 32-byte pseudorandom key (a fresh array; wipe it when done)
 * @throws {TypeError} if `ikm` or `salt` is not a Uint8Array
 * @example
 * const prk = hkdfSha256Extract(sharedSecret, salt);
 */
export function hkdfSha256Extract(ikm: Uint8Array, salt: Uint8Array): Uint8Array {
  assertBytes(ikm, 'ikm');
  assertBytes(salt, 'salt');
  return view(createHmac('sha256', salt).update(ikm).digest());
}

/**
 * HKDF-Expand with SHA-256 (RFC 5869 §2.3): `length` bytes of T(1) ‖ T(2) ‖ … from `prk` and
 * `info`.
 * @param prk - the pseudorandom key (at least 32 bytes per the RFC; not enforced, as HMAC takes any key)
 * @param length - output length, 0 to 8160 bytes
 * @throws {TypeError} if `prk` or `info` is not a Uint8Array
 * @throws {RangeError} if `length` is not an integer in [0, 8160]
 * @example
 * const key = hkdfSha256Expand(prk, new TextEncoder().encode('key'), 32);
 */
export function hkdfSha256Expand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  assertBytes(prk, 'prk');
  assertBytes(info, 'info');
  if (!Number.isInteger(length) || length < 0 || length > HKDF_SHA256_MAX_LENGTH) {
    throw new RangeError(`length must be an integer in [0, ${HKDF_SHA256_MAX_LENGTH}], got ${length}`);
  }
  const out = allocBytes(length);
  let t: Buffer = Buffer.alloc(0);
  const counter = new Uint8Array(1);
  for (let i = 0, o = 0; o < length; i++, o += SHA256_LENGTH) {
    counter[0] = i + 1;
    const next = createHmac('sha256', prk).update(t).update(info).update(counter).digest();
    t.fill(0);
    t = next;
    out.set(t.subarray(0, Math.min(SHA256_LENGTH, length - o)), o);
  }
  t.fill(0);
  return out;
}

/**
 * HKDF-SHA-256 (RFC 5869): extract with `salt` (empty means 32 zero bytes), expand with `info` to
 * `length` bytes.
 * @param length - output length, 0 to 8160 bytes
 * @throws {TypeError} if `ikm`, `salt` or `info` is not a Uint8Array
 * @throws {RangeError} if `length` is not an integer in [0, 8160]
 * @example
 * const okm = hkdfSha256(sharedSecret, salt, new TextEncoder().encode('enigm v1'), 64);
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  assertBytes(ikm, 'ikm');
  assertBytes(salt, 'salt');
  assertBytes(info, 'info');
  if (!Number.isInteger(length) || length < 0 || length > HKDF_SHA256_MAX_LENGTH) {
    throw new RangeError(`length must be an integer in [0, ${HKDF_SHA256_MAX_LENGTH}], got ${length}`);
  }
  const prk = hkdfSha256Extract(ikm, salt);
  try {
    return hkdfSha256Expand(prk, info, length);
  } finally {
    prk.fill(0);
  }
}
