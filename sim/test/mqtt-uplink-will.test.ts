/**
 * The last-will offline marker (docs/mqtt.md, issue "the Key ↔ backend link over MQTT"): a Key's
 * uplink leaves the broker a retained status record with `will: true`, sealed by the Key, which
 * the broker publishes when the Key's connection dies without a goodbye. A simulated Key in its
 * own process is killed with SIGKILL; a backend consumer (allowed by the ACL to read status)
 * receives the offline marker for that handle, it opens with the Key's identity, and a subscriber
 * that comes later still gets it, retained. Against the embedded broker and against mosquitto with
 * mutual TLS and the generated ACL (support/uplink-broker.ts; under `CI=true` missing mosquitto
 * fails).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttLink } from '@enigm/mqtt';
import { fleetFilter, openStatus, parseKeyTopic, type Status } from '@enigm/protocols/mqtt';
import test from 'ava';
import { loadSecureElement } from '../src/firmware/secure-element.ts';
import { FileStorage } from '../src/runtime/file-storage.ts';
import { startSimProcess } from './support/sim-process.ts';
import { BROKER_KINDS, useUplinkBrokers } from './support/uplink-broker.ts';
import { until } from './support/wait.ts';

const brokers = useUplinkBrokers(test);
const BACKOFF = { baseMs: 50, capMs: 300 };

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Every status record `consumer` receives for `handle`, opened with the Key's identity (a forgery throws). */
function statuses(consumer: MqttLink, handle: string, identity: () => Uint8Array): Status[] {
  const seen: Status[] = [];
  consumer.onMessage((topic, payload) => {
    const at = parseKeyTopic(topic);
    if (at?.channel !== 'status' || at.handle !== handle || payload.length === 0) return;
    seen.push(openStatus(payload, handle, identity()));
  });
  return seen;
}

for (const kind of BROKER_KINDS) {
  brokers.brokerTest(kind)(
    `the Key killed with SIGKILL (${kind}): the broker publishes its sealed last will, offline and retained`,
    async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'enigm-uplink-will-'));
      dirs.push(dir);
      const broker = await brokers.make(kind);
      t.teardown(() => broker.close());
      await broker.start();
      const sim = await startSimProcess({
        keys: 1,
        stateDir: join(dir, 'sim'),
        serial: false,
        tcp: false,
        mqtt: broker.simMqtt(BACKOFF),
        ...(broker.certFiles ? { mqttCerts: broker.certFiles } : {}),
      });
      t.teardown(() => sim.stop());
      const handle = (sim.keys[0]?.mqtt ?? '').split('/').pop() as string;
      await broker.issueKey(handle); // the child waits for its certificate (mosquitto)
      const identity = () =>
        loadSecureElement(new FileStorage(join(dir, 'sim', 'key-0.se')), () => new Uint8Array(32)).identityPublicKey;

      const consumer = await broker.consumer('backend-1');
      t.teardown(() => consumer.close());
      const seen = statuses(consumer, handle, identity);
      await consumer.subscribe(fleetFilter('status', { handle }));
      await until(() => seen.some((s) => s.online), 20_000, 'the Key to say it is online');
      t.false(
        seen.some((s) => s.will),
        'no will while the Key is connected',
      );

      sim.proc.kill('SIGKILL');
      await new Promise((r) => (sim.alive() ? sim.proc.once('exit', r) : r(undefined)));
      await until(() => seen.some((s) => s.will), 20_000, 'the broker to publish the last will');
      const will = seen.find((s) => s.will) as Status;
      t.false(will.online);
      t.true(will.will);

      // A backend that subscribes only now gets the will, retained (nobody publishes after it).
      const late = await broker.consumer('backend-2');
      t.teardown(() => late.close());
      const retained = statuses(late, handle, identity);
      await late.subscribe(fleetFilter('status', { handle }));
      await until(() => retained.length >= 1, 20_000, 'the retained status');
      t.deepEqual(retained, [will]);
    },
  );
}
