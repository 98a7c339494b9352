/**
 * `enigm account init | enroll | replace | list` over real pseudo-terminals with simulated Keys
 * (in-process dispatch, the CLI's exit-code and `--json` rules): enroll → the handle is listed;
 * the same Key has another handle in a second account; enrolling twice is refused
 * (ACCOUNT_ALREADY_ENROLLED, exit 1); replace → the old association is replaced, the old Key is
 * revoked (its sessions refuse with KEY_REVOKED) and in the revocation list, the new Key is
 * active; the account secret appears in no output.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openKey } from '@enigm/key-firmware-host';
import { ed25519Generate, ed25519PrivateKeyToPem, ed25519PublicKeyToPem } from '@enigm/protocols/crypto';
import { hasSocat, Simulator } from '@enigm/sim';
import test from 'ava';
import { accountCommands } from '../src/commands/account.ts';
import { auditCommands } from '../src/commands/audit.ts';
import { coseCommands } from '../src/commands/cose.ts';
import { revocationCommands } from '../src/commands/revocation.ts';
import { type CommandRun, runCommand } from './run-command.ts';

const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;
const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

realTest('enigm account init|enroll|list|replace over ptys; no secret in any output', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-cli-account-'));
  dirs.push(dir);
  const sim = await Simulator.start({ keys: 2, stateDir: dir, serial: true, tcp: false });
  const [port0, port1] = sim.keys().map((k) => k.serial as string) as [string, string];
  const hostKey = join(dir, 'home', 'host-key.pem');
  const known = join(dir, 'home', 'known.json');
  const host = ['--host-key', hostKey, '--known', known];
  const outputs: CommandRun[] = [];
  const run = async (...argv: string[]) => {
    const r = await runCommand([...accountCommands, ...coseCommands, ...revocationCommands, ...auditCommands], argv);
    outputs.push(r);
    return r;
  };
  // enroll and replace are administrative actions: each is recorded in the audit log when asked
  const op = ed25519Generate();
  writeFileSync(join(dir, 'op.key'), ed25519PrivateKeyToPem(op.seed), { mode: 0o600 });
  writeFileSync(join(dir, 'op.pub'), ed25519PublicKeyToPem(op.publicKey));
  const auditLog = join(dir, 'audit.log');
  const audit = ['--audit', auditLog, '--audit-key', join(dir, 'op.key')];
  const a1 = join(dir, 'acct1');
  const a2 = join(dir, 'acct2');
  try {
    t.is((await run('account', 'init', '--dir', a1)).code, 0);
    t.is((await run('account', 'init', '--dir', a2, '--json')).code, 0);
    t.is(statSync(join(a1, 'account.secret')).mode & 0o777, 0o600);
    const exists = await run('account', 'init', '--dir', a1);
    t.is(exists.code, 1);
    t.regex(exists.stderr, /ACCOUNT_EXISTS/);
    t.is((await run('account', 'enroll', '--dir', a1)).code, 2, '--port is required');

    const e1 = await run('account', 'enroll', '--dir', a1, '--port', port0, ...host, ...audit, '--json');
    t.is(e1.code, 0, e1.stderr);
    const h1 = (JSON.parse(e1.stdout) as { handle: string; activated: boolean }).handle;
    t.regex(h1, /^eh1-[a-z2-7]{26}$/);
    t.like(JSON.parse(e1.stdout), { ok: true, state: 'active', activated: true });
    t.is(sim.firmware(0).state, 'dormant');
    const listed = await run('account', 'list', '--dir', a1);
    t.is(listed.code, 0);
    t.regex(listed.stdout, new RegExp(`^1 Key\\n {2}${h1} {2}active`));
    t.notRegex(listed.stdout, /identity/);

    const twice = await run('account', 'enroll', '--dir', a1, '--port', port0, ...host, ...audit);
    t.is(twice.code, 1);
    t.regex(twice.stderr, /ACCOUNT_ALREADY_ENROLLED/);

    const e2 = await run('account', 'enroll', '--dir', a2, '--port', port0, ...host, '--json');
    t.is(e2.code, 0, e2.stderr);
    const h2 = (JSON.parse(e2.stdout) as { handle: string }).handle;
    t.not(h2, h1, 'the same Key has unlinkable handles in two accounts');

    // A revocation list and its key.
    t.is((await run('cose', 'keygen', '--out', join(dir, 'revocation'))).code, 0);
    const list = join(dir, 'revocation.cose');
    t.is((await run('revocation', 'create', '--key', join(dir, 'revocation.key'), '--out', list)).code, 0);

    const rep = await run(
      'account',
      'replace',
      '--dir',
      a1,
      '--old',
      h1,
      '--port',
      port1,
      '--old-port',
      port0,
      '--revocation',
      list,
      '--revocation-key',
      join(dir, 'revocation.key'),
      ...host,
      '--json',
    );
    t.is(rep.code, 0, rep.stderr);
    const r = JSON.parse(rep.stdout) as { handle: string; old: string; oldState: string; oldKeyRevoked: boolean };
    t.like(r, { old: h1, oldState: 'replaced', oldKeyRevoked: true, revocationVersion: 2 });
    t.is(sim.firmware(0).state, 'revoked');
    t.is(sim.firmware(1).state, 'dormant');
    const all = JSON.parse((await run('account', 'list', '--dir', a1, '--json', '--show-identity')).stdout) as {
      devices: { handle: string; state: string; identityKeyId?: string; replacedBy?: string }[];
    };
    t.deepEqual(
      all.devices.map((d) => [d.handle, d.state]),
      [
        [h1, 'replaced'],
        [r.handle, 'active'],
      ],
    );
    t.is(all.devices[0]?.replacedBy, r.handle);
    t.regex(all.devices[0]?.identityKeyId ?? '', /^[0-9a-f]{16}$/);
    const shown = await run('revocation', 'show', '--json', list);
    t.like(JSON.parse(shown.stdout), { version: 2, entries: [{ reason: 'replaced' }] });

    // The old Key's sessions refuse: KEY_REVOKED.
    const old = await openKey(port0, { hostKey, known, timeoutMs: 20_000 });
    try {
      const e = await t.throwsAsync((await old.session()).request('hosts.list', {}));
      t.is((e as { remote?: { name?: string } }).remote?.name, 'KEY_REVOKED');
    } finally {
      await old.close();
    }
    const again = await run('account', 'replace', '--dir', a1, '--old', h1, '--port', port1, ...host);
    t.is(again.code, 1);
    t.regex(again.stderr, /ASSOCIATION_NOT_ACTIVE/);
    const missing = await run(
      'account',
      'replace',
      '--dir',
      a1,
      '--old',
      'eh1-aaaaaaaaaaaaaaaaaaaaaaaaaa',
      '--port',
      port1,
      ...host,
    );
    t.is(missing.code, 1);
    t.regex(missing.stderr, /ASSOCIATION_NOT_FOUND/);

    // The audit log holds the enroll (allowed, with the association handle) and the refused second enroll.
    const verified = await run('audit', 'verify', '--trust', join(dir, 'op.pub'), auditLog);
    t.is(verified.code, 0, verified.stderr + verified.stdout);
    const auditShown = await run('audit', 'show', '--json', auditLog);
    const records = auditShown.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { op: string; decision: string; handle?: string; reason?: string });
    t.like(records[0], { op: 'account.enroll', decision: 'allowed', handle: h1 });
    t.like(records[1], { op: 'account.enroll', decision: 'refused', reason: 'ACCOUNT_ALREADY_ENROLLED' });

    // No secret in any output.
    for (const a of [a1, a2]) {
      const secret = readFileSync(join(a, 'account.secret'), 'utf8').trim();
      for (const o of outputs) {
        t.false(o.stdout.includes(secret));
        t.false(o.stderr.includes(secret));
      }
    }
  } finally {
    await sim.stop();
  }
});
