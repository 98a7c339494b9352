/**
 * Builds the Key's attestation evidence: an EAT claims set signed as a COSE_Sign1 (EdDSA) by the
 * identity key inside the secure element. The identity public key travels in the unprotected
 * header ({@link HEADER_IDENTITY_KEY}); a verifier must pin or certify it, never trust it for
 * being there. A provisioned Key also carries its certificate chain in the protected header
 * (`x5chain`, {@link HEADER_X5CHAIN}, RFC 9360): signed with the claims, so it cannot be stripped
 * or swapped; the verifier checks it to its roots.
 *
 * The software claims describe the image that RUNS now (version, payload digest and that image's
 * own security counter), never an image that is installed but not running: during a test boot
 * they describe the test image; after a revert, the old one.
 * @module
 */
import { encode } from '@enigm/protocols/cbor';
import { signSign1 } from '@enigm/protocols/cose';
import { HEADER_IDENTITY_KEY, HEADER_X5CHAIN, KeyClaims } from '@enigm/protocols/evidence';
import type { HostRole } from '@enigm/protocols/messages';
import type { KeyFirmware } from './firmware.ts';

/** swname claim of the simulated firmware. */
export const FIRMWARE_NAME = 'enigm-key-firmware';

/**
 * Evidence for `nonce`, asked by a host with `role`.
 * @returns COSE_Sign1 bytes (tagged)
 */
export function buildEvidence(fw: KeyFirmware, nonce: Uint8Array, role: HostRole): Uint8Array {
  const running = fw.running;
  const ueid = new Uint8Array(17);
  ueid[0] = 0x01; // RAND UEID
  ueid.set(fw.handle, 1);
  const claims = KeyClaims.toMap({
    nonce,
    ueid,
    hwmodel: new TextEncoder().encode(fw.config.model),
    uptime: Math.floor(fw.uptimeMs() / 1000),
    bootcount: fw.bootCount,
    swname: FIRMWARE_NAME,
    swversion: [running.version],
    lifecycle: fw.state,
    securityCounter: running.securityCounter,
    hostRole: role,
    firmwareDigest: running.digest,
  });
  const se = fw.secureElement;
  const chain = fw.certificateChain;
  return signSign1({
    payload: encode(claims),
    signer: (toBeSigned) => se.sign(toBeSigned),
    ...(chain && chain.length > 0
      ? { extraProtected: new Map([[HEADER_X5CHAIN, chain.length === 1 ? (chain[0] as Uint8Array) : [...chain]]]) }
      : {}),
    unprotected: new Map([[HEADER_IDENTITY_KEY, se.identityPublicKey]]),
  });
}
