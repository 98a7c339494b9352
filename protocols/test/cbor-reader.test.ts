/**
 * Tests of the shared low-level CBOR reader (protocols/src/cbor/reader.ts) under the strict
 * decoder, the lenient COSE decoder and the diagnostic renderer.
 *
 * Checks: RFC 8949 §3 heads for every initial byte (all 8 major types × additional information
 * 0..31: the argument and the bytes consumed, or CBOR_RESERVED for 28..31), truncation at every
 * position of a head, of a whole item and of every proper prefix for all three users
 * (CBOR_TRUNCATED, and CBOR_TOO_LARGE when an item-size bound cuts the read), half-precision
 * floats against cbor-x for all 65536 bit patterns plus named edge cases (RFC 8949 Appendix D),
 * single/double bits, §3.3 simple values, and UTF-8 (RFC 3629).
 */

import type { ExecutionContext } from 'ava';
import test from 'ava';
import { decode as cborxDecode } from 'cbor-x';
import { decode, decodePrefix, encode, Tagged, toDiagnostic } from '../src/cbor/index.ts';
import {
  BREAK,
  CborReader,
  decodeUtf8,
  float32FromBits,
  float64FromBits,
  halfToNumber,
  isShortestArgument,
  SimpleValue,
} from '../src/cbor/reader.ts';
import { decodeLenient } from '../src/cose/lenient.ts';
import { ProtocolError } from '../src/errors.ts';

const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

/** Bytes after the initial byte for additional information `ai` (0..27). */
const argSize = (ai: number): number => (ai < 24 ? 0 : 1 << (ai - 24));

/** Big-endian unsigned integer of `b[from, from+n)`, as a bigint (the reference). */
function beBig(b: Uint8Array, from: number, n: number): bigint {
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(b[from + i] as number);
  return v;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    throw e;
  }
  return 'OK';
}

test('argument: every initial byte 0x00..0xff (8 major types × additional information 0..31)', (t) => {
  const tails = [bytes('0102030405060708'), bytes('ffffffffffffffff'), bytes('0000000000000000'), bytes('0020000000000000')];
  for (let ib = 0; ib < 256; ib++) {
    const ai = ib & 31;
    for (const tail of tails) {
      const input = new Uint8Array([0x99, ib, ...tail]);
      const r = new CborReader(input);
      r.pos = 2;
      if (ai >= 28) {
        const err = t.throws(() => r.argument(ib, 1), { instanceOf: ProtocolError }) as ProtocolError;
        t.is(err.code, 'CBOR_RESERVED', `ib ${ib}`);
        t.regex(err.message, /offset 1/);
        t.is(r.pos, 2, 'nothing consumed on error');
        continue;
      }
      const size = argSize(ai);
      const expected = size === 0 ? BigInt(ai) : beBig(input, 2, size);
      const v = r.argument(ib, 1);
      t.is(r.pos, 2 + size, `ib ${ib}: consumed ${size} bytes`);
      t.is(r.argumentBig(v), expected, `ib ${ib}`);
      t.is(r.argumentText(v), expected.toString());
      if (expected <= BigInt(Number.MAX_SAFE_INTEGER)) t.is(v, Number(expected));
      else t.is(v, Number.POSITIVE_INFINITY, 'from 2^53 on the number form is Infinity');
      if (size > 0) t.is(r.lo, Number(beBig(input, 2 + Math.max(0, size - 4), Math.min(size, 4))), 'lo holds the low bits');
    }
  }
});

test('argument: 8-byte boundaries at 2^53 and 2^64 - 1', (t) => {
  const r = new CborReader(bytes('1b001fffffffffffff'));
  r.pos = 1;
  t.is(r.argument(0x1b, 0), Number.MAX_SAFE_INTEGER);
  r.reset(bytes('1b0020000000000000'), 1);
  const v = r.argument(0x1b, 0);
  t.is(v, Number.POSITIVE_INFINITY);
  t.is(r.argumentBig(v), 2n ** 53n);
  r.reset(bytes('1bffffffffffffffff'), 1);
  t.is(r.argumentText(r.argument(0x1b, 0)), (2n ** 64n - 1n).toString());
});

test('argument: a head cut at every position is CBOR_TRUNCATED from the head, nothing consumed', (t) => {
  for (let major = 0; major < 8; major++) {
    for (let ai = 24; ai <= 27; ai++) {
      const ib = (major << 5) | ai;
      const full = new Uint8Array([ib, 1, 2, 3, 4, 5, 6, 7, 8]).subarray(0, 1 + argSize(ai));
      for (let cut = 1; cut < full.length; cut++) {
        const r = new CborReader(full.subarray(0, cut));
        r.pos = 1;
        const err = t.throws(() => r.argument(ib, 0), { instanceOf: ProtocolError }) as ProtocolError;
        t.is(err.code, 'CBOR_TRUNCATED', `ib ${ib} cut ${cut}`);
        t.regex(err.message, /at offset 0: it needs at least \d+ bytes from there, \d+ left/);
        t.is(r.pos, 1);
      }
      // the same cut made by an item-size bound instead of the input end
      const r = new CborReader();
      r.reset(new Uint8Array([0, ...full, 0]), 1, full.length - 1);
      r.pos = 2;
      const err = t.throws(() => r.argument(ib, 1), { instanceOf: ProtocolError }) as ProtocolError;
      t.is(err.code, 'CBOR_TOO_LARGE', `ib ${ib} bounded`);
      t.regex(err.message, /reaches past the \d+-byte item limit/);
    }
  }
});

test('initialByte, room and take check the bytes left first', (t) => {
  const r = new CborReader(bytes('4301'));
  t.is(r.initialByte('an item'), 0x43);
  t.is(
    codeOf(() => r.take(3, 0, 'a byte string')),
    'CBOR_TRUNCATED',
  );
  t.is(
    codeOf(() => r.take(Number.POSITIVE_INFINITY, 0, 'a byte string')),
    'CBOR_TRUNCATED',
  );
  t.is(
    codeOf(() => r.room(2, 0, 'x')),
    'CBOR_TRUNCATED',
  );
  t.is(r.pos, 1);
  const view = r.take(1, 0, 'a byte string');
  t.deepEqual([...view], [1]);
  t.is(view.buffer, r.data.buffer, 'take returns a view');
  t.is(
    codeOf(() => r.initialByte('an item')),
    'CBOR_TRUNCATED',
  );
  r.release();
  t.is(r.data.length, 0);
  t.is(r.pos, 2, 'release keeps the position');
});

test('simple: every additional information 0..31 of major type 7', (t) => {
  for (let ai = 0; ai < 32; ai++) {
    const ib = 0xe0 | ai;
    const r = new CborReader(new Uint8Array([ib, 0x3c, 0, 0, 0, 0, 0, 0, 0]));
    r.pos = 1;
    if (ai >= 28 && ai <= 30) {
      t.is(
        codeOf(() => r.simple(ib, 0)),
        'CBOR_RESERVED',
        `ai ${ai}`,
      );
      continue;
    }
    const v = r.simple(ib, 0);
    if (ai < 20) t.deepEqual(v, new SimpleValue(ai));
    else if (ai === 20) t.is(v, false);
    else if (ai === 21) t.is(v, true);
    else if (ai === 22) t.is(v, null);
    else if (ai === 23) t.is(v, undefined);
    else if (ai === 24) t.deepEqual(v, new SimpleValue(0x3c), 'two-byte form: no policy on values < 32 here');
    else if (ai === 25) t.is(v, 1);
    else if (ai === 26) t.is(v, 2 ** -7, 'f32 3c000000');
    else if (ai === 27) t.is(v, 2 ** -63, 'f64 3c00000000000000');
    else t.is(v, BREAK);
    t.is(r.pos, 1 + (ai >= 24 && ai <= 27 ? argSize(ai) : 0), `ai ${ai} consumed`);
  }
});

test('unsupportedSimple: the wire policy names undefined, two-byte and low simple values', (t) => {
  const r = new CborReader(bytes('f820'));
  t.regex(r.unsupportedSimple(24, 0).message, /0xf820/);
  t.regex(new CborReader(bytes('f8')).unsupportedSimple(24, 0).message, /two-byte simple value \(0xf8\)/);
  t.regex(r.unsupportedSimple(23, 0).message, /undefined/);
  const low = r.unsupportedSimple(3, 0);
  t.is(low.code, 'CBOR_UNSUPPORTED_SIMPLE');
  t.regex(low.message, /simple value 3 at offset 0/);
});

test('half floats: all 65536 bit patterns equal cbor-x (the reference)', (t) => {
  let mismatches = 0;
  for (let h = 0; h < 0x10000; h++) {
    const ref = cborxDecode(Uint8Array.of(0xf9, h >> 8, h & 0xff)) as number;
    if (!Object.is(halfToNumber(h), ref)) mismatches++;
  }
  t.is(mismatches, 0);
});

test('half floats: named edge cases (RFC 8949 Appendix A and D)', (t) => {
  const cases: [number, number][] = [
    [0x0000, 0],
    [0x8000, -0],
    [0x0001, 2 ** -24], // smallest subnormal 5.960464477539063e-8
    [0x8001, -(2 ** -24)],
    [0x03ff, 1023 * 2 ** -24], // largest subnormal
    [0x0400, 2 ** -14], // smallest normal 6.103515625e-5
    [0x3c00, 1],
    [0x3c01, 1 + 2 ** -10],
    [0x3e00, 1.5],
    [0x3555, 0.333251953125],
    [0xc400, -4],
    [0x7bff, 65504], // largest finite
    [0xfbff, -65504],
    [0x7c00, Number.POSITIVE_INFINITY],
    [0xfc00, Number.NEGATIVE_INFINITY],
  ];
  for (const [h, v] of cases) t.true(Object.is(halfToNumber(h), v), `0x${h.toString(16)}`);
  for (const nan of [0x7e00, 0x7c01, 0x7fff, 0xfe00, 0xfc01]) t.true(Number.isNaN(halfToNumber(nan)));
});

test('single and double floats from their bits', (t) => {
  const dv = new DataView(new ArrayBuffer(8));
  for (const x of [0, -0, 1.5, -100000.5, 3.4028234663852886e38, 1e-45, Number.POSITIVE_INFINITY]) {
    dv.setFloat32(0, x);
    t.true(Object.is(float32FromBits(dv.getUint32(0)), Math.fround(x)), String(x));
  }
  for (const x of [0, -0, 1.1, -1e300, 5e-324, Number.NEGATIVE_INFINITY, Number.MAX_VALUE]) {
    dv.setFloat64(0, x);
    t.true(Object.is(float64FromBits(dv.getUint32(0), dv.getUint32(4)), x), String(x));
  }
  t.true(Number.isNaN(float32FromBits(0x7fc00000)));
  t.true(Number.isNaN(float64FromBits(0x7ff80000, 0)));
});

test('isShortestArgument at every head-size boundary', (t) => {
  t.true(isShortestArgument(23, 23, 0));
  t.false(isShortestArgument(24, 23, 0));
  t.true(isShortestArgument(24, 24, 0));
  t.false(isShortestArgument(25, 0xff, 0));
  t.true(isShortestArgument(25, 0x100, 0));
  t.false(isShortestArgument(26, 0xffff, 0));
  t.true(isShortestArgument(26, 0x10000, 0));
  t.false(isShortestArgument(27, 0xffffffff, 0));
  t.true(isShortestArgument(27, 2 ** 32, 1));
});

test('decodeUtf8: ASCII fast path, multi-byte, BOM kept, invalid short and long input', (t) => {
  const enc = new TextEncoder();
  t.is(decodeUtf8(enc.encode('xabc'), 1, 4, 0), 'abc');
  t.is(decodeUtf8(enc.encode('é€😀'), 0, 9, 0), 'é€😀');
  t.is(decodeUtf8(bytes('efbbbf'), 0, 3, 0), '\ufeff');
  const long = enc.encode('a'.repeat(40));
  t.is(decodeUtf8(long, 0, 40, 0), 'a'.repeat(40));
  for (const bad of ['ff', 'c328', 'eda080', `${'61'.repeat(40)}80`]) {
    const b = bytes(bad);
    const err = t.throws(() => decodeUtf8(b, 0, b.length, 7), { instanceOf: ProtocolError }) as ProtocolError;
    t.is(err.code, 'CBOR_INVALID_UTF8');
    t.regex(err.message, /offset 7/);
  }
});

/** A deterministic encoding with every head size, strings, containers, a tag and floats. */
const SAMPLE = encode([
  0,
  23,
  24,
  255,
  256,
  65535,
  65536,
  2 ** 32,
  2n ** 64n - 1n,
  -(2n ** 64n),
  -25,
  'text',
  'x'.repeat(40),
  new Uint8Array(30).fill(9),
  new Map<number | string, number | boolean | null>([
    [1, true],
    [-1, null],
    ['k', false],
  ]),
  new Tagged(1, 1.5),
  100000.5,
  1.1,
  [[[]]],
]);

/** The users of the reader, each as a function of the input (strict with tag 1 allowed). */
const USERS: Record<string, (b: Uint8Array) => unknown> = {
  strict: (b) => decode(b, { allowedTags: new Set([1]) }),
  lenient: (b) => decodeLenient(b),
  diagnostic: (b) => toDiagnostic(b),
};

/** Checks that each named user accepts `input` and says CBOR_TRUNCATED for every proper prefix. */
function everyPrefixTruncated(t: ExecutionContext, input: Uint8Array, users: string[]): void {
  for (const name of users) {
    const user = USERS[name] as (b: Uint8Array) => unknown;
    t.notThrows(() => user(input), name);
    for (let cut = 0; cut < input.length; cut++) {
      t.is(
        codeOf(() => user(input.subarray(0, cut))),
        'CBOR_TRUNCATED',
        `${name}, ${cut} bytes`,
      );
    }
  }
}

test('truncation at every position: all three users say CBOR_TRUNCATED for every proper prefix', (t) => {
  everyPrefixTruncated(t, SAMPLE, ['strict', 'lenient', 'diagnostic']);
  // the same cuts made by decodePrefix's item-size bound instead of the input end
  for (let cut = 1; cut < SAMPLE.length; cut++) {
    const bounded = () => decodePrefix(SAMPLE, 0, { allowedTags: new Set([1]), maxBytes: cut });
    t.is(codeOf(bounded), 'CBOR_TOO_LARGE', `bound ${cut}`);
  }
});

test('truncation at every position of non-deterministic forms (lenient and diagnostic)', (t) => {
  // indefinite strings, arrays and maps, non-shortest heads, a half, a single and a double float
  const foreign = bytes(
    'bf 6161 9f 1801 190002 1a00000003 1b0000000000000004 ff 6162 5f 4101 5801 02 ff 6163 f93e00 6164 fa47c35040 6165 fb3ff199999999999a ff',
  );
  everyPrefixTruncated(t, foreign, ['lenient', 'diagnostic']);
});

test('the three users agree on additional information 28..30 of every major type', (t) => {
  for (let major = 0; major < 8; major++) {
    for (let ai = 28; ai <= 30; ai++) {
      const b = Uint8Array.of((major << 5) | ai, 0, 0);
      t.is(
        codeOf(() => decode(b)),
        'CBOR_RESERVED',
      );
      t.is(
        codeOf(() => decodeLenient(b)),
        'CBOR_RESERVED',
      );
      t.is(
        codeOf(() => toDiagnostic(b)),
        'CBOR_RESERVED',
      );
    }
  }
});

test('chunkHead: same-type definite chunks, the break, and every malformed chunk', (t) => {
  const r = new CborReader(bytes('5f 4101 40 ff'));
  r.pos = 1;
  const ib = r.chunkHead(2, 0);
  t.is(ib, 0x41);
  t.deepEqual([...r.take(r.argument(ib, 1), 1, 'chunk')], [1]);
  t.is(r.chunkHead(2, 0), 0x40);
  t.is(r.chunkHead(2, 0), -1, 'the break ends the string');
  for (const [h, code] of [
    ['7f 4161', 'CBOR_RESERVED'], // byte chunk in a text string
    ['7f 7f', 'CBOR_RESERVED'], // nested indefinite chunk
    ['7f 01', 'CBOR_RESERVED'], // an integer
    ['7f', 'CBOR_TRUNCATED'],
  ] as const) {
    const c = new CborReader(bytes(h));
    c.pos = 1;
    t.is(
      codeOf(() => c.chunkHead(3, 0)),
      code,
      h,
    );
  }
});
