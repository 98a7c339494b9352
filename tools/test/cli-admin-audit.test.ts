/**
 * Audit records for administrative actions (`--audit FILE --audit-key KEY.pem`) and the
 * revocation list on Key commands (`--revocation FILE --revocation-key PUB.pem`), in-process
 * through the CLI's dispatch against a simulated Key over TCP:
 * - `enigm ca init|rotate|issue` and `enigm key pair|activate|suspend|resume|revoke|retire|unpair`
 *   each append one signed record, refused ones as refused with the error code; afterwards
 *   `enigm audit verify --trust` passes, `audit show` lists them in order, and no record holds
 *   key material (identity, public or private keys, serials);
 * - `enigm key attest --revocation`: a listed Key is contraindicated (KEY_REVOKED), a stale or
 *   tampered list says so in the `revocation` check;
 * - session commands refuse a listed Key (KEY_REVOKED_BY_LIST, exit 1), `key retire` still runs;
 * - `enigm revocation create|add|renew` and `enigm fw flash` are audited too (issue 11 "every
 *   lifecycle and administrative action"): the revoked Key named by its certificate id, the
 *   flashed Key by its device handle, and a refusal by the Key recorded with the Key's own error
 *   name (FIRMWARE_REJECTED), not the host's generic KEY_REJECTED.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRevocationList, keyCertificateId, revocationSignerFromSeed, signRevocationList } from '@enigm/attestation';
import { fromHex, toHex } from '@enigm/protocols/bytes';
import { ed25519Generate, ed25519PrivateKeyToPem, ed25519PublicKeyToPem } from '@enigm/protocols/crypto';
import { Simulator } from '@enigm/sim';
import test from 'ava';
import { auditCommands } from '../src/commands/audit.ts';
import { caCommands } from '../src/commands/ca.ts';
import { fwImageCommands } from '../src/commands/fw.ts';
import { fwFlashCommands } from '../src/commands/fw-flash.ts';
import { keyLifecycleCommands } from '../src/commands/key-lifecycle.ts';
import { keySessionCommands } from '../src/commands/key-session.ts';
import { revocationCommands } from '../src/commands/revocation.ts';
import { signFirmware } from './cli-steps.ts';
import { runCommand } from './run-command.ts';

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const commands = [
  ...caCommands,
  ...keySessionCommands,
  ...keyLifecycleCommands,
  ...auditCommands,
  ...revocationCommands,
  ...fwImageCommands,
  ...fwFlashCommands,
];
const PASS = 'correct horse battery staple';

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-admin-audit-'));
  dirs.push(dir);
  const op = ed25519Generate();
  writeFileSync(join(dir, 'op.key'), ed25519PrivateKeyToPem(op.seed), { mode: 0o600 });
  writeFileSync(join(dir, 'op.pub'), ed25519PublicKeyToPem(op.publicKey));
  mkdirSync(join(dir, 'home'));
  return { dir, op, audit: ['--audit', join(dir, 'audit.log'), '--audit-key', join(dir, 'op.key')] };
}

async function run(argv: string[], pass?: string) {
  if (pass !== undefined) process.env.ENIGM_CA_PASSPHRASE = pass;
  try {
    return await runCommand(commands, argv);
  } finally {
    delete process.env.ENIGM_CA_PASSPHRASE;
  }
}

test.serial('ca and key administrative actions are audited in order, refusals as refused, no key material', async (t) => {
  const { dir, op, audit } = setup();
  const caDir = join(dir, 'ca');
  t.is((await run(['ca', 'init', '--dir', caDir, ...audit], PASS)).code, 0);
  t.is((await run(['ca', 'rotate', '--dir', caDir, ...audit], PASS)).code, 0);
  const identity = toHex(ed25519Generate().publicKey);
  const issue = (pass: string) =>
    run(['ca', 'issue', '--dir', caDir, '--identity', identity, '--model', 'EK1', '--out', join(dir, 'k.pem'), ...audit], pass);
  t.is((await issue(PASS)).code, 0);
  const wrong = await issue('not the passphrase at all');
  t.is(wrong.code, 1);

  const sim = await Simulator.start({ keys: 1, stateDir: join(dir, 'sim'), tcp: true });
  const host = [
    '--port',
    sim.keys()[0]?.tcp as string,
    '--host-key',
    join(dir, 'home', 'hk.pem'),
    '--known',
    join(dir, 'home', 'known.json'),
  ];
  const key = (...argv: string[]) => run(['key', ...argv, ...host, ...audit]);
  let handle = '';
  let keyIdentity = '';
  try {
    const pair = await key('pair', '--json');
    t.is(pair.code, 0, pair.stderr);
    ({ handle, identity: keyIdentity } = JSON.parse(pair.stdout) as { handle: string; identity: string });
    t.is((await key('activate')).code, 0);
    t.is((await key('suspend')).code, 0);
    const again = await key('suspend');
    t.is(again.code, 1);
    t.regex(again.stderr, /KEY_INVALID_STATE/);
    t.is((await key('resume')).code, 0);
    t.is((await key('revoke', '--yes')).code, 0);
    t.is((await key('unpair', '0000000000000000')).code, 1, 'revoked: refused');
    const retire = await key('retire', '--yes');
    t.is(retire.code, 0, retire.stderr);
  } finally {
    await sim.stop();
  }

  const verify = await run(['audit', 'verify', '--trust', join(dir, 'op.pub'), join(dir, 'audit.log')]);
  t.is(verify.code, 0, verify.stderr + verify.stdout);
  const show = await run(['audit', 'show', '--json', join(dir, 'audit.log')]);
  t.is(show.code, 0, show.stderr);
  const rows = show.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { seq: number; role: string; op: string; handle?: string; decision: string; reason?: string });
  t.deepEqual(
    rows.map((r) => [r.op, r.decision, r.reason ?? '']),
    [
      ['ca.init', 'allowed', ''],
      ['ca.rotate', 'allowed', ''],
      ['ca.issue', 'allowed', ''],
      ['ca.issue', 'refused', rows[3]?.reason ?? ''],
      ['key.pair', 'allowed', ''],
      ['key.activate', 'allowed', ''],
      ['key.suspend', 'allowed', ''],
      ['key.suspend', 'refused', 'KEY_INVALID_STATE'],
      ['key.resume', 'allowed', ''],
      ['key.revoke', 'allowed', ''],
      ['key.unpair', 'refused', rows[10]?.reason ?? ''],
      ['key.retire', 'allowed', ''],
    ],
  );
  t.regex(rows[3]?.reason ?? '', /^[A-Z_]+$/, 'the refusal reason is an error code');
  t.regex(rows[10]?.reason ?? '', /^KEY_REVOKED|^KEY_/);
  t.deepEqual(
    rows.map((r) => r.seq),
    rows.map((_, i) => i),
  );
  t.is(rows[0]?.role, 'ca-operator');
  t.is(rows[4]?.role, 'owner');
  for (const r of rows.slice(4)) t.is(r.handle, handle, `${r.op} names the Key by its handle`);
  for (const r of rows.slice(0, 4)) t.is(r.handle, undefined);
  // No key material anywhere in the log: not the Key's identity, not the operator's key, no PEM.
  const bytes = readFileSync(join(dir, 'audit.log'));
  const hay = `${bytes.toString('latin1')}\n${toHex(bytes)}\n${show.stdout}`;
  for (const secret of [keyIdentity, toHex(op.publicKey), toHex(op.seed), identity])
    t.false(hay.includes(secret), 'no key in the log');
  t.false(hay.includes(Buffer.from(fromHex(keyIdentity)).toString('latin1')), 'no raw identity bytes');
  t.notRegex(hay, /PRIVATE KEY|BEGIN/);
});

test.serial('a broken audit option is misuse before anything runs; a tampered log stops the action', async (t) => {
  const { dir, audit } = setup();
  const half = await run(['ca', 'init', '--dir', join(dir, 'ca'), '--audit', join(dir, 'audit.log')], PASS);
  t.is(half.code, 2);
  t.regex(half.stderr, /--audit FILE and --audit-key KEY.pem go together/);
  writeFileSync(join(dir, 'audit.log'), 'not an audit log');
  const r = await run(['ca', 'init', '--dir', join(dir, 'ca'), ...audit], PASS);
  t.is(r.code, 1);
  t.regex(r.stderr, /AUDIT_/);
  t.throws(() => readFileSync(join(dir, 'ca', 'ca.json')), undefined, 'no CA was made');
});

test.serial('revocation list: attest appraises it, sessions refuse a listed Key, retire still runs', async (t) => {
  const { dir } = setup();
  const rev = ed25519Generate();
  writeFileSync(join(dir, 'rev.pub'), ed25519PublicKeyToPem(rev.publicKey));
  const writeList = (
    file: string,
    identities: Uint8Array[],
    issuedAt = Date.now() - 1000,
    nextUpdate = Date.now() + 86_400_000,
  ) =>
    writeFileSync(
      join(dir, file),
      signRevocationList(
        createRevocationList({
          issuerPublicKey: rev.publicKey,
          issuedAt,
          nextUpdate,
          entries: identities.map((identityKey) => ({
            subject: { identityKey },
            revokedAt: issuedAt,
            reason: 'key-compromise' as const,
          })),
        }),
        revocationSignerFromSeed(rev.seed),
      ),
    );
  const sim = await Simulator.start({ keys: 1, stateDir: join(dir, 'sim'), tcp: true });
  const host = [
    '--port',
    sim.keys()[0]?.tcp as string,
    '--host-key',
    join(dir, 'home', 'hk.pem'),
    '--known',
    join(dir, 'home', 'known.json'),
  ];
  const withList = (file: string) => ['--revocation', join(dir, file), '--revocation-key', join(dir, 'rev.pub')];
  const key = (...argv: string[]) => run(['key', ...argv, ...host]);
  try {
    const pair = await key('pair', '--json');
    t.is(pair.code, 0, pair.stderr);
    const identity = fromHex((JSON.parse(pair.stdout) as { identity: string }).identity);
    writeList('clean.cose', [ed25519Generate().publicKey]);
    writeList('listed.cose', [identity]);
    writeList('stale.cose', [], Date.now() - 3 * 86_400_000, Date.now() - 86_400_000);
    const tampered = readFileSync(join(dir, 'clean.cose'));
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    writeFileSync(join(dir, 'tampered.cose'), tampered);

    const check = async (file: string) => {
      const r = await key('attest', '--json', ...withList(file));
      const j = JSON.parse(r.stdout) as { checks: { name: string; status: string; reason: string }[] };
      return { code: r.code, check: j.checks.find((c) => c.name === 'revocation') };
    };
    const clean = await check('clean.cose');
    t.like(clean.check, { status: 'affirming' });
    const listed = await check('listed.cose');
    t.is(listed.code, 1);
    t.like(listed.check, { status: 'contraindicated' });
    t.regex(listed.check?.reason ?? '', /KEY_REVOKED.*key-compromise/);
    t.regex((await check('stale.cose')).check?.reason ?? '', /^REVOCATION_STALE/);
    t.regex((await check('tampered.cose')).check?.reason ?? '', /^REVOCATION_SIGNATURE_INVALID/);

    // Host decisions: a listed Key gets no session; a stale list stops the command; retire runs.
    t.is((await key('activate', ...withList('clean.cose'))).code, 0);
    const refused = await key('suspend', ...withList('listed.cose'));
    t.is(refused.code, 1);
    t.regex(refused.stderr, /KEY_REVOKED_BY_LIST.*enigm key retire/);
    const stale = await key('hosts', ...withList('stale.cose'));
    t.is(stale.code, 1);
    t.regex(stale.stderr, /REVOCATION_STALE/);
    const half = await key('hosts', '--revocation', join(dir, 'clean.cose'));
    t.is(half.code, 2);
    t.is(sim.firmware(0).state, 'dormant', 'nothing was done to the Key');
    const retired = await key('retire', '--yes', ...withList('listed.cose'));
    t.is(retired.code, 0, retired.stderr);
    t.is(sim.firmware(0).state, 'factory');
  } finally {
    await sim.stop();
  }
});

/** The audit log's records as `audit show --json` prints them. */
async function auditRows(dir: string) {
  const verify = await run(['audit', 'verify', '--trust', join(dir, 'op.pub'), join(dir, 'audit.log')]);
  const show = await run(['audit', 'show', '--json', join(dir, 'audit.log')]);
  const rows = show.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { role: string; op: string; handle?: string; decision: string; reason?: string });
  return { verify, rows };
}

test.serial('revocation create|add|renew are audited: the revoked Key by its certificate id, never its key', async (t) => {
  const { dir, audit } = setup();
  const rev = ed25519Generate();
  writeFileSync(join(dir, 'rev.key'), ed25519PrivateKeyToPem(rev.seed), { mode: 0o600 });
  const other = ed25519Generate();
  writeFileSync(join(dir, 'other.key'), ed25519PrivateKeyToPem(other.seed), { mode: 0o600 });
  const list = join(dir, 'revocation.cose');
  const victim = ed25519Generate().publicKey;
  const revocation = (...argv: string[]) => run(['revocation', ...argv, ...audit]);
  t.is((await revocation('create', '--key', join(dir, 'rev.key'), '--out', list)).code, 0);
  const add = await revocation(
    'add',
    '--key',
    join(dir, 'rev.key'),
    '--identity',
    toHex(victim),
    '--reason',
    'key-compromise',
    list,
  );
  t.is(add.code, 0, add.stderr);
  const named = await revocation(
    'add',
    ...['--key', join(dir, 'rev.key'), '--serial', '4f:1a:09', '--reason', 'retired', '--handle', 'eh1-abc', list],
  );
  t.is(named.code, 0, named.stderr);
  t.is((await revocation('renew', '--key', join(dir, 'rev.key'), list)).code, 0);
  const foreign = await revocation('renew', '--key', join(dir, 'other.key'), list);
  t.is(foreign.code, 1, 'a list signed by another key is not re-signed');
  const badHandle = await revocation(
    'add',
    '--key',
    join(dir, 'rev.key'),
    '--identity',
    toHex(victim),
    '--reason',
    'retired',
    '--handle',
    'a b',
    list,
  );
  t.is(badHandle.code, 2, 'a handle the audit log refuses is misuse, before anything runs');

  const { verify, rows } = await auditRows(dir);
  t.is(verify.code, 0, verify.stderr + verify.stdout);
  t.deepEqual(
    rows.map((r) => [r.role, r.op, r.handle ?? '', r.decision, r.reason ?? '']),
    [
      ['ca-operator', 'revocation.create', '', 'allowed', ''],
      ['ca-operator', 'revocation.add', keyCertificateId(victim), 'allowed', ''],
      ['ca-operator', 'revocation.add', 'eh1-abc', 'allowed', ''],
      ['ca-operator', 'revocation.renew', '', 'allowed', ''],
      ['ca-operator', 'revocation.renew', '', 'refused', 'REVOCATION_UNTRUSTED'],
    ],
  );
  const hay = readFileSync(join(dir, 'audit.log')).toString('latin1');
  for (const secret of [toHex(victim), toHex(rev.publicKey), toHex(rev.seed)]) t.false(hay.includes(secret), 'no key in the log');
  t.false(hay.includes(Buffer.from(victim).toString('latin1')), 'no raw identity bytes');
});

test.serial("fw flash is audited with the Key's handle; the Key's refusal is recorded by its own error name", async (t) => {
  const { dir, audit } = setup();
  const sim = await Simulator.start({ keys: 1, stateDir: join(dir, 'sim'), tcp: true });
  t.teardown(() => sim.stop());
  const host = [
    '--port',
    sim.keys()[0]?.tcp as string,
    '--host-key',
    join(dir, 'home', 'hk.pem'),
    '--known',
    join(dir, 'home', 'known.json'),
  ];
  const pair = await run(['key', 'pair', '--json', ...host]);
  t.is(pair.code, 0, pair.stderr);
  const { handle } = JSON.parse(pair.stdout) as { handle: string };
  writeFileSync(join(dir, 'app.bin'), Buffer.alloc(8_000, 0x5a));
  const sign = (version: string, counter: number) =>
    signFirmware((...argv) => run(argv), {
      key: sim.signingKeyPath,
      version,
      counter,
      out: join(dir, `app-${version}.ekfw`),
      payload: join(dir, 'app.bin'),
    });
  t.is((await sign('1.2.0', 2)).code, 0);
  t.is((await sign('1.3.0', 1)).code, 0);
  const flash = (version: string) => run(['fw', 'flash', ...host, join(dir, `app-${version}.ekfw`), ...audit]);
  const ok = await flash('1.2.0');
  t.is(ok.code, 0, ok.stderr);
  const down = await flash('1.3.0');
  t.is(down.code, 1);
  t.regex(down.stderr, /FIRMWARE_REJECTED.*FIRMWARE_DOWNGRADE/);

  const { verify, rows } = await auditRows(dir);
  t.is(verify.code, 0, verify.stderr + verify.stdout);
  t.deepEqual(
    rows.map((r) => [r.role, r.op, r.handle ?? '', r.decision, r.reason ?? '']),
    [
      ['owner', 'key.update', handle, 'allowed', ''],
      ['owner', 'key.update', handle, 'refused', 'FIRMWARE_REJECTED'],
    ],
  );
});
