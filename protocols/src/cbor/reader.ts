/**
 * The one low-level CBOR item reader (RFC 8949 §3) under the strict decoder (`decode.ts`), the
 * lenient COSE decoder (`../cose/lenient.ts`) and the diagnostic renderer (`diagnostic.ts`).
 *
 * It knows well-formedness only: initial bytes and their arguments with bounds checks, reserved
 * additional information, half/single/double floats, simple values, UTF-8 text, and the typed
 * errors for each (`CBOR_TRUNCATED`, `CBOR_TOO_LARGE` past an item-size bound, `CBOR_RESERVED`,
 * `CBOR_INVALID_UTF8`, `CBOR_UNSUPPORTED_SIMPLE`). Each user adds only its policy on top:
 * shortest forms, sorted keys and allowed tags (strict), indefinite lengths and any order
 * (lenient), rendering (diagnostic).
 *
 * The reader is a plain cursor ({@link CborReader}) whose methods never allocate on success
 * except where they return bytes, so the strict decoder keeps its speed: it inlines the
 * one-byte-head fast path and calls these helpers for everything longer.
 *
 * @module
 */

import { ProtocolError } from '../errors.ts';

const TWO_32 = 0x1_0000_0000;
const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);
const f64View = new DataView(new ArrayBuffer(8));

/** The names of the eight major types, indexed by major type (RFC 8949 §3.1). */
export const MAJOR_NAMES: readonly string[] = [
  'unsigned integer',
  'negative integer',
  'byte string',
  'text string',
  'array',
  'map',
  'tag',
  'simple value or float',
];

/**
 * The name of a major type with its indefinite article, for messages.
 * @param major - 0..7
 * @returns e.g. `"an unsigned integer"`, `"a map"`
 */
export function majorWithArticle(major: number): string {
  const name = MAJOR_NAMES[major] as string;
  return `${name.startsWith('u') ? 'an' : 'a'} ${name}`;
}

/**
 * A byte as `0x` and two lowercase hex digits, for messages.
 * @param b - 0..255
 * @returns e.g. `"0x1c"`
 */
export function hexByte(b: number): string {
  return `0x${b.toString(16).padStart(2, '0')}`;
}

/**
 * IEEE 754 binary16 bits to the number they denote, exactly (RFC 8949 Appendix D).
 * @param h - the 16 bits, 0..0xffff
 * @returns the value; every NaN pattern gives `NaN`
 */
export function halfToNumber(h: number): number {
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  let v: number;
  if (exp === 0) v = mant * 2 ** -24;
  else if (exp === 31) v = mant === 0 ? Number.POSITIVE_INFINITY : Number.NaN;
  else v = (mant + 1024) * 2 ** (exp - 25);
  return h & 0x8000 ? -v : v;
}

/**
 * IEEE 754 binary32 bits to the number they denote.
 * @param bits - the 32 bits as an unsigned integer
 * @returns the value
 */
export function float32FromBits(bits: number): number {
  u32Scratch[0] = bits;
  return f32Scratch[0] as number;
}

/**
 * IEEE 754 binary64 bits to the number they denote.
 * @param hi - the high 32 bits, unsigned
 * @param lo - the low 32 bits, unsigned
 * @returns the value
 */
export function float64FromBits(hi: number, lo: number): number {
  f64View.setUint32(0, hi);
  f64View.setUint32(4, lo);
  return f64View.getFloat64(0);
}

/**
 * Whether the argument just read with additional information `ai` is in its shortest form
 * (RFC 8949 §4.2.1): a value that fits a shorter head is not.
 * @param ai - additional information 0..27 of the head
 * @param value - the argument as {@link CborReader.argument} returned it
 * @param hi - {@link CborReader.hi} after that read (used for 8-byte arguments)
 * @returns true when no shorter head holds `value`
 */
export function isShortestArgument(ai: number, value: number, hi: number): boolean {
  switch (ai) {
    case 24:
      return value >= 24;
    case 25:
      return value >= 0x100;
    case 26:
      return value >= 0x10000;
    case 27:
      return hi !== 0;
    default:
      return true;
  }
}

/** What a {@link CborReader.simple} read returns for a break (0xff); callers decide if it is allowed. */
export const BREAK: unique symbol = Symbol('break');

/** A simple value with no JavaScript counterpart (RFC 8949 §3.3): 0..19, or 32..255 in two-byte form. */
export class SimpleValue {
  /** @param value - the simple value number, 0..255 */
  constructor(readonly value: number) {}
}

/** A major-type-7 item decoded without policy: `false`, `true`, `null`, `undefined`, a float, another simple value, or a break. */
export type SimpleItem = boolean | null | undefined | number | SimpleValue | typeof BREAK;

/**
 * The error for additional information 28..30, which no head may carry (RFC 8949 §3).
 * @param ib - the initial byte
 * @param at - its offset
 * @returns a `CBOR_RESERVED` error
 */
export function reservedInfo(ib: number, at: number): ProtocolError {
  return new ProtocolError('CBOR_RESERVED', `reserved additional information ${ib & 31} (byte ${hexByte(ib)} at offset ${at})`);
}

/** What a head cut short was, for the truncation message. */
function headWhat(ib: number): string {
  if (ib >>> 5 === 7) {
    switch (ib & 31) {
      case 24:
        return 'a two-byte simple value';
      case 25:
        return 'a half-precision float';
      case 26:
        return 'a single-precision float';
      case 27:
        return 'a double-precision float';
    }
  }
  return `the head of ${majorWithArticle(ib >>> 5)}`;
}

/**
 * Decodes UTF-8 text (RFC 3629, no BOM stripping), with a fast path for short ASCII.
 * @param data - the bytes holding the text
 * @param from - index of its first byte
 * @param to - index just past its last byte
 * @param at - offset of the text string's head, for the message
 * @returns the text
 * @throws {ProtocolError} `CBOR_INVALID_UTF8` if the bytes are not valid UTF-8
 */
export function decodeUtf8(data: Uint8Array, from: number, to: number, at: number): string {
  const n = to - from;
  if (n < 32) {
    const codes = new Array<number>(n);
    let i = 0;
    for (; i < n; i++) {
      const c = data[from + i] as number;
      if (c >= 0x80) break;
      codes[i] = c;
    }
    if (i === n) return String.fromCharCode.apply(null, codes);
  }
  try {
    return utf8.decode(data.subarray(from, to));
  } catch (cause) {
    throw new ProtocolError('CBOR_INVALID_UTF8', `text string at offset ${at} is not valid UTF-8`, { cause });
  }
}

/**
 * A cursor over CBOR input. Every read checks the bytes left before it reads; a read that would
 * pass {@link CborReader.end} throws `CBOR_TRUNCATED`, or `CBOR_TOO_LARGE` when it is the
 * item-size bound set by {@link CborReader.reset} that stops it.
 */
export class CborReader {
  /** The input. */
  data: Uint8Array = EMPTY;
  /** Index of the next byte to read. */
  pos = 0;
  /** Where reading must stop: the input end or the item-size bound, whichever comes first. */
  end = 0;
  /** The input end. */
  inputEnd = 0;
  /** Index the current item may not reach past (`Infinity` when unbounded). */
  limitEnd = Number.POSITIVE_INFINITY;
  /** The item-size bound in bytes, for messages. */
  limitBytes = Number.POSITIVE_INFINITY;
  /** High 32 bits of the last argument read with 24..27 (0 below 8-byte arguments). */
  hi = 0;
  /** Low 32 bits of the last argument read with 24..27 (for floats: their bits). */
  lo = 0;

  /** @param data - input to read from its start to its end (or call {@link CborReader.reset} later) */
  constructor(data?: Uint8Array) {
    if (data !== undefined) this.reset(data, 0);
  }

  /**
   * Points the reader at `data[pos..]`.
   * @param data - the input
   * @param pos - index of the first byte to read
   * @param limitBytes - bound on the bytes one item starting at `pos` may span (default none)
   */
  reset(data: Uint8Array, pos: number, limitBytes = Number.POSITIVE_INFINITY): void {
    this.data = data;
    this.pos = pos;
    this.inputEnd = data.length;
    this.limitBytes = limitBytes;
    this.limitEnd = pos + limitBytes;
    this.end = Math.min(data.length, this.limitEnd);
  }

  /** Drops the reference to the input (so a long-lived reader does not keep it alive); keeps {@link pos}. */
  release(): void {
    this.data = EMPTY;
    this.end = 0;
    this.inputEnd = 0;
  }

  /**
   * The error for needing `need` bytes from offset `at` when fewer remain before {@link end}.
   * @param at - offset the needed bytes are counted from (usually the item's head)
   * @param need - bytes needed from `at`
   * @param what - what was being read, e.g. `"a map of 3 entries"`
   * @returns `CBOR_TOO_LARGE` if the item-size bound is what stops the read, else `CBOR_TRUNCATED`
   */
  truncated(at: number, need: number, what: string): ProtocolError {
    if (at + need > this.limitEnd) {
      return new ProtocolError('CBOR_TOO_LARGE', `${what} at offset ${at} reaches past the ${this.limitBytes}-byte item limit`);
    }
    const have = Math.max(0, this.inputEnd - at);
    return new ProtocolError(
      'CBOR_TRUNCATED',
      `input ends inside ${what} at offset ${at}: it needs at least ${Number.isFinite(need) ? need : 'over 2^53'} bytes from there, ${have} left`,
    );
  }

  /**
   * Reads one initial byte.
   * @param what - what the byte begins, for the truncation message
   * @returns the initial byte
   * @throws {ProtocolError} `CBOR_TRUNCATED` (or `CBOR_TOO_LARGE`) at the end
   */
  initialByte(what: string): number {
    const p = this.pos;
    if (p >= this.end) throw this.truncated(p, 1, what);
    this.pos = p + 1;
    return this.data[p] as number;
  }

  /**
   * Reads the argument of the head whose initial byte `ib` is at `start` ({@link pos} just past
   * it). Additional information below 24 is the argument itself; 24..27 read 1, 2, 4 or 8 more
   * bytes and set {@link lo} (and {@link hi}) to their bits.
   * @param ib - the initial byte
   * @param start - its offset
   * @returns the argument, exact below 2^53; `Infinity` from 2^53 on (see {@link argumentBig})
   * @throws {ProtocolError} `CBOR_TRUNCATED` (or `CBOR_TOO_LARGE`) if the head is cut;
   *   `CBOR_RESERVED` for 28..30, and for 31 (callers that allow indefinite lengths or breaks
   *   handle 31 first)
   */
  argument(ib: number, start: number): number {
    const ai = ib & 31;
    if (ai < 24) return ai;
    const d = this.data;
    const p = this.pos;
    switch (ai) {
      case 24: {
        if (p + 1 > this.end) throw this.truncated(start, 2, headWhat(ib));
        this.pos = p + 1;
        this.hi = 0;
        this.lo = d[p] as number;
        return this.lo;
      }
      case 25: {
        if (p + 2 > this.end) throw this.truncated(start, 3, headWhat(ib));
        this.pos = p + 2;
        this.hi = 0;
        this.lo = ((d[p] as number) << 8) | (d[p + 1] as number);
        return this.lo;
      }
      case 26: {
        if (p + 4 > this.end) throw this.truncated(start, 5, headWhat(ib));
        this.pos = p + 4;
        this.hi = 0;
        this.lo = readU32(d, p);
        return this.lo;
      }
      case 27: {
        if (p + 8 > this.end) throw this.truncated(start, 9, headWhat(ib));
        this.pos = p + 8;
        const hi = readU32(d, p);
        this.hi = hi;
        this.lo = readU32(d, p + 4);
        return hi >= 0x200000 ? Number.POSITIVE_INFINITY : hi * TWO_32 + this.lo;
      }
      case 31:
        throw new ProtocolError(
          'CBOR_RESERVED',
          `additional information 31 is not valid for ${majorWithArticle(ib >>> 5)} (byte ${hexByte(ib)} at offset ${start})`,
        );
      default:
        throw reservedInfo(ib, start);
    }
  }

  /**
   * The exact value of an argument returned by {@link argument} (call before the next read).
   * @param value - what {@link argument} returned
   * @returns it as a bigint, exact up to 2^64-1
   */
  argumentBig(value: number): bigint {
    if (value !== Number.POSITIVE_INFINITY) return BigInt(value);
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  /**
   * The exact decimal text of an argument returned by {@link argument}, for messages.
   * @param value - what {@link argument} returned
   * @returns e.g. `"18446744073709551615"`
   */
  argumentText(value: number): string {
    return value === Number.POSITIVE_INFINITY ? this.argumentBig(value).toString() : String(value);
  }

  /**
   * Checks that `n` more bytes are there, without reading them.
   * @param n - bytes needed from {@link pos} (may be `Infinity`)
   * @param start - offset of the item's head, for the message
   * @param what - what the bytes belong to, for the message
   * @throws {ProtocolError} `CBOR_TRUNCATED` (or `CBOR_TOO_LARGE`) if fewer are left
   */
  room(n: number, start: number, what: string): void {
    if (n > this.end - this.pos) throw this.truncated(start, this.pos - start + n, what);
  }

  /**
   * Takes `n` bytes (a view of the input, no copy) after checking they are there.
   * @param n - how many (may be `Infinity`: then it throws)
   * @param start - offset of the item's head, for the message
   * @param what - what the bytes are, for the message
   * @returns `data[pos .. pos+n)`
   * @throws {ProtocolError} `CBOR_TRUNCATED` (or `CBOR_TOO_LARGE`) if fewer are left
   */
  take(n: number, start: number, what: string): Uint8Array {
    this.room(n, start, what);
    const p = this.pos;
    this.pos = p + n;
    return this.data.subarray(p, p + n);
  }

  /**
   * Reads the head of the next chunk of the indefinite-length byte (major 2) or text (major 3)
   * string whose head is at `start` (RFC 8949 §3.2.3): a definite-length string of the same major
   * type, or the break that ends the string. Read the chunk's bytes with
   * `take(argument(ib, chunkStart), chunkStart, …)`.
   * @param major - 2 or 3
   * @param start - offset of the indefinite-length string's head, for messages
   * @returns the chunk's initial byte, or -1 at the break
   * @throws {ProtocolError} `CBOR_TRUNCATED` (or `CBOR_TOO_LARGE`) at the end of the input;
   *   `CBOR_RESERVED` for a chunk of another major type or a nested indefinite-length chunk
   */
  chunkHead(major: number, start: number): number {
    const at = this.pos;
    const kind = major === 2 ? 'byte' : 'text';
    const ib = this.initialByte(`the indefinite-length ${kind} string at offset ${start}`);
    if (ib === 0xff) return -1;
    if (ib >>> 5 !== major) {
      throw new ProtocolError(
        'CBOR_RESERVED',
        `chunk of major type ${ib >>> 5} (${MAJOR_NAMES[ib >>> 5]}) at offset ${at} inside the indefinite-length ${kind} string at offset ${start}`,
      );
    }
    if ((ib & 31) === 31) {
      throw new ProtocolError(
        'CBOR_RESERVED',
        `nested indefinite-length chunk at offset ${at} inside the indefinite-length ${kind} string at offset ${start}`,
      );
    }
    return ib;
  }

  /**
   * Decodes a major-type-7 item without policy: RFC 8949 §3.3 simple values and floats.
   * For floats, {@link lo} (and {@link hi}) keep the encoded bits for shortest-form checks.
   * @param ib - the initial byte (major type 7), {@link pos} just past it
   * @param start - its offset
   * @returns `false`/`true`/`null`/`undefined` (20..23), a {@link SimpleValue} (0..19, and the
   *   byte after 0xf8 whatever it is: callers that render it check it is at least 32), a number
   *   (25..27), or {@link BREAK} (31)
   * @throws {ProtocolError} `CBOR_TRUNCATED` (or `CBOR_TOO_LARGE`) if cut; `CBOR_RESERVED` for 28..30
   */
  simple(ib: number, start: number): SimpleItem {
    const ai = ib & 31;
    if (ai < 20) return new SimpleValue(ai);
    switch (ai) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 24:
        return new SimpleValue(this.argument(ib, start));
      case 25:
        return halfToNumber(this.argument(ib, start));
      case 26:
        return float32FromBits(this.argument(ib, start));
      case 27:
        this.argument(ib, start);
        return float64FromBits(this.hi, this.lo);
      case 31:
        return BREAK;
      default:
        throw reservedInfo(ib, start);
    }
  }

  /**
   * The wire protocol's simple-value policy, shared by the strict and the lenient decoder: only
   * false, true and null (and floats) exist. Call for additional information 0..19, 23 and 24.
   * @param ai - additional information of the 0xe0..0xf8 byte at `start`
   * @param start - its offset
   * @returns a `CBOR_UNSUPPORTED_SIMPLE` error naming the value
   */
  unsupportedSimple(ai: number, start: number): ProtocolError {
    if (ai === 23) {
      return new ProtocolError('CBOR_UNSUPPORTED_SIMPLE', `undefined (0xf7) at offset ${start} is not allowed`);
    }
    if (ai === 24) {
      const next = start + 1 < this.inputEnd ? (this.data[start + 1] as number).toString(16).padStart(2, '0') : '';
      return new ProtocolError(
        'CBOR_UNSUPPORTED_SIMPLE',
        `two-byte simple value (0xf8${next}) at offset ${start} is not allowed`,
      );
    }
    return new ProtocolError('CBOR_UNSUPPORTED_SIMPLE', `simple value ${ai} at offset ${start} is not allowed`);
  }
}

function readU32(d: Uint8Array, p: number): number {
  return (((d[p] as number) << 24) | ((d[p + 1] as number) << 16) | ((d[p + 2] as number) << 8) | (d[p + 3] as number)) >>> 0;
}
