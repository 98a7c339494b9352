/**
 * Issue 10, bad input "a second simulator on the same port: clear errors, nothing changes state
 * half-way": `enigm sim start` (the real CLI, a child process through tsx) on a taken control port
 * a taken Key TCP port or a taken embedded-broker port exits 1 with a named code and touches no
 * state folder (the library too, for a taken BLE adapter port): a new one is not
 * created, an existing one keeps every file byte for byte (simulator.json, the Keys' state and
 * their boot counts; no simulator.json, control.json or lock appears).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Simulator } from '@enigm/sim';
import test, { type ExecutionContext } from 'ava';
import { killAfter } from '../src/child-stop.ts';
import { quietPorts } from './support/quiet-ports.ts';

const enigm = fileURLToPath(new URL('../../tools/src/enigm.ts', import.meta.url));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import=tsx', enigm, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    killAfter(p, 50_000); // a start that hangs fails its test instead of the run
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * A port held by a plain listener (another program), closed in teardown; the port below it is
 * free (checked, and outside the kernel's ephemeral range so nothing else takes it meanwhile),
 * for `--tcp-port P-1` whose Key 0 must bind P-1 and only Key 1 finds its port taken.
 */
async function takenPort(t: ExecutionContext): Promise<number> {
  for (;;) {
    const base = await quietPorts(2);
    const server: Server = createServer((s) => s.destroy());
    const held = await new Promise<boolean>((r) => {
      server.once('error', () => r(false));
      server.listen(base + 1, '127.0.0.1', () => r(true));
    });
    if (!held) continue; // taken between the check and now: choose another pair
    t.teardown(() => new Promise<void>((r) => server.close(() => r())));
    return base + 1;
  }
}

/** Every file of `dir`: content digest and modification time. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    const st = statSync(p);
    out[f] = st.isFile() ? `${createHash('sha256').update(readFileSync(p)).digest('hex')} ${st.mtimeMs}` : 'dir';
  }
  return out;
}

/** A state folder a simulator has used (2 Keys, embedded broker) and stopped. */
async function usedStateDir(t: ExecutionContext): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'enigm-start-refused-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const sim = await Simulator.start({ keys: 2, serial: false, stateDir: join(root, 'state'), mqtt: { brokerPort: 0 } });
  await sim.stop();
  return sim.stateDir;
}

const cases = [
  {
    name: 'a taken control port: CONTROL_PORT_IN_USE',
    args: (port: number) => ['--control-port', String(port)],
    message: (port: number) => new RegExp(`CONTROL_PORT_IN_USE: the control port 127\\.0\\.0\\.1:${port} is taken`),
  },
  {
    name: 'a taken TCP port of Key 1: SIM_PORT_IN_USE naming the port and the Key, not a bare EADDRINUSE',
    // --tcp-port P gives Key i the port P+i: the taken port is Key 1's
    args: (port: number) => ['--tcp-port', String(port - 1)],
    message: (port: number) =>
      new RegExp(`SIM_PORT_IN_USE: the TCP port 127\\.0\\.0\\.1:${port} of key 1 is taken .*choose another --tcp-port`),
  },
  {
    name: 'a taken embedded broker port: SIM_PORT_IN_USE naming it, not a bare EADDRINUSE',
    args: (port: number) => ['--broker-port', String(port)],
    message: (port: number) =>
      new RegExp(`SIM_PORT_IN_USE: the MQTT broker port 127\\.0\\.0\\.1:${port} is taken .*choose another --broker-port`),
  },
] as const;

for (const c of cases) {
  test(`sim start on ${c.name}; exit 1, a new state folder is not created, an existing one is untouched`, async (t) => {
    const port = await takenPort(t);
    const existing = await usedStateDir(t);
    const before = snapshot(existing);
    t.true(
      ['key-0.cbor', 'key-1.cbor', 'key-0.flash', 'fw-signing.key', 'account.secret'].every((f) => f in before),
      Object.keys(before).join(),
    );
    t.false('simulator.lock' in before || 'simulator.json' in before, 'a stopped simulator leaves no lock or state file');
    const fresh = join(existing, '..', 'never-made');
    const common = ['sim', 'start', '--no-serial', '--keys', '2'];
    // One after the other: with --tcp-port both would bind Key 0's port, and the one that found
    // it held by the other for a moment would name Key 0.
    const onFresh = await run([...common, ...c.args(port), '--state-dir', fresh]);
    const onExisting = await run([...common, ...c.args(port), '--state-dir', existing]);
    for (const r of [onFresh, onExisting]) {
      t.is(r.code, 1, r.stderr);
      t.regex(r.stderr, c.message(port));
      t.notRegex(r.stderr, /^Error: listen EADDRINUSE/m);
      t.false(r.stdout.includes('Dashboard:'), 'it never reports ready');
    }
    t.false(existsSync(fresh), 'the new state folder was never created');
    t.deepEqual(snapshot(existing), before, "the existing folder's files are unchanged (no Key booted, no lock left)");
  });
}

test('Simulator.start on a taken BLE adapter port is SIM_PORT_IN_USE; the state folder is not created', async (t) => {
  const port = await takenPort(t);
  const root = await mkdtemp(join(tmpdir(), 'enigm-start-refused-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const stateDir = join(root, 'never-made');
  const e = await t.throwsAsync(Simulator.start({ keys: 1, serial: false, stateDir, mqtt: { brokerPort: 0 }, ble: { port } }));
  t.is((e as { code?: string }).code, 'SIM_PORT_IN_USE');
  t.regex(e?.message ?? '', new RegExp(`BLE adapter port 127\\.0\\.0\\.1:${port} is taken`));
  t.false(existsSync(stateDir), 'the state folder was never created');
  // the embedded broker started before the BLE adapter was refused is closed again: a new start works
  const sim = await Simulator.start({ keys: 1, serial: false, stateDir, mqtt: { brokerPort: 0 }, ble: true });
  t.teardown(() => sim.stop());
  t.is(sim.keys().length, 1);
});

test('sim start with --tcp-port whose last Key would pass 65535 is SIM_BAD_INPUT, nothing created', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'enigm-start-refused-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const r = await run(['sim', 'start', '--no-serial', '--keys', '3', '--tcp-port', '65534', '--state-dir', join(root, 's')]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /SIM_BAD_INPUT: the TCP ports of 3 Keys from 65534 do not fit below 65536/);
  t.false(existsSync(join(root, 's')));
  // A free --tcp-port still works (the pre-bound ports are handed to the Keys).
  const port = await quietPorts(1);
  const sim = await Simulator.start({ keys: 1, serial: false, stateDir: join(root, 'ok'), tcpBasePort: port });
  t.teardown(() => sim.stop());
  t.is(sim.keys()[0]?.tcp, `tcp://127.0.0.1:${port}`);
});
