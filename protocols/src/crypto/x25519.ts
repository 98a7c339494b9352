/**
 * X25519 Diffie-Hellman (RFC 7748 §5, §6.1) on node:crypto (OpenSSL), measured ~30× faster here
 * than `@noble/curves`.
 *
 * Private keys are 32 arbitrary bytes (clamped inside the scalar multiplication, never stored
 * clamped). Public keys are 32-byte u-coordinates; as RFC 7748 §5 requires, the top bit is ignored
 * and non-canonical values (u ≥ p) are reduced, so every 32-byte string is accepted as a public key.
 * What is rejected is the *result*: an all-zero shared secret (the peer sent a point of small
 * order, RFC 7748 §6.1) throws `CRYPTO_WEAK_SHARED_SECRET`, so a contributory protocol can never
 * continue with a secret an attacker chose.
 *
 * `KeyObject`s built from raw keys are cached by hex (bounded); `clearCryptoCaches()` empties them.
 *
 * @module
 */

import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject, randomBytes } from 'node:crypto';
import { ProtocolError } from '../errors.ts';
import { assertBytes, BoundedCache, drawRandom, fromBase64Url, toBase64Url, toHex, view } from './util.ts';

/** Length of X25519 private keys, public keys and shared secrets. */
export const X25519_KEY_LENGTH = 32;

/** An X25519 key pair. */
export interface X25519KeyPair {
  /** 32 secret bytes (unclamped). Keep secret. */
  privateKey: Uint8Array;
  /** The 32-byte u-coordinate of the public point. */
  publicKey: Uint8Array;
}

interface PrivateEntry {
  key: KeyObject;
  publicKey?: Uint8Array;
}

const privateKeys = new BoundedCache<PrivateEntry>(64);
/** Peer public keys; Noise ephemerals churn through it, statics stay. */
const publicKeys = new BoundedCache<KeyObject>(256);

function checkLength(key: Uint8Array, field: string): void {
  assertBytes(key, field);
  if (key.length !== X25519_KEY_LENGTH) {
    throw new ProtocolError('CRYPTO_INVALID_KEY', `X25519 ${field} must be ${X25519_KEY_LENGTH} bytes, got ${key.length}`);
  }
}

/** Options of {@link x25519} and {@link x25519PublicKey}. */
export interface X25519Options {
  /**
   * Keep the private key's `KeyObject` in the bounded cache (default true: long-lived keys used
   * again). Pass false for one-time keys (HPKE and other ephemerals), so no copy of them outlives
   * the call.
   */
  readonly cache?: boolean;
}

function privateEntry(privateKey: Uint8Array, cache = true): PrivateEntry {
  const id = cache ? toHex(privateKey) : '';
  let e = cache ? privateKeys.get(id) : undefined;
  if (!e) {
    // node ignores `x` of a private OKP JWK (it derives the public key from `d`), but requires a string.
    e = { key: createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: toBase64Url(privateKey), x: '' }, format: 'jwk' }) };
    if (cache) privateKeys.set(id, e);
  }
  return e;
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const id = toHex(publicKey);
  let k = publicKeys.get(id);
  if (!k) {
    k = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: toBase64Url(publicKey) }, format: 'jwk' });
    publicKeys.set(id, k);
  }
  return k;
}

/**
 * How many X25519 private keys the cache holds now (diagnostics and tests: one-time keys passed
 * with `cache: false` never count).
 * @example clearCryptoCaches(); x25519CachedPrivateKeys() === 0
 */
export function x25519CachedPrivateKeys(): number {
  return privateKeys.size;
}

/**
 * Generates a key pair from 32 random bytes (node's CSPRNG unless `random` is injected).
 * @param random - optional source of randomness, `(n) => n bytes`; inject a seeded one in tests
 * @throws {TypeError} if `random` does not return 32 bytes
 * @example
 * const { privateKey, publicKey } = x25519Generate();
 */
export function x25519Generate(random?: (n: number) => Uint8Array): X25519KeyPair {
  const privateKey = random ? Uint8Array.from(drawRandom(random, X25519_KEY_LENGTH)) : view(randomBytes(X25519_KEY_LENGTH));
  return { privateKey, publicKey: x25519PublicKey(privateKey) };
}

/**
 * The public key of `privateKey`: X25519(privateKey, 9) (RFC 7748 §6.1).
 * @throws {TypeError} if `privateKey` is not a Uint8Array
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `privateKey` is not 32 bytes
 * @example
 * x25519PublicKey(privateKey).length === 32
 * x25519PublicKey(ephemeral, { cache: false }) // a one-time key: not kept in the cache
 */
export function x25519PublicKey(privateKey: Uint8Array, options: X25519Options = {}): Uint8Array {
  checkLength(privateKey, 'privateKey');
  const e = privateEntry(privateKey, options.cache);
  if (!e.publicKey) {
    const jwk = createPublicKey(e.key).export({ format: 'jwk' });
    e.publicKey = fromBase64Url(jwk.x as string);
  }
  return Uint8Array.from(e.publicKey);
}

/**
 * The shared secret X25519(privateKey, peerPublicKey) (RFC 7748 §5).
 * @returns 32 bytes, never all zero
 * @throws {TypeError} if an argument is not a Uint8Array
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if a key is not 32 bytes;
 *   `CRYPTO_WEAK_SHARED_SECRET` if the result is all zero (a small-order peer point)
 * @example
 * const k = x25519(alice.privateKey, bob.publicKey); // equals x25519(bob.privateKey, alice.publicKey)
 */
export function x25519(privateKey: Uint8Array, peerPublicKey: Uint8Array, options: X25519Options = {}): Uint8Array {
  checkLength(privateKey, 'privateKey');
  checkLength(peerPublicKey, 'peerPublicKey');
  let shared: Buffer;
  try {
    shared = diffieHellman({
      privateKey: privateEntry(privateKey, options.cache).key,
      publicKey: publicKeyObject(peerPublicKey),
    });
  } catch (cause) {
    // With two well-formed 32-byte keys OpenSSL fails only on the all-zero result.
    throw new ProtocolError('CRYPTO_WEAK_SHARED_SECRET', 'X25519 result is all zero: the peer public key has small order', {
      cause,
    });
  }
  let acc = 0;
  for (let i = 0; i < shared.length; i++) acc |= shared[i] as number;
  if (acc === 0) {
    throw new ProtocolError('CRYPTO_WEAK_SHARED_SECRET', 'X25519 result is all zero: the peer public key has small order');
  }
  return view(shared);
}
