/**
 * Tests of Ed25519 keys held by their owner (protocols/src/crypto/ed25519.ts `ed25519Signer`,
 * `{ cache: false }`; issue 13: 100 simulated Keys thrashed the shared cache of 64 private keys).
 *
 * Checks:
 * - RFC 8032 §7.1 TEST 1-3 (vectors/rfc8032/ed25519.json): `ed25519Signer(seed)(message)` is the
 *   vector's signature byte for byte; a fast-check property that it equals `ed25519Sign`.
 * - A signer keeps its key out of the shared cache: 200 signers signing in turn leave
 *   `ed25519CachedPrivateKeys()` at 0 (`ed25519Sign` with 200 seeds fills it to its bound).
 * - One-time keys: `ed25519Generate(random, { cache: false })` and `ed25519PublicKey(seed,
 *   { cache: false })` give the same public key and leave no cached private key; the emergency
 *   event start (`createEventStart`) generates its event key that way.
 * - Wrong types and lengths: TypeError naming the argument, CRYPTO_INVALID_KEY.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { toHex } from '../src/bytes.ts';
import {
  clearCryptoCaches,
  ed25519CachedPrivateKeys,
  ed25519Generate,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Signer,
  ed25519Verify,
} from '../src/crypto/index.ts';
import { createEventStart } from '../src/emergency/index.ts';
import { ProtocolError } from '../src/errors.ts';

const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const RFC8032 = JSON.parse(readFileSync(new URL('./vectors/rfc8032/ed25519.json', import.meta.url), 'utf8')) as {
  vectors: { name: string; secretKey: string; publicKey: string; message: string; signature: string }[];
};

/** Deterministic seeds: seed i is 32 bytes of (i + 1) mixed with its index. */
const seedOf = (i: number) => Uint8Array.from({ length: 32 }, (_, j) => (i * 31 + j * 7 + 1) & 0xff);

for (const v of RFC8032.vectors) {
  test(`RFC 8032 §7.1 ${v.name}: ed25519Signer gives the vector's signature`, (t) => {
    const sign = ed25519Signer(bytes(v.secretKey));
    t.is(toHex(sign(bytes(v.message))), v.signature);
  });
}

test('property: ed25519Signer(seed)(m) equals ed25519Sign(seed, m) and verifies', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 300 }), (seed, m) => {
      const sig = ed25519Signer(seed)(m);
      return toHex(sig) === toHex(ed25519Sign(seed, m)) && ed25519Verify(ed25519PublicKey(seed), m, sig);
    }),
    { numRuns: 100 },
  );
  t.pass();
});

test.serial('200 signers signing in turn keep no key in the shared cache (ed25519Sign would fill it)', (t) => {
  clearCryptoCaches();
  const signers = Array.from({ length: 200 }, (_, i) => ed25519Signer(seedOf(i)));
  const m = Uint8Array.of(1, 2, 3);
  for (let round = 0; round < 3; round++) for (const s of signers) s(m);
  t.is(ed25519CachedPrivateKeys(), 0);
  // The contrast: the shared cache is bounded, and 200 seeds overflow it (each turn rebuilds a key).
  for (let i = 0; i < 200; i++) ed25519Sign(seedOf(i), m);
  t.true(ed25519CachedPrivateKeys() > 0 && ed25519CachedPrivateKeys() < 200);
  clearCryptoCaches();
});

test.serial('one-time keys: cache: false gives the same public key and keeps nothing', (t) => {
  clearCryptoCaches();
  let n = 0;
  const random = (k: number) => Uint8Array.from({ length: k }, () => n++ & 0xff);
  const kp = ed25519Generate(random, { cache: false });
  t.is(ed25519CachedPrivateKeys(), 0);
  t.deepEqual(ed25519PublicKey(kp.seed, { cache: false }), kp.publicKey);
  t.is(ed25519CachedPrivateKeys(), 0);
  t.deepEqual(ed25519PublicKey(kp.seed), kp.publicKey); // the default still caches
  t.is(ed25519CachedPrivateKeys(), 1);
  clearCryptoCaches();
});

test.serial('createEventStart: the event key (one-time) is not kept in the cache', (t) => {
  clearCryptoCaches();
  const identity = ed25519Signer(seedOf(1));
  const r = createEventStart({ contactSetVersion: 1, time: 1_700_000_000_000 }, { signer: identity });
  t.is(r.eventSeed.length, 32);
  t.deepEqual(ed25519PublicKey(r.eventSeed, { cache: false }), r.start.eventKey);
  t.is(ed25519CachedPrivateKeys(), 0);
});

test('wrong types and lengths: TypeError naming the argument, CRYPTO_INVALID_KEY', (t) => {
  t.throws(() => ed25519Signer('00' as unknown as Uint8Array), { instanceOf: TypeError, message: /seed/ });
  const e = t.throws(() => ed25519Signer(new Uint8Array(31)), { instanceOf: ProtocolError }) as ProtocolError;
  t.is(e.code, 'CRYPTO_INVALID_KEY');
  const sign = ed25519Signer(seedOf(2));
  t.throws(() => sign([1, 2] as unknown as Uint8Array), { instanceOf: TypeError, message: /message/ });
  const f = t.throws(() => ed25519PublicKey(new Uint8Array(3), { cache: false }), { instanceOf: ProtocolError }) as ProtocolError;
  t.is(f.code, 'CRYPTO_INVALID_KEY');
});
