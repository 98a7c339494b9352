/**
 * Consistent Overhead Byte Stuffing (COBS), after S. Cheshire and M. Baker, "Consistent Overhead
 * Byte Stuffing", IEEE/ACM Transactions on Networking 7(2), 1999.
 *
 * COBS rewrites a byte string so that it contains no 0x00 byte, so that 0x00 can delimit frames on
 * a byte stream. The input, with a phantom 0x00 appended, is cut after each 0x00 and after every
 * run of 254 non-zero bytes into groups; each group is sent as one code byte followed by its
 * non-zero bytes:
 *
 * - code `c` in 0x01..0xFE: `c - 1` data bytes follow, then the decoder emits a 0x00 (unless the
 *   group is the last of the encoding, where the 0x00 is the phantom one and is dropped);
 * - code 0xFF: 254 data bytes follow and no 0x00 is emitted.
 *
 * When the input ends with a full 254-byte group (code 0xFF), the final code byte 0x01 that would
 * only stand for the phantom 0x00 is omitted (the encoding of `01 02 … FE` is `FF 01 02 … FE`,
 * not `FF 01 02 … FE 01`); this is the canonical form of the paper and of the Wikipedia examples.
 * The decoder also accepts the longer form.
 *
 * Size: an input of `n` bytes encodes to at most `n + max(1, ceil(n / 254))` bytes
 * ({@link cobsMaxEncodedLength}), and to at least `n + 1` bytes. The bound is reached exactly by
 * inputs without 0x00.
 *
 * Both directions work on `Uint8Array` only, with one output allocation per call.
 *
 * @module
 */

import { ProtocolError } from '../errors.ts';

/** Groups shorter than this are copied byte by byte; longer ones with a native `set`. */
const COPY_THRESHOLD = 24;

/**
 * The largest COBS encoding of an `n`-byte input: `n + max(1, ceil(n / 254))`.
 *
 * @param n - input length in bytes (a non-negative safe integer)
 * @throws ProtocolError `FRAME_LENGTH` if `n` is not a non-negative safe integer
 */
export function cobsMaxEncodedLength(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ProtocolError('FRAME_LENGTH', `length must be a non-negative safe integer, got ${n}`);
  }
  return n === 0 ? 1 : n + Math.ceil(n / 254);
}

/**
 * Encodes `src[from, to)` into `dst` starting at `offset`. `dst` must have room for
 * `cobsMaxEncodedLength(to - from)` bytes from `offset`. No 0x00 is written.
 *
 * @returns the index in `dst` just past the encoding
 * @internal shared with the frame encoder
 */
export function cobsEncodeInto(src: Uint8Array, from: number, to: number, dst: Uint8Array, offset: number): number {
  let codeIdx = offset;
  let w = offset + 1;
  let code = 1;
  for (let i = from; i < to; i++) {
    const b = src[i]!;
    if (b !== 0) {
      dst[w++] = b;
      if (++code === 0xff) {
        dst[codeIdx] = 0xff;
        // A full group that ends the input needs no code byte for the phantom zero.
        if (i + 1 === to) return w;
        codeIdx = w++;
        code = 1;
      }
    } else {
      dst[codeIdx] = code;
      codeIdx = w++;
      code = 1;
    }
  }
  dst[codeIdx] = code;
  return w;
}

/** `cobsDecodeInto` result: a code byte announces more bytes than the input holds. */
export const COBS_OVERRUN = -1;

/**
 * Decodes `src[from, to)`, which must be non-empty and contain no 0x00 (the caller checks), into
 * `dst` starting at 0. `dst` must have room for `to - from - 1` bytes.
 *
 * @returns the decoded length, or {@link COBS_OVERRUN}
 * @internal shared with the frame decoder
 */
export function cobsDecodeInto(src: Uint8Array, from: number, to: number, dst: Uint8Array): number {
  let r = from;
  let w = 0;
  while (r < to) {
    const code = src[r++]!;
    const end = r + code - 1;
    if (end > to) return COBS_OVERRUN;
    if (code > COPY_THRESHOLD) {
      dst.set(src.subarray(r, end), w);
      w += code - 1;
      r = end;
    } else {
      while (r < end) dst[w++] = src[r++]!;
    }
    if (code !== 0xff && r < to) dst[w++] = 0;
  }
  return w;
}

/**
 * COBS-encodes `src`. The result contains no 0x00 byte and is not followed by a delimiter.
 *
 * @param src - any bytes (may be empty: encodes to `01`)
 * @returns a fresh array of at most {@link cobsMaxEncodedLength}`(src.length)` bytes
 */
export function cobsEncode(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(cobsMaxEncodedLength(src.length));
  const len = cobsEncodeInto(src, 0, src.length, out, 0);
  return len === out.length ? out : out.slice(0, len);
}

/**
 * Decodes one COBS encoding (without its delimiter).
 *
 * @param src - the encoded bytes
 * @returns a fresh array with the original bytes
 * @throws ProtocolError `FRAME_MALFORMED` if `src` is empty, contains a 0x00, or a code byte
 *   announces more bytes than follow it
 */
export function cobsDecode(src: Uint8Array): Uint8Array {
  if (src.length === 0) throw new ProtocolError('FRAME_MALFORMED', 'COBS: empty input (the shortest encoding is 01)');
  const zero = src.indexOf(0);
  if (zero !== -1) throw new ProtocolError('FRAME_MALFORMED', `COBS: 0x00 byte inside the encoding at offset ${zero}`);
  const out = new Uint8Array(src.length - 1);
  const len = cobsDecodeInto(src, 0, src.length, out);
  if (len === COBS_OVERRUN) throw new ProtocolError('FRAME_MALFORMED', 'COBS: a code byte points past the end of the input');
  return len === out.length ? out : out.slice(0, len);
}
