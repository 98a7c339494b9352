/**
 * The physical model's battery, GNSS receiver, LTE-M radio, USB and power, on a fake clock around
 * a real in-memory Key: drain and charging figures, the low and critical thresholds and what they
 * do, GNSS refusals counted (never located), radio on-time, and a power pull mid-write tearing the
 * flash as the flash model does.
 */
import test from 'ava';
import { HANDLERS, type KeyOps } from '../src/firmware/commands.ts';
import { Flash, PowerLoss } from '../src/firmware/flash/flash.ts';
import { CRITICAL_PCT, DRAIN_PCT_PER_HOUR, LOW_PCT } from '../src/firmware/physical/battery.ts';
import { MAX_TRACK_FIXES } from '../src/firmware/physical/device.ts';
import { SimulatorError } from '../src/runtime/errors.ts';
import { physicalRig } from './support/physical-rig.ts';

const HOUR = 3_600_000;

test('battery: dormant drain per the documented figure, one event per whole percent, info reports it', (t) => {
  const r = physicalRig();
  r.fw.transition('activate');
  r.advance(24 * HOUR);
  const level = r.p.state().battery.level;
  t.is(Math.round(level * 100) / 100, 100 - 24 * DRAIN_PCT_PER_HOUR.dormant);
  t.deepEqual(r.of('battery'), [
    { key: 0, at: 24 * HOUR, type: 'battery', level: 98, charging: false, low: false, critical: false },
  ]);
  t.is(r.fw.battery.level, level);
  t.is(r.fw.state, 'dormant');
});

test('battery: an open host link drains faster (link mode); factory state is shipping mode', (t) => {
  let linked = true;
  const r = physicalRig({ linkActive: () => linked });
  r.fw.transition('activate');
  r.advance(HOUR);
  t.is(r.p.state().battery.level, 100 - DRAIN_PCT_PER_HOUR.link);
  linked = false;
  const s = physicalRig();
  s.advance(100 * HOUR);
  t.is(s.p.state().battery.level, 100 - 100 * DRAIN_PCT_PER_HOUR.shipping);
});

test('battery thresholds: low at ≤ 15 %, critical at ≤ 5 % (LED red blink, fw.begin refused BATTERY_CRITICAL unless charging)', (t) => {
  const r = physicalRig();
  r.p.setBattery({ level: LOW_PCT + 0.5 });
  t.false(r.p.state().battery.low);
  r.p.setBattery({ level: LOW_PCT });
  t.like(r.p.state().battery, { low: true, critical: false });
  t.like(r.of('battery').at(-1), { low: true, critical: false, level: 15 });
  r.p.setBattery({ level: CRITICAL_PCT });
  t.like(r.p.state().battery, { low: true, critical: true });
  t.is(r.p.state().led, 'red-blink');
  t.true(r.fw.battery.critical);
  // The firmware's fw.begin handler refuses on a critical battery, before touching the flash.
  const begin = HANDLERS['fw.begin'];
  const env = (batteryCritical: boolean) => ({ key: { batteryCritical, flash: undefined } as unknown as KeyOps });
  t.like(begin({} as never, env(true)), { error: 'BATTERY_CRITICAL' });
  t.like(begin({} as never, env(false)), { error: 'INVALID_STATE' }, 'otherwise it goes on (here: no flash)');
  // Charging lifts the refusal and the red blink.
  r.p.setUsb(true);
  t.true(r.p.state().battery.charging);
  t.is(r.p.state().led, 'off');
  t.false(r.fw.battery.critical && !r.fw.battery.charging);
});

test('charging on USB: 33 %/h up to 100 %; detaching stops it; charging can be set explicitly', (t) => {
  const r = physicalRig();
  r.p.setBattery({ level: 50 });
  r.p.setUsb(true);
  t.like(r.of('usb').at(-1), { attached: true });
  r.advance(HOUR);
  t.is(r.p.state().battery.level, 83);
  r.advance(HOUR);
  t.like(r.p.state().battery, { level: 100, charging: false }, 'full: no longer charging');
  r.p.setUsb(false);
  r.p.setBattery({ level: 40, charging: true });
  t.true(r.p.state().battery.charging);
  r.p.setBattery({ charging: false });
  t.false(r.p.state().battery.charging);
});

test('an empty battery browns the Key out; USB power boots it again', (t) => {
  const r = physicalRig();
  r.fw.transition('activate');
  const boots = r.fw.bootCount;
  r.p.setBattery({ level: 0 });
  t.is(r.p.state().power, 'off');
  t.deepEqual(r.p.gesture({ kind: 'press' }), { action: 'none', done: false, refused: 'POWER_OFF' });
  t.deepEqual(r.p.gesture({ kind: 'hold-at-power-on', seconds: 1 }), { action: 'boot', done: false, refused: 'BATTERY_EMPTY' });
  r.p.setUsb(true);
  t.is(r.p.state().power, 'on');
  t.is(r.fw.bootCount, boots + 1);
  t.deepEqual(
    r.of('power').map((e) => e.type === 'power' && e.on),
    [false, true],
  );
});

test('bad battery, radio, USB and power input: SIM_BAD_INPUT, nothing changes', (t) => {
  const r = physicalRig();
  const before = r.p.state();
  for (const b of [{ level: 101 }, { level: -1 }, { level: Number.NaN }, { level: '50' }, { charging: 'yes' }, null]) {
    const e = t.throws(() => r.p.setBattery(b as never), { instanceOf: SimulatorError });
    t.is(e?.code, 'SIM_BAD_INPUT');
  }
  t.throws(() => r.p.setRadio('roaming' as never), { instanceOf: SimulatorError, message: /attached, detached, no-coverage/ });
  t.throws(() => r.p.setUsb(1 as never), { instanceOf: SimulatorError, message: /usb must be true or false/ });
  t.throws(() => r.p.setPower('off' as never), { instanceOf: SimulatorError, message: /power must be true or false/ });
  t.deepEqual(r.p.state(), before);
  t.is(r.events.length, 0);
});

test('GNSS: off outside emergency — every due fix is refused and counted, never located', (t) => {
  const r = physicalRig();
  r.fw.transition('activate');
  r.p.setTrack([
    { atMs: 0, lat: 52.5, lon: 13.4 },
    { atMs: 1000, lat: 52.6, lon: 13.5 },
    { atMs: 5000, lat: 52.7, lon: 13.6, accuracyM: 5 },
  ]);
  r.advance(1000);
  const s = r.p.state();
  t.like(s.gnss, { powered: false, fixes: 0, refused: 2 });
  t.is(s.gnss.last, undefined);
  t.deepEqual(
    r.of('gnss').map((e) => Object.keys(e).sort()),
    [
      ['at', 'key', 'refused', 'type'],
      ['at', 'key', 'refused', 'type'],
    ],
    'a refusal event carries no location',
  );
  t.is(r.p.nextDeadline(), 5000);
});

test('GNSS: powered in emergency — fixes are taken in order and the last one shown', (t) => {
  const r = physicalRig();
  r.fw.transition('activate');
  r.fw.transition('emergency.start');
  r.p.setTrack([
    { atMs: 100, lat: 1, lon: 2 },
    { atMs: 200, lat: 3, lon: 4 },
  ]);
  r.advance(150);
  t.like(r.p.state().gnss, { powered: true, fixes: 1, refused: 0, last: { atMs: 100, lat: 1, lon: 2 } });
  r.advance(50);
  t.like(r.p.state().gnss, { fixes: 2, last: { lat: 3, lon: 4 } });
  r.p.setPower(false);
  t.false(r.p.state().gnss.powered);
  t.is(r.p.state().gnss.last, undefined, 'never shown while GNSS is off');
});

test('GNSS: a Key without power asks for no fix (nothing counted)', (t) => {
  const r = physicalRig();
  r.p.setPower(false);
  r.p.setTrack([{ atMs: 0, lat: 0, lon: 0 }]);
  r.advance(10);
  t.like(r.p.state().gnss, { fixes: 0, refused: 0 });
});

test('GNSS: a malformed track is refused naming the fix and field; the old track stays', (t) => {
  const r = physicalRig();
  r.p.setTrack([{ atMs: 10_000, lat: 0, lon: 0 }]);
  const cases: [unknown, RegExp][] = [
    ['nope', /expected an array/],
    [[{ atMs: 0, lat: 91, lon: 0 }], /fix 0: lat must be a number in -90\.\.90/],
    [[{ atMs: 0, lat: 0, lon: 181 }], /fix 0: lon/],
    [
      [
        { atMs: 5, lat: 0, lon: 0 },
        { atMs: 4, lat: 0, lon: 0 },
      ],
      /fix 1: atMs must not go back in time/,
    ],
    [[{ atMs: -1, lat: 0, lon: 0 }], /fix 0: atMs must be a number ≥ 0/],
    [[{ atMs: 0, lat: 0, lon: 0, accuracyM: -3 }], /accuracyM/],
    [Array.from({ length: MAX_TRACK_FIXES + 1 }, (_, i) => ({ atMs: i, lat: 0, lon: 0 })), /at most 10000 fixes/],
  ];
  for (const [track, msg] of cases) {
    const e = t.throws(() => r.p.setTrack(track as never), { instanceOf: SimulatorError, message: msg });
    t.is(e?.code, 'SIM_BAD_INPUT');
  }
  t.is(r.p.nextDeadline(), 10_000, 'the old track is still scheduled');
});

test('radio: on-time counted while attached and powered; state changes are events', (t) => {
  const r = physicalRig();
  r.p.setRadio('attached');
  r.advance(HOUR);
  r.p.setRadio('no-coverage');
  r.advance(HOUR);
  r.p.setRadio('attached');
  r.p.setPower(false);
  r.advance(HOUR);
  t.deepEqual(r.p.state().radio, { state: 'attached', onMs: HOUR });
  t.deepEqual(
    r.of('radio').map((e) => e.type === 'radio' && e.state),
    ['attached', 'no-coverage', 'attached'],
  );
});

test('power pulled mid-write tears the running flash operation as the flash model does; not mid-write, nothing tears', (t) => {
  const flash = new Flash({ pageSize: 4096, pageCount: 4 });
  let writing = true;
  const r = physicalRig({ flash, midWrite: () => writing, tearSeed: 7 });
  r.p.setPower(false);
  t.like(r.of('power').at(-1), { on: false, tornWrite: true });
  const data = new Uint8Array(4096).fill(0x00);
  t.throws(() => flash.write(0, data), { instanceOf: PowerLoss }, 'the interrupted write is torn');
  const written = flash.snapshot().subarray(0, 4096);
  t.true(
    written.some((b) => b !== 0x00),
    'only part of the write landed',
  );
  r.p.setPower(true);
  t.false(flash.powerLossArmed);
  writing = false;
  r.p.setPower(false);
  t.like(r.of('power').at(-1), { on: false });
  t.false('tornWrite' in (r.of('power').at(-1) ?? {}));
  t.notThrows(() => flash.write(4096, data), 'no write was running: nothing tears');
});

test('power pull drops link sessions and closes the pairing window; restore boots (boot counted)', (t) => {
  const r = physicalRig();
  r.fw.transition('activate');
  const boots = r.fw.bootCount;
  r.p.gesture({ kind: 'hold', seconds: 8 });
  t.truthy(r.fw.pairingWindowUntil);
  r.p.setPower(false);
  t.is(r.fw.pairingWindowUntil, undefined);
  t.is(r.p.state().led, 'off');
  t.is(r.p.state().pairingWindowUntil, undefined);
  r.p.reboot();
  t.is(r.fw.bootCount, boots, 'an unpowered Key does not reboot');
  r.p.setPower(true);
  t.is(r.fw.bootCount, boots + 1);
  r.p.reboot();
  t.is(r.fw.bootCount, boots + 2);
});
