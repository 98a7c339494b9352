/**
 * The owner's emergency contact set: a versioned, bounded list of contacts, each an alias the
 * owner chooses and two public keys (X25519 for HPKE, Ed25519 for acknowledgements), signed by the
 * owner as a COSE_Sign1. No phone number or name travels in it: an alias is a short label of
 * `a-z 0-9 space _ -`.
 *
 * A Key accepts a set only if it is signed by the owner it trusts and its version is newer than
 * the set it holds ({@link verifyContactSet}); every refusal is a {@link ProtocolError}
 * `EMERGENCY_CONTACTS_INVALID` whose message starts with `contact set refused: <reason>:`, the
 * reason being one of {@link ContactSetRefusal}.
 *
 * @module
 */

import { bytesEqual, toHex } from '../bytes.ts';
import { decode, encode } from '../cbor/index.ts';
import type { CborValue } from '../cbor/types.ts';
import { decodeSign1, HEADER_CONTENT_TYPE, HEADER_KID, type Sign1, signSign1, verifySign1 } from '../cose/sign1.ts';
import { ed25519PublicKey, isAcceptableEd25519PublicKey } from '../crypto/ed25519.ts';
import { ProtocolError } from '../errors.ts';
import { defineRecord, field, type RecordValue, t } from '../messages/record.ts';

/** Most contacts a set may hold. */
export const MAX_CONTACTS = 8;

/** Largest signed contact set accepted, bytes. */
export const MAX_CONTACT_SET_BYTES = 8 * 1024;

/** What an alias may be: 1 to 32 characters of `a-z 0-9 space _ -` (a label, never a name or number). */
export const CONTACT_ALIAS_PATTERN = /^[a-z0-9 _-]{1,32}$/;

/** How far in the future (ms, by the verifier's clock) a set's `issuedAt` may be. */
export const CONTACT_SET_MAX_CLOCK_SKEW_MS = 10 * 60 * 1000;

/** COSE content type (protected header 3) of a signed contact set. */
export const CONTACT_SET_CONTENT_TYPE = 'application/enigm-emergency-contacts';

/** External AAD of a contact set's signature: binds it to this use. */
export const CONTACT_SET_AAD = new TextEncoder().encode('enigm-emergency-v1/contacts');

/** One emergency contact. */
export const ContactRecord = defineRecord('emergency.contact', {
  alias: field(1, t.text(32), false, 'label the owner chooses: 1-32 of `a-z 0-9 space _ -`, never a name or number'),
  hpkeKey: field(2, t.bytes(32, 32), false, "contact's X25519 public key: events are HPKE-sealed to it"),
  signKey: field(3, t.bytes(32, 32), false, "contact's Ed25519 public key: verifies its acknowledgements"),
});

/** A decoded {@link ContactRecord}. */
export type Contact = RecordValue<typeof ContactRecord.schema>;

/** The versioned contact set (the payload of the owner's COSE_Sign1). */
export const ContactSetRecord = defineRecord('emergency.contact-set', {
  version: field(1, t.uint(Number.MAX_SAFE_INTEGER), false, 'increases with every set the owner issues'),
  issuedAt: field(2, t.uint(Number.MAX_SAFE_INTEGER), false, 'when the owner made it, ms since the Unix epoch'),
  contacts: field(3, t.array(t.record(ContactRecord), MAX_CONTACTS), false, `at most ${MAX_CONTACTS}; index = contact index`),
});

/** A decoded {@link ContactSetRecord}. A contact's index in `contacts` is its contact index. */
export type ContactSet = RecordValue<typeof ContactSetRecord.schema>;

/** Why a contact set was refused (the word after `contact set refused:` in the message). */
export type ContactSetRefusal =
  | 'unsigned'
  | 'malformed'
  | 'oversized'
  | 'too-many-contacts'
  | 'bad-alias'
  | 'bad-key'
  | 'duplicate'
  | 'foreign-signer'
  | 'bad-signature'
  | 'not-newer'
  | 'future';

/** Options of {@link verifyContactSet}. */
export interface VerifyContactSetOptions {
  /** The owner's Ed25519 public key; without it the set's own `kid` is used (trust on first use). */
  trustedSigner?: Uint8Array;
  /** The version held: the set must be strictly newer. */
  newerThan?: number;
  /** The verifier's clock (ms); a set issued more than {@link CONTACT_SET_MAX_CLOCK_SKEW_MS} later is refused. */
  now?: number;
}

/**
 * Builds the refusal error.
 * @internal
 */
function refuse(reason: ContactSetRefusal, detail: string, cause?: unknown): ProtocolError {
  return new ProtocolError(
    'EMERGENCY_CONTACTS_INVALID',
    `contact set refused: ${reason}: ${detail}`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Checks what the record type cannot: aliases, keys, duplicates.
 * @internal
 */
function checkContacts(set: ContactSet): void {
  const aliases = new Set<string>();
  const keys = new Set<string>();
  set.contacts.forEach((c, i) => {
    if (!CONTACT_ALIAS_PATTERN.test(c.alias)) {
      throw refuse('bad-alias', `contact ${i}: an alias is 1-32 characters of a-z 0-9 space _ -`);
    }
    if (!isAcceptableEd25519PublicKey(c.signKey)) {
      throw refuse('bad-key', `contact ${i}: signKey is not an acceptable Ed25519 public key`);
    }
    if (c.hpkeKey.every((b) => b === 0)) throw refuse('bad-key', `contact ${i}: hpkeKey is all zero`);
    if (aliases.has(c.alias)) throw refuse('duplicate', `contact ${i}: alias "${c.alias}" appears twice`);
    aliases.add(c.alias);
    for (const [what, k] of [
      ['hpkeKey', c.hpkeKey],
      ['signKey', c.signKey],
    ] as const) {
      const hex = toHex(k);
      if (keys.has(hex)) throw refuse('duplicate', `contact ${i}: its ${what} is already in the set`);
      keys.add(hex);
    }
  });
}

/**
 * Validates a contact set value (shape, aliases, keys, no duplicates).
 * @throws {@link ProtocolError} `EMERGENCY_CONTACTS_INVALID`
 */
export function checkContactSet(set: ContactSet): void {
  if (Array.isArray(set?.contacts) && set.contacts.length > MAX_CONTACTS) {
    throw refuse('too-many-contacts', `${set.contacts.length} contacts, at most ${MAX_CONTACTS}`);
  }
  let map: CborValue;
  try {
    map = ContactSetRecord.toMap(set);
    ContactSetRecord.fromMap(map);
  } catch (e) {
    throw refuse('malformed', (e as Error).message, e);
  }
  checkContacts(set);
}

/**
 * Signs a contact set as the owner. Validates it first: the owner never signs a set a Key would refuse.
 * @param set - the set; its `version` must exceed the one the Key holds
 * @param ownerSeed - the owner's Ed25519 seed (32 bytes); its public key goes in `kid`
 * @returns the COSE_Sign1 bytes to push to the Key
 * @throws {@link ProtocolError} `EMERGENCY_CONTACTS_INVALID` for an invalid set (or one over
 *   {@link MAX_CONTACT_SET_BYTES} once signed); `CRYPTO_INVALID_KEY` for a bad seed
 */
export function signContactSet(set: ContactSet, ownerSeed: Uint8Array): Uint8Array {
  checkContactSet(set);
  const bytes = signSign1({
    payload: encode(ContactSetRecord.toMap(set)),
    seed: ownerSeed,
    kid: ed25519PublicKey(ownerSeed),
    externalAad: CONTACT_SET_AAD,
    extraProtected: new Map([[HEADER_CONTENT_TYPE, CONTACT_SET_CONTENT_TYPE]]),
  });
  if (bytes.length > MAX_CONTACT_SET_BYTES) {
    throw refuse('oversized', `${bytes.length} bytes signed, at most ${MAX_CONTACT_SET_BYTES}`);
  }
  return bytes;
}

/**
 * Verifies a signed contact set: its size, its signature (by `trustedSigner`, or by its own `kid`
 * when none is given), its content, and that it is newer than `newerThan`.
 * @returns the set and the signer's public key
 * @throws {@link ProtocolError} `EMERGENCY_CONTACTS_INVALID`, message `contact set refused:
 *   <reason>: …` with a {@link ContactSetRefusal} reason; the underlying error as `cause`
 */
export function verifyContactSet(
  bytes: Uint8Array,
  options: VerifyContactSetOptions = {},
): { set: ContactSet; signer: Uint8Array } {
  if (!(bytes instanceof Uint8Array)) throw refuse('malformed', 'expected bytes');
  if (bytes.length > MAX_CONTACT_SET_BYTES) {
    throw refuse('oversized', `${bytes.length} bytes, at most ${MAX_CONTACT_SET_BYTES}`);
  }
  let s: Sign1;
  try {
    s = decodeSign1(bytes, { maxBytes: MAX_CONTACT_SET_BYTES });
  } catch (e) {
    throw refuse('unsigned', 'not a COSE_Sign1', e);
  }
  const kid = s.unprotectedHeaders.get(HEADER_KID);
  if (!(kid instanceof Uint8Array) || kid.length !== 32) throw refuse('unsigned', 'no owner key (kid) in the signature');
  if (s.protectedHeaders.get(HEADER_CONTENT_TYPE) !== CONTACT_SET_CONTENT_TYPE) {
    throw refuse('malformed', `protected content type is not ${CONTACT_SET_CONTENT_TYPE}`);
  }
  const signer = options.trustedSigner ?? kid;
  if (options.trustedSigner !== undefined && !bytesEqual(kid, options.trustedSigner)) {
    throw refuse('foreign-signer', 'signed by another key than the trusted owner');
  }
  try {
    verifySign1(bytes, signer, { externalAad: CONTACT_SET_AAD, maxBytes: MAX_CONTACT_SET_BYTES });
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    if (options.trustedSigner !== undefined) throw refuse('foreign-signer', `not signed by the trusted owner (${code})`, e);
    throw refuse('bad-signature', `the signature does not verify under its kid (${code})`, e);
  }
  if (s.payload === null) throw refuse('malformed', 'detached payload');
  let raw: CborValue;
  try {
    raw = decode(s.payload, { maxBytes: MAX_CONTACT_SET_BYTES });
  } catch (e) {
    throw refuse('malformed', 'payload is not CBOR', e);
  }
  const list = raw instanceof Map ? raw.get(3) : undefined;
  if (Array.isArray(list) && list.length > MAX_CONTACTS) {
    throw refuse('too-many-contacts', `${list.length} contacts, at most ${MAX_CONTACTS}`);
  }
  const r = ContactSetRecord.tryFromMap(raw);
  if (!r.ok) throw refuse('malformed', r.why);
  const set = r.value;
  checkContacts(set);
  if (options.newerThan !== undefined && !(set.version > options.newerThan)) {
    throw refuse('not-newer', `version ${set.version} is not newer than ${options.newerThan}`);
  }
  if (options.now !== undefined && set.issuedAt > options.now + CONTACT_SET_MAX_CLOCK_SKEW_MS) {
    throw refuse('future', `issued at ${set.issuedAt}, after now (${options.now}) plus the allowed skew`);
  }
  return { set, signer: Uint8Array.from(signer) };
}
