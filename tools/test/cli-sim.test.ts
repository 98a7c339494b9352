/**
 * `enigm sim start` failing before it starts anything (issue 9, minor findings: run-time failures
 * exit 1 with a stable code; hints name real flags): a missing `--trust-fw-key` file and a
 * missing socat.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { simCommands } from '../src/commands/sim.ts';
import { runCommand } from './run-command.ts';

test.serial('a missing --trust-fw-key file is INPUT_NOT_FOUND, exit 1, and nothing is started', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-cli-sim-'));
  try {
    const r = await runCommand(simCommands, [
      'sim',
      'start',
      '--no-serial',
      '--state-dir',
      join(dir, 's'),
      '--trust-fw-key',
      join(dir, 'nope.pem'),
    ]);
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, /INPUT_NOT_FOUND: cannot read --trust-fw-key ".*nope\.pem": no such file or directory/);
    t.notRegex(r.stderr, /ENOENT: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.serial('without socat, serial ports are refused with SIM_SOCAT_MISSING naming --no-serial, exit 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-cli-sim-'));
  const path = process.env.PATH;
  process.env.PATH = join(dir, 'empty-bin');
  try {
    const r = await runCommand(simCommands, ['sim', 'start', '--state-dir', join(dir, 's')]);
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, /SIM_SOCAT_MISSING: .*--no-serial/);
    t.notRegex(r.stderr, /serial: false'?$/m);
    t.deepEqual(readdirSync(dir), [], 'nothing was created before the check');
  } finally {
    process.env.PATH = path;
    rmSync(dir, { recursive: true, force: true });
  }
});
