/**
 * Serial framing of the Enigm Key protocol: how message payloads travel over a byte stream
 * (USB CDC-ACM, UART). Pure code, no I/O.
 *
 * ## Wire format
 *
 * ```text
 * frame = 0x00 ‖ COBS(body) ‖ 0x00
 * body  = length ‖ payload ‖ crc
 * ```
 *
 * - `length`: the payload length in bytes as an unsigned LEB128 varint (7 bits per byte, least
 *   significant group first, high bit set on every byte but the last). It is a uint32: 1 to 5
 *   bytes, minimal (a multi-byte varint never ends in 0x00), and a 5th byte is at most 0x0F.
 *   Lengths 0..127 take 1 byte, 128..16383 take 2 (a 4 KiB payload), up to 2^21-1 take 3.
 * - `payload`: `length` bytes, opaque to this layer; zero-length payloads are allowed.
 * - `crc`: CRC-32C (Castagnoli; reflected polynomial 0x82F63B78, init 0xFFFFFFFF, xorout
 *   0xFFFFFFFF, check value 0xE3069283) over `length ‖ payload`, stored as 4 bytes little-endian.
 * - `COBS`: Consistent Overhead Byte Stuffing (Cheshire & Baker 1999), canonical form, see
 *   `cobs.ts`: removes every 0x00 from the body at a cost of at most `ceil(n / 254)` bytes.
 * - `0x00` ({@link FRAME_DELIMITER}): the frame delimiter. It never occurs inside a COBS
 *   encoding, so a receiver finds frame boundaries by scanning for it, whatever came before.
 *
 * Every frame is sent with a leading AND a trailing delimiter. Two delimiters in a row delimit an
 * empty frame, which receivers silently ignore as idle/sync, so back-to-back frames simply show
 * `00 00` between them. The leading delimiter costs one byte per frame and buys:
 * - garbage received before the frame (line noise, a bootloader banner, the tail of a frame cut
 *   by a reset or reopen of the port) is terminated by it and reported as a bad frame, instead of
 *   being merged into, and destroying, the frame that follows;
 * - a corrupted trailing delimiter (bit flip turning it non-zero) costs only the frame it ends,
 *   not the next one too, since the next frame starts with its own delimiter;
 * - the encoder stays stateless (no "first frame since open" to track across reconnects).
 *
 * Overhead: `2 + varintLength(n) + 4 + ceil((varintLength(n) + n + 4) / 254)` bytes at most for an
 * `n`-byte payload ({@link frameOverhead}): 25 bytes (0.61 %) for 4096 bytes, 8 bytes for 0.
 *
 * ## Receiving
 *
 * {@link FrameDecoder} accumulates the bytes between delimiters, then, for a non-empty frame:
 * 1. COBS-decodes it — a code byte pointing past the end: `FRAME_MALFORMED`;
 * 2. a body shorter than 5 bytes (1-byte length + CRC): `FRAME_MALFORMED`;
 * 3. checks the CRC over all but the last 4 body bytes — mismatch: `FRAME_CRC`. The CRC is
 *    checked before the header is parsed, so line noise reports as `FRAME_CRC`, and a header error
 *    on a frame with a good CRC points to a sender bug;
 * 4. parses the length — unterminated before the CRC, longer than 5 bytes, non-minimal or over
 *    2^32-1: `FRAME_MALFORMED`;
 * 5. compares it with the bytes actually between length and CRC — mismatch: `FRAME_LENGTH`;
 * 6. compares it with `maxPayload` — over: `FRAME_TOO_LARGE`.
 *
 * Memory is bounded: once the encoded bytes of the frame being received exceed
 * `cobsMaxEncodedLength(varintLength(maxPayload) + maxPayload + 4)` (the largest encoding of a
 * legal frame), the decoder stops buffering, discards bytes up to the next delimiter, and then
 * reports `FRAME_TOO_LARGE` once for the whole frame. Every error is reported as an event with
 * `discarded` = the number of frame bytes dropped, delimiters not counted; decoding resumes with
 * the next frame.
 *
 * Both directions return fresh arrays (never views into internal buffers) and zero their reused
 * scratch buffers after each frame, so no copy of a payload lingers in this layer.
 *
 * @module
 */

import { copyBytes } from '../bytes.ts';
import { ProtocolError } from '../errors.ts';
import { COBS_OVERRUN, cobsDecodeInto, cobsEncodeInto, cobsMaxEncodedLength } from './cobs.ts';
import { crc32cRange } from './crc32c.ts';

/** The byte that delimits frames on the wire. It never occurs inside an encoded frame. */
export const FRAME_DELIMITER = 0x00;

/** Largest payload length the 32-bit length field can carry. */
export const FRAME_LENGTH_FIELD_MAX = 0xffff_ffff;

/** Bytes of the CRC-32C trailer. */
const CRC_BYTES = 4;

/** Scratch buffers up to this size are kept between `encodeFrame` calls; larger ones are not. */
const SCRATCH_KEEP = 64 * 1024;

/** Number of bytes of the LEB128 encoding of `n` (0 ≤ n ≤ 2^32-1). */
function varintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : n < 0x1000_0000 ? 4 : 5;
}

function checkPayloadLength(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ProtocolError('FRAME_LENGTH', `${what} must be a non-negative safe integer, got ${n}`);
  }
  if (n > FRAME_LENGTH_FIELD_MAX) {
    throw new ProtocolError('FRAME_TOO_LARGE', `${what} ${n} exceeds the 32-bit length field (max ${FRAME_LENGTH_FIELD_MAX})`);
  }
}

/** Largest COBS encoding (delimiters excluded) of a frame with an `n`-byte payload. */
function maxEncodedBody(n: number): number {
  return cobsMaxEncodedLength(varintLength(n) + n + CRC_BYTES);
}

/**
 * Bytes a frame adds to a payload of `n` bytes in the worst case (for planning chunk sizes):
 * both delimiters, the length varint, the CRC and the worst-case COBS overhead. For every payload
 * `p`, `encodeFrame(p).length <= p.length + frameOverhead(p.length)`, with equality when the
 * body (length ‖ payload ‖ CRC) contains no 0x00 byte.
 *
 * @param payloadLength - payload size in bytes
 * @throws ProtocolError `FRAME_LENGTH` for a negative or non-integer length, `FRAME_TOO_LARGE`
 *   over 2^32-1
 */
export function frameOverhead(payloadLength: number): number {
  checkPayloadLength(payloadLength, 'payload length');
  return 2 + maxEncodedBody(payloadLength) - payloadLength;
}

let bodyScratch = new Uint8Array(4096 + 16);
let wireScratch = new Uint8Array(4096 + 64);

/**
 * Encodes one payload as a complete wire frame: `00 ‖ COBS(length ‖ payload ‖ crc) ‖ 00`
 * (leading delimiter included, see the module documentation).
 *
 * @param payload - the bytes to send (may be empty)
 * @returns a fresh array, ready to write to the link
 * @throws ProtocolError `FRAME_TOO_LARGE` if the payload exceeds 2^32-1 bytes
 */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  const n = payload.length;
  checkPayloadLength(n, 'payload length');
  const headerLen = varintLength(n);
  const bodyLen = headerLen + n + CRC_BYTES;
  const wireMax = 2 + cobsMaxEncodedLength(bodyLen);

  let body = bodyScratch;
  if (body.length < bodyLen) {
    body = new Uint8Array(bodyLen);
    if (bodyLen <= SCRATCH_KEEP) bodyScratch = body;
  }
  let wire = wireScratch;
  if (wire.length < wireMax) {
    wire = new Uint8Array(wireMax);
    if (wireMax <= SCRATCH_KEEP) wireScratch = wire;
  }

  // length ‖ payload ‖ crc
  let v = n;
  let w = 0;
  while (v >= 0x80) {
    body[w++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 0x80);
  }
  body[w++] = v;
  body.set(payload, w);
  w += n;
  const crc = crc32cRange(body, 0, w);
  body[w] = crc & 0xff;
  body[w + 1] = (crc >>> 8) & 0xff;
  body[w + 2] = (crc >>> 16) & 0xff;
  body[w + 3] = crc >>> 24;

  wire[0] = FRAME_DELIMITER;
  const end = cobsEncodeInto(body, 0, bodyLen, wire, 1);
  wire[end] = FRAME_DELIMITER;
  const frame = copyBytes(wire, 0, end + 1);
  // Leave no copy of the payload in the long-lived scratch buffers.
  body.fill(0, 0, bodyLen);
  wire.fill(0, 0, end + 1);
  return frame;
}

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest payload accepted, in bytes; larger frames are dropped with `FRAME_TOO_LARGE`. */
  maxPayload: number;
}

/** What {@link FrameDecoder.push} yields: a good frame's payload, or a dropped frame's error. */
export type FrameEvent =
  | { kind: 'frame'; payload: Uint8Array }
  | {
      kind: 'error';
      error: ProtocolError;
      /** Bytes of the bad frame dropped, delimiters not counted. */
      discarded: number;
    };

/**
 * Streaming frame decoder: push arbitrary chunks of the received byte stream, get frames and
 * errors back in stream order. Never throws on bad input: every bad frame becomes an `error`
 * event and decoding resumes at the next delimiter.
 *
 * Memory is bounded by `maxPayload`: the frame being received is buffered (encoded) only up to
 * the largest encoding of a `maxPayload`-byte frame; past that the decoder discards bytes until
 * the next delimiter and then reports `FRAME_TOO_LARGE` once for that frame. Empty frames (two
 * delimiters in a row) are silently ignored (they are idle/sync bytes).
 */
export class FrameDecoder {
  #maxPayload = 0;
  /** Largest encoded frame (delimiters excluded) accepted for buffering. */
  #maxEncoded = 0;
  /** Encoded bytes of the frame being received (when it spans chunks). */
  #acc = new Uint8Array(0);
  #accLen = 0;
  /** Decoded body scratch. */
  #body = new Uint8Array(0);
  /** Dropping an oversized frame up to the next delimiter. */
  #discarding = false;
  #discarded = 0;

  /**
   * @param options - `maxPayload`: largest payload accepted
   * @throws ProtocolError `FRAME_LENGTH` / `FRAME_TOO_LARGE` for a `maxPayload` that is not an
   *   integer in 0..2^32-1
   */
  constructor(options: FrameDecoderOptions) {
    this.maxPayload = options.maxPayload;
  }

  /** Largest payload accepted, in bytes. Settable, e.g. raised after capability negotiation. */
  get maxPayload(): number {
    return this.#maxPayload;
  }

  set maxPayload(value: number) {
    checkPayloadLength(value, 'maxPayload');
    this.#maxPayload = value;
    this.#maxEncoded = maxEncodedBody(value);
  }

  /** Bytes currently buffered: the encoded part of the frame being received (for tests/diagnostics). */
  get buffered(): number {
    return this.#accLen;
  }

  /** Drops any partial frame (e.g. after a link reset), silently. */
  reset(): void {
    this.#acc.fill(0, 0, this.#accLen);
    this.#accLen = 0;
    this.#discarding = false;
    this.#discarded = 0;
  }

  /**
   * Feeds received bytes.
   *
   * @param chunk - the next bytes of the stream, any size (not retained after the call)
   * @returns the frames completed and errors detected in this chunk, in stream order
   */
  push(chunk: Uint8Array): FrameEvent[] {
    const events: FrameEvent[] = [];
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const z = chunk.indexOf(FRAME_DELIMITER, i);
      const end = z === -1 ? n : z;
      const segLen = end - i;

      if (this.#discarding) {
        this.#discarded += segLen;
      } else if (this.#accLen + segLen > this.#maxEncoded) {
        this.#discarding = true;
        this.#discarded = this.#accLen + segLen;
        this.#acc.fill(0, 0, this.#accLen);
        this.#accLen = 0;
      } else if (z !== -1 && this.#accLen === 0) {
        // Fast path: the whole frame is inside this chunk.
        if (segLen > 0) events.push(this.#finish(chunk, i, end));
      } else {
        this.#append(chunk, i, end);
        if (z !== -1) {
          const len = this.#accLen;
          this.#accLen = 0;
          events.push(this.#finish(this.#acc, 0, len));
          this.#acc.fill(0, 0, len);
        }
      }

      if (z === -1) break;
      if (this.#discarding) {
        events.push(
          errorEvent(
            'FRAME_TOO_LARGE',
            `frame of more than ${this.#maxEncoded} encoded bytes (maxPayload ${this.#maxPayload})`,
            this.#discarded,
          ),
        );
        this.#discarding = false;
        this.#discarded = 0;
      }
      i = z + 1;
    }
    return events;
  }

  #append(src: Uint8Array, from: number, to: number): void {
    const need = this.#accLen + (to - from);
    if (need > this.#acc.length) {
      const grown = new Uint8Array(Math.min(this.#maxEncoded, Math.max(need, 256, this.#acc.length * 2)));
      grown.set(this.#acc.subarray(0, this.#accLen));
      this.#acc = grown;
    }
    if (to - from < 16) {
      let w = this.#accLen;
      for (let r = from; r < to; r++) this.#acc[w++] = src[r]!;
    } else {
      this.#acc.set(src.subarray(from, to), this.#accLen);
    }
    this.#accLen = need;
  }

  /** Decodes one complete, non-empty, zero-free encoded frame `src[from, to)`, then wipes the scratch. */
  #finish(src: Uint8Array, from: number, to: number): FrameEvent {
    const encLen = to - from;
    if (this.#body.length < encLen) {
      this.#body = new Uint8Array(Math.min(this.#maxEncoded, Math.max(encLen, 256, this.#body.length * 2)));
    }
    const event = this.#check(src, from, to, this.#body);
    // The decoded body is at most encLen - 1 bytes; leave no copy of the payload behind.
    this.#body.fill(0, 0, encLen);
    return event;
  }

  /** Decodes `src[from, to)` into `body` and validates it (module doc, "Receiving", steps 1-6). */
  #check(src: Uint8Array, from: number, to: number, body: Uint8Array): FrameEvent {
    const encLen = to - from;
    const len = cobsDecodeInto(src, from, to, body);
    if (len === COBS_OVERRUN) {
      return errorEvent('FRAME_MALFORMED', 'COBS: a code byte points past the end of the frame', encLen);
    }
    if (len < 1 + CRC_BYTES) {
      return errorEvent('FRAME_MALFORMED', `frame body of ${len} bytes is shorter than length + CRC (5 bytes)`, encLen);
    }
    const crcAt = len - CRC_BYTES;
    const stored = (body[crcAt]! | (body[crcAt + 1]! << 8) | (body[crcAt + 2]! << 16) | (body[crcAt + 3]! << 24)) >>> 0;
    if (crc32cRange(body, 0, crcAt) !== stored) {
      return errorEvent('FRAME_CRC', 'frame CRC-32C does not match its contents', encLen);
    }

    // Length varint: uint32, 1..5 bytes, minimal.
    let declared = 0;
    let p = 0;
    let b = 0;
    for (;;) {
      if (p === crcAt) {
        return errorEvent('FRAME_MALFORMED', 'frame length varint runs into the CRC', encLen);
      }
      if (p === 5) {
        return errorEvent('FRAME_MALFORMED', 'frame length varint is longer than 5 bytes', encLen);
      }
      b = body[p]!;
      declared += (b & 0x7f) * 2 ** (7 * p);
      p++;
      if ((b & 0x80) === 0) break;
    }
    if (p > 1 && b === 0) {
      return errorEvent('FRAME_MALFORMED', 'frame length varint is not minimal', encLen);
    }
    if (declared > FRAME_LENGTH_FIELD_MAX) {
      return errorEvent('FRAME_MALFORMED', 'frame length varint exceeds 32 bits', encLen);
    }
    const actual = crcAt - p;
    if (declared !== actual) {
      return errorEvent('FRAME_LENGTH', `frame declares ${declared} payload bytes but carries ${actual}`, encLen);
    }
    if (actual > this.#maxPayload) {
      return errorEvent('FRAME_TOO_LARGE', `frame payload of ${actual} bytes exceeds maxPayload ${this.#maxPayload}`, encLen);
    }
    return { kind: 'frame', payload: copyBytes(body, p, crcAt) };
  }
}

function errorEvent(code: ProtocolError['code'], message: string, discarded: number): FrameEvent {
  return { kind: 'error', error: new ProtocolError(code, message), discarded };
}
