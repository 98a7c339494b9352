/**
 * The Key's secure element, simulated. It generates the Ed25519 identity key and the X25519
 * static key inside itself, binds the static key to the identity with a signature, and offers
 * signing and Diffie-Hellman — but has no operation that returns a private key. The firmware
 * model only ever sees the {@link SecureElement} interface.
 *
 * The simulated element keeps its secrets in its own storage (a separate file in the simulator),
 * as a real element keeps them in its own non-volatile memory.
 * @module
 */
import { decode, encode } from '@enigm/protocols/cbor';
import { ed25519PublicKey, ed25519Signer, x25519, x25519PublicKey } from '@enigm/protocols/crypto';
import { defineRecord, field, t } from '@enigm/protocols/messages';
import type { StaticKey } from '@enigm/protocols/noise';
import { bindingMessage } from '@enigm/protocols/session';
import type { KeyStorage } from './storage.ts';

/** What the firmware may ask of the secure element. */
export interface SecureElement {
  /** Ed25519 identity public key. */
  readonly identityPublicKey: Uint8Array;
  /** X25519 static key for Noise: public key and DH, never the private key. */
  readonly staticKey: StaticKey;
  /** Identity signature binding the static public key (see protocols/src/session/payloads.ts). */
  readonly binding: Uint8Array;
  /** Signs with the identity key. */
  sign(message: Uint8Array): Uint8Array;
}

const Secrets = defineRecord('se.secrets', {
  identitySeed: field(1, t.bytes(32, 32)),
  staticPrivate: field(2, t.bytes(32, 32)),
});

/**
 * Loads the element's secrets, or generates them on first use.
 * @param storage - the element's own storage
 * @param random - randomness for key generation
 */
export function loadSecureElement(storage: KeyStorage, random: (n: number) => Uint8Array): SecureElement {
  const stored = storage.read();
  const secrets = stored ? Secrets.fromMap(decode(stored)) : { identitySeed: random(32), staticPrivate: random(32) };
  if (!stored) storage.write(encode(Secrets.toMap(secrets)));
  // Private values are captured in closures only; nothing returns them. The identity key's signer
  // is held here, as the element holds its key, not in the crypto backend's shared cache (many
  // simulated Keys signing in turn would evict each other there and rebuild the key every time).
  const { identitySeed, staticPrivate } = secrets;
  const identityPublicKey = ed25519PublicKey(identitySeed, { cache: false });
  const sign = ed25519Signer(identitySeed);
  const staticPublic = x25519PublicKey(staticPrivate);
  const binding = sign(bindingMessage(staticPublic));
  return Object.freeze({
    identityPublicKey,
    binding,
    staticKey: Object.freeze({ publicKey: staticPublic, dh: (peer: Uint8Array) => x25519(staticPrivate, peer) }),
    sign,
  });
}

/**
 * Wipes the element (a factory reset): new secrets replace the stored ones, so the identity and
 * static key are new; the old private keys are gone with the overwritten record.
 * @param storage - the element's own storage
 * @param random - randomness for key generation
 */
export function wipeSecureElement(storage: KeyStorage, random: (n: number) => Uint8Array): SecureElement {
  storage.write(encode(Secrets.toMap({ identitySeed: random(32), staticPrivate: random(32) })));
  return loadSecureElement(storage, random);
}
