/**
 * The signed payloads of the MQTT topic contract: uplink records (`up`, `risk`) and the retained
 * status record (`status`).
 *
 * Each is a typed CBOR record with integer keys, carried in a COSE_Sign1 (EdDSA) made by the Key's
 * identity key, whose external AAD is the topic it is published on: a record copied to another
 * Key's topic or another channel no longer verifies ("from the wrong handle"), and a receiver
 * drops a record whose `id` it has seen ("replayed"). Bodies stay opaque bytes here: each `kind`
 * defines its own record (events use the Key protocol's bodies).
 *
 * @module
 */
import { decode, encode } from '../cbor/index.ts';
import { type Sign1, signSign1, verifySign1 } from '../cose/sign1.ts';
import { ProtocolError } from '../errors.ts';
import { defineRecord, field, type RecordValue, t } from '../messages/record.ts';
import { type KeyChannel, keyTopic } from './topics.ts';

/** Largest uplink or status payload accepted, bytes (a record plus its signature). */
export const MQTT_MAX_RECORD_BYTES = 64 * 1024;

/** Length of a record id (random, for de-duplication), bytes. */
export const MQTT_RECORD_ID_LENGTH = 16;

/** Priorities of an uplink record: emergency records are never dropped by an outbox. */
export const UPLINK_PRIORITY = { normal: 0, emergency: 1 } as const;

/** An uplink record (`up` and `risk` topics). */
export const UplinkRecord = defineRecord('uplink', {
  id: field(1, t.bytes(MQTT_RECORD_ID_LENGTH, MQTT_RECORD_ID_LENGTH), false, 'random id; receivers drop ids they have seen'),
  seq: field(2, t.uint(Number.MAX_SAFE_INTEGER), false, 'per-Key sequence number, increasing'),
  time: field(3, t.uint(Number.MAX_SAFE_INTEGER), false, 'when the record was made, ms since the Unix epoch (Key clock)'),
  kind: field(4, t.text(64), false, 'what the body is, e.g. `lifecycle.changed`, `check-in`'),
  priority: field(5, t.enumOf('priority', UPLINK_PRIORITY), false, 'normal or emergency'),
  body: field(6, t.bytes(0, 32 * 1024), false, 'the CBOR body of the kind'),
});

/** A decoded {@link UplinkRecord}. */
export type Uplink = RecordValue<typeof UplinkRecord.schema>;

/** The retained status record (`status` topic; also the last will, with `online: false`). */
export const StatusRecord = defineRecord('status', {
  online: field(1, t.bool(), false, 'whether the Key is connected to the broker'),
  time: field(2, t.uint(Number.MAX_SAFE_INTEGER), false, 'when the status was made, ms since the Unix epoch'),
  state: field(3, t.text(32), true, 'lifecycle state, when online'),
  will: field(4, t.bool(), true, 'true if this is the last will the broker published for the Key'),
});

/** A decoded {@link StatusRecord}. */
export type Status = RecordValue<typeof StatusRecord.schema>;

/** The signer of a record: an Ed25519 seed, or an external signer (a secure element). */
export type RecordSigner = { seed: Uint8Array } | { signer: (toBeSigned: Uint8Array) => Uint8Array };

const enc = new TextEncoder();

function sign(payload: Uint8Array, topic: string, by: RecordSigner): Uint8Array {
  return signSign1({ payload, externalAad: enc.encode(topic), ...by });
}

function invalid(what: string, cause?: unknown): ProtocolError {
  const reason = cause instanceof Error ? `: ${(cause as { code?: string }).code ?? cause.message}` : '';
  return new ProtocolError('MQTT_PAYLOAD_INVALID', `${what}${reason}`, cause === undefined ? undefined : { cause });
}

function open(bytes: Uint8Array, topic: string, publicKey: Uint8Array, what: string): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw invalid(`${what}: payload must be bytes`);
  if (bytes.length > MQTT_MAX_RECORD_BYTES) throw invalid(`${what}: ${bytes.length} bytes exceed ${MQTT_MAX_RECORD_BYTES}`);
  let s: Sign1;
  try {
    s = verifySign1(bytes, publicKey, { externalAad: enc.encode(topic), maxBytes: MQTT_MAX_RECORD_BYTES });
  } catch (e) {
    throw invalid(`${what}: not signed by this Key for this topic`, e);
  }
  if (s.payload === null) throw invalid(`${what}: detached payload`);
  return s.payload;
}

/**
 * Signs an uplink record for `handle`'s `channel` (`up` or `risk`).
 * @returns the COSE_Sign1 bytes to publish
 * @throws {@link ProtocolError} `MESSAGE_INVALID` for a record that does not fit, `MQTT_TOPIC_INVALID` for a bad handle
 */
export function sealUplink(
  record: Uplink,
  handle: string,
  channel: Extract<KeyChannel, 'up' | 'risk'>,
  by: RecordSigner,
): Uint8Array {
  const map = UplinkRecord.toMap(record);
  UplinkRecord.fromMap(map); // validate before signing: a Key never signs a record receivers would refuse
  return sign(encode(map), keyTopic(handle, channel), by);
}

/**
 * Verifies and decodes an uplink record received on `handle`'s `channel`.
 * @param publicKey - the Key's Ed25519 identity public key
 * @throws {@link ProtocolError} `MQTT_PAYLOAD_INVALID` (oversized, not signed by this Key for this
 *   topic, or not an uplink record), with the underlying error as `cause`
 */
export function openUplink(
  bytes: Uint8Array,
  handle: string,
  channel: Extract<KeyChannel, 'up' | 'risk'>,
  publicKey: Uint8Array,
): Uplink {
  const payload = open(bytes, keyTopic(handle, channel), publicKey, 'uplink record');
  try {
    return UplinkRecord.fromMap(decode(payload, { maxBytes: MQTT_MAX_RECORD_BYTES }) as never);
  } catch (e) {
    throw invalid('uplink record: not an uplink record', e);
  }
}

/**
 * Signs a status record for `handle`.
 * @throws {@link ProtocolError} `MESSAGE_INVALID`, `MQTT_TOPIC_INVALID`
 */
export function sealStatus(status: Status, handle: string, by: RecordSigner): Uint8Array {
  const map = StatusRecord.toMap(status);
  StatusRecord.fromMap(map);
  return sign(encode(map), keyTopic(handle, 'status'), by);
}

/**
 * Verifies and decodes a status record received on `handle`'s status topic.
 * @throws {@link ProtocolError} `MQTT_PAYLOAD_INVALID`
 */
export function openStatus(bytes: Uint8Array, handle: string, publicKey: Uint8Array): Status {
  const payload = open(bytes, keyTopic(handle, 'status'), publicKey, 'status record');
  try {
    return StatusRecord.fromMap(decode(payload, { maxBytes: MQTT_MAX_RECORD_BYTES }) as never);
  } catch (e) {
    throw invalid('status record: not a status record', e);
  }
}

/**
 * Reads an uplink record's fields without checking its signature (for routing and de-duplication
 * before the sender's key is known). Untrusted: verify with {@link openUplink} before use.
 * @returns the record, or `undefined` if the bytes are not a COSE_Sign1 uplink record
 */
export function peekUplink(bytes: Uint8Array): Uplink | undefined {
  try {
    if (!(bytes instanceof Uint8Array) || bytes.length > MQTT_MAX_RECORD_BYTES) return undefined;
    const v = decode(bytes, { maxBytes: MQTT_MAX_RECORD_BYTES, allowedTags: new Set([18]) });
    const arr = (v as { value?: unknown }).value ?? v;
    if (!Array.isArray(arr) || !(arr[2] instanceof Uint8Array)) return undefined;
    return UplinkRecord.fromMap(decode(arr[2], { maxBytes: MQTT_MAX_RECORD_BYTES }) as never);
  } catch {
    return undefined;
  }
}

/**
 * Reads a status record without checking its signature (a host deciding whether a Key is
 * reachable before it knows the Key's identity). Untrusted: a hint for users, never a decision
 * that matters for security.
 * @returns the record, or `undefined` if the bytes are not a COSE_Sign1 status record
 */
export function peekStatus(bytes: Uint8Array): Status | undefined {
  try {
    if (!(bytes instanceof Uint8Array) || bytes.length > MQTT_MAX_RECORD_BYTES) return undefined;
    const v = decode(bytes, { maxBytes: MQTT_MAX_RECORD_BYTES, allowedTags: new Set([18]) });
    const arr = (v as { value?: unknown }).value ?? v;
    if (!Array.isArray(arr) || !(arr[2] instanceof Uint8Array)) return undefined;
    return StatusRecord.fromMap(decode(arr[2], { maxBytes: MQTT_MAX_RECORD_BYTES }) as never);
  } catch {
    return undefined;
  }
}
