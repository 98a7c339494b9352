/**
 * Done means (issue "the Key ↔ backend link over MQTT"), against a real mosquitto with mutual TLS
 * and the generated ACL: simulated Keys connect with client certificates whose CN is their handle
 * (issued by a fresh provisioning CA); a host with its own certificate opens a Key by
 * `mqtts://…/HANDLE` with the Key facade, pairs, attests and reads info through the broker; a
 * backend consumer gets the Key's signed records; and a Key's certificate cannot act for another
 * Key (the broker refuses its cross-device publish and never delivers another Key's downlink).
 */
import { join } from 'node:path';
import { openKey } from '@enigm/key-firmware-host';
import { contactKeygen, EventReader, type ReaderEvent, signContactSet } from '@enigm/protocols/emergency';
import { fleetFilter, keyDownFilter, keyTopic, openStatus, openUplink, peekUplink } from '@enigm/protocols/mqtt';
import { Simulator } from '@enigm/sim';
import test from 'ava';
import { MqttError, MqttLink } from '../src/index.ts';
import { useMosquitto } from './support/mosquitto.ts';

const fx = useMosquitto(test, { hosts: ['host-1'], backends: ['backend-1'] });

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

fx.brokerTest(
  'mosquitto, mutual TLS: the facade pairs, attests and reads info through the broker; a Key cannot act for another',
  async (t) => {
    const { pki, broker, dir } = fx;
    const sim = await Simulator.start({
      keys: 2,
      stateDir: join(dir, 'sim'),
      serial: false,
      tcp: false,
      mqtt: {
        broker: broker.url,
        tlsFor: async (handle) => {
          const id = await pki.client(handle);
          return { ca: pki.caPem, cert: id.cert, key: id.key };
        },
        backoff: { baseMs: 50, capMs: 500 },
      },
    });
    const backendId = await pki.client('backend-1');
    const backend = await MqttLink.connect({ url: broker.url, tls: { ca: pki.caPem, cert: backendId.cert, key: backendId.key } });
    try {
      t.is(backend.protocolVersion, 5, 'mosquitto speaks MQTT 5');
      const [k0, k1] = sim.keys();
      const h0 = (k0?.mqtt ?? '').split('/').pop() as string;
      const h1 = (k1?.mqtt ?? '').split('/').pop() as string;
      t.regex(k0?.mqtt ?? '', /^mqtts:\/\/127\.0\.0\.1:\d+\/eh1-/);
      const ups: { topic: string; payload: Uint8Array }[] = [];
      backend.onMessage((topic, payload) => ups.push({ topic, payload: Uint8Array.from(payload) }));
      await backend.subscribe(fleetFilter('up'));
      await backend.subscribe(fleetFilter('status'));
      await until(() => ups.some((m) => m.topic === keyTopic(h0, 'status') && m.payload.length > 0), 20_000, "Key 0's status");
      const identity0 = sim.firmware(0).secureElement.identityPublicKey;
      const status = ups.find((m) => m.topic === keyTopic(h0, 'status'));
      t.true(openStatus(status?.payload as Uint8Array, h0, identity0).online);

      // The host, with its own certificate (CN host-1), through the broker.
      const hostId = await pki.client('host-1');
      const key = await openKey(k0?.mqtt as string, {
        hostKey: join(dir, 'host.pem'),
        known: join(dir, 'known.json'),
        mqtt: { tls: { ca: pki.caPem, cert: hostId.cert, key: hostId.key } },
      });
      try {
        t.is((await key.info()).model, 'enigm-key-1');
        t.is((await key.pair('owner')).role, 'owner');
        const nonce = new Uint8Array(32).fill(5);
        t.deepEqual((await key.attest(nonce)).claims.nonce, nonce);
        t.is(await key.activate(), 'dormant');
      } finally {
        await key.close();
      }
      // Key 0's own record (an uplink of Key 1 first would leave `rec` undefined).
      await until(() => ups.some((m) => m.topic === keyTopic(h0, 'up')), 20_000, 'the lifecycle record');
      const rec = ups.find((m) => m.topic === keyTopic(h0, 'up'));
      t.is(openUplink(rec?.payload as Uint8Array, h0, 'up', identity0).kind, 'lifecycle.changed');

      // Key 0's certificate acting for Key 1: the publish is refused (MQTT 5: PUBACK 0x87) and
      // Key 1's downlink never reaches it.
      const k0Id = await pki.client(h0, { fileName: `${h0}-spy` });
      const spy = await MqttLink.connect({ url: broker.url, tls: { ca: pki.caPem, cert: k0Id.cert, key: k0Id.key } });
      try {
        const forged = await t.throwsAsync(spy.publish(keyTopic(h1, 'up'), new Uint8Array([1])), { instanceOf: MqttError });
        t.is(forged?.reason, 0x87);
        const seen: string[] = [];
        spy.onMessage((topic) => seen.push(topic));
        await spy.subscribe(keyDownFilter(h1)).catch(() => undefined);
        const host = await MqttLink.connect({ url: broker.url, tls: { ca: pki.caPem, cert: hostId.cert, key: hostId.key } });
        await host.publish(keyTopic(h1, 'down', 'host-1', 'probe'), new Uint8Array([0]));
        await host.close();
        await new Promise((r) => setTimeout(r, 500));
        t.deepEqual(seen, [], "another Key's downlink is never delivered");
        t.false(
          ups.some((m) => m.topic === keyTopic(h1, 'up') && m.payload.length === 1),
          'the forged record reached nobody',
        );
      } finally {
        await spy.close();
      }
    } finally {
      await backend.close();
      await sim.stop();
    }
  },
);

fx.brokerTest(
  'mosquitto, mutual TLS: dormant → emergency → cancelled, and → resolved; the contact decrypts the location, the broker carries none',
  async (t) => {
    const { pki, broker, dir } = fx;
    const sim = await Simulator.start({
      keys: 1,
      stateDir: join(dir, 'sim-emergency'),
      serial: false,
      tcp: false,
      mqtt: {
        broker: broker.url,
        tlsFor: async (handle) => {
          const id = await pki.client(handle, { fileName: `${handle}-em` });
          return { ca: pki.caPem, cert: id.cert, key: id.key };
        },
        backoff: { baseMs: 50, capMs: 500 },
      },
    });
    const backendId = await pki.client('backend-1', { fileName: 'backend-1-em' });
    const backend = await MqttLink.connect({ url: broker.url, tls: { ca: pki.caPem, cert: backendId.cert, key: backendId.key } });
    const hostId = await pki.client('host-1', { fileName: 'host-1-em' });
    const key = await openKey(sim.keys()[0]?.mqtt as string, {
      hostKey: join(dir, 'host-em.pem'),
      known: join(dir, 'known-em.json'),
      mqtt: { tls: { ca: pki.caPem, cert: hostId.cert, key: hostId.key } },
    });
    try {
      const carried: Uint8Array[] = [];
      const bodies: Uint8Array[] = [];
      backend.onMessage((_topic, payload) => {
        carried.push(Uint8Array.from(payload));
        const up = peekUplink(payload);
        if (up?.kind === 'emergency') bodies.push(up.body);
      });
      await backend.subscribe(fleetFilter('up'));
      await key.pair('owner');
      t.is(await key.activate(), 'dormant');
      const contact = contactKeygen();
      const set = signContactSet(
        {
          version: 1,
          issuedAt: Date.now() - 1000,
          contacts: [{ alias: 'c0', hpkeKey: contact.publicKey, signKey: contact.signKey }],
        },
        new Uint8Array(32).fill(9),
      );
      t.like(await key.setContacts(set), { version: 1, count: 1 });
      const reader = new EventReader({
        identityPublicKey: sim.firmware(0).secureElement.identityPublicKey,
        contactIndex: 0,
        contactPrivateKey: contact.privateKey,
      });
      const seen: ReaderEvent[] = [];
      const read = async () => {
        while (bodies.length > 0) seen.push(...(await reader.feed(bodies.shift() as Uint8Array)));
      };
      t.like(sim.controls(0).gesture({ kind: 'triple' }), { action: 'emergency-start', done: true });
      sim.controls(0).setTrack([{ atMs: 0, lat: 48.858844, lon: 2.294351, accuracyM: 5 }]);
      const location = () => seen.find((e) => e.type === 'record' && e.body.kind === 'location');
      const end = Date.now() + 20_000;
      while (location() === undefined && Date.now() < end) {
        await read();
        await new Promise((r) => setTimeout(r, 50));
      }
      const loc = location();
      t.true(loc !== undefined, 'a location record decrypted by the contact');
      if (loc?.type === 'record' && loc.body.kind === 'location') {
        t.true(Math.abs(loc.body.location.lat - 48.858844) < 1e-6 && Math.abs(loc.body.location.lon - 2.294351) < 1e-6);
      }
      t.like(await key.cancelEmergency(), { phase: 'cancelled' });
      const ended = () => seen.some((e) => e.type === 'record' && e.body.kind === 'end');
      const end2 = Date.now() + 20_000;
      while (!ended() && Date.now() < end2) {
        await read();
        await new Promise((r) => setTimeout(r, 50));
      }
      t.true(ended(), 'the end record arrived and opened');
      t.is((await key.info()).state, 'dormant');
      // A second event, resolved by the owner once it is active.
      t.like(sim.controls(0).gesture({ kind: 'triple' }), { action: 'emergency-start', done: true });
      sim.controls(0).setTrack([{ atMs: 0, lat: 48.858844, lon: 2.294351, accuracyM: 5 }]);
      const end3 = Date.now() + 20_000;
      let resolved: unknown;
      while (resolved === undefined && Date.now() < end3) {
        resolved = await key.resolveEmergency().catch(() => undefined); // refused (INVALID_PHASE) until active
        if (resolved === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      t.like(resolved, { phase: 'resolved' });
      t.is((await key.info()).state, 'dormant');
      // No coordinate in any byte the broker carried (as a float64 or as text).
      const lat = Buffer.alloc(8);
      lat.writeDoubleBE(48.858844);
      t.false(
        carried.some((b) => Buffer.from(b).includes(lat) || Buffer.from(b).includes('48.858844')),
        'no location in clear',
      );
    } finally {
      await key.close();
      await backend.close();
      await sim.stop();
    }
  },
);
