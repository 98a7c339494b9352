/**
 * The Key protocol message catalogue: every message type, its number, its kind and its body
 * record. Defined once; validators, the simulator, the host client and docs/protocol.md all read
 * this table.
 *
 * @module
 */
import { KEY_ERRORS, LIFECYCLE_STATES } from './constants.ts';
import { defineRecord, field, type RecordType, type RecordValue, type Schema, t } from './record.ts';

const state = t.enumOf('lifecycle state', LIFECYCLE_STATES);

/** Body of `hello`: what the host speaks. */
export const HelloRequest = defineRecord('hello', {
  versions: field(1, t.array(t.uint(0xffff), 16), false, 'protocol versions the host speaks'),
  maxFrame: field(2, t.uint(65536), false, 'largest frame payload the host accepts, bytes'),
});

/** Body of `hello.response`: the Key's capabilities. Nothing about link sizes is set by hand. */
export const HelloResponse = defineRecord('hello.response', {
  version: field(1, t.uint(0xffff), false, 'protocol version chosen for this link'),
  versions: field(2, t.array(t.uint(0xffff), 16), false, 'protocol versions the Key speaks'),
  maxFrame: field(3, t.uint(65536), false, 'largest frame payload the Key accepts, bytes'),
  window: field(4, t.uint(255), false, 'requests the Key buffers; the host keeps at most this many in flight'),
  features: field(5, t.array(t.text(32), 32), false, 'feature names (see the feature table)'),
  model: field(6, t.text(64), false, 'model identifier'),
  firmware: field(7, t.text(64), false, 'firmware version (semantic version)'),
  state: field(8, state, false, 'lifecycle state'),
});

/** Body of `ping`. */
export const PingRequest = defineRecord('ping', {
  data: field(1, t.bytes(0, 65536), true, 'bytes to echo back'),
});

/** Body of `ping.response`. */
export const PingResponse = defineRecord('ping.response', {
  data: field(1, t.bytes(0, 65536), true, 'the echoed bytes'),
  uptimeMs: field(2, t.uint(Number.MAX_SAFE_INTEGER), false, 'milliseconds since boot'),
});

/** Body of `info` (empty). */
export const InfoRequest = defineRecord('info', {});

/** Body of `info.response`: public, non-secret facts about the Key. */
export const InfoResponse = defineRecord('info.response', {
  model: field(1, t.text(64), false, 'model identifier'),
  hardware: field(2, t.text(32), false, 'hardware revision'),
  firmware: field(3, t.text(64), false, 'firmware version'),
  state: field(4, state, false, 'lifecycle state'),
  handle: field(5, t.bytes(16, 16), false, 'privacy-preserving device handle (random, not a serial number)'),
  bootCount: field(6, t.uint(), false, 'boots since manufacture'),
  uptimeMs: field(7, t.uint(Number.MAX_SAFE_INTEGER), false, 'milliseconds since boot'),
  batteryPct: field(8, t.uint(100), false, 'battery charge, percent'),
});

/** Body of `activate` (empty): factory → dormant. */
export const ActivateRequest = defineRecord('activate', {});

/** Body of `activate.response`. */
export const ActivateResponse = defineRecord('activate.response', {
  state: field(1, state, false, 'lifecycle state after the command'),
});

/** Body of `error`: a request failed. Never a bare number: code, name and reason together. */
export const ErrorResponse = defineRecord('error', {
  code: field(1, t.uint(0xffff), false, 'numeric error code (see the error table)'),
  name: field(2, t.text(32), false, 'stable symbolic name of the code'),
  reason: field(3, t.text(256), false, 'human reason'),
});

/** Body of the `lifecycle.changed` event. */
export const LifecycleChanged = defineRecord('lifecycle.changed', {
  from: field(1, state, false, 'state before'),
  to: field(2, state, false, 'state after'),
});

/** Message kinds. */
export type MessageKind = 'request' | 'response' | 'event';

/** One catalogue entry. */
export interface MessageDef<S extends Schema = Schema> {
  /** Wire number of the message type. */
  readonly type: number;
  readonly kind: MessageKind;
  readonly body: RecordType<S>;
  /** For requests: the response type name. */
  readonly response?: string;
  /** One-line meaning for docs. */
  readonly doc: string;
}

const def = <S extends Schema>(type: number, kind: MessageKind, body: RecordType<S>, doc: string, response?: string) =>
  ({ type, kind, body, doc, ...(response ? { response } : {}) }) as MessageDef<S>;

/** Every message of the protocol, by name. */
export const MESSAGES = {
  hello: def(0x01, 'request', HelloRequest, 'capability negotiation; always allowed, before anything else', 'hello.response'),
  'hello.response': def(0x02, 'response', HelloResponse, "the Key's capabilities"),
  ping: def(0x03, 'request', PingRequest, 'liveness and round-trip time', 'ping.response'),
  'ping.response': def(0x04, 'response', PingResponse, 'echo'),
  info: def(0x05, 'request', InfoRequest, 'public facts about the Key', 'info.response'),
  'info.response': def(0x06, 'response', InfoResponse, 'public facts'),
  activate: def(0x07, 'request', ActivateRequest, 'leave factory state for dormant', 'activate.response'),
  'activate.response': def(0x08, 'response', ActivateResponse, 'new state'),
  error: def(0x7f, 'response', ErrorResponse, 'the request failed; carries code, name and reason'),
  'lifecycle.changed': def(0x81, 'event', LifecycleChanged, 'the lifecycle state changed'),
} as const;

/** Name of a message type. */
export type MessageName = keyof typeof MESSAGES;
/** Names of request messages. */
export type RequestName = keyof typeof RESPONSE_OF;
/** Typed body of message `N`. */
export type BodyOf<N extends MessageName> = (typeof MESSAGES)[N]['body'] extends RecordType<infer S> ? RecordValue<S> : never;

/** The response message name of each request. */
export type ResponseOf<N extends RequestName> = (typeof RESPONSE_OF)[N];
/** Request name → response name. */
export const RESPONSE_OF = {
  hello: 'hello.response',
  ping: 'ping.response',
  info: 'info.response',
  activate: 'activate.response',
} as const satisfies Record<string, MessageName>;

/** Wire type number → message name. */
export const MESSAGE_BY_TYPE: ReadonlyMap<number, MessageName> = new Map(
  (Object.entries(MESSAGES) as [MessageName, MessageDef][]).map(([n, d]) => [d.type, n]),
);

// Keep the tables consistent at load time: every request has a response, numbers are unique.
for (const [n, d] of Object.entries(MESSAGES) as [MessageName, MessageDef][]) {
  if ((d.kind === 'request') !== n in RESPONSE_OF) throw new Error(`RESPONSE_OF and MESSAGES disagree on ${n}`);
}
// Keep the error table and the catalogue honest at load time.
if (MESSAGE_BY_TYPE.size !== Object.keys(MESSAGES).length) throw new Error('duplicate message type number');
if (new Set(Object.values(KEY_ERRORS).map((e) => e.code)).size !== Object.keys(KEY_ERRORS).length)
  throw new Error('duplicate error code');
