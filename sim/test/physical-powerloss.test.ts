/**
 * A power pull while the running simulator erases ahead of an upload (a flash operation in
 * progress): the erase is torn as the flash model tears it, the Key is off (nothing answers),
 * and restoring power boots it: the bootloader runs, the factory image still runs, and a host
 * talks to it again over real TCP.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyClient, SecureSession, TcpTransport, uploadPayload } from '@enigm/key-firmware-host';
import { ed25519PrivateKeyFromPem, sha256, x25519Generate } from '@enigm/protocols/crypto';
import { signManifest } from '@enigm/protocols/firmware';
import { staticKeyFromPrivate } from '@enigm/protocols/noise';
import test from 'ava';
import type { DeviceEvent } from '../src/firmware/physical/types.ts';
import { Simulator } from '../src/runtime/simulator.ts';

function imageFor(seed: Uint8Array, version: string, counter: number, size: number) {
  const payload = new Uint8Array(size).fill(counter);
  const manifest = signManifest(
    { model: 'enigm-key-1', version, securityCounter: counter, payloadSize: size, payloadDigest: sha256(payload) },
    seed,
  );
  return { manifest, payload };
}

const tcp = (address: string) => {
  const url = new URL(address);
  return new TcpTransport({ host: url.hostname, port: Number(url.port) });
};

test('power pulled during erase-ahead tears the erase; restored, the Key boots the factory image and answers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-physical-powerloss-'));
  const sim = await Simulator.start({ keys: 1, serial: false, stateDir: dir, eraseMsPerPage: 20 });
  const events: DeviceEvent[] = [];
  sim.onEvent((e) => events.push(e));
  const clients: KeyClient[] = [];
  t.teardown(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const address = sim.keys()[0]?.tcp as string;
  const seed = ed25519PrivateKeyFromPem(readFileSync(join(dir, 'fw-signing.key'), 'utf8'));
  const hostKey = staticKeyFromPrivate(x25519Generate().privateKey);
  const c = await KeyClient.connect(tcp(address), { timeoutMs: 10_000 });
  clients.push(c);
  const owner = await SecureSession.firstContact(c, { hostKey });
  await owner.pair('owner');
  // Dirty the secondary slot so the next begin erases ~50 pages at 20 ms each (about a second).
  const old = imageFor(seed, '1.5.0', 1, 200 * 1024);
  await uploadPayload(owner, old.manifest, old.payload, c.link.window);
  await owner.request('fw.revert', {});
  const keepalives = c.stats.keepalives;
  const begin = owner.request('fw.begin', { manifest: imageFor(seed, '2.0.0', 2, 200 * 1024).manifest }).catch((e) => e);
  // The Key sends the requester a keepalive as the erase starts (a fixed sleep could end before
  // the begin reached the Key on a loaded machine: the pull would not land mid-erase).
  const deadline = Date.now() + 20_000;
  while (c.stats.keepalives === keepalives && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  t.true(c.stats.keepalives > keepalives, 'the erase is under way');
  const bootsBefore = sim.firmware(0).bootCount;
  sim.controls(0).setPower(false);
  t.like(
    events.find((e) => e.type === 'power'),
    { on: false, tornWrite: true },
    'the pull landed mid-erase',
  );
  t.true((await begin) instanceof Error, 'the begin is never answered: the Key lost power');
  sim.controls(0).setPower(true);
  t.is(sim.firmware(0).bootCount, bootsBefore + 1, 'restoring power boots the Key');
  t.is(sim.firmware(0).firmwareVersion, '1.0.0', 'the factory image still runs');

  const c2 = await KeyClient.connect(tcp(address), { timeoutMs: 10_000 });
  clients.push(c2);
  const again = await SecureSession.reconnect(c2, owner.peer.staticKey, { hostKey });
  const st = await again.request('fw.status', {});
  t.like(st, { primary: 'confirmed', running: { version: '1.0.0' } });
  // The torn slot is simply rewritten by a new upload.
  const next = imageFor(seed, '2.0.0', 2, 64 * 1024);
  await uploadPayload(again, next.manifest, next.payload, c2.link.window);
  t.like(await again.request('fw.status', {}), { secondary: { version: '2.0.0' } });
});
