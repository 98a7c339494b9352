/**
 * Contact sets and acknowledgements on the running Key, and the battery: `contacts.set` keeps a
 * newer set from the pinned signer and refuses older, foreign-signed and unsigned ones (a factory
 * reset clears the pin); `contacts.get` shows version, count and aliases only; an ack from a listed
 * contact is shown (LED and haptic), a stranger's or a replayed one is refused; a critical battery
 * mid-event sends the battery-critical record first, then the rates drop; without a contact set an
 * emergency still runs but nothing is sealed.
 */
import { encode } from '@enigm/protocols/cbor';
import { signAck } from '@enigm/protocols/emergency';
import test from 'ava';
import { EMERGENCY_FIX_INTERVAL_MS, EMERGENCY_POWER } from '../src/firmware/emergency.ts';
import { loadPersistent } from '../src/firmware/storage.ts';
import { contactSet, contacts, emergencyRig, FOREIGN_SEED } from './support/emergency-rig.ts';
import { WireHost } from './support/wire-host.ts';

test('contacts.set / contacts.get: newer sets from the pinned signer; older, foreign-signed, unsigned refused by name', (t) => {
  const r = emergencyRig({ contacts: 2 });
  t.deepEqual(r.owner.ok('contacts.get', {}), { version: 1, count: 2, aliases: ['c0', 'c1'] });
  const three = contacts(3, 77);
  t.deepEqual(r.owner.ok('contacts.set', { set: contactSet(3, three) }), { version: 3, count: 3 });
  const refusals: [Uint8Array, string][] = [
    [contactSet(2, three), 'CONTACTS_STALE'],
    [contactSet(3, three), 'CONTACTS_STALE'],
    [contactSet(9, three, FOREIGN_SEED), 'CONTACTS_SIGNER'],
    [encode(new Map([[1, 9]])).slice(), 'CONTACTS_INVALID'],
    [new Uint8Array(100).fill(0xa1), 'CONTACTS_INVALID'],
  ];
  for (const [set, name] of refusals) {
    const padded = set.length < 64 ? new Uint8Array([...set, ...new Uint8Array(64 - set.length)]) : set;
    const res = r.owner.request('contacts.set', { set: padded });
    t.like(res, { ok: false, name }, name);
  }
  t.deepEqual(r.owner.ok('contacts.get', {}), { version: 3, count: 3, aliases: ['c0', 'c1', 'c2'] }, 'nothing changed');
  // Only the owner manages contacts.
  r.fw.openPairingWindow(60_000);
  const bench = new WireHost(r.fw, 13).connect().pair('service');
  t.like(bench.request('contacts.get', {}), { ok: false, name: 'FORBIDDEN' });
  // A factory reset clears the set and the pin: another owner key is accepted then.
  r.p.gesture({ kind: 'hold-at-power-on', seconds: 10 });
  r.p.gesture({ kind: 'triple' });
  t.is(r.fw.state, 'factory');
  t.is(loadPersistent(r.storage)?.contactSigner, undefined);
  const owner2 = new WireHost(r.fw, 21).connect().pair('owner');
  t.deepEqual(owner2.ok('contacts.get', {}), { count: 0, aliases: [] });
  t.deepEqual(owner2.ok('contacts.set', { set: contactSet(1, three, FOREIGN_SEED) }), { version: 1, count: 3 });
});

test('ack: a listed contact is shown (LED, haptic) and told to the others; a stranger, another event or a replay are refused', async (t) => {
  const r = emergencyRig({ contacts: 2 });
  r.fw.openPairingWindow(60_000);
  const bench = new WireHost(r.fw, 13).connect().pair('service');
  const stranger = contacts(1, 99)[0];
  // No event yet: the lifecycle table refuses.
  t.like(r.owner.request('emergency.ack', { ack: new Uint8Array(64) }), { ok: false, name: 'INVALID_STATE' });
  r.p.gesture({ kind: 'triple' });
  const eventId = r.fw.emergency.eventId as Uint8Array;
  const ack = (seed: Uint8Array, id = eventId) => signAck({ eventId: id, seq: 0, time: 1_800_000_000_000 }, seed);
  const haptics = r.p.state().haptics;
  t.like(r.owner.request('emergency.ack', { ack: ack(r.keys[1]?.signSeed as Uint8Array) }), { ok: true, body: { alias: 'c1' } });
  t.like(r.of('output').at(-1), { led: 'ack-green', haptic: 'ack c1' });
  t.is(r.p.state().haptics, haptics + 1);
  t.like(r.owner.request('emergency.ack', { ack: ack(r.keys[1]?.signSeed as Uint8Array) }), { ok: false, name: 'ACK_INVALID' });
  t.like(r.owner.request('emergency.ack', { ack: ack(stranger?.signSeed as Uint8Array) }), { ok: false, name: 'ACK_INVALID' });
  t.like(r.owner.request('emergency.ack', { ack: ack(r.keys[0]?.signSeed as Uint8Array, new Uint8Array(16)) }), {
    ok: false,
    name: 'ACK_INVALID',
  });
  // A service host (the backend) may relay a contact's ack: the ack's signature is what counts.
  t.like(bench.request('emergency.ack', { ack: ack(r.keys[0]?.signSeed as Uint8Array) }), { ok: true, body: { alias: 'c0' } });
  t.is(r.p.state().haptics, haptics + 2);
  const { events } = await r.read(0);
  const notes = events.flatMap((e) => (e.type === 'record' && e.body.kind === 'status' ? [e.body.status.note] : []));
  t.deepEqual(notes, ['ack 1', 'ack 0'], 'each ack becomes a sealed status for the contacts');
});

test('battery critical mid-event: the battery-critical record goes first, then the critical rates', async (t) => {
  const r = emergencyRig({ contacts: 1 });
  r.p.gesture({ kind: 'triple' });
  r.p.setTrack(Array.from({ length: 200 }, (_, i) => ({ atMs: i * 1_000, lat: 48 + i / 1e4, lon: 11 })));
  for (let i = 0; i < 3; i++) r.advance(EMERGENCY_FIX_INTERVAL_MS); // fixes at 0, 10, 20, 30 s sealed
  t.deepEqual(await r.kinds(), ['start', 'location', 'location', 'location', 'location']);
  r.p.setBattery({ level: 4 });
  t.deepEqual((await r.kinds()).slice(5), ['battery-critical'], 'first, at once');
  const { events } = await r.read(0);
  const crit = events.at(-1);
  t.true(crit?.type === 'record' && crit.body.kind === 'battery-critical' && crit.body.status.battery === 4);
  r.advance(EMERGENCY_POWER.critical.fixMs - 1);
  t.deepEqual((await r.kinds()).slice(6), [], 'no location before the critical interval');
  r.advance(1);
  t.deepEqual((await r.kinds()).slice(6), ['location']);
  // Critical once per event: more drain sends no second battery-critical.
  r.p.setBattery({ level: 3 });
  t.deepEqual((await r.kinds()).slice(7), []);
});

test('an event started on a critical battery sends battery-critical right after its start', async (t) => {
  const r = emergencyRig({ contacts: 1 });
  r.p.setBattery({ level: 5 });
  r.p.gesture({ kind: 'triple' });
  t.deepEqual(await r.kinds(), ['start', 'battery-critical']);
});

test('without a contact set the emergency still runs (alarm, phases to hosts) but nothing is sealed', async (t) => {
  const r = emergencyRig({ contacts: 0 });
  r.p.setTrack([{ atMs: 1_000, lat: 1, lon: 2 }]);
  r.p.gesture({ kind: 'triple' });
  t.like(r.of('output').at(-1), { haptic: 'long' });
  r.advance(60_000);
  t.is(r.fw.emergency.phase, 'active');
  r.owner.ok('emergency.cancel', {});
  await r.fw.emergency.settled();
  t.deepEqual(
    r.changes().map((c) => c.phase),
    ['triggered', 'active', 'cancelled'],
  );
  // Only the signed start and an end without envelopes: no location, no status.
  t.is(r.uplink.length, 2);
  t.deepEqual(
    r.fw.emergency.log.map((l) => l.outcome),
    ['cancelled'],
  );
});

test('a set replaced mid-event applies from the next event: the running one keeps sealing to its own contacts', async (t) => {
  const r = emergencyRig({ contacts: 1 });
  const fresh = contacts(1, 123);
  r.p.gesture({ kind: 'triple' });
  r.p.setTrack([{ atMs: 0, lat: 10, lon: 20, accuracyM: 3 }]);
  t.deepEqual(r.owner.ok('contacts.set', { set: contactSet(2, fresh) }), { version: 2, count: 1 });
  r.advance(EMERGENCY_FIX_INTERVAL_MS);
  r.p.setTrack([{ atMs: 0, lat: 11, lon: 21, accuracyM: 3 }]); // a fix at 10 s, after the change
  r.advance(EMERGENCY_FIX_INTERVAL_MS); // sealed at the next sample (20 s)
  r.owner.ok('emergency.cancel', {});
  t.deepEqual(await r.kinds(0), ['start', 'location', 'location', 'end'], 'the old contact reads the whole event');
  // The next event seals to the new set only: the old contact reads nothing of it.
  const first = r.uplink.length;
  r.p.gesture({ kind: 'triple' });
  r.p.setTrack([{ atMs: 0, lat: 12, lon: 22, accuracyM: 3 }]);
  await r.fw.emergency.settled();
  const second = r.uplink.slice(first);
  t.is(second.length, 2, 'start and a location');
  const { EventReader } = await import('@enigm/protocols/emergency');
  const reader = (priv: Uint8Array) =>
    new EventReader({ identityPublicKey: r.fw.secureElement.identityPublicKey, contactIndex: 0, contactPrivateKey: priv });
  const old = reader(r.keys[0]?.privateKey as Uint8Array);
  const now = reader(fresh[0]?.privateKey as Uint8Array);
  const oldSeen = [];
  const newSeen = [];
  for (const b of second) {
    oldSeen.push(...(await old.feed(b)).map((e) => e.type));
    newSeen.push(...(await now.feed(b)).map((e) => (e.type === 'record' ? e.body.kind : e.type)));
  }
  t.deepEqual(newSeen, ['start', 'location']);
  t.deepEqual(oldSeen, ['start', 'refused'], 'the old key opens nothing of the new event');
});
