/**
 * Checks the bundled `enigm` CLI (dist/enigm.mjs, built by esbuild) as a user runs it: the
 * simulator in the foreground, `key info|list|ping` against it over a real pty, `cbor decode`,
 * `--json`, `--help`, and exit codes (0 success, 1 failure, 2 usage).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { hasSocat, simulatedPayload } from '@enigm/sim';
import { stopChild } from '@enigm/sim/testing';
import test from 'ava';
import { type Bundle, buildBundle } from './bundle.ts';
import { signFirmware } from './cli-steps.ts';

const exec = promisify(execFile);
/** The bundle under test: built once for this file, outside dist/ (see bundle.ts). */
let CLI = '';
let bundle: Promise<Bundle> | undefined;
/** Builds the bundle on first call (before hooks run concurrently); sets {@link CLI}. */
async function built(): Promise<string> {
  bundle ??= buildBundle('repo');
  CLI = (await bundle).cli;
  return CLI;
}
const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let home = '';

async function enigm(...args: string[]): Promise<Run> {
  try {
    const r = await exec(process.execPath, [CLI, ...args], { timeout: 60_000, env: { ...process.env, ENIGM_HOME: home } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

test.before(async () => {
  await built();
});

let sim: ChildProcess | undefined;
let dir = '';
let ready: { keys: { serial: string; tcp: string; handle: string }[] } | undefined;

test.before(async () => {
  if (!hasSocat()) return;
  dir = mkdtempSync(join(tmpdir(), 'enigm-cli-'));
  home = join(dir, 'home');
  sim = spawn(process.execPath, [await built(), 'sim', 'start', '--keys', '2', '--state-dir', dir, '--json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: sim.stdout! });
  // Wait for its readiness signal (the `ready` line listing the Keys), not a clock: under load
  // it may take long; if it exits first, fail at once.
  const started = sim;
  ready = await new Promise((resolve, reject) => {
    const exited = (code: number | null) => reject(new Error(`simulator exited (${code}) before it was ready`));
    started.once('exit', exited);
    const onLine = (l: string) => {
      const event = JSON.parse(l);
      if (event.event !== 'ready') return;
      started.off('exit', exited);
      lines.off('line', onLine);
      resolve(event);
    };
    lines.on('line', onLine);
  });
});

test.after.always(async () => {
  if (sim) await stopChild(sim);
  if (dir) rmSync(dir, { recursive: true, force: true });
  (await bundle)?.remove();
});

realTest('sim start prints each Key with a serial port and a TCP address', (t) => {
  t.is(ready?.keys.length, 2);
  for (const k of ready?.keys ?? []) {
    t.true(k.serial.startsWith(dir));
    t.regex(k.tcp, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  }
});

realTest('key info --port <pty> prints the simulated Key, also as --json', async (t) => {
  const port = ready?.keys[0]?.serial as string;
  const human = await enigm('key', 'info', '--port', port);
  t.is(human.code, 0, human.stderr);
  t.regex(human.stdout, /model\s+enigm-key-1/);
  t.regex(human.stdout, /state\s+factory/);
  t.regex(human.stdout, /window 8/);
  const json = await enigm('key', 'info', '--port', port, '--json');
  t.is(json.code, 0);
  const j = JSON.parse(json.stdout);
  t.true(j.ok);
  t.is(j.info.handle, ready?.keys[0]?.handle);
  t.is(j.link.maxFrame, 4096);
});

realTest('key info over tcp:// works the same', async (t) => {
  const r = await enigm('key', 'info', '--port', ready?.keys[1]?.tcp as string, '--json');
  t.is(r.code, 0, r.stderr);
  t.is(JSON.parse(r.stdout).info.handle, ready?.keys[1]?.handle);
});

realTest('key info against the running simulator, its reader gone (| head -1): exit quietly, no EPIPE stack trace', async (t) => {
  for (const port of [ready?.keys[1]?.tcp as string, ready?.keys[0]?.serial as string]) {
    // The reader closes before the Key has answered: every write of the CLI meets a closed pipe.
    const child = spawn(process.execPath, [CLI, 'key', 'info', '--port', port], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ENIGM_HOME: home },
    });
    child.stdout?.destroy();
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    t.is(stderr, '', port);
    t.is(code, 1, port);
  }
  // As a user types it: the first line reaches head, nothing reaches stderr.
  const r = await exec(
    'sh',
    ['-c', `"${process.execPath}" "${CLI}" key info --port "$1" | head -1`, 'sh', ready?.keys[1]?.tcp as string],
    {
      timeout: 60_000,
      env: { ...process.env, ENIGM_HOME: home },
    },
  );
  t.regex(r.stdout, /^model\s+enigm-key-1 .*\n$/);
  t.is(r.stderr, '');
});

realTest('key list finds the simulator Keys', async (t) => {
  const r = await enigm('key', 'list', '--state-dir', dir, '--json');
  t.is(r.code, 0, r.stderr);
  const ports = JSON.parse(r.stdout).keys.map((k: { port: string }) => k.port);
  t.deepEqual(ports.sort(), ready?.keys.map((k) => k.serial).sort());
});

realTest('key ping prints round-trip times and a summary', async (t) => {
  const r = await enigm('key', 'ping', '--port', ready?.keys[0]?.serial as string, '--count', '3', '--size', '64', '--json');
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.is(lines.length, 4);
  t.true(lines[3].ok);
  t.true(lines[3].minMs > 0);
  t.notRegex(r.stderr, /frames sent/, 'diagnostics only with --verbose');
  // --verbose (issue 9: logging on long-running commands): counters on stderr, never content
  const v = await enigm('key', 'ping', '--port', ready?.keys[0]?.serial as string, '--count', '2', '--verbose');
  t.is(v.code, 0, v.stderr);
  t.regex(
    v.stderr,
    /^link serial:.*: [\d.]+ s, \d+ B\/s, frames sent [1-9]\d*, received [1-9]\d*, bad \d+, stray \d+, retries \d+, keepalives \d+$/m,
  );
});

realTest('key attest before pairing fails clearly; key pair, key activate, key attest with reference values', async (t) => {
  const port = ready?.keys[1]?.serial as string;
  const early = await enigm('key', 'attest', '--port', port);
  t.is(early.code, 1);
  t.regex(early.stderr, /not paired/);
  const pair = await enigm('key', 'pair', '--port', port, '--role', 'owner', '--label', 'ci', '--json');
  t.is(pair.code, 0, pair.stderr);
  const p = JSON.parse(pair.stdout);
  t.is(p.role, 'owner');
  t.regex(p.identity, /^[0-9a-f]{64}$/);
  t.true(existsSync(join(home, 'host-key.pem')));
  t.is((statSync(join(home, 'host-key.pem')).mode & 0o777).toString(8), '600');
  const act = await enigm('key', 'activate', '--port', port, '--json');
  t.is(act.code, 0, act.stderr);
  t.is(JSON.parse(act.stdout).state, 'dormant');
  const expect = join(dir, 'expect.json');
  const digest = createHash('sha256').update(simulatedPayload('1.0.0')).digest('hex'); // the factory image
  writeFileSync(expect, JSON.stringify({ allowedFirmwareDigests: [digest], minSecurityCounter: 1, expectedStates: ['dormant'] }));
  const att = await enigm('key', 'attest', '--port', port, '--expect', expect, '--json');
  t.is(att.code, 0, att.stderr);
  const a = JSON.parse(att.stdout);
  t.is(a.status, 'affirming', JSON.stringify(a.checks));
  t.is(a.claims.lifecycle, 'dormant');
  t.is(a.claims.hwmodel, 'enigm-key-1', 'text claims are text in --json, bytes are hex');
  t.regex(a.claims.firmwareDigest, /^[0-9a-f]{64}$/);
  const human = await enigm('key', 'attest', '--port', port, '--expect', expect);
  t.regex(human.stdout, /appraisal: AFFIRMING/);
  // a rollback floor above the Key's counter is contraindicated → exit 1
  writeFileSync(expect, JSON.stringify({ allowedFirmwareDigests: [digest], minSecurityCounter: 5 }));
  const bad = await enigm('key', 'attest', '--port', port, '--expect', expect, '--json');
  t.is(bad.code, 1);
  t.is(JSON.parse(bad.stdout).status, 'contraindicated');
  writeFileSync(expect, JSON.stringify({ allowedFirmwareDigests: [digest], minSecurityCounter: 1, expectedStates: ['dormant'] }));
  // Single-use verifier nonces (issue 9 finding 5, Key evidence): a challenge issued by `attest challenge`
  // is affirming once; presenting it again, or a nonce the verifier never issued, is contraindicated.
  const state = join(dir, 'verifier.json');
  const ch = await enigm('attest', 'challenge', '--for', 'key-evidence', '--state', state, '--json');
  t.is(ch.code, 0, ch.stderr);
  const nonce = JSON.parse(ch.stdout).nonce as string;
  const once = await enigm('key', 'attest', '--port', port, '--nonce', nonce, '--state', state, '--expect', expect, '--json');
  t.is(once.code, 0, once.stderr);
  t.is(JSON.parse(once.stdout).status, 'affirming', once.stdout);
  const twice = await enigm('key', 'attest', '--port', port, '--nonce', nonce, '--state', state, '--expect', expect, '--json');
  t.is(twice.code, 1, 'a used nonce is refused');
  t.is(JSON.parse(twice.stdout).status, 'contraindicated');
  const unknown = await enigm(
    'key',
    'attest',
    '--port',
    port,
    '--nonce',
    'ab'.repeat(32),
    '--state',
    state,
    '--expect',
    expect,
    '--json',
  );
  t.is(unknown.code, 1, 'a nonce the verifier never issued is refused');
  // Naming the Key (issue 16 finding 4): the right handle works; another is refused before any command runs.
  const named = await enigm('key', 'attest', '--port', port, '--handle', p.handle, '--json');
  t.is(named.code, 0, named.stderr);
  const wrong = await enigm('key', 'activate', '--port', port, '--handle', 'ee'.repeat(16));
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /KEY_NOT_PAIRED/);
  t.is((await enigm('key', 'attest', '--port', port, '--identity', 'xyz')).code, 2, 'a malformed name is a usage error');
});

realTest('fw sign → fw flash (upload, test-boot, health, confirm) → fw status; a downgrade is refused', async (t) => {
  const port = ready?.keys[0]?.serial as string;
  t.is((await enigm('key', 'pair', '--port', port)).code, 0);
  const payload = join(dir, 'app.bin');
  writeFileSync(payload, Buffer.alloc(20_000, 0x5a));
  const img = join(dir, 'app-1.2.0.ekfw');
  const key = join(dir, 'fw-signing.key');
  const sign = await signFirmware(enigm, { key, version: '1.2.0', counter: 2, out: img, payload });
  t.is(sign.code, 0, sign.stderr);
  const flash = await enigm('fw', 'flash', '--port', port, img, '--json');
  t.is(flash.code, 0, flash.stderr);
  const events = flash.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.deepEqual(
    events.filter((e) => e.event === 'step').map((e) => e.step),
    ['upload', 'finish', 'test', 'health', 'confirm'],
  );
  t.true(events.some((e) => e.event === 'progress'));
  t.is(events.at(-1).done, 'confirm');
  t.is(events.at(-1).securityCounter, 2);
  const status = JSON.parse((await enigm('fw', 'status', '--port', port, '--json')).stdout);
  t.is(status.status.running.version, '1.2.0');
  t.false(status.status.testing);
  const human = await enigm('fw', 'flash', '--port', port, img, '--upload-only');
  t.regex(human.stdout, /uploaded .* B/);
  const old = join(dir, 'old.ekfw');
  await enigm(
    'fw',
    'sign',
    '--key',
    key,
    '--model',
    'enigm-key-1',
    '--version',
    '1.3.0',
    '--counter',
    '1',
    '--out',
    old,
    payload,
  );
  const down = await enigm('fw', 'flash', '--port', port, old, '--json');
  t.is(down.code, 1);
  t.regex(down.stderr, /FIRMWARE_REJECTED.*FIRMWARE_DOWNGRADE/);
});

realTest('fw flash killed mid-transfer (SIGKILL): running it again resumes from the Key offset', async (t) => {
  const port = ready?.keys[0]?.serial as string; // paired by the previous test
  const payload = join(dir, 'big.bin');
  writeFileSync(
    payload,
    Buffer.alloc(480 * 1024).map((_, i) => Math.imul(i, 2654435761) >>> 24),
  );
  const img = join(dir, 'big.ekfw');
  const key = join(dir, 'fw-signing.key');
  t.is(
    (
      await enigm(
        'fw',
        'sign',
        '--key',
        key,
        '--model',
        'enigm-key-1',
        '--version',
        '1.4.0',
        '--counter',
        '3',
        '--out',
        img,
        payload,
      )
    ).code,
    0,
  );
  const child = spawn(process.execPath, [CLI, 'fw', 'flash', '--port', port, img, '--json'], {
    env: { ...process.env, ENIGM_HOME: home },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const killedAt = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('no progress within 60 s'));
    }, 60_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      const e = JSON.parse(l);
      if (e.event === 'progress' && e.acked > 0 && e.acked < e.total) {
        child.kill('SIGKILL');
        clearTimeout(timer);
        resolve(e.acked);
      }
    });
  });
  await new Promise((r) => child.once('exit', r));
  const again = await enigm('fw', 'flash', '--port', port, img, '--json');
  t.is(again.code, 0, again.stderr);
  const events = again.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const uploaded = events.find((e) => e.event === 'uploaded');
  t.true(uploaded.resumedFrom >= killedAt, `killed at ≥ ${killedAt}, resumed at ${uploaded.resumedFrom}`);
  t.is(events.at(-1).done, 'confirm');
  t.is(events.at(-1).securityCounter, 3);
});

/** Signs PAYLOAD as VERSION with COUNTER using the simulator's key; returns the image path. */
async function signed(version: string, counter: number, size: number): Promise<string> {
  const payload = join(dir, `p-${version}.bin`);
  writeFileSync(
    payload,
    Buffer.alloc(size).map((_, i) => Math.imul(i + counter, 2654435761) >>> 24),
  );
  const img = join(dir, `app-${version}.ekfw`);
  const r = await enigm(
    'fw',
    'sign',
    '--key',
    join(dir, 'fw-signing.key'),
    '--model',
    'enigm-key-1',
    '--version',
    version,
    '--counter',
    String(counter),
    '--out',
    img,
    payload,
  );
  if (r.code !== 0) throw new Error(r.stderr);
  return img;
}

realTest('fw confirm and fw revert with nothing pending say so (exit 0); after --test-only they confirm or revert', async (t) => {
  const port = ready?.keys[0]?.serial as string; // paired, running a confirmed image
  const nothing = await enigm('fw', 'confirm', '--port', port);
  t.is(nothing.code, 0, nothing.stderr);
  t.regex(nothing.stdout, /nothing to confirm/);
  t.notRegex(nothing.stdout, /^confirmed/m);
  const j = JSON.parse((await enigm('fw', 'confirm', '--port', port, '--json')).stdout);
  t.false(j.confirmed);
  const none = await enigm('fw', 'revert', '--port', port);
  t.is(none.code, 0, none.stderr);
  t.regex(none.stdout, /nothing to revert/);
  t.false(JSON.parse((await enigm('fw', 'revert', '--port', port, '--json')).stdout).reverted);
  // on test → confirm
  const a = await signed('1.6.0', 3, 8000);
  const onTest = await enigm('fw', 'flash', '--port', port, a, '--test-only');
  t.is(onTest.code, 0, onTest.stderr);
  t.regex(onTest.stdout, /not confirmed/);
  const yes = await enigm('fw', 'confirm', '--port', port);
  t.is(yes.code, 0, yes.stderr);
  t.regex(yes.stdout, /^confirmed; security counter is now 3/m);
  // on test → revert
  const b = await signed('1.7.0', 3, 8000);
  t.is((await enigm('fw', 'flash', '--port', port, b, '--test-only')).code, 0);
  const back = await enigm('fw', 'revert', '--port', port, '--json');
  t.is(back.code, 0, back.stderr);
  const r = JSON.parse(back.stdout);
  t.true(r.reverted);
  t.is(r.action, 'test-image');
  t.regex(r.status.nextBoot, /reverts to 1\.6\.0/);
  const pending = await enigm('fw', 'revert', '--port', port);
  t.is(pending.code, 0, pending.stderr);
  t.regex(pending.stdout, /already pending/);
  const reboot = await enigm('key', 'reboot', '--port', port, '--json');
  t.is(reboot.code, 0, reboot.stderr);
  t.is(JSON.parse(reboot.stdout).firmware, '1.6.0', 'the revert completed at the reboot');
  const after = JSON.parse((await enigm('fw', 'status', '--port', port, '--json')).stdout);
  t.is(after.status.running.version, '1.6.0');
  t.is(after.status.primary, 'confirmed');
});

realTest('a Key that no longer knows this host: the error says so and what to do', async (t) => {
  const port = ready?.keys[0]?.serial as string;
  // another host (its own ENIGM_HOME and host key) holding a copy of the pins
  const other = join(dir, 'other-home');
  mkdirSync(other, { recursive: true });
  copyFileSync(join(home, 'known-keys.json'), join(other, 'known-keys.json'));
  const r = await enigm(
    'key',
    'attest',
    '--port',
    port,
    '--host-key',
    join(other, 'host-key.pem'),
    '--known',
    join(other, 'known-keys.json'),
  );
  t.is(r.code, 1);
  t.regex(r.stderr, /KEY_HOST_UNKNOWN: .*no longer knows this host/);
  t.regex(r.stderr, /enigm key pair --port /);
  t.notRegex(r.stderr, /^enigm key attest: KEY_REJECTED: .*SESSION_FAILED \(12\): session failed$/m);
});

realTest('SIGINT during fw flash exits 130 with a hint; running it again resumes', async (t) => {
  const port = ready?.keys[0]?.serial as string;
  const img = await signed('1.8.0', 4, 400 * 1024);
  const child = spawn(process.execPath, [CLI, 'fw', 'flash', '--port', port, img, '--json'], {
    env: { ...process.env, ENIGM_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  let interruptedAt = 0;
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
    const e = JSON.parse(l);
    if (!interruptedAt && e.event === 'progress' && e.acked > 0 && e.acked < e.total) {
      interruptedAt = e.acked;
      child.kill('SIGINT');
    }
  });
  const code = await new Promise((r) => child.once('exit', r));
  t.is(code, 130, stderr);
  t.regex(stderr, /interrupted/);
  t.regex(stderr, /run the same command again to resume/);
  const again = await enigm('fw', 'flash', '--port', port, img, '--json');
  t.is(again.code, 0, again.stderr);
  const events = again.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.true(events.find((e) => e.event === 'uploaded').resumedFrom >= interruptedAt);
  t.is(events.at(-1).done, 'confirm');
});

test('cbor decode renders RFC 8949 Appendix A examples', async (t) => {
  const r = await enigm('cbor', 'decode', 'f93c00');
  t.is(r.stdout, '1.0\n');
  t.is((await enigm('cbor', 'decode', '5f42010243030405ff')).stdout, "(_ h'0102', h'030405')\n");
  t.is((await enigm('cbor', 'decode', 'c249010000000000000000')).stdout, '18446744073709551616\n');
  const seq = await enigm('cbor', 'decode', '01 f7 f0', '--json');
  t.deepEqual(JSON.parse(seq.stdout), { ok: true, items: ['1', 'undefined', 'simple(16)'] });
});

test('exit codes: 0 help, 2 usage errors, 1 failures with a typed error', async (t) => {
  t.is((await enigm('--help')).code, 0);
  t.is((await enigm('key', 'info', '--help')).code, 0);
  t.regex((await enigm('key', 'info', '--help')).stdout, /--port ADDR/);
  t.is((await enigm()).code, 2);
  t.is((await enigm('nope')).code, 2);
  t.is((await enigm('key', 'info')).code, 2);
  t.is((await enigm('key', 'info', '--port', 'x', '--bogus')).code, 2);
  t.is((await enigm('key', 'ping', '--port', 'x', '--count', '0')).code, 2);
  const negative = await enigm('key', 'ping', '--port', 'x', '--count', '-1');
  t.is(negative.code, 2);
  t.regex(negative.stderr, /--count must be an integer in \[1, \d+\], got "?-1"?/);
  const missing = await enigm('fw', 'flash', '--port', 'x', join(tmpdir(), 'no-such-image.ekfw'), '--json');
  t.is(missing.code, 1, 'a missing input file is a run-time failure, not usage');
  t.is(JSON.parse(missing.stdout).error.code, 'INPUT_NOT_FOUND');
  t.notRegex(missing.stderr, /ENOENT: ENOENT/);
  const noKey = await enigm('fw', 'verify', '--key', join(tmpdir(), 'no-such-key.pub'), join(tmpdir(), 'no-such.ekfw'));
  t.is(noKey.code, 1);
  t.regex(noKey.stderr, /^enigm fw verify: INPUT_NOT_FOUND: cannot read --key ".*no-such-key\.pub": no such file or directory$/m);
  const junk = join(tmpdir(), `enigm-junk-${process.pid}.ekfw`);
  writeFileSync(junk, 'not an image');
  const corrupt = await enigm('fw', 'flash', '--port', 'x', junk, '--json');
  rmSync(junk, { force: true });
  t.is(corrupt.code, 1);
  t.is(JSON.parse(corrupt.stdout).error.code, 'KEY_IMAGE_INVALID');
  t.is((await enigm('cbor', 'decode', 'zz')).code, 2);
  const bad = await enigm('cbor', 'decode', '1a0000', '--json');
  t.is(bad.code, 1);
  t.is(JSON.parse(bad.stdout).error.code, 'CBOR_TRUNCATED');
  const gone = await enigm('key', 'info', '--port', '/nonexistent/ttyACM7', '--json');
  t.is(gone.code, 1);
  t.is(JSON.parse(gone.stdout).error.code, 'TRANSPORT_OPEN_FAILED');
});
