/**
 * The scenario loader: every problem in a scenario file is a ScenarioError naming the file, the
 * line and the field (`x.yaml:4: steps[1].gesture.seconds must be a number ≥ 0`), never a crash
 * and never a scenario that half-loads; good files load into the normalised form.
 */
import { EVENT_FIELDS, formatDuration, parseDuration, parseScenario, ScenarioError, STATE_FIELDS } from '@enigm/sim/scenario';
import test from 'ava';

/** The messages of the error `text` raises. */
function problems(text: string, file = 'x.yaml'): string[] {
  try {
    parseScenario(text, file);
  } catch (e) {
    if (!(e instanceof ScenarioError)) throw e;
    return e.message.split('\n');
  }
  throw new Error('no error');
}

test('a full scenario loads: keys, timings, actions and matchers normalised', (t) => {
  const s = parseScenario(
    `name: all
description: every action
speed: 1000
keys:
  - lifecycle: dormant
    battery: { level: 50, charging: true }
    radio: no-coverage
    usb: attached
    power: on
  - track: [ { at: 1m, lat: 1, lon: 2, accuracyM: 3 }, { atMs: 120000, lat: -1, lon: -2 } ]
steps:
  - gesture: press
  - key: 1
    gesture: { kind: hold-at-power-on, seconds: 12 }
    outcome: { action: factory-reset-armed, done: true }
  - at: 10s
    battery: { level: 20 }
  - after: 1h30m
    track: []
  - radio: detached
  - usb: false
  - power: off
  - reboot:
  - wait: 500ms
  - speed: 10
  - name: check
    expect: { key: 1, state: { battery.level: "<= 20", gnss: { fixes: 0, last: absent }, lifecycle: factory }, within: 2 }
  - expect: { event: { type: gesture, gesture.kind: press, outcome: { done: true } } }
  - expect: { event: pairing-window, within: 1d }
`,
    'all.yaml',
  );
  t.is(s.name, 'all');
  t.is(s.speed, 1000);
  t.is(s.file, 'all.yaml');
  t.deepEqual(s.keys, [
    { lifecycle: 'dormant', battery: { level: 50, charging: true }, radio: 'no-coverage', usb: true, power: true },
    {
      track: [
        { atMs: 60_000, lat: 1, lon: 2, accuracyM: 3 },
        { atMs: 120_000, lat: -1, lon: -2 },
      ],
    },
  ]);
  t.deepEqual(
    s.steps.map((x) => [x.line, x.key, x.action.type, x.atMs, x.afterMs]),
    [
      [12, 0, 'gesture', undefined, undefined],
      [13, 1, 'gesture', undefined, undefined],
      [16, 0, 'battery', 10_000, undefined],
      [18, 0, 'track', undefined, 5_400_000],
      [20, 0, 'radio', undefined, undefined],
      [21, 0, 'usb', undefined, undefined],
      [22, 0, 'power', undefined, undefined],
      [23, 0, 'reboot', undefined, undefined],
      [24, 0, 'wait', undefined, undefined],
      [25, 0, 'speed', undefined, undefined],
      [26, 1, 'expect', undefined, undefined],
      [28, 0, 'expect', undefined, undefined],
      [29, 0, 'expect', undefined, undefined],
    ],
  );
  t.deepEqual(s.steps[1]?.action, {
    type: 'gesture',
    gesture: { kind: 'hold-at-power-on', seconds: 12 },
    outcome: [
      { path: 'action', matcher: { op: 'eq', value: 'factory-reset-armed' } },
      { path: 'done', matcher: { op: 'eq', value: true } },
    ],
  });
  t.deepEqual(s.steps[10]?.action, {
    type: 'expect',
    withinMs: 2000,
    state: [
      { path: 'battery.level', matcher: { op: 'le', value: 20 } },
      { path: 'gnss.fixes', matcher: { op: 'eq', value: 0 } },
      { path: 'gnss.last', matcher: { op: 'absent' } },
      { path: 'lifecycle', matcher: { op: 'eq', value: 'factory' } },
    ],
  });
  t.deepEqual(s.steps[11]?.action, {
    type: 'expect',
    withinMs: 0,
    event: {
      type: 'gesture',
      fields: [
        { path: 'gesture.kind', matcher: { op: 'eq', value: 'press' } },
        { path: 'outcome.done', matcher: { op: 'eq', value: true } },
      ],
    },
  });
  t.like(s.steps[12]?.action, { type: 'expect', withinMs: 86_400_000 });
});

test('keys: a count, a list, or { count, initial }; default one Key', (t) => {
  const base = 'name: k\nsteps:\n  - wait: 1s\n';
  t.is(parseScenario(base).keys.length, 1);
  t.is(parseScenario(`${base}keys: 3\n`).keys.length, 3);
  t.deepEqual(parseScenario(`${base}keys: { count: 2, initial: { battery: { level: 9 } } }\n`).keys, [
    { battery: { level: 9 } },
    { battery: { level: 9 } },
  ]);
});

test('a JSON scenario loads with the same checks and line numbers', (t) => {
  const json = JSON.stringify({ name: 'j', steps: [{ wait: '1s' }, { gesture: { kind: 'hold', seconds: '8' } }] }, null, 2);
  t.deepEqual(problems(json, 'x.json'), ['x.json:10: steps[1].gesture.seconds must be a number ≥ 0']);
  t.is(parseScenario('{"name": "j", "steps": [{"wait": 2}]}', 'ok.json').steps[0]?.action.type, 'wait');
});

test('malformed YAML: the line of the syntax error', (t) => {
  const [m] = problems('name: x\nsteps:\n  - wait: 1s\n    gesture: [press\n');
  t.regex(m ?? '', /^x\.yaml:\d: is not valid YAML or JSON: /);
  t.deepEqual(problems('name: x\nname: y\nsteps: []\n').length, 1);
  t.regex(problems('name: x\nname: y\nsteps: []\n')[0] ?? '', /^x\.yaml:2: is not valid YAML or JSON: Map keys must be unique/);
  t.deepEqual(problems(''), ['x.yaml:0: must be a mapping (a scenario: name, keys and steps)']);
  t.deepEqual(problems('- 1\n- 2\n'), ['x.yaml:1: must be a mapping (a scenario: name, keys and steps)']);
});

test('an unknown action, step field or scenario field is named with its line', (t) => {
  t.deepEqual(problems('name: x\nsteps:\n  - wait: 1s\n  - jump: 2\n'), [
    'x.yaml:4: steps[1].jump is not a known action (gesture, battery, track, radio, usb, power, reboot, ack, wait, speed, expect) or step field (name, key, at, after)',
  ]);
  t.deepEqual(problems('name: x\nstep:\n  - wait: 1s\n'), [
    'x.yaml:1: steps must be a list of 1..10000 steps',
    'x.yaml:2: step is not a scenario field (known: name, description, speed, keys, steps)',
  ]);
  t.deepEqual(problems('name: x\nsteps:\n  - name: nothing\n'), [
    'x.yaml:3: steps[0] has no action: give one of gesture, battery, track, radio, usb, power, reboot, ack, wait, speed, expect',
  ]);
  t.deepEqual(problems('name: x\nsteps:\n  - wait: 1s\n    reboot: true\n'), [
    'x.yaml:3: steps[0] has 2 actions (reboot, wait): one per step',
  ]);
});

test('wrong types and values: line and field, every problem at once', (t) => {
  t.deepEqual(
    problems(`name: 3
speed: 0
keys:
  - battery: { level: 101 }
    radio: off
    lifecycle: emergency
steps:
  - gesture: { kind: hold, seconds: -1 }
  - gesture: { kind: swipe }
  - gesture: { kind: press, seconds: 2 }
  - gesture: { kind: hold }
  - at: 1s
    after: 2s
    wait: 1s
  - wait: soon
  - speed: 200000
  - usb: maybe
  - power: half
  - reboot: 3
  - key: 1
    reboot: true
  - expect: { state: { lifecycle: dormnt, battery.level: "about 5", usb: yes, nope: 1 } }
  - expect: { event: { type: explosion } }
  - expect: { event: { type: battery, level: high }, within: -1 }
  - expect: { within: 1s }
  - track: [ { at: 2s, lat: 91, lon: 0 }, { at: 1s, lat: 0, lon: 0 } ]
`),
    [
      'x.yaml:1: name must be a non-empty string',
      'x.yaml:2: speed must be a number in (0, 100000]',
      'x.yaml:4: keys[0].battery.level must be a number in [0, 100]',
      'x.yaml:5: keys[0].radio must be one of attached, detached, no-coverage',
      'x.yaml:6: keys[0].lifecycle must be one of factory, dormant',
      'x.yaml:8: steps[0].gesture.seconds must be a number ≥ 0',
      'x.yaml:9: steps[1].gesture.kind must be one of press, double, triple, hold, hold-at-power-on',
      'x.yaml:10: steps[2].gesture.seconds is only for hold and hold-at-power-on, not press',
      'x.yaml:11: steps[3].gesture.seconds is required for hold',
      'x.yaml:12: steps[4] has both at and after: give one',
      'x.yaml:15: steps[5].wait must be a duration ≥ 0 (seconds, or e.g. 500ms, 2s, 10m, 24h, 1h30m)',
      'x.yaml:16: steps[6].speed must be a number in (0, 100000]',
      'x.yaml:17: steps[7].usb must be attached, detached, true or false',
      'x.yaml:18: steps[8].power must be on or off',
      'x.yaml:19: steps[9].reboot takes no value (write reboot: true)',
      'x.yaml:20: steps[10].key must be an integer in [0, 0]',
      'x.yaml:22: steps[11].expect.state.lifecycle must be one of factory, dormant, emergency, suspended, revoked, retired, updating',
      'x.yaml:22: steps[11].expect.state.battery.level must be a number, a comparison such as "≤ 50" or ">= 10", absent or present',
      'x.yaml:22: steps[11].expect.state.usb must be true, false, absent or present',
      `x.yaml:22: steps[11].expect.state.nope is not a field that can be checked (known: ${Object.keys(STATE_FIELDS)
        .filter((f) => !f.startsWith('counters.'))
        .join(', ')})`,
    ],
  );
  // The rest of the file's problems (MAX_ISSUES is 20): checked in their own file.
  t.deepEqual(
    problems(`name: x
steps:
  - expect: { event: { type: explosion } }
  - expect: { event: { type: battery, level: high }, within: -1 }
  - expect: { within: 1s }
  - track: [ { at: 2s, lat: 91, lon: 0 }, { at: 1s, lat: 0, lon: 0 }, { at: 0s, lat: 0, lon: 0 } ]
  - expect: { state: { gnss: 3 } }
  - expect: { state: {} }
`),
    [
      `x.yaml:3: steps[0].expect.event.type must be one of ${Object.keys(EVENT_FIELDS).join(', ')}`,
      'x.yaml:4: steps[1].expect.within must be a duration ≥ 0 (seconds, or e.g. 500ms, 2s, 10m, 24h, 1h30m)',
      'x.yaml:4: steps[1].expect.event.level must be a number, a comparison such as "≤ 50" or ">= 10", absent or present',
      'x.yaml:5: steps[2].expect must have either state or event',
      'x.yaml:6: steps[3].track[0].lat must be a number in [-90, 90]',
      'x.yaml:6: steps[3].track[2].at must not be earlier than the fix before it (fixes are in time order)',
      'x.yaml:7: steps[4].expect.state.gnss is an object: check its fields (e.g. gnss.fixes), or write absent or present',
      'x.yaml:8: steps[5].expect.state must name at least one field',
    ],
  );
});

test('a file over 4 MiB is refused before it is parsed', (t) => {
  t.deepEqual(problems(`name: x\n#${'x'.repeat(4 * 1024 * 1024)}\nsteps: [ { wait: 1 } ]\n`), [
    'x.yaml:0: is 4194337 characters long; a scenario may have at most 4194304',
  ]);
});

test('at most 20 problems are listed', (t) => {
  const steps = Array.from({ length: 30 }, () => '  - wait: never').join('\n');
  t.is(problems(`name: x\nsteps:\n${steps}\n`).length, 20);
});

test('the error is typed and serialisable: code, file and issues with line and path', (t) => {
  const e = t.throws(() => parseScenario('name: x\nsteps:\n  - wait: x\n', 's.yaml'), { instanceOf: ScenarioError });
  t.is(e?.code, 'SCENARIO_INVALID');
  t.deepEqual(JSON.parse(JSON.stringify(e)).issues, [
    { line: 3, path: 'steps[0].wait', message: 'must be a duration ≥ 0 (seconds, or e.g. 500ms, 2s, 10m, 24h, 1h30m)' },
  ]);
});

test('an alias bomb is refused, not expanded', (t) => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 12; i++)
    bomb.push(
      `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
        .fill(`*${String.fromCharCode(96 + i)}`)
        .join(', ')}]`,
    );
  const [m] = problems(`${bomb.join('\n')}\nname: x\nsteps: [ { wait: 1 } ]\n`);
  t.regex(m ?? '', /^x\.yaml:0: cannot be read: .*alias/i);
});

test('durations: seconds or units, bounded; formatted back', (t) => {
  t.is(parseDuration(2), 2000);
  t.is(parseDuration('2'), 2000);
  t.is(parseDuration('500ms'), 500);
  t.is(parseDuration('1.5m'), 90_000);
  t.is(parseDuration('1h30m'), 5_400_000);
  t.is(parseDuration('1d'), 86_400_000);
  for (const bad of [-1, Number.NaN, '', 'x', '5 parsecs', '1h 30', '400d', null, true])
    t.is(parseDuration(bad), undefined, String(bad));
  t.is(formatDuration(5_400_000), '1 h 30 min');
  t.is(formatDuration(1500), '1.5 s');
  t.is(formatDuration(12), '12 ms');
});

test('emergency: keys get contacts, an ack names one of them, emergency state and events are checkable', (t) => {
  const s = parseScenario(
    `name: e
keys:
  - lifecycle: dormant
    contacts: 2
  - {}
steps:
  - gesture: triple
  - ack: { contact: 1 }
  - expect: { state: { emergency: { phase: active, records: ">= 3" }, emergency.eventId: present } }
  - expect: { event: { type: emergency, phase: cancelled } }
  - expect: { event: { type: emergency-record, kind: battery-critical, seq: 1 } }
`,
    'e.yaml',
  );
  t.deepEqual(s.keys, [{ lifecycle: 'dormant', contacts: 2 }, {}]);
  t.deepEqual(s.steps[1]?.action, { type: 'ack', contact: 1 });
  t.deepEqual(
    problems(`name: e
keys:
  - contacts: 9
  - contacts: 1
steps:
  - ack: { contact: 0 }
  - key: 1
    ack: { contact: 1 }
  - key: 1
    ack: { who: 0 }
  - expect: { state: { emergency.phase: over } }
  - expect: { event: { type: emergency-record, kind: selfie } }
`),
    [
      'x.yaml:3: keys[0].contacts must be an integer in [0, 8]',
      "x.yaml:6: steps[0].ack needs contacts: give the step's Key `contacts: N` in keys",
      'x.yaml:8: steps[1].ack.contact must be an integer in [0, 0]',
      'x.yaml:10: steps[2].ack.who is not a ack field (known: contact)',
      'x.yaml:10: steps[2].ack.contact must be an integer in [0, 0]',
      'x.yaml:11: steps[3].expect.state.emergency.phase must be one of none, triggered, active, cancelled, resolved, revoked',
      'x.yaml:12: steps[4].expect.event.kind must be one of start, location, status, battery-critical, end',
    ],
  );
});
