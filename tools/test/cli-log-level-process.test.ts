/**
 * Issue 9 (logging), end to end: `--log-level` filters what a long-running command writes on
 * stderr in its own process (the CLI from source through tsx). `enigm sim start` at warn writes no
 * info line (its Keys' "tcp ready"), at info and by default it does; `enigm events watch` against
 * the simulator's embedded broker (one Key's retained status, `--count 1`) at warn writes neither
 * its "watching" line (info) nor the per-message line (debug), at info the first only, with
 * --verbose both. Each child is stopped with a bounded wait; the tests wait on the children's
 * output or exit, never on a clock.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Simulator } from '@enigm/sim';
import { killAfter, stopChild } from '@enigm/sim/testing';
import test, { type ExecutionContext } from 'ava';

const ENIGM = new URL('../src/enigm.ts', import.meta.url).pathname;

/** `enigm ARGS` as a child process; stopped (bounded) in the teardown. */
function enigm(t: ExecutionContext, args: readonly string[]): { child: ChildProcess; stderr: () => Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', ENIGM, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const cancelKill = killAfter(child, 50_000); // the last resort if the teardown never runs
  t.teardown(async () => {
    await stopChild(child, { graceMs: 10_000 });
    cancelKill();
  });
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  const closed = new Promise<void>((resolve) => child.stderr?.once('close', resolve));
  return { child, stderr: () => closed.then(() => err) };
}

/** The exit code of `child` (or its signal). */
const exited = (child: ChildProcess) =>
  new Promise<number | string>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? (child.signalCode as string));
    else child.once('exit', (code, sig) => resolve(code ?? (sig as string)));
  });

/**
 * Runs `enigm sim start --keys 1 --no-serial … --json EXTRA` until its ready line, stops it
 * (SIGTERM, bounded) and returns all it wrote on stderr.
 */
async function simStartStderr(t: ExecutionContext, extra: readonly string[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-log-level-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const args = ['sim', 'start', '--keys', '1', '--no-serial', '--no-control', '--no-mqtt', '--state-dir', dir, '--json'];
  const { child, stderr } = enigm(t, [...args, ...extra]);
  const ended = exited(child);
  const ready = await new Promise<boolean>((resolve) => {
    void ended.then(() => resolve(false));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      if (l.includes('"event":"ready"')) resolve(true);
    });
  });
  if (!ready) t.fail(`sim start exited (${await ended}) before it was ready:\n${await stderr()}`);
  await stopChild(child, { graceMs: 10_000 }); // throws if it needed SIGKILL
  // SIGTERM right after the ready line is a clean stop (exit 0), never the default kill mid-start
  t.is(await ended, 0, 'a SIGTERM sent at the ready line stops the simulator cleanly');
  return stderr();
}

/** A log line of the simulator's logger at `level` ("<ISO time> <level> <message>"). */
const atLevel = (level: string) => new RegExp(`^\\S+Z ${level} `, 'm');

test('sim start --log-level warn: no info line on stderr (no "tcp ready")', async (t) => {
  const err = await simStartStderr(t, ['--log-level', 'warn']);
  t.notRegex(err, /tcp ready/, err);
  t.notRegex(err, atLevel('info'), err);
  t.notRegex(err, atLevel('debug'), err);
  t.regex(err, /WARNING: simulator only/, 'warnings still go out');
});

test('sim start --log-level info, and by default: the info lines are there ("tcp ready")', async (t) => {
  for (const extra of [['--log-level', 'info'], []]) {
    const err = await simStartStderr(t, extra);
    t.regex(err, /^\S+Z info +key 0: tcp ready/m, `${extra.join(' ') || 'default'}: ${err}`);
    t.notRegex(err, atLevel('debug'), err);
  }
});

test('events watch against the embedded broker: warn hides "watching" (info) and the per-message line (debug); info shows the first, --verbose both', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-log-level-events-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sim = await Simulator.start({ keys: 1, mqtt: true, serial: false, tcp: false, stateDir: join(dir, 'sim') });
  t.teardown(() => sim.stop());
  const url = sim.broker?.url as string;
  // The Key's retained status is the one message: --count 1 ends the watch on it.
  const watch = async (extra: readonly string[]) => {
    const { child, stderr } = enigm(t, ['events', 'watch', '--broker', url, '--channel', 'status', '--count', '1', ...extra]);
    const code = await exited(child);
    const err = await stderr();
    t.is(code, 0, err);
    t.regex(err, /events watch: 1 message shown/, 'the summary goes out at every level');
    return err;
  };
  const warn = await watch(['--log-level', 'warn']);
  t.notRegex(warn, /^watching mqtt:/m, warn);
  t.notRegex(warn, /events watch: status message/, warn);
  const info = await watch(['--log-level', 'info']);
  t.regex(info, /^watching mqtt:.*\(Ctrl-C to stop\)$/m, info);
  t.notRegex(info, /events watch: status message/, info);
  const debug = await watch(['--verbose']);
  t.regex(debug, /^watching mqtt:/m, debug);
  t.regex(debug, /^events watch: status message/m, debug);
});
