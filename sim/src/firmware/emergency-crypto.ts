/**
 * What the emergency engine needs from cryptography, behind one small interface
 * ({@link EmergencyCrypto}): verify a contact set, make the signed event start, seal a record to
 * each contact, verify a contact's acknowledgement. The engine never looks inside a record.
 * {@link PROTOCOL_EMERGENCY_CRYPTO} is `@enigm/protocols/emergency` (RFC 9180 HPKE envelopes per
 * contact, COSE_Sign1 by the identity key or the per-event Ed25519 key); tests may inject another.
 * @module
 */
import {
  type ContactSet,
  createEventStart,
  type EmergencySigner,
  type SealEventRecordInput,
  sealEventRecord,
  type VerifyContactSetOptions,
  verifyAck,
  verifyContactSet,
} from '@enigm/protocols/emergency';

export type { Contact, ContactSet } from '@enigm/protocols/emergency';

/** The cryptography of emergency events. Sealing is asynchronous (HPKE over WebCrypto-style APIs). */
export interface EmergencyCrypto {
  /**
   * A signed contact set, verified.
   * @throws ProtocolError `EMERGENCY_CONTACTS_INVALID` whose message is `contact set refused: <reason>: …`
   */
  verifyContactSet(bytes: Uint8Array, options: VerifyContactSetOptions): { set: ContactSet; signer: Uint8Array };
  /** A fresh event (id and Ed25519 event key from `random`) and its start, signed by the identity key. */
  startEvent(
    input: { contactSetVersion: number; time: number; reason?: string },
    identity: EmergencySigner,
    random: (n: number) => Uint8Array,
  ): { bytes: Uint8Array; eventId: Uint8Array; eventSeed: Uint8Array };
  /** A record sealed to every contact of `set` (none: a record without envelopes), signed by `by`. */
  seal(input: SealEventRecordInput, set: ContactSet, by: EmergencySigner): Promise<Uint8Array>;
  /**
   * The index in `set` of the contact who signed this acknowledgement of `eventId`.
   * @throws ProtocolError `EMERGENCY_ACK_INVALID`
   */
  verifyAck(bytes: Uint8Array, set: ContactSet, eventId: Uint8Array): number;
}

/** `@enigm/protocols/emergency`. */
export const PROTOCOL_EMERGENCY_CRYPTO: EmergencyCrypto = {
  verifyContactSet: (bytes, options) => verifyContactSet(bytes, options),
  startEvent(input, identity, random) {
    const r = createEventStart(input, identity, random);
    return { bytes: r.bytes, eventId: r.start.eventId, eventSeed: r.eventSeed };
  },
  seal: (input, set, by) => sealEventRecord(input, set, by),
  verifyAck: (bytes, set, eventId) => verifyAck(bytes, set, { eventId }).contactIndex,
};

/** The reason word of a contact-set refusal (`contact set refused: <reason>: …`), or `undefined`. */
export function contactSetRefusal(e: unknown): string | undefined {
  const m = e instanceof Error ? /^contact set refused: ([a-z-]+):/.exec(e.message) : null;
  return m?.[1];
}

/** The empty contact set: records of an event without contacts carry no envelope. */
export const NO_CONTACTS: ContactSet = { version: 0, issuedAt: 0, contacts: [] };
