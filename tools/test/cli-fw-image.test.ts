/**
 * Checks `enigm fw keygen | sign | verify | inspect` (tools/src/commands/fw.ts) end to end through
 * the CLI plumbing (tools/test/run-command.ts mirrors enigm.ts's dispatch): the signed firmware
 * image format of docs/firmware.md ("Image format", "Signing and verification").
 *
 * Covers: keygen writes PREFIX.key (0600) and PREFIX.pub, prints the kid, refuses to overwrite;
 * sign → verify is valid (exit 0) in human and --json form, and the library verifies the file the
 * CLI wrote; verify with several --key, --model, --min-counter, --max-size; invalid images exit 1
 * with their code (untrusted signer, tampered payload, wrong model, downgrade, oversized,
 * truncated, not an image); inspect without keys says "signature not checked", with keys gives
 * the verdict, and --json carries the manifest id and kid; usage errors exit 2; --help has
 * examples.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '@enigm/protocols/bytes';
import { ed25519PublicKeyFromPem, sha256 } from '@enigm/protocols/crypto';
import { manifestId, manifestKid, splitImage, verifyImage } from '@enigm/protocols/firmware';
import test from 'ava';
import { fwImageCommands } from '../src/commands/fw.ts';
import { runCommand } from './run-command.ts';

let dir = '';
const p = (name: string): string => join(dir, name);
const enigm = (...argv: string[]) => runCommand(fwImageCommands, argv);
const PAYLOAD = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 31) & 0xff));
const pub = (name: string): Uint8Array => ed25519PublicKeyFromPem(readFileSync(p(name), 'utf8'));

async function sign(...extra: string[]) {
  return enigm('fw', 'sign', '--key', p('rel.key'), '--model', 'enigm-key-1', '--version', '1.4.0', '--counter', '7', ...extra);
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'enigm-fw-cli-'));
  writeFileSync(p('firmware.bin'), PAYLOAD);
  for (const name of ['rel', 'other']) {
    const r = await enigm('fw', 'keygen', '--out', p(name));
    if (r.code !== 0) throw new Error(`keygen failed: ${r.stderr}`);
  }
  const s = await sign(p('firmware.bin'));
  if (s.code !== 0) throw new Error(`sign failed: ${s.stderr}`);
});

test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test.serial('keygen writes PREFIX.key (0600) and PREFIX.pub, prints key and kid, refuses to overwrite', async (t) => {
  const r = await enigm('fw', 'keygen', '--out', p('k1'), '--json');
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { ok: boolean; publicKey: string; kid: string; key: string; pub: string };
  t.like(j, { ok: true, key: p('k1.key'), pub: p('k1.pub') });
  t.is(statSync(p('k1.key')).mode & 0o777, 0o600);
  t.is(toHex(pub('k1.pub')), j.publicKey);
  t.is(j.kid, toHex(manifestKid(pub('k1.pub'))));
  const again = await enigm('fw', 'keygen', '--out', p('k1'));
  t.is(again.code, 2);
  t.regex(again.stderr, /exists; use --force/);
  const forced = await enigm('fw', 'keygen', '--out', p('k1'), '--force');
  t.is(forced.code, 0);
  t.regex(forced.stdout, /kid {9}[0-9a-f]{16}/);
  t.not(toHex(pub('k1.pub')), j.publicKey);
});

test.serial('sign writes PAYLOAD.ekfw and prints size and manifest id; the library verifies it', async (t) => {
  const s = await sign('--description', 'PIN retry fix', '--created-at', '1700000000', '--json', p('firmware.bin'));
  t.is(s.code, 0, s.stderr);
  const j = JSON.parse(s.stdout);
  const image = new Uint8Array(readFileSync(p('firmware.bin.ekfw')));
  t.like(j, {
    ok: true,
    out: p('firmware.bin.ekfw'),
    size: image.length,
    kid: toHex(manifestKid(pub('rel.pub'))),
    manifest: {
      model: 'enigm-key-1',
      version: '1.4.0',
      securityCounter: 7,
      payloadSize: PAYLOAD.length,
      payloadDigest: toHex(sha256(PAYLOAD)),
      createdAt: 1_700_000_000,
      description: 'PIN retry fix',
    },
  });
  t.is(j.manifestId, toHex(manifestId(splitImage(image).signedManifest)));
  const v = verifyImage(image, [pub('rel.pub')], { model: 'enigm-key-1', installedSecurityCounter: 7, maxPayloadSize: 4096 });
  t.deepEqual(v.payload, new Uint8Array(PAYLOAD));

  const human = await sign('--out', p('h.ekfw'), p('firmware.bin'));
  t.is(human.code, 0);
  t.regex(human.stdout, new RegExp(`^wrote ${p('h.ekfw').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\\d+ bytes`));
  t.regex(human.stdout, /manifest id {2}[0-9a-f]{64}/);
});

test.serial('verify: valid (exit 0) human and --json; several keys; policy options that pass', async (t) => {
  const img = p('firmware.bin.ekfw');
  const human = await enigm('fw', 'verify', '--key', p('rel.pub'), img);
  t.is(human.code, 0, human.stderr);
  t.regex(human.stdout, /^valid: enigm-key-1 1\.4\.0 \(counter 7\), signed by kid [0-9a-f]{16}/);
  const r = await enigm(
    'fw',
    'verify',
    '--key',
    p('other.pub'),
    '--key',
    p('rel.pub'),
    '--model',
    'enigm-key-1',
    '--min-counter',
    '7',
    '--max-size',
    String(PAYLOAD.length),
    '--json',
    img,
  );
  t.is(r.code, 0, r.stdout);
  const j = JSON.parse(r.stdout);
  t.like(j, {
    ok: true,
    valid: true,
    signer: toHex(pub('rel.pub')),
    kid: toHex(manifestKid(pub('rel.pub'))),
    manifest: { version: '1.4.0' },
  });
  t.regex(j.manifestId, /^[0-9a-f]{64}$/);
  // only --min-counter: the model is not checked
  t.is((await enigm('fw', 'verify', '--key', p('rel.pub'), '--min-counter', '3', img)).code, 0);
});

test.serial('verify: invalid images exit 1 with their error code', async (t) => {
  const image = readFileSync(p('firmware.bin.ekfw'));
  const tampered = Buffer.from(image);
  tampered[tampered.length - 10] = (tampered[tampered.length - 10] as number) ^ 0x01;
  writeFileSync(p('tampered.ekfw'), tampered);
  writeFileSync(p('truncated.ekfw'), image.subarray(0, 40));
  writeFileSync(p('longer.ekfw'), Buffer.concat([image, Buffer.of(0)]));
  const cases: [string, string[], string][] = [
    ['other signer', ['--key', p('other.pub'), p('firmware.bin.ekfw')], 'FIRMWARE_UNTRUSTED_SIGNER'],
    ['tampered payload', ['--key', p('rel.pub'), p('tampered.ekfw')], 'FIRMWARE_DIGEST_MISMATCH'],
    ['appended byte', ['--key', p('rel.pub'), p('longer.ekfw')], 'FIRMWARE_DIGEST_MISMATCH'],
    ['truncated', ['--key', p('rel.pub'), p('truncated.ekfw')], 'FIRMWARE_MALFORMED'],
    ['not an image', ['--key', p('rel.pub'), p('firmware.bin')], 'FIRMWARE_MALFORMED'],
    ['wrong model', ['--key', p('rel.pub'), '--model', 'enigm-key-2', p('firmware.bin.ekfw')], 'FIRMWARE_WRONG_MODEL'],
    ['downgrade', ['--key', p('rel.pub'), '--min-counter', '8', p('firmware.bin.ekfw')], 'FIRMWARE_DOWNGRADE'],
    ['oversized', ['--key', p('rel.pub'), '--max-size', '2999', p('firmware.bin.ekfw')], 'FIRMWARE_TOO_LARGE'],
  ];
  for (const [name, argv, code] of cases) {
    const human = await enigm('fw', 'verify', ...argv);
    t.is(human.code, 1, name);
    t.true(human.stdout.startsWith(`INVALID: ${code}: `), `${name}: ${human.stdout}`);
    const j = await enigm('fw', 'verify', ...argv, '--json');
    t.is(j.code, 1, name);
    t.like(JSON.parse(j.stdout), { ok: true, valid: false, reason: { code } }, name);
  }
});

test.serial('inspect: without keys "signature not checked"; with keys the verdict; --json has id and kid', async (t) => {
  const img = p('firmware.bin.ekfw');
  const plain = await enigm('fw', 'inspect', img);
  t.is(plain.code, 0, plain.stderr);
  t.regex(plain.stdout, /signature not checked/);
  t.regex(plain.stdout, /NOT authenticated/);
  t.regex(plain.stdout, /model {8}enigm-key-1/);
  t.regex(plain.stdout, /counter {6}7/);

  const image = new Uint8Array(readFileSync(img));
  const j = JSON.parse((await enigm('fw', 'inspect', '--json', img)).stdout);
  t.like(j, {
    ok: true,
    valid: true,
    size: image.length,
    manifestId: toHex(manifestId(splitImage(image).signedManifest)),
    kid: toHex(manifestKid(pub('rel.pub'))),
    payloadMatches: true,
    signature: { checked: false },
    manifest: { model: 'enigm-key-1', securityCounter: 7 },
  });

  const checked = await enigm('fw', 'inspect', '--key', p('rel.pub'), '--json', img);
  t.is(checked.code, 0);
  t.like(JSON.parse(checked.stdout), {
    valid: true,
    signature: { checked: true, valid: true, signer: toHex(pub('rel.pub')), signerKid: toHex(manifestKid(pub('rel.pub'))) },
  });
  const humanChecked = await enigm('fw', 'inspect', '--key', p('rel.pub'), img);
  t.regex(humanChecked.stdout, /signature {4}valid, signer [0-9a-f]{64}/);
  t.notRegex(humanChecked.stdout, /NOT authenticated/);

  const wrong = await enigm('fw', 'inspect', '--key', p('other.pub'), '--json', img);
  t.is(wrong.code, 1);
  t.like(JSON.parse(wrong.stdout), {
    valid: false,
    signature: { checked: true, valid: false },
    error: { code: 'FIRMWARE_UNTRUSTED_SIGNER' },
  });

  const junk = await enigm('fw', 'inspect', p('firmware.bin'));
  t.is(junk.code, 1);
  t.regex(junk.stdout, /error {8}FIRMWARE_MALFORMED/);
});

test.serial('usage errors exit 2; missing files and wrong key types exit 1; --help has examples', async (t) => {
  const bin = p('firmware.bin');
  t.is((await enigm('fw', 'sign', '--model', 'm', '--version', '1.0.0', '--counter', '1', bin)).code, 2, 'no --key');
  t.is((await enigm('fw', 'sign', '--key', p('rel.key'), '--version', '1.0.0', '--counter', '1', bin)).code, 2, 'no --model');
  t.is((await enigm('fw', 'sign', '--key', p('rel.key'), '--model', 'm', '--counter', '1', bin)).code, 2, 'no --version');
  t.is((await enigm('fw', 'sign', '--key', p('rel.key'), '--model', 'm', '--version', '1.0.0', bin)).code, 2, 'no --counter');
  const badVersion = await sign('--version', 'v1', bin); // the last --version wins
  t.is(badVersion.code, 2);
  const v = await enigm('fw', 'sign', '--key', p('rel.key'), '--model', 'm', '--version', '1.0', '--counter', '1', bin);
  t.is(v.code, 2);
  t.regex(v.stderr, /--version must be a semantic version/);
  t.is((await enigm('fw', 'sign', '--key', p('rel.key'), '--model', 'm', '--version', '1.0.0', '--counter', '-1', bin)).code, 2);
  t.is(
    (await enigm('fw', 'sign', '--key', p('rel.key'), '--model', 'm', '--version', '1.0.0', '--counter', '4294967296', bin)).code,
    2,
  );
  const badModel = await enigm(
    'fw',
    'sign',
    '--key',
    p('rel.key'),
    '--model',
    'bad model',
    '--version',
    '1.0.0',
    '--counter',
    '1',
    bin,
  );
  t.is(badModel.code, 2);
  t.regex(badModel.stderr, /model/);
  t.is((await sign('--description', 'x'.repeat(129), bin)).code, 2);
  t.is((await sign('--created-at', 'yesterday', bin)).code, 2);
  t.is((await sign('-')).code, 2, 'stdin needs --out');
  t.is((await sign()).code, 2, 'no PAYLOAD');
  t.is((await enigm('fw', 'verify', bin)).code, 2, 'verify needs --key');
  t.is((await enigm('fw', 'verify', '--key', p('rel.pub'), '--min-counter', 'x', p('firmware.bin.ekfw'))).code, 2);
  t.is((await enigm('fw', 'inspect')).code, 2, 'inspect needs IMAGE');
  const noFile = await enigm('fw', 'verify', '--key', p('rel.pub'), p('nope.ekfw'), '--json');
  t.is(noFile.code, 1);
  t.false(JSON.parse(noFile.stdout).ok);
  const pubAsPriv = await enigm('fw', 'sign', '--key', p('rel.pub'), '--model', 'm', '--version', '1.0.0', '--counter', '1', bin);
  t.is(pubAsPriv.code, 1);
  t.regex(pubAsPriv.stderr, /CRYPTO_INVALID_KEY/);
  for (const name of ['keygen', 'sign', 'verify', 'inspect']) {
    const h = await enigm('fw', name, '--help');
    t.is(h.code, 0);
    t.regex(h.stdout, new RegExp(`Usage: enigm fw ${name}`));
    t.regex(h.stdout, /Examples:/);
  }
});
