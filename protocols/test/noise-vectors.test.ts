/**
 * Noise Protocol Framework rev 34, suite 25519_ChaChaPoly_SHA256: the noise-c test vectors
 * (`testdata/noise/noise-c-basic.json`, cacophony format).
 *
 * Spec checked, for every vector named `Noise_<PATTERN>_25519_ChaChaPoly_SHA256` of the 15
 * fundamental patterns (other suites and the pre-rev-31 `NoisePSK_` vectors are skipped and
 * counted):
 * - §5.3 HandshakeState: each handshake message written by the sender equals the vector's
 *   ciphertext byte for byte, and the receiver decrypts the vector's payload from it;
 * - §5.2 GetHandshakeHash: both sides end with the vector's handshake hash;
 * - §5.2 Split / §5.1 CipherState: the transport messages that follow (alternating directions for
 *   interactive patterns, initiator → responder for one-way ones) encrypt to the vector's
 *   ciphertexts and decrypt back, in both directions;
 * - §8 protocol names.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { toHex } from '../src/bytes.ts';
import {
  type CipherState,
  HANDSHAKE_PATTERNS,
  type HandshakePatternName,
  HandshakeState,
  protocolName,
  staticKeyFromPrivate,
  x25519PublicKey,
} from '../src/noise/index.ts';

/** The repository's copied test vectors, found relative to this file. */
const TESTDATA = fileURLToPath(new URL('../../testdata/', import.meta.url));

interface Vector {
  name: string;
  pattern: string;
  dh: string;
  cipher: string;
  hash: string;
  init_prologue: string;
  init_static?: string;
  init_ephemeral: string;
  init_remote_static?: string;
  init_psk?: string;
  resp_prologue: string;
  resp_static?: string;
  resp_ephemeral?: string;
  resp_remote_static?: string;
  resp_psk?: string;
  messages: { payload: string; ciphertext: string }[];
  handshake_hash: string;
}

const VECTORS_PATH = join(TESTDATA, 'noise', 'noise-c-basic.json');
const vectors = (JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as { vectors: Vector[] }).vectors;

const PATTERNS = Object.keys(HANDSHAKE_PATTERNS) as HandshakePatternName[];
const isOurs = (v: Vector): boolean =>
  (PATTERNS as string[]).includes(v.pattern) && v.name === `Noise_${v.pattern}_25519_ChaChaPoly_SHA256`;
const ours = vectors.filter(isOurs);

const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const opt = (h: string | undefined): Uint8Array | undefined => (h === undefined ? undefined : bytes(h));
const ephemeral = (h: string | undefined) => {
  if (h === undefined) return undefined;
  const privateKey = bytes(h);
  return { privateKey, publicKey: x25519PublicKey(privateKey) };
};

test('§8 protocol names: Noise_<PATTERN>_25519_ChaChaPoly_SHA256', (t) => {
  t.is(protocolName('XX'), 'Noise_XX_25519_ChaChaPoly_SHA256');
  t.is(protocolName('N'), 'Noise_N_25519_ChaChaPoly_SHA256');
  t.is(PATTERNS.length, 15);
});

test('noise-c-basic.json: one 25519_ChaChaPoly_SHA256 vector per fundamental pattern, the rest skipped', (t) => {
  t.is(vectors.length, 480);
  t.is(ours.length, 15);
  t.deepEqual(ours.map((v) => v.pattern).sort(), [...PATTERNS].sort());
  const skipped = vectors.filter((v) => !isOurs(v));
  t.is(skipped.length, 465);
  t.is(skipped.filter((v) => v.name.startsWith('NoisePSK_')).length, 240);
  for (const v of ours) t.is(v.init_psk ?? v.resp_psk, undefined);
});

for (const v of ours) {
  test(`§5 ${v.name}: handshake ciphertexts, payloads, handshake hash and transport messages`, (t) => {
    const pattern = v.pattern as HandshakePatternName;
    const spec = HANDSHAKE_PATTERNS[pattern];
    const initiator = new HandshakeState({
      pattern,
      initiator: true,
      prologue: bytes(v.init_prologue),
      s: v.init_static === undefined ? undefined : staticKeyFromPrivate(bytes(v.init_static)),
      rs: opt(v.init_remote_static),
      e: ephemeral(v.init_ephemeral),
    });
    const responder = new HandshakeState({
      pattern,
      initiator: false,
      prologue: bytes(v.resp_prologue),
      s: v.resp_static === undefined ? undefined : staticKeyFromPrivate(bytes(v.resp_static)),
      rs: opt(v.resp_remote_static),
      e: ephemeral(v.resp_ephemeral),
    });

    const hsCount = spec.messages.length;
    t.true(v.messages.length > hsCount, 'vector has transport messages');
    for (let i = 0; i < hsCount; i++) {
      const m = v.messages[i]!;
      const [writer, reader] = i % 2 === 0 ? [initiator, responder] : [responder, initiator];
      t.true(writer.isMyTurn);
      t.false(reader.isMyTurn);
      const msg = writer.writeMessage(bytes(m.payload));
      t.is(toHex(msg), m.ciphertext, `handshake message ${i + 1}`);
      t.is(toHex(reader.readMessage(msg)), m.payload, `handshake payload ${i + 1}`);
    }
    t.true(initiator.isComplete);
    t.true(responder.isComplete);
    t.is(toHex(initiator.handshakeHash), v.handshake_hash);
    t.is(toHex(responder.handshakeHash), v.handshake_hash);
    if (v.init_static !== undefined && responder.remoteStaticKey !== undefined)
      t.is(toHex(responder.remoteStaticKey), toHex(staticKeyFromPrivate(bytes(v.init_static)).publicKey));
    if (v.resp_static !== undefined && initiator.remoteStaticKey !== undefined)
      t.is(toHex(initiator.remoteStaticKey), toHex(staticKeyFromPrivate(bytes(v.resp_static)).publicKey));

    const i = initiator.split();
    const r = responder.split();
    let directions = 0;
    for (let k = hsCount; k < v.messages.length; k++) {
      const m = v.messages[k]!;
      const fromInitiator = spec.oneWay || k % 2 === 0;
      directions |= fromInitiator ? 1 : 2;
      const [send, receive]: [CipherState, CipherState] = fromInitiator ? [i.send, r.receive] : [r.send, i.receive];
      const ct = send.encryptWithAd(new Uint8Array(0), bytes(m.payload));
      t.is(toHex(ct), m.ciphertext, `transport message ${k + 1}`);
      t.is(toHex(receive.decryptWithAd(new Uint8Array(0), ct)), m.payload, `transport payload ${k + 1}`);
    }
    t.is(directions, spec.oneWay ? 1 : 3, 'transport checked in every direction the pattern allows');
  });
}
