/**
 * `enigm events watch --session NAME` (docs/mqtt.md "CLI", "Beyond one machine": persistent
 * sessions for backend consumers): a watcher that leaves and comes back with the same --session
 * is shown, first and in order, the records published while it was away — on mosquitto with mutual
 * TLS over MQTT 5 (session expiry from --session-expiry) and on the embedded broker over MQTT
 * 3.1.1 (clean session off); with --count the records after the Nth are left to the session (not
 * acknowledged), so the next watch gets them. Records are signed and shown verified with --identity. A malformed
 * --session, or --session-expiry without --session, is a usage error (exit 2).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createTlsKeyPair, issueTlsCertificate } from '@enigm/attestation';
import { MqttLink, type MqttLinkOptions } from '@enigm/mqtt';
import { type Mosquitto, mosquittoAvailability, startEmbeddedBroker, startMosquitto } from '@enigm/mqtt/broker';
import { encode } from '@enigm/protocols/cbor';
import { ed25519Generate } from '@enigm/protocols/crypto';
import { keyTopic, mosquittoAcl, sealUplink } from '@enigm/protocols/mqtt';
import test from 'ava';
import { eventsCommands } from '../src/commands/events.ts';
import { type CommandRun, runCommand } from './run-command.ts';

const dir = mkdtempSync(join(tmpdir(), 'enigm-cli-events-session-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const HANDLE = `eh1-${'s'.repeat(26)}`;
const keyPair = ed25519Generate();
const IDENTITY = `${HANDLE}=${Buffer.from(keyPair.publicKey).toString('hex')}`;

/** An uplink record of HANDLE with this seq, signed with its identity key. */
function record(seq: number): Uint8Array {
  return sealUplink(
    {
      id: new Uint8Array(16).fill(seq),
      seq,
      time: Date.UTC(2026, 0, 1) + seq,
      kind: 'check-in',
      priority: 'normal',
      body: encode(new Map([[1, seq]])),
    },
    HANDLE,
    'up',
    { seed: keyPair.seed },
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms);
    }),
  ]);
}

/**
 * Starts `enigm events watch …` in-process and taps its output while it runs, so the test can
 * wait for "watching" (subscribed) before it publishes.
 */
function watch(argv: string[]): { done: Promise<CommandRun>; waitFor(re: RegExp): Promise<void> } {
  const done = runCommand(eventsCommands, ['events', 'watch', ...argv]);
  let seen = '';
  const stream = process.stderr;
  const inner = stream.write;
  stream.write = ((chunk: string | Uint8Array) => {
    seen += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return (inner as (c: string | Uint8Array) => boolean)(chunk);
  }) as typeof stream.write;
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  return {
    done: bounded(done, 30_000, 'events watch'),
    async waitFor(re) {
      const until = Date.now() + 20_000;
      while (!re.test(seen)) {
        if (finished) throw new Error(`events watch ended before ${re}: ${seen}`);
        if (Date.now() > until) throw new Error(`timed out waiting for ${re}: ${seen}`);
        await sleep(20);
      }
    },
  };
}

const seqs = (r: CommandRun) =>
  r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { seq: number; verified: unknown })
    .map((m) => ({ seq: m.seq, verified: m.verified }));

/**
 * The scenario on one broker: a session watcher sees record 1 and leaves (--count 1); records 2-4
 * are published while it is away; the same --session with --count 1 then shows 2, and the next
 * one 3 and 4.
 */
async function awayAndBack(
  t: import('ava').ExecutionContext,
  common: string[],
  key: MqttLinkOptions,
  watching: RegExp,
): Promise<void> {
  const args = [...common, '--channel', 'up', '--identity', IDENTITY, '--json'];
  const first = watch([...args, '--count', '1']);
  await first.waitFor(watching);
  const link = await MqttLink.connect(key);
  t.teardown(() => link.close());
  await link.publish(keyTopic(HANDLE, 'up'), record(1));
  const r1 = await first.done;
  t.is(r1.code, 0, r1.stderr);
  t.deepEqual(seqs(r1), [{ seq: 1, verified: true }]);

  for (const seq of [2, 3, 4]) await link.publish(keyTopic(HANDLE, 'up'), record(seq));

  // Back with --count 1: all three queued records arrive at once; only the first is shown and
  // acknowledged, the other two stay with the session for the next watch.
  const again = (n: number) =>
    bounded(runCommand(eventsCommands, ['events', 'watch', ...args, '--count', String(n)]), 30_000, 'a later watch');
  const r2 = await again(1);
  t.is(r2.code, 0, r2.stderr);
  t.deepEqual(seqs(r2), [{ seq: 2, verified: true }], 'what it missed first');
  const r3 = await again(2);
  t.is(r3.code, 0, r3.stderr);
  t.deepEqual(
    seqs(r3),
    [3, 4].map((seq) => ({ seq, verified: true })),
    'the rest, in order: none lost to the --count of the watch before',
  );
}

test.serial(
  'embedded broker (MQTT 3.1.1): the records published while a --session watcher was away are shown when it returns',
  async (t) => {
    const broker = await startEmbeddedBroker();
    t.teardown(() => broker.close());
    await awayAndBack(
      t,
      ['--broker', broker.url, '--client', 'backend-1', '--session', 'backend-1-audit'],
      { url: broker.url, username: HANDLE, reconnect: false },
      /watching mqtt:.*\(MQTT 3\.1\.1\): enigm\/v1\/key\/\+\/up as persistent session backend-1-audit \(Ctrl-C/,
    );
  },
);

const availability = mosquittoAvailability();
const mosquittoTest = availability.mode === 'skip' ? test.serial.skip : test.serial;

mosquittoTest(
  'mosquitto, mutual TLS, MQTT 5: --session with --session-expiry gets what was published while it was away',
  async (t) => {
    if (availability.mode === 'fail') throw new Error(`CI=true but ${availability.reason}`);
    const pki = join(dir, 'pki');
    mkdirSync(pki, { recursive: true });
    const ca = await createCa();
    const caPem = ca.root.certificate.pem + ca.intermediate.certificate.pem;
    const caFile = join(pki, 'ca.pem');
    writeFileSync(caFile, caPem);
    const issue = async (cn: string, usage: 'server' | 'client') => {
      const keys = await createTlsKeyPair();
      const cert = await issueTlsCertificate(ca, { commonName: cn, usage, publicKey: keys.publicKey });
      const files = {
        cert: join(pki, `${cn}.crt`),
        key: join(pki, `${cn}.key`),
        certPem: cert.chainPem,
        keyPem: keys.privateKeyPem,
      };
      writeFileSync(files.cert, cert.chainPem);
      writeFileSync(files.key, keys.privateKeyPem, { mode: 0o600 });
      return files;
    };
    const server = await issue('mqtt-broker', 'server');
    const backend = await issue('backend-1', 'client');
    const keyId = await issue(HANDLE, 'client');
    let m: Mosquitto | undefined;
    t.teardown(() => m?.stop());
    m = await startMosquitto({
      dir: join(dir, 'mosquitto'),
      tls: { caFile, certFile: server.cert, keyFile: server.key },
      aclText: mosquittoAcl({ backends: ['backend-1'] }),
    });
    await awayAndBack(
      t,
      [
        ...['--broker', m.url, '--ca', caFile, '--cert', backend.cert, '--key', backend.key],
        ...['--session', 'backend-1-audit', '--session-expiry', '600'],
      ],
      { url: m.url, tls: { ca: caPem, cert: keyId.certPem, key: keyId.keyPem }, reconnect: false },
      /watching mqtts:.*\(MQTT 5\): enigm\/v1\/key\/\+\/up as persistent session backend-1-audit \(kept 600 s after it leaves\)/,
    );
  },
);

test.serial('usage errors exit 2: a malformed --session, --session-expiry without --session or out of range', async (t) => {
  const url = 'mqtt://127.0.0.1:1';
  for (const [argv, re] of [
    [['--session', 'bad name'], /--session must be 1-64 of/],
    [['--session', 'x'.repeat(65)], /--session must be 1-64 of/],
    [['--session-expiry', '60'], /--session-expiry needs --session NAME/],
    [['--session', 'ok', '--session-expiry', '0'], /--session-expiry must be an integer/],
  ] as const) {
    const r = await runCommand(eventsCommands, ['events', 'watch', '--broker', url, ...argv]);
    t.is(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re);
  }
});
