/**
 * `enigm sim run`: plays a scenario against a fresh simulator; exit 0 when every step passed, 1 on
 * a failed expectation or a malformed scenario (line and field named), 2 on misuse; `--json` and
 * `--junit FILE`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { simRunCommands } from '../src/commands/sim-run.ts';
import { runCommand } from './run-command.ts';
import { parseXml, type XmlElement } from './xml.ts';

const dir = mkdtempSync(join(tmpdir(), 'enigm-cli-sim-run-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function scenario(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const PASSING = `name: short hold does nothing
steps:
  - gesture: { kind: hold, seconds: 1 }
    outcome: { action: none }
  - wait: 10s
  - expect: { state: { lifecycle: factory, pairingWindowUntil: absent } }
`;

/**
 * What CI systems read of JUnit XML: `testsuites` holding `testsuite`s (a `properties` first, then
 * `testcase`s), each case with a name, classname and time and at most one of failure, error,
 * skipped; every suite's `tests`, `failures`, `errors` and `skipped` equal to its children, and the
 * root's to the sums.
 * @returns the problems found (empty when the document is well formed)
 */
function junitProblems(root: XmlElement): string[] {
  const problems: string[] = [];
  const count = (e: XmlElement, attr: string) => Number(e.attributes[attr] ?? Number.NaN);
  if (root.name !== 'testsuites') problems.push(`root is <${root.name}>`);
  const sums = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  for (const suite of root.children) {
    if (suite.name !== 'testsuite') problems.push(`<${suite.name}> in <testsuites>`);
    const cases = suite.children.filter((c) => c.name === 'testcase');
    const others = suite.children.filter((c) => c.name !== 'testcase').map((c) => c.name);
    if (others.join() !== 'properties' || suite.children[0]?.name !== 'properties')
      problems.push(`suite ${suite.attributes.name}: children besides testcases: ${others.join() || 'none'}`);
    const has = (kind: string) => cases.filter((c) => c.children.some((x) => x.name === kind)).length;
    const actual = { tests: cases.length, failures: has('failure'), errors: has('error'), skipped: has('skipped') };
    for (const [k, v] of Object.entries(actual)) {
      if (count(suite, k) !== v)
        problems.push(`suite ${suite.attributes.name}: ${k}="${suite.attributes[k]}" but ${v} children say so`);
      sums[k as keyof typeof sums] += v;
    }
    for (const c of cases) {
      if (!c.attributes.name || c.attributes.classname === undefined || !/^\d+\.\d{3}$/.test(c.attributes.time ?? ''))
        problems.push(`a testcase without name, classname or time: ${JSON.stringify(c.attributes)}`);
      const kinds = c.children.map((x) => x.name);
      if (kinds.some((k) => !['failure', 'error', 'skipped', 'system-out', 'system-err'].includes(k)))
        problems.push(`testcase ${c.attributes.name}: unexpected child in ${kinds.join()}`);
      if (kinds.filter((k) => k === 'failure' || k === 'error' || k === 'skipped').length > 1)
        problems.push(`testcase ${c.attributes.name}: more than one result`);
    }
  }
  for (const [k, v] of Object.entries(sums))
    if (count(root, k) !== v) problems.push(`testsuites ${k}="${root.attributes[k]}" but the suites hold ${v}`);
  return problems;
}

test('the test XML parser is strict: raw < or &, mismatched tags, duplicate attributes and trailing content are errors', (t) => {
  const ok = parseXml(
    '<?xml version="1.0" encoding="UTF-8"?>\n<a x="1 &lt; 2 &amp; &quot;3&quot;" y=\'&#65;&#x42;\'><b/>t&apos;<c>u</c></a>\n',
  );
  t.deepEqual(ok.attributes, { x: '1 < 2 & "3"', y: 'AB' });
  t.deepEqual(
    ok.children.map((c) => c.name),
    ['b', 'c'],
  );
  t.is(ok.text, "t'");
  for (const bad of [
    '<a x="1 < 2"/>',
    '<a x="1 & 2"/>',
    '<a>1 & 2</a>',
    '<a>1 < 2</a>',
    '<a><b></a></b>',
    '<a x="1" x="2"/>',
    '<a/><b/>',
    '<a>',
    '<a x=1/>',
    '<a>&#1;</a>',
    '<a>\u0001</a>',
    '<a><!-- c --></a>',
  ])
    t.throws(() => parseXml(bad), { message: /^XML at offset \d+: / }, bad);
  // and the JUnit check can fail: a count that disagrees with the children, a stray element
  const junit = (tests: string, extra = '') =>
    parseXml(
      `<testsuites tests="${tests}" failures="0" errors="0" skipped="0"><testsuite name="s" tests="${tests}" failures="0" errors="0" skipped="0"><properties/><testcase classname="s" name="1" time="0.001"/>${extra}</testsuite></testsuites>`,
    );
  t.deepEqual(junitProblems(junit('1')), []);
  t.not(junitProblems(junit('2')).length, 0);
  t.not(junitProblems(junit('1', '<oops/>')).length, 0);
});

test.serial('a passing scenario: exit 0, one line per step, JUnit XML written', async (t) => {
  const file = scenario('pass.yaml', PASSING);
  const junit = join(dir, 'pass.xml');
  const r = await runCommand(simRunCommands, ['sim', 'run', file, '--speed', 'max', '--junit', junit]);
  t.is(r.code, 0, r.stderr + r.stdout);
  // The step starts at about 0 ms simulated: at speed max real time still moves the clock 1 ms per
  // real second (JUMP_MODE_SPEED), so a loaded machine may show 1 ms or more.
  t.regex(r.stdout, /ok +1 +\d+ ms {2}key 0: gesture hold 1 s/);
  t.regex(r.stdout, /PASSED: 3 passed of 3 steps/);
  const xml = readFileSync(junit, 'utf8');
  t.regex(xml, /<testsuite name="short hold does nothing" tests="3" failures="0" errors="0" skipped="0"/);
  const root = parseXml(xml);
  t.deepEqual(junitProblems(root), []);
  t.deepEqual(
    root.children[0]?.children.filter((c) => c.name === 'testcase').map((c) => c.attributes.name),
    [
      '01. key 0: gesture hold 1 s (outcome action = none)',
      '02. wait 10 s',
      '03. key 0: expect state lifecycle = factory, pairingWindowUntil absent',
    ],
  );
});

test.serial('--json: one JSON line with the report; a failed expectation is exit 1 and named', async (t) => {
  const file = scenario('fail.yaml', PASSING.replace('lifecycle: factory', 'lifecycle: dormant'));
  const r = await runCommand(simRunCommands, ['sim', 'run', file, '--speed', '1000', '--json']);
  t.is(r.code, 1);
  const lines = r.stdout.trim().split('\n');
  t.is(lines.length, 1);
  const j = JSON.parse(lines[0] as string);
  t.false(j.ok);
  t.is(j.report.steps[2].status, 'failed');
  t.is(j.report.steps[2].line, 6);
  t.is(j.report.steps[2].reason, 'lifecycle is factory (expected = dormant)');
  t.is(j.report.speed, 1000);
});

test.serial('a malformed scenario is exit 1 with file, line and field; nothing runs', async (t) => {
  const file = scenario(
    'bad.yaml',
    'name: bad\nsteps:\n  - wait: 1s\n  - gesture: { kind: hold, seconds: soon }\n  - fly: true\n',
  );
  const r = await runCommand(simRunCommands, ['sim', 'run', file]);
  t.is(r.code, 1);
  t.true(r.stderr.includes(`SCENARIO_INVALID: ${file}:4: steps[1].gesture.seconds must be a number ≥ 0`), r.stderr);
  t.true(r.stderr.includes(`${file}:5: steps[2].fly is not a known action`), r.stderr);
  const j = await runCommand(simRunCommands, ['sim', 'run', file, '--json']);
  const e = JSON.parse(j.stdout).error;
  t.is(e.code, 'SCENARIO_INVALID');
  t.deepEqual(
    e.issues.map((i: { line: number; path: string }) => [i.line, i.path]),
    [
      [4, 'steps[1].gesture.seconds'],
      [5, 'steps[2].fly'],
    ],
  );
  const yaml = await runCommand(simRunCommands, ['sim', 'run', scenario('syntax.yaml', 'name: x\nsteps: [\n  {wait: 1s\n')]);
  t.is(yaml.code, 1);
  t.regex(yaml.stderr, /syntax\.yaml:\d+: is not valid YAML or JSON: /);
});

test.serial('misuse is exit 2; a missing file is exit 1', async (t) => {
  const file = scenario('ok.yaml', PASSING);
  for (const argv of [
    [],
    [file, file],
    [file, '--speed', '0'],
    [file, '--speed', 'fast'],
    [file, '--speed', '200000'],
    [file, '--nope'],
  ]) {
    const r = await runCommand(simRunCommands, ['sim', 'run', ...argv]);
    t.is(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
  }
  const missing = await runCommand(simRunCommands, ['sim', 'run', join(dir, 'nope.yaml')]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /INPUT_NOT_FOUND: cannot read scenario ".*nope\.yaml": no such file or directory/);
});

test.serial('--junit: a failed step is a <failure>; an unwritable file is OUTPUT_FAILED, exit 1', async (t) => {
  const file = scenario('fail-junit.yaml', PASSING.replace('lifecycle: factory', 'lifecycle: dormant'));
  const junit = join(dir, 'fail.xml');
  const r = await runCommand(simRunCommands, ['sim', 'run', file, '--speed', 'max', '--junit', junit]);
  t.is(r.code, 1);
  t.regex(r.stdout, /FAIL +3 .*\n +lifecycle is factory \(expected = dormant\)\nFAILED: 2 passed, 1 failed of 3 steps/);
  const xml = readFileSync(junit, 'utf8');
  const root = parseXml(xml);
  t.deepEqual(junitProblems(root), []);
  t.is(root.attributes.failures, '1');
  const failed = root.children[0]?.children.find((c) => c.children.some((x) => x.name === 'failure'));
  t.is(failed?.attributes.name, '03. key 0: expect state lifecycle = dormant, pairingWindowUntil absent');
  t.deepEqual(failed?.children.find((x) => x.name === 'failure')?.attributes, {
    message: 'lifecycle is factory (expected = dormant)',
    type: 'ExpectationFailed',
  });
  const bad = await runCommand(simRunCommands, [
    'sim',
    'run',
    file,
    '--speed',
    'max',
    '--junit',
    join(dir, 'no-such-dir', 'x.xml'),
  ]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /OUTPUT_FAILED: cannot write --junit ".*x\.xml": its folder does not exist/);
});

test.serial(
  '--junit escapes <, &, and quotes in the suite name, step names and failure messages: a strict parser reads them back',
  async (t) => {
    const name = `quotes "q" & <angle> 'a'`;
    const expected = `x < y & "z" 'w'`;
    const file = scenario(
      'escape.yaml',
      `name: ${JSON.stringify(name)}\nsteps:\n  - name: ${JSON.stringify('step <1> & "one"')}\n    expect: { state: { model: ${JSON.stringify(expected)} } }\n  - wait: 1s\n`,
    );
    const junit = join(dir, 'escape.xml');
    const r = await runCommand(simRunCommands, ['sim', 'run', file, '--speed', 'max', '--junit', junit]);
    t.is(r.code, 1, r.stderr);
    const root = parseXml(readFileSync(junit, 'utf8'));
    t.deepEqual(junitProblems(root), []);
    t.deepEqual([root.attributes.tests, root.attributes.failures, root.attributes.skipped], ['2', '1', '1']);
    const suite = root.children[0];
    t.is(suite?.attributes.name, name);
    const [first, second] = suite?.children.filter((c) => c.name === 'testcase') ?? [];
    t.is(first?.attributes.name, '01. step <1> & "one"');
    t.is(first?.attributes.classname, name);
    const failure = first?.children.find((c) => c.name === 'failure');
    t.regex(failure?.attributes.message ?? '', /^model is .+ \(expected = (.*)\)$/);
    t.true(failure?.attributes.message?.endsWith(`(expected = ${expected})`), failure?.attributes.message);
    t.true(failure?.text.endsWith(`: ${failure?.attributes.message}`), failure?.text);
    t.deepEqual(
      second?.children.map((c) => c.name),
      ['skipped'],
    );
  },
);
