import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createCa, createTlsKeyPair, issueTlsCertificate } from '@enigm/attestation';
import {
  BrokerError,
  findMosquitto,
  freeLoopbackPort,
  MOSQUITTO_MAX_QUEUED,
  mosquittoAvailability,
  mosquittoConfig,
  spawnMosquitto,
  startMosquitto,
} from '@enigm/mqtt/broker';
import { keyDownFilter, keyTopic, MQTT_ACL, type MqttRole, mosquittoAcl, mqttAllowed } from '@enigm/protocols/mqtt';
import test, { type ExecutionContext } from 'ava';
import type { IClientOptions, MqttClient } from 'mqtt';
import { MqttLink, type MqttLinkEvent } from '../src/index.ts';
import { startTcpRelay, targetOf } from '../src/testing/index.ts';
import { expiredValidity, type TlsIdentity } from './support/certs.ts';
import { ClientPool, HANDLE_A, HANDLE_B, inbox, sleep, subCodes, until, within } from './support/clients.ts';
import { useMosquitto } from './support/mosquitto.ts';

const ids: Record<string, TlsIdentity> = {};
const fx = useMosquitto(test, {
  hosts: ['host-1', 'host-2'],
  backends: ['backend-1'],
  async setup(f) {
    for (const cn of [HANDLE_A, HANDLE_B, 'host-1', 'host-2', 'backend-1']) ids[cn] = await f.pki.client(cn);
  },
});
const pool = new ClientPool();

test.after.always(async () => {
  await pool.endAll();
});

const NOT_AUTHORIZED = 0x87;

function as(cn: string, version: 4 | 5 = 5, more: IClientOptions = {}): Promise<MqttClient> {
  const id = ids[cn];
  if (!id) throw new Error(`no identity ${cn}`);
  return pool.connect(fx.broker.url, { ...fx.tlsOptions(id), protocolVersion: version, ...more });
}

/** The reason code of a rejected publish (mqtt.js rejects a PUBACK with a reason code ≥ 0x80). */
async function pubackCode(p: Promise<unknown>): Promise<number> {
  try {
    await within(p, 5000, 'PUBACK');
    return 0;
  } catch (e) {
    const code = (e as { code?: number }).code;
    if (typeof code !== 'number') throw e;
    return code;
  }
}

fx.brokerTest('mosquitto listens on mqtts://127.0.0.1 with the written config', (t) => {
  t.regex(fx.broker.url, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
  t.true(fx.broker.pid > 0);
  t.regex(fx.broker.logText(), /mosquitto version/);
});

fx.brokerTest('a Key (CN = its handle) publishes its own uplink; the backend receives it', async (t) => {
  const backend = await as('backend-1');
  const got = inbox(backend);
  t.deepEqual(await subCodes(backend, 'enigm/v1/key/+/up'), [1]);
  const key = await as(HANDLE_A);
  t.is(await pubackCode(key.publishAsync(keyTopic(HANDLE_A, 'up'), Buffer.from('hi'), { qos: 1 })), 0);
  await until(() => got.length === 1, 5000, 'the uplink');
  t.is(got[0]?.topic, keyTopic(HANDLE_A, 'up'));
});

fx.brokerTest("a Key cannot publish to another Key's topics: PUBACK 0x87 (MQTT 5), nothing arrives (5 and 3.1.1)", async (t) => {
  const backend = await as('backend-1');
  const got = inbox(backend);
  await subCodes(backend, ['enigm/v1/key/+/up', 'enigm/v1/key/+/status', 'enigm/v1/key/+/risk']);
  const host = await as('host-1');
  const hostGot = inbox(host);
  await subCodes(host, 'enigm/v1/key/+/resp/host-1/+');
  const key5 = await as(HANDLE_A, 5);
  for (const topic of [
    keyTopic(HANDLE_B, 'up'),
    keyTopic(HANDLE_B, 'risk'),
    keyTopic(HANDLE_B, 'status'),
    keyTopic(HANDLE_B, 'resp', 'host-1', 'l1'),
  ])
    t.is(await pubackCode(key5.publishAsync(topic, Buffer.from('forged'), { qos: 1 })), NOT_AUTHORIZED, topic);
  const key4 = await as(HANDLE_A, 4, { clientId: 'key-a-v4' });
  await within(key4.publishAsync(keyTopic(HANDLE_B, 'up'), Buffer.from('forged4'), { qos: 1 }), 5000, 'v3.1.1 PUBACK');
  await key4.publishAsync(keyTopic(HANDLE_B, 'resp', 'host-1', 'l1'), Buffer.from('forged4'), { qos: 1 });
  // A marker from the right Key after the forgeries: once it arrives, the forgeries would have.
  await key5.publishAsync(keyTopic(HANDLE_A, 'up'), Buffer.from('marker'), { qos: 1 });
  await until(() => got.some((m) => m.payload.toString() === 'marker'), 5000, 'the marker');
  await sleep(200);
  t.deepEqual(
    got.map((m) => m.payload.toString()),
    ['marker'],
  );
  t.deepEqual(hostGot, []);
});

/**
 * mosquitto's acl_file does not refuse a SUBSCRIBE (its SUBACK grants any filter): it checks `read`
 * access for every message at delivery. So a forbidden subscription is proven by what it never
 * receives while the legitimate subscriber gets the same message.
 */
fx.brokerTest("a Key never receives another Key's downlink, even subscribed to it or to #", async (t) => {
  const spy5 = await as(HANDLE_A, 5);
  const spy4 = await as(HANDLE_A, 4, { clientId: 'key-a-sub-v4' });
  const spied = [inbox(spy5), inbox(spy4)];
  for (const c of [spy5, spy4]) {
    const codes = await subCodes(c, [keyDownFilter(HANDLE_B), '#', 'enigm/v1/key/+/down/+/+']);
    t.is(codes.length, 3);
  }
  const owner = await as(HANDLE_B);
  const ownerGot = inbox(owner);
  t.deepEqual(await subCodes(owner, keyDownFilter(HANDLE_B)), [1]);
  const host = await as('host-1');
  await host.publishAsync(keyTopic(HANDLE_B, 'down', 'host-1', 'l1'), Buffer.from('for B only'), { qos: 1 });
  await until(() => ownerGot.length === 1, 5000, "B's downlink");
  await sleep(300);
  t.deepEqual(spied, [[], []]);
});

fx.brokerTest('a host reads its own responses and sends downlink under its own name only', async (t) => {
  const key = await as(HANDLE_A);
  const keyGot = inbox(key);
  await subCodes(key, keyDownFilter(HANDLE_A));
  const host = await as('host-1');
  const hostGot = inbox(host);
  t.deepEqual(await subCodes(host, keyTopic(HANDLE_A, 'resp', 'host-1', 'link1')), [1]);
  await subCodes(host, 'enigm/v1/key/+/resp/host-2/+'); // granted by acl_file; never delivered (below)
  const host2 = await as('host-2');
  const host2Got = inbox(host2);
  await subCodes(host2, 'enigm/v1/key/+/resp/host-2/+');
  t.is(
    await pubackCode(host.publishAsync(keyTopic(HANDLE_A, 'down', 'host-2', 'link1'), Buffer.from('spoof'), { qos: 1 })),
    NOT_AUTHORIZED,
  );
  t.is(await pubackCode(host.publishAsync(keyTopic(HANDLE_A, 'down', 'host-1', 'link1'), Buffer.from('cmd'), { qos: 1 })), 0);
  await until(() => keyGot.length === 1, 5000, 'the downlink');
  await sleep(150);
  t.deepEqual(
    keyGot.map((m) => m.payload.toString()),
    ['cmd'],
  );
  await key.publishAsync(keyTopic(HANDLE_A, 'resp', 'host-2', 'link9'), Buffer.from('for host-2'), { qos: 1 });
  await key.publishAsync(keyTopic(HANDLE_A, 'resp', 'host-1', 'link1'), Buffer.from('answer'), { qos: 1 });
  await until(() => hostGot.length === 1 && host2Got.length === 1, 5000, 'the responses');
  await sleep(200);
  t.deepEqual(
    hostGot.map((m) => m.payload.toString()),
    ['answer'],
  );
  t.deepEqual(
    host2Got.map((m) => m.payload.toString()),
    ['for host-2'],
  );
});

fx.brokerTest('a # subscriber of any role receives only what MQTT_ACL lets it read', async (t) => {
  const roles: [string, MqttRole][] = [
    [HANDLE_A, 'key'],
    ['host-1', 'host'],
    ['backend-1', 'backend'],
  ];
  const watchers: { cn: string; role: MqttRole; got: { topic: string }[] }[] = [];
  for (const [cn, role] of roles) {
    const c = await as(cn, 5, { clientId: `hash-${role}` });
    await subCodes(c, '#');
    watchers.push({ cn, role, got: inbox(c) });
  }
  const keyB = await as(HANDLE_B, 5, { clientId: 'hash-key-b' });
  const keyA = await as(HANDLE_A, 5, { clientId: 'hash-key-a' });
  const host2 = await as('host-2', 5, { clientId: 'hash-host-2' });
  const host1 = await as('host-1', 5, { clientId: 'hash-host-1' });
  const sent: [MqttClient, string][] = [
    [keyB, keyTopic(HANDLE_B, 'up')],
    [keyB, keyTopic(HANDLE_B, 'risk')],
    [keyB, keyTopic(HANDLE_B, 'status')],
    [keyB, keyTopic(HANDLE_B, 'resp', 'host-2', 'x')],
    [keyB, keyTopic(HANDLE_B, 'resp', 'host-1', 'x')],
    [keyA, keyTopic(HANDLE_A, 'resp', 'host-2', 'x')],
    [host2, keyTopic(HANDLE_B, 'down', 'host-2', 'x')],
    [host2, keyTopic(HANDLE_A, 'down', 'host-2', 'x')],
    [host1, keyTopic(HANDLE_A, 'down', 'host-1', 'x')],
  ];
  for (const [c, topic] of sent) t.is(await pubackCode(c.publishAsync(topic, Buffer.from('m'), { qos: 1 })), 0, topic);
  const expectedOf = (w: (typeof watchers)[number]) =>
    sent.map(([, topic]) => topic).filter((topic) => mqttAllowed({ role: w.role, name: w.cn }, 'subscribe', topic));
  // Every watcher's share delivered (a fixed sleep was short on a loaded machine), then a while
  // longer for anything it should not have.
  await until(() => watchers.every((w) => w.got.length >= expectedOf(w).length), 15_000, 'what each role may read');
  await sleep(300);
  for (const w of watchers) {
    const expected = expectedOf(w);
    t.deepEqual(w.got.map((m) => m.topic).sort(), [...expected].sort(), w.cn);
    // The ACL is not vacuous here: each role read something and missed something.
    t.true(w.got.length > 0 && w.got.length < sent.length, w.cn);
  }
});

fx.brokerTest('a backend consumes the fleet uplink through a shared subscription', async (t) => {
  const a = await as('backend-1', 5, { clientId: 'backend-1-a' });
  const b = await as('backend-1', 5, { clientId: 'backend-1-b' });
  const got = [inbox(a), inbox(b)];
  t.deepEqual(await subCodes(a, '$share/consumers/enigm/v1/key/+/up'), [1]);
  t.deepEqual(await subCodes(b, '$share/consumers/enigm/v1/key/+/up'), [1]);
  const key = await as(HANDLE_A);
  for (let i = 0; i < 20; i++) await key.publishAsync(keyTopic(HANDLE_A, 'up'), Buffer.from(`e${i}`), { qos: 1 });
  await until(() => (got[0]?.length ?? 0) + (got[1]?.length ?? 0) === 20, 5000, 'the 20 events');
  t.true((got[0]?.length ?? 0) > 0 && (got[1]?.length ?? 0) > 0, 'both consumers got a share');
});

fx.brokerTest('a client without a certificate is refused', async (t) => {
  const e = await t.throwsAsync(pool.connect(fx.broker.url, { ca: fx.pki.caPem, protocolVersion: 5 }));
  t.is((e as Error & { code?: string }).code, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
  await t.throwsAsync(pool.connect(fx.broker.url, { ca: fx.pki.caPem, protocolVersion: 4, username: HANDLE_A }));
});

fx.brokerTest('a client certificate from a foreign CA is refused', async (t) => {
  const foreign = await createCa();
  const keys = await createTlsKeyPair();
  const cert = await issueTlsCertificate(foreign, { commonName: HANDLE_A, usage: 'client', publicKey: keys.publicKey });
  const e = await t.throwsAsync(
    pool.connect(fx.broker.url, { ca: fx.pki.caPem, cert: cert.chainPem, key: keys.privateKeyPem, protocolVersion: 5 }),
  );
  t.regex(String((e as Error & { code?: string }).code), /^ERR_SSL_/);
  // The same name from the right CA connects: only the issuer differs.
  await t.notThrowsAsync(as(HANDLE_A));
});

fx.brokerTest('an expired client certificate is refused', async (t) => {
  const expired = await fx.pki.client(HANDLE_A, { ...expiredValidity(), fileName: 'expired-a' });
  t.true(new Date(expiredValidity().notAfter) < new Date());
  const e = await t.throwsAsync(pool.connect(fx.broker.url, { ...fx.tlsOptions(expired), protocolVersion: 5 }));
  t.is((e as Error & { code?: string }).code, 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED');
});

fx.brokerTest(
  'a client certificate expiring within certWarnDays: accepted, and MQTT_CERT_EXPIRING is reported at the first connect and at a reconnect',
  async (t) => {
    const soon = await fx.pki.client(HANDLE_A, { notAfter: new Date(Date.now() + 5.5 * 86_400_000), fileName: 'soon-a' });
    const broker = await fx.startAnother();
    // Through a relay that keeps its port while the broker is replaced (starting mosquitto again on
    // the port it had released raced the suite's other processes for that port).
    const relay = await startTcpRelay(targetOf(broker.url));
    t.teardown(() => relay.close());
    const events: MqttLinkEvent[] = [];
    const link = await MqttLink.connect({
      url: `mqtts://127.0.0.1:${relay.port}`,
      tls: { ca: fx.pki.caPem, cert: soon.cert, key: soon.key },
      backoff: { baseMs: 50, capMs: 200 },
      onState: (e) => events.push(e),
    });
    try {
      const warnings = () => events.filter((e) => e.state === 'warning');
      t.like(warnings()[0], { state: 'warning', code: 'MQTT_CERT_EXPIRING', daysLeft: 5 });
      t.regex((warnings()[0] as { message: string }).message, /expires in 5 days; renew it/);
      t.is(warnings().length, 1);
      t.is(events[1]?.state, 'connected');
      // The broker goes away and another comes back at the same address: the reconnect warns again.
      relay.target = undefined;
      await broker.stop();
      await until(() => events.some((e) => e.state === 'disconnected'), 15_000, 'the drop');
      const again = await fx.startAnother();
      relay.target = targetOf(again.url);
      await until(() => link.connected, 15_000, 'the reconnect');
      // Every attempt warns (failed ones while the broker was down too); each connect was warned of.
      const connects = events.flatMap((e, i) => (e.state === 'connected' ? [i] : []));
      t.is(connects.length, 2);
      t.true(
        connects.every((i) => events[i - 1]?.state === 'warning'),
        JSON.stringify(events),
      );
      await again.stop();
    } finally {
      await link.close();
    }
    // Outside the warning window nothing is reported.
    const quiet: MqttLinkEvent[] = [];
    const other = await MqttLink.connect({
      url: fx.broker.url,
      tls: { ca: fx.pki.caPem, cert: soon.cert, key: soon.key },
      certWarnDays: 5,
      onState: (e) => quiet.push(e),
    });
    await other.close();
    t.false(quiet.some((e) => e.state === 'warning'));
  },
);

fx.brokerTest('3000 QoS 1 messages queued for an offline persistent session all arrive (max_queued_messages)', async (t) => {
  const N = 3000;
  const sessionOpts: IClientOptions = { clientId: 'backend-1-durable', clean: false, properties: { sessionExpiryInterval: 600 } };
  const sub = await as('backend-1', 5, sessionOpts);
  t.deepEqual(await subCodes(sub, 'enigm/v1/key/+/up'), [1]);
  await within(new Promise<void>((r) => sub.end(false, {}, () => r())), 5000, 'the subscriber to disconnect');
  const key = await as(HANDLE_A);
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) sends.push(key.publishAsync(keyTopic(HANDLE_A, 'up'), Buffer.from(String(i)), { qos: 1 }));
  await within(Promise.all(sends), 30_000, `${N} PUBACKs`);
  const seen = new Set<string>();
  const again = await pool.connect(fx.broker.url, {
    ...fx.tlsOptions(ids['backend-1'] as TlsIdentity),
    protocolVersion: 5,
    ...sessionOpts,
  });
  again.on('message', (_topic, payload) => seen.add(payload.toString()));
  await until(() => seen.size === N, 30_000, `all ${N} queued messages (got ${seen.size})`);
  t.is(seen.size, N);
});

fx.brokerTest("mosquitto's own limit would drop them: with max_queued_messages 100, most of 300 are lost", async (t) => {
  const small = await fx.startAnother({ maxQueuedMessages: 100 });
  const opts = (cn: string, more: IClientOptions = {}) => ({
    ...fx.tlsOptions(ids[cn] as TlsIdentity),
    protocolVersion: 5 as const,
    ...more,
  });
  const sessionOpts: IClientOptions = { clientId: 'backend-1-small', clean: false, properties: { sessionExpiryInterval: 600 } };
  const sub = await pool.connect(small.url, opts('backend-1', sessionOpts));
  await subCodes(sub, 'enigm/v1/key/+/up');
  await within(new Promise<void>((r) => sub.end(false, {}, () => r())), 5000, 'the subscriber to disconnect');
  const key = await pool.connect(small.url, opts(HANDLE_A));
  await within(
    Promise.all(
      Array.from({ length: 300 }, (_, i) => key.publishAsync(keyTopic(HANDLE_A, 'up'), Buffer.from(String(i)), { qos: 1 })),
    ),
    10_000,
    'PUBACKs',
  );
  const again = await pool.connect(small.url, opts('backend-1', sessionOpts));
  const got = inbox(again);
  await until(() => got.length >= 100, 10_000, 'the queued messages');
  await sleep(500);
  t.true(got.length < 300, `got ${got.length}`);
  await small.stop();
});

fx.brokerTest('a broken key file fails the start with BROKER_START_FAILED and the log tail', async (t) => {
  const bad = join(fx.dir, 'not-a-key.pem');
  writeFileSync(bad, 'not a key\n');
  const e = await t.throwsAsync(
    startMosquitto({
      dir: join(fx.dir, 'broken'),
      tls: { caFile: fx.pki.caFile, certFile: fx.pki.server.certFile, keyFile: bad },
      aclText: mosquittoAcl(),
      startTimeoutMs: 5000,
    }),
  );
  t.true(e instanceof BrokerError);
  t.is((e as BrokerError).code, 'BROKER_START_FAILED');
  t.regex((e as BrokerError).message, /Unable to load server key file/);
});

test.serial(
  'a missing mosquitto is BROKER_MISSING with the apt hint; availability fails under CI=true and skips elsewhere',
  async (t) => {
    const env = { PATH: '/nonexistent', MOSQUITTO: '/nonexistent/mosquitto' };
    t.is(findMosquitto(env), undefined);
    t.is(mosquittoAvailability({ ...env, CI: 'true' }).mode, 'fail');
    t.regex(mosquittoAvailability({ ...env, CI: 'true' }).reason ?? '', /apt-get install mosquitto/);
    t.is(mosquittoAvailability(env).mode, 'skip');
    const saved = process.env.MOSQUITTO;
    process.env.MOSQUITTO = '/nonexistent/mosquitto';
    try {
      const missing = await t.throwsAsync(
        startMosquitto({ dir: '/nonexistent-dir', tls: { caFile: '/x', certFile: '/y', keyFile: '/z' }, aclText: '' }),
      );
      t.is((missing as BrokerError).code, 'BROKER_MISSING');
      t.regex((missing as BrokerError).message, /apt-get install mosquitto/);
    } finally {
      if (saved === undefined) delete process.env.MOSQUITTO;
      else process.env.MOSQUITTO = saved;
    }
    const e = await t.throwsAsync(
      startMosquitto({
        dir: '/nonexistent-dir',
        binary: '/nonexistent/mosquitto',
        tls: { caFile: '/x', certFile: '/y', keyFile: '/z' },
        aclText: '',
      }),
    );
    t.is((e as BrokerError).code, 'BROKER_CONFIG_INVALID');
    const spawnFail = await t.throwsAsync(
      startMosquitto({
        dir: join(tmpdir(), `enigm-mosq-missing-${process.pid}`),
        binary: '/nonexistent/mosquitto',
        tls: { caFile: import.meta.filename, certFile: import.meta.filename, keyFile: import.meta.filename },
        aclText: '',
      }),
    );
    t.is((spawnFail as BrokerError).code, 'BROKER_START_FAILED');
    rmSync(join(tmpdir(), `enigm-mosq-missing-${process.pid}`), { recursive: true, force: true });
  },
);

test.serial('mosquittoConfig has the production settings', (t) => {
  const text = mosquittoConfig({
    dir: '/srv/mqtt',
    port: 8883,
    tls: { caFile: '/srv/ca.pem', certFile: '/srv/server.crt', keyFile: '/srv/server.key' },
    aclFile: '/srv/acl',
    maxQueuedMessages: MOSQUITTO_MAX_QUEUED,
  });
  for (const line of [
    'per_listener_settings false',
    'allow_anonymous false',
    'persistence false',
    'max_queued_messages 100000',
    'acl_file /srv/acl',
    'listener 8883 127.0.0.1',
    'cafile /srv/ca.pem',
    'require_certificate true',
    'use_identity_as_username true',
    'tls_version tlsv1.2',
  ])
    t.true(text.split('\n').includes(line), line);
});

test.serial(
  'TLS certificates: server has serverAuth and the loopback SANs, client has clientAuth and CN = the name',
  async (t) => {
    const ca = await createCa();
    const keys = await createTlsKeyPair();
    const server = new X509Certificate(
      (await issueTlsCertificate(ca, { commonName: 'mqtt-broker', usage: 'server', publicKey: keys.publicKey })).pem,
    );
    t.is(server.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    t.true(server.checkIP('127.0.0.1') === '127.0.0.1' && server.checkHost('localhost') === 'localhost');
    t.deepEqual(server.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    t.is(server.publicKey.asymmetricKeyType, 'ec');
    t.true(server.checkIssued(new X509Certificate(ca.intermediate.certificate.pem)));
    const client = new X509Certificate(
      (await issueTlsCertificate(ca, { commonName: HANDLE_A, usage: 'client', publicKey: keys.publicKey })).pem,
    );
    t.is(client.subject, `CN=${HANDLE_A}\nO=Enigm`);
    t.deepEqual(client.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    t.is(client.subjectAltName, undefined);
    t.false(client.ca);
    await t.throwsAsync(issueTlsCertificate(ca, { commonName: 'bad name', usage: 'client', publicKey: keys.publicKey }), {
      instanceOf: TypeError,
    });
  },
);

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples', 'mosquitto');

test.serial('examples/mosquitto/acl is what mosquittoAcl generates for its example names', (t) => {
  t.is(readFileSync(join(EXAMPLES, 'acl'), 'utf8'), mosquittoAcl({ hosts: ['host-1'], backends: ['backend-1'] }));
});

test.serial(
  'examples/mosquitto/README.md "Who is who" grants each role exactly the channels of MQTT_ACL (as the acl file does)',
  (t) => {
    const readme = readFileSync(join(EXAMPLES, 'README.md'), 'utf8');
    const section = readme.split('## Who is who')[1]?.split('\n## ')[0] ?? '';
    const roles: Record<string, MqttRole> = { 'a Key': 'key', 'a host': 'host', 'a backend': 'backend' };
    const seen = new Set<string>();
    for (const row of section.split('\n').filter((l) => l.startsWith('| a '))) {
      const [who, , may] = row
        .split('|')
        .slice(1, 4)
        .map((c) => c.trim());
      const role = roles[who ?? ''];
      if (!role) continue;
      // "read its own `down/+/+`, `challenge`; write …": each part starts with its verb.
      for (const part of (may ?? '').split(';')) {
        const verb = part.trim().startsWith('read') ? 'read' : 'write';
        for (const [, topic] of part.matchAll(/`([^`]+)`/g)) seen.add(`${role} ${verb} ${topic?.split('/')[0]}`);
      }
    }
    const acl = new Set(MQTT_ACL.map((r) => `${r.role} ${r.access === 'publish' ? 'write' : 'read'} ${r.channel}`));
    t.deepEqual([...seen].sort(), [...acl].sort());
  },
);

fx.brokerTest('examples/mosquitto/mosquitto.conf runs as is (paths and listener swapped) and enforces the ACL', async (t) => {
  const dir = join(fx.dir, 'example');
  mkdirSync(dir, { recursive: true });
  // A port found free can be taken by another process before mosquitto binds it: a new port then
  // (as startMosquitto does), at most 3 tries.
  for (let attempt = 1; ; attempt++) {
    try {
      await runExample(t, dir, await freeLoopbackPort());
      return;
    } catch (e) {
      if (!(e instanceof BrokerError && /address already in use/i.test(e.message) && attempt < 3)) throw e;
    }
  }
});

async function runExample(t: ExecutionContext, dir: string, port: number): Promise<void> {
  const files: Record<string, string> = {
    acl: join(EXAMPLES, 'acl'),
    'ca-bundle.pem': fx.pki.caFile,
    'server-chain.crt': fx.pki.server.certFile,
    'server.key': fx.pki.server.keyFile,
    'mosquitto.conf': join(dir, 'mosquitto.conf'),
  };
  let text = readFileSync(join(EXAMPLES, 'mosquitto.conf'), 'utf8')
    .replace(/\/etc\/mosquitto\/enigm\/([\w.-]+)/g, (_, name: string) => files[name] ?? `missing-${name}`)
    .replace(/^listener 8883 0\.0\.0\.0$/m, `listener ${port} 127.0.0.1`)
    .replace(/^log_dest stderr$/m, `log_dest file ${join(dir, `mosquitto-${port}.log`)}`);
  if (process.getuid?.() === 0) text += `\nuser ${userInfo().username}\n`;
  t.false(text.includes('missing-'), 'every path of the example is known');
  t.true(text.includes(`listener ${port} 127.0.0.1`));
  writeFileSync(join(dir, 'mosquitto.conf'), text);
  const m = await spawnMosquitto({
    configFile: join(dir, 'mosquitto.conf'),
    port,
    ca: fx.pki.caPem,
    logFile: join(dir, `mosquitto-${port}.log`),
  });
  try {
    const key = await pool.connect(m.url, { ...fx.tlsOptions(ids[HANDLE_A] as TlsIdentity), protocolVersion: 5 });
    t.is(await pubackCode(key.publishAsync(keyTopic(HANDLE_A, 'up'), Buffer.from('ok'), { qos: 1 })), 0);
    t.is(await pubackCode(key.publishAsync(keyTopic(HANDLE_B, 'up'), Buffer.from('no'), { qos: 1 })), NOT_AUTHORIZED);
    const e = await t.throwsAsync(pool.connect(m.url, { ca: fx.pki.caPem, protocolVersion: 5 }));
    t.is((e as Error & { code?: string }).code, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
  } finally {
    await m.stop();
  }
}
