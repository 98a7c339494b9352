/**
 * HPKE (RFC 9180) for exactly one suite, base mode: DHKEM(X25519, HKDF-SHA256) (KEM 0x0020),
 * HKDF-SHA256 (KDF 0x0001), ChaCha20-Poly1305 (AEAD 0x0003). A thin wrapper over `@hpke/core`'s
 * `CipherSuite`, which does the protocol (DHKEM, key schedule, nonces, exporter), given primitives
 * on node:crypto through its extension interfaces (`hpke-primitives.ts`: X25519, HMAC-based HKDF
 * and ChaCha20-Poly1305 of `crypto/`, all synchronous OpenSSL calls). The library's own primitives
 * (WebCrypto X25519 and HKDF, with an `importKey` and an asynchronous job per step, and the
 * pure-JavaScript `@hpke/chacha20poly1305`) cost ~5× more per seal and open here; envelopes are the
 * same bytes either way (tests check RFC 9180 A.2.1 and interoperation both ways with the
 * library's primitives and with the pure-JavaScript `@hpke/dhkem-x25519` of earlier releases).
 *
 * The library's API is asynchronous (WebCrypto style: `CryptoKey`s, `Promise<ArrayBuffer>`), so
 * {@link hpkeSeal} and {@link hpkeOpen} return promises; keys cross this module's boundary as raw
 * 32-byte arrays. Each seal is single-shot (a fresh ephemeral key and context per message).
 *
 * @module
 */
import { CipherSuite } from '@hpke/core';
import { type Ed25519KeyPair, ed25519Generate } from '../crypto/ed25519.ts';
import { x25519Generate } from '../crypto/x25519.ts';
import { ProtocolError } from '../errors.ts';
import { NodeChacha20Poly1305, NodeDhkemX25519HkdfSha256, NodeHkdfSha256 } from './hpke-primitives.ts';

/** The suite's identifiers (RFC 9180 §7): KEM, KDF, AEAD. */
export const HPKE_SUITE_IDS = { kem: 0x0020, kdf: 0x0001, aead: 0x0003 } as const;

/** Length of `enc` (the ephemeral X25519 public key), bytes. */
export const HPKE_ENC_LENGTH = 32;

/** Length of the AEAD tag added to each ciphertext, bytes. */
export const HPKE_TAG_LENGTH = 16;

let suite: CipherSuite | undefined;

/**
 * The `@hpke/core` cipher suite of this module (created once), for callers that need a
 * multi-message context or the exporter (tests, benchmarks).
 */
export function hpkeSuite(): CipherSuite {
  suite ??= new CipherSuite({
    kem: new NodeDhkemX25519HkdfSha256(),
    kdf: new NodeHkdfSha256(),
    aead: new NodeChacha20Poly1305(),
  });
  return suite;
}

/** Options of {@link hpkeSeal}. */
export interface HpkeSealOptions {
  /** Application info bound into the key schedule. */
  info: Uint8Array;
  /** Associated data authenticated with the ciphertext. */
  aad: Uint8Array;
  /**
   * Input keying material of the ephemeral key pair (RFC 9180 DeriveKeyPair, ≥ 32 bytes): for test
   * vectors only. Omitted, a fresh random ephemeral key is drawn.
   */
  ephemeralSeed?: Uint8Array;
}

/** Options of {@link hpkeOpen}. */
export interface HpkeOpenOptions {
  /** The info the sender used. */
  info: Uint8Array;
  /** The associated data the sender used. */
  aad: Uint8Array;
}

/** An HPKE contact's keys: X25519 for HPKE, Ed25519 for signing acknowledgements. */
export interface ContactKeys {
  /** X25519 private key, 32 bytes. Keep secret. */
  privateKey: Uint8Array;
  /** X25519 public key, 32 bytes (`hpkeKey` in the contact set). */
  publicKey: Uint8Array;
  /** Ed25519 seed, 32 bytes. Keep secret. */
  signSeed: Uint8Array;
  /** Ed25519 public key, 32 bytes (`signKey` in the contact set). */
  signKey: Uint8Array;
}

const u8 = (b: ArrayBuffer): Uint8Array => new Uint8Array(b);

function keyError(what: string, cause: unknown): ProtocolError {
  return new ProtocolError('CRYPTO_INVALID_KEY', `HPKE ${what}`, { cause });
}

function checkKey(key: unknown, what: string): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  if (key.length !== 32) throw new ProtocolError('CRYPTO_INVALID_KEY', `HPKE ${what} must be 32 bytes, got ${key.length}`);
}

/**
 * Derives a key pair from input keying material (RFC 9180 §7.1.3 DeriveKeyPair), as the test
 * vectors do with `ikmE` and `ikmR`.
 * @returns raw 32-byte keys
 */
export async function hpkeDeriveKeyPair(ikm: Uint8Array): Promise<{ privateKey: Uint8Array; publicKey: Uint8Array }> {
  const s = hpkeSuite();
  const kp = await s.kem.deriveKeyPair(ikm);
  return {
    privateKey: u8(await s.kem.serializePrivateKey(kp.privateKey)),
    publicKey: u8(await s.kem.serializePublicKey(kp.publicKey)),
  };
}

/**
 * Seals `plaintext` to `recipientPublicKey` (single-shot SealBase).
 * @returns `enc` (32 bytes, the ephemeral public key) and `ct` (plaintext + 16-byte tag)
 * @throws {TypeError} for non-byte arguments
 * @throws {@link ProtocolError} `CRYPTO_INVALID_KEY` for a key that is not 32 bytes or of small order
 */
export async function hpkeSeal(
  recipientPublicKey: Uint8Array,
  plaintext: Uint8Array,
  options: HpkeSealOptions,
): Promise<{ enc: Uint8Array; ct: Uint8Array }> {
  checkKey(recipientPublicKey, 'recipient public key');
  if (!(plaintext instanceof Uint8Array)) throw new TypeError('plaintext must be a Uint8Array');
  const s = hpkeSuite();
  let ctx: Awaited<ReturnType<CipherSuite['createSenderContext']>>;
  try {
    const recipient = await s.kem.deserializePublicKey(recipientPublicKey);
    const ekm = options.ephemeralSeed === undefined ? undefined : await s.kem.deriveKeyPair(options.ephemeralSeed);
    ctx = await s.createSenderContext({ recipientPublicKey: recipient, info: options.info, ...(ekm ? { ekm } : {}) });
  } catch (e) {
    throw keyError('encapsulation failed (recipient key of small order?)', e);
  }
  const ct = await ctx.seal(plaintext, options.aad);
  return { enc: u8(ctx.enc), ct: u8(ct) };
}

/**
 * Opens a single-shot HPKE ciphertext (OpenBase).
 * @returns the plaintext
 * @throws {TypeError} for non-byte arguments
 * @throws {@link ProtocolError} `CRYPTO_INVALID_KEY` for a private key that is not 32 bytes;
 *   `EMERGENCY_DECRYPT_FAILED` if `enc` is malformed or the ciphertext does not authenticate
 *   (tampered, wrong key, wrong info or aad)
 */
export async function hpkeOpen(
  recipientPrivateKey: Uint8Array,
  enc: Uint8Array,
  ct: Uint8Array,
  options: HpkeOpenOptions,
): Promise<Uint8Array> {
  checkKey(recipientPrivateKey, 'recipient private key');
  if (!(enc instanceof Uint8Array) || !(ct instanceof Uint8Array)) throw new TypeError('enc and ct must be Uint8Arrays');
  const s = hpkeSuite();
  let key: CryptoKey;
  try {
    key = await s.kem.deserializePrivateKey(recipientPrivateKey);
  } catch (e) {
    throw keyError('private key rejected', e);
  }
  try {
    const ctx = await s.createRecipientContext({ recipientKey: key, enc, info: options.info });
    return u8(await ctx.open(ct, options.aad));
  } catch (e) {
    throw new ProtocolError('EMERGENCY_DECRYPT_FAILED', `HPKE open failed (${(e as Error).name ?? 'error'})`, { cause: e });
  }
}

/**
 * Generates a contact's keys: an X25519 pair for HPKE and an Ed25519 pair for acknowledgements.
 * @param random - optional source of randomness `(n) => n bytes` (tests)
 */
export function contactKeygen(random?: (n: number) => Uint8Array): ContactKeys {
  const x = x25519Generate(random);
  const e: Ed25519KeyPair = ed25519Generate(random);
  return { privateKey: x.privateKey, publicKey: x.publicKey, signSeed: e.seed, signKey: e.publicKey };
}
