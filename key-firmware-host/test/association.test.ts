/**
 * The account registry, enroll and replace over real pseudo-terminals with simulated Keys: enroll
 * → the Key is activated and its handle recorded; the same Key has another handle in a second
 * account; enrolling twice is refused (`ACCOUNT_ALREADY_ENROLLED`); replace → the old association
 * is `replaced`, the old Key revoked on the Key (its sessions refuse with `KEY_REVOKED`) and in the
 * revocation list, the new Key active; the secret never appears in the registry's device file.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRevocationList, decodeRevocationList, revocationSignerFromSeed } from '@enigm/attestation';
import { toHex } from '@enigm/protocols/bytes';
import { hasSocat, Simulator } from '@enigm/sim';
import test from 'ava';
import { AccountRegistry, AssociationError, enroll, replace } from '../src/association/index.ts';
import { type OpenKeyOptions, openKey } from '../src/key/key.ts';

const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;
const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

test('registry: init writes a 0600 secret, refuses a second init, open checks the mode', (t) => {
  const dir = join(tmp('enigm-acct-'), 'acct');
  const reg = AccountRegistry.init(dir);
  t.is(statSync(join(dir, 'account.secret')).mode & 0o777, 0o600);
  t.deepEqual(AccountRegistry.open(dir).list(), []);
  t.is(t.throws(() => AccountRegistry.init(dir), { instanceOf: AssociationError })?.code, 'ACCOUNT_EXISTS');
  t.false(readFileSync(join(dir, 'devices.json'), 'utf8').includes(toHex(reg.secret)));
  chmodSync(join(dir, 'account.secret'), 0o644);
  t.is(t.throws(() => AccountRegistry.open(dir), { instanceOf: AssociationError })?.code, 'ACCOUNT_SECRET_EXPOSED');
  t.is(t.throws(() => AccountRegistry.open(join(dir, 'none')), { instanceOf: AssociationError })?.code, 'ACCOUNT_NOT_FOUND');
});

realTest('enroll and replace over ptys: handles per account, refusals, old Key revoked', async (t) => {
  const dir = tmp('enigm-assoc-');
  const sim = await Simulator.start({ keys: 2, stateDir: dir, serial: true, tcp: false });
  const [portA, portB] = sim.keys().map((k) => k.serial as string) as [string, string];
  const host: OpenKeyOptions = {
    hostKey: join(dir, 'home', 'host-key.pem'),
    known: join(dir, 'home', 'known.json'),
    timeoutMs: 3000,
  };
  const acct1 = AccountRegistry.init(join(dir, 'acct1'));
  const acct2 = AccountRegistry.init(join(dir, 'acct2'));
  try {
    // Enroll Key A: paired as owner, activated, recorded.
    let keyA = await openKey(portA, host);
    const r1 = await enroll(acct1, keyA);
    t.true(r1.activated);
    t.true(r1.paired);
    t.regex(r1.device.handle, /^eh1-[a-z2-7]{26}$/);
    t.is(r1.device.state, 'active');
    t.regex(r1.device.identityKeyId, /^[0-9a-f]{16}$/);
    t.is(sim.firmware(0).state, 'dormant');
    t.deepEqual(
      acct1.list().map((d) => d.handle),
      [r1.device.handle],
    );
    // Twice: refused.
    const twice = await t.throwsAsync(enroll(acct1, keyA), { instanceOf: AssociationError });
    t.is(twice?.code, 'ACCOUNT_ALREADY_ENROLLED');
    // The same Key in a second account: another handle, same identity key id.
    const r2 = await enroll(acct2, keyA);
    t.false(r2.activated);
    t.not(r2.device.handle, r1.device.handle);
    t.is(r2.device.identityKeyId, r1.device.identityKeyId);
    await keyA.close();

    // Replace A by B in account 1, with a revocation list and A reachable.
    const signer = revocationSignerFromSeed(new Uint8Array(32).fill(9));
    const now = Date.now();
    const list = createRevocationList({ issuerPublicKey: signer.publicKey, issuedAt: now, nextUpdate: now + 86_400_000 });
    let written: Uint8Array | undefined;
    keyA = await openKey(portA, host);
    const keyB = await openKey(portB, host);
    const oldHandle = r1.device.handle;
    const bad = await t.throwsAsync(replace(acct1, 'eh1-nope', keyB), { instanceOf: AssociationError });
    t.is(bad?.code, 'ASSOCIATION_BAD_ARGUMENT');
    const same = await t.throwsAsync(replace(acct1, oldHandle, keyA), { instanceOf: AssociationError });
    t.is(same?.code, 'ASSOCIATION_SAME_KEY');
    const r = await replace(acct1, oldHandle, keyB, {
      oldKey: keyA,
      revocation: {
        list,
        signer,
        write: (bytes) => {
          written = bytes;
        },
      },
    });
    t.true(r.oldKeyRevoked, r.oldKeyError);
    t.is(r.revocationVersion, 2);
    t.is(r.old.state, 'replaced');
    t.is(r.old.replacedBy, r.device.handle);
    t.is(r.device.replaces, oldHandle);
    t.is(r.device.state, 'active');
    t.is(sim.firmware(0).state, 'revoked');
    t.is(sim.firmware(1).state, 'dormant');
    const next = decodeRevocationList(written as Uint8Array);
    t.is(next.version, 2);
    t.deepEqual(
      next.entries.map((e) => [toHex(e.identity ?? new Uint8Array(0)), e.reason]),
      [[r1.device.identityHash, 'replaced']],
    );
    t.deepEqual(
      acct1.list().map((d) => [d.handle, d.state]),
      [
        [oldHandle, 'replaced'],
        [r.device.handle, 'active'],
      ],
    );
    // The old Key's sessions refuse: everything but retire is KEY_REVOKED.
    const hosts = await t.throwsAsync((await keyA.session()).request('hosts.list', {}));
    t.is((hosts as { code?: string; remote?: { name?: string } }).remote?.name, 'KEY_REVOKED');
    t.is((await t.throwsAsync(keyA.hosts()))?.['code' as keyof Error], 'KEY_REVOKED', 'refused before asking too');
    t.is((await t.throwsAsync(keyA.suspend()))?.['code' as keyof Error], 'KEY_REVOKED');
    // Replacing again: the old association is no longer active.
    const again = await t.throwsAsync(replace(acct1, oldHandle, keyB), { instanceOf: AssociationError });
    t.is(again?.code, 'ASSOCIATION_NOT_ACTIVE');
    // The Key given as the old one must be the one enrolled under the old handle.
    const mismatch = await t.throwsAsync(replace(acct2, r2.device.handle, keyB, { oldKey: keyB }), {
      instanceOf: AssociationError,
    });
    t.is(mismatch?.code, 'ASSOCIATION_OLD_KEY_MISMATCH');
    t.is(acct2.find(r2.device.handle)?.state, 'active', 'nothing changed');
    // A revoked Key is not enrolled anywhere.
    const acct3 = AccountRegistry.init(join(dir, 'acct3'));
    const revoked = await t.throwsAsync(enroll(acct3, keyA), { instanceOf: AssociationError });
    t.is(revoked?.code, 'ACCOUNT_KEY_REVOKED');
    await keyA.close();
    await keyB.close();
    // No secret in the registry files other than the secret file.
    for (const a of [acct1, acct2]) t.false(readFileSync(join(a.dir, 'devices.json'), 'utf8').includes(toHex(a.secret)));
  } finally {
    await sim.stop();
  }
});
