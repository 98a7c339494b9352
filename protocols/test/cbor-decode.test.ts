/**
 * Strict decoder tests of the CBOR codec.
 *
 * Checks: RFC 8949 §3 well-formedness (truncation, reserved additional information 28..30, break,
 * indefinite lengths), §4.2.1 core deterministic encoding (shortest heads, definite lengths,
 * bytewise sorted unique keys), §4.2.2 preferred float serialization (shortest float, NaN as
 * f97e00; integral floats refused so that encode(decode(b)) == b), §3.3 simple values, §3.4 tags,
 * §3.1 UTF-8 validity of text strings (RFC 3629), and the decoder bounds of the value model
 * (depth, item count, byte length, allowed tags). One test per rejection rule, hand-written hex.
 */

import type { ExecutionContext } from 'ava';
import test from 'ava';
import { toHex } from '../src/bytes.ts';
import type { CborValue, DecodeOptions } from '../src/cbor/index.ts';
import { decode, decodePrefix, encode, Tagged } from '../src/cbor/index.ts';
import type { ProtocolErrorCode } from '../src/errors.ts';
import { ProtocolError } from '../src/errors.ts';

const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

function rejects(t: ExecutionContext, input: string | Uint8Array, code: ProtocolErrorCode, options?: DecodeOptions): string {
  const b = typeof input === 'string' ? bytes(input) : input;
  const err = t.throws(() => decode(b, options), { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, code, err.message);
  t.regex(err.message, /offset \d+/, err.message);
  return err.message;
}

function accepts(t: ExecutionContext, input: string, expected: CborValue, options?: DecodeOptions): void {
  const v = decode(bytes(input), options);
  t.deepEqual(v, expected);
  t.is(toHex(encode(v)), input.replace(/\s+/g, ''), 're-encodes to the same bytes');
}

// ---- accepted forms ----

test('accepts the deterministic forms of every type', (t) => {
  accepts(t, '00', 0);
  accepts(t, '17', 23);
  accepts(t, '1818', 24);
  accepts(t, '1b001fffffffffffff', Number.MAX_SAFE_INTEGER);
  accepts(t, '1b0020000000000000', 2n ** 53n);
  accepts(t, '1bffffffffffffffff', 2n ** 64n - 1n);
  accepts(t, '20', -1);
  accepts(t, '3b001ffffffffffffe', -Number.MAX_SAFE_INTEGER);
  accepts(t, '3b001fffffffffffff', -(2n ** 53n));
  accepts(t, '3bffffffffffffffff', -(2n ** 64n));
  accepts(t, 'f93e00', 1.5);
  accepts(t, 'fa47c35040', 100000.5);
  accepts(t, 'fb3ff199999999999a', 1.1);
  accepts(t, 'f97c00', Number.POSITIVE_INFINITY);
  accepts(t, 'f9fc00', Number.NEGATIVE_INFINITY);
  accepts(t, 'f4', false);
  accepts(t, 'f5', true);
  accepts(t, 'f6', null);
  accepts(t, '4401020304', new Uint8Array([1, 2, 3, 4]));
  accepts(t, '64f0908591', '\ud800\udd51');
  accepts(t, '8301820203820405', [1, [2, 3], [4, 5]]);
  accepts(
    t,
    'a40a011864022003616104',
    new Map<number | string, number>([
      [10, 1],
      [100, 2],
      [-1, 3],
      ['a', 4],
    ]),
  );
});

test('NaN f97e00 and -0.0 f98000 are accepted', (t) => {
  t.true(Number.isNaN(decode(bytes('f97e00'))));
  t.true(Object.is(decode(bytes('f98000')), -0));
});

test('a UTF-8 BOM in text is kept, not stripped', (t) => {
  t.is(decode(bytes('63efbbbf')), '\ufeff');
});

test('byte strings are copies, not views of the input', (t) => {
  const input = bytes('824401020304' + '5820' + '11'.repeat(32));
  const [short, long] = decode(input) as [Uint8Array, Uint8Array];
  input[2] = 0xee;
  input[10] = 0xee;
  t.is(toHex(short), '01020304');
  t.is(long[0], 0x11);
  t.not(short.buffer, input.buffer);
  t.is(Object.getPrototypeOf(decode(Buffer.from('4101', 'hex'))), Uint8Array.prototype);
});

test('decodes Buffer and offset views', (t) => {
  const backing = bytes('ff ff 83010203 ff');
  t.deepEqual(decode(backing.subarray(2, 6)), [1, 2, 3]);
  t.deepEqual(decode(Buffer.from('820102', 'hex')), [1, 2]);
});

// ---- rejections, one per rule ----

test('CBOR_TRUNCATED: empty input', (t) => {
  rejects(t, '', 'CBOR_TRUNCATED');
});

test('CBOR_TRUNCATED: input ends inside a head (1a0000)', (t) => {
  const msg = rejects(t, '1a0000', 'CBOR_TRUNCATED');
  t.regex(msg, /offset 0/);
});

test('CBOR_TRUNCATED: input ends inside a string, an array, a map, a float', (t) => {
  rejects(t, '6361', 'CBOR_TRUNCATED');
  rejects(t, '43', 'CBOR_TRUNCATED');
  rejects(t, '820102'.slice(0, 4), 'CBOR_TRUNCATED');
  rejects(t, 'a201', 'CBOR_TRUNCATED');
  rejects(t, 'a2010203', 'CBOR_TRUNCATED');
  rejects(t, 'f93e', 'CBOR_TRUNCATED');
  rejects(t, 'fa47c350', 'CBOR_TRUNCATED');
  rejects(t, 'fb3ff1999999', 'CBOR_TRUNCATED');
  rejects(t, 'c1', 'CBOR_TRUNCATED', { allowedTags: new Set([1]) });
});

test('CBOR_TRAILING_BYTES: bytes after the single item', (t) => {
  const msg = rejects(t, '0100', 'CBOR_TRAILING_BYTES');
  t.regex(msg, /1 trailing byte at offset 1/);
  rejects(t, '8101 ff', 'CBOR_TRAILING_BYTES');
});

test('CBOR_NON_CANONICAL: 1817 (23 in a 2-byte head)', (t) => {
  const msg = rejects(t, '1817', 'CBOR_NON_CANONICAL');
  t.regex(msg, /offset 0/);
});

test('CBOR_NON_CANONICAL: every oversized head form', (t) => {
  rejects(t, '1900ff', 'CBOR_NON_CANONICAL');
  rejects(t, '1a0000ffff', 'CBOR_NON_CANONICAL');
  rejects(t, '1b00000000ffffffff', 'CBOR_NON_CANONICAL');
  rejects(t, '3817', 'CBOR_NON_CANONICAL');
  rejects(t, '5801' + '00', 'CBOR_NON_CANONICAL');
  rejects(t, '780161', 'CBOR_NON_CANONICAL');
  rejects(t, '980101', 'CBOR_NON_CANONICAL');
  rejects(t, 'b800', 'CBOR_NON_CANONICAL');
  rejects(t, 'd80101', 'CBOR_NON_CANONICAL', { allowedTags: new Set([1]) });
  const msg = rejects(t, '82 01 1817', 'CBOR_NON_CANONICAL');
  t.regex(msg, /offset 2/);
});

test('CBOR_NON_CANONICAL: integral float f93c00 (1.0)', (t) => {
  const msg = rejects(t, 'f93c00', 'CBOR_NON_CANONICAL');
  t.regex(msg, /integral float 1 at offset 0/);
  rejects(t, 'f90000', 'CBOR_NON_CANONICAL'); // +0.0
  rejects(t, 'fa47c35000', 'CBOR_NON_CANONICAL'); // 100000.0
  rejects(t, 'fb7e37e43c8800759c', 'CBOR_NON_CANONICAL'); // 1.0e+300
  rejects(t, 'fa7f7fffff', 'CBOR_NON_CANONICAL'); // 3.4028234663852886e+38
});

test('CBOR_NON_CANONICAL: fa3fc00000 (1.5 as single; half is shorter)', (t) => {
  const msg = rejects(t, 'fa3fc00000', 'CBOR_NON_CANONICAL');
  t.regex(msg, /half precision/);
  rejects(t, 'fb3ff8000000000000', 'CBOR_NON_CANONICAL'); // 1.5 as double
  rejects(t, 'fb40f86a0800000000', 'CBOR_NON_CANONICAL'); // 100000.5 as double
  rejects(t, 'fa80000000', 'CBOR_NON_CANONICAL'); // -0.0 as single
  rejects(t, 'fb8000000000000000', 'CBOR_NON_CANONICAL'); // -0.0 as double
  rejects(t, 'fa7f800000', 'CBOR_NON_CANONICAL'); // Infinity as single
  rejects(t, 'fbfff0000000000000', 'CBOR_NON_CANONICAL'); // -Infinity as double
});

test('CBOR_NON_CANONICAL: NaN other than f97e00', (t) => {
  rejects(t, 'f97e01', 'CBOR_NON_CANONICAL');
  rejects(t, 'f9fe00', 'CBOR_NON_CANONICAL');
  rejects(t, 'f97c01', 'CBOR_NON_CANONICAL');
  rejects(t, 'fa7fc00000', 'CBOR_NON_CANONICAL');
  rejects(t, 'fb7ff8000000000000', 'CBOR_NON_CANONICAL');
});

test('CBOR_INDEFINITE_LENGTH: 5f41014102ff (indefinite byte string)', (t) => {
  rejects(t, '5f41014102ff', 'CBOR_INDEFINITE_LENGTH');
  rejects(t, '7f616161ff', 'CBOR_INDEFINITE_LENGTH');
  rejects(t, '9f01ff', 'CBOR_INDEFINITE_LENGTH');
  rejects(t, 'bf0101ff', 'CBOR_INDEFINITE_LENGTH');
});

test('CBOR_RESERVED: stray break ff', (t) => {
  rejects(t, 'ff', 'CBOR_RESERVED');
  rejects(t, '8201ff', 'CBOR_RESERVED');
});

test('CBOR_RESERVED: additional information 28..30 (1c) and 31 on major 0/1/6', (t) => {
  rejects(t, '1c', 'CBOR_RESERVED');
  rejects(t, '1d', 'CBOR_RESERVED');
  rejects(t, '3e', 'CBOR_RESERVED');
  rejects(t, '5c', 'CBOR_RESERVED');
  rejects(t, '7d', 'CBOR_RESERVED');
  rejects(t, '9e', 'CBOR_RESERVED');
  rejects(t, 'bc', 'CBOR_RESERVED');
  rejects(t, 'dc', 'CBOR_RESERVED');
  rejects(t, 'fc', 'CBOR_RESERVED');
  rejects(t, '1f', 'CBOR_RESERVED');
  rejects(t, '3f', 'CBOR_RESERVED');
  rejects(t, 'df', 'CBOR_RESERVED');
});

test('CBOR_DUPLICATE_KEY: a2 0102 0103', (t) => {
  const msg = rejects(t, 'a2 0102 0103', 'CBOR_DUPLICATE_KEY');
  t.is(msg, 'duplicate map key 1 at offset 3');
  rejects(t, 'a2 616101 616102', 'CBOR_DUPLICATE_KEY');
});

test('CBOR_UNSORTED_KEYS: a2 0200 0100', (t) => {
  const msg = rejects(t, 'a2 0200 0100', 'CBOR_UNSORTED_KEYS');
  t.regex(msg, /offset 3/);
  rejects(t, 'a2 2000 0100', 'CBOR_UNSORTED_KEYS'); // -1 before 1
  rejects(t, 'a2 616100 0100', 'CBOR_UNSORTED_KEYS'); // "a" before 1
  rejects(t, 'a2 62616100 616200', 'CBOR_UNSORTED_KEYS'); // "aa" before "b" (length first)
  rejects(t, 'a2 186400 0a00', 'CBOR_UNSORTED_KEYS'); // 100 before 10
  rejects(t, 'a3 0100 0300 0200', 'CBOR_UNSORTED_KEYS');
});

test('CBOR_UNSUPPORTED_SIMPLE: f7 (undefined)', (t) => {
  rejects(t, 'f7', 'CBOR_UNSUPPORTED_SIMPLE');
});

test('CBOR_UNSUPPORTED_SIMPLE: f820 (two-byte simple) and simple 0..19', (t) => {
  rejects(t, 'f820', 'CBOR_UNSUPPORTED_SIMPLE');
  rejects(t, 'f8ff', 'CBOR_UNSUPPORTED_SIMPLE');
  rejects(t, 'f814', 'CBOR_UNSUPPORTED_SIMPLE');
  rejects(t, 'e0', 'CBOR_UNSUPPORTED_SIMPLE');
  rejects(t, 'f3', 'CBOR_UNSUPPORTED_SIMPLE');
});

test('CBOR_UNSUPPORTED_TAG: c1 1a514b67b0 (tag 1 not allowed by default)', (t) => {
  const msg = rejects(t, 'c11a514b67b0', 'CBOR_UNSUPPORTED_TAG');
  t.regex(msg, /tag 1 at offset 0/);
  rejects(t, 'c11a514b67b0', 'CBOR_UNSUPPORTED_TAG', { allowedTags: new Set([0, 2]) });
  rejects(t, 'db ffffffffffffffff 00', 'CBOR_UNSUPPORTED_TAG', { allowedTags: new Set([1]) });
  t.deepEqual(decode(bytes('c11a514b67b0'), { allowedTags: new Set([1]) }), new Tagged(1, 1363896240));
});

test('CBOR_INVALID_KEY: map with a byte-string key', (t) => {
  const msg = rejects(t, 'a1 4101 00', 'CBOR_INVALID_KEY');
  t.regex(msg, /byte string/);
  rejects(t, 'a1 f4 00', 'CBOR_INVALID_KEY');
  rejects(t, 'a1 f93e00 00', 'CBOR_INVALID_KEY');
  rejects(t, 'a1 80 00', 'CBOR_INVALID_KEY');
  rejects(t, 'a1 a0 00', 'CBOR_INVALID_KEY');
  rejects(t, 'a1 c101 00', 'CBOR_INVALID_KEY', { allowedTags: new Set([1]) });
});

test('CBOR_INVALID_UTF8: 62c328', (t) => {
  const msg = rejects(t, '62c328', 'CBOR_INVALID_UTF8');
  t.regex(msg, /offset 0/);
  rejects(t, '61ff', 'CBOR_INVALID_UTF8');
  rejects(t, '62c0af', 'CBOR_INVALID_UTF8'); // overlong
  rejects(t, '63eda080', 'CBOR_INVALID_UTF8'); // encoded surrogate
  rejects(t, '64f4908080', 'CBOR_INVALID_UTF8'); // above U+10FFFF
  rejects(t, `7825${'61'.repeat(36)}80`, 'CBOR_INVALID_UTF8'); // long string, error at the end
  rejects(t, 'a1 61ff 00', 'CBOR_INVALID_UTF8'); // in a key
});

test('CBOR_TOO_DEEP: 0x81 repeated 100 times, without stack overflow', (t) => {
  const deep = new Uint8Array(101).fill(0x81);
  deep[100] = 0x00;
  const msg = rejects(t, deep, 'CBOR_TOO_DEEP');
  t.regex(msg, /offset 16/);
  const huge = new Uint8Array(1_000_000).fill(0x81);
  rejects(t, huge, 'CBOR_TOO_DEEP');
});

test('CBOR_TOO_DEEP: the bound counts arrays, maps and tags; exactly maxDepth levels pass', (t) => {
  const ok = `${'81'.repeat(16)}00`;
  t.notThrows(() => decode(bytes(ok)));
  rejects(t, `${'81'.repeat(17)}00`, 'CBOR_TOO_DEEP');
  rejects(t, `${'a101'.repeat(17)}00`, 'CBOR_TOO_DEEP');
  rejects(t, 'c1c1c100', 'CBOR_TOO_DEEP', { allowedTags: new Set([1]), maxDepth: 2 });
  rejects(t, '8100', 'CBOR_TOO_DEEP', { maxDepth: 0 });
  t.is(decode(bytes('00'), { maxDepth: 0 }), 0);
});

test('a very large maxDepth never overflows the host stack into a RangeError', (t) => {
  const huge = new Uint8Array(1_000_000).fill(0x81);
  const err = t.throws(() => decode(huge, { maxDepth: 10_000_000 }), { instanceOf: ProtocolError }) as ProtocolError;
  t.true(err.code === 'CBOR_TOO_DEEP' || err.code === 'CBOR_TRUNCATED', err.code);
});

test('array declaring 2^32 items in 10 bytes fails at its head, before allocating or reading an item', (t) => {
  // Each message names the declared count at offset 0: the count is checked against maxItems and the
  // bytes left before anything is allocated (an item-by-item read would fail later, at offset 9 or 5).
  t.regex(rejects(t, '9b 0000000100000000 00', 'CBOR_TOO_LARGE'), /array at offset 0 declares 4294967296 items/);
  t.regex(
    rejects(t, '9b 0000000100000000 00', 'CBOR_TRUNCATED', { maxItems: 2 ** 40 }),
    /an array of 4294967296 items at offset 0: it needs at least 4294967305 bytes/,
  );
  t.regex(
    rejects(t, '9a ffffffff 00', 'CBOR_TRUNCATED', { maxItems: 2 ** 40 }),
    /an array of 4294967295 items at offset 0: it needs at least 4294967300 bytes/,
  );
  t.regex(rejects(t, 'bb ffffffffffffffff 00', 'CBOR_TOO_LARGE'), /map at offset 0 declares 18446744073709551615 entries/);
});

test('CBOR_TOO_LARGE: maxItems, maxBytes on strings and on the input', (t) => {
  rejects(t, '83010203', 'CBOR_TOO_LARGE', { maxItems: 2 });
  t.deepEqual(decode(bytes('820102'), { maxItems: 2 }), [1, 2]);
  rejects(t, 'a2 0100 0200', 'CBOR_TOO_LARGE', { maxItems: 1 });
  rejects(t, '43010203', 'CBOR_TOO_LARGE', { maxBytes: 2 });
  rejects(t, '5b ffffffffffffffff', 'CBOR_TOO_LARGE');
  rejects(t, '7a 00100001', 'CBOR_TOO_LARGE'); // 1 MiB + 1 declared, default limit
  const err = t.throws(() => decode(new Uint8Array(11), { maxBytes: 10 }), { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, 'CBOR_TOO_LARGE');
});

test('CBOR_TRUNCATED: a declared string length beyond the input (not over the limit)', (t) => {
  rejects(t, '5a 00010000 00', 'CBOR_TRUNCATED');
  rejects(t, '79 ffff 61', 'CBOR_TRUNCATED');
});

test('non-Uint8Array input is a ProtocolError, not a TypeError', (t) => {
  for (const bad of [null, undefined, 'a1', [1], new ArrayBuffer(2), new Uint16Array(2)]) {
    const err = t.throws(() => decode(bad as unknown as Uint8Array), { instanceOf: ProtocolError }) as ProtocolError;
    t.is(err.code, 'CBOR_UNSUPPORTED_TYPE');
  }
});

test('the decoder recovers after a failure (no leaked state)', (t) => {
  t.throws(() => decode(bytes('82 01 1817')));
  t.deepEqual(decode(bytes('820102')), [1, 2]);
});

// ---- decodePrefix ----

test('decodePrefix decodes one item at an offset and reports its end', (t) => {
  const b = bytes('ff 820102 6161 01');
  t.deepEqual(decodePrefix(b, 1), { value: [1, 2], end: 4 });
  t.deepEqual(decodePrefix(b, 4), { value: 'a', end: 6 });
  t.deepEqual(decodePrefix(b, 6), { value: 1, end: 7 });
});

test('decodePrefix: truncated, out-of-range offsets, and items longer than maxBytes', (t) => {
  const b = bytes('8201');
  let err = t.throws(() => decodePrefix(b, 0), { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, 'CBOR_TRUNCATED');
  err = t.throws(() => decodePrefix(b, 2), { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, 'CBOR_TRUNCATED');
  err = t.throws(() => decodePrefix(b, -1), { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, 'CBOR_TRUNCATED');
  const long = bytes('45 0102030405 00');
  err = t.throws(() => decodePrefix(long, 0, { maxBytes: 4 }), { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, 'CBOR_TOO_LARGE');
  // An item that needs more bytes than maxBytes is too large even before the bytes arrive.
  err = t.throws(() => decodePrefix(bytes('83 0102'), 0, { maxBytes: 3 }), { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, 'CBOR_TOO_LARGE');
  err = t.throws(() => decodePrefix(bytes('83 0102'), 0, { maxBytes: 4 }), { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, 'CBOR_TRUNCATED');
  t.deepEqual(decodePrefix(bytes('820102 ffff'), 0, { maxBytes: 3 }), { value: [1, 2], end: 3 });
});
