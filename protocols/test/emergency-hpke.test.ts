/**
 * The HPKE wrapper of protocols/src/emergency/hpke.ts against RFC 9180 Appendix A.2.1
 * (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, Base mode, testdata/hpke/): both key
 * pairs derived from ikmE/ikmR with DeriveKeyPair, enc, the six encryptions (seq 0, 1, 2, 4, 255,
 * 256, sealed in order on one context), the three exports, and the single-shot hpkeSeal/hpkeOpen
 * (seq 0 of the vector; wrong info, aad, key or a flipped byte fail with EMERGENCY_DECRYPT_FAILED).
 * The wrapper's suite is `@hpke/core`'s CipherSuite over node:crypto primitives
 * (emergency/hpke-primitives.ts); the vector is also checked with the library's own primitives
 * (WebCrypto X25519 and HKDF, `@hpke/chacha20poly1305`: what the previous release sealed with) and
 * with the pure-JavaScript `@hpke/dhkem-x25519` (the release before), and envelopes interoperate
 * both ways with both.
 */
import { readFileSync } from 'node:fs';
import { Chacha20Poly1305 } from '@hpke/chacha20poly1305';
import { CipherSuite, HkdfSha256, DhkemX25519HkdfSha256 as WebCryptoX25519 } from '@hpke/core';
import { DhkemX25519HkdfSha256 as PureJsX25519 } from '@hpke/dhkem-x25519';
import test from 'ava';
import { fromHex, toHex } from '../src/bytes.ts';
import { x25519PublicKey } from '../src/crypto/index.ts';
import { NodeChacha20Poly1305, NodeDhkemX25519HkdfSha256, NodeHkdfSha256 } from '../src/emergency/hpke-primitives.ts';
import {
  contactKeygen,
  HPKE_ENC_LENGTH,
  HPKE_TAG_LENGTH,
  hpkeDeriveKeyPair,
  hpkeOpen,
  hpkeSeal,
  hpkeSuite,
} from '../src/emergency/index.ts';
import { ProtocolError } from '../src/errors.ts';

interface Vector {
  mode: number;
  kem_id: number;
  kdf_id: number;
  aead_id: number;
  info: string;
  ikmE: string;
  pkEm: string;
  skEm: string;
  ikmR: string;
  pkRm: string;
  skRm: string;
  enc: string;
  encryptions: { seq: number; pt: string; aad: string; ct: string }[];
  exports: { context: string; L: number; value: string }[];
}

const v = JSON.parse(readFileSync(new URL('../../testdata/hpke/rfc9180-a2-base.json', import.meta.url), 'utf8')) as Vector;
const h = (s: string) => fromHex(s);
const hex = (b: ArrayBuffer | Uint8Array) => toHex(b instanceof Uint8Array ? b : new Uint8Array(b));

test('the vector is the suite of the wrapper: base mode, KEM 0x20, KDF 1, AEAD 3', (t) => {
  t.deepEqual([v.mode, v.kem_id, v.kdf_id, v.aead_id], [0, 0x20, 1, 3]);
  const s = hpkeSuite();
  t.deepEqual([s.kem.id, s.kdf.id, s.aead.id], [0x20, 1, 3]);
});

test('RFC 9180 A.2.1: DeriveKeyPair(ikmE), DeriveKeyPair(ikmR) give skEm/pkEm and skRm/pkRm', async (t) => {
  const e = await hpkeDeriveKeyPair(h(v.ikmE));
  const r = await hpkeDeriveKeyPair(h(v.ikmR));
  t.is(hex(e.privateKey), v.skEm);
  t.is(hex(e.publicKey), v.pkEm);
  t.is(hex(r.privateKey), v.skRm);
  t.is(hex(r.publicKey), v.pkRm);
  // node's X25519 (crypto/) agrees on the public keys of the derived private keys
  t.is(hex(x25519PublicKey(r.privateKey)), v.pkRm);
});

test('RFC 9180 A.2.1: enc, six encryptions on one context (seq 0,1,2,4,255,256), three exports', async (t) => {
  const s = hpkeSuite();
  const kpE = await s.kem.deriveKeyPair(h(v.ikmE));
  const kpR = await s.kem.deriveKeyPair(h(v.ikmR));
  const sender = await s.createSenderContext({ recipientPublicKey: kpR.publicKey, info: h(v.info), ekm: kpE });
  t.is(hex(sender.enc), v.enc);
  const recipient = await s.createRecipientContext({ recipientKey: kpR, enc: sender.enc, info: h(v.info) });
  let seq = 0;
  for (const e of v.encryptions) {
    for (; seq < e.seq; seq++) {
      // the skipped sequence numbers: seal and open on both contexts to advance their nonces
      const pad = await sender.seal(h(e.pt), h(e.aad));
      await recipient.open(pad, h(e.aad));
    }
    const ct = await sender.seal(h(e.pt), h(e.aad));
    t.is(hex(ct), e.ct, `encryption seq ${e.seq}`);
    t.is(hex(await recipient.open(ct, h(e.aad))), e.pt, `decryption seq ${e.seq}`);
    seq++;
  }
  t.is(seq, 257);
  for (const x of v.exports) {
    t.is(hex(await sender.export(h(x.context), x.L)), x.value, `export "${x.context}"`);
    t.is(hex(await recipient.export(h(x.context), x.L)), x.value, `recipient export "${x.context}"`);
  }
});

test('hpkeSeal with ephemeralSeed = ikmE reproduces enc and the seq-0 ciphertext; hpkeOpen opens it', async (t) => {
  const e0 = v.encryptions[0] as Vector['encryptions'][number];
  const { enc, ct } = await hpkeSeal(h(v.pkRm), h(e0.pt), { info: h(v.info), aad: h(e0.aad), ephemeralSeed: h(v.ikmE) });
  t.is(hex(enc), v.enc);
  t.is(hex(ct), e0.ct);
  t.is(enc.length, HPKE_ENC_LENGTH);
  t.is(ct.length, h(e0.pt).length + HPKE_TAG_LENGTH);
  t.is(hex(await hpkeOpen(h(v.skRm), enc, ct, { info: h(v.info), aad: h(e0.aad) })), e0.pt);
});

test('hpkeOpen refuses a wrong info, aad, key, enc or any flipped ciphertext byte', async (t) => {
  const k = contactKeygen();
  const other = contactKeygen();
  const info = new TextEncoder().encode('info');
  const aad = new TextEncoder().encode('aad');
  const pt = new TextEncoder().encode('where I am');
  const { enc, ct } = await hpkeSeal(k.publicKey, pt, { info, aad });
  t.deepEqual(await hpkeOpen(k.privateKey, enc, ct, { info, aad }), pt);
  const fails = async (p: Promise<unknown>, what: string) => {
    const e = await t.throwsAsync(p, { instanceOf: ProtocolError }, what);
    t.is(e?.code, 'EMERGENCY_DECRYPT_FAILED', what);
  };
  await fails(hpkeOpen(k.privateKey, enc, ct, { info: aad, aad }), 'info');
  await fails(hpkeOpen(k.privateKey, enc, ct, { info, aad: info }), 'aad');
  await fails(hpkeOpen(other.privateKey, enc, ct, { info, aad }), 'key');
  await fails(hpkeOpen(k.privateKey, other.publicKey, ct, { info, aad }), 'enc');
  for (let i = 0; i < ct.length; i++) {
    const bad = Uint8Array.from(ct);
    bad[i] = (bad[i] as number) ^ 0x01;
    await fails(hpkeOpen(k.privateKey, enc, bad, { info, aad }), `ct byte ${i}`);
  }
  await fails(hpkeOpen(k.privateKey, enc, ct.subarray(0, 15), { info, aad }), 'short ct');
});

test('two seals of one plaintext differ (fresh ephemeral); bad key lengths are CRYPTO_INVALID_KEY', async (t) => {
  const k = contactKeygen();
  const opts = { info: new Uint8Array(0), aad: new Uint8Array(0) };
  const a = await hpkeSeal(k.publicKey, new Uint8Array(4), opts);
  const b = await hpkeSeal(k.publicKey, new Uint8Array(4), opts);
  t.not(hex(a.enc), hex(b.enc));
  await t.throwsAsync(hpkeSeal(new Uint8Array(31), new Uint8Array(1), opts), { code: 'CRYPTO_INVALID_KEY' });
  await t.throwsAsync(hpkeOpen(new Uint8Array(33), a.enc, a.ct, opts), { code: 'CRYPTO_INVALID_KEY' });
  // a small-order recipient key (u = 0) cannot be sealed to
  await t.throwsAsync(hpkeSeal(new Uint8Array(32), new Uint8Array(1), opts), { code: 'CRYPTO_INVALID_KEY' });
  t.is(contactKeygen().signKey.length, 32);
});

/** The same suite with the pure-JavaScript X25519 (`@hpke/dhkem-x25519`): the release before last. */
const pureJs = new CipherSuite({ kem: new PureJsX25519(), kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
/** The same suite with `@hpke/core`'s own primitives (WebCrypto X25519 and HKDF): the previous release. */
const webCrypto = new CipherSuite({ kem: new WebCryptoX25519(), kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
const earlier = [
  ['WebCrypto', webCrypto],
  ['pure-JS', pureJs],
] as const;

test("the wrapper's suite is @hpke/core's CipherSuite over the node:crypto primitives", (t) => {
  const s = hpkeSuite();
  t.true(s instanceof CipherSuite);
  t.true(s.kem instanceof NodeDhkemX25519HkdfSha256);
  t.true(s.kdf instanceof NodeHkdfSha256);
  t.true(s.aead instanceof NodeChacha20Poly1305);
  t.false(s.kem instanceof WebCryptoX25519 || s.kem instanceof PureJsX25519);
});

test("RFC 9180 A.2.1 with every set of primitives: each derives the vector's keys, enc and seq-0 ciphertext", async (t) => {
  for (const s of [hpkeSuite(), webCrypto, pureJs]) {
    const kpE = await s.kem.deriveKeyPair(h(v.ikmE));
    const kpR = await s.kem.deriveKeyPair(h(v.ikmR));
    t.is(hex(await s.kem.serializePublicKey(kpR.publicKey)), v.pkRm);
    t.is(hex(await s.kem.serializePrivateKey(kpR.privateKey)), v.skRm);
    const sender = await s.createSenderContext({ recipientPublicKey: kpR.publicKey, info: h(v.info), ekm: kpE });
    t.is(hex(sender.enc), v.enc);
    const e0 = v.encryptions[0] as Vector['encryptions'][number];
    t.is(hex(await sender.seal(h(e0.pt), h(e0.aad))), e0.ct);
  }
});

test('envelopes interoperate both ways with the earlier primitives (WebCrypto, pure-JS): seal here, open there and back', async (t) => {
  const k = contactKeygen();
  const info = new TextEncoder().encode('enigm-emergency-v1 interop');
  const aad = new TextEncoder().encode('header');
  const pt = new TextEncoder().encode('52.52,13.405');
  for (const [name, old] of earlier) {
    // old envelope → hpkeOpen
    const sender = await old.createSenderContext({ recipientPublicKey: await old.kem.deserializePublicKey(k.publicKey), info });
    const oldCt = new Uint8Array(await sender.seal(pt, aad));
    t.deepEqual(await hpkeOpen(k.privateKey, new Uint8Array(sender.enc), oldCt, { info, aad }), pt, `${name} → new`);
    // hpkeSeal envelope → old opener; a tampered one fails there too
    const sealed = await hpkeSeal(k.publicKey, pt, { info, aad });
    const rk = await old.kem.deserializePrivateKey(k.privateKey);
    const ctx = await old.createRecipientContext({ recipientKey: rk, enc: sealed.enc, info });
    t.deepEqual(new Uint8Array(await ctx.open(sealed.ct, aad)), pt, `new → ${name}`);
    const bad = Uint8Array.from(sealed.ct);
    bad[0] = (bad[0] as number) ^ 1;
    const ctx2 = await old.createRecipientContext({ recipientKey: rk, enc: sealed.enc, info });
    await t.throwsAsync(ctx2.open(bad, aad), undefined, `tampered new → ${name}`);
  }
});

test('a key array changed in place seals and opens with its new bytes (never a stale key); a rejected key stays rejected', async (t) => {
  const a = contactKeygen();
  const b = contactKeygen();
  const opts = { info: new Uint8Array(1), aad: new Uint8Array(2) };
  const toA = await hpkeSeal(a.publicKey, Uint8Array.of(1), opts);
  const toB = await hpkeSeal(b.publicKey, Uint8Array.of(2), opts);
  const holder = a.privateKey.slice();
  t.deepEqual(await hpkeOpen(holder, toA.enc, toA.ct, opts), Uint8Array.of(1));
  t.deepEqual(await hpkeOpen(holder, toA.enc, toA.ct, opts), Uint8Array.of(1), 'again');
  holder.set(b.privateKey); // the same array now holds b's key
  t.deepEqual(await hpkeOpen(holder, toB.enc, toB.ct, opts), Uint8Array.of(2));
  await t.throwsAsync(hpkeOpen(holder, toA.enc, toA.ct, opts), { code: 'EMERGENCY_DECRYPT_FAILED' });
  // the same on the sealing side: a recipient array changed in place seals to the new key
  const recipient = a.publicKey.slice();
  await hpkeSeal(recipient, Uint8Array.of(3), opts);
  recipient.set(b.publicKey);
  const sealed = await hpkeSeal(recipient, Uint8Array.of(4), opts);
  t.deepEqual(await hpkeOpen(b.privateKey, sealed.enc, sealed.ct, opts), Uint8Array.of(4));
  await t.throwsAsync(hpkeOpen(a.privateKey, sealed.enc, sealed.ct, opts), { code: 'EMERGENCY_DECRYPT_FAILED' });
  // a small-order key is refused every time
  const small = new Uint8Array(32);
  await t.throwsAsync(hpkeSeal(small, Uint8Array.of(1), opts), { code: 'CRYPTO_INVALID_KEY' });
  await t.throwsAsync(hpkeSeal(small, Uint8Array.of(1), opts), { code: 'CRYPTO_INVALID_KEY' });
});
