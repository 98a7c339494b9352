/**
 * Red-team check of issue 16 finding 9 (the cheap part), over a real TCP link to the simulator:
 * anyone on the link could read the Key's stable handle from cleartext `info` and learn its
 * identity and static key by starting an XX handshake — a tracking vector. Now a paired Key shows
 * them only inside a paired host's session, or to anyone while it is pairable (no host yet, or
 * the pairing window open).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '@enigm/protocols/bytes';
import { x25519Generate } from '@enigm/protocols/crypto';
import { staticKeyFromPrivate } from '@enigm/protocols/noise';
import { Simulator } from '@enigm/sim';
import test from 'ava';
import type { KeyError } from '../src/client/errors.ts';
import { KeyClient } from '../src/client/key-client.ts';
import { KeyFacadeError } from '../src/key/errors.ts';
import { openKey } from '../src/key/key.ts';
import { SecureSession } from '../src/session/secure-session.ts';
import { transportFromAddress } from '../src/transport/open.ts';

/** Per-request budget over TCP: no test here waits for a timeout, so a generous one costs nothing (500 ms was within reach of a stall on a loaded machine). */
const LINK_TIMEOUT_MS = 5000;

const newHostKey = () => staticKeyFromPrivate(x25519Generate().privateKey);

test('finding 9: a paired Key names its handle and identity only to paired hosts, or while pairable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-redteam-privacy-'));
  const sim = await Simulator.start({ keys: 1, serial: false, stateDir: dir });
  const c = await KeyClient.connect(transportFromAddress(sim.keys()[0]?.tcp as string), { timeoutMs: LINK_TIMEOUT_MS });
  t.teardown(async () => {
    await c.close();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const handle = sim.keys()[0]?.handle as string;
  // A fresh Key is pairable: anyone may see who it is (that is how a first host pairs).
  t.is(toHex((await c.info()).handle ?? new Uint8Array(0)), handle);
  const hostKey = newHostKey();
  const xx = await SecureSession.firstContact(c, { hostKey });
  await xx.pair('owner');
  await xx.close();
  // Paired, window closed: a stranger on the link learns neither the handle nor the identity.
  const info = await c.info();
  t.is(info.handle, undefined, 'cleartext info carries no handle');
  t.is(info.model, 'enigm-key-1', 'the public facts are still there');
  const stranger = await t.throwsAsync(SecureSession.firstContact(c, { hostKey: newHostKey() }));
  t.is((stranger as KeyError).remote?.name, 'SESSION_FAILED', 'no XX outside the pairing window');
  // The paired host learns it inside its session.
  const ik = await SecureSession.reconnect(c, xx.peer.staticKey, { hostKey, identity: xx.peer.identity });
  t.is(toHex(ik.peer.handle), handle);
  t.is(toHex((await ik.request('info', {})).handle ?? new Uint8Array(0)), handle, 'info inside the session names it');
  // The pairing window (the user's gesture) makes the Key pairable again, for a while.
  sim.firmware(0).openPairingWindow(60_000);
  t.is(toHex((await c.info()).handle ?? new Uint8Array(0)), handle);
  const newcomer = await SecureSession.firstContact(c, { hostKey: newHostKey() });
  t.is(toHex(newcomer.peer.identity), toHex(sim.firmware(0).secureElement.identityPublicKey));
  // An unpaired session outside the window gets no handle either.
  await newcomer.pair('service');
  t.false(sim.firmware(0).pairable, 'pairing closes the window');
});

test('finding 9: pairing a paired Key outside its window is KEY_NOT_PAIRABLE (a named error), inside it works', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-redteam-privacy-'));
  const sim = await Simulator.start({ keys: 1, serial: false, stateDir: join(dir, 'sim') });
  t.teardown(async () => {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const address = sim.keys()[0]?.tcp as string;
  const first = await openKey(address, { hostKey: join(dir, 'a.pem'), known: join(dir, 'a.json'), timeoutMs: LINK_TIMEOUT_MS });
  await first.pair('owner');
  await first.close();
  const second = await openKey(address, { hostKey: join(dir, 'b.pem'), known: join(dir, 'b.json'), timeoutMs: LINK_TIMEOUT_MS });
  t.teardown(() => second.close());
  const e = await t.throwsAsync(second.pair('service'), { instanceOf: KeyFacadeError });
  t.is(e?.code, 'KEY_NOT_PAIRABLE', e?.message);
  sim.firmware(0).openPairingWindow(60_000);
  t.is((await second.pair('service')).role, 'service');
});
