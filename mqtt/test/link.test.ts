/**
 * MqttLink, the one MQTT client (mqtt/src/client/link.ts, docs/mqtt.md "Client behaviour"),
 * against the real embedded broker: full-jitter backoff bounds and spread; MQTT 5 → 3.1.1
 * fallback against aedes; a dropped connection reconnects and resubscribes; a publish while
 * disconnected fails at once (no hidden offline queue) and one in flight when the link drops
 * fails instead of hanging; ACL refusals are typed; client certificates that expired, are not yet
 * valid or expire soon are reported before any connection; URLs are parsed strictly; close is
 * bounded and idempotent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { startEmbeddedBroker } from '../src/broker/index.ts';
import {
  certificateCommonName,
  checkClientCertificate,
  fullJitterDelay,
  MqttError,
  MqttLink,
  type MqttLinkEvent,
  parseBrokerUrl,
} from '../src/index.ts';
import { startTcpRelay, targetOf } from '../src/testing/index.ts';
import { createTestPki, expiredValidity } from './support/certs.ts';

const HANDLE = `eh1-${'c'.repeat(26)}`;
/** Bound of every wait on the broker: generous for a loaded CI machine; the normal case takes milliseconds. */
const WAIT_MS = 15_000;

/** A small seeded generator of uniform numbers in [0, 1) (mulberry32). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('full jitter: uniform in [0, min(cap, base·2^n)); never above the cap; spread, not lockstep', (t) => {
  t.is(
    fullJitterDelay(0, { baseMs: 1000, capMs: 30_000 }, () => 0),
    0,
  );
  t.is(
    fullJitterDelay(3, { baseMs: 1000, capMs: 30_000 }, () => 0.5),
    4000,
  );
  t.is(
    fullJitterDelay(10, { baseMs: 1000, capMs: 30_000 }, () => 0.999999),
    29_999,
  );
  t.is(
    fullJitterDelay(400, { baseMs: 1000, capMs: 30_000 }, () => 1),
    29_999,
    'random() = 1 stays below the window',
  );
  t.throws(() => fullJitterDelay(-1), { instanceOf: RangeError });
  t.throws(() => fullJitterDelay(1, { baseMs: Number.NaN }), { instanceOf: RangeError });
  // 1000 clients at attempt 5 (window 32 s capped to 30 s): every 3 s bin gets a share. A seeded
  // generator (mulberry32), so the spread is the same every run: with Math.random a bin fell
  // outside (50, 150) about once in 200,000 runs.
  const bins = new Array(10).fill(0);
  const seeded = mulberry32(20_260_101);
  for (let i = 0; i < 1000; i++) bins[Math.floor(fullJitterDelay(5, {}, seeded) / 3000)]++;
  t.true(
    bins.every((b) => b > 50 && b < 150),
    `bins ${bins.join(',')}`,
  );
  // Without a generator it draws from Math.random: in the window, and not one value for everyone
  // (1000 equal draws have a chance of 30,000^-999).
  const drawn = Array.from({ length: 1000 }, () => fullJitterDelay(5));
  t.true(drawn.every((d) => Number.isInteger(d) && d >= 0 && d < 30_000));
  t.true(new Set(drawn).size > 1, 'clients are not in lockstep');
});

test('parseBrokerUrl: strict, default ports, path kept, no credentials', (t) => {
  t.deepEqual(parseBrokerUrl('mqtt://127.0.0.1'), { protocol: 'mqtt', host: '127.0.0.1', port: 1883, path: '' });
  t.deepEqual(parseBrokerUrl('mqtts://[::1]:8884/eh1-x'), { protocol: 'mqtts', host: '::1', port: 8884, path: 'eh1-x' });
  for (const [url, why] of [
    ['', /empty/],
    ['http://h', /expected mqtt/],
    ['mqtt://user:pw@h:1883', /credentials do not belong/],
    ['mqtt://h:0', /outside 1\.\.65535/],
  ] as const) {
    const e = t.throws(() => parseBrokerUrl(url), { instanceOf: MqttError });
    t.is(e?.code, 'MQTT_BAD_URL');
    t.regex(e?.message ?? '', why);
    t.false((e?.message ?? '').includes('pw'), 'never echoes a password');
  }
});

test.serial('against the embedded broker: 5 → 3.1.1 fallback, reconnect with resubscription, typed refusals', async (t) => {
  const broker = await startEmbeddedBroker();
  // The links reach the broker through a relay that keeps its port while the broker is replaced
  // (restarting a broker on the port it had raced the suite's other processes for that port).
  const relay = await startTcpRelay(targetOf(broker.url));
  t.teardown(() => relay.close());
  const url = `mqtt://127.0.0.1:${relay.port}`;
  const events: MqttLinkEvent[] = [];
  const a = await MqttLink.connect({ url, username: 'host-a', backoff: { baseMs: 20, capMs: 100 } });
  const b = await MqttLink.connect({ url, username: 'host-b', protocol: 4 });
  try {
    t.is(a.protocolVersion, 4, 'aedes refused MQTT 5; the link fell back');
    a.onState((e) => events.push(e));
    const got: string[] = [];
    a.onMessage((topic) => got.push(topic));
    const status = `enigm/v1/key/${HANDLE}/status`;
    await a.subscribe(status);
    const refused = await t.throwsAsync(a.subscribe('enigm/#'), { instanceOf: MqttError });
    t.is(refused?.code, 'MQTT_SUBSCRIBE_REFUSED');
    const keyLink = await MqttLink.connect({
      url,
      username: HANDLE,
      protocol: 4,
      backoff: { baseMs: 20, capMs: 100 },
    });
    t.teardown(() => keyLink.close());
    await keyLink.publish(status, new Uint8Array([1]));
    await until(() => got.length === 1, WAIT_MS, 'the first message');
    // The broker goes away (a's connection drops, new ones are refused): a reconnects (backoff) to
    // a new broker, which knows nothing of a's subscription, and subscribes again by itself.
    relay.target = undefined;
    await broker.close();
    await until(() => events.some((e) => e.state === 'reconnecting'), WAIT_MS, 'reconnecting');
    const pub = await t.throwsAsync(a.publish(status, new Uint8Array([2])), { instanceOf: MqttError });
    t.is(pub?.code, 'MQTT_NOT_CONNECTED', 'no hidden offline queue');
    const again = await startEmbeddedBroker();
    relay.target = targetOf(again.url);
    try {
      await until(() => a.connected, WAIT_MS, 'a to reconnect');
      await until(() => keyLink.connected, WAIT_MS, 'the Key link to reconnect');
      await keyLink.publish(status, new Uint8Array([3]));
      await until(() => got.length === 2, WAIT_MS, 'a message after the reconnect');
      t.true(events.some((e) => e.state === 'connected' && e.attempt === 1));
    } finally {
      await again.close();
    }
  } finally {
    await a.close();
    await a.close(); // idempotent
    await b.close();
  }
  t.true(events.some((e) => e.state === 'closed'));
});

test.serial('a publish in flight when the connection drops fails; it never hangs', async (t) => {
  const broker = await startEmbeddedBroker();
  const link = await MqttLink.connect({ url: broker.url, username: HANDLE, reconnect: false });
  try {
    const topic = `enigm/v1/key/${HANDLE}/up`;
    const inflight = Array.from({ length: 50 }, () =>
      link.publish(topic, new Uint8Array(10_000)).then(
        () => 'ok',
        (e: MqttError) => e.code,
      ),
    );
    await broker.close();
    let timer: NodeJS.Timeout | undefined;
    const results = await Promise.race([
      Promise.all(inflight),
      new Promise<string[]>((r) => {
        timer = setTimeout(() => r(['hung']), WAIT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    t.false(results.includes('hung'));
    t.true(
      results.every((r) => r === 'ok' || r === 'MQTT_PUBLISH_FAILED' || r === 'MQTT_NOT_CONNECTED'),
      results.join(','),
    );
  } finally {
    await link.close();
  }
});

test('unreachable broker and bad TLS combinations are clear errors', async (t) => {
  const e = await t.throwsAsync(MqttLink.connect({ url: 'mqtt://127.0.0.1:1', username: 'host-a', connectTimeoutMs: 2000 }), {
    instanceOf: MqttError,
  });
  t.is(e?.code, 'MQTT_CONNECT_FAILED');
  t.regex(e?.message ?? '', /nothing listens there/);
  const plain = await t.throwsAsync(MqttLink.connect({ url: 'mqtt://127.0.0.1:1', tls: { cert: 'x', key: 'y' } }), {
    instanceOf: MqttError,
  });
  t.regex(plain?.message ?? '', /use mqtts/);
});

test('client certificates: expired, not yet valid and soon expiring are known before connecting; the CN is the broker name', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-link-certs-'));
  try {
    const pki = await createTestPki(dir);
    const expired = await pki.client('host-old', expiredValidity());
    const e = await t.throwsAsync(
      MqttLink.connect({ url: 'mqtts://127.0.0.1:1', tls: { ca: pki.caPem, cert: expired.cert, key: expired.key } }),
      {
        instanceOf: MqttError,
      },
    );
    t.is(e?.code, 'MQTT_CERT_EXPIRED');
    const future = await pki.client('host-future', {
      notBefore: new Date(Date.now() + 86_400_000),
      notAfter: new Date(Date.now() + 10 * 86_400_000),
    });
    t.is(
      t.throws(() => checkClientCertificate(future.cert, Date.now()), { instanceOf: MqttError })?.code,
      'MQTT_CERT_NOT_YET_VALID',
    );
    const soon = await pki.client('host-soon', { notAfter: new Date(Date.now() + 5 * 86_400_000) });
    t.is(checkClientCertificate(soon.cert, Date.now()), 4);
    t.is(
      t.throws(() => checkClientCertificate('not a certificate', Date.now()), { instanceOf: MqttError })?.code,
      'MQTT_TLS_FILES',
    );
    // the broker name under use_identity_as_username is the subject's CN
    t.is(certificateCommonName(soon.cert), 'host-soon');
    t.is(certificateCommonName(Buffer.from(soon.cert)), 'host-soon');
    t.is(certificateCommonName('not a certificate'), undefined);
    t.is(certificateCommonName(undefined), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
