/**
 * The emergency phase table on the running Key (physical model on a fake clock, owner over the
 * wire): the gesture starts an event (triggered), the first fix makes it active and goes out
 * sealed to every contact, the owner cancels (gesture or command) or resolves; invalid transitions
 * are refused with a named error; the event key is gone from storage after the end; the event log
 * is bounded and holds no location; docs/emergency.md carries the table's diagram.
 */
import { readFileSync } from 'node:fs';
import { toHex } from '@enigm/protocols/bytes';
import { EVENT_OUTCOMES } from '@enigm/protocols/emergency';
import test from 'ava';
import {
  EMERGENCY_DOC_PATH,
  EMERGENCY_FIX_INTERVAL_MS,
  EMERGENCY_STATUS_INTERVAL_MS,
  EMERGENCY_TRANSITIONS,
  EMERGENCY_TRIGGER_MS,
  MAX_PAST_EVENTS,
  nextPhase,
  renderEmergencyDiagram,
  renderEmergencyStates,
  TERMINAL_PHASES,
} from '../src/firmware/emergency.ts';
import { RESUMED_NOTE } from '../src/firmware/emergency-engine.ts';
import { loadPersistent } from '../src/firmware/storage.ts';
import { makeTestKey } from '../src/testing.ts';
import { emergencyRig } from './support/emergency-rig.ts';
import { WireHost } from './support/wire-host.ts';

const TRACK = [
  { atMs: 2_000, lat: 48.1374, lon: 11.5755, accuracyM: 8 },
  { atMs: 12_000, lat: 48.138, lon: 11.576, accuracyM: 6 },
  { atMs: 25_000, lat: 48.139, lon: 11.577, accuracyM: 5 },
];

test('gesture → triggered → active at the first fix; each fix is sealed to every contact; status records; cancel by gesture', async (t) => {
  const r = emergencyRig({ contacts: 2 });
  t.deepEqual(r.p.gesture({ kind: 'triple' }), { action: 'emergency-start', done: true });
  t.is(r.fw.state, 'emergency');
  t.is(r.fw.emergency.phase, 'triggered');
  t.is(r.p.state().led, 'off', 'nothing reveals the emergency to a bystander');
  t.like(r.of('output').at(-1), { haptic: 'long' }, 'the wearer feels it');
  t.true(r.p.state().gnss.powered);
  r.p.setTrack(TRACK);
  r.advance(2_000);
  t.is(r.fw.emergency.phase, 'active', 'the first fix makes the event active');
  for (let i = 0; i < 4; i++) r.advance(EMERGENCY_FIX_INTERVAL_MS); // t = 42 s
  t.is(r.p.state().gnss.fixes, 3);
  r.advance(EMERGENCY_STATUS_INTERVAL_MS - 42_000); // t = 60 s: the first status
  t.deepEqual(r.p.gesture({ kind: 'hold', seconds: 10 }), { action: 'emergency-end', done: true });
  t.is(r.fw.state, 'dormant');
  t.is(r.fw.emergency.phase, 'none');
  t.false(r.p.state().gnss.powered);
  await r.fw.emergency.settled();
  t.deepEqual(
    r.changes().map((c) => c.phase),
    ['triggered', 'active', 'cancelled'],
  );
  for (const contact of [0, 1]) {
    const { reader, events } = await r.read(contact);
    t.deepEqual(
      events.map((e) => (e.type === 'start' ? 'start' : e.type === 'record' ? e.body.kind : e.type)),
      ['start', 'location', 'location', 'location', 'status', 'end'],
      `contact ${contact}`,
    );
    const locs = events.flatMap((e) => (e.type === 'record' && e.body.kind === 'location' ? [e.body.location] : []));
    t.deepEqual(
      locs.map((l) => [l.lat, l.lon, l.accuracyM, l.source]),
      TRACK.map((f) => [f.lat, f.lon, f.accuracyM, 'gnss']),
    );
    t.deepEqual(reader.ended, { outcome: 'cancelled' });
    t.deepEqual(reader.missing(), [], 'no gap');
  }
  // The same records went on the link, in the same order.
  t.deepEqual(r.linkRecords().map(toHex), r.uplink.map(toHex));
  t.deepEqual(
    r.fw.emergency.log.map((l) => l.outcome),
    ['cancelled'],
  );
});

test('triggered becomes active after EMERGENCY_TRIGGER_MS without a fix; resolve by the owner over the wire', async (t) => {
  const r = emergencyRig();
  r.p.gesture({ kind: 'hold', seconds: 4 });
  t.like(r.owner.request('emergency.resolve', {}), { ok: false, name: 'INVALID_PHASE' }, 'not while triggered');
  r.advance(EMERGENCY_TRIGGER_MS - 1);
  t.is(r.fw.emergency.phase, 'triggered');
  r.advance(1);
  t.is(r.fw.emergency.phase, 'active');
  const id = r.fw.emergency.eventId;
  t.like(r.owner.request('emergency.resolve', {}), { ok: true, body: { phase: 'resolved', event: id } });
  t.is(r.fw.state, 'dormant');
  const { reader } = await r.read(1);
  t.deepEqual(reader.ended, { outcome: 'resolved' });
  t.like(r.fw.emergency.log.at(-1), { outcome: 'resolved', startedAt: 0, endedAt: EMERGENCY_TRIGGER_MS });
});

test('cancel by the owner command in triggered and in active', (t) => {
  for (const wait of [0, EMERGENCY_TRIGGER_MS]) {
    const r = emergencyRig();
    r.p.gesture({ kind: 'triple' });
    r.advance(wait);
    t.like(r.owner.request('emergency.cancel', {}), { ok: true, body: { phase: 'cancelled' } });
    t.is(r.fw.state, 'dormant');
    t.like(r.of('lifecycle').at(-1), { from: 'emergency', to: 'dormant' });
  }
});

test('invalid transitions are refused with a named error, and change nothing', (t) => {
  const r = emergencyRig();
  r.fw.openPairingWindow(60_000);
  const bench = new WireHost(r.fw, 13).connect().pair('service');
  // No event: the lifecycle table refuses.
  t.like(r.owner.request('emergency.cancel', {}), { ok: false, name: 'INVALID_STATE' });
  t.like(r.owner.request('emergency.resolve', {}), { ok: false, name: 'INVALID_STATE' });
  t.deepEqual(
    r.p.gesture({ kind: 'hold', seconds: 12 }),
    { action: 'pairing-window', done: true },
    'not an end outside emergency',
  );
  r.p.gesture({ kind: 'triple' });
  // The phase table refuses resolve while triggered.
  const before = r.fw.emergency.eventId;
  const res = r.owner.request('emergency.resolve', {});
  t.like(res, { ok: false, name: 'INVALID_PHASE' });
  t.regex(res.ok ? '' : res.reason, /resolve is not allowed in phase triggered/);
  t.is(r.fw.emergency.phase, 'triggered');
  t.deepEqual(r.fw.emergency.eventId, before);
  // A second start gesture does not start another event.
  t.deepEqual(r.p.gesture({ kind: 'triple' }), { action: 'none', done: true });
  // Roles: only the owner ends an event; the service host may not.
  t.like(bench.request('emergency.cancel', {}), { ok: false, name: 'FORBIDDEN' });
  t.like(bench.request('contacts.set', { set: new Uint8Array(64) }), { ok: false, name: 'FORBIDDEN' });
  t.like(bench.plain('emergency.cancel', {}), { ok: false, name: 'SESSION_REQUIRED' });
  t.is(r.fw.state, 'emergency');
  // A suspended Key starts no event.
  r.owner.ok('emergency.cancel', {});
  r.owner.ok('suspend', {});
  t.deepEqual(r.p.gesture({ kind: 'triple' }), { action: 'emergency-start', done: false, refused: 'INVALID_STATE' });
  t.is(r.fw.state, 'suspended');
  // The table itself.
  t.is(nextPhase('triggered', 'resolve'), undefined);
  t.is(nextPhase('none', 'cancel'), undefined);
  t.is(nextPhase('cancelled', 'start'), undefined);
  t.is(nextPhase('active', 'resolve'), 'resolved');
});

test('revoke during an event ends it with an end record of outcome revoked; the Key is revoked', async (t) => {
  const r = emergencyRig();
  r.p.gesture({ kind: 'triple' });
  r.owner.ok('revoke', {});
  t.is(r.fw.state, 'revoked');
  await r.fw.emergency.settled();
  t.deepEqual(r.changes().at(-1)?.phase, 'revoked');
  t.deepEqual(await r.kinds(), ['start', 'end']);
  const { reader, events } = await r.read(0);
  const end = events.find((e) => e.type === 'record' && e.body.kind === 'end');
  t.like(end, { type: 'record', body: { kind: 'end', end: { outcome: 'revoked' } } });
  t.is(reader.ended?.outcome, 'revoked');
  t.like(r.fw.emergency.log.at(-1), { outcome: 'revoked' });
});

test('the end record outcomes are exactly the terminal phases of the phase table', (t) => {
  t.deepEqual(Object.keys(EVENT_OUTCOMES).sort(), [...TERMINAL_PHASES].sort());
  for (const row of EMERGENCY_TRANSITIONS.filter((x) => TERMINAL_PHASES.includes(x.to)))
    t.true(row.to in EVENT_OUTCOMES, `${row.from} --${row.trigger}--> ${row.to} has an end-record outcome`);
});

test('the event key is in storage only while the event runs; the log is bounded and holds no location', (t) => {
  const r = emergencyRig();
  r.p.setTrack(TRACK);
  const seeds: string[] = [];
  for (let i = 0; i < MAX_PAST_EVENTS + 2; i++) {
    r.p.gesture({ kind: 'triple' });
    const stored = loadPersistent(r.storage)?.event;
    t.truthy(stored, 'a running event is stored (it resumes after a restart)');
    seeds.push(toHex(stored?.eventSeed as Uint8Array));
    r.advance(5_000);
    r.owner.ok('emergency.cancel', {});
  }
  const bytes = toHex(r.storage.bytes as Uint8Array);
  for (const s of seeds) t.false(bytes.includes(s), 'no event key left in storage');
  t.is(loadPersistent(r.storage)?.event, undefined);
  const log = r.fw.emergency.log;
  t.is(log.length, MAX_PAST_EVENTS);
  t.deepEqual(Object.keys(log[0] ?? {}).sort(), ['endedAt', 'id', 'outcome', 'startedAt']);
  const lat = Buffer.alloc(8);
  lat.writeDoubleBE(TRACK[0]?.lat as number);
  t.false(bytes.includes(lat.toString('hex')), 'no location in storage');
  t.is(new Set(seeds).size, seeds.length, 'fresh event keys');
});

test('an event survives a reboot (same id, resumes) and ends cleanly after it', (t) => {
  const r = emergencyRig();
  r.p.gesture({ kind: 'triple' });
  const id = r.fw.emergency.eventId;
  r.p.reboot();
  t.is(r.fw.state, 'emergency');
  t.deepEqual(r.fw.emergency.eventId, id);
  t.like(r.owner.connect().request('emergency.cancel', {}), { ok: true, body: { phase: 'cancelled', event: id } });
});

test('a Key restarted from its storage mid-event resumes the same event and says so first (never silently)', async (t) => {
  const r = emergencyRig();
  r.p.gesture({ kind: 'triple' });
  r.advance(EMERGENCY_TRIGGER_MS);
  const id = r.fw.emergency.eventId;
  await r.fw.emergency.settled();
  const before = r.uplink.length;
  const again = makeTestKey({ storage: r.storage, seStorage: r.seStorage, now: r.now });
  again.fw.onEmergencyRecord((b) => r.uplink.push(b));
  t.is(again.fw.state, 'emergency');
  t.deepEqual(again.fw.emergency.eventId, id);
  t.is(again.fw.emergency.phase, 'active');
  t.is(again.fw.emergency.nextDeadline(), r.now.t, 'due at once: the resumed status');
  again.fw.emergency.tick();
  again.fw.emergency.tick(); // once only
  await again.fw.emergency.settled();
  t.is(r.uplink.length, before + 1);
  t.like(again.fw.emergency.end('cancel'), { phase: 'cancelled', event: id });
  await again.fw.emergency.settled();
  const { reader, events } = await r.read(0);
  const statuses = events.filter((e) => e.type === 'record' && e.body.kind === 'status');
  t.like(statuses.at(-1), { type: 'record', body: { status: { note: RESUMED_NOTE, phase: 'active' } }, gaps: [] });
  t.deepEqual(reader.missing(), [], 'the contact sees every seq: no gap across the restart');
  t.is(reader.ended?.outcome, 'cancelled');
  t.is(again.fw.state, 'dormant');
  t.is(loadPersistent(r.storage)?.event, undefined);
});

test('docs/emergency.md holds the States section rendered from the table, with its diagram', (t) => {
  const doc = readFileSync(new URL(`../../${EMERGENCY_DOC_PATH}`, import.meta.url), 'utf8');
  t.true(doc.includes(renderEmergencyStates()), 'run `npm run docs:protocol`');
  const diagram = renderEmergencyDiagram();
  t.true(doc.includes(diagram));
  for (const row of EMERGENCY_TRANSITIONS) t.true(diagram.includes(`  ${row.from} --> ${row.to}: ${row.trigger}\n`));
});

test('emergency.log (owner only): the bounded log over the wire, the running event, no location', (t) => {
  const r = emergencyRig();
  r.p.setTrack(TRACK);
  const empty = r.owner.ok('emergency.log', {});
  t.deepEqual(empty.events, []);
  t.is(empty.running, undefined);
  const ids: string[] = [];
  for (let i = 0; i < MAX_PAST_EVENTS + 1; i++) {
    r.p.gesture({ kind: 'triple' });
    ids.push(toHex(r.fw.emergency.eventId as Uint8Array));
    r.advance(EMERGENCY_TRIGGER_MS + 1_000); // active (a fix, or the timeout)
    if (i === MAX_PAST_EVENTS) break; // the last one keeps running
    r.owner.ok(i % 2 ? 'emergency.resolve' : 'emergency.cancel', {});
  }
  const log = r.owner.ok('emergency.log', {});
  t.is(log.events.length, MAX_PAST_EVENTS, 'bounded');
  t.deepEqual(
    log.events.map((e) => toHex(e.event)),
    ids.slice(0, MAX_PAST_EVENTS),
    'oldest first, the running one apart',
  );
  t.deepEqual(
    log.events.map((e) => e.outcome),
    Array.from({ length: MAX_PAST_EVENTS }, (_, i) => (i % 2 ? 'resolved' : 'cancelled')),
  );
  for (const e of log.events) t.true(e.startedAt < e.endedAt && e.endedAt <= log.now);
  t.like(log.running, { phase: 'active' });
  t.true((log.running?.startedAt as number) >= (log.events.at(-1)?.endedAt as number));
  t.is(toHex(log.running?.event as Uint8Array), ids.at(-1) as string);
  t.deepEqual(Object.keys(log.events[0] ?? {}).sort(), ['endedAt', 'event', 'outcome', 'startedAt'], 'no location field');
  r.owner.ok('emergency.cancel', {});
  const after = r.owner.ok('emergency.log', {});
  t.is(after.running, undefined);
  t.is(toHex(after.events.at(-1)?.event as Uint8Array), ids.at(-1) as string);
  t.is(toHex(after.events[0]?.event as Uint8Array), ids[1] as string, 'the oldest fell out');
  r.fw.openPairingWindow(60_000);
  const service = new WireHost(r.fw, 13).connect().pair('service');
  t.like(service.request('emergency.log', {}), { ok: false, name: 'FORBIDDEN' });
});
