/**
 * Emergency event records.
 *
 * An event opens with an {@link EventStart} signed by the Key's identity key: a random 16-byte
 * `eventId`, a fresh Ed25519 `eventKey` made for this event only, and the version of the contact
 * set in force. Then come {@link EventRecord}s, `seq` 1, 2, 3…: a clear header (eventId, seq, kind,
 * time, contactSetVersion) and one HPKE envelope per contact holding the body (a {@link Location},
 * an {@link EventStatus}, or an {@link EventEnd}), each sealed with
 * info = `enigm-emergency-v1` ‖ eventId and aad = the encoded header plus the contact's index, so a
 * changed header or an envelope moved to another contact or record fails to open. The whole
 * record is a COSE_Sign1 signed by the event key — except the last one, of kind `end`, which is
 * signed by the identity key (the event key is erased when the event ends, and only the Key itself
 * may end an event).
 *
 * Every COSE_Sign1 here has the external AAD `enigm-emergency-v1` ‖ eventId and a protected content
 * type naming what it is ({@link EVENT_START_CONTENT_TYPE}, {@link EVENT_RECORD_CONTENT_TYPE}), so
 * one kind of message can never be taken for another or moved to another event.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { concatBytes } from '../bytes.ts';
import { decode, encode } from '../cbor/index.ts';
import type { CborValue } from '../cbor/types.ts';
import { decodeSign1, HEADER_CONTENT_TYPE, type Sign1, signSign1, verifySign1 } from '../cose/sign1.ts';
import { ed25519Generate } from '../crypto/ed25519.ts';
import { ProtocolError, type ProtocolErrorCode } from '../errors.ts';
import { defineRecord, field, type RecordValue, t } from '../messages/record.ts';
import { type EventEnd, EventEndRecord, type EventStatus, EventStatusRecord, type Location, LocationRecord } from './bodies.ts';
import { type ContactSet, MAX_CONTACTS } from './contacts.ts';
import { hpkeOpen, hpkeSeal } from './hpke.ts';

/** The context string of every emergency message: HPKE info prefix and signature AAD prefix. */
export const EMERGENCY_CONTEXT = 'enigm-emergency-v1';

/** Length of an event id, bytes. */
export const EVENT_ID_LENGTH = 16;

/** Largest signed event start or record accepted, bytes. */
export const MAX_EVENT_RECORD_BYTES = 16 * 1024;

/** Largest sealed body (plaintext + 16-byte tag) of one envelope, bytes. */
export const MAX_EVENT_BODY_BYTES = 512;

/** COSE content type (protected header 3) of an event start. */
export const EVENT_START_CONTENT_TYPE = 'application/enigm-emergency-start';

/** COSE content type (protected header 3) of an event record. */
export const EVENT_RECORD_CONTENT_TYPE = 'application/enigm-emergency-record';

/** Kinds of event record, with their wire numbers. */
export const EVENT_KINDS = { location: 0, status: 1, 'battery-critical': 2, end: 3 } as const;

/** A kind of event record. */
export type EventKind = keyof typeof EVENT_KINDS;

/** The signer of a message: an Ed25519 seed, or an external signer (a secure element). */
export type EmergencySigner = { seed: Uint8Array } | { signer: (toBeSigned: Uint8Array) => Uint8Array };

const te = new TextEncoder();
const CONTEXT_BYTES = te.encode(EMERGENCY_CONTEXT);
const U = Number.MAX_SAFE_INTEGER;

/** The event start, signed by the Key's identity key. */
export const EventStartRecord = defineRecord('emergency.start', {
  eventId: field(1, t.bytes(EVENT_ID_LENGTH, EVENT_ID_LENGTH), false, 'random id of the event'),
  eventKey: field(2, t.bytes(32, 32), false, 'Ed25519 public key made for this event; signs its records'),
  contactSetVersion: field(3, t.uint(U), false, 'version of the contact set the records are sealed to'),
  time: field(4, t.uint(U), false, 'when the event started, ms since the Unix epoch (Key clock)'),
  reason: field(5, t.text(64), true, 'what started it, e.g. `gesture`, `fall`'),
});

/** A decoded {@link EventStartRecord}. */
export type EventStart = RecordValue<typeof EventStartRecord.schema>;

/** One contact's envelope in a record. */
export const EnvelopeRecord = defineRecord('emergency.envelope', {
  contact: field(1, t.uint(MAX_CONTACTS - 1), false, 'contact index in the contact set'),
  enc: field(2, t.bytes(32, 32), false, 'HPKE encapsulated key'),
  ct: field(3, t.bytes(16, MAX_EVENT_BODY_BYTES), false, 'HPKE ciphertext of the body'),
});

/** A decoded {@link EnvelopeRecord}. */
export type Envelope = RecordValue<typeof EnvelopeRecord.schema>;

const headerFields = {
  eventId: field(1, t.bytes(EVENT_ID_LENGTH, EVENT_ID_LENGTH), false, 'the event (from its start)'),
  seq: field(2, t.uint(U), false, 'sequence number from 1, per event: a gap means a lost record'),
  kind: field(3, t.enumOf('kind', EVENT_KINDS), false, 'what the sealed body is'),
  time: field(4, t.uint(U), false, 'when the record was made, ms since the Unix epoch (Key clock)'),
  contactSetVersion: field(5, t.uint(U), false, 'the contact set the envelopes are sealed to'),
};

/** An event record: the clear header and the envelopes (the payload the event key signs). */
export const EmergencyRecord = defineRecord('emergency.record', {
  ...headerFields,
  envelopes: field(6, t.array(t.record(EnvelopeRecord), MAX_CONTACTS), false, 'one per contact, by index'),
});

/** A decoded {@link EmergencyRecord}. */
export type EventRecord = RecordValue<typeof EmergencyRecord.schema>;

/** The clear header of a record (everything but the envelopes). */
export type EventHeader = Omit<EventRecord, 'envelopes'>;

/** What an envelope's HPKE aad encodes: the header and the contact's index. */
export const EnvelopeAadRecord = defineRecord('emergency.envelope-aad', {
  ...headerFields,
  contact: field(6, t.uint(MAX_CONTACTS - 1), false, 'the contact the envelope is for'),
});

/** A record's decrypted body, by kind. */
export type EventBody =
  | { kind: 'location'; location: Location }
  | { kind: 'status'; status: EventStatus }
  | { kind: 'battery-critical'; status: EventStatus }
  | { kind: 'end'; end: EventEnd };

/** Input of {@link sealEventRecord}; the kind is the body's. */
export interface SealEventRecordInput {
  /** The event's id (from its start). */
  eventId: Uint8Array;
  /** Sequence number, from 1. */
  seq: number;
  /** When the record is made, ms since the Unix epoch. */
  time: number;
  /** The body to seal to every contact. */
  body: EventBody;
}

/** Options of {@link openEventRecord}. */
export interface OpenEventRecordOptions {
  /** The event key, from the verified {@link EventStart}. */
  eventKey: Uint8Array;
  /** The Key's identity public key: needed for a record of kind `end` (which it signs). */
  identityPublicKey?: Uint8Array;
  /** This contact's index in the contact set. */
  contactIndex: number;
  /** This contact's X25519 private key. */
  contactPrivateKey: Uint8Array;
  /** The contact set version this contact belongs to: a record for another version is refused clearly. */
  contactSetVersion?: number;
}

/**
 * The error of a bad record or start.
 * @internal
 */
function bad(code: ProtocolErrorCode, what: string, cause?: unknown): ProtocolError {
  const why = cause instanceof Error ? `: ${(cause as { code?: string }).code ?? cause.message}` : '';
  return new ProtocolError(code, `${what}${why}`, cause === undefined ? undefined : { cause });
}

/** The external AAD of every signature of event `eventId`: `enigm-emergency-v1` ‖ eventId. */
export function emergencyAad(eventId: Uint8Array): Uint8Array {
  return concatBytes(CONTEXT_BYTES, eventId);
}

function sign(payload: Uint8Array, eventId: Uint8Array, contentType: string, by: EmergencySigner): Uint8Array {
  return signSign1({
    payload,
    externalAad: emergencyAad(eventId),
    extraProtected: new Map([[HEADER_CONTENT_TYPE, contentType]]),
    ...by,
  });
}

/**
 * Decodes a signed emergency message of `contentType` without verifying it.
 * @internal
 */
function peekPayload(bytes: Uint8Array, contentType: string, what: string): { sign1: Sign1; map: CborValue } {
  if (!(bytes instanceof Uint8Array)) throw bad('EMERGENCY_RECORD_INVALID', `${what}: expected bytes`);
  if (bytes.length > MAX_EVENT_RECORD_BYTES) {
    throw bad('EMERGENCY_RECORD_INVALID', `${what}: ${bytes.length} bytes exceed ${MAX_EVENT_RECORD_BYTES}`);
  }
  let sign1: Sign1;
  let map: CborValue;
  try {
    sign1 = decodeSign1(bytes, { maxBytes: MAX_EVENT_RECORD_BYTES });
    if (sign1.payload === null) throw new ProtocolError('COSE_MALFORMED', 'detached payload');
    map = decode(sign1.payload, { maxBytes: MAX_EVENT_RECORD_BYTES });
  } catch (e) {
    throw bad('EMERGENCY_RECORD_INVALID', `${what}: not a signed emergency message`, e);
  }
  if (sign1.unprotectedHeaders.size > 0) {
    throw bad('EMERGENCY_RECORD_INVALID', `${what}: unprotected headers are not allowed (nothing unsigned travels)`);
  }
  if (sign1.protectedHeaders.get(HEADER_CONTENT_TYPE) !== contentType) {
    throw bad('EMERGENCY_RECORD_INVALID', `${what}: content type is not ${contentType}`);
  }
  return { sign1, map };
}

/**
 * Signs an event start with the Key's identity key.
 * @throws {@link ProtocolError} `MESSAGE_INVALID` for a start that does not fit its record
 */
export function signEventStart(start: EventStart, by: EmergencySigner): Uint8Array {
  const map = EventStartRecord.toMap(start);
  EventStartRecord.fromMap(map);
  return sign(encode(map), start.eventId, EVENT_START_CONTENT_TYPE, by);
}

/**
 * Starts an event: draws a random event id and a fresh event key, and signs the start.
 * @param input - the contact set version in force, the time, an optional reason
 * @param by - the Key's identity signer
 * @param random - optional source of randomness `(n) => n bytes` (tests)
 * @returns the signed start, its value, and the event key's seed (keep it until the event ends, then erase it)
 */
export function createEventStart(
  input: { contactSetVersion: number; time: number; reason?: string },
  by: EmergencySigner,
  random?: (n: number) => Uint8Array,
): { bytes: Uint8Array; start: EventStart; eventSeed: Uint8Array } {
  const eventId = Uint8Array.from(random ? random(EVENT_ID_LENGTH) : randomBytes(EVENT_ID_LENGTH));
  const key = ed25519Generate(random, { cache: false }); // one-time: the caller holds it until the event ends
  const start: EventStart = { eventId, eventKey: key.publicKey, contactSetVersion: input.contactSetVersion, time: input.time };
  if (input.reason !== undefined) start.reason = input.reason;
  return { bytes: signEventStart(start, by), start, eventSeed: key.seed };
}

/**
 * Reads an event start without verifying it (routing). Untrusted.
 * @returns the start, or `undefined` if the bytes are not one
 */
export function peekEventStart(bytes: Uint8Array): EventStart | undefined {
  try {
    const r = EventStartRecord.tryFromMap(peekPayload(bytes, EVENT_START_CONTENT_TYPE, 'event start').map);
    return r.ok ? r.value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies an event start signed by the Key's identity key.
 * @throws {@link ProtocolError} `EMERGENCY_RECORD_INVALID` (malformed, oversized, not a start, or
 *   not signed by `identityPublicKey`), with the underlying error as `cause`
 */
export function verifyEventStart(bytes: Uint8Array, identityPublicKey: Uint8Array): EventStart {
  const { map } = peekPayload(bytes, EVENT_START_CONTENT_TYPE, 'event start');
  const r = EventStartRecord.tryFromMap(map);
  if (!r.ok) throw bad('EMERGENCY_RECORD_INVALID', `event start: ${r.why}`);
  try {
    verifySign1(bytes, identityPublicKey, { externalAad: emergencyAad(r.value.eventId), maxBytes: MAX_EVENT_RECORD_BYTES });
  } catch (e) {
    throw bad('EMERGENCY_RECORD_INVALID', 'event start: not signed by this Key', e);
  }
  return r.value;
}

function envelopeAad(h: EventHeader, contact: number): Uint8Array {
  return encode(
    EnvelopeAadRecord.toMap({
      eventId: h.eventId,
      seq: h.seq,
      kind: h.kind,
      time: h.time,
      contactSetVersion: h.contactSetVersion,
      contact,
    }),
  );
}

function hpkeInfo(eventId: Uint8Array): Uint8Array {
  return concatBytes(CONTEXT_BYTES, eventId);
}

function encodeBody(body: EventBody): Uint8Array {
  switch (body.kind) {
    case 'location':
      return encode(LocationRecord.toMap(body.location));
    case 'status':
    case 'battery-critical':
      return encode(EventStatusRecord.toMap(body.status));
    case 'end':
      return encode(EventEndRecord.toMap(body.end));
    default:
      throw new ProtocolError('MESSAGE_INVALID', `unknown event kind ${String((body as { kind: unknown }).kind)}`);
  }
}

function decodeBody(kind: EventKind, plaintext: Uint8Array): EventBody {
  const v = decode(plaintext, { maxBytes: MAX_EVENT_BODY_BYTES });
  switch (kind) {
    case 'location':
      return { kind, location: LocationRecord.fromMap(v) };
    case 'status':
    case 'battery-critical':
      return { kind, status: EventStatusRecord.fromMap(v) };
    case 'end':
      return { kind, end: EventEndRecord.fromMap(v) };
  }
}

/** Checks what the record type cannot: seq from 1, one envelope per contact. */
function checkRecord(r: EventRecord): string | undefined {
  if (r.seq < 1) return 'seq starts at 1';
  const seen = new Set<number>();
  for (const e of r.envelopes) {
    if (seen.has(e.contact)) return `two envelopes for contact ${e.contact}`;
    seen.add(e.contact);
  }
  return undefined;
}

/**
 * Seals a record: encodes the body, HPKE-seals it once per contact of `contactSet` (envelope i for
 * contact i), and signs the whole with `by` — the event key, or the identity key for kind `end`.
 * @param options.ephemeralSeeds - per-contact HPKE ephemeral IKM (test vectors only)
 * @returns the COSE_Sign1 bytes
 * @throws {@link ProtocolError} `EMERGENCY_RECORD_INVALID` for a record that does not fit (seq 0,
 *   a body over {@link MAX_EVENT_BODY_BYTES}, over {@link MAX_EVENT_RECORD_BYTES} signed);
 *   `MESSAGE_INVALID` for a body that does not fit its record; `CRYPTO_INVALID_KEY` for a bad contact key
 */
export async function sealEventRecord(
  input: SealEventRecordInput,
  contactSet: ContactSet,
  by: EmergencySigner,
  options: { ephemeralSeeds?: readonly Uint8Array[] } = {},
): Promise<Uint8Array> {
  const header: EventHeader = {
    eventId: input.eventId,
    seq: input.seq,
    kind: input.body.kind,
    time: input.time,
    contactSetVersion: contactSet.version,
  };
  const plaintext = encodeBody(input.body);
  decodeBody(header.kind, plaintext); // validate before sealing: contacts never get a body they would refuse
  if (plaintext.length + 16 > MAX_EVENT_BODY_BYTES) {
    throw bad('EMERGENCY_RECORD_INVALID', `event record: body of ${plaintext.length} bytes is too large`);
  }
  const info = hpkeInfo(input.eventId);
  const envelopes: Envelope[] = [];
  for (let i = 0; i < contactSet.contacts.length; i++) {
    const c = contactSet.contacts[i] as ContactSet['contacts'][number];
    const seed = options.ephemeralSeeds?.[i];
    const { enc, ct } = await hpkeSeal(c.hpkeKey, plaintext, {
      info,
      aad: envelopeAad(header, i),
      ...(seed ? { ephemeralSeed: seed } : {}),
    });
    envelopes.push({ contact: i, enc, ct });
  }
  const record: EventRecord = { ...header, envelopes };
  const map = EmergencyRecord.toMap(record);
  const r = EmergencyRecord.tryFromMap(map);
  const why = r.ok ? checkRecord(r.value) : r.why;
  if (why !== undefined) throw bad('EMERGENCY_RECORD_INVALID', `event record: ${why}`);
  const bytes = sign(encode(map), input.eventId, EVENT_RECORD_CONTENT_TYPE, by);
  if (bytes.length > MAX_EVENT_RECORD_BYTES) {
    throw bad('EMERGENCY_RECORD_INVALID', `event record: ${bytes.length} bytes exceed ${MAX_EVENT_RECORD_BYTES}`);
  }
  return bytes;
}

function header(r: EventRecord): EventHeader {
  return { eventId: r.eventId, seq: r.seq, kind: r.kind, time: r.time, contactSetVersion: r.contactSetVersion };
}

function parseRecord(bytes: Uint8Array): { record: EventRecord; sign1: Sign1 } {
  const { sign1, map } = peekPayload(bytes, EVENT_RECORD_CONTENT_TYPE, 'event record');
  const r = EmergencyRecord.tryFromMap(map);
  const why = r.ok ? checkRecord(r.value) : r.why;
  if (!r.ok || why !== undefined) throw bad('EMERGENCY_RECORD_INVALID', `event record: ${why}`);
  return { record: r.value, sign1 };
}

/**
 * Reads a record's clear header and the contact indices it has envelopes for, without verifying
 * it (routing, de-duplication). Untrusted.
 * @returns the header and `contacts`, or `undefined` if the bytes are not an event record
 */
export function peekEventRecord(bytes: Uint8Array): (EventHeader & { contacts: number[] }) | undefined {
  try {
    const { record } = parseRecord(bytes);
    return { ...header(record), contacts: record.envelopes.map((e) => e.contact) };
  } catch {
    return undefined;
  }
}

/**
 * Verifies a record's signature — by `eventKey`, or by `identityPublicKey` for kind `end` — and
 * returns it, envelopes still sealed.
 * @throws {@link ProtocolError} `EMERGENCY_RECORD_INVALID`
 */
export function verifyEventRecord(
  bytes: Uint8Array,
  keys: { eventKey: Uint8Array; identityPublicKey?: Uint8Array },
): EventRecord {
  const { record } = parseRecord(bytes);
  const end = record.kind === 'end';
  const key = end ? keys.identityPublicKey : keys.eventKey;
  if (key === undefined) throw bad('EMERGENCY_RECORD_INVALID', 'event record: an end record needs the identity public key');
  try {
    verifySign1(bytes, key, { externalAad: emergencyAad(record.eventId), maxBytes: MAX_EVENT_RECORD_BYTES });
  } catch (e) {
    throw bad('EMERGENCY_RECORD_INVALID', `event record: not signed by the ${end ? "Key's identity" : 'event'} key`, e);
  }
  return record;
}

/**
 * Verifies a record and opens this contact's envelope.
 * @returns the clear header and the decrypted body
 * @throws {@link ProtocolError} `EMERGENCY_RECORD_INVALID` (malformed, oversized, bad signature, a
 *   body that is not its kind's record); `EMERGENCY_NOT_FOR_YOU` (made for another contact set
 *   version, or no envelope for `contactIndex`); `EMERGENCY_DECRYPT_FAILED` (the envelope does not
 *   open: tampered, swapped, or not sealed to this key)
 */
export async function openEventRecord(
  bytes: Uint8Array,
  options: OpenEventRecordOptions,
): Promise<{ header: EventHeader; body: EventBody }> {
  const record = verifyEventRecord(bytes, options);
  return openVerifiedRecord(record, options);
}

/**
 * Opens this contact's envelope of a record already verified by {@link verifyEventRecord}.
 * @throws {@link ProtocolError} as {@link openEventRecord}, but for the signature
 */
export async function openVerifiedRecord(
  record: EventRecord,
  options: Pick<OpenEventRecordOptions, 'contactIndex' | 'contactPrivateKey' | 'contactSetVersion'>,
): Promise<{ header: EventHeader; body: EventBody }> {
  const h = header(record);
  if (options.contactSetVersion !== undefined && record.contactSetVersion !== options.contactSetVersion) {
    throw bad(
      'EMERGENCY_NOT_FOR_YOU',
      `event record ${h.seq}: sealed to contact set version ${record.contactSetVersion}, you are a contact of version ${options.contactSetVersion}`,
    );
  }
  const env = record.envelopes.find((e) => e.contact === options.contactIndex);
  if (env === undefined) {
    throw bad('EMERGENCY_NOT_FOR_YOU', `event record ${h.seq}: no envelope for contact ${options.contactIndex}`);
  }
  let plaintext: Uint8Array;
  try {
    plaintext = await hpkeOpen(options.contactPrivateKey, env.enc, env.ct, {
      info: hpkeInfo(record.eventId),
      aad: envelopeAad(h, options.contactIndex),
    });
  } catch (e) {
    if (e instanceof ProtocolError && e.code === 'CRYPTO_INVALID_KEY') throw e;
    throw bad(
      'EMERGENCY_DECRYPT_FAILED',
      `event record ${h.seq}: the envelope for contact ${options.contactIndex} does not open (tampered, or sealed to another key: contact set version ${record.contactSetVersion})`,
      e,
    );
  }
  try {
    return { header: h, body: decodeBody(h.kind, plaintext) };
  } catch (e) {
    throw bad('EMERGENCY_RECORD_INVALID', `event record ${h.seq}: the body is not a ${h.kind} record`, e);
  }
}
