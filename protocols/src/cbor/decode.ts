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
 * @module
 */

import { allocBytes } from '../bytes.ts';
import { ProtocolError } from '../errors.ts';
import { halfBits } from './encode.ts';
import type { CborKey, CborMap, CborValue, DecodeOptions } from './types.ts';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, DEFAULT_MAX_ITEMS, Tagged } from './types.ts';

const TWO_32 = 0x1_0000_0000;
const EMPTY = new Uint8Array(0);
const NO_TAGS: ReadonlySet<number> = new Set<number>();
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const f64View = new DataView(new ArrayBuffer(8));
const u32Scratch = new Uint32Array(1);
const f32Scratch = new Float32Array(u32Scratch.buffer);
const MAJOR_NAMES = [
  'unsigned integer',
  'negative integer',
  'byte string',
  'text string',
  'array',
  'map',
  'tag',
  'simple value or float',
];

// Decoder state (the decoder never calls user code, so one set of module-level state suffices).
let data: Uint8Array = EMPTY;
let pos = 0;
/** Where reading must stop: the input end, or the `maxBytes` bound of {@link decodePrefix}. */
let end = 0;
/** The input end. */
let inputEnd = 0;
/** Index the current item may not reach past: `offset + maxBytes` in {@link decodePrefix}. */
let limitEnd = 0;
let maxDepth = DEFAULT_MAX_DEPTH;
let maxItems = DEFAULT_MAX_ITEMS;
let maxBytes = DEFAULT_MAX_BYTES;
let allowedTags: ReadonlySet<number> = NO_TAGS;
/** High and low 32 bits of the last 8-byte argument, for exact messages. */
let argHi = 0;
let argLo = 0;

/** The name of a major type with its indefinite article, e.g. "an unsigned integer". */
function article(major: number): string {
  const name = MAJOR_NAMES[major] as string;
  return `${name.startsWith('u') ? 'an' : 'a'} ${name}`;
}

function hex(b: number): string {
  return `0x${b.toString(16).padStart(2, '0')}`;
}

/** The error for needing `need` bytes at `at` when fewer remain before {@link end}. */
function short(at: number, need: number, what: string): ProtocolError {
  if (at + need > limitEnd) {
    return new ProtocolError('CBOR_TOO_LARGE', `${what} at offset ${at} reaches past the ${maxBytes}-byte item limit`);
  }
  const have = Math.max(0, inputEnd - at);
  return new ProtocolError(
    'CBOR_TRUNCATED',
    `input ends inside ${what} at offset ${at}: it needs at least ${need} bytes from there, ${have} left`,
  );
}

function nonShortest(at: number, value: number | bigint, used: number): ProtocolError {
  return new ProtocolError(
    'CBOR_NON_CANONICAL',
    `non-shortest head at offset ${at}: argument ${value} written with ${used} following byte${used === 1 ? '' : 's'} where a shorter head fits`,
  );
}

/** Exact text of the last 8-byte argument. */
function bigArgText(): string {
  return ((BigInt(argHi) << 32n) | BigInt(argLo)).toString();
}

/**
 * Reads the argument of the head at `start` whose additional information `ai` is 24..31 (bytes after
 * the initial byte). Returns Infinity for 8-byte values of 2^53 or more (all over every limit).
 */
function readArg(ai: number, start: number, major: number): number {
  const p = pos;
  switch (ai) {
    case 24: {
      if (p + 1 > end) throw short(start, 2, `the head of ${article(major)}`);
      const v = data[p] as number;
      if (v < 24) throw nonShortest(start, v, 1);
      pos = p + 1;
      return v;
    }
    case 25: {
      if (p + 2 > end) throw short(start, 3, `the head of ${article(major)}`);
      const v = ((data[p] as number) << 8) | (data[p + 1] as number);
      if (v < 0x100) throw nonShortest(start, v, 2);
      pos = p + 2;
      return v;
    }
    case 26: {
      if (p + 4 > end) throw short(start, 5, `the head of ${article(major)}`);
      const v =
        (((data[p] as number) << 24) |
          ((data[p + 1] as number) << 16) |
          ((data[p + 2] as number) << 8) |
          (data[p + 3] as number)) >>>
        0;
      if (v < 0x10000) throw nonShortest(start, v, 4);
      pos = p + 4;
      return v;
    }
    case 27: {
      if (p + 8 > end) throw short(start, 9, `the head of ${article(major)}`);
      argHi =
        (((data[p] as number) << 24) |
          ((data[p + 1] as number) << 16) |
          ((data[p + 2] as number) << 8) |
          (data[p + 3] as number)) >>>
        0;
      argLo =
        (((data[p + 4] as number) << 24) |
          ((data[p + 5] as number) << 16) |
          ((data[p + 6] as number) << 8) |
          (data[p + 7] as number)) >>>
        0;
      if (argHi === 0) throw nonShortest(start, argLo, 8);
      pos = p + 8;
      return argHi >= 0x200000 ? Number.POSITIVE_INFINITY : argHi * TWO_32 + argLo;
    }
    case 31:
      if (major >= 2 && major <= 5) {
        throw new ProtocolError(
          'CBOR_INDEFINITE_LENGTH',
          `indefinite-length ${MAJOR_NAMES[major]} at offset ${start} (only definite lengths are allowed)`,
        );
      }
      throw new ProtocolError(
        'CBOR_RESERVED',
        `additional information 31 is not valid for ${article(major)} (byte ${hex(data[start] as number)} at offset ${start})`,
      );
    default:
      throw new ProtocolError(
        'CBOR_RESERVED',
        `reserved additional information ${ai} (byte ${hex(data[start] as number)} at offset ${start})`,
      );
  }
}

/** An unsigned (`negative` false) or negative integer with an 8-byte argument. */
function readInt64(start: number, negative: boolean): number | bigint {
  const n = readArg(27, start, negative ? 1 : 0);
  if (negative) {
    // -1 - n is safe when n <= 2^53 - 2
    if (n <= Number.MAX_SAFE_INTEGER - 1) return -1 - n;
    return -1n - ((BigInt(argHi) << 32n) | BigInt(argLo));
  }
  if (n <= Number.MAX_SAFE_INTEGER) return n;
  return (BigInt(argHi) << 32n) | BigInt(argLo);
}

function tooDeep(at: number): ProtocolError {
  return new ProtocolError('CBOR_TOO_DEEP', `nesting deeper than ${maxDepth} levels at offset ${at}`);
}

function readItem(depth: number): CborValue {
  const start = pos;
  if (start >= end) throw short(start, 1, 'an item');
  const ib = data[start] as number;
  pos = start + 1;
  const ai = ib & 31;
  switch (ib >>> 5) {
    case 0:
      if (ai < 24) return ai;
      if (ai === 27) return readInt64(start, false);
      return readArg(ai, start, 0);
    case 1:
      if (ai < 24) return -1 - ai;
      if (ai === 27) return readInt64(start, true);
      return -1 - readArg(ai, start, 1);
    case 2: {
      const n = ai < 24 ? ai : readArg(ai, start, 2);
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
      const n = ai < 24 ? ai : readArg(ai, start, 3);
      checkStringLength(n, start, 'text string');
      return readText(n, start);
    }
    case 4: {
      const n = ai < 24 ? ai : readArg(ai, start, 4);
      if (depth >= maxDepth) throw tooDeep(start);
      if (n > maxItems) {
        throw new ProtocolError(
          'CBOR_TOO_LARGE',
          `array at offset ${start} declares ${n === Number.POSITIVE_INFINITY ? bigArgText() : n} items, over the limit of ${maxItems}`,
        );
      }
      if (n > end - pos) throw short(start, pos - start + n, `an array of ${n} items`);
      const arr = new Array<CborValue>(n);
      for (let i = 0; i < n; i++) arr[i] = readItem(depth + 1);
      return arr;
    }
    case 5: {
      const n = ai < 24 ? ai : readArg(ai, start, 5);
      if (depth >= maxDepth) throw tooDeep(start);
      if (n > maxItems) {
        throw new ProtocolError(
          'CBOR_TOO_LARGE',
          `map at offset ${start} declares ${n === Number.POSITIVE_INFINITY ? bigArgText() : n} entries, over the limit of ${maxItems}`,
        );
      }
      if (n > (end - pos) / 2) throw short(start, pos - start + 2 * n, `a map of ${n} entries`);
      return readMap(n, depth + 1);
    }
    case 6: {
      const tag = ai < 24 ? ai : readArg(ai, start, 6);
      if (!allowedTags.has(tag)) {
        throw new ProtocolError(
          'CBOR_UNSUPPORTED_TAG',
          `tag ${tag === Number.POSITIVE_INFINITY ? bigArgText() : tag} at offset ${start} is not allowed here`,
        );
      }
      if (depth >= maxDepth) throw tooDeep(start);
      return new Tagged(tag, readItem(depth + 1));
    }
    default:
      return readSimple(ai, start);
  }
}

function checkStringLength(n: number, start: number, what: string): void {
  if (n > maxBytes) {
    throw new ProtocolError(
      'CBOR_TOO_LARGE',
      `${what} at offset ${start} declares ${n === Number.POSITIVE_INFINITY ? bigArgText() : n} bytes, over the limit of ${maxBytes}`,
    );
  }
  if (n > end - pos) throw short(start, pos - start + n, `a ${what} of ${n} bytes`);
}

function readText(n: number, start: number): string {
  const p = pos;
  if (n < 32) {
    const codes = new Array<number>(n);
    let i = 0;
    for (; i < n; i++) {
      const c = data[p + i] as number;
      if (c >= 0x80) break;
      codes[i] = c;
    }
    if (i === n) {
      pos = p + n;
      return String.fromCharCode.apply(null, codes);
    }
  }
  let s: string;
  try {
    s = utf8.decode(data.subarray(p, p + n));
  } catch (cause) {
    throw new ProtocolError('CBOR_INVALID_UTF8', `text string at offset ${start} is not valid UTF-8`, {
      cause,
    });
  }
  pos = p + n;
  return s;
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
    if (ks >= end) throw short(ks, 1, 'a map key');
    const major = (data[ks] as number) >>> 5;
    if (major !== 0 && major !== 1 && major !== 3) {
      throw new ProtocolError(
        'CBOR_INVALID_KEY',
        `map key at offset ${ks} is ${article(major)}; keys must be integers or text strings`,
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

function halfToNumber(h: number): number {
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  let v: number;
  if (exp === 0) v = mant * 2 ** -24;
  else if (exp === 31) v = mant === 0 ? Number.POSITIVE_INFINITY : Number.NaN;
  else v = (mant + 1024) * 2 ** (exp - 25);
  return h & 0x8000 ? -v : v;
}

function checkFloat(v: number, start: number, form: string): void {
  if (Number.isNaN(v)) {
    throw new ProtocolError('CBOR_NON_CANONICAL', `NaN at offset ${start} encoded as ${form}; NaN must be encoded as f97e00`);
  }
  if (Number.isInteger(v) && !(v === 0 && 1 / v < 0)) {
    throw new ProtocolError('CBOR_NON_CANONICAL', `integral float ${v} at offset ${start}; encode as integer`);
  }
}

function readSimple(ai: number, start: number): CborValue {
  switch (ai) {
    case 20:
      return false;
    case 21:
      return true;
    case 22:
      return null;
    case 25: {
      const p = pos;
      if (p + 2 > end) throw short(start, 3, 'a half-precision float');
      const h = ((data[p] as number) << 8) | (data[p + 1] as number);
      pos = p + 2;
      if (h === 0x7e00) return Number.NaN;
      const v = halfToNumber(h);
      checkFloat(v, start, `f9${h.toString(16).padStart(4, '0')}`);
      return v;
    }
    case 26: {
      const p = pos;
      if (p + 4 > end) throw short(start, 5, 'a single-precision float');
      const bits =
        (((data[p] as number) << 24) |
          ((data[p + 1] as number) << 16) |
          ((data[p + 2] as number) << 8) |
          (data[p + 3] as number)) >>>
        0;
      pos = p + 4;
      u32Scratch[0] = bits;
      const v = f32Scratch[0] as number;
      checkFloat(v, start, 'a single-precision float');
      if (halfBits(bits) >= 0) {
        throw new ProtocolError(
          'CBOR_NON_CANONICAL',
          `float ${v} at offset ${start} is encoded as single precision but fits in half precision`,
        );
      }
      return v;
    }
    case 27: {
      const p = pos;
      if (p + 8 > end) throw short(start, 9, 'a double-precision float');
      for (let i = 0; i < 8; i++) f64View.setUint8(i, data[p + i] as number);
      pos = p + 8;
      const v = f64View.getFloat64(0);
      checkFloat(v, start, 'a double-precision float');
      if (Math.fround(v) === v) {
        throw new ProtocolError(
          'CBOR_NON_CANONICAL',
          `float ${v} at offset ${start} is encoded as double precision but fits in a shorter float`,
        );
      }
      return v;
    }
    case 23:
      throw new ProtocolError('CBOR_UNSUPPORTED_SIMPLE', `undefined (0xf7) at offset ${start} is not allowed`);
    case 24:
      throw new ProtocolError(
        'CBOR_UNSUPPORTED_SIMPLE',
        `two-byte simple value (0xf8${pos < inputEnd ? (data[pos] as number).toString(16).padStart(2, '0') : ''}) at offset ${start} is not allowed`,
      );
    case 31:
      throw new ProtocolError('CBOR_RESERVED', `stray break (0xff) at offset ${start}`);
    default:
      if (ai < 20) {
        throw new ProtocolError('CBOR_UNSUPPORTED_SIMPLE', `simple value ${ai} at offset ${start} is not allowed`);
      }
      throw new ProtocolError(
        'CBOR_RESERVED',
        `reserved additional information ${ai} (byte ${hex(0xe0 | ai)} at offset ${start})`,
      );
  }
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
    data = EMPTY;
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
  data = bytes;
  pos = 0;
  end = len;
  inputEnd = len;
  limitEnd = Number.POSITIVE_INFINITY; // the whole input is within maxBytes: short means truncated
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
  data = bytes;
  pos = offset;
  inputEnd = len;
  limitEnd = offset + maxBytes;
  end = Math.min(len, limitEnd);
  const value = readTop();
  return { value, end: pos };
}
