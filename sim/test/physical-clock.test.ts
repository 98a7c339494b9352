/**
 * The simulator clock and scheduler (fake real time), and the Simulator as a ControlTarget on it:
 * `advance` catches periodic behaviour up in order, a 24-hour dormancy at high speed runs on real
 * time alone (about 0.9 s at MAX_SPEED), unknown Keys and bad input are typed errors.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { DeviceEvent } from '../src/firmware/physical/types.ts';
import { SimulatorError } from '../src/runtime/errors.ts';
import { MAX_SPEED, SimulatorClock } from '../src/runtime/sim-clock.ts';
import { PHYSICAL_TICK_MS, Simulator } from '../src/runtime/simulator.ts';

const HOUR = 3_600_000;

function fakeReal() {
  const real = { t: 0 };
  return { real, clock: new SimulatorClock({ realNow: () => real.t, realTimers: false }) };
}

test('simulated time is real time × speed; setSpeed rebases; it never goes back', (t) => {
  const { real, clock } = fakeReal();
  real.t = 100;
  t.is(clock.now(), 100);
  clock.setSpeed(10);
  real.t = 200;
  t.is(clock.now(), 1100);
  t.is(clock.speed, 10);
  clock.setSpeed(0.5);
  real.t = 400;
  t.is(clock.now(), 1200);
  for (const bad of [0, -1, MAX_SPEED + 1, Number.NaN, '2'])
    t.is((t.throws(() => clock.setSpeed(bad as never), { instanceOf: SimulatorError }) as SimulatorError).code, 'SIM_BAD_INPUT');
  t.is(clock.speed, 0.5, 'a refused speed changes nothing');
});

test('advance runs due tasks in order, each seeing its own due time; periodic ones once per period', (t) => {
  const { clock } = fakeReal();
  const seen: string[] = [];
  clock.every(1000, () => seen.push(`tick@${clock.now()}`));
  clock.at(2500, () => seen.push(`once@${clock.now()}`));
  const cancel = clock.at(2600, () => seen.push('cancelled'));
  cancel();
  clock.advance(3000);
  t.deepEqual(seen, ['tick@1000', 'tick@2000', 'once@2500', 'tick@3000']);
  t.is(clock.now(), 3000);
  t.is(clock.pending, 1, 'the periodic task stays');
  for (const bad of [-1, Number.POSITIVE_INFINITY, 'x'])
    t.is((t.throws(() => clock.advance(bad as never)) as SimulatorError).code, 'SIM_BAD_INPUT');
});

test('a task scheduled by a task during advance runs in the same advance if due', (t) => {
  const { clock } = fakeReal();
  const seen: number[] = [];
  clock.at(100, () => clock.at(150, () => seen.push(clock.now())));
  clock.advance(200);
  t.deepEqual(seen, [150]);
});

test('real timers: at high speed tasks run on simulated time without advance', async (t) => {
  const clock = new SimulatorClock({ speed: 100_000 });
  t.teardown(() => clock.stop());
  let runs = 0;
  clock.every(60_000, () => runs++);
  await new Promise((r) => setTimeout(r, 300));
  t.true(runs >= 60, `ran ${runs} times in 300 ms real (≈ 500 expected)`);
});

async function startSim(t: import('ava').ExecutionContext, keys = 2, speed?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-physical-clock-'));
  const sim = await Simulator.start({
    keys,
    serial: false,
    tcp: false,
    stateDir: dir,
    ...(speed ? { speed } : { clock: new SimulatorClock({ realTimers: false, realNow: () => 0 }) }),
  });
  t.teardown(async () => {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const events: DeviceEvent[] = [];
  sim.onEvent((e) => events.push(e));
  return { sim, events };
}

test('Simulator is a ControlTarget: keyCount, controls per Key, SIM_NO_SUCH_KEY, events with key index and time', async (t) => {
  const { sim, events } = await startSim(t);
  t.is(sim.keyCount, 2);
  for (const bad of [2, -1, 0.5, Number.NaN]) {
    const e = t.throws(() => sim.controls(bad), { instanceOf: SimulatorError });
    t.is(e?.code, 'SIM_NO_SUCH_KEY');
  }
  t.is(sim.controls(1).state().index, 1);
  sim.controls(1).gesture({ kind: 'press' });
  t.like(events.at(-1), { key: 1, type: 'gesture' });
  t.like(sim.controls(0).state(), { lifecycle: 'factory', power: 'on', usb: false, battery: { level: 100 } });
  t.throws(() => sim.controls(0).gesture({ kind: 'wave' } as never), { instanceOf: SimulatorError, message: /invalid gesture/ });
  // A throwing listener is contained; the others still hear.
  sim.onEvent(() => {
    throw new Error('boom');
  });
  t.notThrows(() => sim.controls(0).setRadio('attached'));
  t.like(events.at(-1), { key: 0, type: 'radio', state: 'attached' });
});

test('advance: a 24-hour dormancy catches up minute by minute (battery drain, radio on-time, expiries)', async (t) => {
  const { sim, events } = await startSim(t, 1);
  const c = sim.controls(0);
  c.setRadio('attached');
  c.gesture({ kind: 'hold', seconds: 8 }); // pairing window: 60 s
  sim.clock.advance(24 * HOUR);
  const s = c.state();
  t.is(s.radio.onMs, 24 * HOUR);
  t.is(Math.round(s.battery.level * 1000) / 1000, 100 - 24 * 0.005, 'factory Key: shipping drain');
  t.is(s.pairingWindowUntil, undefined);
  const closed = events.find((e) => e.type === 'output' && e.led === 'off');
  t.truthy(closed);
  t.is(closed?.at, 60_001, 'the window closed on its deadline, not at the next periodic tick');
  t.true(PHYSICAL_TICK_MS > 1_000);
});

test('speed: at MAX_SPEED 24 simulated hours pass on real time alone, and the scheduler takes a due fix without advance', async (t) => {
  const { sim, events } = await startSim(t, 1, 1);
  sim.controls(0).setTrack([{ atMs: 23 * HOUR, lat: 1, lon: 1 }]);
  const from = sim.clock.now();
  sim.clock.setSpeed(MAX_SPEED);
  // About 0.9 s of real time at MAX_SPEED; 30 s bound the wait on a loaded machine (benchmarks
  // measure speed, this test only that time runs and the due fix comes without advance).
  const refused = () => events.some((e) => e.type === 'gnss' && e.refused);
  const deadline = performance.now() + 30_000;
  while ((sim.clock.now() < from + 24 * HOUR || !refused()) && performance.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  t.true(sim.clock.now() >= from + 24 * HOUR, 'a simulated day passed without advance');
  t.true(refused(), 'the scheduler took the due fix on its own');
  t.like(sim.controls(0).state().gnss, { refused: 1, fixes: 0 }, 'the due fix came and was refused (GNSS off)');
});

test('Simulator.start: bad speed or battery level is SIM_BAD_INPUT before anything starts; a level sets every Key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-physical-start-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const bad of [{ speed: 0 }, { speed: MAX_SPEED * 2 }, { batteryLevel: 101 }, { batteryLevel: -1 }]) {
    const e = await t.throwsAsync(Simulator.start({ serial: false, tcp: false, stateDir: join(dir, 'bad'), ...bad }), {
      instanceOf: SimulatorError,
    });
    t.is(e?.code, 'SIM_BAD_INPUT', JSON.stringify(bad));
  }
  const sim = await Simulator.start({ keys: 2, serial: false, tcp: false, stateDir: join(dir, 'ok'), batteryLevel: 12 });
  t.teardown(() => sim.stop());
  t.like(sim.controls(1).state().battery, { level: 12, low: true, critical: false });
  t.is(existsSync(join(dir, 'bad', 'simulator.lock')), false, 'no state folder lock was left');
});
