/**
 * The attestation key as the verifier sees it: its `TPMT_PUBLIC` parsed and checked for the
 * attributes that make quotes unforgeable (restricted signing key that never left the TPM), its
 * Name, and a node:crypto key to verify signatures with.
 *
 * @module
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { AttestationError } from '../errors.ts';
import { type HashAlg, requireHash } from '../hash.ts';
import { TPMA_OBJECT as A, TPM_ALG, TPM_ECC } from '../structures/constants.ts';
import { objectName, parsePublic, type TpmPublic } from '../structures/public.ts';
import type { Signature } from './attest.ts';

/** A verified-shape AK ready for repeated signature checks. */
export interface PreparedAk {
  readonly public: TpmPublic;
  /** The exact `TPMT_PUBLIC` bytes. */
  readonly publicArea: Uint8Array;
  /** `nameAlg ‖ H(TPMT_PUBLIC)`. */
  readonly name: Uint8Array;
  /** The scheme's signing hash. */
  readonly signHash: HashAlg;
  /** node:crypto public key. */
  readonly key: KeyObject;
}

/** Attributes an AK must have: fixedTPM, fixedParent, sensitiveDataOrigin, restricted, sign; not decrypt. */
export const AK_REQUIRED = A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.restricted | A.sign;

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

const CURVES: Readonly<Record<number, { crv: string; size: number }>> = {
  [TPM_ECC.NIST_P256]: { crv: 'P-256', size: 32 },
  [TPM_ECC.NIST_P384]: { crv: 'P-384', size: 48 },
};

/**
 * The node:crypto public key of an RSA or ECC (P-256, P-384) `TPMT_PUBLIC`, e.g. to compare an
 * EK with the SubjectPublicKeyInfo of its certificate.
 * @throws {@link AttestationError} `ATTEST_UNSUPPORTED` for another curve; node:crypto errors for an invalid key
 */
export function tpmPublicKey(p: TpmPublic): KeyObject {
  if (p.type === TPM_ALG.RSA) {
    const e = Buffer.alloc(4);
    e.writeUInt32BE(p.exponent === 0 ? 65537 : p.exponent);
    const exp = e.subarray(e.findIndex((x) => x !== 0));
    return createPublicKey({ key: { kty: 'RSA', n: b64u(p.modulus), e: b64u(exp) }, format: 'jwk' });
  }
  const c = CURVES[p.curve];
  if (!c) throw new AttestationError('ATTEST_UNSUPPORTED', `ECC curve 0x${p.curve.toString(16)} is not supported`);
  const pad = (v: Uint8Array) => Buffer.concat([Buffer.alloc(Math.max(0, c.size - v.length)), v]);
  return createPublicKey({ key: { kty: 'EC', crv: c.crv, x: b64u(pad(p.x)), y: b64u(pad(p.y)) }, format: 'jwk' });
}

/**
 * Parses and checks an AK `TPMT_PUBLIC`: restricted signing key with the required attributes,
 * ECDSA-P256 or RSASSA (≥ 2048 bits) with a supported hash. Results are memoised per public
 * area (at most 256), since importing the key costs more than checking a signature.
 * @throws {@link AttestationError} `ATTEST_MALFORMED` (wrong attributes or scheme, bad key),
 *   `TPM_MARSHAL`, `ATTEST_UNSUPPORTED`
 */
export function prepareAk(publicArea: Uint8Array): PreparedAk {
  const id = Buffer.from(publicArea.buffer, publicArea.byteOffset, publicArea.byteLength).toString('latin1');
  const hit = CACHE.get(id);
  if (hit) return hit;
  const ak = prepareUncached(new Uint8Array(publicArea));
  if (CACHE.size >= CACHE_MAX) CACHE.delete(CACHE.keys().next().value as string);
  CACHE.set(id, ak);
  return ak;
}

/** Prepared AKs by public-area bytes: key import costs more than the signature check. */
const CACHE = new Map<string, PreparedAk>();
const CACHE_MAX = 256;

function prepareUncached(publicArea: Uint8Array): PreparedAk {
  const p = parsePublic(publicArea);
  if ((p.attributes & AK_REQUIRED) !== AK_REQUIRED || p.attributes & A.decrypt)
    throw new AttestationError(
      'ATTEST_MALFORMED',
      `AK attributes 0x${p.attributes.toString(16)} are not those of a restricted signing key`,
    );
  const want = p.type === TPM_ALG.RSA ? TPM_ALG.RSASSA : TPM_ALG.ECDSA;
  if (p.scheme.scheme !== want || p.scheme.hash === undefined)
    throw new AttestationError(
      'ATTEST_MALFORMED',
      `AK scheme 0x${p.scheme.scheme.toString(16)} is not ${p.type === TPM_ALG.RSA ? 'RSASSA' : 'ECDSA'}`,
    );
  if (p.type === TPM_ALG.RSA && (p.keyBits < 2048 || p.modulus.length * 8 !== p.keyBits))
    throw new AttestationError('ATTEST_MALFORMED', `RSA AK of ${p.keyBits} bits with a ${p.modulus.length}-byte modulus`);
  const signHash = requireHash(p.scheme.hash);
  let key: KeyObject;
  try {
    if (p.type === TPM_ALG.ECC && p.curve !== TPM_ECC.NIST_P256)
      throw new AttestationError('ATTEST_UNSUPPORTED', `ECC curve 0x${p.curve.toString(16)} is not supported for an AK`);
    key = tpmPublicKey(p);
  } catch (e) {
    if (e instanceof AttestationError) throw e;
    throw new AttestationError('ATTEST_MALFORMED', `AK public key is invalid: ${(e as Error).message}`, { cause: e });
  }
  return { public: p, publicArea, name: objectName(publicArea), signHash, key };
}

/**
 * Whether `sig` is a valid signature by `ak` over `message`, in the AK's own scheme and hash.
 * Never throws for a bad signature; returns false.
 */
export function verifyAkSignature(ak: PreparedAk, message: Uint8Array, sig: Signature): boolean {
  if (sig.hash !== ak.signHash.id) return false;
  if (ak.public.type === TPM_ALG.ECC) {
    if (sig.sigAlg !== TPM_ALG.ECDSA || !sig.ecdsa || sig.ecdsa.r.length > 32 || sig.ecdsa.s.length > 32) return false;
    const rs = Buffer.alloc(64);
    rs.set(sig.ecdsa.r, 32 - sig.ecdsa.r.length);
    rs.set(sig.ecdsa.s, 64 - sig.ecdsa.s.length);
    return verify(ak.signHash.node, message, { key: ak.key, dsaEncoding: 'ieee-p1363' }, rs);
  }
  if (sig.sigAlg !== TPM_ALG.RSASSA || !sig.rsa) return false;
  return verify(ak.signHash.node, message, ak.key, sig.rsa);
}
