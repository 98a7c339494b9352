/**
 * Checks the session transport (docs/security.md): explicit counters, replay and reorder
 * rejection, bounded gaps, deterministic rekeying by messages and by bytes (Noise §4.2 REKEY),
 * one key per direction, and that any failure ends the channel.
 */
import test from 'ava';
import { x25519Generate } from '../src/crypto/x25519.ts';
import { HandshakeState, staticKeyFromPrivate } from '../src/noise/index.ts';
import { MAX_COUNTER_GAP, REKEY_BYTES, REKEY_INTERVAL, SecureChannel } from '../src/session/channel.ts';

function pair() {
  const prologue = new Uint8Array([1, 2, 3]);
  const i = new HandshakeState({
    pattern: 'XX',
    initiator: true,
    prologue,
    s: staticKeyFromPrivate(x25519Generate().privateKey),
  });
  const r = new HandshakeState({
    pattern: 'XX',
    initiator: false,
    prologue,
    s: staticKeyFromPrivate(x25519Generate().privateKey),
  });
  r.readMessage(i.writeMessage());
  i.readMessage(r.writeMessage());
  r.readMessage(i.writeMessage());
  const id = new Uint8Array(8).fill(4);
  const a = i.split();
  const b = r.split();
  return { host: new SecureChannel(a.send, a.receive, id), key: new SecureChannel(b.send, b.receive, id) };
}

const msg = (n: number) => new Uint8Array([n & 0xff, n >> 8]);

test('round trip both directions with increasing counters', (t) => {
  const { host, key } = pair();
  for (let i = 0; i < 10; i++) {
    const s = host.seal(msg(i));
    t.is(s.counter, i);
    t.deepEqual(key.open(s.counter, s.ciphertext), msg(i));
    const r = key.seal(msg(100 + i));
    t.deepEqual(host.open(r.counter, r.ciphertext), msg(100 + i));
  }
});

test('replay → SESSION_REPLAY and the channel ends', (t) => {
  const { host, key } = pair();
  const s = host.seal(msg(1));
  key.open(s.counter, s.ciphertext);
  t.is(t.throws(() => key.open(s.counter, s.ciphertext))?.message.includes('not above'), true);
  t.false(key.isOpen);
  const s2 = host.seal(msg(2));
  t.throws(() => key.open(s2.counter, s2.ciphertext), { message: /ended/ });
});

test('reorder → rejected; a lost message (gap) is tolerated up to the bound', (t) => {
  const { host, key } = pair();
  const a = host.seal(msg(1));
  const b = host.seal(msg(2));
  key.open(b.counter, b.ciphertext); // a was lost
  t.throws(() => key.open(a.counter, a.ciphertext), { name: 'ProtocolError' });
  const p2 = pair();
  // from nothing received (last = -1), counters up to MAX_COUNTER_GAP - 1 are accepted
  for (let i = 0; i < MAX_COUNTER_GAP - 1; i++) p2.host.seal(msg(i));
  const far = p2.host.seal(msg(9));
  t.deepEqual(p2.key.open(far.counter, far.ciphertext), msg(9));
  const p3 = pair();
  for (let i = 0; i < MAX_COUNTER_GAP; i++) p3.host.seal(msg(i));
  const tooFar = p3.host.seal(msg(9));
  t.throws(() => p3.key.open(tooFar.counter, tooFar.ciphertext), { message: /jumped/ });
});

test('reflection: a message sealed by one side does not open on the same side', (t) => {
  const { host } = pair();
  const s = host.seal(msg(5));
  t.throws(() => host.open(s.counter, s.ciphertext), { message: /authentication/ });
});

test('tampering and truncation → SESSION_INVALID', (t) => {
  for (const mutate of [(c: Uint8Array) => c.map((x, i) => (i === 0 ? x ^ 1 : x)), (c: Uint8Array) => c.slice(0, -1)]) {
    const { host, key } = pair();
    const s = host.seal(msg(5));
    t.throws(() => key.open(s.counter, mutate(s.ciphertext)), { message: /authentication/ });
    t.false(key.isOpen);
  }
});

test(`rekey every ${REKEY_INTERVAL} messages, in step on both sides`, (t) => {
  const { host, key } = pair();
  for (let i = 0; i < REKEY_INTERVAL * 2 + 3; i++) {
    const s = host.seal(msg(i));
    key.open(s.counter, s.ciphertext);
  }
  t.is(host.stats.rekeys, 2);
  t.is(key.stats.rekeys, 2);
});

test('rekey after REKEY_BYTES: the sender jumps to the next epoch and the receiver follows', (t) => {
  const { host, key } = pair();
  const big = new Uint8Array(60_000); // under the Noise message limit
  let last = 0;
  for (let sent = 0; sent < REKEY_BYTES; sent += big.length) {
    const s = host.seal(big);
    key.open(s.counter, s.ciphertext);
    last = s.counter;
  }
  const s = host.seal(msg(1));
  t.is(s.counter, REKEY_INTERVAL, `jumped from ${last} to the next epoch`);
  t.deepEqual(key.open(s.counter, s.ciphertext), msg(1));
  t.is(key.stats.rekeys, 1);
});
