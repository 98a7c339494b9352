/**
 * Checks Key sessions end to end over the in-memory twin (docs/security.md): Noise XX first
 * contact with the identity binding, IK reconnection, pairing and roles, and every bad-input
 * case — wrong static key, unknown host, replayed IK message, tampered handshake, downgraded
 * prologue, replayed / reflected / tampered / post-close session messages — each a typed error,
 * the session torn down, and the Key still responsive.
 */

import { x25519Generate } from '@enigm/protocols/crypto';
import { encodeFrame, FrameDecoder } from '@enigm/protocols/framing';
import { type BodyOf, decodeMessage, encodeMessage } from '@enigm/protocols/messages';
import { HandshakeState, staticKeyFromPrivate } from '@enigm/protocols/noise';
import { sessionPrologue } from '@enigm/protocols/session';
import { DeviceLink } from '@enigm/sim';
import type { KeyFirmware } from '@enigm/sim/firmware';
import { makeTestKey } from '@enigm/sim/testing';
import test from 'ava';
import { KeyError } from '../src/client/errors.ts';
import { KeyClient } from '../src/client/key-client.ts';
import { SecureSession } from '../src/session/secure-session.ts';
import { createMemoryLink } from '../src/transport/memory.ts';

const newHostKey = () => staticKeyFromPrivate(x25519Generate().privateKey);

interface Conn {
  client: KeyClient;
  host: ReturnType<typeof createMemoryLink>['host'];
  device: ReturnType<typeof createMemoryLink>['device'];
  dropResponses: { n: number };
  /** Frames the Key sent, in order. */
  keyFrames: Uint8Array[];
}

interface Rig {
  fw: KeyFirmware;
  now: { t: number };
  connect(): Promise<Conn>;
}

/** Decodes the single message in a captured frame. */
function messageOf(frame: Uint8Array) {
  const ev = new FrameDecoder({ maxPayload: 65536 }).push(frame);
  const f = ev.find((e) => e.kind === 'frame');
  if (f?.kind !== 'frame') throw new Error('no frame');
  return decodeMessage(f.payload);
}

function rig(): Rig {
  const { fw, now } = makeTestKey();
  return {
    fw,
    now,
    async connect() {
      const { host, device } = createMemoryLink();
      const dropResponses = { n: 0 };
      const keyFrames: Uint8Array[] = [];
      const link = new DeviceLink(
        fw,
        (b) => {
          keyFrames.push(b.slice());
          if (dropResponses.n > 0) {
            dropResponses.n--;
            return;
          }
          void device.send(b).catch(() => {});
        },
        'memory',
      );
      await device.open({ data: (c) => link.receive(c), closed: () => link.close() });
      const client = await KeyClient.connect(host, { timeoutMs: 100, retries: 2 });
      return { client, host, device, dropResponses, keyFrames };
    },
  };
}

const remoteName = (e: unknown) => (e as KeyError).remote?.name;

async function paired(r: Rig, role: 'owner' | 'service' | 'provisioning' = 'owner') {
  const hostKey = newHostKey();
  const { client } = await r.connect();
  const xx = await SecureSession.firstContact(client, { hostKey });
  await xx.pair(role);
  await xx.close();
  await client.close();
  return { hostKey, keyStatic: xx.peer.staticKey, identity: xx.peer.identity as Uint8Array };
}

test('XX first contact verifies the identity binding; the first host pairs (TOFU), the next needs the window', async (t) => {
  const r = rig();
  const { client } = await r.connect();
  const s = await SecureSession.firstContact(client, { hostKey: newHostKey() });
  t.deepEqual(s.peer.identity, r.fw.secureElement.identityPublicKey);
  t.deepEqual(s.peer.staticKey, r.fw.secureElement.staticKey.publicKey);
  // an unpaired session may only pair
  t.is(remoteName(await t.throwsAsync(s.request('attest', { nonce: new Uint8Array(32) }))), 'FORBIDDEN');
  t.deepEqual(await s.pair('owner', 'phone'), { role: 'owner' });
  t.is((await s.request('hosts.list', {})).hosts.length, 1);
  // Outside the pairing window the Key does not run XX at all (XX shows its identity to anyone).
  t.is(remoteName(await t.throwsAsync(SecureSession.firstContact(client, { hostKey: newHostKey() }))), 'SESSION_FAILED');
  r.fw.openPairingWindow(1000);
  const s2 = await SecureSession.firstContact(client, { hostKey: newHostKey() });
  r.now.t += 2000; // the window closes before the host asks to pair
  t.is(remoteName(await t.throwsAsync(s2.pair('owner'))), 'NOT_PAIRED');
  r.fw.openPairingWindow(60_000);
  t.deepEqual(await s2.pair('service'), { role: 'service' });
  t.is(r.fw.hosts().length, 2);
  await client.close();
});

test('IK reconnect works for a paired host; roles are enforced inside the session', async (t) => {
  const r = rig();
  const owner = await paired(r, 'owner');
  r.fw.openPairingWindow(60_000);
  const service = await paired(r, 'service');
  const { client } = await r.connect();
  const ss = await SecureSession.reconnect(client, service.keyStatic, { hostKey: service.hostKey });
  t.is(remoteName(await t.throwsAsync(ss.request('activate', {}))), 'FORBIDDEN');
  t.is(remoteName(await t.throwsAsync(ss.request('hosts.list', {}))), 'FORBIDDEN');
  t.is((await ss.request('attest', { nonce: new Uint8Array(32) })).evidence.length > 64, true);
  const os = await SecureSession.reconnect(client, owner.keyStatic, { hostKey: owner.hostKey });
  t.deepEqual(await os.request('activate', {}), { state: 'dormant' });
  await client.close();
});

test('IK from an unknown host, or with the wrong Key static key → SESSION_FAILED; the Key stays responsive', async (t) => {
  const r = rig();
  const p = await paired(r);
  const { client } = await r.connect();
  const unknown = await t.throwsAsync(SecureSession.reconnect(client, p.keyStatic, { hostKey: newHostKey() }), {
    instanceOf: KeyError,
  });
  t.is(remoteName(unknown), 'SESSION_FAILED');
  const wrongStatic = x25519Generate().publicKey;
  t.is(remoteName(await t.throwsAsync(SecureSession.reconnect(client, wrongStatic, { hostKey: p.hostKey }))), 'SESSION_FAILED');
  t.is((await client.info()).model, 'enigm-key-1');
});

test('a replayed IK first message (same or older timestamp) is refused', async (t) => {
  const r = rig();
  const p = await paired(r);
  const { client } = await r.connect();
  const fixed = () => 1_700_000_000_000;
  const s = await SecureSession.reconnect(client, p.keyStatic, { hostKey: p.hostKey, now: fixed });
  await s.close();
  const replay = await t.throwsAsync(SecureSession.reconnect(client, p.keyStatic, { hostKey: p.hostKey, now: fixed }));
  t.is(remoteName(replay), 'SESSION_FAILED');
  await SecureSession.reconnect(client, p.keyStatic, { hostKey: p.hostKey, now: () => fixed() + 1 });
  t.pass();
});

test('a tampered handshake message → SESSION_FAILED, no detail leaked; the Key stays responsive', async (t) => {
  const r = rig();
  const { client } = await r.connect();
  const prologue = sessionPrologue({ hello: client.helloRequest, helloResponse: client.hello, transport: 'memory' });
  for (const at of [0, 20, 40, 63]) {
    const hs = new HandshakeState({ pattern: 'XX', initiator: true, prologue, s: newHostKey() });
    const r1 = await client.request('session.start', { pattern: 'XX', message: hs.writeMessage() });
    hs.readMessage(r1.message);
    const m3 = hs.writeMessage();
    m3[at] = (m3[at] as number) ^ 0x80;
    const e = await t.throwsAsync(client.request('session.finish', { session: r1.session, message: m3 }), {
      instanceOf: KeyError,
    });
    t.is(remoteName(e), 'SESSION_FAILED');
    t.is(e?.remote?.reason, 'session failed');
  }
  // a small-order ephemeral in message 1 fails the same way
  const weak = new Uint8Array(32);
  weak[0] = 1;
  t.is(remoteName(await t.throwsAsync(client.request('session.start', { pattern: 'XX', message: weak }))), 'SESSION_FAILED');
  t.is((await client.info()).state, 'factory');
});

test('a downgraded or mismatched prologue (other transport, other hello) fails the handshake', async (t) => {
  const r = rig();
  const { client } = await r.connect();
  const e = await t.throwsAsync(SecureSession.firstContact(client, { hostKey: newHostKey(), transport: 'tcp' }), {
    instanceOf: KeyError,
  });
  t.true(e?.code === 'KEY_BAD_RESPONSE' || remoteName(e) === 'SESSION_FAILED');
});

test('a replayed session message (captured, sent again under a new request id) ends the session', async (t) => {
  const r = rig();
  const p = await paired(r);
  const { client, host } = await r.connect();
  const s = await SecureSession.reconnect(client, p.keyStatic, { hostKey: p.hostKey });
  const before = host.sent.length;
  await s.request('hosts.list', {});
  const captured = messageOf(host.sent[before] as Uint8Array);
  t.is(captured.name, 'secure');
  const e = await t.throwsAsync(client.request('secure', captured.body as BodyOf<'secure'>), { instanceOf: KeyError });
  t.is(remoteName(e), 'SESSION_FAILED');
  t.is((e as KeyError).remote?.reason, 'session failed', 'no detail for the peer');
  const after = await t.throwsAsync(s.request('hosts.list', {}), { instanceOf: KeyError });
  t.is(after?.code, 'KEY_OUTCOME_UNKNOWN', 'a cleartext answer is never the outcome');
  t.is(remoteName(after?.cause), 'SESSION_FAILED', 'the session was torn down');
  t.false(s.isOpen);
  t.is((await client.info()).state, 'factory', 'the Key still answers');
});

test('a tampered session message (one ciphertext bit, frame CRC recomputed) ends the session', async (t) => {
  const r = rig();
  const p = await paired(r);
  const { client, device } = await r.connect();
  const s = await SecureSession.reconnect(client, p.keyStatic, { hostKey: p.hostKey });
  device.corruptNext((frame) => {
    const m = messageOf(frame);
    const body = m.body as BodyOf<'secure'>;
    const ciphertext = body.ciphertext.slice();
    ciphertext[3] = (ciphertext[3] as number) ^ 0x01;
    return encodeFrame(encodeMessage({ ...m, name: 'secure', body: { ...body, ciphertext } } as never));
  });
  const e = await t.throwsAsync(s.request('hosts.list', {}), { instanceOf: KeyError });
  t.is(e?.code, 'KEY_OUTCOME_UNKNOWN');
  t.is(remoteName(e?.cause), 'SESSION_FAILED');
  t.false(s.isOpen);
  t.is((await client.info()).model, 'enigm-key-1');
});

test('a reflected session message (the Key’s own response sent back to it) is rejected', async (t) => {
  const r = rig();
  const p = await paired(r);
  const { client, keyFrames } = await r.connect();
  const s = await SecureSession.reconnect(client, p.keyStatic, { hostKey: p.hostKey });
  await s.request('hosts.list', {});
  const response = keyFrames.map(messageOf).findLast((m) => m.name === 'secure.response');
  t.truthy(response);
  const body = response?.body as BodyOf<'secure.response'>;
  // Same session id, a counter above the last one the Key accepted: only the key direction differs.
  const e = await t.throwsAsync(client.request('secure', { ...body, counter: body.counter + 100 }), { instanceOf: KeyError });
  t.is(remoteName(e), 'SESSION_FAILED');
});

test('a session message after close, or for an unknown session → SESSION_FAILED', async (t) => {
  const r = rig();
  const p = await paired(r);
  const { client } = await r.connect();
  const s = await SecureSession.reconnect(client, p.keyStatic, { hostKey: p.hostKey });
  await s.close();
  t.is((await t.throwsAsync(s.request('hosts.list', {}), { instanceOf: Error }))?.name, 'ProtocolError');
  const e = await t.throwsAsync(
    client.request('secure', { session: new Uint8Array(8).fill(1), counter: 1, ciphertext: new Uint8Array(32) }),
  );
  t.is(remoteName(e), 'SESSION_FAILED');
});

test('a lost session response: the retry is re-sealed with a fresh counter; the command ran once', async (t) => {
  const r = rig();
  const p = await paired(r);
  const { client, dropResponses } = await r.connect();
  const s = await SecureSession.reconnect(client, p.keyStatic, { hostKey: p.hostKey });
  let transitions = 0;
  r.fw.onEvent(() => transitions++);
  dropResponses.n = 2; // the event and the response of activate are lost
  t.deepEqual(await s.request('activate', {}), { state: 'dormant' });
  t.is(transitions, 1);
  t.is(client.stats.retries >= 1, true);
  t.deepEqual((await s.request('hosts.list', {})).hosts.length, 1, 'session still healthy');
  await client.close();
});

test('garbage and oversized frames between session messages do not disturb the session', async (t) => {
  const r = rig();
  const p = await paired(r);
  const { client, host } = await r.connect();
  const s = await SecureSession.reconnect(client, p.keyStatic, { hostKey: p.hostKey });
  await host.send(new Uint8Array([0, 1, 2, 3, 0]));
  await host.send(encodeFrame(new Uint8Array(5000)));
  await host.send(encodeFrame(encodeMessage({ version: 1, name: 'ping.response', id: 5, body: { uptimeMs: 1 } })));
  t.is((await s.request('hosts.list', {})).hosts.length, 1);
  await client.close();
});

test('the Key the caller expects: a different identity or handle is KEY_IDENTITY_MISMATCH before any command', async (t) => {
  const r = rig();
  const p = await paired(r);
  const { client } = await r.connect();
  const handle = r.fw.handle;
  const ok = await SecureSession.reconnect(client, p.keyStatic, { hostKey: p.hostKey, identity: p.identity, expect: { handle } });
  t.deepEqual(ok.peer.handle, handle);
  await ok.close();
  const other = new Uint8Array(16).fill(9);
  const e = await t.throwsAsync(SecureSession.reconnect(client, p.keyStatic, { hostKey: p.hostKey, expect: { handle: other } }), {
    instanceOf: KeyError,
  });
  t.is(e?.code, 'KEY_IDENTITY_MISMATCH');
  const wrongId = new Uint8Array(32).fill(5);
  const e2 = await t.throwsAsync(SecureSession.reconnect(client, p.keyStatic, { hostKey: p.hostKey, identity: wrongId }), {
    instanceOf: KeyError,
  });
  t.is(e2?.code, 'KEY_IDENTITY_MISMATCH');
  r.fw.openPairingWindow(60_000);
  const e3 = await t.throwsAsync(SecureSession.firstContact(client, { hostKey: newHostKey(), expect: { identity: wrongId } }), {
    instanceOf: KeyError,
  });
  t.is(e3?.code, 'KEY_IDENTITY_MISMATCH');
  t.is(r.fw.state, 'factory');
  await client.close();
});
