/**
 * `enigm station provision | report` over 8 simulated Keys on 8 real pseudo-terminals: a CA
 * folder, the station provisions every Key (plain progress lines), every certificate in the
 * manifest passes `openssl verify`, the signed audit log verifies; a second run (`--json`
 * events) finds every Key already provisioned; `--ports` globs and a port that is not there
 * fails only that port (exit 1); `station report` counts the manifest; a wrong passphrase and
 * usage errors; no private key material in any output or file. `--account DIR` (an `enigm account`
 * folder) names the Keys by that account's association handles — the ones `enigm account enroll`
 * records — and is exclusive with `--account-secret-file`; a folder without an account is
 * ACCOUNT_NOT_FOUND.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { associationHandleText, initCaFolder, readCaCertificates, verifyAuditLog } from '@enigm/attestation';
import type { ManifestEntry } from '@enigm/key-firmware-host';
import { ed25519Generate, ed25519PrivateKeyToPem } from '@enigm/protocols/crypto';
import { hasSocat, Simulator } from '@enigm/sim';
import test from 'ava';
import { accountCommands } from '../src/commands/account.ts';
import { keySessionCommands } from '../src/commands/key-session.ts';
import { stationCommands } from '../src/commands/station.ts';
import { runCommand } from './run-command.ts';

const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;
const PRIVATE_MARKER = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
const PASS = 'station cli passphrase';
const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'enigm-cli-station-'));
  dirs.push(d);
  return d;
}

realTest('station provision over 8 simulated Keys: manifest, openssl, audit, rerun, report', async (t) => {
  const dir = tempDir();
  const p = (f: string) => join(dir, f);
  await initCaFolder(p('ca'), PASS);
  writeFileSync(p('pass'), `${PASS}\n`, { mode: 0o600 });
  const auditKey = ed25519Generate();
  writeFileSync(p('station.key'), ed25519PrivateKeyToPem(auditKey.seed), { mode: 0o600 });
  writeFileSync(p('account'), `${'ab'.repeat(32)}\n`, { mode: 0o600 });
  const { rootPem, intermediatesPem } = readCaCertificates(p('ca'));
  writeFileSync(p('root.pem'), rootPem);
  writeFileSync(p('intermediate.pem'), intermediatesPem);
  const sim = await Simulator.start({ keys: 8, stateDir: p('sim'), serial: true, tcp: false });
  const common = [
    '--ca',
    p('ca'),
    '--passphrase-file',
    p('pass'),
    '--host-key',
    p('host-key.pem'),
    '--known',
    p('known.json'),
    '--account-secret-file',
    p('account'),
  ];
  const outputs: string[] = [];
  try {
    const first = await runCommand(stationCommands, [
      'station',
      'provision',
      ...common,
      '--state-dir',
      p('sim'),
      '--manifest',
      p('batch.json'),
      '--audit',
      p('audit.log'),
      '--audit-key',
      p('station.key'),
    ]);
    outputs.push(first.stdout, first.stderr);
    t.is(first.code, 0, first.stdout + first.stderr);
    t.regex(first.stdout, /8 provisioned, 0 already provisioned, 0 failed, 0 aborted/);

    // The evidence of a provisioned Key verifies to the root from the CLI (`key attest --roots`), and
    // is contraindicated against another CA's root.
    const port0 = sim.keys()[0]?.serial as string;
    const session = ['--port', port0, '--host-key', p('host-key.pem'), '--known', p('known.json')];
    const attest = await runCommand(keySessionCommands, ['key', 'attest', ...session, '--roots', p('root.pem'), '--json']);
    t.is(attest.code, 0, attest.stderr);
    const checks = (JSON.parse(attest.stdout) as { checks: { name: string; status: string }[] }).checks;
    t.like(
      checks.find((c) => c.name === 'certificate'),
      { status: 'affirming' },
    );
    await initCaFolder(p('other-ca'), PASS);
    writeFileSync(p('other-root.pem'), readCaCertificates(p('other-ca')).rootPem);
    const foreign = await runCommand(keySessionCommands, ['key', 'attest', ...session, '--roots', p('other-root.pem'), '--json']);
    t.is(foreign.code, 1, 'a chain that does not lead to the given root is contraindicated');
    t.like(
      (JSON.parse(foreign.stdout) as { checks: { name: string; status: string }[] }).checks.find((c) => c.name === 'certificate'),
      { status: 'contraindicated' },
    );
    for (const k of sim.keys()) t.regex(first.stdout, new RegExp(`${k.serial}\\s+provisioned\\s+eh1-`));
    t.regex(first.stdout, /ttyKEY0\s+csr…/);

    const manifest = JSON.parse(readFileSync(p('batch.json'), 'utf8'));
    t.is(manifest.entries.length, 8);
    for (const [i, e] of manifest.entries.entries()) {
      t.is(e.outcome, 'provisioned');
      writeFileSync(p(`leaf-${i}.pem`), e.certificatePem);
      const ok = execFileSync(
        'openssl',
        ['verify', '-CAfile', p('root.pem'), '-untrusted', p('intermediate.pem'), p(`leaf-${i}.pem`)],
        {
          encoding: 'utf8',
          stdio: 'pipe',
        },
      );
      t.regex(ok, /: OK/);
    }
    const csv = readFileSync(p('batch.csv'), 'utf8');
    t.is(csv.split('\r\n').filter((l) => /,provisioned,/.test(l)).length, 8);

    const audit = verifyAuditLog(readFileSync(p('audit.log')), { trustedKeys: [auditKey.publicKey] });
    t.true(audit.ok, JSON.stringify(audit.problem));
    t.is(audit.records.length, 8);
    t.true(audit.records.every((r) => r.record.role === 'station' && /^eh1-/.test(r.record.handle ?? '')));

    // Again, with JSON events: nothing to do.
    const second = await runCommand(stationCommands, [
      'station',
      'provision',
      ...common,
      '--state-dir',
      p('sim'),
      '--manifest',
      p('batch'),
      '--json',
    ]);
    outputs.push(second.stdout, second.stderr);
    t.is(second.code, 0, second.stderr);
    const events = second.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    t.is(events.filter((e) => e.event === 'done' && e.outcome === 'already-provisioned').length, 8);
    t.true(events.some((e) => e.event === 'step' && e.step === 'check'));
    const summary = events.at(-1);
    t.is(summary.event, 'summary');
    t.is(summary.byOutcome['already-provisioned'], 8);
    t.true(events.every((e) => e.certificatePem === undefined));

    // Globbed ports plus one that does not exist: only that one fails.
    const missing = p('sim/ttyGONE');
    const third = await runCommand(stationCommands, [
      'station',
      'provision',
      ...common,
      '--ports',
      `${p('sim')}/ttyKEY?,${missing}`,
      '--manifest',
      p('batch'),
      '--json',
    ]);
    outputs.push(third.stdout, third.stderr);
    t.is(third.code, 1);
    const done = third.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.event === 'done');
    t.is(done.length, 9);
    t.deepEqual(
      done.filter((e) => e.outcome === 'failed').map((e) => [e.port, e.error]),
      [[missing, 'STATION_PORT_LOST']],
    );

    // The report: the merged manifest keeps the provisioned entries and the failure.
    const report = await runCommand(stationCommands, ['station', 'report', p('batch.json'), '--json']);
    t.is(report.code, 0, report.stderr);
    const r = JSON.parse(report.stdout);
    t.is(r.total, 9);
    t.is(r.byOutcome.provisioned, 8);
    t.is(r.byOutcome.failed, 1);
    t.deepEqual(r.errors, { STATION_PORT_LOST: 1 });
    t.deepEqual(r.models, { 'enigm-key-1': 8 });
    const human = await runCommand(stationCommands, ['station', 'report', p('batch')]);
    t.regex(human.stdout, /outcomes {2}provisioned 8, already-provisioned 0, failed 1, aborted 0/);
    t.regex(human.stdout, /ttyGONE: failed STATION_PORT_LOST at open/);
    outputs.push(human.stdout);

    for (const text of [...outputs, readFileSync(p('batch.json'), 'utf8'), readFileSync(p('batch.csv'), 'utf8')])
      t.notRegex(text, PRIVATE_MARKER);
  } finally {
    await sim.stop();
  }
});

realTest('station provision --account DIR names the Keys by the association handles enigm account enroll records', async (t) => {
  const dir = tempDir();
  const p = (f: string) => join(dir, f);
  await initCaFolder(p('ca'), PASS);
  writeFileSync(p('pass'), `${PASS}\n`, { mode: 0o600 });
  writeFileSync(p('root.pem'), readCaCertificates(p('ca')).rootPem);
  const init = await runCommand(accountCommands, ['account', 'init', '--dir', p('acct')]);
  t.is(init.code, 0, init.stderr);
  const secret = Buffer.from(readFileSync(p('acct/account.secret'), 'utf8').trim(), 'hex');
  const sim = await Simulator.start({ keys: 2, stateDir: p('sim'), serial: true, tcp: false });
  const station = ['--ca', p('ca'), '--passphrase-file', p('pass'), '--host-key', p('station-key.pem')];
  const provision = (...more: string[]) =>
    runCommand(stationCommands, ['station', 'provision', ...station, '--known', p('known.json'), ...more]);
  try {
    const r = await provision('--state-dir', p('sim'), '--account', p('acct'), '--manifest', p('batch'), '--json');
    t.is(r.code, 0, r.stdout + r.stderr);
    const entries = (JSON.parse(readFileSync(p('batch.json'), 'utf8')) as { entries: ManifestEntry[] }).entries;
    t.is(entries.length, 2);
    for (const e of entries) {
      t.is(e.outcome, 'provisioned');
      // The handle is the account's: HMAC of the certified identity key under the account's secret.
      const spki = new X509Certificate(e.certificatePem as string).publicKey.export({ type: 'spki', format: 'der' });
      t.is(e.handle, associationHandleText(secret, new Uint8Array(spki.subarray(-32))));
    }
    t.notRegex(r.stdout + r.stderr, new RegExp(secret.toString('hex'), 'i'), 'the secret is never printed');

    // enigm account enroll (another host, as the owner, once the Key's pairing window is open: the
    // simulator's gesture) records the same handle for the Key.
    const port0 = sim.keys()[0]?.serial as string;
    sim.firmware(0).openPairingWindow(60_000);
    const enrolled = await runCommand(accountCommands, [
      'account',
      'enroll',
      '--dir',
      p('acct'),
      '--port',
      port0,
      '--host-key',
      p('owner-key.pem'),
      '--known',
      p('owner-known.json'),
      '--roots',
      p('root.pem'),
      '--json',
    ]);
    t.is(enrolled.code, 0, enrolled.stdout + enrolled.stderr);
    t.is(JSON.parse(enrolled.stdout).handle, entries.find((e) => e.port === port0)?.handle);

    // Both ways to name the account: a usage error (exit 2), nothing provisioned or written.
    writeFileSync(p('secret'), `${secret.toString('hex')}\n`, { mode: 0o600 });
    const both = await provision(
      '--state-dir',
      p('sim'),
      '--account',
      p('acct'),
      '--account-secret-file',
      p('secret'),
      '--manifest',
      p('both'),
    );
    t.is(both.code, 2);
    t.regex(both.stderr, /--account or --account-secret-file, not both/);
    // A folder that holds no account: ACCOUNT_NOT_FOUND (exit 1), named in the message.
    const none = await provision('--state-dir', p('sim'), '--account', p('no-such-account'), '--manifest', p('none'));
    t.is(none.code, 1);
    t.regex(none.stderr, /ACCOUNT_NOT_FOUND: --account .*no-such-account/);
    t.false(existsSync(p('both.json')) || existsSync(p('none.json')));
  } finally {
    await sim.stop();
  }
});

test.serial('station: a wrong CA passphrase, usage errors and a file that is no manifest', async (t) => {
  const dir = tempDir();
  await initCaFolder(join(dir, 'ca'), PASS);
  writeFileSync(join(dir, 'wrong'), 'not the passphrase at all\n', { mode: 0o600 });
  const wrong = await runCommand(stationCommands, [
    'station',
    'provision',
    '--ca',
    join(dir, 'ca'),
    '--passphrase-file',
    join(dir, 'wrong'),
    '--ports',
    join(dir, 'nothing'),
    '--manifest',
    join(dir, 'm'),
  ]);
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /CA_PASSPHRASE_WRONG/);
  t.is((await runCommand(stationCommands, ['station', 'provision', '--ca', join(dir, 'ca'), '--ports', 'x'])).code, 2);
  t.is(
    (
      await runCommand(stationCommands, [
        'station',
        'provision',
        '--ca',
        'c',
        '--ports',
        'x',
        '--state-dir',
        'd',
        '--manifest',
        'm',
      ])
    ).code,
    2,
  );
  writeFileSync(join(dir, 'not.json'), '{"entries": 3}');
  const bad = await runCommand(stationCommands, ['station', 'report', join(dir, 'not.json')]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /STATION_MANIFEST_INVALID/);
});
