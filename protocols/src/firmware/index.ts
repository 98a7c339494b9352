/**
 * Signed firmware images (docs/firmware.md): a COSE_Sign1-signed manifest (`manifest.ts`) followed
 * by the payload it describes, in the `EKFW` image file (`image.ts`). Pure functions: parse,
 * verify, apply policy; no device access.
 *
 * @module
 */

export type { ImageParts, ImageReport } from './image.ts';
export {
  buildImage,
  checkPayload,
  IMAGE_FORMAT_VERSION,
  IMAGE_HEADER_LENGTH,
  IMAGE_MAGIC,
  inspectImage,
  parseImage,
  splitImage,
  verifyImage,
} from './image.ts';
export type { ManifestPolicy, ManifestValue, ParsedSignedManifest } from './manifest.ts';
export {
  checkManifestPolicy,
  compareVersions,
  decodeManifest,
  encodeManifest,
  isValidVersion,
  MANIFEST_CONTENT_TYPE,
  MANIFEST_KID_LENGTH,
  MAX_SIGNED_MANIFEST_BYTES,
  Manifest,
  MODEL_PATTERN,
  manifestId,
  manifestKid,
  parseSignedManifest,
  signManifest,
  VERSION_PATTERN,
  verifyManifest,
} from './manifest.ts';
