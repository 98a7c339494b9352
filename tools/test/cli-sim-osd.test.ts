/**
 * `enigm sim osd` (issue 14: "the simulator gets an Enigm OS daemon emulator that speaks the same
 * protocol with scriptable states"): the real CLI in a child process serves a script's states on a
 * Unix socket to the agent's daemon client and stops cleanly on SIGTERM; a bad script is refused.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queryOsd } from '@enigm/os-agent/collect';
import { killAfter, stopChild } from '@enigm/sim/testing';
import test from 'ava';
import { simOsdCommands } from '../src/commands/sim-osd.ts';
import { runCommand } from './run-command.ts';

const ENIGM = new URL('../src/enigm.ts', import.meta.url).pathname;

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const i = buf.indexOf('\n');
      if (i >= 0) resolve(buf.slice(0, i));
    });
    child.once('exit', (code) => reject(new Error(`enigm sim osd exited with ${code} before it was ready`)));
  });
}

test('enigm sim osd serves a scripted state to the daemon client and stops on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-cli-osd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, 'osd.sock');
  const script = join(dir, 'script.json');
  writeFileSync(script, JSON.stringify({ states: { privacy: { mode: 'strict' } } }));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', ENIGM, 'sim', 'osd', '--socket', socket, '--script', script, '--json'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const cancel = killAfter(child, 50_000);
  t.teardown(async () => {
    cancel();
    await stopChild(child, { graceMs: 5000 }).catch(() => undefined);
  });
  t.deepEqual(JSON.parse(await firstLine(child)), { ok: true, event: 'ready', socket });
  const answers = await queryOsd(['privacy', 'tsc'], { socketPath: socket, timeoutMs: 20_000 });
  t.like(answers.get('privacy'), { ok: true, response: { status: 'ok', state: { mode: 'strict' } } });
  t.like(answers.get('tsc'), { ok: true, response: { status: 'unavailable' } });
  t.is(await stopChild(child, { graceMs: 10_000 }), 0);
});

test.serial('a script with an unknown fault kind is refused with SIM_BAD_INPUT naming the place, exit 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-cli-osd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'bad.json');
  writeFileSync(script, JSON.stringify({ faults: [{ kind: 'explode' }] }));
  const r = await runCommand(simOsdCommands, ['sim', 'osd', '--socket', join(dir, 's.sock'), '--script', script]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /SIM_BAD_INPUT: osd script faults\[0\]: kind must be one of/);
  const usage = await runCommand(simOsdCommands, ['sim', 'osd']);
  t.is(usage.code, 2);
});
