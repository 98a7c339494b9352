/**
 * Spec: issue 14 "the simulator gets an Enigm OS daemon emulator that speaks the same protocol with
 * scriptable states" — strict scripts (every bad field refused with SIM_BAD_INPUT naming its
 * place), the connection bound, the stale-socket rule, and garbage from a client never stopping it
 * from serving the next one (fuzzed over a real Unix socket).
 */
import { spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DAEMON_PROTOCOL_VERSION,
  DaemonFrameReader,
  decodeDaemonResponse,
  encodeDaemonRequest,
  frameDaemonPayload,
} from '@enigm/protocols/posture';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { OSD_HEALTHY_STATES, OsdEmulator, parseOsdScript } from '../src/osd/index.ts';
import { SimulatorError } from '../src/runtime/errors.ts';
import { createLogger } from '../src/runtime/log.ts';
import { stopChild } from '../src/testing.ts';

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'osd-emu-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a full script parses to itself', (t) => {
  const script = {
    states: { ...OSD_HEALTHY_STATES, ota: { unavailable: 'no channel' }, mdm: { error: 'internal' } },
    faults: [{ kind: 'slow', delayMs: 10, queries: ['tsc'], times: 2 }],
    steps: [
      { afterMs: 5, states: { tsc: { level: 'at-risk' } } },
      { afterMs: 5, faults: [] },
    ],
  };
  t.deepEqual(parseOsdScript(script), script);
  t.deepEqual(parseOsdScript(parseOsdScript(script)), script);
});

const BAD: [string, unknown, RegExp][] = [
  ['not an object', [], /osd script : expected an object/],
  ['unknown top-level field', { state: {} }, /top level: unknown field "state"/],
  ['unknown query', { states: { gps: {} } }, /states: unknown query "gps"/],
  ['bad enum value', { states: { tsc: { level: 'fine' } } }, /states\.tsc: osd\.tsc\.level \(key 1\): missing/],
  [
    'wrong field type',
    { states: { network: { ...OSD_HEALTHY_STATES.network, proxy: 'no' } } },
    /states\.network: .*proxy.*expected bool/,
  ],
  ['extra state field', { states: { mdm: { state: 'enrolled', server: 'mdm.example' } } }, /states\.mdm: unknown field "server"/],
  ['reason too long', { states: { ota: { unavailable: 'x'.repeat(121) } } }, /states\.ota: unavailable must be text/],
  ['unknown fault kind', { faults: [{ kind: 'explode' }] }, /faults\[0\]: kind must be one of/],
  ['delay on a non-slow fault', { faults: [{ kind: 'close', delayMs: 5 }] }, /faults\[0\]: delayMs only goes with kind slow/],
  ['slow without delay', { faults: [{ kind: 'slow' }] }, /faults\[0\]\.delayMs: expected an integer/],
  ['steps out of order', { steps: [{ afterMs: 10 }, { afterMs: 5 }] }, /steps\[1\]\.afterMs/],
  ['fault query unknown', { faults: [{ kind: 'close', queries: ['gps'] }] }, /faults\[0\]: queries must be a list/],
];

for (const [name, script, message] of BAD) {
  test(`a script with ${name} is refused with SIM_BAD_INPUT naming the place`, (t) => {
    const err = t.throws(() => parseOsdScript(script), { instanceOf: SimulatorError });
    t.is(err?.code, 'SIM_BAD_INPUT');
    t.regex(err?.message ?? '', message);
  });
}

/** One request/response over a fresh connection. */
function ask(path: string, query: 'tsc' | 'mdm'): Promise<ReturnType<typeof decodeDaemonResponse> | 'closed'> {
  return new Promise((resolve) => {
    const s = createConnection({ path }, () =>
      s.write(frameDaemonPayload(encodeDaemonRequest({ version: DAEMON_PROTOCOL_VERSION, id: 9, query }))),
    );
    const reader = new DaemonFrameReader();
    s.on('data', (d: Buffer) => {
      const [p] = reader.push(d);
      if (p) {
        s.destroy();
        resolve(decodeDaemonResponse(p));
      }
    });
    s.on('error', () => {});
    s.on('close', () => resolve('closed'));
  });
}

test('fuzz: garbage from a client closes that connection at most; the next client is served', async (t) => {
  const emu = await OsdEmulator.start({ socketPath: join(tempDir(t), 'o.sock'), script: { states: OSD_HEALTHY_STATES } });
  t.teardown(() => emu.close());
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 128 }), async (garbage) => {
      await new Promise<void>((resolve) => {
        const s = createConnection({ path: emu.socketPath }, () => s.end(garbage));
        s.on('error', () => {});
        s.on('close', () => resolve());
        s.resume();
      });
      const r = await ask(emu.socketPath, 'tsc');
      t.like(r, { status: 'ok', state: { level: 'secure' } });
    }),
    { numRuns: 30 },
  );
});

test('connections over the bound are closed at once; those within it are served; the log says so, by number only', async (t) => {
  const lines: string[] = [];
  const emu = await OsdEmulator.start({
    socketPath: join(tempDir(t), 'o.sock'),
    script: { states: OSD_HEALTHY_STATES },
    maxConnections: 1,
    log: createLogger('debug', (l) => lines.push(l.replace(/^\S+ \S+\s+/, '').trimEnd())),
  });
  t.teardown(() => emu.close());
  const held = createConnection({ path: emu.socketPath });
  held.on('error', () => {});
  t.teardown(() => held.destroy());
  await new Promise((r) => held.once('connect', r));
  // wait until the emulator has counted the held connection (20 s at most on a loaded machine)
  const counted = Date.now() + 20_000;
  while (emu.stats().connections < 1 && Date.now() < counted) await new Promise((r) => setTimeout(r, 10));
  t.is(await ask(emu.socketPath, 'mdm'), 'closed');
  t.is(emu.stats().refused, 1);
  held.destroy();
  let served: unknown = 'closed';
  const freed = Date.now() + 20_000; // until the emulator has seen the held one close
  while (served === 'closed' && Date.now() < freed) {
    await new Promise((r) => setTimeout(r, 10));
    served = await ask(emu.socketPath, 'mdm');
  }
  t.like(served, { status: 'ok', state: { state: 'enrolled' } });
  t.is(lines[0], 'osd: connection 1 opened');
  t.true(lines.includes('osd: connection refused: 1 already open'), lines.join('\n'));
  t.true(lines.includes('osd: connection 1 closed'), lines.join('\n'));
  t.true(
    lines.every((l) => /^osd: connection (\d+ (opened|closed)|refused: 1 already open)$/.test(l)),
    lines.join('\n'),
  );
});

test('replace removes a stale socket (left by a daemon killed with SIGKILL) but never a regular file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'o.sock');
  const child = spawn(
    process.execPath,
    ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  t.teardown(() => stopChild(child, { signal: 'SIGKILL', graceMs: 5000 }).then(() => undefined));
  await new Promise((resolve) => child.stdout?.once('data', resolve));
  await stopChild(child, { signal: 'SIGKILL', graceMs: 5000 });
  t.true(lstatSync(path).isSocket(), 'the killed daemon left its socket file');
  await t.throwsAsync(() => OsdEmulator.start({ socketPath: path }), { code: 'EADDRINUSE' });
  writeFileSync(join(dir, 'plain'), 'x');
  await t.throwsAsync(() => OsdEmulator.start({ socketPath: join(dir, 'plain'), replace: true }), { code: 'EADDRINUSE' });
  t.is(readFileSync(join(dir, 'plain'), 'utf8'), 'x');
  const emu = await OsdEmulator.start({ socketPath: path, replace: true, script: { states: { mdm: { state: 'unmanaged' } } } });
  t.teardown(() => emu.close());
  t.like(await ask(path, 'mdm'), { status: 'ok', state: { state: 'unmanaged' } });
});

test('setStates and setFaults change what is served at once; ageMs follows the injected clock', async (t) => {
  let clock = 0;
  const emu = await OsdEmulator.start({ socketPath: join(tempDir(t), 'o.sock'), now: () => clock });
  t.teardown(() => emu.close());
  t.like(await ask(emu.socketPath, 'tsc'), { status: 'unavailable', reason: 'no state scripted' });
  emu.setStates({ tsc: { level: 'attention' } });
  clock = 4321;
  t.like(await ask(emu.socketPath, 'tsc'), { status: 'ok', state: { level: 'attention' }, ageMs: 4321 });
  emu.setFaults([{ kind: 'close', queries: ['tsc'], times: 1 }]);
  t.is(await ask(emu.socketPath, 'tsc'), 'closed');
  t.like(await ask(emu.socketPath, 'tsc'), { status: 'ok' });
  t.is(emu.stats().faults, 1);
});
