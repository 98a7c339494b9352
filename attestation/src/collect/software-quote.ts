/**
 * A software attester that produces quotes in exactly the TPM's formats, signed by a node:crypto
 * key. For tests and benchmarks of the verifier — it is not a TPM and proves nothing.
 *
 * @module
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { ALG_SHA256, digest, hashById } from '../hash.ts';
import { TPM_ALG, TPM_ECC, TPM_GENERATED_VALUE, TPM_RH, TPM_ST } from '../structures/constants.ts';
import { TpmWriter } from '../structures/marshal.ts';
import { writePcrSelections } from '../structures/pcr-selection.ts';
import { hierarchyQualifiedName, marshalPublic, objectName, qualifiedName } from '../structures/public.ts';
import { AK_ATTRIBUTES, type KeyKind } from '../tpm/templates.ts';
import type { QuoteEvidence } from './evidence.ts';

/** A software AK. */
export interface SoftwareAk {
  readonly kind: KeyKind;
  readonly privateKey: KeyObject;
  readonly publicArea: Uint8Array;
  readonly name: Uint8Array;
  readonly parentQn: Uint8Array;
}

/**
 * Generates a key pair as DER and re-imports it. Node 20 can deadlock when a KeyObject made by
 * `generateKeyPairSync` is exported while a garbage collection destroys the finished key-generation
 * job (both take the key's mutex); asking the job for encoded keys avoids exporting its KeyObjects.
 */
function generate(
  type: 'ec' | 'rsa',
  options: { namedCurve?: string; modulusLength?: number },
): { key: KeyObject; jwk: { x?: string; y?: string; n?: string } } {
  const spki = { type: 'spki', format: 'der' } as const;
  const pkcs8 = { type: 'pkcs8', format: 'der' } as const;
  const kp =
    type === 'ec'
      ? generateKeyPairSync('ec', {
          namedCurve: options.namedCurve as string,
          publicKeyEncoding: spki,
          privateKeyEncoding: pkcs8,
        })
      : generateKeyPairSync('rsa', {
          modulusLength: options.modulusLength as number,
          publicKeyEncoding: spki,
          privateKeyEncoding: pkcs8,
        });
  const key = createPrivateKey({ key: kp.privateKey, format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey({ key: kp.publicKey, format: 'der', type: 'spki' }).export({ format: 'jwk' });
  return { key, jwk };
}

/** Makes a software AK (ECC P-256 / ECDSA-SHA256 or RSA 2048 / RSASSA-SHA256). */
export function makeSoftwareAk(kind: KeyKind = 'ecc'): SoftwareAk {
  const common = {
    nameAlg: ALG_SHA256,
    attributes: AK_ATTRIBUTES,
    authPolicy: new Uint8Array(),
    symmetric: { alg: TPM_ALG.NULL },
  };
  let publicArea: Uint8Array;
  let privateKey: KeyObject;
  if (kind === 'ecc') {
    const { jwk, key } = generate('ec', { namedCurve: 'P-256' });
    privateKey = key;
    publicArea = marshalPublic({
      ...common,
      type: TPM_ALG.ECC,
      scheme: { scheme: TPM_ALG.ECDSA, hash: ALG_SHA256 },
      curve: TPM_ECC.NIST_P256,
      kdf: { scheme: TPM_ALG.NULL },
      x: Buffer.from(jwk.x as string, 'base64url'),
      y: Buffer.from(jwk.y as string, 'base64url'),
    });
  } else {
    const { jwk, key } = generate('rsa', { modulusLength: 2048 });
    privateKey = key;
    publicArea = marshalPublic({
      ...common,
      type: TPM_ALG.RSA,
      scheme: { scheme: TPM_ALG.RSASSA, hash: ALG_SHA256 },
      keyBits: 2048,
      exponent: 0,
      modulus: Buffer.from(jwk.n as string, 'base64url'),
    });
  }
  const parentQn = qualifiedName(hierarchyQualifiedName(TPM_RH.OWNER), objectName(publicArea));
  return { kind, privateKey, publicArea, name: objectName(publicArea), parentQn };
}

/** Fields of a software quote; defaults make a valid quote. */
export interface SoftwareQuoteOptions {
  nonce: Uint8Array;
  pcrs: ReadonlyMap<number, Uint8Array>;
  bank?: number;
  clock?: bigint;
  resetCount?: number;
  restartCount?: number;
  safe?: boolean;
  eventLog?: Uint8Array;
  /** Override of `TPMS_ATTEST.magic` (to test the verifier). */
  magic?: number;
  /** Override of `TPMS_ATTEST.type` (to test the verifier). */
  type?: number;
}

/** Makes evidence for `pcrs` signed by a software AK. */
export function makeSoftwareQuote(ak: SoftwareAk, o: SoftwareQuoteOptions): QuoteEvidence {
  const bank = o.bank ?? ALG_SHA256;
  const pcrs = [...o.pcrs.keys()].sort((a, b) => a - b);
  const sha256 = hashById(ALG_SHA256)!;
  const w = new TpmWriter()
    .u32(o.magic ?? TPM_GENERATED_VALUE)
    .u16(o.type ?? TPM_ST.ATTEST_QUOTE)
    .tpm2b(qualifiedName(ak.parentQn, ak.name))
    .tpm2b(o.nonce)
    .u64(o.clock ?? 1000n)
    .u32(o.resetCount ?? 1)
    .u32(o.restartCount ?? 0)
    .u8(o.safe === false ? 0 : 1)
    .u64(0x2023_0101n);
  writePcrSelections(w, [{ hash: bank, pcrs }]);
  w.tpm2b(digest(sha256, ...pcrs.map((p) => o.pcrs.get(p) as Uint8Array)));
  const attest = w.finish();
  const sig = new TpmWriter();
  if (ak.kind === 'ecc') {
    const rs = sign('sha256', attest, { key: ak.privateKey, dsaEncoding: 'ieee-p1363' });
    sig.u16(TPM_ALG.ECDSA).u16(ALG_SHA256).tpm2b(rs.subarray(0, 32)).tpm2b(rs.subarray(32));
  } else
    sig
      .u16(TPM_ALG.RSASSA)
      .u16(ALG_SHA256)
      .tpm2b(sign('sha256', attest, ak.privateKey));
  return {
    akPublic: ak.publicArea,
    akParentQualifiedName: ak.parentQn,
    attest,
    signature: sig.finish(),
    pcrBank: bank,
    pcrs: o.pcrs,
    ...(o.eventLog ? { eventLog: o.eventLog } : {}),
  };
}
