/**
 * Issue 9 (minor findings), what the CLI tells a new user: `enigm key list` finding nothing says
 * where simulated Keys are read from and how to point it elsewhere (`--state-dir` /
 * `ENIGM_SIM_DIR`); `sim start --help` lists `--erase-ms`; `-p` is documented (top-level help and
 * each command's short options) and works as `--port`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { parseCommandArgs } from '../src/cli.ts';
import { defaultSimDir } from '../src/commands/sim.ts';
import { COMMANDS, main } from '../src/enigm.ts';
import { runCommand } from './run-command.ts';

let dir = '';
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'enigm-hints-'));
});
test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const enigm = (...argv: string[]) => runCommand([...COMMANDS], argv);

/** Runs `main` (top-level help included) capturing stdout. */
async function mainOutput(argv: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const real = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await main(argv), stdout };
  } finally {
    process.stdout.write = real;
  }
}

test.serial('key list finding nothing names the simulator file it read and hints at --state-dir / ENIGM_SIM_DIR', async (t) => {
  const r = await enigm('key', 'list', '--state-dir', dir, '--timeout', '50');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^no Keys found \(\d+ ports? probed\)\n/);
  t.true(r.stdout.includes(`simulated Keys are read from ${dir}/simulator.json`), r.stdout);
  t.regex(r.stdout, /give --state-dir D or set ENIGM_SIM_DIR/);
});

test.serial('sim start --help lists --erase-ms with what it models', async (t) => {
  const r = await enigm('sim', 'start', '--help');
  t.is(r.code, 0);
  t.regex(r.stdout, /^Usage: enigm sim start [\s\S]*\[--erase-ms MS\]/);
  t.regex(r.stdout, /\n {2}--erase-ms MS {3}model flash erase time per 4 KiB page/);
});

test.serial('-p is documented (enigm --help, each command with --port) and is --port', async (t) => {
  const top = await mainOutput(['--help']);
  t.is(top.code, 0);
  t.regex(top.stdout, /short options, e\.g\. -p for --port/);
  for (const name of ['key info', 'key ping', 'fw flash', 'fw status']) {
    const cmd = COMMANDS.find((c) => c.name === name);
    if (!cmd) return t.fail(`${name} is missing`);
    const help = await enigm(...name.split(' '), '--help');
    t.regex(help.stdout, /\n\nShort options: [^\n]*-p = --port\b/, name);
    t.is(parseCommandArgs(cmd, ['-p', 'tcp://127.0.0.1:9']).values.port, 'tcp://127.0.0.1:9', name);
  }
});

test.serial('ENIGM_SIM_DIR="" is treated as unset: the default .sim-state, not "/simulator.json"', async (t) => {
  const saved = process.env.ENIGM_SIM_DIR;
  process.env.ENIGM_SIM_DIR = '';
  try {
    t.is(defaultSimDir(), '.sim-state');
    const r = await enigm('key', 'list', '--timeout', '50');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /simulated Keys are read from \.sim-state\/simulator\.json:/);
  } finally {
    if (saved === undefined) delete process.env.ENIGM_SIM_DIR;
    else process.env.ENIGM_SIM_DIR = saved;
  }
});
