/**
 * Issue 9 finding 2: one simulator per state folder. Two real `enigm sim start` processes on the
 * same folder: the second exits 1 with SIM_STATE_LOCKED naming the first's PID and touches
 * nothing the first owns; a lock left by a SIGKILLed simulator is stale and taken over.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyClient, TcpTransport } from '@enigm/key-firmware-host';
import test from 'ava';
import { acquireStateLock, isProcessAlive, LOCK_FILE, StateLockedError } from '../src/runtime/state-lock.ts';
import { startCliSim } from './support/cli-sim.ts';

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'enigm-lock-'));
  dirs.push(d);
  return d;
}

/** Pids whose parent is `ppid` (from /proc). */
function childrenOf(ppid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const st = readFileSync(`/proc/${d}/stat`, 'utf8');
        return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === ppid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

async function waitDead(pid: number): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

async function ping(tcp: string | undefined): Promise<void> {
  const u = new URL(tcp as string);
  const c = await KeyClient.connect(new TcpTransport({ host: u.hostname, port: Number(u.port) }), { timeoutMs: 10_000 });
  await c.request('ping', { data: new Uint8Array(4) });
  await c.close();
}

test('a second sim start on the same state folder exits 1 and leaves the first untouched; a stale lock is taken over', async (t) => {
  const dir = tempDir();
  const serial = process.env.CI === 'true' || existsSync('/usr/bin/socat') ? [] : ['--no-serial'];
  const first = startCliSim(['--keys', '2', '--state-dir', dir, ...serial]);
  let second: ReturnType<typeof startCliSim> | undefined;
  try {
    const ready = await first.ready;
    t.truthy(ready, `first simulator ready; stderr:\n${first.stderr()}`);
    const state = readFileSync(join(dir, 'simulator.json'), 'utf8');
    const link = serial.length === 0 ? readlinkSync(join(dir, 'ttyKEY0')) : undefined;

    second = startCliSim(['--keys', '2', '--state-dir', dir, ...serial]);
    // Its exit is awaited for 30 s at most (a CLI start through tsx is slow on a loaded machine).
    let late: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      second.exited,
      new Promise((r) => (late = setTimeout(() => r('still running'), 30_000))),
    ]);
    clearTimeout(late);
    t.is(outcome, 1, 'the second exits 1');
    t.is(await second.ready, undefined, 'the second never reports ready');
    t.regex(second.stderr(), /SIM_STATE_LOCKED/);
    t.regex(second.stderr(), new RegExp(`in use by another simulator \\(PID ${first.proc.pid}\\)`));
    t.is(readFileSync(join(dir, 'simulator.json'), 'utf8'), state, "the first's state file is unchanged");
    if (link !== undefined) t.is(readlinkSync(join(dir, 'ttyKEY0')), link, "the first's serial link is unchanged");
    t.is(readFileSync(join(dir, LOCK_FILE), 'utf8').trim(), String(first.proc.pid));
    await ping(ready?.keys[1]?.tcp); // the first still serves

    // SIGKILL leaves the lock behind; it is stale (PID gone) and the next simulator takes it over.
    // The socat processes behind its serial ports die with it.
    const socats = childrenOf(first.proc.pid as number).filter((pid) => commandOf(pid).startsWith('socat'));
    if (serial.length === 0) t.is(socats.length, 2, 'one socat per Key');
    first.proc.kill('SIGKILL');
    await first.exited;
    for (const pid of socats) t.true(await waitDead(pid), `socat ${pid} died with the SIGKILLed simulator`);
    t.true(existsSync(join(dir, LOCK_FILE)));
    const third = startCliSim(['--keys', '1', '--state-dir', dir, ...serial]);
    const ready3 = await third.ready;
    t.truthy(ready3, `a stale lock is taken over; stderr:\n${third.stderr()}`);
    t.is(readFileSync(join(dir, LOCK_FILE), 'utf8').trim(), String(third.proc.pid));
    await ping(ready3?.keys[0]?.tcp);
    t.is(await third.stop(), 0);
    t.false(existsSync(join(dir, LOCK_FILE)), 'a clean stop releases the lock');
    t.false(existsSync(join(dir, 'simulator.json')));
  } finally {
    first.proc.kill('SIGKILL');
    second?.proc.kill('SIGKILL');
  }
});

test('acquireStateLock: exclusive in one process, refuses a live PID, takes over a dead one, releases only its own', (t) => {
  const dir = tempDir();
  const lock = acquireStateLock(dir);
  const e = t.throws(() => acquireStateLock(dir), { instanceOf: StateLockedError });
  t.is(e?.code, 'SIM_STATE_LOCKED');
  t.is(e?.pid, process.pid);
  lock.release();
  t.false(existsSync(join(dir, LOCK_FILE)));
  // A lock naming a live process (our parent) is refused; one naming no process is stale.
  writeFileSync(join(dir, LOCK_FILE), `${process.ppid}\n`);
  t.true(isProcessAlive(process.ppid));
  t.throws(() => acquireStateLock(dir), { instanceOf: StateLockedError });
  writeFileSync(join(dir, LOCK_FILE), '2147483646\n');
  const taken = acquireStateLock(dir);
  t.is(readFileSync(join(dir, LOCK_FILE), 'utf8').trim(), String(process.pid));
  // release() never removes a lock another process holds.
  writeFileSync(join(dir, LOCK_FILE), `${process.ppid}\n`);
  taken.release();
  t.true(existsSync(join(dir, LOCK_FILE)));
});
