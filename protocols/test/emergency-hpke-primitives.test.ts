/**
 * The node:crypto primitives given to `@hpke/core` (protocols/src/emergency/hpke-primitives.ts)
 * against the library's own, input by input (fast-check):
 * - HKDF-SHA256 (RFC 5869; RFC 9180 §4 LabeledExtract/LabeledExpand with the KEM's suite id):
 *   `NodeHkdfSha256` gives the bytes of `@hpke/common`'s WebCrypto `HkdfSha256Native` for extract,
 *   expand, extractAndExpand and the labeled forms; over 255 × 32 bytes is refused.
 * - ChaCha20-Poly1305 (RFC 8439, AEAD 0x0003): `NodeChacha20Poly1305` seals the bytes
 *   `@hpke/chacha20poly1305` seals, each opens the other's, and a wrong key, nonce, aad, flipped
 *   byte or short input is refused.
 * - DHKEM(X25519, HKDF-SHA256) (RFC 9180 §4.1, §7.1.3, §7.1.4): `NodeDhkemX25519HkdfSha256`
 *   derives the key pairs of `@hpke/core`'s WebCrypto KEM, their encap/decap give the same shared
 *   secret both ways, and a small-order peer point (all-zero DH) fails encap and decap.
 * Results are whole `ArrayBuffer`s of exactly the output length (the library reads `.buffer`).
 */
import { Chacha20Poly1305 } from '@hpke/chacha20poly1305';
import { DecapError, EncapError, HkdfSha256Native, KemId } from '@hpke/common';
import { DhkemX25519HkdfSha256 } from '@hpke/core';
import test from 'ava';
import fc from 'fast-check';
import { toHex } from '../src/bytes.ts';
import { x25519PublicKey } from '../src/crypto/index.ts';
import { NodeChacha20Poly1305, NodeDhkemX25519HkdfSha256, NodeHkdfSha256 } from '../src/emergency/hpke-primitives.ts';

const hex = (b: ArrayBuffer | Uint8Array) => toHex(b instanceof Uint8Array ? b : new Uint8Array(b));
/** "KEM" ‖ I2OSP(0x0020, 2): the suite id the KEM's HKDF is initialised with (RFC 9180 §4.1). */
const KEM_SUITE_ID = Uint8Array.of(0x4b, 0x45, 0x4d, 0x00, 0x20);
const RUNS = { numRuns: 60 };

function kdfs(): [NodeHkdfSha256, HkdfSha256Native] {
  const mine = new NodeHkdfSha256();
  const theirs = new HkdfSha256Native();
  mine.init(KEM_SUITE_ID);
  theirs.init(KEM_SUITE_ID);
  return [mine, theirs];
}

test('HKDF-SHA256: extract, expand, extractAndExpand and the labeled forms give the WebCrypto bytes', async (t) => {
  const [mine, theirs] = kdfs();
  t.is(mine.id, theirs.id);
  t.is(mine.hashSize, 32);
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 32, maxLength: 32 })),
      fc.uint8Array({ maxLength: 80 }),
      fc.uint8Array({ maxLength: 80 }),
      fc.integer({ min: 1, max: 100 }),
      async (salt, ikm, info, len) => {
        const prk = await mine.extract(salt, ikm);
        t.is(prk.byteLength, 32);
        t.is(hex(prk), hex(await theirs.extract(salt, ikm)));
        const okm = await mine.expand(prk, info, len);
        t.is(okm.byteLength, len);
        t.is(hex(okm), hex(await theirs.expand(prk, info, len)));
        t.is(hex(await mine.extractAndExpand(salt, ikm, info, len)), hex(await theirs.extractAndExpand(salt, ikm, info, len)));
        const label = Uint8Array.of(1, 2, 3);
        t.is(hex(await mine.labeledExtract(salt, label, ikm)), hex(await theirs.labeledExtract(salt, label, ikm)));
        t.is(hex(await mine.labeledExpand(prk, label, info, len)), hex(await theirs.labeledExpand(prk, label, info, len)));
      },
    ),
    RUNS,
  );
});

test('HKDF-SHA256: an output over 255 × 32 bytes is refused (a rejected promise, not a throw)', async (t) => {
  const [mine] = kdfs();
  const prk = await mine.extract(new Uint8Array(0), Uint8Array.of(1));
  t.is((await mine.expand(prk, new Uint8Array(0), 8160)).byteLength, 8160);
  await t.throwsAsync(mine.expand(prk, new Uint8Array(0), 8161), { instanceOf: RangeError });
  await t.throwsAsync(mine.extractAndExpand(new Uint8Array(0), Uint8Array.of(1), new Uint8Array(0), 8161), {
    instanceOf: RangeError,
  });
});

test('ChaCha20-Poly1305: seals the bytes @hpke/chacha20poly1305 seals; each opens the other', async (t) => {
  const mine = new NodeChacha20Poly1305();
  const theirs = new Chacha20Poly1305();
  t.deepEqual(
    [mine.id, mine.keySize, mine.nonceSize, mine.tagSize],
    [theirs.id, theirs.keySize, theirs.nonceSize, theirs.tagSize],
  );
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 40 }),
      async (key, nonce, pt, aad) => {
        const a = mine.createEncryptionContext(key);
        const b = theirs.createEncryptionContext(key);
        const ct = await a.seal(nonce, pt, aad);
        t.is(ct.byteLength, pt.length + 16);
        t.is(hex(ct), hex(await b.seal(nonce, pt, aad)));
        t.is(hex(await b.open(nonce, ct, aad)), hex(pt));
        t.is(hex(await a.open(nonce, ct, aad)), hex(pt));
      },
    ),
    RUNS,
  );
});

test('ChaCha20-Poly1305: a wrong key, nonce or aad, a flipped byte or a short input is refused', async (t) => {
  const key = new Uint8Array(32).fill(7);
  const nonce = new Uint8Array(12).fill(1);
  const aad = Uint8Array.of(9);
  const ctx = new NodeChacha20Poly1305().createEncryptionContext(key);
  const ct = new Uint8Array(await ctx.seal(nonce, Uint8Array.of(1, 2, 3), aad));
  key.fill(8); // the context holds its own copy of the key
  t.deepEqual(new Uint8Array(await ctx.open(nonce, ct, aad)), Uint8Array.of(1, 2, 3));
  await t.throwsAsync(new NodeChacha20Poly1305().createEncryptionContext(key).open(nonce, ct, aad), {
    code: 'CRYPTO_DECRYPT_FAILED',
  });
  await t.throwsAsync(ctx.open(new Uint8Array(12), ct, aad), { code: 'CRYPTO_DECRYPT_FAILED' });
  await t.throwsAsync(ctx.open(nonce, ct, new Uint8Array(0)), { code: 'CRYPTO_DECRYPT_FAILED' });
  for (let i = 0; i < ct.length; i++) {
    const bad = Uint8Array.from(ct);
    bad[i] = (bad[i] as number) ^ 0x80;
    await t.throwsAsync(ctx.open(nonce, bad, aad), { code: 'CRYPTO_DECRYPT_FAILED' }, `byte ${i}`);
  }
  await t.throwsAsync(ctx.open(nonce, ct.subarray(0, 15), aad), { code: 'CRYPTO_DECRYPT_FAILED' });
});

test('DHKEM(X25519): derives the WebCrypto KEM key pairs; encap/decap agree both ways', async (t) => {
  const mine = new NodeDhkemX25519HkdfSha256();
  const theirs = new DhkemX25519HkdfSha256();
  t.deepEqual(
    [mine.id, mine.secretSize, mine.encSize, mine.publicKeySize, mine.privateKeySize],
    [KemId.DhkemX25519HkdfSha256, 32, 32, 32, 32],
  );
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 32, maxLength: 64 }), async (ikm) => {
      const a = await mine.deriveKeyPair(ikm);
      const b = await theirs.deriveKeyPair(ikm);
      const sk = await mine.serializePrivateKey(a.privateKey);
      t.is(hex(sk), hex(await theirs.serializePrivateKey(b.privateKey)));
      const pk = await mine.serializePublicKey(a.publicKey);
      t.is(hex(pk), hex(await theirs.serializePublicKey(b.publicKey)));
      t.is(hex(pk), hex(x25519PublicKey(new Uint8Array(sk))));
      // mine encapsulates to their recipient key, theirs decapsulates, and the other way round
      const toTheirs = await mine.encap({ recipientPublicKey: await mine.deserializePublicKey(pk) });
      t.is(toTheirs.enc.byteLength, 32);
      t.is(hex(await theirs.decap({ recipientKey: b, enc: toTheirs.enc })), hex(toTheirs.sharedSecret));
      const toMine = await theirs.encap({ recipientPublicKey: b.publicKey });
      t.is(
        hex(await mine.decap({ recipientKey: await mine.deserializePrivateKey(sk), enc: toMine.enc })),
        hex(toMine.sharedSecret),
      );
    }),
    { numRuns: 25 },
  );
});

test('DHKEM(X25519): fresh ephemeral keys; a small-order peer point fails encap and decap (RFC 9180 §7.1.4)', async (t) => {
  const kem = new NodeDhkemX25519HkdfSha256();
  const r = await kem.generateKeyPair();
  const rPub = new Uint8Array(await kem.serializePublicKey(r.publicKey));
  t.is(hex(rPub), hex(x25519PublicKey(new Uint8Array(await kem.serializePrivateKey(r.privateKey)))));
  const e1 = await kem.encap({ recipientPublicKey: r.publicKey });
  const e2 = await kem.encap({ recipientPublicKey: r.publicKey });
  t.not(hex(e1.enc), hex(e2.enc));
  t.is(hex(await kem.decap({ recipientKey: r, enc: e1.enc })), hex(e1.sharedSecret));
  // u = 0 and u = 1 are of small order: X25519 with them is all zero
  for (const u of [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31))]) {
    await t.throwsAsync(kem.encap({ recipientPublicKey: await kem.deserializePublicKey(u) }), { instanceOf: EncapError });
    await t.throwsAsync(kem.decap({ recipientKey: r, enc: u }), { instanceOf: DecapError });
  }
  await t.throwsAsync(kem.deserializePublicKey(new Uint8Array(31)));
  await t.throwsAsync(kem.deserializePrivateKey(new Uint8Array(33)));
});

// Serial: the count is of the process-wide cache, and the DHKEM tests above (concurrent ones start
// after the serial ones) put keys into it through x25519PublicKey between their awaits.
test.serial('no X25519 private key of an HPKE seal or open stays in the key cache (one-time keys are not kept)', async (t) => {
  const { contactKeygen, hpkeOpen, hpkeSeal } = await import('../src/emergency/index.ts');
  const { clearCryptoCaches, x25519CachedPrivateKeys } = await import('../src/crypto/index.ts');
  const contact = contactKeygen();
  clearCryptoCaches();
  const opts = { info: Uint8Array.of(1), aad: Uint8Array.of(2) };
  for (let i = 0; i < 5; i++) {
    const { enc, ct } = await hpkeSeal(contact.publicKey, Uint8Array.of(i), opts);
    t.deepEqual(await hpkeOpen(contact.privateKey, enc, ct, opts), Uint8Array.of(i));
  }
  t.is(x25519CachedPrivateKeys(), 0);
  x25519PublicKey(contact.privateKey); // the default still caches long-lived keys
  t.is(x25519CachedPrivateKeys(), 1);
});
