/**
 * The primitives of the HPKE suite on node:crypto, plugged into `@hpke/core`'s `CipherSuite`
 * through the library's own extension points, so the library keeps the whole protocol (DHKEM
 * encap/decap and its labels, the key schedule, nonces and sequence numbers, the exporter):
 *
 * - {@link NodeDhkemX25519HkdfSha256}: `@hpke/common`'s generic `Dhkem` over its
 *   `XCurveDhkemPrimitives` (as `@hpke/dhkem-x25519` builds its pure-JavaScript KEM), given an
 *   X25519 of node:crypto (`crypto/x25519.ts`: OpenSSL, all-zero results refused) in place of the
 *   noble curve;
 * - {@link NodeHkdfSha256}: `@hpke/common`'s `HkdfSha256Native` (labels, `labeledExtract`,
 *   `labeledExpand`) with extract and expand on synchronous node:crypto HMAC (`crypto/hash.ts`)
 *   instead of WebCrypto (one `importKey` plus one asynchronous job per HMAC);
 * - {@link NodeChacha20Poly1305}: the AEAD on node:crypto's `chacha20-poly1305`
 *   (`crypto/aead.ts`) instead of `@hpke/chacha20poly1305`'s pure JavaScript.
 *
 * Same suite ids, so the envelopes are the same bytes: RFC 9180 A.2.1 and interoperation with the
 * library's own WebCrypto and pure-JavaScript primitives are checked by the tests. The methods stay
 * promise-returning (the library's interfaces) but do their work synchronously.
 *
 * @module
 */
import { randomFillSync } from 'node:crypto';
import {
  type AeadEncryptionContext,
  AeadId,
  type AeadInterface,
  Dhkem,
  HkdfSha256Native,
  KemId,
  type MontgomeryECDH,
  XCurveDhkemPrimitives,
} from '@hpke/common';
import { chachaOpen, chachaSeal } from '../crypto/aead.ts';
import { hkdfSha256, hkdfSha256Expand, hkdfSha256Extract } from '../crypto/hash.ts';
import { x25519, x25519PublicKey } from '../crypto/x25519.ts';

type Bytes = ArrayBufferLike | ArrayBufferView;

/** A Uint8Array view of the library's byte arguments (no copy). */
function bytes(b: Bytes): Uint8Array {
  if (b instanceof Uint8Array) return b;
  if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return new Uint8Array(b);
}

/**
 * An `ArrayBuffer` holding exactly `b` (the library returns and reads whole `ArrayBuffer`s), wiping
 * `b` when it was only an intermediate.
 */
function exactBuffer(b: Uint8Array, wipe = false): ArrayBuffer {
  const out = b.slice().buffer;
  if (wipe) b.fill(0);
  return out;
}

/** A 32-byte array with its own buffer (`XCurveDhkemPrimitives` hands out `key.buffer`). */
const own = (b: Uint8Array): Uint8Array => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice());

const X25519_BASE = Uint8Array.of(9, ...new Uint8Array(31));

function randomSecretKey(seed?: Uint8Array): Promise<Uint8Array> {
  if (seed !== undefined)
    return seed.length === 32 ? Promise.resolve(seed) : Promise.reject(new RangeError('seed must be 32 bytes'));
  return Promise.resolve(randomFillSync(new Uint8Array(32)));
}

/**
 * X25519 on node:crypto in the shape of the library's curve (`MontgomeryECDH`). Only
 * `getPublicKey`, `getSharedSecret` and `utils.randomSecretKey` are called by
 * `XCurveDhkemPrimitives`; the rest completes the type. Shared secrets are checked (all zero, a
 * small-order peer point, throws — RFC 9180 §7.1.4 requires the check). Private keys are never
 * cached (`cache: false`): an HPKE sender's keys are one-time, and no copy of any of them outlives
 * the call.
 */
const NO_CACHE = { cache: false } as const;
const nodeX25519: MontgomeryECDH = {
  getPublicKey: (secretKey) => x25519PublicKey(secretKey, NO_CACHE),
  getSharedSecret: (secretKey, publicKey) => own(x25519(secretKey, publicKey, NO_CACHE)),
  scalarMult: (scalar, u) => own(x25519(scalar, u, NO_CACHE)),
  scalarMultBase: (scalar) => x25519PublicKey(scalar, NO_CACHE),
  utils: { randomSecretKey },
  GuBytes: X25519_BASE,
  lengths: { secretKey: 32, publicKey: 32, seed: 32 },
  keygen: () => {
    const secretKey = randomFillSync(new Uint8Array(32));
    return { secretKey, publicKey: x25519PublicKey(secretKey, NO_CACHE) };
  },
};

/**
 * HKDF-SHA256 (KDF 0x0001) for `@hpke/core`: the library's `HkdfSha256Native` (HPKE labels and
 * suite id) with extract and expand on node:crypto HMAC (RFC 5869).
 */
export class NodeHkdfSha256 extends HkdfSha256Native {
  /** HKDF-Extract; an empty salt is 32 zero bytes. */
  override extract(salt: Bytes, ikm: Bytes): Promise<ArrayBuffer> {
    try {
      return Promise.resolve(exactBuffer(hkdfSha256Extract(bytes(ikm), bytes(salt))));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** HKDF-Expand to `len` bytes (at most 255 × 32). */
  override expand(prk: Bytes, info: Bytes, len: number): Promise<ArrayBuffer> {
    try {
      return Promise.resolve(exactBuffer(hkdfSha256Expand(bytes(prk), bytes(info), len), true));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** HKDF-Extract then -Expand. */
  override extractAndExpand(salt: Bytes, ikm: Bytes, info: Bytes, len: number): Promise<ArrayBuffer> {
    try {
      return Promise.resolve(exactBuffer(hkdfSha256(bytes(ikm), bytes(salt), bytes(info), len), true));
    } catch (e) {
      return Promise.reject(e);
    }
  }
}

/**
 * DHKEM(X25519, HKDF-SHA256) (KEM 0x0020): `@hpke/common`'s `Dhkem` and `XCurveDhkemPrimitives`
 * over node:crypto X25519 and {@link NodeHkdfSha256}. Keys are `XCryptoKey`s holding raw bytes.
 */
export class NodeDhkemX25519HkdfSha256 extends Dhkem {
  /** KemId.DhkemX25519HkdfSha256 (0x0020). */
  override readonly id = KemId.DhkemX25519HkdfSha256;
  /** 32 */
  override readonly secretSize = 32;
  /** 32 */
  override readonly encSize = 32;
  /** 32 */
  override readonly publicKeySize = 32;
  /** 32 */
  override readonly privateKeySize = 32;

  constructor() {
    const kdf = new NodeHkdfSha256();
    super(KemId.DhkemX25519HkdfSha256, new XCurveDhkemPrimitives('X25519', 32, nodeX25519, kdf), kdf);
  }
}

class NodeChachaContext implements AeadEncryptionContext {
  readonly #key: Uint8Array;

  constructor(key: Bytes) {
    this.#key = bytes(key).slice();
  }

  seal(iv: Bytes, data: Bytes, aad: Bytes): Promise<ArrayBuffer> {
    try {
      return Promise.resolve(exactBuffer(chachaSeal(this.#key, bytes(iv), bytes(data), bytes(aad))));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  open(iv: Bytes, data: Bytes, aad: Bytes): Promise<ArrayBuffer> {
    try {
      return Promise.resolve(exactBuffer(chachaOpen(this.#key, bytes(iv), bytes(data), bytes(aad))));
    } catch (e) {
      return Promise.reject(e);
    }
  }
}

/** ChaCha20-Poly1305 (AEAD 0x0003, RFC 8439) for `@hpke/core`, on node:crypto. */
export class NodeChacha20Poly1305 implements AeadInterface {
  /** AeadId.Chacha20Poly1305 (0x0003). */
  readonly id = AeadId.Chacha20Poly1305;
  /** 32 */
  readonly keySize = 32;
  /** 12 */
  readonly nonceSize = 12;
  /** 16 */
  readonly tagSize = 16;

  /** A context sealing and opening with `key` (copied). */
  createEncryptionContext(key: Bytes): AeadEncryptionContext {
    return new NodeChachaContext(key);
  }
}
