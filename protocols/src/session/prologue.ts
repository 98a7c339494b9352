/**
 * The Noise prologue of a Key session. It binds the session to the whole capability negotiation
 * that preceded it and to the transport: both sides put into it the complete `hello` request the
 * host sent and the complete `hello.response` the Key answered — every field: versions, the
 * host's `maxFrame`, the chosen version, the Key's `maxFrame`, `window`, `features`, `model`,
 * `firmware` and lifecycle `state` — plus the transport name. A man in the middle who rewrote any
 * of it (to force an older version, shrink the window, hide a feature, fake the firmware version
 * or state) makes the two prologues differ, and the handshake fails.
 *
 * The bodies go in as their deterministic CBOR encoding. The decoder accepts only that encoding
 * (shortest heads, sorted keys, no unknown keys), so these are exactly the body bytes that
 * crossed the wire; the envelope around them carries only the protocol version (bound through the
 * body's `version`) and the request id, which binds nothing.
 * @module
 */
import { encode } from '../cbor/encode.ts';
import type { BodyOf } from '../messages/catalogue.ts';
import { HelloRequest, HelloResponse } from '../messages/catalogue.ts';

/** What both sides know of the negotiation on this link. */
export interface PrologueInput {
  /** The `hello` body the host sent (as the Key received it). */
  hello: BodyOf<'hello'>;
  /** The `hello.response` body the Key sent (as the host received it). */
  helloResponse: BodyOf<'hello.response'>;
  /** Transport name as both sides see it: `serial`, `tcp`, `ble`, `mqtt`, `memory`. */
  transport: string;
}

/** Label that starts every prologue (v2: the whole `hello` exchange is bound). */
export const PROLOGUE_LABEL = 'enigm-key-session v2';

/** The deterministic CBOR of a `hello` body: the bytes that crossed the wire. */
export function helloRequestBytes(hello: BodyOf<'hello'>): Uint8Array {
  return encode(HelloRequest.toMap(hello));
}

/** The deterministic CBOR of a `hello.response` body: the bytes that crossed the wire. */
export function helloResponseBytes(response: BodyOf<'hello.response'>): Uint8Array {
  return encode(HelloResponse.toMap(response));
}

/**
 * The prologue bytes: CBOR `["enigm-key-session v2", helloBytes, helloResponseBytes, transport]`.
 * @throws ProtocolError `MESSAGE_INVALID` if a body does not match its record
 * @example sessionPrologue({ hello: { versions: [1], maxFrame: 4096 }, helloResponse, transport: 'tcp' })
 */
export function sessionPrologue(p: PrologueInput): Uint8Array {
  return encode([PROLOGUE_LABEL, helloRequestBytes(p.hello), helloResponseBytes(p.helloResponse), p.transport]);
}
