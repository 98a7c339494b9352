/**
 * Encoder tests of the strict deterministic CBOR codec.
 *
 * Checks: RFC 8949 Appendix A examples that have a core deterministic encoding (§4.2.1),
 * preferred float serialization (§4.2.2: shortest exact float, NaN as f97e00), bytewise map key
 * ordering (§4.2.1), duplicate keys after normalization, and the typed errors of the value model
 * (plain objects, undefined, functions, symbols, unsafe integral numbers, out-of-range bigints).
 */

import test from 'ava';
import { toHex } from '../src/bytes.ts';
import type { CborValue } from '../src/cbor/index.ts';
import { decode, encode, Tagged } from '../src/cbor/index.ts';
import type { ProtocolErrorCode } from '../src/errors.ts';
import { ProtocolError } from '../src/errors.ts';

const m = (...entries: [number | bigint | string, CborValue][]): Map<number | bigint | string, CborValue> => new Map(entries);

function throwsCode(t: import('ava').ExecutionContext, fn: () => unknown, code: ProtocolErrorCode): ProtocolError {
  const err = t.throws(fn, { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, code, err.message);
  t.regex(err.message, /offset \d+/);
  return err;
}

// RFC 8949 Appendix A, integers.
const INTEGERS: [CborValue, string][] = [
  [0, '00'],
  [1, '01'],
  [10, '0a'],
  [23, '17'],
  [24, '1818'],
  [25, '1819'],
  [100, '1864'],
  [1000, '1903e8'],
  [1000000, '1a000f4240'],
  [1000000000000, '1b000000e8d4a51000'],
  [18446744073709551615n, '1bffffffffffffffff'],
  [-18446744073709551616n, '3bffffffffffffffff'],
  [-1, '20'],
  [-10, '29'],
  [-100, '3863'],
  [-1000, '3903e7'],
];

for (const [value, expected] of INTEGERS) {
  test(`RFC 8949 App. A integer ${String(value)} -> ${expected}`, (t) => {
    t.is(toHex(encode(value)), expected);
  });
}

test('integer head boundaries use the shortest form (§4.2.1)', (t) => {
  const cases: [CborValue, string][] = [
    [255, '18ff'],
    [256, '190100'],
    [65535, '19ffff'],
    [65536, '1a00010000'],
    [4294967295, '1affffffff'],
    [4294967296, '1b0000000100000000'],
    [Number.MAX_SAFE_INTEGER, '1b001fffffffffffff'],
    [-24, '37'],
    [-25, '3818'],
    [-256, '38ff'],
    [-257, '390100'],
    [-Number.MAX_SAFE_INTEGER, '3b001ffffffffffffe'],
  ];
  for (const [v, e] of cases) t.is(toHex(encode(v)), e, String(v));
});

test('bigints in the safe range encode exactly like numbers', (t) => {
  t.is(toHex(encode(5n)), '05');
  t.is(toHex(encode(-1n)), '20');
  t.is(toHex(encode(1000000000000n)), toHex(encode(1000000000000)));
  t.is(toHex(encode(BigInt(Number.MAX_SAFE_INTEGER))), '1b001fffffffffffff');
  t.is(toHex(encode(BigInt(Number.MAX_SAFE_INTEGER) + 1n)), '1b0020000000000000');
  t.is(toHex(encode(-BigInt(Number.MAX_SAFE_INTEGER) - 1n)), '3b001fffffffffffff');
});

// RFC 8949 Appendix A, floats (only non-integral values: integral ones are integers in JS).
const FLOATS: [number, string][] = [
  [1.1, 'fb3ff199999999999a'],
  [1.5, 'f93e00'],
  [-4.1, 'fbc010666666666666'],
  [2 ** -24, 'f90001'], // App. A 5.960464477539063e-8
  [0.00006103515625, 'f90400'],
  [-0, 'f98000'],
  [Number.POSITIVE_INFINITY, 'f97c00'],
  [Number.NaN, 'f97e00'],
  [Number.NEGATIVE_INFINITY, 'f9fc00'],
];

for (const [value, expected] of FLOATS) {
  test(`RFC 8949 App. A float ${Object.is(value, -0) ? '-0.0' : String(value)} -> ${expected}`, (t) => {
    t.is(toHex(encode(value)), expected);
  });
}

test('floats take the shortest exact form: half, single, double (§4.2.2)', (t) => {
  t.is(toHex(encode(0.5)), 'f93800');
  t.is(toHex(encode(65504.5)), 'fa477fe080'); // not a half
  t.is(toHex(encode(100000.5)), 'fa47c35040');
  t.is(toHex(encode(2 ** -126)), 'fa00800000'); // smallest normal single, below half range
  t.is(toHex(encode(2 ** -24)), 'f90001'); // smallest half subnormal
  t.is(toHex(encode(3 * 2 ** -24)), 'f90003');
  t.is(toHex(encode(2 ** -25)), 'fa33000000'); // below half subnormals
  t.is(toHex(encode(-0.1)), 'fbbfb999999999999a');
  t.is(toHex(encode(5e-324)), 'fb0000000000000001');
});

test('3.4028234663852886e+38 (App. A fa7f7fffff) is integral beyond 2^53: refused, use bigint', (t) => {
  // The value model encodes every integral number as an integer and refuses unsafe ones, so this
  // Appendix A float vector has no encoding here (its decoder counterpart is rejected as well).
  throwsCode(t, () => encode(3.4028234663852886e38), 'CBOR_UNSUPPORTED_TYPE');
});

test('RFC 8949 App. A simple values', (t) => {
  t.is(toHex(encode(false)), 'f4');
  t.is(toHex(encode(true)), 'f5');
  t.is(toHex(encode(null)), 'f6');
});

test('RFC 8949 App. A tags', (t) => {
  t.is(toHex(encode(new Tagged(0, '2013-03-21T20:04:00Z'))), 'c074323031332d30332d32315432303a30343a30305a');
  t.is(toHex(encode(new Tagged(1, 1363896240))), 'c11a514b67b0');
  t.is(toHex(encode(new Tagged(1, 1363896240.5))), 'c1fb41d452d9ec200000');
  t.is(toHex(encode(new Tagged(23, new Uint8Array([1, 2, 3, 4])))), 'd74401020304');
  t.is(toHex(encode(new Tagged(24, new Uint8Array([0x64, 0x49, 0x45, 0x54, 0x46])))), 'd818456449455446');
  t.is(toHex(encode(new Tagged(32, 'http://www.example.com'))), 'd82076687474703a2f2f7777772e6578616d706c652e636f6d');
  t.is(toHex(encode(new Tagged(55799, 1))), 'd9d9f701');
});

test('RFC 8949 App. A byte strings', (t) => {
  t.is(toHex(encode(new Uint8Array(0))), '40');
  t.is(toHex(encode(new Uint8Array([1, 2, 3, 4]))), '4401020304');
  t.is(toHex(encode(Buffer.from([1, 2]))), '420102');
  const big = new Uint8Array(300).fill(7);
  t.is(toHex(encode(big)).slice(0, 6), '59012c');
  t.is(encode(big).length, 303);
});

test('RFC 8949 App. A text strings (UTF-8)', (t) => {
  t.is(toHex(encode('')), '60');
  t.is(toHex(encode('a')), '6161');
  t.is(toHex(encode('IETF')), '6449455446');
  t.is(toHex(encode('"\\')), '62225c');
  t.is(toHex(encode('\u00fc')), '62c3bc');
  t.is(toHex(encode('\u6c34')), '63e6b0b4');
  t.is(toHex(encode('\ud800\udd51')), '64f0908591');
});

test('text heads follow the UTF-8 length, not the UTF-16 length', (t) => {
  // 9 UTF-16 units -> at most 27 bytes (2-byte head reserved) but really 10 bytes (1-byte head)
  t.is(toHex(encode('abcdefgh\u00fc')), '6a6162636465666768c3bc');
  t.is(toHex(encode('x'.repeat(24))), `7818${'78'.repeat(24)}`);
  const long = '\u6c34'.repeat(30000); // 90000 bytes
  const e = encode(long);
  t.is(toHex(e.subarray(0, 5)), '7a00015f90');
  t.is(e.length, 90005);
  t.is(decode(e), long);
  const ascii = 'q'.repeat(70000);
  t.is(decode(encode(ascii)), ascii);
});

test('RFC 8949 App. A arrays', (t) => {
  t.is(toHex(encode([])), '80');
  t.is(toHex(encode([1, 2, 3])), '83010203');
  t.is(toHex(encode([1, [2, 3], [4, 5]])), '8301820203820405');
  const list = Array.from({ length: 25 }, (_, i) => i + 1);
  t.is(toHex(encode(list)), '98190102030405060708090a0b0c0d0e0f101112131415161718181819');
});

test('RFC 8949 App. A maps', (t) => {
  t.is(toHex(encode(new Map())), 'a0');
  t.is(toHex(encode(m([1, 2], [3, 4]))), 'a201020304');
  t.is(toHex(encode(m(['a', 1], ['b', [2, 3]]))), 'a26161016162820203');
  t.is(toHex(encode(['a', m(['b', 'c'])])), '826161a161626163');
  t.is(
    toHex(encode(m(['a', 'A'], ['b', 'B'], ['c', 'C'], ['d', 'D'], ['e', 'E']))),
    'a56161614161626142616361436164614461656145',
  );
});

test('map keys sort bytewise by encoding: 10, 100, -1, "a" (§4.2.1)', (t) => {
  const expected = 'a40a011864022003616104';
  t.is(toHex(encode(m([10, 1], [-1, 3], ['a', 4], [100, 2]))), expected);
  t.is(toHex(encode(m(['a', 4], [100, 2], [-1, 3], [10, 1]))), expected);
});

test('map keys: unsigned ints sort numerically, negatives by magnitude, text by length first', (t) => {
  t.is(toHex(encode(m([3, 0], [1, 0], [2, 0]))), 'a3010002000300');
  t.is(toHex(encode(m([300, 0], [24, 0], [23, 0]))), 'a317001818001901' + '2c00');
  t.is(toHex(encode(m([-3, 0], [-1, 0], [-2, 0]))), 'a3200021002200');
  t.is(toHex(encode(m(['aa', 0], ['b', 0]))), 'a2616200626161' + '00');
  t.is(toHex(encode(m([2n ** 63n, 0], [1, 0]))), 'a201001b800000000000000000');
});

test('text keys sort by UTF-8 bytes, not UTF-16 code units', (t) => {
  // UTF-16: \ud800 < \uffff; UTF-8: ef bf bf 61 < f0 90 80 80 (same length).
  t.is(toHex(encode(m(['\ud800\udc00', 2], ['\uffffa', 1]))), 'a264efbfbf610164f090808002');
});

test('nested maps are sorted too, whatever the insertion order', (t) => {
  const a = m([2, m(['y', 1], ['x', 2])], [1, 'k']);
  const b = m([1, 'k'], [2, m(['x', 2], ['y', 1])]);
  t.is(toHex(encode(a)), toHex(encode(b)));
  t.is(toHex(encode(a)), 'a201616b02a2617802617901');
});

test('duplicate keys after normalization are refused (1 and 1n)', (t) => {
  const err = throwsCode(t, () => encode(m([1, 'a'], [1n, 'b'])), 'CBOR_DUPLICATE_KEY');
  t.regex(err.message, /duplicate map key 1 /);
  throwsCode(t, () => encode(m(['z', 0], [5, 1], [5n, 2])), 'CBOR_DUPLICATE_KEY');
});

test('a typical Key message encodes as expected', (t) => {
  const msg = m([1, 3], [2, 1234], [3, 'enigm-key-01'], [4, new Uint8Array(16).fill(0xab)], [5, m([1, 7], [2, true])], [6, -2]);
  const e = encode(msg);
  t.is(e.length, 47);
  t.is(toHex(e.subarray(0, 4)), 'a6010302');
});

test('each call returns an independent array (views from protocols/src/bytes.ts never overlap)', (t) => {
  const a = encode([1, 2, 3]);
  const b = encode('zzz');
  t.is(toHex(a), '83010203');
  t.is(toHex(b), '637a7a7a');
  a.fill(0xee);
  t.is(toHex(b), '637a7a7a');
  t.is(toHex(encode([1, 2, 3])), '83010203', 'the scratch buffer is not aliased by a returned array');
});

test('a failed encode does not poison the next one', (t) => {
  t.throws(() => encode([1, 2, {} as unknown as CborValue]));
  t.is(toHex(encode([1])), '8101');
});

test('wrong types are refused with typed errors', (t) => {
  const table: [string, unknown, ProtocolErrorCode][] = [
    ['plain object', { a: 1 }, 'CBOR_UNSUPPORTED_TYPE'],
    ['undefined', undefined, 'CBOR_UNSUPPORTED_TYPE'],
    ['function', () => 1, 'CBOR_UNSUPPORTED_TYPE'],
    ['symbol', Symbol('s'), 'CBOR_UNSUPPORTED_TYPE'],
    ['Date', new Date(0), 'CBOR_UNSUPPORTED_TYPE'],
    ['Uint16Array', new Uint16Array(2), 'CBOR_UNSUPPORTED_TYPE'],
    ['ArrayBuffer', new ArrayBuffer(2), 'CBOR_UNSUPPORTED_TYPE'],
    ['Set', new Set([1]), 'CBOR_UNSUPPORTED_TYPE'],
    ['2^53 as number', 2 ** 53, 'CBOR_UNSUPPORTED_TYPE'],
    ['-(2^53) as number', -(2 ** 53), 'CBOR_UNSUPPORTED_TYPE'],
    ['1e300', 1e300, 'CBOR_UNSUPPORTED_TYPE'],
    ['2^64 bigint', 2n ** 64n, 'CBOR_TOO_LARGE'],
    ['-2^64-1 bigint', -(2n ** 64n) - 1n, 'CBOR_TOO_LARGE'],
    ['undefined inside an array', [1, undefined], 'CBOR_UNSUPPORTED_TYPE'],
    ['object inside a map', new Map([[1, {}]]), 'CBOR_UNSUPPORTED_TYPE'],
    ['float key', new Map([[1.5, 0]]), 'CBOR_INVALID_KEY'],
    ['NaN key', new Map([[Number.NaN, 0]]), 'CBOR_INVALID_KEY'],
    ['boolean key', new Map([[true, 0]]), 'CBOR_INVALID_KEY'],
    ['bytes key', new Map([[new Uint8Array(1), 0]]), 'CBOR_INVALID_KEY'],
    ['null key', new Map([[null, 0]]), 'CBOR_INVALID_KEY'],
    ['unsafe integral number key', new Map([[2 ** 60, 0]]), 'CBOR_UNSUPPORTED_TYPE'],
    ['lone surrogate', 'a\ud800b', 'CBOR_INVALID_UTF8'],
    ['lone surrogate key', new Map([['\udc00', 1]]), 'CBOR_INVALID_UTF8'],
    ['negative tag', new Tagged(-1, 0), 'CBOR_UNSUPPORTED_TAG'],
    ['fractional tag', new Tagged(1.5, 0), 'CBOR_UNSUPPORTED_TAG'],
  ];
  for (const [name, value, code] of table) {
    const err = t.throws(() => encode(value as CborValue), { instanceOf: ProtocolError }, name) as ProtocolError;
    t.is(err.code, code, name);
  }
});

test('cyclic values fail with CBOR_TOO_DEEP, not a stack overflow', (t) => {
  const a: CborValue[] = [];
  a.push(a);
  throwsCode(t, () => encode(a), 'CBOR_TOO_DEEP');
  const mp = new Map<number, CborValue>();
  mp.set(1, mp);
  throwsCode(t, () => encode(mp), 'CBOR_TOO_DEEP');
});

test('large maps: general path with mixed keys and the sorted fast path agree with decode', (t) => {
  const mixed = new Map<number | string, CborValue>();
  for (let i = 999; i >= 0; i--) mixed.set(i % 2 ? i : `k${i}`, i);
  const back = decode(encode(mixed)) as Map<unknown, unknown>;
  t.is(back.size, 1000);
  t.is(back.get('k0'), 0);
  t.is(back.get(999), 999);
  const ints = new Map<number, number>();
  for (let i = 0; i < 500; i++) ints.set((i * 7919) % 500, i);
  const e = encode(ints);
  t.deepEqual(
    [...(decode(e) as Map<number, number>).keys()],
    Array.from({ length: 500 }, (_, i) => i),
  );
});
