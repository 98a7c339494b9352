import test from 'ava';
import fc from 'fast-check';
import { parseHex, toDiagnostic, toDiagnosticSequence } from '../src/cbor/diagnostic.ts';
import { ProtocolError, type ProtocolErrorCode } from '../src/errors.ts';

/**
 * RFC 8949 Appendix A, Table 6: every row, diagnostic column exactly as the RFC prints it.
 * [diagnostic, encoded hex].
 */
const RFC8949_TABLE_6: ReadonlyArray<readonly [string, string]> = [
  ['0', '00'],
  ['1', '01'],
  ['10', '0a'],
  ['23', '17'],
  ['24', '1818'],
  ['25', '1819'],
  ['100', '1864'],
  ['1000', '1903e8'],
  ['1000000', '1a000f4240'],
  ['1000000000000', '1b000000e8d4a51000'],
  ['18446744073709551615', '1bffffffffffffffff'],
  ['18446744073709551616', 'c249010000000000000000'],
  ['-18446744073709551616', '3bffffffffffffffff'],
  ['-18446744073709551617', 'c349010000000000000000'],
  ['-1', '20'],
  ['-10', '29'],
  ['-100', '3863'],
  ['-1000', '3903e7'],
  ['0.0', 'f90000'],
  ['-0.0', 'f98000'],
  ['1.0', 'f93c00'],
  ['1.1', 'fb3ff199999999999a'],
  ['1.5', 'f93e00'],
  ['65504.0', 'f97bff'],
  ['100000.0', 'fa47c35000'],
  ['3.4028234663852886e+38', 'fa7f7fffff'],
  ['1.0e+300', 'fb7e37e43c8800759c'],
  ['5.960464477539063e-8', 'f90001'],
  ['0.00006103515625', 'f90400'],
  ['-4.0', 'f9c400'],
  ['-4.1', 'fbc010666666666666'],
  ['Infinity', 'f97c00'],
  ['NaN', 'f97e00'],
  ['-Infinity', 'f9fc00'],
  ['Infinity', 'fa7f800000'],
  ['NaN', 'fa7fc00000'],
  ['-Infinity', 'faff800000'],
  ['Infinity', 'fb7ff0000000000000'],
  ['NaN', 'fb7ff8000000000000'],
  ['-Infinity', 'fbfff0000000000000'],
  ['false', 'f4'],
  ['true', 'f5'],
  ['null', 'f6'],
  ['undefined', 'f7'],
  ['simple(16)', 'f0'],
  ['simple(255)', 'f8ff'],
  ['0("2013-03-21T20:04:00Z")', 'c074323031332d30332d32315432303a30343a30305a'],
  ['1(1363896240)', 'c11a514b67b0'],
  ['1(1363896240.5)', 'c1fb41d452d9ec200000'],
  ["23(h'01020304')", 'd74401020304'],
  ["24(h'6449455446')", 'd818456449455446'],
  ['32("http://www.example.com")', 'd82076687474703a2f2f7777772e6578616d706c652e636f6d'],
  ["h''", '40'],
  ["h'01020304'", '4401020304'],
  ['""', '60'],
  ['"a"', '6161'],
  ['"IETF"', '6449455446'],
  ['"\\"\\\\"', '62225c'],
  ['"\\u00fc"', '62c3bc'],
  ['"\\u6c34"', '63e6b0b4'],
  ['"\\ud800\\udd51"', '64f0908591'],
  ['[]', '80'],
  ['[1, 2, 3]', '83010203'],
  ['[1, [2, 3], [4, 5]]', '8301820203820405'],
  [
    '[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]',
    '98190102030405060708090a0b0c0d0e0f101112131415161718181819',
  ],
  ['{}', 'a0'],
  ['{1: 2, 3: 4}', 'a201020304'],
  ['{"a": 1, "b": [2, 3]}', 'a26161016162820203'],
  ['["a", {"b": "c"}]', '826161a161626163'],
  ['{"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"}', 'a56161614161626142616361436164614461656145'],
  ["(_ h'0102', h'030405')", '5f42010243030405ff'],
  ['(_ "strea", "ming")', '7f657374726561646d696e67ff'],
  ['[_ ]', '9fff'],
  ['[_ 1, [2, 3], [_ 4, 5]]', '9f018202039f0405ffff'],
  ['[_ 1, [2, 3], [4, 5]]', '9f01820203820405ff'],
  ['[1, [2, 3], [_ 4, 5]]', '83018202039f0405ff'],
  ['[1, [_ 2, 3], [4, 5]]', '83019f0203ff820405'],
  [
    '[_ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]',
    '9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff',
  ],
  ['{_ "a": 1, "b": [_ 2, 3]}', 'bf61610161629f0203ffff'],
  ['["a", {_ "b": "c"}]', '826161bf61626163ff'],
  ['{_ "Fun": true, "Amt": -2}', 'bf6346756ef563416d7421ff'],
];

test('RFC 8949 Table 6 has all 81 rows', (t) => {
  t.is(RFC8949_TABLE_6.length, 81);
});

for (const [diagnostic, hex] of RFC8949_TABLE_6) {
  test(`RFC 8949 Table 6: 0x${hex} → ${diagnostic}`, (t) => {
    const bytes = parseHex(hex);
    t.is(toDiagnostic(bytes), diagnostic);
    t.deepEqual(toDiagnosticSequence(bytes), [diagnostic]);
  });
}

test('the whole of Table 6 as one CBOR sequence gives one string per row', (t) => {
  const all = parseHex(RFC8949_TABLE_6.map(([, hex]) => hex).join(' '));
  t.deepEqual(
    toDiagnosticSequence(all),
    RFC8949_TABLE_6.map(([d]) => d),
  );
});

test('a CBOR sequence of 3 items gives 3 strings', (t) => {
  t.deepEqual(toDiagnosticSequence(parseHex('01 9f0102ff a1616101')), ['1', '[_ 1, 2]', '{"a": 1}']);
});

test('the empty sequence gives no strings; toDiagnostic of nothing is truncated', (t) => {
  t.deepEqual(toDiagnosticSequence(new Uint8Array(0)), []);
  expectCode(t, () => toDiagnostic(new Uint8Array(0)), 'CBOR_TRUNCATED');
});

test('toDiagnostic rejects more than one item with CBOR_TRAILING_BYTES', (t) => {
  expectCode(t, () => toDiagnostic(parseHex('0102')), 'CBOR_TRAILING_BYTES');
  expectCode(t, () => toDiagnostic(parseHex('01ff')), 'CBOR_TRAILING_BYTES');
});

test('liberal: non-shortest forms, any tag, tags in tags, any key type, duplicates', (t) => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    ['1800', '0'],
    ['190000', '0'],
    ['1a00000017', '23'],
    ['1b0000000000000001', '1'],
    ['3b0000000000000000', '-1'],
    ['1b001fffffffffffff', '9007199254740991'],
    ['1b0020000000000001', '9007199254740993'],
    ['f93c00', '1.0'],
    ['fa3f800000', '1.0'],
    ['fb3ff0000000000000', '1.0'],
    ['fb3ff0000000000001', '1.0000000000000002'],
    ['fb4415af1d78b58c40', '100000000000000000000.0'],
    ['fb444b1ae4d6e2ef50', '1.0e+21'],
    ['fb3eb0c6f7a0b5ed8d', '0.000001'],
    ['fb3e7ad7f29abcaf48', '1.0e-7'],
    ['fa7fc00001', 'NaN'],
    ['f97e01', 'NaN'],
    ['f90200', '0.000030517578125'],
    ['f8ff', 'simple(255)'],
    ['f820', 'simple(32)'],
    ['e0', 'simple(0)'],
    ['f3', 'simple(19)'],
    ['c1c2c3f6', '1(2(3(null)))'],
    ['d9d9f7c0f7', '55799(0(undefined))'],
    ['dbffffffffffffffff00', '18446744073709551615(0)'],
    ['c2f6', '2(null)'],
    ['c240', '0'],
    ['c340', '-1'],
    ['c25f41aaff', "2((_ h'aa'))"],
    ['c3c240', '3(0)'],
    ['a1810102', '{[1]: 2}'],
    ['a2a0f4a0f5', '{{}: false, {}: true}'],
    ['a20102 0103', '{1: 2, 1: 3}'],
    ['a2030401 02', '{3: 4, 1: 2}'],
    ['a1f7f6', '{undefined: null}'],
    ['a1fb3ff199999999999a4100', "{1.1: h'00'}"],
    ['bfff', '{_ }'],
    ['5fff', "''_"],
    ['7fff', '""_'],
    ['5f40ff', "(_ h'')"],
    ['7f60ff', '(_ "")'],
    ['7f6161 6162ff', '(_ "a", "b")'],
    ['9f9f9fffffff', '[_ [_ [_ ]]]'],
    ['81818180', '[[[[]]]]'],
    ['5801ff', "h'ff'"],
    ['4cDEADBEEFcafebabe00112233', "h'deadbeefcafebabe00112233'"],
    ['6a0a09220d5c0008 0c1f7f', '"\\n\\t\\"\\r\\\\\\u0000\\b\\f\\u001f\\u007f"'],
    ['63efbbbf', '"\\ufeff"'],
    ['62c280', '"\\u0080"'],
    ['64f48fbfbf', '"\\udbff\\udfff"'],
    ['6127', `"'"`],
  ];
  for (const [hex, expected] of cases) {
    t.is(toDiagnostic(parseHex(hex)), expected, hex);
  }
});

test('bignums up to 1024 bytes render as integers, longer ones as tagged byte strings', (t) => {
  const bignum = (tag: number, length: number, fill: number) => {
    const b = new Uint8Array(4 + length).fill(fill);
    b.set([tag, 0x59, length >> 8, length & 0xff]);
    return b;
  };
  t.is(toDiagnostic(bignum(0xc2, 1024, 0xff)), ((1n << 8192n) - 1n).toString());
  t.is(toDiagnostic(bignum(0xc3, 1024, 0xff)), (-(1n << 8192n)).toString());
  const long = toDiagnostic(bignum(0xc2, 1025, 0xab));
  t.is(long, `2(h'${'ab'.repeat(1025)}')`);
  t.is(toDiagnostic(bignum(0xc3, 1025, 0x00)), `3(h'${'00'.repeat(1025)}')`);
});

function expectCode(t: import('ava').ExecutionContext, fn: () => unknown, code: ProtocolErrorCode): void {
  const err = t.throws(fn, { instanceOf: ProtocolError });
  t.is(err?.code, code, err?.message);
}

test('malformed input throws ProtocolError with the right code', (t) => {
  const cases: ReadonlyArray<readonly [string, ProtocolErrorCode]> = [
    // truncated
    ['18', 'CBOR_TRUNCATED'],
    ['19 01', 'CBOR_TRUNCATED'],
    ['1b 00000000000000', 'CBOR_TRUNCATED'],
    ['44 010203', 'CBOR_TRUNCATED'],
    ['63 6161', 'CBOR_TRUNCATED'],
    ['83 0102', 'CBOR_TRUNCATED'],
    ['a2 0102 03', 'CBOR_TRUNCATED'],
    ['9f 01', 'CBOR_TRUNCATED'],
    ['bf 0102', 'CBOR_TRUNCATED'],
    ['5f 4101', 'CBOR_TRUNCATED'],
    ['c1', 'CBOR_TRUNCATED'],
    ['c2', 'CBOR_TRUNCATED'],
    ['c2 42 01', 'CBOR_TRUNCATED'],
    ['f9 00', 'CBOR_TRUNCATED'],
    ['fa 000000', 'CBOR_TRUNCATED'],
    ['fb 00000000000000', 'CBOR_TRUNCATED'],
    ['f8', 'CBOR_TRUNCATED'],
    ['5b ffffffffffffffff', 'CBOR_TRUNCATED'],
    ['7b 7fffffffffffffff', 'CBOR_TRUNCATED'],
    ['bb 7fffffffffffffff', 'CBOR_TRUNCATED'],
    ['ba 7fffffff 00', 'CBOR_TRUNCATED'],
    // reserved additional information 28..30
    ['1c', 'CBOR_RESERVED'],
    ['1d', 'CBOR_RESERVED'],
    ['3e', 'CBOR_RESERVED'],
    ['5c', 'CBOR_RESERVED'],
    ['7d', 'CBOR_RESERVED'],
    ['9e', 'CBOR_RESERVED'],
    ['bc', 'CBOR_RESERVED'],
    ['dd', 'CBOR_RESERVED'],
    ['fc', 'CBOR_RESERVED'],
    ['fd', 'CBOR_RESERVED'],
    ['fe', 'CBOR_RESERVED'],
    ['81 1c', 'CBOR_RESERVED'],
    // indefinite length where not allowed
    ['1f', 'CBOR_RESERVED'],
    ['3f', 'CBOR_RESERVED'],
    ['df', 'CBOR_RESERVED'],
    // breaks outside an indefinite array or map
    ['ff', 'CBOR_RESERVED'],
    ['81 ff', 'CBOR_RESERVED'],
    ['a1 ff 01', 'CBOR_RESERVED'],
    ['a1 01 ff', 'CBOR_RESERVED'],
    ['c1 ff', 'CBOR_RESERVED'],
    ['bf 01 ff', 'CBOR_RESERVED'],
    ['9f 81 ff', 'CBOR_RESERVED'],
    // bad chunks in indefinite strings
    ['5f 6161 ff', 'CBOR_RESERVED'],
    ['7f 4161 ff', 'CBOR_RESERVED'],
    ['5f 01 ff', 'CBOR_RESERVED'],
    ['5f 5f ff ff', 'CBOR_RESERVED'],
    ['7f 7f ff ff', 'CBOR_RESERVED'],
    ['5f 5c ff', 'CBOR_RESERVED'],
    // two-byte simple values below 32 are not well-formed
    ['f8 00', 'CBOR_RESERVED'],
    ['f8 18', 'CBOR_RESERVED'],
    ['f8 1f', 'CBOR_RESERVED'],
    // invalid UTF-8
    ['61 ff', 'CBOR_INVALID_UTF8'],
    ['61 80', 'CBOR_INVALID_UTF8'],
    ['62 c0 80', 'CBOR_INVALID_UTF8'],
    ['63 eda080', 'CBOR_INVALID_UTF8'],
    ['64 f4908080', 'CBOR_INVALID_UTF8'],
    ['62 e6b0', 'CBOR_INVALID_UTF8'],
    ['7f 62c3bc 61c3 ff', 'CBOR_INVALID_UTF8'],
    ['7f 61c3 61bc ff', 'CBOR_INVALID_UTF8'],
  ];
  for (const [hex, code] of cases) {
    const bytes = parseHex(hex);
    const err = t.throws(() => toDiagnosticSequence(bytes), { instanceOf: ProtocolError }, hex);
    t.is(err?.code, code, `${hex}: ${err?.message}`);
  }
});

test('errors inside a sequence surface after earlier good items', (t) => {
  expectCode(t, () => toDiagnosticSequence(parseHex('01 02 ff')), 'CBOR_RESERVED');
});

test('10000-deep nesting throws CBOR_TOO_DEEP without overflowing the stack', (t) => {
  const deep = new Uint8Array(10_001).fill(0x81);
  deep[10_000] = 0x00;
  expectCode(t, () => toDiagnosticSequence(deep), 'CBOR_TOO_DEEP');
  const tags = new Uint8Array(10_001).fill(0xc1);
  tags[10_000] = 0x00;
  expectCode(t, () => toDiagnostic(tags), 'CBOR_TOO_DEEP');
  const maps = new Uint8Array(20_000);
  for (let i = 0; i < maps.length; i += 2) maps.set([0xa1, 0x00], i);
  expectCode(t, () => toDiagnostic(maps), 'CBOR_TOO_DEEP');
});

test('maxDepth bounds nesting exactly (top level is depth 0)', (t) => {
  const nest = (n: number) => {
    const b = new Uint8Array(n + 1).fill(0x81);
    b[n] = 0x00;
    return b;
  };
  t.is(toDiagnostic(nest(256)), `${'['.repeat(256)}0${']'.repeat(256)}`);
  expectCode(t, () => toDiagnostic(nest(257)), 'CBOR_TOO_DEEP');
  t.is(toDiagnostic(nest(3), { maxDepth: 3 }), '[[[0]]]');
  expectCode(t, () => toDiagnostic(nest(3), { maxDepth: 2 }), 'CBOR_TOO_DEEP');
  t.is(toDiagnostic(parseHex('80'), { maxDepth: 0 }), '[]');
  t.is(toDiagnostic(parseHex('c240'), { maxDepth: 1 }), '0');
  expectCode(t, () => toDiagnostic(parseHex('c240'), { maxDepth: 0 }), 'CBOR_TOO_DEEP');
  // Iterative decoding: a huge bound and huge nesting is fine.
  const huge = toDiagnostic(nest(200_000), { maxDepth: 1_000_000 });
  t.is(huge.length, 400_001);
  t.throws(() => toDiagnostic(parseHex('00'), { maxDepth: -1 }), { instanceOf: RangeError });
  t.throws(() => toDiagnostic(parseHex('00'), { maxDepth: 1.5 }), { instanceOf: RangeError });
});

test('an array claiming 2^63 items in 9 bytes throws CBOR_TRUNCATED at its head, before reading any element', (t) => {
  // The declared count is checked against the bytes left at the head (offset 0): an element-by-element
  // walk would instead fail later, at the first missing element's offset, after allocating for it.
  const atHead = (hex: string, what: RegExp) => {
    const err = t.throws(() => toDiagnostic(parseHex(hex)), { instanceOf: ProtocolError });
    t.is(err?.code, 'CBOR_TRUNCATED', err?.message);
    t.regex(err?.message ?? '', what);
  };
  atHead('9b 8000000000000000', /the array of 9223372036854775808 element\(s\) at offset 0: it needs at least over 2\^53 bytes/);
  atHead('bb 8000000000000000', /the map of 9223372036854775808 pair\(s\) at offset 0: it needs at least over 2\^53 bytes/);
  atHead('5b 8000000000000000', /the byte string at offset 0: it needs at least over 2\^53 bytes/);
  atHead('9a ffffffff 00', /the array of 4294967295 element\(s\) at offset 0: it needs at least 4294967300 bytes/);
});

test('parseHex accepts whitespace, 0x prefix and either case', (t) => {
  t.deepEqual(parseHex(''), new Uint8Array(0));
  t.deepEqual(parseHex('  0x  '), new Uint8Array(0));
  t.deepEqual(parseHex('0x83010203'), Uint8Array.of(0x83, 1, 2, 3));
  t.deepEqual(parseHex('  0XaB cD\n\tEf 0 1 '), Uint8Array.of(0xab, 0xcd, 0xef, 0x01));
  t.deepEqual(parseHex('DEADbeef'), Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
});

test('parseHex rejects bad characters and odd lengths with TypeError', (t) => {
  t.throws(() => parseHex('abc'), { instanceOf: TypeError, message: 'hex: odd number of hex digits (3)' });
  t.throws(() => parseHex('0x0'), { instanceOf: TypeError, message: /^hex: odd/ });
  t.throws(() => parseHex('01g2'), {
    instanceOf: TypeError,
    message: 'hex: invalid character "g" (U+0067) at offset 2',
  });
  t.throws(() => parseHex('01 0x02'), { instanceOf: TypeError, message: /"x".*offset 4/ });
  t.throws(() => parseHex("h'01'"), { instanceOf: TypeError, message: /^hex: invalid character "h"/ });
  t.throws(() => parseHex('00😀'), { instanceOf: TypeError, message: /"😀" \(U\+1F600\) at offset 2/ });
});

test('property: random bytes either render or throw ProtocolError, never anything else', (t) => {
  // Half uniform bytes, half bytes drawn from CBOR heads likely to build deep/odd structure.
  const interesting = [
    0x00, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1f, 0x20, 0x38, 0x3b, 0x40, 0x41, 0x58, 0x5b, 0x5f, 0x60, 0x61, 0x62, 0x63, 0x7f,
    0x80, 0x81, 0x82, 0x98, 0x9b, 0x9f, 0xa0, 0xa1, 0xb8, 0xbf, 0xc0, 0xc2, 0xc3, 0xd8, 0xdb, 0xdf, 0xf4, 0xf7, 0xf8, 0xf9, 0xfa,
    0xfb, 0xfc, 0xff, 0xc3, 0xe6, 0xf0,
  ];
  const arb = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.array(fc.constantFrom(...interesting), { maxLength: 64 }).map((a) => Uint8Array.from(a)),
  );
  fc.assert(
    fc.property(arb, (bytes) => {
      try {
        const out = toDiagnosticSequence(bytes, { maxDepth: 8 });
        return out.every((s) => typeof s === 'string' && s.length > 0);
      } catch (err) {
        return err instanceof ProtocolError;
      }
    }),
    { numRuns: 5000 },
  );
  t.pass();
});
