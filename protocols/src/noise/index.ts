/**
 * The Noise Protocol Framework (revision 34) for the suite `25519_ChaChaPoly_SHA256`:
 * `CipherState`, `SymmetricState` and `HandshakeState` as the spec defines them, driven by a table
 * of the 15 fundamental handshake patterns. The local static key is a {@link StaticKey} object
 * (public key + DH function), so it may live in a secure element.
 *
 * @module
 */

export { CipherState, KEYLEN, MAX_MESSAGE_LENGTH, MAX_NONCE, TAGLEN } from './cipher-state.ts';
export type { KeyPairObject, StaticKey } from './dh.ts';
export {
  DHLEN,
  generateKeyPair,
  keyPairFromPrivate,
  PUBLIC_KEY_CACHE_SIZE,
  staticKeyFromPrivate,
  x25519PublicKey,
} from './dh.ts';
export type { HandshakeOptions } from './handshake-state.ts';
export { HandshakeState } from './handshake-state.ts';
export type { HandshakePattern, HandshakePatternName, PreMessageToken, Token } from './patterns.ts';
export { HANDSHAKE_PATTERNS, protocolName } from './patterns.ts';
export { HASHLEN, hash, hkdf, SymmetricState } from './symmetric-state.ts';
