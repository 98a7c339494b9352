/**
 * The field rules of audit entries: what an audit record may say, and the refusal of anything that
 * looks like key material, a contact, a location or message content.
 *
 * The rules (also in `docs/audit.md`):
 * - `role`: 1–32 characters, `[a-z][a-z0-9-]*` (e.g. `station`, `ca-operator`, `owner`).
 * - `op`: 1–48 characters, dot- or dash-separated lowercase words (e.g. `key.enroll`, `ca.rotate`).
 * - `handle`: 1–40 characters of `[A-Za-z0-9._:-]`. Forty characters is too short for a 32-byte
 *   public key in hex (64) or base64 (43), so a handle can never carry a public key; a serial
 *   number cannot be told apart by its form — handles come from the privacy-preserving derivation.
 * - `reason`: at most 160 characters of printable text (no control characters), and none of: a PEM
 *   armour line or the words "PRIVATE KEY"; a run of 32 or more hex digits (16+ bytes: a key, a
 *   hash, a secret); a run of 20 or more base64/base64url characters that mixes upper and lower
 *   case, or of 32 or more with at least 4 digits and 4 letters (an encoded key or token — error
 *   codes like `KEY_NOT_PAIRABLE` pass, CamelCase words of 20+ letters do not); an
 *   e-mail address; a phone-like run of 9 or more digits; a pair of decimal coordinates; a URL
 *   with a query. Free text is meant for a short human reason or an error code, not content.
 *
 * @module
 */
import { AttestationError } from '../errors.ts';

/** Longest `role`. */
export const AUDIT_ROLE_MAX = 32;
/** Longest `op`. */
export const AUDIT_OP_MAX = 48;
/** Longest `handle`: shorter than any text encoding of a 32-byte key. */
export const AUDIT_HANDLE_MAX = 40;
/** Longest `reason`. */
export const AUDIT_REASON_MAX = 160;

const ROLE = /^[a-z][a-z0-9-]*$/;
const OP = /^[a-z][a-z0-9]*(?:[.-][a-z0-9]+)*$/;
const HANDLE = /^[A-Za-z0-9._:-]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Patterns a reason must not contain, each with the name shown in the refusal. */
const REASON_REFUSED: readonly (readonly [RegExp, string])[] = [
  [/-----(BEGIN|END)|PRIVATE KEY/i, 'PEM armour or a private key'],
  [/[0-9a-fA-F]{32,}/, '32 or more hex digits (key material or a hash)'],
  [/[A-Za-z0-9+/_=-]{20,}/g, 'a long base64-like token (an encoded key or secret)'],
  [/[^\s@]+@[^\s@]+\.[^\s@]+/, 'an e-mail address (a contact)'],
  [/\+?\d(?:[ ().-]?\d){8,}/, 'a phone-like number (a contact)'],
  [/-?\d{1,3}\.\d{3,}\s*[,;/ ]\s*-?\d{1,3}\.\d{3,}/, 'a pair of coordinates (a location)'],
  [/\bgeo:|\blat(?:itude)?\s*[=:]|\blon(?:gitude)?\s*[=:]/i, 'a location'],
  [/[a-z][a-z0-9+.-]*:\/\/\S*\?/i, 'a URL with a query (may carry content or secrets)'],
];

/**
 * Whether a base64-like token looks encoded rather than a word or an error code: it mixes upper
 * and lower case (random base64 of 16+ bytes almost surely does), or it is 32+ characters with at
 * least 4 digits and 4 letters (base32, long mixed identifiers).
 */
function looksEncoded(token: string): boolean {
  if (/[a-z]/.test(token) && /[A-Z]/.test(token)) return true;
  const digits = token.replace(/[^0-9]/g, '').length;
  const letters = token.replace(/[^A-Za-z]/g, '').length;
  return token.length >= 32 && digits >= 4 && letters >= 4;
}

function refuse(field: string, why: string): never {
  throw new AttestationError('AUDIT_FIELD_REFUSED', `audit ${field}: ${why}`);
}

function checkToken(value: unknown, field: string, max: number, pattern: RegExp, shape: string): string {
  if (typeof value !== 'string') refuse(field, `must be text, got ${value === null ? 'null' : typeof value}`);
  if (value.length === 0 || value.length > max) refuse(field, `must be 1–${max} characters, got ${value.length}`);
  if (!pattern.test(value)) refuse(field, `must be ${shape}`);
  return value;
}

/**
 * Checks an actor role.
 * @throws {@link AttestationError} `AUDIT_FIELD_REFUSED` naming the rule broken
 */
export function checkAuditRole(value: unknown): string {
  return checkToken(value, 'role', AUDIT_ROLE_MAX, ROLE, 'lowercase letters, digits and dashes, starting with a letter');
}

/**
 * Checks an operation name.
 * @throws {@link AttestationError} `AUDIT_FIELD_REFUSED` naming the rule broken
 */
export function checkAuditOp(value: unknown): string {
  return checkToken(value, 'op', AUDIT_OP_MAX, OP, "lowercase words joined by '.' or '-' (e.g. key.enroll)");
}

/**
 * Checks a device handle (at most 40 characters: never long enough to hold a public key).
 * @throws {@link AttestationError} `AUDIT_FIELD_REFUSED` naming the rule broken
 */
export function checkAuditHandle(value: unknown): string {
  return checkToken(value, 'handle', AUDIT_HANDLE_MAX, HANDLE, 'letters, digits and . _ : - only');
}

/**
 * Checks a free-text reason against the rules of the module doc.
 * @returns the reason, unchanged
 * @throws {@link AttestationError} `AUDIT_FIELD_REFUSED` naming what it looked like (never echoing it)
 */
export function checkAuditReason(value: unknown): string {
  if (typeof value !== 'string') refuse('reason', `must be text, got ${value === null ? 'null' : typeof value}`);
  if (value.length > AUDIT_REASON_MAX) refuse('reason', `must be at most ${AUDIT_REASON_MAX} characters, got ${value.length}`);
  if (CONTROL.test(value)) refuse('reason', 'must not contain control characters or line breaks');
  for (const [pattern, what] of REASON_REFUSED) {
    if (pattern.global) {
      for (const m of value.matchAll(pattern)) if (looksEncoded(m[0])) refuse('reason', `looks like ${what}; refused`);
    } else if (pattern.test(value)) {
      refuse('reason', `looks like ${what}; refused`);
    }
  }
  return value;
}
