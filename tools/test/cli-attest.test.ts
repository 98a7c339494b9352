/**
 * `enigm attest eventlog|quote|verify|enroll|rig` run in-process through the CLI plumbing
 * (parseCommandArgs + makeOutput, stdout captured): text and --json output, exit codes 0/1/2,
 * --help, on real TCG event logs and a private swtpm.
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ManufacturedSwtpm, type Swtpm, startManufacturedSwtpm, startSwtpm, swtpmMode } from '@enigm/attestation/lab';
import { decode } from '@enigm/protocols/cbor';
import { verifySign1 } from '@enigm/protocols/cose';
import { ed25519Generate, ed25519PrivateKeyToPem } from '@enigm/protocols/crypto';
import test from 'ava';
import { EXIT, makeOutput, parseCommandArgs, UsageError } from '../src/cli.ts';
import { attestCommands } from '../src/commands/attest.ts';

/** The repository's copied test vectors, found relative to this file. */
const TESTDATA = fileURLToPath(new URL('../../testdata/', import.meta.url));

interface Run {
  code: number;
  stdout: string;
}

/** Runs `enigm attest <sub> ...args` the way enigm.ts does, capturing stdout. */
async function attest(...argv: string[]): Promise<Run> {
  const cmd = attestCommands.find((c) => c.name === `attest ${argv[0]}`);
  if (!cmd) throw new Error(`no command attest ${argv[0]}`);
  const rest = argv.slice(1);
  let stdout = '';
  const write = process.stdout.write.bind(process.stdout);
  const errWrite = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => {
    stdout += s;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    const args = parseCommandArgs(cmd, rest);
    if (args.values.help) {
      process.stdout.write(`${cmd.help}\n`);
      return { code: EXIT.ok, stdout };
    }
    const code = await cmd.run(args, makeOutput(rest.includes('--json')));
    return { code, stdout };
  } catch (e) {
    return { code: e instanceof UsageError ? EXIT.usage : EXIT.failure, stdout };
  } finally {
    process.stdout.write = write;
    process.stderr.write = errWrite;
  }
}

const LOGS = join(TESTDATA, 'eventlogs');
const mode = swtpmMode();
const tpmTest = mode === 'skip' ? test.serial.skip : test.serial;
let sw: Swtpm | undefined;
let ek: ManufacturedSwtpm | undefined;
let dir = '';

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'enigm-cli-attest-'));
  if (mode === 'fail') throw new Error('CI=true but swtpm is not installed');
  if (mode === 'run') [sw, ek] = await Promise.all([startSwtpm(), startManufacturedSwtpm()]);
});

test.after.always(async () => {
  await sw?.stop();
  await ek?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test.serial('attest eventlog --json: replayed PCRs per bank of a real log', async (t) => {
  const r = await attest('eventlog', join(LOGS, 'tpm2-tools', 'event-uefivar.bin'), '--json');
  t.is(r.code, 0);
  const j = JSON.parse(r.stdout);
  t.is(j.ok, true);
  t.is(j.format, 'crypto-agile');
  t.is(j.banks.sha256.pcrs['7'], 'e58ada1ba75f2e4722b539824598ad5e10c55f2e4aeab2033f3b0a8ee3f3eca6');
  t.is(j.eventTypes.EV_EFI_VARIABLE_DRIVER_CONFIG, 1);
});

test.serial('attest eventlog: human output; a broken log exits 1; no FILE exits 2; --help has examples', async (t) => {
  const r = await attest('eventlog', join(LOGS, 'tpm2-tools', 'event-uefi-sha1-log.bin'));
  t.is(r.code, 0);
  t.regex(r.stdout, /sha1 log, 17 events/);
  t.regex(r.stdout, / 7: 9216fc0727c344b355a90a3f34f357e4362d51bb/);
  const broken = join(dir, 'broken.bin');
  writeFileSync(broken, readFileSync(join(LOGS, 'tpm2-tools', 'event-uefivar.bin')).subarray(0, 100));
  const b = await attest('eventlog', broken, '--json');
  t.is(b.code, 1);
  t.is((await attest('eventlog')).code, 2);
  const h = await attest('eventlog', '--help');
  t.is(h.code, 0);
  t.regex(h.stdout, /Examples:/);
});

tpmTest('attest quote --json then attest verify: affirming with a pinned AK; a wrong nonce exits 1', async (t) => {
  const spec = `swtpm:host=${sw!.host},port=${sw!.port}`;
  const evFile = join(dir, 'ev.json');
  const akFile = join(dir, 'ak.json');
  const q = await attest(
    'quote',
    '--tpm',
    spec,
    '--pcrs',
    '0,1,7',
    '--nonce',
    '00112233',
    '--ak-file',
    akFile,
    '--out',
    evFile,
    '--json',
  );
  t.is(q.code, 0);
  const qj = JSON.parse(q.stdout);
  t.deepEqual(qj.pcrs, [0, 1, 7]);
  t.is(qj.nonce, '00112233');
  const stateFile = join(dir, 'state.json');
  const v1 = await attest('verify', '--evidence', evFile, '--state', stateFile, '--json');
  t.is(v1.code, 0);
  const vj = JSON.parse(v1.stdout);
  t.is(vj.status, 'warning'); // AK not pinned yet
  const policy = join(dir, 'policy.json');
  writeFileSync(policy, JSON.stringify({ akNames: [vj.akName], referencePcrs: { 0: qj.evidence.pcrs['0'] } }));
  // a second quote from the same AK (reloaded from --ak-file): clock advances, all affirming
  const q2 = await attest('quote', '--tpm', spec, '--pcrs', '0,1,7', '--nonce', '445566', '--ak-file', akFile, '--out', evFile);
  t.is(q2.code, 0);
  const v2 = await attest('verify', '--evidence', evFile, '--policy', policy, '--state', stateFile, '--json');
  const v2j = JSON.parse(v2.stdout);
  t.is(v2.code, 0);
  t.is(v2j.status, 'affirming', v2.stdout);
  t.regex(v2j.checks.find((c: { name: string }) => c.name === 'clock').reason, /monotonically/);
  const v3 = await attest('verify', '--evidence', evFile, '--nonce', '00', '--policy', policy);
  t.is(v3.code, 1);
  t.regex(v3.stdout, /contraindicated\s+nonce/);
});

test.serial('attest quote: usage errors exit 2', async (t) => {
  t.is((await attest('quote')).code, 2);
  t.is((await attest('quote', '--tpm', 'usb:1')).code, 2);
  t.is((await attest('quote', '--tpm', 'swtpm:port=1', '--pcrs', '0,99')).code, 2);
  t.is((await attest('verify')).code, 2);
});

tpmTest('attest enroll, then quote with the enrolled AK and verify --enrollment: affirming; bad roots exit 1', async (t) => {
  const spec = ek!.spec;
  const akFile = join(dir, 'enrolled-ak.json');
  const enr = join(dir, 'enrollment.json');
  const e = await attest(
    'enroll',
    '--tpm',
    spec,
    '--roots',
    ek!.ca.rootCert,
    '--intermediates',
    ek!.ca.issuerCert,
    '--ak-file',
    akFile,
    '--out',
    enr,
    '--json',
  );
  t.is(e.code, 0, e.stdout);
  const record = JSON.parse(e.stdout).record;
  t.regex(record.akName, /^000b/);
  t.deepEqual(JSON.parse(readFileSync(enr, 'utf8')), record);
  const evFile = join(dir, 'enrolled-ev.json');
  t.is((await attest('quote', '--tpm', spec, '--pcrs', '0,7', '--ak-file', akFile, '--out', evFile)).code, 0);
  const v = await attest('verify', '--evidence', evFile, '--enrollment', enr, '--json');
  t.is(v.code, 0);
  const vj = JSON.parse(v.stdout);
  t.is(vj.status, 'affirming', v.stdout);
  t.is(vj.akName, record.akName);
  const text = await attest('enroll', '--tpm', spec, '--roots', ek!.ca.rootCert, '--intermediates', ek!.ca.issuerCert);
  t.regex(text.stdout, /enrolled: AK 000b/);
  // the root alone cannot reach the EK certificate's issuer: EK_CERT_UNTRUSTED, exit 1
  t.is((await attest('enroll', '--tpm', spec, '--roots', ek!.ca.rootCert)).code, 1);
  t.is((await attest('enroll', '--tpm', spec)).code, 2);
});

tpmTest(
  'attest rig --swtpm 2 --sign-key: table/JSON report, exit 0, signed CBOR verifies; a failing policy exits 1',
  async (t) => {
    const { seed, publicKey } = ed25519Generate();
    const key = join(dir, 'rig.pem');
    writeFileSync(key, ed25519PrivateKeyToPem(seed));
    const cose = join(dir, 'rig.cose');
    const r = await attest('rig', '--swtpm', '2', '--pcrs', '0,7', '--sign-key', key, '--cbor-out', cose, '--json');
    t.is(r.code, 0, r.stdout);
    const j = JSON.parse(r.stdout);
    t.is(j.ok, true);
    t.is(j.tpms.length, 2);
    t.true(j.tpms.every((x: { quote: { status: string } }) => x.quote.status === 'affirming'));
    const payload = decode(verifySign1(readFileSync(cose), publicKey).payload!) as Map<string, unknown>;
    t.is(payload.get('ok'), true);
    t.is((payload.get('tpms') as unknown[]).length, 2);
    // an existing TPM by address, with a reference value it does not meet
    const policy = join(dir, 'rig-policy.json');
    writeFileSync(policy, JSON.stringify({ referencePcrs: { 7: '11'.repeat(32) } }));
    const bad = await attest(
      'rig',
      '--tpms',
      ek!.spec,
      '--roots',
      ek!.ca.rootCert,
      '--intermediates',
      ek!.ca.issuerCert,
      '--pcrs',
      '0,7',
      '--policy',
      policy,
    );
    t.is(bad.code, 1);
    t.regex(bad.stdout, /contraindicated\s+reference-values: PCRs \[7\]/);
    t.regex(bad.stdout, /FAILED: 1 TPM/);
  },
);

test.serial('attest enroll/rig: usage errors exit 2', async (t) => {
  t.is((await attest('rig')).code, 2);
  t.is((await attest('rig', '--swtpm', '99')).code, 2);
  t.is((await attest('rig', '--tpms', 'usb:1')).code, 2);
  t.is((await attest('enroll', '--tpm', 'usb:1', '--roots', 'x.pem')).code, 2);
  t.is((await attest('rig', '--swtpm', '1', '--sign-key', join(dir, 'missing.pem'))).code, 2);
});
