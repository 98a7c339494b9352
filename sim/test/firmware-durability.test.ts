/**
 * Issue 16 finding 3: a confirmed update was lost on power loss while its security counter was
 * kept, and evidence overstated the running firmware. Now nothing is acknowledged before it is
 * durable (the flash's `persist` hook runs before `fw.finish`/`fw.test`/`fw.confirm`/`fw.revert`
 * answer), the counter lives in the flash status ring only, and evidence describes the running
 * image. "kill -9" here: right after an acknowledgement, all in-memory state is dropped and the
 * Key boots again from what storage holds.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, encode } from '@enigm/protocols/cbor';
import { decodeSign1 } from '@enigm/protocols/cose';
import { ed25519PublicKey, sha256 } from '@enigm/protocols/crypto';
import { KeyClaims } from '@enigm/protocols/evidence';
import { verifyManifest } from '@enigm/protocols/firmware';
import test from 'ava';
import { boot } from '../src/firmware/flash/bootloader.ts';
import { Flash } from '../src/firmware/flash/flash.ts';
import { DEFAULT_LAYOUT } from '../src/firmware/flash/layout.ts';
import { UpdateEngine } from '../src/firmware/flash/update.ts';
import { loadOrCreateSigningKey } from '../src/runtime/factory.ts';
import { Simulator } from '../src/runtime/simulator.ts';
import { makeTestFlash, makeTestKey } from '../src/testing.ts';
import { settle, testImage, WireHost } from './support/wire-host.ts';

/** A Key whose flash "disk" is written only by the persist hook (as the simulator's file). */
function rig() {
  const { deps, signingSeed } = makeTestFlash();
  const disk = { bytes: deps.flash.snapshot(), persists: 0 };
  const k = makeTestKey({
    flash: {
      ...deps,
      persist: () => {
        disk.bytes = deps.flash.snapshot();
        disk.persists++;
      },
    },
  });
  const owner = new WireHost(k.fw, 41).connect().pair('owner');
  owner.ok('activate', {});
  /** kill -9: a new Key from the stored record and the flash as last persisted. */
  const restart = () => {
    const { pageSize, pageCount } = deps.flash;
    const flash = new Flash({ pageSize, pageCount, initial: disk.bytes });
    const again = makeTestKey({ storage: k.storage, seStorage: k.seStorage, flash: { ...deps, flash }, now: k.now });
    return { ...again, owner: new WireHost(again.fw, 41).connect() };
  };
  return { ...k, owner, seed: signingSeed, disk, restart };
}

const claimsOf = (owner: WireHost) => {
  const { evidence } = owner.ok('attest', { nonce: new Uint8Array(32).fill(7) });
  return KeyClaims.fromMap(decode(decodeSign1(evidence).payload ?? new Uint8Array()) as never);
};

test('kill -9 right after each acknowledgement: the acknowledged state survives', async (t) => {
  const { owner, seed, disk, restart } = rig();
  const img = testImage(seed, '2.0.0', 2);
  owner.upload(img); // ends with fw.finish
  t.is(restart().owner.ok('fw.status', {}).secondary?.state, 'ready', 'after fw.finish');

  const persists = disk.persists;
  t.true(owner.request('fw.test', {}).ok);
  t.true(disk.persists > persists, 'persisted before the answer');
  let after = restart(); // killed before the in-memory reboot even ran
  t.like(after.owner.ok('fw.status', {}), { primary: 'testing', running: { version: '2.0.0' } }, 'after fw.test');

  await settle(); // the original Key test-boots
  owner.connect();
  t.deepEqual(owner.ok('fw.confirm', {}), { securityCounter: 2 });
  after = restart();
  t.like(after.owner.ok('fw.status', {}), { primary: 'confirmed', securityCounter: 2, running: { version: '2.0.0' } });
  t.like(claimsOf(after.owner), { swversion: ['2.0.0'], securityCounter: 2 }, 'evidence agrees with what runs');
  t.is(after.fw.securityCounter, 2);

  const next = testImage(seed, '3.0.0', 3);
  owner.upload(next);
  owner.request('fw.test', {});
  await settle();
  owner.connect();
  owner.ok('fw.revert', {});
  after = restart(); // the restart is the boot that carries out the acknowledged revert
  t.like(
    after.owner.ok('fw.status', {}),
    { primary: 'confirmed', securityCounter: 2, running: { version: '2.0.0' } },
    'after fw.revert',
  );
});

test('evidence carries the running image (version, digest, its own counter), never an installed-but-not-running one', async (t) => {
  const { owner, seed, fw } = rig();
  const img = testImage(seed, '2.0.0', 2);
  owner.upload(img);
  owner.request('fw.test', {});
  await settle();
  owner.connect();
  let c = claimsOf(owner);
  t.deepEqual(c.swversion, ['2.0.0']);
  t.is(c.securityCounter, 2, 'the test image runs: its counter');
  t.deepEqual(c.firmwareDigest, fw.running.digest);
  t.is(owner.ok('fw.status', {}).securityCounter, 1, 'installed: not advanced before confirm');
  owner.ok('fw.revert', {});
  owner.request('reboot', {});
  await settle();
  owner.connect();
  c = claimsOf(owner);
  t.deepEqual(c.swversion, ['1.0.0']);
  t.is(c.securityCounter, 1);
  t.deepEqual(c.firmwareDigest, fw.running.digest);
  t.not(fw.running.version, '2.0.0');
});

test('the security counter lives in the flash only: a stale counter in the stored record is ignored', (t) => {
  const { storage, restart } = rig();
  const rec = decode(storage.read() ?? new Uint8Array()) as Map<number, unknown>;
  t.false(rec.has(5), 'not written any more');
  rec.set(5, 7); // a record from before the fix, with a counter the flash never confirmed
  storage.bytes = encode(rec as never);
  const after = restart();
  t.is(after.fw.securityCounter, 1);
  t.like(after.owner.ok('fw.status', {}), { securityCounter: 1 });
});

test('the simulator makes the flash durable before the Key answers fw.confirm (no 250 ms window)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-durable-'));
  const sim = await Simulator.start({ keys: 1, serial: false, tcp: false, stateDir: dir });
  try {
    const fw = sim.firmware(0);
    const host = new WireHost(fw, 51).connect().pair('owner');
    const seed = loadOrCreateSigningKey(dir).seed;
    host.upload(testImage(seed, '2.0.0', 2));
    host.request('fw.test', {});
    await settle();
    host.connect();
    t.deepEqual(host.ok('fw.confirm', {}), { securityCounter: 2 });
    // read the file at once, as a restarted simulator would after kill -9
    const stored = new Uint8Array(readFileSync(join(dir, 'key-0.flash')));
    const flash = new Flash({ pageSize: DEFAULT_LAYOUT.pageSize, pageCount: DEFAULT_LAYOUT.pageCount, initial: stored });
    const verifier = { verifyManifest: (b: Uint8Array) => verifyManifest(b, [ed25519PublicKey(seed)]).manifest, sha256 };
    const st = new UpdateEngine(flash, DEFAULT_LAYOUT, verifier, { model: 'enigm-key-1' }).status();
    t.is(st.primary, 'confirmed');
    t.is(st.running.version, '2.0.0');
    t.is(st.installedSecurityCounter, 2);
    t.is(boot(flash, DEFAULT_LAYOUT, verifier).running.version, '2.0.0', 'and it boots');
  } finally {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
