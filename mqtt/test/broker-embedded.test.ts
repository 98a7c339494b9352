import { spawn } from 'node:child_process';
import { createServer, connect as tcpConnect } from 'node:net';
import { type EmbeddedBroker, startEmbeddedBroker } from '@enigm/mqtt/broker';
import { keyDownFilter, keyTopic } from '@enigm/protocols/mqtt';
import test from 'ava';
import { ClientPool, HANDLE_A, HANDLE_B, inbox, sleep, subCodes, until, within } from './support/clients.ts';

const pool = new ClientPool();
/** Bound of every wait for a delivery: generous for a loaded CI machine; the normal case takes milliseconds. */
const WAIT_MS = 15_000;
let broker: EmbeddedBroker;
const logs: string[] = [];

test.before(async () => {
  broker = await startEmbeddedBroker({ log: (level, msg) => logs.push(`${level} ${msg}`) });
});

test.after.always(async () => {
  await pool.endAll();
  await broker?.close();
});

/** A privileged observer: a host that may read every Key's up/status and host-1's responses. */
async function backend() {
  const c = await pool.connect(broker.url, { username: 'backend-1' });
  const got = inbox(c);
  return { c, got };
}

test.serial('listens on loopback, with an mqtt:// URL', (t) => {
  t.regex(broker.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
  t.is(broker.url, `mqtt://127.0.0.1:${broker.port}`);
});

test.serial('a Key publishes its own up topic; the backend receives it', async (t) => {
  const { c: b, got } = await backend();
  t.deepEqual(await subCodes(b, 'enigm/v1/key/+/up'), [1]);
  const key = await pool.connect(broker.url, { username: HANDLE_A });
  await key.publishAsync(keyTopic(HANDLE_A, 'up'), Buffer.from('hello'), { qos: 1 });
  await until(() => got.length === 1, WAIT_MS, 'the uplink');
  t.is(got[0]?.topic, keyTopic(HANDLE_A, 'up'));
  t.is(got[0]?.payload.toString(), 'hello');
});

test.serial("a Key cannot publish to another Key's up or resp topics: acked, dropped, counted, still connected", async (t) => {
  const { c: b, got } = await backend();
  await b.subscribeAsync(['enigm/v1/key/+/up', 'enigm/v1/key/+/status'], { qos: 1 });
  const host = await pool.connect(broker.url, { username: 'host-1' });
  const hostGot = inbox(host);
  await host.subscribeAsync(`enigm/v1/key/+/resp/host-1/+`, { qos: 1 });
  const key = await pool.connect(broker.url, { username: HANDLE_A });
  const before = broker.stats().refused;
  await within(
    key.publishAsync(keyTopic(HANDLE_B, 'up'), Buffer.from('forged'), { qos: 1 }),
    WAIT_MS,
    'PUBACK of a refused publish',
  );
  await key.publishAsync(keyTopic(HANDLE_B, 'resp', 'host-1', 'l1'), Buffer.from('forged'), { qos: 1 });
  await key.publishAsync(keyTopic(HANDLE_B, 'status'), Buffer.from('forged'), { qos: 1, retain: true });
  await key.publishAsync(keyTopic(HANDLE_B, 'up'), Buffer.from('forged'), { qos: 0 });
  // Its own uplink after the refusals still goes through: the connection was not closed.
  await key.publishAsync(keyTopic(HANDLE_A, 'up'), Buffer.from('mine'), { qos: 1 });
  await until(() => got.length === 1, WAIT_MS, 'the own uplink');
  await sleep(200);
  t.deepEqual(
    got.map((m) => m.payload.toString()),
    ['mine'],
  );
  t.deepEqual(hostGot, []);
  t.is(broker.stats().refused - before, 4);
  t.true(key.connected);
  // The refused retained status was not stored: a new subscriber gets nothing retained.
  const late = await pool.connect(broker.url, { username: 'backend-2' });
  const lateGot = inbox(late);
  await late.subscribeAsync(keyTopic(HANDLE_B, 'status'), { qos: 1 });
  await sleep(200);
  t.deepEqual(lateGot, []);
});

test.serial("a Key cannot subscribe to another Key's downlink (SUBACK 0x80), only to its own", async (t) => {
  const key = await pool.connect(broker.url, { username: HANDLE_A });
  t.deepEqual(await subCodes(key, [keyDownFilter(HANDLE_B), keyDownFilter(HANDLE_A)]), [128, 1]);
  t.deepEqual(await subCodes(key, 'enigm/v1/key/+/up'), [128]);
  t.true(key.connected);
});

test.serial('a host reads its own responses and sends downlink under its own name only', async (t) => {
  const key = await pool.connect(broker.url, { username: HANDLE_A });
  const keyGot = inbox(key);
  await key.subscribeAsync(keyDownFilter(HANDLE_A), { qos: 1 });
  const host = await pool.connect(broker.url, { username: 'host-1' });
  const hostGot = inbox(host);
  t.is((await subCodes(host, keyTopic(HANDLE_A, 'resp', 'host-1', 'link1')))[0], 1);
  t.is((await subCodes(host, 'enigm/v1/key/+/resp/host-2/+'))[0], 128);
  await host.publishAsync(keyTopic(HANDLE_A, 'down', 'host-2', 'link1'), Buffer.from('spoofed'), { qos: 1 });
  await host.publishAsync(keyTopic(HANDLE_A, 'down', 'host-1', 'link1'), Buffer.from('cmd'), { qos: 1 });
  await until(() => keyGot.length === 1, WAIT_MS, 'the downlink');
  await sleep(150);
  t.deepEqual(
    keyGot.map((m) => [m.topic, m.payload.toString()]),
    [[keyTopic(HANDLE_A, 'down', 'host-1', 'link1'), 'cmd']],
  );
  await key.publishAsync(keyTopic(HANDLE_A, 'resp', 'host-1', 'link1'), Buffer.from('answer'), { qos: 1 });
  await until(() => hostGot.length === 1, WAIT_MS, 'the response');
  t.is(hostGot[0]?.payload.toString(), 'answer');
});

test.serial('# and non-Enigm topics are refused to everyone', async (t) => {
  const host = await pool.connect(broker.url, { username: 'host-1' });
  const key = await pool.connect(broker.url, { username: HANDLE_A });
  for (const c of [host, key]) {
    t.deepEqual(
      await subCodes(c, ['#', 'enigm/#', `enigm/v1/key/${HANDLE_A}/#`, '$SYS/#', 'other/topic']),
      [128, 128, 128, 128, 128],
    );
  }
  // A shared subscription to the fleet uplink is a backend right (a client name has it on this broker).
  t.is((await subCodes(host, '$share/g1/enigm/v1/key/+/up'))[0], 1);
});

test.serial('connections without a username or with a malformed one are refused at CONNECT', async (t) => {
  const noUser = await t.throwsAsync(pool.connect(broker.url, {}));
  t.is((noUser as Error & { code?: number }).code, 4);
  const bad = await t.throwsAsync(pool.connect(broker.url, { username: 'Not A Name!' }));
  t.is((bad as Error & { code?: number }).code, 5);
});

test.serial("a client id stays with its first username (no takeover of another identity's session)", async (t) => {
  await pool.connect(broker.url, { username: 'host-1', clientId: 'shared-id', clean: false });
  const taken = await t.throwsAsync(pool.connect(broker.url, { username: HANDLE_B, clientId: 'shared-id', clean: false }));
  t.is((taken as Error & { code?: number }).code, 2);
});

test.serial('an MQTT 5 CONNECT gets a clear refusal (return code 1, unacceptable protocol version); 3.1.1 works', async (t) => {
  const e = await t.throwsAsync(pool.connect(broker.url, { username: 'host-1', protocolVersion: 5 }));
  t.is((e as Error & { code?: number }).code, 1);
  t.regex((e as Error).message, /unacceptable protocol version/i);
  const fallback = await pool.connect(broker.url, { username: 'host-1', protocolVersion: 4 });
  t.true(fallback.connected);
});

test.serial('garbage never crashes the broker: random payloads, junk bytes, a truncated packet', async (t) => {
  const { c: b, got } = await backend();
  await b.subscribeAsync('enigm/v1/key/+/up', { qos: 1 });
  const key = await pool.connect(broker.url, { username: HANDLE_A });
  for (let i = 0; i < 50; i++) {
    const size = i === 49 ? 256 * 1024 : (i * 37) % 4096;
    const junk = Buffer.alloc(size);
    for (let j = 0; j < size; j++) junk[j] = (j * 131 + i * 7) & 0xff;
    await key.publishAsync(keyTopic(HANDLE_A, 'up'), junk, { qos: (i % 2) as 0 | 1 });
  }
  await until(() => got.length === 50, WAIT_MS, 'the 50 payloads');
  for (const bytes of [
    Buffer.from('GET / HTTP/1.1\r\n\r\n'),
    Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]), // CONNECT with an over-long remaining length
    Buffer.from([0x30, 0x05, 0x00]), // PUBLISH before CONNECT, truncated
    Buffer.from([0xf0, 0x00]), // reserved packet type
  ]) {
    await within(
      new Promise<void>((resolve) => {
        const s = tcpConnect({ host: '127.0.0.1', port: broker.port }, () => s.end(bytes));
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.resume();
        setTimeout(() => s.destroy(), 1500).unref();
      }),
      WAIT_MS,
      'a junk connection to end',
    );
  }
  await key.publishAsync(keyTopic(HANDLE_A, 'up'), Buffer.from('still alive'), { qos: 1 });
  await until(() => got.length === 51, WAIT_MS, 'a publish after the junk');
  t.is(got[50]?.payload.toString(), 'still alive');
});

test.serial('the queue of an offline persistent session is bounded by maxQueued', async (t) => {
  const small = await startEmbeddedBroker({ maxQueued: 5 });
  try {
    const sub = await pool.connect(small.url, { username: 'backend-1', clientId: 'b1-persistent', clean: false });
    await sub.subscribeAsync('enigm/v1/key/+/up', { qos: 1 });
    await new Promise<void>((r) => sub.end(false, {}, () => r()));
    // The broker must have seen the subscriber go (its session offline) before the Key publishes:
    // otherwise the messages are sent to the closing connection, not queued for the session.
    await until(() => small.stats().clients === 0, WAIT_MS, 'the broker to see the subscriber leave');
    const key = await pool.connect(small.url, { username: HANDLE_A });
    for (let i = 0; i < 12; i++) await key.publishAsync(keyTopic(HANDLE_A, 'up'), Buffer.from(`m${i}`), { qos: 1 });
    t.is(small.stats().dropped, 7);
    const again = await pool.connect(small.url, { username: 'backend-1', clientId: 'b1-persistent', clean: false });
    const got = inbox(again);
    await until(() => got.length === 5, WAIT_MS, 'the queued messages');
    await sleep(150);
    t.deepEqual(
      got.map((m) => m.payload.toString()),
      ['m0', 'm1', 'm2', 'm3', 'm4'],
    );
  } finally {
    await small.close();
  }
});

test.serial('roleOf gives exactly one role: a backend-only name cannot send downlink', async (t) => {
  const strict = await startEmbeddedBroker({ roleOf: (u) => (u === 'backend-1' ? 'backend' : undefined) });
  try {
    const b = await pool.connect(strict.url, { username: 'backend-1' });
    t.is((await subCodes(b, 'enigm/v1/key/+/up'))[0], 1);
    t.is((await subCodes(b, `enigm/v1/key/+/resp/backend-1/+`))[0], 128);
    const before = strict.stats().refused;
    await b.publishAsync(keyTopic(HANDLE_A, 'down', 'backend-1', 'l'), Buffer.from('x'), { qos: 1 });
    t.is(strict.stats().refused - before, 1);
    const e = await t.throwsAsync(pool.connect(strict.url, { username: 'host-1' }));
    t.is((e as Error & { code?: number }).code, 5);
  } finally {
    await strict.close();
  }
});

test.serial('close() ends connected clients: each sees its connection close', async (t) => {
  const b2 = await startEmbeddedBroker();
  const clients = await Promise.all([1, 2, 3].map((i) => pool.connect(b2.url, { username: `host-${i}` })));
  const closed = clients.map((c) => new Promise<void>((r) => c.once('close', () => r())));
  t.is(b2.stats().clients, 3);
  // Bounds only against a hang (no duration asserted): a close() that left the clients connected
  // never sees their 'close'.
  await within(b2.close(), WAIT_MS, 'broker close');
  await within(Promise.all(closed), WAIT_MS, 'clients to see the close');
  t.true(clients.every((c) => !c.connected));
  await b2.close();
});

test('a taken port rejects the start (EADDRINUSE) and the process still exits by itself', async (t) => {
  const held = createServer();
  await new Promise<void>((ok) => held.listen(0, '127.0.0.1', ok));
  t.teardown(() => new Promise<void>((ok) => held.close(() => ok())));
  const port = (held.address() as { port: number }).port;
  // In a process of its own: the symptom was a failed `sim start` that printed its error and never
  // exited (aedes' heartbeat interval outlived the start). Counting this process's timers raced with
  // the other tests of this file.
  const code = [
    "import { startEmbeddedBroker } from '@enigm/mqtt/broker';",
    `try { await startEmbeddedBroker({ port: ${port} }); console.log('started'); }`,
    'catch (e) { console.log(e.code); }',
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  // 'close', not 'exit': after 'exit' the child's stdout may still hold its last line.
  const exit = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  t.is(out.trim(), 'EADDRINUSE', `stderr: ${err}`);
  t.is(exit, 0, 'the process ended on its own, nothing of the broker kept it alive');
});
