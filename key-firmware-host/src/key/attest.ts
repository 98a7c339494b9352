/**
 * The `attest` operation as the Key facade runs it: a nonce (fresh unless given), the request in
 * the known-host session, the evidence checked under the identity the session authenticated
 * (`checkEvidenceWithChain`), and the evidence's UEID checked against the session's Key handle.
 * Appraisal against reference values is the verifier's (`appraiseKeyEvidence` in
 * `@enigm/attestation`).
 * @module
 */
import { toHex } from '@enigm/protocols/bytes';
import type { HostRole } from '@enigm/protocols/messages';
import type { SecureSession } from '../session/secure-session.ts';
import { KeyFacadeError } from './errors.ts';
import { checkEvidenceWithChain, type KeyEvidence } from './evidence.ts';

/** What the attest operation needs from the facade. */
export interface AttestPort {
  /** The known-host session, opened if needed. */
  session(): Promise<SecureSession>;
  /** The role this host holds on the Key, as pinned (read after the session opened). */
  role(): HostRole | undefined;
  /** Wall clock, ms (evidence timing). */
  now(): number;
  /** Random bytes (the default nonce). */
  randomBytes(n: number): Uint8Array;
}

/**
 * Asks the Key for evidence over `nonce` (default: 32 fresh random bytes) and checks it.
 * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT` (nonce length), `KEY_NOT_PAIRED`,
 *   `KEY_EVIDENCE_INVALID`, `KEY_IDENTITY_MISMATCH` (evidence of another Key)
 */
export async function requestEvidence(port: AttestPort, nonce?: Uint8Array): Promise<KeyEvidence> {
  const n = nonce ?? port.randomBytes(32);
  if (!(n instanceof Uint8Array) || n.length !== 32)
    throw new KeyFacadeError('KEY_BAD_ARGUMENT', `the nonce must be 32 bytes, got ${n?.length}`);
  const s = await port.session();
  const identity = s.peer.identity;
  if (!identity) throw new KeyFacadeError('KEY_NOT_PAIRED', 'no identity is pinned for this Key: pair again');
  const issuedAt = port.now();
  const { evidence } = await s.request('attest', { nonce: n });
  const receivedAt = port.now();
  const { claims, chain } = checkEvidenceWithChain(evidence, identity, n);
  // The evidence must name the Key the session authenticated (UEID = RAND type ‖ handle).
  const ueid = toHex(claims.ueid);
  if (ueid !== `01${toHex(s.peer.handle)}`)
    throw new KeyFacadeError(
      'KEY_IDENTITY_MISMATCH',
      `the evidence names UEID ${ueid}, but the session's Key has handle ${toHex(s.peer.handle)} (evidence of another Key)`,
    );
  const role = port.role();
  return {
    evidence,
    nonce: n,
    claims,
    identity,
    issuedAt,
    receivedAt,
    ...(chain ? { chain } : {}),
    ...(role ? { hostRole: role } : {}),
  };
}
