/**
 * TPM hash algorithms (TCG Algorithm Registry `TPM_ALG_ID`) and the node:crypto hashes behind
 * them. One table, shared by event-log replay, the TPM client and the verifier.
 *
 * @module
 */

import { hash as oneShot } from 'node:crypto';
import { bytesEqual } from '@enigm/protocols/bytes';
import { AttestationError } from './errors.ts';

/** Name of a supported hash bank, as tpm2-tools prints it. */
export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512' | 'sm3_256' | 'sha3_256' | 'sha3_384' | 'sha3_512';

/** One supported hash algorithm. */
export interface HashAlg {
  /** `TPM_ALG_ID`, e.g. 0x000B for SHA-256. */
  readonly id: number;
  /** Bank name, e.g. `sha256`. */
  readonly name: HashName;
  /** Digest size in bytes. */
  readonly size: number;
  /** node:crypto algorithm name. */
  readonly node: string;
}

const TABLE: readonly HashAlg[] = [
  { id: 0x0004, name: 'sha1', size: 20, node: 'sha1' },
  { id: 0x000b, name: 'sha256', size: 32, node: 'sha256' },
  { id: 0x000c, name: 'sha384', size: 48, node: 'sha384' },
  { id: 0x000d, name: 'sha512', size: 64, node: 'sha512' },
  { id: 0x0012, name: 'sm3_256', size: 32, node: 'sm3' },
  { id: 0x0027, name: 'sha3_256', size: 32, node: 'sha3-256' },
  { id: 0x0028, name: 'sha3_384', size: 48, node: 'sha3-384' },
  { id: 0x0029, name: 'sha3_512', size: 64, node: 'sha3-512' },
];
const BY_ID = new Map(TABLE.map((a) => [a.id, a]));
const BY_NAME = new Map(TABLE.map((a) => [a.name as string, a]));

/** `TPM_ALG_SHA1`. */
export const ALG_SHA1 = 0x0004;
/** `TPM_ALG_SHA256`. */
export const ALG_SHA256 = 0x000b;
/** `TPM_ALG_SHA384`. */
export const ALG_SHA384 = 0x000c;

/**
 * The hash algorithm with this `TPM_ALG_ID`, or undefined if unsupported.
 * @example hashById(0x000b)?.name === 'sha256'
 */
export function hashById(id: number): HashAlg | undefined {
  return BY_ID.get(id);
}

/**
 * The hash algorithm with this bank name, or undefined if unsupported.
 * @example hashByName('sha1')?.size === 20
 */
export function hashByName(name: string): HashAlg | undefined {
  return BY_NAME.get(name);
}

/**
 * The hash algorithm with this `TPM_ALG_ID`.
 * @throws {@link AttestationError} `ATTEST_UNSUPPORTED` if unsupported
 */
export function requireHash(id: number): HashAlg {
  const a = BY_ID.get(id);
  if (!a)
    throw new AttestationError('ATTEST_UNSUPPORTED', `hash algorithm 0x${id.toString(16).padStart(4, '0')} is not supported`);
  return a;
}

/** All supported hash algorithms. */
export function supportedHashes(): readonly HashAlg[] {
  return TABLE;
}

/**
 * Digest of the concatenation of `parts` with `alg`.
 * @example digest(hashByName('sha256')!, new Uint8Array()).length === 32
 */
export function digest(alg: HashAlg, ...parts: Uint8Array[]): Uint8Array {
  const data = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
  const b = oneShot(alg.node, data, 'buffer');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export { bytesEqual };
