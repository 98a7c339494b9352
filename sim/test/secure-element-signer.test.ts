/**
 * Signing keys of many simulated Keys (issue 13: 100 Keys in emergency at once rebuilt their
 * Ed25519 keys over and over in the crypto backend's shared cache of 64). The secure element holds
 * its identity key's signer itself (`ed25519Signer`), and an emergency event holds its one-time
 * event key's signer for the event only, so signing with 150 Keys in turn keeps nothing in the
 * shared cache; the signatures verify under the identity key, and an event's records (signed by
 * the event key) still read back for every contact.
 */
import { clearCryptoCaches, ed25519CachedPrivateKeys, ed25519Verify } from '@enigm/protocols/crypto';
import test from 'ava';
import { loadSecureElement } from '../src/firmware/secure-element.ts';
import { MemoryStorage } from '../src/firmware/storage.ts';
import { seededRandom } from '../src/testing.ts';
import { emergencyRig } from './support/emergency-rig.ts';

test.serial('150 secure elements signing in turn keep no private key in the shared cache; signatures verify', (t) => {
  clearCryptoCaches();
  const elements = Array.from({ length: 150 }, (_, i) => loadSecureElement(new MemoryStorage(), seededRandom(100 + i)));
  const m = Uint8Array.of(7, 7, 7);
  for (let round = 0; round < 3; round++) for (const se of elements) t.true(ed25519Verify(se.identityPublicKey, m, se.sign(m)));
  t.is(ed25519CachedPrivateKeys(), 0, 'the identity keys are held by their elements');
});

test.serial('a reloaded element signs as before (same identity, the same deterministic signature)', (t) => {
  const storage = new MemoryStorage();
  const a = loadSecureElement(storage, seededRandom(9));
  const b = loadSecureElement(storage, seededRandom(10));
  const m = Uint8Array.of(1);
  t.deepEqual(b.identityPublicKey, a.identityPublicKey);
  t.deepEqual(b.sign(m), a.sign(m));
  t.deepEqual(b.binding, a.binding);
});

test.serial('an emergency event signs with its event key without caching it; its records read back', async (t) => {
  const r = emergencyRig({ contacts: 1 });
  clearCryptoCaches();
  t.deepEqual(r.p.gesture({ kind: 'triple' }), { action: 'emergency-start', done: true });
  r.p.setTrack([
    { atMs: 0, lat: 48.1374, lon: 11.5755, accuracyM: 8 },
    { atMs: 10_000, lat: 48.138, lon: 11.576, accuracyM: 6 },
  ]);
  r.advance(20_000);
  await r.fw.emergency.settled();
  t.is(ed25519CachedPrivateKeys(), 0, 'neither the identity key nor the event key is in the shared cache');
  r.p.gesture({ kind: 'hold', seconds: 10 });
  await r.fw.emergency.settled();
  const { events } = await r.read(0);
  t.true(events.filter((e) => e.type === 'record' && e.body.kind === 'location').length >= 2);
  t.is(events.filter((e) => e.type === 'refused').length, 0);
});
