/**
 * Deterministic CBOR encoder: RFC 8949 §4.2.1 core deterministic encoding.
 *
 * - integer arguments and lengths in the shortest head (§4.2.1, preferred serialization §4.2.2);
 * - floats (non-integral numbers, -0, NaN, ±Infinity) in the shortest of half/single/double that
 *   keeps the value exactly; NaN only as `f97e00`;
 * - definite lengths only; map keys sorted by the bytewise order of their encodings;
 * - map keys are integers or text, duplicates after normalization (`1` and `1n`) are rejected.
 *
 * One growable module-level buffer is reused across calls; each call returns a fresh copy.
 *
 * @module
 */

import { copyBytes } from '../bytes.ts';
import { ProtocolError } from '../errors.ts';
import type { CborKey, CborMap, CborValue } from './types.ts';
import { Tagged } from './types.ts';

/** Nesting bound of the encoder: guards against cyclic values (a decoder would refuse far less). */
const MAX_ENCODE_DEPTH = 512;
/** Scratch buffers larger than this are dropped after use rather than kept for the next call. */
const KEEP_SCRATCH_BYTES = 1024 * 1024;

const TWO_32 = 0x1_0000_0000;
const MAX_U64 = (1n << 64n) - 1n;
const MIN_NEG64 = -(1n << 64n);
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE_BIG = -MAX_SAFE_BIG;

let buf = new Uint8Array(2048);
let view = new DataView(buf.buffer);
let pos = 0;
let depth = 0;

const utf8 = new TextEncoder();
const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

function grow(need: number): void {
  let size = buf.length * 2;
  while (size < need) size *= 2;
  const next = new Uint8Array(size);
  // Copy everything, not just [0, pos): writeString places content ahead of pos before its head.
  next.set(buf);
  buf = next;
  view = new DataView(buf.buffer);
}

/** Writes a head (major type + argument) for a non-negative safe integer argument. */
function writeHead(major: number, n: number): void {
  if (pos + 9 > buf.length) grow(pos + 9);
  const mt = major << 5;
  if (n < 24) {
    buf[pos++] = mt | n;
  } else if (n < 0x100) {
    buf[pos++] = mt | 24;
    buf[pos++] = n;
  } else if (n < 0x10000) {
    buf[pos++] = mt | 25;
    buf[pos++] = n >>> 8;
    buf[pos++] = n & 0xff;
  } else if (n < TWO_32) {
    buf[pos++] = mt | 26;
    view.setUint32(pos, n);
    pos += 4;
  } else {
    buf[pos++] = mt | 27;
    view.setUint32(pos, Math.floor(n / TWO_32));
    view.setUint32(pos + 4, n >>> 0);
    pos += 8;
  }
}

/** Writes a head with a 64-bit bigint argument (only called beyond the safe range). */
function writeHeadBig(major: number, n: bigint): void {
  if (pos + 9 > buf.length) grow(pos + 9);
  buf[pos++] = (major << 5) | 27;
  view.setBigUint64(pos, n);
  pos += 8;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name ? `object (${name})` : 'object';
  }
  return typeof value;
}

function writeNumber(v: number): void {
  if (Number.isInteger(v)) {
    if (v > 0) {
      if (v <= Number.MAX_SAFE_INTEGER) {
        writeHead(0, v);
        return;
      }
    } else if (v === 0) {
      if (1 / v > 0) {
        if (pos + 1 > buf.length) grow(pos + 1);
        buf[pos++] = 0x00;
      } else {
        writeFloat(v); // -0 is a float: f98000
      }
      return;
    } else if (v >= -Number.MAX_SAFE_INTEGER) {
      writeHead(1, -1 - v);
      return;
    }
    throw new ProtocolError(
      'CBOR_UNSUPPORTED_TYPE',
      `integral number ${v} at offset ${pos} is beyond the safe integer range; use bigint`,
    );
  }
  writeFloat(v);
}

/** Writes a non-integral number (or -0, NaN, ±Infinity) in its shortest exact float form (§4.2.2). */
function writeFloat(v: number): void {
  if (pos + 9 > buf.length) grow(pos + 9);
  if (Number.isNaN(v)) {
    buf[pos++] = 0xf9;
    buf[pos++] = 0x7e;
    buf[pos++] = 0x00;
    return;
  }
  f32Scratch[0] = v;
  if (f32Scratch[0] !== v) {
    buf[pos++] = 0xfb;
    view.setFloat64(pos, v);
    pos += 8;
    return;
  }
  const bits = u32Scratch[0] as number;
  const half = halfBits(bits);
  if (half >= 0) {
    buf[pos++] = 0xf9;
    buf[pos++] = half >>> 8;
    buf[pos++] = half & 0xff;
    return;
  }
  buf[pos++] = 0xfa;
  view.setUint32(pos, bits);
  pos += 4;
}

/**
 * Half-precision bits of the float32 with the given bits if the conversion is exact, else -1.
 * Exported for the decoder's shortest-form check.
 */
export function halfBits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) {
    // Infinity or NaN; NaN payloads are never produced here (NaN is written as f97e00).
    if (mant === 0) return sign | 0x7c00;
    return (mant & 0x1fff) === 0 ? sign | 0x7c00 | (mant >>> 13) : -1;
  }
  if (exp === 0) return mant === 0 ? sign : -1; // float32 subnormals are far below half range
  const e = exp - 127;
  if (e > 15) return -1;
  if (e >= -14) {
    return (mant & 0x1fff) === 0 ? sign | ((e + 15) << 10) | (mant >>> 13) : -1;
  }
  if (e < -24) return -1;
  // half subnormal: value = m * 2^-24, m = (1.mant) * 2^(e+24) = full >> -(e+1)
  const full = mant | 0x800000;
  const shift = -(e + 1);
  if ((full & ((1 << shift) - 1)) !== 0) return -1;
  return sign | (full >>> shift);
}

function writeBigInt(v: bigint): void {
  if (v >= 0n) {
    if (v <= MAX_SAFE_BIG) writeHead(0, Number(v));
    else if (v <= MAX_U64) writeHeadBig(0, v);
    else throw new ProtocolError('CBOR_TOO_LARGE', `bigint ${v} at offset ${pos} is above 2^64-1`);
  } else if (v >= MIN_SAFE_BIG) {
    writeHead(1, Number(-1n - v));
  } else if (v >= MIN_NEG64) {
    writeHeadBig(1, -1n - v);
  } else {
    throw new ProtocolError('CBOR_TOO_LARGE', `bigint ${v} at offset ${pos} is below -2^64`);
  }
}

type WellFormedString = string & { isWellFormed?: () => boolean };

function writeString(s: string): void {
  const len = s.length;
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  const max = len * 3;
  const headSize = max < 24 ? 1 : max < 0x100 ? 2 : max < 0x10000 ? 3 : max < TWO_32 ? 5 : 9;
  const need = pos + headSize + max;
  if (need > buf.length) grow(need);
  const start = pos + headSize;
  let n = 0;
  if (len < 64) {
    for (; n < len; n++) {
      const c = s.charCodeAt(n);
      if (c >= 0x80) break;
      buf[start + n] = c;
    }
  }
  if (n < len) {
    if ((s as WellFormedString).isWellFormed?.() === false) {
      throw new ProtocolError(
        'CBOR_INVALID_UTF8',
        `text string at offset ${pos} holds a lone surrogate and has no UTF-8 encoding`,
      );
    }
    n = utf8.encodeInto(s, buf.subarray(start)).written;
  }
  const realHead = n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < TWO_32 ? 5 : 9;
  if (realHead !== headSize) buf.copyWithin(pos + realHead, start, start + n);
  writeHead(3, n);
  pos += n;
}

function writeBytes(b: Uint8Array): void {
  const n = b.length;
  writeHead(2, n);
  if (pos + n > buf.length) grow(pos + n);
  if (n < 32) {
    for (let i = 0; i < n; i++) buf[pos + i] = b[i] as number;
  } else {
    buf.set(b, pos);
  }
  pos += n;
}

function writeValue(v: CborValue): void {
  switch (typeof v) {
    case 'number':
      writeNumber(v);
      return;
    case 'string':
      writeString(v);
      return;
    case 'boolean':
      if (pos + 1 > buf.length) grow(pos + 1);
      buf[pos++] = v ? 0xf5 : 0xf4;
      return;
    case 'bigint':
      writeBigInt(v);
      return;
    case 'object':
      if (v === null) {
        if (pos + 1 > buf.length) grow(pos + 1);
        buf[pos++] = 0xf6;
        return;
      }
      if (v instanceof Uint8Array) {
        writeBytes(v);
        return;
      }
      if (Array.isArray(v)) {
        enter();
        const n = v.length;
        writeHead(4, n);
        for (let i = 0; i < n; i++) writeValue(v[i] as CborValue);
        depth--;
        return;
      }
      if (v instanceof Map) {
        enter();
        writeMap(v);
        depth--;
        return;
      }
      if (v instanceof Tagged) {
        const tag = v.tag;
        if (!Number.isSafeInteger(tag) || tag < 0) {
          throw new ProtocolError(
            'CBOR_UNSUPPORTED_TAG',
            `tag number ${String(tag)} at offset ${pos} is not a non-negative safe integer`,
          );
        }
        enter();
        writeHead(6, tag);
        writeValue(v.value);
        depth--;
        return;
      }
      break;
    default:
      break;
  }
  throw new ProtocolError(
    'CBOR_UNSUPPORTED_TYPE',
    `value of type ${describe(v)} at offset ${pos} has no CBOR encoding here (only numbers, bigints, strings, Uint8Array, booleans, null, arrays, Map and Tagged)`,
  );
}

function enter(): void {
  if (++depth > MAX_ENCODE_DEPTH) {
    throw new ProtocolError(
      'CBOR_TOO_DEEP',
      `value nests deeper than ${MAX_ENCODE_DEPTH} levels at offset ${pos} (cyclic value?)`,
    );
  }
}

function isUintKey(k: unknown): k is number {
  return typeof k === 'number' && k >= 0 && k <= Number.MAX_SAFE_INTEGER && Number.isInteger(k);
}

function writeKey(k: CborKey): void {
  if (typeof k === 'string') writeString(k);
  else if (typeof k === 'number' && Number.isInteger(k)) writeNumber(k);
  else if (typeof k === 'bigint') writeBigInt(k);
  else {
    throw new ProtocolError(
      'CBOR_INVALID_KEY',
      `map key ${typeof k === 'number' ? String(k) : describe(k)} at offset ${pos} is neither an integer nor a text string`,
    );
  }
}

function duplicateKey(k: unknown, at: number): ProtocolError {
  const shown = typeof k === 'string' ? JSON.stringify(k) : String(k);
  return new ProtocolError('CBOR_DUPLICATE_KEY', `duplicate map key ${shown} at offset ${at}`);
}

function writeMap(m: CborMap): void {
  const size = m.size;
  writeHead(5, size);
  if (size === 0) return;
  // Fast path, one pass: keys are non-negative safe integers in ascending order, for which numeric
  // order is the bytewise order of the shortest encodings (a shorter head is a smaller number;
  // equal-length heads are big-endian). On the first other key, rewind and take a sorting path.
  const entriesStart = pos;
  let prev = -1;
  let inOrder = true;
  for (const [k, v] of m) {
    if (typeof k !== 'number' || !(k > prev) || k > Number.MAX_SAFE_INTEGER || !Number.isInteger(k)) {
      inOrder = false;
      break;
    }
    prev = k;
    if (k < 24) {
      if (pos >= buf.length) grow(pos + 1);
      buf[pos++] = k;
    } else {
      writeHead(0, k);
    }
    writeValue(v);
  }
  if (inOrder) return;
  pos = entriesStart;
  let allUint = true;
  for (const k of m.keys()) {
    if (!isUintKey(k)) {
      allUint = false;
      break;
    }
  }
  if (allUint) {
    const keys = Array.from(m.keys()) as number[];
    keys.sort(numericAscending);
    for (let i = 0; i < size; i++) {
      const k = keys[i] as number;
      writeHead(0, k);
      writeValue(m.get(k) as CborValue);
    }
    return;
  }
  writeMapGeneral(m, size);
}

function numericAscending(a: number, b: number): number {
  return a - b;
}

/** General path: encode every key once, sort by encoded bytes, then emit key bytes + value. */
function writeMapGeneral(m: CborMap, size: number): void {
  const keysStart = pos;
  const starts = new Array<number>(size + 1);
  const keys = new Array<CborKey>(size);
  let i = 0;
  for (const k of m.keys()) {
    starts[i] = pos;
    keys[i] = k;
    writeKey(k);
    i++;
  }
  starts[size] = pos;
  const keyBytes = copyBytes(buf, keysStart, pos);
  const order = new Array<number>(size);
  for (let j = 0; j < size; j++) order[j] = j;
  const cmp = (a: number, b: number): number => {
    const as = (starts[a] as number) - keysStart;
    const ae = (starts[a + 1] as number) - keysStart;
    const bs = (starts[b] as number) - keysStart;
    const be = (starts[b + 1] as number) - keysStart;
    const la = ae - as;
    const lb = be - bs;
    const l = Math.min(la, lb);
    for (let x = 0; x < l; x++) {
      const d = (keyBytes[as + x] as number) - (keyBytes[bs + x] as number);
      if (d !== 0) return d;
    }
    return la - lb;
  };
  order.sort(cmp);
  pos = keysStart;
  for (let j = 0; j < size; j++) {
    const o = order[j] as number;
    if (j > 0 && cmp(order[j - 1] as number, o) === 0) throw duplicateKey(keys[o], pos);
    const s = (starts[o] as number) - keysStart;
    const e = (starts[o + 1] as number) - keysStart;
    const n = e - s;
    if (pos + n > buf.length) grow(pos + n);
    buf.set(keyBytes.subarray(s, e), pos);
    pos += n;
    writeValue(m.get(keys[o] as CborKey) as CborValue);
  }
}

/**
 * Encodes a value in RFC 8949 §4.2.1 core deterministic encoding.
 *
 * @param value - the value to encode
 * @returns a fresh byte array (never a view of shared memory)
 * @throws ProtocolError `CBOR_UNSUPPORTED_TYPE` (plain object, undefined, function, symbol, other
 *   typed arrays, integral number beyond the safe range), `CBOR_TOO_LARGE` (bigint outside
 *   [-2^64, 2^64-1]), `CBOR_INVALID_KEY`, `CBOR_DUPLICATE_KEY`, `CBOR_INVALID_UTF8` (lone
 *   surrogate), `CBOR_UNSUPPORTED_TAG` (tag number not a non-negative safe integer),
 *   `CBOR_TOO_DEEP` (more than 512 nesting levels, e.g. a cyclic value)
 */
export function encode(value: CborValue): Uint8Array {
  pos = 0;
  depth = 0;
  try {
    writeValue(value);
    return copyBytes(buf, 0, pos);
  } finally {
    if (buf.length > KEEP_SCRATCH_BYTES) {
      buf = new Uint8Array(2048);
      view = new DataView(buf.buffer);
    }
    pos = 0;
  }
}
