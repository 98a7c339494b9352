/**
 * TPM 2.0 constants used by the client and the verifier (TPM 2.0 Part 2: Structures).
 *
 * @module
 */

/** `TPM_ST` structure tags. */
export const TPM_ST = {
  NO_SESSIONS: 0x8001,
  SESSIONS: 0x8002,
  ATTEST_QUOTE: 0x8018,
  ATTEST_CERTIFY: 0x8017,
} as const;

/** `TPM_GENERATED_VALUE`: the magic that starts every TPM-made `TPMS_ATTEST` ("\xffTCG"). */
export const TPM_GENERATED_VALUE = 0xff544347;

/** `TPM_CC` command codes. */
export const TPM_CC = {
  CreatePrimary: 0x131,
  NV_Read: 0x14e,
  Startup: 0x144,
  Shutdown: 0x145,
  ActivateCredential: 0x147,
  PolicySecret: 0x151,
  Create: 0x153,
  Load: 0x157,
  Quote: 0x158,
  FlushContext: 0x165,
  MakeCredential: 0x168,
  NV_ReadPublic: 0x169,
  ReadPublic: 0x173,
  StartAuthSession: 0x176,
  GetCapability: 0x17a,
  GetRandom: 0x17b,
  PCR_Read: 0x17e,
  PCR_Extend: 0x182,
} as const;

/** Permanent handles (`TPM_RH`, `TPM_RS`). */
export const TPM_RH = {
  OWNER: 0x40000001,
  NULL: 0x40000007,
  PW: 0x40000009,
  ENDORSEMENT: 0x4000000b,
  PLATFORM: 0x4000000c,
} as const;

/** `TPM_ALG_ID` values other than hashes (see `hash.ts` for those). */
export const TPM_ALG = {
  RSA: 0x0001,
  HMAC: 0x0005,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  XOR: 0x000a,
  NULL: 0x0010,
  RSASSA: 0x0014,
  RSAES: 0x0015,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDH: 0x0019,
  ECDAA: 0x001a,
  SM2: 0x001b,
  ECSCHNORR: 0x001c,
  KDF1_SP800_56A: 0x0020,
  KDF2: 0x0021,
  KDF1_SP800_108: 0x0022,
  ECC: 0x0023,
  SYMCIPHER: 0x0025,
  CTR: 0x0040,
  OFB: 0x0041,
  CBC: 0x0042,
  CFB: 0x0043,
  ECB: 0x0044,
} as const;

/** `TPM_ECC_CURVE` values. */
export const TPM_ECC = { NIST_P256: 0x0003, NIST_P384: 0x0004 } as const;

/** `TPMA_OBJECT` attribute bits. */
export const TPMA_OBJECT = {
  fixedTPM: 1 << 1,
  stClear: 1 << 2,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  adminWithPolicy: 1 << 7,
  noDA: 1 << 10,
  encryptedDuplication: 1 << 11,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;

/** `TPM_SU` startup and shutdown types. */
export const TPM_SU = { CLEAR: 0x0000, STATE: 0x0001 } as const;

/** `TPM_CAP` capability selectors. */
export const TPM_CAP = { ALGS: 0, HANDLES: 1, COMMANDS: 2, PCRS: 5, TPM_PROPERTIES: 6 } as const;

/** `TPM_PT` properties read with `TPM_CAP_TPM_PROPERTIES` (TPM 2.0 Part 2 §6.13: `PT_FIXED` = 0x100). */
export const TPM_PT = { NV_BUFFER_MAX: 0x100 + 44, HR_TRANSIENT_AVAIL: 0x200 + 7, HR_LOADED_AVAIL: 0x200 + 9 } as const;

/** `TPM_SE` session types. */
export const TPM_SE = { HMAC: 0x00, POLICY: 0x01, TRIAL: 0x03 } as const;

/** `TPM_HT` handle types: the top byte of a handle. */
export const TPM_HT = {
  NV_INDEX: 0x01,
  HMAC_SESSION: 0x02,
  POLICY_SESSION: 0x03,
  TRANSIENT: 0x80,
  PERSISTENT: 0x81,
} as const;

/** NV indices of EK certificates (TCG EK Credential Profile 2.0 §2.2.1.4–5; 0x01C00016 is the P-384 one swtpm writes). */
export const EK_CERT_NV_INDEX = { rsa2048: 0x01c00002, eccP256: 0x01c0000a, eccP384: 0x01c00016 } as const;
