/**
 * The firmware manifest: a typed CBOR record describing one firmware payload, signed as a
 * COSE_Sign1 (RFC 9052, EdDSA/Ed25519) by a firmware-signing key. SUIT-inspired (RFC 9019,
 * draft-ietf-suit-manifest): the manifest travels first, so a Key authenticates the update and
 * applies its policy (model, anti-rollback counter, size) before it accepts a single payload byte.
 *
 * The signed manifest is a tagged (18), deterministically encoded COSE_Sign1 whose
 * - protected bucket is `{1 (alg): -8 (EdDSA), 3 (content type): MANIFEST_CONTENT_TYPE, 4 (kid): kid}`
 *   — kid is protected so every byte of the message is authenticated and its SHA-256
 *   ({@link manifestId}) cannot be changed without breaking the signature;
 * - unprotected bucket is empty;
 * - payload is the deterministic CBOR of the {@link Manifest} record;
 * - kid is {@link manifestKid}: the first 8 bytes of SHA-256 of the signer's public key.
 *
 * Every field of a manifest is untrusted until {@link verifyManifest} returned it.
 *
 * @module
 */
import { decode, encode } from '../cbor/index.ts';
import type { CborValue } from '../cbor/types.ts';
import {
  COSE_ALG_EDDSA,
  decodeSign1,
  HEADER_ALG,
  HEADER_CONTENT_TYPE,
  HEADER_KID,
  type Sign1,
  signSign1,
  sigStructure1,
} from '../cose/index.ts';
import { ed25519PublicKey, ed25519Verify, isAcceptableEd25519PublicKey, sha256 } from '../crypto/index.ts';
import { assertBytes, bytesEqual } from '../crypto/util.ts';
import { ProtocolError } from '../errors.ts';
import { defineRecord, field, type RecordValue, t } from '../messages/record.ts';

/** The firmware manifest record (CBOR map with integer keys 1..7). */
export const Manifest = defineRecord('fw.manifest', {
  model: field(1, t.text(64), false, 'model/class id the image is built for, e.g. enigm-key-1'),
  version: field(2, t.text(32), false, 'semantic version MAJOR.MINOR.PATCH[-pre][+build] (SemVer 2.0.0)'),
  securityCounter: field(3, t.uint(), false, 'monotonic anti-rollback counter; a Key refuses a lower one'),
  payloadSize: field(4, t.uint(), false, 'payload length, bytes'),
  payloadDigest: field(5, t.bytes(32, 32), false, 'SHA-256 of the payload'),
  createdAt: field(6, t.uint(), true, 'build time, unix seconds (informational)'),
  description: field(7, t.text(128), true, 'human description (informational)'),
});

/** A decoded manifest. */
export type ManifestValue = RecordValue<typeof Manifest.schema>;

/** Policy a Key applies to a verified manifest before accepting its payload. */
export interface ManifestPolicy {
  /** The Key's model id; the manifest's must be equal. */
  model: string;
  /** Security counter of the installed firmware; the manifest's may not be lower. */
  installedSecurityCounter: number;
  /** Largest payload the Key's update slot holds, bytes. */
  maxPayloadSize: number;
}

/** Content type (protected header 3) of a signed manifest: binds the signature to this purpose. */
export const MANIFEST_CONTENT_TYPE = 'application/vnd.enigm.fw-manifest+cbor';
/** Length of a manifest kid, bytes. */
export const MANIFEST_KID_LENGTH = 8;
/**
 * Largest signed manifest accepted, bytes. A maximal manifest (every text field at its limit in
 * 3-byte UTF-8) signs to about 1 KiB; anything larger is not a manifest.
 */
export const MAX_SIGNED_MANIFEST_BYTES = 4096;

/** SemVer 2.0.0 (semver.org), anchored; groups: major, minor, patch, pre-release, build. */
export const VERSION_PATTERN =
  /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
/** A model id: ASCII letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const MODEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const KNOWN_PROTECTED = new Set([HEADER_ALG, HEADER_CONTENT_TYPE, HEADER_KID]);

function malformed(message: string, cause?: unknown): ProtocolError {
  return new ProtocolError('FIRMWARE_MALFORMED', message, cause === undefined ? undefined : { cause });
}

/**
 * Whether `version` is a SemVer 2.0.0 version of at most 32 characters.
 * @example
 * isValidVersion('1.2.3-rc.1') === true; isValidVersion('1.02.3') === false
 */
export function isValidVersion(version: string): boolean {
  return typeof version === 'string' && version.length <= 32 && VERSION_PATTERN.test(version);
}

/** Checks the rules the record types cannot express. Returns the reason, or undefined. */
function semanticProblem(m: ManifestValue): string | undefined {
  if (!MODEL_PATTERN.test(m.model)) return `model ${JSON.stringify(m.model)} is not [A-Za-z0-9][A-Za-z0-9._-]*`;
  if (!VERSION_PATTERN.test(m.version)) return `version ${JSON.stringify(m.version)} is not a semantic version`;
  if (m.description !== undefined && CONTROL.test(m.description)) return 'description contains control characters';
  return undefined;
}

/**
 * Checks a manifest value: field types and bounds of {@link Manifest}, a model matching
 * {@link MODEL_PATTERN}, a SemVer version, a description without control characters.
 * @returns the manifest's CBOR encoding (deterministic)
 * @throws {@link ProtocolError} `FIRMWARE_MALFORMED` naming the bad field
 * @example
 * encodeManifest({ model: 'enigm-key-1', version: '1.4.0', securityCounter: 7, payloadSize: 3, payloadDigest: sha256(p) })
 */
export function encodeManifest(manifest: ManifestValue): Uint8Array {
  if (typeof manifest !== 'object' || manifest === null) throw malformed('manifest must be an object');
  let map: CborValue;
  try {
    map = Manifest.toMap(manifest);
  } catch (cause) {
    throw malformed((cause as Error).message, cause);
  }
  const r = Manifest.tryFromMap(map);
  if (!r.ok) throw malformed(r.why);
  const problem = semanticProblem(r.value);
  if (problem !== undefined) throw malformed(`fw.manifest: ${problem}`);
  try {
    return encode(map);
  } catch (cause) {
    throw malformed(`fw.manifest cannot be encoded: ${(cause as Error).message}`, cause);
  }
}

/**
 * Decodes a manifest from its CBOR (strict deterministic decoding) and checks it as
 * {@link encodeManifest} does. Does not authenticate anything.
 * @throws {TypeError} if `bytes` is not a Uint8Array
 * @throws {@link ProtocolError} `FIRMWARE_MALFORMED` (the CBOR error is the `cause`)
 * @example
 * decodeManifest(encodeManifest(m)) // deep-equals m
 */
export function decodeManifest(bytes: Uint8Array): ManifestValue {
  assertBytes(bytes, 'bytes');
  let value: CborValue;
  try {
    value = decode(bytes, { maxBytes: MAX_SIGNED_MANIFEST_BYTES, maxDepth: 2, maxItems: 16 });
  } catch (cause) {
    throw malformed(`manifest is not valid deterministic CBOR: ${(cause as Error).message}`, cause);
  }
  const r = Manifest.tryFromMap(value);
  if (!r.ok) throw malformed(r.why);
  const problem = semanticProblem(r.value);
  if (problem !== undefined) throw malformed(`fw.manifest: ${problem}`);
  return r.value;
}

/**
 * The kid of a firmware-signing key: the first 8 bytes of SHA-256 of its public key.
 * @throws {TypeError} if `publicKey` is not a Uint8Array
 * @example
 * manifestKid(publicKey).length === 8
 */
export function manifestKid(publicKey: Uint8Array): Uint8Array {
  assertBytes(publicKey, 'publicKey');
  return sha256(publicKey).slice(0, MANIFEST_KID_LENGTH);
}

/**
 * Signs a manifest: COSE_Sign1 (EdDSA) over its CBOR, with alg, content type and kid protected
 * (see the module doc). Deterministic: the same manifest and seed give the same bytes.
 * @param seed - the 32-byte Ed25519 seed of the firmware-signing key
 * @returns the signed manifest, tagged COSE_Sign1
 * @throws {TypeError} if `seed` is not a Uint8Array
 * @throws {@link ProtocolError} `FIRMWARE_MALFORMED` if the manifest is invalid (see
 *   {@link encodeManifest}); `CRYPTO_INVALID_KEY` if `seed` is not 32 bytes
 * @example
 * const signed = signManifest({ model: 'enigm-key-1', version: '1.4.0', securityCounter: 7,
 *   payloadSize: payload.length, payloadDigest: sha256(payload) }, seed);
 */
export function signManifest(manifest: ManifestValue, seed: Uint8Array): Uint8Array {
  assertBytes(seed, 'seed');
  const payload = encodeManifest(manifest);
  const kid = manifestKid(ed25519PublicKey(seed));
  return signSign1({
    payload,
    seed,
    extraProtected: new Map<number, CborValue>([
      [HEADER_CONTENT_TYPE, MANIFEST_CONTENT_TYPE],
      [HEADER_KID, kid],
    ]),
  });
}

/** A signed manifest parsed without checking its signature: every field is untrusted. */
export interface ParsedSignedManifest {
  /** The manifest (untrusted). */
  manifest: ManifestValue;
  /** The kid the message names (untrusted), or undefined if it has none. */
  kid: Uint8Array | undefined;
  /** The decoded COSE_Sign1. */
  sign1: Sign1;
}

/**
 * Parses a signed manifest and checks its form, without checking the signature: a tagged,
 * deterministically encoded COSE_Sign1 of at most {@link MAX_SIGNED_MANIFEST_BYTES}; protected
 * bucket holding alg −8, content type {@link MANIFEST_CONTENT_TYPE} and optionally kid, nothing
 * else; empty unprotected bucket; an attached payload that decodes as a {@link Manifest}.
 * @returns the untrusted manifest and kid
 * @throws {TypeError} if `signed` is not a Uint8Array
 * @throws {@link ProtocolError} `FIRMWARE_MALFORMED` (the COSE or CBOR error is the `cause`)
 * @example
 * const { manifest, kid } = parseSignedManifest(signed); // show it, do not trust it
 */
export function parseSignedManifest(signed: Uint8Array): ParsedSignedManifest {
  assertBytes(signed, 'signed');
  if (signed.length > MAX_SIGNED_MANIFEST_BYTES) {
    throw malformed(`signed manifest is ${signed.length} bytes, over the ${MAX_SIGNED_MANIFEST_BYTES}-byte limit`);
  }
  let s: Sign1;
  try {
    s = decodeSign1(signed, { maxBytes: MAX_SIGNED_MANIFEST_BYTES });
  } catch (cause) {
    throw malformed(`signed manifest is not a COSE_Sign1: ${(cause as Error).message}`, cause);
  }
  if (!s.tagged) throw malformed('signed manifest must be a tagged COSE_Sign1 (tag 18)');
  if (s.encoding !== 'deterministic') throw malformed('signed manifest must be deterministically encoded CBOR');
  if (s.unprotectedHeaders.size !== 0) throw malformed('signed manifest must have an empty unprotected header');
  for (const label of s.protectedHeaders.keys()) {
    if (!KNOWN_PROTECTED.has(label as number))
      throw malformed(`signed manifest has unexpected protected header ${String(label)}`);
  }
  const alg = s.protectedHeaders.get(HEADER_ALG);
  if (alg !== COSE_ALG_EDDSA) throw malformed(`signed manifest alg is ${String(alg)}, not EdDSA (-8)`);
  const contentType = s.protectedHeaders.get(HEADER_CONTENT_TYPE);
  if (contentType !== MANIFEST_CONTENT_TYPE) {
    throw malformed(`signed manifest content type is ${JSON.stringify(contentType ?? null)}, not ${MANIFEST_CONTENT_TYPE}`);
  }
  if (s.payload === null) throw malformed('signed manifest has a detached payload');
  const kid = s.protectedHeaders.get(HEADER_KID) as Uint8Array | undefined;
  return { manifest: decodeManifest(s.payload), kid, sign1: s };
}

/**
 * Verifies a signed manifest against trusted firmware-signing keys: form
 * ({@link parseSignedManifest}), then the Ed25519 signature (strict) under the keys whose kid
 * matches first, then under every other trusted key.
 * @param trustedKeys - 32-byte Ed25519 public keys of trusted firmware signers
 * @returns the manifest, now authenticated, and the public key that signed it
 * @throws {TypeError} if `signed` or a key is not a Uint8Array, or `trustedKeys` is not an array
 * @throws {@link ProtocolError} `FIRMWARE_MALFORMED` for a message of the wrong form;
 *   `FIRMWARE_BAD_SIGNATURE` if the kid names a trusted key but no trusted key verifies the
 *   signature (tampering); `FIRMWARE_UNTRUSTED_SIGNER` if no trusted key verifies it and the kid
 *   names none of them (or there are no trusted keys); `CRYPTO_INVALID_KEY` if a trusted key is
 *   not an acceptable Ed25519 public key
 * @example
 * const { manifest, signer } = verifyManifest(signed, [releaseKey]);
 */
export function verifyManifest(
  signed: Uint8Array,
  trustedKeys: readonly Uint8Array[],
): { manifest: ManifestValue; signer: Uint8Array } {
  assertBytes(signed, 'signed');
  if (!Array.isArray(trustedKeys)) throw new TypeError('trustedKeys must be an array of Uint8Array');
  trustedKeys.forEach((k, i) => {
    assertBytes(k, `trustedKeys[${i}]`);
    if (!isAcceptableEd25519PublicKey(k)) {
      throw new ProtocolError('CRYPTO_INVALID_KEY', `trustedKeys[${i}] is not an acceptable Ed25519 public key`);
    }
  });
  const { manifest, kid, sign1 } = parseSignedManifest(signed);
  const byKid = kid === undefined ? [] : trustedKeys.filter((k) => bytesEqual(manifestKid(k), kid));
  const rest = trustedKeys.filter((k) => !byKid.includes(k));
  const tbs = sigStructure1(sign1.protectedBytes, new Uint8Array(0), sign1.payload as Uint8Array);
  for (const key of [...byKid, ...rest]) {
    if (ed25519Verify(key, tbs, sign1.signature)) return { manifest, signer: key };
  }
  if (byKid.length > 0)
    throw new ProtocolError('FIRMWARE_BAD_SIGNATURE', 'manifest signature does not verify under its signer key');
  throw new ProtocolError(
    'FIRMWARE_UNTRUSTED_SIGNER',
    trustedKeys.length === 0
      ? 'no trusted firmware-signing keys were given'
      : 'manifest is not signed by a trusted firmware-signing key',
  );
}

/**
 * Policy checks a Key makes on a verified manifest BEFORE accepting any payload byte, in this
 * order: model, anti-rollback counter, size. An equal security counter is accepted (reinstall).
 * @throws {TypeError} if a policy field has the wrong type
 * @throws {@link ProtocolError} `FIRMWARE_WRONG_MODEL` if the model differs;
 *   `FIRMWARE_DOWNGRADE` if `securityCounter < installedSecurityCounter`; `FIRMWARE_TOO_LARGE`
 *   if `payloadSize > maxPayloadSize`
 * @example
 * checkManifestPolicy(manifest, { model: 'enigm-key-1', installedSecurityCounter: 6, maxPayloadSize: 1 << 20 });
 */
export function checkManifestPolicy(m: ManifestValue, policy: ManifestPolicy): void {
  if (typeof policy?.model !== 'string') throw new TypeError('policy.model must be a string');
  for (const f of ['installedSecurityCounter', 'maxPayloadSize'] as const) {
    if (typeof policy[f] !== 'number' || Number.isNaN(policy[f])) throw new TypeError(`policy.${f} must be a number`);
  }
  if (m.model !== policy.model) {
    throw new ProtocolError(
      'FIRMWARE_WRONG_MODEL',
      `image is for model ${JSON.stringify(m.model)}, this is ${JSON.stringify(policy.model)}`,
    );
  }
  if (m.securityCounter < policy.installedSecurityCounter) {
    throw new ProtocolError(
      'FIRMWARE_DOWNGRADE',
      `image security counter ${m.securityCounter} is below the installed ${policy.installedSecurityCounter}`,
    );
  }
  if (m.payloadSize > policy.maxPayloadSize) {
    throw new ProtocolError(
      'FIRMWARE_TOO_LARGE',
      `payload of ${m.payloadSize} bytes exceeds the ${policy.maxPayloadSize}-byte slot`,
    );
  }
}

/** Compares two numeric identifiers without leading zeros, of any length. */
function compareNumeric(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

const NUMERIC = /^[0-9]+$/;

/**
 * SemVer 2.0.0 precedence (semver.org §11): major, minor, patch numerically; a pre-release ranks
 * below its release; pre-release identifiers compare numerically when numeric, in ASCII order
 * otherwise, numeric below alphanumeric, a longer list above its prefix; build metadata is ignored.
 * @returns negative if `a` < `b`, 0 if of equal precedence, positive if `a` > `b`
 * @throws {RangeError} if `a` or `b` is not a semantic version (see {@link isValidVersion})
 * @example
 * compareVersions('1.0.0-rc.1', '1.0.0') < 0; compareVersions('1.10.0', '1.9.9') > 0
 */
export function compareVersions(a: string, b: string): number {
  const pa = typeof a === 'string' ? VERSION_PATTERN.exec(a) : null;
  if (!pa) throw new RangeError(`a is not a semantic version: ${JSON.stringify(a)}`);
  const pb = typeof b === 'string' ? VERSION_PATTERN.exec(b) : null;
  if (!pb) throw new RangeError(`b is not a semantic version: ${JSON.stringify(b)}`);
  for (let i = 1; i <= 3; i++) {
    const c = compareNumeric(pa[i] as string, pb[i] as string);
    if (c !== 0) return c;
  }
  const preA = pa[4];
  const preB = pb[4];
  if (preA === undefined || preB === undefined) return preA === preB ? 0 : preA === undefined ? 1 : -1;
  const ia = preA.split('.');
  const ib = preB.split('.');
  for (let i = 0; i < Math.min(ia.length, ib.length); i++) {
    const x = ia[i] as string;
    const y = ib[i] as string;
    const nx = NUMERIC.test(x);
    const ny = NUMERIC.test(y);
    const c = nx && ny ? compareNumeric(x, y) : nx ? -1 : ny ? 1 : x < y ? -1 : x > y ? 1 : 0;
    if (c !== 0) return c;
  }
  return Math.sign(ia.length - ib.length);
}

/**
 * The identifier of an update: SHA-256 of the signed manifest bytes. Equal ids mean the same
 * signed manifest (the whole message is authenticated, see the module doc), so a transfer may be
 * resumed under it.
 * @throws {TypeError} if `signed` is not a Uint8Array
 * @example
 * const id = manifestId(signed); // 32 bytes
 */
export function manifestId(signed: Uint8Array): Uint8Array {
  assertBytes(signed, 'signed');
  return sha256(signed);
}
