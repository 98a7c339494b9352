/**
 * Verifier side of credential activation (TPM 2.0 Part 1 §24 "Credential Protection",
 * Part 3 §12.6 `TPM2_MakeCredential`, done here in software): a secret is wrapped so that only
 * the TPM holding the EK's private key can recover it, and only into an object whose Name is the
 * AK's Name. Pure apart from randomness, which is injectable. Steps:
 *
 * 1. refuse the AK unless it is a TPM-resident restricted signing key (`checkAkForCredential`);
 * 2. refuse the EK unless it is an RSA restricted decryption key with AES-128-CFB (`checkEkForCredential`);
 * 3. seed ← random (nameAlg digest size); encryptedSecret ← RSA-OAEP(EK, seed), hash = EK
 *    nameAlg, label "IDENTITY\0";
 * 4. symKey ← KDFa(nameAlg, seed, "STORAGE", AK Name, ∅, 128);
 *    encIdentity ← AES-128-CFB(symKey, IV = 0, TPM2B_DIGEST(secret));
 * 5. hmacKey ← KDFa(nameAlg, seed, "INTEGRITY", ∅, ∅, digest bits);
 *    outerHMAC ← HMAC(hmacKey, encIdentity ‖ AK Name);
 * 6. credentialBlob (TPM2B_ID_OBJECT content) ← TPM2B_DIGEST(outerHMAC) ‖ encIdentity.
 *
 * @module
 */
import { constants, createCipheriv, createHmac, publicEncrypt, randomBytes, timingSafeEqual } from 'node:crypto';
import { AttestationError } from '../errors.ts';
import { type HashAlg, requireHash } from '../hash.ts';
import { TPMA_OBJECT as A, TPM_ALG } from '../structures/constants.ts';
import { TpmWriter } from '../structures/marshal.ts';
import { objectName, type TpmPublic } from '../structures/public.ts';
import { type PreparedAk, prepareAk, tpmPublicKey } from './keys.ts';

/** Attributes the verifier requires of an AK before making a credential for it. */
export const CREDENTIAL_AK_REQUIRED = A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.restricted | A.sign | A.noDA;
/** Attributes the verifier requires of the EK: fixedTPM, fixedParent, sensitiveDataOrigin, restricted, decrypt. */
export const CREDENTIAL_EK_REQUIRED = A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.restricted | A.decrypt;

/** What the attester's TPM gets: both TPM2B contents (no size prefixes). */
export interface Credential {
  /** `TPM2B_ID_OBJECT` content: integrity HMAC (as TPM2B) ‖ encrypted identity. */
  readonly credentialBlob: Uint8Array;
  /** `TPM2B_ENCRYPTED_SECRET` content: the seed encrypted to the EK. */
  readonly encryptedSecret: Uint8Array;
}

/**
 * KDFa (TPM 2.0 Part 1 §11.4.10.2, SP 800-108 counter mode with HMAC): blocks
 * HMAC(key, [i]₃₂ ‖ label ‖ 00 ‖ contextU ‖ contextV ‖ [bits]₃₂), truncated to `bits`.
 * @throws RangeError if `bits` is not a positive multiple of 8
 */
export function kdfa(
  hash: HashAlg,
  key: Uint8Array,
  label: string,
  contextU: Uint8Array,
  contextV: Uint8Array,
  bits: number,
): Uint8Array {
  if (!Number.isInteger(bits) || bits <= 0 || bits % 8 !== 0)
    throw new RangeError(`bits must be a positive multiple of 8, got ${bits}`);
  const out: Buffer[] = [];
  const lab = Buffer.concat([Buffer.from(label, 'latin1'), Buffer.alloc(1)]);
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(bits);
  let got = 0;
  for (let i = 1; got < bits / 8; i++) {
    const ctr = Buffer.alloc(4);
    ctr.writeUInt32BE(i);
    const block = createHmac(hash.node, key).update(ctr).update(lab).update(contextU).update(contextV).update(tail).digest();
    out.push(block);
    got += block.length;
  }
  return new Uint8Array(Buffer.concat(out).subarray(0, bits / 8));
}

/**
 * Checks that an AK may receive a credential: it parses as a restricted signing key with a
 * supported scheme (see `prepareAk`) and has fixedTPM, fixedParent, sensitiveDataOrigin,
 * restricted, sign and noDA, and not decrypt.
 * @throws {@link AttestationError} `CREDENTIAL_AK_REFUSED` naming what is wrong
 */
export function checkAkForCredential(akPublic: Uint8Array): PreparedAk {
  let ak: PreparedAk;
  try {
    ak = prepareAk(akPublic);
  } catch (e) {
    throw new AttestationError('CREDENTIAL_AK_REFUSED', `AK refused: ${(e as Error).message}`, { cause: e });
  }
  const missing = CREDENTIAL_AK_REQUIRED & ~ak.public.attributes;
  if (missing !== 0 || ak.public.attributes & A.decrypt)
    throw new AttestationError(
      'CREDENTIAL_AK_REFUSED',
      `AK attributes 0x${ak.public.attributes.toString(16)} lack 0x${missing.toString(16)} of the required 0x${CREDENTIAL_AK_REQUIRED.toString(16)} (or have decrypt)`,
    );
  return ak;
}

/**
 * Checks that an EK can wrap a credential here: RSA, restricted decryption, AES-128-CFB
 * symmetric, a supported nameAlg.
 * @throws {@link AttestationError} `EK_KEY_MISMATCH` for other attributes, `ATTEST_UNSUPPORTED` for ECC EKs
 */
export function checkEkForCredential(ek: TpmPublic): HashAlg {
  if (ek.type !== TPM_ALG.RSA)
    throw new AttestationError('ATTEST_UNSUPPORTED', 'only RSA EKs are supported for credential activation');
  if ((ek.attributes & CREDENTIAL_EK_REQUIRED) !== CREDENTIAL_EK_REQUIRED || ek.attributes & A.sign)
    throw new AttestationError(
      'EK_KEY_MISMATCH',
      `EK attributes 0x${ek.attributes.toString(16)} are not a restricted decryption key's`,
    );
  const s = ek.symmetric;
  if (s.alg !== TPM_ALG.AES || s.keyBits !== 128 || s.mode !== TPM_ALG.CFB)
    throw new AttestationError('EK_KEY_MISMATCH', 'EK symmetric is not AES-128-CFB as in the TCG EK templates');
  return requireHash(ek.nameAlg);
}

/** Inputs of {@link makeCredential}. */
export interface MakeCredentialInput {
  /** The EK's public area (checked against its certificate beforehand). */
  readonly ek: TpmPublic;
  /** The AK's exact `TPMT_PUBLIC` bytes: the credential is bound to its Name. */
  readonly akPublic: Uint8Array;
  /** The secret to protect, 1..digest size of the EK nameAlg bytes. */
  readonly secret: Uint8Array;
  /** Random source (default node:crypto randomBytes), for the seed. */
  readonly random?: (n: number) => Uint8Array;
}

/**
 * MakeCredential in software. Refuses the AK first.
 * @throws {@link AttestationError} `CREDENTIAL_AK_REFUSED`, `EK_KEY_MISMATCH`, `ATTEST_UNSUPPORTED`
 * @throws RangeError if the secret is empty or longer than the nameAlg digest
 * @example
 * const { credentialBlob, encryptedSecret } = makeCredential({ ek, akPublic, secret: randomBytes(32) });
 */
export function makeCredential(input: MakeCredentialInput): Credential {
  const ak = checkAkForCredential(input.akPublic);
  const hash = checkEkForCredential(input.ek);
  if (input.secret.length < 1 || input.secret.length > hash.size)
    throw new RangeError(`secret must be 1..${hash.size} bytes, got ${input.secret.length}`);
  const seed = (input.random ?? ((n) => new Uint8Array(randomBytes(n))))(hash.size);
  const encryptedSecret = publicEncrypt(
    {
      key: tpmPublicKey(input.ek),
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: hash.node,
      oaepLabel: Buffer.from('IDENTITY\0', 'latin1'),
    },
    seed,
  );
  const name = objectName(ak.publicArea);
  const symKey = kdfa(hash, seed, 'STORAGE', name, new Uint8Array(), 128);
  const plain = new TpmWriter().tpm2b(input.secret).finish();
  const cipher = createCipheriv('aes-128-cfb', symKey, Buffer.alloc(16));
  const encIdentity = Buffer.concat([cipher.update(plain), cipher.final()]);
  const hmacKey = kdfa(hash, seed, 'INTEGRITY', new Uint8Array(), new Uint8Array(), hash.size * 8);
  const outerHmac = createHmac(hash.node, hmacKey).update(encIdentity).update(name).digest();
  return {
    credentialBlob: new TpmWriter().tpm2b(outerHmac).bytes(encIdentity).finish(),
    encryptedSecret: new Uint8Array(encryptedSecret),
  };
}

/** Whether the secret recovered by the attester equals the one chosen (constant time). */
export function secretMatches(expected: Uint8Array, recovered: Uint8Array): boolean {
  return expected.length === recovered.length && timingSafeEqual(expected, recovered);
}
