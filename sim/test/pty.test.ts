/**
 * createPtyPair against the real socat and the real serialport binding.
 *
 * Without socat these tests skip with a message, except under CI=true where they fail: the
 * simulator's serial path must be exercised for real in CI.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { autoDetect } from '@serialport/bindings-cpp';
import { SerialPortStream } from '@serialport/stream';
import test from 'ava';
import { stopChild } from '../src/child-stop.ts';
import { createPtyPair, hasSocat, socatAvailability, trackedSocatPids } from '../src/io/pty.ts';

const socat = socatAvailability();
const ptyModule = fileURLToPath(new URL('../src/io/pty.ts', import.meta.url));

/** Whether `pid` is a live process (zombies count as dead). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).charAt(0) !== 'Z';
  } catch {
    return false;
  }
}

async function waitDead(pid: number, timeoutMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

function openPort(path: string): Promise<SerialPortStream> {
  return new Promise((resolve, reject) => {
    const port: SerialPortStream = new SerialPortStream({ binding: autoDetect(), path, baudRate: 115200 }, (error) =>
      error ? reject(error) : resolve(port),
    );
  });
}

function closePort(port: SerialPortStream): Promise<void> {
  if (!port.isOpen) return Promise.resolve();
  return new Promise((resolve) => port.close(() => resolve()));
}

function write(port: SerialPortStream, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    port.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, (error) => {
      if (error) return reject(error);
      port.drain((drainError) => (drainError ? reject(drainError) : resolve()));
    });
  });
}

function collect(port: SerialPortStream): { text(): string } {
  const chunks: Buffer[] = [];
  port.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { text: () => Buffer.concat(chunks).toString('latin1') };
}

async function waitText(source: { text(): string }, expected: string, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (source.text().length < expected.length && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return source.text();
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'enigm-pty-'));
}

/**
 * A fake socat executable for failure paths: a /bin/sh script, which runs its first line within
 * milliseconds even on a loaded machine (a Node script can take longer than a short timeout just to
 * start, and then has written nothing yet).
 */
function fakeSocat(dir: string, body: string): string {
  const path = join(dir, 'fake-socat');
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

// --- tests that need no socat ---------------------------------------------------------------

test('socatAvailability: missing socat fails under CI=true and skips elsewhere', (t) => {
  const missing = '/nonexistent/enigm/socat';
  const ci = socatAvailability({ CI: 'true' }, missing);
  t.false(ci.available);
  t.true(ci.required);
  t.regex(ci.message, /CI=true requires/);
  t.regex(ci.message, /apt-get install socat/);
  const local = socatAvailability({}, missing);
  t.false(local.available);
  t.false(local.required);
  t.regex(local.message, /skipped/);
  t.false(hasSocat(missing));
});

test('createPtyPair with a missing socat rejects with an install hint', async (t) => {
  const error = await t.throwsAsync(createPtyPair({ socatPath: '/nonexistent/enigm/socat' }));
  t.regex(error?.message ?? '', /socat not found .*apt-get install socat/);
});

test('createPtyPair rejects link names socat cannot carry, before starting socat', async (t) => {
  // A socatPath that does not exist proves no process is started: the name check comes first.
  const socatPath = '/nonexistent/enigm/socat';
  await t.throwsAsync(createPtyPair({ socatPath, linkDir: '/tmp', name: 'a,b' }), { message: /invalid link name/ });
  await t.throwsAsync(createPtyPair({ socatPath, linkDir: '/tmp', name: 'a/b' }), { message: /invalid link name/ });
  await t.throwsAsync(createPtyPair({ socatPath, linkDir: '/tmp', name: '' }), { message: /invalid link name/ });
  await t.throwsAsync(createPtyPair({ socatPath, linkDir: '/tmp/a:b', name: 'key' }), { message: /cannot carry/ });
});

test('a socat that never links times out, names its stderr, and is killed', async (t) => {
  const dir = tempDir();
  try {
    const pidFile = join(dir, 'pid');
    // exec keeps the pid (the one createPtyPair kills) for the sleep that never links anything.
    const socatPath = fakeSocat(dir, [`echo $$ > '${pidFile}'`, "echo 'fake socat is stuck' >&2", 'exec sleep 30'].join('\n'));
    const error = await t.throwsAsync(createPtyPair({ socatPath, timeoutMs: 3000 }));
    t.regex(error?.message ?? '', /within 3000 ms/);
    t.regex(error?.message ?? '', /fake socat is stuck/);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    t.true(await waitDead(pid), 'the stuck process was killed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a socat that exits early rejects with its stderr', async (t) => {
  const dir = tempDir();
  try {
    const socatPath = fakeSocat(dir, "echo 'E something is wrong' >&2\nexit 3");
    const error = await t.throwsAsync(createPtyPair({ socatPath }));
    t.regex(error?.message ?? '', /exited \(code 3/);
    t.regex(error?.message ?? '', /something is wrong/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// --- tests with the real socat --------------------------------------------------------------

if (!socat.available) {
  if (socat.required) {
    test('socat is installed (required when CI=true)', (t) => {
      t.fail(socat.message);
    });
  } else {
    console.warn(`pty: ${socat.message}`);
    test.skip(`pty tests with socat skipped: ${socat.message}`, () => undefined);
  }
} else {
  test.serial('creates a /dev/pts pair; close kills socat', async (t) => {
    const pair = await createPtyPair();
    t.regex(pair.hostPath, /^\/dev\/pts\/\d+$/);
    t.regex(pair.devicePath, /^\/dev\/pts\/\d+$/);
    t.not(pair.hostPath, pair.devicePath);
    t.true(existsSync(pair.hostPath) && existsSync(pair.devicePath));
    t.true(isAlive(pair.pid));
    t.true(trackedSocatPids().includes(pair.pid));
    await Promise.all([pair.close(), pair.close()]);
    await pair.close();
    t.false(isAlive(pair.pid), 'socat is gone once close() resolves');
    t.false(trackedSocatPids().includes(pair.pid));
  });

  test.serial('stable links in linkDir; removed on close', async (t) => {
    const dir = tempDir();
    try {
      const pair = await createPtyPair({ linkDir: dir, name: 'key-1' });
      t.is(pair.hostPath, join(dir, 'key-1'));
      t.is(pair.devicePath, join(dir, 'key-1.dev'));
      for (const path of [pair.hostPath, pair.devicePath]) {
        t.true(lstatSync(path).isSymbolicLink());
        t.regex(readlinkSync(path), /^\/dev\/pts\/\d+$/);
      }
      await pair.close();
      t.false(existsSync(pair.hostPath) || existsSync(pair.devicePath));
      t.false(isAlive(pair.pid));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.serial('default link name is enigm-key', async (t) => {
    const dir = tempDir();
    try {
      const pair = await createPtyPair({ linkDir: dir });
      t.is(pair.hostPath, join(dir, 'enigm-key'));
      t.is(pair.devicePath, join(dir, 'enigm-key.dev'));
      await pair.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.serial('links left by a SIGKILLed socat are removed by close()', async (t) => {
    const dir = tempDir();
    try {
      const pair = await createPtyPair({ linkDir: dir, name: 'key' });
      process.kill(pair.pid, 'SIGKILL');
      t.true(await waitDead(pair.pid));
      t.true(lstatSync(pair.hostPath).isSymbolicLink(), 'SIGKILL leaves the link behind');
      await pair.close();
      t.throws(() => lstatSync(pair.hostPath));
      t.throws(() => lstatSync(pair.devicePath));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.serial('a missing linkDir makes socat fail; the error names its stderr', async (t) => {
    const error = await t.throwsAsync(createPtyPair({ linkDir: '/nonexistent-enigm-dir', name: 'key' }));
    t.regex(error?.message ?? '', /socat/);
    t.regex(error?.message ?? '', /nonexistent-enigm-dir/);
  });

  test.serial('host opens, exchanges, closes and reopens while the device side stays open', async (t) => {
    const dir = tempDir();
    const pair = await createPtyPair({ linkDir: dir, name: 'key' });
    const device = await openPort(pair.devicePath);
    const atDevice = collect(device);
    try {
      let expectedAtDevice = '';
      for (let round = 0; round < 3; round++) {
        const host = await openPort(pair.hostPath);
        const atHost = collect(host);
        const up = `ping-${round}`;
        await write(host, up);
        expectedAtDevice += up;
        t.is(await waitText(atDevice, expectedAtDevice), expectedAtDevice, `round ${round}: host → device`);
        const down = `pong-${round}`;
        await write(device, down);
        t.is(await waitText(atHost, down), down, `round ${round}: device → host`);
        await closePort(host);
      }
      t.true(isAlive(pair.pid), 'socat survives host reopen');
    } finally {
      await closePort(device);
      await pair.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.serial('device side closes and reopens while the host stays open', async (t) => {
    const pair = await createPtyPair();
    const host = await openPort(pair.hostPath);
    const atHost = collect(host);
    let hostClosed = false;
    host.on('close', () => {
      hostClosed = true;
    });
    try {
      const device1 = await openPort(pair.devicePath);
      await write(device1, 'one');
      t.is(await waitText(atHost, 'one'), 'one');
      await closePort(device1);
      const device2 = await openPort(pair.devicePath);
      const atDevice2 = collect(device2);
      await write(device2, 'two');
      t.is(await waitText(atHost, 'onetwo'), 'onetwo');
      await write(host, 'back');
      t.is(await waitText(atDevice2, 'back'), 'back');
      await closePort(device2);
      t.false(hostClosed);
      t.true(isAlive(pair.pid));
    } finally {
      await closePort(host);
      await pair.close();
    }
  });

  test.serial('bytes are carried unchanged (all 256 values, raw mode)', async (t) => {
    const pair = await createPtyPair();
    const device = await openPort(pair.devicePath);
    const host = await openPort(pair.hostPath);
    try {
      const all = Buffer.from(Array.from({ length: 256 * 4 }, (_, i) => i & 0xff));
      const atDevice = collect(device);
      await write(host, all);
      t.is(await waitText(atDevice, all.toString('latin1')), all.toString('latin1'));
    } finally {
      await closePort(host);
      await closePort(device);
      await pair.close();
    }
  });

  test.serial('closing the pair hangs up open ports', async (t) => {
    const pair = await createPtyPair();
    const host = await openPort(pair.hostPath);
    host.on('error', () => undefined);
    try {
      await pair.close();
      // The stock binding does not report a read-side hang-up reliably (see serial.ts); a write must fail.
      const error = await new Promise<Error | null | undefined>((resolve) => host.write(Buffer.from('x'), resolve));
      t.truthy(error, 'write on a hung-up pty fails');
      t.regex(String(error?.message), /EIO|i\/o error|not open|bad file/i);
    } finally {
      await closePort(host);
    }
  });

  test.serial('socat started by a process that exits without close() dies with it', async (t) => {
    const code = [
      `import { createPtyPair } from ${JSON.stringify(ptyModule)};`,
      'const pair = await createPtyPair();',
      'console.log(pair.pid);',
      '// no close(): the process ends on its own and the exit hook must kill socat',
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const exitCode = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    t.is(exitCode, 0, `child exited by itself (stderr: ${err})`);
    const pid = Number(out.trim());
    t.true(Number.isInteger(pid) && pid > 0, `child printed the socat pid: ${out}`);
    t.true(await waitDead(pid), 'socat was killed by the exit hook');
  });

  test.serial('socat dies with a process killed by SIGKILL (no exit hook runs); its links are removed', async (t) => {
    const dir = tempDir();
    try {
      const code = [
        `import { createPtyPair } from ${JSON.stringify(ptyModule)};`,
        `const pair = await createPtyPair({ linkDir: ${JSON.stringify(dir)}, name: 'key' });`,
        'console.log(pair.pid);',
        'setInterval(() => undefined, 1000); // stay up until killed',
      ].join('\n');
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      t.teardown(() => stopChild(child, { signal: 'SIGKILL', graceMs: 5000 }).then(() => undefined));
      // The whole first line (a chunk may hold part of it).
      const pid = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(Number(out.slice(0, out.indexOf('\n')).trim()));
        });
        child.once('exit', () => reject(new Error('child exited early')));
      });
      t.true(isAlive(pid), 'socat runs');
      t.true(existsSync(join(dir, 'key')));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      t.true(await waitDead(pid), 'socat died with its parent');
      const deadline = Date.now() + 20_000;
      while (existsSync(join(dir, 'key')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      t.false(existsSync(join(dir, 'key')), 'socat removed its links (it was ended with SIGTERM)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
