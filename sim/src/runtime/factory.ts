/**
 * The simulator's "factory": the firmware-signing key its Keys trust, and the factory image
 * (firmware 1.0.0) every new simulated Key is manufactured with.
 *
 * The signing key lives in `<stateDir>/fw-signing.key` (PEM PKCS#8, mode 0600) with its public key
 * in `fw-signing.pub`; sign your own test images with it (`enigm fw sign --key
 * .sim-state/fw-signing.key …`) to flash simulated Keys.
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ed25519Generate,
  ed25519PrivateKeyFromPem,
  ed25519PrivateKeyToPem,
  ed25519PublicKey,
  ed25519PublicKeyToPem,
} from '@enigm/protocols/crypto';
import { signManifest } from '@enigm/protocols/firmware';

/** The firmware-signing key of a simulator state directory. */
export interface SigningKey {
  seed: Uint8Array;
  publicKey: Uint8Array;
  path: string;
}

/** Loads `<stateDir>/fw-signing.key`, creating it (and `.pub`) on first use. */
export function loadOrCreateSigningKey(stateDir: string): SigningKey {
  const path = join(stateDir, 'fw-signing.key');
  if (!existsSync(path)) {
    const kp = ed25519Generate();
    writeFileSync(path, ed25519PrivateKeyToPem(kp.seed), { mode: 0o600 });
    writeFileSync(join(stateDir, 'fw-signing.pub'), ed25519PublicKeyToPem(kp.publicKey));
  }
  const seed = ed25519PrivateKeyFromPem(readFileSync(path, 'utf8'));
  return { seed, publicKey: ed25519PublicKey(seed), path };
}

/** A deterministic stand-in firmware payload for `version` (`size` bytes). */
export function simulatedPayload(version: string, size = 64 * 1024): Uint8Array {
  const out = new Uint8Array(size);
  let block = createHash('sha256').update(`enigm-key-firmware ${version}`).digest();
  for (let o = 0; o < size; o += 32) {
    out.set(block.subarray(0, Math.min(32, size - o)), o);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** The factory image: signed manifest and payload for `version` (security counter 1). */
export function factoryImage(
  seed: Uint8Array,
  model: string,
  version = '1.0.0',
): { signedManifest: Uint8Array; payload: Uint8Array } {
  const payload = simulatedPayload(version);
  const payloadDigest = new Uint8Array(createHash('sha256').update(payload).digest());
  const signedManifest = signManifest({ model, version, securityCounter: 1, payloadSize: payload.length, payloadDigest }, seed);
  return { signedManifest, payload };
}
