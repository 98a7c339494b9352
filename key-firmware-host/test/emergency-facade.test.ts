/**
 * The Key facade's emergency operations against the real simulator over TCP: the owner pushes a
 * signed contact set and reads it back (stale and foreign-signed sets refused with typed codes);
 * a service host (paired after the long-hold gesture opens the pairing window) may not set
 * contacts or cancel (KEY_FORBIDDEN); the start gesture with a GNSS track starts an event whose
 * `emergency.changed` and `emergency.record` events reach the host through `key.events()` and
 * decrypt as the contact with `EventReader`; a contact's signed ack is relayed (a replay refused);
 * cancel ends the event and the Key is dormant again, its log (`emergencyLog`, owner only) holds the
 * event and its outcome; with the MQTT uplink on, the same records reach the broker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttLink } from '@enigm/mqtt';
import { fromHex } from '@enigm/protocols/bytes';
import {
  type ContactKeys,
  type ContactSet,
  contactKeygen,
  EventReader,
  type ReaderEvent,
  signAck,
  signContactSet,
} from '@enigm/protocols/emergency';
import { fleetFilter, parseKeyTopic, peekUplink } from '@enigm/protocols/mqtt';
import { Simulator } from '@enigm/sim';
import { uplinkBusy } from '@enigm/sim/testing';
import test from 'ava';
import { type EmergencyKeyEvent, emergencyEventOf } from '../src/key/emergency.ts';
import { KeyFacadeError } from '../src/key/errors.ts';
import type { KeyEvent } from '../src/key/events.ts';
import { type Key, type OpenKeyOptions, openKey } from '../src/key/key.ts';

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const OWNER_SEED = new Uint8Array(32).fill(21);
const FOREIGN_SEED = new Uint8Array(32).fill(22);
const LAT = 48.858844;
const LON = 2.294351;

function contactSet(version: number, keys: readonly ContactKeys[], seed = OWNER_SEED): Uint8Array {
  const set: ContactSet = {
    version,
    issuedAt: Date.now() - 1000,
    contacts: keys.map((k, i) => ({ alias: `contact-${i}`, hpkeKey: k.publicKey, signKey: k.signKey })),
  };
  return signContactSet(set, seed);
}

function hostOptions(dir: string, name: string): OpenKeyOptions {
  return {
    hostKey: join(dir, name, 'host-key.pem'),
    known: join(dir, name, 'known-keys.json'),
    timeoutMs: 5000,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Collects a Key's events in the background until the signal fires. */
function collect(key: Key, signal: AbortSignal): KeyEvent[] {
  const got: KeyEvent[] = [];
  void (async () => {
    for await (const ev of key.events({ signal, bound: 4096 })) got.push(ev);
  })();
  return got;
}

/** Waits (bounded) until `cond` holds, advancing the simulator's clock a second at a time. */
async function until(sim: Simulator, cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    sim.clock.advance(1000);
    await sleep(25);
  }
}

async function setup(mqtt = false) {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-emergency-facade-'));
  dirs.push(dir);
  const sim = await Simulator.start({ keys: 1, serial: false, stateDir: join(dir, 'sim'), ...(mqtt ? { mqtt: true } : {}) });
  const address = sim.keys()[0]?.tcp as string;
  const owner = await openKey(address, hostOptions(dir, 'owner'));
  await owner.pair('owner', { label: 'phone' });
  await owner.activate();
  return { dir, sim, address, owner };
}

test.serial(
  'owner sets and gets contacts; stale, foreign and non-owner refused; an event is read, acked and cancelled',
  async (t) => {
    const { dir, sim, address, owner } = await setup();
    const stop = new AbortController();
    let service: Key | undefined;
    t.teardown(async () => {
      stop.abort();
      await service?.close();
      await owner.close();
      await sim.stop();
    });
    const keys = [contactKeygen(), contactKeygen()];

    t.deepEqual(await owner.getContacts(), { version: undefined, count: 0, aliases: [] });
    t.deepEqual(await owner.setContacts(contactSet(1, keys)), { version: 1, count: 2 });
    t.deepEqual(await owner.getContacts(), { version: 1, count: 2, aliases: ['contact-0', 'contact-1'] });

    const stale = await t.throwsAsync(owner.setContacts(contactSet(1, keys)), { instanceOf: KeyFacadeError });
    t.is(stale?.code, 'KEY_CONTACTS_STALE');
    const foreign = await t.throwsAsync(owner.setContacts(contactSet(2, keys, FOREIGN_SEED)), { instanceOf: KeyFacadeError });
    t.is(foreign?.code, 'KEY_CONTACTS_SIGNER');
    const garbage = await t.throwsAsync(owner.setContacts(new Uint8Array(100).fill(1)), { instanceOf: KeyFacadeError });
    t.is(garbage?.code, 'KEY_CONTACTS_INVALID');
    const tiny = await t.throwsAsync(owner.setContacts(new Uint8Array(3)), { instanceOf: KeyFacadeError });
    t.is(tiny?.code, 'KEY_BAD_ARGUMENT');
    const idle = await t.throwsAsync(owner.cancelEmergency(), { instanceOf: KeyFacadeError });
    t.is(idle?.code, 'KEY_INVALID_STATE', 'no event: refused before asking');

    // A service host: paired while the long hold keeps the pairing window open.
    t.like(sim.controls(0).gesture({ kind: 'hold', seconds: 9 }), { action: 'pairing-window', done: true });
    service = await openKey(address, hostOptions(dir, 'bench'));
    await service.pair('service', { label: 'bench' });
    const setBySvc = await t.throwsAsync(service.setContacts(contactSet(3, keys)), { instanceOf: KeyFacadeError });
    t.is(setBySvc?.code, 'KEY_FORBIDDEN');
    const getBySvc = await t.throwsAsync(service.getContacts(), { instanceOf: KeyFacadeError });
    t.is(getBySvc?.code, 'KEY_FORBIDDEN');
    const logBySvc = await t.throwsAsync(service.emergencyLog(), { instanceOf: KeyFacadeError });
    t.is(logBySvc?.code, 'KEY_FORBIDDEN', "the emergency log is the owner's");
    t.like(await owner.emergencyLog(), { events: [], running: undefined });

    // The emergency: a track, then the start gesture; events stream to the owner.
    const events = collect(owner, stop.signal);
    const emergency = () => events.map(emergencyEventOf).filter((e): e is EmergencyKeyEvent => e !== undefined);
    const records = () => emergency().filter((e) => e.type === 'record');
    t.like(sim.controls(0).gesture({ kind: 'triple' }), { action: 'emergency-start', done: true });
    // A track set while dormant would be refused (GNSS off): set it once the event runs.
    sim.controls(0).setTrack([{ atMs: 0, lat: LAT, lon: LON, accuracyM: 5 }]);
    await until(sim, () => records().some((r) => r.type === 'record' && r.kind === 'location'), 'a location record');
    t.is((await owner.info()).state, 'emergency');
    const phases = emergency().filter((e) => e.type === 'phase');
    t.like(phases[0], { type: 'phase', phase: 'triggered', seq: 0 });
    t.true(
      phases.some((p) => p.type === 'phase' && p.phase === 'active'),
      'the first fix makes it active',
    );
    const first = records()[0];
    t.like(first, { type: 'record', kind: 'start', seq: 0 });
    const eventId = first?.event as string;
    t.regex(eventId, /^[0-9a-f]{32}$/);

    // The contact reads what the host received.
    const identity = sim.firmware(0).secureElement.identityPublicKey;
    const reader = new EventReader({
      identityPublicKey: identity,
      contactIndex: 1,
      contactPrivateKey: keys[1]?.privateKey as Uint8Array,
    });
    const read: ReaderEvent[] = [];
    const seen = records().length;
    for (const r of records().slice(0, seen)) if (r.type === 'record') read.push(...(await reader.feed(r.record)));
    t.is(read[0]?.type, 'start');
    const loc = read.find((e) => e.type === 'record' && e.body.kind === 'location');
    t.true(
      loc?.type === 'record' && loc.body.kind === 'location' && loc.body.location.lat === LAT && loc.body.location.lon === LON,
    );
    t.false(
      read.some((e) => e.type === 'refused'),
      'nothing refused',
    );

    // A service host may not cancel; it may relay an ack (the ack's signature is what counts).
    const cancelBySvc = await t.throwsAsync(service.cancelEmergency(), { instanceOf: KeyFacadeError });
    t.is(cancelBySvc?.code, 'KEY_FORBIDDEN');
    const ack = signAck({ eventId: fromHex(eventId), seq: reader.highestSeq, time: Date.now() }, keys[0]?.signSeed as Uint8Array);
    t.deepEqual(await owner.relayAck(ack), { alias: 'contact-0' });
    const replay = await t.throwsAsync(service.relayAck(ack), { instanceOf: KeyFacadeError });
    t.is(replay?.code, 'KEY_ACK_INVALID');
    const stranger = signAck({ eventId: fromHex(eventId), seq: 1, time: Date.now() }, contactKeygen().signSeed);
    t.is((await t.throwsAsync(owner.relayAck(stranger), { instanceOf: KeyFacadeError }))?.code, 'KEY_ACK_INVALID');

    // Cancel: the end record and the phase change arrive; the Key is dormant again.
    const ended = await owner.cancelEmergency();
    t.deepEqual(ended, { phase: 'cancelled', event: eventId });
    t.is((await owner.info()).state, 'dormant');
    await until(sim, () => records().some((r) => r.type === 'record' && r.kind === 'end'), 'the end record');
    t.true(emergency().some((e) => e.type === 'phase' && e.phase === 'cancelled' && e.event === eventId));
    for (const r of records().slice(seen)) if (r.type === 'record') read.push(...(await reader.feed(r.record)));
    t.is(reader.ended?.outcome, 'cancelled');
    t.deepEqual(reader.missing(), [], 'no gap in what the host relayed');
    const again = await t.throwsAsync(owner.cancelEmergency(), { instanceOf: KeyFacadeError });
    t.is(again?.code, 'KEY_INVALID_STATE');
    t.is(sim.firmware(0).emergency.phase, 'none');
    // The Key's log: this event, its outcome and times; nothing else (no location).
    const log = await owner.emergencyLog();
    t.is(log.running, undefined);
    t.is(log.events.length, 1);
    t.like(log.events[0], { event: eventId, outcome: 'cancelled' });
    t.true((log.events[0]?.startedAt as number) <= (log.events[0]?.endedAt as number));
    t.true((log.events[0]?.endedAt as number) <= log.now);
    t.deepEqual(Object.keys(log.events[0] ?? {}).sort(), ['endedAt', 'event', 'outcome', 'startedAt']);
  },
);

test.serial(
  'resolve: refused while only triggered (KEY_INVALID_PHASE), then resolved; records also reach the MQTT uplink',
  async (t) => {
    const { sim, owner } = await setup(true);
    const broker = sim.broker?.url as string;
    const consumer = await MqttLink.connect({ url: broker, username: 'backend-1', backoff: { baseMs: 50, capMs: 300 } });
    t.teardown(async () => {
      await consumer.close();
      await owner.close();
      await sim.stop();
    });
    const uplink: { kind: string; priority: string; body: Uint8Array }[] = [];
    consumer.onMessage((topic, payload) => {
      if (parseKeyTopic(topic)?.channel !== 'up') return;
      const r = peekUplink(payload);
      if (r) uplink.push(r);
    });
    await consumer.subscribe(fleetFilter('up'));
    const keys = [contactKeygen()];
    await owner.setContacts(contactSet(1, keys));
    // No track: the event stays triggered (until its 30 s timeout on the simulator clock).
    t.like(sim.controls(0).gesture({ kind: 'triple' }), { done: true });
    const early = await t.throwsAsync(owner.resolveEmergency(), { instanceOf: KeyFacadeError });
    t.is(early?.code, 'KEY_INVALID_PHASE');
    t.is(early?.message.includes('INVALID_PHASE'), true);
    sim.controls(0).setTrack([{ atMs: 0, lat: LAT, lon: LON, accuracyM: 3 }]);
    await until(sim, () => sim.firmware(0).emergency.phase === 'active', 'the active phase');
    const r = await owner.resolveEmergency();
    t.is(r.phase, 'resolved');
    t.is((await owner.info()).state, 'dormant');
    const emergencyUp = () => uplink.filter((u) => u.kind === 'emergency');
    const end = Date.now() + 15_000;
    while (emergencyUp().length < 3 && Date.now() < end) await sleep(25);
    const ups = emergencyUp();
    t.true(ups.length >= 3, `start, location(s) and the end on the uplink (got ${ups.length})`);
    t.true(ups.every((u) => u.priority === 'emergency'));
    const reader = new EventReader({
      identityPublicKey: sim.firmware(0).secureElement.identityPublicKey,
      contactIndex: 0,
      contactPrivateKey: keys[0]?.privateKey as Uint8Array,
    });
    for (const u of ups) await reader.feed(u.body);
    // Each record fed once, in order, as it arrives (bounded for a loaded machine).
    let fed = ups.length;
    const drained = Date.now() + 15_000;
    while (reader.ended === undefined && Date.now() < drained) {
      const more = emergencyUp().slice(fed);
      fed += more.length;
      for (const u of more) await reader.feed(u.body);
      if (reader.ended === undefined) await sleep(25);
    }
    t.is(reader.ended?.outcome, 'resolved');
    const settle = Date.now() + 15_000;
    while (uplinkBusy(sim.linkStats()[0]?.mqtt) && Date.now() < settle) await sleep(20);
  },
);
