/**
 * The outbox bounds through a simulated Key's uplink (docs/mqtt-outbox.md "Drop policy", issue
 * "the Key ↔ backend link over MQTT": "broker down for minutes: the outbox grows within bounds and
 * drains in order"): a Key whose uplink outbox holds at most a few records (`mqtt.outbox` of
 * `Simulator.start`) loses its broker for almost three hours of simulated time, during which it sends far
 * more check-ins than the bound and an emergency (start, locations, end) in the middle of them.
 * Once the broker is back the records arrive in seq order; every emergency record is there, byte
 * for byte; the records missing are exactly as many as the uplink counted dropped, all normal and
 * all older than every normal record kept; the drop is logged; the queue never held more than the
 * bound plus the emergency records, and the outbox file stayed smaller than the records written to
 * it (compacted, not growing with the outage). With an age bound instead (`maxAgeMs`, on the
 * simulation's clock) and eight simulated days without a broker, the normal records older than the
 * bound are dropped and counted, the older emergency ones are kept, the rest arrive in order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fleetFilter, openUplink, parseKeyTopic, type Uplink } from '@enigm/protocols/mqtt';
import test from 'ava';
import { Simulator } from '../src/index.ts';
import { createLogger } from '../src/runtime/log.ts';
import { SimulatorClock } from '../src/runtime/sim-clock.ts';
import { uplinkBusy } from '../src/testing.ts';
import { contactSet, contacts } from './support/emergency-rig.ts';
import { useUplinkBrokers } from './support/uplink-broker.ts';
import { until } from './support/wait.ts';

/** The embedded broker behind gates (support/uplink-broker.ts): its addresses stay the Keys' and the consumer's across the outage. */
const brokers = useUplinkBrokers(test);

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** How long a wait for the broker, the uplink or the outbox may take on a loaded machine before the test fails. */
const WAIT_MS = 20_000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** The outbox bound under test: far below what the outage produces. */
const MAX_RECORDS = 12;
/** Compaction as soon as 4 KiB are dead (default 1 MiB), so the file bound shows in a short test. */
const COMPACT_MIN_BYTES = 4096;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test.serial(
  'broker down with the outbox bound exceeded: records arrive in order, every emergency record kept, the oldest normal ones dropped and counted, the file bounded',
  async (t) => {
    const broker = await brokers.make('embedded');
    t.teardown(() => broker.close());
    await broker.start();
    const dir = mkdtempSync(join(tmpdir(), 'enigm-uplink-bounds-'));
    dirs.push(dir);
    const logLines: string[] = [];
    const sim = await Simulator.start({
      keys: 1,
      serial: false,
      tcp: false,
      stateDir: dir,
      clock: new SimulatorClock({ realTimers: false, realNow: () => 0 }),
      checkInMs: MINUTE,
      log: createLogger('warn', (line) => logLines.push(line)),
      mqtt: {
        ...broker.simMqtt({ baseMs: 50, capMs: 300 }),
        outbox: { maxRecords: MAX_RECORDS, compactMinBytes: COMPACT_MIN_BYTES },
      },
    });
    const consumer = await broker.consumer('backend-1');
    t.teardown(async () => {
      await consumer.close();
      await sim.stop();
    });
    const fw = sim.firmware(0);
    const handle = (sim.keys()[0]?.mqtt ?? '').split('/').pop() as string;
    const received: Uplink[] = [];
    const sizes: number[] = [];
    consumer.onMessage((topic, payload) => {
      if (parseKeyTopic(topic)?.channel !== 'up') return;
      received.push(openUplink(payload, handle, 'up', fw.secureElement.identityPublicKey));
      sizes.push(Buffer.byteLength(topic) + payload.length);
    });
    await consumer.subscribe(fleetFilter('up'));
    const stats = () => sim.linkStats()[0]?.mqtt ?? { connected: false, queued: 0, pending: 0, dropped: 0, outboxBytes: 0 };
    await until(() => stats().connected, WAIT_MS, 'the uplink');
    fw.transition('activate');
    await until(() => received.length === 1, WAIT_MS, 'the activation record');
    // Acknowledged to the Key too: else it stays in the outbox through the outage and comes again.
    await until(() => !uplinkBusy(stats()), WAIT_MS, 'the activation record acknowledged');
    const beforeOutage = received.length;
    const lastSeqBefore = received[0]?.seq ?? 0;

    await broker.stop();
    await until(() => !stats().connected, WAIT_MS, 'the uplink to notice the outage');

    const emergencyBodies: string[] = [];
    const offRecord = fw.onEmergencyRecord((r) => emergencyBodies.push(hex(r)));
    t.teardown(offRecord);
    let maxQueued = 0;
    let maxFileBytes = 0;
    /** Advances simulated time in steps, letting every record reach the outbox, sampling its size. */
    const advance = async (totalMs: number, stepMs: number) => {
      for (let done = 0; done < totalMs; done += stepMs) {
        sim.clock.advance(stepMs);
        await until(() => stats().pending === 0, WAIT_MS, 'the records to reach the outbox');
        maxQueued = Math.max(maxQueued, stats().queued);
        maxFileBytes = Math.max(maxFileBytes, stats().outboxBytes);
      }
    };
    await advance(20 * MINUTE, 5 * MINUTE); // check-ins, already past the bound
    // An emergency in the middle of the outage: start, locations every 10 s, then ended by the button.
    fw.emergency.setContacts(contactSet(1, contacts(2)));
    const c = sim.controls(0);
    c.gesture({ kind: 'triple' });
    c.setTrack(Array.from({ length: 6 }, (_, i) => ({ atMs: i * 10_000, lat: 48.85 + i / 1000, lon: 2.35, accuracyM: 5 })));
    await fw.emergency.settled();
    await advance(60_000, 10_000);
    c.gesture({ kind: 'hold', seconds: 10 });
    await fw.emergency.settled();
    await advance(120 * MINUTE, 5 * MINUTE); // back to dormant: more check-ins push the older ones out
    offRecord();
    const dropped = stats().dropped;
    t.true(emergencyBodies.length >= 3, `an emergency start, locations and end were emitted (${emergencyBodies.length})`);
    t.true(dropped > 0, 'the outage produced more than the bound');
    t.true(maxQueued <= MAX_RECORDS + emergencyBodies.length, `the queue stayed bounded (at most ${maxQueued})`);
    t.is(received.length, beforeOutage, 'nothing arrives while the broker is down');
    const waiting = stats().queued; // simulated time stands still from here: nothing more is queued

    // The broker is back. The consumer subscribes again before the Key may drain (records
    // published to nobody are gone on any broker): the Key is held out until then.
    broker.holdKeys(true);
    await broker.start();
    await until(() => consumer.connected, WAIT_MS, 'the consumer to reconnect and resubscribe');
    broker.holdKeys(false);
    await until(() => stats().queued === 0 && stats().pending === 0, WAIT_MS, 'the outbox to drain');
    await until(() => received.length - beforeOutage >= waiting, WAIT_MS, `the ${waiting} records that waited`);
    const after = received.slice(beforeOutage);
    t.is(after.length, waiting, 'what waited in the outbox, no more');
    const lastSeq = after.at(-1)?.seq ?? 0;

    const seqs = after.map((r) => r.seq);
    t.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
      'in seq order',
    );
    t.is(new Set(seqs).size, seqs.length, 'none twice');
    const emergency = after.filter((r) => r.priority === 'emergency');
    t.deepEqual(
      emergency.map((r) => hex(r.body)),
      emergencyBodies,
      'every emergency record, in order, byte for byte',
    );
    const got = new Set(seqs);
    const missing: number[] = [];
    for (let s = lastSeqBefore + 1; s <= lastSeq; s++) if (!got.has(s)) missing.push(s);
    t.is(missing.length, dropped, 'the records missing are those the uplink counted dropped');
    const keptNormal = after.filter((r) => r.priority === 'normal').map((r) => r.seq);
    t.true(keptNormal.length > 0);
    t.true(
      missing.every((m) => keptNormal.every((k) => m < k)),
      `the dropped ones are the oldest normal records (dropped ${missing[0]}…${missing.at(-1)}, kept normal ${keptNormal[0]}…)`,
    );
    t.true(
      logLines.some((l) => /outbox bound reached: oldest normal records dropped: \d+ \(count\)/.test(l)),
      logLines.join(''),
    );
    // Bounded on disk: the file never held more than a fraction of what was written to it (the
    // dropped records counted at the size of the smallest delivered one).
    const written = after.length + missing.length;
    const delivered = sizes.slice(beforeOutage);
    const writtenBytes = delivered.reduce((a, b) => a + b, 0) + missing.length * Math.min(...delivered);
    t.true(
      maxFileBytes < writtenBytes / 2,
      `outbox file at most ${maxFileBytes} B for ${written} records, ${writtenBytes} B, written (bound ${MAX_RECORDS} records)`,
    );
    t.log(
      `${written} records (${writtenBytes} B) during the outage: ${after.length} delivered (${emergency.length} emergency), ${dropped} dropped; queue ≤ ${maxQueued}; file ≤ ${maxFileBytes} B`,
    );
  },
);

test.serial(
  'broker down for eight simulated days: normal records older than maxAgeMs (simulated time) are dropped as too old, the emergency ones kept, the rest delivered in order',
  async (t) => {
    const broker = await brokers.make('embedded');
    t.teardown(() => broker.close());
    await broker.start();
    const dir = mkdtempSync(join(tmpdir(), 'enigm-uplink-age-'));
    dirs.push(dir);
    const sim = await Simulator.start({
      keys: 1,
      serial: false,
      tcp: false,
      stateDir: dir,
      clock: new SimulatorClock({ realTimers: false, realNow: () => 0 }),
      checkInMs: DAY,
      mqtt: { ...broker.simMqtt({ baseMs: 50, capMs: 300 }), outbox: { maxAgeMs: 3 * DAY } },
    });
    const consumer = await broker.consumer('backend-1');
    t.teardown(async () => {
      await consumer.close();
      await sim.stop();
    });
    const fw = sim.firmware(0);
    const handle = (sim.keys()[0]?.mqtt ?? '').split('/').pop() as string;
    const received: Uplink[] = [];
    consumer.onMessage((topic, payload) => {
      if (parseKeyTopic(topic)?.channel === 'up')
        received.push(openUplink(payload, handle, 'up', fw.secureElement.identityPublicKey));
    });
    await consumer.subscribe(fleetFilter('up'));
    const stats = () => sim.linkStats()[0]?.mqtt ?? { connected: false, queued: 0, pending: 0, dropped: 0, outboxBytes: 0 };
    await until(() => stats().connected, WAIT_MS, 'the uplink');
    fw.transition('activate');
    await until(() => received.length === 1, WAIT_MS, 'the activation record');
    // Acknowledged to the Key too: else it stays in the outbox through the outage and comes again.
    await until(() => !uplinkBusy(stats()), WAIT_MS, 'the activation record acknowledged');
    await broker.stop();
    await until(() => !stats().connected, WAIT_MS, 'the uplink to notice the outage');

    const emergencyBodies: string[] = [];
    const offRecord = fw.onEmergencyRecord((r) => emergencyBodies.push(hex(r)));
    t.teardown(offRecord);
    // An emergency first (it will be the oldest thing waiting), then eight days of daily check-ins.
    fw.emergency.setContacts(contactSet(1, contacts(2)));
    const c = sim.controls(0);
    c.gesture({ kind: 'triple' });
    c.setTrack([{ atMs: 1, lat: 48.85, lon: 2.35, accuracyM: 5 }]);
    await fw.emergency.settled();
    sim.clock.advance(10_000);
    c.gesture({ kind: 'hold', seconds: 10 });
    await fw.emergency.settled();
    // In hourly steps: a record reaches the outbox at the end of the step it was made in, so its
    // outbox time is at most an hour after the time it carries.
    for (let hour = 0; hour < 8 * 24; hour++) {
      sim.clock.advance(HOUR);
      await until(() => stats().pending === 0, WAIT_MS, 'the records to reach the outbox');
    }
    offRecord();
    const queued = stats().queued;
    const dropped = stats().dropped;
    t.true(dropped > 0, 'check-ins older than three simulated days were dropped');

    broker.holdKeys(true); // as above: the consumer first
    await broker.start();
    await until(() => consumer.connected, WAIT_MS, 'the consumer to reconnect and resubscribe');
    broker.holdKeys(false);
    await until(() => stats().queued === 0 && stats().pending === 0, WAIT_MS, 'the outbox to drain');
    // Records keep ageing while they wait: the drain's own expiry may drop some more.
    const expected = () => queued - (stats().dropped - dropped);
    await until(() => received.length - 1 >= expected(), WAIT_MS, 'the records that waited');
    const after = received.slice(1);
    const seqs = after.map((r) => r.seq);
    t.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
      'in seq order',
    );
    t.deepEqual(
      after.filter((r) => r.priority === 'emergency').map((r) => hex(r.body)),
      emergencyBodies,
      'every emergency record, though older than the bound',
    );
    const normal = after.filter((r) => r.priority === 'normal');
    const newest = Math.max(...after.map((r) => r.time));
    t.true(normal.length > 0);
    t.true(
      normal.every((r) => newest - r.time <= 3 * DAY + HOUR),
      'no normal record older than maxAgeMs (simulated) was delivered',
    );
    const lastSeq = seqs.at(-1) ?? 0;
    const firstSeq = received[0]?.seq ?? 0;
    t.is(after.length, expected(), 'what waited in the outbox and did not expire, no more');
    t.is(lastSeq - firstSeq - after.length, stats().dropped, 'the missing ones are those counted dropped');
  },
);
