/**
 * X25519 for Noise (`DH` = 25519, Noise spec rev 34 §4.1 and §12.1), on `node:crypto`.
 *
 * Keys cross this module as raw 32-byte strings (RFC 7748); inside it they are `KeyObject`s,
 * because Node computes X25519 only on those. Building a `KeyObject` from raw bytes is the
 * expensive part (measured on Node 20 here: PKCS#8/SPKI DER import 410/85 µs, JWK import 30/13 µs,
 * against 35 µs for the DH itself), so keys are imported as JWK (the same keys in the other
 * format Node documents) and public keys of peers' static keys are kept in a bounded LRU cache.
 * Private keys are never cached by value: a {@link StaticKey} built by
 * {@link staticKeyFromPrivate} holds its own `KeyObject` (keep the `StaticKey`, not the bytes).
 *
 * The local static key is an object that can do DH but need not reveal its private key, so it may
 * live in a secure element.
 *
 * @module
 */

import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject, randomBytes } from 'node:crypto';
import { ProtocolError } from '../errors.ts';

/**
 * Length of an X25519 public key, private key and DH output, bytes (Noise `DHLEN`).
 * @example new Uint8Array(DHLEN)
 */
export const DHLEN = 32;

/**
 * A local static key pair whose private half may be out of reach (e.g. in a secure element):
 * it exposes its public key and the X25519 function of its private key.
 *
 * @example
 * const s: StaticKey = { publicKey: element.publicKey, dh: (peer) => element.x25519(peer) };
 */
export interface StaticKey {
  /** The 32-byte X25519 public key. */
  readonly publicKey: Uint8Array;
  /**
   * X25519(private, peerPublicKey): the 32-byte shared secret. May throw; the handshake wraps the
   * error. An all-zero result is rejected by the caller with `CRYPTO_WEAK_SHARED_SECRET`.
   */
  dh(peerPublicKey: Uint8Array): Uint8Array;
}

/**
 * An ephemeral (or fixed test) key pair held as a private `KeyObject` plus the raw public key.
 * @example const { privateKey, publicKey } = generateKeyPair();
 */
export interface KeyPairObject {
  /** Private key, for {@link x25519}. */
  readonly privateKey: KeyObject;
  /** Raw 32-byte public key. */
  readonly publicKey: Uint8Array;
}

/**
 * How many peer public keys {@link publicKeyObject} keeps (least recently used goes first).
 * @example PUBLIC_KEY_CACHE_SIZE === 256
 */
export const PUBLIC_KEY_CACHE_SIZE = 256;

/** PKCS#8 DER header of an X25519 private key; the 32 raw bytes follow. */
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

const publicKeyCache = new Map<string, KeyObject>();

/** The private `KeyObject` behind each {@link StaticKey} made by {@link staticKeyFromPrivate}. */
const privateKeyObjects = new WeakMap<StaticKey, KeyObject>();

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checkLength(bytes: Uint8Array, field: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== DHLEN)
    throw new ProtocolError('CRYPTO_INVALID_KEY', `${field} must be a ${DHLEN}-byte X25519 key`);
}

/**
 * Imports a raw X25519 private key as a `KeyObject` (not cached).
 * @throws ProtocolError `CRYPTO_INVALID_KEY` if `privateKey` is not 32 bytes or is rejected by Node
 * @example const k = privateKeyObject(randomBytes(32));
 */
export function privateKeyObject(privateKey: Uint8Array): KeyObject {
  checkLength(privateKey, 'privateKey');
  try {
    // Node derives the public key from `d` and ignores `x` (checked only to be a string).
    return createPrivateKey({
      key: { kty: 'OKP', crv: 'X25519', d: asBuffer(privateKey).toString('base64url'), x: '' },
      format: 'jwk',
    });
  } catch {
    // A Node that checks `x`: fall back to PKCS#8 DER (13× slower here, same key).
  }
  const der = Buffer.concat([PKCS8_X25519_PREFIX, privateKey]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw new ProtocolError('CRYPTO_INVALID_KEY', 'privateKey is not a valid X25519 private key', { cause });
  } finally {
    der.fill(0);
  }
}

/**
 * Imports a raw X25519 public key as a `KeyObject`. With `cache` (the default) the result is kept
 * in a bounded LRU cache of {@link PUBLIC_KEY_CACHE_SIZE} entries; pass `false` for one-shot keys
 * such as a peer's ephemeral, so they do not evict static keys.
 * @throws ProtocolError `CRYPTO_INVALID_KEY` if `publicKey` is not 32 bytes or is rejected by Node
 * @example const k = publicKeyObject(peerStatic);
 */
export function publicKeyObject(publicKey: Uint8Array, cache = true): KeyObject {
  checkLength(publicKey, 'publicKey');
  const x = asBuffer(publicKey).toString('base64url');
  if (cache) {
    const hit = publicKeyCache.get(x);
    if (hit !== undefined) {
      publicKeyCache.delete(x);
      publicKeyCache.set(x, hit);
      return hit;
    }
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' });
  } catch (cause) {
    throw new ProtocolError('CRYPTO_INVALID_KEY', 'publicKey is not a valid X25519 public key', { cause });
  }
  if (cache) {
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_SIZE) {
      const oldest = publicKeyCache.keys().next();
      if (oldest.done !== true) publicKeyCache.delete(oldest.value);
    }
    publicKeyCache.set(x, key);
  }
  return key;
}

/** The raw 32-byte public key of a private `KeyObject`. */
function rawPublicKey(privateKey: KeyObject): Uint8Array {
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x;
  if (typeof x !== 'string') throw new ProtocolError('CRYPTO_INVALID_KEY', 'cannot derive the X25519 public key');
  return new Uint8Array(Buffer.from(x, 'base64url'));
}

/** The X25519 public key of a raw private key: the one implementation in `crypto/x25519.ts`. */
export { x25519PublicKey } from '../crypto/x25519.ts';

/**
 * Throws `CRYPTO_WEAK_SHARED_SECRET` if `shared` is all zeros (the peer's key had small order) and
 * `CRYPTO_INVALID_KEY` if it is not 32 bytes; returns it otherwise. Constant time in the contents.
 * @throws ProtocolError `CRYPTO_WEAK_SHARED_SECRET`, `CRYPTO_INVALID_KEY`
 * @example checkSharedSecret(staticKey.dh(peer))
 */
export function checkSharedSecret(shared: Uint8Array): Uint8Array {
  if (!(shared instanceof Uint8Array) || shared.length !== DHLEN)
    throw new ProtocolError('CRYPTO_INVALID_KEY', `a DH output must be ${DHLEN} bytes`);
  let acc = 0;
  for (let i = 0; i < DHLEN; i++) acc |= shared[i] as number;
  if (acc === 0) throw new ProtocolError('CRYPTO_WEAK_SHARED_SECRET', 'the X25519 shared secret is all zeros');
  return shared;
}

/**
 * X25519 of two `KeyObject`s, rejecting an all-zero result (OpenSSL refuses to derive it; that
 * refusal is reported the same way).
 * @throws ProtocolError `CRYPTO_WEAK_SHARED_SECRET` if the result is all zeros, `CRYPTO_INVALID_KEY`
 *   if Node rejects the keys
 * @example const shared = x25519(e.privateKey, publicKeyObject(peer, false));
 */
export function x25519(privateKey: KeyObject, publicKey: KeyObject): Uint8Array {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey });
  } catch (cause) {
    // OpenSSL refuses to return an all-zero X25519 output; anything else is a key problem.
    if ((cause as { code?: unknown }).code === 'ERR_OSSL_FAILED_DURING_DERIVATION')
      throw new ProtocolError('CRYPTO_WEAK_SHARED_SECRET', 'X25519 failed: the peer key has small order', { cause });
    throw new ProtocolError('CRYPTO_INVALID_KEY', 'X25519 failed on these keys', { cause });
  }
  return checkSharedSecret(shared);
}

/**
 * A {@link StaticKey} from a raw private key, for hosts and tests. The private key is imported
 * once; keep the returned object rather than the bytes (it is the cache).
 * @throws ProtocolError `CRYPTO_INVALID_KEY` if `privateKey` is not 32 bytes
 * @example
 * const s = staticKeyFromPrivate(randomBytes(32));
 * const shared = s.dh(peerPublicKey);
 */
export function staticKeyFromPrivate(privateKey: Uint8Array): StaticKey {
  const priv = privateKeyObject(privateKey);
  const publicKey = rawPublicKey(priv);
  const key: StaticKey = {
    publicKey,
    dh: (peerPublicKey: Uint8Array) => x25519(priv, publicKeyObject(peerPublicKey)),
  };
  Object.freeze(key);
  privateKeyObjects.set(key, priv);
  return key;
}

/**
 * The private `KeyObject` of a {@link StaticKey} made by {@link staticKeyFromPrivate}, or
 * `undefined` for any other implementation. Lets the handshake skip re-importing peer keys.
 * @throws never
 * @example const k = staticKeyObject(s); // undefined for a secure element
 */
export function staticKeyObject(key: StaticKey): KeyObject | undefined {
  return privateKeyObjects.get(key);
}

/**
 * A fresh X25519 key pair: the private key is `random(32)`, or `crypto.randomBytes(32)` (then
 * wiped after import) when `random` is omitted.
 *
 * Deliberately not `generateKeyPairSync('x25519')`: on Node 20, exporting a key generated that way
 * (needed for its raw public key) can deadlock the process. The export holds the key's mutex while
 * allocating; if that allocation triggers a GC, the GC destroys the finished key-generation job,
 * whose destructor takes the same mutex (observed here with gdb: `~KeyGenJob` → `uv_mutex_lock`
 * under `ExportJWKEdKey`). Importing random bytes costs about the same and has no such job.
 * @throws ProtocolError `CRYPTO_INVALID_KEY` if `random` returns other than 32 bytes
 * @example const e = generateKeyPair();
 */
export function generateKeyPair(random?: (n: number) => Uint8Array): KeyPairObject {
  if (random !== undefined) return keyPairFromPrivate(random(DHLEN));
  const privateKey = randomBytes(DHLEN);
  try {
    return keyPairFromPrivate(privateKey);
  } finally {
    privateKey.fill(0);
  }
}

/**
 * A key pair from a raw private key. With `publicKey` given, checks that it matches.
 * @throws ProtocolError `CRYPTO_INVALID_KEY` if a key is not 32 bytes or the public key does not match
 * @example const e = keyPairFromPrivate(fixedEphemeral);
 */
export function keyPairFromPrivate(privateKey: Uint8Array, publicKey?: Uint8Array): KeyPairObject {
  const priv = privateKeyObject(privateKey);
  const derived = rawPublicKey(priv);
  if (publicKey !== undefined) {
    checkLength(publicKey, 'publicKey');
    if (!Buffer.from(derived).equals(asBuffer(publicKey)))
      throw new ProtocolError('CRYPTO_INVALID_KEY', 'publicKey does not match privateKey');
  }
  return { privateKey: priv, publicKey: derived };
}
