/**
 * The message envelope: `{1: version, 2: type, 3: request id, 4: body}`.
 *
 * Requests and responses carry a request id (uint32, chosen by the host, echoed by the Key);
 * events carry none. Decoding is two-step so a Key can answer a malformed body with an error
 * response addressed to the right request id: {@link decodeEnvelope} then {@link decodeBody}, or
 * {@link decodeMessage} for both.
 *
 * @module
 */

import { decode } from '../cbor/decode.ts';
import { encode } from '../cbor/encode.ts';
import type { CborMap, CborValue } from '../cbor/types.ts';
import { ProtocolError } from '../errors.ts';
import { type BodyOf, MESSAGE_BY_TYPE, MESSAGES, type MessageDef, type MessageKind, type MessageName } from './catalogue.ts';
import { MAX_FRAME_PAYLOAD, PROTOCOL_VERSIONS } from './constants.ts';

/** Envelope map keys. */
export const ENVELOPE_KEYS = { version: 1, type: 2, id: 3, body: 4 } as const;

/** Largest request id. */
export const MAX_REQUEST_ID = 0xffff_ffff;

/** A decoded, validated message. */
export interface Message<N extends MessageName = MessageName> {
  /** Protocol version the sender used. */
  version: number;
  /** Message name from the catalogue. */
  name: N;
  /** Request id (requests and responses); absent on events. */
  id?: number;
  /** Validated body. */
  body: BodyOf<N>;
}

/** An envelope whose body has not been validated yet. */
export interface RawEnvelope {
  version: number;
  name: MessageName;
  kind: MessageKind;
  id?: number;
  body: CborValue;
}

/**
 * Encodes a message deterministically.
 * @throws {@link ProtocolError} `MESSAGE_INVALID` if the body does not match its record or an id is
 *   missing or present where the kind forbids it
 * @example
 * ```ts
 * const bytes = encodeMessage({ version: 1, name: 'ping', id: 7, body: {} });
 * ```
 */
export function encodeMessage<N extends MessageName>(message: Message<N>): Uint8Array {
  const def = MESSAGES[message.name] as MessageDef | undefined;
  if (!def) throw new ProtocolError('MESSAGE_UNKNOWN_TYPE', `unknown message name ${String(message.name)}`);
  const m: CborMap = new Map();
  m.set(ENVELOPE_KEYS.version, message.version);
  m.set(ENVELOPE_KEYS.type, def.type);
  checkId(def.kind, message.id, message.name);
  if (message.id !== undefined) m.set(ENVELOPE_KEYS.id, message.id);
  m.set(ENVELOPE_KEYS.body, def.body.toMap(message.body as never));
  return encode(m);
}

function checkId(kind: MessageKind, id: unknown, name: string): void {
  if (kind === 'event') {
    if (id !== undefined) throw new ProtocolError('MESSAGE_INVALID', `event ${name} must not carry a request id`);
  } else if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > MAX_REQUEST_ID) {
    throw new ProtocolError('MESSAGE_INVALID', `${kind} ${name} needs a request id in [0, 2^32−1]`);
  }
}

/**
 * Strictly decodes the CBOR and the envelope of a message, leaving the body unvalidated.
 * @throws {@link ProtocolError} `CBOR_*` for bad CBOR, `MESSAGE_INVALID` for a bad envelope,
 *   `MESSAGE_VERSION` for a version not spoken here, `MESSAGE_UNKNOWN_TYPE` for an unknown type
 *   (the error's `requestId` property holds the id when it could be read)
 */
export function decodeEnvelope(bytes: Uint8Array): RawEnvelope {
  const v = decode(bytes, ENVELOPE_DECODE_OPTIONS);
  if (!(v instanceof Map)) throw new ProtocolError('MESSAGE_INVALID', 'message is not a CBOR map');
  const version = v.get(ENVELOPE_KEYS.version);
  const type = v.get(ENVELOPE_KEYS.type);
  const id = v.get(ENVELOPE_KEYS.id);
  const body = v.get(ENVELOPE_KEYS.body);
  const present =
    (version !== undefined ? 1 : 0) + (type !== undefined ? 1 : 0) + (id !== undefined ? 1 : 0) + (body !== undefined ? 1 : 0);
  if (present !== v.size) {
    const extra = [...v.keys()].find((k) => typeof k !== 'number' || k < 1 || k > 4);
    throw withId(new ProtocolError('MESSAGE_INVALID', `unknown envelope key ${String(extra)}`), id);
  }
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 0)
    throw withId(new ProtocolError('MESSAGE_INVALID', 'envelope version (key 1) missing or not a uint'), id);
  if (!SPOKEN.has(version))
    throw withId(
      new ProtocolError('MESSAGE_VERSION', `protocol version ${version} is not spoken here (${PROTOCOL_VERSIONS.join(', ')})`),
      id,
    );
  if (typeof type !== 'number')
    throw withId(new ProtocolError('MESSAGE_INVALID', 'envelope type (key 2) missing or not a uint'), id);
  const name = MESSAGE_BY_TYPE.get(type);
  if (!name) throw withId(new ProtocolError('MESSAGE_UNKNOWN_TYPE', `message type 0x${type.toString(16)} is not defined`), id);
  const kind = (MESSAGES[name] as MessageDef).kind;
  try {
    checkId(kind, id, name);
  } catch (e) {
    throw withId(e as ProtocolError, id);
  }
  if (body === undefined) throw withId(new ProtocolError('MESSAGE_INVALID', `${name}: body (key 4) missing`), id);
  const env: RawEnvelope = { version, name, kind, body };
  if (id !== undefined) env.id = id as number;
  return env;
}

const ENVELOPE_DECODE_OPTIONS = { maxBytes: MAX_FRAME_PAYLOAD, maxDepth: 16 } as const;
const SPOKEN: ReadonlySet<number> = new Set(PROTOCOL_VERSIONS);

/** Attaches the request id to an error when it is a valid id, so the Key can address its error response. */
function withId(e: ProtocolError, id: unknown): ProtocolError {
  if (typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= MAX_REQUEST_ID) {
    (e as ProtocolError & { requestId?: number }).requestId = id;
  }
  return e;
}

/**
 * Validates the body of an envelope against its record.
 * @throws {@link ProtocolError} `MESSAGE_INVALID` naming the field
 */
export function decodeBody(env: RawEnvelope): Message {
  const def = MESSAGES[env.name] as MessageDef;
  const m = { version: env.version, name: env.name, body: def.body.fromMap(env.body) } as Message;
  if (env.id !== undefined) m.id = env.id;
  return m;
}

/**
 * Strictly decodes and validates a whole message.
 * @throws {@link ProtocolError} as {@link decodeEnvelope} and {@link decodeBody}
 */
export function decodeMessage(bytes: Uint8Array): Message {
  return decodeBody(decodeEnvelope(bytes));
}

/** Narrows a message to one name. */
export function isMessage<N extends MessageName>(m: Message, name: N): m is Message<N> {
  return m.name === name;
}
