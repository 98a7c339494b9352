/**
 * Payloads carried inside the Noise handshake messages of a Key session (CBOR, integer keys).
 *
 * - XX message 2 and IK message 2 (Key → host): {@link IdentityBinding} — the Key's Ed25519
 *   identity public key, its device handle, and the identity's signature over the Key's static
 *   X25519 public key and the handle, so the host learns who it talks to (and which handle that
 *   Key really has) from inside the authenticated handshake, never from cleartext `info`, and can
 *   pin it by identity. The binding is encrypted by the handshake, so a passive observer never
 *   sees the identity key or the handle.
 * - IK message 1 (host → Key): {@link IkHello} — a timestamp that must grow for each host: the IK
 *   first message can be replayed by anyone who recorded it, so it carries no command, and the Key
 *   rejects a timestamp not above the last one it accepted from that host (as WireGuard does).
 * @module
 */
import { concatBytes } from '../bytes.ts';
import { ed25519Sign, ed25519Verify } from '../crypto/ed25519.ts';
import { ProtocolError } from '../errors.ts';
import { defineRecord, field, t } from '../messages/record.ts';

/** Domain-separation label of the static-key binding signature (v1: static key only). */
export const BINDING_LABEL = new TextEncoder().encode('enigm-key static-key binding v1\0');
/** Domain-separation label of the identity binding signature (v2: static key and handle). */
export const IDENTITY_BINDING_LABEL = new TextEncoder().encode('enigm-key identity binding v2\0');

/** XX and IK message 2 payload. */
export const IdentityBinding = defineRecord('identity-binding', {
  identity: field(1, t.bytes(32, 32), false, "the Key's Ed25519 identity public key"),
  signature: field(2, t.bytes(64, 64), false, 'Ed25519 signature over label v2 ‖ static X25519 public key ‖ handle'),
  handle: field(3, t.bytes(16, 16), false, "the Key's device handle (the UEID of its evidence)"),
});

/** IK message 1 payload. */
export const IkHello = defineRecord('ik-hello', {
  timestamp: field(1, t.uint(Number.MAX_SAFE_INTEGER), false, 'host clock, ms; must grow per host'),
});

/** The message an identity key signs to bind a static key (v1, kept for the secure element). */
export function bindingMessage(staticPublicKey: Uint8Array): Uint8Array {
  return concatBytes(BINDING_LABEL, staticPublicKey);
}

/**
 * The message an identity key signs to bind a static key and a device handle (v2, what sessions
 * check). Both parts have fixed lengths (32 and 16 bytes), so the concatenation is unambiguous.
 * @throws RangeError for a static key that is not 32 bytes or a handle that is not 16
 */
export function identityBindingMessage(staticPublicKey: Uint8Array, handle: Uint8Array): Uint8Array {
  if (staticPublicKey.length !== 32 || handle.length !== 16)
    throw new RangeError('identity binding: the static key must be 32 bytes and the handle 16');
  return concatBytes(IDENTITY_BINDING_LABEL, staticPublicKey, handle);
}

/**
 * Signs the binding of a static key to an identity (for tests and tools; a Key does this in its
 * secure element).
 */
export function signBinding(identitySeed: Uint8Array, staticPublicKey: Uint8Array): Uint8Array {
  return ed25519Sign(identitySeed, bindingMessage(staticPublicKey));
}

/**
 * Checks that `identity` signed `staticPublicKey` (v1 binding).
 * @throws {@link ProtocolError} `SESSION_BINDING` if it did not, `CRYPTO_INVALID_KEY` for a
 *   small-order or malformed identity key
 */
export function verifyBinding(identity: Uint8Array, staticPublicKey: Uint8Array, signature: Uint8Array): void {
  if (!ed25519Verify(identity, bindingMessage(staticPublicKey), signature))
    throw new ProtocolError('SESSION_BINDING', "the Key's static key is not signed by its identity key");
}

/**
 * Checks an {@link IdentityBinding} received in a handshake: `binding.identity` signed the
 * handshake's remote static key together with `binding.handle`.
 * @throws {@link ProtocolError} `SESSION_BINDING` if it did not, `CRYPTO_INVALID_KEY` for a
 *   small-order or malformed identity key
 */
export function verifyIdentityBinding(
  binding: { identity: Uint8Array; handle: Uint8Array; signature: Uint8Array },
  staticPublicKey: Uint8Array,
): void {
  if (!ed25519Verify(binding.identity, identityBindingMessage(staticPublicKey, binding.handle), binding.signature))
    throw new ProtocolError('SESSION_BINDING', "the Key's static key and handle are not signed by its identity key");
}
