/**
 * Strict CBOR decoder for untrusted bytes: accepts exactly the RFC 8949 §4.2.1 core deterministic
 * encodings that {@link encode} produces, and nothing else.
 *
 * Rejected, each with its own `ProtocolError` code and the byte offset in the message:
 * empty or cut input (`CBOR_TRUNCATED`), bytes after the item (`CBOR_TRAILING_BYTES`), duplicate
 * keys (`CBOR_DUPLICATE_KEY`), keys out of bytewise order (`CBOR_UNSORTED_KEYS`), indefinite lengths
 * (`CBOR_INDEFINITE_LENGTH`), additional information 28..30, a stray break or 31 on major 0/1/6
 * (`CBOR_RESERVED`), non-shortest heads, floats not in their shortest form, NaN other than `f97e00`
 * and integral floats other than -0 (`CBOR_NON_CANONICAL`), simple values other than
 * false/true/null (`CBOR_UNSUPPORTED_SIMPLE`), tags outside `allowedTags` (`CBOR_UNSUPPORTED_TAG`),
 * keys other than integers and text (`CBOR_INVALID_KEY`), invalid UTF-8 (`CBOR_INVALID_UTF8`),
 * nesting over `maxDepth` (`CBOR_TOO_DEEP`), lengths over `maxItems`/`maxBytes` (`CBOR_TOO_LARGE`).
 *
 * Declared lengths are checked against the limits and the remaining input before anything is
 * allocated. Hence for every accepted input `b`, `encode(decode(b))` is byte-equal to `b`.
 *
 * Heads, arguments, floats, simple values, UTF-8 and truncation errors come from the shared
 * reader (`reader.ts`, also under the lenient COSE decoder and the diagnostic renderer); this
 * module adds the strict policy and keeps the one-byte-head fast path inline for speed.
 *
 * @module
 */

import { allocBytes } from '../bytes.ts';
import { ProtocolError } from '../errors.ts';
import { halfBits } from './encode.ts';
import { BREAK, CborReader, decodeUtf8, isShortestArgument, MAJOR_NAMES, majorWithArticle } from './reader.ts';
import type { CborKey, CborMap, CborValue, DecodeOptions } from './types.ts';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, DEFAULT_MAX_ITEMS, Tagged } from './types.ts';

const NO_TAGS: ReadonlySet<number> = new Set<number>();

// Decoder state (the decoder never calls user code, so one reader and one set of bounds suffice).
const r = new CborReader();
// The hot path keeps its own copies of the reader's input, position and end (module-level
// variables are faster than object fields here); `r.pos` is synced around the shared helpers.
let data: Uint8Array = r.data;
let pos = 0;
let end = 0;
let maxDepth = DEFAULT_MAX_DEPTH;
let maxItems = DEFAULT_MAX_ITEMS;
let maxBytes = DEFAULT_MAX_BYTES;
let allowedTags: ReadonlySet<number> = NO_TAGS;

function nonShortest(at: number, value: number, used: number): ProtocolError {
  return new ProtocolError(
    'CBOR_NON_CANONICAL',
    `non-shortest head at offset ${at}: argument ${value} written with ${used} following byte${used === 1 ? '' : 's'} where a shorter head fits`,
  );
}

/**
 * Reads the argument of the head at `start` whose additional information is 24..31, enforcing
 * the strict policy: definite lengths and shortest heads only. Returns Infinity for 8-byte values
 * of 2^53 or more (all over every limit; exact text via `r.argumentText`).
 */
function readArg(ib: number, start: number): number {
  const ai = ib & 31;
  if (ai === 31 && ib >= 0x40 && ib < 0xc0) {
    throw new ProtocolError(
      'CBOR_INDEFINITE_LENGTH',
      `indefinite-length ${MAJOR_NAMES[ib >>> 5]} at offset ${start} (only definite lengths are allowed)`,
    );
  }
  r.pos = pos;
  const v = r.argument(ib, start);
  pos = r.pos;
  if (!isShortestArgument(ai, v, r.hi)) throw nonShortest(start, v, 1 << (ai - 24));
  return v;
}

/** An unsigned (major 0) or negative (major 1) integer with an 8-byte argument. */
function readInt64(ib: number, start: number): number | bigint {
  const n = readArg(ib, start);
  if (ib >= 0x20) {
    // -1 - n is safe when n <= 2^53 - 2
    if (n <= Number.MAX_SAFE_INTEGER - 1) return -1 - n;
    return -1n - r.argumentBig(n);
  }
  if (n <= Number.MAX_SAFE_INTEGER) return n;
  return r.argumentBig(n);
}

function tooDeep(at: number): ProtocolError {
  return new ProtocolError('CBOR_TOO_DEEP', `nesting deeper than ${maxDepth} levels at offset ${at}`);
}

function readItem(depth: number): CborValue {
  const start = pos;
  if (start >= end) throw r.truncated(start, 1, 'an item');
  const ib = data[start] as number;
  pos = start + 1;
  const ai = ib & 31;
  switch (ib >>> 5) {
    case 0:
      if (ai < 24) return ai;
      if (ai === 27) return readInt64(ib, start);
      return readArg(ib, start);
    case 1:
      if (ai < 24) return -1 - ai;
      if (ai === 27) return readInt64(ib, start);
      return -1 - readArg(ib, start);
    case 2: {
      const n = ai < 24 ? ai : readArg(ib, start);
      checkStringLength(n, start, 'byte string');
      const p = pos;
      const out = allocBytes(n);
      if (n < 32) {
        for (let i = 0; i < n; i++) out[i] = data[p + i] as number;
      } else {
        out.set(data.subarray(p, p + n));
      }
      pos = p + n;
      return out;
    }
    case 3: {
      const n = ai < 24 ? ai : readArg(ib, start);
      checkStringLength(n, start, 'text string');
      const p = pos;
      const s = decodeUtf8(data, p, p + n, start);
      pos = p + n;
      return s;
    }
    case 4: {
      const n = readCount(ib, start, depth);
      const arr = new Array<CborValue>(n);
      for (let i = 0; i < n; i++) arr[i] = readItem(depth + 1);
      return arr;
    }
    case 5: {
      const n = readCount(ib, start, depth);
      return readMap(n, depth + 1);
    }
    case 6: {
      const tag = ai < 24 ? ai : readArg(ib, start);
      if (!allowedTags.has(tag)) {
        throw new ProtocolError('CBOR_UNSUPPORTED_TAG', `tag ${r.argumentText(tag)} at offset ${start} is not allowed here`);
      }
      if (depth >= maxDepth) throw tooDeep(start);
      return new Tagged(tag, readItem(depth + 1));
    }
    default:
      return readSimple(ib, start);
  }
}

/**
 * The count of the array (major 4) or map (major 5) whose head is at `start`, checked against
 * the depth bound, `maxItems` and the bytes left (every item takes at least one byte).
 */
function readCount(ib: number, start: number, depth: number): number {
  const ai = ib & 31;
  const n = ai < 24 ? ai : readArg(ib, start);
  if (depth >= maxDepth) throw tooDeep(start);
  const isMap = ib >= 0xa0;
  if (n > maxItems) {
    throw new ProtocolError(
      'CBOR_TOO_LARGE',
      `${isMap ? 'map' : 'array'} at offset ${start} declares ${r.argumentText(n)} ${isMap ? 'entries' : 'items'}, over the limit of ${maxItems}`,
    );
  }
  const least = isMap ? 2 * n : n;
  if (least > end - pos) {
    throw r.truncated(start, pos - start + least, isMap ? `a map of ${n} entries` : `an array of ${n} items`);
  }
  return n;
}

function checkStringLength(n: number, start: number, what: string): void {
  if (n > maxBytes) {
    throw new ProtocolError(
      'CBOR_TOO_LARGE',
      `${what} at offset ${start} declares ${r.argumentText(n)} bytes, over the limit of ${maxBytes}`,
    );
  }
  if (n > end - pos) throw r.truncated(start, pos - start + n, `a ${what} of ${n} bytes`);
}

function showKey(k: CborKey): string {
  if (typeof k !== 'string') return String(k);
  const j = JSON.stringify(k);
  return j.length > 42 ? `${j.slice(0, 40)}…"` : j;
}

function readMap(n: number, depth: number): CborMap {
  const m: CborMap = new Map();
  let prevStart = -1;
  let prevEnd = -1;
  for (let i = 0; i < n; i++) {
    const ks = pos;
    if (ks >= end) throw r.truncated(ks, 1, 'a map key');
    const major = (data[ks] as number) >>> 5;
    if (major !== 0 && major !== 1 && major !== 3) {
      throw new ProtocolError(
        'CBOR_INVALID_KEY',
        `map key at offset ${ks} is ${majorWithArticle(major)}; keys must be integers or text strings`,
      );
    }
    const key = readItem(depth) as CborKey;
    const ke = pos;
    if (prevStart >= 0) {
      const c = compareRanges(prevStart, prevEnd, ks, ke);
      if (c >= 0) {
        if (c === 0) {
          throw new ProtocolError('CBOR_DUPLICATE_KEY', `duplicate map key ${showKey(key)} at offset ${ks}`);
        }
        throw new ProtocolError(
          'CBOR_UNSORTED_KEYS',
          `map key ${showKey(key)} at offset ${ks} sorts before the previous key at offset ${prevStart}`,
        );
      }
    }
    m.set(key, readItem(depth));
    prevStart = ks;
    prevEnd = ke;
  }
  return m;
}

/** Bytewise lexicographic comparison of data[as, ae) and data[bs, be). */
function compareRanges(as: number, ae: number, bs: number, be: number): number {
  const la = ae - as;
  const lb = be - bs;
  const l = Math.min(la, lb);
  for (let i = 0; i < l; i++) {
    const d = (data[as + i] as number) - (data[bs + i] as number);
    if (d !== 0) return d;
  }
  return la - lb;
}

/**
 * The strict float policy (RFC 8949 §4.2.2 preferred serialization, §4.2.1 deterministic): NaN
 * only as f97e00, no integral floats but -0, and every float in its shortest width.
 */
function checkFloat(v: number, ai: number, start: number): number {
  const bits = r.lo;
  if (Number.isNaN(v)) {
    if (ai === 25 && bits === 0x7e00) return v;
    const form = ai === 25 ? `f9${bits.toString(16).padStart(4, '0')}` : `a ${ai === 26 ? 'single' : 'double'}-precision float`;
    throw new ProtocolError('CBOR_NON_CANONICAL', `NaN at offset ${start} encoded as ${form}; NaN must be encoded as f97e00`);
  }
  if (Number.isInteger(v) && !(v === 0 && 1 / v < 0)) {
    throw new ProtocolError('CBOR_NON_CANONICAL', `integral float ${v} at offset ${start}; encode as integer`);
  }
  if (ai === 26 && halfBits(bits) >= 0) {
    throw new ProtocolError(
      'CBOR_NON_CANONICAL',
      `float ${v} at offset ${start} is encoded as single precision but fits in half precision`,
    );
  }
  if (ai === 27 && Math.fround(v) === v) {
    throw new ProtocolError(
      'CBOR_NON_CANONICAL',
      `float ${v} at offset ${start} is encoded as double precision but fits in a shorter float`,
    );
  }
  return v;
}

/** Major type 7 under the strict policy: false, true, null and canonical floats only. */
function readSimple(ib: number, start: number): CborValue {
  const ai = ib & 31;
  if (ai < 20 || ai === 23 || ai === 24) throw r.unsupportedSimple(ai, start);
  r.pos = pos;
  const v = r.simple(ib, start);
  pos = r.pos;
  if (typeof v === 'number') return checkFloat(v, ai, start);
  if (v === BREAK) throw new ProtocolError('CBOR_RESERVED', `stray break (0xff) at offset ${start}`);
  return v as boolean | null;
}

function setup(bytes: unknown, options: DecodeOptions | undefined): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new ProtocolError('CBOR_UNSUPPORTED_TYPE', 'CBOR input must be a Uint8Array');
  }
  if (options === undefined) {
    maxDepth = DEFAULT_MAX_DEPTH;
    maxItems = DEFAULT_MAX_ITEMS;
    maxBytes = DEFAULT_MAX_BYTES;
    allowedTags = NO_TAGS;
  } else {
    maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    maxItems = options.maxItems ?? DEFAULT_MAX_ITEMS;
    maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    allowedTags = options.allowedTags ?? NO_TAGS;
  }
}

/** Points the reader and the hot-path copies at `bytes[offset..]`. */
function start(bytes: Uint8Array, offset: number, limitBytes: number): void {
  r.reset(bytes, offset, limitBytes);
  data = bytes;
  pos = offset;
  end = r.end;
}

/** Runs one top-level read, turning a host stack overflow (only with a huge maxDepth) into a typed error. */
function readTop(): CborValue {
  try {
    return readItem(0);
  } catch (err) {
    if (err instanceof RangeError) {
      throw new ProtocolError('CBOR_TOO_DEEP', `nesting too deep for the host stack near offset ${pos}`, {
        cause: err,
      });
    }
    throw err;
  } finally {
    r.release();
    data = r.data;
  }
}

/**
 * Decodes exactly one CBOR item that spans the whole input, enforcing every rule of the module.
 *
 * @param bytes - untrusted input
 * @param options - bounds and allowed tags (safe defaults)
 * @returns the value; byte strings are fresh copies, never views of `bytes`
 * @throws ProtocolError with a `CBOR_*` code; never any other error
 */
export function decode(bytes: Uint8Array, options?: DecodeOptions): CborValue {
  setup(bytes, options);
  const len = bytes.length;
  if (len > maxBytes) {
    throw new ProtocolError('CBOR_TOO_LARGE', `input of ${len} bytes starting at offset 0 is over the limit of ${maxBytes}`);
  }
  if (len === 0) throw new ProtocolError('CBOR_TRUNCATED', 'empty input at offset 0: one CBOR item expected');
  start(bytes, 0, Number.POSITIVE_INFINITY); // the whole input is within maxBytes: short means truncated
  const value = readTop();
  if (pos !== len) {
    throw new ProtocolError(
      'CBOR_TRAILING_BYTES',
      `${len - pos} trailing byte${len - pos === 1 ? '' : 's'} at offset ${pos} after the single top-level item`,
    );
  }
  return value;
}

/**
 * Decodes one CBOR item starting at `offset`, which need not end the input (for framing and
 * streams). The item itself may span at most `maxBytes` bytes.
 *
 * @param bytes - untrusted input
 * @param offset - index of the item's first byte
 * @param options - bounds and allowed tags (safe defaults)
 * @returns the value and `end`, the index just past the item
 * @throws ProtocolError with a `CBOR_*` code; never any other error
 */
export function decodePrefix(bytes: Uint8Array, offset: number, options?: DecodeOptions): { value: CborValue; end: number } {
  setup(bytes, options);
  const len = bytes.length;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset >= len) {
    throw new ProtocolError('CBOR_TRUNCATED', `no CBOR item at offset ${offset}: the input holds ${len} bytes`);
  }
  start(bytes, offset, maxBytes);
  const value = readTop();
  return { value, end: pos };
}
