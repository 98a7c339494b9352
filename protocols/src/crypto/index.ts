/**
 * Crypto backend of the suite: Ed25519 (strict verification), X25519, ChaCha20-Poly1305,
 * SHA-256 / HMAC / HKDF, and PEM keys. The math is node:crypto (OpenSSL); `@noble/ed25519`
 * supplies the strict point checks OpenSSL lacks. Failures on data are `ProtocolError`s
 * (`CRYPTO_*`); wrong argument types are `TypeError`s naming the argument.
 *
 * @module
 */

export { CHACHA_KEY_LENGTH, CHACHA_NONCE_LENGTH, CHACHA_TAG_LENGTH, chachaOpen, chachaSeal } from './aead.ts';
export type { Ed25519KeyPair, Ed25519Options } from './ed25519.ts';
export {
  ED25519_KEY_LENGTH,
  ED25519_SIGNATURE_LENGTH,
  ed25519CachedPrivateKeys,
  ed25519Generate,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Signer,
  ed25519Verify,
  isAcceptableEd25519PublicKey,
} from './ed25519.ts';
export {
  HKDF_SHA256_MAX_LENGTH,
  hkdfSha256,
  hkdfSha256Expand,
  hkdfSha256Extract,
  hmacSha256,
  SHA256_LENGTH,
  sha256,
} from './hash.ts';
export {
  ed25519PrivateKeyFromPem,
  ed25519PrivateKeyToPem,
  ed25519PublicKeyFromPem,
  ed25519PublicKeyToPem,
  x25519PrivateKeyFromPem,
  x25519PrivateKeyToPem,
  x25519PublicKeyFromPem,
  x25519PublicKeyToPem,
} from './keys.ts';
export { clearCryptoCaches } from './util.ts';
export type { X25519KeyPair, X25519Options } from './x25519.ts';
export { X25519_KEY_LENGTH, x25519, x25519CachedPrivateKeys, x25519Generate, x25519PublicKey } from './x25519.ts';
