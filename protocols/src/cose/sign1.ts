/**
 * COSE_Sign1 with EdDSA over Ed25519 (RFC 9052 §4.2, §4.4; RFC 9053 §2.2).
 *
 * ```
 * COSE_Sign1 = [ protected: bstr .cbor header_map / bstr .size 0,
 *                unprotected: header_map, payload: bstr / nil, signature: bstr ]
 * COSE_Sign1_Tagged = #6.18(COSE_Sign1)
 * Sig_structure = [ "Signature1", body_protected: bstr, external_aad: bstr, payload: bstr ]
 * ```
 *
 * Headers are `Map`s from label (integer or text) to CBOR value, exactly as on the wire: no
 * information is lost and unknown labels pass through. The labels this module reads are exported
 * as constants ({@link HEADER_ALG}, {@link HEADER_KID}, …).
 *
 * Producing: the protected header always carries `alg: -8` (EdDSA) and is encoded
 * deterministically; the message is tagged (18) unless `tagged: false`.
 *
 * Consuming, {@link decodeSign1} checks structure only: a 4-element array, optionally under tag
 * 18 (tagged and untagged are both accepted, RFC 9052 §2); protected a bstr that is empty or
 * encodes a map; unprotected a map; payload a bstr or nil; signature a bstr; the RFC 9052 §3.1
 * value types of alg (int/tstr), crit (non-empty array of labels), content type (uint/tstr) and
 * kid (bstr); no label in both buckets. {@link verifySign1} then enforces the policy: `alg` is
 * present, is −8, and sits in the protected bucket (`COSE_UNSUPPORTED_ALG` otherwise); `crit`, if
 * present, is protected and lists only labels we understand; then the Ed25519 signature over the
 * Sig_structure is checked strictly (see `crypto/ed25519.ts`).
 *
 * Interop: the message is first decoded with the strict deterministic decoder. If that fails only
 * for a reason of form (non-shortest head, unsorted keys, indefinite length, an unknown tag), it is
 * decoded again by the bounded lenient decoder of `lenient.ts` — COSE from other implementations
 * need not be deterministic, and the signature covers the protected header as raw bytes anyway.
 * {@link Sign1.encoding} says which path was taken.
 *
 * @module
 */

import type { CborKey, CborMap, CborValue } from '../cbor/index.ts';
import { decode, encode, Tagged } from '../cbor/index.ts';
import { ed25519Sign, ed25519Verify } from '../crypto/ed25519.ts';
import { assertBytes } from '../crypto/util.ts';
import { ProtocolError, type ProtocolErrorCode } from '../errors.ts';
import { decodeLenient } from './lenient.ts';

/** CBOR tag of COSE_Sign1_Tagged (RFC 9052 §2). */
export const COSE_SIGN1_TAG = 18;
/** COSE algorithm identifier of EdDSA (RFC 9053 §2.2). */
export const COSE_ALG_EDDSA = -8;
/** Header label `alg` (RFC 9052 §3.1). */
export const HEADER_ALG = 1;
/** Header label `crit`. */
export const HEADER_CRIT = 2;
/** Header label `content type`. */
export const HEADER_CONTENT_TYPE = 3;
/** Header label `kid`. */
export const HEADER_KID = 4;
/** Header label `IV`. */
export const HEADER_IV = 5;
/** Header label `Partial IV`. */
export const HEADER_PARTIAL_IV = 6;
/** Default bound on a COSE_Sign1 message's size: 16 MiB. */
export const DEFAULT_MAX_SIGN1_BYTES = 16 * 1024 * 1024;

/** Labels every implementation understands (RFC 9052 §3.1), so `crit` need not list them. */
const BASE_LABELS: ReadonlySet<CborKey> = new Set([
  HEADER_ALG,
  HEADER_CRIT,
  HEADER_CONTENT_TYPE,
  HEADER_KID,
  HEADER_IV,
  HEADER_PARTIAL_IV,
]);

/** Codes on which the strict decode is retried leniently: the input is well-formed, only not deterministic. */
const FORM_ONLY: ReadonlySet<ProtocolErrorCode> = new Set([
  'CBOR_NON_CANONICAL',
  'CBOR_UNSORTED_KEYS',
  'CBOR_INDEFINITE_LENGTH',
  'CBOR_UNSUPPORTED_TAG',
]);

const ONLY_SIGN1_TAG: ReadonlySet<number> = new Set([COSE_SIGN1_TAG]);
const EMPTY = new Uint8Array(0);

/** A COSE header bucket: label (integer or text) → value, as on the wire. */
export type CoseHeaderMap = Map<CborKey, CborValue>;

/** A decoded COSE_Sign1. Fields are untrusted until {@link verifySign1} returned this value. */
export interface Sign1 {
  /** The protected bucket, decoded from {@link Sign1.protectedBytes}. */
  protectedHeaders: CoseHeaderMap;
  /** The protected bucket exactly as received: the bytes the signature covers. */
  protectedBytes: Uint8Array;
  /** The unprotected bucket: not covered by the signature. */
  unprotectedHeaders: CoseHeaderMap;
  /** The payload, or `null` if detached. */
  payload: Uint8Array | null;
  /** The signature bytes (64 for EdDSA/Ed25519, checked by {@link verifySign1}). */
  signature: Uint8Array;
  /** Whether the message was wrapped in tag 18. */
  tagged: boolean;
  /** `deterministic` if the strict decoder read it; `lenient` if it needed the interop path. */
  encoding: 'deterministic' | 'lenient';
}

/** Options of {@link signSign1}. Give exactly one of `seed` and `signer`. */
export interface SignSign1Options {
  /** The payload to sign. */
  payload: Uint8Array;
  /** Ed25519 private seed (32 bytes). */
  seed?: Uint8Array;
  /**
   * An external Ed25519 signer (a secure element, an HSM): called once with the Sig_structure
   * bytes, must return their 64-byte Ed25519 signature.
   */
  signer?: (toBeSigned: Uint8Array) => Uint8Array;
  /** Key identifier, placed in the unprotected bucket (label 4), as RFC 9052 examples do. */
  kid?: Uint8Array;
  /** Externally supplied data covered by the signature but not carried (default empty). */
  externalAad?: Uint8Array;
  /** More protected headers; may not set `alg` (1), which is always −8. */
  extraProtected?: Map<CborKey, CborValue>;
  /** Unprotected headers (not covered by the signature); may not set `alg`. */
  unprotected?: Map<CborKey, CborValue>;
  /** Wrap in tag 18 (default `true`). */
  tagged?: boolean;
  /** Leave the payload out of the message (nil); the verifier must supply it (default `false`). */
  detached?: boolean;
}

/** Options of {@link decodeSign1}. */
export interface DecodeSign1Options {
  /** Largest message accepted, bytes (default {@link DEFAULT_MAX_SIGN1_BYTES}). */
  maxBytes?: number;
}

/** Options of {@link verifySign1}. */
export interface VerifySign1Options extends DecodeSign1Options {
  /** The external_aad the signer used (default empty). */
  externalAad?: Uint8Array;
  /** The payload of a detached message (required iff the message's payload is nil). */
  detachedPayload?: Uint8Array;
  /** Labels beyond RFC 9052 §3.1 that this application understands, for `crit`. */
  understoodCritical?: Iterable<CborKey>;
}

function malformed(message: string): ProtocolError {
  return new ProtocolError('COSE_MALFORMED', message);
}

/** Decodes CBOR strictly, or leniently if strict decoding failed for a reason of form only. */
function decodeCbor(bytes: Uint8Array, maxBytes: number): { value: CborValue; lenient: boolean } {
  try {
    return { value: decode(bytes, { allowedTags: ONLY_SIGN1_TAG, maxBytes }), lenient: false };
  } catch (e) {
    if (!(e instanceof ProtocolError) || !FORM_ONLY.has(e.code)) throw e;
    return { value: decodeLenient(bytes, { maxBytes }), lenient: true };
  }
}

function isLabel(v: CborValue): v is CborKey {
  return typeof v === 'string' || typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v));
}

function isUint(v: CborValue): boolean {
  return (typeof v === 'number' && Number.isInteger(v) && v >= 0) || (typeof v === 'bigint' && v >= 0n);
}

/** RFC 9052 §3.1 value types of the common labels, in one bucket. */
function checkHeaderTypes(h: CoseHeaderMap, bucket: string): void {
  const alg = h.get(HEADER_ALG);
  if (alg !== undefined && !isLabel(alg)) throw malformed(`${bucket} alg (1) must be an integer or text`);
  const crit = h.get(HEADER_CRIT);
  if (crit !== undefined && (!Array.isArray(crit) || crit.length === 0 || !crit.every(isLabel))) {
    throw malformed(`${bucket} crit (2) must be a non-empty array of labels`);
  }
  const ct = h.get(HEADER_CONTENT_TYPE);
  if (ct !== undefined && typeof ct !== 'string' && !isUint(ct)) {
    throw malformed(`${bucket} content type (3) must be an unsigned integer or text`);
  }
  const kid = h.get(HEADER_KID);
  if (kid !== undefined && !(kid instanceof Uint8Array)) throw malformed(`${bucket} kid (4) must be a byte string`);
}

/**
 * The Sig_structure of a COSE_Sign1 (RFC 9052 §4.4), deterministically encoded: the bytes that
 * are signed.
 * @throws {TypeError} if an argument is not a Uint8Array
 * @example
 * sigStructure1(protectedBytes, new Uint8Array(0), payload) // 84 6a 'Signature1' …
 */
export function sigStructure1(protectedBytes: Uint8Array, externalAad: Uint8Array, payload: Uint8Array): Uint8Array {
  assertBytes(protectedBytes, 'protectedBytes');
  assertBytes(externalAad, 'externalAad');
  assertBytes(payload, 'payload');
  return encode(['Signature1', protectedBytes, externalAad, payload]);
}

/**
 * Signs `payload` as a COSE_Sign1 with EdDSA (Ed25519). Deterministic: the same inputs give the
 * same bytes.
 * @returns the encoded COSE_Sign1 (tagged 18 unless `tagged: false`)
 * @throws {TypeError} if a byte field is not a Uint8Array, if not exactly one of `seed` and
 *   `signer` is given, or if `signer` does not return 64 bytes
 * @throws {RangeError} if `extraProtected` or `unprotected` sets `alg`, or the two buckets (with
 *   `kid`) share a label
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `seed` is not 32 bytes; `CBOR_*` if a header
 *   value cannot be encoded
 * @example
 * const cose = signSign1({ payload, seed, kid: new TextEncoder().encode('device-1') });
 */
export function signSign1(options: SignSign1Options): Uint8Array {
  const {
    payload,
    seed,
    signer,
    kid,
    externalAad = EMPTY,
    extraProtected,
    unprotected,
    tagged = true,
    detached = false,
  } = options;
  assertBytes(payload, 'payload');
  assertBytes(externalAad, 'externalAad');
  if ((seed === undefined) === (signer === undefined)) throw new TypeError('give exactly one of seed and signer');
  if (kid !== undefined) assertBytes(kid, 'kid');

  const prot: CborMap = new Map([[HEADER_ALG, COSE_ALG_EDDSA]]);
  for (const [k, v] of extraProtected ?? []) {
    if (k === HEADER_ALG) throw new RangeError('extraProtected must not set alg (1): it is always -8 (EdDSA)');
    prot.set(k, v);
  }
  const unprot: CborMap = new Map();
  for (const [k, v] of unprotected ?? []) {
    if (k === HEADER_ALG) throw new RangeError('unprotected must not set alg (1): alg belongs in the protected bucket');
    unprot.set(k, v);
  }
  if (kid !== undefined) {
    if (unprot.has(HEADER_KID)) throw new RangeError('kid is given twice: as kid and in unprotected');
    unprot.set(HEADER_KID, kid);
  }
  for (const k of unprot.keys()) {
    if (prot.has(k)) throw new RangeError(`header label ${String(k)} is in both the protected and the unprotected bucket`);
  }

  const protectedBytes = encode(prot);
  const tbs = sigStructure1(protectedBytes, externalAad, payload);
  let signature: Uint8Array;
  if (seed !== undefined) {
    signature = ed25519Sign(seed, tbs);
  } else {
    signature = (signer as (b: Uint8Array) => Uint8Array)(tbs);
    if (!(signature instanceof Uint8Array) || signature.length !== 64) {
      throw new TypeError('signer must return a 64-byte Ed25519 signature');
    }
  }
  const body: CborValue = [protectedBytes, unprot, detached ? null : payload, signature];
  return encode(tagged ? new Tagged(COSE_SIGN1_TAG, body) : body);
}

/**
 * Parses a COSE_Sign1 (tagged or untagged) and checks its structure (see the module doc); does
 * not verify the signature.
 * @returns the decoded message; every field is untrusted
 * @throws {TypeError} if `bytes` is not a Uint8Array
 * @throws {ProtocolError} `CBOR_*` if the bytes are not well-formed CBOR (or over `maxBytes`);
 *   `COSE_MALFORMED` if the CBOR is not a COSE_Sign1
 * @example
 * const { payload, unprotectedHeaders } = decodeSign1(cose);
 */
export function decodeSign1(bytes: Uint8Array, options: DecodeSign1Options = {}): Sign1 {
  assertBytes(bytes, 'bytes');
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_SIGN1_BYTES;
  const outer = decodeCbor(bytes, maxBytes);
  let lenient = outer.lenient;
  let body = outer.value;
  let tagged = false;
  if (body instanceof Tagged) {
    if (body.tag !== COSE_SIGN1_TAG) throw malformed(`tag ${body.tag} is not COSE_Sign1 (18)`);
    tagged = true;
    body = body.value;
  }
  if (!Array.isArray(body) || body.length !== 4) {
    throw malformed(`COSE_Sign1 must be an array of 4 items${Array.isArray(body) ? `, got ${body.length}` : ''}`);
  }
  const [protectedBytes, unprotectedHeaders, payload, signature] = body as [CborValue, CborValue, CborValue, CborValue];
  if (!(protectedBytes instanceof Uint8Array)) throw malformed('protected header must be a byte string');
  if (!(unprotectedHeaders instanceof Map)) throw malformed('unprotected header must be a map');
  if (payload !== null && !(payload instanceof Uint8Array)) throw malformed('payload must be a byte string or nil');
  if (!(signature instanceof Uint8Array)) throw malformed('signature must be a byte string');

  let protectedHeaders: CoseHeaderMap = new Map();
  if (protectedBytes.length > 0) {
    let inner: { value: CborValue; lenient: boolean };
    try {
      inner = decodeCbor(protectedBytes, maxBytes);
    } catch (cause) {
      throw new ProtocolError('COSE_MALFORMED', `protected header is not well-formed CBOR: ${(cause as Error).message}`, {
        cause,
      });
    }
    if (!(inner.value instanceof Map)) throw malformed('protected header must encode a map');
    protectedHeaders = inner.value;
    lenient ||= inner.lenient;
  }
  checkHeaderTypes(protectedHeaders, 'protected');
  checkHeaderTypes(unprotectedHeaders, 'unprotected');
  for (const k of unprotectedHeaders.keys()) {
    if (protectedHeaders.has(k)) throw malformed(`header label ${String(k)} is in both the protected and the unprotected bucket`);
  }
  return {
    protectedHeaders,
    protectedBytes,
    unprotectedHeaders,
    payload,
    signature,
    tagged,
    encoding: lenient ? 'lenient' : 'deterministic',
  };
}

/**
 * Verifies a COSE_Sign1 signed with EdDSA (Ed25519) under `publicKey`: structure
 * ({@link decodeSign1}), algorithm policy, critical headers, then the signature.
 * @param bytes - the message, tagged or untagged
 * @param publicKey - the signer's 32-byte Ed25519 public key
 * @returns the decoded message, now authenticated (except its unprotected bucket)
 * @throws {TypeError} if a byte argument is not a Uint8Array
 * @throws {ProtocolError} `CBOR_*` / `COSE_MALFORMED` for a malformed message (a detached payload
 *   missing or given twice, a `crit` outside the protected bucket or naming a label not
 *   understood); `COSE_UNSUPPORTED_ALG` if alg is missing from the protected bucket, is in the
 *   unprotected one, or is not −8; `CRYPTO_INVALID_KEY` for a malformed or small-order key;
 *   `CRYPTO_BAD_SIGNATURE` if the signature does not verify
 * @example
 * const { payload } = verifySign1(cose, devicePublicKey, { externalAad: nonce });
 */
export function verifySign1(bytes: Uint8Array, publicKey: Uint8Array, options: VerifySign1Options = {}): Sign1 {
  assertBytes(publicKey, 'publicKey');
  const externalAad = options.externalAad ?? EMPTY;
  assertBytes(externalAad, 'externalAad');
  if (options.detachedPayload !== undefined) assertBytes(options.detachedPayload, 'detachedPayload');
  const s = decodeSign1(bytes, options);

  if (s.unprotectedHeaders.has(HEADER_ALG)) {
    throw new ProtocolError('COSE_UNSUPPORTED_ALG', 'alg (1) is in the unprotected bucket; it must be protected');
  }
  const alg = s.protectedHeaders.get(HEADER_ALG);
  if (alg === undefined) throw new ProtocolError('COSE_UNSUPPORTED_ALG', 'alg (1) is missing from the protected bucket');
  if (alg !== COSE_ALG_EDDSA) {
    throw new ProtocolError('COSE_UNSUPPORTED_ALG', `alg ${String(alg)} is not supported; only EdDSA (-8) is`);
  }

  if (s.unprotectedHeaders.has(HEADER_CRIT)) throw malformed('crit (2) is in the unprotected bucket; it must be protected');
  const crit = s.protectedHeaders.get(HEADER_CRIT) as CborKey[] | undefined;
  if (crit !== undefined) {
    const understood = new Set<CborKey>(options.understoodCritical ?? []);
    for (const label of crit) {
      if (!BASE_LABELS.has(label) && !understood.has(label)) {
        throw malformed(`crit names header label ${String(label)}, which this application does not understand`);
      }
    }
  }

  let payload: Uint8Array;
  if (s.payload === null) {
    if (options.detachedPayload === undefined) throw malformed('the payload is detached (nil) and no detachedPayload was given');
    payload = options.detachedPayload;
  } else {
    if (options.detachedPayload !== undefined) throw malformed('detachedPayload was given but the message carries its payload');
    payload = s.payload;
  }

  const tbs = sigStructure1(s.protectedBytes, externalAad, payload);
  if (!ed25519Verify(publicKey, tbs, s.signature)) {
    throw new ProtocolError('CRYPTO_BAD_SIGNATURE', 'COSE_Sign1 signature does not verify');
  }
  return s;
}
