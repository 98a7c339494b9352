/**
 * `TPMT_PUBLIC` (TPM 2.0 Part 2 §12.2.4) for RSA and ECC keys: marshal, unmarshal, and the
 * object Name (`nameAlg ‖ H_nameAlg(TPMT_PUBLIC)`, Part 1 §16).
 *
 * @module
 */
import { AttestationError } from '../errors.ts';
import { digest, requireHash } from '../hash.ts';
import { TPM_ALG } from './constants.ts';
import { TpmReader, TpmWriter } from './marshal.ts';

/** A scheme with an optional hash (`TPMT_*_SCHEME`, `TPMT_KDF_SCHEME`); `hash` is absent for NULL. */
export interface Scheme {
  readonly scheme: number;
  readonly hash?: number;
}

/** `TPMT_SYM_DEF_OBJECT`: NULL, or algorithm + key bits + mode. */
export interface SymDef {
  readonly alg: number;
  readonly keyBits?: number;
  readonly mode?: number;
}

interface PublicCommon {
  /** Hash used to compute the Name. */
  readonly nameAlg: number;
  /** `TPMA_OBJECT` bits. */
  readonly attributes: number;
  /** Policy digest (empty for none). */
  readonly authPolicy: Uint8Array;
  /** Symmetric algorithm of a storage key (NULL for signing keys). */
  readonly symmetric: SymDef;
  /** Signing or encryption scheme. */
  readonly scheme: Scheme;
}

/** An RSA `TPMT_PUBLIC`. */
export interface RsaPublic extends PublicCommon {
  readonly type: typeof TPM_ALG.RSA;
  readonly keyBits: number;
  /** 0 means the default 65537. */
  readonly exponent: number;
  /** Modulus, empty in a template. */
  readonly modulus: Uint8Array;
}

/** An ECC `TPMT_PUBLIC`. */
export interface EccPublic extends PublicCommon {
  readonly type: typeof TPM_ALG.ECC;
  readonly curve: number;
  readonly kdf: Scheme;
  readonly x: Uint8Array;
  readonly y: Uint8Array;
}

/** A `TPMT_PUBLIC` this suite understands. */
export type TpmPublic = RsaPublic | EccPublic;

function writeScheme(w: TpmWriter, s: Scheme): void {
  w.u16(s.scheme);
  if (s.scheme === TPM_ALG.NULL || s.scheme === TPM_ALG.RSAES) return;
  w.u16(s.hash ?? TPM_ALG.NULL);
  if (s.scheme === TPM_ALG.ECDAA) w.u16(0);
}

function readScheme(r: TpmReader): Scheme {
  const scheme = r.u16('a scheme');
  if (scheme === TPM_ALG.NULL || scheme === TPM_ALG.RSAES) return { scheme };
  const hash = r.u16('a scheme hash');
  if (scheme === TPM_ALG.ECDAA) r.u16('an ECDAA count');
  return { scheme, hash };
}

function writeSym(w: TpmWriter, s: SymDef): void {
  w.u16(s.alg);
  if (s.alg !== TPM_ALG.NULL) w.u16(s.keyBits ?? 0).u16(s.mode ?? TPM_ALG.NULL);
}

function readSym(r: TpmReader): SymDef {
  const alg = r.u16('a symmetric algorithm');
  if (alg === TPM_ALG.NULL) return { alg };
  if (alg === TPM_ALG.XOR) return { alg, keyBits: r.u16('an XOR hash') };
  return { alg, keyBits: r.u16('symmetric keyBits'), mode: r.u16('a symmetric mode') };
}

/** Marshals a `TPMT_PUBLIC` (without the TPM2B size). */
export function marshalPublic(p: TpmPublic): Uint8Array {
  const w = new TpmWriter();
  w.u16(p.type).u16(p.nameAlg).u32(p.attributes).tpm2b(p.authPolicy);
  writeSym(w, p.symmetric);
  writeScheme(w, p.scheme);
  if (p.type === TPM_ALG.RSA) w.u16(p.keyBits).u32(p.exponent).tpm2b(p.modulus);
  else {
    w.u16(p.curve);
    writeScheme(w, p.kdf);
    w.tpm2b(p.x).tpm2b(p.y);
  }
  return w.finish();
}

/** Reads a `TPMT_PUBLIC` from a reader. */
export function readPublic(r: TpmReader): TpmPublic {
  const type = r.u16('TPMT_PUBLIC.type');
  const nameAlg = r.u16('nameAlg');
  const attributes = r.u32('objectAttributes');
  const authPolicy = r.tpm2b('authPolicy', 64);
  if (type !== TPM_ALG.RSA && type !== TPM_ALG.ECC)
    throw new AttestationError('ATTEST_UNSUPPORTED', `TPMT_PUBLIC type 0x${type.toString(16)} is neither RSA nor ECC`);
  const symmetric = readSym(r);
  const scheme = readScheme(r);
  if (type === TPM_ALG.RSA) {
    const keyBits = r.u16('keyBits');
    const exponent = r.u32('exponent');
    const modulus = r.tpm2b('the RSA modulus', 512);
    return { type, nameAlg, attributes, authPolicy, symmetric, scheme, keyBits, exponent, modulus };
  }
  const curve = r.u16('curveID');
  const kdf = readScheme(r);
  const x = r.tpm2b('ECC x', 66);
  const y = r.tpm2b('ECC y', 66);
  return { type, nameAlg, attributes, authPolicy, symmetric, scheme, curve, kdf, x, y };
}

/**
 * Parses a whole `TPMT_PUBLIC` (no trailing bytes).
 * @throws {@link AttestationError} `TPM_MARSHAL` or `ATTEST_UNSUPPORTED`
 */
export function parsePublic(bytes: Uint8Array): TpmPublic {
  const r = new TpmReader(bytes, 'TPMT_PUBLIC');
  const p = readPublic(r);
  r.end();
  return p;
}

/**
 * Parses a `TPM2B_PUBLIC` (16-bit size, then `TPMT_PUBLIC`) as tpm2-tools writes it, returning
 * the inner `TPMT_PUBLIC` bytes too.
 */
export function parsePublic2b(bytes: Uint8Array): { public: TpmPublic; bytes: Uint8Array } {
  const r = new TpmReader(bytes, 'TPM2B_PUBLIC');
  const inner = r.tpm2b('TPM2B_PUBLIC');
  r.end();
  return { public: parsePublic(inner), bytes: inner };
}

/**
 * The Name of an object: `nameAlg` (2 bytes) ‖ H_nameAlg(`TPMT_PUBLIC` bytes).
 * @param publicArea - the exact marshalled `TPMT_PUBLIC`
 * @throws {@link AttestationError} `ATTEST_MALFORMED` if too short, `ATTEST_UNSUPPORTED` for an unknown nameAlg
 */
export function objectName(publicArea: Uint8Array): Uint8Array {
  if (publicArea.length < 4) throw new AttestationError('ATTEST_MALFORMED', 'TPMT_PUBLIC is shorter than its type and nameAlg');
  const nameAlg = (publicArea[2]! << 8) | publicArea[3]!;
  const h = digest(requireHash(nameAlg), publicArea);
  const out = new Uint8Array(2 + h.length);
  out[0] = nameAlg >> 8;
  out[1] = nameAlg & 0xff;
  out.set(h, 2);
  return out;
}

/**
 * The Qualified Name of an object (TPM 2.0 Part 1 §16): `nameAlg ‖ H_nameAlg(parentQN ‖ Name)`,
 * where the QN of a hierarchy is its 4-byte handle. `TPMS_ATTEST.qualifiedSigner` holds the
 * signing key's QN.
 * @throws {@link AttestationError} `ATTEST_UNSUPPORTED` for an unknown nameAlg
 */
export function qualifiedName(parentQn: Uint8Array, name: Uint8Array): Uint8Array {
  if (name.length < 2) throw new AttestationError('ATTEST_MALFORMED', 'a Name is shorter than its nameAlg');
  const nameAlg = (name[0]! << 8) | name[1]!;
  const h = digest(requireHash(nameAlg), parentQn, name);
  const out = new Uint8Array(2 + h.length);
  out.set(name.subarray(0, 2));
  out.set(h, 2);
  return out;
}

/** The Qualified Name of a hierarchy: its handle, 4 bytes big-endian (e.g. `TPM_RH_OWNER`). */
export function hierarchyQualifiedName(handle: number): Uint8Array {
  return new TpmWriter().u32(handle).finish();
}
