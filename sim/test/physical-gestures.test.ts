/**
 * The gesture table, row by row, on the pure physical model with a fake clock and a real
 * in-memory Key; the table in HARDWARE.md is the code's.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import {
  classifyGesture,
  GESTURE_TABLE,
  PAIRING_WINDOW_MS,
  RESET_CONFIRM_MS,
  renderGestureTable,
  spliceGestureTable,
} from '../src/firmware/physical/gestures.ts';
import type { Gesture } from '../src/firmware/physical/types.ts';
import { SimulatorError } from '../src/runtime/errors.ts';
import { physicalRig } from './support/physical-rig.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('press: the LED shows the status colour (white in factory, green in dormant, amber low, red critical)', (t) => {
  const r = physicalRig();
  t.deepEqual(r.p.gesture({ kind: 'press' }), { action: 'show-status', done: true });
  t.deepEqual(r.of('output').at(-1), { key: 0, at: 0, type: 'output', led: 'status-white' });
  r.fw.transition('activate');
  r.p.gesture({ kind: 'press' });
  t.like(r.of('output').at(-1), { led: 'status-green' });
  r.p.setBattery({ level: 12 });
  r.p.gesture({ kind: 'press' });
  t.like(r.of('output').at(-1), { led: 'status-amber' });
  r.p.setBattery({ level: 4 });
  r.p.gesture({ kind: 'press' });
  t.like(r.of('output').at(-1), { led: 'status-red' });
  t.like(r.of('gesture').at(-1), { type: 'gesture', gesture: { kind: 'press' }, outcome: { action: 'show-status', done: true } });
});

test('double press and a short hold do nothing', (t) => {
  const r = physicalRig();
  const before = r.p.state();
  t.deepEqual(r.p.gesture({ kind: 'double' }), { action: 'none', done: true });
  t.deepEqual(r.p.gesture({ kind: 'hold', seconds: 2.9 }), { action: 'none', done: true });
  t.deepEqual(r.p.state(), before);
  t.is(r.events.filter((e) => e.type !== 'gesture').length, 0);
});

test('triple press and hold 3–8 s: emergency start in dormant (cancelled by hold ≥ 10 s); refused INVALID_STATE elsewhere', (t) => {
  const r = physicalRig();
  t.deepEqual(r.p.gesture({ kind: 'triple' }), { action: 'emergency-start', done: false, refused: 'INVALID_STATE' });
  t.is(r.fw.state, 'factory');
  r.fw.transition('activate');
  for (const g of [{ kind: 'triple' }, { kind: 'hold', seconds: 3 }, { kind: 'hold', seconds: 7.9 }] as const) {
    t.deepEqual(r.p.gesture(g), { action: 'emergency-start', done: true });
    t.is(r.fw.state, 'emergency');
    t.deepEqual(r.p.gesture({ kind: 'hold', seconds: 10 }), { action: 'emergency-end', done: true });
    t.is(r.fw.state, 'dormant');
  }
  t.is(r.p.state().haptics, 7, 'a refusal, each start and each end buzz');
});

test('hold ≥ 8 s: the pairing window opens for 60 s (LED blue pulse), then closes on the clock', (t) => {
  const r = physicalRig();
  r.fw.transition('activate');
  r.now.t = 5_000;
  t.deepEqual(r.p.gesture({ kind: 'hold', seconds: 8 }), { action: 'pairing-window', done: true });
  t.is(r.fw.pairingWindowUntil, 5_000 + PAIRING_WINDOW_MS);
  t.is(r.p.state().pairingWindowUntil, 5_000 + PAIRING_WINDOW_MS);
  t.is(r.p.state().led, 'blue-pulse');
  t.deepEqual(r.of('pairing-window'), [{ key: 0, at: 5_000, type: 'pairing-window', until: 65_000 }]);
  t.is(r.p.nextDeadline(), 65_001);
  r.advance(PAIRING_WINDOW_MS);
  t.is(r.p.state().led, 'blue-pulse', 'open up to and including its last millisecond');
  r.advance(1);
  t.is(r.p.state().pairingWindowUntil, undefined);
  t.is(r.p.state().led, 'off');
  t.like(r.of('output').at(-1), { led: 'off', at: 65_001 });
});

test('hold ≥ 8 s in a state that refuses pair: PAIRING_NOT_ALLOWED', (t) => {
  const r = physicalRig();
  r.fw.transition('activate');
  r.fw.transition('revoke');
  t.deepEqual(r.p.gesture({ kind: 'hold', seconds: 9 }), {
    action: 'pairing-window',
    done: false,
    refused: 'PAIRING_NOT_ALLOWED',
  });
  t.is(r.fw.pairingWindowUntil, undefined);
});

test('in emergency: other gestures do nothing, press shows status, hold ≥ 10 s is emergency end', (t) => {
  const r = physicalRig();
  r.fw.transition('activate');
  r.fw.transition('emergency.start');
  t.deepEqual(r.p.gesture({ kind: 'hold', seconds: 8 }), { action: 'none', done: true }, 'no pairing window in emergency');
  t.deepEqual(r.p.gesture({ kind: 'triple' }), { action: 'none', done: true });
  t.deepEqual(r.p.gesture({ kind: 'press' }), { action: 'show-status', done: true });
  t.like(r.of('output').at(-1), { led: 'status-amber' });
  t.is(r.fw.state, 'emergency');
  t.deepEqual(r.p.gesture({ kind: 'hold', seconds: 10 }), { action: 'emergency-end', done: true });
  t.is(r.fw.state, 'dormant');
});

test('hold at power-on ≥ 10 s arms a factory reset (LED red); a triple press within 10 s wipes the Key', (t) => {
  const r = physicalRig();
  r.fw.transition('activate');
  const identity = hex(r.fw.secureElement.identityPublicKey);
  const handle = hex(r.fw.handle);
  const boots = r.fw.bootCount;
  t.deepEqual(r.p.gesture({ kind: 'hold-at-power-on', seconds: 10 }), { action: 'factory-reset-armed', done: true });
  t.is(r.fw.bootCount, boots + 1, 'the power cycle boots the Key');
  t.deepEqual(
    r.of('power').map((e) => e.type === 'power' && e.on),
    [false, true],
  );
  t.is(r.p.state().led, 'red');
  t.is(r.p.state().factoryResetArmedUntil, RESET_CONFIRM_MS);
  t.is(r.fw.state, 'dormant');
  r.advance(RESET_CONFIRM_MS);
  t.deepEqual(r.p.gesture({ kind: 'triple' }), { action: 'factory-reset', done: true });
  t.is(r.fw.state, 'factory');
  t.is(r.fw.hosts().length, 0);
  t.not(hex(r.fw.secureElement.identityPublicKey), identity, 'new identity in the secure element');
  t.not(hex(r.fw.handle), handle, 'new handle');
  t.is(r.p.state().led, 'off');
  t.deepEqual(
    r.of('factory-reset').map((e) => e.type === 'factory-reset' && e.phase),
    ['armed', 'confirmed'],
  );
  t.like(r.of('lifecycle').at(-1), { from: 'dormant', to: 'factory' });
});

test('an unconfirmed factory reset expires: a later triple press is the emergency gesture again', (t) => {
  const r = physicalRig();
  r.p.gesture({ kind: 'hold-at-power-on', seconds: 15 });
  t.is(r.p.nextDeadline(), RESET_CONFIRM_MS + 1);
  r.advance(RESET_CONFIRM_MS + 1);
  t.like(r.of('factory-reset').at(-1), { phase: 'expired' });
  t.is(r.p.state().led, 'off');
  const identity = hex(r.fw.secureElement.identityPublicKey);
  t.deepEqual(r.p.gesture({ kind: 'triple' }), { action: 'emergency-start', done: false, refused: 'INVALID_STATE' });
  t.is(hex(r.fw.secureElement.identityPublicKey), identity);
});

test('hold at power-on < 10 s boots normally; a factory reset is refused in emergency (RESET_REFUSED)', (t) => {
  const r = physicalRig();
  t.deepEqual(r.p.gesture({ kind: 'hold-at-power-on', seconds: 9.9 }), { action: 'boot', done: true });
  t.is(r.p.state().factoryResetArmedUntil, undefined);
  r.fw.transition('activate');
  r.fw.transition('emergency.start');
  r.p.gesture({ kind: 'hold-at-power-on', seconds: 10 });
  t.deepEqual(r.p.gesture({ kind: 'triple' }), { action: 'factory-reset', done: false, refused: 'RESET_REFUSED' });
  t.is(r.fw.state, 'emergency');
});

test('gestures on an unpowered Key are refused POWER_OFF; hold at power-on restores power', (t) => {
  const r = physicalRig();
  r.p.setPower(false);
  t.deepEqual(r.p.gesture({ kind: 'hold', seconds: 8 }), { action: 'none', done: false, refused: 'POWER_OFF' });
  t.is(r.fw.pairingWindowUntil, undefined);
  t.deepEqual(r.p.gesture({ kind: 'hold-at-power-on', seconds: 1 }), { action: 'boot', done: true });
  t.is(r.p.state().power, 'on');
});

test('invalid gestures: SIM_BAD_INPUT naming the problem, and nothing changes', (t) => {
  const r = physicalRig();
  const before = r.p.state();
  for (const [g, msg] of [
    [{ kind: 'squeeze' }, /kind must be one of press, double, triple, hold, hold-at-power-on/],
    [{ kind: 'hold' }, /hold needs seconds/],
    [{ kind: 'hold', seconds: 0 }, /hold needs seconds/],
    [{ kind: 'hold', seconds: 121 }, /hold needs seconds/],
    [{ kind: 'hold-at-power-on', seconds: Number.NaN }, /hold-at-power-on needs seconds/],
    [null, /expected an object/],
  ] as const) {
    const e = t.throws(() => r.p.gesture(g as never), { instanceOf: SimulatorError, message: msg });
    t.is(e?.code, 'SIM_BAD_INPUT');
    t.is(e?.name, 'SimulatorError');
  }
  t.deepEqual(r.p.state(), before);
  t.is(r.events.length, 0);
});

test('the table: every row is reachable by some gesture and context, and the last row matches anything', (t) => {
  const gestures: Gesture[] = [
    { kind: 'press' },
    { kind: 'double' },
    { kind: 'triple' },
    ...[1, 3, 8, 10, 20].map((seconds) => ({ kind: 'hold' as const, seconds })),
    ...[1, 10].map((seconds) => ({ kind: 'hold-at-power-on' as const, seconds })),
  ];
  const hit = new Set<number>();
  for (const lifecycle of ['factory', 'dormant', 'emergency'] as const)
    for (const resetArmed of [false, true])
      for (const g of gestures) hit.add(GESTURE_TABLE.indexOf(classifyGesture(g, { lifecycle, resetArmed })));
  t.deepEqual(
    [...hit].sort((a, b) => a - b),
    GESTURE_TABLE.map((_, i) => i),
  );
});

test('HARDWARE.md shows the gesture table of the code (run `npm run docs:protocol`)', (t) => {
  const doc = readFileSync(new URL('../../HARDWARE.md', import.meta.url), 'utf8');
  t.is(doc, spliceGestureTable(doc));
  t.true(doc.includes(renderGestureTable()));
  const drifted = doc.replace('| hold ≥ 8 s |', '| hold ≥ 5 s |');
  t.not(drifted, spliceGestureTable(drifted), 'the check fails on a drifted table');
  t.throws(() => spliceGestureTable('no markers'), { message: /no gesture-table markers/ });
});
