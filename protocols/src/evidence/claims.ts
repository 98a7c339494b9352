/**
 * The claims set of Key attestation evidence: an EAT (RFC 9711) claims set in CBOR, signed as a
 * COSE_Sign1 by the Key's identity key. Standard claim keys are used where RFC 9711 defines them;
 * Key-specific claims use private-use keys (below −65536, RFC 8392 §9.1).
 *
 * Never in evidence: location, message content, key material other than public keys.
 * @module
 */
import { HOST_ROLES, LIFECYCLE_STATES } from '../messages/constants.ts';
import { defineRecord, field, type RecordValue, t } from '../messages/record.ts';

/** Claim keys. */
export const CLAIM_KEYS = {
  /** eat_nonce (RFC 9711 §4.1). */
  nonce: 10,
  /** ueid: RAND type 0x01 ‖ the 16-byte device handle (never a serial number). */
  ueid: 256,
  /** hwmodel (bstr): the model identifier as UTF-8. */
  hwmodel: 259,
  /** uptime, seconds. */
  uptime: 261,
  /** bootcount. */
  bootcount: 267,
  /** swname. */
  swname: 270,
  /** swversion: [version text]. */
  swversion: 271,
  /** Private: lifecycle state number. */
  lifecycle: -70000,
  /** Private: firmware security counter (anti-rollback). */
  securityCounter: -70001,
  /** Private: role of the host that asked. */
  hostRole: -70002,
  /** Private: firmware measurement, SHA-256 of the running image. */
  firmwareDigest: -70003,
} as const;

/** Unprotected header label carrying the identity public key (also when a chain is present). */
export const HEADER_IDENTITY_KEY = -70010;

/**
 * COSE header `x5chain` (RFC 9360 §2): the Key's certificate chain, leaf first — one DER
 * certificate as a bstr, several as an array of bstr. A provisioned Key puts it in the
 * **protected** header, so its signature covers the chain it presents: nobody on the way can
 * strip it, or swap it for another chain of the same key (an older, a revoked-intermediate one),
 * without breaking the evidence. A verifier still checks the chain to its own roots; the
 * signature only fixes which chain the Key claimed.
 */
export const HEADER_X5CHAIN = 33;

/** The Key evidence claims set. */
export const KeyClaims = defineRecord('key-claims', {
  nonce: field(CLAIM_KEYS.nonce, t.bytes(8, 64), false, 'verifier nonce'),
  ueid: field(CLAIM_KEYS.ueid, t.bytes(17, 17), false, 'RAND UEID: 0x01 ‖ device handle'),
  hwmodel: field(CLAIM_KEYS.hwmodel, t.bytes(1, 64), false, 'model, UTF-8'),
  uptime: field(CLAIM_KEYS.uptime, t.uint(Number.MAX_SAFE_INTEGER), false, 'seconds since boot'),
  bootcount: field(CLAIM_KEYS.bootcount, t.uint(), false, 'boots since manufacture'),
  swname: field(CLAIM_KEYS.swname, t.text(64), false, 'firmware name'),
  swversion: field(CLAIM_KEYS.swversion, t.array(t.text(64), 1), false, '[firmware version]'),
  lifecycle: field(CLAIM_KEYS.lifecycle, t.enumOf('lifecycle state', LIFECYCLE_STATES), false, 'lifecycle state'),
  securityCounter: field(CLAIM_KEYS.securityCounter, t.uint(), false, 'firmware security counter'),
  hostRole: field(CLAIM_KEYS.hostRole, t.enumOf('host role', HOST_ROLES), false, 'role of the asking host'),
  firmwareDigest: field(CLAIM_KEYS.firmwareDigest, t.bytes(32, 32), false, 'SHA-256 of the running firmware image'),
});

/** Decoded Key claims. */
export type KeyClaimsValue = RecordValue<typeof KeyClaims.schema>;

/**
 * The certificate chain of an `x5chain` header value (RFC 9360 §2: one bstr, or an array of at
 * least two bstr), leaf first; `undefined` when the header is absent.
 * @throws TypeError if the value has another shape
 */
export function x5chainOf(value: unknown): Uint8Array[] | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Uint8Array) return [value];
  if (Array.isArray(value) && value.length >= 2 && value.every((c) => c instanceof Uint8Array)) return value as Uint8Array[];
  throw new TypeError('x5chain must be a bstr or an array of two or more bstr (RFC 9360)');
}
