/**
 * Attester side of credential activation (TPM 2.0 Part 3 §11.1 StartAuthSession, §23.4
 * PolicySecret, §12.5 ActivateCredential): the EK of the TCG templates may only be used under
 * its policy `PolicySecret(TPM_RH_ENDORSEMENT)`, so a policy session is started, satisfied with
 * the endorsement hierarchy's password, and used for the EK while the AK is authorized by
 * password. The session is flushed whatever happens.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { AttestationError } from '../errors.ts';
import { ALG_SHA256 } from '../hash.ts';
import { TPM_ALG, TPM_CC, TPM_RH, TPM_SE } from '../structures/constants.ts';
import { TpmWriter } from '../structures/marshal.ts';
import type { TpmClient } from './client.ts';

const EMPTY = new Uint8Array();

/**
 * `TPM2_StartAuthSession`: an unbound, unsalted policy session with SHA-256 and no parameter
 * encryption. Flush it when done.
 * @returns the session handle
 */
export async function startPolicySession(tpm: TpmClient, nonceCaller: Uint8Array = randomBytes(16)): Promise<number> {
  const params = new TpmWriter()
    .tpm2b(nonceCaller)
    .tpm2b(EMPTY) // encryptedSalt
    .u8(TPM_SE.POLICY)
    .u16(TPM_ALG.NULL) // symmetric
    .u16(ALG_SHA256)
    .finish();
  const res = await tpm.run({
    code: TPM_CC.StartAuthSession,
    handles: [TPM_RH.NULL, TPM_RH.NULL],
    params,
    responseHandles: 1,
  });
  res.params.tpm2b('nonceTPM');
  res.params.end();
  return res.handles[0]!;
}

/**
 * `TPM2_PolicySecret` with a hierarchy's password (default: the endorsement hierarchy, empty
 * password), no nonce, cpHash, policyRef or expiration.
 */
export async function policySecret(
  tpm: TpmClient,
  session: number,
  authHandle: number = TPM_RH.ENDORSEMENT,
  auth: Uint8Array = EMPTY,
): Promise<void> {
  const params = new TpmWriter().tpm2b(EMPTY).tpm2b(EMPTY).tpm2b(EMPTY).u32(0).finish();
  const res = await tpm.run({ code: TPM_CC.PolicySecret, handles: [authHandle, session], auth: [auth], params });
  res.params.tpm2b('timeout');
  res.params.u16('policyTicket.tag');
  res.params.u32('policyTicket.hierarchy');
  res.params.tpm2b('policyTicket.digest');
  res.params.end();
}

/** Inputs of {@link activateCredential}. */
export interface ActivateInput {
  /** Loaded AK (the object the credential is bound to). */
  readonly akHandle: number;
  /** Loaded EK of the TCG template (policy PolicySecret(TPM_RH_ENDORSEMENT)). */
  readonly ekHandle: number;
  /** `TPM2B_ID_OBJECT` content from the verifier. */
  readonly credentialBlob: Uint8Array;
  /** `TPM2B_ENCRYPTED_SECRET` content from the verifier. */
  readonly encryptedSecret: Uint8Array;
  /** AK password (default empty). */
  readonly akAuth?: Uint8Array;
  /** Endorsement hierarchy password (default empty). */
  readonly endorsementAuth?: Uint8Array;
}

/**
 * Recovers the verifier's secret with `TPM2_ActivateCredential`.
 * @throws {@link AttestationError} `CREDENTIAL_ACTIVATION_FAILED` (with `rc`) if the TPM refuses
 *   the credential (bound to another AK Name or EK, altered blob or secret); send-path errors otherwise
 * @example const secret = await activateCredential(tpm, { akHandle, ekHandle, ...credential });
 */
export async function activateCredential(tpm: TpmClient, input: ActivateInput): Promise<Uint8Array> {
  const session = await startPolicySession(tpm);
  try {
    await policySecret(tpm, session, TPM_RH.ENDORSEMENT, input.endorsementAuth ?? EMPTY);
    const params = new TpmWriter().tpm2b(input.credentialBlob).tpm2b(input.encryptedSecret).finish();
    let res: Awaited<ReturnType<TpmClient['run']>>;
    try {
      res = await tpm.run({
        code: TPM_CC.ActivateCredential,
        handles: [input.akHandle, input.ekHandle],
        auth: [input.akAuth ?? EMPTY, { session, attributes: 0x01 }],
        params,
      });
    } catch (e) {
      if (e instanceof AttestationError && e.code === 'TPM_RESPONSE')
        throw new AttestationError('CREDENTIAL_ACTIVATION_FAILED', `ActivateCredential refused: ${e.message}`, {
          cause: e,
          ...(e.rc !== undefined ? { rc: e.rc } : {}),
        });
      throw e;
    }
    const secret = new Uint8Array(res.params.tpm2b('certInfo', 64));
    res.params.end();
    return secret;
  } finally {
    await tpm.flushContext(session).catch(() => undefined);
  }
}
