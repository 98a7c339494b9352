/**
 * Pure verifier side of enrollment: an attester presents its EK public area, EK certificate and
 * a new AK; the verifier checks the EK certificate chain and that the EK is the certified key,
 * refuses AKs that are not TPM-resident restricted signing keys, makes a credential only that
 * TPM can activate for that AK, and — when the attester returns the secret — records the AK as
 * trusted. The record's AK Name goes into `AppraisalPolicy.akNames`, so later quotes by that AK
 * appraise `ak-identity` as affirming. Checks, in order (each throws its code):
 *
 * 1. the EK `TPMT_PUBLIC` parses (`EK_KEY_MISMATCH` if not);
 * 2. EK certificate: parses, path to a configured root, validity at `now`, SPKI equals the EK
 *    (`EK_CERT_MALFORMED`, `EK_CERT_CHAIN`, `EK_CERT_UNTRUSTED`, `EK_CERT_EXPIRED`, `EK_KEY_MISMATCH`);
 * 3. the EK is an RSA restricted decryption key with AES-128-CFB (`EK_KEY_MISMATCH`, `ATTEST_UNSUPPORTED`);
 * 4. the AK has fixedTPM, fixedParent, sensitiveDataOrigin, restricted, sign, noDA, not decrypt,
 *    and a supported signing scheme (`CREDENTIAL_AK_REFUSED`);
 * 5. the secret the attester returns equals the one encrypted (`CREDENTIAL_SECRET_MISMATCH`).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { toHex } from '@enigm/protocols/bytes';
import { AttestationError } from '../errors.ts';
import { objectName, parsePublic, type TpmPublic } from '../structures/public.ts';
import type { AppraisalPolicy } from './appraise.ts';
import { type Credential, checkAkForCredential, makeCredential, secretMatches } from './credential.ts';
import { type EkCertificateInfo, type EkTrustStore, verifyEkCertificate } from './ek-cert.ts';

/** What the attester sends to enroll. Every field is untrusted. */
export interface EnrollmentRequest {
  /** EK `TPMT_PUBLIC`, as CreatePrimary with the TCG template returned it. */
  readonly ekPublic: Uint8Array;
  /** EK certificate DER from its NV index. */
  readonly ekCertificate: Uint8Array;
  /** The new AK's `TPMT_PUBLIC`. */
  readonly akPublic: Uint8Array;
}

/** Verifier configuration for enrollment. */
export interface EnrollmentOptions {
  /** Manufacturer roots and intermediates. */
  readonly store: EkTrustStore;
  /** Verification time for certificate validity and the record. */
  readonly now: Date;
  /** Random source for the secret and seed (default node:crypto). */
  readonly random?: (n: number) => Uint8Array;
}

/** Verifier state between the challenge and the attester's answer. Keep it secret. */
export interface PendingEnrollment {
  readonly secret: Uint8Array;
  readonly akPublic: Uint8Array;
  readonly akName: Uint8Array;
  readonly ekCert: EkCertificateInfo;
  readonly now: Date;
}

/** A trusted AK: what the verifier keeps after a successful enrollment. JSON-ready. */
export interface EnrollmentRecord {
  readonly version: 1;
  /** Hex AK Name (`nameAlg ‖ H(TPMT_PUBLIC)`), for `AppraisalPolicy.akNames`. */
  readonly akName: string;
  /** Hex AK `TPMT_PUBLIC`. */
  readonly akPublic: string;
  /** SHA-256 of the EK certificate DER, hex. */
  readonly ekCertFingerprint: string;
  readonly ekCertSubject: string;
  readonly ekCertIssuer: string;
  /** Certificate path, leaf's issuer to the root. */
  readonly ekCertPath: readonly string[];
  /** TPM manufacturer, model, version from the EK certificate. */
  readonly tpm: { readonly manufacturer?: string; readonly model?: string; readonly version?: string };
  /** ISO time of enrollment. */
  readonly enrolledAt: string;
}

function parseEk(bytes: Uint8Array): TpmPublic {
  try {
    return parsePublic(bytes);
  } catch (e) {
    throw new AttestationError('EK_KEY_MISMATCH', `EK public area does not parse: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Checks an enrollment request and makes the credential challenge (steps 1–4).
 * @throws {@link AttestationError} with the code of the failed step (see the module doc)
 * @example
 * const { challenge, pending } = beginEnrollment(request, { store: { roots }, now: new Date() });
 */
export function beginEnrollment(
  request: EnrollmentRequest,
  options: EnrollmentOptions,
): { challenge: Credential; pending: PendingEnrollment } {
  const ek = parseEk(request.ekPublic);
  const ekCert = verifyEkCertificate({ certificate: request.ekCertificate, store: options.store, now: options.now, ek });
  const ak = checkAkForCredential(request.akPublic);
  const random = options.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  const secret = random(32);
  const challenge = makeCredential({ ek, akPublic: ak.publicArea, secret, random });
  return {
    challenge,
    pending: { secret, akPublic: ak.publicArea, akName: objectName(ak.publicArea), ekCert, now: options.now },
  };
}

/**
 * Checks the secret the attester recovered (step 5) and makes the enrollment record.
 * @throws {@link AttestationError} `CREDENTIAL_SECRET_MISMATCH`
 */
export function finishEnrollment(pending: PendingEnrollment, recovered: Uint8Array): EnrollmentRecord {
  if (!secretMatches(pending.secret, recovered))
    throw new AttestationError('CREDENTIAL_SECRET_MISMATCH', 'the activated secret is not the one encrypted to the EK');
  return {
    version: 1,
    akName: toHex(pending.akName),
    akPublic: toHex(pending.akPublic),
    ekCertFingerprint: pending.ekCert.fingerprint,
    ekCertSubject: pending.ekCert.subject,
    ekCertIssuer: pending.ekCert.issuer,
    ekCertPath: pending.ekCert.path,
    tpm: pending.ekCert.tpm,
    enrolledAt: pending.now.toISOString(),
  };
}

/**
 * Reads an enrollment record from JSON, checking that the AK Name is the Name of the AK public.
 * @throws {@link AttestationError} `POLICY_INVALID` naming the bad field
 */
export function enrollmentFromJson(j: unknown): EnrollmentRecord {
  const o = (typeof j === 'object' && j !== null ? j : {}) as Record<string, unknown>;
  const hexField = (k: string) => {
    const v = o[k];
    if (typeof v !== 'string' || !/^([0-9a-f]{2})+$/.test(v))
      throw new AttestationError('POLICY_INVALID', `enrollment.${k} is not lowercase hex`);
    return v;
  };
  if (o.version !== 1) throw new AttestationError('POLICY_INVALID', 'enrollment.version is not 1');
  const akName = hexField('akName');
  const akPublic = hexField('akPublic');
  hexField('ekCertFingerprint');
  if (toHex(objectName(Buffer.from(akPublic, 'hex'))) !== akName)
    throw new AttestationError('POLICY_INVALID', 'enrollment.akName is not the Name of enrollment.akPublic');
  return o as unknown as EnrollmentRecord;
}

/** An appraisal policy trusting the AKs of these enrollments (added to `base.akNames`). */
export function policyFromEnrollments(records: readonly EnrollmentRecord[], base: AppraisalPolicy = {}): AppraisalPolicy {
  return { ...base, akNames: [...(base.akNames ?? []), ...records.map((r) => r.akName)] };
}
