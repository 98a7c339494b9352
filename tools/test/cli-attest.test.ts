/**
 * `enigm attest eventlog|quote|challenge|verify|enroll|rig` run in-process through the CLI's own
 * dispatch (stdout and stderr captured): text and --json output, exit codes 0/1/2 (2 only for
 * command-line misuse), --help, on real TCG event logs and a private swtpm; replayed evidence and
 * reused nonces are refused (issue 9, finding 5).
 */

import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useSwtpm } from '@enigm/attestation/lab';
import { decode } from '@enigm/protocols/cbor';
import { verifySign1 } from '@enigm/protocols/cose';
import { ed25519Generate, ed25519PrivateKeyToPem } from '@enigm/protocols/crypto';
import test from 'ava';
import { dispatch } from '../src/cli.ts';
import { attestCommands } from '../src/commands/attest.ts';

/** The repository's copied test vectors, found relative to this file. */
const TESTDATA = fileURLToPath(new URL('../../testdata/', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `enigm attest <sub> ...args` through the CLI's dispatch, capturing stdout and stderr. */
async function attest(...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const write = process.stdout.write.bind(process.stdout);
  const errWrite = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => {
    stdout += s;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => {
    stderr += s;
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await dispatch(attestCommands, ['attest', ...argv]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = write;
    process.stderr.write = errWrite;
  }
}

const checkOf = (j: { checks: { name: string; status: string; reason: string }[] }, name: string) =>
  j.checks.find((c) => c.name === name) ?? { name, status: 'absent', reason: '' };

const LOGS = join(TESTDATA, 'eventlogs');
const plain = useSwtpm(test, { connect: false });
const made = useSwtpm(test, { manufactured: true, connect: false });
const { tpmTest } = plain;
let dir = '';

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'enigm-cli-attest-'));
  process.env.ENIGM_HOME = join(dir, 'home'); // the default verifier state lands here, not in ~
});

test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
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

tpmTest('attest challenge → quote → verify: affirming once; verifying the same evidence again is contraindicated', async (t) => {
  const spec = plain.sw.spec;
  const state = join(dir, 'verifier.json');
  const akFile = join(dir, 'ak.json');
  const accepted: { file: string; nonce: string }[] = [];
  const quote = async (nonce: string, file: string) => {
    const q = await attest(
      'quote',
      '--tpm',
      spec,
      '--pcrs',
      '0,1,7',
      '--nonce',
      nonce,
      '--ak-file',
      akFile,
      '--out',
      file,
      '--json',
    );
    t.is(q.code, 0, q.stderr);
    return JSON.parse(q.stdout);
  };
  const c1 = await attest('challenge', '--state', state, '--ttl', '60', '--json');
  t.is(c1.code, 0, c1.stderr);
  const n1 = JSON.parse(c1.stdout).nonce as string;
  t.regex(n1, /^[0-9a-f]{64}$/);
  const ev1 = join(dir, 'ev1.json');
  const qj = await quote(n1, ev1);
  t.deepEqual(qj.pcrs, [0, 1, 7]);
  t.is(qj.nonce, n1);
  const v1 = await attest('verify', '--evidence', ev1, '--state', state, '--json');
  t.is(v1.code, 0, v1.stdout);
  const vj = JSON.parse(v1.stdout);
  t.is(vj.status, 'warning'); // AK not pinned yet
  t.is(checkOf(vj, 'challenge').status, 'affirming');
  accepted.push({ file: ev1, nonce: n1 });
  // the scenario: the same command again on the same evidence
  const again = await attest('verify', '--evidence', ev1, '--state', state, '--json');
  t.is(again.code, 1);
  const aj = JSON.parse(again.stdout);
  t.is(aj.status, 'contraindicated');
  t.regex(checkOf(aj, 'challenge').reason, /already used/);
  t.is(checkOf(aj, 'replay').status, 'contraindicated');

  const policy = join(dir, 'policy.json');
  writeFileSync(policy, JSON.stringify({ akNames: [vj.akName], referencePcrs: { 0: qj.evidence.pcrs['0'] } }));
  // a second quote from the same AK (reloaded from --ak-file) on a new challenge: affirming
  const n2 = (await attest('challenge', '--state', state)).stdout.trim();
  const ev2 = join(dir, 'ev2.json');
  await quote(n2, ev2);
  const v2 = await attest('verify', '--evidence', ev2, '--policy', policy, '--state', state, '--json');
  const v2j = JSON.parse(v2.stdout);
  t.is(v2.code, 0);
  t.is(v2j.status, 'affirming', v2.stdout);
  t.regex(checkOf(v2j, 'replay').reason, /advanced strictly/);
  accepted.push({ file: ev2, nonce: n2 });
  // an operator nonce (--nonce) is accepted once, and a wrong one is contraindicated
  const ev3 = join(dir, 'ev3.json');
  await quote('a1b2c3d4', ev3);
  const wrong = await attest('verify', '--evidence', ev3, '--nonce', '00', '--policy', policy, '--state', state);
  t.is(wrong.code, 1);
  t.regex(wrong.stdout, /contraindicated\s+nonce/);
  const ev4 = join(dir, 'ev4.json');
  await quote('a1b2c3d5', ev4);
  t.is((await attest('verify', '--evidence', ev4, '--nonce', 'a1b2c3d5', '--policy', policy, '--state', state)).code, 0);
  accepted.push({ file: ev4, nonce: 'a1b2c3d5' });

  // replay every accepted evidence, by every nonce route, also from a copied file: contraindicated
  for (const a of accepted) {
    const copy = join(dir, 'replayed.json');
    copyFileSync(a.file, copy);
    for (const how of [[], ['--nonce', a.nonce], ['--nonce-from-evidence']]) {
      const r = await attest('verify', '--evidence', copy, '--policy', policy, '--state', state, '--json', ...how);
      t.is(r.code, 1, `${a.file} ${how.join(' ')}`);
      const rj = JSON.parse(r.stdout);
      t.is(rj.status, 'contraindicated', `${a.file} ${how.join(' ')}`);
      t.is(checkOf(rj, 'replay').status, 'contraindicated', `${a.file} ${how.join(' ')}`);
    }
  }
});

tpmTest(
  'attest verify: no challenge and no --nonce is contraindicated; --nonce-from-evidence is at best a warning',
  async (t) => {
    const spec = plain.sw.spec;
    const state = join(dir, 'verifier-2.json');
    const ev = join(dir, 'ev-random.json');
    const akFile = join(dir, 'ak-random.json');
    t.is((await attest('quote', '--tpm', spec, '--pcrs', '0,7', '--ak-file', akFile, '--out', ev)).code, 0); // random nonce
    const none = await attest('verify', '--evidence', ev, '--state', state, '--json');
    t.is(none.code, 1);
    t.regex(checkOf(JSON.parse(none.stdout), 'challenge').reason, /no challenge issued by this verifier/);
    t.regex(none.stderr, /hint: issue a challenge first \('enigm attest challenge'/);
    const akName = JSON.parse(none.stdout).akName as string;
    const policy = join(dir, 'pin.json');
    writeFileSync(policy, JSON.stringify({ akNames: [akName] }));
    const ev2 = join(dir, 'ev-random-2.json');
    t.is((await attest('quote', '--tpm', spec, '--pcrs', '0,7', '--ak-file', akFile, '--out', ev2)).code, 0);
    // pinned AK, everything else fine: still only a warning, because the nonce came from the file
    const fromEv = await attest(
      'verify',
      '--evidence',
      ev2,
      '--nonce-from-evidence',
      '--policy',
      policy,
      '--state',
      state,
      '--json',
    );
    t.is(fromEv.code, 0, fromEv.stdout);
    const fj = JSON.parse(fromEv.stdout);
    t.is(fj.status, 'warning');
    t.is(checkOf(fj, 'challenge').status, 'warning');
  },
);

tpmTest('attest challenge --pcrs: a quote of fewer PCRs is contraindicated whatever the evidence file lists', async (t) => {
  const spec = plain.sw.spec;
  const state = join(dir, 'verifier-3.json');
  const n = (await attest('challenge', '--state', state, '--pcrs', '0,1,7')).stdout.trim();
  const ev = join(dir, 'ev-fewer.json');
  t.is((await attest('quote', '--tpm', spec, '--pcrs', '0', '--nonce', n, '--out', ev)).code, 0);
  const r = await attest('verify', '--evidence', ev, '--state', state, '--json');
  t.is(r.code, 1, r.stdout + r.stderr);
  const j = JSON.parse(r.stdout);
  t.is(checkOf(j, 'pcr-selection').status, 'contraindicated');
  t.deepEqual(j.selection.pcrs, [0, 1, 7]);
  t.is(j.selection.from, 'challenge');
});

tpmTest('attest verify without --state keeps its state in $ENIGM_HOME: the second run on the same evidence fails', async (t) => {
  const spec = plain.sw.spec;
  const n = (await attest('challenge')).stdout.trim();
  t.regex(n, /^[0-9a-f]{64}$/);
  const ev = join(dir, 'ev-default.json');
  t.is((await attest('quote', '--tpm', spec, '--pcrs', '0,7', '--nonce', n, '--out', ev)).code, 0);
  t.is((await attest('verify', '--evidence', ev)).code, 0);
  const r = await attest('verify', '--evidence', ev);
  t.is(r.code, 1);
  t.regex(r.stdout, /status: contraindicated/);
  t.truthy(JSON.parse(readFileSync(join(dir, 'home', 'attest-verifier.json'), 'utf8')).used.length);
});

test.serial('attest: missing or corrupt input files exit 1 with a stable code and one reason; misuse exits 2', async (t) => {
  const missing = join(dir, 'no-such.json');
  const e1 = await attest('verify', '--evidence', missing, '--state', join(dir, 's.json'));
  t.is(e1.code, 1);
  t.regex(e1.stderr, /INPUT_NOT_FOUND: cannot read evidence .*no-such\.json.*: no such file or directory/);
  t.notRegex(e1.stderr, /ENOENT: ENOENT|Try 'enigm/);
  const corrupt = join(dir, 'corrupt.json');
  writeFileSync(corrupt, '{"evidence": ');
  const e2 = await attest('verify', '--evidence', corrupt, '--state', join(dir, 's.json'), '--json');
  t.is(e2.code, 1);
  t.is(JSON.parse(e2.stdout).error.code, 'INPUT_INVALID');
  writeFileSync(corrupt, JSON.stringify({ evidence: { pcrBank: 11, pcrs: {}, akPublic: 'zz' } }));
  t.regex(
    (await attest('verify', '--evidence', corrupt, '--state', join(dir, 's.json'))).stderr,
    /POLICY_INVALID: evidence.akPublic is not hex/,
  );
  const badPolicy = join(dir, 'bad-policy.json');
  writeFileSync(badPolicy, JSON.stringify({ akNames: 'x' }));
  const e3 = await attest('rig', '--swtpm', '1', '--policy', badPolicy);
  t.is(e3.code, 1);
  t.regex(e3.stderr, /INPUT_MALFORMED: policy: akNames/);
  t.is((await attest('eventlog', missing)).code, 1);
  const badState = join(dir, 'bad-state.json');
  writeFileSync(badState, '[]');
  const e4 = await attest('challenge', '--state', badState);
  t.is(e4.code, 1);
  t.regex(e4.stderr, /STATE_INVALID/);
  // misuse
  t.is((await attest('verify', '--evidence', missing, '--nonce', 'zz')).code, 2);
  t.is((await attest('verify', '--evidence', missing, '--nonce', '00', '--nonce-from-evidence')).code, 2);
  t.is((await attest('challenge', '--for', 'coffee')).code, 2);
  t.is((await attest('challenge', '--ttl', '0')).code, 2);
});

test.serial('attest quote: usage errors exit 2', async (t) => {
  t.is((await attest('quote')).code, 2);
  t.is((await attest('quote', '--tpm', 'usb:1')).code, 2);
  t.is((await attest('quote', '--tpm', 'swtpm:port=1', '--pcrs', '0,99')).code, 2);
  t.is((await attest('verify')).code, 2);
});

tpmTest('attest enroll, then quote with the enrolled AK and verify --enrollment: affirming; bad roots exit 1', async (t) => {
  const spec = made.sw.spec;
  const akFile = join(dir, 'enrolled-ak.json');
  const enr = join(dir, 'enrollment.json');
  const e = await attest(
    'enroll',
    '--tpm',
    spec,
    '--roots',
    made.sw.ca.rootCert,
    '--intermediates',
    made.sw.ca.issuerCert,
    '--ak-file',
    akFile,
    '--out',
    enr,
    '--json',
  );
  t.is(e.code, 0, e.stderr);
  const record = JSON.parse(e.stdout).record;
  t.regex(record.akName, /^000b/);
  t.deepEqual(JSON.parse(readFileSync(enr, 'utf8')), record);
  const evFile = join(dir, 'enrolled-ev.json');
  const state = join(dir, 'enrolled-verifier.json');
  const nonce = (await attest('challenge', '--state', state)).stdout.trim();
  t.is((await attest('quote', '--tpm', spec, '--pcrs', '0,7', '--nonce', nonce, '--ak-file', akFile, '--out', evFile)).code, 0);
  const v = await attest('verify', '--evidence', evFile, '--enrollment', enr, '--state', state, '--json');
  t.is(v.code, 0);
  const vj = JSON.parse(v.stdout);
  t.is(vj.status, 'affirming', v.stdout);
  t.is(vj.akName, record.akName);
  const text = await attest('enroll', '--tpm', spec, '--roots', made.sw.ca.rootCert, '--intermediates', made.sw.ca.issuerCert);
  t.regex(text.stdout, /enrolled: AK 000b/);
  // the root alone cannot reach the EK certificate's issuer: EK_CERT_UNTRUSTED, exit 1
  t.is((await attest('enroll', '--tpm', spec, '--roots', made.sw.ca.rootCert)).code, 1);
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
      made.sw.spec,
      '--roots',
      made.sw.ca.rootCert,
      '--intermediates',
      made.sw.ca.issuerCert,
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
  // a missing key file is a run-time failure, not misuse
  t.is((await attest('rig', '--swtpm', '1', '--sign-key', join(dir, 'missing.pem'))).code, 1);
});
