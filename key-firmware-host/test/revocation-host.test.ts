/**
 * Hosts refuse revoked Keys: `openKey(…, { revocation })` with a verified list. Over TCP with the
 * simulator: a Key whose authenticated identity is on the list gets no session (attest, activate,
 * suspend: `KEY_REVOKED_BY_LIST`), while the owner may still retire it (crypto-wipe); a list that
 * does not name the Key changes nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRevocationList, revocationSignerFromSeed, signRevocationList, verifyRevocationList } from '@enigm/attestation';
import { fromHex } from '@enigm/protocols/bytes';
import { ed25519Generate } from '@enigm/protocols/crypto';
import { Simulator } from '@enigm/sim';
import test from 'ava';
import { KeyFacadeError } from '../src/key/errors.ts';
import { type Key, type OpenKeyOptions, openKey } from '../src/key/key.ts';

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const revKey = ed25519Generate();
const signer = revocationSignerFromSeed(revKey.seed);

/** A list signed and verified as a host would (trusted key, now). */
function verifiedList(identities: Uint8Array[]) {
  const now = Date.now();
  const bytes = signRevocationList(
    createRevocationList({
      issuerPublicKey: revKey.publicKey,
      issuedAt: now - 1000,
      nextUpdate: now + 86_400_000,
      entries: identities.map((identityKey) => ({ subject: { identityKey }, revokedAt: now - 1000, reason: 'lost' as const })),
    }),
    signer,
  );
  const r = verifyRevocationList(bytes, { trustedKeys: [revKey.publicKey], now });
  if (!r.ok) throw new Error(r.code);
  return r.list;
}

function hostOptions(dir: string): OpenKeyOptions {
  return {
    hostKey: join(dir, 'host-key.pem'),
    known: join(dir, 'known-keys.json'),
    timeoutMs: 3000,
    random: () => 0.5,
    sleep: async () => {
      await new Promise((r) => setTimeout(r, 5));
    },
  };
}

test.serial('over TCP: a listed Key gets no session (KEY_REVOKED_BY_LIST) but can be retired', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-revocation-host-'));
  dirs.push(dir);
  const sim = await Simulator.start({ keys: 1, stateDir: dir, tcp: true });
  const port = sim.keys()[0]?.tcp as string;
  let key: Key | undefined;
  try {
    key = await openKey(port, hostOptions(dir));
    const pin = await key.pair('owner', { label: 'phone' });
    await key.close();

    // A list naming another Key: nothing changes.
    key = await openKey(port, { ...hostOptions(dir), revocation: verifiedList([ed25519Generate().publicKey]) });
    t.is(await key.activate(), 'dormant');
    await key.close();

    // A list naming this Key: every session refused by the host, before anything is asked.
    key = await openKey(port, { ...hostOptions(dir), revocation: verifiedList([fromHex(pin.identity)]) });
    // One after the other: each opens (and is refused) on its own.
    for (const run of [() => key?.session(), () => key?.attest(), () => key?.suspend(), () => key?.hosts()]) {
      const e = await t.throwsAsync(async () => run(), { instanceOf: KeyFacadeError });
      t.is(e?.code, 'KEY_REVOKED_BY_LIST');
      t.regex(e?.message ?? '', /reason lost/);
    }
    t.is((await key.info()).state, 'dormant', 'nothing was sent to the Key');
    // A second host pairing with the listed Key (in its pairing window) is told at once.
    sim.firmware(0).openPairingWindow(60_000);
    const bench = await openKey(port, {
      ...hostOptions(join(dir, 'bench')),
      revocation: verifiedList([fromHex(pin.identity)]),
    });
    try {
      const e = await t.throwsAsync(bench.pair('service'), { instanceOf: KeyFacadeError });
      t.is(e?.code, 'KEY_REVOKED_BY_LIST');
      t.regex(e?.message ?? '', /paired, but only retire is allowed/);
    } finally {
      await bench.close();
    }
    // The owner may still retire it.
    t.is(await key.retire(), 'factory');
    t.is((await key.info()).state, 'factory');
  } finally {
    await key?.close();
    await sim.stop();
  }
});
