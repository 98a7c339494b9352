/**
 * `enigm key hosts | unpair | suspend | resume | revoke | retire` against a simulated Key over a
 * real pseudo-terminal (in-process dispatch, the CLI's own exit-code and `--json` rules): hosts
 * by key id (public keys only with --show-identity), suspend → resume, a refusal with its named
 * error (exit 1), revoke and retire refused without --yes (exit 2, nothing sent), then revoke →
 * retire --add-to-list → factory, the old identity on the re-signed revocation list (reason
 * retired), so a verifier using the list refuses the old identity's evidence.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRevocationList,
  isRevoked,
  revocationSignerFromSeed,
  signRevocationList,
  verifyRevocationList,
} from '@enigm/attestation';
import { ed25519Generate, ed25519PrivateKeyToPem } from '@enigm/protocols/crypto';
import { hasSocat, Simulator } from '@enigm/sim';
import test from 'ava';
import { keyLifecycleCommands } from '../src/commands/key-lifecycle.ts';
import { keySessionCommands } from '../src/commands/key-session.ts';
import { runCommand } from './run-command.ts';

const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;
const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

realTest('enigm key hosts|suspend|resume|revoke|retire over a pty, with refusals and --yes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-cli-lifecycle-'));
  dirs.push(dir);
  const sim = await Simulator.start({ keys: 1, stateDir: dir, serial: true, tcp: false });
  const port = sim.keys()[0]?.serial as string;
  const host = ['--port', port, '--host-key', join(dir, 'home', 'host-key.pem'), '--known', join(dir, 'home', 'known.json')];
  const run = (...argv: string[]) => runCommand([...keySessionCommands, ...keyLifecycleCommands], [...argv, ...host]);
  try {
    t.is((await run('key', 'pair', '--label', 'laptop')).code, 0);
    t.is((await run('key', 'activate')).code, 0);

    const hosts = await run('key', 'hosts', '--json');
    t.is(hosts.code, 0, hosts.stderr);
    const listed = JSON.parse(hosts.stdout) as { hosts: { keyId: string; role: string; self: boolean; publicKey?: string }[] };
    t.is(listed.hosts.length, 1);
    t.like(listed.hosts[0], { role: 'owner', self: true, label: 'laptop' });
    t.regex(listed.hosts[0]?.keyId ?? '', /^[0-9a-f]{16}$/);
    t.is(listed.hosts[0]?.publicKey, undefined, 'no public key by default');
    const shown = await run('key', 'hosts', '--show-identity');
    t.regex(shown.stdout, /1 paired host\n {2}[0-9a-f]{16} {2}owner +laptop \(this host\) {2}[0-9a-f]{64}\n/);
    t.notRegex((await run('key', 'hosts')).stdout, /[0-9a-f]{64}/);

    t.like(JSON.parse((await run('key', 'suspend', '--json')).stdout), { ok: true, state: 'suspended' });
    const again = await run('key', 'suspend');
    t.is(again.code, 1);
    t.regex(again.stderr, /KEY_INVALID_STATE: suspend is not allowed in state suspended/);
    t.like(JSON.parse((await run('key', 'resume', '--json')).stdout), { ok: true, state: 'dormant' });

    for (const op of ['revoke', 'retire']) {
      const r = await run('key', op);
      t.is(r.code, 2, op);
      t.regex(r.stderr, new RegExp(`${op} cannot be undone: add --yes`));
    }
    t.is(sim.firmware(0).state, 'dormant', 'nothing was sent without --yes');
    const bad = await run('key', 'unpair', 'xyz');
    t.is(bad.code, 2);
    t.regex(bad.stderr, /KEYID is 16 hex digits/);

    t.like(JSON.parse((await run('key', 'revoke', '--yes', '--json')).stdout), { state: 'revoked' });
    const revoked = await run('key', 'hosts');
    t.is(revoked.code, 1);
    t.regex(revoked.stderr, /KEY_REVOKED/);
    // A revocation list (version 1, empty) and its signing key, for retire --add-to-list.
    const revKey = ed25519Generate();
    const listFile = join(dir, 'revocation.cose');
    const keyFile = join(dir, 'revocation.key');
    writeFileSync(keyFile, ed25519PrivateKeyToPem(revKey.seed), { mode: 0o600 });
    const now = Date.now();
    const empty = createRevocationList({ issuerPublicKey: revKey.publicKey, issuedAt: now, nextUpdate: now + 86_400_000 });
    writeFileSync(listFile, signRevocationList(empty, revocationSignerFromSeed(revKey.seed)));
    const half = await run('key', 'retire', '--yes', '--add-to-list', listFile);
    t.is(half.code, 2, 'the list without its key is misuse');
    t.regex(half.stderr, /--add-to-list F and --list-key KEY\.pem go together/);
    t.is(sim.firmware(0).state, 'revoked', 'nothing was sent');

    const oldIdentity = sim.firmware(0).secureElement.identityPublicKey.slice();
    const retired = await run('key', 'retire', '--yes', '--add-to-list', listFile, '--list-key', keyFile);
    t.is(retired.code, 0, retired.stderr);
    t.regex(
      retired.stdout,
      /Key is now factory\nrevocation list: the old identity added \(reason retired, version 2\)\nthe Key has a new identity/,
    );
    t.is(sim.firmware(0).state, 'factory');
    const v = verifyRevocationList(readFileSync(listFile), { trustedKeys: [revKey.publicKey], now: Date.now() });
    if (!v.ok) throw new Error(v.message);
    t.is(v.list.version, 2);
    t.like(isRevoked(v.list, { identityKey: oldIdentity }), { reason: 'retired' });
    t.is(isRevoked(v.list, { identityKey: sim.firmware(0).secureElement.identityPublicKey }), undefined, 'not the new one');
  } finally {
    await sim.stop();
  }
});
