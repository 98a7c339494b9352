/**
 * `enigm sim start --outbox-records N --outbox-bytes SIZE --outbox-age DURATION` (issue 12, the
 * durable outbox "bounded by count, bytes and age"; docs/mqtt-outbox.md): the flags map to each
 * simulated Key's outbox options (`maxRecords`, `maxBytes`, `maxAgeMs`); a bad value, or any of
 * them with `--no-mqtt`, is a usage error (exit 2) naming the flag, before anything is started or
 * created; a real start with them comes up and its JSON ready line shows the bounds it applied.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { killAfter, stopChild } from '@enigm/sim/testing';
import test from 'ava';
import { parseCommandArgs } from '../src/cli.ts';
import { simCommands } from '../src/commands/sim.ts';
import { outboxBounds, parseSize } from '../src/sim-outbox-options.ts';
import { runCommand } from './run-command.ts';

const ENIGM = new URL('../src/enigm.ts', import.meta.url).pathname;
const start = simCommands[0] as (typeof simCommands)[number];
const bounds = (...argv: string[]) => outboxBounds(parseCommandArgs(start, argv));

test('the outbox flags map to maxRecords, maxBytes (bytes, K, M) and maxAgeMs (seconds or units)', (t) => {
  t.is(bounds(), undefined, 'no flag: the outbox defaults');
  t.deepEqual(bounds('--outbox-records', '5'), { maxRecords: 5 });
  t.deepEqual(bounds('--outbox-bytes', '100'), { maxBytes: 100 });
  t.deepEqual(bounds('--outbox-bytes', '64K'), { maxBytes: 65_536 });
  t.deepEqual(bounds('--outbox-bytes', '16m'), { maxBytes: 16 * 1024 * 1024 });
  t.deepEqual(bounds('--outbox-bytes', '2KiB'), { maxBytes: 2048 });
  t.deepEqual(bounds('--outbox-age', '90'), { maxAgeMs: 90_000 });
  t.deepEqual(bounds('--outbox-age', '1h30m'), { maxAgeMs: 5_400_000 });
  t.deepEqual(bounds('--outbox-age', '7d', '--outbox-records', '10', '--outbox-bytes', '1M'), {
    maxRecords: 10,
    maxBytes: 1024 * 1024,
    maxAgeMs: 7 * 86_400_000,
  });
  t.is(parseSize('1024M'), 1024 * 1024 * 1024);
  for (const bad of ['', 'K', '1.5K', '-1', '1G', '1 KB', '0x10']) t.is(parseSize(bad), undefined, bad);
});

const BAD: [string[], RegExp][] = [
  [['--outbox-records', '0'], /--outbox-records must be a whole number in \[1, 10000000\], got "0"/],
  [['--outbox-records', '2.5'], /--outbox-records must be a whole number/],
  [['--outbox-records', '10000001'], /--outbox-records must be a whole number/],
  [['--outbox-bytes', '0'], /--outbox-bytes must be a size from 1 byte to 1024M/],
  [['--outbox-bytes', '1025M'], /--outbox-bytes must be a size/],
  [['--outbox-bytes', '12 bytes'], /--outbox-bytes must be a size/],
  [['--outbox-age', '0'], /--outbox-age must be a duration above 0 and at most 365d/],
  [['--outbox-age', '366d'], /--outbox-age must be a duration/],
  [['--outbox-age', 'soon'], /--outbox-age must be a duration/],
  [['--no-mqtt', '--outbox-records', '5'], /--no-mqtt excludes --outbox-records/],
  [['--no-mqtt', '--outbox-age', '1h'], /--no-mqtt excludes --outbox-age/],
];

for (const [flags, message] of BAD) {
  test.serial(`usage error, exit 2, nothing started: sim start ${flags.join(' ')}`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'enigm-sim-outbox-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const state = join(dir, 's');
    const r = await runCommand(simCommands, ['sim', 'start', '--no-serial', '--no-control', '--state-dir', state, ...flags]);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, message);
    t.false(existsSync(state), 'the state folder was not created');
  });
}

test.serial('a real start with the outbox flags comes up and its ready line shows the bounds applied', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-sim-outbox-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const args = ['sim', 'start', '--keys', '1', '--no-serial', '--no-control', '--json', '--state-dir', join(dir, 's')];
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', ENIGM, ...args, '--outbox-records', '5', '--outbox-bytes', '64K', '--outbox-age', '90s'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const cancelKill = killAfter(child, 50_000); // the last resort if the teardown never runs
  t.teardown(async () => {
    await stopChild(child, { graceMs: 10_000 });
    cancelKill();
  });
  let err = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    err = (err + s).slice(-16 * 1024);
  });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const exited = (code: number | null) => reject(new Error(`sim start exited (${code}) before it was ready:\n${err}`));
    child.once('exit', exited);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      const v = JSON.parse(l) as Record<string, unknown>;
      if (v.event === 'ready') {
        child.off('exit', exited);
        resolve(v);
      }
    });
  });
  t.deepEqual(ready.outbox, { maxRecords: 5, maxBytes: 65_536, maxAgeMs: 90_000 });
  const keys = ready.keys as { mqtt?: string }[];
  t.regex(keys[0]?.mqtt ?? '', /^mqtt:\/\/127\.0\.0\.1:\d+\/eh1-/, 'the Key has its uplink');
});
