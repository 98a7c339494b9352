/**
 * Tests of ChaCha20-Poly1305 (protocols/src/crypto/aead.ts), RFC 8439 §2.8.
 *
 * Checks:
 * - Wycheproof `chacha20_poly1305_test.json` (C2SP/wycheproof, `testdata/wycheproof`): every one of
 *   its 325 vectors. In the 96-bit-IV group, `valid` vectors seal to exactly `ct ‖ tag` and open
 *   back to `msg`; `invalid` ones (modified tags, edge cases) fail to open with
 *   CRYPTO_DECRYPT_FAILED. The groups with other IV sizes (0, 64, 88, 104 … 256 bits; all
 *   `invalid`, flag InvalidNonceSize) must be refused as invalid input: opening throws
 *   CRYPTO_DECRYPT_FAILED and sealing throws RangeError.
 * - Tampering with any byte of ciphertext, tag, nonce or associated data fails; short input fails;
 *   wrong key lengths are CRYPTO_INVALID_KEY; wrong types are TypeError.
 * - fast-check: random key/nonce/plaintext/ad round trip.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import fc from 'fast-check';
import { toHex } from '../src/bytes.ts';
import { chachaOpen, chachaSeal } from '../src/crypto/index.ts';
import { ProtocolError } from '../src/errors.ts';

/** The repository's copied test vectors, found relative to this file. */
const TESTDATA = fileURLToPath(new URL('../../testdata/', import.meta.url));

const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

function throwsCode(t: ExecutionContext, fn: () => unknown, code: ProtocolError['code'], message?: string): void {
  const err = t.throws(fn, { instanceOf: ProtocolError }, message) as ProtocolError;
  t.is(err?.code, code, message);
}

interface WycheproofAead {
  numberOfTests: number;
  testGroups: {
    ivSize: number;
    keySize: number;
    tagSize: number;
    tests: {
      tcId: number;
      comment: string;
      key: string;
      iv: string;
      aad: string;
      msg: string;
      ct: string;
      tag: string;
      result: string;
    }[];
  }[];
}
const WYCHEPROOF = JSON.parse(readFileSync(join(TESTDATA, 'wycheproof/chacha20_poly1305_test.json'), 'utf8')) as WycheproofAead;

test('Wycheproof chacha20_poly1305_test.json: every vector (12-byte IV groups checked, other IV sizes refused)', (t) => {
  let count = 0;
  const failures: string[] = [];
  for (const g of WYCHEPROOF.testGroups) {
    for (const tc of g.tests) {
      count++;
      const key = bytes(tc.key);
      const iv = bytes(tc.iv);
      const aad = bytes(tc.aad);
      const sealed = bytes(tc.ct + tc.tag);
      if (g.ivSize !== 96) {
        if (tc.result !== 'invalid') failures.push(`tcId ${tc.tcId}: a ${g.ivSize}-bit IV vector is not invalid`);
        try {
          chachaOpen(key, iv, sealed, aad);
          failures.push(`tcId ${tc.tcId}: opened with a ${g.ivSize}-bit IV`);
        } catch (e) {
          if (!(e instanceof ProtocolError && e.code === 'CRYPTO_DECRYPT_FAILED')) failures.push(`tcId ${tc.tcId}: ${e}`);
        }
        try {
          chachaSeal(key, iv, bytes(tc.msg), aad);
          failures.push(`tcId ${tc.tcId}: sealed with a ${g.ivSize}-bit IV`);
        } catch (e) {
          if (!(e instanceof RangeError)) failures.push(`tcId ${tc.tcId}: seal threw ${e}`);
        }
        continue;
      }
      if (tc.result === 'valid') {
        const got = chachaSeal(key, iv, bytes(tc.msg), aad);
        if (toHex(got) !== tc.ct + tc.tag) failures.push(`tcId ${tc.tcId} (${tc.comment}): seal gave ${toHex(got)}`);
        try {
          const pt = chachaOpen(key, iv, sealed, aad);
          if (toHex(pt) !== tc.msg) failures.push(`tcId ${tc.tcId}: open gave ${toHex(pt)}`);
        } catch (e) {
          failures.push(`tcId ${tc.tcId} (${tc.comment}): valid failed to open: ${e}`);
        }
      } else {
        try {
          chachaOpen(key, iv, sealed, aad);
          failures.push(`tcId ${tc.tcId} (${tc.comment}): invalid opened`);
        } catch (e) {
          if (!(e instanceof ProtocolError && e.code === 'CRYPTO_DECRYPT_FAILED')) failures.push(`tcId ${tc.tcId}: ${e}`);
        }
      }
    }
  }
  t.deepEqual(failures, []);
  t.is(count, WYCHEPROOF.numberOfTests);
});

test('tampering with any byte of ciphertext or tag, the nonce, the key or the ad fails to open', (t) => {
  const key = bytes('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const nonce = bytes('070000004041424344454647');
  const ad = bytes('50515253c0c1c2c3c4c5c6c7');
  const pt = new TextEncoder().encode('Ladies and Gentlemen of the class of 99');
  const sealed = chachaSeal(key, nonce, pt, ad);
  t.is(sealed.length, pt.length + 16);
  t.deepEqual(chachaOpen(key, nonce, sealed, ad), pt);
  for (let i = 0; i < sealed.length; i++) {
    const bad = Uint8Array.from(sealed);
    bad[i] = (bad[i] as number) ^ 0x01;
    throwsCode(t, () => chachaOpen(key, nonce, bad, ad), 'CRYPTO_DECRYPT_FAILED', `byte ${i}`);
  }
  const badNonce = Uint8Array.from(nonce);
  badNonce[11] = (badNonce[11] as number) ^ 0x80;
  throwsCode(t, () => chachaOpen(key, badNonce, sealed, ad), 'CRYPTO_DECRYPT_FAILED');
  const badKey = Uint8Array.from(key);
  badKey[0] = (badKey[0] as number) ^ 1;
  throwsCode(t, () => chachaOpen(badKey, nonce, sealed, ad), 'CRYPTO_DECRYPT_FAILED');
  throwsCode(t, () => chachaOpen(key, nonce, sealed), 'CRYPTO_DECRYPT_FAILED');
  throwsCode(t, () => chachaOpen(key, nonce, sealed, ad.subarray(1)), 'CRYPTO_DECRYPT_FAILED');
  for (let n = 0; n < 16; n++) throwsCode(t, () => chachaOpen(key, nonce, sealed.subarray(0, n), ad), 'CRYPTO_DECRYPT_FAILED');
});

test('wrong key lengths are CRYPTO_INVALID_KEY; wrong types are TypeError', (t) => {
  const nonce = new Uint8Array(12);
  for (const n of [0, 16, 31, 33]) {
    throwsCode(t, () => chachaSeal(new Uint8Array(n), nonce, new Uint8Array(1)), 'CRYPTO_INVALID_KEY');
    throwsCode(t, () => chachaOpen(new Uint8Array(n), nonce, new Uint8Array(17)), 'CRYPTO_INVALID_KEY');
  }
  const key = new Uint8Array(32);
  for (const b of ['00', 1, null, [0], new Int8Array(12)] as unknown[]) {
    const any = b as Uint8Array;
    t.throws(() => chachaSeal(any, nonce, new Uint8Array(0)), { instanceOf: TypeError, message: /^key must be/ });
    t.throws(() => chachaSeal(key, any, new Uint8Array(0)), { instanceOf: TypeError, message: /^nonce must be/ });
    t.throws(() => chachaSeal(key, nonce, any), { instanceOf: TypeError, message: /^plaintext must be/ });
    t.throws(() => chachaSeal(key, nonce, new Uint8Array(0), any), { instanceOf: TypeError, message: /^ad must be/ });
    t.throws(() => chachaOpen(key, nonce, any), { instanceOf: TypeError, message: /^ciphertext must be/ });
  }
});

test('property: seal/open round trip for random key, nonce, plaintext and ad; output is plaintext + 16 bytes', (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ maxLength: 2000 }),
      fc.uint8Array({ maxLength: 100 }),
      (key, nonce, pt, ad) => {
        const sealed = chachaSeal(key, nonce, pt, ad);
        return sealed.length === pt.length + 16 && toHex(chachaOpen(key, nonce, sealed, ad)) === toHex(pt);
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});
