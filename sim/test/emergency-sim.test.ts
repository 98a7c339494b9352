/**
 * Emergencies on the running simulator, on its clock: a dormant Key with a scripted track takes no
 * fix and sends no emergency record over a simulated day; in an emergency the scheduler wakes the
 * Key at each fix interval (records at the documented rate), and the records reach the MQTT
 * uplink at emergency priority, readable by a contact and by nobody else; without radio they reach
 * a host on a TCP link as link events.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttLink } from '@enigm/mqtt';
import { startEmbeddedBroker } from '@enigm/mqtt/broker';
import { EventReader } from '@enigm/protocols/emergency';
import { fleetFilter, openUplink, parseKeyTopic, type Uplink } from '@enigm/protocols/mqtt';
import test from 'ava';
import { EMERGENCY_FIX_INTERVAL_MS } from '../src/firmware/emergency.ts';
import { Simulator } from '../src/index.ts';
import { SimulatorClock } from '../src/runtime/sim-clock.ts';
import { uplinkBusy } from '../src/testing.ts';
import { contactSet, contacts } from './support/emergency-rig.ts';

const HOUR = 3_600_000;
const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function track(n: number, everyMs: number) {
  return Array.from({ length: n }, (_, i) => ({ atMs: i * everyMs, lat: 52.52 + i / 1e5, lon: 13.405, accuracyM: 7 }));
}

test('dormant for a simulated day: no fix, no emergency record; an emergency then samples at the fix interval', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-emergency-sim-'));
  dirs.push(dir);
  const sim = await Simulator.start({
    keys: 1,
    serial: false,
    tcp: false,
    stateDir: dir,
    clock: new SimulatorClock({ realTimers: false, realNow: () => 0 }),
  });
  t.teardown(() => sim.stop());
  const fw = sim.firmware(0);
  const c = sim.controls(0);
  const records: Uint8Array[] = [];
  fw.onEmergencyRecord((b) => records.push(b));
  fw.transition('activate');
  const keys = contacts(1);
  t.like(fw.emergency.setContacts(contactSet(1, keys)), { version: 1, count: 1 });
  c.setTrack(track(24 * 60, 60_000)); // a fix a minute for a day
  sim.clock.advance(24 * HOUR);
  t.like(c.state().gnss, { powered: false, fixes: 0, refused: 24 * 60 });
  t.is(records.length, 0);
  t.is(fw.emergency.nextDeadline(), undefined, 'a dormant Key has nothing to wake for');

  c.setTrack(track(200, 1_000));
  t.like(c.gesture({ kind: 'triple' }), { done: true });
  sim.clock.advance(10 * EMERGENCY_FIX_INTERVAL_MS);
  await fw.emergency.settled();
  const reader = new EventReader({
    identityPublicKey: fw.secureElement.identityPublicKey,
    contactIndex: 0,
    contactPrivateKey: keys[0]?.privateKey as Uint8Array,
  });
  const kinds: string[] = [];
  for (const b of records) for (const e of await reader.feed(b)) kinds.push(e.type === 'record' ? e.body.kind : e.type);
  t.is(kinds[0], 'start');
  // The fix due at the gesture's instant fell due while dormant (refused); the first is at 1 s.
  t.is(kinds.filter((k) => k === 'location').length, 10, 'one at the first fix (1 s), then one per interval (11 … 91 s)');
  t.deepEqual(reader.missing(), []);
});

test('emergency records reach the MQTT uplink at emergency priority; the broker sees no location', async (t) => {
  const broker = await startEmbeddedBroker();
  const dir = mkdtempSync(join(tmpdir(), 'enigm-emergency-mqtt-'));
  dirs.push(dir);
  const sim = await Simulator.start({
    keys: 1,
    serial: false,
    tcp: false,
    stateDir: dir,
    mqtt: { broker: broker.url, backoff: { baseMs: 50, capMs: 300 } },
  });
  const consumer = await MqttLink.connect({ url: broker.url, username: 'backend-1', backoff: { baseMs: 50, capMs: 300 } });
  t.teardown(async () => {
    await consumer.close();
    await sim.stop();
    await broker.close();
  });
  const fw = sim.firmware(0);
  const handle = (sim.keys()[0]?.mqtt ?? '').split('/').pop() as string;
  const raw: Uint8Array[] = [];
  const up: Uplink[] = [];
  consumer.onMessage((topic, payload) => {
    if (parseKeyTopic(topic)?.channel !== 'up') return;
    raw.push(payload);
    up.push(openUplink(payload, handle, 'up', fw.secureElement.identityPublicKey));
  });
  await consumer.subscribe(fleetFilter('up'));
  fw.transition('activate');
  const keys = contacts(2);
  fw.emergency.setContacts(contactSet(1, keys));
  sim.controls(0).gesture({ kind: 'triple' });
  sim.controls(0).setTrack([{ atMs: 0, lat: 37.774929, lon: -122.419418, accuracyM: 4 }]);
  await fw.emergency.settled();
  const emergency = () => up.filter((r) => r.kind === 'emergency');
  const end = Date.now() + 30_000; // generous for a loaded machine: the first fix is due 1 s after the start
  while (emergency().length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  const recs = emergency();
  t.true(recs.length >= 2, `start and the first location (got ${recs.length})`);
  t.true(recs.every((r) => r.priority === 'emergency'));
  const reader = new EventReader({
    identityPublicKey: fw.secureElement.identityPublicKey,
    contactIndex: 1,
    contactPrivateKey: keys[1]?.privateKey as Uint8Array,
  });
  const got = [];
  for (const r of recs) got.push(...(await reader.feed(r.body)));
  const loc = got.find((e) => e.type === 'record' && e.body.kind === 'location');
  t.true(loc?.type === 'record' && loc.body.kind === 'location' && loc.body.location.lat === 37.774929);
  // What the broker carried: no coordinate in any byte.
  const lat = Buffer.alloc(8);
  lat.writeDoubleBE(37.774929);
  for (const p of raw) t.false(Buffer.from(p).includes(lat), 'no latitude in clear');
  // Let the outbox drain before the teardown stops the simulator.
  const drained = Date.now() + 20_000;
  while (uplinkBusy(sim.linkStats()[0]?.mqtt) && Date.now() < drained) await new Promise((r) => setTimeout(r, 20));
});

test('without radio, a host on a TCP link gets the emergency as link events (emergency.changed, emergency.record)', async (t) => {
  const { connect } = await import('node:net');
  const { FrameDecoder, encodeFrame } = await import('@enigm/protocols/framing');
  const { decodeMessage, encodeMessage } = await import('@enigm/protocols/messages');
  const dir = mkdtempSync(join(tmpdir(), 'enigm-emergency-tcp-'));
  dirs.push(dir);
  const sim = await Simulator.start({ keys: 1, serial: false, stateDir: dir });
  t.teardown(() => sim.stop());
  const fw = sim.firmware(0);
  fw.transition('activate');
  const keys = contacts(1);
  fw.emergency.setContacts(contactSet(1, keys));
  t.is(sim.controls(0).state().radio.state, 'detached', 'no uplink: the radio is off');
  const url = new URL(sim.keys()[0]?.tcp as string);
  const socket = connect(Number(url.port), url.hostname);
  t.teardown(() => socket.destroy());
  const decoder = new FrameDecoder({ maxPayload: 65536 });
  const seen: { name: string; body: Record<string, unknown> }[] = [];
  socket.on('data', (chunk: Buffer) => {
    for (const e of decoder.push(new Uint8Array(chunk)))
      if (e.kind === 'frame') {
        const m = decodeMessage(e.payload);
        seen.push({ name: m.name, body: m.body as Record<string, unknown> });
      }
  });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write(encodeFrame(encodeMessage({ version: 1, name: 'ping', id: 1, body: {} })));
  const wait = async (cond: () => boolean, what: string) => {
    const end = Date.now() + 20_000; // generous for a loaded machine; fast when it holds
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await wait(() => seen.some((m) => m.name === 'ping.response'), 'the link to be up');
  sim.controls(0).gesture({ kind: 'triple' });
  sim.controls(0).setTrack([{ atMs: 0, lat: 1.5, lon: 2.5, accuracyM: 9 }]);
  await fw.emergency.settled();
  await wait(() => seen.filter((m) => m.name === 'emergency.record').length >= 2, 'start and location on the link');
  t.deepEqual(
    seen.filter((m) => m.name === 'emergency.changed').map((m) => m.body.phase),
    ['triggered', 'active'],
  );
  const reader = new EventReader({
    identityPublicKey: fw.secureElement.identityPublicKey,
    contactIndex: 0,
    contactPrivateKey: keys[0]?.privateKey as Uint8Array,
  });
  const kinds: string[] = [];
  // The first two records: the next location is due 10 s (real time) later, and a machine slow
  // enough to reach this line after it must not turn the list into three.
  for (const m of seen.filter((x) => x.name === 'emergency.record').slice(0, 2))
    for (const e of await reader.feed(m.body.record as Uint8Array)) kinds.push(e.type === 'record' ? e.body.kind : e.type);
  t.deepEqual(kinds, ['start', 'location']);
});
