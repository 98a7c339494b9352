/**
 * Enrollment, attester side, plus an in-process run of both sides. The collector creates the
 * RSA EK from the TCG template L-1, reads its certificate from NV, creates a restricted signing
 * AK under the storage primary and later activates the verifier's credential; the pure checks
 * are in `verify/enrollment.ts`. Every object and session is flushed, also on failure.
 *
 * @module
 */
import { TPM_RH } from './structures/constants.ts';
import { activateCredential } from './tpm/activate.ts';
import type { KeyBlob, LoadedObject, TpmClient } from './tpm/client.ts';
import { readEkCertificate } from './tpm/nv.ts';
import { akTemplate, ekTemplate, type KeyKind, srkTemplate } from './tpm/templates.ts';
import type { Credential } from './verify/credential.ts';
import {
  beginEnrollment,
  type EnrollmentOptions,
  type EnrollmentRecord,
  type EnrollmentRequest,
  finishEnrollment,
} from './verify/enrollment.ts';

/** An enrollment request plus the AK blob the attester keeps for later quotes. */
export interface CollectedEnrollment {
  readonly request: EnrollmentRequest;
  /** Reload with `collectQuote({ akBlob })` so quotes come from the enrolled AK. */
  readonly akBlob: KeyBlob;
}

async function flush(tpm: TpmClient, ...objs: (LoadedObject | undefined)[]): Promise<void> {
  for (const o of objs) if (o) await tpm.flushContext(o.handle).catch(() => undefined);
}

/**
 * Collects an enrollment request: EK public (RSA, TCG template L-1, endorsement hierarchy), the
 * RSA EK certificate, and a new AK (or `akBlob`'s) under the ECC storage primary.
 * @throws {@link AttestationError} `EK_CERT_MISSING` or send-path errors
 * @example const { request, akBlob } = await collectEnrollment(tpm);
 */
export async function collectEnrollment(
  tpm: TpmClient,
  options: { akKind?: KeyKind; akBlob?: KeyBlob } = {},
): Promise<CollectedEnrollment> {
  let ek: LoadedObject | undefined;
  let srk: LoadedObject | undefined;
  try {
    ek = await tpm.createPrimary(ekTemplate('rsa'), { hierarchy: TPM_RH.ENDORSEMENT });
    const ekPublic = ek.publicArea;
    await flush(tpm, ek);
    ek = undefined;
    const ekCertificate = await readEkCertificate(tpm, 'rsa2048');
    srk = await tpm.createPrimary(srkTemplate('ecc'));
    const akBlob = options.akBlob ?? (await tpm.create(srk.handle, akTemplate(options.akKind ?? 'ecc')));
    return { request: { ekPublic, ekCertificate, akPublic: akBlob.publicArea }, akBlob };
  } finally {
    await flush(tpm, ek, srk);
  }
}

/**
 * Activates the verifier's credential with the EK and the enrolled AK; returns the secret.
 * @throws {@link AttestationError} `CREDENTIAL_ACTIVATION_FAILED` or send-path errors
 */
export async function activateEnrollment(tpm: TpmClient, akBlob: KeyBlob, challenge: Credential): Promise<Uint8Array> {
  let ek: LoadedObject | undefined;
  let srk: LoadedObject | undefined;
  let ak: LoadedObject | undefined;
  try {
    srk = await tpm.createPrimary(srkTemplate('ecc'));
    ak = await tpm.load(srk.handle, akBlob);
    await flush(tpm, srk);
    srk = undefined;
    ek = await tpm.createPrimary(ekTemplate('rsa'), { hierarchy: TPM_RH.ENDORSEMENT });
    return await activateCredential(tpm, { akHandle: ak.handle, ekHandle: ek.handle, ...challenge });
  } finally {
    await flush(tpm, ak, ek, srk);
  }
}

/** The outcome of {@link enrollTpm}. */
export interface Enrollment {
  readonly record: EnrollmentRecord;
  readonly akBlob: KeyBlob;
}

/**
 * Enrolls a TPM with both sides in one process: collect, verify and challenge, activate, check.
 * @throws {@link AttestationError} the code of the first failed step
 * @example
 * const { record, akBlob } = await enrollTpm(tpm, { store: { roots, intermediates }, now: new Date() });
 */
export async function enrollTpm(
  tpm: TpmClient,
  options: EnrollmentOptions & { akKind?: KeyKind; akBlob?: KeyBlob },
): Promise<Enrollment> {
  const { request, akBlob } = await collectEnrollment(tpm, options);
  const { challenge, pending } = beginEnrollment(request, options);
  const secret = await activateEnrollment(tpm, akBlob, challenge);
  return { record: finishEnrollment(pending, secret), akBlob };
}
