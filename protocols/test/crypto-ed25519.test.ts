/**
 * Tests of Ed25519 (protocols/src/crypto/ed25519.ts).
 *
 * Checks:
 * - RFC 8032 §7.1 TEST 1-3 (vectors/rfc8032/ed25519.json): public key derivation and
 *   deterministic signatures, byte for byte.
 * - Wycheproof `ed25519_test.json` (C2SP/wycheproof, `testdata/wycheproof`): every one of its 151
 *   vectors. `valid` must verify; `invalid` must return false or, for a bad public key, throw
 *   CRYPTO_INVALID_KEY. The file has no `acceptable` vectors; if a later version adds some, they
 *   are held to the strict (RFC 8032 §5.1.7 + small-order rejection) outcome we document: an
 *   `acceptable` vector must not crash, and is reported in the test log.
 * - The small-order forgery: public key = identity (0100…00), R = identity, S = 0 verifies for any
 *   message under a cofactorless ZIP-215 / OpenSSL verifier; ours throws CRYPTO_INVALID_KEY.
 * - Every point of small order (the 8 torsion points, generated with @noble/ed25519) in every
 *   encoding — canonical, sign bit set on x = 0, and y + p for y ∈ {0, 1} — is rejected as a public
 *   key (CRYPTO_INVALID_KEY, isAcceptableEd25519PublicKey false) and as R (verify false).
 * - S ≥ L (S + L of a valid signature) is rejected: RFC 8032 §5.1.7 / §8.4 malleability.
 * - Wrong-type and wrong-length tables; injected randomness; fast-check sign/verify round trip and
 *   single-bit mutations never verifying.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Point } from '@noble/ed25519';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import fc from 'fast-check';
import { toHex } from '../src/bytes.ts';
import {
  clearCryptoCaches,
  ed25519Generate,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  isAcceptableEd25519PublicKey,
} from '../src/crypto/index.ts';
import { ProtocolError } from '../src/errors.ts';

/** The repository's copied test vectors, found relative to this file. */
const TESTDATA = fileURLToPath(new URL('../../testdata/', import.meta.url));

const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));

function throwsCode(t: ExecutionContext, fn: () => unknown, code: ProtocolError['code']): void {
  const err = t.throws(fn, { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, code);
}

interface Rfc8032Vector {
  name: string;
  secretKey: string;
  publicKey: string;
  message: string;
  signature: string;
}
const RFC8032 = JSON.parse(readFileSync(new URL('./vectors/rfc8032/ed25519.json', import.meta.url), 'utf8')) as {
  vectors: Rfc8032Vector[];
};

interface WycheproofEddsa {
  numberOfTests: number;
  testGroups: {
    publicKey: { pk: string };
    tests: {
      tcId: number;
      comment: string;
      flags: string[];
      msg: string;
      sig: string;
      result: 'valid' | 'invalid' | 'acceptable';
    }[];
  }[];
}
const WYCHEPROOF = JSON.parse(readFileSync(join(TESTDATA, 'wycheproof/ed25519_test.json'), 'utf8')) as WycheproofEddsa;

for (const v of RFC8032.vectors) {
  test(`RFC 8032 §7.1 ${v.name}: public key, deterministic signature, verification`, (t) => {
    const seed = bytes(v.secretKey);
    t.is(toHex(ed25519PublicKey(seed)), v.publicKey);
    t.is(toHex(ed25519Sign(seed, bytes(v.message))), v.signature);
    t.true(ed25519Verify(bytes(v.publicKey), bytes(v.message), bytes(v.signature)));
  });
}

test('Wycheproof ed25519_test.json: every vector has the outcome its result demands', (t) => {
  let count = 0;
  const failures: string[] = [];
  for (const g of WYCHEPROOF.testGroups) {
    const pk = bytes(g.publicKey.pk);
    for (const tc of g.tests) {
      count++;
      let outcome: 'valid' | 'false' | 'invalid-key';
      try {
        outcome = ed25519Verify(pk, bytes(tc.msg), bytes(tc.sig)) ? 'valid' : 'false';
      } catch (e) {
        if (!(e instanceof ProtocolError) || e.code !== 'CRYPTO_INVALID_KEY') throw e;
        outcome = 'invalid-key';
      }
      if (tc.result === 'valid' && outcome !== 'valid') failures.push(`tcId ${tc.tcId} (${tc.comment}): valid, got ${outcome}`);
      if (tc.result === 'invalid' && outcome === 'valid') failures.push(`tcId ${tc.tcId} (${tc.comment}): invalid, accepted`);
      if (tc.result === 'acceptable') t.log(`tcId ${tc.tcId} acceptable [${tc.flags.join(',')}]: ${outcome}`);
    }
  }
  t.deepEqual(failures, []);
  t.is(count, WYCHEPROOF.numberOfTests);
});

test('small-order forgery: identity public key, R = identity, S = 0 is refused for any message', (t) => {
  const identity = bytes('0100000000000000000000000000000000000000000000000000000000000000');
  const forged = cat(identity, new Uint8Array(32));
  for (const msg of [new Uint8Array(0), bytes('00'), new TextEncoder().encode('transfer 1000 EUR')]) {
    throwsCode(t, () => ed25519Verify(identity, msg, forged), 'CRYPTO_INVALID_KEY');
  }
  t.false(isAcceptableEd25519PublicKey(identity));
  // R = identity and S = 0 under a real key: no exception, just false.
  const { seed, publicKey } = ed25519Generate();
  t.false(ed25519Verify(publicKey, bytes('00'), forged));
  t.true(ed25519Verify(publicKey, bytes('00'), ed25519Sign(seed, bytes('00'))));
});

/** The eight torsion points, generated from the canonical order-8 point. */
function torsionPoints(): InstanceType<typeof Point>[] {
  const t8 = Point.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', false);
  const pts = [Point.ZERO];
  for (let i = 1; i < 8; i++) pts.push((pts[i - 1] as InstanceType<typeof Point>).add(t8));
  return pts;
}

/** Every 32-byte encoding a lenient decoder maps to a torsion point. */
function smallOrderEncodings(): { name: string; enc: Uint8Array }[] {
  const out: { name: string; enc: Uint8Array }[] = [];
  const P = (1n << 255n) - 19n;
  torsionPoints().forEach((p, i) => {
    const canonical = p.toBytes();
    out.push({ name: `torsion ${i} canonical`, enc: canonical });
    const { x, y } = p.toAffine();
    if (x === 0n) {
      const signed = Uint8Array.from(canonical);
      signed[31] = (signed[31] as number) | 0x80;
      out.push({ name: `torsion ${i} with the sign bit on x = 0`, enc: signed });
    }
    if (y + P < 1n << 255n) {
      // y + p: a non-canonical field element encoding the same y
      const le = Buffer.alloc(32);
      let v = y + P;
      for (let b = 0; b < 32; b++, v >>= 8n) le[b] = Number(v & 0xffn);
      const high = le[31] as number;
      le[31] = high | ((canonical[31] as number) & 0x80);
      out.push({ name: `torsion ${i} as y + p`, enc: Uint8Array.from(le) });
      const flipped = Uint8Array.from(le);
      flipped[31] = (flipped[31] as number) ^ 0x80;
      out.push({ name: `torsion ${i} as y + p, sign bit flipped`, enc: flipped });
    }
  });
  return out;
}

test('the 8 torsion points generated from the order-8 point are distinct and all of small order', (t) => {
  const pts = torsionPoints();
  const encs = new Set(pts.map((p) => toHex(p.toBytes())));
  t.is(encs.size, 8);
  for (const p of pts) t.true(p.isSmallOrder());
  t.true(pts[0]?.equals(Point.ZERO));
});

test('every encoding of a small-order point is refused as a public key (CRYPTO_INVALID_KEY)', (t) => {
  const encs = smallOrderEncodings();
  t.true(encs.length >= 14, `only ${encs.length} encodings`);
  const sig = new Uint8Array(64);
  for (const { name, enc } of encs) {
    t.false(isAcceptableEd25519PublicKey(enc), name);
    const err = t.throws(() => ed25519Verify(enc, bytes('00'), sig), { instanceOf: ProtocolError }, name) as ProtocolError;
    t.is(err.code, 'CRYPTO_INVALID_KEY', name);
  }
});

test('every encoding of a small-order point is refused as R (verify false)', (t) => {
  const { seed, publicKey } = ed25519Generate();
  const msg = bytes('c0ffee');
  const good = ed25519Sign(seed, msg);
  for (const { name, enc } of smallOrderEncodings()) {
    t.false(ed25519Verify(publicKey, msg, cat(enc, good.subarray(32))), name);
  }
});

test('non-canonical public keys (y >= p) and points off the curve are refused', (t) => {
  // y = p + 2 … (2^255 - 1): y >= p is non-canonical whatever it reduces to
  const yP2 = bytes('efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');
  const yMax = bytes('ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');
  for (const pk of [yP2, yMax]) {
    t.false(isAcceptableEd25519PublicKey(pk));
    throwsCode(t, () => ed25519Verify(pk, bytes('00'), new Uint8Array(64)), 'CRYPTO_INVALID_KEY');
  }
  // y = 2 is not on the curve (no x with -x² + y² = 1 + d x² y²)
  const offCurve = bytes('0200000000000000000000000000000000000000000000000000000000000000');
  t.false(isAcceptableEd25519PublicKey(offCurve));
});

test('RFC 8032 §5.1.7: S >= L is refused (S + L of a valid signature)', (t) => {
  const { seed, publicKey } = ed25519Generate();
  const msg = bytes('0102');
  const sig = ed25519Sign(seed, msg);
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i] as number);
  let sl = s + L; // still < 2^256 since S < L < 2^253
  const mall = Uint8Array.from(sig);
  for (let i = 0; i < 32; i++, sl >>= 8n) mall[32 + i] = Number(sl & 0xffn);
  t.true(ed25519Verify(publicKey, msg, sig));
  t.false(ed25519Verify(publicKey, msg, mall));
  // S = L exactly
  const sEqL = Uint8Array.from(sig);
  let l = L;
  for (let i = 0; i < 32; i++, l >>= 8n) sEqL[32 + i] = Number(l & 0xffn);
  t.false(ed25519Verify(publicKey, msg, sEqL));
});

test('a signature of the wrong length returns false; a public key of the wrong length throws', (t) => {
  const { seed, publicKey } = ed25519Generate();
  const msg = bytes('aa');
  const sig = ed25519Sign(seed, msg);
  for (const n of [0, 1, 63, 65, 128]) {
    const s = new Uint8Array(n);
    s.set(sig.subarray(0, Math.min(n, 64)));
    t.false(ed25519Verify(publicKey, msg, s), `length ${n}`);
  }
  for (const n of [0, 31, 33, 64]) {
    throwsCode(t, () => ed25519Verify(new Uint8Array(n), msg, sig), 'CRYPTO_INVALID_KEY');
    t.false(isAcceptableEd25519PublicKey(new Uint8Array(n)));
  }
  for (const n of [0, 31, 33, 64]) {
    throwsCode(t, () => ed25519Sign(new Uint8Array(n), msg), 'CRYPTO_INVALID_KEY');
    throwsCode(t, () => ed25519PublicKey(new Uint8Array(n)), 'CRYPTO_INVALID_KEY');
  }
});

test('wrong argument types throw TypeError naming the argument', (t) => {
  const { seed, publicKey } = ed25519Generate();
  const sig = ed25519Sign(seed, new Uint8Array(1));
  const bad: unknown[] = ['00', 0, null, undefined, [1, 2, 3], {}, new Uint16Array(16), new ArrayBuffer(32)];
  for (const b of bad) {
    const any = b as Uint8Array;
    t.throws(() => ed25519Sign(any, new Uint8Array(1)), { instanceOf: TypeError, message: /^seed must be a Uint8Array/ });
    t.throws(() => ed25519Sign(seed, any), { instanceOf: TypeError, message: /^message must be/ });
    t.throws(() => ed25519PublicKey(any), { instanceOf: TypeError, message: /^seed must be/ });
    t.throws(() => ed25519Verify(any, new Uint8Array(1), sig), { instanceOf: TypeError, message: /^publicKey must be/ });
    t.throws(() => ed25519Verify(publicKey, any, sig), { instanceOf: TypeError, message: /^message must be/ });
    t.throws(() => ed25519Verify(publicKey, new Uint8Array(1), any), { instanceOf: TypeError, message: /^signature must be/ });
    t.throws(() => isAcceptableEd25519PublicKey(any), { instanceOf: TypeError });
  }
  t.throws(() => ed25519Generate(() => new Uint8Array(31)), { instanceOf: TypeError, message: /random\(32\)/ });
});

test('injected randomness: ed25519Generate is the seed it was given; Buffers and views are accepted', (t) => {
  const seed = bytes(RFC8032.vectors[0]?.secretKey as string);
  const kp = ed25519Generate(() => seed);
  t.deepEqual(kp.seed, seed);
  t.not(kp.seed, seed); // a copy, not an alias of the caller's array
  t.is(toHex(kp.publicKey), RFC8032.vectors[0]?.publicKey as string);
  // a view into a larger buffer, and a node Buffer
  const big = new Uint8Array(100);
  big.set(seed, 10);
  t.deepEqual(ed25519PublicKey(big.subarray(10, 42)), kp.publicKey);
  t.deepEqual(ed25519Sign(Buffer.from(seed), new Uint8Array(0)), bytes(RFC8032.vectors[0]?.signature as string));
});

test('caches: results do not change after clearCryptoCaches, and a mutated seed array is not confused', (t) => {
  const a = ed25519Generate();
  const msg = bytes('1234');
  const s1 = ed25519Sign(a.seed, msg);
  clearCryptoCaches();
  t.deepEqual(ed25519Sign(a.seed, msg), s1);
  const seed = Uint8Array.from(a.seed);
  const pk1 = ed25519PublicKey(seed);
  seed[0] = (seed[0] as number) ^ 1; // caches are keyed by content, not by array identity
  t.notDeepEqual(ed25519PublicKey(seed), pk1);
  // more keys than the cache holds still give correct results
  for (let i = 0; i < 80; i++) {
    const k = ed25519Generate();
    t.true(ed25519Verify(k.publicKey, msg, ed25519Sign(k.seed, msg)));
  }
  t.true(ed25519Verify(a.publicKey, msg, s1));
});

test('property: sign/verify round trip; any single-bit change of message or signature fails', (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ maxLength: 300 }),
      fc.nat(),
      (seed, msg, bit) => {
        const pk = ed25519PublicKey(seed);
        const sig = ed25519Sign(seed, msg);
        if (!ed25519Verify(pk, msg, sig)) return false;
        const badSig = Uint8Array.from(sig);
        badSig[(bit >> 3) % 64] = (badSig[(bit >> 3) % 64] as number) ^ (1 << (bit & 7));
        if (ed25519Verify(pk, msg, badSig)) return false;
        const longer = cat(msg, bytes('00'));
        if (ed25519Verify(pk, longer, sig)) return false;
        if (msg.length > 0) {
          const badMsg = Uint8Array.from(msg);
          badMsg[(bit >> 3) % msg.length] = (badMsg[(bit >> 3) % msg.length] as number) ^ (1 << (bit & 7));
          if (ed25519Verify(pk, badMsg, sig)) return false;
        }
        return true;
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});
