/**
 * The Key facade through an MQTT broker (issue: "the Key ↔ backend link over MQTT"): the
 * simulator's Keys are reached by `mqtt://broker/HANDLE` with the same facade, sessions and
 * commands as over serial and TCP — info, pair, session, attest, activate with its event, flash —
 * on the embedded broker (the default); a subscriber without the session on a broker without an
 * ACL sees only ciphertext and frame headers (the attestation nonce and the evidence never appear
 * in clear); the Key's uplink publishes a signed retained status and signed lifecycle records.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttLink } from '@enigm/mqtt';
import { fleetFilter, openStatus, openUplink, parseKeyTopic } from '@enigm/protocols/mqtt';
import { Simulator } from '@enigm/sim';
import { Aedes } from 'aedes';
import test from 'ava';
import { type OpenKeyOptions, openKey } from '../src/key/key.ts';

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function options(dir: string): OpenKeyOptions {
  return { hostKey: join(dir, 'home', 'host-key.pem'), known: join(dir, 'home', 'known-keys.json') };
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).includes(Buffer.from(needle));
}

test.serial('mqtt://broker/HANDLE on the embedded broker: info, pair, session, attest, activate and its event', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-mqtt-facade-'));
  dirs.push(dir);
  const sim = await Simulator.start({ keys: 2, stateDir: join(dir, 'sim'), serial: false, tcp: false, mqtt: true });
  try {
    const [k0, k1] = sim.keys();
    t.regex(k0?.mqtt ?? '', /^mqtt:\/\/127\.0\.0\.1:\d+\/eh1-[a-z2-7]{26}$/);
    t.not(k0?.mqtt, k1?.mqtt);
    t.true(sim.broker?.embedded);
    const key = await openKey(k0?.mqtt as string, options(dir));
    try {
      const info = await key.info();
      t.is(info.model, 'enigm-key-1');
      const p = await key.pair('owner');
      t.is(p.role, 'owner');
      await key.session();
      const nonce = new Uint8Array(32).fill(7);
      const ev = await key.attest(nonce);
      t.deepEqual(ev.claims.nonce, nonce);
      const events = key.events();
      t.is(await key.activate(), 'dormant');
      t.like((await events.next()).value, { name: 'lifecycle.changed', body: { from: 'factory', to: 'dormant' } });
    } finally {
      await key.close();
    }
  } finally {
    await sim.stop();
  }
});

test.serial('a subscriber without the session sees only ciphertext; the uplink is signed and bound to its handle', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-mqtt-snoop-'));
  dirs.push(dir);
  // A broker with no ACL at all: the snooper reads every topic.
  const broker = await (
    Aedes as unknown as { createBroker(): Promise<{ handle: (s: unknown) => void; close(cb?: () => void): void }> }
  ).createBroker();
  const server = createServer(broker.handle as never);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  const snooper = await MqttLink.connect({ url, username: 'snooper' });
  const seen: { topic: string; payload: Uint8Array }[] = [];
  snooper.onMessage((topic, payload) => seen.push({ topic, payload: Uint8Array.from(payload) }));
  await snooper.subscribe('enigm/#');
  const sim = await Simulator.start({ keys: 1, stateDir: join(dir, 'sim'), serial: false, tcp: false, mqtt: { broker: url } });
  try {
    const k0 = sim.keys()[0];
    const handle = (k0?.mqtt ?? '').split('/').pop() as string;
    const key = await openKey(k0?.mqtt as string, options(dir));
    const nonce = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
    let evidence: Uint8Array;
    try {
      await key.pair('owner');
      const ev = await key.attest(nonce);
      evidence = ev.evidence;
      await key.activate();
    } finally {
      await key.close();
    }
    // What the snooper reads arrives on its own time: wait for the last of it (the uplink record of
    // the activation, and the status), not a fixed 300 ms that a loaded machine can outlast.
    const identity = sim.firmware(0).secureElement.identityPublicKey;
    const lifecycleSeen = () =>
      seen.some(
        (m) =>
          m.topic === fleetFilter('up', { handle }) && openUplink(m.payload, handle, 'up', identity).kind === 'lifecycle.changed',
      );
    const statusSeen = () => seen.some((m) => m.topic === fleetFilter('status', { handle }) && m.payload.length > 0);
    const end = Date.now() + 15_000;
    while (!(lifecycleSeen() && statusSeen()) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const links = seen.filter((m) => ['down', 'resp'].includes(parseKeyTopic(m.topic)?.channel ?? ''));
    t.true(links.length > 10, `${links.length} link messages seen`);
    t.false(
      links.some((m) => contains(m.payload, nonce)),
      'the nonce never travels in clear',
    );
    t.false(
      links.some((m) => contains(m.payload, evidence.subarray(0, 48))),
      'the evidence never travels in clear',
    );
    // The uplink: a signed retained status and a signed lifecycle record, each bound to the topic.
    const status = seen.filter((m) => m.topic === fleetFilter('status', { handle }) && m.payload.length > 0);
    t.true(status.length >= 1);
    const st = openStatus(status[0]?.payload as Uint8Array, handle, identity);
    t.true(st.online);
    t.true(Math.abs(st.time - Date.now()) < 60_000, 'status time is wall-clock time');
    const ups = seen.filter((m) => m.topic === fleetFilter('up', { handle }));
    const records = ups.map((m) => openUplink(m.payload, handle, 'up', identity));
    t.true(records.some((r) => r.kind === 'lifecycle.changed'));
    // Copied to another handle's topic, a record no longer verifies.
    const other = 'eh1-aaaaaaaaaaaaaaaaaaaaaaaaaa';
    t.throws(() => openUplink(ups[0]?.payload as Uint8Array, other, 'up', identity), { code: 'MQTT_PAYLOAD_INVALID' });
  } finally {
    await sim.stop();
    await snooper.close();
    await new Promise<void>((r) => broker.close(() => r()));
    server.close();
  }
});
