/**
 * Flashing at UART speed with the defaults, as a user does it (issue 9 finding 1): the bundled
 * CLI, run from a folder outside the repository, against `enigm sim start --baud 115200` (the
 * simulator models the serial link as a 115200-baud UART on a real pseudo-terminal). No option is
 * tuned: no --timeout, no --baud.
 *
 * 1. A 256 KiB image (security counter 2) flashes in one run from the first byte to confirmed,
 *    with nothing resent: the default flash the issue asks for, uninterrupted.
 * 2. Another 256 KiB image (counter 3) flashed with `enigm fw flash` is killed (SIGKILL) a quarter
 *    of the way in; `enigm key ping` right after answers at once (no dead time behind queued
 *    bytes); `enigm fw flash` again resumes where the Key stopped and completes: upload,
 *    test-boot, health, confirm.
 *
 * The slow tests of the suite (~25 s and ~30 s: 256 KiB at 11,520 bytes/s); their budgets wait on
 * the CLI's own output and exit, never on a clock. They run in this order (serial); each passes
 * alone too (`--match`): both counters are above the factory image's.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { hasSocat } from '@enigm/sim';
import { stopChild } from '@enigm/sim/testing';
import test from 'ava';
import { type Bundle, buildBundle } from './bundle.ts';
import { signFirmware } from './cli-steps.ts';

const exec = promisify(execFile);
const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;
const IMAGE = 256 * 1024;

let bundle: Bundle | undefined;
let sim: ChildProcess | undefined;
/** The working folder: outside the repository (the system temp folder). */
let work = '';
let port = '';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const env = () => ({ ...process.env, ENIGM_HOME: join(work, 'home') });

async function enigm(...args: string[]): Promise<Run> {
  try {
    const r = await exec(process.execPath, [bundle?.cli as string, ...args], { cwd: work, env: env() });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

test.before(async () => {
  if (!hasSocat()) return;
  bundle = await buildBundle('repo');
  work = mkdtempSync(join(tmpdir(), 'enigm-flash-uart-'));
  sim = spawn(
    process.execPath,
    [bundle.cli, 'sim', 'start', '--keys', '1', '--baud', '115200', '--state-dir', join(work, 'st'), '--json'],
    { cwd: work, env: env(), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const started = sim;
  const ready = await new Promise<{ keys: { serial: string }[] }>((resolve, reject) => {
    const exited = (code: number | null) => reject(new Error(`simulator exited (${code}) before it was ready`));
    started.once('exit', exited);
    createInterface({ input: started.stdout as NodeJS.ReadableStream }).once('line', (l) => {
      started.off('exit', exited);
      resolve(JSON.parse(l));
    });
  });
  port = ready.keys[0]?.serial as string;
  // Pairing and the two signed images, here so they do not count in the tests' time.
  const pair = await enigm('key', 'pair', '--port', port);
  if (pair.code !== 0) throw new Error(`key pair: ${pair.stderr}`);
  await signImage('once.ekfw', '2.0.0', 2, 0);
  await signImage('fw.ekfw', '3.0.0', 3, 0x5a);
});

test.after.always(async () => {
  if (sim) await stopChild(sim);
  if (work) rmSync(work, { recursive: true, force: true });
  bundle?.remove();
});

/** Runs `fw flash --json` and kills it once the Key has acknowledged `killAt` bytes. */
function flashUntil(image: string, killAt: number): Promise<{ acked: number; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, [bundle?.cli as string, 'fw', 'flash', '--port', port, image, '--json'], {
    cwd: work,
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let acked = 0;
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
    const e = JSON.parse(l) as { event?: string; acked?: number };
    if (e.event === 'progress' && (e.acked ?? 0) >= killAt && acked < killAt) {
      acked = e.acked ?? 0;
      child.kill('SIGKILL');
    }
  });
  return new Promise((resolve, reject) =>
    child.once('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ acked, signal });
      else reject(new Error(`fw flash ended (${code}) before it was killed: ${stderr}`));
    }),
  );
}

/** Writes a 256 KiB payload (its bytes depend on `seed`) and signs it with the simulator's key. */
async function signImage(out: string, version: string, counter: number, seed: number): Promise<void> {
  writeFileSync(
    join(work, `${out}.bin`),
    new Uint8Array(IMAGE).map((_, i) => (Math.imul(i, 2654435761) >>> 24) ^ (seed & 0xff)),
  );
  const signed = await signFirmware(enigm, {
    key: join(work, 'st', 'fw-signing.key'),
    version,
    counter,
    out,
    payload: `${out}.bin`,
  });
  if (signed.code !== 0) throw new Error(`fw sign ${out}: ${signed.stderr}`);
}

realTest('a 256 KiB image flashes at 115200 baud in one run with the defaults, nothing resent', async (t) => {
  const once = await enigm('fw', 'flash', '--port', port, 'once.ekfw', '--json');
  t.is(once.code, 0, once.stderr);
  const events = jsonLines(once.stdout);
  const whole = events.find((e) => e.event === 'uploaded') as unknown as Uploaded;
  t.deepEqual([whole.resumedFrom, whole.bytes], [0, IMAGE], 'the whole image in this run');
  t.is(whole.resent, 0, 'nothing was sent twice: no request timed out');
  t.deepEqual(
    events.filter((e) => e.event === 'step').map((e) => e.step),
    ['upload', 'finish', 'test', 'health', 'confirm'],
  );
  const done = events.at(-1) as { ok?: boolean; done?: string; securityCounter?: number };
  t.deepEqual([done.ok, done.done, done.securityCounter], [true, 'confirm', 2]);
});

realTest('a 256 KiB flash killed at 25 %: the Key answers at once, and the default flash resumes and completes', async (t) => {
  const killed = await flashUntil('fw.ekfw', IMAGE / 4);
  t.true(killed.acked >= IMAGE / 4);
  // Usable at once: the Key still has the killed run's window of chunks to take in, and the
  // default per-request timeout with its retries covers that without any option.
  const ping = await enigm('key', 'ping', '--port', port, '--count', '1', '--json');
  t.is(ping.code, 0, ping.stderr);

  const flash = await enigm('fw', 'flash', '--port', port, 'fw.ekfw', '--json');
  t.is(flash.code, 0, flash.stderr);
  const events = jsonLines(flash.stdout);
  const uploaded = events.find((e) => e.event === 'uploaded') as unknown as Uploaded;
  t.true(uploaded.resumedFrom >= IMAGE / 4, `resumed from ${uploaded.resumedFrom}`);
  t.is(uploaded.resumedFrom + uploaded.bytes, IMAGE);
  t.is(uploaded.resent, 0, 'nothing was sent twice: no request timed out');
  const last = events.at(-1) as { ok?: boolean; done?: string };
  t.deepEqual([last.ok, last.done], [true, 'confirm']);

  const status = await enigm('fw', 'status', '--port', port, '--json');
  t.is(status.code, 0, status.stderr);
  const st = JSON.parse(status.stdout.trim().split('\n').at(-1) as string) as { status: { running: { version: string } } };
  t.is(st.status.running.version, '3.0.0');
});

/** What `fw flash --json` reports when the upload ends. */
interface Uploaded {
  resumedFrom: number;
  bytes: number;
  resent: number;
}

/** The JSON lines of a `--json` run. */
function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
