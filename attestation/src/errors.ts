/**
 * The one error class of `attestation/`: event-log parsing, the TPM client and the verifier.
 *
 * Every failure carries a stable symbolic code from {@link ATTESTATION_ERROR_CODES}. TPM response
 * codes are decoded once, at the command boundary, into `TPM_*` codes with the raw `rc` kept.
 * Argument guards throw `TypeError`/`RangeError` naming the field, as elsewhere in the suite.
 *
 * @module
 */
import { EnigmError } from '@enigm/protocols/errors';

/**
 * Codes of {@link AttestationError}, each with its human meaning. The meaning is documentation;
 * the thrown message says exactly what was wrong and where.
 */
export const ATTESTATION_ERROR_CODES = {
  EVENTLOG_TRUNCATED: 'the event log ends inside an event header, digest list or event data',
  EVENTLOG_TOO_LARGE: 'a size in the event log (log, event, digest count, algorithm count) is over its bound',
  EVENTLOG_MALFORMED: 'an event-log structure is invalid (bad Spec ID event, wrong digest size, duplicate digest)',
  EVENTLOG_UNKNOWN_ALGORITHM: 'a digest algorithm that the Spec ID event does not declare, or that cannot be replayed',
  TPM_MARSHAL: 'a TPM structure or response that does not unmarshal (truncated, trailing bytes, bad tag or size)',
  TPM_TRANSPORT: 'the TPM transport failed (connection refused or closed, device error, timeout)',
  TPM_RETRY_EXHAUSTED: 'the TPM kept answering RETRY, YIELDED or TESTING after the last backoff attempt',
  TPM_RESPONSE: 'the TPM returned a response code other than success (see `rc` and the decoded name)',
  TPM_UNSUPPORTED: 'a TPM algorithm, key type or capability this client does not implement',
  ATTEST_MALFORMED: 'a TPMS_ATTEST, TPMT_PUBLIC or TPMT_SIGNATURE that does not parse',
  ATTEST_UNSUPPORTED: 'an algorithm or scheme the verifier does not implement',
  POLICY_INVALID: 'an appraisal policy or verifier input that is malformed',
  EK_CERT_MISSING: 'the TPM has no EK certificate in the NV index for that EK type (or the index is empty)',
  EK_CERT_MALFORMED: 'an EK or CA certificate that does not parse as X.509 (DER or PEM)',
  EK_CERT_CHAIN: 'a certificate in the EK chain is not signed by its issuer, or an issuer is not a CA',
  EK_CERT_UNTRUSTED: 'the EK certificate chain does not end at a configured manufacturer root',
  EK_CERT_EXPIRED: 'a certificate in the EK chain is expired or not yet valid at the verification time',
  EK_KEY_MISMATCH:
    'the EK the TPM presented is not the key in its EK certificate, or not a restricted decryption key of the TCG template',
  CREDENTIAL_AK_REFUSED:
    'the AK is not a TPM-resident restricted signing key (fixedTPM, fixedParent, sensitiveDataOrigin, restricted, sign, noDA; not decrypt): no credential is made for it',
  CREDENTIAL_ACTIVATION_FAILED:
    'the TPM refused ActivateCredential: the credential is bound to another AK Name or EK, or the blob or secret was altered',
  CREDENTIAL_SECRET_MISMATCH: 'the secret the attester recovered differs from the one the verifier encrypted to the EK',
  INPUT_UNREADABLE: 'an input file (evidence, policy, enrollment, certificate, key, event log) cannot be read',
  INPUT_MALFORMED: 'an input file is not what it should be (not JSON, wrong shape, bad hex)',
  STATE_INVALID: 'the verifier state file (challenges, used nonces, clock states) is malformed',
  STATE_LOCKED: 'another verifier holds the lock on the verifier state file',
  STATE_WRITE_FAILED: 'the verifier state file could not be written',
  NONCE_INVALID: 'a nonce that is empty, longer than 64 bytes or not hex',
  AUDIT_FIELD_REFUSED:
    'an audit entry field that breaks its rule (length, characters) or looks like key material, a contact, a location or content',
  AUDIT_LOG_INVALID: 'an audit log that is not one (bad file header) or fails verification where it is opened for appending',
  AUDIT_LOG_TORN:
    'an audit log whose last record is torn (a crash mid-append); open it with repair to truncate it and record the repair',
  AUDIT_LOCKED: 'another process holds the lock of the audit log',
  AUDIT_WRITE_FAILED: 'an audit log, its folder or its lock file could not be created, written or synced',
  PKI_CERT_MALFORMED: 'a provisioning-PKI certificate (root, intermediate or Key certificate) that does not parse as X.509',
  PKI_PROFILE:
    'a certificate outside the provisioning profile (a Key certificate that is a CA or lacks digitalSignature, a key that is not Ed25519)',
  PKI_CHAIN_INVALID:
    'a Key certificate chain that is broken: a signature that does not verify, an issuer that is not a CA or may not sign certificates, a path length exceeded',
  PKI_CHAIN_UNTRUSTED: 'a Key certificate chain that does not end at a configured provisioning root',
  PKI_CERT_EXPIRED: 'a certificate on the Key certificate path has expired at the verification time',
  PKI_CERT_NOT_YET_VALID: 'a certificate on the Key certificate path is not valid yet at the verification time',
  PKI_KEY_MISMATCH: 'the Key certificate (or CSR) is for another identity key than the expected one',
  PKI_CSR_INVALID:
    'a certificate signing request that does not parse, is not Ed25519 or whose signature (proof of possession) does not verify',
  PKI_VALIDITY_INVALID: 'a requested validity that is empty or reaches past the issuing CA certificate',
  PKI_MODEL_INVALID: 'a Key model name that is empty, longer than 64 characters or has characters outside [A-Za-z0-9 ._-]',
  CA_EXISTS: 'the CA folder already holds a CA (pass --force to replace it)',
  CA_NOT_FOUND: 'the CA folder has no CA (ca.json, root or intermediate files missing)',
  CA_MALFORMED: 'a CA file (ca.json, certificate, encrypted key) is not what it should be, or the files do not belong together',
  CA_PASSPHRASE_WRONG: 'the passphrase does not decrypt the CA private key',
  CA_PASSPHRASE_MISSING: 'no CA passphrase: none from --passphrase-file, ENIGM_CA_PASSPHRASE or a terminal prompt',
  CA_PASSPHRASE_WEAK: 'a new CA passphrase shorter than 12 characters',
  CA_WRITE_FAILED: 'a CA file could not be written (the folder is left as it was)',
  ASSOCIATION_HANDLE_INVALID: 'a device handle that is not eh1- and 26 lowercase base32 characters with zero padding bits',
  REVOCATION_MALFORMED:
    'a revocation list that does not decode strictly (not a deterministic COSE_Sign1, a bad field, entries unsorted or duplicated, over its bounds)',
  REVOCATION_SIGNATURE_INVALID: 'a revocation list whose signature does not verify under its issuer key (tampered)',
  REVOCATION_UNTRUSTED: 'a revocation list signed by an issuer key id that is not among the trusted revocation keys',
  REVOCATION_ROLLBACK: 'a revocation list whose version is below one already seen (a rollback to an older list)',
  REVOCATION_STALE: 'a revocation list past its nextUpdate time: a fresh list is needed',
  REVOCATION_NOT_YET_VALID: 'a revocation list issued in the future (beyond the allowed clock skew)',
  REVOCATION_LOCKED: 'another live process holds the lock of the revocation list being changed',
  REVOCATION_ENTRY_INVALID:
    'a revocation entry or list parameter that breaks its rule (duplicate entry, bad serial, revokedAt after issuedAt, version overflow)',
  POSTURE_MALFORMED:
    'posture evidence (a signed report and its quote) that does not decode, or a posture input file of the wrong shape',
  POSTURE_UNTRUSTED:
    'a protected operation requires a trusted device and the latest posture appraisal of that device is untrusted, unknown or too old',
} as const;

/** Symbolic code of an {@link AttestationError}. */
export type AttestationErrorCode = keyof typeof ATTESTATION_ERROR_CODES;

/** The one error class of `attestation/`. `rc` holds the raw TPM response code for `TPM_*` codes. */
export class AttestationError extends EnigmError<AttestationErrorCode> {
  override readonly name = 'AttestationError';
  /** Raw TPM response code (`TPM_RESPONSE`, `TPM_RETRY_EXHAUSTED`), otherwise undefined. */
  readonly rc: number | undefined;

  /**
   * @param code - stable symbolic code
   * @param message - human reason naming the field or offset
   * @param options - optional `cause` and raw TPM response code `rc`
   */
  constructor(code: AttestationErrorCode, message: string, options?: { cause?: unknown; rc?: number }) {
    super(code, message, options);
    this.rc = options?.rc;
  }
}
