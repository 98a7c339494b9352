/**
 * `enigm contact open` on records captured from mosquitto (issue 13 done-means: "a contact-side
 * `enigm contact open` decrypts the locations while the broker sees ciphertext"). A mosquitto of
 * this test with mutual TLS and the generated ACL (`mosquittoAcl`; certificates from a fresh
 * provisioning CA), a simulated Key whose uplink connects with a client certificate whose CN is its
 * handle, and a backend (its own certificate) that stores every emergency uplink body as a hex
 * line, as a backend would. The contact's keys and the owner's set are made with the CLI
 * (`contact keygen`, `cose keygen`, `contact set-make`); the Key's emergency starts with the
 * gesture, a location is sealed, the owner cancels. The captured file holds no coordinate; the
 * contact's `enigm contact open` verifies and decrypts it: the start, the location, the end
 * (cancelled), none missing; `--json` the same; another contact's key opens nothing (exit 1).
 * Without mosquitto the test is skipped, except under CI=true where it fails.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createTlsKeyPair, issueTlsCertificate, type ProvisioningCa } from '@enigm/attestation';
import { MqttLink, type MqttTls } from '@enigm/mqtt';
import { findMosquitto, MOSQUITTO_INSTALL_HINT, type Mosquitto, startMosquitto } from '@enigm/mqtt/broker';
import { toHex } from '@enigm/protocols/bytes';
import { peekEventRecord, peekEventStart } from '@enigm/protocols/emergency';
import { mosquittoAcl, openUplink, parseKeyTopic } from '@enigm/protocols/mqtt';
import { Simulator } from '@enigm/sim';
import test from 'ava';
import { contactCommands } from '../src/commands/contact.ts';
import { coseCommands } from '../src/commands/cose.ts';
import { makeContactSet } from './cli-steps.ts';
import { runCommand } from './run-command.ts';

const LAT = 43.296482;
const LON = 5.36978;
const BACKEND = 'backend-1';
const available = findMosquitto() !== undefined;
const brokerTest = available || process.env.CI === 'true' ? test.serial : test.serial.skip;

let dir = '';
let mosquitto: Mosquitto | undefined;
let sim: Simulator | undefined;
let backend: MqttLink | undefined;

test.after.always(async () => {
  await backend?.close().catch(() => undefined);
  await sim?.stop();
  await mosquitto?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** mosquitto with mutual TLS and the ACL; client certificates on demand. */
async function startBroker(): Promise<{ url: string; tlsFor: (cn: string) => Promise<MqttTls> }> {
  const ca: ProvisioningCa = await createCa();
  const caPem = ca.root.certificate.pem + ca.intermediate.certificate.pem;
  writeFileSync(join(dir, 'ca.pem'), caPem);
  const serverKeys = await createTlsKeyPair();
  const server = await issueTlsCertificate(ca, { commonName: 'mqtt-broker', usage: 'server', publicKey: serverKeys.publicKey });
  writeFileSync(join(dir, 'server.crt'), server.chainPem);
  writeFileSync(join(dir, 'server.key'), serverKeys.privateKeyPem, { mode: 0o600 });
  mosquitto = await startMosquitto({
    dir: join(dir, 'mosquitto'),
    tls: { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') },
    aclText: mosquittoAcl({ hosts: [], backends: [BACKEND] }),
  });
  const tlsFor = async (cn: string): Promise<MqttTls> => {
    const keys = await createTlsKeyPair();
    const cert = await issueTlsCertificate(ca, { commonName: cn, usage: 'client', publicKey: keys.publicKey });
    return { ca: caPem, cert: cert.chainPem, key: keys.privateKeyPem };
  };
  return { url: mosquitto.url, tlsFor };
}

brokerTest(
  'contact open decrypts the records a backend captured from mosquitto; the captured bytes hold no location',
  async (t) => {
    if (!available) throw new Error(`CI=true but mosquitto is missing (${MOSQUITTO_INSTALL_HINT})`);
    dir = mkdtempSync(join(tmpdir(), 'enigm-contact-open-mosquitto-'));
    const f = (name: string) => join(dir, name);
    const cli = (...argv: string[]) => runCommand([...contactCommands, ...coseCommands], argv);

    // The contact's keys and the owner's signed set, made as users make them.
    t.is((await cli('contact', 'keygen', '--out', f('bob'))).code, 0);
    await makeContactSet(t, cli, dir);

    const { url, tlsFor } = await startBroker();
    sim = await Simulator.start({
      keys: 1,
      serial: false,
      tcp: false,
      stateDir: join(dir, 'sim'),
      mqtt: { broker: url, tlsFor, backoff: { baseMs: 50, capMs: 500 } },
    });
    const s = sim;
    const handle = (s.keys()[0]?.mqtt ?? '').split('/').pop() as string;
    const identity = s.firmware(0).secureElement.identityPublicKey;
    await until(() => s.linkStats()[0]?.mqtt?.connected === true, 30_000, 'the uplink to connect');

    // The backend stores each emergency uplink body (verified against the Key's identity) as a hex line.
    const captured: string[] = [];
    // The kinds seen (from each record's clear header): waits are on the record wanted, not on a
    // count (a second location fix, due 10 s after the first, could stand in for the end).
    const kinds = new Set<string>();
    const raw: Buffer[] = [];
    backend = await MqttLink.connect({ url, tls: await tlsFor(BACKEND) });
    backend.onMessage((topic, payload) => {
      raw.push(Buffer.from(payload));
      if (parseKeyTopic(topic)?.channel !== 'up') return;
      const up = openUplink(payload, handle, 'up', identity);
      if (up.kind !== 'emergency') return;
      captured.push(toHex(up.body));
      kinds.add(peekEventStart(up.body) ? 'start' : (peekEventRecord(up.body)?.kind ?? 'unreadable'));
    });
    await backend.subscribe(`enigm/v1/key/${handle}/up`, 1);

    const fw = s.firmware(0);
    t.is(fw.transition('activate'), 'dormant');
    t.like(fw.emergency.setContacts(readFileSync(f('contacts.cose'))), { version: 1, count: 1 });
    t.like(s.controls(0).gesture({ kind: 'triple' }), { action: 'emergency-start' });
    s.controls(0).setTrack([{ atMs: 0, lat: LAT, lon: LON, accuracyM: 7 }]);
    await until(() => kinds.has('start') && kinds.has('location'), 30_000, 'the start and the location through mosquitto');
    t.like(s.controls(0).gesture({ kind: 'hold', seconds: 10 }), { action: 'emergency-end' });
    await until(() => kinds.has('end'), 30_000, 'the end record through mosquitto');
    writeFileSync(f('captured.txt'), `${captured.join('\n')}\n`);

    // What the broker carried: no coordinate, in text or as a CBOR double.
    const lat = Buffer.alloc(8);
    lat.writeDoubleBE(LAT);
    const all = Buffer.concat(raw);
    t.false(all.includes(lat) || all.includes(Buffer.from(String(LAT))), 'no location on the broker');

    const opened = await cli('contact', 'open', '--key', f('alice.key'), '--identity', toHex(identity), f('captured.txt'));
    t.is(opened.code, 0, opened.stderr);
    const lines = opened.stdout.trim().split('\n');
    t.regex(lines[0] ?? '', /^start +event [0-9a-f]{32} .* contact set v1 +reason gesture/);
    t.regex(opened.stdout, new RegExp(`^seq 1 +location .* lat ${LAT} lon ${LON} ±7 m`, 'm'));
    t.regex(opened.stdout, /^seq \d+ +end .* event ended: cancelled$/m);
    t.regex(lines.at(-1) ?? '', /; none missing; ended \(cancelled\)/);

    const json = await cli(
      'contact',
      'open',
      '--key',
      f('alice.key'),
      '--identity',
      toHex(identity),
      '--json',
      f('captured.txt'),
    );
    t.is(json.code, 0, json.stderr);
    const rows = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    t.like(rows.at(-1), { ok: true, contactIndex: 0, missing: [], ended: 'cancelled' });
    t.like(
      rows.find((r) => r.type === 'record'),
      { body: { lat: LAT, lon: LON, accuracyM: 7 } },
    );

    const stranger = await cli('contact', 'open', '--key', f('bob.key'), '--identity', toHex(identity), f('captured.txt'));
    t.is(stranger.code, 1, 'a key not in the set opens nothing');
    t.false(stranger.stdout.includes(String(LAT)));
  },
);
