/**
 * Tests of SHA-256, HMAC-SHA-256 and HKDF-SHA-256 (protocols/src/crypto/hash.ts).
 *
 * Checks:
 * - FIPS 180-2 B.1 ("abc") and the empty string; RFC 4231 §4.2-4.3 HMAC test cases 1-2
 *   (vectors/rfc4231/hmac-sha256.json); that input parts hash as their concatenation.
 * - Wycheproof `hkdf_sha256_test.json` (C2SP/wycheproof, `testdata/wycheproof`): every one of its 86
 *   vectors (RFC 5869 Appendix A included); `valid` ones give `okm`, the `invalid` ones (output
 *   over 255·32 bytes) throw RangeError. Also an `info` over 1024 bytes (node's hkdfSync limit).
 * - RFC 5869 §2.2-2.3 split: `hkdfSha256Extract` is HMAC(salt, ikm) and `hkdfSha256Expand` of it
 *   gives every valid Wycheproof `okm` (too-long outputs throw RangeError).
 * - Wrong types (TypeError) and bad lengths (RangeError).
 */

import { createHmac, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { toHex } from '../src/bytes.ts';
import {
  HKDF_SHA256_MAX_LENGTH,
  hkdfSha256,
  hkdfSha256Expand,
  hkdfSha256Extract,
  hmacSha256,
  sha256,
} from '../src/crypto/index.ts';

/** The repository's copied test vectors, found relative to this file. */
const TESTDATA = fileURLToPath(new URL('../../testdata/', import.meta.url));

const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

const VECTORS = JSON.parse(readFileSync(new URL('./vectors/rfc4231/hmac-sha256.json', import.meta.url), 'utf8')) as {
  hmac: { name: string; key: string; data: string; mac: string }[];
  sha256: { name: string; data: string; digest: string }[];
};

interface WycheproofHkdf {
  numberOfTests: number;
  testGroups: { tests: { tcId: number; ikm: string; salt: string; info: string; size: number; okm: string; result: string }[] }[];
}
const WYCHEPROOF = JSON.parse(readFileSync(join(TESTDATA, 'wycheproof/hkdf_sha256_test.json'), 'utf8')) as WycheproofHkdf;

for (const v of VECTORS.sha256) {
  test(`SHA-256 ${v.name}`, (t) => {
    t.is(toHex(sha256(bytes(v.data))), v.digest);
  });
}

for (const v of VECTORS.hmac) {
  test(`HMAC-SHA-256 ${v.name}`, (t) => {
    t.is(toHex(hmacSha256(bytes(v.key), bytes(v.data))), v.mac);
  });
}

test('parts are hashed as their concatenation (and no parts = empty input)', (t) => {
  const abc = new TextEncoder().encode('abc');
  t.is(toHex(sha256(abc.subarray(0, 1), new Uint8Array(0), abc.subarray(1))), VECTORS.sha256[0]?.digest as string);
  t.is(toHex(sha256()), VECTORS.sha256[1]?.digest as string);
  const v = VECTORS.hmac[1];
  const data = bytes(v?.data as string);
  t.is(toHex(hmacSha256(bytes(v?.key as string), data.subarray(0, 5), data.subarray(5))), v?.mac as string);
});

test('Wycheproof hkdf_sha256_test.json: every vector (too-long outputs throw RangeError)', (t) => {
  let count = 0;
  const failures: string[] = [];
  for (const g of WYCHEPROOF.testGroups) {
    for (const tc of g.tests) {
      count++;
      if (tc.result === 'valid') {
        const got = toHex(hkdfSha256(bytes(tc.ikm), bytes(tc.salt), bytes(tc.info), tc.size));
        if (got !== tc.okm) failures.push(`tcId ${tc.tcId}: ${got}`);
      } else {
        const err = t.throws(() => hkdfSha256(bytes(tc.ikm), bytes(tc.salt), bytes(tc.info), tc.size));
        if (!(err instanceof RangeError)) failures.push(`tcId ${tc.tcId}: ${err}`);
      }
    }
  }
  t.deepEqual(failures, []);
  t.is(count, WYCHEPROOF.numberOfTests);
});

test('RFC 5869 extract and expand separately: PRK = HMAC(salt, ikm); Expand(PRK) gives every Wycheproof okm', (t) => {
  const failures: string[] = [];
  for (const g of WYCHEPROOF.testGroups) {
    for (const tc of g.tests) {
      const prk = hkdfSha256Extract(bytes(tc.ikm), bytes(tc.salt));
      if (toHex(prk) !== createHmac('sha256', bytes(tc.salt)).update(bytes(tc.ikm)).digest('hex'))
        failures.push(`prk ${tc.tcId}`);
      if (tc.result === 'valid') {
        if (toHex(hkdfSha256Expand(prk, bytes(tc.info), tc.size)) !== tc.okm) failures.push(`okm ${tc.tcId}`);
      } else if (!(t.throws(() => hkdfSha256Expand(prk, bytes(tc.info), tc.size)) instanceof RangeError)) {
        failures.push(`invalid ${tc.tcId}`);
      }
    }
  }
  t.deepEqual(failures, []);
  // an empty salt is the RFC's 32 zero bytes
  const ikm = bytes('0b0b');
  t.is(toHex(hkdfSha256Extract(ikm, new Uint8Array(0))), toHex(hkdfSha256Extract(ikm, new Uint8Array(32))));
});

test('HKDF: agrees with node hkdfSync; takes info over 1024 bytes; lengths 0 and the maximum', (t) => {
  const ikm = bytes('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b');
  const salt = bytes('000102030405060708090a0b0c');
  const info = new Uint8Array(100).fill(7);
  for (const n of [0, 1, 31, 32, 33, 64, 100]) {
    t.is(
      toHex(hkdfSha256(ikm, salt, info, n)),
      Buffer.from(hkdfSync('sha256', ikm, salt, info, n)).toString('hex'),
      `length ${n}`,
    );
  }
  const longInfo = new Uint8Array(2000).fill(1);
  const okm = hkdfSha256(ikm, salt, longInfo, 40);
  // recompute the first block by hand: T(1) = HMAC(PRK, info ‖ 0x01)
  const prk = createHmac('sha256', salt).update(ikm).digest();
  t.is(toHex(okm.subarray(0, 32)), createHmac('sha256', prk).update(longInfo).update(bytes('01')).digest('hex'));
  t.is(hkdfSha256(ikm, salt, info, HKDF_SHA256_MAX_LENGTH).length, 8160);
});

test('wrong types throw TypeError; bad lengths throw RangeError', (t) => {
  const e = new Uint8Array(0);
  for (const b of ['x', 1, null, [1], new Uint16Array(1)] as unknown[]) {
    const any = b as Uint8Array;
    t.throws(() => sha256(e, any), { instanceOf: TypeError, message: /^parts\[1\] must be/ });
    t.throws(() => hmacSha256(any, e), { instanceOf: TypeError, message: /^key must be/ });
    t.throws(() => hkdfSha256(any, e, e, 1), { instanceOf: TypeError, message: /^ikm must be/ });
    t.throws(() => hkdfSha256(e, any, e, 1), { instanceOf: TypeError, message: /^salt must be/ });
    t.throws(() => hkdfSha256(e, e, any, 1), { instanceOf: TypeError, message: /^info must be/ });
    t.throws(() => hkdfSha256Extract(any, e), { instanceOf: TypeError, message: /^ikm must be/ });
    t.throws(() => hkdfSha256Extract(e, any), { instanceOf: TypeError, message: /^salt must be/ });
    t.throws(() => hkdfSha256Expand(any, e, 1), { instanceOf: TypeError, message: /^prk must be/ });
    t.throws(() => hkdfSha256Expand(e, any, 1), { instanceOf: TypeError, message: /^info must be/ });
  }
  for (const n of [-1, 1.5, Number.NaN, 8161, Number.POSITIVE_INFINITY]) {
    t.throws(() => hkdfSha256(e, e, e, n), { instanceOf: RangeError });
    t.throws(() => hkdfSha256Expand(e, e, n), { instanceOf: RangeError });
  }
});
