/**
 * The signed firmware image file: a fixed header, the signed manifest, then the payload.
 *
 * ```
 * offset  size  field
 * 0       4     magic 'EKFW' (45 4b 46 57)
 * 4       1     format version (1)
 * 5       4     manifest length N, unsigned big-endian, 1..MAX_SIGNED_MANIFEST_BYTES
 * 9       N     signed manifest (COSE_Sign1, see manifest.ts)
 * 9+N     …     payload: exactly manifest.payloadSize bytes, SHA-256 = manifest.payloadDigest
 * ```
 *
 * Manifest first: a Key reads 9 + N bytes, verifies the signature and applies its policy, and only
 * then accepts payload bytes, hashing them as they stream in. {@link verifyImage} does the same
 * checks in the same order on a whole file. Parsing never allocates from a length field: the
 * manifest length is bounded before it is used.
 *
 * @module
 */
import { sha256 } from '../crypto/index.ts';
import { assertBytes, bytesEqual } from '../crypto/util.ts';
import { ProtocolError } from '../errors.ts';
import {
  checkManifestPolicy,
  MAX_SIGNED_MANIFEST_BYTES,
  type ManifestPolicy,
  type ManifestValue,
  manifestId,
  parseSignedManifest,
  verifyManifest,
} from './manifest.ts';

/** Magic bytes at the start of every image: ASCII `EKFW`. */
export const IMAGE_MAGIC: Uint8Array = Uint8Array.of(0x45, 0x4b, 0x46, 0x57);
/** The image format version this code reads and writes. */
export const IMAGE_FORMAT_VERSION = 1;
/** Length of the fixed header: magic, format version, manifest length. */
export const IMAGE_HEADER_LENGTH = 9;

function malformed(message: string): ProtocolError {
  return new ProtocolError('FIRMWARE_MALFORMED', message);
}

/** The framing of an image, split without interpreting the manifest. */
export interface ImageParts {
  /** The signed manifest bytes (a view into the image, not a copy). */
  signedManifest: Uint8Array;
  /** The payload bytes (a view into the image, not a copy). */
  payload: Uint8Array;
}

/**
 * Splits an image into its signed manifest and payload, checking only the header: magic, format
 * version, and a manifest length in [1, {@link MAX_SIGNED_MANIFEST_BYTES}] that fits in the file.
 * @returns views into `image` (no copies)
 * @throws {TypeError} if `image` is not a Uint8Array
 * @throws {@link ProtocolError} `FIRMWARE_MALFORMED`
 * @example
 * const { signedManifest, payload } = splitImage(image);
 */
export function splitImage(image: Uint8Array): ImageParts {
  assertBytes(image, 'image');
  if (image.length < IMAGE_HEADER_LENGTH) throw malformed(`image is ${image.length} bytes, shorter than its 9-byte header`);
  for (let i = 0; i < IMAGE_MAGIC.length; i++) {
    if (image[i] !== IMAGE_MAGIC[i]) throw malformed("image does not start with the magic 'EKFW'");
  }
  if (image[4] !== IMAGE_FORMAT_VERSION)
    throw malformed(`image format version ${image[4]} is not supported (only ${IMAGE_FORMAT_VERSION})`);
  const n = new DataView(image.buffer, image.byteOffset + 5, 4).getUint32(0, false);
  if (n === 0 || n > MAX_SIGNED_MANIFEST_BYTES) {
    throw malformed(`manifest length ${n} is outside [1, ${MAX_SIGNED_MANIFEST_BYTES}]`);
  }
  if (n > image.length - IMAGE_HEADER_LENGTH) {
    throw malformed(
      `manifest length ${n} exceeds the ${image.length - IMAGE_HEADER_LENGTH} bytes after the header (truncated image)`,
    );
  }
  return {
    signedManifest: image.subarray(IMAGE_HEADER_LENGTH, IMAGE_HEADER_LENGTH + n),
    payload: image.subarray(IMAGE_HEADER_LENGTH + n),
  };
}

/**
 * Checks that `payload` is the one `manifest` describes: its length, then its SHA-256.
 * @throws {@link ProtocolError} `FIRMWARE_DIGEST_MISMATCH`
 * @example
 * checkPayload(manifest, payload);
 */
export function checkPayload(manifest: ManifestValue, payload: Uint8Array): void {
  assertBytes(payload, 'payload');
  if (payload.length !== manifest.payloadSize) {
    throw new ProtocolError(
      'FIRMWARE_DIGEST_MISMATCH',
      `payload is ${payload.length} bytes, the manifest says ${manifest.payloadSize}`,
    );
  }
  if (!bytesEqual(sha256(payload), manifest.payloadDigest)) {
    throw new ProtocolError('FIRMWARE_DIGEST_MISMATCH', 'payload SHA-256 differs from the manifest');
  }
}

/**
 * Builds an image from a signed manifest and the payload it describes. Refuses to build an image
 * {@link parseImage} would reject.
 * @returns a fresh array: header ‖ signedManifest ‖ payload
 * @throws {TypeError} if an argument is not a Uint8Array
 * @throws {@link ProtocolError} `FIRMWARE_MALFORMED` if `signedManifest` is not a well-formed
 *   signed manifest; `FIRMWARE_DIGEST_MISMATCH` if `payload` is not the one it describes
 * @example
 * writeFileSync('fw.ekfw', buildImage(signManifest(manifest, seed), payload));
 */
export function buildImage(signedManifest: Uint8Array, payload: Uint8Array): Uint8Array {
  assertBytes(signedManifest, 'signedManifest');
  assertBytes(payload, 'payload');
  const { manifest } = parseSignedManifest(signedManifest);
  checkPayload(manifest, payload);
  const out = new Uint8Array(IMAGE_HEADER_LENGTH + signedManifest.length + payload.length);
  out.set(IMAGE_MAGIC, 0);
  out[4] = IMAGE_FORMAT_VERSION;
  new DataView(out.buffer, out.byteOffset + 5, 4).setUint32(0, signedManifest.length, false);
  out.set(signedManifest, IMAGE_HEADER_LENGTH);
  out.set(payload, IMAGE_HEADER_LENGTH + signedManifest.length);
  return out;
}

/**
 * Strict structural parse of an image, WITHOUT checking the signature: header
 * ({@link splitImage}), the signed manifest's form ({@link parseSignedManifest}), and the payload
 * against the (unverified) manifest ({@link checkPayload}). Everything returned is untrusted;
 * use {@link verifyImage} to accept an image.
 * @returns views into `image` and the untrusted manifest
 * @throws {TypeError} if `image` is not a Uint8Array
 * @throws {@link ProtocolError} `FIRMWARE_MALFORMED` for bad magic, version, lengths or manifest;
 *   `FIRMWARE_DIGEST_MISMATCH` if the payload's length or SHA-256 differs from the manifest
 * @example
 * const { manifest } = parseImage(image); // e.g. to display it
 */
export function parseImage(image: Uint8Array): { signedManifest: Uint8Array; manifest: ManifestValue; payload: Uint8Array } {
  const { signedManifest, payload } = splitImage(image);
  const { manifest } = parseSignedManifest(signedManifest);
  checkPayload(manifest, payload);
  return { signedManifest, manifest, payload };
}

/**
 * Verifies an image the way a Key does, in this order: header ({@link splitImage}); the signed
 * manifest against `trustedKeys` ({@link verifyManifest}); the policy, if given
 * ({@link checkManifestPolicy}); then the payload's length and SHA-256 ({@link checkPayload}).
 * @returns the authenticated manifest, the signer's public key, and views into `image`
 * @throws {TypeError} if an argument has the wrong type
 * @throws {@link ProtocolError} `FIRMWARE_MALFORMED`, `FIRMWARE_UNTRUSTED_SIGNER`,
 *   `FIRMWARE_BAD_SIGNATURE`, `FIRMWARE_WRONG_MODEL`, `FIRMWARE_DOWNGRADE`, `FIRMWARE_TOO_LARGE`,
 *   `FIRMWARE_DIGEST_MISMATCH`; `CRYPTO_INVALID_KEY` for an unacceptable trusted key
 * @example
 * const { manifest, payload } = verifyImage(image, [releaseKey],
 *   { model: 'enigm-key-1', installedSecurityCounter: 6, maxPayloadSize: 1 << 20 });
 */
export function verifyImage(
  image: Uint8Array,
  trustedKeys: readonly Uint8Array[],
  policy?: ManifestPolicy,
): { manifest: ManifestValue; signer: Uint8Array; payload: Uint8Array; signedManifest: Uint8Array } {
  const { signedManifest, payload } = splitImage(image);
  const { manifest, signer } = verifyManifest(signedManifest, trustedKeys);
  if (policy !== undefined) checkManifestPolicy(manifest, policy);
  checkPayload(manifest, payload);
  return { manifest, signer, payload, signedManifest };
}

/** What {@link inspectImage} found. Fields are absent when the image ended before them. */
export interface ImageReport {
  /** Image length, bytes. */
  size: number;
  /** Signed manifest length, bytes (header field), when the header is valid. */
  manifestLength?: number;
  /** Payload length, bytes, when the header is valid. */
  payloadLength?: number;
  /** The manifest; authenticated only if `signature.valid`. */
  manifest?: ManifestValue;
  /** {@link manifestId} of the signed manifest. */
  manifestId?: Uint8Array;
  /** The kid in the signed manifest (untrusted unless `signature.valid`). */
  kid?: Uint8Array;
  /** Whether the payload's length and SHA-256 match the manifest. */
  payloadMatches?: boolean;
  /** Signature verdict: `checked: false` when no keys were given. */
  signature: { checked: false } | { checked: true; valid: boolean; signer?: Uint8Array };
  /** The first problem found (absent when every check made passed). */
  error?: { code: string; message: string };
}

/**
 * Reports what an image holds and which checks pass, never throwing on bad data: header,
 * manifest (untrusted), payload digest, and — if `trustedKeys` is given — the signature and
 * `policy`, exactly as {@link verifyImage} checks them.
 * @throws {TypeError} if an argument has the wrong type
 * @example
 * const r = inspectImage(image); // r.signature.checked === false
 */
export function inspectImage(image: Uint8Array, trustedKeys?: readonly Uint8Array[], policy?: ManifestPolicy): ImageReport {
  assertBytes(image, 'image');
  const report: ImageReport = { size: image.length, signature: { checked: false } };
  const fail = (e: unknown): ImageReport => {
    if (!(e instanceof ProtocolError)) throw e;
    report.error ??= { code: e.code, message: e.message };
    return report;
  };
  let parts: ImageParts;
  try {
    parts = splitImage(image);
  } catch (e) {
    return fail(e);
  }
  report.manifestLength = parts.signedManifest.length;
  report.payloadLength = parts.payload.length;
  report.manifestId = manifestId(parts.signedManifest);
  try {
    const parsed = parseSignedManifest(parts.signedManifest);
    report.manifest = parsed.manifest;
    if (parsed.kid !== undefined) report.kid = parsed.kid;
  } catch (e) {
    return fail(e);
  }
  let digestError: ProtocolError | undefined;
  try {
    checkPayload(report.manifest, parts.payload);
    report.payloadMatches = true;
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    report.payloadMatches = false;
    digestError = e;
  }
  if (trustedKeys !== undefined) {
    // verifyImage's order: signature, policy, then payload.
    try {
      const { signer } = verifyManifest(parts.signedManifest, trustedKeys);
      report.signature = { checked: true, valid: true, signer };
      if (policy !== undefined) checkManifestPolicy(report.manifest, policy);
    } catch (e) {
      if (!report.signature.checked) report.signature = { checked: true, valid: false };
      return fail(e);
    }
  }
  if (digestError !== undefined) return fail(digestError);
  return report;
}
