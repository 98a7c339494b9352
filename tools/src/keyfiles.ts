/**
 * Writing Ed25519 signing key pairs for the CLI (`cose keygen`, `fw keygen`): PREFIX.key (PEM
 * PKCS#8, mode 0600) and PREFIX.pub (PEM SPKI), refusing to overwrite unless forced; reading
 * input files with typed errors (a missing or corrupt input is a run-time failure, exit 1).
 * @module
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { ed25519Generate, ed25519PrivateKeyToPem, ed25519PublicKeyToPem } from '@enigm/protocols/crypto';
import { UsageError } from './cli.ts';

/** A key pair written to disk. */
export interface WrittenKeyPair {
  keyFile: string;
  pubFile: string;
  publicKey: Uint8Array;
}

/**
 * Generates an Ed25519 key pair and writes `${prefix}.key` and `${prefix}.pub`.
 * @throws {@link UsageError} if a file exists and `force` is false
 */
export function writeSigningKeyPair(prefix: string, force: boolean): WrittenKeyPair {
  const keyFile = `${prefix}.key`;
  const pubFile = `${prefix}.pub`;
  if (!force) {
    for (const f of [keyFile, pubFile]) {
      if (existsSync(f)) throw new UsageError(`${f} exists; use --force to overwrite or --out for another prefix`);
    }
  }
  const { seed, publicKey } = ed25519Generate();
  writeFileSync(keyFile, ed25519PrivateKeyToPem(seed), { mode: 0o600, flag: force ? 'w' : 'wx' });
  chmodSync(keyFile, 0o600); // an overwritten file keeps its old mode otherwise
  writeFileSync(pubFile, ed25519PublicKeyToPem(publicKey), { mode: 0o644, flag: force ? 'w' : 'wx' });
  return { keyFile, pubFile, publicKey };
}

/**
 * Reading input files: the CLI's one implementation (`INPUT_NOT_FOUND`, `INPUT_UNREADABLE`,
 * `INPUT_INVALID`; exit 1), re-exported for the key and fw commands.
 */
export { readInputFile, readJsonFile } from './cli.ts';
