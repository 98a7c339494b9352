/**
 * `enigm revocation create | add | renew | show | verify` (tools/src/commands/revocation.ts)
 * through the CLI plumbing: create and add sign with a key from a file, add bumps the version,
 * show renders entries (identity hashes, never keys), verify exits 0 for a valid list and 1 with
 * the code for a tampered list, an untrusted key, a rollback (--min-version) and a stale list;
 * add refuses to re-sign a tampered list and leaves it untouched; a live lock holder is refused
 * and a dead one's lock taken over; bad option values exit 2.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRevocationList, revocationSignerFromSeed, signRevocationList } from '@enigm/attestation';
import { toHex } from '@enigm/protocols/bytes';
import { ed25519PrivateKeyToPem, ed25519PublicKey, ed25519PublicKeyToPem, sha256 } from '@enigm/protocols/crypto';
import test from 'ava';
import { revocationCommands } from '../src/commands/revocation.ts';
import { runCommand } from './run-command.ts';

let dir = '';
const p = (name: string): string => join(dir, name);
const enigm = (...argv: string[]) => runCommand(revocationCommands, argv);
const seed = new Uint8Array(32).fill(8);
const otherSeed = new Uint8Array(32).fill(9);
const IDENTITY = ed25519PublicKey(new Uint8Array(32).fill(1));

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'enigm-revocation-cli-'));
  writeFileSync(p('rev.key'), ed25519PrivateKeyToPem(seed), { mode: 0o600 });
  writeFileSync(p('rev.pub'), ed25519PublicKeyToPem(ed25519PublicKey(seed)));
  writeFileSync(p('other.key'), ed25519PrivateKeyToPem(otherSeed), { mode: 0o600 });
  writeFileSync(p('other.pub'), ed25519PublicKeyToPem(ed25519PublicKey(otherSeed)));
});
test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const json = (s: string) =>
  s
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test.serial('create, add (identity and serial), show and verify; the version goes up with each add', async (t) => {
  const f = p('a.cose');
  const c = await enigm('revocation', 'create', '--key', p('rev.key'), '--out', f, '--json');
  t.is(c.code, 0, c.stderr);
  t.like(json(c.stdout)[0], { ok: true, version: 1, entries: 0 });
  const a1 = await enigm(
    'revocation',
    'add',
    '--key',
    p('rev.key'),
    '--identity',
    toHex(IDENTITY),
    '--reason',
    'key-compromise',
    f,
  );
  t.is(a1.code, 0, a1.stderr);
  t.regex(a1.stdout, /version 2, 1 entry,/);
  const a2 = await enigm(
    'revocation',
    'add',
    '--key',
    p('rev.key'),
    '--serial',
    '00:4f:1a:09',
    '--reason',
    'retired',
    '--json',
    f,
  );
  t.is(a2.code, 0, a2.stderr);
  t.like(json(a2.stdout)[0], { ok: true, version: 3, entries: 2 });

  const show = await enigm('revocation', 'show', f);
  t.is(show.code, 0);
  t.regex(show.stdout, /version\s+3/);
  t.true(show.stdout.includes(`identity sha256 ${toHex(sha256(IDENTITY))}`));
  t.false(show.stdout.includes(toHex(IDENTITY)), 'the identity key itself is never in the list');
  t.regex(show.stdout, /serial 4f1a09 .* retired/);
  t.regex(show.stderr, /signature not checked/);
  const sj = json((await enigm('revocation', 'show', '--json', f)).stdout)[0] as { entries: unknown[]; stale: boolean };
  t.is(sj.entries.length, 2);
  t.false(sj.stale);

  const v = await enigm('revocation', 'verify', '--trust', p('rev.pub'), '--min-version', '3', f);
  t.is(v.code, 0, v.stderr);
  t.regex(v.stdout, /^valid: version 3, 2 entries/);
  const vj = await enigm('revocation', 'verify', '--trust', p('rev.pub'), '--json', f);
  t.like(json(vj.stdout)[0], { ok: true, version: 3, entries: 2 });

  const renew = await enigm('revocation', 'renew', '--key', p('rev.key'), '--next-update', '30d', f);
  t.is(renew.code, 0, renew.stderr);
  t.regex(renew.stdout, /version 4, 2 entries/);
});

test.serial('verify exits 1: tampered, untrusted, rolled back, stale', async (t) => {
  const f = p('b.cose');
  t.is((await enigm('revocation', 'create', '--key', p('rev.key'), '--out', f)).code, 0);
  t.is((await enigm('revocation', 'add', '--key', p('rev.key'), '--serial', '01', '--reason', 'lost', f)).code, 0);
  const good = readFileSync(f);

  const tampered = Uint8Array.from(good);
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1; // a signature byte
  writeFileSync(p('t.cose'), tampered);
  const vt = await enigm('revocation', 'verify', '--trust', p('rev.pub'), '--json', p('t.cose'));
  t.is(vt.code, 1);
  t.like(json(vt.stdout)[0], { ok: false, error: { code: 'REVOCATION_SIGNATURE_INVALID' } });

  const vu = await enigm('revocation', 'verify', '--trust', p('other.pub'), f);
  t.is(vu.code, 1);
  t.regex(vu.stdout, /REVOCATION_UNTRUSTED/);

  const vr = await enigm('revocation', 'verify', '--trust', p('rev.pub'), '--min-version', '3', '--json', f);
  t.is(vr.code, 1);
  t.like(json(vr.stdout)[0], { ok: false, version: 2, error: { code: 'REVOCATION_ROLLBACK' } });

  const signer = revocationSignerFromSeed(seed);
  const past = Date.now() - 10 * 86_400_000;
  const staleList = createRevocationList({ issuerPublicKey: signer.publicKey, issuedAt: past, nextUpdate: past + 86_400_000 });
  writeFileSync(p('stale.cose'), signRevocationList(staleList, signer));
  const vs = await enigm('revocation', 'verify', '--trust', p('rev.pub'), p('stale.cose'));
  t.is(vs.code, 1);
  t.regex(vs.stdout, /REVOCATION_STALE/);
  t.regex((await enigm('revocation', 'show', p('stale.cose'))).stdout, /\(STALE\)/);
  // a stale list can be renewed by its signer, and then verifies
  t.is((await enigm('revocation', 'renew', '--key', p('rev.key'), p('stale.cose'))).code, 0);
  t.is((await enigm('revocation', 'verify', '--trust', p('rev.pub'), '--min-version', '2', p('stale.cose'))).code, 0);

  const garbage = p('garbage.cose');
  writeFileSync(garbage, 'not a list');
  const vg = await enigm('revocation', 'verify', '--trust', p('rev.pub'), garbage);
  t.is(vg.code, 1);
  t.regex(vg.stdout, /REVOCATION_MALFORMED/);
  const sg = await enigm('revocation', 'show', garbage);
  t.is(sg.code, 1);
  t.regex(sg.stderr, /REVOCATION_MALFORMED/);
});

test.serial('add refuses a tampered list, another key and a duplicate, and leaves the file untouched', async (t) => {
  const f = p('c.cose');
  t.is((await enigm('revocation', 'create', '--key', p('rev.key'), '--out', f)).code, 0);
  t.is((await enigm('revocation', 'add', '--key', p('rev.key'), '--serial', '0a', '--reason', 'lost', f)).code, 0);
  const before = readFileSync(f);

  const dup = await enigm('revocation', 'add', '--key', p('rev.key'), '--serial', '000a', '--reason', 'lost', f);
  t.is(dup.code, 1);
  t.regex(dup.stderr, /REVOCATION_ENTRY_INVALID/);
  const foreign = await enigm('revocation', 'add', '--key', p('other.key'), '--serial', '0b', '--reason', 'lost', f);
  t.is(foreign.code, 1);
  t.regex(foreign.stderr, /REVOCATION_UNTRUSTED/);
  t.deepEqual(readFileSync(f), before);

  const tampered = Uint8Array.from(before);
  tampered[tampered.length - 5] = (tampered[tampered.length - 5] as number) ^ 0x40;
  writeFileSync(f, tampered);
  const r = await enigm('revocation', 'add', '--key', p('rev.key'), '--serial', '0b', '--reason', 'lost', f);
  t.is(r.code, 1);
  t.regex(r.stderr, /REVOCATION_SIGNATURE_INVALID/);
  t.deepEqual(readFileSync(f), Buffer.from(tampered), 'a tampered list is never re-signed');
  t.false(readFileSync(f).equals(before));
});

test.serial('usage errors exit 2; a missing file or key exits 1; create refuses to overwrite', async (t) => {
  const f = p('d.cose');
  t.is((await enigm('revocation', 'create', '--key', p('rev.key'), '--out', f)).code, 0);
  const again = await enigm('revocation', 'create', '--key', p('rev.key'), '--out', f);
  t.is(again.code, 2);
  t.regex(again.stderr, /exists/);
  t.is((await enigm('revocation', 'create', '--key', p('rev.key'), '--out', f, '--force')).code, 0);
  const usage: string[][] = [
    ['revocation', 'create', '--key', p('rev.key')],
    ['revocation', 'create', '--key', p('rev.key'), '--out', p('e.cose'), '--next-update', '7 days'],
    ['revocation', 'create', '--key', p('rev.key'), '--out', p('e.cose'), '--next-update', '0d'],
    ['revocation', 'create', '--key', p('rev.key'), '--out', p('e.cose'), '--next-update', '400d'],
    ['revocation', 'add', '--key', p('rev.key'), '--reason', 'lost', f],
    ['revocation', 'add', '--key', p('rev.key'), '--serial', '01', '--identity', toHex(IDENTITY), '--reason', 'lost', f],
    ['revocation', 'add', '--key', p('rev.key'), '--identity', 'abcd', '--reason', 'lost', f],
    ['revocation', 'add', '--key', p('rev.key'), '--serial', 'zz', '--reason', 'lost', f],
    ['revocation', 'add', '--key', p('rev.key'), '--serial', '01', '--reason', 'bored', f],
    ['revocation', 'add', '--key', p('rev.key'), '--serial', '01', f],
    ['revocation', 'verify', f],
    ['revocation', 'verify', '--trust', p('rev.pub'), '--min-version', '-1', f],
    ['revocation', 'show'],
  ];
  for (const argv of usage) t.is((await enigm(...argv)).code, 2, argv.join(' '));
  t.false(existsSync(p('e.cose')));
  t.is((await enigm('revocation', 'show', p('missing.cose'))).code, 1);
  t.is((await enigm('revocation', 'create', '--key', p('missing.key'), '--out', p('e.cose'))).code, 1);
  t.is((await enigm('revocation', 'verify', '--trust', p('missing.pub'), f)).code, 1);
  t.is((await enigm('revocation', 'create', '--key', p('rev.key'), '--out', p('no/such/dir/x.cose'))).code, 1);
  t.false(existsSync(p('e.cose')));
});

test.serial("add and renew hold FILE.lock: a live holder is refused, a dead holder's lock is taken over", async (t) => {
  const f = p('lock.cose');
  t.is((await enigm('revocation', 'create', '--key', p('rev.key'), '--out', f)).code, 0);
  const before = readFileSync(f);
  writeFileSync(`${f}.lock`, `${process.pid}\n`); // this test process: alive
  const held = await enigm('revocation', 'add', '--key', p('rev.key'), '--serial', '0c', '--reason', 'lost', f);
  t.is(held.code, 1);
  t.regex(held.stderr, /REVOCATION_LOCKED: process \d+ is changing/);
  t.is((await enigm('revocation', 'renew', '--key', p('rev.key'), f)).code, 1);
  t.deepEqual(readFileSync(f), before);
  t.true(existsSync(`${f}.lock`), "another holder's lock is left alone");

  const dead = spawnSync(process.execPath, ['-e', '0']).pid as number; // exited: its pid is free
  writeFileSync(`${f}.lock`, `${dead}\n`);
  const taken = await enigm('revocation', 'add', '--key', p('rev.key'), '--serial', '0c', '--reason', 'lost', f);
  t.is(taken.code, 0, taken.stderr);
  t.false(existsSync(`${f}.lock`), 'the lock is released after the change');

  writeFileSync(`${f}.lock`, '');
  const unknown = await enigm('revocation', 'renew', '--key', p('rev.key'), f);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /REVOCATION_LOCKED: .*remove it if no enigm revocation command is running/);
  rmSync(`${f}.lock`);
  t.is((await enigm('revocation', 'renew', '--key', p('rev.key'), f)).code, 0);
  t.false(existsSync(`${f}.lock`));
  // a failed change releases the lock too
  t.is((await enigm('revocation', 'add', '--key', p('other.key'), '--serial', '0d', '--reason', 'lost', f)).code, 1);
  t.false(existsSync(`${f}.lock`));
});
