/**
 * Noise `CipherState` (spec rev 34 §5.1) for the ChaChaPoly cipher functions (§12.3):
 * ChaCha20-Poly1305 (RFC 8439) with a 16-byte tag and the 96-bit nonce
 * `00000000 ‖ little-endian 64-bit n`, on `node:crypto`.
 *
 * @module
 */

import { createCipheriv, createDecipheriv } from 'node:crypto';
import { ProtocolError } from '../errors.ts';

/**
 * Length of a cipher key, bytes.
 * @example new CipherState(new Uint8Array(KEYLEN))
 */
export const KEYLEN = 32;
/**
 * Length of the Poly1305 authentication tag appended to every ciphertext, bytes.
 * @example state.encryptWithAd(ad, plaintext).length === plaintext.length + TAGLEN
 */
export const TAGLEN = 16;
/**
 * Largest Noise message, bytes (spec §3); the largest transport plaintext is this minus {@link TAGLEN}.
 * @example const maxPlaintext = MAX_MESSAGE_LENGTH - TAGLEN; // 65519
 */
export const MAX_MESSAGE_LENGTH = 65535;
/**
 * The reserved nonce 2^64 − 1: used only by {@link CipherState.rekey}.
 * @example state.nonce < MAX_NONCE
 */
export const MAX_NONCE = 2n ** 64n - 1n;

const ALGORITHM = 'chacha20-poly1305';
const OPTIONS = { authTagLength: TAGLEN } as const;
const EMPTY = new Uint8Array(0);
const ZEROS32 = new Uint8Array(32);
/** Nonce of REKEY: 32 zero bits then n = 2^64 − 1 little-endian. */
const REKEY_NONCE = Buffer.from('00000000ffffffffffffffff', 'hex');

/**
 * A Noise `CipherState`: a key `k` (or none) and a 64-bit nonce `n`.
 *
 * Without a key, `encryptWithAd`/`decryptWithAd` return their input unchanged, as the spec says
 * (this happens only inside a handshake). `n` = 2^64 − 1 is reserved: reaching it makes every
 * further encryption and decryption throw `NOISE_NONCE_EXHAUSTED`. A failed decryption does not
 * advance `n`.
 *
 * Results are plain `Uint8Array`s that may be views into a shared pool (as with `allocBytes`):
 * use their `byteOffset`/`byteLength`, never their whole `.buffer`.
 *
 * @example
 * const a = new CipherState(key), b = new CipherState(key);
 * b.decryptWithAd(ad, a.encryptWithAd(ad, plaintext)); // plaintext
 */
export class CipherState {
  /** The key, or undefined (spec `empty`). */
  #k: Buffer | undefined;
  /** Low and high 32 bits of n. */
  #lo = 0;
  #hi = 0;
  /** `00000000 ‖ LE64(n)`, rewritten before each use (Node copies the IV). */
  readonly #iv = Buffer.alloc(12);
  /** Why this state may not be used at all (the unused direction of a one-way pattern). */
  #disabled: string | undefined;

  /**
   * @param key - 32-byte key (copied); omit for a state with no key yet
   * @throws ProtocolError `CRYPTO_INVALID_KEY` if `key` is not 32 bytes
   * @example const transport = new CipherState(key);
   */
  constructor(key?: Uint8Array) {
    if (key !== undefined) this.initializeKey(key);
  }

  /**
   * A state every operation of which throws `NOISE_STATE` with `reason`: the direction a one-way
   * handshake pattern does not use (spec §5.3, `Split`: "c2 can be deleted").
   * @throws never itself; its operations throw `NOISE_STATE`
   * @example CipherState.disabled('one-way pattern: the responder cannot send').hasKey() === false
   */
  static disabled(reason: string): CipherState {
    const state = new CipherState();
    state.#disabled = reason;
    return state;
  }

  /**
   * Spec `InitializeKey(key)`: sets `k = key` (copied) and `n = 0`.
   * @throws ProtocolError `CRYPTO_INVALID_KEY` if `key` is not 32 bytes; `NOISE_STATE` if disabled
   * @example state.initializeKey(randomBytes(32))
   */
  initializeKey(key: Uint8Array): void {
    this.#checkUsable();
    if (!(key instanceof Uint8Array) || key.length !== KEYLEN)
      throw new ProtocolError('CRYPTO_INVALID_KEY', `a ChaChaPoly key must be ${KEYLEN} bytes`);
    this.#k = Buffer.from(key);
    this.#lo = 0;
    this.#hi = 0;
  }

  /**
   * Spec `HasKey()`.
   * @throws never
   * @example new CipherState().hasKey() === false
   */
  hasKey(): boolean {
    return this.#k !== undefined;
  }

  /**
   * The current nonce `n`.
   * @throws never
   * @example new CipherState(key).nonce === 0n
   */
  get nonce(): bigint {
    return (BigInt(this.#hi) << 32n) | BigInt(this.#lo);
  }

  /**
   * Spec `SetNonce(nonce)`. Setting 2^64 − 1 makes the next encryption or decryption throw
   * `NOISE_NONCE_EXHAUSTED`.
   * @throws ProtocolError `NOISE_STATE` if `n` is not an integer in [0, 2^64 − 1] or the state is disabled
   * @example state.setNonce(5n)
   */
  setNonce(n: bigint): void {
    this.#checkUsable();
    if (typeof n !== 'bigint' || n < 0n || n > MAX_NONCE)
      throw new ProtocolError('NOISE_STATE', 'a Noise nonce must be a bigint in [0, 2^64 - 1]');
    this.#lo = Number(n & 0xffffffffn);
    this.#hi = Number(n >> 32n);
  }

  /**
   * Spec `EncryptWithAd(ad, plaintext)`: `ENCRYPT(k, n++, ad, plaintext)` = ciphertext ‖ 16-byte tag,
   * or `plaintext` itself when there is no key.
   * @throws ProtocolError `NOISE_NONCE_EXHAUSTED` if `n` = 2^64 − 1; `NOISE_STATE` if the result would
   *   exceed {@link MAX_MESSAGE_LENGTH} or the state is disabled
   * @example const ct = state.encryptWithAd(new Uint8Array(0), plaintext); // plaintext.length + 16 bytes
   */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const k = this.#k;
    if (k === undefined) {
      this.#checkUsable();
      return plaintext;
    }
    const len = plaintext.length;
    if (len > MAX_MESSAGE_LENGTH - TAGLEN)
      throw new ProtocolError('NOISE_STATE', `a Noise message holds at most ${MAX_MESSAGE_LENGTH - TAGLEN} plaintext bytes`);
    const iv = this.#nextIv();
    const cipher = createCipheriv(ALGORITHM, k, iv, OPTIONS);
    cipher.setAAD(ad, { plaintextLength: len });
    const body = cipher.update(plaintext);
    cipher.final();
    // Node's pooled allocation (no zero-fill; every byte is written below) is the cheapest home
    // for ciphertext ‖ tag; the result is a plain Uint8Array view of it.
    const out = Buffer.allocUnsafe(len + TAGLEN);
    out.set(body);
    out.set(cipher.getAuthTag(), len);
    this.#advance();
    return new Uint8Array(out.buffer, out.byteOffset, len + TAGLEN);
  }

  /**
   * Spec `DecryptWithAd(ad, ciphertext)`: `DECRYPT(k, n++, ad, ciphertext)`, or `ciphertext` itself
   * when there is no key. On failure `n` is not incremented.
   * @throws ProtocolError `CRYPTO_DECRYPT_FAILED` if authentication fails, the ciphertext is shorter
   *   than the tag or longer than {@link MAX_MESSAGE_LENGTH}; `NOISE_NONCE_EXHAUSTED` if `n` = 2^64 − 1;
   *   `NOISE_STATE` if disabled
   * @example state.decryptWithAd(ad, ct) // the plaintext
   */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    const k = this.#k;
    if (k === undefined) {
      this.#checkUsable();
      return ciphertext;
    }
    const len = ciphertext.length - TAGLEN;
    if (len < 0 || ciphertext.length > MAX_MESSAGE_LENGTH)
      throw new ProtocolError('CRYPTO_DECRYPT_FAILED', `a ciphertext must be ${TAGLEN} to ${MAX_MESSAGE_LENGTH} bytes`);
    const iv = this.#nextIv();
    const decipher = createDecipheriv(ALGORITHM, k, iv, OPTIONS);
    decipher.setAAD(ad, { plaintextLength: len });
    decipher.setAuthTag(ciphertext.subarray(len));
    const body = decipher.update(ciphertext.subarray(0, len));
    try {
      decipher.final();
    } catch (cause) {
      body.fill(0);
      throw new ProtocolError('CRYPTO_DECRYPT_FAILED', 'ChaChaPoly authentication failed', { cause });
    }
    this.#advance();
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  }

  /**
   * Spec `Rekey()`: `k = ENCRYPT(k, 2^64 − 1, empty, 32 zero bytes)[0..32]` (§4.2); `n` is unchanged.
   * Both sides must rekey at the same point of the stream.
   * @throws ProtocolError `NOISE_STATE` if there is no key or the state is disabled
   * @example a.rekey(); b.rekey(); // still interoperate
   */
  rekey(): void {
    this.#checkUsable();
    const k = this.#k;
    if (k === undefined) throw new ProtocolError('NOISE_STATE', 'Rekey needs a key');
    const cipher = createCipheriv(ALGORITHM, k, REKEY_NONCE, OPTIONS);
    cipher.setAAD(EMPTY, { plaintextLength: 32 });
    const next = cipher.update(ZEROS32);
    cipher.final();
    k.fill(0);
    this.#k = next.subarray(0, KEYLEN);
  }

  /** Writes n into the IV; throws if n is the reserved maximum. */
  #nextIv(): Buffer {
    const lo = this.#lo;
    const hi = this.#hi;
    if (lo === 0xffffffff && hi === 0xffffffff)
      throw new ProtocolError('NOISE_NONCE_EXHAUSTED', 'the nonce reached 2^64 - 1; the session must be closed');
    const iv = this.#iv;
    iv.writeUInt32LE(lo, 4);
    iv.writeUInt32LE(hi, 8);
    return iv;
  }

  #advance(): void {
    if (this.#lo === 0xffffffff) {
      this.#lo = 0;
      this.#hi++;
    } else this.#lo++;
  }

  #checkUsable(): void {
    if (this.#disabled !== undefined) throw new ProtocolError('NOISE_STATE', this.#disabled);
  }
}
