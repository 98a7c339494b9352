/**
 * Issue 9 (logging): `--log-level L | --verbose` on every long-running command. Walks the CLI's
 * command table: each command that runs until interrupted (its help says so) or for minutes is
 * flagged `longRunning`; each flagged command lists both options in its `--help` (exit 0), accepts
 * them, and refuses an unknown level or `--verbose` with another level with exit 2 and a clear
 * message. Then the shared stderr logger and the posture agent's JSON sink drop what is above the
 * level asked for.
 */

import { jsonLogSink, type LogLine } from '@enigm/os-agent/service';
import test from 'ava';
import { parseCommandArgs, stderrLogger } from '../src/cli.ts';
import { linkDiagnostics } from '../src/commands/key-connect.ts';
import { COMMANDS } from '../src/enigm.ts';
import { runCommand } from './run-command.ts';

/** Commands that run for long: until Ctrl-C, or for minutes (a flash at UART speed, a scenario). */
const EXPECTED = [
  'sim start',
  'sim run',
  'sim watch',
  'sim osd',
  'key events',
  'fw flash',
  'events watch',
  'posture agent',
  'posture watch',
];

/** What a help text says when the command runs until it is stopped. */
const RUNS_UNTIL_STOPPED = /\(foreground\)|until (Ctrl-C|interrupted|SIGTERM)|Runs until|runs until/;

const flagged = COMMANDS.filter((c) => c.longRunning === true);

test('every long-running command is flagged: the known ones and any whose help says it runs until stopped', (t) => {
  const names = flagged.map((c) => c.name);
  for (const name of EXPECTED) t.true(names.includes(name), `${name} is not flagged longRunning`);
  for (const c of COMMANDS)
    if (RUNS_UNTIL_STOPPED.test(`${c.summary}\n${c.help}`)) t.true(c.longRunning, `${c.name} runs until stopped`);
});

test.serial('each long-running command lists --log-level and --verbose in --help and accepts them', async (t) => {
  for (const c of flagged) {
    const argv = c.name.split(' ');
    const help = await runCommand([...COMMANDS], [...argv, '--help']);
    t.is(help.code, 0, `${c.name} --help: ${help.stderr}`);
    t.regex(help.stdout, /--log-level L\b/, `${c.name} --help lists --log-level`);
    t.regex(help.stdout, /--verbose\b/, `${c.name} --help lists --verbose`);
    t.regex(help.stdout, /silent, error, warn, info, debug/, `${c.name} --help lists the levels`);
    // Accepted by the parser (the command itself is not run: it would start servers).
    t.is(parseCommandArgs(c, ['--log-level', 'debug']).values['log-level'], 'debug', c.name);
    t.is(parseCommandArgs(c, ['--verbose']).values.verbose, true, c.name);
    t.is(parseCommandArgs(c, ['--verbose', '--log-level=debug']).values.verbose, true, c.name);
  }
});

test.serial('a bad --log-level, or --verbose with another level, exits 2 naming the levels', async (t) => {
  for (const c of flagged) {
    const argv = c.name.split(' ');
    const bad = await runCommand([...COMMANDS], [...argv, '--log-level', 'loud']);
    t.is(bad.code, 2, `${c.name}: ${bad.stderr}`);
    t.true(
      bad.stderr.startsWith(
        `enigm ${c.name}: --log-level must be one of silent, error, warn, info, debug, got "loud"\nTry 'enigm ${c.name} --help'.`,
      ),
      bad.stderr,
    );
    t.is(bad.stdout, '');
    const both = await runCommand([...COMMANDS], [...argv, '--verbose', '--log-level', 'warn']);
    t.is(both.code, 2, `${c.name}: ${both.stderr}`);
    t.regex(both.stderr, /--verbose is --log-level debug; it does not go with --log-level warn/);
    const missing = await runCommand([...COMMANDS], [...argv, '--log-level']);
    t.is(missing.code, 2, `${c.name}: ${missing.stderr}`);
  }
});

// Serial: runCommand replaces the process's stdout and stderr while it runs (run-command.ts).
test.serial('a command that is not long-running does not take --log-level', async (t) => {
  const r = await runCommand([...COMMANDS], ['cbor', 'decode', '--log-level', 'debug', '-']);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /--log-level/);
});

test('stderrLogger writes the lines at its level and below, nothing above', (t) => {
  const lines: string[] = [];
  const log = stderrLogger('warn', (l) => lines.push(l));
  log.error('e');
  log.warn('w');
  log.info('i');
  log.debug('d');
  t.deepEqual(lines, ['e\n', 'w\n']);
  const all: string[] = [];
  const debug = stderrLogger('debug', (l) => all.push(l));
  for (const m of ['error', 'warn', 'info', 'debug'] as const) debug[m](m);
  t.is(all.length, 4);
  const none: string[] = [];
  const silent = stderrLogger('silent', (l) => none.push(l));
  silent.error('x');
  t.deepEqual(none, []);
});

test('posture agent: jsonLogSink keeps the events at the level asked for and labels each', (t) => {
  const events: LogLine[] = [
    { event: 'report-failed', code: 'TPM_FAILED' },
    { event: 'broker-retry', delayMs: 1000, code: 'MQTT_CONNECT_FAILED' },
    { event: 'report', seq: 3 },
    { event: 'broker-delivered', pending: 0 },
    { event: 'certificate', status: 'expired', daysLeft: -1 },
  ];
  const at = (level: Parameters<typeof jsonLogSink>[0]) => {
    const out: { level: string; event: string }[] = [];
    const sink = jsonLogSink(level, (text) => out.push(JSON.parse(text)));
    for (const e of events) sink(e);
    return out.map((o) => `${o.level}:${o.event}`);
  };
  t.deepEqual(at('silent'), []);
  t.deepEqual(at('error'), ['error:report-failed']);
  t.deepEqual(at('warn'), ['error:report-failed', 'warn:broker-retry', 'warn:certificate']);
  t.deepEqual(at('info'), ['error:report-failed', 'warn:broker-retry', 'info:report', 'warn:certificate']);
  t.is(at('debug').length, 5);
});

test('--verbose link diagnostics count every connection of the command (fw flash reconnects after the test boot)', (t) => {
  const last = { framesSent: 5, framesReceived: 5, badFrames: 0, strayResponses: 0, retries: 0, keepalives: 0 };
  const client = { transportDescription: 'serial:/dev/ttyKEY0', linkBytesPerSecond: 11_520, stats: last };
  const both = {
    framesSent: 130,
    framesReceived: 129,
    badFrames: 1,
    strayResponses: 0,
    retries: 2,
    keepalives: 3,
    connections: 2,
  };
  const line = linkDiagnostics({ client, linkTotals: both } as unknown as Parameters<typeof linkDiagnostics>[0], 24_000);
  t.is(
    line,
    'link serial:/dev/ttyKEY0: 24.0 s, 11520 B/s, frames sent 130, received 129, bad 1, stray 0, retries 2, keepalives 3 (over 2 connections)\n',
  );
  const one = linkDiagnostics(
    { client, linkTotals: { ...last, connections: 1 } } as unknown as Parameters<typeof linkDiagnostics>[0],
    1000,
  );
  t.regex(one, /frames sent 5, received 5, .*keepalives 0\n$/);
  t.notRegex(one, /connections/);
});
