/**
 * Noise Protocol Framework rev 34 (25519_ChaChaPoly_SHA256): rejection paths and properties.
 *
 * Spec checked:
 * - §5.3 ReadMessage: a handshake message altered at any byte (XX message 2, IK message 1) or
 *   truncated to any length fails with `NOISE_HANDSHAKE_FAILED` (cause kept) and leaves the
 *   handshake dead; an IK initiator using the wrong responder static key makes message 1 fail at
 *   the responder; messages over 65535 bytes (§3) are refused on read and write;
 * - §5.3 turn order: writing or reading out of turn, after completion, and `Split` before
 *   completion or twice throw `NOISE_STATE`;
 * - §5.1 CipherState: a replayed transport message fails (`CRYPTO_DECRYPT_FAILED`) without
 *   advancing n; n = 2^64 − 1 is reserved (`NOISE_NONCE_EXHAUSTED`); §4.2 REKEY matches
 *   ENCRYPT(k, 2^64 − 1, ε, 0^32)[0..32], both sides rekeying interoperate, one side does not;
 * - §12.1 / §9.1 small-order peer keys give an all-zero DH, rejected
 *   (`CRYPTO_WEAK_SHARED_SECRET`, wrapped in `NOISE_HANDSHAKE_FAILED`);
 * - the local static key as a DH-only object (secure element): same bytes as a raw key; its
 *   failures are wrapped;
 * - property (fast-check): random payloads through XX and IK handshakes and 20 transport
 *   messages in random directions round-trip, with equal handshake hashes.
 */

import { createCipheriv, randomBytes } from 'node:crypto';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { toHex } from '../src/bytes.ts';
import { ProtocolError, type ProtocolErrorCode } from '../src/errors.ts';
import {
  CipherState,
  type HandshakeOptions,
  type HandshakePatternName,
  HandshakeState,
  MAX_MESSAGE_LENGTH,
  type StaticKey,
  staticKeyFromPrivate,
  x25519PublicKey,
} from '../src/noise/index.ts';

const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const EMPTY = new Uint8Array(0);
const prologue = new TextEncoder().encode('enigm test');

const iPriv = bytes('e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1');
const rPriv = bytes('4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893');
const iStatic = staticKeyFromPrivate(iPriv);
const rStatic = staticKeyFromPrivate(rPriv);
const otherStatic = staticKeyFromPrivate(new Uint8Array(32).fill(7));
const fixedE = (seed: number) => {
  const privateKey = new Uint8Array(32).fill(seed);
  return { privateKey, publicKey: x25519PublicKey(privateKey) };
};
const iE = fixedE(0x11);
const rE = fixedE(0x22);

function pair(pattern: HandshakePatternName, extra: { i?: Partial<HandshakeOptions>; r?: Partial<HandshakeOptions> } = {}) {
  const withRs = (p: HandshakePatternName, initiator: boolean) => {
    const known = initiator ? ['IK', 'NK', 'XK', 'KK', 'N', 'K', 'X'] : ['KN', 'KK', 'KX', 'K'];
    return known.includes(p) ? { rs: initiator ? rStatic.publicKey : iStatic.publicKey } : {};
  };
  const initiator = new HandshakeState({
    pattern,
    initiator: true,
    prologue,
    s: iStatic,
    e: iE,
    ...withRs(pattern, true),
    ...extra.i,
  });
  const responder = new HandshakeState({
    pattern,
    initiator: false,
    prologue,
    s: rStatic,
    e: rE,
    ...withRs(pattern, false),
    ...extra.r,
  });
  return { initiator, responder };
}

/** Runs the remaining handshake messages, alternating from whoever's turn it is. */
function complete(a: HandshakeState, b: HandshakeState): void {
  while (!a.isComplete || !b.isComplete) {
    const [w, r] = a.isMyTurn ? [a, b] : [b, a];
    r.readMessage(w.writeMessage());
  }
}

function throwsCode(
  t: ExecutionContext,
  fn: () => unknown,
  code: ProtocolErrorCode,
  causeCode?: ProtocolErrorCode,
): ProtocolError {
  const err = t.throws(fn, { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, code, err.message);
  if (causeCode !== undefined) {
    t.true(err.cause instanceof ProtocolError, 'cause is a ProtocolError');
    t.is((err.cause as ProtocolError).code, causeCode);
  }
  return err;
}

function assertDead(t: ExecutionContext, hs: HandshakeState): void {
  t.false(hs.isMyTurn);
  throwsCode(t, () => hs.readMessage(new Uint8Array(48)), 'NOISE_STATE');
  throwsCode(t, () => hs.writeMessage(), 'NOISE_STATE');
  throwsCode(t, () => hs.split(), 'NOISE_STATE');
}

test('§5.3 XX message 2 altered at every byte: NOISE_HANDSHAKE_FAILED (cause CRYPTO_DECRYPT_FAILED), then dead', (t) => {
  const payload = new TextEncoder().encode('responder payload');
  const { initiator, responder } = pair('XX');
  const msg1 = initiator.writeMessage();
  responder.readMessage(msg1);
  const msg2 = responder.writeMessage(payload);
  t.is(msg2.length, 32 + 48 + payload.length + 16);
  for (let pos = 0; pos < msg2.length; pos++) {
    for (const bit of [0x01, 0x80]) {
      const fresh = pair('XX').initiator;
      t.is(toHex(fresh.writeMessage()), toHex(msg1));
      const bad = msg2.slice();
      bad[pos] = (bad[pos] as number) ^ bit;
      throwsCode(t, () => fresh.readMessage(bad), 'NOISE_HANDSHAKE_FAILED', 'CRYPTO_DECRYPT_FAILED');
      assertDead(t, fresh);
    }
  }
  // The untouched message still works.
  t.is(toHex(initiator.readMessage(msg2)), toHex(payload));
});

test('§5.3 IK message 1 altered at every byte: NOISE_HANDSHAKE_FAILED (cause CRYPTO_DECRYPT_FAILED), then dead', (t) => {
  const payload = new TextEncoder().encode('0-RTT');
  const msg1 = pair('IK').initiator.writeMessage(payload);
  t.is(msg1.length, 32 + 48 + payload.length + 16);
  for (let pos = 0; pos < msg1.length; pos++) {
    const responder = pair('IK').responder;
    const bad = msg1.slice();
    bad[pos] = (bad[pos] as number) ^ 0x01;
    throwsCode(t, () => responder.readMessage(bad), 'NOISE_HANDSHAKE_FAILED', 'CRYPTO_DECRYPT_FAILED');
    assertDead(t, responder);
  }
  t.is(toHex(pair('IK').responder.readMessage(msg1)), toHex(payload));
});

test('§7.5 IK: an initiator with the wrong responder static key fails at the responder on message 1', (t) => {
  const { initiator, responder } = pair('IK', { i: { rs: otherStatic.publicKey } });
  const msg1 = initiator.writeMessage(new Uint8Array([1, 2, 3]));
  throwsCode(t, () => responder.readMessage(msg1), 'NOISE_HANDSHAKE_FAILED', 'CRYPTO_DECRYPT_FAILED');
  assertDead(t, responder);
});

test('§5.3 truncated handshake messages, at every length: NOISE_HANDSHAKE_FAILED', (t) => {
  const { initiator, responder } = pair('XX');
  const msg1 = initiator.writeMessage();
  responder.readMessage(msg1);
  const msg2 = responder.writeMessage(new Uint8Array([9, 9]));
  for (let len = 0; len < msg2.length; len++) {
    const fresh = pair('XX').initiator;
    fresh.writeMessage();
    throwsCode(t, () => fresh.readMessage(msg2.subarray(0, len)), 'NOISE_HANDSHAKE_FAILED');
    assertDead(t, fresh);
  }
  for (let len = 0; len < 32; len++) {
    const fresh = pair('XX').responder;
    throwsCode(t, () => fresh.readMessage(msg1.subarray(0, len)), 'NOISE_HANDSHAKE_FAILED');
  }
  initiator.readMessage(msg2);
  const msg3 = initiator.writeMessage();
  throwsCode(t, () => responder.readMessage(msg3.subarray(0, msg3.length - 1)), 'NOISE_HANDSHAKE_FAILED');
});

test('§3 message size limit: over 65535 bytes refused on read (NOISE_HANDSHAKE_FAILED) and write (NOISE_STATE, state kept)', (t) => {
  const { initiator, responder } = pair('XX');
  t.is(MAX_MESSAGE_LENGTH, 65535);
  throwsCode(t, () => initiator.writeMessage(new Uint8Array(65535 - 32 + 1)), 'NOISE_STATE');
  t.true(initiator.isMyTurn, 'a refused write leaves the state usable');
  const msg1 = initiator.writeMessage(new Uint8Array(65535 - 32));
  t.is(msg1.length, 65535);
  responder.readMessage(msg1);
  // Message 2 carries e, encrypted s and a tag: 32 + 48 + 16 bytes of overhead.
  throwsCode(t, () => responder.writeMessage(new Uint8Array(65535 - 96 + 1)), 'NOISE_STATE');
  t.is(responder.writeMessage(new Uint8Array(65535 - 96)).length, 65535);

  const r2 = pair('XX').responder;
  throwsCode(t, () => r2.readMessage(new Uint8Array(65536)), 'NOISE_HANDSHAKE_FAILED');
  assertDead(t, r2);

  const c = new CipherState(new Uint8Array(32).fill(1));
  throwsCode(t, () => c.encryptWithAd(EMPTY, new Uint8Array(65535 - 16 + 1)), 'NOISE_STATE');
  t.is(c.encryptWithAd(EMPTY, new Uint8Array(65535 - 16)).length, 65535);
  throwsCode(t, () => c.decryptWithAd(EMPTY, new Uint8Array(65536)), 'CRYPTO_DECRYPT_FAILED');
  throwsCode(t, () => c.decryptWithAd(EMPTY, new Uint8Array(15)), 'CRYPTO_DECRYPT_FAILED');
});

test('§5.3 out-of-turn write and read throw NOISE_STATE and change nothing', (t) => {
  const { initiator, responder } = pair('XX');
  throwsCode(t, () => initiator.readMessage(new Uint8Array(32)), 'NOISE_STATE');
  throwsCode(t, () => responder.writeMessage(), 'NOISE_STATE');
  t.true(initiator.isMyTurn);
  responder.readMessage(initiator.writeMessage());
  throwsCode(t, () => initiator.writeMessage(), 'NOISE_STATE');
  throwsCode(t, () => responder.readMessage(new Uint8Array(32)), 'NOISE_STATE');
  complete(initiator, responder);
  t.deepEqual(initiator.handshakeHash, responder.handshakeHash);
  for (const hs of [initiator, responder]) {
    t.false(hs.isMyTurn);
    throwsCode(t, () => hs.writeMessage(), 'NOISE_STATE');
    throwsCode(t, () => hs.readMessage(new Uint8Array(64)), 'NOISE_STATE');
  }
});

test('§5.3 transport before completion and a second Split throw NOISE_STATE', (t) => {
  const { initiator, responder } = pair('IK');
  throwsCode(t, () => initiator.split(), 'NOISE_STATE');
  responder.readMessage(initiator.writeMessage());
  throwsCode(t, () => responder.split(), 'NOISE_STATE');
  initiator.readMessage(responder.writeMessage());
  initiator.split();
  responder.split();
  throwsCode(t, () => initiator.split(), 'NOISE_STATE');
});

test('§7.4 one-way patterns: the unused direction is disabled (NOISE_STATE)', (t) => {
  const { initiator, responder } = pair('X');
  complete(initiator, responder);
  t.deepEqual(responder.remoteStaticKey, iStatic.publicKey);
  const i = initiator.split();
  const r = responder.split();
  t.deepEqual(r.receive.decryptWithAd(EMPTY, i.send.encryptWithAd(EMPTY, new Uint8Array([5]))), new Uint8Array([5]));
  throwsCode(t, () => r.send.encryptWithAd(EMPTY, new Uint8Array([5])), 'NOISE_STATE');
  throwsCode(t, () => i.receive.decryptWithAd(EMPTY, new Uint8Array(17)), 'NOISE_STATE');
});

test('§5.1 a replayed transport message fails with CRYPTO_DECRYPT_FAILED and does not advance n', (t) => {
  const { initiator, responder } = pair('XX');
  complete(initiator, responder);
  const i = initiator.split();
  const r = responder.split();
  const ad = new Uint8Array([1]);
  const m0 = i.send.encryptWithAd(ad, new Uint8Array([10]));
  const m1 = i.send.encryptWithAd(ad, new Uint8Array([11]));
  t.deepEqual(r.receive.decryptWithAd(ad, m0), new Uint8Array([10]));
  t.is(r.receive.nonce, 1n);
  throwsCode(t, () => r.receive.decryptWithAd(ad, m0), 'CRYPTO_DECRYPT_FAILED');
  t.is(r.receive.nonce, 1n, 'n not incremented after a failure');
  throwsCode(t, () => r.receive.decryptWithAd(new Uint8Array([2]), m1), 'CRYPTO_DECRYPT_FAILED');
  t.deepEqual(r.receive.decryptWithAd(ad, m1), new Uint8Array([11]));
  t.is(r.receive.nonce, 2n);
});

test('§5.1 nonce 2^64 - 1 is reserved: NOISE_NONCE_EXHAUSTED', (t) => {
  const key = randomBytes(32);
  const a = new CipherState(key);
  const b = new CipherState(key);
  a.setNonce(2n ** 64n - 2n);
  b.setNonce(2n ** 64n - 2n);
  const last = a.encryptWithAd(EMPTY, new Uint8Array([42]));
  t.is(a.nonce, 2n ** 64n - 1n);
  t.deepEqual(b.decryptWithAd(EMPTY, last), new Uint8Array([42]));
  throwsCode(t, () => a.encryptWithAd(EMPTY, new Uint8Array([1])), 'NOISE_NONCE_EXHAUSTED');
  throwsCode(t, () => b.decryptWithAd(EMPTY, last), 'NOISE_NONCE_EXHAUSTED');
  const c = new CipherState(key);
  c.setNonce(2n ** 64n - 1n);
  throwsCode(t, () => c.encryptWithAd(EMPTY, EMPTY), 'NOISE_NONCE_EXHAUSTED');
  throwsCode(t, () => c.setNonce(2n ** 64n), 'NOISE_STATE');
  throwsCode(t, () => c.setNonce(-1n), 'NOISE_STATE');
  // The nonce crosses 2^32 correctly (little-endian 64-bit counter).
  const d = new CipherState(key);
  d.setNonce(2n ** 32n - 1n);
  const x = d.encryptWithAd(EMPTY, EMPTY);
  const y = d.encryptWithAd(EMPTY, EMPTY);
  t.is(d.nonce, 2n ** 32n + 1n);
  for (const [n, ct] of [
    [2n ** 32n - 1n, x],
    [2n ** 32n, y],
  ] as const) {
    const iv = Buffer.alloc(12);
    iv.writeBigUInt64LE(n, 4);
    const ref = createCipheriv('chacha20-poly1305', key, iv, { authTagLength: 16 });
    ref.final();
    t.is(toHex(ct), toHex(ref.getAuthTag()));
  }
});

test('§4.2 Rekey: REKEY(k) = ENCRYPT(k, 2^64 - 1, empty, zeros)[0..32]; both sides interoperate, one side does not', (t) => {
  const key = randomBytes(32);
  const iv = Buffer.from('00000000ffffffffffffffff', 'hex');
  const ref = createCipheriv('chacha20-poly1305', key, iv, { authTagLength: 16 });
  const newKey = ref.update(new Uint8Array(32));
  const a = new CipherState(key);
  a.setNonce(7n);
  a.rekey();
  t.is(a.nonce, 7n, 'n unchanged');
  const expected = new CipherState(newKey);
  expected.setNonce(7n);
  t.is(toHex(a.encryptWithAd(EMPTY, new Uint8Array([1]))), toHex(expected.encryptWithAd(EMPTY, new Uint8Array([1]))));

  const { initiator, responder } = pair('XX');
  complete(initiator, responder);
  const i = initiator.split();
  const r = responder.split();
  r.receive.decryptWithAd(EMPTY, i.send.encryptWithAd(EMPTY, new Uint8Array([1])));
  i.send.rekey();
  r.receive.rekey();
  t.deepEqual(r.receive.decryptWithAd(EMPTY, i.send.encryptWithAd(EMPTY, new Uint8Array([2]))), new Uint8Array([2]));
  i.send.rekey();
  throwsCode(t, () => r.receive.decryptWithAd(EMPTY, i.send.encryptWithAd(EMPTY, new Uint8Array([3]))), 'CRYPTO_DECRYPT_FAILED');
  r.send.rekey();
  throwsCode(t, () => i.receive.decryptWithAd(EMPTY, r.send.encryptWithAd(EMPTY, new Uint8Array([4]))), 'CRYPTO_DECRYPT_FAILED');
  throwsCode(t, () => new CipherState().rekey(), 'NOISE_STATE');
});

// Small-order X25519 points (u = 0, u = 1, a point of order 8): X25519 with them is all zeros.
const SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
];

test('§9.1 small-order remote ephemeral: CRYPTO_WEAK_SHARED_SECRET wrapped in NOISE_HANDSHAKE_FAILED', (t) => {
  for (const point of SMALL_ORDER) {
    // XX: message 1 is only `e`; the DH `ee` happens when the responder writes message 2.
    const xx = pair('XX').responder;
    xx.readMessage(bytes(point));
    throwsCode(t, () => xx.writeMessage(), 'NOISE_HANDSHAKE_FAILED', 'CRYPTO_WEAK_SHARED_SECRET');
    assertDead(t, xx);
    // IK: message 1 does `es` on read.
    const ik = pair('IK').responder;
    const msg1 = pair('IK').initiator.writeMessage();
    msg1.set(bytes(point), 0);
    throwsCode(t, () => ik.readMessage(msg1), 'NOISE_HANDSHAKE_FAILED', 'CRYPTO_WEAK_SHARED_SECRET');
    assertDead(t, ik);
  }
  throwsCode(t, () => staticKeyFromPrivate(iPriv).dh(new Uint8Array(32)), 'CRYPTO_WEAK_SHARED_SECRET');
});

test('options: missing, misplaced or malformed keys are refused', (t) => {
  throwsCode(t, () => new HandshakeState({ pattern: 'XX', initiator: true, prologue }), 'NOISE_STATE');
  throwsCode(t, () => new HandshakeState({ pattern: 'IK', initiator: true, prologue, s: iStatic }), 'NOISE_STATE');
  throwsCode(
    t,
    () => new HandshakeState({ pattern: 'XX', initiator: true, prologue, s: iStatic, rs: rStatic.publicKey }),
    'NOISE_STATE',
  );
  throwsCode(
    t,
    () => new HandshakeState({ pattern: 'IK', initiator: true, prologue, s: iStatic, rs: new Uint8Array(31) }),
    'CRYPTO_INVALID_KEY',
  );
  throwsCode(
    t,
    () =>
      new HandshakeState({ pattern: 'NN', initiator: true, prologue, e: { privateKey: iE.privateKey, publicKey: rE.publicKey } }),
    'CRYPTO_INVALID_KEY',
  );
  throwsCode(t, () => new HandshakeState({ pattern: 'ZZ' as HandshakePatternName, initiator: true, prologue }), 'NOISE_STATE');
  throwsCode(t, () => new CipherState(new Uint8Array(16)), 'CRYPTO_INVALID_KEY');
  throwsCode(t, () => staticKeyFromPrivate(new Uint8Array(33)), 'CRYPTO_INVALID_KEY');
  t.notThrows(() => new HandshakeState({ pattern: 'NN', initiator: true, prologue, s: iStatic }), 'an unused s is harmless');
});

test('injected randomness: ephemeral private keys come from `random`; the default CSPRNG never repeats', (t) => {
  const seeded = () => {
    let counter = 0;
    return (n: number) => new Uint8Array(n).fill(++counter);
  };
  const a = new HandshakeState({ pattern: 'NN', initiator: true, prologue, random: seeded() });
  const b = new HandshakeState({ pattern: 'NN', initiator: true, prologue, random: seeded() });
  const msgA = a.writeMessage();
  t.is(toHex(msgA), toHex(b.writeMessage()));
  t.is(toHex(msgA), toHex(x25519PublicKey(new Uint8Array(32).fill(1))));
  const c = new HandshakeState({ pattern: 'NN', initiator: true, prologue });
  const d = new HandshakeState({ pattern: 'NN', initiator: true, prologue });
  t.not(toHex(c.writeMessage()), toHex(d.writeMessage()));
});

test('StaticKey as a DH-only object (secure element): same messages as a raw key; its errors are wrapped', (t) => {
  const element = (priv: Uint8Array): StaticKey => ({
    publicKey: nobleX25519.getPublicKey(priv),
    dh: (peer) => nobleX25519.getSharedSecret(priv, peer),
  });
  for (const pattern of ['XX', 'IK', 'KK'] as const) {
    const raw = pair(pattern);
    const se = pair(pattern, { i: { s: element(iPriv) }, r: { s: element(rPriv) } });
    while (!raw.initiator.isComplete) {
      const [rw, rr, sw, sr] = raw.initiator.isMyTurn
        ? [raw.initiator, raw.responder, se.initiator, se.responder]
        : [raw.responder, raw.initiator, se.responder, se.initiator];
      const a = rw.writeMessage(new Uint8Array([1, 2]));
      const b = sw.writeMessage(new Uint8Array([1, 2]));
      t.is(toHex(b), toHex(a), pattern);
      rr.readMessage(a);
      sr.readMessage(b);
    }
    t.deepEqual(se.responder.handshakeHash, raw.responder.handshakeHash);
  }
  const broken: StaticKey = {
    publicKey: rStatic.publicKey,
    dh: () => {
      throw new Error('secure element unplugged');
    },
  };
  const { initiator, responder } = pair('IK', { r: { s: broken } });
  const err = throwsCode(t, () => responder.readMessage(initiator.writeMessage()), 'NOISE_HANDSHAKE_FAILED');
  t.is((err.cause as Error).message, 'secure element unplugged');
  const zero: StaticKey = { publicKey: rStatic.publicKey, dh: () => new Uint8Array(32) };
  const p2 = pair('IK', { r: { s: zero } });
  throwsCode(
    t,
    () => p2.responder.readMessage(p2.initiator.writeMessage()),
    'NOISE_HANDSHAKE_FAILED',
    'CRYPTO_WEAK_SHARED_SECRET',
  );
});

test('property: random payloads through XX and IK handshakes and 20 transport messages round-trip', (t) => {
  const payload = fc.uint8Array({ maxLength: 300 });
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.constantFrom<HandshakePatternName>('XX', 'IK'),
        fc.array(payload, { minLength: 3, maxLength: 3 }),
        fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 2000 }), fc.uint8Array({ maxLength: 40 })), {
          minLength: 20,
          maxLength: 20,
        }),
        (pattern, hsPayloads, transport) => {
          const initiator = new HandshakeState({
            pattern,
            initiator: true,
            prologue,
            s: iStatic,
            ...(pattern === 'IK' ? { rs: rStatic.publicKey } : {}),
          });
          const responder = new HandshakeState({ pattern, initiator: false, prologue, s: rStatic });
          let k = 0;
          while (!initiator.isComplete) {
            const [w, r] = initiator.isMyTurn ? [initiator, responder] : [responder, initiator];
            const p = hsPayloads[k++] as Uint8Array;
            if (toHex(r.readMessage(w.writeMessage(p))) !== toHex(p)) return false;
          }
          if (!responder.isComplete || toHex(initiator.handshakeHash) !== toHex(responder.handshakeHash)) return false;
          if (toHex(initiator.remoteStaticKey!) !== toHex(rStatic.publicKey)) return false;
          if (toHex(responder.remoteStaticKey!) !== toHex(iStatic.publicKey)) return false;
          const i = initiator.split();
          const r = responder.split();
          for (const [fromInitiator, plaintext, ad] of transport) {
            const [send, receive] = fromInitiator ? [i.send, r.receive] : [r.send, i.receive];
            const ct = send.encryptWithAd(ad, plaintext);
            if (ct.length !== plaintext.length + 16) return false;
            if (toHex(receive.decryptWithAd(ad, ct)) !== toHex(plaintext)) return false;
          }
          return true;
        },
      ),
      { numRuns: 200 },
    ),
  );
});
