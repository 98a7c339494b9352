/**
 * The scenario runner against a small in-test ControlTarget (a fake Key: a long hold opens a 60 s
 * pairing window; battery and radio as set), so the runner's timing, expectations and reports are
 * tested apart from the simulator. The example scenarios against the real simulator are in
 * scenario-examples.test.ts.
 */
import {
  type ControlTarget,
  type DeviceControls,
  type DeviceEvent,
  type DeviceState,
  formatJUnit,
  formatReportText,
  type Gesture,
  parseScenario,
  runScenario,
  type SimClock,
} from '@enigm/sim/scenario';
import test from 'ava';

/** A clock: real time × speed plus advances. */
class FakeClock implements SimClock {
  speed = 1;
  #base = 0;
  #realAt = performance.now();
  now(): number {
    return this.#base + (performance.now() - this.#realAt) * this.speed;
  }
  setSpeed(speed: number): void {
    this.#base = this.now();
    this.#realAt = performance.now();
    this.speed = speed;
  }
  advance(ms: number): void {
    this.#base += ms;
  }
}

class FakeTarget implements ControlTarget {
  readonly clock = new FakeClock();
  readonly #listeners = new Set<(e: DeviceEvent) => void>();
  readonly keys: { lifecycle: DeviceState['lifecycle']; level: number; until?: number }[];
  constructor(readonly keyCount: number) {
    this.keys = Array.from({ length: keyCount }, () => ({ lifecycle: 'factory' as const, level: 100 }));
  }
  emit(e: DeviceEvent): void {
    for (const l of this.#listeners) l(e);
  }
  onEvent(listener: (event: DeviceEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  controls(index: number): DeviceControls {
    const k = this.keys[index];
    if (!k) throw Object.assign(new Error(`no Key ${index}`), { code: 'SIM_NO_SUCH_KEY' });
    const t = this;
    const now = () => t.clock.now();
    return {
      state: () =>
        ({
          index,
          lifecycle: k.lifecycle,
          battery: { level: k.level, charging: false, low: k.level <= 20, critical: k.level <= 5 },
          gnss: { powered: false, fixes: 0, refused: 0 },
          ...(k.until !== undefined && now() <= k.until ? { pairingWindowUntil: k.until } : {}),
        }) as unknown as DeviceState,
      gesture(g: Gesture) {
        if ('seconds' in g && g.seconds > 60) throw Object.assign(new Error('seconds must be ≤ 60'), { code: 'SIM_BAD_INPUT' });
        const action = g.kind === 'hold' && g.seconds >= 8 ? 'pairing-window' : 'none';
        const outcome = { action, done: true };
        t.emit({ key: index, at: now(), type: 'gesture', gesture: g, outcome });
        if (action === 'pairing-window') {
          k.until = now() + 60_000;
          t.emit({ key: index, at: now(), type: 'pairing-window', until: k.until });
        }
        return outcome;
      },
      setBattery(b) {
        if (b.level !== undefined) k.level = b.level;
        t.emit({ key: index, at: now(), type: 'battery', level: k.level, charging: false, low: false, critical: false });
      },
      setTrack() {},
      setRadio() {},
      setUsb() {},
      setPower() {},
      reboot() {},
    };
  }
}

const PAIRING = `name: pairing window
keys: 1
steps:
  - gesture: { kind: hold, seconds: 8 }
    outcome: { action: pairing-window, done: true }
  - expect: { event: { type: pairing-window }, within: 2s }
  - expect: { state: { pairingWindowUntil: present } }
  - after: 40s
    expect: { state: { pairingWindowUntil: present } }
  - after: 25s
    expect: { state: { pairingWindowUntil: absent } }
`;

// Numeric speed 10: a real millisecond of scheduling delay is 10 simulated ones, so the 20 s
// between the check at 40 s and the window's end at 60 s is 2 s of real time (at ×100 it was
// 200 ms, which a loaded machine can stall for).
for (const speed of ['max', 10] as const) {
  test.serial(`a passing scenario at speed ${speed}: every step passed, in simulated time`, async (t) => {
    const target = new FakeTarget(1);
    const report = await runScenario(target, parseScenario(PAIRING, 'pairing.yaml'), { speed });
    t.true(report.passed, formatReportText(report));
    t.deepEqual(report.counts, { passed: 5, failed: 0, error: 0, skipped: 0 });
    t.deepEqual(report.steps[0]?.outcome, { action: 'pairing-window', done: true });
    const last = report.steps[4];
    t.true((last?.atMs ?? 0) >= 65_000, `last step began at ${last?.atMs}`);
    if (speed === 'max') {
      // Waits advance the clock; real time moves it at JUMP_MODE_SPEED only (a run that slept the
      // waits instead would take 65 s × 1000 of real time to get there).
      t.true(report.simMs >= 65_000 && report.simMs < 65_100, `${report.simMs}`);
    } else t.true(report.realMs >= 6000, 'speed 10 waits 6.5 s of real time');
  });
}

test('a failed expectation is a failed step with the field and both values; later steps are skipped', async (t) => {
  const s = parseScenario(
    `name: wrong
steps:
  - battery: { level: 30 }
  - expect: { state: { battery.level: "≤ 20" }, within: 1s }
  - wait: 1s
`,
    'wrong.yaml',
  );
  const report = await runScenario(new FakeTarget(1), s, { speed: 'max' });
  t.false(report.passed);
  const [, failed, skipped] = report.steps;
  t.is(failed?.status, 'failed');
  t.is(failed?.line, 4);
  t.regex(failed?.reason ?? '', /battery\.level is 30 \(expected ≤ 20\).*waited 1 s/);
  t.true((failed?.simMs ?? 0) >= 1000, 'it waited the whole 1 s before failing');
  t.is(skipped?.status, 'skipped');
  t.deepEqual(report.counts, { passed: 1, failed: 1, error: 0, skipped: 1 });
  t.regex(formatReportText(report), /FAIL {3}2 [^\n]*battery\.level ≤ 20 within 1 s\n\s+battery\.level is 30/);
});

test('an event that never comes fails; a gesture outcome that differs fails', async (t) => {
  const noEvent = await runScenario(
    new FakeTarget(1),
    parseScenario('name: n\nsteps:\n  - gesture: press\n  - expect: { event: pairing-window, within: 5s }\n'),
    { speed: 'max' },
  );
  t.is(noEvent.steps[1]?.status, 'failed');
  t.regex(noEvent.steps[1]?.reason ?? '', /no pairing-window event from key 0/);
  const outcome = await runScenario(
    new FakeTarget(1),
    parseScenario('name: o\nsteps:\n  - gesture: { kind: hold, seconds: 3 }\n    outcome: { action: pairing-window }\n'),
    { speed: 'max' },
  );
  t.is(outcome.steps[0]?.status, 'failed');
  t.is(outcome.steps[0]?.reason, 'outcome: action is none (expected = pairing-window)');
});

test('an event expectation only sees events since the last action began', async (t) => {
  const report = await runScenario(
    new FakeTarget(1),
    parseScenario(
      'name: since\nsteps:\n  - gesture: { kind: hold, seconds: 8 }\n  - battery: { level: 50 }\n  - expect: { event: pairing-window }\n',
    ),
    { speed: 'max' },
  );
  t.is(report.steps[2]?.status, 'failed');
});

test('a control that refuses its input is an error step (code and reason), not a throw', async (t) => {
  const report = await runScenario(
    new FakeTarget(1),
    parseScenario('name: e\nsteps:\n  - gesture: { kind: hold, seconds: 90 }\n  - wait: 1s\n'),
    { speed: 'max' },
  );
  t.false(report.passed);
  t.is(report.steps[0]?.status, 'error');
  t.is(report.steps[0]?.reason, 'SIM_BAD_INPUT: seconds must be ≤ 60');
  t.is(report.steps[1]?.status, 'skipped');
});

test('setup problems are the report error: too few Keys, a dormant Key without provisioning', async (t) => {
  const few = await runScenario(new FakeTarget(1), parseScenario('name: f\nkeys: 2\nsteps:\n  - wait: 1s\n'), { speed: 'max' });
  t.regex(few.error ?? '', /needs 2 Keys, the simulator has 1/);
  t.is(few.steps[0]?.status, 'skipped');
  const dormant = parseScenario(
    'name: d\nkeys: [{ lifecycle: dormant }]\nsteps:\n  - expect: { state: { lifecycle: dormant } }\n',
  );
  const refused = await runScenario(new FakeTarget(1), dormant, { speed: 'max' });
  t.regex(refused.error ?? '', /key 0 should start dormant/);
  const target = new FakeTarget(1);
  const ok = await runScenario(target, dormant, {
    speed: 'max',
    provision: (i) => {
      (target.keys[i] as { lifecycle: string }).lifecycle = 'dormant';
    },
  });
  t.true(ok.passed, formatReportText(ok));
});

test('at is simulated time since the start; after is since the previous step ended', async (t) => {
  const report = await runScenario(
    new FakeTarget(1),
    parseScenario('name: t\nsteps:\n  - at: 10s\n    wait: 5s\n  - after: 1m\n    reboot: true\n  - at: 1m\n    reboot: true\n'),
    { speed: 'max' },
  );
  t.deepEqual(
    report.steps.map((s) => Math.round((s.atMs ?? -1) / 10) * 10),
    [10_000, 75_000, 75_000],
  );
});

test('JUnit XML: a suite per scenario, a case per step with failure, error and skipped, escaped', async (t) => {
  const s = parseScenario(
    `name: "a <b> & 'c'"
steps:
  - name: hold <8 s>
    gesture: { kind: hold, seconds: 8 }
  - expect: { state: { battery.level: "< 5" } }
  - wait: 1s
`,
    'x&y.yaml',
  );
  const report = await runScenario(new FakeTarget(1), s, { speed: 'max' });
  const xml = formatJUnit([report]);
  t.regex(
    xml,
    /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="enigm scenarios" tests="3" failures="1" errors="0" skipped="1"/,
  );
  t.regex(
    xml,
    /<testsuite name="a &lt;b&gt; &amp; &apos;c&apos;" tests="3" failures="1" errors="0" skipped="1" time="[\d.]+" file="x&amp;y.yaml">/,
  );
  t.regex(xml, /<testcase classname="[^"]+" name="01. hold &lt;8 s&gt;" time="[\d.]+" file="x&amp;y.yaml" line="3">/);
  t.regex(xml, /<failure message="battery.level is 100 \(expected &lt; 5\)" type="ExpectationFailed">/);
  t.regex(xml, /<testcase [^>]*name="03. wait 1 s"[^>]*>\n\s*<skipped /);
  t.notRegex(xml, /<[^>]*<|&(?!amp;|lt;|gt;|quot;|apos;)/, 'every < and & in text is escaped');
});

test('the target clock gets its speed back after the run, and a throwing onStep still ends in a report', async (t) => {
  const target = new FakeTarget(1);
  target.clock.setSpeed(3);
  const s = parseScenario('name: s\nsteps:\n  - speed: 50\n  - wait: 1s\n');
  const report = await runScenario(target, s, { speed: 20 });
  t.true(report.passed);
  t.is(target.clock.speed, 3);
  const thrown = await runScenario(target, s, {
    speed: 'max',
    onStep: () => {
      throw new Error('callback failed');
    },
  });
  t.false(thrown.passed);
  t.is(thrown.error, 'runner: callback failed');
  t.is(target.clock.speed, 3);
});

test('contacts and acks: installed and relayed through the controls; a target without them is a setup error', async (t) => {
  const s = parseScenario('name: c\nkeys: [{ contacts: 2 }]\nsteps:\n  - ack: { contact: 1 }\n  - wait: 1s\n');
  const none = await runScenario(new FakeTarget(1), s, { speed: 'max' });
  t.regex(none.error ?? '', /^setup: this target cannot install contact sets/);
  // A target that takes a contact set and acks, with an event running.
  const target = new FakeTarget(1);
  const sets: Uint8Array[] = [];
  const acks: Uint8Array[] = [];
  let eventId: string | undefined;
  let settled = 0;
  const inner = target.controls.bind(target);
  target.controls = (i: number) => {
    const c = inner(i);
    return {
      ...c,
      state: () => ({ ...c.state(), ...(eventId ? { emergency: { phase: 'active', eventId, records: 1 } } : {}) }),
      setContacts: (b: Uint8Array) => {
        sets.push(b);
        return { version: 1, count: 2 };
      },
      ack: (b: Uint8Array) => {
        acks.push(b);
        return { alias: 'c1' };
      },
    };
  };
  (target as { settled?: () => Promise<void> }).settled = async () => {
    settled++;
  };
  const early = await runScenario(target, s, { speed: 'max' });
  t.is(early.steps[0]?.status, 'error');
  t.regex(early.steps[0]?.reason ?? '', /^INVALID_STATE: no emergency event is running/);
  eventId = '00'.repeat(16);
  const report = await runScenario(target, s, { speed: 'max' });
  t.true(report.passed, formatReportText(report));
  t.deepEqual(report.steps[0]?.outcome, { alias: 'c1' });
  t.is(sets.length, 2, 'one contact set per run');
  t.is(acks.length, 1);
  t.true(settled > 0, 'at speed max the runner waits for the target to settle');
});
