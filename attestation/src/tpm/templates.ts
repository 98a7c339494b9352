/**
 * Key templates: the TCG EK Credential Profile 2.0 "low range" EK templates (L-1 RSA 2048,
 * L-2 ECC P-256, §2.2.1.4–5), a storage primary (SRK, TCG TPM v2.0 Provisioning Guidance §7.5.1)
 * and restricted signing attestation keys (AK).
 *
 * @module
 */
import { ALG_SHA256 } from '../hash.ts';
import { TPMA_OBJECT as A, TPM_ALG, TPM_ECC } from '../structures/constants.ts';
import type { EccPublic, RsaPublic, TpmPublic } from '../structures/public.ts';

/** `PolicySecret(TPM_RH_ENDORSEMENT)` digest, the EK's authPolicy (EK Credential Profile §B.6.2). */
export const EK_POLICY_SHA256 = Uint8Array.from(
  Buffer.from('837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa', 'hex'),
);

const AES128_CFB = { alg: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB } as const;
const NULL_SCHEME = { scheme: TPM_ALG.NULL } as const;

/** Attributes of the EK templates: fixedTPM, fixedParent, sensitiveDataOrigin, adminWithPolicy, restricted, decrypt. */
export const EK_ATTRIBUTES = A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.adminWithPolicy | A.restricted | A.decrypt;
/** Attributes of the SRK: fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth, noDA, restricted, decrypt. */
export const SRK_ATTRIBUTES =
  A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.userWithAuth | A.noDA | A.restricted | A.decrypt;
/** Attributes of an AK: fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth, noDA, restricted, sign. */
export const AK_ATTRIBUTES = A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.userWithAuth | A.noDA | A.restricted | A.sign;

/** Key algorithm of a template. */
export type KeyKind = 'ecc' | 'rsa';

/** EK template L-1 (RSA 2048) or L-2 (ECC NIST P-256). */
export function ekTemplate(kind: KeyKind): TpmPublic {
  const common = {
    nameAlg: ALG_SHA256,
    attributes: EK_ATTRIBUTES,
    authPolicy: EK_POLICY_SHA256,
    symmetric: AES128_CFB,
    scheme: NULL_SCHEME,
  };
  if (kind === 'rsa')
    return { ...common, type: TPM_ALG.RSA, keyBits: 2048, exponent: 0, modulus: new Uint8Array(256) } satisfies RsaPublic;
  return {
    ...common,
    type: TPM_ALG.ECC,
    curve: TPM_ECC.NIST_P256,
    kdf: NULL_SCHEME,
    x: new Uint8Array(32),
    y: new Uint8Array(32),
  } satisfies EccPublic;
}

/** Storage primary key template (ECC P-256 or RSA 2048, AES-128-CFB). */
export function srkTemplate(kind: KeyKind): TpmPublic {
  const common = {
    nameAlg: ALG_SHA256,
    attributes: SRK_ATTRIBUTES,
    authPolicy: new Uint8Array(),
    symmetric: AES128_CFB,
    scheme: NULL_SCHEME,
  };
  if (kind === 'rsa') return { ...common, type: TPM_ALG.RSA, keyBits: 2048, exponent: 0, modulus: new Uint8Array() };
  return { ...common, type: TPM_ALG.ECC, curve: TPM_ECC.NIST_P256, kdf: NULL_SCHEME, x: new Uint8Array(), y: new Uint8Array() };
}

/** Restricted signing AK template: ECDSA P-256 / SHA-256, or RSASSA-PKCS1-v1_5 2048 / SHA-256. */
export function akTemplate(kind: KeyKind): TpmPublic {
  const common = {
    nameAlg: ALG_SHA256,
    attributes: AK_ATTRIBUTES,
    authPolicy: new Uint8Array(),
    symmetric: { alg: TPM_ALG.NULL },
  };
  if (kind === 'rsa')
    return {
      ...common,
      type: TPM_ALG.RSA,
      scheme: { scheme: TPM_ALG.RSASSA, hash: ALG_SHA256 },
      keyBits: 2048,
      exponent: 0,
      modulus: new Uint8Array(),
    };
  return {
    ...common,
    type: TPM_ALG.ECC,
    scheme: { scheme: TPM_ALG.ECDSA, hash: ALG_SHA256 },
    curve: TPM_ECC.NIST_P256,
    kdf: NULL_SCHEME,
    x: new Uint8Array(),
    y: new Uint8Array(),
  };
}
