/**
 * Noise `SymmetricState` (spec rev 34 §5.2) with `HASH` = SHA-256 (§12.5) and `HKDF` built from
 * HMAC-SHA256 as in §4.3, on `node:crypto`.
 *
 * @module
 */

import { createHash, createHmac } from 'node:crypto';
import { CipherState } from './cipher-state.ts';

/**
 * Output length of SHA-256, bytes (Noise `HASHLEN`).
 * @example hash(data).length === HASHLEN
 */
export const HASHLEN = 32;

const EMPTY = new Uint8Array(0);
const BYTE_1 = new Uint8Array([1]);
const BYTE_2 = new Uint8Array([2]);
const BYTE_3 = new Uint8Array([3]);

/**
 * SHA-256 of the concatenation of `parts`.
 * @throws never
 * @example hash(new Uint8Array(0)).length === 32
 */
export function hash(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const part of parts) h.update(part);
  return h.digest();
}

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const m = createHmac('sha256', key);
  for (const part of parts) m.update(part);
  return m.digest();
}

/**
 * Spec §4.3 `HKDF(chaining_key, input_key_material, num_outputs)` with HMAC-SHA256:
 * `temp_key = HMAC(ck, ikm)`, `output1 = HMAC(temp_key, 0x01)`,
 * `output_i = HMAC(temp_key, output_(i-1) ‖ i)`.
 * @throws never
 * @example const [ck, k] = hkdf(ck, dhOutput, 2);
 */
export function hkdf(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array, numOutputs: 2): [Buffer, Buffer];
export function hkdf(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array, numOutputs: 3): [Buffer, Buffer, Buffer];
export function hkdf(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array, numOutputs: 2 | 3): Buffer[] {
  const tempKey = hmac(chainingKey, inputKeyMaterial);
  const out1 = hmac(tempKey, BYTE_1);
  const out2 = hmac(tempKey, out1, BYTE_2);
  if (numOutputs === 2) {
    tempKey.fill(0);
    return [out1, out2];
  }
  const out3 = hmac(tempKey, out2, BYTE_3);
  tempKey.fill(0);
  return [out1, out2, out3];
}

/**
 * A Noise `SymmetricState`: chaining key `ck`, handshake hash `h` and a {@link CipherState}.
 * Building block of `HandshakeState`; exported for tests and other Noise-based protocols.
 *
 * @example
 * const ss = new SymmetricState('Noise_NN_25519_ChaChaPoly_SHA256');
 * ss.mixHash(prologue);
 */
export class SymmetricState {
  #ck: Buffer;
  #h: Buffer;
  readonly #cipher = new CipherState();

  /**
   * Spec `InitializeSymmetric(protocol_name)`: `h` = the name zero-padded to {@link HASHLEN} bytes,
   * or its hash if longer; `ck = h`; no cipher key.
   * @throws never
   * @example new SymmetricState('Noise_XX_25519_ChaChaPoly_SHA256')
   */
  constructor(protocolName: string) {
    const name = Buffer.from(protocolName, 'utf8');
    let h: Buffer;
    if (name.length <= HASHLEN) {
      h = Buffer.alloc(HASHLEN);
      name.copy(h);
    } else h = hash(name);
    this.#h = h;
    this.#ck = Buffer.from(h);
  }

  /**
   * Spec `MixKey(input_key_material)`: `ck, temp_k = HKDF(ck, ikm, 2)`; `InitializeKey(temp_k)`.
   * @throws never
   * @example ss.mixKey(dhOutput)
   */
  mixKey(inputKeyMaterial: Uint8Array): void {
    const [ck, tempK] = hkdf(this.#ck, inputKeyMaterial, 2);
    this.#ck.fill(0);
    this.#ck = ck;
    this.#cipher.initializeKey(tempK);
    tempK.fill(0);
  }

  /**
   * Spec `MixHash(data)`: `h = HASH(h ‖ data)`.
   * @throws never
   * @example ss.mixHash(prologue)
   */
  mixHash(data: Uint8Array): void {
    this.#h = hash(this.#h, data);
  }

  /**
   * Spec `MixKeyAndHash(input_key_material)` (used by PSK modifiers):
   * `ck, temp_h, temp_k = HKDF(ck, ikm, 3)`; `MixHash(temp_h)`; `InitializeKey(temp_k)`.
   * @throws never
   * @example ss.mixKeyAndHash(psk)
   */
  mixKeyAndHash(inputKeyMaterial: Uint8Array): void {
    const [ck, tempH, tempK] = hkdf(this.#ck, inputKeyMaterial, 3);
    this.#ck.fill(0);
    this.#ck = ck;
    this.mixHash(tempH);
    this.#cipher.initializeKey(tempK);
    tempK.fill(0);
  }

  /**
   * Whether the inner cipher state has a key (after the first `MixKey`).
   * @throws never
   * @example new SymmetricState(name).hasKey() === false
   */
  hasKey(): boolean {
    return this.#cipher.hasKey();
  }

  /**
   * Spec `GetHandshakeHash()`: a copy of `h`.
   * @throws never
   * @example ss.handshakeHash().length === 32
   */
  handshakeHash(): Uint8Array {
    return new Uint8Array(this.#h);
  }

  /**
   * Spec `EncryptAndHash(plaintext)`: `ciphertext = EncryptWithAd(h, plaintext)`; `MixHash(ciphertext)`.
   * @throws ProtocolError as {@link CipherState.encryptWithAd}
   * @example const ct = ss.encryptAndHash(payload);
   */
  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.#cipher.encryptWithAd(this.#h, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  /**
   * Spec `DecryptAndHash(ciphertext)`: `plaintext = DecryptWithAd(h, ciphertext)`; `MixHash(ciphertext)`.
   * @throws ProtocolError `CRYPTO_DECRYPT_FAILED` (and as {@link CipherState.decryptWithAd})
   * @example const payload = ss.decryptAndHash(ct);
   */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const plaintext = this.#cipher.decryptWithAd(this.#h, ciphertext);
    this.mixHash(ciphertext);
    return plaintext;
  }

  /**
   * Spec `Split()`: `temp_k1, temp_k2 = HKDF(ck, empty, 2)`; two new cipher states keyed with them
   * (`c1` initiator → responder, `c2` responder → initiator). Wipes `ck`; call once.
   * @throws never
   * @example const [c1, c2] = ss.split();
   */
  split(): [CipherState, CipherState] {
    const [k1, k2] = hkdf(this.#ck, EMPTY, 2);
    const c1 = new CipherState(k1);
    const c2 = new CipherState(k2);
    k1.fill(0);
    k2.fill(0);
    this.#ck.fill(0);
    return [c1, c2];
  }
}
