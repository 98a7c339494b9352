/**
 * Images in slots: the injected manifest verifier, the slot header, and checking what a slot
 * holds.
 *
 * A slot's page 0 is its header:
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | magic `EKSL` (0x45 0x4b 0x53 0x4c) |
 * | 4 | 4 | signed manifest length `n`, big-endian |
 * | 8 | n | the signed manifest, as received |
 *
 * and the payload starts at page 1. A header is written once, after erasing page 0; every field
 * is untrusted until the manifest verifies again.
 *
 * @module
 */
import { bytesEqual } from '@enigm/protocols/bytes';
import { type Flash, FlashError } from './flash.ts';
import { type FlashLayout, maxPayloadSize, type Region } from './layout.ts';

/** Manifest fields the update model uses (what a verified manifest says). */
export interface ManifestFields {
  /** Model/class id the image is built for. */
  model: string;
  /** Semantic version. */
  version: string;
  /** Anti-rollback counter. */
  securityCounter: number;
  /** Payload length, bytes. */
  payloadSize: number;
  /** SHA-256 of the payload. */
  payloadDigest: Uint8Array;
}

/**
 * Manifest verification and hashing, injected (at integration: `verifyManifest` from
 * `protocols/src/firmware/manifest.ts` bound to the trusted keys, `sha256` from
 * `protocols/src/crypto/index.ts`).
 */
export interface ImageVerifier {
  /**
   * Verifies a signed manifest (signature + trusted signer); returns its fields or throws (any
   * Error, ideally with a `code`; {@link manifestInfo} wraps it as `FIRMWARE_UNVERIFIED`).
   */
  verifyManifest(signedManifest: Uint8Array): ManifestFields;
  /** SHA-256 of the concatenation of `parts`. */
  sha256(...parts: Uint8Array[]): Uint8Array;
}

/** A verified image: its manifest fields and `manifestId` = SHA-256 of the signed manifest. */
export interface ImageInfo extends ManifestFields {
  /** SHA-256 of the signed manifest bytes (the update's identity). */
  manifestId: Uint8Array;
}

/** Slot header magic, `EKSL`. */
export const SLOT_MAGIC = 0x454b534c;
/** Bytes before the manifest in a slot header. */
export const SLOT_HEADER_FIXED = 8;

/** Largest signed manifest a slot header holds. */
export function maxManifestSize(layout: FlashLayout): number {
  return layout.pageSize - SLOT_HEADER_FIXED;
}

/**
 * The slot header bytes for `signedManifest` (not padded to a page).
 * @throws {@link FlashError} `FIRMWARE_TOO_LARGE` if the manifest does not fit the header page
 */
export function encodeSlotHeader(layout: FlashLayout, signedManifest: Uint8Array): Uint8Array {
  if (signedManifest.length > maxManifestSize(layout))
    throw new FlashError(
      'FIRMWARE_TOO_LARGE',
      `signed manifest of ${signedManifest.length} bytes exceeds the ${maxManifestSize(layout)}-byte slot header`,
    );
  const out = new Uint8Array(SLOT_HEADER_FIXED + signedManifest.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, SLOT_MAGIC);
  dv.setUint32(4, signedManifest.length);
  out.set(signedManifest, SLOT_HEADER_FIXED);
  return out;
}

/** The signed manifest in the header of `slot`, or `undefined` if the header is not well formed. */
export function readSlotManifest(flash: Flash, layout: FlashLayout, slot: Region): Uint8Array | undefined {
  const fixed = new DataView(flash.read(slot.start, SLOT_HEADER_FIXED).buffer);
  if (fixed.getUint32(0) !== SLOT_MAGIC) return undefined;
  const n = fixed.getUint32(4);
  if (n > maxManifestSize(layout)) return undefined;
  return flash.read(slot.start + SLOT_HEADER_FIXED, n);
}

/**
 * Verifies `signedManifest` and checks the fields the slot format depends on.
 * @throws {@link FlashError} `FIRMWARE_UNVERIFIED` if the verifier refuses it (message
 *   `<verifier code>: <reason>`, `cause` the verifier's error); `FIRMWARE_MALFORMED` if the size
 *   or digest fields are unusable
 */
export function manifestInfo(verifier: ImageVerifier, signedManifest: Uint8Array): ImageInfo {
  let m: ManifestFields;
  try {
    m = verifier.verifyManifest(signedManifest);
  } catch (e) {
    throw new FlashError('FIRMWARE_UNVERIFIED', `${codeOf(e)}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (!Number.isSafeInteger(m.payloadSize) || m.payloadSize < 0)
    throw new FlashError('FIRMWARE_MALFORMED', `manifest payloadSize ${m.payloadSize} is not a byte count`);
  if (!Number.isSafeInteger(m.securityCounter) || m.securityCounter < 0)
    throw new FlashError('FIRMWARE_MALFORMED', `manifest securityCounter ${m.securityCounter} is not a counter`);
  if (!(m.payloadDigest instanceof Uint8Array) || m.payloadDigest.length !== 32)
    throw new FlashError('FIRMWARE_MALFORMED', 'manifest payloadDigest is not 32 bytes');
  return {
    model: m.model,
    version: m.version,
    securityCounter: m.securityCounter,
    payloadSize: m.payloadSize,
    payloadDigest: m.payloadDigest,
    manifestId: verifier.sha256(signedManifest),
  };
}

/** Outcome of {@link inspectSlot}. */
export type SlotCheck = { ok: true; info: ImageInfo; signedManifest: Uint8Array } | { ok: false; reason: string };

/**
 * What `slot` holds: a valid image (header well formed, manifest verifies, payload fits the slot
 * and — when `digest` is set — the payload's SHA-256 matches), or why not. Never throws for bad
 * content.
 */
export function inspectSlot(
  flash: Flash,
  layout: FlashLayout,
  slot: Region,
  verifier: ImageVerifier,
  digest: boolean,
): SlotCheck {
  const signed = readSlotManifest(flash, layout, slot);
  if (signed === undefined) return { ok: false, reason: 'no slot header' };
  let info: ImageInfo;
  try {
    info = manifestInfo(verifier, signed);
  } catch (e) {
    return { ok: false, reason: `manifest refused (${codeOf(e)})` };
  }
  if (info.payloadSize > maxPayloadSize(layout)) return { ok: false, reason: 'payload larger than the slot' };
  if (digest) {
    const payload = flash.read(slot.start + layout.pageSize, info.payloadSize);
    if (!bytesEqual(verifier.sha256(payload), info.payloadDigest)) return { ok: false, reason: 'payload digest mismatch' };
  }
  return { ok: true, info, signedManifest: signed };
}

/** The `code` of an error, or its message. */
export function codeOf(e: unknown): string {
  if (e !== null && typeof e === 'object' && 'code' in e && typeof e.code === 'string') return e.code;
  return e instanceof Error ? e.message : String(e);
}

export { bytesEqual };
