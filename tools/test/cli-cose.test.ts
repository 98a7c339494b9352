/**
 * Checks `enigm cose keygen | sign | verify` (tools/src/commands/cose.ts) end to end through the
 * CLI plumbing (tools/test/run-command.ts mirrors enigm.ts's dispatch): RFC 9052 COSE_Sign1 with
 * EdDSA, keys as RFC 8410 PEM files.
 *
 * Covers: keygen writes PREFIX.key (mode 0600) and PREFIX.pub and refuses to overwrite without
 * --force; OpenSSL reads both PEMs (`openssl pkey -in X.key -noout`, and -pubout equals X.pub);
 * sign → verify is valid (exit 0) in human and --json form; a tampered file, a wrong --aad and a
 * wrong key are invalid (exit 1, reason code printed); detached payloads; a COSE file made by the
 * library verifies; usage errors exit 2; --help shows examples.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSign1, verifySign1 } from '@enigm/protocols/cose';
import { ed25519PublicKeyFromPem } from '@enigm/protocols/crypto';
import test from 'ava';
import { coseCommands } from '../src/commands/cose.ts';
import { runCommand } from './run-command.ts';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const opensslTest = hasOpenssl || process.env.CI === 'true' ? test.serial : test.serial.skip;

let dir = '';
const p = (name: string): string => join(dir, name);
const enigm = (...argv: string[]) => runCommand(coseCommands, argv);

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'enigm-cose-cli-'));
  writeFileSync(p('notes.txt'), 'release notes: v1.2.3\n');
  const r = await enigm('cose', 'keygen', '--out', p('signer'));
  if (r.code !== 0) throw new Error(`keygen failed: ${r.stderr}`);
  const other = await enigm('cose', 'keygen', '--out', p('other'));
  if (other.code !== 0) throw new Error(`keygen failed: ${other.stderr}`);
});

test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test.serial('keygen writes PREFIX.key (0600) and PREFIX.pub, prints the public key, refuses to overwrite', async (t) => {
  const r = await enigm('cose', 'keygen', '--out', p('k1'), '--json');
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { ok: boolean; publicKey: string; key: string; pub: string };
  t.true(j.ok);
  t.is(j.key, p('k1.key'));
  t.is(j.pub, p('k1.pub'));
  t.regex(j.publicKey, /^[0-9a-f]{64}$/);
  t.is(statSync(p('k1.key')).mode & 0o777, 0o600);
  t.is(Buffer.from(ed25519PublicKeyFromPem(readFileSync(p('k1.pub'), 'utf8'))).toString('hex'), j.publicKey);

  const again = await enigm('cose', 'keygen', '--out', p('k1'));
  t.is(again.code, 2);
  t.regex(again.stderr, /exists; use --force/);
  t.is(Buffer.from(ed25519PublicKeyFromPem(readFileSync(p('k1.pub'), 'utf8'))).toString('hex'), j.publicKey);

  const forced = await enigm('cose', 'keygen', '--out', p('k1'), '--force');
  t.is(forced.code, 0);
  t.regex(forced.stdout, /public key {2}[0-9a-f]{64}/);
  t.not(Buffer.from(ed25519PublicKeyFromPem(readFileSync(p('k1.pub'), 'utf8'))).toString('hex'), j.publicKey);
  t.is(statSync(p('k1.key')).mode & 0o777, 0o600);
});

opensslTest('openssl reads the generated PEMs', (t) => {
  t.notThrows(() => execFileSync('openssl', ['pkey', '-in', p('signer.key'), '-noout'], { stdio: 'pipe' }));
  t.notThrows(() => execFileSync('openssl', ['pkey', '-pubin', '-in', p('signer.pub'), '-noout'], { stdio: 'pipe' }));
  const derived = execFileSync('openssl', ['pkey', '-in', p('signer.key'), '-pubout'], { encoding: 'utf8' });
  t.is(derived, readFileSync(p('signer.pub'), 'utf8'));
});

test.serial('sign then verify: valid (exit 0), human and --json', async (t) => {
  const s = await enigm('cose', 'sign', '--key', p('signer.key'), '--kid', 'release-2', p('notes.txt'), '--json');
  t.is(s.code, 0, s.stderr);
  const sj = JSON.parse(s.stdout) as { ok: boolean; out: string; size: number; hex: string };
  t.is(sj.out, p('notes.txt.cose'));
  t.is(sj.size, readFileSync(sj.out).length);
  t.is(sj.hex, readFileSync(sj.out).toString('hex'));

  const human = await enigm('cose', 'verify', '--key', p('signer.pub'), p('notes.txt.cose'));
  t.is(human.code, 0, human.stderr);
  t.regex(human.stdout, /^valid: signature verifies/);
  t.regex(human.stdout, /alg \(1\): -8 \(EdDSA\)/);
  // a byte string shows as h'…' with its text, never as quoted hex that looks like text
  t.regex(human.stdout, /kid \(4\): h'72656c656173652d32' = "release-2"\n/);

  const v = await enigm('cose', 'verify', '--key', p('signer.pub'), p('notes.txt.cose'), '--json');
  t.is(v.code, 0);
  const vj = JSON.parse(v.stdout);
  t.like(vj, {
    ok: true,
    valid: true,
    headers: { protected: { '1': -8 }, unprotected: { '4': Buffer.from('release-2').toString('hex') } },
    payload: Buffer.from('release notes: v1.2.3\n').toString('hex'),
    payloadText: 'release notes: v1.2.3\n',
    kidText: 'release-2',
    tagged: true,
    detached: false,
  });
  t.is(vj.reason, undefined);
  // the library reads the file the CLI wrote
  const pub = ed25519PublicKeyFromPem(readFileSync(p('signer.pub'), 'utf8'));
  t.deepEqual(
    verifySign1(new Uint8Array(readFileSync(p('notes.txt.cose'))), pub).payload,
    new Uint8Array(readFileSync(p('notes.txt'))),
  );
  // a private key PEM works as --key too
  t.is((await enigm('cose', 'verify', '--key', p('signer.key'), p('notes.txt.cose'))).code, 0);
});

test.serial('a tampered file is invalid: exit 1 with the reason code', async (t) => {
  await enigm('cose', 'sign', '--key', p('signer.key'), '--out', p('t.cose'), p('notes.txt'));
  const bytes = readFileSync(p('t.cose'));
  const s = decodeSign1(new Uint8Array(bytes));
  const at = bytes.indexOf(Buffer.from(s.payload as Uint8Array));
  bytes[at + 3] = (bytes[at + 3] as number) ^ 0x20;
  writeFileSync(p('t.cose'), bytes);
  const r = await enigm('cose', 'verify', '--key', p('signer.pub'), p('t.cose'));
  t.is(r.code, 1);
  t.regex(r.stdout, /^INVALID: CRYPTO_BAD_SIGNATURE/);
  const j = JSON.parse((await enigm('cose', 'verify', '--key', p('signer.pub'), p('t.cose'), '--json')).stdout);
  t.like(j, { ok: true, valid: false, reason: { code: 'CRYPTO_BAD_SIGNATURE' } });

  writeFileSync(p('trunc.cose'), bytes.subarray(0, 20));
  const tr = await enigm('cose', 'verify', '--key', p('signer.pub'), p('trunc.cose'), '--json');
  t.is(tr.code, 1);
  t.like(JSON.parse(tr.stdout), { valid: false, reason: { code: 'CBOR_TRUNCATED' } });
});

test.serial('external AAD: the same --aad verifies; a wrong or missing one is invalid (exit 1)', async (t) => {
  const s = await enigm('cose', 'sign', '--key', p('signer.key'), '--aad', '00112233', '--out', p('aad.cose'), p('notes.txt'));
  t.is(s.code, 0, s.stderr);
  t.is((await enigm('cose', 'verify', '--key', p('signer.pub'), '--aad', '00112233', p('aad.cose'))).code, 0);
  const wrong = await enigm('cose', 'verify', '--key', p('signer.pub'), '--aad', '00112234', p('aad.cose'));
  t.is(wrong.code, 1);
  t.regex(wrong.stdout, /CRYPTO_BAD_SIGNATURE/);
  t.is((await enigm('cose', 'verify', '--key', p('signer.pub'), p('aad.cose'))).code, 1);
});

test.serial('a wrong public key is invalid (exit 1)', async (t) => {
  await enigm('cose', 'sign', '--key', p('signer.key'), p('notes.txt'));
  const r = await enigm('cose', 'verify', '--key', p('other.pub'), p('notes.txt.cose'), '--json');
  t.is(r.code, 1);
  t.like(JSON.parse(r.stdout), { valid: false, reason: { code: 'CRYPTO_BAD_SIGNATURE' } });
});

test.serial('detached: verify needs --payload, and the right one', async (t) => {
  const s = await enigm('cose', 'sign', '--key', p('signer.key'), '--detached', '--out', p('det.cose'), p('notes.txt'));
  t.is(s.code, 0, s.stderr);
  t.is(decodeSign1(new Uint8Array(readFileSync(p('det.cose')))).payload, null);
  const ok = await enigm('cose', 'verify', '--key', p('signer.pub'), '--payload', p('notes.txt'), p('det.cose'), '--json');
  t.is(ok.code, 0, ok.stdout);
  t.like(JSON.parse(ok.stdout), { valid: true, detached: true, payloadText: 'release notes: v1.2.3\n' });
  const missing = await enigm('cose', 'verify', '--key', p('signer.pub'), p('det.cose'));
  t.is(missing.code, 1);
  t.regex(missing.stdout, /COSE_MALFORMED/);
  writeFileSync(p('other.txt'), 'other');
  t.is((await enigm('cose', 'verify', '--key', p('signer.pub'), '--payload', p('other.txt'), p('det.cose'))).code, 1);
});

test.serial('usage errors exit 2; missing files and wrong key types exit 1; --help has examples', async (t) => {
  t.is((await enigm('cose', 'sign', p('notes.txt'))).code, 2); // no --key
  t.is((await enigm('cose', 'sign', '--key', p('signer.key'))).code, 2); // no FILE
  t.is((await enigm('cose', 'sign', '--key', p('signer.key'), '-')).code, 2); // stdin needs --out
  t.is((await enigm('cose', 'sign', '--key', p('signer.key'), '--aad', 'xyz', p('notes.txt'))).code, 2);
  t.is((await enigm('cose', 'verify', '--key', p('signer.pub'), '--bogus', p('notes.txt.cose'))).code, 2);
  const noFile = await enigm('cose', 'verify', '--key', p('signer.pub'), p('nope.cose'), '--json');
  t.is(noFile.code, 1);
  t.false(JSON.parse(noFile.stdout).ok);
  t.is(JSON.parse(noFile.stdout).error.code, 'INPUT_NOT_FOUND');
  const pubAsPriv = await enigm('cose', 'sign', '--key', p('signer.pub'), p('notes.txt'));
  t.is(pubAsPriv.code, 1);
  t.regex(pubAsPriv.stderr, /CRYPTO_INVALID_KEY: .*public key/);
  for (const name of ['keygen', 'sign', 'verify']) {
    const h = await enigm('cose', name, '--help');
    t.is(h.code, 0);
    t.regex(h.stdout, /Usage: enigm cose/);
    t.regex(h.stdout, /Examples:/);
  }
});

test.serial('missing or unwritable files are run-time failures (exit 1) with one stable code and a clean reason', async (t) => {
  const cases: [string[], string, RegExp][] = [
    [
      ['cose', 'sign', '--key', p('nope.key'), p('notes.txt')],
      'INPUT_NOT_FOUND',
      /--key ".*nope\.key": no such file or directory/,
    ],
    [['cose', 'sign', '--key', p('signer.key'), p('nope.txt')], 'INPUT_NOT_FOUND', /FILE ".*nope\.txt": no such file/],
    [
      ['cose', 'sign', '--key', p('signer.key'), '--out', p('no/such/dir/x.cose'), p('notes.txt')],
      'OUTPUT_FAILED',
      /folder does not exist/,
    ],
    [['cose', 'verify', '--key', p('nope.pub'), p('notes.txt.cose')], 'INPUT_NOT_FOUND', /--key ".*nope\.pub"/],
    [['cose', 'verify', '--key', p('signer.pub'), '--payload', p('nope.bin'), p('det.cose')], 'INPUT_NOT_FOUND', /--payload/],
    [['cose', 'verify', '--key', dir, p('notes.txt.cose')], 'INPUT_UNREADABLE', /it is a directory/],
  ];
  for (const [argv, code, reason] of cases) {
    const r = await enigm(...argv);
    t.is(r.code, 1, argv.join(' '));
    t.regex(r.stderr, new RegExp(`^enigm cose \\w+: ${code}: `), r.stderr);
    t.regex(r.stderr, reason);
    t.notRegex(r.stderr, /ENOENT|EISDIR|Try 'enigm/);
    const j = await enigm(...argv, '--json');
    t.is(j.code, 1);
    t.like(JSON.parse(j.stdout), { ok: false, error: { code } });
  }
});
