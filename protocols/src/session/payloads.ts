/**
 * Payloads carried inside the Noise handshake messages of a Key session (CBOR, integer keys).
 *
 * - XX message 2 (Key → host): {@link IdentityBinding} — the Key's Ed25519 identity public key
 *   and its signature over the Key's static X25519 public key, so the host learns who it talks to
 *   and can pin it. The binding is encrypted by the handshake, so a passive observer never sees
 *   the identity key.
 * - IK message 1 (host → Key): {@link IkHello} — a timestamp that must grow for each host: the IK
 *   first message can be replayed by anyone who recorded it, so it carries no command, and the Key
 *   rejects a timestamp not above the last one it accepted from that host (as WireGuard does).
 * @module
 */
import { concatBytes } from '../bytes.ts';
import { ed25519Sign, ed25519Verify } from '../crypto/ed25519.ts';
import { ProtocolError } from '../errors.ts';
import { defineRecord, field, t } from '../messages/record.ts';

/** Domain-separation label of the static-key binding signature. */
export const BINDING_LABEL = new TextEncoder().encode('enigm-key static-key binding v1\0');

/** XX message 2 payload. */
export const IdentityBinding = defineRecord('identity-binding', {
  identity: field(1, t.bytes(32, 32), false, "the Key's Ed25519 identity public key"),
  signature: field(2, t.bytes(64, 64), false, 'Ed25519 signature over label ‖ static X25519 public key'),
});

/** IK message 1 payload. */
export const IkHello = defineRecord('ik-hello', {
  timestamp: field(1, t.uint(Number.MAX_SAFE_INTEGER), false, 'host clock, ms; must grow per host'),
});

/** The message an identity key signs to bind a static key. */
export function bindingMessage(staticPublicKey: Uint8Array): Uint8Array {
  return concatBytes(BINDING_LABEL, staticPublicKey);
}

/**
 * Signs the binding of a static key to an identity (for tests and tools; a Key does this in its
 * secure element).
 */
export function signBinding(identitySeed: Uint8Array, staticPublicKey: Uint8Array): Uint8Array {
  return ed25519Sign(identitySeed, bindingMessage(staticPublicKey));
}

/**
 * Checks that `identity` signed `staticPublicKey`.
 * @throws {@link ProtocolError} `SESSION_BINDING` if it did not, `CRYPTO_INVALID_KEY` for a
 *   small-order or malformed identity key
 */
export function verifyBinding(identity: Uint8Array, staticPublicKey: Uint8Array, signature: Uint8Array): void {
  if (!ed25519Verify(identity, bindingMessage(staticPublicKey), signature))
    throw new ProtocolError('SESSION_BINDING', "the Key's static key is not signed by its identity key");
}
