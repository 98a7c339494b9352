/**
 * A contact's acknowledgement of an emergency event: "I have seen the event up to `seq`", a
 * COSE_Sign1 signed by the contact's Ed25519 `signKey` (from the contact set), with `kid` = that
 * key, content type {@link ACK_CONTENT_TYPE} and external AAD `enigm-emergency-v1` ‖ eventId.
 *
 * @module
 */

import { bytesEqual } from '../bytes.ts';
import { decode, encode } from '../cbor/index.ts';
import { decodeSign1, HEADER_CONTENT_TYPE, HEADER_KID, type Sign1, signSign1, verifySign1 } from '../cose/sign1.ts';
import { ed25519PublicKey } from '../crypto/ed25519.ts';
import { ProtocolError } from '../errors.ts';
import { defineRecord, field, type RecordValue, t } from '../messages/record.ts';
import type { ContactSet } from './contacts.ts';
import { EVENT_ID_LENGTH, emergencyAad } from './event.ts';

/** COSE content type (protected header 3) of an acknowledgement. */
export const ACK_CONTENT_TYPE = 'application/enigm-emergency-ack';

/** Largest signed acknowledgement accepted, bytes. */
export const MAX_ACK_BYTES = 1024;

/** An acknowledgement. */
export const AckRecord = defineRecord('emergency.ack', {
  eventId: field(1, t.bytes(EVENT_ID_LENGTH, EVENT_ID_LENGTH), false, 'the event acknowledged'),
  seq: field(2, t.uint(Number.MAX_SAFE_INTEGER), false, 'highest record seen (0: the start only)'),
  time: field(
    3,
    t.uint(Number.MAX_SAFE_INTEGER),
    false,
    "when the contact acknowledged, ms since the Unix epoch (contact's clock)",
  ),
});

/** A decoded {@link AckRecord}. */
export type Ack = RecordValue<typeof AckRecord.schema>;

function invalid(what: string, cause?: unknown): ProtocolError {
  const why = cause instanceof Error ? `: ${(cause as { code?: string }).code ?? cause.message}` : '';
  return new ProtocolError('EMERGENCY_ACK_INVALID', `ack: ${what}${why}`, cause === undefined ? undefined : { cause });
}

/**
 * Signs an acknowledgement with the contact's Ed25519 seed.
 * @throws {@link ProtocolError} `MESSAGE_INVALID` for an ack that does not fit; `CRYPTO_INVALID_KEY` for a bad seed
 */
export function signAck(ack: Ack, signSeed: Uint8Array): Uint8Array {
  const map = AckRecord.toMap(ack);
  AckRecord.fromMap(map);
  return signSign1({
    payload: encode(map),
    seed: signSeed,
    kid: ed25519PublicKey(signSeed),
    externalAad: emergencyAad(ack.eventId),
    extraProtected: new Map([[HEADER_CONTENT_TYPE, ACK_CONTENT_TYPE]]),
  });
}

/**
 * Verifies an acknowledgement against a contact set: the `kid` must be a contact's `signKey` and
 * the signature must verify under it.
 * @param options.eventId - if given, the ack must be for this event
 * @returns the contact's index in `contactSet` and the ack
 * @throws {@link ProtocolError} `EMERGENCY_ACK_INVALID` (malformed, oversized, unknown signer,
 *   bad signature, another event)
 */
export function verifyAck(
  bytes: Uint8Array,
  contactSet: ContactSet,
  options: { eventId?: Uint8Array } = {},
): { contactIndex: number; ack: Ack } {
  if (!(bytes instanceof Uint8Array)) throw invalid('expected bytes');
  if (bytes.length > MAX_ACK_BYTES) throw invalid(`${bytes.length} bytes exceed ${MAX_ACK_BYTES}`);
  let s: Sign1;
  let ack: Ack;
  try {
    s = decodeSign1(bytes, { maxBytes: MAX_ACK_BYTES });
    if (s.payload === null) throw new ProtocolError('COSE_MALFORMED', 'detached payload');
    ack = AckRecord.fromMap(decode(s.payload, { maxBytes: MAX_ACK_BYTES }));
  } catch (e) {
    throw invalid('not a signed acknowledgement', e);
  }
  if (s.protectedHeaders.get(HEADER_CONTENT_TYPE) !== ACK_CONTENT_TYPE) throw invalid(`content type is not ${ACK_CONTENT_TYPE}`);
  const kid = s.unprotectedHeaders.get(HEADER_KID);
  const contactIndex = kid instanceof Uint8Array ? contactSet.contacts.findIndex((c) => bytesEqual(c.signKey, kid)) : -1;
  if (contactIndex < 0) throw invalid(`not signed by a contact of set version ${contactSet.version}`);
  try {
    verifySign1(bytes, (contactSet.contacts[contactIndex] as ContactSet['contacts'][number]).signKey, {
      externalAad: emergencyAad(ack.eventId),
      maxBytes: MAX_ACK_BYTES,
    });
  } catch (e) {
    throw invalid(`signature of contact ${contactIndex} does not verify`, e);
  }
  if (options.eventId !== undefined && !bytesEqual(options.eventId, ack.eventId)) throw invalid('for another event');
  return { contactIndex, ack };
}
