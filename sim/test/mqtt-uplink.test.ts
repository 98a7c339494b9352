/**
 * The simulated Keys' LTE-M uplink over MQTT (docs/mqtt.md, issue "the Key ↔ backend link over
 * MQTT"): lifecycle records reach a backend consumer signed and in order; with the broker down
 * for a while, or the radio without coverage, records wait in the durable outbox and drain in
 * order once the link is back, nothing lost and nothing delivered twice after de-duplication;
 * garbage and oversized payloads on the Key's downlink do not hurt it; a factory reset brings the
 * Key back under a new handle. The outage and kill -9 tests run against the embedded broker and
 * against mosquitto with mutual TLS and the generated ACL (support/uplink-broker.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openKey } from '@enigm/key-firmware-host';
import { Deduplicator, MqttLink } from '@enigm/mqtt';
import { decode } from '@enigm/protocols/cbor';
import { fleetFilter, keyTopic, openUplink, parseKeyTopic, peekUplink, type Uplink } from '@enigm/protocols/mqtt';
import test from 'ava';
import { loadSecureElement } from '../src/firmware/secure-element.ts';
import { Simulator } from '../src/index.ts';
import { FileStorage } from '../src/runtime/file-storage.ts';
import { uplinkBusy } from '../src/testing.ts';
import { BROKER_KINDS, type UplinkBroker, useUplinkBrokers } from './support/uplink-broker.ts';
import { until } from './support/wait.ts';

const brokers = useUplinkBrokers(test);
const BACKOFF = { baseMs: 50, capMs: 300 };

/** An embedded broker, started, for the tests that do not take it down. */
async function embedded(): Promise<UplinkBroker> {
  const b = await brokers.make('embedded');
  await b.start();
  return b;
}

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A simulator with one Key on TCP (for the host) and an uplink to `broker`, and a backend consumer. */
async function setup(t: import('ava').ExecutionContext, broker: UplinkBroker) {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-uplink-'));
  dirs.push(dir);
  const sim = await Simulator.start({
    keys: 1,
    stateDir: join(dir, 'sim'),
    serial: false,
    mqtt: broker.simMqtt(BACKOFF),
  });
  const handle = (sim.keys()[0]?.mqtt ?? '').split('/').pop() as string;
  const identity = sim.firmware(0).secureElement.identityPublicKey;
  const consumer = await broker.consumer('backend-1');
  const dedup = new Deduplicator();
  const records: Uplink[] = [];
  let duplicates = 0;
  consumer.onMessage((topic, payload) => {
    if (parseKeyTopic(topic)?.channel !== 'up') return;
    const r = openUplink(payload, handle, 'up', identity);
    if (dedup.fresh(r.id)) records.push(r);
    else duplicates++;
  });
  await consumer.subscribe(fleetFilter('up'));
  const key = await openKey(sim.keys()[0]?.tcp as string, {
    hostKey: join(dir, 'host.pem'),
    known: join(dir, 'known.json'),
    timeoutMs: 20_000,
  });
  await key.pair('owner');
  t.teardown(async () => {
    await key.close();
    await consumer.close();
    await sim.stop();
  });
  const transitions = () => records.map((r) => (decode(r.body) as Map<number, string>).get(2));
  return { sim, key, consumer, records, transitions, handle, duplicates: () => duplicates };
}

for (const kind of BROKER_KINDS) {
  brokers.brokerTest(kind)(
    `broker down (${kind}): records wait in the outbox and arrive in order after it is back; none twice`,
    async (t) => {
      const broker = await brokers.make(kind);
      await broker.start();
      const { sim, key, consumer, records, transitions, duplicates } = await setup(t, broker);
      try {
        t.is(await key.activate(), 'dormant');
        await until(() => records.length === 1, 20_000, 'the first record');
        // The consumer can have it before the Key has the broker's acknowledgement: stopped then,
        // the Key would send it again (a duplicate, and four queued instead of three).
        await until(() => !uplinkBusy(sim.linkStats()[0]?.mqtt), 20_000, 'the first record acknowledged');
        await broker.stop();
        await until(() => sim.linkStats()[0]?.mqtt?.connected === false, 20_000, 'the uplink to notice');
        await key.suspend();
        await key.resume();
        await key.suspend();
        await until(() => sim.linkStats()[0]?.mqtt?.queued === 3, 20_000, 'three records queued');
        await new Promise((r) => setTimeout(r, 700)); // several reconnect attempts fail meanwhile
        t.is(records.length, 1, 'nothing arrives while the broker is down');
        // The broker is back on its port; the consumer must be subscribed again before the Key
        // drains (records published to nobody are gone on any broker): hold the Key out until then.
        broker.holdKeys(true);
        await broker.start();
        await until(() => consumer.connected, 20_000, 'the consumer to reconnect and resubscribe');
        broker.holdKeys(false);
        await until(() => records.length === 4, 20_000, 'the queued records');
        t.deepEqual(transitions(), ['dormant', 'suspended', 'dormant', 'suspended']);
        t.deepEqual(
          records.map((r) => r.seq),
          [1, 2, 3, 4],
        );
        await until(() => sim.linkStats()[0]?.mqtt?.queued === 0, 20_000, 'an empty outbox');
        t.is(duplicates(), 0);
      } finally {
        await broker.close();
      }
    },
  );
}

test.serial('radio without coverage: the outbox grows; coverage back: it drains in order', async (t) => {
  const broker = await embedded();
  const { sim, key, records, transitions } = await setup(t, broker);
  try {
    sim.controls(0).setRadio('no-coverage');
    await until(() => sim.linkStats()[0]?.mqtt?.connected === false, 20_000, 'the uplink to go down');
    await key.activate();
    await key.suspend();
    await until(() => sim.linkStats()[0]?.mqtt?.queued === 2, 20_000, 'two records queued');
    t.is(records.length, 0);
    sim.controls(0).setRadio('attached');
    await until(() => records.length === 2, 20_000, 'the queued records');
    t.deepEqual(transitions(), ['dormant', 'suspended']);
  } finally {
    await broker.close();
  }
});

test.serial('garbage and oversized payloads on the downlink do not hurt the Key; a real link works after', async (t) => {
  const broker = await embedded();
  const { sim, handle } = await setup(t, broker);
  try {
    const host = await MqttLink.connect({ url: broker.url, username: 'host-9' });
    const down = keyTopic(handle, 'down', 'host-9', 'junk');
    let seed = 7;
    for (let i = 0; i < 200; i++) {
      const n = (i * 97) % 3000;
      const junk = new Uint8Array(n).map(() => {
        seed = (seed * 1103515245 + 12345) >>> 0;
        return seed >>> 24;
      });
      await host.publish(down, junk, { qos: i % 2 === 0 ? 0 : 1 });
    }
    await host.publish(down, new Uint8Array(300 * 1024).fill(0x55), { qos: 1 });
    await host.close();
    const key = await openKey(sim.keys()[0]?.mqtt as string, {
      hostKey: join(sim.stateDir, 'h2.pem'),
      known: join(sim.stateDir, 'k2.json'),
      timeoutMs: 20_000,
    });
    try {
      t.is((await key.info()).model, 'enigm-key-1');
    } finally {
      await key.close();
    }
  } finally {
    await broker.close();
  }
});

for (const kind of BROKER_KINDS) {
  brokers.brokerTest(kind)(
    `the simulator killed with kill -9 while records wait (${kind}): after a restart they arrive, in order, once`,
    async (t) => {
      const { startSimProcess } = await import('./support/sim-process.ts');
      const dir = mkdtempSync(join(tmpdir(), 'enigm-uplink-kill9-'));
      dirs.push(dir);
      const broker = await brokers.make(kind);
      await broker.start();
      const options = {
        keys: 1,
        stateDir: join(dir, 'sim'),
        serial: false,
        mqtt: broker.simMqtt(BACKOFF),
        ...(broker.certFiles ? { mqttCerts: broker.certFiles } : {}),
      };
      const startSim = async () => {
        const p = await startSimProcess(options);
        await broker.issueKey((p.keys[0]?.mqtt ?? '').split('/').pop() as string); // the child waits for it
        return p;
      };
      let sim = await startSim();
      const consumer = await broker.consumer('backend-1');
      const dedup = new Deduplicator();
      const seen: Uplink[] = [];
      consumer.onMessage((topic, payload) => {
        if (parseKeyTopic(topic)?.channel !== 'up') return;
        const r = openUplink(payload, parseKeyTopic(topic)?.handle as string, 'up', identityOf(dir));
        if (dedup.fresh(r.id)) seen.push(r);
      });
      try {
        await consumer.subscribe(fleetFilter('up'));
        const key = await openKey(sim.keys[0]?.tcp as string, {
          hostKey: join(dir, 'host.pem'),
          known: join(dir, 'known.json'),
          timeoutMs: 20_000,
        });
        await key.pair('owner');
        await key.activate();
        await until(() => seen.length === 1, 20_000, 'the first record');
        // Acknowledged to the Key too (else it waits in the outbox with the others: three, not two).
        const drained = Date.now() + 20_000;
        while (uplinkBusy((await sim.stats())[0]?.mqtt) && Date.now() < drained) await new Promise((r) => setTimeout(r, 20));
        await broker.stop();
        await key.suspend();
        await key.resume();
        const waiting = async () => (await sim.stats())[0]?.mqtt?.queued ?? -1;
        const end = Date.now() + 20_000;
        while ((await waiting()) !== 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
        t.is(await waiting(), 2, 'two records wait in the outbox');
        await key.close();
        sim.proc.kill('SIGKILL');
        await new Promise((r) => sim.proc.once('exit', r));
        await broker.start();
        await until(() => consumer.connected, 20_000, 'the consumer to reconnect');
        sim = await startSim();
        await until(() => seen.length === 3, 30_000, 'the records queued before the kill');
        t.deepEqual(
          seen.map((r) => (decode(r.body) as Map<number, string>).get(2)),
          ['dormant', 'suspended', 'dormant'],
        );
        t.deepEqual(
          seen.map((r) => r.seq),
          [1, 2, 3],
        );
      } finally {
        await consumer.close();
        await sim.stop();
        await broker.close();
      }
    },
  );
}

/** The identity public key of Key 0 in a state folder (read from its secure-element file). */
function identityOf(dir: string): Uint8Array {
  return identities.get(dir) ?? loadIdentity(dir);
}
const identities = new Map<string, Uint8Array>();
function loadIdentity(dir: string): Uint8Array {
  const se = loadSecureElement(new FileStorage(join(dir, 'sim', 'key-0.se')), () => new Uint8Array(32));
  identities.set(dir, se.identityPublicKey);
  return se.identityPublicKey;
}

for (const kind of BROKER_KINDS) {
  brokers.brokerTest(kind)(
    `a broker that is down when the simulator starts (${kind}): the Keys keep trying and connect once it is up`,
    async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'enigm-uplink-late-'));
      dirs.push(dir);
      const broker = await brokers.make(kind); // not started
      const sim = await Simulator.start({
        keys: 3,
        stateDir: join(dir, 'sim'),
        serial: false,
        tcp: false,
        mqtt: broker.simMqtt(BACKOFF),
      });
      try {
        await new Promise((r) => setTimeout(r, 400));
        t.true(sim.linkStats().every((k) => k.mqtt?.connected === false));
        await broker.start();
        await until(() => sim.linkStats().every((k) => k.mqtt?.connected === true), 20_000, 'every Key to connect');
        t.pass();
      } finally {
        await sim.stop();
        await broker.close();
      }
    },
  );
}

for (const kind of BROKER_KINDS) {
  brokers.brokerTest(kind)(
    `broker down during an emergency (${kind}): the sealed records wait in the outbox and arrive in order, none lost`,
    async (t) => {
      const { contacts, contactSet } = await import('./support/emergency-rig.ts');
      const { EventReader } = await import('@enigm/protocols/emergency');
      const broker = await brokers.make(kind);
      await broker.start();
      const { sim, key } = await setup(t, broker);
      const consumer = await broker.consumer('backend-2');
      t.teardown(() => consumer.close());
      const bodies: Uint8Array[] = [];
      consumer.onMessage((_topic, payload) => {
        const up = peekUplink(payload);
        if (up?.kind === 'emergency') bodies.push(up.body);
      });
      await consumer.subscribe(fleetFilter('up'));
      try {
        await key.activate();
        const [contact] = contacts(1);
        sim.controls(0).setContacts?.(contactSet(1, contacts(1)));
        sim.controls(0).gesture({ kind: 'triple' });
        sim
          .controls(0)
          .setTrack(Array.from({ length: 13 }, (_, i) => ({ atMs: i * 10_000, lat: 48.1 + i / 1000, lon: 11.5, accuracyM: 5 })));
        await until(() => bodies.length >= 2, 20_000, 'the start and a first record');
        // Acknowledged to the Key too (else they are sent again after the outage: duplicates).
        await until(() => !uplinkBusy(sim.linkStats()[0]?.mqtt), 20_000, 'the first records acknowledged');
        await broker.stop();
        await until(() => sim.linkStats()[0]?.mqtt?.connected === false, 20_000, 'the uplink to notice');
        sim.clock.advance(60_000); // six more fixes sealed while the broker is down
        await until(() => (sim.linkStats()[0]?.mqtt?.queued ?? 0) >= 5, 20_000, 'records queued');
        const queued = sim.linkStats()[0]?.mqtt?.queued ?? 0;
        broker.holdKeys(true);
        await broker.start();
        await until(() => consumer.connected, 20_000, 'the consumer to reconnect');
        const before = bodies.length;
        broker.holdKeys(false);
        await until(() => bodies.length >= before + queued, 20_000, 'the queued records');
        const reader = new EventReader({
          identityPublicKey: sim.firmware(0).secureElement.identityPublicKey,
          contactIndex: 0,
          contactPrivateKey: (contact as { privateKey: Uint8Array }).privateKey,
        });
        const events = [];
        for (const b of bodies) events.push(...(await reader.feed(b)));
        const records = events.filter((e) => e.type === 'record');
        t.true(records.length >= queued, `${records.length} records opened`);
        t.true(
          records.every((e) => e.type === 'record' && e.gaps.length === 0 && !e.outOfOrder),
          'in order, no gap',
        );
        t.false(events.some((e) => e.type === 'refused'));
      } finally {
        await broker.close();
      }
    },
  );
}
