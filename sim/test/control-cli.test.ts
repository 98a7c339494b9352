/**
 * The `enigm sim …` control commands, run as the real CLI (a child process through tsx) against a
 * real simulator and its control server in this process, found through the state folder.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Simulator } from '@enigm/sim';
import { ControlServer, type DeviceEvent } from '@enigm/sim/control';
import test from 'ava';
import { killAfter, stopChild } from '../src/child-stop.ts';
import { MAX_HOLD_S } from '../src/firmware/physical/gestures.ts';
import { startCliSim } from './support/cli-sim.ts';

const enigm = fileURLToPath(new URL('../../tools/src/enigm.ts', import.meta.url));

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import=tsx', enigm, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    killAfter(p, 60_000); // a command that hangs fails its test instead of the run
    // 'close', not 'exit': after 'exit' the pipes may still hold output not yet read (seen under load)
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function running(t: import('ava').ExecutionContext) {
  const dir = await mkdtemp(join(tmpdir(), 'enigm-control-cli-'));
  const sim = await Simulator.start({ keys: 2, serial: false, stateDir: join(dir, 'state') });
  const server = await ControlServer.start(sim, { stateDir: sim.stateDir, dashboard: false });
  t.teardown(async () => {
    await server.close();
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, sim, server, sd: ['--state-dir', sim.stateDir] };
}

/** Runs the jobs two at a time, results in job order. */
async function inPairs<T extends readonly (() => Promise<unknown>)[]>(
  jobs: readonly [...T],
): Promise<{ [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
  const out: unknown[] = [];
  for (let i = 0; i < jobs.length; i += 2) out.push(...(await Promise.all(jobs.slice(i, i + 2).map((j) => j()))));
  return out as { [K in keyof T]: Awaited<ReturnType<T[K]>> };
}

test('press, battery, power, radio, usb, time and keys change the running Keys and exit 0', async (t) => {
  const { sim, sd, dir } = await running(t);
  const events: DeviceEvent[] = [];
  sim.onEvent((e) => events.push(e));
  const track = join(dir, 'track.csv');
  await writeFile(track, 'atMs,lat,lon,accuracyM\n0,48.137,11.575,5\n1000,48.138,11.576,5\n');
  // Two at a time: eight CLI processes compiled by tsx at once starve a loaded 2-core machine.
  const [press, battery, power, radio, usb, gnss, time, keys] = await inPairs([
    () => run(['sim', 'press', '--key', '0', '--gesture', 'hold', '--seconds', '8', '--json', ...sd]),
    () => run(['sim', 'battery', '--key', '1', '--level', '42', '--charging', 'on', ...sd]),
    () => run(['sim', 'power', 'off', '--key', '1', '--json', ...sd]),
    () => run(['sim', 'radio', 'no-coverage', '--key', '0', ...sd]),
    () => run(['sim', 'usb', 'on', '--key', '0', ...sd]),
    () => run(['sim', 'gnss', '--key', '0', '--track', track, ...sd]),
    () => run(['sim', 'time', '--speed', '10', ...sd]),
    () => run(['sim', 'keys', '--json'], { ENIGM_SIM_DIR: sim.stateDir }),
  ]);
  for (const r of [press, battery, power, radio, usb, gnss, time, keys]) t.is(r.code, 0, r.stderr);
  const p = JSON.parse(press.stdout) as { ok: boolean; outcome: { action: string }; state: { pairingWindowUntil?: number } };
  t.is(p.outcome.action, 'pairing-window');
  t.true(p.state.pairingWindowUntil !== undefined);
  t.regex(battery.stdout, /key 1 .*battery 42%/);
  t.is(JSON.parse(power.stdout).state.power, 'off');
  t.regex(radio.stdout, /radio no-coverage/);
  t.regex(usb.stdout, /usb attached/);
  t.regex(time.stdout, /speed ×10/);
  t.is(JSON.parse(keys.stdout).keys.length, 2);
  const s0 = sim.controls(0).state();
  t.is(s0.radio.state, 'no-coverage');
  t.true(s0.usb);
  t.is(sim.controls(1).state().power, 'off');
  t.is(sim.clock.speed, 10);
  t.true(events.some((e) => e.type === 'pairing-window' && e.key === 0));
});

test('misuse exits 2 and runtime failures exit 1, each with a clear message, and nothing changes', async (t) => {
  const { sim, sd, dir } = await running(t);
  const before = JSON.stringify([sim.controls(0).state(), sim.controls(1).state()]);
  const bad = join(dir, 'bad.csv');
  await writeFile(bad, '0,48.1,11.5\n100,48.2,11.6\n200,95,11.7\n');
  const badJson = join(dir, 'bad.json');
  await writeFile(badJson, '[{"atMs":0,"lat":1,"lon":2},\n {"atMs":5,"lat":1}]');
  const cases: [string[], number, RegExp][] = [
    [['sim', 'press', '--key', '7', ...sd], 1, /SIM_NO_SUCH_KEY: no Key "7": this simulator has Keys 0\.\.1/],
    [
      ['sim', 'press', '--key', '0', '--gesture', 'wiggle', ...sd],
      2,
      /--gesture must be one of press, double, triple, hold, hold-at-power-on/,
    ],
    [['sim', 'press', '--key', '0', '--gesture', 'hold', ...sd], 2, /needs --seconds/],
    [
      ['sim', 'press', '--key', '0', '--gesture', 'hold', '--seconds', String(MAX_HOLD_S + 1), ...sd],
      2,
      new RegExp(`--seconds must be a number in \\[0, ${MAX_HOLD_S}\\], got "${MAX_HOLD_S + 1}"`),
    ],
    [['sim', 'press', ...sd], 2, /--key N is required/],
    [['sim', 'battery', '--key', '0', '--level', '101', ...sd], 2, /--level must be a number in \[0, 100\], got "101"/],
    [['sim', 'battery', '--key', '0', '--charging', 'maybe', ...sd], 2, /--charging must be on or off/],
    [['sim', 'power', 'sideways', '--key', '0', ...sd], 2, /power must be on or off/],
    [['sim', 'radio', '--key', '0', ...sd], 2, /say on or off or no-coverage/],
    [
      ['sim', 'gnss', '--key', '0', '--track', bad, ...sd],
      1,
      /INPUT_INVALID: --track file ".*bad\.csv": line 3: lat must be a number in \[-90, 90\], got 95/,
    ],
    [
      ['sim', 'gnss', '--key', '0', '--track', badJson, ...sd],
      1,
      /INPUT_INVALID: --track file ".*bad\.json": line 2, fixes\[1\]: lon must be a number/,
    ],
    [['sim', 'gnss', '--key', '0', '--track', join(dir, 'none.csv'), ...sd], 1, /INPUT_NOT_FOUND/],
    [['sim', 'time', '--speed', '0', ...sd], 2, /--speed must be more than 0/],
    [['sim', 'keys', '--state-dir', join(dir, 'nothing-here')], 1, /CONTROL_NOT_RUNNING: no control API found/],
  ];
  const results = await inPairs(
    cases.map(
      ([args]) =>
        () =>
          run(args),
    ),
  );
  results.forEach((r, i) => {
    const [args, code, message] = cases[i] as [string[], number, RegExp];
    t.is(r.code, code, args.join(' '));
    t.regex(r.stderr, message, args.join(' '));
    t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
  });
  t.is(JSON.stringify([sim.controls(0).state(), sim.controls(1).state()]), before);
});

test('sim watch --json prints one JSON event per line; --key filters; --count stops it', async (t) => {
  const { sim, sd, server } = await running(t);
  const watch = spawn(process.execPath, ['--import=tsx', enigm, 'sim', 'watch', '--json', '--key', '1', '--count', '3', ...sd], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => stopChild(watch));
  let out = '';
  let stderr = '';
  watch.stdout.on('data', (d) => (out += d));
  watch.stderr.on('data', (d) => (stderr += d));
  let closed = false;
  const exited = new Promise<number>((r) =>
    watch.on('close', (c) => {
      closed = true;
      r(c ?? -1);
    }),
  ); // 'close': all output read
  // until the stream is open (a watch that dies first fails below instead of hanging the run)
  while (server.stats().clients === 0 && !closed) await new Promise((r) => setTimeout(r, 20));
  t.false(closed, `sim watch ended before its stream opened: ${stderr}`);
  sim.controls(0).setUsb(true); // filtered out
  sim.controls(1).setRadio('no-coverage');
  sim.controls(1).setBattery({ level: 30 });
  sim.controls(1).setUsb(true);
  t.is(await exited, 0);
  const lines = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as DeviceEvent);
  t.is(lines.length, 3);
  t.true(lines.every((e) => e.key === 1));
  t.true(lines.some((e) => e.type === 'radio' && e.state === 'no-coverage'));
});

test('enigm sim start serves the control API and prints the dashboard URL with its token', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'enigm-control-start-'));
  const cli = startCliSim(['--no-serial', '--state-dir', dir]);
  t.teardown(async () => {
    await cli.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const ready = (await cli.ready) as { control?: { url: string; dashboard: string } } | undefined;
  t.truthy(ready, cli.stderr());
  t.regex(ready?.control?.dashboard ?? '', /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{40,}$/);
  const page = await fetch(ready?.control?.dashboard ?? '');
  t.is(page.status, 200);
  t.regex(await page.text(), /<title>Enigm Key simulator<\/title>/);
  t.is((await fetch(`${ready?.control?.url}/api/keys`)).status, 401);
  const keys = await run(['sim', 'keys', '--json', '--state-dir', dir]);
  t.is(keys.code, 0, keys.stderr);
  t.is(JSON.parse(keys.stdout).keys.length, 1);
  // a second simulator on the same control port: exit 1, a clear code, its own state folder released
  const port = new URL(ready?.control?.url ?? '').port;
  const other = await mkdtemp(join(tmpdir(), 'enigm-control-start-'));
  t.teardown(() => rm(other, { recursive: true, force: true }));
  const second = await run(['sim', 'start', '--no-serial', '--control-port', port, '--state-dir', other]);
  t.is(second.code, 1);
  t.regex(second.stderr, new RegExp(`CONTROL_PORT_IN_USE: the control port 127\\.0\\.0\\.1:${port} is taken`));
  t.false(existsSync(join(other, 'simulator.lock')), 'the second simulator released its state folder');
  t.is((await fetch(`${ready?.control?.url}/api/keys`)).status, 401, 'the first one still serves');
  const off = await run(['sim', 'start', '--no-control', '--control-port', '5', '--state-dir', dir]);
  t.is(off.code, 2);
  t.regex(off.stderr, /--no-control excludes --control-port/);
});

test('enigm sim start (human output) prints "Dashboard: http://127.0.0.1:PORT/?token=…" and that page is served', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'enigm-control-start-'));
  const p = spawn(process.execPath, ['--import=tsx', enigm, 'sim', 'start', '--no-serial', '--no-mqtt', '--state-dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(async () => {
    await stopChild(p);
    await rm(dir, { recursive: true, force: true });
  });
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  const line = await new Promise<string | undefined>((resolve) => {
    const lines = createInterface({ input: p.stdout });
    lines.on('line', (l) => {
      if (l.startsWith('Dashboard:')) resolve(l);
    });
    p.once('exit', () => resolve(undefined));
  });
  t.truthy(line, stderr);
  const m = /^Dashboard: (http:\/\/127\.0\.0\.1:(\d+)\/\?token=[\w-]{40,})$/.exec(line ?? '');
  t.truthy(m, line);
  const control = JSON.parse(await readFile(join(dir, 'control.json'), 'utf8')) as { dashboard: string; port: number };
  t.is(m?.[1], control.dashboard, 'the printed URL is the one in control.json');
  t.is(Number(m?.[2]), control.port);
  const page = await fetch(m?.[1] ?? '');
  t.is(page.status, 200);
  t.regex(await page.text(), /<title>Enigm Key simulator<\/title>/);
});
