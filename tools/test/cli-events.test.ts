/**
 * `enigm events watch` against the simulator's embedded broker with real Keys: the retained status
 * and a lifecycle record (pair, then activate through the facade) verified with --identity;
 * records unverified without it and BAD SIGNATURE when forged; garbage and oversized payloads on
 * an `up` topic shown as one invalid line and counted (never their bytes); duplicates dropped by
 * record id and counted; --count; SIGTERM exits 0; usage errors exit 2, an unreachable broker, a
 * refused identity or subscription exit 1.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createTlsKeyPair, issueTlsCertificate } from '@enigm/attestation';
import { openKey } from '@enigm/key-firmware-host';
import { MqttLink } from '@enigm/mqtt';
import { type Mosquitto, mosquittoAvailability, startMosquitto } from '@enigm/mqtt/broker';
import { encode } from '@enigm/protocols/cbor';
import { keyTopic, mosquittoAcl, sealUplink, type Uplink } from '@enigm/protocols/mqtt';
import { Simulator } from '@enigm/sim';
import test from 'ava';
import { eventsCommands } from '../src/commands/events.ts';
import { type CommandRun, runCommand } from './run-command.ts';

const dir = mkdtempSync(join(tmpdir(), 'enigm-cli-events-'));
let sim: Simulator | undefined;
const links: MqttLink[] = [];

test.before(async () => {
  sim = await Simulator.start({ keys: 2, mqtt: true, serial: false, tcp: false, stateDir: join(dir, 'sim') });
});

test.after.always(async () => {
  for (const l of links) await l.close().catch(() => undefined);
  await sim?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function the(): Simulator {
  if (!sim) throw new Error('the simulator did not start');
  return sim;
}

function handleOf(i: number): string {
  return (the().keys()[i]?.mqtt ?? '').split('/').pop() as string;
}

function identityHex(i: number): string {
  return Buffer.from(the().firmware(i).secureElement.identityPublicKey).toString('hex');
}

/** A raw connection under the Key's own username (a Key may publish on its own `up`). */
async function asKey(i: number): Promise<MqttLink> {
  const l = await MqttLink.connect({ url: the().broker?.url as string, username: handleOf(i), protocol: 4 });
  links.push(l);
  return l;
}

/** A record signed by Key i's secure element (as its uplink signs them). */
function signed(i: number, record: Partial<Uplink> = {}): { record: Uplink; bytes: Uint8Array } {
  const se = the().firmware(i).secureElement;
  const r: Uplink = {
    id: new Uint8Array(randomBytes(16)),
    seq: 1000,
    time: Date.UTC(2026, 0, 2, 3, 4, 5),
    kind: 'check-in',
    priority: 'normal',
    body: encode(new Map([[1, 'hello']])),
    ...record,
  };
  return { record: r, bytes: sealUplink(r, handleOf(i), 'up', { signer: (m) => se.sign(m) }) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `enigm events watch …` in-process and taps its output while it runs (runCommand replaces
 * the process streams synchronously; the tap wraps its replacement), so the test can wait for
 * "watching" before it publishes.
 */
function watch(argv: string[]): { done: Promise<CommandRun>; waitFor(re: RegExp, ms?: number): Promise<void> } {
  const done = runCommand(eventsCommands, ['events', 'watch', ...argv]);
  let seen = '';
  for (const stream of [process.stdout, process.stderr]) {
    const inner = stream.write;
    stream.write = ((chunk: string | Uint8Array) => {
      seen += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return (inner as (c: string | Uint8Array) => boolean)(chunk);
    }) as typeof stream.write;
  }
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  return {
    done: bounded(done, 30_000, 'events watch'),
    async waitFor(re, ms = 20_000) {
      const until = Date.now() + ms;
      while (!re.test(seen)) {
        if (finished) throw new Error(`events watch ended before ${re}: ${seen}`);
        if (Date.now() > until) throw new Error(`timed out waiting for ${re}: ${seen}`);
        await sleep(20);
      }
    },
  };
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms);
    }),
  ]);
}

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test.serial('with --identity the retained status and a lifecycle record (activate) are verified', async (t) => {
  const h0 = handleOf(0);
  const w = watch([
    '--broker',
    the().broker?.url as string,
    '--handle',
    h0,
    '--identity',
    `${h0}=${identityHex(0)}`,
    '--json',
    '--count',
    '2',
  ]);
  await w.waitFor(/watching mqtt:/);
  const key = await openKey(the().keys()[0]?.mqtt as string, {
    hostKey: join(dir, 'home', 'host-key.pem'),
    known: join(dir, 'home', 'known-keys.json'),
  });
  try {
    await key.pair('owner');
    t.is(await key.activate(), 'dormant');
  } finally {
    await key.close();
  }
  const r = await w.done;
  t.is(r.code, 0, r.stderr);
  const [status, record] = jsonLines(r.stdout);
  t.like(status, { type: 'status', handle: h0, online: true, state: 'factory', will: false, verified: true });
  t.regex(String(status?.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.like(record, {
    type: 'uplink',
    handle: h0,
    channel: 'up',
    kind: 'lifecycle.changed',
    priority: 'normal',
    body: '{1: "factory", 2: "dormant"}',
    verified: true,
  });
  t.regex(String(record?.id), /^[0-9a-f]{32}$/);
  t.is(typeof record?.seq, 'number');
  t.regex(r.stderr, /2 messages shown; 0 duplicates dropped; 0 invalid/);
});

test.serial(
  'without --identity records are unverified; garbage and oversized payloads are invalid; duplicates are dropped and counted',
  async (t) => {
    const h1 = handleOf(1);
    const w = watch(['--broker', the().broker?.url as string, '--handle', h1, '--channel', 'up', '--json', '--count', '4']);
    await w.waitFor(/watching mqtt:/);
    const key = await asKey(1);
    const a = signed(1, { seq: 1 });
    const b = signed(1, { seq: 2, kind: 'check-in', priority: 'emergency' });
    const up = keyTopic(h1, 'up');
    await key.publish(up, a.bytes);
    await key.publish(up, a.bytes); // the same record again: at-least-once delivery
    await key.publish(up, new TextEncoder().encode('garbage-garbage-garbage'));
    await key.publish(up, new Uint8Array(70_000).fill(0x41));
    await key.publish(up, a.bytes);
    await key.publish(up, b.bytes);
    const r = await w.done;
    t.is(r.code, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    t.is(lines.length, 4);
    t.like(lines[0], { type: 'uplink', id: Buffer.from(a.record.id).toString('hex'), seq: 1, verified: false });
    t.is(lines[0]?.time, '2026-01-02T03:04:05.000Z');
    t.like(lines[1], { type: 'invalid', topic: up, code: 'MQTT_PAYLOAD_INVALID', size: 23 });
    t.like(lines[2], { type: 'invalid', topic: up, code: 'MQTT_PAYLOAD_TOO_LARGE', size: 70_000 });
    t.like(lines[3], { type: 'uplink', seq: 2, priority: 'emergency', verified: false });
    t.regex(r.stderr, /4 messages shown; 2 duplicates dropped; 2 invalid/);
    t.notRegex(r.stdout + r.stderr, /garbage|AAAA/);
  },
);

test.serial('human output: one line per message; a forged record is BAD SIGNATURE, garbage one invalid line', async (t) => {
  const h1 = handleOf(1);
  const w = watch([
    '--broker',
    the().broker?.url as string,
    '--handle',
    h1,
    '--channel',
    'up',
    '--identity',
    `${h1}=${identityHex(1)}`,
    '--count',
    '3',
  ]);
  await w.waitFor(/watching mqtt:/);
  const key = await asKey(1);
  const up = keyTopic(h1, 'up');
  const good = signed(1, { seq: 7, kind: 'check-in' });
  const forged = sealUplink({ ...good.record, id: new Uint8Array(16).fill(9), seq: 8 }, h1, 'up', {
    seed: new Uint8Array(32).fill(5),
  });
  await key.publish(up, good.bytes);
  await key.publish(up, forged);
  await key.publish(up, Uint8Array.of(0xa1, 0x01));
  const r = await w.done;
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  t.is(lines.length, 3, r.stdout);
  t.regex(
    lines[0] as string,
    new RegExp(`^2026-01-02T03:04:05\\.000Z  ${h1}  up  #7  check-in  \\{1: "hello"\\}  verified  id [0-9a-f]{32}$`),
  );
  t.regex(lines[1] as string, /#8 .* BAD SIGNATURE /);
  t.is(lines[2], `invalid payload on ${up}: MQTT_PAYLOAD_INVALID`);
  t.regex(r.stderr, /1 with a bad signature/);
});

test.serial('the fleet by default: every Key and channel (+), both retained statuses', async (t) => {
  const w = watch(['--broker', the().broker?.url as string, '--json', '--count', '2']);
  await w.waitFor(/watching/);
  const r = await w.done;
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /enigm\/v1\/key\/\+\/up, enigm\/v1\/key\/\+\/status, enigm\/v1\/key\/\+\/risk/);
  const lines = jsonLines(r.stdout);
  t.deepEqual(lines.map((l) => l.handle).sort(), [handleOf(0), handleOf(1)].sort());
  t.true(lines.every((l) => l.type === 'status' && l.verified === false));
});

test.serial(
  'usage errors exit 2: bad URL, no --broker, bad --identity, --channel, --handle, and --group on a 3.1.1 broker',
  async (t) => {
    const url = the().broker?.url as string;
    const cases: [string[], RegExp][] = [
      [['--broker', 'http://127.0.0.1:1'], /MQTT_BAD_URL|bad broker URL/],
      [[], /--broker URL is required/],
      [['--broker', url, '--identity', 'nope'], /--identity must be HANDLE=HEX/],
      [['--broker', url, '--identity', `${handleOf(0)}=abcd`], /32 bytes/],
      [['--broker', url, '--channel', 'down'], /--channel must be up, status or risk/],
      [['--broker', url, '--handle', 'key-1'], /--handle must be a Key handle/],
      [['--broker', url, '--count', '0'], /--count must be an integer/],
      [['--broker', url, '--group', 'consumers'], /--group: .*needs MQTT 5.*3\.1\.1/],
    ];
    for (const [argv, re] of cases) {
      const r = await runCommand(eventsCommands, ['events', 'watch', ...argv]);
      t.is(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
      t.regex(r.stderr, re);
    }
  },
);

test.serial(
  'run-time errors exit 1 with the MqttError code: unreachable broker, refused identity, refused subscription',
  async (t) => {
    // Port 1 (tcpmux): privileged and outside the ephemeral range, so no test's server or client can
    // hold it; a port found free and closed again could be taken by another test file meanwhile.
    const unreachable = await runCommand(eventsCommands, ['events', 'watch', '--broker', 'mqtt://127.0.0.1:1']);
    t.is(unreachable.code, 1, unreachable.stderr);
    t.regex(unreachable.stderr, /MQTT_CONNECT_FAILED: .*ECONNREFUSED/);
    const url = the().broker?.url as string;
    const refused = await runCommand(eventsCommands, ['events', 'watch', '--broker', url, '--client', 'Not A Name']);
    t.is(refused.code, 1, refused.stderr);
    t.regex(refused.stderr, /MQTT_NOT_AUTHORIZED/);
    // A Key may not read the fleet's uplink.
    const sub = await runCommand(eventsCommands, ['events', 'watch', '--broker', url, '--client', handleOf(0), '--json']);
    t.is(sub.code, 1, sub.stderr);
    t.regex(sub.stderr, /MQTT_SUBSCRIBE_REFUSED: .*enigm\/v1\/key\/\+\/up/);
    t.like(jsonLines(sub.stdout)[0], { ok: false, error: { code: 'MQTT_SUBSCRIBE_REFUSED' } });
  },
);

test.serial('SIGTERM ends a watch cleanly with exit 0 (child process)', async (t) => {
  const cli = new URL('../src/cli.ts', import.meta.url).href;
  const mod = new URL('../src/commands/events.ts', import.meta.url).href;
  const script = `import { dispatch } from ${JSON.stringify(cli)}; import { eventsCommands } from ${JSON.stringify(mod)}; process.exitCode = await dispatch(eventsCommands, process.argv.slice(1));`;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script, 'events', 'watch', '--broker', the().broker?.url as string],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  try {
    const until = Date.now() + 45_000;
    while (!/watching/.test(stderr) || stdout.split('\n').length < 3) {
      if (Date.now() > until || child.exitCode !== null) break;
      await sleep(50);
    }
    t.regex(stderr, /watching/);
    t.is(stdout.trimEnd().split('\n').length, 2, stdout); // both retained statuses
    child.kill('SIGTERM');
    t.is(await exited, 0, stderr);
    t.regex(stderr, /2 messages shown/);
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test.serial(
  'SIGINT and SIGTERM are handled before "watching" is printed: a signal sent on that line is a clean stop',
  async (t) => {
    // Checked where it cannot be a matter of timing: the listeners present at the moment the line
    // is written (this file's tests are serial, nothing else adds or removes them meanwhile).
    const h1 = handleOf(1);
    const counts = () => ({ SIGINT: process.listenerCount('SIGINT'), SIGTERM: process.listenerCount('SIGTERM') });
    const before = counts();
    let atLine: ReturnType<typeof counts> | undefined;
    const w = watch(['--broker', the().broker?.url as string, '--handle', h1, '--channel', 'up', '--count', '1']);
    const inner = process.stderr.write; // the watch's tap, itself wrapping runCommand's capture
    process.stderr.write = ((chunk: string | Uint8Array) => {
      if (atLine === undefined && /^watching /m.test(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')))
        atLine = counts();
      return (inner as (c: string | Uint8Array) => boolean)(chunk);
    }) as typeof process.stderr.write;
    await w.waitFor(/watching mqtt:/);
    const key = await asKey(1);
    await key.publish(keyTopic(h1, 'up'), signed(1, { seq: 50 }).bytes); // the one message: --count 1 ends it
    const r = await w.done;
    t.is(r.code, 0, r.stderr);
    t.deepEqual(atLine, { SIGINT: before.SIGINT + 1, SIGTERM: before.SIGTERM + 1 }, 'listening when the line was written');
    t.deepEqual(counts(), before, 'and removed when the watch ended');
  },
);

const availability = mosquittoAvailability();
const mosquittoTest = availability.mode === 'skip' ? test.serial.skip : test.serial;

mosquittoTest('--group on an MQTT 5 broker (mosquitto, mutual TLS) consumes through $share/GROUP/…', async (t) => {
  if (availability.mode === 'fail') throw new Error(`CI=true but ${availability.reason}`);
  const pki = join(dir, 'pki');
  mkdirSync(pki, { recursive: true });
  const ca = await createCa();
  const caFile = join(pki, 'ca.pem');
  writeFileSync(caFile, ca.root.certificate.pem + ca.intermediate.certificate.pem);
  const issue = async (cn: string, usage: 'server' | 'client') => {
    const keys = await createTlsKeyPair();
    const cert = await issueTlsCertificate(ca, { commonName: cn, usage, publicKey: keys.publicKey });
    const files = { cert: join(pki, `${cn}.crt`), key: join(pki, `${cn}.key`) };
    writeFileSync(files.cert, cert.chainPem);
    writeFileSync(files.key, keys.privateKeyPem, { mode: 0o600 });
    return files;
  };
  const server = await issue('mqtt-broker', 'server');
  const backend = await issue('backend-1', 'client');
  const h1 = handleOf(1);
  const keyId = await issue(h1, 'client');
  let m: Mosquitto | undefined;
  try {
    m = await startMosquitto({
      dir: join(dir, 'mosquitto'),
      tls: { caFile, certFile: server.cert, keyFile: server.key },
      aclText: mosquittoAcl({ backends: ['backend-1'] }),
    });
    const w = watch([
      '--broker',
      m.url,
      '--ca',
      caFile,
      '--cert',
      backend.cert,
      '--key',
      backend.key,
      '--group',
      'consumers',
      '--channel',
      'up',
      '--identity',
      `${h1}=${identityHex(1)}`,
      '--json',
      '--count',
      '1',
    ]);
    await w.waitFor(/watching mqtts:.*\(MQTT 5\): \$share\/consumers\/enigm\/v1\/key\/\+\/up/);
    const key = await MqttLink.connect({
      url: m.url,
      tls: { ca: readFileSync(caFile, 'utf8'), cert: readFileSync(keyId.cert, 'utf8'), key: readFileSync(keyId.key, 'utf8') },
    });
    links.push(key);
    const rec = signed(1, { seq: 42 });
    await key.publish(keyTopic(h1, 'up'), rec.bytes);
    const r = await w.done;
    t.is(r.code, 0, r.stderr);
    t.like(jsonLines(r.stdout)[0], { type: 'uplink', handle: h1, seq: 42, verified: true });
  } finally {
    await m?.stop();
  }
});
