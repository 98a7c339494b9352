/**
 * Signing and strict decoding of a revocation list: a tagged, deterministic COSE_Sign1 whose
 * protected header is exactly `{1: -8 (EdDSA), 3: "application/vnd.enigm.revocation+cbor"}`, with an
 * empty unprotected header and the list (see `list.ts`) as payload.
 * @module
 */
import { bytesEqual } from '@enigm/protocols/bytes';
import { decode, encode } from '@enigm/protocols/cbor';
import { decodeSign1, HEADER_CONTENT_TYPE, signSign1 } from '@enigm/protocols/cose';
import { ed25519PublicKey, ed25519Sign } from '@enigm/protocols/crypto';
import { AttestationError } from '../errors.ts';
import {
  REVOCATION_MAX_BYTES,
  REVOCATION_MAX_ENTRIES,
  type RevocationList,
  RevocationListType,
  revocationKeyId,
  revocationListProblem,
} from './list.ts';

/** COSE content type of a revocation list's payload (protected header label 3). */
export const REVOCATION_CONTENT_TYPE = 'application/vnd.enigm.revocation+cbor';

/** A revocation-signing capability: the public key and an Ed25519 signer (the key stays inside). */
export interface RevocationSigner {
  /** The signing key's 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** Signs the COSE Sig_structure bytes; returns the 64-byte signature. */
  sign(toBeSigned: Uint8Array): Uint8Array;
}

/**
 * A {@link RevocationSigner} over an Ed25519 seed held in memory (a copy is kept).
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if the seed is not 32 bytes
 */
export function revocationSignerFromSeed(seed: Uint8Array): RevocationSigner {
  const publicKey = ed25519PublicKey(seed);
  const copy = Uint8Array.from(seed);
  return { publicKey, sign: (tbs) => ed25519Sign(copy, tbs) };
}

/**
 * Encodes and signs a list.
 * @returns the list's bytes (a tagged COSE_Sign1)
 * @throws {@link AttestationError} `REVOCATION_ENTRY_INVALID` if the list breaks a rule or its
 *   issuer is not the signer's key id
 * @example
 * writeFileSync('revocation.cose', signRevocationList(list, revocationSignerFromSeed(seed)));
 */
export function signRevocationList(list: RevocationList, signer: RevocationSigner): Uint8Array {
  const problem = revocationListProblem(list);
  if (problem) throw new AttestationError('REVOCATION_ENTRY_INVALID', `revocation list: ${problem}`);
  if (!bytesEqual(list.issuer, revocationKeyId(signer.publicKey)))
    throw new AttestationError('REVOCATION_ENTRY_INVALID', "the list's issuer is not the signing key's key id");
  const bytes = signSign1({
    payload: encode(RevocationListType.toMap(list)),
    signer: (tbs) => signer.sign(tbs),
    extraProtected: new Map([[HEADER_CONTENT_TYPE, REVOCATION_CONTENT_TYPE]]),
  });
  if (bytes.length > REVOCATION_MAX_BYTES)
    throw new AttestationError('REVOCATION_ENTRY_INVALID', `the signed list is over ${REVOCATION_MAX_BYTES} bytes`);
  return bytes;
}

/**
 * Decodes a list's bytes strictly, without checking the signature (see `verifyRevocationList`).
 * @returns the list — untrusted until verified
 * @throws {@link AttestationError} `REVOCATION_MALFORMED` for anything but a well-formed list
 *   (never another error on bad bytes)
 * @throws {TypeError} if `bytes` is not a Uint8Array
 */
export function decodeRevocationList(bytes: Uint8Array): RevocationList {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  const bad = (why: string): never => {
    throw new AttestationError('REVOCATION_MALFORMED', `not a valid revocation list: ${why}`);
  };
  if (bytes.length > REVOCATION_MAX_BYTES) bad(`${bytes.length} bytes is over ${REVOCATION_MAX_BYTES}`);
  let list: RevocationList | undefined;
  try {
    const s = decodeSign1(bytes, { maxBytes: REVOCATION_MAX_BYTES });
    if (s.encoding !== 'deterministic' || !s.tagged) bad('not a deterministic tagged COSE_Sign1');
    if (s.unprotectedHeaders.size !== 0) bad('the unprotected header is not empty');
    if (s.protectedHeaders.size !== 2 || s.protectedHeaders.get(HEADER_CONTENT_TYPE) !== REVOCATION_CONTENT_TYPE)
      bad(`the protected header is not {alg, content type ${REVOCATION_CONTENT_TYPE}}`);
    if (s.payload === null) bad('the payload is detached');
    const parsed = RevocationListType.tryFromMap(
      decode(s.payload as Uint8Array, {
        maxBytes: REVOCATION_MAX_BYTES,
        maxItems: 16 + REVOCATION_MAX_ENTRIES * 12,
      }),
    );
    if (!parsed.ok) bad(parsed.why);
    list = (parsed as { value: RevocationList }).value;
  } catch (e) {
    if (e instanceof AttestationError) throw e;
    bad((e as Error).message);
  }
  const problem = revocationListProblem(list as RevocationList);
  if (problem) bad(problem);
  return list as RevocationList;
}
