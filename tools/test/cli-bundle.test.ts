/**
 * Checks the bundled CLI as a user who copied `dist/enigm.mjs` somewhere else has it (issue 9):
 * it runs from a folder outside the repository with no node_modules — `--help`, `--version`,
 * `cbor decode`, `cose keygen` — because native addons load only when a serial port is opened;
 * opening one there fails with a stable code and a hint (exit 1), not ERR_MODULE_NOT_FOUND.
 * Also: a reader that closes stdout early (`| head -1`) ends the CLI quietly, without a stack
 * trace; every group name lists its commands; the bundled `sim start` tells the user to type
 * `enigm key info …` (from the sources: `npm run enigm -- key info …`).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { stopChild } from '@enigm/sim/testing';
import test from 'ava';
import { cliInvocation } from '../src/cli.ts';
import { type Bundle, buildBundle, REPO_ROOT } from './bundle.ts';

const exec = promisify(execFile);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let bundle: Bundle | undefined;

test.before(async () => {
  bundle = await buildBundle('outside');
});

test.after.always(() => bundle?.remove());

/** Runs the copied bundle with its own folder as the working directory. */
async function enigm(...args: string[]): Promise<Run> {
  const cli = bundle?.cli as string;
  try {
    const r = await exec(process.execPath, [cli, ...args], { cwd: dirname(cli), timeout: 30_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

test('the bundle lies outside the repository, with no node_modules above it', (t) => {
  const cli = bundle?.cli as string;
  t.false(cli.startsWith(REPO_ROOT));
  for (let d = dirname(cli); d !== dirname(d); d = dirname(d)) t.false(existsSync(join(d, 'node_modules', '@serialport')), d);
});

test('a copied bundle runs --help, --version, cbor decode and cose keygen', async (t) => {
  const help = await enigm('--help');
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /cbor decode/);
  t.regex(help.stdout, /ENIGM_HOME .*\n.*default ~\/\.config\/enigm/);
  const version = await enigm('--version');
  t.is(version.code, 0, version.stderr);
  t.is(version.stdout, `enigm ${JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version}\n`);
  const cbor = await enigm('cbor', 'decode', '83010203');
  t.is(cbor.code, 0, cbor.stderr);
  t.is(cbor.stdout, '[1, 2, 3]\n');
  const keygen = await enigm('cose', 'keygen', '--out', 'k', '--json');
  t.is(keygen.code, 0, keygen.stderr);
  t.true(JSON.parse(keygen.stdout).ok);
});

test('opening a serial port from a copied bundle fails with SERIAL_UNAVAILABLE and a hint (exit 1)', async (t) => {
  const r = await enigm('key', 'info', '--port', '/dev/ttyKEY-does-not-matter', '--json');
  t.is(r.code, 1, r.stderr);
  t.notRegex(r.stderr, /ERR_MODULE_NOT_FOUND|\n\s+at /);
  t.regex(r.stderr, /SERIAL_UNAVAILABLE: .*@serialport\/bindings-cpp.*tcp:\/\//);
});

test('a closed stdout (| head -1) ends the CLI quietly: no EPIPE stack trace', async (t) => {
  const input = join(dirname(bundle?.cli as string), 'many.cbor');
  writeFileSync(input, Buffer.alloc(200_000, 0x01)); // 200,000 items: one line each
  const child = spawn(process.execPath, [bundle?.cli as string, 'cbor', 'decode', '--file', input], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  child.stdout.once('data', () => child.stdout.destroy()); // the reader goes away after one chunk
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  t.is(stderr, '');
  t.is(code, 1);
});

test('a group name alone lists its commands (exit 2); with --help exit 0', async (t) => {
  for (const group of ['key', 'fw', 'sim', 'attest', 'cose', 'cbor']) {
    const r = await enigm(group);
    t.is(r.code, 2, group);
    t.notRegex(r.stderr, /unknown command/);
    t.regex(r.stderr, new RegExp(`Usage: enigm ${group} <command>[\\s\\S]*\\n  ${group} \\w+`));
    const h = await enigm(group, '--help');
    t.is(h.code, 0);
    t.regex(h.stdout, new RegExp(`\\n  ${group} \\w+`));
  }
  const unknown = await enigm('key', 'bogus');
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown command 'key bogus'[\s\S]*key info/);
});

test('the bundled sim start suggests "enigm key info …" (not npm run, which means nothing to an installed CLI)', async (t) => {
  const state = mkdtempSync(join(tmpdir(), 'enigm-bundle-sim-'));
  const child = spawn(
    process.execPath,
    [bundle?.cli as string, 'sim', 'start', '--no-serial', '--no-mqtt', '--no-control', '--state-dir', state],
    { cwd: dirname(bundle?.cli as string), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(async () => {
    await stopChild(child);
    rmSync(state, { recursive: true, force: true });
  });
  let stdout = '';
  const shown = await new Promise<boolean>((resolve) => {
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (stdout.includes('Press Ctrl-C')) resolve(true);
    });
    child.once('exit', () => resolve(false));
  });
  t.true(shown, stdout);
  t.regex(stdout, /\nTry: {2}enigm key info --port tcp:\/\/127\.0\.0\.1:\d+\n/);
  t.notRegex(stdout, /npm run/);
});

test('from the sources the hint is npm run enigm --; from a bundle or an install, enigm', (t) => {
  t.is(cliInvocation(), 'npm run enigm --');
  t.is(cliInvocation('file:///repo/tools/src/cli.ts'), 'npm run enigm --');
  t.is(cliInvocation('file:///usr/lib/node_modules/enigm/dist/enigm.mjs'), 'enigm');
});
