/**
 * Property tests of the strict deterministic CBOR codec (fast-check, default seeding: a failure
 * prints its seed and path for replay).
 *
 * Checks: RFC 8949 §4.2.1 core deterministic encoding (round trip, insertion-order independence),
 * §5.3/§4.2 strictness of the decoder on untrusted input (every accepted input is the canonical
 * encoding of its value: encode(decode(b)) == b; everything else is a ProtocolError, never another
 * error), and byte equality with cborg's RFC 8949 deterministic mode (`rfc8949EncodeOptions`).
 */

import test from 'ava';
import * as cborg from 'cborg';
import fc from 'fast-check';
import { toHex } from '../src/bytes.ts';
import type { CborKey, CborMap, CborValue } from '../src/cbor/index.ts';
import { decode, encode, Tagged } from '../src/cbor/index.ts';
import { ProtocolError } from '../src/errors.ts';

const TAGS = [0, 1, 2, 24, 32, 55799, 1_000_000];
const ALLOWED = { allowedTags: new Set(TAGS) };
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/** The value decode returns for `v`: bigints in the safe range come back as numbers. */
function normInt(v: number | bigint): number | bigint {
  return typeof v === 'bigint' && v >= -MAX_SAFE_BIG && v <= MAX_SAFE_BIG ? Number(v) : v;
}

/** Deep equality of the value model: Object.is on numbers (NaN == NaN, -0 != 0), maps unordered. */
function same(a: CborValue, b: CborValue): boolean {
  if (typeof a === 'bigint' || typeof a === 'number') {
    if (typeof b !== 'bigint' && typeof b !== 'number') return false;
    return Object.is(normInt(a), normInt(b));
  }
  if (typeof a !== 'object' || a === null) return a === b;
  if (typeof b !== 'object' || b === null) return false;
  if (a instanceof Uint8Array) {
    return b instanceof Uint8Array && a.length === b.length && a.every((x, i) => x === b[i]);
  }
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i] as CborValue));
  }
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) {
      const nk = typeof k === 'string' ? k : normInt(k);
      if (!b.has(nk)) return false;
      if (!same(v, b.get(nk) as CborValue)) return false;
    }
    return true;
  }
  if (a instanceof Tagged) return b instanceof Tagged && a.tag === b.tag && same(a.value, b.value);
  return false;
}

/** Integral numbers beyond 2^53 have no encoding (use bigint); every other double does. */
const encodableDouble = (d: number): boolean => !Number.isInteger(d) || Number.isSafeInteger(d);

/** A half-precision subnormal (0 < |d| < 2^-14, a multiple of 2^-24). */
const halfSubnormal = (d: number): boolean => d !== 0 && Math.abs(d) < 2 ** -14 && Number.isInteger(d * 2 ** 24);

interface ArbOptions {
  /** include -0 (cborg encodes it as integer 0) */
  negativeZero: boolean;
  /** include half-precision subnormals (cborg writes most of them as single precision) */
  halfSubnormals: boolean;
  /** include Tagged */
  tags: boolean;
}

function valueArb(opts: ArbOptions): fc.Arbitrary<CborValue> {
  const int = fc.oneof(
    fc.integer({ min: -30, max: 30 }),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.constantFrom(23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -24, -25, -256, -257),
  );
  const big = fc.oneof(
    fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n }),
    fc.constantFrom(2n ** 64n - 1n, -(2n ** 64n), MAX_SAFE_BIG + 1n, -MAX_SAFE_BIG - 1n, 5n),
  );
  const dbl = fc
    .oneof(
      fc.double(),
      fc.float(),
      fc.integer({ min: 0, max: 0xffff }).map(halfToNumber),
      fc.constantFrom(1.1, 1.5, -4.1, 0.5, 2 ** -24, Number.NaN, Infinity, -Infinity, 2 ** -126, 5e-324),
    )
    .filter(encodableDouble)
    .filter((d) => opts.negativeZero || !Object.is(d, -0))
    .filter((d) => opts.halfSubnormals || !halfSubnormal(d));
  const str = fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ minLength: 20, maxLength: 300 }));
  const bytes = fc.uint8Array({ maxLength: 64 });
  const leaf: fc.Arbitrary<CborValue> = fc.oneof(int, big, dbl, str, bytes, fc.boolean(), fc.constant(null));
  const key: fc.Arbitrary<CborKey> = fc.oneof(
    fc.integer({ min: -5, max: 40 }),
    int,
    big,
    fc.string({ maxLength: 6 }),
    fc.string({ unit: 'binary', maxLength: 4 }),
  );
  const keySelector = (e: [CborKey, CborValue]): string => {
    const k = e[0];
    return typeof k === 'string' ? `s${k}` : `i${String(normInt(k))}`;
  };
  return fc.letrec<{ value: CborValue }>((tie) => {
    const branches: fc.Arbitrary<CborValue>[] = [
      leaf,
      fc.array(tie('value'), { maxLength: 5 }),
      fc
        .uniqueArray(fc.tuple(key, tie('value')), { maxLength: 6, selector: keySelector })
        .map((entries) => new Map(entries) as CborMap),
    ];
    if (opts.tags) branches.push(fc.tuple(fc.constantFrom(...TAGS), tie('value')).map(([tg, v]) => new Tagged(tg, v)));
    return { value: fc.oneof({ depthSize: 'small', maxDepth: 4 }, ...branches) };
  }).value;
}

function halfToNumber(h: number): number {
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  const v = exp === 0 ? mant * 2 ** -24 : exp === 31 ? (mant ? Number.NaN : Infinity) : (mant + 1024) * 2 ** (exp - 25);
  return h & 0x8000 ? -v : v;
}

const anyValue = valueArb({ negativeZero: true, halfSubnormals: true, tags: true });

/** Rebuilds every map of `v` with its entries in another order (a permutation driven by `seed`). */
function reorder(v: CborValue, seed: number): CborValue {
  if (Array.isArray(v)) return v.map((x) => reorder(x, seed));
  if (v instanceof Tagged) return new Tagged(v.tag, reorder(v.value, seed));
  if (v instanceof Map) {
    const entries = [...v].map(([k, x]) => [k, reorder(x, seed)] as [CborKey, CborValue]);
    let s = seed >>> 0 || 1;
    for (let i = entries.length - 1; i > 0; i--) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const j = s % (i + 1);
      [entries[i], entries[j]] = [entries[j] as [CborKey, CborValue], entries[i] as [CborKey, CborValue]];
    }
    return new Map(entries.reverse());
  }
  return v;
}

/** decode(b) either throws ProtocolError or yields a value that re-encodes to exactly b. */
function strictOrCanonical(b: Uint8Array): boolean {
  let v: CborValue;
  try {
    v = decode(b, ALLOWED);
  } catch (err) {
    if (err instanceof ProtocolError) return true;
    throw err;
  }
  const again = encode(v);
  if (toHex(again) !== toHex(b)) throw new Error(`accepted ${toHex(b)} but it re-encodes to ${toHex(again)}`);
  return true;
}

test('(1) decode(encode(v)) equals v for every value of the model', (t) => {
  fc.assert(
    fc.property(anyValue, (v) => {
      const e = encode(v);
      const back = decode(e, ALLOWED);
      if (!same(v, back)) return false;
      return toHex(encode(back)) === toHex(e);
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('(2) encoding is independent of map insertion order', (t) => {
  fc.assert(
    fc.property(anyValue, fc.nat(), (v, seed) => toHex(encode(v)) === toHex(encode(reorder(v, seed)))),
    { numRuns: 1000 },
  );
  t.pass();
});

test('(3a) arbitrary bytes: rejected with ProtocolError or accepted only in canonical form', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 48 }), strictOrCanonical), { numRuns: 2000 });
  // Inputs that start like containers, to get past the first byte more often.
  const structured = fc
    .tuple(
      fc.constantFrom(0x81, 0x82, 0xa1, 0xa2, 0xc1, 0xd8, 0x9f, 0x5f, 0x78, 0xf9, 0xfa, 0xfb),
      fc.uint8Array({ maxLength: 24 }),
    )
    .map(([h, rest]) => Uint8Array.of(h, ...rest));
  fc.assert(fc.property(structured, strictOrCanonical), { numRuns: 2000 });
  t.pass();
});

type Mutation = { kind: 'flip' | 'insert' | 'delete' | 'set'; at: number; byte: number };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('flip', 'insert', 'delete', 'set'),
  at: fc.nat(),
  byte: fc.integer({ min: 0, max: 255 }),
});

function mutate(b: Uint8Array, muts: Mutation[]): Uint8Array {
  const out = [...b];
  for (const m of muts) {
    const at = out.length === 0 ? 0 : m.at % (m.kind === 'insert' ? out.length + 1 : out.length);
    if (m.kind === 'insert') out.splice(at, 0, m.byte);
    else if (out.length === 0) continue;
    else if (m.kind === 'delete') out.splice(at, 1);
    else if (m.kind === 'flip') out[at] = (out[at] as number) ^ (1 << (m.byte & 7));
    else out[at] = m.byte;
  }
  return Uint8Array.from(out);
}

test('(3b) mutated valid encodings: rejected with ProtocolError or accepted only in canonical form', (t) => {
  fc.assert(
    fc.property(anyValue, fc.array(mutation, { minLength: 1, maxLength: 3 }), (v, muts) =>
      strictOrCanonical(mutate(encode(v), muts)),
    ),
    { numRuns: 2000 },
  );
  t.pass();
});

/** Our model -> cborg's: only Tagged differs (cborg has its own Tagged class). */
function toCborg(v: CborValue): unknown {
  if (Array.isArray(v)) return v.map(toCborg);
  if (v instanceof Tagged) return new cborg.Tagged(v.tag, toCborg(v.value));
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, toCborg(x)]));
  return v;
}

test('(4) byte-equal to cborg.encode(v, rfc8949EncodeOptions)', (t) => {
  // Restrictions of the generator for this cross-check, where the two value models differ:
  // - no -0: cborg encodes -0 as the integer 0 (00); this codec keeps it as the float f98000;
  // - no half-precision subnormals: cborg 6.1.5 encodes a half subnormal whose mantissa is not a
  //   power of two (e.g. 5 * 2^-24 = 2.98e-7) as single precision (fa34a00000) although the half
  //   f90005 is exact and shorter, which RFC 8949 §4.2.2 requires; this codec writes the half;
  // - integral numbers beyond 2^53 are excluded (by all generators): cborg writes them as floats,
  //   this codec refuses them (use bigint);
  // - map keys are unique after normalizing 1n to 1 (by all generators): cborg would emit both.
  // Everything else (ints, bigints in the 64-bit range, floats, strings, bytes, nested arrays and
  // Maps with int/text keys, tags via cborg.Tagged) is compared as is.
  const arb = valueArb({ negativeZero: false, halfSubnormals: false, tags: true });
  fc.assert(
    fc.property(arb, (v) => toHex(encode(v)) === toHex(cborg.encode(toCborg(v), cborg.rfc8949EncodeOptions))),
    { numRuns: 2000 },
  );
  t.pass();
});
