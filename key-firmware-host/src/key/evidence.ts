/**
 * Checking what a Key returns for `attest` before handing it to the caller: the COSE_Sign1
 * decodes, verifies under the pinned identity key, carries a valid claims set, and names the
 * nonce that was sent. Appraisal against reference values (firmware digests, counters, states,
 * freshness policy) is the verifier's job: `appraiseKeyEvidence` in `@enigm/attestation` takes
 * the returned {@link KeyEvidence} fields as they are.
 * @module
 */
import { bytesEqual } from '@enigm/protocols/bytes';
import { decode } from '@enigm/protocols/cbor';
import { verifySign1 } from '@enigm/protocols/cose';
import { HEADER_X5CHAIN, KeyClaims, type KeyClaimsValue, x5chainOf } from '@enigm/protocols/evidence';
import type { HostRole } from '@enigm/protocols/messages';
import { KeyFacadeError } from './errors.ts';

/** Evidence from a Key, checked by {@link checkEvidence}. */
export interface KeyEvidence {
  /** The COSE_Sign1 bytes as received (for a verifier, or to store). */
  evidence: Uint8Array;
  /** The nonce sent. */
  nonce: Uint8Array;
  /** Decoded claims (signature verified under `identity`, nonce matched). */
  claims: KeyClaimsValue;
  /** The pinned identity public key the signature verified under. */
  identity: Uint8Array;
  /**
   * The certificate chain the Key presents (`x5chain`, in the signed protected header; DER, leaf
   * first), once provisioned. Not checked here: appraise with `roots` to check it.
   */
  chain?: Uint8Array[];
  /** Role this host holds on the Key, as pinned. */
  hostRole?: HostRole;
  /** When the nonce was sent and the evidence received (ms, the facade's clock). */
  issuedAt: number;
  receivedAt: number;
}

/**
 * Verifies `evidence` under `identity` and checks it names `nonce`.
 * @returns the decoded claims
 * @throws {@link KeyFacadeError} `KEY_EVIDENCE_INVALID` with the reason
 * @example
 * const claims = checkEvidence(evidence, pinnedIdentity, nonce);
 */
export function checkEvidence(evidence: Uint8Array, identity: Uint8Array, nonce: Uint8Array): KeyClaimsValue {
  return checkEvidenceWithChain(evidence, identity, nonce).claims;
}

/**
 * As {@link checkEvidence}, and also returns the certificate chain the evidence carries, if any.
 * @throws {@link KeyFacadeError} `KEY_EVIDENCE_INVALID` (also for a malformed `x5chain`)
 */
export function checkEvidenceWithChain(
  evidence: Uint8Array,
  identity: Uint8Array,
  nonce: Uint8Array,
): { claims: KeyClaimsValue; chain?: Uint8Array[] } {
  let claims: KeyClaimsValue;
  let chain: Uint8Array[] | undefined;
  try {
    const s = verifySign1(evidence, identity);
    claims = KeyClaims.fromMap(decode(s.payload ?? new Uint8Array(0)));
    chain = x5chainOf(s.protectedHeaders.get(HEADER_X5CHAIN));
  } catch (e) {
    throw new KeyFacadeError(
      'KEY_EVIDENCE_INVALID',
      `evidence does not verify under the pinned identity: ${(e as Error).message}`,
      { cause: e },
    );
  }
  if (!bytesEqual(claims.nonce, nonce))
    throw new KeyFacadeError('KEY_EVIDENCE_INVALID', 'evidence names another nonce than the one sent (replayed or foreign)');
  return { claims, ...(chain ? { chain } : {}) };
}
