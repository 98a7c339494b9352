/**
 * Tests of the lenient CBOR decoder used for foreign COSE messages (protocols/src/cose/lenient.ts).
 *
 * Checks:
 * - RFC 8949 Appendix A: the examples in non-preferred forms (indefinite-length strings, arrays and
 *   maps; half, single and double floats) decode to their values; non-shortest heads decode to
 *   the same value as the shortest.
 * - RFC 8949 §3 / RFC 9052 §14 rejections with the strict decoder's codes: truncation, trailing
 *   bytes, reserved additional information, stray breaks, wrong chunk types, duplicate keys,
 *   non-integer/text keys, invalid UTF-8, undefined and other simple values, depth and size bounds
 *   (checked before allocating).
 * - fast-check: on every deterministic encoding the lenient decoder agrees with the strict one;
 *   random bytes raise only ProtocolError.
 */

import test from 'ava';
import fc from 'fast-check';
import type { CborValue } from '../src/cbor/index.ts';
import { decode, encode, Tagged } from '../src/cbor/index.ts';
import { decodeLenient } from '../src/cose/index.ts';
import { ProtocolError } from '../src/errors.ts';

const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

// RFC 8949 Appendix A, items whose encoding is not the deterministic one (and two plain ones)
const APPENDIX_A: [string, CborValue][] = [
  ['5f42010243030405ff', bytes('0102030405')],
  ['7f657374726561646d696e67ff', 'streaming'],
  ['9fff', []],
  ['9f018202039f0405ffff', [1, [2, 3], [4, 5]]],
  ['9f01820203820405ff', [1, [2, 3], [4, 5]]],
  ['83018202039f0405ff', [1, [2, 3], [4, 5]]],
  ['83019f0203ff820405', [1, [2, 3], [4, 5]]],
  [
    'bf61610161629f0203ffff',
    new Map<string, CborValue>([
      ['a', 1],
      ['b', [2, 3]],
    ]),
  ],
  ['826161bf61626163ff', ['a', new Map([['b', 'c']])]],
  [
    'bf6346756ef563416d7421ff',
    new Map<string, CborValue>([
      ['Fun', true],
      ['Amt', -2],
    ]),
  ],
  ['f93c00', 1],
  ['f97c00', Number.POSITIVE_INFINITY],
  ['fa47c35000', 100000],
  ['fb3ff199999999999a', 1.1],
  ['f90001', 2 ** -24],
  ['c11a514b67b0', new Tagged(1, 1363896240)],
  ['3bffffffffffffffff', -18446744073709551616n],
];

for (const [h, v] of APPENDIX_A) {
  test(`RFC 8949 Appendix A: ${h}`, (t) => {
    t.deepEqual(decodeLenient(bytes(h)), v);
  });
}

test('non-shortest heads decode like the shortest', (t) => {
  t.is(decodeLenient(bytes('1801')), 1);
  t.is(decodeLenient(bytes('190001')), 1);
  t.is(decodeLenient(bytes('1a00000001')), 1);
  t.is(decodeLenient(bytes('1b0000000000000001')), 1);
  t.is(decodeLenient(bytes('3800')), -1);
  t.deepEqual(decodeLenient(bytes('5801ff')), bytes('ff'));
  t.deepEqual(decodeLenient(bytes('98020102')), [1, 2]);
  t.deepEqual(decodeLenient(bytes('b8010102')), new Map([[1, 2]]));
  t.deepEqual(decodeLenient(bytes('d81201')), new Tagged(18, 1));
  t.is(decodeLenient(bytes('fb3ff0000000000000')), 1);
  t.is(decodeLenient(bytes('1b0020000000000000')), 2n ** 53n); // beyond 2^53-1: a bigint, as in the strict decoder
  t.is(decodeLenient(bytes('1b001fffffffffffff')), Number.MAX_SAFE_INTEGER);
});

test('rejections keep the strict decoder codes', (t) => {
  const cases: [string, string, ProtocolError['code']][] = [
    ['', 'empty', 'CBOR_TRUNCATED'],
    ['18', 'head cut', 'CBOR_TRUNCATED'],
    ['5a00010000', 'declared 64 KiB, none there', 'CBOR_TRUNCATED'],
    ['9b0000000100000000', 'declared 2^32 items', 'CBOR_TOO_LARGE'],
    ['0000', 'trailing', 'CBOR_TRAILING_BYTES'],
    ['1c', 'ai 28', 'CBOR_RESERVED'],
    ['ff', 'stray break', 'CBOR_RESERVED'],
    ['1f', 'indefinite integer', 'CBOR_RESERVED'],
    ['df00', 'indefinite tag', 'CBOR_RESERVED'],
    ['5f6161ff', 'text chunk in a byte string', 'CBOR_RESERVED'],
    ['5f5f4100ffff', 'nested indefinite chunk', 'CBOR_RESERVED'],
    ['a20100ff0000', 'break inside a definite map', 'CBOR_RESERVED'],
    ['9f01', 'unterminated indefinite array', 'CBOR_TRUNCATED'],
    ['a201000100', 'duplicate key', 'CBOR_DUPLICATE_KEY'],
    ['a2011800 0100', 'duplicate key, one non-shortest', 'CBOR_DUPLICATE_KEY'],
    ['a1f93c0000', 'float key', 'CBOR_INVALID_KEY'],
    ['a1410000', 'bytes key', 'CBOR_INVALID_KEY'],
    ['a1800000', 'array key', 'CBOR_INVALID_KEY'],
    ['62c328', 'invalid UTF-8', 'CBOR_INVALID_UTF8'],
    ['7f61c361a9ff', 'UTF-8 split across chunks is fine: valid', 'CBOR_RESERVED'],
    ['f7', 'undefined', 'CBOR_UNSUPPORTED_SIMPLE'],
    ['f0', 'simple 16', 'CBOR_UNSUPPORTED_SIMPLE'],
    ['f820', 'simple 32', 'CBOR_UNSUPPORTED_SIMPLE'],
    ['dbffffffffffffffff00', 'tag over 2^53', 'CBOR_UNSUPPORTED_TAG'],
    [`${'81'.repeat(17)}00`, '17 levels', 'CBOR_TOO_DEEP'],
  ];
  for (const [h, name, code] of cases) {
    if (name.includes('is fine')) {
      t.is(decodeLenient(bytes(h)), 'é', name);
      continue;
    }
    const err = t.throws(() => decodeLenient(bytes(h)), { instanceOf: ProtocolError }, name) as ProtocolError;
    t.is(err?.code, code, `${name}: ${err?.message}`);
  }
  const err = t.throws(() => decodeLenient(new Uint8Array(10), { maxBytes: 5 }), { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, 'CBOR_TOO_LARGE');
  t.deepEqual(decodeLenient(bytes(`${'81'.repeat(16)}00`)), JSON.parse(`${'['.repeat(16)}0${']'.repeat(16)}`));
});

/** Values of the shared model (no NaN: deepEqual and strict decode agree on it anyway). */
const value: fc.Arbitrary<CborValue> = fc.letrec<{ v: CborValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n }).filter((b) => b < -(2n ** 53n) || b > 2n ** 53n),
    fc.double({ noNaN: true }).filter((d) => !Number.isInteger(d) || Number.isSafeInteger(d)),
    fc.string(),
    fc.uint8Array({ maxLength: 40 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 5 }),
    fc
      .uniqueArray(fc.tuple(fc.oneof(fc.integer(), fc.string()), tie('v')), { maxLength: 5, selector: (e) => e[0] })
      .map((es) => new Map(es)),
    tie('v').map((v) => new Tagged(18, v)),
  ),
})).v;

test('property: on deterministic encodings the lenient decoder agrees with the strict decoder', (t) => {
  fc.assert(
    fc.property(value, (v) => {
      const enc = encode(v);
      t.deepEqual(decodeLenient(enc), decode(enc, { allowedTags: new Set([18]) }));
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('property: random bytes raise only ProtocolError', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      try {
        decodeLenient(b);
        return true;
      } catch (e) {
        return e instanceof ProtocolError;
      }
    }),
    { numRuns: 2000 },
  );
  t.pass();
});
