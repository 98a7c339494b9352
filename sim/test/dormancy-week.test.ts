/**
 * Provable dormancy (docs/emergency.md "Dormancy"): over a simulated week on the MQTT uplink
 * (embedded broker), a dormant Key takes no fix and sends nothing but signed check-ins without
 * location, within the jittered count and the stated byte bound; the broker and the frame log carry
 * no byte of the track's coordinates; an emergency during the week still starts at once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttLink } from '@enigm/mqtt';
import { fleetFilter, openUplink, parseKeyTopic, type Uplink } from '@enigm/protocols/mqtt';
import test from 'ava';
import {
  CHECK_IN_JITTER,
  CHECK_IN_KIND,
  CheckInTimer,
  DEFAULT_CHECK_IN_MS,
  decodeCheckIn,
  encodeCheckIn,
  jitteredInterval,
} from '../src/firmware/dormancy.ts';
import { seededUnit } from '../src/firmware/flash/flash.ts';
import type { DeviceEvent } from '../src/firmware/physical/types.ts';
import { Simulator } from '../src/index.ts';
import { SimulatorClock } from '../src/runtime/sim-clock.ts';
import { uplinkBusy } from '../src/testing.ts';

const HOUR = 3_600_000;
const WEEK = 7 * 24 * HOUR;
/** Check-ins in a week: every interval within ±10 % of 6 h. */
const MIN_CHECK_INS = Math.floor(WEEK / (DEFAULT_CHECK_IN_MS * (1 + CHECK_IN_JITTER)));
const MAX_CHECK_INS = Math.floor(WEEK / (DEFAULT_CHECK_IN_MS * (1 - CHECK_IN_JITTER)));
/** The stated bound (docs/emergency.md): a check-in is at most 300 bytes on the wire (topic + signed record). */
const CHECK_IN_BOUND = 300;
/** Status records (online/offline) at most, per connection, 200 bytes each. */
const STATUS_BOUND = 200;
const LAT = 48.858_437;
const LON = 2.294_481;

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('check-in body: state, battery band, firmware, boots — nothing else; intervals within ±10 %', (t) => {
  const body = encodeCheckIn({ state: 'dormant', battery: 'ok', firmware: '1.0.0', boots: 3 });
  t.true(body.length < 40, `${body.length} bytes`);
  t.deepEqual(decodeCheckIn(body), { state: 'dormant', battery: 'ok', firmware: '1.0.0', boots: 3 });
  t.is(jitteredInterval(DEFAULT_CHECK_IN_MS, 0), DEFAULT_CHECK_IN_MS * 0.9);
  t.is(jitteredInterval(DEFAULT_CHECK_IN_MS, 0.5), DEFAULT_CHECK_IN_MS);
  const timer = new CheckInTimer(DEFAULT_CHECK_IN_MS, seededUnit(7));
  t.false(timer.poll(0, true), 'arming is not a check-in');
  const due: number[] = [];
  for (let now = 0; now <= WEEK; now += 60_000) if (timer.poll(now, true)) due.push(now);
  for (let i = 1; i < due.length; i++) {
    const gap = (due[i] as number) - (due[i - 1] as number);
    t.true(gap >= DEFAULT_CHECK_IN_MS * 0.9 && gap <= DEFAULT_CHECK_IN_MS * 1.1 + 60_000, `${gap}`);
  }
  t.false(timer.poll(WEEK, false));
  t.is(timer.next, undefined, 'disarmed outside dormant');
  t.throws(() => new CheckInTimer(1000), { instanceOf: RangeError });
});

test('a simulated week dormant on MQTT: zero fixes, only signed check-ins, uplink within the bound, no coordinate anywhere', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-dormancy-week-'));
  dirs.push(dir);
  const sim = await Simulator.start({
    keys: 1,
    serial: false,
    tcp: false,
    stateDir: dir,
    mqtt: { backoff: { baseMs: 50, capMs: 300 } },
    clock: new SimulatorClock({ realTimers: false, realNow: () => 0 }),
  });
  const url = sim.broker?.url as string;
  const backend = await MqttLink.connect({ url, username: 'backend-1', backoff: { baseMs: 50, capMs: 300 } });
  t.teardown(async () => {
    await backend.close();
    await sim.stop();
  });
  const fw = sim.firmware(0);
  const c = sim.controls(0);
  const handle = (sim.keys()[0]?.mqtt ?? '').split('/').pop() as string;
  const raw: Uint8Array[] = [];
  const up: Uplink[] = [];
  backend.onMessage((topic, payload) => {
    raw.push(payload, new TextEncoder().encode(topic));
    if (parseKeyTopic(topic)?.channel === 'up') up.push(openUplink(payload, handle, 'up', fw.secureElement.identityPublicKey));
  });
  for (const ch of ['up', 'status', 'risk'] as const) await backend.subscribe(fleetFilter(ch));
  const events: DeviceEvent[] = [];
  const off = sim.onEvent((e) => events.push(e));
  t.teardown(off);
  const until = async (cond: () => boolean, what: string) => {
    const end = Date.now() + 15_000;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await until(() => sim.linkStats()[0]?.mqtt?.connected === true, 'the uplink');
  fw.transition('activate');
  // A fix scripted every hour of the week at the same place: all must be refused.
  c.setTrack(Array.from({ length: 7 * 24 }, (_, i) => ({ atMs: (i + 1) * HOUR - 1, lat: LAT, lon: LON, accuracyM: 5 })));
  await until(() => up.some((r) => r.kind === 'lifecycle.changed'), 'the activation record');
  await until(() => sim.counters(0).dormant.uplinkMessages >= 1, 'the activation record counted');
  const before = structuredClone(sim.counters(0).dormant);

  sim.clock.advance(WEEK);
  const checkIns = () => up.filter((r) => r.kind === CHECK_IN_KIND);
  const sent = sim.controls(0).state().counters?.dormant.checkIns ?? 0;
  await until(
    () =>
      checkIns().length >= sent &&
      !uplinkBusy(sim.linkStats()[0]?.mqtt) &&
      sim.counters(0).dormant.uplinkMessages - before.uplinkMessages >= sent,
    'the check-ins',
  );

  const after = sim.counters(0).dormant;
  const n = checkIns().length;
  t.log(
    `week: ${n} check-ins, dormant uplink ${after.uplinkBytes} bytes in ${after.uplinkMessages} messages ` +
      `(${after.uplinkBytes - before.uplinkBytes} during the week), radio on ${after.radioOnMs / HOUR} h, fixes ${after.fixes}`,
  );
  t.is(after.fixes, 0, 'zero fixes');
  t.is(c.state().gnss.fixes, 0);
  t.is(c.state().gnss.refused, 7 * 24, 'every scripted fix refused');
  t.true(n >= MIN_CHECK_INS && n <= MAX_CHECK_INS, `${n} check-ins in ${MIN_CHECK_INS}..${MAX_CHECK_INS}`);
  t.is(after.checkIns, n);
  t.deepEqual([...new Set(up.map((r) => r.kind))].sort(), [CHECK_IN_KIND, 'lifecycle.changed']);
  t.is(up.filter((r) => r.kind === 'lifecycle.changed').length, 1, 'only the activation besides check-ins');
  // Signed and verifiable (openUplink verified each), in order, without location.
  const seqs = checkIns().map((r) => r.seq);
  t.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
  );
  t.is(new Set(seqs).size, n, 'distinct seqs');
  t.log(`the last check-in: topic ${`enigm/v1/key/${handle}/up`.length} B + signed record ${raw.at(-2)?.length} B`);
  for (const r of checkIns()) {
    t.is(r.priority, 'normal');
    t.like(decodeCheckIn(r.body), { state: 'dormant', battery: 'ok', firmware: fw.firmwareVersion, boots: fw.bootCount });
  }
  // The stated bound: per check-in ≤ 300 bytes (topic + record), plus the connection's status records.
  const weekBytes = after.uplinkBytes - before.uplinkBytes;
  t.is(after.uplinkMessages - before.uplinkMessages, n);
  t.true(weekBytes <= n * CHECK_IN_BOUND, `${weekBytes} bytes ≤ ${n} × ${CHECK_IN_BOUND}`);
  t.true(after.uplinkBytes <= MAX_CHECK_INS * CHECK_IN_BOUND + 2 * CHECK_IN_BOUND + 2 * STATUS_BOUND);
  t.is(after.radioOnMs, WEEK + (before.radioOnMs ?? 0), 'the radio stays attached (documented cost)');
  // No byte of the coordinates in anything the broker carried, nor in any event (frames are metadata).
  const needles: Buffer[] = [];
  for (const v of [LAT, LON]) {
    const d = Buffer.alloc(8);
    d.writeDoubleBE(v);
    const f = Buffer.alloc(4);
    f.writeFloatBE(v);
    needles.push(d, f, Buffer.from(String(v)), Buffer.from(v.toFixed(4)));
  }
  for (const p of raw) for (const x of needles) t.false(Buffer.from(p).includes(x), 'no coordinate on the broker');
  const log = JSON.stringify(events);
  for (const v of [LAT, LON]) t.false(log.includes(v.toFixed(4)), 'no coordinate in the event log');
  t.true(events.filter((e) => e.type === 'gnss').every((e) => e.type === 'gnss' && e.refused === true && e.fix === undefined));

  // An emergency during the week starts at once; the check-ins stop.
  c.setTrack([{ atMs: 1000, lat: LAT, lon: LON, accuracyM: 5 }]);
  t.like(c.gesture({ kind: 'triple' }), { done: true });
  t.is(c.state().lifecycle, 'emergency');
  t.true(c.state().gnss.powered);
  sim.clock.advance(12 * HOUR);
  await fw.emergency.settled();
  const counters = sim.counters(0);
  t.is(counters.emergency.fixes, 1);
  t.is(counters.dormant.fixes, 0);
  t.is(counters.dormant.checkIns, n, 'no check-in in emergency');
  t.is(counters.emergency.checkIns, 0);
});
