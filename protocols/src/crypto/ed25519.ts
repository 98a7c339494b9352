/**
 * Ed25519 signatures (RFC 8032 §5.1, PureEdDSA) with strict verification.
 *
 * The math runs in node:crypto (OpenSSL), measured ~9× faster here than `@noble/ed25519`.
 * OpenSSL's verifier, like noble's default ZIP-215 mode, accepts signatures under small-order
 * public keys (a signature with the identity point as key and R, and S = 0, verifies for every
 * message). So before OpenSSL runs, this module enforces, in order:
 *
 * 1. the public key is 32 bytes, a canonical encoding (y < p, no sign bit on x = 0), on the curve
 *    and not of small order — checked with `@noble/ed25519`'s strict point decoding
 *    (`Point.fromBytes(pk, false)`, `isSmallOrder()`, re-encoding equal to the input) once per
 *    key and cached; a failing key throws `CRYPTO_INVALID_KEY`;
 * 2. the signature is 64 bytes;
 * 3. R is canonically encoded (y < p) and is not one of the eight small-order points;
 * 4. S < L (the group order), RFC 8032 §5.1.7 step 1 — no malleable signatures;
 *
 * then OpenSSL checks the cofactorless equation [S]B = R + [k]A with a byte comparison of R.
 * Checks 2-4 failing, or the equation failing, return `false`.
 *
 * Private keys are the 32-byte RFC 8032 seed. `KeyObject`s built from raw keys are cached (see
 * `util.ts`); `clearCryptoCaches()` empties the caches. A key that signs often for a long time (a
 * device's identity key, one of many simulated Keys) is better held by its owner:
 * {@link ed25519Signer} builds its `KeyObject` once and keeps it in the returned function only,
 * outside the shared cache (100 Keys signing in turn no longer evict each other from a cache of 64).
 * One-time keys (an emergency event's key) pass `{ cache: false }` to {@link ed25519Generate} and
 * {@link ed25519PublicKey}, so no copy of them outlives the call.
 *
 * @module
 */

import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { Point } from '@noble/ed25519';
import { ProtocolError } from '../errors.ts';
import { assertBytes, BoundedCache, bytesEqual, drawRandom, fromBase64Url, toBase64Url, toHex, view } from './util.ts';

/** Length of an Ed25519 seed (private key), public key, and half signature. */
export const ED25519_KEY_LENGTH = 32;
/** Length of an Ed25519 signature (R ‖ S). */
export const ED25519_SIGNATURE_LENGTH = 64;

/** An Ed25519 key pair: the RFC 8032 32-byte seed and the 32-byte public key. */
export interface Ed25519KeyPair {
  /** The 32-byte secret seed (RFC 8032 "private key"). Keep secret. */
  seed: Uint8Array;
  /** The 32-byte encoded public point A. */
  publicKey: Uint8Array;
}

interface PrivateEntry {
  key: KeyObject;
  publicKey?: Uint8Array;
}

/** Private `KeyObject`s by hex of the seed. Small: a host signs with few keys. */
const privateKeys = new BoundedCache<PrivateEntry>(64);
/** Verdicts on public keys by hex: the `KeyObject` if acceptable, `null` if not. */
const publicKeys = new BoundedCache<KeyObject | null>(512);

/**
 * y-coordinates (little-endian, sign bit cleared) of the eight points of small order: 0 (two
 * points of order 4), 1 (identity), p-1 (order 2), and the two y-values of the four points of
 * order 8. Encodings of these y with y ≥ p are rejected earlier as non-canonical.
 */
const SMALL_ORDER_Y = new Set([
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
]);

/** First bytes of {@link SMALL_ORDER_Y}: a cheap pre-filter before the set lookup. */
const SMALL_ORDER_FIRST_BYTE = new Set([0x00, 0x01, 0xec, 0x26, 0xc7]);

/** The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const L_LE = Uint8Array.from(Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex'));

function checkSeed(seed: Uint8Array): void {
  assertBytes(seed, 'seed');
  if (seed.length !== ED25519_KEY_LENGTH) {
    throw new ProtocolError('CRYPTO_INVALID_KEY', `Ed25519 seed must be ${ED25519_KEY_LENGTH} bytes, got ${seed.length}`);
  }
}

/** Options of {@link ed25519Generate} and {@link ed25519PublicKey}. */
export interface Ed25519Options {
  /**
   * Keep the seed's `KeyObject` in the bounded cache (default true: a key used again). Pass false
   * for one-time keys, and for keys whose owner holds an {@link ed25519Signer}: no copy of the
   * seed outlives the call.
   */
  readonly cache?: boolean;
}

function privateKeyObject(seed: Uint8Array): KeyObject {
  // node ignores `x` of a private OKP JWK (it derives the public key from `d`), but requires a string.
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: toBase64Url(seed), x: '' }, format: 'jwk' });
}

function privateEntry(seed: Uint8Array, cache = true): PrivateEntry {
  const id = cache ? toHex(seed) : '';
  let e = cache ? privateKeys.get(id) : undefined;
  if (!e) {
    e = { key: privateKeyObject(seed) };
    if (cache) privateKeys.set(id, e);
  }
  return e;
}

/**
 * How many Ed25519 private keys the shared cache holds now (diagnostics and tests: keys held by an
 * {@link ed25519Signer}, and keys passed with `cache: false`, never count).
 * @example clearCryptoCaches(); ed25519CachedPrivateKeys() === 0
 */
export function ed25519CachedPrivateKeys(): number {
  return privateKeys.size;
}

/**
 * Whether the 32 bytes at `b[offset..offset+32)` encode a y-coordinate ≥ p = 2^255 - 19 (the sign
 * bit ignored), i.e. a non-canonical field element.
 */
function yNotCanonical(b: Uint8Array, offset: number): boolean {
  if (((b[offset + 31] as number) & 0x7f) !== 0x7f) return false;
  for (let i = 30; i >= 1; i--) if (b[offset + i] !== 0xff) return false;
  return (b[offset] as number) >= 0xed;
}

/** Whether the 32-byte little-endian S at `sig[32..64)` is below the group order L. */
function sBelowL(sig: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = sig[32 + i] as number;
    const l = L_LE[i] as number;
    if (s !== l) return s < l;
  }
  return false; // S == L
}

/** Strict decoding of a public key; `null` if unacceptable. Cached by hex. */
function publicKeyObject(publicKey: Uint8Array, id: string): KeyObject | null {
  const cached = publicKeys.get(id);
  if (cached !== undefined) return cached;
  let ok = false;
  try {
    const p = Point.fromBytes(publicKey, false);
    ok = !p.isSmallOrder() && bytesEqual(p.toBytes(), publicKey);
  } catch {
    ok = false; // not on the curve, or y >= p, or x = 0 with the sign bit set
  }
  const key = ok ? createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(publicKey) }, format: 'jwk' }) : null;
  publicKeys.set(id, key);
  return key;
}

/**
 * Generates a key pair from 32 random bytes (node's CSPRNG unless `random` is injected).
 * @param random - optional source of randomness, `(n) => n bytes`; inject a seeded one in tests
 * @param options - `cache: false` for a one-time key (see {@link Ed25519Options})
 * @throws {TypeError} if `random` does not return 32 bytes
 * @example
 * const { seed, publicKey } = ed25519Generate();
 * const eventKey = ed25519Generate(undefined, { cache: false }); // one-time: not kept in the cache
 */
export function ed25519Generate(random?: (n: number) => Uint8Array, options: Ed25519Options = {}): Ed25519KeyPair {
  const seed = random ? Uint8Array.from(drawRandom(random, ED25519_KEY_LENGTH)) : view(randomBytes(ED25519_KEY_LENGTH));
  return { seed, publicKey: ed25519PublicKey(seed, options) };
}

/**
 * The public key of a seed (RFC 8032 §5.1.5).
 * @throws {TypeError} if `seed` is not a Uint8Array
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `seed` is not 32 bytes
 * @param options - `cache: false`: the seed's `KeyObject` is not kept (see {@link Ed25519Options})
 * @example
 * ed25519PublicKey(seed).length === 32
 */
export function ed25519PublicKey(seed: Uint8Array, options: Ed25519Options = {}): Uint8Array {
  checkSeed(seed);
  const e = privateEntry(seed, options.cache);
  if (!e.publicKey) {
    const jwk = createPublicKey(e.key).export({ format: 'jwk' });
    e.publicKey = fromBase64Url(jwk.x as string);
  }
  return Uint8Array.from(e.publicKey);
}

/**
 * Signs `message` (RFC 8032 §5.1.6); deterministic: the same seed and message give the same bytes.
 * @returns the 64-byte signature R ‖ S
 * @throws {TypeError} if `seed` or `message` is not a Uint8Array
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `seed` is not 32 bytes
 * @example
 * const sig = ed25519Sign(seed, new TextEncoder().encode('hello'));
 */
export function ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  checkSeed(seed);
  assertBytes(message, 'message');
  return view(sign(null, message, privateEntry(seed).key));
}

/**
 * A signer bound to one seed (RFC 8032 §5.1.6): the seed's `KeyObject` is built once and held by
 * the returned function only, not in the shared bounded cache, so it lives exactly as long as its
 * owner keeps the function (a secure element, an emergency event) and many such signers never
 * evict each other. Signatures equal {@link ed25519Sign}'s.
 * @returns `(message) => 64-byte signature`
 * @throws {TypeError} if `seed` (or later `message`) is not a Uint8Array
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `seed` is not 32 bytes
 * @example
 * const sign = ed25519Signer(seed);
 * sign(message) // equals ed25519Sign(seed, message)
 */
export function ed25519Signer(seed: Uint8Array): (message: Uint8Array) => Uint8Array {
  checkSeed(seed);
  const key = privateKeyObject(seed);
  return (message: Uint8Array) => {
    assertBytes(message, 'message');
    return view(sign(null, message, key));
  };
}

/**
 * Whether `publicKey` is an acceptable Ed25519 public key: 32 bytes, canonically encoded, on the
 * curve, and not of small order. The verdict is cached per key.
 * @throws {TypeError} if `publicKey` is not a Uint8Array
 * @example
 * isAcceptableEd25519PublicKey(new Uint8Array(32)) === false // y = 0: a point of order 4
 */
export function isAcceptableEd25519PublicKey(publicKey: Uint8Array): boolean {
  assertBytes(publicKey, 'publicKey');
  if (publicKey.length !== ED25519_KEY_LENGTH) return false;
  return publicKeyObject(publicKey, toHex(publicKey)) !== null;
}

/**
 * Strict verification (RFC 8032 §5.1.7 with the checks listed in the module doc): rejects
 * non-canonical or small-order public keys and R, and S ≥ L.
 * @returns `true` if `signature` is a valid signature of `message` under `publicKey`; `false` for
 *   any bad signature, including one of the wrong length
 * @throws {TypeError} if an argument is not a Uint8Array
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `publicKey` is not 32 bytes, not a canonical
 *   curve point, or of small order
 * @example
 * ed25519Verify(publicKey, message, ed25519Sign(seed, message)) === true
 */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  assertBytes(publicKey, 'publicKey');
  assertBytes(message, 'message');
  assertBytes(signature, 'signature');
  if (publicKey.length !== ED25519_KEY_LENGTH) {
    throw new ProtocolError(
      'CRYPTO_INVALID_KEY',
      `Ed25519 public key must be ${ED25519_KEY_LENGTH} bytes, got ${publicKey.length}`,
    );
  }
  const key = publicKeyObject(publicKey, toHex(publicKey));
  if (key === null) {
    throw new ProtocolError('CRYPTO_INVALID_KEY', 'Ed25519 public key is not a canonical curve point of large order');
  }
  if (signature.length !== ED25519_SIGNATURE_LENGTH) return false;
  if (yNotCanonical(signature, 0)) return false;
  if (SMALL_ORDER_FIRST_BYTE.has(signature[0] as number) && SMALL_ORDER_Y.has(rYHex(signature))) return false;
  if (!sBelowL(signature)) return false;
  return verify(null, message, key, signature);
}

/** Hex of R's y-coordinate: the first 32 signature bytes with the sign bit cleared. */
function rYHex(signature: Uint8Array): string {
  const r = Uint8Array.from(signature.subarray(0, 32));
  r[31] = (r[31] as number) & 0x7f;
  return toHex(r);
}
