/**
 * Writing Ed25519 signing key pairs for the CLI (`cose keygen`, `fw keygen`): PREFIX.key (PEM
 * PKCS#8, mode 0600) and PREFIX.pub (PEM SPKI), refusing to overwrite unless forced; reading
 * input files with typed errors (a missing or corrupt input is a run-time failure, exit 1).
 * @module
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ed25519Generate, ed25519PrivateKeyToPem, ed25519PublicKeyToPem } from '@enigm/protocols/crypto';
import { EnigmError } from '@enigm/protocols/errors';
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

/** Codes of {@link InputFileError}. */
export type InputFileErrorCode = 'FILE_NOT_FOUND' | 'FILE_UNREADABLE' | 'FILE_INVALID';

/** An input file the CLI cannot use: a run-time failure (exit 1), not command-line misuse. */
export class InputFileError extends EnigmError<InputFileErrorCode> {
  override readonly name = 'InputFileError';
}

/**
 * Reads an input file, turning I/O errors into an {@link InputFileError} that names the file and
 * its role once (no doubled `ENOENT: ENOENT:`).
 * @param file - path
 * @param what - its role in the message, e.g. `IMAGE` or `--expect`
 * @throws {@link InputFileError} `FILE_NOT_FOUND`, `FILE_UNREADABLE`
 * @example const image = readInputFile('app.ekfw', 'IMAGE');
 */
export function readInputFile(file: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new InputFileError('FILE_NOT_FOUND', `${what} ${file}: no such file`, { cause: e });
    const reason = err.code ? err.message.replace(new RegExp(`^${err.code}: `), '') : err.message;
    throw new InputFileError('FILE_UNREADABLE', `${what} ${file}: ${reason}`, { cause: e });
  }
}

/**
 * Reads and parses a JSON input file.
 * @throws {@link InputFileError} `FILE_NOT_FOUND`, `FILE_UNREADABLE`, `FILE_INVALID` (not JSON)
 * @example const ref = readJsonFile<KeyReferenceValues>('expect.json', '--expect');
 */
export function readJsonFile<T>(file: string, what: string): T {
  const text = new TextDecoder().decode(readInputFile(file, what));
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new InputFileError('FILE_INVALID', `${what} ${file}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
}
