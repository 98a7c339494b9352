/**
 * The simulator's "factory": the firmware-signing key its Keys trust, and the factory image
 * (firmware 1.0.0) every new simulated Key is manufactured with.
 *
 * The signing key lives in `<stateDir>/fw-signing.key` (PEM PKCS#8, mode 0600) with its public key
 * in `fw-signing.pub`; sign your own test images with it (`enigm fw sign --key
 * .sim-state/fw-signing.key …`) to flash simulated Keys.
 *
 * That private key in the state folder means anyone who can read the folder can sign firmware the
 * Keys accept. {@link openFirmwareFactory} with `keepPrivateKey: false` (what `sim start
 * --trust-fw-key` does on a new folder) signs the factory image with a key that exists only in
 * memory and keeps just its public key and the signed factory manifest
 * (`factory-<model>.manifest`): the Keys then accept updates only from the keys the user trusts,
 * kept elsewhere.
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
  ed25519PublicKeyFromPem,
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

/** Where factory images come from: the state folder's factory key, kept or retired. */
export interface FirmwareFactory {
  /** The factory key's public key (always trusted: it signed the factory image). */
  publicKey: Uint8Array;
  /** `<stateDir>/fw-signing.key` if the private key is kept in the state folder, else undefined. */
  privateKeyPath: string | undefined;
  /**
   * The factory image for `model`, signed now (and its manifest saved) if the private key is at
   * hand, else the saved `factory-<model>.manifest`.
   * @throws Error if neither is available
   */
  image(model: string): { signedManifest: Uint8Array; payload: Uint8Array };
}

/**
 * Opens the factory of a state folder. An existing `fw-signing.key` is used (and stays trusted);
 * a folder with only `fw-signing.pub` uses its saved factory manifests; a new folder gets a fresh
 * key, whose private half is written to `fw-signing.key` only if `keepPrivateKey`.
 * @param stateDir - the state folder (must exist)
 * @param options - `keepPrivateKey`: write the new key's private half to the folder (default true)
 * @throws Error on unreadable key files
 */
export function openFirmwareFactory(stateDir: string, options: { keepPrivateKey?: boolean } = {}): FirmwareFactory {
  const keyPath = join(stateDir, 'fw-signing.key');
  const pubPath = join(stateDir, 'fw-signing.pub');
  let seed: Uint8Array | undefined;
  let publicKey: Uint8Array;
  let kept = false;
  if (existsSync(keyPath)) {
    seed = ed25519PrivateKeyFromPem(readFileSync(keyPath, 'utf8'));
    publicKey = ed25519PublicKey(seed);
    kept = true;
  } else if (existsSync(pubPath)) {
    publicKey = ed25519PublicKeyFromPem(readFileSync(pubPath, 'utf8'));
  } else if (options.keepPrivateKey ?? true) {
    const k = loadOrCreateSigningKey(stateDir);
    seed = k.seed;
    publicKey = k.publicKey;
    kept = true;
  } else {
    const kp = ed25519Generate(); // lives in this process only
    seed = kp.seed;
    publicKey = kp.publicKey;
    writeFileSync(pubPath, ed25519PublicKeyToPem(publicKey));
  }
  const manifestPath = (model: string) => join(stateDir, `factory-${model.replace(/[^A-Za-z0-9._-]/g, '_')}.manifest`);
  return {
    publicKey,
    privateKeyPath: kept ? keyPath : undefined,
    image(model: string) {
      if (seed) {
        const img = factoryImage(seed, model);
        if (!existsSync(manifestPath(model))) writeFileSync(manifestPath(model), img.signedManifest);
        return img;
      }
      if (!existsSync(manifestPath(model)))
        throw new Error(
          `no factory image for model ${JSON.stringify(model)}: ${stateDir} keeps no fw-signing.key to sign one (use a new --state-dir)`,
        );
      return { signedManifest: new Uint8Array(readFileSync(manifestPath(model))), payload: simulatedPayload('1.0.0') };
    },
  };
}
