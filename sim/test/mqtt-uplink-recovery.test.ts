/**
 * What the simulated Key's uplink reports at start (issue "the Key ↔ backend link over MQTT"):
 * - a corrupted outbox ("bad records quarantined and reported, good ones kept"): records queued
 *   while the broker was down, the simulator stopped, one entry of `key-0.outbox` damaged on
 *   disk; at the next start the uplink reports the quarantine in the log, writes
 *   `key-0.outbox.quarantine`, and delivers the good records, in order, once;
 * - a client certificate about to expire ("certificate expiry ahead of time reported"): on
 *   mosquitto with mutual TLS, the first connect logs the warning.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openKey } from '@enigm/key-firmware-host';
import { Deduplicator } from '@enigm/mqtt';
import { decode } from '@enigm/protocols/cbor';
import { fleetFilter, openUplink, parseKeyTopic, type Uplink } from '@enigm/protocols/mqtt';
import test from 'ava';
import { Simulator } from '../src/index.ts';
import type { SimLogger } from '../src/runtime/log.ts';
import { useUplinkBrokers } from './support/uplink-broker.ts';
import { until } from './support/wait.ts';

/** A logger that keeps warnings and errors. */
function capture(): { log: SimLogger; lines: string[] } {
  const lines: string[] = [];
  const log: SimLogger = {
    level: 'info',
    error: (m) => lines.push(`error ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    info: () => undefined,
    debug: () => undefined,
  };
  return { log, lines };
}

const brokers = useUplinkBrokers(test);
const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Offsets of the outbox entries' sync marker `EE 4F 42 31` (docs/mqtt-outbox.md "File format"). */
function entryOffsets(file: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 4 <= file.length; i++)
    if (file[i] === 0xee && file[i + 1] === 0x4f && file[i + 2] === 0x42 && file[i + 3] === 0x31) out.push(i);
  return out;
}

test.serial(
  'a damaged entry in key-0.outbox: quarantined and logged at start; the good records are delivered in order',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'enigm-uplink-recovery-'));
    dirs.push(dir);
    const broker = await brokers.make('embedded'); // down while the records are queued
    const options = { keys: 1, stateDir: join(dir, 'sim'), serial: false, mqtt: broker.simMqtt({ baseMs: 50, capMs: 300 }) };
    let sim = await Simulator.start(options);
    const identity = sim.firmware(0).secureElement.identityPublicKey;
    const key = await openKey(sim.keys()[0]?.tcp as string, {
      hostKey: join(dir, 'host.pem'),
      known: join(dir, 'known.json'),
      timeoutMs: 20_000,
    });
    try {
      await key.pair('owner');
      await key.activate(); // seq 1: dormant
      await key.suspend(); // seq 2: suspended
      await key.resume(); // seq 3: dormant
      await until(() => sim.linkStats()[0]?.mqtt?.queued === 3, 20_000, 'three records queued');
    } finally {
      await key.close();
      await sim.stop();
    }
    const path = join(dir, 'sim', 'key-0.outbox');
    const file = new Uint8Array(readFileSync(path));
    const entries = entryOffsets(file);
    t.is(entries.length, 3, 'one entry per record, nothing acknowledged');
    const second = entries[1] as number;
    file[second + 12 + 20] = (file[second + 12 + 20] as number) ^ 0xff; // inside the second record: its CRC fails
    writeFileSync(path, file);

    const lines: string[] = [];
    const log: SimLogger = {
      level: 'info',
      error: (m) => lines.push(`error ${m}`),
      warn: (m) => lines.push(`warn ${m}`),
      info: () => undefined,
      debug: () => undefined,
    };
    await broker.start();
    const consumer = await broker.consumer('backend-1');
    t.teardown(() => consumer.close());
    const dedup = new Deduplicator();
    const records: Uplink[] = [];
    let duplicates = 0;
    consumer.onMessage((topic, payload) => {
      if (parseKeyTopic(topic)?.channel !== 'up') return;
      const r = openUplink(payload, parseKeyTopic(topic)?.handle as string, 'up', identity);
      if (dedup.fresh(r.id)) records.push(r);
      else duplicates++;
    });
    await consumer.subscribe(fleetFilter('up'));
    sim = await Simulator.start({ ...options, log });
    t.teardown(() => sim.stop());
    t.true(
      lines.includes('warn key 0: outbox recovered 2 records; 1 corrupted records quarantined, 0 torn bytes dropped'),
      lines.join('\n'),
    );
    t.true(existsSync(`${path}.quarantine`), 'the damaged bytes are kept aside');
    await until(() => records.length === 2 && sim.linkStats()[0]?.mqtt?.queued === 0, 20_000, 'the good records');
    t.deepEqual(
      records.map((r) => r.seq),
      [1, 3],
    );
    t.deepEqual(
      records.map((r) => (decode(r.body) as Map<number, string>).get(2)),
      ['dormant', 'dormant'],
    );
    t.is(duplicates, 0);
  },
);

brokers.brokerTest('mosquitto')(
  'a Key certificate expiring within 30 days (mosquitto, mutual TLS): the uplink connects and logs the warning at its first connect',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'enigm-uplink-cert-'));
    dirs.push(dir);
    const broker = await brokers.make('mosquitto', { keyNotAfter: new Date(Date.now() + 10.5 * 86_400_000) });
    await broker.start();
    const { log, lines } = capture();
    const sim = await Simulator.start({
      keys: 1,
      stateDir: join(dir, 'sim'),
      serial: false,
      tcp: false,
      mqtt: broker.simMqtt({ baseMs: 50, capMs: 300 }),
      log,
    });
    t.teardown(() => sim.stop());
    await until(() => sim.linkStats()[0]?.mqtt?.connected === true, 20_000, 'the uplink');
    t.deepEqual(
      lines.filter((l) => l.includes('certificate')),
      ['warn key 0: mqtt: the client certificate expires in 10 days; renew it'],
    );
  },
);
