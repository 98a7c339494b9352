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

test.serial('a passing scenario: exit 0, one line per step, JUnit XML written', async (t) => {
  const file = scenario('pass.yaml', PASSING);
  const junit = join(dir, 'pass.xml');
  const r = await runCommand(simRunCommands, ['sim', 'run', file, '--speed', 'max', '--junit', junit]);
  t.is(r.code, 0, r.stderr + r.stdout);
  t.regex(r.stdout, /ok +1 +0 ms {2}key 0: gesture hold 1 s/);
  t.regex(r.stdout, /PASSED: 3 passed of 3 steps/);
  const xml = readFileSync(junit, 'utf8');
  t.regex(xml, /<testsuite name="short hold does nothing" tests="3" failures="0" errors="0" skipped="0"/);
  t.is(xml.match(/<testcase /g)?.length, 3);
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
  t.regex(xml, /failures="1"/);
  t.regex(xml, /<failure message="lifecycle is factory \(expected = dormant\)" type="ExpectationFailed">/);
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
