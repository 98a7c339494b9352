/**
 * The lifecycle end to end over a real pseudo-terminal with the real host library: a simulated
 * Key, an owner on the pty and a service host over TCP (each with its own host key and known-Keys
 * file). suspend →
 * resume; unpair (the removed host is out at once); revoke → every session request refused
 * (`KEY_REVOKED`, by the Key and by the facade's preflight) → retire → factory with a new
 * identity (the old pin fails; the old identity goes on the revocation list, so its old evidence
 * appraised with the list is contraindicated; pairing again is a new trust event).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  appraiseKeyEvidence,
  createRevocationList,
  revocationSignerFromSeed,
  signRevocationList,
  verifyRevocationList,
} from '@enigm/attestation';
import { toHex } from '@enigm/protocols/bytes';
import { ed25519Generate } from '@enigm/protocols/crypto';
import { hasSocat, Simulator } from '@enigm/sim';
import test, { type ExecutionContext } from 'ava';
import { KeyError } from '../src/client/errors.ts';
import { KeyFacadeError, type KeyFacadeErrorCode } from '../src/key/errors.ts';
import { checkEvidence } from '../src/key/evidence.ts';
import { hostKeyIdHex, type Key, type OpenKeyOptions, openKey } from '../src/key/key.ts';

const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;
const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The Key itself refused (`KEY_REJECTED` with the wire error `name`). */
async function keyRefused(t: ExecutionContext, p: Promise<unknown>, name: string): Promise<void> {
  const e = await t.throwsAsync(p, { instanceOf: KeyError });
  t.is(e?.code, 'KEY_REJECTED', e?.message);
  t.is(e?.remote?.name, name);
}

/** The facade refused before asking (its preflight read the state). */
async function preflightRefused(t: ExecutionContext, p: Promise<unknown>, code: KeyFacadeErrorCode): Promise<void> {
  const e = await t.throwsAsync(p, { instanceOf: KeyFacadeError });
  t.is(e?.code, code);
}

function hostOptions(dir: string, name: string): OpenKeyOptions {
  return {
    hostKey: join(dir, name, 'host-key.pem'),
    known: join(dir, name, 'known-keys.json'),
    timeoutMs: 3000,
    random: () => 0.5,
    sleep: async () => {
      await new Promise((r) => setTimeout(r, 5));
    },
  };
}

realTest(
  'lifecycle over a pty: suspend → resume; unpair; revoke → sessions refused → retire → factory, new identity',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'enigm-lifecycle-'));
    dirs.push(dir);
    const sim = await Simulator.start({ keys: 1, stateDir: dir, serial: true, tcp: true });
    const port = sim.keys()[0]?.serial as string;
    // The owner holds the pty (a serial port has one user at a time); the bench comes over TCP.
    const benchPort = sim.keys()[0]?.tcp as string;
    let owner: Key | undefined;
    let bench: Key | undefined;
    try {
      owner = await openKey(port, hostOptions(dir, 'owner'));
      const pin = await owner.pair('owner', { label: 'phone' });
      t.is(await owner.activate(), 'dormant');

      // suspend → resume, each refused where the table says (locally, and by the Key itself).
      t.is(await owner.suspend(), 'suspended');
      t.is((await owner.info()).state, 'suspended');
      await preflightRefused(t, owner.suspend(), 'KEY_INVALID_STATE');
      await keyRefused(t, (await owner.session()).request('suspend', {}), 'INVALID_STATE');
      t.is(await owner.resume(), 'dormant');
      await preflightRefused(t, owner.resume(), 'KEY_INVALID_STATE');

      // A second host (service) pairs in the pairing window; the owner lists and unpairs it.
      sim.firmware(0).openPairingWindow(60_000);
      bench = await openKey(benchPort, hostOptions(dir, 'bench'));
      await bench.pair('service', { label: 'bench' });
      await bench.attest();
      const hosts = await owner.hosts();
      const benchId = hostKeyIdHex(bench.hostKey.publicKey);
      t.deepEqual(
        hosts.map((h) => [h.keyId, h.role, h.label, h.self]),
        [
          [hostKeyIdHex(owner.hostKey.publicKey), 'owner', 'phone', true],
          [benchId, 'service', 'bench', false],
        ],
      );
      // Only the owner lists hosts; a service host unpairs only itself: refused before asking, and by the Key.
      await preflightRefused(t, bench.hosts(), 'KEY_FORBIDDEN');
      await keyRefused(t, (await bench.session()).request('hosts.list', {}), 'FORBIDDEN');
      await preflightRefused(t, bench.unpair(hostKeyIdHex(owner.hostKey.publicKey)), 'KEY_FORBIDDEN');
      const ownerId = Buffer.from(hostKeyIdHex(owner.hostKey.publicKey), 'hex');
      await keyRefused(t, (await bench.session()).request('hosts.remove', { keyId: ownerId }), 'FORBIDDEN');
      await keyRefused(t, owner.unpair('00'.repeat(8)), 'HOST_NOT_FOUND');
      await preflightRefused(t, owner.unpair('not-a-key-id'), 'KEY_BAD_ARGUMENT');
      t.like(await owner.unpair(benchId), { keyId: benchId, role: 'service', hosts: 1, self: false });
      await keyRefused(t, bench.attest(), 'FORBIDDEN'); // its open session lost its role at once
      await bench.close();
      bench = await openKey(benchPort, hostOptions(dir, 'bench'));
      await t.throwsAsync(bench.session(), undefined, 'its known-host session is refused');
      await bench.close();
      bench = undefined;

      // revoke → every session request refused but retire.
      const nonce = new Uint8Array(32).fill(9);
      const oldEvidence = (await owner.attest(nonce)).evidence;
      t.is(await owner.revoke(), 'revoked');
      t.is((await owner.info()).state, 'revoked');
      await keyRefused(t, owner.attest(), 'KEY_REVOKED');
      await preflightRefused(t, owner.hosts(), 'KEY_REVOKED');
      await keyRefused(t, (await owner.session()).request('hosts.list', {}), 'KEY_REVOKED');
      await keyRefused(t, owner.fwStatus(), 'KEY_REVOKED');
      await preflightRefused(t, owner.suspend(), 'KEY_REVOKED');
      await preflightRefused(t, owner.revoke(), 'KEY_REVOKED');
      await preflightRefused(t, owner.unpair(benchId), 'KEY_REVOKED');

      // retire → factory, a new identity, the old one on the revocation list: the old pin fails, and
      // the old evidence, appraised against the old identity with the list, is contraindicated.
      const revKey = ed25519Generate();
      const signer = revocationSignerFromSeed(revKey.seed);
      const t0 = Date.now();
      const list0 = createRevocationList({ issuerPublicKey: revKey.publicKey, issuedAt: t0, nextUpdate: t0 + 86_400_000 });
      const appraiseOld = (signed: Uint8Array) =>
        appraiseKeyEvidence({
          evidence: oldEvidence,
          nonce,
          identity: Buffer.from(pin.identity, 'hex'),
          reference: { revocation: verifyRevocationList(signed, { trustedKeys: [revKey.publicKey], now: Date.now() }) },
        });
      const before = appraiseOld(signRevocationList(list0, signer));
      t.is(before.checks.find((c) => c.name === 'revocation')?.status, 'affirming', 'before retire the list does not name it');
      t.not(before.status, 'contraindicated', JSON.stringify(before.checks));
      let written: Uint8Array | undefined;
      t.is(await owner.retire({ revocation: { list: list0, signer, write: (b) => void (written = b) } }), 'factory');
      t.truthy(written, 'the list was re-signed and written');
      const after = appraiseOld(written as Uint8Array);
      t.is(after.status, 'contraindicated');
      t.regex(after.checks.find((c) => c.name === 'revocation')?.reason ?? '', /KEY_REVOKED.*reason retired/);
      t.is((await owner.info()).state, 'factory');
      // A factory Key is not retired again: refused before asking, and the list is not touched.
      const writes = written;
      await preflightRefused(
        t,
        owner.retire({ revocation: { list: list0, signer, write: (b) => void (written = b) } }),
        'KEY_INVALID_STATE',
      );
      t.is(written, writes, 'nothing written');
      await t.throwsAsync(owner.session(), undefined, 'the old pin no longer opens a session');
      const again = await owner.pair('owner');
      t.not(again.identity, pin.identity);
      t.not(again.handle, pin.handle);
      // Pinned to the Key's identity now, the old evidence does not verify either.
      t.throws(() => checkEvidence(oldEvidence, Buffer.from(again.identity, 'hex'), nonce), { instanceOf: KeyFacadeError });
      t.deepEqual(
        (await owner.hosts()).map((h) => h.keyId),
        [hostKeyIdHex(owner.hostKey.publicKey)],
      );
      t.is(toHex(sim.firmware(0).secureElement.identityPublicKey), again.identity);
    } finally {
      await bench?.close();
      await owner?.close();
      await sim.stop();
    }
  },
);
