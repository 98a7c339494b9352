/**
 * Tests of X25519 (protocols/src/crypto/x25519.ts).
 *
 * Checks:
 * - RFC 7748 §6.1 (vectors/rfc7748/x25519.json): both public keys and the shared secret, both ways.
 * - Wycheproof `x25519_test.json` (C2SP/wycheproof, `testdata/wycheproof`): every one of its 518
 *   vectors. `valid` must give `shared`. `acceptable` vectors (public keys on the twist, of low
 *   order, non-canonical u ≥ p, with the top bit set, edge cases of the ladder) are accepted as
 *   RFC 7748 §5 prescribes and must give `shared` — EXCEPT the 31 whose shared secret is all zero
 *   (flag ZeroSharedSecret, low-order public keys): those we deliberately reject with
 *   CRYPTO_WEAK_SHARED_SECRET (RFC 7748 §6.1 "MAY check … all-zero", which we make a MUST), so
 *   a peer can never force a known secret. The test asserts exactly that split.
 * - Wrong-length keys (CRYPTO_INVALID_KEY), wrong types (TypeError), injected randomness, and a
 *   fast-check property that both sides agree.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import fc from 'fast-check';
import { toHex } from '../src/bytes.ts';
import { x25519, x25519Generate, x25519PublicKey } from '../src/crypto/index.ts';
import { ProtocolError } from '../src/errors.ts';

/** The repository's copied test vectors, found relative to this file. */
const TESTDATA = fileURLToPath(new URL('../../testdata/', import.meta.url));

const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

function throwsCode(t: ExecutionContext, fn: () => unknown, code: ProtocolError['code']): void {
  const err = t.throws(fn, { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, code);
}

interface Rfc7748Vector {
  alicePrivate: string;
  alicePublic: string;
  bobPrivate: string;
  bobPublic: string;
  shared: string;
}
const RFC7748 = JSON.parse(readFileSync(new URL('./vectors/rfc7748/x25519.json', import.meta.url), 'utf8')) as Rfc7748Vector;

interface WycheproofXdh {
  numberOfTests: number;
  testGroups: {
    curve: string;
    tests: { tcId: number; comment: string; flags: string[]; public: string; private: string; shared: string; result: string }[];
  }[];
}
const WYCHEPROOF = JSON.parse(readFileSync(join(TESTDATA, 'wycheproof/x25519_test.json'), 'utf8')) as WycheproofXdh;

test('RFC 7748 §6.1: public keys of Alice and Bob, and the shared secret both ways', (t) => {
  const a = bytes(RFC7748.alicePrivate);
  const b = bytes(RFC7748.bobPrivate);
  t.is(toHex(x25519PublicKey(a)), RFC7748.alicePublic);
  t.is(toHex(x25519PublicKey(b)), RFC7748.bobPublic);
  t.is(toHex(x25519(a, bytes(RFC7748.bobPublic))), RFC7748.shared);
  t.is(toHex(x25519(b, bytes(RFC7748.alicePublic))), RFC7748.shared);
});

test('Wycheproof x25519_test.json: valid and acceptable give the shared secret; all-zero results are refused', (t) => {
  let count = 0;
  let zeroRejected = 0;
  const failures: string[] = [];
  for (const g of WYCHEPROOF.testGroups) {
    t.is(g.curve, 'curve25519');
    for (const tc of g.tests) {
      count++;
      const zero = /^(00)+$/.test(tc.shared);
      try {
        const got = toHex(x25519(bytes(tc.private), bytes(tc.public)));
        if (zero) failures.push(`tcId ${tc.tcId}: all-zero shared secret accepted`);
        else if (got !== tc.shared) failures.push(`tcId ${tc.tcId} (${tc.comment}): got ${got}`);
        else if (tc.result === 'invalid') failures.push(`tcId ${tc.tcId}: invalid accepted`);
      } catch (e) {
        if (zero && e instanceof ProtocolError && e.code === 'CRYPTO_WEAK_SHARED_SECRET') {
          zeroRejected++;
          if (!tc.flags.includes('ZeroSharedSecret')) failures.push(`tcId ${tc.tcId}: zero result without the flag`);
        } else if (tc.result !== 'invalid') {
          failures.push(`tcId ${tc.tcId} (${tc.comment}) [${tc.result}]: threw ${(e as Error).message}`);
        }
      }
    }
  }
  t.deepEqual(failures, []);
  t.is(count, WYCHEPROOF.numberOfTests);
  t.is(zeroRejected, 31);
});

test('the all-zero public key and the other small-order u-coordinates give CRYPTO_WEAK_SHARED_SECRET', (t) => {
  const { privateKey } = x25519Generate();
  const P = (1n << 255n) - 19n;
  const le = (v: bigint): Uint8Array => {
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++, v >>= 8n) out[i] = Number(v & 0xffn);
    return out;
  };
  // u = 0, 1, p-1 (order 1, 4, 2), their u + p encodings, and the two order-8 points (RFC 7748 §7 / libsodium list)
  const small = [
    le(0n),
    le(1n),
    le(P - 1n),
    le(P),
    le(P + 1n),
    bytes('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'),
    bytes('5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157'),
  ];
  for (const u of small) throwsCode(t, () => x25519(privateKey, u), 'CRYPTO_WEAK_SHARED_SECRET');
});

test('keys of the wrong length throw CRYPTO_INVALID_KEY; wrong types throw TypeError', (t) => {
  const { privateKey, publicKey } = x25519Generate();
  for (const n of [0, 31, 33, 56]) {
    throwsCode(t, () => x25519(new Uint8Array(n), publicKey), 'CRYPTO_INVALID_KEY');
    throwsCode(t, () => x25519(privateKey, new Uint8Array(n)), 'CRYPTO_INVALID_KEY');
    throwsCode(t, () => x25519PublicKey(new Uint8Array(n)), 'CRYPTO_INVALID_KEY');
  }
  for (const b of ['00', 9, null, undefined, [1], {}, new Uint32Array(8)] as unknown[]) {
    const any = b as Uint8Array;
    t.throws(() => x25519(any, publicKey), { instanceOf: TypeError, message: /^privateKey must be a Uint8Array/ });
    t.throws(() => x25519(privateKey, any), { instanceOf: TypeError, message: /^peerPublicKey must be a Uint8Array/ });
    t.throws(() => x25519PublicKey(any), { instanceOf: TypeError });
  }
  t.throws(() => x25519Generate(() => new Uint8Array(8)), { instanceOf: TypeError });
});

test('injected randomness: x25519Generate uses the given bytes', (t) => {
  const priv = bytes(RFC7748.alicePrivate);
  const kp = x25519Generate(() => priv);
  t.deepEqual(kp.privateKey, priv);
  t.is(toHex(kp.publicKey), RFC7748.alicePublic);
});

test('property: both sides compute the same 32-byte secret', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (a, b) => {
      const ab = x25519(a, x25519PublicKey(b));
      const ba = x25519(b, x25519PublicKey(a));
      return ab.length === 32 && toHex(ab) === toHex(ba);
    }),
    { numRuns: 100 },
  );
  t.pass();
});
