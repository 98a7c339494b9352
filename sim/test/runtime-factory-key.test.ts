/**
 * Issue 16 finding 9 (cheap part): `--trust-fw-key` can point to a firmware-signing key kept
 * outside the state folder. On a new folder the factory key then signs the factory image in
 * memory and is not kept: the folder holds no private key the Keys trust, images signed with the
 * user's key are accepted, images signed with any other key are refused, and a restart with more
 * Keys still manufactures them (from the saved factory manifest).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyClient, SecureSession, TcpTransport } from '@enigm/key-firmware-host';
import { ed25519Generate, sha256, x25519Generate } from '@enigm/protocols/crypto';
import { signManifest } from '@enigm/protocols/firmware';
import { staticKeyFromPrivate } from '@enigm/protocols/noise';
import test from 'ava';
import { Simulator } from '../src/runtime/simulator.ts';

function manifest(seed: Uint8Array, version: string, counter: number): Uint8Array {
  const size = 8192;
  return signManifest(
    { model: 'enigm-key-1', version, securityCounter: counter, payloadSize: size, payloadDigest: sha256(new Uint8Array(size)) },
    seed,
  );
}

test('with --trust-fw-key on a new folder no trusted private key is kept; the user key signs updates, others are refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-factory-'));
  const mine = ed25519Generate();
  let sim = await Simulator.start({ keys: 1, stateDir: dir, serial: false, trustedFirmwareKeys: [mine.publicKey] });
  const clients: KeyClient[] = [];
  try {
    t.false(sim.factoryKeyKept);
    t.false(existsSync(join(dir, 'fw-signing.key')), 'no firmware-signing private key in the state folder');
    t.true(existsSync(join(dir, 'fw-signing.pub')));
    t.false(
      readdirSync(dir).some((f) => f.endsWith('.key') || f.endsWith('.pem')),
      `files: ${readdirSync(dir).join(', ')}`,
    );
    const u = new URL(sim.keys()[0]?.tcp as string);
    const c = await KeyClient.connect(new TcpTransport({ host: u.hostname, port: Number(u.port) }), { timeoutMs: 10_000 });
    clients.push(c);
    t.is(c.hello.firmware, '1.0.0', 'the factory image boots');
    const s = await SecureSession.firstContact(c, { hostKey: staticKeyFromPrivate(x25519Generate().privateKey) });
    await s.pair('owner');
    const other = ed25519Generate();
    await t.throwsAsync(s.request('fw.begin', { manifest: manifest(other.seed, '2.0.0', 2) }), {
      message: /FIRMWARE_REJECTED|UNVERIFIED|signature/i,
    });
    const begun = await s.request('fw.begin', { manifest: manifest(mine.seed, '2.0.0', 2) });
    t.is(begun.offset, 0, "an image signed with the user's key is accepted");
    await c.close();
    await sim.stop();
    // More Keys later: manufactured from the saved factory manifest, still without a private key.
    sim = await Simulator.start({ keys: 2, stateDir: dir, serial: false, trustedFirmwareKeys: [mine.publicKey] });
    t.is(sim.keys().length, 2);
    t.false(existsSync(join(dir, 'fw-signing.key')));
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without --trust-fw-key the folder keeps fw-signing.key, as before', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-factory-'));
  const sim = await Simulator.start({ keys: 1, stateDir: dir, serial: false });
  try {
    t.true(sim.factoryKeyKept);
    t.true(existsSync(sim.signingKeyPath));
  } finally {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
